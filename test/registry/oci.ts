// A small OCI registry client for the endpoint tests: blob and manifest pushes over plain HTTP, images built in code.
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { http, type HttpResult } from '../helpers/in-process.js';
import { sha } from '../helpers/images.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const DOCKER_FOREIGN = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  [k: string]: unknown;
}

export const desc = (mediaType: string, bytes: Buffer, extra: Record<string, unknown> = {}): Descriptor => ({
  mediaType,
  digest: sha(bytes),
  size: bytes.length,
  ...extra,
});

/** The first error code of an OCI error body. */
export const code = (r: HttpResult): string => r.json().errors[0].code;

/** A registry at `base` (http://host:port), spoken to as a client would. */
export class Registry {
  constructor(readonly base: string) {}

  /** Resolves a Location header (relative or absolute) against the registry. */
  url(location: string | string[] | undefined): string {
    expect(typeof location, 'a Location header').toBe('string');
    return new URL(location as string, this.base).toString();
  }

  req(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}) {
    return http(method, `${this.base}${path}`, body, headers);
  }

  /** POST …/blobs/uploads/?digest=: a blob in one request. */
  async monolithic(repo: string, bytes: Buffer): Promise<HttpResult> {
    return this.req('POST', `/v2/${repo}/blobs/uploads/?digest=${sha(bytes)}`, bytes, {
      'content-type': 'application/octet-stream',
    });
  }

  /** Opens an upload session; returns the response (202, Location). */
  async startSession(repo: string, query = ''): Promise<HttpResult> {
    return this.req('POST', `/v2/${repo}/blobs/uploads/${query}`);
  }

  /** POST then PUT with the blob as body: the way most clients push, checked to answer 201. */
  async pushBlob(repo: string, bytes: Buffer): Promise<string> {
    const start = await this.startSession(repo);
    expect(start.status, start.body.toString()).toBe(202);
    const put = await http(
      'PUT',
      `${this.url(start.headers.location)}${sep(start.headers.location)}digest=${sha(bytes)}`,
      bytes,
      { 'content-type': 'application/octet-stream' },
    );
    expect(put.status, put.body.toString()).toBe(201);
    return sha(bytes);
  }

  async putManifest(repo: string, ref: string, bytes: Buffer | string, contentType?: string) {
    return this.req(
      'PUT',
      `/v2/${repo}/manifests/${ref}`,
      bytes,
      contentType === undefined ? {} : { 'content-type': contentType },
    );
  }

  /** Pushes an image's blobs, then its manifest under `ref`; checked to answer 201. */
  async pushImage(repo: string, img: Image, ref: string = img.digest): Promise<HttpResult> {
    for (const b of img.blobs) await this.pushBlob(repo, b);
    const r = await this.putManifest(repo, ref, img.bytes, img.mediaType);
    expect(r.status, r.body.toString()).toBe(201);
    return r;
  }

  async versions(repo: string): Promise<{ number: number; added: number; removed: number }[]> {
    const r = await this.req('GET', `/api/v1/repositories/${repo}/-/versions`);
    if (r.status === 404) return [];
    expect(r.status, r.body.toString()).toBe(200);
    return r.json().versions;
  }

  async versionCount(repo: string): Promise<number> {
    return (await this.versions(repo)).length;
  }

  async versionContent(
    repo: string,
    n: number,
  ): Promise<{
    manifests: { digest: string }[];
    blobs: { digest: string }[];
    tags: { name: string; digest: string }[];
  }> {
    const r = await this.req('GET', `/api/v1/repositories/${repo}/-/versions/${n}`);
    expect(r.status, r.body.toString()).toBe(200);
    return r.json().content;
  }

  async tags(repo: string): Promise<string[]> {
    const r = await this.req('GET', `/v2/${repo}/tags/list`);
    expect(r.status, r.body.toString()).toBe(200);
    return r.json().tags;
  }
}

/** The separator to add a query parameter to a URL that may already have some. */
export const sep = (location: string | string[] | undefined): string =>
  String(location).includes('?') ? '&' : '?';

export interface Image {
  mediaType: string;
  json: Record<string, unknown>;
  bytes: Buffer;
  digest: string;
  /** the blobs to push first (config and layers that are not foreign) */
  blobs: Buffer[];
  config?: Buffer;
  layers: Buffer[];
}

function finish(
  mediaType: string,
  json: Record<string, unknown>,
  blobs: Buffer[],
  extra: Partial<Image> = {},
) {
  const bytes = Buffer.from(JSON.stringify(json));
  return { mediaType, json, bytes, digest: sha(bytes), blobs, layers: [], ...extra };
}

/** An OCI image manifest with a fresh config and `n` random layers (or the layers given). */
export function ociImage(
  opts: {
    layers?: Buffer[];
    n?: number;
    subject?: Descriptor;
    artifactType?: string;
    annotations?: Record<string, string>;
    configType?: string;
    config?: Buffer;
    omitMediaType?: boolean;
  } = {},
): Image {
  const layers = opts.layers ?? Array.from({ length: opts.n ?? 1 }, () => randomBytes(512));
  const config =
    opts.config ??
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        author: randomBytes(8).toString('hex'),
        rootfs: { type: 'layers', diff_ids: layers.map((l) => sha(l)) },
      }),
    );
  const json: Record<string, unknown> = {
    schemaVersion: 2,
    ...(opts.omitMediaType ? {} : { mediaType: OCI_MANIFEST }),
    ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
    config: desc(opts.configType ?? OCI_CONFIG, config),
    layers: layers.map((l) => desc(OCI_LAYER, l)),
    ...(opts.subject ? { subject: opts.subject } : {}),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  return finish(OCI_MANIFEST, json, [config, ...layers], { config, layers });
}

/** A Docker schema 2 manifest, optionally with a foreign layer (its bytes never pushed). */
export function dockerImage(opts: { n?: number; foreign?: Buffer } = {}): Image {
  const layers = Array.from({ length: opts.n ?? 1 }, () => randomBytes(512));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: new Date(0).toISOString(),
      author: randomBytes(8).toString('hex'),
      rootfs: { type: 'layers', diff_ids: layers.map((l) => sha(l)) },
    }),
  );
  const foreign = opts.foreign
    ? [
        desc(DOCKER_FOREIGN, opts.foreign, {
          urls: ['https://example.invalid/layers/foreign.tar.gz'],
        }),
      ]
    : [];
  const json = {
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST,
    config: desc(DOCKER_CONFIG, config),
    layers: [...foreign, ...layers.map((l) => desc(DOCKER_LAYER, l))],
  };
  return finish(DOCKER_MANIFEST, json, [config, ...layers], { config, layers });
}

/** An index (OCI or Docker manifest list) of the given child images. */
export function indexOf(
  children: Image[],
  opts: {
    docker?: boolean;
    subject?: Descriptor;
    artifactType?: string;
    annotations?: Record<string, string>;
  } = {},
): Image {
  const mediaType = opts.docker ? DOCKER_LIST : OCI_INDEX;
  const json: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
    manifests: children.map((c, i) =>
      desc(c.mediaType, c.bytes, { platform: { architecture: i % 2 ? 'arm64' : 'amd64', os: 'linux' } }),
    ),
    ...(opts.subject ? { subject: opts.subject } : {}),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  return finish(mediaType, json, []);
}

/** The descriptor of an image's manifest, as a `subject` or index entry names it. */
export const descriptorOf = (img: Image): Descriptor => desc(img.mediaType, img.bytes);

/** A manifest push answered 201 with its location and digest. */
export function expectPushed(r: HttpResult, repo: string, img: { digest: string }): void {
  expect(r.status, r.body.toString()).toBe(201);
  expect(r.headers.location).toBe(`/v2/${repo}/manifests/${img.digest}`);
  expect(r.headers['docker-content-digest']).toBe(img.digest);
}

/** GET and HEAD of a manifest answer its exact bytes, type, digest and length. */
export async function expectServed(
  reg: Registry,
  repo: string,
  ref: string,
  img: { bytes: Buffer; digest: string },
  type: string,
): Promise<void> {
  for (const method of ['GET', 'HEAD']) {
    const r = await reg.req(method, `/v2/${repo}/manifests/${ref}`, undefined, { accept: type });
    expect(r.status, `${method} ${ref}`).toBe(200);
    expect(r.headers['content-type']).toBe(type);
    expect(r.headers['docker-content-digest']).toBe(img.digest);
    expect(r.headers['content-length']).toBe(String(img.bytes.length));
    if (method === 'GET') expect(r.body.equals(img.bytes)).toBe(true);
  }
}
