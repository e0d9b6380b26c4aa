/**
 * Where revisions and traffic splits live. The embedded implementation shares the
 * platform's SQLite file; a split and its canary are written in one row, so a
 * restart resumes exactly the routing that was answered.
 */
import type { Database as Db } from 'better-sqlite3';
import type { CanaryState, FunctionRef, FunctionSpec, Revision, TrafficTarget } from '../core/index.js';

/** A function's routing: the split and the canary moving it, if any. */
export interface Routing {
  traffic: TrafficTarget[];
  canary: CanaryState | null;
}

export interface RevisionStore {
  /** Records a new revision of `spec`'s function, numbered one past the highest so far. */
  add(spec: FunctionSpec, createdBy: string, createdAt: string): Promise<Revision>;
  /** Every kept revision, newest first. */
  list(ref: FunctionRef): Promise<Revision[]>;
  get(ref: FunctionRef, revision: string): Promise<Revision | undefined>;
  /** Sets or clears the pin; undefined when there is no such revision. */
  setPinned(ref: FunctionRef, revision: string, pinned: boolean): Promise<Revision | undefined>;
  /** Forgets one revision (garbage collection). */
  delete(ref: FunctionRef, revision: string): Promise<void>;
  routing(ref: FunctionRef): Promise<Routing | undefined>;
  setRouting(ref: FunctionRef, routing: Routing): Promise<void>;
  /** Forgets every revision and the routing of a removed function. */
  removeAll(ref: FunctionRef): Promise<void>;
}

interface RevisionRow {
  number: number;
  spec: string;
  created_at: string;
  created_by: string;
  pinned: number;
}

/** Revisions in the platform's SQLite database (migration 8). */
export class SqliteRevisionStore implements RevisionStore {
  readonly #db: Db;
  readonly #stmts;

  constructor(db: Db) {
    this.#db = db;
    this.#stmts = {
      max: db.prepare<[string, string], { n: number | null }>('SELECT MAX(number) AS n FROM revisions WHERE namespace = ? AND name = ?'),
      insert: db.prepare('INSERT INTO revisions (namespace, name, number, spec, created_at, created_by, pinned) VALUES (?, ?, ?, ?, ?, ?, 0)'),
      list: db.prepare<[string, string], RevisionRow>('SELECT number, spec, created_at, created_by, pinned FROM revisions WHERE namespace = ? AND name = ? ORDER BY number DESC'),
      get: db.prepare<[string, string, number], RevisionRow>('SELECT number, spec, created_at, created_by, pinned FROM revisions WHERE namespace = ? AND name = ? AND number = ?'),
      pin: db.prepare('UPDATE revisions SET pinned = ? WHERE namespace = ? AND name = ? AND number = ?'),
      delete: db.prepare('DELETE FROM revisions WHERE namespace = ? AND name = ? AND number = ?'),
      deleteAll: db.prepare('DELETE FROM revisions WHERE namespace = ? AND name = ?'),
      routing: db.prepare<[string, string], { traffic: string; canary: string | null }>('SELECT traffic, canary FROM function_traffic WHERE namespace = ? AND name = ?'),
      setRouting: db.prepare('INSERT INTO function_traffic (namespace, name, traffic, canary) VALUES (?, ?, ?, ?) ON CONFLICT (namespace, name) DO UPDATE SET traffic = excluded.traffic, canary = excluded.canary'),
      deleteRouting: db.prepare('DELETE FROM function_traffic WHERE namespace = ? AND name = ?'),
    };
  }

  async add(spec: FunctionSpec, createdBy: string, createdAt: string): Promise<Revision> {
    return this.#db.transaction(() => {
      const number = (this.#stmts.max.get(spec.namespace, spec.service)?.n ?? 0) + 1;
      this.#stmts.insert.run(spec.namespace, spec.service, number, JSON.stringify(spec), createdAt, createdBy);
      return { revision: `r${number}`, number, spec, createdAt, createdBy, pinned: false };
    })();
  }

  async list(ref: FunctionRef): Promise<Revision[]> {
    return this.#stmts.list.all(ref.namespace, ref.name).map(fromRow);
  }

  async get(ref: FunctionRef, revision: string): Promise<Revision | undefined> {
    const row = this.#stmts.get.get(ref.namespace, ref.name, number(revision));
    return row ? fromRow(row) : undefined;
  }

  async setPinned(ref: FunctionRef, revision: string, pinned: boolean): Promise<Revision | undefined> {
    this.#stmts.pin.run(pinned ? 1 : 0, ref.namespace, ref.name, number(revision));
    return this.get(ref, revision);
  }

  async delete(ref: FunctionRef, revision: string): Promise<void> {
    this.#stmts.delete.run(ref.namespace, ref.name, number(revision));
  }

  async routing(ref: FunctionRef): Promise<Routing | undefined> {
    const row = this.#stmts.routing.get(ref.namespace, ref.name);
    return row ? { traffic: JSON.parse(row.traffic) as TrafficTarget[], canary: row.canary ? (JSON.parse(row.canary) as CanaryState) : null } : undefined;
  }

  async setRouting(ref: FunctionRef, routing: Routing): Promise<void> {
    this.#stmts.setRouting.run(ref.namespace, ref.name, JSON.stringify(routing.traffic), routing.canary ? JSON.stringify(routing.canary) : null);
  }

  async removeAll(ref: FunctionRef): Promise<void> {
    this.#db.transaction(() => {
      this.#stmts.deleteAll.run(ref.namespace, ref.name);
      this.#stmts.deleteRouting.run(ref.namespace, ref.name);
    })();
  }
}

function number(revision: string): number {
  return Number(revision.slice(1));
}

function fromRow(row: RevisionRow): Revision {
  return { revision: `r${row.number}`, number: row.number, spec: JSON.parse(row.spec) as FunctionSpec, createdAt: row.created_at, createdBy: row.created_by, pinned: row.pinned === 1 };
}
