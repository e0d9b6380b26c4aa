/** State: the function store contract, its SQLite implementation, and the code store. */
export * from './function-store.js';
export * from './sqlite-store.js';
export * from './code-store.js';
export * from './revision-store.js';
