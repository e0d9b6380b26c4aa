/**
 * The function store contract: where deployed specs live. The embedded default is
 * SQLite; on Kubernetes the same contract is backed by `Function` resources. The
 * service layer depends on this interface only.
 */
import type { FunctionRef, FunctionSpec } from '../core/index.js';

/** A spec as stored, with its timestamps (RFC 3339). */
export interface StoredFunction {
  spec: FunctionSpec;
  createdAt: string;
  updatedAt: string;
}

export interface FunctionStore {
  /** Inserts a new function; throws `KSS_FUNCTION_EXISTS` when one with that name is in the namespace. */
  create(spec: FunctionSpec): Promise<StoredFunction>;
  /** Replaces a function's spec; throws `KSS_FUNCTION_NOT_FOUND` when there is none. */
  update(spec: FunctionSpec): Promise<StoredFunction>;
  get(ref: FunctionRef): Promise<StoredFunction | undefined>;
  /** Every function, or those of one namespace, ordered by namespace then name. */
  list(namespace?: string): Promise<StoredFunction[]>;
  /** Deletes a function; false when there was none. */
  delete(ref: FunctionRef): Promise<boolean>;
  /** Namespaces that hold at least one function. */
  namespaces(): Promise<string[]>;
  close(): void;
}

/** A change another gateway made to a shared store. */
export type StoreChange = { type: 'upsert'; stored: StoredFunction } | { type: 'delete'; ref: FunctionRef };

/**
 * Optional: a store shared by several gateways (Function resources on Kubernetes)
 * tells each about writes, theirs and the others', so every gateway's in-memory view
 * (the invoke path's) follows the cluster's.
 */
export interface WatchableStore {
  /** Calls `listener` for every function written or deleted; returns a function that stops it. */
  watch(listener: (change: StoreChange) => void): () => void;
}

export function isWatchableStore(store: FunctionStore): store is FunctionStore & WatchableStore {
  return typeof (store as Partial<WatchableStore>).watch === 'function';
}
