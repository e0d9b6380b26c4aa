/**
 * Cold starts: a request sent to a function at zero replicas → the first byte of its
 * reply, p50/p99 over 50 cold starts per runtime, beside the warm-request latency of
 * the same function in the same run; and the time for a burst of 500 concurrent
 * requests at zero to be fully served. The gateway runs as its own process (`kss up`),
 * the client here; everything on 127.0.0.1, bounded in count and time.
 *
 * Why: cold starts are what Knative (~0.8-2 s) and Fission (~100 ms) users complain
 * about; issue #5's targets are Node ≤ 150 ms without a warm pool.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KssClient } from '../src/client/index.js';
import { freePort } from '../src/providers/local/ports.js';
import { DEFAULT_LAUNCHERS } from '../src/providers/local/runtime-launchers.js';
import { adminFetch, machine, percentile, until, uploadFunction, writeResultsFile } from './lib/bench-common.js';
import { startGatewayProcess } from './lib/gateway-process.js';
import { findLoadGenerator } from './lib/loadgen.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KSS = join(ROOT, 'bin', 'kss.js');
const COLD_STARTS = Number(process.env.KSS_BENCH_COLD_STARTS ?? 50);
const WARM_REQUESTS = 200;
const BURST = 500;

const FUNCTIONS: Record<string, Record<string, string>> = {
  node: { 'handler.js': "module.exports = async () => 'ok';" },
  python: { 'handler.py': 'def handle(event, context):\n    return "ok"\n' },
};

interface Row {
  runtime: string;
  pool: boolean;
  coldP50: number;
  coldP99: number;
  warmP50: number;
  warmP99: number;
  burstMs: number;
  burstOk: number;
}

async function measure(client: KssClient, url: string, runtime: string, pool: boolean): Promise<Row> {
  const name = `cold-${runtime}`;
  const digest = await uploadFunction(client, FUNCTIONS[runtime]!);
  // Zero allowed but the autoscaler idle timer far away: the bench decides when it is at zero.
  await client.deploy({ service: name, runtime, code: digest, labels: { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '1h', 'com.openfaas.scale.max': '1' } });
  await client.waitReady(name, { timeoutMs: 60_000 });

  const warm: number[] = [];
  for (let i = 0; i < WARM_REQUESTS; i++) {
    const t = performance.now();
    const r = await fetch(`${url}/function/${name}`);
    warm.push(performance.now() - t);
    await r.text();
  }

  const toZero = async () => {
    await client.scale(name, 0);
    await until(async () => {
      const s = await client.getFunction(name);
      return s.replicas === 0 && (s.instances?.length ?? 0) === 0;
    }, `${name} to reach zero`);
    // Let the machine settle (the stopped replica's exit, the pool refilling behind the previous
    // cold start): on 2 cores a process booting beside the one specialising would be measured too.
    await new Promise((r) => setTimeout(r, 300));
  };

  const cold: number[] = [];
  for (let i = 0; i < COLD_STARTS; i++) {
    await toZero();
    const t = performance.now();
    const r = await fetch(`${url}/function/${name}`);
    // fetch resolves on the response headers: the first byte of the reply.
    cold.push(performance.now() - t);
    const body = await r.text();
    if (r.status !== 200 || body.trim() !== 'ok') throw new Error(`cold start ${i} answered ${r.status} ${body.slice(0, 100)}`);
  }

  await toZero();
  const t = performance.now();
  const results = await Promise.all(Array.from({ length: BURST }, () => fetch(`${url}/function/${name}`).then(async (r) => (await r.text()).trim() === 'ok' && r.status === 200)));
  const burstMs = performance.now() - t;
  await client.removeFunction(name);
  return {
    runtime,
    pool,
    coldP50: percentile(cold, 50),
    coldP99: percentile(cold, 99),
    warmP50: percentile(warm, 50),
    warmP99: percentile(warm, 99),
    burstMs,
    burstOk: results.filter(Boolean).length,
  };
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  // KSS_BENCH_POOL=on|off and KSS_BENCH_RUNTIMES=node,python narrow a run while tuning.
  const pools = process.env.KSS_BENCH_POOL ? [process.env.KSS_BENCH_POOL === 'on'] : [false, true];
  const runtimes = process.env.KSS_BENCH_RUNTIMES?.split(',') ?? Object.keys(FUNCTIONS);
  for (const pool of pools) {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'kss-bench-cold-'));
    const gw = await startGatewayProcess({ kssBin: KSS, port, dataDir, upArgs: ['--warm-pool', pool ? '2' : '0'] });
    const stop = () => void gw.stop(2_000);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      const client = new KssClient({ gateway: gw.url, fetch: adminFetch(dataDir) });
      for (const runtime of runtimes) {
        if (!(runtime in DEFAULT_LAUNCHERS) || !(runtime in FUNCTIONS)) continue;
        process.stderr.write(`[cold-start bench] ${runtime}, warm pool ${pool ? 'on' : 'off'}: ${WARM_REQUESTS} warm requests, ${COLD_STARTS} cold starts, a burst of ${BURST} at zero\n`);
        rows.push(await measure(client, gw.url, runtime, pool));
      }
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await gw.stop(5_000);
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  const gen = findLoadGenerator(ROOT);
  const m = gen ? machine(gen) : undefined;
  const f = (n: number) => n.toFixed(1);
  const lines = [
    '## Cold start: request to a function at zero → first byte of the reply',
    '',
    m ? `- Machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM; Node ${m.node}` : `- Node ${process.version}`,
    `- ${COLD_STARTS} cold starts per runtime (the function scaled to zero and its process gone before each), ${WARM_REQUESTS} sequential warm requests, trivial handler answering "ok"; the same gateway build with the warm pool off (--warm-pool 0) and on (2 per runtime, Node and Python)`,
    '- Targets (issue #5): Node with pool p50 ≤ 10 ms; Node without pool ≤ 150 ms; Python with pool ≤ 50 ms',
    '',
    '| runtime | warm pool | cold p50 ms | cold p99 ms | warm p50 ms | warm p99 ms | cold ÷ warm p50 | burst of 500 at zero: all served in | ok |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.runtime} | ${r.pool ? 'on' : 'off'} | ${f(r.coldP50)} | ${f(r.coldP99)} | ${r.warmP50.toFixed(2)} | ${r.warmP99.toFixed(2)} | ${Math.round(r.coldP50 / r.warmP50)}× | ${Math.round(r.burstMs)} ms | ${r.burstOk}/${BURST} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const file = writeResultsFile(join(ROOT, 'bench', 'results'), 'cold-start', { machine: m, rows });
  process.stdout.write(`\nResults: ${file.replace(ROOT, '')}\n`);
}

main().catch((err) => {
  process.stderr.write(`cold-start bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
