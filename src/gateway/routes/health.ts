import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../context.js';
import { functionOf, type FunctionRef } from '../../core/index.js';

/** `GET /healthz` (OpenFaaS) and `GET /system/info`. */
export function healthRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  app.get('/healthz', { config: { auth: 'public' } }, async (_req, reply) => reply.type('text/plain').send('OK'));
  // Public, as the OpenFaaS gateway's: Prometheus scrapes it without credentials. No label carries a secret.
  app.get('/metrics', { config: { auth: 'public' } }, async (_req, reply) => {
    const { contentType, body } = await ctx.metrics.render();
    return reply.type(contentType).send(body);
  });
  app.get('/system/info', { config: { auth: 'read' } }, async () => ctx.service.info());
  // Prometheus HTTP service discovery (http_sd_configs): every ready replica's own /metrics,
  // labelled like the gateway's series, so one scrape job finds them all as they come and go.
  // Public like /metrics: it holds loopback addresses and function names, nothing else.
  app.get('/api/v1/metrics/targets', { config: { auth: 'public' } }, async () => {
    const groups = [];
    for (const s of await ctx.provider.list()) {
      for (const i of s.instances) {
        if (i.state !== 'ready' || !i.origin) continue;
        groups.push({
          targets: [new URL(i.origin).host],
          labels: { ...targetLabels(s.ref), namespace: s.ref.namespace, instance_id: i.id, __metrics_path__: '/metrics' },
        });
      }
    }
    return groups;
  });
}

/** A revision's deployment (NAME--rN) is labelled as its function, with the revision. */
function targetLabels(ref: FunctionRef): { function_name: string; revision?: string } {
  const { ref: fn, revision } = functionOf(ref);
  return { function_name: `${fn.name}.${fn.namespace}`, ...(revision ? { revision } : {}) };
}
