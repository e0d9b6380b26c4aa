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
 *   also raises its MAX_DELIVERIES advisory then.
 */
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { KssError, type Clock, type NatsTrigger } from '../core/index.js';
import { backoffMs } from '../queue/index.js';
import { InFlightLimit, handleMessage } from './handle-message.js';
import { keepConnected, reasonOf, type Session } from './keep-connected.js';
import type { BrokerCredentials, DeliveryOutcome, RetireContext, TriggerConnector, TriggerContext, TriggerHandle } from './trigger-connector.js';

const CONNECT_TIMEOUT_MS = 5_000;
const MAX_IN_FLIGHT = 64;

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
  return async () => {
    const nc = await connect(connectOptions(trigger, await ctx.credentials(), `kube-serverless-${ctx.function.name}-${trigger.name}`));
    try {
      const jsm = await jetstreamManager(nc, { timeout: CONNECT_TIMEOUT_MS });
      const config = { filter_subject: trigger.subject, max_deliver: maxDeliver, ack_wait: ackWaitNs, max_ack_pending: 256 };
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
    const handle = async (m: JsMsg) => {
      const event = { body: Buffer.from(m.data), headers: { ...headersOf(m.subject, m), 'x-kss-message-id': `${stream}/${m.seq}`, 'x-kss-attempt': String(m.info.deliveryCount) } };
      const outcome = await ctx.deliver(event);
      if (outcome.kind !== 'failed') {
        ctx.counted(outcome.kind === 'accepted' ? 'accepted' : 'succeeded');
        m.ack();
        reply(nc, trigger, outcome, undefined);
        return;
      }
      ctx.counted('failed', outcome.error);
      const last = maxDeliver > 0 && m.info.deliveryCount >= maxDeliver;
      if (trigger.mode === 'sync' && (last || !outcome.retryable)) {
        // Terminated first: whoever reads the dead letter finds the message no longer pending.
        // No reason text: servers before 2.10.4 ignore a `+TERM` that carries one.
        m.term();
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
      lost: nc.closed().then((err) => (err ? reasonOf(err) : 'connection closed')),
      async close() {
        await messages.close().catch(() => undefined);
        await limit.drained();
        await nc.close().catch(() => undefined);
      },
    };
  };
}
