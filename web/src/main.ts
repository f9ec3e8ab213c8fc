// The wall: wires the live stream, the map, the panels, the card, commands and replay.
import '@fontsource/noto-sans-kr/400.css';
import '@fontsource/noto-sans-kr/700.css';
import './style.css';
import { City, Dataset, Entity, fetchCity, fetchDatasets, fetchStateAt } from './api';
import { Card } from './card';
import { parseCommand, speak, speechRecognition, ViewName } from './commands';
import { code, getLang, localName, setLang, t, timeOf } from './i18n';
import { bboxOf, DISPATCH_COLOURS, FLOOD_COLOURS, geometryOf } from './geo';
import type { CityMap, LayerId } from './map';
import { alertWhere, currentSpeed, esc, floodStatus, PANELS, renderPanel, sensorAlarm, View } from './panels';
import { LiveStream, Watch } from './stream';
import { fetchGovernance, Governance } from './governance';
import { isAdmin, isStaff, loadSession, login, logout, session, write } from './session';

// In the order they are asked for: the panels' small queries first, so their snapshots come
// before the big ones (road links with their geometry, dong polygons); cameras and bike
// stations (7,006 and 400 points, off in the home view) only when their layer is first shown.
const WATCHES: Watch[] = [
  { query: 'alerts', type: 'Alert' },
  { query: 'disasters', type: 'DisasterMessage' },
  { query: 'air', type: 'AirQualityObserved' },
  { query: 'weather', type: 'WeatherObserved' },
  { query: 'water', type: 'FloodMonitoring' },
  { query: 'vehicles', type: 'Vehicle' },
  { query: 'sensors', type: 'FacilitySensor' },
  { query: 'requests', type: 'ServiceRequest' },
  { query: 'datasets', type: 'Dataset' },
  { query: 'bridges', type: 'Bridge', attrs: 'name,location' },
  { query: 'markets', type: 'PointOfInterest', q: 'category=="traditionalMarket","traditional_market"' },
  { query: 'er', type: 'PointOfInterest', q: 'category=="emergencyRoom","emergency_medical"' },
  { query: 'roadworks', type: 'RoadWork' },
  { query: 'dongs', type: 'AdministrativeArea' },
  { query: 'hotspots', type: 'AccidentHotspot' },
  { query: 'roads', type: 'RoadSegment', attrs: 'name,location,averageSpeed,congestionLevel,snowRemovalStatus,speedHourly,averageSpeedWeekday' },
  { query: 'cctv', type: 'Camera', attrs: 'name,location,streamURL' },
  { query: 'bikes', type: 'BikeHireDockingStation', attrs: 'name,location' },
];
const ON_DEMAND = new Set(['cctv', 'bikes']);
// "First live data painted": the frame after the panels drew these queries' first answers.
const FIRST_PAINT_QUERIES = ['alerts', 'disasters', 'air', 'weather', 'water', 'vehicles', 'sensors', 'requests'];
const PANEL_QUERIES: Record<string, string[]> = {
  alerts: ['alerts', 'disasters'], traffic: ['roads'], air: ['air'], weather: ['weather'],
  safety: ['sensors', 'bridges', 'markets'], water: ['water'], dispatch: ['vehicles'], complaints: ['requests'],
};
// 'attr:<name>': any other numeric attribute the dongs carry (population statistics, ...).
type Metric = 'none' | 'caseCount' | 'pm10' | 'requests' | `attr:${string}`;
const VIEWS: Record<ViewName, { layers: LayerId[]; metric: Metric; roads: 'speed' | 'snow' }> = {
  home: { layers: ['dongs', 'hotspots', 'roads', 'vehicles', 'roadworks', 'facilities', 'water', 'er'], metric: 'caseCount', roads: 'speed' },
  water: { layers: ['dongs', 'roads', 'roadworks', 'water'], metric: 'none', roads: 'speed' },
  cctv: { layers: ['dongs', 'cctv', 'hotspots'], metric: 'none', roads: 'speed' },
  air: { layers: ['dongs', 'facilities'], metric: 'pm10', roads: 'speed' },
  ambulance: { layers: ['dongs', 'roads', 'vehicles', 'er'], metric: 'none', roads: 'speed' },
  snow: { layers: ['dongs', 'roads', 'roadworks'], metric: 'none', roads: 'snow' },
  complaints: { layers: ['dongs'], metric: 'requests', roads: 'speed' },
  traffic: { layers: ['dongs', 'roads', 'roadworks'], metric: 'none', roads: 'speed' },
  pledges: { layers: ['dongs', 'roads'], metric: 'none', roads: 'speed' },
};
const SCENARIOS = ['normal', 'heavy-snow', 'typhoon', 'market-fire'];
const ALL_LAYERS: LayerId[] = ['dongs', 'cctv', 'bikes', 'hotspots', 'roads', 'vehicles', 'roadworks', 'facilities', 'water', 'er'];
const LAYER_LABEL: Record<LayerId, string> = { dongs: 'dongs', cctv: 'cctv', bikes: 'bikes', hotspots: 'hotspots', roads: 'roads', vehicles: 'ambulances', roadworks: 'roadworks', facilities: 'safety', water: 'water', er: 'er' };
const SNOW_COLOURS: Record<string, string> = { none: '#3a4a5e', scheduled: '#ff5252', inProgress: '#ffd23f', done: '#3ddc84' };

// Inline icons: the Korean font has no emoji and nothing may be fetched from outside.
const svg = (d: string) => `<svg viewBox="0 0 24 24" width="1.2em" height="1.2em" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">${d}</svg>`;
const ICON = {
  user: svg('<circle cx="12" cy="8" r="4"/><path d="M4 21a8 8 0 0 1 16 0"/>'),
  gear: svg('<circle cx="12" cy="12" r="3"/><path d="M12 2v3M12 19v3M2 12h3M19 12h3M4.9 4.9l2.1 2.1M17 17l2.1 2.1M4.9 19.1L7 17M17 7l2.1-2.1"/>'),
  mic: svg('<rect x="9" y="3" width="6" height="11" rx="3"/><path d="M5 11a7 7 0 0 0 14 0M12 18v3"/>'),
  replay: svg('<path d="M3 12a9 9 0 1 0 3-6.7"/><path d="M3 4v5h5"/><path d="M12 7v5l3 2"/>'),
  sound: svg('<path d="M4 9v6h4l5 4V5L8 9z"/><path d="M16 9a4 4 0 0 1 0 6M19 6a8 8 0 0 1 0 12"/>'),
  muted: svg('<path d="M4 9v6h4l5 4V5L8 9z"/><path d="M17 9l5 6M22 9l-5 6"/>'),
};

// firstLiveMs: the panels painted with the first live answers; mapLiveMs: the map drew the
// dongs and road links it was given (MapLibre loaded, sources filled); mapIdleMs: the map's
// first complete frame after that. All ms since navigation.
const metrics = { firstLiveMs: -1, mapLiveMs: -1, mapIdleMs: -1, longestTaskMs: 0, longTasks: 0, renders: 0, slowestRenderMs: 0 };
const longTaskLog: [number, number][] = [];
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      metrics.longTasks++;
      metrics.longestTaskMs = Math.max(metrics.longestTaskMs, e.duration);
      longTaskLog.push([e.startTime, e.duration]);
      if (longTaskLog.length > 500) longTaskLog.shift();  // the newest 500: enough for a measuring window
    }
  }).observe({ type: 'longtask', buffered: true });
} catch { /* no longtask timing in this browser */ }

class Wall {
  stream = new LiveStream();
  map: CityMap | null = null;
  private mapLoading: Promise<void> | null = null;
  private watched = new Set<string>();
  card!: Card;
  datasets: Dataset[] = [];
  catalogDatasets: Dataset[] = [];
  view: ViewName = 'home';
  metric: Metric = 'caseCount';
  roadMode: 'speed' | 'snow' = 'speed';
  lastUpdate = new Map<string, number>();
  replayAt: Date | null = null;
  replayState = new Map<string, Map<string, Record<string, unknown>>>();
  muted = localStorage.getItem('cityroom.muted') === '1';
  spoken = new Set<string>();
  dispatchSeen = new Map<string, string>();
  floodSeen = new Map<string, string>();
  events: { at: number; text: string; cls: string; key?: string; ids?: Set<string> }[] = [];
  dirtyPanels = false;
  dirtyQueries = new Set<string>();
  frame = 0;
  root!: HTMLElement;
  gov: Governance = { pledges: null, indicators: null, requests: null, press: null };
  govAt = 0;
  govTimer = 0;
  pastSeen = new Set<string>();

  constructor(private city: City) {}

  async start(): Promise<void> {
    document.title = `${t('live')} ${localName(this.city.name)}`;
    this.root = document.getElementById('app')!;
    this.root.innerHTML = this.shell();
    this.layout();
    window.addEventListener('resize', () => this.layout());
    this.card = new Card(this.root.querySelector('.mapwrap') as HTMLElement);
    this.bindControls();
    this.bindPanels();
    // The stream starts while the map loads: panels paint from the first snapshots at once,
    // the map's sources take their data as soon as they exist.
    this.stream.onChange((query, kind, ups) => this.changed(query, kind, ups));
    this.stream.onStatus((online) => {
      this.root.querySelector('.offline')!.classList.toggle('hidden', online);
      this.event(online ? '실시간 연결됨' : '실시간 연결 끊김', online ? 'ok' : 'bad');
    });
    for (const w of WATCHES) if (!ON_DEMAND.has(w.query)) this.watch(w.query);
    this.stream.start();
    // MapLibre (a 280 KiB chunk, a WebGL context, two workers) comes after the panels' first
    // paint, so the live numbers show while it loads; at the latest after 1.5 s.
    window.setTimeout(() => void this.loadMap(), 1500);
    void this.refreshGovernance();
    setInterval(() => void this.refreshGovernance(), 60_000);
    this.catalogDatasets = await fetchDatasets();
    this.mergeDatasets();
    setInterval(() => this.tick(), 1000);
  }

  private watch(query: string): void {
    if (this.watched.has(query)) return;
    const w = WATCHES.find((x) => x.query === query);
    if (!w) return;
    this.watched.add(query);
    this.stream.watch(w);
  }

  // The layers whose data comes on demand are asked for when first shown.
  private layerShown(layer: LayerId): void {
    if (ON_DEMAND.has(layer)) this.watch(layer);
  }

  loadMap(): Promise<void> {
    if (this.mapLoading) return this.mapLoading;
    this.mapLoading = import('./map').then(({ CityMap }) => {
      const map = new CityMap(this.root.querySelector('#map') as HTMLElement, this.city);
      this.map = map;
      map.onPick = (layer, id) => this.pick(layer, id);
      if (this.city.bbox && this.fitted) map.map.fitBounds(this.city.bbox, { padding: 24, duration: 0 });
      this.applyView(this.view, false);
      this.renderAll();
      void map.ready.then(() => this.applyView(this.view, false));
    });
    return this.mapLoading;
  }

  private shell(): string {
    return `
      <header class="topbar">
        <h1><span class="live-dot"></span><span class="title"></span></h1>
        <form class="cmd" autocomplete="off">
          <input name="c" type="text" aria-label="command" />
          <button type="button" class="mic" title="voice">${ICON.mic}</button>
        </form>
        <nav class="tools">
          <button type="button" class="replay-btn"></button>
          <button type="button" class="mute-btn"></button>
          <button type="button" class="lang-btn"></button>
          <button type="button" class="admin-btn" hidden aria-haspopup="true"></button>
          <button type="button" class="user-btn" aria-haspopup="true"></button>
          <span class="clock"></span>
        </nav>
      </header>
      <form class="login popup hidden" autocomplete="on">
        <label><span class="lu"></span><input name="username" type="text" autocomplete="username" autocapitalize="off" spellcheck="false" required /></label>
        <label><span class="lp"></span><input name="password" type="password" autocomplete="current-password" required /></label>
        <div class="err" role="alert"></div>
        <div class="btns"><button type="submit" class="go"></button><button type="button" class="cancel"></button></div>
      </form>
      <div class="adminmenu popup hidden" role="menu"></div>
      <div class="offline hidden" role="alert"></div>
      <main>
        <div class="panels"></div>
        <div class="mapwrap"><div id="map"></div><div class="legend"></div><div class="view-name"></div><div class="key"></div></div>
        <div class="gov"></div>
        <aside class="timeline"><h2></h2><ol></ol></aside>
      </main>
      <div class="replaybar hidden"><span class="label"></span><input type="range" min="0" max="1440" step="1" value="0" /><b class="at"></b><button type="button" class="live-btn"></button></div>
      <div class="toast hidden"></div>`;
  }

  private texts(): void {
    const r = this.root;
    r.querySelector('.title')!.textContent = `${t('live')} ${localName(this.city.name)}`;
    (r.querySelector('.cmd input') as HTMLInputElement).placeholder = t('command');
    r.querySelector('.replay-btn')!.innerHTML = `${ICON.replay}<span>${t('replay')}</span>`;
    r.querySelector('.mute-btn')!.innerHTML = this.muted ? `${ICON.muted}<span>${t('mute')}</span>` : `${ICON.sound}<span>${t('unmute')}</span>`;
    r.querySelector('.lang-btn')!.textContent = getLang() === 'ko' ? 'English' : '한국어';
    const who = session();
    r.querySelector('.user-btn')!.innerHTML = who.user
      ? `${ICON.user}<span>${esc(who.user)} · ${esc(t(`role_${who.role}`))}</span>`
      : `${ICON.user}<span>${t('login')}</span>`;
    const adminBtn = r.querySelector('.admin-btn') as HTMLButtonElement;
    adminBtn.hidden = !isAdmin();
    adminBtn.innerHTML = `${ICON.gear}<span>${t('scenario')}</span>`;
    r.querySelector('.login .lu')!.textContent = t('username');
    r.querySelector('.login .lp')!.textContent = t('password');
    r.querySelector('.login .go')!.textContent = t('login');
    r.querySelector('.login .cancel')!.textContent = t('close');
    r.querySelector('.offline')!.textContent = t('offline');
    r.querySelector('.timeline h2')!.textContent = t('timeline');
    r.querySelector('.replaybar .label')!.textContent = t('replayAt');
    r.querySelector('.replaybar .live-btn')!.textContent = t('backToLive');
    this.renderLegend();
  }

  private layout(): void {
    const w = window.innerWidth, h = window.innerHeight;
    const kind = w < 760 ? 'phone' : w / h >= 1.9 && w >= 1600 ? 'wall' : 'tablet';
    const changed = document.documentElement.dataset.layout !== kind;
    document.documentElement.dataset.layout = kind;
    this.map?.map.resize();
    if (changed && this.map) this.renderAll();
  }

  private bindControls(): void {
    const r = this.root;
    const form = r.querySelector('form.cmd') as HTMLFormElement;
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const input = form.elements.namedItem('c') as HTMLInputElement;
      this.runCommand(input.value);
      input.value = '';
      input.blur();
    });
    const mic = r.querySelector('.mic') as HTMLButtonElement;
    const rec = speechRecognition(getLang() === 'ko' ? 'ko-KR' : 'en-US');
    if (!rec) mic.hidden = true;
    else {
      rec.onresult = (ev: any) => this.runCommand(String(ev.results?.[0]?.[0]?.transcript ?? ''));
      rec.onend = () => mic.classList.remove('on');
      rec.onerror = () => mic.classList.remove('on');
      mic.addEventListener('click', () => { mic.classList.add('on'); this.toast(t('listening')); rec.start(); });
    }
    r.querySelector('.mute-btn')!.addEventListener('click', () => {
      this.muted = !this.muted;
      localStorage.setItem('cityroom.muted', this.muted ? '1' : '0');
      if (this.muted && 'speechSynthesis' in window) speechSynthesis.cancel();
      this.texts();
    });
    r.querySelector('.lang-btn')!.addEventListener('click', () => {
      setLang(getLang() === 'ko' ? 'en' : 'ko');
      this.texts();
      this.renderAll();
    });
    r.querySelector('.replay-btn')!.addEventListener('click', () => r.querySelector('.replaybar')!.classList.toggle('hidden'));
    this.bindSession();
    const slider = r.querySelector('.replaybar input') as HTMLInputElement;
    let debounce = 0;
    slider.addEventListener('input', () => {
      const minutes = Number(slider.value);
      const at = new Date(Date.now() - minutes * 60_000);
      r.querySelector('.replaybar .at')!.textContent = minutes ? `${at.toISOString().slice(0, 10)} ${timeOf(at.toISOString())}` : t('live');
      clearTimeout(debounce);
      debounce = window.setTimeout(() => void this.replay(minutes ? at : null), 250);
    });
    r.querySelector('.replaybar .live-btn')!.addEventListener('click', () => {
      slider.value = '0';
      slider.dispatchEvent(new Event('input'));
      r.querySelector('.replaybar')!.classList.add('hidden');
    });
    this.texts();
  }

  // Log in / out from the top bar. After either, the stream reconnects (its upgrade carries the
  // new cookie) so staff-only types appear or disappear, and the governance numbers reload.
  private bindSession(): void {
    const r = this.root;
    const form = r.querySelector('form.login') as HTMLFormElement;
    const menu = r.querySelector('.adminmenu') as HTMLElement;
    const err = form.querySelector('.err') as HTMLElement;
    const closeForm = () => { form.classList.add('hidden'); form.reset(); err.textContent = ''; };
    r.querySelector('.user-btn')!.addEventListener('click', async () => {
      menu.classList.add('hidden');
      if (session().user) {
        await logout();
        this.sessionChanged();
        return;
      }
      form.classList.toggle('hidden');
      if (!form.classList.contains('hidden')) (form.elements.namedItem('username') as HTMLInputElement).focus();
    });
    form.querySelector('.cancel')!.addEventListener('click', closeForm);
    form.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') closeForm(); });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const u = form.elements.namedItem('username') as HTMLInputElement;
      const p = form.elements.namedItem('password') as HTMLInputElement;
      const go = form.querySelector('.go') as HTMLButtonElement;
      go.disabled = true;
      const failure = await login(u.value.trim(), p.value);
      go.disabled = false;
      p.value = '';  // the password lives only as long as the request
      if (failure) { err.textContent = t(failure); p.focus(); return; }
      closeForm();
      this.sessionChanged();
    });
    r.querySelector('.admin-btn')!.addEventListener('click', () => {
      form.classList.add('hidden');
      menu.classList.toggle('hidden');
      if (!menu.classList.contains('hidden')) void this.renderAdminMenu();
    });
    menu.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') menu.classList.add('hidden'); });
  }

  private sessionChanged(): void {
    this.texts();
    this.stream.restart();
    if (!isStaff()) this.card.close();
    this.root.querySelector('.adminmenu')!.classList.add('hidden');
    void this.refreshGovernance();
    this.toast(session().user ? `${session().user} · ${t(`role_${session().role}`)}` : t('logout'));
  }

  // The admin's scenario switcher (docs/SIMULATOR.md): GET shows the state, PUT switches.
  private async renderAdminMenu(): Promise<void> {
    const menu = this.root.querySelector('.adminmenu') as HTMLElement;
    const r = await fetch('/cityroom/v1/admin/simulator', { headers: { Accept: 'application/json' } }).catch(() => null);
    const sim = r && r.ok ? await r.json() : null;
    if (!sim) { menu.innerHTML = `<div class="muted">${t('noData')}</div>`; return; }
    const names: string[] = Array.isArray(sim.scenarios) ? sim.scenarios : SCENARIOS;
    menu.innerHTML = `<h3>${t('scenario')}</h3><div class="state ${sim.running ? 'on' : ''}">${sim.running ? t('simRunning') : t('simStopped')}</div>` +
      names.map((n) => `<button type="button" role="menuitemradio" aria-checked="${sim.running && sim.scenario === n}" data-scenario="${esc(n)}" class="${sim.running && sim.scenario === n ? 'on' : ''}">${esc(t(`sc_${n}`) === `sc_${n}` ? n : t(`sc_${n}`))}</button>`).join('') +
      `<button type="button" class="stop" ${sim.running ? '' : 'disabled'}>${t('simStopped')}</button>`;
    menu.querySelectorAll('button[data-scenario]').forEach((b) => b.addEventListener('click', async () => {
      const res = await write('PUT', '/cityroom/v1/admin/simulator', { scenario: (b as HTMLElement).dataset.scenario, running: true });
      this.toast(res.ok ? `${t('scenario')}: ${b.textContent}` : `${t('actionFailed')} (${res.status})`);
      void this.renderAdminMenu();
    }));
    menu.querySelector('.stop')!.addEventListener('click', async () => {
      const res = await write('PUT', '/cityroom/v1/admin/simulator', { running: false });
      this.toast(res.ok ? t('simStopped') : `${t('actionFailed')} (${res.status})`);
      void this.renderAdminMenu();
    });
    (menu.querySelector('button') as HTMLButtonElement | null)?.focus();
  }

  async refreshGovernance(): Promise<void> {
    this.gov = await fetchGovernance();
    this.govAt = Date.now();
    this.dirtyPanels = true;
    if (this.metric === 'requests') this.dirtyQueries.add('dongs');
    this.schedule();
  }

  private renderLegend(): void {
    const el = this.root.querySelector('.legend') as HTMLElement;
    if (!this.map) return;
    this.metricChoices = this.metrics().join();
    const map = this.map;
    el.innerHTML = ALL_LAYERS.map((l) => `<button type="button" data-layer="${l}" class="${map.isVisible(l) ? 'on' : ''}">${esc(t(LAYER_LABEL[l]))}</button>`).join('') +
      `<select class="metric" aria-label="${t('choropleth')}">${this.metrics().map((m) => `<option value="${esc(m)}" ${m === this.metric ? 'selected' : ''}>${t('choropleth')}: ${esc(metricLabel(m))}</option>`).join('')}</select>`;
    el.querySelectorAll('button').forEach((b) => b.addEventListener('click', () => {
      const l = b.dataset.layer as LayerId;
      if (!this.map) return;
      this.map.setVisible(l, !this.map.isVisible(l));
      if (this.map.isVisible(l)) this.layerShown(l);
      b.classList.toggle('on', this.map.isVisible(l));
      this.dirtyQueries.add('dongs');  // the colour key follows the layers shown
      this.schedule();
    }));
    el.querySelector('select')!.addEventListener('change', (ev) => {
      this.metric = (ev.target as HTMLSelectElement).value as Metric;
      this.dirtyQueries.add('dongs');
      this.schedule();
    });
    this.root.querySelector('.view-name')!.textContent = this.view === 'home' ? '' : this.viewTitle(this.view);
  }

  // The choropleth's choices: the known live numbers, then every other numeric attribute found
  // on the dongs (identifiers and grid numbers left out).
  private metrics(): Metric[] {
    const known: Metric[] = ['none', 'caseCount', 'pm10', 'requests'];
    const extra = new Set<string>();
    for (const d of this.stream.entities('dongs').values()) {
      if (d.adminLevel === 'gu') continue;
      for (const [k, v] of Object.entries(d)) if (typeof v === 'number' && k !== 'caseCount' && !/grid|code|^kma/i.test(k)) extra.add(k);
    }
    const all = [...known, ...[...extra].sort().map((k) => `attr:${k}` as Metric)];
    if (!all.includes(this.metric)) all.push(this.metric);
    return all;
  }

  private viewTitle(v: ViewName): string {
    return { home: t('home'), cctv: t('cctv'), air: t('air'), ambulance: t('dispatch'), snow: t('snow'), complaints: t('complaints'), traffic: t('traffic'), pledges: t('pledges'), water: t('water') }[v];
  }

  applyView(v: ViewName, fit = true): void {
    this.view = v;
    const spec = VIEWS[v];
    for (const l of spec.layers) this.layerShown(l);
    this.metric = spec.metric;
    this.roadMode = spec.roads;
    document.documentElement.dataset.view = v;
    this.root.querySelectorAll('.panel').forEach((p) => p.classList.toggle('focus', focusPanel(v) === (p as HTMLElement).dataset.panel));
    if (!this.map) { this.dirtyPanels = true; this.schedule(); return; }
    for (const l of ALL_LAYERS) this.map.setVisible(l, spec.layers.includes(l));
    this.dirtyQueries.add('dongs').add('roads');
    this.schedule();
    this.renderLegend();
    if (fit && this.city.bbox) this.map.fitTo(this.city.bbox);
  }

  runCommand(text: string): void {
    const dongs = this.list('dongs').filter((d) => d.adminLevel !== 'gu');
    const cmd = parseCommand(text, dongs.map(dongName));
    if (cmd.kind === 'view') {
      this.applyView(cmd.view);
      this.toast(this.viewTitle(cmd.view));
    } else if (cmd.kind === 'dong') {
      const d = dongs.find((x) => dongName(x) === cmd.name);
      const g = d && geometryOf(d);
      const bb = g && bboxOf(g);
      if (d && bb) {
        this.map?.fitTo(bb, 80);
        void this.card.open(this.decorate(d));
        this.toast(cmd.name);
      }
    } else if (text.trim()) {
      this.toast(`${t('unknownCommand')}: ${cmd.text}`);
    }
  }

  private toast(text: string): void {
    const el = this.root.querySelector('.toast') as HTMLElement;
    el.textContent = text;
    el.classList.remove('hidden');
    clearTimeout((el as any)._t);
    (el as any)._t = setTimeout(() => el.classList.add('hidden'), 2500);
  }

  // Entities of a query as the screen should show them: live, or laid over by the replayed past.
  list(query: string): Entity[] {
    const live = [...this.stream.entities(query).values()];
    if (!this.replayAt) return live;
    const type = WATCHES.find((w) => w.query === query)?.type ?? '';
    const past = this.replayState.get(type);
    if (!past) return live;
    const keepAll = query === 'dongs' || query === 'roads';
    const out: Entity[] = [];
    for (const e of live) {
      const p = past.get(e.id);
      if (p) out.push({ ...e, ...p });
      else if (keepAll) out.push(stripLive(e));
    }
    return out;
  }

  private async replay(at: Date | null): Promise<void> {
    this.replayAt = at;
    document.documentElement.classList.toggle('replaying', !!at);
    if (at) {
      const types = ['Vehicle', 'AirQualityObserved', 'WeatherObserved', 'Alert', 'DisasterMessage', 'FacilitySensor', 'FloodMonitoring', 'RoadSegment', 'AdministrativeArea', 'ServiceRequest', 'RoadWork'];
      const states = await Promise.all(types.map((ty) => fetchStateAt(ty, at)));
      if (this.replayAt !== at) return;
      this.replayState = new Map(types.map((ty, i) => [ty, states[i]]));
    }
    for (const w of WATCHES) this.dirtyQueries.add(w.query);
    this.schedule();
  }

  private fitted = false;
  private metricChoices = '';

  private changed(query: string, kind: string, ups: Entity[]): void {
    this.lastUpdate.set(query, Date.now());
    if (query === 'dongs' && !this.fitted) {
      const gu = ups.find((d) => d.adminLevel === 'gu');
      const bb = gu && geometryOf(gu) && bboxOf(geometryOf(gu)!);
      if (bb) {
        this.city.bbox = bb;
        this.fitted = true;
        this.map?.map.fitBounds(bb, { padding: 24, duration: 0 });
      }
    }
    this.dirtyQueries.add(query);
    if (query === 'datasets') this.mergeDatasets();
    if (query === 'dongs' && this.map && this.metrics().join() !== this.metricChoices) this.renderLegend();
    if (kind === 'delta') this.noteEvents(query, ups);
    else if (query === 'alerts' || query === 'disasters') this.pastEvents(query, ups);
    else if (query === 'vehicles') for (const v of ups) this.dispatchSeen.set(v.id, String(v.dispatchStatus));
    else if (query === 'water') for (const g of ups) this.floodSeen.set(g.id, floodStatus(g));
    if (query === 'alerts') this.speakCritical(ups, kind === 'snapshot');
    // A new request moves the statistics too: re-read them, at most every 10 s.
    if (query === 'requests' && kind === 'delta' && !this.govTimer) {
      this.govTimer = window.setTimeout(() => { this.govTimer = 0; void this.refreshGovernance(); }, Math.max(0, 10_000 - (Date.now() - this.govAt)));
    }
    this.schedule();
  }

  private noteEvents(query: string, ups: Entity[]): void {
    if (query === 'alerts') {
      // the same rule changing state in many places at once is one event
      const groups = new Map<string, Entity[]>();
      for (const e of ups) {
        const k = `${e.severity}|${e.refRule ?? e.description}|${e.status}`;
        groups.set(k, [...(groups.get(k) ?? []), e]);
      }
      for (const [key, g] of groups) {
        // deltas arrive a few alarms at a time: fold them into the same event for a minute
        const recent = this.events.slice(0, 8).find((x) => x.key === key && Date.now() - x.at < 60_000);
        const ids = new Set([...(recent?.ids ?? []), ...g.map((x) => x.id)]);
        const e = g[0];
        const where = ids.size > 1 ? `${ids.size}${t('places')} ` : this.where(e);
        const text = `[${code(e.severity)}] ${where}${e.description ?? e.category ?? e.id} — ${code(e.status)}`;
        if (recent) { recent.text = text; recent.ids = ids; this.dirtyPanels = true; this.schedule(); }
        else { this.event(text, `sev-${e.severity}`); this.events[0].key = key; this.events[0].ids = ids; }
      }
      return;
    }
    for (const e of ups) {
      const name = localName(e.name) || e.id.split(':').pop();
      if (query === 'alerts') this.event(`[${code(e.severity)}] ${this.where(e)}${e.description ?? e.category ?? name} — ${code(e.status)}`, `sev-${e.severity}`);
      else if (query === 'disasters') this.event(`${e.message ?? name}`, 'sev-major');
      else if (query === 'vehicles') {
        const prev = this.dispatchSeen.get(e.id);
        if (prev !== String(e.dispatchStatus)) this.event(`${t('ambulances')} ${name}: ${code(e.dispatchStatus)}`, `st-${e.dispatchStatus}`);
        this.dispatchSeen.set(e.id, String(e.dispatchStatus));
      } else if (query === 'sensors' && sensorAlarm(e)) this.event(`${t('abnormal')}: ${name}`, 'sev-critical');
      else if (query === 'water') {
        // a gauge changing state (normal → alert → danger and back) is an event; its level is not
        const st = floodStatus(e);
        const prev = this.floodSeen.get(e.id);
        if (prev && prev !== st) this.event(`${t('water')} ${String(e.riverName ?? '')} ${name}: ${code(st)} (${e.currentLevel} m)`, st === 'danger' ? 'sev-critical' : st === 'alert' ? 'sev-major' : 'sev-ok');
        this.floodSeen.set(e.id, st);
      }
      else if (query === 'roadworks') this.event(`${t('roadworks')}: ${e.description ?? name} (${code(e.status)})`, 'sev-warning');
      else if (query === 'datasets' && e.freshness && e.freshness !== 'fresh' && e.freshness !== 'simulated') this.event(`${t('dataset')} ${localName(e.name) || name}: ${e.freshness}`, 'sev-minor');
    }
  }

  // What was already going on when the screen opened, at the times the data says.
  private pastEvents(query: string, list: Entity[]): void {
    // A snapshot comes again after every login/logout: what was listed once is not repeated.
    list = list.filter((e) => !this.pastSeen.has(e.id));
    for (const e of list) this.pastSeen.add(e.id);
    if (query === 'alerts') {
      const groups = new Map<string, Entity[]>();
      for (const e of list) {
        if (e.status === 'cleared') continue;
        const k = `${e.severity}|${e.refRule ?? e.description}`;
        groups.set(k, [...(groups.get(k) ?? []), e]);
      }
      for (const g of groups.values()) {
        const e = g[0];
        const at = Math.max(...g.map((x) => Date.parse(String(x.dateIssued ?? '')) || Date.now()));
        const where = g.length > 1 ? `${g.length}${t('places')} ` : this.where(e);
        this.events.push({ at, text: `[${code(e.severity)}] ${where}${e.description ?? e.category ?? e.id}`, cls: `sev-${e.severity}` });
      }
    }
    for (const e of list) {
      const at = Date.parse(String(e.dateIssued ?? e.issuedAt ?? '')) || Date.now();
      if (query === 'disasters') this.events.push({ at, text: String(e.message ?? e.id), cls: 'sev-major' });
    }
    this.events.sort((a, b) => b.at - a.at);
    this.events.length = Math.min(this.events.length, 60);
    this.dirtyPanels = true;
  }

  private where(a: Entity): string {
    const w = alertWhere({ list: (q) => this.list(q), asOf: this.replayAt, gov: this.gov }, a);
    return w ? `${w} ` : '';
  }

  private speakCritical(ups: Entity[], snapshot: boolean): void {
    for (const a of ups) {
      if (a.severity !== 'critical' || a.status === 'cleared' || a.status === 'acknowledged') continue;
      const key = `${a.id}|${a.dateIssued ?? ''}`;
      if (this.spoken.has(key)) continue;
      this.spoken.add(key);
      if (!snapshot && !this.muted) speak(String(a.description ?? a.category ?? '긴급 경보'), getLang() === 'ko' ? 'ko-KR' : 'en-US');
    }
  }

  private event(text: string, cls: string): void {
    this.events.unshift({ at: Date.now(), text, cls });
    this.events.length = Math.min(this.events.length, 60);
    this.dirtyPanels = true;
    this.schedule();
  }

  private mergeDatasets(): void {
    const live = this.list('datasets') as unknown as Dataset[];
    const byId = new Map<string, Dataset>();
    for (const d of this.catalogDatasets) byId.set(d.id, d);
    for (const d of live) byId.set(String(d.id).replace(/^urn:ngsi-ld:Dataset:/, ''), { ...d, id: String(d.id).replace(/^urn:ngsi-ld:Dataset:/, '') });
    this.datasets = [...byId.values()];
    this.dirtyPanels = true;
  }

  private schedule(): void {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  private renderAll(): void {
    for (const w of WATCHES) this.dirtyQueries.add(w.query);
    this.dirtyPanels = true;
    this.schedule();
  }

  private render(): void {
    const t0 = performance.now();
    this.frame = 0;
    metrics.renders++;
    const q = this.dirtyQueries;
    const panels = q.size > 0 || this.dirtyPanels;
    // Until MapLibre is there only the panels draw; the map takes every source when it comes.
    if (this.map) {
      if (q.has('dongs') || q.has('air') || q.has('requests') || q.has('vehicles')) this.renderDongs();
      if (q.has('roads')) this.renderRoads();
      const points: [string, string][] = [['cctv', 'cctv'], ['bikes', 'bikes'], ['hotspots', 'hotspots'], ['er', 'er'], ['vehicles', 'vehicles']];
      for (const [query, source] of points) if (q.has(query)) this.map.setFeatures(source, this.pointFeatures(this.list(query)));
      if (q.has('sensors') || q.has('bridges') || q.has('markets')) this.renderFacilities();
      if (q.has('water')) this.renderGauges();
      if (q.has('roadworks') || q.has('roads')) this.renderRoadworks();
      q.clear();
    }
    if (panels) this.renderPanels();
    this.dirtyPanels = false;
    const t1 = performance.now();
    metrics.slowestRenderMs = Math.max(metrics.slowestRenderMs, t1 - t0);
    if (metrics.firstLiveMs < 0 && FIRST_PAINT_QUERIES.every((x) => this.stream.answered(x))) {
      metrics.firstLiveMs = 0;
      requestAnimationFrame(() => {
        metrics.firstLiveMs = performance.now();
        // the panels are on screen: now the map
        window.setTimeout(() => void this.loadMap(), 0);
      });
    }
    if (metrics.mapLiveMs < 0 && this.map && this.stream.entities('dongs').size && this.stream.entities('roads').size) {
      metrics.mapLiveMs = 0;
      const map = this.map;
      void map.ready.then(() => map.filledWith(['dongs', 'roads'])).then(() => {
        requestAnimationFrame(() => { metrics.mapLiveMs = performance.now(); });
        map.map.once('idle', () => { metrics.mapIdleMs = performance.now(); });
      });
    }
  }

  private pointFeatures(list: Entity[]): GeoJSON.Feature[] {
    const out: GeoJSON.Feature[] = [];
    for (const e of list) {
      const g = geometryOf(e);
      if (!g || g.type !== 'Point') continue;
      out.push({ type: 'Feature', geometry: g, properties: { id: e.id, dispatchStatus: e.dispatchStatus ?? null } });
    }
    return out;
  }

  private renderFacilities(): void {
    // Sensors sit at their facility: their own location, or the facility's they refer to.
    const facilities = new Map<string, Entity>();
    for (const f of [...this.list('bridges'), ...this.list('markets')]) facilities.set(f.id, f);
    const out: GeoJSON.Feature[] = [];
    const covered = new Set<string>();
    for (const s of this.list('sensors')) {
      const ref = typeof s.refFacility === 'string' ? s.refFacility : null;
      let g = geometryOf(s) ?? (ref ? geometryOf(facilities.get(ref) ?? ({} as Entity)) : null);
      if (g && g.type !== 'Point') g = { type: 'Point', coordinates: firstCoord(g) };
      if (!g) continue;
      if (ref) covered.add(ref);
      out.push({ type: 'Feature', geometry: g, properties: { id: s.id, alarm: sensorAlarm(s) } });
    }
    for (const f of facilities.values()) {
      if (covered.has(f.id)) continue;
      const g = geometryOf(f);
      if (!g) continue;
      out.push({ type: 'Feature', geometry: g.type === 'Point' ? g : { type: 'Point', coordinates: firstCoord(g) }, properties: { id: f.id, alarm: false } });
    }
    this.map?.setFeatures('facilities', out);
  }

  // River gauges at their bridges, coloured by their state.
  private renderGauges(): void {
    const out: GeoJSON.Feature[] = [];
    for (const g of this.list('water')) {
      let geo = geometryOf(g);
      if (geo && geo.type !== 'Point') geo = { type: 'Point', coordinates: firstCoord(geo) };
      if (geo) out.push({ type: 'Feature', geometry: geo, properties: { id: g.id, status: floodStatus(g) } });
    }
    this.map?.setFeatures('water', out);
    this.renderKey(this.dongValues());
  }

  private renderRoads(): void {
    const hour = (this.replayAt ?? new Date()).getHours();
    const out: GeoJSON.Feature[] = [];
    for (const r of this.list('roads')) {
      const g = geometryOf(r);
      if (!g) continue;
      let colour: string;
      if (this.roadMode === 'snow') colour = SNOW_COLOURS[String(r.snowRemovalStatus ?? 'none')] ?? SNOW_COLOURS.none;
      else {
        const lvl = r.congestionLevel;
        const s = currentSpeed(r, hour);
        colour = lvl === 'jammed' ? '#b71c1c' : lvl === 'congested' ? '#ff3b3b' : lvl === 'slow' ? '#ffb300' : lvl === 'free' ? '#3ddc84' :
          s == null ? '#41566e' : s < 15 ? '#ff3b3b' : s < 25 ? '#ff8c1a' : s < 40 ? '#ffd23f' : '#3ddc84';
      }
      out.push({ type: 'Feature', geometry: g, properties: { id: r.id, colour } });
    }
    this.map?.setFeatures('roads', out);
  }

  private renderRoadworks(): void {
    const roads = this.stream.entities('roads');
    const out: GeoJSON.Feature[] = [];
    for (const w of this.list('roadworks')) {
      if (w.status === 'finished') continue;
      const g = geometryOf(w) ?? (typeof w.refRoadSegment === 'string' ? geometryOf(roads.get(w.refRoadSegment) ?? ({} as Entity)) : null);
      if (g) out.push({ type: 'Feature', geometry: g, properties: { id: w.id } });
    }
    this.map?.setFeatures('roadworks', out);
  }

  private dongValues(): Map<string, number> {
    const values = new Map<string, number>();
    const dongs = this.list('dongs');
    if (this.metric === 'caseCount') {
      for (const d of dongs) if (typeof d.caseCount === 'number') values.set(d.id, d.caseCount);
    } else if (this.metric === 'pm10') {
      for (const a of this.list('air')) {
        const ref = typeof a.refArea === 'string' ? a.refArea : `urn:ngsi-ld:AdministrativeArea:${String(a.id).split(':').pop()}`;
        if (typeof a.pm10 === 'number') values.set(ref, a.pm10);
      }
    } else if (this.metric.startsWith('attr:')) {
      const key = this.metric.slice(5);
      for (const d of dongs) if (typeof d[key] === 'number') values.set(d.id, d[key] as number);
    } else if (this.metric === 'requests' && !this.replayAt && this.gov.requests?.today?.byArea) {
      // the statistics route counts in city time; areas come as dong URNs or names
      const byName = new Map(dongs.map((d) => [dongName(d), d.id]));
      for (const d of dongs) values.set(d.id, 0);
      for (const a of this.gov.requests.today.byArea) {
        const id = a.area.startsWith('urn:') ? a.area : byName.get(a.area.slice(a.area.lastIndexOf(' ') + 1));
        if (id) values.set(id, (values.get(id) ?? 0) + a.count);
      }
    } else if (this.metric === 'requests') {
      const today = new Date(this.replayAt ?? Date.now()).toISOString().slice(0, 10);
      for (const d of dongs) values.set(d.id, 0);
      for (const r of this.list('requests')) {
        if (String(r.requestedAt ?? '').slice(0, 10) !== today || typeof r.refArea !== 'string') continue;
        values.set(r.refArea, (values.get(r.refArea) ?? 0) + 1);
      }
    }
    return values;
  }

  // The colour key: what the road colours, the dong shades and the ambulance dots mean.
  private renderKey(values: Map<string, number>): void {
    const el = this.root.querySelector('.key') as HTMLElement;
    if (!this.map) return;
    const sw = (c: string, label: string) => `<span class="sw"><i style="background:${c}"></i>${esc(label)}</span>`;
    const parts: string[] = [];
    if (this.map.isVisible('roads')) {
      parts.push(this.roadMode === 'snow'
        ? `<div><b>${t('snow')}</b>${sw(SNOW_COLOURS.scheduled, code('scheduled'))}${sw(SNOW_COLOURS.inProgress, code('inProgress'))}${sw(SNOW_COLOURS.done, code('done'))}</div>`
        : `<div><b>${t('roads')}</b>${sw('#ff3b3b', '<15')}${sw('#ff8c1a', '15–25')}${sw('#ffd23f', '25–40')}${sw('#3ddc84', '≥40 km/h')}</div>`);
    }
    if (this.metric !== 'none' && values.size) {
      const vs = [...values.values()];
      const label = metricLabel(this.metric);
      parts.push(`<div><b>${esc(label)}</b><span class="ramp"></span><span>0 – ${Math.max(...vs).toLocaleString('ko-KR')}</span></div>`);
    }
    if (this.map.isVisible('water') && this.list('water').length) {
      parts.push(`<div><b>${t('water')}</b>${Object.entries(FLOOD_COLOURS).map(([k, c]) => sw(c, code(k))).join('')}</div>`);
    }
    if (this.map.isVisible('vehicles') && this.list('vehicles').length) {
      parts.push(`<div><b>${t('ambulances')}</b>${Object.entries(DISPATCH_COLOURS).map(([k, c]) => sw(c, code(k))).join('')}</div>`);
    }
    const html = parts.join('');
    if (el.innerHTML !== html) el.innerHTML = html;
    el.hidden = !html;
  }

  private renderDongs(): void {
    const values = this.dongValues();
    this.renderKey(values);
    const unit = this.metric === 'pm10' ? '㎍' : this.metric === 'requests' ? '건' : '';
    this.map?.setDongs(this.list('dongs'), values, (el, d) => {
      const v = values.get(d.id);
      const html = `<span class="n">${esc(dongName(d))}</span>${v != null ? `<span class="v">${v.toLocaleString('ko-KR')}${unit}</span>` : ''}`;
      if (el.innerHTML !== html) el.innerHTML = html;
    });
  }

  // A card's title for observations that carry no name of their own: their dong and kind.
  private decorate(e: Entity): Entity {
    if (localName(e.name)) return e;
    const ref = typeof e.refArea === 'string' ? e.refArea : `urn:ngsi-ld:AdministrativeArea:${e.id.split(':').pop()}`;
    const d = this.stream.entities('dongs').get(ref);
    if (!d) return e;
    const kind = e.type === 'AirQualityObserved' ? t('air') : e.type === 'WeatherObserved' ? t('weather') : '';
    return { ...e, name: `${dongName(d)} ${kind}`.trim() };
  }

  private renderPanels(): void {
    const view: View = { list: (q) => this.list(q), asOf: this.replayAt, gov: this.gov };
    const html = (p: typeof PANELS[number]) => {
      const qs = PANEL_QUERIES[p.id] ?? [];
      const last = p.id === 'pledges' ? this.govAt || null : Math.max(0, ...qs.map((q) => this.lastUpdate.get(q) ?? 0)) || null;
      return renderPanel(p, view, this.datasets, last);
    };
    // On the wall the governance panel sits above the timeline (the live panels fill their
    // column); elsewhere it is the last of the panels.
    const wall = document.documentElement.dataset.layout === 'wall';
    this.fillPanels(this.root.querySelector('.panels') as HTMLElement, PANELS.filter((p) => !wall || p.id !== 'pledges'), html);
    this.fillPanels(this.root.querySelector('.gov') as HTMLElement, wall ? PANELS.filter((p) => p.id === 'pledges') : [], html);
    this.root.querySelectorAll('.panel').forEach((p) => p.classList.toggle('focus', focusPanel(this.view) === (p as HTMLElement).dataset.panel));
    this.fillTimeline(this.events.map((e) => `<li class="${esc(e.cls)}"><time>${esc(timeOf(e.at))}</time><span>${esc(e.text)}</span></li>`));
  }

  // New events come at the top and old ones drop off the bottom: only those lines change, so
  // the wall does not lay out sixty lines of Korean text again for each event.
  private eventsHtml: string[] = [];
  private fillTimeline(lines: string[]): void {
    const ol = this.root.querySelector('.timeline ol') as HTMLElement;
    const old = this.eventsHtml;
    this.eventsHtml = lines;
    const added = old.length ? lines.indexOf(old[0]) : -1;
    const kept = added < 0 ? 0 : Math.min(old.length, lines.length - added);
    const same = added >= 0 && ol.children.length === old.length && lines.slice(added, added + kept).every((l, i) => l === old[i]);
    if (!same) { ol.innerHTML = lines.join(''); return; }
    for (let i = ol.children.length - 1; i >= kept; i--) ol.children[i].remove();
    if (added > 0) ol.insertAdjacentHTML('afterbegin', lines.slice(0, added).join(''));
  }

  // Only the panels whose content changed are replaced: at 50 updates/s most of them stay as
  // they are, so a finger on a gauge or an alarm is not lifted from under it by a re-render.
  private panelHtml = new Map<string, string>();
  private fillPanels(box: HTMLElement, specs: typeof PANELS, html: (p: typeof PANELS[number]) => string): void {
    const ids = specs.map((p) => p.id);
    const present = [...box.children].map((c) => (c as HTMLElement).dataset.panel);
    if (present.join() !== ids.join()) {
      const parts = specs.map(html);
      specs.forEach((p, i) => this.panelHtml.set(p.id, parts[i]));
      box.innerHTML = parts.join('');
      return;
    }
    specs.forEach((p, i) => {
      const h = html(p);
      if (this.panelHtml.get(p.id) === h) return;
      this.panelHtml.set(p.id, h);
      const tpl = document.createElement('template');
      tpl.innerHTML = h;
      patchPanel(box.children[i] as HTMLElement, tpl.content.firstElementChild as HTMLElement);
    });
  }

  // Touches on the panels, bound once on their containers (the panels themselves are replaced
  // when their content changes): an alarm opens its card (acknowledge / clear for staff), a
  // gauge its card in the water view, any other touch switches the map to the panel's view.
  private bindPanels(): void {
    for (const box of [this.root.querySelector('.panels'), this.root.querySelector('.gov')] as HTMLElement[]) {
      const openAlert = (li: HTMLElement) => {
        const a = this.list('alerts').find((x) => x.id === li.dataset.id);
        if (a) void this.card.open(a);
      };
      box.addEventListener('click', (ev) => {
        const target = ev.target as HTMLElement;
        const li = target.closest('li.alert[data-id]') as HTMLElement | null;
        if (li) { openAlert(li); return; }
        const gauge = target.closest('.gauge[data-id]') as HTMLElement | null;
        if (gauge) { this.applyView('water', false); this.pick('water', gauge.dataset.id!); return; }
        const panel = target.closest('.panel') as HTMLElement | null;
        if (panel) this.applyView(panelView(panel.dataset.panel!));
      });
      box.addEventListener('keydown', (ev) => {
        const li = (ev.target as HTMLElement).closest('li.alert[data-id]') as HTMLElement | null;
        if (li && (ev.key === 'Enter' || ev.key === ' ')) { ev.preventDefault(); openAlert(li); }
      });
    }
  }

  private pick(layer: string, id: string): void {
    const query = layer === 'facilities' ? ['sensors', 'bridges', 'markets'] : [layer];
    for (const q of query) {
      const e = this.list(q).find((x) => x.id === id);
      if (e) { void this.card.open(this.decorate(e)); return; }
    }
  }

  private tick(): void {
    const now = new Date();
    this.root.querySelector('.clock')!.textContent = now.toLocaleString(getLang() === 'ko' ? 'ko-KR' : 'en-GB', { timeZone: 'Asia/Seoul', month: 'short', day: 'numeric', weekday: 'short', hour: '2-digit', minute: '2-digit', hour12: false });
  }
}

// "서울특별시 강남구 신사동" → "신사동": the dong is what the mayor says and reads.
function dongName(d: Entity): string {
  const n = localName(d.name).trim();
  return n.slice(n.lastIndexOf(' ') + 1);
}
function metricLabel(m: Metric): string {
  if (m === 'none') return t('none');
  if (m === 'requests') return t('requestsByDong');
  return m.startsWith('attr:') ? m.slice(5) : t(m);
}
function focusPanel(v: ViewName): string {
  return { home: '', cctv: 'alerts', air: 'air', ambulance: 'dispatch', snow: 'traffic', complaints: 'complaints', traffic: 'traffic', pledges: 'pledges', water: 'water' }[v];
}
function panelView(p: string): ViewName {
  return ({ alerts: 'home', traffic: 'traffic', air: 'air', weather: 'home', safety: 'home', water: 'water', dispatch: 'ambulance', complaints: 'complaints', pledges: 'pledges' } as Record<string, ViewName>)[p] ?? 'home';
}
function firstCoord(g: GeoJSON.Geometry): [number, number] {
  let c: any = 'coordinates' in g ? g.coordinates : [0, 0];
  while (Array.isArray(c[0])) c = c[0];
  return [c[0], c[1]];
}
// A static entity at a time it had no recorded live values: its live attributes blanked.
function stripLive(e: Entity): Entity {
  const { averageSpeed: _a, congestionLevel: _c, snowRemovalStatus: _s, caseCount: _k, ...rest } = e;
  return rest as Entity;
}

async function main(): Promise<void> {
  setLang(getLang());
  const [city] = await Promise.all([fetchCity(), loadSession()]);
  const wall = new Wall(city);
  (window as any).__wall = {
    wall,
    metrics,
    get map() { return wall.map?.map; },
    longTaskLog,
    stream: wall.stream,
    runCommand: (s: string) => wall.runCommand(s),
    screenPointOf: (layer: string) => wall.map?.firstRenderedPoint(layer) ?? null,
    mapUpdating: () => wall.map?.updating() ?? true,
    get view() { return wall.view; },
    get gov() { return wall.gov; },
    session,
    get cardId() { return wall.card?.currentId ?? null; },
  };
  await wall.start();
}

void main();

// A panel whose HTML changed keeps its element and the parts that did not change (most often
// only the footer's time or the body's numbers change), so the page lays out only those.
function patchPanel(el: HTMLElement, next: HTMLElement): void {
  if (el.children.length !== next.children.length || el.tagName !== next.tagName) { el.replaceWith(next); return; }
  for (const a of [...el.attributes]) if (!next.hasAttribute(a.name)) el.removeAttribute(a.name);
  for (const a of [...next.attributes]) if (el.getAttribute(a.name) !== a.value) el.setAttribute(a.name, a.value);
  [...next.children].forEach((c, i) => {
    const old = el.children[i];
    if (old.outerHTML !== c.outerHTML) old.replaceWith(c);
  });
}
