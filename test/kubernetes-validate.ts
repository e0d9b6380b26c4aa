/**
 * Offline validation of Kubernetes objects (no cluster runs here): each object is
 * checked by the `kubernetes-models` class of its apiVersion/kind (validators
 * generated from the Kubernetes OpenAPI schemas), and `Function` resources by the
 * CRD's own `openAPIV3Schema` with ajv, as the API server would. An unknown
 * apiVersion/kind is a failure, never a pass.
 *
 * What the generated validators do not catch: unknown fields (a typo such as
 * `readinesProbe` passes them). The objects manifests.ts builds are typed with
 * @kubernetes/client-node's V1Deployment & co., so the compiler catches those there;
 * the YAML files rely on the assertions in test/kubernetes-manifests.test.ts.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ControllerRevision } from 'kubernetes-models/apps/v1/ControllerRevision';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';

/** A model class: constructed from the object, `validate()` throws on a schema violation. */
type ModelClass = new (data: never) => { validate(): void };

/** apiVersion/kind → the kubernetes-models class that validates it. */
export const MODEL_CLASSES: Record<string, ModelClass> = {
  'v1/Namespace': Namespace as unknown as ModelClass,
  'v1/Service': Service as unknown as ModelClass,
  'v1/ServiceAccount': ServiceAccount as unknown as ModelClass,
  'v1/ConfigMap': ConfigMap as unknown as ModelClass,
  'v1/Secret': Secret as unknown as ModelClass,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim as unknown as ModelClass,
  'apps/v1/Deployment': Deployment as unknown as ModelClass,
  'apps/v1/ControllerRevision': ControllerRevision as unknown as ModelClass,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler as unknown as ModelClass,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget as unknown as ModelClass,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy as unknown as ModelClass,
  'networking.k8s.io/v1/Ingress': Ingress as unknown as ModelClass,
  'rbac.authorization.k8s.io/v1/Role': Role as unknown as ModelClass,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding as unknown as ModelClass,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole as unknown as ModelClass,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding as unknown as ModelClass,
  'apiextensions.k8s.io/v1/CustomResourceDefinition': CustomResourceDefinition as unknown as ModelClass,
};

/** Kinds that are not namespaced. */
export const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition']);

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

/**
 * Validates `obj` with the kubernetes-models class of its apiVersion/kind, or (for a
 * `serverless.kube.io/v1` Function) with `functionValidator`. Throws an Error naming
 * the object and every schema violation.
 */
export function validateObject(obj: KubeObject, functionValidator?: ValidateFunction): void {
  const id = `${obj.apiVersion}/${obj.kind}`;
  const label = `${id} ${obj.metadata?.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata?.name ?? '(no name)'}`;
  if (!obj.metadata?.name) throw new Error(`${label}: metadata.name is missing`);
  if (obj.apiVersion === 'serverless.kube.io/v1' && obj.kind === 'Function') {
    if (!functionValidator) throw new Error(`${label}: no CRD schema to validate a Function with`);
    if (!functionValidator(obj)) throw new Error(`${label}: ${JSON.stringify(functionValidator.errors)}`);
    return;
  }
  const Model = MODEL_CLASSES[id];
  if (!Model) throw new Error(`${label}: unknown apiVersion/kind (no kubernetes-models class mapped)`);
  try {
    new Model(obj as never).validate();
  } catch (err) {
    const details = (err as { errors?: unknown }).errors;
    throw new Error(`${label}: ${(err as Error).message}${details ? ` ${JSON.stringify(details)}` : ''}`);
  }
}

/**
 * An ajv validator for a CRD's `openAPIV3Schema`: the Kubernetes extensions
 * (`x-kubernetes-*`) are accepted as annotations, and the formats Kubernetes knows
 * (int32, int64, date-time) are checked. The schema is wrapped so apiVersion/kind
 * and metadata.name are required, as the API server requires them of any object.
 */
export function crdValidator(openAPIV3Schema: Record<string, unknown>): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, strictTypes: false, useDefaults: false });
  for (const k of ['x-kubernetes-preserve-unknown-fields', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-int-or-string', 'x-kubernetes-embedded-resource']) {
    ajv.addKeyword(k);
  }
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
  return ajv.compile({ allOf: [openAPIV3Schema, { type: 'object', required: ['apiVersion', 'kind', 'metadata'], properties: { metadata: { type: 'object', required: ['name'] } } }] });
}

/**
 * The structural-schema rules of apiextensions.k8s.io/v1 that matter here: every
 * node has a `type` (unless it preserves unknown fields or is int-or-string), no
 * node has both `properties` and `additionalProperties`, and `x-kubernetes-list-map-keys`
 * are required properties of the items. Returns the violations (empty when structural).
 */
export function structuralViolations(schema: Record<string, unknown>, path = 'openAPIV3Schema'): string[] {
  const out: string[] = [];
  const exempt = schema['x-kubernetes-preserve-unknown-fields'] === true || schema['x-kubernetes-int-or-string'] === true;
  if (typeof schema.type !== 'string' && !exempt) out.push(`${path}: no type`);
  if (schema.properties && schema.additionalProperties) out.push(`${path}: both properties and additionalProperties`);
  for (const k of ['anyOf', 'oneOf', 'allOf', 'not']) if (k in schema) out.push(`${path}: ${k} is not used here (structural schemas restrict it)`);
  const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  for (const [k, v] of Object.entries(props)) out.push(...structuralViolations(v, `${path}.properties.${k}`));
  if (schema.items && typeof schema.items === 'object') {
    const items = schema.items as Record<string, unknown>;
    out.push(...structuralViolations(items, `${path}.items`));
    const keys = schema['x-kubernetes-list-map-keys'] as string[] | undefined;
    for (const key of keys ?? []) if (!((items.required as string[] | undefined) ?? []).includes(key)) out.push(`${path}: list-map key ${key} is not required`);
  }
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    out.push(...structuralViolations(schema.additionalProperties as Record<string, unknown>, `${path}.additionalProperties`));
  }
  return out;
}

/** True when every key/value of `selector` is in `labels`. */
export function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}
