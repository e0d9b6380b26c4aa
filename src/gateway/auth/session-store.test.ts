import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../core/index.js';
import { ADMIN_PRINCIPAL } from './authenticator.js';
import { cookieValue, SessionStore, withoutSessionCookie } from './session-store.js';

test('a session is found by its id until it expires, then never again', () => {
  const clock = new FakeClock();
  const store = new SessionStore(clock, 1000);
  const { id, expiresAt } = store.create(ADMIN_PRINCIPAL);
  assert.match(id, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(expiresAt.getTime(), clock.now() + 1000);
  assert.equal(store.get(id)?.principal.id, 'admin');
  clock.advance(999);
  assert.ok(store.get(id));
  clock.advance(1);
  assert.equal(store.get(id), undefined, 'expired at exactly its expiry');
  assert.equal(store.size, 0, 'an expired session is dropped when looked up');
});

test('unknown, malformed and deleted ids find nothing', () => {
  const store = new SessionStore(new FakeClock());
  const { id } = store.create(ADMIN_PRINCIPAL);
  for (const bad of ['', 'x', `${id}x`, id.slice(1), '../../etc/passwd', 'A'.repeat(43)]) assert.equal(store.get(bad), undefined, bad);
  store.delete(id);
  assert.equal(store.get(id), undefined);
  store.delete('not-an-id');
});

test('ending a principal’s sessions (its token was revoked) leaves the others', () => {
  const store = new SessionStore(new FakeClock());
  const token = { id: 'token:abc', name: 'ci', scopes: ['read'] as const };
  const a = store.create(token);
  const b = store.create(ADMIN_PRINCIPAL);
  store.deleteFor('token:abc');
  assert.equal(store.get(a.id), undefined);
  assert.ok(store.get(b.id));
});

test('expired sessions are swept when new ones are created', () => {
  const clock = new FakeClock();
  const store = new SessionStore(clock, 100);
  for (let i = 0; i < 5; i++) store.create(ADMIN_PRINCIPAL);
  clock.advance(100);
  store.create(ADMIN_PRINCIPAL);
  assert.equal(store.size, 1);
});

test('cookie parsing finds the session among others, and stripping keeps the rest', () => {
  assert.equal(cookieValue('a=1; kss_session=abc; b=2', 'kss_session'), 'abc');
  assert.equal(cookieValue('xkss_session=abc', 'kss_session'), undefined);
  assert.equal(cookieValue(undefined, 'kss_session'), undefined);
  assert.equal(withoutSessionCookie('a=1; kss_session=abc; b=2'), 'a=1; b=2');
  assert.equal(withoutSessionCookie('kss_session=abc'), undefined);
  assert.equal(withoutSessionCookie('theme=dark'), 'theme=dark');
});
