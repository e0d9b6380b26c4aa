/**
 * Token scopes. `admin` holds every scope; `deploy` includes `read`; `invoke` is on
 * its own, so a token that calls protected functions cannot change them.
 */
export const SCOPES = ['read', 'invoke', 'deploy', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

const IMPLIED: Record<Scope, readonly Scope[]> = {
  read: ['read'],
  invoke: ['invoke'],
  deploy: ['deploy', 'read'],
  admin: ['admin', 'deploy', 'read', 'invoke'],
};

/** What a route requires: nothing, a scope, or the invoked function's own policy. */
export type RouteAuth = 'public' | Scope | 'function';

export function isScope(v: unknown): v is Scope {
  return typeof v === 'string' && (SCOPES as readonly string[]).includes(v);
}

/** True when any scope held grants `required`. */
export function allows(held: readonly Scope[], required: Scope): boolean {
  return held.some((s) => IMPLIED[s].includes(required));
}

/** Who made a request. */
export interface Principal {
  /** `admin`, `token:<id>`, or `anonymous` when auth is off. */
  id: string;
  name: string;
  scopes: readonly Scope[];
}
