/** The typed SDK for a Kube-Serverless gateway. */
export { KssClient, ApiError, type ClientOptions, type InvokeOptions, type DeploySpec, type TokenView, type AuditView, type SecretView, type SecretInput } from './client.js';
