/**
 * The gateway's Prometheus metrics (prom-client), with OpenFaaS' names so existing
 * dashboards and alerts work — `gateway_function_invocation_total{function_name,code}`,
 * `gateway_functions_seconds`, `gateway_function_invocation_started`,
 * `gateway_service_count`, `gateway_service_ready_count`, `gateway_service_target` —
 * and the seed's `function_invocations_total`, `function_duration_seconds`,
 * `function_cold_starts_total`, plus the time a request waited for a cold start.
 * `function_name` is `name.namespace` as in OpenFaaS; no label takes unbounded values.
 *
 * The invoke path feeds it through {@link InvokeObserver} events (counters only);
 * the per-function gauges are read from the provider when Prometheus scrapes.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { functionOf, qualifiedName, scaleSettings, type FunctionCost, type FunctionRef, type FunctionSpec, type Provider } from '../core/index.js';
import type { InvokeObserver } from '../invoke/index.js';
import { PlainCounter, PlainHistogram, type CounterCell, type HistogramCell } from './plain-metrics.js';

/** Seconds buckets from 1 ms to 60 s: function durations and cold-start waits. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The invoke path's series of one function, held so a request touches no map but `byCode`. */
interface FunctionChildren {
  name: string;
  revision: string | undefined;
  started: CounterCell;
  duration: HistogramCell;
  byCode: Map<number, { invocations: CounterCell; invocationsSeed: CounterCell; seconds: HistogramCell }>;
}

export class GatewayMetrics implements InvokeObserver {
  readonly registry = new Registry();
  readonly #cache = new Map<string, FunctionChildren>();
  // The hot path's series (every request): plain cells, formatted at scrape (plain-metrics.ts).
  readonly #invocations: PlainCounter;
  readonly #invocationsSeed: PlainCounter;
  readonly #started: PlainCounter;
  readonly #seconds: PlainHistogram;
  readonly #durationSeed: PlainHistogram;
  readonly #coldStarts: Counter<'function_name'>;
  readonly #coldWait: Histogram<'function_name'>;
  readonly #deployments: Counter<'function_name'>;

  readonly #asyncSettled: Counter<'function_name' | 'outcome'>;
  readonly #triggerMessages: Counter<'function_name' | 'trigger' | 'type' | 'outcome'>;

  constructor(options: {
    provider: Provider;
    functions: () => Iterable<FunctionSpec>;
    /** Async calls queued and running per function, and the age of the oldest (the queue's `depth`). */
    queueDepth?: () => Promise<Array<{ namespace: string; name: string; queued: number; running: number; oldestMs?: number }>>;
    /** Cost figures per function (read at scrape time). */
    costs?: () => Array<{ ref: FunctionRef; cost: FunctionCost }>;
    /** Every trigger and whether it is connected (read at scrape time). */
    triggers?: () => Array<{ function: string; namespace: string; name: string; type: string; state: string }>;
  }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.#invocations = new PlainCounter('gateway_function_invocation_total', 'Function invocations by status code (OpenFaaS name)');
    this.#invocationsSeed = new PlainCounter('function_invocations_total', 'Function invocations by status code');
    this.#started = new PlainCounter('gateway_function_invocation_started', 'Function invocations started (OpenFaaS name)');
    this.#seconds = new PlainHistogram('gateway_functions_seconds', 'Function time taken, as seen by the gateway (OpenFaaS name)', BUCKETS);
    this.#durationSeed = new PlainHistogram('function_duration_seconds', 'Time from request to reply, cold-start wait excluded', BUCKETS);
    for (const m of [this.#invocations, this.#invocationsSeed, this.#started, this.#seconds, this.#durationSeed]) this.registry.registerMetric(m as never);
    this.#coldStarts = new Counter({ name: 'function_cold_starts_total', help: 'Requests that found no ready replica and waited for one', labelNames: ['function_name'], registers });
    this.#coldWait = new Histogram({ name: 'gateway_cold_start_wait_seconds', help: 'Time a request waited for a replica to become ready', labelNames: ['function_name'], buckets: BUCKETS, registers });
    this.#deployments = new Counter({ name: 'function_deployments_total', help: 'Deploys and updates of functions', labelNames: ['function_name'], registers });

    this.#triggerMessages = new Counter({
      name: 'function_trigger_messages_total',
      help: 'Trigger events handled, by outcome: accepted (queued as a call), succeeded (sync), failed (an attempt failed), dead-letter (given up), skipped (cron overlap)',
      labelNames: ['function_name', 'trigger', 'type', 'outcome'],
      registers,
    });
    const triggers = options.triggers;
    if (triggers) {
      new Gauge({
        name: 'function_trigger_connected',
        help: 'Whether a trigger is connected to its broker (cron: scheduled): 1 or 0',
        labelNames: ['function_name', 'trigger', 'type'],
        registers,
        collect() {
          this.reset();
          for (const t of triggers()) this.set({ function_name: qualifiedName({ name: t.function, namespace: t.namespace }), trigger: t.name, type: t.type }, t.state === 'connected' || t.state === 'scheduled' ? 1 : 0);
        },
      });
    }
    this.#asyncSettled = new Counter({ name: 'function_async_calls_total', help: 'Async call attempts settled, by outcome (succeeded, retry, failed, dead)', labelNames: ['function_name', 'outcome'], registers });
    const costs = options.costs;
    if (costs) {
      new Counter({
        name: 'function_gibibyte_seconds_total',
        help: 'Seconds spent answering requests times the memory limit in GiB (128 MiB when unset), since the gateway started',
        labelNames: ['function_name'],
        registers,
        collect() {
          this.reset();
          for (const { ref, cost } of costs()) this.inc({ function_name: qualifiedName(ref) }, cost.gbSeconds);
        },
      });
      new Counter({
        name: 'function_busy_seconds_total',
        help: 'Seconds spent answering requests, summed, since the gateway started',
        labelNames: ['function_name'],
        registers,
        collect() {
          this.reset();
          for (const { ref, cost } of costs()) this.inc({ function_name: qualifiedName(ref) }, cost.busySeconds);
        },
      });
    }
    const queueDepth = options.queueDepth;
    if (queueDepth) {
      new Gauge({
        name: 'function_queue_depth',
        help: 'Async calls waiting (queued) or being run (running), per function',
        labelNames: ['function_name', 'state'],
        registers,
        async collect() {
          this.reset();
          for (const d of await queueDepth()) {
            const fn = qualifiedName({ name: d.name, namespace: d.namespace });
            this.set({ function_name: fn, state: 'queued' }, d.queued);
            this.set({ function_name: fn, state: 'running' }, d.running);
          }
        },
      });
      new Gauge({
        name: 'function_queue_oldest_seconds',
        help: 'Age of the oldest async call not finished yet, per function',
        labelNames: ['function_name'],
        registers,
        async collect() {
          this.reset();
          for (const d of await queueDepth()) if (d.oldestMs !== undefined) this.set({ function_name: qualifiedName({ name: d.name, namespace: d.namespace }) }, d.oldestMs / 1000);
        },
      });
    }
    const provider = options.provider;
    const functions = options.functions;
    new Gauge({
      name: 'gateway_service_count',
      help: 'Functions deployed (OpenFaaS name)',
      registers,
      collect() {
        this.set([...functions()].length);
      },
    });
    new Gauge({
      name: 'gateway_service_ready_count',
      help: 'Ready replicas per function (OpenFaaS name)',
      labelNames: ['function_name', 'revision'],
      registers,
      async collect() {
        this.reset();
        for (const s of await provider.list()) this.set({ ...fnLabels(s.ref) }, s.availableReplicas);
      },
    });
    // Per-replica CPU and memory from the cgroups, with OpenFaaS Pro's names and labels.
    // A counter read from the kernel at scrape time: reset, then set to the cgroup's total.
    new Counter({
      name: 'pod_cpu_usage_seconds_total',
      help: 'CPU seconds used by a replica since it started (from its cgroup)',
      labelNames: ['function_name', 'namespace', 'pod', 'revision'],
      registers,
      async collect() {
        this.reset();
        for (const s of await provider.list()) {
          for (const i of s.instances) if (i.usage) this.inc({ ...fnLabels(s.ref), namespace: s.ref.namespace, pod: i.id }, i.usage.cpuSeconds);
        }
      },
    });
    new Gauge({
      name: 'pod_memory_working_set_bytes',
      help: 'Memory a replica uses, minus inactive file cache (from its cgroup)',
      labelNames: ['function_name', 'namespace', 'pod', 'revision'],
      registers,
      async collect() {
        this.reset();
        for (const s of await provider.list()) {
          for (const i of s.instances) if (i.usage) this.set({ ...fnLabels(s.ref), namespace: s.ref.namespace, pod: i.id }, i.usage.memoryWorkingSetBytes);
        }
      },
    });
    new Gauge({
      name: 'gateway_service_target',
      help: 'Replicas the autoscaler asks for, per function (OpenFaaS name)',
      labelNames: ['function_name', 'revision'],
      registers,
      async collect() {
        this.reset();
        for (const s of await provider.list()) this.set({ ...fnLabels(s.ref) }, s.replicas);
      },
    });
    new Gauge({
      name: 'gateway_service_max',
      help: 'Most replicas a function may have (com.openfaas.scale.max)',
      labelNames: ['function_name'],
      registers,
      collect() {
        this.reset();
        for (const spec of functions()) {
          try {
            this.set({ function_name: qualifiedName({ name: spec.service, namespace: spec.namespace }) }, scaleSettings(spec).max);
          } catch {
            // a spec stored by an older version with labels this one refuses: no gauge for it
          }
        }
      },
    });
  }

  // InvokeObserver: the data path's events. Counters only, no I/O; each function's (and
  // status code's) labelled children are looked up once and cached, so a request costs
  // no label hashing (prom-client hashes the label object on every unlabelled-child call).
  started(ref: FunctionRef): void {
    this.#children(ref).started.value++;
  }

  finished(ref: FunctionRef, status: number, seconds: number, coldWaitSeconds = 0): void {
    const c = this.#children(ref);
    let byCode = c.byCode.get(status);
    if (!byCode) {
      const labels: Record<string, string> = { function_name: c.name, code: String(status) };
      if (c.revision) labels.revision = c.revision;
      byCode = { invocations: this.#invocations.cell(labels), invocationsSeed: this.#invocationsSeed.cell(labels), seconds: this.#seconds.cell(labels) };
      c.byCode.set(status, byCode);
    }
    byCode.invocations.value++;
    byCode.invocationsSeed.value++;
    byCode.seconds.observe(seconds);
    c.duration.observe(Math.max(0, seconds - coldWaitSeconds));
  }

  /** Forgets a removed function's cached children (its series stay until the gateway restarts, as Prometheus expects). */
  forget(ref: FunctionRef): void {
    this.#cache.delete(qualifiedName(ref));
  }

  #children(ref: FunctionRef): FunctionChildren {
    const key = qualifiedName(ref);
    let c = this.#cache.get(key);
    if (!c) {
      // A revision's deployment (NAME--rN) counts as its function, with a revision label.
      const labels = fnLabels(ref);
      c = { name: labels.function_name, revision: labels.revision, started: this.#started.cell(labels), duration: this.#durationSeed.cell(labels), byCode: new Map() };
      this.#cache.set(key, c);
    }
    return c;
  }

  coldStart(ref: FunctionRef, waitedSeconds: number): void {
    const fn = qualifiedName(functionOf(ref).ref);
    this.#coldStarts.inc({ function_name: fn });
    this.#coldWait.observe({ function_name: fn }, waitedSeconds);
  }

  deployed(ref: FunctionRef): void {
    this.#deployments.inc({ function_name: qualifiedName(ref) });
  }

  /** Prometheus text exposition. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** A trigger handled an event (the trigger manager's onMessage). Trigger names are bounded by the spec (≤ 32 per function). */
  triggerMessage(ref: FunctionRef, trigger: string, type: string, outcome: string): void {
    this.#triggerMessages.inc({ function_name: qualifiedName(ref), trigger, type, outcome });
  }

  /** An async call attempt was settled (the dispatcher's onSettled). */
  asyncSettled(ref: FunctionRef, outcome: 'succeeded' | 'retry' | 'failed' | 'dead'): void {
    this.#asyncSettled.inc({ function_name: qualifiedName(ref), outcome });
  }
}

/** `function_name` as OpenFaaS names it, plus `revision` for a revision's deployment (NAME--rN). */
function fnLabels(ref: FunctionRef): { function_name: string; revision?: string } {
  const { ref: fn, revision } = functionOf(ref);
  return revision ? { function_name: qualifiedName(fn), revision } : { function_name: qualifiedName(fn) };
}
