/**
 * Monolith vs functions (seed 001, issue #13): the Iris example's ML code deployed
 * two ways on one gateway — as two functions, `iris-train` and `iris-predict`, sharing
 * the model through the volume `iris-models`, and as one function, `iris-monolith`,
 * routing `/train` and `/predict` to the same code — and the same workload run
 * through both: train once (POST the 150-row CSV), then M predictions (one feature
 * vector each, cycling through the data set) at a fixed concurrency.
 *
 * The columns, per variant (median over the measured rounds):
 * - wall s: from the train request to the last prediction's answer; req/s: (M + 1) / wall;
 * - train ms; predict p50/p99 ms, as this client sees them through the gateway;
 * - CPU s and peak memory **from the platform's own per-function metrics**: CPU is the
 *   change of `pod_cpu_usage_seconds_total` (the gateway's /metrics) over the round,
 *   summed over the variant's replicas; memory is the highest total of
 *   `usage.memoryWorkingSetBytes` over the variant's replicas
 *   (`GET /system/function/NAME`), sampled every 100 ms;
 * - the same two figures read independently from /proc (the replicas' process trees:
 *   utime + stime, and VmRSS sampled with the platform's samples), as a cross-check of
 *   the platform's numbers; a disagreement is printed under the table;
 * - gateway CPU s: the `kss up` process's own CPU over the round (the same requests
 *   pass through it for both variants).
 *
 * Every function is pinned to one replica (com.openfaas.scale.min = max = 1): the
 * functions variant is two processes, the monolith one, as in the seed. Both variants
 * are deployed from examples/iris/stack.yml (same code, same annotations, `kss.auth:
 * token`: every request carries an invoke token) and are warm before measuring; the
 * rounds alternate (functions, monolith, then monolith, functions, …) so drift on the
 * machine hits both. Every answer is checked (status 200, and each prediction equal to
 * the class the same variant gave for that row in a batch call before measuring; the
 * two variants' batch answers must be identical).
 *
 * Bounded: a watchdog stops the run after 5 minutes; with the defaults it takes well
 * under 2. Loopback only; the gateway (and so its replicas) is stopped at the end, also
 * on error or Ctrl-C. Results also go to `bench/results/iris-compare.json`.
 *
 * Usage: `npm run bench -- iris`, or `node dist/bench/iris-compare.bench.js
 *   [--predictions M] [--concurrency C] [--rounds R]` (defaults 3000, 8, 5).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { packDirectory } from '../src/archive/index.js';
import { pythonInterpreter } from '../src/build/python-interpreter.js';
import { readStackFile } from '../src/cli/stack-file.js';
import { KssClient } from '../src/client/index.js';
import type { FunctionStatus } from '../src/core/index.js';
import { freePort } from '../src/providers/local/ports.js';
import { adminFetch, machine, percentile, writeResultsFile } from './lib/bench-common.js';
import { startGatewayProcess, type GatewayProcess } from './lib/gateway-process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KSS_BIN = join(ROOT, 'bin', 'kss.js');
const EXAMPLE = join(ROOT, 'examples', 'iris');
const RESULTS_DIR = join(ROOT, 'bench', 'results');
const NAMESPACE_SUFFIX = '.openfaas-fn';
const SAMPLE_EVERY_MS = 100;
const WATCHDOG_MS = 5 * 60_000;
const WARMUP_PREDICTIONS = 300;
const REQUEST_TIMEOUT_MS = 30_000;
const TICKS_PER_SECOND = 100; // USER_HZ on Linux
/** The platform's and /proc's figures disagree when one is more than this many times the other. */
const DISAGREEMENT = 1.5;

interface Variant {
  name: 'functions' | 'monolith';
  /** The functions it is made of. */
  functions: string[];
  trainPath: string;
  predictPath: string;
}

const VARIANTS: Variant[] = [
  { name: 'functions', functions: ['iris-train', 'iris-predict'], trainPath: '/function/iris-train', predictPath: '/function/iris-predict' },
  { name: 'monolith', functions: ['iris-monolith'], trainPath: '/function/iris-monolith/train', predictPath: '/function/iris-monolith/predict' },
];

interface Round {
  variant: Variant['name'];
  wallSeconds: number;
  requestsPerSecond: number;
  trainMs: number;
  p50Ms: number;
  p99Ms: number;
  /** From the platform: Δ pod_cpu_usage_seconds_total, and the highest summed working set. */
  cpuSeconds: number;
  peakMemoryBytes: number;
  /** From /proc, for comparison. */
  procCpuSeconds: number;
  procPeakRssBytes: number;
  /** Private part of that RSS (anonymous + shmem). */
  procPeakPrivateBytes: number;
  gatewayCpuSeconds: number;
  samples: number;
  accuracy: number;
  model: string;
}

function options() {
  const { values } = parseArgs({
    options: {
      predictions: { type: 'string', default: process.env.KSS_BENCH_IRIS_PREDICTIONS ?? '3000' },
      concurrency: { type: 'string', default: process.env.KSS_BENCH_IRIS_CONCURRENCY ?? '8' },
      rounds: { type: 'string', default: process.env.KSS_BENCH_IRIS_ROUNDS ?? '5' },
    },
    strict: true,
  });
  const predictions = Number(values.predictions);
  const concurrency = Number(values.concurrency);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(predictions) || predictions < 100 || predictions > 100_000) throw new Error('--predictions: a whole number, 100-100000');
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new Error('--concurrency: a whole number, 1-256');
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 10) throw new Error('--rounds: a whole number, 1-10');
  return { predictions, concurrency, rounds };
}

// ------------------------------------------------------------------ measurements

/** utime + stime of one process, in seconds (0 when it is gone). */
function procCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/**
 * Resident memory of one process, in bytes (0s when it is gone): all of it (VmRSS), and
 * its private part (RssAnon + RssShmem), which is what a cgroup is charged for once
 * the shared library pages are in the page cache already — the figure to hold the
 * platform's working set against.
 */
function procMemory(pid: number): { rss: number; private: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), private: kb('RssAnon') + kb('RssShmem') };
  } catch {
    return { rss: 0, private: 0 };
  }
}

/** `pid` and every process below it (a replica is bwrap's monitor and the runtime inside, or the runtime alone). */
function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i]!;
    try {
      for (const tid of readdirSync(`/proc/${p}/task`)) {
        const children = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim();
        if (children) out.push(...children.split(/\s+/).map(Number));
      }
    } catch {
      // gone, or no children file
    }
  }
  return out;
}

/** The variant's replicas, as the platform lists them. */
async function replicas(client: KssClient, v: Variant): Promise<FunctionStatus[]> {
  return Promise.all(v.functions.map((f) => client.getFunction(f)));
}

/** Σ pod_cpu_usage_seconds_total over the variant's functions, from the gateway's /metrics. */
async function platformCpu(gw: GatewayProcess, fetchAuth: typeof fetch, v: Variant): Promise<number> {
  const text = await (await fetchAuth(`${gw.url}/metrics`)).text();
  const wanted = new Set(v.functions.map((f) => `${f}${NAMESPACE_SUFFIX}`));
  let total = 0;
  let seen = 0;
  for (const m of text.matchAll(/^pod_cpu_usage_seconds_total\{([^}]*)\} (\S+)$/gm)) {
    const fn = /function_name="([^"]+)"/.exec(m[1]!)?.[1];
    if (fn && wanted.has(fn)) {
      total += Number(m[2]);
      seen++;
    }
  }
  if (seen < v.functions.length) throw new Error(`/metrics has pod_cpu_usage_seconds_total for ${seen} of ${v.functions.join(', ')}: does this gateway measure replicas (cgroups)?`);
  return total;
}

/** Samples the variant's memory every SAMPLE_EVERY_MS until stopped: the platform's working set and /proc's RSS. */
function memorySampler(client: KssClient, v: Variant, pids: number[]) {
  let peakPlatform = 0;
  let peakProc = 0;
  let peakPrivate = 0;
  let samples = 0;
  let stopped = false;
  const sampleOnce = async () => {
    const statuses = await replicas(client, v);
    const platform = statuses.flatMap((s) => s.instances ?? []).reduce((n, i) => n + (i.usage?.memoryWorkingSetBytes ?? 0), 0);
    const proc = pids.flatMap(processTree).map(procMemory);
    peakPlatform = Math.max(peakPlatform, platform);
    peakProc = Math.max(peakProc, proc.reduce((n, m) => n + m.rss, 0));
    peakPrivate = Math.max(peakPrivate, proc.reduce((n, m) => n + m.private, 0));
    samples++;
  };
  const loop = (async () => {
    while (!stopped) {
      const started = Date.now();
      await sampleOnce();
      await new Promise((r) => setTimeout(r, Math.max(0, SAMPLE_EVERY_MS - (Date.now() - started))));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      await sampleOnce();
      return { peakPlatform, peakProc, peakPrivate, samples };
    },
  };
}

// ------------------------------------------------------------------ workload

interface Http {
  pool: Pool;
  headers: Record<string, string>;
}

async function post(http: Http, path: string, body: string, contentType: string): Promise<{ status: number; text: string; ms: number }> {
  const started = performance.now();
  const res = await http.pool.request({ method: 'POST', path, body, headers: { ...http.headers, 'content-type': contentType }, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS });
  const text = await res.body.text();
  return { status: res.statusCode, text, ms: performance.now() - started };
}

/** The 150 rows of the data set: the CSV text, each row's feature vector as a JSON request body. */
function dataset(): { csv: string; bodies: string[]; vectors: number[][] } {
  const csv = readFileSync(join(EXAMPLE, 'data', 'iris.csv'), 'utf8');
  const vectors = csv.trim().split('\n').slice(1).map((line) => line.split(',').slice(0, 4).map(Number));
  return { csv, vectors, bodies: vectors.map((features) => JSON.stringify({ features })) };
}

/** POSTs `count` predictions (row i % 150) at `concurrency`; checks each against `expected`; returns the latencies. */
async function predictions(http: Http, v: Variant, bodies: string[], expected: string[], count: number, concurrency: number): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const row = i % bodies.length;
      const r = await post(http, v.predictPath, bodies[row]!, 'application/json');
      if (r.status !== 200) throw new Error(`${v.predictPath} answered ${r.status}: ${r.text.slice(0, 200)}`);
      const got = (JSON.parse(r.text) as { class: string }).class;
      if (got !== expected[row]) throw new Error(`${v.predictPath}: row ${row + 1} predicted ${got}, expected ${expected[row]}`);
      latencies.push(r.ms);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return latencies;
}

async function train(http: Http, v: Variant, csv: string): Promise<{ ms: number; accuracy: number; model: string }> {
  const r = await post(http, v.trainPath, csv, 'text/csv');
  if (r.status !== 200) throw new Error(`${v.trainPath} answered ${r.status}: ${r.text.slice(0, 300)}`);
  const report = JSON.parse(r.text) as { accuracy: number; model: string };
  return { ms: r.ms, accuracy: report.accuracy, model: report.model };
}

/** The classes the variant gives for all 150 rows in one batch request. */
async function batchClasses(http: Http, v: Variant, vectors: number[][]): Promise<string[]> {
  const r = await post(http, v.predictPath, JSON.stringify({ instances: vectors }), 'application/json');
  if (r.status !== 200) throw new Error(`${v.predictPath} (batch) answered ${r.status}: ${r.text.slice(0, 300)}`);
  return (JSON.parse(r.text) as { predictions: Array<{ class: string }> }).predictions.map((p) => p.class);
}

async function round(ctx: { gw: GatewayProcess; client: KssClient; fetchAuth: typeof fetch; http: Http }, v: Variant, data: ReturnType<typeof dataset>, expected: string[], count: number, concurrency: number): Promise<Round> {
  const before = await replicas(ctx.client, v);
  const instances = before.flatMap((s) => s.instances ?? []);
  const pids = instances.map((i) => i.pid).filter((p): p is number => typeof p === 'number');
  if (instances.length !== v.functions.length || pids.length !== instances.length) throw new Error(`${v.name}: expected one replica with a pid per function, found ${JSON.stringify(instances.map((i) => ({ id: i.id, pid: i.pid })))}`);
  const restartsBefore = instances.map((i) => `${i.id}:${i.restarts}`).join(',');

  const cpu0 = await platformCpu(ctx.gw, ctx.fetchAuth, v);
  const proc0 = pids.flatMap(processTree).reduce((n, p) => n + procCpu(p), 0);
  const gw0 = procCpu(ctx.gw.child.pid!);
  const sampler = memorySampler(ctx.client, v, pids);
  const started = performance.now();
  const trained = await train(ctx.http, v, data.csv);
  const latencies = await predictions(ctx.http, v, data.bodies, expected, count, concurrency);
  const wallSeconds = (performance.now() - started) / 1000;
  const memory = await sampler.stop();
  const gw1 = procCpu(ctx.gw.child.pid!);
  const proc1 = pids.flatMap(processTree).reduce((n, p) => n + procCpu(p), 0);
  const cpu1 = await platformCpu(ctx.gw, ctx.fetchAuth, v);

  const after = (await replicas(ctx.client, v)).flatMap((s) => s.instances ?? []);
  const restartsAfter = after.map((i) => `${i.id}:${i.restarts}`).join(',');
  if (restartsAfter !== restartsBefore) throw new Error(`${v.name}: replicas changed during the round (${restartsBefore} → ${restartsAfter}); the CPU counters would not add up`);
  return {
    variant: v.name,
    wallSeconds,
    requestsPerSecond: (count + 1) / wallSeconds,
    trainMs: trained.ms,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    cpuSeconds: cpu1 - cpu0,
    peakMemoryBytes: memory.peakPlatform,
    procCpuSeconds: proc1 - proc0,
    procPeakRssBytes: memory.peakProc,
    procPeakPrivateBytes: memory.peakPrivate,
    gatewayCpuSeconds: gw1 - gw0,
    samples: memory.samples,
    accuracy: trained.accuracy,
    model: trained.model,
  };
}

// ------------------------------------------------------------------ main

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The interpreter's version, as the replicas run it. */
function pythonVersion(): string {
  const r = spawnSync(pythonInterpreter(), ['-S', '-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8', timeout: 10_000 });
  return r.stdout?.trim() || 'unknown';
}

async function main(): Promise<void> {
  const opts = options();
  const loadAtStart = loadavg().map((l) => l.toFixed(2)).join(', ');
  let gateway: GatewayProcess | undefined;
  const watchdog = setTimeout(() => {
    process.stderr.write(`iris-compare bench: still running after ${WATCHDOG_MS / 1000} s, giving up\n`);
    void (gateway?.stop(2_000) ?? Promise.resolve()).finally(() => process.exit(1));
  }, WATCHDOG_MS);
  watchdog.unref();

  const dataDir = mkdtempSync(join(tmpdir(), 'kss-bench-iris-'));
  const gw = (gateway = await startGatewayProcess({ kssBin: KSS_BIN, port: await freePort(), dataDir, readyTimeoutMs: 30_000 }));
  const stop = () => void gw.stop(2_000).then(() => process.exit(130));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const fetchAuth = adminFetch(dataDir);
  const client = new KssClient({ gateway: gw.url, fetch: fetchAuth });
  const pool = new Pool(gw.url, { connections: opts.concurrency + 2, pipelining: 1 });
  const rounds: Round[] = [];
  try {
    // As the README does it: a token with the invoke scope, then the stack file.
    const { token } = await client.createToken({ name: 'iris bench', scopes: ['invoke'] });
    const http: Http = { pool, headers: { authorization: `Bearer ${token}` } };
    const stack = readStackFile(join(EXAMPLE, 'stack.yml'));
    process.stderr.write(`[iris bench] deploying ${stack.functions.map((f) => f.name).join(', ')} from examples/iris/stack.yml, one replica each\n`);
    for (const fn of stack.functions) {
      const { digest } = await client.uploadCode(await packDirectory(fn.codeDir));
      const labels = { ...((fn.spec.labels as Record<string, string> | undefined) ?? {}), 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '1' };
      await client.deploy({ ...fn.spec, service: fn.name, code: digest, labels });
    }
    for (const fn of stack.functions) await client.waitReady(fn.name, { timeoutMs: 60_000 });

    const data = dataset();
    const expected = new Map<Variant['name'], string[]>();
    for (const v of VARIANTS) {
      await train(http, v, data.csv);
      expected.set(v.name, await batchClasses(http, v, data.vectors));
      await predictions(http, v, data.bodies, expected.get(v.name)!, WARMUP_PREDICTIONS, opts.concurrency);
    }
    if (JSON.stringify(expected.get('functions')) !== JSON.stringify(expected.get('monolith'))) throw new Error('the two variants predict differently for the same rows');

    for (let r = 0; r < opts.rounds; r++) {
      for (const v of r % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
        process.stderr.write(`[iris bench] round ${r + 1}/${opts.rounds}, ${v.name}: train once + ${opts.predictions} predictions at concurrency ${opts.concurrency}\n`);
        const result = await round({ gw, client, fetchAuth, http }, v, data, expected.get(v.name)!, opts.predictions, opts.concurrency);
        process.stderr.write(`[iris bench]   ${result.wallSeconds.toFixed(2)} s, ${Math.round(result.requestsPerSecond)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, CPU ${result.cpuSeconds.toFixed(2)} s (proc ${result.procCpuSeconds.toFixed(2)}), peak ${mib(result.peakMemoryBytes)} MiB (proc RSS ${mib(result.procPeakRssBytes)})\n`);
        rounds.push(result);
      }
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await pool.close().catch(() => undefined);
    await gw.stop(5_000);
    rmSync(dataDir, { recursive: true, force: true });
  }

  const summary = VARIANTS.map((v) => {
    const mine = rounds.filter((r) => r.variant === v.name);
    const med = (key: keyof Round) => median(mine.map((r) => r[key] as number));
    return {
      variant: v.name,
      processes: v.functions.length,
      wallSeconds: med('wallSeconds'),
      requestsPerSecond: med('requestsPerSecond'),
      trainMs: med('trainMs'),
      p50Ms: med('p50Ms'),
      p99Ms: med('p99Ms'),
      cpuSeconds: med('cpuSeconds'),
      peakMemoryBytes: med('peakMemoryBytes'),
      procCpuSeconds: med('procCpuSeconds'),
      procPeakRssBytes: med('procPeakRssBytes'),
      procPeakPrivateBytes: med('procPeakPrivateBytes'),
      gatewayCpuSeconds: med('gatewayCpuSeconds'),
      accuracy: mine[0]!.accuracy,
      model: mine[0]!.model,
    };
  });
  // A stand-in load generator: the requests come from this process (undici), not wrk.
  const m = machine({ kind: 'autocannon', version: 'undici Pool in the bench process', command: process.execPath });
  const load = loadavg().map((l) => l.toFixed(2)).join(', ');
  const f1 = (n: number) => n.toFixed(1);
  const f2 = (n: number) => n.toFixed(2);
  const lines = [
    '## Iris: train + predict as two functions vs one monolith (seed 001)',
    '',
    `- Machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM; Linux ${release()}; Node ${m.node}; Python ${pythonVersion()}; client, gateway and replicas on the same cores; load average at the end ${load} (started at ${loadAtStart})`,
    `- Workload per round: train once (POST the 150-row CSV) + ${opts.predictions} predictions (one vector each) at concurrency ${opts.concurrency}, with an invoke token; ${opts.rounds} rounds per variant, alternating; medians shown`,
    '- CPU s and peak memory: the platform\'s own per-function metrics (Δ pod_cpu_usage_seconds_total at /metrics; highest Σ usage.memoryWorkingSetBytes from /system/function/NAME every 100 ms); /proc columns: the same replicas read from /proc (utime+stime; Σ VmRSS, shared library pages included / Σ RssAnon+RssShmem, the private part), as a cross-check',
    '',
    '| variant | processes | wall s | req/s | train ms | predict p50 ms | p99 ms | CPU s (platform) | peak memory MiB (platform) | CPU s (/proc) | peak RSS / private MiB (/proc) | gateway CPU s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...summary.map((s) => `| ${s.variant} | ${s.processes} | ${f2(s.wallSeconds)} | ${Math.round(s.requestsPerSecond).toLocaleString('en-US')} | ${f1(s.trainMs)} | ${f2(s.p50Ms)} | ${f2(s.p99Ms)} | ${f2(s.cpuSeconds)} | ${f1(mib(s.peakMemoryBytes))} | ${f2(s.procCpuSeconds)} | ${f1(mib(s.procPeakRssBytes))} / ${f1(mib(s.procPeakPrivateBytes))} | ${f2(s.gatewayCpuSeconds)} |`),
    '',
    `Held-out accuracy (both variants, same model ${summary[0]!.model}): ${(100 * summary[0]!.accuracy).toFixed(1)}%.`,
  ];
  for (const s of summary) {
    const off = (a: number, b: number) => a > 0 && b > 0 ? Math.max(a / b, b / a) > DISAGREEMENT : a !== b;
    if (off(s.peakMemoryBytes, s.procPeakPrivateBytes)) lines.push(`**${s.variant}: the platform's memory (${f1(mib(s.peakMemoryBytes))} MiB) and the replicas' private memory in /proc (RssAnon + RssShmem, ${f1(mib(s.procPeakPrivateBytes))} MiB) disagree by more than ${DISAGREEMENT}×**: a much lower working set means most of the replicas' memory is not charged to their cgroups (memory a process allocated before it joined its replica's cgroup stays charged where it was, e.g. to the warm pool's cgroup).`);
    if (off(s.cpuSeconds, s.procCpuSeconds)) lines.push(`**${s.variant}: the platform's CPU (${f2(s.cpuSeconds)} s) and /proc's (${f2(s.procCpuSeconds)} s) disagree by more than ${DISAGREEMENT}×.**`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  const file = writeResultsFile(RESULTS_DIR, 'iris-compare', { machine: m, options: opts, summary, rounds });
  process.stdout.write(`\nResults: ${file.replace(ROOT, '')}\n`);
  clearTimeout(watchdog);
}

function mib(bytes: number): number {
  return bytes / 1024 ** 2;
}

main().catch((err) => {
  process.stderr.write(`iris-compare bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
