import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Histogram, Registry } from 'prom-client';
import { PlainCounter, PlainHistogram } from './plain-metrics.js';

const BUCKETS = [0.001, 0.01, 0.1, 1, 10];

test('plain counters and histograms render exactly as prom-client renders the same observations', async () => {
  const ours = new Registry();
  const theirs = new Registry();
  const c1 = new PlainCounter('x_total', 'help x');
  const h1 = new PlainHistogram('x_seconds', 'help s', BUCKETS);
  ours.registerMetric(c1 as never);
  ours.registerMetric(h1 as never);
  const c2 = new Counter({ name: 'x_total', help: 'help x', labelNames: ['function_name', 'code'], registers: [theirs] });
  const h2 = new Histogram({ name: 'x_seconds', help: 'help s', labelNames: ['function_name', 'code'], buckets: BUCKETS, registers: [theirs] });
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < 2000; i++) {
    const labels = { function_name: `f${i % 3}.openfaas-fn`, code: i % 7 === 0 ? '500' : '200' };
    // Values on bucket bounds included: `le` is inclusive in both.
    const v = i % 11 === 0 ? BUCKETS[i % BUCKETS.length]! : rand() * 20;
    c1.cell(labels).value++;
    h1.cell(labels).observe(v);
    c2.inc(labels);
    h2.observe(labels, v);
  }
  const sortLines = (s: string) => s.split('\n').sort().join('\n');
  // Series order may differ (first-seen vs hash order); the set of lines must not, sums aside (float addition order).
  const strip = (s: string) => sortLines(s.replace(/^(x_seconds_sum\{[^}]*\}) (.*)$/gm, (_m, k: string, v: string) => `${k} ${Number(v).toFixed(6)}`));
  assert.equal(strip(await ours.metrics()), strip(await theirs.metrics()));
});

test('a cell is the same object for the same labels in any order', () => {
  const c = new PlainCounter('y_total', 'h');
  const a = c.cell({ function_name: 'f', code: '200' });
  a.value += 2;
  assert.equal(c.cell({ code: '200', function_name: 'f' }), a);
  assert.deepEqual(c.get().values, [{ labels: { function_name: 'f', code: '200' }, value: 2 }]);
});
