// Remote passwords at rest: AES-256-GCM under the server's secret key (a file every process of an instance shares).
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { BerthError } from '../core/errors.js';

/** The file under the data folder that holds the key when no --secret-key-file is given. */
export const DEFAULT_SECRET_KEY_FILE = 'secret.key';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** stored secrets read `v1:<key id>:<base64 of iv | tag | ciphertext>` */
const FORMAT = /^v1:([0-9a-f]{8}):([A-Za-z0-9+/=]+)$/;

/** A key's short, harmless name: the first 8 hex digits of its SHA-256 (tells keys apart in messages). */
export const keyId = (key: Buffer): string =>
  createHash('sha256').update('berth secret key id').update(key).digest('hex').slice(0, 8);

/** A key file's text: 64 hex digits (`openssl rand -hex 32`) or 32 bytes in base64; surrounding spaces ignored. */
export function parseKey(text: string, file: string): Buffer {
  const s = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(s)) return Buffer.from(s, 'hex');
  if (/^[A-Za-z0-9+/]{43}=$/.test(s)) return Buffer.from(s, 'base64');
  throw new Error(
    `the secret key file ${file} does not hold a key: it must hold 32 bytes as 64 hex digits ` +
      '(make one with `openssl rand -hex 32`) or in base64',
  );
}

/** Reads the key file; undefined when it does not exist. */
export async function loadKey(file: string): Promise<Buffer | undefined> {
  try {
    return parseKey(await fs.readFile(file, 'utf8'), file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Reads the key file, or creates it (mode 0600, 64 hex digits) when it does not exist. Creation is atomic and
 * create-if-absent (written aside, then hard-linked into place): processes starting at once all end up with the
 * one key that won.
 */
export async function loadOrCreateKey(file: string): Promise<Buffer> {
  const existing = await loadKey(file);
  if (existing) return existing;
  await fs.mkdir(dirname(file), { recursive: true });
  const aside = join(dirname(file), `.secret-key-${process.pid}-${randomBytes(6).toString('hex')}`);
  const handle = await fs.open(aside, 'wx', 0o600);
  try {
    await handle.writeFile(`${randomBytes(KEY_BYTES).toString('hex')}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.link(aside, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // another process made it first: theirs holds
  } finally {
    await fs.rm(aside, { force: true });
  }
  return parseKey(await fs.readFile(file, 'utf8'), file);
}

/** How Secrets reads its key: made when `create` (to encrypt), else undefined when there is none. */
export type KeyLoader = (file: string, create: boolean) => Promise<Buffer | undefined>;

const fromFile: KeyLoader = (file, create) => (create ? loadOrCreateKey(file) : loadKey(file));

/**
 * Encrypts and decrypts remote passwords. The key is read on first need, and made only to encrypt (a process
 * that finds no key file has none of the passwords stored). The remote's name is bound in as associated data: a
 * stored secret moved to another remote's row does not decrypt.
 */
export class Secrets {
  private key: Promise<Buffer | undefined> | undefined;

  /** `file`: the key file (--secret-key-file); `load`: how to read it (tests give a key directly) */
  constructor(
    readonly file: string,
    private readonly load: KeyLoader = fromFile,
  ) {}

  private async getKey(create: boolean): Promise<Buffer | undefined> {
    let key = await (this.key ??= this.load(this.file, create));
    if (key === undefined && create) key = await (this.key = this.load(this.file, true));
    if (key === undefined) this.key = undefined; // none yet: look again next time
    return key;
  }

  async encrypt(remote: string, plaintext: string): Promise<string> {
    const key = (await this.getKey(true).catch((e: unknown) => {
      this.key = undefined; // a failure is not kept: the next call tries again
      throw e;
    }))!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(`remote:${remote}`));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `v1:${keyId(key)}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  /** The password of `remote`; a secret this key did not encrypt is an error naming the remote and both keys. */
  async decrypt(remote: string, stored: string): Promise<string> {
    const key = await this.getKey(false).catch((e: unknown) => {
      this.key = undefined;
      throw e;
    });
    const m = FORMAT.exec(stored);
    const raw = m ? Buffer.from(m[2]!, 'base64') : Buffer.alloc(0);
    const fail = (why: string): never => {
      throw new BerthError(
        'REMOTE_SECRET_UNREADABLE',
        `the password of remote ${remote} cannot be decrypted: ${why}. Every process must use the same secret ` +
          `key file (--secret-key-file / BERTH_SECRET_KEY_FILE; this one reads ${this.file}); or set the ` +
          `password again: berth remote edit ${remote} --password-stdin`,
        { remote },
      );
    };
    if (key === undefined) return fail(`this server has no secret key: ${this.file} does not exist`);
    if (!m || raw.length < IV_BYTES + TAG_BYTES) return fail('it is not in a format berth writes');
    if (m[1] !== keyId(key)) {
      return fail(`it was encrypted with another key (id ${m[1]}) than this server's (id ${keyId(key)})`);
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(`remote:${remote}`));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      return fail('it does not authenticate under this key (altered, or stored for another remote)');
    }
  }
}
