// Stored logins (`berth login`): server → user name and API token in $BERTH_CONFIG_DIR/credentials.json, mode 0600.
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { parseServerUrl } from './client.js';

const StoredLogin = z.object({ username: z.string(), token: z.string(), tokenId: z.string() });
const LoginsFile = z.object({ servers: z.record(z.string(), StoredLogin) });

/** What `berth login` keeps for a server: never the password, only the API token it created. */
export type StoredLogin = z.infer<typeof StoredLogin>;
type LoginsFile = z.infer<typeof LoginsFile>;

/** BERTH_CONFIG_DIR, else $XDG_CONFIG_HOME/berth (when absolute, as the XDG spec asks), else ~/.config/berth. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BERTH_CONFIG_DIR) return env.BERTH_CONFIG_DIR;
  const xdg = env.XDG_CONFIG_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.config'), 'berth');
}

export const credentialsFile = (): string => join(configDir(), 'credentials.json');

/** The key a server's login is stored under: its URL as parsed (lowercase host, default port dropped, final /). */
export const serverKey = (server: string): string => parseServerUrl(server).href;

function load(): LoginsFile {
  const file = credentialsFile();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { servers: {} }; // none stored (yet)
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not JSON: delete it and log in again`);
  }
  const r = LoginsFile.safeParse(parsed);
  if (!r.success) throw new Error(`${file} is not a berth credentials file: delete it and log in again`);
  return r.data;
}

/**
 * Writes the file atomically: a new temp file (0600, created exclusively, so never through a planted link) in
 * the same directory, synced, then renamed over the old one. A directory it creates is 0700.
 */
function save(logins: LoginsFile): void {
  const dir = configDir();
  const file = credentialsFile();
  try {
    if (mkdirSync(dir, { recursive: true, mode: 0o700 }) !== undefined) chmodSync(dir, 0o700);
    const tmp = join(dir, `.credentials.json.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      fchmodSync(fd, 0o600); // whatever the umask
      writeSync(fd, `${JSON.stringify(logins, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      renameSync(tmp, file);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  } catch (e) {
    throw new Error(`cannot write ${file}: ${(e as Error).message}`);
  }
}

export function storedLogin(server: string): StoredLogin | undefined {
  return load().servers[serverKey(server)];
}

/** Stores the login for a server; returns the one it replaces, if any. */
export function storeLogin(server: string, login: StoredLogin): StoredLogin | undefined {
  const logins = load();
  const key = serverKey(server);
  const previous = logins.servers[key];
  logins.servers[key] = login;
  save(logins);
  return previous;
}

/** Forgets the login for a server; returns it, if there was one. */
export function forgetLogin(server: string): StoredLogin | undefined {
  const logins = load();
  const key = serverKey(server);
  const previous = logins.servers[key];
  if (previous === undefined) return undefined;
  delete logins.servers[key];
  save(logins);
  return previous;
}
