/**
 * Shared helpers for the integration tests: a real platform on a free loopback
 * port with a temporary data dir, functions written to temp folders, and deploys
 * through the real client.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { packDirectory } from '../src/archive/index.js';
import { KssClient } from '../src/client/index.js';
import { startEmbedded, type EmbeddedOptions, type EmbeddedPlatform } from '../src/gateway/embedded.js';

// Every test platform has its own data dir; they share one Go build cache, so only the
// first Go build of a test run compiles the standard library (about 20 s on 2 cores).
process.env.KSS_GO_CACHE ??= join(tmpdir(), 'kss-test-go-cache');

export interface TestPlatform extends EmbeddedPlatform {
  dataDir: string;
  /** SDK client logged in as admin. */
  client: KssClient;
  /** `Authorization` value for the admin account (undefined with auth off). */
  adminAuth?: string;
  /** fetch(`${url}${path}`) with the admin's credentials added. */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** Stops this gateway and starts a new one on the same data dir (a restart). */
  restart(): Promise<TestPlatform>;
}

export function tempDir(prefix = 'kss-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startTestPlatform(options: Partial<EmbeddedOptions> = {}): Promise<TestPlatform> {
  const dataDir = options.dataDir ?? tempDir('kss-data-');
  const logger = pino({ level: process.env.KSS_TEST_LOG_LEVEL ?? 'silent' });
  const platform = await startEmbedded({ port: 0, logger, ...options, dataDir });
  const adminAuth = platform.admin ? basicAuth(platform.admin.username, platform.admin.password) : undefined;
  const client = new KssClient({ gateway: platform.url, authorization: adminAuth });
  return {
    ...platform,
    dataDir,
    client,
    adminAuth,
    api: (path, init = {}) => {
      const headers = new Headers(init.headers);
      if (adminAuth && !headers.has('authorization')) headers.set('authorization', adminAuth);
      return fetch(`${platform.url}${path}`, { ...init, headers });
    },
    restart: async () => {
      await platform.close();
      // Same port: clients (and stored CLI credentials) keep pointing at the same URL.
      return startTestPlatform({ ...options, dataDir, port: platform.port });
    },
  };
}

export function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** Writes `files` (path → content) into a new temp folder and returns it. */
export function writeFunction(files: Record<string, string | Buffer>): string {
  const dir = tempDir('kss-fn-');
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** Packages `files`, uploads them and deploys `name`; waits until it is ready. */
export async function deployFunction(
  client: KssClient,
  name: string,
  files: Record<string, string | Buffer>,
  spec: Record<string, unknown> = {},
): Promise<void> {
  const dir = writeFunction(files);
  try {
    const { digest } = await client.uploadCode(await packDirectory(dir));
    await client.deploy({ service: name, runtime: 'node', code: digest, ...spec });
    await client.waitReady(name, { namespace: spec.namespace as string | undefined, timeoutMs: 20_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** True when a process with this pid exists. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `check` every 20 ms until it returns true or `timeoutMs` passes. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export const ECHO_HANDLER = `
export default async (req) => {
  const url = new URL(req.url);
  const body = Buffer.from(await req.arrayBuffer());
  return new Response(JSON.stringify({
    method: req.method,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: Object.fromEntries(req.headers),
    body: body.toString('base64'),
  }), { status: 200, headers: { 'content-type': 'application/json', 'x-echo': 'yes' } });
};
`;

/** What a `kss` CLI run printed and returned. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `kss` CLI in a child process with `env` (whole), `stdin` fed and closed. */
export function runKss(args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; stdin?: string }): Promise<CliRun> {
  const kss = fileURLToPath(new URL('../../bin/kss.js', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [kss, ...args], { cwd: options.cwd, env: options.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}
