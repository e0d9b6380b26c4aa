import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { clockTime, compact, num } from '../lib/format.js';

/** One line of a {@link TimeChart}. */
export interface ChartSeries {
  label: string;
  /** One value per point of `points`; null is a gap. */
  values: (number | null)[];
  /** Any CSS colour. */
  color: string;
}

export interface TimeChartProps {
  title: string;
  /** `data-testid` of the chart's container. */
  testId: string;
  /** X values, epoch ms, oldest first. */
  points: number[];
  series: ChartSeries[];
  /** Shown after values, e.g. `ms` or `MiB`. */
  unit?: string;
}

const HEIGHT = 180;

/** X axis tick: `14:05`, or `14:05:30` between whole minutes. */
function axisTime(t: number): string {
  const d = new Date(t);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}${d.getSeconds() ? `:${p(d.getSeconds())}` : ''}`;
}

/** Sum of the non-null values (what `data-total` carries for the tests). */
function total(values: (number | null)[]): number {
  let sum = 0;
  for (const v of values) if (v !== null && Number.isFinite(v)) sum += v;
  return Math.round(sum * 1000) / 1000;
}

function latest(values: (number | null)[]): number | null {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null && values[i] !== undefined) return values[i]!;
  return null;
}

/**
 * A time-series line chart (uPlot): created once, fed with `setData` on every
 * update, sized to its container, destroyed on unmount. Shows "No data yet" without points.
 */
export function TimeChart({ title, testId, points, series, unit }: TimeChartProps) {
  const boxRef = useRef<HTMLDivElement>(null);
  const plotRef = useRef<HTMLDivElement>(null);
  const chartRef = useRef<uPlot | null>(null);
  const seriesKey = series.map((s) => `${s.label}|${s.color}`).join(';') + `|${unit ?? ''}`;
  const data = [points, ...series.map((s) => s.values)] as uPlot.AlignedData;
  const dataRef = useRef(data);
  dataRef.current = data;

  // Create (once per set of series), size with the container, destroy on unmount.
  useEffect(() => {
    const box = boxRef.current;
    const target = plotRef.current;
    if (!box || !target) return;
    const suffix = unit ? ` ${unit}` : '';
    const opts: uPlot.Options = {
      width: Math.max(200, box.clientWidth),
      height: HEIGHT,
      ms: 1,
      series: [
        { label: 'Time', value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '–' : clockTime(new Date(v).toISOString()).slice(0, 8)) },
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          points: { show: false },
          value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '–' : `${num(v, 2)}${suffix}`),
        })),
      ],
      scales: { y: { range: (_u, _min, max) => [0, max !== null && max > 0 ? max * 1.1 : 1] } },
      axes: [
        { stroke: '#5b6472', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#eef0f3' }, space: 70, values: (_u, splits) => splits.map(axisTime) },
        { stroke: '#5b6472', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#eef0f3' }, size: 50, values: (_u, splits) => splits.map((v) => compact(v)) },
      ],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    };
    const chart = new uPlot(opts, dataRef.current, target);
    chartRef.current = chart;
    const observer = new ResizeObserver(() => {
      const width = box.clientWidth;
      if (width > 0 && Math.abs(width - chart.width) > 1) chart.setSize({ width, height: HEIGHT });
    });
    observer.observe(box);
    return () => {
      observer.disconnect();
      chart.destroy();
      chartRef.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [seriesKey]);

  // New data: redraw in place.
  useEffect(() => {
    chartRef.current?.setData(data);
  });

  const empty = points.length === 0;
  const first = series[0];
  const last = first ? latest(first.values) : null;
  const label = empty || last === null ? `${title}: no data yet` : `${title}: latest ${first!.label} ${num(last, 2)}${unit ? ` ${unit}` : ''}`;

  return (
    <div className="chart" data-testid={testId} data-total={first ? String(total(first.values)) : '0'} role="img" aria-label={label}>
      <h3 className="chart-title" aria-hidden="true">
        {title}
        {unit ? <span className="chart-unit"> ({unit})</span> : null}
      </h3>
      <div className="chart-body" ref={boxRef}>
        <div ref={plotRef} className="chart-plot" hidden={empty} />
        {empty ? <p className="chart-empty">No data yet</p> : null}
      </div>
    </div>
  );
}
