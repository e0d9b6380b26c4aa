/**
 * The gid of each persistent volume (`kss.volume`), the fsGroup way: the volume's
 * folder is `root:<gid>` mode 2770, and every replica of a function that names the
 * volume gets the gid as a supplementary group, so functions with different uids can
 * read and write each other's files there and nobody else can.
 *
 * Gids come from {@link FIRST_VOLUME_GID}…{@link LAST_VOLUME_GID}, just below the
 * function uids (which start at 600000, see uid-allocator.ts, and are also the
 * functions' own gids), so a volume's group is never a function's. A volume keeps its
 * gid for good (kept in SQLite, so it survives restarts and its files stay reachable):
 * volumes outlive the functions that use them.
 */
import type Database from 'better-sqlite3';
import { FIRST_FUNCTION_UID } from './uid-allocator.js';

/** The first gid given to a volume. */
export const FIRST_VOLUME_GID = 590_000;
/** The last gid a volume can have: the one below the first function uid (10,000 volumes per data dir). */
export const LAST_VOLUME_GID = FIRST_FUNCTION_UID - 1;

/** Allocates and remembers volume gids in the `volume_gids` table (migration 7). */
export class VolumeGidAllocator {
  readonly #get: Database.Statement<[string], { gid: number }>;
  readonly #free: Database.Statement<{ first: number }, { gid: number | null }>;
  readonly #insert: Database.Statement<[string, number]>;
  readonly #owner: Database.Statement<[number], { name: string }>;
  readonly #db: Database.Database;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#get = db.prepare('SELECT gid FROM volume_gids WHERE name = ?');
    // The lowest free gid: the first of the range, else the one after a taken gid whose successor is free.
    this.#free = db.prepare(
      `SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM volume_gids WHERE gid = @first) THEN @first
         ELSE (SELECT MIN(v.gid) + 1 FROM volume_gids v WHERE NOT EXISTS (SELECT 1 FROM volume_gids w WHERE w.gid = v.gid + 1)) END AS gid`,
    );
    this.#insert = db.prepare('INSERT INTO volume_gids (name, gid) VALUES (?, ?)');
    this.#owner = db.prepare('SELECT name FROM volume_gids WHERE gid = ?');
  }

  /**
   * The volume's gid, allocated on first use (one synchronous transaction: two callers
   * cannot take the same one). `preferred`, the group its folder already has, is taken
   * when the volume has no gid yet and that one is in the range and free: a data dir
   * whose database was recreated keeps its volumes' groups, so their files stay reachable.
   */
  gidFor(name: string, preferred?: number): number {
    return this.#db.transaction(() => {
      const found = this.#get.get(name);
      if (found) return found.gid;
      if (preferred !== undefined && Number.isInteger(preferred) && preferred >= FIRST_VOLUME_GID && preferred <= LAST_VOLUME_GID && !this.#owner.get(preferred)) {
        this.#insert.run(name, preferred);
        return preferred;
      }
      const gid = this.#free.get({ first: FIRST_VOLUME_GID })?.gid ?? FIRST_VOLUME_GID;
      if (gid > LAST_VOLUME_GID) throw new Error(`no volume gid left (${FIRST_VOLUME_GID}–${LAST_VOLUME_GID} are all taken)`);
      this.#insert.run(name, gid);
      return gid;
    })();
  }
}
