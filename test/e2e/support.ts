// Helpers of the end-to-end tests: repository versions through the API, OCI layouts read back, /proc figures.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { http } from '../helpers/in-process.js';
import { run } from '../helpers/real-server.js';

export const MIB = 1024 * 1024;
export const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface VersionInfo {
  number: number;
  added: number;
  removed: number;
}

/** The repository's versions (GET /api/v1/repositories/<name>/-/versions); [] when it does not exist. */
export async function versionsOf(url: string, name: string): Promise<VersionInfo[]> {
  const r = await http('GET', `${url}/api/v1/repositories/${name}/-/versions`);
  if (r.status === 404) return [];
  if (r.status !== 200) throw new Error(`versions of ${name}: ${r.status} ${r.body.toString()}`);
  return r.json<{ versions: VersionInfo[] }>().versions;
}

/** The sha256 of a layer's uncompressed bytes (its diff ID): gzip is undone, a plain tar hashed as it is. */
export const diffIdOf = (blob: Buffer): string =>
  sha(blob[0] === 0x1f && blob[1] === 0x8b ? gunzipSync(blob) : blob);

export interface LayoutImage {
  /** digest of the manifest (or index) the layout's index.json names */
  digest: string;
  manifest: { layers?: { digest: string; mediaType: string; urls?: string[] }[]; manifests?: unknown[] };
  /** diff IDs computed from the layer blobs present in the layout (missing ones are skipped) */
  diffIds: string[];
  configDiffIds: string[];
  blobs: string[];
}

/** Reads the one image of an OCI layout written by `skopeo copy … oci:DIR:REF`. */
export function readLayout(dir: string): LayoutImage {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
  const blobDir = join(dir, 'blobs', 'sha256');
  const blobs = readdirSync(blobDir).map((h) => `sha256:${h}`);
  const blob = (d: string) => readFileSync(join(blobDir, d.slice(7)));
  const digest: string = index.manifests[0].digest;
  const manifest = JSON.parse(blob(digest).toString());
  let diffIds: string[] = [];
  let configDiffIds: string[] = [];
  if (manifest.layers) {
    diffIds = manifest.layers
      .filter((l: { digest: string }) => blobs.includes(l.digest))
      .map((l: { digest: string }) => diffIdOf(blob(l.digest)));
    configDiffIds = JSON.parse(blob(manifest.config.digest).toString()).rootfs.diff_ids;
  }
  return { digest, manifest, diffIds, configDiffIds, blobs };
}

/** Reads a `skopeo copy … dir:DIR` image: manifest digest and the diff IDs of its layer files. */
export function readDir(dir: string): { digest: string; diffIds: string[]; configDiffIds: string[] } {
  const raw = readFileSync(join(dir, 'manifest.json'));
  const manifest = JSON.parse(raw.toString());
  const file = (d: string) => readFileSync(join(dir, d.slice(7)));
  return {
    digest: sha(raw),
    diffIds: manifest.layers.map((l: { digest: string }) => diffIdOf(file(l.digest))),
    configDiffIds: JSON.parse(file(manifest.config.digest).toString()).rootfs.diff_ids,
  };
}

/** Unpacks a docker-archive and hashes the layer files its manifest.json lists (uncompressed: their diff IDs). */
export async function readDockerArchive(
  tarFile: string,
  into: string,
): Promise<{ repoTags: string[]; diffIds: string[]; configDiffIds: string[] }> {
  await run('mkdir', ['-p', into]);
  await run('tar', ['-C', into, '-xf', tarFile]);
  const [entry] = JSON.parse(readFileSync(join(into, 'manifest.json'), 'utf8'));
  return {
    repoTags: entry.RepoTags ?? [],
    diffIds: entry.Layers.map((f: string) => diffIdOf(readFileSync(join(into, f)))),
    configDiffIds: JSON.parse(readFileSync(join(into, entry.Config), 'utf8')).rootfs.diff_ids,
  };
}

export { filesUnder } from '../helpers/state.js';

/** Resident memory of a process (VmRSS), in bytes. */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** A process's I/O counters (/proc/<pid>/io): rchar/wchar count every byte read/written by syscalls. */
export function ioOf(pid: number): { rchar: number; wchar: number } {
  const text = readFileSync(`/proc/${pid}/io`, 'utf8');
  const get = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)![1]);
  return { rchar: get('rchar'), wchar: get('wchar') };
}
