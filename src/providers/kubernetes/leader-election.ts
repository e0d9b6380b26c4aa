/**
 * Leader election over a `coordination.k8s.io/v1` Lease, the way client-go's
 * `leaderelection` package does it: with 2+ gateway replicas, work that must run
 * once (cron ticks, MQTT subscriptions) runs on the replica holding the Lease.
 *
 * - Acquire: the Lease is absent (create), has no holder, or has expired
 *   (`renewTime + leaseDurationSeconds` is in the past on our clock).
 * - Every write carries the resourceVersion it read (optimistic concurrency): a 409
 *   means another replica wrote first — it won, we stay (or become) a follower.
 * - The leader renews every `renewIntervalMs`; followers retry every `retryPeriodMs`.
 * - Step down: the Lease names someone else, a renew answers 409, or renewals have
 *   failed until our last successful renew is `leaseDurationMs` old (the Lease has
 *   expired: another replica may take it now). A timer fires at exactly that point.
 * - Release on `stop()`: after `onStoppedLeading` has finished (triggers stopped, their
 *   in-flight messages done), the holder is cleared so a follower takes over at its
 *   next retry instead of after the lease duration.
 *
 * Defaults: lease 15 s, renew 5 s, retry 2 s. client-go's are LeaseDuration 15 s,
 * RenewDeadline 10 s, RetryPeriod 2 s (k8s.io/client-go/tools/leaderelection,
 * as kube-controller-manager's --leader-elect-* flags); we renew every 5 s so one or
 * two failed renewals (each retried every 2 s) still fit in the lease.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Clock } from '../../core/index.js';
import { statusOf } from './api-status.js';

/** The Lease the gateway replicas elect the trigger runner with. */
export const TRIGGER_LEASE_NAME = 'kube-serverless-triggers';

export const DEFAULT_LEASE_DURATION_MS = 15_000;
export const DEFAULT_RENEW_INTERVAL_MS = 5_000;
export const DEFAULT_RETRY_PERIOD_MS = 2_000;

/** The calls the elector makes (CoordinationV1Api's object-style methods); tests pass a fake. */
export type LeaseApi = Pick<CoordinationV1Api, 'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'>;

export interface LeaderElectorOptions {
  /** The API, or a kubeconfig to make a CoordinationV1Api from. */
  api: LeaseApi | KubeConfig;
  namespace: string;
  /** Default `kube-serverless-triggers`. */
  name?: string;
  /** Default: the pod name (`HOSTNAME`) plus a random suffix (a restarted pod is a new candidate). */
  identity?: string;
  clock: Clock;
  logger: Logger;
  leaseDurationMs?: number;
  renewIntervalMs?: number;
  retryPeriodMs?: number;
}

type Listener = () => void | Promise<void>;

/** Who leads, as far as this replica knows. */
export interface LeaderState {
  readonly leading: boolean;
  /** The holder last seen on the Lease (may be us), if any. */
  readonly holder: string | undefined;
}

export class LeaderElector implements LeaderState {
  readonly identity: string;
  readonly #api: LeaseApi;
  readonly #namespace: string;
  readonly #name: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #durationMs: number;
  readonly #renewMs: number;
  readonly #retryMs: number;
  readonly #started: Listener[] = [];
  readonly #stopped: Listener[] = [];
  #leading = false;
  #holder: string | undefined;
  #lastRenew = 0;
  #cancelTimer: (() => void) | undefined;
  #cancelDeadline: (() => void) | undefined;
  #running = false;
  #round: Promise<void> = Promise.resolve();
  /** Leadership changes run one after the other (a start's listeners finish before a stop's run). */
  #transitions: Promise<void> = Promise.resolve();

  constructor(options: LeaderElectorOptions) {
    this.#api = 'makeApiClient' in options.api ? options.api.makeApiClient(CoordinationV1Api) : options.api;
    this.#namespace = options.namespace;
    this.#name = options.name ?? TRIGGER_LEASE_NAME;
    this.identity = options.identity ?? `${process.env.HOSTNAME || hostname()}_${randomBytes(4).toString('hex')}`;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#durationMs = options.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS;
    this.#renewMs = options.renewIntervalMs ?? DEFAULT_RENEW_INTERVAL_MS;
    this.#retryMs = options.retryPeriodMs ?? DEFAULT_RETRY_PERIOD_MS;
    if (!(this.#renewMs < this.#durationMs && this.#retryMs < this.#durationMs)) throw new Error('leader election: the renew interval and retry period must be shorter than the lease duration');
  }

  get leading(): boolean {
    return this.#leading;
  }

  get holder(): string | undefined {
    return this.#holder;
  }

  onStartedLeading(fn: Listener): void {
    this.#started.push(fn);
  }

  onStoppedLeading(fn: Listener): void {
    this.#stopped.push(fn);
  }

  /** Starts campaigning; resolves after the first attempt (so a lone replica leads at once). */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    await this.#attempt();
  }

  /** Stops campaigning; if leading, runs onStoppedLeading to the end, then releases the Lease. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#cancelTimer?.();
    this.#cancelDeadline?.();
    await this.#round;
    const wasLeading = this.#leading;
    if (wasLeading) this.#setLeading(false);
    await this.#transitions;
    if (wasLeading) await this.#release();
  }

  /** Resolves once the leadership changes started so far have run their listeners. */
  settled(): Promise<void> {
    return this.#transitions;
  }

  #attempt(): Promise<void> {
    const round = (async () => {
      let ok: boolean | undefined;
      try {
        ok = await this.#tryAcquireOrRenew();
      } catch (err) {
        this.#logger.warn({ err, lease: this.#name }, this.#leading ? 'could not renew the leader lease' : 'could not read or take the leader lease');
      }
      if (!this.#running) return;
      if (ok === true) {
        this.#lastRenew = this.#clock.now();
        this.#holder = this.identity;
        this.#armDeadline();
        if (!this.#leading) {
          this.#logger.info({ lease: this.#name, identity: this.identity }, 'this gateway replica now leads (runs the single-consumer triggers)');
          this.#setLeading(true);
        }
      } else if (ok === false && this.#leading) {
        this.#logger.warn({ lease: this.#name, holder: this.#holder }, 'another gateway replica took the leader lease; stepping down');
        this.#stepDown();
      }
      // A failed renew is retried at the retry period; the deadline timer steps down if none succeeds.
      const delay = this.#leading && ok === true ? this.#renewMs : this.#retryMs;
      this.#cancelTimer = this.#clock.setTimeout(() => void this.#attempt(), delay);
    })();
    this.#round = round;
    return round;
  }

  /** Steps down when the last successful renew is a whole lease old: the Lease has expired. */
  #armDeadline(): void {
    this.#cancelDeadline?.();
    this.#cancelDeadline = this.#clock.setTimeout(() => {
      if (!this.#running || !this.#leading) return;
      this.#logger.warn({ lease: this.#name }, `the leader lease could not be renewed for ${this.#durationMs / 1000}s; stepping down`);
      this.#stepDown();
    }, this.#lastRenew + this.#durationMs - this.#clock.now());
  }

  #stepDown(): void {
    this.#cancelDeadline?.();
    this.#setLeading(false);
  }

  #setLeading(leading: boolean): void {
    this.#leading = leading;
    const listeners = leading ? this.#started : this.#stopped;
    this.#transitions = this.#transitions.then(async () => {
      for (const fn of listeners) {
        try {
          await fn();
        } catch (err) {
          this.#logger.error({ err }, leading ? 'onStartedLeading failed' : 'onStoppedLeading failed');
        }
      }
    });
  }

  /** One round: true when we hold the Lease after it, false when someone else does. Throws on API failures. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = this.#clock.now();
    const spec = {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(this.#durationMs / 1000)),
      renewTime: micro(now),
    };
    let lease: V1Lease;
    try {
      lease = await this.#api.readNamespacedLease({ name: this.#name, namespace: this.#namespace });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      try {
        await this.#api.createNamespacedLease({
          namespace: this.#namespace,
          body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.#name, namespace: this.#namespace }, spec: { ...spec, acquireTime: micro(now), leaseTransitions: 0 } },
        });
        return true;
      } catch (e) {
        if (statusOf(e) === 409) return false; // another replica created it first
        throw e;
      }
    }
    const current = lease.spec ?? {};
    this.#holder = current.holderIdentity || undefined;
    const mine = current.holderIdentity === this.identity;
    if (!mine && current.holderIdentity) {
      const renewed = current.renewTime ? new Date(current.renewTime).getTime() : NaN;
      const expiresAt = renewed + (current.leaseDurationSeconds ?? 0) * 1000;
      if (Number.isFinite(expiresAt) && expiresAt > now) return false; // held and not expired
    }
    const body: V1Lease = {
      ...lease,
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      // resourceVersion as read: a write by anyone since makes this a 409.
      metadata: { ...lease.metadata, name: this.#name, namespace: this.#namespace },
      spec: mine
        ? { ...current, ...spec }
        : { ...current, ...spec, acquireTime: micro(now), leaseTransitions: (current.leaseTransitions ?? 0) + 1 },
    };
    try {
      await this.#api.replaceNamespacedLease({ name: this.#name, namespace: this.#namespace, body });
      return true;
    } catch (err) {
      if (statusOf(err) === 409) return false;
      throw err;
    }
  }

  /** Clears the holder (client-go's ReleaseOnCancel) so a follower need not wait for the lease to expire. */
  async #release(): Promise<void> {
    try {
      const lease = await this.#api.readNamespacedLease({ name: this.#name, namespace: this.#namespace });
      if (lease.spec?.holderIdentity !== this.identity) return;
      const now = this.#clock.now();
      await this.#api.replaceNamespacedLease({
        name: this.#name,
        namespace: this.#namespace,
        body: { ...lease, apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: micro(now) } },
      });
      this.#holder = undefined;
      this.#logger.info({ lease: this.#name }, 'released the leader lease');
    } catch (err) {
      // Not fatal: the others take over once the lease expires.
      this.#logger.warn({ err, lease: this.#name }, 'could not release the leader lease');
    }
  }
}

function micro(ms: number): V1MicroTime {
  return new V1MicroTime(ms);
}
