/**
 * The Kubernetes objects one function becomes: a Deployment running its replicas, a
 * ClusterIP Service in front of them, an autoscaling/v2 HorizontalPodAutoscaler when
 * the function chose CPU scaling, and (see {@link codeConfigMaps}) the ConfigMaps that
 * carry its code archive, split into parts. The Kubernetes provider server-side-applies what these
 * functions return; they are pure (no I/O, no clock), so the same spec always yields
 * the same objects and tests validate them against the Kubernetes OpenAPI schemas.
 *
 * Conventions follow OpenFaaS' faas-netes where it has one (the `faas_function` label,
 * secrets as one projected volume at `/var/openfaas/secrets`, constraints as a node
 * selector, probes on the watchdog's port), so OpenFaaS tooling reads our objects.
 */
import { createHash } from 'node:crypto';
import type {
  V1ConfigMap,
  V1Container,
  V1Deployment,
  V1EnvVar,
  V1OwnerReference,
  V1PersistentVolumeClaim,
  V1Probe,
  V1ResourceRequirements,
  V1Service,
  V1Volume,
  V1VolumeMount,
  V2HorizontalPodAutoscaler,
} from '@kubernetes/client-node';
import {
  KssError,
  functionOf,
  runtimeImage,
  scaleSettings,
  SCALE_TARGET_LABEL,
  RUNTIMES,
  volumeEnvName,
  volumeMountPath,
  volumesOf,
  volumeSizeOf,
  type FunctionSpec,
  type Runtime,
} from '../../core/index.js';
import { VERSION } from '../../version.js';
import { FUNCTION_LABEL, functionLabels, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from './function-resource.js';

/** The port every replica listens on (`PORT`), as the OpenFaaS watchdog's 8080. */
export const FUNCTION_PORT = 8080;
/** The name of that port on the container and the Service. */
export const FUNCTION_PORT_NAME = 'http';
/** Where the Kubernetes Secrets a function lists appear (OpenFaaS' path; DESIGN.md, Functions). */
export const SECRETS_MOUNT_PATH = '/var/openfaas/secrets';
/** Where the code ConfigMaps are mounted, all parts in one folder (one projected volume). */
export const CODE_CONFIGMAP_MOUNT_PATH = '/var/kss/code';
/**
 * The archive's file name; part `i` of it is binaryData key (and file)
 * `code.tar.gz.part-<iii>` (see {@link codePartKey}).
 */
export const CODE_ARCHIVE_KEY = 'code.tar.gz';
/** Label on the first code ConfigMap: how many parts the archive has (`"1"` … `"73"`). */
export const CODE_PARTS_LABEL = 'serverless.kube.io/code-parts';
/** Where the runtime images' entrypoint unpacks the code (deploy/docker/code-entrypoint.sh). */
export const FUNCTION_CODE_DIR = '/home/app/function';
/** The uid replicas run as (the runtime images' `app` user, deploy/docker/*.Dockerfile). */
export const FUNCTION_UID = 10001;

/**
 * Largest part of an archive carried in one ConfigMap. Kubernetes refuses a ConfigMap
 * whose data exceeds 1 MiB (`MaxSecretSize`, checked on the decoded bytes by
 * ValidateConfigMap in k8s.io/kubernetes pkg/apis/core/validation; etcd's own request
 * limit, `--max-request-bytes`, is 1.5 MiB); 900 KiB leaves room for the object's
 * metadata. Larger archives are split over several ConfigMaps ({@link codeConfigMaps}).
 */
export const CONFIGMAP_CODE_LIMIT = 900 * 1024;
/**
 * Largest archive shipped in ConfigMaps at all (64 MiB = 73 parts). Every part lives in
 * etcd (whose default database quota is 2 GiB) and is re-applied on every resync; the
 * projected volume holding the parts is a tmpfs on the node (memory); and the
 * entrypoint unpacks into a 512 MiB emptyDir. Bigger built code belongs in an image.
 */
export const CODE_ARCHIVE_LIMIT = 64 * 1024 * 1024;
/** Digits of a part number in its key: 3 (sorted names = byte order up to 1000 parts, well above {@link CODE_ARCHIVE_LIMIT}'s 73). */
const PART_DIGITS = 3;

/** Annotation that chooses how a function scales (see {@link SCALING_ANNOTATION_VALUES}). */
export const SCALING_ANNOTATION = 'kss.scaling';
/**
 * `concurrency` (default): our own autoscaler sets the Deployment's replicas from
 * requests in flight, down to zero. `cpu`: a HorizontalPodAutoscaler scales on CPU
 * utilisation (`com.openfaas.scale.target` percent of `requests.cpu`, default 80, as
 * OpenFaaS Pro's `com.openfaas.scale.type: cpu`); it cannot reach zero, so our
 * scaler still takes an idle function to zero and back to one.
 */
export const SCALING_ANNOTATION_VALUES = ['concurrency', 'cpu'] as const;
/** Default CPU utilisation target of the HPA, percent (OpenFaaS Pro's default for `cpu` scaling). */
export const DEFAULT_CPU_TARGET_PERCENT = 80;

/** The PersistentVolumeClaim behind volume `name` (`kss.volume`): `kss-volume-<name>`, shared by every function naming it. */
export function volumeClaimName(name: string): string {
  return `kss-volume-${name}`;
}

/** Label on every volume claim the provider creates: the volume's name. */
export const VOLUME_LABEL = 'serverless.kube.io/volume';

/**
 * The pod's own name for volume `name` (a DNS label of at most 63 characters, apart
 * from the platform's `tmp`, `secrets`, … volumes): `volume-<name>`, or for a long name
 * its first 46 characters and a hash of the whole.
 */
export function podVolumeName(name: string): string {
  const full = `volume-${name}`;
  if (full.length <= 63) return full;
  return `volume-${name.slice(0, 46).replace(/-+$/, '')}-${createHash('sha256').update(name).digest('hex').slice(0, 8)}`;
}

/**
 * The PersistentVolumeClaims of the volumes a function names, to create when missing
 * (never applied over an existing one, never owned by a Function: deleting a function
 * keeps the data, and every function naming the volume shares the claim). ReadWriteMany,
 * since replicas of several functions on several nodes mount it at once; sized by
 * `kss.volume.size` (default 1Gi). The cluster's default StorageClass provides it (it
 * must support ReadWriteMany: NFS, CephFS, Longhorn RWX, …).
 */
export function volumeClaims(spec: FunctionSpec): Array<V1PersistentVolumeClaim & { kind: 'PersistentVolumeClaim' }> {
  const size = volumeSizeOf(spec);
  return volumesOf(spec).map(({ name }) => ({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: volumeClaimName(name),
      namespace: spec.namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [VOLUME_LABEL]: name },
    },
    spec: { accessModes: ['ReadWriteMany'], resources: { requests: { storage: size } } },
  }));
}

/** Pod-template annotation: a hash of everything that shapes the pods, so any change rolls them. */
export const SPEC_HASH_ANNOTATION = 'serverless.kube.io/spec-hash';

/** The Function resource that owns the objects (its uid comes from the API server). */
export interface FunctionOwner {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

/**
 * How a replica gets its code when the function brings code rather than an image:
 * - `configmap`: the archive is split in `parts` ConfigMaps (default 1): `name`
 *   (`<function>-code`) then `name-1`, `name-2`, … (see {@link codeConfigMaps}). One
 *   projected volume puts every part in `/var/kss/code` as `code.tar.gz.part-000`,
 *   `-001`, …; the pod gets `KSS_CODE_PARTS_DIR=/var/kss/code` and
 *   `KSS_CODE_PARTS=<parts>`, and the entrypoint (deploy/docker/code-entrypoint.sh)
 *   concatenates the parts in name order and unpacks the result. Always this contract,
 *   one part or many, so the entrypoint has one path for ConfigMaps (it still reads
 *   `KSS_CODE_ARCHIVE`, a single archive file, for Deployments written before parts).
 * - `url`: the entrypoint downloads `KSS_CODE_URL` (the gateway's code store) and
 *   unpacks it. Works only where every replica of the gateway can serve it.
 */
export type CodeDelivery = { kind: 'configmap'; name: string; parts?: number } | { kind: 'url'; url: string };

/** Options for {@link functionObjects}. */
export interface FunctionObjectsOptions {
  /** Sets `metadata.ownerReferences` on every object (controller, blockOwnerDeletion). */
  owner?: FunctionOwner;
  /**
   * Replicas the scaler decided. Default: `com.openfaas.scale.min` (1 unless set).
   * With CPU scaling the field is left out unless given, so the HPA owns it: pass it
   * then only to take the function to zero or back to one (an HPA does nothing while
   * its target has 0 replicas), or the apply and the HPA fight over the field.
   */
  replicas?: number;
  /** Runtime image per runtime (default `ghcr.io/kube-serverless/runtime-<runtime>:<version>`). */
  images?: Partial<Record<Runtime, string>>;
  /** Version naming the default runtime images (default this build's). */
  version?: string;
  /** Required when the spec has `code`. */
  code?: CodeDelivery;
  /** Default `IfNotPresent`. */
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
}

/** One object {@link functionObjects} returns; `kind` tells which. */
export type FunctionObject = (V1Deployment & { kind: 'Deployment' }) | (V1Service & { kind: 'Service' }) | (V2HorizontalPodAutoscaler & { kind: 'HorizontalPodAutoscaler' });

/** The name of the (first) ConfigMap carrying function `name`'s code. */
export function codeConfigMapName(name: string): string {
  return `${name}-code`;
}

/**
 * The name of part `index` of the code ConfigMaps whose first is `first`
 * ({@link codeConfigMapName}): `first` itself for part 0 (so a one-part archive keeps
 * the name it always had), `first-<index>` after.
 */
export function codePartName(first: string, index: number): string {
  return index === 0 ? first : `${first}-${index}`;
}

/** The binaryData key (and file name in the mount) of part `index`: `code.tar.gz.part-000`, … (zero-padded: name order is byte order). */
export function codePartKey(index: number): string {
  return `${CODE_ARCHIVE_KEY}.part-${String(index).padStart(PART_DIGITS, '0')}`;
}

/** How many ConfigMaps an archive of `bytes` bytes takes (at least 1: an empty archive still has a part). */
export function codePartCount(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / CONFIGMAP_CODE_LIMIT));
}

/** The image a function's replicas run: its runtime image when it brings code, else its own `image`. */
export function functionImage(spec: FunctionSpec, options: Pick<FunctionObjectsOptions, 'images' | 'version'> = {}): string {
  if (!spec.code) return spec.image;
  return options.images?.[spec.runtime] ?? runtimeImage(spec.runtime, options.version ?? VERSION);
}

/** The default runtime images of a version, one per runtime. */
export function defaultRuntimeImages(version: string = VERSION): Record<Runtime, string> {
  return Object.fromEntries(RUNTIMES.map((r) => [r, runtimeImage(r, version)])) as Record<Runtime, string>;
}

/** Reads `kss.scaling`; throws naming the annotation when it has another value. */
export function scalingMode(spec: Pick<FunctionSpec, 'annotations'>): (typeof SCALING_ANNOTATION_VALUES)[number] {
  const v = spec.annotations?.[SCALING_ANNOTATION];
  if (v === undefined || v === '') return 'concurrency';
  if (!(SCALING_ANNOTATION_VALUES as readonly string[]).includes(v)) {
    throw new KssError('KSS_INVALID_SPEC', `annotations.${SCALING_ANNOTATION}: "${v.slice(0, 40)}" must be one of ${SCALING_ANNOTATION_VALUES.join(', ')}`);
  }
  return v as (typeof SCALING_ANNOTATION_VALUES)[number];
}

/**
 * The Deployment, Service and (with `kss.scaling: cpu`) HPA for one function, in the
 * order they are applied (the Deployment before what refers to it). Throws
 * `KSS_INVALID_SPEC` naming the field when the spec holds something Kubernetes would
 * refuse (a label that is not a Kubernetes label, a constraint that is not
 * `key=value`, CPU scaling without `requests.cpu`) or when code has no delivery.
 */
export function functionObjects(spec: FunctionSpec, options: FunctionObjectsOptions = {}): FunctionObject[] {
  const name = spec.service;
  const namespace = spec.namespace;
  const ownerReferences = ownerRefs(options.owner);
  const scale = scaleSettings(spec);
  const mode = scalingMode(spec);
  const userLabels = kubernetesLabels(spec.labels, 'labels');
  const userAnnotations = kubernetesAnnotations(spec.annotations, 'annotations');
  // Ours last: a user's label cannot move the function out of its own selector.
  const labels = { ...userLabels, ...functionLabels(name) };
  const selector = { [FUNCTION_LABEL]: name };
  if (spec.code && !options.code) {
    throw new KssError('KSS_INVALID_SPEC', `code: ${spec.code} needs a delivery (a ConfigMap or a URL) to run on Kubernetes`);
  }
  const code = spec.code ? options.code : undefined;
  const parts = code?.kind === 'configmap' ? (code.parts ?? 1) : 0;
  if (code?.kind === 'configmap' && (!Number.isInteger(parts) || parts < 1 || parts > codePartCount(CODE_ARCHIVE_LIMIT))) {
    throw new KssError('KSS_INVALID_SPEC', `code: ${parts} ConfigMap parts is not between 1 and ${codePartCount(CODE_ARCHIVE_LIMIT)}`);
  }

  const volumes: V1Volume[] = [{ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } }];
  const mounts: V1VolumeMount[] = [{ name: 'tmp', mountPath: '/tmp' }];
  if (code) {
    // Unpacked here by the entrypoint: writable while the root filesystem is not.
    volumes.push({ name: 'function-code', emptyDir: { sizeLimit: '512Mi' } });
    mounts.push({ name: 'function-code', mountPath: FUNCTION_CODE_DIR });
  }
  if (code?.kind === 'configmap') {
    // One projected volume: every part, each from its own ConfigMap, side by side in one folder.
    const sources = Array.from({ length: parts }, (_, i) => ({ configMap: { name: codePartName(code.name, i), items: [{ key: codePartKey(i), path: codePartKey(i) }] } }));
    volumes.push({ name: 'code-archive', projected: { sources } });
    mounts.push({ name: 'code-archive', mountPath: CODE_CONFIGMAP_MOUNT_PATH, readOnly: true });
  }
  // Persistent volumes (kss.volume): each its claim, at the same path as on the local provider.
  const claims = volumesOf(spec);
  // A bad kss.volume.size fails here too, as any bad field (the claims are made by volumeClaims).
  volumeSizeOf(spec);
  for (const v of claims) {
    volumes.push({ name: podVolumeName(v.name), persistentVolumeClaim: { claimName: volumeClaimName(v.name), ...(v.readOnly ? { readOnly: true } : {}) } });
    mounts.push({ name: podVolumeName(v.name), mountPath: volumeMountPath(v.name), ...(v.readOnly ? { readOnly: true } : {}) });
  }
  const secrets = spec.secrets ?? [];
  for (const [i, s] of secrets.entries()) assertSubdomain(s, `secrets[${i}]`);
  if (secrets.length) {
    // One projected volume, as faas-netes: every key of every Secret is a file in one folder.
    volumes.push({ name: 'secrets', projected: { sources: secrets.map((s) => ({ secret: { name: s } })) } });
    mounts.push({ name: 'secrets', mountPath: SECRETS_MOUNT_PATH, readOnly: true });
  }

  // Long timeouts get time to finish in-flight requests on SIGTERM; the runtime's own
  // drain deadline (KSS_GRACE_MS) ends 2 s before the kubelet's SIGKILL.
  const graceSeconds = Math.ceil(spec.timeout) + 5;
  const container: V1Container = {
    name,
    image: functionImage(spec, options),
    imagePullPolicy: options.imagePullPolicy ?? 'IfNotPresent',
    ports: [{ name: FUNCTION_PORT_NAME, containerPort: FUNCTION_PORT, protocol: 'TCP' }],
    env: environment(spec, code, graceSeconds),
    readinessProbe: probe('/ready', { periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 3 }),
    livenessProbe: probe('/health', { periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 }),
    // Downloading and unpacking code happens before the runtime listens: up to 2 minutes
    // (120 × 1 s) before liveness starts counting.
    startupProbe: probe('/health', { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 120 }),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: FUNCTION_UID,
      runAsGroup: FUNCTION_UID,
      allowPrivilegeEscalation: false,
      // OpenFaaS' readOnlyRootFilesystem defaults to false; ours to true. Only an explicit false relaxes it.
      readOnlyRootFilesystem: spec.readOnlyRootFilesystem !== false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: mounts,
  };
  const resources = resourceRequirements(spec);
  if (resources) container.resources = resources;

  const nodeSelector = constraintsSelector(spec.constraints);
  const podAnnotations: Record<string, string> = {
    ...userAnnotations,
    'prometheus.io/scrape': 'true',
    'prometheus.io/port': String(FUNCTION_PORT),
    'prometheus.io/path': '/metrics',
  };
  const podSpec: NonNullable<V1Deployment['spec']>['template']['spec'] = {
    automountServiceAccountToken: false,
    // Service links flood every pod with env vars for every Service in the namespace.
    enableServiceLinks: false,
    terminationGracePeriodSeconds: graceSeconds,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: FUNCTION_UID,
      runAsGroup: FUNCTION_UID,
      // The volumes' group: the kubelet makes each claim's root group-owned (setgid) by it where the driver supports it.
      fsGroup: FUNCTION_UID,
      // Volumes shared by many functions can be large: chown them recursively only when their root is not ours yet.
      ...(claims.length ? { fsGroupChangePolicy: 'OnRootMismatch' } : {}),
      seccompProfile: { type: 'RuntimeDefault' },
    },
    containers: [container],
    volumes,
    ...(nodeSelector ? { nodeSelector } : {}),
  };
  // The whole spec (code digest included: a new archive in the same ConfigMap must roll the pods) and the template.
  podAnnotations[SPEC_HASH_ANNOTATION] = specHash({ spec, code, labels, podAnnotations, podSpec });

  const replicas = options.replicas ?? (mode === 'cpu' ? undefined : scale.min);
  if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 0)) {
    throw new KssError('KSS_INVALID_SPEC', `replicas: ${replicas} is not a whole number of replicas`);
  }
  const deployment: FunctionObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(name, namespace, labels, ownerReferences, userAnnotations),
    spec: {
      ...(replicas !== undefined ? { replicas } : {}),
      selector: { matchLabels: selector },
      // Never fewer ready replicas than asked for during a roll-out.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      revisionHistoryLimit: 3,
      template: { metadata: { labels, annotations: podAnnotations }, spec: podSpec },
    },
  };

  const service: FunctionObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(name, namespace, functionLabels(name), ownerReferences),
    spec: {
      type: 'ClusterIP',
      selector,
      ports: [{ name: FUNCTION_PORT_NAME, port: FUNCTION_PORT, targetPort: FUNCTION_PORT_NAME, protocol: 'TCP' }],
    },
  };

  const out: FunctionObject[] = [deployment, service];
  if (mode === 'cpu') {
    if (!spec.requests?.cpu) {
      throw new KssError('KSS_INVALID_SPEC', `annotations.${SCALING_ANNOTATION}: CPU scaling measures utilisation against requests.cpu; set requests.cpu (e.g. "100m")`);
    }
    const target = spec.labels?.[SCALE_TARGET_LABEL] === undefined ? DEFAULT_CPU_TARGET_PERCENT : scale.target;
    out.push({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: meta(name, namespace, functionLabels(name), ownerReferences),
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
        // The HPA's minReplicas must be at least 1 (scale to zero is our scaler's job).
        minReplicas: Math.max(1, scale.min),
        maxReplicas: Math.max(1, scale.max),
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: target } } }],
      },
    });
  }
  return out;
}

/**
 * The ConfigMaps carrying function `name`'s code archive (a tar.gz), in part order.
 * A ConfigMap holds at most 1 MiB ({@link CONFIGMAP_CODE_LIMIT}), so the archive is cut
 * into consecutive slices of at most that many bytes: part `i` is binaryData key
 * {@link codePartKey}(i) of ConfigMap {@link codePartName}(`<name>-code`, i). Keeping
 * the code in the cluster (rather than behind a URL of one gateway replica's data dir)
 * lets any gateway replica reuse it and any pod start from it. The first carries
 * {@link CODE_PARTS_LABEL} (the count) so a reader knows how many to expect. Throws
 * `KSS_PAYLOAD_TOO_LARGE` (413) above {@link CODE_ARCHIVE_LIMIT}, naming both sizes.
 */
export function codeConfigMaps(name: string, namespace: string, archive: Buffer, owner?: FunctionOwner): V1ConfigMap[] {
  if (archive.length > CODE_ARCHIVE_LIMIT) {
    throw new KssError(
      'KSS_PAYLOAD_TOO_LARGE',
      `code: the built code of "${name}" is ${archive.length} bytes (${(archive.length / 1048576).toFixed(1)} MiB); at most ${CODE_ARCHIVE_LIMIT} bytes (${CODE_ARCHIVE_LIMIT / 1048576} MiB) ship in ConfigMaps — put bigger code in an image`,
    );
  }
  const count = codePartCount(archive.length);
  const first = codeConfigMapName(name);
  return Array.from({ length: count }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(codePartName(first, i), namespace, { ...functionLabels(name), ...(i === 0 ? { [CODE_PARTS_LABEL]: String(count) } : {}) }, ownerRefs(owner)),
    binaryData: { [codePartKey(i)]: archive.subarray(i * CONFIGMAP_CODE_LIMIT, (i + 1) * CONFIGMAP_CODE_LIMIT).toString('base64') },
  }));
}

function meta(
  name: string,
  namespace: string,
  labels: Record<string, string>,
  ownerReferences: V1OwnerReference[] | undefined,
  annotations?: Record<string, string>,
): V1Deployment['metadata'] & object {
  return {
    name,
    namespace,
    labels: { ...labels },
    ...(annotations && Object.keys(annotations).length ? { annotations: { ...annotations } } : {}),
    ...(ownerReferences ? { ownerReferences } : {}),
  };
}

function ownerRefs(owner: FunctionOwner | undefined): V1OwnerReference[] | undefined {
  if (!owner) return undefined;
  return [{ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid, controller: true, blockOwnerDeletion: true }];
}

/** Timings: readiness every 2 s with a 1 s timeout, as faas-netes' defaults; see the call sites. */
function probe(path: string, t: { periodSeconds: number; timeoutSeconds: number; failureThreshold: number }): V1Probe {
  return { httpGet: { path, port: FUNCTION_PORT_NAME, scheme: 'HTTP' }, successThreshold: 1, ...t };
}

function revisionEnv(spec: FunctionSpec): V1EnvVar[] {
  const revision = functionOf({ name: spec.service, namespace: spec.namespace }).revision;
  return revision ? [{ name: 'KSS_REVISION', value: revision }] : [];
}

/** Env names the platform sets; a function's envVars cannot replace them (the replica would stop answering). */
const RESERVED_ENV = /^(PORT|HOST|KSS_[A-Z0-9_]*)$/;

function environment(spec: FunctionSpec, code: CodeDelivery | undefined, graceSeconds: number): V1EnvVar[] {
  const env: V1EnvVar[] = [
    { name: 'PORT', value: String(FUNCTION_PORT) },
    // A revision's deployment (NAME--rN) runs the function NAME, as on the local provider.
    { name: 'KSS_FUNCTION_NAME', value: functionOf({ name: spec.service, namespace: spec.namespace }).ref.name },
    { name: 'KSS_FUNCTION_NAMESPACE', value: spec.namespace },
    ...revisionEnv(spec),
    { name: 'KSS_TIMEOUT_SECONDS', value: String(spec.timeout) },
    { name: 'KSS_GRACE_MS', value: String((graceSeconds - 2) * 1000) },
  ];
  if (spec.handler) env.push({ name: 'KSS_HANDLER', value: spec.handler });
  if (code) env.push({ name: 'KSS_CODE_DIR', value: FUNCTION_CODE_DIR });
  if (code?.kind === 'configmap') {
    env.push({ name: 'KSS_CODE_PARTS_DIR', value: CODE_CONFIGMAP_MOUNT_PATH });
    env.push({ name: 'KSS_CODE_PARTS', value: String(code.parts ?? 1) });
  }
  if (code?.kind === 'url') env.push({ name: 'KSS_CODE_URL', value: code.url });
  for (const v of volumesOf(spec)) env.push({ name: volumeEnvName(v.name), value: volumeMountPath(v.name) });
  const user = spec.envVars ?? {};
  if (spec.envProcess !== undefined && user.fprocess === undefined) env.push({ name: 'fprocess', value: spec.envProcess });
  // The exec watchdog kills a command at exec_timeout; default it to the function's timeout, as the local provider does.
  if (spec.runtime === 'exec' && user.exec_timeout === undefined) env.push({ name: 'exec_timeout', value: `${spec.timeout}s` });
  for (const [k, v] of Object.entries(user)) {
    if (RESERVED_ENV.test(k)) continue;
    env.push({ name: k, value: v });
  }
  return env;
}

function resourceRequirements(spec: FunctionSpec): V1ResourceRequirements | undefined {
  const pick = (r: FunctionSpec['limits']) => {
    const out: Record<string, string> = {};
    if (r?.cpu) out.cpu = r.cpu;
    if (r?.memory) out.memory = r.memory;
    return Object.keys(out).length ? out : undefined;
  };
  const limits = pick(spec.limits);
  const requests = pick(spec.requests);
  if (!limits && !requests) return undefined;
  return { ...(limits ? { limits } : {}), ...(requests ? { requests } : {}) };
}

/** OpenFaaS constraints (`key=value` or `key==value`, as faas-netes reads them) → a node selector. */
function constraintsSelector(constraints: string[] | undefined): Record<string, string> | undefined {
  if (!constraints?.length) return undefined;
  const out: Record<string, string> = {};
  for (const [i, c] of constraints.entries()) {
    const m = /^\s*([^=\s]+)\s*==?\s*(\S*)\s*$/.exec(c);
    if (!m || !isQualifiedName(m[1]!) || !isLabelValue(m[2]!)) {
      throw new KssError('KSS_INVALID_SPEC', `constraints[${i}]: "${c.slice(0, 60)}" is not a node label constraint such as "kubernetes.io/arch=arm64"`);
    }
    out[m[1]!] = m[2]!;
  }
  return out;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** A label/annotation key: `[prefix/]name`, prefix a DNS subdomain ≤ 253, name ≤ 63 (Kubernetes' IsQualifiedName). */
export function isQualifiedName(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
  return name.length > 0 && name.length <= 63 && NAME_PART.test(name);
}

/** A label value: empty, or ≤ 63 of `[-A-Za-z0-9_.]` starting and ending alphanumeric (Kubernetes' IsValidLabelValue). */
export function isLabelValue(value: string): boolean {
  return value === '' || (value.length <= 63 && NAME_PART.test(value));
}

function assertSubdomain(name: string, field: string): void {
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    throw new KssError('KSS_INVALID_SPEC', `${field}: "${name.slice(0, 60)}" is not a Kubernetes Secret name (lower-case letters, digits, '-' and '.')`);
  }
}

function kubernetesLabels(labels: Record<string, string> | undefined, field: string): Record<string, string> {
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (!isQualifiedName(k)) throw new KssError('KSS_INVALID_SPEC', `${field}: "${k.slice(0, 60)}" is not a Kubernetes label key`);
    if (!isLabelValue(v)) throw new KssError('KSS_INVALID_SPEC', `${field}.${k}: "${v.slice(0, 60)}" is not a Kubernetes label value (at most 63 letters, digits, '-', '_' and '.')`);
  }
  return { ...(labels ?? {}) };
}

function kubernetesAnnotations(annotations: Record<string, string> | undefined, field: string): Record<string, string> {
  for (const k of Object.keys(annotations ?? {})) {
    if (!isQualifiedName(k)) throw new KssError('KSS_INVALID_SPEC', `${field}: "${k.slice(0, 60)}" is not a Kubernetes annotation key`);
  }
  return { ...(annotations ?? {}) };
}

/** sha256 of the canonical JSON (keys sorted), first 16 hex digits: changes whenever the pods would. */
function specHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
