/**
 * The sandbox over real processes and the real kernel: what a function can and cannot
 * see or do, with a replica taken from the warm pool and with one started afresh, in
 * Node and in Python; memory and pids limits; usage read from the cgroups. Skipped,
 * with the reason, on a host that cannot isolate (see `kss doctor`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_NOFILE, describeHost, probeHost } from '../src/sandbox/index.js';
import { deployFunction, eventually, startTestPlatform, type TestPlatform } from './helpers.js';

const host = probeHost();
const missing = describeHost(host).filter((c) => !c.ok && c.check !== 'nftables').map((c) => `${c.check}: ${c.detail}`);
const skip = missing.length ? `this host cannot isolate: ${missing.join('; ')}` : false;

/** Reports what it sees; `?read=` and `?signal=` try a host path and a pid. */
const NODE_PROBE = `
const fs = require('node:fs');
const tryIt = (f) => { try { return { ok: true, value: f() }; } catch (e) { return { ok: false, code: e.code || String(e.message) }; } };
module.exports = async (event) => {
  const q = event.query;
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  return {
    uid: process.getuid(), gid: process.getgid(),
    noNewPrivs: /NoNewPrivs:\\s*1/.test(status),
    capEff: /CapEff:\\s*(\\w+)/.exec(status)[1],
    caps: Object.fromEntries(['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'].map((k) => [k, new RegExp(k + ':\\\\s*(\\\\w+)').exec(status)[1]])),
    pids: fs.readdirSync('/proc').filter((e) => /^\\d+$/.test(e)).length,
    hostname: require('node:os').hostname(),
    nofile: fs.readFileSync('/proc/self/limits', 'utf8').split(String.fromCharCode(10)).find((l) => l.startsWith('Max open files')).split(' ').filter(Boolean).slice(3, 5).join(':'),
    read: q.read ? tryIt(() => fs.readFileSync(q.read, 'utf8').slice(0, 100)) : undefined,
    list: q.list ? tryIt(() => fs.readdirSync(q.list)) : undefined,
    signal: q.signal ? tryIt(() => process.kill(Number(q.signal), 0)) : undefined,
    writeCode: tryIt(() => fs.writeFileSync('written-by-function', 'x')),
    writeTmp: tryIt(() => { fs.writeFileSync('/tmp/scratch', 'x'); return fs.readFileSync('/tmp/scratch', 'utf8'); }),
    secret: q.secret ? tryIt(() => fs.readFileSync('/var/openfaas/secrets/' + q.secret, 'utf8')) : undefined,
  };
};
`;

const PYTHON_PROBE = `
import os

def attempt(f):
    try:
        return {'ok': True, 'value': f()}
    except OSError as e:
        return {'ok': False, 'code': e.errno}

def handle(event, context):
    q = event.query
    status = open('/proc/self/status').read()
    def write_code():
        open('written-by-function', 'w').write('x')
    return {
        'uid': os.getuid(),
        'noNewPrivs': 'NoNewPrivs:\\t1' in status,
        'pids': len([e for e in os.listdir('/proc') if e.isdigit()]),
        'read': attempt(lambda: open(q['read']).read()[:100]) if 'read' in q else None,
        'writeCode': attempt(write_code),
        'secret': attempt(lambda: open('/var/openfaas/secrets/' + q['secret']).read()) if 'secret' in q else None,
        'nofile': ':'.join([l for l in open('/proc/self/limits').read().split('\\n') if l.startswith('Max open files')][0].split()[3:5]),
    }
`;

async function probe(p: TestPlatform, fn: string, query: Record<string, string> = {}): Promise<Record<string, any>> {
  const res = await fetch(`${p.url}/function/${fn}?${new URLSearchParams(query)}`);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text) as Record<string, any>;
}

async function createSecret(p: TestPlatform, name: string, value: string): Promise<void> {
  const res = await p.api('/system/secrets', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, value }) });
  assert.ok(res.status < 300, `${res.status} ${await res.text()}`);
}

/** A file in the data dir (code store or builds) holding `marker` (another function's code, seen from the host). */
function findBuiltFile(dataDir: string, marker: string): string {
  const walk = (dir: string): string | undefined => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'run') continue;
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        const found = walk(path);
        if (found) return found;
      } else if (e.isFile() && readFileSync(path, 'utf8').includes(marker)) return path;
    }
    return undefined;
  };
  const found = walk(dataDir);
  assert.ok(found, 'the other function\'s built code exists on the host');
  return found!;
}

for (const pool of [true, false]) {
  describe(`isolation, replicas ${pool ? 'from the warm pool' : 'started afresh'}`, { skip }, () => {
    let p: TestPlatform;
    let otherCode: string;
    before(async () => {
      p = await startTestPlatform({ warmPool: pool ? 2 : 0 });
      await createSecret(p, 'db-password', 'hunter2-for-a');
      await createSecret(p, 'b-only', 'value-of-b');
      const zero = { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '1h' };
      await deployFunction(p.client, 'fn-a', { 'handler.js': `${NODE_PROBE}\n// marker-of-function-a` }, { secrets: ['db-password'], labels: zero });
      await deployFunction(p.client, 'fn-b', { 'handler.js': NODE_PROBE }, { secrets: ['b-only'], labels: zero });
      await deployFunction(p.client, 'fn-py', { 'handler.py': PYTHON_PROBE }, { runtime: 'python', secrets: ['db-password'], labels: zero });
      // NODE_OPTIONS keeps it off the Node pool: a fresh runtime, started through the pool's exec shim when there is one.
      await deployFunction(p.client, 'fn-shim', { 'handler.js': NODE_PROBE }, { secrets: ['b-only'], labels: zero, envVars: { NODE_OPTIONS: '--max-old-space-size=200' } });
      otherCode = findBuiltFile(p.dataDir, 'marker-of-function-a');
      if (pool) {
        // Bring each function back from zero, so its replica is a specialised pool process.
        for (const fn of ['fn-a', 'fn-b', 'fn-py', 'fn-shim']) {
          await p.client.scale(fn, 0);
          await eventually(async () => (await p.client.getFunction(fn)).instances!.length === 0, 10_000, `${fn} at zero`);
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    });
    after(async () => {
      await p?.close();
    });

    test('a function runs as its own unprivileged uid, with no capabilities and no new privileges', async () => {
      const a = await probe(p, 'fn-a');
      const b = await probe(p, 'fn-b');
      assert.ok(a.uid >= 600_000, `uid ${a.uid}`);
      assert.equal(a.gid, a.uid);
      assert.notEqual(a.uid, b.uid, 'each function has its own uid');
      assert.equal(a.noNewPrivs, true);
      assert.equal(BigInt(`0x${a.capEff}`), 0n);
      assert.notEqual(a.hostname, hostname(), 'the host\'s name does not leak in');
    });

    test('it has its own open-files limit', async () => {
      await eventually(async () => (await probe(p, 'fn-a')).nofile === `${DEFAULT_NOFILE}:${DEFAULT_NOFILE}`, 5_000, 'the open-files limit');
      // Python (like Go) lowers its own limit on a fresh start (KSS_NOFILE), without prlimit.
      assert.equal((await probe(p, 'fn-py')).nofile, `${DEFAULT_NOFILE}:${DEFAULT_NOFILE}`);
    });

    test('it sees its own processes only and cannot signal the gateway', async () => {
      const a = await probe(p, 'fn-a', { signal: String(process.pid) });
      assert.ok(a.pids <= 3, `${a.pids} processes visible`);
      assert.equal(a.signal.ok, false);
      assert.equal(a.signal.code, 'ESRCH');
    });

    test('it cannot read another function\'s code, the data dir or the secrets key', async () => {
      const b = await probe(p, 'fn-b', { read: otherCode });
      assert.deepEqual(b.read, { ok: false, code: 'ENOENT' });
      for (const path of [join(p.dataDir, 'kss.db'), join(p.dataDir, 'secrets.key'), p.dataDir]) {
        const r = await probe(p, 'fn-b', { read: path, list: p.dataDir });
        assert.equal(r.read.ok, false, `${path} is readable`);
        // Only the empty folders leading to its own code exist there, nothing of the platform's state.
        const seen: string[] = r.list.ok ? r.list.value : [];
        for (const secret of ['kss.db', 'secrets.key', 'admin.json', 'kss.db-wal']) assert.ok(!seen.includes(secret), `${secret} is visible`);
      }
    });

    test('its code folder is read-only; /tmp is private and writable', async () => {
      const a = await probe(p, 'fn-a');
      assert.equal(a.writeCode.ok, false);
      assert.ok(['EROFS', 'EACCES'].includes(a.writeCode.code), a.writeCode.code);
      assert.deepEqual(a.writeTmp, { ok: true, value: 'x' });
    });

    test('it reads its own secrets at /var/openfaas/secrets, and only its own', async () => {
      assert.deepEqual((await probe(p, 'fn-a', { secret: 'db-password' })).secret, { ok: true, value: 'hunter2-for-a' });
      assert.deepEqual((await probe(p, 'fn-b', { secret: 'db-password' })).secret, { ok: false, code: 'ENOENT' });
      assert.deepEqual((await probe(p, 'fn-b', { secret: 'b-only' })).secret, { ok: true, value: 'value-of-b' });
    });

    test(`a runtime without a pool ${pool ? 'exec\'d by the warm pool\'s shim' : 'started afresh'} gets the same sandbox`, async () => {
      const fresh = await probe(p, 'fn-shim', { read: otherCode, secret: 'b-only', signal: String(process.pid) });
      const a = await probe(p, 'fn-a');
      // The shim's sandbox is the pool's generic one (its hostname); without a pool, bwrap names it after the function.
      assert.equal(fresh.hostname, pool ? 'kss-replica' : 'fn-shim');
      assert.ok(fresh.uid >= 600_000, `uid ${fresh.uid}`);
      assert.equal(fresh.gid, fresh.uid);
      assert.notEqual(fresh.uid, a.uid);
      assert.equal(fresh.noNewPrivs, true);
      // The shim empties every set (as setpriv does); a fresh self-dropping runtime keeps
      // CAP_SETUID/SETGID in its inheritable and bounding sets, inert without a permitted one and under NoNewPrivs.
      for (const [k, v] of Object.entries(fresh.caps)) if (pool || !['CapInh', 'CapBnd'].includes(k)) assert.equal(BigInt(`0x${v}`), 0n, `${k} ${v}`);
      assert.ok(fresh.pids <= 3, `${fresh.pids} processes visible`);
      assert.equal(fresh.signal.ok, false);
      assert.equal(fresh.read.ok, false);
      assert.equal(fresh.writeCode.ok, false);
      assert.deepEqual(fresh.writeTmp, { ok: true, value: 'x' });
      assert.deepEqual(fresh.secret, { ok: true, value: 'value-of-b' });
      assert.deepEqual((await probe(p, 'fn-shim', { secret: 'db-password' })).secret, { ok: false, code: 'ENOENT' });
      await eventually(async () => (await probe(p, 'fn-shim')).nofile === `${DEFAULT_NOFILE}:${DEFAULT_NOFILE}`, 5_000, 'the open-files limit');
    });

    test('Python replicas get the same sandbox', async () => {
      const py = await probe(p, 'fn-py', { read: otherCode, secret: 'db-password' });
      assert.ok(py.uid >= 600_000);
      assert.equal(py.noNewPrivs, true);
      assert.ok(py.pids <= 3);
      assert.equal(py.read.ok, false);
      assert.equal(py.writeCode.ok, false);
      assert.deepEqual(py.secret, { ok: true, value: 'hunter2-for-a' });
    });

    test('kss.network: none — the function can open no connection and send no datagram; the gateway still reaches it', { skip: host.firewall.ok ? false : host.firewall.reason }, async () => {
      // Tries a TCP connection to PostgreSQL on loopback (running on this machine) and a UDP datagram.
      const NET_PROBE = `
const net = require('node:net');
const dgram = require('node:dgram');
const tcp = () => new Promise((resolve) => {
  const s = net.connect({ host: '127.0.0.1', port: 5432 });
  s.setTimeout(2000, () => { s.destroy(); resolve('timeout'); });
  s.once('connect', () => { s.destroy(); resolve('connected'); });
  s.once('error', (e) => resolve(e.code));
});
const udp = () => new Promise((resolve) => {
  const u = dgram.createSocket('udp4');
  u.send('x', 53, '127.0.0.1', (e) => { u.close(); resolve(e ? e.code : 'sent'); });
});
module.exports = async () => ({ tcp: await tcp(), udp: await udp() });`;
      await deployFunction(p.client, 'no-net', { 'handler.js': NET_PROBE }, { annotations: { 'kss.network': 'none' } });
      await deployFunction(p.client, 'with-net', { 'handler.js': NET_PROBE });
      const res = await fetch(`${p.url}/function/no-net`);
      assert.equal(res.status, 200, 'the gateway reaches a replica without network');
      assert.deepEqual(await res.json(), { tcp: 'ECONNREFUSED', udp: 'EPERM' });
      assert.deepEqual(await (await fetch(`${p.url}/function/with-net`)).json(), { tcp: 'connected', udp: 'sent' });
      // Back to the host network on update (same uid, out of the set).
      const code = (await p.client.getFunction('no-net')).code;
      await p.client.deploy({ service: 'no-net', runtime: 'node', code, annotations: { 'kss.network': 'host' } } as never);
      await eventually(async () => (await (await fetch(`${p.url}/function/no-net`)).json() as { tcp: string }).tcp === 'connected', 15_000, 'network back after the update');
      await p.client.removeFunction('no-net');
      await p.client.removeFunction('with-net');
      const bad = await p.api('/system/functions', { method: 'POST', body: JSON.stringify({ service: 'bad-net', runtime: 'node', code, annotations: { 'kss.network': 'off' } }) });
      assert.equal(bad.status, 400);
      assert.match(((await bad.json()) as { message: string }).message, /kss\.network: "off" is not a network; use host \(default\) or none/);
    });
  });
}

describe('limits', { skip }, () => {
  let p: TestPlatform;
  before(async () => {
    p = await startTestPlatform();
  });
  after(async () => {
    await p?.close();
  });

  test('a replica over its memory limit is OOM-killed, shown in describe, and restarted; its neighbour keeps serving', async () => {
    const hog = `module.exports = async (event) => { if (event.query.eat) { const keep = []; for (let i = 0; i < 400; i++) keep.push(Buffer.alloc(1024 * 1024, 1)); return keep.length; } return 'fine'; };`;
    await deployFunction(p.client, 'hog', { 'handler.js': hog }, { limits: { memory: '96Mi' } });
    await deployFunction(p.client, 'neighbour', { 'handler.js': "module.exports = async () => 'still here';" });
    const res = await fetch(`${p.url}/function/hog?eat=1`);
    await res.text();
    assert.equal(res.status, 502);
    assert.equal(await (await fetch(`${p.url}/function/neighbour`)).text(), 'still here');
    await eventually(async () => /OOMKilled at \d{4}-/.test((await p.client.getFunction('hog')).instances![0]!.lastExit ?? ''), 10_000, 'OOMKilled recorded');
    const hogStatus = await p.client.getFunction('hog');
    assert.ok(hogStatus.instances![0]!.restarts >= 1);
    await eventually(async () => (await p.client.getFunction('hog')).availableReplicas === 1, 15_000, 'the hog restarted');
    assert.equal(await (await fetch(`${p.url}/function/hog`)).text(), 'fine');
    // The same event is in the function's logs.
    const logs = await (await p.api('/system/logs?name=hog')).text();
    assert.ok(logs.split('\n').some((l) => l.includes('"stream":"event"') && l.includes('OOMKilled at')), 'an OOMKilled event in the logs');
  });

  test('a fork bomb stops at the pids limit; the host and the neighbour are unaffected', async () => {
    const bomb = `
const { spawn } = require('node:child_process');
module.exports = async () => {
  const children = [];
  let error = '';
  for (let i = 0; i < 2000; i++) {
    try {
      const c = spawn('sleep', ['5'], { stdio: 'ignore' });
      const failed = await new Promise((r) => { c.once('spawn', () => r(false)); c.once('error', (e) => { error = e.code; r(true); }); });
      if (failed) break;
      children.push(c);
    } catch (e) { error = e.code; break; }
  }
  for (const c of children) c.kill('SIGKILL');
  return { started: children.length, error };
};`;
    await deployFunction(p.client, 'bomb', { 'handler.js': bomb });
    const res = await fetch(`${p.url}/function/bomb`);
    const body = (await res.json()) as { started: number; error: string };
    assert.ok(body.started < 600, `started ${body.started}`);
    assert.equal(body.error, 'EAGAIN');
    assert.equal(await (await fetch(`${p.url}/function/neighbour`)).text(), 'still here');
  });

  test('CPU and memory usage are read from the cgroups (status.usage, instances[].usage)', async () => {
    await deployFunction(p.client, 'busy', { 'handler.js': "module.exports = async () => { const end = Date.now() + 300; while (Date.now() < end); return 'done'; };" }, { limits: { cpu: '500m', memory: '128Mi' } });
    await p.client.getFunction('busy');
    await fetch(`${p.url}/function/busy`).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 1100));
    const s = await p.client.getFunction('busy');
    const usage = s.instances![0]!.usage!;
    assert.ok(usage.cpuSeconds > 0.1, `cpu ${usage.cpuSeconds}`);
    assert.ok(usage.memoryWorkingSetBytes > 5_000_000 && usage.memoryWorkingSetBytes < 128 * 2 ** 20, `memory ${usage.memoryWorkingSetBytes}`);
    assert.ok(s.usage!.totalMemoryBytes! > 0);
    assert.equal(typeof s.usage!.cpu, 'number');
    // The same figures, with OpenFaaS Pro's metric names and labels.
    const metrics = await (await fetch(`${p.url}/metrics`)).text();
    const pod = s.instances![0]!.id;
    assert.match(metrics, /# TYPE pod_cpu_usage_seconds_total counter/);
    assert.match(metrics, new RegExp(`pod_cpu_usage_seconds_total\\{function_name="busy\\.openfaas-fn",revision="r1",namespace="openfaas-fn",pod="${pod}"\\} 0\\.[1-9]|pod_cpu_usage_seconds_total\\{function_name="busy\\.openfaas-fn",revision="r1",namespace="openfaas-fn",pod="${pod}"\\} [1-9]`));
    assert.match(metrics, new RegExp(`pod_memory_working_set_bytes\\{function_name="busy\\.openfaas-fn",revision="r1",namespace="openfaas-fn",pod="${pod}"\\} [1-9]\\d{6,}`));
  });

  test('bad quantities are a 400 naming the field', async () => {
    for (const [field, value, pattern] of [
      ['limits', { memory: '12 Mi' }, /limits\.memory/],
      ['limits', { memory: '128' }, /limits\.memory.*at least 4Mi/],
      ['limits', { cpu: 'lots' }, /limits\.cpu/],
      ['requests', { cpu: '0' }, /requests\.cpu/],
      ['requests', { memory: -5 }, /requests\.memory/],
    ] as const) {
      const res = await p.api('/system/functions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ service: 'badq', runtime: 'node', [field]: value }) });
      assert.equal(res.status, 400);
      const body = (await res.json()) as { code: string; message: string };
      assert.equal(body.code, 'KSS_INVALID_SPEC');
      assert.match(body.message, pattern);
    }
  });
});
