/**
 * Every bad input from the walking-skeleton issue, over real sockets: each gets a
 * 4xx (or the documented 5xx for a failing function) with a catalogue code, and
 * the gateway keeps serving afterwards.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { deployFunction, ECHO_HANDLER, startTestPlatform, type TestPlatform } from './helpers.js';

let p: TestPlatform;
const json = { 'content-type': 'application/json' };

before(async () => {
  p = await startTestPlatform({ maxBodyBytes: 1024 * 1024 });
  await deployFunction(p.client, 'echo', { 'handler.js': ECHO_HANDLER });
});
after(async () => {
  await p.close();
});

async function expectError(res: Response, status: number, code: string, messagePattern?: RegExp): Promise<void> {
  assert.equal(res.status, status, `expected ${status} ${code}`);
  assert.equal(res.headers.get('x-kss-error'), code);
  const body = (await res.json()) as { code: string; message: string };
  assert.equal(body.code, code);
  assert.equal(typeof body.message, 'string');
  assert.doesNotMatch(body.message, /\n\s+at |\/work\/|node_modules/, 'no stack traces or internal paths');
  if (messagePattern) assert.match(body.message, messagePattern);
}

function tarEntry(name: string, content: string, type = '0', linkname = ''): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${Buffer.byteLength(content).toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write(type, 156);
  header.write(linkname, 157, 100);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const data = Buffer.alloc(Math.ceil(Buffer.byteLength(content) / 512) * 512);
  data.write(content);
  return Buffer.concat([header, data]);
}

function archive(...entries: Buffer[]): Buffer {
  return gzipSync(Buffer.concat([...entries, Buffer.alloc(1024)]));
}

test('invalid function names → 400 KSS_INVALID_NAME', async () => {
  for (const service of ['Bad', 'a_b', '-a', 'a-', 'x'.repeat(64), '', 'a.b']) {
    const res = await p.api(`/system/functions`, { method: 'POST', headers: json, body: JSON.stringify({ service, image: 'x' }) });
    await expectError(res, 400, 'KSS_INVALID_NAME', /service/);
  }
  await expectError(await p.api(`/function/Not_Valid`), 400, 'KSS_INVALID_NAME');
  await expectError(await p.api(`/system/function/UPPER`), 400, 'KSS_INVALID_NAME');
  await expectError(await p.api(`/function/ok.Bad_NS`), 400, 'KSS_INVALID_NAMESPACE');
  await expectError(await p.api(`/system/functions?namespace=..%2F..`), 400, 'KSS_INVALID_NAMESPACE');
});

test('unknown function → 404 KSS_FUNCTION_NOT_FOUND on every route', async () => {
  await expectError(await p.api(`/function/nope`), 404, 'KSS_FUNCTION_NOT_FOUND', /nope/);
  await expectError(await p.api(`/function/nope/sub/path`, { method: 'POST', body: 'x' }), 404, 'KSS_FUNCTION_NOT_FOUND');
  await expectError(await p.api(`/system/function/nope`), 404, 'KSS_FUNCTION_NOT_FOUND');
  await expectError(await p.api(`/api/v1/functions/nope`), 404, 'KSS_FUNCTION_NOT_FOUND');
  await expectError(await p.api(`/api/v1/functions/nope/invoke`, { method: 'POST' }), 404, 'KSS_FUNCTION_NOT_FOUND');
  await expectError(await p.api(`/api/v1/functions/nope`, { method: 'DELETE' }), 404, 'KSS_FUNCTION_NOT_FOUND');
  await expectError(await p.api(`/system/functions`, { method: 'PUT', headers: json, body: JSON.stringify({ service: 'nope', image: 'x', code: `sha256:${'0'.repeat(64)}` }) }), 400, 'KSS_INVALID_SPEC');
  await expectError(await p.api(`/no/such/route`), 404, 'KSS_ROUTE_NOT_FOUND');
});

test('duplicate POST → 409 KSS_FUNCTION_EXISTS, and the first stays untouched', async () => {
  const current = (await (await p.api(`/system/function/echo`)).json()) as { code: string };
  const res = await p.api(`/system/functions`, { method: 'POST', headers: json, body: JSON.stringify({ service: 'echo', image: 'x', code: current.code }) });
  await expectError(res, 409, 'KSS_FUNCTION_EXISTS', /already exists/);
  assert.equal((await p.api(`/function/echo`)).status, 200);
});

test('malformed JSON and YAML → 400 naming the problem; wrong field types name the field', async () => {
  await expectError(await p.api(`/system/functions`, { method: 'POST', headers: json, body: '{"service": "a",' }), 400, 'KSS_INVALID_JSON', /body/);
  await expectError(await p.api(`/system/functions`, { method: 'POST', headers: json, body: '[1,2]' }), 400, 'KSS_INVALID_SPEC', /body/);
  await expectError(await p.api(`/api/v1/functions`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: 'service: a\n  bad: [unclosed' }), 400, 'KSS_INVALID_YAML', /line \d+/);
  const code = `sha256:${'a'.repeat(64)}`;
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ service: 'a', envVars: { A: 1 } }, /envVars\.A/],
    [{ service: 'a', envVars: { 'bad name': 'x' } }, /envVars/],
    [{ service: 'a', labels: 'x' }, /labels/],
    [{ service: 'a', limits: { memory: 'lots' } }, /limits\.memory/],
    [{ service: 'a', runtime: 'cobol' }, /runtime.*known runtimes/],
    [{ service: 'a', timeout: '-1s' }, /timeout/],
    [{ service: 'a', timeout: 99999 }, /timeout/],
    [{ service: 'a', code: 'md5:123' }, /code/],
    [{ service: 'a', code, handler: '../etc/passwd' }, /handler/],
    [{ service: 'a', code, labels: { 'com.openfaas.scale.min': 'many' } }, /com\.openfaas\.scale\.min/],
    [{ service: 'a', code }, /code: no uploaded archive/],
    [{ service: 'a', image: 'functions/alpine' }, /code/],
  ];
  for (const [body, pattern] of cases) {
    const res = await p.api(`/system/functions`, { method: 'POST', headers: json, body: JSON.stringify(body) });
    assert.equal(res.status, 400, JSON.stringify(body));
    const err = (await res.json()) as { code: string; message: string };
    assert.match(err.code, /^KSS_/);
    assert.match(err.message, pattern, JSON.stringify(body));
  }
  assert.equal((await p.api(`/system/functions`)).status, 200);
  assert.deepEqual(((await (await p.api(`/system/functions`)).json()) as Array<{ name: string }>).map((f) => f.name), ['echo']);
});

test('a request body over the limit → 413 KSS_PAYLOAD_TOO_LARGE, declared or chunked', async () => {
  await expectError(await p.api(`/function/echo`, { method: 'POST', body: Buffer.alloc(1024 * 1024 + 1) }), 413, 'KSS_PAYLOAD_TOO_LARGE');
  const chunked = await new Promise<{ status: number; code?: string }>((resolve, reject) => {
    const req = request(`${p.url}/function/echo`, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, code: res.headers['x-kss-error'] as string | undefined });
    });
    req.on('error', (err) => (err.message.includes('EPIPE') || err.message.includes('ECONNRESET') ? undefined : reject(err)));
    const chunk = Buffer.alloc(64 * 1024);
    let sent = 0;
    const pump = () => {
      while (sent < 2 * 1024 * 1024) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
  assert.deepEqual(chunked, { status: 413, code: 'KSS_PAYLOAD_TOO_LARGE' });
  await expectError(await p.api(`/system/functions`, { method: 'POST', headers: json, body: JSON.stringify({ service: 'a', pad: 'x'.repeat(2 * 1024 * 1024) }) }), 413, 'KSS_PAYLOAD_TOO_LARGE');
  assert.equal((await p.api(`/function/echo`, { method: 'POST', body: 'small' })).status, 200);
});

test('code archives that escape their folder → 400 KSS_INVALID_ARCHIVE, nothing written', async () => {
  const treesDir = join(p.dataDir, 'code', 'trees');
  const before = existsSync(treesDir) ? readdirSync(treesDir).sort() : [];
  const bad: Array<[string, Buffer]> = [
    ['dot-dot', archive(tarEntry('ok.js', 'x'), tarEntry('../evil.js', 'x'))],
    ['nested dot-dot', archive(tarEntry('a/../../evil.js', 'x'))],
    ['absolute', archive(tarEntry('/etc/evil', 'x'))],
    ['symlink out', archive(tarEntry('link', '', '2', '../../../etc/passwd'))],
    ['absolute symlink', archive(tarEntry('link', '', '2', '/etc/passwd'))],
    ['hard link out', archive(tarEntry('hl', '', '1', '../outside'))],
    ['not gzip', Buffer.from('this is not an archive')],
  ];
  for (const [what, body] of bad) {
    const res = await p.api(`/api/v1/code`, { method: 'POST', headers: { 'content-type': 'application/gzip' }, body: new Uint8Array(body) });
    await expectError(res, 400, 'KSS_INVALID_ARCHIVE');
    void what;
  }
  const afterList = existsSync(treesDir) ? readdirSync(treesDir).sort() : [];
  assert.deepEqual(afterList, before);
  assert.equal(existsSync(join(p.dataDir, 'code', 'evil.js')), false);
  assert.equal(existsSync(join(p.dataDir, 'evil.js')), false);
});

test('a handler that throws → 500 from the function (no X-Kss-Error, no leak)', async () => {
  await deployFunction(p.client, 'thrower', { 'handler.js': 'export default async () => { throw new Error("secret detail /home/me"); };' });
  const res = await p.api(`/function/thrower`);
  assert.equal(res.status, 500);
  assert.equal(res.headers.get('x-kss-error'), null);
  const text = await res.text();
  assert.doesNotMatch(text, /secret detail/);
});

test('a replica that crashes mid-request → 502 KSS_REPLICA_FAILED, then it is restarted', async () => {
  await deployFunction(p.client, 'crasher', { 'handler.js': 'export default async (req) => { if (new URL(req.url).pathname === "/die") process.exit(7); return "alive"; };' });
  await expectError(await p.api(`/function/crasher/die`), 502, 'KSS_REPLICA_FAILED');
  const deadline = Date.now() + 15_000;
  let ok = false;
  while (!ok && Date.now() < deadline) {
    const r = await p.api(`/function/crasher`);
    ok = r.status === 200 && (await r.text()) === 'alive';
  }
  assert.ok(ok, 'the replica came back');
  const status = (await (await p.api(`/system/function/crasher`)).json()) as { instances: Array<{ restarts: number; lastExit?: string }> };
  assert.equal(status.instances[0]!.restarts, 1);
  assert.match(status.instances[0]!.lastExit ?? '', /exited with code 7/);
});

test('a replica that hangs → 504 KSS_FUNCTION_TIMEOUT after the function timeout', async () => {
  await deployFunction(p.client, 'hanger', { 'handler.js': 'export default async () => new Promise(() => {});' }, { timeout: '500ms' });
  await expectError(await p.api(`/function/hanger`), 504, 'KSS_FUNCTION_TIMEOUT', /0\.5s/);
  assert.equal((await p.api(`/healthz`)).status, 200);
});

test('garbage on the wire never crashes the gateway', async () => {
  const { connect } = await import('node:net');
  const url = new URL(p.url);
  for (const junk of ['GARBAGE\r\n\r\n', 'GET /function/echo HTTP/1.1\r\nContent-Length: abc\r\n\r\n', 'POST /function/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc']) {
    await new Promise<void>((resolve) => {
      const s = connect(Number(url.port), url.hostname, () => {
        s.write(junk);
        setTimeout(() => s.destroy(), 100);
      });
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
  }
  assert.equal((await p.api(`/function/echo`)).status, 200);
});

test('a client that hangs up mid-response does not get the replica restarted', async () => {
  await deployFunction(p.client, 'slow-stream', {
    'handler.js': `export default async () => new Response(new ReadableStream({
      async start(c) { c.enqueue(new TextEncoder().encode('first\\n')); await new Promise((r) => setTimeout(r, 300)); c.enqueue(new TextEncoder().encode('second\\n')); c.close(); },
    }));`,
  });
  for (let i = 0; i < 3; i++) {
    const ac = new AbortController();
    const res = await fetch(`${p.url}/function/slow-stream`, { signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    await reader.read().catch(() => {});
  }
  // Also hang up before the headers arrive.
  await fetch(`${p.url}/function/slow-stream`, { signal: AbortSignal.timeout(1) }).catch(() => {});
  await new Promise((r) => setTimeout(r, 500));
  const status = (await (await p.api('/system/function/slow-stream')).json()) as { instances: Array<{ restarts: number; state: string }> };
  assert.equal(status.instances[0]!.restarts, 0);
  assert.equal(status.instances[0]!.state, 'ready');
  assert.equal(await (await fetch(`${p.url}/function/slow-stream`)).text(), 'first\nsecond\n');
});
