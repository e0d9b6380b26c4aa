/**
 * How the stores kept in the Kubernetes API report its failures: the HTTP status of a
 * client-node error, and one catalogue error (`KSS_PROVIDER_UNAVAILABLE`, 503) saying
 * what was being done and what the API answered.
 */
import { KssError } from '../core/index.js';
import { statusOf } from '../providers/kubernetes/api-status.js';

/** `KSS_PROVIDER_UNAVAILABLE` for `what`, naming the API's answer (or that it could not be reached). */
export function unavailable(what: string, err: unknown): KssError {
  const status = statusOf(err);
  return new KssError('KSS_PROVIDER_UNAVAILABLE', `${what}: ${status ? `the Kubernetes API answered ${status}` : `the Kubernetes API could not be reached (${(err as Error)?.message ?? String(err)})`}`, { cause: err });
}
