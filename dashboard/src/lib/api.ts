/**
 * The dashboard's one way to the gateway: the typed SDK (src/client) on the same
 * origin, authenticated by the HttpOnly session cookie the login sets (no credential
 * is ever readable by scripts or kept in storage), plus the few routes only the
 * dashboard uses (session, metrics history, templates).
 *
 * Every request carries `x-kss-csrf: 1`: the gateway refuses cookie-authenticated
 * changes without it, and a cross-site page cannot add it (CORS is off by default).
 */
import { ApiError, KssClient } from '../../../src/client/client.js';

export { ApiError };
export type { FunctionStatus } from '../../../src/core/function-status.js';
export type { CallView } from '../../../src/queue/async-calls.js';
export type { SecretView } from '../../../src/client/client.js';
/** Revisions and traffic splits (issue #12): `client.revisions`, `setTraffic`, `rollback`, `pinRevision`. */
export type { CanaryView, FunctionView, RevisionEntry, RevisionsView, TrafficTarget } from '../../../src/client/client.js';

export const CSRF_HEADER = { 'x-kss-csrf': '1' } as const;

const unauthorizedListeners = new Set<() => void>();

/**
 * Calls `listener` whenever the gateway answers a platform 401 (`x-kss-error:
 * KSS_UNAUTHORIZED`: the session ended or expired) to any request but the session
 * routes themselves (a wrong password is the login form's business). A function's
 * own 401 reply carries no `x-kss-error` and does not count. Returns an unsubscribe.
 */
export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

/** `fetch`, telling {@link onUnauthorized} listeners about platform 401s. */
async function watchedFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const res = await fetch(input, init);
  if (res.status === 401 && res.headers.get('x-kss-error') === 'KSS_UNAUTHORIZED') {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!new URL(url, window.location.origin).pathname.startsWith('/api/v1/session')) for (const l of [...unauthorizedListeners]) l();
  }
  return res;
}

/** The SDK, same origin, cookie-authenticated. */
export const client = new KssClient({ gateway: window.location.origin, headers: { ...CSRF_HEADER }, fetch: watchedFetch });

/** `GET/POST/DELETE /api/v1/session`. */
export interface SessionInfo {
  authenticated: boolean;
  /** False when the gateway runs with `--no-auth` (everyone is admin). */
  authRequired: boolean;
  user?: string;
  scopes?: string[];
  expiresAt?: string;
}

/** One point of `GET /api/v1/metrics/history`: what happened in one interval (see src/metrics/metrics-history.ts). */
export type { HistoryPoint as MetricsPoint } from '../../../src/metrics/metrics-history.js';
import type { FunctionSummary as SummaryRow, HistoryPoint } from '../../../src/metrics/metrics-history.js';

export interface MetricsHistory {
  intervalSeconds: number;
  /** Oldest first; at most 180 points (15 minutes at 5 s). */
  points: HistoryPoint[];
}

/** One row of `GET /api/v1/metrics/summary`: the last `windowSeconds`, per function. */
export interface FunctionSummary extends SummaryRow {
  /** ISO time of the last request since the gateway started; undefined if none. */
  lastInvokedAt?: string;
}

/** One file of a template. */
export interface TemplateFile {
  path: string;
  content: string;
  /** Unix mode, e.g. 0o644 or 0o755 (an exec handler). */
  mode: number;
}

/** `GET /api/v1/templates`: what `kss new --lang NAME` writes. */
export interface Template {
  name: string;
  /** The function's runtime for this template (node, python, go, exec). */
  runtime: string;
  description: string;
  files: TemplateFile[];
  /** Extra spec fields the template sets (e.g. `{ envProcess: "./handler.sh" }`). */
  spec: Record<string, unknown>;
  /** The file a newcomer edits first (e.g. handler.js). */
  mainFile: string;
}

async function json<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await watchedFetch(path, {
      method,
      headers: { ...CSRF_HEADER, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch (err) {
    throw new ApiError(0, 'KSS_UNREACHABLE', `cannot reach the gateway (${(err as Error).message}); is it running?`);
  }
  const text = await res.text();
  if (!res.ok) {
    let code = 'KSS_UNKNOWN';
    let message = `gateway answered ${res.status}`;
    try {
      const b = JSON.parse(text) as { code?: string; message?: string };
      if (b.code) code = b.code;
      if (b.message) message = b.message;
    } catch {
      /* not a platform error body */
    }
    throw new ApiError(res.status, code as ConstructorParameters<typeof ApiError>[1], message);
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  return q.size ? `?${q}` : '';
}

export const session = {
  /** Who is logged in (never a 401: the answer says whether login is needed). */
  get: () => json<SessionInfo>('GET', '/api/v1/session'),
  /** Logs in; the gateway sets the HttpOnly cookie. 401 KSS_UNAUTHORIZED on a wrong password. */
  login: (username: string, password: string) => json<SessionInfo>('POST', '/api/v1/session', { username, password }),
  logout: () => json<void>('DELETE', '/api/v1/session'),
};

export const metrics = {
  /** Per-interval history of one function, or of the whole platform when `name` is undefined. */
  history: (name?: string, namespace?: string) => json<MetricsHistory>('GET', `/api/v1/metrics/history${query({ function: name, namespace })}`),
  summary: () => json<{ windowSeconds: number; items: FunctionSummary[] }>('GET', '/api/v1/metrics/summary'),
};

export const templates = {
  list: () => json<{ items: Template[] }>('GET', '/api/v1/templates'),
};

/** The message to show for any failure. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.code && err.code !== 'KSS_UNKNOWN' ? `${err.message} (${err.code})` : err.message;
  return err instanceof Error ? err.message : String(err);
}
