/**
 * The embedded function store: one SQLite file in the data dir (WAL mode, so the
 * gateway reads while it writes). Synchronous better-sqlite3 calls behind the async
 * {@link FunctionStore} contract.
 */
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { KssError, type Clock, type FunctionRef, type FunctionSpec, systemClock } from '../core/index.js';
import type { FunctionStore, StoredFunction } from './function-store.js';
import { MIGRATIONS } from './migrations.js';

interface Row {
  spec: string;
  created_at: string;
  updated_at: string;
}

/** Opens (creating if needed) the function store at `file`; see {@link openDatabase}. */
export function openSqliteStore(file: string, options: { clock?: Clock } = {}): SqliteStore {
  return new SqliteStore(openDatabase(file), options.clock ?? systemClock);
}

/**
 * Opens the platform's SQLite database and runs pending migrations. WAL mode, so
 * the gateway reads while it writes; `synchronous = FULL`, so a change that was
 * answered survives a power cut, not only a crash. The function store, the token
 * store and the audit log share this one handle.
 */
export function openDatabase(file: string): Db {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

/** Runs every migration past the database's `user_version`, each in its own transaction. */
export function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`the data dir was written by a newer Kube-Serverless (schema ${current}, this one knows ${MIGRATIONS.length}); upgrade kss`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

export class SqliteStore implements FunctionStore {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #stmts;

  constructor(db: Db, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
    this.#stmts = {
      insert: db.prepare('INSERT INTO functions (namespace, name, spec, created_at, updated_at) VALUES (?, ?, ?, ?, ?)'),
      update: db.prepare('UPDATE functions SET spec = ?, updated_at = ? WHERE namespace = ? AND name = ?'),
      get: db.prepare<[string, string], Row>('SELECT spec, created_at, updated_at FROM functions WHERE namespace = ? AND name = ?'),
      listAll: db.prepare<[], Row>('SELECT spec, created_at, updated_at FROM functions ORDER BY namespace, name'),
      listNs: db.prepare<[string], Row>('SELECT spec, created_at, updated_at FROM functions WHERE namespace = ? ORDER BY name'),
      delete: db.prepare('DELETE FROM functions WHERE namespace = ? AND name = ?'),
      namespaces: db.prepare<[], { namespace: string }>('SELECT DISTINCT namespace FROM functions ORDER BY namespace'),
    };
  }

  async create(spec: FunctionSpec): Promise<StoredFunction> {
    const now = new Date(this.#clock.now()).toISOString();
    try {
      this.#stmts.insert.run(spec.namespace, spec.service, JSON.stringify(spec), now, now);
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new KssError('KSS_FUNCTION_EXISTS', `function "${spec.service}" already exists in namespace "${spec.namespace}"; update it with PUT or \`kss deploy\``);
      }
      throw err;
    }
    return { spec, createdAt: now, updatedAt: now };
  }

  async update(spec: FunctionSpec): Promise<StoredFunction> {
    const now = new Date(this.#clock.now()).toISOString();
    return this.#db.transaction(() => {
      const row = this.#stmts.get.get(spec.namespace, spec.service);
      if (!row) throw notFound({ name: spec.service, namespace: spec.namespace });
      this.#stmts.update.run(JSON.stringify(spec), now, spec.namespace, spec.service);
      return { spec, createdAt: row.created_at, updatedAt: now };
    })();
  }

  async get(ref: FunctionRef): Promise<StoredFunction | undefined> {
    const row = this.#stmts.get.get(ref.namespace, ref.name);
    return row ? fromRow(row) : undefined;
  }

  async list(namespace?: string): Promise<StoredFunction[]> {
    const rows = namespace === undefined ? this.#stmts.listAll.all() : this.#stmts.listNs.all(namespace);
    return rows.map(fromRow);
  }

  async delete(ref: FunctionRef): Promise<boolean> {
    return this.#stmts.delete.run(ref.namespace, ref.name).changes > 0;
  }

  async namespaces(): Promise<string[]> {
    return this.#stmts.namespaces.all().map((r) => r.namespace);
  }

  /** Closes the shared database handle (the gateway's last step on shutdown). */
  close(): void {
    if (this.#db.open) this.#db.close();
  }

  /** The underlying handle, for the other stores that share the file. */
  get database(): Db {
    return this.#db;
  }
}

/** The catalogue error for a function that is not there. */
export function notFound(ref: FunctionRef): KssError {
  return new KssError('KSS_FUNCTION_NOT_FOUND', `function "${ref.name}" not found in namespace "${ref.namespace}"; see \`kss list\``);
}

function fromRow(row: Row): StoredFunction {
  return { spec: JSON.parse(row.spec) as FunctionSpec, createdAt: row.created_at, updatedAt: row.updated_at };
}
