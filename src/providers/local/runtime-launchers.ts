/**
 * How the local provider starts a replica for each runtime: the command, its
 * arguments and the runtime's own environment. Only runtimes listed here can be
 * deployed on the local provider.
 */
import { fileURLToPath } from 'node:url';
import type { FunctionSpec, Runtime } from '../../core/index.js';

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

const nodeLauncher: Launcher = (spec, artifact, graceMs) => ({
  command: process.execPath,
  // detect-module lets a handler.js use `export default` without a package.json.
  // The code store's trees carry a typeless package.json (see code-store.ts), so ESM handlers are detected, not declared: silence that notice.
  args: ['--experimental-detect-module', '--disable-warning=ExperimentalWarning', '--disable-warning=MODULE_TYPELESS_PACKAGE_JSON', NODE_RUNTIME_ENTRY],
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
};
