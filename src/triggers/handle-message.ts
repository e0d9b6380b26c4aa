/**
 * What the message connectors (MQTT, NATS core, RabbitMQ) do with one message, in
 * one place, so their acknowledgement rules are the same:
 *
 * - async mode: the message is acknowledged once the call is stored (`accepted`);
 *   if it cannot be stored (the queue is down or full), it is not acknowledged and the
 *   broker delivers it again. Retries and dead letters then belong to the queue
 *   (`kss calls list --state dead`, `kss calls replay`).
 * - sync mode: the function is invoked; a retryable failure is retried here with the
 *   function's backoff (`com.openfaas.retry.*`) while the message stays unacknowledged;
 *   when attempts run out, or the failure cannot be retried (a 4xx), the message is
 *   given up: the connector dead-letters it where the broker can (RabbitMQ's DLX,
 *   a dead-letter subject) and acknowledges it.
 */
import { backoffMs } from '../queue/index.js';
import type { DeliveryOutcome, TriggerContext, TriggerEvent } from './trigger-connector.js';

/** `ack`: done with the message; `requeue`: not handled, the broker should deliver it again; `dead`: given up. */
export type MessageVerdict =
  | { verdict: 'ack'; outcome: DeliveryOutcome }
  | { verdict: 'requeue'; error: string }
  | { verdict: 'dead'; error: string; attempts: number };

export async function handleMessage(ctx: TriggerContext, mode: 'async' | 'sync', event: TriggerEvent, random: () => number = Math.random): Promise<MessageVerdict> {
  if (mode === 'async') {
    const outcome = await ctx.deliver(event);
    if (outcome.kind === 'failed') {
      ctx.counted('failed', outcome.error);
      return { verdict: 'requeue', error: outcome.error };
    }
    ctx.counted('accepted');
    return { verdict: 'ack', outcome };
  }
  for (let attempt = 1; ; attempt++) {
    const outcome = await ctx.deliver({ ...event, headers: { ...event.headers, 'x-kss-attempt': String(attempt) } });
    if (outcome.kind !== 'failed') {
      ctx.counted('succeeded');
      return { verdict: 'ack', outcome };
    }
    ctx.counted('failed', outcome.error);
    if (!outcome.retryable || attempt >= ctx.retry.attempts || ctx.signal.aborted) {
      ctx.counted('dead-letter', outcome.error);
      return { verdict: 'dead', error: outcome.error, attempts: attempt };
    }
    try {
      await ctx.sleep(backoffMs(ctx.retry, attempt, random));
    } catch {
      // Stopped while waiting: not handled; the broker keeps the message for whoever consumes next.
      return { verdict: 'requeue', error: outcome.error };
    }
  }
}

/** A bound on messages handled at once where the broker does not bound them (QoS 0, core NATS). */
export class InFlightLimit {
  #count = 0;
  readonly #waiters: Array<() => void> = [];

  constructor(readonly max: number) {}

  /** Resolves when a slot is free; call the returned function when done. */
  async acquire(): Promise<() => void> {
    while (this.#count >= this.max) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#count++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#count--;
      for (const wake of this.#waiters.splice(0)) wake();
    };
  }

  get inFlight(): number {
    return this.#count;
  }

  /** Resolves when nothing is in flight. */
  async drained(): Promise<void> {
    while (this.#count > 0) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
}
