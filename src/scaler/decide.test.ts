import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scaleSettings } from '../core/index.js';
import { decide, type Sample } from './decide.js';

const T0 = Date.UTC(2026, 0, 1);

/** Runs the decision every 2 s over a load pattern (concurrency per tick), feeding back its own answers. */
function simulate(pattern: number[], labels: Record<string, string> = {}, start = { current: 1, lastRequestAt: T0 }): number[] {
  const settings = scaleSettings({ labels });
  const samples: Sample[] = [];
  let current = start.current;
  let panicUntil = 0;
  let lastRequestAt = start.lastRequestAt;
  const out: number[] = [];
  pattern.forEach((concurrency, i) => {
    const now = T0 + (i + 1) * 2000;
    samples.push({ at: now, concurrency });
    if (concurrency > 0) lastRequestAt = now;
    const d = decide({ now, samples, settings, ready: current, current, inFlight: Math.ceil(concurrency), lastRequestAt, panicUntil });
    panicUntil = d.panicUntil;
    current = d.desired;
    out.push(current);
  });
  return out;
}

const repeat = (value: number, times: number) => Array.from({ length: times }, () => value);

test('steady load settles at ceil(concurrency / target)', () => {
  assert.equal(simulate(repeat(25, 40)).at(-1), 3);
  assert.equal(simulate(repeat(25, 40), { 'com.openfaas.scale.target': '5' }).at(-1), 5);
  assert.equal(simulate(repeat(0.3, 40)).at(-1), 1);
});

test('no load keeps min replicas; never above max', () => {
  assert.deepEqual(simulate(repeat(0, 5), { 'com.openfaas.scale.min': '2' }), [2, 2, 2, 2, 2]);
  assert.equal(simulate(repeat(500, 40), { 'com.openfaas.scale.max': '4' }).at(-1), 4);
});

test('a burst panics: scales up at once, and does not scale down until a stable window has passed', () => {
  const out = simulate([...repeat(1, 5), ...repeat(80, 3), ...repeat(1, 40)]);
  assert.equal(out[4], 1);
  // The 6 s panic window fills within three ticks: 3, then 6, then 8 replicas.
  assert.ok(out[5]! > 1, `panic scale-up starts at once: ${out.join(',')}`);
  assert.ok(out[7]! >= 8, `reaches the burst's need within the panic window: ${out.join(',')}`);
  // During the 60 s after the burst (30 ticks), no scale-down.
  const peak = out[7]!;
  assert.ok(out.slice(7, 7 + 28).every((n) => n >= peak), out.join(','));
  assert.equal(out.at(-1), 1, 'back down after the windows pass');
});

test('flapping input does not flap the replica count', () => {
  const out = simulate(repeat(0, 10).flatMap(() => [0, 40]).concat(...repeat(0, 0)).slice(0, 20).concat(...Array.from({ length: 40 }, (_, i) => (i % 2 ? 40 : 0))));
  const tail = out.slice(-20);
  const changes = tail.filter((n, i) => i > 0 && n !== tail[i - 1]).length;
  assert.ok(changes <= 1, `changes in the last 20 ticks: ${changes} (${tail.join(',')})`);
});

test('scale to zero only after the zero duration of idleness, and only when allowed', () => {
  const zero = { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '30s' };
  const out = simulate([5, ...repeat(0, 30)], zero);
  const firstZero = out.indexOf(0);
  assert.ok(firstZero > 0, out.join(','));
  // The last request was at tick 0 (2 s); zero comes 30 s later, at tick 15.
  assert.equal(firstZero, 15);
  assert.deepEqual(simulate(repeat(0, 40), {}).at(-1), 1, 'not allowed without the label');
  assert.equal(simulate(repeat(0, 40), { 'com.openfaas.scale.min': '0', 'com.openfaas.scale.zero-duration': '10s' }).at(-1), 0, 'min 0 allows zero');
});

test('a request waiting at zero brings one replica', () => {
  const settings = scaleSettings({ labels: { 'com.openfaas.scale.zero': 'true' } });
  const d = decide({ now: T0, samples: [], settings, ready: 0, current: 0, inFlight: 1, lastRequestAt: T0, panicUntil: 0 });
  assert.equal(d.desired, 1);
  const idle = decide({ now: T0 + 3_600_000, samples: [], settings, ready: 0, current: 0, inFlight: 0, lastRequestAt: T0, panicUntil: 0 });
  assert.equal(idle.desired, 0);
});
