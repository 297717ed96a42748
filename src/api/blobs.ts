// POST /api/v1/repositories/<name>/-/blobs/present: which of these digests the repository already holds.
import { z } from 'zod';
import type { Berth } from '../app.js';
import { BerthError } from '../core/errors.js';
import { parseRepositoryName } from '../core/references.js';
import type { RouteContext } from '../http/router.js';

const Body = z.object({ digests: z.array(z.string().regex(/^sha256:[a-f0-9]{64}$/)).max(10_000) });

export async function presentBlobs(berth: Berth, { req, params }: RouteContext): Promise<unknown> {
  const name = parseRepositoryName(params.name!);
  const parsed = Body.safeParse(req.body);
  if (!parsed.success) {
    throw new BerthError(
      'PARAMETER_INVALID',
      'the body must be JSON {"digests": ["sha256:<64 hex>", …]} with at most 10000 digests',
      parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    );
  }
  return { present: await berth.blobs.present(name, parsed.data.digests) };
}
