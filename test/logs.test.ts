/**
 * Function logs over real replicas: lines of two replicas interleave with the right
 * instance ids, platform events are in the same stream, `follow` delivers a line written
 * after the request started, filters, rotation by size, the CLI, and the bad inputs.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { deployFunction, eventually, runKss, startTestPlatform, tempDir, type TestPlatform } from './helpers.js';
import type { FunctionLogLine } from '../src/core/index.js';

type Line = FunctionLogLine;

const CHATTY = `module.exports = async (event) => {
  console.log('served ' + event.query.n + ' by ' + process.env.KSS_INSTANCE);
  if (event.query.err) console.error('trouble ' + event.query.n);
  return 'ok';
};`;

let p: TestPlatform;
before(async () => {
  p = await startTestPlatform({ logFileBytes: 8192 });
  await deployFunction(p.client, 'chatty', { 'handler.js': CHATTY }, { labels: { 'com.openfaas.scale.min': '2', 'com.openfaas.scale.max': '2' } });
  await p.client.waitReady('chatty', { timeoutMs: 20_000 });
});
after(async () => {
  await p.close();
});

async function logs(query: string): Promise<Line[]> {
  const res = await p.api(`/system/logs?${query}`);
  assert.equal(res.status, 200, await res.clone().text());
  assert.match(res.headers.get('content-type') ?? '', /application\/x-ndjson/);
  return (await res.text()).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
}

test('lines from two replicas interleave, each with the instance that wrote it; events and stderr in the same stream', async () => {
  for (let i = 0; i < 20; i++) await (await fetch(`${p.url}/function/chatty?n=${i}${i === 7 ? '&err=1' : ''}`)).text();
  let lines: Line[] = [];
  await eventually(async () => (lines = await logs('name=chatty')).filter((l) => l.text.startsWith('served')).length === 20, 5_000, '20 lines');
  const served = lines.filter((l) => l.text.startsWith('served'));
  for (const l of served) {
    assert.equal(l.text.split(' by ')[1], l.instance, 'the line carries the instance that wrote it');
    assert.equal(l.name, 'chatty');
    assert.equal(l.namespace, 'openfaas-fn');
    assert.equal(l.stream, 'stdout');
    assert.ok(!Number.isNaN(Date.parse(l.timestamp)));
  }
  assert.equal(new Set(served.map((l) => l.instance)).size, 2, 'both replicas served');
  assert.deepEqual(served.map((l) => Number(l.text.split(' ')[1])), Array.from({ length: 20 }, (_, i) => i), 'in order');
  assert.ok(lines.some((l) => l.stream === 'stderr' && l.text === 'trouble 7'));
  const ready = lines.filter((l) => l.stream === 'event' && l.text.startsWith('ready on http://127.0.0.1:'));
  assert.equal(new Set(ready.map((l) => l.instance)).size, 2, 'a ready event per replica');
  assert.ok(lines.some((l) => l.stream === 'event' && l.instance === 'gateway' && /^deployed \(node, code sha256:/.test(l.text)), 'the deploy is in the stream');
});

test('tail, instance and since filter; follow delivers a line written after the request started', async () => {
  assert.equal((await logs('name=chatty&tail=3')).length, 3);
  const one = (await logs('name=chatty')).find((l) => l.text.startsWith('served'))!.instance;
  assert.ok((await logs(`name=chatty&instance=${one}`)).every((l) => l.instance === one));
  assert.equal((await logs(`name=chatty&since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).length, 0);
  assert.ok((await logs('name=chatty&since=10m')).length > 0);

  const ac = new AbortController();
  const res = await p.api('/system/logs?name=chatty&tail=0&follow=true', { signal: ac.signal });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  await fetch(`${p.url}/function/chatty?n=followed`).then((r) => r.text());
  let got = '';
  const deadline = Date.now() + 5_000;
  while (!got.includes('served followed') && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    got += Buffer.from(value).toString();
  }
  ac.abort();
  assert.match(got, /"text":"served followed by chatty--r1-[0-9a-f]+"/);
});

test('rotation keeps each function\'s logs near the configured size', async () => {
  for (let i = 0; i < 300; i++) await (await fetch(`${p.url}/function/chatty?n=rot${i}`)).text();
  await eventually(async () => (await logs('name=chatty&tail=1'))[0]?.text.startsWith('served rot299') ?? false, 5_000, 'the last line');
  const dir = join(p.dataDir, 'logs', 'openfaas-fn', 'chatty');
  const files = readdirSync(dir);
  assert.deepEqual(files.sort(), ['current.ndjson', 'previous.ndjson']);
  const total = files.reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  assert.ok(total <= 2 * 8192 + 1024, `${total} bytes kept`);
  const kept = await logs('name=chatty');
  assert.ok(!kept.some((l) => l.text.startsWith('served 0 ')), 'the oldest lines are gone');
});

test('scaling by hand and by the autoscaler shows up as events', async () => {
  await deployFunction(p.client, 'scaly', { 'handler.js': CHATTY }, { labels: { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '1h' } });
  await p.client.scale('scaly', 0);
  // At zero before handing it back: an autoscaler tick in between would (rightly) bring it to its minimum.
  await eventually(async () => (await p.client.getFunction('scaly')).instances!.length === 0, 10_000, 'zero replicas');
  await p.client.autoscale('scaly');
  assert.equal(await (await fetch(`${p.url}/function/scaly?n=1`)).text(), 'ok');
  const events = (await logs('name=scaly')).filter((l) => l.stream === 'event').map((l) => `${l.instance === 'gateway' ? 'gateway' : 'replica'}: ${l.text}`);
  assert.ok(events.some((e) => /^gateway: scaled by hand to 0 replica/.test(e)), events.join('\n'));
  assert.ok(events.some((e) => /^gateway: autoscaler: 0 → 1 replica\(s\) \(a request arrived at zero replicas\)/.test(e)), events.join('\n'));
  assert.ok(events.some((e) => /^replica: stopped/.test(e)), events.join('\n'));
});

test('bad input: no name, unknown function, bad tail and since, no credentials', async () => {
  for (const [query, status, code] of [
    ['', 400, 'KSS_BAD_REQUEST'],
    ['name=nope', 404, 'KSS_FUNCTION_NOT_FOUND'],
    ['name=chatty&tail=-1', 400, 'KSS_BAD_REQUEST'],
    ['name=chatty&tail=lots', 400, 'KSS_BAD_REQUEST'],
    ['name=chatty&since=yesterday-ish', 400, 'KSS_BAD_REQUEST'],
    ['name=BAD_NAME', 400, 'KSS_INVALID_NAME'],
  ] as const) {
    const res = await p.api(`/system/logs?${query}`);
    assert.equal(res.status, status, query);
    assert.equal(res.headers.get('x-kss-error'), code, query);
  }
  assert.equal((await fetch(`${p.url}/system/logs?name=chatty`)).status, 401);
});

test('kss logs NAME --tail, --json, and a clear error for an unknown function', async () => {
  const { token } = await p.client.createToken({ name: 'logs-cli', scopes: ['read'] });
  const work = tempDir('kss-logs-cli-');
  const env: NodeJS.ProcessEnv = { ...process.env, KSS_GATEWAY: p.url, KSS_TOKEN: token, KSS_CONFIG: `${work}/config.json`, OPENFAAS_CONFIG: `${work}/openfaas` };
  const text = await runKss(['logs', 'chatty', '--tail', '2'], { cwd: work, env });
  assert.equal(text.code, 0, text.stderr);
  const printed = text.stdout.trim().split('\n');
  assert.equal(printed.length, 2);
  assert.match(printed[1]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z chatty--r1-[0-9a-f]+ served /);
  const json = await runKss(['logs', 'chatty', '--tail', '1', '--json'], { cwd: work, env });
  assert.equal((JSON.parse(json.stdout.trim()) as Line).name, 'chatty');
  const missing = await runKss(['logs', 'nope'], { cwd: work, env });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /function "nope" not found.*KSS_FUNCTION_NOT_FOUND/);
});
