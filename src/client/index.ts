/** The typed SDK for a Kube-Serverless gateway. */
export { KssClient, ApiError, type ClientOptions, type InvokeOptions, type DeploySpec, type TokenView, type AuditView, type SecretView, type SecretInput, type FunctionView, type TrafficWeights, type RevisionsView, type RevisionEntry, type CanaryView, type TrafficTarget, type FunctionRevisionFields } from './client.js';
