/** Secrets: the stores (encrypted SQLite here, Kubernetes Secrets on a cluster; each a {@link SecretSource} for providers), their API actions, and the name rule. */
export * from './secret-name.js';
export * from './secret-crypto.js';
export * from './secret-key.js';
export * from './secret-store.js';
export * from './secret-request.js';
export * from './secret-service.js';
export * from './secret-backend.js';
export * from './kubernetes-secret-store.js';
