import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KssError, parseFunctionSpec, type Clock } from '../core/index.js';
import { MIGRATIONS } from './migrations.js';
import { migrate, openSqliteStore } from './sqlite-store.js';

const fakeClock = (start: number): Clock & { advance(ms: number): void } => {
  let now = start;
  return { now: () => now, setTimeout: () => () => {}, advance: (ms) => (now += ms) };
};

test('create, get, update, list, delete, namespaces; data survives reopening', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'kss-store-')), 'kss.db');
  const clock = fakeClock(Date.UTC(2026, 0, 1));
  let store = openSqliteStore(file, { clock });
  const a = parseFunctionSpec({ service: 'a' });
  const b = parseFunctionSpec({ service: 'b', namespace: 'dev' });
  const created = await store.create(a);
  assert.equal(created.createdAt, '2026-01-01T00:00:00.000Z');
  await store.create(b);
  await assert.rejects(store.create(a), (e: unknown) => e instanceof KssError && e.code === 'KSS_FUNCTION_EXISTS');
  clock.advance(1000);
  const updated = await store.update({ ...a, envVars: { X: '1' } });
  assert.equal(updated.createdAt, '2026-01-01T00:00:00.000Z');
  assert.equal(updated.updatedAt, '2026-01-01T00:00:01.000Z');
  await assert.rejects(store.update(parseFunctionSpec({ service: 'zzz' })), (e: unknown) => e instanceof KssError && e.code === 'KSS_FUNCTION_NOT_FOUND');
  assert.deepEqual(await store.namespaces(), ['dev', 'openfaas-fn']);
  assert.deepEqual((await store.list()).map((f) => f.spec.service), ['b', 'a']);
  assert.deepEqual((await store.list('dev')).map((f) => f.spec.service), ['b']);

  store.close();
  store = openSqliteStore(file, { clock });
  assert.deepEqual((await store.get({ name: 'a', namespace: 'openfaas-fn' }))?.spec.envVars, { X: '1' });
  assert.equal(await store.delete({ name: 'a', namespace: 'openfaas-fn' }), true);
  assert.equal(await store.delete({ name: 'a', namespace: 'openfaas-fn' }), false);
  assert.equal(await store.get({ name: 'a', namespace: 'openfaas-fn' }), undefined);
  store.close();
});

test('migrations run once and record the schema version; a newer schema is refused', () => {
  const db = new Database(':memory:');
  migrate(db);
  migrate(db);
  assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
  assert.throws(() => migrate(db), /newer Kube-Serverless/);
});
