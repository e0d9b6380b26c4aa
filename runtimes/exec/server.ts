/**
 * Entry point of the exec runtime (OpenFaaS classic watchdog mode; see
 * `watchdog.ts`). Started as `node dist/runtimes/exec/server.js` with:
 *
 * - `PORT` (required), `HOST` (default `0.0.0.0`);
 * - `fprocess` (as OpenFaaS; `KSS_FPROCESS` as a fallback): the command run with
 *   `sh -c` for every request, in the working directory;
 * - `exec_timeout` (default 10s), `content_type`, `max_inflight`;
 * - `KSS_FUNCTION_NAME`, `KSS_GRACE_MS` (default 10000);
 * - `KSS_PARENT_PIPE=1`: exit when stdin closes (the local provider's orphan guard).
 *
 * Exits 2 on a bad environment, 1 when the port cannot be bound, 0 after draining
 * on SIGTERM/SIGINT. Node built-ins only.
 */
import { createLogger } from '../node/log.js';
import { EXIT_CODES, readExecConfig, startExecRuntime, type ExecConfig } from './watchdog.js';
import { notifyReady, stopOnSignals } from '../node/lifecycle.js';
import { dropToFunctionFromEnv } from '../node/identity.js';

async function main(): Promise<void> {
  dropToFunctionFromEnv(EXIT_CODES.FAILURE);
  let config: ExecConfig;
  try {
    config = readExecConfig(process.env);
  } catch (err) {
    process.stderr.write(`[kss-runtime] error: invalid environment: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(EXIT_CODES.BAD_CONFIG);
  }
  const log = createLogger(config.functionName);
  // The commands get the runtime's environment minus the runtime's own plumbing.
  const env = { ...process.env };
  delete env.KSS_PARENT_PIPE;
  delete env.KSS_READY_FD;

  let runtime;
  try {
    runtime = await startExecRuntime(config, { log, env });
  } catch (err) {
    log.error(`cannot listen on ${config.host}:${config.port}`, err);
    process.exit(EXIT_CODES.FAILURE);
  }
  stopOnSignals(runtime, log, EXIT_CODES.FAILURE);
  notifyReady();
  log.info(`ready on http://${config.host}:${runtime.port} running \`${config.fprocess}\` per request in ${Math.round(performance.now())} ms`);
}

void main();
