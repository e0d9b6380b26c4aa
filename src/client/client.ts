/**
 * The typed SDK: the only way the CLI (and later the dashboard and triggers) reach a
 * gateway. Every failure is an {@link ApiError} carrying the catalogue code, so
 * callers can branch on `code` rather than parse messages.
 */
import type { CallView } from '../queue/async-calls.js';
import type { AuditEntry, FunctionStatus, TokenInfo } from '../core/index.js';
import type { TrafficTarget } from '../core/revision.js';
import type { CanaryView, FunctionRevisionFields, RevisionEntry, RevisionsView } from '../core/revision-view.js';
import { isErrorCode, type ErrorCode } from '../core/index.js';
import type { SystemInfo } from '../service/index.js';
import type { TriggerStatus } from '../triggers/trigger-manager.js';

/** An error answered by the gateway (or a failure to reach it: code `KSS_UNREACHABLE`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | 'KSS_UNREACHABLE' | 'KSS_UNKNOWN',
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ClientOptions {
  /** Gateway base URL, e.g. `http://127.0.0.1:8080`. */
  gateway: string;
  /** Sent as `Authorization` on every request (e.g. `Basic …` or `Bearer kss_…`). */
  authorization?: string;
  /** Extra headers on every request (the dashboard sends its CSRF header `x-kss-csrf: 1`). */
  headers?: Record<string, string>;
  fetch?: typeof fetch;
}

export interface InvokeOptions {
  method?: string;
  /** Path below the function, e.g. `/items?x=1`. */
  path?: string;
  headers?: Record<string, string>;
  body?: BodyInit | null;
  namespace?: string;
  /** Pins the request to one revision in the split (`r3`; sent as `X-Kss-Revision`). */
  revision?: string;
}

export type { CanaryView, FunctionRevisionFields, RevisionEntry, RevisionsView, TrafficTarget };

/** A function's status as the gateway answers it, with the revision fields (absent from gateways before revisions). */
export type FunctionView = FunctionStatus & FunctionRevisionFields;

/** A traffic split to set: `{ r3: 90, r4: 10 }`, or the list form the API answers with. */
export type TrafficWeights = Record<string, number> | TrafficTarget[];

/** An API token as listed (never its secret). */
export type TokenView = TokenInfo;

/** One audit log entry. */
export type AuditView = AuditEntry;

/** A secret as listed: the OpenFaaS `{name, namespace}` plus times; never its value. */
export interface SecretView {
  name: string;
  namespace: string;
  createdAt?: string;
  updatedAt?: string;
}

/** A secret to create or update: a string is sent as `value`, bytes as `rawValue` (base64). */
export interface SecretInput {
  name: string;
  value: string | Uint8Array;
  namespace?: string;
}

/** A function to deploy: the OpenFaaS `FunctionDeployment` fields plus ours. */
export type DeploySpec = Record<string, unknown> & { service: string; namespace?: string };

export class KssClient {
  readonly gateway: string;
  readonly #fetch: typeof fetch;
  readonly #authorization: string | undefined;
  readonly #headers: Record<string, string>;

  constructor(options: ClientOptions) {
    this.gateway = options.gateway.replace(/\/+$/, '');
    // Unbound, a browser's fetch throws "Illegal invocation" when called as a method.
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#authorization = options.authorization;
    this.#headers = options.headers ?? {};
  }

  info(): Promise<SystemInfo> {
    return this.#json('GET', '/system/info');
  }

  listFunctions(namespace?: string): Promise<FunctionView[]> {
    return this.#json('GET', `/system/functions${nsQuery(namespace)}`);
  }

  getFunction(name: string, namespace?: string): Promise<FunctionView> {
    return this.#json('GET', `/system/function/${encodeURIComponent(name)}${nsQuery(namespace)}`);
  }

  namespaces(): Promise<string[]> {
    return this.#json('GET', '/system/namespaces');
  }

  createFunction(spec: DeploySpec): Promise<FunctionView> {
    return this.#json('POST', '/api/v1/functions', spec);
  }

  updateFunction(spec: DeploySpec): Promise<FunctionView> {
    return this.#json('PUT', `/api/v1/functions/${encodeURIComponent(spec.service)}${nsQuery(spec.namespace)}`, spec);
  }

  /** Updates the function, creating it when it does not exist (what `faas-cli deploy` does). */
  async deploy(spec: DeploySpec): Promise<{ status: FunctionView; created: boolean }> {
    try {
      return { status: await this.updateFunction(spec), created: false };
    } catch (err) {
      if (err instanceof ApiError && err.code === 'KSS_FUNCTION_NOT_FOUND') return { status: await this.createFunction(spec), created: true };
      throw err;
    }
  }

  async removeFunction(name: string, namespace?: string): Promise<void> {
    await this.#request('DELETE', `/api/v1/functions/${encodeURIComponent(name)}${nsQuery(namespace)}`);
  }

  /** Uploads a tar.gz of a function's code; returns its content address. */
  uploadCode(archive: Uint8Array): Promise<{ digest: string; size: number; files: number }> {
    return this.#json('POST', '/api/v1/code', archive, 'application/gzip');
  }

  /** Invokes a function synchronously; the function's own reply comes back as a `Response` (any status). */
  async invoke(name: string, options: InvokeOptions = {}): Promise<Response> {
    const qualified = options.namespace ? `${name}.${options.namespace}` : name;
    const path = options.path ? (options.path.startsWith('/') || options.path.startsWith('?') ? options.path : `/${options.path}`) : '';
    const headers = { ...(options.headers ?? {}), ...(options.revision ? { 'x-kss-revision': options.revision } : {}) };
    const res = await this.#send(options.method ?? 'POST', `/function/${encodeURIComponent(qualified)}${path}`, options.body ?? null, headers);
    const code = res.headers.get('x-kss-error');
    if (code) throw await toApiError(res);
    return res;
  }

  /**
   * Queues an asynchronous call (`/async-function`); resolves with its id once the
   * gateway stored it. `callbackUrl` receives the result when the call finishes.
   */
  async invokeAsync(name: string, options: InvokeOptions & { callbackUrl?: string } = {}): Promise<string> {
    const qualified = options.namespace ? `${name}.${options.namespace}` : name;
    const path = options.path ? (options.path.startsWith('/') || options.path.startsWith('?') ? options.path : `/${options.path}`) : '';
    const headers = { ...(options.headers ?? {}), ...(options.callbackUrl ? { 'x-callback-url': options.callbackUrl } : {}) };
    const res = await this.#send(options.method ?? 'POST', `/async-function/${encodeURIComponent(qualified)}${path}`, options.body ?? null, headers);
    if (res.status !== 202) throw await toApiError(res);
    await res.arrayBuffer();
    return res.headers.get('x-call-id')!;
  }

  /** Async calls, most recent first (`function` may be `name.namespace`). */
  listCalls(filter: { function?: string; namespace?: string; state?: string; limit?: number } = {}): Promise<{ items: CallView[] }> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) if (v !== undefined) q.set(k, String(v));
    return this.#json('GET', `/api/v1/calls${q.size ? `?${q}` : ''}`);
  }

  /** Every trigger and its state (`function` may be `name.namespace`). */
  listTriggers(filter: { function?: string; namespace?: string } = {}): Promise<{ triggers: TriggerStatus[] }> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) if (v !== undefined) q.set(k, String(v));
    return this.#json('GET', `/api/v1/triggers${q.size ? `?${q}` : ''}`);
  }

  /** One async call, with its result body. */
  getCall(id: string): Promise<CallView> {
    return this.#json('GET', `/api/v1/calls/${encodeURIComponent(id)}`);
  }

  /** Queues a finished call again, attempts reset. */
  replayCall(id: string): Promise<CallView> {
    return this.#json('POST', `/api/v1/calls/${encodeURIComponent(id)}/replay`);
  }

  /** A function's logs as an NDJSON stream (`/system/logs`); with `follow` it stays open. */
  async logs(name: string, options: { namespace?: string; instance?: string; tail?: number; since?: string; follow?: boolean; signal?: AbortSignal } = {}): Promise<Response> {
    const q = new URLSearchParams({ name });
    if (options.namespace) q.set('namespace', options.namespace);
    if (options.instance) q.set('instance', options.instance);
    if (options.tail !== undefined) q.set('tail', String(options.tail));
    if (options.since) q.set('since', options.since);
    if (options.follow) q.set('follow', 'true');
    const res = await this.#send('GET', `/system/logs?${q}`, null, {}, options.signal);
    if (!res.ok) throw await toApiError(res);
    return res;
  }

  /** Scales a function by hand (OpenFaaS `/system/scale-function`); the autoscaler leaves it there until {@link autoscale}. */
  async scale(name: string, replicas: number, namespace?: string): Promise<void> {
    await this.#request('POST', `/system/scale-function/${encodeURIComponent(name)}${nsQuery(namespace)}`, { serviceName: name, namespace: namespace ?? '', replicas });
  }

  async autoscale(name: string, namespace?: string): Promise<void> {
    await this.#request('POST', `/api/v1/functions/${encodeURIComponent(name)}/autoscale${nsQuery(namespace)}`);
  }

  /** A function's revisions (newest first), its traffic split and its running canary, if any. Needs `read`. */
  revisions(name: string, namespace?: string): Promise<RevisionsView> {
    return this.#json('GET', `${functionPath(name)}/revisions${nsQuery(namespace)}`);
  }

  /**
   * Sets the traffic split by hand: whole-number weights 0–100 summing to 100
   * (`KSS_INVALID_TRAFFIC` otherwise, `KSS_REVISION_NOT_FOUND` for an unknown revision).
   * Cancels a running canary. Needs `deploy`.
   */
  setTraffic(name: string, weights: TrafficWeights, namespace?: string): Promise<RevisionsView> {
    const traffic = Array.isArray(weights) ? Object.fromEntries(weights.map((t) => [t.revision, t.percent])) : weights;
    return this.#json('PUT', `${functionPath(name)}/traffic${nsQuery(namespace)}`, { traffic });
  }

  /**
   * Sends all traffic to revision `to`, or without it back to the revision that served
   * before the latest change. Cancels a running canary. Needs `deploy`.
   */
  rollback(name: string, to?: string, namespace?: string): Promise<RevisionsView> {
    return this.#json('POST', `${functionPath(name)}/rollback${nsQuery(namespace)}`, to === undefined ? {} : { to });
  }

  /** Pins a revision (never garbage-collected) or unpins it; answers the revision's entry. Needs `deploy`. */
  pinRevision(name: string, revision: string, pinned: boolean, namespace?: string): Promise<RevisionEntry> {
    return this.#json(pinned ? 'POST' : 'DELETE', `${functionPath(name)}/revisions/${encodeURIComponent(revision)}/pin${nsQuery(namespace)}`);
  }

  /** Builds without deploying; the deploy that follows reuses the build. */
  build(spec: DeploySpec): Promise<{ key: string; cached: boolean; log: string }> {
    return this.#json('POST', `/api/v1/builds${nsQuery(spec.namespace)}`, spec);
  }

  async buildLog(name: string, namespace?: string): Promise<string> {
    return (await this.#request('GET', `/api/v1/functions/${encodeURIComponent(name)}/build-log${nsQuery(namespace)}`)).text();
  }

  listTokens(): Promise<{ items: TokenView[] }> {
    return this.#json('GET', '/api/v1/tokens');
  }

  createToken(input: { name: string; scopes: string[]; expires?: string }): Promise<TokenView & { token: string }> {
    return this.#json('POST', '/api/v1/tokens', input);
  }

  async revokeToken(id: string): Promise<void> {
    await this.#request('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
  }

  /** Secrets of a namespace (default `openfaas-fn`): names and times, never values. */
  listSecrets(namespace?: string): Promise<SecretView[]> {
    return this.#json('GET', `/system/secrets${nsQuery(namespace)}`);
  }

  /** Creates a secret (`KSS_SECRET_EXISTS` when the name is taken). */
  async createSecret(input: SecretInput): Promise<void> {
    await this.#request('POST', '/system/secrets', secretBody(input));
  }

  /** Replaces a secret's value (`KSS_SECRET_NOT_FOUND` when there is none). */
  async updateSecret(input: SecretInput): Promise<void> {
    await this.#request('PUT', '/system/secrets', secretBody(input));
  }

  /** Deletes a secret (`KSS_SECRET_IN_USE` while a function lists it). */
  async removeSecret(name: string, namespace?: string): Promise<void> {
    await this.#request('DELETE', '/system/secrets', { name, ...(namespace ? { namespace } : {}) });
  }

  audit(options: { limit?: number; since?: string } = {}): Promise<{ items: AuditView[] }> {
    const q = new URLSearchParams();
    if (options.limit) q.set('limit', String(options.limit));
    if (options.since) q.set('since', options.since);
    return this.#json('GET', `/api/v1/audit${q.size ? `?${q}` : ''}`);
  }

  /** Polls until the function has `min` ready replicas (default: all desired), or throws after `timeoutMs`. */
  async waitReady(name: string, options: { namespace?: string; timeoutMs?: number; onProgress?: (s: FunctionStatus) => void } = {}): Promise<FunctionStatus> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    let delay = 50;
    for (;;) {
      const status = await this.getFunction(name, options.namespace);
      options.onProgress?.(status);
      if (status.availableReplicas >= Math.max(1, status.replicas)) return status;
      if (Date.now() > deadline) {
        const last = status.instances?.find((i) => i.lastExit)?.lastExit;
        throw new ApiError(504, 'KSS_NO_REPLICAS', `function "${name}" is not ready after ${Math.round((options.timeoutMs ?? 60_000) / 1000)}s${last ? ` (its replica ${last})` : ''}; see the gateway's log`);
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 500);
    }
  }

  async #json<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const res = await this.#request(method, path, body, contentType);
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async #request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Response> {
    const payload = body === undefined ? null : body instanceof Uint8Array ? body : JSON.stringify(body);
    const res = await this.#send(method, path, payload as BodyInit | null, body === undefined ? undefined : { 'content-type': contentType });
    if (!res.ok) throw await toApiError(res);
    return res;
  }

  async #send(method: string, path: string, body: BodyInit | null, extraHeaders?: Record<string, string>, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { ...this.#headers, ...extraHeaders };
    if (this.#authorization && !Object.keys(headers).some((k) => k.toLowerCase() === 'authorization')) headers.authorization = this.#authorization;
    try {
      return await this.#fetch(`${this.gateway}${path}`, { method, body, headers, ...(signal ? { signal } : {}), ...(body && typeof (body as ReadableStream).getReader === 'function' ? { duplex: 'half' } : {}) } as RequestInit);
    } catch (err) {
      const c = (err as { cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } }).cause;
      const cause = c?.code ?? c?.errors?.[0]?.code ?? c?.message ?? (err as Error).message;
      throw new ApiError(0, 'KSS_UNREACHABLE', `cannot reach the gateway at ${this.gateway} (${cause}); is it running? Start it with \`npm start\` or \`kss up\`, or point --gateway / KSS_GATEWAY at it`);
    }
  }
}

async function toApiError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { code?: unknown; message?: unknown };
    if (isErrorCode(body.code)) return new ApiError(res.status, body.code, String(body.message ?? res.statusText));
  } catch {
    // not a platform error body
  }
  return new ApiError(res.status, 'KSS_UNKNOWN', `gateway answered ${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`);
}

function secretBody(input: SecretInput): Record<string, string> {
  const value: Record<string, string> = typeof input.value === 'string' ? { value: input.value } : { rawValue: toBase64(input.value) };
  return { name: input.name, ...(input.namespace ? { namespace: input.namespace } : {}), ...value };
}

function toBase64(bytes: Uint8Array): string {
  if (typeof Buffer !== 'undefined') return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function functionPath(name: string): string {
  return `/api/v1/functions/${encodeURIComponent(name)}`;
}

function nsQuery(namespace?: string): string {
  return namespace ? `?namespace=${encodeURIComponent(namespace)}` : '';
}
