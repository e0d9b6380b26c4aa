/**
 * The sandbox of every replica on this machine: a container's guarantees without a
 * container engine.
 *
 * A replica starts as `sh` (joins its cgroup, sets the open-files limit) → `bwrap`
 * (new mount, pid, ipc and uts namespaces; a root of read-only system folders, the
 * function's own code read-only, a private `/tmp`, its secrets at
 * `/var/openfaas/secrets`, its volumes at `/var/kss/volumes`, nothing else of the
 * platform's data) → `setpriv` (the function's own uid and gid, no groups but its
 * volumes', no capabilities, no new privileges) → the runtime.
 * Each step execs the next, so the runtime is pid 1 of its namespace and the process
 * the gateway spawned is bwrap's monitor.
 *
 * A warm-pool process is started the same way but generic: its code folder is an
 * empty slot and it keeps only the capabilities to switch uid and chown. Specialising
 * it links the function's code into the slot, applies the function's limits to its
 * cgroup and hands it its uid and secrets; it writes the secrets, drops to the uid and
 * only then loads the function's code (see the runtimes' pool mode).
 *
 * Without namespaces (no bwrap, not root) replicas run unisolated, inside cgroups when
 * those work; the gateway warns once and `kss doctor` says what is missing.
 */
import { cpSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { cpuMillis, FUNCTION_LABEL, memoryBytes, NETWORK_ANNOTATION, networkOf, qualifiedName, SECRETS_MOUNT_PATH, volumeEnvName, volumeMountPath, type FunctionSpec, type Runtime, type SecretSource } from '../core/index.js';
import type { EgressFirewall } from './egress-firewall.js';
import type { IsolatedStart, PooledSandbox, PooledSpecialisation, ReplicaIsolation } from '../providers/local/isolation.js';
import type { Artifact, LaunchCommand } from '../providers/local/runtime-launchers.js';
import type { PreparedVolume } from '../providers/local/volumes.js';
import type { Cgroup, CgroupManager, ReplicaLimits } from './cgroups.js';
import { which } from './host-support.js';
import type { UidAllocator } from './uid-allocator.js';

/** Open files per replica (RLIMIT_NOFILE, soft and hard): Docker's default soft limit is 1024; servers want more. */
export const DEFAULT_NOFILE = 4096;
/** Processes and threads per replica (pids.max): Node and Python start ~12 threads; a fork bomb stops here. */
export const DEFAULT_PIDS = 512;
/** A pooled process is only used for code trees up to this many entries; linking more would cost more than it saves. */
export const MAX_POOLED_TREE_ENTRIES = 5000;

export interface SandboxOptions {
  logger: Logger;
  uids: UidAllocator;
  secrets?: SecretSource;
  /** `bwrap` and `setpriv` paths when namespaces work here; absent: no namespaces. */
  namespaces?: { bwrap: string; setpriv: string };
  cgroups?: CgroupManager;
  /** Host paths every replica sees read-only at the same path (the runtimes, interpreters). */
  readOnlyPaths: readonly string[];
  /** Where per-replica state lives (pool slots, secrets when unisolated); inside the data dir. */
  runDir: string;
  nofile?: number;
  pids?: number;
  /** nftables by uid, for `kss.network: none`; absent: such functions are refused at deploy. */
  firewall?: EgressFirewall;
}

/** The limits a spec asks for, in cgroup numbers. */
export function limitsOf(spec: FunctionSpec, pids = DEFAULT_PIDS): ReplicaLimits {
  const out: ReplicaLimits = { pids };
  if (spec.limits?.memory) out.memoryBytes = memoryBytes(spec.limits.memory);
  if (spec.limits?.cpu) out.cpuMillis = cpuMillis(spec.limits.cpu);
  if (spec.requests?.memory) out.memoryRequestBytes = memoryBytes(spec.requests.memory);
  if (spec.requests?.cpu) out.cpuRequestMillis = cpuMillis(spec.requests.cpu);
  return out;
}

/** Direct children of `pid` (from /proc; Linux only). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // No CONFIG_PROC_CHILDREN: scan every process's parent.
    const out: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
      } catch {
        // Exited while we looked.
      }
    }
    return out;
  }
}

/** Every descendant of `pid`. */
function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  for (const child of childrenOf(pid)) out.push(child, ...descendantsOf(child));
  return out;
}

/** Runtimes whose process drops to the function's uid itself (`KSS_RUN_AS`); others go through setpriv. */
const SELF_DROPPING = new Set<Runtime>(['node', 'python', 'go', 'exec']);

/**
 * Runtimes that lower their own open-files limit (`KSS_NOFILE`) before any function
 * code loads, so a fresh start need not exec `prlimit` first (~1 ms, measured on this
 * 2-core VM). Node has no setrlimit API: the Node and exec runtimes keep prlimit.
 */
const SELF_LIMITING = new Set<Runtime>(['python', 'go']);

/** The system folders of the sandbox's root: read-only binds, or symlinks where the host has them (merged /usr). */
function systemRoot(): string[] {
  const args = ['--ro-bind', '/usr', '/usr'];
  for (const dir of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    try {
      const st = lstatSync(dir);
      if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(dir), dir);
      else if (st.isDirectory()) args.push('--ro-bind', dir, dir);
    } catch {
      // Not on this host.
    }
  }
  // /etc: hosts, resolv.conf, CA certificates, passwd; root-only files in it stay unreadable to the function's uid.
  args.push('--ro-bind', '/etc', '/etc', '--proc', '/proc', '--dev', '/dev', '--perms', '1777', '--tmpfs', '/tmp', '--perms', '1777', '--tmpfs', '/dev/shm');
  return args;
}

/** Mount points systemRoot() creates; folders below them are made by {@link bindAt}. */
const ROOT_MOUNTS = ['/usr', '/etc', '/proc', '/dev', '/tmp'];

/**
 * `--ro-bind-try src src`, creating each missing parent folder first as 0755 owned by
 * root: bwrap otherwise copies the host folder's mode, and a 0700 parent (a data dir
 * under /tmp, an interpreter under /root) would lock the function's uid out of its own
 * code.
 */
function bindAt(args: string[], made: Set<string>, path: string, flag = '--ro-bind-try'): void {
  parentsOf(args, made, path);
  args.push(flag, path, path);
}

/** Creates `path`'s missing parent folders in the sandbox, 0755 (see {@link bindAt}). */
function parentsOf(args: string[], made: Set<string>, path: string): void {
  const parts = path.split('/').filter(Boolean);
  for (let i = 1; i < parts.length; i++) {
    const dir = `/${parts.slice(0, i).join('/')}`;
    if (made.has(dir) || ROOT_MOUNTS.includes(dir)) continue;
    made.add(dir);
    args.push('--perms', '0755', '--dir', dir);
  }
}

/** `sh` that joins the cgroup (before anything else runs), sets the open-files limit, then execs the rest. */
function joinAndExec(procsFiles: readonly string[], nofile: number, rest: string[]): { command: string; args: string[] } {
  const script = 'while [ "$1" != -- ]; do echo 0 > "$1" || exit 125; shift; done; shift; ulimit -n "$KSS_NOFILE" || exit 125; unset KSS_NOFILE; exec "$@"';
  return { command: '/bin/sh', args: ['-c', script, 'kss-sandbox', ...procsFiles, '--', ...rest] };
}

/** Entries of a tree, stopping once past `limit`. */
function countEntries(dir: string, limit: number): number {
  let n = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (++n > limit) return;
      if (e.isDirectory()) walk(join(d, e.name));
      if (n > limit) return;
    }
  };
  walk(dir);
  return n;
}

/** Recreates `from` under `to` with hard links (same filesystem) or copies: directories, files and symlinks. */
function linkTree(from: string, to: string): void {
  for (const e of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, e.name);
    const dst = join(to, e.name);
    if (e.isDirectory()) {
      mkdirSync(dst, { mode: statSync(src).mode & 0o7777 });
      linkTree(src, dst);
    } else if (e.isSymbolicLink()) symlinkSync(readlinkSync(src), dst);
    else {
      try {
        linkSync(src, dst);
      } catch {
        cpSync(src, dst);
      }
    }
  }
}

export class Sandbox implements ReplicaIsolation {
  readonly #o: SandboxOptions;
  readonly #nofile: number;
  readonly #pids: number;
  readonly #treeSizes = new Map<string, number>();
  readonly #prlimit: string | undefined;

  constructor(options: SandboxOptions) {
    this.#o = options;
    this.#nofile = options.nofile ?? DEFAULT_NOFILE;
    this.#pids = options.pids ?? DEFAULT_PIDS;
    mkdirSync(join(options.runDir, 'slots'), { recursive: true, mode: 0o711 });
    this.#prlimit = which('prlimit');
  }

  /** `kss.network: none` needs a uid of the function's own (namespaces) and the firewall. */
  get canDenyNetwork(): boolean {
    return this.#o.namespaces !== undefined && this.#o.firewall !== undefined;
  }

  /** Takes this gateway's uids out of the no-network set (every replica has stopped). */
  close(): void {
    try {
      this.#o.firewall?.releaseAll();
    } catch (err) {
      this.#o.logger.warn({ err }, 'could not remove the firewall entries of this gateway\'s functions');
    }
  }

  /** Puts the function's uid in or out of the no-network set before its code runs. */
  #applyNetwork(spec: FunctionSpec, uid: number): void {
    const network = networkOf(spec);
    if (network === 'none' && !this.#o.firewall) throw new Error(`${NETWORK_ANNOTATION}: none, but this host has no nftables`);
    this.#o.firewall?.apply(uid, network);
  }

  /** Whether replicas get namespaces and their own uid (else only cgroups, if any). */
  get isolating(): boolean {
    return this.#o.namespaces !== undefined;
  }

  /**
   * A pooled sandbox's mounts are fixed when it starts, so it cannot take a function's
   * volumes (binding them later would need CAP_SYS_ADMIN in the sandbox, or a parent
   * folder of every volume visible to every function): with namespaces, functions with
   * volumes start afresh. Without namespaces a volume is only an environment variable.
   */
  get poolsVolumes(): boolean {
    return !this.isolating;
  }

  async isolate(spec: FunctionSpec, artifact: Artifact, instance: string, launch: LaunchCommand, volumes: readonly PreparedVolume[] = []): Promise<IsolatedStart> {
    const secrets = await this.#secrets(spec);
    const cgroup = this.#o.cgroups?.create(`${instance}-${randomBytes(3).toString('hex')}`, limitsOf(spec, this.#pids));
    const fds: Buffer[] = [];
    const env: Record<string, string> = {};
    const selfLimit = SELF_LIMITING.has(spec.runtime);
    if (selfLimit) env.KSS_NOFILE = String(this.#nofile);
    const ns = this.#o.namespaces;
    if (ns) {
      const uid = this.#o.uids.uidFor(spec.namespace, spec.service);
      this.#applyNetwork(spec, uid);
      const selfDrop = SELF_DROPPING.has(spec.runtime);
      const args = [...systemRoot()];
      const made = new Set<string>();
      for (const p of this.#o.readOnlyPaths) bindAt(args, made, p);
      bindAt(args, made, artifact.dir, '--ro-bind');
      parentsOf(args, made, SECRETS_MOUNT_PATH);
      args.push('--perms', '0755', '--dir', SECRETS_MOUNT_PATH);
      for (const [name, value] of secrets) {
        args.push('--perms', '0444', '--ro-bind-data', String(4 + fds.length), `${SECRETS_MOUNT_PATH}/${name}`);
        fds.push(value);
      }
      // Persistent volumes: the folder (root:<gid> 2770) at /var/kss/volumes/<name>; the gid is a supplementary group below.
      for (const v of volumes) {
        const at = volumeMountPath(v.name);
        parentsOf(args, made, at);
        args.push(v.readOnly ? '--ro-bind' : '--bind', v.hostPath, at);
        env[volumeEnvName(v.name)] = at;
      }
      const groups = volumes.map((v) => v.gid).join(',');
      args.push(
        '--chdir', artifact.dir,
        '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--hostname', (spec.labels?.[FUNCTION_LABEL] ?? spec.service).slice(0, 63),
        '--as-pid-1', '--die-with-parent', '--new-session',
        '--setenv', 'HOME', '/tmp',
      );
      if (selfDrop) {
        // Our runtimes drop to the uid themselves before loading any function code (KSS_RUN_AS):
        // one exec fewer on every cold start (setpriv measured at ~2 ms here).
        // KSS_RUN_GROUPS: the volumes' gids, as supplementary groups; the runtime then sets umask 0002.
        args.push('--cap-drop', 'ALL', '--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID', '--setenv', 'KSS_RUN_AS', `${uid}:${uid}`, ...(groups ? ['--setenv', 'KSS_RUN_GROUPS', groups] : []), '--', launch.command, ...launch.args);
      } else {
        // setpriv has no umask option: with volumes, a shell sets 0002 (files group-writable) and execs the server.
        const umask = groups ? ['/bin/sh', '-c', 'umask 0002 && exec "$@"', 'kss-umask'] : [];
        args.push('--', ns.setpriv, `--reuid=${uid}`, `--regid=${uid}`, ...(groups ? [`--groups=${groups}`] : ['--clear-groups']), '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--', ...umask, launch.command, ...launch.args);
      }
      return this.#start(...this.#limitOpenFiles(ns.bwrap, args, selfLimit), env, fds, cgroup, () => {});
    }
    // Unisolated: secrets go to a private folder the function is told about.
    const dir = secrets.size ? this.#writeUnisolatedSecrets(instance, secrets) : undefined;
    if (dir) env.KSS_SECRETS_DIR = dir;
    return this.#start(...this.#limitOpenFiles(launch.command, launch.args, selfLimit), env, fds, cgroup, () => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });
  }

  /**
   * `prlimit --nofile=N:N -- command`: the process lowers its own limit, which needs no
   * privilege (setting it on the replica from outside needs CAP_SYS_RESOURCE, which
   * this host's root lacks). Without prlimit the replica keeps the gateway's limit.
   * `self`: the runtime lowers it itself (`KSS_NOFILE`), nothing to wrap.
   */
  #limitOpenFiles(command: string, args: string[], self: boolean): [string, string[]] {
    return this.#prlimit && !self ? [this.#prlimit, [`--nofile=${this.#nofile}:${this.#nofile}`, '--', command, ...args]] : [command, args];
  }

  /** A 0700 folder of 0400 files (unisolated replicas only: no mount namespace to hide them in). */
  #writeUnisolatedSecrets(instance: string, secrets: Map<string, Buffer>): string {
    const dir = join(this.#o.runDir, 'secrets', `${instance}-${randomBytes(3).toString('hex')}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const [name, value] of secrets) writeFileSync(join(dir, name), value, { mode: 0o400 });
    return dir;
  }

  pooled(runtime: Runtime, command: { command: string; args: readonly string[] }): PooledSandbox | undefined {
    const ns = this.#o.namespaces;
    if (!ns && !this.#o.cgroups) return undefined;
    const id = `pool-${runtime}-${randomBytes(4).toString('hex')}`;
    const slot = join(this.#o.runDir, 'slots', id);
    // Generous until specialised: the pooled process runs only the platform's runtime code.
    const cgroup = this.#o.cgroups?.create(id, { pids: this.#pids });
    let inner: string[];
    if (ns) {
      mkdirSync(slot, { mode: 0o755 });
      inner = [ns.bwrap, ...systemRoot()];
      const made = new Set<string>();
      for (const p of this.#o.readOnlyPaths) bindAt(inner, made, p);
      bindAt(inner, made, slot, '--ro-bind');
      parentsOf(inner, made, SECRETS_MOUNT_PATH);
      inner.push(
        // Written by the runtime (still root here) at specialisation, before it drops to the function's uid.
        '--perms', '0755', '--tmpfs', SECRETS_MOUNT_PATH,
        '--chdir', '/tmp',
        // Generic: the uts namespace cannot be renamed once the process dropped to the function's uid.
        '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--hostname', 'kss-replica',
        '--as-pid-1', '--die-with-parent', '--new-session',
        '--setenv', 'HOME', '/tmp',
        '--cap-drop', 'ALL', '--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID', '--cap-add', 'CAP_CHOWN',
        // The warm pool's exec shim (runtime "exec") empties its bounding set before it drops to the uid, as setpriv would.
        ...(runtime === 'exec' ? ['--cap-add', 'CAP_SETPCAP'] : []),
        '--', command.command, ...command.args,
      );
    } else {
      inner = [command.command, ...command.args];
    }
    const wrapped = joinAndExec(cgroup?.procsFiles ?? [], this.#nofile, inner);
    let unisolatedSecrets: string | undefined;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      // An idle pooled process killed at close (or dead) may leave a half-started sandbox in its
      // cgroup (bwrap's child, cloned before the monitor was killed, waits for it for ever and
      // holds the gateway's pipes to it open): nothing outlives the release.
      cgroup?.killAll();
      if (ns) rmSync(slot, { recursive: true, force: true });
      if (unisolatedSecrets) rmSync(unisolatedSecrets, { recursive: true, force: true });
      cgroup?.remove();
    };
    return {
      command: wrapped.command,
      args: wrapped.args,
      env: { KSS_NOFILE: String(this.#nofile) },
      specialise: async (spec, artifact, instance, volumes = []): Promise<PooledSpecialisation | undefined> => {
        // The mounts of this sandbox are fixed: never weaken them to fit a function's volumes (see poolsVolumes).
        if (ns && volumes.length) return undefined;
        if (ns) {
          let size = this.#treeSizes.get(artifact.dir);
          if (size === undefined) this.#treeSizes.set(artifact.dir, (size = countEntries(artifact.dir, MAX_POOLED_TREE_ENTRIES)));
          if (size > MAX_POOLED_TREE_ENTRIES) return undefined;
        }
        try {
          cgroup?.setLimits(limitsOf(spec, this.#pids));
        } catch (err) {
          // E.g. a memory limit below what the pooled process already uses.
          this.#o.logger.debug({ err, function: qualifiedName({ name: spec.service, namespace: spec.namespace }) }, 'pooled process cannot take this function\'s limits');
          return undefined;
        }
        const secrets = await this.#secrets(spec);
        const start = this.#start(wrapped.command, wrapped.args, {}, [], cgroup, release);
        if (!ns) {
          if (secrets.size) unisolatedSecrets = this.#writeUnisolatedSecrets(instance, secrets);
          return { codeDir: artifact.dir, line: {}, env: unisolatedSecrets ? { KSS_SECRETS_DIR: unisolatedSecrets } : {}, start };
        }
        const uid = this.#o.uids.uidFor(spec.namespace, spec.service);
        this.#applyNetwork(spec, uid);
        linkTree(artifact.dir, slot);
        return {
          codeDir: slot,
          line: { runAs: { uid, gid: uid }, secrets: Object.fromEntries([...secrets].map(([k, v]) => [k, v.toString('base64')])) },
          env: {},
          start,
        };
      },
      release,
    };
  }

  async #secrets(spec: FunctionSpec): Promise<Map<string, Buffer>> {
    if (!spec.secrets?.length) return new Map();
    if (!this.#o.secrets) throw new Error('this gateway has no secret store');
    return this.#o.secrets.read(spec.namespace, spec.secrets);
  }

  #start(command: string, args: string[], env: Record<string, string>, fds: Buffer[], cgroup: Cgroup | undefined, cleanup: () => void): IsolatedStart {
    const isolated = this.#o.namespaces !== undefined;
    let released = false;
    const oomBefore = cgroup?.oomKills() ?? 0;
    return {
      command,
      args,
      env,
      fds,
      attach: (pid) => {
        // Synchronously after spawn: bwrap is still loading, so the sandbox it clones is born in the cgroup.
        try {
          cgroup?.addProcess(pid);
        } catch {
          // Gone already: the exit is reported as usual.
        }
      },
      settle: (pid) => {
        // Anything that escaped the race above joins now.
        const tree = [pid, ...descendantsOf(pid)];
        for (const p of tree) {
          try {
            if (cgroup && !cgroup.pids().includes(p)) cgroup.addProcess(p);
          } catch {
            // Exited meanwhile.
          }
        }
      },
      usage: () => cgroup?.usage(),
      exitReason: () => (cgroup && cgroup.oomKills() > oomBefore ? 'OOMKilled' : undefined),
      // bwrap's monitor dies on SIGTERM and takes the namespace with it: signal the runtime (its child) instead.
      stopTargets: (pid) => {
        if (!isolated) return [pid];
        const kids = childrenOf(pid);
        return kids.length ? kids : [pid];
      },
      release: () => {
        if (released) return;
        released = true;
        // The replica is over: a runtime that outlived its SIGKILLed monitor (pid 1 of its namespace
        // survives it) must not go on answering, from a code slot about to be emptied, as a replica the
        // gateway already counts as gone. Killed, its requests in flight become 502 KSS_REPLICA_FAILED.
        cgroup?.killAll();
        cleanup();
        cgroup?.remove();
      },
    };
  }
}

/** The folder a path's interpreter installation lives in (`/root/.pyenv/versions/3.11.7` for its `bin/python3.11`). */
export function installationOf(executable: string): string {
  return dirname(dirname(executable));
}
