/**
 * The object store behind the fake API server: objects keyed by resource,
 * namespace and name; a global, monotonically increasing resourceVersion bumped
 * by every write; a bounded event history for watches from a resourceVersion;
 * status-subresource write rules; and ownerReference garbage collection.
 */
import { randomUUID } from 'node:crypto';
import { clone, isObject, type JsonObject } from './apply.js';
import { apiVersionOf, resourceIdOf, type ResourceDefinition } from './resources.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';

/** An owner reference as stored in `metadata.ownerReferences`. */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** Object metadata (the fields the fake server reads or sets; others are kept as given). */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  managedFields?: unknown[];
  [key: string]: unknown;
}

/** Any Kubernetes object. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

/** Watch event types the store emits. */
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One change, as recorded in the history and delivered to subscribers. */
export interface StoreEvent {
  type: WatchEventType;
  resource: ResourceDefinition;
  /** The object after the change (for DELETED: its last state, with the deletion's resourceVersion). */
  object: KubeObject;
  resourceVersion: number;
  /** The object before the change (MODIFIED and DELETED). */
  previous?: KubeObject;
}

/** An API error, rendered by the server as a `Status` object with this code. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details: JsonObject = {},
  ) {
    super(message);
  }

  /** The `Status` body for this error. */
  toStatus(): JsonObject {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      details: this.details,
      code: this.code,
    };
  }
}

/** Which parts of an object a write may change. */
export type WriteScope =
  /** The main resource: `.status` is kept from the live object when the resource has a status subresource. */
  | 'main'
  /** The status subresource: only `.status` changes. */
  | 'status'
  /** Everything (direct test writes, as another controller). */
  | 'all';

/** Options of {@link ObjectStore.delete}. */
export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  preconditions?: { uid?: string; resourceVersion?: string };
}

/** Filters of {@link ObjectStore.list}. */
export interface ListFilter {
  labelSelector?: string | null;
  fieldSelector?: string | null;
}

function notFound(def: ResourceDefinition, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${def.plural}${def.group ? '.' + def.group : ''} "${name}" not found`, {
    name,
    group: def.group,
    kind: def.plural,
  });
}

function stripVolatile(object: KubeObject): unknown {
  const copy = clone(object);
  delete copy.metadata.resourceVersion;
  delete copy.metadata.managedFields;
  return copy;
}

function specOf(object: KubeObject): string {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = object;
  return JSON.stringify(rest);
}

/** The in-memory object store. Create one per fake API server. */
export class ObjectStore {
  private revision = 0;
  /** resourceVersion of the newest event dropped from the history (watches from before it get 410). */
  private compacted = 0;
  private readonly objects = new Map<string, KubeObject>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  private readonly lastApplied = new Map<string, unknown>();
  private gcTimer: NodeJS.Immediate | undefined;
  private closed = false;

  constructor(
    readonly resources: ResourceDefinition[],
    private readonly historySize: number,
  ) {}

  /** The current (newest) resourceVersion. */
  currentRevision(): number {
    return this.revision;
  }

  /** The resourceVersion below which watches are expired. */
  compactedRevision(): number {
    return this.compacted;
  }

  /**
   * Find a resource by plural (`deployments`), kind (`Deployment`), `plural.group`
   * (`deployments.apps`) or `group/version/plural` (`apps/v1/deployments`, `v1/pods`).
   */
  resolve(ref: string): ResourceDefinition {
    const def = this.resources.find(
      (d) =>
        d.plural === ref ||
        d.kind === ref ||
        resourceIdOf(d) === ref ||
        `${d.plural}.${d.group}` === ref ||
        `${apiVersionOf(d)}/${d.kind}` === ref,
    );
    if (!def) throw new Error(`fake-kube-api: unknown resource "${ref}"`);
    return def;
  }

  /** The resource served at this group/version/plural, if any. */
  lookup(group: string, version: string, plural: string): ResourceDefinition | undefined {
    return this.resources.find((d) => d.group === group && d.version === version && d.plural === plural);
  }

  private key(def: ResourceDefinition, namespace: string | undefined, name: string): string {
    return `${resourceIdOf(def)}|${def.namespaced ? namespace ?? '' : ''}|${name}`;
  }

  /** A copy of one object, or undefined. */
  get(def: ResourceDefinition, namespace: string | undefined, name: string): KubeObject | undefined {
    return clone(this.objects.get(this.key(def, namespace, name)));
  }

  /** Like {@link get} but throws a 404 {@link ApiError}. */
  require(def: ResourceDefinition, namespace: string | undefined, name: string): KubeObject {
    const object = this.get(def, namespace, name);
    if (!object) throw notFound(def, name);
    return object;
  }

  /** Copies of the objects of one resource (all namespaces when `namespace` is undefined), sorted by namespace/name. */
  list(def: ResourceDefinition, namespace?: string, filter: ListFilter = {}): KubeObject[] {
    const labels = parseLabelSelector(filter.labelSelector);
    const fields = parseFieldSelector(filter.fieldSelector);
    const prefix = `${resourceIdOf(def)}|`;
    const items: KubeObject[] = [];
    for (const [key, object] of this.objects) {
      if (!key.startsWith(prefix)) continue;
      if (def.namespaced && namespace !== undefined && object.metadata.namespace !== namespace) continue;
      if (!labels(object.metadata.labels) || !fields(object)) continue;
      items.push(clone(object));
    }
    return items.sort((a, b) =>
      `${a.metadata.namespace ?? ''}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace ?? ''}/${b.metadata.name}`),
    );
  }

  /** Copies of every object, optionally of one resource. */
  all(def?: ResourceDefinition): KubeObject[] {
    return def ? this.list(def) : [...this.objects.values()].map((o) => clone(o));
  }

  /** Create an object; 409 AlreadyExists if it exists. `.status` is dropped for status-subresource resources unless scope is 'all'. */
  create(def: ResourceDefinition, input: KubeObject, scope: WriteScope = 'main'): KubeObject {
    const object = clone(input);
    object.metadata ??= {};
    const meta = object.metadata;
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomUUID().slice(0, 5)}`;
    if (!meta.name) throw new ApiError(422, 'Invalid', `${def.kind} is invalid: metadata.name: Required value`);
    if (def.namespaced && !meta.namespace) meta.namespace = 'default';
    if (!def.namespaced) delete meta.namespace;
    const key = this.key(def, meta.namespace, meta.name);
    if (this.objects.has(key)) {
      throw new ApiError(409, 'AlreadyExists', `${def.plural}${def.group ? '.' + def.group : ''} "${meta.name}" already exists`, {
        name: meta.name,
        group: def.group,
        kind: def.plural,
      });
    }
    if (def.status && scope !== 'all') delete object.status;
    object.apiVersion = apiVersionOf(def);
    object.kind = def.kind;
    meta.uid = randomUUID();
    meta.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    meta.generation = 1;
    delete meta.deletionTimestamp;
    meta.resourceVersion = String(++this.revision);
    this.objects.set(key, object);
    this.emit({ type: 'ADDED', resource: def, object: clone(object), resourceVersion: this.revision });
    return clone(object);
  }

  /**
   * Replace an object (it must exist; 404 otherwise). If `input.metadata.resourceVersion`
   * is set and differs from the live one: 409 Conflict. System metadata (uid,
   * creationTimestamp, generation) is kept; generation is bumped when anything
   * outside metadata/status changed. A write that changes nothing is a no-op
   * (no new resourceVersion, no event), as in Kubernetes.
   */
  update(def: ResourceDefinition, input: KubeObject, scope: WriteScope = 'main'): KubeObject {
    const name = input.metadata?.name ?? '';
    const key = this.key(def, input.metadata?.namespace, name);
    const live = this.objects.get(key);
    if (!live) throw notFound(def, name);
    const wanted = input.metadata?.resourceVersion;
    if (wanted && wanted !== live.metadata.resourceVersion) {
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${def.plural}${def.group ? '.' + def.group : ''} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        { name, group: def.group, kind: def.plural },
      );
    }
    let next: KubeObject;
    if (scope === 'status') {
      next = clone(live);
      if (input.status === undefined) delete next.status;
      else next.status = clone(input.status);
    } else {
      next = clone(input);
      next.metadata ??= {};
      if (scope === 'main' && def.status) {
        if (live.status === undefined) delete next.status;
        else next.status = clone(live.status);
      }
    }
    next.apiVersion = apiVersionOf(def);
    next.kind = def.kind;
    const meta = next.metadata;
    meta.name = live.metadata.name;
    if (def.namespaced) meta.namespace = live.metadata.namespace;
    else delete meta.namespace;
    meta.uid = live.metadata.uid;
    meta.creationTimestamp = live.metadata.creationTimestamp;
    if (live.metadata.deletionTimestamp) meta.deletionTimestamp = live.metadata.deletionTimestamp;
    meta.generation = (live.metadata.generation ?? 1) + (specOf(next) !== specOf(live) ? 1 : 0);
    if (meta.managedFields === undefined && live.metadata.managedFields) meta.managedFields = live.metadata.managedFields;
    if (JSON.stringify(stripVolatile(next)) === JSON.stringify(stripVolatile(live))) return clone(live);
    meta.resourceVersion = String(++this.revision);
    this.objects.set(key, next);
    this.emit({ type: 'MODIFIED', resource: def, object: clone(next), resourceVersion: this.revision, previous: clone(live) });
    return clone(next);
  }

  /**
   * Delete an object (404 if missing; 409 on a failed precondition). Dependents
   * (objects whose ownerReferences name its uid) are garbage collected in the
   * background, or orphaned with `propagationPolicy: 'Orphan'`. Foreground is
   * treated like Background.
   */
  delete(def: ResourceDefinition, namespace: string | undefined, name: string, options: DeleteOptions = {}): KubeObject {
    const key = this.key(def, namespace, name);
    const live = this.objects.get(key);
    if (!live) throw notFound(def, name);
    const pre = options.preconditions;
    if ((pre?.uid && pre.uid !== live.metadata.uid) || (pre?.resourceVersion && pre.resourceVersion !== live.metadata.resourceVersion)) {
      throw new ApiError(409, 'Conflict', `Precondition failed for ${def.plural} "${name}"`, { name, kind: def.plural });
    }
    this.objects.delete(key);
    for (const k of [...this.lastApplied.keys()]) if (k.startsWith(`${key}|`)) this.lastApplied.delete(k);
    const object = clone(live);
    object.metadata.resourceVersion = String(++this.revision);
    object.metadata.deletionTimestamp ??= new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    this.emit({ type: 'DELETED', resource: def, object: clone(object), resourceVersion: this.revision, previous: clone(live) });
    if (options.propagationPolicy === 'Orphan') this.orphanDependents(live.metadata.uid ?? '');
    else this.scheduleGc();
    return object;
  }

  /** What `manager` last applied to this object with server-side apply. */
  getLastApplied(def: ResourceDefinition, namespace: string | undefined, name: string, manager: string): unknown {
    return clone(this.lastApplied.get(`${this.key(def, namespace, name)}|${manager}`));
  }

  /** Remember what `manager` applied (for pruning on its next apply). */
  setLastApplied(def: ResourceDefinition, namespace: string | undefined, name: string, manager: string, applied: unknown): void {
    this.lastApplied.set(`${this.key(def, namespace, name)}|${manager}`, clone(applied));
  }

  /** Retained events newer than `revision`, or 'expired' when some were already dropped. */
  eventsSince(revision: number): StoreEvent[] | 'expired' {
    if (revision < this.compacted) return 'expired';
    return this.history
      .filter((e) => e.resourceVersion > revision)
      .map((e) => ({ ...e, object: clone(e.object), previous: clone(e.previous) }));
  }

  /** Be called synchronously after every change. Returns an unsubscribe function. */
  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stop garbage collection and notifications. */
  close(): void {
    this.closed = true;
    if (this.gcTimer) clearImmediate(this.gcTimer);
    this.gcTimer = undefined;
    this.listeners.clear();
  }

  private emit(event: StoreEvent): void {
    this.history.push(event);
    while (this.history.length > this.historySize) this.compacted = this.history.shift()!.resourceVersion;
    for (const listener of [...this.listeners]) {
      try {
        listener({ ...event, object: clone(event.object), previous: clone(event.previous) });
      } catch {
        // a failing subscriber must not break the write
      }
    }
  }

  private liveUids(): Set<string> {
    return new Set([...this.objects.values()].map((o) => o.metadata.uid ?? ''));
  }

  private scheduleGc(): void {
    if (this.gcTimer || this.closed) return;
    this.gcTimer = setImmediate(() => {
      this.gcTimer = undefined;
      this.collectGarbage();
    });
  }

  /** Delete every object all of whose owners are gone (each deletion schedules another pass). */
  private collectGarbage(): void {
    const uids = this.liveUids();
    for (const object of [...this.objects.values()]) {
      const owners = object.metadata.ownerReferences ?? [];
      if (owners.length === 0 || owners.some((o) => uids.has(o.uid))) continue;
      const def = this.resolve(`${object.apiVersion}/${object.kind}`);
      this.delete(def, object.metadata.namespace, object.metadata.name ?? '');
    }
  }

  private orphanDependents(uid: string): void {
    for (const object of [...this.objects.values()]) {
      const owners = object.metadata.ownerReferences ?? [];
      if (!owners.some((o) => o.uid === uid)) continue;
      const next = clone(object);
      next.metadata.ownerReferences = owners.filter((o) => o.uid !== uid);
      if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
      next.metadata.resourceVersion = undefined;
      this.update(this.resolve(`${object.apiVersion}/${object.kind}`), next, 'all');
    }
  }
}

/** True when `value` looks like a Kubernetes object. */
export function isKubeObject(value: unknown): value is KubeObject {
  return isObject(value) && isObject(value.metadata);
}
