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
