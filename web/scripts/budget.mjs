// Fails the build when the gzip size of the JavaScript the wall loads exceeds the budget
// (docs/WEB.md, docs/PERFORMANCE.md "The wall"). Fonts are not counted: the browser fetches
// only the Korean subsets a page uses.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const BUDGET_GZIP_BYTES = 520 * 1024;
const dir = new URL('../dist/assets/', import.meta.url).pathname;
let total = 0;
const files = [];
for (const name of readdirSync(dir)) {
  if (!name.endsWith('.js')) continue;
  const bytes = readFileSync(join(dir, name));
  const gz = gzipSync(bytes, { level: 9 }).length;
  total += gz;
  files.push({ name, bytes: bytes.length, gzip: gz });
}
files.sort((a, b) => b.gzip - a.gzip);
for (const f of files) {
  console.log(`budget: ${f.name.padEnd(40)} ${(f.bytes / 1024).toFixed(0).padStart(6)} KiB  gzip ${(f.gzip / 1024).toFixed(0).padStart(5)} KiB`);
}
console.log(`budget: JS total gzip ${(total / 1024).toFixed(1)} KiB of ${(BUDGET_GZIP_BYTES / 1024).toFixed(0)} KiB`);
writeFileSync(new URL('../dist/.bundle-size.json', import.meta.url), JSON.stringify({ total, budget: BUDGET_GZIP_BYTES, files }, null, 1));
if (total > BUDGET_GZIP_BYTES) {
  console.error('budget: the JavaScript bundle is over its gzip budget');
  process.exit(1);
}
