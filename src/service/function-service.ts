/**
 * The service layer: every management action, once. The OpenFaaS routes and the
 * resource API are thin adapters over this; neither has logic the other lacks.
 * It keeps an in-memory copy of the specs so the invoke path never reads the store.
 */
import type { Logger } from 'pino';
import {
  KssError,
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
import { invokePolicy, networkOf, parseFunctionSpec, type InvokePolicy } from '../core/index.js';
import type { InvocationStats } from '../invoke/index.js';
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
}

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
export type FunctionChange = 'deployed' | 'removed' | 'scaled';

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

  constructor(options: FunctionServiceOptions) {
    this.#store = options.store;
    this.#provider = options.provider;
    this.#code = options.code;
    this.#builds = options.builds;
    this.#stats = options.stats;
    this.#logger = options.logger;
    this.#version = options.version;
    this.#secrets = options.secrets;
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
          this.#remember(spec);
          await this.#builds.ensureBuilt(spec);
          await this.#provider.deploy(spec);
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
      await this.#provider.remove(ref);
      return;
    }
    const spec = change.stored.spec;
    // This gateway's own write comes back through the watch: nothing new.
    if (known && canonical(known.spec) === canonical(spec)) return;
    this.#remember(spec);
    await this.#provider.update(spec);
    await this.#triggers?.sync(ref);
    this.#changed(ref, 'deployed', `${known ? 'updated' : 'deployed'} by another gateway (${spec.runtime}, code ${spec.code?.slice(0, 19) ?? spec.envProcess ?? '-'})`);
  }

  /** The spec of a deployed function, from memory (for the invoke path). */
  /** When `ref` last received a request since the gateway started (epoch ms), 0 if never. */
  lastRequestAt(ref: FunctionRef): number {
    return this.#stats.get(ref).lastRequestAt;
  }

  lookup(ref: FunctionRef): DeployedFunction | undefined {
    return this.#specs.get(key(ref));
  }

  /** Every deployed function's spec, from memory (the autoscaler walks these). */
  *specs(): Iterable<FunctionSpec> {
    for (const f of this.#specs.values()) yield f.spec;
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
    this.#scaling?.pin(ref, replicas);
    await this.#provider.scale(ref, replicas);
    this.#logger.info({ function: qualifiedName(ref), replicas }, 'scaled by hand');
    this.#changed(ref, 'scaled', `scaled by hand to ${replicas} replica(s); kept there until \`kss scale ${ref.name} --auto\``);
  }

  /** Hands a manually scaled function back to the autoscaler. */
  autoscale(ref: FunctionRef): void {
    if (!this.#specs.has(key(ref))) throw notFound(ref);
    this.#scaling?.release(ref);
  }

  /** Connects the trigger manager: deploys check their triggers before anything is built, and every change syncs them. */
  useTriggers(triggers: FunctionTriggers): void {
    this.#triggers = triggers;
  }

  /** Connects the autoscaler (pin/release for manual scale). */
  useAutoscaler(scaling: { pin(ref: FunctionRef, replicas: number): void; release(ref: FunctionRef): void }): void {
    this.#scaling = scaling;
  }

  #remember(spec: FunctionSpec): void {
    this.#specs.set(key(refOf(spec)), { spec, policy: invokePolicy(spec), scale: scaleSettings(spec) });
  }

  /** Registers a listener for deployed, updated and removed functions (rate-limit buckets, metrics). */
  onFunctionChanged(listener: (ref: FunctionRef, change: FunctionChange, detail?: string) => void): void {
    this.#listeners.add(listener);
  }

  #changed(ref: FunctionRef, change: FunctionChange, detail?: string): void {
    for (const l of this.#listeners) l(ref, change, detail);
  }

  /** Creates a function; `KSS_FUNCTION_EXISTS` when the name is taken. */
  async create(input: unknown, defaultNamespace?: string): Promise<FunctionStatus> {
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
      await this.#provider.deploy(spec);
      let stored: StoredFunction;
      try {
        stored = await this.#store.create(spec);
      } catch (err) {
        await this.#provider.remove(ref);
        throw err;
      }
      this.#remember(spec);
      await this.#triggers?.sync(ref);
      this.#changed(ref, 'deployed', `deployed (${spec.runtime}, code ${spec.code?.slice(0, 19) ?? spec.envProcess ?? '-'})`);
      this.#logger.info({ function: qualifiedName(ref), code: spec.code }, 'function deployed');
      return this.#status(stored);
    }));
  }

  /** Replaces a function's spec; `KSS_FUNCTION_NOT_FOUND` when there is none. */
  async update(input: unknown, defaultNamespace?: string): Promise<FunctionStatus> {
    const spec = this.#parse(input, defaultNamespace);
    const ref = refOf(spec);
    return this.#mutex.run(key(ref), () => this.#deployingWith(spec, async () => {
      if (!(await this.#store.get(ref))) throw notFound(ref);
      await this.#assertSecretsExist(spec);
      await this.#triggers?.validate(spec);
      // Built first: a build failure leaves the previous version serving.
      await this.#builds.ensureBuilt(spec);
      await this.#provider.update(spec);
      const stored = await this.#store.update(spec);
      this.#remember(spec);
      await this.#triggers?.sync(ref);
      this.#changed(ref, 'deployed', `updated (${spec.runtime}, code ${spec.code?.slice(0, 19) ?? spec.envProcess ?? '-'}); replicas roll over`);
      this.#logger.info({ function: qualifiedName(ref), code: spec.code }, 'function updated');
      return this.#status(stored);
    }));
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
      await this.#provider.remove(ref);
      this.#logger.info({ function: qualifiedName(ref) }, 'function removed');
    });
  }

  async get(ref: FunctionRef): Promise<FunctionStatus> {
    const stored = await this.#store.get(ref);
    if (!stored) throw notFound(ref);
    return this.#status(stored);
  }

  async list(namespace?: string): Promise<FunctionStatus[]> {
    const [stored, live] = await Promise.all([this.#store.list(namespace), this.#provider.list(namespace)]);
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
    scaleSettings(spec);
    invokePolicy(spec);
    networkOf(spec);
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
    return this.#toStatus(stored, await this.#provider.get(refOf(stored.spec)));
  }

  #toStatus(stored: StoredFunction, live: ProviderFunctionStatus | undefined): FunctionStatus {
    const counters = this.#stats.get(refOf(stored.spec));
    return toFunctionStatus(stored.spec, stored, live ?? { replicas: 0, availableReplicas: 0, instances: [] }, counters);
  }
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
