/**
 * Real brokers for the trigger tests: a private Mosquitto (restartable, with
 * persistence, so a restart mid-stream keeps QoS 1 sessions as a production broker
 * does), the machine's RabbitMQ (restarted with `rabbitmqctl stop_app/start_app`),
 * and a sink: an HTTP receiver on loopback that trigger-invoked functions report to.
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { answers, startPrivateServer, type PrivateNats } from './nats-helper.js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

export { answers, freePort as freeTcpPort } from './nats-helper.js';

/** A broker of our own: restartable on the same port and store, or removed. */
export type { PrivateNats as PrivateBroker } from './nats-helper.js';

const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((b) => existsSync(b));

/** Mosquitto on a free loopback port with persistence in a temp dir; restartable. */
export async function startPrivateMosquitto(): Promise<PrivateNats> {
  if (!MOSQUITTO) throw new Error('mosquitto is not installed (apt-get install mosquitto)');
  return startPrivateServer('mqtt', (port, dir) => {
    const conf = join(dir, 'mosquitto.conf');
    // `user root`: as root, mosquitto otherwise drops to the mosquitto user, which cannot write its store here.
    writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\nuser root\npersistence true\npersistence_location ${dir}/\nautosave_interval 1\nmax_queued_messages 100000\n`);
    return { bin: MOSQUITTO, args: ['-c', conf] };
  });
}

const run = promisify(execFile);

/** Restarts the machine's RabbitMQ application (the Erlang node stays up); resolves once it accepts connections again. */
export async function restartRabbitMq(downMs = 1000): Promise<void> {
  await run('rabbitmqctl', ['stop_app'], { timeout: 60_000 });
  await new Promise((r) => setTimeout(r, downMs));
  await run('rabbitmqctl', ['start_app'], { timeout: 60_000 });
  for (let i = 0; i < 200 && !(await answers('127.0.0.1', 5672)); i++) await new Promise((r) => setTimeout(r, 50));
}

/** What a function reported to the sink. */
export interface Report {
  body: string;
  topic?: string;
  trigger?: string;
  attempt?: string;
  contentType?: string;
  [k: string]: unknown;
}

/** An HTTP receiver on loopback; functions POST a JSON report per event. */
export async function startSink(): Promise<{ url: string; reports: Report[]; close(): Promise<void> }> {
  const reports: Report[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        reports.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Report);
      } catch {
        // not ours
      }
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/report`,
    reports,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * A function that reports each event to `SINK` and answers `got:<body>`. The body
 * `fail` (or `fail-400`) makes it answer 503 (400) without reporting success; a body
 * starting with `slow` is answered 3 s after it was reported (a test acts meanwhile).
 */
export const REPORTER = `
module.exports = async (event, context) => {
  const body = Buffer.isBuffer(event.body) ? event.body.toString('utf8') : typeof event.body === 'string' ? event.body : JSON.stringify(event.body ?? '');
  const h = event.headers;
  const report = { body, topic: h['x-topic'], trigger: h['x-kss-trigger'], attempt: h['x-kss-attempt'], contentType: h['content-type'], schedule: h['x-kss-schedule'], ok: !body.startsWith('fail') };
  await fetch(process.env.SINK, { method: 'POST', body: JSON.stringify(report) });
  if (body.startsWith('slow')) await new Promise((r) => setTimeout(r, 3000));
  if (body === 'fail-400') return context.status(400).succeed('bad');
  if (body.startsWith('fail')) return context.status(503).succeed('not now');
  return context.status(200).succeed('got:' + body);
};`;
