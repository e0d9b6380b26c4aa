/** Prometheus metrics of the gateway. */
export * from './gateway-metrics.js';
