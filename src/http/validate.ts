// Validating JSON request bodies with zod: a refusal names each problem and shows the expected shape.
import type { z } from 'zod';
import { BerthError } from '../core/errors.js';
import { hasControl } from '../core/references.js';

export { hasControl };

/**
 * The path (e.g. "users.0.name") of the first string, key or value, holding a control character; else undefined.
 * The top-level fields `multiline` names may hold line breaks (\n, \r\n), and no other control character.
 */
function controlAt(v: unknown, path: string[] = [], multiline: readonly string[] = []): string | undefined {
  if (typeof v === 'string') {
    const text = path.length === 1 && multiline.includes(path[0]!) ? v.replace(/\r?\n/g, '') : v;
    return hasControl(text) ? path.join('.') || 'body' : undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  for (const [k, x] of Object.entries(v)) {
    if (hasControl(k)) return [...path, JSON.stringify(k)].join('.');
    const at = controlAt(x, [...path, k], path.length === 0 ? multiline : []);
    if (at !== undefined) return at;
  }
  return undefined;
}

export function validBody<T extends z.ZodType>(
  schema: T,
  body: unknown,
  expected: string,
  multiline: readonly string[] = [],
): z.infer<T> {
  // No text berth keeps may hold a control character (PostgreSQL refuses NUL in text): refused here, whatever field
  // (line breaks only where a field's text is made of lines, as a PEM certificate is).
  const at = controlAt(body, [], multiline);
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
