/**
 * The autoscaler's decision, as a pure function (Knative KPA's shape): average
 * concurrency over a 60 s stable window and a 6 s panic window, divided by the
 * per-replica target. A burst that needs twice the ready replicas enters panic
 * mode: scale up at once, and no scale-down until the burst has been over for a
 * whole stable window. Scale to zero only after `zeroDurationMs` without requests.
 */
import type { ScaleSettings } from '../core/index.js';

/** Knative's defaults: stable window 60 s, panic window 10% of it, panic at 200%. */
export const STABLE_WINDOW_MS = 60_000;
export const PANIC_WINDOW_MS = 6_000;
export const PANIC_THRESHOLD = 2;

export interface Sample {
  at: number;
  /** Average requests in flight since the previous sample. */
  concurrency: number;
}

export interface DecisionInput {
  now: number;
  /** Recent samples, oldest first (older than the stable window are ignored). */
  samples: readonly Sample[];
  settings: ScaleSettings;
  /** Replicas ready now. */
  ready: number;
  /** Replicas currently asked for. */
  current: number;
  /** Requests in flight right now (waiting ones included). */
  inFlight: number;
  /** When the last request arrived (epoch ms; 0 = never). */
  lastRequestAt: number;
  /** Panic mode lasts until this time (0 = not panicking). */
  panicUntil: number;
  /** Window lengths (default Knative's 60 s and 6 s; shorter in tests). */
  windows?: { stableMs: number; panicMs: number };
}

export interface Decision {
  desired: number;
  panicUntil: number;
  /** Why, for the log and the tests. */
  reason: string;
}

function average(samples: readonly Sample[], since: number): number | undefined {
  let sum = 0;
  let n = 0;
  for (const s of samples) {
    if (s.at > since) {
      sum += s.concurrency;
      n++;
    }
  }
  return n ? sum / n : undefined;
}

export function decide(input: DecisionInput): Decision {
  const { now, settings } = input;
  const stableMs = input.windows?.stableMs ?? STABLE_WINDOW_MS;
  const panicMs = input.windows?.panicMs ?? PANIC_WINDOW_MS;
  const stable = average(input.samples, now - stableMs) ?? 0;
  const panic = average(input.samples, now - panicMs) ?? stable;
  const stableDesired = Math.ceil(stable / settings.target);
  const panicDesired = Math.ceil(panic / settings.target);

  let panicUntil = input.panicUntil > now ? input.panicUntil : 0;
  if (panicDesired >= PANIC_THRESHOLD * Math.max(1, input.ready) && panicDesired > input.current) {
    panicUntil = now + stableMs;
  }

  let desired: number;
  let reason: string;
  if (panicUntil) {
    desired = Math.max(input.current, panicDesired);
    reason = `panic: ${panic.toFixed(2)} in flight over ${panicMs / 1000}s`;
  } else {
    desired = stableDesired;
    reason = `stable: ${stable.toFixed(2)} in flight over ${stableMs / 1000}s`;
  }

  // While a function is in use (or may not go to zero), it keeps at least min and one replica.
  desired = Math.min(settings.max, Math.max(desired, settings.min, 1));

  // Zero: only when allowed, nothing is in flight, and no request came for the zero duration.
  // A function never invoked counts as idle since its first sample (about when it was deployed).
  if (settings.zero && input.inFlight === 0 && !panicUntil) {
    const idleFor = now - (input.lastRequestAt || (input.samples[0]?.at ?? now));
    if (idleFor >= settings.zeroDurationMs) {
      desired = 0;
      reason = `no request for ${Math.round(idleFor / 1000)}s: scale to zero`;
    }
  }
  return { desired, panicUntil, reason };
}
