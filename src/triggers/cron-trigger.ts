/**
 * Cron triggers (croner): standard 5-field (minute) or 6-field (seconds first)
 * expressions, `@hourly`-style nicknames, IANA timezones (default UTC).
 *
 * Timing runs on the manager's injectable clock — croner only computes the next
 * tick — so tests drive schedules with a fake clock. Two rules from Kubernetes'
 * CronJob, the seeds' reference:
 * - a tick missed while the gateway was down is run once at start (not once per
 *   missed tick): the last tick is persisted *before* it fires, so a crash during a
 *   tick cannot replay it either;
 * - `concurrency: forbid` (the default) skips a tick while the previous run is still
 *   queued or running; `allow` lets runs overlap.
 */
import { Cron } from 'croner';
import { KssError, type Clock, type CronTrigger } from '../core/index.js';
import type { TriggerConnector, TriggerContext, TriggerHandle } from './trigger-connector.js';

/** setTimeout's longest delay (~24.8 days); longer waits re-arm when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Parses the schedule as croner does for us; throws `KSS_INVALID_TRIGGER` with croner's reason. */
export function cronOf(trigger: Pick<CronTrigger, 'schedule' | 'timezone'>): Cron {
  try {
    return new Cron(trigger.schedule, { timezone: trigger.timezone ?? 'UTC', paused: true, mode: '5-or-6-parts', domAndDow: false });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new KssError('KSS_INVALID_TRIGGER', `schedule: "${trigger.schedule.slice(0, 80)}"${trigger.timezone ? ` (timezone ${trigger.timezone.slice(0, 60)})` : ''} is not a valid cron schedule: ${reason}`);
  }
}

export const cronConnector: TriggerConnector<CronTrigger> = {
  type: 'cron',
  singleConsumer: true,

  async check(trigger: CronTrigger, _credentials, clock: Clock): Promise<void> {
    if (trigger.timezone !== undefined) {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: trigger.timezone });
      } catch {
        throw new KssError('KSS_INVALID_TRIGGER', `timezone: "${trigger.timezone.slice(0, 60)}" is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)`);
      }
    }
    if (cronOf(trigger).nextRun(new Date(clock.now())) === null) {
      throw new KssError('KSS_INVALID_TRIGGER', `schedule: "${trigger.schedule.slice(0, 80)}" never runs again`);
    }
  },

  start(trigger: CronTrigger, ctx: TriggerContext): TriggerHandle {
    const cron = cronOf(trigger);
    let next: number | undefined;
    let cancel: (() => void) | undefined;
    let lastCall: string | undefined;
    let inFlight: Promise<void> | undefined;
    let stopped = false;
    const running = new Set<Promise<void>>();

    const fire = async (due: number, catchUp: boolean): Promise<void> => {
      const when = new Date(due).toISOString();
      if (trigger.concurrency === 'forbid' && (inFlight !== undefined || (lastCall !== undefined && (await ctx.unfinished(lastCall))))) {
        ctx.counted('skipped');
        ctx.event(`cron ${trigger.name}: skipped the run due at ${when}: the previous run has not finished (concurrency: forbid)`);
        return;
      }
      const headers: Record<string, string> = { 'x-kss-schedule': trigger.schedule, 'x-kss-scheduled-at': when };
      if (catchUp) headers['x-kss-catch-up'] = 'true';
      const run = (async () => {
        const outcome = await ctx.deliver({ body: Buffer.alloc(0), headers });
        if (outcome.kind === 'accepted') {
          lastCall = outcome.callId;
          ctx.counted('accepted');
        } else if (outcome.kind === 'succeeded') ctx.counted('succeeded');
        else {
          ctx.counted('failed', outcome.error);
          ctx.event(`cron ${trigger.name}: the run due at ${when} failed: ${outcome.error}`);
        }
      })();
      if (trigger.mode === 'sync') {
        inFlight = run;
        void run.finally(() => {
          if (inFlight === run) inFlight = undefined;
        });
      }
      running.add(run);
      await run.finally(() => running.delete(run));
    };

    const arm = (): void => {
      if (stopped) return;
      const now = ctx.clock.now();
      const n = cron.nextRun(new Date(now));
      next = n?.getTime();
      if (next === undefined) {
        ctx.setState('stopped', 'the schedule has no future run');
        return;
      }
      ctx.setState('scheduled');
      cancel = ctx.clock.setTimeout(onTimer, Math.min(MAX_TIMER_MS, Math.max(0, next - now)));
    };

    const onTimer = (): void => {
      if (stopped || next === undefined) return;
      const due = next;
      if (ctx.clock.now() < due) {
        // A long wait re-armed in steps of MAX_TIMER_MS.
        cancel = ctx.clock.setTimeout(onTimer, Math.min(MAX_TIMER_MS, due - ctx.clock.now()));
        return;
      }
      // Persisted before the run: a crash during it does not replay it at the next start.
      ctx.memory.set(due);
      next = undefined;
      void fire(due, false);
      arm();
    };

    // Catch-up: the first tick after the last one that ran, if it is already past — once.
    const last = ctx.memory.get();
    const now = ctx.clock.now();
    if (last !== undefined) {
      const missed = cron.nextRun(new Date(last))?.getTime();
      if (missed !== undefined && missed <= now) {
        ctx.memory.set(now);
        ctx.event(`cron ${trigger.name}: running the tick due at ${new Date(missed).toISOString()}, missed while the gateway was down (once, however many were missed)`);
        void fire(missed, true);
      }
    } else {
      ctx.memory.set(now);
    }
    arm();

    return {
      nextRunAt: () => next,
      async stop() {
        stopped = true;
        cancel?.();
        await Promise.allSettled([...running]);
      },
    };
  },
};
