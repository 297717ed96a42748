// The audit log: who pushed, uploaded, deleted, restored, cleaned up or changed access, what, when and from where.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

export interface AuditEntry {
  id: number;
  at: string;
  actor: string | null;
  address: string | null;
  action: string;
  repository: string | null;
  detail: Record<string, unknown> | null;
}

export interface AuditQuery {
  actor?: string;
  repository?: string;
  action?: string;
  /** entries with an id below this (paging backwards) */
  before?: number;
  since?: number;
  limit?: number;
}

const entry = (r: {
  id: number;
  at: number;
  actor: string | null;
  address: string | null;
  action: string;
  repository: string | null;
  detail: string | null;
}): AuditEntry => ({
  id: r.id,
  at: new Date(Number(r.at)).toISOString(),
  actor: r.actor,
  address: r.address,
  action: r.action,
  repository: r.repository,
  detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>),
});

export class AuditLog {
  constructor(private readonly db: Kysely<Database>) {}

  async record(e: {
    actor: string | null;
    address: string | null;
    action: string;
    repository?: string | null;
    detail?: Record<string, unknown>;
  }): Promise<void> {
    await this.db
      .insertInto('audit_log')
      .values({
        at: Date.now(),
        actor: e.actor,
        address: e.address,
        action: e.action,
        repository: e.repository ?? null,
        detail: e.detail === undefined ? null : JSON.stringify(e.detail),
      })
      .execute();
  }

  /** The newest entry of each of the named repositories (those with none are left out). */
  async latestOf(repositories: readonly string[]): Promise<Map<string, AuditEntry>> {
    if (repositories.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('audit_log')
      .selectAll()
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('audit_log')
          .select((e) => e.fn.max('id').as('id'))
          .where('repository', 'in', [...repositories])
          .groupBy('repository'),
      )
      .execute();
    return new Map(rows.map((r) => [r.repository!, entry(r)]));
  }

  /** Newest first. */
  async list(q: AuditQuery = {}): Promise<AuditEntry[]> {
    let s = this.db
      .selectFrom('audit_log')
      .selectAll()
      .orderBy('id', 'desc')
      .limit(q.limit ?? 100);
    if (q.actor !== undefined) s = s.where('actor', '=', q.actor);
    if (q.repository !== undefined) s = s.where('repository', '=', q.repository);
    if (q.action !== undefined) s = s.where('action', '=', q.action);
    if (q.before !== undefined) s = s.where('id', '<', q.before);
    if (q.since !== undefined) s = s.where('at', '>=', q.since);
    const rows = await s.execute();
    return rows.map(entry);
  }
}
