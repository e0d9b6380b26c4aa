/**
 * The `Function` custom resource (`functions.serverless.kube.io/v1`) and its mapping
 * to and from our {@link FunctionSpec}. The resource's `spec` is the FunctionSpec
 * without `service` and `namespace` (those are `metadata.name` and
 * `metadata.namespace`), so a user's `kubectl apply -f` and the gateway's API share
 * one shape. The CRD's OpenAPI schema (`deploy/kubernetes/crd.yaml`, loaded by
 * `crd.ts`) describes the same fields; reading goes through `parseFunctionSpec`, so a
 * resource that passed the API server's schema is still checked by the same rules the
 * gateway applies to its API.
 *
 * Pure: no I/O.
 */
import { functionOf, isKssError, KssError, parseFunctionSpec, isPlainObject, type FunctionSpec, type ParseSpecOptions } from '../../core/index.js';

/** The CRD's API group (DESIGN.md, Names). */
export const FUNCTION_GROUP = 'serverless.kube.io';
/** The CRD's only version. */
export const FUNCTION_VERSION = 'v1';
/** `apiVersion` of a Function resource. */
export const FUNCTION_API_VERSION = `${FUNCTION_GROUP}/${FUNCTION_VERSION}`;
/** The resource's kind. */
export const FUNCTION_KIND = 'Function';
/** The resource's plural: the path segment in `/apis/serverless.kube.io/v1/namespaces/{ns}/functions`. */
export const FUNCTION_PLURAL = 'functions';
/** The CRD's own name, `<plural>.<group>` as Kubernetes requires. */
export const FUNCTION_CRD_NAME = `${FUNCTION_PLURAL}.${FUNCTION_GROUP}`;

/** Label carrying the function's name on every object made for it (and the Service/Deployment selector). */
export const FUNCTION_LABEL = 'serverless.kube.io/function';
/** The recommended Kubernetes label saying who manages an object. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
/** Our value of {@link MANAGED_BY_LABEL}. */
export const MANAGED_BY_VALUE = 'kube-serverless';
/**
 * The label OpenFaaS (faas-netes) puts on a function's pods; OpenFaaS tooling and our
 * Grafana dashboard (deploy/grafana) select pods by it.
 */
export const OPENFAAS_FUNCTION_LABEL = 'faas_function';

/**
 * On every object of a revision's deployment (`NAME--r3`: its Deployment, Service, HPA,
 * pods, code ConfigMaps) and on the revision's ControllerRevision: the function it is a
 * revision of, so `kubectl get all -l serverless.kube.io/revision-of=NAME` shows them all.
 */
export const REVISION_OF_LABEL = 'serverless.kube.io/revision-of';
/** Beside {@link REVISION_OF_LABEL}: which revision (`r3`). */
export const REVISION_ID_LABEL = 'serverless.kube.io/revision';

/**
 * The labels that mark an object as belonging to `name`: a function, or one revision's
 * deployment of it (`NAME--r3`), whose objects also name the function and the revision.
 * OpenFaaS' `faas_function` always names the function (its tooling and our Grafana
 * dashboard group by it); selectors use {@link FUNCTION_LABEL}, which is per deployment.
 */
export function functionLabels(name: string): Record<string, string> {
  const { ref, revision } = functionOf({ name, namespace: '' });
  return {
    [FUNCTION_LABEL]: name,
    [OPENFAAS_FUNCTION_LABEL]: ref.name,
    [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
    ...(revision ? { [REVISION_OF_LABEL]: ref.name, [REVISION_ID_LABEL]: revision } : {}),
  };
}

/** A condition in the resource's status, in the shape of `metav1.Condition`. */
export interface FunctionCondition {
  /** `Ready` (replicas serving), `Progressing`, `Degraded`… */
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  /** RFC 3339 time the status last changed. */
  lastTransitionTime?: string;
  observedGeneration?: number;
}

/** What the reconciler writes to the `status` subresource. */
export interface FunctionResourceStatus {
  /** Replicas the function's Deployment asks for. */
  replicas?: number;
  /** Replicas ready to serve. */
  availableReplicas?: number;
  /** `metadata.generation` this status describes. */
  observedGeneration?: number;
  conditions?: FunctionCondition[];
  /** Where the function is invoked through the gateway. */
  url?: string;
  /** Each revision that runs, newest first (the provider writes these with the counts above). */
  revisions?: Array<{ revision: string; replicas: number; availableReplicas: number }>;
  /** The split, as Knative's `status.traffic` (the revision store writes it with every change). */
  traffic?: Array<{ revision: string; percent: number }>;
  /** The split in one line (`r4=90% r5=10%`), for `kubectl get functions`. */
  split?: string;
  /** The newest revision (it may serve nothing yet: a canary at 0%, or one not ready). */
  latestRevision?: string;
  /** A canary in progress, in one line. */
  canary?: string;
}

/** The resource's `spec`: a FunctionSpec without `service` and `namespace`. */
export type FunctionResourceSpec = Omit<FunctionSpec, 'service' | 'namespace'>;

/** A `Function` custom resource as stored by the API server. */
export interface FunctionResource {
  apiVersion: typeof FUNCTION_API_VERSION;
  kind: typeof FUNCTION_KIND;
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    [key: string]: unknown;
  };
  spec: FunctionResourceSpec;
  status?: FunctionResourceStatus;
}

/** Options for {@link toFunctionResource}. */
export interface ToFunctionResourceOptions {
  /** Namespace of the resource (default: the spec's own). */
  namespace?: string;
  /** Extra annotations on the resource's metadata (the gateway's bookkeeping). */
  annotations?: Record<string, string>;
}

/**
 * The Function resource that stores `spec`. Every FunctionSpec field is kept (the
 * image too, even when it is the default runtime image), so
 * `fromFunctionResource(toFunctionResource(s))` equals `s`.
 */
export function toFunctionResource(spec: FunctionSpec, options: ToFunctionResourceOptions = {}): FunctionResource {
  const { service, namespace: specNamespace, ...rest } = spec;
  const namespace = options.namespace ?? specNamespace;
  // Copies, so a caller mutating the resource (e.g. a server-side apply patch) never changes the spec.
  const body = structuredClone(rest);
  return {
    apiVersion: FUNCTION_API_VERSION,
    kind: FUNCTION_KIND,
    metadata: {
      name: service,
      namespace,
      labels: functionLabels(service),
      annotations: { ...(options.annotations ?? {}) },
    },
    spec: body,
  };
}

/**
 * Reads a Function resource (from the API server, a watch event or a user's YAML) into a
 * validated FunctionSpec. Throws {@link KssError} (`KSS_INVALID_SPEC`, or the code
 * parseFunctionSpec chose) whose message names the resource's field:
 * `metadata.name: …`, `spec.runtime: …`, `spec.limits.memory: …`.
 */
export function fromFunctionResource(obj: unknown, options: ParseSpecOptions = {}): FunctionSpec {
  if (!isPlainObject(obj)) throw new KssError('KSS_INVALID_SPEC', 'Function: expected an object');
  if (obj.apiVersion !== FUNCTION_API_VERSION) {
    throw new KssError('KSS_INVALID_SPEC', `apiVersion: expected "${FUNCTION_API_VERSION}", got ${describe(obj.apiVersion)}`);
  }
  if (obj.kind !== FUNCTION_KIND) throw new KssError('KSS_INVALID_SPEC', `kind: expected "${FUNCTION_KIND}", got ${describe(obj.kind)}`);
  if (!isPlainObject(obj.metadata)) throw new KssError('KSS_INVALID_SPEC', 'metadata: expected an object with name and namespace');
  const spec = obj.spec === undefined ? {} : obj.spec;
  if (!isPlainObject(spec)) throw new KssError('KSS_INVALID_SPEC', 'spec: expected an object');
  // `service`/`namespace` live in metadata; a copy in spec (not in the CRD's schema) is ignored.
  const { service: _service, namespace: _namespace, ...fields } = spec;
  const input = { ...fields, service: obj.metadata.name, namespace: obj.metadata.namespace };
  try {
    return parseFunctionSpec(input, options);
  } catch (err) {
    if (!isKssError(err)) throw err;
    throw new KssError(err.code, resourceField(err.message), { cause: err });
  }
}

/** Rewrites parseFunctionSpec's field prefix (`runtime: …`) to the resource's (`spec.runtime: …`). */
function resourceField(message: string): string {
  if (message.startsWith('service:')) return `metadata.name:${message.slice('service:'.length)}`;
  if (message.startsWith('namespace:')) return `metadata.namespace:${message.slice('namespace:'.length)}`;
  if (message.startsWith('body:')) return `spec:${message.slice('body:'.length)}`;
  return `spec.${message}`;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}
