// Changing a repository's history: PATCH its retention, DELETE a version, restore a version as a new one.
import { z } from 'zod';
import type { Berth } from '../app.js';
import type { RouteContext } from '../http/router.js';

const Settings = z.object({ retainVersions: z.number().int().min(1).max(1_000_000_000).nullable() }).strict();

export const SettingsBody = {
  schema: Settings,
  expected: '{"retainVersions": N} with N an integer of at least 1, or null to keep every version',
};

/** PATCH /api/v1/repositories/<name> `{"retainVersions": N | null}`: answers the repository's info. */
export async function updateRepository(
  berth: Berth,
  { name, body }: RouteContext<'name', z.infer<typeof Settings>>,
) {
  return berth.history.setRetention(name, body.retainVersions);
}

/** DELETE /api/v1/repositories/<name>/-/versions/<n>: 204; the latest version cannot be deleted. */
export async function deleteVersion(berth: Berth, { name, number, reply }: RouteContext<'name' | 'number'>) {
  await berth.history.deleteVersion(name, number);
  return reply.code(204).send();
}

/** POST /api/v1/repositories/<name>/-/versions/<n>/restore: 201 with the new version's summary. */
export async function restoreVersion(
  berth: Berth,
  { name, number: n, reply }: RouteContext<'name' | 'number'>,
) {
  return reply.code(201).send(await berth.history.restore(name, n));
}
