/**
 * The async queue (issue #7): calls accepted per second — each one stored durably
 * (fsync'd) before its 202 — and the rate the workers drain them to a trivial
 * function, per backend, beside synchronous invocations of the same function in the
 * same run. Target on this machine: ≥ 5,000 accepted/s on the embedded (SQLite) queue.
 *
 * Backends: `sqlite` always; `jetstream` when NATS answers on 127.0.0.1:4222 and this
 * build has the backend (`kss up --queue nats://…`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KssClient } from '../src/client/index.js';
import { freePort } from '../src/providers/local/ports.js';
import { adminFetch, machine, uploadFunction, validateLoad, writeResultsFile } from './lib/bench-common.js';
import { startGatewayProcess } from './lib/gateway-process.js';
import { findLoadGenerator, runLoad, type LoadResult } from './lib/loadgen.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KSS = join(ROOT, 'bin', 'kss.js');
const SECONDS = Number(process.env.KSS_BENCH_SECONDS ?? 5);
const CONNECTIONS = 50;

interface Row {
  backend: string;
  sync: LoadResult;
  accepted: LoadResult;
  drained: number;
  drainSeconds: number;
}

function natsUp(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(4222, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/**
 * Two phases on one data dir: a gateway that only accepts (`--queue-workers 0`) takes
 * the load, so the figure is the accept path's own; it stops, and a gateway with
 * workers starts on the same queue and drains it (which also shows the calls survived
 * a restart).
 */
async function measure(backend: string, upArgs: string[]): Promise<Row> {
  const gen = findLoadGenerator(ROOT)!;
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'kss-bench-queue-'));
  let gw = await startGatewayProcess({ kssBin: KSS, port, dataDir, upArgs: [...upArgs, '--queue-workers', '0'] });
  const scratchDir = mkdtempSync(join(tmpdir(), 'kss-bench-queue-wrk-'));
  try {
    const client = new KssClient({ gateway: gw.url, fetch: adminFetch(dataDir) });
    const digest = await uploadFunction(client, { 'handler.js': "module.exports = async () => 'ok';" });
    await client.deploy({ service: 'q', runtime: 'node', code: digest, annotations: { 'kss.queue.concurrency': '64' }, labels: { 'com.openfaas.scale.min': '2', 'com.openfaas.scale.max': '2' } });
    await client.waitReady('q', { timeoutMs: 60_000 });
    process.stderr.write(`[queue bench] ${backend}: sync baseline, then ${SECONDS} s of async accepts at ${CONNECTIONS} connections, then the drain\n`);

    const load = async (url: string, method: 'GET' | 'POST', what: string) => {
      await runLoad(gen, { url, connections: CONNECTIONS, threads: 2, durationSeconds: 1, method, scratchDir });
      const r = await runLoad(gen, { url, connections: CONNECTIONS, threads: 2, durationSeconds: SECONDS, method, scratchDir });
      validateLoad(r, what);
      return r;
    };
    const sync = await load(`${gw.url}/function/q`, 'POST', `${backend} sync`);
    const accepted = await load(`${gw.url}/async-function/q`, 'POST', `${backend} async accepts`);
    await gw.stop(10_000);
    const before = Date.now();
    gw = await startGatewayProcess({ kssBin: KSS, port, dataDir, upArgs });
    // Drain: until nothing is queued or running.
    const total = async () => {
      const text = await (await fetch(`${gw.url}/metrics`)).text();
      let n = 0;
      for (const m of text.matchAll(/^function_queue_depth\{[^}]*\} (\d+)/gm)) n += Number(m[1]);
      return n;
    };
    const deadline = Date.now() + 300_000;
    while ((await total()) > 0) {
      if (Date.now() > deadline) throw new Error('the queue did not drain within 5 minutes');
      await new Promise((r) => setTimeout(r, 100));
    }
    const drainSeconds = (Date.now() - before) / 1000;
    const succeeded = await (await fetch(`${gw.url}/metrics`)).text();
    const drained = Number(/^function_async_calls_total\{function_name="q\.openfaas-fn",outcome="succeeded"\} (\d+)/m.exec(succeeded)?.[1] ?? 0);
    return { backend, sync, accepted, drained, drainSeconds };
  } finally {
    await gw.stop(10_000);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(scratchDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const gen = findLoadGenerator(ROOT);
  if (!gen) throw new Error('no load generator: apt-get install wrk');
  const rows: Row[] = [await measure('sqlite (embedded)', [])];
  if ((await natsUp()) && process.env.KSS_BENCH_JETSTREAM !== '0') {
    try {
      rows.push(await measure('jetstream', ['--queue', 'nats://127.0.0.1:4222']));
    } catch (err) {
      process.stderr.write(`[queue bench] jetstream skipped: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  const m = machine(gen);
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const lines = [
    '## Async queue: durable accepts per second, and the drain',
    '',
    `- Machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM; Node ${m.node}; ${m.loadGenerator} (${CONNECTIONS} connections, ${SECONDS} s after a 1 s warm-up)`,
    '- Trivial Node function, 2 replicas, queue concurrency 64; every accepted call is fsync\'d before its 202. Accepts are measured on a gateway started with `--queue-workers 0` (it only accepts); then a gateway with workers starts on the same queue, and the drain is the time from its start to an empty queue (its start-up and the function\'s cold start included)',
    '- Target (issue #7): ≥ 5,000 accepted/s on the embedded queue',
    '',
    '| backend | sync invocations/s (same function) | async accepted/s | accept p50 ms | accept p99 ms | calls drained | drain rate/s |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.backend} | ${n(r.sync.requestsPerSecond)} | **${n(r.accepted.requestsPerSecond)}** | ${r.accepted.p50Ms.toFixed(2)} | ${r.accepted.p99Ms.toFixed(2)} | ${n(r.drained)} | ${n(r.drained / r.drainSeconds)} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const file = writeResultsFile(join(ROOT, 'bench', 'results'), 'queue', { machine: m, rows });
  process.stdout.write(`\nResults: ${file.replace(ROOT, '')}\n`);
}

main().catch((err) => {
  process.stderr.write(`queue bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
