/**
 * Property-based fuzzing of every API route (fast-check): random methods, names,
 * paths, queries, headers, credentials and bodies (JSON specs with wrong types,
 * YAML, random text and bytes). Properties: no 5xx from the platform, every error
 * is a catalogue error, the gateway never crashes, and a rejected request leaves
 * the stored state exactly as it was.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import fc from 'fast-check';
import { Pool } from 'undici';
import { isErrorCode } from '../src/core/index.js';
import { deployFunction, ECHO_HANDLER, startTestPlatform, type TestPlatform } from './helpers.js';

/** Cases per run: 10,000 in CI as the issue asks; fewer locally unless KSS_FUZZ_RUNS says otherwise. */
const RUNS = Number(process.env.KSS_FUZZ_RUNS ?? (process.env.CI ? 10_000 : 2_000));

let p: TestPlatform;
let pool: Pool;
let codeDigest: string;
let readToken: string;

before(async () => {
  p = await startTestPlatform({ maxBodyBytes: 64 * 1024 });
  await deployFunction(p.client, 'echo', { 'handler.js': ECHO_HANDLER });
  codeDigest = (await p.client.getFunction('echo')).code!;
  readToken = (await p.client.createToken({ name: 'fuzz-read', scopes: ['read'] })).token;
  pool = new Pool(p.url, { connections: 4 });
});
after(async () => {
  await pool.close();
  await p.close();
});

/** Stored state a rejected request must not change: specs, tokens. */
async function snapshot(): Promise<string> {
  const fns = (await p.service.list()).map((f) => ({ name: f.name, ns: f.namespace, code: f.code, env: f.envVars, labels: f.labels, annotations: f.annotations, updatedAt: f.updatedAt }));
  // lastUsedAt is usage bookkeeping, written on authentication even when the route then rejects.
  return JSON.stringify({ fns, tokens: p.tokens.list().map(({ lastUsedAt: _, ...t }) => t) });
}

const names = fc.oneof(
  fc.constantFrom('echo', 'fuzz-a', 'fuzz-b', 'nope', 'echo.openfaas-fn', 'echo.dev', 'a.b.c', '', '..', '%2e%2e', 'A', '-x', 'x'.repeat(70)),
  fc.string({ maxLength: 20 }).map(encodeURIComponent),
);
const jsonValue = fc.jsonValue({ maxDepth: 3 });
const specLike = fc.record(
  {
    service: fc.oneof(fc.constantFrom('fuzz-a', 'fuzz-b', 'echo', 'Bad', ''), fc.string({ maxLength: 12 }), jsonValue),
    namespace: fc.oneof(fc.constantFrom('openfaas-fn', 'dev', 'BAD', ''), jsonValue),
    image: fc.oneof(fc.string({ maxLength: 30 }), jsonValue),
    runtime: fc.oneof(fc.constantFrom('node', 'python', 'cobol'), jsonValue),
    code: fc.oneof(fc.constant(''), fc.string({ maxLength: 80 }), fc.constant(`sha256:${'0'.repeat(64)}`), jsonValue),
    handler: fc.oneof(fc.constantFrom('handler.js', '../x', '/etc/passwd', 'a/../../b'), jsonValue),
    timeout: fc.oneof(fc.constantFrom('1s', '0', '-5', '10h', 30), jsonValue),
    envVars: fc.oneof(fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 8 }), jsonValue), { maxKeys: 3 }), jsonValue),
    labels: fc.oneof(fc.constant({ 'com.openfaas.scale.min': 'x' }), fc.constant({ 'com.openfaas.scale.min': '50', 'com.openfaas.scale.max': '1' }), fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }), jsonValue),
    annotations: fc.oneof(fc.constant({ 'kss.auth': 'maybe' }), fc.constant({ 'kss.ratelimit': '0/s' }), jsonValue),
    limits: fc.oneof(fc.record({ memory: fc.string({ maxLength: 8 }), cpu: fc.oneof(fc.string({ maxLength: 8 }), jsonValue) }), jsonValue),
    secrets: fc.oneof(fc.array(fc.string({ maxLength: 8 }), { maxLength: 2 }), jsonValue),
    functionName: fc.oneof(fc.constantFrom('echo', 'nope', 'fuzz-a'), jsonValue),
    scopes: fc.oneof(fc.constant(['read']), fc.constant(['root']), jsonValue),
    name: fc.oneof(fc.string({ maxLength: 70 }), jsonValue),
    expires: fc.oneof(fc.constantFrom('30d', '0d', '1y', ''), jsonValue),
  },
  { requiredKeys: [] },
);
const body = fc.oneof(
  specLike.map((o) => ({ type: 'application/json', data: JSON.stringify(o) })),
  jsonValue.map((v) => ({ type: 'application/json', data: JSON.stringify(v) })),
  fc.string({ maxLength: 200 }).map((s) => ({ type: 'application/json', data: s })),
  specLike.map((o) => ({ type: 'application/yaml', data: Object.entries(o).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join('\n') })),
  fc.string({ maxLength: 200 }).map((s) => ({ type: 'application/yaml', data: s })),
  fc.uint8Array({ maxLength: 300 }).map((b) => ({ type: 'application/gzip', data: Buffer.from(b) })),
  fc.uint8Array({ maxLength: 300 }).map((b) => ({ type: 'application/octet-stream', data: Buffer.from(b) })),
  fc.constant({ type: 'text/plain', data: '' }),
  fc.constant({ type: 'application/json', data: 'x'.repeat(70 * 1024) }),
);

test(`fuzzing every API route (${RUNS} cases): no 5xx, catalogue errors, no state change on rejection`, async () => {
  const routes = p.app.kssRoutes.filter((r) => r.method !== 'HEAD');
  const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];
  const arbitrary = fc.record({
    route: fc.constantFrom(...routes),
    method: fc.option(fc.constantFrom(...methods), { freq: 5 }),
    name: names,
    suffix: fc.oneof(fc.constant(''), fc.constantFrom('/a/b', '/%00', '/../../etc', '?x=1&x=2'), fc.string({ maxLength: 10 }).map((s) => `/${encodeURIComponent(s)}`)),
    query: fc.dictionary(fc.constantFrom('namespace', 'limit', 'since', 'x'), fc.oneof(fc.constantFrom('dev', 'openfaas-fn', 'BAD', '0', '5000', '2026-01-01'), fc.string({ maxLength: 10 })), { maxKeys: 2 }),
    auth: fc.constantFrom('admin', 'none', 'garbage', 'read', 'bearer-junk'),
    body: fc.option(body, { freq: 4 }),
    useRealCode: fc.boolean(),
    extraHeader: fc.option(fc.tuple(fc.constantFrom('x-fuzz', 'x-forwarded-for', 'origin', 'x-kss-error', 'accept'), fc.string({ maxLength: 20 }).filter((s) => /^[\x20-\x7e]*$/.test(s)))),
  });

  let n = 0;
  await fc.assert(
    fc.asyncProperty(arbitrary, async (c) => {
      n++;
      const method = c.method ?? c.route.method;
      const q = new URLSearchParams(c.query).toString();
      const path = `${c.route.url.replace(':name', c.name).replace(':id', c.name).replace('/*', c.suffix)}${q ? `?${q}` : ''}`;
      const headers: Record<string, string> = {};
      if (c.auth === 'admin') headers.authorization = p.adminAuth!;
      else if (c.auth === 'garbage') headers.authorization = 'Basic !!!garbage';
      else if (c.auth === 'read') headers.authorization = `Bearer ${readToken}`;
      else if (c.auth === 'bearer-junk') headers.authorization = 'Bearer kss_000000000000_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx';
      let data: string | Buffer | undefined;
      if (c.body && !['GET', 'HEAD'].includes(method)) {
        headers['content-type'] = c.body.type;
        data = typeof c.body.data === 'string' && c.useRealCode ? c.body.data.replaceAll(`sha256:${'0'.repeat(64)}`, codeDigest) : c.body.data;
      }
      // (Framing headers are left to undici: it refuses a wrong Content-Length or an Expect itself,
      // and a refused request can wedge its pool. Malformed framing is covered in bad-input.test.ts.)
      if (c.extraHeader) headers[c.extraHeader[0]] = c.extraHeader[1];
      if (process.env.KSS_FUZZ_TRACE) appendFileSync(process.env.KSS_FUZZ_TRACE, `${n} ${method} ${path} ${c.body?.type ?? '-'} ${data?.length ?? 0}\n`);
      const before = await snapshot();
      let status: number;
      let text: string;
      let resHeaders: Record<string, string | string[] | undefined>;
      try {
        // Bounded: a request the gateway never answers fails the property (it is a hang).
        const res = await pool.request({ method: method as 'GET', path, headers, body: data, headersTimeout: 15_000, bodyTimeout: 15_000 });
        status = res.statusCode;
        resHeaders = res.headers;
        text = await res.body.text();
      } catch (err) {
        // undici refuses some requests client-side (e.g. an invalid path); the gateway saw nothing.
        if ((err as { code?: string }).code === 'UND_ERR_INVALID_ARG') return;
        throw new Error(`${method} ${path} (${JSON.stringify(headers)}, body ${data?.length ?? 0} bytes): ${(err as Error).message}`);
      }
      const where = `${method} ${path} → ${status} ${text.slice(0, 300)}`;
      const platformError = resHeaders['x-kss-error'];
      if (status >= 500) {
        // Only the invoke path may answer 5xx, and only as a catalogue error (502/503/504).
        assert.ok(platformError && [502, 503, 504].includes(status), where);
      }
      if (status >= 400 && platformError) {
        const parsed = JSON.parse(text) as { code: unknown; message: unknown };
        assert.ok(isErrorCode(parsed.code), where);
        assert.equal(parsed.code, platformError, where);
        assert.doesNotMatch(String(parsed.message), /\n\s+at |node_modules|\/work\//, where);
      }
      if (status >= 400) assert.equal(await snapshot(), before, `state changed after a rejected request: ${where}`);
    }),
    { numRuns: RUNS, includeErrorInReport: true, seed: Number(process.env.KSS_FUZZ_SEED ?? Date.now() % 2 ** 31), endOnFailure: true },
  );
  assert.equal(n, RUNS);
  // Still alive and serving.
  assert.equal((await fetch(`${p.url}/healthz`)).status, 200);
  if ((await p.service.list()).some((f) => f.name === 'echo')) assert.equal((await fetch(`${p.url}/function/echo`)).status, 200);
});
