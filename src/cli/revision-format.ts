/**
 * How `kss revisions`, `kss traffic`, `kss rollback` and `kss deploy --canary` show
 * revisions, splits and canaries to a person.
 */
import { ApiError, type CanaryView, type RevisionsView, type TrafficTarget } from '../client/index.js';
import { table } from './output.js';

/** `r3 90%, r4 10%` (the order the gateway gives: newest first). */
export function splitText(traffic: readonly TrafficTarget[]): string {
  return traffic.length ? traffic.map((t) => `${t.revision} ${t.percent}%`).join(', ') : '(none)';
}

/** `5s ago`, `3m ago`, `2h ago`, `4d ago`, `in 42s` for a time ahead, `now` within half a second. */
export function ago(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '-';
  const diff = Math.round((now - t) / 1000);
  const abs = Math.abs(diff);
  if (abs === 0) return 'now';
  const text = abs < 60 ? `${abs}s` : abs < 3600 ? `${Math.floor(abs / 60)}m` : abs < 86_400 ? `${Math.floor(abs / 3600)}h` : `${Math.floor(abs / 86_400)}d`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/** `1m`, `90s`, `2h`: a step's length as the plan syntax writes it (one unit). */
export function seconds(s: number): string {
  if (s >= 3600 && s % 3600 === 0) return `${s / 3600}h`;
  if (s >= 60 && s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

/** `500ms`, `1.5s`. */
export function latency(s: number): string {
  return s < 1 ? `${Math.round(s * 1000)}ms` : `${Number(s.toFixed(3))}s`;
}

/** `5%`, `0.5%`. */
export function rate(ratio: number): string {
  return `${Number((ratio * 100).toFixed(2))}%`;
}

/** The short form of a code digest: 12 hex digits (`sha256:3f2a…` → `3f2a9c1e4b5d`), `-` without code. */
export function shortDigest(code: string | null | undefined): string {
  if (!code) return '-';
  const hex = code.replace(/^sha256:/, '');
  return hex.slice(0, 12);
}

/** The revisions table: REVISION, CREATED, BY, CODE, TRAFFIC, REPLICAS, PINNED (newest first). */
export function revisionTable(view: RevisionsView, now = Date.now()): string {
  const inSplit = new Set(view.traffic.map((t) => t.revision));
  return table(
    ['REVISION', 'CREATED', 'BY', 'CODE', 'TRAFFIC', 'REPLICAS', 'PINNED'],
    view.revisions.map((r) => [
      r.revision === view.latestRevision ? `${r.revision} (latest)` : r.revision,
      ago(r.createdAt, now),
      r.createdBy || '-',
      shortDigest(r.code),
      inSplit.has(r.revision) ? `${r.percent}%` : '-',
      `${r.availableReplicas}/${r.replicas}`,
      r.pinned ? 'yes' : '-',
    ]),
  );
}

/**
 * One line about a running canary: where it stands, what the next step does, and
 * when; e.g. `Canary: r4 has 30% (r3 the rest); +20% in 42s if its error rate stays
 * ≤ 5% and p99 ≤ 500ms, else back to r3`.
 */
export function canaryLine(canary: CanaryView, name: string, now = Date.now()): string {
  const limits = [`its error rate stays ≤ ${rate(canary.maxErrorRate)}`, ...(canary.maxP99Seconds !== null ? [`p99 ≤ ${latency(canary.maxP99Seconds)}`] : [])].join(' and ');
  const next = Math.min(canary.stepPercent, 100 - canary.percent);
  const when = Date.parse(canary.nextStepAt) - now < 1000 ? 'at the next check' : ago(canary.nextStepAt, now);
  const step = canary.percent + next >= 100 ? `to 100% ${when}` : `+${next}% ${when}`;
  return `Canary: ${canary.revision} has ${canary.percent}% (${canary.from} the rest); ${step} if ${limits}, else all back to ${canary.from}. Steps of ${canary.stepPercent}% every ${seconds(canary.intervalSeconds)}; \`kss logs ${name}\` shows each decision.`;
}

/** The split, and the canary's line when one runs: what `kss traffic` and `kss rollback` print. */
export function splitSummary(view: RevisionsView, now = Date.now()): string[] {
  const lines = [`Traffic: ${splitText(view.traffic)}`];
  if (view.canary) lines.push(canaryLine(view.canary, view.function, now));
  return lines;
}

/**
 * Adds what to do next to the revision API's errors: an unknown revision points at
 * `kss revisions`, a gateway without the API says so.
 */
export function revisionHint(err: unknown, name: string): unknown {
  if (!(err instanceof ApiError)) return err;
  if (err.code === 'KSS_REVISION_NOT_FOUND' && !err.message.includes('kss revisions')) {
    return new ApiError(err.status, err.code, `${err.message}; \`kss revisions ${name}\` lists the revisions kept`);
  }
  if (err.code === 'KSS_ROUTE_NOT_FOUND') {
    return new ApiError(err.status, err.code, `this gateway has no revisions API (it is older than revisions); upgrade it to use kss revisions, traffic and rollback`);
  }
  return err;
}
