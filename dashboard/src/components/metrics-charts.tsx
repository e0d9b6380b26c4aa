import type { MetricsHistory } from '../lib/api.js';
import { TimeChart } from './time-chart.js';

const BLUE = '#2563eb';
const RED = '#dc2626';
const GREEN = '#16a34a';
const PURPLE = '#7c3aed';
const ORANGE = '#ea580c';
const TEAL = '#0d9488';

/**
 * The six standard charts of a metrics history (one function's or the platform's):
 * invocations/s with errors/s, latency p50/p99, replicas, cold starts, CPU, memory.
 * `prefix` namespaces the charts' test ids (`chart-rps`, `overview-chart-rps`, …).
 */
export function MetricsCharts({ history, prefix = 'chart' }: { history: MetricsHistory | undefined; prefix?: string }) {
  const points = history?.points ?? [];
  const interval = history?.intervalSeconds || 5;
  const t = points.map((p) => p.t);
  return (
    <div className="charts">
      <TimeChart
        title="Invocations per second"
        testId={`${prefix}-rps`}
        unit="req/s"
        points={t}
        series={[
          { label: 'Invocations/s', values: points.map((p) => p.rps), color: BLUE },
          { label: 'Errors/s', values: points.map((p) => p.errors / interval), color: RED },
        ]}
      />
      <TimeChart
        title="Latency"
        testId={`${prefix}-latency`}
        unit="ms"
        points={t}
        series={[
          { label: 'p50', values: points.map((p) => p.p50Ms), color: GREEN },
          { label: 'p99', values: points.map((p) => p.p99Ms), color: ORANGE },
        ]}
      />
      <TimeChart
        title="Replicas"
        testId={`${prefix}-replicas`}
        points={t}
        series={[
          { label: 'Desired', values: points.map((p) => p.replicas), color: PURPLE },
          { label: 'Ready', values: points.map((p) => p.readyReplicas), color: GREEN },
        ]}
      />
      <TimeChart title="Cold starts" testId={`${prefix}-cold-starts`} points={t} series={[{ label: 'Cold starts', values: points.map((p) => p.coldStarts), color: TEAL }]} />
      <TimeChart title="CPU" testId={`${prefix}-cpu`} unit="millicores" points={t} series={[{ label: 'CPU', values: points.map((p) => p.cpuMillicores), color: BLUE }]} />
      <TimeChart
        title="Memory"
        testId={`${prefix}-memory`}
        unit="MiB"
        points={t}
        series={[{ label: 'Memory', values: points.map((p) => (p.memoryBytes === null ? null : p.memoryBytes / 1048576)), color: PURPLE }]}
      />
    </div>
  );
}
