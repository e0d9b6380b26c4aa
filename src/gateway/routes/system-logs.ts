/**
 * `GET /system/logs?name=&namespace=&instance=&tail=&since=&follow=` (OpenFaaS' logs
 * route): a function's replica output and platform events as NDJSON lines
 * `{name, namespace, instance, timestamp, text, stream}`; with `follow=true` the stream
 * stays open and new lines are written as they come.
 */
import type { FastifyInstance } from 'fastify';
import { KssError, parseQualifiedName, parseTimeout } from '../../core/index.js';
import type { LogQuery } from '../../logs/index.js';
import type { GatewayContext } from '../context.js';

export function systemLogRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  const logs = ctx.logs;
  if (!logs) return;
  app.get<{ Querystring: Record<string, string | undefined> }>('/system/logs', { config: { auth: 'read' } }, async (req, reply) => {
    const q = req.query;
    if (!q.name) throw new KssError('KSS_BAD_REQUEST', 'name: the function whose logs to show is required (e.g. /system/logs?name=hello)');
    const ref = parseQualifiedName(q.name, q.name.includes('.') ? undefined : q.namespace || undefined);
    const query: LogQuery = {};
    if (q.instance) query.instance = q.instance;
    if (q.tail !== undefined && q.tail !== '') {
      if (!/^\d+$/.test(q.tail) || Number(q.tail) > 100_000) throw new KssError('KSS_BAD_REQUEST', 'tail: a whole number of lines from 0 to 100000');
      query.tail = Number(q.tail);
    }
    if (q.since) query.since = parseSince(q.since, ctx.clock.now());
    const follow = q.follow === 'true' || q.follow === '1';
    const stored = logs.read(ref, query);
    if (!ctx.service.lookup(ref) && stored.length === 0) {
      throw new KssError('KSS_FUNCTION_NOT_FOUND', `function "${ref.name}" not found in namespace "${ref.namespace}" and no logs are kept for it; see \`kss list\``);
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    for (const line of stored) res.write(`${JSON.stringify(line)}\n`);
    if (!follow) {
      res.end();
      return;
    }
    const stop = logs.follow(ref, (line) => {
      if (query.instance && line.instance !== query.instance) return;
      res.write(`${JSON.stringify(line)}\n`);
    });
    // Keeps idle proxies from closing a quiet stream; ends with the client.
    const keepAlive = setInterval(() => res.write('\n'), 15_000);
    res.once('close', () => {
      clearInterval(keepAlive);
      stop();
    });
  });
}

/** `since`: an RFC 3339 time, or a duration back from now (`10m`, `2h`, `30s`). */
function parseSince(raw: string, now: number): number {
  if (/^\d+(\.\d+)?(ms|s|m|h)$/.test(raw)) {
    try {
      return now - parseTimeout(raw) * 1000;
    } catch {
      // Over the longest timeout: fall through to the date form.
    }
  }
  const t = Date.parse(raw);
  if (!Number.isFinite(t)) throw new KssError('KSS_BAD_REQUEST', `since: "${raw.slice(0, 40)}" is neither an RFC 3339 time nor a duration such as 10m`);
  return t;
}
