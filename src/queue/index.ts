/** Asynchronous calls: the durable queue contract, its backends, the workers and the API service. */
export * from './call-queue.js';
export * from './sqlite-queue.js';
export * from './dispatcher.js';
export * from './retry-policy.js';
export * from './async-calls.js';
export * from './run-call.js';
export * from './jetstream-queue.js';
