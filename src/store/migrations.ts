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
  // 2: API tokens. Only a SHA-256 of the secret is kept; scopes as a JSON array.
  `CREATE TABLE api_tokens (
     id           TEXT PRIMARY KEY,
     name         TEXT NOT NULL,
     scopes       TEXT NOT NULL,
     secret_hash  BLOB NOT NULL,
     created_at   TEXT NOT NULL,
     created_by   TEXT NOT NULL,
     expires_at   TEXT,
     revoked_at   TEXT,
     last_used_at TEXT
   );`,
  // 3: audit log of admin actions (who, what, when, outcome).
  `CREATE TABLE audit_log (
     id      INTEGER PRIMARY KEY AUTOINCREMENT,
     at      TEXT NOT NULL,
     actor   TEXT NOT NULL,
     action  TEXT NOT NULL,
     target  TEXT,
     status  INTEGER NOT NULL,
     ip      TEXT
   );
   CREATE INDEX audit_log_at ON audit_log (at);`,
  // 4: secrets, encrypted at rest with AES-256-GCM (key in the data dir's secrets.key, 0600).
  //    Only ciphertext, its 12-byte IV and 16-byte tag are stored; never the value.
  `CREATE TABLE secrets (
     namespace  TEXT NOT NULL,
     name       TEXT NOT NULL,
     iv         BLOB NOT NULL,
     tag        BLOB NOT NULL,
     ciphertext BLOB NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     PRIMARY KEY (namespace, name)
   ) WITHOUT ROWID;`,
  // 5: the unprivileged uid each function's replicas run as in the sandbox; allocated once,
  //    never reused while the row exists, so no two functions share one.
  `CREATE TABLE function_uids (
     namespace TEXT NOT NULL,
     name      TEXT NOT NULL,
     uid       INTEGER NOT NULL UNIQUE,
     PRIMARY KEY (namespace, name)
   ) WITHOUT ROWID;`,
  // 6: what a trigger must remember across gateway restarts (a cron trigger's last tick, epoch ms).
  `CREATE TABLE trigger_memory (
     namespace TEXT NOT NULL,
     name      TEXT NOT NULL,
     trigger   TEXT NOT NULL,
     value     INTEGER NOT NULL,
     PRIMARY KEY (namespace, name, trigger)
   ) WITHOUT ROWID;`,
  // 7: the gid of each persistent volume (kss.volume): its folder is root:<gid> 2770 and every
  //    replica of a function naming it gets the gid as a supplementary group. Never reused:
  //    volumes (and their files) outlive the functions that use them.
  `CREATE TABLE volume_gids (
     name TEXT PRIMARY KEY,
     gid  INTEGER NOT NULL UNIQUE
   ) WITHOUT ROWID;`,
  // 8: revisions (issue #12): every deploy that changes a function keeps its spec here, numbered
  //    per function (r1, r2, …; numbers are never reused while the function exists), and the
  //    traffic split between them with the canary in progress, if any.
  `CREATE TABLE revisions (
     namespace  TEXT NOT NULL,
     name       TEXT NOT NULL,
     number     INTEGER NOT NULL,
     spec       TEXT NOT NULL,
     created_at TEXT NOT NULL,
     created_by TEXT NOT NULL,
     pinned     INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (namespace, name, number)
   ) WITHOUT ROWID;
   CREATE TABLE function_traffic (
     namespace TEXT NOT NULL,
     name      TEXT NOT NULL,
     traffic   TEXT NOT NULL,
     canary    TEXT,
     PRIMARY KEY (namespace, name)
   ) WITHOUT ROWID;`,
];
