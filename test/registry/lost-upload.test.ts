// An upload session whose bytes are gone from the blob store (the store changed under it, or its object removed by
// hand) answers 404 BLOB_UPLOAD_UNKNOWN saying to start again, never a 500, and nothing is recorded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keys } from '../../src/storage/cas.js';
import { http, startTestServer, type HttpResult, type TestServer } from '../helpers/in-process.js';
import { sha } from '../helpers/images.js';

describe('an upload whose bytes are gone from the store', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer('lost-upload');
  });
  afterAll(async () => s?.close());

  const first = Buffer.from('the first chunk.');
  const second = Buffer.from('and the second one');
  const chunk = (location: string, bytes: Buffer, start: number) =>
    http('PATCH', `${s.url}${location}`, bytes, {
      'content-type': 'application/octet-stream',
      'content-range': `${start}-${start + bytes.length - 1}`,
    });

  /** A session holding `first`, then its object removed from the store; its location. */
  async function lostSession(): Promise<string> {
    const r = await http('POST', `${s.url}/v2/team/app/blobs/uploads/`);
    expect(r.status).toBe(202);
    const location = r.headers.location as string;
    expect((await chunk(location, first, 0)).status).toBe(202);
    const id = /uploads\/([^/?]+)/.exec(location)![1]!;
    await s.berth.store.delete(Keys.upload(id));
    return location;
  }

  const expectLost = (r: HttpResult) => {
    expect(r.status, r.body.toString()).toBe(404);
    const e = r.json().errors[0];
    expect(e.code).toBe('BLOB_UPLOAD_UNKNOWN');
    expect(e.message).toMatch(/has lost its bytes in the blob store .*: start the upload again$/);
  };

  it('a further chunk: 404 BLOB_UPLOAD_UNKNOWN', async () => {
    expectLost(await chunk(await lostSession(), second, first.length));
  });

  it('the closing PUT: 404 BLOB_UPLOAD_UNKNOWN, and no blob is recorded', async () => {
    const location = await lostSession();
    const digest = sha(first);
    expectLost(await http('PUT', `${s.url}${location}${location.includes('?') ? '&' : '?'}digest=${digest}`));
    expect(
      await s.berth.db.kysely.selectFrom('blobs').where('digest', '=', digest).selectAll().execute(),
    ).toEqual([]);
    expect((await http('HEAD', `${s.url}/v2/team/app/blobs/${digest}`)).status).toBe(404);
  });
});
