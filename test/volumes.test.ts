/**
 * Persistent named volumes (`kss.volume`, docs/volumes.md) over real processes, the real
 * kernel and a real gateway: two Python functions with their own uids share a volume,
 * read and write each other's files and one SQLite database in WAL mode; what they
 * wrote survives a gateway restart and a remove + redeploy; a function without the
 * volume cannot see it, one with `:ro` cannot write it; Node, http and Go replicas get
 * the group and the umask too; bad annotations are a 400 with KSS_INVALID_VOLUME.
 * Without a sandbox, a volume is the host folder itself. On Kubernetes (the fake API
 * server), each volume is a PersistentVolumeClaim created once and owned by no Function.
 * The sandboxed part is skipped, with the reason, on a host that cannot isolate.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { parseFunctionSpec } from '../src/core/index.js';
import { KubernetesProvider } from '../src/providers/kubernetes/index.js';
import { describeHost, FIRST_VOLUME_GID, LAST_VOLUME_GID, probeHost, Sandbox, UidAllocator } from '../src/sandbox/index.js';
import { migrate } from '../src/store/sqlite-store.js';
import { which } from '../src/sandbox/host-support.js';
import { startFakeKubeApi } from './fake-kube-api/index.js';
import { validateObject, type KubeObject } from './kubernetes-validate.js';
import { deployFunction, eventually, startTestPlatform, tempDir, type TestPlatform } from './helpers.js';

const host = probeHost();
const missing = describeHost(host).filter((c) => !c.ok && c.check !== 'nftables').map((c) => `${c.check}: ${c.detail}`);
const skip = missing.length ? `this host cannot isolate: ${missing.join('; ')}` : false;

/**
 * One Python handler for every volume function. `?op=` picks what it does with `path`
 * (relative paths are inside the volume `KSS_VOLUME_SHARED`); SQLite connections are
 * kept open between calls, as a real consumer would, so the -wal and -shm files stay.
 */
const PROBE = `
import errno, os, sqlite3, threading

VOL = os.environ.get('KSS_VOLUME_SHARED')
CONNS = {}
LOCK = threading.Lock()

def at(p):
    return p if p.startswith('/') else os.path.join(VOL or '/nonexistent', p)

def attempt(f):
    try:
        return {'ok': True, 'value': f()}
    except sqlite3.Error as e:
        return {'ok': False, 'code': 'sqlite', 'message': str(e)}
    except OSError as e:
        return {'ok': False, 'code': errno.errorcode.get(e.errno, str(e.errno))}

def write(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return text

def read(path):
    with open(path) as f:
        return f.read()

def db(name, precreate):
    path = at(name)
    # The tip of docs/volumes.md: 0664 before the first connect, so -wal and -shm are 0664 too.
    if precreate and not os.path.exists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o664))
    c = CONNS.get(name)
    if c is None:
        c = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
        c.execute('PRAGMA journal_mode=WAL')
        c.execute('CREATE TABLE IF NOT EXISTS readings (who TEXT, value INTEGER)')
        CONNS[name] = c
    return c

def insert(name, who, value, precreate):
    c = db(name, precreate)
    c.execute('INSERT INTO readings VALUES (?, ?)', (who, int(value)))
    return c.execute('SELECT COUNT(*) FROM readings').fetchone()[0]

def select(name):
    return [list(r) for r in db(name, False).execute('SELECT who, value FROM readings ORDER BY rowid').fetchall()]

def handle(event, context):
    q = event.query
    op = q.get('op', 'whoami')
    p = at(q.get('path', '.'))
    with LOCK:
        if op == 'whoami':
            mask = os.umask(0)
            os.umask(mask)
            return {'uid': os.getuid(), 'gid': os.getgid(), 'groups': sorted(os.getgroups()), 'umask': mask,
                    'env': {k: v for k, v in os.environ.items() if k.startswith('KSS_VOLUME_')}}
        if op == 'write':
            return attempt(lambda: write(p, q.get('text', '')))
        if op == 'read':
            return attempt(lambda: read(p))
        if op == 'mkdir':
            return attempt(lambda: os.mkdir(p))
        if op == 'list':
            return attempt(lambda: sorted(os.listdir(p)))
        if op == 'insert':
            return attempt(lambda: insert(q['db'], q['who'], q['value'], q.get('precreate') == '1'))
        if op == 'select':
            return attempt(lambda: select(q['db']))
    return {'error': 'unknown op'}
`;

async function call(p: TestPlatform, fn: string, query: Record<string, string> = {}): Promise<any> {
  const res = await fetch(`${p.url}/function/${fn}?${new URLSearchParams(query)}`);
  const text = await res.text();
  assert.equal(res.status, 200, `${fn} ${JSON.stringify(query)}: ${text}`);
  return JSON.parse(text);
}

/** Deploys the probe as a Python function naming `volumes` (none: no annotation). */
async function deployProbe(p: TestPlatform, name: string, volumes?: string): Promise<void> {
  await deployFunction(p.client, name, { 'handler.py': PROBE }, { runtime: 'python', ...(volumes === undefined ? {} : { annotations: { 'kss.volume': volumes } }) });
}

/** Owner, group and permission bits of a host path. */
function perms(path: string): { uid: number; gid: number; mode: number } {
  const st = statSync(path);
  return { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 };
}

/** Pids of the processes running as one of `uids` and holding supplementary group `gid`. */
function holdersOf(gid: number, uids: readonly number[]): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const status = readFileSync(`/proc/${e}/status`, 'utf8');
      const uid = Number(/^Uid:\s*(\d+)/m.exec(status)?.[1]);
      const groups = (/^Groups:\s*(.*)$/m.exec(status)?.[1] ?? '').split(/\s+/).filter(Boolean).map(Number);
      if (uids.includes(uid) && groups.includes(gid)) out.push(Number(e));
    } catch {
      // Exited while we looked.
    }
  }
  return out;
}

/** The uids the data dir's database gave these functions (in the default namespace). */
function storedUids(dataDir: string, names: readonly string[]): number[] {
  const db = new Database(join(dataDir, 'kss.db'), { readonly: true, fileMustExist: true });
  try {
    // A function's revisions (NAME--rN) have uids of their own.
    const get = db.prepare("SELECT uid FROM function_uids WHERE namespace = ? AND (name = ? OR name LIKE ? || '--%')");
    return names.flatMap((n) => (get.all('openfaas-fn', n, n) as Array<{ uid: number }>).map((r) => r.uid));
  } finally {
    db.close();
  }
}

/** The gid the data dir's database gave volume `name`. */
function storedGid(dataDir: string, name: string): number | undefined {
  const db = new Database(join(dataDir, 'kss.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT gid FROM volume_gids WHERE name = ?').get(name) as { gid: number } | undefined)?.gid;
  } finally {
    db.close();
  }
}

describe('volumes in the sandbox', { skip }, () => {
  let p: TestPlatform;
  let dir: string;
  let gid: number;
  before(async () => {
    // The warm pool is on: functions with volumes must still be started afresh, in a sandbox of their own.
    // A short grace: the http server below ignores SIGTERM, so each of its stops waits for the SIGKILL.
    p = await startTestPlatform({ warmPool: 2, replica: { graceMs: 1500 } });
    dir = join(p.dataDir, 'volumes', 'shared');
    await deployProbe(p, 'ingest', 'shared');
    await deployProbe(p, 'consumption', 'shared');
    await deployProbe(p, 'outsider');
    await deployProbe(p, 'viewer', 'shared:ro');
  });
  after(async () => {
    await p?.close();
  });

  test('each volume is a root:<gid> 2770 folder in the data dir; its gid is stable, persisted and no function\'s', async () => {
    assert.ok(existsSync(dir), 'created on first use');
    const st = perms(dir);
    gid = st.gid;
    assert.equal(st.uid, 0);
    assert.equal(st.mode, 0o2770, `mode ${st.mode.toString(8)}`);
    assert.ok(gid >= FIRST_VOLUME_GID && gid <= LAST_VOLUME_GID, `gid ${gid}`);
    assert.equal(storedGid(p.dataDir, 'shared'), gid);
    const a = await call(p, 'ingest');
    const b = await call(p, 'consumption');
    assert.notEqual(a.uid, b.uid, 'two functions, two uids');
    assert.ok(a.uid >= 600_000 && b.uid >= 600_000);
    assert.notEqual(gid, a.gid);
    assert.notEqual(gid, b.gid);
  });

  test('a replica holds the volume\'s gid as a supplementary group, umask 0002, and KSS_VOLUME_SHARED at the sandbox path', async () => {
    for (const fn of ['ingest', 'consumption', 'viewer']) {
      const me = await call(p, fn);
      assert.deepEqual(me.groups.filter((g: number) => g !== me.gid), [gid], `${fn}: groups ${me.groups}`);
      assert.equal(me.umask, 0o002, `${fn}: umask ${me.umask.toString(8)}`);
      assert.deepEqual(me.env, { KSS_VOLUME_SHARED: '/var/kss/volumes/shared' }, fn);
    }
  });

  test('functions with volumes start afresh even with a warm pool (a pooled sandbox\'s mounts are fixed)', async () => {
    const logs = await (await p.api('/system/logs?name=ingest')).text();
    const ready = logs.split('\n').filter((l) => l.includes('"stream":"event"') && l.includes('ready on'));
    assert.ok(ready.length >= 1, logs);
    for (const line of ready) assert.ok(!line.includes('from the warm pool'), line);
  });

  test('two functions read and write each other\'s files and folders', async () => {
    assert.deepEqual(await call(p, 'ingest', { op: 'write', path: 'from-ingest.txt', text: 'reading 1' }), { ok: true, value: 'reading 1' });
    assert.deepEqual(await call(p, 'consumption', { op: 'read', path: 'from-ingest.txt' }), { ok: true, value: 'reading 1' });
    // Overwrite a file the other function created (group-writable thanks to umask 0002).
    assert.deepEqual(await call(p, 'consumption', { op: 'write', path: 'from-ingest.txt', text: 'seen' }), { ok: true, value: 'seen' });
    assert.deepEqual(await call(p, 'ingest', { op: 'read', path: 'from-ingest.txt' }), { ok: true, value: 'seen' });
    // A folder one made, a file the other makes inside it.
    assert.equal((await call(p, 'ingest', { op: 'mkdir', path: 'models' })).ok, true);
    assert.equal((await call(p, 'consumption', { op: 'write', path: 'models/iris.json', text: '{"w":[1,2]}' })).ok, true);
    assert.deepEqual(await call(p, 'ingest', { op: 'read', path: 'models/iris.json' }), { ok: true, value: '{"w":[1,2]}' });
    assert.equal((await call(p, 'ingest', { op: 'write', path: 'models/iris.json', text: '{"w":[3]}' })).ok, true);
    // On the host: each file is its creator's, in the volume's group (setgid), group-writable.
    const ingestUid = (await call(p, 'ingest')).uid;
    const consumptionUid = (await call(p, 'consumption')).uid;
    assert.deepEqual(perms(join(dir, 'from-ingest.txt')), { uid: ingestUid, gid, mode: 0o664 });
    assert.deepEqual(perms(join(dir, 'models')), { uid: ingestUid, gid, mode: 0o2775 });
    assert.deepEqual(perms(join(dir, 'models', 'iris.json')), { uid: consumptionUid, gid, mode: 0o664 });
  });

  test('a shared SQLite database in WAL mode: one writes rows, the other reads them and writes too (the 0664 tip)', async () => {
    assert.deepEqual(await call(p, 'ingest', { op: 'insert', who: 'ingest', db: 'meter.db', precreate: '1', value: '41' }), { ok: true, value: 1 });
    assert.deepEqual(await call(p, 'ingest', { op: 'insert', who: 'ingest', db: 'meter.db', value: '42' }), { ok: true, value: 2 });
    const ingestUid = (await call(p, 'ingest')).uid;
    // ingest keeps its connection open: its -wal and -shm are there, 0664 like the database.
    for (const f of ['meter.db', 'meter.db-wal', 'meter.db-shm']) assert.deepEqual(perms(join(dir, f)), { uid: ingestUid, gid, mode: 0o664 }, f);
    assert.deepEqual(await call(p, 'consumption', { op: 'select', db: 'meter.db' }), { ok: true, value: [['ingest', 41], ['ingest', 42]] });
    assert.deepEqual(await call(p, 'consumption', { op: 'insert', who: 'consumption', db: 'meter.db', value: '7' }), { ok: true, value: 3 });
    assert.deepEqual(await call(p, 'ingest', { op: 'select', db: 'meter.db' }), { ok: true, value: [['ingest', 41], ['ingest', 42], ['consumption', 7]] });
  });

  test('without the tip SQLite creates the database 0644: the other function cannot write it', async () => {
    assert.deepEqual(await call(p, 'ingest', { op: 'insert', who: 'ingest', db: 'plain.db', value: '1' }), { ok: true, value: 1 });
    assert.equal(perms(join(dir, 'plain.db')).mode, 0o644, 'SQLite\'s own mode, whatever the umask');
    const denied = await call(p, 'consumption', { op: 'insert', who: 'consumption', db: 'plain.db', value: '2' });
    assert.equal(denied.ok, false, JSON.stringify(denied));
    assert.match(denied.message ?? denied.code, /readonly|read-only|unable to open|EACCES/i);
  });

  test('a function without the volume sees nothing of it, not even through the host path', async () => {
    const me = await call(p, 'outsider');
    assert.ok(!me.groups.includes(gid), `groups ${me.groups}`);
    assert.deepEqual(me.env, {});
    assert.deepEqual(await call(p, 'outsider', { op: 'list', path: '/var/kss/volumes' }), { ok: false, code: 'ENOENT' });
    assert.deepEqual(await call(p, 'outsider', { op: 'read', path: '/var/kss/volumes/shared/from-ingest.txt' }), { ok: false, code: 'ENOENT' });
    assert.equal((await call(p, 'outsider', { op: 'read', path: join(dir, 'from-ingest.txt') })).ok, false);
    assert.equal((await call(p, 'outsider', { op: 'write', path: '/var/kss/volumes/shared/x' })).ok, false);
  });

  test('a function with :ro reads the volume but cannot write, create or remove anything in it', async () => {
    assert.deepEqual(await call(p, 'viewer', { op: 'read', path: 'from-ingest.txt' }), { ok: true, value: 'seen' });
    const listed = await call(p, 'viewer', { op: 'list', path: '.' });
    assert.equal(listed.ok, true);
    for (const f of ['from-ingest.txt', 'meter.db', 'meter.db-wal', 'models']) assert.ok(listed.value.includes(f), `${f} in ${listed.value}`);
    assert.deepEqual(await call(p, 'viewer', { op: 'write', path: 'from-ingest.txt', text: 'no' }), { ok: false, code: 'EROFS' });
    assert.deepEqual(await call(p, 'viewer', { op: 'write', path: 'new.txt', text: 'no' }), { ok: false, code: 'EROFS' });
    assert.deepEqual(await call(p, 'viewer', { op: 'mkdir', path: 'sub' }), { ok: false, code: 'EROFS' });
    assert.equal(readFileSync(join(dir, 'from-ingest.txt'), 'utf8'), 'seen');
    // SQLite in WAL mode through a read-only mount: readable while a writer keeps the database open
    // (its -wal and -shm exist); docs/volumes.md says what happens once none does.
    assert.deepEqual(await call(p, 'viewer', { op: 'select', db: 'meter.db' }), { ok: true, value: [['ingest', 41], ['ingest', 42], ['consumption', 7]] });
  });

  test('Node, http (setpriv) and Go replicas get the group and umask 0002 too', async () => {
    const nodeWriter = `
const fs = require('node:fs');
module.exports = async (event) => {
  fs.writeFileSync(process.env.KSS_VOLUME_SHARED + '/from-node.txt', 'node');
  return { groups: process.getgroups(), gid: process.getgid(), umask: process.umask() };
};`;
    await deployFunction(p.client, 'node-writer', { 'handler.js': nodeWriter }, { annotations: { 'kss.volume': 'shared' } });
    const n = await call(p, 'node-writer');
    assert.deepEqual(n.groups.filter((g: number) => g !== n.gid), [gid]);
    assert.equal(n.umask, 0o002);
    assert.equal(perms(join(dir, 'from-node.txt')).mode, 0o664);
    assert.deepEqual(await call(p, 'consumption', { op: 'write', path: 'from-node.txt', text: 'python was here' }), { ok: true, value: 'python was here' });

    // http: the user's own server, dropped to the uid by setpriv (--groups) behind a shell that sets the umask.
    const server = `
import http.server, json, os
# No SIGTERM handler: as pid 1 of its namespace it ignores SIGTERM, and must still go when its replica is stopped.
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != '/ready':
            with open(os.path.join(os.environ['KSS_VOLUME_SHARED'], 'from-http.txt'), 'w') as f:
                f.write('http')
        mask = os.umask(0)
        os.umask(mask)
        body = json.dumps({'groups': os.getgroups(), 'gid': os.getgid(), 'umask': mask}).encode()
        self.send_response(200)
        self.send_header('content-type', 'application/json')
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer((os.environ.get('HOST', '127.0.0.1'), int(os.environ['PORT'])), H).serve_forever()
`;
    await deployFunction(p.client, 'http-writer', { 'server.py': server }, { runtime: 'http', envProcess: '/usr/bin/python3 server.py', annotations: { 'kss.volume': 'shared' } });
    const h = await call(p, 'http-writer', { write: '1' });
    assert.deepEqual(h.groups.filter((g: number) => g !== h.gid), [gid]);
    assert.equal(h.umask, 0o002);
    assert.equal(perms(join(dir, 'from-http.txt')).mode, 0o664);
  });

  test('a Go replica gets the group and umask 0002', { skip: which('go') ? false : 'no Go toolchain (apt-get install golang-go)' }, async () => {
    const handler = `package main

import (
	"encoding/json"
	"net/http"
	"os"
	"syscall"
)

func Handle(w http.ResponseWriter, r *http.Request) {
	err := os.WriteFile(os.Getenv("KSS_VOLUME_SHARED")+"/from-go.txt", []byte("go"), 0o666)
	groups, _ := os.Getgroups()
	mask := syscall.Umask(0)
	syscall.Umask(mask)
	json.NewEncoder(w).Encode(map[string]interface{}{"groups": groups, "gid": os.Getgid(), "umask": mask, "error": err})
}
`;
    await deployFunction(p.client, 'go-writer', { 'handler.go': handler }, { runtime: 'go', annotations: { 'kss.volume': 'shared' } });
    const g = await call(p, 'go-writer');
    assert.equal(g.error, null);
    assert.deepEqual(g.groups.filter((x: number) => x !== g.gid), [gid]);
    assert.equal(g.umask, 0o002);
    assert.equal(perms(join(dir, 'from-go.txt')).mode, 0o664);
  });

  test('the data survives a gateway restart (same gid, same rows), then a remove and a redeploy', async () => {
    p = await p.restart();
    await p.client.waitReady('consumption', { timeoutMs: 20_000 });
    assert.equal(perms(dir).gid, gid, 'the volume keeps its gid');
    assert.equal(storedGid(p.dataDir, 'shared'), gid);
    assert.deepEqual(await call(p, 'consumption', { op: 'read', path: 'from-ingest.txt' }), { ok: true, value: 'seen' });
    // The database's WAL was left by replicas that were stopped: the next one to open it recovers it.
    assert.deepEqual(await call(p, 'consumption', { op: 'select', db: 'meter.db' }), { ok: true, value: [['ingest', 41], ['ingest', 42], ['consumption', 7]] });
    assert.deepEqual(await call(p, 'ingest', { op: 'insert', who: 'ingest', db: 'meter.db', value: '43' }), { ok: true, value: 4 });

    const users = ['ingest', 'consumption', 'viewer', 'node-writer', 'http-writer', 'go-writer'];
    const uids = storedUids(p.dataDir, users);
    assert.ok(uids.length >= 5, `uids ${uids}`);
    for (const fn of users.slice(0, -1)) await p.client.removeFunction(fn);
    await p.client.removeFunction('go-writer').catch(() => {});
    await eventually(async () => (await p.client.listFunctions()).every((f) => f.name === 'outsider'), 10_000, 'functions removed');
    // Nothing holding the volume's group outlives its function (the http server, which ignores SIGTERM, included).
    await eventually(() => holdersOf(gid, uids).length === 0, 10_000, `no process of a removed function left (${holdersOf(gid, uids)})`);
    assert.equal(readFileSync(join(dir, 'from-ingest.txt'), 'utf8'), 'seen', 'removing every function that used it keeps the volume');
    await deployProbe(p, 'consumption', 'shared');
    assert.deepEqual(await call(p, 'consumption', { op: 'select', db: 'meter.db' }), { ok: true, value: [['ingest', 41], ['ingest', 42], ['consumption', 7], ['ingest', 43]] });
    assert.deepEqual(await call(p, 'consumption', { op: 'read', path: 'models/iris.json' }), { ok: true, value: '{"w":[3]}' });
    assert.equal(perms(dir).gid, gid);
  });

  test('a pooled sandbox refuses to become a function with volumes rather than weaken its mounts', async () => {
    const data = tempDir('kss-vol-pool-');
    const db = new Database(join(data, 'kss.db'));
    migrate(db);
    // Namespaces only (no cgroups, no firewall): nothing host-wide is touched.
    const sandbox = new Sandbox({ logger: pino({ level: 'silent' }), uids: new UidAllocator(db), namespaces: { bwrap: which('bwrap')!, setpriv: which('setpriv')! }, readOnlyPaths: [], runDir: join(data, 'run') });
    const pooled = sandbox.pooled('python', { command: '/bin/true', args: [] })!;
    try {
      const spec = parseFunctionSpec({ service: 'fn', runtime: 'python', annotations: { 'kss.volume': 'shared' } });
      const volume = { name: 'shared', hostPath: dir, readOnly: false, gid };
      assert.equal(await pooled.specialise(spec, { dir: data }, 'fn-1', [volume]), undefined);
      assert.equal(sandbox.poolsVolumes, false);
    } finally {
      pooled.release();
      db.close();
      rmSync(data, { recursive: true, force: true });
    }
  });
});

describe('volumes without a sandbox: the host folder itself', () => {
  let p: TestPlatform;
  before(async () => {
    p = await startTestPlatform({ sandbox: 'off', warmPool: 1 });
  });
  after(async () => {
    await p?.close();
  });

  test('KSS_VOLUME_<NAME> is the folder in the data dir; two functions share it', async () => {
    await deployProbe(p, 'writer', 'shared,gas-readings:ro');
    await deployProbe(p, 'reader', 'shared');
    const dir = join(p.dataDir, 'volumes', 'shared');
    const me = await call(p, 'writer');
    assert.deepEqual(me.env, { KSS_VOLUME_SHARED: dir, KSS_VOLUME_GAS_READINGS: join(p.dataDir, 'volumes', 'gas-readings') });
    assert.deepEqual(await call(p, 'writer', { op: 'write', path: 'note.txt', text: 'plain' }), { ok: true, value: 'plain' });
    assert.equal(readFileSync(join(dir, 'note.txt'), 'utf8'), 'plain');
    assert.deepEqual(await call(p, 'reader', { op: 'read', path: 'note.txt' }), { ok: true, value: 'plain' });
    assert.ok(existsSync(join(p.dataDir, 'volumes', 'gas-readings')));
  });
});

describe('volume annotations', () => {
  let p: TestPlatform;
  before(async () => {
    p = await startTestPlatform({ warmPool: 0 });
  });
  after(async () => {
    await p?.close();
  });

  test('bad names, duplicates, a bad suffix, a bad size: 400 KSS_INVALID_VOLUME naming the field and what is allowed', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ 'kss.volume': 'Readings' }, /^annotations\.kss\.volume: "Readings" is not a valid volume name; use a comma-separated list of volume names \(at most 63 lower-case letters, digits and '-'/],
      [{ 'kss.volume': 'a_b' }, /is not a valid volume name/],
      [{ 'kss.volume': 'x'.repeat(64) }, /is not a valid volume name/],
      [{ 'kss.volume': 'data,data:ro' }, /^annotations\.kss\.volume: volume "data" is named twice/],
      [{ 'kss.volume': 'data:rw' }, /^annotations\.kss\.volume: "data:rw" has the suffix ":rw"; the only suffix is ":ro"/],
      [{ 'kss.volume': 'a,,b' }, /has an empty entry/],
      [{ 'kss.volume': '../etc' }, /is not a valid volume name/],
      [{ 'kss.volume': 'data', 'kss.volume.size': 'lots' }, /^annotations\.kss\.volume\.size: "lots" is not a size/],
    ];
    for (const [annotations, message] of cases) {
      for (const [method, path] of [['POST', '/system/functions'], ['PUT', '/system/functions'], ['POST', '/api/v1/functions']] as const) {
        const res = await p.api(path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ service: 'bad-volume', runtime: 'python', annotations }) });
        const text = await res.text();
        assert.equal(res.status, 400, `${method} ${path} ${JSON.stringify(annotations)}: ${text}`);
        assert.equal(res.headers.get('x-kss-error'), 'KSS_INVALID_VOLUME');
        const body = JSON.parse(text) as { code: string; message: string };
        assert.equal(body.code, 'KSS_INVALID_VOLUME');
        assert.match(body.message, message);
      }
    }
    assert.equal((await p.client.listFunctions()).length, 0, 'nothing was deployed');
  });
});

describe('volumes on Kubernetes (fake API server)', () => {
  test('each volume is a PersistentVolumeClaim created once, owned by no Function, kept when functions go', async () => {
    const api = await startFakeKubeApi();
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions(api.kubeConfigOptions());
    const provider = new KubernetesProvider({ kubeConfig, logger: pino({ level: 'silent' }), namespaces: ['openfaas-fn'], resyncMs: 60_000 });
    try {
      await provider.ready();
      const ingest = parseFunctionSpec({ service: 'ingest', runtime: 'exec', image: 'acme/ingest:1', envProcess: 'cat', annotations: { 'kss.volume': 'readings', 'kss.volume.size': '5Gi' } });
      const consumption = parseFunctionSpec({ service: 'consumption', runtime: 'exec', image: 'acme/consumption:1', envProcess: 'cat', annotations: { 'kss.volume': 'readings:ro,models' } });
      await provider.deploy(ingest);
      const claim = api.get('persistentvolumeclaims', 'openfaas-fn', 'kss-volume-readings') as unknown as KubeObject & { metadata: { ownerReferences?: unknown[]; resourceVersion?: string; labels?: Record<string, string> }; spec: { accessModes: string[]; resources: { requests: { storage: string } } } };
      assert.ok(claim, 'the claim was created');
      validateObject(claim);
      assert.deepEqual(claim.spec.accessModes, ['ReadWriteMany']);
      assert.equal(claim.spec.resources.requests.storage, '5Gi');
      assert.equal(claim.metadata.ownerReferences, undefined, 'owned by no Function');
      assert.equal(claim.metadata.labels?.['serverless.kube.io/volume'], 'readings');
      const version = claim.metadata.resourceVersion;

      await provider.deploy(consumption);
      const models = api.get('persistentvolumeclaims', 'openfaas-fn', 'kss-volume-models') as unknown as { spec: { resources: { requests: { storage: string } } } };
      assert.equal(models.spec.resources.requests.storage, '1Gi', 'the default size');
      const again = api.get('persistentvolumeclaims', 'openfaas-fn', 'kss-volume-readings') as unknown as { metadata: { resourceVersion?: string } };
      assert.equal(again.metadata.resourceVersion, version, 'an existing claim is not written again');

      const deployment = api.get('deployments', 'openfaas-fn', 'consumption') as unknown as { spec: { template: { spec: any } } };
      const pod = deployment.spec.template.spec;
      assert.deepEqual(pod.volumes.filter((v: any) => v.persistentVolumeClaim), [
        { name: 'volume-readings', persistentVolumeClaim: { claimName: 'kss-volume-readings', readOnly: true } },
        { name: 'volume-models', persistentVolumeClaim: { claimName: 'kss-volume-models' } },
      ]);
      const mounts = pod.containers[0].volumeMounts.filter((m: any) => m.name.startsWith('volume-'));
      assert.deepEqual(mounts, [
        { name: 'volume-readings', mountPath: '/var/kss/volumes/readings', readOnly: true },
        { name: 'volume-models', mountPath: '/var/kss/volumes/models' },
      ]);
      assert.equal(pod.securityContext.fsGroup, 10001);
      const env = Object.fromEntries(pod.containers[0].env.map((e: any) => [e.name, e.value]));
      assert.equal(env.KSS_VOLUME_READINGS, '/var/kss/volumes/readings');
      assert.equal(env.KSS_VOLUME_MODELS, '/var/kss/volumes/models');

      await provider.remove({ name: 'ingest', namespace: 'openfaas-fn' });
      await provider.remove({ name: 'consumption', namespace: 'openfaas-fn' });
      await eventually(() => api.get('deployments', 'openfaas-fn', 'consumption') === undefined, 5_000, 'the Deployment deleted');
      assert.ok(api.get('persistentvolumeclaims', 'openfaas-fn', 'kss-volume-readings'), 'removing the functions keeps the claims');
      assert.ok(api.get('persistentvolumeclaims', 'openfaas-fn', 'kss-volume-models'));
    } finally {
      await provider.close();
      await api.close();
    }
  });
});
