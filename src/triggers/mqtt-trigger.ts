/**
 * MQTT triggers (mqtt.js; protocol 3.1.1 or 5): a topic filter with `+`/`#`
 * wildcards, QoS 0 or 1; the payload is the request body and the topic is in
 * `X-Topic`.
 *
 * QoS 1 is acknowledged (PUBACK) only after the message is handled (see
 * handle-message.ts): mqtt.js sends the PUBACK when `handleMessage` calls back, and
 * takes the next packet only then, so MQTT's in-order acknowledgement holds and a
 * message not handled is never acknowledged — the connection is dropped instead and
 * the broker redelivers it to our persistent session (clean: false, a client id
 * stable per trigger). QoS 0 messages carry no acknowledgement; up to 64 are
 * handled at once.
 */
import { createHash } from 'node:crypto';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { KssError, type Clock, type MqttTrigger } from '../core/index.js';
import { InFlightLimit, handleMessage } from './handle-message.js';
import { keepConnected, reasonOf, type Session } from './keep-connected.js';
import type { BrokerCredentials, RetireContext, TriggerConnector, TriggerContext, TriggerHandle } from './trigger-connector.js';

const CONNECT_TIMEOUT_MS = 5_000;

/** A client id stable per trigger (so the broker keeps its QoS 1 session across restarts), ≤ 23 bytes as MQTT 3.1.1 asks. */
export function mqttClientId(ns: string, fn: string, trigger: string): string {
  return `kss-${createHash('sha256').update(`${ns}/${fn}/${trigger}`).digest('hex').slice(0, 19)}`;
}

function options(trigger: MqttTrigger, credentials: BrokerCredentials | undefined, clientId: string, persistent: boolean): IClientOptions {
  return {
    clientId,
    protocolVersion: trigger.protocolVersion,
    clean: !persistent,
    reconnectPeriod: 0,
    connectTimeout: CONNECT_TIMEOUT_MS,
    keepalive: 30,
    ...(trigger.protocolVersion === 5 && persistent ? { properties: { sessionExpiryInterval: 24 * 3600 } } : {}),
    ...(credentials?.username !== undefined ? { username: credentials.username, password: credentials.password ?? '' } : credentials?.token ? { username: credentials.token } : {}),
  };
}

/** Connects once; rejects with the broker's reason (refused, unreachable, bad credentials). */
function connectOnce(url: string, opts: IClientOptions, setup?: (client: MqttClient) => void): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, opts);
    setup?.(client);
    let lastError: Error | undefined;
    const done = (err?: Error) => {
      client.off('connect', onConnect);
      client.off('error', onError);
      client.off('close', onClose);
      if (err) {
        client.end(true);
        reject(err);
      } else resolve(client);
    };
    const onConnect = () => done();
    const onError = (err: Error) => {
      lastError = err;
      // mqtt.js reports a refused CONNACK (bad credentials, not authorised) as an error and then closes.
      if ((err as { code?: unknown }).code !== undefined) done(err);
    };
    const onClose = () => done(lastError ?? new Error(`could not connect to ${url}`));
    client.on('connect', onConnect);
    client.on('error', onError);
    client.on('close', onClose);
  });
}

export const mqttConnector: TriggerConnector<MqttTrigger> = {
  type: 'mqtt',
  // Every subscriber gets every message (no $share/ shared subscriptions): one replica at a time.
  singleConsumer: true,

  async check(trigger: MqttTrigger, credentials: BrokerCredentials | undefined, _clock: Clock): Promise<void> {
    let client: MqttClient;
    try {
      client = await connectOnce(trigger.url, options(trigger, credentials, `kss-check-${Math.random().toString(36).slice(2, 10)}`, false));
    } catch (err) {
      throw new KssError('KSS_TRIGGER_UNREACHABLE', `triggers.${trigger.name}: cannot connect to the MQTT broker at ${trigger.url}: ${reasonOf(err)}`);
    }
    try {
      const [grant] = await client.subscribeAsync(trigger.topic, { qos: trigger.qos });
      if (!grant || grant.qos === 128 || grant.qos > 2) throw new KssError('KSS_TRIGGER_UNREACHABLE', `triggers.${trigger.name}: the MQTT broker at ${trigger.url} refused the subscription to "${trigger.topic}" (not authorised?)`);
      await client.unsubscribeAsync(trigger.topic);
    } finally {
      await client.endAsync(true).catch(() => undefined);
    }
  },

  start(trigger: MqttTrigger, ctx: TriggerContext): TriggerHandle {
    const clientId = mqttClientId(ctx.function.namespace, ctx.function.name, trigger.name);
    const limit = new InFlightLimit(64);

    const onMessage = async (client: MqttClient, packet: IPublishPacket): Promise<boolean> => {
      const headers: Record<string, string> = { 'x-topic': packet.topic, 'x-mqtt-qos': String(packet.qos) };
      if (packet.messageId !== undefined) headers['x-kss-message-id'] = String(packet.messageId);
      if (packet.properties?.contentType) headers['content-type'] = packet.properties.contentType;
      const body = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : Buffer.from(packet.payload);
      const verdict = await handleMessage(ctx, trigger.mode, { body, headers });
      if (verdict.verdict === 'requeue') return false;
      if (verdict.verdict === 'dead') {
        ctx.event(`mqtt ${trigger.name}: gave up a message on ${packet.topic} after ${verdict.attempts} attempt(s): ${verdict.error}`);
        return true;
      }
      const o = verdict.outcome;
      // sync mode: the reply goes to the v5 response topic when the message names one, else to `reply`.
      const replyTo = packet.properties?.responseTopic ?? trigger.reply;
      if (o.kind === 'succeeded' && replyTo) {
        const props = packet.properties?.correlationData ? { properties: { correlationData: packet.properties.correlationData } } : {};
        await client.publishAsync(replyTo, o.body, { qos: trigger.qos, ...props }).catch((err: unknown) => ctx.event(`mqtt ${trigger.name}: could not publish the reply to ${replyTo}: ${reasonOf(err)}`));
      }
      return true;
    };

    const connect = async (): Promise<Session> => {
      const credentials = await ctx.credentials();
      let lose: (reason: string) => void = () => undefined;
      const lost = new Promise<string>((resolve) => (lose = resolve));
      const client = await connectOnce(trigger.url, options(trigger, credentials, clientId, trigger.qos === 1), (c) => {
        // Set before the CONNACK: a persistent session's queued messages arrive right after it.
        c.handleMessage = (packet, callback) => {
          if (packet.qos === 0) {
            // No acknowledgement to hold back: bounded concurrency instead.
            void limit.acquire().then((release) => {
              callback();
              onMessage(c, packet).finally(release).catch(() => undefined);
            });
            return;
          }
          onMessage(c, packet).then(
            (handled) => {
              if (handled) callback();
              // Not handled: no PUBACK. Drop the connection; the broker redelivers on the next one.
              else lose('a message could not be handled; reconnecting so the broker delivers it again');
            },
            (err: unknown) => lose(`handling a message failed: ${reasonOf(err)}`),
          );
        };
      });
      client.on('error', (err) => lose(reasonOf(err)));
      client.on('close', () => lose('connection closed by the broker'));
      client.on('offline', () => lose('broker offline'));
      // The persistent session's messages can arrive before the SUBACK, and mqtt.js reads no packet past a
      // PUBLISH it has not acknowledged: one not handled here (the queue is full) would hold the SUBACK back
      // until the keepalive ended the connection (45 s). Losing the connection meanwhile ends the connect.
      const subscribed = client.subscribeAsync(trigger.topic, { qos: trigger.qos });
      subscribed.catch(() => undefined);
      let grant: Awaited<typeof subscribed>[number] | undefined;
      try {
        [grant] = await Promise.race([subscribed, lost.then((reason) => Promise.reject(new Error(reason)))]);
      } catch (err) {
        await client.endAsync(true).catch(() => undefined);
        throw err;
      }
      if (!grant || grant.qos === 128 || grant.qos > 2) {
        await client.endAsync(true).catch(() => undefined);
        throw new Error(`the broker refused the subscription to "${trigger.topic}"`);
      }
      return {
        lost,
        async close() {
          await limit.drained();
          await client.endAsync(true).catch(() => undefined);
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

  async retire(trigger: MqttTrigger, ctx: RetireContext, why: 'removed' | 'replaced'): Promise<void> {
    // The broker keeps a QoS 1 session (and queues messages for it) until told otherwise: a clean connect ends it.
    if (trigger.qos !== 1 || why !== 'removed') return;
    const client = await connectOnce(trigger.url, options(trigger, await ctx.credentials(), mqttClientId(ctx.function.namespace, ctx.function.name, trigger.name), false));
    await client.endAsync(true).catch(() => undefined);
  },
};
