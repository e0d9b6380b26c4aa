import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { FakeClock } from '../core/index.js';
import { Dispatcher, type AttemptOutcome } from './dispatcher.js';
import { backoffMs, DEFAULT_RETRY_POLICY, retryPolicyOf } from './retry-policy.js';
import { openSqliteQueue } from './sqlite-queue.js';

const dir = mkdtempSync(join(tmpdir(), 'kss-dispatch-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const settle = () => new Promise((r) => setImmediate(r));

test('backoff: exponential, capped, half fixed and half jitter', () => {
  const policy = { minWaitMs: 100, maxWaitMs: 1000 };
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((a) => backoffMs(policy, a, () => 0)), [50, 100, 200, 400, 500, 500]);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((a) => backoffMs(policy, a, () => 0.999999)), [100, 200, 400, 800, 1000, 1000]);
});

test('retry policy from the OpenFaaS Pro annotations, with defaults for what is missing or malformed', () => {
  assert.deepEqual(retryPolicyOf({}), DEFAULT_RETRY_POLICY);
  const p = retryPolicyOf({ annotations: { 'com.openfaas.retry.attempts': '3', 'com.openfaas.retry.codes': '429, 503', 'com.openfaas.retry.min_wait': '1s', 'com.openfaas.retry.max_wait': '2m' } });
  assert.deepEqual({ ...p, codes: [...p.codes] }, { attempts: 3, codes: [429, 503], minWaitMs: 1000, maxWaitMs: 120_000 });
  const bad = retryPolicyOf({ annotations: { 'com.openfaas.retry.attempts': 'many', 'com.openfaas.retry.codes': 'x', 'com.openfaas.retry.min_wait': 'soon' } });
  assert.deepEqual(bad, DEFAULT_RETRY_POLICY);
});

test('a failing call follows the backoff schedule on the clock, then becomes a dead letter', async () => {
  const clock = new FakeClock(1_000_000);
  const queue = openSqliteQueue({ file: join(dir, 'q1.db'), now: () => clock.now() });
  const attemptsAt: number[] = [];
  const dispatcher = new Dispatcher({
    queue,
    invoke: async (): Promise<AttemptOutcome> => {
      attemptsAt.push(clock.now());
      return { result: { status: 503, headers: {}, body: Buffer.from('busy'), durationSeconds: 0.001 } };
    },
    policy: () => ({ retry: { ...DEFAULT_RETRY_POLICY, attempts: 5, minWaitMs: 100, maxWaitMs: 1000 }, concurrency: 1, timeoutSeconds: 10 }),
    deliverCallback: async () => {},
    logger: pino({ level: 'silent' }),
    clock,
    random: () => 0.5,
    pollMs: 1,
  });
  dispatcher.start();
  const start = clock.now();
  await queue.enqueue({ id: 'c1', namespace: 'ns', name: 'fn', request: { method: 'POST', path: '/', query: '', headers: {}, body: Buffer.alloc(0) }, now: start });
  dispatcher.notify();
  for (let t = 0; t < 2000 && attemptsAt.length < 5; t++) {
    for (let i = 0; i < 4; i++) await settle();
    clock.advance(1);
  }
  for (let i = 0; i < 10; i++) await settle();
  await dispatcher.stop();
  // Delays after attempts 1..4 with random 0.5: 75, 150, 300, 600 ms (±1 ms for the 1 ms poll steps).
  const gaps = attemptsAt.slice(1).map((t, i) => t - attemptsAt[i]!);
  assert.equal(attemptsAt.length, 5);
  [75, 150, 300, 600].forEach((want, i) => assert.ok(gaps[i]! >= want && gaps[i]! <= want + 2, `gap ${i + 1}: ${gaps[i]} ms, want ${want}`));
  const rec = await queue.get('c1');
  assert.equal(rec!.state, 'dead');
  assert.equal(rec!.attempts, 5);
  assert.match(rec!.lastError!, /answered 503 \(after 5 attempts\)/);
  await queue.close();
});

test('per-function concurrency: never more than the limit of one function at once, others still run', async () => {
  const clock = new FakeClock(1_000_000);
  const queue = openSqliteQueue({ file: join(dir, 'q2.db'), now: () => clock.now() });
  const running = new Map<string, number>();
  const peak = new Map<string, number>();
  const release: Array<() => void> = [];
  const dispatcher = new Dispatcher({
    queue,
    invoke: (call) =>
      new Promise<AttemptOutcome>((resolve) => {
        running.set(call.name, (running.get(call.name) ?? 0) + 1);
        peak.set(call.name, Math.max(peak.get(call.name) ?? 0, running.get(call.name)!));
        release.push(() => {
          running.set(call.name, running.get(call.name)! - 1);
          resolve({ result: { status: 200, headers: {}, body: Buffer.from('ok'), durationSeconds: 0 } });
        });
      }),
    policy: (_ns, name) => ({ retry: DEFAULT_RETRY_POLICY, concurrency: name === 'narrow' ? 2 : 10, timeoutSeconds: 10 }),
    deliverCallback: async () => {},
    logger: pino({ level: 'silent' }),
    clock,
    pollMs: 1,
  });
  dispatcher.start();
  const req = { method: 'POST', path: '/', query: '', headers: {}, body: Buffer.alloc(0) };
  await Promise.all([
    ...Array.from({ length: 10 }, (_, i) => queue.enqueue({ id: `n${i}`, namespace: 'ns', name: 'narrow', request: req, now: clock.now() })),
    ...Array.from({ length: 5 }, (_, i) => queue.enqueue({ id: `w${i}`, namespace: 'ns', name: 'wide', request: req, now: clock.now() })),
  ]);
  dispatcher.notify();
  for (let round = 0; round < 200 && (await queue.list({ state: 'succeeded', limit: 1000 })).length < 15; round++) {
    for (let i = 0; i < 4; i++) await settle();
    clock.advance(1);
    release.splice(0, 3).forEach((r) => r());
  }
  await dispatcher.stop();
  assert.equal((await queue.list({ state: 'succeeded', limit: 1000 })).length, 15);
  assert.equal(peak.get('narrow'), 2);
  assert.ok(peak.get('wide')! >= 3, `wide peaked at ${peak.get('wide')}`);
  await queue.close();
});
