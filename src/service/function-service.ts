/**
 * The service layer: every management action, once. The OpenFaaS routes and the
 * resource API are thin adapters over this; neither has logic the other lacks.
 * It keeps an in-memory copy of the specs so the invoke path never reads the store.
 */
import type { Logger } from 'pino';
import {
  KssError,
  isKssError,
  DEFAULT_NAMESPACE,
  qualifiedName,
  refOf,
  scaleSettings,
  toFunctionStatus,
  type FunctionRef,
  type FunctionSpec,
  type FunctionStatus,
  type Provider,
  type ProviderFunctionStatus,
  type ScaleSettings,
} from '../core/index.js';
import { assertValidVolumes, invokePolicy, networkOf, parseFunctionSpec, type InvokePolicy } from '../core/index.js';
import {
  CANARY_ANNOTATION,
  KEEP_REVISIONS,
  assertRevisionId,
  deploymentRef,
  deploymentSpec,
  functionOf,
  looksLikeDeployment,
  parseCanaryPlan,
  parseTraffic,
  revisionNumber,
  sortTraffic,
  systemClock,
  type CanaryState,
  type Clock,
  type Revision,
  type TrafficTarget,
  type RevisionEntry,
  type RevisionsView,
} from '../core/index.js';
import type { Route } from '../invoke/index.js';
import type { RevisionStore, Routing } from '../store/index.js';
import type { FunctionCounters, InvocationStats } from '../invoke/index.js';
import type { CodeStore, FunctionStore, StoreChange, StoredFunction } from '../store/index.js';
import { isWatchableStore, notFound } from '../store/index.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { SecretSource } from '../core/index.js';
import { assertValidSecretName, nsFlag } from '../secrets/index.js';
import type { BuildService } from '../build/index.js';

/** A deployed function as the invoke path and the autoscaler see it: spec plus parsed policies. */
export interface DeployedFunction {
  spec: FunctionSpec;
  policy: InvokePolicy;
  scale: ScaleSettings;
  /** Its traffic split, when the gateway keeps revisions (the invoke path picks a route). */
  routes?: Route[];
  /** The split and the canary, as stored. */
  routing?: Routing;
}

/** One revision as the revisions API shows it (the wire type lives in core, shared with the SDK). */
export type RevisionInfo = RevisionEntry;
export type { RevisionsView };

export interface FunctionServiceOptions {
  store: FunctionStore;
  provider: Provider;
  code: CodeStore;
  builds: BuildService;
  stats: InvocationStats;
  logger: Logger;
  version: string;
  /** Where the secrets a function lists must exist (deploys naming a missing one fail); none: specs may not list secrets. */
  secrets?: SecretSource;
  /**
   * Where revisions live. With one, every changing deploy makes a revision that runs as
   * its own deployment (`NAME--rN`) and traffic is split between them; without one (the
   * Kubernetes store, for now) a function is one deployment under its own name.
   */
  revisions?: RevisionStore;
  clock?: Clock;
  /** The canary controller's clock (its steps' deadlines); the gateway's by default, a fake one in tests. */
  canaryClock?: Clock;
  /** Longest an update waits for its new revision's first ready replica before moving traffic to it (default 30 s). */
  readyWaitMs?: number;
}

/** The trigger manager, as the service drives it. */
export interface FunctionTriggers {
  /** Checks a spec's triggers at deploy: expressions, credentials, brokers reachable. */
  validate(spec: FunctionSpec): Promise<void>;
  /** Starts, changes or (for a removed function) stops and cleans up its triggers; resolves when done. */
  sync(ref: FunctionRef): Promise<void>;
}

/** Gateway and provider facts for `/system/info`. */
export interface SystemInfo {
  provider: { provider: string; orchestration: string; version: { sha: string; release: string } };
  version: { sha: string; release: string };
  arch: string;
}

/** What happened to a function, for listeners (metrics, rate limits, the log stream). */
/** `routed`: traffic moved between revisions (by hand, a rollback, a canary step) or revisions were pinned or collected. */
export type FunctionChange = 'deployed' | 'removed' | 'scaled' | 'routed';

export class FunctionService {
  readonly #store: FunctionStore;
  readonly #provider: Provider;
  readonly #code: CodeStore;
  readonly #builds: BuildService;
  readonly #stats: InvocationStats;
  readonly #logger: Logger;
  readonly #version: string;
  readonly #specs = new Map<string, DeployedFunction>();
  /** Specs being created or updated right now (their secrets count as in use). */
  readonly #deploying = new Map<string, FunctionSpec>();
  readonly #secrets: SecretSource | undefined;
  readonly #mutex = new KeyedMutex();
  readonly #listeners = new Set<(ref: FunctionRef, change: FunctionChange, detail?: string) => void>();
  #scaling: { pin(ref: FunctionRef, replicas: number): void; release(ref: FunctionRef): void } | undefined;
  #triggers: FunctionTriggers | undefined;
  readonly #revisions: RevisionStore | undefined;
  readonly #clock: Clock;
  readonly #canaryClock: Clock;
  readonly #readyWaitMs: number;
  /** Revision deployments on the provider, by deployment key → their spec (the autoscaler's list). */
  readonly #deployments = new Map<string, FunctionSpec>();
  /** Deployments ever run per function since start (their stats add up to the function's). */
  readonly #ranDeployments = new Map<string, Set<string>>();
  /** The newest revision of each function (it may not be in the split: a canary, or one that never got ready). */
  readonly #latest = new Map<string, string>();

  constructor(options: FunctionServiceOptions) {
    this.#store = options.store;
    this.#provider = options.provider;
    this.#code = options.code;
    this.#builds = options.builds;
    this.#stats = options.stats;
    this.#logger = options.logger;
    this.#version = options.version;
    this.#secrets = options.secrets;
    this.#revisions = options.revisions;
    this.#clock = options.clock ?? systemClock;
    this.#canaryClock = options.canaryClock ?? this.#clock;
    this.#readyWaitMs = options.readyWaitMs ?? 30_000;
  }

  /** True when this gateway keeps revisions (SQLite on one machine, ControllerRevisions on Kubernetes). */
  get keepsRevisions(): boolean {
    return this.#revisions !== undefined;
  }

  /**
   * Brings back every stored function (gateway start). A function that cannot start
   * is logged and left in the store, so nothing deployed is ever lost.
   */
  async restore(): Promise<{ restored: number; failed: number }> {
    const all = await this.#store.list();
    let failed = 0;
    await Promise.all(
      all.map(async ({ spec }) => {
        try {
          if (!this.#revisions) {
            this.#remember(spec);
            await this.#builds.ensureBuilt(spec);
            await this.#provider.deploy(spec);
            return;
          }
          const ref = refOf(spec);
          let routing = await this.#revisions.routing(ref);
          if (!routing) {
            // A data dir from before revisions: what is stored becomes r1, serving everything.
            const first = await this.#revisions.add(spec, 'upgrade', this.#now());
            routing = { traffic: [{ revision: first.revision, percent: 100 }], canary: null };
            await this.#revisions.setRouting(ref, routing);
          }
          const [latest] = await this.#revisions.list(ref);
          if (latest) this.#latest.set(key(ref), latest.revision);
          // Known before its revisions start: one that cannot start answers 5xx, not 404.
          this.#remember(spec, routing);
          for (const t of routing.traffic) {
            const rev = await this.#revisions.get(ref, t.revision);
            if (rev) await this.#deployRevision(rev);
          }
        } catch (err) {
          failed++;
          this.#logger.error({ function: qualifiedName(refOf(spec)), err }, 'could not start a stored function');
        }
      }),
    );
    return { restored: all.length - failed, failed };
  }

  /**
   * Follows a store shared with other gateways (Function resources on Kubernetes): a
   * function another gateway deployed, changed or removed is taken into this one's
   * memory (so its invoke path and autoscaler see it) and handed to the provider, which
   * applies the same objects again (idempotent) and so knows the function too. Returns
   * a function that stops following; a store that is not shared makes it a no-op.
   */
  followStore(): () => void {
    if (!isWatchableStore(this.#store)) return () => {};
    return this.#store.watch((change) => {
      const ref = change.type === 'upsert' ? refOf(change.stored.spec) : change.ref;
      void this.#mutex
        .run(key(ref), () => this.#applyStoreChange(change, ref))
        .catch((err: unknown) => this.#logger.error({ err, function: qualifiedName(ref) }, 'could not follow a change made by another gateway'));
    });
  }

  async #applyStoreChange(change: StoreChange, ref: FunctionRef): Promise<void> {
    const known = this.#specs.get(key(ref));
    if (change.type === 'delete') {
      if (!known) return;
      this.#specs.delete(key(ref));
      await this.#triggers?.sync(ref);
      this.#changed(ref, 'removed', 'removed (by another gateway)');
      this.#stats.forget(ref);
      // With revisions, their objects go with the Function (owned by it); this gateway forgets them.
      if (this.#revisions) this.#forgetDeployments(ref);
      else await this.#provider.remove(ref);
      return;
    }
    const spec = change.stored.spec;
    if (this.#revisions) return this.#followRevisions(spec, known);
    // This gateway's own write comes back through the watch: nothing new.
    if (known && canonical(known.spec) === canonical(spec)) return;
    this.#remember(spec);
    await this.#provider.update(spec);
    await this.#triggers?.sync(ref);
    this.#changed(ref, 'deployed', `${known ? 'updated' : 'deployed'} by another gateway (${spec.runtime}, code ${spec.code?.slice(0, 19) ?? spec.envProcess ?? '-'})`);
  }

  /**
   * Takes in another gateway's write to a function that has revisions: its spec and its
   * split (a deploy, `kss traffic`, a rollback or a canary step). The revisions in the
   * split start here too (their code is in the cluster), those left out stop once this
   * gateway's requests to them finish. A function still being created elsewhere (no split
   * yet) is taken in when its split is written, which comes back through the watch.
   */
  async #followRevisions(spec: FunctionSpec, known: DeployedFunction | undefined): Promise<void> {
    const ref = refOf(spec);
    const revisions = this.#revisions!;
    const routing = await revisions.routing(ref);
    if (!routing) return;
    if (known && canonical(known.spec) === canonical(spec) && JSON.stringify(known.routing) === JSON.stringify(routing)) return;
    for (const t of routing.traffic) {
      const rev = await revisions.get(ref, t.revision);
      if (rev) await this.#deployRevision(rev);
    }
    const [latest] = await revisions.list(ref);
    if (latest) this.#latest.set(key(ref), latest.revision);
    const specChanged = !known || canonical(known.spec) !== canonical(spec);
    this.#remember(spec, routing);
    this.#retireUnrouted(ref, routing, spec.timeout);
    const split = routing.traffic.map((t) => `${t.revision}=${t.percent}%`).join(' ');
    if (specChanged) {
      await this.#triggers?.sync(ref);
      this.#changed(ref, 'deployed', `${known ? 'updated' : 'deployed'} by another gateway (${spec.runtime}, code ${spec.code?.slice(0, 19) ?? spec.envProcess ?? '-'}): ${split}`);
    } else this.#changed(ref, 'routed', `traffic ${split} (set by another gateway)`);
  }

  /** When `ref` last received a request since the gateway started (epoch ms), 0 if never. */
  lastRequestAt(ref: FunctionRef): number {
    return this.counters(ref).lastRequestAt;
  }

  /** The invoke counters of a function: its own, or summed over its revisions' deployments. */
  counters(ref: FunctionRef): FunctionCounters {
    const ran = this.#ranDeployments.get(key(ref));
    if (!ran) return this.#stats.get(ref);
    const sum: FunctionCounters = { invocationCount: 0, inFlight: 0, coldStarts: 0, lastRequestAt: 0, busySeconds: 0 };
    for (const k of ran) {
      const [namespace, name] = k.split('/') as [string, string];
      const c = this.#stats.get({ namespace, name });
      sum.invocationCount += c.invocationCount;
      sum.inFlight += c.inFlight;
      sum.coldStarts += c.coldStarts;
      sum.busySeconds += c.busySeconds;
      sum.lastRequestAt = Math.max(sum.lastRequestAt, c.lastRequestAt);
    }
    return sum;
  }

  /**
   * The provider's view of each function, revisions' deployments added up (replicas,
   * ready replicas, instances): what status, metrics history and the dashboard show.
   */
  async liveByFunction(namespace?: string): Promise<ProviderFunctionStatus[]> {
    const live = await this.#provider.list(namespace);
    if (!this.#revisions) return live;
    const byFn = new Map<string, ProviderFunctionStatus>();
    for (const s of live) {
      const { ref } = functionOf(s.ref);
      const k = key(ref);
      const acc = byFn.get(k);
      if (!acc) byFn.set(k, { ref, replicas: s.replicas, availableReplicas: s.availableReplicas, instances: [...s.instances] });
      else {
        acc.replicas += s.replicas;
        acc.availableReplicas += s.availableReplicas;
        acc.instances.push(...s.instances);
      }
    }
    return [...byFn.values()];
  }

  lookup(ref: FunctionRef): DeployedFunction | undefined {
    return this.#specs.get(key(ref));
  }

  /** Every deployed function's spec, from memory (triggers, metrics and the dashboard walk these). */
  *specs(): Iterable<FunctionSpec> {
    for (const f of this.#specs.values()) yield f.spec;
  }

  /**
   * What runs on the provider, one spec per deployment: each revision's (`NAME--rN`)
   * when revisions are kept, else each function's. The autoscaler walks these, so every
   * revision scales on its own.
   */
  *deploymentSpecs(): Iterable<FunctionSpec> {
    if (!this.#revisions) {
      yield* this.specs();
      return;
    }
    yield* this.#deployments.values();
  }

  /**
   * A manual scale (`POST /system/scale-function/{name}`, `kss scale`): sets the
   * replicas now, within the function's min and max, and keeps them there (the
   * autoscaler leaves the function alone) until {@link autoscale} hands it back.
   */
  async scale(ref: FunctionRef, replicas: unknown): Promise<void> {
    const fn = this.#specs.get(key(ref));
    if (!fn) throw notFound(ref);
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw new KssError('KSS_INVALID_SPEC', 'replicas: a whole number, 0 or more');
    }
    const { min, max, zero } = fn.scale;
    const lowest = zero ? 0 : min;
    if (replicas < lowest || replicas > max) {
      throw new KssError('KSS_INVALID_SPEC', `replicas: ${replicas} is outside this function's range ${lowest}..${max} (labels com.openfaas.scale.min/max${zero ? '' : '; 0 needs com.openfaas.scale.zero=true'})`);
    }
    // With revisions, the revision serving most of the traffic is the one scaled by hand.
    const main = fn.routing ? mainRevision(fn.routing.traffic) : undefined;
    const target = main ? deploymentRef(ref, main) : ref;
    this.#scaling?.pin(target, replicas);
    await this.#provider.scale(target, replicas);
    this.#logger.info({ function: qualifiedName(ref), replicas }, 'scaled by hand');
    this.#changed(ref, 'scaled', `scaled by hand to ${replicas} replica(s); kept there until \`kss scale ${ref.name} --auto\``);
  }

  /** Hands a manually scaled function back to the autoscaler. */
  autoscale(ref: FunctionRef): void {
    const fn = this.#specs.get(key(ref));
    if (!fn) throw notFound(ref);
    this.#scaling?.release(ref);
    for (const t of fn.routing?.traffic ?? []) this.#scaling?.release(deploymentRef(ref, t.revision));
  }

  /** Connects the trigger manager: deploys check their triggers before anything is built, and every change syncs them. */
  useTriggers(triggers: FunctionTriggers): void {
    this.#triggers = triggers;
  }

  /** Connects the autoscaler (pin/release for manual scale). */
  useAutoscaler(scaling: { pin(ref: FunctionRef, replicas: number): void; release(ref: FunctionRef): void }): void {
    this.#scaling = scaling;
  }

  #remember(spec: FunctionSpec, routing?: Routing): void {
    const ref = refOf(spec);
    const fn: DeployedFunction = { spec, policy: invokePolicy(spec), scale: scaleSettings(spec) };
    if (routing) {
      fn.routing = routing;
      fn.routes = routing.traffic.map((t) => ({ revision: t.revision, deployment: deploymentRef(ref, t.revision), percent: t.percent }));
    }
    this.#specs.set(key(ref), fn);
  }

  #now(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  /** Starts a revision's deployment unless it runs already (its build is kept, so nothing is rebuilt). */
  async #deployRevision(rev: Revision): Promise<void> {
    const spec = deploymentSpec(rev);
    const k = key(refOf(spec));
    if (this.#deployments.has(k)) return;
    let unbuilt: unknown;
    try {
      await this.#builds.ensureBuilt(rev.spec);
    } catch (err) {
      // This gateway never had the code (another replica of it on Kubernetes built it, or this
      // one restarted with an empty data dir): a provider that keeps built code (the cluster's
      // ConfigMaps) starts from that, else it fails and the missing code is the reason given.
      if (!isKssError(err) || err.code !== 'KSS_CODE_NOT_FOUND') throw err;
      unbuilt = err;
    }
    try {
      await this.#provider.deploy(spec);
    } catch (err) {
      throw unbuilt ?? err;
    }
    this.#deployments.set(k, spec);
    const fnKey = key(refOf(rev.spec));
    let ran = this.#ranDeployments.get(fnKey);
    if (!ran) this.#ranDeployments.set(fnKey, (ran = new Set()));
    ran.add(k);
  }

  /**
   * Stops the deployments of `ref` that are no longer in its split, once the requests
   * they are serving have finished (bounded by the function's timeout): a switch of
   * traffic loses no request in flight.
   */
  #retireUnrouted(ref: FunctionRef, routing: Routing, timeoutSeconds: number): void {
    const keep = new Set(routing.traffic.map((t) => key(deploymentRef(ref, t.revision))));
    for (const [k, spec] of this.#deployments) {
      const owner = functionOf(refOf(spec));
      if (key(owner.ref) !== key(ref) || keep.has(k)) continue;
      this.#deployments.delete(k);
      const dep = refOf(spec);
      const deadline = this.#clock.now() + timeoutSeconds * 1000 + 1000;
      const drain = async () => {
        while (this.#stats.get(dep).inFlight > 0 && this.#clock.now() < deadline) await new Promise((r) => this.#clock.setTimeout(() => r(undefined), 50));
        // Under the function's lock, as every routing change: a rollback to this revision either
        // comes first (and the checks below keep it) or after the removal has finished (and starts
        // it again). Unlocked, its deploy could land between the checks and the removal's deletes,
        // which then took the revision it had just started (seen on Kubernetes, where both are API calls).
        await this.#mutex.run(key(ref), async () => {
          // Put back in the split meanwhile (a quick rollback): keep it running.
          const now = this.#specs.get(key(ref))?.routing;
          if (now?.traffic.some((t) => key(deploymentRef(ref, t.revision)) === k)) return;
          if (this.#deployments.has(k)) return;
          await this.#provider.remove(dep);
        });
      };
      void drain().catch((err: unknown) => this.#logger.error({ err, deployment: qualifiedName(dep) }, 'could not stop a retired revision'));
    }
  }

  /** Waits (bounded) until `dep` has a ready replica; false when it did not get one in time. */
  async #waitReady(dep: FunctionRef): Promise<boolean> {
    const deadline = this.#clock.now() + this.#readyWaitMs;
    while (this.#clock.now() < deadline) {
      if (this.#provider.resolve(dep).length > 0) return true;
      await new Promise((r) => this.#clock.setTimeout(() => r(undefined), 20));
    }
    return this.#provider.resolve(dep).length > 0;
  }

  /** Whether any deployment in `routing` has a ready replica now. */
  #serving(ref: FunctionRef, routing: Routing | undefined): boolean {
    return routing?.traffic.some((t) => t.percent > 0 && this.#provider.resolve(deploymentRef(ref, t.revision)).length > 0) ?? false;
  }

  /** Keeps the newest {@link KEEP_REVISIONS} revisions, every pinned one and every one in the split. */
  async #collectGarbage(ref: FunctionRef, routing: Routing): Promise<void> {
    if (!this.#revisions) return;
    const all = await this.#revisions.list(ref);
    const inSplit = new Set(routing.traffic.map((t) => t.revision));
    for (const rev of all.slice(KEEP_REVISIONS)) {
      if (rev.pinned || inSplit.has(rev.revision) || routing.canary?.from === rev.revision) continue;
      await this.#revisions.delete(ref, rev.revision);
      this.#changed(ref, 'routed', `revision ${rev.revision} garbage-collected (more than ${KEEP_REVISIONS} revisions; pin one to keep it)`);
    }
  }

  /**
   * Records a new revision of `spec` and routes to it: 100% at once (after its first
   * replica is ready, when something is serving now), or the canary's first share when
   * the spec carries a `kss.canary` plan and an earlier revision serves.
   */
  async #newRevision(spec: FunctionSpec, actor: string, previous: Routing | undefined): Promise<{ revision: Revision; routing: Routing; note: string }> {
    const ref = refOf(spec);
    const revisions = this.#revisions!;
    const rev = await revisions.add(spec, actor, this.#now());
    this.#latest.set(key(ref), rev.revision);
    await this.#deployRevision(rev);
    const dep = deploymentRef(ref, rev.revision);
    const planText = spec.annotations?.[CANARY_ANNOTATION];
    const main = previous ? mainRevision(previous.traffic) : undefined;
    if (planText !== undefined && main) {
      const plan = parseCanaryPlan(planText);
      const canary: CanaryState = { ...plan, revision: rev.revision, from: main, percent: plan.initialPercent, nextStepAt: this.#canaryClock.now() + plan.intervalSeconds * 1000 };
      const routing: Routing = { traffic: sortTraffic([{ revision: rev.revision, percent: plan.initialPercent }, { revision: main, percent: 100 - plan.initialPercent }]), canary };
      return { revision: rev, routing, note: `canary ${rev.revision} starts at ${plan.initialPercent}% (${main} ${100 - plan.initialPercent}%), +${plan.stepPercent}% every ${plan.intervalSeconds}s while its error rate stays ≤ ${fmtPct(plan.maxErrorRate)}${plan.maxP99Seconds !== null ? ` and p99 ≤ ${Math.round(plan.maxP99Seconds * 1000)} ms` : ''}` };
    }
    if (this.#serving(ref, previous) && !(await this.#waitReady(dep))) {
      // Like a Knative revision that never gets Ready: the old one keeps the traffic.
      const routing = previous!;
      return { revision: rev, routing, note: `${rev.revision} did not become ready within ${Math.round(this.#readyWaitMs / 1000)}s; traffic stays on ${routing.traffic.map((t) => `${t.revision}=${t.percent}%`).join(' ')} (see \`kss logs ${ref.name}\`; move it with \`kss traffic ${ref.name} ${rev.revision}=100\`)` };
    }
    return { revision: rev, routing: { traffic: [{ revision: rev.revision, percent: 100 }], canary: null }, note: `${rev.revision} serves 100%` };
  }

  /** Registers a listener for deployed, updated and removed functions (rate-limit buckets, metrics). */
  onFunctionChanged(listener: (ref: FunctionRef, change: FunctionChange, detail?: string) => void): void {
    this.#listeners.add(listener);
  }

  #changed(ref: FunctionRef, change: FunctionChange, detail?: string): void {
    for (const l of this.#listeners) l(ref, change, detail);
  }

  /** Creates a function; `KSS_FUNCTION_EXISTS` when the name is taken. `actor` is recorded on its first revision. */
  async create(input: unknown, defaultNamespace?: string, actor = 'anonymous'): Promise<FunctionStatus> {
    const spec = this.#parse(input, defaultNamespace);
    const ref = refOf(spec);
    return this.#mutex.run(key(ref), () => this.#deployingWith(spec, async () => {
      if (await this.#store.get(ref)) {
        throw new KssError('KSS_FUNCTION_EXISTS', `function "${ref.name}" already exists in namespace "${ref.namespace}"; update it with PUT or \`kss deploy\``);
      }
      await this.#assertSecretsExist(spec);
      await this.#triggers?.validate(spec);
      // Built first: a build failure leaves nothing deployed.
      await this.#builds.ensureBuilt(spec);
      let routing: Routing | undefined;
      if (this.#revisions) {
        // A removed function's leftovers (a crash between its steps) never leak into the new one.
        await this.#revisions.removeAll(ref);
        ({ routing } = await this.#newRevision(spec, actor, undefined));
      } else await this.#provider.deploy(spec);
      let stored: StoredFunction;
      try {
        stored = await this.#store.create(spec);
        if (routing) await this.#revisions!.setRouting(ref, routing);
      } catch (err) {
        await this.#removeDeployments(ref);
        throw err;
      }
      this.#remember(spec, routing);
      await this.#triggers?.sync(ref);
      this.#changed(ref, 'deployed', `deployed (${spec.runtime}, code ${spec.code?.slice(0, 19) ?? spec.envProcess ?? '-'})${routing ? `: revision ${routing.traffic[0]!.revision}` : ''}`);
      this.#logger.info({ function: qualifiedName(ref), code: spec.code }, 'function deployed');
      return this.#status(stored);
    }));
  }

  /**
   * Replaces a function's spec; `KSS_FUNCTION_NOT_FOUND` when there is none. With
   * revisions, a changed spec becomes a new revision (an unchanged one changes nothing,
   * as in Knative) and traffic moves to it — at once, or step by step with a canary plan.
   */
  async update(input: unknown, defaultNamespace?: string, actor = 'anonymous'): Promise<FunctionStatus> {
    const spec = this.#parse(input, defaultNamespace);
    const ref = refOf(spec);
    return this.#mutex.run(key(ref), () => this.#deployingWith(spec, async () => {
      if (!(await this.#store.get(ref))) throw notFound(ref);
      await this.#assertSecretsExist(spec);
      await this.#triggers?.validate(spec);
      if (spec.annotations?.[CANARY_ANNOTATION] !== undefined) parseCanaryPlan(spec.annotations[CANARY_ANNOTATION]);
      // Built first: a build failure leaves the previous version serving.
      await this.#builds.ensureBuilt(spec);
      let detail: string;
      let routing: Routing | undefined;
      if (this.#revisions) {
        const previous = this.#specs.get(key(ref))?.routing ?? (await this.#revisions.routing(ref));
        const [latest] = await this.#revisions.list(ref);
        if (latest && canonical(withoutCanary(latest.spec)) === canonical(withoutCanary(spec)) && previous) {
          routing = previous;
          detail = `unchanged: ${latest.revision} is this spec already, no new revision`;
        } else {
          const made = await this.#newRevision(spec, actor, previous);
          routing = made.routing;
          detail = `updated (${spec.runtime}, code ${spec.code?.slice(0, 19) ?? spec.envProcess ?? '-'}): revision ${made.revision.revision}; ${made.note}`;
        }
        await this.#revisions.setRouting(ref, routing);
      } else {
        await this.#provider.update(spec);
        detail = `updated (${spec.runtime}, code ${spec.code?.slice(0, 19) ?? spec.envProcess ?? '-'}); replicas roll over`;
      }
      const stored = await this.#store.update(spec);
      this.#remember(spec, routing);
      if (routing) {
        this.#retireUnrouted(ref, routing, spec.timeout);
        await this.#collectGarbage(ref, routing);
      }
      await this.#triggers?.sync(ref);
      this.#changed(ref, 'deployed', detail);
      this.#logger.info({ function: qualifiedName(ref), code: spec.code }, 'function updated');
      return this.#status(stored);
    }));
  }

  /** The revisions, split and canary of a function. */
  async revisionsOf(ref: FunctionRef): Promise<RevisionsView> {
    const revisions = this.#requireRevisions();
    const fn = this.#specs.get(key(ref));
    if (!fn) throw notFound(ref);
    const routing = fn.routing ?? { traffic: [], canary: null };
    const all = await revisions.list(ref);
    const live = new Map((await this.#provider.list(ref.namespace)).map((s) => [s.ref.name, s]));
    const percent = new Map(routing.traffic.map((t) => [t.revision, t.percent]));
    return {
      function: ref.name,
      namespace: ref.namespace,
      latestRevision: all[0]?.revision ?? null,
      traffic: routing.traffic,
      canary: routing.canary ? { ...routing.canary, nextStepAt: new Date(routing.canary.nextStepAt).toISOString() } : null,
      revisions: all.map((r) => {
        const dep = deploymentRef(ref, r.revision);
        const l = live.get(dep.name);
        return {
          revision: r.revision,
          number: r.number,
          createdAt: r.createdAt,
          createdBy: r.createdBy,
          code: r.spec.code ?? null,
          runtime: r.spec.runtime,
          pinned: r.pinned,
          percent: percent.get(r.revision) ?? 0,
          replicas: l?.replicas ?? 0,
          availableReplicas: l?.availableReplicas ?? 0,
          invocationCount: this.#stats.get(dep).invocationCount,
        };
      }),
    };
  }

  /** Sets the split by hand (cancels a canary). Revisions newly in it start at once; those left out stop once drained. */
  async setTraffic(ref: FunctionRef, input: unknown, actor = 'anonymous', why?: string): Promise<RevisionsView> {
    const revisions = this.#requireRevisions();
    const traffic = parseTraffic(input);
    await this.#mutex.run(key(ref), async () => {
      const fn = this.#specs.get(key(ref));
      if (!fn) throw notFound(ref);
      const revs: Revision[] = [];
      for (const t of traffic) {
        const rev = await revisions.get(ref, t.revision);
        if (!rev) throw new KssError('KSS_REVISION_NOT_FOUND', `revision ${t.revision} of "${ref.name}" does not exist (it may have been garbage-collected); see \`kss revisions ${ref.name}\``);
        revs.push(rev);
      }
      for (const rev of revs) await this.#deployRevision(rev);
      const before = fn.routing;
      await this.#route(fn, { traffic, canary: null });
      const cancelled = before?.canary ? ` (canary ${before.canary.revision} cancelled)` : '';
      this.#changed(ref, 'routed', `${why ?? 'traffic set'} by ${actor}: ${fmtTraffic(traffic)}, was ${fmtTraffic(before?.traffic ?? [])}${cancelled}`);
    });
    return this.revisionsOf(ref);
  }

  /** Sends all traffic back to `to`, or to the newest revision older than the one serving most. */
  async rollback(ref: FunctionRef, to: unknown, actor = 'anonymous'): Promise<RevisionsView> {
    const revisions = this.#requireRevisions();
    const fn = this.#specs.get(key(ref));
    if (!fn) throw notFound(ref);
    let target: string;
    if (to !== undefined && to !== null && to !== '') {
      assertRevisionId(to, 'to');
      target = to;
    } else {
      const main = mainRevision(fn.routing?.traffic ?? []);
      const canary = fn.routing?.canary;
      const older = (await revisions.list(ref)).filter((r) => main === undefined || r.number < revisionNumber(canary ? canary.revision : main));
      if (canary) target = canary.from;
      else if (older[0]) target = older[0].revision;
      else throw new KssError('KSS_REVISION_NOT_FOUND', `"${ref.name}" has no revision before ${main ?? 'the current one'} to roll back to; see \`kss revisions ${ref.name}\``);
    }
    return this.setTraffic(ref, { [target]: 100 }, actor, `rolled back to ${target}`);
  }

  /** Pins or unpins a revision (a pinned one is never garbage-collected). */
  async pinRevision(ref: FunctionRef, revision: unknown, pinned: boolean): Promise<RevisionInfo> {
    const revisions = this.#requireRevisions();
    if (!this.#specs.has(key(ref))) throw notFound(ref);
    assertRevisionId(revision, 'revision');
    const rev = await revisions.setPinned(ref, revision, pinned);
    if (!rev) throw new KssError('KSS_REVISION_NOT_FOUND', `revision ${revision} of "${ref.name}" does not exist; see \`kss revisions ${ref.name}\``);
    this.#changed(ref, 'routed', `revision ${revision} ${pinned ? 'pinned: kept whatever the count' : 'unpinned'}`);
    return (await this.revisionsOf(ref)).revisions.find((r) => r.revision === revision)!;
  }

  /** Functions with a canary in progress (the canary controller walks these). */
  *canaries(): Iterable<{ ref: FunctionRef; canary: CanaryState }> {
    for (const fn of this.#specs.values()) if (fn.routing?.canary) yield { ref: refOf(fn.spec), canary: fn.routing.canary };
  }

  /**
   * Applies a canary controller's decision: the new split (and the canary's next state,
   * or null when it finished or was rolled back), and the event that explains it. A
   * decision about a canary that is no longer the one running (a deploy or a manual
   * split came first) is dropped.
   */
  async applyCanary(ref: FunctionRef, expected: CanaryState, routing: Routing, event: string): Promise<boolean> {
    this.#requireRevisions();
    return this.#mutex.run(key(ref), async () => {
      const fn = this.#specs.get(key(ref));
      const current = fn?.routing?.canary;
      if (!fn || !current || current.revision !== expected.revision || current.nextStepAt !== expected.nextStepAt) return false;
      await this.#route(fn, routing);
      if (!routing.canary) await this.#collectGarbage(ref, routing);
      this.#changed(ref, 'routed', event);
      return true;
    });
  }

  /** Stores a new split, serves it from now on, and retires the deployments it left out (once drained). */
  async #route(fn: DeployedFunction, routing: Routing): Promise<void> {
    const ref = refOf(fn.spec);
    await this.#requireRevisions().setRouting(ref, routing);
    this.#remember(fn.spec, routing);
    this.#retireUnrouted(ref, routing, fn.spec.timeout);
  }

  #requireRevisions(): RevisionStore {
    if (!this.#revisions) throw new KssError('KSS_BAD_REQUEST', 'this gateway does not keep revisions; a deploy replaces the function in place');
    return this.#revisions;
  }

  /** Stops every deployment of `ref` (all its revisions') and forgets its revisions. */
  async #removeDeployments(ref: FunctionRef): Promise<void> {
    if (!this.#revisions) {
      await this.#provider.remove(ref);
      return;
    }
    const mine = this.#forgetDeployments(ref);
    await Promise.all(mine.map((dep) => this.#provider.remove(dep)));
    await this.#revisions.removeAll(ref);
  }

  /** Drops what this gateway knows of `ref`'s revision deployments (their stats too); returns them. */
  #forgetDeployments(ref: FunctionRef): FunctionRef[] {
    const mine = [...this.#deployments].filter(([, spec]) => key(functionOf(refOf(spec)).ref) === key(ref));
    for (const [k] of mine) this.#deployments.delete(k);
    for (const k of this.#ranDeployments.get(key(ref)) ?? []) {
      const [namespace, name] = k.split('/') as [string, string];
      this.#stats.forget({ namespace, name });
    }
    this.#ranDeployments.delete(key(ref));
    this.#latest.delete(key(ref));
    return mine.map(([, spec]) => refOf(spec));
  }

  /**
   * Functions in `namespace` whose spec lists secret `name`: deployed ones and those
   * being deployed right now. Synchronous, so a secret's delete can check and act at once.
   */
  functionsUsingSecret(namespace: string, name: string): string[] {
    const users = new Set<string>();
    for (const spec of [...[...this.#specs.values()].map((f) => f.spec), ...this.#deploying.values()]) {
      if (spec.namespace === namespace && (spec.secrets?.includes(name) || spec.triggers?.some((t) => t.credentials === name))) users.add(spec.service);
    }
    return [...users].sort();
  }

  async #deployingWith<T>(spec: FunctionSpec, fn: () => Promise<T>): Promise<T> {
    const k = key(refOf(spec));
    this.#deploying.set(k, spec);
    try {
      return await fn();
    } finally {
      this.#deploying.delete(k);
    }
  }

  /** `KSS_MISSING_SECRET` naming the secrets `spec` lists that its namespace lacks. */
  async #assertSecretsExist(spec: FunctionSpec): Promise<void> {
    if (!spec.secrets?.length || !this.#secrets) return;
    const missing = await this.#secrets.missing(spec.namespace, spec.secrets);
    if (missing.length === 0) return;
    const names = missing.map((n) => `"${n}"`).join(', ');
    const one = missing.length === 1;
    throw new KssError(
      'KSS_MISSING_SECRET',
      `secrets: ${names} ${one ? 'does' : 'do'} not exist in namespace "${spec.namespace}"; create ${one ? 'it' : 'them'} first with ` +
        `\`kss secret create ${missing[0]}${nsFlag(spec.namespace)} --from-file PATH\` (or --from-literal VALUE, or the value on stdin)${one ? '' : ', once per secret'}, then deploy again`,
    );
  }

  async remove(ref: FunctionRef): Promise<void> {
    return this.#mutex.run(key(ref), async () => {
      if (!(await this.#store.delete(ref))) throw notFound(ref);
      this.#specs.delete(key(ref));
      // Before answering: nothing consumes for a removed function once its removal returns.
      await this.#triggers?.sync(ref);
      this.#changed(ref, 'removed', 'removed');
      this.#stats.forget(ref);
      await this.#removeDeployments(ref);
      this.#logger.info({ function: qualifiedName(ref) }, 'function removed');
    });
  }

  async get(ref: FunctionRef): Promise<FunctionStatus> {
    const stored = await this.#store.get(ref);
    if (!stored) throw notFound(ref);
    return this.#status(stored);
  }

  async list(namespace?: string): Promise<FunctionStatus[]> {
    const [stored, live] = await Promise.all([this.#store.list(namespace), this.liveByFunction(namespace)]);
    const byKey = new Map(live.map((s) => [key(s.ref), s]));
    return stored.map((s) => this.#toStatus(s, byKey.get(key(refOf(s.spec)))));
  }

  /** The default namespace and every namespace that holds a function. */
  async namespaces(): Promise<string[]> {
    const used = await this.#store.namespaces();
    return [...new Set([DEFAULT_NAMESPACE, ...used])].sort();
  }

  /**
   * Builds a function without deploying it (`kss build`): the same validation and
   * build as a deploy, cached the same way, so the deploy that follows reuses it.
   */
  async build(input: unknown, defaultNamespace?: string): Promise<{ key: string; cached: boolean; log: string }> {
    const spec = this.#parse(input, defaultNamespace);
    const outcome = await this.#builds.ensureBuilt(spec);
    return { key: outcome.key, cached: outcome.cached, log: this.#builds.log(spec) ?? '' };
  }

  /** The log of the build a deployed function runs from. */
  async buildLog(ref: FunctionRef): Promise<string> {
    const stored = await this.#store.get(ref);
    if (!stored) throw notFound(ref);
    return this.#builds.log(stored.spec) ?? '(no build log: this function was built before build logs were kept)\n';
  }

  /** Stores an uploaded code archive (validated, content-addressed). */
  uploadCode(archive: Buffer): Promise<{ digest: string; size: number; files: number }> {
    return this.#code.put(archive);
  }

  info(): SystemInfo {
    const version = { sha: process.env.KSS_GIT_SHA ?? 'unknown', release: this.#version };
    return {
      provider: { provider: 'kube-serverless', orchestration: this.#provider.name, version },
      version,
      arch: process.arch === 'x64' ? 'x86_64' : process.arch,
    };
  }

  #parse(input: unknown, defaultNamespace?: string): FunctionSpec {
    const spec = parseFunctionSpec(execByDefault(input), { defaultNamespace, version: this.#version });
    if (this.#revisions && looksLikeDeployment(spec.service)) {
      throw new KssError('KSS_INVALID_NAME', `service: "${spec.service}" ends like a revision's deployment (NAME--rN), which is reserved; choose another name`);
    }
    if (spec.annotations?.[CANARY_ANNOTATION] !== undefined) parseCanaryPlan(spec.annotations[CANARY_ANNOTATION]);
    scaleSettings(spec);
    invokePolicy(spec);
    networkOf(spec);
    assertValidVolumes(spec);
    if (spec.secrets?.length) {
      if (!this.#secrets) throw new KssError('KSS_INVALID_SPEC', 'secrets: this gateway has no secret store; remove `secrets` from the function to deploy it');
      spec.secrets.forEach((name, i) => assertValidSecretName(name, `secrets[${i}]`));
    }
    // Without code, an exec or http function runs its envProcess (an image's command) from an empty folder.
    if (spec.code === undefined && !(spec.envProcess && (spec.runtime === 'exec' || spec.runtime === 'http'))) {
      throw new KssError('KSS_CODE_REQUIRED', `code: function "${spec.service}" has no code; deploy it with \`kss deploy -f stack.yml\`, which uploads the handler folder (images cannot be pulled on this provider)`);
    }
    if (spec.code !== undefined && !this.#code.has(spec.code)) {
      throw new KssError('KSS_INVALID_SPEC', `code: no uploaded archive has digest ${spec.code}; upload it first (POST /api/v1/code)`);
    }
    return spec;
  }

  async #status(stored: StoredFunction): Promise<FunctionStatus> {
    const ref = refOf(stored.spec);
    if (!this.#revisions) return this.#toStatus(stored, await this.#provider.get(ref));
    const live = (await this.liveByFunction(ref.namespace)).find((s) => s.ref.name === ref.name);
    return this.#toStatus(stored, live);
  }

  #toStatus(stored: StoredFunction, live: ProviderFunctionStatus | undefined): FunctionStatus {
    const ref = refOf(stored.spec);
    const counters = this.counters(ref);
    const status = toFunctionStatus(stored.spec, stored, live ?? { replicas: 0, availableReplicas: 0, instances: [] }, counters);
    const routing = this.#specs.get(key(ref))?.routing;
    if (routing) {
      status.traffic = routing.traffic;
      status.latestRevision = this.#latest.get(key(ref)) ?? `r${Math.max(...routing.traffic.map((t) => revisionNumber(t.revision)))}`;
    }
    return status;
  }
}

/** The revision with the largest share (the newest on a tie). */
function mainRevision(traffic: readonly TrafficTarget[]): string | undefined {
  return [...traffic].sort((a, b) => b.percent - a.percent || revisionNumber(b.revision) - revisionNumber(a.revision))[0]?.revision;
}

function fmtTraffic(traffic: readonly TrafficTarget[]): string {
  return traffic.length ? traffic.map((t) => `${t.revision}=${t.percent}%`).join(' ') : 'nothing';
}

function fmtPct(rate: number): string {
  return `${(rate * 100).toFixed(rate * 100 >= 10 || Number.isInteger(rate * 100) ? 0 : 1)}%`;
}

/** A spec without its canary plan: changing only the plan is no new revision. */
function withoutCanary(spec: FunctionSpec): FunctionSpec {
  if (spec.annotations?.[CANARY_ANNOTATION] === undefined) return spec;
  const { [CANARY_ANNOTATION]: _plan, ...annotations } = spec.annotations;
  return { ...spec, annotations };
}

/**
 * A deployment with `envProcess` and neither `code` nor `runtime` is OpenFaaS'
 * `faas-cli deploy --image functions/alpine --fprocess 'wc -l'`: it runs on the exec runtime.
 */
function execByDefault(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  const o = input as Record<string, unknown>;
  const absent = (v: unknown) => v === undefined || v === null || v === '';
  return absent(o.runtime) && absent(o.code) && typeof o.envProcess === 'string' && o.envProcess !== '' ? { ...o, runtime: 'exec' } : input;
}

/** JSON with object keys sorted, so two equal specs compare equal whatever their key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

function key(ref: FunctionRef): string {
  return `${ref.namespace}/${ref.name}`;
}
