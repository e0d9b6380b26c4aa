/** Function logs: replica output and platform events, per function, rotated, followable. */
export * from './log-store.js';
