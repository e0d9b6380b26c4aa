/**
 * How the local provider starts a replica for each runtime: the command, its
 * arguments and the runtime's own environment. Only runtimes listed here can be
 * deployed on the local provider.
 */
import { fileURLToPath } from 'node:url';
import type { FunctionSpec, Runtime } from '../../core/index.js';
import { execLauncher, goLauncher, httpLauncher } from './command-launchers.js';
import { pythonLauncher } from './python-launcher.js';

export interface LaunchCommand {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/** What a built function runs from: its folder and, when the build chose it, the entry file. */
export interface Artifact {
  dir: string;
  handler?: string;
}

/** Builds the command for one replica. `graceMs` is how long the replica has to drain on SIGTERM. */
export type Launcher = (spec: FunctionSpec, artifact: Artifact, graceMs: number) => LaunchCommand;

/** `dist/runtimes/node/server.js`, relative to this compiled file (`dist/src/providers/local/`). */
export const NODE_RUNTIME_ENTRY = fileURLToPath(new URL('../../../runtimes/node/server.js', import.meta.url));

/**
 * The Node runtime's command, the same for every function (so the warm pool can start
 * it ahead). detect-module lets a handler.js use `export default` without a
 * package.json; the code store's trees carry a typeless package.json (see
 * code-store.ts), so ESM handlers are detected, not declared: that notice is silenced.
 */
export const NODE_COMMAND = {
  command: process.execPath,
  args: ['--experimental-detect-module', '--disable-warning=ExperimentalWarning', '--disable-warning=MODULE_TYPELESS_PACKAGE_JSON', NODE_RUNTIME_ENTRY] as readonly string[],
};

const nodeLauncher: Launcher = (spec, artifact, graceMs) => ({
  command: NODE_COMMAND.command,
  args: [...NODE_COMMAND.args],
  env: {
    KSS_CODE_DIR: artifact.dir,
    ...((artifact.handler ?? spec.handler) ? { KSS_HANDLER: (artifact.handler ?? spec.handler)! } : {}),
    NODE_ENV: 'production',
    // The runtime's own deadline comes first, so it exits cleanly before the supervisor's SIGKILL.
    KSS_GRACE_MS: String(Math.max(100, graceMs - 500)),
  },
});

/** The runtimes this build of the local provider can start. */
export const DEFAULT_LAUNCHERS: Partial<Record<Runtime, Launcher>> = {
  node: nodeLauncher,
  python: pythonLauncher,
  go: goLauncher,
  exec: execLauncher,
  http: httpLauncher,
};
