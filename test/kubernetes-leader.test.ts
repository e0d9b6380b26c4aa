/**
 * Two gateway replicas on one (fake) cluster: the cron trigger (every copy of which
 * would fire every tick) runs on the replica holding the `kube-serverless-triggers`
 * Lease only; the other shows it in standby, and takes it over when the leader stops.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { simulateWorkloads, startFakeKubeApi, type FakeKubeApi, writeKubeconfigFile } from './fake-kube-api/index.js';
import { deployFunction, eventually, startTestPlatform, type TestPlatform } from './helpers.js';
import { runPod } from './kube-pod-runner.js';
import mqtt from 'mqtt';
import { REPORTER, startSink } from './broker-helpers.js';
import type { TriggerStatus } from '../src/triggers/index.js';

// Short lease for the test (production: 15 s / 5 s / 2 s).
const LEASE = { leaseDurationMs: 3_000, renewIntervalMs: 1_000, retryPeriodMs: 500 };

const TICKER = `
module.exports = async (event, context) => {
  const h = event.headers;
  await fetch(process.env.SINK, { method: 'POST', body: JSON.stringify({ body: '', at: h['x-kss-scheduled-at'], trigger: h['x-kss-trigger'], catchUp: h['x-kss-catch-up'] }) });
  return context.status(200).succeed('tick');
};`;

let api: FakeKubeApi;
let sink: Awaited<ReturnType<typeof startSink>>;
const gateways: TestPlatform[] = [];

before(async () => {
  api = await startFakeKubeApi();
  simulateWorkloads(api, { startReplica: (pod) => runPod(api, pod), restartBackoffMs: 100 });
  sink = await startSink();
});
after(async () => {
  for (const g of gateways) await g.close().catch(() => undefined);
  await api?.close();
  await sink?.close();
});

async function gateway(): Promise<TestPlatform> {
  const g = await startTestPlatform({ provider: 'kubernetes', kubeconfig: writeKubeconfigFile(api), resyncMs: 1000, leaderElection: LEASE });
  gateways.push(g);
  return g;
}

async function triggersOf(g: TestPlatform, name: string): Promise<TriggerStatus[]> {
  return (await g.client.listTriggers({ function: name })).triggers;
}

/** Ticks (scheduled-at) the function ran more than once. */
function duplicates(): string[] {
  const seen = new Map<string, number>();
  for (const r of sink.reports) seen.set(String(r.at), (seen.get(String(r.at)) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([at]) => at);
}

test('a cron trigger every second runs once per tick with two replicas; the standby replica takes over when the leader stops', async () => {
  const a = await gateway();
  const b = await gateway();
  // Deployed through one while both run: the other follows the Function resource.
  await deployFunction(a.client, 'ticker', { 'handler.js': TICKER }, { envVars: { SINK: sink.url }, triggers: [{ type: 'cron', name: 'every-second', schedule: '* * * * * *', mode: 'sync' }] });
  // The first replica started first and holds the Lease; the second knows the trigger and waits.
  await eventually(async () => (await triggersOf(a, 'ticker'))[0]?.state === 'scheduled', 10_000, 'the leader running the cron trigger');
  await eventually(async () => (await triggersOf(b, 'ticker'))[0]?.state === 'standby', 10_000, 'the other replica in standby');
  const [standby] = await triggersOf(b, 'ticker');
  assert.equal(standby!.reason, 'another gateway replica leads');
  const lease = api.get('leases', 'kube-serverless', 'kube-serverless-triggers') as { spec: { holderIdentity: string; leaseDurationSeconds: number } } | undefined;
  assert.ok(lease?.spec.holderIdentity, 'the Lease has a holder');
  assert.equal(lease.spec.leaseDurationSeconds, 3);
  // Through the HTTP API as well (what `kss triggers` prints).
  const res = await b.api('/api/v1/triggers');
  assert.equal(res.status, 200);
  const listed = (await res.json()) as { triggers: TriggerStatus[] };
  assert.equal(listed.triggers.find((t) => t.function === 'ticker')?.state, 'standby');

  // ~5 s of ticks: about one run per second, none twice.
  const start = sink.reports.length;
  await new Promise((r) => setTimeout(r, 5_000));
  const ran = sink.reports.length - start;
  assert.ok(ran >= 3 && ran <= 7, `${ran} runs in 5 s`);
  assert.deepEqual(duplicates(), [], 'no tick ran twice');

  // The leader stops (releasing the Lease): the other replica takes over within the lease duration.
  const stoppedAt = Date.now();
  await a.close();
  await eventually(async () => (await triggersOf(b, 'ticker'))[0]?.state === 'scheduled', 3_000 + 2_000, 'the standby replica taking the cron trigger over');
  const takeover = Date.now() - stoppedAt;
  assert.ok(takeover <= LEASE.leaseDurationMs + 1_000, `took over after ${takeover} ms`);
  const before = sink.reports.length;
  await eventually(() => sink.reports.length >= before + 2, 5_000, 'ticks continuing on the new leader');
  assert.deepEqual(duplicates(), [], 'no tick ran twice across the fail-over');
  assert.equal(sink.reports.filter((r) => r.catchUp).length, 0, 'no catch-up run on take-over');

  await b.client.removeFunction('ticker');
});

test('an MQTT trigger with two replicas: each message (real Mosquitto) is handled once, by the leader', async () => {
  // Two fresh replicas (the previous test's are closed first, releasing the Lease).
  for (const g of gateways.splice(0)) await g.close();
  const a = await gateway();
  const b = await gateway();
  const run = `${process.pid}-${Date.now()}`;
  await deployFunction(b.client, 'mqtt-once', { 'handler.js': REPORTER }, { envVars: { SINK: sink.url }, triggers: [{ type: 'mqtt', name: 'meters', url: 'mqtt://127.0.0.1:1883', topic: `kss-leader/${run}/reading`, qos: 1, mode: 'sync' }] });
  // One replica subscribes; the other waits in standby.
  await eventually(async () => {
    const states = await Promise.all([a, b].map(async (g) => (await triggersOf(g, 'mqtt-once'))[0]?.state));
    return states.includes('connected') && states.includes('standby');
  }, 15_000, 'one replica connected, the other standby');
  const client = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `pub-leader-${run}` });
  const N = 20;
  for (let i = 0; i < N; i++) await client.publishAsync(`kss-leader/${run}/reading`, `once-${run}-${i}`, { qos: 1 });
  await client.endAsync();
  const bodies = () => sink.reports.filter((r) => String(r.body).startsWith(`once-${run}-`)).map((r) => String(r.body));
  await eventually(() => new Set(bodies()).size === N, 20_000, `${N} messages handled`);
  // Time for a second subscriber's copies to arrive, were there one.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(bodies().length, N, 'no message was handled twice');
});
