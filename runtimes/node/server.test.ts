/**
 * End-to-end tests of the Node runtime: each test group spawns the compiled
 * runtime (`dist/runtimes/node/server.js`) as a real child process, on a free
 * port, with handler fixtures written into a temporary code directory, and
 * talks to it over real HTTP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SERVER_ENTRY = fileURLToPath(new URL('./server.js', import.meta.url));
const NODE_ARGS = ['--experimental-detect-module', '--disable-warning=ExperimentalWarning', SERVER_ENTRY];

const children = new Set<ChildProcess>();
const tempDirs: string[] = [];

after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function codeDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kss-node-runtime-'));
  tempDirs.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

interface Spawned {
  child: ChildProcess;
  /** The port the runtime bound (it is started with PORT=0 and says which in its "ready on" line); 0 before ready. */
  readonly port: number;
  readonly base: string;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or the signal name) when the process ends. */
  exited: Promise<number | string>;
}

/**
 * Starts the runtime on PORT=0: the kernel picks a free port at bind time, so no other
 * process can take it between a test choosing a port and the runtime binding it.
 */
function spawnRuntime(dir: string, env: Record<string, string> = {}): Spawned {
  const child = spawn(process.execPath, NODE_ARGS, {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', KSS_CODE_DIR: dir, KSS_FUNCTION_NAME: 'test-fn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? signal ?? -1);
    });
  });
  const port = () => Number(/ready on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1] ?? 0);
  return {
    child,
    get port() {
      return port();
    },
    get base() {
      return `http://127.0.0.1:${port()}`;
    },
    stdout: () => out,
    stderr: () => err,
    exited,
  };
}

/** Status of GET path on a fresh connection, or 0 when the connection fails. */
function probe(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

async function waitReady(rt: Spawned, timeoutMs = 15_000): Promise<void> {
  let exitCode: number | string | undefined;
  void rt.exited.then((code) => (exitCode = code));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`runtime exited with ${exitCode} before ready:\n${rt.stderr()}`);
    if (rt.port && (await probe(rt.port, '/ready')) === 200) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`runtime not ready after ${timeoutMs} ms:\n${rt.stderr()}`);
}

async function startRuntime(files: Record<string, string>, env: Record<string, string> = {}): Promise<Spawned> {
  const rt = spawnRuntime(await codeDir(files), env);
  await waitReady(rt);
  return rt;
}

/** Sum of the samples of `name{labels}` in a Prometheus text body (0 when absent). */
function sample(metrics: string, series: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

const WEB_HANDLER = `
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export default async (req) => {
  const url = new URL(req.url);
  switch (url.pathname) {
    case '/string': return 'hello';
    case '/object': return { a: 1, list: [1, 2], nested: { ok: true } };
    case '/number': return 42;
    case '/response': {
      const headers = new Headers({ 'content-type': 'text/x-custom', 'x-custom': 'yes' });
      headers.append('set-cookie', 'a=1');
      headers.append('set-cookie', 'b=2');
      return new Response('created!', { status: 201, headers });
    }
    case '/empty': return undefined;
    case '/bytes': return new Uint8Array([0, 1, 2, 253, 254, 255]);
    case '/echo': {
      const headers = {};
      for (const [k, v] of req.headers) headers[k] = v;
      return { method: req.method, url: req.url, path: url.pathname, query: Object.fromEntries(url.searchParams), headers, body: await req.text() };
    }
    case '/stream-echo':
      return new Response(req.body, { headers: { 'content-type': 'application/octet-stream' } });
    case '/throw': throw new Error('secret-detail-1234');
    case '/reject': return Promise.reject(new TypeError('another-secret-5678'));
    case '/slow': await sleep(Number(url.searchParams.get('ms') ?? 200)); return 'slow done';
    case '/ignore-body': return 'ignored';
    case '/wait-abort':
      return new Promise((resolve) => req.signal.addEventListener('abort', () => { console.error('signal-aborted'); resolve('late'); }));
    case '/floating-rejection': Promise.reject(new Error('nobody awaits me')); return 'still fine';
    case '/crash-later': setTimeout(() => { throw new Error('thrown outside any request'); }, 10); return 'crashing soon';
    default: return new Response('not found', { status: 404 });
  }
};
`;

const OPENFAAS_HANDLER = `
'use strict';
module.exports = async (event, context) => {
  switch (event.path) {
    case '/status':
      return context.status(201).headers({ 'x-of': 'one', 'content-type': 'application/vnd.kss+json' }).succeed({ created: true });
    case '/json': return { got: event.body, type: typeof event.body };
    case '/text': return 'text:' + typeof event.body + ':' + event.body;
    case '/binary': return event.body;
    case '/event': return { method: event.method, path: event.path, query: event.query, host: event.headers.host, custom: event.headers['x-custom'] };
    case '/fail-value': context.status(422).fail({ reason: 'bad input' }); return;
    case '/fail-error': context.fail(new Error('fail-secret-999')); return;
    case '/throw': throw new Error('of-secret-4321');
    case '/plain': return 'just a string';
    case '/nothing': return undefined;
    default: return context.status(404).succeed('nope');
  }
};
`;

describe('web-standard handler (form 1)', () => {
  let rt: Spawned;
  before(async () => {
    rt = await startRuntime({ 'handler.js': WEB_HANDLER });
  });
  after(() => {
    rt.child.kill('SIGKILL');
  });

  test('GET /health and /ready answer 200 with JSON', async () => {
    const health = await fetch(`${rt.base}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(`${rt.base}/ready`);
    assert.equal(ready.status, 200);
  });

  test('GET /metrics is Prometheus text with HELP/TYPE lines', async () => {
    const res = await fetch(`${rt.base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /^# HELP runtime_requests_total .+$/m);
    assert.match(text, /^# TYPE runtime_requests_total counter$/m);
    assert.match(text, /^# TYPE runtime_request_duration_seconds histogram$/m);
    assert.match(text, /^runtime_request_duration_seconds_bucket\{le="0\.005"\} \d+$/m);
    assert.match(text, /^runtime_request_duration_seconds_bucket\{le="\+Inf"\} \d+$/m);
    assert.match(text, /^runtime_request_duration_seconds_sum [\d.e-]+$/m);
    assert.match(text, /^runtime_request_duration_seconds_count \d+$/m);
    assert.match(text, /^# TYPE runtime_requests_in_flight gauge$/m);
    assert.match(text, /^runtime_requests_in_flight \d+$/m);
    for (const line of text.trimEnd().split('\n')) {
      assert.match(line, /^(# (HELP|TYPE) \S+ .+|[a-z_]+(\{[a-z]+="[^"]*"\})? \S+)$/, `malformed line: ${line}`);
    }
  });

  test('a string is 200 text/plain', async () => {
    const res = await fetch(`${rt.base}/string`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(await res.text(), 'hello');
  });

  test('an object is 200 application/json; so is a number', async () => {
    const res = await fetch(`${rt.base}/object`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await res.json(), { a: 1, list: [1, 2], nested: { ok: true } });
    const num = await fetch(`${rt.base}/number`);
    assert.match(num.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(await num.text(), '42');
  });

  test('a Response is sent as is: status, headers, every Set-Cookie, body', async () => {
    const res = await fetch(`${rt.base}/response`);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('content-type'), 'text/x-custom');
    assert.equal(res.headers.get('x-custom'), 'yes');
    assert.deepEqual(res.headers.getSetCookie(), ['a=1', 'b=2']);
    assert.equal(await res.text(), 'created!');
  });

  test('undefined is 204 with no body', async () => {
    const res = await fetch(`${rt.base}/empty`);
    assert.equal(res.status, 204);
    assert.equal(await res.text(), '');
  });

  test('a Uint8Array is 200 application/octet-stream, bytes exact', async () => {
    const res = await fetch(`${rt.base}/bytes`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), new Uint8Array([0, 1, 2, 253, 254, 255]));
  });

  test('method, path, query, headers and body reach the handler', async () => {
    const res = await fetch(`${rt.base}/echo?name=kss&x=1`, {
      method: 'PUT',
      headers: { 'x-custom': 'value-1', 'content-type': 'text/plain' },
      body: 'the body',
    });
    assert.equal(res.status, 200);
    const seen = (await res.json()) as Record<string, any>;
    assert.equal(seen.method, 'PUT');
    assert.equal(seen.path, '/echo');
    assert.equal(seen.url, `http://127.0.0.1:${rt.port}/echo?name=kss&x=1`);
    assert.deepEqual(seen.query, { name: 'kss', x: '1' });
    assert.equal(seen.headers['x-custom'], 'value-1');
    assert.equal(seen.headers.host, `127.0.0.1:${rt.port}`);
    assert.equal(seen.body, 'the body');
  });

  test('DELETE and PATCH and custom paths are the handler\'s; POST /health too', async () => {
    for (const method of ['DELETE', 'PATCH', 'OPTIONS']) {
      const res = await fetch(`${rt.base}/echo`, { method });
      assert.equal(((await res.json()) as { method: string }).method, method);
    }
    const res = await fetch(`${rt.base}/health`, { method: 'POST', body: 'x' });
    assert.equal(res.status, 404); // the fixture's default branch: the handler saw it
  });

  test('random binary bytes round-trip exactly', async () => {
    const bytes = randomBytes(256 * 1024 + 7);
    const res = await fetch(`${rt.base}/stream-echo`, { method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes));
  });

  test('a 20 MiB body streams through an echo handler intact', async () => {
    const bytes = randomBytes(20 * 1024 * 1024);
    const res = await fetch(`${rt.base}/stream-echo`, { method: 'POST', body: bytes });
    assert.equal(res.status, 200);
    const got = Buffer.from(await res.arrayBuffer());
    assert.equal(got.length, bytes.length);
    assert.ok(got.equals(bytes));
  });

  test('bodies stream both ways: the first echoed chunk arrives before the upload ends', async () => {
    const chunk = randomBytes(16 * 1024);
    const received = await new Promise<Buffer>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: rt.port, path: '/stream-echo', method: 'POST', headers: { 'transfer-encoding': 'chunked' } },
        (res) => {
          const parts: Buffer[] = [];
          let first = true;
          res.on('data', (part: Buffer) => {
            parts.push(part);
            if (first) {
              first = false;
              // Only now finish the upload: a buffering runtime would never have answered.
              req.end(chunk);
            }
          });
          res.on('end', () => resolve(Buffer.concat(parts)));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.write(chunk);
    });
    assert.ok(received.equals(Buffer.concat([chunk, chunk])));
  });

  test('a throwing or rejecting handler is 500 "Internal Server Error", message only on stderr', async () => {
    for (const [path, secret] of [['/throw', 'secret-detail-1234'], ['/reject', 'another-secret-5678']] as const) {
      const res = await fetch(`${rt.base}${path}`);
      assert.equal(res.status, 500);
      const body = await res.text();
      assert.equal(body, 'Internal Server Error');
      assert.ok(!body.includes(secret));
      await new Promise((r) => setTimeout(r, 50));
      assert.match(rt.stderr(), new RegExp(`test-fn.*\\n?.*${secret}`));
      assert.match(rt.stderr(), /at .*handler\.js/); // the stack too
    }
  });

  test('20 concurrent slow requests run in parallel', async () => {
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => fetch(`${rt.base}/slow?ms=300`).then(async (r) => [r.status, await r.text()])),
    );
    const elapsed = performance.now() - started;
    for (const [status, text] of results) {
      assert.equal(status, 200);
      assert.equal(text, 'slow done');
    }
    assert.ok(elapsed < 20 * 300 / 2, `took ${elapsed} ms: requests were serialised`);
  });

  test('/metrics counts handler requests by code and in the histogram', async () => {
    const before = await (await fetch(`${rt.base}/metrics`)).text();
    for (let i = 0; i < 5; i++) await (await fetch(`${rt.base}/string`)).text();
    await (await fetch(`${rt.base}/throw`)).text();
    await (await fetch(`${rt.base}/health`)).text(); // not counted
    const after = await (await fetch(`${rt.base}/metrics`)).text();
    assert.equal(sample(after, 'runtime_requests_total{code="200"}') - sample(before, 'runtime_requests_total{code="200"}'), 5);
    assert.equal(sample(after, 'runtime_requests_total{code="500"}') - sample(before, 'runtime_requests_total{code="500"}'), 1);
    assert.equal(sample(after, 'runtime_request_duration_seconds_count') - sample(before, 'runtime_request_duration_seconds_count'), 6);
    assert.equal(sample(after, 'runtime_request_duration_seconds_bucket{le="+Inf"}'), sample(after, 'runtime_request_duration_seconds_count'));
    assert.equal(sample(after, 'runtime_requests_in_flight'), 0);
  });

  test('a handler that ignores a large body does not stall the keep-alive connection', async () => {
    const body = randomBytes(2 * 1024 * 1024);
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${rt.base}/ignore-body`, { method: 'POST', body });
      assert.equal(await res.text(), 'ignored');
    }
  });

  test('HEAD gets the headers of the GET without a body', async () => {
    const res = await fetch(`${rt.base}/string`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), '5');
    assert.equal(await res.text(), '');
  });

  test('the Request signal aborts when the client disconnects', async () => {
    const controller = new AbortController();
    const pending = fetch(`${rt.base}/wait-abort`, { signal: controller.signal }).catch(() => 'aborted');
    await new Promise((r) => setTimeout(r, 100));
    controller.abort();
    assert.equal(await pending, 'aborted');
    for (let i = 0; i < 50 && !rt.stderr().includes('signal-aborted'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.match(rt.stderr(), /signal-aborted/);
    const metrics = await (await fetch(`${rt.base}/metrics`)).text();
    assert.equal(sample(metrics, 'runtime_requests_in_flight'), 0);
    assert.ok(sample(metrics, 'runtime_requests_total{code="499"}') >= 1);
  });

  test('an unhandled rejection is logged and the process keeps serving', async () => {
    assert.equal(await (await fetch(`${rt.base}/floating-rejection`)).text(), 'still fine');
    await new Promise((r) => setTimeout(r, 50));
    assert.match(rt.stderr(), /nobody awaits me/);
    assert.equal(await (await fetch(`${rt.base}/string`)).text(), 'hello');
  });

  test('a client aborting mid-body or sending garbage does not crash the process', async () => {
    await new Promise<void>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: rt.port, path: '/stream-echo', method: 'POST', headers: { 'content-length': '1000000' } });
      req.on('error', () => resolve());
      req.write(randomBytes(1000));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 50);
    });
    const garbage = await new Promise<string>((resolve) => {
      const socket = connect(rt.port, '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
      let text = '';
      socket.setEncoding('utf8').on('data', (s: string) => (text += s));
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(text));
    });
    assert.match(garbage, /^HTTP\/1\.1 400/);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(rt.child.exitCode, null);
    assert.equal((await fetch(`${rt.base}/health`)).status, 200);
    assert.equal(await (await fetch(`${rt.base}/string`)).text(), 'hello');
  });
});

describe('OpenFaaS template handler (form 2)', () => {
  let rt: Spawned;
  before(async () => {
    // handler.js without package.json, written as CommonJS: detected as CJS.
    rt = await startRuntime({ 'handler.js': OPENFAAS_HANDLER });
  });
  after(() => {
    rt.child.kill('SIGKILL');
  });

  test('context.status().headers().succeed() sets status, headers and a JSON body', async () => {
    const res = await fetch(`${rt.base}/status`);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('x-of'), 'one');
    assert.equal(res.headers.get('content-type'), 'application/vnd.kss+json');
    assert.deepEqual(await res.json(), { created: true });
  });

  test('a JSON body arrives parsed', async () => {
    const res = await fetch(`${rt.base}/json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1,"s":["a"]}' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await res.json(), { got: { n: 1, s: ['a'] }, type: 'object' });
  });

  test('invalid JSON is 400, the handler does not run', async () => {
    const res = await fetch(`${rt.base}/json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    assert.equal(res.status, 400);
  });

  test('a text body arrives as a string; no content-type counts as text', async () => {
    const res = await fetch(`${rt.base}/text`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'héllo' });
    assert.equal(await res.text(), 'text:string:héllo');
    const bare = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: rt.port, path: '/text', method: 'POST', headers: { 'content-length': '3' } }, (r) => {
        let s = '';
        r.setEncoding('utf8').on('data', (c: string) => (s += c)).on('end', () => resolve(s));
      });
      req.on('error', reject);
      req.end('abc');
    });
    assert.equal(bare, 'text:string:abc');
  });

  test('a binary body is a Buffer and round-trips exactly', async () => {
    const bytes = randomBytes(64 * 1024);
    const res = await fetch(`${rt.base}/binary`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes));
  });

  test('event carries method, path, query (repeats as arrays) and headers', async () => {
    const res = await fetch(`${rt.base}/event?a=1&b=x&b=y`, { method: 'PATCH', headers: { 'x-custom': 'c1' } });
    assert.deepEqual(await res.json(), {
      method: 'PATCH',
      path: '/event',
      query: { a: '1', b: ['x', 'y'] },
      host: `127.0.0.1:${rt.port}`,
      custom: 'c1',
    });
  });

  test('a returned string is sent as is; undefined is an empty 200', async () => {
    const res = await fetch(`${rt.base}/plain`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'just a string');
    const none = await fetch(`${rt.base}/nothing`);
    assert.equal(none.status, 200);
    assert.equal(await none.text(), '');
  });

  test('context.fail(value) sends the value with the status; fail(Error) leaks nothing', async () => {
    const res = await fetch(`${rt.base}/fail-value`);
    assert.equal(res.status, 422);
    assert.deepEqual(await res.json(), { reason: 'bad input' });
    const err = await fetch(`${rt.base}/fail-error`);
    assert.equal(err.status, 500);
    assert.equal(await err.text(), 'Internal Server Error');
    await new Promise((r) => setTimeout(r, 50));
    assert.match(rt.stderr(), /fail-secret-999/);
  });

  test('a throwing handler is 500 with no message in the body', async () => {
    const res = await fetch(`${rt.base}/throw`);
    assert.equal(res.status, 500);
    assert.equal(await res.text(), 'Internal Server Error');
    await new Promise((r) => setTimeout(r, 50));
    assert.match(rt.stderr(), /test-fn[\s\S]*of-secret-4321/);
  });
});

describe('handler discovery and forms', () => {
  test('ESM `export default (event, context)` is the OpenFaaS form', async () => {
    const rt = await startRuntime({
      'index.mjs': `export default async (event, context) => context.status(202).succeed({ path: event.path });`,
    });
    const res = await fetch(`${rt.base}/p`);
    assert.equal(res.status, 202);
    assert.deepEqual(await res.json(), { path: '/p' });
    rt.child.kill('SIGKILL');
  });

  test('CJS `exports.default = (req) => …` is the web form; KSS_HANDLER picks the file', async () => {
    const rt = await startRuntime(
      { 'main.cjs': `exports.default = async (req) => new Response('web:' + req.method, { status: 203 });` },
      { KSS_HANDLER: 'main.cjs' },
    );
    const res = await fetch(`${rt.base}/`, { method: 'POST' });
    assert.equal(res.status, 203);
    assert.equal(await res.text(), 'web:POST');
    rt.child.kill('SIGKILL');
  });

  test('top-level await in handler.js: loaded, and its top-level code ran once', async () => {
    const rt = await startRuntime({
      'handler.js': `console.error('top-level-ran'); const v = await Promise.resolve('tla'); export default () => v;`,
    });
    assert.equal(await (await fetch(`${rt.base}/`)).text(), 'tla');
    assert.equal(rt.stderr().split('top-level-ran').length - 1, 1);
    rt.child.kill('SIGKILL');
  });

  test('a CommonJS handler requiring a sibling module: its top-level code ran once', async () => {
    const rt = await startRuntime({
      'lib.js': `console.error('lib-loaded'); module.exports = { greet: (n) => 'hi ' + n };`,
      'handler.js': `const { greet } = require('./lib.js'); module.exports = async (event) => greet(event.query.n);`,
    });
    assert.equal(await (await fetch(`${rt.base}/?n=kss`)).text(), 'hi kss');
    assert.equal(rt.stderr().split('lib-loaded').length - 1, 1);
    rt.child.kill('SIGKILL');
  });

  test('handler.js is preferred over index.js', async () => {
    const rt = await startRuntime({
      'index.js': `export default () => 'index';`,
      'handler.js': `export default () => 'handler';`,
    });
    assert.equal(await (await fetch(`${rt.base}/`)).text(), 'handler');
    rt.child.kill('SIGKILL');
  });

  test('no handler file: exit 3, stderr names the file looked for', async () => {
    const rt = spawnRuntime(await codeDir({}));
    assert.equal(await rt.exited, 3);
    assert.match(rt.stderr(), /handler\.js/);
    assert.match(rt.stderr(), /test-fn/);
  });

  test('KSS_HANDLER naming a missing file: exit 3, stderr names it', async () => {
    const rt = spawnRuntime(await codeDir({ 'handler.js': 'export default () => 1' }), { KSS_HANDLER: 'missing-fn.js' });
    assert.equal(await rt.exited, 3);
    assert.match(rt.stderr(), /missing-fn\.js/);
  });

  test('a module with no usable export: exit 3, stderr names the file and both signatures', async () => {
    const rt = spawnRuntime(await codeDir({ 'handler.mjs': 'export const notAFunction = 1;' }));
    assert.equal(await rt.exited, 3);
    assert.match(rt.stderr(), /handler\.mjs/);
    assert.match(rt.stderr(), /export default async \(req\)/);
    assert.match(rt.stderr(), /module\.exports = async \(event, context\)/);
  });

  test('a module that throws while loading: exit 3 with its error', async () => {
    const rt = spawnRuntime(await codeDir({ 'handler.js': 'throw new Error("boom at load");' }));
    assert.equal(await rt.exited, 3);
    assert.match(rt.stderr(), /boom at load/);
  });

  test('missing PORT: exit 2', async () => {
    const dir = await codeDir({ 'handler.js': 'export default () => 1' });
    const rt = spawnRuntime(dir, { PORT: '' });
    assert.equal(await rt.exited, 2);
    assert.match(rt.stderr(), /PORT/);
  });
});

describe('shutdown', () => {
  test('SIGTERM lets an in-flight request finish, then exits 0', async () => {
    const rt = await startRuntime({ 'handler.js': WEB_HANDLER });
    const pending = fetch(`${rt.base}/slow?ms=600`).then(async (r) => [r.status, await r.text()] as const);
    await new Promise((r) => setTimeout(r, 150));
    rt.child.kill('SIGTERM');
    const [status, text] = await pending;
    assert.equal(status, 200);
    assert.equal(text, 'slow done');
    assert.equal(await rt.exited, 0);
    assert.match(rt.stdout(), /SIGTERM/);
  });

  test('SIGTERM with nothing in flight exits 0 promptly', async () => {
    const rt = await startRuntime({ 'handler.js': WEB_HANDLER });
    await (await fetch(`${rt.base}/string`)).text(); // leaves an idle keep-alive connection
    const started = performance.now();
    rt.child.kill('SIGTERM');
    assert.equal(await rt.exited, 0);
    assert.ok(performance.now() - started < 2000);
  });

  test('a request outliving KSS_GRACE_MS does not hold the exit', async () => {
    const rt = await startRuntime({ 'handler.js': WEB_HANDLER }, { KSS_GRACE_MS: '300' });
    const pending = fetch(`${rt.base}/slow?ms=10000`).catch(() => 'aborted');
    await new Promise((r) => setTimeout(r, 100));
    const started = performance.now();
    rt.child.kill('SIGTERM');
    assert.equal(await rt.exited, 0);
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 250 && elapsed < 3000, `exited after ${elapsed} ms`);
    assert.equal(await pending, 'aborted');
  });
});

describe('uncaught exceptions', () => {
  test('an exception thrown outside any request drains the process and exits 1', async () => {
    const rt = await startRuntime({ 'handler.js': WEB_HANDLER });
    assert.equal(await (await fetch(`${rt.base}/crash-later`)).text(), 'crashing soon');
    assert.equal(await rt.exited, 1);
    assert.match(rt.stderr(), /uncaught exception[\s\S]*thrown outside any request/);
  });
});

describe('start-up time', () => {
  test('spawn → /ready p50 (reported as a diagnostic)', async (t) => {
    const dir = await codeDir({ 'handler.js': WEB_HANDLER });
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      const rt = spawnRuntime(dir);
      await waitReady(rt);
      times.push(performance.now() - started);
      rt.child.kill('SIGKILL');
      await rt.exited;
    }
    times.sort((a, b) => a - b);
    const p50 = times[Math.floor(times.length / 2)];
    t.diagnostic(`start → ready p50 ${p50.toFixed(1)} ms (min ${times[0].toFixed(1)}, max ${times[times.length - 1].toFixed(1)})`);
    assert.ok(p50 < 2000, `p50 ${p50} ms`); // generous: CI machines vary; the figure is in the diagnostic
  });
});
