/**
 * Small pieces every benchmark needs: the machine description printed above each
 * table, the admin credentials `kss up` writes into its data dir (so the SDK and the
 * load generator can authenticate when the gateway insists), a one-request sanity
 * check, the "did the load run mean anything" rule, and the results file writer.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { LoadGenerator, LoadResult } from './loadgen.js';
import { packDirectory } from '../../src/archive/index.js';
import type { KssClient } from '../../src/client/index.js';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  ramGiB: number;
  node: string;
  loadGenerator: string;
}

export function machine(gen: LoadGenerator): MachineInfo {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  let logicalCpus = cpus().length;
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? cpuModel;
    logicalCpus = (info.match(/^processor\s*:/gm) ?? []).length || logicalCpus;
  } catch {
    // not Linux: os.cpus() is enough
  }
  return {
    cpuModel,
    cores: logicalCpus,
    ramGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    loadGenerator: gen.version,
  };
}

/**
 * `Authorization` for the admin credentials `kss up` writes into its data dir
 * (`basic-auth-user`, `basic-auth-password`), once they exist; else none.
 */
export function adminAuthorization(dataDir: string): string | undefined {
  try {
    const password = readFileSync(join(dataDir, 'basic-auth-password'), 'utf8').trim();
    let user = 'admin';
    try {
      user = readFileSync(join(dataDir, 'basic-auth-user'), 'utf8').trim() || user;
    } catch {
      // default user
    }
    return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  } catch {
    return undefined;
  }
}

/** A fetch for the SDK that authenticates as the admin when the gateway has credentials. */
export function adminFetch(dataDir: string): typeof fetch {
  return (input, init) => {
    const auth = adminAuthorization(dataDir);
    if (!auth) return fetch(input, init);
    const headers = new Headers(init?.headers);
    if (!headers.has('authorization')) headers.set('authorization', auth);
    return fetch(input, { ...init, headers });
  };
}

/** One GET that must answer 200 and `expected` (compared after trimming whitespace, so `echo ok`'s newline passes). */
export async function checkOk(url: string, headers: Record<string, string> = {}, expected = 'ok'): Promise<void> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  const body = await res.text();
  if (res.status !== 200 || body.trim() !== expected) {
    throw new Error(`${url} answered ${res.status} ${JSON.stringify(body.slice(0, 200))}, expected 200 "${expected}"`);
  }
}

/** Answers that are not 2xx, or socket errors, above this share make a load run meaningless. */
export const MAX_ERROR_SHARE = 0.001;

export function validateLoad(r: LoadResult, what: string): void {
  if (r.requests === 0) throw new Error(`${what}: no request completed`);
  const bad = r.badStatus + r.socketErrors;
  if (bad > r.requests * MAX_ERROR_SHARE) {
    throw new Error(`${what}: ${r.badStatus} non-2xx answers and ${r.socketErrors} socket errors out of ${r.requests} requests; the numbers would not mean anything`);
  }
}

/** Writes `<resultsDir>/<name>.json`, keeping the folder out of git by itself (a `*` .gitignore inside it). */
export function writeResultsFile(resultsDir: string, name: string, data: unknown): string {
  mkdirSync(resultsDir, { recursive: true });
  const ignore = join(resultsDir, '.gitignore');
  if (!existsSync(ignore)) writeFileSync(ignore, '# Benchmark output: machine-specific, not versioned.\n*\n');
  const file = join(resultsDir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

/** The p-th percentile (nearest rank) of `values`. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Polls `check` every 5 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Writes `files` to a temporary folder, uploads it as a function's code, removes the folder; returns the code digest. */
export async function uploadFunction(client: KssClient, files: Record<string, string>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'kss-bench-fn-'));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return (await client.uploadCode(await packDirectory(dir))).digest;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
