import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compares two secrets in time independent of where they differ (and of their
 * lengths: both are hashed to 32 bytes first). Every password and token check goes
 * through here.
 */
export function constantTimeEqual(a: string | Buffer, b: string | Buffer): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

export function sha256(value: string | Buffer): Buffer {
  return createHash('sha256').update(value).digest();
}
