import { test } from 'node:test';
import assert from 'node:assert/strict';
import { annotationTriggers, parseTriggers, triggerSource, validMqttFilter, validNatsSubject } from './trigger-spec.js';
import { parseFunctionSpec } from './function-spec.js';

test('defaults: async mode, path /, names from the type, QoS 1, queue group kss, prefetch 32', () => {
  const ts = parseTriggers([
    { type: 'mqtt', url: 'mqtt://127.0.0.1:1883/', topic: 'a/+' },
    { type: 'mqtt', url: 'mqtt://127.0.0.1:1883', topic: 'b/#', qos: '0', protocolVersion: 5 },
    { type: 'nats', url: 'nats://h:4222', subject: 'x.*' },
    { type: 'rabbitmq', url: 'amqp://h', exchange: 'ex' },
  ])!;
  assert.deepEqual(ts.map((t) => t.name), ['mqtt', 'mqtt-2', 'nats', 'rabbitmq']);
  assert.equal(ts[0]!.mode, 'async');
  assert.equal(ts[0]!.path, '/');
  assert.deepEqual([ts[0], ts[1]].map((t) => (t as { qos: number }).qos), [1, 0]);
  assert.equal((ts[0] as { url: string }).url, 'mqtt://127.0.0.1:1883', 'trailing slash dropped');
  assert.equal((ts[2] as { queueGroup: string }).queueGroup, 'kss');
  assert.equal((ts[3] as { prefetch: number }).prefetch, 32);
  assert.equal(triggerSource(ts[3]!), 'amqp://h ex #');
  assert.equal(parseTriggers([]), undefined);
});

test('MQTT filters and NATS subjects', () => {
  for (const ok of ['a', 'a/b', 'a/+/c', '+', '#', 'a/#', '+/+/#', '/a']) assert.ok(validMqttFilter(ok), ok);
  for (const bad of ['a/#/b', 'a#', 'a/b+', '+a/b', '##']) assert.ok(!validMqttFilter(bad), bad);
  for (const ok of ['a', 'a.b', 'a.*.c', 'a.>', '>', '*']) assert.ok(validNatsSubject(ok), ok);
  for (const bad of ['a..b', '.a', 'a.', 'a.>.b', 'a b', 'a*', '>a']) assert.ok(!validNatsSubject(bad), bad);
});

test('the OpenFaaS cron convention: topic cron-function + schedule', () => {
  const { cron, topics } = annotationTriggers({ topic: 'cron-function, orders', schedule: '*/5 * * * *' });
  assert.equal(cron?.name, 'cron');
  assert.equal(cron?.schedule, '*/5 * * * *');
  assert.deepEqual(topics, ['orders']);
  assert.deepEqual(annotationTriggers({ topic: 'a,b' }), { topics: ['a', 'b'] });
  assert.throws(() => annotationTriggers({ topic: 'cron-function' }), { code: 'KSS_INVALID_TRIGGER' });
  // Part of the spec's parse: a clash with a trigger named cron is refused.
  assert.throws(
    () => parseFunctionSpec({ service: 'f', annotations: { topic: 'cron-function', schedule: '* * * * *' }, triggers: [{ type: 'cron', schedule: '* * * * *' }] }),
    { code: 'KSS_INVALID_TRIGGER', message: /keep one/ },
  );
});

test('bad triggers name the field', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ type: 'kafka' }, /triggers\[0\]\.type: "kafka" is not a trigger type/],
    [{ type: 'cron' }, /triggers\[0\]\.schedule: is required/],
    [{ type: 'mqtt', topic: 'a' }, /triggers\[0\]\.url: is required/],
    [{ type: 'mqtt', url: 'http://h', topic: 'a' }, /needs a mqtt:\/\/ or mqtts:\/\/ or ws:\/\/ or wss:\/\/ URL, not http:/],
    [{ type: 'nats', url: 'nats://u:p@h', subject: 'a' }, /credentials do not go in the URL/],
    [{ type: 'nats', url: 'nats://h', subject: 'a', durable: 'd' }, /needs a JetStream `stream`/],
    [{ type: 'rabbitmq', url: 'amqp://h' }, /either `exchange`/],
    [{ type: 'rabbitmq', url: 'amqp://h', queue: 'q', routingKey: 'k' }, /only with `exchange`/],
    [{ type: 'cron', schedule: '* * * * *', mode: 'fast' }, /mode: "fast" is not one of async, sync/],
    [{ type: 'cron', schedule: '* * * * *', name: 'Bad Name' }, /not a valid trigger name/],
    [{ type: 'cron', schedule: '* * * * *', credentials: 's' }, /no broker to log in to/],
    [{ type: 'cron', schedule: '* * * * *', path: 'x' }, /must start with "\/"/],
    [{ type: 'rabbitmq', url: 'amqp://h', exchange: 'e', prefetch: 0 }, /prefetch: a whole number from 1 to 10000/],
  ];
  for (const [input, message] of cases) assert.throws(() => parseTriggers([input]), { code: 'KSS_INVALID_TRIGGER', message }, JSON.stringify(input));
  assert.throws(() => parseTriggers(new Array(33).fill({ type: 'cron', schedule: '* * * * *' })), /at most 32/);
});
