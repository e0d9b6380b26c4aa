/**
 * The Node runtime's HTTP server: the runtime's own endpoints (`GET /health`,
 * `GET /ready`, `GET /metrics`), every other request to the user's handler,
 * request metrics, and graceful shutdown.
 *
 * `server.ts` is the process entry that reads the environment and calls
 * {@link startRuntime}; this module has no side effects on import.
 */
import { drainer, listen } from './lifecycle.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { LoadedHandler } from './handler-loader.js';
import type { RuntimeLogger } from './log.js';
import { METRICS_CONTENT_TYPE, RuntimeMetrics } from './metrics.js';
import { EventBodyError, invokeOpenFaasHandler } from './openfaas-handler.js';
import { sendStatus } from './respond.js';
import { BadRequestError, invokeWebHandler } from './web-handler.js';

/** Exit codes of the runtime process; the local provider reads them to tell a user error from a crash. */
export const EXIT_CODES = {
  /** Clean exit after SIGTERM/SIGINT (also when the grace period ran out). */
  OK: 0,
  /** Unexpected failure: the port could not be bound, or an uncaught exception drained the process. */
  FAILURE: 1,
  /** The environment is invalid (`PORT` missing or not a port, `KSS_GRACE_MS` not a number). */
  BAD_CONFIG: 2,
  /** The handler cannot be loaded: no such file, no usable export, or it threw while loading. */
  HANDLER_LOAD: 3,
} as const;

/**
 * Idle keep-alive sockets are kept this long. Longer than the gateway's
 * connection pool keeps them, so the gateway always closes an idle socket
 * first and never sends a request on one the runtime is closing.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 75_000;
/** Must exceed {@link KEEP_ALIVE_TIMEOUT_MS}, or Node may time out a reused socket's next request headers first. */
export const HEADERS_TIMEOUT_MS = 76_000;

/** Everything the runtime reads from its environment. */
export interface RuntimeConfig {
  /** `PORT`: the port to listen on (required). */
  port: number;
  /** `HOST`: the address to bind, default `0.0.0.0`. */
  host: string;
  /** `KSS_CODE_DIR`: the function's code directory, default the working directory. */
  codeDir: string;
  /** `KSS_HANDLER`: the entry file (or directory) relative to `codeDir`; unset → the default candidates. */
  handler: string | undefined;
  /** `KSS_FUNCTION_NAME`: used in log lines, default `function`. */
  functionName: string;
  /** `KSS_GRACE_MS`: longest wait for in-flight requests after SIGTERM, default 10000. */
  graceMs: number;
}

/** An environment the runtime cannot start with; the process exits with {@link EXIT_CODES.BAD_CONFIG}. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function parseNonNegativeInt(name: string, raw: string, max: number): number {
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a non-negative integer, got "${raw}"`);
  const value = Number(raw.trim());
  if (value > max) throw new ConfigError(`${name} must be at most ${max}, got ${value}`);
  return value;
}

/**
 * Reads and validates the runtime's environment.
 *
 * @throws ConfigError when `PORT` is missing or invalid, or `KSS_GRACE_MS` is not a number.
 */
export function readConfig(env: NodeJS.ProcessEnv): RuntimeConfig {
  if (env.PORT === undefined || env.PORT === '') throw new ConfigError('PORT is required');
  return {
    port: parseNonNegativeInt('PORT', env.PORT, 65_535),
    host: env.HOST || '0.0.0.0',
    codeDir: env.KSS_CODE_DIR || process.cwd(),
    handler: env.KSS_HANDLER || undefined,
    functionName: env.KSS_FUNCTION_NAME || 'function',
    graceMs: env.KSS_GRACE_MS ? parseNonNegativeInt('KSS_GRACE_MS', env.KSS_GRACE_MS, 2_147_483_647) : 10_000,
  };
}

/** What {@link startRuntime} needs besides the config. */
export interface RuntimeDeps {
  handler: LoadedHandler;
  log: RuntimeLogger;
  /** Ends the process; injectable so the runtime can be driven in-process. Default `process.exit`. */
  exit?: (code: number) => void;
}

/** A running runtime. */
export interface Runtime {
  readonly server: Server;
  readonly metrics: RuntimeMetrics;
  /** The bound port (differs from `config.port` when that was 0). */
  readonly port: number;
  /** True once shutdown began: `/ready` answers 503. */
  readonly shuttingDown: boolean;
  /**
   * Stops accepting connections, lets in-flight requests finish, then exits
   * with `exitCode`; exits anyway after the grace period. A second call
   * (a second Ctrl-C) exits at once.
   */
  shutdown(reason: string, exitCode?: number): void;
}

function pathOf(url: string | undefined): string {
  const target = url ?? '/';
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Creates the server, binds it, and resolves once it accepts connections.
 * The handler must already be loaded: `/ready` is true from the first request.
 *
 * @throws the listen error (e.g. `EADDRINUSE`).
 */
export async function startRuntime(config: RuntimeConfig, deps: RuntimeDeps): Promise<Runtime> {
  const { handler, log } = deps;
  const exit = deps.exit ?? ((code: number) => process.exit(code));
  const metrics = new RuntimeMetrics();
  const inFlight = new Set<ServerResponse>();

  async function invoke(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const describe = `${req.method} ${pathOf(req.url)}`;
    metrics.begin();
    inFlight.add(res);
    if (lifecycle.shuttingDown) res.shouldKeepAlive = false;
    res.once('close', () => {
      metrics.end(res.writableFinished ? res.statusCode : 499, (performance.now() - started) / 1000);
      inFlight.delete(res);
      // Once draining, a connection whose response just finished is idle: close it.
      if (lifecycle.shuttingDown) setImmediate(() => server.closeIdleConnections());
    });
    try {
      if (handler.kind === 'web') await invokeWebHandler(handler.fn, req, res);
      else await invokeOpenFaasHandler(handler.fn, req, res, log, describe);
    } catch (err) {
      if (err instanceof BadRequestError || err instanceof EventBodyError) {
        log.warn(`${describe}: ${err.message}`);
        sendStatus(res, 400);
        return;
      }
      if (res.destroyed && !res.writableFinished) {
        log.warn(`${describe}: client disconnected before the response was complete (${err instanceof Error ? err.message : String(err)})`);
        return;
      }
      log.error(`handler failed on ${describe} (answered 500)`, err);
      sendStatus(res, 500);
    }
  }

  const server = createServer((req, res) => {
    // A client that aborts must never become an unhandled 'error' event.
    req.on('error', () => {});
    res.on('error', () => {});
    if (req.method === 'GET') {
      switch (pathOf(req.url)) {
        case '/health':
          return sendJson(res, 200, { status: 'ok' });
        case '/ready':
          return lifecycle.shuttingDown ? sendJson(res, 503, { status: 'shutting down' }) : sendJson(res, 200, { status: 'ready' });
        case '/metrics': {
          const text = metrics.render();
          res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
          res.end(text);
          return;
        }
      }
    }
    void invoke(req, res).catch((err: unknown) => {
      // Only reached if answering itself failed (e.g. an invalid header from the handler).
      log.error(`could not answer ${req.method} ${pathOf(req.url)}`, err);
      res.destroy();
    });
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  // The gateway enforces each function's timeout; a slow upload is not ours to cut.
  server.requestTimeout = 0;
  // Malformed requests are answered 400/431 by Node's default 'clientError' handling.

  const lifecycle = drainer({
    server,
    graceMs: config.graceMs,
    log,
    inFlight: () => metrics.inFlight,
    exit,
    beforeDrain: () => {
      for (const res of inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
    },
  });
  const port = await listen(server, config.port, config.host);

  return {
    server,
    metrics,
    port,
    get shuttingDown() {
      return lifecycle.shuttingDown;
    },
    shutdown: (reason: string, code?: number) => lifecycle.shutdown(reason, code),
  };
}
