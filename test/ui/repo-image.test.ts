// The image page: facts, config summary, layers with their created_by history (empty and foreign layers), indexes, referrers, JSON.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes } from '../../src/core/sizes.js';
import { startUiServer, type UiServer, type Agent } from './ui-server.js';
import {
  FOREIGN_LAYER,
  OCI_INDEX,
  OCI_MANIFEST,
  pushImage,
  putBlob,
  putManifest,
  type PushedImage,
} from './repo-helpers.js';

let s: UiServer;
let admin: Agent;
let img: PushedImage;
let index: string;
let sbom: string;
let signature: string;
const absentChild = `sha256:${'e'.repeat(64)}`;
const foreignDigest = `sha256:${'f'.repeat(64)}`;

beforeAll(async () => {
  s = await startUiServer('ui-repo-image');
  img = await pushImage(s.app, 'team/app', '1.0', {
    layers: 2,
    config: {
      created: '2026-11-30T10:00:00Z',
      config: {
        Entrypoint: ['/bin/app'],
        Cmd: ['--serve'],
        Env: ['PATH=/usr/bin', 'MODE=<prod>'],
        User: 'app',
        ExposedPorts: { '8080/tcp': {} },
        Labels: { 'org.opencontainers.image.title': '<script>alert(1)</script>' },
      },
      history: [
        { created: '2026-11-30T09:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:abc in / ' },
        {
          created: '2026-11-30T09:01:00Z',
          created_by: '/bin/sh -c #(nop)  ENV MODE=prod',
          empty_layer: true,
        },
        { created: '2026-11-30T09:02:00Z', created_by: 'RUN apk add --no-cache ca-certificates' },
        { created: '2026-11-30T09:03:00Z', created_by: 'CMD ["--serve"]', empty_layer: true },
      ],
    },
    extraLayers: [
      {
        mediaType: FOREIGN_LAYER,
        digest: foreignDigest,
        size: 123456,
        urls: ['https://mcr.example/layer.tar.gz', 'javascript:alert(1)'],
      },
    ],
  });
  const other = await pushImage(s.app, 'team/app', undefined, { config: { architecture: 'arm64' } });
  index = await putManifest(s.app, 'team/app', 'multi', {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      {
        mediaType: OCI_MANIFEST,
        digest: img.digest,
        size: 1,
        platform: { os: 'linux', architecture: 'amd64' },
      },
      {
        mediaType: OCI_MANIFEST,
        digest: other.digest,
        size: 1,
        platform: { os: 'linux', architecture: 'arm64' },
      },
      {
        mediaType: OCI_MANIFEST,
        digest: absentChild,
        size: 7,
        platform: { os: 'windows', architecture: 'amd64' },
      },
    ],
  });
  const empty = await putBlob(s.app, 'team/app', Buffer.from('{}'));
  const artifact = (artifactType: string) => ({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
    layers: [],
    subject: { mediaType: OCI_MANIFEST, digest: img.digest, size: 1 },
  });
  sbom = await putManifest(s.app, 'team/app', undefined, artifact('application/spdx+json'));
  signature = await putManifest(
    s.app,
    'team/app',
    undefined,
    artifact('application/vnd.dev.cosign.artifact.sig.v1+json'),
  );
  admin = await s.admin();
});
afterAll(() => s?.close());

const section = (body: string, id: string): string => {
  const start = body.indexOf(`<h2 id="${id}">`);
  expect(start, id).toBeGreaterThan(0);
  const next = body.indexOf('<h2', start + 4);
  return body.slice(start, next < 0 ? undefined : next);
};

describe('the image page', () => {
  it('shows the digest, media type, sizes and when it was built', async () => {
    const res = await admin.get(`/repositories/team/app/-/manifests/${img.digest}`);
    expect(res.status).toBe(200);
    expect(res.body).toContain(`<code class="full-digest">${img.digest}</code>`);
    expect(res.body).toContain(`<code>${OCI_MANIFEST}</code>`);
    expect(res.body).toContain('<dt>Tags</dt><dd><a href="/repositories/team/app?q=1.0">1.0</a></dd>');
    // config and layers, the foreign one included
    expect(res.body).toContain(`<dt>Size (config and layers)</dt><dd>${formatBytes(img.size + 123456)}</dd>`);
    expect(res.body).toContain('<time datetime="2026-11-30T10:00:00Z">2026-11-30 10:00 UTC</time>');
    expect(res.body).toContain(`docker pull localhost:80/team/app@${img.digest}`);
  });

  it('summarizes the config: entrypoint, cmd, env, user, ports, labels (escaped)', async () => {
    const config = section(
      (await admin.get(`/repositories/team/app/-/manifests/${img.digest}`)).body,
      'config',
    );
    expect(config).toContain('<dt>Platform</dt><dd>linux/amd64</dd>');
    expect(config).toContain('<code>[&quot;/bin/app&quot;]</code>');
    expect(config).toContain('<code>[&quot;--serve&quot;]</code>');
    expect(config).toContain('<dt>User</dt><dd>app</dd>');
    expect(config).toContain('<dt>Ports</dt><dd>8080/tcp</dd>');
    expect(config).toContain('<code>MODE=&lt;prod&gt;</code>');
    expect(config).toContain('<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>');
    expect(config).not.toContain('<script>alert');
  });

  it('lists the layers in build order with their created_by, empty steps shown, a foreign layer flagged with its URLs', async () => {
    const layers = section(
      (await admin.get(`/repositories/team/app/-/manifests/${img.digest}`)).body,
      'layers',
    );
    const rows = layers.split('<tr').slice(2); // after the header row
    expect(rows).toHaveLength(5);
    expect(rows[0]).toContain('ADD file:abc in /');
    expect(rows[0]).toContain(`data-copy="${img.layerDigests[0]}"`);
    expect(rows[1]).toContain('ENV MODE=prod');
    expect(rows[1]).toContain('empty layer');
    expect(rows[2]).toContain('RUN apk add --no-cache ca-certificates');
    expect(rows[2]).toContain(`data-copy="${img.layerDigests[1]}"`);
    expect(rows[3]).toContain('CMD [&quot;--serve&quot;]');
    expect(rows[3]).toContain('empty layer');
    // the foreign layer: no history step left for it
    expect(rows[4]).toContain('foreign layer');
    expect(rows[4]).toContain('<a href="https://mcr.example/layer.tar.gz" rel="noreferrer nofollow">');
    expect(rows[4]).toContain('<li>javascript:alert(1)</li>');
    expect(rows[4]).not.toContain('href="javascript:');
    expect(rows[4]).toContain(formatBytes(123456));
    expect(layers).toContain('3 layer(s) and 2 empty step(s)');
  });

  it('groups the referrers by kind and artifact type', async () => {
    const refs = section(
      (await admin.get(`/repositories/team/app/-/manifests/${img.digest}`)).body,
      'referrers',
    );
    expect(refs).toMatch(
      /<h3>Signatures<\/h3><p><code>application\/vnd\.dev\.cosign\.artifact\.sig\.v1\+json<\/code><\/p>/,
    );
    expect(refs).toContain(`href="/repositories/team/app/-/manifests/${signature}"`);
    expect(refs).toMatch(/<h3>SBOMs<\/h3><p><code>application\/spdx\+json<\/code><\/p>/);
    expect(refs).toContain(`href="/repositories/team/app/-/manifests/${sbom}"`);
    expect(refs.indexOf('Signatures')).toBeLessThan(refs.indexOf('SBOMs'));
    // an artifact's own page names what it refers to
    const page = await admin.get(`/repositories/team/app/-/manifests/${sbom}`);
    expect(page.body).toContain('<dt>Artifact type</dt><dd><code>application/spdx+json</code></dd>');
    expect(page.body).toContain('<dt>Tags</dt><dd><span class="muted">none (untagged)</span></dd>');
    expect(page.body).toContain(`<a href="/repositories/team/app/-/manifests/${img.digest}">`);
  });

  it('shows the manifest and config JSON', async () => {
    const json = section((await admin.get(`/repositories/team/app/-/manifests/${img.digest}`)).body, 'json');
    expect(json).toContain('&quot;schemaVersion&quot;: 2');
    expect(json).toContain(`&quot;digest&quot;: &quot;${img.configDigest}&quot;`);
    expect(json).toContain('<summary>Config</summary>');
    expect(json).toContain('&quot;Entrypoint&quot;');
  });

  it('of an index: its platforms, linking the children the repository holds', async () => {
    const res = await admin.get(`/repositories/team/app/-/manifests/${index}`);
    expect(res.status).toBe(200);
    const platforms = section(res.body, 'platforms');
    expect(platforms).toContain(`<a href="/repositories/team/app/-/manifests/${img.digest}">linux/amd64</a>`);
    expect(platforms).toContain('>linux/arm64</a>');
    expect(platforms).toContain('windows/amd64');
    expect(platforms).not.toContain(`href="/repositories/team/app/-/manifests/${absentChild}"`);
    expect(platforms).toContain('(not in this repository)');
    expect(res.body).not.toContain('<h2 id="layers">');
  });

  it('answers 404 for a manifest the repository does not have, and for a repository the visitor may not read', async () => {
    const missing = await admin.get(`/repositories/team/app/-/manifests/${absentChild}`);
    expect(missing.status).toBe(404);
    expect(missing.body).toContain(`repository team/app has no manifest ${absentChild}`);
    const anon = await s.agent().get(`/repositories/team/app/-/manifests/${img.digest}`);
    expect(anon.status).toBe(404);
    expect(anon.body).toContain('there is no repository team/app, or you may not see it');
    const bad = await admin.get('/repositories/team/app/-/manifests/sha256:xyz');
    expect(bad.status).toBe(400);
  });
});
