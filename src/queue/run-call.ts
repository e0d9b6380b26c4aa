/**
 * The two edges of an async call that touch HTTP: one attempt through the invoke path
 * (the same code as a synchronous request), and the callback POST.
 */
import { Writable } from 'node:stream';
import { ERROR_CATALOGUE, isKssError, type FunctionRef } from '../core/index.js';
import type { InvocationRequest, ResponseTarget } from '../invoke/index.js';
import type { CallRecord, StoredRequest } from './call-queue.js';
import type { AttemptOutcome } from './dispatcher.js';

/** The part of the Invoker an attempt needs. */
export interface InvokePath {
  invoke(ref: FunctionRef, req: InvocationRequest, target: ResponseTarget, abort?: AbortController): Promise<unknown>;
}

/** Runs one attempt of `call`, collecting the reply; platform errors become a status and a message. `abort` cuts it off. */
export function runCall(invoker: InvokePath, call: CallRecord, abort?: AbortController): Promise<AttemptOutcome> {
  // OpenFaaS' header, on every attempt, so a function can de-duplicate at-least-once delivery.
  return invokeBuffered(invoker, { name: call.name, namespace: call.namespace }, call.request, ['X-Call-Id', call.id, 'X-Kss-Attempt', String(call.attempts)], abort);
}

/**
 * Invokes `ref` with a stored request and collects the whole reply (async calls and
 * sync-mode triggers). Never rejects: platform errors become `{ error, status }`.
 */
export async function invokeBuffered(invoker: InvokePath, ref: FunctionRef, r: StoredRequest, extraHeaders: string[] = [], abort?: AbortController): Promise<AttemptOutcome> {
  const headers: string[] = [];
  for (const [k, v] of Object.entries(r.headers)) headers.push(k, v);
  headers.push(...extraHeaders);
  const chunks: Buffer[] = [];
  let status = 0;
  let replyHeaders: Record<string, string> = {};
  const started = performance.now();
  try {
    await invoker.invoke(
      ref,
      { method: r.method, path: r.query ? `${r.path}?${r.query}` : r.path, headers, body: r.body.length ? r.body : null, contentLength: r.body.length },
      (s, h) => {
        status = s;
        replyHeaders = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.join(', ') : v]));
        return new Writable({
          write(chunk: Buffer, _enc, done) {
            chunks.push(chunk);
            done();
          },
        });
      },
      abort,
    );
    return { result: { status, headers: replyHeaders, body: Buffer.concat(chunks), durationSeconds: (performance.now() - started) / 1000 } };
  } catch (err) {
    if (isKssError(err)) return { error: `${err.code}: ${err.message}`, status: ERROR_CATALOGUE[err.code] };
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/** POSTs a finished call's result to its callback URL with OpenFaaS' headers; rejects unless the receiver answers 2xx. */
export async function deliverCallback(call: CallRecord, timeoutMs = 10_000): Promise<void> {
  if (!call.callbackUrl) return;
  const r = call.result;
  const res = await fetch(call.callbackUrl, {
    method: 'POST',
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
    headers: {
      'content-type': r?.headers['content-type'] ?? 'text/plain; charset=utf-8',
      'x-call-id': call.id,
      'x-function-name': call.name,
      'x-function-namespace': call.namespace,
      'x-function-status': String(r?.status ?? 500),
      'x-duration-seconds': (r?.durationSeconds ?? 0).toFixed(6),
      'x-kss-call-state': call.state,
    },
    body: r ? new Uint8Array(r.body) : (call.lastError ?? ''),
  }).catch((err: unknown) => {
    throw new Error(`callback to ${new URL(call.callbackUrl!).host} failed: ${err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)}`);
  });
  await res.arrayBuffer().catch(() => undefined);
  if (res.status < 200 || res.status >= 300) throw new Error(`the callback URL answered ${res.status}`);
}
