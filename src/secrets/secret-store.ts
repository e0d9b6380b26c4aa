/**
 * The embedded secret store: one row per secret in the platform's SQLite file
 * (migration 4's `secrets` table), each value encrypted with AES-256-GCM under the
 * data dir's `secrets.key` (see secret-crypto.ts and secret-key.ts). The store is
 * the only code that sees values: the API writes them, a provider reads them through
 * {@link SecretSource}; nothing lists, logs or returns them.
 *
 * Like the function store, every method runs its SQL synchronously (better-sqlite3)
 * before its promise settles, so a check and a change made in one call cannot
 * interleave with another caller's.
 */
import { join } from 'node:path';
import type { Database as Db } from 'better-sqlite3';
import { DEFAULT_NAMESPACE, KssError, systemClock, type Clock, type SecretSource } from '../core/index.js';
import { openSecret, sealSecret, secretAad, SecretIntegrityError } from './secret-crypto.js';
import { loadSecretKey, SECRET_KEY_FILE } from './secret-key.js';
import { assertValidSecretName } from './secret-name.js';

/** Largest value a secret may hold: 512 KiB (a Kubernetes Secret holds up to 1 MiB; a function's credentials are far smaller). */
export const MAX_SECRET_BYTES = 512 * 1024;

/** A secret as listed: names and times, never the value. */
export interface SecretInfo {
  name: string;
  namespace: string;
  /** RFC 3339. */
  createdAt: string;
  /** RFC 3339. */
  updatedAt: string;
}

interface InfoRow {
  namespace: string;
  name: string;
  created_at: string;
  updated_at: string;
}

interface SealedRow {
  name: string;
  namespace: string;
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

export interface SecretStoreOptions {
  db: Db;
  /** The 32-byte key (from {@link loadSecretKey}). */
  key: Buffer;
  clock?: Clock;
}

export class SecretStore implements SecretSource {
  readonly #key: Buffer;
  readonly #clock: Clock;
  readonly #db: Db;
  readonly #stmts;

  constructor(options: SecretStoreOptions) {
    this.#db = options.db;
    this.#key = options.key;
    this.#clock = options.clock ?? systemClock;
    const db = options.db;
    this.#stmts = {
      insert: db.prepare('INSERT INTO secrets (namespace, name, iv, tag, ciphertext, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      update: db.prepare('UPDATE secrets SET iv = ?, tag = ?, ciphertext = ?, updated_at = ? WHERE namespace = ? AND name = ?'),
      info: db.prepare<[string, string], InfoRow>('SELECT namespace, name, created_at, updated_at FROM secrets WHERE namespace = ? AND name = ?'),
      sealed: db.prepare<[string, string], SealedRow>('SELECT namespace, name, iv, tag, ciphertext FROM secrets WHERE namespace = ? AND name = ?'),
      all: db.prepare<[], SealedRow>('SELECT namespace, name, iv, tag, ciphertext FROM secrets ORDER BY namespace, name'),
      exists: db.prepare<[string, string], { one: number }>('SELECT 1 AS one FROM secrets WHERE namespace = ? AND name = ?'),
      listAll: db.prepare<[], InfoRow>('SELECT namespace, name, created_at, updated_at FROM secrets ORDER BY namespace, name'),
      listNs: db.prepare<[string], InfoRow>('SELECT namespace, name, created_at, updated_at FROM secrets WHERE namespace = ? ORDER BY name'),
      delete: db.prepare('DELETE FROM secrets WHERE namespace = ? AND name = ?'),
    };
  }

  /** Stores a new secret; `KSS_SECRET_EXISTS` when the name is taken in the namespace. */
  async create(namespace: string, name: string, value: Uint8Array): Promise<SecretInfo> {
    assertStorable(name, value);
    const now = this.#now();
    const sealed = sealSecret(this.#key, secretAad(namespace, name), value);
    try {
      this.#stmts.insert.run(namespace, name, sealed.iv, sealed.tag, sealed.ciphertext, now, now);
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new KssError('KSS_SECRET_EXISTS', `secret "${name}" already exists in namespace "${namespace}"; change its value with \`kss secret update ${name}${nsFlag(namespace)}\``);
      }
      throw err;
    }
    return { name, namespace, createdAt: now, updatedAt: now };
  }

  /** Replaces a secret's value (new IV); `KSS_SECRET_NOT_FOUND` when there is none. */
  async update(namespace: string, name: string, value: Uint8Array): Promise<SecretInfo> {
    assertStorable(name, value);
    const now = this.#now();
    const sealed = sealSecret(this.#key, secretAad(namespace, name), value);
    return this.#db.transaction(() => {
      const row = this.#stmts.info.get(namespace, name);
      if (!row) throw secretNotFound(namespace, [name]);
      this.#stmts.update.run(sealed.iv, sealed.tag, sealed.ciphertext, now, namespace, name);
      return { name, namespace, createdAt: row.created_at, updatedAt: now };
    })();
  }

  /** Deletes a secret; false when there was none. */
  async remove(namespace: string, name: string): Promise<boolean> {
    return this.#stmts.delete.run(namespace, name).changes > 0;
  }

  /** Names and times (never values) of every secret, or of one namespace; by namespace, then name. */
  async list(namespace?: string): Promise<SecretInfo[]> {
    const rows = namespace === undefined ? this.#stmts.listAll.all() : this.#stmts.listNs.all(namespace);
    return rows.map((r) => ({ name: r.name, namespace: r.namespace, createdAt: r.created_at, updatedAt: r.updated_at }));
  }

  /** True when the secret exists. */
  has(namespace: string, name: string): boolean {
    return this.#stmts.exists.get(namespace, name) !== undefined;
  }

  async missing(namespace: string, names: readonly string[]): Promise<string[]> {
    return [...new Set(names)].filter((n) => !this.has(namespace, n));
  }

  async read(namespace: string, names: readonly string[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    const absent: string[] = [];
    for (const name of new Set(names)) {
      const row = this.#stmts.sealed.get(namespace, name);
      if (!row) absent.push(name);
      else out.set(name, this.#open(row));
    }
    if (absent.length) {
      for (const v of out.values()) v.fill(0);
      throw secretNotFound(namespace, absent);
    }
    return out;
  }

  /**
   * Decrypts every stored secret and discards the values: the start-up check that the
   * key is the one they were written with. Returns `name.namespace` of those that fail.
   */
  verify(): { total: number; unreadable: string[] } {
    const rows = this.#stmts.all.all();
    const unreadable: string[] = [];
    for (const row of rows) {
      try {
        openSecret(this.#key, secretAad(row.namespace, row.name), row).fill(0);
      } catch {
        unreadable.push(`${row.name}.${row.namespace}`);
      }
    }
    return { total: rows.length, unreadable };
  }

  #open(row: SealedRow): Buffer {
    try {
      return openSecret(this.#key, secretAad(row.namespace, row.name), row);
    } catch (err) {
      if (!(err instanceof SecretIntegrityError)) throw err;
      throw new KssError(
        'KSS_INTERNAL',
        `secret "${row.name}" in namespace "${row.namespace}" cannot be decrypted: secrets.key in the data dir is not the key it was written with, or the stored row was altered; ` +
          `restore secrets.key from your backup, or set the value again with \`kss secret update ${row.name}${nsFlag(row.namespace)}\``,
      );
    }
  }

  #now(): string {
    return new Date(this.#clock.now()).toISOString();
  }
}

/**
 * Opens the secret store of a data dir: loads (or creates) `secrets.key` and checks
 * that it decrypts what the database holds.
 *
 * @throws Error when the key file is unusable, missing while secrets exist, or
 *   decrypts none of the stored secrets (the wrong key): the gateway must not start.
 * @returns the store, and warnings for the log (never a value or the key).
 */
export function openSecretStore(options: { db: Db; dataDir: string; clock?: Clock }): { store: SecretStore; warnings: string[] } {
  const count = (options.db.prepare('SELECT COUNT(*) AS n FROM secrets').get() as { n: number }).n;
  const key = loadSecretKey(join(options.dataDir, SECRET_KEY_FILE), count);
  const store = new SecretStore({ db: options.db, key: key.key, clock: options.clock });
  const warnings = key.warning ? [key.warning] : [];
  const { total, unreadable } = store.verify();
  if (total > 0 && unreadable.length === total) {
    throw new Error(
      `${key.file} does not decrypt any of the ${total} stored secret${total === 1 ? '' : 's'}: it is not the key they were written with; ` +
        'restore the secrets.key that belongs with this kss.db from your backup',
    );
  }
  if (unreadable.length) {
    warnings.push(`${unreadable.length} stored secret${unreadable.length === 1 ? '' : 's'} cannot be decrypted (altered in the database): ${unreadable.slice(0, 10).join(', ')}; set them again with \`kss secret update\``);
  }
  return { store, warnings };
}

/** The catalogue error for secrets that are not there (names only). */
export function secretNotFound(namespace: string, names: readonly string[]): KssError {
  const list = names.map((n) => `"${n}"`).join(', ');
  return new KssError('KSS_SECRET_NOT_FOUND', `secret${names.length === 1 ? '' : 's'} ${list} not found in namespace "${namespace}"; see \`kss secret list${nsFlag(namespace)}\``);
}

/** ` --namespace NS` for a command suggestion, empty for the default namespace. */
export function nsFlag(namespace: string): string {
  return namespace === DEFAULT_NAMESPACE ? '' : ` --namespace ${namespace}`;
}

function assertStorable(name: string, value: Uint8Array): void {
  assertValidSecretName(name);
  if (value.byteLength > MAX_SECRET_BYTES) {
    throw new KssError('KSS_PAYLOAD_TOO_LARGE', `value: ${Math.ceil(value.byteLength / 1024)} KiB is more than a secret may hold (${MAX_SECRET_BYTES / 1024} KiB)`);
  }
}
