/**
 * Graceful shutdown of `kss up` (a real process): on SIGTERM it stops accepting (new
 * connections are refused), a slow synchronous request already in flight still completes
 * with 200, an async call still running when the grace period ends goes back to the queue
 * (and runs again after a restart on the same data dir), and the process exits 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { packDirectory } from '../src/archive/index.js';
import { KssClient } from '../src/client/index.js';
import { freePort } from '../src/providers/local/ports.js';
import { adminFetch } from '../bench/lib/bench-common.js';
import { startGatewayProcess, type GatewayProcess } from '../bench/lib/gateway-process.js';
import { eventually, tempDir, writeFunction } from './helpers.js';

const KSS = fileURLToPath(new URL('../../bin/kss.js', import.meta.url));
const GRACE_S = 4;

/** Resolves with the error code of a fresh TCP connection to `port` (`connected` when it was accepted). */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

test(`SIGTERM: in-flight requests finish, new connections are refused, running async calls go back to the queue, exit 0`, async (t) => {
  /** Attempts of each async call the function started: id → attempt numbers. */
  const attempts = new Map<string, string[]>();
  const receiver = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const id = url.searchParams.get('id') ?? '';
    attempts.set(id, [...(attempts.get(id) ?? []), url.searchParams.get('attempt') ?? '?']);
    req.resume();
    res.end();
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  t.after(() => receiver.close());
  const ran = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/ran`;

  const dataDir = tempDir('kss-graceful-');
  const port = await freePort();
  const upArgs = ['--shutdown-grace', String(GRACE_S)];
  let gw: GatewayProcess = await startGatewayProcess({ kssBin: KSS, port, dataDir, upArgs });
  t.after(() => gw.stop(2_000));
  const client = new KssClient({ gateway: gw.url, fetch: adminFetch(dataDir) });
  const deploy = async (name: string, handler: string, spec: Record<string, unknown> = {}) => {
    const { digest } = await client.uploadCode(await packDirectory(writeFunction({ 'handler.js': handler })));
    await client.deploy({ service: name, runtime: 'node', code: digest, ...spec });
  };
  await deploy('slow', `export default async (req) => { const ms = Number(new URL(req.url).searchParams.get('ms') ?? 0); await new Promise((r) => setTimeout(r, ms)); return 'slow done'; };`);
  // Its first attempt outlasts any grace period; later attempts answer at once.
  await deploy(
    'long',
    `module.exports = async (event) => {
      const attempt = event.headers['x-kss-attempt'];
      await fetch('${ran}?id=' + event.headers['x-call-id'] + '&attempt=' + attempt);
      if (attempt === '1') await new Promise((r) => setTimeout(r, 120000));
      return 'done';
    };`,
    { timeout: '180s' },
  );
  await client.waitReady('slow', { timeoutMs: 30_000 });
  await client.waitReady('long', { timeoutMs: 30_000 });

  const accepted = await fetch(`${gw.url}/async-function/long`, { method: 'POST', body: 'x' });
  assert.equal(accepted.status, 202);
  const id = accepted.headers.get('x-call-id')!;
  await eventually(() => attempts.get(id)?.includes('1') === true, 15_000, 'the async call to start');

  let slowDone = false;
  const slow = fetch(`${gw.url}/function/slow?ms=3000`).then(async (r) => {
    const out = { status: r.status, body: await r.text() };
    slowDone = true;
    return out;
  });
  await new Promise((r) => setTimeout(r, 500));
  const exited = new Promise<number | null>((resolve) => gw.child.once('exit', (code) => resolve(code)));
  const sentAt = Date.now();
  gw.child.kill('SIGTERM');

  // Not accepting any more, while the slow request is still running.
  await eventually(async () => (await tryConnect(port)) === 'ECONNREFUSED', 2_000, 'new connections to be refused');
  assert.equal(slowDone, false, 'the slow request was still in flight when new connections were refused');
  assert.deepEqual(await slow, { status: 200, body: 'slow done' }, 'the in-flight request completed');

  const code = await exited;
  const tookMs = Date.now() - sentAt;
  assert.equal(code, 0, gw.logs());
  assert.ok(tookMs >= GRACE_S * 1000 - 500, `exited after ${tookMs} ms: the running async call had the grace period`);
  assert.ok(tookMs < GRACE_S * 1000 + 15_000, `exited after ${tookMs} ms, long after the ${GRACE_S} s grace period`);

  // The call cut off by the shutdown is back in the queue, not left running or failed.
  const db = new Database(join(dataDir, 'queue.db'), { readonly: true });
  const row = db.prepare('SELECT state, attempts, last_error FROM calls WHERE id = ?').get(id) as { state: string; attempts: number; last_error: string };
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  db.close();
  assert.equal(row.state, 'queued', JSON.stringify(row));
  assert.match(row.last_error, /gateway stopped/);

  // After a restart on the same data dir, it runs again and completes.
  gw = await startGatewayProcess({ kssBin: KSS, port, dataDir, upArgs });
  await eventually(() => attempts.get(id)?.includes('2') === true, 30_000, 'the returned call to run again');
  await eventually(async () => (await client.getCall(id)).state === 'succeeded', 15_000, 'the call to succeed');
  t.diagnostic(`exit 0 after ${tookMs} ms (grace ${GRACE_S} s); attempts of the async call: ${attempts.get(id)!.join(', ')}`);
  gw.child.kill('SIGTERM');
  assert.equal(await new Promise<number | null>((resolve) => gw.child.once('exit', (c) => resolve(c))), 0);
});
