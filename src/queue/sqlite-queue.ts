/**
 * The embedded call queue: one SQLite file (`queue.db` in the data dir), WAL with
 * `synchronous=FULL`, so a call is on disk (fsync'd) before `enqueue` resolves.
 *
 * Writes are group-committed: every enqueue, settle and callback update that arrives in
 * the same turn of the event loop goes into one transaction and one fsync, and each
 * caller's promise resolves after that commit. That is what lets one disk accept
 * thousands of calls a second (an fsync costs about as much as hundreds of inserts).
 *
 * One gateway owns the file: on open, calls left `running` by a gateway that died are
 * queued again at once (their attempt was cut off; at-least-once delivery), rather than
 * waiting for their lease to expire. Several gateways share a queue through the
 * JetStream backend instead.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { KssError } from '../core/index.js';
import type { CallFilter, CallQueue, CallRecord, CallState, NewCall, Settlement, StoredResult } from './call-queue.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS calls (
  seq            INTEGER PRIMARY KEY AUTOINCREMENT,
  id             TEXT NOT NULL UNIQUE,
  namespace      TEXT NOT NULL,
  name           TEXT NOT NULL,
  method         TEXT NOT NULL,
  path           TEXT NOT NULL,
  query          TEXT NOT NULL,
  headers        TEXT NOT NULL,
  body           BLOB NOT NULL,
  callback_url   TEXT,
  state          TEXT NOT NULL,
  attempts       INTEGER NOT NULL DEFAULT 0,
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL,
  due_at         INTEGER NOT NULL,
  finished_at    INTEGER,
  last_error     TEXT,
  result_status  INTEGER,
  result_headers TEXT,
  result_body    BLOB,
  result_seconds REAL,
  cb_state       TEXT NOT NULL,
  cb_attempts    INTEGER NOT NULL DEFAULT 0,
  cb_due_at      INTEGER,
  cb_error       TEXT
);
CREATE INDEX IF NOT EXISTS calls_due ON calls (state, due_at);
CREATE INDEX IF NOT EXISTS calls_callbacks ON calls (cb_state, cb_due_at);
CREATE INDEX IF NOT EXISTS calls_function ON calls (namespace, name, seq);
`;

interface Row {
  id: string;
  namespace: string;
  name: string;
  method: string;
  path: string;
  query: string;
  headers: string;
  body: Buffer;
  callback_url: string | null;
  state: CallState;
  attempts: number;
  created_at: number;
  updated_at: number;
  due_at: number;
  finished_at: number | null;
  last_error: string | null;
  result_status: number | null;
  result_headers: string | null;
  result_body: Buffer | null;
  result_seconds: number | null;
  cb_state: CallRecord['callback']['state'];
  cb_attempts: number;
  cb_due_at: number | null;
  cb_error: string | null;
}

function toRecord(r: Row): CallRecord {
  const rec: CallRecord = {
    id: r.id,
    namespace: r.namespace,
    name: r.name,
    request: { method: r.method, path: r.path, query: r.query, headers: JSON.parse(r.headers) as Record<string, string>, body: r.body },
    state: r.state,
    attempts: r.attempts,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    dueAt: r.due_at,
    callback: { state: r.cb_state, attempts: r.cb_attempts },
  };
  if (r.callback_url) rec.callbackUrl = r.callback_url;
  if (r.finished_at !== null) rec.finishedAt = r.finished_at;
  if (r.last_error !== null) rec.lastError = r.last_error;
  if (r.result_status !== null) {
    rec.result = { status: r.result_status, headers: JSON.parse(r.result_headers ?? '{}') as Record<string, string>, body: r.result_body ?? Buffer.alloc(0), durationSeconds: r.result_seconds ?? 0 };
  }
  if (r.cb_due_at !== null) rec.callback.dueAt = r.cb_due_at;
  if (r.cb_error !== null) rec.callback.lastError = r.cb_error;
  return rec;
}

export interface SqliteQueueOptions {
  file: string;
  /** Epoch ms, for the recovery of calls left running (default Date.now). */
  now?: () => number;
}

/** Opens (creating if needed) the queue at `file` and requeues calls a dead gateway left running. */
export function openSqliteQueue(options: SqliteQueueOptions): SqliteQueue {
  mkdirSync(dirname(options.file), { recursive: true, mode: 0o700 });
  const db = new Database(options.file);
  db.pragma('journal_mode = WAL');
  // FULL: the WAL is fsync'd at every commit, so an accepted call survives a power cut.
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.exec(SCHEMA);
  const now = (options.now ?? Date.now)();
  db.prepare("UPDATE calls SET state = 'queued', due_at = ?, updated_at = ? WHERE state = 'running'").run(now, now);
  db.prepare("UPDATE calls SET cb_due_at = ? WHERE cb_state = 'pending' AND cb_due_at > ?").run(now, now);
  return new SqliteQueue(db);
}

type Pending = { run: () => void; resolve: () => void; reject: (err: unknown) => void };

export class SqliteQueue implements CallQueue {
  readonly kind = 'sqlite';
  readonly #db: Database.Database;
  readonly #s: Record<string, Database.Statement>;
  #pending: Pending[] = [];
  #flushScheduled = false;
  #closed = false;

  constructor(db: Database.Database) {
    this.#db = db;
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      insert: p(`INSERT INTO calls (id, namespace, name, method, path, query, headers, body, callback_url, state, attempts, created_at, updated_at, due_at, cb_state)
                 VALUES (@id, @namespace, @name, @method, @path, @query, @headers, @body, @callback_url, 'queued', 0, @now, @now, @now, 'none')`),
      get: p('SELECT * FROM calls WHERE id = ?'),
      due: p("SELECT * FROM calls WHERE state IN ('queued', 'running') AND due_at <= ? ORDER BY due_at, seq LIMIT ?"),
      lease: p("UPDATE calls SET state = 'running', attempts = attempts + 1, due_at = ?, updated_at = ? WHERE id = ?"),
      settle: p(`UPDATE calls SET state = @state, due_at = @due_at, updated_at = @now, finished_at = @finished_at, last_error = @last_error,
                   result_status = @result_status, result_headers = @result_headers, result_body = @result_body, result_seconds = @result_seconds,
                   cb_state = @cb_state, cb_due_at = @cb_due_at WHERE id = @id`),
      dueCallbacks: p("SELECT * FROM calls WHERE cb_state = 'pending' AND cb_due_at <= ? ORDER BY cb_due_at, seq LIMIT ?"),
      leaseCallback: p('UPDATE calls SET cb_due_at = ?, cb_attempts = cb_attempts + 1 WHERE id = ?'),
      callbackDone: p('UPDATE calls SET cb_state = ?, cb_due_at = ?, cb_error = ?, updated_at = ? WHERE id = ?'),
      replay: p(`UPDATE calls SET state = 'queued', attempts = 0, due_at = @now, updated_at = @now, finished_at = NULL, last_error = NULL,
                   result_status = NULL, result_headers = NULL, result_body = NULL, result_seconds = NULL,
                   cb_state = 'none', cb_attempts = 0, cb_due_at = NULL, cb_error = NULL WHERE id = @id`),
      depth: p(`SELECT namespace, name, SUM(state = 'queued') AS queued, SUM(state = 'running') AS running, MIN(created_at) AS oldest
                FROM calls WHERE state IN ('queued', 'running') GROUP BY namespace, name`),
    };
  }

  enqueue(call: NewCall): Promise<CallRecord> {
    const { request: r } = call;
    return this.#write(() => {
      this.#s.insert!.run({
        id: call.id,
        namespace: call.namespace,
        name: call.name,
        method: r.method,
        path: r.path,
        query: r.query,
        headers: JSON.stringify(r.headers),
        body: r.body,
        callback_url: call.callbackUrl ?? null,
        now: call.now,
      });
    }).then(() => ({
      id: call.id,
      namespace: call.namespace,
      name: call.name,
      request: r,
      ...(call.callbackUrl ? { callbackUrl: call.callbackUrl } : {}),
      state: 'queued' as const,
      attempts: 0,
      createdAt: call.now,
      updatedAt: call.now,
      dueAt: call.now,
      callback: { state: 'none' as const, attempts: 0 },
    }));
  }

  async lease(max: number, now: number, leaseMs: number, accept?: (call: CallRecord) => boolean): Promise<CallRecord[]> {
    this.#assertOpen();
    if (max <= 0) return [];
    // Look past refused calls (a function at its limit) so others still get leased.
    const rows = this.#s.due!.all(now, Math.max(max * 4, 64)) as Row[];
    const out: CallRecord[] = [];
    const tx = this.#db.transaction(() => {
      for (const row of rows) {
        if (out.length >= max) break;
        const rec = toRecord(row);
        if (accept && !accept(rec)) continue;
        this.#s.lease!.run(now + leaseMs, now, rec.id);
        out.push({ ...rec, state: 'running', attempts: rec.attempts + 1, dueAt: now + leaseMs, updatedAt: now });
      }
    });
    tx();
    return out;
  }

  async settle(id: string, s: Settlement, now: number): Promise<CallRecord> {
    const before = await this.#mustGet(id);
    const final = s.kind !== 'retry';
    const result: StoredResult | undefined = s.result;
    const callbackPending = final && before.callbackUrl !== undefined;
    await this.#write(() => {
      this.#s.settle!.run({
        id,
        state: s.kind === 'retry' ? 'queued' : s.kind,
        due_at: s.kind === 'retry' ? s.dueAt : before.dueAt,
        now,
        finished_at: final ? now : null,
        last_error: s.kind === 'succeeded' ? null : s.error,
        result_status: result?.status ?? null,
        result_headers: result ? JSON.stringify(result.headers) : null,
        result_body: result?.body ?? null,
        result_seconds: result?.durationSeconds ?? null,
        cb_state: callbackPending ? 'pending' : before.callback.state,
        cb_due_at: callbackPending ? now : (before.callback.dueAt ?? null),
      });
    });
    return (await this.get(id))!;
  }

  async leaseCallbacks(max: number, now: number, leaseMs: number): Promise<CallRecord[]> {
    this.#assertOpen();
    const rows = this.#s.dueCallbacks!.all(now, max) as Row[];
    const tx = this.#db.transaction(() => {
      for (const row of rows) this.#s.leaseCallback!.run(now + leaseMs, row.id);
    });
    tx();
    return rows.map((r) => {
      const rec = toRecord(r);
      rec.callback = { ...rec.callback, attempts: rec.callback.attempts + 1, dueAt: now + leaseMs };
      return rec;
    });
  }

  async settleCallback(id: string, outcome: { delivered: true } | { delivered: false; error: string; retryAt?: number }, now: number): Promise<void> {
    await this.#mustGet(id);
    await this.#write(() => {
      if (outcome.delivered) this.#s.callbackDone!.run('delivered', null, null, now, id);
      else if (outcome.retryAt !== undefined) this.#s.callbackDone!.run('pending', outcome.retryAt, outcome.error, now, id);
      else this.#s.callbackDone!.run('failed', null, outcome.error, now, id);
    });
  }

  async get(id: string): Promise<CallRecord | undefined> {
    this.#assertOpen();
    const row = this.#s.get!.get(id) as Row | undefined;
    return row && toRecord(row);
  }

  async list(filter: CallFilter): Promise<CallRecord[]> {
    this.#assertOpen();
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.namespace) (where.push('namespace = ?'), args.push(filter.namespace));
    if (filter.name) (where.push('name = ?'), args.push(filter.name));
    if (filter.state) (where.push('state = ?'), args.push(filter.state));
    const limit = Math.min(Math.max(1, filter.limit ?? 100), 1000);
    const sql = `SELECT * FROM calls ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ${limit}`;
    return (this.#db.prepare(sql).all(...args) as Row[]).map(toRecord);
  }

  async replay(id: string, now: number): Promise<CallRecord> {
    const rec = await this.#mustGet(id);
    if (rec.state === 'queued' || rec.state === 'running') {
      throw new KssError('KSS_CALL_NOT_FINISHED', `call ${id} is still ${rec.state}; only a finished call can be replayed`);
    }
    await this.#write(() => this.#s.replay!.run({ id, now }));
    return (await this.get(id))!;
  }

  async depth(): Promise<Array<{ namespace: string; name: string; queued: number; running: number; oldestMs?: number }>> {
    this.#assertOpen();
    const rows = this.#s.depth!.all() as Array<{ namespace: string; name: string; queued: number; running: number; oldest: number | null }>;
    const now = Date.now();
    return rows.map((r) => ({ namespace: r.namespace, name: r.name, queued: r.queued, running: r.running, ...(r.oldest !== null ? { oldestMs: Math.max(0, now - r.oldest) } : {}) }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    this.#db.close();
  }

  async #mustGet(id: string): Promise<CallRecord> {
    const rec = await this.get(id);
    if (!rec) throw new KssError('KSS_CALL_NOT_FOUND', `no call with id "${id}"; see \`kss calls list\``);
    return rec;
  }

  #assertOpen(): void {
    if (this.#closed) throw new KssError('KSS_SHUTTING_DOWN', 'the queue is closed');
  }

  /** Queues `run` for the next group commit; resolves once it is on disk. */
  #write(run: () => void): Promise<void> {
    this.#assertOpen();
    return new Promise((resolve, reject) => {
      this.#pending.push({ run, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#pending;
    if (!batch.length || this.#closed) return;
    this.#pending = [];
    const failed = new Map<Pending, unknown>();
    try {
      this.#db.transaction(() => {
        for (const p of batch) {
          // One bad write (a duplicate id) must not undo the others: a savepoint each.
          try {
            this.#db.transaction(p.run)();
          } catch (err) {
            failed.set(p, err);
          }
        }
      })();
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    for (const p of batch) {
      if (failed.has(p)) p.reject(failed.get(p));
      else p.resolve();
    }
  }
}
