/**
 * `GET /api/v1/triggers[?function=NAME[.NAMESPACE]&namespace=NS]`: every trigger of every
 * deployed function and its state (connected, disconnected with the reason, scheduled
 * with the next run), with message counters. Read scope; no credentials in it (broker
 * URLs carry none, credentials are secret names).
 */
import type { FastifyInstance } from 'fastify';
import { assertValidName, assertValidNamespace, parseQualifiedName } from '../../core/index.js';
import type { GatewayContext } from '../context.js';

export function apiTriggerRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  const triggers = ctx.triggers;
  if (!triggers) return;
  app.get<{ Querystring: Record<string, string | undefined> }>('/api/v1/triggers', { config: { auth: 'read' } }, async (req) => {
    const q = req.query;
    const filter: { name?: string; namespace?: string } = {};
    if (q.namespace) {
      assertValidNamespace(q.namespace);
      filter.namespace = q.namespace;
    }
    if (q.function) {
      if (q.function.includes('.')) {
        const ref = parseQualifiedName(q.function);
        filter.name = ref.name;
        filter.namespace = ref.namespace;
      } else {
        assertValidName(q.function, 'function');
        filter.name = q.function;
      }
    }
    return { triggers: triggers.list(filter) };
  });
}
