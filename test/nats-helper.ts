/**
 * A NATS server with JetStream for the queue tests and benches: `KSS_NATS_URL` when set,
 * else the one on 127.0.0.1:4222 when it answers, else a private `nats-server -js` on a free
 * port with a temporary store (stopped by `stop`), else none (the caller skips and says why).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A server to talk to, or why there is none. */
export type NatsForTests = { url: string; stop: () => Promise<void> } | { url?: undefined; skip: string };

export function answers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

const BINARIES = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];

/** A private server: stop it (it can be started again on the same port and store) or remove it. */
export interface PrivateNats {
  url: string;
  port: number;
  /** Stops the process, keeping its store. */
  stop(): Promise<void>;
  /** Starts it again on the same port and store (after `stop`). */
  start(): Promise<void>;
  /** Stops it and deletes its store. */
  remove(): Promise<void>;
}

/** The nats-server binary, if installed. */
export function natsServerBinary(): string | undefined {
  return BINARIES.find((b) => existsSync(b));
}

/**
 * A server process of our own on a free loopback port with a temporary folder (its
 * store): `command(port, dir)` gives the binary and arguments. Restartable on the same
 * port and folder, as a broker restart in production.
 */
export async function startPrivateServer(name: string, command: (port: number, dir: string) => { bin: string; args: string[] }): Promise<PrivateNats> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `kss-${name}-`));
  const { bin, args } = command(port, dir);
  let child: ChildProcess | undefined;
  const stop = async () => {
    const c = child;
    child = undefined;
    if (c && c.exitCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await exited;
    }
  };
  const start = async () => {
    child = spawn(bin, args, { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      if (await answers('127.0.0.1', port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    await stop();
    throw new Error(`${bin} did not start on port ${port}`);
  };
  const remove = async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { url: `${name}://127.0.0.1:${port}`, port, stop, start, remove };
}

/** Starts `nats-server -js` on a free loopback port with a temporary store. */
export function startPrivateNats(bin: string): Promise<PrivateNats> {
  return startPrivateServer('nats', (port, dir) => ({ bin, args: ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir] }));
}

/** Finds (or starts) a JetStream-enabled NATS server for tests. */
export async function natsForTests(): Promise<NatsForTests> {
  const env = process.env.KSS_NATS_URL;
  if (env) return { url: env, stop: async () => {} };
  if (await answers('127.0.0.1', 4222)) return { url: 'nats://127.0.0.1:4222', stop: async () => {} };
  const bin = natsServerBinary();
  if (!bin) return { skip: 'no NATS server: set KSS_NATS_URL, run one on 127.0.0.1:4222, or install nats-server (apt-get install nats-server)' };
  try {
    const own = await startPrivateNats(bin);
    return { url: own.url, stop: own.remove };
  } catch (err) {
    return { skip: (err as Error).message };
  }
}
