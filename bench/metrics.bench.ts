/**
 * What counting costs (issue #8): warm throughput through the gateway with the
 * Prometheus counters on the invoke path (the default) and off (`kss up --no-metrics`),
 * in one run, same function, one replica, wrk at 1 and 50 connections. Each setting is
 * measured twice, alternating, to average out the machine's drift.
 * Target: metrics cost ≤ 3% of throughput.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KssClient } from '../src/client/index.js';
import { freePort } from '../src/providers/local/ports.js';
import { adminFetch, machine, uploadFunction, validateLoad, writeResultsFile } from './lib/bench-common.js';
import { startGatewayProcess } from './lib/gateway-process.js';
import { findLoadGenerator, runLoad } from './lib/loadgen.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KSS = join(ROOT, 'bin', 'kss.js');
const SECONDS = Number(process.env.KSS_BENCH_SECONDS ?? 6);

async function measure(metrics: boolean, connections: number): Promise<number> {
  const gen = findLoadGenerator(ROOT)!;
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'kss-bench-metrics-'));
  const gw = await startGatewayProcess({ kssBin: KSS, port, dataDir, upArgs: metrics ? [] : ['--no-metrics'] });
  const scratchDir = mkdtempSync(join(tmpdir(), 'kss-bench-metrics-wrk-'));
  try {
    const client = new KssClient({ gateway: gw.url, fetch: adminFetch(dataDir) });
    const digest = await uploadFunction(client, { 'handler.js': "module.exports = async () => 'ok';" });
    await client.deploy({ service: 'm', runtime: 'node', code: digest, labels: { 'com.openfaas.scale.max': '1' } });
    await client.waitReady('m', { timeoutMs: 60_000 });
    const url = `${gw.url}/function/m`;
    const threads = connections > 1 ? 2 : 1;
    await runLoad(gen, { url, connections, threads, durationSeconds: 2, scratchDir });
    const r = await runLoad(gen, { url, connections, threads, durationSeconds: SECONDS, scratchDir });
    validateLoad(r, `metrics ${metrics ? 'on' : 'off'}, ${connections} connections`);
    return r.requestsPerSecond;
  } finally {
    await gw.stop(5_000);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(scratchDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const gen = findLoadGenerator(ROOT);
  if (!gen) throw new Error('no load generator: apt-get install wrk');
  const rows: Array<{ connections: number; on: number; off: number }> = [];
  for (const connections of [1, 50]) {
    process.stderr.write(`[metrics bench] ${connections} connection(s): on, off, on, off (${SECONDS} s each)\n`);
    const on: number[] = [];
    const off: number[] = [];
    for (let i = 0; i < 2; i++) {
      on.push(await measure(true, connections));
      off.push(await measure(false, connections));
    }
    rows.push({ connections, on: (on[0]! + on[1]!) / 2, off: (off[0]! + off[1]!) / 2 });
  }
  const m = machine(gen);
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const lines = [
    '## Metrics overhead: invoke throughput with the Prometheus counters on and off',
    '',
    `- Machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM; Node ${m.node}; ${m.loadGenerator}`,
    `- Trivial Node function, one replica; each cell the mean of two ${SECONDS} s runs (after a 2 s warm-up), on and off alternating`,
    '- Target (issue #8): metrics cost ≤ 3% of throughput',
    '',
    '| connections | metrics on req/s | metrics off req/s | cost |',
    '|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.connections} | ${n(r.on)} | ${n(r.off)} | **${(((r.off - r.on) / r.off) * 100).toFixed(1)}%** |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const file = writeResultsFile(join(ROOT, 'bench', 'results'), 'metrics', { machine: m, rows });
  process.stdout.write(`\nResults: ${file.replace(ROOT, '')}\n`);
}

main().catch((err) => {
  process.stderr.write(`metrics bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
