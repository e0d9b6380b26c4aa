/**
 * The cost of the sandbox (issue #6): the same gateway build run twice, replicas
 * isolated (`--sandbox auto`: namespaces, a uid per function, cgroup limits) and not
 * (`--sandbox off`), measuring in each, side by side:
 * - cold start p50/p99 of a Node function from the warm pool, and started afresh
 *   (a NODE_OPTIONS variable keeps it out of the pool);
 * - warm throughput and latency through the gateway with wrk, 1 and 50 connections.
 * Targets: isolation adds ≤ 5 ms to a cold start and costs ≤ 5% of warm throughput.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import pino from 'pino';
import { NODE_COMMAND } from '../src/providers/local/index.js';
import { EXEC_SHIM_ENTRY, pythonCommand } from '../src/providers/local/python-launcher.js';
import { installationOf } from '../src/sandbox/sandbox.js';
import { READY_FD_ENV } from '../src/providers/local/readiness.js';
import { openDatabase } from '../src/store/index.js';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KssClient } from '../src/client/index.js';
import { freePort } from '../src/providers/local/ports.js';
import { probeHost, setUpSandbox } from '../src/sandbox/index.js';
import { adminFetch, machine, percentile, until, uploadFunction, validateLoad, writeResultsFile } from './lib/bench-common.js';
import { startGatewayProcess } from './lib/gateway-process.js';
import { findLoadGenerator, runLoad, type LoadResult } from './lib/loadgen.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KSS = join(ROOT, 'bin', 'kss.js');
// 60, not 30: with 30 a cold start's run-to-run spread (±10 ms at p50 on 2 cores) hid a 1-4 ms difference.
const COLD_STARTS = Number(process.env.KSS_BENCH_COLD_STARTS ?? 60);
// 100, not 40: alternating pairs on this shared 2-core VM still moved the p50 difference by ±3 ms at 40.
const SPAWNS = Number(process.env.KSS_BENCH_SPAWNS ?? 100);
const SECONDS = Number(process.env.KSS_BENCH_SECONDS ?? 6);
const HANDLER = "module.exports = async () => 'ok';";
const ZERO = { 'com.openfaas.scale.zero': 'true', 'com.openfaas.scale.zero-duration': '1h', 'com.openfaas.scale.max': '1' };

interface Row {
  sandbox: 'off' | 'auto';
  pooledP50: number;
  pooledP99: number;
  freshP50: number;
  freshP99: number;
  warm1: LoadResult;
  warm50: LoadResult;
}

async function coldStarts(client: KssClient, url: string, name: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < COLD_STARTS; i++) {
    await client.scale(name, 0);
    await until(async () => ((await client.getFunction(name)).instances?.length ?? 0) === 0, `${name} at zero`);
    // Let the stopped replica exit and the pool refill: on 2 cores they would be measured too.
    await new Promise((r) => setTimeout(r, 300));
    const t = performance.now();
    const res = await fetch(`${url}/function/${name}`);
    out.push(performance.now() - t);
    const body = await res.text();
    if (res.status !== 200 || body !== 'ok') throw new Error(`${name} cold start ${i}: ${res.status} ${body.slice(0, 200)}`);
  }
  return out;
}

async function measure(sandbox: 'off' | 'auto'): Promise<Row> {
  const gen = findLoadGenerator(ROOT);
  if (!gen) throw new Error('no load generator: apt-get install wrk (or npm install autocannon)');
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'kss-bench-sandbox-'));
  const gw = await startGatewayProcess({ kssBin: KSS, port, dataDir, upArgs: ['--sandbox', sandbox, '--warm-pool', '2'] });
  try {
    const client = new KssClient({ gateway: gw.url, fetch: adminFetch(dataDir) });
    const digest = await uploadFunction(client, { 'handler.js': HANDLER });
    const limits = { memory: '256Mi', cpu: '2' };
    await client.deploy({ service: 'sb-pooled', runtime: 'node', code: digest, labels: ZERO, limits });
    await client.deploy({ service: 'sb-fresh', runtime: 'node', code: digest, labels: ZERO, limits, envVars: { NODE_OPTIONS: '--max-old-space-size=200' } });
    // One replica, so the load measures the data path, not the autoscaler starting more.
    await client.deploy({ service: 'sb-warm', runtime: 'node', code: digest, limits, labels: { 'com.openfaas.scale.max': '1' } });
    for (const n of ['sb-pooled', 'sb-fresh', 'sb-warm']) await client.waitReady(n, { timeoutMs: 60_000 });

    process.stderr.write(`[sandbox bench] --sandbox ${sandbox}: ${COLD_STARTS} cold starts from the pool, ${COLD_STARTS} fresh, then wrk ${SECONDS} s at 1 and 50 connections\n`);
    const pooled = await coldStarts(client, gw.url, 'sb-pooled');
    const fresh = await coldStarts(client, gw.url, 'sb-fresh');
    const scratchDir = mkdtempSync(join(tmpdir(), 'kss-sb-wrk-'));
    const load = async (connections: number) => {
      const url = `${gw.url}/function/sb-warm`;
      await runLoad(gen, { url, connections, threads: connections > 1 ? 2 : 1, durationSeconds: 2, scratchDir });
      const r = await runLoad(gen, { url, connections, threads: connections > 1 ? 2 : 1, durationSeconds: SECONDS, scratchDir });
      validateLoad(r, `sandbox ${sandbox}, ${connections} connections`);
      return r;
    };
    const warm1 = await load(1);
    const warm50 = await load(50);
    rmSync(scratchDir, { recursive: true, force: true });
    return {
      sandbox,
      pooledP50: percentile(pooled, 50),
      pooledP99: percentile(pooled, 99),
      freshP50: percentile(fresh, 50),
      freshP99: percentile(fresh, 99),
      warm1,
      warm50,
    };
  } finally {
    await gw.stop(5_000);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The sandbox's own cost, without a gateway around it: the Node runtime spawned plain
 * and through `Sandbox.isolate` (prlimit → bwrap → runtime dropping to the uid, in a
 * cgroup with the same limits), alternating, each timed from spawn to its `ready`
 * signal on fd 3. The same command lines the gateway runs. Then bwrap's own floor: the
 * sandbox's command line with `/usr/bin/true` in place of the runtime, against
 * `/usr/bin/true` alone (spawn → exit), twice as many times.
 *
 * Each child gets a stdin pipe and `KSS_PARENT_PIPE=1`, closed once it is ready: the
 * runtime drops to the function's uid itself, which clears the parent-death signal
 * bwrap's `--die-with-parent` set, so SIGKILLing bwrap alone would leave it running.
 */
async function spawnToReady(): Promise<{ plain: number[]; sandboxed: number[]; shim: number[]; truePlain: number[]; trueBwrap: number[] }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kss-bench-spawn-'));
  chmodSync(dataDir, 0o755);
  const code = join(dataDir, 'code');
  mkdirSync(code);
  writeFileSync(join(code, 'handler.js'), HANDLER);
  const db = openDatabase(join(dataDir, 'kss.db'));
  const { sandbox } = setUpSandbox({ mode: 'require', db, dataDir, logger: pino({ level: 'silent' }), readOnlyPaths: [dirname(dirname(NODE_COMMAND.args.at(-1)!)), dirname(EXEC_SHIM_ENTRY), installationOf(pythonCommand().command)] });
  const spec = { service: 'spawn', namespace: 'bench', runtime: 'node', image: 'bench', timeout: 60, limits: { memory: '256Mi', cpu: '2' } } as const;
  const env = { PATH: process.env.PATH ?? '', KSS_CODE_DIR: code, NODE_ENV: 'production', KSS_GRACE_MS: '1000', PORT: '0', HOST: '127.0.0.1', KSS_PARENT_PIPE: '1', ...READY_FD_ENV };
  const once = (command: string, args: readonly string[], extra: Record<string, string>, attach?: (pid: number) => void) => {
    const t = performance.now();
    const child = spawn(command, args, { env: { ...env, ...extra }, stdio: ['pipe', 'ignore', 'pipe', 'pipe'] });
    if (child.pid !== undefined) attach?.(child.pid);
    return readyOf(child, t);
  };
  const readyOf = (child: import('node:child_process').ChildProcess, t: number) =>
    new Promise<number>((resolve, reject) => {
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      let readyAfter: number | undefined;
      child.stdio[3]!.on('data', (d: Buffer) => {
        if (readyAfter !== undefined || !String(d).includes('ready')) return;
        readyAfter = performance.now() - t;
        child.kill('SIGKILL');
        child.stdin!.destroy();
      });
      child.once('exit', (status) => {
        clearTimeout(timer);
        if (readyAfter !== undefined) resolve(readyAfter);
        else reject(new Error(`${child.spawnfile} exited (${status}) before ready: ${stderr.slice(0, 300)}`));
      });
    });
  const exitAfter = (command: string, args: readonly string[]) =>
    new Promise<number>((resolve, reject) => {
      const t = performance.now();
      const child = spawn(command, args, { stdio: 'ignore' });
      child.once('exit', (status) => (status === 0 ? resolve(performance.now() - t) : reject(new Error(`${command} exited ${status}`))));
    });
  const plain: number[] = [];
  const sandboxed: number[] = [];
  const shim: number[] = [];
  // The warm pool's exec shim: started inside the pool's generic sandbox ahead (one per
  // round, idle for the rest of it), then timed from specialise() → execve of the same
  // Node command → ready, as a replica taking it does (src/providers/local/replica.ts).
  const shimCommand = { command: pythonCommand().command, args: ['-S', EXEC_SHIM_ENTRY] };
  const startShim = () => {
    const ps = sandbox!.pooled('exec', shimCommand)!;
    const child = spawn(ps.command, ps.args, { env: { PATH: env.PATH, ...ps.env }, stdio: ['pipe', 'ignore', 'pipe', 'pipe'] });
    child.stdin!.on('error', () => {});
    return { ps, child };
  };
  let nextShim = startShim();
  const truePlain: number[] = [];
  const trueBwrap: number[] = [];
  const launch = { command: NODE_COMMAND.command, args: [...NODE_COMMAND.args], env: {} };
  try {
    for (let i = 0; i < SPAWNS; i++) {
      // Order flipped every pair, so a slow moment of the machine hits both sides alike.
      const sandboxedOnce = async () => {
        // Timed from before isolate(): its cgroup and command line are on a fresh start's path too.
        const t = performance.now();
        const iso = await sandbox!.isolate(spec as never, { dir: code } as never, `spawn-${i}`, launch as never);
        const prep = performance.now() - t;
        sandboxed.push(prep + (await once(iso.command, iso.args, iso.env, (pid) => iso.attach(pid))));
        iso.release?.();
      };
      const plainOnce = async () => plain.push(await once(NODE_COMMAND.command, NODE_COMMAND.args, {}));
      const shimOnce = async () => {
        const { ps, child } = nextShim;
        const t = performance.now();
        const special = (await ps.specialise(spec as never, { dir: code } as never, `shim-${i}`))!;
        const exec = { command: launch.command, args: launch.args, env: { ...env, KSS_CODE_DIR: special.codeDir }, cwd: special.codeDir };
        child.stdin!.write(`${JSON.stringify({ ...special.line, exec })}\n`);
        shim.push(await readyOf(child, t));
        special.start.release();
        nextShim = startShim();
        // Its boot (Python, bwrap) is the pool's background work: let it finish before the next sample.
        await new Promise((r) => setTimeout(r, 300));
      };
      for (const step of i % 2 ? [plainOnce, sandboxedOnce, shimOnce] : [shimOnce, sandboxedOnce, plainOnce]) await step();
    }
    nextShim.child.kill('SIGKILL');
    nextShim.child.stdin!.destroy();
    nextShim.ps.release();
    const iso = await sandbox!.isolate(spec as never, { dir: code } as never, 'spawn-true', launch as never);
    // [prlimit --nofile=N:N --] bwrap <sandbox arguments> -- <runtime>: keep bwrap and its arguments only.
    const line = [iso.command, ...iso.args];
    const at = line.findIndex((a) => a.endsWith('/bwrap'));
    const bwrap = line[at]!;
    const trueArgs = [...line.slice(at + 1, line.lastIndexOf('--')), '--', '/usr/bin/true'];
    iso.release?.();
    for (let i = 0; i < 2 * SPAWNS; i++) {
      const steps = [async () => truePlain.push(await exitAfter('/usr/bin/true', [])), async () => trueBwrap.push(await exitAfter(bwrap, trueArgs))];
      for (const step of i % 2 ? steps : steps.reverse()) await step();
    }
  } finally {
    db.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return { plain, sandboxed, shim, truePlain, trueBwrap };
}

/** Threads running on this host: bwrap's pivot_root walks every one of them (see docs/benchmarks.md). */
function hostThreads(): number {
  let n = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      n += readdirSync(`/proc/${pid}/task`).length;
    } catch {
      // Exited meanwhile.
    }
  }
  return n;
}

async function main(): Promise<void> {
  const host = probeHost();
  if (!host.namespaces.ok || !host.cgroups.ok) {
    process.stdout.write(`## Sandbox cost\n\nSkipped: this host cannot isolate replicas (${!host.namespaces.ok ? host.namespaces.reason : ''} ${!host.cgroups.ok ? host.cgroups.reason : ''}). See \`kss doctor\`.\n`);
    return;
  }
  process.stderr.write(`[sandbox bench] the Node runtime spawned ${SPAWNS} times plain and ${SPAWNS} times sandboxed, alternating\n`);
  const threadsBefore = hostThreads();
  const spawns = await spawnToReady();
  const threads = Math.round((threadsBefore + hostThreads()) / 2);
  if (process.env.KSS_BENCH_SPAWN_ONLY === '1') {
    const pct = (v: number[]) => `p50 ${percentile(v, 50).toFixed(1)} p90 ${percentile(v, 90).toFixed(1)}`;
    process.stdout.write(`spawn → ready, ${SPAWNS} each, ${threads} host threads: plain ${pct(spawns.plain)}; isolate ${pct(spawns.sandboxed)}; exec shim ${pct(spawns.shim)}; true ${pct(spawns.truePlain)}; true via bwrap ${pct(spawns.trueBwrap)}\n`);
    return;
  }
  const off = await measure('off');
  const on = await measure('auto');
  const gen = findLoadGenerator(ROOT)!;
  const m = machine(gen);
  const f = (n: number) => n.toFixed(1);
  const rps = (r: LoadResult) => Math.round(r.requestsPerSecond).toLocaleString('en-US');
  const row = (r: Row) => `| ${r.sandbox === 'off' ? 'off (plain processes)' : 'on (namespaces, uid, cgroups)'} | ${f(r.pooledP50)} | ${f(r.pooledP99)} | ${f(r.freshP50)} | ${f(r.freshP99)} | ${rps(r.warm1)} | ${r.warm1.p50Ms.toFixed(2)} | ${rps(r.warm50)} | ${r.warm50.p50Ms.toFixed(2)} |`;
  const lines = [
    '## Sandbox cost: the same function isolated and not',
    '',
    `- Machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM; Node ${m.node}; ${m.loadGenerator}`,
    `- Node function answering "ok", limits memory 256Mi / cpu 2; ${COLD_STARTS} cold starts per cell (request to a function at zero → first byte); warm load: ${SECONDS} s after a 2 s warm-up, through the gateway`,
    `- bubblewrap ${'path' in host.bwrap ? host.bwrap.version : ''}, cgroup v${host.cgroups.ok ? host.cgroups.version : '?'}`,
    '- Targets (issue #6): isolation adds ≤ 5 ms to a cold start and costs ≤ 5% of warm throughput',
    '',
    '| sandbox | cold p50 ms (pool) | cold p99 ms (pool) | cold p50 ms (fresh) | cold p99 ms (fresh) | warm req/s, 1 conn | p50 ms | warm req/s, 50 conn | p50 ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    row(off),
    row(on),
    `| **isolation adds** | **${f(on.pooledP50 - off.pooledP50)}** | ${f(on.pooledP99 - off.pooledP99)} | **${f(on.freshP50 - off.freshP50)}** | ${f(on.freshP99 - off.freshP99)} | **${(((on.warm1.requestsPerSecond / off.warm1.requestsPerSecond) - 1) * 100).toFixed(1)}%** | | **${(((on.warm50.requestsPerSecond / off.warm50.requestsPerSecond) - 1) * 100).toFixed(1)}%** | |`,
  ];
  const pct = (v: number[]) => ({ p50: percentile(v, 50), p90: percentile(v, 90) });
  const sp = { samples: SPAWNS, hostThreads: threads, plain: pct(spawns.plain), sandboxed: pct(spawns.sandboxed), shim: pct(spawns.shim), truePlain: pct(spawns.truePlain), trueBwrap: pct(spawns.trueBwrap) };
  const adds = (a: { p50: number; p90: number }, b: { p50: number; p90: number }) => `**${f(b.p50 - a.p50)}** | ${f(b.p90 - a.p90)}`;
  lines.push(
    '',
    `Fresh spawn without a gateway: the Node runtime spawned ${SPAWNS} times plain and ${SPAWNS} times through \`Sandbox.isolate\` (the gateway's own command lines, isolate() itself included), alternating, spawn → ready on fd 3; then \`/usr/bin/true\` ${2 * SPAWNS} times alone and through bwrap with the sandbox's arguments. ${threads} threads on the host (bwrap's pivot_root walks all of them):`,
    '',
    '| started | plain p50 ms | p90 ms | sandboxed p50 ms | p90 ms | isolation adds p50 ms | p90 ms |',
    '|---|---:|---:|---:|---:|---:|---:|',
    `| Node runtime (prlimit → bwrap → uid drop, cgroup with limits) | ${f(sp.plain.p50)} | ${f(sp.plain.p90)} | ${f(sp.sandboxed.p50)} | ${f(sp.sandboxed.p90)} | ${adds(sp.plain, sp.sandboxed)} |`,
    `| Node runtime through the warm pool's exec shim (pre-started in its sandbox; specialise → execve → ready) | ${f(sp.plain.p50)} | ${f(sp.plain.p90)} | ${f(sp.shim.p50)} | ${f(sp.shim.p90)} | ${adds(sp.plain, sp.shim)} |`,
    `| /usr/bin/true (bwrap alone: namespaces and mounts) | ${f(sp.truePlain.p50)} | ${f(sp.truePlain.p90)} | ${f(sp.trueBwrap.p50)} | ${f(sp.trueBwrap.p90)} | ${adds(sp.truePlain, sp.trueBwrap)} |`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  const file = writeResultsFile(join(ROOT, 'bench', 'results'), 'sandbox', { machine: m, off, on, spawns: sp });
  process.stdout.write(`\nResults: ${file.replace(ROOT, '')}\n`);
}

main().catch((err) => {
  process.stderr.write(`sandbox bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
