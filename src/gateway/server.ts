/**
 * The HTTP edge. `createGateway` wires hooks and routes onto fastify; it owns no
 * state of its own: the service layer, the invoker, auth and limits are passed in.
 */
import { parseJsonBody } from './json-body.js';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { KssError } from '../core/index.js';
import { CSRF_HEADER, installAuth } from './auth/index.js';
import type { GatewayContext } from './context.js';
import { errorHeaders, toKssError } from './errors.js';
import { apiFunctionRoutes, apiInvokeRoute } from './routes/api-functions.js';
import { adminRoutes } from './routes/admin.js';
import { healthRoutes } from './routes/health.js';
import { invokeRoutes } from './routes/invoke.js';
import { asyncInvokeRoutes, callRoutes } from './routes/async-invoke.js';
import { systemLogRoutes } from './routes/system-logs.js';
import { apiTriggerRoutes } from './routes/api-triggers.js';
import { apiRevisionRoutes } from './routes/api-revisions.js';
import { systemFunctionRoutes } from './routes/system-functions.js';
import { systemSecretRoutes } from './routes/system-secrets.js';
import { sessionRoutes } from './routes/session.js';
import { dashboardDataRoutes } from './routes/dashboard-data.js';
import { uiRoutes } from './routes/ui.js';

export interface GatewayOptions extends GatewayContext {
  /** Largest JSON/YAML body on management routes (default 1 MiB). */
  maxJsonBytes?: number;
  /** Time a client has to send its request headers (slowloris guard; default 10 s). */
  headersTimeoutMs?: number;
  /** Serve HTTPS with this key and certificate (PEM). */
  tls?: { key: Buffer; cert: Buffer };
  /** Origins allowed to call the management API from a browser; CORS is off when empty. */
  corsOrigins?: string[];
}

/** Headers on every response the gateway itself makes (not on a function's own replies). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
});

export function createGateway(options: GatewayOptions): FastifyInstance {
  const headersTimeout = options.headersTimeoutMs ?? 10_000;
  const serverOptions = {
    headersTimeout,
    // Whole-request limits would cut long functions short; their own timeout governs the invoke path.
    requestTimeout: 0,
    keepAliveTimeout: 75_000,
    // How often Node checks the headers timeout: a fifth of it, so a slow client is closed within 1.2× the limit.
    connectionsCheckingInterval: Math.max(100, Math.floor(headersTimeout / 5)),
  };
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    // No per-request log lines: they would cost more than the proxying on the invoke hot path.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.maxJsonBytes ?? 1024 * 1024,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
    serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) =>
      options.tls ? createHttpsServer({ ...serverOptions, key: options.tls.key, cert: options.tls.cert }, handler) : createHttpServer(serverOptions, handler),
  });

  app.setErrorHandler((err, req, reply) => {
    const { error, internal } = toKssError(err);
    if (internal) req.log.error({ err }, 'unhandled error in a route');
    void reply.code(error.status).headers(errorHeaders(error, req.headers[CSRF_HEADER] !== '1')).send(error.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    const error = new KssError('KSS_ROUTE_NOT_FOUND', `no route for ${req.method} ${req.url.split('?')[0]!.slice(0, 200)}`);
    void reply.code(404).headers(errorHeaders(error)).send(error.toJSON());
  });

  installAuth(app, { authenticator: options.authenticator, audit: options.audit, sessions: options.sessions });
  installClientLimit(app, options);
  installCors(app, options.corsOrigins ?? []);

  // Management API: JSON (also without a Content-Type, as some clients send), YAML, and archives for code upload.
  void app.register(async (scope) => {
    scope.addHook('onSend', async (_req, reply) => {
      reply.headers(SECURITY_HEADERS);
    });
    scope.removeContentTypeParser(['application/json', 'text/plain']);
    scope.addContentTypeParser(['application/json', 'text/plain', '*'], { parseAs: 'string' }, (_req, body, done) => {
      try {
        done(null, parseJsonBody(String(body)));
      } catch (err) {
        done(err as KssError);
      }
    });
    scope.addContentTypeParser(['application/yaml', 'application/x-yaml', 'text/yaml'], { parseAs: 'string' }, (_req, body, done) => {
      try {
        done(null, parseYaml(String(body), { maxAliasCount: 100 }));
      } catch (err) {
        const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : '';
        done(new KssError('KSS_INVALID_YAML', `body: not valid YAML${where}`));
      }
    });
    scope.addContentTypeParser(['application/gzip', 'application/x-gzip', 'application/octet-stream'], { parseAs: 'buffer', bodyLimit: options.maxCodeBytes }, (_req, body, done) => done(null, body));
    healthRoutes(scope, options);
    systemFunctionRoutes(scope, options);
    systemSecretRoutes(scope, options);
    apiFunctionRoutes(scope, options);
    adminRoutes(scope, options);
    callRoutes(scope, options);
    systemLogRoutes(scope, options);
    apiTriggerRoutes(scope, options);
    apiRevisionRoutes(scope, options);
    sessionRoutes(scope, options);
    dashboardDataRoutes(scope, options);
  });

  // The dashboard's static files, with their own security headers (a CSP that lets its scripts run).
  void app.register(async (scope) => uiRoutes(scope, { uiDir: options.uiDir }));

  // Data path: bodies are not parsed; the invoke handler streams them.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null));
    invokeRoutes(scope, options);
    asyncInvokeRoutes(scope, options);
    apiInvokeRoute(scope, options);
  });

  return app;
}

/** The gateway-wide per-client limit (after auth, so a token is its own client). */
function installClientLimit(app: FastifyInstance, ctx: GatewayContext): void {
  const rate = ctx.clientRate;
  if (!rate) return;
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config?.auth === 'public') return;
    const client = request.principal?.id ?? `ip:${request.ip}`;
    ctx.limiter.take(`client:${client}`, rate, 'this client');
  });
}

/** CORS for the management API, only for the configured origins; functions answer their own preflights. */
function installCors(app: FastifyInstance, origins: string[]): void {
  if (origins.length === 0) return;
  const allowed = new Set(origins);
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (!origin || !allowed.has(origin) || request.url.startsWith('/function/')) return;
    reply.header('access-control-allow-origin', origin).header('vary', 'Origin').header('access-control-allow-credentials', 'true');
  });
  app.options('/system/*', { config: { auth: 'public' } }, async (request, reply) => preflight(request.headers.origin, allowed, reply));
  app.options('/api/*', { config: { auth: 'public' } }, async (request, reply) => preflight(request.headers.origin, allowed, reply));
}

function preflight(origin: string | undefined, allowed: Set<string>, reply: import('fastify').FastifyReply) {
  if (!origin || !allowed.has(origin)) return reply.code(204).send();
  return reply
    .code(204)
    .header('access-control-allow-methods', 'GET, POST, PUT, DELETE')
    .header('access-control-allow-headers', 'authorization, content-type')
    .header('access-control-max-age', '600')
    .send();
}
