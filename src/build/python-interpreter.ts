/**
 * Which Python interpreter builds and runs Python functions: `KSS_PYTHON` when set,
 * else `python3` from PATH, resolved once to the real executable (`sys.executable`).
 *
 * Resolving matters for cold starts: a `python3` on PATH is often a version
 * manager's shim (pyenv's is a bash script that runs `pyenv exec`), which costs
 * ≈100 ms on every replica start. The builder resolves asynchronously before the
 * first deploy; the launcher (synchronous) reuses the result, and only resolves
 * itself, blocking once, when replicas start before any build (a gateway restart).
 * pip and the replicas use the same executable, so installed wheels match it.
 */
import { execFile, spawnSync } from 'node:child_process';
import { isAbsolute } from 'node:path';

const PROBE_ARGS = ['-S', '-c', 'import sys; sys.stdout.write(sys.executable or "")'];
const PROBE_TIMEOUT_MS = 15_000;

let resolved: string | undefined;

function fromEnv(): string | undefined {
  const configured = process.env.KSS_PYTHON?.trim();
  return configured ? configured : undefined;
}

function accept(stdout: string): string | undefined {
  const path = stdout.trim();
  return path && isAbsolute(path) ? path : undefined;
}

/** The interpreter, resolving it synchronously the first time (falls back to `python3`, not cached, when the probe fails). */
export function pythonInterpreter(): string {
  const configured = fromEnv();
  if (configured) return configured;
  if (resolved) return resolved;
  const probe = spawnSync('python3', PROBE_ARGS, { encoding: 'utf8', timeout: PROBE_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'ignore'] });
  const path = probe.status === 0 ? accept(probe.stdout) : undefined;
  if (path) resolved = path;
  return path ?? 'python3';
}

/** Same as {@link pythonInterpreter} without blocking the event loop. */
export function resolvePythonInterpreter(): Promise<string> {
  const configured = fromEnv();
  if (configured) return Promise.resolve(configured);
  if (resolved) return Promise.resolve(resolved);
  return new Promise((done) => {
    execFile('python3', PROBE_ARGS, { encoding: 'utf8', timeout: PROBE_TIMEOUT_MS }, (err, stdout) => {
      const path = err ? undefined : accept(stdout);
      if (path) resolved = path;
      done(path ?? 'python3');
    });
  });
}
