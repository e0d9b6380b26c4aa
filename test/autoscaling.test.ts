/**
 * Autoscaling over real processes (short windows so it runs in seconds): idle →
 * zero processes, 200 concurrent requests at zero → all served with one start, a
 * burst scales up and back down, manual scale is respected and bounded.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../src/client/index.js';
import { deployFunction, eventually, processAlive, startTestPlatform, type TestPlatform } from './helpers.js';

let p: TestPlatform;
const SLOW = `export default async (req) => { const ms = Number(new URL(req.url).searchParams.get('ms') ?? 0); await new Promise((r) => setTimeout(r, ms)); return 'ok'; };`;

before(async () => {
  p = await startTestPlatform({ autoscaler: { tickMs: 200, windows: { stableMs: 3_000, panicMs: 600 } } });
});
after(async () => {
  await p.close();
});

test('an idle function reaches zero processes after its zero-duration, and comes back on the next request', async () => {
  await deployFunction(p.client, 'sleepy', { 'handler.js': SLOW }, { labels: { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '2s' } });
  const pid = (await p.client.getFunction('sleepy')).instances![0]!.pid!;
  assert.ok(processAlive(pid));
  await eventually(async () => (await p.client.getFunction('sleepy')).replicas === 0, 15_000, 'scale to zero');
  await eventually(() => !processAlive(pid), 10_000, 'the replica process to exit');
  assert.equal((await p.client.getFunction('sleepy')).instances!.length, 0);

  const res = await fetch(`${p.url}/function/sleepy`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'ok');
  const after = await p.client.getFunction('sleepy');
  assert.equal(after.replicas, 1);
  assert.ok(after.coldStarts >= 1);
});

test('200 concurrent requests to a function at zero all succeed, with one start', async () => {
  await deployFunction(p.client, 'crowd', { 'handler.js': SLOW }, { labels: { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '1s', 'com.openfaas.scale.max': '1' } });
  await eventually(async () => (await p.client.getFunction('crowd')).replicas === 0, 15_000, 'scale to zero');
  await p.client.scale('crowd', 0);
  const results = await Promise.all(Array.from({ length: 200 }, () => fetch(`${p.url}/function/crowd?ms=10`).then(async (r) => `${r.status} ${await r.text()}`)));
  assert.deepEqual(new Set(results), new Set(['200 ok']));
  const status = await p.client.getFunction('crowd');
  assert.equal(status.instances!.length, 1, 'one replica was started');
  assert.equal(status.instances![0]!.restarts, 0);
});

test('a burst scales up to the expected count and back down', async () => {
  await deployFunction(p.client, 'bursty', { 'handler.js': SLOW }, { labels: { 'com.openfaas.scale.target': '2', 'com.openfaas.scale.max': '4' } });
  let stop = false;
  let served = 0;
  const statuses = new Map<number, number>();
  const workers = Array.from({ length: 8 }, async () => {
    while (!stop) {
      const r = await fetch(`${p.url}/function/bursty?ms=100`);
      await r.text();
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      served++;
    }
  });
  try {
    // 8 in flight / target 2 → 4 replicas (the max).
    await eventually(async () => (await p.client.getFunction('bursty')).availableReplicas === 4, 20_000, 'scale up to 4');
    // A replica killed during the burst is replaced.
    const victim = (await p.client.getFunction('bursty')).instances!.find((i) => i.state === 'ready')!;
    process.kill(victim.pid!, 'SIGKILL');
    await eventually(async () => {
      const s = await p.client.getFunction('bursty');
      return s.availableReplicas === 4 && s.instances!.some((i) => i.restarts > 0);
    }, 15_000, 'the killed replica to be replaced');
  } finally {
    stop = true;
    await Promise.all(workers);
  }
  assert.ok(served >= 8, `served ${served}`);
  // Only the requests in flight on the killed replica may fail (502, from the platform).
  assert.deepEqual([...statuses.keys()].filter((s) => s !== 200 && s !== 502), []);
  assert.ok((statuses.get(502) ?? 0) <= 8, `502s: ${statuses.get(502)}`);
  await eventually(async () => (await p.client.getFunction('bursty')).replicas === 1, 20_000, 'scale back down to 1');
});

test('manual scale is kept within min/max and respected until --auto', async () => {
  await deployFunction(p.client, 'manual', { 'handler.js': SLOW }, { labels: { 'com.openfaas.scale.max': '3' } });
  await p.client.scale('manual', 3);
  await eventually(async () => (await p.client.getFunction('manual')).availableReplicas === 3, 15_000, 'three replicas');
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await p.client.getFunction('manual')).replicas, 3, 'the autoscaler leaves a pinned function alone');
  await assert.rejects(p.client.scale('manual', 4), (e: unknown) => e instanceof ApiError && e.status === 400 && /outside this function's range 1\.\.3/.test(e.message));
  await assert.rejects(p.client.scale('manual', 0), (e: unknown) => e instanceof ApiError && /com\.openfaas\.scale\.zero=true/.test(e.message));
  await assert.rejects(p.client.scale('nope', 1), (e: unknown) => e instanceof ApiError && e.status === 404);
  const raw = await p.api('/system/scale-function/manual', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"serviceName":"manual","namespace":"openfaas-fn","replicas":"two"}' });
  assert.equal(raw.status, 400);
  await p.client.autoscale('manual');
  await eventually(async () => (await p.client.getFunction('manual')).replicas === 1, 15_000, 'back to the autoscaler');
});

test('a replica taken from the warm pool gets its function\'s code, environment and working folder', async () => {
  const handler = "export default async () => JSON.stringify({ greeting: process.env.GREETING, cwdHasHandler: (await import('node:fs')).existsSync('handler.js') });";
  await deployFunction(p.client, 'pooled', { 'handler.js': handler }, { envVars: { GREETING: 'from-env' }, labels: { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '1h' } });
  for (let i = 0; i < 3; i++) {
    await p.client.scale('pooled', 0);
    await eventually(async () => (await p.client.getFunction('pooled')).instances!.length === 0, 10_000, 'zero');
    await new Promise((r) => setTimeout(r, 300));
    const res = await fetch(`${p.url}/function/pooled`);
    assert.deepEqual(await res.json(), { greeting: 'from-env', cwdHasHandler: true });
  }
});
