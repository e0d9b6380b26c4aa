import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KssError } from './errors.js';
import { deploymentRef, deploymentSpec, functionOf, looksLikeDeployment, parseCanaryPlan, parseTraffic, type Revision } from './revision.js';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof KssError);
    return { code: err.code, message: err.message };
  }
  assert.fail('expected an error');
};

test('parseTraffic accepts a map or a list, sorts newest first, and refuses every malformed split with KSS_INVALID_TRAFFIC', () => {
  assert.deepEqual(parseTraffic({ r1: 90, r10: 10 }), [{ revision: 'r10', percent: 10 }, { revision: 'r1', percent: 90 }]);
  assert.deepEqual(parseTraffic([{ revision: 'r2', percent: 100 }]), [{ revision: 'r2', percent: 100 }]);
  assert.deepEqual(parseTraffic({ r3: 100, r4: 0 }), [{ revision: 'r4', percent: 0 }, { revision: 'r3', percent: 100 }]);
  for (const bad of [{}, [], null, 'r1=100', 7, { r1: 99 }, { r1: 101 }, { r1: '100' }, { r1: 50.5, r2: 49.5 }, { r0: 100 }, { R1: 100 }, { 'r1 ': 100 }, [{ revision: 'r1', percent: 50 }, { revision: 'r1', percent: 50 }], [null]]) {
    assert.equal(code(() => parseTraffic(bad))!.code, 'KSS_INVALID_TRAFFIC', JSON.stringify(bad));
  }
  assert.match(code(() => parseTraffic({ r1: 60, r2: 30 }))!.message, /add up to 90; they must add up to 100/);
});

test('parseCanaryPlan: defaults, every option, and a message naming the bad part', () => {
  assert.deepEqual(parseCanaryPlan('10%'), { initialPercent: 10, stepPercent: 20, intervalSeconds: 60, maxErrorRate: 0.05, maxP99Seconds: null });
  assert.deepEqual(parseCanaryPlan('5%, step=25%/30s, max-error-rate=1.5%, max-p99=250ms'), { initialPercent: 5, stepPercent: 25, intervalSeconds: 30, maxErrorRate: 0.015, maxP99Seconds: 0.25 });
  for (const [bad, part] of [['', 'first share'], ['100%', 'first share'], ['0%', 'first share'], ['10', 'first share'], ['10%, step=20%', 'interval'], ['10%, step=20%/0s', 'at least 1s'], ['10%, step=x/1m', 'step'], ['10%, max-error-rate=200%', 'max-error-rate'], ['10%, max-p99=fast', 'max-p99'], ['10%, speed=2', 'unknown option']] as const) {
    const e = code(() => parseCanaryPlan(bad))!;
    assert.equal(e.code, 'KSS_INVALID_SPEC');
    assert.ok(e.message.includes(part), `${bad}: ${e.message}`);
  }
});

test('a revision runs as its own deployment NAME--rN, labelled, and the name maps back', () => {
  const rev: Revision = { revision: 'r3', number: 3, spec: { service: 'hello', namespace: 'fns', runtime: 'node', labels: { a: 'b' } } as unknown as Revision['spec'], createdAt: '', createdBy: 'admin', pinned: false };
  const spec = deploymentSpec(rev);
  assert.equal(spec.service, 'hello--r3');
  assert.deepEqual(spec.labels, { a: 'b', 'kss.function': 'hello', 'kss.revision': 'r3' });
  assert.deepEqual(deploymentRef({ name: 'hello', namespace: 'fns' }, 'r3'), { name: 'hello--r3', namespace: 'fns' });
  assert.deepEqual(functionOf({ name: 'hello--r3', namespace: 'fns' }), { ref: { name: 'hello', namespace: 'fns' }, revision: 'r3' });
  assert.deepEqual(functionOf({ name: 'a--b', namespace: 'fns' }), { ref: { name: 'a--b', namespace: 'fns' } });
  assert.ok(looksLikeDeployment('x--r12'));
  assert.ok(!looksLikeDeployment('x-r12'));
});
