/**
 * The shared call queue: NATS JetStream, so several gateways take calls from one queue.
 *
 * ## Layout
 * - KV bucket `<prefix>-calls` (stream `KV_<prefix>-calls`, file storage, history 1): one
 *   key per call holding its {@link CallRecord} as JSON, bodies base64. It is the source of
 *   truth for every operation. Every change is a conditional write on the key's revision
 *   (`Nats-Expected-Last-Subject-Sequence`), so of two gateways leasing or settling the same
 *   call at once exactly one succeeds; the other sees a conflict and skips the call.
 * - Object store `<prefix>-bodies`: request and result bodies larger than `inlineBodyBytes`
 *   (64 KiB by default), which would not fit a NATS message (`max_payload`, 1 MiB by default,
 *   while the gateway accepts 10 MiB) and would be resent to every gateway on every state
 *   change. A body is written before the record that points at it, so a record never points
 *   at a missing body; a crash in between leaves an orphan body, never a broken call.
 *
 * ## Finding due work: a watched index, not a work stream
 * Each gateway keeps an in-memory index of every call (id, function, state, due times,
 * revision: about 200 bytes a call, no bodies), loaded when the queue opens and kept current
 * by a KV watcher, plus a bounded cache of recent records. `lease` scans the index for due
 * calls (no network when nothing is due), then takes each with a conditional write.
 *
 * Why not a work stream with a durable pull consumer (one message per attempt, ack = done)?
 * The contract drives time through `now` (lease expiry, retry `dueAt`), which a consumer's
 * `ack_wait` and `nak` delay cannot follow (they run on the server's clock); a record kept
 * in two places (message + KV) needs reconciling after every crash between the two writes;
 * and `get`/`list`/`replay` need the KV anyway. The cost of the index:
 * - memory and startup grow with the number of calls kept (finished ones included: nothing
 *   expires them yet), and each gateway receives every change;
 * - with many gateways they all go for the same oldest due calls; losers skip on conflict, so
 *   it stays correct but wastes round trips. Fine for a handful of gateways; past that, shard
 *   by function or move to a work stream with server-side message scheduling (newer servers).
 * - `list` and `depth` answer from the index, so they show another gateway's change only once
 *   the watcher delivered it (milliseconds); `get`, `settle`, `replay` read the server.
 *
 * ## Deviations from {@link CallQueue}
 * - Durability is the JetStream acknowledgement: the record is stored by the server (by a
 *   quorum with `replicas` > 1). A lone server flushes to disk every `sync_interval` (2 min by
 *   default), so a power cut (not a crash) of a single server can lose the last writes.
 * - `accept` is asked before the conditional write: when another gateway takes the call in
 *   between, a call `accept` said yes to is not returned. `accept` must only count calls it
 *   is actually given back, not reserve capacity. The dispatcher's per-lease count is fine:
 *   a lost race only makes it lease fewer calls of that function that round.
 * - `enqueue` of an id that exists rejects with `KSS_BAD_REQUEST` (SQLite: its constraint error).
 * - Unlike SQLite, opening does not requeue calls left running: another gateway may still be
 *   running them; they become due when their lease expires.
 */
// Tested against nats-server 2.9.10 (Debian's) with the @nats-io 3.x clients.
import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, JetStreamApiError, JetStreamApiCodes } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import type { Logger } from 'pino';
import { KssError, systemClock, type Clock } from '../core/index.js';
import type { CallbackState, CallFilter, CallQueue, CallRecord, CallState, NewCall, Settlement, StoredResult } from './call-queue.js';

/** How to reach JetStream and name the queue's bucket and object store. */
export interface JetStreamQueueOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** Names `<prefix>-calls` (KV bucket) and `<prefix>-bodies` (object store). Letters, digits, `-`, `_`; default `kss`. */
  prefix?: string;
  /** JetStream replicas of both (1 to 5; a cluster needs 3 to survive a server's loss). Default 1. */
  replicas?: number;
  /** Bodies up to this many bytes are kept inside the record; larger ones in the object store. Default 64 KiB. */
  inlineBodyBytes?: number;
  /** Bytes of records and bodies cached for `lease`, `list` (default 32 MiB). */
  cacheBytes?: number;
  /** Time for `depth`'s `oldestMs` and the watcher's restart delay (default the system clock). */
  clock?: Clock;
  /** Milliseconds to wait for the first connection (default 5000). */
  connectTimeoutMs?: number;
  /** Milliseconds to wait for the server's answer to each read or write (default 5000). */
  timeoutMs?: number;
  /** Told about reconnects and watcher restarts. */
  logger?: Logger;
}

/** A body as stored: inline (base64) or the name of an object in the bodies store. */
interface StoredBody {
  b64?: string;
  blob?: string;
  size: number;
}

/** The JSON in the KV bucket: a {@link CallRecord} with its bodies replaced by {@link StoredBody}. */
type StoredCall = Omit<CallRecord, 'request' | 'result'> & {
  v: 1;
  request: Omit<CallRecord['request'], 'body'> & { body: StoredBody };
  result?: Omit<NonNullable<CallRecord['result']>, 'body'> & { body: StoredBody };
};

/** What the index keeps of a call: enough to find due work, list and count, without bodies. */
interface IndexEntry {
  id: string;
  key: string;
  namespace: string;
  name: string;
  state: CallState;
  dueAt: number;
  createdAt: number;
  cbState: CallbackState;
  cbDueAt?: number;
  revision: number;
}

const DEFAULT_INLINE_BYTES = 64 * 1024;
const DEFAULT_CACHE_BYTES = 32 * 1024 * 1024;
/** Conditional writes retried this many times when another writer got there first. */
const MAX_CONFLICT_RETRIES = 20;

/** The KV bucket and object store names for `prefix`. */
export function jetStreamQueueNames(prefix = 'kss'): { bucket: string; stream: string; bodies: string; bodiesStream: string } {
  if (!/^[A-Za-z0-9_-]{1,48}$/.test(prefix)) {
    throw new KssError('KSS_BAD_REQUEST', `invalid JetStream queue prefix "${prefix}": use 1-48 letters, digits, "-" or "_"`);
  }
  return { bucket: `${prefix}-calls`, stream: `KV_${prefix}-calls`, bodies: `${prefix}-bodies`, bodiesStream: `OBJ_${prefix}-bodies` };
}

function serversLabel(servers: string | string[]): string {
  return Array.isArray(servers) ? servers.join(',') : servers;
}

async function connectTo(options: Pick<JetStreamQueueOptions, 'servers' | 'connectTimeoutMs'>): Promise<NatsConnection> {
  try {
    return await connect({
      servers: options.servers,
      name: 'kube-serverless-queue',
      timeout: options.connectTimeoutMs ?? 5000,
      // After the first connection, keep trying for ever: the client buffers while it reconnects.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      // The client otherwise builds two Errors (stack traces) per request just in case: a
      // quarter of the CPU of a lease/settle loop. Our errors name the operation instead.
      noAsyncTraces: true,
    });
  } catch (err) {
    throw new Error(`cannot connect to NATS at ${serversLabel(options.servers)}: ${(err as Error).message}; is nats-server running (with -js)?`, { cause: err });
  }
}

/**
 * Opens the queue on JetStream, creating its KV bucket and object store if missing, and
 * resolves once the index of existing calls is loaded. Rejects with an Error naming the URL
 * when the server cannot be reached or has no JetStream.
 */
export async function openJetStreamQueue(options: JetStreamQueueOptions): Promise<JetStreamQueue> {
  const names = jetStreamQueueNames(options.prefix);
  const replicas = options.replicas ?? 1;
  const nc = await connectTo(options);
  try {
    const timeout = options.timeoutMs ?? 5000;
    const js = jetstream(nc, { timeout });
    const jsm = await jetstreamManager(nc, { timeout });
    const kv = await new Kvm(js).create(names.bucket, { history: 1, storage: 'file', replicas, description: 'kube-serverless asynchronous calls' });
    const bodies = await new Objm(js).create(names.bodies, { storage: 'file', replicas, description: 'kube-serverless call bodies' });
    const lastSeq = (await jsm.streams.info(names.stream)).state.last_seq;
    const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
    const queue = new JetStreamQueue({
      nc,
      kv,
      bodies,
      label: serversLabel(options.servers),
      // Leave room for headers, the rest of the record and base64's 4/3.
      inlineBytes: Math.min(options.inlineBodyBytes ?? DEFAULT_INLINE_BYTES, Math.floor(maxPayload / 4)),
      cacheBytes: options.cacheBytes ?? DEFAULT_CACHE_BYTES,
      clock: options.clock ?? systemClock,
      logger: options.logger,
    });
    await queue.start(lastSeq).catch(async (err: unknown) => {
      await queue.close();
      throw err;
    });
    return queue;
  } catch (err) {
    await nc.close().catch(() => {});
    const hint = /jetstream is not enabled/i.test((err as Error).message) ? ' (start nats-server with -js)' : '';
    throw new Error(`cannot open the JetStream queue at ${serversLabel(options.servers)}: ${(err as Error).message}${hint}`, { cause: err });
  }
}

/** Deletes the queue's bucket and object store with every call in them (tests, benches, `kss` maintenance). */
export async function destroyJetStreamQueue(options: Pick<JetStreamQueueOptions, 'servers' | 'prefix' | 'connectTimeoutMs'>): Promise<void> {
  const names = jetStreamQueueNames(options.prefix);
  const nc = await connectTo(options);
  try {
    const jsm = await jetstreamManager(nc);
    for (const stream of [names.stream, names.bodiesStream]) {
      await jsm.streams.delete(stream).catch((err: unknown) => {
        if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
      });
    }
  } finally {
    await nc.close();
  }
}

function isConflict(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** The KV key of a call: `c.<id>` for ids made of safe characters (UUIDs), else `x.<base64url>`. */
function keyOf(id: string): string {
  return /^[A-Za-z0-9_-]{1,200}$/.test(id) ? `c.${id}` : `x.${Buffer.from(id).toString('base64url').slice(0, 800)}`;
}

function notFound(id: string): KssError {
  return new KssError('KSS_CALL_NOT_FOUND', `no call with id "${id}"; see \`kss calls list\``);
}

/** A least-recently-used map bounded by an estimate of bytes. */
class ByteLru<V> {
  readonly #max: number;
  readonly #map = new Map<string, { value: V; bytes: number }>();
  #bytes = 0;

  constructor(maxBytes: number) {
    this.#max = maxBytes;
  }

  get(key: string): V | undefined {
    const hit = this.#map.get(key);
    if (!hit) return undefined;
    this.#map.delete(key);
    this.#map.set(key, hit);
    return hit.value;
  }

  set(key: string, value: V, bytes: number): void {
    this.delete(key);
    if (bytes > this.#max / 4) return;
    this.#map.set(key, { value, bytes });
    this.#bytes += bytes;
    for (const [k, v] of this.#map) {
      if (this.#bytes <= this.#max) break;
      this.#map.delete(k);
      this.#bytes -= v.bytes;
    }
  }

  delete(key: string): void {
    const hit = this.#map.get(key);
    if (hit) {
      this.#map.delete(key);
      this.#bytes -= hit.bytes;
    }
  }
}

/** A stored record at a revision, as read from the server or the cache. */
interface Versioned {
  stored: StoredCall;
  revision: number;
}

interface QueueDeps {
  nc: NatsConnection;
  kv: KV;
  bodies: ObjectStore;
  label: string;
  inlineBytes: number;
  cacheBytes: number;
  clock: Clock;
  logger?: Logger;
}

/** The {@link CallQueue} on JetStream; made by {@link openJetStreamQueue}. */
export class JetStreamQueue implements CallQueue {
  readonly kind = 'jetstream';
  readonly #d: QueueDeps;
  /** Every call known, by id. */
  readonly #index = new Map<string, IndexEntry>();
  /** Ids of calls queued or running. */
  readonly #active = new Set<string>();
  /** Ids of calls whose callback is pending. */
  readonly #callbacks = new Set<string>();
  /** Ids this process is taking right now, so concurrent `lease` calls do not race each other. */
  readonly #claiming = new Set<string>();
  readonly #claimingCallbacks = new Set<string>();
  /** Records by id (valid while their revision is the index's) and bodies by object name. */
  readonly #records: ByteLru<Versioned>;
  readonly #blobs: ByteLru<Buffer>;
  readonly #inFlight = new Set<Promise<unknown>>();
  #watcher?: { stop(): void };
  #watchDone?: Promise<void>;
  #lastRevision = 0;
  #closed = false;

  constructor(deps: QueueDeps) {
    this.#d = deps;
    this.#records = new ByteLru(deps.cacheBytes / 2);
    this.#blobs = new ByteLru(deps.cacheBytes / 2);
  }

  /** Loads the index (up to the stream's `lastSeq` when opened) and keeps it current. Called once by {@link openJetStreamQueue}. */
  async start(lastSeq: number): Promise<void> {
    void this.#watchStatus();
    let ready!: () => void;
    const loaded = new Promise<void>((resolve) => (ready = resolve));
    if (lastSeq === 0) ready();
    await this.#watch(0, (rev, pending) => {
      if (rev >= lastSeq || pending === 0) ready();
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out loading the call index from ${this.#d.label}`)), 30_000);
    });
    try {
      await Promise.race([loaded, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #watchStatus(): Promise<void> {
    for await (const s of this.#d.nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect') this.#d.logger?.warn({ server: this.#d.label }, `queue: NATS ${s.type}`);
    }
  }

  /** Watches the bucket from `fromRevision` (0: last value of every key), restarting after a failure. */
  async #watch(fromRevision: number, onEntry?: (revision: number, pending: number) => void): Promise<void> {
    const w = await this.#d.kv.watch(fromRevision > 0 ? { resumeFromRevision: fromRevision } : {});
    this.#watcher = w;
    this.#watchDone = (async () => {
      try {
        for await (const e of w) {
          this.#lastRevision = Math.max(this.#lastRevision, e.revision);
          this.#onWatch(e);
          onEntry?.(e.revision, e.delta ?? 0);
        }
      } catch (err) {
        this.#d.logger?.warn({ err }, 'queue: the JetStream watcher failed');
      }
      if (this.#closed) return;
      this.#d.logger?.warn({ server: this.#d.label }, 'queue: the JetStream watcher stopped; restarting');
      const restart = () => {
        if (this.#closed) return;
        this.#watch(this.#lastRevision + 1).catch((err: unknown) => {
          this.#d.logger?.warn({ err }, 'queue: could not restart the JetStream watcher');
          this.#d.clock.setTimeout(restart, 1000);
        });
      };
      this.#d.clock.setTimeout(restart, 1000);
    })();
  }

  #onWatch(e: KvEntry): void {
    if (e.operation !== 'PUT') {
      const entry = [...this.#index.values()].find((x) => x.key === e.key);
      if (entry && entry.revision < e.revision) this.#unindex(entry.id);
      return;
    }
    let stored: StoredCall;
    try {
      stored = e.json<StoredCall>();
    } catch {
      return;
    }
    if (stored?.v !== 1 || typeof stored.id !== 'string') return;
    this.#remember(stored, e.revision);
  }

  /** Records `stored` at `revision` in the index and cache, unless a newer revision is known. */
  #remember(stored: StoredCall, revision: number): void {
    const known = this.#index.get(stored.id);
    if (known && known.revision >= revision) return;
    const entry: IndexEntry = {
      id: stored.id,
      key: keyOf(stored.id),
      namespace: stored.namespace,
      name: stored.name,
      state: stored.state,
      dueAt: stored.dueAt,
      createdAt: stored.createdAt,
      cbState: stored.callback.state,
      revision,
    };
    if (stored.callback.dueAt !== undefined) entry.cbDueAt = stored.callback.dueAt;
    this.#index.set(stored.id, entry);
    if (entry.state === 'queued' || entry.state === 'running') this.#active.add(entry.id);
    else this.#active.delete(entry.id);
    if (entry.cbState === 'pending') this.#callbacks.add(entry.id);
    else this.#callbacks.delete(entry.id);
    this.#records.set(stored.id, { stored, revision }, 512 + (stored.request.body.b64?.length ?? 0) + (stored.result?.body.b64?.length ?? 0));
  }

  #unindex(id: string): void {
    this.#index.delete(id);
    this.#active.delete(id);
    this.#callbacks.delete(id);
    this.#records.delete(id);
  }

  /** Runs `op`, refusing once closed, tracked so `close` waits for it, with JetStream errors naming the server. */
  #run<T>(what: string, op: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new KssError('KSS_SHUTTING_DOWN', 'the queue is closed'));
    const p = op().catch((err: unknown) => {
      if (err instanceof KssError) throw err;
      throw new Error(`JetStream queue at ${this.#d.label}: ${what} failed: ${(err as Error).message}`, { cause: err });
    });
    this.#inFlight.add(p);
    const forget = () => this.#inFlight.delete(p);
    p.then(forget, forget);
    return p;
  }

  /** Reads a call from the server (not the cache); undefined when unknown. */
  async #read(id: string): Promise<Versioned | undefined> {
    const e = await this.#d.kv.get(keyOf(id));
    if (!e || e.operation !== 'PUT') return undefined;
    const stored = e.json<StoredCall>();
    if (stored?.v !== 1 || stored.id !== id) return undefined;
    this.#remember(stored, e.revision);
    return { stored, revision: e.revision };
  }

  /** The record at the index's revision: from the cache, else the server. */
  async #current(entry: IndexEntry): Promise<Versioned | undefined> {
    const hit = this.#records.get(entry.id);
    if (hit && hit.revision === entry.revision) return hit;
    return this.#read(entry.id);
  }

  /** Writes `stored` if the key is still at `revision`; undefined when someone else wrote first. */
  async #write(stored: StoredCall, revision: number): Promise<number | undefined> {
    try {
      const rev = await this.#d.kv.update(keyOf(stored.id), JSON.stringify(stored), revision);
      this.#remember(stored, rev);
      return rev;
    } catch (err) {
      if (isConflict(err)) return undefined;
      throw err;
    }
  }

  /**
   * Reads, changes and conditionally writes a call until the write wins. `change` may throw
   * (e.g. not finished); it is run again on the fresh record after a conflict.
   */
  async #mutate(id: string, change: (s: StoredCall) => StoredCall): Promise<StoredCall> {
    for (let i = 0; i < MAX_CONFLICT_RETRIES; i++) {
      // First from the cache (one round trip when it is current, as after our own lease),
      // then from the server: a stale copy only costs a conflict and a second try.
      const cached = i === 0 ? this.#records.get(id) : undefined;
      const cur = cached && cached.revision === this.#index.get(id)?.revision ? cached : await this.#read(id);
      if (!cur) throw notFound(id);
      const next = change(cur.stored);
      if ((await this.#write(next, cur.revision)) !== undefined) return next;
    }
    throw new Error(`call ${id} kept changing under ${MAX_CONFLICT_RETRIES} attempts to update it`);
  }

  async #storeBody(body: Buffer, name: string): Promise<StoredBody> {
    if (body.length <= this.#d.inlineBytes) return { b64: body.toString('base64'), size: body.length };
    await this.#d.bodies.putBlob({ name }, body);
    this.#blobs.set(name, body, body.length);
    return { blob: name, size: body.length };
  }

  async #loadBody(b: StoredBody): Promise<Buffer> {
    if (b.blob === undefined) return Buffer.from(b.b64 ?? '', 'base64');
    const hit = this.#blobs.get(b.blob);
    if (hit) return Buffer.from(hit);
    const data = await this.#d.bodies.getBlob(b.blob);
    if (!data) throw new Error(`the body ${b.blob} is missing from the object store`);
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.#blobs.set(b.blob, buf, buf.length);
    return Buffer.from(buf);
  }

  /** Deletes a body object, best effort (an orphan only costs space). */
  #dropBody(b: StoredBody | undefined): void {
    if (b?.blob === undefined) return;
    const name = b.blob;
    this.#blobs.delete(name);
    this.#d.bodies.delete(name).catch((err: unknown) => this.#d.logger?.warn({ err, name }, 'queue: could not delete a call body'));
  }

  async #storeResult(id: string, result: StoredResult | undefined): Promise<StoredCall['result']> {
    if (!result) return undefined;
    return {
      status: result.status,
      headers: { ...result.headers },
      body: await this.#storeBody(result.body, `${id}/result/${randomUUID()}`),
      durationSeconds: result.durationSeconds,
    };
  }

  async #toRecord(s: StoredCall): Promise<CallRecord> {
    const rec: CallRecord = {
      id: s.id,
      namespace: s.namespace,
      name: s.name,
      request: { method: s.request.method, path: s.request.path, query: s.request.query, headers: { ...s.request.headers }, body: await this.#loadBody(s.request.body) },
      state: s.state,
      attempts: s.attempts,
      createdAt: s.createdAt,
      updatedAt: s.updatedAt,
      dueAt: s.dueAt,
      callback: { state: s.callback.state, attempts: s.callback.attempts },
    };
    if (s.callbackUrl !== undefined) rec.callbackUrl = s.callbackUrl;
    if (s.finishedAt !== undefined) rec.finishedAt = s.finishedAt;
    if (s.lastError !== undefined) rec.lastError = s.lastError;
    if (s.result) {
      rec.result = { status: s.result.status, headers: { ...s.result.headers }, body: await this.#loadBody(s.result.body), durationSeconds: s.result.durationSeconds };
    }
    if (s.callback.dueAt !== undefined) rec.callback.dueAt = s.callback.dueAt;
    if (s.callback.lastError !== undefined) rec.callback.lastError = s.callback.lastError;
    return rec;
  }

  enqueue(call: NewCall): Promise<CallRecord> {
    return this.#run('enqueue', async () => {
      const r = call.request;
      const body = await this.#storeBody(r.body, `${call.id}/request/${randomUUID()}`);
      const stored: StoredCall = {
        v: 1,
        id: call.id,
        namespace: call.namespace,
        name: call.name,
        request: { method: r.method, path: r.path, query: r.query, headers: { ...r.headers }, body },
        ...(call.callbackUrl ? { callbackUrl: call.callbackUrl } : {}),
        state: 'queued',
        attempts: 0,
        createdAt: call.now,
        updatedAt: call.now,
        dueAt: call.now,
        callback: { state: 'none', attempts: 0 },
      };
      let rev: number;
      try {
        // A put expecting no previous value: `kv.create` would also read the key after any
        // failure (to re-create deleted keys, which calls never are), doubling a timeout.
        rev = await this.#d.kv.put(keyOf(call.id), JSON.stringify(stored), { previousSeq: 0 });
      } catch (err) {
        // Only a refusal is sure not to have stored the record: after a timeout it may have
        // landed, and its body must stay (an orphan body costs space, a missing one a call).
        if (!isConflict(err)) throw err;
        this.#dropBody(body);
        throw new KssError('KSS_BAD_REQUEST', `a call with id "${call.id}" already exists`);
      }
      this.#remember(stored, rev);
      return this.#toRecord(stored);
    });
  }

  lease(max: number, now: number, leaseMs: number, accept?: (call: CallRecord) => boolean): Promise<CallRecord[]> {
    return this.#run('lease', async () => {
      const out: CallRecord[] = [];
      if (max <= 0) return out;
      // Look past refused calls (a function at its limit) so others still get leased, within reason.
      const budget = Math.max(max * 4, 64);
      const candidates = this.#due(this.#active, this.#claiming, (e) => e.dueAt, now, budget);
      let next = 0;
      while (out.length < max && next < candidates.length && next < budget) {
        const batch = candidates.slice(next, next + Math.min(max - out.length, budget - next));
        next += batch.length;
        for (const e of batch) this.#claiming.add(e.id);
        try {
          const fresh = await Promise.all(
            batch.map(async (e) => {
              const cur = await this.#current(e);
              if (!cur || (cur.stored.state !== 'queued' && cur.stored.state !== 'running') || cur.stored.dueAt > now) return undefined;
              return { cur, record: await this.#toRecord(cur.stored) };
            }),
          );
          const chosen = fresh.filter((f): f is NonNullable<typeof f> => f !== undefined && (!accept || accept(f.record)));
          const won = await Promise.all(
            chosen.map(async ({ cur, record }) => {
              const leased: StoredCall = { ...cur.stored, state: 'running', attempts: cur.stored.attempts + 1, dueAt: now + leaseMs, updatedAt: now };
              if ((await this.#write(leased, cur.revision)) === undefined) return undefined;
              return { ...record, state: 'running' as const, attempts: leased.attempts, dueAt: leased.dueAt, updatedAt: now };
            }),
          );
          for (const rec of won) if (rec) out.push(rec);
        } finally {
          for (const e of batch) this.#claiming.delete(e.id);
        }
      }
      return out;
    });
  }

  /** Up to `limit` index entries among `ids` due at `now` (by `dueOf`) and not being taken, earliest first. */
  #due(ids: Set<string>, taking: Set<string>, dueOf: (e: IndexEntry) => number | undefined, now: number, limit: number): IndexEntry[] {
    const before = (a: IndexEntry, b: IndexEntry) => dueOf(a)! - dueOf(b)! || a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1);
    // The `limit` earliest, kept in a max-heap: O(n log limit) rather than sorting every due call.
    const heap: IndexEntry[] = [];
    const swap = (i: number, j: number) => ([heap[i], heap[j]] = [heap[j]!, heap[i]!]);
    for (const id of ids) {
      const e = this.#index.get(id);
      const at = e && dueOf(e);
      if (!e || at === undefined || at > now || taking.has(id)) continue;
      if (heap.length < limit) {
        heap.push(e);
        for (let i = heap.length - 1; i > 0; ) {
          const p = (i - 1) >> 1;
          if (before(heap[p]!, heap[i]!) >= 0) break;
          swap(i, p);
          i = p;
        }
      } else if (limit > 0 && before(e, heap[0]!) < 0) {
        heap[0] = e;
        for (let i = 0; ; ) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < heap.length && before(heap[l]!, heap[m]!) > 0) m = l;
          if (r < heap.length && before(heap[r]!, heap[m]!) > 0) m = r;
          if (m === i) break;
          swap(i, m);
          i = m;
        }
      }
    }
    return heap.sort(before);
  }

  settle(id: string, s: Settlement, now: number): Promise<CallRecord> {
    return this.#run('settle', async () => {
      const result = await this.#storeResult(id, s.result);
      const final = s.kind !== 'retry';
      let previous: StoredCall['result'];
      let next: StoredCall;
      try {
        next = await this.#mutate(id, (cur) => {
          previous = cur.result;
          const n: StoredCall = { ...cur, state: s.kind === 'retry' ? 'queued' : s.kind, dueAt: s.kind === 'retry' ? s.dueAt : cur.dueAt, updatedAt: now, callback: { ...cur.callback } };
          delete n.finishedAt;
          delete n.lastError;
          delete n.result;
          if (final) n.finishedAt = now;
          if (s.kind !== 'succeeded') n.lastError = s.error;
          if (result) n.result = result;
          if (final && cur.callbackUrl !== undefined) n.callback = { ...cur.callback, state: 'pending', dueAt: now };
          return n;
        });
      } catch (err) {
        // Unknown call: nothing points at the new body. After a timeout the write may have landed: keep it.
        if (err instanceof KssError) this.#dropBody(result?.body);
        throw err;
      }
      if (previous?.body.blob !== result?.body.blob) this.#dropBody(previous?.body);
      return this.#toRecord(next);
    });
  }

  leaseCallbacks(max: number, now: number, leaseMs: number): Promise<CallRecord[]> {
    return this.#run('leaseCallbacks', async () => {
      if (max <= 0) return [];
      const batch = this.#due(this.#callbacks, this.#claimingCallbacks, (e) => e.cbDueAt, now, max);
      for (const e of batch) this.#claimingCallbacks.add(e.id);
      try {
        const won = await Promise.all(
          batch.map(async (e) => {
            const cur = await this.#current(e);
            const cb = cur?.stored.callback;
            if (!cur || !cb || cb.state !== 'pending' || cb.dueAt === undefined || cb.dueAt > now) return undefined;
            const leased: StoredCall = { ...cur.stored, callback: { ...cb, attempts: cb.attempts + 1, dueAt: now + leaseMs } };
            if ((await this.#write(leased, cur.revision)) === undefined) return undefined;
            return this.#toRecord(leased);
          }),
        );
        return won.filter((r): r is CallRecord => r !== undefined);
      } finally {
        for (const e of batch) this.#claimingCallbacks.delete(e.id);
      }
    });
  }

  settleCallback(id: string, outcome: { delivered: true } | { delivered: false; error: string; retryAt?: number }, now: number): Promise<void> {
    return this.#run('settleCallback', async () => {
      await this.#mutate(id, (cur) => {
        const attempts = cur.callback.attempts;
        let callback: StoredCall['callback'];
        if (outcome.delivered) callback = { state: 'delivered', attempts };
        else if (outcome.retryAt !== undefined) callback = { state: 'pending', attempts, dueAt: outcome.retryAt, lastError: outcome.error };
        else callback = { state: 'failed', attempts, lastError: outcome.error };
        return { ...cur, callback, updatedAt: now };
      });
    });
  }

  get(id: string): Promise<CallRecord | undefined> {
    return this.#run('get', async () => {
      const cur = await this.#read(id);
      return cur && this.#toRecord(cur.stored);
    });
  }

  list(filter: CallFilter): Promise<CallRecord[]> {
    return this.#run('list', async () => {
      const limit = Math.min(Math.max(1, filter.limit ?? 100), 1000);
      const matches = (e: { namespace: string; name: string; state: CallState }) =>
        (!filter.namespace || e.namespace === filter.namespace) && (!filter.name || e.name === filter.name) && (!filter.state || e.state === filter.state);
      const picked = [...this.#index.values()]
        .filter(matches)
        .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1))
        .slice(0, limit);
      const records = await Promise.all(picked.map(async (e) => {
        const cur = await this.#current(e);
        return cur && matches(cur.stored) ? this.#toRecord(cur.stored) : undefined;
      }));
      return records.filter((r): r is CallRecord => r !== undefined);
    });
  }

  replay(id: string, now: number): Promise<CallRecord> {
    return this.#run('replay', async () => {
      let previous: StoredCall['result'];
      const next = await this.#mutate(id, (cur) => {
        if (cur.state === 'queued' || cur.state === 'running') {
          throw new KssError('KSS_CALL_NOT_FINISHED', `call ${id} is still ${cur.state}; only a finished call can be replayed`);
        }
        previous = cur.result;
        const n: StoredCall = { ...cur, state: 'queued', attempts: 0, dueAt: now, updatedAt: now, callback: { state: 'none', attempts: 0 } };
        delete n.finishedAt;
        delete n.lastError;
        delete n.result;
        return n;
      });
      this.#dropBody(previous?.body);
      return this.#toRecord(next);
    });
  }

  depth(): Promise<Array<{ namespace: string; name: string; queued: number; running: number; oldestMs?: number }>> {
    return this.#run('depth', async () => {
      const now = this.#d.clock.now();
      const byFn = new Map<string, { namespace: string; name: string; queued: number; running: number; oldest: number }>();
      for (const id of this.#active) {
        const e = this.#index.get(id);
        if (!e) continue;
        const k = `${e.namespace}\u0000${e.name}`;
        let d = byFn.get(k);
        if (!d) byFn.set(k, (d = { namespace: e.namespace, name: e.name, queued: 0, running: 0, oldest: e.createdAt }));
        if (e.state === 'queued') d.queued++;
        else d.running++;
        d.oldest = Math.min(d.oldest, e.createdAt);
      }
      return [...byFn.values()]
        .sort((a, b) => (a.namespace === b.namespace ? (a.name < b.name ? -1 : 1) : a.namespace < b.namespace ? -1 : 1))
        .map((d) => ({ namespace: d.namespace, name: d.name, queued: d.queued, running: d.running, oldestMs: Math.max(0, now - d.oldest) }));
    });
  }

  /** Waits for operations under way, stops the watcher and drains the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#inFlight]);
    this.#watcher?.stop();
    await this.#watchDone;
    if (this.#d.nc.isClosed()) return;
    // Drain flushes what is buffered; a server that is away cannot be drained: close after 5 s.
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, 5000)));
    await Promise.race([this.#d.nc.drain().catch(() => {}), giveUp]);
    clearTimeout(timer);
    if (!this.#d.nc.isClosed()) await this.#d.nc.close().catch(() => {});
  }
}
