import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock, type ProviderFunctionStatus } from '../core/index.js';
import { MetricsHistory, quantile } from './metrics-history.js';

const hello = { name: 'hello', namespace: 'openfaas-fn' };
const other = { name: 'other', namespace: 'openfaas-fn' };

function live(replicas: number, ready: number, usage?: { cpuMillicores: number; memoryWorkingSetBytes: number }): ProviderFunctionStatus {
  return {
    ref: hello,
    replicas,
    availableReplicas: ready,
    instances: Array.from({ length: ready }, (_, i) => ({ id: `r${i}`, state: 'ready' as const, restarts: 0, ...(usage ? { usage: { cpuSeconds: 1, ...usage } } : {}) })),
  };
}

test('each interval becomes one point: requests, errors, quantiles, cold starts, replicas and usage', async () => {
  const clock = new FakeClock();
  let status = [live(2, 2, { cpuMillicores: 150, memoryWorkingSetBytes: 20 * 2 ** 20 })];
  const h = new MetricsHistory({ live: async () => status, clock, intervalMs: 5000 });
  for (let i = 0; i < 98; i++) h.finished(hello, 200, 0.010);
  h.finished(hello, 502, 0.010);
  h.finished(hello, 200, 2.0);
  h.coldStart(hello);
  await h.roll();
  const [p] = h.history(hello).points;
  assert.ok(p);
  assert.equal(p.invocations, 100);
  assert.equal(p.errors, 1, 'only status ≥ 500 counts as an error');
  assert.equal(p.rps, 20);
  assert.ok(Math.abs(p.p50Ms! - 10) <= 1, `p50 ${p.p50Ms} within 10% of 10 ms`);
  assert.ok(Math.abs(p.p99Ms! - 10) <= 1, `p99 ${p.p99Ms}: the 99th of 100 is still 10 ms`);
  assert.equal(p.coldStarts, 1);
  assert.deepEqual([p.replicas, p.readyReplicas, p.cpuMillicores, p.memoryBytes], [2, 2, 300, 40 * 2 ** 20], 'usage summed over replicas');

  status = [live(0, 0)];
  await h.roll();
  const q = h.history(hello).points[1]!;
  assert.deepEqual([q.invocations, q.errors, q.p50Ms, q.p99Ms, q.replicas, q.cpuMillicores, q.memoryBytes], [0, 0, null, null, 0, null, null], 'an idle interval has no quantiles, and no usage at zero replicas');
});

test('the platform series adds up every function', async () => {
  const h = new MetricsHistory({ live: async () => [], clock: new FakeClock() });
  h.finished(hello, 200, 0.001);
  h.finished(other, 500, 0.001);
  h.finished(other, 200, 0.001);
  await h.roll();
  const [p] = h.history().points;
  assert.deepEqual([p!.invocations, p!.errors], [3, 1]);
});

test('the summary covers the last window only, and a removed function is forgotten', async () => {
  const h = new MetricsHistory({ live: async () => [], clock: new FakeClock(), summaryIntervals: 2 });
  h.finished(hello, 500, 0.5);
  await h.roll();
  h.finished(hello, 200, 0.001);
  await h.roll();
  let s = h.summary().items.find((i) => i.name === 'hello')!;
  assert.deepEqual([s.invocations, s.errors, s.errorRate], [2, 1, 0.5]);
  h.finished(hello, 200, 0.001);
  await h.roll();
  s = h.summary().items.find((i) => i.name === 'hello')!;
  assert.deepEqual([s.invocations, s.errors, s.errorRate], [2, 0, 0], 'the failing interval left the window');
  h.forget(hello);
  assert.equal(h.summary().items.length, 0);
  assert.deepEqual(h.history(hello).points, []);
});

test('points are capped, the timer rolls on the clock, and a failing provider does not stop it', async () => {
  const clock = new FakeClock();
  let calls = 0;
  const h = new MetricsHistory({
    live: async () => {
      calls++;
      throw new Error('provider down');
    },
    clock,
    intervalMs: 1000,
    keep: 3,
  });
  h.finished(hello, 200, 0.001);
  h.start();
  for (let i = 0; i < 5; i++) {
    clock.advance(1000);
    await new Promise((r) => setImmediate(r));
  }
  h.stop();
  clock.advance(5000);
  assert.equal(calls, 5, 'one read per interval, none after stop');
  assert.equal(h.history(hello).points.length, 3);
  assert.equal(h.history().points.length, 3);
});

test('quantiles from the log buckets stay within 10% across scales', async () => {
  for (const ms of [0.2, 1, 7.5, 42, 300, 2500, 30_000]) {
    const h = new MetricsHistory({ live: async () => [], clock: new FakeClock() });
    for (let i = 0; i < 10; i++) h.finished(hello, 200, ms / 1000);
    await h.roll();
    const p50 = h.history(hello).points[0]!.p50Ms!;
    assert.ok(Math.abs(p50 - ms) / ms <= 0.1, `${ms} ms read as ${p50}`);
  }
  assert.equal(quantile(new Uint32Array(80), 0, 0.5), null);
});
