/**
 * The contract between the trigger manager and each kind of event source (cron, MQTT,
 * NATS, RabbitMQ). A connector knows its broker's client and acknowledgement rules;
 * it knows nothing of queues, replicas or HTTP. For each message it calls
 * `ctx.deliver` and acknowledges the broker only by what that returns — so "no message
 * acknowledged without being processed" is decided in one place per connector.
 */
import type { Logger } from 'pino';
import type { Clock, TriggerSpec } from '../core/index.js';
import type { RetryPolicy } from '../queue/index.js';

/**
 * Connection state as `kss triggers` and `kss describe` show it. `standby`: a
 * single-consumer trigger on a gateway replica that does not lead (another one runs it).
 */
export type TriggerState = 'connecting' | 'connected' | 'disconnected' | 'scheduled' | 'stopped' | 'standby';

/** `user:password` from the trigger's `credentials` secret; a value without ':' is a token. */
export interface BrokerCredentials {
  username?: string;
  password?: string;
  token?: string;
}

/** One event, as the function will receive it. */
export interface TriggerEvent {
  body: Buffer;
  /** Lower-case header names: `content-type`, `x-topic`, `x-kss-message-id`, … */
  headers: Record<string, string>;
}

/**
 * What became of an event. `accepted`: stored as an async call (`callId`); `succeeded`:
 * the function answered 2xx (sync mode; its reply attached); `failed`: not handled —
 * `retryable` false means retrying the same message cannot help (e.g. the function
 * answered 400, or it no longer exists).
 */
export type DeliveryOutcome =
  | { kind: 'accepted'; callId: string }
  | { kind: 'succeeded'; status: number; body: Buffer; headers: Record<string, string> }
  | { kind: 'failed'; error: string; retryable: boolean; status?: number };

/** What a running trigger may do; given by the manager. */
export interface TriggerContext {
  readonly function: { name: string; namespace: string };
  readonly logger: Logger;
  readonly clock: Clock;
  /** The function's retry policy (sync mode retries and JetStream's max deliveries follow it). */
  readonly retry: RetryPolicy;
  /** The function's timeout (seconds): how long handling a sync-mode message may take. */
  readonly timeoutSeconds: number;
  /** Reads the credentials secret now (on every connect, so a rotated secret is picked up). */
  credentials(): Promise<BrokerCredentials | undefined>;
  /** Hands one event to the function: stored as an async call, or invoked (sync mode). Never rejects. */
  deliver(event: TriggerEvent): Promise<DeliveryOutcome>;
  /** Whether an earlier async call is still queued or running (cron's no-overlap rule). */
  unfinished(callId: string): Promise<boolean>;
  /** Reports the connection's state; `reason` says why it is not connected. */
  setState(state: TriggerState, reason?: string): void;
  /** Reports a handled message (metrics, `kss triggers` counters). */
  counted(outcome: 'accepted' | 'succeeded' | 'failed' | 'dead-letter' | 'skipped', error?: string): void;
  /** A platform event for the function's log stream (`kss logs NAME`). */
  event(text: string): void;
  /** Persisted per-trigger state (cron's last tick), surviving gateway restarts. */
  readonly memory: { get(): number | undefined; set(value: number): void };
  /** Sleeps on the context's clock; rejects when the trigger is stopped. */
  sleep(ms: number): Promise<void>;
  /** Aborted when the trigger stops (removed function, changed spec, gateway shutdown). */
  readonly signal: AbortSignal;
}

/** A running trigger. */
export interface TriggerHandle {
  /** For cron: when the next tick is due (epoch ms). */
  nextRunAt?(): number | undefined;
  /** Stops consuming and closes the connection; resolves when nothing is in flight. */
  stop(): Promise<void>;
}

/** One kind of event source. */
export interface TriggerConnector<T extends TriggerSpec = TriggerSpec> {
  readonly type: T['type'];
  /**
   * Every running copy gets every event (cron ticks; MQTT subscriptions, which are not
   * shared subscriptions): with several gateway replicas it must run on one of them
   * at a time, the elected leader. Unset: competing consumers (NATS queue groups,
   * JetStream durable consumers, RabbitMQ queues) — the broker hands each message to
   * one replica, so it runs on every replica.
   */
  readonly singleConsumer?: boolean;
  /**
   * Checks, at deploy, that the trigger can work: the expression parses, the broker
   * answers with these credentials, the stream or queue it names exists. Rejects with
   * a `KSS_INVALID_TRIGGER` / `KSS_TRIGGER_UNREACHABLE` KssError saying why.
   */
  check(trigger: T, credentials: BrokerCredentials | undefined, clock: Clock): Promise<void>;
  /** Starts consuming. Connection failures are retried with backoff (reported through `ctx.setState`), never thrown. */
  start(trigger: T, ctx: TriggerContext): TriggerHandle;
  /**
   * Cleans up what the trigger left on its broker once it is stopped for good: its
   * function was removed, or the trigger was dropped (`removed`), or its settings
   * changed (`replaced`: keep what the new settings reuse, e.g. a queue's messages).
   * Best effort: failures are logged, never thrown.
   */
  retire?(trigger: T, ctx: RetireContext, why: 'removed' | 'replaced'): Promise<void>;
}

/** What {@link TriggerConnector.retire} is given. */
export interface RetireContext {
  readonly function: { name: string; namespace: string };
  readonly logger: Logger;
  credentials(): Promise<BrokerCredentials | undefined>;
}
