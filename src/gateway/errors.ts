/**
 * The one place where errors become HTTP: catalogue errors keep their status and
 * code; fastify's own errors are mapped onto the catalogue; anything else is a
 * 500 with a generic message (the details go to the log, never to the client).
 */
import type { ServerResponse } from 'node:http';
import type { FastifyError } from 'fastify';
import { KssError, isKssError } from '../core/index.js';

const FASTIFY_CODES: Record<string, () => KssError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () => new KssError('KSS_PAYLOAD_TOO_LARGE', 'request body is larger than the gateway accepts'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new KssError('KSS_INVALID_JSON', 'body: expected JSON, got an empty body'),
  FST_ERR_CTP_INVALID_JSON_BODY: () => new KssError('KSS_INVALID_JSON', 'body: not valid JSON'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => new KssError('KSS_UNSUPPORTED_MEDIA_TYPE', 'unsupported Content-Type; send application/json'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => new KssError('KSS_BAD_REQUEST', 'Content-Length does not match the body'),
};

/** Error codes of a full disk: SQLite's (better-sqlite3's `SqliteError.code`) and the file system's. */
const DISK_FULL_CODES = new Set(['SQLITE_FULL', 'ENOSPC', 'EDQUOT']);

/** True when `err` (or an error in its `cause` chain) says the disk is full. */
export function isDiskFull(err: unknown): boolean {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && DISK_FULL_CODES.has(code)) return true;
  }
  return false;
}

/** Converts anything thrown in a route to a catalogue error. `internal` is true for a real 500. */
export function toKssError(err: unknown): { error: KssError; internal: boolean } {
  if (isKssError(err)) return { error: err, internal: false };
  // A full data disk refuses the write (a deploy, an upload, an async call) with a 507; nothing was stored.
  if (isDiskFull(err)) {
    return { error: new KssError('KSS_INSUFFICIENT_STORAGE', "the gateway's data disk is full: nothing was stored (what was stored before is intact). Free space in the data dir and try again.", { retryAfter: 5 }), internal: false };
  }
  const fe = err as Partial<FastifyError> & { type?: string };
  const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped) return { error: mapped(), internal: false };
  if (err instanceof SyntaxError || fe.type === 'entity.parse.failed') {
    // Only the position: V8's message can quote the body.
    const at = /at position (\d+)/.exec((err as Error).message);
    return { error: new KssError('KSS_INVALID_JSON', `body: not valid JSON${at ? ` (at position ${at[1]})` : ''}`), internal: false };
  }
  if (fe.validation) return { error: new KssError('KSS_BAD_REQUEST', fe.message ?? 'bad request'), internal: false };
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { error: new KssError(fe.statusCode === 413 ? 'KSS_PAYLOAD_TOO_LARGE' : 'KSS_BAD_REQUEST', fe.message ?? 'bad request'), internal: false };
  }
  return { error: new KssError('KSS_INTERNAL', 'internal error in the gateway; the gateway log has the details'), internal: true };
}

/**
 * Headers every platform error carries. `challenge: false` leaves out the 401's
 * `WWW-Authenticate`: the dashboard (which sends `x-kss-csrf`) handles a 401 itself,
 * and a Basic challenge would make the browser hold its fetch for a password prompt.
 */
export function errorHeaders(error: KssError, challenge = true): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'x-kss-error': error.code };
  if (error.retryAfter !== undefined) headers['retry-after'] = String(error.retryAfter);
  // RFC 9110 §11.6.1: a 401 says how to authenticate (faas-cli and curl read it).
  if (error.code === 'KSS_UNAUTHORIZED' && challenge) headers['www-authenticate'] = 'Basic realm="kube-serverless", charset="UTF-8"';
  return headers;
}

/** Writes a platform error on a raw response (used by hijacked routes such as invoke). */
export function writeRawError(res: ServerResponse, error: KssError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(error.toJSON());
  res.writeHead(error.status, { ...errorHeaders(error), 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
