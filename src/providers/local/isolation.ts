/**
 * What the local provider needs from a sandbox, owned here (the caller) so the
 * provider stays ignorant of namespaces and cgroups. `src/sandbox/` implements it;
 * without one, replicas run as plain child processes.
 */
import type { FunctionSpec, Runtime } from '../../core/index.js';
import type { Artifact, LaunchCommand } from './runtime-launchers.js';
import type { PreparedVolume } from './volumes.js';

/** Usage of one replica, from its cgroup. */
export interface ReplicaUsage {
  cpuSeconds: number;
  memoryWorkingSetBytes: number;
}

/** A replica's sandbox for one process lifetime. */
export interface IsolatedStart {
  command: string;
  args: string[];
  /** Added to the replica's environment. */
  env: Record<string, string>;
  /** Bytes written (then closed) on fds 4, 5, … of the child: secret values, never on disk. */
  fds: Buffer[];
  /** Called right after spawn with the process's pid (it joins its cgroup before it can start much). */
  attach(pid: number): void;
  /** Called once the replica is ready: every process of it is in its cgroup and limited. */
  settle(pid: number): void;
  /** Current usage, when limits are enforced. */
  usage(): ReplicaUsage | undefined;
  /** Called once the process exited: says if the kernel killed it for memory (then `OOMKilled`). */
  exitReason(): 'OOMKilled' | undefined;
  /** Pids to signal for a graceful stop (the sandboxed runtime, not the sandbox's own monitor). */
  stopTargets(childPid: number): number[];
  /** Releases what the start held (cgroup, code links). Safe to call twice. */
  release(): void;
}

/** A warm-pool process's sandbox: generic until it is specialised. */
export interface PooledSandbox {
  command: string;
  args: string[];
  env: Record<string, string>;
  /**
   * Prepares this pooled process to become a replica of `spec` with these volumes;
   * undefined when it cannot (then spawn afresh) — e.g. a sandbox whose mounts were
   * fixed before the function was known cannot take volumes.
   */
  specialise(spec: FunctionSpec, artifact: Artifact, instance: string, volumes?: readonly PreparedVolume[]): Promise<PooledSpecialisation | undefined>;
  release(): void;
}

/** What a pooled process is told, and keeps, once it becomes a replica. */
export interface PooledSpecialisation {
  /** Where the function's code is, as the pooled process sees it. */
  codeDir: string;
  /** Extra fields of the specialisation line (uid to drop to, secret values). */
  line: Record<string, unknown>;
  /** Added to the replica's environment. */
  env: Record<string, string>;
  start: IsolatedStart;
}

export interface ReplicaIsolation {
  /**
   * Wraps a fresh start of `launch` for a replica of `spec`: its `volumes` are mounted
   * (read-only where asked) and their gids are the replica's supplementary groups; the
   * returned env then says where the replica sees them (`KSS_VOLUME_*`).
   */
  isolate(spec: FunctionSpec, artifact: Artifact, instance: string, launch: LaunchCommand, volumes?: readonly PreparedVolume[]): Promise<IsolatedStart>;
  /** Wraps a warm-pool process's command; undefined when pooled processes cannot be isolated (no pool then). */
  pooled?(runtime: Runtime, command: { command: string; args: readonly string[] }): PooledSandbox | undefined;
  /**
   * Whether a warm-pool process can become a replica of a function with volumes. False
   * or absent: such replicas always start afresh (the pool is not even asked), since a
   * pooled sandbox's mounts are fixed before it knows its function.
   */
  readonly poolsVolumes?: boolean;
  /** Whether replicas can be cut off the network (`kss.network: none`); false or absent: such a deploy is refused. */
  readonly canDenyNetwork?: boolean;
  /** Undoes host-wide state once every replica has stopped (e.g. firewall entries). */
  close?(): void;
}
