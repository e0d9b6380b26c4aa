/**
 * Form 2, the OpenFaaS node template (`template/node18`, `node20`):
 * `module.exports = async (event, context) => …`.
 *
 * Behaves like the template's express middleware so existing functions run
 * unchanged: the body is read whole and parsed by content type, `context`
 * offers the chainable `status()`, `headers()`, `succeed()` and `fail()`, and
 * a value that is returned (or passed to `succeed`) is sent with the status
 * and headers set on the context. Deliberate differences: a string reply
 * defaults to `text/plain` (express picks `text/html`), an object reply to
 * `application/json`, and neither a thrown error nor an `Error` passed to
 * `fail()` is echoed to the client (it is logged instead).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { OpenFaasHandler } from './handler-loader.js';
import type { RuntimeLogger } from './log.js';
import { encodeValue, isResponseLike, sendEncoded, sendResponse } from './respond.js';
import { hasRequestBody } from './web-handler.js';

/** The `event` argument, as the OpenFaaS template's `FunctionEvent`. */
export interface FunctionEvent {
  /**
   * Parsed JSON for `application/json` (and `+json`), a string for `text/*`
   * or a request without `Content-Type`, an object for
   * `application/x-www-form-urlencoded`, otherwise a `Buffer`. A request with
   * no body at all gives `{}`, as the template's body-parser does.
   */
  body: unknown;
  /** Request headers, lower-cased names (Node's `req.headers`). */
  headers: IncomingMessage['headers'];
  method: string;
  /** Query parameters; a repeated name gives an array of its values. */
  query: Record<string, string | string[]>;
  /** The path without the query string, as received. */
  path: string;
}

/** Raised when the body cannot be parsed as its content type claims (answered with 400). */
export class EventBodyError extends Error {
  override readonly name = 'EventBodyError';
}

/**
 * The `context` argument, as the OpenFaaS template's `FunctionContext`:
 * `status(code)` and `headers(obj)` set and chain, and without an argument
 * return the current value; `succeed(value)` and `fail(value)` send the reply
 * (only the first call counts).
 */
export class FunctionContext {
  /** Status code of the reply; 200 unless `status()` changes it. */
  statusCode = 200;
  /** Headers of the reply, replaced wholesale by `headers(obj)` as in the template. */
  headerValues: Record<string, string | number | readonly string[]> = {};
  /** How many times `succeed`/`fail` (or the callback) were called. */
  cbCalled = 0;

  constructor(private readonly cb: (err: unknown, value?: unknown) => void) {}

  status(): number;
  status(statusCode: number): this;
  status(statusCode?: number): number | this {
    if (!statusCode) return this.statusCode;
    this.statusCode = statusCode;
    return this;
  }

  headers(): Record<string, string | number | readonly string[]>;
  headers(value: Record<string, string | number | readonly string[]>): this;
  headers(value?: Record<string, string | number | readonly string[]>): Record<string, string | number | readonly string[]> | this {
    if (!value) return this.headerValues;
    this.headerValues = value;
    return this;
  }

  succeed(value?: unknown): void {
    this.cbCalled++;
    this.cb(undefined, value);
  }

  fail(value?: unknown): void {
    if (this.statusCode === 200) this.statusCode = 500;
    this.cbCalled++;
    this.cb(value ?? new Error('context.fail() called without a value'));
  }
}

/** Query string → object; repeated names collect into arrays; `__proto__` is dropped. */
export function parseQuery(search: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of new URLSearchParams(search)) {
    if (name === '__proto__') continue;
    const previous = query[name];
    if (previous === undefined) query[name] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else query[name] = [previous, value];
  }
  return query;
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('client closed the connection before sending the whole request body'));
    });
  });
}

function decodeText(bytes: Buffer, charset: string | undefined): string {
  if (!charset || /^utf-?8$/i.test(charset)) return bytes.toString('utf8');
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    return bytes.toString('utf8');
  }
}

/** Reads and parses the request body the way the template's body-parser set-up does. */
export async function readEventBody(req: IncomingMessage): Promise<unknown> {
  if (!hasRequestBody(req)) return {};
  const bytes = await readAll(req);
  const [mediaType = '', ...params] = (req.headers['content-type'] ?? 'text/plain').split(';');
  const type = mediaType.trim().toLowerCase();
  const charset = params
    .map((p) => p.trim().split('='))
    .find(([k]) => k?.toLowerCase() === 'charset')?.[1]
    ?.replace(/"/g, '');
  if (type === 'application/json' || type.endsWith('+json')) {
    const text = decodeText(bytes, charset);
    if (text.trim() === '') return {};
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new EventBodyError(`invalid JSON body: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (type.startsWith('text/')) return decodeText(bytes, charset);
  if (type === 'application/x-www-form-urlencoded') return parseQuery(decodeText(bytes, charset));
  return bytes;
}

/** Builds the `event` for a request whose body was read as `body`. */
export function buildEvent(req: IncomingMessage, body: unknown): FunctionEvent {
  const target = req.url ?? '/';
  const q = target.indexOf('?');
  return {
    body,
    headers: req.headers,
    method: req.method ?? 'GET',
    query: q === -1 ? {} : parseQuery(target.slice(q + 1)),
    path: q === -1 ? target : target.slice(0, q),
  };
}

type Outcome =
  | { kind: 'succeed'; value: unknown }
  | { kind: 'fail'; error: unknown }
  | { kind: 'throw'; error: unknown };

/** Calls the handler and settles on whichever comes first: `succeed`/`fail`, the callback, a return, or a throw. */
function run(fn: OpenFaasHandler, event: FunctionEvent, log: RuntimeLogger): { context: FunctionContext; outcome: Promise<Outcome> } {
  let settle!: (outcome: Outcome) => void;
  let settled = false;
  const outcome = new Promise<Outcome>((resolve) => {
    settle = (o) => {
      if (settled) {
        log.warn('the handler replied more than once (context.succeed/fail or callback); later replies are ignored');
        return;
      }
      settled = true;
      resolve(o);
    };
  });
  const cb = (err: unknown, value?: unknown): void => {
    settle(err !== undefined && err !== null ? { kind: 'fail', error: err } : { kind: 'succeed', value });
  };
  const context = new FunctionContext(cb);
  let returned: unknown;
  try {
    returned = fn(event, context, (err, value) => {
      context.cbCalled++;
      cb(err, value);
    });
  } catch (error) {
    settle({ kind: 'throw', error });
    return { context, outcome };
  }
  Promise.resolve(returned).then(
    (value) => {
      if (!context.cbCalled) settle({ kind: 'succeed', value });
    },
    (error: unknown) => {
      if (!settled) settle({ kind: 'throw', error });
      else log.error('the handler rejected after it had replied', error);
    },
  );
  return { context, outcome };
}

function applyContextHeaders(res: ServerResponse, context: FunctionContext): void {
  for (const [name, value] of Object.entries(context.headerValues)) {
    if (value === undefined || value === null) continue;
    res.setHeader(name, typeof value === 'number' ? String(value) : (value as string | readonly string[]));
  }
}

/**
 * Runs one request through an OpenFaaS-form handler and sends the reply.
 * A throw or rejection is re-thrown for the caller to log and answer 500;
 * `fail(error)` answers the context status (500 unless set) with its reason
 * phrase, `fail(value)` for any non-`Error` value sends that value.
 *
 * @throws EventBodyError for an unparsable JSON body, before the handler runs.
 */
export async function invokeOpenFaasHandler(
  fn: OpenFaasHandler,
  req: IncomingMessage,
  res: ServerResponse,
  log: RuntimeLogger,
  describe: string,
): Promise<void> {
  const body = await readEventBody(req);
  const { context, outcome: pending } = run(fn, buildEvent(req, body), log);
  const outcome = await pending;
  if (outcome.kind === 'throw') throw outcome.error;
  if (res.destroyed) return;
  const status = context.statusCode;
  if (outcome.kind === 'fail') {
    if (outcome.error instanceof Error) {
      log.error(`handler failed (context.fail) on ${describe}`, outcome.error);
      applyContextHeaders(res, context);
      res.statusCode = status;
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      res.end(STATUS_CODES[status] ?? String(status));
      return;
    }
    applyContextHeaders(res, context);
    sendEncoded(res, status, encodeValue(outcome.error), req.method);
    return;
  }
  const value = outcome.value;
  if (isResponseLike(value)) return sendResponse(res, value, req.method);
  applyContextHeaders(res, context);
  sendEncoded(res, status, value === undefined || value === null ? undefined : encodeValue(value), req.method);
}
