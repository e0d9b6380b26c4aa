/**
 * The warm pool: a few generic runtime processes per language, started ahead and
 * waiting (`KSS_POOL=1`). A cold start takes one and specialises it by sending the
 * function's environment on its stdin (code dir, handler, env vars); the process then
 * loads the handler and listens, and the pool refills in the background. Booting the
 * runtime — most of a cold start — is paid before the request arrives.
 *
 * Only runtimes with a pool mode take part (Node and Python). When replicas are
 * sandboxed, the pool also keeps generic exec shims (`runtimes/python/kss_exec_shim.py`,
 * see {@link WarmPoolOptions.shim}): for runtimes without a pool mode (Go, exec, http)
 * and for Node or Python functions that cannot use theirs, a shim already inside its
 * sandbox is specialised like any pooled process and then `execve`s the runtime's own
 * command, so the sandbox's set-up (bwrap, the cgroup) is paid before the request.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { Runtime } from '../../core/index.js';
import type { PooledSandbox, ReplicaIsolation } from './isolation.js';
import { freePort } from './ports.js';
import { READY_FD_ENV, REPLICA_STDIO } from './readiness.js';

/** How long after a take the pool starts its replacement: past the taken process's specialisation and first reply. */
export const REFILL_DELAY_MS = 50;

/** Environment passed through from the gateway to replicas; nothing else leaks in. */
export const PASSTHROUGH_ENV = ['PATH', 'LANG', 'TZ', 'SYSTEMROOT'];

/** A process waiting in the pool. */
export interface PooledProcess {
  child: ChildProcess;
  /** Its sandbox, when replicas are isolated: specialising it applies the function's code, limits and uid. */
  sandbox?: PooledSandbox;
  /** A generic exec shim: told the runtime's command, it execs it in place (see {@link WarmPool.takeShim}). */
  shim?: boolean;
  port: number;
  command: string;
  args: readonly string[];
}

export interface PoolCommand {
  command: string;
  args: readonly string[];
  /** Environment the runtime needs from its first instruction (e.g. PYTHONUNBUFFERED), before it is specialised. */
  env?: Readonly<Record<string, string>>;
}

export interface WarmPoolOptions {
  /** Idle processes to keep per runtime (e.g. `{ node: 2 }`); 0 or absent: no pool. */
  sizes: Partial<Record<Runtime, number>>;
  /** The generic command of each runtime that has a pool mode. */
  commands: Partial<Record<Runtime, PoolCommand>>;
  host: string;
  logger: Logger;
  /** Starts pooled processes inside a generic sandbox (see ReplicaIsolation.pooled). */
  isolation?: ReplicaIsolation;
  /**
   * Generic exec shims to keep ready (only with `isolation`: a shim is only worth it
   * when it saves a sandbox's set-up). Its command reads one JSON line on stdin,
   * `{"exec": {command, args, env, cwd}, runAs?, secrets?}`, writes the secrets, drops
   * to the uid and execs the command.
   */
  shim?: { size: number; command: PoolCommand };
}

/** The pool's own key for the exec shims (not a runtime). */
const SHIM = 'shim' as Runtime;

export class WarmPool {
  readonly #idle = new Map<Runtime, PooledProcess[]>();
  readonly #starting = new Map<Runtime, number>();
  readonly #options: WarmPoolOptions;
  #closed = false;

  constructor(options: WarmPoolOptions) {
    this.#options = options;
  }

  /** Fills every runtime's pool. */
  start(): void {
    for (const runtime of Object.keys(this.#options.sizes) as Runtime[]) this.#refill(runtime);
    if (this.#shimsEnabled) this.#refill(SHIM);
  }

  get #shimsEnabled(): boolean {
    return (this.#options.shim?.size ?? 0) > 0 && this.#options.isolation?.pooled !== undefined;
  }

  /** An idle exec shim inside its generic sandbox, or undefined. Refills behind it. */
  takeShim(): PooledProcess | undefined {
    if (!this.#shimsEnabled) return undefined;
    const cmd = this.#options.shim!.command;
    return this.take(SHIM, cmd.command, cmd.args);
  }

  /** An idle process for `runtime` started with exactly this command, or undefined. Refills behind it. */
  take(runtime: Runtime, command: string, args: readonly string[]): PooledProcess | undefined {
    const idle = this.#idle.get(runtime);
    if (!idle?.length) return undefined;
    const index = idle.findIndex((p) => p.command === command && p.args.length === args.length && p.args.every((a, i) => a === args[i]) && p.child.exitCode === null);
    if (index < 0) return undefined;
    const [taken] = idle.splice(index, 1);
    taken!.child.removeAllListeners('exit');
    // Refill a moment later, not now: spawning (a fork of the gateway, ~1-3 ms) and booting
    // a runtime (~60 ms of CPU) beside the process being specialised doubled cold starts
    // on 2 cores (measured: activate→specialised 0.5-4 ms, first reply 2.5-5 ms later).
    const timer = setTimeout(() => this.#refill(runtime), REFILL_DELAY_MS);
    timer.unref();
    return taken;
  }

  /** Idle processes per runtime (for status and tests). */
  get idle(): Partial<Record<Runtime, number>> {
    return Object.fromEntries([...this.#idle].filter(([r]) => r !== SHIM).map(([r, list]) => [r, list.length]));
  }

  /** Idle exec shims (for status and tests). */
  get idleShims(): number {
    return this.#idle.get(SHIM)?.length ?? 0;
  }

  /** Stops every idle process (the gateway is shutting down). */
  close(): void {
    this.#closed = true;
    for (const list of this.#idle.values()) {
      for (const p of list) {
        p.child.kill('SIGKILL');
        p.child.once('exit', () => p.sandbox?.release());
      }
    }
    this.#idle.clear();
  }

  #refill(runtime: Runtime): void {
    const shim = runtime === SHIM;
    const want = shim ? (this.#shimsEnabled ? this.#options.shim!.size : 0) : this.#options.sizes[runtime] ?? 0;
    const cmd = shim ? this.#options.shim?.command : this.#options.commands[runtime];
    if (!cmd || this.#closed) return;
    const have = (this.#idle.get(runtime)?.length ?? 0) + (this.#starting.get(runtime) ?? 0);
    for (let i = have; i < want; i++) void this.#spawn(runtime, cmd);
  }

  async #spawn(runtime: Runtime, cmd: PoolCommand): Promise<void> {
    this.#starting.set(runtime, (this.#starting.get(runtime) ?? 0) + 1);
    try {
      const port = await freePort(this.#options.host);
      if (this.#closed) return;
      const env: Record<string, string> = {};
      for (const key of PASSTHROUGH_ENV) if (process.env[key] !== undefined) env[key] = process.env[key]!;
      Object.assign(env, cmd.env ?? {}, { PORT: String(port), HOST: this.#options.host, KSS_POOL: '1', KSS_PARENT_PIPE: '1', NODE_ENV: 'production', ...READY_FD_ENV });
      const shim = runtime === SHIM;
      const sandbox = this.#options.isolation?.pooled?.(shim ? 'exec' : runtime, cmd);
      // A shim is only ever started sandboxed (without a sandbox it would save nothing).
      if (shim && !sandbox) return;
      if (sandbox) Object.assign(env, sandbox.env);
      const child = sandbox ? spawn(sandbox.command, sandbox.args, { env, stdio: REPLICA_STDIO }) : spawn(cmd.command, [...cmd.args], { env, stdio: REPLICA_STDIO });
      child.stdin?.on('error', () => {});
      child.on('error', (err) => this.#options.logger.warn({ err, runtime }, 'warm pool process failed to start'));
      const entry: PooledProcess = { child, port, command: cmd.command, args: cmd.args, ...(sandbox ? { sandbox } : {}), ...(shim ? { shim: true } : {}) };
      child.once('exit', () => {
        sandbox?.release();
        // Died while idle: forget it; the next refill replaces it.
        const list = this.#idle.get(runtime);
        const i = list?.indexOf(entry) ?? -1;
        if (list && i >= 0) list.splice(i, 1);
      });
      let list = this.#idle.get(runtime);
      if (!list) this.#idle.set(runtime, (list = []));
      list.push(entry);
    } finally {
      this.#starting.set(runtime, (this.#starting.get(runtime) ?? 1) - 1);
    }
  }
}
