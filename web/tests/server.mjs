// Test helper: a real cityroom server on a temporary data dir with the Gangnam demo imported,
// and Debian's Chromium driven by playwright-core (never a downloaded browser).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(new URL('../..', import.meta.url).pathname);
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

export async function startServer(bin, { demo = 'gangnam' } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'cityroom-web-'));
  const mappings = readdirSync(join(ROOT, 'data/mappings', demo)).filter((f) => f.endsWith('.json')).sort();
  execFileSync(bin, ['import', '--data-dir', dataDir, ...mappings.flatMap((m) => ['--mapping', join(ROOT, 'data/mappings', demo, m)])], { stdio: ['ignore', 'ignore', 'pipe'] });
  const proc = spawn(bin, ['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--web-dir', join(ROOT, 'web/dist'), '--threads', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const url = await new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`server did not start: ${stderr}`)), 20000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[^\s]+)/);
      if (m) { clearTimeout(timer); ok(m[1]); }
    });
    proc.on('exit', (code) => fail(new Error(`server exited ${code}: ${stderr}`)));
  });
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
  const headers = { 'Content-Type': 'application/json' };
  if (link) headers.Link = link;
  const r = await fetch(`${base}/ngsi-ld/v1${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r;
}
