/**
 * The gateway's metrics as a real Prometheus (Debian's) sees them: it scrapes a running
 * gateway with the shipped scrape config (deploy/prometheus/prometheus.yml, pointed at
 * the test's port), and its query API finds the invocation counts the test caused, per
 * function and status code; `promtool check metrics` accepts the exposition, with lint
 * findings only for the names kept for OpenFaaS compatibility; and every query of the
 * shipped Grafana dashboard runs against that data.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../src/providers/local/ports.js';
import { which } from '../src/sandbox/index.js';
import { deployFunction, eventually, startTestPlatform, tempDir, type TestPlatform } from './helpers.js';

const CONFIG = fileURLToPath(new URL('../../deploy/prometheus/prometheus.yml', import.meta.url));
const DASHBOARD = fileURLToPath(new URL('../../deploy/grafana/kube-serverless-functions.json', import.meta.url));
const prometheusBin = which('prometheus');
const promtoolBin = which('promtool');
const skip = prometheusBin && promtoolBin ? false : 'Prometheus is not installed (apt-get install prometheus; .ci/run does it)';

/**
 * Lint findings promtool reports that are ours on purpose: OpenFaaS' metric names (kept
 * so its dashboards and alerts work) and prom-client's default process gauges.
 */
const KNOWN_LINT = [
  'gateway_function_invocation_started counter metrics should have "_total" suffix',
  'gateway_service_count non-histogram and non-summary metrics should not have "_count" suffix',
  'gateway_service_ready_count non-histogram and non-summary metrics should not have "_count" suffix',
  /^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/,
];

let p: TestPlatform;
let prom: ChildProcess | undefined;
let promUrl = '';

before(async () => {
  p = await startTestPlatform();
  await deployFunction(p.client, 'counted', { 'handler.js': "module.exports = async (event, context) => event.query.fail ? context.status(500).succeed('no') : 'ok';" });
  await deployFunction(p.client, 'other', { 'handler.js': "module.exports = async () => 'ok';" });
});
after(async () => {
  prom?.kill('SIGKILL');
  await p.close();
});

test('promtool accepts /metrics; its only lint findings are the OpenFaaS-compatible names', { skip }, async () => {
  const text = await (await fetch(`${p.url}/metrics`)).text();
  const r = spawnSync(promtoolBin!, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  // promtool exits 1 on a parse error, 3 on lint findings only.
  assert.notEqual(r.status, 1, r.stderr + r.stdout);
  const findings = (r.stdout + r.stderr).split('\n').map((l) => l.trim()).filter(Boolean);
  const unexpected = findings.filter((f) => !KNOWN_LINT.some((k) => (typeof k === 'string' ? f === k : k.test(f))));
  assert.deepEqual(unexpected, []);
});

test('a real Prometheus scraping with the shipped config counts the invocations per function and code', { skip }, async () => {
  for (let i = 0; i < 7; i++) await (await fetch(`${p.url}/function/counted`)).text();
  for (let i = 0; i < 3; i++) await (await fetch(`${p.url}/function/counted?fail=1`)).text();
  for (let i = 0; i < 4; i++) await (await fetch(`${p.url}/function/other`)).text();

  // The shipped config, with the test gateway's port and a fast scrape.
  const dir = tempDir('kss-prom-');
  const config = readFileSync(CONFIG, 'utf8')
    .replace("'127.0.0.1:8080'", `'127.0.0.1:${p.port}'`)
    .replace('http://127.0.0.1:8080/', `http://127.0.0.1:${p.port}/`)
    .replace(/scrape_interval: 15s/, 'scrape_interval: 1s')
    .replace(/refresh_interval: 15s/, 'refresh_interval: 1s');
  assert.ok(config.includes(`127.0.0.1:${p.port}`));
  writeFileSync(join(dir, 'prometheus.yml'), config);
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  prom = spawn(prometheusBin!, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });

  const query = async (q: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await res.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    assert.equal(body.status, 'success');
    return body.data.result;
  };
  await eventually(async () => {
    try {
      return (await query('up{job="kube-serverless-gateway"}'))[0]?.value[1] === '1';
    } catch {
      return false;
    }
  }, 30_000, 'Prometheus to scrape the gateway');
  const count = async (fn: string, code: string) => Number((await query(`gateway_function_invocation_total{function_name="${fn}",code="${code}"}`))[0]?.value[1] ?? -1);
  await eventually(async () => (await count('counted.openfaas-fn', '200')) === 7, 15_000, 'the counts');
  assert.equal(await count('counted.openfaas-fn', '500'), 3);
  assert.equal(await count('other.openfaas-fn', '200'), 4);
  assert.equal(Number((await query('sum(function_invocations_total{function_name="counted.openfaas-fn"})'))[0]!.value[1]), 10);
  assert.equal(Number((await query('gateway_service_ready_count{function_name="other.openfaas-fn"}'))[0]!.value[1]), 1);

  // The replicas' own metrics, found through the gateway's service discovery.
  const runtimeCount = async () => Number((await query('sum(runtime_requests_total{job="kube-serverless-replicas",function_name="counted.openfaas-fn"})'))[0]?.value[1] ?? -1);
  await eventually(async () => (await runtimeCount()) === 10, 20_000, 'the replica of "counted" to be discovered and scraped');
  const targets = (await (await fetch(`${p.url}/api/v1/metrics/targets`)).json()) as Array<{ targets: string[]; labels: Record<string, string> }>;
  assert.deepEqual(targets.map((t) => t.labels.function_name).sort(), ['counted.openfaas-fn', 'other.openfaas-fn']);
  assert.ok(targets.every((t) => /^127\.0\.0\.1:\d+$/.test(t.targets[0]!) && t.labels.__metrics_path__ === '/metrics'));
});

test('every PromQL expression of the shipped Grafana dashboard is accepted by Prometheus and finds data', { skip }, async () => {
  assert.ok(promUrl, 'runs after the scrape test, against the same Prometheus');
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
  assert.ok(dashboard.panels.length >= 8);
  // Some series need events the scrape test did not cause (cold starts, async calls, triggers): those may be empty, never invalid.
  const mayBeEmpty = /cold_start|async_calls|queue_depth|trigger|error rate/i;
  for (const panel of dashboard.panels) {
    for (const { expr } of panel.targets) {
      // Grafana's "All" for $function is `.*`.
      const q = expr.replaceAll('$function', '.*');
      const run = async () => {
        const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
        const body = (await res.json()) as { status: string; error?: string; data?: { result: unknown[] } };
        assert.equal(body.status, 'success', `${panel.title}: ${body.error}`);
        return body.data!.result.length;
      };
      // rate() needs two scrapes inside its window: wait for them (1 s scrapes).
      if (!mayBeEmpty.test(expr) && !mayBeEmpty.test(panel.title)) await eventually(async () => (await run()) > 0, 15_000, `data for "${panel.title}": ${q}`);
      else await run();
    }
  }
});
