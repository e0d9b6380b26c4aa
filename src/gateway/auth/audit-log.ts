/**
 * The audit log: every admin action (deploys, updates, removals, uploads, token
 * changes), with who did it, when, from where and how it ended. Kept in the
 * platform database; read with `GET /api/v1/audit`.
 */
import type { Database } from 'better-sqlite3';
import type { AuditEntry, Clock } from '../../core/index.js';

export type { AuditEntry };

export class AuditLog {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #insert;

  constructor(db: Database, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
    this.#insert = db.prepare('INSERT INTO audit_log (at, actor, action, target, status, ip) VALUES (?, ?, ?, ?, ?, ?)');
  }

  record(entry: Omit<AuditEntry, 'id' | 'at'>): void {
    this.#insert.run(new Date(this.#clock.now()).toISOString(), entry.actor, entry.action, entry.target ?? null, entry.status, entry.ip ?? null);
  }

  /** Newest first. */
  list(options: { limit?: number; since?: string; actor?: string } = {}): AuditEntry[] {
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
    const rows = this.#db
      .prepare('SELECT * FROM audit_log WHERE (? IS NULL OR at >= ?) AND (? IS NULL OR actor = ?) ORDER BY id DESC LIMIT ?')
      .all(options.since ?? null, options.since ?? null, options.actor ?? null, options.actor ?? null, limit) as Array<AuditEntry & { target: string | null; ip: string | null }>;
    return rows.map((r) => {
      const e: AuditEntry = { id: r.id, at: r.at, actor: r.actor, action: r.action, status: r.status };
      if (r.target) e.target = r.target;
      if (r.ip) e.ip = r.ip;
      return e;
    });
  }
}
