// Users, their repository permissions, and the public patterns anyone may pull from.
import type { Kysely } from 'kysely';
import { BerthError } from '../core/errors.js';
import type { Database } from '../db/schema.js';
import { checkPassword, generatePassword, hashPassword, verifyPassword } from './passwords.js';
import { parseActions, parsePattern, type Action, type Grant } from './permissions.js';

export interface UserInfo {
  name: string;
  admin: boolean;
  createdAt: string;
}

export interface UserRecord {
  id: number;
  name: string;
  admin: boolean;
}

const USER_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function parseUserName(s: string): string {
  if (!USER_NAME.test(s)) {
    throw new BerthError(
      'PARAMETER_INVALID',
      `"${s}" is not a user name: 1 to 64 lowercase letters, digits, ".", "_" and "-", starting with a letter or digit`,
    );
  }
  return s;
}

const info = (r: { name: string; admin: number; created_at: number }): UserInfo => ({
  name: r.name,
  admin: r.admin === 1,
  createdAt: new Date(r.created_at).toISOString(),
});

const grant = (r: { pattern: string; actions: string }): Grant => ({
  pattern: r.pattern,
  actions: r.actions.split(',') as Action[],
});

export class Users {
  /** `changed` is called after each change to users, permissions or public patterns (to forget cached rights). */
  constructor(
    private readonly db: Kysely<Database>,
    private readonly changed: () => void = () => {},
  ) {}

  /**
   * The first start on an empty database creates the administrator `admin`, with the given password or a
   * generated one (returned, to be shown once). Several processes starting at once create it once: the
   * insert only happens while the table is empty, and the unique name turns a racing second insert into nothing.
   */
  async ensureAdmin(password?: string): Promise<{ created: boolean; password?: string; generated: boolean }> {
    const any = await this.db.selectFrom('users').select('id').limit(1).executeTakeFirst();
    if (any) return { created: false, generated: false };
    const chosen = password === undefined || password === '' ? generatePassword() : checkPassword(password);
    const row = await this.db
      .insertInto('users')
      .values({ name: 'admin', password_hash: await hashPassword(chosen), admin: 1, created_at: Date.now() })
      .onConflict((oc) => oc.column('name').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!row) return { created: false, generated: false };
    return { created: true, password: chosen, generated: password === undefined || password === '' };
  }

  async create(name: string, password: string, admin = false): Promise<UserInfo> {
    parseUserName(name);
    checkPassword(password);
    const row = await this.db
      .insertInto('users')
      .values({
        name,
        password_hash: await hashPassword(password),
        admin: admin ? 1 : 0,
        created_at: Date.now(),
      })
      .onConflict((oc) => oc.column('name').doNothing())
      .returning(['name', 'admin', 'created_at'])
      .executeTakeFirst();
    if (!row) throw new BerthError('ALREADY_EXISTS', `user ${name} already exists`);
    this.changed();
    return info(row);
  }

  async list(): Promise<UserInfo[]> {
    const rows = await this.db
      .selectFrom('users')
      .select(['name', 'admin', 'created_at'])
      .orderBy('name')
      .execute();
    return rows.map(info);
  }

  async find(name: string): Promise<UserRecord | undefined> {
    const r = await this.db
      .selectFrom('users')
      .select(['id', 'name', 'admin'])
      .where('name', '=', name)
      .executeTakeFirst();
    return r && { id: r.id, name: r.name, admin: r.admin === 1 };
  }

  /**
   * The user of id `id` if they are still called `name`. Ids are never reused (AUTOINCREMENT on SQLite, a
   * sequence on PostgreSQL): what was given to a removed user is never found again, even under the same name.
   */
  async findById(id: number, name: string): Promise<UserRecord | undefined> {
    const r = await this.db
      .selectFrom('users')
      .select(['id', 'name', 'admin'])
      .where('id', '=', id)
      .where('name', '=', name)
      .executeTakeFirst();
    return r && { id: r.id, name: r.name, admin: r.admin === 1 };
  }

  async get(name: string): Promise<UserRecord> {
    const r = await this.find(name);
    if (!r) throw new BerthError('USER_UNKNOWN', `user ${name} does not exist`);
    return r;
  }

  async show(name: string): Promise<UserInfo & { permissions: Grant[] }> {
    const r = await this.db
      .selectFrom('users')
      .select(['id', 'name', 'admin', 'created_at'])
      .where('name', '=', name)
      .executeTakeFirst();
    if (!r) throw new BerthError('USER_UNKNOWN', `user ${name} does not exist`);
    return { ...info(r), permissions: await this.grants(r.id) };
  }

  /** Removes a user with their permissions and tokens; the last administrator stays. */
  async remove(name: string): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      const user = await tx
        .selectFrom('users')
        .select(['id', 'admin'])
        .where('name', '=', name)
        .executeTakeFirst();
      if (!user) throw new BerthError('USER_UNKNOWN', `user ${name} does not exist`);
      if (user.admin === 1) {
        const admins = await tx
          .selectFrom('users')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('admin', '=', 1)
          .executeTakeFirstOrThrow();
        if (Number(admins.n) <= 1)
          throw new BerthError('DENIED', `${name} is the last administrator: make another one first`);
      }
      await tx.deleteFrom('users').where('id', '=', user.id).execute();
    });
    this.changed();
  }

  async setPassword(name: string, password: string): Promise<void> {
    checkPassword(password);
    const r = await this.db
      .updateTable('users')
      .set({ password_hash: await hashPassword(password) })
      .where('name', '=', name)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw new BerthError('USER_UNKNOWN', `user ${name} does not exist`);
    this.changed();
  }

  /** The user if the password is theirs; an unknown name costs as much time as a wrong password. */
  async checkCredentials(name: string, password: string): Promise<UserRecord | undefined> {
    const r = await this.db
      .selectFrom('users')
      .select(['id', 'name', 'admin', 'password_hash'])
      .where('name', '=', name)
      .executeTakeFirst();
    if (!(await verifyPassword(r?.password_hash, password)) || !r) return undefined;
    return { id: r.id, name: r.name, admin: r.admin === 1 };
  }

  async grants(userId: number): Promise<Grant[]> {
    const rows = await this.db
      .selectFrom('user_permissions')
      .select(['pattern', 'actions'])
      .where('user_id', '=', userId)
      .orderBy('pattern')
      .execute();
    return rows.map(grant);
  }

  /** Sets what a user may do in repositories matching `pattern` (replacing what was granted there). */
  async grant(name: string, pattern: string, actions: readonly string[]): Promise<Grant> {
    const user = await this.get(name);
    const g = { pattern: parsePattern(pattern), actions: parseActions(actions) };
    await this.db
      .insertInto('user_permissions')
      .values({ user_id: user.id, pattern: g.pattern, actions: g.actions.join(',') })
      .onConflict((oc) => oc.columns(['user_id', 'pattern']).doUpdateSet({ actions: g.actions.join(',') }))
      .execute();
    this.changed();
    return g;
  }

  async revoke(name: string, pattern: string): Promise<void> {
    const user = await this.get(name);
    const r = await this.db
      .deleteFrom('user_permissions')
      .where('user_id', '=', user.id)
      .where('pattern', '=', pattern)
      .executeTakeFirst();
    if (Number(r.numDeletedRows) === 0)
      throw new BerthError('NOT_FOUND', `user ${name} has no permission on "${pattern}"`);
    this.changed();
  }

  async publicPatterns(): Promise<string[]> {
    const rows = await this.db.selectFrom('public_patterns').select('pattern').orderBy('pattern').execute();
    return rows.map((r) => r.pattern);
  }

  async addPublic(pattern: string): Promise<void> {
    await this.db
      .insertInto('public_patterns')
      .values({ pattern: parsePattern(pattern), created_at: Date.now() })
      .onConflict((oc) => oc.column('pattern').doNothing())
      .execute();
    this.changed();
  }

  async removePublic(pattern: string): Promise<void> {
    const r = await this.db.deleteFrom('public_patterns').where('pattern', '=', pattern).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw new BerthError('NOT_FOUND', `"${pattern}" is not public`);
    this.changed();
  }
}
