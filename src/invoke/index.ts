/** The data path: resolve, wait while cold, balance, proxy. */
export * from './invoker.js';
export * from './invocation-stats.js';
export * from './balancer.js';
export * from './hop-headers.js';
export * from './body-limit.js';
