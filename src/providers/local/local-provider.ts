/**
 * The local provider: functions run as supervised child processes on this machine,
 * each replica on its own loopback port. An update starts a new generation of
 * replicas beside the old one and switches traffic when the new one is fully ready,
 * so a bad release never takes the serving one down.
 */
import type { Logger } from 'pino';
import {
  KssError,
  NETWORK_ANNOTATION,
  networkOf,
  VOLUME_ANNOTATION,
  volumesOf,
  qualifiedName,
  refOf,
  scaleSettings,
  systemClock,
  type Clock,
  type Closable,
  type Endpoint,
  type FunctionRef,
  type FunctionSpec,
  type Provider,
  type ProviderFunctionStatus,
  type ReplicaWatcher,
  type Runtime,
  type FailureReporter,
} from '../../core/index.js';
import { DEFAULT_REPLICA_OPTIONS, Replica, type ReplicaOptions } from './replica.js';
import type { ReplicaIsolation } from './isolation.js';
import type { WarmPool } from './warm-pool.js';
import type { VolumeHost } from './volumes.js';
import { DEFAULT_LAUNCHERS, type Artifact, type Launcher } from './runtime-launchers.js';

/** Where the provider finds what a function runs from (its build artifact). */
export interface ArtifactLocator {
  artifact(spec: FunctionSpec): Artifact;
}

export interface LocalProviderOptions {
  artifacts: ArtifactLocator;
  logger: Logger;
  clock?: Clock;
  launchers?: Partial<Record<Runtime, Launcher>>;
  replica?: Partial<ReplicaOptions>;
  /** Pre-started runtime processes cold starts take from. */
  pool?: WarmPool;
  /** Sandboxes replicas (namespaces, uid, cgroups); without it they are plain child processes. */
  isolation?: ReplicaIsolation;
  /** Receives every replica's output lines and events (the function logs). */
  onLog?: (ref: FunctionRef, instance: string, stream: 'stdout' | 'stderr' | 'event', text: string) => void;
  /** Persistent volumes (`kss.volume`); without it, a function naming one is refused. */
  volumes?: VolumeHost;
}

interface Generation {
  spec: FunctionSpec;
  artifact: Artifact;
  replicas: Replica[];
}

interface FunctionRunner {
  ref: FunctionRef;
  desired: number;
  /** Oldest first; the last one is the newest spec. */
  generations: Generation[];
  endpoints: readonly Endpoint[];
}

const NO_ENDPOINTS: readonly Endpoint[] = Object.freeze([]);

export class LocalProvider implements Provider, ReplicaWatcher, FailureReporter, Closable {
  readonly name = 'local';
  readonly #functions = new Map<string, FunctionRunner>();
  readonly #listeners = new Set<(ref: FunctionRef) => void>();
  readonly #artifacts: ArtifactLocator;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #launchers: Partial<Record<Runtime, Launcher>>;
  readonly #replicaOptions: ReplicaOptions;
  readonly #pool: WarmPool | undefined;
  readonly #isolation: ReplicaIsolation | undefined;
  readonly #onLog: LocalProviderOptions['onLog'];
  readonly #volumes: VolumeHost | undefined;
  #closed = false;

  constructor(options: LocalProviderOptions) {
    this.#artifacts = options.artifacts;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#launchers = options.launchers ?? DEFAULT_LAUNCHERS;
    this.#replicaOptions = { ...DEFAULT_REPLICA_OPTIONS, ...options.replica };
    this.#pool = options.pool;
    this.#isolation = options.isolation;
    this.#onLog = options.onLog;
    this.#volumes = options.volumes;
  }

  /** Runtimes this provider can start. */
  get runtimes(): Runtime[] {
    return Object.keys(this.#launchers) as Runtime[];
  }

  /** Refuses what this host cannot give a spec (before anything starts). */
  #assertSupported(spec: FunctionSpec): void {
    if (networkOf(spec) === 'none' && !this.#isolation?.canDenyNetwork) {
      throw new KssError(
        'KSS_INVALID_SPEC',
        `annotations.${NETWORK_ANNOTATION}: "none" needs the sandbox (a uid per function) and nftables on this host, and this gateway has ${this.#isolation ? 'no nftables (apt-get install nftables)' : 'no sandbox'}; see \`kss doctor\``,
      );
    }
    if (volumesOf(spec).length && !this.#volumes) {
      throw new KssError('KSS_INVALID_VOLUME', `annotations.${VOLUME_ANNOTATION}: this gateway keeps no volumes; remove the annotation to deploy the function here`);
    }
  }

  async deploy(spec: FunctionSpec): Promise<void> {
    if (this.#functions.has(key(refOf(spec)))) return this.update(spec);
    this.#assertOpen();
    this.#assertSupported(spec);
    const ref = refOf(spec);
    const runner: FunctionRunner = { ref, desired: initialReplicas(spec), generations: [], endpoints: NO_ENDPOINTS };
    runner.generations.push(this.#newGeneration(spec));
    this.#functions.set(key(ref), runner);
    this.#reconcile(runner);
  }

  async update(spec: FunctionSpec): Promise<void> {
    this.#assertOpen();
    this.#assertSupported(spec);
    const runner = this.#functions.get(key(refOf(spec)));
    if (!runner) return this.deploy(spec);
    runner.desired = Math.max(runner.desired, initialReplicas(spec));
    runner.generations.push(this.#newGeneration(spec));
    // Generations that never became ready are dropped at once; the serving one stays until the new one is ready.
    const serving = this.#servingGeneration(runner);
    const stale = runner.generations.slice(0, -1).filter((g) => g !== serving);
    runner.generations = runner.generations.filter((g) => !stale.includes(g));
    this.#reconcile(runner);
    await Promise.all(stale.flatMap((g) => g.replicas.map((r) => r.stop())));
  }

  async remove(ref: FunctionRef): Promise<void> {
    const runner = this.#functions.get(key(ref));
    if (!runner) return;
    this.#functions.delete(key(ref));
    runner.endpoints = NO_ENDPOINTS;
    const all = runner.generations.flatMap((g) => g.replicas);
    runner.generations = [];
    await Promise.all(all.map((r) => r.stop()));
    this.#emit(ref);
  }

  async list(namespace?: string): Promise<ProviderFunctionStatus[]> {
    return [...this.#functions.values()].filter((r) => namespace === undefined || r.ref.namespace === namespace).map((r) => this.#status(r));
  }

  async get(ref: FunctionRef): Promise<ProviderFunctionStatus | undefined> {
    const runner = this.#functions.get(key(ref));
    return runner ? this.#status(runner) : undefined;
  }

  async scale(ref: FunctionRef, replicas: number): Promise<void> {
    const runner = this.#functions.get(key(ref));
    if (!runner) throw new KssError('KSS_FUNCTION_NOT_FOUND', `function "${ref.name}" is not running in namespace "${ref.namespace}"`);
    runner.desired = replicas;
    this.#reconcile(runner);
  }

  resolve(ref: FunctionRef): readonly Endpoint[] {
    return this.#functions.get(key(ref))?.endpoints ?? NO_ENDPOINTS;
  }

  onReplicasChanged(listener: (ref: FunctionRef) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  reportFailure(ref: FunctionRef, endpointId: string, reason: string): void {
    const runner = this.#functions.get(key(ref));
    const replica = runner?.generations.flatMap((g) => g.replicas).find((r) => r.id === endpointId);
    replica?.fail(reason);
  }

  /** Stops every replica of every function (the gateway is shutting down); specs stay in the store. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#pool?.close();
    const refs = [...this.#functions.values()].map((r) => r.ref);
    await Promise.all(refs.map((ref) => this.remove(ref)));
    this.#isolation?.close?.();
  }

  #assertOpen(): void {
    if (this.#closed) throw new KssError('KSS_SHUTTING_DOWN', 'the gateway is shutting down');
  }

  #newGeneration(spec: FunctionSpec): Generation {
    const launcher = this.#launchers[spec.runtime];
    if (!launcher) {
      throw new KssError('KSS_UNSUPPORTED_RUNTIME', `runtime "${spec.runtime}" is not available on the local provider; available: ${this.runtimes.join(', ')}`);
    }
    if (!spec.code && !spec.envProcess) throw new KssError('KSS_CODE_REQUIRED', `function "${spec.service}" has no code: deploy it with \`kss deploy\`, which uploads the handler folder`);
    return { spec, artifact: this.#artifacts.artifact(spec), replicas: [] };
  }

  /** Brings the newest generation to the desired count and retires older ones once it is fully ready. */
  #reconcile(runner: FunctionRunner): void {
    const newest = runner.generations.at(-1);
    if (!newest) return;
    const live = newest.replicas;
    while (live.length < runner.desired) live.push(this.#spawn(runner, newest));
    if (live.length > runner.desired) {
      // Stop replicas that are not serving first.
      const order = [...live].sort((a, b) => Number(a.state === 'ready') - Number(b.state === 'ready'));
      const extra = order.slice(0, live.length - runner.desired);
      newest.replicas = live.filter((r) => !extra.includes(r));
      for (const r of extra) void r.stop();
    }
    this.#refresh(runner);
  }

  #spawn(runner: FunctionRunner, generation: Generation): Replica {
    return new Replica({
      spec: generation.spec,
      artifact: generation.artifact,
      launcher: this.#launchers[generation.spec.runtime]!,
      clock: this.#clock,
      logger: this.#logger,
      options: this.#replicaOptions,
      onChange: () => this.#refresh(runner),
      pool: this.#pool,
      ...(this.#isolation ? { isolation: this.#isolation } : {}),
      ...(this.#volumes ? { volumes: this.#volumes } : {}),
      ...(this.#onLog ? { onLog: (instance: string, stream: 'stdout' | 'stderr' | 'event', text: string) => this.#onLog!(runner.ref, instance, stream, text) } : {}),
    });
  }

  /** The newest generation with a ready replica, else the newest. */
  #servingGeneration(runner: FunctionRunner): Generation | undefined {
    for (let i = runner.generations.length - 1; i >= 0; i--) {
      const g = runner.generations[i]!;
      if (g.replicas.some((r) => r.state === 'ready')) return g;
    }
    return runner.generations.at(-1);
  }

  /** Recomputes the endpoint cache after any replica state change and retires superseded generations. */
  #refresh(runner: FunctionRunner): void {
    if (this.#functions.get(key(runner.ref)) !== runner) return;
    const newest = runner.generations.at(-1);
    if (newest && runner.generations.length > 1) {
      const ready = newest.replicas.filter((r) => r.state === 'ready').length;
      if (ready >= Math.min(runner.desired, newest.replicas.length) && ready > 0) {
        const old = runner.generations.slice(0, -1);
        runner.generations = [newest];
        for (const g of old) for (const r of g.replicas) void r.stop();
        this.#logger.info({ function: qualifiedName(runner.ref) }, 'new version ready; previous replicas stopped');
      }
    }
    const serving = this.#servingGeneration(runner);
    const endpoints = serving ? serving.replicas.filter((r) => r.state === 'ready').map((r) => ({ id: r.id, origin: r.origin })) : [];
    const before = runner.endpoints;
    if (before.length !== endpoints.length || before.some((e, i) => e.id !== endpoints[i]!.id || e.origin !== endpoints[i]!.origin)) {
      runner.endpoints = Object.freeze(endpoints);
      this.#emit(runner.ref);
    }
  }

  #emit(ref: FunctionRef): void {
    for (const l of this.#listeners) l(ref);
  }

  #status(runner: FunctionRunner): ProviderFunctionStatus {
    return {
      ref: runner.ref,
      replicas: runner.desired,
      availableReplicas: runner.endpoints.length,
      instances: runner.generations.flatMap((g) => g.replicas.map((r) => r.info())),
    };
  }
}

/** Replicas a function starts with: its `com.openfaas.scale.min`, and at least one until scale-to-zero lands. */
function initialReplicas(spec: FunctionSpec): number {
  return Math.max(1, scaleSettings(spec).min);
}

function key(ref: FunctionRef): string {
  return `${ref.namespace}/${ref.name}`;
}
