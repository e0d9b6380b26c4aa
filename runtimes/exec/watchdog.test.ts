/**
 * The exec runtime (classic watchdog mode): the `Http_*` environment as the
 * OpenFaaS classic watchdog builds it, and the compiled server spawned as a real
 * process running real commands.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalHeaderKey, cgiEnv, parseDurationMs, readExecConfig } from './watchdog.js';

const SERVER = fileURLToPath(new URL('./server.js', import.meta.url));
const children = new Set<ChildProcess>();
const dirs: string[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the classic watchdog environment', () => {
  test("header names take Go's canonical form", () => {
    assert.equal(canonicalHeaderKey('x-custom-header'), 'X-Custom-Header');
    assert.equal(canonicalHeaderKey('CONTENT-TYPE'), 'Content-Type');
    assert.equal(canonicalHeaderKey('x-api-KEY'), 'X-Api-Key');
    assert.equal(canonicalHeaderKey('weird header'), 'weird header', 'not a token: left alone, as Go does');
  });

  test('method, path, query, length, host and every header become Http_* variables', () => {
    const env = cgiEnv({
      method: 'POST',
      url: '/a%20b/c?x=1&y=%20two',
      rawHeaders: ['Host', 'fn.local:8080', 'content-type', 'application/json', 'Content-Length', '5', 'x-custom-header', 'first', 'X-Custom-Header', 'second'],
    });
    assert.deepEqual(env, {
      Http_Method: 'POST',
      Http_Path: '/a b/c',
      Http_Query: 'x=1&y=%20two',
      Http_ContentLength: '5',
      Http_Content_Length: '5',
      Http_Content_Type: 'application/json',
      Http_X_Custom_Header: 'first',
      Http_Host: 'fn.local:8080',
    });
  });

  test('a chunked body has length -1 and Http_Transfer_Encoding; no query means no Http_Query', () => {
    const env = cgiEnv({ method: 'PUT', url: '/', rawHeaders: ['Transfer-Encoding', 'chunked'] });
    assert.equal(env.Http_ContentLength, '-1');
    assert.equal(env.Http_Transfer_Encoding, 'chunked');
    assert.equal(env.Http_Query, undefined);
    assert.equal(env.Http_Path, '/');
    assert.equal(cgiEnv({ method: 'GET', url: '/', rawHeaders: [] }).Http_ContentLength, '0');
  });

  test('exec_timeout takes seconds or a duration; fprocess falls back to KSS_FPROCESS', () => {
    assert.equal(parseDurationMs('t', '10'), 10_000);
    assert.equal(parseDurationMs('t', '1.5s'), 1500);
    assert.equal(parseDurationMs('t', '250ms'), 250);
    assert.equal(parseDurationMs('t', '2m'), 120_000);
    assert.throws(() => parseDurationMs('exec_timeout', 'soon'), /exec_timeout/);
    assert.equal(readExecConfig({ PORT: '1', KSS_FPROCESS: 'cat' }).fprocess, 'cat');
    assert.equal(readExecConfig({ PORT: '1', fprocess: 'wc -l', KSS_FPROCESS: 'cat' }).fprocess, 'wc -l');
    assert.equal(readExecConfig({ PORT: '1', fprocess: 'cat' }).execTimeoutMs, 10_000);
    assert.throws(() => readExecConfig({ PORT: '1' }), /fprocess/);
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Running {
  base: string;
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | string>;
}

async function start(env: Record<string, string>, cwd?: string): Promise<Running> {
  const port = await freePort();
  const child = spawn(process.execPath, [SERVER], {
    cwd,
    env: { PATH: process.env.PATH, PORT: String(port), HOST: '127.0.0.1', KSS_FUNCTION_NAME: 'fn', ...env },
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  children.add(child);
  let err = '';
  child.stderr!.on('data', (c) => (err += c));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/ready`)).status === 200) break;
    } catch {
      /* not yet */
    }
    if (child.exitCode !== null || Date.now() > deadline) assert.fail(`the exec runtime did not become ready: ${err}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return { base, child, stderr: () => err, exited };
}

describe('exec runtime server', () => {
  test('the body goes to stdin and stdout comes back as a 200', async () => {
    const r = await start({ fprocess: 'tr a-z A-Z' });
    const res = await fetch(`${r.base}/anything`, { method: 'POST', body: 'hello exec' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'HELLO EXEC');
    assert.match(res.headers.get('x-duration-seconds') ?? '', /^\d+\.\d{6}$/);
    assert.equal(res.headers.get('content-type'), 'text/plain;charset=UTF-8', "the caller's own Content-Type, as the classic watchdog");
    const bare = await new Promise<{ type: string | undefined; body: string }>((resolve, reject) => {
      const req = request(`${r.base}/`, { method: 'GET' }, (res2) => {
        let body = '';
        res2.on('data', (c) => (body += c)).on('end', () => resolve({ type: res2.headers['content-type'], body }));
      });
      req.on('error', reject).end();
    });
    assert.equal(bare.type, 'text/plain; charset=utf-8', 'text/plain when the caller sent no Content-Type');
    r.child.kill('SIGKILL');
  });

  test('the command sees the Http_* variables, the function env, and runs in the working directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kss-exec-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'show.sh'), 'echo "$Http_Method $Http_Path $Http_Query $Http_X_Custom_Header $Http_Content_Type $GREETING $(pwd)"\n');
    const r = await start({ fprocess: 'sh show.sh', GREETING: 'hi' }, dir);
    const res = await fetch(`${r.base}/p/q?a=1&b=2`, { method: 'PATCH', headers: { 'X-Custom-Header': 'custom', 'Content-Type': 'application/json' }, body: '{}' });
    assert.equal((await res.text()).trim(), `PATCH /p/q a=1&b=2 custom application/json hi ${dir}`);
    assert.equal(res.headers.get('content-type'), 'application/json');
    r.child.kill('SIGKILL');
  });

  test('content_type sets the reply type', async () => {
    const r = await start({ fprocess: 'echo {}', content_type: 'application/json' });
    const res = await fetch(`${r.base}/`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'x' });
    assert.equal(res.headers.get('content-type'), 'application/json');
    r.child.kill('SIGKILL');
  });

  test('a non-zero exit is a 500 that does not leak stdout or stderr; stderr is logged', async () => {
    const r = await start({ fprocess: 'echo partial-output; echo secret-internal-detail >&2; exit 3' });
    const res = await fetch(`${r.base}/fail`, { method: 'POST', body: 'x' });
    assert.equal(res.status, 500);
    assert.equal(await res.text(), 'Internal Server Error');
    assert.match(r.stderr(), /fprocess exited with code 3 on POST \/fail \(answered 500\)/);
    assert.match(r.stderr(), /secret-internal-detail/);
    const ok = await fetch(`${r.base}/metrics`);
    assert.match(await ok.text(), /^runtime_requests_total\{code="500"\} 1$/m);
    r.child.kill('SIGKILL');
  });

  test('a command killed by a signal from outside is a crash: the connection drops (the gateway answers 502)', async () => {
    const r = await start({ fprocess: 'kill -9 $$' });
    await assert.rejects(fetch(`${r.base}/crash`, { method: 'POST', body: 'x' }), /fetch failed|other side closed|socket/i);
    assert.match(r.stderr(), /fprocess was killed by SIGKILL on POST \/crash/);
    assert.equal((await fetch(`${r.base}/health`)).status, 200, 'the runtime keeps serving');
    r.child.kill('SIGKILL');
  });

  test('exec_timeout kills the command and everything it started: 504', async () => {
    const r = await start({ fprocess: 'sleep 5; echo late', exec_timeout: '300ms' });
    const started = Date.now();
    const res = await fetch(`${r.base}/`, { method: 'POST' });
    assert.equal(res.status, 504);
    assert.equal(await res.text(), 'Killed process.\n');
    assert.ok(Date.now() - started < 3000, 'the grandchild sleep did not hold the reply');
    r.child.kill('SIGKILL');
  });

  test('a command that ignores its stdin still answers, even with a large body', async () => {
    const r = await start({ fprocess: 'echo ignored' });
    const res = await fetch(`${r.base}/`, { method: 'POST', body: Buffer.alloc(4 * 1024 * 1024, 1) });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ignored\n');
    assert.equal(await (await fetch(`${r.base}/`, { method: 'POST', body: 'again' })).text(), 'ignored\n', 'the connection stays usable');
    r.child.kill('SIGKILL');
  });

  test('max_inflight answers 429 beyond the limit', async () => {
    const r = await start({ fprocess: 'sleep 0.4; echo done', max_inflight: '1' });
    const [a, b] = await Promise.all([fetch(`${r.base}/`, { method: 'POST' }), new Promise((res) => setTimeout(res, 100)).then(() => fetch(`${r.base}/`, { method: 'POST' }))]);
    assert.deepEqual([a.status, b.status].sort(), [200, 429]);
    r.child.kill('SIGKILL');
  });

  test('SIGTERM lets a running command finish, then exits 0; stdin EOF does the same', async () => {
    const r = await start({ fprocess: 'sleep 0.5; echo finished' });
    const inflight = fetch(`${r.base}/`, { method: 'POST' }).then(async (res) => [res.status, await res.text()]);
    await new Promise((res) => setTimeout(res, 150));
    r.child.kill('SIGTERM');
    assert.deepEqual(await inflight, [200, 'finished\n']);
    assert.equal(await r.exited, 0);
    const orphan = await start({ fprocess: 'cat', KSS_PARENT_PIPE: '1' });
    orphan.child.stdin!.end();
    assert.equal(await orphan.exited, 0);
  });

  test('no fprocess: exit 2 with the reason', async () => {
    const child = spawn(process.execPath, [SERVER], { env: { PATH: process.env.PATH, PORT: '0' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (c) => (err += c));
    assert.equal(await new Promise((resolve) => child.once('exit', resolve)), 2);
    assert.match(err, /fprocess/);
  });
});
