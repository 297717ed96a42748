// What a --database value may be (a postgres:// URL or a SQLite file path), and failures to reach it told plainly.

/** The forms --database accepts, for messages. */
export const DATABASE_FORMS =
  'a postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE URL (or postgresql://…), or a SQLite file path ' +
  '(e.g. ./berth-data/berth.db, optionally prefixed sqlite:)';

export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//.test(url);

/** The URL with its password replaced by `***`, for messages and logs. */
export function maskPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):[^/@]*@/i, '$1:***@');
}

/**
 * Refuses a value that is neither a postgres:// URL nor a file path: anything that starts like a URL (`mysql://`,
 * `postgres:/typo`, `postgress://…`). A one-letter "scheme" is a Windows drive (C:\…), a path.
 */
export function checkDatabaseUrl(url: string): void {
  if (url.trim() === '') throw new Error(`--database is empty: give ${DATABASE_FORMS}`);
  if (isPostgresUrl(url) || /^sqlite:/.test(url)) {
    if (isPostgresUrl(url)) {
      try {
        new URL(url);
      } catch {
        throw new Error(`--database ${maskPassword(url)} is not a valid URL: give ${DATABASE_FORMS}`);
      }
    }
    return;
  }
  const scheme = /^([a-z][a-z0-9+.-]+):/i.exec(url);
  if (scheme) {
    throw new Error(
      `--database ${maskPassword(url)} is neither a PostgreSQL URL nor a file path ` +
        `(berth does not speak "${scheme[1]}:"): give ${DATABASE_FORMS}`,
    );
  }
}

/** What to check, by PostgreSQL's error code (SQLSTATE) or the socket's errno. */
function advice(code: string | undefined, url: URL): string | undefined {
  const where = `${url.hostname}:${url.port || '5432'}`;
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || decodeURIComponent(url.username);
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused — is PostgreSQL running there?';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `there is no host ${url.hostname} — check the host name`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${where} does not answer — check the address and any firewall between`;
    case '28P01':
      return `the password of role ${decodeURIComponent(url.username)} is wrong — check the password in the URL`;
    case '28000':
      return `the server refuses role ${decodeURIComponent(url.username) || '(none)'} — check that the role exists and pg_hba.conf lets it in`;
    case '3D000':
      return `there is no database ${database} — create it (createdb ${database}) or fix the name in the URL`;
    default:
      return undefined;
  }
}

/**
 * The error for a failed first connection to PostgreSQL: that it is the database, which one (password masked),
 * what went wrong and what to check. Other errors (a failed query later on) are returned as they are.
 */
export function connectionError(e: unknown, url: string): Error {
  const err = e as { code?: string; message?: string; errors?: { code?: string }[] };
  const code = err.code ?? err.errors?.[0]?.code;
  const hint = advice(code, new URL(url));
  const shown = maskPassword(url);
  if (hint) return new Error(`could not connect to the database at ${shown}: ${hint}`, { cause: e });
  const reason = err.message || code || String(e);
  return new Error(`could not connect to the database at ${shown}: ${reason}`, { cause: e });
}
