import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { KssError, type Clock } from '../core/index.js';
import { openDatabase } from '../store/index.js';
import { loadSecretKey } from './secret-key.js';
import { MAX_SECRET_BYTES, openSecretStore, SecretStore } from './secret-store.js';
import { parseSecretRequest } from './secret-request.js';
import { assertValidSecretName, isValidSecretName } from './secret-name.js';

const clock: Clock = { now: () => Date.UTC(2026, 0, 1), setTimeout: () => () => {} };

function fresh(): { dir: string; db: Database } {
  const dir = mkdtempSync(join(tmpdir(), 'kss-secrets-'));
  return { dir, db: openDatabase(join(dir, 'kss.db')) };
}

const code = (c: string) => (e: unknown) => e instanceof KssError && e.code === c;

test('create, list, read, update, missing, remove; values are encrypted in the file', async () => {
  const { dir, db } = fresh();
  const { store, warnings } = openSecretStore({ db, dataDir: dir, clock });
  assert.deepEqual(warnings, []);
  const key = statSync(join(dir, 'secrets.key'));
  assert.equal(key.mode & 0o777, 0o600);
  assert.equal(key.size, 32);

  const value = Buffer.from('plain-text-password-123');
  const info = await store.create('openfaas-fn', 'db-password', value);
  assert.deepEqual(info, { name: 'db-password', namespace: 'openfaas-fn', createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z' });
  await store.create('dev', 'db-password', Buffer.from([0, 1, 2, 255]));
  await assert.rejects(store.create('openfaas-fn', 'db-password', value), code('KSS_SECRET_EXISTS'));
  assert.deepEqual((await store.list('openfaas-fn')).map((s) => s.name), ['db-password']);
  assert.deepEqual((await store.list()).map((s) => `${s.name}.${s.namespace}`), ['db-password.dev', 'db-password.openfaas-fn']);
  assert.ok(!JSON.stringify(await store.list()).includes(value.toString()));

  const read = await store.read('openfaas-fn', ['db-password']);
  assert.deepEqual(read.get('db-password'), value);
  assert.deepEqual((await store.read('dev', ['db-password'])).get('db-password'), Buffer.from([0, 1, 2, 255]));
  await assert.rejects(store.read('openfaas-fn', ['db-password', 'nope']), (e: unknown) => code('KSS_SECRET_NOT_FOUND')(e) && /"nope"/.test((e as Error).message) && !(e as Error).message.includes(value.toString()));
  assert.deepEqual(await store.missing('openfaas-fn', ['db-password', 'nope', 'nope']), ['nope']);

  await store.update('openfaas-fn', 'db-password', Buffer.from('rotated'));
  assert.deepEqual((await store.read('openfaas-fn', ['db-password'])).get('db-password'), Buffer.from('rotated'));
  await assert.rejects(store.update('openfaas-fn', 'nope', value), code('KSS_SECRET_NOT_FOUND'));
  await assert.rejects(store.create('openfaas-fn', 'Bad_Name', value), code('KSS_INVALID_NAME'));
  await assert.rejects(store.create('openfaas-fn', 'big', Buffer.alloc(MAX_SECRET_BYTES + 1)), code('KSS_PAYLOAD_TOO_LARGE'));
  await store.create('openfaas-fn', 'exactly-max', Buffer.alloc(MAX_SECRET_BYTES, 7));

  assert.equal(await store.remove('dev', 'db-password'), true);
  assert.equal(await store.remove('dev', 'db-password'), false);
  db.pragma('wal_checkpoint(TRUNCATE)');
  for (const f of ['kss.db', 'kss.db-wal']) {
    try {
      const bytes = readFileSync(join(dir, f));
      assert.ok(!bytes.includes(value), `${f} does not hold the value`);
      assert.ok(!bytes.includes(Buffer.from('rotated')), `${f} does not hold the rotated value`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  db.close();
});

test('rows cannot be swapped between names: the AAD binds each ciphertext to its row', async () => {
  const { dir, db } = fresh();
  const { store } = openSecretStore({ db, dataDir: dir, clock });
  await store.create('openfaas-fn', 'a', Buffer.from('value-a'));
  await store.create('openfaas-fn', 'b', Buffer.from('value-b'));
  // Copy a's encrypted columns into b's row.
  db.prepare("UPDATE secrets SET iv = (SELECT iv FROM secrets WHERE name = 'a'), tag = (SELECT tag FROM secrets WHERE name = 'a'), ciphertext = (SELECT ciphertext FROM secrets WHERE name = 'a') WHERE name = 'b'").run();
  await assert.rejects(store.read('openfaas-fn', ['b']), (e: unknown) => code('KSS_INTERNAL')(e) && /cannot be decrypted/.test((e as Error).message) && !/value-a/.test((e as Error).message));
  assert.deepEqual((await store.read('openfaas-fn', ['a'])).get('a'), Buffer.from('value-a'));
  // One altered row: the store opens, with a warning naming it.
  const reopened = openSecretStore({ db, dataDir: dir, clock });
  assert.match(reopened.warnings.join('\n'), /1 stored secret cannot be decrypted.*b\.openfaas-fn/);
  db.close();
});

test('wrong key: a clear start-up error; a read with a wrong key is a catalogue error, not a crash', async () => {
  const { dir, db } = fresh();
  const { store } = openSecretStore({ db, dataDir: dir, clock });
  await store.create('openfaas-fn', 'a', Buffer.from('value-a'));
  const wrong = new SecretStore({ db, key: randomBytes(32), clock });
  await assert.rejects(wrong.read('openfaas-fn', ['a']), (e: unknown) => code('KSS_INTERNAL')(e) && /secrets\.key/.test((e as Error).message));
  writeFileSync(join(dir, 'secrets.key'), randomBytes(32));
  assert.throws(() => openSecretStore({ db, dataDir: dir, clock }), /does not decrypt any of the 1 stored secret/);
  db.close();
});

test('key file policy: created 0600; wrong length refused and never overwritten; loose mode tightened with a warning; missing with secrets refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kss-key-'));
  const file = join(dir, 'secrets.key');
  const made = loadSecretKey(file, 0);
  assert.equal(made.created, true);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const again = loadSecretKey(file, 0);
  assert.equal(again.created, false);
  assert.deepEqual(again.key, made.key);

  chmodSync(file, 0o644);
  const loose = loadSecretKey(file, 3);
  assert.match(loose.warning ?? '', /readable by other users \(mode 0644\); it is now 0600/);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.ok(!loose.warning!.includes(made.key.toString('hex')));

  writeFileSync(file, 'short');
  assert.throws(() => loadSecretKey(file, 0), /holds 5 bytes.*exactly 32 bytes/);
  assert.equal(readFileSync(file, 'utf8'), 'short', 'a bad key file is never overwritten');

  assert.throws(() => loadSecretKey(join(dir, 'absent.key'), 2), /is missing, but the database holds 2 secrets/);
  assert.throws(() => loadSecretKey(dir, 0), /not a regular file/);
});

test('secret names follow DNS-1123 subdomains (faas-cli): max 253, lower-case, digits, - and .', () => {
  for (const ok of ['a', 'db-password', 'api.key', 'a1.b2-c3', '0', 'x'.repeat(253), `${'a'.repeat(63)}.${'b'.repeat(63)}`]) assert.ok(isValidSecretName(ok), ok);
  for (const bad of ['', 'A', 'a_b', '-a', 'a-', '.a', 'a.', 'a..b', '../x', 'a/b', 'x'.repeat(254), 'é', 'a b', 'a.-b']) {
    assert.ok(!isValidSecretName(bad), bad);
    assert.throws(() => assertValidSecretName(bad, 'secrets[0]'), (e: unknown) => code('KSS_INVALID_NAME')(e) && (e as Error).message.startsWith('secrets[0]: '));
  }
  assert.throws(() => assertValidSecretName(42), (e: unknown) => code('KSS_INVALID_NAME')(e) && /^name: /.test((e as Error).message));
});

test('parseSecretRequest: value or rawValue (strict base64), namespace from body or query; errors never hold the value', () => {
  assert.deepEqual(parseSecretRequest({ name: 'a', value: 'v' }, undefined, true), { name: 'a', namespace: 'openfaas-fn', value: Buffer.from('v') });
  assert.deepEqual(parseSecretRequest({ name: 'a', rawValue: Buffer.from([0, 255]).toString('base64') }, 'dev', true), { name: 'a', namespace: 'dev', value: Buffer.from([0, 255]) });
  assert.deepEqual(parseSecretRequest({ name: 'a', rawValue: 'AP8' }, undefined, true).value, Buffer.from([0, 255]), 'unpadded base64 is accepted');
  assert.equal(parseSecretRequest({ name: 'a', namespace: 'dev', value: 'v' }, undefined, true).namespace, 'dev');
  assert.equal(parseSecretRequest({ name: 'a', namespace: '', value: 'v', rawValue: null }, undefined, true).namespace, 'openfaas-fn');
  assert.deepEqual(parseSecretRequest({ name: 'a' }, 'dev', false), { name: 'a', namespace: 'dev' });
  const secret = 'S3CRET-never-echo';
  const cases: Array<[unknown, string, RegExp]> = [
    [null, 'KSS_BAD_REQUEST', /^body: expected a JSON object/],
    [[secret], 'KSS_BAD_REQUEST', /^body:/],
    [{ value: secret }, 'KSS_INVALID_NAME', /^name: a secret name is required/],
    [{ name: 'Bad', value: secret }, 'KSS_INVALID_NAME', /^name: "Bad" is not a valid secret name/],
    [{ name: 'a' }, 'KSS_BAD_REQUEST', /^value: required/],
    [{ name: 'a', value: '' }, 'KSS_BAD_REQUEST', /^value: required/],
    [{ name: 'a', value: secret, rawValue: 'AAAA' }, 'KSS_BAD_REQUEST', /^value, rawValue: give one of them, not both/],
    [{ name: 'a', value: 42 }, 'KSS_BAD_REQUEST', /^value: expected a string/],
    [{ name: 'a', rawValue: { secret } }, 'KSS_BAD_REQUEST', /^rawValue: expected a base64 string/],
    [{ name: 'a', rawValue: `${secret}!` }, 'KSS_BAD_REQUEST', /^rawValue: not valid base64/],
    [{ name: 'a', rawValue: 'AAA=A' }, 'KSS_BAD_REQUEST', /^rawValue: not valid base64/],
    [{ name: 'a', rawValue: 'A' }, 'KSS_BAD_REQUEST', /^rawValue: not valid base64/],
    [{ name: 'a', rawValue: 'QR==' }, 'KSS_BAD_REQUEST', /^rawValue: not valid base64/],
    [{ name: 'a', rawValue: 'AA-_' }, 'KSS_BAD_REQUEST', /^rawValue: not valid base64/],
    [{ name: 'a', value: 'x'.repeat(MAX_SECRET_BYTES + 1) }, 'KSS_PAYLOAD_TOO_LARGE', /^value: 513 KiB is more than a secret may hold \(512 KiB\)/],
    [{ name: 'a', value: secret, namespace: 'BAD' }, 'KSS_INVALID_NAMESPACE', /^namespace:/],
    [{ name: 'a', value: secret, namespace: 'dev' }, 'KSS_INVALID_NAMESPACE', /^namespace: the body says "dev" but the query says "prod"/],
  ];
  for (const [body, c, message] of cases) {
    const query = (body as { namespace?: string } | null)?.namespace === 'dev' ? 'prod' : undefined;
    assert.throws(() => parseSecretRequest(body, query, true), (e: unknown) => {
      assert.ok(code(c)(e), `${JSON.stringify(body)?.slice(0, 80)} → ${(e as KssError).code}: ${(e as Error).message}`);
      assert.match((e as Error).message, message);
      assert.ok(!(e as Error).message.includes(secret), 'no value in the message');
      return true;
    });
  }
});
