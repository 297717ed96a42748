// Password hashing (argon2id) and the rules a new password must meet.
import { hash, verify } from '@node-rs/argon2';
import { randomBytes } from 'node:crypto';
import { BerthError } from '../core/errors.js';

export const MIN_PASSWORD_LENGTH = 8;

export function checkPassword(password: string): string {
  if (password.length < MIN_PASSWORD_LENGTH || password.length > 1024) {
    throw new BerthError(
      'PARAMETER_INVALID',
      `a password must be ${MIN_PASSWORD_LENGTH} to 1024 characters long`,
    );
  }
  return password;
}

/** argon2id with the library's defaults (19 MiB, 2 passes: OWASP's minimum), as a PHC string. */
export const hashPassword = (password: string): Promise<string> => hash(password);

// Unknown users are checked against this, so that a wrong name takes as long as a wrong password.
let dummy: Promise<string> | undefined;

export async function verifyPassword(phc: string | undefined, password: string): Promise<boolean> {
  if (phc === undefined) {
    dummy ??= hash(randomBytes(16).toString('hex'));
    await verify(await dummy, password).catch(() => false);
    return false;
  }
  return verify(phc, password).catch(() => false);
}

export const generatePassword = (): string => randomBytes(18).toString('base64url');
