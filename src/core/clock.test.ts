import { test } from 'node:test';
import assert from 'node:assert/strict';
import { every } from './clock.js';
import { FakeClock } from './fake-clock.js';

test('every: one round per period, the next armed only after the previous settled; stop ends it', async () => {
  const clock = new FakeClock(0);
  const rounds: number[] = [];
  let release: (() => void) | undefined;
  const stop = every(clock, 100, async () => {
    rounds.push(clock.now());
    // The second round is slow: it holds until released.
    if (rounds.length === 2) await new Promise<void>((r) => (release = r));
  });
  assert.deepEqual(rounds, [], 'nothing before the first period');
  clock.advance(100);
  await Promise.resolve();
  await new Promise((r) => setImmediate(r));
  clock.advance(100);
  assert.deepEqual(rounds, [100, 200]);
  // While round 2 runs, time passes: no round overlaps it.
  clock.advance(500);
  assert.deepEqual(rounds, [100, 200]);
  release!();
  await new Promise((r) => setImmediate(r));
  clock.advance(100);
  assert.deepEqual(rounds, [100, 200, 800], 'the next round a period after the slow one settled');
  stop();
  await new Promise((r) => setImmediate(r));
  clock.advance(1_000);
  assert.equal(rounds.length, 3, 'no round after stop');
});
