/**
 * Cost figures per function, as a cloud FaaS bills them (seed 004's "metrics for cost
 * analysis"): GB-seconds = seconds spent answering requests × the memory a replica is
 * given. With no memory limit, a function is counted at 128 MiB (Lambda's smallest size),
 * so figures stay comparable; set `limits.memory` for true numbers.
 */
import type { FunctionSpec } from './function-spec.js';
import { memoryBytes } from './quantity.js';

export const DEFAULT_COST_MEMORY_BYTES = 128 * 2 ** 20;

export interface FunctionCost {
  invocations: number;
  /** Seconds spent answering requests, summed over all of them. */
  busySeconds: number;
  /** Memory each request is counted with, in GiB. */
  memoryGiB: number;
  /** busySeconds × memoryGiB. */
  gbSeconds: number;
}

export function costOf(spec: Pick<FunctionSpec, 'limits'>, invocations: number, busySeconds: number): FunctionCost {
  const bytes = (spec.limits?.memory ? memoryBytes(spec.limits.memory) : undefined) ?? DEFAULT_COST_MEMORY_BYTES;
  const memoryGiB = bytes / 2 ** 30;
  return { invocations, busySeconds, memoryGiB, gbSeconds: busySeconds * memoryGiB };
}
