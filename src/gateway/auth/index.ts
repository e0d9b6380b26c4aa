/** Authentication, scopes, tokens and the audit log. */
export * from './scopes.js';
export * from './constant-time.js';
export * from './admin-credentials.js';
export * from './token-store.js';
export * from './authenticator.js';
export * from './audit-log.js';
export * from './auth-hooks.js';
export * from './session-store.js';
export * from './kubernetes-token-store.js';
