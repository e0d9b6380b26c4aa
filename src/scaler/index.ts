/** The control path: autoscaling decisions from the invoke path's stats. */
export * from './decide.js';
export * from './autoscaler.js';
