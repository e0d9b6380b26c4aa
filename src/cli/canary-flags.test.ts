import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canaryAnnotation } from './canary-flags.js';
import { CliError, EXIT_USAGE } from './output.js';

function usage(flags: Parameters<typeof canaryAnnotation>[0], message: RegExp): void {
  assert.throws(() => canaryAnnotation(flags), (e: unknown) => e instanceof CliError && e.exitCode === EXIT_USAGE && message.test(e.message), JSON.stringify(flags));
}

test('no --canary, no annotation', () => {
  assert.equal(canaryAnnotation({}), undefined);
});

test('--canary alone: the first share, with the defaults (20%/1m, 5% errors, no p99 limit)', () => {
  const a = canaryAnnotation({ canary: '10%' })!;
  assert.equal(a.key, 'kss.canary');
  assert.equal(a.value, '10%');
  assert.deepEqual(a.plan, { initialPercent: 10, stepPercent: 20, intervalSeconds: 60, maxErrorRate: 0.05, maxP99Seconds: null });
  assert.equal(canaryAnnotation({ canary: '25' })!.value, '25%', 'a bare number is a percentage');
});

test('every flag goes into the annotation in the plan syntax the gateway parses', () => {
  const a = canaryAnnotation({ canary: '5%', step: '25%/30s', maxErrorRate: '0.5%', maxP99: '500ms' })!;
  assert.equal(a.value, '5%, step=25%/30s, max-error-rate=0.5%, max-p99=500ms');
  assert.deepEqual(a.plan, { initialPercent: 5, stepPercent: 25, intervalSeconds: 30, maxErrorRate: 0.005, maxP99Seconds: 0.5 });
  assert.equal(canaryAnnotation({ canary: '10%', maxP99: '1.5s' })!.plan.maxP99Seconds, 1.5);
  assert.equal(canaryAnnotation({ canary: '10%', step: '100%/2m' })!.plan.intervalSeconds, 120);
  assert.equal(canaryAnnotation({ canary: '10%', maxErrorRate: '0%' })!.plan.maxErrorRate, 0);
});

test('the other flags without --canary are a usage error naming them', () => {
  usage({ step: '20%/1m' }, /--step applies only to a canary deploy: add --canary 10%/);
  usage({ maxErrorRate: '5%', maxP99: '500ms' }, /--max-error-rate, --max-p99 apply only to a canary deploy/);
});

test('malformed flags say what the value should look like', () => {
  usage({ canary: '0%' }, /--canary: "0%" is not the new revision's first share: a whole percentage from 1% to 99%/);
  usage({ canary: '100%' }, /from 1% to 99%/);
  usage({ canary: '10.5%' }, /whole percentage/);
  usage({ canary: 'ten' }, /--canary: "ten"/);
  usage({ canary: '10%, step=20%/1m' }, /give the other settings as --step, --max-error-rate and --max-p99/);
  usage({ canary: '10%', step: '20%' }, /--step: "20%" should be the share to add and how often, like 20%\/1m/);
  usage({ canary: '10%', step: '0%/1m' }, /--step: "0%\/1m"/);
  usage({ canary: '10%', step: '120%/1m' }, /--step/);
  usage({ canary: '10%', step: '20%/soon' }, /--step: "20%\/soon"/);
  usage({ canary: '10%', step: '20%/1m/2m' }, /--step/);
  usage({ canary: '10%', step: '20%/500ms' }, /--step: the interval 500ms is too short; steps last at least 1s/);
  usage({ canary: '10%', maxErrorRate: '5' }, /--max-error-rate: "5" should be a percentage from 0% to 100%, like 5%/);
  usage({ canary: '10%', maxErrorRate: '101%' }, /--max-error-rate/);
  usage({ canary: '10%', maxP99: 'fast' }, /--max-p99: "fast" should be a latency such as 500ms or 1.5s/);
  usage({ canary: '10%', maxP99: '500' }, /--max-p99: "500"/);
  usage({ canary: '10%', maxP99: '0ms' }, /--max-p99: the limit must be above zero/);
});
