/** Prometheus metrics of the gateway. */
export * from './gateway-metrics.js';
export * from './metrics-history.js';
