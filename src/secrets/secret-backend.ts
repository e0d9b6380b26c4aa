/**
 * What {@link SecretService} needs from wherever secret values live: the four API
 * actions, names and times in, names and times out. The embedded SQLite
 * {@link SecretStore} is one; on Kubernetes, {@link KubernetesSecretStore} keeps them
 * as Kubernetes Secrets that pods mount. Providers read values through the separate
 * `SecretSource` contract in core.
 */
import type { SecretInfo } from './secret-store.js';

/** Stores secret values for the secrets API; no method returns or logs a value. */
export interface SecretBackend {
  /** Names and times (never values) of the secrets of `namespace`, by name. */
  list(namespace: string): Promise<SecretInfo[]>;
  /** Stores a new secret; `KSS_SECRET_EXISTS` when the name is taken in the namespace. */
  create(namespace: string, name: string, value: Uint8Array): Promise<SecretInfo>;
  /** Replaces a secret's value; `KSS_SECRET_NOT_FOUND` when there is none. */
  update(namespace: string, name: string, value: Uint8Array): Promise<SecretInfo>;
  /** Deletes a secret; false when there was none. */
  remove(namespace: string, name: string): Promise<boolean>;
}
