import { assertValidNamespace, DEFAULT_NAMESPACE, parseQualifiedName, type FunctionRef } from '../../core/index.js';

/** The `?namespace=` query value, validated, or the default namespace. */
export function namespaceParam(query: unknown): string {
  const ns = (query as { namespace?: unknown } | undefined)?.namespace;
  if (ns === undefined || ns === '') return DEFAULT_NAMESPACE;
  assertValidNamespace(ns);
  return ns;
}

/** `?namespace=` when given, else undefined (list every namespace). */
export function optionalNamespaceParam(query: unknown): string | undefined {
  const ns = (query as { namespace?: unknown } | undefined)?.namespace;
  return ns === undefined || ns === '' ? undefined : namespaceParam(query);
}

/** A function named by a path parameter (`name` or `name.namespace`) plus `?namespace=`. */
export function refParam(name: string, query: unknown): FunctionRef {
  return parseQualifiedName(name, namespaceParam(query));
}
