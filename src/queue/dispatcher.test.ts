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
import type { CallQueue } from './call-queue.js';

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

// ---- a queue that cannot record outcomes (a full disk) ------------------------------------

/** What better-sqlite3 throws when the disk is full (`SqliteError`, code SQLITE_FULL); the gateway maps it to 507. */
function diskFull(): Error {
  return Object.assign(new Error('database or disk is full'), { name: 'SqliteError', code: 'SQLITE_FULL' });
}

/** `inner` with fault injection: `settle` throws a disk-full error while `full()` says so; counts every settle. */
function withFullDisk(inner: CallQueue, full: () => boolean): { queue: CallQueue; settles: () => number; refused: () => number } {
  let settles = 0;
  let refused = 0;
  const queue: CallQueue = {
    kind: inner.kind,
    enqueue: (call) => inner.enqueue(call),
    lease: (max, now, leaseMs, accept) => inner.lease(max, now, leaseMs, accept),
    settle: async (id, s, now) => {
      settles++;
      if (full()) {
        refused++;
        throw diskFull();
      }
      return inner.settle(id, s, now);
    },
    leaseCallbacks: (max, now, leaseMs) => inner.leaseCallbacks(max, now, leaseMs),
    settleCallback: (id, outcome, now) => inner.settleCallback(id, outcome, now),
    get: (id) => inner.get(id),
    list: (filter) => inner.list(filter),
    replay: (id, now) => inner.replay(id, now),
    depth: () => inner.depth(),
    close: () => inner.close(),
  };
  return { queue, settles: () => settles, refused: () => refused };
}

/** Lets the dispatcher and the SQLite queue's group commits run, then moves the fake clock `stepMs`; `rounds` times or until `done`. */
async function pump(clock: FakeClock, rounds: number, stepMs: number, done: () => boolean | Promise<boolean> = () => false): Promise<void> {
  for (let i = 0; i < rounds && !(await done()); i++) {
    for (let j = 0; j < 4; j++) await settle();
    clock.advance(stepMs);
  }
  for (let j = 0; j < 4; j++) await settle();
}

const REQ = { method: 'POST', path: '/', query: '', headers: {}, body: Buffer.alloc(0) };
const OK: AttemptOutcome = { result: { status: 200, headers: {}, body: Buffer.from('ok'), durationSeconds: 0.001 } };

test('a settle refused by a full disk is retried from memory: the call settles once space returns, long before its lease ends', async () => {
  const clock = new FakeClock(1_000_000);
  const sqlite = openSqliteQueue({ file: join(dir, 'q3.db'), now: () => clock.now() });
  // The first 5 settles hit a full disk; then space is back.
  let refusals = 5;
  const { queue, settles, refused } = withFullDisk(sqlite, () => refusals-- > 0);
  const runs: string[] = [];
  const settled: string[] = [];
  const delivered: string[] = [];
  const dispatcher = new Dispatcher({
    queue,
    invoke: async (call) => (runs.push(call.id), OK),
    policy: () => ({ retry: DEFAULT_RETRY_POLICY, concurrency: 10, timeoutSeconds: 60 }),
    deliverCallback: async (call) => void delivered.push(call.id),
    logger: pino({ level: 'silent' }),
    clock,
    random: () => 0.5,
    pollMs: 1,
    // Leases of 60 s + the margin: a rerun after the lease would come 75 s after the attempt.
    maxTimeoutSeconds: () => 60,
    onSettled: (call, outcome) => settled.push(`${call.id}:${outcome}`),
  });
  dispatcher.start();
  const start = clock.now();
  await sqlite.enqueue({ id: 'full1', namespace: 'ns', name: 'fn', request: REQ, callbackUrl: 'http://127.0.0.1:1/cb', now: start });
  dispatcher.notify();
  await pump(clock, 200, 5, () => refused() >= 1);
  assert.equal(dispatcher.unsettled, 1, 'the refused outcome is kept in memory');
  assert.equal((await sqlite.get('full1'))!.state, 'running');
  await pump(clock, 20_000, 5, async () => (await sqlite.get('full1'))!.callback.state === 'delivered');
  const rec = (await sqlite.get('full1'))!;
  assert.equal(rec.state, 'succeeded');
  assert.equal(rec.result!.status, 200);
  assert.equal(rec.callback.state, 'delivered');
  // Backoff with random 0.5 after refusals 1..5: 75 + 150 + 300 + 600 + 1200 ms ≈ 2.3 s, far below the 75 s lease.
  const took = rec.finishedAt! - start;
  assert.ok(took >= 2_300 && took < 3_000, `settled ${took} ms after the attempt`);
  assert.deepEqual(runs, ['full1'], 'the function ran once: the call was not run again');
  assert.equal(settles(), 6);
  assert.deepEqual(settled, ['full1:succeeded'], 'metrics see the outcome once, when it is recorded');
  assert.deepEqual(delivered, ['full1']);
  assert.equal(dispatcher.unsettled, 0);
  await dispatcher.stop();
  await sqlite.close();
});

test('while an outcome waits to be recorded its call is not leased again, even past its lease; other calls of the function still run', async () => {
  const clock = new FakeClock(1_000_000);
  const sqlite = openSqliteQueue({ file: join(dir, 'q4.db'), now: () => clock.now() });
  let full = true;
  const { queue } = withFullDisk(sqlite, () => full);
  const runs: string[] = [];
  const dispatcher = new Dispatcher({
    queue,
    invoke: async (call) => (runs.push(call.id), OK),
    // Concurrency 1: a second call can only run if the first one's function slot was given back.
    policy: () => ({ retry: DEFAULT_RETRY_POLICY, concurrency: 1, timeoutSeconds: 1 }),
    deliverCallback: async () => {},
    logger: pino({ level: 'silent' }),
    clock,
    random: () => 0.5,
    pollMs: 1,
    maxTimeoutSeconds: () => 1, // leases of 16 s
  });
  dispatcher.start();
  await sqlite.enqueue({ id: 'w1', namespace: 'ns', name: 'fn', request: REQ, now: clock.now() });
  dispatcher.notify();
  await pump(clock, 200, 5, () => runs.length >= 1);
  await sqlite.enqueue({ id: 'w2', namespace: 'ns', name: 'fn', request: REQ, now: clock.now() });
  dispatcher.notify();
  // 40 s of a full disk: both leases expire long before it ends.
  await pump(clock, 800, 50);
  assert.deepEqual(runs, ['w1', 'w2'], 'each call ran once');
  assert.equal(dispatcher.unsettled, 2);
  for (const id of ['w1', 'w2']) {
    const rec = (await sqlite.get(id))!;
    assert.equal(rec.state, 'running');
    assert.equal(rec.attempts, 1, `${id} was not leased again`);
    assert.ok(rec.dueAt < clock.now(), `${id}'s lease has expired`);
  }
  full = false;
  await pump(clock, 2_000, 5, async () => (await sqlite.list({ state: 'succeeded' })).length === 2);
  assert.equal((await sqlite.list({ state: 'succeeded' })).length, 2);
  assert.deepEqual(runs, ['w1', 'w2'], 'still once each');
  assert.equal(dispatcher.unsettled, 0);
  await dispatcher.stop();
  await sqlite.close();
});

test('a queue that refuses even leases (a full disk) is logged once and polled with backoff; work resumes within a second', async () => {
  const clock = new FakeClock(1_000_000);
  const sqlite = openSqliteQueue({ file: join(dir, 'q6.db'), now: () => clock.now() });
  let full = true;
  let leases = 0;
  const queue: CallQueue = {
    ...withFullDisk(sqlite, () => full).queue,
    lease: async (max, now, leaseMs, accept) => {
      leases++;
      if (full) throw diskFull();
      return sqlite.lease(max, now, leaseMs, accept);
    },
  };
  const logged: string[] = [];
  const runs: string[] = [];
  const dispatcher = new Dispatcher({
    queue,
    invoke: async (call) => (runs.push(call.id), OK),
    policy: () => ({ retry: DEFAULT_RETRY_POLICY, concurrency: 10, timeoutSeconds: 10 }),
    deliverCallback: async () => {},
    logger: pino({ level: 'info' }, { write: (line: string) => void logged.push((JSON.parse(line) as { msg: string }).msg) }),
    clock,
    random: () => 0.5,
    pollMs: 1,
  });
  dispatcher.start();
  // 10 s of a full disk: with a 1 ms poll and no backoff that would be 10,000 leases and as many log lines.
  await pump(clock, 1_000, 10);
  assert.ok(leases > 5 && leases < 30, `${leases} leases tried in 10 s`);
  assert.deepEqual(logged, ['queue dispatch failed; retrying']);
  await sqlite.enqueue({ id: 'l1', namespace: 'ns', name: 'fn', request: REQ, now: clock.now() });
  full = false;
  const freed = clock.now();
  await pump(clock, 2_000, 1, () => runs.length > 0);
  assert.deepEqual(runs, ['l1']);
  assert.ok(clock.now() - freed <= 1_000, `ran ${clock.now() - freed} ms after space returned`);
  assert.ok(logged.includes('queue dispatch works again'));
  await dispatcher.stop();
  await sqlite.close();
});

test('stop does not wait on an outcome the queue refuses: one last write, then the call is left to its lease (and runs again)', async () => {
  const clock = new FakeClock(1_000_000);
  const file = join(dir, 'q5.db');
  const full = true;
  const runs: string[] = [];
  const make = (q: CallQueue) =>
    new Dispatcher({
      queue: q,
      invoke: async (call) => (runs.push(`${call.id}#${call.attempts}`), OK),
      policy: () => ({ retry: DEFAULT_RETRY_POLICY, concurrency: 10, timeoutSeconds: 10 }),
      deliverCallback: async () => {},
      logger: pino({ level: 'silent' }),
      clock,
      pollMs: 1,
    });
  let sqlite = openSqliteQueue({ file, now: () => clock.now() });
  let faulty = withFullDisk(sqlite, () => full);
  let dispatcher = make(faulty.queue);
  dispatcher.start();
  await sqlite.enqueue({ id: 's1', namespace: 'ns', name: 'fn', request: REQ, now: clock.now() });
  dispatcher.notify();
  await pump(clock, 200, 1, () => dispatcher.unsettled === 1);
  assert.equal(dispatcher.unsettled, 1);
  // The clock stands still from here: a stop that waited for the backoff would never end.
  await dispatcher.stop(1_000);
  assert.equal(dispatcher.unsettled, 0);
  assert.equal(faulty.settles(), 2, 'the attempt’s settle and one last write on stop');
  assert.equal((await sqlite.get('s1'))!.state, 'running', 'nothing recorded: the lease still holds the call');
  await sqlite.close();

  // The next start (the SQLite queue requeues what a stopped gateway left running) runs it again.
  sqlite = openSqliteQueue({ file, now: () => clock.now() });
  assert.equal((await sqlite.get('s1'))!.state, 'queued');
  // This time the disk is full for the attempt's settle only, and space is back when the stop comes.
  let refusals = 1;
  faulty = withFullDisk(sqlite, () => refusals-- > 0);
  dispatcher = make(faulty.queue);
  dispatcher.start();
  dispatcher.notify();
  await pump(clock, 200, 1, () => dispatcher.unsettled === 1);
  await dispatcher.stop();
  assert.equal((await sqlite.get('s1'))!.state, 'succeeded', 'the last write on stop recorded it');
  assert.deepEqual(runs, ['s1#1', 's1#2']);
  await sqlite.close();
});
