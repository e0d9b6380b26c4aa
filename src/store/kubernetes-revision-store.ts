/**
 * Revisions on Kubernetes. Each revision is a `ControllerRevision` (apps/v1, what
 * StatefulSets and DaemonSets keep their history in) named `NAME--rN`, owned by the
 * function's Function resource, holding the Function's spec as it was deployed; the
 * split and its canary are one annotation on the Function ({@link TRAFFIC_ANNOTATION},
 * `{"traffic":[{"revision":"r4","percent":90},…],"canary":null}`),
 * mirrored into its status (`status.traffic`, `status.split`) for `kubectl get
 * functions`. The API server is the one truth: every gateway replica reads the same
 * revisions, and one that restarts with an empty data dir rolls back from them (a
 * revision's code ConfigMaps stay in the cluster until the revision is collected).
 *
 *     kubectl get controllerrevisions -l serverless.kube.io/revision-of=NAME
 */
import { CustomObjectsApi, KubernetesObjectApi, PatchStrategy, setHeaderOptions, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { KssError, parseTraffic, type CanaryState, type FunctionRef, type FunctionSpec, type Revision } from '../core/index.js';
import { FIELD_MANAGER, ensureFunctionResource, mergePatch } from '../providers/kubernetes/function-owner.js';
import {
  FUNCTION_API_VERSION,
  FUNCTION_GROUP,
  FUNCTION_KIND,
  FUNCTION_LABEL,
  FUNCTION_PLURAL,
  FUNCTION_VERSION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  REVISION_ID_LABEL,
  REVISION_OF_LABEL,
  fromFunctionResource,
  toFunctionResource,
  type FunctionResource,
  type FunctionResourceSpec,
} from '../providers/kubernetes/function-resource.js';
import { statusOf } from '../providers/kubernetes/api-status.js';
import { unavailable } from './kube-errors.js';
import { TRAFFIC_ANNOTATION } from './kubernetes-store.js';
import type { RevisionStore, Routing } from './revision-store.js';

/** On a ControllerRevision: who deployed it. */
export const CREATED_BY_ANNOTATION = 'serverless.kube.io/created-by';
/** On a ControllerRevision: `"true"` keeps it whatever the count. */
export const PINNED_ANNOTATION = 'serverless.kube.io/pinned';
/** Attempts at a revision number before giving up (another gateway replica deploying the same function took each). */
const NUMBER_RETRIES = 5;
/** A Service name is a DNS-1035 label (a revision's is `NAME--rN`). */
const SERVICE_NAME_MAX = 63;

/** A ControllerRevision as this store writes it. */
interface RevisionObject extends KubernetesObject {
  metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string>; creationTimestamp?: Date; [key: string]: unknown };
  revision: number;
  data: { spec: FunctionResourceSpec; createdAt?: string };
}

export interface KubernetesRevisionStoreOptions {
  kubeConfig: KubeConfig;
}

export class KubernetesRevisionStore implements RevisionStore {
  readonly #objects: KubernetesObjectApi;
  readonly #customObjects: CustomObjectsApi;

  constructor(options: KubernetesRevisionStoreOptions) {
    this.#objects = KubernetesObjectApi.makeApiClient(options.kubeConfig);
    this.#customObjects = options.kubeConfig.makeApiClient(CustomObjectsApi);
  }

  async add(spec: FunctionSpec, createdBy: string, createdAt: string): Promise<Revision> {
    const ref = { name: spec.service, namespace: spec.namespace };
    const { spec: body } = toFunctionResource(spec);
    let owner: Awaited<ReturnType<typeof ensureFunctionResource>> | undefined;
    for (let attempt = 0; ; attempt++) {
      const number = Math.max(0, ...(await this.#list(ref)).map((r) => r.number)) + 1;
      const revision = `r${number}`;
      // Checked before anything is written: the revision's Service would be refused.
      if (`${ref.name}--${revision}`.length > SERVICE_NAME_MAX) {
        throw new KssError('KSS_INVALID_NAME', `service: "${ref.name}" is ${ref.name.length} characters; on Kubernetes each revision runs as a Service "${ref.name}--${revision}", which must fit ${SERVICE_NAME_MAX} characters: use a name of at most ${SERVICE_NAME_MAX - 2 - revision.length} characters`);
      }
      owner ??= await this.#call('recording a revision', () => ensureFunctionResource(this.#objects, spec));
      const obj: RevisionObject = {
        apiVersion: 'apps/v1',
        kind: 'ControllerRevision',
        metadata: {
          name: `${ref.name}--${revision}`,
          namespace: ref.namespace,
          labels: { [REVISION_OF_LABEL]: ref.name, [REVISION_ID_LABEL]: revision, [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
          annotations: { [CREATED_BY_ANNOTATION]: createdBy },
          ownerReferences: [{ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid, controller: true, blockOwnerDeletion: true }],
        },
        revision: number,
        data: { spec: body, createdAt },
      };
      try {
        await this.#objects.create(obj, undefined, undefined, FIELD_MANAGER);
      } catch (err) {
        // Another gateway replica took this number a moment ago: the next one is ours.
        if (statusOf(err) === 409 && attempt < NUMBER_RETRIES) continue;
        throw unavailable(`recording revision ${revision} of "${ref.name}"`, err);
      }
      await this.#patchStatus(ref, { latestRevision: revision });
      return { revision, number, spec, createdAt, createdBy, pinned: false };
    }
  }

  async list(ref: FunctionRef): Promise<Revision[]> {
    return (await this.#list(ref)).sort((a, b) => b.number - a.number);
  }

  async get(ref: FunctionRef, revision: string): Promise<Revision | undefined> {
    const obj = await this.#read(ref, revision);
    return obj ? fromObject(obj, ref) : undefined;
  }

  async setPinned(ref: FunctionRef, revision: string, pinned: boolean): Promise<Revision | undefined> {
    if (!(await this.#read(ref, revision))) return undefined;
    await this.#call(`pinning revision ${revision} of "${ref.name}"`, () =>
      mergePatch(this.#objects, { apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: `${ref.name}--${revision}`, namespace: ref.namespace, annotations: { [PINNED_ANNOTATION]: pinned ? 'true' : null } } } as unknown as KubernetesObject),
    );
    return this.get(ref, revision);
  }

  /** Deletes the revision and its code (the ConfigMaps its deployment ran from). */
  async delete(ref: FunctionRef, revision: string): Promise<void> {
    await this.#deleteIgnoringMissing({ apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: `${ref.name}--${revision}`, namespace: ref.namespace } });
    await this.#deleteConfigMaps(ref.namespace, `${FUNCTION_LABEL}=${ref.name}--${revision},${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`);
  }

  async routing(ref: FunctionRef): Promise<Routing | undefined> {
    const fn = await this.#readFunction(ref);
    const text = fn?.metadata.annotations?.[TRAFFIC_ANNOTATION];
    return text === undefined ? undefined : parseRouting(text, ref);
  }

  async setRouting(ref: FunctionRef, routing: Routing): Promise<void> {
    const text = JSON.stringify({ traffic: routing.traffic, canary: routing.canary });
    await this.#call(`routing "${ref.name}"`, () =>
      mergePatch(this.#objects, { apiVersion: FUNCTION_API_VERSION, kind: FUNCTION_KIND, metadata: { name: ref.name, namespace: ref.namespace, annotations: { [TRAFFIC_ANNOTATION]: text } } } as KubernetesObject),
    );
    await this.#patchStatus(ref, {
      traffic: routing.traffic,
      split: routing.traffic.map((t) => `${t.revision}=${t.percent}%`).join(' '),
      canary: routing.canary ? canaryLine(routing.canary) : null,
    });
  }

  /** Every revision of `ref`, the code they kept and the split (before a function of that name is created again, or after it is removed). */
  async removeAll(ref: FunctionRef): Promise<void> {
    for (const r of await this.#listObjects(ref)) await this.#deleteIgnoringMissing(r);
    await this.#deleteConfigMaps(ref.namespace, `${REVISION_OF_LABEL}=${ref.name},${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`);
    try {
      await mergePatch(this.#objects, { apiVersion: FUNCTION_API_VERSION, kind: FUNCTION_KIND, metadata: { name: ref.name, namespace: ref.namespace, annotations: { [TRAFFIC_ANNOTATION]: null } } } as unknown as KubernetesObject);
    } catch (err) {
      if (statusOf(err) !== 404) throw unavailable(`clearing the split of "${ref.name}"`, err);
    }
  }

  async #list(ref: FunctionRef): Promise<Revision[]> {
    const out: Revision[] = [];
    for (const obj of await this.#listObjects(ref)) {
      const rev = fromObjectOrUndefined(obj, ref);
      if (rev) out.push(rev);
    }
    return out;
  }

  async #listObjects(ref: FunctionRef): Promise<RevisionObject[]> {
    const list = await this.#call(`listing the revisions of "${ref.name}"`, () =>
      this.#objects.list<RevisionObject>('apps/v1', 'ControllerRevision', ref.namespace, undefined, undefined, undefined, undefined, `${REVISION_OF_LABEL}=${ref.name},${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`),
    );
    return (list.items ?? []).map((o) => ({ ...o, apiVersion: 'apps/v1', kind: 'ControllerRevision' }));
  }

  async #read(ref: FunctionRef, revision: string): Promise<RevisionObject | undefined> {
    try {
      const obj = await this.#objects.read<RevisionObject>({ apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: `${ref.name}--${revision}`, namespace: ref.namespace } });
      // Only ours, of this function (a ControllerRevision of that name made by something else is not a revision).
      return obj.metadata.labels?.[REVISION_OF_LABEL] === ref.name ? obj : undefined;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw unavailable(`reading revision ${revision} of "${ref.name}"`, err);
    }
  }

  async #readFunction(ref: FunctionRef): Promise<FunctionResource | undefined> {
    try {
      return (await this.#customObjects.getNamespacedCustomObject({ group: FUNCTION_GROUP, version: FUNCTION_VERSION, namespace: ref.namespace, plural: FUNCTION_PLURAL, name: ref.name })) as FunctionResource;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw unavailable(`reading Function "${ref.name}"`, err);
    }
  }

  /** Best effort: the status is a view of what the annotation and the revisions hold. */
  async #patchStatus(ref: FunctionRef, fields: Record<string, unknown>): Promise<void> {
    await this.#customObjects
      .patchNamespacedCustomObjectStatus({ group: FUNCTION_GROUP, version: FUNCTION_VERSION, namespace: ref.namespace, plural: FUNCTION_PLURAL, name: ref.name, body: { status: fields } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))
      .catch(() => {});
  }

  async #deleteConfigMaps(namespace: string, labelSelector: string): Promise<void> {
    const list = await this.#call('listing code ConfigMaps', () => this.#objects.list('v1', 'ConfigMap', namespace, undefined, undefined, undefined, undefined, labelSelector));
    for (const cm of list.items ?? []) await this.#deleteIgnoringMissing({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: cm.metadata!.name!, namespace } });
  }

  async #deleteIgnoringMissing(obj: KubernetesObject): Promise<void> {
    try {
      await this.#objects.delete(obj, undefined, undefined, undefined, undefined, 'Background');
    } catch (err) {
      if (statusOf(err) !== 404) throw unavailable(`deleting ${obj.kind} "${obj.metadata?.name}"`, err);
    }
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof KssError) throw err;
      throw unavailable(what, err);
    }
  }
}

function fromObjectOrUndefined(obj: RevisionObject, ref: FunctionRef): Revision | undefined {
  try {
    return fromObject(obj, ref);
  } catch {
    // Edited by hand into something that is not a spec: not a revision one can roll back to.
    return undefined;
  }
}

function fromObject(obj: RevisionObject, ref: FunctionRef): Revision {
  const spec = fromFunctionResource({ apiVersion: FUNCTION_API_VERSION, kind: FUNCTION_KIND, metadata: { name: ref.name, namespace: ref.namespace }, spec: obj.data?.spec });
  const created = obj.data?.createdAt ?? (obj.metadata.creationTimestamp ? new Date(obj.metadata.creationTimestamp).toISOString() : new Date(0).toISOString());
  return {
    revision: `r${obj.revision}`,
    number: obj.revision,
    spec,
    createdAt: created,
    createdBy: obj.metadata.annotations?.[CREATED_BY_ANNOTATION] ?? 'unknown',
    pinned: obj.metadata.annotations?.[PINNED_ANNOTATION] === 'true',
  };
}

/** The annotation's routing, checked as a split from the API is (someone may have edited it with kubectl). */
function parseRouting(text: string, ref: FunctionRef): Routing {
  let parsed: { traffic?: unknown; canary?: unknown };
  try {
    parsed = JSON.parse(text) as { traffic?: unknown; canary?: unknown };
  } catch {
    throw new KssError('KSS_INVALID_TRAFFIC', `Function "${ref.name}": annotation ${TRAFFIC_ANNOTATION} is not JSON; set the split again with \`kss traffic ${ref.name} r1=100\``);
  }
  const traffic = parseTraffic(parsed?.traffic, `Function "${ref.name}" annotation ${TRAFFIC_ANNOTATION}: traffic`);
  const canary = parsed.canary && typeof parsed.canary === 'object' ? (parsed.canary as CanaryState) : null;
  return { traffic, canary };
}

function canaryLine(c: CanaryState): string {
  return `${c.revision} at ${c.percent}% (from ${c.from}), +${c.stepPercent}% every ${c.intervalSeconds}s while errors ≤ ${Math.round(c.maxErrorRate * 1000) / 10}%`;
}
