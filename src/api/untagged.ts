// PUT /api/v1/repositories/<name>/-/untagged: what cleanup does with the repository's untagged manifests.
import { z } from 'zod';
import type { Berth } from '../app.js';
import type { RouteContext } from '../http/router.js';

/** The longest grace: ten years of hours. */
const MAX_HOURS = 10 * 365 * 24;

const Setting = z.discriminatedUnion('policy', [
  z.object({ policy: z.literal('keep') }).strict(),
  z.object({ policy: z.literal('default') }).strict(),
  z.object({ policy: z.literal('remove'), afterHours: z.number().int().min(0).max(MAX_HOURS) }).strict(),
]);

export const UntaggedBody = {
  schema: Setting,
  expected:
    '{"policy": "keep"}, {"policy": "default"} (the server\'s --untagged-after) or ' +
    `{"policy": "remove", "afterHours": N} with N whole hours from 0 to ${MAX_HOURS}`,
};

/** Answers the repository's info, with its untagged setting. */
export async function setUntagged(
  berth: Berth,
  { name, body }: RouteContext<'name', z.infer<typeof Setting>>,
) {
  return berth.repositories.setUntagged(name, {
    policy: body.policy,
    afterHours: body.policy === 'remove' ? body.afterHours : null,
  });
}
