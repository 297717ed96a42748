// GET /static/<file>: htmx, the style sheet and the script, cached by browsers (pages link them with ?v=<hash>).
import type { UiContext } from '../mount.js';
import { staticFile } from '../static.js';

export async function serveStatic(c: UiContext<'id'>) {
  const f = staticFile(c.id);
  c.reply.header('etag', f.etag);
  c.reply.header('cache-control', c.query.has('v') ? 'public, max-age=31536000, immutable' : 'no-cache');
  if (c.req.headers['if-none-match'] === f.etag) return c.reply.code(304).send();
  return c.reply.type(f.type).send(f.body);
}
