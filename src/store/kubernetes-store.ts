/**
 * The function store on Kubernetes: each deployed function is a `Function` custom
 * resource, so the gateway keeps no state of its own and any number of gateway
 * replicas share one truth (the API server's), and `kubectl get functions` shows
 * what the platform runs. Writes use the resource version (optimistic concurrency):
 * two gateways updating one function cannot overwrite each other silently.
 */
import { CustomObjectsApi, makeInformer, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { KssError, type Clock, type FunctionRef, type FunctionSpec } from '../core/index.js';
import { FUNCTION_GROUP, FUNCTION_PLURAL, FUNCTION_VERSION, fromFunctionResource, toFunctionResource, type FunctionResource } from '../providers/kubernetes/function-resource.js';
import type { FunctionStore, StoreChange, StoredFunction, WatchableStore } from './function-store.js';
import { statusOf } from '../providers/kubernetes/api-status.js';
import { unavailable } from './kube-errors.js';

/**
 * On the Function: its traffic split and canary (written by the revision store,
 * kubernetes-revision-store.ts; here so the watch can tell a new split from an old one).
 */
export const TRAFFIC_ANNOTATION = 'serverless.kube.io/traffic';
/** When the spec last changed (creation is `metadata.creationTimestamp`). */
export const UPDATED_AT_ANNOTATION = 'serverless.kube.io/updated-at';
/** Pause before a failed watch starts again. */
const WATCH_RESTART_MS = 2_000;
/** Attempts of a read-modify-write before a conflict is reported (another gateway kept winning). */
const CONFLICT_RETRIES = 5;

export interface KubernetesStoreOptions {
  kubeConfig: KubeConfig;
  clock: Clock;
  /** Namespaces functions live in: list() reads these (a gateway's Role is per namespace, not cluster-wide). */
  namespaces: string[];
}

export class KubernetesFunctionStore implements FunctionStore, WatchableStore {
  readonly #api: CustomObjectsApi;
  readonly #clock: Clock;
  readonly #namespaces: Set<string>;
  readonly #kubeConfig: KubeConfig;
  readonly #stops: Array<() => void> = [];

  constructor(options: KubernetesStoreOptions) {
    this.#kubeConfig = options.kubeConfig;
    this.#api = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.#clock = options.clock;
    this.#namespaces = new Set(options.namespaces);
  }

  async create(spec: FunctionSpec): Promise<StoredFunction> {
    this.#namespaces.add(spec.namespace);
    const body = toFunctionResource(spec, { annotations: { [UPDATED_AT_ANNOTATION]: this.#now() } });
    try {
      const created = (await this.#api.createNamespacedCustomObject({ group: FUNCTION_GROUP, version: FUNCTION_VERSION, namespace: spec.namespace, plural: FUNCTION_PLURAL, body })) as FunctionResource;
      return this.#stored(created);
    } catch (err) {
      if (statusOf(err) !== 409) throw unavailable(`creating Function "${spec.service}"`, err);
    }
    // It exists. The Kubernetes provider applies the Function first (its objects need the
    // Function's uid as their owner), so a Function the store never recorded (no updated-at
    // annotation) is this very deploy's: claim it. One the store recorded is a real duplicate.
    const existing = await this.#read({ name: spec.service, namespace: spec.namespace });
    if (existing && existing.metadata.annotations?.[UPDATED_AT_ANNOTATION] === undefined) return this.update(spec);
    throw new KssError('KSS_FUNCTION_EXISTS', `function "${spec.service}" already exists in namespace "${spec.namespace}"; update it instead (PUT)`);
  }

  async update(spec: FunctionSpec): Promise<StoredFunction> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.#read({ name: spec.service, namespace: spec.namespace });
      if (!current) throw new KssError('KSS_FUNCTION_NOT_FOUND', `function "${spec.service}" not found in namespace "${spec.namespace}"; see \`kss list\``);
      const next = toFunctionResource(spec, { annotations: { ...(current.metadata.annotations ?? {}), [UPDATED_AT_ANNOTATION]: this.#now() } });
      next.metadata = { ...current.metadata, labels: { ...(current.metadata.labels ?? {}), ...(next.metadata.labels ?? {}) }, annotations: next.metadata.annotations };
      if (current.status) next.status = current.status;
      try {
        const replaced = (await this.#api.replaceNamespacedCustomObject({ group: FUNCTION_GROUP, version: FUNCTION_VERSION, namespace: spec.namespace, plural: FUNCTION_PLURAL, name: spec.service, body: next })) as FunctionResource;
        return this.#stored(replaced);
      } catch (err) {
        // 409: someone wrote it since our read (resourceVersion moved on): read again and retry.
        if (statusOf(err) === 409 && attempt < CONFLICT_RETRIES) continue;
        if (statusOf(err) === 404) throw new KssError('KSS_FUNCTION_NOT_FOUND', `function "${spec.service}" was removed while it was being updated`);
        throw unavailable(`updating Function "${spec.service}"`, err);
      }
    }
  }

  async get(ref: FunctionRef): Promise<StoredFunction | undefined> {
    const obj = await this.#read(ref);
    return obj ? this.#stored(obj) : undefined;
  }

  async list(namespace?: string): Promise<StoredFunction[]> {
    const namespaces = namespace === undefined ? [...this.#namespaces].sort() : [namespace];
    const out: StoredFunction[] = [];
    for (const ns of namespaces) {
      let items: FunctionResource[];
      try {
        const list = (await this.#api.listNamespacedCustomObject({ group: FUNCTION_GROUP, version: FUNCTION_VERSION, namespace: ns, plural: FUNCTION_PLURAL })) as { items?: FunctionResource[] };
        items = list.items ?? [];
      } catch (err) {
        throw unavailable(`listing Functions in "${ns}"`, err);
      }
      for (const item of items) {
        // A Function someone wrote by hand that does not parse is left out, not fatal to the list.
        try {
          out.push(this.#stored(item));
        } catch {
          /* reported by the reconciler's status instead */
        }
      }
    }
    return out.sort((a, b) => a.spec.namespace.localeCompare(b.spec.namespace) || a.spec.service.localeCompare(b.spec.service));
  }

  async delete(ref: FunctionRef): Promise<boolean> {
    try {
      await this.#api.deleteNamespacedCustomObject({ group: FUNCTION_GROUP, version: FUNCTION_VERSION, namespace: ref.namespace, plural: FUNCTION_PLURAL, name: ref.name, propagationPolicy: 'Background' });
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw unavailable(`deleting Function "${ref.name}"`, err);
    }
  }

  async namespaces(): Promise<string[]> {
    const all = await this.list();
    return [...new Set(all.map((f) => f.spec.namespace))].sort();
  }

  /**
   * Watches the Function resources of every configured namespace (list + watch,
   * restarted after errors). A resource that does not parse is skipped (the
   * reconciler's status reports it).
   */
  watch(listener: (change: StoreChange) => void): () => void {
    let stopped = false;
    /** The updated-at and split last passed on per function. */
    const seen = new Map<string, string>();
    const informers = [...this.#namespaces].map((namespace) => {
      const informer = makeInformer<KubernetesObject>(
        this.#kubeConfig,
        `/apis/${FUNCTION_GROUP}/${FUNCTION_VERSION}/namespaces/${namespace}/${FUNCTION_PLURAL}`,
        async () => (await this.#api.listNamespacedCustomObject({ group: FUNCTION_GROUP, version: FUNCTION_VERSION, namespace, plural: FUNCTION_PLURAL })) as never,
      );
      const upsert = (obj: KubernetesObject) => {
        // Only what a store wrote (its updated-at moved). The Kubernetes provider applies the
        // Function before the deploy is recorded, and before its code is in the cluster: those
        // intermediate writes are not news, and acting on them would find no code yet.
        // A new split (another gateway's `kss traffic`, rollback or canary step) is news too.
        const k = `${namespace}/${obj.metadata?.name ?? ''}`;
        const updatedAt = obj.metadata?.annotations?.[UPDATED_AT_ANNOTATION];
        const version = `${updatedAt}|${obj.metadata?.annotations?.[TRAFFIC_ANNOTATION] ?? ''}`;
        if (updatedAt === undefined || seen.get(k) === version) return;
        seen.set(k, version);
        let stored: StoredFunction;
        try {
          stored = this.#stored(obj as unknown as FunctionResource);
        } catch {
          return;
        }
        listener({ type: 'upsert', stored });
      };
      informer.on('add', upsert);
      informer.on('update', upsert);
      informer.on('delete', (obj) => {
        seen.delete(`${namespace}/${obj.metadata?.name ?? ''}`);
        listener({ type: 'delete', ref: { name: obj.metadata?.name ?? '', namespace } });
      });
      informer.on('error', () => {
        // client-node's advice: start it again after a pause.
        if (!stopped) this.#clock.setTimeout(() => void (stopped ? undefined : informer.start().catch(() => {})), WATCH_RESTART_MS);
      });
      void informer.start().catch(() => {});
      return informer;
    });
    const stop = () => {
      stopped = true;
      for (const i of informers) void i.stop();
    };
    this.#stops.push(stop);
    return stop;
  }

  close(): void {
    for (const stop of this.#stops.splice(0)) stop();
  }

  async #read(ref: FunctionRef): Promise<FunctionResource | undefined> {
    try {
      return (await this.#api.getNamespacedCustomObject({ group: FUNCTION_GROUP, version: FUNCTION_VERSION, namespace: ref.namespace, plural: FUNCTION_PLURAL, name: ref.name })) as FunctionResource;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw unavailable(`reading Function "${ref.name}"`, err);
    }
  }

  #stored(obj: FunctionResource): StoredFunction {
    const spec = fromFunctionResource(obj);
    const createdAt = obj.metadata.creationTimestamp ? new Date(obj.metadata.creationTimestamp).toISOString() : this.#now();
    return { spec, createdAt, updatedAt: obj.metadata.annotations?.[UPDATED_AT_ANNOTATION] ?? createdAt };
  }

  #now(): string {
    return new Date(this.#clock.now()).toISOString();
  }
}
