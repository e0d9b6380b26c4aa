/**
 * API tokens: `kss_<id>_<secret>`. Only a SHA-256 of the secret is stored, so the
 * data dir does not hold usable tokens; the token is shown once, when created.
 */
import { randomBytes } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { KssError, type Clock, type TokenInfo } from '../../core/index.js';
import { constantTimeEqual, sha256 } from './constant-time.js';
import { isScope, type Principal, type Scope } from './scopes.js';

export type { TokenInfo };

/** What `create` takes: validated by every implementation the same way. */
export interface NewToken {
  name: string;
  scopes: Scope[];
  expiresAt?: Date;
  createdBy: string;
}

/** The one time a token's secret is seen. */
export interface CreatedToken {
  token: string;
  info: TokenInfo;
}

/**
 * The API tokens as the gateway uses them (authenticator, admin routes, embedded):
 * SQLite in the data dir locally ({@link TokenStore}), Kubernetes Secrets on a cluster
 * (KubernetesTokenStore). `verify`, `list` and `get` answer at once (every request
 * goes through `verify`); `create` and `revoke` may have to write elsewhere first, so
 * callers await them (the SQLite store returns at once).
 */
export interface ApiTokens {
  create(input: NewToken): CreatedToken | Promise<CreatedToken>;
  /** The principal a token stands for, or undefined when it is malformed, unknown, wrong, revoked or expired. */
  verify(token: string): Principal | undefined;
  list(): TokenInfo[];
  get(id: string): TokenInfo | undefined;
  /** Revokes a token; false when there is no such token. */
  revoke(id: string): boolean | Promise<boolean>;
}

/** `kss_<id>_<secret>`: the id (12 hex) and the secret (32 random bytes, base64url). */
export const TOKEN_FORMAT = /^kss_([a-f0-9]{12})_([A-Za-z0-9_-]{43})$/;

/** The checks on a new token's fields, shared by every store (KSS_BAD_REQUEST). */
export function assertValidNewToken(input: NewToken, now: number): void {
  if (!/^[\w .@:-]{1,64}$/.test(input.name)) throw new KssError('KSS_BAD_REQUEST', 'name: use 1-64 letters, digits, spaces or ._-@:');
  if (input.scopes.length === 0 || !input.scopes.every(isScope)) throw new KssError('KSS_BAD_REQUEST', 'scopes: use one or more of read, invoke, deploy, admin');
  if (input.expiresAt && input.expiresAt.getTime() <= now) throw new KssError('KSS_BAD_REQUEST', 'expires: must be in the future');
}

/** A new id and secret, and the token string made of them. */
export function newTokenSecret(): { id: string; secret: string; token: string } {
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, secret, token: `kss_${id}_${secret}` };
}

interface Row {
  id: string;
  name: string;
  scopes: string;
  secret_hash: Buffer;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

const TOKEN = TOKEN_FORMAT;
/** `last_used_at` is written at most once a minute per token, to keep invokes off the disk. */
const LAST_USED_RESOLUTION_MS = 60_000;

export class TokenStore implements ApiTokens {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #lastUsedWritten = new Map<string, number>();

  constructor(db: Database, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  /** Creates a token; the returned `token` string is the only time the secret is seen. */
  create(input: NewToken): CreatedToken {
    assertValidNewToken(input, this.#clock.now());
    const { id, secret, token } = newTokenSecret();
    const now = new Date(this.#clock.now()).toISOString();
    const scopes = [...new Set(input.scopes)];
    this.#db
      .prepare('INSERT INTO api_tokens (id, name, scopes, secret_hash, created_at, created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(id, input.name, JSON.stringify(scopes), sha256(secret), now, input.createdBy, input.expiresAt?.toISOString() ?? null);
    return { token, info: this.#info(this.#row(id)!) };
  }

  /** The principal a token stands for, or undefined when it is malformed, unknown, wrong, revoked or expired. */
  verify(token: string): Principal | undefined {
    const m = TOKEN.exec(token);
    if (!m) return undefined;
    const row = this.#row(m[1]!);
    // Compare even when there is no row, so timing does not tell which ids exist.
    const ok = constantTimeEqual(sha256(m[2]!), row?.secret_hash ?? Buffer.alloc(32)) && row !== undefined;
    if (!ok || !row || row.revoked_at) return undefined;
    const now = this.#clock.now();
    if (row.expires_at && Date.parse(row.expires_at) <= now) return undefined;
    const last = this.#lastUsedWritten.get(row.id) ?? 0;
    if (now - last >= LAST_USED_RESOLUTION_MS) {
      this.#lastUsedWritten.set(row.id, now);
      this.#db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?').run(new Date(now).toISOString(), row.id);
    }
    return { id: `token:${row.id}`, name: row.name, scopes: JSON.parse(row.scopes) as Scope[] };
  }

  list(): TokenInfo[] {
    return (this.#db.prepare('SELECT * FROM api_tokens ORDER BY created_at, id').all() as Row[]).map((r) => this.#info(r));
  }

  get(id: string): TokenInfo | undefined {
    const row = this.#row(id);
    return row && this.#info(row);
  }

  /** Revokes a token at once; false when there is no such token. */
  revoke(id: string): boolean {
    const now = new Date(this.#clock.now()).toISOString();
    return this.#db.prepare('UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?').run(now, id).changes > 0;
  }

  #row(id: string): Row | undefined {
    return this.#db.prepare('SELECT * FROM api_tokens WHERE id = ?').get(id) as Row | undefined;
  }

  #info(r: Row): TokenInfo {
    const info: TokenInfo = { id: r.id, name: r.name, scopes: JSON.parse(r.scopes) as Scope[], createdAt: r.created_at, createdBy: r.created_by };
    if (r.expires_at) info.expiresAt = r.expires_at;
    if (r.revoked_at) info.revokedAt = r.revoked_at;
    if (r.last_used_at) info.lastUsedAt = r.last_used_at;
    return info;
  }
}
