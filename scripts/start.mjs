// `npm start`: set up what is missing, then run the platform (gateway + local
// provider on :8080) in this process. Extra arguments go to `kss up`, e.g.
// `npm start -- --port 9090`.
import { ensureAll, ROOT } from './setup.mjs';

ensureAll();
const { main } = await import(new URL('../dist/src/cli/main.js', import.meta.url).href);
process.chdir(process.env.INIT_CWD ?? ROOT);
process.exitCode = await main([process.argv[0], 'kss', 'up', ...process.argv.slice(2)]);
