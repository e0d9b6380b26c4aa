import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFunctionSpec } from '../../core/index.js';
import { VolumeFolders, type VolumeGids } from './volume-folders.js';
import { volumeEnv } from './volumes.js';

const asRoot = process.getuid?.() === 0;

/** Gids from 590000 in order of first use; remembers what it was offered. */
function fakeGids(): VolumeGids & { offered: Array<number | undefined> } {
  const known = new Map<string, number>();
  const offered: Array<number | undefined> = [];
  return {
    offered,
    gidFor(name, preferred) {
      offered.push(preferred);
      if (!known.has(name)) known.set(name, 590_000 + known.size);
      return known.get(name)!;
    },
  };
}

const spec = (volumes: string) => parseFunctionSpec({ service: 'fn', annotations: { 'kss.volume': volumes } });

test('prepare creates each folder once and returns name, path, read-only and gid in the spec\'s order', () => {
  const root = join(mkdtempSync(join(tmpdir(), 'kss-volumes-')), 'volumes');
  try {
    const folders = new VolumeFolders({ root, gids: fakeGids(), setGroup: false });
    assert.deepEqual(folders.prepare(parseFunctionSpec({ service: 'none' })), []);
    const got = folders.prepare(spec('data,models:ro'));
    assert.deepEqual(got, [
      { name: 'data', hostPath: join(root, 'data'), readOnly: false, gid: 590_000 },
      { name: 'models', hostPath: join(root, 'models'), readOnly: true, gid: 590_001 },
    ]);
    writeFileSync(join(root, 'data', 'kept'), 'x');
    folders.prepare(spec('data'));
    assert.equal(statSync(join(root, 'data', 'kept')).size, 1, 'an existing volume is left as it is');
    assert.equal(statSync(join(root, 'data')).mode & 0o777, 0o770);
    assert.deepEqual(volumeEnv(got), { KSS_VOLUME_DATA: join(root, 'data'), KSS_VOLUME_MODELS: join(root, 'models') });
    assert.deepEqual(volumeEnv(got, (v) => `/var/kss/volumes/${v.name}`), { KSS_VOLUME_DATA: '/var/kss/volumes/data', KSS_VOLUME_MODELS: '/var/kss/volumes/models' });
  } finally {
    rmSync(join(root, '..'), { recursive: true, force: true });
  }
});

test('with setGroup each folder is root:<gid> 2770, repaired on every prepare; its group is offered as the gid', { skip: asRoot ? false : 'needs root (chown)' }, () => {
  const root = join(mkdtempSync(join(tmpdir(), 'kss-volumes-')), 'volumes');
  try {
    const gids = fakeGids();
    const folders = new VolumeFolders({ root, gids, setGroup: true });
    const [v] = folders.prepare(spec('shared'));
    let st = statSync(v!.hostPath);
    assert.equal(st.uid, 0);
    assert.equal(st.gid, 590_000);
    assert.equal(st.mode & 0o7777, 0o2770);
    chownSync(v!.hostPath, 12345, 12345);
    chmodSync(v!.hostPath, 0o777);
    folders.prepare(spec('shared'));
    st = statSync(v!.hostPath);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [0, 590_000, 0o2770], 'repaired');
    assert.equal(gids.offered.at(-1), 12345, 'the folder\'s group was offered (kept when it is a free volume gid)');
  } finally {
    rmSync(join(root, '..'), { recursive: true, force: true });
  }
});

test('a symlink or a file where a volume belongs is refused, never followed', () => {
  const base = mkdtempSync(join(tmpdir(), 'kss-volumes-'));
  const root = join(base, 'volumes');
  try {
    mkdirSync(root);
    mkdirSync(join(base, 'elsewhere'));
    symlinkSync(join(base, 'elsewhere'), join(root, 'linked'));
    writeFileSync(join(root, 'file'), 'x');
    const folders = new VolumeFolders({ root, gids: fakeGids(), setGroup: false });
    assert.throws(() => folders.prepare(spec('linked')), /is not a folder/);
    assert.throws(() => folders.prepare(spec('file')), /is not a folder/);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
