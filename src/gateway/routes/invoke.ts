/**
 * `ANY /function/{name}[.{namespace}][/{path}]`: the synchronous invoke route. The
 * request is hijacked from fastify so its body streams straight to the replica and
 * the reply streams straight back; nothing is buffered whole.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { assertRevisionId, KssError, parseQualifiedName, type FunctionRef } from '../../core/index.js';
import { forwardableRawHeaders } from '../../invoke/index.js';
import type { GatewayContext } from '../context.js';
import { writeRawError } from '../errors.js';
import { toKssError } from '../errors.js';
import { namespaceParam } from './namespace-param.js';
import { requireScope, SESSION_COOKIE, withoutSessionCookie } from '../auth/index.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;
const PREFIX = '/function/';

export function invokeRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  const handler = invokeHandler(ctx, splitFunctionUrl);
  app.route({ method: [...METHODS], url: '/function/:name', config: { auth: 'function' }, handler });
  app.route({ method: [...METHODS], url: '/function/:name/*', config: { auth: 'function' }, handler });
}

/** Splits `/function/name.ns/a/b?x=1` into the qualified name and `/a/b?x=1`, keeping the path's encoding. */
export function splitFunctionUrl(url: string): { name: string; path: string } {
  const rest = url.slice(PREFIX.length);
  const cut = rest.search(/[/?]/);
  if (cut < 0) return { name: decodeURIComponent(rest), path: '/' };
  const tail = rest.slice(cut);
  return { name: decodeURIComponent(rest.slice(0, cut)), path: tail.startsWith('?') ? `/${tail}` : tail };
}

/**
 * What every invocation (sync or async) passes before it runs: the function exists, the
 * caller may invoke it (`kss.auth: token`), and its rate limits allow one more.
 */
export function admitInvocation(ctx: GatewayContext, request: FastifyRequest, qualified: string): FunctionRef & { revision?: string } {
  // `NAME@r3` (or `NAME.NS@r3`) pins the request to one revision of the split.
  const at = qualified.lastIndexOf('@');
  const name = at < 0 ? qualified : qualified.slice(0, at);
  const revision = at < 0 ? undefined : qualified.slice(at + 1);
  if (revision !== undefined) assertRevisionId(revision, 'revision (after @ in the URL)');
  // A namespace in `?namespace=` applies only when the name has none of its own.
  const ref = parseQualifiedName(name, name.includes('.') ? undefined : namespaceParam(request.query));
  const fn = ctx.service.lookup(ref);
  if (!fn) throw new KssError('KSS_FUNCTION_NOT_FOUND', `function "${ref.name}" not found in namespace "${ref.namespace}"; see \`kss list\``);
  const { policy } = fn;
  if (policy.auth === 'token') requireScope(request.principal, 'invoke');
  const fnKey = `fn:${ref.namespace}/${ref.name}|`;
  if (policy.rate) ctx.limiter.take(fnKey, policy.rate, `function "${ref.name}"`);
  if (policy.clientRate) ctx.limiter.take(`${fnKey}${request.principal?.id ?? `ip:${request.ip}`}`, policy.clientRate, `each client of function "${ref.name}"`);
  return revision === undefined ? ref : { ...ref, revision };
}

/** Builds a hijacking handler that invokes the function named in the URL. */
export function invokeHandler(ctx: GatewayContext, split: (url: string) => { name: string; path: string }) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const raw = request.raw;
    const { name, path } = split(raw.url ?? '/');
    const { revision, ...ref } = admitInvocation(ctx, request, name);
    const lengthHeader = raw.headers['content-length'];
    const contentLength = lengthHeader === undefined ? undefined : Number(lengthHeader);
    if (contentLength !== undefined && !Number.isSafeInteger(contentLength)) throw new KssError('KSS_BAD_REQUEST', 'Content-Length is not a number');
    // Platform credentials (the admin password, a kss token) are for the platform: no
    // function ever sees them. Any other Authorization header is the function's own business.
    const platformCredentials = request.principal !== undefined && ctx.authenticator.enabled;
    let headers = platformCredentials ? withoutAuthorization(forwardableRawHeaders(raw.rawHeaders)) : forwardableRawHeaders(raw.rawHeaders);
    // The dashboard's session cookie is the platform's too. A browser logged in to the
    // dashboard that loads a function's page gets that page sandboxed (an opaque origin),
    // so the function's scripts cannot use the session against the admin API.
    const sessionCookie = raw.headers.cookie !== undefined && raw.headers.cookie.includes(`${SESSION_COOKIE}=`);
    if (sessionCookie) headers = withoutSessionCookieHeader(headers);
    headers.push('X-Forwarded-For', request.ip, 'X-Forwarded-Proto', request.protocol);
    if (raw.headers.host) headers.push('X-Forwarded-Host', raw.headers.host);

    const hasBody = contentLength !== undefined ? contentLength > 0 : raw.headers['transfer-encoding'] !== undefined;

    reply.hijack();
    const res = reply.raw;
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const started = process.hrtime.bigint();
    try {
      await ctx.invoker.invoke(
        ref,
        { method: raw.method ?? 'GET', path, headers, body: hasBody ? raw : null, contentLength, ...(revision ? { revision } : {}) },
        (status, fnHeaders) => {
          fnHeaders['x-duration-seconds'] = (Number(process.hrtime.bigint() - started) / 1e9).toFixed(6);
          if (sessionCookie) fnHeaders['content-security-policy'] = [fnHeaders['content-security-policy'] ?? [], SANDBOX_CSP].flat();
          res.writeHead(status, fnHeaders);
          return res;
        },
        abort,
      );
    } catch (err) {
      const { error, internal } = toKssError(err);
      if (internal) ctx.logger.error({ err }, 'invoke failed');
      if (!abort.signal.aborted || error.code !== 'KSS_CLIENT_CLOSED') writeRawError(res, error);
      // Unread request bytes would otherwise keep the connection busy.
      if (!raw.complete) raw.resume();
    }
  };
}

/** What a function's response gets when the request carried the dashboard session (see above). */
export const SANDBOX_CSP = 'sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads';

/** A raw header list with the session cookie taken out of every Cookie header. */
function withoutSessionCookieHeader(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== 'cookie') {
      out.push(raw[i]!, raw[i + 1]!);
      continue;
    }
    const rest = withoutSessionCookie(raw[i + 1]!);
    if (rest !== undefined) out.push(raw[i]!, rest);
  }
  return out;
}

function withoutAuthorization(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() !== 'authorization') out.push(raw[i]!, raw[i + 1]!);
  return out;
}
