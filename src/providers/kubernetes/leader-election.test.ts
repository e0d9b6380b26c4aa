/** The Lease elector's state machine on a fake clock against an in-memory Lease API (optimistic concurrency like the API server's). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { V1Lease } from '@kubernetes/client-node';
import { FakeClock } from '../../core/fake-clock.js';
import { LeaderElector, type LeaseApi } from './leader-election.js';

const logger = pino({ level: 'silent' });

class FakeLeases {
  lease: V1Lease | undefined;
  rv = 0;
  writes = 0;
  fail(code: number): never {
    throw Object.assign(new Error(`HTTP ${code}`), { code });
  }
  /** One replica's view; `down()` makes its calls fail as if the API server were unreachable from it. */
  client(): LeaseApi & { down: boolean } {
    const self = this;
    const copy = (l: V1Lease) => JSON.parse(JSON.stringify(l)) as V1Lease;
    const c = {
      down: false,
      async readNamespacedLease() {
        await Promise.resolve();
        if (c.down) throw new Error('ECONNREFUSED');
        if (!self.lease) self.fail(404);
        return copy(self.lease!);
      },
      async createNamespacedLease({ body }: { body: V1Lease }) {
        await Promise.resolve();
        if (c.down) throw new Error('ECONNREFUSED');
        if (self.lease) self.fail(409);
        self.writes++;
        self.lease = copy({ ...body, metadata: { ...body.metadata, resourceVersion: String(++self.rv) } });
        return copy(self.lease!);
      },
      async replaceNamespacedLease({ body }: { body: V1Lease }) {
        await Promise.resolve();
        if (c.down) throw new Error('ECONNREFUSED');
        if (!self.lease) self.fail(404);
        if (body.metadata?.resourceVersion !== self.lease!.metadata?.resourceVersion) self.fail(409);
        self.writes++;
        self.lease = copy({ ...body, metadata: { ...body.metadata, resourceVersion: String(++self.rv) } });
        return copy(self.lease!);
      },
    };
    return c as unknown as LeaseApi & { down: boolean };
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

function elector(leases: FakeLeases, clock: FakeClock, identity: string, api = leases.client()) {
  const e = new LeaderElector({ api, namespace: 'kube-serverless', identity, clock, logger });
  const events: Array<[string, number]> = [];
  e.onStartedLeading(() => void events.push(['started', clock.now()]));
  e.onStoppedLeading(() => void events.push(['stopped', clock.now()]));
  return { e, events, api };
}

async function advance(clock: FakeClock, ms: number, step = 100): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await flush();
  }
}

/** `a` starts first and leads; `b` follows. */
async function leaderThenFollower() {
  const clock = new FakeClock();
  const leases = new FakeLeases();
  const a = elector(leases, clock, 'a');
  await a.e.start();
  const b = elector(leases, clock, 'b');
  await b.e.start();
  return { clock, leases, a, b };
}

test('a lone replica creates the Lease, leads at once and renews every 5 s', async () => {
  const clock = new FakeClock();
  const leases = new FakeLeases();
  const a = elector(leases, clock, 'a');
  await a.e.start();
  await a.e.settled();
  assert.equal(a.e.leading, true);
  assert.deepEqual(a.events.map(([k]) => k), ['started']);
  assert.equal(leases.lease?.spec?.holderIdentity, 'a');
  assert.equal(leases.lease?.spec?.leaseDurationSeconds, 15);
  const first = new Date(leases.lease!.spec!.renewTime!).getTime();
  await advance(clock, 5_000);
  assert.equal(new Date(leases.lease!.spec!.renewTime!).getTime(), first + 5_000);
  await advance(clock, 10_000);
  assert.equal(leases.writes, 4); // create + 3 renewals in 15 s
  await a.e.stop();
  assert.equal(leases.lease?.spec?.holderIdentity, '');
  assert.deepEqual(a.events.map(([k]) => k), ['started', 'stopped']);
});

test('two replicas started together: exactly one leads (the other loses the create with a 409)', async () => {
  const clock = new FakeClock();
  const leases = new FakeLeases();
  const a = elector(leases, clock, 'a');
  const b = elector(leases, clock, 'b');
  await Promise.all([a.e.start(), b.e.start()]);
  await advance(clock, 20_000);
  assert.equal([a.e.leading, b.e.leading].filter(Boolean).length, 1);
  assert.equal(leases.lease?.spec?.holderIdentity, a.e.leading ? 'a' : 'b');
  assert.equal((a.e.leading ? b : a).events.length, 0, 'the follower never led');
  await a.e.stop();
  await b.e.stop();
});

test('release on stop: the follower takes over at its next retry (2 s), not after the lease duration', async () => {
  const { clock, leases, a, b } = await leaderThenFollower();
  assert.equal(b.e.leading, false);
  assert.equal(b.e.holder, 'a');
  const stoppedAt = clock.now();
  await a.e.stop();
  await advance(clock, 2_000);
  assert.equal(b.e.leading, true);
  assert.ok(b.events[0]![1] - stoppedAt <= 2_000);
  assert.equal(leases.lease?.spec?.leaseTransitions, 1);
  await b.e.stop();
});

test('a leader cut off from the API steps down when its lease expires; the follower takes over no earlier', async () => {
  const { clock, leases, a, b } = await leaderThenFollower();
  await advance(clock, 3_000);
  a.api.down = true;
  const lastRenew = new Date(leases.lease!.spec!.renewTime!).getTime();
  await advance(clock, lastRenew + 14_000 - clock.now());
  assert.equal(a.e.leading, true, 'still within the lease');
  assert.equal(b.e.leading, false);
  await advance(clock, 4_000);
  assert.equal(a.e.leading, false, 'stepped down');
  assert.equal(b.e.leading, true, 'took over');
  const [, aStopped] = a.events.find(([k]) => k === 'stopped')!;
  const [, bStarted] = b.events.find(([k]) => k === 'started')!;
  assert.equal(aStopped, lastRenew + 15_000);
  assert.ok(bStarted >= aStopped, `b started at +${bStarted - lastRenew} ms, a stopped at +${aStopped - lastRenew} ms`);
  // Back online: a sees b's lease and stays a follower.
  a.api.down = false;
  await advance(clock, 10_000);
  assert.equal(a.e.leading, false);
  assert.equal(a.e.holder, 'b');
  await a.e.stop();
  await b.e.stop();
});

test('a leader that finds another holder on the Lease at its renew steps down at once', async () => {
  const clock = new FakeClock();
  const leases = new FakeLeases();
  const a = elector(leases, clock, 'a');
  await a.e.start();
  // Another replica (say, with a clock far ahead) took the lease over.
  leases.lease = { ...leases.lease!, metadata: { ...leases.lease!.metadata, resourceVersion: String(++leases.rv) }, spec: { ...leases.lease!.spec, holderIdentity: 'z', renewTime: new Date(clock.now()) as never } };
  await advance(clock, 5_000);
  assert.equal(a.e.leading, false);
  assert.equal(a.e.holder, 'z');
  await a.e.stop();
  assert.equal(leases.lease?.spec?.holderIdentity, 'z', 'stop does not release a lease it does not hold');
});
