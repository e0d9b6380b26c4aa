/**
 * Launcher of the Python runtime (`runtimes/python/server.py`, standard library
 * only). Registered in `DEFAULT_LAUNCHERS` (runtime-launchers.ts).
 */
import { fileURLToPath } from 'node:url';
import { pythonInterpreter } from '../../build/python-interpreter.js';
import type { Launcher } from './runtime-launchers.js';

/**
 * `runtimes/python/server.py` at the repository root, relative to this compiled file
 * (`dist/src/providers/local/`): the .py files are not compiled, they stay in place.
 */
export const PYTHON_RUNTIME_ENTRY = fileURLToPath(new URL('../../../../runtimes/python/server.py', import.meta.url));
/** The warm pool's generic exec shim (see warm-pool.ts), beside the Python runtime. */
export const EXEC_SHIM_ENTRY = fileURLToPath(new URL('../../../../runtimes/python/kss_exec_shim.py', import.meta.url));

/**
 * `python3 -S server.py`. `-S` skips `site`'s start-up work (on this kind of machine,
 * `.pth` files that import modules cost tens of milliseconds); the runtime then adds
 * the site-packages folders itself (`KSS_PYTHON_SITE`, see server.py).
 */
/** The Python runtime's command, the same for every function (the warm pool starts it ahead). */
export function pythonCommand(): { command: string; args: readonly string[]; env: Readonly<Record<string, string>> } {
  return { command: pythonInterpreter(), args: ['-S', PYTHON_RUNTIME_ENTRY], env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' } };
}

export const pythonLauncher: Launcher = (spec, artifact, graceMs) => ({
  command: pythonCommand().command,
  args: [...pythonCommand().args],
  env: {
    KSS_CODE_DIR: artifact.dir,
    ...((artifact.handler ?? spec.handler) ? { KSS_HANDLER: (artifact.handler ?? spec.handler)! } : {}),
    // The runtime's own drain deadline comes first, so it exits cleanly before the supervisor's SIGKILL.
    KSS_GRACE_MS: String(Math.max(100, graceMs - 500)),
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1',
  },
});
