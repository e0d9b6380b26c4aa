/**
 * The Kubernetes provider: the same Provider contract as the local one, carried out
 * with real Kubernetes objects through the official client. For each function it
 * server-side-applies a `Function` custom resource and, owned by it, the code
 * ConfigMaps (the built archive in parts, see manifests.ts), a Deployment, a Service and (for CPU scaling) an HPA; deleting the
 * Function lets the garbage collector remove the rest. The PersistentVolumeClaims of
 * the volumes a function names (`kss.volume`) are created when missing and owned by
 * no Function, so their data outlives every function using them. Replica state comes from
 * informers (list + watch, re-listed on expiry): Deployments for desired/ready
 * counts, Pods for instances, EndpointSlices for the ready endpoints that `resolve`
 * serves from memory on the invoke path. Drift is repaired by re-applying every
 * known function on a resync timer.
 */
import {
  KubeConfig,
  KubernetesObjectApi,
  makeInformer,
  PatchStrategy,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  setHeaderOptions,
  type Informer,
  type KubernetesObject,
  type ObjectCache,
  type V1Deployment,
  type V1Pod,
  type V1EndpointSlice,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  KssError,
  functionOf,
  functionSpecOf,
  systemClock,
  scaleSettings,
  type Clock,
  type Endpoint,
  type FunctionLogQuery,
  type FunctionLogs,
  type FunctionLogSource,
  type FunctionRef,
  type FunctionSpec,
  type Provider,
  type ProviderFunctionStatus,
  type ReplicaInfo,
  type ReplicaWatcher,
  type Runtime,
} from '../../core/index.js';
import {
  CODE_ARCHIVE_LIMIT,
  CODE_PARTS_LABEL,
  codeConfigMapName,
  codeConfigMaps,
  codePartCount,
  codePartKey,
  codePartName,
  functionObjects,
  scalingMode,
  volumeClaims,
  type CodeDelivery,
  type FunctionOwner,
} from './manifests.js';
import { FUNCTION_GROUP, FUNCTION_LABEL, FUNCTION_PLURAL, FUNCTION_VERSION, MANAGED_BY_LABEL, type FunctionResourceStatus } from './function-resource.js';
import { applyFunctionResource, ensureFunctionResource, FIELD_MANAGER, mergePatch } from './function-owner.js';
import { PodLogReader } from './pod-logs.js';
import { statusOf } from './api-status.js';

export { FIELD_MANAGER };
/** A Service's name is a DNS-1035 label: at most 63 characters (a revision's is `NAME--rN`). */
const SERVICE_NAME_MAX = 63;
/**
 * On every code ConfigMap part: the code digest it was built from (so a reader can tell
 * a complete set from a mix of two versions); on the first, also the entry file the
 * build chose ({@link HANDLER_ANNOTATION}). The part count is the first's
 * `serverless.kube.io/code-parts` label (CODE_PARTS_LABEL in manifests.ts).
 */
export const CODE_ANNOTATION = 'serverless.kube.io/code';
export const HANDLER_ANNOTATION = 'serverless.kube.io/handler';
/** Re-apply every known function this often, repairing objects edited or deleted by hand. */
const DEFAULT_RESYNC_MS = 30_000;
/** After an informer error, wait this long before starting it again (client-node's own advice: a few seconds). */
const INFORMER_RESTART_MS = 2_000;

export interface KubernetesProviderOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  clock?: Clock;
  /** Namespaces watched from the start (others are watched when a function is deployed there). */
  namespaces?: string[];
  /**
   * The function's runnable code as a tar.gz: what the gateway built from its code
   * (dependencies installed, TypeScript compiled, Go binary), and the entry file the
   * build chose. Pods receive it in a ConfigMap, so nothing is built in the cluster.
   */
  artifactArchive?: (spec: FunctionSpec) => Promise<{ archive: Buffer; handler?: string }>;
  /**
   * Where a pod downloads code the cluster does not carry: when there is no
   * artifactArchive, or the built code is above CODE_ARCHIVE_LIMIT (the gateway's code
   * endpoint; works only where every gateway replica can serve it).
   */
  codeUrl?: (spec: FunctionSpec) => string;
  /** Runtime images by runtime (defaults in manifests.ts). */
  images?: Partial<Record<Runtime, string>>;
  resyncMs?: number;
}

interface Watched {
  deployments: Informer<V1Deployment> & ObjectCache<V1Deployment>;
  pods: Informer<V1Pod> & ObjectCache<V1Pod>;
  slices: Informer<V1EndpointSlice> & ObjectCache<V1EndpointSlice>;
  ready: Promise<void>;
}

export class KubernetesProvider implements Provider, ReplicaWatcher, FunctionLogSource {
  readonly name = 'kubernetes';
  readonly #kc: KubeConfig;
  readonly #objects: KubernetesObjectApi;
  readonly #apps: AppsV1Api;
  readonly #core: CoreV1Api;
  readonly #discovery: DiscoveryV1Api;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #options: KubernetesProviderOptions;
  readonly #watched = new Map<string, Watched>();
  /** Functions this provider manages, with the replicas it last asked for. */
  readonly #desired = new Map<string, { spec: FunctionSpec; replicas: number; generation?: number }>();
  /** The status last written to each Function (JSON), so an unchanged one is not written again. */
  readonly #written = new Map<string, string>();
  readonly #customObjects: CustomObjectsApi;
  /** Ready endpoints per function, rebuilt from EndpointSlices on every change. */
  readonly #endpoints = new Map<string, readonly Endpoint[]>();
  readonly #listeners = new Set<(ref: FunctionRef) => void>();
  readonly #podLogs: PodLogReader;
  /** Functions whose deployment from before revisions was looked for (and removed). */
  readonly #retired = new Set<string>();
  #cancelResync: (() => void) | undefined;
  #closed = false;

  constructor(options: KubernetesProviderOptions) {
    this.#options = options;
    this.#kc = options.kubeConfig;
    this.#objects = KubernetesObjectApi.makeApiClient(this.#kc);
    this.#apps = this.#kc.makeApiClient(AppsV1Api);
    this.#core = this.#kc.makeApiClient(CoreV1Api);
    this.#discovery = this.#kc.makeApiClient(DiscoveryV1Api);
    this.#customObjects = this.#kc.makeApiClient(CustomObjectsApi);
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#podLogs = new PodLogReader({
      kubeConfig: this.#kc,
      core: this.#core,
      pods: async (ns) => {
        const w = this.#watch(ns);
        await w.ready;
        return w.pods;
      },
      logger: this.#logger,
      clock: this.#clock,
    });
    for (const ns of options.namespaces ?? []) this.#watch(ns);
    this.#scheduleResync();
  }

  /** Resolves once the informers of every watched namespace have listed once. */
  async ready(): Promise<void> {
    await Promise.all([...this.#watched.values()].map((w) => w.ready));
  }

  async deploy(spec: FunctionSpec): Promise<void> {
    await this.#apply(spec, await this.#currentReplicas(spec));
  }

  async update(spec: FunctionSpec): Promise<void> {
    await this.#apply(spec, await this.#currentReplicas(spec));
  }

  /**
   * The replicas to apply: what this provider last asked for, else what the cluster
   * runs (a restarted gateway, or another replica of it, keeps the scaler's count),
   * else the function's minimum.
   */
  async #currentReplicas(spec: FunctionSpec): Promise<number> {
    const ref = refOf(spec);
    const asked = this.#desired.get(key(ref))?.replicas;
    if (asked !== undefined) return asked;
    await this.#watch(ref.namespace).ready.catch(() => {});
    return this.#deployment(ref)?.spec?.replicas ?? initialReplicas(spec);
  }

  /**
   * Removes a function, or one revision's deployment (`NAME--rN`). A revision's code
   * ConfigMaps stay: a rollback to it starts from them, with no build, on any gateway
   * replica (they go with the revision's garbage collection, or with the Function).
   */
  async remove(ref: FunctionRef): Promise<void> {
    this.#desired.delete(key(ref));
    this.#written.delete(key(ref));
    const owner = functionOf(ref);
    // Deleting the Function is enough on a real cluster (its objects are owned by it);
    // the owned objects are deleted too, so nothing lingers where the collector is slow.
    await this.#deleteWorkload(ref, owner.revision ? 'keep-code' : 'with-function');
    this.#setEndpoints(ref, []);
    if (owner.revision) this.#reportStatus(ref);
  }

  /** Deletes the Deployment, Service and HPA of `ref`, and its code ConfigMaps and Function unless told to keep them. */
  async #deleteWorkload(ref: FunctionRef, mode: 'keep-code' | 'with-code' | 'with-function'): Promise<void> {
    const name = ref.name;
    const ns = ref.namespace;
    const parts = mode === 'keep-code' ? [] : await this.#codeParts(ref);
    await Promise.all([
      ...(mode === 'with-function' ? [this.#deleteIgnoringMissing({ apiVersion: 'serverless.kube.io/v1', kind: 'Function', metadata: { name, namespace: ns } })] : []),
      this.#deleteIgnoringMissing({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: ns } }),
      this.#deleteIgnoringMissing({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns } }),
      this.#deleteIgnoringMissing({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name, namespace: ns } }),
      ...parts.map((part) => this.#deleteIgnoringMissing({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: part, namespace: ns } })),
    ]);
  }

  async list(namespace?: string): Promise<ProviderFunctionStatus[]> {
    if (namespace !== undefined) await this.#watch(namespace).ready;
    const out: ProviderFunctionStatus[] = [];
    for (const [ns, w] of this.#watched) {
      if (namespace !== undefined && ns !== namespace) continue;
      for (const d of w.deployments.list(ns)) {
        const fn = d.metadata?.labels?.[FUNCTION_LABEL];
        if (fn && this.#desired.has(key({ name: fn, namespace: ns }))) out.push(this.#status({ name: fn, namespace: ns }, d));
      }
    }
    return out;
  }

  async get(ref: FunctionRef): Promise<ProviderFunctionStatus | undefined> {
    await this.#watch(ref.namespace).ready;
    if (!this.#desired.has(key(ref))) return undefined;
    const d = this.#deployment(ref);
    return d ? this.#status(ref, d) : { ref, replicas: this.#desired.get(key(ref))!.replicas, availableReplicas: 0, instances: [] };
  }

  async scale(ref: FunctionRef, replicas: number): Promise<void> {
    const desired = this.#desired.get(key(ref));
    if (!desired) throw new KssError('KSS_FUNCTION_NOT_FOUND', `function "${ref.name}" is not deployed in namespace "${ref.namespace}"`);
    desired.replicas = replicas;
    // With CPU scaling the HPA owns the count above zero: only zero and back are ours.
    const deployment = this.#deployment(ref);
    // A Deployment applied without replicas runs 1 (the API server's default).
    const running = deployment ? (deployment.spec?.replicas ?? 1) : undefined;
    if (scalingMode(desired.spec) === 'cpu' && replicas > 0 && running !== undefined && running > 0) return;
    try {
      await mergePatch(this.#objects, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: ref.name, namespace: ref.namespace }, spec: { replicas } } as KubernetesObject);
    } catch (err) {
      if (statusOf(err) === 404) {
        // Deleted behind our back: apply everything again, at the new size.
        await this.#apply(desired.spec, replicas);
        return;
      }
      throw unavailable(`scaling "${ref.name}"`, err);
    }
  }

  resolve(ref: FunctionRef): readonly Endpoint[] {
    return this.#endpoints.get(key(ref)) ?? NO_ENDPOINTS;
  }

  /** What the function's pods wrote, from the pod logs API (see pod-logs.ts). */
  functionLogs(ref: FunctionRef, query: FunctionLogQuery): Promise<FunctionLogs> {
    return this.#podLogs.read(ref, query);
  }

  onReplicasChanged(listener: (ref: FunctionRef) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#cancelResync?.();
    await Promise.all([...this.#watched.values()].flatMap((w) => [w.deployments.stop(), w.pods.stop(), w.slices.stop()]));
    this.#watched.clear();
  }

  /** Server-side applies the Function and everything it owns, at `replicas`. */
  async #apply(spec: FunctionSpec, replicas: number): Promise<void> {
    const ref = refOf(spec);
    if (ref.name.length > SERVICE_NAME_MAX) {
      const fn = functionOf(ref);
      throw new KssError('KSS_INVALID_NAME', fn.revision
        ? `service: revision ${fn.revision} of "${fn.ref.name}" runs as Service "${ref.name}", longer than the ${SERVICE_NAME_MAX} characters Kubernetes allows; on Kubernetes keep function names to ${SERVICE_NAME_MAX - 7} characters or fewer`
        : `service: "${ref.name}" is longer than the ${SERVICE_NAME_MAX} characters a Kubernetes Service name allows`);
    }
    this.#desired.set(key(ref), { spec, replicas });
    const w = this.#watch(ref.namespace);
    try {
      const parent = functionOf(ref);
      // A revision's deployment is owned by its function's Function and never writes it (a
      // rollback's older spec must not become the function's).
      const owner = parent.revision ? await ensureFunctionResource(this.#objects, functionSpecOf(spec)) : await applyFunctionResource(this.#objects, spec);
      const desired = this.#desired.get(key(ref));
      if (desired) desired.generation = owner.generation;
      this.#written.delete(key(ref));
      // What the cluster holds before this apply, so parts a bigger version left are removed after it.
      const before = spec.code ? await this.#codePartCount(ref) : 0;
      const { code, handler } = await this.#codeDelivery(spec, { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid });
      // With CPU scaling the HPA owns the replica count: it is applied only to go to zero (which the HPA cannot).
      const applied = scalingMode(spec) === 'cpu' && replicas > 0 ? undefined : replicas;
      const objects = functionObjects(handler ? { ...spec, handler } : spec, { owner: { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid }, ...(applied === undefined ? {} : { replicas: applied }), ...(code ? { code } : {}), ...(this.#options.images ? { images: this.#options.images } : {}) });
      // Before the Deployment, so its pods find their claims.
      await this.#ensureVolumeClaims(spec);
      for (const obj of objects) {
        await this.#objects.patch(obj as KubernetesObject, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
      }
      // CPU scaling turned off: its HPA must go, or it would keep setting replicas.
      if (!objects.some((o) => o.kind === 'HorizontalPodAutoscaler')) {
        await this.#deleteIgnoringMissing({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: ref.name, namespace: ref.namespace } });
      }
      // Once a revision runs, what ran under the function's plain name before revisions existed goes.
      if (parent.revision) await this.#retireUnversioned(parent.ref);
      // Parts past the new count (a bigger previous version), once the Deployment no longer projects them.
      const now = code?.kind === 'configmap' ? (code.parts ?? 1) : 0;
      const first = codeConfigMapName(ref.name);
      for (let i = Math.max(now, 1); i < before; i++) {
        await this.#deleteIgnoringMissing({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: codePartName(first, i), namespace: ref.namespace } });
      }
    } catch (err) {
      if (err instanceof KssError) throw err;
      throw unavailable(`applying "${ref.name}"`, err);
    }
    await w.ready;
    this.#reportStatus(ref);
  }

  /**
   * The Deployment, Service, HPA and code ConfigMaps a function ran as before it had
   * revisions (its plain name, from an earlier version of the gateway): deleted once,
   * when its first revision is applied, so they do not run beside it for ever.
   */
  async #retireUnversioned(fn: FunctionRef): Promise<void> {
    const k = key(fn);
    if (this.#retired.has(k)) return;
    await this.#watch(fn.namespace).ready.catch(() => {});
    if (!this.#desired.has(k) && this.#deployment(fn)) {
      this.#logger.info({ function: fn.name }, 'retiring the function\'s deployment from before revisions');
      await this.#deleteWorkload(fn, 'with-code');
    }
    this.#retired.add(k);
  }

  /**
   * Creates the PersistentVolumeClaim of each volume the function names (`kss.volume`)
   * when the cluster has none: created, never applied, so a claim that exists (made by
   * another function, resized or labelled by hand) is left exactly as it is; and owned
   * by no Function, so removing every function that uses a volume keeps its data.
   */
  async #ensureVolumeClaims(spec: FunctionSpec): Promise<void> {
    for (const claim of volumeClaims(spec)) {
      const name = claim.metadata!.name!;
      try {
        await this.#core.readNamespacedPersistentVolumeClaim({ name, namespace: spec.namespace });
        continue;
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
      try {
        await this.#objects.create(claim as KubernetesObject, undefined, undefined, FIELD_MANAGER);
        this.#logger.info({ function: spec.service, claim: name }, 'created the volume\'s PersistentVolumeClaim');
      } catch (err) {
        // Another function (or gateway replica) created it meanwhile: that one serves.
        if (statusOf(err) !== 409) throw err;
      }
    }
  }

  async #codeDelivery(spec: FunctionSpec, owner: FunctionOwner): Promise<{ code?: CodeDelivery; handler?: string }> {
    if (!spec.code) return {};
    let built: { archive: Buffer; handler?: string } | undefined;
    try {
      built = this.#options.artifactArchive ? await this.#options.artifactArchive(spec) : undefined;
    } catch (err) {
      // Not built on this gateway (another replica of it built and shipped the code):
      // the ConfigMaps already in the cluster serve, when they hold this very code.
      const shipped = await this.#shippedCode(spec);
      if (shipped) return shipped;
      // A function's first revision after an upgrade: its code from before revisions, copied.
      built = await this.#unversionedCode(spec);
      if (!built) throw err;
    }
    const handler = built?.handler ? { handler: built.handler } : {};
    if (built && (built.archive.length <= CODE_ARCHIVE_LIMIT || !this.#options.codeUrl)) {
      // Above the cap (and no URL to fall back on) this throws KSS_PAYLOAD_TOO_LARGE, naming both sizes.
      const parts = codeConfigMaps(spec.service, spec.namespace, built.archive, owner);
      for (const cm of parts) cm.metadata!.annotations = { [CODE_ANNOTATION]: spec.code };
      if (built.handler) parts[0]!.metadata!.annotations![HANDLER_ANNOTATION] = built.handler;
      // The first part last: its label and annotation then vouch for parts already written.
      for (const cm of [...parts.slice(1), parts[0]!]) {
        await this.#objects.patch(cm as KubernetesObject, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
      }
      return { code: { kind: 'configmap', name: parts[0]!.metadata!.name!, parts: parts.length }, ...handler };
    }
    if (this.#options.codeUrl) return { code: { kind: 'url', url: this.#options.codeUrl(spec) }, ...handler };
    throw new KssError('KSS_INVALID_SPEC', `code: the built code of "${spec.service}" is not available on this gateway, not in the cluster, and this gateway has no code URL for pods to download it from`);
  }

  /**
   * The code ConfigMaps in the cluster, when they were made for `spec.code`: the first
   * names the digest ({@link CODE_ANNOTATION}) and the count (CODE_PARTS_LABEL), and
   * every other part is there with its key and the same digest.
   */
  async #shippedCode(spec: FunctionSpec): Promise<{ code: CodeDelivery; handler?: string } | undefined> {
    const first = codeConfigMapName(spec.service);
    try {
      const cm = await this.#core.readNamespacedConfigMap({ name: first, namespace: spec.namespace });
      const a = cm.metadata?.annotations ?? {};
      const parts = Number(cm.metadata?.labels?.[CODE_PARTS_LABEL]);
      // A ConfigMap from before parts (key code.tar.gz, no count) does not fit today's Deployment.
      if (a[CODE_ANNOTATION] !== spec.code || !Number.isInteger(parts) || parts < 1 || parts > codePartCount(CODE_ARCHIVE_LIMIT) || !cm.binaryData?.[codePartKey(0)]) return undefined;
      for (let i = 1; i < parts; i++) {
        const part = await this.#core.readNamespacedConfigMap({ name: codePartName(first, i), namespace: spec.namespace });
        if (part.metadata?.annotations?.[CODE_ANNOTATION] !== spec.code || !part.binaryData?.[codePartKey(i)]) return undefined;
      }
      return { code: { kind: 'configmap', name: first, parts }, ...(a[HANDLER_ANNOTATION] ? { handler: a[HANDLER_ANNOTATION] } : {}) };
    } catch {
      return undefined;
    }
  }

  /**
   * The archive a function ran from before it had revisions (ConfigMaps `<name>-code`),
   * when `spec` is one of its revisions' and that code is `spec.code`: a gateway upgraded
   * with an empty data dir starts the first revision from it, with no build.
   */
  async #unversionedCode(spec: FunctionSpec): Promise<{ archive: Buffer; handler?: string } | undefined> {
    const of = functionOf(refOf(spec));
    if (!of.revision) return undefined;
    const plain = await this.#shippedCode({ ...spec, service: of.ref.name });
    if (plain?.code.kind !== 'configmap') return undefined;
    const first = codeConfigMapName(of.ref.name);
    const chunks: Buffer[] = [];
    for (let i = 0; i < (plain.code.parts ?? 1); i++) {
      const cm = await this.#core.readNamespacedConfigMap({ name: codePartName(first, i), namespace: spec.namespace });
      chunks.push(Buffer.from(cm.binaryData![codePartKey(i)]!, 'base64'));
    }
    return { archive: Buffer.concat(chunks), ...(plain.handler ? { handler: plain.handler } : {}) };
  }

  /** How many code parts the cluster holds for `ref`, from its first part's CODE_PARTS_LABEL (0 when there is none; 1 for a ConfigMap from before parts). */
  async #codePartCount(ref: FunctionRef): Promise<number> {
    try {
      const cm = await this.#core.readNamespacedConfigMap({ name: codeConfigMapName(ref.name), namespace: ref.namespace });
      const n = Number(cm.metadata?.labels?.[CODE_PARTS_LABEL] ?? 1);
      return Number.isInteger(n) && n >= 1 ? Math.min(n, codePartCount(CODE_ARCHIVE_LIMIT)) : 1;
    } catch (err) {
      if (statusOf(err) === 404) return 0;
      throw err;
    }
  }

  /**
   * The names of every code ConfigMap of `ref` in the cluster: the parts its first one
   * counts, and any other part carrying the function's labels (a first part deleted by
   * hand, or a write that stopped half-way), so nothing lingers.
   */
  async #codeParts(ref: FunctionRef): Promise<string[]> {
    const first = codeConfigMapName(ref.name);
    const names = new Set([first]);
    const counted = await this.#codePartCount(ref).catch(() => 1);
    for (let i = 1; i < counted; i++) names.add(codePartName(first, i));
    try {
      const listed = await this.#core.listNamespacedConfigMap({ namespace: ref.namespace, labelSelector: `${FUNCTION_LABEL}=${ref.name},${MANAGED_BY_LABEL}=kube-serverless` });
      const part = new RegExp(`^${first.replace(/[.]/g, '\\.')}(-[1-9][0-9]*)?$`);
      for (const cm of listed.items) if (cm.metadata?.name && part.test(cm.metadata.name)) names.add(cm.metadata.name);
    } catch (err) {
      // Owned by the Function: the garbage collector removes what this could not list.
      this.#logger.debug({ err: String(err), function: ref.name }, 'could not list the code ConfigMaps; leaving extra parts to the garbage collector');
    }
    return [...names];
  }

  async #deleteIgnoringMissing(obj: KubernetesObject): Promise<void> {
    try {
      await this.#objects.delete(obj, undefined, undefined, undefined, undefined, 'Background');
    } catch (err) {
      if (statusOf(err) !== 404) throw unavailable(`deleting ${obj.kind} "${obj.metadata?.name}"`, err);
    }
  }

  /** The informers of `namespace`, started on first use. */
  #watch(namespace: string): Watched {
    let w = this.#watched.get(namespace);
    if (w) return w;
    const selector = `${MANAGED_BY_LABEL}=kube-serverless`;
    const deployments = makeInformer(this.#kc, `/apis/apps/v1/namespaces/${namespace}/deployments`, () => this.#apps.listNamespacedDeployment({ namespace, labelSelector: selector }), selector);
    const pods = makeInformer(this.#kc, `/api/v1/namespaces/${namespace}/pods`, () => this.#core.listNamespacedPod({ namespace, labelSelector: selector }), selector);
    // EndpointSlices carry the Service's labels only through `kubernetes.io/service-name`: watch them all in the namespace.
    const slices = makeInformer(this.#kc, `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`, () => this.#discovery.listNamespacedEndpointSlice({ namespace }));
    const onSlice = (s: V1EndpointSlice) => {
      const fn = s.metadata?.labels?.['kubernetes.io/service-name'];
      if (fn) this.#rebuildEndpoints({ name: fn, namespace });
    };
    for (const verb of ['add', 'update', 'delete'] as const) slices.on(verb, onSlice);
    const onDeployment = (d: V1Deployment) => {
      const fn = d.metadata?.labels?.[FUNCTION_LABEL];
      if (fn) this.#reportStatus({ name: fn, namespace });
    };
    for (const verb of ['add', 'update'] as const) deployments.on(verb, onDeployment);
    for (const [what, inf] of [['deployments', deployments], ['pods', pods], ['endpointslices', slices]] as const) {
      (inf as Informer<KubernetesObject>).on('error', (err: unknown) => {
        if (this.#closed) return;
        this.#logger.warn({ err: String(err), namespace, what }, 'kubernetes watch failed; restarting it');
        this.#clock.setTimeout(() => {
          if (!this.#closed) void (inf as Informer<KubernetesObject>).start().catch(() => {});
        }, INFORMER_RESTART_MS);
      });
    }
    const ready = Promise.all([startInformer(deployments), startInformer(pods), startInformer(slices)]).then(() => undefined);
    w = { deployments, pods, slices, ready };
    this.#watched.set(namespace, w);
    ready.catch((err: unknown) => this.#logger.warn({ err: String(err), namespace }, 'kubernetes informers could not start; they retry'));
    return w;
  }

  #deployment(ref: FunctionRef): V1Deployment | undefined {
    return this.#watched.get(ref.namespace)?.deployments.get(ref.name, ref.namespace);
  }

  #status(ref: FunctionRef, d: V1Deployment): ProviderFunctionStatus {
    const pods = (this.#watched.get(ref.namespace)?.pods.list(ref.namespace) ?? []).filter((p) => p.metadata?.labels?.[FUNCTION_LABEL] === ref.name);
    const readyIds = new Set(this.resolve(ref).map((e) => e.id));
    const instances: ReplicaInfo[] = pods.map((p) => podInfo(p, readyIds));
    // Available = endpoints the invoke path can use (what answered /ready), as on the local provider.
    return { ref, replicas: d.spec?.replicas ?? 0, availableReplicas: readyIds.size, instances };
  }

  /** Ready endpoints of `ref` from its EndpointSlices (ready condition set, a port named http or the first). */
  #rebuildEndpoints(ref: FunctionRef): void {
    const slices = (this.#watched.get(ref.namespace)?.slices.list(ref.namespace) ?? []).filter((s) => s.metadata?.labels?.['kubernetes.io/service-name'] === ref.name);
    const out: Endpoint[] = [];
    for (const s of slices) {
      const port = (s.ports ?? []).find((p) => p.name === 'http') ?? s.ports?.[0];
      if (!port?.port) continue;
      for (const e of s.endpoints ?? []) {
        if (e.conditions?.ready === false || e.conditions?.terminating === true) continue;
        for (const address of e.addresses.slice(0, 1)) {
          const host = address.includes(':') ? `[${address}]` : address;
          out.push({ id: e.targetRef?.name ?? `${address}:${port.port}`, origin: `http://${host}:${port.port}` });
        }
      }
    }
    this.#setEndpoints(ref, out);
  }

  /**
   * Writes the Function's status subresource (replicas, available, observed
   * generation, a Ready condition; with revisions, each running revision's counts and
   * their sums) when it changed, so `kubectl get functions` reads well. A merge patch of
   * these fields only: the split (`status.traffic`) is the revision store's to write.
   * Best effort: a failed write is retried at the next change or resync.
   */
  #reportStatus(ref: FunctionRef): void {
    if (this.#closed) return;
    const owner = functionOf(ref);
    let replicas = 0;
    let available = 0;
    let generation: number | undefined;
    let revisions: Array<{ revision: string; replicas: number; availableReplicas: number }> | undefined;
    if (owner.revision) {
      revisions = [];
      for (const d of this.#desired.values()) {
        const dep = refOf(d.spec);
        const of = functionOf(dep);
        if (!of.revision || key(of.ref) !== key(owner.ref)) continue;
        const r = this.#deployment(dep)?.spec?.replicas ?? d.replicas;
        const a = this.resolve(dep).length;
        revisions.push({ revision: of.revision, replicas: r, availableReplicas: a });
        replicas += r;
        available += a;
        if (d.generation !== undefined) generation = Math.max(generation ?? 0, d.generation);
      }
      if (revisions.length === 0) return;
      revisions.sort((x, y) => Number(y.revision.slice(1)) - Number(x.revision.slice(1)));
    } else {
      const desired = this.#desired.get(key(ref));
      const d = this.#deployment(ref);
      if (!desired || !d) return;
      replicas = d.spec?.replicas ?? 0;
      available = this.resolve(ref).length;
      generation = desired.generation;
    }
    const fn = owner.ref;
    const ready = replicas === 0 || available > 0;
    const reason = replicas === 0 ? 'ScaledToZero' : available >= replicas ? 'AllReplicasReady' : available > 0 ? 'SomeReplicasReady' : 'NoReplicasReady';
    const k = key(fn);
    const shape = JSON.stringify([replicas, available, generation, reason, revisions]);
    if (this.#written.get(k) === shape) return;
    this.#written.set(k, shape);
    const status: FunctionResourceStatus = {
      replicas,
      availableReplicas: available,
      ...(generation === undefined ? {} : { observedGeneration: generation }),
      ...(revisions ? { revisions } : {}),
      conditions: [
        {
          type: 'Ready',
          status: ready ? 'True' : 'False',
          reason,
          message: replicas === 0 ? 'no replicas: the next request starts one' : `${available}/${replicas} replicas ready`,
          lastTransitionTime: new Date(this.#clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
          ...(generation === undefined ? {} : { observedGeneration: generation }),
        },
      ],
    };
    // A merge patch sets these fields whether or not the object has a status yet, and leaves the others.
    void this.#customObjects
      .patchNamespacedCustomObjectStatus({ group: FUNCTION_GROUP, version: FUNCTION_VERSION, namespace: fn.namespace, plural: FUNCTION_PLURAL, name: fn.name, body: { status } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))
      .catch((err: unknown) => {
        this.#written.delete(k);
        this.#logger.debug({ err: String(err), function: fn.name }, 'could not write the Function status; the next change retries');
      });
  }

  #setEndpoints(ref: FunctionRef, next: Endpoint[]): void {
    const k = key(ref);
    const prev = this.#endpoints.get(k) ?? NO_ENDPOINTS;
    if (prev.length === next.length && prev.every((e, i) => e.id === next[i]!.id && e.origin === next[i]!.origin)) return;
    if (next.length) this.#endpoints.set(k, Object.freeze(next));
    else this.#endpoints.delete(k);
    for (const l of this.#listeners) l(ref);
    this.#reportStatus(ref);
  }

  #scheduleResync(): void {
    const ms = this.#options.resyncMs ?? DEFAULT_RESYNC_MS;
    this.#cancelResync = this.#clock.setTimeout(async () => {
      for (const { spec, replicas } of [...this.#desired.values()]) {
        if (this.#closed) return;
        try {
          await this.#apply(spec, replicas);
        } catch (err) {
          this.#logger.warn({ err: String(err), function: spec.service }, 'resync could not apply a function; next resync retries');
        }
      }
      if (!this.#closed) this.#scheduleResync();
    }, ms);
  }
}

const NO_ENDPOINTS: readonly Endpoint[] = Object.freeze([]);

function initialReplicas(spec: FunctionSpec): number {
  return Math.max(1, scaleSettings(spec).min);
}

async function startInformer(inf: Informer<KubernetesObject>): Promise<void> {
  // The first list can fail (API server not reachable yet): the error handler restarts it.
  await inf.start();
}

function podInfo(p: V1Pod, readyIds: Set<string>): ReplicaInfo {
  const name = p.metadata?.name ?? '';
  const cs = p.status?.containerStatuses?.[0];
  const terminating = p.metadata?.deletionTimestamp !== undefined;
  const state: ReplicaInfo['state'] = terminating ? 'stopping' : readyIds.has(name) ? 'ready' : cs?.state?.waiting?.reason === 'CrashLoopBackOff' ? 'crashed' : 'starting';
  const info: ReplicaInfo = { id: name, state, restarts: cs?.restartCount ?? 0 };
  if (p.status?.startTime) info.startedAt = new Date(p.status.startTime).toISOString();
  const last = cs?.lastState?.terminated;
  if (last) info.lastExit = last.reason === 'OOMKilled' ? `OOMKilled at ${new Date(last.finishedAt ?? Date.now()).toISOString()}` : `exited with code ${last.exitCode}${last.reason ? ` (${last.reason})` : ''}`;
  return info;
}

function unavailable(what: string, err: unknown): KssError {
  const status = statusOf(err);
  const body = (err as { body?: unknown }).body;
  let reason = status ? `the Kubernetes API answered ${status}` : `the Kubernetes API could not be reached (${(err as Error)?.message ?? String(err)})`;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) reason += `: ${parsed.message.slice(0, 300)}`;
    } catch {
      /* not a Status */
    }
  }
  return new KssError('KSS_PROVIDER_UNAVAILABLE', `${what}: ${reason}; check the gateway's access to the cluster (kubectl auth can-i)`, { cause: err });
}

function refOf(spec: FunctionSpec): FunctionRef {
  return { name: spec.service, namespace: spec.namespace };
}

function key(ref: FunctionRef): string {
  return `${ref.namespace}/${ref.name}`;
}
