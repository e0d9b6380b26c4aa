/**
 * Secret names: the Kubernetes DNS-1123 subdomain rule, which faas-cli checks before
 * it sends a secret (`validateSecretName` in faas-cli's secret_create.go) and which a
 * Kubernetes Secret's name must follow. The name is also the file name a function
 * reads (`/var/openfaas/secrets/<name>`): the rule admits no '/', no empty segment
 * and so no '..', and nothing but lower-case letters, digits, '-' and '.'.
 */
import { KssError } from '../core/index.js';

/** Longest secret name (a DNS-1123 subdomain: 253 characters). */
export const SECRET_NAME_MAX_LENGTH = 253;

/** DNS-1123 labels joined by '.': `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`. */
export const SECRET_NAME_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** True when `name` is a valid secret name. */
export function isValidSecretName(name: unknown): boolean {
  return typeof name === 'string' && name.length > 0 && name.length <= SECRET_NAME_MAX_LENGTH && SECRET_NAME_PATTERN.test(name);
}

/** Throws `KSS_INVALID_NAME` naming `field` unless `name` is a valid secret name. */
export function assertValidSecretName(name: unknown, field = 'name'): asserts name is string {
  if (name === undefined || name === null || name === '') {
    throw new KssError('KSS_INVALID_NAME', `${field}: a secret name is required`);
  }
  if (typeof name !== 'string') throw new KssError('KSS_INVALID_NAME', `${field}: a secret name must be a string`);
  if (!isValidSecretName(name)) {
    const shown = name.length > 80 ? `${name.slice(0, 80)}…` : name;
    throw new KssError(
      'KSS_INVALID_NAME',
      `${field}: "${shown}" is not a valid secret name: use at most ${SECRET_NAME_MAX_LENGTH} lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (e.g. db-password or api.key)`,
    );
  }
}
