/**
 * A fake cluster on top of the fake API server: acts as the Deployment
 * controller, the kubelet and the EndpointSlice controller, so that Deployments
 * get real replicas (started by the test's `startReplica`, e.g. a local process
 * or an in-process HTTP server) and Services get EndpointSlices pointing at them.
 *
 * - Deployment controller: keeps `spec.replicas` Pods per Deployment (owned via
 *   ownerReferences, labels from the template plus `pod-template-hash`). On a
 *   template change it rolls over: new Pods first, the old ones are deleted once
 *   enough new ones are Ready. Writes `.status` (replicas, updatedReplicas,
 *   readyReplicas, availableReplicas, unavailableReplicas, observedGeneration,
 *   conditions). There are no ReplicaSets.
 * - Kubelet: for each new Pod calls `startReplica(pod)`; once it resolves the Pod
 *   is `Running` with `podIP` and a `Ready` condition. If it rejects, the Pod
 *   stays `Pending` (Ready False, the error as message) and is retried with an
 *   exponential backoff (like CrashLoopBackOff). A deleted Pod's replica is stopped.
 * - EndpointSlice controller: since every replica listens on 127.0.0.1 with its
 *   own port, it writes ONE EndpointSlice per ready Pod per Service (named
 *   `<service>-<pod>`), labelled `kubernetes.io/service-name=<service>` and
 *   `endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io`,
 *   owned by the Service, with one endpoint (the pod IP, `conditions.ready: true`,
 *   `targetRef` to the Pod) and the Service's ports, each with `port` set to the
 *   replica's real port (the Service's targetPort, e.g. 8080, is not used).
 *
 * Everything reacts to store events; there is no polling.
 */
import { createHash, randomBytes } from 'node:crypto';
import { clone, isObject, type JsonObject } from './apply.js';
import type { FakeKubeApi } from './server.js';
import { matchesLabels } from './selectors.js';
import type { KubeObject, StoreEvent } from './store.js';

/** A running replica, as returned by {@link SimulateWorkloadsOptions.startReplica}. */
export interface ReplicaHandle {
  /** Address of the replica (use `127.0.0.1`). */
  ip: string;
  /** Port the replica serves HTTP on. */
  port: number;
  /** Stop the replica (called when its Pod is deleted or the simulation stops). */
  stop(): Promise<void>;
}

/** Options of {@link simulateWorkloads}. */
export interface SimulateWorkloadsOptions {
  /** Start the workload of a new Pod (`pod.spec.containers[0]` tells what to run). */
  startReplica(pod: KubeObject): Promise<ReplicaHandle>;
  /** First retry delay after a failed start; doubles up to 10 s. Default 200 ms. */
  restartBackoffMs?: number;
}

/** A replica known to the simulation. */
export interface SimulatedReplica {
  namespace: string;
  pod: string;
  uid: string;
  ip: string;
  port: number;
}

/** A running workload simulation. */
export interface WorkloadSimulation {
  /** The replicas currently running. */
  replicas(): SimulatedReplica[];
  /** Resolves once no reconcile is queued and no replica is starting or stopping. */
  settled(): Promise<void>;
  /** Stop reacting and stop every running replica (also run by `api.close()`). */
  stop(): Promise<void>;
}

const SLICE_MANAGER = 'endpointslice-controller.k8s.io';

function isReady(pod: KubeObject): boolean {
  const conditions = ((pod.status as JsonObject | undefined)?.conditions ?? []) as JsonObject[];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * Start simulating Deployments, Pods and EndpointSlices on `api` (see module doc).
 *
 * @example
 * const sim = simulateWorkloads(api, {
 *   async startReplica() {
 *     const server = http.createServer((_req, res) => res.end('hi'));
 *     await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
 *     return { ip: '127.0.0.1', port: (server.address() as AddressInfo).port,
 *              stop: () => new Promise((r) => server.close(() => r())) };
 *   },
 * });
 */
export function simulateWorkloads(api: FakeKubeApi, options: SimulateWorkloadsOptions): WorkloadSimulation {
  const store = api.store;
  const podDef = store.resolve('v1/pods');
  const deploymentDef = store.resolve('apps/v1/deployments');
  const serviceDef = store.resolve('v1/services');
  const sliceDef = store.resolve('discovery.k8s.io/v1/endpointslices');
  const baseBackoff = options.restartBackoffMs ?? 200;

  const running = new Map<string, SimulatedReplica & { handle: ReplicaHandle }>();
  const starting = new Set<string>();
  const failures = new Map<string, number>();
  const pending = new Set<Promise<unknown>>();
  const timers = new Set<NodeJS.Timeout>();
  const queue = new Set<string>();
  let scheduled: NodeJS.Immediate | undefined;
  let stopped = false;

  const track = <T>(promise: Promise<T>): Promise<T> => {
    pending.add(promise);
    void promise.finally(() => pending.delete(promise)).catch(() => undefined);
    return promise;
  };

  const enqueue = (item: string): void => {
    if (stopped) return;
    queue.add(item);
    scheduled ??= setImmediate(processQueue);
  };

  function processQueue(): void {
    scheduled = undefined;
    const items = [...queue];
    queue.clear();
    for (const item of items) {
      const [type, namespace, name] = item.split('|');
      try {
        if (type === 'deployment') reconcileDeployment(namespace, name);
        else reconcileSlices(namespace);
      } catch {
        // a conflicting concurrent write: the resulting event re-queues the work
        enqueue(item);
      }
    }
  }

  function ownerDeployment(pod: KubeObject): string | undefined {
    return pod.metadata.ownerReferences?.find((o) => o.kind === 'Deployment' && o.controller)?.name;
  }

  function onEvent(event: StoreEvent): void {
    const { resource, object } = event;
    const namespace = object.metadata.namespace ?? '';
    if (resource === deploymentDef) enqueue(`deployment|${namespace}|${object.metadata.name}`);
    else if (resource === serviceDef) enqueue(`slices|${namespace}`);
    else if (resource === sliceDef && event.type === 'DELETED') enqueue(`slices|${namespace}`);
    else if (resource === podDef) {
      const owner = ownerDeployment(object);
      if (owner) enqueue(`deployment|${namespace}|${owner}`);
      enqueue(`slices|${namespace}`);
      if (event.type === 'DELETED') stopReplica(object.metadata.uid ?? '');
    }
  }

  function stopReplica(uid: string): void {
    const replica = running.get(uid);
    failures.delete(uid);
    if (!replica) return;
    running.delete(uid);
    track(replica.handle.stop().catch(() => undefined));
  }

  function livePod(namespace: string, name: string, uid: string): KubeObject | undefined {
    const pod = store.get(podDef, namespace, name);
    return pod && pod.metadata.uid === uid ? pod : undefined;
  }

  function writePodStatus(namespace: string, name: string, uid: string, status: JsonObject): void {
    const pod = livePod(namespace, name, uid);
    if (!pod) return;
    pod.status = status;
    pod.metadata.resourceVersion = undefined;
    store.update(podDef, pod, 'status');
  }

  function startPod(pod: KubeObject): void {
    const { namespace = '', name = '', uid = '' } = pod.metadata;
    if (stopped || starting.has(uid) || running.has(uid)) return;
    starting.add(uid);
    const containers = ((pod.spec as JsonObject | undefined)?.containers ?? []) as JsonObject[];
    track(
      options.startReplica(clone(pod)).then(
        (handle) => {
          starting.delete(uid);
          if (stopped || !livePod(namespace, name, uid)) {
            track(handle.stop().catch(() => undefined));
            return;
          }
          running.set(uid, { namespace, pod: name, uid, ip: handle.ip, port: handle.port, handle });
          const startedAt = now();
          writePodStatus(namespace, name, uid, {
            phase: 'Running',
            hostIP: '127.0.0.1',
            podIP: handle.ip,
            podIPs: [{ ip: handle.ip }],
            startTime: startedAt,
            conditions: [
              { type: 'PodScheduled', status: 'True', lastTransitionTime: startedAt },
              { type: 'Initialized', status: 'True', lastTransitionTime: startedAt },
              { type: 'ContainersReady', status: 'True', lastTransitionTime: startedAt },
              { type: 'Ready', status: 'True', lastTransitionTime: startedAt },
            ],
            containerStatuses: containers.map((c) => ({
              name: c.name,
              image: c.image,
              ready: true,
              started: true,
              restartCount: failures.get(uid) ?? 0,
              state: { running: { startedAt } },
            })),
          });
        },
        (error: unknown) => {
          starting.delete(uid);
          if (stopped || !livePod(namespace, name, uid)) return;
          const attempts = (failures.get(uid) ?? 0) + 1;
          failures.set(uid, attempts);
          const message = error instanceof Error ? error.message : String(error);
          writePodStatus(namespace, name, uid, {
            phase: 'Pending',
            conditions: [
              { type: 'PodScheduled', status: 'True' },
              { type: 'Ready', status: 'False', reason: 'ContainersNotReady', message },
            ],
            containerStatuses: containers.map((c) => ({
              name: c.name,
              image: c.image,
              ready: false,
              restartCount: attempts,
              state: { waiting: { reason: 'CrashLoopBackOff', message } },
            })),
          });
          const timer = setTimeout(() => {
            timers.delete(timer);
            const current = livePod(namespace, name, uid);
            if (current) startPod(current);
          }, Math.min(baseBackoff * 2 ** (attempts - 1), 10_000));
          timers.add(timer);
        },
      ),
    );
  }

  function reconcileDeployment(namespace: string, name: string): void {
    const deployment = store.get(deploymentDef, namespace, name);
    if (!deployment) return; // its Pods are garbage collected through their ownerReferences
    const spec = (deployment.spec ?? {}) as JsonObject;
    const template = (spec.template ?? {}) as JsonObject;
    const templateMeta = (template.metadata ?? {}) as JsonObject;
    const desired = typeof spec.replicas === 'number' ? spec.replicas : 1;
    const hash = createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
    const uid = deployment.metadata.uid ?? '';
    const pods = store
      .list(podDef, namespace)
      .filter((p) => p.metadata.ownerReferences?.some((o) => o.uid === uid));
    const current = pods.filter((p) => p.metadata.labels?.['pod-template-hash'] === hash);
    const old = pods.filter((p) => p.metadata.labels?.['pod-template-hash'] !== hash);

    for (let i = current.length; i < desired; i++) {
      const pod = store.create(
        podDef,
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: `${name}-${hash}-${randomBytes(3).toString('hex').slice(0, 5)}`,
            namespace,
            labels: { ...((templateMeta.labels ?? {}) as Record<string, string>), 'pod-template-hash': hash },
            ...(isObject(templateMeta.annotations) ? { annotations: clone(templateMeta.annotations) as Record<string, string> } : {}),
            ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid, controller: true, blockOwnerDeletion: true }],
          },
          spec: clone(template.spec ?? {}),
          status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True' }] },
        },
        'all',
      );
      current.push(pod);
      startPod(pod);
    }
    if (current.length > desired) {
      const extras = [...current]
        .sort((a, b) => Number(isReady(a)) - Number(isReady(b)) || String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)))
        .slice(0, current.length - desired);
      for (const pod of extras) store.delete(podDef, namespace, pod.metadata.name ?? '');
    }
    const readyCurrent = current.filter(isReady).length;
    if (old.length > 0 && (desired === 0 || readyCurrent >= desired)) {
      for (const pod of old) store.delete(podDef, namespace, pod.metadata.name ?? '');
    }
    for (const pod of current) if (!isReady(pod) && !starting.has(pod.metadata.uid ?? '') && !failures.has(pod.metadata.uid ?? '')) startPod(pod);

    const remaining = store.list(podDef, namespace).filter((p) => p.metadata.ownerReferences?.some((o) => o.uid === uid));
    const updated = remaining.filter((p) => p.metadata.labels?.['pod-template-hash'] === hash);
    const ready = remaining.filter(isReady).length;
    const available = updated.filter(isReady).length >= desired;
    const status: JsonObject = {
      observedGeneration: deployment.metadata.generation,
      replicas: remaining.length,
      updatedReplicas: updated.length,
      readyReplicas: ready,
      availableReplicas: ready,
      ...(remaining.length - ready > 0 ? { unavailableReplicas: remaining.length - ready } : {}),
      conditions: [
        {
          type: 'Available',
          status: ready >= desired ? 'True' : 'False',
          reason: ready >= desired ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
        },
        {
          type: 'Progressing',
          status: 'True',
          reason: available && old.length === 0 ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
        },
      ],
    };
    if (readyCount(status) === 0) delete status.readyReplicas;
    if (readyCount(status) === 0) delete status.availableReplicas;
    if (JSON.stringify(deployment.status) !== JSON.stringify(status)) {
      store.update(deploymentDef, { ...deployment, status, metadata: { ...deployment.metadata, resourceVersion: undefined } }, 'status');
    }
  }

  function readyCount(status: JsonObject): number {
    return Number(status.readyReplicas ?? 0);
  }

  function reconcileSlices(namespace: string): void {
    const services = store.list(serviceDef, namespace);
    const pods = store.list(podDef, namespace);
    const desired = new Map<string, KubeObject>();
    for (const service of services) {
      const spec = (service.spec ?? {}) as JsonObject;
      const selector = spec.selector as Record<string, string> | undefined;
      const servicePorts = ((spec.ports ?? []) as JsonObject[]).length > 0 ? (spec.ports as JsonObject[]) : [{ port: 8080 }];
      for (const pod of pods) {
        const replica = running.get(pod.metadata.uid ?? '');
        if (!replica || !isReady(pod) || !matchesLabels(selector, pod.metadata.labels)) continue;
        const serviceName = service.metadata.name ?? '';
        const name = `${serviceName}-${pod.metadata.name}`.slice(0, 253);
        desired.set(name, {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: {
            name,
            namespace,
            labels: { 'kubernetes.io/service-name': serviceName, 'endpointslice.kubernetes.io/managed-by': SLICE_MANAGER },
            ownerReferences: [
              { apiVersion: 'v1', kind: 'Service', name: serviceName, uid: service.metadata.uid ?? '', controller: true, blockOwnerDeletion: true },
            ],
          },
          addressType: 'IPv4',
          endpoints: [
            {
              addresses: [replica.ip],
              conditions: { ready: true, serving: true, terminating: false },
              targetRef: { kind: 'Pod', namespace, name: pod.metadata.name, uid: pod.metadata.uid },
            },
          ],
          ports: servicePorts.map((p) => ({ name: (p.name as string | undefined) ?? '', protocol: (p.protocol as string | undefined) ?? 'TCP', port: replica.port })),
        });
      }
    }
    const existing = store.list(sliceDef, namespace, { labelSelector: `endpointslice.kubernetes.io/managed-by=${SLICE_MANAGER}` });
    for (const slice of existing) {
      const name = slice.metadata.name ?? '';
      const want = desired.get(name);
      if (!want) store.delete(sliceDef, namespace, name);
      else {
        store.update(sliceDef, want, 'all');
        desired.delete(name);
      }
    }
    for (const slice of desired.values()) store.create(sliceDef, slice, 'all');
  }

  const unsubscribe = store.subscribe(onEvent);
  // Adopt what exists already.
  for (const deployment of store.list(deploymentDef)) enqueue(`deployment|${deployment.metadata.namespace}|${deployment.metadata.name}`);
  for (const service of store.list(serviceDef)) enqueue(`slices|${service.metadata.namespace}`);

  const simulation: WorkloadSimulation = {
    replicas: () => [...running.values()].map(({ handle: _h, ...rest }) => ({ ...rest })),
    settled: async () => {
      for (;;) {
        await new Promise((resolve) => setImmediate(resolve));
        if (queue.size === 0 && scheduled === undefined && pending.size === 0) return;
        if (pending.size > 0) await Promise.allSettled([...pending]);
      }
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      unsubscribe();
      if (scheduled) clearImmediate(scheduled);
      scheduled = undefined;
      queue.clear();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.allSettled([...pending]);
      const replicas = [...running.values()];
      running.clear();
      await Promise.allSettled(replicas.map((r) => r.handle.stop()));
    },
  };
  api.onClose(() => simulation.stop());
  return simulation;
}
