/** The platform's wire types, the Provider contract and the error catalogue. No I/O here. */
export * from './errors.js';
export * from './clock.js';
export * from './function-spec.js';
export * from './function-status.js';
export * from './provider.js';
export * from './scale-labels.js';
export * from './invoke-policy.js';
export * from './fake-clock.js';
export * from './admin-types.js';
export * from './secrets.js';
export * from './quantity.js';
export * from './cost.js';
export * from './trigger-spec.js';
export * from './network-policy.js';
export * from './function-logs.js';
