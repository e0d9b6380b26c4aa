/**
 * Optional provider ability: reading what a function's replicas write from where the
 * provider keeps it (on Kubernetes, the pod logs API). The local provider has none:
 * it hands every line to the gateway's own log store as it is written. The logs route
 * merges these lines with the gateway's platform events.
 */
import type { FunctionRef } from './function-spec.js';
import type { Provider } from './provider.js';

/** One line, in the shape of the OpenFaaS logs API plus `stream` (as the gateway's log store keeps it). */
export interface FunctionLogLine {
  name: string;
  namespace: string;
  /** The replica that wrote it (a pod's name on Kubernetes). */
  instance: string;
  /** RFC 3339 with milliseconds. */
  timestamp: string;
  text: string;
  stream: 'stdout' | 'stderr' | 'event';
}

/** Which lines to read. */
export interface FunctionLogQuery {
  /** Only this replica's lines. */
  instance?: string;
  /** Only lines at or after this epoch ms. */
  since?: number;
  /** Only the last N lines of each replica (the caller cuts the merged result to N). */
  tail?: number;
}

/** The lines of one read, and the way on from there. */
export interface FunctionLogs {
  /** What the replicas have written so far, oldest first (the query applied per replica). */
  readonly lines: FunctionLogLine[];
  /**
   * Calls `onLine` with every line written after {@link lines}, by the replicas running
   * now and those that start later, until `signal` aborts (which releases every stream).
   */
  follow(onLine: (line: FunctionLogLine) => void, signal: AbortSignal): void;
}

/** Optional: a provider that keeps its replicas' output itself. */
export interface FunctionLogSource {
  /** Reads a function's replica output; a replica whose log cannot be read is skipped. */
  functionLogs(ref: FunctionRef, query: FunctionLogQuery): Promise<FunctionLogs>;
}

export function canReadFunctionLogs(p: Provider): p is Provider & FunctionLogSource {
  return typeof (p as Partial<FunctionLogSource>).functionLogs === 'function';
}
