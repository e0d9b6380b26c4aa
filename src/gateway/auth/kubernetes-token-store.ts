/**
 * API tokens on Kubernetes: every gateway replica shares them, so a token created
 * through one replica works on all of them (the SQLite store is per replica).
 *
 * Each token is one Secret `kss-token-<id>` in the gateway's own namespace, of type
 * `kube-serverless/api-token`, labelled `app.kubernetes.io/managed-by: kube-serverless`
 * and `serverless.kube.io/token: "true"`. Its data is what the SQLite row holds: the
 * SHA-256 of the secret (`secretHash`, 32 raw bytes), `name`, `scopes` (JSON),
 * `createdAt`, `createdBy`, `expiresAt` and `revokedAt` (when set) — never the secret.
 * When it was last used is an annotation (`serverless.kube.io/last-used-at`).
 *
 * `verify` runs on every authenticated request and never calls the API server: an
 * informer (list + watch, started again after errors) keeps every token Secret of the
 * namespace in memory, and verification compares against that copy in constant time.
 * So verification keeps working while the API server is unreachable, from what was
 * last seen. `create` and `revoke` write through the API and put the answer into the
 * copy at once, so the replica that made a change sees it immediately; the other
 * replicas see it when their watch delivers the event. That is the bound on a
 * revocation: it takes effect on other replicas after the watch latency (normally
 * well under a second; while a replica's watch is broken, until it is re-established,
 * which is retried every {@link WATCH_RESTART_MS}).
 *
 * `last-used-at` is noted in memory on verify and written, off the request path, at
 * most once a minute per token and replica ({@link LAST_USED_RESOLUTION_MS}).
 * API failures are `KSS_PROVIDER_UNAVAILABLE`, reported by status code only.
 */
import { existsSync, readFileSync } from 'node:fs';
import { CoreV1Api, makeInformer, type KubeConfig, type KubernetesObject, type V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { KssError, type Clock, type TokenInfo } from '../../core/index.js';
import { constantTimeEqual, sha256 } from './constant-time.js';
import { isScope, type Principal, type Scope } from './scopes.js';
import { assertValidNewToken, newTokenSecret, TOKEN_FORMAT, type ApiTokens, type CreatedToken, type NewToken } from './token-store.js';
import { statusOf } from '../../providers/kubernetes/api-status.js';

/** The Secret type of a token. */
export const TOKEN_SECRET_TYPE = 'kube-serverless/api-token';
/** The label selecting token Secrets (value `"true"`). */
export const TOKEN_LABEL = 'serverless.kube.io/token';
/** Prefix of a token Secret's name; the token id follows. */
export const TOKEN_SECRET_PREFIX = 'kss-token-';
/** When a token was last used (RFC 3339), written at most once a minute. */
export const TOKEN_LAST_USED_ANNOTATION = 'serverless.kube.io/last-used-at';
/** The default namespace of the gateway when it does not run in a pod. */
export const DEFAULT_GATEWAY_NAMESPACE = 'kube-serverless';
/** Where a pod's ServiceAccount namespace is mounted. */
export const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
const MANAGED_BY_VALUE = 'kube-serverless';
const SELECTOR = `${TOKEN_LABEL}=true,${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
const ID = /^[a-f0-9]{12}$/;
/** Pause before a failed watch starts again. */
export const WATCH_RESTART_MS = 2_000;
const LAST_USED_RESOLUTION_MS = 60_000;
/** Conflicting writes (another replica) retried this often. */
const WRITE_ATTEMPTS = 5;

/** The gateway's namespace: the pod's own when in a cluster, else `kube-serverless`. */
export function defaultGatewayNamespace(file = SERVICE_ACCOUNT_NAMESPACE_FILE): string {
  try {
    if (existsSync(file)) {
      const ns = readFileSync(file, 'utf8').trim();
      if (ns) return ns;
    }
  } catch {
    /* not in a pod */
  }
  return DEFAULT_GATEWAY_NAMESPACE;
}

export interface KubernetesTokenStoreOptions {
  kubeConfig: KubeConfig;
  /** The gateway's own namespace, where the token Secrets are. */
  namespace: string;
  clock: Clock;
  logger?: Logger;
}

interface Entry {
  id: string;
  name: string;
  scopes: Scope[];
  hash: Buffer;
  createdAt: string;
  createdBy: string;
  expiresAt?: string;
  revokedAt?: string;
  lastUsedAt?: string;
  /** The Secret as last seen (its resourceVersion is the base of our writes). */
  secret: V1Secret;
}

export class KubernetesTokenStore implements ApiTokens {
  readonly #core: CoreV1Api;
  readonly #kubeConfig: KubeConfig;
  readonly #namespace: string;
  readonly #clock: Clock;
  readonly #logger: Logger | undefined;
  readonly #cache = new Map<string, Entry>();
  /** Last verification per token id, not yet written (ms). */
  readonly #used = new Map<string, number>();
  readonly #revokedListeners: Array<(id: string) => void> = [];
  #informer: ReturnType<typeof makeInformer<KubernetesObject>> | undefined;
  #synced = false;
  #stopped = false;
  #cancelFlush: (() => void) | undefined;
  #lastError: unknown;

  constructor(options: KubernetesTokenStoreOptions) {
    this.#kubeConfig = options.kubeConfig;
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#namespace = options.namespace;
    this.#clock = options.clock;
    this.#logger = options.logger;
  }

  get namespace(): string {
    return this.#namespace;
  }

  /** Lists the token Secrets and starts watching them; rejects (KSS_PROVIDER_UNAVAILABLE) when the first list fails. */
  async start(): Promise<void> {
    const namespace = this.#namespace;
    const informer = makeInformer<KubernetesObject>(
      this.#kubeConfig,
      `/api/v1/namespaces/${namespace}/secrets`,
      async () => {
        const list = await this.#core.listNamespacedSecret({ namespace, labelSelector: SELECTOR });
        this.#synced = true;
        return list as never;
      },
      SELECTOR,
    );
    this.#informer = informer;
    informer.on('add', (obj) => this.#upsert(obj as V1Secret));
    informer.on('update', (obj) => this.#upsert(obj as V1Secret));
    informer.on('delete', (obj) => {
      const id = idOf(obj.metadata?.name);
      if (!id) return;
      const had = this.#cache.get(id);
      this.#cache.delete(id);
      if (had && !had.revokedAt) this.#notifyRevoked(id);
    });
    informer.on('error', (err) => {
      this.#lastError = err;
      if (this.#stopped || !this.#synced) return;
      this.#logger?.warn({ status: statusOf(err) }, `watching the API tokens in namespace "${namespace}" failed; verifying from the last copy, watching again in ${WATCH_RESTART_MS / 1000} s`);
      // client-node's advice: start it again after a pause.
      this.#clock.setTimeout(() => void (this.#stopped ? undefined : informer.start().catch(() => {})), WATCH_RESTART_MS);
    });
    await informer.start().catch((err: unknown) => {
      this.#lastError = err;
    });
    if (!this.#synced) {
      this.close();
      throw unavailable(`listing the API tokens (Secrets) in namespace "${namespace}"`, this.#lastError);
    }
    this.#scheduleFlush();
  }

  async create(input: NewToken): Promise<CreatedToken> {
    const now = this.#clock.now();
    assertValidNewToken(input, now);
    const { id, secret, token } = newTokenSecret();
    const data: Record<string, string> = {
      secretHash: sha256(secret).toString('base64'),
      name: b64(input.name),
      scopes: b64(JSON.stringify([...new Set(input.scopes)])),
      createdAt: b64(new Date(now).toISOString()),
      createdBy: b64(input.createdBy),
    };
    if (input.expiresAt) data.expiresAt = b64(input.expiresAt.toISOString());
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: TOKEN_SECRET_TYPE,
      metadata: { name: `${TOKEN_SECRET_PREFIX}${id}`, namespace: this.#namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [TOKEN_LABEL]: 'true' }, annotations: {} },
      data,
    };
    let created: V1Secret;
    try {
      created = await this.#core.createNamespacedSecret({ namespace: this.#namespace, body });
    } catch (err) {
      throw unavailable(`creating API token "${id}" (a Secret in namespace "${this.#namespace}")`, err);
    }
    // Into the copy at once: this replica accepts the token before the watch reports it.
    const entry = this.#upsert(created.data ? created : { ...created, data, type: TOKEN_SECRET_TYPE });
    if (!entry) throw new KssError('KSS_PROVIDER_UNAVAILABLE', `creating API token "${id}": the Kubernetes API returned a Secret that is not a token`);
    return { token, info: infoOf(entry) };
  }

  verify(token: string): Principal | undefined {
    const m = TOKEN_FORMAT.exec(token);
    if (!m) return undefined;
    const entry = this.#cache.get(m[1]!);
    // Compare even when there is no entry, so timing does not tell which ids exist.
    const ok = constantTimeEqual(sha256(m[2]!), entry?.hash ?? Buffer.alloc(32)) && entry !== undefined;
    if (!ok || !entry || entry.revokedAt) return undefined;
    const now = this.#clock.now();
    if (entry.expiresAt && Date.parse(entry.expiresAt) <= now) return undefined;
    this.#used.set(entry.id, now);
    return { id: `token:${entry.id}`, name: entry.name, scopes: [...entry.scopes] };
  }

  list(): TokenInfo[] {
    return [...this.#cache.values()].sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((e) => this.#info(e));
  }

  get(id: string): TokenInfo | undefined {
    const entry = this.#cache.get(id);
    return entry && this.#info(entry);
  }

  async revoke(id: string): Promise<boolean> {
    if (!ID.test(id)) return false;
    let current: V1Secret | undefined = this.#cache.get(id)?.secret;
    for (let attempt = 1; ; attempt++) {
      // Not in the copy: it may have been made on another replica a moment ago.
      current ??= await this.#read(id);
      const entry = current && parseSecret(current);
      if (!entry) return false;
      if (entry.revokedAt) {
        this.#upsert(current!);
        return true;
      }
      const body: V1Secret = { ...current, data: { ...current!.data, revokedAt: b64(new Date(this.#clock.now()).toISOString()) } };
      try {
        // The resourceVersion of what we read: a concurrent write is a 409, and we read again.
        const replaced = await this.#core.replaceNamespacedSecret({ name: secretName(id), namespace: this.#namespace, body });
        this.#upsert(replaced);
        return true;
      } catch (err) {
        const status = statusOf(err);
        if (status === 404) {
          this.#cache.delete(id);
          return false;
        }
        if (status === 409 && attempt < WRITE_ATTEMPTS) {
          current = undefined;
          continue;
        }
        throw unavailable(`revoking API token "${id}"`, err);
      }
    }
  }

  /** Called with a token's id when it is revoked or deleted, here or on another replica (seen through the watch). */
  onRevoked(listener: (id: string) => void): void {
    this.#revokedListeners.push(listener);
  }

  close(): void {
    this.#stopped = true;
    this.#cancelFlush?.();
    this.#cancelFlush = undefined;
    void this.#informer?.stop();
  }

  #info(e: Entry): TokenInfo {
    const info = infoOf(e);
    const used = this.#used.get(e.id);
    if (used !== undefined) {
      const iso = new Date(used).toISOString();
      if (!info.lastUsedAt || iso > info.lastUsedAt) info.lastUsedAt = iso;
    }
    return info;
  }

  /** Puts a Secret into the copy; an event older than what is there (a write of ours) is ignored. */
  #upsert(secret: V1Secret): Entry | undefined {
    const next = parseSecret(secret);
    if (!next) return undefined;
    const prev = this.#cache.get(next.id);
    if (prev && prev.secret.metadata?.uid === secret.metadata?.uid) {
      if (olderThan(secret.metadata?.resourceVersion, prev.secret.metadata?.resourceVersion)) return prev;
      // A revocation is never undone by a late event of the same Secret.
      if (prev.revokedAt && !next.revokedAt) next.revokedAt = prev.revokedAt;
    }
    this.#cache.set(next.id, next);
    if (next.revokedAt && !prev?.revokedAt && prev) this.#notifyRevoked(next.id);
    return next;
  }

  #notifyRevoked(id: string): void {
    this.#used.delete(id);
    for (const listener of this.#revokedListeners) {
      try {
        listener(id);
      } catch {
        /* a listener's failure is not the store's */
      }
    }
  }

  async #read(id: string): Promise<V1Secret | undefined> {
    try {
      return await this.#core.readNamespacedSecret({ name: secretName(id), namespace: this.#namespace });
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw unavailable(`reading API token "${id}"`, err);
    }
  }

  #scheduleFlush(): void {
    if (this.#stopped) return;
    this.#cancelFlush = this.#clock.setTimeout(() => {
      void this.#flushLastUsed().finally(() => this.#scheduleFlush());
    }, LAST_USED_RESOLUTION_MS);
  }

  /** Writes `last-used-at` of the tokens used since it was last written (a minute or more ago). Failures wait for the next round. */
  async #flushLastUsed(): Promise<void> {
    for (const [id, used] of [...this.#used]) {
      if (this.#stopped) return;
      const entry = this.#cache.get(id);
      if (!entry || entry.revokedAt) {
        this.#used.delete(id);
        continue;
      }
      if (entry.lastUsedAt && used - Date.parse(entry.lastUsedAt) < LAST_USED_RESOLUTION_MS) continue;
      const s = entry.secret;
      const body: V1Secret = { ...s, metadata: { ...s.metadata, annotations: { ...s.metadata?.annotations, [TOKEN_LAST_USED_ANNOTATION]: new Date(used).toISOString() } } };
      try {
        this.#upsert(await this.#core.replaceNamespacedSecret({ name: secretName(id), namespace: this.#namespace, body }));
        if (this.#used.get(id) === used) this.#used.delete(id);
      } catch (err) {
        // A 409 (someone changed it since) or an outage: the next round tries again from the watched copy.
        this.#logger?.debug({ status: statusOf(err), token: id }, 'writing a token\'s last-used time failed');
      }
    }
  }
}

function secretName(id: string): string {
  return `${TOKEN_SECRET_PREFIX}${id}`;
}

function idOf(name: string | undefined): string | undefined {
  if (!name?.startsWith(TOKEN_SECRET_PREFIX)) return undefined;
  const id = name.slice(TOKEN_SECRET_PREFIX.length);
  return ID.test(id) ? id : undefined;
}

function b64(value: string): string {
  return Buffer.from(value, 'utf8').toString('base64');
}

function unb64(value: string | undefined): string | undefined {
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

/** A token Secret as an entry; undefined for one that is not ours or does not parse (it never verifies). */
function parseSecret(s: V1Secret): Entry | undefined {
  const id = idOf(s.metadata?.name);
  const labels = s.metadata?.labels ?? {};
  if (!id || s.type !== TOKEN_SECRET_TYPE || labels[TOKEN_LABEL] !== 'true' || labels[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE) return undefined;
  const d = s.data ?? {};
  const hash = d.secretHash === undefined ? undefined : Buffer.from(d.secretHash, 'base64');
  const name = unb64(d.name);
  const createdAt = unb64(d.createdAt);
  let scopes: unknown;
  try {
    scopes = JSON.parse(unb64(d.scopes) ?? '');
  } catch {
    return undefined;
  }
  if (!hash || hash.length !== 32 || name === undefined || !createdAt || !Array.isArray(scopes) || scopes.length === 0 || !scopes.every(isScope)) return undefined;
  const entry: Entry = { id, name, scopes: scopes as Scope[], hash, createdAt, createdBy: unb64(d.createdBy) ?? '', secret: s };
  const expiresAt = unb64(d.expiresAt);
  if (expiresAt) {
    // An expiry that does not parse would never expire: such a token is not accepted at all.
    if (Number.isNaN(Date.parse(expiresAt))) return undefined;
    entry.expiresAt = expiresAt;
  }
  const revokedAt = unb64(d.revokedAt);
  if (revokedAt) entry.revokedAt = revokedAt;
  const lastUsed = s.metadata?.annotations?.[TOKEN_LAST_USED_ANNOTATION];
  if (lastUsed && !Number.isNaN(Date.parse(lastUsed))) entry.lastUsedAt = lastUsed;
  return entry;
}

function infoOf(e: Entry): TokenInfo {
  const info: TokenInfo = { id: e.id, name: e.name, scopes: [...e.scopes], createdAt: e.createdAt, createdBy: e.createdBy };
  if (e.expiresAt) info.expiresAt = e.expiresAt;
  if (e.revokedAt) info.revokedAt = e.revokedAt;
  if (e.lastUsedAt) info.lastUsedAt = e.lastUsedAt;
  return info;
}

/** True when resourceVersion `a` is known to be older than `b` (both numeric, as etcd's are; otherwise unknown: false). */
function olderThan(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) < BigInt(b);
}

/** Status codes only: an API server's message could quote the request (which holds the hash). */
function unavailable(what: string, err: unknown): KssError {
  const status = statusOf(err);
  return new KssError('KSS_PROVIDER_UNAVAILABLE', `${what}: ${status ? `the Kubernetes API answered ${status}` : 'the Kubernetes API could not be reached'}`, { cause: err });
}
