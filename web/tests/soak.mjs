// Soak (not in CI): the wall layout for --minutes (default 50) while the city changes at
// --rate updates per second (default 50), through the demo simulator when the server has one
// (PUT /cityroom/v1/admin/simulator) or through this script's own writer otherwise.
//
// Every --every seconds (default 15) it switches the view with a command (as a briefing would)
// and samples: the JS heap after a forced GC, how long the page takes to answer, the page's
// event-loop lag since the last sample (a 250 ms timer's lateness: p95 and max) and its long
// tasks. Single samples are noisy (a GC that did not run, a build next door), so the verdict
// compares windows, after a warm-up (--warmup minutes, default 5, or a fifth of a short run):
//   - heap flat: the median heap of the last window ≤ the first window's median × 1.10 + 2 MB
//     (window: --window minutes, default 10, at most half of what follows the warm-up);
//   - no freeze: no answer and no event-loop lag over 5 s, and the last window's p95 answer
//     time at most twice the first window's + 250 ms (the page does not get slower);
//   - no page errors, and the live stream online at the end.
//   node web/tests/soak.mjs [--minutes 50] [--rate 50] [--every 15] [--warmup 5] [--window 10]
//                           [--url http://127.0.0.1:8080] [--bin PATH] [--out DIR]
//                           [--gl software|gpu]   (how the browser draws: tests/server.mjs)
import { chromium } from 'playwright-core';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_PASSWORD, arg, CHROMIUM, chromiumArgs, LINKS, ngsi, ROOT, seedLive, startServer } from './server.mjs';

const minutes = Number(arg('minutes', '50'));
const rate = Number(arg('rate', '50'));
const every = Number(arg('every', '15'));
const warmup = Number(arg('warmup', String(Math.min(5, minutes / 5))));
const windowMin = Math.min(Number(arg('window', '10')), (minutes - warmup) / 2);
const out = arg('out', join(ROOT, 'web/test-output'));
mkdirSync(out, { recursive: true });
const server = arg('url') ? { url: arg('url'), stop: async () => {} } : await startServer(arg('bin', join(ROOT, 'build/release/src/app/cityroom')));
await seedLive(server.url);

let writer = null;
const sim = await fetch(`${server.url}/cityroom/v1/admin/simulator`, { method: 'PUT', headers: { 'Content-Type': 'application/json', ...(await adminHeaders()) }, body: JSON.stringify({ running: true, scenario: arg('scenario', 'normal'), rate }) }).catch(() => null);
if (!sim || !sim.ok) {
  console.log(`soak: no simulator on the server (${sim?.status}); writing ${rate} updates/s from here`);
  const states = ['available', 'ordered', 'enRoute', 'onScene', 'transporting', 'atHospital', 'returning'];
  const roads = await (await fetch(`${server.url}/ngsi-ld/v1/entities?type=RoadSegment&limit=300&attrs=name&options=keyValues`, { headers: { Link: LINKS.transport } })).json();
  let tick = 0;
  writer = setInterval(async () => {
    tick++;
    const batch = [];
    for (let i = 0; i < rate / 5; i++) {
      const n = (tick * 13 + i) % 6;
      if (i % 3 === 0) batch.push({ id: `urn:ngsi-ld:Vehicle:119:gangnam-${n + 1}`, type: 'Vehicle', dispatchStatus: states[(tick + n) % states.length],
        location: { type: 'Point', coordinates: [127.03 + 0.03 * Math.sin(tick / 20 + n), 37.49 + 0.02 * Math.cos(tick / 25 + n)] } });
      else { const r = roads[(tick * 7 + i) % roads.length]; batch.push({ id: r.id, type: 'RoadSegment', averageSpeed: 10 + ((tick + i) % 50) }); }
    }
    const byId = new Map(batch.map((e) => [e.id, e]));
    try { await ngsi(server.url, 'POST', '/entityOperations/upsert?options=update', [...byId.values()], LINKS.transport); } catch (e) { console.log('soak: write failed', e.message); }
  }, 200);
} else {
  console.log(`soak: the server's simulator writes ${rate} updates/s`);
}

// The admin's session for the simulator switch (own server only; --url servers need no login
// or refuse, and the script then writes itself).
async function adminHeaders() {
  if (arg('url')) return {};
  const r = await fetch(`${server.url}/cityroom/v1/session`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) });
  if (r.status !== 200) return {};
  return { Cookie: (r.headers.get('set-cookie') ?? '').split(';')[0], 'X-CSRF-Token': (await r.json()).csrfToken };
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...chromiumArgs(arg('gl', undefined)), '--enable-precise-memory-info', '--js-flags=--expose-gc'] });
const context = await browser.newContext({ viewport: { width: 3840, height: 1560 }, bypassCSP: true });
// Logged in as the admin (own server only), so the page receives the staff-only ambulances too.
if (!arg('url')) await context.request.post(`${server.url}/cityroom/v1/session`, { data: { username: 'admin', password: ADMIN_PASSWORD } });
const page = await context.newPage();
const errors = [];
page.on('pageerror', (e) => errors.push(e.message));
await page.goto(server.url + '/');
await page.waitForFunction(() => window.__wall?.metrics.firstLiveMs > 0 && window.__wall.map, null, { timeout: 90000 });
await page.evaluate(() => {
  document.querySelectorAll('.legend button:not(.on)').forEach((b) => b.click());
  // Probes between samples: event-loop lag (lateness of a 250 ms timer) and long tasks.
  const probe = { lags: [], longest: 0, longTasks: 0 };
  let due = performance.now() + 250;
  setInterval(() => { const now = performance.now(); probe.lags.push(Math.max(0, now - due)); due = now + 250; }, 250);
  try {
    new PerformanceObserver((list) => { for (const e of list.getEntries()) { probe.longTasks++; probe.longest = Math.max(probe.longest, e.duration); } }).observe({ type: 'longtask' });
  } catch { /* no longtask timing */ }
  window.__soak = probe;
});

const samples = [];
const t0 = Date.now();
const views = ['실시간 강남', 'CCTV 보여줘', '미세먼지', '구급차', '제설 현황', '하천 수위', '역삼1동', '오늘 민원'];
for (let i = 0; Date.now() - t0 < minutes * 60_000; i++) {
  await new Promise((r) => setTimeout(r, every * 1000));
  const asked = Date.now();
  const s = await page.evaluate((cmd) => {
    window.__wall.runCommand(cmd);
    (window).gc?.();
    const p = window.__soak;
    const lags = p.lags.sort((a, b) => a - b);
    const r = {
      heap: performance.memory?.usedJSHeapSize ?? 0,
      lagP95: lags.length ? lags[Math.min(lags.length - 1, Math.floor(lags.length * 0.95))] : 0,
      lagMax: lags.length ? lags[lags.length - 1] : 0,
      longest: p.longest, longTasks: p.longTasks,
      messages: window.__wall.stream.messages, online: window.__wall.stream.online,
    };
    p.lags = []; p.longest = 0; p.longTasks = 0;
    return r;
  }, views[i % views.length]);
  s.answerMs = Date.now() - asked;
  s.minute = (Date.now() - t0) / 60_000;
  samples.push(s);
  console.log(`soak: ${s.minute.toFixed(1)} min heap ${(s.heap / 1e6).toFixed(1)} MB answer ${s.answerMs} ms lag p95 ${s.lagP95.toFixed(0)} max ${s.lagMax.toFixed(0)} ms longest task ${s.longest.toFixed(0)} ms (${s.longTasks}) messages ${s.messages} online ${s.online}`);
}
clearInterval(writer);
await browser.close();
await server.stop();

const median = (xs) => { const a = [...xs].sort((x, y) => x - y); const n = a.length; return n ? (n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2) : NaN; };
const p95 = (xs) => { const a = [...xs].sort((x, y) => x - y); return a.length ? a[Math.min(a.length - 1, Math.floor(a.length * 0.95))] : NaN; };
const end = samples.length ? samples[samples.length - 1].minute : 0;
const first = samples.filter((s) => s.minute >= warmup && s.minute < warmup + windowMin);
const last = samples.filter((s) => s.minute > end - windowMin);
const mb = (x) => (x / 1e6).toFixed(1);
const verdict = { minutes, rate, every, warmup, windowMin, samples: samples.length, errors };
if (first.length < 3 || last.length < 3) {
  verdict.ok = false;
  verdict.reason = `too few samples per window (${first.length}, ${last.length}): run longer or sample more often`;
} else {
  const h0 = median(first.map((s) => s.heap)), h1 = median(last.map((s) => s.heap));
  const a0 = p95(first.map((s) => s.answerMs)), a1 = p95(last.map((s) => s.answerMs));
  const l0 = p95(first.map((s) => s.lagP95)), l1 = p95(last.map((s) => s.lagP95));
  const worstAnswer = Math.max(...samples.map((s) => s.answerMs));
  const worstLag = Math.max(...samples.map((s) => s.lagMax));
  verdict.heap = { firstMedianMB: +mb(h0), lastMedianMB: +mb(h1), growth: +(h1 / h0 - 1).toFixed(3), flat: h1 <= h0 * 1.1 + 2e6 };
  verdict.responsiveness = { answerP95FirstMs: a0, answerP95LastMs: a1, lagP95FirstMs: Math.round(l0), lagP95LastMs: Math.round(l1), worstAnswerMs: worstAnswer, worstLagMs: Math.round(worstLag),
    longestTaskMs: Math.round(Math.max(...samples.map((s) => s.longest))) };
  verdict.noFreeze = worstAnswer <= 5000 && worstLag <= 5000 && a1 <= 2 * a0 + 250;
  verdict.online = samples[samples.length - 1].online;
  verdict.ok = verdict.heap.flat && verdict.noFreeze && verdict.online && errors.length === 0;
  console.log(`soak: windows: first ${warmup}–${(warmup + windowMin).toFixed(1)} min (${first.length} samples), last ${(end - windowMin).toFixed(1)}–${end.toFixed(1)} min (${last.length} samples)`);
  console.log(`soak: heap median ${mb(h0)} → ${mb(h1)} MB (${((h1 / h0 - 1) * 100).toFixed(1)} %): ${verdict.heap.flat ? 'FLAT' : 'GROWING'}`);
  console.log(`soak: answer p95 ${a0} → ${a1} ms, event-loop lag p95 ${l0.toFixed(0)} → ${l1.toFixed(0)} ms, worst answer ${worstAnswer} ms, worst lag ${worstLag.toFixed(0)} ms: ${verdict.noFreeze ? 'NO FREEZE' : 'FROZE OR SLOWED'}`);
  console.log(`soak: page errors ${errors.length}, stream online at the end: ${verdict.online}`);
}
writeFileSync(join(out, 'soak.json'), JSON.stringify({ verdict, samples }, null, 1));
console.log(`soak: verdict: ${verdict.ok ? 'PASS' : 'FAIL'}${verdict.reason ? ` (${verdict.reason})` : ''}`);
console.log(`${verdict.ok ? 1 : 0} passed, ${verdict.ok ? 0 : 1} failed`);
process.exit(verdict.ok ? 0 : 1);
