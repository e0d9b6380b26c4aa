import { useState } from 'react';
import { ErrorAlert } from '../components/error-alert.js';
import { client, metrics, type FunctionSummary, type FunctionView } from '../lib/api.js';
import { functionState, ms, NONE, percent, relativeTime, stateClass, type FunctionState } from '../lib/format.js';
import { functionPath, href } from '../lib/router.js';
import { usePoll } from '../lib/use-poll.js';

interface Row {
  key: string;
  name: string;
  namespace: string;
  /** The newest revision (`r4`); undefined from a gateway without revisions. */
  latestRevision?: string;
  state: FunctionState;
  runtime: string;
  ready: number;
  desired: number;
  invocations: number;
  errorRate: number | null;
  p50: number | null;
  p99: number | null;
  lastInvoked: number | null;
}

type SortKey = 'name' | 'namespace' | 'state' | 'runtime' | 'replicas' | 'invocations' | 'errorRate' | 'p50' | 'p99' | 'lastInvoked';

const COLUMNS: { key: SortKey; label: string; numeric?: boolean }[] = [
  { key: 'name', label: 'Name' },
  { key: 'namespace', label: 'Namespace' },
  { key: 'state', label: 'Status' },
  { key: 'runtime', label: 'Runtime' },
  { key: 'replicas', label: 'Replicas', numeric: true },
  { key: 'invocations', label: 'Invocations', numeric: true },
  { key: 'errorRate', label: 'Error rate', numeric: true },
  { key: 'p50', label: 'p50', numeric: true },
  { key: 'p99', label: 'p99', numeric: true },
  { key: 'lastInvoked', label: 'Last invoked', numeric: true },
];

function toRows(functions: FunctionView[], summary: FunctionSummary[] | undefined): Row[] {
  const byKey = new Map((summary ?? []).map((s) => [`${s.namespace}/${s.name}`, s]));
  return functions.map((f) => {
    const key = `${f.namespace}/${f.name}`;
    const s = byKey.get(key);
    const last = s?.lastInvokedAt ? Date.parse(s.lastInvokedAt) : NaN;
    return {
      key,
      name: f.name,
      namespace: f.namespace,
      ...(f.latestRevision ? { latestRevision: f.latestRevision } : {}),
      state: functionState(f),
      runtime: f.runtime ?? NONE,
      ready: f.availableReplicas,
      desired: f.replicas,
      invocations: f.invocationCount,
      errorRate: s ? s.errorRate : null,
      p50: s?.p50Ms ?? null,
      p99: s?.p99Ms ?? null,
      lastInvoked: Number.isFinite(last) ? last : null,
    };
  });
}

function sortValue(row: Row, key: SortKey): string | number | null {
  if (key === 'replicas') return row.ready * 1e6 + row.desired;
  return row[key];
}

function compareRows(a: Row, b: Row, key: SortKey, dir: 1 | -1): number {
  const va = sortValue(a, key);
  const vb = sortValue(b, key);
  // Missing values last, whatever the direction.
  if (va === null && vb === null) return a.name.localeCompare(b.name);
  if (va === null) return 1;
  if (vb === null) return -1;
  const c = typeof va === 'number' && typeof vb === 'number' ? va - vb : String(va).localeCompare(String(vb));
  return c === 0 ? a.key.localeCompare(b.key) : c * dir;
}

/** Functions list (route `/`): every function with its state and recent traffic, filterable and sortable; polled every 2 s. */
export function FunctionsPage() {
  const poll = usePoll(async () => {
    const [functions, summary] = await Promise.allSettled([client.listFunctions(), metrics.summary()]);
    if (functions.status === 'rejected') throw functions.reason;
    return { functions: functions.value, summary: summary.status === 'fulfilled' ? summary.value.items : undefined, summaryError: summary.status === 'rejected' ? (summary.reason as unknown) : undefined };
  }, 2000, []);
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<{ key: SortKey; dir: 1 | -1 }>({ key: 'name', dir: 1 });

  const data = poll.data;
  const rows = data ? toRows(data.functions, data.summary) : [];
  const needle = filter.trim().toLowerCase();
  const shown = rows
    .filter((r) => !needle || r.name.includes(needle) || r.namespace.includes(needle) || r.runtime.toLowerCase().includes(needle) || r.state.toLowerCase().includes(needle))
    .sort((a, b) => compareRows(a, b, sort.key, sort.dir));
  const now = Date.now();

  const toggle = (key: SortKey, numeric?: boolean) =>
    setSort((s) => (s.key === key ? { key, dir: s.dir === 1 ? -1 : 1 } : { key, dir: numeric ? -1 : 1 }));

  return (
    <section>
      <div className="page-head">
        <h1>Functions</h1>
        <a className="button" href={href('/deploy')}>
          Deploy a function
        </a>
      </div>
      <ErrorAlert error={poll.error} prefix="Cannot list the functions" />
      {data?.summaryError !== undefined ? <ErrorAlert error={data.summaryError} prefix="Traffic figures unavailable" /> : null}
      {poll.loading ? <p className="muted">Loading…</p> : null}
      {data && rows.length === 0 ? (
        <div className="empty">
          <h2>No functions yet</h2>
          <p>
            <a href={href('/deploy')}>Deploy your first function</a> from a template, or with <code>kss deploy</code>.
          </p>
        </div>
      ) : null}
      {rows.length > 0 ? (
        <>
          <div className="toolbar">
            <input type="search" aria-label="Filter functions" placeholder="Filter by name, namespace, runtime or status" value={filter} onChange={(e) => setFilter(e.target.value)} />
            <span className="muted small" aria-live="polite">
              {shown.length === rows.length ? `${rows.length} function${rows.length === 1 ? '' : 's'}` : `${shown.length} of ${rows.length} functions`}
            </span>
          </div>
          <div className="table-wrap">
            <table data-testid="functions-table">
              <caption className="visually-hidden">Functions (select a column header to sort)</caption>
              <thead>
                <tr>
                  {COLUMNS.map((c) => (
                    <th key={c.key} scope="col" aria-sort={sort.key === c.key ? (sort.dir === 1 ? 'ascending' : 'descending') : 'none'} className={c.numeric ? 'num' : undefined}>
                      <button type="button" className="sort" onClick={() => toggle(c.key, c.numeric)}>
                        {c.label}
                        <span className="sort-mark" aria-hidden="true">
                          {sort.key === c.key ? (sort.dir === 1 ? '▲' : '▼') : '↕'}
                        </span>
                      </button>
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {shown.map((r) => (
                  <tr key={r.key} data-testid={`function-row-${r.name}`}>
                    <td>
                      <a href={href(functionPath(r.name, r.namespace))}>{r.name}</a>
                      {r.latestRevision ? (
                        <span className="muted small" data-testid={`latest-revision-${r.name}`} title="latest revision">
                          {' '}
                          <span className="visually-hidden">latest revision </span>
                          {r.latestRevision}
                        </span>
                      ) : null}
                    </td>
                    <td>{r.namespace}</td>
                    <td>
                      <span className={stateClass(r.state)}>{r.state}</span>
                    </td>
                    <td>{r.runtime}</td>
                    <td className="num">
                      {r.ready}/{r.desired}
                    </td>
                    <td className="num" data-testid={`invocations-${r.name}`}>
                      {r.invocations}
                    </td>
                    <td className="num">{percent(r.errorRate)}</td>
                    <td className="num">{ms(r.p50)}</td>
                    <td className="num">{ms(r.p99)}</td>
                    <td className="num">{r.lastInvoked === null ? NONE : <time dateTime={new Date(r.lastInvoked).toISOString()}>{relativeTime(r.lastInvoked, now)}</time>}</td>
                  </tr>
                ))}
                {shown.length === 0 ? (
                  <tr>
                    <td colSpan={COLUMNS.length} className="muted">
                      No function matches “{filter}”.
                    </td>
                  </tr>
                ) : null}
              </tbody>
            </table>
          </div>
        </>
      ) : null}
    </section>
  );
}
