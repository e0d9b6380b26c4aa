/**
 * Asynchronous calls over a real gateway and real replicas: 202 + X-Call-Id once
 * stored, the request replayed exactly, callbacks to a real local HTTP server (also one
 * that is down at first), retries, dead letters, replay, and the bad inputs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from '../src/providers/local/ports.js';
import { deployFunction, eventually, runKss, startTestPlatform, tempDir, type TestPlatform } from './helpers.js';
import { destroyJetStreamQueue } from '../src/queue/index.js';
import { natsForTests } from './nats-helper.js';

let p: TestPlatform;

/** Echoes what it got as JSON, with a 503 for its first `fail` attempts of each X-Call-Id. */
const ECHO = `
const seen = new Map();
module.exports = async (event, context) => {
  const id = event.headers['x-call-id'];
  const fail = Number(event.query.fail ?? 0);
  const n = (seen.get(id) ?? 0) + 1;
  seen.set(id, n);
  if (event.query.status) return context.status(Number(event.query.status)).succeed('status ' + event.query.status);
  if (n <= fail) return context.status(503).succeed('not yet');
  return context.status(201).headers({ 'x-echo': 'yes' }).succeed({
    method: event.method, path: event.path, query: event.query, callId: id, attempt: event.headers['x-kss-attempt'],
    custom: event.headers['x-custom'], callback: event.headers['x-callback-url'] ?? null,
    body: Buffer.isBuffer(event.body) ? event.body.toString('base64') : event.body,
  });
};`;

interface Received {
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** A callback receiver on loopback recording what it gets. */
async function receiver(port = 0): Promise<{ server: Server; url: string; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.end('thanks');
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/done`, got };
}

async function call(id: string): Promise<Record<string, any>> {
  const res = await p.api(`/api/v1/calls/${id}`);
  assert.equal(res.status, 200);
  return (await res.json()) as Record<string, any>;
}

async function finished(id: string, timeoutMs = 15_000): Promise<Record<string, any>> {
  let last: Record<string, any> = {};
  await eventually(async () => {
    last = await call(id);
    return !['queued', 'running'].includes(last.state);
  }, timeoutMs, `call ${id} to finish`);
  return last;
}

/** Every case runs on each backend: the embedded SQLite queue, and JetStream on the real NATS server. */
function asyncSuite(backend: string, queue: string | undefined, skip: string | false = false): void {
  describe(`async calls (${backend})`, { skip }, () => {
    before(async () => {
      p = await startTestPlatform({ callbackAllow: ['127.0.0.1', 'localhost'], random: () => 0.5, ...(queue ? { queue } : {}) });
      await deployFunction(p.client, 'echo', { 'handler.js': ECHO }, { annotations: { 'com.openfaas.retry.min_wait': '20ms', 'com.openfaas.retry.max_wait': '100ms', 'com.openfaas.retry.attempts': '4' } });
    });
    after(async () => {
      await p.close();
    });

    test('202 with X-Call-Id once stored; the request is replayed exactly; the result is kept', async () => {
      const body = Buffer.from([0, 1, 2, 250, 251, 255]);
      const res = await fetch(`${p.url}/async-function/echo/some/path?x=1&y=two`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'x-custom': 'kept' }, body });
      assert.equal(res.status, 202);
      const id = res.headers.get('x-call-id')!;
      assert.match(id, /^[0-9a-f-]{36}$/);
      assert.equal(res.headers.get('location'), `/api/v1/calls/${id}`);
      const c = await finished(id);
      assert.equal(c.state, 'succeeded');
      assert.equal(c.attempts, 1);
      assert.equal(c.result.status, 201);
      const echoed = JSON.parse(c.result.body) as Record<string, unknown>;
      assert.deepEqual(echoed, { method: 'PUT', path: '/some/path', query: { x: '1', y: 'two' }, callId: id, attempt: '1', custom: 'kept', callback: null, body: body.toString('base64') });
      const metrics = await (await fetch(`${p.url}/metrics`)).text();
      assert.match(metrics, /function_async_calls_total\{function_name="echo\.openfaas-fn",outcome="succeeded"\} [1-9]/);
      assert.match(metrics, /# TYPE function_queue_depth gauge/);
    });

    test('the result is POSTed to X-Callback-Url with the OpenFaaS headers', async () => {
      const r = await receiver();
      try {
        const res = await fetch(`${p.url}/async-function/echo`, { method: 'POST', headers: { 'x-callback-url': r.url, 'content-type': 'text/plain' }, body: 'hello' });
        const id = res.headers.get('x-call-id')!;
        await eventually(() => r.got.length === 1, 10_000, 'the callback');
        const h = r.got[0]!.headers;
        assert.equal(h['x-call-id'], id);
        assert.equal(h['x-function-status'], '201');
        assert.equal(h['x-function-name'], 'echo');
        assert.ok(Number(h['x-duration-seconds']) > 0);
        assert.equal(JSON.parse(r.got[0]!.body.toString()).body, 'hello');
        await eventually(async () => (await call(id)).callback?.state === 'delivered', 5_000, 'callback recorded as delivered');
      } finally {
        r.server.close();
      }
    });

    test('a callback receiver that is down at first gets the result once it is up', async () => {
      const port = await freePort();
      const res = await fetch(`${p.url}/async-function/echo`, { method: 'POST', headers: { 'x-callback-url': `http://127.0.0.1:${port}/late` }, body: 'late' });
      const id = res.headers.get('x-call-id')!;
      await eventually(async () => (await call(id)).callback?.attempts >= 1 && (await call(id)).callback?.state === 'pending', 10_000, 'a failed callback attempt');
      assert.match((await call(id)).callback.lastError, /callback to 127\.0\.0\.1:\d+ failed/);
      const r = await receiver(port);
      try {
        await eventually(() => r.got.length === 1, 15_000, 'the late callback');
        assert.equal(r.got[0]!.headers['x-call-id'], id);
      } finally {
        r.server.close();
      }
    });

    test('retryable statuses are retried with backoff until they succeed', async () => {
      const res = await fetch(`${p.url}/async-function/echo?fail=2`, { method: 'POST', body: 'x' });
      const c = await finished(res.headers.get('x-call-id')!);
      assert.equal(c.state, 'succeeded');
      assert.equal(c.attempts, 3);
      assert.equal(JSON.parse(c.result.body).attempt, '3');
    });

    test('exhausted retries make a dead letter with its last error; replay runs it again', async () => {
      const res = await fetch(`${p.url}/async-function/echo?fail=100`, { method: 'POST', body: 'x' });
      const id = res.headers.get('x-call-id')!;
      const c = await finished(id);
      assert.equal(c.state, 'dead');
      assert.equal(c.attempts, 4);
      assert.match(c.lastError, /answered 503 \(after 4 attempts\)/);
      const dead = (await (await p.api('/api/v1/calls?function=echo&state=dead')).json()) as { items: Array<{ id: string }> };
      assert.ok(dead.items.some((i) => i.id === id));

      const replay = await p.api(`/api/v1/calls/${id}/replay`, { method: 'POST' });
      assert.equal(replay.status, 202);
      const again = await finished(id);
      assert.equal(again.state, 'dead');
      assert.equal(again.attempts, 4, 'attempts start again from zero');
    });

    test('a status the policy does not retry fails at once', async () => {
      const res = await fetch(`${p.url}/async-function/echo?status=422`, { method: 'POST', body: 'x' });
      const c = await finished(res.headers.get('x-call-id')!);
      assert.equal(c.state, 'failed');
      assert.equal(c.attempts, 1);
      assert.equal(c.result.status, 422);
    });

    test('bad input: unknown function, bad callback URLs, allow-list, unknown and unfinished calls, bad filters', async () => {
      const cases: Array<[string, RequestInit, number, string]> = [
        ['/async-function/nope', { method: 'POST', body: 'x' }, 404, 'KSS_FUNCTION_NOT_FOUND'],
        ['/async-function/echo', { method: 'POST', headers: { 'x-callback-url': 'not a url' } }, 400, 'KSS_INVALID_CALLBACK'],
        ['/async-function/echo', { method: 'POST', headers: { 'x-callback-url': 'ftp://127.0.0.1/x' } }, 400, 'KSS_INVALID_CALLBACK'],
        ['/async-function/echo', { method: 'POST', headers: { 'x-callback-url': 'file:///etc/passwd' } }, 400, 'KSS_INVALID_CALLBACK'],
        ['/async-function/echo', { method: 'POST', headers: { 'x-callback-url': 'http://user:pw@127.0.0.1/x' } }, 400, 'KSS_INVALID_CALLBACK'],
        ['/async-function/echo', { method: 'POST', headers: { 'x-callback-url': 'http://169.254.169.254/latest/meta-data' } }, 400, 'KSS_INVALID_CALLBACK'],
        ['/async-function/echo', { method: 'POST', headers: { 'x-callback-url': 'http://10.0.0.1/hook' } }, 400, 'KSS_INVALID_CALLBACK'],
      ];
      for (const [path, init, status, code] of cases) {
        const res = await fetch(`${p.url}${path}`, init);
        assert.equal(res.status, status, `${path} ${JSON.stringify(init.headers)}`);
        assert.equal(res.headers.get('x-kss-error'), code);
      }
      const before = ((await (await p.api('/api/v1/calls?limit=1000')).json()) as { items: unknown[] }).items.length;
      assert.equal(before, ((await (await p.api('/api/v1/calls?limit=1000')).json()) as { items: unknown[] }).items.length, 'nothing was queued by the refused calls');

      for (const [path, init, status, code] of [
        ['/api/v1/calls/00000000-0000-0000-0000-000000000000', {}, 404, 'KSS_CALL_NOT_FOUND'],
        ['/api/v1/calls/00000000-0000-0000-0000-000000000000/replay', { method: 'POST' }, 404, 'KSS_CALL_NOT_FOUND'],
        ['/api/v1/calls?state=sleeping', {}, 400, 'KSS_BAD_REQUEST'],
        ['/api/v1/calls?limit=0', {}, 400, 'KSS_BAD_REQUEST'],
      ] as Array<[string, RequestInit, number, string]>) {
        const res = await p.api(path, init);
        assert.equal(res.status, status, path);
        assert.equal(res.headers.get('x-kss-error'), code);
      }
      // The calls API is admin: no credentials, no list.
      assert.equal((await fetch(`${p.url}/api/v1/calls`)).status, 401);
    });

    test('replaying a call that has not finished is a 409', async () => {
      await deployFunction(p.client, 'slow', { 'handler.js': "module.exports = async () => { await new Promise((r) => setTimeout(r, 1500)); return 'late'; };" });
      const res = await fetch(`${p.url}/async-function/slow`, { method: 'POST' });
      const id = res.headers.get('x-call-id')!;
      const replay = await p.api(`/api/v1/calls/${id}/replay`, { method: 'POST' });
      assert.equal(replay.status, 409);
      assert.equal(replay.headers.get('x-kss-error'), 'KSS_CALL_NOT_FINISHED');
      assert.equal((await finished(id)).state, 'succeeded');
    });

    test('kss invoke --async, kss calls list|show|replay (and --json)', async () => {
      const { token } = await p.client.createToken({ name: 'cli', scopes: ['admin'] });
      const work = tempDir('kss-calls-cli-');
      const env: NodeJS.ProcessEnv = { ...process.env, KSS_GATEWAY: p.url, KSS_TOKEN: token, KSS_CONFIG: `${work}/config.json`, OPENFAAS_CONFIG: `${work}/openfaas` };
      const queued = await runKss(['invoke', 'echo', '--async', '-d', 'from the cli', '--json'], { cwd: work, env });
      assert.equal(queued.code, 0, queued.stderr);
      const { callId } = JSON.parse(queued.stdout) as { callId: string };
      const c = await finished(callId);
      assert.equal(c.state, 'succeeded');

      const list = await runKss(['calls', 'list', '--function', 'echo', '--json'], { cwd: work, env });
      assert.equal(list.code, 0, list.stderr);
      assert.ok((JSON.parse(list.stdout) as Array<{ id: string }>).some((i) => i.id === callId));
      const table = await runKss(['calls', 'list', '--state', 'succeeded'], { cwd: work, env });
      assert.match(table.stdout, /ID\s+FUNCTION\s+STATE/);
      assert.match(table.stdout, new RegExp(`${callId}\\s+echo\\.openfaas-fn\\s+succeeded`));

      const show = await runKss(['calls', 'show', callId], { cwd: work, env });
      assert.equal(show.code, 0, show.stderr);
      assert.match(show.stdout, /State:\s+succeeded after 1 attempt/);
      assert.match(show.stdout, /Result:\s+201/);
      assert.match(show.stdout, /from the cli/);

      const replay = await runKss(['calls', 'replay', callId], { cwd: work, env });
      assert.equal(replay.code, 0, replay.stderr);
      assert.match(replay.stdout, /Queued .* again/);
      await finished(callId);

      const missing = await runKss(['calls', 'show', 'no-such-call'], { cwd: work, env });
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /no call with id "no-such-call".*KSS_CALL_NOT_FOUND/);
      const bad = await runKss(['invoke', 'echo', '--callback-url', 'http://127.0.0.1/x'], { cwd: work, env });
      assert.equal(bad.code, 2);
    });
  });
}

const nats = await natsForTests();
const prefix = `kss-test-${process.pid}`;
asyncSuite('sqlite', undefined);
asyncSuite('jetstream', nats.url ? `${nats.url}/${prefix}` : undefined, 'skip' in nats ? nats.skip : false);
after(async () => {
  if (nats.url) {
    await destroyJetStreamQueue({ servers: nats.url, prefix }).catch(() => undefined);
    await nats.stop();
  }
});
