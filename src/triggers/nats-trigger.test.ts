import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NoRespondersError, RequestError, type NatsConnection } from '@nats-io/transport-node';
import { AckLedger } from './nats-trigger.js';

type Answer = 'ok' | 'closed' | 'no-responders' | Promise<'ok'>;

/** A connection whose requests are answered as `answer` says; records what was sent. */
function fakeConnection(answer: (subject: string) => Answer): NatsConnection & { sent: string[] } {
  const sent: string[] = [];
  const nc = {
    sent,
    async request(subject: string, data: Uint8Array) {
      sent.push(`${subject} ${new TextDecoder().decode(data)}`);
      const a = await answer(subject);
      if (a === 'closed') throw new Error('closed connection');
      if (a === 'no-responders') throw new RequestError('no responders', { cause: new NoRespondersError(subject) });
      return {};
    },
  };
  return nc as unknown as NatsConnection & { sent: string[] };
}

test('a confirmed ack is sent again only when the connection is lost soon after', async () => {
  let now = 1_000_000;
  const acks = new AckLedger(() => now);
  const nc = fakeConnection(() => 'ok');
  assert.equal(await acks.ack(nc, '$JS.ACK.S.c.1.1.1.0.0'), true);
  assert.equal(acks.due, 0);
  now += 500;
  acks.lost(now);
  assert.equal(acks.due, 1, 'confirmed 0.5 s before the loss: the server may not have kept it');
  const next = fakeConnection(() => 'ok');
  assert.equal(await acks.resend(next), 1);
  assert.deepEqual(next.sent, ['$JS.ACK.S.c.1.1.1.0.0 +ACK']);
  assert.equal(acks.due, 0);
  now += 10_000;
  acks.lost(now);
  assert.equal(acks.due, 0, 'confirmed long before the loss: forgotten');
});

test('an ack on a lost connection, or answered "no responders", is due; a resend answered "no responders" is forgotten', async () => {
  const now = 1_000_000;
  const acks = new AckLedger(() => now);
  assert.equal(await acks.ack(fakeConnection(() => 'closed'), 'a'), false);
  assert.equal(await acks.ack(fakeConnection(() => 'no-responders'), 'b'), false, 'JetStream stopping before the connection closes');
  assert.equal(acks.due, 2);
  acks.lost(now);
  const next = fakeConnection((s) => (s === 'a' ? 'ok' : 'no-responders'));
  assert.equal(await acks.resend(next), 1);
  assert.equal(acks.due, 0, 'the consumer of "b" is gone: nothing left to ack');
});

test('an answer that arrives after the connection was lost does not make the ack look safe', async () => {
  const now = 1_000_000;
  const acks = new AckLedger(() => now);
  let answer!: (a: 'ok') => void;
  const pending = acks.ack(fakeConnection(() => new Promise<'ok'>((r) => (answer = r))), 'late');
  await new Promise((r) => setImmediate(r));
  acks.lost(now);
  answer('ok');
  assert.equal(await pending, true);
  assert.equal(acks.due, 1);
});

test('confirmed acks older than the suspect window are dropped as new ones come, and at most `max` are remembered', async () => {
  let now = 1_000_000;
  const acks = new AckLedger(() => now, 3);
  const nc = fakeConnection(() => 'ok');
  await acks.ack(nc, 'old');
  now += 5_000;
  for (const s of ['a', 'b', 'c', 'd']) await acks.ack(nc, s);
  acks.lost(now);
  const next = fakeConnection(() => 'ok');
  await acks.resend(next);
  assert.deepEqual(next.sent, ['b +ACK', 'c +ACK', 'd +ACK']);
});
