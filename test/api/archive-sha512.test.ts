// Archive uploads naming sha512 blobs: an oci-archive with blobs/sha512/<hex>, stored and served by those digests.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../src/core/digest.js';
import { Keys } from '../../src/storage/cas.js';
import { http, startTestServer, type TestServer } from '../helpers/in-process.js';
import { tarOf, type Entry } from '../helpers/images.js';
import { snapshot } from '../helpers/state.js';
import { storeFiles } from '../helpers/store-files.js';

const s512 = (b: Buffer): string => `sha512:${createHash('sha512').update(b).digest('hex')}`;
const s256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

let s: TestServer;
const files = storeFiles(() => s.data);
beforeAll(async () => {
  s = await startTestServer('archive-sha512');
});
afterAll(async () => s?.close());

const upload = (repo: string, body: Buffer, tag?: string) =>
  http('POST', `${s.url}/api/v1/repositories/${repo}/-/archives${tag ? `?tag=${tag}` : ''}`, body);

/** An oci-archive whose every blob is named by sha512: an index (tagged `v`) of one image. */
async function archive512(opts: { damage?: boolean } = {}) {
  const entries: Entry[] = [{ name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') }];
  const put = (b: Buffer, mediaType: string, content = b) => {
    entries.push({ name: `blobs/sha512/${s512(b).slice('sha512:'.length)}`, data: content });
    return { mediaType, digest: s512(b), size: b.length };
  };
  const tar = await tarOf([{ name: 'file', data: randomBytes(2000) }]);
  const gz = gzipSync(tar);
  const layer = put(
    gz,
    'application/vnd.oci.image.layer.v1.tar+gzip',
    opts.damage ? randomBytes(gz.length) : gz,
  );
  const configBytes = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [s256(tar)] } }),
  );
  const config = put(configBytes, 'application/vnd.oci.image.config.v1+json');
  const image = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }),
  );
  const imageDesc = put(image, OCI_MANIFEST);
  const index = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [imageDesc] }),
  );
  const indexDesc = put(index, OCI_INDEX);
  entries.push({
    name: 'index.json',
    data: Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ ...indexDesc, annotations: { 'org.opencontainers.image.ref.name': 'v' } }],
      }),
    ),
  });
  return { tar: await tarOf(entries), gz, image, index, config: configBytes };
}

describe('archive uploads naming sha512 blobs', () => {
  it('stores every blob and manifest under its sha512 digest and serves them by it', async () => {
    const a = await archive512();
    const r = await upload('arch512/app', a.tar);
    expect(r.status, r.body.toString()).toBe(201);
    const byTag = await http('GET', `${s.url}/v2/arch512/app/manifests/v`, undefined, { accept: OCI_INDEX });
    expect(byTag.status).toBe(200);
    expect(byTag.headers['docker-content-digest']).toBe(s512(a.index));
    expect(byTag.body.equals(a.index)).toBe(true);
    const child = await http('GET', `${s.url}/v2/arch512/app/manifests/${s512(a.image)}`, undefined, {
      accept: OCI_MANIFEST,
    });
    expect(child.status).toBe(200);
    expect(child.body.equals(a.image)).toBe(true);
    for (const b of [a.gz, a.config, a.image, a.index]) {
      expect(existsSync(files.file(Keys.blob(s512(b) as Digest)))).toBe(true);
      expect(existsSync(files.file(Keys.blob(s256(b) as Digest)))).toBe(false);
    }
    const blob = await http('GET', `${s.url}/v2/arch512/app/blobs/${s512(a.gz)}`);
    expect(blob.status).toBe(200);
    expect(blob.body.equals(a.gz)).toBe(true);
    expect((await s.berth.fsck.run({ verify: true })).problems).toEqual([]);
  });

  it('a file whose content does not match its sha512 name: DIGEST_INVALID, nothing changed', async () => {
    const a = await archive512({ damage: true });
    const before = await snapshot(s.berth, s.data);
    const r = await upload('arch512/bad', a.tar);
    expect(r.status).toBe(400);
    expect(r.json().errors[0].code).toBe('DIGEST_INVALID');
    expect(r.json().errors[0].message).toContain(`blobs/sha512/${s512(a.gz).slice('sha512:'.length)}`);
    expect(await snapshot(s.berth, s.data)).toEqual(before);
  });
});
