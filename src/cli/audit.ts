// `berth audit`: the audit log, newest first, filtered by actor, repository and action (administrators only).
import { AuditList } from '../api/schemas.js';
import { auditTable } from './access-format.js';
import { expect } from './api-types.js';
import { clientFor } from './credentials.js';
import { printJson } from './format.js';
import type { CommandOptions } from './users.js';

export interface AuditOptions extends CommandOptions {
  actor?: string;
  repository?: string;
  action?: string;
  before?: number;
  limit?: number;
}

export async function audit(opts: AuditOptions): Promise<void> {
  const query = new URLSearchParams();
  for (const k of ['actor', 'repository', 'action', 'before', 'limit'] as const) {
    if (opts[k] !== undefined) query.set(k, String(opts[k]));
  }
  const path = `api/v1/audit${query.size > 0 ? `?${query}` : ''}`;
  const answer = await clientFor(opts).getJson(path);
  if (opts.json) return printJson(answer);
  console.log(auditTable(expect(AuditList, answer, `GET /${path}`).entries));
}
