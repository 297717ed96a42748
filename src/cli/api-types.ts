// Checking the management API's answers against the shapes of src/api/schemas.ts: a mismatch is reported, not misprinted.
import { z } from 'zod';
import { ApiError } from './client.js';

/** Checks an answer against its shape; `what` names the request in the error. */
export function expect<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new ApiError(
    'BAD_RESPONSE',
    `unexpected answer from the server to ${what}`,
    z.prettifyError(r.error),
  );
}
