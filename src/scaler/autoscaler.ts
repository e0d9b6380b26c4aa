/**
 * The autoscaler: the control path. Every tick it samples each function's average
 * concurrency from the invoke path's stats, decides (see decide.ts) and calls
 * `provider.scale` when the answer changes. It never sits in the request path; the
 * one link the other way is {@link Autoscaler.activate}, which the invoke path calls
 * when a request finds a function at zero (single-flight: one start however many
 * requests arrive).
 */
import type { Logger } from 'pino';
import { every, qualifiedName, scaleSettings, systemClock, type Clock, type FunctionRef, type FunctionSpec, type Provider } from '../core/index.js';
import type { InvocationStats } from '../invoke/index.js';
import { decide, PANIC_WINDOW_MS, STABLE_WINDOW_MS, type Sample } from './decide.js';

/** Knative's tick: 2 s. */
export const DEFAULT_TICK_MS = 2_000;

export interface AutoscalerOptions {
  provider: Provider;
  stats: InvocationStats;
  /** The deployed functions (from the service layer's memory). */
  functions: () => Iterable<FunctionSpec>;
  logger: Logger;
  clock?: Clock;
  tickMs?: number;
  /** Stable and panic windows (default 60 s / 6 s). */
  windows?: { stableMs: number; panicMs: number };
  /** Told of every scaling decision it carries out (the function's log stream). */
  onScale?: (ref: FunctionRef, from: number, to: number, reason: string) => void;
}

interface FunctionState {
  /** When the autoscaler first saw the function: its idle time starts here if it is never invoked. */
  firstSeenAt: number;
  samples: Sample[];
  panicUntil: number;
  /** Set by a manual scale: the autoscaler leaves the function alone until released. */
  pinned?: number;
}

export class Autoscaler {
  readonly #provider: Provider;
  readonly #stats: InvocationStats;
  readonly #functions: () => Iterable<FunctionSpec>;
  readonly #logger: Logger;
  readonly #onScale: AutoscalerOptions['onScale'];
  readonly #clock: Clock;
  readonly #tickMs: number;
  readonly #windows: { stableMs: number; panicMs: number };
  readonly #state = new Map<string, FunctionState>();
  readonly #activating = new Map<string, Promise<void>>();
  #cancel: (() => void) | undefined;
  #ticking = false;

  constructor(options: AutoscalerOptions) {
    this.#provider = options.provider;
    this.#stats = options.stats;
    this.#functions = options.functions;
    this.#logger = options.logger;
    this.#onScale = options.onScale;
    this.#clock = options.clock ?? systemClock;
    this.#tickMs = options.tickMs ?? DEFAULT_TICK_MS;
    this.#windows = options.windows ?? { stableMs: STABLE_WINDOW_MS, panicMs: PANIC_WINDOW_MS };
  }

  start(): void {
    this.#cancel ??= every(this.#clock, this.#tickMs, () => this.tick());
  }

  stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
  }

  /** One round of decisions (exported for tests on a fake clock). */
  async tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      const now = this.#clock.now();
      const seen = new Set<string>();
      for (const spec of this.#functions()) {
        const ref = { name: spec.service, namespace: spec.namespace };
        const k = key(ref);
        seen.add(k);
        let state = this.#state.get(k);
        if (!state) this.#state.set(k, (state = { firstSeenAt: now, samples: [], panicUntil: 0 }));
        const sample = this.#stats.sample(ref);
        state.samples.push({ at: now, concurrency: sample.concurrency });
        while (state.samples.length && state.samples[0]!.at <= now - this.#windows.stableMs) state.samples.shift();
        if (state.pinned !== undefined) continue;
        const live = await this.#provider.get(ref);
        if (!live) continue;
        let settings;
        try {
          settings = scaleSettings(spec);
        } catch {
          continue;
        }
        const decision = decide({ now, samples: state.samples, settings, ready: live.availableReplicas, current: live.replicas, inFlight: sample.inFlight, lastRequestAt: sample.lastRequestAt || state.firstSeenAt, panicUntil: state.panicUntil, windows: this.#windows });
        state.panicUntil = decision.panicUntil;
        if (decision.desired !== live.replicas) {
          this.#logger.info({ function: qualifiedName(ref), from: live.replicas, to: decision.desired, reason: decision.reason }, 'scaling');
          this.#onScale?.(ref, live.replicas, decision.desired, decision.reason);
          await this.#provider.scale(ref, decision.desired);
        }
      }
      for (const k of this.#state.keys()) if (!seen.has(k)) this.#state.delete(k);
    } catch (err) {
      this.#logger.error({ err }, 'autoscaler tick failed');
    } finally {
      this.#ticking = false;
    }
  }

  /**
   * Brings a function at zero up to one replica. Called by the invoke path; however
   * many requests are waiting, one start is made.
   */
  activate(ref: FunctionRef): Promise<void> {
    const k = key(ref);
    let pending = this.#activating.get(k);
    if (!pending) {
      pending = (async () => {
        const live = await this.#provider.get(ref);
        if (live && live.replicas === 0) {
          this.#logger.info({ function: qualifiedName(ref) }, 'scaling from zero');
          this.#onScale?.(ref, 0, 1, 'a request arrived at zero replicas');
          await this.#provider.scale(ref, 1);
        }
      })().finally(() => this.#activating.delete(k));
      this.#activating.set(k, pending);
    }
    return pending;
  }

  /** A manual scale: the autoscaler leaves the function at `replicas` until {@link release}. */
  pin(ref: FunctionRef, replicas: number): void {
    const k = key(ref);
    const state = this.#state.get(k) ?? { firstSeenAt: this.#clock.now(), samples: [], panicUntil: 0 };
    state.pinned = replicas;
    this.#state.set(k, state);
  }

  release(ref: FunctionRef): void {
    const state = this.#state.get(key(ref));
    if (state) delete state.pinned;
  }

  isPinned(ref: FunctionRef): boolean {
    return this.#state.get(key(ref))?.pinned !== undefined;
  }
}

function key(ref: FunctionRef): string {
  return `${ref.namespace}/${ref.name}`;
}
