/** Builds: from uploaded code to what replicas run, cached by content. */
export * from './builder.js';
export * from './build-service.js';
export * from './run-command.js';
export * from './node-builder.js';
export * from './python-builder.js';
export * from './go-builder.js';
export * from './exec-builder.js';
export * from './default-builders.js';
