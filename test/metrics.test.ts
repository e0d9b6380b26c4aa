/**
 * The gateway's /metrics: OpenFaaS names with `function_name = name.namespace`,
 * counts that match the requests sent, cold starts, and the per-function gauges.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { deployFunction, eventually, startTestPlatform, type TestPlatform } from './helpers.js';

let p: TestPlatform;

before(async () => {
  p = await startTestPlatform({ autoscaler: { tickMs: 200, windows: { stableMs: 3_000, panicMs: 600 } } });
  await deployFunction(p.client, 'counted', { 'handler.js': "export default async (req) => new URL(req.url).pathname === '/fail' ? new Response('no', { status: 503 }) : 'ok';" }, { labels: { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '1h' } });
});
after(async () => {
  await p.close();
});

function value(text: string, metric: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`) && !line.startsWith(`${metric} `)) continue;
    const inner = /\{([^}]*)\}/.exec(line)?.[1] ?? '';
    if (want.every((w) => inner.split(',').includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

test('invocation counts per function and status code, with OpenFaaS names, no auth needed to scrape', async () => {
  for (let i = 0; i < 7; i++) await (await fetch(`${p.url}/function/counted`)).text();
  for (let i = 0; i < 3; i++) await (await fetch(`${p.url}/function/counted/fail`)).text();
  const res = await fetch(`${p.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await res.text();
  const fn = { function_name: 'counted.openfaas-fn' };
  assert.equal(value(text, 'gateway_function_invocation_total', { ...fn, code: '200' }), 7);
  assert.equal(value(text, 'gateway_function_invocation_total', { ...fn, code: '503' }), 3);
  assert.equal(value(text, 'function_invocations_total', { ...fn, code: '200' }), 7);
  assert.equal(value(text, 'gateway_function_invocation_started', fn), 10);
  assert.equal(value(text, 'gateway_functions_seconds_count', { ...fn, code: '200' }), 7);
  assert.equal(value(text, 'gateway_service_ready_count', fn), 1);
  assert.equal(value(text, 'gateway_service_target', fn), 1);
  assert.equal(value(text, 'gateway_service_count', {}), 1);
  assert.equal(value(text, 'function_deployments_total', fn), 1);
  assert.match(text, /^process_resident_memory_bytes \d+/m);
  assert.doesNotMatch(text, /function_name="[^"]*\/[^"]*"/, 'no paths in labels');
});

test('cold starts are counted with their wait', async () => {
  await p.client.scale('counted', 0);
  await eventually(async () => (await p.client.getFunction('counted')).instances!.length === 0, 10_000, 'zero');
  await (await fetch(`${p.url}/function/counted`)).text();
  const text = await (await fetch(`${p.url}/metrics`)).text();
  assert.equal(value(text, 'function_cold_starts_total', { function_name: 'counted.openfaas-fn' }), 1);
  assert.equal(value(text, 'gateway_cold_start_wait_seconds_count', { function_name: 'counted.openfaas-fn' }), 1);
});

test('cost: busy seconds and GB-seconds per function, in the status API and the metrics', async () => {
  await deployFunction(p.client, 'priced', { 'handler.js': "module.exports = async () => { await new Promise((r) => setTimeout(r, 50)); return 'ok'; };" }, { limits: { memory: '256Mi' } });
  for (let i = 0; i < 4; i++) await (await fetch(`${p.url}/function/priced`)).text();
  const { cost } = await p.client.getFunction('priced');
  assert.equal(cost.invocations, 4);
  assert.ok(cost.busySeconds >= 0.2 && cost.busySeconds < 2, `busy ${cost.busySeconds}`);
  assert.equal(cost.memoryGiB, 0.25);
  assert.ok(Math.abs(cost.gbSeconds - cost.busySeconds * 0.25) < 1e-9);
  const text = await (await fetch(`${p.url}/metrics`)).text();
  const gb = Number(/^function_gibibyte_seconds_total\{function_name="priced\.openfaas-fn"\} ([\d.e-]+)$/m.exec(text)?.[1]);
  assert.ok(Math.abs(gb - cost.gbSeconds) < 1e-6, `metric ${gb} vs status ${cost.gbSeconds}`);
  assert.match(text, /^function_busy_seconds_total\{function_name="priced\.openfaas-fn"\} /m);
  // Without a memory limit a function is counted at 128 MiB.
  const unpriced = (await p.client.getFunction((await p.client.listFunctions())[0]!.name)).cost;
  assert.equal(typeof unpriced.gbSeconds, 'number');
});
