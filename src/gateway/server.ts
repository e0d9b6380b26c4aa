/**
 * The HTTP edge. `createGateway` wires routes onto fastify; it owns no state of its
 * own: the service layer, the invoker and the logger are passed in.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { KssError } from '../core/index.js';
import type { GatewayContext } from './context.js';
import { errorHeaders, toKssError } from './errors.js';
import { apiFunctionRoutes, apiInvokeRoute } from './routes/api-functions.js';
import { healthRoutes } from './routes/health.js';
import { invokeRoutes } from './routes/invoke.js';
import { systemFunctionRoutes } from './routes/system-functions.js';

export interface GatewayOptions extends GatewayContext {
  /** Largest JSON/YAML body on management routes (default 1 MiB). */
  maxJsonBytes?: number;
}

export function createGateway(options: GatewayOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    // No per-request log lines: they would cost more than the proxying on the invoke hot path.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.maxJsonBytes ?? 1024 * 1024,
    return503OnClosing: true,
    // Slow clients cannot hold a socket forever (slowloris); long functions are governed by their own timeout.
    requestTimeout: 0,
    connectionTimeout: 0,
    keepAliveTimeout: 75_000,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
  });

  app.setErrorHandler((err, req, reply) => {
    const { error, internal } = toKssError(err);
    if (internal) req.log.error({ err }, 'unhandled error in a route');
    void reply.code(error.status).headers(errorHeaders(error)).send(error.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    const error = new KssError('KSS_ROUTE_NOT_FOUND', `no route for ${req.method} ${req.url.split('?')[0]!.slice(0, 200)}`);
    void reply.code(404).headers(errorHeaders(error)).send(error.toJSON());
  });

  // Management API: JSON (also without a Content-Type, as some clients send), YAML, and archives for code upload.
  void app.register(async (scope) => {
    scope.removeContentTypeParser(['application/json', 'text/plain']);
    scope.addContentTypeParser(['application/json', 'text/plain', '*'], { parseAs: 'string' }, (_req, body, done) => {
      const text = String(body);
      if (text.trim() === '') return done(null, undefined);
      try {
        done(null, JSON.parse(text));
      } catch (err) {
        done(new KssError('KSS_INVALID_JSON', `body: not valid JSON (${(err as Error).message.slice(0, 160)})`));
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
    apiFunctionRoutes(scope, options);
  });

  // Data path: bodies are not parsed; the invoke handler streams them.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null));
    invokeRoutes(scope, options);
    apiInvokeRoute(scope, options);
  });

  return app;
}
