/**
 * Per-replica control groups: memory, CPU and pids limits, CPU and memory usage, and
 * whether the kernel's OOM killer struck. Both layouts are handled: cgroup v1 (one
 * hierarchy per controller, as on this development machine) and v2 (one unified
 * hierarchy). Each gateway process owns `kss/g<pid>/` in every hierarchy, one
 * directory per replica below it; directories of gateways that are gone are swept.
 *
 * Numbers follow what the kubelet writes: CPU limit as a CFS quota over a 100 ms
 * period; CPU request as shares (1024 per core, v1) or weight (v2); memory limit as a
 * hard limit; memory request as a soft limit (v1) or `memory.low` (v2).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What a replica is allowed. Absent fields are not limited. */
export interface ReplicaLimits {
  memoryBytes?: number;
  cpuMillis?: number;
  memoryRequestBytes?: number;
  cpuRequestMillis?: number;
  pids?: number;
}

/** Usage read from a replica's cgroup. */
export interface CgroupUsage {
  /** CPU time used since the cgroup was created, in seconds. */
  cpuSeconds: number;
  /** Memory in use minus inactive file cache: the kubelet's "working set". */
  memoryWorkingSetBytes: number;
}

/** One replica's cgroup (a directory in each hierarchy). */
export interface Cgroup {
  readonly name: string;
  /** The `cgroup.procs` files a process writes `0` to so it joins (before it execs anything else). */
  readonly procsFiles: readonly string[];
  /** Applies (or changes) the limits; throws if the kernel refuses (e.g. memory below current use). */
  setLimits(limits: ReplicaLimits): void;
  /** Moves a process into the cgroup. */
  addProcess(pid: number): void;
  /** Pids of every process in it. */
  pids(): number[];
  usage(): CgroupUsage | undefined;
  /** How many times the OOM killer killed a process in it. */
  oomKills(): number;
  /**
   * SIGKILLs every process in it, also one forked a moment ago (a sandbox whose monitor
   * was killed mid-setup leaves a child behind that no signal from its parent reaches).
   * Never throws.
   */
  killAll(): void;
  /** Removes the directories (once every process in them is gone). Never throws. */
  remove(): void;
}

/** Rounds of "read the pids, kill them" where cgroup.kill is missing: a fork between a read and the kills is caught by the next. */
const KILL_ROUNDS = 5;

function killListed(read: () => number[]): void {
  for (let round = 0; round < KILL_ROUNDS; round++) {
    const pids = read();
    if (!pids.length) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
  }
}

export interface CgroupManager {
  readonly version: 1 | 2;
  /** Creates the cgroup `name` (unique per gateway) with `limits`. */
  create(name: string, limits: ReplicaLimits): Cgroup;
}

const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids'] as const;
/** The kubelet's CFS period. */
const CFS_PERIOD_US = 100_000;

function write(file: string, value: string | number): void {
  writeFileSync(file, String(value));
}

function readNumber(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** `key value` lines (memory.stat, cpu.stat, memory.events, memory.oom_control). */
function readKeyed(file: string): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const [k, v] = line.trim().split(/\s+/);
      if (k && v !== undefined) out.set(k, Number(v));
    }
  } catch {
    // Gone already.
  }
  return out;
}

function readPids(file: string): number[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes `dir` and the cgroups below it, deepest first; best effort. */
function removeTree(dir: string): void {
  try {
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) removeTree(join(dir, entry.name));
    rmdirSync(dir);
  } catch {
    // Busy (a process still in it) or already gone.
  }
}

/** SIGKILLs every process in `dir` and the cgroups below it. */
function killTree(dir: string): void {
  try {
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) killTree(join(dir, entry.name));
  } catch {
    return;
  }
  for (const pid of readPids(join(dir, 'cgroup.procs'))) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone.
    }
  }
}

/**
 * Removes `kss/g<pid>` directories of gateways that no longer run, killing what is
 * still in them first: a replica whose gateway died without stopping it (SIGKILL, a
 * crash) must not outlive it, even where the parent-pipe guard could not act (a
 * sandbox monitor that never started its runtime).
 */
function sweep(base: string): void {
  try {
    for (const entry of readdirSync(base)) {
      const m = /^g(\d+)$/.exec(entry);
      if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
      killTree(join(base, entry));
      removeTree(join(base, entry));
    }
  } catch {
    // Nothing there yet.
  }
}

/** cgroup v1: a directory per replica in each of the memory, cpu, cpuacct and pids hierarchies. */
class CgroupV1 implements Cgroup {
  readonly procsFiles: string[];
  constructor(
    readonly name: string,
    private readonly dirs: Record<(typeof V1_CONTROLLERS)[number], string>,
  ) {
    this.procsFiles = Object.values(dirs).map((d) => join(d, 'cgroup.procs'));
  }

  setLimits(l: ReplicaLimits): void {
    const { memory, cpu, pids } = this.dirs;
    write(join(memory, 'memory.limit_in_bytes'), l.memoryBytes ?? -1);
    if (existsSync(join(memory, 'memory.memsw.limit_in_bytes'))) {
      // No swapping past the limit either (memsw must stay ≥ the memory limit, so set it after).
      try {
        write(join(memory, 'memory.memsw.limit_in_bytes'), l.memoryBytes ?? -1);
      } catch {
        // Swap accounting off: nothing to limit.
      }
    }
    write(join(memory, 'memory.soft_limit_in_bytes'), l.memoryRequestBytes ?? -1);
    write(join(cpu, 'cpu.cfs_period_us'), CFS_PERIOD_US);
    write(join(cpu, 'cpu.cfs_quota_us'), l.cpuMillis ? Math.max(1000, Math.round((l.cpuMillis * CFS_PERIOD_US) / 1000)) : -1);
    write(join(cpu, 'cpu.shares'), l.cpuRequestMillis ? Math.max(2, Math.round((l.cpuRequestMillis * 1024) / 1000)) : 1024);
    write(join(pids, 'pids.max'), l.pids ?? 'max');
  }

  addProcess(pid: number): void {
    for (const f of this.procsFiles) write(f, pid);
  }

  pids(): number[] {
    return readPids(join(this.dirs.pids, 'cgroup.procs'));
  }

  usage(): CgroupUsage | undefined {
    const cpuNs = readNumber(join(this.dirs.cpuacct, 'cpuacct.usage'));
    const mem = readNumber(join(this.dirs.memory, 'memory.usage_in_bytes'));
    if (cpuNs === undefined || mem === undefined) return undefined;
    const inactive = readKeyed(join(this.dirs.memory, 'memory.stat')).get('total_inactive_file') ?? 0;
    return { cpuSeconds: cpuNs / 1e9, memoryWorkingSetBytes: Math.max(0, mem - inactive) };
  }

  oomKills(): number {
    return readKeyed(join(this.dirs.memory, 'memory.oom_control')).get('oom_kill') ?? 0;
  }

  killAll(): void {
    killListed(() => this.pids());
  }

  remove(): void {
    for (const d of Object.values(this.dirs)) removeTree(d);
  }
}

/** cgroup v2: one directory per replica in the unified hierarchy. */
class CgroupV2 implements Cgroup {
  readonly procsFiles: string[];
  constructor(
    readonly name: string,
    private readonly dir: string,
  ) {
    this.procsFiles = [join(dir, 'cgroup.procs')];
  }

  setLimits(l: ReplicaLimits): void {
    const d = this.dir;
    write(join(d, 'memory.max'), l.memoryBytes ?? 'max');
    if (existsSync(join(d, 'memory.swap.max'))) write(join(d, 'memory.swap.max'), l.memoryBytes ? 0 : 'max');
    write(join(d, 'memory.low'), l.memoryRequestBytes ?? 0);
    write(join(d, 'cpu.max'), l.cpuMillis ? `${Math.max(1000, Math.round((l.cpuMillis * CFS_PERIOD_US) / 1000))} ${CFS_PERIOD_US}` : `max ${CFS_PERIOD_US}`);
    // The kubelet's shares→weight mapping: 1 + ((shares - 2) * 9999) / 262142.
    const shares = l.cpuRequestMillis ? Math.max(2, Math.round((l.cpuRequestMillis * 1024) / 1000)) : 1024;
    write(join(d, 'cpu.weight'), Math.round(1 + ((shares - 2) * 9999) / 262_142));
    write(join(d, 'pids.max'), l.pids ?? 'max');
  }

  addProcess(pid: number): void {
    write(this.procsFiles[0]!, pid);
  }

  pids(): number[] {
    return readPids(this.procsFiles[0]!);
  }

  usage(): CgroupUsage | undefined {
    const usec = readKeyed(join(this.dir, 'cpu.stat')).get('usage_usec');
    const mem = readNumber(join(this.dir, 'memory.current'));
    if (usec === undefined || mem === undefined) return undefined;
    const inactive = readKeyed(join(this.dir, 'memory.stat')).get('inactive_file') ?? 0;
    return { cpuSeconds: usec / 1e6, memoryWorkingSetBytes: Math.max(0, mem - inactive) };
  }

  oomKills(): number {
    return readKeyed(join(this.dir, 'memory.events')).get('oom_kill') ?? 0;
  }

  killAll(): void {
    // cgroup.kill (Linux 5.14+) kills the whole cgroup at once, forks in progress included.
    try {
      writeFileSync(join(this.dir, 'cgroup.kill'), '1');
      return;
    } catch {
      // Older kernel, or the cgroup is gone.
    }
    killListed(() => this.pids());
  }

  remove(): void {
    removeTree(this.dir);
  }
}

/** Where the cgroup hierarchies are and which layout, or why they cannot be used. */
export type CgroupProbe =
  | { ok: true; version: 1; mounts: Record<(typeof V1_CONTROLLERS)[number], string> }
  | { ok: true; version: 2; mount: string }
  | { ok: false; reason: string };

/**
 * Finds a usable cgroup layout under `root` (default `/sys/fs/cgroup`): v2 when the
 * unified hierarchy offers memory, cpu and pids; else v1 with each controller mounted.
 * Usable means this process can create a directory there (root, or delegated).
 */
export function probeCgroups(root = '/sys/fs/cgroup'): CgroupProbe {
  const canCreate = (dir: string): string | undefined => {
    const probe = join(dir, `kss-probe-${process.pid}`);
    try {
      mkdirSync(probe);
      rmdirSync(probe);
      return undefined;
    } catch (err) {
      return `cannot create a cgroup in ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
    }
  };
  const v2Controllers = (dir: string): string[] => {
    try {
      return readFileSync(join(dir, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
    } catch {
      return [];
    }
  };
  const unified = existsSync(join(root, 'cgroup.controllers')) ? root : existsSync(join(root, 'unified', 'cgroup.controllers')) ? join(root, 'unified') : undefined;
  if (unified && ['memory', 'cpu', 'pids'].every((c) => v2Controllers(unified).includes(c))) {
    const why = canCreate(unified);
    return why ? { ok: false, reason: why } : { ok: true, version: 2, mount: unified };
  }
  const mounts = {} as Record<(typeof V1_CONTROLLERS)[number], string>;
  for (const c of V1_CONTROLLERS) {
    // Controllers may be co-mounted (cpu,cpuacct): the plain name is usually a symlink to that mount.
    const dir = join(root, c);
    try {
      if (!statSync(dir).isDirectory() || !existsSync(join(dir, 'cgroup.procs'))) throw new Error('not a hierarchy');
    } catch {
      return { ok: false, reason: `no cgroup v2 hierarchy with memory, cpu and pids, and no cgroup v1 "${c}" hierarchy under ${root}` };
    }
    mounts[c] = dir;
  }
  for (const dir of new Set(Object.values(mounts))) {
    const why = canCreate(dir);
    if (why) return { ok: false, reason: why };
  }
  return { ok: true, version: 1, mounts };
}

/** A manager for this gateway's replica cgroups, over a probed layout. */
export function createCgroupManager(probe: Extract<CgroupProbe, { ok: true }>): CgroupManager {
  const owner = `g${process.pid}`;
  if (probe.version === 2) {
    const base = join(probe.mount, 'kss');
    mkdirSync(base, { recursive: true });
    sweep(base);
    const mine = join(base, owner);
    mkdirSync(mine, { recursive: true });
    // Children only get the controllers their parent enables for them.
    for (const dir of [probe.mount, base, mine]) {
      try {
        write(join(dir, 'cgroup.subtree_control'), '+memory +cpu +pids');
      } catch {
        // Already enabled, or enabled higher up.
      }
    }
    return {
      version: 2,
      create(name, limits) {
        const dir = join(mine, name);
        mkdirSync(dir, { recursive: true });
        const cg = new CgroupV2(name, dir);
        cg.setLimits(limits);
        return cg;
      },
    };
  }
  const mineDirs = {} as Record<(typeof V1_CONTROLLERS)[number], string>;
  for (const c of V1_CONTROLLERS) {
    const base = join(probe.mounts[c], 'kss');
    mkdirSync(base, { recursive: true });
    sweep(base);
    mineDirs[c] = join(base, owner);
    mkdirSync(mineDirs[c], { recursive: true });
  }
  return {
    version: 1,
    create(name, limits) {
      const dirs = {} as Record<(typeof V1_CONTROLLERS)[number], string>;
      for (const c of V1_CONTROLLERS) {
        dirs[c] = join(mineDirs[c], name);
        mkdirSync(dirs[c], { recursive: true });
      }
      const cg = new CgroupV1(name, dirs);
      cg.setLimits(limits);
      return cg;
    },
  };
}
