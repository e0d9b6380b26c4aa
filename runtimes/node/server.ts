/**
 * Entry point of the Node runtime: the process that runs inside every replica
 * of a Node function. Started as
 *
 *   node --experimental-detect-module --disable-warning=ExperimentalWarning dist/runtimes/node/server.js
 *
 * Environment:
 * - `PORT` (required), `HOST` (default `0.0.0.0`);
 * - `KSS_CODE_DIR` (default the working directory) and `KSS_HANDLER` (entry
 *   file relative to it; default the first of handler.js, handler.mjs,
 *   handler.cjs, index.js, index.mjs, index.cjs);
 * - `KSS_FUNCTION_NAME` (log prefix), `KSS_GRACE_MS` (default 10000);
 * - `KSS_PARENT_PIPE=1`: exit when stdin closes (the local provider's orphan guard).
 *
 * Start-up order: validate the environment (exit 2), load the handler (exit 3
 * with the reason on stderr), then listen, so `/ready` is true as soon as the
 * port accepts connections. SIGTERM/SIGINT drain in-flight requests and exit 0.
 *
 * Only Node built-ins are imported, directly or through the sibling modules:
 * process start to ready is a cold start the user waits for.
 */
import { loadHandler, type LoadedHandler } from './handler-loader.js';
import { createLogger, describeError } from './log.js';
import { EXIT_CODES, readConfig, startRuntime, type RuntimeConfig } from './runtime.js';

async function main(): Promise<void> {
  let config: RuntimeConfig;
  try {
    config = readConfig(process.env);
  } catch (err) {
    process.stderr.write(`[kss-runtime] error: invalid environment: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(EXIT_CODES.BAD_CONFIG);
  }
  const log = createLogger(config.functionName);

  let handler: LoadedHandler;
  try {
    handler = await loadHandler(config.codeDir, config.handler);
  } catch (err) {
    log.error(`cannot load the handler: ${err instanceof Error ? err.message : describeError(err)}`);
    process.exit(EXIT_CODES.HANDLER_LOAD);
  }

  let runtime;
  try {
    runtime = await startRuntime(config, { handler, log });
  } catch (err) {
    log.error(`cannot listen on ${config.host}:${config.port}`, err);
    process.exit(EXIT_CODES.FAILURE);
  }

  process.on('SIGTERM', () => runtime.shutdown('SIGTERM'));
  process.on('SIGINT', () => runtime.shutdown('SIGINT'));
  // A rejection nobody awaited belongs to one request; keep serving the others.
  process.on('unhandledRejection', (reason) => log.error('unhandled promise rejection (ignored)', reason));
  // After an uncaught exception the process state is unknown: drain and exit 1 so it is restarted.
  process.on('uncaughtException', (err) => {
    log.error('uncaught exception', err);
    runtime.shutdown('uncaught exception', EXIT_CODES.FAILURE);
  });

  if (process.env.KSS_PARENT_PIPE === '1') {
    // The platform holds our stdin open for our whole life: end-of-file means it
    // died without stopping us, so no orphan replica outlives its gateway.
    process.stdin.on('end', () => runtime.shutdown('the platform went away'));
    process.stdin.on('error', () => runtime.shutdown('the platform went away'));
    process.stdin.resume();
  }

  if (handler.kind === 'web') {
    // Node loads undici (Request, Response, Headers) on first use, ≈25 ms. Do it
    // now, after listening, so it overlaps the gateway's readiness round trip
    // instead of delaying /ready or landing on the first request.
    setImmediate(() => void [Request, Response, Headers]);
  }

  const form = handler.kind === 'web' ? 'web Request form' : 'OpenFaaS (event, context) form';
  log.info(
    `ready on http://${config.host}:${runtime.port} with ${handler.file} (${form}) in ${Math.round(performance.now())} ms`,
  );
}

void main();
