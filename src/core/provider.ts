/**
 * The Provider contract: what the platform needs from whatever runs replicas
 * (sandboxed processes on this machine, or Kubernetes). It is deliberately small;
 * optional abilities are separate interfaces with type guards, so a provider that
 * lacks one is still a provider.
 */
import type { FunctionRef, FunctionSpec } from './function-spec.js';

/** A replica ready to take requests. */
export interface Endpoint {
  /** Stable id of the replica (shown as `instance` in logs and metrics). */
  id: string;
  /** Origin to send requests to, e.g. `http://127.0.0.1:40123`. */
  origin: string;
}

/** One replica as the provider sees it, ready or not. */
export interface ReplicaInfo {
  id: string;
  /** `starting` until its `/ready` answered, `ready`, `stopping`, or `crashed` while it waits to restart. */
  state: 'starting' | 'ready' | 'stopping' | 'crashed';
  /** Origin it listens on (a loopback address for the local provider). */
  origin?: string;
  pid?: number;
  startedAt?: string;
  restarts: number;
  /** Why it last stopped, when it did (e.g. `exited with code 1`, `OOMKilled at …`). */
  lastExit?: string;
  /** CPU and memory, when the provider measures them (cgroups). */
  usage?: ReplicaUsageInfo;
}

/** One replica's resource use. */
export interface ReplicaUsageInfo {
  /** CPU time since the replica's process started, in seconds (a counter). */
  cpuSeconds: number;
  /** Average CPU over the last few seconds, in millicores (1000 = one core busy). */
  cpuMillicores?: number;
  /** Memory in use minus inactive file cache (the kubelet's working set). */
  memoryWorkingSetBytes: number;
}

/** What a provider reports about one function. */
export interface ProviderFunctionStatus {
  ref: FunctionRef;
  /** Desired replicas. */
  replicas: number;
  /** Replicas that answered `/ready`. */
  availableReplicas: number;
  instances: ReplicaInfo[];
}

/** Runs replicas of functions. */
export interface Provider {
  /** A short name (`local`, `kubernetes`) shown by `/system/info`. */
  readonly name: string;
  /** Starts a function that is not running. Resolves once replicas are being started (not when ready). */
  deploy(spec: FunctionSpec): Promise<void>;
  /** Replaces a running function's spec (replicas roll over to the new code). */
  update(spec: FunctionSpec): Promise<void>;
  /** Stops every replica of the function. Removing an unknown function is not an error. */
  remove(ref: FunctionRef): Promise<void>;
  list(namespace?: string): Promise<ProviderFunctionStatus[]>;
  get(ref: FunctionRef): Promise<ProviderFunctionStatus | undefined>;
  /** Sets desired replicas. */
  scale(ref: FunctionRef, replicas: number): Promise<void>;
  /**
   * Ready endpoints of a function, from the provider's own cache: this is on the
   * invoke hot path, so it must not do I/O. Empty when none is ready.
   */
  resolve(ref: FunctionRef): readonly Endpoint[];
}

/** Optional: tells listeners when a function's set of ready endpoints changes. */
export interface ReplicaWatcher {
  onReplicasChanged(listener: (ref: FunctionRef) => void): () => void;
}

export function canWatchReplicas(p: Provider): p is Provider & ReplicaWatcher {
  return typeof (p as Partial<ReplicaWatcher>).onReplicasChanged === 'function';
}

/** Optional: releases what the provider holds (stops local processes on gateway shutdown). */
export interface Closable {
  close(): Promise<void>;
}

export function isClosable(p: object): p is Closable {
  return typeof (p as Partial<Closable>).close === 'function';
}

/** Optional: tells the invoke path that a replica failed so it can be replaced sooner. */
export interface FailureReporter {
  reportFailure(ref: FunctionRef, endpointId: string, reason: string): void;
}

export function canReportFailure(p: Provider): p is Provider & FailureReporter {
  return typeof (p as Partial<FailureReporter>).reportFailure === 'function';
}
