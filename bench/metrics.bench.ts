/**
 * What counting costs (issue #8): the Prometheus counters on the invoke path (the
 * default) against a gateway started with `kss up --no-metrics`, in one run. Target:
 * metrics cost ≤ 3% of warm throughput.
 *
 * Both gateways run side by side for the whole run (same function, one replica each)
 * and wrk alternates between them in short runs, the order flipping every round; each
 * round's on/off pair gives one paired cost, and the median of those is reported.
 * (A fresh gateway per run, as this bench first did, differed by ±10–50% from one start
 * to the next on a 2-core machine — more than the counting costs.) Beside throughput, it
 * reads each gateway's own CPU time (/proc/PID/stat) over every run: CPU µs per request
 * on vs off is the cost with the load generator's and the replica's noise left out.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KssClient } from '../src/client/index.js';
import { freePort } from '../src/providers/local/ports.js';
import { adminFetch, machine, uploadFunction, validateLoad, writeResultsFile } from './lib/bench-common.js';
import { startGatewayProcess, type GatewayProcess } from './lib/gateway-process.js';
import { findLoadGenerator, runLoad, type LoadGenerator } from './lib/loadgen.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KSS = join(ROOT, 'bin', 'kss.js');
const SECONDS = Number(process.env.KSS_BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.KSS_BENCH_ROUNDS ?? 8);
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The process's user + system CPU seconds so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

interface Side {
  label: 'on' | 'off';
  gw: GatewayProcess;
  dataDir: string;
  url: string;
}

async function startSide(metrics: boolean): Promise<Side> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kss-bench-metrics-'));
  const gw = await startGatewayProcess({ kssBin: KSS, port: await freePort(), dataDir, upArgs: metrics ? [] : ['--no-metrics'] });
  const client = new KssClient({ gateway: gw.url, fetch: adminFetch(dataDir) });
  const digest = await uploadFunction(client, { 'handler.js': "module.exports = async () => 'ok';" });
  await client.deploy({ service: 'm', runtime: 'node', code: digest, labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '1' } });
  await client.waitReady('m', { timeoutMs: 60_000 });
  return { label: metrics ? 'on' : 'off', gw, dataDir, url: `${gw.url}/function/m` };
}

async function measure(gen: LoadGenerator, side: Side, connections: number, scratchDir: string, seconds: number): Promise<{ rps: number; cpuUsPerRequest: number }> {
  const pid = side.gw.child.pid!;
  const before = cpuSeconds(pid);
  const r = await runLoad(gen, { url: side.url, connections, threads: connections > 1 ? 2 : 1, durationSeconds: seconds, scratchDir });
  const cpu = cpuSeconds(pid) - before;
  validateLoad(r, `metrics ${side.label}, ${connections} connections`);
  return { rps: r.requestsPerSecond, cpuUsPerRequest: (cpu / r.requests) * 1e6 };
}

interface Row {
  connections: number;
  on: number[];
  off: number[];
  cpuOn: number[];
  cpuOff: number[];
}

async function main(): Promise<void> {
  const gen = findLoadGenerator(ROOT);
  if (!gen) throw new Error('no load generator: apt-get install wrk');
  const scratchDir = mkdtempSync(join(tmpdir(), 'kss-bench-metrics-wrk-'));
  const sides = [await startSide(true), await startSide(false)];
  const rows: Row[] = [];
  try {
    for (const s of sides) await measure(gen, s, 50, scratchDir, 2); // warm-up (JIT, keep-alive pools)
    for (const connections of [1, 50]) {
      process.stderr.write(`[metrics bench] ${connections} connection(s): ${ROUNDS} rounds of ${SECONDS} s on each gateway, alternating\n`);
      const row: Row = { connections, on: [], off: [], cpuOn: [], cpuOff: [] };
      for (let i = 0; i < ROUNDS; i++) {
        const order = i % 2 === 0 ? sides : [...sides].reverse();
        for (const s of order) {
          const m = await measure(gen, s, connections, scratchDir, SECONDS);
          (s.label === 'on' ? row.on : row.off).push(m.rps);
          (s.label === 'on' ? row.cpuOn : row.cpuOff).push(m.cpuUsPerRequest);
        }
        process.stderr.write(`[metrics bench]   round ${i + 1}: on ${Math.round(row.on.at(-1)!)} req/s (${row.cpuOn.at(-1)!.toFixed(1)} µs CPU/req), off ${Math.round(row.off.at(-1)!)} req/s (${row.cpuOff.at(-1)!.toFixed(1)} µs)\n`);
      }
      rows.push(row);
    }
  } finally {
    for (const s of sides) {
      await s.gw.stop(5_000);
      rmSync(s.dataDir, { recursive: true, force: true });
    }
    rmSync(scratchDir, { recursive: true, force: true });
  }
  const m = machine(gen);
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const summary = rows.map((r) => {
    const paired = r.on.map((on, i) => ((r.off[i]! - on) / r.off[i]!) * 100);
    const cpuOn = median(r.cpuOn);
    const cpuOff = median(r.cpuOff);
    return { connections: r.connections, on: median(r.on), off: median(r.off), cost: median(paired), paired, cpuOn, cpuOff, cpuCost: ((cpuOn - cpuOff) / cpuOff) * 100 };
  });
  const lines = [
    '## Metrics overhead: invoke throughput with the Prometheus counters on and off',
    '',
    `- Machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM; Node ${m.node}; ${m.loadGenerator}`,
    `- Trivial Node function, one replica per gateway; both gateways up for the whole run; ${ROUNDS} rounds of ${SECONDS} s on each, alternating, order flipped every round`,
    '- throughput cost: median over rounds of (off − on) / off; CPU: the gateway process\'s own CPU time per request (median), on vs off',
    '- Target (issue #8): metrics cost ≤ 3% of throughput',
    '',
    '| connections | on req/s | off req/s | throughput cost (paired median) | gateway CPU µs/req on | off | CPU cost |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...summary.map((r) => `| ${r.connections} | ${n(r.on)} | ${n(r.off)} | **${r.cost.toFixed(1)}%** | ${r.cpuOn.toFixed(1)} | ${r.cpuOff.toFixed(1)} | **${r.cpuCost.toFixed(1)}%** |`),
    '',
    `Per-round throughput cost: ${summary.map((r) => `${r.connections} conn: ${r.paired.map((p) => `${p.toFixed(1)}%`).join(', ')}`).join('; ')}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const file = writeResultsFile(join(ROOT, 'bench', 'results'), 'metrics', { machine: m, rows, summary });
  process.stdout.write(`\nResults: ${file.replace(ROOT, '')}\n`);
}

main().catch((err) => {
  process.stderr.write(`metrics bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
