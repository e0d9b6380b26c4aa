import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createCgroupManager, probeCgroups } from './cgroups.js';

const probe = probeCgroups();

test('killAll: every process of the cgroup dies, also one its member forked after joining', { skip: probe.ok ? false : `no usable cgroups here: ${probe.ok ? '' : probe.reason}` }, async () => {
  if (!probe.ok) return;
  const cg = createCgroupManager(probe).create(`killall-test-${process.pid}`, {});
  try {
    // A shell that joins the cgroup, then forks a child that outlives it (what a half-started sandbox leaves).
    const script = `for f in "$@"; do echo 0 > "$f"; done; sleep 60 & echo $!; wait`;
    const sh = spawn('/bin/sh', ['-c', script, 'sh', ...cg.procsFiles], { stdio: ['ignore', 'pipe', 'inherit'] });
    const forked = Number(await new Promise<string>((resolve) => sh.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))));
    assert.ok(forked > 0);
    assert.deepEqual(cg.pids().sort(), [sh.pid!, forked].sort(), 'both are in the cgroup');
    // Killing the parent alone leaves the fork running, holding the pipe.
    sh.kill('SIGKILL');
    await new Promise((r) => sh.once('exit', r));
    assert.ok(alive(forked), 'the fork survived its parent');
    cg.killAll();
    for (let i = 0; i < 100 && alive(forked); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(!alive(forked), 'killAll reached it');
  } finally {
    cg.killAll();
    await new Promise((r) => setTimeout(r, 50));
    cg.remove();
  }
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers kill 0; its state says it is gone.
    return !/^State:\s+Z/m.test(readStatus(pid));
  } catch {
    return false;
  }
}

function readStatus(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return 'State: Z';
  }
}
