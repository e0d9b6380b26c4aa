/**
 * Event triggers against the real brokers on this machine (Mosquitto, NATS with
 * JetStream, RabbitMQ) and private ones that a test restarts mid-stream: every message
 * reaches the function, nothing acknowledged is lost across a broker restart, a
 * failing function ends in the broker's dead letter (RabbitMQ DLX, JetStream max
 * deliveries), removed functions stop consuming, and bad triggers are refused at deploy.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import amqp from 'amqplib';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, jetstream, type ConsumerInfo } from '@nats-io/jetstream';
import { deployFunction, eventually, runKss, startTestPlatform, tempDir, type TestPlatform } from './helpers.js';
import { freeTcpPort, REPORTER, restartRabbitMq, startPrivateMosquitto, startSink, type Report } from './broker-helpers.js';
import { natsServerBinary, startPrivateNats } from './nats-helper.js';
import { ApiError } from '../src/client/index.js';
import type { TriggerStatus } from '../src/triggers/index.js';

const MQTT = 'mqtt://127.0.0.1:1883';
const NATS = 'nats://127.0.0.1:4222';
const AMQP = 'amqp://127.0.0.1:5672';
const FAST_RETRY = { 'com.openfaas.retry.min_wait': '20ms', 'com.openfaas.retry.max_wait': '100ms', 'com.openfaas.retry.attempts': '3' };

let p: TestPlatform;
let sink: Awaited<ReturnType<typeof startSink>>;
const run = randomUUID().slice(0, 8);

/** Deploys the reporter with `triggers`; waits until every trigger is connected or scheduled. */
async function deployReporter(name: string, triggers: unknown[], extra: Record<string, unknown> = {}): Promise<void> {
  await deployFunction(p.client, name, { 'handler.js': REPORTER }, { envVars: { SINK: sink.url }, triggers, ...extra });
  await eventually(async () => {
    const { triggers: ts } = await p.client.listTriggers({ function: name });
    return ts.length === triggers.length && ts.every((t) => t.state === 'connected' || t.state === 'scheduled');
  }, 15_000, `${name}'s triggers to connect`);
}

function bodiesOf(prefix: string): Set<string> {
  return new Set(sink.reports.filter((r) => r.ok && r.body.startsWith(prefix)).map((r) => r.body));
}

/** Waits until every body in `expected` was reported; on timeout, says which are missing. */
async function allProcessed(expected: string[], timeoutMs: number, what: string): Promise<void> {
  try {
    await eventually(() => {
      const seen = new Set(sink.reports.filter((r) => r.ok).map((r) => r.body));
      return expected.every((b) => seen.has(b));
    }, timeoutMs, what);
  } catch (err) {
    const seen = new Set(sink.reports.filter((r) => r.ok).map((r) => r.body));
    const missing = expected.filter((b) => !seen.has(b));
    const states: Record<string, number> = {};
    for (const c of (await p.client.listCalls({ limit: 1000 })).items) states[`${c.function}:${c.state}`] = (states[`${c.function}:${c.state}`] ?? 0) + 1;
    throw new Error(`calls ${JSON.stringify(states)}; ` + `${(err as Error).message}: ${missing.length} of ${expected.length} missing (${missing.slice(0, 10).join(', ')}…); ${sink.reports.length} reports in all`);
  }
}

async function triggersOf(name: string): Promise<TriggerStatus[]> {
  return (await p.client.listTriggers({ function: name })).triggers;
}

/** Waits until a JetStream consumer has nothing undelivered or unacknowledged; on timeout, says what it still has. */
async function consumerCaughtUp(nc: NatsConnection, stream: string, durable: string, timeoutMs: number): Promise<void> {
  let last: ConsumerInfo | undefined;
  try {
    await eventually(async () => {
      last = await (await jetstreamManager(nc)).consumers.info(stream, durable);
      return last.num_pending === 0 && last.num_ack_pending === 0;
    }, timeoutMs, 'the consumer caught up');
  } catch (err) {
    const l = last;
    throw new Error(`${(err as Error).message}: ${l ? `${l.num_pending} undelivered, ${l.num_ack_pending} unacknowledged, ${l.num_redelivered} redelivered; delivered ${l.delivered.stream_seq}, ack floor ${l.ack_floor.stream_seq}` : 'no consumer info'}`);
  }
}

/** Deletes queues a crashed earlier run may have left for these functions (a test run must not depend on the last one). */
async function clearRabbitQueues(functions: string[]): Promise<void> {
  const conn = await amqp.connect(AMQP);
  try {
    const ch = await conn.createChannel();
    for (const fn of functions) {
      await ch.deleteQueue(`kss.openfaas-fn.${fn}.rabbitmq`);
      await ch.deleteQueue(`kss.openfaas-fn.${fn}.rabbitmq.dead`);
    }
  } finally {
    await conn.close();
  }
}

async function deployError(spec: Record<string, unknown>): Promise<ApiError> {
  try {
    await deployFunction(p.client, `bad-${randomUUID().slice(0, 6)}`, { 'handler.js': REPORTER }, spec);
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  assert.fail('the deploy was accepted');
}

/** A gateway and a sink for the tests of one `describe`, with queues of earlier runs cleared. */
function usePlatform(): void {
  before(async () => {
    await clearRabbitQueues(['rabbit-fn', 'rabbit-sync', 'life-fn', 'rb-restart']);
    sink = await startSink();
    p = await startTestPlatform({ random: () => 0.5 });
  });
  after(async () => {
    await p.close();
    await sink.close();
  });
}

describe('event triggers (real brokers)', () => {
  usePlatform();

  test('bad triggers are refused at deploy with a 400 and the reason', async () => {
    const closed = await freeTcpPort();
    const cases: Array<[unknown[] | undefined, Record<string, unknown>, string, RegExp]> = [
      [[{ type: 'kafka', topic: 'x' }], {}, 'KSS_INVALID_TRIGGER', /not a trigger type; known types: cron, mqtt, nats, rabbitmq/],
      [[{ type: 'cron', schedule: '61 * * * *' }], {}, 'KSS_INVALID_TRIGGER', /not a valid cron schedule/],
      [[{ type: 'cron', schedule: '* * *' }], {}, 'KSS_INVALID_TRIGGER', /has 3 fields/],
      [[{ type: 'cron', schedule: '* * * * *', timezone: 'Mars/Olympus' }], {}, 'KSS_INVALID_TRIGGER', /not an IANA time zone/],
      [[{ type: 'mqtt', url: `mqtt://127.0.0.1:${closed}`, topic: 'a/b' }], {}, 'KSS_TRIGGER_UNREACHABLE', /cannot connect to the MQTT broker at mqtt:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/],
      [[{ type: 'nats', url: `nats://127.0.0.1:${closed}`, subject: 'a.b' }], {}, 'KSS_TRIGGER_UNREACHABLE', /cannot connect to NATS/],
      [[{ type: 'rabbitmq', url: `amqp://127.0.0.1:${closed}`, exchange: 'x' }], {}, 'KSS_TRIGGER_UNREACHABLE', /cannot connect to RabbitMQ.*ECONNREFUSED/],
      [[{ type: 'mqtt', url: 'mqtt://user:pw@127.0.0.1:1883', topic: 'a' }], {}, 'KSS_INVALID_TRIGGER', /credentials do not go in the URL/],
      [[{ type: 'mqtt', url: MQTT, topic: 'a/#/b' }], {}, 'KSS_INVALID_TRIGGER', /'#' must be the last level/],
      [[{ type: 'nats', url: NATS, subject: 'a..b' }], {}, 'KSS_INVALID_TRIGGER', /not a NATS subject/],
      [[{ type: 'nats', url: NATS, subject: 'a.b', stream: `NO_SUCH_${run}` }], {}, 'KSS_TRIGGER_UNREACHABLE', /stream "NO_SUCH_.*" not found/],
      [[{ type: 'rabbitmq', url: AMQP, queue: `no-such-${run}` }], {}, 'KSS_TRIGGER_UNREACHABLE', /has no queue "no-such-/],
      [[{ type: 'rabbitmq', url: AMQP, exchange: 'x', queue: 'y' }], {}, 'KSS_INVALID_TRIGGER', /either `exchange`.*or `queue`, not both/],
      [[{ type: 'mqtt', url: MQTT, topic: 'a', credentials: 'nope' }], {}, 'KSS_MISSING_SECRET', /secret "nope" does not exist/],
      [[{ type: 'cron', schedule: '* * * * *' }, { type: 'cron', name: 'cron', schedule: '* * * * *' }], {}, 'KSS_INVALID_TRIGGER', /"cron" is used by another trigger/],
      [undefined, { annotations: { topic: 'cron-function' } }, 'KSS_INVALID_TRIGGER', /needs a `schedule` annotation/],
      ['not a list' as unknown as unknown[], {}, 'KSS_INVALID_TRIGGER', /expected a list/],
    ];
    for (const [triggers, extra, code, message] of cases) {
      const err = await deployError({ ...(triggers !== undefined ? { triggers } : {}), ...extra });
      assert.equal(err.status, 400, `${JSON.stringify(triggers)}: ${err.message}`);
      assert.equal(err.code, code, `${JSON.stringify(triggers)}: ${err.message}`);
      assert.match(err.message, message);
    }
    // Nothing was deployed by any of them.
    assert.equal((await p.client.listFunctions()).filter((f) => f.name.startsWith('bad-')).length, 0);
  });

  test('MQTT: every QoS 1 message on a wildcard topic reaches the function once stored; topic in X-Topic', async () => {
    await deployReporter('mqtt-fn', [{ type: 'mqtt', url: MQTT, topic: `kss-test/${run}/+/reading`, qos: 1 }]);
    const client = await mqtt.connectAsync(MQTT, { clientId: `pub-${run}` });
    const N = 40;
    for (let i = 0; i < N; i++) await client.publishAsync(`kss-test/${run}/meter${i % 3}/reading`, `m-${run}-${i}`, { qos: 1 });
    await client.publishAsync(`kss-test/${run}/meter0/other`, `m-${run}-nope`, { qos: 1 });
    await client.endAsync();
    await eventually(() => bodiesOf(`m-${run}-`).size === N, 20_000, `${N} MQTT messages`);
    const r = sink.reports.find((x) => x.body === `m-${run}-4`)!;
    assert.equal(r.topic, `kss-test/${run}/meter1/reading`);
    assert.equal(r.trigger, 'mqtt/mqtt');
    assert.ok(!bodiesOf(`m-${run}-nope`).size, 'a topic outside the filter is not consumed');
    // Async by default: each message is a call in `kss calls`.
    const { items } = await p.client.listCalls({ function: 'mqtt-fn', limit: 1000 });
    assert.equal(items.length, N);
    const [t] = await triggersOf('mqtt-fn');
    assert.equal(t!.messages.accepted, N);
    assert.equal(t!.state, 'connected');
    const metrics = await (await fetch(`${p.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`function_trigger_messages_total\\{function_name="mqtt-fn\\.openfaas-fn",trigger="mqtt",type="mqtt",outcome="accepted"\\} ${N}`));
    assert.match(metrics, /function_trigger_connected\{function_name="mqtt-fn\.openfaas-fn",trigger="mqtt",type="mqtt"\} 1/);
  });

  test('NATS core, sync mode: a request gets the function\'s reply (request/reply)', async () => {
    const subject = `kss.test.${run}.ask`;
    await deployReporter('nats-fn', [{ type: 'nats', url: NATS, subject: `kss.test.${run}.*`, mode: 'sync' }]);
    const nc = await natsConnect({ servers: NATS });
    try {
      const reply = await nc.request(subject, `q-${run}`, { timeout: 10_000 });
      assert.equal(reply.string(), `got:q-${run}`);
      const r = sink.reports.find((x) => x.body === `q-${run}`)!;
      assert.equal(r.topic, subject);
      assert.equal(r.trigger, 'nats/nats');
    } finally {
      await nc.close();
    }
  });

  test('JetStream: a durable consumer acknowledges each message once stored; nothing left pending', async () => {
    const stream = `KSS_TEST_${run}`;
    const nc = await natsConnect({ servers: NATS });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`kss.js.${run}.>`] });
    try {
      await deployReporter('js-fn', [{ type: 'nats', url: NATS, subject: `kss.js.${run}.>`, stream }]);
      const js = jetstream(nc);
      const N = 30;
      for (let i = 0; i < N; i++) await js.publish(`kss.js.${run}.x`, `j-${run}-${i}`);
      await eventually(() => bodiesOf(`j-${run}-`).size === N, 20_000, `${N} JetStream messages`);
      const durable = `kss-openfaas-fn-js-fn-nats`;
      await eventually(async () => {
        const info = await jsm.consumers.info(stream, durable);
        return info.num_pending === 0 && info.num_ack_pending === 0;
      }, 10_000, 'every JetStream message acknowledged');
    } finally {
      await p.client.removeFunction('js-fn').catch(() => undefined);
      await jsm.streams.delete(stream).catch(() => undefined);
      await nc.close();
    }
  });

  test('JetStream, sync mode: a failing function is redelivered up to max deliveries, then terminated and dead-lettered', async () => {
    const stream = `KSS_DLQ_${run}`;
    const nc = await natsConnect({ servers: NATS });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`kss.dlq.${run}.>`] });
    const dead = nc.subscribe(`kss.dead.${run}`);
    const deadMessages: string[] = [];
    void (async () => {
      for await (const m of dead) deadMessages.push(m.string());
    })();
    try {
      await deployReporter('js-sync', [{ type: 'nats', url: NATS, subject: `kss.dlq.${run}.>`, stream, mode: 'sync', maxDeliver: 3, deadLetter: `kss.dead.${run}` }], { annotations: FAST_RETRY });
      await jetstream(nc).publish(`kss.dlq.${run}.a`, `fail-${run}`);
      await eventually(() => deadMessages.length === 1, 20_000, 'the dead letter');
      assert.equal(deadMessages[0], `fail-${run}`);
      const attempts = sink.reports.filter((r) => r.body === `fail-${run}`).map((r) => r.attempt);
      assert.deepEqual(attempts, ['1', '2', '3'], 'three deliveries, each seen by the function');
      const [t] = await triggersOf('js-sync');
      assert.equal(t!.messages.deadLettered, 1);
      await eventually(async () => (await jsm.consumers.info(stream, 'kss-openfaas-fn-js-sync-nats')).num_ack_pending === 0, 5_000, 'the terminated message no longer pending').catch(async (e) => { throw new Error(e.message + JSON.stringify(await jsm.consumers.info(stream, 'kss-openfaas-fn-js-sync-nats'))); });
    } finally {
      dead.unsubscribe();
      await p.client.removeFunction('js-sync').catch(() => undefined);
      await jsm.streams.delete(stream).catch(() => undefined);
      await nc.close();
    }
  });

  test('RabbitMQ: exchange + routing key; each message acknowledged once stored; headers carry the routing key', async () => {
    const exchange = `kss-test-${run}`;
    await deployReporter('rabbit-fn', [{ type: 'rabbitmq', url: AMQP, exchange, routingKey: 'meter.*.reading' }]);
    const conn = await amqp.connect(AMQP);
    const ch = await conn.createConfirmChannel();
    const N = 30;
    for (let i = 0; i < N; i++) ch.publish(exchange, `meter.${i % 4}.reading`, Buffer.from(`r-${run}-${i}`), { persistent: true, contentType: 'text/plain' });
    ch.publish(exchange, 'meter.1.other', Buffer.from(`r-${run}-nope`));
    await ch.waitForConfirms();
    await eventually(() => bodiesOf(`r-${run}-`).size === N, 20_000, `${N} RabbitMQ messages`);
    const r = sink.reports.find((x) => x.body === `r-${run}-5`)!;
    assert.equal(r.topic, 'meter.1.reading');
    assert.match(r.contentType ?? '', /text\/plain/);
    assert.ok(!bodiesOf(`r-${run}-nope`).size);
    const q = await ch.checkQueue(`kss.openfaas-fn.rabbit-fn.rabbitmq`);
    assert.equal(q.messageCount, 0, 'nothing left unacknowledged');
    await conn.close();
    await p.client.removeFunction('rabbit-fn');
  });

  test('RabbitMQ, sync mode: a failing function is retried, then the message goes to the dead-letter exchange', async () => {
    const exchange = `kss-dlx-test-${run}`;
    await deployReporter('rabbit-sync', [{ type: 'rabbitmq', url: AMQP, exchange, routingKey: '#', mode: 'sync', reply: 'replies' }], { annotations: FAST_RETRY });
    const conn = await amqp.connect(AMQP);
    const ch = await conn.createConfirmChannel();
    const replies = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(replies.queue, exchange, 'replies');
    const got: string[] = [];
    await ch.consume(replies.queue, (m) => m && got.push(m.content.toString()), { noAck: true });
    ch.publish(exchange, 'x', Buffer.from(`fail-rb-${run}`), { persistent: true });
    ch.publish(exchange, 'x', Buffer.from(`ok-${run}`), { persistent: true });
    await ch.waitForConfirms();
    const deadQueue = `kss.openfaas-fn.rabbit-sync.rabbitmq.dead`;
    await eventually(async () => (await ch.checkQueue(deadQueue)).messageCount === 1, 20_000, 'the message in the dead-letter queue');
    const m = await ch.get(deadQueue, { noAck: true });
    assert.ok(m);
    assert.equal(m.content.toString(), `fail-rb-${run}`);
    assert.equal(m.properties.headers?.['x-death']?.[0]?.exchange, exchange, 'dead-lettered by RabbitMQ, with its x-death record');
    assert.deepEqual(sink.reports.filter((r) => r.body === `fail-rb-${run}`).map((r) => r.attempt), ['1', '2', '3']);
    // The healthy message's reply was published with the `reply` routing key.
    await eventually(() => got.includes(`got:ok-${run}`), 10_000, 'the reply');
    await conn.close();
    await p.client.removeFunction('rabbit-sync');
  });

  test('MQTT 5, sync mode: the reply goes to the message\'s response topic with its correlation data', async () => {
    await deployReporter('mqtt5-fn', [{ type: 'mqtt', url: MQTT, topic: `kss-test/${run}/ask`, protocolVersion: 5, mode: 'sync' }]);
    const client = await mqtt.connectAsync(MQTT, { clientId: `pub5-${run}`, protocolVersion: 5 });
    try {
      const replies: Array<{ body: string; correlation?: string }> = [];
      client.on('message', (_topic, payload, packet) => replies.push({ body: payload.toString(), correlation: packet.properties?.correlationData?.toString() }));
      await client.subscribeAsync(`kss-test/${run}/answers`, { qos: 1 });
      await client.publishAsync(`kss-test/${run}/ask`, `v5-${run}`, { qos: 1, properties: { responseTopic: `kss-test/${run}/answers`, correlationData: Buffer.from('corr-1'), contentType: 'text/plain' } });
      await eventually(() => replies.length === 1, 10_000, 'the MQTT 5 reply');
      assert.deepEqual(replies[0], { body: `got:v5-${run}`, correlation: 'corr-1' });
      assert.match(sink.reports.find((r) => r.body === `v5-${run}`)!.contentType ?? '', /text\/plain/, 'the v5 content type reaches the function');
    } finally {
      await client.endAsync();
      await p.client.removeFunction('mqtt5-fn');
    }
  });

  test('credentials come from a secret: right ones connect, wrong ones are refused at deploy with the broker\'s reason', async () => {
    await p.client.createSecret({ name: 'rabbit-login', value: 'guest:guest' });
    await p.client.createSecret({ name: 'rabbit-wrong', value: 'guest:not-the-password' });
    await deployReporter('cred-fn', [{ type: 'rabbitmq', url: AMQP, exchange: `kss-cred-${run}`, credentials: 'rabbit-login' }]);
    const err = await deployError({ triggers: [{ type: 'rabbitmq', url: AMQP, exchange: `kss-cred-${run}`, credentials: 'rabbit-wrong' }] });
    assert.equal(err.code, 'KSS_TRIGGER_UNREACHABLE');
    assert.match(err.message, /ACCESS.REFUSED|403/i);
    assert.ok(!err.message.includes('not-the-password'), 'the password never appears in an error');
    // A secret a trigger logs in with cannot be deleted while the function uses it.
    const del = await p.api('/system/secrets', { method: 'DELETE', body: JSON.stringify({ name: 'rabbit-login' }), headers: { 'content-type': 'application/json' } });
    assert.equal(del.status, 409);
    await p.client.removeFunction('cred-fn');
  });

  test('update changes a trigger; remove stops it: nothing keeps consuming for a removed function', async () => {
    const exchange = `kss-lifecycle-${run}`;
    await deployReporter('life-fn', [{ type: 'rabbitmq', url: AMQP, exchange, routingKey: 'a' }]);
    const spec = await p.client.getFunction('life-fn');
    await p.client.deploy({ service: 'life-fn', runtime: 'node', code: spec.code, envVars: { SINK: sink.url }, triggers: [{ type: 'rabbitmq', url: AMQP, exchange, routingKey: 'b' }] } as never);
    await eventually(async () => (await triggersOf('life-fn'))[0]?.source.endsWith(`${exchange} b`) === true && (await triggersOf('life-fn'))[0]?.state === 'connected', 10_000, 'the changed trigger');
    const conn = await amqp.connect(AMQP);
    const ch = await conn.createConfirmChannel();
    // The queue keeps its old binding (a queue is ours, bindings add up); what matters is the consumer.
    ch.publish(exchange, 'b', Buffer.from(`l-${run}-b`), { persistent: true });
    await ch.waitForConfirms();
    await eventually(() => bodiesOf(`l-${run}-b`).size === 1, 10_000, 'the message on the new key');
    await p.client.removeFunction('life-fn');
    assert.deepEqual(await triggersOf('life-fn'), []);
    // Our queue went with the function (nobody would consume it again); its dead letters stay for inspection.
    const probe = await conn.createChannel();
    probe.on('error', () => undefined);
    await assert.rejects(probe.checkQueue('kss.openfaas-fn.life-fn.rabbitmq'), /404|NOT_FOUND/);
    ch.publish(exchange, 'b', Buffer.from(`l-${run}-after`), { persistent: true });
    await ch.waitForConfirms();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(bodiesOf(`l-${run}-after`).size, 0, 'nothing consumed for the removed function');
    await conn.close().catch(() => undefined);
  });

  test('kss triggers and kss describe show each trigger and, when its broker is down, why', async () => {
    const broker = await startPrivateMosquitto();
    try {
      await deployReporter('desc-fn', [{ type: 'mqtt', url: broker.url, topic: 'a/b' }, { type: 'cron', schedule: '0 0 1 1 *', timezone: 'Europe/Berlin' }]);
      const { token } = await p.client.createToken({ name: 'triggers-cli', scopes: ['read'] });
      const cwd = tempDir('kss-triggers-cli-');
      const env: NodeJS.ProcessEnv = { ...process.env, KSS_GATEWAY: p.url, KSS_TOKEN: token, KSS_CONFIG: `${cwd}/config.json`, OPENFAAS_CONFIG: `${cwd}/openfaas` };
      let out = await runKss(['triggers'], { cwd, env });
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /desc-fn\.openfaas-fn\s+mqtt\s+mqtt\s+async\s+mqtt:\/\/127\.0\.0\.1:\d+ a\/b\s+connected/);
      assert.match(out.stdout, /cron\s+cron\s+async\s+0 0 1 1 \* \(Europe\/Berlin\)\s+scheduled, next 20\d\d-12-31T23:00:00\.000Z/);
      await broker.stop();
      await eventually(async () => (await triggersOf('desc-fn')).find((t) => t.type === 'mqtt')?.state === 'disconnected', 10_000, 'the trigger to notice');
      out = await runKss(['describe', 'desc-fn'], { cwd, env });
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /mqtt\s+mqtt\s+async\s+\S+ a\/b\s+disconnected: /);
      const json = JSON.parse((await runKss(['triggers', 'desc-fn', '--json'], { cwd, env })).stdout) as TriggerStatus[];
      assert.equal(json.find((t) => t.type === 'mqtt')!.state, 'disconnected');
      assert.ok(json.find((t) => t.type === 'mqtt')!.reason);
      // The function stays deployed and serving while its broker is down; it reconnects when the broker is back.
      assert.equal((await fetch(`${p.url}/function/desc-fn`, { method: 'POST', body: 'direct' })).status, 200);
      await broker.start();
      await eventually(async () => (await triggersOf('desc-fn')).find((t) => t.type === 'mqtt')?.state === 'connected', 45_000, 'the reconnect (backoff doubles while the broker is down, up to 30 s)');
      const logs = await (await p.api('/system/logs?name=desc-fn&tail=200')).text();
      assert.match(logs, /lost its broker connection|cannot reach its broker/);
    } finally {
      await p.client.removeFunction('desc-fn').catch(() => undefined);
      await broker.remove();
    }
  });
});

describe('broker restarts mid-stream: nothing acknowledged is lost', () => {
  usePlatform();

  test('MQTT (QoS 1, broker restarted while publishing)', async () => {
    const broker = await startPrivateMosquitto();
    try {
      await deployReporter('mq-restart', [{ type: 'mqtt', url: broker.url, topic: 'meters/#', qos: 1 }]);
      const acked: string[] = [];
      const N = 150;
      let pub = await mqtt.connectAsync(broker.url, { clientId: `pub-r-${run}`, reconnectPeriod: 0 });
      for (let i = 0; i < N; i++) {
        if (i === N / 2) {
          await pub.endAsync(true).catch(() => undefined);
          await broker.stop();
          await new Promise((r) => setTimeout(r, 500));
          await broker.start();
          pub = await mqtt.connectAsync(broker.url, { clientId: `pub-r-${run}`, reconnectPeriod: 0 });
        }
        const body = `mr-${run}-${i}`;
        await pub.publishAsync('meters/m1', body, { qos: 1 });
        acked.push(body);
      }
      await pub.endAsync();
      await allProcessed(acked, 30_000, 'every acknowledged MQTT message processed');
      const [t] = await triggersOf('mq-restart');
      assert.equal(t!.state, 'connected');
    } finally {
      await p.client.removeFunction('mq-restart').catch(() => undefined);
      await broker.remove();
    }
  });

  test('JetStream (server restarted while publishing)', { skip: natsServerBinary() ? false : 'no nats-server binary' }, async () => {
    const server = await startPrivateNats(natsServerBinary()!);
    const stream = 'RESTART';
    try {
      let nc = await natsConnect({ servers: server.url });
      await (await jetstreamManager(nc)).streams.add({ name: stream, subjects: ['restart.>'] });
      await deployReporter('js-restart', [{ type: 'nats', url: server.url, subject: 'restart.>', stream }]);
      const acked: string[] = [];
      const N = 150;
      for (let i = 0; i < N; i++) {
        if (i === N / 2) {
          await nc.close();
          await server.stop();
          await new Promise((r) => setTimeout(r, 500));
          await server.start();
          nc = await natsConnect({ servers: server.url });
        }
        const body = `jr-${run}-${i}`;
        await jetstream(nc).publish('restart.x', body);
        acked.push(body);
      }
      await allProcessed(acked, 30_000, 'every stored JetStream message processed');
      // Every message was handled, so each ack must reach the server within moments: an ack the
      // server missed would leave its message pending until ack_wait (75 s) and then run it again.
      // The last acks before the restart race the server's shutdown (lost in about 1 run in 10 under
      // CPU load until the trigger sent them again on its next connection, see AckLedger): 15 s is
      // far below ack_wait and far above the few milliseconds a resent ack takes once reconnected.
      await consumerCaughtUp(nc, stream, 'kss-openfaas-fn-js-restart-nats', 15_000);
      await nc.close();
    } finally {
      await p.client.removeFunction('js-restart').catch(() => undefined);
      await server.remove();
    }
  });

  test('JetStream: an ack the server missed while it restarted is sent again, not left to ack_wait', { skip: natsServerBinary() ? false : 'no nats-server binary' }, async () => {
    const server = await startPrivateNats(natsServerBinary()!);
    const stream = 'ACKLOST';
    const body = `slow-ack-${run}`;
    try {
      let nc = await natsConnect({ servers: server.url });
      await (await jetstreamManager(nc)).streams.add({ name: stream, subjects: ['acklost.>'] });
      // Sync mode: the ack follows the function's answer, 3 s after the function reported the message.
      await deployReporter('js-ack-lost', [{ type: 'nats', url: server.url, subject: 'acklost.>', stream, mode: 'sync' }]);
      await jetstream(nc).publish('acklost.x', body);
      await eventually(() => sink.reports.some((r) => r.body === body), 15_000, 'the function to start on the message');
      // Stopped 1 s into the function's 3 s: nats-server 2.9 can restart without the consumer state it
      // changed just before SIGTERM (its delivery of the message here, so it would deliver it again),
      // seen in 2 of 30 restarts right after the change under load, none of 80 after 300 ms or more.
      await new Promise((r) => setTimeout(r, 1000));
      await nc.close();
      await server.stop();
      // The function answers with the server down: the trigger's ack finds no server.
      await eventually(async () => (await triggersOf('js-ack-lost'))[0]?.messages.succeeded === 1, 15_000, 'the function to answer while the server is down');
      await server.start();
      nc = await natsConnect({ servers: server.url });
      // Sent again on the new connection: well before ack_wait (75 s), after which the server would deliver it again.
      await consumerCaughtUp(nc, stream, 'kss-openfaas-fn-js-ack-lost-nats', 15_000);
      const info = await (await jetstreamManager(nc)).consumers.info(stream, 'kss-openfaas-fn-js-ack-lost-nats');
      assert.equal(info.delivered.consumer_seq, 1, 'delivered once, not again');
      assert.equal(sink.reports.filter((r) => r.body === body).length, 1, 'the function ran once');
      await eventually(async () => (await triggersOf('js-ack-lost'))[0]?.state === 'connected', 15_000, 'reconnected');
      await nc.close();
    } finally {
      await p.client.removeFunction('js-ack-lost').catch(() => undefined);
      await server.remove();
    }
  });

  test('RabbitMQ (application restarted while publishing)', async () => {
    const exchange = `kss-restart-${run}`;
    try {
      await deployReporter('rb-restart', [{ type: 'rabbitmq', url: AMQP, exchange, routingKey: '#' }]);
      const confirmed: string[] = [];
      const N = 150;
      let conn = await amqp.connect(AMQP);
      let ch = await conn.createConfirmChannel();
      for (let i = 0; i < N; i++) {
        if (i === N / 2) {
          await conn.close().catch(() => undefined);
          await restartRabbitMq();
          conn = await amqp.connect(AMQP);
          ch = await conn.createConfirmChannel();
        }
        const body = `rr-${run}-${i}`;
        ch.publish(exchange, 'x', Buffer.from(body), { persistent: true });
        await ch.waitForConfirms();
        confirmed.push(body);
      }
      await conn.close();
      await allProcessed(confirmed, 45_000, 'every confirmed RabbitMQ message processed');
      await eventually(async () => (await triggersOf('rb-restart'))[0]?.state === 'connected', 15_000, 'reconnected');
    } finally {
      await p.client.removeFunction('rb-restart').catch(() => undefined);
    }
  });
});

/** Sink reports are JSON; this keeps the import used when a test is skipped. */
export type { Report };

describe('OpenFaaS conventions and gateway restarts', () => {
  test('a `topic` annotation binds to the gateway\'s connectors (kss up --connector); triggers come back after a gateway restart', async () => {
    const sinkHere = await startSink();
    sink = sinkHere;
    let gw = await startTestPlatform({ connectors: [NATS] });
    p = gw;
    const nc = await natsConnect({ servers: NATS });
    try {
      await deployFunction(gw.client, 'of-topic', { 'handler.js': REPORTER }, { envVars: { SINK: sinkHere.url }, annotations: { topic: `kss.of.${run}.a,kss.of.${run}.b` } });
      await eventually(async () => {
        const ts = (await gw.client.listTriggers({ function: 'of-topic' })).triggers;
        return ts.length === 2 && ts.every((t) => t.state === 'connected' && t.origin === 'connector');
      }, 10_000, 'two connector triggers');
      nc.publish(`kss.of.${run}.a`, `of-${run}-a`);
      nc.publish(`kss.of.${run}.b`, `of-${run}-b`);
      await nc.flush();
      await allProcessed([`of-${run}-a`, `of-${run}-b`], 10_000, 'both topics');
      assert.equal(sinkHere.reports.find((r) => r.body === `of-${run}-b`)!.topic, `kss.of.${run}.b`);

      gw = await gw.restart();
      p = gw;
      await eventually(async () => (await gw.client.listTriggers({ function: 'of-topic' })).triggers.filter((t) => t.state === 'connected').length === 2, 15_000, 'triggers after the restart');
      nc.publish(`kss.of.${run}.a`, `of-${run}-after`);
      await nc.flush();
      await allProcessed([`of-${run}-after`], 10_000, 'a message after the restart');
    } finally {
      await nc.close();
      await gw.close();
      await sinkHere.close();
    }
  });

  test('a bad --connector URL stops the gateway from starting, with the reason', async () => {
    await assert.rejects(startTestPlatform({ connectors: ['kafka://127.0.0.1:9092'] }), { code: 'KSS_BAD_REQUEST', message: /not an mqtt:\/\/, nats:\/\/ or amqp:\/\/ URL/ });
    await assert.rejects(startTestPlatform({ connectors: ['amqp://guest:guest@127.0.0.1'] }), { message: /no credentials in the URL/ });
  });
});
