import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { migrate } from '../store/sqlite-store.js';
import { FIRST_FUNCTION_UID, UidAllocator } from './uid-allocator.js';
import { FIRST_VOLUME_GID, LAST_VOLUME_GID, VolumeGidAllocator } from './volume-gid-allocator.js';

function db(): Database.Database {
  const d = new Database(':memory:');
  migrate(d);
  return d;
}

test('volume gids: stable per name, distinct, below every function uid', () => {
  const d = db();
  const gids = new VolumeGidAllocator(d);
  const a = gids.gidFor('readings');
  const b = gids.gidFor('models');
  assert.equal(a, FIRST_VOLUME_GID);
  assert.equal(b, FIRST_VOLUME_GID + 1);
  assert.equal(gids.gidFor('readings'), a, 'the same volume keeps its gid');
  assert.equal(new VolumeGidAllocator(d).gidFor('models'), b, 'kept in the database (a restart)');
  assert.ok(LAST_VOLUME_GID < FIRST_FUNCTION_UID, 'the range cannot meet function uids (also their gids)');
  const uid = new UidAllocator(d).uidFor('openfaas-fn', 'ingest');
  assert.ok(uid > LAST_VOLUME_GID);
});

test('a folder\'s existing group is kept when it is in range and free; otherwise the lowest free gid', () => {
  const d = db();
  const gids = new VolumeGidAllocator(d);
  assert.equal(gids.gidFor('old', FIRST_VOLUME_GID + 7), FIRST_VOLUME_GID + 7, 'adopted');
  assert.equal(gids.gidFor('other', FIRST_VOLUME_GID + 7), FIRST_VOLUME_GID, 'taken by "old": the lowest free one');
  assert.equal(gids.gidFor('root-owned', 0), FIRST_VOLUME_GID + 1, 'gid 0 is not a volume gid');
  assert.equal(gids.gidFor('function-group', FIRST_FUNCTION_UID), FIRST_VOLUME_GID + 2, 'nor is a function\'s');
  assert.equal(gids.gidFor('next'), FIRST_VOLUME_GID + 3);
});

test('the range has an end', () => {
  const d = db();
  d.prepare('INSERT INTO volume_gids (name, gid) VALUES (?, ?)').run('last', LAST_VOLUME_GID);
  const gids = new VolumeGidAllocator(d);
  assert.equal(gids.gidFor('first'), FIRST_VOLUME_GID);
  // Fill everything from the first up to the last.
  const insert = d.prepare('INSERT INTO volume_gids (name, gid) VALUES (?, ?)');
  d.transaction(() => {
    for (let g = FIRST_VOLUME_GID + 1; g < LAST_VOLUME_GID; g++) insert.run(`v${g}`, g);
  })();
  assert.throws(() => gids.gidFor('one-too-many'), /no volume gid left/);
});
