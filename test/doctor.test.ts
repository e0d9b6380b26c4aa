/**
 * `kss doctor` and the gateway on a host that cannot isolate: the doctor names what is
 * missing and how to get it; the gateway starts anyway, warns loudly exactly once,
 * and serves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { KssClient } from '../src/client/index.js';
import { startEmbedded } from '../src/gateway/embedded.js';
import { probeHost } from '../src/sandbox/index.js';
import { basicAuth, deployFunction, tempDir } from './helpers.js';

const KSS = fileURLToPath(new URL('../../bin/kss.js', import.meta.url));

/** A PATH with the usual tools but no bwrap (sh, setpriv, python3 stay reachable). */
function pathWithoutBwrap(): string {
  const dir = tempDir('kss-path-');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  for (const tool of ['sh', 'setpriv', 'python3', 'go', 'sleep', 'cat']) {
    for (const from of ['/usr/bin', '/bin', '/usr/local/bin']) {
      try {
        symlinkSync(join(from, tool), join(bin, tool));
        break;
      } catch {
        // Not there, or linked already.
      }
    }
  }
  return bin;
}

test('kss doctor reports every check; --json is machine-readable', () => {
  const run = spawnSync(process.execPath, [KSS, 'doctor', '--json'], { encoding: 'utf8' });
  const report = JSON.parse(run.stdout) as { sandbox: string; checks: Array<{ check: string; ok: boolean; detail: string }> };
  assert.deepEqual(report.checks.map((c) => c.check), ['root', 'bubblewrap', 'setpriv', 'namespaces', 'cgroups', 'nftables', 'python3', 'go']);
  const host = probeHost();
  assert.equal(report.checks.find((c) => c.check === 'bubblewrap')!.ok, 'path' in host.bwrap);
  assert.equal(run.status, report.checks.every((c) => c.ok) ? 0 : 1);
});

test('kss doctor without bubblewrap says what is missing and how to install it, and exits 1', () => {
  const run = spawnSync(process.execPath, [KSS, 'doctor'], { encoding: 'utf8', env: { ...process.env, PATH: pathWithoutBwrap() } });
  assert.equal(run.status, 1);
  assert.match(run.stdout, /bubblewrap\s+NO\s+bwrap is not installed: apt-get install bubblewrap/);
  assert.match(run.stdout, /namespaces\s+NO/);
  assert.match(run.stdout, /will NOT be fully isolated/);
});

test('a gateway on a host without bubblewrap starts, warns loudly once, and serves', async () => {
  const lines: Array<{ level: number; msg: string }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as { level: number; msg: string });
      done();
    },
  });
  const savedPath = process.env.PATH;
  process.env.PATH = pathWithoutBwrap();
  let platform;
  try {
    platform = await startEmbedded({ port: 0, dataDir: tempDir('kss-data-'), logger: pino({ level: 'warn' }, sink), warmPool: 0 });
  } finally {
    process.env.PATH = savedPath;
  }
  try {
    const warnings = lines.filter((l) => /NOT ISOLATED|not fully/i.test(l.msg));
    assert.equal(warnings.length, 1, JSON.stringify(lines));
    assert.match(warnings[0]!.msg, /bwrap is not installed: apt-get install bubblewrap.*kss doctor/);
    const client = new KssClient({ gateway: platform.url, authorization: basicAuth(platform.admin!.username, platform.admin!.password) });
    await deployFunction(client, 'plain', { 'handler.js': "module.exports = async () => 'served unisolated';" });
    assert.equal(await (await fetch(`${platform.url}/function/plain`)).text(), 'served unisolated');
  } finally {
    await platform.close();
  }
});
