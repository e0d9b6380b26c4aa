import { ErrorAlert } from '../components/error-alert.js';
import { MetricsCharts } from '../components/metrics-charts.js';
import { client, metrics } from '../lib/api.js';
import { ms, num, percent } from '../lib/format.js';
import { functionPath, href } from '../lib/router.js';
import { usePoll } from '../lib/use-poll.js';

const WINDOW_MS = 5 * 60_000;

/** Platform overview (route `/overview`): totals and the platform's charts, polled every 5 s. */
export function OverviewPage() {
  const functions = usePoll(() => client.listFunctions(), 5000, []);
  const history = usePoll(() => metrics.history(), 5000, []);
  const summary = usePoll(() => metrics.summary(), 5000, []);

  const list = functions.data;
  const points = history.data?.points ?? [];
  // Relative to the newest point, so the window does not drift with the browser's clock.
  const end = points.length ? points[points.length - 1]!.t : Date.now();
  const recent = points.filter((p) => p.t > end - WINDOW_MS);
  const invocations = recent.reduce((n, p) => n + p.invocations, 0);
  const errors = recent.reduce((n, p) => n + p.errors, 0);
  const coldStarts = recent.reduce((n, p) => n + p.coldStarts, 0);
  const busiest = [...(summary.data?.items ?? [])].filter((s) => s.invocations > 0).sort((a, b) => b.invocations - a.invocations).slice(0, 5);

  return (
    <section>
      <h1>Overview</h1>
      <ErrorAlert error={functions.error} prefix="Cannot list the functions" />
      <ErrorAlert error={history.error} prefix="Cannot read the metrics" />
      <ul className="stats" aria-label="Platform totals">
        <Stat label="Functions" value={list ? String(list.length) : '…'} testId="overview-functions" />
        <Stat label="Ready replicas" value={list ? String(list.reduce((n, f) => n + f.availableReplicas, 0)) : '…'} testId="overview-ready-replicas" />
        <Stat label="Invocations (last 5 min)" value={history.data ? num(invocations, 0) : '…'} testId="overview-invocations" />
        <Stat label="Errors (last 5 min)" value={history.data ? `${num(errors, 0)}${invocations ? ` (${percent(errors / invocations)})` : ''}` : '…'} testId="overview-errors" />
        <Stat label="Cold starts (last 5 min)" value={history.data ? num(coldStarts, 0) : '…'} testId="overview-cold-starts" />
      </ul>
      {busiest.length ? (
        <>
          <h2>Busiest functions</h2>
          <p className="muted small">Over the last {Math.round((summary.data?.windowSeconds ?? 300) / 60)} minutes.</p>
          <div className="table-wrap">
            <table data-testid="overview-busiest">
              <thead>
                <tr>
                  <th scope="col">Function</th>
                  <th scope="col" className="num">
                    Invocations
                  </th>
                  <th scope="col" className="num">
                    Error rate
                  </th>
                  <th scope="col" className="num">
                    p50
                  </th>
                  <th scope="col" className="num">
                    p99
                  </th>
                </tr>
              </thead>
              <tbody>
                {busiest.map((s) => (
                  <tr key={`${s.namespace}/${s.name}`}>
                    <td>
                      <a href={href(functionPath(s.name, s.namespace))}>{s.name}</a> <span className="muted small">{s.namespace}</span>
                    </td>
                    <td className="num">{s.invocations}</td>
                    <td className="num">{percent(s.errorRate)}</td>
                    <td className="num">{ms(s.p50Ms)}</td>
                    <td className="num">{ms(s.p99Ms)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      ) : null}
      <h2>Platform</h2>
      <MetricsCharts history={history.data} prefix="overview-chart" />
    </section>
  );
}

function Stat({ label, value, testId }: { label: string; value: string; testId: string }) {
  return (
    <li className="stat">
      <span className="stat-label">{label}</span>
      <span className="stat-value" data-testid={testId}>
        {value}
      </span>
    </li>
  );
}
