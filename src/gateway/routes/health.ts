import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../context.js';

/** `GET /healthz` (OpenFaaS) and `GET /system/info`. */
export function healthRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  app.get('/healthz', { config: { auth: 'public' } }, async (_req, reply) => reply.type('text/plain').send('OK'));
  app.get('/system/info', { config: { auth: 'read' } }, async () => ctx.service.info());
}
