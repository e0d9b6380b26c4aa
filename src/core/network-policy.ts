/**
 * A function's network (`kss.network` annotation): `host` (default) shares the host's
 * network, loopback included, like a process; `none` lets it open no connection and
 * send no datagram at all (the gateway still reaches it) — Kubernetes' "deny all
 * egress" NetworkPolicy, on one machine.
 */
import { KssError } from './errors.js';
import type { FunctionSpec } from './function-spec.js';

export const NETWORK_ANNOTATION = 'kss.network';
export type FunctionNetwork = 'host' | 'none';

/** The function's network; `KSS_INVALID_SPEC` for another value. */
export function networkOf(spec: Pick<FunctionSpec, 'annotations'>): FunctionNetwork {
  const v = spec.annotations?.[NETWORK_ANNOTATION]?.trim();
  if (v === undefined || v === '' || v === 'host') return 'host';
  if (v === 'none') return 'none';
  throw new KssError('KSS_INVALID_SPEC', `annotations.${NETWORK_ANNOTATION}: "${v.slice(0, 40)}" is not a network; use host (default) or none`);
}
