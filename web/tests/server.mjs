// Test helper: a real cityroom server on a temporary data dir with the Gangnam demo imported,
// and Debian's Chromium driven by playwright-core (never a downloaded browser). Access control
// is on, as in production: the first start creates `admin` with ADMIN_PASSWORD, and every write
// the tests make goes through that admin's session (cookie + CSRF token).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(new URL('../..', import.meta.url).pathname);
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// How the browser draws. `software` (the tests' default): no GPU process work for the page, the
// compositor in software, so every WebGL frame is read back on the page's main thread.
// `gpu`: GPU compositing and WebGL on SwiftShader, as on a machine with a graphics card, where a
// WebGL frame goes to the compositor as a texture; the frames are still drawn by the CPU here.
// Chosen by CITYROOM_BROWSER_GL or the measuring scripts' --gl.
const GL_ARGS = {
  software: ['--disable-gpu'],
  gpu: ['--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist'],
};
export function chromiumArgs(gl = process.env.CITYROOM_BROWSER_GL || 'software') {
  if (!GL_ARGS[gl]) throw new Error(`unknown browser GL mode ${gl}: one of ${Object.keys(GL_ARGS).join(', ')}`);
  return ['--headless', '--no-sandbox', ...GL_ARGS[gl], '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'];
}
export const CHROMIUM_ARGS = chromiumArgs();

export const ADMIN_PASSWORD = 'e2e-admin-' + Math.random().toString(36).slice(2, 10);
// Set by startServer once it has logged in: what a write needs (cookie and CSRF token).
export const auth = { headers: {} };

export function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

// `serve --city` imports the city's mappings before it listens (about 4 s for Gangnam here),
// answers /cityroom/v1/city and loads the city's alarm rules.
export async function startServer(bin, { demo = 'gangnam', extra = [], webDir = join(ROOT, 'web/dist') } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'cityroom-web-'));
  const proc = spawn(bin, ['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--web-dir', webDir, '--threads', '2',
    '--city', join(ROOT, 'data/cities', `${demo}.json`), ...extra],
  { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CITYROOM_ADMIN_PASSWORD: ADMIN_PASSWORD } });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const url = await new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`server did not start: ${stderr}`)), 60000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[^\s]+)/);
      if (m) { clearTimeout(timer); ok(m[1]); }
    });
    proc.on('exit', (code) => fail(new Error(`server exited ${code}: ${stderr}`)));
  });
  const login = await fetch(`${url}/cityroom/v1/session`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) });
  if (login.status !== 200) throw new Error(`admin login: ${login.status} ${await login.text()}`);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0];
  auth.headers = { Cookie: cookie, 'X-CSRF-Token': (await login.json()).csrfToken };
  return {
    url,
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function requireBuilt() {
  if (!existsSync(join(ROOT, 'web/dist/index.html'))) return 'web/dist is not built (bash scripts/web.sh)';
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
  return null;
}

export const LINKS = {
  alert: '<https://smart-data-models.github.io/dataModel.Alert/context.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"',
  transport: '<https://smart-data-models.github.io/dataModel.Transportation/context.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"',
};

export async function ngsi(base, method, path, body, link) {
  const headers = { 'Content-Type': 'application/json', ...auth.headers };
  if (link) headers.Link = link;
  const r = await fetch(`${base}/ngsi-ld/v1${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r;
}

// A cityroom route as the admin (path under /cityroom/v1); body: an object (JSON) or a string
// with its content type.
export async function cityroom(base, method, path, body, contentType = 'application/json') {
  const headers = { ...auth.headers };
  if (body !== undefined) headers['Content-Type'] = contentType;
  const r = await fetch(`${base}/cityroom/v1${path}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const ctx = (d) => `<https://smart-data-models.github.io/dataModel.${d}/context.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`;

// A little live city on top of the imported one (what the simulator will write): air and
// weather per dong, ambulances in several states, a disaster message, case counts.
export async function seedLive(base) {
  const r = await fetch(`${base}/ngsi-ld/v1/entities?type=AdministrativeArea&q=adminLevel=="dong"&options=keyValues&limit=100&attrs=location`);
  const dongs = await r.json();
  const now = new Date().toISOString();
  const centre = (e) => {
    let c = e.location.coordinates;
    while (Array.isArray(c[0][0])) c = c[0];
    const xs = c.map((p) => p[0]), ys = c.map((p) => p[1]);
    return [xs.reduce((a, b) => a + b) / xs.length, ys.reduce((a, b) => a + b) / ys.length];
  };
  const code = (id) => id.split(':').pop();
  const air = dongs.map((d, i) => ({
    id: `urn:ngsi-ld:AirQualityObserved:${code(d.id)}`, type: 'AirQualityObserved',
    pm10: { value: 25 + ((i * 37) % 70), observedAt: now }, pm25: { value: 12 + ((i * 17) % 30), observedAt: now },
    pm10Grade: (25 + ((i * 37) % 70)) > 80 ? 3 : (25 + ((i * 37) % 70)) > 30 ? 2 : 1,
    refArea: { type: 'Relationship', object: d.id }, location: { type: 'Point', coordinates: centre(d) },
  }));
  await ngsi(base, 'POST', '/entityOperations/upsert', air, ctx('Environment'));
  await ngsi(base, 'POST', '/entityOperations/upsert', [{
    id: 'urn:ngsi-ld:WeatherObserved:1168000000', type: 'WeatherObserved',
    temperature: { value: 3.5, observedAt: now }, relativeHumidity: { value: 0.62, observedAt: now },
    precipitation: { value: 0, observedAt: now }, windSpeed: { value: 2.4, observedAt: now },
    location: { type: 'Point', coordinates: [127.047, 37.517] },
  }], ctx('Weather'));
  const states = ['available', 'enRoute', 'onScene', 'transporting', 'returning', 'available'];
  await ngsi(base, 'POST', '/entityOperations/upsert', states.map((s, i) => ({
    id: `urn:ngsi-ld:Vehicle:119:gangnam-${i + 1}`, type: 'Vehicle', vehicleType: 'ambulance', name: `강남${i + 1}`,
    dispatchStatus: s, location: { type: 'Point', coordinates: [127.02 + i * 0.012, 37.475 + (i % 3) * 0.015] },
  })), ctx('Transportation'));
  await ngsi(base, 'POST', '/entityOperations/upsert', [{
    id: 'urn:ngsi-ld:DisasterMessage:test:1', type: 'DisasterMessage', category: '기상',
    message: '[강남구청] 오늘 18시 대설주의보 발효. 대중교통을 이용하시고 보행 시 미끄럼에 주의하세요.',
    issuedAt: now, areaName: '서울특별시 강남구',
  }]);
  await ngsi(base, 'POST', '/entityOperations/upsert?options=update', dongs.map((d, i) => ({
    id: d.id, type: 'AdministrativeArea', caseCount: (i * 7) % 23,
  })));
  return dongs.length;
}
