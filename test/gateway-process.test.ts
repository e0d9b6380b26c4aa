/**
 * `kss up` as a real process: SIGTERM stops it cleanly with its replicas, a new
 * start brings every function back, and a replica killed with SIGKILL is replaced.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { KssClient } from '../src/client/index.js';
import { freePort } from '../src/providers/local/ports.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { basicAuth, deployFunction, eventually, processAlive, tempDir } from './helpers.js';

/** A client logged in with the password the gateway generated in its data dir. */
function adminClient(dataDir: string, port: number): KssClient {
  const password = readFileSync(join(dataDir, 'basic-auth-password'), 'utf8').trim();
  return new KssClient({ gateway: `http://127.0.0.1:${port}`, authorization: basicAuth('admin', password) });
}

const KSS = fileURLToPath(new URL('../../bin/kss.js', import.meta.url));

async function startGateway(dataDir: string, port: number): Promise<{ child: ChildProcess; exited: Promise<number | null>; logs: () => string }> {
  const child = spawn(process.execPath, [KSS, 'up', '--port', String(port), '--data-dir', dataDir, '--log-format', 'json', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  child.stdout!.on('data', (d) => (logs += d));
  child.stderr!.on('data', (d) => (logs += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await eventually(async () => {
    try {
      return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
    } catch {
      return false;
    }
  }, 20_000, 'the gateway to answer /healthz');
  return { child, exited, logs: () => logs };
}

test('SIGTERM stops the gateway and its replicas; a restart brings every function back', async (t) => {
  const dataDir = tempDir('kss-proc-');
  const port = await freePort();
  const gw = await startGateway(dataDir, port);
  t.after(() => gw.child.kill('SIGKILL'));
  const client = adminClient(dataDir, port);
  await deployFunction(client, 'a', { 'handler.js': 'export default async () => "a";' });
  await deployFunction(client, 'b', { 'handler.js': 'export default async () => "b";' }, { labels: { 'com.openfaas.scale.min': '2' } });
  const pids = (await client.listFunctions()).flatMap((f) => f.instances ?? []).map((i) => i.pid!);
  assert.equal(pids.length, 3);
  assert.ok(pids.every(processAlive));

  gw.child.kill('SIGTERM');
  assert.equal(await gw.exited, 0, gw.logs());
  await eventually(() => pids.every((pid) => !processAlive(pid)), 10_000, 'replicas to stop');
  assert.match(gw.logs(), /stopping: finishing in-flight requests/);
  assert.match(gw.logs(), /An admin password was generated for user .{1,4}admin.{1,4} and stored in .*basic-auth-password/);
  assert.doesNotMatch(gw.logs(), new RegExp(readFileSync(join(dataDir, 'basic-auth-password'), 'utf8').trim()), 'the password itself is never logged');

  const again = await startGateway(dataDir, port);
  t.after(() => again.child.kill('SIGKILL'));
  // Invocable at once: the first request waits for the restored replica if it must.
  assert.equal(await (await fetch(`http://127.0.0.1:${port}/function/a`)).text(), 'a');
  assert.equal(await (await fetch(`http://127.0.0.1:${port}/function/b`)).text(), 'b');
  const b = await client.waitReady('b');
  assert.equal(b.availableReplicas, 2);

  // A replica killed from outside is replaced.
  const victim = b.instances!.find((i) => i.state === 'ready')!;
  process.kill(victim.pid!, 'SIGKILL');
  await eventually(async () => {
    const s = await client.getFunction('b');
    return s.availableReplicas === 2 && s.instances!.some((i) => i.restarts === 1);
  }, 15_000, 'the killed replica to be replaced');

  again.child.kill('SIGINT');
  assert.equal(await again.exited, 0);
});

test('replicas exit by themselves when the gateway is killed with SIGKILL (no orphans)', async (t) => {
  const dataDir = tempDir('kss-proc-');
  const port = await freePort();
  const gw = await startGateway(dataDir, port);
  t.after(() => gw.child.kill('SIGKILL'));
  const client = adminClient(dataDir, port);
  await deployFunction(client, 'orphan', { 'handler.js': 'export default async () => "x";' });
  const pid = (await client.getFunction('orphan')).instances![0]!.pid!;
  gw.child.kill('SIGKILL');
  await gw.exited;
  await eventually(() => !processAlive(pid), 10_000, 'the orphaned replica to exit');
});
