/**
 * The OpenFaaS management API: `/system/functions`, `/system/function/{name}`,
 * `/system/namespaces`. Shapes and status codes follow the OpenFaaS gateway spec,
 * so faas-cli works against it unchanged.
 */
import type { FastifyInstance } from 'fastify';
import { assertValidName, isPlainObject, KssError } from '../../core/index.js';
import type { GatewayContext } from '../context.js';
import { namespaceParam, refParam } from './namespace-param.js';
import { actorOf } from './api-revisions.js';

export function systemFunctionRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  app.get('/system/functions', { config: { auth: 'read' } }, async (req) => ctx.service.list(namespaceParam(req.query)));

  app.post('/system/functions', { config: { auth: 'deploy', audit: 'function.create' } }, async (req, reply) => {
    await ctx.service.create(req.body, namespaceParam(req.query), actorOf(req));
    return reply.code(202).send();
  });

  app.put('/system/functions', { config: { auth: 'deploy', audit: 'function.update' } }, async (req, reply) => {
    await ctx.service.update(req.body, namespaceParam(req.query), actorOf(req));
    return reply.code(200).send();
  });

  app.delete('/system/functions', { config: { auth: 'deploy', audit: 'function.remove' } }, async (req, reply) => {
    const body = req.body;
    if (!isPlainObject(body)) throw new KssError('KSS_INVALID_SPEC', 'body: expected {"functionName": "..."}');
    assertValidName(body.functionName, 'functionName');
    await ctx.service.remove({ name: body.functionName, namespace: namespaceParam(req.query) });
    return reply.code(200).send();
  });

  app.get<{ Params: { name: string } }>('/system/function/:name', { config: { auth: 'read' } }, async (req) => ctx.service.get(refParam(req.params.name, req.query)));

  // OpenFaaS ScaleServiceRequest: { serviceName, namespace, replicas }.
  app.post<{ Params: { name: string } }>('/system/scale-function/:name', { config: { auth: 'deploy', audit: 'function.scale' } }, async (req, reply) => {
    const body = req.body;
    if (!isPlainObject(body)) throw new KssError('KSS_INVALID_SPEC', 'body: expected {"serviceName": "...", "namespace": "...", "replicas": N}');
    const namespace = typeof body.namespace === 'string' && body.namespace !== '' ? body.namespace : undefined;
    const ref = refParam(req.params.name, namespace ? { namespace } : req.query);
    if (body.serviceName !== undefined && body.serviceName !== ref.name) {
      throw new KssError('KSS_INVALID_SPEC', `serviceName: "${String(body.serviceName).slice(0, 63)}" does not match the name in the URL ("${ref.name}")`);
    }
    await ctx.service.scale(ref, body.replicas);
    return reply.code(202).send();
  });

  // Ours: hand a manually scaled function back to the autoscaler.
  app.post<{ Params: { name: string } }>('/api/v1/functions/:name/autoscale', { config: { auth: 'deploy', audit: 'function.autoscale' } }, async (req, reply) => {
    ctx.service.autoscale(refParam(req.params.name, req.query));
    return reply.code(204).send();
  });

  app.get('/system/namespaces', { config: { auth: 'read' } }, async () => ctx.service.namespaces());
}
