/**
 * In-process fake Kubernetes API server for testing the Kubernetes provider with
 * the real `@kubernetes/client-node` client. See README.md in this folder for
 * what is real and what is approximated.
 */
export {
  startFakeKubeApi,
  type DropWatchesOptions,
  type FakeKubeApi,
  type FakeKubeApiOptions,
  type FaultInjector,
  type FaultSpec,
  type KubeConfigOptions,
  type RequestRecord,
} from './server.js';
export {
  simulateWorkloads,
  type ReplicaHandle,
  type SimulatedReplica,
  type SimulateWorkloadsOptions,
  type WorkloadSimulation,
} from './workloads.js';
export { ApiError, ObjectStore, type DeleteOptions, type KubeObject, type ObjectMeta, type OwnerReference, type StoreEvent, type WatchEventType, type WriteScope } from './store.js';
export { defaultResources, type ResourceDefinition } from './resources.js';
export { PodLogs, type AppendLogOptions, type LogLine, type LogQuery } from './logs.js';
export { jsonPatch, mergePatch, serverSideApply, strategicMergePatch } from './apply.js';
export { writeKubeconfigFile } from './kubeconfig-file.js';
