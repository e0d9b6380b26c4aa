/**
 * Keyed token buckets: one per function, one per (function, client), one per
 * client for the whole gateway. Buckets that refilled completely are forgotten,
 * and the number kept is capped, so many clients cannot grow memory without bound.
 */
import { KssError, type Clock } from '../../core/index.js';
import type { Rate } from '../../core/index.js';
import { TokenBucket } from './token-bucket.js';

/** Most buckets kept at once; beyond it the oldest are dropped (they restart full). */
const MAX_BUCKETS = 50_000;

export class RateLimiter {
  readonly #buckets = new Map<string, { bucket: TokenBucket; rate: Rate }>();
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Takes a token from the bucket `key` (created at `rate`); throws 429 with Retry-After when empty. */
  take(key: string, rate: Rate, what: string): void {
    let entry = this.#buckets.get(key);
    if (!entry || entry.rate.permits !== rate.permits || entry.rate.seconds !== rate.seconds) {
      if (this.#buckets.size >= MAX_BUCKETS) this.#evict();
      entry = { bucket: new TokenBucket(rate, this.#clock), rate };
      this.#buckets.set(key, entry);
    }
    const wait = entry.bucket.take();
    if (wait > 0) {
      throw new KssError('KSS_RATE_LIMITED', `${what} is limited to ${rate.permits} requests per ${rate.seconds === 1 ? 'second' : `${rate.seconds}s`}; retry in ${wait}s`, { retryAfter: wait });
    }
  }

  /**
   * Throws the same 429 as {@link take} when bucket `key` is empty, without taking from
   * it: for limits that count only some outcomes (failed logins), checked before trying.
   */
  check(key: string, rate: Rate, what: string): void {
    const wait = this.#buckets.get(key)?.bucket.wait() ?? 0;
    if (wait > 0) {
      throw new KssError('KSS_RATE_LIMITED', `${what} is limited to ${rate.permits} per ${rate.seconds === 1 ? 'second' : `${rate.seconds}s`}; retry in ${wait}s`, { retryAfter: wait });
    }
  }

  /** Forgets every bucket whose key starts with `prefix` (a function was updated or removed). */
  reset(prefix: string): void {
    for (const key of this.#buckets.keys()) if (key.startsWith(prefix)) this.#buckets.delete(key);
  }

  get size(): number {
    return this.#buckets.size;
  }

  #evict(): void {
    for (const [key, { bucket }] of this.#buckets) if (bucket.idle) this.#buckets.delete(key);
    // Still full: drop the oldest tenth.
    let drop = this.#buckets.size >= MAX_BUCKETS ? Math.ceil(MAX_BUCKETS / 10) : 0;
    for (const key of this.#buckets.keys()) {
      if (drop-- <= 0) break;
      this.#buckets.delete(key);
    }
  }
}
