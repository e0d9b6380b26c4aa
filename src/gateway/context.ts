import type { Logger } from 'pino';
import type { Clock, Provider, Rate } from '../core/index.js';
import type { Invoker } from '../invoke/index.js';
import type { FunctionService } from '../service/index.js';
import type { ApiTokens, AuditLog, Authenticator, SessionStore } from './auth/index.js';
import type { RateLimiter } from './limits/index.js';
import type { GatewayMetrics, MetricsHistory } from '../metrics/index.js';
import type { SecretService } from '../secrets/index.js';
import type { AsyncCalls } from '../queue/index.js';
import type { LogStore } from '../logs/index.js';
import type { TriggerManager } from '../triggers/index.js';

/** What routes are given: the service layer, the data path, and the security pieces. */
export interface GatewayContext {
  service: FunctionService;
  /** Read-only uses only (service discovery); changes go through the service. */
  provider: Provider;
  invoker: Invoker;
  logger: Logger;
  clock: Clock;
  authenticator: Authenticator;
  /** API tokens: SQLite locally, Kubernetes Secrets on a cluster. */
  tokens: ApiTokens;
  /** Dashboard sessions (the login cookie). */
  sessions: SessionStore;
  audit: AuditLog;
  limiter: RateLimiter;
  metrics: GatewayMetrics;
  /** The secret actions (`/system/secrets`). */
  secrets: SecretService;
  /** Per-client limit over every route (token, or IP when anonymous); none when undefined. */
  clientRate?: Rate;
  /** Largest code archive accepted by the upload route, in bytes. */
  maxCodeBytes: number;
  /** Asynchronous calls (`/async-function`, `/api/v1/calls`); the routes are absent without it. */
  calls?: AsyncCalls;
  /** Largest body of an asynchronous call (it is stored whole). */
  maxAsyncBodyBytes: number;
  /** Function logs (`/system/logs`); the route is absent without it. */
  logs?: LogStore;
  /** The dashboard's live charts (`/api/v1/metrics/history`); the routes are absent without it. */
  history?: MetricsHistory;
  /** Where the dashboard's built files are (default `dashboard/dist` of this installation). */
  uiDir?: string;
  /** Event triggers (`/api/v1/triggers`); the route is absent without it. */
  triggers?: TriggerManager;
}
