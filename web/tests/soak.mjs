// Soak (not in CI): the wall layout for --minutes (default 50) while the city changes at
// --rate updates per second (default 50), through the demo simulator when the server has one
// (PUT /cityroom/v1/admin/simulator) or through this script's own writer otherwise.
// Every 30 s it samples the JS heap (after a forced GC), the longest task, stream messages and
// how long the page takes to answer; at the end it fails when the page froze (an answer took
// over 5 s) or the heap grew more than 30 % from the 5-minute mark.
//   node web/tests/soak.mjs [--minutes 50] [--rate 50] [--url http://127.0.0.1:8080] [--bin PATH]
import { chromium } from 'playwright-core';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_PASSWORD, arg, CHROMIUM, CHROMIUM_ARGS, LINKS, ngsi, ROOT, seedLive, startServer } from './server.mjs';

const minutes = Number(arg('minutes', '50'));
const rate = Number(arg('rate', '50'));
const out = arg('out', join(ROOT, 'web/test-output'));
mkdirSync(out, { recursive: true });
const server = arg('url') ? { url: arg('url'), stop: async () => {} } : await startServer(arg('bin', join(ROOT, 'build/release/src/app/cityroom')));
await seedLive(server.url);

let writer = null;
const sim = await fetch(`${server.url}/cityroom/v1/admin/simulator`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ running: true, scenario: 'normal', rate }) }).catch(() => null);
if (!sim || !sim.ok) {
  console.log(`soak: no simulator on the server; writing ${rate} updates/s from here`);
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
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, '--enable-precise-memory-info', '--js-flags=--expose-gc'] });
const context = await browser.newContext({ viewport: { width: 3840, height: 1560 }, bypassCSP: true });
// Logged in as the admin (own server only), so the page receives the staff-only ambulances too.
if (!arg('url')) await context.request.post(`${server.url}/cityroom/v1/session`, { data: { username: 'admin', password: ADMIN_PASSWORD } });
const page = await context.newPage();
const errors = [];
page.on('pageerror', (e) => errors.push(e.message));
await page.goto(server.url + '/');
await page.waitForFunction(() => window.__wall?.metrics.firstLiveMs > 0, null, { timeout: 60000 });
await page.evaluate(() => document.querySelectorAll('.legend button:not(.on)').forEach((b) => b.click()));

const samples = [];
const t0 = Date.now();
const views = ['실시간 강남', 'CCTV 보여줘', '미세먼지', '구급차', '제설 현황', '역삼1동', '오늘 민원'];
for (let i = 0; Date.now() - t0 < minutes * 60_000; i++) {
  await new Promise((r) => setTimeout(r, 30_000));
  const asked = Date.now();
  const s = await page.evaluate((cmd) => {
    window.__wall.runCommand(cmd);
    (window).gc?.();
    const m = window.__wall.metrics;
    return { heap: performance.memory?.usedJSHeapSize ?? 0, longest: m.longestTaskMs, longTasks: m.longTasks, messages: window.__wall.stream.messages, online: window.__wall.stream.online };
  }, views[i % views.length]);
  s.answerMs = Date.now() - asked;
  s.minute = (Date.now() - t0) / 60_000;
  samples.push(s);
  console.log(`soak: ${s.minute.toFixed(1)} min heap ${(s.heap / 1e6).toFixed(1)} MB longest task ${s.longest.toFixed(0)} ms messages ${s.messages} answer ${s.answerMs} ms online ${s.online}`);
}
clearInterval(writer);
await browser.close();
await server.stop();

const base = samples.find((s) => s.minute >= 5) ?? samples[0];
const last = samples[samples.length - 1];
const growth = base && last ? (last.heap - base.heap) / base.heap : 0;
const froze = samples.some((s) => s.answerMs > 5000);
writeFileSync(join(out, 'soak.json'), JSON.stringify({ minutes, rate, samples, growth, froze, errors }, null, 1));
console.log(`soak: heap ${(base.heap / 1e6).toFixed(1)} → ${(last.heap / 1e6).toFixed(1)} MB (${(growth * 100).toFixed(1)} %), froze: ${froze}, page errors: ${errors.length}`);
const ok = !froze && growth < 0.3 && errors.length === 0;
console.log(`${ok ? 1 : 0} passed, ${ok ? 0 : 1} failed`);
process.exit(ok ? 0 : 1);
