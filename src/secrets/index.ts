/** Secrets: the encrypted store (a {@link SecretSource} for providers), its API actions, and the name rule. */
export * from './secret-name.js';
export * from './secret-crypto.js';
export * from './secret-key.js';
export * from './secret-store.js';
export * from './secret-request.js';
export * from './secret-service.js';
