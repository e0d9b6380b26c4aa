/**
 * The in-process fake Kubernetes API server: a real HTTP server on 127.0.0.1
 * speaking the REST subset the Kubernetes provider uses, so that
 * `@kubernetes/client-node` works against it unchanged.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { parse as parseYaml } from 'yaml';
import {
  clone,
  isObject,
  jsonPatch,
  mergePatch,
  PatchError,
  serverSideApply,
  strategicMergePatch,
  type JsonObject,
} from './apply.js';
import { formatLogLine, PodLogs } from './logs.js';
import {
  apiGroup,
  apiGroupList,
  apiVersionOf,
  coreApiVersions,
  defaultResources,
  resourceIdOf,
  resourceList,
  type ResourceDefinition,
} from './resources.js';
import { parseFieldSelector, parseLabelSelector, SelectorError } from './selectors.js';
import { ApiError, ObjectStore, type DeleteOptions, type KubeObject, type StoreEvent, type WriteScope } from './store.js';

/** Options of {@link startFakeKubeApi}. */
export interface FakeKubeApiOptions {
  /** Events kept for watches from a resourceVersion; older ones answer 410 Expired. Default 1000. */
  historySize?: number;
  /** Interval of BOOKMARK events on watches with `allowWatchBookmarks=true`. Default 1000 ms. */
  bookmarkIntervalMs?: number;
  /**
   * How a watch from an expired resourceVersion fails: `'event'` (default, what a
   * real API server with the watch cache does: HTTP 200 and one `ERROR` event whose
   * object is a 410 `Expired` Status) or `'http'` (an HTTP 410 response).
   */
  expiredWatch?: 'event' | 'http';
  /** Extra resource types to serve (e.g. another CRD). */
  resources?: ResourceDefinition[];
}

/** A fault to inject into the next matching requests. */
export interface FaultSpec {
  /** HTTP method to match (any when omitted). */
  method?: string;
  /** Substring of the request path plus query to match (any when omitted). */
  pathIncludes?: string;
  /** HTTP status to answer with (409, 500, 503, 429, 404, ...). */
  status: number;
  /** How many matching requests fail. Default 1. */
  times?: number;
  /** Status message. */
  message?: string;
}

/** The fault injector of a {@link FakeKubeApi}. */
export interface FaultInjector {
  /** Make the next `times` requests matching `spec` fail with a proper Status body. */
  next(spec: FaultSpec): void;
  /** Faults not yet consumed, with their remaining counts. */
  pending(): Array<FaultSpec & { times: number }>;
  /** Forget every pending fault. */
  clear(): void;
}

/** One entry of {@link FakeKubeApi.requests}. */
export interface RequestRecord {
  method: string;
  /** URL path without the query. */
  path: string;
  /** The query string including `?`, or `''`. */
  search: string;
  contentType?: string;
  /** True when the request was answered by an injected fault. */
  faulted: boolean;
}

/** Options of {@link FakeKubeApi.dropWatches}. */
export interface DropWatchesOptions {
  /** Destroy the sockets instead of ending the responses cleanly (the client sees an error). */
  abrupt?: boolean;
}

/** A running fake API server. */
export interface FakeKubeApi {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** A plain kubeconfig object for `new KubeConfig().loadFromOptions(api.kubeConfigOptions())`. */
  kubeConfigOptions(namespace?: string): KubeConfigOptions;
  /** Fault injection. */
  readonly faults: FaultInjector;
  /** Every request received, oldest first (tests may clear it with `api.requests.length = 0`). */
  readonly requests: RequestRecord[];
  /** Pod logs: `api.logs.append(namespace, pod, line)` feeds `pods/{name}/log`. */
  readonly logs: PodLogs;
  /** The underlying store (for simulations and advanced tests). */
  readonly store: ObjectStore;
  /** Number of watch streams currently open. */
  openWatches(): number;
  /** Close every open watch stream; clients must reconnect. */
  dropWatches(options?: DropWatchesOptions): number;
  /** Snapshot (copies) of every object, or of one resource (plural, kind or `group/version/plural`). */
  objects(resource?: string): KubeObject[];
  /** A copy of one object, or undefined. `resource` is a plural, kind or `group/version/plural`. */
  get(resource: string, namespace: string | undefined, name: string): KubeObject | undefined;
  /**
   * Write an object as another controller would (create or full replace, `.status`
   * included; bumps resourceVersion; notifies watchers). Its resource comes from
   * `apiVersion` and `kind`.
   */
  put(object: KubeObject): KubeObject;
  /** Delete an object as another controller would (dependents are garbage collected). */
  delete(resource: string, namespace: string | undefined, name: string, options?: DeleteOptions): KubeObject;
  /** Be called synchronously after every change. Returns an unsubscribe function. */
  subscribe(listener: (event: StoreEvent) => void): () => void;
  /** Run `hook` when the server closes (simulations register their shutdown here). */
  onClose(hook: () => Promise<void> | void): void;
  /** Stop everything: close hooks, watch and log streams, timers and the HTTP server. */
  close(): Promise<void>;
}

/** The kubeconfig shape `KubeConfig.loadFromOptions` accepts. */
export interface KubeConfigOptions {
  clusters: Array<{ name: string; server: string; skipTLSVerify: boolean }>;
  users: Array<{ name: string; token: string }>;
  contexts: Array<{ name: string; cluster: string; user: string; namespace?: string }>;
  currentContext: string;
}

interface Route {
  def: ResourceDefinition;
  namespace?: string;
  name?: string;
  subresource?: string;
}

interface OpenStream {
  res: ServerResponse;
  stop(): void;
}

const JSON_TYPE = 'application/json';

function statusFor(code: number, message?: string): ApiError {
  const reasons: Record<number, string> = {
    400: 'BadRequest',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'NotFound',
    405: 'MethodNotAllowed',
    409: 'Conflict',
    410: 'Expired',
    415: 'UnsupportedMediaType',
    422: 'Invalid',
    429: 'TooManyRequests',
    500: 'InternalError',
    503: 'ServiceUnavailable',
    504: 'Timeout',
  };
  return new ApiError(code, reasons[code] ?? 'Unknown', message ?? `injected fault (${code})`);
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseBody(text: string, contentType: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    if (contentType.includes('yaml')) {
      try {
        return parseYaml(text);
      } catch {
        // fall through
      }
    }
    throw new ApiError(400, 'BadRequest', 'the request body is not valid JSON or YAML');
  }
}

function scaleOf(object: KubeObject): JsonObject {
  const spec = (object.spec ?? {}) as JsonObject;
  const status = (object.status ?? {}) as JsonObject;
  const selector = (spec.selector as JsonObject | undefined)?.matchLabels as Record<string, string> | undefined;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: object.metadata.name,
      namespace: object.metadata.namespace,
      uid: object.metadata.uid,
      resourceVersion: object.metadata.resourceVersion,
      creationTimestamp: object.metadata.creationTimestamp,
    },
    spec: { replicas: spec.replicas ?? 1 },
    status: {
      replicas: status.replicas ?? 0,
      selector: Object.entries(selector ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    },
  };
}

/**
 * Start a fake Kubernetes API server on 127.0.0.1 and a random port.
 *
 * @example
 * const api = await startFakeKubeApi();
 * const kc = new KubeConfig();
 * kc.loadFromOptions(api.kubeConfigOptions('functions'));
 * const core = kc.makeApiClient(CoreV1Api);
 * await core.createNamespacedConfigMap({ namespace: 'functions', body: { metadata: { name: 'a' } } });
 * await api.close();
 */
export async function startFakeKubeApi(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  const resources = [...defaultResources(), ...(options.resources ?? [])];
  const store = new ObjectStore(resources, options.historySize ?? 1000);
  const logs = new PodLogs();
  const requests: RequestRecord[] = [];
  const faultList: Array<FaultSpec & { times: number }> = [];
  const streams = new Set<OpenStream>();
  const sockets = new Set<Socket>();
  const closeHooks: Array<() => Promise<void> | void> = [];
  const bookmarkIntervalMs = options.bookmarkIntervalMs ?? 1000;
  let closed = false;

  // A deleted pod's log followers end, like a stopped container's.
  const unsubscribeLogs = store.subscribe((event) => {
    if (event.type === 'DELETED' && event.resource.kind === 'Pod' && event.resource.group === '') {
      logs.end(event.object.metadata.namespace ?? '', event.object.metadata.name ?? '', true);
    }
  });

  function takeFault(method: string, pathAndQuery: string): FaultSpec | undefined {
    const index = faultList.findIndex(
      (f) => (!f.method || f.method.toUpperCase() === method) && (!f.pathIncludes || pathAndQuery.includes(f.pathIncludes)),
    );
    if (index < 0) return undefined;
    const fault = faultList[index];
    fault.times -= 1;
    if (fault.times <= 0) faultList.splice(index, 1);
    return fault;
  }

  function route(segments: string[]): Route | JsonObject | undefined {
    // discovery
    if (segments.length === 1 && segments[0] === 'api') return coreApiVersions();
    if (segments.length === 1 && segments[0] === 'apis') return apiGroupList(resources);
    let group: string;
    let version: string;
    let rest: string[];
    if (segments[0] === 'api' && segments.length >= 2) {
      group = '';
      version = segments[1];
      rest = segments.slice(2);
    } else if (segments[0] === 'apis' && segments.length >= 2) {
      if (segments.length === 2) return apiGroup(resources, segments[1]);
      group = segments[1];
      version = segments[2];
      rest = segments.slice(3);
    } else {
      return undefined;
    }
    if (rest.length === 0) {
      return resources.some((d) => d.group === group && d.version === version) ? resourceList(resources, group, version) : undefined;
    }
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      const def = store.lookup(group, version, rest[2]);
      if (def?.namespaced) return { def, namespace: rest[1], name: rest[3], subresource: rest[4] };
    }
    const def = store.lookup(group, version, rest[0]);
    if (!def) return undefined;
    return { def, name: rest[1], subresource: rest[2] };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const record: RequestRecord = { method, path: url.pathname, search: url.search, contentType: contentType || undefined, faulted: false };
    requests.push(record);
    const fault = takeFault(method, url.pathname + url.search);
    if (fault) {
      record.faulted = true;
      await readBody(req);
      const error = statusFor(fault.status, fault.message);
      sendJson(res, error.code, error.toStatus());
      return;
    }
    const path = url.pathname.replace(/\/+$/, '');
    if (['/healthz', '/readyz', '/livez'].includes(path)) {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
      return;
    }
    if (path === '/version') {
      sendJson(res, 200, { major: '1', minor: '31', gitVersion: 'v1.31.0-fake', platform: 'linux/amd64' });
      return;
    }
    const segments = path.split('/').filter((s) => s !== '').map(decodeURIComponent);
    const target = route(segments);
    if (!target) throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${method} ${url.pathname})`);
    if (!('def' in target)) {
      if (method !== 'GET') throw new ApiError(405, 'MethodNotAllowed', `${method} is not allowed on ${url.pathname}`);
      sendJson(res, 200, target);
      return;
    }
    const body = parseBody(await readBody(req), contentType);
    await serveResource(target as Route, method, contentType, url.searchParams, body, req, res);
  }

  async function serveResource(
    target: Route,
    method: string,
    contentType: string,
    query: URLSearchParams,
    body: unknown,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const { def, namespace, name, subresource } = target;
    if (def.namespaced && name !== undefined && namespace === undefined) {
      throw new ApiError(404, 'NotFound', `${def.plural} is namespaced; use /namespaces/{namespace}/${def.plural}/${name}`);
    }
    if (name === undefined) {
      if (method === 'GET') {
        const watch = query.get('watch');
        if (watch === 'true' || watch === '1') return serveWatch(def, namespace, query, req, res);
        return sendJson(res, 200, listResponse(def, namespace, query));
      }
      if (method === 'POST') {
        if (!isObject(body)) throw new ApiError(400, 'BadRequest', 'a body is required');
        const object = body as KubeObject;
        object.metadata ??= {};
        if (def.namespaced) {
          if (object.metadata.namespace && namespace && object.metadata.namespace !== namespace) {
            throw new ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
          }
          object.metadata.namespace = namespace ?? object.metadata.namespace;
        }
        return sendJson(res, 201, store.create(def, object));
      }
      if (method === 'DELETE') {
        const items = store.list(def, namespace, { labelSelector: query.get('labelSelector'), fieldSelector: query.get('fieldSelector') });
        const deleted = items.map((o) => store.delete(def, o.metadata.namespace, o.metadata.name ?? ''));
        return sendJson(res, 200, { kind: def.listKind, apiVersion: apiVersionOf(def), metadata: { resourceVersion: String(store.currentRevision()) }, items: deleted });
      }
      throw new ApiError(405, 'MethodNotAllowed', `${method} is not allowed on a collection`);
    }
    if (subresource === 'log' && def.kind === 'Pod' && def.group === '') return serveLog(namespace ?? '', name, query, req, res);
    if (subresource !== undefined && !(subresource === 'status' && def.status) && !(subresource === 'scale' && def.scale)) {
      throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${def.plural}/${subresource})`);
    }
    if (subresource === 'scale') return serveScale(def, namespace, name, method, contentType, query, body, res);
    const scope: WriteScope = subresource === 'status' ? 'status' : 'main';
    switch (method) {
      case 'GET':
        return sendJson(res, 200, store.require(def, namespace, name));
      case 'PUT': {
        if (!isObject(body)) throw new ApiError(400, 'BadRequest', 'a body is required');
        const object = body as KubeObject;
        object.metadata ??= {};
        if (object.metadata.name && object.metadata.name !== name) {
          throw new ApiError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
        }
        object.metadata.name = name;
        object.metadata.namespace = namespace;
        return sendJson(res, 200, store.update(def, object, scope));
      }
      case 'PATCH': {
        const live = store.get(def, namespace, name);
        if (contentType === 'application/apply-patch+yaml') {
          const manager = query.get('fieldManager');
          if (!manager) throw new ApiError(400, 'BadRequest', 'PATCH requests with apply-patch+yaml require fieldManager');
          if (!isObject(body)) throw new ApiError(400, 'BadRequest', 'an apply patch must be an object');
          const applied = body as KubeObject;
          if (applied.metadata?.name && applied.metadata.name !== name) {
            throw new ApiError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
          }
          const managerKey = scope === 'status' ? `${manager}/status` : manager;
          if (!live) {
            if (scope === 'status') throw store.require(def, namespace, name);
            const fresh = { ...clone(applied), metadata: { ...clone(applied.metadata), name, namespace, managedFields: [] as unknown[] } };
            fresh.metadata.managedFields = managedFields(fresh, manager, def);
            const created = store.create(def, fresh);
            store.setLastApplied(def, namespace, name, managerKey, applied);
            return sendJson(res, 201, created);
          }
          const merged = serverSideApply(live, store.getLastApplied(def, namespace, name, managerKey), applied) as KubeObject;
          merged.metadata.resourceVersion = applied.metadata?.resourceVersion;
          merged.metadata.managedFields = managedFields(live, manager, def);
          const result = store.update(def, merged, scope);
          store.setLastApplied(def, namespace, name, managerKey, applied);
          return sendJson(res, 200, result);
        }
        if (!live) throw store.require(def, namespace, name);
        let patched: unknown;
        try {
          if (contentType === 'application/merge-patch+json') patched = mergePatch(live, body);
          else if (contentType === 'application/strategic-merge-patch+json') patched = strategicMergePatch(live, body);
          else if (contentType === 'application/json-patch+json') patched = jsonPatch(live, body);
          else throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format: ${contentType}`);
        } catch (error) {
          if (error instanceof PatchError) throw new ApiError(422, 'Invalid', error.message);
          throw error;
        }
        if (!isObject(patched) || !isObject(patched.metadata)) throw new ApiError(422, 'Invalid', 'the patch removed metadata');
        const object = patched as KubeObject;
        // A patch carrying metadata.resourceVersion is a precondition; otherwise none.
        const carried = contentType === 'application/json-patch+json' ? object.metadata.resourceVersion : (body as KubeObject)?.metadata?.resourceVersion;
        object.metadata.resourceVersion = carried !== live.metadata.resourceVersion ? carried : undefined;
        object.metadata.name = name;
        object.metadata.namespace = namespace;
        return sendJson(res, 200, store.update(def, object, scope));
      }
      case 'DELETE': {
        const options = (isObject(body) ? body : {}) as DeleteOptions;
        const policy = (query.get('propagationPolicy') ?? options.propagationPolicy) as DeleteOptions['propagationPolicy'];
        const deleted = store.delete(def, namespace, name, { ...options, propagationPolicy: policy });
        if (def.kind === 'Pod' && def.group === '') return sendJson(res, 200, deleted);
        return sendJson(res, 200, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Success',
          details: { name, group: def.group, kind: def.plural, uid: deleted.metadata.uid },
        });
      }
      default:
        throw new ApiError(405, 'MethodNotAllowed', `${method} is not allowed`);
    }
  }

  function managedFields(live: KubeObject, manager: string, def: ResourceDefinition): unknown[] {
    const others = (live.metadata.managedFields ?? []).filter((f) => !(isObject(f) && f.manager === manager && f.operation === 'Apply'));
    const time = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    return [...others, { manager, operation: 'Apply', apiVersion: apiVersionOf(def), time, fieldsType: 'FieldsV1', fieldsV1: {} }];
  }

  function listResponse(def: ResourceDefinition, namespace: string | undefined, query: URLSearchParams): JsonObject {
    let items: KubeObject[];
    try {
      items = store.list(def, namespace, { labelSelector: query.get('labelSelector'), fieldSelector: query.get('fieldSelector') });
    } catch (error) {
      if (error instanceof SelectorError) throw new ApiError(400, 'BadRequest', error.message);
      throw error;
    }
    const revision = String(store.currentRevision());
    const offset = query.get('continue') ? Number(Buffer.from(query.get('continue')!, 'base64url').toString()) : 0;
    const limit = Number(query.get('limit') ?? 0);
    const page = limit > 0 ? items.slice(offset, offset + limit) : items.slice(offset);
    const more = limit > 0 && offset + limit < items.length;
    return {
      kind: def.listKind,
      apiVersion: apiVersionOf(def),
      metadata: {
        resourceVersion: revision,
        ...(more ? { continue: Buffer.from(String(offset + limit)).toString('base64url'), remainingItemCount: items.length - offset - limit } : {}),
      },
      // The real server omits apiVersion/kind on built-in list items and keeps them on custom resources.
      items: def.custom ? page : page.map(({ apiVersion: _a, kind: _k, ...rest }) => rest),
    };
  }

  function serveWatch(def: ResourceDefinition, namespace: string | undefined, query: URLSearchParams, req: IncomingMessage, res: ServerResponse): void {
    let labels: ReturnType<typeof parseLabelSelector>;
    let fields: ReturnType<typeof parseFieldSelector>;
    try {
      labels = parseLabelSelector(query.get('labelSelector'));
      fields = parseFieldSelector(query.get('fieldSelector'));
    } catch (error) {
      if (error instanceof SelectorError) throw new ApiError(400, 'BadRequest', error.message);
      throw error;
    }
    const rvParam = query.get('resourceVersion') ?? '';
    const from = rvParam === '' || rvParam === '0' ? undefined : Number(rvParam);
    if (from !== undefined && !Number.isFinite(from)) throw new ApiError(400, 'BadRequest', `invalid resourceVersion "${rvParam}"`);
    const backlog = from === undefined ? [] : store.eventsSince(from);
    if (backlog === 'expired') {
      const error = new ApiError(410, 'Expired', `too old resource version: ${from} (${store.compactedRevision()})`);
      if (options.expiredWatch === 'http') return sendJson(res, 410, error.toStatus());
      res.writeHead(200, { 'Content-Type': JSON_TYPE, 'Transfer-Encoding': 'chunked' });
      res.end(JSON.stringify({ type: 'ERROR', object: error.toStatus() }) + '\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': JSON_TYPE, 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const inScope = (object: KubeObject | undefined): boolean =>
      object !== undefined &&
      (namespace === undefined || object.metadata.namespace === namespace) &&
      labels(object.metadata.labels) &&
      fields(object);
    const write = (type: string, object: KubeObject): void => {
      res.write(JSON.stringify({ type, object }) + '\n');
    };
    const deliver = (event: StoreEvent): void => {
      if (resourceIdOf(event.resource) !== resourceIdOf(def)) return;
      const now = inScope(event.object);
      const before = inScope(event.previous);
      if (event.type === 'MODIFIED' && now && !before) write('ADDED', event.object);
      else if (event.type === 'MODIFIED' && !now && before) write('DELETED', event.object);
      else if (now) write(event.type, event.object);
    };
    if (from === undefined) {
      for (const object of store.list(def, namespace)) if (inScope(object)) write('ADDED', object);
    } else {
      for (const event of backlog) deliver(event);
    }
    const unsubscribe = store.subscribe(deliver);
    const timers: NodeJS.Timeout[] = [];
    const timeout = Number(query.get('timeoutSeconds') ?? 0);
    if (timeout > 0) timers.push(setTimeout(() => res.end(), timeout * 1000));
    if (query.get('allowWatchBookmarks') === 'true') {
      timers.push(
        setInterval(() => {
          write('BOOKMARK', { kind: def.kind, apiVersion: apiVersionOf(def), metadata: { resourceVersion: String(store.currentRevision()) } });
        }, bookmarkIntervalMs),
      );
    }
    const stream: OpenStream = {
      res,
      stop: () => {
        unsubscribe();
        for (const t of timers) clearTimeout(t);
        streams.delete(stream);
      },
    };
    streams.add(stream);
    res.on('close', stream.stop);
    req.on('close', () => {
      if (!res.writableEnded) res.end();
    });
  }

  function serveLog(namespace: string, name: string, query: URLSearchParams, req: IncomingMessage, res: ServerResponse): void {
    store.require(store.resolve('v1/pods'), namespace, name);
    const sinceSeconds = query.get('sinceSeconds');
    const logQuery = {
      container: query.get('container') ?? undefined,
      tailLines: query.get('tailLines') !== null ? Number(query.get('tailLines')) : undefined,
      sinceTime: query.get('sinceTime')
        ? new Date(query.get('sinceTime')!)
        : sinceSeconds
          ? new Date(Date.now() - Number(sinceSeconds) * 1000)
          : undefined,
      limitBytes: query.get('limitBytes') !== null ? Number(query.get('limitBytes')) : undefined,
      timestamps: query.get('timestamps') === 'true',
    };
    const text = logs.read(namespace, name, logQuery);
    if (query.get('follow') !== 'true') {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    if (text) res.write(text);
    const unfollow = logs.follow(
      namespace,
      name,
      logQuery,
      (entry) => res.write(formatLogLine(entry, logQuery.timestamps)),
      () => res.end(),
    );
    const stream: OpenStream = {
      res,
      stop: () => {
        unfollow();
        streams.delete(stream);
      },
    };
    streams.add(stream);
    res.on('close', stream.stop);
    req.on('close', () => {
      if (!res.writableEnded) res.end();
    });
  }

  function serveScale(
    def: ResourceDefinition,
    namespace: string | undefined,
    name: string,
    method: string,
    contentType: string,
    query: URLSearchParams,
    body: unknown,
    res: ServerResponse,
  ): void {
    const live = store.require(def, namespace, name);
    if (method === 'GET') return sendJson(res, 200, scaleOf(live));
    let scale: JsonObject;
    if (method === 'PUT') scale = body as JsonObject;
    else if (method === 'PATCH') {
      const current = scaleOf(live);
      if (contentType === 'application/json-patch+json') scale = jsonPatch(current, body) as JsonObject;
      else if (contentType === 'application/apply-patch+yaml') scale = serverSideApply(current, undefined, body);
      else scale = mergePatch(current, body) as JsonObject;
    } else throw new ApiError(405, 'MethodNotAllowed', `${method} is not allowed on scale`);
    void query;
    const replicas = (scale?.spec as JsonObject | undefined)?.replicas;
    if (typeof replicas !== 'number' || replicas < 0) throw new ApiError(422, 'Invalid', 'Scale.spec.replicas must be a non-negative number');
    const next = clone(live);
    next.spec = { ...(next.spec as JsonObject), replicas };
    const precondition = (scale.metadata as JsonObject | undefined)?.resourceVersion as string | undefined;
    next.metadata.resourceVersion = method === 'PUT' ? precondition : undefined;
    return sendJson(res, 200, scaleOf(store.update(def, next, 'main')));
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const apiError =
        error instanceof ApiError ? error : new ApiError(500, 'InternalError', `fake-kube-api: ${(error as Error)?.message ?? String(error)}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(res, apiError.code, apiError.toStatus());
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  const api: FakeKubeApi = {
    url,
    port,
    kubeConfigOptions: (namespace) => ({
      clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
      users: [{ name: 'fake-user', token: 'fake-token' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake-user', ...(namespace ? { namespace } : {}) }],
      currentContext: 'fake',
    }),
    faults: {
      next: (spec) => {
        faultList.push({ ...spec, times: spec.times ?? 1 });
      },
      pending: () => faultList.map((f) => ({ ...f })),
      clear: () => {
        faultList.length = 0;
      },
    },
    requests,
    logs,
    store,
    openWatches: () => streams.size,
    dropWatches: (dropOptions = {}) => {
      const open = [...streams];
      for (const stream of open) {
        stream.stop();
        if (dropOptions.abrupt) stream.res.socket?.destroy();
        else stream.res.end();
      }
      return open.length;
    },
    objects: (resource) => store.all(resource === undefined ? undefined : store.resolve(resource)),
    get: (resource, namespace, name) => store.get(store.resolve(resource), namespace, name),
    put: (object) => {
      const def = store.resolve(`${object.apiVersion ?? 'v1'}/${object.kind}`);
      const existing = store.get(def, object.metadata.namespace ?? (def.namespaced ? 'default' : undefined), object.metadata.name ?? '');
      if (!existing) return store.create(def, object, 'all');
      return store.update(def, { ...clone(object), metadata: { ...clone(object.metadata), namespace: existing.metadata.namespace } }, 'all');
    },
    delete: (resource, namespace, name, deleteOptions) => store.delete(store.resolve(resource), namespace, name, deleteOptions),
    subscribe: (listener) => store.subscribe(listener),
    onClose: (hook) => {
      closeHooks.push(hook);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      for (const hook of closeHooks.reverse()) await hook();
      unsubscribeLogs();
      for (const stream of [...streams]) {
        stream.stop();
        stream.res.end();
      }
      logs.endAll();
      store.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
    },
  };
  return api;
}
