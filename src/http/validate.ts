// Validating JSON request bodies with zod: a refusal names each problem and shows the expected shape.
import type { z } from 'zod';
import { BerthError } from '../core/errors.js';
import { hasControl } from '../core/references.js';

export { hasControl };

/** The path (e.g. "users.0.name") of the first string, key or value, holding a control character; else undefined. */
function controlAt(v: unknown, path: string[] = []): string | undefined {
  if (typeof v === 'string') return hasControl(v) ? path.join('.') || 'body' : undefined;
  if (typeof v !== 'object' || v === null) return undefined;
  for (const [k, x] of Object.entries(v)) {
    if (hasControl(k)) return [...path, JSON.stringify(k)].join('.');
    const at = controlAt(x, [...path, k]);
    if (at !== undefined) return at;
  }
  return undefined;
}

export function validBody<T extends z.ZodType>(schema: T, body: unknown, expected: string): z.infer<T> {
  // No text berth keeps may hold a control character (PostgreSQL refuses NUL in text): refused here, whatever field.
  const at = controlAt(body);
  if (at !== undefined)
    throw new BerthError('PARAMETER_INVALID', `the body holds a control character (NUL, …) at ${at}`);
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return parsed.data;
  throw new BerthError(
    'PARAMETER_INVALID',
    `the body must be JSON ${expected}`,
    parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`),
  );
}
