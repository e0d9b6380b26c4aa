/**
 * Dashboard login: `GET/POST/DELETE /api/v1/session`. A login trades the admin
 * password (or an API token as the password) for an HttpOnly, SameSite=Strict
 * session cookie; the dashboard never holds a credential that scripts can read.
 * All three are public: GET tells whether a login is needed (never a 401, so an
 * unauthenticated dashboard has nothing to log), POST is the login itself.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isPlainObject, KssError } from '../../core/index.js';
import { cookieValue, SESSION_COOKIE, SESSION_TTL_MS, type Principal } from '../auth/index.js';
import type { GatewayContext } from '../context.js';

/** Failed logins per client address: 10 a minute stops guessing and never bothers a person. */
const FAILED_LOGIN_RATE = { permits: 10, seconds: 60 };

/** What the dashboard learns about its session. */
export interface SessionView {
  authenticated: boolean;
  /** False when the gateway runs with `--no-auth`. */
  authRequired: boolean;
  user?: string;
  scopes?: string[];
  expiresAt?: string;
}

export function sessionRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  app.get('/api/v1/session', { config: { auth: 'public' } }, async (req): Promise<SessionView> => {
    if (!ctx.authenticator.enabled) return { authenticated: true, authRequired: false, user: 'anonymous', scopes: ['admin'] };
    const id = cookieValue(req.headers.cookie, SESSION_COOKIE);
    const session = id === undefined ? undefined : ctx.sessions.get(id);
    if (session) return view(session.principal, session.expiresAt);
    const principal = req.headers.authorization === undefined ? undefined : ctx.authenticator.authenticate(req.headers.authorization);
    return principal ? view(principal) : { authenticated: false, authRequired: true };
  });

  app.post('/api/v1/session', { config: { auth: 'public', audit: 'session.create' } }, async (req, reply) => {
    // Once an address has failed too often, every attempt waits, the right password too.
    const failures = `login-failed:${req.ip}`;
    ctx.limiter.check(failures, FAILED_LOGIN_RATE, 'failed logins from this address');
    const body = req.body;
    if (!isPlainObject(body) || typeof body.username !== 'string' || typeof body.password !== 'string' || body.username.length > 256 || body.password.length > 1024) {
      throw new KssError('KSS_BAD_REQUEST', 'body: expected {"username": "admin", "password": "..."}');
    }
    if (!ctx.authenticator.enabled) return { authenticated: true, authRequired: false, user: 'anonymous', scopes: ['admin'] } satisfies SessionView;
    const principal = ctx.authenticator.authenticate(`Basic ${Buffer.from(`${body.username}:${body.password}`).toString('base64')}`);
    if (!principal) {
      // Never the password, nor whether the username was right.
      req.log.warn({ ip: req.ip }, 'dashboard login refused');
      ctx.limiter.take(failures, FAILED_LOGIN_RATE, 'failed logins from this address');
      throw new KssError('KSS_UNAUTHORIZED', 'wrong username or password; the admin password is in the data dir (basic-auth-password), or log in with an API token as the password');
    }
    // Ends any session this browser had, so a login never leaves an orphan behind.
    const previous = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (previous !== undefined) ctx.sessions.delete(previous);
    const session = ctx.sessions.create(principal);
    req.principal = principal;
    setSessionCookie(req, reply, session.id, Math.floor(SESSION_TTL_MS / 1000));
    return view(principal, session.expiresAt.getTime());
  });

  app.delete('/api/v1/session', { config: { auth: 'public' } }, async (req, reply) => {
    const id = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (id !== undefined) ctx.sessions.delete(id);
    setSessionCookie(req, reply, '', 0);
    return reply.code(204).send();
  });
}

function view(principal: Principal, expiresAt?: number): SessionView {
  return {
    authenticated: true,
    authRequired: true,
    user: principal.name,
    scopes: [...principal.scopes],
    ...(expiresAt === undefined ? {} : { expiresAt: new Date(expiresAt).toISOString() }),
  };
}

function setSessionCookie(req: FastifyRequest, reply: FastifyReply, value: string, maxAgeSeconds: number): void {
  const secure = req.protocol === 'https' ? '; Secure' : '';
  reply.header('set-cookie', `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure}`);
}
