/**
 * The data path: resolve a function's ready replicas → wait (bounded) while none is
 * ready → pick the least loaded → proxy the request through a keep-alive pool with
 * the body streamed both ways. It emits stats and never calls the control path.
 */
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream';
import { Agent, errors as undiciErrors } from 'undici';
import type { Logger } from 'pino';
import {
  KssError,
  canReportFailure,
  canWatchReplicas,
  systemClock,
  type Clock,
  type Endpoint,
  type FunctionRef,
  type Provider,
} from '../core/index.js';
import { LeastInFlightBalancer } from './balancer.js';
import { BodyLimit, payloadTooLarge } from './body-limit.js';
import { forwardableResponseHeaders } from './hop-headers.js';
import type { InvokeObserver } from './invocation-stats.js';

/** A request to a function, independent of where it came from (HTTP, queue, trigger). */
export interface InvocationRequest {
  method: string;
  /** Path and query as the function should see them; starts with '/'. */
  path: string;
  /** Raw header list `[name, value, …]`, hop-by-hop headers already removed. */
  headers: string[];
  body: Readable | Buffer | null;
  /** Declared body length, when known. */
  contentLength?: number;
  /**
   * Pins the request to one revision in the function's split (`/function/NAME@r3`);
   * otherwise an `X-Kss-Revision` request header does, otherwise the weights choose.
   */
  revision?: string;
}

/** One revision in a function's traffic split, as the invoke path routes to it. */
export interface Route {
  revision: string;
  /** The provider-level deployment that runs it. */
  deployment: FunctionRef;
  /** Whole-number share, 0–100 (0: reachable only when pinned). */
  percent: number;
}

/** Called once with the function's status and headers; returns where its body goes. */
export type ResponseTarget = (status: number, headers: Record<string, string | string[]>) => Writable;

/** What the invoke path needs to know about a function, from an in-memory cache (no I/O). */
export interface FunctionLookup {
  (ref: FunctionRef): { timeoutSeconds: number; maxInflight?: number; maxReplicas?: number; routes?: readonly Route[] } | undefined;
}

export interface InvokerOptions {
  provider: Provider;
  lookup: FunctionLookup;
  observer: InvokeObserver;
  logger: Logger;
  clock?: Clock;
  /** Largest request body accepted, in bytes (default 10 MiB). */
  maxBodyBytes?: number;
  /** Longest a request waits for a first ready replica (default 30 s; the function's timeout if shorter). */
  maxColdWaitMs?: number;
  /** Most requests held at once per function waiting for a ready replica (default 1000). */
  maxColdWaiters?: number;
  /**
   * Called (not awaited) when a request finds no ready replica: brings a function at
   * zero back up. The one place the data path reaches the control path.
   */
  activate?: (ref: FunctionRef) => Promise<void>;
}

export interface InvocationResult {
  status: number;
  endpointId: string;
  coldStart: boolean;
  /** The revision that served it, when the function has revisions. */
  revision?: string;
}

export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

/** Routes invocations to replicas. One per gateway. */
export class Invoker {
  readonly #provider: Provider;
  readonly #lookup: FunctionLookup;
  readonly #observer: InvokeObserver;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #maxBody: number;
  readonly #maxColdWaitMs: number;
  readonly #maxColdWaiters: number;
  readonly #coldWaiters = new Map<string, number>();
  readonly #activate: InvokerOptions['activate'];
  readonly #balancer = new LeastInFlightBalancer();
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #unwatch: (() => void) | undefined;
  /**
   * One keep-alive pool per replica origin. Idle sockets close after 30 s, well
   * before the runtime's 75 s keep-alive, so the gateway never reuses a socket the
   * replica is closing.
   */
  readonly #agent = new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 30_000, connections: null, pipelining: 1 });

  constructor(options: InvokerOptions) {
    this.#provider = options.provider;
    this.#lookup = options.lookup;
    this.#observer = options.observer;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.#maxColdWaitMs = options.maxColdWaitMs ?? 30_000;
    this.#maxColdWaiters = options.maxColdWaiters ?? 1000;
    this.#activate = options.activate;
    this.#unwatch = canWatchReplicas(this.#provider) ? this.#provider.onReplicasChanged((ref) => this.#wake(ref)) : undefined;
  }

  get maxBodyBytes(): number {
    return this.#maxBody;
  }

  /**
   * Invokes `ref`. Rejects with a {@link KssError} for platform failures; when the
   * function's headers were already written to the target, the target is destroyed
   * instead (the client sees a cut connection, as with any proxy). `abort`, when
   * given, is aborted by the caller when its client goes away; the invoker also
   * aborts it on timeout, so a request costs one controller.
   */
  async invoke(fnRef: FunctionRef, req: InvocationRequest, target: ResponseTarget, abort?: AbortController): Promise<InvocationResult> {
    const signal = abort?.signal;
    const fn = this.#lookup(fnRef);
    if (!fn) throw new KssError('KSS_FUNCTION_NOT_FOUND', `function "${fnRef.name}" not found in namespace "${fnRef.namespace}"; see \`kss list\``);
    if (req.contentLength !== undefined && req.contentLength > this.#maxBody) throw payloadTooLarge(this.#maxBody);
    // From here on `ref` is the deployment that serves: the chosen revision's, or the function's own.
    const route = fn.routes ? chooseRoute(fnRef, fn.routes, req.revision ?? headerValue(req.headers, 'x-kss-revision')) : undefined;
    const ref = route?.deployment ?? fnRef;
    if (route) target = withRevisionHeader(target, route.revision);

    const started = this.#clock.now();
    const timeoutMs = fn.timeoutSeconds * 1000;
    const deadline = started + timeoutMs;
    this.#observer.started(ref);
    let status = 0;
    let coldWait = 0;
    try {
      let endpoints = this.#provider.resolve(ref);
      let coldStart = false;
      if (endpoints.length === 0) {
        coldStart = true;
        const k = `${ref.namespace}/${ref.name}`;
        const waiting = this.#coldWaiters.get(k) ?? 0;
        if (waiting >= this.#maxColdWaiters) {
          throw new KssError('KSS_OVERLOADED', `${waiting} requests are already waiting for "${ref.name}" to start; retry shortly`, { retryAfter: 1 });
        }
        this.#coldWaiters.set(k, waiting + 1);
        this.#activate?.(ref).catch((err: unknown) => this.#logger.error({ err, function: `${ref.name}.${ref.namespace}` }, 'could not start a replica'));
        try {
          endpoints = await this.#waitForEndpoints(fnRef, ref, Math.min(deadline, started + this.#maxColdWaitMs), signal);
        } finally {
          const left = (this.#coldWaiters.get(k) ?? 1) - 1;
          if (left > 0) this.#coldWaiters.set(k, left);
          else this.#coldWaiters.delete(k);
        }
        coldWait = (this.#clock.now() - started) / 1000;
        this.#observer.coldStart(ref, coldWait);
      }
      const { endpoint, release } = this.#balancer.acquire(endpoints);
      if (fn.maxInflight !== undefined && this.#balancer.inFlight(endpoint.id) > fn.maxInflight && endpoints.length >= (fn.maxReplicas ?? Infinity)) {
        // Even the least loaded replica is at its cap, and no more replicas may be added.
        release();
        throw new KssError('KSS_CAPACITY_EXCEEDED', `every replica of "${ref.name}" is at its limit of ${fn.maxInflight} requests (max_inflight) and the function is at its maximum of ${fn.maxReplicas} replicas; retry shortly`, { retryAfter: 1 });
      }
      try {
        // A cold start says so (`X-Kss-Cold-Start-Seconds`: how long the request waited), for the dashboard and curl -i.
        const to: ResponseTarget = coldStart ? withColdStartHeader(target, coldWait) : target;
        status = await this.#proxy(ref, endpoint, req, to, deadline - this.#clock.now(), fn.timeoutSeconds, abort);
      } finally {
        release();
      }
      return route ? { status, endpointId: endpoint.id, coldStart, revision: route.revision } : { status, endpointId: endpoint.id, coldStart };
    } catch (err) {
      if (err instanceof KssError) status = err.status;
      throw err;
    } finally {
      this.#observer.finished(ref, status || 499, (this.#clock.now() - started) / 1000, coldWait);
    }
  }

  /** Closes the connection pools. */
  async close(): Promise<void> {
    this.#unwatch?.();
    await this.#agent.close();
  }

  async #proxy(ref: FunctionRef, endpoint: Endpoint, req: InvocationRequest, target: ResponseTarget, timeoutMs: number, timeoutSeconds: number, abort?: AbortController): Promise<number> {
    // One controller per request: the caller's (aborted when its client goes away) or ours.
    // Timeout and client loss both abort it; which one happened is told by `timedOut`.
    const controller = abort ?? new AbortController();
    let timedOut = false;
    const cancelTimer = this.#clock.setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, Math.max(0, timeoutMs));

    let body: Readable | Buffer | null = req.method === 'GET' || req.method === 'HEAD' ? null : req.body;
    let limitError: unknown;
    if (body && !Buffer.isBuffer(body) && req.contentLength === undefined) {
      // Chunked bodies have no declared length: count as they stream.
      const limiter = new BodyLimit(this.#maxBody);
      pipeline(body, limiter, (err) => {
        if (err) limitError = err;
      });
      body = limiter;
    }

    let status = 0;
    let headersSent = false;
    let sink: Writable | undefined;
    try {
      await this.#agent.stream(
        {
          origin: endpoint.origin,
          path: req.path,
          method: req.method as 'GET',
          headers: req.headers,
          body,
          signal: controller.signal,
          // The whole-request deadline above governs; undici's own timers would cut long functions short.
          headersTimeout: 0,
          bodyTimeout: 0,
        },
        ({ statusCode, headers }) => {
          status = statusCode;
          headersSent = true;
          sink = target(statusCode, forwardableResponseHeaders(headers as Record<string, string | string[] | undefined>));
          return sink;
        },
      );
      return status;
    } catch (err) {
      let error: KssError;
      if (timedOut) {
        error = new KssError('KSS_FUNCTION_TIMEOUT', `function "${ref.name}" did not answer within its timeout of ${timeoutSeconds}s`);
      } else if (controller.signal.aborted || isPrematureClose(err)) {
        // The caller went away: nothing is wrong with the replica, and nobody is left to answer.
        error = new KssError('KSS_CLIENT_CLOSED', 'the client closed the request before it finished');
      } else {
        error = classify(err, limitError);
        if (error.code === 'KSS_REPLICA_FAILED') {
          this.#logger.warn({ function: `${ref.name}.${ref.namespace}`, instance: endpoint.id, err }, 'replica failed during a request');
          if (canReportFailure(this.#provider)) this.#provider.reportFailure(ref, endpoint.id, error.message);
        }
      }
      if (headersSent) sink?.destroy(error);
      throw error;
    } finally {
      cancelTimer();
    }
  }

  /** Waits until deployment `ref` of function `fnRef` has a ready endpoint, the deadline passes, or the caller goes away. */
  #waitForEndpoints(fnRef: FunctionRef, ref: FunctionRef, deadline: number, signal?: AbortSignal): Promise<readonly Endpoint[]> {
    const key = `${ref.namespace}/${ref.name}`;
    return new Promise((resolve, reject) => {
      let set = this.#waiters.get(key);
      if (!set) this.#waiters.set(key, (set = new Set()));
      const waiters = set;
      const cleanup = () => {
        waiters.delete(check);
        if (waiters.size === 0) this.#waiters.delete(key);
        cancelTimer();
        cancelPoll();
        signal?.removeEventListener('abort', onAbort);
      };
      const check = () => {
        if (!this.#lookup(fnRef)) {
          cleanup();
          reject(new KssError('KSS_FUNCTION_NOT_FOUND', `function "${ref.name}" was removed`));
          return;
        }
        const eps = this.#provider.resolve(ref);
        if (eps.length > 0) {
          cleanup();
          resolve(eps);
        }
      };
      const onAbort = () => {
        cleanup();
        reject(signal?.reason);
      };
      const cancelTimer = this.#clock.setTimeout(() => {
        cleanup();
        reject(new KssError('KSS_NO_REPLICAS', `function "${ref.name}" has no ready replica yet; see \`kss describe ${ref.name}\``, { retryAfter: 1 }));
      }, Math.max(0, deadline - this.#clock.now()));
      // Providers without change events are polled.
      let cancelPoll = () => {};
      if (!this.#unwatch) {
        const poll = () => {
          check();
          cancelPoll = this.#clock.setTimeout(poll, 50);
        };
        cancelPoll = this.#clock.setTimeout(poll, 50);
      }
      waiters.add(check);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #wake(ref: FunctionRef): void {
    const set = this.#waiters.get(`${ref.namespace}/${ref.name}`);
    if (set) for (const check of [...set]) check();
  }
}

/**
 * The revision a request goes to: the pinned one (any in the split, even at 0%), or
 * one drawn by weight. `random` is injectable for the statistical test.
 */
export function chooseRoute(ref: FunctionRef, routes: readonly Route[], pinned: string | undefined, random: () => number = Math.random): Route {
  if (pinned !== undefined) {
    const hit = routes.find((r) => r.revision === pinned);
    if (hit) return hit;
    throw new KssError('KSS_REVISION_NOT_FOUND', `revision "${pinned.slice(0, 20)}" of "${ref.name}" is not in its traffic split (${routes.map((r) => `${r.revision}=${r.percent}`).join(' ')}); add it with \`kss traffic ${ref.name} ${routes.map((r) => `${r.revision}=${r.percent}`).join(' ')} ${isRevisionLike(pinned) ? pinned : 'rN'}=0\` to test it`);
  }
  if (routes.length === 1) return routes[0]!;
  let draw = random() * 100;
  for (const r of routes) {
    if (r.percent <= 0) continue;
    draw -= r.percent;
    if (draw < 0) return r;
  }
  // Rounding at the top end: the last revision with a share.
  return [...routes].reverse().find((r) => r.percent > 0) ?? routes[0]!;
}

function isRevisionLike(v: string): boolean {
  return /^r[1-9][0-9]{0,8}$/.test(v);
}

/** A header's value from a raw `[name, value, …]` list (names compared case-insensitively). */
function headerValue(headers: string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === name) return headers[i + 1];
  return undefined;
}

/** Wraps a target so every reply says which revision served it. */
function withRevisionHeader(target: ResponseTarget, revision: string): ResponseTarget {
  return (status, headers) => {
    headers['x-kss-revision'] = revision;
    return target(status, headers);
  };
}

/** Maps whatever went wrong talking to the replica to one catalogue error. */
function classify(err: unknown, limitError: unknown): KssError {
  if (limitError instanceof KssError) return limitError;
  if (err instanceof KssError) return err;
  if (err instanceof undiciErrors.RequestContentLengthMismatchError) {
    return new KssError('KSS_BAD_REQUEST', 'the request body does not match its Content-Length');
  }
  return new KssError('KSS_REPLICA_FAILED', 'the function replica closed the connection or could not be reached; it is being restarted', { cause: err });
}

/** The response target closed before the reply was written (the client hung up mid-response). */
function isPrematureClose(err: unknown): boolean {
  return (err as { code?: string })?.code === 'ERR_STREAM_PREMATURE_CLOSE';
}

/** Wraps a target so the response carries how long the request waited for a replica. */
function withColdStartHeader(target: ResponseTarget, waitedSeconds: number): ResponseTarget {
  return (status, headers) => {
    headers['x-kss-cold-start-seconds'] = waitedSeconds.toFixed(6);
    return target(status, headers);
  };
}
