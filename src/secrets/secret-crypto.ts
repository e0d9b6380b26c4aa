/**
 * Encryption at rest for secret values: AES-256-GCM (node:crypto), a fresh random
 * 12-byte IV for every write, a 16-byte tag, and the row's namespace and name as
 * additional authenticated data, so a ciphertext moved to another row (or another
 * namespace) fails to decrypt instead of handing one function another's secret.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** AES-256: a 32-byte key. */
export const SECRET_KEY_BYTES = 32;
/** GCM's recommended nonce size. */
export const SECRET_IV_BYTES = 12;
/** Full-length GCM tag. */
export const SECRET_TAG_BYTES = 16;

const ALGORITHM = 'aes-256-gcm';

/** What is stored for one value: never the value itself. */
export interface SealedSecret {
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

/** A stored value that does not decrypt: wrong key, or the row was altered or moved. */
export class SecretIntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretIntegrityError';
  }
}

/**
 * The additional authenticated data binding a ciphertext to its row. Names and
 * namespaces cannot hold NUL, so the encoding is unambiguous; the version prefix
 * leaves room for a different scheme later.
 */
export function secretAad(namespace: string, name: string): Buffer {
  return Buffer.from(`kss-secret-v1\0${namespace}\0${name}`, 'utf8');
}

/** Encrypts `plaintext` under `key` with a new random IV. */
export function sealSecret(key: Buffer, aad: Buffer, plaintext: Uint8Array): SealedSecret {
  assertKey(key);
  const iv = randomBytes(SECRET_IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: SECRET_TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, tag: cipher.getAuthTag(), ciphertext };
}

/**
 * Decrypts and authenticates a sealed value.
 *
 * @throws SecretIntegrityError when the key is not the one it was sealed with, or the
 *   IV, tag, ciphertext or AAD differ from what was sealed. The message holds no value.
 */
export function openSecret(key: Buffer, aad: Buffer, sealed: SealedSecret): Buffer {
  assertKey(key);
  if (sealed.iv.length !== SECRET_IV_BYTES || sealed.tag.length !== SECRET_TAG_BYTES) {
    throw new SecretIntegrityError('stored IV or tag has the wrong length');
  }
  const decipher = createDecipheriv(ALGORITHM, key, sealed.iv, { authTagLength: SECRET_TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.tag);
  try {
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]);
  } catch {
    throw new SecretIntegrityError('authentication failed: wrong key, or the stored value was altered');
  }
}

function assertKey(key: Buffer): void {
  if (key.length !== SECRET_KEY_BYTES) throw new Error(`a secret key is ${SECRET_KEY_BYTES} bytes, got ${key.length}`);
}
