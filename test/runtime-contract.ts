/**
 * The runtime contract: one suite every runtime passes, run over real sockets
 * through the real platform (build, launch, proxy). Each runtime supplies a fixture
 * function in its own language that behaves the same way:
 *
 * - `/status`      → 201, header `X-Custom: yes`, body `created`
 * - `/throw`       → the handler raises an error whose message is `secret-internal-detail`
 * - `/slow?ms=N`   → waits N ms, body `slow done`
 * - `/size`        → body: the request body's length in bytes, as text
 * - anything else  → 200 JSON `{ method, path, query, headers, body }` (body base64, headers lower-case)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { deployFunction, eventually, startTestPlatform, type TestPlatform } from './helpers.js';

export interface RuntimeFixture {
  runtime: string;
  /** Files of the fixture function (path → content). */
  files: Record<string, string>;
  /** Extra spec fields (e.g. `envProcess` for exec). */
  spec?: Record<string, unknown>;
  /** False for runtimes whose handlers cannot set status or headers (classic exec). */
  statusAndHeaders?: boolean;
  /** False for runtimes that run one process per request (no shared in-flight state). */
  longLived?: boolean;
}

interface Echo {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: string;
}

/** Registers the contract tests for one runtime. */
export function runtimeContract(fixture: RuntimeFixture): void {
  describe(`runtime contract: ${fixture.runtime}`, () => {
    let p: TestPlatform;
    let origin: string;
    const fn = `contract-${fixture.runtime}`;

    before(async () => {
      p = await startTestPlatform({ maxBodyBytes: 32 * 1024 * 1024 });
      await deployFunction(p.client, fn, fixture.files, { runtime: fixture.runtime, ...fixture.spec });
      origin = (await p.client.getFunction(fn)).instances!.find((i) => i.state === 'ready')!.origin!;
    });
    after(async () => {
      await p?.close();
    });

    const call = (path: string, init?: RequestInit) => fetch(`${p.url}/function/${fn}${path}`, init);

    test('GET /health and /ready answer 200; /metrics is Prometheus text', async () => {
      assert.equal((await fetch(`${origin}/health`)).status, 200);
      assert.equal((await fetch(`${origin}/ready`)).status, 200);
      await call('/echo');
      const metrics = await fetch(`${origin}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
      const text = await metrics.text();
      assert.match(text, /^# HELP \w+ .+$/m);
      assert.match(text, /^# TYPE \w+ (counter|gauge|histogram|summary)$/m);
      for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
        assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.eE+-]+|NaN|\+Inf$/, `metric line: ${line}`);
      }
    });

    test('method, path, query, headers and body reach the handler', async () => {
      const res = await call('/a/b?x=1&y=two', { method: 'POST', headers: { 'x-test': 'contract', 'content-type': 'text/plain' }, body: 'hello' });
      assert.equal(res.status, 200);
      const echo = (await res.json()) as Echo;
      assert.equal(echo.method, 'POST');
      assert.equal(echo.path, '/a/b');
      assert.deepEqual(echo.query, { x: '1', y: 'two' });
      assert.equal(echo.headers['x-test'], 'contract');
      assert.equal(Buffer.from(echo.body, 'base64').toString(), 'hello');
      for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
        const r = (await (await call('/m', { method })).json()) as Echo;
        assert.equal(r.method, method);
      }
    });

    test('binary bodies round-trip exactly', async () => {
      const bytes = randomBytes(64 * 1024);
      const echo = (await (await call('/bin', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes })).json()) as Echo;
      assert.equal(Buffer.from(echo.body, 'base64').compare(bytes), 0);
    });

    test('a large body (20 MiB) is streamed through', async () => {
      const res = await call('/size', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(20 * 1024 * 1024, 7) });
      assert.equal(res.status, 200);
      assert.equal((await res.text()).trim(), String(20 * 1024 * 1024));
    });

    if (fixture.statusAndHeaders !== false) {
      test('status codes and headers set by the handler come back', async () => {
        const res = await call('/status', { method: 'POST' });
        assert.equal(res.status, 201);
        assert.equal(res.headers.get('x-custom'), 'yes');
        assert.equal((await res.text()).trim(), 'created');
      });
    }

    test('a handler exception is a 500 that does not leak internals', async () => {
      const res = await call('/throw', { method: 'POST' });
      assert.equal(res.status, 500);
      assert.equal(res.headers.get('x-kss-error'), null, 'the function failed, not the platform');
      const text = await res.text();
      assert.doesNotMatch(text, /secret-internal-detail/);
      assert.doesNotMatch(text, /Traceback|\.go:\d+|at .*\.js:\d+/);
      assert.equal((await call('/after-error')).status, 200, 'the replica keeps serving');
    });

    test('concurrent requests are all served', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, () => call('/slow?ms=200').then(async (r) => [r.status, (await r.text()).trim()])));
      assert.deepEqual(results, Array.from({ length: 20 }, () => [200, 'slow done']));
    });

    if (fixture.longLived !== false) {
      test('SIGTERM lets in-flight requests finish, then the process exits cleanly', async () => {
        const status = await p.client.getFunction(fn);
        const replica = status.instances!.find((i) => i.state === 'ready')!;
        const inflight = fetch(`${replica.origin}/slow?ms=1500`).then(async (r) => [r.status, (await r.text()).trim()]);
        await new Promise((r) => setTimeout(r, 300));
        process.kill(replica.pid!, 'SIGTERM');
        assert.deepEqual(await inflight, [200, 'slow done']);
        await eventually(async () => {
          const s = await p.client.getFunction(fn);
          return s.instances!.some((i) => i.id === replica.id && /exited with code 0|killed by SIGTERM/.test(i.lastExit ?? ''));
        }, 15_000, 'the replica to exit cleanly');
        await p.client.waitReady(fn, { timeoutMs: 20_000 });
      });
    }
  });
}
