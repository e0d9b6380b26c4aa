/**
 * The exec runtime: OpenFaaS' classic watchdog mode. A long-lived HTTP server
 * answers `GET /health`, `/ready` and `/metrics` itself and, for every other
 * request, starts the function's command (`fprocess`) with `sh -c`, writes the
 * request body to its stdin and replies with what it wrote to stdout.
 *
 * As the classic watchdog (openfaas/classic-watchdog `handler.go`):
 * - the command's environment is the runtime's plus `Http_Method`, `Http_Path`
 *   (decoded), `Http_Query` (raw; only when there is one), `Http_ContentLength`
 *   and `Http_Content_Length` (-1 when unknown), `Http_Transfer_Encoding` (when
 *   chunked), `Http_Host`, and one `Http_<Header_Name>` per request header (Go's
 *   canonical form with `-` → `_`: `X-Custom-Header` → `Http_X_Custom_Header`;
 *   the first value when repeated);
 * - the reply is 200 with `Content-Type` from `content_type`, else the request's
 *   own `Content-Type` (the classic watchdog's echo), else `text/plain`; it carries
 *   `X-Duration-Seconds`;
 * - `exec_timeout` (seconds or a duration: `10s`, `500ms`, `2m`) kills the command;
 *   `max_inflight` caps concurrent commands (429 beyond it).
 *
 * Differences, on purpose: a non-zero exit is a 500 whose body is only `Internal
 * Server Error` (stdout and stderr go to the log, never to the caller, as the other
 * runtimes treat an exception); a command killed by a signal it was not sent by the
 * watchdog (the OOM killer, its replica going down) is a crash: the connection is
 * dropped and the gateway answers 502 `KSS_REPLICA_FAILED`; a timeout is a 504 `Killed process.` (the classic
 * watchdog says 408); every method reaches the command, not only GET/POST/PUT/PATCH/DELETE;
 * the command runs in its own process group, so a timeout or a caller that went
 * away kills everything it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { drainer, listen } from '../node/lifecycle.js';
import type { RuntimeLogger } from '../node/log.js';
import { METRICS_CONTENT_TYPE, RuntimeMetrics } from '../node/metrics.js';

export const EXIT_CODES = { OK: 0, FAILURE: 1, BAD_CONFIG: 2 } as const;

/** As the Node runtime: idle keep-alive sockets outlive the gateway pool's. */
const KEEP_ALIVE_TIMEOUT_MS = 75_000;
const HEADERS_TIMEOUT_MS = 76_000;
/** Longest stderr kept per request for the log. */
const STDERR_LOG_LIMIT = 16 * 1024;

export interface ExecConfig {
  port: number;
  host: string;
  /** The command, run with `sh -c`. */
  fprocess: string;
  /** Kill the command after this long (0: never). */
  execTimeoutMs: number;
  /** `content_type`: the reply's Content-Type (default: the request's, else text/plain). */
  contentType: string | undefined;
  /** `max_inflight`: concurrent commands before 429 (0: unlimited). */
  maxInflight: number;
  functionName: string;
  graceMs: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `10` (seconds, as the classic watchdog reads a bare number), `10s`, `500ms`, `2m`. */
export function parseDurationMs(name: string, raw: string): number {
  const m = DURATION.exec(raw.trim());
  if (!m) throw new ConfigError(`${name} must be seconds or a duration such as 10s or 500ms, got "${raw}"`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 's']!);
}

function parseNonNegativeInt(name: string, raw: string, max: number): number {
  if (!/^\d+$/.test(raw.trim()) || Number(raw) > max) throw new ConfigError(`${name} must be an integer from 0 to ${max}, got "${raw}"`);
  return Number(raw);
}

/** Reads and validates the environment. @throws ConfigError */
export function readExecConfig(env: NodeJS.ProcessEnv): ExecConfig {
  if (!env.PORT) throw new ConfigError('PORT is required');
  const fprocess = env.fprocess || env.KSS_FPROCESS;
  if (!fprocess) throw new ConfigError('fprocess (or KSS_FPROCESS) is required: the command to run for each request');
  return {
    port: parseNonNegativeInt('PORT', env.PORT, 65_535),
    host: env.HOST || '0.0.0.0',
    fprocess,
    execTimeoutMs: env.exec_timeout ? parseDurationMs('exec_timeout', env.exec_timeout) : 10_000,
    contentType: env.content_type || undefined,
    maxInflight: env.max_inflight ? parseNonNegativeInt('max_inflight', env.max_inflight, 1_000_000) : 0,
    functionName: env.KSS_FUNCTION_NAME || 'function',
    graceMs: env.KSS_GRACE_MS ? parseNonNegativeInt('KSS_GRACE_MS', env.KSS_GRACE_MS, 2_147_483_647) : 10_000,
  };
}

/** Go's `textproto.CanonicalMIMEHeaderKey`: `x-custom-header` → `X-Custom-Header` (left alone when it holds a character Go does not canonicalise). */
export function canonicalHeaderKey(name: string): string {
  if (!/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/.test(name)) return name;
  let upper = true;
  let out = '';
  for (const ch of name) {
    out += upper ? ch.toUpperCase() : ch.toLowerCase();
    upper = ch === '-';
  }
  return out;
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/**
 * The `Http_*` variables the classic watchdog adds to the command's environment
 * for `req` (headers from `rawHeaders`, so the first of repeated values wins).
 */
export function cgiEnv(req: Pick<IncomingMessage, 'method' | 'url' | 'rawHeaders'>): Record<string, string> {
  const env: Record<string, string> = {};
  const raw = req.rawHeaders;
  let host = '';
  let chunked = false;
  let contentLength: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1] ?? '';
    const lower = name.toLowerCase();
    // Go's server moves Host into r.Host and drops Transfer-Encoding from r.Header.
    if (lower === 'host') {
      if (!host) host = value;
      continue;
    }
    if (lower === 'transfer-encoding') {
      chunked ||= /chunked/i.test(value);
      continue;
    }
    if (lower === 'content-length' && contentLength === undefined) contentLength = value.trim();
    const key = `Http_${canonicalHeaderKey(name).replaceAll('-', '_')}`;
    if (!(key in env)) env[key] = value;
  }
  const target = req.url ?? '/';
  const q = target.indexOf('?');
  const path = decodePath(q === -1 ? target : target.slice(0, q));
  const query = q === -1 ? '' : target.slice(q + 1);
  const length = chunked ? '-1' : (contentLength ?? '0');
  env.Http_Method = req.method ?? 'GET';
  env.Http_ContentLength = length;
  env.Http_Content_Length = length;
  if (chunked) env.Http_Transfer_Encoding = 'chunked';
  if (query) env.Http_Query = query;
  if (path) env.Http_Path = path;
  if (host) env.Http_Host = host;
  return env;
}

function sendText(res: ServerResponse, status: number, text: string, contentType = 'text/plain; charset=utf-8'): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendText(res, status, JSON.stringify(body), 'application/json');
}

function pathOf(url: string | undefined): string {
  const target = url ?? '/';
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

/** Kills the command and everything it started (its process group). */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

export interface ExecRuntime {
  readonly server: Server;
  readonly metrics: RuntimeMetrics;
  readonly port: number;
  readonly shuttingDown: boolean;
  shutdown(reason: string, exitCode?: number): void;
}

export interface ExecDeps {
  log: RuntimeLogger;
  /** The commands' base environment (default: the runtime's own). */
  env?: NodeJS.ProcessEnv;
  exit?: (code: number) => void;
}

/** Binds the server and resolves once it accepts connections. */
export async function startExecRuntime(config: ExecConfig, deps: ExecDeps): Promise<ExecRuntime> {
  const { log } = deps;
  const baseEnv = deps.env ?? process.env;
  const exit = deps.exit ?? ((code: number) => process.exit(code));
  const metrics = new RuntimeMetrics();

  function invoke(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const describe = `${req.method} ${pathOf(req.url)}`;
    metrics.begin();
    if (lifecycle.shuttingDown) res.shouldKeepAlive = false;
    let child: ChildProcess | undefined;
    res.once('close', () => {
      metrics.end(res.writableFinished ? res.statusCode : 499, (performance.now() - started) / 1000);
      // The caller went away (or the gateway's timeout hit): nobody wants the output.
      if (child && !res.writableFinished) killGroup(child);
      if (lifecycle.shuttingDown) setImmediate(() => server.closeIdleConnections());
    });
    if (config.maxInflight > 0 && metrics.inFlight > config.maxInflight) {
      req.resume();
      sendText(res, 429, 'Concurrent request limit exceeded.\n');
      return;
    }
    try {
      child = spawn('sh', ['-c', config.fprocess], { env: { ...baseEnv, ...cgiEnv(req) }, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    } catch (err) {
      log.error(`cannot start fprocess for ${describe} (answered 500)`, err);
      req.resume();
      sendText(res, 500, 'Internal Server Error');
      return;
    }
    const proc = child;
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let stderrBytes = 0;
    let timedOut = false;
    let spawnError: Error | undefined;
    proc.stdout!.on('data', (c: Buffer) => stdout.push(c));
    proc.stderr!.on('data', (c: Buffer) => {
      if (stderrBytes < STDERR_LOG_LIMIT) stderr.push(c);
      stderrBytes += c.length;
    });
    // A command that does not read its stdin (`date`) closes the pipe early: not an error.
    proc.stdin!.on('error', () => {});
    req.on('error', () => killGroup(proc));
    req.pipe(proc.stdin!);
    const timer =
      config.execTimeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            killGroup(proc);
          }, config.execTimeoutMs)
        : undefined;
    proc.once('error', (err) => (spawnError = err));
    proc.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      // Whatever the command left unread is discarded, so the connection stays usable.
      req.unpipe(proc.stdin!);
      req.resume();
      if (res.destroyed) return;
      const errText = () => {
        const text = Buffer.concat(stderr).toString('utf8').trimEnd();
        return text ? `\nstderr:\n${text}${stderrBytes > STDERR_LOG_LIMIT ? `\n… (${stderrBytes - STDERR_LOG_LIMIT} more bytes)` : ''}` : '';
      };
      if (timedOut) {
        log.error(`fprocess killed after exec_timeout ${config.execTimeoutMs} ms on ${describe} (answered 504)${errText()}`);
        sendText(res, 504, 'Killed process.\n');
        return;
      }
      if (signal && !spawnError) {
        // Killed from outside (the OOM killer, its replica going down): a crash, not the function's own
        // answer. The connection is dropped, so the gateway answers 502 KSS_REPLICA_FAILED as for any runtime.
        log.error(`fprocess was killed by ${signal} on ${describe} (connection dropped: a crash, answered 502 by the gateway)${errText()}`);
        res.destroy();
        return;
      }
      if (spawnError || code !== 0) {
        const how = spawnError ? `could not start: ${spawnError.message}` : `exited with code ${code}`;
        log.error(`fprocess ${how} on ${describe} (answered 500)${errText()}`);
        sendText(res, 500, 'Internal Server Error');
        return;
      }
      if (stderrBytes > 0) log.warn(`fprocess wrote to stderr on ${describe}:${errText().replace(/^\nstderr:/, '')}`);
      const body = Buffer.concat(stdout);
      const type = config.contentType ?? req.headers['content-type'] ?? 'text/plain; charset=utf-8';
      res.writeHead(200, {
        'content-type': type,
        'content-length': body.length,
        'x-duration-seconds': ((performance.now() - started) / 1000).toFixed(6),
      });
      res.end(body);
    });
  }

  const server = createServer((req, res) => {
    req.on('error', () => {});
    res.on('error', () => {});
    if (req.method === 'GET') {
      switch (pathOf(req.url)) {
        case '/health':
          return sendJson(res, 200, { status: 'ok' });
        case '/ready':
          return lifecycle.shuttingDown ? sendJson(res, 503, { status: 'shutting down' }) : sendJson(res, 200, { status: 'ready' });
        case '/metrics':
          return sendText(res, 200, metrics.render(), METRICS_CONTENT_TYPE);
      }
    }
    invoke(req, res);
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = 0;

  const lifecycle = drainer({ server, graceMs: config.graceMs, log, inFlight: () => metrics.inFlight, exit });
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
