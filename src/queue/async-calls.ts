/**
 * The asynchronous-call service under the routes: accepts a call (checks its callback
 * URL, stores it durably, wakes the workers), lists, shows and replays calls, and
 * renders them for the API without their bodies' bytes unless asked.
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { KssError, type Clock, type FunctionRef } from '../core/index.js';
import type { CallFilter, CallQueue, CallRecord, CallState, StoredRequest } from './call-queue.js';

const STATES: readonly CallState[] = ['queued', 'running', 'succeeded', 'failed', 'dead'];

export interface AsyncCallsOptions {
  queue: CallQueue;
  clock: Clock;
  /** Called after every accepted call or replay (the dispatcher's `notify`). */
  onEnqueued: () => void;
  /**
   * Hosts a callback may go to: exact names or addresses (`hooks.example.com`,
   * `127.0.0.1`), `*.example.com` for subdomains, `host:port` to pin a port. Empty or
   * undefined: any http(s) URL. Set it wherever untrusted callers can invoke
   * functions, so the queue cannot be made to reach internal addresses.
   */
  callbackAllow?: readonly string[];
}

/** A call as the API shows it: the request and result bodies as sizes, with text previews when asked. */
export interface CallView {
  id: string;
  function: string;
  namespace: string;
  state: CallState;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  /** Next attempt (queued) or end of the lease (running). */
  dueAt?: string;
  finishedAt?: string;
  lastError?: string;
  request: { method: string; path: string; query: string; bodyBytes: number };
  result?: { status: number; durationSeconds: number; bodyBytes: number; body?: string };
  callback?: { url: string; state: string; attempts: number; lastError?: string };
}

const iso = (ms: number) => new Date(ms).toISOString();

export function callView(c: CallRecord, withBody = false): CallView {
  const v: CallView = {
    id: c.id,
    function: c.name,
    namespace: c.namespace,
    state: c.state,
    attempts: c.attempts,
    createdAt: iso(c.createdAt),
    updatedAt: iso(c.updatedAt),
    request: { method: c.request.method, path: c.request.path, query: c.request.query, bodyBytes: c.request.body.length },
  };
  if (c.state === 'queued' || c.state === 'running') v.dueAt = iso(c.dueAt);
  if (c.finishedAt !== undefined) v.finishedAt = iso(c.finishedAt);
  if (c.lastError) v.lastError = c.lastError;
  if (c.result) {
    v.result = { status: c.result.status, durationSeconds: c.result.durationSeconds, bodyBytes: c.result.body.length };
    if (withBody) v.result.body = c.result.body.toString('utf8');
  }
  if (c.callbackUrl) v.callback = { url: c.callbackUrl, state: c.callback.state, attempts: c.callback.attempts, ...(c.callback.lastError ? { lastError: c.callback.lastError } : {}) };
  return v;
}

/** Whether `host` (and `port`) match one allow-list entry. */
function allowed(url: URL, allow: readonly string[]): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return allow.some((entry) => {
    const e = entry.trim().toLowerCase();
    const m = /^(.*?)(?::(\d+))?$/.exec(e.startsWith('[') ? e.replace(/^\[([^\]]+)\]/, '$1') : e)!;
    const [pattern, wantPort] = [m[1]!, m[2]];
    if (wantPort && wantPort !== port) return false;
    if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && !isIP(host);
    return host === pattern;
  });
}

export class AsyncCalls {
  readonly #o: AsyncCallsOptions;

  constructor(options: AsyncCallsOptions) {
    this.#o = options;
  }

  get queueKind(): string {
    return this.#o.queue.kind;
  }

  /** Checks an `X-Callback-Url`; returns the normalised URL. */
  checkCallback(raw: string | undefined): string | undefined {
    if (raw === undefined || raw.trim() === '') return undefined;
    let url: URL;
    try {
      url = new URL(raw.trim());
    } catch {
      throw new KssError('KSS_INVALID_CALLBACK', 'X-Callback-Url: not an absolute URL (e.g. http://receiver.example.com/done)');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new KssError('KSS_INVALID_CALLBACK', `X-Callback-Url: only http and https callbacks are allowed, not ${url.protocol.replace(':', '')}`);
    if (url.username || url.password) throw new KssError('KSS_INVALID_CALLBACK', 'X-Callback-Url: credentials in the URL are not allowed; put a token in the path or query instead');
    const allow = this.#o.callbackAllow ?? [];
    if (allow.length && !allowed(url, allow)) {
      throw new KssError('KSS_INVALID_CALLBACK', `X-Callback-Url: ${url.host} is not on this gateway's callback allow-list (kss up --callback-allow)`);
    }
    return url.href;
  }

  /** Stores the call durably and returns its id. */
  async accept(ref: FunctionRef, request: StoredRequest, callbackUrl: string | undefined): Promise<string> {
    const id = randomUUID();
    await this.#o.queue.enqueue({ id, namespace: ref.namespace, name: ref.name, request, ...(callbackUrl ? { callbackUrl } : {}), now: this.#o.clock.now() });
    this.#o.onEnqueued();
    return id;
  }

  async list(query: { function?: string; namespace?: string; state?: string; limit?: string }): Promise<CallView[]> {
    const filter: CallFilter = {};
    if (query.function) {
      const dot = query.function.indexOf('.');
      filter.name = dot < 0 ? query.function : query.function.slice(0, dot);
      if (dot >= 0) filter.namespace = query.function.slice(dot + 1);
    }
    if (query.namespace) filter.namespace = query.namespace;
    if (query.state !== undefined) {
      if (!STATES.includes(query.state as CallState)) throw new KssError('KSS_BAD_REQUEST', `state: "${query.state.slice(0, 40)}" is not one of ${STATES.join(', ')}`);
      filter.state = query.state as CallState;
    }
    if (query.limit !== undefined) {
      if (!/^\d+$/.test(query.limit) || Number(query.limit) < 1 || Number(query.limit) > 1000) throw new KssError('KSS_BAD_REQUEST', 'limit: a whole number from 1 to 1000');
      filter.limit = Number(query.limit);
    }
    return (await this.#o.queue.list(filter)).map((c) => callView(c));
  }

  async get(id: string): Promise<CallView> {
    const c = await this.#o.queue.get(id);
    if (!c) throw new KssError('KSS_CALL_NOT_FOUND', `no call with id "${id.slice(0, 80)}"; see \`kss calls list\``);
    return callView(c, true);
  }

  async replay(id: string): Promise<CallView> {
    const c = await this.#o.queue.replay(id, this.#o.clock.now());
    this.#o.onEnqueued();
    return callView(c);
  }
}
