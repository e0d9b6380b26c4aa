/**
 * Form 1, the web-standard handler: `export default async (req: Request) => …`.
 * The Node request becomes a `Request` whose body streams from the socket
 * (with back-pressure); the result is sent as described in {@link sendWebResult}.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WebHandler } from './handler-loader.js';
import { encodeValue, isReadableStream, isResponseLike, pipeBody, sendEncoded, sendResponse } from './respond.js';

/** Bytes the request-body stream buffers ahead of the handler before pausing the socket. */
const REQUEST_BODY_HIGH_WATER_MARK = 64 * 1024;

/** A `Host` we are willing to put into a URL; anything else falls back to `localhost`. */
const SAFE_HOST = /^[A-Za-z0-9._~-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

/** Raised when the incoming request cannot be expressed as a web `Request` (answered with 400). */
export class BadRequestError extends Error {
  override readonly name = 'BadRequestError';
}

/**
 * The absolute URL of the request: scheme (`https` only when a proxy says so in
 * `X-Forwarded-Proto`), the `Host` header, then the path and query as received.
 */
export function requestUrl(req: IncomingMessage): string {
  const target = req.url ?? '/';
  if (!target.startsWith('/')) return new URL(target).href; // absolute-form request target
  const hostHeader = req.headers.host;
  const host = hostHeader && SAFE_HOST.test(hostHeader) ? hostHeader : 'localhost';
  const proto = req.headers['x-forwarded-proto'] === 'https' ? 'https' : 'http';
  return new URL(`${proto}://${host}${target}`).href;
}

/** True when the request carries a body (RFC 9112 §6.3: a length or a transfer coding). */
export function hasRequestBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Wraps the Node request body in a web `ReadableStream`. The socket is paused
 * whenever {@link REQUEST_BODY_HIGH_WATER_MARK} bytes are waiting and resumed
 * when the handler pulls, so a large upload never sits in memory whole. A
 * client that disconnects mid-body errors the stream (the handler's read
 * rejects) instead of leaving it hanging.
 *
 * Cancelling the stream, or `res` finishing while the body is still unread,
 * drains (and drops) the rest of the body, as Node does for requests nobody
 * reads, so the keep-alive connection stays usable for the next request.
 */
export function requestBodyStream(req: IncomingMessage, res?: ServerResponse): ReadableStream<Uint8Array> {
  let settled = false;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        res?.once('finish', () => {
          if (settled || req.complete) return;
          settled = true;
          controller.error(new Error('the response was sent before the request body was read'));
          req.resume();
        });
        req.on('data', (chunk: Buffer) => {
          if (settled) return;
          controller.enqueue(chunk);
          if ((controller.desiredSize ?? 0) <= 0) req.pause();
        });
        req.on('end', () => {
          if (settled) return;
          settled = true;
          controller.close();
        });
        const fail = (err: Error): void => {
          if (settled) return;
          settled = true;
          controller.error(err);
        };
        req.on('error', fail);
        req.on('close', () => {
          if (!req.complete) fail(new Error('client closed the connection before sending the whole request body'));
        });
      },
      pull() {
        req.resume();
      },
      cancel() {
        settled = true;
        req.resume();
      },
    },
    { highWaterMark: REQUEST_BODY_HIGH_WATER_MARK, size: (chunk) => chunk.byteLength },
  );
}

/**
 * Builds the web `Request` for a Node request: method, URL, every header as
 * received (repeated ones appended), the body as a stream (`duplex: 'half'`)
 * when there is one and the method allows it, and `signal`, which the caller
 * aborts when the client goes away. `res`, when given, lets an unread body be
 * drained once the response is out.
 *
 * @throws BadRequestError when the method, URL or a header is not acceptable to `Request`.
 */
export function toWebRequest(req: IncomingMessage, signal: AbortSignal, res?: ServerResponse): Request {
  const method = req.method ?? 'GET';
  try {
    const headers = new Headers();
    const raw = req.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i], raw[i + 1]);
    const init: RequestInit & { duplex?: 'half' } = { method, headers, signal };
    if (method !== 'GET' && method !== 'HEAD' && hasRequestBody(req)) {
      init.body = requestBodyStream(req, res);
      init.duplex = 'half';
    }
    return new Request(requestUrl(req), init);
  } catch (err) {
    throw new BadRequestError(`cannot build a Request for ${method} ${req.url}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
}

/**
 * Sends a form-1 handler's result:
 * - `Response` → as is (status, headers, streamed body);
 * - `undefined`/`null` → 204;
 * - `string` → 200 `text/plain`;
 * - `Buffer`/`Uint8Array`/`ArrayBuffer` → 200 `application/octet-stream`;
 * - `ReadableStream` → 200 `application/octet-stream`, streamed;
 * - any other value (object, array, number, boolean) → 200 `application/json`.
 */
export async function sendWebResult(res: ServerResponse, value: unknown, method: string | undefined): Promise<void> {
  if (isResponseLike(value)) return sendResponse(res, value, method);
  if (value === undefined || value === null) {
    res.statusCode = 204;
    res.end();
    return;
  }
  if (isReadableStream(value)) {
    res.statusCode = 200;
    res.setHeader('content-type', 'application/octet-stream');
    if (method === 'HEAD') {
      value.cancel().catch(() => {});
      res.end();
      return;
    }
    return pipeBody(value, res);
  }
  sendEncoded(res, 200, encodeValue(value), method);
}

/**
 * Runs one request through a form-1 handler and sends its result. Errors
 * thrown by the handler (or by its result) propagate to the caller.
 */
export async function invokeWebHandler(fn: WebHandler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort(new Error('client disconnected'));
  });
  const request = toWebRequest(req, controller.signal, res);
  const value = await fn(request);
  await sendWebResult(res, value, req.method);
}
