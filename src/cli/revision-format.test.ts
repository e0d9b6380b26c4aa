import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RevisionsView } from '../client/index.js';
import { ago, canaryLine, revisionTable, seconds, shortDigest, splitSummary, splitText } from './revision-format.js';

const NOW = Date.parse('2026-12-01T12:00:00.000Z');

const VIEW: RevisionsView = {
  function: 'hello',
  namespace: 'openfaas-fn',
  latestRevision: 'r4',
  traffic: [
    { revision: 'r4', percent: 10 },
    { revision: 'r3', percent: 90 },
  ],
  canary: { revision: 'r4', from: 'r3', percent: 10, stepPercent: 20, intervalSeconds: 60, maxErrorRate: 0.05, maxP99Seconds: 0.5, nextStepAt: '2026-12-01T12:00:42.000Z' },
  revisions: [
    { revision: 'r4', number: 4, createdAt: '2026-12-01T11:59:00.000Z', createdBy: 'admin', code: 'sha256:3f2a9c1e4b5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7', runtime: 'node', pinned: false, percent: 10, replicas: 1, availableReplicas: 1, invocationCount: 12 },
    { revision: 'r3', number: 3, createdAt: '2026-12-01T09:00:00.000Z', createdBy: 'ci', code: 'sha256:aa', runtime: 'node', pinned: true, percent: 90, replicas: 2, availableReplicas: 2, invocationCount: 400 },
    { revision: 'r2', number: 2, createdAt: '2026-11-28T12:00:00.000Z', createdBy: 'admin', code: null, runtime: 'exec', pinned: false, percent: 0, replicas: 0, availableReplicas: 0, invocationCount: 0 },
  ],
};

test('the revisions table: latest marked, short digests, traffic only for revisions in the split', () => {
  const lines = revisionTable(VIEW, NOW).split('\n');
  assert.match(lines[0]!, /^REVISION\s+CREATED\s+BY\s+CODE\s+TRAFFIC\s+REPLICAS\s+PINNED$/);
  assert.match(lines[1]!, /^r4 \(latest\)\s+1m ago\s+admin\s+3f2a9c1e4b5d\s+10%\s+1\/1\s+-$/);
  assert.match(lines[2]!, /^r3\s+3h ago\s+ci\s+aa\s+90%\s+2\/2\s+yes$/);
  assert.match(lines[3]!, /^r2\s+3d ago\s+admin\s+-\s+-\s+0\/0\s+-$/);
});

test('the split and the canary read as sentences', () => {
  assert.equal(splitText(VIEW.traffic), 'r4 10%, r3 90%');
  assert.equal(
    canaryLine(VIEW.canary!, 'hello', NOW),
    'Canary: r4 has 10% (r3 the rest); +20% in 42s if its error rate stays ≤ 5% and p99 ≤ 500ms, else all back to r3. Steps of 20% every 1m; `kss logs hello` shows each decision.',
  );
  const last = canaryLine({ ...VIEW.canary!, percent: 90, maxP99Seconds: null, nextStepAt: '2026-12-01T11:59:59.000Z' }, 'hello', NOW);
  assert.match(last, /r4 has 90% \(r3 the rest\); to 100% at the next check if its error rate stays ≤ 5%, else/);
  assert.deepEqual(splitSummary({ ...VIEW, canary: null }, NOW), ['Traffic: r4 10%, r3 90%']);
  assert.equal(splitSummary(VIEW, NOW).length, 2);
});

test('small formatters', () => {
  assert.equal(shortDigest(null), '-');
  assert.equal(shortDigest('sha256:0123456789abcdef'), '0123456789ab');
  assert.deepEqual([ago('2026-12-01T12:00:00.300Z', NOW), ago('2026-12-01T11:59:58.000Z', NOW), ago('2026-12-01T12:00:03.000Z', NOW)], ['now', '2s ago', 'in 3s']);
  assert.deepEqual([seconds(30), seconds(60), seconds(90), seconds(3600), seconds(0.5)], ['30s', '1m', '90s', '1h', '0.5s']);
});
