/**
 * What the soak asks of the host: a small tmpfs for the data dir (so the disk can be
 * filled and freed), the gateway's RSS and open file descriptors from /proc, SQLite's
 * integrity check on the data dir's databases, and a state file naming every process and
 * mount the soak made, so a killed soak can still be cleaned up by whoever started it.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';

/** Mounts a tmpfs of `sizeMiB` at `dir` (which must exist); returns why not when it cannot. */
export function mountTmpfs(dir: string, sizeMiB: number): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'not Linux' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'mounting a tmpfs needs root' };
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0700`, 'kss-soak', dir], { encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, reason: `mount -t tmpfs failed: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}` };
  return { ok: true };
}

/** True when `dir` is a mount point in /proc/mounts. */
export function isMounted(dir: string): boolean {
  try {
    return readFileSync('/proc/mounts', 'utf8').split('\n').some((line) => line.split(' ')[1] === dir);
  } catch {
    return false;
  }
}

/** Unmounts `dir` (lazily when something still holds it). */
export function unmount(dir: string): void {
  if (!isMounted(dir)) return;
  if (spawnSync('umount', [dir]).status !== 0) spawnSync('umount', ['-l', dir]);
}

/** Writes zeros into `file` until the file system is full; returns the bytes written. */
export function fillDisk(file: string): number {
  const fd = openSync(file, 'w');
  let written = 0;
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512]) {
      const chunk = Buffer.alloc(size);
      for (;;) {
        try {
          written += writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

/** RSS (bytes) and open fds of a live process, from /proc; undefined when it is gone. */
export function processUsage(pid: number): { rssBytes: number; fds: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    return Number.isFinite(kb) ? { rssBytes: kb * 1024, fds } : undefined;
  } catch {
    return undefined;
  }
}

/** `PRAGMA integrity_check` of each database in `dataDir` (read-only): `ok`, or what SQLite said. */
export function integrityCheck(dataDir: string, files = ['kss.db', 'queue.db']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const file of files) {
    const path = join(dataDir, file);
    if (!existsSync(path)) {
      out[file] = 'missing';
      continue;
    }
    try {
      const db = new Database(path, { readonly: true, fileMustExist: true, timeout: 5_000 });
      try {
        out[file] = String(db.pragma('integrity_check', { simple: true }));
      } finally {
        db.close();
      }
    } catch (err) {
      out[file] = `cannot check: ${(err as Error).message}`;
    }
  }
  return out;
}

function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/**
 * Cleans up after soaks that were killed before they could (their starter killed too):
 * every `kss-soak` tmpfs mounted at `<dir>/data` whose soak process is gone. Returns what it did.
 */
export function sweepStaleSoaks(): string[] {
  const done: string[] = [];
  let mounts: string[] = [];
  try {
    mounts = readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l.startsWith('kss-soak ')).map((l) => l.split(' ')[1]!);
  } catch {
    return done;
  }
  for (const mount of mounts) {
    const stateFile = join(dirname(mount), 'soak-state.json');
    let pid = 0;
    try {
      pid = (JSON.parse(readFileSync(stateFile, 'utf8')) as SoakState).pid;
    } catch {
      continue;
    }
    if (commandLineOf(pid).includes('soak')) continue; // still running
    done.push(...cleanUpAfter(stateFile));
    if (!isMounted(mount)) rmSync(dirname(mount), { recursive: true, force: true });
  }
  return done;
}

/** What a killed soak leaves for its starter to clean up. */
export interface SoakState {
  /** The soak's own process (for information: the starter stops it through its handle). */
  pid: number;
  /** Processes it started (gateway, private brokers), to be killed by id. */
  pids: number[];
  /** A tmpfs it mounted, to be unmounted. */
  mount?: string;
  /** Folders it made, to be removed. */
  dirs: string[];
}

/** Writes `state` as JSON into `file` (atomically enough for one writer). */
export function writeState(file: string, state: SoakState): void {
  writeFileSync(`${file}.tmp`, JSON.stringify(state));
  renameSync(`${file}.tmp`, file);
}

/**
 * Cleans up after a soak from its state file: SIGKILL to each process it listed as still
 * running (by id; a soak that cleaned up after itself lists none), unmount its tmpfs,
 * remove its folders. The soak's own process is the caller's to stop. Safe to call twice.
 */
export function cleanUpAfter(file: string): string[] {
  const done: string[] = [];
  let state: SoakState;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as SoakState;
  } catch {
    return done;
  }
  for (const pid of state.pids) {
    // Only a process that is still the soak's (its command line names the soak's folder), never a reused pid.
    if (!commandLineOf(pid).includes(dirname(state.dirs[0] ?? '/nonexistent'))) continue;
    try {
      process.kill(pid, 'SIGKILL');
      done.push(`killed pid ${pid}`);
    } catch {
      // already gone
    }
  }
  if (state.mount && isMounted(state.mount)) {
    // Replicas of a killed gateway exit when its pipes close; give them a moment to let go of the mount.
    spawnSync('sleep', ['0.5']);
    unmount(state.mount);
    done.push(`unmounted ${state.mount}`);
  }
  for (const dir of state.dirs) {
    if (state.mount && isMounted(state.mount) && dir.startsWith(state.mount)) continue;
    rmSync(dir, { recursive: true, force: true });
  }
  return done;
}
