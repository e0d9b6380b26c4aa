/**
 * Dashboard sessions. Logging in to the dashboard trades the admin password (or a
 * token) for a random session id carried in an HttpOnly, SameSite=Strict cookie, so
 * the browser never keeps a credential that scripts can read. Sessions live in
 * memory: a gateway restart logs everyone out, which is the safe failure.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../core/index.js';
import { sha256 } from './constant-time.js';
import type { Principal } from './scopes.js';

/** The cookie's name; the invoke path removes it before a request reaches a function. */
export const SESSION_COOKIE = 'kss_session';
/** A session lasts 12 hours from login (a working day), then the dashboard asks again. */
export const SESSION_TTL_MS = 12 * 3_600_000;
/** Most sessions kept; logging in past it ends the oldest (a bound on memory, not a user limit). */
const MAX_SESSIONS = 10_000;
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

interface Session {
  principal: Principal;
  expiresAt: number;
}

export class SessionStore {
  /** Keyed by SHA-256 of the id, so a heap dump holds no usable session. */
  readonly #sessions = new Map<string, Session>();
  readonly #clock: Clock;
  readonly #ttlMs: number;

  constructor(clock: Clock, ttlMs = SESSION_TTL_MS) {
    this.#clock = clock;
    this.#ttlMs = ttlMs;
  }

  /** Starts a session for `principal`; the id goes into the cookie and nowhere else. */
  create(principal: Principal): { id: string; expiresAt: Date } {
    this.#sweep();
    if (this.#sessions.size >= MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    const expiresAt = this.#clock.now() + this.#ttlMs;
    this.#sessions.set(key(id), { principal, expiresAt });
    return { id, expiresAt: new Date(expiresAt) };
  }

  /** The session's principal and expiry, or undefined when the id is malformed, unknown or expired. */
  get(id: string): (Session & { expiresAt: number }) | undefined {
    if (!SESSION_ID.test(id)) return undefined;
    const k = key(id);
    const s = this.#sessions.get(k);
    if (!s) return undefined;
    if (s.expiresAt <= this.#clock.now()) {
      this.#sessions.delete(k);
      return undefined;
    }
    return s;
  }

  /** Ends a session (logout); unknown ids are ignored. */
  delete(id: string): void {
    if (SESSION_ID.test(id)) this.#sessions.delete(key(id));
  }

  /** Ends every session of a principal (its token was revoked). */
  deleteFor(principalId: string): void {
    for (const [k, s] of this.#sessions) if (s.principal.id === principalId) this.#sessions.delete(k);
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Drops expired sessions; they are in creation order, so stop at the first live one. */
  #sweep(): void {
    const now = this.#clock.now();
    for (const [k, s] of this.#sessions) {
      if (s.expiresAt > now) break;
      this.#sessions.delete(k);
    }
  }
}

function key(id: string): string {
  return sha256(id).toString('base64url');
}

/** The value of cookie `name` in a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** A Cookie header without the session cookie (undefined when nothing else is left). */
export function withoutSessionCookie(header: string): string | undefined {
  const kept = header
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p !== '' && !p.startsWith(`${SESSION_COOKIE}=`));
  return kept.length ? kept.join('; ') : undefined;
}
