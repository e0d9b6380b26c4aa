/**
 * The Function resource as the owner of what is made for it. Every object of a function
 * (its revisions' Deployments, Services, HPAs, code ConfigMaps and ControllerRevisions)
 * carries an ownerReference to its Function, so `kubectl delete function NAME` lets
 * the garbage collector remove them all. Whoever writes first needs the Function's uid:
 * on a first deploy that is before the store has recorded it, so it is created here
 * (server-side apply), and the store claims it afterwards (kubernetes-store.ts).
 */
import { PatchStrategy, type KubernetesObject, type KubernetesObjectApi } from '@kubernetes/client-node';
import type { FunctionSpec } from '../../core/index.js';
import { FUNCTION_API_VERSION, FUNCTION_KIND, toFunctionResource, type FunctionResource } from './function-resource.js';
import type { FunctionOwner } from './manifests.js';
import { statusOf } from './api-status.js';

/** The field manager of every write: `kubectl get … --show-managed-fields` names us. */
export const FIELD_MANAGER = 'kube-serverless';

/** A JSON merge patch of `obj` (apiVersion, kind, name and namespace say which object) as our field manager; a `null` value deletes a key. */
export function mergePatch<T extends KubernetesObject>(objects: KubernetesObjectApi, obj: T): Promise<T> {
  return objects.patch(obj, undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch);
}

/** The owner reference of a Function the API server returned. */
export function ownerOf(fn: KubernetesObject): FunctionOwner & { generation?: number } {
  return { apiVersion: FUNCTION_API_VERSION, kind: FUNCTION_KIND, name: fn.metadata!.name!, uid: fn.metadata!.uid!, ...(fn.metadata?.generation === undefined ? {} : { generation: fn.metadata.generation }) };
}

/** Server-side applies the Function of `spec` (its spec becomes `spec`'s) and returns it as an owner. */
export async function applyFunctionResource(objects: KubernetesObjectApi, spec: FunctionSpec): Promise<FunctionOwner & { generation?: number }> {
  const fn = await objects.patch(toFunctionResource(spec) as KubernetesObject, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
  return ownerOf(fn);
}

/**
 * The Function of `spec` as an owner, left as it is when it exists (a revision's
 * deployment must never write its spec onto the function: a rollback's older spec would
 * replace the current one), created from `spec` when it does not.
 */
export async function ensureFunctionResource(objects: KubernetesObjectApi, spec: FunctionSpec): Promise<FunctionOwner & { generation?: number }> {
  try {
    const fn = await objects.read<FunctionResource & KubernetesObject>({ apiVersion: FUNCTION_API_VERSION, kind: FUNCTION_KIND, metadata: { name: spec.service, namespace: spec.namespace } });
    return ownerOf(fn);
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
  }
  return applyFunctionResource(objects, spec);
}
