/**
 * The soak's bookkeeping: phases (warm-up, steady, each fault, recovery), every request
 * with the phase it was sent in, gateway RSS/fd samples, the fault log, and the tables
 * printed at the end. No I/O but the returned strings.
 */

/** A phase of the run. `fault` phases are the windows in which platform errors are allowed. */
export interface Phase {
  name: string;
  kind: 'warm-up' | 'steady' | 'fault' | 'recovery';
  /** ms since the soak's start. */
  startMs: number;
  endMs?: number;
  /** In a fault window: answers allowed besides 502/503/504 with X-Kss-Error (`net` errors, 507). */
  allow?: { network?: boolean; insufficientStorage?: boolean };
}

/** One HTTP request the soak sent to the gateway. */
export interface RequestRecord {
  phase: number;
  kind: 'sync' | 'async' | 'probe' | 'deploy';
  fn: string;
  /** HTTP status, or 0 for a network error / client timeout. */
  status: number;
  /** `X-Kss-Error` of the answer. */
  kssError?: string;
  /** `ECONNREFUSED`, `timeout`, …: why there was no answer. */
  network?: string;
  /** A 2xx whose body was not what the function answers. */
  wrongBody?: boolean;
  latencyMs: number;
}

/** A gateway RSS/fd sample. */
export interface UsageSample {
  atMs: number;
  phase: number;
  pid: number;
  rssBytes: number;
  fds: number;
}

/** p-th percentile (0..100) of sorted numbers (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** The short name of a request's outcome, for the error columns: `502 KSS_REPLICA_FAILED`, `net ECONNREFUSED`. */
export function outcomeOf(r: RequestRecord): string {
  if (r.status === 0) return `net ${r.network ?? '?'}`;
  if (r.wrongBody) return `${r.status} wrong body`;
  return r.kssError ? `${r.status} ${r.kssError}` : String(r.status);
}

/** True when the request succeeded (2xx with the expected body). */
export function succeeded(r: RequestRecord): boolean {
  return r.status >= 200 && r.status < 300 && !r.wrongBody;
}

/**
 * Why a failed request breaks the invariants in its phase, or undefined when it is allowed:
 * nothing fails outside fault windows; inside one only 502/503/504 with X-Kss-Error (and,
 * where the fault says so, connection errors while the gateway is down, 507 while the disk is full).
 */
export function violation(r: RequestRecord, phase: Phase): string | undefined {
  if (succeeded(r)) return undefined;
  if (phase.kind !== 'fault') return `${r.kind} ${r.fn}: ${outcomeOf(r)} outside a fault window (${phase.name})`;
  if ([502, 503, 504].includes(r.status) && r.kssError) return undefined;
  if (r.status === 0 && phase.allow?.network) return undefined;
  if (r.status === 507 && r.kssError === 'KSS_INSUFFICIENT_STORAGE' && phase.allow?.insufficientStorage) return undefined;
  return `${r.kind} ${r.fn}: ${outcomeOf(r)} in ${phase.name} (only 502/503/504 with X-Kss-Error are allowed there${phase.allow?.network ? ', or a refused connection while the gateway is down' : ''}${phase.allow?.insufficientStorage ? ', or 507 KSS_INSUFFICIENT_STORAGE' : ''})`;
}

const MiB = 1024 * 1024;

/** Renders rows as a fixed-width text table. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The per-phase table: requests sent, success rate, p50/p99, error codes, gateway RSS and fds at the phase's end. */
export function phaseTable(phases: Phase[], requests: RequestRecord[], samples: UsageSample[]): string {
  const rows = phases.map((phase, i) => {
    const rs = requests.filter((r) => r.phase === i);
    const ok = rs.filter(succeeded).length;
    const lat = rs.filter(succeeded).map((r) => r.latencyMs).sort((a, b) => a - b);
    const errors = new Map<string, number>();
    for (const r of rs.filter((x) => !succeeded(x))) errors.set(outcomeOf(r), (errors.get(outcomeOf(r)) ?? 0) + 1);
    const last = samples.filter((s) => s.phase === i).at(-1);
    return [
      phase.name,
      `${(phase.startMs / 1000).toFixed(0)}-${((phase.endMs ?? phase.startMs) / 1000).toFixed(0)}`,
      String(rs.length),
      rs.length ? `${((100 * ok) / rs.length).toFixed(rs.length === ok ? 0 : 1)}%` : '-',
      lat.length ? percentile(lat, 50).toFixed(1) : '-',
      lat.length ? percentile(lat, 99).toFixed(1) : '-',
      last ? (last.rssBytes / MiB).toFixed(0) : '-',
      last ? String(last.fds) : '-',
      [...errors].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${n}`).join(', ') || '-',
    ];
  });
  return table(['phase', 't (s)', 'sent', 'ok', 'p50 ms', 'p99 ms', 'rss MiB', 'fds', 'errors'], rows);
}

/** Gateway RSS and fds over time, one line per `everyMs` (the last sample of each slot). */
export function usageSeries(samples: UsageSample[], everyMs: number): string {
  const slots = new Map<number, UsageSample>();
  for (const s of samples) slots.set(Math.floor(s.atMs / everyMs), s);
  return [...slots.values()].map((s) => `t=${(s.atMs / 1000).toFixed(0)}s pid ${s.pid} rss ${(s.rssBytes / MiB).toFixed(0)} MiB fds ${s.fds}`).join('\n');
}

/** The median of numbers (NaN when none). */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
