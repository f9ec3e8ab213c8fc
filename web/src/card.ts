// The card a touch opens: the entity's attributes, a 24-hour chart from the temporal API, and
// for an accident hotspot its nearest CCTV. ECharts is loaded on the first card only, so it
// does not delay the first paint of the live city.
import { Entity, fetchHistory, nearestCameras } from './api';
import { code, localName, t, timeOf } from './i18n';
import { esc } from './panels';
import { isStaff, session, write } from './session';

const HIDDEN = new Set(['id', 'type', 'location', 'speedHourly', 'itsLinkIds', 'scope', '@context']);
const CODED = new Set(['dispatchStatus', 'congestionLevel', 'snowRemovalStatus', 'severity', 'status', 'pm10Grade', 'pm25Grade', 'floodLevelStatus']);

let echartsLib: Promise<typeof import('./chart')> | null = null;

function show(v: unknown, key: string): string {
  if (v == null) return '—';
  if (CODED.has(key)) return code(v);
  if (typeof v === 'number') return /year|code|id$|num$/i.test(key) ? String(v) : v.toLocaleString('ko-KR', { maximumFractionDigits: 2 });
  if (typeof v === 'object') {
    const s = JSON.stringify(v);
    return s.length > 80 ? s.slice(0, 77) + '…' : s;
  }
  const s = String(v);
  return /^\d{4}-\d\d-\d\dT/.test(s) ? `${s.slice(0, 10)} ${timeOf(s)}` : s;
}

export class Card {
  private el: HTMLElement;
  private disposeChart: (() => void) | null = null;
  currentId: string | null = null;

  constructor(parent: HTMLElement) {
    this.el = document.createElement('aside');
    this.el.className = 'card hidden';
    this.el.setAttribute('role', 'dialog');
    parent.appendChild(this.el);
  }

  close(): void {
    this.el.classList.add('hidden');
    this.disposeChart?.();
    this.disposeChart = null;
    this.currentId = null;
  }

  async open(e: Entity): Promise<void> {
    this.disposeChart?.();
    this.currentId = e.id;
    const rows = Object.entries(e)
      .filter(([k]) => !HIDDEN.has(k) && k !== 'name')
      .slice(0, 14)
      .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(show(v, k))}</td></tr>`)
      .join('');
    this.el.innerHTML = `
      <header><div><div class="type">${esc(e.type)}</div><h2>${esc(localName(e.name) || e.id.split(':').pop())}</h2></div>
        <button class="close" aria-label="${t('close')}">✕</button></header>
      <table class="attrs">${rows}</table>
      <h3>${t('last24h')}</h3><div class="chart"><div class="muted">${t('loading')}</div></div>
      ${e.type === 'Alert' && isStaff() && e.status !== 'cleared' ? `<form class="alarm-actions">
        <label>${t('note')} <input name="note" type="text" maxlength="500" autocomplete="off" /></label>
        <div class="btns">${e.status !== 'acknowledged' ? `<button type="submit" class="ack">${t('acknowledge')}</button>` : ''}<button type="button" class="clear">${t('clearAlarm')}</button></div>
        <div class="msg" role="status"></div></form>` : ''}
      ${e.type === 'AccidentHotspot' ? `<h3>${t('nearestCctv')}</h3><ul class="cctv"><li class="muted">${t('loading')}</li></ul>` : ''}
      <div class="id">${esc(e.id)}</div>`;
    this.el.classList.remove('hidden');
    this.el.querySelector('.close')!.addEventListener('click', () => this.close());
    const id = e.id;
    const actions = this.el.querySelector('form.alarm-actions') as HTMLFormElement | null;
    if (actions) {
      actions.addEventListener('submit', (ev) => { ev.preventDefault(); void this.alarm(id, 'acknowledge', actions); });
      actions.querySelector('.clear')!.addEventListener('click', () => void this.alarm(id, 'clear', actions));
    }
    if (e.type === 'AccidentHotspot') void this.fillCctv(e);
    const series = await fetchHistory(id);
    if (this.currentId !== id) return;
    const chartEl = this.el.querySelector('.chart') as HTMLElement;
    // Grades and codes are not quantities to draw.
    const drawable = series.filter((s) => s.points.length >= 2 && !/grade|code|year/i.test(s.attr));
    if (!drawable.length) {
      chartEl.classList.add('empty');
      chartEl.innerHTML = `<div class="muted">${t('noHistory')}</div>`;
      return;
    }
    echartsLib ??= import('./chart');
    const { drawChart } = await echartsLib;
    if (this.currentId !== id) return;
    chartEl.innerHTML = '';
    this.disposeChart = drawChart(chartEl, drawable.slice(0, 3));
  }

  // Acknowledge or clear an alarm (docs/ALARMS.md); the Alert's new status comes back over the
  // live stream like any other change, so only the outcome is shown here.
  private async alarm(id: string, action: 'acknowledge' | 'clear', form: HTMLFormElement): Promise<void> {
    const note = (form.elements.namedItem('note') as HTMLInputElement).value.trim();
    const msg = form.querySelector('.msg') as HTMLElement;
    form.querySelectorAll('button').forEach((b) => { b.disabled = true; });
    const body: Record<string, string> = { by: session().user ?? 'wall' };
    if (note) body.note = note;
    const r = await write('POST', `/cityroom/v1/alarms/${encodeURIComponent(id)}/${action}`, body);
    if (this.currentId !== id) return;
    form.querySelectorAll('button').forEach((b) => { b.disabled = false; });
    if (!r.ok) {
      msg.className = 'msg bad';
      msg.textContent = `${t('actionFailed')} (${r.status || '—'}${r.body?.detail ? `: ${r.body.detail}` : ''})`;
      return;
    }
    msg.className = 'msg ok';
    msg.textContent = `${action === 'clear' ? t('clearAlarm') : t('acknowledged')} — ${t('done')}`;
    form.querySelector('.ack')?.remove();
    if (action === 'clear') form.querySelectorAll('button, input').forEach((b) => { (b as HTMLInputElement).disabled = true; });
  }

  private async fillCctv(e: Entity): Promise<void> {
    const loc = e.location as { coordinates?: number[] } | undefined;
    const ul = this.el.querySelector('ul.cctv');
    if (!loc?.coordinates || !ul) return;
    const cams = await nearestCameras(loc.coordinates[0], loc.coordinates[1]);
    if (this.currentId !== e.id) return;
    if (!cams.length) {
      ul.innerHTML = `<li class="muted">${t('none')}</li>`;
      return;
    }
    ul.innerHTML = cams
      .map((c) => {
        const url = typeof c.streamURL === 'string' && /^(https?|rtsp):\/\//.test(c.streamURL) ? c.streamURL : null;
        const link = url ? `<a href="${esc(url)}" target="_blank" rel="noopener">${t('openStream')}</a>` : `<span class="nostream">${t('noStream')}</span>`;
        return `<li><b>${esc(localName(c.name) || c.id.split(':').pop())}</b> <span class="dist">${Math.round(c.distance)} m</span><br>${link}</li>`;
      })
      .join('');
  }
}
