import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { FakeClock, parseTriggers, sleep, type CronTrigger } from '../core/index.js';
import { DEFAULT_RETRY_POLICY } from '../queue/index.js';
import { cronConnector } from './cron-trigger.js';
import type { DeliveryOutcome, TriggerContext, TriggerEvent } from './trigger-connector.js';

function cron(fields: Record<string, unknown>): CronTrigger {
  return parseTriggers([{ type: 'cron', ...fields }])![0] as CronTrigger;
}

/** A context recording what the trigger did; `finished` decides whether an earlier call is done. */
function harness(clock: FakeClock, options: { memory?: Map<string, number>; finished?: (id: string) => boolean; syncDelayMs?: number } = {}) {
  const runs: Array<{ at: string; headers: Record<string, string> }> = [];
  const events: string[] = [];
  const counts: string[] = [];
  const memory = options.memory ?? new Map<string, number>();
  let n = 0;
  const abort = new AbortController();
  const ctx: TriggerContext = {
    function: { name: 'f', namespace: 'ns' },
    logger: pino({ level: 'silent' }),
    clock,
    retry: DEFAULT_RETRY_POLICY,
    timeoutSeconds: 60,
    signal: abort.signal,
    credentials: async () => undefined,
    async deliver(event: TriggerEvent): Promise<DeliveryOutcome> {
      runs.push({ at: new Date(clock.now()).toISOString(), headers: event.headers });
      if (options.syncDelayMs) {
        await sleep(clock, options.syncDelayMs);
        return { kind: 'succeeded', status: 200, body: Buffer.alloc(0), headers: {} };
      }
      return { kind: 'accepted', callId: `call-${++n}` };
    },
    unfinished: async (id) => !(options.finished?.(id) ?? true),
    setState: () => undefined,
    counted: (o) => void counts.push(o),
    event: (text) => void events.push(text),
    memory: { get: () => memory.get('t'), set: (v) => void memory.set('t', v) },
    sleep: (ms) => sleep(clock, ms, abort.signal),
  };
  return { ctx, runs, events, counts, memory, abort };
}

/** Lets the trigger's promise chains run after a fake-clock step. */
const settle = () => new Promise((r) => setImmediate(r));

async function advance(clock: FakeClock, ms: number, stepMs = 1000): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) {
    clock.advance(Math.min(stepMs, ms - t));
    await settle();
  }
}

test('a 5-field schedule fires on its minutes, with the schedule and due time in headers', async () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 10, 0, 30));
  const h = harness(clock);
  const handle = cronConnector.start(cron({ schedule: '*/5 * * * *' }), h.ctx);
  assert.equal(new Date(handle.nextRunAt!()!).toISOString(), '2026-01-01T10:05:00.000Z');
  await advance(clock, 11 * 60_000, 30_000);
  assert.deepEqual(h.runs.map((r) => r.at), ['2026-01-01T10:05:00.000Z', '2026-01-01T10:10:00.000Z']);
  assert.equal(h.runs[0]!.headers['x-kss-schedule'], '*/5 * * * *');
  assert.equal(h.runs[0]!.headers['x-kss-scheduled-at'], '2026-01-01T10:05:00.000Z');
  assert.deepEqual(h.counts, ['accepted', 'accepted']);
  await handle.stop();
  await advance(clock, 10 * 60_000, 60_000);
  assert.equal(h.runs.length, 2, 'nothing fires after stop');
});

test('6 fields (seconds first) and a timezone', async () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 0));
  const h = harness(clock);
  const sec = cronConnector.start(cron({ schedule: '*/20 * * * * *' }), h.ctx);
  await advance(clock, 61_000, 1000);
  assert.deepEqual(h.runs.map((r) => r.at.slice(11, 19)), ['00:00:20', '00:00:40', '00:01:00']);
  await sec.stop();
  // 09:00 in Berlin (UTC+1 in January) is 08:00 UTC.
  const berlin = harness(clock);
  const b = cronConnector.start(cron({ schedule: '0 9 * * *', timezone: 'Europe/Berlin' }), berlin.ctx);
  assert.equal(new Date(b.nextRunAt!()!).toISOString(), '2026-01-01T08:00:00.000Z');
  await b.stop();
});

test('ticks missed while the gateway was down run once at start, not once per missed tick', async () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 10, 0, 0));
  const memory = new Map<string, number>();
  const first = harness(clock, { memory });
  const h1 = cronConnector.start(cron({ schedule: '* * * * *' }), first.ctx);
  await advance(clock, 60_000, 1000);
  assert.equal(first.runs.length, 1);
  await h1.stop();
  // Down for an hour: 60 ticks missed.
  clock.advance(3_600_000);
  const second = harness(clock, { memory });
  const h2 = cronConnector.start(cron({ schedule: '* * * * *' }), second.ctx);
  await settle();
  assert.equal(second.runs.length, 1, 'one catch-up run');
  assert.equal(second.runs[0]!.headers['x-kss-catch-up'], 'true');
  assert.equal(second.runs[0]!.headers['x-kss-scheduled-at'], '2026-01-01T10:02:00.000Z', 'the first missed tick');
  assert.match(second.events[0]!, /missed while the gateway was down \(once/);
  await h2.stop();
  // Started again at once: nothing new was missed, so no second catch-up.
  const third = harness(clock, { memory });
  const h3 = cronConnector.start(cron({ schedule: '* * * * *' }), third.ctx);
  await settle();
  assert.equal(third.runs.length, 0);
  await h3.stop();
});

test('a first start never catches up (nothing ran before)', async () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 10, 0, 30));
  const h = harness(clock);
  const handle = cronConnector.start(cron({ schedule: '* * * * *' }), h.ctx);
  await settle();
  assert.equal(h.runs.length, 0);
  assert.ok(h.memory.get('t'));
  await handle.stop();
});

test('concurrency forbid (default) skips a tick while the previous async call is unfinished; allow overlaps', async () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 10, 0, 0));
  const done = new Set<string>();
  const h = harness(clock, { finished: (id) => done.has(id) });
  const handle = cronConnector.start(cron({ schedule: '* * * * *' }), h.ctx);
  await advance(clock, 60_000);
  await advance(clock, 60_000);
  assert.equal(h.runs.length, 1, 'the second tick was skipped: call-1 still running');
  assert.deepEqual(h.counts, ['accepted', 'skipped']);
  assert.match(h.events.at(-1)!, /skipped the run due at 2026-01-01T10:02:00\.000Z: the previous run has not finished/);
  done.add('call-1');
  await advance(clock, 60_000);
  assert.equal(h.runs.length, 2);
  await handle.stop();

  const allow = harness(clock, { finished: () => false });
  const a = cronConnector.start(cron({ schedule: '* * * * *', concurrency: 'allow' }), allow.ctx);
  await advance(clock, 180_000);
  assert.equal(allow.runs.length, 3);
  await a.stop();
});

test('sync mode: a run still in flight blocks the next tick under forbid', async () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 10, 0, 0));
  const h = harness(clock, { syncDelayMs: 90_000 });
  const handle = cronConnector.start(cron({ schedule: '* * * * *', mode: 'sync' }), h.ctx);
  await advance(clock, 60_000);
  await advance(clock, 60_000);
  assert.equal(h.runs.length, 1);
  assert.deepEqual(h.counts, ['skipped']);
  await advance(clock, 60_000);
  assert.equal(h.runs.length, 2, 'the run finished at 10:02:30; the 10:03 tick runs');
  assert.deepEqual(h.counts, ['skipped', 'succeeded']);
  // stop() waits for the run in flight (an invocation ends by its timeout at the latest).
  const stopped = handle.stop();
  await advance(clock, 120_000);
  await stopped;
  assert.equal(h.runs.length, 2, 'no run starts once stopped');
});

test('check refuses bad expressions and zones, with the reason', async () => {
  const clock = new FakeClock();
  await assert.rejects(cronConnector.check(cron({ schedule: '0 25 * * *' }), undefined, clock), { code: 'KSS_INVALID_TRIGGER', message: /not a valid cron schedule/ });
  await assert.rejects(cronConnector.check(cron({ schedule: '0 1 * * *', timezone: 'Nowhere/City' }), undefined, clock), { code: 'KSS_INVALID_TRIGGER', message: /not an IANA time zone/ });
  await assert.rejects(cronConnector.check(cron({ schedule: '0 0 30 2 *' }), undefined, clock), { code: 'KSS_INVALID_TRIGGER' });
  await cronConnector.check(cron({ schedule: '@hourly' }), undefined, clock);
  await cronConnector.check(cron({ schedule: '15 14 1 * MON-FRI', timezone: 'America/New_York' }), undefined, clock);
});
