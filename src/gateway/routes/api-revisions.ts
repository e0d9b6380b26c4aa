/**
 * Revisions and traffic (issue #12): `GET /api/v1/functions/{name}/revisions`,
 * `PUT …/traffic`, `POST …/rollback`, `POST|DELETE …/revisions/{rev}/pin`. Thin
 * adapters over the service layer, which owns every rule.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isPlainObject, KssError } from '../../core/index.js';
import type { GatewayContext } from '../context.js';
import { refParam } from './namespace-param.js';

type Named = { Params: { name: string } };
type NamedRev = { Params: { name: string; rev: string } };

/** Who is acting, as revisions record it (`createdBy`) and events name it. */
export function actorOf(req: FastifyRequest): string {
  return req.principal?.name ?? 'anonymous';
}

export function apiRevisionRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  app.get<Named>('/api/v1/functions/:name/revisions', { config: { auth: 'read' } }, async (req) => ctx.service.revisionsOf(refParam(req.params.name, req.query)));

  app.put<Named>('/api/v1/functions/:name/traffic', { config: { auth: 'deploy', audit: 'function.traffic' } }, async (req) => {
    const body = req.body;
    if (!isPlainObject(body) || body.traffic === undefined) throw new KssError('KSS_INVALID_TRAFFIC', 'body: expected { "traffic": { "r3": 90, "r4": 10 } }');
    return ctx.service.setTraffic(refParam(req.params.name, req.query), body.traffic, actorOf(req));
  });

  app.post<Named>('/api/v1/functions/:name/rollback', { config: { auth: 'deploy', audit: 'function.rollback' } }, async (req) => {
    const body = req.body ?? {};
    if (!isPlainObject(body)) throw new KssError('KSS_INVALID_TRAFFIC', 'body: expected {} or { "to": "r2" }');
    return ctx.service.rollback(refParam(req.params.name, req.query), body.to, actorOf(req));
  });

  app.post<NamedRev>('/api/v1/functions/:name/revisions/:rev/pin', { config: { auth: 'deploy', audit: 'function.pin' } }, async (req) =>
    ctx.service.pinRevision(refParam(req.params.name, req.query), req.params.rev, true),
  );
  app.delete<NamedRev>('/api/v1/functions/:name/revisions/:rev/pin', { config: { auth: 'deploy', audit: 'function.unpin' } }, async (req) =>
    ctx.service.pinRevision(refParam(req.params.name, req.query), req.params.rev, false),
  );
}
