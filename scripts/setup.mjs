// Shared by `npm start`, `npm test` and `npm run bench`: installs what is missing and
// rebuilds when sources changed, so the two README commands work on a fresh clone.
// Uses only node built-ins: it runs before dependencies exist.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STAMP = join(ROOT, 'dist', '.build-stamp');
// The dashboard's archive packer is compiled too: test/dashboard-archive.test.ts runs it against the gateway's validator.
// Only what tsc compiles: the Python and Go runtimes run from their sources (and Python's
// bytecode cache touching runtimes/python must not force a rebuild on every start).
const SOURCES = ['src', join('runtimes', 'node'), join('runtimes', 'exec'), 'test', 'bench', join('dashboard', 'src', 'lib', 'tar-gzip.ts'), 'tsconfig.json', 'package.json'];

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', env: process.env });
  if (r.status !== 0) {
    process.stderr.write(`\n${what} failed (exit ${r.status ?? r.signal}). Fix the error above and run the command again.\n`);
    process.exit(r.status || 1);
  }
}

function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === '__pycache__' || entry.name.startsWith('.')) continue;
    newest = Math.max(newest, newestMtime(join(path, entry.name)));
  }
  return newest;
}

/** Installs npm dependencies when node_modules is missing or older than package.json. */
export function ensureDependencies() {
  const marker = join(ROOT, 'node_modules', '.package-lock.json');
  const lock = join(ROOT, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(join(ROOT, 'package.json')).mtimeMs) return false;
  const useCi = existsSync(lock) && !existsSync(join(ROOT, 'node_modules'));
  process.stderr.write(`[setup] installing dependencies (${useCi ? 'npm ci' : 'npm install'}; better-sqlite3 compiles, about 2 minutes on 2 cores)…\n`);
  run('npm', [useCi ? 'ci' : 'install', '--no-audit', '--no-fund'], 'installing dependencies');
  return true;
}

/** Compiles TypeScript to dist/ when any source is newer than the last build. */
export function ensureBuild({ force = false } = {}) {
  const stamp = existsSync(STAMP) ? statSync(STAMP).mtimeMs : 0;
  const newest = Math.max(...SOURCES.map((s) => newestMtime(join(ROOT, s))));
  if (!force && stamp && stamp >= newest) return false;
  if (!existsSync(join(ROOT, 'node_modules', 'typescript'))) ensureDependencies();
  process.stderr.write('[setup] compiling TypeScript…\n');
  // A clean build (files deleted from src/ must not linger), compiled beside dist/ and
  // swapped in at the end, so a running gateway or test never sees a half-empty dist/.
  const next = join(ROOT, `dist.next-${process.pid}`);
  const old = join(ROOT, `dist.old-${process.pid}`);
  rmSync(next, { recursive: true, force: true });
  run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.json'), '--outDir', next], 'compiling');
  writeFileSync(join(next, '.build-stamp'), new Date().toISOString());
  if (existsSync(join(ROOT, 'dist'))) renameSync(join(ROOT, 'dist'), old);
  renameSync(next, join(ROOT, 'dist'));
  rmSync(old, { recursive: true, force: true });
  return true;
}

const DASHBOARD = join(ROOT, 'dashboard');
const DASHBOARD_STAMP = join(DASHBOARD, 'dist', '.build-stamp');
// The dashboard bundles the SDK (src/client) and the core types it imports.
const DASHBOARD_SOURCES = [join(DASHBOARD, 'src'), join(DASHBOARD, 'index.html'), join(DASHBOARD, 'vite.config.ts'), join(ROOT, 'src', 'client'), join(ROOT, 'src', 'core'), join(ROOT, 'package.json')];

/** Builds the dashboard (Vite) into dashboard/dist when its sources are newer than the last build. */
export function ensureDashboard({ force = false } = {}) {
  const stamp = existsSync(DASHBOARD_STAMP) ? statSync(DASHBOARD_STAMP).mtimeMs : 0;
  const newest = Math.max(...DASHBOARD_SOURCES.map((s) => newestMtime(s)));
  if (!force && stamp && stamp >= newest) return false;
  if (!existsSync(join(ROOT, 'node_modules', 'vite'))) ensureDependencies();
  process.stderr.write('[setup] building the dashboard (Vite)…\n');
  run(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', DASHBOARD], 'building the dashboard');
  writeFileSync(DASHBOARD_STAMP, new Date().toISOString());
  return true;
}

/** True when `name` is an executable on PATH. */
function onPath(name) {
  return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(join(dir, name)));
}

/**
 * The replica sandbox needs bubblewrap (Debian's `bubblewrap`), and nftables for
 * functions without network. As root on a Debian
 * machine without it, install it; elsewhere say how. Never fatal: the platform starts
 * without it, unisolated, and warns (see `kss doctor`).
 */
export function ensureSandboxTools() {
  if (process.platform !== 'linux') return false;
  // nftables: functions without network (kss.network: none); optional, like the rest.
  if (!onPath('nft') && !existsSync('/usr/sbin/nft')) aptInstall('nftables', 'for functions without network');
  if (onPath('bwrap')) return false;
  const ok = aptInstall('bubblewrap', 'for the replica sandbox');
  if (!ok) process.stderr.write('[setup] bubblewrap is not installed: replicas will run unisolated. Install it (apt-get install bubblewrap) and see `kss doctor`.\n');
  return ok;
}

/** `apt-get install -y pkg` as root on Debian (updating the lists once if needed); false when it cannot. */
export function aptInstall(pkg, why) {
  if (process.getuid?.() !== 0 || !onPath('apt-get')) return false;
  process.stderr.write(`[setup] installing ${pkg} ${why} (apt-get)…\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    r = spawnSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: ['ignore', 'ignore', 'inherit'], env });
  }
  return r.status === 0;
}

/** The dashboard's browser test drives Debian's Chromium (never a downloaded browser). */
export function ensureBrowser() {
  if (process.platform !== 'linux' || existsSync('/usr/bin/chromium')) return;
  if (!aptInstall('chromium', 'for the dashboard\'s browser test')) process.stderr.write('[setup] chromium is not installed: the dashboard test will fail. Install it (apt-get install chromium).\n');
}

/** wrk (Debian's) is the benchmarks' load generator; autocannon is the fallback. */
export function ensureBenchTools() {
  if (onPath('wrk') || process.platform !== 'linux') return;
  if (!aptInstall('wrk', 'as the load generator')) process.stderr.write('[setup] wrk is not installed: benchmarks use autocannon, which shares the CPU with what it measures.\n');
}

export function ensureAll() {
  ensureDependencies();
  ensureBuild();
  ensureDashboard();
  ensureSandboxTools();
}
