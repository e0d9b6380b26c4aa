// `npm run bench`: set up what is missing, then run every benchmark in bench/ (one
// table each). `npm run bench -- invoke` runs only those whose name contains "invoke".
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureAll, ensureBenchTools, ROOT } from './setup.mjs';

ensureAll();
ensureBenchTools();
const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const dir = join(ROOT, 'dist', 'bench');
const benches = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.js') && (filters.length === 0 || filters.some((x) => f.includes(x))))
  .sort();
let failed = 0;
for (const file of benches) {
  const r = spawnSync(process.execPath, [join(dir, file)], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
