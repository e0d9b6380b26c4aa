/** Rate limits (token buckets) for functions and clients. */
export * from './token-bucket.js';
export * from './rate-limiter.js';
