/**
 * The Function CustomResourceDefinition as an object, for the provider to install or
 * check it and for tests to validate against. There is one source of truth:
 * `deploy/kubernetes/crd.yaml` (what `kubectl apply` and the Helm chart install), read
 * here on each call — no copy to drift from it, no module-level cache.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { FUNCTION_CRD_NAME } from './function-resource.js';

/** `deploy/kubernetes/crd.yaml` at the repository root, from this compiled file (`dist/src/providers/kubernetes/`). */
export const FUNCTION_CRD_PATH = fileURLToPath(new URL('../../../../deploy/kubernetes/crd.yaml', import.meta.url));

/** Reads and parses the CRD (default: the repository's `deploy/kubernetes/crd.yaml`). Throws when it is not the Function CRD. */
export function loadFunctionCrd(path: string = FUNCTION_CRD_PATH): V1CustomResourceDefinition {
  const crd = parse(readFileSync(path, 'utf8')) as V1CustomResourceDefinition;
  if (crd?.kind !== 'CustomResourceDefinition' || crd.metadata?.name !== FUNCTION_CRD_NAME) {
    throw new Error(`${path} is not the ${FUNCTION_CRD_NAME} CustomResourceDefinition`);
  }
  return crd;
}

/** The `openAPIV3Schema` of the CRD's served version `v1` (what the API server validates Functions with). */
export function functionSchema(crd: V1CustomResourceDefinition = loadFunctionCrd()): Record<string, unknown> {
  const version = crd.spec.versions.find((v) => v.name === 'v1');
  const schema = version?.schema?.openAPIV3Schema;
  if (!schema) throw new Error(`${FUNCTION_CRD_NAME} has no v1 openAPIV3Schema`);
  return schema as Record<string, unknown>;
}
