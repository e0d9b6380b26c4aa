/**
 * Writing handler results to a Node `ServerResponse`: web `Response` objects
 * (status, headers and a streamed body with back-pressure) and plain values
 * (string, bytes, JSON-able values).
 */
import type { ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';

/** A chunk `ServerResponse.write` accepts. */
type Chunk = string | Uint8Array;

/**
 * Hop-by-hop headers never copied from a handler's `Response`: they describe
 * one connection, and Node manages the runtime's own (a `Response` returned
 * from `fetch()` would otherwise carry the upstream's `transfer-encoding`).
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);

/** Structural view of a web `Response`, so one made by another copy of undici is accepted too. */
export interface ResponseLike {
  readonly status: number;
  readonly statusText?: string;
  readonly headers: Iterable<[string, string]> & { getSetCookie?: () => string[] };
  readonly body: ReadableStream<unknown> | null;
}

/**
 * True for a web `Response`, checked by its `Symbol.toStringTag` rather than
 * `instanceof`: that accepts one made by another copy of undici, and does not
 * touch the lazily loaded `Response` global (≈25 ms) for handlers that never
 * use it.
 */
export function isResponseLike(value: unknown): value is ResponseLike {
  return (
    value !== null &&
    typeof value === 'object' &&
    Object.prototype.toString.call(value) === '[object Response]' &&
    typeof (value as { status?: unknown }).status === 'number'
  );
}

/** True for a web `ReadableStream` (by its `Symbol.toStringTag`, like {@link isResponseLike}). */
export function isReadableStream(value: unknown): value is ReadableStream<unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    Object.prototype.toString.call(value) === '[object ReadableStream]' &&
    typeof (value as { getReader?: unknown }).getReader === 'function'
  );
}

/** A plain value turned into bytes or text plus the `Content-Type` it defaults to. */
export interface EncodedBody {
  body: Chunk;
  contentType: string;
}

/**
 * Encodes a non-nullish, non-`Response`, non-stream handler result:
 * string → `text/plain`; `Buffer`/`Uint8Array`/other views/`ArrayBuffer` →
 * `application/octet-stream`; anything else → JSON.
 *
 * @throws TypeError when the value has no JSON form (a function, a symbol);
 *   JSON.stringify's own errors (cycles, BigInt) propagate as well.
 */
export function encodeValue(value: unknown): EncodedBody {
  if (typeof value === 'string') return { body: value, contentType: 'text/plain; charset=utf-8' };
  if (value instanceof Uint8Array) return { body: value, contentType: 'application/octet-stream' };
  if (ArrayBuffer.isView(value)) {
    return { body: new Uint8Array(value.buffer, value.byteOffset, value.byteLength), contentType: 'application/octet-stream' };
  }
  if (value instanceof ArrayBuffer) return { body: new Uint8Array(value), contentType: 'application/octet-stream' };
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError(`handler returned a value that cannot be sent: ${typeof value}`);
  return { body: json, contentType: 'application/json; charset=utf-8' };
}

/** True when a response to `method` with `status` must not carry a body. */
export function bodyless(status: number, method: string | undefined): boolean {
  return method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200);
}

/**
 * Sends a complete body with `status`, adding `Content-Type` only when the
 * handler did not set one. Node adds the `Content-Length`.
 */
export function sendEncoded(res: ServerResponse, status: number, encoded: EncodedBody | undefined, method?: string): void {
  res.statusCode = status;
  if (encoded && !res.hasHeader('content-type')) res.setHeader('content-type', encoded.contentType);
  if (!encoded || bodyless(status, method)) {
    if (!bodyless(status, undefined)) {
      const length = encoded ? Buffer.byteLength(encoded.body) : 0;
      res.setHeader('content-length', String(length));
    }
    res.end();
    return;
  }
  res.end(encoded.body);
}

/**
 * Answers with a bare status and its standard reason phrase as a text body
 * (`500 Internal Server Error`), never anything from the error itself. When
 * the headers are already out, the only honest signal left is to cut the
 * connection, so the client sees a truncated response rather than a clean one.
 */
export function sendStatus(res: ServerResponse, status: number): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.statusCode = status;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end(STATUS_CODES[status] ?? String(status));
}

/** Resolves when `res` can take more data, or has closed. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function toChunk(value: unknown): Chunk {
  if (value instanceof Uint8Array || typeof value === 'string') return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new TypeError(`response body stream produced a ${typeof value} chunk; expected Uint8Array or string`);
}

/**
 * Streams `body` into `res` with back-pressure, then ends it.
 *
 * The first chunk is held for one event-loop turn: when the stream turns out
 * to be that single chunk (the usual `new Response('text')`), `res.end(chunk)`
 * lets Node send a `Content-Length` instead of chunked encoding. A slower
 * stream (server-sent events, a proxied download) gets its headers and first
 * chunk flushed after that turn, so nothing waits for a second chunk.
 *
 * When the client goes away the body stream is cancelled, which propagates to
 * whatever produces it (for an echo, the request body).
 *
 * @throws whatever the body stream errors with; the caller decides how to fail.
 */
export async function pipeBody(body: ReadableStream<unknown>, res: ServerResponse): Promise<void> {
  const reader = body.getReader();
  const cancel = (): void => {
    reader.cancel().catch(() => {});
  };
  res.once('close', cancel);
  let held: Chunk | undefined;
  let streaming = false;
  const startStreaming = (): void => {
    if (streaming || res.destroyed) return;
    streaming = true;
    if (held !== undefined) {
      res.write(held);
      held = undefined;
    } else {
      res.flushHeaders();
    }
  };
  const timer = setImmediate(startStreaming);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (res.destroyed) return;
      if (done) {
        res.end(held);
        held = undefined;
        return;
      }
      const chunk = toChunk(value);
      if (!streaming) {
        if (held === undefined) {
          held = chunk;
          continue;
        }
        streaming = true;
        res.write(held);
        held = undefined;
      }
      if (!res.write(chunk)) await drained(res);
    }
  } catch (err) {
    cancel();
    throw err;
  } finally {
    clearImmediate(timer);
    res.off('close', cancel);
  }
}

/**
 * Sends a web `Response` as is: status, status text, headers (every
 * `Set-Cookie` kept separate, hop-by-hop headers dropped) and its body,
 * streamed. Bodies of HEAD requests and 1xx/204/304 answers are cancelled.
 */
export async function sendResponse(res: ServerResponse, response: ResponseLike, method: string | undefined): Promise<void> {
  res.statusCode = response.status;
  if (response.statusText) res.statusMessage = response.statusText;
  for (const [name, value] of response.headers) {
    const lower = name.toLowerCase();
    if (lower === 'set-cookie' || HOP_BY_HOP.has(lower)) continue;
    res.setHeader(lower, value);
  }
  const cookies = typeof response.headers.getSetCookie === 'function' ? response.headers.getSetCookie() : [];
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  const body = response.body;
  if (!body || bodyless(response.status, method)) {
    body?.cancel().catch(() => {});
    if (!bodyless(response.status, undefined) && !res.hasHeader('content-length') && !body) res.setHeader('content-length', '0');
    res.end();
    return;
  }
  await pipeBody(body, res);
}
