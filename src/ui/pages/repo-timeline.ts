// The versions timeline's words: what made each version (push, archive upload, delete, restore, cleanup, retention, sync) and who.
import type { Berth } from '../../app.js';
import type { AuditEntry } from '../../auth/audit.js';
import type { VersionInfo } from './repo-types.js';

export interface TimelineEntry extends VersionInfo {
  /** push, archive upload, delete, restore, cleanup, retention, sync, created; null: not known */
  operation: string | null;
  /** the user who asked (null: berth itself, or not known) */
  actor: string | null;
  /** more about it: the tag deleted, the version restored, the message of berth's own versions */
  detail: string | null;
}

/** The audit actions whose requests make a version, and the operation the timeline calls them. */
const OPERATIONS: Record<string, string> = {
  'manifest.push': 'push',
  'archive.upload': 'archive upload',
  'tag.delete': 'delete',
  'image.delete': 'delete',
  'manifest.delete': 'delete',
  'blob.delete': 'delete',
  'repository.delete': 'delete',
  'version.restore': 'restore',
};

/** Audit entries read per statement, and at most this many statements for one page of the timeline. */
const BATCH = 500;
const MAX_BATCHES = 6;

/** What berth's own versions say in their message (no request made them). */
function fromMessage(message: string): { operation: string; detail: string } | null {
  if (message.startsWith('cleanup')) return { operation: 'cleanup', detail: message };
  if (message.startsWith('sync run') || message.startsWith('pull-through cache'))
    return { operation: 'sync', detail: message };
  if (/^cache .*: not pulled/.test(message)) return { operation: 'retention', detail: message };
  return null;
}

function describe(e: AuditEntry): string | null {
  const d = e.detail ?? {};
  const s = (k: string) => (typeof d[k] === 'string' ? (d[k] as string) : undefined);
  switch (e.action) {
    case 'version.restore':
      return s('number') !== undefined ? `restored version ${s('number')}` : null;
    case 'tag.delete':
      return s('tag') !== undefined ? `tag ${s('tag')}` : null;
    case 'manifest.delete':
    case 'image.delete':
      return s('reference') ?? s('digest') ?? null;
    case 'blob.delete':
      return s('digest') !== undefined ? `blob ${s('digest')}` : null;
    case 'repository.delete':
      return 'the repository';
    case 'manifest.push': {
      const ref = s('reference');
      return ref !== undefined ? (ref.includes(':') ? ref : `tag ${ref}`) : null;
    }
    case 'archive.upload':
      return s('tag') !== undefined ? `tag ${s('tag')}` : null;
    default:
      return null;
  }
}

/** Who asked for the sync runs that made versions (a run's message names it; a scheduled run has no actor). */
async function syncRunActors(berth: Berth, versions: VersionInfo[]): Promise<Map<number, string>> {
  const actors = new Map<number, string>();
  for (const v of versions) {
    const id = v.message === null ? undefined : /^sync run (\S+) from /.exec(v.message)?.[1];
    if (id === undefined) continue;
    const run = await berth.syncs.runs.get(id).catch(() => undefined);
    if (run?.actor) actors.set(v.number, run.actor);
  }
  return actors;
}

/** Who ran the cleanups (through the API or the CLI) that made versions: a cleanup's audit entry lists them. */
async function cleanupActors(
  berth: Berth,
  name: string,
  versions: VersionInfo[],
): Promise<Map<number, string>> {
  const actors = new Map<number, string>();
  const wanted = new Set(versions.filter((v) => v.message?.startsWith('cleanup')).map((v) => v.number));
  if (wanted.size === 0) return actors;
  for (const e of await berth.auth.audit.list({ action: 'cleanup', limit: BATCH })) {
    const made = Array.isArray(e.detail?.repositories) ? (e.detail.repositories as unknown[]) : [];
    for (const r of made) {
      const { repository, version } = (r ?? {}) as { repository?: unknown; version?: unknown };
      if (repository === name && typeof version === 'number' && wanted.has(version) && e.actor)
        actors.set(version, e.actor);
    }
  }
  return actors;
}

/**
 * The versions with who made them and how: from the audit log (requests record the version they made) and the
 * messages of the versions berth made itself. Reads the repository's audit entries newest first until every
 * version asked about is found or they are older (a bounded number of them).
 */
export async function timeline(
  berth: Berth,
  name: string,
  versions: VersionInfo[],
): Promise<TimelineEntry[]> {
  const wanted = new Set(versions.filter((v) => v.message === null && v.number > 0).map((v) => v.number));
  const lowest = Math.min(...wanted);
  const found = new Map<number, AuditEntry>();
  let before: number | undefined;
  for (let i = 0; i < MAX_BATCHES && found.size < wanted.size; i++) {
    const entries = await berth.auth.audit.list({ repository: name, before, limit: BATCH });
    let older = false;
    for (const e of entries) {
      const v = e.detail?.version;
      if (typeof v !== 'number' || !(e.action in OPERATIONS)) continue;
      if (wanted.has(v) && !found.has(v)) found.set(v, e);
      if (v < lowest) older = true;
    }
    if (entries.length < BATCH || older) break;
    before = entries.at(-1)!.id;
  }
  const ownActors = new Map([
    ...(await syncRunActors(berth, versions)),
    ...(await cleanupActors(berth, name, versions)),
  ]);
  return versions.map((v) => {
    if (v.number === 0) return { ...v, operation: 'created', actor: null, detail: null };
    if (v.message !== null) {
      const m = fromMessage(v.message);
      const actor = ownActors.get(v.number) ?? null;
      return { ...v, operation: m?.operation ?? null, actor, detail: m?.detail ?? v.message };
    }
    const e = found.get(v.number);
    if (!e) return { ...v, operation: null, actor: null, detail: null };
    return { ...v, operation: OPERATIONS[e.action]!, actor: e.actor, detail: describe(e) };
  });
}
