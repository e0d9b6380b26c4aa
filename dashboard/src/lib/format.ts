/**
 * Formatting helpers shared by the pages: relative times, numbers, durations,
 * sizes, and a function's one-word state.
 */
import type { FunctionStatus } from './api.js';

/** What the tables and charts show for a missing value. */
export const NONE = '–';

/** `5s ago`, `3m ago`, `2h ago`, `4d ago` (or `in 5s` for a future time); `–` when absent. */
export function relativeTime(when: string | number | undefined | null, now = Date.now()): string {
  if (when === undefined || when === null || when === '') return NONE;
  const t = typeof when === 'number' ? when : Date.parse(when);
  if (!Number.isFinite(t)) return NONE;
  const diff = Math.round((now - t) / 1000);
  const abs = Math.abs(diff);
  let text: string;
  if (abs < 5) return 'just now';
  if (abs < 60) text = `${abs}s`;
  else if (abs < 3600) text = `${Math.floor(abs / 60)}m`;
  else if (abs < 86_400) text = `${Math.floor(abs / 3600)}h`;
  else text = `${Math.floor(abs / 86_400)}d`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/** A local date and time, e.g. `2025-03-01 14:02:09`; `–` when absent. */
export function dateTime(when: string | number | undefined | null): string {
  if (when === undefined || when === null || when === '') return NONE;
  const d = new Date(when);
  if (Number.isNaN(d.getTime())) return NONE;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Time of day with milliseconds, for log lines: `14:02:09.123`. */
export function clockTime(when: string): string {
  const d = new Date(when);
  if (Number.isNaN(d.getTime())) return when;
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** A number with at most `digits` decimals (trailing zeros dropped); `–` for null. */
export function num(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return NONE;
  return value.toLocaleString('en-US', { maximumFractionDigits: digits });
}

/** Milliseconds: `12 ms`, `1.5 ms`, `2.3 s` past 10 s; `–` for null. */
export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return NONE;
  if (value >= 10_000) return `${num(value / 1000, 1)} s`;
  return `${num(value, value < 10 ? 2 : value < 100 ? 1 : 0)} ms`;
}

/** A ratio (0..1) as a percentage: `0%`, `2.5%`. */
export function percent(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return NONE;
  return `${num(ratio * 100, ratio < 0.1 ? 2 : 1)}%`;
}

/** Bytes in binary units: `512 B`, `12.5 KiB`, `128 MiB`. */
export function bytes(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return NONE;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = value;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${num(v, i === 0 ? 0 : 1)} ${units[i]}`;
}

/** Compact axis labels: `950`, `1.2k`, `3.4M`. */
export function compact(value: number): string {
  return value.toLocaleString('en-US', { notation: 'compact', maximumFractionDigits: 1 });
}

/** A function's one-word state, from its replica counts and instances. */
export type FunctionState = 'Ready' | 'Scaled to zero' | 'Starting' | 'Not ready';

export function functionState(s: Pick<FunctionStatus, 'replicas' | 'availableReplicas' | 'instances'>): FunctionState {
  if (s.replicas === 0 && s.availableReplicas === 0) return 'Scaled to zero';
  if (s.availableReplicas >= Math.max(1, s.replicas)) return 'Ready';
  const instances = s.instances ?? [];
  if (instances.some((i) => i.state === 'crashed')) return 'Not ready';
  if (instances.some((i) => i.state === 'starting') || instances.length < s.replicas) return 'Starting';
  return 'Not ready';
}

/** CSS class for a {@link FunctionState} badge. */
export function stateClass(state: string): string {
  return `badge badge-${state.toLowerCase().replace(/[^a-z]+/g, '-')}`;
}

const REASONS: Record<number, string> = {
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 301: 'Moved Permanently', 302: 'Found', 304: 'Not Modified',
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout',
  409: 'Conflict', 413: 'Content Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Content', 429: 'Too Many Requests',
  500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/** `200 OK`: the status with its reason phrase (HTTP/2 responses have none, so a table fills it in). */
export function statusLine(status: number, statusText?: string): string {
  const reason = statusText || REASONS[status] || '';
  return reason ? `${status} ${reason}` : String(status);
}
