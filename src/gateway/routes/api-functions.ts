/**
 * The resource API, `/api/v1/functions[/{name}[/invoke]]`, and the code upload used
 * by the CLI. Bodies may be JSON or YAML. Same service layer as the OpenFaaS routes.
 */
import type { FastifyInstance } from 'fastify';
import { isPlainObject, KssError } from '../../core/index.js';
import type { GatewayContext } from '../context.js';
import { invokeHandler } from './invoke.js';
import { namespaceParam, optionalNamespaceParam, refParam } from './namespace-param.js';
import { actorOf } from './api-revisions.js';

export function apiFunctionRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  app.get('/api/v1/functions', { config: { auth: 'read' } }, async (req) => ({ items: await ctx.service.list(optionalNamespaceParam(req.query)) }));

  app.post('/api/v1/functions', { config: { auth: 'deploy', audit: 'function.create' } }, async (req, reply) => {
    const status = await ctx.service.create(req.body, namespaceParam(req.query), actorOf(req));
    return reply.code(201).header('location', `/api/v1/functions/${status.name}?namespace=${status.namespace}`).send(status);
  });

  app.get<{ Params: { name: string } }>('/api/v1/functions/:name', { config: { auth: 'read' } }, async (req) => ctx.service.get(refParam(req.params.name, req.query)));

  app.put<{ Params: { name: string } }>('/api/v1/functions/:name', { config: { auth: 'deploy', audit: 'function.update' } }, async (req) => {
    const ref = refParam(req.params.name, req.query);
    const body = req.body;
    if (!isPlainObject(body)) throw new KssError('KSS_INVALID_SPEC', 'body: expected an object describing the function');
    if (body.service !== undefined && body.service !== ref.name) {
      throw new KssError('KSS_INVALID_SPEC', `service: "${String(body.service).slice(0, 63)}" does not match the name in the URL ("${ref.name}")`);
    }
    return ctx.service.update({ ...body, service: ref.name, namespace: body.namespace ?? ref.namespace }, ref.namespace, actorOf(req));
  });

  app.delete<{ Params: { name: string } }>('/api/v1/functions/:name', { config: { auth: 'deploy', audit: 'function.remove' } }, async (req, reply) => {
    await ctx.service.remove(refParam(req.params.name, req.query));
    return reply.code(204).send();
  });

  app.post('/api/v1/builds', { config: { auth: 'deploy', audit: 'function.build' } }, async (req) => ctx.service.build(req.body, namespaceParam(req.query)));

  app.get<{ Params: { name: string } }>('/api/v1/functions/:name/build-log', { config: { auth: 'read' } }, async (req, reply) =>
    reply.type('text/plain; charset=utf-8').send(await ctx.service.buildLog(refParam(req.params.name, req.query))),
  );

  app.post('/api/v1/code', { bodyLimit: ctx.maxCodeBytes, config: { auth: 'deploy', audit: 'code.upload' } }, async (req, reply) => {
    if (!Buffer.isBuffer(req.body) || req.body.length === 0) {
      throw new KssError('KSS_INVALID_ARCHIVE', 'body: expected a tar.gz archive (Content-Type: application/gzip)');
    }
    return reply.code(201).send(await ctx.service.uploadCode(req.body));
  });
}

/** `POST /api/v1/functions/{name}/invoke`: the function sees `POST /` with the body and query. Raw body; registered in the invoke scope. */
export function apiInvokeRoute(app: FastifyInstance, ctx: GatewayContext): void {
  app.post('/api/v1/functions/:name/invoke', { config: { auth: 'function' } }, invokeHandler(ctx, (url) => {
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    return { name: decodeURIComponent(path.slice('/api/v1/functions/'.length, path.length - '/invoke'.length)), path: q < 0 ? '/' : `/${url.slice(q)}` };
  }));
}
