/**
 * What the JetStream queue does beyond the shared contract (queue-contract.test.ts): several
 * gateways on one queue, a clear error when NATS is not there, and a server restart.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { isKssError } from '../src/core/index.js';
import type { CallQueue, NewCall } from '../src/queue/call-queue.js';
import { destroyJetStreamQueue, openJetStreamQueue } from '../src/queue/jetstream-queue.js';
import { natsForTests, natsServerBinary, startPrivateNats } from './nats-helper.js';

const nats = await natsForTests();
const skip = nats.url === undefined ? nats.skip : false;
after(() => (nats.url !== undefined ? nats.stop() : undefined));

const uniquePrefix = () => `kss-test-${process.pid}-${randomBytes(4).toString('hex')}`;

function call(now: number, over: Partial<NewCall> = {}): NewCall {
  return { id: randomUUID(), namespace: 'ns', name: 'f', request: { method: 'POST', path: '/', query: '', headers: {}, body: Buffer.from('x') }, now, ...over };
}

async function eventually(check: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('jetstream queue', { skip }, () => {
  const servers = nats.url ?? '';

  test('two gateways on one queue: each call leased exactly once, changes seen by both', async () => {
    const prefix = uniquePrefix();
    const a = await openJetStreamQueue({ servers, prefix });
    const b = await openJetStreamQueue({ servers, prefix });
    try {
      const t0 = Date.now();
      const calls = Array.from({ length: 200 }, (_, i) => call(t0 + (i % 3), { name: `f${i % 4}` }));
      await Promise.all(calls.map((c, i) => (i % 2 ? a : b).enqueue(c)));
      // get reads the server: the other gateway's enqueue is there at once.
      assert.equal((await b.get(calls[1]!.id))?.state, 'queued');
      // list and depth read the watched index: there within moments.
      await eventually(async () => (await a.list({ limit: 1000 })).length === 200 && (await b.list({ limit: 1000 })).length === 200, 'both indexes to hold 200 calls');
      const times = new Map<string, number>();
      let settled = 0;
      const deadline = Date.now() + 20_000;
      const worker = async (q: CallQueue) => {
        while (settled < 200 && Date.now() < deadline) {
          const got = await q.lease(10, t0 + 10, 60_000);
          if (!got.length) {
            await new Promise((r) => setTimeout(r, 1));
            continue;
          }
          for (const c of got) times.set(c.id, (times.get(c.id) ?? 0) + 1);
          await Promise.all(got.map((c) => q.settle(c.id, { kind: 'succeeded', result: { status: 200, headers: {}, body: Buffer.alloc(0), durationSeconds: 0 } }, t0 + 11)));
          settled += got.length;
        }
      };
      await Promise.all([worker(a), worker(b), worker(a), worker(b)]);
      assert.equal(times.size, 200);
      for (const [id, n] of times) assert.equal(n, 1, `call ${id} leased ${n} times`);
      await eventually(async () => (await a.depth()).length === 0 && (await b.depth()).length === 0, 'both depths to reach zero');
      // A lease taken on one gateway expires and is taken over by the other.
      const c = call(t0 + 20);
      await a.enqueue(c);
      await eventually(async () => (await b.list({ state: 'queued' })).some((x) => x.id === c.id), 'b to see the call');
      assert.equal((await b.lease(5, t0 + 30, 1000)).length, 1);
      await eventually(async () => (await a.list({ state: 'running' })).some((x) => x.id === c.id), 'a to see the lease');
      assert.deepEqual(await a.lease(5, t0 + 1029, 1000), []);
      const [taken] = await a.lease(5, t0 + 1030, 1000);
      assert.equal(taken?.attempts, 2);
    } finally {
      await a.close();
      await b.close();
      await destroyJetStreamQueue({ servers, prefix });
    }
  });

  test('a server that is not there: a clear error naming the URL, quickly', async () => {
    const started = Date.now();
    await assert.rejects(openJetStreamQueue({ servers: 'nats://127.0.0.1:1', prefix: uniquePrefix(), connectTimeoutMs: 2000 }), (err: Error) => {
      assert.match(err.message, /nats:\/\/127\.0\.0\.1:1/);
      assert.match(err.message, /cannot connect to NATS/);
      return true;
    });
    assert.ok(Date.now() - started < 5000);
  });

  test('an invalid prefix is refused before connecting', async () => {
    await assert.rejects(openJetStreamQueue({ servers, prefix: 'bad prefix!' }), (err: unknown) => isKssError(err) && err.code === 'KSS_BAD_REQUEST');
  });

  test('with the server gone, operations fail with an error naming it, and close still returns', { skip: natsServerBinary() ? false : 'nats-server is not installed' }, async () => {
    const own = await startPrivateNats(natsServerBinary()!);
    const q = await openJetStreamQueue({ servers: own.url, prefix: uniquePrefix(), timeoutMs: 2000 });
    try {
      await q.enqueue(call(Date.now()));
      await own.stop();
      const started = Date.now();
      await assert.rejects(q.enqueue(call(Date.now())), (err: Error) => {
        assert.ok(err.message.includes(own.url), err.message);
        assert.match(err.message, /enqueue failed/);
        return true;
      });
      assert.ok(Date.now() - started < 4000, `a write fails within the timeout (took ${Date.now() - started} ms)`);
      const closing = Date.now();
      await q.close();
      assert.ok(Date.now() - closing < 8000, 'close does not wait for the server');
    } finally {
      await q.close();
      await own.remove();
    }
  });

  test('the queue keeps working across a NATS server restart', { skip: natsServerBinary() ? false : 'nats-server is not installed' }, async () => {
    const own = await startPrivateNats(natsServerBinary()!);
    const prefix = uniquePrefix();
    const q = await openJetStreamQueue({ servers: own.url, prefix });
    try {
      const t0 = Date.now();
      const before = call(t0);
      await q.enqueue(before);
      await own.stop();
      await own.start();
      const afterRestart = call(t0 + 1);
      // The client reconnects on its own; the write goes through once it has.
      await eventually(async () => {
        try {
          await q.enqueue(afterRestart);
          return true;
        } catch {
          // A write whose acknowledgement was lost may have landed all the same.
          return (await q.get(afterRestart.id).catch(() => undefined)) !== undefined;
        }
      }, 'an enqueue after the restart', 15_000);
      assert.equal((await q.get(before.id))?.state, 'queued', 'stored before the restart, still there');
      const leased = await q.lease(10, t0 + 10, 1000);
      assert.deepEqual(new Set(leased.map((c) => c.id)), new Set([before.id, afterRestart.id]));
      // The watcher came back too: another gateway's write shows in this one's index.
      const other = await openJetStreamQueue({ servers: own.url, prefix });
      const late = call(t0 + 2);
      await other.enqueue(late);
      await other.close();
      await eventually(async () => (await q.list({})).some((c) => c.id === late.id), 'the watcher to deliver a write made after the restart', 10_000);
    } finally {
      await q.close();
      await own.remove();
    }
  });
});
