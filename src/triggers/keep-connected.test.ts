import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { systemClock } from '../core/index.js';
import { keepConnected, type Session } from './keep-connected.js';
import type { TriggerContext } from './trigger-connector.js';

test('keepConnected: reconnects after each lost session without piling abort listeners on the signal; stops on abort', async () => {
  const abort = new AbortController();
  const states: string[] = [];
  const listeners: number[] = [];
  let connects = 0;
  const ctx = {
    clock: systemClock,
    signal: abort.signal,
    setState: (s: string) => states.push(s),
    event: () => undefined,
    sleep: async () => undefined,
  } as unknown as TriggerContext;
  const connect = async (): Promise<Session> => {
    connects++;
    listeners.push(getEventListeners(abort.signal, 'abort').length);
    if (connects === 50) abort.abort();
    // Each session is lost at once (a broker dropping every connection).
    return { lost: Promise.resolve('dropped'), close: async () => undefined };
  };
  await keepConnected(ctx, connect, () => 0.5);
  assert.equal(connects, 50);
  assert.ok(Math.max(...listeners) <= 1, `abort listeners while reconnecting: up to ${Math.max(...listeners)}`);
  assert.equal(getEventListeners(abort.signal, 'abort').length, 0);
  assert.equal(states.at(-1), 'stopped');
});
