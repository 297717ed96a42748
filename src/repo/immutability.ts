// Tag immutability: the rules (repository pattern + tag pattern) and the one check every commit passes through.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import {
  parseRepositoryPattern,
  parseTagPattern,
  repositoryPatternMatches,
  tagPatternMatches,
} from '../core/patterns.js';
import type { ContentChange } from './versions.js';
import { current } from './held.js';

type Db = Kysely<Database>;

export interface ImmutabilityRule {
  repository: string;
  tag: string;
  createdAt: string;
  createdBy: string | null;
}

const iso = (ms: number): string => new Date(Number(ms)).toISOString();
const BATCH = 500;

/** How to lift a rule, for the messages of refusals. */
const removal = (r: { repository_pattern: string; tag_pattern: string }): string =>
  `berth immutable remove '${r.repository_pattern}' '${r.tag_pattern}'`;

/**
 * Refuses (DENIED, naming the rule) `changes` to repository `name` that would move a tag an immutability rule
 * protects to another manifest, delete it, or remove the manifest it points to. Creating a protected tag, and
 * setting it again to the manifest it points to, are fine. Called by commitVersionIn with its transaction (under the
 * repository's row lock, so what it reads stays true until the commit), and before any file is moved by the paths
 * that move files first (manifest push, archive upload), so that a refusal leaves the store as it was.
 */
export async function refuseImmutableChanges(db: Db, name: string, changes: ContentChange[]): Promise<void> {
  if (!changes.some((c) => c.kind === 'tag' || (c.kind === 'manifest' && c.op === 'remove'))) return;
  const rules = (
    await db.selectFrom('immutable_tags').select(['repository_pattern', 'tag_pattern']).execute()
  ).filter((r) => repositoryPatternMatches(r.repository_pattern, name));
  if (rules.length === 0) return;
  const ruleFor = (tag: string) => rules.find((r) => tagPatternMatches(r.tag_pattern, tag));
  // The last change to a unit wins, as in applyChanges: tag -> its new target, or null when removed.
  const next = new Map<string, string | null>();
  const removedManifests = new Set<string>();
  for (const c of changes) {
    if (c.kind === 'tag') next.set(c.op === 'add' ? c.tag : c.key, c.op === 'add' ? c.digest : null);
    else if (c.kind === 'manifest' && c.op === 'remove') removedManifests.add(c.key);
    else if (c.kind === 'manifest' && c.op === 'add') removedManifests.delete(c.digest);
  }
  const touched = [...next.keys()].filter((t) => ruleFor(t));
  const targets = [...removedManifests];
  const protectedNow: { key: string; value: string | null }[] = [];
  const tags = () => current(db, name).select(['c.key', 'c.value']).where('c.kind', '=', 'tag');
  for (let i = 0; i < touched.length; i += BATCH) {
    protectedNow.push(
      ...(await tags()
        .where('c.key', 'in', touched.slice(i, i + BATCH))
        .execute()),
    );
  }
  for (let i = 0; i < targets.length; i += BATCH) {
    const rows = await tags()
      .where('c.value', 'in', targets.slice(i, i + BATCH))
      .execute();
    protectedNow.push(...rows.filter((r) => ruleFor(r.key)));
  }
  for (const { key: tag, value: digest } of protectedNow) {
    const rule = ruleFor(tag)!;
    const to = next.has(tag) ? next.get(tag)! : digest;
    const detail = {
      repository: name,
      tag,
      digest,
      rule: { repository: rule.repository_pattern, tag: rule.tag_pattern },
    };
    const said = `tag ${tag} of ${name} is immutable (rule: repositories ${rule.repository_pattern}, tags ${rule.tag_pattern})`;
    const lift = `push under a new tag, or ask an administrator to lift the rule (${removal(rule)})`;
    if (to === null) {
      throw new BerthError('DENIED', `${said} and cannot be deleted; ${lift}`, detail);
    }
    if (to !== digest) {
      throw new BerthError(
        'DENIED',
        `${said}: it points to ${digest} and cannot be moved to ${to}; ${lift}`,
        detail,
      );
    }
    if (removedManifests.has(to)) {
      throw new BerthError(
        'DENIED',
        `${said}: it points to manifest ${to}, which therefore cannot be deleted; ${lift}`,
        detail,
      );
    }
  }
}

/** The immutability rules: listed, added and removed by administrators (the routes check who may). */
export class ImmutableTags {
  constructor(private readonly db: Db) {}

  async list(): Promise<ImmutabilityRule[]> {
    const rows = await this.db
      .selectFrom('immutable_tags')
      .selectAll()
      .orderBy('repository_pattern')
      .orderBy('tag_pattern')
      .execute();
    return rows.map((r) => ({
      repository: r.repository_pattern,
      tag: r.tag_pattern,
      createdAt: iso(r.created_at),
      createdBy: r.created_by,
    }));
  }

  /** Adds a rule if absent (through the primary key); answers it and whether it was new. */
  async add(
    repository: string,
    tag: string,
    by: string | null,
    now = Date.now(),
  ): Promise<{ rule: ImmutabilityRule; created: boolean }> {
    parseRepositoryPattern(repository);
    parseTagPattern(tag);
    const inserted = await this.db
      .insertInto('immutable_tags')
      .values({ repository_pattern: repository, tag_pattern: tag, created_at: now, created_by: by })
      .onConflict((oc) => oc.columns(['repository_pattern', 'tag_pattern']).doNothing())
      .executeTakeFirst();
    const rule = (await this.list()).find((r) => r.repository === repository && r.tag === tag)!;
    return { rule, created: Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0 };
  }

  /** Removes a rule; an unknown one is NOT_FOUND, saying where the rules are listed. */
  async remove(repository: string, tag: string): Promise<void> {
    parseRepositoryPattern(repository);
    parseTagPattern(tag);
    const r = await this.db
      .deleteFrom('immutable_tags')
      .where('repository_pattern', '=', repository)
      .where('tag_pattern', '=', tag)
      .executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) {
      throw new BerthError(
        'NOT_FOUND',
        `there is no immutability rule for repositories ${repository} and tags ${tag}; berth immutable list shows the rules`,
        { repository, tag },
      );
    }
  }
}
