/**
 * Time, passed in rather than read from globals, so the autoscaler, the queue and
 * the supervisor's backoff can be tested on a fake clock.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Like `setTimeout`; returns a function that cancels the timer. */
  setTimeout(fn: () => void, ms: number): () => void;
}

/** The real clock. Timers are unref'd so a pending backoff never keeps the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

/** Resolves after `ms` on `clock`, or rejects with the signal's reason when aborted. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      cancel();
      reject(signal?.reason);
    };
    const cancel = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `tick` every `ms` on `clock`, the next round armed only once the previous one
 * settled (a slow round delays the next, never overlaps it). Returns a function that
 * stops it; a round in progress finishes, and none follows.
 */
export function every(clock: Clock, ms: number, tick: () => Promise<void>): () => void {
  let cancel: (() => void) | undefined;
  let stopped = false;
  const loop = () => {
    void tick().finally(() => {
      if (!stopped) cancel = clock.setTimeout(loop, ms);
    });
  };
  cancel = clock.setTimeout(loop, ms);
  return () => {
    stopped = true;
    cancel?.();
  };
}
