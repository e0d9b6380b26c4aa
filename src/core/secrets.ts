/**
 * The contract between the secret store (owner of the values) and whoever must hand
 * them to a function's replicas (a provider). Values cross this boundary only as
 * Buffers, only for the names a function lists, and are never logged.
 */

/** Reads secret values for a function's replicas. */
export interface SecretSource {
  /**
   * The values of `names` in `namespace`, by name.
   *
   * @throws KssError `KSS_SECRET_NOT_FOUND` naming the secrets that do not exist (never any value).
   */
  read(namespace: string, names: readonly string[]): Promise<Map<string, Buffer>>;
  /** The names among `names` that do not exist in `namespace` (for validating a deploy). */
  missing(namespace: string, names: readonly string[]): Promise<string[]>;
}

/** Where OpenFaaS (and so every function written for it) reads its secrets: one file per secret. */
export const SECRETS_MOUNT_PATH = '/var/openfaas/secrets';
