// Changing a repository's history: PATCH its retention, DELETE a version, restore a version as a new one.
import { z } from 'zod';
import type { Berth } from '../app.js';
import { BerthError } from '../core/errors.js';
import { parseRepositoryName } from '../core/references.js';
import type { RouteContext } from '../http/router.js';
import { versionNumber } from './repositories.js';

const Settings = z.object({ retainVersions: z.number().int().min(1).max(1_000_000_000).nullable() }).strict();

/** PATCH /api/v1/repositories/<name> `{"retainVersions": N | null}`: answers the repository's info. */
export async function updateRepository(berth: Berth, { req, params }: RouteContext): Promise<unknown> {
  const name = parseRepositoryName(params.name!);
  const parsed = Settings.safeParse(req.body);
  if (!parsed.success) {
    throw new BerthError(
      'PARAMETER_INVALID',
      'the body must be JSON {"retainVersions": N} with N an integer of at least 1, or null to keep every version',
      parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`),
    );
  }
  await berth.history.setRetention(name, parsed.data.retainVersions);
  return (await berth.repositories.get(name)).info;
}

/** DELETE /api/v1/repositories/<name>/-/versions/<n>: 204; the latest version cannot be deleted. */
export async function deleteVersion(berth: Berth, { params, reply }: RouteContext): Promise<unknown> {
  const name = parseRepositoryName(params.name!);
  await berth.history.deleteVersion(name, versionNumber(params.number!));
  return reply.code(204).send();
}

/** POST /api/v1/repositories/<name>/-/versions/<n>/restore: 201 with the new version's summary. */
export async function restoreVersion(berth: Berth, { params, reply }: RouteContext): Promise<unknown> {
  const name = parseRepositoryName(params.name!);
  const v = await berth.history.restore(name, versionNumber(params.number!));
  const made = await berth.history.version(name, v.number);
  const { number, createdAt, added, removed } = made;
  return reply.code(201).send({ number, createdAt, added, removed });
}
