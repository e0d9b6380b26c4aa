/**
 * The queue's workers: leases due calls, runs each through the same invoke path as a
 * synchronous request (so scale from zero, balancing and metrics apply), and settles
 * it — succeeded, retried with backoff, failed, or dead — then delivers callbacks.
 * Backend-agnostic: it only sees the {@link CallQueue} contract.
 *
 * Concurrency is bounded twice: per function (`kss.queue.concurrency`, default 10) and
 * over all functions (`globalConcurrency`, default 64), so one busy function cannot
 * starve the others' queued calls and the gateway cannot be flooded by its own queue.
 */
import type { Logger } from 'pino';
import { sleep, systemClock, type Clock } from '../core/index.js';
import type { CallQueue, CallRecord, StoredResult } from './call-queue.js';
import { backoffMs, isRetryable, type RetryPolicy } from './retry-policy.js';

/** What one attempt gave: the function's reply, or why there was none. */
export type AttemptOutcome = { result: StoredResult } | { error: string; status?: number };

/** What the dispatcher needs to know about a function (from the service's cache). */
export interface QueuedFunctionPolicy {
  retry: RetryPolicy;
  concurrency: number;
  timeoutSeconds: number;
}

export interface DispatcherOptions {
  queue: CallQueue;
  /**
   * Runs one attempt of `call` (the invoke path); never rejects. `abort` is aborted when
   * the dispatcher stops and its grace period ends before the attempt does.
   */
  invoke: (call: CallRecord, abort: AbortController) => Promise<AttemptOutcome>;
  /** The function's policy, or undefined when it no longer exists (its calls then fail). */
  policy: (namespace: string, name: string) => QueuedFunctionPolicy | undefined;
  /** POSTs a finished call's result to its callback URL; rejects when not delivered (non-2xx, connection error). */
  deliverCallback: (call: CallRecord) => Promise<void>;
  logger: Logger;
  clock?: Clock;
  /** In [0, 1); injectable so the backoff schedule is testable. */
  random?: () => number;
  globalConcurrency?: number;
  /** Idle poll interval; an enqueue wakes the dispatcher at once (`notify`). Default 50 ms. */
  pollMs?: number;
  /** Callback retries: attempts in all and the backoff (default 10, 500 ms → 60 s). */
  callbackRetry?: RetryPolicy;
  /** The longest timeout of any deployed function, in seconds (leases outlast it; default 60). */
  maxTimeoutSeconds?: () => number;
  /** Observes every settled attempt (metrics). */
  onSettled?: (call: CallRecord, outcome: 'succeeded' | 'retry' | 'failed' | 'dead') => void;
}

/**
 * A running call is leased for its function's timeout plus this margin: a live attempt
 * always ends (the invoke path enforces the timeout) before its lease does, so it is
 * never run twice at once; a gateway that died mid-attempt gives its calls back after
 * about that long. Only matters with a shared (JetStream) queue: the SQLite queue
 * requeues its running calls when it is opened.
 */
export const LEASE_MARGIN_MS = 15_000;

export class Dispatcher {
  readonly #o: DispatcherOptions;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #global: number;
  readonly #perFunction = new Map<string, number>();
  readonly #callbackRetry: RetryPolicy;
  #inFlight = 0;
  #running = new Set<Promise<void>>();
  /** The attempts running now, so a stop can cut them off and give their calls back. */
  readonly #attempts = new Set<AbortController>();
  /** Set when a stop's grace period ended: the attempts still running are returned to the queue. */
  #releasing = false;
  #stopped = true;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: DispatcherOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#global = options.globalConcurrency ?? 64;
    this.#callbackRetry = options.callbackRetry ?? { attempts: 10, codes: new Set(), minWaitMs: 500, maxWaitMs: 60_000 };
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#loop = this.#run();
  }

  /** A call was enqueued (or a slot freed): look for work now instead of at the next poll. */
  notify(): void {
    this.#wake?.();
  }

  /**
   * Stops leasing and waits for the attempts in flight (their calls are settled). With
   * `graceMs`, attempts still running after that long are cut off and their calls
   * returned to the queue, due at once (they run again, on this gateway's next start or on
   * another one sharing the queue); callbacks still in flight stay pending.
   */
  async stop(graceMs?: number): Promise<void> {
    this.#stopped = true;
    this.notify();
    await this.#loop;
    const all = Promise.all([...this.#running]);
    if (graceMs === undefined) {
      await all;
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const graceOver = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), Math.max(0, graceMs))));
    const timedOut = await Promise.race([all.then(() => false), graceOver]);
    clearTimeout(timer);
    if (!timedOut) return;
    this.#releasing = true;
    if (this.#attempts.size) this.#o.logger.info({ calls: this.#attempts.size }, 'shutdown grace period over: returning running async calls to the queue');
    for (const abort of this.#attempts) abort.abort();
    await all;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      let worked = false;
      try {
        worked = (await this.#dispatchCalls()) || worked;
        worked = (await this.#dispatchCallbacks()) || worked;
      } catch (err) {
        this.#o.logger.error({ err }, 'queue dispatch failed; retrying');
      }
      if (this.#stopped) break;
      if (!worked) {
        await new Promise<void>((resolve) => {
          const ac = new AbortController();
          this.#wake = () => ac.abort();
          void sleep(this.#clock, this.#o.pollMs ?? 50, ac.signal).catch(() => {}).then(() => {
            this.#wake = undefined;
            resolve();
          });
        });
      }
    }
  }

  async #dispatchCalls(): Promise<boolean> {
    const free = this.#global - this.#inFlight;
    if (free <= 0) return false;
    const now = this.#clock.now();
    const taken = new Map<string, number>();
    const calls = await this.#o.queue.lease(free, now, this.#leaseMs(), (call) => {
      const k = `${call.namespace}/${call.name}`;
      const limit = this.#o.policy(call.namespace, call.name)?.concurrency ?? 1;
      const busy = (this.#perFunction.get(k) ?? 0) + (taken.get(k) ?? 0);
      if (busy >= limit) return false;
      taken.set(k, (taken.get(k) ?? 0) + 1);
      return true;
    });
    for (const call of calls) this.#track(this.#attempt(call));
    return calls.length > 0;
  }

  /** The lease of this round: the longest timeout among the functions with queued calls would do; all functions' is simpler and safe. */
  #leaseMs(): number {
    return (this.#o.maxTimeoutSeconds?.() ?? 60) * 1000 + LEASE_MARGIN_MS;
  }

  #track(p: Promise<void>): void {
    this.#running.add(p);
    void p.finally(() => {
      this.#running.delete(p);
      this.notify();
    });
  }

  async #attempt(call: CallRecord): Promise<void> {
    const k = `${call.namespace}/${call.name}`;
    this.#inFlight++;
    this.#perFunction.set(k, (this.#perFunction.get(k) ?? 0) + 1);
    const abort = new AbortController();
    this.#attempts.add(abort);
    try {
      const policy = this.#o.policy(call.namespace, call.name);
      if (!policy) {
        await this.#o.queue.settle(call.id, { kind: 'failed', error: `function "${call.name}" no longer exists in namespace "${call.namespace}"` }, this.#clock.now());
        this.#o.onSettled?.(call, 'failed');
        return;
      }
      const outcome = await this.#o.invoke(call, abort);
      const now = this.#clock.now();
      const answered = 'result' in outcome && outcome.result.status >= 200 && outcome.result.status < 400;
      if (abort.signal.aborted && this.#releasing && !answered) {
        // Cut off by a stop, not failed: back in the queue, due now; its attempt count stays (X-Kss-Attempt tells the rerun).
        await this.#o.queue.settle(call.id, { kind: 'retry', dueAt: now, error: 'the gateway stopped during this attempt; the call runs again' }, now);
        this.#o.onSettled?.(call, 'retry');
        return;
      }
      const status = 'result' in outcome ? outcome.result.status : outcome.status;
      const result = 'result' in outcome ? outcome.result : undefined;
      if (result && status! >= 200 && status! < 400) {
        await this.#o.queue.settle(call.id, { kind: 'succeeded', result }, now);
        this.#o.onSettled?.(call, 'succeeded');
        return;
      }
      const error = 'error' in outcome ? outcome.error : `the function answered ${status}`;
      const retryable = isRetryable(outcome, policy.retry);
      if (!retryable) {
        await this.#o.queue.settle(call.id, { kind: 'failed', error, ...(result ? { result } : {}) }, now);
        this.#o.onSettled?.(call, 'failed');
      } else if (call.attempts >= policy.retry.attempts) {
        await this.#o.queue.settle(call.id, { kind: 'dead', error: `${error} (after ${call.attempts} attempts)`, ...(result ? { result } : {}) }, now);
        this.#o.onSettled?.(call, 'dead');
        this.#o.logger.warn({ call: call.id, function: `${call.name}.${call.namespace}`, attempts: call.attempts, error }, 'async call is a dead letter');
      } else {
        const dueAt = now + backoffMs(policy.retry, call.attempts, this.#random);
        await this.#o.queue.settle(call.id, { kind: 'retry', dueAt, error, ...(result ? { result } : {}) }, now);
        this.#o.onSettled?.(call, 'retry');
      }
    } catch (err) {
      // The queue itself failed (disk full, closed): the lease expires and the call runs again.
      this.#o.logger.error({ err, call: call.id }, 'could not settle an async call; it will run again');
    } finally {
      this.#attempts.delete(abort);
      this.#inFlight--;
      this.#perFunction.set(k, (this.#perFunction.get(k) ?? 1) - 1);
    }
  }

  async #dispatchCallbacks(): Promise<boolean> {
    const free = this.#global - this.#inFlight;
    if (free <= 0) return false;
    const calls = await this.#o.queue.leaseCallbacks(Math.min(free, 16), this.#clock.now(), 30_000);
    for (const call of calls) this.#track(this.#callback(call));
    return calls.length > 0;
  }

  async #callback(call: CallRecord): Promise<void> {
    this.#inFlight++;
    try {
      await this.#o.deliverCallback(call);
      await this.#o.queue.settleCallback(call.id, { delivered: true }, this.#clock.now());
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      const attempts = call.callback.attempts;
      const retryAt = attempts >= this.#callbackRetry.attempts ? undefined : this.#clock.now() + backoffMs(this.#callbackRetry, attempts, this.#random);
      if (retryAt === undefined) this.#o.logger.warn({ call: call.id, url: call.callbackUrl, error }, 'callback not delivered; giving up');
      await this.#o.queue.settleCallback(call.id, { delivered: false, error, ...(retryAt !== undefined ? { retryAt } : {}) }, this.#clock.now()).catch((e: unknown) => {
        this.#o.logger.error({ err: e, call: call.id }, 'could not record a callback attempt');
      });
    } finally {
      this.#inFlight--;
    }
  }
}
