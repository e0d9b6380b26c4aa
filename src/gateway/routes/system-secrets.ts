/**
 * The OpenFaaS secrets API, `/system/secrets` (faas-provider's SecretsHandler):
 * `GET ?namespace=` → 200 `[{"name", "namespace", "createdAt", "updatedAt"}]`;
 * `POST {"name", "value" | "rawValue", "namespace"?}` → 201; `PUT` the same → 200
 * (404 when missing); `DELETE {"name", "namespace"?}` → 202 (404 when missing, 409
 * when a function uses it). Status codes: 201 and 200 are the gateway spec's (faas-cli
 * accepts 200/201/202 and 200/202); DELETE answers faas-netes' 202 rather than the
 * spec's 204, because faas-cli's `secret remove` reports any status but 200 and 202
 * as a failure. No route ever returns a value.
 *
 * These routes parse JSON in a scope of their own: the management scope's parser
 * quotes V8's message, which for some malformed bodies includes a slice of the body,
 * and here the body holds a secret.
 */
import { parseJsonBody } from '../json-body.js';
import type { FastifyInstance } from 'fastify';
import { KssError } from '../../core/index.js';
import type { GatewayContext } from '../context.js';
import { namespaceParam, optionalNamespaceParam } from './namespace-param.js';

export function systemSecretRoutes(app: FastifyInstance, ctx: GatewayContext): void {
  void app.register(async (scope) => {
    // Archives are not secrets: those types fall to the JSON parser and the 1 MiB body limit.
    scope.removeContentTypeParser(['application/json', 'text/plain', '*', 'application/gzip', 'application/x-gzip', 'application/octet-stream']);
    scope.addContentTypeParser(['application/json', 'text/plain', '*'], { parseAs: 'string' }, (_req, body, done) => {
      try {
        done(null, parseJsonBody(String(body)));
      } catch (err) {
        done(err as KssError);
      }
    });

    scope.get('/system/secrets', { config: { auth: 'read' } }, async (req) => ctx.secrets.list(namespaceParam(req.query)));

    scope.post('/system/secrets', { config: { auth: 'deploy', audit: 'secret.create' } }, async (req, reply) => {
      await ctx.secrets.create(req.body, optionalNamespaceParam(req.query));
      return reply.code(201).send();
    });

    scope.put('/system/secrets', { config: { auth: 'deploy', audit: 'secret.update' } }, async (req, reply) => {
      await ctx.secrets.update(req.body, optionalNamespaceParam(req.query));
      return reply.code(200).send();
    });

    scope.delete('/system/secrets', { config: { auth: 'deploy', audit: 'secret.remove' } }, async (req, reply) => {
      await ctx.secrets.remove(req.body, optionalNamespaceParam(req.query));
      return reply.code(202).send();
    });
  });
}
