/**
 * `GET /system/logs?name=&namespace=&instance=&tail=&since=&follow=` (OpenFaaS' logs
 * route): a function's replica output and platform events as NDJSON lines
 * `{name, namespace, instance, timestamp, text, stream}`; with `follow=true` the stream
 * stays open and new lines are written as they come.
 *
 * Platform events (and, on the local provider, every replica line) come from the
 * gateway's log store. A provider that keeps its replicas' output itself (Kubernetes:
 * the pod logs API; {@link FunctionLogSource}) is read too, and its lines are merged in
 * by time, `tail` cutting the merged result.
 */
import type { FastifyInstance } from 'fastify';
import { canReadFunctionLogs, KssError, parseQualifiedName, parseTimeout, type FunctionLogLine, type FunctionLogs, type FunctionRef } from '../../core/index.js';
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
    // Events that come while the replicas' logs are read are held, so none falls between read and follow.
    let held: FunctionLogLine[] | undefined = [];
    let write: (line: FunctionLogLine) => void = (line) => held?.push(line);
    const stopEvents = follow
      ? logs.follow(ref, (line) => {
          if (!query.instance || line.instance === query.instance) write(line);
        })
      : () => {};
    let stored: FunctionLogLine[];
    let replicas: FunctionLogs | undefined;
    try {
      stored = logs.read(ref, query);
      replicas = await readReplicaLogs(ctx, ref, query);
    } catch (err) {
      stopEvents();
      throw err;
    }
    if (replicas) stored = mergeByTime(stored, replicas.lines, query.tail);
    if (!ctx.service.lookup(ref) && stored.length === 0) {
      stopEvents();
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
    write = (line) => {
      if (!res.writableEnded) res.write(`${JSON.stringify(line)}\n`);
    };
    for (const line of held ?? []) write(line);
    held = undefined;
    const following = new AbortController();
    replicas?.follow(write, following.signal);
    // Keeps idle proxies from closing a quiet stream; ends with the client.
    const keepAlive = setInterval(() => res.write('\n'), 15_000);
    const stop = () => {
      clearInterval(keepAlive);
      stopEvents();
      following.abort();
    };
    res.once('close', stop);
    // The client may have gone while the logs were read.
    if (res.destroyed || req.raw.destroyed) stop();
  });
}

/** The provider's own replica logs, when it keeps them (Kubernetes). */
async function readReplicaLogs(ctx: GatewayContext, ref: FunctionRef, query: LogQuery): Promise<FunctionLogs | undefined> {
  return canReadFunctionLogs(ctx.provider) ? ctx.provider.functionLogs(ref, query) : undefined;
}

/** Two time-ordered lists as one (stable: equal times keep store lines first), cut to the last `tail`. */
function mergeByTime(a: FunctionLogLine[], b: FunctionLogLine[], tail: number | undefined): FunctionLogLine[] {
  const out: FunctionLogLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && Date.parse(a[i]!.timestamp) <= Date.parse(b[j]!.timestamp))) out.push(a[i++]!);
    else out.push(b[j++]!);
  }
  return tail !== undefined ? out.slice(Math.max(0, out.length - tail)) : out;
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
