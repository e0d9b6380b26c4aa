/**
 * What the invoke path reports. The data path only emits these events; readers
 * (the status API, the autoscaler, later Prometheus) consume them, so the invoke
 * path never waits on the control path.
 */
import { systemClock, type Clock, type FunctionRef } from '../core/index.js';

/** Receives events from the invoke path. Implementations must be cheap and never throw. */
export interface InvokeObserver {
  /** A request for `ref` was accepted by the gateway. */
  started(ref: FunctionRef): void;
  /**
   * It finished with `status` (a function's own status, or the platform's error
   * status) after `seconds`, of which `coldWaitSeconds` waiting for a replica.
   */
  finished(ref: FunctionRef, status: number, seconds: number, coldWaitSeconds?: number): void;
  /** It had to wait for a replica to become ready (a cold start). */
  coldStart(ref: FunctionRef, waitedSeconds: number): void;
}

/** Per-function counters since the gateway started. */
export interface FunctionCounters {
  invocationCount: number;
  inFlight: number;
  coldStarts: number;
  /** When the last request started (epoch ms), 0 if none yet. */
  lastRequestAt: number;
  /** Seconds spent answering requests, summed (the base of the cost figures). */
  busySeconds: number;
}

interface Entry extends FunctionCounters {
  /** ∫ inFlight dt since the last sample, in request·ms: the autoscaler's average concurrency. */
  area: number;
  /** When `area` was last brought up to date. */
  areaAt: number;
  /** When the last sample was taken. */
  sampledAt: number;
}

/**
 * In-memory counters: `invocationCount` and cold starts for the status API, and a
 * time-weighted concurrency for the autoscaler (Knative's "average concurrency":
 * short requests between two samples still count for the time they were in flight).
 */
export class InvocationStats implements InvokeObserver {
  readonly #entries = new Map<string, Entry>();
  readonly #clock: Clock;

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  started(ref: FunctionRef): void {
    const e = this.#entry(ref);
    const now = this.#clock.now();
    this.#accumulate(e, now);
    e.inFlight++;
    e.lastRequestAt = now;
  }

  finished(ref: FunctionRef, _status?: number, seconds = 0): void {
    const e = this.#entry(ref);
    this.#accumulate(e, this.#clock.now());
    e.inFlight--;
    e.invocationCount++;
    e.busySeconds += seconds;
  }

  coldStart(ref: FunctionRef): void {
    this.#entry(ref).coldStarts++;
  }

  get(ref: FunctionRef): FunctionCounters {
    const e = this.#entries.get(key(ref));
    return e
      ? { invocationCount: e.invocationCount, inFlight: e.inFlight, coldStarts: e.coldStarts, lastRequestAt: e.lastRequestAt, busySeconds: e.busySeconds }
      : { invocationCount: 0, inFlight: 0, coldStarts: 0, lastRequestAt: 0, busySeconds: 0 };
  }

  /**
   * Average number of requests in flight since the previous sample of `ref` (the
   * autoscaler calls this once per tick), and the counters at this moment.
   */
  sample(ref: FunctionRef): { concurrency: number } & FunctionCounters {
    const e = this.#entry(ref);
    const now = this.#clock.now();
    this.#accumulate(e, now);
    const span = now - e.sampledAt;
    const concurrency = span > 0 ? e.area / span : e.inFlight;
    e.area = 0;
    e.sampledAt = now;
    return { concurrency, invocationCount: e.invocationCount, inFlight: e.inFlight, coldStarts: e.coldStarts, lastRequestAt: e.lastRequestAt, busySeconds: e.busySeconds };
  }

  /** Forgets a removed function, so a new one with the same name starts from zero. */
  forget(ref: FunctionRef): void {
    this.#entries.delete(key(ref));
  }

  #accumulate(e: Entry, now: number): void {
    e.area += e.inFlight * (now - e.areaAt);
    e.areaAt = now;
  }

  #entry(ref: FunctionRef): Entry {
    const k = key(ref);
    let e = this.#entries.get(k);
    if (!e) {
      const now = this.#clock.now();
      this.#entries.set(k, (e = { invocationCount: 0, inFlight: 0, coldStarts: 0, lastRequestAt: 0, busySeconds: 0, area: 0, areaAt: now, sampledAt: now }));
    }
    return e;
  }
}

/** Fans events out to several observers. */
export function combineObservers(...observers: InvokeObserver[]): InvokeObserver {
  return {
    started: (ref) => observers.forEach((o) => o.started(ref)),
    finished: (ref, status, s, cold) => observers.forEach((o) => o.finished(ref, status, s, cold)),
    coldStart: (ref, s) => observers.forEach((o) => o.coldStart(ref, s)),
  };
}

function key(ref: FunctionRef): string {
  return `${ref.namespace}/${ref.name}`;
}
