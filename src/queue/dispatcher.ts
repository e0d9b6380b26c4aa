/**
 * The queue's workers: leases due calls, runs each through the same invoke path as a
 * synchronous request (so scale from zero, balancing and metrics apply), and settles
 * it — succeeded, retried with backoff, failed, or dead — then delivers callbacks.
 * Backend-agnostic: it only sees the {@link CallQueue} contract.
 *
 * Concurrency is bounded twice: per function (`kss.queue.concurrency`, default 10) and
 * over all functions (`globalConcurrency`, default 64), so one busy function cannot
 * starve the others' queued calls and the gateway cannot be flooded by its own queue.
 *
 * When the queue refuses a settle (a full disk, a broker away), the attempt's outcome is
 * kept in memory and written again with backoff until the queue takes it, instead of
 * waiting for the call's lease to expire and running it again: a call whose function
 * already answered is recorded within seconds of the queue being writable again. While an
 * outcome waits, its call is never leased again here (it still counts as running), and it
 * keeps one slot of `globalConcurrency`, so a queue that cannot record anything stops this
 * dispatcher from taking more work and the outcomes held stay bounded. On `stop` each one
 * gets one last write; one that still fails is dropped, and the lease (or, for the SQLite
 * queue, its requeue on open) runs the call again: at least once either way.
 */
import type { Logger } from 'pino';
import { isKssError, sleep, systemClock, type Clock } from '../core/index.js';
import type { CallQueue, CallRecord, Settlement, StoredResult } from './call-queue.js';
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
  /** Observes every settled attempt (metrics), once its settle is written. */
  onSettled?: (call: CallRecord, outcome: SettledOutcome) => void;
  /** Backoff between writes of an outcome the queue refused (default 100 ms → 5 s; no limit on tries). */
  settleRetry?: Pick<RetryPolicy, 'minWaitMs' | 'maxWaitMs'>;
}

/** How a settled attempt ended, as {@link DispatcherOptions.onSettled} sees it. */
export type SettledOutcome = 'succeeded' | 'retry' | 'failed' | 'dead';

/**
 * An attempt's outcome the queue has not recorded yet. Invariant: while it is in
 * `Dispatcher.#unsettled`, its call is not leased again by this dispatcher and it holds one
 * global slot (`#inFlight`); at most one write of it runs at a time.
 */
interface Unsettled {
  /** The call as this attempt leased it (its `attempts` tells our lease from a later one). */
  call: CallRecord;
  settlement: Settlement;
  outcome: SettledOutcome;
  /** Writes refused so far (the first one included): the backoff's step. */
  failures: number;
  /** Epoch ms of the first refusal. */
  since: number;
  /** Cancels the scheduled retry, when one is scheduled. */
  cancel?: () => void;
  /** The retry being written now, when one is. */
  writing?: Promise<void>;
}

/** Errors after which a settle is not worth retrying: the call is gone, or the queue is closed (the lease covers it). */
const FINAL_SETTLE_ERRORS = new Set(['KSS_CALL_NOT_FOUND', 'KSS_SHUTTING_DOWN']);

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
  /** Outcomes the queue refused to record, by call id, retried until written (see {@link Unsettled}). */
  readonly #unsettled = new Map<string, Unsettled>();
  readonly #settleRetry: Pick<RetryPolicy, 'minWaitMs' | 'maxWaitMs'>;
  /** Set when a stop makes its last writes: no retry is scheduled after that. */
  #final = false;
  #stopped = true;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: DispatcherOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#global = options.globalConcurrency ?? 64;
    this.#callbackRetry = options.callbackRetry ?? { attempts: 10, codes: new Set(), minWaitMs: 500, maxWaitMs: 60_000 };
    this.#settleRetry = options.settleRetry ?? { minWaitMs: 100, maxWaitMs: 5_000 };
  }

  /** Attempts that ended and whose outcome the queue has not recorded yet (refused ones wait here for their retry). */
  get unsettled(): number {
    return this.#unsettled.size;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#final = false;
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
   * another one sharing the queue); callbacks still in flight stay pending. Then each
   * outcome the queue refused so far gets one last write, without backoff: one that still
   * fails is dropped (logged), and its call runs again once its lease ends.
   */
  async stop(graceMs?: number): Promise<void> {
    this.#stopped = true;
    this.notify();
    await this.#loop;
    await this.#drain(graceMs);
    await this.#lastWrites();
  }

  async #drain(graceMs: number | undefined): Promise<void> {
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
    const pollMs = this.#o.pollMs ?? 50;
    /** Rounds in a row in which the queue failed (a full disk refuses even a lease): logged once, polled with backoff. */
    let failures = 0;
    while (!this.#stopped) {
      let worked = false;
      try {
        worked = (await this.#dispatchCalls()) || worked;
        worked = (await this.#dispatchCallbacks()) || worked;
        if (failures) this.#o.logger.info({ failures }, 'queue dispatch works again');
        failures = 0;
      } catch (err) {
        failures++;
        if (failures === 1) this.#o.logger.error({ err }, 'queue dispatch failed; retrying');
        else this.#o.logger.debug({ err, failures }, 'queue dispatch failed again');
      }
      if (this.#stopped) break;
      if (!worked) {
        // Up to 1 s between tries while the queue fails, so work resumes within about a second of it recovering.
        const waitMs = failures ? backoffMs({ minWaitMs: pollMs, maxWaitMs: Math.max(pollMs, 1_000) }, failures, this.#random) : pollMs;
        await new Promise<void>((resolve) => {
          const ac = new AbortController();
          this.#wake = () => ac.abort();
          void sleep(this.#clock, waitMs, ac.signal).catch(() => {}).then(() => {
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
      // An outcome of this call is still waiting to be recorded: running it again would run it twice at once.
      if (this.#unsettled.has(call.id)) return false;
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
    /** True when the outcome waits to be recorded: it keeps the global slot until then. */
    let held = false;
    try {
      const decided = await this.#decide(call, abort);
      this.#attempts.delete(abort);
      // The function's slot is free once the attempt ended, recorded or not.
      this.#perFunction.set(k, (this.#perFunction.get(k) ?? 1) - 1);
      const u: Unsettled = { call, ...decided, failures: 0, since: 0 };
      // From here until its outcome is recorded (or given up) the call is not leased again.
      this.#unsettled.set(call.id, u);
      held = !(await this.#write(u));
      if (held) this.#keep(u);
      else this.#unsettled.delete(call.id);
    } catch (err) {
      // Not the queue (#write does not throw): a bug in deciding the outcome. The lease expires and the call runs again.
      this.#o.logger.error({ err, call: call.id }, 'an async attempt failed unexpectedly; it will run again');
      if (this.#attempts.delete(abort)) this.#perFunction.set(k, (this.#perFunction.get(k) ?? 1) - 1);
    } finally {
      if (!held) this.#inFlight--;
    }
  }

  /** Runs one attempt and decides how it settles the call. */
  async #decide(call: CallRecord, abort: AbortController): Promise<{ settlement: Settlement; outcome: SettledOutcome }> {
    const policy = this.#o.policy(call.namespace, call.name);
    if (!policy) {
      return { settlement: { kind: 'failed', error: `function "${call.name}" no longer exists in namespace "${call.namespace}"` }, outcome: 'failed' };
    }
    const outcome = await this.#o.invoke(call, abort);
    const now = this.#clock.now();
    const answered = 'result' in outcome && outcome.result.status >= 200 && outcome.result.status < 400;
    if (abort.signal.aborted && this.#releasing && !answered) {
      // Cut off by a stop, not failed: back in the queue, due now; its attempt count stays (X-Kss-Attempt tells the rerun).
      return { settlement: { kind: 'retry', dueAt: now, error: 'the gateway stopped during this attempt; the call runs again' }, outcome: 'retry' };
    }
    const status = 'result' in outcome ? outcome.result.status : outcome.status;
    const result = 'result' in outcome ? outcome.result : undefined;
    if (result && status! >= 200 && status! < 400) return { settlement: { kind: 'succeeded', result }, outcome: 'succeeded' };
    const error = 'error' in outcome ? outcome.error : `the function answered ${status}`;
    if (!isRetryable(outcome, policy.retry)) return { settlement: { kind: 'failed', error, ...(result ? { result } : {}) }, outcome: 'failed' };
    if (call.attempts >= policy.retry.attempts) {
      return { settlement: { kind: 'dead', error: `${error} (after ${call.attempts} attempts)`, ...(result ? { result } : {}) }, outcome: 'dead' };
    }
    const dueAt = now + backoffMs(policy.retry, call.attempts, this.#random);
    return { settlement: { kind: 'retry', dueAt, error, ...(result ? { result } : {}) }, outcome: 'retry' };
  }

  /**
   * Writes `u`'s settlement. True when done with it: written, or no longer ours to write
   * (the call is gone, the queue closed, or — on a retry — the call is not the one this
   * attempt leased any more). False when the queue refused it and a retry may succeed.
   * Never throws.
   */
  async #write(u: Unsettled): Promise<boolean> {
    const { call } = u;
    try {
      if (u.failures > 0) {
        // A retry writes only over our own lease: the call still running with this attempt's count. After a
        // settle that failed late (a timeout), the write may have landed; with a shared queue, another gateway
        // may have leased the call once our lease expired (its attempt will settle it).
        const cur = await this.#o.queue.get(call.id);
        if (!cur || cur.state !== 'running' || cur.attempts !== call.attempts) {
          this.#o.logger.info({ call: call.id, state: cur?.state, attempts: cur?.attempts }, 'an async call changed while its outcome waited to be recorded; that outcome is dropped');
          return true;
        }
      }
      await this.#o.queue.settle(call.id, u.settlement, this.#clock.now());
    } catch (err) {
      if (isKssError(err) && FINAL_SETTLE_ERRORS.has(err.code)) {
        this.#o.logger.warn({ err, call: call.id }, 'could not settle an async call; it will run again when its lease ends');
        return true;
      }
      if (u.failures === 0) this.#o.logger.error({ err, call: call.id }, 'could not settle an async call; keeping its outcome and retrying');
      else this.#o.logger.debug({ err, call: call.id, failures: u.failures }, 'could not settle an async call yet');
      return false;
    }
    if (u.failures > 0) this.#o.logger.info({ call: call.id, failures: u.failures, waitedMs: this.#clock.now() - u.since }, 'settled an async call whose outcome had waited to be recorded');
    this.#o.onSettled?.(call, u.outcome);
    if (u.outcome === 'dead') this.#o.logger.warn({ call: call.id, function: `${call.name}.${call.namespace}`, attempts: call.attempts, error: u.settlement.kind === 'dead' ? u.settlement.error : undefined }, 'async call is a dead letter');
    return true;
  }

  /** Keeps a refused outcome (it holds its global slot, and stays in `#unsettled`) and schedules its next write. */
  #keep(u: Unsettled): void {
    u.failures = 1;
    u.since = this.#clock.now();
    this.#scheduleWrite(u);
  }

  #scheduleWrite(u: Unsettled): void {
    if (this.#final) return;
    u.cancel = this.#clock.setTimeout(() => {
      u.cancel = undefined;
      u.writing = this.#rewrite(u).finally(() => (u.writing = undefined));
    }, backoffMs(this.#settleRetry, u.failures, this.#random));
  }

  async #rewrite(u: Unsettled): Promise<void> {
    if (await this.#write(u)) this.#forget(u);
    else {
      u.failures++;
      this.#scheduleWrite(u);
    }
  }

  /** `u` is written or given up: its slot is free again. */
  #forget(u: Unsettled): void {
    if (this.#unsettled.get(u.call.id) !== u) return;
    u.cancel?.();
    this.#unsettled.delete(u.call.id);
    this.#inFlight--;
    this.notify();
  }

  /** On stop: one last write of each outcome still waiting; what fails now is left to the lease. */
  async #lastWrites(): Promise<void> {
    this.#final = true;
    const waiting = [...this.#unsettled.values()];
    for (const u of waiting) {
      u.cancel?.();
      u.cancel = undefined;
    }
    await Promise.all(
      waiting.map(async (u) => {
        // A retry being written ends by itself (and schedules none: #final).
        await u.writing;
        if (this.#unsettled.get(u.call.id) !== u) return;
        if (!(await this.#write(u))) {
          this.#o.logger.warn({ call: u.call.id, waitedMs: this.#clock.now() - u.since }, 'stopping with an async call whose outcome could not be recorded; it runs again when its lease ends');
        }
        this.#forget(u);
      }),
    );
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
      // Delivered: a failure to record it is not a failed delivery (the callback lease ends and it may be sent again).
      await this.#o.queue.settleCallback(call.id, { delivered: true }, this.#clock.now()).catch((e: unknown) => {
        this.#o.logger.error({ err: e, call: call.id }, 'could not record a delivered callback; it may be delivered again');
      });
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
