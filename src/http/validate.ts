// Validating JSON request bodies with zod: a refusal names each problem and shows the expected shape.
import type { z } from 'zod';
import { BerthError } from '../core/errors.js';

export function validBody<T extends z.ZodType>(schema: T, body: unknown, expected: string): z.infer<T> {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return parsed.data;
  throw new BerthError(
    'PARAMETER_INVALID',
    `the body must be JSON ${expected}`,
    parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`),
  );
}
