/**
 * How an asynchronous call is retried, from the function's annotations (OpenFaaS Pro's
 * queue-worker names, so stack files carry over):
 *
 * - `com.openfaas.retry.attempts` (default 10): attempts in all, the first included;
 * - `com.openfaas.retry.codes` (default `408,429,500,502,503,504`): statuses retried;
 *   connection errors and timeouts are always retried;
 * - `com.openfaas.retry.min_wait` / `max_wait` (defaults `100ms` / `30s`): the backoff;
 * - `kss.queue.concurrency` (default 10): calls of this function run at once.
 *
 * Backoff is exponential with "equal jitter" (AWS architecture blog, "Exponential
 * Backoff And Jitter"): half the capped delay fixed, half random, so retries of a
 * burst spread out but never come sooner than half the schedule.
 */
import { parseTimeout, type FunctionSpec } from '../core/index.js';

export interface RetryPolicy {
  attempts: number;
  codes: ReadonlySet<number>;
  minWaitMs: number;
  maxWaitMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  attempts: 10,
  codes: new Set([408, 429, 500, 502, 503, 504]),
  minWaitMs: 100,
  maxWaitMs: 30_000,
};

export const DEFAULT_QUEUE_CONCURRENCY = 10;

function durationMs(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  try {
    return Math.round(parseTimeout(raw) * 1000);
  } catch {
    return fallback;
  }
}

function positiveInt(raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined || !/^\d+$/.test(raw.trim())) return fallback;
  const n = Number(raw.trim());
  return n >= 1 && n <= max ? n : fallback;
}

/** The function's retry policy; unparsable annotations fall back to the defaults. */
export function retryPolicyOf(spec: Pick<FunctionSpec, 'annotations'>): RetryPolicy {
  const a = spec.annotations ?? {};
  const codes = a['com.openfaas.retry.codes']
    ?.split(/[,\s]+/)
    .map(Number)
    .filter((c) => Number.isInteger(c) && c >= 100 && c <= 599);
  const minWaitMs = durationMs(a['com.openfaas.retry.min_wait'], DEFAULT_RETRY_POLICY.minWaitMs);
  return {
    attempts: positiveInt(a['com.openfaas.retry.attempts'], DEFAULT_RETRY_POLICY.attempts, 1000),
    codes: codes?.length ? new Set(codes) : DEFAULT_RETRY_POLICY.codes,
    minWaitMs,
    maxWaitMs: Math.max(minWaitMs, durationMs(a['com.openfaas.retry.max_wait'], DEFAULT_RETRY_POLICY.maxWaitMs)),
  };
}

/** Calls of the function allowed to run at once. */
export function queueConcurrencyOf(spec: Pick<FunctionSpec, 'annotations'>): number {
  return positiveInt(spec.annotations?.['kss.queue.concurrency'], DEFAULT_QUEUE_CONCURRENCY, 10_000);
}

/** Delay before attempt `attempt + 1`, after `attempt` attempts failed (1-based). `random` in [0, 1). */
export function backoffMs(policy: Pick<RetryPolicy, 'minWaitMs' | 'maxWaitMs'>, attempt: number, random: () => number): number {
  const capped = Math.min(policy.maxWaitMs, policy.minWaitMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(capped / 2 + random() * (capped / 2));
}

/**
 * Whether a failed attempt is worth another: connection errors and timeouts (no
 * status, or the platform's own 502/503/504) always are; a function's reply when its
 * status is in the policy's codes.
 */
export function isRetryable(outcome: { result: { status: number } } | { error: string; status?: number }, policy: Pick<RetryPolicy, 'codes'>): boolean {
  const status = 'result' in outcome ? outcome.result.status : outcome.status;
  return status === undefined || policy.codes.has(status) || ('error' in outcome && [502, 503, 504].includes(status));
}
