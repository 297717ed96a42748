// Untagged images can be found: `berth upload` without a tag warns with the full digest and a pull command by
// digest; `berth repo show` (and the version's `untagged` field in the API) lists them; index children are not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBerth } from '../helpers/cli.js';
import { fixture, http, startTestServer, type TestServer } from '../helpers/in-process.js';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer('cli-untagged');
});
afterAll(async () => {
  await s?.close();
});

const berth = (...args: string[]) => runBerth(s.url, ...args);
const host = () => new URL(s.url).host;

/** The latest version of a repository as GET /api/v1/repositories/<name>/-/versions/<n> answers it. */
async function latest(name: string) {
  const repo = (await http('GET', `${s.url}/api/v1/repositories/${name}`)).json<{ latestVersion: number }>();
  const r = await http('GET', `${s.url}/api/v1/repositories/${name}/-/versions/${repo.latestVersion}`);
  expect(r.status).toBe(200);
  return r.json<{
    content: { manifests: { digest: string }[]; tags: { name: string; digest: string }[] };
    untagged: { digest: string; mediaType: string }[];
  }>();
}

describe('an upload without a tag', () => {
  it('warns that the image is untagged, with its full digest and a pull command by digest', async () => {
    const r = await berth('upload', fixture('base.dir.tar'), 'team/base');
    expect(r.code, r.err).toBe(0);
    const [manifest] = (await latest('team/base')).content.manifests;
    const digest = manifest!.digest;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(r.err).toBe(
      [
        'berth: warning: the image is untagged: team/base version 1 holds it under its digest only',
        `  digest: ${digest}`,
        `  pull it: skopeo copy --src-tls-verify=false docker://${host()}/team/base@${digest} oci:base`,
        '  (to tag it, upload with team/base:TAG)',
        '',
      ].join('\n'),
    );
    // the summary line on stdout stays as it was
    expect(r.out).toMatch(/^team\/base version 1: sha256:[0-9a-f]{12}…; 3 blobs uploaded/);
  });

  it('warns about nothing when the upload tags the image', async () => {
    const r = await berth('upload', fixture('base.dir.tar'), 'team/tagged:1.0');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe('');
  });

  it('takes the tags an archive names (no warning); --json says which manifests are images of their own', async () => {
    // multi.oci.tar names its index 1.0 (org.opencontainers.image.ref.name); its two platform images are children
    const r = await berth('upload', '--json', fixture('multi.oci.tar'), 'team/multi');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe('');
    const result = JSON.parse(r.out) as {
      manifests: { digest: string; mediaType: string; root: boolean; tags: string[] }[];
    };
    const roots = result.manifests.filter((m) => m.root);
    expect(roots).toMatchObject([{ mediaType: 'application/vnd.oci.image.index.v1+json', tags: ['1.0'] }]);
    expect(result.manifests.filter((m) => !m.root)).toHaveLength(2);
    const text = await berth('upload', fixture('multi.oci.tar'), 'team/multi2');
    expect(text.code, text.err).toBe(0);
    expect(text.err).toBe('');
  });
});

describe('berth repo show', () => {
  it('lists the untagged images of the latest version with their digests, and the API has them', async () => {
    // team/mixed: base without a tag, then the multi-platform index with one (its children are not "untagged")
    expect((await berth('upload', fixture('base.dir.tar'), 'team/mixed')).code).toBe(0);
    expect((await berth('upload', fixture('multi.oci.tar'), 'team/mixed:1.0')).code).toBe(0);
    const v = await latest('team/mixed');
    const tagged = v.content.tags.map((t) => t.digest);
    expect(v.content.manifests).toHaveLength(4); // base, the index and its two platform images
    expect(v.untagged).toHaveLength(1);
    const base = v.untagged[0]!;
    expect(tagged).not.toContain(base.digest);
    const r = await berth('repo', 'show', 'team/mixed');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^untagged +1 image, pulled by digest only:$/m);
    expect(r.out).toContain(`\n  ${base.digest}  ${base.mediaType}`);
    // the index's children are listed nowhere as untagged
    const json = JSON.parse((await berth('repo', 'show', 'team/mixed', '--json')).out);
    expect(json.latestVersion.untagged).toEqual([base]);
  });

  it('lists none when every image is tagged', async () => {
    const r = await berth('repo', 'show', 'team/tagged');
    expect(r.code, r.err).toBe(0);
    expect(r.out).not.toContain('untagged');
    expect((await latest('team/tagged')).untagged).toEqual([]);
  });
});
