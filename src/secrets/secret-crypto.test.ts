import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openSecret, sealSecret, secretAad, SecretIntegrityError, SECRET_IV_BYTES, SECRET_TAG_BYTES } from './secret-crypto.js';

const key = randomBytes(32);
const value = Buffer.from('hunter2-correct-horse');

test('seal then open round-trips, binary included; every seal uses a fresh IV', () => {
  const aad = secretAad('openfaas-fn', 'db-password');
  const sealed = sealSecret(key, aad, value);
  assert.equal(sealed.iv.length, SECRET_IV_BYTES);
  assert.equal(sealed.tag.length, SECRET_TAG_BYTES);
  assert.equal(sealed.ciphertext.length, value.length);
  assert.ok(!sealed.ciphertext.includes(value), 'the ciphertext is not the value');
  assert.deepEqual(openSecret(key, aad, sealed), value);
  const again = sealSecret(key, aad, value);
  assert.notDeepEqual(again.iv, sealed.iv);
  assert.notDeepEqual(again.ciphertext, sealed.ciphertext);
  const binary = Buffer.from([0, 255, 1, 254, 0, 10, 13]);
  assert.deepEqual(openSecret(key, aad, sealSecret(key, aad, binary)), binary);
  assert.deepEqual(openSecret(key, aad, sealSecret(key, aad, Buffer.alloc(0))), Buffer.alloc(0));
});

test('tampering with the ciphertext, the tag, the IV or the AAD is detected', () => {
  const aad = secretAad('openfaas-fn', 'db-password');
  const sealed = sealSecret(key, aad, value);
  const flip = (b: Buffer, i = 0) => {
    const c = Buffer.from(b);
    c[i] = c[i]! ^ 1;
    return c;
  };
  const rejects = (fn: () => unknown) => assert.throws(fn, (e: unknown) => e instanceof SecretIntegrityError && !String((e as Error).message).includes(value.toString()));
  rejects(() => openSecret(key, aad, { ...sealed, ciphertext: flip(sealed.ciphertext) }));
  rejects(() => openSecret(key, aad, { ...sealed, ciphertext: flip(sealed.ciphertext, sealed.ciphertext.length - 1) }));
  rejects(() => openSecret(key, aad, { ...sealed, ciphertext: sealed.ciphertext.subarray(1) }));
  rejects(() => openSecret(key, aad, { ...sealed, tag: flip(sealed.tag) }));
  rejects(() => openSecret(key, aad, { ...sealed, tag: sealed.tag.subarray(0, 12) }));
  rejects(() => openSecret(key, aad, { ...sealed, iv: flip(sealed.iv) }));
  rejects(() => openSecret(key, aad, { ...sealed, iv: Buffer.alloc(16) }));
  // A row moved to another name or namespace does not decrypt there.
  rejects(() => openSecret(key, secretAad('openfaas-fn', 'api-key'), sealed));
  rejects(() => openSecret(key, secretAad('dev', 'db-password'), sealed));
  // The AAD encoding is unambiguous: ("a", "b\0c") cannot pose as ("a\0b", "c").
  assert.notDeepEqual(secretAad('ab', 'c'), secretAad('a', 'bc'));
});

test('the wrong key is a clear SecretIntegrityError, not a crash; a short key is refused', () => {
  const aad = secretAad('openfaas-fn', 'x');
  const sealed = sealSecret(key, aad, value);
  assert.throws(() => openSecret(randomBytes(32), aad, sealed), (e: unknown) => e instanceof SecretIntegrityError && /wrong key/.test((e as Error).message));
  assert.throws(() => sealSecret(randomBytes(16), aad, value), /32 bytes/);
  assert.throws(() => openSecret(randomBytes(31), aad, sealed), /32 bytes/);
});
