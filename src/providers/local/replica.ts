/**
 * One replica of a function on this machine: a supervised child process. It is
 * started, probed on `/ready`, and restarted with exponential backoff when it exits
 * without being asked to. State changes are reported through `onChange` so the
 * provider can refresh the endpoints the invoke path reads.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { FUNCTION_LABEL, REVISION_LABEL, sleep, type Clock, type FunctionSpec, type ReplicaInfo, type ReplicaUsageInfo } from '../../core/index.js';
import { freePort } from './ports.js';
import { pollDelay, probeReady, READY_FD_ENV, readySignal, REPLICA_STDIO } from './readiness.js';
import type { Artifact, Launcher } from './runtime-launchers.js';
import type { IsolatedStart, ReplicaIsolation, ReplicaUsage } from './isolation.js';
import { PASSTHROUGH_ENV, type WarmPool } from './warm-pool.js';
import { volumeEnv, type PreparedVolume, type VolumeHost } from './volumes.js';

/** Supervisor tuning; defaults follow Kubernetes' CrashLoopBackOff shape, shortened for a laptop. */
export interface ReplicaOptions {
  host: string;
  /** Longest a replica may take from spawn to `/ready` before it counts as failed. */
  readyTimeoutMs: number;
  /** SIGTERM → SIGKILL grace when stopping. */
  graceMs: number;
  /** First restart delay; doubles per consecutive failure up to `backoffMaxMs`. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** A replica that stayed up this long resets its failure count. */
  backoffResetMs: number;
}

/** How long a replica reported failed may take to exit by itself before it is killed. */
const FAIL_GRACE_MS = 200;

export const DEFAULT_REPLICA_OPTIONS: ReplicaOptions = {
  host: '127.0.0.1',
  readyTimeoutMs: 30_000,
  graceMs: 10_000,
  backoffBaseMs: 100,
  backoffMaxMs: 10_000,
  backoffResetMs: 30_000,
};


/** Environment variables an interpreter reads at start-up (Node's and Python's). */
const STARTUP_ENV = /^(NODE_OPTIONS|NODE_PATH|NODE_EXTRA_CA_CERTS|UV_THREADPOOL_SIZE|PYTHON[A-Z_]*)$/;

/** Where a replica's output and events go: `(instance, stream, text)`. */
export type ReplicaLogSink = (instance: string, stream: 'stdout' | 'stderr' | 'event', text: string) => void;

export class Replica {
  readonly id: string;
  #state: ReplicaInfo['state'] = 'starting';
  #port = 0;
  #child: ChildProcess | undefined;
  #restarts = 0;
  #lastExit: string | undefined;
  #startedAt: number | undefined;
  #stopping = false;
  #stopAbort = new AbortController();
  #done: Promise<void>;
  readonly #spec: FunctionSpec;
  readonly #artifact: Artifact;
  readonly #launcher: Launcher;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #options: ReplicaOptions;
  readonly #onChange: () => void;
  readonly #pool: WarmPool | undefined;
  readonly #isolation: ReplicaIsolation | undefined;
  readonly #onLog: ReplicaLogSink | undefined;
  readonly #volumes: VolumeHost | undefined;
  /** The sandbox of the current process, when isolated. */
  #isolated: IsolatedStart | undefined;
  #cpuSample: { at: number; cpuSeconds: number } | undefined;

  constructor(args: {
    spec: FunctionSpec;
    artifact: Artifact;
    launcher: Launcher;
    clock: Clock;
    logger: Logger;
    options: ReplicaOptions;
    onChange: () => void;
    pool?: WarmPool;
    isolation?: ReplicaIsolation;
    /** Every line the replica writes, and the platform's events about it (the function's logs). */
    onLog?: ReplicaLogSink;
    /** The persistent volumes (`kss.volume`), prepared before every start. */
    volumes?: VolumeHost;
  }) {
    this.#onLog = args.onLog;
    this.#volumes = args.volumes;
    this.#pool = args.pool;
    this.#isolation = args.isolation;
    this.#spec = args.spec;
    this.id = `${args.spec.service}-${randomBytes(4).toString('hex')}`;
    this.#artifact = args.artifact;
    this.#launcher = args.launcher;
    this.#clock = args.clock;
    this.#logger = args.logger.child({ function: `${args.spec.service}.${args.spec.namespace}`, instance: this.id });
    this.#options = args.options;
    this.#onChange = args.onChange;
    this.#done = this.#run().catch((err) => {
      this.#logger.error({ err }, 'replica supervisor failed');
    });
  }

  get state(): ReplicaInfo['state'] {
    return this.#state;
  }

  get origin(): string {
    return `http://${this.#options.host}:${this.#port}`;
  }

  info(): ReplicaInfo {
    const info: ReplicaInfo = { id: this.id, state: this.#state, restarts: this.#restarts };
    if (this.#port) info.origin = this.origin;
    if (this.#child?.pid !== undefined && this.#child.exitCode === null) {
      // In a sandbox, the runtime's pid (what `kill PID` should reach to drain it), not bwrap's monitor.
      info.pid = this.#isolated && this.#state !== 'starting' ? (this.#isolated.stopTargets(this.#child.pid)[0] ?? this.#child.pid) : this.#child.pid;
    }
    if (this.#startedAt !== undefined) info.startedAt = new Date(this.#startedAt).toISOString();
    if (this.#lastExit) info.lastExit = this.#lastExit;
    const usage = this.usage();
    if (usage) info.usage = usage;
    return info;
  }

  /**
   * CPU and memory of the running process, from its cgroup; undefined when not
   * measured. Millicores are averaged since an earlier reading at least 1 s old (one
   * is kept per 5 s), so frequent polling does not make the figure noisy.
   */
  usage(): ReplicaUsageInfo | undefined {
    const u: ReplicaUsage | undefined = this.#child?.exitCode === null ? this.#isolated?.usage() : undefined;
    if (!u) return undefined;
    const now = this.#clock.now();
    const out: ReplicaUsageInfo = { cpuSeconds: u.cpuSeconds, memoryWorkingSetBytes: u.memoryWorkingSetBytes };
    const prev = this.#cpuSample;
    if (prev && now - prev.at >= 1000 && u.cpuSeconds >= prev.cpuSeconds) {
      out.cpuMillicores = ((u.cpuSeconds - prev.cpuSeconds) * 1e6) / (now - prev.at);
    }
    if (!prev || now - prev.at >= 5000 || u.cpuSeconds < prev.cpuSeconds) this.#cpuSample = { at: now, cpuSeconds: u.cpuSeconds };
    return out;
  }

  /** Marks the replica failed now (e.g. the invoke path saw its connection drop); the process is killed and restarted. */
  fail(reason: string): void {
    if (this.#stopping || this.#state !== 'ready') return;
    this.#logger.warn({ reason }, 'replica reported failed; restarting');
    const child = this.#child;
    // A process that dropped the connection because it is exiting gets a moment to do so,
    // so its own exit status is what is recorded (in a sandbox the process we hold is
    // bwrap's monitor, alive until it has reaped the runtime).
    const cancel = this.#clock.setTimeout(() => {
      if (child && child.exitCode === null && child.signalCode === null) this.#kill(child);
    }, FAIL_GRACE_MS);
    child?.once('exit', cancel);
  }

  /** Stops the replica: SIGTERM, then SIGKILL after the grace period. Resolves when the process is gone. */
  async stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      this.#setState('stopping');
      this.#stopAbort.abort(new Error('replica stopping'));
      const child = this.#child;
      if (child && child.exitCode === null && child.signalCode === null) {
        // In a sandbox, the runtime (not the sandbox's monitor) gets the SIGTERM, so it can drain.
        const targets = child.pid !== undefined && this.#isolated ? this.#isolated.stopTargets(child.pid) : undefined;
        if (targets) for (const pid of targets) {
          try {
            process.kill(pid, 'SIGTERM');
          } catch {
            // Already gone.
          }
        }
        else child.kill('SIGTERM');
        const cancel = this.#clock.setTimeout(() => this.#kill(child), this.#options.graceMs);
        await new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
        cancel();
      }
    }
    await this.#done;
  }

  /**
   * SIGKILL for the whole replica. In a sandbox the process we hold is bwrap's monitor
   * and the runtime is pid 1 of its own pid namespace, which outlives a SIGKILLed monitor
   * (bwrap's --die-with-parent does not reach it with --as-pid-1; measured on Linux 6.18):
   * left alive, a server that ignores SIGTERM kept running — with its volumes mounted —
   * after its function was removed. From the gateway's namespace its own SIGKILL always lands.
   */
  #kill(child: ChildProcess): void {
    if (child.pid !== undefined && this.#isolated) {
      for (const pid of this.#isolated.stopTargets(child.pid)) {
        if (pid === child.pid) continue;
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
    child.kill('SIGKILL');
  }

  #setState(state: ReplicaInfo['state']): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#onChange();
  }

  async #run(): Promise<void> {
    let failures = 0;
    let usePool = true;
    while (!this.#stopping) {
      const started = this.#clock.now();
      const { exit, pooledNeverReady } = await this.#startOnce(usePool);
      if (this.#stopping) break;
      usePool = true;
      if (pooledNeverReady) {
        // A pooled process that dies before it is ready (its port taken since the pool
        // chose it, or it died while idle) is the pool's failure, not the function's:
        // start afresh at once, without the pool, and count nothing.
        this.#logger.warn({ exit }, 'warm-pool process failed to specialise; starting a fresh process');
        usePool = false;
        continue;
      }
      failures = this.#clock.now() - started >= this.#options.backoffResetMs ? 1 : failures + 1;
      this.#lastExit = exit;
      this.#restarts++;
      this.#setState('crashed');
      const delay = Math.min(this.#options.backoffBaseMs * 2 ** (failures - 1), this.#options.backoffMaxMs);
      this.#logger.warn({ exit, restartInMs: delay }, 'replica stopped unexpectedly');
      try {
        await sleep(this.#clock, delay, this.#stopAbort.signal);
      } catch {
        break;
      }
    }
  }

  /** Spawns (or takes from the pool) once; resolves when the process ended, with how, and whether a pooled one never got ready. */
  async #startOnce(usePool: boolean): Promise<{ exit: string; pooledNeverReady: boolean }> {
    const launch = this.#launcher(this.#spec, this.#artifact, this.#options.graceMs);
    let volumes: PreparedVolume[] = [];
    try {
      volumes = this.#volumes?.prepare(this.#spec) ?? [];
    } catch (err) {
      return { exit: `could not prepare its volumes: ${err instanceof Error ? err.message : String(err)}`, pooledNeverReady: false };
    }
    // A sandbox whose mounts were fixed ahead cannot take volumes: such replicas start afresh.
    const poolable = usePool && !(volumes.length && this.#isolation && !this.#isolation.poolsVolumes);
    // Variables read only when the interpreter starts cannot be given to a pooled process: spawn fresh then.
    let pooled = !poolable || Object.keys(this.#spec.envVars ?? {}).some((k) => STARTUP_ENV.test(k)) ? undefined : this.#pool?.take(this.#spec.runtime, launch.command, launch.args);
    // No pooled runtime for it (Go, exec, http, a Node/Python function with start-up
    // variables, an empty pool): in a sandbox, an exec shim that is already inside one
    // becomes this replica by exec'ing the launcher's own command.
    if (!pooled && poolable && this.#isolation) pooled = this.#pool?.takeShim();
    let line: Record<string, unknown> = {};
    let codeDir = this.#artifact.dir;
    let specialEnv: Record<string, string> = {};
    this.#isolated = undefined;
    try {
      if (pooled?.sandbox) {
        const special = await pooled.sandbox.specialise(this.#spec, this.#artifact, this.id, volumes);
        if (special) {
          ({ line, codeDir, env: specialEnv } = special);
          this.#isolated = special.start;
        } else {
          // This pooled process cannot become this function (code too big, limits below its use): start afresh.
          pooled.child.kill('SIGKILL');
          pooled.sandbox.release();
          pooled = undefined;
        }
      } else if (pooled && this.#isolation) {
        // An unisolated pooled process must not become an isolated replica.
        pooled.child.kill('SIGKILL');
        pooled = undefined;
      }
    } catch (err) {
      pooled?.child.kill('SIGKILL');
      pooled?.sandbox?.release();
      return { exit: `could not be prepared: ${err instanceof Error ? err.message : String(err)}`, pooledNeverReady: false };
    }
    this.#port = pooled ? pooled.port : await freePort(this.#options.host);
    const env: Record<string, string> = {};
    for (const key of PASSTHROUGH_ENV) if (process.env[key] !== undefined) env[key] = process.env[key]!;
    Object.assign(env, this.#spec.envVars ?? {}, launch.env, {
      PORT: String(this.#port),
      HOST: this.#options.host,
      // A revision's deployment (NAME--rN) still tells the function its own name, and which revision it is.
      KSS_FUNCTION_NAME: this.#spec.labels?.[FUNCTION_LABEL] ?? this.#spec.service,
      ...(this.#spec.labels?.[REVISION_LABEL] ? { KSS_REVISION: this.#spec.labels[REVISION_LABEL] } : {}),
      KSS_FUNCTION_NAMESPACE: this.#spec.namespace,
      KSS_INSTANCE: this.id,
      // The replica exits when its stdin closes: if the gateway dies, no orphan keeps running.
      KSS_PARENT_PIPE: '1',
      ...READY_FD_ENV,
    });
    if (codeDir !== this.#artifact.dir) env.KSS_CODE_DIR = codeDir;
    // Where each volume is: its host folder here; a sandbox's env below says where it is mounted instead.
    Object.assign(env, volumeEnv(volumes), specialEnv);
    let command = launch.command;
    let args = launch.args;
    if (!pooled && this.#isolation) {
      try {
        this.#isolated = await this.#isolation.isolate(this.#spec, this.#artifact, this.id, launch, volumes);
      } catch (err) {
        return { exit: `could not be isolated: ${err instanceof Error ? err.message : String(err)}`, pooledNeverReady: false };
      }
      ({ command, args } = this.#isolated);
      Object.assign(env, this.#isolated.env);
    }
    // stop() ran during one of the awaits above: it saw no live child to signal, so nothing
    // would ever stop the process started below and stop() would wait on it forever (the
    // exit hang seen in CI when a gateway closed while a replica was being specialised).
    if (this.#stopping) {
      if (pooled) {
        const gone = new Promise((resolve) => (pooled!.child.exitCode !== null || pooled!.child.signalCode !== null ? resolve(undefined) : pooled!.child.once('exit', resolve)));
        pooled.child.kill('SIGKILL');
        await gone;
      }
      // As after a normal exit: the cgroup can only go once its processes have.
      this.#isolated?.release();
      return { exit: 'stopped before it started', pooledNeverReady: false };
    }
    this.#startedAt = this.#clock.now();
    this.#setState('starting');
    let child: ChildProcess;
    if (pooled) {
      // Specialise a warm process: it loads this function and listens on the port it was given.
      child = pooled.child;
      if (pooled.shim) {
        // The code is in the slot now: a command inside the function's folder (Go's binary) is run from there.
        const inCode = (p: string) => (p === this.#artifact.dir || p.startsWith(`${this.#artifact.dir}/`) ? codeDir + p.slice(this.#artifact.dir.length) : p);
        const exec = { command: inCode(launch.command), args: launch.args, env, cwd: codeDir };
        child.stdin?.write(`${JSON.stringify({ ...line, exec })}\n`);
      } else child.stdin?.write(`${JSON.stringify({ ...line, env })}\n`);
    } else {
      const fds = this.#isolated?.fds ?? [];
      child = spawn(command, args, { cwd: this.#artifact.dir, env, stdio: [...REPLICA_STDIO, ...fds.map(() => 'pipe' as const)] });
      if (child.pid !== undefined) this.#isolated?.attach(child.pid);
      // Secret values go to the sandbox through pipes (bwrap --ro-bind-data), never through the disk.
      fds.forEach((data, i) => {
        const pipe = child.stdio[4 + i] as import('node:stream').Writable | null;
        pipe?.on('error', () => {});
        pipe?.end(data);
      });
    }
    this.#child = child;
    const exited = new Promise<string>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(child.signalCode ? `killed by ${child.signalCode}` : `exited with code ${child.exitCode}`);
      child.once('error', (err) => resolve(`failed to start: ${err.message}`));
      child.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exited with code ${code}`));
    });
    child.stdin?.on('error', () => {});
    for (const [stream, name] of [[child.stdout, 'stdout'], [child.stderr, 'stderr']] as const) {
      if (!stream) continue;
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        this.#logger.debug({ stream: name }, line);
        this.#onLog?.(this.id, name, line);
      });
    }

    let exitedReason: string | undefined;
    void exited.then((r) => (exitedReason = r));
    let signalled = false;
    let becameReady = false;
    const signal = readySignal(child).then(() => (signalled = true));
    const spawnedAt = this.#clock.now();
    const deadline = spawnedAt + this.#options.readyTimeoutMs;
    while (exitedReason === undefined && !this.#stopping) {
      // A probe in flight must not delay a ready signal that arrives meanwhile.
      if (signalled || (await Promise.race([probeReady(this.#port, this.#options.host), signal.then(() => true)]))) {
        if (exitedReason === undefined && !this.#stopping) {
          if (child.pid !== undefined) this.#isolated?.settle(child.pid);
          this.#onLog?.(this.id, 'event', `ready on ${this.origin}${pooled ? ' (from the warm pool)' : ''}${this.#isolated ? ', sandboxed' : ''}`);
          this.#setState('ready');
          becameReady = true;
        }
        break;
      }
      if (this.#clock.now() > deadline) {
        this.#logger.error({ timeoutMs: this.#options.readyTimeoutMs }, 'replica did not become ready in time; killing it');
        this.#kill(child);
        break;
      }
      await Promise.race([sleep(this.#clock, pollDelay(this.#clock.now() - spawnedAt)), exited, signal]);
    }
    let exit = await exited;
    if (this.#isolated?.exitReason() === 'OOMKilled') {
      exit = `OOMKilled at ${new Date(this.#clock.now()).toISOString()} (over its memory limit of ${this.#spec.limits?.memory ?? 'the pool default'})`;
    }
    this.#isolated?.release();
    this.#onLog?.(this.id, 'event', this.#stopping ? `stopped (${exit})` : `${exit.startsWith('OOMKilled') ? exit : `crashed: ${exit}`}; restarting with backoff`);
    // Exit 2 (bad environment) and 3 (the handler does not load) are the function's own fault, pooled or not.
    const usersFault = child.exitCode === 2 || child.exitCode === 3;
    return { exit, pooledNeverReady: pooled !== undefined && !becameReady && !this.#stopping && !usersFault };
  }
}
