// GET /api/v1/usage and /api/v1/repositories/<name>/-/usage (`berth du`): the bytes of a constructed situation.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { sha } from '../helpers/images.js';
import { ociImage, Registry, type Image } from '../registry/oci.js';

let s: TestServer;
let reg: Registry;

// du/a and du/b share the layer S; du/a's old version 2 held image A2 (layer R), whose manifest and layer R were
// deleted since; du/b has a blob P pushed and awaiting a manifest; du/c had a blob U pushed and deleted again
// (awaiting cleanup); an upload session holds 555 bytes; an archive upload being received has 444 staged.
const S = randomBytes(1000);
const R = randomBytes(777);
const P = randomBytes(333);
const U = randomBytes(222);
let A: Image;
let A2: Image;
let B: Image;

const size = (...parts: Buffer[]): number => parts.reduce((n, b) => n + b.length, 0);

beforeAll(async () => {
  s = await startTestServer('disk-usage');
  reg = new Registry(s.url);
  A = ociImage({ layers: [S] });
  A2 = ociImage({ layers: [R] });
  B = ociImage({ layers: [S] });
  await reg.pushImage('du/a', A, 'v1');
  await reg.pushImage('du/a', A2, 'v2');
  expect((await reg.req('DELETE', `/v2/du/a/manifests/${A2.digest}`)).status).toBe(202);
  expect((await reg.req('DELETE', `/v2/du/a/blobs/${sha(R)}`)).status).toBe(202);
  await reg.pushImage('du/b', B, 'v1');
  await reg.pushBlob('du/b', P);
  await reg.pushBlob('du/c', U);
  expect((await reg.req('DELETE', `/v2/du/c/blobs/${sha(U)}`)).status).toBe(202);
  const session = await reg.startSession('du/c');
  const patch = await http('PATCH', reg.url(session.headers.location), randomBytes(555), {
    'content-type': 'application/octet-stream',
  });
  expect(patch.status).toBe(202);
  const staged = await s.berth.store.writer('staging/in-flight/0');
  await new Promise<void>((resolve, reject) => staged.on('error', reject).end(randomBytes(444), resolve));
});
afterAll(async () => s?.close());

describe('disk usage', () => {
  it('per repository: latest version, pending, every retained version, and what only it refers to', async () => {
    const r = await http('GET', `${s.url}/api/v1/usage`);
    expect(r.status, r.body.toString()).toBe(200);
    const a = {
      name: 'du/a',
      // A's config, S and manifest; A2's config stays in the latest version (only R and A2's manifest left it)
      latest: size(A.config!, S, A.bytes, A2.config!),
      pending: 0,
      retained: size(A.config!, S, A.bytes, A2.config!, R, A2.bytes),
      unique: size(A.config!, A.bytes, A2.config!, R, A2.bytes), // S is du/b's too
    };
    const b = {
      name: 'du/b',
      latest: size(B.config!, S, B.bytes),
      pending: size(P),
      retained: size(B.config!, S, B.bytes),
      unique: size(B.config!, B.bytes, P),
    };
    // du/c holds nothing (its pushed blob was deleted, its session is no content): not listed
    expect(r.json().repositories).toEqual([a, b]);
  });

  it('for the whole store: referenced, unreferenced awaiting cleanup, upload sessions, staging', async () => {
    const r = await http('GET', `${s.url}/api/v1/usage`);
    const referenced = [A.config!, S, A.bytes, A2.config!, R, A2.bytes, B.config!, B.bytes, P];
    expect(r.json().store).toEqual({
      blobs: { count: referenced.length + 1, bytes: size(...referenced, U) },
      referenced: { count: referenced.length, bytes: size(...referenced) },
      unreferenced: { count: 1, bytes: size(U) },
      uploads: { sessions: 1, bytes: 555 },
      staging: { files: 1, bytes: 444 },
    });
  });

  it('one repository, with the quotas on it; the same numbers as the whole listing', async () => {
    await http('PUT', `${s.url}/api/v1/quotas`, JSON.stringify({ pattern: 'du/*', limit: '1GiB' }), {
      'content-type': 'application/json',
    });
    const all = (await http('GET', `${s.url}/api/v1/usage`)).json().repositories;
    const one = await http('GET', `${s.url}/api/v1/repositories/du/b/-/usage`);
    expect(one.status).toBe(200);
    const quotaUsage = all.reduce(
      (n: number, x: { latest: number; pending: number }) => n + x.latest + x.pending,
      0,
    );
    expect(one.json()).toEqual({
      ...all[1],
      quotas: [{ pattern: 'du/*', limit: 1024 ** 3, usage: quotaUsage }],
    });
    // what quotas count is the latest version and pending pushes
    const show = await http('GET', `${s.url}/api/v1/repositories/du/b`);
    expect(show.json().usage.bytes).toBe(all[1].latest + all[1].pending);
  });

  it('a repository that does not exist: 404 NAME_UNKNOWN; the whole store: administrators only', async () => {
    const none = await http('GET', `${s.url}/api/v1/repositories/du/none/-/usage`);
    expect(none.status).toBe(404);
    expect(none.json().errors[0].code).toBe('NAME_UNKNOWN');
    await s.berth.auth.users.create('reader', 'reader-password');
    await s.berth.auth.users.grant('reader', 'du/*', ['pull']);
    const reader = { authorization: basic('reader', 'reader-password') };
    expect((await http('GET', `${s.url}/api/v1/usage`, undefined, reader)).status).toBe(403);
    expect((await http('GET', `${s.url}/api/v1/repositories/du/a/-/usage`, undefined, reader)).status).toBe(
      200,
    );
  });
});
