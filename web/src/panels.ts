// The "실시간 <city>" panels: each one a summary of one or more live queries, naming its
// dataset and the time of its last update, greyed and labelled when the catalog says the data
// is stale or failed, badged when it is simulated.
import { Dataset, Entity } from './api';
import { Governance, IndicatorTile, PressTrends } from './governance';
import { code, getLang, localName, t, timeOf } from './i18n';

export interface PanelSpec {
  id: string;
  title: string;           // i18n key
  types: string[];         // entity types it summarises (for the catalog lookup)
  render: (view: View) => string;  // inner HTML of the body
}

// What the panels read: the live store, or the replayed past.
export interface View {
  list(query: string): Entity[];
  asOf: Date | null;  // null: live
  gov: Governance;
}

// A horizontal bar: the share of `value` in `max`, with its label and number.
function bar(label: string, value: number, max: number, text: string, cls = ''): string {
  const w = max > 0 ? Math.max(2, Math.min(100, (value / max) * 100)) : 0;
  return `<div class="bar ${cls}"><span class="l">${esc(label)}</span><span class="track"><i style="width:${w.toFixed(1)}%"></i></span><b>${esc(text)}</b></div>`;
}

export function esc(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
function avg(xs: number[]): number | null {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}
function big(value: string, unit = '', cls = ''): string {
  return `<div class="big ${cls}"><span class="value">${esc(value)}</span><span class="unit">${esc(unit)}</span></div>`;
}
function row(label: string, value: string, cls = ''): string {
  return `<div class="row ${cls}"><span>${esc(label)}</span><b>${esc(value)}</b></div>`;
}
// At most one decimal: indicator values and achievements (12 건, 81.5 %).
function fmt1(v: number): string {
  return numberFormat(0, 1).format(v);
}
function fmt(v: number | null, digits = 0): string {
  return v == null ? '—' : numberFormat(digits, digits).format(v);
}
// One formatter per precision: toLocaleString with options builds a new one on every call.
const numberFormats = new Map<string, Intl.NumberFormat>();
function numberFormat(minDigits: number, maxDigits: number): Intl.NumberFormat {
  const key = `${minDigits}/${maxDigits}`;
  let f = numberFormats.get(key);
  if (!f) {
    f = new Intl.NumberFormat('ko-KR', { minimumFractionDigits: minDigits, maximumFractionDigits: maxDigits });
    numberFormats.set(key, f);
  }
  return f;
}

export function currentSpeed(e: Entity, hour = new Date().getHours()): number | null {
  const live = num(e.averageSpeed);
  if (live != null) return live;
  const hourly = e.speedHourly;
  if (Array.isArray(hourly)) return num(hourly[hour]);
  if (hourly && typeof hourly === 'object') return num((hourly as Record<string, unknown>)[String(hour)] ?? (hourly as Record<string, unknown>)[String(hour).padStart(2, '0')]);
  return num(e.averageSpeedWeekday);
}

const GRADE_CLASS = ['', 'good', 'moderate', 'bad', 'verybad'];

export const PANELS: PanelSpec[] = [
  {
    id: 'alerts', title: 'alerts', types: ['Alert', 'DisasterMessage'],
    render: (v) => {
      const alerts = v.list('alerts').filter((a) => a.status !== 'cleared');
      const order = ['critical', 'major', 'minor', 'warning'];
      alerts.sort((a, b) => order.indexOf(String(a.severity)) - order.indexOf(String(b.severity)));
      const msgs = v.list('disasters').sort((a, b) => String(b.issuedAt ?? '').localeCompare(String(a.issuedAt ?? '')));
      if (!alerts.length && !msgs.length) return `<div class="calm">${t('noAlerts')}</div>`;
      // One line per rule and severity: a typhoon raises the same alarm in every dong, and
      // 44 identical lines would hide everything else. At most five lines: alarms first, then
      // the newest messages; the rest is counted.
      const groups = new Map<string, Entity[]>();
      for (const a of alerts) {
        const k = `${a.severity}|${a.refRule ?? a.description ?? a.id}`;
        groups.set(k, [...(groups.get(k) ?? []), a]);
      }
      const lines = [...groups.values()];
      const nA = Math.min(lines.length, msgs.length ? 3 : 5), nM = Math.min(msgs.length, 5 - nA);
      const more = lines.slice(nA).reduce((n, g) => n + g.length, 0) + msgs.length - nM;
      const alertLine = (g: Entity[]) => {
        const a = g[0];
        const acked = g.every((x) => x.status === 'acknowledged');
        const where = g.length > 1 ? `${g.length}${t('places')}` : alertWhere(v, a);
        return `<li class="sev-${esc(a.severity)} alert ${acked ? 'acked' : ''}" data-id="${esc(a.id)}" tabindex="0" role="button"><span class="tag">${esc(code(a.severity))}</span>${acked ? `<span class="ack">${t('acknowledged')}</span>` : ''}${where ? `<b class="where">${esc(where)}</b> ` : ''}${esc(a.description ?? a.subCategory ?? a.category ?? a.id)}</li>`;
      };
      const items = [
        ...lines.slice(0, nA).map(alertLine),
        ...msgs.slice(0, nM).map((m) => `<li class="disaster" data-id="${esc(m.id)}"><span class="tag">${esc(m.category ?? '재난문자')}</span>${esc(m.message)}</li>`),
      ];
      return `<ul class="alerts">${items.join('')}</ul>${more > 0 ? `<div class="more">+${more} ${t('more')}</div>` : ''}`;
    },
  },
  {
    id: 'traffic', title: 'traffic', types: ['RoadSegment'],
    render: (v) => {
      const roads = v.list('roads');
      const hour = new Date().getHours();
      let congested = 0;
      const speeds: number[] = [];
      for (const r of roads) {
        const s = currentSpeed(r, hour);
        if (s != null) speeds.push(s);
        if (r.congestionLevel === 'congested' || r.congestionLevel === 'jammed' || (s ?? 99) < 15) congested++;
      }
      const a = avg(speeds);
      return big(fmt(a), 'km/h', a != null && a < 20 ? 'bad' : a != null && a < 30 ? 'moderate' : 'good') +
        row(t('congested'), `${fmt(congested)} / ${fmt(roads.length)}`);
    },
  },
  {
    id: 'air', title: 'air', types: ['AirQualityObserved'],
    render: (v) => {
      const obs = v.list('air');
      if (!obs.length) return `<div class="nodata">${t('noData')}</div>`;
      const pm10 = obs.map((o) => num(o.pm10)).filter((x): x is number => x != null);
      const pm25 = obs.map((o) => num(o.pm25)).filter((x): x is number => x != null);
      const worst = obs.reduce((w, o) => ((num(o.pm10) ?? -1) > (num(w.pm10) ?? -1) ? o : w), obs[0]);
      const g = Math.max(...obs.map((o) => num(o.pm10Grade) ?? 0));
      return big(fmt(avg(pm10)), 'µg/m³ PM10', GRADE_CLASS[g] ?? '') +
        row('PM2.5', `${fmt(avg(pm25))} µg/m³`) +
        row(t('worstDong'), `${areaName(v, worst)} ${fmt(num(worst.pm10))} µg/m³`) +
        (g ? row('', code(g), GRADE_CLASS[g]) : '');
    },
  },
  {
    id: 'weather', title: 'weather', types: ['WeatherObserved'],
    render: (v) => {
      const obs = v.list('weather');
      if (!obs.length) return `<div class="nodata">${t('noData')}</div>`;
      const m = (k: string) => avg(obs.map((o) => num(o[k])).filter((x): x is number => x != null));
      const snow = m('snowHeight');
      return big(fmt(m('temperature'), 1), '°C') +
        row('습도', `${fmt((m('relativeHumidity') ?? NaN) * 100)} %`) +
        row('강수', `${fmt(m('precipitation'), 1)} mm/h`) +
        row('풍속', `${fmt(m('windSpeed'), 1)} m/s`) +
        (snow ? row('적설', `${fmt(snow, 1)} cm`, 'bad') : '');
    },
  },
  {
    id: 'safety', title: 'safety', types: ['FacilitySensor', 'Bridge', 'PointOfInterest'],
    render: (v) => {
      const sensors = v.list('sensors');
      const abnormal = sensors.filter(sensorAlarm);
      const head = sensors.length
        ? big(fmt(abnormal.length), `${t('abnormal')} / ${fmt(sensors.length)} ${t('sensors')}`, abnormal.length ? 'verybad' : 'good')
        : `<div class="nodata">${t('sensors')}: ${t('noData')}</div>`;
      return head +
        row(t('bridges'), fmt(v.list('bridges').length)) +
        row(t('markets'), fmt(v.list('markets').length)) +
        abnormal.slice(0, 2).map((s) => row(t('abnormal'), String(localName(s.name) || String(s.id).split(':').pop()).slice(0, 28), 'bad')).join('');
    },
  },
  {
    id: 'water', title: 'water', types: ['FloodMonitoring'],
    render: (v) => {
      const gauges = v.list('water').filter((g) => num(g.currentLevel) != null);
      if (!gauges.length) return `<div class="nodata">${t('gauges')}: ${t('noData')}</div>`;
      // Worst first: by status, then by how close the water is to the gauge's danger level.
      const fill = (g: Entity) => (num(g.currentLevel) ?? 0) / (num(g.dangerLevel) ?? num(g.alertLevel) ?? 1);
      const rank = (g: Entity) => ({ danger: 2, alert: 1 } as Record<string, number>)[floodStatus(g)] ?? 0;
      gauges.sort((a, b) => rank(b) - rank(a) || fill(b) - fill(a));
      const over = gauges.filter((g) => floodStatus(g) !== 'normal').length;
      const worst = floodStatus(gauges[0]);
      const head = big(fmt(over), `${t('overAlert')} / ${fmt(gauges.length)} ${t('gauges')}`, worst === 'danger' ? 'verybad' : worst === 'alert' ? 'bad' : 'good');
      // Four lines (six on the wall, where the panel is two rows tall): every river's worst
      // gauge, then the next worst (a big river's normal level is a larger share of its banks
      // than a stream's, and must not hide the streams).
      const lines = document.documentElement.dataset.layout === 'wall' ? 6 : 4;
      const shown = new Set<Entity>();
      const rivers = new Set<string>();
      for (const g of gauges) if (shown.size < lines && !rivers.has(String(g.riverName))) { rivers.add(String(g.riverName)); shown.add(g); }
      for (const g of gauges) if (shown.size < lines) shown.add(g);
      return head + `<div class="gauges">${gauges.filter((g) => shown.has(g)).map(gaugeRow).join('')}</div>`;
    },
  },
  {
    id: 'dispatch', title: 'dispatch', types: ['Vehicle'],
    render: (v) => {
      const amb = v.list('vehicles');
      const by = new Map<string, number>();
      for (const a of amb) by.set(String(a.dispatchStatus ?? 'available'), (by.get(String(a.dispatchStatus ?? 'available')) ?? 0) + 1);
      const busy = amb.length - (by.get('available') ?? 0);
      const states = ['ordered', 'enRoute', 'onScene', 'transporting', 'atHospital', 'returning', 'available'];
      return big(fmt(busy), `/ ${fmt(amb.length)} ${t('ambulances')}`, busy ? 'moderate' : 'good') +
        `<div class="chips">${states.filter((s) => by.get(s)).map((s) => `<span class="chip st-${s}">${esc(code(s))} <b>${by.get(s)}</b></span>`).join('')}</div>`;
    },
  },
  {
    id: 'complaints', title: 'complaints', types: ['ServiceRequest'],
    render: (v) => {
      // The statistics route counts days in city time and covers requests the stream does not
      // carry (closed, older); live entities are the fallback and the only source in replay.
      const st = v.asOf ? null : v.gov.requests;
      const liveToday = v.list('requests').filter((r) => String(r.requestedAt ?? '').slice(0, 10) === new Date().toISOString().slice(0, 10)).length;
      if (st?.today && st.today.total >= liveToday) {
        const week = st.thisWeek?.total ?? null;
        const areas = (st.today.byArea ?? []).slice().sort((a, b) => b.count - a.count).slice(0, 2);
        // the last eight ISO weeks as small columns (this week last)
        const weeks = (st.byWeek ?? []).slice().sort((a, b) => a.week.localeCompare(b.week)).slice(-8);
        const peak = Math.max(1, ...weeks.map((w) => w.count));
        const spark = weeks.length >= 2 ? `<div class="spark" title="${esc(t('byWeek'))}">${weeks.map((w) => `<i style="height:${Math.max(4, (w.count / peak) * 100).toFixed(0)}%" title="${esc(w.week)} ${w.count}"></i>`).join('')}</div>` : '';
        return big(fmt(st.today.total), '건') + row(t('thisWeek'), fmt(week)) + row(t('open'), fmt(st.open)) +
          areas.map((a) => row(shortArea(a.area, v), fmt(a.count))).join('') + spark;
      }
      const today = new Date(v.asOf ?? Date.now()).toISOString().slice(0, 10);
      const reqs = v.list('requests').filter((r) => String(r.requestedAt ?? '').slice(0, 10) === today);
      const open = reqs.filter((r) => r.status !== 'closed').length;
      const byName = new Map<string, number>();
      for (const r of reqs) byName.set(String(r.serviceName ?? r.serviceCode ?? '기타'), (byName.get(String(r.serviceName ?? r.serviceCode ?? '기타')) ?? 0) + 1);
      const top = [...byName].sort((a, b) => b[1] - a[1]).slice(0, 2);
      return big(fmt(reqs.length), '건') + row(t('open'), fmt(open)) + top.map(([n, c]) => row(n, fmt(c))).join('');
    },
  },
  {
    id: 'pledges', title: 'pledges', types: ['Pledge'],
    render: (v) => {
      const p = v.gov.pledges;
      const extra = indicatorTiles(v.gov.indicators) + pressTrend(v.gov.press);
      if (!p) return `<div class="calm">${t('noData')}</div>` + extra;
      const fields = p.byField.slice().sort((a, b) => b.implementationRate - a.implementationRate);
      const statuses = p.byStatus.filter((s) => s.count > 0).map((s) => `<span class="chip">${esc(s.label ?? s.status)} <b>${fmt(s.count)}</b></span>`).join('');
      return `<div class="pledge-head">${big(fmt(p.implementationRate, 1), `% · ${fmt(p.count)}${t('pledgeUnit')}`, p.implementationRate >= 70 ? 'good' : p.implementationRate >= 40 ? 'moderate' : 'bad')}<div class="chips">${statuses}</div></div>` +
        `<div class="bars">${fields.map((f) => bar(fieldName(f.field), f.implementationRate, 100, `${fmt(f.implementationRate, 0)}%`)).join('')}</div>` + extra;
    },
  },
];

// Policy indicators: the current value with its unit, achievement against the period's target
// (met ≥ 100 %, near ≥ 80 %, behind below) and the trend arrow coloured by what it means given
// the indicator's direction (docs/GOVERNANCE.md, "Policy indicators").
function indicatorTiles(tiles: IndicatorTile[] | null): string {
  const head = `<div class="sub">${esc(t('indicators'))}</div>`;
  if (!tiles) return head + `<div class="calm">${t('noData')}</div>`;
  const arrow: Record<string, string> = { up: '▲', down: '▼', flat: '▶' };
  const meaning: Record<string, string> = { improving: 'good', worsening: 'bad', steady: 'moderate' };
  const tile = (x: IndicatorTile): string => {
    const name = (getLang() === 'en' ? x.nameEn || x.name : x.name || x.nameEn) || x.id.split(':').pop();
    const val = num(x.value);
    const ach = num(x.achievement);
    const cls = ach == null ? '' : ach >= 100 ? 'good' : ach >= 80 ? 'moderate' : 'bad';
    const tr = x.trend && arrow[x.trend] ? `<span class="trend ${meaning[x.trendMeaning ?? ''] ?? ''}">${arrow[x.trend]}</span>` : '';
    return `<div class="ind ${cls}" data-id="${esc(x.id)}"><span class="l">${esc(name)}</span>` +
      `<span class="v">${val == null ? esc(t('noData')) : `${fmt1(val)}<small>${esc(x.unit ?? '')}</small>`}${tr}</span>` +
      `<span class="ach">${ach == null ? '—' : `${fmt1(ach)}%`}</span></div>`;
  };
  return head + `<div class="inds">${tiles.slice(0, 6).map(tile).join('')}</div>`;
}

// The press keyword trend: the three most mentioned topics, each a sparkline of its daily
// mentions (inline SVG: a few points do not need the chart library in the main chunk).
function pressTrend(press: PressTrends | null): string {
  if (!press) return '';
  const top = press.topics.slice().sort((a, b) => b.mentions - a.mentions).slice(0, 3);
  const max = Math.max(1, ...top.flatMap((tp) => (tp.daily ?? []).map((d) => d.mentions)));
  const line = (daily: { mentions: number }[]): string => {
    if (daily.length < 2) return '<svg class="sl" viewBox="0 0 100 20"></svg>';
    const pts = daily.map((d, i) => `${((i / (daily.length - 1)) * 100).toFixed(1)},${(19 - (d.mentions / max) * 18).toFixed(1)}`).join(' ');
    return `<svg class="sl" viewBox="0 0 100 20" preserveAspectRatio="none"><polyline points="${pts}" fill="none" stroke="currentColor" stroke-width="2" vector-effect="non-scaling-stroke"/></svg>`;
  };
  return `<div class="sub">${esc(t('press'))}</div><div class="press">${top.map((tp) =>
    `<div class="bar" data-topic="${esc(tp.topic)}"><span class="l">${esc(tp.name ?? tp.topic)}</span>${line(tp.daily ?? [])}<b>${fmt(tp.mentions)}</b></div>`).join('')}</div>`;
}

// Where an alarm comes from, for the mayor: its originator's dong (air, weather: ids end with
// the dong's code) or name (a bridge sensor, a market), so that one rule's alarms in several
// places do not read as the same line.
export function alertWhere(v: View, a: Entity): string {
  const src = typeof a.alertSource === 'string' ? a.alertSource : '';
  if (!src) return '';
  const tail = src.split(':').pop() ?? '';
  const dong = v.list('dongs').find((d) => d.id === `urn:ngsi-ld:AdministrativeArea:${tail}`);
  if (dong) return shortArea(dong.id, v);
  const gauge = v.list('water').find((x) => x.id === src);
  if (gauge) return `${gauge.riverName ?? ''} ${localName(gauge.name).replace(/\s*수위 관측.*$/, '')}`.trim();
  for (const q of ['sensors', 'bridges', 'markets', 'roads', 'air', 'weather']) {
    const e = v.list(q).find((x) => x.id === src);
    if (e) {
      const n = localName(e.name);
      if (n) return n.length > 18 ? n.slice(0, 17) + '…' : n;
      if (typeof e.refArea === 'string') return shortArea(e.refArea, v);
    }
  }
  return '';
}

// "V. 건강하고 행복한 복지도시" → "건강하고 행복한 복지도시": the publisher's numbering says nothing
// on a bar chart ordered by progress.
function fieldName(f: string): string {
  return f.replace(/^\s*([IVXLⅠ-Ⅻ]+|\d+)[.)]\s*/, '');
}

// "서울특별시 강남구 역삼1동" or a dong URN → "역삼1동".
function shortArea(area: string, v: View): string {
  const d = area.startsWith('urn:') ? v.list('dongs').find((x) => x.id === area) : null;
  const n = localName(d?.name ?? area).trim();
  return n.slice(n.lastIndexOf(' ') + 1) || area;
}

// The dong an observation belongs to, by its refArea (or the admin code its id ends with).
function areaName(v: View, e: Entity): string {
  const ref = typeof e.refArea === 'string' ? e.refArea : `urn:ngsi-ld:AdministrativeArea:${String(e.id).split(':').pop()}`;
  const d = v.list('dongs').find((x) => x.id === ref);
  const n = localName(d?.name ?? e.areaName ?? e.name ?? '').trim();
  return n ? n.slice(n.lastIndexOf(' ') + 1) : String(e.id).split(':').pop() ?? '';
}

// A gauge's state: what it says, or what its level says against its own alert/danger levels.
export function floodStatus(g: Entity): string {
  const level = num(g.currentLevel), alert = num(g.alertLevel), danger = num(g.dangerLevel);
  if (level != null && danger != null && level >= danger) return 'danger';
  if (level != null && alert != null && level >= alert) return 'alert';
  return typeof g.floodLevelStatus === 'string' ? g.floodLevelStatus : 'normal';
}

// One gauge: "탄천 삼성교", the water on a track scaled to the danger level with the alert
// level marked, and the level in metres.
function gaugeRow(g: Entity): string {
  const level = num(g.currentLevel) ?? 0;
  const danger = num(g.dangerLevel), alert = num(g.alertLevel);
  const top = (danger ?? alert ?? level) * 1.15 || 1;
  const w = Math.max(2, Math.min(100, (level / top) * 100));
  const mark = (x: number | null, cls: string) => x == null ? '' : `<em class="${cls}" style="left:${((x / top) * 100).toFixed(1)}%"></em>`;
  const river = typeof g.riverName === 'string' ? g.riverName : '';
  const name = localName(g.name).replace(/\s*수위 관측.*$/, '') || String(g.id).split(':').pop();
  const st = floodStatus(g);
  return `<div class="gauge st-${esc(st)}" data-id="${esc(g.id)}" title="${esc(code(st))}"><span class="l">${esc(river ? `${river} ${name}` : name)}</span>` +
    `<span class="track"><i style="width:${w.toFixed(1)}%"></i>${mark(alert, 'a')}${mark(danger, 'd')}</span><b>${esc(fmt(level, 2))} m</b></div>`;
}

export function sensorAlarm(s: Entity): boolean {
  return (num(s.tilt) ?? 0) > 0.5 || (num(s.crackWidth) ?? 0) > 0.3 || (num(s.vibration) ?? 0) > 10 ||
    (num(s.smokeDensity) ?? 0) > 10 || (num(s.temperature) ?? 0) > 60;
}

// Freshness of a panel from the catalog: the worst of its datasets.
export function panelFreshness(types: string[], datasets: Dataset[]): { freshness: string; names: string[]; last: string | null } {
  const ds = datasets.filter((d) => (d.entityTypes ?? []).some((x) => types.includes(x)));
  const rank = ['failed', 'unreachable', 'stale', 'not-configured', 'simulated', 'fresh'];
  let worst = 'fresh';
  let last: string | null = null;
  for (const d of ds) {
    const f = d.freshness ?? 'fresh';
    if (rank.indexOf(f) >= 0 && rank.indexOf(f) < rank.indexOf(worst)) worst = f;
    if (d.lastSuccess && (!last || d.lastSuccess > last)) last = d.lastSuccess;
  }
  const simulated = ds.some((d) => d.freshness === 'simulated');
  return { freshness: worst === 'fresh' && simulated ? 'simulated' : worst, names: ds.map((d) => localName(d.name ?? d.id)), last };
}

export function renderPanel(p: PanelSpec, view: View, datasets: Dataset[], lastUpdate: number | null): string {
  const f = panelFreshness(p.types, datasets);
  const simulated = datasets.some((d) => d.freshness === 'simulated' && (d.entityTypes ?? []).some((x) => p.types.includes(x)));
  const staleCls = f.freshness === 'stale' || f.freshness === 'failed' || f.freshness === 'unreachable' ? 'is-stale' : '';
  const badge = [
    simulated ? `<span class="badge sim">${t('simulated')}</span>` : '',
    f.freshness === 'stale' ? `<span class="badge stale">${t('stale')}</span>` : '',
    f.freshness === 'failed' || f.freshness === 'unreachable' ? `<span class="badge failed">${t('failed')}</span>` : '',
  ].join('');
  const when = view.asOf ? view.asOf.toISOString() : f.last && (!lastUpdate || Date.parse(f.last) > lastUpdate) ? f.last : lastUpdate;
  const source = f.names.length ? f.names.join(', ') : p.types.join(', ');
  return `<section class="panel ${staleCls}" data-panel="${p.id}">
    <header><h2>${esc(t(p.title))}</h2>${badge}</header>
    <div class="body">${p.render(view)}</div>
    <footer><span class="src">${esc(source)}</span><span class="when">${t('updated')} ${esc(timeOf(when as any))}</span></footer>
  </section>`;
}
