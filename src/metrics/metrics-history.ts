/**
 * A short memory of what each function did, for the dashboard's live charts: every
 * interval (5 s) becomes one point per function (requests, errors, latency
 * quantiles, cold starts, replicas, CPU, memory), and the last 180 are kept
 * (15 minutes). Prometheus keeps the long history; this is what a person opening
 * the dashboard sees at once, with no Prometheus running.
 *
 * The data path only counts into the current interval (an observer, like the
 * Prometheus counters); a timer on the injected clock closes the interval and reads
 * replicas and usage from the provider: data path and control path stay apart.
 */
import { systemClock, type Clock, type FunctionRef, type ProviderFunctionStatus } from '../core/index.js';
import type { InvokeObserver } from '../invoke/index.js';

/** One interval of one function (or of the whole platform). */
export interface HistoryPoint {
  /** End of the interval, epoch ms. */
  t: number;
  invocations: number;
  /** Requests answered with a status of 500 or more (the function's or the platform's). */
  errors: number;
  rps: number;
  p50Ms: number | null;
  p99Ms: number | null;
  coldStarts: number;
  replicas: number;
  readyReplicas: number;
  cpuMillicores: number | null;
  memoryBytes: number | null;
}

/** What the summary table shows per function over the last few minutes. */
export interface FunctionSummary {
  name: string;
  namespace: string;
  invocations: number;
  errors: number;
  errorRate: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

/**
 * Latency buckets: 0.1 ms growing by 20% per bucket up to 60 s (74 buckets), so a
 * quantile read from them is within 10% of the true value at any scale.
 */
const BOUNDS_MS: readonly number[] = (() => {
  const out: number[] = [];
  for (let b = 0.1; b < 60_000; b *= 1.2) out.push(b);
  out.push(60_000);
  return out;
})();

/** Counts of one interval. */
class Interval {
  invocations = 0;
  errors = 0;
  coldStarts = 0;
  /** One slot per bound plus one for slower than the last. */
  readonly latency = new Uint32Array(BOUNDS_MS.length + 1);

  observe(ms: number): void {
    // Binary search: the first bound ≥ ms.
    let lo = 0;
    let hi = BOUNDS_MS.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (BOUNDS_MS[mid]! < ms) lo = mid + 1;
      else hi = mid;
    }
    this.latency[lo]!++;
  }
}

interface Series {
  ref: FunctionRef;
  current: Interval;
  points: HistoryPoint[];
  /** The closed intervals' latency counts, newest last, for the summary window. */
  recent: Uint32Array[];
  recentCounts: { invocations: number; errors: number }[];
}

export interface MetricsHistoryOptions {
  /** Replicas and usage of every function (the provider's list), read once per interval. */
  live: () => Promise<ProviderFunctionStatus[]>;
  clock?: Clock;
  /** Interval length (default 5 s: a chart that moves without flooding the page). */
  intervalMs?: number;
  /** Points kept per function (default 180: 15 minutes at 5 s). */
  keep?: number;
  /** Intervals the summary covers (default 60: 5 minutes at 5 s). */
  summaryIntervals?: number;
}

export class MetricsHistory implements InvokeObserver {
  readonly #series = new Map<string, Series>();
  readonly #platform: HistoryPoint[] = [];
  readonly #live: MetricsHistoryOptions['live'];
  readonly #clock: Clock;
  readonly intervalMs: number;
  readonly #keep: number;
  readonly #summaryIntervals: number;
  #cancel: (() => void) | undefined;
  #rolling = false;

  constructor(options: MetricsHistoryOptions) {
    this.#live = options.live;
    this.#clock = options.clock ?? systemClock;
    this.intervalMs = options.intervalMs ?? 5_000;
    this.#keep = options.keep ?? 180;
    this.#summaryIntervals = options.summaryIntervals ?? 60;
  }

  started(): void {}

  finished(ref: FunctionRef, status: number, seconds: number): void {
    const c = this.#entry(ref).current;
    c.invocations++;
    if (status >= 500) c.errors++;
    c.observe(seconds * 1000);
  }

  coldStart(ref: FunctionRef): void {
    this.#entry(ref).current.coldStarts++;
  }

  /** Forgets a removed function (a new one of the same name starts a new history). */
  forget(ref: FunctionRef): void {
    this.#series.delete(key(ref));
  }

  /** Closes an interval every `intervalMs` until {@link stop}. */
  start(): void {
    if (this.#cancel) return;
    const tick = () => {
      this.#cancel = this.#clock.setTimeout(tick, this.intervalMs);
      void this.roll();
    };
    this.#cancel = this.#clock.setTimeout(tick, this.intervalMs);
  }

  stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
  }

  /** Closes the current interval now: one point per function and one for the platform. */
  async roll(): Promise<void> {
    if (this.#rolling) return;
    this.#rolling = true;
    try {
      let live: ProviderFunctionStatus[] = [];
      try {
        live = await this.#live();
      } catch {
        // The provider could not answer this once: counts still close, replicas read as 0.
      }
      const t = this.#clock.now();
      const byKey = new Map(live.map((s) => [key(s.ref), s]));
      for (const s of live) this.#entry(s.ref);
      const all = new Interval();
      const total = { replicas: 0, ready: 0, cpu: null as number | null, memory: null as number | null };
      for (const [k, series] of this.#series) {
        const status = byKey.get(k);
        const closed = series.current;
        series.current = new Interval();
        const usage = usageOf(status);
        const point: HistoryPoint = {
          t,
          invocations: closed.invocations,
          errors: closed.errors,
          rps: closed.invocations / (this.intervalMs / 1000),
          p50Ms: quantile(closed.latency, closed.invocations, 0.5),
          p99Ms: quantile(closed.latency, closed.invocations, 0.99),
          coldStarts: closed.coldStarts,
          replicas: status?.replicas ?? 0,
          readyReplicas: status?.availableReplicas ?? 0,
          cpuMillicores: usage.cpu,
          memoryBytes: usage.memory,
        };
        push(series.points, point, this.#keep);
        push(series.recent, closed.latency, this.#summaryIntervals);
        push(series.recentCounts, { invocations: closed.invocations, errors: closed.errors }, this.#summaryIntervals);
        all.invocations += closed.invocations;
        all.errors += closed.errors;
        all.coldStarts += closed.coldStarts;
        for (let i = 0; i < all.latency.length; i++) all.latency[i]! += closed.latency[i]!;
        total.replicas += point.replicas;
        total.ready += point.readyReplicas;
        if (usage.cpu !== null) total.cpu = (total.cpu ?? 0) + usage.cpu;
        if (usage.memory !== null) total.memory = (total.memory ?? 0) + usage.memory;
      }
      push(
        this.#platform,
        {
          t,
          invocations: all.invocations,
          errors: all.errors,
          rps: all.invocations / (this.intervalMs / 1000),
          p50Ms: quantile(all.latency, all.invocations, 0.5),
          p99Ms: quantile(all.latency, all.invocations, 0.99),
          coldStarts: all.coldStarts,
          replicas: total.replicas,
          readyReplicas: total.ready,
          cpuMillicores: total.cpu,
          memoryBytes: total.memory,
        },
        this.#keep,
      );
    } finally {
      this.#rolling = false;
    }
  }

  /** The points of one function, or of the whole platform when `ref` is undefined; oldest first. */
  history(ref?: FunctionRef): { intervalSeconds: number; points: HistoryPoint[] } {
    const points = ref ? (this.#series.get(key(ref))?.points ?? []) : this.#platform;
    return { intervalSeconds: this.intervalMs / 1000, points: [...points] };
  }

  /** Per function over the last `summaryIntervals` closed intervals. */
  summary(): { windowSeconds: number; items: FunctionSummary[] } {
    const items: FunctionSummary[] = [];
    for (const s of this.#series.values()) {
      const merged = new Uint32Array(BOUNDS_MS.length + 1);
      for (const h of s.recent) for (let i = 0; i < merged.length; i++) merged[i]! += h[i]!;
      const invocations = s.recentCounts.reduce((n, c) => n + c.invocations, 0);
      const errors = s.recentCounts.reduce((n, c) => n + c.errors, 0);
      items.push({
        name: s.ref.name,
        namespace: s.ref.namespace,
        invocations,
        errors,
        errorRate: invocations ? errors / invocations : 0,
        p50Ms: quantile(merged, invocations, 0.5),
        p99Ms: quantile(merged, invocations, 0.99),
      });
    }
    return { windowSeconds: (this.#summaryIntervals * this.intervalMs) / 1000, items };
  }

  #entry(ref: FunctionRef): Series {
    const k = key(ref);
    let s = this.#series.get(k);
    if (!s) this.#series.set(k, (s = { ref: { name: ref.name, namespace: ref.namespace }, current: new Interval(), points: [], recent: [], recentCounts: [] }));
    return s;
  }
}

/**
 * The q-quantile of bucketed counts, in ms: the bucket holding the rank, read at its
 * geometric middle (the buckets grow by a constant factor, so that is the unbiased point).
 */
export function quantile(counts: Uint32Array, total: number, q: number): number | null {
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= rank) {
      const upper = BOUNDS_MS[Math.min(i, BOUNDS_MS.length - 1)]!;
      const lower = i === 0 ? upper / 1.2 : BOUNDS_MS[i - 1]!;
      return round(Math.sqrt(lower * upper));
    }
  }
  return round(BOUNDS_MS.at(-1)!);
}

function usageOf(status: ProviderFunctionStatus | undefined): { cpu: number | null; memory: number | null } {
  const measured = (status?.instances ?? []).filter((i) => i.usage);
  if (!measured.length) return { cpu: null, memory: null };
  return {
    cpu: Math.round(measured.reduce((n, i) => n + (i.usage!.cpuMillicores ?? 0), 0)),
    memory: measured.reduce((n, i) => n + i.usage!.memoryWorkingSetBytes, 0),
  };
}

function push<T>(list: T[], item: T, keep: number): void {
  list.push(item);
  if (list.length > keep) list.splice(0, list.length - keep);
}

function round(ms: number): number {
  return ms < 10 ? Math.round(ms * 100) / 100 : Math.round(ms * 10) / 10;
}

function key(ref: FunctionRef): string {
  return `${ref.namespace}/${ref.name}`;
}
