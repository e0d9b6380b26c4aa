/**
 * Warm invocation overhead of the gateway.
 *
 * What it measures: requests/s and p50/p99 latency of a trivial Node function
 * (`'ok'` for every request) called two ways in the same run with the same load
 * generator: **through the gateway** (`GET /function/NAME`: fastify routing, the
 * invoker's resolve → balance → undici keep-alive proxy, stats) and **directly** on the
 * replica's own port (`instances[].origin` from `GET /system/function/NAME`). The
 * replica, the handler, the machine and the client are the same for both, so the
 * difference is what the gateway adds on the data path. It runs at 1 connection
 * (pure per-request latency: the added p50) and 50 connections (throughput under
 * saturation on a small machine, where the gateway competes with the replica and the
 * load generator for the same cores).
 *
 * Why: a FaaS gateway sits on every synchronous call. The target set for this
 * 2-core machine is gateway throughput ≥ 0.5× direct and ≤ 0.2 ms added p50; a miss
 * is reported (PASS/MISS) but does not fail the run. The process exits non-zero
 * only when the benchmark itself could not run (no load generator, the platform did
 * not start, the function answered errors under load, …).
 *
 * How: `kss up` is spawned as a separate process on 127.0.0.1 with a temporary
 * data dir, the function is packed and deployed with the SDK, and the load
 * generator (`wrk`, else autocannon) runs as its own process: a warm-up (~2 s)
 * then a measured run (~8 s) per cell; wrk uses 1 thread for 1 connection and 2
 * threads for 50. Direct and gateway runs alternate (direct first at 1
 * connection, gateway first at 50) so drift hits both. Both handler forms are
 * probed first (direct, short) and the faster one is measured. Every run starts
 * only once the replica is ready and answering (its port is read again each time),
 * and replica restarts the gateway logs inside a measured window are flagged in the
 * table, so a cold start never hides in a "warm" number. The gateway and so
 * its replicas are stopped at the end, also on error (SIGTERM, SIGKILL after a
 * grace). Results also go to `bench/results/invoke.json`.
 *
 * Usage: `node dist/bench/invoke.bench.js [--warmup S] [--duration S] [--form web|openfaas]
 *   [--cpu-prof]`. `--cpu-prof` additionally runs the gateway under `node --cpu-prof` at
 * 50 connections (a separate phase, not in the table) and prints its top self-time
 * functions and our own code's inclusive time, from the samples of the loaded window.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { packDirectory } from '../src/archive/index.js';
import { KssClient } from '../src/client/index.js';
import { freePort } from '../src/providers/local/ports.js';
import { adminAuthorization, adminFetch, machine } from './lib/bench-common.js';
import { startGatewayProcess, type GatewayProcess } from './lib/gateway-process.js';
import { findLoadGenerator, runLoad, type LoadResult } from './lib/loadgen.js';

// dist/bench/invoke.bench.js → the package root.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KSS_BIN = join(ROOT, 'bin', 'kss.js');
const RESULTS_DIR = join(ROOT, 'bench', 'results');

const TARGET_RATIO = 0.5;
const TARGET_ADDED_P50_MS = 0.2;
/** Answers that are not 2xx, or socket errors, above this share make the run invalid. */
const MAX_ERROR_SHARE = 0.001;
/** What the local provider logs when the invoke path reports a replica failed (it SIGKILLs and restarts it). */
const RESTART_MSG = 'replica reported failed; restarting';

type Form = 'web' | 'openfaas';
type Target = 'direct' | 'gateway';

const HANDLERS: Record<Form, { file: string; source: string; describe: string }> = {
  web: { file: 'handler.mjs', source: "export default async () => 'ok';\n", describe: "web form: export default async () => 'ok'" },
  openfaas: { file: 'handler.cjs', source: "module.exports = async () => 'ok';\n", describe: "OpenFaaS form: module.exports = async () => 'ok'" },
};

interface Cell extends LoadResult {
  connections: number;
  target: Target;
  url: string;
  /** Replica restarts the gateway logged inside this measured run's window. */
  restartsDuringRun: number;
}

interface Comparison {
  connections: number;
  ratio: number;
  ratioPass: boolean;
  addedP50Ms: number;
  addedP50Pass: boolean;
  addedP99Ms: number;
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      warmup: { type: 'string', default: '2' },
      duration: { type: 'string', default: '8' },
      form: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const warmup = Number(values.warmup);
  const duration = Number(values.duration);
  if (!Number.isInteger(warmup) || warmup < 1 || warmup > 60) throw new Error('--warmup: whole seconds, 1-60');
  if (!Number.isInteger(duration) || duration < 1 || duration > 120) throw new Error('--duration: whole seconds, 1-120');
  if (values.form !== undefined && values.form !== 'web' && values.form !== 'openfaas') throw new Error('--form: web or openfaas');
  return { warmup, duration, form: values.form as Form | undefined, cpuProf: values['cpu-prof'] };
}

/** Packs a one-file function, deploys it pinned to exactly one replica, and waits until it is ready. */
async function deploy(client: KssClient, name: string, form: Form, scratch: string): Promise<void> {
  const dir = mkdtempSync(join(scratch, `fn-${form}-`));
  writeFileSync(join(dir, HANDLERS[form].file), HANDLERS[form].source);
  const { digest } = await client.uploadCode(await packDirectory(dir));
  // One replica, never more: the direct baseline hits one replica, so must the gateway.
  await client.deploy({ service: name, runtime: 'node', code: digest, labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '1' } });
  await client.waitReady(name, { timeoutMs: 30_000 });
}

async function directOrigin(client: KssClient, name: string): Promise<{ origin: string; pid: number | undefined }> {
  const status = await client.getFunction(name);
  const ready = (status.instances ?? []).filter((i) => i.state === 'ready' && i.origin);
  if (ready.length !== 1) throw new Error(`expected exactly one ready replica of ${name}, got ${JSON.stringify(status.instances)}`);
  return { origin: ready[0]!.origin!, pid: ready[0]!.pid };
}


/** One request each way before any load: both must answer 200 'ok'. */
async function check(url: string, headers: Record<string, string> = {}): Promise<void> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  const body = await res.text();
  if (res.status !== 200 || body !== 'ok') throw new Error(`${url} answered ${res.status} ${JSON.stringify(body.slice(0, 200))}, expected 200 "ok"`);
}

function validate(r: LoadResult, what: string): void {
  if (r.requests === 0) throw new Error(`${what}: no request completed`);
  const bad = r.badStatus + r.socketErrors;
  if (bad > r.requests * MAX_ERROR_SHARE) {
    throw new Error(`${what}: ${r.badStatus} non-2xx answers and ${r.socketErrors} socket errors out of ${r.requests} requests; the numbers would not mean anything`);
  }
}

const sleep = (msec: number) => new Promise((r) => setTimeout(r, msec));
const ms = (v: number) => v.toFixed(3);
const rps = (v: number) => Math.round(v).toLocaleString('en-US');
const mark = (pass: boolean) => (pass ? 'PASS' : 'MISS');

function table(cells: Cell[], comparisons: Comparison[]): string {
  const lines = ['| connections | target | req/s | p50 ms | p99 ms |', '|---:|---|---:|---:|---:|'];
  for (const c of comparisons) {
    for (const cell of cells.filter((x) => x.connections === c.connections).sort((a, b) => a.target.localeCompare(b.target))) {
      const note = cell.restartsDuringRun ? ` (replica restarted ×${cell.restartsDuringRun} during the run)` : '';
      lines.push(`| ${cell.connections} | ${cell.target}${note} | ${rps(cell.requestsPerSecond)} | ${ms(cell.p50Ms)} | ${ms(cell.p99Ms)} |`);
    }
    lines.push(`| ${c.connections} | ratio gateway/direct req/s | **${c.ratio.toFixed(2)}×** ${mark(c.ratioPass)} (≥ ${TARGET_RATIO}×) | | |`);
    lines.push(`| ${c.connections} | added latency (gateway − direct) | | **${ms(c.addedP50Ms)}** ${mark(c.addedP50Pass)} (≤ ${TARGET_ADDED_P50_MS} ms) | ${ms(c.addedP99Ms)} |`);
  }
  return lines.join('\n');
}

/** Writes results, keeping the folder out of git by itself (a `*` .gitignore inside it). */
function writeResults(data: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const ignore = join(RESULTS_DIR, '.gitignore');
  if (!existsSync(ignore)) writeFileSync(ignore, '# Benchmark output: machine-specific, not versioned.\n*\n');
  const file = join(RESULTS_DIR, 'invoke.json');
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

interface ProfileRow {
  ms: number;
  share: number;
  fn: string;
  where: string;
}

/**
 * Aggregates a V8 .cpuprofile by function over the samples taken in
 * [`fromUs`, `toUs`] (CLOCK_MONOTONIC µs, the clock of both V8's profiler and
 * `process.hrtime` on Linux; all samples if none fall inside): the top `n` by self
 * time, and our own code (`src/`) by inclusive time.
 */
function summarizeProfile(profileFile: string, n: number, fromUs: number, toUs: number): { windowed: boolean; totalMs: number; self: ProfileRow[]; oursInclusive: ProfileRow[] } {
  interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
  const p = JSON.parse(readFileSync(profileFile, 'utf8')) as { nodes: Node[]; startTime: number; samples: number[]; timeDeltas: number[] };
  const byId = new Map(p.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of p.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
  const times: number[] = [];
  let t = p.startTime;
  for (const d of p.timeDeltas) times.push((t += d));
  const inWindow = times.some((x) => x >= fromUs && x <= toUs);
  const label = (node: Node) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${url.replace(`file://${ROOT}`, '')}:${lineNumber + 1}` : '';
    return `${functionName || '(anonymous)'}\t${where}`;
  };
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    if (inWindow && (times[i]! < fromUs || times[i]! > toUs)) continue;
    // A sample's weight is the time until the next one.
    const dt = p.timeDeltas[i + 1] ?? 0;
    total += dt;
    const leaf = byId.get(p.samples[i]!)!;
    self.set(label(leaf), (self.get(label(leaf)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const key = label(byId.get(id)!);
      if (seen.has(key) || !key.includes('\tdist/src/')) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + dt);
    }
  }
  const rows = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([key, us]) => {
        const [fn, where] = key.split('\t') as [string, string];
        return { ms: us / 1000, share: us / (total || 1), fn, where };
      });
  return { windowed: inWindow, totalMs: total / 1000, self: rows(self), oursInclusive: rows(inclusive).slice(0, 10) };
}

async function main(): Promise<number> {
  const opts = parseOptions();
  const gen = findLoadGenerator(ROOT);
  if (!gen) {
    process.stderr.write('invoke bench: no load generator: install wrk (apt-get install -y wrk) or run npm install for autocannon\n');
    return 1;
  }
  const host = machine(gen);
  const scratch = mkdtempSync(join(tmpdir(), 'kss-bench-'));
  const gateways: GatewayProcess[] = [];
  const stopAll = () => Promise.all(gateways.map((g) => g.stop(5_000)));
  // A bench killed from outside still stops its gateway (and with it the replicas).
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`invoke bench: ${signal}: stopping the gateway\n`);
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => gateways.forEach((g) => g.child.exitCode === null && g.child.signalCode === null && g.child.kill('SIGKILL')));
  // Hard bound on the whole run: startup, 2 probes, 8 loads, optional profile, shutdown.
  const budgetS = 120 + 2 * (1 + 3) + 4 * 2 * (opts.warmup + opts.duration + 12) + (opts.cpuProf ? 60 + opts.warmup + opts.duration : 0);
  const watchdog = setTimeout(() => {
    process.stderr.write(`invoke bench: still running after ${budgetS}s: giving up\n`);
    void stopAll().finally(() => process.exit(1));
  }, budgetS * 1000);
  watchdog.unref();

  const say = (s: string) => process.stderr.write(`[invoke bench] ${s}\n`);
  try {
    const port = await freePort();
    say(`starting kss up on 127.0.0.1:${port}`);
    const dataDir = join(scratch, 'data');
    const gw = await startGatewayProcess({ kssBin: KSS_BIN, port, dataDir, cwd: scratch });
    gateways.push(gw);
    const client = new KssClient({ gateway: gw.url, fetch: adminFetch(dataDir) });

    // Both handler forms, probed directly (50 connections, short); the faster is measured.
    const forms: Form[] = opts.form ? [opts.form] : ['web', 'openfaas'];
    const probes: Partial<Record<Form, number>> = {};
    for (const form of forms) {
      const name = `bench-${form}`;
      await deploy(client, name, form, scratch);
      if (forms.length > 1) {
        const { origin } = await directOrigin(client, name);
        await check(`${origin}/`);
        const load = { url: `${origin}/`, connections: 50, threads: 2, scratchDir: scratch };
        await runLoad(gen, { ...load, durationSeconds: 1 });
        const r = await runLoad(gen, { ...load, durationSeconds: 3 });
        validate(r, `probe ${form}`);
        probes[form] = r.requestsPerSecond;
        say(`probe ${form} form, direct, 50 connections: ${rps(r.requestsPerSecond)} req/s`);
      }
    }
    const form: Form = forms.length === 1 ? forms[0]! : probes.web! >= probes.openfaas! ? 'web' : 'openfaas';
    for (const other of forms.filter((f) => f !== form)) await client.removeFunction(`bench-${other}`);
    const name = `bench-${form}`;
    const gatewayUrl = `${gw.url}/function/${name}`;
    /** Waits until the one replica is ready and returns its port: before every run, as the gateway may have restarted it (see below). */
    const readyReplica = async () => {
      // Let the gateway act on the previous run's disconnects first, then require a replica that answers.
      await sleep(300);
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          await client.waitReady(name, { timeoutMs: 30_000 });
          const replica = await directOrigin(client, name);
          await check(`${replica.origin}/`);
          return replica;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await sleep(100);
        }
      }
    };
    const first = await readyReplica();
    await check(`${first.origin}/`);
    // Invoke without credentials, as a public function's caller does; only if the gateway insists, with the admin's (sent to both targets).
    let invokeHeaders: Record<string, string> = {};
    const probe = await fetch(gatewayUrl, { signal: AbortSignal.timeout(10_000) });
    await probe.arrayBuffer();
    if (probe.status === 401) invokeHeaders = { authorization: adminAuthorization(dataDir) ?? '' };
    await check(gatewayUrl, invokeHeaders);
    const restartsBefore = (await client.getFunction(name)).instances?.[0]?.restarts ?? 0;

    const cells: Cell[] = [];
    for (const [connections, order] of [[1, ['direct', 'gateway']], [50, ['gateway', 'direct']]] as const) {
      const threads = connections === 1 ? 1 : 2;
      for (const target of order) {
        say(`${target}, ${connections} connection(s): warm-up ${opts.warmup}s, measure ${opts.duration}s`);
        for (const measured of [false, true]) {
          const replica = await readyReplica();
          const url = target === 'direct' ? `${replica.origin}/` : gatewayUrl;
          const what = `${target} ${measured ? 'run' : 'warm-up'} at ${connections} connection(s)`;
          const t0 = Date.now();
          const r = await runLoad(gen, { url, connections, threads, headers: invokeHeaders, scratchDir: scratch, durationSeconds: measured ? opts.duration : opts.warmup });
          const t1 = Date.now();
          validate(r, what);
          if (!measured) continue;
          // A restart inside the window (not in the last 0.5 s, where the generator stops) means the run measured a cold start too.
          const restartsDuringRun = gw.events().filter((e) => e.msg === RESTART_MSG && e.time >= t0 && e.time < t1 - 500).length;
          cells.push({ connections, target, url, ...r, restartsDuringRun });
        }
      }
    }
    const restartsAfter = (await client.getFunction(name)).instances?.[0]?.restarts ?? 0;
    const replicaRestarts = {
      total: restartsAfter - restartsBefore,
      reportedByInvokePath: gw.events().filter((e) => e.msg === RESTART_MSG).length,
      duringMeasuredRuns: cells.reduce((n, c) => n + c.restartsDuringRun, 0),
    };

    const comparisons: Comparison[] = [1, 50].map((connections) => {
      const d = cells.find((c) => c.connections === connections && c.target === 'direct')!;
      const g = cells.find((c) => c.connections === connections && c.target === 'gateway')!;
      const ratio = g.requestsPerSecond / d.requestsPerSecond;
      const addedP50Ms = g.p50Ms - d.p50Ms;
      return { connections, ratio, ratioPass: ratio >= TARGET_RATIO, addedP50Ms, addedP50Pass: addedP50Ms <= TARGET_ADDED_P50_MS, addedP99Ms: g.p99Ms - d.p99Ms };
    });
    await gw.stop();

    let profile: ({ file: string } & ReturnType<typeof summarizeProfile>) | undefined;
    if (opts.cpuProf) {
      const profDir = join(RESULTS_DIR, 'profiles');
      mkdirSync(profDir, { recursive: true });
      const before = new Set(readdirSync(profDir));
      const profPort = await freePort();
      say(`profiling: kss up under --cpu-prof, gateway at 50 connections for ${opts.duration}s`);
      const profData = join(scratch, 'data-prof');
      const pgw = await startGatewayProcess({ kssBin: KSS_BIN, port: profPort, dataDir: profData, cwd: scratch, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=100'] });
      gateways.push(pgw);
      const pclient = new KssClient({ gateway: pgw.url, fetch: adminFetch(profData) });
      await deploy(pclient, name, form, scratch);
      const purl = `${pgw.url}/function/${name}`;
      await check(purl, invokeHeaders);
      await runLoad(gen, { url: purl, connections: 50, threads: 2, headers: invokeHeaders, scratchDir: scratch, durationSeconds: opts.warmup });
      await sleep(300);
      await pclient.waitReady(name, { timeoutMs: 30_000 });
      const fromUs = Number(process.hrtime.bigint() / 1000n);
      validate(await runLoad(gen, { url: purl, connections: 50, threads: 2, headers: invokeHeaders, scratchDir: scratch, durationSeconds: opts.duration }), 'profiled run');
      const toUs = Number(process.hrtime.bigint() / 1000n);
      await pgw.stop(15_000);
      // Only the gateway process writes here (replicas are started without --cpu-prof).
      const written = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile') && !before.has(f));
      if (written.length === 0) throw new Error(`kss up wrote no CPU profile to ${profDir}`);
      const file = join(profDir, written.sort().at(-1)!);
      profile = { file: relative(ROOT, file), ...summarizeProfile(file, 25, fromUs, toUs) };
    }

    const out: string[] = [];
    out.push('## Warm invocation: gateway vs direct to the replica');
    out.push('');
    out.push(`- Machine: ${host.cpuModel}, ${host.cores} cores, ${host.ramGiB} GiB RAM; Node ${host.node}`);
    out.push(`- Load generator: ${host.loadGenerator} (GET, warm-up ${opts.warmup}s + measured ${opts.duration}s per row; 1 thread at 1 connection, 2 at 50)`);
    out.push(`- Function: trivial Node handler, ${HANDLERS[form].describe}, one replica` +
      (forms.length > 1 ? ` (faster form in a direct probe at 50 connections: web ${rps(probes.web!)} req/s, OpenFaaS ${rps(probes.openfaas!)} req/s)` : ''));
    out.push(`- Direct = GET ${first.origin}/ (the replica's own port; re-read before each run); gateway = GET /function/${name}` +
      (invokeHeaders.authorization ? ' (the gateway requires credentials to invoke: both targets get the same Authorization header)' : ', no credentials'));
    out.push('');
    out.push(table(cells, comparisons));
    out.push('');
    out.push(`Targets: gateway ≥ ${TARGET_RATIO}× direct req/s and ≤ ${TARGET_ADDED_P50_MS} ms added p50 at each connection count.`);
    if (replicaRestarts.total > 0) {
      out.push('');
      out.push(`Warning: the gateway restarted the replica ${replicaRestarts.total} time(s) during this run (${replicaRestarts.duringMeasuredRuns} inside a measured window). ` +
        'It happens when the load generator stops with requests in flight: the gateway takes the client going away for a replica failure ' +
        '(ERR_STREAM_PREMATURE_CLOSE → KSS_REPLICA_FAILED → reportFailure → SIGKILL). Every run above started only once the replica was ready again.');
    }
    if (profile) {
      const rows = (list: ProfileRow[]) => list.map((t) => `| ${t.ms.toFixed(0)} | ${(t.share * 100).toFixed(1)}% | ${t.fn.replace(/\|/g, '\\|')} | ${t.where} |`);
      out.push('');
      out.push(`### Gateway CPU profile, GET /function/${name} at 50 connections (${profile.file})`);
      out.push('');
      out.push(`${profile.totalMs.toFixed(0)} ms of samples ${profile.windowed ? 'inside the measured run' : 'over the whole process (window not found)'}; under the profiler, so slower than the table. Top self time:`);
      out.push('');
      out.push('| self ms | share | function | where |');
      out.push('|---:|---:|---|---|');
      out.push(...rows(profile.self));
      out.push('');
      out.push('Our code (dist/src), inclusive time:');
      out.push('');
      out.push('| total ms | share | function | where |');
      out.push('|---:|---:|---|---|');
      out.push(...rows(profile.oursInclusive));
    }
    const resultsFile = writeResults({
      benchmark: 'invoke',
      date: new Date().toISOString(),
      machine: host,
      config: { warmupSeconds: opts.warmup, durationSeconds: opts.duration, method: 'GET', loadGenerator: gen.kind, invokeWithAuthorization: Boolean(invokeHeaders.authorization) },
      handler: { form, source: HANDLERS[form].source.trim(), probeRequestsPerSecond: probes },
      targets: { minRatio: TARGET_RATIO, maxAddedP50Ms: TARGET_ADDED_P50_MS },
      results: cells.map(({ url: _url, ...c }) => c),
      comparisons,
      replicaRestarts,
      profile,
    });
    out.push('');
    out.push(`Results: ${relative(ROOT, resultsFile)}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`invoke bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    const last = gateways.at(-1);
    if (last?.logs().trim()) process.stderr.write(`--- gateway log (tail) ---\n${last.logs().slice(-4000)}\n`);
    return 1;
  } finally {
    await stopAll();
    clearTimeout(watchdog);
    rmSync(scratch, { recursive: true, force: true });
  }
}

process.exitCode = await main();
