// `npm test`: set up what is missing, then run every test (unit tests beside the
// code, integration tests in test/) with node's own test runner.
// `npm test -- test/gateway` runs only compiled test files whose path contains that text.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { ensureAll, ensureBrowser, ROOT } from './setup.mjs';

ensureAll();
ensureBrowser();

function findTests(dir, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) findTests(path, out);
    else if (entry.name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const files = findTests(join(ROOT, 'dist'))
  .filter((f) => filters.length === 0 || filters.some((x) => relative(join(ROOT, 'dist'), f).includes(x.replace(/\.ts$/, ''))))
  .sort();
if (files.length === 0) {
  process.stderr.write('no test files matched\n');
  process.exit(1);
}
process.stderr.write(`[test] ${files.length} test files\n`);
const r = spawnSync(
  process.execPath,
  // --test-force-exit: a file whose tests have all finished ends even if a stray handle would keep
  // it alive. Seen in CI about once in four runs (a file passing every test, then not exiting within
  // the 120 s file timeout: security, secrets, dashboard-api — never reproduced alone); the cause is
  // tracked in the closing notes. Every test must still pass; only the wait for a clean exit is cut.
  ['--test', '--test-force-exit', `--test-concurrency=${Math.max(2, availableParallelism())}`, '--test-timeout=120000', ...files],
  { cwd: ROOT, stdio: 'inherit', env: { ...process.env, KSS_LOG_LEVEL: process.env.KSS_LOG_LEVEL ?? 'silent' } },
);
process.exit(r.status ?? 1);
