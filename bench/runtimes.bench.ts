/**
 * Runtimes: cold start and warm throughput of a trivial handler in each runtime.
 *
 * What it measures, per runtime (node, python, go, exec, http: whichever this build
 * registers in both `DEFAULT_LAUNCHERS` and `DEFAULT_BUILDERS`; the others get a
 * "not available" row):
 *
 * - **start → ready**: the function is built once through the real `BuildService`
 *   (a `CodeStore` in a temp dir, the archive packed with `packDirectory`), then its
 *   replica process is spawned directly, as the local provider's supervisor does it
 *   (`Replica#startOnce`: the runtime's `Launcher`, PATH/LANG/TZ passed through,
 *   PORT, HOST=127.0.0.1, KSS_* variables, the launcher's env, cwd = the artifact,
 *   a stdin pipe held open), and timed from just before `spawn()` to the first 200
 *   from `GET /ready`, polled every 1 ms. Each process is SIGKILLed (its whole
 *   process group) and reaped before the next start. A few unmeasured starts come
 *   first so page cache misses do not land in the numbers, and the rows are measured
 *   round-robin (one start of each per round) so other work on the machine drifting
 *   in and out hits every row alike; the 1-minute load average is printed with them. p50/p99 are nearest-rank
 *   (with fewer than 100 starts, p99 is the slowest start).
 *   The floor row shows what this machine cannot go below for Node: a bare `node -e`
 *   HTTP server (start → first response). With the python runtime, `ref:` rows show
 *   what the interpreter's own start costs: python3 as found on PATH (often a version
 *   manager's shim), the real interpreter, and the real one with `-S` (no `site`), each
 *   serving with the stdlib http.server.
 * - **warm requests/s through the gateway**: `kss up` runs as its own process on
 *   127.0.0.1; each function is deployed through the SDK with exactly one replica and
 *   loaded with wrk (`GET /function/NAME`, 1 thread, 10 connections, warm-up then a
 *   measured run), one runtime at a time (the previous one is removed first), and the
 *   ratio to the Node (OpenFaaS form) row is printed.
 *
 * Targets (this 2-core machine): Node and Python ready in ≤ 150 ms, the Go binary in
 * ≤ 20 ms (p50); Python warm throughput ≥ 0.3× Node's. A miss is reported, not fatal:
 * the process exits non-zero only when something could not be measured (no load
 * generator, the platform did not start, a registered runtime failed to build, start,
 * or answered errors under load); the table and JSON are still written.
 *
 * Everything runs on loopback, bounded in time (a watchdog stops the run), and every
 * process started here is killed at the end, also on error or Ctrl-C.
 * Results also go to `bench/results/runtimes.json`.
 *
 * Usage: `node dist/bench/runtimes.bench.js [--starts N] [--warmup S] [--duration S] [--only node,python,…] [--no-load]`
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { packDirectory } from '../src/archive/index.js';
import { BuildService, DEFAULT_BUILDERS } from '../src/build/index.js';
import { KssClient } from '../src/client/index.js';
import { parseFunctionSpec, RUNTIMES, type FunctionSpec, type Runtime } from '../src/core/index.js';
import { DEFAULT_LAUNCHERS, type Artifact, type LaunchCommand } from '../src/providers/local/index.js';
import { freePort } from '../src/providers/local/ports.js';
import { createCodeStore } from '../src/store/index.js';
import { adminAuthorization, adminFetch, checkOk, machine, validateLoad, writeResultsFile } from './lib/bench-common.js';
import { startGatewayProcess, type GatewayProcess } from './lib/gateway-process.js';
import { findLoadGenerator, runLoad, type LoadResult } from './lib/loadgen.js';

// dist/bench/runtimes.bench.js → the package root.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KSS_BIN = join(ROOT, 'bin', 'kss.js');
const RESULTS_DIR = join(ROOT, 'bench', 'results');

/** What `Replica#startOnce` passes through from the gateway's environment (kept in step with replica.ts). */
const PASSTHROUGH_ENV = ['PATH', 'LANG', 'TZ', 'SYSTEMROOT'];
/** The supervisor's default SIGTERM grace, handed to the launcher. */
const GRACE_MS = 10_000;
/** Unmeasured starts before the measured ones (page cache, first exec of a binary). */
const WARM_STARTS = 3;
/** A start slower than this is a failure, not a sample. */
const START_TIMEOUT_MS = 15_000;
/** Python's warm throughput target, as a share of Node's. */
const PYTHON_MIN_RATIO = 0.3;
const LOAD_CONNECTIONS = 10;

interface Fixture {
  /** Row label. */
  row: string;
  runtime: Runtime;
  /** Files of the function (path → content); empty: deployed without code when the runtime allows it. */
  files: Record<string, string>;
  spec?: Record<string, unknown>;
  /** Shown under the table. */
  describe: string;
  /** start → ready p50 target, ms. */
  targetMs?: number;
  /** The row other rows' throughput is compared with. */
  reference?: boolean;
}

const GO_HANDLER = `package main

import "net/http"

func Handle(w http.ResponseWriter, r *http.Request) {
	w.Write([]byte("ok"))
}
`;

const FIXTURES: Fixture[] = [
  {
    row: 'node',
    runtime: 'node',
    files: { 'handler.js': "module.exports = async () => 'ok';\n" },
    describe: "`module.exports = async () => 'ok'` (OpenFaaS form) in handler.js",
    targetMs: 150,
    reference: true,
  },
  {
    row: 'node (web form)',
    runtime: 'node',
    files: { 'handler.js': "export default async () => 'ok';\n" },
    describe: "`export default async () => 'ok'` (web Request form) in handler.js, as `kss new --lang node` writes it",
    targetMs: 150,
  },
  {
    row: 'python',
    runtime: 'python',
    files: { 'handler.py': 'def handle(event, context):\n    return "ok"\n' },
    describe: '`def handle(event, context): return "ok"` in handler.py',
    targetMs: 150,
  },
  {
    row: 'go',
    runtime: 'go',
    files: { 'handler.go': GO_HANDLER, 'go.mod': 'module handler\n\ngo 1.19\n' },
    describe: '`func Handle(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }` (package main) in handler.go, plus go.mod',
    targetMs: 20,
  },
  {
    row: 'exec',
    runtime: 'exec',
    files: {},
    spec: { envProcess: 'echo ok' },
    describe: "`envProcess: 'echo ok'`, no code (reply `ok\\n`)",
  },
  {
    row: 'http',
    runtime: 'http',
    files: { 'server.js': "require('http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), process.env.HOST);\n" },
    spec: { envProcess: 'node server.js' },
    describe: "a tiny Node server, `require('http').createServer((q, s) => s.end('ok'))` in server.js, `envProcess: 'node server.js'`",
  },
];

interface StartStats {
  n: number;
  p50Ms: number;
  p99Ms: number;
  minMs: number;
  maxMs: number;
  meanMs: number;
  samplesMs: number[];
  /** What the process itself reported as its start time ("… in N ms" in its ready line), median, when it prints one. */
  selfReportedP50Ms?: number;
}

interface Row {
  row: string;
  runtime: Runtime | 'floor';
  status: 'ok' | 'not available' | 'error';
  describe: string;
  command?: string;
  build?: { ms: number; cached: boolean };
  start?: StartStats;
  targetMs?: number;
  startPass?: boolean;
  warm?: LoadResult & { warmupRequestsPerSecond: number; replicaRestarts: number };
  ratioVsNode?: number;
  ratioPass?: boolean;
  errors: string[];
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      starts: { type: 'string', default: '30' },
      warmup: { type: 'string', default: '2' },
      duration: { type: 'string', default: '6' },
      only: { type: 'string' },
      'no-load': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const starts = Number(values.starts);
  const warmup = Number(values.warmup);
  const duration = Number(values.duration);
  if (!Number.isInteger(starts) || starts < 20 || starts > 500) throw new Error('--starts: a whole number, 20-500');
  if (!Number.isInteger(warmup) || warmup < 1 || warmup > 30) throw new Error('--warmup: whole seconds, 1-30');
  if (!Number.isInteger(duration) || duration < 1 || duration > 60) throw new Error('--duration: whole seconds, 1-60');
  const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean);
  for (const r of only ?? []) if (!(RUNTIMES as readonly string[]).includes(r)) throw new Error(`--only: "${r}" is not a runtime (${RUNTIMES.join(', ')})`);
  return { starts, warmup, duration, only: only as Runtime[] | undefined, load: !values['no-load'] };
}

const sleep = (msec: number) => new Promise((r) => setTimeout(r, msec));
const fmt = (v: number | undefined, digits = 1) => (v === undefined ? '' : v.toFixed(digits));
const rps = (v: number) => Math.round(v).toLocaleString('en-US');
const mark = (pass: boolean) => (pass ? 'PASS' : 'MISS');
const errText = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n').slice(0, 6).join(' ⏎ ');

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function stats(samples: number[], selfReported: number[]): StartStats {
  const sorted = [...samples].sort((a, b) => a - b);
  const self = [...selfReported].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    minMs: sorted[0]!,
    maxMs: sorted.at(-1)!,
    meanMs: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    samplesMs: samples.map((s) => Math.round(s * 1000) / 1000),
    ...(self.length ? { selfReportedP50Ms: percentile(self, 50) } : {}),
  };
}

/** One `GET path`; resolves the status (0 when refused or failed), never rejects. */
function probe(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', agent: false, timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** Every process this run spawned directly, so they can be killed on any exit. */
const children = new Set<ChildProcess>();

function killGroup(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL'); // the whole group: a launcher's shell and what it started
  } catch {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

interface LaunchSpec {
  command: string;
  args: string[];
  cwd: string;
  /** Environment besides PATH/LANG/TZ and PORT/HOST. */
  env: Record<string, string>;
  /** Path polled until it answers 200. */
  readyPath: string;
}

/** Spawns once, polls every 1 ms until `readyPath` answers 200, kills the process group and reaps it. */
async function startOnce(launch: LaunchSpec): Promise<{ ms: number; selfReportedMs?: number }> {
  const port = await freePort();
  const env: Record<string, string> = {};
  for (const key of PASSTHROUGH_ENV) if (process.env[key] !== undefined) env[key] = process.env[key]!;
  Object.assign(env, launch.env, { PORT: String(port), HOST: '127.0.0.1' });
  let output = '';
  let exitReason: string | undefined;
  const t0 = performance.now();
  const child = spawn(launch.command, launch.args, { cwd: launch.cwd, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  children.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once('error', (err) => {
      exitReason = `failed to start: ${err.message}`;
      resolve();
    });
    child.once('exit', (code, signal) => {
      exitReason ??= signal ? `killed by ${signal}` : `exited with code ${code}`;
      resolve();
    });
  });
  child.stdin!.on('error', () => {});
  const keep = (d: Buffer) => {
    if (output.length < 16_384) output += d.toString('utf8');
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  try {
    for (;;) {
      const status = await probe(port, launch.readyPath);
      if (status === 200) {
        const ms = performance.now() - t0;
        // The runtime's own account of its start ("ready … in 41 ms"), when it prints one; give the line a moment to arrive.
        await sleep(2);
        const m = /ready\b[^\n]*?\bin (\d+(?:\.\d+)?) ?ms/i.exec(output);
        return m ? { ms, selfReportedMs: Number(m[1]) } : { ms };
      }
      if (exitReason !== undefined) throw new Error(`the process ${exitReason} before /ready answered 200: ${output.trim().slice(-800) || '(no output)'}`);
      if (performance.now() - t0 > START_TIMEOUT_MS) throw new Error(`not ready after ${START_TIMEOUT_MS} ms (last /ready status ${status}): ${output.trim().slice(-800) || '(no output)'}`);
      await sleep(1);
    }
  } finally {
    killGroup(child);
    await Promise.race([exited, sleep(5_000)]);
    child.stdout!.destroy();
    child.stderr!.destroy();
    child.stdin!.destroy();
    children.delete(child);
  }
}

/**
 * Measures every launch `n` times, round-robin (one start of each per round), so a
 * background load that comes and goes hits all rows alike rather than whichever ran
 * then. A launch whose start fails is dropped from later rounds with its error.
 */
async function measureStartsInterleaved(launches: Array<{ row: Row; launch: LaunchSpec }>, n: number, say: (s: string) => void): Promise<void> {
  const live = new Map<Row, { launch: LaunchSpec; samples: number[]; self: number[] }>();
  for (const { row, launch } of launches) live.set(row, { launch, samples: [], self: [] });
  const fail = (row: Row, err: unknown) => {
    row.status = 'error';
    row.errors.push(`start: ${errText(err)}`);
    say(`${row.row}: ${errText(err)}`);
    live.delete(row);
  };
  for (let i = 0; i < WARM_STARTS; i++) {
    for (const [row, m] of [...live]) await startOnce(m.launch).catch((err) => fail(row, err));
  }
  for (let i = 0; i < n; i++) {
    for (const [row, m] of [...live]) {
      try {
        const r = await startOnce(m.launch);
        m.samples.push(r.ms);
        if (r.selfReportedMs !== undefined) m.self.push(r.selfReportedMs);
      } catch (err) {
        fail(row, err);
      }
    }
  }
  for (const [row, m] of live) {
    row.start = stats(m.samples, m.self);
    if (row.targetMs !== undefined) row.startPass = row.start.p50Ms <= row.targetMs;
  }
}

function launchSpecFor(fixture: Fixture, spec: FunctionSpec, artifact: Artifact, launch: LaunchCommand): LaunchSpec {
  return {
    command: launch.command,
    args: launch.args,
    cwd: artifact.dir,
    env: {
      ...(spec.envVars ?? {}),
      ...launch.env,
      KSS_FUNCTION_NAME: spec.service,
      KSS_FUNCTION_NAMESPACE: spec.namespace,
      KSS_INSTANCE: `${spec.service}-bench`,
      KSS_PARENT_PIPE: '1',
    },
    readyPath: '/ready',
  };
}

/** The interpreter a bare command name resolves to on PATH, and what it really runs (a pyenv shim is a bash script). */
function resolveCommand(name: string): { onPath?: string; real?: string } {
  const which = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8', timeout: 5_000 });
  const onPath = which.status === 0 ? which.stdout.trim() : undefined;
  let real: string | undefined;
  if (onPath && /python/.test(name)) {
    const r = spawnSync(onPath, ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8', timeout: 10_000 });
    real = r.status === 0 ? r.stdout.trim() : undefined;
  }
  return { onPath, real };
}

function versionOf(command: string, args: string[]): string | undefined {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return undefined;
  return `${r.stdout}${r.stderr}`.split('\n')[0]!.trim() || undefined;
}

function writeFunctionDir(parent: string, fixture: Fixture, files: Record<string, string>): string {
  const dir = mkdtempSync(join(parent, `fn-${fixture.runtime}-`));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** A function without code (exec's `envProcess` only) still needs a folder when the build insists on code. */
const PLACEHOLDER_FILES = { 'README.md': 'Runs envProcess; no code of its own.\n' };

function table(rows: Row[], load: boolean): string {
  const lines = [
    '| runtime | start→ready p50 ms | p99 ms | target | start | warm req/s via gateway | p50 ms | ratio vs node |',
    '|---|---:|---:|---:|---|---:|---:|---:|',
  ];
  for (const r of rows) {
    if (r.status === 'not available') {
      lines.push(`| ${r.row} | not available | | | | | | |`);
      continue;
    }
    const s = r.start;
    const target = r.targetMs !== undefined ? `≤ ${r.targetMs}` : '—';
    const pass = r.startPass === undefined ? '—' : mark(r.startPass);
    let warm = r.runtime === 'floor' || !load ? '—' : r.warm ? rps(r.warm.requestsPerSecond) : 'error';
    if (r.warm?.replicaRestarts) warm += ` (replica restarted ×${r.warm.replicaRestarts})`;
    const p50 = r.warm ? fmt(r.warm.p50Ms, 2) : r.runtime === 'floor' || !load ? '—' : '';
    let ratio = r.ratioVsNode !== undefined ? `${r.ratioVsNode.toFixed(2)}×` : r.runtime === 'floor' || !load ? '—' : '';
    if (r.ratioPass !== undefined) ratio += ` ${mark(r.ratioPass)} (≥ ${PYTHON_MIN_RATIO}×)`;
    const startCell = s ? fmt(s.p50Ms) : r.status === 'error' ? 'error' : '';
    lines.push(`| ${r.row} | ${startCell} | ${s ? fmt(s.p99Ms) : ''} | ${target} | ${pass} | ${warm} | ${p50} | ${ratio} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<number> {
  const opts = parseOptions();
  const gen = findLoadGenerator(ROOT);
  if (opts.load && !gen) {
    process.stderr.write('runtimes bench: no load generator: install wrk (apt-get install wrk) or run `npm install` for autocannon, or pass --no-load\n');
    return 1;
  }
  const host = gen ? machine(gen) : { ...machine({ kind: 'wrk', version: 'none', command: '' }), loadGenerator: 'none' };
  const scratch = mkdtempSync(join(tmpdir(), 'kss-bench-runtimes-'));
  const gateways: GatewayProcess[] = [];
  const stopAll = async () => {
    for (const c of children) killGroup(c);
    await Promise.all(gateways.map((g) => g.stop(5_000)));
  };
  const onSignal = () => {
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => {
    for (const c of children) killGroup(c);
    for (const g of gateways) if (g.child.exitCode === null && g.child.signalCode === null) g.child.kill('SIGKILL');
  });
  // Hard bound on the whole run: builds, starts, a gateway, one load per runtime.
  const budgetS = 150 + FIXTURES.length * (opts.starts * 0.5 + (opts.load ? opts.warmup + opts.duration + 25 : 0));
  const watchdog = setTimeout(() => {
    process.stderr.write(`runtimes bench: still running after ${Math.round(budgetS)}s: giving up\n`);
    void stopAll().finally(() => process.exit(1));
  }, budgetS * 1000);
  watchdog.unref();

  const say = (s: string) => process.stderr.write(`[runtimes bench] ${s}\n`);
  const rows: Row[] = [];
  const wanted = FIXTURES.filter((f) => !opts.only || opts.only.includes(f.runtime));
  try {
    // ---- Build once, through the real build service, in a temp data dir. -------------------------------
    // One Go build cache for this process's builds and the gateway's (which inherits the environment):
    // the first Go build compiles net/http (tens of seconds on 2 cores), the gateway's then reuses it.
    process.env.KSS_GO_CACHE ??= join(scratch, 'go-cache');
    const code = createCodeStore({ dir: join(scratch, 'build', 'code') });
    const builds = new BuildService({ dir: join(scratch, 'build', 'builds'), code, builders: DEFAULT_BUILDERS, logger: pino({ level: 'silent' }) });
    const registered = RUNTIMES.filter((r) => DEFAULT_LAUNCHERS[r] && DEFAULT_BUILDERS[r]);
    say(`runtimes registered in this build: ${registered.join(', ') || 'none'}`);

    const floors: Row[] = [];
    const prepared: Array<{ fixture: Fixture; row: Row; files: Record<string, string>; withCode: boolean }> = [];
    const launches: Array<{ row: Row; launch: LaunchSpec }> = [];
    for (const fixture of wanted) {
      const row: Row = { row: fixture.row, runtime: fixture.runtime, status: 'ok', describe: fixture.describe, errors: [], ...(fixture.targetMs ? { targetMs: fixture.targetMs } : {}) };
      rows.push(row);
      const launcher = DEFAULT_LAUNCHERS[fixture.runtime];
      if (!launcher || !DEFAULT_BUILDERS[fixture.runtime]) {
        row.status = 'not available';
        row.errors.push(`not registered (${!launcher ? 'no launcher in DEFAULT_LAUNCHERS' : 'no builder in DEFAULT_BUILDERS'})`);
        continue;
      }
      try {
        // No files: try without code first (exec with only envProcess), then with a placeholder folder if the build insists.
        const attempts = Object.keys(fixture.files).length ? [fixture.files] : [undefined, PLACEHOLDER_FILES];
        let built: { spec: FunctionSpec; artifact: Artifact; files: Record<string, string>; withCode: boolean } | undefined;
        let lastErr: unknown;
        for (const files of attempts) {
          try {
            const digest = files ? (await code.put(await packDirectory(writeFunctionDir(scratch, fixture, files)))).digest : undefined;
            const spec = parseFunctionSpec({ service: `bench-${fixture.row.replace(/[^a-z0-9]+/g, '-').replace(/-+$/, '')}`, runtime: fixture.runtime, ...(digest ? { code: digest } : {}), ...fixture.spec });
            const t0 = performance.now();
            const outcome = await builds.ensureBuilt(spec);
            row.build = { ms: Math.round(performance.now() - t0), cached: outcome.cached };
            built = { spec, artifact: { dir: outcome.dir, ...(outcome.handler ? { handler: outcome.handler } : {}) }, files: files ?? {}, withCode: Boolean(files) };
            break;
          } catch (err) {
            lastErr = err;
          }
        }
        if (!built) throw lastErr;
        const launch = launcher(built.spec, built.artifact, GRACE_MS);
        row.command = [launch.command, ...launch.args].map((a) => (a.startsWith(ROOT) ? relative(ROOT, a) : a)).join(' ');
        say(`${fixture.row}: built in ${row.build!.ms} ms${row.build!.cached ? ' (cached)' : ''}; launched as ${row.command}`);
        launches.push({ row, launch: launchSpecFor(fixture, built.spec, built.artifact, launch) });
        prepared.push({ fixture, row, files: built.files, withCode: built.withCode });
      } catch (err) {
        row.status = 'error';
        row.errors.push(`build: ${errText(err)}`);
        say(`${fixture.row}: ${errText(err)}`);
      }
    }

    // ---- Floor: a bare Node HTTP server, start → first response; for Python, what the interpreter's own ----
    // start costs (a PATH shim, `site`) with the stdlib http.server (which the runtime avoids: it is heavier).
    const floorLaunches: Array<{ row: string; describe: string; command: string; args: string[] }> = [
      {
        row: 'floor: bare node http server',
        describe: "`node -e \"require('http').createServer((q,s)=>s.end('ok')).listen(process.env.PORT,'127.0.0.1')\"`, start → first response",
        command: process.execPath,
        args: ['-e', "require('http').createServer((q,s)=>s.end('ok')).listen(process.env.PORT,'127.0.0.1')"],
      },
    ];
    if (wanted.some((f) => f.runtime === 'python') && DEFAULT_LAUNCHERS.python) {
      const py = resolveCommand('python3');
      const pyServer = [
        '-c',
        "import http.server, os\nclass H(http.server.BaseHTTPRequestHandler):\n  def do_GET(s):\n    s.send_response(200); s.send_header('Content-Length','2'); s.end_headers(); s.wfile.write(b'ok')\nhttp.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()",
      ];
      if (py.onPath) {
        const viaShim = py.real !== undefined && realpathSync(py.real) !== realpathSync(py.onPath);
        floorLaunches.push({
          row: `ref: python3 + http.server (${viaShim ? 'python3 on PATH, a shim' : 'python3 on PATH'})`,
          describe: `\`${py.onPath}\` serving ok with http.server, start → first response${viaShim ? ` (a version manager's shim that ends up running ${py.real})` : ''}`,
          command: py.onPath,
          args: pyServer,
        });
        const real = viaShim ? py.real! : py.onPath;
        if (viaShim) {
          floorLaunches.push({ row: 'ref: python3 + http.server (real interpreter)', describe: `the same server run by \`${real}\` directly`, command: real, args: pyServer });
        }
        floorLaunches.push({ row: 'ref: python3 -S + http.server (real interpreter)', describe: `the same with \`${real} -S\` (no site import, as the python launcher runs)`, command: real, args: ['-S', ...pyServer] });
      }
    }
    for (const f of floorLaunches) {
      const row: Row = { row: f.row, runtime: 'floor', status: 'ok', describe: f.describe, command: [f.command, ...f.args.map((a) => (a.includes('\n') || a.includes(' ') ? JSON.stringify(a) : a))].join(' '), errors: [] };
      floors.push(row);
      launches.push({ row, launch: { command: f.command, args: f.args, cwd: scratch, env: {}, readyPath: '/' } });
    }
    say(`measuring ${opts.starts} starts of each of ${launches.length} rows, round-robin`);
    const loadBeforeStarts = loadavg()[0]!;
    await measureStartsInterleaved(launches, opts.starts, say);
    const loadAfterStarts = loadavg()[0]!;
    // Only rows that started are worth loading through the gateway.
    for (let i = prepared.length - 1; i >= 0; i--) if (!prepared[i]!.row.start) prepared.splice(i, 1);

    // ---- Warm throughput through the gateway, one runtime at a time. ------------------------------------
    let invokeWithAuthorization = false;
    if (opts.load && gen && prepared.length) {
      const port = await freePort();
      say(`starting kss up on 127.0.0.1:${port}`);
      const dataDir = join(scratch, 'data');
      const gw = await startGatewayProcess({ kssBin: KSS_BIN, port, dataDir, cwd: scratch });
      gateways.push(gw);
      const client = new KssClient({ gateway: gw.url, fetch: adminFetch(dataDir) });
      let invokeHeaders: Record<string, string> | undefined;
      for (const { fixture, row, files, withCode } of prepared) {
        const name = `bench-${fixture.row.replace(/[^a-z0-9]+/g, '-').replace(/-+$/, '')}`;
        try {
          const digest = withCode ? (await client.uploadCode(await packDirectory(writeFunctionDir(scratch, fixture, files)))).digest : undefined;
          say(`${fixture.row}: deploying ${name} (1 replica)`);
          await client.deploy({
            service: name,
            runtime: fixture.runtime,
            ...(digest ? { code: digest } : {}),
            ...fixture.spec,
            labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '1' },
          });
          await client.waitReady(name, { timeoutMs: 120_000 });
          const url = `${gw.url}/function/${name}`;
          if (!invokeHeaders) {
            // Invoke without credentials, as a public function's caller does; only if the gateway insists, with the admin's.
            const first = await fetch(url, { signal: AbortSignal.timeout(10_000) });
            await first.arrayBuffer();
            invokeHeaders = first.status === 401 ? { authorization: adminAuthorization(dataDir) ?? '' } : {};
            invokeWithAuthorization = Boolean(invokeHeaders.authorization);
          }
          await checkOk(url, invokeHeaders);
          const restartsBefore = (await client.getFunction(name)).instances?.reduce((n, i) => n + (i.restarts ?? 0), 0) ?? 0;
          say(`${fixture.row}: wrk ${LOAD_CONNECTIONS} connections, warm-up ${opts.warmup}s + measured ${opts.duration}s`);
          const load = { url, connections: LOAD_CONNECTIONS, threads: 1, headers: invokeHeaders, scratchDir: scratch };
          const warmup = await runLoad(gen, { ...load, durationSeconds: opts.warmup });
          validateLoad(warmup, `${fixture.row} warm-up`);
          await client.waitReady(name, { timeoutMs: 30_000 });
          const measured = await runLoad(gen, { ...load, durationSeconds: opts.duration });
          validateLoad(measured, `${fixture.row} measured run`);
          const restartsAfter = (await client.getFunction(name)).instances?.reduce((n, i) => n + (i.restarts ?? 0), 0) ?? 0;
          row.warm = { ...measured, warmupRequestsPerSecond: warmup.requestsPerSecond, replicaRestarts: restartsAfter - restartsBefore };
        } catch (err) {
          row.status = 'error';
          row.errors.push(`through the gateway: ${errText(err)}`);
          say(`${fixture.row}: ${errText(err)}`);
        } finally {
          // One runtime at a time: the next one does not share the cores with this one's replica.
          await client.removeFunction(name).catch(() => undefined);
          await sleep(200);
        }
      }
      await gw.stop();
      const reference = rows.find((r) => FIXTURES.find((f) => f.row === r.row)?.reference && r.warm);
      for (const r of rows) {
        if (!reference?.warm || !r.warm) continue;
        r.ratioVsNode = r.warm.requestsPerSecond / reference.warm.requestsPerSecond;
        if (r.runtime === 'python') r.ratioPass = r.ratioVsNode >= PYTHON_MIN_RATIO;
      }
    }

    const all = [...rows, ...floors];
    const out: string[] = [];
    out.push('## Runtimes: start → ready and warm throughput of a trivial handler');
    out.push('');
    out.push(`- Machine: ${host.cpuModel}, ${host.cores} cores, ${host.ramGiB} GiB RAM; Node ${host.node}`);
    const tools = [versionOf('python3', ['--version']), versionOf('go', ['version'])].filter(Boolean);
    if (tools.length) out.push(`- Toolchains on PATH: ${tools.join('; ')}`);
    out.push(`- Load average (1 min) before / after the starts: ${loadBeforeStarts.toFixed(2)} / ${loadAfterStarts.toFixed(2)} on ${host.cores} cores` +
      (Math.max(loadBeforeStarts, loadAfterStarts) > host.cores / 2 ? ' (the machine was busy with other work: the numbers are pessimistic and noisier than on a quiet machine)' : ''));
    out.push(`- Start → ready: ${opts.starts} starts per row, interleaved round-robin across rows, after ${WARM_STARTS} unmeasured ones, spawn() → first 200 from GET /ready (floors: GET /), polled every 1 ms, the process spawned as the local provider does it (launcher command, supervisor env, stdin pipe held open), SIGKILLed after each start; p99 is nearest-rank (with < 100 starts: the slowest)`);
    if (opts.load && gen) {
      out.push(`- Warm: ${host.loadGenerator}, GET /function/NAME through \`kss up\`, 1 thread, ${LOAD_CONNECTIONS} connections, warm-up ${opts.warmup}s + measured ${opts.duration}s, exactly 1 replica, one runtime at a time` +
        (invokeWithAuthorization ? ' (the gateway requires credentials to invoke: admin Authorization sent)' : ', no credentials'));
    }
    out.push('');
    out.push(table(all, opts.load && Boolean(gen)));
    out.push('');
    out.push(`Targets: Node and Python ready in ≤ 150 ms, Go in ≤ 20 ms (p50); Python warm throughput ≥ ${PYTHON_MIN_RATIO}× Node's (the \`node\` row).`);
    out.push('');
    out.push('Handlers:');
    for (const r of rows) out.push(`- ${r.row}: ${r.describe}${r.command ? `; launched as \`${r.command}\`` : ''}${r.build ? `; build ${r.build.ms} ms` : ''}`);
    for (const r of floors) out.push(`- ${r.row}: ${r.describe}`);
    const selfRows = all.filter((r) => r.start?.selfReportedP50Ms !== undefined);
    if (selfRows.length) {
      out.push('');
      out.push(`Self-reported start (the runtime's own "ready … in N ms" line, p50): ${selfRows.map((r) => `${r.row} ${fmt(r.start!.selfReportedP50Ms)} ms`).join(', ')}.`);
    }
    const problems = all.filter((r) => r.errors.length && r.status !== 'not available');
    const unavailable = all.filter((r) => r.status === 'not available');
    if (unavailable.length) {
      out.push('');
      out.push(`Not available in this build: ${unavailable.map((r) => `${r.row} (${r.errors.join('; ')})`).join(', ')}.`);
    }
    if (problems.length) {
      out.push('');
      out.push('Errors:');
      for (const r of problems) for (const e of r.errors) out.push(`- ${r.row}: ${e}`);
      if (problems.some((r) => r.errors.some((e) => e.includes(`Cannot find module '${join(ROOT, 'dist')}`)))) {
        out.push('');
        out.push('dist/ was rebuilt (and so briefly missing) while the bench ran: `scripts/build.mjs` rebuilds from clean. Run the bench again once nothing is compiling.');
      }
    }
    const resultsFile = writeResultsFile(RESULTS_DIR, 'runtimes', {
      benchmark: 'runtimes',
      date: new Date().toISOString(),
      machine: host,
      config: {
        starts: opts.starts,
        warmStarts: WARM_STARTS,
        pollIntervalMs: 1,
        warmupSeconds: opts.warmup,
        durationSeconds: opts.duration,
        connections: LOAD_CONNECTIONS,
        threads: 1,
        loadGenerator: gen?.kind ?? null,
        invokeWithAuthorization,
      },
      loadAverage1m: { beforeStarts: loadBeforeStarts, afterStarts: loadAfterStarts, afterLoad: loadavg()[0] },
      targets: { startP50Ms: { node: 150, python: 150, go: 20 }, pythonMinRatioVsNode: PYTHON_MIN_RATIO },
      registered,
      rows: all,
    });
    out.push('');
    out.push(`Results: ${relative(ROOT, resultsFile)}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return problems.length ? 1 : 0;
  } catch (err) {
    process.stderr.write(`runtimes bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
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
