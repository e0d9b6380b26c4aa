/**
 * Schema migrations for the embedded SQLite store. Append only: a released
 * migration is never edited, a change is a new entry. `user_version` records how
 * many have run, so an old data dir upgrades in place at start-up.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: functions, keyed by namespace and name; the spec is the JSON the API accepted.
  `CREATE TABLE functions (
     namespace  TEXT NOT NULL,
     name       TEXT NOT NULL,
     spec       TEXT NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     PRIMARY KEY (namespace, name)
   ) WITHOUT ROWID;`,
];
