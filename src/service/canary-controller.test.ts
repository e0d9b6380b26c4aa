import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { FakeClock, type CanaryState, type FunctionRef } from '../core/index.js';
import type { Routing } from '../store/index.js';
import { CanaryController, decideCanary } from './canary-controller.js';

const base: CanaryState = { revision: 'r4', from: 'r3', percent: 10, initialPercent: 10, stepPercent: 30, intervalSeconds: 60, maxErrorRate: 0.05, maxP99Seconds: 0.5, nextStepAt: 0 };
const window = (requests: number, errors: number, seconds: number[] = Array(requests).fill(0.01)) => ({ requests, errors, seconds });

test('decideCanary: hold without traffic, roll back over the error rate or the p99, else step up to done', () => {
  const hold = decideCanary(base, window(0, 0), 1000);
  assert.equal(hold.action, 'hold');
  assert.equal(hold.routing.canary?.nextStepAt, 61_000);
  assert.deepEqual(hold.routing.traffic, [{ revision: 'r4', percent: 10 }, { revision: 'r3', percent: 90 }]);
  const errors = decideCanary(base, window(100, 6), 0);
  assert.equal(errors.action, 'rollback');
  assert.deepEqual(errors.routing, { traffic: [{ revision: 'r3', percent: 100 }], canary: null });
  assert.match(errors.event, /error rate 6\.0% > 5\.0%; error rate 6\.0% \(6 of 100 requests in 60s\)/);
  // Exactly at the limit passes (the limit is "at most").
  assert.equal(decideCanary(base, window(100, 5), 0).action, 'advance');
  const slow = decideCanary(base, window(100, 0, [...Array(98).fill(0.01), 0.9, 0.9]), 0);
  assert.equal(slow.action, 'rollback');
  assert.match(slow.event, /p99 900 ms > 500 ms/);
  const step = decideCanary(base, window(50, 0), 5000);
  assert.equal(step.action, 'advance');
  assert.deepEqual(step.routing.traffic, [{ revision: 'r4', percent: 40 }, { revision: 'r3', percent: 60 }]);
  assert.equal(step.routing.canary?.nextStepAt, 65_000);
  const done = decideCanary({ ...base, percent: 70 }, window(50, 0), 0);
  assert.equal(done.action, 'complete');
  assert.deepEqual(done.routing, { traffic: [{ revision: 'r4', percent: 100 }], canary: null });
});

test('the controller judges only the canary deployment’s requests in each step, on its clock', async () => {
  const clock = new FakeClock(0);
  const ref: FunctionRef = { name: 'fn', namespace: 'ns' };
  let canary: CanaryState | null = { ...base, nextStepAt: 60_000 };
  const applied: { routing: Routing; event: string }[] = [];
  const controller = new CanaryController({
    clock,
    logger: pino({ level: 'silent' }),
    target: {
      canaries: () => (canary ? [{ ref, canary }] : []),
      applyCanary: async (_ref, _expected, routing, event) => {
        applied.push({ routing, event });
        canary = routing.canary;
        return true;
      },
    },
  });
  // The old revision's failures and plain functions do not count against the canary.
  for (let i = 0; i < 20; i++) controller.finished({ name: 'fn--r3', namespace: 'ns' }, 500, 0.01);
  for (let i = 0; i < 20; i++) controller.finished({ name: 'other', namespace: 'ns' }, 500, 0.01);
  for (let i = 0; i < 20; i++) controller.finished({ name: 'fn--r4', namespace: 'ns' }, 200, 0.01);
  await controller.tick();
  assert.equal(applied.length, 0, 'not due yet');
  clock.advance(60_000);
  await controller.tick();
  assert.equal(applied.length, 1);
  assert.match(applied[0]!.event, /canary r4: 10% → 40%.*0 of 20 requests/);
  // The next step starts from an empty window.
  clock.advance(60_000);
  await controller.tick();
  assert.match(applied[1]!.event, /no requests reached it/);
});
