// `npm run soak`: set up what is missing, then run the soak-and-chaos suite (issue #14,
// docs/reliability.md) from dist/. `npm run soak -- --quick` is the one-minute variant CI
// runs; `--duration <seconds>` changes the full run's 10 minutes.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ensureAll, ROOT } from './setup.mjs';

ensureAll();
const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'bench', 'soak', 'soak.js'), ...process.argv.slice(2)], { cwd: ROOT, stdio: 'inherit' });
process.exit(r.status ?? 1);
