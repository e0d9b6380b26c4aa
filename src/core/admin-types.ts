/** Wire types of the admin API (tokens, audit log), shared by the gateway and the SDK. */

/** An API token as listed: never its secret. */
export interface TokenInfo {
  id: string;
  name: string;
  scopes: Array<'read' | 'invoke' | 'deploy' | 'admin'>;
  createdAt: string;
  createdBy: string;
  expiresAt?: string;
  revokedAt?: string;
  lastUsedAt?: string;
}

/** One audit log entry: who did what, to what, when, from where, and how it ended. */
export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target?: string;
  status: number;
  ip?: string;
}
