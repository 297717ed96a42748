// --database values: which are refused, how a failed connection is told (by SQLSTATE or errno), passwords masked.
import { describe, expect, it } from 'vitest';
import { checkDatabaseUrl, connectionError, maskPassword } from './database-url.js';

describe('checkDatabaseUrl', () => {
  it.each([
    './berth-data/berth.db',
    '/var/lib/berth/berth.db',
    'sqlite:/tmp/b.db',
    ':memory:',
    'C:\\berth\\b.db',
    'postgres://u@h/db',
    'postgresql://u:p@h:5433/db?schema=s',
  ])('accepts %s', (url) => expect(() => checkDatabaseUrl(url)).not.toThrow());
  it.each(['mysql://root@db/berth', 'postgres:/typo', 'postgress://h/db', 'file://x', ''])(
    'refuses "%s"',
    (url) => expect(() => checkDatabaseUrl(url)).toThrow(/postgres:\/\/USER\[:PASSWORD\]@HOST/),
  );
});

describe('connectionError', () => {
  const url = 'postgres://berth:hunter2@db.example:5433/registry';
  it.each([
    ['ECONNREFUSED', 'connection refused — is PostgreSQL running there?'],
    ['ENOTFOUND', 'there is no host db.example — check the host name'],
    ['28P01', 'the password of role berth is wrong — check the password in the URL'],
    ['28000', 'the server refuses role berth — check that the role exists and pg_hba.conf lets it in'],
    ['3D000', 'there is no database registry — create it (createdb registry) or fix the name in the URL'],
  ])('%s: names the database (password masked) and what to check', (code, advice) => {
    const e = connectionError(Object.assign(new Error('boom'), { code }), url);
    expect(e.message).toBe(
      `could not connect to the database at postgres://berth:***@db.example:5433/registry: ${advice}`,
    );
  });
  it('an AggregateError (every address refused) reads the code of its first error', () => {
    const e = connectionError(
      new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })]),
      url,
    );
    expect(e.message).toMatch(/: connection refused — is PostgreSQL running there\?$/);
  });
  it('another failure keeps its message', () => {
    expect(connectionError(new Error('SSL is required'), url).message).toBe(
      'could not connect to the database at postgres://berth:***@db.example:5433/registry: SSL is required',
    );
  });
});

describe('maskPassword', () => {
  it('masks the password only', () => {
    expect(maskPassword('postgres://u:p%40ss@h/db')).toBe('postgres://u:***@h/db');
    expect(maskPassword('postgres://u@h/db')).toBe('postgres://u@h/db');
  });
});
