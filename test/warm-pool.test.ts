/**
 * The warm pool over real processes: a pooled process whose port was taken while it
 * waited (an outgoing connection can be given any free ephemeral port) fails to
 * specialise; the replica must then start afresh at once, not crash-loop with backoff.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { pino } from 'pino';
import { parseFunctionSpec, systemClock } from '../src/core/index.js';
import { Replica, DEFAULT_REPLICA_OPTIONS } from '../src/providers/local/replica.js';
import { DEFAULT_LAUNCHERS, NODE_COMMAND } from '../src/providers/local/runtime-launchers.js';
import { WarmPool } from '../src/providers/local/warm-pool.js';
import { eventually, writeFunction } from './helpers.js';

const logger = pino({ level: 'silent' });
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Pids and PORTs of this process's children waiting in the pool (KSS_POOL=1 in their environment). */
function pooledChildren(): Array<{ pid: number; port: number }> {
  const found: Array<{ pid: number; port: number }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      const env = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (!env.includes('KSS_POOL=1')) continue;
      const port = Number(env.find((e) => e.startsWith('PORT='))?.slice(5));
      found.push({ pid: Number(entry), port });
    } catch {
      // The process exited while we looked.
    }
  }
  return found;
}

test('a pooled process whose port was taken meanwhile: the replica starts afresh, with no restart counted', async () => {
  const pool = new WarmPool({ sizes: { node: 1 }, commands: { node: NODE_COMMAND }, host: '127.0.0.1', logger });
  cleanups.push(() => pool.close());
  pool.start();
  await eventually(() => pooledChildren().length === 1, 10_000, 'one pooled process');
  const [{ port }] = pooledChildren() as [{ pid: number; port: number }];

  // Someone else binds the port the pooled process was given.
  const squatter: Server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((r) => squatter.close(r)));

  const dir = writeFunction({ 'handler.js': "export default () => 'fresh';" });
  const spec = parseFunctionSpec({ service: 'squatted', runtime: 'node', code: 'sha256:' + '0'.repeat(64) });
  let changes = 0;
  const replica = new Replica({
    spec,
    artifact: { dir },
    launcher: DEFAULT_LAUNCHERS.node!,
    clock: systemClock,
    logger,
    options: DEFAULT_REPLICA_OPTIONS,
    onChange: () => changes++,
    pool,
  });
  cleanups.push(() => replica.stop());
  await eventually(() => replica.state === 'ready', 15_000, 'the replica to be ready');
  assert.notEqual(new URL(replica.origin).port, String(port), 'it runs on a port of its own');
  assert.equal(replica.info().restarts, 0, 'the pool\'s failure is not the function\'s restart');
  const res = await fetch(`${replica.origin}/`);
  assert.equal(await res.text(), 'fresh');
  assert.ok(changes > 0);
});

test('a handler that does not load from a pooled process counts as the function\'s failure (backoff, restarts)', async () => {
  const pool = new WarmPool({ sizes: { node: 1 }, commands: { node: NODE_COMMAND }, host: '127.0.0.1', logger });
  cleanups.push(() => pool.close());
  pool.start();
  await eventually(() => pooledChildren().length >= 1, 10_000, 'a pooled process');
  const dir = writeFunction({ 'handler.js': "throw new Error('broken at load');" });
  const spec = parseFunctionSpec({ service: 'broken', runtime: 'node', code: 'sha256:' + '0'.repeat(64) });
  const replica = new Replica({ spec, artifact: { dir }, launcher: DEFAULT_LAUNCHERS.node!, clock: systemClock, logger, options: DEFAULT_REPLICA_OPTIONS, onChange: () => {}, pool });
  cleanups.push(() => replica.stop());
  await eventually(() => replica.info().restarts >= 1, 10_000, 'a counted restart');
  assert.match(replica.info().lastExit ?? '', /exited with code 3/);
  assert.notEqual(replica.state, 'ready');
});
