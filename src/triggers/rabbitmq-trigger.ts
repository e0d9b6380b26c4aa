/**
 * RabbitMQ triggers (amqplib): an exchange and a binding key (a durable queue of our
 * own, `kss.<namespace>.<function>.<trigger>`, is declared and bound), or an existing
 * queue consumed as it is.
 *
 * A message is acknowledged only once handled (handle-message.ts): in async mode once
 * it is stored as a call; in sync mode once the function answered 2xx. A failure that
 * cannot be handled now is `nack`ed with requeue (async: the queue is down); a message
 * given up in sync mode (attempts exhausted, or a 4xx) is `nack`ed without requeue,
 * which RabbitMQ routes to our queue's dead-letter exchange (`deadLetterExchange`,
 * default `<exchange>.dlx`, declared as a fanout with a `<queue>.dead` queue bound so
 * nothing given up is lost). A message's `replyTo` (RPC pattern) or the trigger's
 * `reply` routing key gets the function's reply in sync mode.
 */
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { KssError, type Clock, type RabbitMqTrigger } from '../core/index.js';
import { handleMessage } from './handle-message.js';
import { keepConnected, reasonOf, type Session } from './keep-connected.js';
import type { BrokerCredentials, RetireContext, TriggerConnector, TriggerContext, TriggerHandle } from './trigger-connector.js';

const CONNECT_TIMEOUT_MS = 5_000;

function connectUrl(trigger: RabbitMqTrigger, credentials: BrokerCredentials | undefined): string {
  const url = new URL(trigger.url);
  if (credentials?.username !== undefined) {
    url.username = encodeURIComponent(credentials.username);
    url.password = encodeURIComponent(credentials.password ?? '');
  }
  return url.href;
}

/** Our own queue's name when the trigger binds an exchange. */
export function rabbitQueueName(ns: string, fn: string, trigger: string): string {
  return `kss.${ns}.${fn}.${trigger}`;
}

async function open(trigger: RabbitMqTrigger, credentials: BrokerCredentials | undefined): Promise<ChannelModel> {
  // amqplib's own errors may echo the URL; it carries the password once the secret is applied.
  try {
    return await amqp.connect(connectUrl(trigger, credentials), { timeout: CONNECT_TIMEOUT_MS, clientProperties: { connection_name: 'kube-serverless-trigger' } });
  } catch (err) {
    throw new Error(reasonOf(err).split(connectUrl(trigger, credentials)).join(trigger.url));
  }
}

/**
 * Declares what the trigger consumes from, on a channel of its own (a refused declare
 * closes the channel it was made on); returns the queue name. Our queue already
 * declared with other settings (its dead-letter exchange changed) is replaced when it
 * is empty; holding messages, it is left alone and the reason reported.
 */
async function declare(conn: ChannelModel, trigger: RabbitMqTrigger, ns: string, fn: string): Promise<string> {
  let ch = await conn.createChannel();
  ch.on('error', () => undefined);
  try {
    if (trigger.queue) {
      await ch.checkQueue(trigger.queue);
      return trigger.queue;
    }
    const exchange = trigger.exchange!;
    const queue = rabbitQueueName(ns, fn, trigger.name);
    const dlx = trigger.deadLetterExchange ?? `${exchange}.dlx`;
    await ch.assertExchange(exchange, trigger.exchangeType, { durable: true });
    await ch.assertExchange(dlx, 'fanout', { durable: true });
    await ch.assertQueue(`${queue}.dead`, { durable: true });
    await ch.bindQueue(`${queue}.dead`, dlx, '');
    const args = { durable: true, arguments: { 'x-dead-letter-exchange': dlx } };
    try {
      await ch.assertQueue(queue, args);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 406) throw err;
      ch = await conn.createChannel();
      ch.on('error', () => undefined);
      const { messageCount } = await ch.checkQueue(queue);
      if (messageCount > 0) throw new Error(`queue ${queue} exists with another dead-letter exchange and holds ${messageCount} message(s); drain or delete it to apply the new settings`);
      await ch.deleteQueue(queue, { ifEmpty: true });
      await ch.assertQueue(queue, args);
    }
    await ch.bindQueue(queue, exchange, trigger.routingKey ?? '#');
    return queue;
  } finally {
    await ch.close().catch(() => undefined);
  }
}

export const rabbitMqConnector: TriggerConnector<RabbitMqTrigger> = {
  type: 'rabbitmq',

  async check(trigger: RabbitMqTrigger, credentials: BrokerCredentials | undefined, _clock: Clock): Promise<void> {
    let conn: ChannelModel;
    try {
      conn = await open(trigger, credentials);
    } catch (err) {
      throw new KssError('KSS_TRIGGER_UNREACHABLE', `triggers.${trigger.name}: cannot connect to RabbitMQ at ${trigger.url}: ${reasonOf(err)}`);
    }
    conn.on('error', () => undefined);
    try {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      try {
        if (trigger.queue) await ch.checkQueue(trigger.queue);
        else {
          // An existing exchange must have the type asked for (RabbitMQ refuses a redeclare otherwise).
          await ch.assertExchange(trigger.exchange!, trigger.exchangeType, { durable: true });
        }
      } catch (err) {
        throw new KssError(
          'KSS_TRIGGER_UNREACHABLE',
          trigger.queue
            ? `triggers.${trigger.name}: RabbitMQ at ${trigger.url} has no queue "${trigger.queue}" (${reasonOf(err)}); declare it first, or bind an exchange instead`
            : `triggers.${trigger.name}: RabbitMQ refused exchange "${trigger.exchange}" as a durable ${trigger.exchangeType} exchange (${reasonOf(err)}); set exchangeType to the existing exchange's type`,
        );
      }
    } finally {
      await conn.close().catch(() => undefined);
    }
  },

  start(trigger: RabbitMqTrigger, ctx: TriggerContext): TriggerHandle {
    const connect = async (): Promise<Session> => {
      const conn = await open(trigger, await ctx.credentials());
      let lose: (reason: string) => void = () => undefined;
      const lost = new Promise<string>((resolve) => (lose = resolve));
      conn.on('error', (err: Error) => lose(reasonOf(err)));
      conn.on('close', (err?: Error) => lose(err ? reasonOf(err) : 'connection closed by the broker'));
      let ch: Channel;
      let queue: string;
      try {
        queue = await declare(conn, trigger, ctx.function.namespace, ctx.function.name);
        ch = await conn.createChannel();
        ch.on('error', (err: Error) => lose(`channel: ${reasonOf(err)}`));
        ch.on('close', () => lose('channel closed'));
        await ch.prefetch(trigger.prefetch);
      } catch (err) {
        await conn.close().catch(() => undefined);
        throw err;
      }
      const inFlight = new Set<Promise<void>>();
      const handle = async (m: ConsumeMessage) => {
        const headers: Record<string, string> = { 'x-topic': m.fields.routingKey, 'x-routing-key': m.fields.routingKey, 'x-rabbitmq-exchange': m.fields.exchange };
        if (m.properties.contentType) headers['content-type'] = String(m.properties.contentType);
        if (m.properties.messageId) headers['x-kss-message-id'] = String(m.properties.messageId);
        if (m.fields.redelivered) headers['x-kss-redelivered'] = 'true';
        const verdict = await handleMessage(ctx, trigger.mode, { body: m.content, headers });
        try {
          if (verdict.verdict === 'ack') {
            const o = verdict.outcome;
            if (o.kind === 'succeeded') {
              const props = { ...(m.properties.correlationId ? { correlationId: m.properties.correlationId } : {}), ...(o.headers['content-type'] ? { contentType: o.headers['content-type'] } : {}) };
              if (m.properties.replyTo) ch.sendToQueue(String(m.properties.replyTo), o.body, props);
              else if (trigger.reply) ch.publish(trigger.exchange ?? '', trigger.reply, o.body, props);
            }
            ch.ack(m);
          } else if (verdict.verdict === 'dead') {
            ch.nack(m, false, false);
            ctx.event(`rabbitmq ${trigger.name}: gave up a message (routing key ${m.fields.routingKey}) after ${verdict.attempts} attempt(s): ${verdict.error}; dead-lettered`);
          } else {
            // Not handled (our queue is unavailable): give it back a little later, not in a hot loop.
            await ctx.sleep(1000).catch(() => undefined);
            ch.nack(m, false, true);
          }
        } catch {
          // The channel closed under us: the broker requeues everything unacknowledged.
        }
      };
      const { consumerTag } = await ch.consume(queue, (m) => {
        if (!m) return lose('the broker cancelled the consumer (queue deleted?)');
        const p = handle(m).finally(() => inFlight.delete(p));
        inFlight.add(p);
      });
      return {
        lost,
        async close() {
          await ch.cancel(consumerTag).catch(() => undefined);
          await Promise.allSettled([...inFlight]);
          await conn.close().catch(() => undefined);
        },
      };
    };
    const loop = keepConnected(ctx, connect);
    return {
      async stop() {
        await loop;
      },
    };
  },

  async retire(trigger: RabbitMqTrigger, ctx: RetireContext, why: 'removed' | 'replaced'): Promise<void> {
    // Only what we declared: a queue the user named is theirs.
    if (trigger.queue) return;
    const conn = await open(trigger, await ctx.credentials());
    conn.on('error', () => undefined);
    try {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      const queue = rabbitQueueName(ctx.function.namespace, ctx.function.name, trigger.name);
      // Replaced: the queue (and the messages in it) carry over to the new settings; only the old binding goes.
      if (why === 'replaced') await ch.unbindQueue(queue, trigger.exchange!, trigger.routingKey ?? '#');
      // Removed: nobody will consume it again. Its dead letters (`<queue>.dead`) are kept for inspection.
      else await ch.deleteQueue(queue);
    } finally {
      await conn.close().catch(() => undefined);
    }
  },
};
