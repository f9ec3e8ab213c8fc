// The three layouts as a logged-in admin sees them with the simulator running (not in CI):
// node web/tests/shots.mjs [--scenario heavy-snow] [--out DIR] [--wait 20]
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_PASSWORD, arg, CHROMIUM, CHROMIUM_ARGS, cityroom, ROOT, seedLive, startServer } from './server.mjs';

const out = arg('out', join(ROOT, 'web/test-output'));
mkdirSync(out, { recursive: true });
const server = await startServer(arg('bin', join(ROOT, 'build/release/src/app/cityroom')), { extra: ['--demo', '--scenario', arg('scenario', 'heavy-snow')] });
const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
try {
  await seedLive(server.url);
  await cityroom(server.url, 'POST', '/pledges/import?city=boryeong&by=shots', readFileSync(join(ROOT, 'data/governance/pledges_boryeong_2021-12-31.csv'), 'utf8'), 'text/csv');
  await new Promise((r) => setTimeout(r, Number(arg('wait', '20')) * 1000));
  for (const [name, viewport, mobile] of [['wall', { width: 3840, height: 1560 }, false], ['tablet', { width: 1280, height: 800 }, false], ['phone', { width: 390, height: 844 }, true]]) {
    const context = await browser.newContext({ viewport, hasTouch: true, isMobile: mobile, locale: 'ko-KR', timezoneId: 'Asia/Seoul', bypassCSP: true });
    await context.request.post(`${server.url}/cityroom/v1/session`, { data: { username: 'admin', password: ADMIN_PASSWORD } });
    const page = await context.newPage();
    await page.goto(server.url + '/');
    await page.waitForFunction(() => window.__wall?.metrics.firstLiveMs > 0 && window.__wall.metrics.mapIdleMs > 0, null, { timeout: 60000 });
    await page.waitForFunction(() => !window.__wall.map.isMoving() && window.__wall.map.loaded(), null, { timeout: 15000 }).catch(() => {});
    await page.waitForTimeout(1500);
    await page.screenshot({ path: join(out, `shot-${name}.png`) });
    await context.close();
  }
} finally {
  await browser.close();
  await server.stop();
}
