/**
 * The durable queue of asynchronous calls (`POST /async-function/NAME`): the contract
 * both backends implement — embedded SQLite (the default, in the data dir) and NATS
 * JetStream (several gateways sharing one queue). The dispatcher (dispatcher.ts) is
 * the only consumer; it knows nothing of the backend.
 *
 * Delivery is at least once: a call leased by a worker that dies before settling it
 * becomes due again when its lease expires. Each call keeps its id (`X-Call-Id`) across
 * attempts so a function can de-duplicate.
 */

/** Where a call is in its life. `failed`: the function answered with a status that is not retried; `dead`: retries exhausted. */
export type CallState = 'queued' | 'running' | 'succeeded' | 'failed' | 'dead';

/** Whether the call's result still has to be POSTed to its callback URL. */
export type CallbackState = 'none' | 'pending' | 'delivered' | 'failed';

/** A request as it was accepted, replayed exactly on every attempt. */
export interface StoredRequest {
  method: string;
  /** Path below the function, with its leading slash (`/` when none). */
  path: string;
  /** Raw query string without `?` (empty when none). */
  query: string;
  /** Lower-case names; hop-by-hop and platform headers already removed. */
  headers: Record<string, string>;
  body: Buffer;
}

/** The function's reply to the attempt that settled the call. */
export interface StoredResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Seconds the attempt took. */
  durationSeconds: number;
}

export interface NewCall {
  /** Unique id (a UUID); the caller chooses it so it can be returned in `X-Call-Id`. */
  id: string;
  namespace: string;
  name: string;
  request: StoredRequest;
  callbackUrl?: string;
  /** Epoch ms. */
  now: number;
}

export interface CallRecord {
  id: string;
  namespace: string;
  name: string;
  request: StoredRequest;
  callbackUrl?: string;
  state: CallState;
  /** Attempts started so far (the one running included). */
  attempts: number;
  /** Epoch ms timestamps. */
  createdAt: number;
  updatedAt: number;
  /** When the call may next be attempted (queued), or when its lease ends (running). */
  dueAt: number;
  finishedAt?: number;
  /** Why the last attempt failed (status or connection error), never a secret. */
  lastError?: string;
  result?: StoredResult;
  callback: { state: CallbackState; attempts: number; dueAt?: number; lastError?: string };
}

/** How a leased call ended, as decided by the dispatcher. */
export type Settlement =
  | { kind: 'succeeded'; result: StoredResult }
  /** Final: a status the function's retry policy does not retry (e.g. 400). */
  | { kind: 'failed'; result?: StoredResult; error: string }
  /** Try again at `dueAt` (epoch ms). */
  | { kind: 'retry'; dueAt: number; error: string; result?: StoredResult }
  /** Attempts exhausted: kept as a dead letter with its last error. */
  | { kind: 'dead'; error: string; result?: StoredResult };

export interface CallFilter {
  namespace?: string;
  name?: string;
  state?: CallState;
  /** Most recent first; default 100, at most 1000. */
  limit?: number;
}

export interface CallQueue {
  /** A short name for logs and `/system/info` (`sqlite`, `jetstream`). */
  readonly kind: string;
  /** Stores the call durably (fsync'd, or acknowledged by the JetStream server) before resolving. */
  enqueue(call: NewCall): Promise<CallRecord>;
  /**
   * Up to `max` calls that are due at `now` (queued and due, or running with an expired
   * lease), marked running with a lease until `now + leaseMs` and `attempts` + 1. A call
   * is leased to one worker at a time. `accept` may refuse a call (its function is at its
   * concurrency limit): a refused call stays queued, unchanged, and does not count.
   */
  lease(max: number, now: number, leaseMs: number, accept?: (call: CallRecord) => boolean): Promise<CallRecord[]>;
  /** Settles a leased call. With a callback URL and a final outcome, its callback becomes pending (due now). */
  settle(id: string, settlement: Settlement, now: number): Promise<CallRecord>;
  /** Calls whose callback is pending and due, up to `max`, leased for `leaseMs` (callback.dueAt moved past the lease). */
  leaseCallbacks(max: number, now: number, leaseMs: number): Promise<CallRecord[]>;
  /** Records a callback delivery: delivered, or failed with the next try at `retryAt` (undefined: give up). */
  settleCallback(id: string, outcome: { delivered: true } | { delivered: false; error: string; retryAt?: number }, now: number): Promise<void>;
  get(id: string): Promise<CallRecord | undefined>;
  list(filter: CallFilter): Promise<CallRecord[]>;
  /** Re-queues a finished call (failed, dead or succeeded) with attempts reset; `KSS_CALL_NOT_FOUND` when unknown. */
  replay(id: string, now: number): Promise<CallRecord>;
  /** Calls queued or running, per function (for metrics). */
  depth(): Promise<Array<{ namespace: string; name: string; queued: number; running: number; oldestMs?: number }>>;
  close(): Promise<void>;
}
