/**
 * Secrets as Kubernetes Secrets, for the Kubernetes provider: the Deployment of a
 * function mounts every Secret it lists at `/var/openfaas/secrets` (one projected
 * volume, every key a file; src/providers/kubernetes/manifests.ts), so the secrets API
 * must write them where pods can read them, not in the gateway's SQLite file.
 *
 * Each secret is one `Opaque` Secret of the same name in the function's namespace,
 * holding one key named like the secret (so the file is `/var/openfaas/secrets/<name>`,
 * as faas-netes does), labelled `app.kubernetes.io/managed-by: kube-serverless`. The
 * API lists, updates and deletes only Secrets with that label: a Secret made with
 * kubectl (a TLS key, a registry credential) is never changed or removed by it, though
 * a function may still list it (a deploy only checks that it exists). Values go to the
 * API server base64-encoded in `data` and appear in no log, list or error; API errors
 * are reported by status code only, since an API server's message could quote the body.
 */
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { KssError, systemClock, type Clock, type SecretSource } from '../core/index.js';
import type { SecretBackend } from './secret-backend.js';
import { assertValidSecretName } from './secret-name.js';
import { MAX_SECRET_BYTES, nsFlag, secretNotFound, type SecretInfo } from './secret-store.js';
import { statusOf } from '../providers/kubernetes/api-status.js';

/** The label marking the Secrets the secrets API manages (the one the provider puts on everything it makes). */
export const SECRET_MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
/** Our value of {@link SECRET_MANAGED_BY_LABEL}. */
export const SECRET_MANAGED_BY_VALUE = 'kube-serverless';
/** Annotation holding when the value was last set (Kubernetes keeps only the creation time). */
export const SECRET_UPDATED_AT_ANNOTATION = 'serverless.kube.io/updated-at';

/** Conflicting writes (another gateway replica) retried this often before giving up. */
const UPDATE_ATTEMPTS = 3;

export interface KubernetesSecretStoreOptions {
  kubeConfig: KubeConfig;
  clock?: Clock;
}

/** The secrets API's backend and the providers' {@link SecretSource} on a cluster. */
export class KubernetesSecretStore implements SecretBackend, SecretSource {
  readonly #core: CoreV1Api;
  readonly #clock: Clock;

  constructor(options: KubernetesSecretStoreOptions) {
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#clock = options.clock ?? systemClock;
  }

  async list(namespace: string): Promise<SecretInfo[]> {
    const out: SecretInfo[] = [];
    let cont: string | undefined;
    do {
      const page = await this.#call(`listing secrets in namespace "${namespace}"`, () =>
        this.#core.listNamespacedSecret({ namespace, labelSelector: `${SECRET_MANAGED_BY_LABEL}=${SECRET_MANAGED_BY_VALUE}`, limit: 500, ...(cont ? { _continue: cont } : {}) }),
      );
      for (const s of page.items) out.push(infoOf(s, namespace));
      cont = page.metadata?._continue || undefined;
    } while (cont);
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async create(namespace: string, name: string, value: Uint8Array): Promise<SecretInfo> {
    assertStorable(name, value);
    const now = this.#now();
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: { name, namespace, labels: { [SECRET_MANAGED_BY_LABEL]: SECRET_MANAGED_BY_VALUE }, annotations: { [SECRET_UPDATED_AT_ANNOTATION]: now } },
      data: { [name]: Buffer.from(value).toString('base64') },
    };
    try {
      const created = await this.#core.createNamespacedSecret({ namespace, body });
      return infoOf(created, namespace);
    } catch (err) {
      if (statusOf(err) === 409) {
        throw new KssError('KSS_SECRET_EXISTS', `secret "${name}" already exists in namespace "${namespace}"; change its value with \`kss secret update ${name}${nsFlag(namespace)}\` (a Secret made outside kube-serverless is changed with kubectl)`);
      }
      throw apiFailure(`creating secret "${name}" in namespace "${namespace}"`, err);
    }
  }

  async update(namespace: string, name: string, value: Uint8Array): Promise<SecretInfo> {
    assertStorable(name, value);
    for (let attempt = 1; ; attempt++) {
      const current = await this.#ours(namespace, name);
      const body: V1Secret = {
        ...current,
        type: current.type ?? 'Opaque',
        metadata: { ...current.metadata, annotations: { ...current.metadata?.annotations, [SECRET_UPDATED_AT_ANNOTATION]: this.#now() } },
        // One key named like the secret: a key left from another name would be another file.
        data: { [name]: Buffer.from(value).toString('base64') },
      };
      try {
        // resourceVersion from the read: a concurrent write makes this a 409, and we read again.
        const replaced = await this.#core.replaceNamespacedSecret({ name, namespace, body });
        return infoOf(replaced, namespace);
      } catch (err) {
        const status = statusOf(err);
        if (status === 404) throw secretNotFound(namespace, [name]);
        if (status === 409 && attempt < UPDATE_ATTEMPTS) continue;
        throw apiFailure(`updating secret "${name}" in namespace "${namespace}"`, err);
      }
    }
  }

  async remove(namespace: string, name: string): Promise<boolean> {
    let current: V1Secret;
    try {
      current = await this.#ours(namespace, name);
    } catch (err) {
      if (err instanceof KssError && err.code === 'KSS_SECRET_NOT_FOUND') return false;
      throw err;
    }
    try {
      // The uid precondition: a Secret of the same name made since our read (by kubectl) is not deleted.
      await this.#core.deleteNamespacedSecret({ name, namespace, body: { preconditions: { uid: current.metadata?.uid } } });
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw apiFailure(`deleting secret "${name}" in namespace "${namespace}"`, err);
    }
  }

  async missing(namespace: string, names: readonly string[]): Promise<string[]> {
    const unique = [...new Set(names)];
    const found = await Promise.all(unique.map((name) => this.#get(namespace, name)));
    return unique.filter((_, i) => found[i] === undefined);
  }

  async read(namespace: string, names: readonly string[]): Promise<Map<string, Buffer>> {
    const unique = [...new Set(names)];
    const found = await Promise.all(unique.map((name) => this.#get(namespace, name)));
    const absent = unique.filter((_, i) => found[i] === undefined);
    if (absent.length) throw secretNotFound(namespace, absent);
    const out = new Map<string, Buffer>();
    unique.forEach((name, i) => {
      const data = found[i]!.data ?? {};
      // Ours hold one key named like the secret; a Secret made with kubectl may hold one key of any name.
      const keys = Object.keys(data);
      const encoded = data[name] ?? (keys.length === 1 ? data[keys[0]!] : undefined);
      if (encoded === undefined) {
        throw new KssError('KSS_SECRET_NOT_FOUND', `secret "${name}" in namespace "${namespace}" has no key "${name}" (it holds ${keys.length} keys); use a Secret with one key, or the key named like the secret`);
      }
      out.set(name, Buffer.from(encoded, 'base64'));
    });
    return out;
  }

  /** The Secret, or undefined when there is none. */
  async #get(namespace: string, name: string): Promise<V1Secret | undefined> {
    try {
      return await this.#core.readNamespacedSecret({ name, namespace });
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw apiFailure(`reading secret "${name}" in namespace "${namespace}"`, err);
    }
  }

  /** The Secret when it exists and is ours; `KSS_SECRET_NOT_FOUND` otherwise (saying so when it is someone else's). */
  async #ours(namespace: string, name: string): Promise<V1Secret> {
    const s = await this.#get(namespace, name);
    if (!s) throw secretNotFound(namespace, [name]);
    if (s.metadata?.labels?.[SECRET_MANAGED_BY_LABEL] !== SECRET_MANAGED_BY_VALUE) {
      throw new KssError(
        'KSS_SECRET_NOT_FOUND',
        `secret "${name}" in namespace "${namespace}" is a Kubernetes Secret kube-serverless does not manage (no ${SECRET_MANAGED_BY_LABEL}=${SECRET_MANAGED_BY_VALUE} label); change or delete it with kubectl`,
      );
    }
    return s;
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw apiFailure(what, err);
    }
  }

  #now(): string {
    return new Date(this.#clock.now()).toISOString();
  }
}

function infoOf(s: V1Secret, namespace: string): SecretInfo {
  const created = s.metadata?.creationTimestamp ? new Date(s.metadata.creationTimestamp).toISOString() : new Date(0).toISOString();
  const updated = s.metadata?.annotations?.[SECRET_UPDATED_AT_ANNOTATION] ?? created;
  return { name: s.metadata?.name ?? '', namespace: s.metadata?.namespace ?? namespace, createdAt: created, updatedAt: updated };
}

function assertStorable(name: string, value: Uint8Array): void {
  assertValidSecretName(name);
  if (value.byteLength > MAX_SECRET_BYTES) {
    throw new KssError('KSS_PAYLOAD_TOO_LARGE', `value: ${Math.ceil(value.byteLength / 1024)} KiB is more than a secret may hold (${MAX_SECRET_BYTES / 1024} KiB)`);
  }
}

/**
 * `KSS_PROVIDER_UNAVAILABLE` saying what failed and the status only: neither the API
 * server's message nor the client's error (which holds the response) is kept, so no
 * part of a request body can reach a log or a reply.
 */
function apiFailure(what: string, err: unknown): KssError {
  const status = statusOf(err);
  const reason =
    status === 403
      ? 'the Kubernetes API answered 403: the gateway\'s ServiceAccount may not do this; check its Role (deploy/kubernetes/gateway.yaml) with `kubectl auth can-i`'
      : status
        ? `the Kubernetes API answered ${status}`
        : 'the Kubernetes API could not be reached';
  return new KssError('KSS_PROVIDER_UNAVAILABLE', `${what}: ${reason}`);
}
