// Images as people look at them: a manifest with its platforms, size, config summary, layers with their history, referrers.
import { buffer } from 'node:stream/consumers';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Digest } from '../core/digest.js';
import { parseManifest, type Descriptor, type ParsedManifest } from '../core/manifests.js';
import { isForeignLayer } from '../core/media-types.js';
import type { BlobStore } from '../storage/blob-store.js';
import { readSmallBlob } from '../storage/cas.js';
import { inLatestVersion } from './held.js';
import type { Manifests } from './manifests.js';
import { openStored } from './blobs.js';
import { blobObjectKey, locateIn } from '../gc/blob-objects.js';

/** What a row of a tags page shows of the image a tag points at. */
export interface ImageSummary {
  kind: 'image' | 'index';
  /** "linux/amd64", "linux/arm64/v8"…; empty when unknown (no config stored, an artifact) */
  platforms: string[];
  /** image: its config and layers; index: its children's manifests and stored blobs */
  size: number;
}

export interface ConfigSummary {
  platform: string | null;
  entrypoint: string[] | null;
  cmd: string[] | null;
  env: string[];
  user: string | null;
  workingDir: string | null;
  ports: string[];
  labels: Record<string, string>;
}

/** A step of the image's history: a layer (with the command that made it) or an empty step. */
export interface LayerStep {
  createdBy: string | null;
  created: string | null;
  comment: string | null;
  /** null: an empty step (ENV, CMD…) that made no layer */
  layer: { digest: string; mediaType: string; size: number; foreign: boolean; urls: string[] } | null;
}

export interface ImageDetails {
  digest: Digest;
  mediaType: string;
  size: number;
  kind: 'image' | 'index';
  /** when the image was built (config `created` or the created annotation), if it says */
  created: string | null;
  /** when berth first stored the manifest */
  storedAt: string | null;
  artifactType: string | null;
  subject: string | null;
  annotations: Record<string, string>;
  /** the manifest's bytes as stored (text) */
  manifestJson: string;
  /** indexes: the children, and whether this repository holds each */
  children: (Descriptor & { platformName: string; held: boolean })[];
  /** images: the config descriptor, its text when stored (null: not stored here) and its summary */
  config: { descriptor: Descriptor; json: string | null; summary: ConfigSummary | null } | null;
  /** images: the history joined to the layers; a layer with no history step shows with createdBy null */
  steps: LayerStep[];
  /** manifests of the repository whose subject this is */
  referrers: Descriptor[];
  /** the sum of the config's and the layers' sizes (images) or the children's (indexes) */
  totalSize: number;
}

const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
/** Manifests (and configs) a tags page reads at once. */
const READERS = 8;

type Json = Record<string, unknown>;
const obj = (v: unknown): Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const strings = (v: unknown): string[] | null =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : null;

/** "os/architecture[/variant]" of a platform object (an index descriptor's, or a config's top level). */
export function platformName(p: unknown): string {
  const o = obj(p);
  const parts = [str(o.os), str(o.architecture), str(o.variant)].filter((x): x is string => !!x);
  return parts.length >= 2 ? parts.join('/') : '';
}

function configSummary(config: Json): ConfigSummary {
  const c = obj(config.config);
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(c.Labels))) if (typeof v === 'string') labels[k] = v;
  return {
    platform: platformName(config) || null,
    entrypoint: strings(c.Entrypoint),
    cmd: strings(c.Cmd),
    env: strings(c.Env) ?? [],
    user: str(c.User) || null,
    workingDir: str(c.WorkingDir) || null,
    ports: Object.keys(obj(c.ExposedPorts)),
    labels,
  };
}

/** The history steps joined to the layers in order: each non-empty step takes the next layer. */
function stepsOf(layers: Descriptor[], config: Json | null): LayerStep[] {
  const layer = (d: Descriptor): LayerStep['layer'] => ({
    digest: d.digest,
    mediaType: d.mediaType,
    size: d.size,
    foreign: isForeignLayer(d.mediaType),
    urls: d.urls ?? [],
  });
  const history = Array.isArray(config?.history) ? config.history.map(obj) : [];
  const steps: LayerStep[] = [];
  let next = 0;
  for (const h of history) {
    const empty = h.empty_layer === true;
    if (!empty && next >= layers.length) break; // a history longer than the layers: the rest is not this image's
    steps.push({
      createdBy: str(h.created_by),
      created: str(h.created),
      comment: str(h.comment),
      layer: empty ? null : layer(layers[next++]!),
    });
  }
  for (; next < layers.length; next++) {
    steps.push({ createdBy: null, created: null, comment: null, layer: layer(layers[next]!) });
  }
  return steps;
}

export class Images {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly store: BlobStore,
    private readonly manifests: Manifests,
  ) {}

  private async read(name: string, digest: Digest) {
    const m = await this.manifests.get(name, { kind: 'digest', digest });
    return { record: m, parsed: parseManifest(m.bytes!, m.mediaType) };
  }

  private async config(parsed: ParsedManifest): Promise<{ json: string; value: Json } | null> {
    if (!parsed.config) return null;
    const bytes = await readSmallBlob(this.store, locateIn(this.db), parsed.config.digest, MAX_CONFIG_BYTES);
    if (!bytes) return null;
    const json = bytes.toString('utf8');
    try {
      return { json, value: obj(JSON.parse(json)) };
    } catch {
      return { json, value: {} };
    }
  }

  /** The children's sizes (their manifests and stored blobs), by child digest. */
  private async childSizes(children: string[]): Promise<Map<string, number>> {
    const sizes = new Map<string, number>();
    if (children.length === 0) return sizes;
    const rows = await this.db
      .selectFrom('manifest_references as r')
      .innerJoin('blobs as b', 'b.digest', 'r.digest')
      .select(['r.manifest_digest', (eb) => eb.fn.sum<number | string>('b.size').as('size')])
      .where('r.manifest_digest', 'in', children)
      .where('r.kind', '=', 'blob')
      .groupBy('r.manifest_digest')
      .execute();
    for (const r of rows) sizes.set(r.manifest_digest, Number(r.size));
    return sizes;
  }

  /** The sizes of manifests by digest (a diff's manifests), read in batches. */
  async manifestSizes(digests: string[]): Promise<Map<string, number>> {
    const sizes = new Map<string, number>();
    const unique = [...new Set(digests)];
    for (let i = 0; i < unique.length; i += 500) {
      const rows = await this.db
        .selectFrom('manifests')
        .select(['digest', 'size'])
        .where('digest', 'in', unique.slice(i, i + 500))
        .execute();
      for (const r of rows) sizes.set(r.digest, Number(r.size));
    }
    return sizes;
  }

  /** One summary, from the manifest's stored bytes (and an image's config, for its platform). */
  private async summary(digest: Digest, mediaType: string, size: number): Promise<ImageSummary> {
    const bytes = await buffer(
      await openStored(this.store, await blobObjectKey(this.db, digest), digest, size),
    );
    const parsed = parseManifest(bytes, mediaType);
    if (parsed.kind === 'index') {
      const sizes = await this.childSizes(parsed.manifests.map((d) => d.digest));
      return {
        kind: 'index',
        platforms: parsed.manifests.map((d) => platformName(d.platform)).filter((p) => p !== ''),
        size: parsed.manifests.reduce((n, d) => n + d.size + (sizes.get(d.digest) ?? 0), 0),
      };
    }
    const config = await this.config(parsed);
    const platform = config ? platformName(config.value) : '';
    return {
      kind: 'image',
      platforms: platform ? [platform] : [],
      size: (parsed.config?.size ?? 0) + parsed.layers.reduce((n, l) => n + l.size, 0),
    };
  }

  /**
   * What a tags page shows of each manifest `digests` names (the visible rows only): platforms and size. Which of
   * them the latest version holds is asked once; each manifest, and an image's config, is then read (a few at a
   * time). A manifest that cannot be read (gone since, or unparsable) is left out.
   */
  async summaries(name: string, digests: Digest[]): Promise<Map<string, ImageSummary>> {
    const out = new Map<string, ImageSummary>();
    const held = [...(await inLatestVersion(this.db, name, ['manifest'], digests))];
    if (held.length === 0) return out;
    const rows = await this.db
      .selectFrom('manifests')
      .select(['digest', 'media_type', 'size'])
      .where('digest', 'in', held)
      .execute();
    let next = 0;
    const worker = async () => {
      while (next < rows.length) {
        const r = rows[next++]!;
        try {
          out.set(r.digest, await this.summary(r.digest as Digest, r.media_type, Number(r.size)));
        } catch {
          // gone since the page's rows were read (a concurrent delete and cleanup), or not parsable
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(READERS, rows.length) }, worker));
    return out;
  }

  /** Everything the image page shows of manifest `digest` of the repository's latest version. */
  async details(name: string, digest: Digest): Promise<ImageDetails> {
    const { record, parsed } = await this.read(name, digest);
    const row = await this.db
      .selectFrom('manifests')
      .select('created_at')
      .where('digest', '=', digest)
      .executeTakeFirst();
    const annotations = parsed.annotations ?? {};
    const base = {
      digest: record.digest,
      mediaType: record.mediaType,
      size: record.size,
      kind: parsed.kind,
      storedAt: row ? new Date(Number(row.created_at)).toISOString() : null,
      artifactType: parsed.artifactType ?? null,
      subject: parsed.subject?.digest ?? null,
      annotations,
      manifestJson: record.bytes!.toString('utf8'),
      referrers: await this.manifests.referrers(name, digest),
    };
    const annotated = annotations['org.opencontainers.image.created'] ?? null;
    if (parsed.kind === 'index') {
      const held = await inLatestVersion(
        this.db,
        name,
        ['manifest'],
        parsed.manifests.map((d) => d.digest),
      );
      const sizes = await this.childSizes(parsed.manifests.map((d) => d.digest));
      return {
        ...base,
        created: annotated,
        children: parsed.manifests.map((d) => ({
          ...d,
          platformName: platformName(d.platform),
          held: held.has(d.digest),
        })),
        config: null,
        steps: [],
        totalSize: parsed.manifests.reduce((n, d) => n + d.size + (sizes.get(d.digest) ?? 0), 0),
      };
    }
    const config = await this.config(parsed);
    return {
      ...base,
      created: str(config?.value.created) ?? annotated,
      children: [],
      config: parsed.config
        ? {
            descriptor: parsed.config,
            json: config?.json ?? null,
            summary: config ? configSummary(config.value) : null,
          }
        : null,
      steps: stepsOf(parsed.layers, config?.value ?? null),
      totalSize: (parsed.config?.size ?? 0) + parsed.layers.reduce((n, l) => n + l.size, 0),
    };
  }
}
