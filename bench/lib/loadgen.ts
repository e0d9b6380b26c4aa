/**
 * One HTTP load generator run as a separate process, bounded in time: `wrk` (Debian's
 * package) when installed, else autocannon (a devDependency) through its CLI. Both
 * report the same shape, so a benchmark does not care which one ran.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface LoadGenerator {
  kind: 'wrk' | 'autocannon';
  /** e.g. `wrk debian/4.1.0-3+b2 [epoll]` or `autocannon 8.0.0`. */
  version: string;
  /** The executable run. */
  command: string;
}

export interface LoadOptions {
  url: string;
  connections: number;
  /** Threads (wrk) or workers (autocannon; 0 = the CLI's own event loop). */
  threads: number;
  durationSeconds: number;
  method?: 'GET' | 'POST';
  /** Extra request headers (e.g. Authorization), the same on every request. */
  headers?: Record<string, string>;
  /** Where a temporary Lua script may be written (wrk only). */
  scratchDir: string;
}

export interface LoadResult {
  requests: number;
  durationSeconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx/3xx answers. */
  badStatus: number;
  /** Connect, read, write errors and timeouts. */
  socketErrors: number;
}

const WRK_PATHS = ['/usr/bin/wrk', '/usr/local/bin/wrk'];

/** Finds wrk, else autocannon under `root`'s node_modules; undefined when neither exists. */
export function findLoadGenerator(root: string): LoadGenerator | undefined {
  const wrk = WRK_PATHS.find((p) => existsSync(p));
  if (wrk) {
    // `wrk -v` prints its banner and exits 1.
    const r = spawnSync(wrk, ['-v'], { encoding: 'utf8', timeout: 5_000 });
    const banner = `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0]!.replace(/\s+Copyright.*$/, '').trim();
    return { kind: 'wrk', version: banner || 'wrk (unknown version)', command: wrk };
  }
  const cli = join(root, 'node_modules', '.bin', 'autocannon');
  const pkg = join(root, 'node_modules', 'autocannon', 'package.json');
  if (existsSync(cli) && existsSync(pkg)) {
    const version = (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
    return { kind: 'autocannon', version: `autocannon ${version}`, command: cli };
  }
  return undefined;
}

/** Runs one load; rejects when the generator fails, prints nothing parsable, or overruns its time. */
export function runLoad(gen: LoadGenerator, opts: LoadOptions): Promise<LoadResult> {
  return gen.kind === 'wrk' ? runWrk(gen, opts) : runAutocannon(gen, opts);
}

// wrk's `done` hook: latency percentiles are in microseconds, duration too.
const WRK_LUA = `
wrk.method = os.getenv("KSS_BENCH_METHOD") or "GET"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("KSS_RESULT %d %d %d %d %d %d\\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
`;

async function runWrk(gen: LoadGenerator, opts: LoadOptions): Promise<LoadResult> {
  const script = join(opts.scratchDir, 'kss-bench.lua');
  if (!existsSync(script)) writeFileSync(script, WRK_LUA);
  const args = [
    '-t', String(Math.max(1, Math.min(opts.threads, opts.connections))),
    '-c', String(opts.connections),
    '-d', `${opts.durationSeconds}s`,
    '--timeout', '5s',
    '-s', script,
    ...Object.entries(opts.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
    opts.url,
  ];
  const out = await runBounded(gen.command, args, opts.durationSeconds, { KSS_BENCH_METHOD: opts.method ?? 'GET' });
  const m = /KSS_RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(out);
  if (!m) throw new Error(`wrk printed no result:\n${out.slice(-2000)}`);
  const [requests, durationUs, p50Us, p99Us, badStatus, socketErrors] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const durationSeconds = durationUs / 1e6;
  return { requests, durationSeconds, requestsPerSecond: requests / durationSeconds, p50Ms: p50Us / 1000, p99Ms: p99Us / 1000, badStatus, socketErrors };
}

interface AutocannonJson {
  duration: number;
  requests: { total: number; average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

async function runAutocannon(gen: LoadGenerator, opts: LoadOptions): Promise<LoadResult> {
  const args = ['--json', '-c', String(opts.connections), '-d', String(opts.durationSeconds), '-t', '5', '-m', opts.method ?? 'GET'];
  if (opts.threads > 1) args.push('-w', String(opts.threads));
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}=${v}`);
  args.push(opts.url);
  const out = await runBounded(gen.command, args, opts.durationSeconds, {});
  const line = out.split('\n').find((l) => l.trimStart().startsWith('{'));
  if (!line) throw new Error(`autocannon printed no JSON:\n${out.slice(-2000)}`);
  const j = JSON.parse(line) as AutocannonJson;
  return {
    requests: j.requests.total,
    durationSeconds: j.duration,
    requestsPerSecond: j.requests.total / j.duration,
    p50Ms: j.latency.p50,
    p99Ms: j.latency.p99,
    badStatus: j.non2xx,
    socketErrors: j.errors + j.timeouts,
  };
}

/** Runs a command for about `seconds`; SIGTERM after seconds + 10, SIGKILL 2 s later. Resolves stdout (+ stderr on failure). */
function runBounded(command: string, args: string[], seconds: number, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    let overran = false;
    let kill: NodeJS.Timeout | undefined;
    const term = setTimeout(() => {
      overran = true;
      child.kill('SIGTERM');
      kill = setTimeout(() => child.kill('SIGKILL'), 2_000);
    }, (seconds + 10) * 1000);
    child.once('error', (err) => {
      clearTimeout(term);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(term);
      if (kill) clearTimeout(kill);
      if (overran) reject(new Error(`${command} overran ${seconds + 10}s and was stopped`));
      else if (code !== 0) reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}:\n${(stdout + stderr).slice(-2000)}`));
      else resolve(stdout);
    });
  });
}
