import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, KssError, parseRate } from '../../core/index.js';
import { RateLimiter } from './rate-limiter.js';
import { TokenBucket } from './token-bucket.js';

test('a bucket allows a burst of its size, then spaces requests at the rate', () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ permits: 3, seconds: 1 }, clock);
  assert.deepEqual([bucket.take(), bucket.take(), bucket.take()], [0, 0, 0]);
  assert.equal(bucket.take(), 1, 'empty: retry after a second (rounded up)');
  clock.advance(333);
  assert.equal(bucket.take(), 1, 'one third of a second refills 0.999 tokens');
  clock.advance(1);
  assert.equal(bucket.take(), 0);
  clock.advance(10_000);
  assert.ok(bucket.idle);
  assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [0, 0, 0, 1], 'refills only up to capacity');
});

test('slow rates give a Retry-After in whole seconds', () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket(parseRate('2/m', 'x'), clock);
  bucket.take();
  bucket.take();
  assert.equal(bucket.take(), 30);
  clock.advance(29_000);
  assert.equal(bucket.take(), 1);
  clock.advance(1_000);
  assert.equal(bucket.take(), 0);
});

test('the limiter keys buckets, throws 429 with Retry-After, and resets by prefix', () => {
  const clock = new FakeClock();
  const limiter = new RateLimiter(clock);
  const rate = parseRate('1/s', 'x');
  limiter.take('fn:a|', rate, 'a');
  limiter.take('fn:b|', rate, 'b');
  assert.throws(() => limiter.take('fn:a|', rate, 'function "a"'), (e: unknown) => e instanceof KssError && e.code === 'KSS_RATE_LIMITED' && e.status === 429 && e.retryAfter === 1 && /function "a" is limited to 1 requests per second/.test(e.message));
  limiter.reset('fn:a|');
  limiter.take('fn:a|', rate, 'a');
  // A changed rate starts a new bucket.
  limiter.take('fn:b|', parseRate('5/s', 'x'), 'b');
});

test('rates parse per second, minute and hour; bad rates name the field', () => {
  assert.deepEqual(parseRate('100/s', 'f'), { permits: 100, seconds: 1 });
  assert.deepEqual(parseRate('6000/m', 'f'), { permits: 6000, seconds: 60 });
  assert.deepEqual(parseRate('10/h', 'f'), { permits: 10, seconds: 3600 });
  for (const bad of ['', '0/s', '10', '10/d', 'x/s', '-1/s', '1.5/s']) assert.throws(() => parseRate(bad, 'annotations.kss.ratelimit'), /annotations\.kss\.ratelimit/);
});

test('check refuses an empty bucket without taking from it', () => {
  const clock = new FakeClock();
  const limiter = new RateLimiter(clock);
  const rate = { permits: 2, seconds: 60 };
  limiter.check('k', rate, 'x');
  limiter.take('k', rate, 'x');
  limiter.check('k', rate, 'x');
  limiter.check('k', rate, 'x');
  limiter.take('k', rate, 'x');
  assert.throws(() => limiter.check('k', rate, 'x'), (err: KssError) => err.code === 'KSS_RATE_LIMITED' && err.retryAfter === 30);
  clock.advance(30_000);
  limiter.check('k', rate, 'x');
});
