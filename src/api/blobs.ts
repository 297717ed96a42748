// POST /api/v1/repositories/<name>/-/blobs/present: which of these digests the repository already holds.
import { z } from 'zod';
import type { Berth } from '../app.js';
import type { RouteContext } from '../http/router.js';

export const PresentBlobsBody = {
  schema: z.object({
    digests: z.array(z.string().regex(/^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/)).max(10_000),
  }),
  expected: '{"digests": ["sha256:<64 hex>" or "sha512:<128 hex>", …]} with at most 10000 digests',
};

export async function presentBlobs(
  berth: Berth,
  { name, body }: RouteContext<'name', z.infer<typeof PresentBlobsBody.schema>>,
) {
  return { present: await berth.blobs.present(name, body.digests) };
}
