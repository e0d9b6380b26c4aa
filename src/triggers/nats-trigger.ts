/**
 * NATS triggers: core subjects (with a queue group, so several gateways share the
 * messages) and JetStream durable consumers.
 *
 * - Core NATS has no acknowledgements (at most once): each message is handled as it
 *   comes, up to 64 at once. A request's reply subject gets the function's reply in
 *   sync mode (NATS request/reply), else `reply` when set.
 * - JetStream: a durable pull consumer on `stream` (created or updated at start, its
 *   filter the trigger's subject). A message is acknowledged only once handled: in
 *   async mode once stored as a call; in sync mode once the function answered 2xx —
 *   a failure is `nak`ed with the function's backoff and redelivered by the server,
 *   up to `maxDeliver` deliveries (default: the function's retry attempts); the last
 *   failed delivery is terminated and published to `deadLetter` when set. JetStream
 *   also raises its MAX_DELIVERIES advisory then. Acks and terms wait for the server's
 *   confirmation, and the acks a lost connection may have lost are sent again on the
 *   next (see `AckLedger`), so a broker restart costs no redelivery a minute later.
 */
import { connect, RequestError, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { KssError, type Clock, type NatsTrigger } from '../core/index.js';
import { backoffMs } from '../queue/index.js';
import { InFlightLimit, handleMessage } from './handle-message.js';
import { keepConnected, reasonOf, type Session } from './keep-connected.js';
import type { BrokerCredentials, DeliveryOutcome, RetireContext, TriggerConnector, TriggerContext, TriggerHandle } from './trigger-connector.js';

const CONNECT_TIMEOUT_MS = 5_000;
const MAX_IN_FLIGHT = 64;
// The consumer's bound on delivered, unacknowledged messages.
const MAX_ACK_PENDING = 256;
// How long an ack (or term) waits for the server's answer. The server answers once it has
// applied it, in about a millisecond on loopback; one slower than the connect timeout is
// treated as gone, as connect does.
const VERDICT_TIMEOUT_MS = CONNECT_TIMEOUT_MS;
// Acks confirmed this long before a connection was lost are sent again on the next one. The
// server can confirm an ack it then fails to keep: seen 20 ms before the connection closed,
// while the server shut down (2-core machine under load); on a crash, the file store writes
// a consumer's state at most every 100 ms. 2 s covers both many times over, and only costs
// one ack more per message handled in those 2 s.
const SUSPECT_MS = 2_000;
// Acks remembered per trigger, at most: the server has at most MAX_ACK_PENDING messages out
// to us, so this holds every ack of the last moments several times over; beyond it the oldest
// are forgotten, and a forgotten lost ack is what it was before: a redelivery after ack_wait.
const MAX_REMEMBERED = 4 * MAX_ACK_PENDING;
const ACK = new TextEncoder().encode('+ACK');
// No reason text: servers before 2.10.4 ignore a `+TERM` that carries one.
const TERM = new TextEncoder().encode('+TERM');

/**
 * Sends a verdict on a JetStream message (`+ACK`, `+TERM`) to its ack subject as a request,
 * which the server answers once it has applied it. `no-responders`: the consumer (or its
 * stream) does not exist — or JetStream is not running, as while the server shuts down;
 * `unconfirmed`: the connection closed or no answer came in time. Never rejects.
 */
async function confirmedVerdict(nc: NatsConnection, ackSubject: string, verdict: Uint8Array, timeoutMs = VERDICT_TIMEOUT_MS): Promise<'confirmed' | 'no-responders' | 'unconfirmed'> {
  try {
    await nc.request(ackSubject, verdict, { timeout: timeoutMs });
    return 'confirmed';
  } catch (err) {
    return err instanceof RequestError && err.isNoResponders() ? 'no-responders' : 'unconfirmed';
  }
}

/**
 * The trigger's recent acks, so that the next connection can send again those the server
 * may not have kept when the last one was lost.
 *
 * Why: the server forgets an ack it got while going down (a restart, a failover), and then
 * delivers that message again only when ack_wait has passed — the function's timeout plus
 * 15 s, 75 s by default — so the function ran it twice, over a minute late, and the
 * consumer showed it pending all that while. Seen in the broker-restart test under CPU load
 * (about 1 run in 10), three ways: a plain ack (fire-and-forget) written to a socket the
 * server had closed (EPIPE); an ack answered "no responders" (the server stops JetStream
 * before it closes connections); and an ack the server confirmed 20 ms before closing the
 * connection, yet had not written to the consumer's state when it restarted. Each time the
 * consumer caught up 71–73 s later, when that message came again.
 *
 * So an ack is a request (answered once applied), and when a connection is lost, every ack
 * not confirmed, or confirmed within SUSPECT_MS before, is sent again on the next. An ack
 * subject names the stream, the consumer and the message's sequences, not the connection;
 * acking a message already acknowledged is answered and changes nothing. Only acks are
 * remembered: a nak is not final (sent late, it could make the server deliver again a
 * message another delivery is handling), and a term goes with its dead letter, which a lost
 * connection lost too, so that message had better come back after ack_wait and be
 * dead-lettered then.
 */
export class AckLedger {
  // Ack subject → when the server confirmed it, or undefined while it is to be sent (again); oldest first.
  readonly #acks = new Map<string, number | undefined>();
  // Counts lost connections: an answer that comes back after `lost` must not make its ack look safe.
  #losses = 0;

  constructor(
    readonly now: () => number,
    readonly max = MAX_REMEMBERED,
  ) {}

  /** Acks on `nc`; resolves true once the server confirmed it, false when it is left for `resend`. Never rejects. */
  ack(nc: NatsConnection, ackSubject: string, timeoutMs = VERDICT_TIMEOUT_MS): Promise<boolean> {
    // Confirmed acks older than SUSPECT_MS are not needed any more, whatever happens next.
    const horizon = this.now() - SUSPECT_MS;
    for (const [subject, confirmedAt] of this.#acks) {
      if (confirmedAt === undefined || confirmedAt >= horizon) break;
      this.#acks.delete(subject);
    }
    // No responders is left for `resend` too: a server shutting down stops JetStream before it closes connections.
    return this.#send(nc, ackSubject, timeoutMs, false);
  }

  /** The connection was lost at `at`: acks it may not have kept are to be sent again, the rest forgotten. */
  lost(at: number): void {
    this.#losses++;
    for (const [subject, confirmedAt] of this.#acks) {
      if (confirmedAt === undefined || confirmedAt >= at - SUSPECT_MS) this.#acks.set(subject, undefined);
      else this.#acks.delete(subject);
    }
  }

  /**
   * Sends again every ack that is to be, on a new connection whose consumer was just looked
   * up; resolves with how many the server confirmed. No responders now means the consumer
   * is gone: those are forgotten.
   */
  async resend(nc: NatsConnection, timeoutMs = VERDICT_TIMEOUT_MS): Promise<number> {
    const due = [...this.#acks].filter(([, confirmedAt]) => confirmedAt === undefined).map(([subject]) => subject);
    const results = await Promise.all(due.map((subject) => this.#send(nc, subject, timeoutMs, true)));
    return results.filter(Boolean).length;
  }

  /** Acks to be sent again. */
  get due(): number {
    let n = 0;
    for (const confirmedAt of this.#acks.values()) if (confirmedAt === undefined) n++;
    return n;
  }

  async #send(nc: NatsConnection, ackSubject: string, timeoutMs: number, forgetWithoutResponders: boolean): Promise<boolean> {
    this.#acks.delete(ackSubject);
    this.#acks.set(ackSubject, undefined);
    if (this.#acks.size > this.max) this.#acks.delete(this.#acks.keys().next().value!);
    const losses = this.#losses;
    const result = await confirmedVerdict(nc, ackSubject, ACK, timeoutMs);
    // Recorded only if no connection was lost meanwhile (else it stays due) and it is still remembered.
    if (result === 'confirmed' && losses === this.#losses && this.#acks.has(ackSubject)) this.#acks.set(ackSubject, this.now());
    else if (result === 'no-responders' && forgetWithoutResponders) this.#acks.delete(ackSubject);
    return result === 'confirmed';
  }
}

/** The subject a JetStream message's ack goes to (the library's message has it; its type does not show it). */
function ackSubjectOf(m: JsMsg): string | undefined {
  return (m as JsMsg & { readonly reply?: string }).reply || undefined;
}

function connectOptions(trigger: NatsTrigger, credentials: BrokerCredentials | undefined, name: string) {
  return {
    servers: trigger.url,
    name,
    timeout: CONNECT_TIMEOUT_MS,
    // Our loop reconnects (keep-connected.ts), so the state is ours to report.
    reconnect: false,
    noAsyncTraces: true,
    ...(credentials?.username !== undefined ? { user: credentials.username, pass: credentials.password ?? '' } : credentials?.token ? { token: credentials.token } : {}),
  };
}

/** The durable consumer's name: the trigger's own, or one derived from the function (JetStream names: no dots). */
export function durableName(trigger: NatsTrigger, ns: string, fn: string): string {
  return trigger.durable ?? `kss-${ns}-${fn}-${trigger.name}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
}

export const natsConnector: TriggerConnector<NatsTrigger> = {
  type: 'nats',

  async check(trigger: NatsTrigger, credentials: BrokerCredentials | undefined, _clock: Clock): Promise<void> {
    let nc: NatsConnection;
    try {
      nc = await connect(connectOptions(trigger, credentials, 'kube-serverless-trigger-check'));
    } catch (err) {
      throw new KssError('KSS_TRIGGER_UNREACHABLE', `triggers.${trigger.name}: cannot connect to NATS at ${trigger.url}: ${reasonOf(err)}`);
    }
    try {
      if (trigger.stream) {
        const jsm = await jetstreamManager(nc, { timeout: CONNECT_TIMEOUT_MS }).catch((err: unknown) => {
          throw new KssError('KSS_TRIGGER_UNREACHABLE', `triggers.${trigger.name}: NATS at ${trigger.url} has no JetStream (start nats-server with -js): ${reasonOf(err)}`);
        });
        await jsm.streams.info(trigger.stream).catch((err: unknown) => {
          throw new KssError('KSS_TRIGGER_UNREACHABLE', `triggers.${trigger.name}: JetStream stream "${trigger.stream}" not found at ${trigger.url} (${reasonOf(err)}); create it first, e.g. \`nats stream add ${trigger.stream} --subjects '${trigger.subject}'\``);
        });
      }
    } finally {
      await nc.close().catch(() => undefined);
    }
  },

  start(trigger: NatsTrigger, ctx: TriggerContext): TriggerHandle {
    const connect_ = trigger.stream ? jetStreamSession(trigger, ctx) : coreSession(trigger, ctx);
    const loop = keepConnected(ctx, connect_);
    return {
      async stop() {
        await loop;
      },
    };
  },

  async retire(trigger: NatsTrigger, ctx: RetireContext, why: 'removed' | 'replaced'): Promise<void> {
    // A durable consumer we named ourselves, of a removed trigger: nobody resumes it. One the user named may be shared.
    if (!trigger.stream || trigger.durable || why !== 'removed') return;
    const nc = await connect(connectOptions(trigger, await ctx.credentials(), 'kube-serverless-trigger-retire'));
    try {
      const jsm = await jetstreamManager(nc, { timeout: CONNECT_TIMEOUT_MS });
      await jsm.consumers.delete(trigger.stream, durableName(trigger, ctx.function.namespace, ctx.function.name));
    } finally {
      await nc.close().catch(() => undefined);
    }
  },
};

function headersOf(subject: string, m: { headers?: { keys(): string[]; get(k: string): string } }): Record<string, string> {
  const headers: Record<string, string> = { 'x-topic': subject, 'x-nats-subject': subject };
  const ct = m.headers?.get('Content-Type') || m.headers?.get('content-type');
  if (ct) headers['content-type'] = ct;
  return headers;
}

/** Publishes a sync-mode reply: to the request's reply subject, else to `reply`. */
function reply(nc: NatsConnection, trigger: NatsTrigger, outcome: DeliveryOutcome, requestReply: string | undefined): void {
  if (outcome.kind !== 'succeeded') return;
  const to = requestReply || trigger.reply;
  if (to) nc.publish(to, outcome.body);
}

function coreSession(trigger: NatsTrigger, ctx: TriggerContext): () => Promise<Session> {
  return async () => {
    const nc = await connect(connectOptions(trigger, await ctx.credentials(), `kube-serverless-${ctx.function.name}-${trigger.name}`));
    const limit = new InFlightLimit(MAX_IN_FLIGHT);
    const sub = nc.subscribe(trigger.subject, { queue: trigger.queueGroup });
    const handle = async (m: Msg) => {
      const verdict = await handleMessage(ctx, trigger.mode, { body: Buffer.from(m.data), headers: headersOf(m.subject, m) });
      if (verdict.verdict === 'ack') reply(nc, trigger, verdict.outcome, m.reply);
      else if (verdict.verdict === 'dead') {
        if (trigger.deadLetter) nc.publish(trigger.deadLetter, m.data, m.headers ? { headers: m.headers } : undefined);
        ctx.event(`nats ${trigger.name}: gave up a message on ${m.subject} after ${verdict.attempts} attempt(s): ${verdict.error}${trigger.deadLetter ? `; published to ${trigger.deadLetter}` : ''}`);
      } else ctx.event(`nats ${trigger.name}: a message on ${m.subject} was not handled (core NATS cannot redeliver it): ${verdict.error}`);
    };
    void (async () => {
      for await (const m of sub) {
        const release = await limit.acquire();
        handle(m).finally(release).catch(() => undefined);
      }
    })();
    await nc.flush();
    return {
      lost: nc.closed().then((err) => (err ? reasonOf(err) : 'connection closed')),
      async close() {
        sub.unsubscribe();
        await limit.drained();
        await nc.close().catch(() => undefined);
      },
    };
  };
}

function jetStreamSession(trigger: NatsTrigger, ctx: TriggerContext): () => Promise<Session> {
  const stream = trigger.stream!;
  const durable = durableName(trigger, ctx.function.namespace, ctx.function.name);
  // sync: the server redelivers failures, up to the function's attempts; async: storing a call only fails while the queue is down, so never give up.
  const maxDeliver = trigger.mode === 'sync' ? (trigger.maxDeliver ?? ctx.retry.attempts) : -1;
  // A delivery must be handled within ack_wait or the server sends it again: the function's timeout and a margin.
  const ackWaitNs = (ctx.timeoutSeconds + 15) * 1e9;
  // Shared by this trigger's connections: acks one may have lost, the next one sends again.
  const acks = new AckLedger(() => ctx.clock.now());
  return async () => {
    const nc = await connect(connectOptions(trigger, await ctx.credentials(), `kube-serverless-${ctx.function.name}-${trigger.name}`));
    try {
      const jsm = await jetstreamManager(nc, { timeout: CONNECT_TIMEOUT_MS });
      const config = { filter_subject: trigger.subject, max_deliver: maxDeliver, ack_wait: ackWaitNs, max_ack_pending: MAX_ACK_PENDING };
      const existing = await jsm.consumers.info(stream, durable).catch(() => undefined);
      if (existing) await jsm.consumers.update(stream, durable, config);
      else await jsm.consumers.add(stream, { durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ...config });
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw new Error(`JetStream consumer ${durable} on stream ${stream}: ${reasonOf(err)}`);
    }
    const consumer = await jetstream(nc).consumers.get(stream, durable);
    const messages = await consumer.consume({ max_messages: MAX_IN_FLIGHT });
    const limit = new InFlightLimit(MAX_IN_FLIGHT);
    // Acks the last connection may have lost: their messages were handled, the server may not know.
    if (acks.due) {
      const due = acks.due;
      void acks.resend(nc).then((confirmed) => ctx.logger.info({ due, confirmed }, 'sent again the acks a lost connection may have lost'));
    }
    const handle = async (m: JsMsg) => {
      const event = { body: Buffer.from(m.data), headers: { ...headersOf(m.subject, m), 'x-kss-message-id': `${stream}/${m.seq}`, 'x-kss-attempt': String(m.info.deliveryCount) } };
      const outcome = await ctx.deliver(event);
      if (outcome.kind !== 'failed') {
        ctx.counted(outcome.kind === 'accepted' ? 'accepted' : 'succeeded');
        const subject = ackSubjectOf(m);
        const acked = subject ? acks.ack(nc, subject) : m.ack();
        reply(nc, trigger, outcome, undefined);
        await acked;
        return;
      }
      ctx.counted('failed', outcome.error);
      const last = maxDeliver > 0 && m.info.deliveryCount >= maxDeliver;
      if (trigger.mode === 'sync' && (last || !outcome.retryable)) {
        // Terminated first, and confirmed: whoever reads the dead letter finds the message no longer pending.
        const subject = ackSubjectOf(m);
        if (subject) await confirmedVerdict(nc, subject, TERM);
        else m.term();
        if (trigger.deadLetter) nc.publish(trigger.deadLetter, m.data, m.headers ? { headers: m.headers } : undefined);
        ctx.counted('dead-letter', outcome.error);
        ctx.event(`nats ${trigger.name}: gave up ${stream}/${m.seq} after ${m.info.deliveryCount} deliveries: ${outcome.error}${trigger.deadLetter ? `; published to ${trigger.deadLetter}` : ''}`);
        return;
      }
      m.nak(backoffMs(ctx.retry, m.info.deliveryCount, Math.random));
    };
    void (async () => {
      for await (const m of messages) {
        const release = await limit.acquire();
        handle(m).finally(release).catch(() => undefined);
      }
    })();
    return {
      lost: nc.closed().then((err) => {
        acks.lost(ctx.clock.now());
        return err ? reasonOf(err) : 'connection closed';
      }),
      async close() {
        await messages.close().catch(() => undefined);
        await limit.drained();
        await nc.close().catch(() => undefined);
      },
    };
  };
}
