import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runAsFromEnv } from './identity.js';

test('KSS_RUN_AS and KSS_RUN_GROUPS: parsed, then removed from the environment', () => {
  const env: NodeJS.ProcessEnv = { KSS_RUN_AS: '600001:600001', KSS_RUN_GROUPS: '590000,590003', OTHER: 'x' };
  assert.deepEqual(runAsFromEnv(env), { uid: 600001, gid: 600001, groups: [590000, 590003] });
  assert.deepEqual(env, { OTHER: 'x' }, 'the function never sees either');
  assert.deepEqual(runAsFromEnv({ KSS_RUN_AS: '7:8' }), { uid: 7, gid: 8 }, 'no volumes: no supplementary groups');
  assert.deepEqual(runAsFromEnv({ KSS_RUN_AS: '7:8', KSS_RUN_GROUPS: '' }), { uid: 7, gid: 8 });
  const stray: NodeJS.ProcessEnv = { KSS_RUN_GROUPS: '1' };
  assert.equal(runAsFromEnv(stray), undefined);
  assert.deepEqual(stray, {}, 'groups without a uid are dropped too');
});

test('malformed values are refused (the runtime then exits rather than run with the wrong ids)', () => {
  for (const groups of ['a', '1,', ',1', '1;2', '1 2', '-1']) {
    assert.throws(() => runAsFromEnv({ KSS_RUN_AS: '1:1', KSS_RUN_GROUPS: groups }), /KSS_RUN_GROUPS must be gids separated by commas/);
  }
  assert.throws(() => runAsFromEnv({ KSS_RUN_AS: '1' }), /KSS_RUN_AS must be uid:gid/);
});
