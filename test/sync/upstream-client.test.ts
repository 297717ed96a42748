// The Upstream client against real registries: Distribution (anonymous, htpasswd Basic) and berth (Docker token flow).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Readable } from 'node:stream';
import { BerthError } from '../../src/core/errors.js';
import { createUpstream } from '../../src/sync/upstream-http.js';
import type { Upstream } from '../../src/sync/upstream.js';
import { describeUnless } from '../helpers/backend.js';
import { sha256 as sha } from '../../src/core/digest.js';
import {
  connectionTo,
  hasDistribution,
  NO_DISTRIBUTION,
  pushImage,
  pushIndex,
  pushReferrer,
  startBerthUpstream,
  startDistribution,
  type PushedImage,
  type UpstreamRegistry,
} from '../helpers/upstreams.js';

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function allTags(u: Upstream, repo: string): Promise<string[][]> {
  const pages: string[][] = [];
  for await (const page of u.tags(repo)) pages.push(page);
  return pages;
}

const rejectsWith = async (p: Promise<unknown>, code: string, text: RegExp) => {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(BerthError);
  expect((e as BerthError).code).toBe(code);
  expect((e as BerthError).message).toMatch(text);
  return e as BerthError;
};

/** The same checks against each kind of upstream: what every sync relies on. */
function commonChecks(
  label: string,
  start: () => Promise<UpstreamRegistry>,
  {
    authenticated,
    pagesTags,
    referrersApi,
  }: { authenticated: boolean; pagesTags: boolean; referrersApi: boolean },
) {
  describe(label, () => {
    let reg: UpstreamRegistry;
    let img: PushedImage;
    beforeAll(async () => {
      reg = await start();
      img = await pushImage(reg, 'team/app', 'v1', { layers: 3 });
      for (const t of ['v2', 'v3', 'v4', 'v5']) await pushImage(reg, 'team/app', t);
    }, 60_000);
    afterAll(() => reg?.stop());

    it('lists tags a page at a time, following Link', async () => {
      const u = createUpstream(connectionTo(reg), { tagsPageSize: 2 });
      const pages = await allTags(u, 'team/app');
      // Distribution 2.8 ignores `n` and answers one page (its pages are tested through the faulty proxy)
      if (!pagesTags) return expect(pages.flat().sort()).toEqual(['v1', 'v2', 'v3', 'v4', 'v5']);
      expect(pages).toEqual([['v1', 'v2'], ['v3', 'v4'], ['v5']]);
      expect(u.stats.requests.GET).toBeGreaterThanOrEqual(3);
    });

    it('HEADs a manifest by tag: digest, media type and size, and no GET', async () => {
      const u = createUpstream(connectionTo(reg));
      const head = await u.headManifest('team/app', 'v1');
      expect(head).toEqual({ digest: img.digest, mediaType: img.mediaType, size: img.manifest.length });
      expect(u.stats.requests.GET ?? 0).toBe(0);
      expect(u.stats.requests.HEAD).toBeGreaterThanOrEqual(1);
    });

    it('GETs a manifest byte for byte, by tag and by digest', async () => {
      const u = createUpstream(connectionTo(reg));
      for (const ref of ['v1', img.digest]) {
        const m = await u.getManifest('team/app', ref);
        expect(m?.digest).toBe(img.digest);
        expect(m?.mediaType).toBe(img.mediaType);
        expect(m?.bytes.equals(img.manifest)).toBe(true);
      }
      expect(u.stats.bytes).toBe(2 * img.manifest.length);
    });

    it('answers undefined for a tag or digest upstream does not have', async () => {
      const u = createUpstream(connectionTo(reg));
      expect(await u.headManifest('team/app', 'nope')).toBeUndefined();
      expect(await u.getManifest('team/app', 'nope')).toBeUndefined();
      expect(await u.getManifest('team/app', sha('no such manifest'))).toBeUndefined();
    });

    it('refuses the tags of a repository upstream does not have, naming it', async () => {
      const u = createUpstream(connectionTo(reg));
      await rejectsWith(
        allTags(u, 'team/none'),
        'NAME_UNKNOWN',
        /remote upstream has no repository team\/none/,
      );
    });

    it('streams a blob, verified, and counts its bytes', async () => {
      const u = createUpstream(connectionTo(reg));
      const layer = img.layers[2]!;
      const bytes = await readAll(await u.getBlob('team/app', layer.digest, layer.size));
      expect(bytes.equals(layer.bytes)).toBe(true);
      expect(u.stats.bytes).toBe(layer.size);
    });

    it('refuses a blob whose size is not the one the manifest gives', async () => {
      const u = createUpstream(connectionTo(reg));
      const layer = img.layers[0]!;
      await rejectsWith(
        u.getBlob('team/app', layer.digest, layer.size + 1),
        'UPSTREAM_ERROR',
        new RegExp(`is ${layer.size} bytes upstream, not ${layer.size + 1}`),
      );
    });

    it('refuses a blob upstream does not have', async () => {
      const u = createUpstream(connectionTo(reg));
      await rejectsWith(
        u.getBlob('team/app', sha('no such blob'), 13),
        'BLOB_UNKNOWN',
        /remote upstream has no blob/,
      );
    });

    it('gets an index and its children byte for byte', async () => {
      const idx = await pushIndex(reg, 'team/multi', 'latest', [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ]);
      const u = createUpstream(connectionTo(reg));
      const m = await u.getManifest('team/multi', 'latest');
      expect(m?.digest).toBe(idx.digest);
      expect(m?.mediaType).toBe('application/vnd.oci.image.index.v1+json');
      expect(m?.bytes.equals(idx.bytes)).toBe(true);
      const child = await u.getManifest('team/multi', idx.children[1]!.digest);
      expect(child?.bytes.equals(idx.children[1]!.manifest)).toBe(true);
    });

    it('lists referrers (the API, else the tag schema), all or of one artifact type', async () => {
      const subject = { digest: img.digest, size: img.manifest.length, mediaType: img.mediaType };
      // Distribution 2.8 has no referrers API: clients keep the tag schema's index up to date
      const sig = await pushReferrer(reg, 'team/app', subject, 'application/vnd.example.sig', {
        tagSchema: !referrersApi,
      });
      const sbom = await pushReferrer(reg, 'team/app', subject, 'application/vnd.example.sbom', {
        tagSchema: !referrersApi,
        others: [sig.descriptor],
      });
      const u = createUpstream(connectionTo(reg));
      const all = await u.referrers('team/app', img.digest);
      expect(all.map((d) => d.digest).sort()).toEqual([sig.digest, sbom.digest].sort());
      expect(all.find((d) => d.digest === sig.digest)?.artifactType).toBe('application/vnd.example.sig');
      const sigs = await u.referrers('team/app', img.digest, 'application/vnd.example.sig');
      expect(sigs.map((d) => d.digest)).toEqual([sig.digest]);
      expect(await u.referrers('team/app', img.layers[0]!.digest)).toEqual([]);
    });

    if (authenticated)
      it('fails with a clear error on a wrong password, naming the remote', async () => {
        const u = createUpstream({ ...connectionTo(reg), password: 'wrong' });
        const e = await rejectsWith(u.headManifest('team/app', 'v1'), 'UPSTREAM_ERROR', /remote upstream: /);
        expect(e.detail).toMatchObject({ remote: 'upstream', kind: 'unauthorized' });
      });
  });
}

describeUnless(hasDistribution(), NO_DISTRIBUTION)('Upstream client against Distribution', () => {
  commonChecks('anonymous', () => startDistribution(), {
    authenticated: false,
    pagesTags: false,
    referrersApi: false,
  });
  commonChecks(
    'with htpasswd Basic auth',
    () => startDistribution({ creds: { user: 'syncer', password: 'sync-pass' } }),
    { authenticated: true, pagesTags: false, referrersApi: false },
  );

  it('without credentials, a Basic upstream refuses and the error says none are configured', async () => {
    const reg = await startDistribution({ creds: { user: 'syncer', password: 'sync-pass' } });
    try {
      const u = createUpstream(connectionTo({ url: reg.url }));
      const e = await rejectsWith(
        u.headManifest('team/app', 'v1'),
        'UPSTREAM_ERROR',
        /no credentials configured/,
      );
      expect(e.detail).toMatchObject({ kind: 'unauthorized', status: 401 });
    } finally {
      await reg.stop();
    }
  });
});

describe('Upstream client against berth', () => {
  commonChecks('berth (Docker token flow)', () => startBerthUpstream(), {
    authenticated: true,
    pagesTags: true,
    referrersApi: true,
  });

  it('takes a token per repository scope once and reuses it', async () => {
    const reg = await startBerthUpstream();
    try {
      await pushImage(reg, 'team/a', 'v1');
      await pushImage(reg, 'team/b', 'v1');
      const u = createUpstream(connectionTo(reg));
      for (let i = 0; i < 3; i++) {
        expect(await u.headManifest('team/a', 'v1')).toBeDefined();
        expect(await u.headManifest('team/b', 'v1')).toBeDefined();
      }
      // the first request of the first scope meets the challenge (1 HEAD refused), then tokens serve all six
      expect(u.stats.requests.HEAD).toBe(7);
    } finally {
      await reg.stop();
    }
  });
});
