import type { Clock } from '../../core/index.js';
import type { Rate } from '../../core/index.js';

/**
 * A token bucket: holds up to `rate.permits` tokens and refills continuously at
 * `permits / seconds`. A full bucket allows a burst of one window's worth; after
 * that, requests are spaced at the rate.
 */
export class TokenBucket {
  readonly #capacity: number;
  readonly #perMs: number;
  readonly #clock: Clock;
  #tokens: number;
  #at: number;

  constructor(rate: Rate, clock: Clock) {
    this.#capacity = rate.permits;
    this.#perMs = rate.permits / (rate.seconds * 1000);
    this.#clock = clock;
    this.#tokens = rate.permits;
    this.#at = clock.now();
  }

  /** Takes one token. Returns 0 when allowed, else the seconds until one is available (≥ 1, for Retry-After). */
  take(): number {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#at) * this.#perMs);
    this.#at = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - this.#tokens) / this.#perMs / 1000));
  }

  /** Like {@link take} without taking: 0 when a token is there, else the seconds until one is. */
  wait(): number {
    const tokens = Math.min(this.#capacity, this.#tokens + (this.#clock.now() - this.#at) * this.#perMs);
    return tokens >= 1 ? 0 : Math.max(1, Math.ceil((1 - tokens) / this.#perMs / 1000));
  }

  /** True when the bucket has refilled completely (nothing to remember about its client). */
  get idle(): boolean {
    return Math.min(this.#capacity, this.#tokens + (this.#clock.now() - this.#at) * this.#perMs) >= this.#capacity;
  }
}
