/**
 * The brokers the soak's triggers consume from, and how each one is made to fail.
 *
 * The machine's brokers (Mosquitto 1883, NATS 4222, RabbitMQ 5672) are shared with every
 * other test running on it at the same time (`npm test` runs two files at once), so the
 * soak never restarts them. Where this machine has the broker's binary, the soak runs a
 * private instance of it on a free loopback port with its own store, and restarts that
 * for real (SIGTERM, then start on the same port and store: what a broker upgrade does).
 * RabbitMQ (an Erlang node) cannot be started privately in seconds: its outage is
 * simulated by a fault-injecting TCP proxy between the trigger and the machine's broker.
 * A broker without a private binary falls back to the machine's through such a proxy.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, createServer } from 'node:net';
import { join } from 'node:path';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export function answers(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** A free loopback port (race-free enough for a test machine). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** One broker as the soak sees it: where triggers connect, where publishers connect, and its fault. */
export interface SoakBroker {
  kind: 'mqtt' | 'nats' | 'rabbitmq';
  /** URL for the function's trigger. */
  triggerUrl: string;
  /** URL for the soak's publisher. */
  publishUrl: string;
  /** How the fault is made: `restart` (a private broker, really restarted) or `proxy` (an outage of the TCP proxy). */
  fault: 'restart' | 'proxy';
  /** What the output says about it. */
  describe: string;
  /** The broker is unreachable for `downMs`, then back. */
  failFor(downMs: number): Promise<void>;
  /** Pid of a process the soak started (for the cleanup of a killed soak). */
  pid(): number | undefined;
  close(): Promise<void>;
}

const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((b) => existsSync(b));
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((b) => existsSync(b));
const NATS_SERVER = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'].find((b) => existsSync(b));

/** A broker process of the soak's own, restartable on the same port and store. */
class PrivateServer {
  #child: ChildProcess | undefined;

  constructor(
    readonly name: string,
    readonly port: number,
    readonly dir: string,
    readonly bin: string,
    readonly args: string[],
  ) {}

  get pid(): number | undefined {
    return this.#child?.exitCode === null ? this.#child.pid : undefined;
  }

  async start(): Promise<void> {
    // Through setpriv --pdeathsig: a soak killed with SIGKILL takes its brokers with it.
    const child = SETPRIV ? spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', this.bin, ...this.args], { stdio: 'ignore' }) : spawn(this.bin, this.args, { stdio: 'ignore' });
    this.#child = child;
    for (let i = 0; i < 200; i++) {
      if (await answers(this.port)) return;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.stop();
    throw new Error(`${this.bin} did not start on port ${this.port}`);
  }

  async stop(): Promise<void> {
    const c = this.#child;
    this.#child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const force = setTimeout(() => c.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(force);
  }
}

async function privateBroker(kind: 'mqtt' | 'nats', root: string): Promise<SoakBroker> {
  const port = await freeLoopbackPort();
  const dir = mkdtempSync(join(root, `${kind}-`));
  let server: PrivateServer;
  if (kind === 'mqtt') {
    const conf = join(dir, 'mosquitto.conf');
    // Persistence, so a restart keeps the trigger's QoS 1 session and its queued messages (as a production broker does).
    writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\nuser root\npersistence true\npersistence_location ${dir}/\nautosave_interval 1\nmax_queued_messages 1000000\nmax_inflight_messages 100\n`);
    server = new PrivateServer('mosquitto', port, dir, MOSQUITTO!, ['-c', conf]);
  } else {
    server = new PrivateServer('nats-server', port, dir, NATS_SERVER!, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'store')]);
  }
  await server.start();
  const url = `${kind}://127.0.0.1:${port}`;
  return {
    kind,
    triggerUrl: url,
    publishUrl: url,
    fault: 'restart',
    describe: `private ${server.name} on ${url} (restarted: SIGTERM, then started again on the same port and store)`,
    failFor: async (downMs) => {
      await server.stop();
      await new Promise((r) => setTimeout(r, downMs));
      await server.start();
    },
    pid: () => server.pid,
    close: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function proxiedBroker(kind: SoakBroker['kind'], port: number, why: string): Promise<SoakBroker> {
  const proxy: FaultProxy = await startFaultProxy({ host: '127.0.0.1', port });
  const scheme = kind === 'rabbitmq' ? 'amqp' : kind;
  return {
    kind,
    triggerUrl: `${scheme}://127.0.0.1:${proxy.port}`,
    publishUrl: `${scheme}://127.0.0.1:${port}`,
    fault: 'proxy',
    describe: `the machine's broker on 127.0.0.1:${port}, reached by the trigger through a fault-injecting TCP proxy on 127.0.0.1:${proxy.port} (${why}); its outage is SIMULATED: every connection cut and new ones refused`,
    failFor: (downMs) => proxy.outage(downMs),
    pid: () => undefined,
    close: () => proxy.close(),
  };
}

/**
 * The three brokers: private Mosquitto and NATS where their binaries exist, RabbitMQ
 * (and any broker without a binary) through a fault proxy to the machine's. Rejects
 * with the reason when a needed broker is not reachable at all.
 */
export async function startSoakBrokers(root: string): Promise<SoakBroker[]> {
  const out: SoakBroker[] = [];
  try {
    if (MOSQUITTO) out.push(await privateBroker('mqtt', root));
    else if (await answers(1883)) out.push(await proxiedBroker('mqtt', 1883, 'no mosquitto binary for a private broker'));
    else throw new Error('no MQTT broker: install mosquitto or run one on 127.0.0.1:1883');
    if (NATS_SERVER) out.push(await privateBroker('nats', root));
    else if (await answers(4222)) out.push(await proxiedBroker('nats', 4222, 'no nats-server binary for a private broker'));
    else throw new Error('no NATS server: install nats-server or run one on 127.0.0.1:4222');
    if (!(await answers(5672))) throw new Error('no RabbitMQ on 127.0.0.1:5672');
    out.push(await proxiedBroker('rabbitmq', 5672, 'an Erlang node cannot be started privately in seconds, and the machine\'s is shared with the tests running beside'));
    return out;
  } catch (err) {
    await Promise.all(out.map((b) => b.close().catch(() => undefined)));
    throw err;
  }
}
