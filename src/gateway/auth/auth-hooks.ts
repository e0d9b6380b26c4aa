/**
 * Enforces every route's declared `auth` requirement and records audited actions.
 * A route registered without `config.auth` makes the gateway refuse to start, so
 * no route can be added without deciding who may call it.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KssError } from '../../core/index.js';
import type { AuditLog } from './audit-log.js';
import type { Authenticator } from './authenticator.js';
import { allows, type Principal, type RouteAuth } from './scopes.js';
import { cookieValue, SESSION_COOKIE, type SessionStore } from './session-store.js';

/**
 * The header a cookie-authenticated change must carry. A page on another site cannot
 * add it (a custom header needs a CORS preflight, and CORS is off unless configured),
 * so a session cookie alone never changes anything: the dashboard's CSRF guard, on
 * top of SameSite=Strict.
 */
export const CSRF_HEADER = 'x-kss-csrf';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call this route. Required on every route. */
    auth?: RouteAuth;
    /** Action name recorded in the audit log (mutating admin routes). */
    audit?: string;
  }
  interface FastifyRequest {
    principal?: Principal;
    /** True when the principal came from the dashboard's session cookie. */
    viaSession?: boolean;
  }
  interface FastifyInstance {
    /** Every route with its auth requirement: the route table the security tests walk. */
    kssRoutes: RouteEntry[];
  }
}

/** One row of the route table. */
export interface RouteEntry {
  method: string;
  url: string;
  auth: RouteAuth;
  audit?: string;
}

/** 401 for missing or wrong credentials; tells the client how to authenticate. */
export function unauthorized(): KssError {
  return new KssError('KSS_UNAUTHORIZED', 'credentials required: run `kss login` (or `faas-cli login`), or send a token as `Authorization: Bearer kss_…`');
}

export function forbidden(principal: Principal, needed: string): KssError {
  return new KssError('KSS_FORBIDDEN', `"${principal.name}" lacks the ${needed} scope for this action; create a token with \`kss token create --scope ${needed}\``);
}

/** Checks `principal` against a scope requirement; throws 401/403. */
export function requireScope(principal: Principal | undefined, needed: Exclude<RouteAuth, 'public' | 'function'>): Principal {
  if (!principal) throw unauthorized();
  if (!allows(principal.scopes, needed)) throw forbidden(principal, needed);
  return principal;
}

/** Installs the route check, the auth hook and the audit hook on `app` (call before routes are registered). */
export function installAuth(app: FastifyInstance, deps: { authenticator: Authenticator; audit: AuditLog; sessions?: SessionStore }): void {
  app.decorateRequest('principal', undefined);
  app.decorateRequest('viaSession', false);
  const routes: RouteEntry[] = [];
  app.decorate('kssRoutes', routes);
  app.addHook('onRoute', (route) => {
    const auth = route.config?.auth;
    if (auth === undefined) {
      throw new Error(`route ${String(route.method)} ${route.url} declares no auth requirement (config.auth)`);
    }
    for (const method of [route.method].flat()) {
      // fastify adds HEAD for every GET itself.
      if (method === 'HEAD' && route.url !== undefined && routes.some((r) => r.url === route.url && r.method === 'GET')) continue;
      routes.push({ method, url: route.url, auth, ...(route.config?.audit ? { audit: route.config.audit } : {}) });
    }
  });
  app.addHook('onRequest', async (request) => {
    const needed = request.routeOptions.config?.auth;
    // Unknown routes (404) carry no config: they reveal nothing and need nothing.
    if (needed === undefined || needed === 'public') return;
    let principal = deps.authenticator.authenticate(request.headers.authorization);
    // No Authorization header: the dashboard's session cookie, if any (an explicit header always wins).
    if (request.headers.authorization === undefined && deps.sessions && deps.authenticator.enabled) {
      const session = sessionPrincipal(request, deps.sessions, needed === 'function');
      if (session) {
        principal = session;
        request.viaSession = true;
      }
    }
    if (needed === 'function') {
      // The invoke route applies the function's own policy; public functions ignore Authorization.
      request.principal = principal;
      return;
    }
    request.principal = requireScope(principal, needed);
  });
  app.addHook('onResponse', async (request, reply) => {
    const action = request.routeOptions.config?.audit;
    if (!action || !request.principal) return;
    deps.audit.record({ actor: request.principal.id, action, target: auditTarget(request), status: reply.statusCode, ip: request.ip });
  });
}

/**
 * The principal of the request's session cookie. A change (not GET/HEAD) also needs
 * the CSRF header: on a management route its absence is a 403; on the invoke route
 * the session is ignored instead, since a function's own callers may send cookies.
 */
function sessionPrincipal(request: FastifyRequest, sessions: SessionStore, invokeRoute: boolean): Principal | undefined {
  const id = cookieValue(request.headers.cookie, SESSION_COOKIE);
  if (id === undefined) return undefined;
  const session = sessions.get(id);
  if (!session) return undefined;
  if (!SAFE_METHODS.has(request.method) && request.headers[CSRF_HEADER] !== '1') {
    if (invokeRoute) return undefined;
    throw new KssError('KSS_FORBIDDEN', `a change made with the dashboard's session cookie must carry the ${CSRF_HEADER}: 1 header (the dashboard sends it; scripts should use a token)`);
  }
  return session.principal;
}

/** A short description of what an action was about (function or token), from params, query and body. */
function auditTarget(request: FastifyRequest): string | undefined {
  const params = (request.params ?? {}) as Record<string, unknown>;
  const body = (request.body && typeof request.body === 'object' && !Buffer.isBuffer(request.body) ? request.body : {}) as Record<string, unknown>;
  const query = (request.query ?? {}) as Record<string, unknown>;
  const name = params.name ?? params.id ?? body.service ?? body.functionName ?? body.name;
  if (typeof name !== 'string') return undefined;
  const ns = typeof body.namespace === 'string' ? body.namespace : typeof query.namespace === 'string' ? query.namespace : undefined;
  return (ns ? `${name}.${ns}` : name).slice(0, 200);
}
