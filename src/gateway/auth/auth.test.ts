import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../core/index.js';
import { migrate } from '../../store/index.js';
import { ensureAdminCredentials } from './admin-credentials.js';
import { ADMIN_PRINCIPAL, ANONYMOUS_PRINCIPAL, Authenticator } from './authenticator.js';
import { constantTimeEqual } from './constant-time.js';
import { allows } from './scopes.js';
import { TokenStore } from './token-store.js';

function setup() {
  const db = new Database(':memory:');
  migrate(db);
  const clock = new FakeClock();
  return { db, clock, tokens: new TokenStore(db, clock) };
}

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

test('scopes: admin holds all, deploy includes read, invoke stands alone', () => {
  assert.ok(allows(['admin'], 'invoke'));
  assert.ok(allows(['deploy'], 'read'));
  assert.ok(!allows(['deploy'], 'invoke'));
  assert.ok(!allows(['invoke'], 'read'));
  assert.ok(!allows(['read'], 'deploy'));
  assert.ok(!allows([], 'read'));
});

test('constant-time comparison handles different lengths and contents', () => {
  assert.ok(constantTimeEqual('secret', 'secret'));
  assert.ok(!constantTimeEqual('secret', 'secreT'));
  assert.ok(!constantTimeEqual('secret', 'secret-longer'));
  assert.ok(!constantTimeEqual('', 'x'));
});

test('tokens: shown once, stored hashed, verified, expired, revoked', () => {
  const { db, clock, tokens } = setup();
  const { token, info } = tokens.create({ name: 'ci', scopes: ['deploy', 'deploy'], expiresAt: new Date(clock.now() + 60_000), createdBy: 'admin' });
  assert.match(token, /^kss_[a-f0-9]{12}_[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(info.scopes, ['deploy']);
  const secret = token.split('_').slice(2).join('_');
  const stored = JSON.stringify(db.prepare('SELECT * FROM api_tokens').all(), (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v));
  assert.ok(!stored.includes(secret), 'the secret is not stored');
  assert.deepEqual(tokens.verify(token), { id: `token:${info.id}`, name: 'ci', scopes: ['deploy'] });
  assert.ok(tokens.get(info.id)!.lastUsedAt);
  assert.equal(tokens.verify(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`), undefined, 'one character off');
  assert.equal(tokens.verify('kss_000000000000_' + 'a'.repeat(43)), undefined, 'unknown id');
  assert.equal(tokens.verify('garbage'), undefined);
  clock.advance(60_000);
  assert.equal(tokens.verify(token), undefined, 'expired');
  const other = tokens.create({ name: 'x', scopes: ['read'], createdBy: 'admin' });
  assert.ok(tokens.verify(other.token));
  assert.equal(tokens.revoke(other.info.id), true);
  assert.equal(tokens.verify(other.token), undefined, 'revoked');
  assert.equal(tokens.revoke('ffffffffffff'), false);
  assert.throws(() => tokens.create({ name: '', scopes: ['read'], createdBy: 'admin' }), /name/);
  assert.throws(() => tokens.create({ name: 'a', scopes: [], createdBy: 'admin' }), /scopes/);
  assert.throws(() => tokens.create({ name: 'a', scopes: ['read'], expiresAt: new Date(clock.now() - 1), createdBy: 'admin' }), /expires/);
});

test('the authenticator: basic auth for admin, bearer tokens, tokens as basic passwords, anonymous when off', () => {
  const { tokens } = setup();
  const auth = new Authenticator({ admin: { username: 'admin', password: 'pw-123456' }, tokens });
  assert.equal(auth.authenticate(basic('admin', 'pw-123456')), ADMIN_PRINCIPAL);
  assert.equal(auth.authenticate(basic('admin', 'wrong')), undefined);
  assert.equal(auth.authenticate(basic('root', 'pw-123456')), undefined);
  assert.equal(auth.authenticate(undefined), undefined);
  assert.equal(auth.authenticate('Basic !!!'), undefined);
  assert.equal(auth.authenticate('Digest abc'), undefined);
  const { token } = tokens.create({ name: 'r', scopes: ['read'], createdBy: 'admin' });
  assert.deepEqual(auth.authenticate(`Bearer ${token}`)?.scopes, ['read']);
  assert.deepEqual(auth.authenticate(basic('anyone', token))?.scopes, ['read']);
  const off = new Authenticator({ tokens });
  assert.equal(off.enabled, false);
  assert.equal(off.authenticate(undefined), ANONYMOUS_PRINCIPAL);
});

test('admin credentials: generated once, 0600, stable across starts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kss-admin-'));
  const first = ensureAdminCredentials(dir);
  assert.equal(first.created, true);
  assert.equal(first.username, 'admin');
  assert.ok(first.password.length >= 40);
  assert.equal(statSync(first.passwordFile).mode & 0o777, 0o600);
  assert.equal(readFileSync(first.passwordFile, 'utf8').trim(), first.password);
  const second = ensureAdminCredentials(dir);
  assert.equal(second.created, false);
  assert.equal(second.password, first.password);
});
