import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../context.js';

/** `GET /healthz` (OpenFaaS) and `GET /system/info`. */
export function healthRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  app.get('/healthz', { config: { auth: 'public' } }, async (_req, reply) => reply.type('text/plain').send('OK'));
  // Public, as the OpenFaaS gateway's: Prometheus scrapes it without credentials. No label carries a secret.
  app.get('/metrics', { config: { auth: 'public' } }, async (_req, reply) => {
    const { contentType, body } = await ctx.metrics.render();
    return reply.type(contentType).send(body);
  });
  app.get('/system/info', { config: { auth: 'read' } }, async () => ctx.service.info());
}
