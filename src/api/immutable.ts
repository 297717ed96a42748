// /api/v1/immutable-tags: the tag immutability rules, listed, added and removed by administrators.
import { z } from 'zod';
import type { Berth } from '../app.js';
import type { RouteContext } from '../http/router.js';
import { BerthError } from '../core/errors.js';

const Rule = z.object({ repository: z.string(), tag: z.string() }).strict();
export const RuleBody = {
  schema: Rule,
  expected:
    '{"repository": "team/*", "tag": "v*"} (a repository name, prefix/* or *; a tag pattern with * and ?)',
};

export const listImmutable = async (berth: Berth) => ({ rules: await berth.immutableTags.list() });

/** POST: 201 with the rule when new, 200 when it was there already. */
export async function addImmutable(berth: Berth, c: RouteContext<never, z.infer<typeof Rule>>) {
  const { rule, created } = await berth.immutableTags.add(c.body.repository, c.body.tag, c.principal.user);
  c.auditDetail = { repositoryPattern: rule.repository, tagPattern: rule.tag, created };
  return c.reply.code(created ? 201 : 200).send(rule);
}

/** DELETE ?repository=…&tag=…: 204. */
export async function removeImmutable(berth: Berth, c: RouteContext) {
  const repository = c.query.get('repository');
  const tag = c.query.get('tag');
  if (repository === null || tag === null) {
    throw new BerthError(
      'PARAMETER_INVALID',
      'say which rule: ?repository=<repository pattern>&tag=<tag pattern> (berth immutable list shows them)',
    );
  }
  await berth.immutableTags.remove(repository, tag);
  c.auditDetail = { repositoryPattern: repository, tagPattern: tag };
  return c.reply.code(204).send();
}
