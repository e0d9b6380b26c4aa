/**
 * What only the dashboard reads: live metrics history and summary
 * (`/api/v1/metrics/history`, `/api/v1/metrics/summary`) and the function templates
 * (`/api/v1/templates`). Read scope, like the rest of the status API.
 */
import type { FastifyInstance } from 'fastify';
import { KssError } from '../../core/index.js';
import { listTemplates } from '../../build/templates.js';
import type { GatewayContext } from '../context.js';
import { refParam } from './namespace-param.js';

export function dashboardDataRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  const history = ctx.history;
  if (history) {
    app.get('/api/v1/metrics/history', { config: { auth: 'read' } }, async (req) => {
      const q = (req.query ?? {}) as Record<string, unknown>;
      if (q.function === undefined) {
        if (q.namespace !== undefined) throw new KssError('KSS_BAD_REQUEST', 'namespace: only with function=NAME');
        return history.history();
      }
      if (typeof q.function !== 'string') throw new KssError('KSS_BAD_REQUEST', 'function: one function name');
      const ref = refParam(q.function, req.query);
      // A typo is a 404, not an empty chart.
      if (!ctx.service.lookup(ref)) throw new KssError('KSS_FUNCTION_NOT_FOUND', `function "${ref.name}" not found in namespace "${ref.namespace}"; see \`kss list\``);
      return history.history(ref);
    });

    app.get('/api/v1/metrics/summary', { config: { auth: 'read' } }, async () => {
      const { windowSeconds, items } = history.summary();
      const known = items.filter((i) => ctx.service.lookup(i) !== undefined);
      return {
        windowSeconds,
        items: known.map((i) => {
          const last = ctx.service.lastRequestAt(i);
          return { ...i, ...(last ? { lastInvokedAt: new Date(last).toISOString() } : {}) };
        }),
      };
    });
  }

  // Read once: templates ship with the gateway and do not change while it runs.
  let templates: ReturnType<typeof listTemplates> | undefined;
  app.get('/api/v1/templates', { config: { auth: 'read' } }, async () => ({ items: (templates ??= listTemplates()) }));
}
