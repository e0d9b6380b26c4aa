/**
 * Admin routes: API tokens (`/api/v1/tokens`) and the audit log (`/api/v1/audit`).
 * Admin scope only; token creation and revocation are themselves audited.
 */
import type { FastifyInstance } from 'fastify';
import { isPlainObject, KssError } from '../../core/index.js';
import { isScope, type Scope } from '../auth/index.js';
import type { GatewayContext } from '../context.js';

const DURATION = /^(\d{1,6})(m|h|d)$/;
const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30d`, `12h`, `90m` → milliseconds. */
export function parseExpiry(value: string): number {
  const m = DURATION.exec(value);
  if (!m || Number(m[1]) === 0) throw new KssError('KSS_BAD_REQUEST', `expires: "${value.slice(0, 20)}" is not a duration such as 30d, 12h or 90m`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

export function adminRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  app.get('/api/v1/tokens', { config: { auth: 'admin' } }, async () => ({ items: ctx.tokens.list() }));

  app.post('/api/v1/tokens', { config: { auth: 'admin', audit: 'token.create' } }, async (req, reply) => {
    const body = req.body;
    if (!isPlainObject(body)) throw new KssError('KSS_BAD_REQUEST', 'body: expected {"name": "...", "scopes": ["deploy"], "expires": "30d"}');
    const scopes = body.scopes;
    if (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every(isScope)) {
      throw new KssError('KSS_BAD_REQUEST', 'scopes: a non-empty list of read, invoke, deploy, admin');
    }
    if (typeof body.name !== 'string') throw new KssError('KSS_BAD_REQUEST', 'name: required, 1-64 characters');
    if (body.expires !== undefined && typeof body.expires !== 'string') throw new KssError('KSS_BAD_REQUEST', 'expires: a duration such as 30d');
    const expiresAt = typeof body.expires === 'string' ? new Date(ctx.clock.now() + parseExpiry(body.expires)) : undefined;
    const created = await ctx.tokens.create({ name: body.name, scopes: scopes as Scope[], expiresAt, createdBy: req.principal!.id });
    return reply.code(201).send({ ...created.info, token: created.token });
  });

  app.delete<{ Params: { id: string } }>('/api/v1/tokens/:id', { config: { auth: 'admin', audit: 'token.revoke' } }, async (req, reply) => {
    if (!/^[a-f0-9]{12}$/.test(req.params.id) || !(await ctx.tokens.revoke(req.params.id))) {
      throw new KssError('KSS_TOKEN_NOT_FOUND', `no token with id "${req.params.id.slice(0, 20)}"; see \`kss token list\``);
    }
    // Dashboard sessions opened with the token end with it.
    ctx.sessions.deleteFor(`token:${req.params.id}`);
    return reply.code(204).send();
  });

  app.get('/api/v1/audit', { config: { auth: 'admin' } }, async (req) => {
    const q = (req.query ?? {}) as Record<string, unknown>;
    const limit = q.limit === undefined ? undefined : Number(q.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 1000)) throw new KssError('KSS_BAD_REQUEST', 'limit: a whole number from 1 to 1000');
    const since = typeof q.since === 'string' ? q.since : undefined;
    if (since !== undefined && Number.isNaN(Date.parse(since))) throw new KssError('KSS_BAD_REQUEST', 'since: an RFC 3339 time such as 2026-01-01T00:00:00Z');
    return { items: ctx.audit.list({ limit, since: since && new Date(since).toISOString(), actor: typeof q.actor === 'string' ? q.actor : undefined }) };
  });
}
