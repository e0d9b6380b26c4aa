/**
 * Runs every deployed function's triggers: starts them when a function is deployed,
 * restarts the ones whose settings changed on update, stops them all on remove (so
 * nothing keeps consuming for a removed function), and reports each one's state for
 * `GET /api/v1/triggers`, `kss triggers` and `kss describe`.
 *
 * Events reach the function one of two ways (the trigger's `mode`): as an async call
 * through the durable queue (default: retried, visible in `kss calls`), or invoked
 * directly through the same invoke path as an HTTP request (sync: the reply can be
 * published back). The connectors decide when to acknowledge their broker from what
 * `deliver` returns.
 *
 * With several gateway replicas (Kubernetes) a `leader` is given: triggers whose every
 * copy gets every event (connectors marked `singleConsumer`: cron, MQTT) run only while
 * this replica leads and show `standby` otherwise; the competing-consumer ones (NATS,
 * JetStream, RabbitMQ) run on every replica. Without a leader (one gateway) all run.
 */
import type { Logger } from 'pino';
import {
  annotationTriggers,
  KssError,
  qualifiedName,
  triggerSource,
  type Clock,
  type FunctionRef,
  type FunctionSpec,
  type SecretSource,
  type TriggerSpec,
  type TriggerType,
} from '../core/index.js';
import { sleep } from '../core/index.js';
import { DEFAULT_RETRY_POLICY, invokeBuffered, isRetryable, retryPolicyOf, type AsyncCalls, type CallQueue, type InvokePath } from '../queue/index.js';
import type { TriggerMemory } from './trigger-memory.js';
import type { BrokerCredentials, DeliveryOutcome, TriggerConnector, TriggerContext, TriggerEvent, TriggerHandle, TriggerState } from './trigger-connector.js';

/** How a trigger came to be: the `triggers` list, the cron annotations, or a `topic` annotation on a gateway connector. */
export type TriggerOrigin = 'spec' | 'annotation' | 'connector';

/** A trigger as the API lists it. */
export interface TriggerStatus {
  function: string;
  namespace: string;
  name: string;
  type: TriggerType;
  mode: 'async' | 'sync';
  origin: TriggerOrigin;
  /** Where it listens: schedule, or broker URL and topic/subject/queue (no credentials). */
  source: string;
  state: TriggerState;
  /** Why it is not connected (broker down, bad credentials, …). */
  reason?: string;
  /** When the state last changed. */
  since: string;
  messages: { accepted: number; succeeded: number; failed: number; deadLettered: number; skipped: number };
  lastMessageAt?: string;
  lastError?: string;
  /** cron: the next tick. */
  nextRunAt?: string;
}

export type TriggerOutcome = 'accepted' | 'succeeded' | 'failed' | 'dead-letter' | 'skipped';

export interface TriggerManagerOptions {
  connectors: readonly TriggerConnector[];
  /** The deployed function's spec (from the service's memory), or undefined once removed. */
  lookup: (ref: FunctionRef) => FunctionSpec | undefined;
  calls: AsyncCalls;
  queue: Pick<CallQueue, 'get'>;
  invoker: InvokePath;
  secrets?: SecretSource;
  memory: TriggerMemory;
  clock: Clock;
  logger: Logger;
  /**
   * Broker URLs a `topic: a,b` annotation binds to (`kss up --connector URL`), the
   * OpenFaaS connector convention: each topic becomes a trigger on each connector.
   */
  gatewayConnectors?: readonly string[];
  /** A platform event for the function's log stream. */
  onEvent?: (ref: FunctionRef, text: string) => void;
  /** Every handled message (metrics). */
  onMessage?: (ref: FunctionRef, trigger: string, type: TriggerType, outcome: TriggerOutcome) => void;
  /** Longest a deploy waits for a broker to answer (default 5 s). */
  checkTimeoutMs?: number;
  /**
   * Several gateway replicas: whether this one leads (runs the single-consumer
   * triggers). Call {@link TriggerManager.leadershipChanged} when it changes.
   * Unset: this gateway runs every trigger.
   */
  leader?: { readonly leading: boolean };
}

/** Why a single-consumer trigger is not running on this replica. */
export const STANDBY_REASON = 'another gateway replica leads';

interface Running {
  spec: TriggerSpec;
  origin: TriggerOrigin;
  /** The settings it was started with; a change restarts it. */
  key: string;
  status: TriggerStatus;
  handle?: TriggerHandle;
  abort: AbortController;
  /** Not started here: a single-consumer trigger on a replica that does not lead. */
  standby: boolean;
}

/** A trigger with where it came from. */
interface Declared {
  spec: TriggerSpec;
  origin: TriggerOrigin;
}

function fnKey(ref: FunctionRef): string {
  return `${ref.namespace}/${ref.name}`;
}

export class TriggerManager {
  readonly #o: TriggerManagerOptions;
  readonly #connectors: Map<string, TriggerConnector>;
  readonly #running = new Map<string, Map<string, Running>>();
  /** Per function, the sync that is under way: syncs of one function run one after the other. */
  readonly #syncing = new Map<string, Promise<void>>();
  #closed = false;

  constructor(options: TriggerManagerOptions) {
    this.#o = options;
    this.#connectors = new Map(options.connectors.map((c) => [c.type, c]));
  }

  /** Every trigger `spec` declares: its `triggers` list, the cron annotations, and `topic` annotations × gateway connectors. */
  declared(spec: FunctionSpec): Declared[] {
    const out: Declared[] = (spec.triggers ?? []).map((t) => ({ spec: t, origin: 'spec' as const }));
    const fromAnnotations = annotationTriggers(spec.annotations);
    if (fromAnnotations.cron) out.push({ spec: fromAnnotations.cron, origin: 'annotation' });
    let n = 0;
    for (const topic of fromAnnotations.topics) {
      for (const url of this.#o.gatewayConnectors ?? []) out.push({ spec: connectorTrigger(url, topic, ++n), origin: 'connector' });
    }
    return out;
  }

  /**
   * Checks at deploy that every trigger can work: its credentials secret exists, the
   * expression parses, the broker answers. Rejects with the first problem (a 400).
   */
  async validate(spec: FunctionSpec): Promise<void> {
    const declared = this.declared(spec);
    const timeoutMs = this.#o.checkTimeoutMs ?? 5_000;
    await Promise.all(
      declared.map(async ({ spec: t }) => {
        const connector = this.#connectors.get(t.type);
        if (!connector) throw new KssError('KSS_INVALID_TRIGGER', `triggers.${t.name}: this gateway has no ${t.type} connector`);
        const credentials = await this.#credentials(spec.namespace, t);
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new KssError('KSS_TRIGGER_UNREACHABLE', `triggers.${t.name}: no answer from ${triggerSource(t)} within ${timeoutMs / 1000}s`)), timeoutMs);
        });
        try {
          await Promise.race([connector.check(t, credentials, this.#o.clock), timeout]);
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  }

  /** Brings `ref`'s running triggers in line with its current spec (none when removed). */
  sync(ref: FunctionRef): Promise<void> {
    const k = fnKey(ref);
    const previous = this.#syncing.get(k) ?? Promise.resolve();
    const next = previous.then(() => this.#sync(ref)).catch((err: unknown) => this.#o.logger.error({ err, function: qualifiedName(ref) }, 'could not update triggers'));
    this.#syncing.set(k, next);
    void next.finally(() => {
      if (this.#syncing.get(k) === next) this.#syncing.delete(k);
    });
    return next;
  }

  async #sync(ref: FunctionRef): Promise<void> {
    const k = fnKey(ref);
    const spec = this.#closed ? undefined : this.#o.lookup(ref);
    const wanted = new Map<string, Declared>();
    if (spec) {
      try {
        for (const d of this.declared(spec)) wanted.set(d.spec.name, d);
      } catch (err) {
        this.#o.logger.error({ err, function: qualifiedName(ref) }, 'triggers could not be read from the spec');
      }
    }
    const running = this.#running.get(k) ?? new Map<string, Running>();
    const stops: Array<Promise<void>> = [];
    for (const [name, r] of running) {
      const w = wanted.get(name);
      if (w && JSON.stringify(w.spec) === r.key) {
        if (this.#standby(r.spec) === r.standby) {
          wanted.delete(name);
          continue;
        }
        // Leadership changed: stopped (in-flight messages finish) or started below, not retired.
        running.delete(name);
        stops.push(this.#stop(r));
        continue;
      }
      running.delete(name);
      // Stopped for good (not by a shutdown): what it left on the broker is cleaned up.
      stops.push(this.#stop(r).then(() => (this.#closed ? undefined : this.#retire(ref, r.spec, w ? 'replaced' : 'removed'))));
    }
    await Promise.all(stops);
    if (!spec) {
      this.#running.delete(k);
      if (!this.#closed) this.#o.memory.forget(ref.namespace, ref.name);
      return;
    }
    for (const d of wanted.values()) running.set(d.spec.name, this.#start(ref, d));
    if (running.size) this.#running.set(k, running);
    else this.#running.delete(k);
  }

  /**
   * This replica started or stopped leading: starts its single-consumer triggers, or
   * stops them (what they are handling finishes first). Resolves when done.
   */
  async leadershipChanged(): Promise<void> {
    const refs = [...this.#running.values()].flatMap((fn) => {
      const first = fn.values().next().value;
      return first ? [{ name: first.status.function, namespace: first.status.namespace }] : [];
    });
    await Promise.all(refs.map((ref) => this.sync(ref)));
  }

  /** Whether `t` waits on this replica: it needs a single consumer and another replica leads. */
  #standby(t: TriggerSpec): boolean {
    return this.#o.leader !== undefined && !this.#o.leader.leading && this.#connectors.get(t.type)?.singleConsumer === true;
  }

  /** Starts every deployed function's triggers (gateway start). */
  async startAll(refs: Iterable<FunctionRef>): Promise<void> {
    await Promise.all([...refs].map((ref) => this.sync(ref)));
  }

  /** Every trigger's state, optionally of one function or namespace. */
  list(filter: { name?: string; namespace?: string } = {}): TriggerStatus[] {
    const out: TriggerStatus[] = [];
    for (const fn of this.#running.values()) {
      for (const r of fn.values()) {
        if (filter.namespace && r.status.namespace !== filter.namespace) continue;
        if (filter.name && r.status.function !== filter.name) continue;
        const next = r.handle?.nextRunAt?.();
        out.push({ ...r.status, messages: { ...r.status.messages }, ...(next !== undefined ? { nextRunAt: new Date(next).toISOString() } : {}) });
      }
    }
    return out.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.function.localeCompare(b.function) || a.name.localeCompare(b.name));
  }

  /** Stops every trigger (gateway shutdown); in-flight messages finish first. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#syncing.values()]);
    const all = [...this.#running.values()].flatMap((fn) => [...fn.values()]);
    this.#running.clear();
    await Promise.all(all.map((r) => this.#stop(r)));
  }

  async #stop(r: Running): Promise<void> {
    r.abort.abort();
    await r.handle?.stop().catch((err: unknown) => this.#o.logger.warn({ err, trigger: r.status.name }, 'trigger did not stop cleanly'));
    r.status.state = 'stopped';
  }

  async #retire(ref: FunctionRef, t: TriggerSpec, why: 'removed' | 'replaced'): Promise<void> {
    const connector = this.#connectors.get(t.type);
    if (!connector?.retire) return;
    const logger = this.#o.logger.child({ function: qualifiedName(ref), trigger: t.name });
    await connector.retire(t, { function: ref, logger, credentials: () => this.#credentials(ref.namespace, t) }, why).catch((err: unknown) => logger.warn({ err }, 'could not clean up the trigger on its broker'));
  }

  #start(ref: FunctionRef, d: Declared): Running {
    const t = d.spec;
    const now = new Date(this.#o.clock.now()).toISOString();
    const r: Running = {
      spec: t,
      origin: d.origin,
      key: JSON.stringify(t),
      abort: new AbortController(),
      standby: false,
      status: {
        function: ref.name,
        namespace: ref.namespace,
        name: t.name,
        type: t.type,
        mode: t.mode,
        origin: d.origin,
        source: triggerSource(t),
        state: 'connecting',
        since: now,
        messages: { accepted: 0, succeeded: 0, failed: 0, deadLettered: 0, skipped: 0 },
      },
    };
    const connector = this.#connectors.get(t.type);
    if (!connector) {
      r.status.state = 'stopped';
      r.status.reason = `this gateway has no ${t.type} connector`;
      return r;
    }
    if (this.#standby(t)) {
      r.standby = true;
      r.status.state = 'standby';
      r.status.reason = STANDBY_REASON;
      return r;
    }
    try {
      r.handle = connector.start(t, this.#context(ref, r));
    } catch (err) {
      r.status.state = 'stopped';
      r.status.reason = err instanceof Error ? err.message : String(err);
      this.#o.onEvent?.(ref, `trigger ${t.name} could not start: ${r.status.reason}`);
    }
    return r;
  }

  #context(ref: FunctionRef, r: Running): TriggerContext {
    const t = r.spec;
    const o = this.#o;
    const spec = () => o.lookup(ref);
    const logger = o.logger.child({ function: qualifiedName(ref), trigger: t.name });
    return {
      function: ref,
      logger,
      clock: o.clock,
      get retry() {
        const s = spec();
        return s ? retryPolicyOf(s) : DEFAULT_RETRY_POLICY;
      },
      get timeoutSeconds() {
        return spec()?.timeout ?? 60;
      },
      signal: r.abort.signal,
      credentials: () => this.#credentials(ref.namespace, t),
      deliver: (event) => this.#deliver(ref, t, event),
      unfinished: async (callId) => {
        const c = await o.queue.get(callId).catch(() => undefined);
        return c !== undefined && (c.state === 'queued' || c.state === 'running');
      },
      setState: (state, reason) => {
        if (r.abort.signal.aborted && state !== 'stopped') return;
        if (state === r.status.state && reason === r.status.reason) return;
        r.status.state = state;
        r.status.since = new Date(o.clock.now()).toISOString();
        if (reason === undefined) delete r.status.reason;
        else r.status.reason = reason;
        if (state === 'connected') logger.info(`trigger connected to ${triggerSource(t)}`);
        else if (state === 'disconnected') logger.warn({ reason }, 'trigger disconnected');
      },
      counted: (outcome, error) => {
        const m = r.status.messages;
        if (outcome === 'accepted') m.accepted++;
        else if (outcome === 'succeeded') m.succeeded++;
        else if (outcome === 'failed') m.failed++;
        else if (outcome === 'dead-letter') m.deadLettered++;
        else m.skipped++;
        r.status.lastMessageAt = new Date(o.clock.now()).toISOString();
        if (error) r.status.lastError = error.slice(0, 300);
        o.onMessage?.(ref, t.name, t.type, outcome);
      },
      event: (text) => o.onEvent?.(ref, text),
      memory: {
        get: () => o.memory.get(ref.namespace, ref.name, t.name),
        set: (value) => o.memory.set(ref.namespace, ref.name, t.name, value),
      },
      sleep: (ms) => sleep(o.clock, ms, r.abort.signal),
    };
  }

  async #credentials(namespace: string, t: TriggerSpec): Promise<BrokerCredentials | undefined> {
    if (!t.credentials) return undefined;
    if (!this.#o.secrets) throw new KssError('KSS_INVALID_TRIGGER', `triggers.${t.name}.credentials: this gateway has no secret store`);
    const missing = await this.#o.secrets.missing(namespace, [t.credentials]);
    if (missing.length) {
      throw new KssError('KSS_MISSING_SECRET', `triggers.${t.name}.credentials: secret "${t.credentials}" does not exist in namespace "${namespace}"; create it with \`kss secret create ${t.credentials} --from-literal 'user:password'\``);
    }
    const value = (await this.#o.secrets.read(namespace, [t.credentials])).get(t.credentials)!.toString('utf8').trim();
    const colon = value.indexOf(':');
    return colon < 0 ? { token: value } : { username: value.slice(0, colon), password: value.slice(colon + 1) };
  }

  /** One event to the function: stored as an async call, or invoked now (sync). */
  async #deliver(ref: FunctionRef, t: TriggerSpec, event: TriggerEvent): Promise<DeliveryOutcome> {
    const spec = this.#o.lookup(ref);
    if (!spec) return { kind: 'failed', error: `function "${ref.name}" no longer exists`, retryable: false };
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', ...event.headers, 'x-kss-trigger': `${t.type}/${t.name}` };
    const [path, query = ''] = t.path.split('?', 2) as [string, string?];
    const request = { method: 'POST', path, query, headers, body: event.body };
    if (t.mode === 'async') {
      try {
        const callId = await this.#o.calls.accept(ref, request, undefined);
        return { kind: 'accepted', callId };
      } catch (err) {
        return { kind: 'failed', error: `could not queue the call: ${err instanceof Error ? err.message : String(err)}`, retryable: true };
      }
    }
    const outcome = await invokeBuffered(this.#o.invoker, ref, request);
    if ('result' in outcome && outcome.result.status >= 200 && outcome.result.status < 300) {
      return { kind: 'succeeded', status: outcome.result.status, body: outcome.result.body, headers: outcome.result.headers };
    }
    const status = 'result' in outcome ? outcome.result.status : outcome.status;
    return { kind: 'failed', error: 'error' in outcome ? outcome.error : `the function answered ${status}`, retryable: isRetryable(outcome, retryPolicyOf(spec)), ...(status !== undefined ? { status } : {}) };
  }
}

/**
 * The trigger a `topic` annotation makes on a gateway connector URL: `mqtt://…` (QoS 1),
 * `nats://…` (core subject), `amqp://…?exchange=NAME` (topic exchange, default `kss`,
 * the topic as binding key). `topic` 'check' only validates the URL.
 */
export function connectorTrigger(url: string, topic: string, n: number): TriggerSpec {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new KssError('KSS_BAD_REQUEST', `--connector: "${url.slice(0, 80)}" is not a URL (mqtt://, nats:// or amqp://)`);
  }
  if (u.username || u.password) throw new KssError('KSS_BAD_REQUEST', `--connector: no credentials in the URL (they would show in \`kss triggers\`); connectors log in as the broker's default user`);
  const base = { name: `topic-${n}`, mode: 'async' as const, path: '/' };
  switch (u.protocol) {
    case 'mqtt:':
    case 'mqtts:':
      return { ...base, name: `mqtt-topic-${n}`, type: 'mqtt', url: `${u.protocol}//${u.host}`, topic, qos: 1, protocolVersion: 4 };
    case 'nats:':
    case 'tls:':
      return { ...base, name: `nats-topic-${n}`, type: 'nats', url: `${u.protocol}//${u.host}`, subject: topic, queueGroup: 'kss' };
    case 'amqp:':
    case 'amqps:': {
      const exchange = u.searchParams.get('exchange') ?? 'kss';
      u.search = '';
      return { ...base, name: `rabbitmq-topic-${n}`, type: 'rabbitmq', url: u.href.replace(/\/$/, ''), exchange, exchangeType: 'topic', routingKey: topic, prefetch: 32 };
    }
    default:
      throw new KssError('KSS_BAD_REQUEST', `--connector: "${url.slice(0, 80)}" is not an mqtt://, nats:// or amqp:// URL`);
  }
}
