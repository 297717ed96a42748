// Manifests and indexes: parsing uploaded bytes (never re-serialized) into the descriptors berth tracks.
import { BerthError } from './errors.js';
import { invalidDigest, isDigest, type Digest } from './digest.js';
import { isForeignLayer, MediaTypes, isIndexMediaType, isManifestMediaType } from './media-types.js';

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  artifactType?: string;
  platform?: unknown;
}

export interface ParsedManifest {
  mediaType: string;
  kind: 'image' | 'index';
  /** image manifests: the config descriptor */
  config?: Descriptor;
  /** image manifests: layers (foreign ones included) */
  layers: Descriptor[];
  /** indexes: child manifests */
  manifests: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

type Json = Record<string, unknown>;

function invalid(message: string, detail?: unknown): never {
  throw new BerthError('MANIFEST_INVALID', message, detail);
}

function descriptor(v: unknown, field: string): Descriptor {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    invalid(`${field} must be a descriptor object`);
  const o = v as Json;
  if (typeof o.mediaType !== 'string' || o.mediaType === '') invalid(`${field}.mediaType is missing`);
  if (typeof o.digest !== 'string' || !isDigest(o.digest)) {
    invalid(invalidDigest(String(o.digest), `${field}.digest`).message);
  }
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) {
    invalid(`${field}.size must be a non-negative integer`);
  }
  const d: Descriptor = { mediaType: o.mediaType, digest: o.digest, size: o.size };
  if (o.urls !== undefined) {
    if (!Array.isArray(o.urls) || !o.urls.every((u) => typeof u === 'string')) {
      invalid(`${field}.urls must be a list of strings`);
    }
    d.urls = o.urls as string[];
  }
  if (o.annotations !== undefined) d.annotations = stringMap(o.annotations, `${field}.annotations`);
  if (typeof o.artifactType === 'string') d.artifactType = o.artifactType;
  if (o.platform !== undefined) d.platform = o.platform;
  return d;
}

function stringMap(v: unknown, field: string): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    invalid(`${field} must be an object of strings`);
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') invalid(`${field}.${k} must be a string`);
  }
  return v as Record<string, string>;
}

function list(v: unknown, field: string): Descriptor[] {
  if (!Array.isArray(v)) invalid(`${field} must be a list of descriptors`);
  return v.map((x, i) => descriptor(x, `${field}[${i}]`));
}

/**
 * Where a string (key or value) of parsed JSON holds U+0000, e.g. "manifest.annotations.a": PostgreSQL keeps no
 * NUL in text, and no manifest needs one. Other control characters (a newline in a description) stay allowed.
 */
function nulAt(v: unknown, path: string): string | undefined {
  if (typeof v === 'string') return v.includes('\u0000') ? path : undefined;
  if (typeof v !== 'object' || v === null) return undefined;
  for (const [k, x] of Object.entries(v)) {
    if (k.includes('\u0000')) return `${path} (a key)`;
    const at = nulAt(x, Array.isArray(v) ? `${path}[${k}]` : `${path}.${k}`);
    if (at !== undefined) return at;
  }
  return undefined;
}

/** Parses JSON of an archive or request; says which file or field is wrong. */
export function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new BerthError('MANIFEST_INVALID', `${what} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Parses manifest bytes. `declaredType` is the media type the client or archive gave (Content-Type, a
 * descriptor); without one the type comes from the `mediaType` field or, as OCI allows, from the shape.
 */
export function parseManifest(bytes: Buffer, declaredType?: string, what = 'manifest'): ParsedManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) invalid(`${what} is larger than ${MAX_MANIFEST_BYTES} bytes`);
  const json = parseJson(bytes, what);
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    invalid(`${what} must be a JSON object`);
  const nul = nulAt(json, what);
  if (nul !== undefined) invalid(`${nul} holds a NUL character (\\u0000), which berth does not store`);
  const o = json as Json;
  if (o.schemaVersion === 1) {
    throw new BerthError(
      'MANIFEST_INVALID',
      `${what} is Docker schema 1, which berth does not accept: convert it to schema 2 or OCI (e.g. skopeo copy --format v2s2)`,
    );
  }
  if (o.schemaVersion !== 2) invalid(`${what}.schemaVersion must be 2`);
  const fieldType = typeof o.mediaType === 'string' ? o.mediaType : undefined;
  let mediaType = fieldType ?? declaredType;
  if (
    mediaType === undefined ||
    mediaType === 'application/json' ||
    mediaType === 'application/octet-stream'
  ) {
    mediaType = Array.isArray(o.manifests) ? MediaTypes.ociIndex : MediaTypes.ociManifest;
  }
  if (fieldType !== undefined && declaredType !== undefined && isManifestMediaType(declaredType)) {
    if (fieldType !== declaredType) {
      invalid(`${what} declares mediaType "${fieldType}" but was sent as "${declaredType}"`);
    }
  }
  if (mediaType === MediaTypes.dockerSchema1 || mediaType === MediaTypes.dockerSchema1Signed) {
    invalid(`${what} is Docker schema 1, which berth does not accept: convert it to schema 2 or OCI`);
  }
  if (!isManifestMediaType(mediaType)) {
    invalid(
      `${what} has unknown media type "${mediaType}"; berth accepts OCI image manifests and indexes and ` +
        `Docker schema 2 manifests and manifest lists`,
    );
  }
  const out: ParsedManifest = {
    mediaType,
    kind: isIndexMediaType(mediaType) ? 'index' : 'image',
    layers: [],
    manifests: [],
  };
  if (out.kind === 'index') {
    if (o.manifests === undefined) invalid(`${what}.manifests is missing`);
    out.manifests = list(o.manifests, `${what}.manifests`);
    for (const [i, m] of out.manifests.entries()) {
      if (!isManifestMediaType(m.mediaType)) {
        invalid(`${what}.manifests[${i}] has media type "${m.mediaType}", which is not a manifest type`);
      }
    }
  } else {
    if (o.config === undefined) invalid(`${what}.config is missing`);
    out.config = descriptor(o.config, `${what}.config`);
    if (o.layers === undefined) invalid(`${what}.layers is missing`);
    out.layers = list(o.layers, `${what}.layers`);
  }
  if (o.subject !== undefined) out.subject = descriptor(o.subject, `${what}.subject`);
  if (typeof o.artifactType === 'string') out.artifactType = o.artifactType;
  if (o.annotations !== undefined) out.annotations = stringMap(o.annotations, `${what}.annotations`);
  return out;
}

/** The blobs a manifest needs stored: its config and every layer that is not foreign. */
export function requiredBlobs(m: ParsedManifest): Descriptor[] {
  const out: Descriptor[] = [];
  if (m.config) out.push(m.config);
  for (const l of m.layers) if (!isForeignLayer(l.mediaType)) out.push(l);
  return out;
}

/** Reads `rootfs.diff_ids` of an image config, aligned with the manifest's layers. */
export function configDiffIds(configBytes: Buffer, what = 'image config'): Digest[] {
  const json = parseJson(configBytes, what);
  const rootfs = (json as Json | null)?.rootfs as Json | undefined;
  const ids = rootfs?.diff_ids;
  if (!Array.isArray(ids) || !ids.every((x) => typeof x === 'string' && isDigest(x))) {
    throw new BerthError('MANIFEST_INVALID', `${what} has no valid rootfs.diff_ids list`);
  }
  return ids as Digest[];
}
