/**
 * The reconnect loop every broker connector shares: connect, consume until the
 * connection is lost, report why, wait with backoff, connect again — until the
 * trigger is stopped. Backoff doubles from 250 ms to 30 s with equal jitter and
 * starts over once a connection has stayed up for 30 s, so a broker restart is
 * followed within about a second, and a broker that stays down is not hammered.
 */
import { backoffMs } from '../queue/index.js';
import type { TriggerContext } from './trigger-connector.js';

const BACKOFF = { minWaitMs: 250, maxWaitMs: 30_000 };
const STABLE_MS = 30_000;

/** A live connection: `lost` resolves with the reason when it drops; `close` ends it on purpose. */
export interface Session {
  lost: Promise<string>;
  close(): Promise<void>;
}

/** Short, credential-free text for an error from a broker client. */
export function reasonOf(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length) return reasonOf(err.errors[0]);
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const message = typeof e?.message === 'string' && e.message ? e.message : String(err);
  const code = typeof e?.code === 'string' && !message.includes(e.code) ? `${e.code}: ` : '';
  // Broker clients sometimes echo the URL; ours carry no credentials, but be sure.
  return `${code}${message}`.replace(/\/\/[^/@\s]*@/g, '//').slice(0, 300);
}

/**
 * Runs `connect` in a loop until `ctx.signal` aborts; resolves once stopped and the
 * last session is closed. `connect` must attach its consumers before resolving.
 */
export async function keepConnected(ctx: TriggerContext, connect: () => Promise<Session>, random: () => number = Math.random): Promise<void> {
  let failures = 0;
  while (!ctx.signal.aborted) {
    // Only the first attempt shows `connecting`: a retry keeps `disconnected` and its reason, so
    // whoever looks during an outage (`kss triggers`, the dashboard) sees why, not a state that
    // flips to `connecting` for each attempt (and made a test reading it in between flaky).
    if (failures === 0) ctx.setState('connecting');
    let session: Session | undefined;
    const since = ctx.clock.now();
    try {
      session = await connect();
      if (ctx.signal.aborted) {
        await session.close().catch(() => undefined);
        break;
      }
      ctx.setState('connected');
      // Removed again once the session ends: a listener per reconnect would pile up on the signal.
      let onAbort: () => void = () => undefined;
      const stopped = new Promise<string>((resolve) => {
        onAbort = () => resolve('');
        ctx.signal.addEventListener('abort', onAbort, { once: true });
      });
      let reason: string;
      try {
        reason = await Promise.race([session.lost, stopped]);
      } finally {
        ctx.signal.removeEventListener('abort', onAbort);
      }
      if (ctx.signal.aborted) {
        await session.close().catch(() => undefined);
        break;
      }
      await session.close().catch(() => undefined);
      ctx.setState('disconnected', reason || 'connection closed');
      ctx.event(`trigger lost its broker connection: ${reason || 'connection closed'}; reconnecting`);
      if (ctx.clock.now() - since >= STABLE_MS) failures = 0;
    } catch (err) {
      if (session) await session.close().catch(() => undefined);
      if (ctx.signal.aborted) break;
      const reason = reasonOf(err);
      ctx.setState('disconnected', reason);
      if (failures === 0) ctx.event(`trigger cannot reach its broker: ${reason}; retrying with backoff`);
    }
    failures++;
    try {
      await ctx.sleep(backoffMs(BACKOFF, failures, random));
    } catch {
      break;
    }
  }
  ctx.setState('stopped');
}
