/**
 * The OpenFaaS-compatible API and the resource API over real sockets: shapes and
 * status codes checked against the OpenFaaS spec, requests and replies passed
 * through the invoke path unchanged, namespaces as OpenFaaS has them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { packDirectory } from '../src/archive/index.js';
import { deployFunction, ECHO_HANDLER, startTestPlatform, writeFunction, type TestPlatform } from './helpers.js';
import { documentedStatuses, validateAgainst } from './openapi-schema.js';

let p: TestPlatform;

before(async () => {
  p = await startTestPlatform();
  await deployFunction(p.client, 'echo', { 'handler.js': ECHO_HANDLER });
});
after(async () => {
  await p.close();
});

test('GET /system/functions and /system/function/{name} match the OpenFaaS FunctionStatus schema', async () => {
  const res = await p.api(`/system/functions`);
  assert.equal(res.status, 200);
  const list = (await res.json()) as unknown[];
  assert.ok(documentedStatuses('/system/functions', 'get').includes('200'));
  assert.equal(list.length, 1);
  assert.deepEqual(validateAgainst('FunctionStatus', list[0]), []);
  const one = (await (await p.api(`/system/function/echo`)).json()) as Record<string, unknown>;
  assert.deepEqual(validateAgainst('FunctionStatus', one), []);
  assert.equal(one.name, 'echo');
  assert.equal(one.namespace, 'openfaas-fn');
  assert.equal(one.replicas, 1);
  assert.equal(one.availableReplicas, 1);
  assert.equal(typeof one.invocationCount, 'number');
});

test('GET /system/info matches GatewayInfo; /healthz answers 200', async () => {
  const info = await (await p.api(`/system/info`)).json();
  assert.deepEqual(validateAgainst('GatewayInfo', info), []);
  assert.equal((info as { provider: { orchestration: string } }).provider.orchestration, 'local');
  const health = await p.api(`/healthz`);
  assert.equal(health.status, 200);
});

test('method, path suffix, query, headers and body pass through; status and headers come back', async () => {
  const body = randomBytes(4096);
  const res = await p.api(`/function/echo/some/path?x=1&y=two`, { method: 'PUT', body, headers: { 'x-custom': 'abc', 'content-type': 'application/octet-stream' } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-echo'), 'yes');
  assert.ok(res.headers.get('x-duration-seconds'));
  const echo = (await res.json()) as { method: string; path: string; query: Record<string, string>; headers: Record<string, string>; body: string };
  assert.equal(echo.method, 'PUT');
  assert.equal(echo.path, '/some/path');
  assert.deepEqual(echo.query, { x: '1', y: 'two' });
  assert.equal(echo.headers['x-custom'], 'abc');
  assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(Buffer.from(echo.body, 'base64').compare(body), 0);

  for (const method of ['GET', 'DELETE', 'PATCH', 'OPTIONS']) {
    const r = await p.api(`/function/echo?m=1`, { method });
    assert.equal(r.status, 200, method);
    const e = (await r.json()) as { method: string; path: string };
    assert.equal(e.method, method);
    assert.equal(e.path, '/');
  }
});

test('a large chunked body streams through without a Content-Length', async () => {
  const size = 8 * 1024 * 1024;
  const chunk = randomBytes(64 * 1024);
  const status = await new Promise<{ status: number; length: number }>((resolve, reject) => {
    const req = request(`${p.url}/function/echo`, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, length: Buffer.from((JSON.parse(text) as { body: string }).body, 'base64').length }));
    });
    req.on('error', reject);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
  assert.deepEqual(status, { status: 200, length: size });
});

test('the resource API: create, get, update, invoke, delete; YAML bodies accepted', async () => {
  const dir = writeFunction({ 'handler.js': 'export default async (req) => ({ got: await req.text(), v: 1 });' });
  const { digest } = await p.client.uploadCode(await packDirectory(dir));
  let res = await p.api(`/api/v1/functions`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: `service: api-fn\nruntime: node\ncode: ${digest}\nlabels:\n  team: a\n` });
  assert.equal(res.status, 201);
  assert.equal(res.headers.get('location'), '/api/v1/functions/api-fn?namespace=openfaas-fn');
  await p.client.waitReady('api-fn');
  res = await p.api(`/api/v1/functions/api-fn/invoke?q=1`, { method: 'POST', body: 'hi' });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { got: 'hi', v: 1 });

  const dir2 = writeFunction({ 'handler.js': 'export default async () => ({ v: 2 });' });
  const v2 = await p.client.uploadCode(await packDirectory(dir2));
  res = await p.api(`/api/v1/functions/api-fn`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ runtime: 'node', code: v2.digest }) });
  assert.equal(res.status, 200);
  const updated = (await res.json()) as { code: string; labels?: unknown };
  assert.equal(updated.code, v2.digest);
  // The new version serves once ready; the old one served until then.
  const deadline = Date.now() + 10_000;
  let seen = 0;
  while (Date.now() < deadline && seen !== 2) {
    seen = ((await (await p.api(`/function/api-fn`)).json()) as { v: number }).v;
  }
  assert.equal(seen, 2);

  const list = (await (await p.api(`/api/v1/functions`)).json()) as { items: Array<{ name: string }> };
  assert.deepEqual(list.items.map((i) => i.name).sort(), ['api-fn', 'echo']);
  res = await p.api(`/api/v1/functions/api-fn`, { method: 'DELETE' });
  assert.equal(res.status, 204);
  assert.equal((await p.api(`/api/v1/functions/api-fn`)).status, 404);
});

test('OpenFaaS management routes: POST 202, PUT 200, DELETE 200 with faas-cli bodies', async () => {
  const dir = writeFunction({ 'handler.js': 'module.exports = async (event, context) => context.status(201).headers({"x-of": "1"}).succeed({ body: event.body });' });
  const { digest } = await p.client.uploadCode(await packDirectory(dir));
  const deployment = { service: 'of-fn', image: 'functions/of-fn:latest', code: digest, runtime: 'node', labels: { 'com.openfaas.scale.min': '1' }, envVars: { A: 'b' } };
  let res = await p.api(`/system/functions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(deployment) });
  assert.equal(res.status, 202);
  assert.ok(documentedStatuses('/system/functions', 'post').includes('202'));
  await p.client.waitReady('of-fn');
  const r = await p.api(`/function/of-fn`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
  assert.equal(r.status, 201);
  assert.equal(r.headers.get('x-of'), '1');
  assert.deepEqual(await r.json(), { body: { n: 1 } });

  res = await p.api(`/system/functions`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...deployment, envVars: { A: 'c' } }) });
  assert.equal(res.status, 200);
  const status = (await (await p.api(`/system/function/of-fn`)).json()) as { envVars: Record<string, string>; image: string };
  assert.deepEqual(status.envVars, { A: 'c' });
  assert.equal(status.image, 'functions/of-fn:latest');

  res = await p.api(`/system/functions`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ functionName: 'of-fn' }) });
  assert.equal(res.status, 200);
  res = await p.api(`/system/functions`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ functionName: 'of-fn' }) });
  assert.equal(res.status, 404);
});

test('namespaces: name.namespace in the URL, ?namespace= on system routes, /system/namespaces', async () => {
  await deployFunction(p.client, 'echo', { 'handler.js': 'export default async () => "from dev";' }, { namespace: 'dev' });
  const ns = (await (await p.api(`/system/namespaces`)).json()) as string[];
  assert.deepEqual(validateAgainst('ListNamespaceResponse', ns), []);
  assert.deepEqual(ns, ['dev', 'openfaas-fn']);

  assert.equal(await (await p.api(`/function/echo.dev`)).text(), 'from dev');
  assert.equal(await (await p.api(`/function/echo.dev/sub?x=1`)).text(), 'from dev');
  assert.equal(((await (await p.api(`/function/echo`)).json()) as { method: string }).method, 'GET');

  const devList = (await (await p.api(`/system/functions?namespace=dev`)).json()) as Array<{ name: string; namespace: string }>;
  assert.deepEqual(devList.map((f) => `${f.name}.${f.namespace}`), ['echo.dev']);
  const defaultList = (await (await p.api(`/system/functions`)).json()) as Array<{ namespace: string }>;
  assert.ok(defaultList.every((f) => f.namespace === 'openfaas-fn'));
  assert.equal((await p.api(`/system/function/echo?namespace=dev`)).status, 200);
  assert.equal((await p.api(`/system/function/echo?namespace=nope`)).status, 404);

  const del = await p.api(`/system/functions?namespace=dev`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: '{"functionName":"echo"}' });
  assert.equal(del.status, 200);
  assert.equal((await p.api(`/function/echo.dev`)).status, 404);
  assert.equal((await p.api(`/function/echo`)).status, 200);
});
