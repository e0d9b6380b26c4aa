/**
 * Who may invoke a function and how often, read from its annotations:
 * - `kss.auth: token` — callers need a token with the `invoke` scope (default `public`, as OpenFaaS);
 * - `kss.ratelimit: 100/s` — all callers together;
 * - `kss.ratelimit.client: 10/s` — each caller (token, or IP address when anonymous).
 */
import { KssError } from './errors.js';
import type { FunctionSpec } from './function-spec.js';

export const AUTH_ANNOTATION = 'kss.auth';
export const RATE_LIMIT_ANNOTATION = 'kss.ratelimit';
export const CLIENT_RATE_LIMIT_ANNOTATION = 'kss.ratelimit.client';

/** A rate: `permits` per `seconds`. */
export interface Rate {
  permits: number;
  seconds: number;
}

export interface InvokePolicy {
  auth: 'public' | 'token';
  rate?: Rate;
  clientRate?: Rate;
}

const UNIT: Record<string, number> = { s: 1, sec: 1, second: 1, m: 60, min: 60, minute: 60, h: 3600, hour: 3600 };

/** Parses `100/s`, `600/m`, `10/h`. */
export function parseRate(value: string, field: string): Rate {
  const m = /^\s*(\d{1,9})\s*\/\s*([a-z]+)\s*$/.exec(value);
  const seconds = m ? UNIT[m[2]!] : undefined;
  if (!m || seconds === undefined || Number(m[1]) < 1) {
    throw new KssError('KSS_INVALID_SPEC', `${field}: "${value.slice(0, 40)}" is not a rate such as 100/s, 600/m or 10/h`);
  }
  return { permits: Number(m[1]), seconds };
}

/** Reads and validates the policy; throws `KSS_INVALID_SPEC` naming the annotation. */
export function invokePolicy(spec: Pick<FunctionSpec, 'annotations'>): InvokePolicy {
  const a = spec.annotations ?? {};
  const auth = a[AUTH_ANNOTATION] ?? 'public';
  if (auth !== 'public' && auth !== 'token') {
    throw new KssError('KSS_INVALID_SPEC', `annotations.${AUTH_ANNOTATION}: "${auth.slice(0, 40)}" must be "public" or "token"`);
  }
  const policy: InvokePolicy = { auth };
  if (a[RATE_LIMIT_ANNOTATION] !== undefined) policy.rate = parseRate(a[RATE_LIMIT_ANNOTATION], `annotations.${RATE_LIMIT_ANNOTATION}`);
  if (a[CLIENT_RATE_LIMIT_ANNOTATION] !== undefined) policy.clientRate = parseRate(a[CLIENT_RATE_LIMIT_ANNOTATION], `annotations.${CLIENT_RATE_LIMIT_ANNOTATION}`);
  return policy;
}
