/**
 * The runtime's own Prometheus metrics, written by hand in the text exposition
 * format (version 0.0.4) so the runtime needs no dependency and starts fast.
 *
 * Only requests that reach the user's handler are counted: the runtime's own
 * `/health`, `/ready` and `/metrics` endpoints are not, so probes and scrapes
 * never inflate a function's numbers.
 */

/** Upper bounds (seconds) of the duration histogram: prom-client's defaults, so dashboards line up with the gateway's. */
export const DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** `Content-Type` of a Prometheus text-format response. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Request counters of one runtime process: total by status code, a latency
 * histogram and the number of requests in flight (the gateway's balancer and
 * autoscaler read the last one).
 */
export class RuntimeMetrics {
  private readonly byCode = new Map<string, number>();
  private readonly bucketCounts: number[] = DURATION_BUCKETS.map(() => 0);
  private durationSum = 0;
  private durationCount = 0;
  private inFlightCount = 0;

  /** Requests currently being handled. */
  get inFlight(): number {
    return this.inFlightCount;
  }

  /** Marks a handler request as started. Pair each call with one {@link end}. */
  begin(): void {
    this.inFlightCount++;
  }

  /**
   * Marks a handler request as finished with the status code sent (or `499`
   * when the client went away first) after `seconds`.
   */
  end(code: number | string, seconds: number): void {
    this.inFlightCount = Math.max(0, this.inFlightCount - 1);
    const key = String(code);
    this.byCode.set(key, (this.byCode.get(key) ?? 0) + 1);
    for (let i = 0; i < DURATION_BUCKETS.length; i++) {
      if (seconds <= DURATION_BUCKETS[i]) this.bucketCounts[i]++;
    }
    this.durationSum += seconds;
    this.durationCount++;
  }

  /** Renders every metric in the Prometheus text exposition format. */
  render(): string {
    const lines: string[] = [
      '# HELP runtime_requests_total Requests handled by the function, by HTTP status code.',
      '# TYPE runtime_requests_total counter',
    ];
    const codes = [...this.byCode.keys()].sort();
    for (const code of codes) lines.push(`runtime_requests_total{code="${code}"} ${this.byCode.get(code)}`);
    lines.push(
      '# HELP runtime_request_duration_seconds Time from request received to response finished, in seconds.',
      '# TYPE runtime_request_duration_seconds histogram',
    );
    for (let i = 0; i < DURATION_BUCKETS.length; i++) {
      lines.push(`runtime_request_duration_seconds_bucket{le="${DURATION_BUCKETS[i]}"} ${this.bucketCounts[i]}`);
    }
    lines.push(
      `runtime_request_duration_seconds_bucket{le="+Inf"} ${this.durationCount}`,
      `runtime_request_duration_seconds_sum ${this.durationSum}`,
      `runtime_request_duration_seconds_count ${this.durationCount}`,
      '# HELP runtime_requests_in_flight Requests currently being handled by the function.',
      '# TYPE runtime_requests_in_flight gauge',
      `runtime_requests_in_flight ${this.inFlightCount}`,
    );
    return lines.join('\n') + '\n';
  }
}
