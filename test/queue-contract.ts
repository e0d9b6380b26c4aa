/**
 * The call-queue contract: one suite every {@link CallQueue} backend passes (SQLite,
 * JetStream). Registered per backend by queue-contract.test.ts.
 *
 * Time is driven through the `now` arguments, around the real clock (a backend may read the
 * real clock on open, as SQLite's recovery does), so nothing here sleeps: a lease "expires"
 * because a later `now` is passed. Each test gets a fresh queue from `make` and cleans up.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { isKssError, type ErrorCode } from '../src/core/index.js';
import type { CallQueue, CallRecord, NewCall, StoredRequest, StoredResult } from '../src/queue/call-queue.js';

/** What a backend hands the suite for one test. */
export interface QueueHarness {
  queue: CallQueue;
  /** Opens the same queue again after the suite closed `queue` (durable backends only). */
  reopen?: () => Promise<CallQueue>;
  /** Removes what the test left (files, buckets); called after the suite closed its queue. */
  cleanup: () => Promise<void>;
}

/** Every byte value, so an encoding that is not binary-safe shows. */
const BINARY = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7) & 255));

function request(over: Partial<StoredRequest> = {}): StoredRequest {
  return {
    method: 'PUT',
    path: '/orders/42',
    query: 'a=1&b=%20two&c=%E2%82%AC&flag',
    headers: { 'content-type': 'application/octet-stream', 'x-trace': 'abc', 'x-unicode': 'é€' },
    body: Buffer.from(BINARY),
    ...over,
  };
}

function call(now: number, over: Partial<NewCall> = {}): NewCall {
  return { id: randomUUID(), namespace: 'team-a', name: 'resize', request: request(), now, ...over };
}

function result(over: Partial<StoredResult> = {}): StoredResult {
  return { status: 200, headers: { 'content-type': 'application/octet-stream', 'x-out': '1' }, body: Buffer.from([0, 255, 1, 254]), durationSeconds: 0.25, ...over };
}

function hasCode(code: ErrorCode) {
  return (err: unknown) => {
    assert.ok(isKssError(err), `expected a KssError ${code}, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  };
}

const ids = (calls: CallRecord[]) => calls.map((c) => c.id);

interface Ctx {
  q: CallQueue;
  reopen?: () => Promise<CallQueue>;
}

/** Registers the contract for one backend. */
export function queueContract(name: string, make: () => Promise<QueueHarness>): void {
  describe(`call queue contract: ${name}`, () => {
    const it = (title: string, fn: (ctx: Ctx) => Promise<void>) =>
      test(title, async () => {
        const h = await make();
        const ctx: Ctx = { q: h.queue, reopen: h.reopen };
        try {
          await fn(ctx);
        } finally {
          await ctx.q.close().catch(() => {});
          await h.cleanup();
        }
      });

    it('enqueue stores the request exactly; get shows it queued with no attempts', async ({ q }) => {
      const t0 = Date.now();
      const c = call(t0);
      const stored = await q.enqueue(c);
      const got = await q.get(c.id);
      assert.ok(got);
      assert.deepEqual(got, stored);
      assert.equal(got.id, c.id);
      assert.equal(got.namespace, 'team-a');
      assert.equal(got.name, 'resize');
      assert.equal(got.state, 'queued');
      assert.equal(got.attempts, 0);
      assert.equal(got.createdAt, t0);
      assert.equal(got.updatedAt, t0);
      assert.equal(got.dueAt, t0);
      assert.equal(got.callbackUrl, undefined);
      assert.equal(got.finishedAt, undefined);
      assert.equal(got.lastError, undefined);
      assert.equal(got.result, undefined);
      assert.deepEqual(got.callback, { state: 'none', attempts: 0 });
      assert.equal(got.request.method, 'PUT');
      assert.equal(got.request.path, '/orders/42');
      assert.equal(got.request.query, 'a=1&b=%20two&c=%E2%82%AC&flag');
      assert.deepEqual(got.request.headers, request().headers);
      assert.ok(Buffer.isBuffer(got.request.body));
      assert.ok(got.request.body.equals(BINARY));
      assert.equal(await q.get(randomUUID()), undefined);
      assert.equal(await q.get('no/such id?'), undefined);
    });

    it('an empty body and a 2 MiB body round-trip exactly, through lease and settle too', async ({ q }) => {
      const t0 = Date.now();
      const big = Buffer.alloc(2 * 1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 11)) & 255;
      const empty = call(t0, { request: request({ method: 'GET', path: '/', query: '', headers: {}, body: Buffer.alloc(0) }) });
      const large = call(t0 + 1, { request: request({ body: big }) });
      await q.enqueue(empty);
      await q.enqueue(large);
      const e = await q.get(empty.id);
      assert.equal(e?.request.body.length, 0);
      assert.deepEqual(e?.request.headers, {});
      assert.equal(e?.request.query, '');
      assert.ok((await q.get(large.id))?.request.body.equals(big));
      const leased = await q.lease(10, t0 + 10, 60_000);
      assert.deepEqual(ids(leased), [empty.id, large.id]);
      assert.ok(leased[1]!.request.body.equals(big));
      const reply = Buffer.from(big.subarray(0, 1_500_000));
      const settled = await q.settle(large.id, { kind: 'succeeded', result: result({ body: reply }) }, t0 + 20);
      assert.ok(settled.result?.body.equals(reply));
      assert.ok((await q.get(large.id))?.result?.body.equals(reply));
    });

    it('a second enqueue with the same id is refused and leaves the first unchanged', async ({ q }) => {
      const t0 = Date.now();
      const c = call(t0);
      const first = await q.enqueue(c);
      await assert.rejects(async () => q.enqueue({ ...c, name: 'other', now: t0 + 5 }));
      assert.deepEqual(await q.get(c.id), first);
    });

    it('lease marks a call running with a lease; when the lease expires it is due again (at least once)', async ({ q }) => {
      const t0 = Date.now();
      const c = call(t0);
      await q.enqueue(c);
      const [leased, ...more] = await q.lease(5, t0 + 1, 1000);
      assert.equal(more.length, 0);
      assert.ok(leased);
      assert.equal(leased.id, c.id);
      assert.equal(leased.state, 'running');
      assert.equal(leased.attempts, 1);
      assert.equal(leased.dueAt, t0 + 1001);
      assert.equal(leased.updatedAt, t0 + 1);
      assert.ok(leased.request.body.equals(BINARY));
      assert.deepEqual(await q.get(c.id), leased);
      assert.deepEqual(await q.lease(5, t0 + 1000, 1000), [], 'leased to one worker while the lease runs');
      const again = await q.lease(5, t0 + 1001, 1000);
      assert.deepEqual(ids(again), [c.id]);
      assert.equal(again[0]!.attempts, 2);
      assert.equal(again[0]!.state, 'running');
      assert.equal(again[0]!.dueAt, t0 + 2001);
    });

    it('lease takes due calls only, earliest first, at most max', async ({ q }) => {
      const t0 = Date.now();
      const a = call(t0);
      const b = call(t0 + 1);
      const c = call(t0 + 2);
      const later = call(t0 + 100);
      for (const x of [a, b, c, later]) await q.enqueue(x);
      assert.deepEqual(await q.lease(0, t0 + 50, 1000), []);
      assert.deepEqual(ids(await q.lease(2, t0 + 50, 1000)), [a.id, b.id]);
      assert.deepEqual(ids(await q.lease(5, t0 + 50, 1000)), [c.id]);
      assert.deepEqual(ids(await q.lease(5, t0 + 100, 1000)), [later.id]);
    });

    it('concurrent leases never hand out the same call', async ({ q }) => {
      const t0 = Date.now();
      const calls = Array.from({ length: 40 }, (_, i) => call(t0 + i));
      for (const c of calls) await q.enqueue(c);
      const [x, y] = await Promise.all([q.lease(40, t0 + 100, 60_000), q.lease(40, t0 + 100, 60_000)]);
      const four = await Promise.all([1, 2, 3, 4].map(() => q.lease(10, t0 + 100, 60_000)));
      const all = [...ids(x!), ...ids(y!), ...four.flatMap(ids)];
      assert.equal(new Set(all).size, all.length, 'a call was leased twice');
      const rest = await q.lease(40, t0 + 100, 60_000);
      assert.equal(all.length + rest.length, 40);
      for (const c of [...x!, ...y!, ...four.flat(), ...rest]) assert.equal(c.attempts, 1);
    });

    it('a call accept refuses stays queued and unchanged, and does not count against max', async ({ q }) => {
      const t0 = Date.now();
      const busy = call(t0, { name: 'busy' });
      const free = call(t0 + 1, { name: 'free' });
      await q.enqueue(busy);
      await q.enqueue(free);
      const before = await q.get(busy.id);
      const seen: CallRecord[] = [];
      const leased = await q.lease(1, t0 + 10, 1000, (c) => {
        seen.push(c);
        return c.name !== 'busy';
      });
      assert.deepEqual(ids(leased), [free.id]);
      assert.ok(seen.some((c) => c.id === busy.id && c.request.body.equals(BINARY)), 'accept sees the whole call');
      assert.deepEqual(await q.get(busy.id), before);
      assert.deepEqual(await q.lease(5, t0 + 10, 1000, () => false), []);
      assert.deepEqual(await q.get(busy.id), before);
      assert.deepEqual(ids(await q.lease(5, t0 + 10, 1000)), [busy.id]);
    });

    it('settle succeeded stores the result and finishes the call', async ({ q }) => {
      const t0 = Date.now();
      const c = call(t0);
      await q.enqueue(c);
      await q.lease(1, t0, 1000);
      const r = result();
      const settled = await q.settle(c.id, { kind: 'succeeded', result: r }, t0 + 300);
      assert.equal(settled.state, 'succeeded');
      assert.equal(settled.attempts, 1);
      assert.equal(settled.finishedAt, t0 + 300);
      assert.equal(settled.updatedAt, t0 + 300);
      assert.equal(settled.lastError, undefined);
      assert.deepEqual(settled.result, r);
      assert.deepEqual(settled.callback, { state: 'none', attempts: 0 }, 'no callback without a callback URL');
      assert.deepEqual(await q.get(c.id), settled);
      assert.deepEqual(await q.lease(5, t0 + 10_000_000, 1000), [], 'a finished call is never leased');
      assert.deepEqual(await q.leaseCallbacks(5, t0 + 10_000_000, 1000), []);
    });

    it('settle failed and dead finish the call with its error', async ({ q }) => {
      const t0 = Date.now();
      const f = call(t0);
      const d = call(t0 + 1);
      await q.enqueue(f);
      await q.enqueue(d);
      await q.lease(2, t0 + 1, 1000);
      const r = result({ status: 400, body: Buffer.from('bad input') });
      const failed = await q.settle(f.id, { kind: 'failed', result: r, error: 'status 400' }, t0 + 5);
      assert.equal(failed.state, 'failed');
      assert.equal(failed.lastError, 'status 400');
      assert.equal(failed.finishedAt, t0 + 5);
      assert.deepEqual(failed.result, r);
      const dead = await q.settle(d.id, { kind: 'dead', error: 'connection refused' }, t0 + 6);
      assert.equal(dead.state, 'dead');
      assert.equal(dead.lastError, 'connection refused');
      assert.equal(dead.finishedAt, t0 + 6);
      assert.equal(dead.result, undefined);
      assert.deepEqual(await q.get(d.id), dead);
      assert.deepEqual(await q.lease(5, t0 + 10_000_000, 1000), []);
    });

    it('settle retry requeues the call at dueAt: not leasable before, leasable after', async ({ q }) => {
      const t0 = Date.now();
      const c = call(t0);
      await q.enqueue(c);
      await q.lease(1, t0, 1000);
      const retried = await q.settle(c.id, { kind: 'retry', dueAt: t0 + 5000, error: 'status 503', result: result({ status: 503 }) }, t0 + 10);
      assert.equal(retried.state, 'queued');
      assert.equal(retried.dueAt, t0 + 5000);
      assert.equal(retried.lastError, 'status 503');
      assert.equal(retried.finishedAt, undefined);
      assert.equal(retried.attempts, 1);
      assert.deepEqual(await q.get(c.id), retried);
      assert.deepEqual(await q.lease(5, t0 + 4999, 1000), []);
      const [again] = await q.lease(5, t0 + 5000, 1000);
      assert.equal(again?.id, c.id);
      assert.equal(again?.attempts, 2);
      const done = await q.settle(c.id, { kind: 'succeeded', result: result() }, t0 + 5100);
      assert.equal(done.state, 'succeeded');
      assert.equal(done.lastError, undefined);
      assert.equal(done.attempts, 2);
    });

    it('settle, settleCallback and replay of an unknown call are KSS_CALL_NOT_FOUND', async ({ q }) => {
      const t0 = Date.now();
      await assert.rejects(async () => q.settle(randomUUID(), { kind: 'succeeded', result: result() }, t0), hasCode('KSS_CALL_NOT_FOUND'));
      await assert.rejects(async () => q.settleCallback(randomUUID(), { delivered: true }, t0), hasCode('KSS_CALL_NOT_FOUND'));
      await assert.rejects(async () => q.replay(randomUUID(), t0), hasCode('KSS_CALL_NOT_FOUND'));
    });

    it('a callback becomes pending on a final settlement; leaseCallbacks leases it; delivered ends it', async ({ q }) => {
      const t0 = Date.now();
      const c = call(t0, { callbackUrl: 'http://hooks.example/done' });
      const queued = await q.enqueue(c);
      assert.equal(queued.callbackUrl, 'http://hooks.example/done');
      assert.deepEqual(queued.callback, { state: 'none', attempts: 0 });
      await q.lease(1, t0, 1000);
      const retried = await q.settle(c.id, { kind: 'retry', dueAt: t0 + 100, error: 'status 502' }, t0 + 10);
      assert.equal(retried.callback.state, 'none', 'a retry is not final');
      assert.deepEqual(await q.leaseCallbacks(5, t0 + 10_000, 1000), []);
      await q.lease(1, t0 + 100, 1000);
      const done = await q.settle(c.id, { kind: 'succeeded', result: result() }, t0 + 200);
      assert.equal(done.callback.state, 'pending');
      assert.equal(done.callback.dueAt, t0 + 200);
      assert.equal(done.callback.attempts, 0);
      assert.deepEqual(await q.leaseCallbacks(5, t0 + 199, 1000), []);
      const [cb] = await q.leaseCallbacks(5, t0 + 200, 1000);
      assert.equal(cb?.id, c.id);
      assert.equal(cb?.callback.state, 'pending');
      assert.equal(cb?.callback.attempts, 1);
      assert.equal(cb?.callback.dueAt, t0 + 1200);
      assert.equal(cb?.state, 'succeeded');
      assert.deepEqual(cb?.result, result());
      assert.deepEqual(await q.leaseCallbacks(5, t0 + 1199, 1000), [], 'leased: not handed out twice');
      const [cb2] = await q.leaseCallbacks(5, t0 + 1200, 1000);
      assert.equal(cb2?.callback.attempts, 2, 'an expired callback lease is due again');
      await q.settleCallback(c.id, { delivered: true }, t0 + 1300);
      const after = await q.get(c.id);
      assert.equal(after?.callback.state, 'delivered');
      assert.equal(after?.callback.attempts, 2);
      assert.equal(after?.state, 'succeeded');
      assert.deepEqual(await q.leaseCallbacks(5, t0 + 10_000_000, 1000), []);
    });

    it('a failed callback delivery retries at retryAt, and gives up without one', async ({ q }) => {
      const t0 = Date.now();
      const c = call(t0, { callbackUrl: 'https://hooks.example/x' });
      await q.enqueue(c);
      await q.lease(1, t0, 1000);
      await q.settle(c.id, { kind: 'dead', error: 'status 500' }, t0 + 1);
      assert.equal((await q.leaseCallbacks(5, t0 + 1, 1000)).length, 1);
      await q.settleCallback(c.id, { delivered: false, error: 'callback status 503', retryAt: t0 + 5000 }, t0 + 2);
      const pending = await q.get(c.id);
      assert.equal(pending?.callback.state, 'pending');
      assert.equal(pending?.callback.dueAt, t0 + 5000);
      assert.equal(pending?.callback.lastError, 'callback status 503');
      assert.deepEqual(await q.leaseCallbacks(5, t0 + 4999, 1000), []);
      const [again] = await q.leaseCallbacks(5, t0 + 5000, 1000);
      assert.equal(again?.callback.attempts, 2);
      await q.settleCallback(c.id, { delivered: false, error: 'callback refused' }, t0 + 5001);
      const failed = await q.get(c.id);
      assert.equal(failed?.callback.state, 'failed');
      assert.equal(failed?.callback.lastError, 'callback refused');
      assert.equal(failed?.state, 'dead', 'the call itself is unchanged');
      assert.deepEqual(await q.leaseCallbacks(5, t0 + 10_000_000, 1000), []);
    });

    it('list filters by namespace, name and state, most recent first, with a limit', async ({ q }) => {
      const t0 = Date.now();
      const a1 = call(t0, { namespace: 'a', name: 'f' });
      const a2 = call(t0 + 1, { namespace: 'a', name: 'g' });
      const b1 = call(t0 + 2, { namespace: 'b', name: 'f' });
      const a3 = call(t0 + 3, { namespace: 'a', name: 'f' });
      for (const c of [a1, a2, b1, a3]) await q.enqueue(c);
      const [first] = await q.lease(1, t0 + 10, 60_000);
      assert.equal(first?.id, a1.id);
      await q.settle(a1.id, { kind: 'dead', error: 'x' }, t0 + 11);
      assert.deepEqual(ids(await q.list({})), [a3.id, b1.id, a2.id, a1.id]);
      assert.deepEqual(ids(await q.list({ namespace: 'a' })), [a3.id, a2.id, a1.id]);
      assert.deepEqual(ids(await q.list({ name: 'f' })), [a3.id, b1.id, a1.id]);
      assert.deepEqual(ids(await q.list({ namespace: 'a', name: 'f' })), [a3.id, a1.id]);
      assert.deepEqual(ids(await q.list({ state: 'dead' })), [a1.id]);
      assert.deepEqual(ids(await q.list({ state: 'queued', namespace: 'a' })), [a3.id, a2.id]);
      assert.deepEqual(ids(await q.list({ limit: 2 })), [a3.id, b1.id]);
      assert.deepEqual(await q.list({ namespace: 'nobody' }), []);
      assert.deepEqual(await q.list({ state: 'succeeded' }), []);
      const [top] = await q.list({ limit: 1 });
      assert.deepEqual(top, await q.get(a3.id), 'list returns whole records');
    });

    it('replay re-queues a finished call with attempts reset; a queued or running one is KSS_CALL_NOT_FINISHED', async ({ q }) => {
      const t0 = Date.now();
      const c = call(t0, { callbackUrl: 'http://hooks.example/r' });
      const other = call(t0 + 1);
      await q.enqueue(c);
      await q.enqueue(other);
      await assert.rejects(async () => q.replay(c.id, t0 + 2), hasCode('KSS_CALL_NOT_FINISHED'));
      await q.lease(1, t0 + 2, 1000);
      await assert.rejects(async () => q.replay(c.id, t0 + 3), hasCode('KSS_CALL_NOT_FINISHED'));
      await q.settle(c.id, { kind: 'dead', error: 'status 500', result: result({ status: 500 }) }, t0 + 4);
      const replayed = await q.replay(c.id, t0 + 50);
      assert.equal(replayed.state, 'queued');
      assert.equal(replayed.attempts, 0);
      assert.equal(replayed.dueAt, t0 + 50);
      assert.equal(replayed.updatedAt, t0 + 50);
      assert.equal(replayed.createdAt, t0);
      assert.equal(replayed.finishedAt, undefined);
      assert.equal(replayed.lastError, undefined);
      assert.equal(replayed.result, undefined);
      assert.equal(replayed.callbackUrl, 'http://hooks.example/r');
      assert.deepEqual(replayed.callback, { state: 'none', attempts: 0 });
      assert.ok(replayed.request.body.equals(BINARY));
      assert.deepEqual(await q.get(c.id), replayed);
      assert.deepEqual(await q.lease(5, t0 + 49, 1000, (x) => x.id === c.id), []);
      const [again] = await q.lease(5, t0 + 50, 1000, (x) => x.id === c.id);
      assert.equal(again?.id, c.id);
      assert.equal(again?.attempts, 1);
      await q.settle(c.id, { kind: 'succeeded', result: result() }, t0 + 60);
      assert.equal((await q.replay(c.id, t0 + 70)).state, 'queued', 'a succeeded call can be replayed too');
    });

    it('depth counts queued and running calls per function', async ({ q }) => {
      const t0 = Date.now();
      assert.deepEqual(await q.depth(), []);
      const f = [call(t0, { name: 'f' }), call(t0 + 1, { name: 'f' }), call(t0 + 2, { name: 'f' })];
      const g = call(t0 + 3, { namespace: 'other', name: 'g' });
      const done = call(t0 + 4, { name: 'h' });
      for (const c of [...f, g, done]) await q.enqueue(c);
      await q.lease(1, t0 + 10, 60_000);
      await q.lease(5, t0 + 10, 60_000, (c) => c.id === done.id);
      await q.settle(done.id, { kind: 'succeeded', result: result() }, t0 + 11);
      const depth = await q.depth();
      const byFn = Object.fromEntries(depth.map((d) => [`${d.namespace}/${d.name}`, d]));
      assert.deepEqual(Object.keys(byFn).sort(), ['other/g', 'team-a/f']);
      assert.equal(byFn['team-a/f']!.queued, 2);
      assert.equal(byFn['team-a/f']!.running, 1);
      assert.equal(byFn['other/g']!.queued, 1);
      assert.equal(byFn['other/g']!.running, 0);
      for (const d of depth) assert.ok(d.oldestMs === undefined || d.oldestMs >= 0);
    });

    it('calls survive a close and reopen; the leased one is leasable once its lease expires', async (ctx) => {
      if (!ctx.reopen) return;
      const t0 = Date.now();
      const calls = [call(t0), call(t0 + 1, { callbackUrl: 'http://hooks.example/d' }), call(t0 + 2)];
      for (const c of calls) await ctx.q.enqueue(c);
      const [leased] = await ctx.q.lease(1, t0 + 10, 30_000);
      assert.equal(leased?.id, calls[0]!.id);
      await ctx.q.close();
      await ctx.q.close();
      ctx.q = await ctx.reopen();
      for (const c of calls) {
        const got = await ctx.q.get(c.id);
        assert.ok(got, 'a stored call survives');
        assert.ok(got.request.body.equals(BINARY));
        assert.deepEqual(got.request.headers, c.request.headers);
        assert.equal(got.callbackUrl, c.callbackUrl);
      }
      assert.equal((await ctx.q.get(calls[0]!.id))?.attempts, 1);
      const all = await ctx.q.lease(10, t0 + 10 + 30_000, 1000);
      assert.deepEqual(new Set(ids(all)), new Set(calls.map((c) => c.id)));
      assert.equal(all.find((c) => c.id === calls[0]!.id)?.attempts, 2);
      assert.equal((await ctx.q.list({})).length, 3);
    });

    it('500 parallel enqueues are all stored with distinct ids and each leased exactly once', async ({ q }) => {
      const t0 = Date.now();
      const n = 500;
      const calls = Array.from({ length: n }, (_, i) => call(t0 + (i % 7), { name: `f${i % 5}`, request: request({ body: Buffer.from(`call ${i}`) }) }));
      const stored = await Promise.all(calls.map((c) => q.enqueue(c)));
      assert.equal(new Set(ids(stored)).size, n);
      assert.equal((await q.list({ limit: 1000 })).length, n);
      assert.equal((await q.list({})).length, 100, 'list defaults to 100');
      assert.equal((await q.depth()).reduce((s, d) => s + d.queued, 0), n);
      const leasedCount = new Map<string, number>();
      let settled = 0;
      const deadline = Date.now() + 30_000;
      const worker = async () => {
        while (settled < n && Date.now() < deadline) {
          const got = await q.lease(25, t0 + 100, 60_000);
          if (got.length === 0) {
            await new Promise((r) => setImmediate(r));
            continue;
          }
          for (const c of got) leasedCount.set(c.id, (leasedCount.get(c.id) ?? 0) + 1);
          await Promise.all(got.map((c) => q.settle(c.id, { kind: 'succeeded', result: result() }, t0 + 101)));
          settled += got.length;
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      assert.equal(leasedCount.size, n, 'every call was leased');
      for (const [id, times] of leasedCount) assert.equal(times, 1, `call ${id} leased ${times} times`);
      assert.equal(settled, n);
      assert.deepEqual(await q.lease(1000, t0 + 10_000_000, 1000), []);
      assert.deepEqual(await q.depth(), []);
      assert.equal((await q.list({ state: 'succeeded', limit: 1000 })).length, n);
    });

    it('a closed queue refuses work with KSS_SHUTTING_DOWN; close is idempotent', async ({ q }) => {
      const t0 = Date.now();
      const c = call(t0);
      await q.enqueue(c);
      await q.close();
      await q.close();
      await assert.rejects(async () => q.get(c.id), hasCode('KSS_SHUTTING_DOWN'));
      await assert.rejects(async () => q.enqueue(call(t0)), hasCode('KSS_SHUTTING_DOWN'));
      await assert.rejects(async () => q.lease(1, t0, 1000), hasCode('KSS_SHUTTING_DOWN'));
    });
  });
}
