/**
 * Launchers of the runtimes whose replica is not the Node runtime: Go (the compiled
 * binary), exec (the classic-watchdog server running `envProcess` per request) and
 * http (the user's own server started by `envProcess`). Registered in
 * `DEFAULT_LAUNCHERS` (runtime-launchers.ts).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Launcher } from './runtime-launchers.js';

/** `dist/runtimes/exec/server.js`, relative to this compiled file (`dist/src/providers/local/`). */
export const EXEC_RUNTIME_ENTRY = fileURLToPath(new URL('../../../runtimes/exec/server.js', import.meta.url));
/** The binary the Go builder writes into the artifact (`GO_BINARY` in src/build/go-builder.ts). */
const GO_BINARY = 'kss-function';

/** The runtime's own drain deadline comes first, so it exits cleanly before the supervisor's SIGKILL. */
const graceEnv = (graceMs: number) => ({ KSS_GRACE_MS: String(Math.max(100, graceMs - 500)) });

/** Go: the statically linked `kss-function` the build produced (handler and runtime in one binary). */
export const goLauncher: Launcher = (_spec, artifact, graceMs) => ({
  command: join(artifact.dir, GO_BINARY),
  args: [],
  env: graceEnv(graceMs),
});

/**
 * exec: the classic-watchdog server; `envProcess` becomes its `fprocess`. Unless the
 * function sets `exec_timeout` itself, a command is killed at the function's timeout.
 */
export const execLauncher: Launcher = (spec, _artifact, graceMs) => ({
  command: process.execPath,
  args: [EXEC_RUNTIME_ENTRY],
  env: {
    fprocess: spec.envProcess ?? '',
    ...(spec.envVars?.exec_timeout ? {} : { exec_timeout: `${spec.timeout}s` }),
    ...graceEnv(graceMs),
  },
});

/**
 * http: the user's server, `sh -c <envProcess>` in the function's folder. It must
 * listen on `PORT` (and `HOST`), answer `GET /ready` with 200 once it can serve, and
 * drain on SIGTERM; `KSS_GRACE_MS` says how long it has. A simple command is run with
 * `exec` (see {@link execSimpleCommand}) so SIGTERM reaches the server itself; a compound
 * one should `exec` its last step. Whether it exits when stdin closes (`KSS_PARENT_PIPE`)
 * is up to it.
 */
export const httpLauncher: Launcher = (spec, _artifact, graceMs) => ({
  command: 'sh',
  args: ['-c', execSimpleCommand(spec.envProcess ?? '')],
  env: graceEnv(graceMs),
});

/**
 * `node server.mjs` → `exec node server.mjs` (`PORT=1 node x` → `PORT=1 exec node x`):
 * Debian's sh (dash) forks for the last command of `sh -c` rather than replacing
 * itself, so without `exec` a SIGTERM would stop the shell and orphan the server.
 * Anything with shell control syntax is returned as written.
 */
export function execSimpleCommand(command: string): string {
  const trimmed = command.trim();
  if (!trimmed || /[;&|()`<>\n]|\$\(|^(exec|if|for|while|until|case)\b|^[{!]/.test(trimmed)) return command;
  const m = /^((?:[A-Za-z_][A-Za-z0-9_]*=(?:'[^']*'|"[^"]*"|[^\s'"])*(?:\s+|$))*)([\s\S]*)$/.exec(trimmed)!;
  return m[2] ? `${m[1]}exec ${m[2]}` : command;
}
