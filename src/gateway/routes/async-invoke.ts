/**
 * `POST /async-function/{name}[.{namespace}][/{path}]` (OpenFaaS' async route) → 202 with
 * `X-Call-Id` once the call is durably queued; and the calls API:
 * `GET /api/v1/calls?function=&namespace=&state=&limit=`, `GET /api/v1/calls/{id}`,
 * `POST /api/v1/calls/{id}/replay`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { forwardableRawHeaders } from '../../invoke/index.js';
import type { StoredRequest } from '../../queue/index.js';
import type { GatewayContext } from '../context.js';
import { withoutSessionCookie } from '../auth/index.js';
import { admitInvocation, splitFunctionUrl } from './invoke.js';

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;
const PREFIX = '/async-function/';

export function asyncInvokeRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  const calls = ctx.calls;
  if (!calls) return;
  void app.register(async (scope) => {
    // The body is the function's, byte for byte: no parsing, whatever its type.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: ctx.maxAsyncBodyBytes }, (_req, body, done) => done(null, body));
    const handler = async (request: FastifyRequest, reply: import('fastify').FastifyReply) => {
      const raw = request.raw;
      const { name, path } = splitFunctionUrl(`/function/${(raw.url ?? '/').slice(PREFIX.length)}`);
      const { revision, ...ref } = admitInvocation(ctx, request, name);
      const callbackUrl = calls.checkCallback(headerValue(raw.headers['x-callback-url']));
      const q = path.indexOf('?');
      const stored: StoredRequest = {
        method: raw.method ?? 'POST',
        path: q < 0 ? path : path.slice(0, q),
        query: q < 0 ? '' : path.slice(q + 1),
        // A pin in the URL (`NAME@r3`) travels with the call as the header the invoke path reads.
        headers: { ...storedHeaders(raw.rawHeaders, request.principal !== undefined && ctx.authenticator.enabled, request.ip, request.protocol), ...(revision ? { 'x-kss-revision': revision } : {}) },
        body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
      };
      const id = await calls.accept(ref, stored, callbackUrl);
      void reply.code(202).header('X-Call-Id', id).header('Location', `/api/v1/calls/${id}`);
      return '';
    };
    scope.route({ method: [...METHODS], url: '/async-function/:name', config: { auth: 'function' }, handler });
    scope.route({ method: [...METHODS], url: '/async-function/:name/*', config: { auth: 'function' }, handler });
  });
}

/** The calls API (admin scope): list, show, replay. */
export function callRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  const calls = ctx.calls;
  if (!calls) return;
  app.get<{ Querystring: Record<string, string> }>('/api/v1/calls', { config: { auth: 'read' } }, async (req) => ({ items: await calls.list(req.query) }));
  app.get<{ Params: { id: string } }>('/api/v1/calls/:id', { config: { auth: 'read' } }, async (req) => calls.get(req.params.id));
  app.post<{ Params: { id: string } }>('/api/v1/calls/:id/replay', { config: { auth: 'deploy', audit: 'call.replay' } }, async (req, reply) => {
    const view = await calls.replay(req.params.id);
    void reply.code(202).header('X-Call-Id', view.id);
    return view;
  });
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The headers kept with a call: what a synchronous invocation would forward (no
 * hop-by-hop headers, no platform credentials), minus the callback URL, plus the
 * forwarding headers. Repeated headers are joined with ", ".
 */
function storedHeaders(rawHeaders: string[], platformCredentials: boolean, ip: string, protocol: string): Record<string, string> {
  const list = forwardableRawHeaders(rawHeaders);
  const out: Record<string, string> = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!.toLowerCase();
    if (name === 'x-callback-url' || name === 'content-length' || (platformCredentials && name === 'authorization')) continue;
    // The dashboard's session cookie never reaches a function, sync or async.
    const value = name === 'cookie' ? withoutSessionCookie(list[i + 1]!) : list[i + 1]!;
    if (value === undefined) continue;
    out[name] = out[name] === undefined ? value : `${out[name]}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  out['x-forwarded-for'] = ip;
  out['x-forwarded-proto'] = protocol;
  return out;
}
