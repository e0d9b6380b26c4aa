/**
 * Function logs: every line a replica writes (stdout and stderr) and the platform's
 * events about it (started, ready, crashed, OOMKilled, stopped), kept per function as
 * NDJSON files in the data dir with size-based rotation, and streamed to followers.
 *
 * Each function has `current.ndjson` and at most one `previous.ndjson`: when current
 * passes `maxBytes` it becomes previous (the older one is dropped), so a function's
 * logs never take more than about twice `maxBytes` on disk. Lines are the OpenFaaS
 * logs shape, `{name, namespace, instance, timestamp, text}`, plus `stream`
 * (`stdout`, `stderr` or `event`).
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, FunctionLogLine, FunctionRef } from '../core/index.js';

/** One stored line: the wire shape every log source shares (src/core/function-logs.ts). */
export type LogLine = FunctionLogLine;

export interface LogQuery {
  instance?: string;
  /** Only lines at or after this epoch ms. */
  since?: number;
  /** Only the last N lines (after the other filters). */
  tail?: number;
}

/** Longest line kept; longer ones are cut (a runaway print must not fill the file in one line). */
export const MAX_LINE_CHARS = 16 * 1024;
/** Default size of one log file per function (so about 2 MiB per function on disk). */
export const DEFAULT_LOG_FILE_BYTES = 1024 * 1024;

interface FunctionLog {
  dir: string;
  fd: number;
  size: number;
}

export class LogStore {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #clock: Clock;
  readonly #open = new Map<string, FunctionLog>();
  readonly #followers = new Map<string, Set<(line: LogLine) => void>>();

  constructor(options: { dir: string; clock: Clock; maxBytes?: number }) {
    this.#dir = options.dir;
    this.#clock = options.clock;
    this.#maxBytes = options.maxBytes ?? DEFAULT_LOG_FILE_BYTES;
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
  }

  /** Records one line of `ref`'s replica `instance`. Never throws (logging must not break serving). */
  append(ref: FunctionRef, instance: string, stream: LogLine['stream'], text: string): void {
    const line: LogLine = {
      name: ref.name,
      namespace: ref.namespace,
      instance,
      timestamp: new Date(this.#clock.now()).toISOString(),
      text: text.length > MAX_LINE_CHARS ? `${text.slice(0, MAX_LINE_CHARS)}… [cut: ${text.length} characters]` : text,
      stream,
    };
    try {
      const log = this.#file(ref);
      const bytes = Buffer.from(`${JSON.stringify(line)}\n`);
      writeSync(log.fd, bytes);
      log.size += bytes.length;
      if (log.size >= this.#maxBytes) this.#rotate(ref, log);
    } catch {
      // Disk full or the folder removed: the line is lost, the function keeps serving.
    }
    for (const f of this.#followers.get(key(ref)) ?? []) f(line);
  }

  /** Stored lines of a function, oldest first. */
  read(ref: FunctionRef, q: LogQuery = {}): LogLine[] {
    const dir = this.#dirOf(ref);
    const lines: LogLine[] = [];
    for (const file of ['previous.ndjson', 'current.ndjson']) {
      const path = join(dir, file);
      if (!existsSync(path)) continue;
      for (const raw of readFileSync(path, 'utf8').split('\n')) {
        if (!raw) continue;
        try {
          const l = JSON.parse(raw) as LogLine;
          if (q.instance && l.instance !== q.instance) continue;
          if (q.since !== undefined && Date.parse(l.timestamp) < q.since) continue;
          lines.push(l);
        } catch {
          // A line cut by a crash mid-write.
        }
      }
    }
    return q.tail !== undefined ? lines.slice(Math.max(0, lines.length - q.tail)) : lines;
  }

  /** Calls `listener` with every new line of `ref`; returns the unsubscribe. */
  follow(ref: FunctionRef, listener: (line: LogLine) => void): () => void {
    const k = key(ref);
    let set = this.#followers.get(k);
    if (!set) this.#followers.set(k, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#followers.delete(k);
    };
  }

  /** Deletes a removed function's logs. */
  remove(ref: FunctionRef): void {
    const log = this.#open.get(key(ref));
    if (log) closeSync(log.fd);
    this.#open.delete(key(ref));
    rmSync(this.#dirOf(ref), { recursive: true, force: true });
  }

  close(): void {
    for (const log of this.#open.values()) closeSync(log.fd);
    this.#open.clear();
  }

  #dirOf(ref: FunctionRef): string {
    return join(this.#dir, ref.namespace, ref.name);
  }

  #file(ref: FunctionRef): FunctionLog {
    const k = key(ref);
    let log = this.#open.get(k);
    if (!log) {
      const dir = this.#dirOf(ref);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const fd = openSync(join(dir, 'current.ndjson'), 'a', 0o600);
      log = { dir, fd, size: fstatSync(fd).size };
      this.#open.set(k, log);
    }
    return log;
  }

  #rotate(ref: FunctionRef, log: FunctionLog): void {
    closeSync(log.fd);
    renameSync(join(log.dir, 'current.ndjson'), join(log.dir, 'previous.ndjson'));
    log.fd = openSync(join(log.dir, 'current.ndjson'), 'a', 0o600);
    log.size = 0;
    void ref;
  }
}

function key(ref: FunctionRef): string {
  return `${ref.namespace}/${ref.name}`;
}
