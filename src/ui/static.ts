// The web UI's static files: htmx (from the htmx.org package, served by berth), the style sheet and the small script.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { BerthError } from '../core/errors.js';
import { BERTH_CSS } from './static/berth-css.js';
import { BERTH_JS } from './static/berth-js.js';

interface StaticFile {
  type: string;
  body: Buffer;
  etag: string;
}

let files: Map<string, StaticFile> | undefined;

function load(): Map<string, StaticFile> {
  if (files) return files;
  const require = createRequire(import.meta.url);
  const entries: [string, string, Buffer][] = [
    [
      'htmx.min.js',
      'text/javascript; charset=utf-8',
      readFileSync(require.resolve('htmx.org/dist/htmx.min.js')),
    ],
    ['berth.css', 'text/css; charset=utf-8', Buffer.from(BERTH_CSS)],
    ['berth.js', 'text/javascript; charset=utf-8', Buffer.from(BERTH_JS)],
  ];
  files = new Map(
    entries.map(([name, type, body]) => [
      name,
      { type, body, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"` },
    ]),
  );
  return files;
}

/** A short hash of every static file: the pages link `?v=` it, so a new berth's files are fetched anew. */
export function staticVersion(): string {
  const h = createHash('sha256');
  for (const f of load().values()) h.update(f.etag);
  return h.digest('hex').slice(0, 12);
}

/** The static file of that name, or NOT_FOUND. */
export function staticFile(name: string): StaticFile {
  const f = load().get(name);
  if (!f) throw new BerthError('NOT_FOUND', `there is no file /static/${name}`);
  return f;
}
