/**
 * What the invoke path reports. The data path only emits these events; readers
 * (the status API now, the autoscaler and Prometheus later) consume them, so the
 * invoke path never waits on the control path.
 */
import type { FunctionRef } from '../core/index.js';

/** Receives events from the invoke path. Implementations must be cheap and never throw. */
export interface InvokeObserver {
  /** A request for `ref` was accepted by the gateway. */
  started(ref: FunctionRef): void;
  /** It finished with `status` (a function's own status, or the platform's error status) after `seconds`. */
  finished(ref: FunctionRef, status: number, seconds: number): void;
  /** It had to wait for a replica to become ready (a cold start). */
  coldStart(ref: FunctionRef, waitedSeconds: number): void;
}

/** Per-function counters since the gateway started. */
export interface FunctionCounters {
  invocationCount: number;
  inFlight: number;
  coldStarts: number;
}

/** In-memory counters for `invocationCount` and cold starts in the status API. */
export class InvocationStats implements InvokeObserver {
  readonly #counters = new Map<string, FunctionCounters>();

  started(ref: FunctionRef): void {
    const c = this.#entry(ref);
    c.inFlight++;
  }

  finished(ref: FunctionRef): void {
    const c = this.#entry(ref);
    c.inFlight--;
    c.invocationCount++;
  }

  coldStart(ref: FunctionRef): void {
    this.#entry(ref).coldStarts++;
  }

  get(ref: FunctionRef): FunctionCounters {
    return this.#counters.get(key(ref)) ?? { invocationCount: 0, inFlight: 0, coldStarts: 0 };
  }

  /** Forgets a removed function, so a new one with the same name starts from zero. */
  forget(ref: FunctionRef): void {
    this.#counters.delete(key(ref));
  }

  #entry(ref: FunctionRef): FunctionCounters {
    const k = key(ref);
    let c = this.#counters.get(k);
    if (!c) this.#counters.set(k, (c = { invocationCount: 0, inFlight: 0, coldStarts: 0 }));
    return c;
  }
}

/** Fans events out to several observers. */
export function combineObservers(...observers: InvokeObserver[]): InvokeObserver {
  return {
    started: (ref) => observers.forEach((o) => o.started(ref)),
    finished: (ref, status, s) => observers.forEach((o) => o.finished(ref, status, s)),
    coldStart: (ref, s) => observers.forEach((o) => o.coldStart(ref, s)),
  };
}

function key(ref: FunctionRef): string {
  return `${ref.namespace}/${ref.name}`;
}
