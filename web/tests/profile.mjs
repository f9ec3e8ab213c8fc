// First paint and long tasks of the wall, measured the way docs/PERFORMANCE.md reports them
// (not in CI): a server with the Gangnam demo and the simulator writing (--scenario, --rate),
// then --runs fresh page loads per layout, each logged in as the admin. Prints the page's own
// metrics per load (first live data painted, map sources filled, map idle, longest task with
// every layer on) and, with --profile, the functions that took the most main-thread time
// during one phase (load, switching every layer on, steady) of the first load (CDP Profiler, self time).
//   node web/tests/profile.mjs [--web-dir DIST] [--runs 3] [--layouts wall,tablet] [--rate 50] [--scenario heavy-snow] [--profile load|switch|steady]
//                           [--steady 20] [--gl software|gpu]
import { chromium } from 'playwright-core';
import { join } from 'node:path';
import { ADMIN_PASSWORD, arg, CHROMIUM, chromiumArgs, ROOT, seedLive, startServer } from './server.mjs';

const runs = Number(arg('runs', '3'));
const layouts = arg('layouts', 'wall,tablet').split(',');
const VIEWPORTS = { wall: { width: 3840, height: 1560 }, tablet: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } };
const profile = arg('profile', '');  // '', 'load', 'switch' or 'steady'
const steady = Number(arg('steady', '20'));

const server = await startServer(arg('bin', join(ROOT, 'build/release/src/app/cityroom')),
  { webDir: arg('web-dir', join(ROOT, 'web/dist')), extra: ['--demo', '--scenario', arg('scenario', 'heavy-snow'), '--sim-rate', arg('rate', '50')] });
const browser = await chromium.launch({ executablePath: CHROMIUM, args: chromiumArgs(arg('gl', undefined)) });
try {
  await seedLive(server.url);
  await new Promise((r) => setTimeout(r, 8000));  // let the simulator move the city
  for (const layout of layouts) {
    for (let i = 0; i < runs; i++) {
      const context = await browser.newContext({ viewport: VIEWPORTS[layout], hasTouch: true, locale: 'ko-KR', timezoneId: 'Asia/Seoul', bypassCSP: true });
      await context.request.post(`${server.url}/cityroom/v1/session`, { data: { username: 'admin', password: ADMIN_PASSWORD } });
      const page = await context.newPage();
      const cdp = profile && i === 0 ? await context.newCDPSession(page) : null;
      if (cdp) {
        await cdp.send('Profiler.enable');
        await cdp.send('Profiler.setSamplingInterval', { interval: 1000 });
      }
      if (cdp && profile === 'load') await cdp.send('Profiler.start');
      await page.goto(server.url + '/');
      await page.waitForFunction(() => window.__wall?.metrics.firstLiveMs > 0, null, { timeout: 90000 });
      // (an older build has no mapLiveMs: its firstLiveMs waited for the map's dongs and roads)
      await page.waitForFunction(() => !('mapLiveMs' in window.__wall.metrics) || window.__wall.metrics.mapLiveMs > 0, null, { timeout: 90000 }).catch(() => {});
      await page.waitForFunction(() => window.__wall.metrics.mapIdleMs > 0, null, { timeout: 30000 }).catch(() => {});
      const load = await page.evaluate(() => ({ ...window.__wall.metrics, tasks: window.__wall.longTaskLog?.slice(0, 40) }));
      const loadProfile = cdp && profile === 'load' ? (await cdp.send('Profiler.stop')).profile : null;
      // every layer on (the cameras' and bike stations' snapshots come then: the "switch" phase),
      // then --steady seconds of live deltas with everything shown (the "steady" phase)
      if (cdp && profile === 'switch') await cdp.send('Profiler.start');
      const switchedAt = await page.evaluate(() => {
        document.querySelectorAll('.legend button:not(.on)').forEach((b) => b.click());
        return performance.now();
      });
      // the switch is over when the cameras' and bike stations' snapshots are all in (the last
      // part arrived) and the map has drawn them, plus 3 s
      await page.waitForFunction(() => ['cctv', 'bikes'].every((q) => window.__wall.stream.current(q)) && window.__wall.map.loaded(),
        null, { timeout: 60000, polling: 250 }).catch(() => console.log('  (the layers did not settle within 60 s)'));
      await page.waitForTimeout(3000);
      const switchProfile = cdp && profile === 'switch' ? (await cdp.send('Profiler.stop')).profile : null;
      if (cdp && profile === 'steady') await cdp.send('Profiler.start');
      const steadyFrom = await page.evaluate(() => performance.now());
      await page.waitForTimeout(steady * 1000);
      const p = loadProfile ?? switchProfile ?? (cdp ? (await cdp.send('Profiler.stop')).profile : null);
      const all = await page.evaluate(() => ({ ...window.__wall.metrics, slowestMessageMs: window.__wall.stream.slowestMessageMs, tasks: window.__wall.longTaskLog }));
      const phase = (from, to) => {
        const t = all.tasks.filter(([start]) => start >= from && start < to).map(([, d]) => d);
        return { longestMs: Math.round(Math.max(0, ...t)), count: t.length, sumMs: Math.round(t.reduce((a, b) => a + b, 0)) };
      };
      console.log(JSON.stringify({ layout, run: i + 1, firstLiveMs: Math.round(load.firstLiveMs), mapLiveMs: Math.round(load.mapLiveMs ?? -1), mapIdleMs: Math.round(load.mapIdleMs),
        load: phase(0, switchedAt), switch: phase(switchedAt, steadyFrom), steady: { ...phase(steadyFrom, Infinity), seconds: steady },
        slowestRenderMs: Math.round(all.slowestRenderMs), slowestMessageMs: Math.round(all.slowestMessageMs) }));
      if (load.tasks) console.log('  long tasks at load (start ms, duration ms):', load.tasks.map((t) => `${Math.round(t[0])}+${Math.round(t[1])}`).join(' '));
      if (p) {
        const byId = new Map(p.nodes.map((n) => [n.id, n]));
        const self = new Map();
        const dt = p.timeDeltas;
        p.samples.forEach((id, k) => {
          const n = byId.get(id);
          const f = n.callFrame;
          const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber}`;
          self.set(key, (self.get(key) ?? 0) + (dt[k] ?? 0) / 1000);
        });
        const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 25);
        console.log(`  main-thread self time (ms) during ${profile}:`);
        for (const [k, ms] of top) console.log(`    ${ms.toFixed(0).padStart(6)}  ${k}`);
      }
      await context.close();
    }
  }
} finally {
  await browser.close();
  await server.stop();
}
