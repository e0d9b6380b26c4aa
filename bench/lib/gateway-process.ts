/**
 * `kss up` as a separate process, started the way a user starts it, on 127.0.0.1
 * and a temporary data dir; and stopped for sure: SIGTERM, then SIGKILL after a
 * grace (its replicas exit when its pipe to them closes).
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface GatewayProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** The last ~64 KiB the process wrote (stdout and stderr). */
  logs(): string;
  /** Parsed JSON log lines (pino: `time` in ms, `msg`), the last 5000. */
  events(): LogEvent[];
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export interface LogEvent {
  time: number;
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface StartOptions {
  kssBin: string;
  port: number;
  dataDir: string;
  /** Extra node flags for the gateway process (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  cwd?: string;
  readyTimeoutMs?: number;
  /** Extra `kss up` flags (e.g. `--warm-pool 0`). */
  upArgs?: string[];
}

const LOG_KEEP = 64 * 1024;

export async function startGatewayProcess(opts: StartOptions): Promise<GatewayProcess> {
  const args = [...(opts.nodeArgs ?? []), opts.kssBin, 'up', '--port', String(opts.port), '--host', '127.0.0.1', '--data-dir', opts.dataDir, '--log-format', 'json', '--log-level', 'warn', ...(opts.upArgs ?? [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd });
  let logs = '';
  const events: LogEvent[] = [];
  let partial = '';
  const keep = (d: Buffer) => {
    logs += d;
    if (logs.length > 2 * LOG_KEEP) logs = logs.slice(-LOG_KEEP);
  };
  child.stdout!.on('data', (d: Buffer) => {
    keep(d);
    const lines = (partial + d.toString('utf8')).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      try {
        const e = JSON.parse(line) as LogEvent;
        if (typeof e.time === 'number') events.push(e);
        if (events.length > 10_000) events.splice(0, 5_000);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  let stopping: Promise<void> | undefined;
  const url = `http://127.0.0.1:${opts.port}`;
  const gw: GatewayProcess = {
    url,
    port: opts.port,
    child,
    logs: () => logs.slice(-LOG_KEEP),
    events: () => events.slice(-5_000),
    stop: (graceMs = 10_000) =>
      (stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      })()),
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
  let early: string | undefined;
  child.once('exit', (code, signal) => (early = `exited with ${code ?? signal}`));
  for (;;) {
    if (early) throw new Error(`kss up ${early} before answering /healthz:\n${gw.logs()}`);
    try {
      if ((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) })).ok) return gw;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await gw.stop(1_000);
      throw new Error(`kss up did not answer /healthz within ${opts.readyTimeoutMs ?? 20_000} ms:\n${gw.logs()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
