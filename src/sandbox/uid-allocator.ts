/**
 * The unprivileged uid each function's replicas run as. One per function, kept in
 * SQLite so it survives restarts (files a function wrote in a shared volume stay its
 * own) and never shared by two functions while both exist.
 *
 * The range starts at 600000: above Debian's subordinate-uid ranges for the first
 * users (100000 + 65536 each), below the 2^31 limit, and owning no files on the host.
 */
import type Database from 'better-sqlite3';

export const FIRST_FUNCTION_UID = 600_000;

export class UidAllocator {
  readonly #get: Database.Statement<[string, string], { uid: number }>;
  readonly #max: Database.Statement<[], { uid: number | null }>;
  readonly #insert: Database.Statement<[string, string, number]>;
  readonly #delete: Database.Statement<[string, string]>;

  constructor(db: Database.Database) {
    this.#get = db.prepare('SELECT uid FROM function_uids WHERE namespace = ? AND name = ?');
    this.#max = db.prepare('SELECT MAX(uid) AS uid FROM function_uids');
    this.#insert = db.prepare('INSERT INTO function_uids (namespace, name, uid) VALUES (?, ?, ?)');
    this.#delete = db.prepare('DELETE FROM function_uids WHERE namespace = ? AND name = ?');
  }

  /** The function's uid (also its gid), allocated on first use. */
  uidFor(namespace: string, name: string): number {
    const found = this.#get.get(namespace, name);
    if (found) return found.uid;
    const uid = Math.max(FIRST_FUNCTION_UID, (this.#max.get()?.uid ?? FIRST_FUNCTION_UID - 1) + 1);
    this.#insert.run(namespace, name, uid);
    return uid;
  }

  /** Forgets a removed function's uid. */
  release(namespace: string, name: string): void {
    this.#delete.run(namespace, name);
  }
}
