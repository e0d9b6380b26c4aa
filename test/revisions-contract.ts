/**
 * The revisions contract (issue #12), over real sockets, for every provider: every
 * changing deploy makes a revision, traffic is split by weight within statistical
 * bounds, requests can be pinned, a rollback is immediate and loses no request in
 * flight, and a canary rolls back on an injected error rate and completes when
 * healthy — its steps driven by a fake clock. `test/revisions.test.ts` runs it on the
 * local provider, `test/kubernetes-revisions.test.ts` on the Kubernetes one (fake API
 * server, simulated kubelet).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../src/core/index.js';
import { deployFunction, eventually, type TestPlatform } from './helpers.js';

/** A handler that says which version it is; `?fail=1` on a failing version answers 500; `?sleep=ms` waits. */
export const versioned = (version: string, failing = false) => `
export default async (req) => {
  const url = new URL(req.url);
  const ms = Number(url.searchParams.get('sleep') ?? 0);
  if (ms) await new Promise((r) => setTimeout(r, ms));
  if (${failing}) return new Response('broken ${version}', { status: 500 });
  return new Response('${version}');
};`;

export interface RevisionsContractSetup {
  /** Names the suite (the provider). */
  label: string;
  /** Starts a platform whose canaries step on `canaryClock` (and, when given, with short autoscaler windows). */
  start(options: { canaryClock: FakeClock; readyWaitMs: number; autoscaler?: { tickMs: number; windows: { stableMs: number; panicMs: number } } }): Promise<TestPlatform>;
  /** After the platform closed (a fake cluster to stop). */
  cleanup?(): Promise<void>;
}

export function revisionsContract(setup: RevisionsContractSetup): void {
  describe(`revisions on ${setup.label}`, () => {
    let p: TestPlatform;
    const canaryClock = new FakeClock(Date.now());

    /**
     * Waits for `check` while nudging the fake clock a second at a time: the controller's
     * loop re-arms its timer only after each (async) tick, so one big advance fires one tick.
     */
    function onCanaryClock(check: () => Promise<boolean>, what: string): Promise<void> {
      return eventually(async () => {
        canaryClock.advance(1_000);
        return check();
      }, 10_000, what);
    }

    before(async () => {
      p = await setup.start({ canaryClock, readyWaitMs: 20_000 });
    });
    after(async () => {
      await p?.close();
      await setup.cleanup?.();
    });

    async function revisions(name: string) {
      const res = await p.api(`/api/v1/functions/${name}/revisions`);
      assert.equal(res.status, 200);
      return (await res.json()) as {
        latestRevision: string;
        traffic: { revision: string; percent: number }[];
        canary: null | { revision: string; percent: number; from: string };
        revisions: { revision: string; createdBy: string; code: string; percent: number; pinned: boolean }[];
      };
    }

    async function call(path: string, init: RequestInit = {}) {
      const res = await fetch(`${p.url}${path}`, init);
      return { status: res.status, revision: res.headers.get('x-kss-revision'), text: await res.text(), error: res.headers.get('x-kss-error') };
    }

    function setTraffic(name: string, traffic: unknown) {
      return p.api(`/api/v1/functions/${name}/traffic`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ traffic }) });
    }

    test('every changing deploy makes an immutable revision; an unchanged one does not; status names the serving revision', async () => {
      await deployFunction(p.client, 'ver', { 'handler.js': versioned('one') });
      let r = await call('/function/ver');
      assert.deepEqual([r.status, r.text, r.revision], [200, 'one', 'r1']);
      await deployFunction(p.client, 'ver', { 'handler.js': versioned('two') });
      r = await call('/function/ver');
      assert.deepEqual([r.status, r.text, r.revision], [200, 'two', 'r2']);
      // The same code and spec again: Knative's rule, no new revision.
      await deployFunction(p.client, 'ver', { 'handler.js': versioned('two') });
      const view = await revisions('ver');
      assert.deepEqual(view.revisions.map((x) => x.revision), ['r2', 'r1']);
      assert.equal(view.latestRevision, 'r2');
      assert.deepEqual(view.traffic, [{ revision: 'r2', percent: 100 }]);
      assert.equal(view.revisions[0]!.createdBy, 'admin');
      assert.match(view.revisions[1]!.code, /^sha256:/);
      assert.notEqual(view.revisions[0]!.code, view.revisions[1]!.code);
      const status = (await (await p.api('/system/function/ver')).json()) as { latestRevision: string; traffic: unknown; availableReplicas: number };
      assert.equal(status.latestRevision, 'r2');
      assert.deepEqual(status.traffic, [{ revision: 'r2', percent: 100 }]);
      assert.ok(status.availableReplicas >= 1);
      // The old revision's replicas stop once it left the split.
      await eventually(async () => !(await (await p.api('/system/function/ver')).json() as { instances: { id: string }[] }).instances.some((i) => i.id.startsWith('ver--r1-')), 15_000, 'r1 stopped');
    });

    test('traffic is split by weight within statistical bounds, and each reply says which revision served it', async () => {
      assert.equal((await setTraffic('ver', { r1: 70, r2: 30 })).status, 200);
      const n = 2000;
      const counts: Record<string, number> = {};
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < n) {
            next++;
            const r = await call('/function/ver');
            assert.equal(r.status, 200);
            assert.equal(r.text, r.revision === 'r1' ? 'one' : 'two', 'the body matches the revision header');
            counts[r.revision!] = (counts[r.revision!] ?? 0) + 1;
          }
        }),
      );
      const total = (counts.r1 ?? 0) + (counts.r2 ?? 0);
      assert.equal(total, n);
      // Binomial(2000, 0.3): σ ≈ 20.5; ±5σ fails a correct split about once in 1.7 million runs.
      const expected = n * 0.3;
      const sigma = Math.sqrt(n * 0.3 * 0.7);
      assert.ok(Math.abs(counts.r2! - expected) < 5 * sigma, `r2 served ${counts.r2} of ${n} (expected ${expected} ± ${Math.round(5 * sigma)})`);
      const status = (await (await p.api('/system/function/ver')).json()) as { traffic: unknown };
      assert.deepEqual(status.traffic, [{ revision: 'r2', percent: 30 }, { revision: 'r1', percent: 70 }]);
      // Per revision in the metrics.
      const metrics = await (await fetch(`${p.url}/metrics`)).text();
      assert.match(metrics, /gateway_function_invocation_total\{function_name="ver\.openfaas-fn",code="200",revision="r2"\} \d+/);
    });

    test('a header or a per-revision URL pins a request; pins outside the split are refused', async () => {
      for (let i = 0; i < 10; i++) {
        assert.equal((await call('/function/ver', { headers: { 'X-Kss-Revision': 'r1' } })).revision, 'r1');
        assert.equal((await call('/function/ver@r2')).revision, 'r2');
      }
      assert.equal((await call('/function/ver.openfaas-fn@r1/some/path?x=1')).text, 'one');
      // A revision at 0% stays reachable by pinning (testing before shifting traffic).
      assert.equal((await setTraffic('ver', { r1: 0, r2: 100 })).status, 200);
      for (let i = 0; i < 20; i++) assert.equal((await call('/function/ver')).revision, 'r2');
      assert.equal((await call('/function/ver@r1')).text, 'one');
      const missing = await call('/function/ver@r9');
      assert.deepEqual([missing.status, missing.error], [404, 'KSS_REVISION_NOT_FOUND']);
      assert.match(missing.text, /kss traffic ver/);
      const bad = await call('/function/ver@latest');
      assert.deepEqual([bad.status, bad.error], [400, 'KSS_INVALID_TRAFFIC']);
      const badHeader = await call('/function/ver', { headers: { 'X-Kss-Revision': 'r7' } });
      assert.deepEqual([badHeader.status, badHeader.error], [404, 'KSS_REVISION_NOT_FOUND']);
      // Async calls carry the pin too.
      const accepted = await fetch(`${p.url}/async-function/ver@r1`, { method: 'POST' });
      assert.equal(accepted.status, 202);
    });

    test('rollback is immediate and loses no request in flight', async () => {
      assert.equal((await setTraffic('ver', { r2: 100 })).status, 200);
      // Requests in flight on r2 when the rollback lands.
      const inFlight = Array.from({ length: 6 }, () => call('/function/ver?sleep=800'));
      await new Promise((r) => setTimeout(r, 200));
      const res = await p.api('/api/v1/functions/ver/rollback', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(res.status, 200);
      const view = (await res.json()) as { traffic: unknown };
      assert.deepEqual(view.traffic, [{ revision: 'r1', percent: 100 }]);
      // At once: the very next request goes to r1.
      const nextOne = await call('/function/ver');
      assert.deepEqual([nextOne.status, nextOne.revision, nextOne.text], [200, 'r1', 'one']);
      for (const r of await Promise.all(inFlight)) assert.deepEqual([r.status, r.revision, r.text], [200, 'r2', 'two']);
      // --to goes anywhere kept; an event names who did it.
      const to = await p.api('/api/v1/functions/ver/rollback', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: 'r2' }) });
      assert.equal(to.status, 200);
      assert.equal((await call('/function/ver')).revision, 'r2');
      const logs = await (await p.api('/system/logs?name=ver&tail=100')).text();
      assert.match(logs, /rolled back to r1 by admin: r1=100%, was r2=100%/);
    });

    test('bad traffic, rollback and pin requests get a 4xx with a catalogue code and change nothing', async () => {
      const before = await revisions('ver');
      const cases: [unknown, number, string][] = [
        [{ r1: 50, r2: 40 }, 400, 'KSS_INVALID_TRAFFIC'],
        [{ r1: 50.5, r2: 49.5 }, 400, 'KSS_INVALID_TRAFFIC'],
        [{ r1: -10, r2: 110 }, 400, 'KSS_INVALID_TRAFFIC'],
        [{ latest: 100 }, 400, 'KSS_INVALID_TRAFFIC'],
        [{}, 400, 'KSS_INVALID_TRAFFIC'],
        ['r1=100', 400, 'KSS_INVALID_TRAFFIC'],
        [[{ revision: 'r1', percent: 50 }, { revision: 'r1', percent: 50 }], 400, 'KSS_INVALID_TRAFFIC'],
        [{ r9: 100 }, 404, 'KSS_REVISION_NOT_FOUND'],
      ];
      for (const [traffic, status, code] of cases) {
        const res = await setTraffic('ver', traffic);
        assert.equal(res.status, status, JSON.stringify(traffic));
        const body = (await res.json()) as { code: string; message: string };
        assert.equal(body.code, code);
        assert.ok(body.message.length > 10);
      }
      const noBody = await p.api('/api/v1/functions/ver/traffic', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"split":1}' });
      assert.equal(noBody.status, 400);
      assert.equal((await setTraffic('nope', { r1: 100 })).status, 404);
      const sumMessage = (await (await setTraffic('ver', { r1: 50, r2: 40 })).json()) as { message: string };
      assert.match(sumMessage.message, /add up to 90; they must add up to 100/);
      const badTo = await p.api('/api/v1/functions/ver/rollback', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: 'yesterday' }) });
      assert.equal(badTo.status, 400);
      const goneTo = await p.api('/api/v1/functions/ver/rollback', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: 'r40' }) });
      assert.equal(goneTo.status, 404);
      assert.equal((await p.api('/api/v1/functions/ver/revisions/r40/pin', { method: 'POST' })).status, 404);
      assert.equal((await p.api('/api/v1/functions/ver/revisions/x/pin', { method: 'POST' })).status, 400);
      assert.equal((await fetch(`${p.url}/api/v1/functions/ver/traffic`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"traffic":{"r1":100}}' })).status, 401);
      // A name that looks like a revision's deployment is reserved.
      const reserved = await p.api('/api/v1/functions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ service: 'ver--r1', runtime: 'exec', envProcess: 'cat' }) });
      assert.equal(reserved.status, 400);
      const after = await revisions('ver');
      assert.deepEqual(after.traffic, before.traffic, 'nothing changed');
    });

    test('old revisions are garbage-collected by count (last 10 kept) unless pinned', async () => {
      await deployFunction(p.client, 'many', { 'handler.js': versioned('v1') });
      const pin = await p.api('/api/v1/functions/many/revisions/r1/pin', { method: 'POST' });
      assert.equal(pin.status, 200);
      assert.equal(((await pin.json()) as { pinned: boolean }).pinned, true);
      for (let v = 2; v <= 13; v++) await p.client.deploy({ service: 'many', runtime: 'node', code: (await p.client.uploadCode(await packOne(versioned(`v${v}`)))).digest });
      const view = await revisions('many');
      assert.deepEqual(view.revisions.map((r) => r.revision), ['r13', 'r12', 'r11', 'r10', 'r9', 'r8', 'r7', 'r6', 'r5', 'r4', 'r1']);
      assert.equal((await call('/function/many@r13')).text, 'v13');
      // The pinned one can still be rolled back to: no rebuild, its build was kept.
      assert.equal((await p.api('/api/v1/functions/many/rollback', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"to":"r1"}' })).status, 200);
      assert.equal((await call('/function/many')).text, 'v1');
      await p.client.removeFunction('many');
    });

    test('a canary rolls back by itself on an injected error rate, and completes when healthy (fake clock)', async () => {
      await deployFunction(p.client, 'canary', { 'handler.js': versioned('stable') });
      const plan = '20%, step=40%/1m, max-error-rate=5%';
      // r2 is broken: 500 on every request.
      await deployFunction(p.client, 'canary', { 'handler.js': versioned('broken', true) }, { annotations: { 'kss.canary': plan } });
      let view = await revisions('canary');
      assert.deepEqual(view.traffic, [{ revision: 'r2', percent: 20 }, { revision: 'r1', percent: 80 }]);
      assert.equal(view.canary?.revision, 'r2');
      for (let i = 0; i < 10; i++) assert.equal((await call('/function/canary@r2')).status, 500);
      for (let i = 0; i < 20; i++) await call('/function/canary');
      canaryClock.advance(60_000);
      await onCanaryClock(async () => (await revisions('canary')).canary === null, 'the canary decided');
      view = await revisions('canary');
      assert.deepEqual(view.traffic, [{ revision: 'r1', percent: 100 }]);
      let logs = await (await p.api('/system/logs?name=canary&tail=200')).text();
      assert.match(logs, /canary r2 rolled back to r1 at 20%: error rate \d+\.\d% > 5\.0%/);
      for (let i = 0; i < 10; i++) assert.equal((await call('/function/canary')).text, 'stable');

      // r3 is healthy: 20 → 60 → 100, one step a (fake) minute; a step with no request holds.
      await deployFunction(p.client, 'canary', { 'handler.js': versioned('healthy') }, { annotations: { 'kss.canary': plan } });
      assert.deepEqual((await revisions('canary')).traffic, [{ revision: 'r3', percent: 20 }, { revision: 'r1', percent: 80 }]);
      canaryClock.advance(60_000);
      await onCanaryClock(async () => (await p.api('/system/logs?name=canary&tail=200').then((r) => r.text())).includes('no requests reached it'), 'a hold');
      assert.deepEqual((await revisions('canary')).traffic, [{ revision: 'r3', percent: 20 }, { revision: 'r1', percent: 80 }]);
      for (const expected of [60, 100]) {
        for (let i = 0; i < 10; i++) assert.equal((await call('/function/canary@r3')).text, 'healthy');
        canaryClock.advance(60_000);
        await onCanaryClock(async () => ((await revisions('canary')).traffic.find((t) => t.revision === 'r3')?.percent ?? 0) === expected, `r3 at ${expected}%`);
      }
      view = await revisions('canary');
      assert.deepEqual(view.traffic, [{ revision: 'r3', percent: 100 }]);
      assert.equal(view.canary, null);
      logs = await (await p.api('/system/logs?name=canary&tail=200')).text();
      assert.match(logs, /canary r3: 20% → 60% \(r1 40%\); error rate 0\.0% \(0 of 10 requests in 60s\)/);
      assert.match(logs, /canary r3 complete: 100%/);
      // A bad plan is refused before anything is built.
      const bad = await p.api('/api/v1/functions/canary', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ runtime: 'node', code: view.revisions[0]!.code, annotations: { 'kss.canary': '150%' } }) });
      assert.equal(bad.status, 400);
    });

    test('each revision scales on its own: an idle one goes to zero while the other serves, and a pinned request wakes it', async () => {
      // Short autoscaler windows, so idleness shows in seconds (test/autoscaling.test.ts does the same).
      const q = await setup.start({ canaryClock: new FakeClock(Date.now()), readyWaitMs: 20_000, autoscaler: { tickMs: 200, windows: { stableMs: 3_000, panicMs: 600 } } });
      try {
        const labels = { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '2s', 'com.openfaas.scale.max': '2' };
        await deployFunction(q.client, 'halves', { 'handler.js': versioned('one') }, { labels });
        await deployFunction(q.client, 'halves', { 'handler.js': versioned('two') }, { labels });
        const traffic = await q.api('/api/v1/functions/halves/traffic', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ traffic: { r1: 50, r2: 50 } }) });
        assert.equal(traffic.status, 200);
        const replicasOf = async () => {
          const view = (await (await q.api('/api/v1/functions/halves/revisions')).json()) as { revisions: { revision: string; replicas: number }[] };
          return Object.fromEntries(view.revisions.map((r) => [r.revision, r.replicas]));
        };
        await eventually(async () => (await replicasOf()).r1 === 1, 20_000, 'r1 running again once it is in the split');
        // Only r2 is asked (pinned): r1 idles to zero, r2 keeps its replica.
        await eventually(async () => {
          const r = await fetch(`${q.url}/function/halves@r2`);
          assert.equal(await r.text(), 'two');
          const now = await replicasOf();
          return now.r1 === 0 && now.r2! >= 1;
        }, 20_000, 'r1 at zero while r2 serves');
        const woken = await fetch(`${q.url}/function/halves@r1`);
        assert.deepEqual([woken.status, woken.headers.get('x-kss-revision'), await woken.text()], [200, 'r1', 'one']);
        assert.ok((await replicasOf()).r1! >= 1, 'the request woke r1');
      } finally {
        await q.close();
      }
    });

    test('revisions survive a gateway restart: the split is restored and served', async () => {
      assert.equal((await setTraffic('ver', { r1: 50, r2: 50 })).status, 200);
      p = await p.restart();
      const view = await revisions('ver');
      assert.deepEqual(view.traffic, [{ revision: 'r2', percent: 50 }, { revision: 'r1', percent: 50 }]);
      await p.client.waitReady('ver', { timeoutMs: 20_000 });
      const seen = new Set<string>();
      for (let i = 0; i < 60 && seen.size < 2; i++) seen.add((await call('/function/ver')).revision!);
      assert.deepEqual([...seen].sort(), ['r1', 'r2']);
      // Removing the function forgets its revisions: a new one starts at r1.
      await p.client.removeFunction('ver');
      await deployFunction(p.client, 'ver', { 'handler.js': versioned('fresh') });
      assert.deepEqual((await revisions('ver')).revisions.map((r) => r.revision), ['r1']);
    });
  });
}

async function packOne(source: string): Promise<Buffer> {
  const { packDirectory } = await import('../src/archive/index.js');
  const { writeFunction } = await import('./helpers.js');
  return packDirectory(writeFunction({ 'handler.js': source }));
}
