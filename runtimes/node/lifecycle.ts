/**
 * Listening and draining, shared by the runtimes written in TypeScript (the Node
 * runtime and the exec watchdog): bind the port, and on SIGTERM stop accepting, let
 * in-flight requests finish within the grace period, then exit. A second signal
 * exits at once.
 */
import { closeSync, writeSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RuntimeLogger } from './log.js';

/** Binds `server`; resolves with the port (the given one, or the one picked for port 0). */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export interface Drainer {
  readonly shuttingDown: boolean;
  /** Starts the drain (or, called again, exits at once). */
  shutdown(reason: string, exitCode?: number): void;
}

export function drainer(options: {
  server: Server;
  graceMs: number;
  log: RuntimeLogger;
  /** Requests in flight now (for the log lines). */
  inFlight: () => number;
  exit: (code: number) => void;
  /** Runs once when the drain starts (e.g. ask in-flight responses to close their connection). */
  beforeDrain?: () => void;
}): Drainer {
  const { server, graceMs, log, inFlight, exit } = options;
  let shuttingDown = false;
  let exitCode = 0;
  return {
    get shuttingDown() {
      return shuttingDown;
    },
    shutdown(reason, code = 0) {
      if (shuttingDown) {
        log.warn(`${reason} during shutdown: exiting now with ${inFlight()} request(s) in flight`);
        exit(exitCode);
        return;
      }
      shuttingDown = true;
      exitCode = code;
      log.info(`${reason}: draining ${inFlight()} in-flight request(s), up to ${graceMs} ms`);
      options.beforeDrain?.();
      const timer = setTimeout(() => {
        log.warn(`grace period of ${graceMs} ms is over with ${inFlight()} request(s) in flight: exiting`);
        exit(exitCode);
      }, graceMs);
      timer.unref();
      server.close(() => {
        clearTimeout(timer);
        log.info('drained: exiting');
        exit(exitCode);
      });
      server.closeIdleConnections();
    },
  };
}

/**
 * Process-level wiring shared by the runtimes: SIGTERM/SIGINT drain; an uncaught
 * exception drains and exits with `failureCode` (the process state is unknown, so
 * the platform restarts it); with `KSS_PARENT_PIPE=1`, end-of-file on stdin means
 * the platform died without stopping us, so no orphan replica outlives its gateway.
 */
export function stopOnSignals(runtime: Pick<Drainer, 'shutdown'>, log: RuntimeLogger, failureCode: number): void {
  process.on('SIGTERM', () => runtime.shutdown('SIGTERM'));
  process.on('SIGINT', () => runtime.shutdown('SIGINT'));
  process.on('uncaughtException', (err) => {
    log.error('uncaught exception', err);
    runtime.shutdown('uncaught exception', failureCode);
  });
  if (process.env.KSS_PARENT_PIPE === '1') {
    process.stdin.on('end', () => runtime.shutdown('the platform went away'));
    process.stdin.on('error', () => runtime.shutdown('the platform went away'));
    process.stdin.resume();
  }
}

/**
 * Tells the platform this process listens, without waiting for its next `/ready`
 * probe: with `KSS_READY_FD=N` (the local provider passes a pipe as fd 3), writes
 * `ready\n` there and closes it. Every millisecond of probe lag is cold-start
 * latency; the probe stays the fallback for runtimes that do not write.
 */
export function notifyReady(env: NodeJS.ProcessEnv = process.env): void {
  const raw = env.KSS_READY_FD;
  if (!raw || !/^\d+$/.test(raw)) return;
  const fd = Number(raw);
  try {
    writeSync(fd, 'ready\n');
    closeSync(fd);
  } catch {
    // Not a pipe we were given (a user starting the runtime by hand): the probe will do.
  }
  delete env.KSS_READY_FD;
}
