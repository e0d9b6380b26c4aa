/**
 * `FunctionStatus`: the OpenFaaS status fields (so faas-cli reads our answers)
 * plus what we add (runtime, code, handler, timeout, cold starts, instances).
 */
import type { FunctionSpec } from './function-spec.js';
import type { ReplicaInfo } from './provider.js';
import { costOf, type FunctionCost } from './cost.js';
import type { TrafficTarget } from './revision.js';

/** OpenFaaS `FunctionUsage`. */
export interface FunctionUsage {
  cpu?: number;
  totalMemoryBytes?: number;
}

/**
 * The OpenFaaS `FunctionStatus` shape, field for field, plus ours. The spec's
 * fields are repeated as OpenFaaS does, with `service` renamed `name`.
 */
export interface FunctionStatus extends Omit<FunctionSpec, 'service'> {
  name: string;
  invocationCount: number;
  replicas: number;
  availableReplicas: number;
  createdAt: string;
  usage?: FunctionUsage;
  // Kube-Serverless additions
  updatedAt: string;
  coldStarts: number;
  /** Invocations, busy seconds and GB-seconds since the gateway started (see core/cost.ts). */
  cost: FunctionCost;
  instances?: ReplicaInfo[];
  /** The newest revision, when the gateway keeps revisions (it may not serve yet: a canary). */
  latestRevision?: string;
  /** How requests are split between revisions. */
  traffic?: TrafficTarget[];
}

/** Builds a status from the stored spec, the provider's view and the invoke stats. */
export function toFunctionStatus(
  spec: FunctionSpec,
  meta: { createdAt: string; updatedAt: string },
  live: { replicas: number; availableReplicas: number; instances?: ReplicaInfo[] },
  stats: { invocationCount: number; coldStarts: number; busySeconds?: number },
): FunctionStatus {
  const { service, ...rest } = spec;
  const status: FunctionStatus = {
    name: service,
    ...rest,
    invocationCount: stats.invocationCount,
    replicas: live.replicas,
    availableReplicas: live.availableReplicas,
    createdAt: meta.createdAt,
    updatedAt: meta.updatedAt,
    coldStarts: stats.coldStarts,
    cost: costOf(spec, stats.invocationCount, stats.busySeconds ?? 0),
  };
  if (live.instances) {
    status.instances = live.instances;
    // OpenFaaS' usage: CPU in millicores, memory in bytes, summed over replicas.
    const measured = live.instances.filter((i) => i.usage);
    if (measured.length) {
      status.usage = {
        cpu: Math.round(measured.reduce((sum, i) => sum + (i.usage!.cpuMillicores ?? 0), 0)),
        totalMemoryBytes: measured.reduce((sum, i) => sum + i.usage!.memoryWorkingSetBytes, 0),
      };
    }
  }
  return status;
}
