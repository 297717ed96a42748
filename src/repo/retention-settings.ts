// Retention settings: setting a repository's rule (applied at once, or previewed) and applying every repository's.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { BerthError } from '../core/errors.js';
import { realClock, type Clock } from '../gc/clock.js';
import { Repositories, type RepositoryInfo } from './repositories.js';
import { lockRepository } from './versions.js';
import { applyRetention, checkRule, type RetentionRule } from './retention.js';

export interface RetentionResult {
  repository: RepositoryInfo;
  /** the versions the rule removed (or, in a dry run, would remove), oldest first */
  removedVersions: number[];
  dryRun: boolean;
}

/** Setting a repository's retention rule, and applying every repository's rule (as cleanup does). */
export class Retention {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock = realClock,
    private readonly repositories = new Repositories(db),
  ) {}

  /**
   * Sets the repository's rule as a whole (a part left null is no limit) and applies it at once, under the
   * repository's row lock; a dry run changes nothing and answers what would go.
   */
  async set(name: string, rule: RetentionRule, opts: { dryRun?: boolean } = {}): Promise<RetentionResult> {
    checkRule(rule);
    const dryRun = opts.dryRun ?? false;
    const removedVersions = await this.db.transaction().execute(async (trx) => {
      const set = dryRun ? {} : { retain_versions: rule.versions, retain_days: rule.days };
      const repo = await lockRepository(trx, name, set);
      if (!repo) throw new BerthError('NAME_UNKNOWN', `repository ${name} does not exist`);
      return applyRetention(trx, repo.id, rule, this.clock.now(), { dryRun });
    });
    return { repository: (await this.repositories.get(name)).info, removedVersions, dryRun };
  }

  /**
   * Applies each repository's own rule now (versions age out without a commit), one repository per transaction
   * under its row lock; answers the repositories where versions went (or would go, in a dry run).
   */
  async applyEverywhere(
    opts: { dryRun?: boolean } = {},
  ): Promise<{ repository: string; removedVersions: number[] }[]> {
    const out: { repository: string; removedVersions: number[] }[] = [];
    let after = '';
    for (;;) {
      const page = await this.db
        .selectFrom('repositories')
        .select('name')
        .where('name', '>', after)
        .where((eb) => eb.or([eb('retain_versions', 'is not', null), eb('retain_days', 'is not', null)]))
        .orderBy('name')
        .limit(500)
        .execute();
      for (const { name } of page) {
        const removed = await this.db.transaction().execute(async (trx) => {
          const repo = await lockRepository(trx, name);
          if (!repo) return [];
          const rule = { versions: repo.retain_versions, days: repo.retain_days };
          return applyRetention(trx, repo.id, rule, this.clock.now(), opts);
        });
        if (removed.length > 0) out.push({ repository: name, removedVersions: removed });
      }
      if (page.length < 500) return out;
      after = page.at(-1)!.name;
    }
  }
}
