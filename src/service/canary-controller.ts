/**
 * The canary controller: the control path of a canary release (as Flagger's). The
 * invoke path only reports finished requests to it (an {@link InvokeObserver}); once
 * per step interval it reads the new revision's requests in that step and decides:
 *
 * - no request in the step → hold at the same share (nothing to judge), and say so;
 * - error rate (5xx, the function's or the platform's) above the plan's limit, or p99
 *   above its limit → everything back to the revision it replaced;
 * - otherwise → add a step; at 100% the canary is done.
 *
 * Every decision goes to the function's events with its numbers. Time comes from the
 * injected clock, so the tests drive whole releases on a fake clock.
 */
import type { Logger } from 'pino';
import { every, functionOf, qualifiedName, sortTraffic, type CanaryState, type Clock, type FunctionRef } from '../core/index.js';
import type { InvokeObserver } from '../invoke/index.js';
import { deploymentRef } from '../core/index.js';
import type { Routing } from '../store/index.js';

/** What the controller needs from the service layer (a caller-owned contract). */
export interface CanaryTarget {
  canaries(): Iterable<{ ref: FunctionRef; canary: CanaryState }>;
  applyCanary(ref: FunctionRef, expected: CanaryState, routing: Routing, event: string): Promise<boolean>;
}

/** One step's requests to one deployment. */
interface Window {
  requests: number;
  errors: number;
  /** Durations in seconds; capped (see MAX_SAMPLES) — enough for a p99 of any step a test or a user runs. */
  seconds: number[];
}

/** Latencies kept per step: past it, a uniform reservoir (Vitter's algorithm R) keeps the p99 honest. */
const MAX_SAMPLES = 20_000;
/** How often the controller looks for a step that is due. */
const TICK_MS = 1_000;

export interface CanaryControllerOptions {
  target: CanaryTarget;
  clock: Clock;
  logger: Logger;
  /** For the reservoir (tests pin it). */
  random?: () => number;
  /**
   * Whether this gateway decides (default: always). Several gateway replicas share one
   * split on Kubernetes: only the Lease holder steps or rolls back a canary, from the
   * requests it served (a sample of all, as every replica gets a share of the traffic).
   */
  decides?: () => boolean;
}

/** A step's decision, exported for tests. */
export interface CanaryDecision {
  action: 'hold' | 'rollback' | 'advance' | 'complete';
  routing: Routing;
  event: string;
}

export class CanaryController implements InvokeObserver {
  readonly #target: CanaryTarget;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #random: () => number;
  readonly #windows = new Map<string, Window>();
  #cancel: (() => void) | undefined;
  #ticking = false;
  readonly #decides: () => boolean;

  constructor(options: CanaryControllerOptions) {
    this.#target = options.target;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#random = options.random ?? Math.random;
    this.#decides = options.decides ?? (() => true);
  }

  started(): void {}

  coldStart(): void {}

  finished(ref: FunctionRef, status: number, seconds: number): void {
    // Only revisions' deployments can be canaries; plain functions cost one regex test.
    if (!functionOf(ref).revision) return;
    const k = `${ref.namespace}/${ref.name}`;
    let w = this.#windows.get(k);
    if (!w) this.#windows.set(k, (w = { requests: 0, errors: 0, seconds: [] }));
    w.requests++;
    if (status >= 500) w.errors++;
    if (w.seconds.length < MAX_SAMPLES) w.seconds.push(seconds);
    else {
      const i = Math.floor(this.#random() * w.requests);
      if (i < MAX_SAMPLES) w.seconds[i] = seconds;
    }
  }

  start(): void {
    this.#cancel ??= every(this.#clock, TICK_MS, () => this.tick());
  }

  stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
  }

  /** Decides every canary whose step is due (exported for tests on a fake clock). */
  async tick(): Promise<void> {
    if (this.#ticking) return;
    if (!this.#decides()) {
      // Not ours to judge: what was counted meanwhile would be stale when leadership comes.
      this.#windows.clear();
      return;
    }
    this.#ticking = true;
    try {
      const now = this.#clock.now();
      for (const { ref, canary } of [...this.#target.canaries()]) {
        if (now < canary.nextStepAt) continue;
        const dep = deploymentRef(ref, canary.revision);
        const k = `${dep.namespace}/${dep.name}`;
        const window = this.#windows.get(k) ?? { requests: 0, errors: 0, seconds: [] };
        this.#windows.delete(k);
        const decision = decideCanary(canary, window, now);
        try {
          await this.#target.applyCanary(ref, canary, decision.routing, decision.event);
        } catch (err) {
          this.#logger.error({ err, function: qualifiedName(ref) }, 'could not apply a canary step');
        }
      }
    } finally {
      this.#ticking = false;
    }
  }
}

/** The rule, apart from the timer: what one finished step of `canary` leads to. */
export function decideCanary(canary: CanaryState, window: Window, now: number): CanaryDecision {
  const interval = `${canary.intervalSeconds}s`;
  if (window.requests === 0) {
    const next: CanaryState = { ...canary, nextStepAt: now + canary.intervalSeconds * 1000 };
    return { action: 'hold', routing: { traffic: split(canary, canary.percent), canary: next }, event: `canary ${canary.revision}: no requests reached it in the last ${interval}; holding at ${canary.percent}% (nothing to judge yet)` };
  }
  const rate = window.errors / window.requests;
  const p99 = quantile(window.seconds, 0.99);
  const numbers = `error rate ${pct(rate)} (${window.errors} of ${window.requests} requests in ${interval}), p99 ${Math.round(p99 * 1000)} ms`;
  const overRate = rate > canary.maxErrorRate;
  const overP99 = canary.maxP99Seconds !== null && p99 > canary.maxP99Seconds;
  if (overRate || overP99) {
    const why = overRate ? `error rate ${pct(rate)} > ${pct(canary.maxErrorRate)}` : `p99 ${Math.round(p99 * 1000)} ms > ${Math.round(canary.maxP99Seconds! * 1000)} ms`;
    return {
      action: 'rollback',
      routing: { traffic: [{ revision: canary.from, percent: 100 }], canary: null },
      event: `canary ${canary.revision} rolled back to ${canary.from} at ${canary.percent}%: ${why}; ${numbers}`,
    };
  }
  const percent = Math.min(100, canary.percent + canary.stepPercent);
  if (percent >= 100) {
    return { action: 'complete', routing: { traffic: [{ revision: canary.revision, percent: 100 }], canary: null }, event: `canary ${canary.revision} complete: 100% (${canary.from} retired from the split); last step ${numbers}` };
  }
  const next: CanaryState = { ...canary, percent, nextStepAt: now + canary.intervalSeconds * 1000 };
  return { action: 'advance', routing: { traffic: split(canary, percent), canary: next }, event: `canary ${canary.revision}: ${canary.percent}% → ${percent}% (${canary.from} ${100 - percent}%); ${numbers}` };
}

function split(canary: CanaryState, percent: number) {
  return sortTraffic([
    { revision: canary.revision, percent },
    { revision: canary.from, percent: 100 - percent },
  ]);
}

/** Nearest-rank quantile; 0 for no samples. */
function quantile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

function pct(rate: number): string {
  return `${(rate * 100).toFixed(1)}%`;
}
