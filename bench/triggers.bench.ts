/**
 * Event triggers (issue #9): messages per second from MQTT, NATS (core and JetStream)
 * and RabbitMQ into a trivial function, end to end (publish → the function has run),
 * and the latency from publish to function start (p50/p99), beside the same function
 * fed over HTTP (`POST /async-function` and `POST /function`) in the same run, on the
 * same gateway, as the baseline.
 *
 * Each message carries its publish time (ms since the epoch, sub-ms precision) as its
 * body; the function reads the clock first thing and reports the difference to a sink
 * on loopback. Brokers: the ones on this machine (Mosquitto :1883, NATS :4222,
 * RabbitMQ :5672); a broker that does not answer is skipped and named.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect as tcpConnect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import amqp from 'amqplib';
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { KssClient } from '../src/client/index.js';
import { freePort } from '../src/providers/local/ports.js';
import { adminAuthorization, adminFetch, machine, percentile, until, uploadFunction, writeResultsFile } from './lib/bench-common.js';
import { startGatewayProcess } from './lib/gateway-process.js';
import { findLoadGenerator } from './lib/loadgen.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KSS = join(ROOT, 'bin', 'kss.js');
const N = Number(process.env.KSS_BENCH_MESSAGES ?? 2000);
/** Most messages in flight (published, not yet run) at once; see the pacing note in `measure`. */
const CREDIT = 500;
/** Messages sent one at a time for the latency figures. */
const LATENCY_MESSAGES = 200;
const now = () => performance.timeOrigin + performance.now();

const HANDLER = `
module.exports = async (event) => {
  const started = performance.timeOrigin + performance.now();
  const body = Buffer.isBuffer(event.body) ? event.body.toString() : String(event.body);
  await fetch(process.env.SINK, { method: 'POST', body: JSON.stringify({ lat: started - Number(body), at: started }) });
  return 'ok';
};`;

interface Row {
  source: string;
  messages: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.setTimeout(500, () => {
      s.destroy();
      resolve(false);
    });
  });
}

async function main(): Promise<void> {
  const run = Math.random().toString(36).slice(2, 8);
  const reports: Array<{ lat: number; at: number }> = [];
  const sink = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      reports.push(JSON.parse(Buffer.concat(chunks).toString()) as { lat: number; at: number });
      res.end();
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`;

  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'kss-bench-triggers-'));
  const gw = await startGatewayProcess({ kssBin: KSS, port, dataDir });
  const rows: Row[] = [];
  const skipped: string[] = [];
  const up = { mqtt: await answers(1883), nats: await answers(4222), rabbitmq: await answers(5672) };
  try {
    const client = new KssClient({ gateway: gw.url, fetch: adminFetch(dataDir) });
    const code = await uploadFunction(client, { 'handler.js': HANDLER });
    const stream = `KSS_BENCH_${run}`;
    let jsm: Awaited<ReturnType<typeof jetstreamManager>> | undefined;
    const nc = up.nats ? await natsConnect({ servers: 'nats://127.0.0.1:4222' }) : undefined;
    if (nc) {
      jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: stream, subjects: [`bench.js.${run}.>`] });
    }

    /** One source: deploy a function with `triggers`, publish N, wait for N reports. */
    const measure = async (source: string, name: string, triggers: unknown[], publish: (body: string) => Promise<void> | void, flush?: () => Promise<void>) => {
      await client.deploy({ service: name, runtime: 'node', code, envVars: { SINK: sinkUrl }, triggers, labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '1' }, annotations: { 'kss.queue.concurrency': '32' } } as never);
      await client.waitReady(name, { timeoutMs: 60_000 });
      await until(async () => (await client.listTriggers({ function: name })).triggers.every((t) => t.state === 'connected'), `${name}'s trigger`, 15_000);
      // Warm-up: a few messages through the whole path.
      reports.length = 0;
      for (let i = 0; i < 20; i++) await publish(String(now()));
      await flush?.();
      await until(async () => reports.length >= 20, `${source} warm-up`, 30_000);
      reports.length = 0;
      process.stderr.write(`[triggers bench] ${source}: ${N} messages…\n`);
      const t0 = now();
      for (let i = 0; i < N; i++) {
        // Credit-based pacing for every source alike: at most CREDIT messages published and not yet
        // run. Without it a burst outruns the broker's per-subscriber buffer (Mosquitto drops QoS 1
        // messages past max_queued_messages, default 1000) and the figure would be the broker's limit.
        while (i - reports.length >= CREDIT) {
          await flush?.();
          await new Promise((r) => setTimeout(r, 1));
        }
        await publish(String(now()));
      }
      await flush?.();
      await until(async () => reports.length >= N, `${source}: ${N} messages handled`, 60_000).catch(async (err: Error) => {
        const ts = (await client.listTriggers({ function: name })).triggers;
        throw new Error(`${err.message}: ${reports.length} reported; trigger ${JSON.stringify(ts.map((t) => ({ state: t.state, reason: t.reason, messages: t.messages })))}`);
      });
      const seconds = (Math.max(...reports.map((r) => r.at)) - t0) / 1000;
      // Latency unloaded: one message at a time, each published once the previous one ran
      // (under the throughput run's backlog, latency is mostly time spent queued: Little's law).
      reports.length = 0;
      for (let i = 0; i < LATENCY_MESSAGES; i++) {
        await publish(String(now()));
        await flush?.();
        await until(async () => reports.length > i, `${source}: message ${i} (latency)`, 30_000);
      }
      const lat = reports.map((r) => r.lat);
      rows.push({ source, messages: N, seconds, perSecond: N / seconds, p50: percentile(lat, 50), p99: percentile(lat, 99) });
      await client.removeFunction(name);
    };

    // Baselines: the same function over HTTP, 32 requests at a time.
    const auth = adminAuthorization(dataDir);
    const http = (path: string) => {
      let inFlight: Array<Promise<unknown>> = [];
      return {
        publish: async (body: string) => {
          inFlight.push(fetch(`${gw.url}${path}`, { method: 'POST', body, headers: auth ? { authorization: auth } : {} }).then((r) => r.arrayBuffer()));
          if (inFlight.length >= 32) {
            await Promise.all(inFlight);
            inFlight = [];
          }
        },
        flush: async () => {
          await Promise.all(inFlight);
          inFlight = [];
        },
      };
    };
    {
      const h = http('/async-function/http-async');
      await measure('HTTP POST /async-function (baseline, 32 at a time)', 'http-async', [], h.publish, h.flush);
      const s = http('/function/http-sync');
      await measure('HTTP POST /function (baseline, sync, 32 at a time)', 'http-sync', [], s.publish, s.flush);
    }

    if (up.mqtt) {
      const pub = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `bench-pub-${run}` });
      for (const qos of [1, 0] as const) {
        // The publisher keeps up to 100 messages unacknowledged: a burst past Mosquitto's
        // max_queued_messages (default 1000) per subscriber would be dropped by the broker.
        let window: Array<Promise<unknown>> = [];
        const flush = async () => {
          await Promise.all(window);
          window = [];
        };
        await measure(
          `MQTT QoS ${qos} (async)`,
          `mqtt-q${qos}`,
          [{ type: 'mqtt', url: 'mqtt://127.0.0.1:1883', topic: `bench/${run}/q${qos}`, qos }],
          async (body) => {
            window.push(pub.publishAsync(`bench/${run}/q${qos}`, body, { qos: 1 }));
            if (window.length >= 100) await flush();
          },
          flush,
        );
      }
      await pub.endAsync();
    } else skipped.push('MQTT (nothing on 127.0.0.1:1883)');

    if (nc && jsm) {
      await measure('NATS core (async)', 'nats-core', [{ type: 'nats', url: 'nats://127.0.0.1:4222', subject: `bench.core.${run}` }], (body) => nc.publish(`bench.core.${run}`, body), () => nc.flush());
      await measure('NATS core (sync)', 'nats-sync', [{ type: 'nats', url: 'nats://127.0.0.1:4222', subject: `bench.sync.${run}`, mode: 'sync' }], (body) => nc.publish(`bench.sync.${run}`, body), () => nc.flush());
      const js = jetstream(nc);
      let acks: Array<Promise<unknown>> = [];
      await measure(
        'NATS JetStream (async, durable consumer)',
        'nats-js',
        [{ type: 'nats', url: 'nats://127.0.0.1:4222', subject: `bench.js.${run}.>`, stream }],
        async (body) => {
          acks.push(js.publish(`bench.js.${run}.x`, body));
          if (acks.length >= 64) {
            await Promise.all(acks);
            acks = [];
          }
        },
        async () => {
          await Promise.all(acks);
          acks = [];
        },
      );
      await jsm.streams.delete(stream).catch(() => undefined);
      await nc.close();
    } else skipped.push('NATS (nothing on 127.0.0.1:4222)');

    if (up.rabbitmq) {
      const conn = await amqp.connect('amqp://127.0.0.1:5672');
      const ch = await conn.createConfirmChannel();
      const exchange = `kss-bench-${run}`;
      let n = 0;
      await measure(
        'RabbitMQ (async, persistent, confirmed)',
        'rabbit',
        [{ type: 'rabbitmq', url: 'amqp://127.0.0.1:5672', exchange, routingKey: '#', prefetch: 64 }],
        async (body) => {
          ch.publish(exchange, 'x', Buffer.from(body), { persistent: true });
          if (++n % 64 === 0) await ch.waitForConfirms();
        },
        () => ch.waitForConfirms(),
      );
      await ch.deleteExchange(exchange).catch(() => undefined);
      await conn.close();
    } else skipped.push('RabbitMQ (nothing on 127.0.0.1:5672)');
  } finally {
    await gw.stop(5_000);
    sink.close();
    rmSync(dataDir, { recursive: true, force: true });
  }

  const m = machine(findLoadGenerator(ROOT) ?? { version: 'n/a' } as never);
  const f = (x: number, d = 1) => x.toFixed(d);
  const lines = [
    '## Triggers: broker messages into a function, end to end',
    '',
    `- Machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM; Node ${m.node}; brokers on the same machine`,
    `- ${N} messages per source after 20 warm-up, at most ${CREDIT} published and not yet run at any time; one replica of a Node function that reports each start to a sink; async mode stores each message as a call (SQLite queue, fsync) before acknowledging it`,
    `- msg/s: messages / (last function start − first publish); latency: publish → function start, over ${LATENCY_MESSAGES} messages sent one at a time (each after the previous one ran)`,
    '',
    '| source | msg/s | publish → start p50 (ms) | p99 (ms) |',
    '|---|---:|---:|---:|',
    ...rows.map((r) => `| ${r.source} | ${Math.round(r.perSecond).toLocaleString('en-US')} | ${f(r.p50)} | ${f(r.p99)} |`),
    ...(skipped.length ? ['', `Skipped: ${skipped.join('; ')}`] : []),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const file = writeResultsFile(join(ROOT, 'bench', 'results'), 'triggers', { machine: m, rows, skipped });
  process.stdout.write(`\nResults: ${file.replace(ROOT, '')}\n`);
}

main().catch((err) => {
  process.stderr.write(`triggers bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
