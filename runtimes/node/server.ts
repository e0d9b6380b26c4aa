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
 * - `KSS_PARENT_PIPE=1`: exit when stdin closes (the local provider's orphan guard);
 * - `KSS_POOL=1`: warm-pool mode (see {@link awaitSpecialisation}).
 *
 * Start-up order: validate the environment (exit 2), load the handler (exit 3
 * with the reason on stderr), then listen, so `/ready` is true as soon as the
 * port accepts connections. SIGTERM/SIGINT drain in-flight requests and exit 0.
 *
 * Only Node built-ins are imported, directly or through the sibling modules:
 * process start to ready is a cold start the user waits for.
 */
import { fileURLToPath } from 'node:url';
import { loadHandler, type LoadedHandler } from './handler-loader.js';
import { becomeFunction, dropToFunctionFromEnv, type Specialisation } from './identity.js';
import { notifyReady, stopOnSignals } from './lifecycle.js';
import { createLogger, describeError } from './log.js';
import { EXIT_CODES, readConfig, startRuntime, type RuntimeConfig } from './runtime.js';

/**
 * Warm-pool mode (`KSS_POOL=1`): the process starts, loads the runtime and Node's web
 * classes, and waits for one JSON line on stdin — `{"env": {...}}` with the function's
 * code dir, handler and environment — before loading the handler and listening. A
 * cold start then costs loading the handler, not booting Node (see the local
 * provider's warm-pool.ts). stdin stays open afterwards as the parent pipe.
 */
async function warmUp(): Promise<void> {
  // What a web-form handler will need: Node loads undici's classes lazily (~25 ms).
  void new Response('warm').headers;
  // The module loader and the handler loader, on a CommonJS and an ES module like a
  // handler's; then the request path of both handler forms, served once over a real
  // socket. Measured: without this a replica's first request took 8-13 ms instead of
  // 1-2 ms (parser, response and handler-call code not yet compiled).
  const warmDir = fileURLToPath(new URL('../../../runtimes/node/warm/', import.meta.url));
  for (const file of ['handler.cjs', 'handler.mjs']) {
    const handler = await loadHandler(warmDir, file).catch(() => undefined);
    if (handler) await serveOnce(handler).catch(() => undefined);
  }
}

/** Starts the runtime with `handler` on an ephemeral loopback port, sends it a GET and a POST, and closes it. */
async function serveOnce(handler: LoadedHandler): Promise<void> {
  const silent = { info: () => {}, warn: () => {}, error: () => {} };
  const config: RuntimeConfig = { port: 0, host: '127.0.0.1', codeDir: '.', handler: undefined, functionName: 'warm', graceMs: 0 };
  const runtime = await startRuntime(config, { handler, log: silent, exit: () => {} });
  const { request } = await import('node:http');
  const send = (method: string, body?: string) =>
    new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port: runtime.port, method, path: '/warm?x=1', headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
        res.resume();
        res.on('end', resolve);
        res.on('error', () => resolve());
      });
      req.on('error', () => resolve());
      req.end(body);
    });
  for (let i = 0; i < 3; i++) {
    await send('GET');
    await send('POST', '{"warm":true}');
  }
  runtime.server.closeAllConnections();
  await new Promise<void>((resolve) => runtime.server.close(() => resolve()));
}

function awaitSpecialisation(): Promise<Specialisation> {
  void warmUp();
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      process.stdin.off('data', onData);
      process.stdin.off('end', onEnd);
      process.stdin.pause();
      try {
        resolve(JSON.parse(buffered.slice(0, nl)) as Specialisation);
      } catch (err) {
        reject(err);
      }
    };
    // The platform went away before using this process.
    const onEnd = () => process.exit(0);
    process.stdin.on('data', onData);
    process.stdin.once('end', onEnd);
  });
}

async function main(): Promise<void> {
  if (process.env.KSS_POOL === '1') {
    const line = await awaitSpecialisation();
    const env = line.env;
    try {
      becomeFunction(line);
    } catch (err) {
      // Never load a function's code with the pool's privileges: exit, and the platform starts it afresh.
      process.stderr.write(`[kss-runtime] error: cannot take on the function's identity: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(EXIT_CODES.FAILURE);
    }
    Object.assign(process.env, env);
    delete process.env.KSS_POOL;
    if (env.KSS_CODE_DIR) process.chdir(env.KSS_CODE_DIR);
  }
  dropToFunctionFromEnv(EXIT_CODES.FAILURE);
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

  stopOnSignals(runtime, log, EXIT_CODES.FAILURE);
  notifyReady();
  // A rejection nobody awaited belongs to one request; keep serving the others.
  process.on('unhandledRejection', (reason) => log.error('unhandled promise rejection (ignored)', reason));

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
