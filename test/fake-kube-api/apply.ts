/**
 * Patch semantics of the fake API server:
 *
 * - {@link mergePatch}: JSON merge patch, RFC 7386 (exact).
 * - {@link strategicMergePatch}: approximation of strategic merge patch: a merge
 *   patch in which lists of objects that share a merge key (see {@link listMergeKey})
 *   are merged item by item instead of replaced. `$patch`/`$retainKeys`
 *   directives are not supported.
 * - {@link serverSideApply}: approximation of server-side apply: the applied
 *   configuration is merged into the live object (maps recursively, keyed lists
 *   item by item, everything else replaced) after removing the fields that the
 *   same field manager applied last time and no longer applies. Ownership
 *   conflicts between managers are NOT detected (every apply behaves as `force=true`).
 * - {@link jsonPatch}: JSON patch, RFC 6902 (exact: add, remove, replace, move, copy, test).
 */

/** A JSON object. */
export type JsonObject = Record<string, unknown>;

/** True for a non-null, non-array object. */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep copy of a JSON value. */
export function clone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** RFC 7386 JSON merge patch. Returns a new value; inputs are not modified. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const result: JsonObject = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

const MERGE_KEYS = ['name', 'mountPath', 'containerPort', 'port', 'type', 'devicePath', 'ip'];

/**
 * The key two lists of objects are merged by, or undefined when they are atomic:
 * the first of `name`, `mountPath`, `containerPort`, `port`, `type`, ... present in
 * every item of both lists. This covers containers, env, volumes, volumeMounts,
 * ports (container and service) and conditions, like the real strategic merge keys.
 */
export function listMergeKey(a: unknown[], b: unknown[]): string | undefined {
  const items = [...a, ...b];
  if (items.length === 0 || !items.every(isObject)) return undefined;
  return MERGE_KEYS.find((key) => items.every((item) => (item as JsonObject)[key] !== undefined));
}

function keyOf(item: unknown, key: string): string {
  return JSON.stringify((item as JsonObject)[key]);
}

/** Merge `patch` into `target`: maps recursively, keyed lists by key, the rest replaced; null deletes. */
function deepMerge(target: unknown, patch: unknown): unknown {
  if (Array.isArray(patch) && Array.isArray(target)) {
    const key = listMergeKey(target, patch);
    if (!key) return clone(patch);
    const result = clone(target);
    for (const item of patch) {
      const index = result.findIndex((existing) => keyOf(existing, key) === keyOf(item, key));
      if (index >= 0) result[index] = deepMerge(result[index], item);
      else result.push(clone(item));
    }
    return result;
  }
  if (!isObject(patch)) return clone(patch);
  const result: JsonObject = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = deepMerge(result[key], value);
  }
  return result;
}

/** Approximate strategic merge patch (see module doc). */
export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  return deepMerge(target, patch);
}

/** Remove from `live` what `previous` set and `next` no longer sets (in place). */
function prune(live: unknown, previous: unknown, next: unknown): unknown {
  if (isObject(live) && isObject(previous)) {
    const nextObject = isObject(next) ? next : {};
    for (const [key, value] of Object.entries(previous)) {
      if (!(key in nextObject)) delete live[key];
      else live[key] = prune(live[key], value, nextObject[key]);
    }
    return live;
  }
  if (Array.isArray(live) && Array.isArray(previous) && Array.isArray(next)) {
    const key = listMergeKey([...live, ...previous], next);
    if (!key) return live;
    const nextKeys = new Set(next.map((item) => keyOf(item, key)));
    const gone = new Set(previous.map((item) => keyOf(item, key)).filter((k) => !nextKeys.has(k)));
    return live
      .filter((item) => !gone.has(keyOf(item, key)))
      .map((item) => {
        const before = previous.find((p) => keyOf(p, key) === keyOf(item, key));
        const after = next.find((n) => keyOf(n, key) === keyOf(item, key));
        return before === undefined ? item : prune(item, before, after);
      });
  }
  return live;
}

/**
 * Approximate server-side apply (see module doc).
 * @param live the current object, or undefined when the apply creates it
 * @param lastApplied what this field manager applied last time (undefined if never)
 * @param applied the applied configuration
 */
export function serverSideApply(live: unknown, lastApplied: unknown, applied: unknown): JsonObject {
  const pruned = lastApplied === undefined ? clone(live) : prune(clone(live), lastApplied, applied);
  return deepMerge(pruned, applied) as JsonObject;
}

/** An RFC 6902 operation. */
export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

/** Thrown when a JSON patch cannot be applied (the server answers 422). */
export class PatchError extends Error {}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new PatchError(`invalid JSON pointer "${path}"`);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: unknown, tokens: string[]): { parent: unknown; last: string } {
  let parent: unknown = doc;
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(parent)) parent = parent[Number(token)];
    else if (isObject(parent)) parent = parent[token];
    else parent = undefined;
    if (parent === undefined) throw new PatchError(`path not found: /${tokens.join('/')}`);
  }
  return { parent, last: tokens[tokens.length - 1] };
}

function read(doc: unknown, path: string): unknown {
  let value: unknown = doc;
  for (const token of pointer(path)) {
    if (Array.isArray(value)) value = value[Number(token)];
    else if (isObject(value)) value = value[token];
    else value = undefined;
    if (value === undefined) throw new PatchError(`path not found: ${path}`);
  }
  return value;
}

function remove(doc: unknown, path: string): unknown {
  const { parent, last } = parentOf(doc, pointer(path));
  if (Array.isArray(parent)) {
    const index = Number(last);
    if (!(index >= 0 && index < parent.length)) throw new PatchError(`path not found: ${path}`);
    return parent.splice(index, 1)[0];
  }
  if (!isObject(parent) || !(last in parent)) throw new PatchError(`path not found: ${path}`);
  const value = parent[last];
  delete parent[last];
  return value;
}

function add(doc: unknown, path: string, value: unknown, replace: boolean): unknown {
  const tokens = pointer(path);
  if (tokens.length === 0) return clone(value);
  const { parent, last } = parentOf(doc, tokens);
  if (Array.isArray(parent)) {
    const index = last === '-' ? parent.length : Number(last);
    if (!(index >= 0 && index <= parent.length)) throw new PatchError(`index out of range: ${path}`);
    if (replace) parent[index] = clone(value);
    else parent.splice(index, 0, clone(value));
  } else if (isObject(parent)) {
    if (replace && !(last in parent)) throw new PatchError(`path not found: ${path}`);
    parent[last] = clone(value);
  } else {
    throw new PatchError(`path not found: ${path}`);
  }
  return doc;
}

/** RFC 6902 JSON patch. Returns a new document; the input is not modified. */
export function jsonPatch(target: unknown, operations: unknown): unknown {
  if (!Array.isArray(operations)) throw new PatchError('a JSON patch must be an array of operations');
  let doc = clone(target);
  for (const operation of operations as JsonPatchOperation[]) {
    switch (operation.op) {
      case 'add':
        doc = add(doc, operation.path, operation.value, false);
        break;
      case 'replace':
        doc = add(doc, operation.path, operation.value, true);
        break;
      case 'remove':
        remove(doc, operation.path);
        break;
      case 'move': {
        const value = remove(doc, operation.from ?? '');
        doc = add(doc, operation.path, value, false);
        break;
      }
      case 'copy':
        doc = add(doc, operation.path, read(doc, operation.from ?? ''), false);
        break;
      case 'test':
        if (JSON.stringify(read(doc, operation.path)) !== JSON.stringify(operation.value)) {
          throw new PatchError(`test failed at ${operation.path}`);
        }
        break;
      default:
        throw new PatchError(`unknown JSON patch op "${(operation as { op: string }).op}"`);
    }
  }
  return doc;
}
