/** Event triggers: cron, MQTT, NATS and RabbitMQ turn events into invocations. */
export * from './trigger-connector.js';
export * from './trigger-manager.js';
export * from './trigger-memory.js';
export { cronConnector, cronOf } from './cron-trigger.js';
export { mqttConnector, mqttClientId } from './mqtt-trigger.js';
export { natsConnector, durableName } from './nats-trigger.js';
export { rabbitMqConnector, rabbitQueueName } from './rabbitmq-trigger.js';

import { cronConnector } from './cron-trigger.js';
import { mqttConnector } from './mqtt-trigger.js';
import { natsConnector } from './nats-trigger.js';
import { rabbitMqConnector } from './rabbitmq-trigger.js';
import type { TriggerConnector } from './trigger-connector.js';

/** The connectors a gateway runs by default. */
export const DEFAULT_CONNECTORS: readonly TriggerConnector[] = [cronConnector, mqttConnector, natsConnector, rabbitMqConnector] as TriggerConnector[];
