// `berth upload`: streams an archive file or a skopeo dir to the archive endpoint, optionally leaving out held layers.
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { ArchiveResult, PresentBlobs } from '../api/schemas.js';
import { expect } from './api-types.js';
import { ApiError, BerthClient, repositoryPath } from './client.js';
import { clientFor } from './credentials.js';
import { formatBytes, omissionSummary, uploadSummary } from './format.js';
import { bytesToSend, scanDir, tarOfDir } from './image-dir.js';
import { findLayers, layerDigestsHeld, type ArchiveView } from '../archive/layer-refs.js';
import { chooseOmissions, NO_OMISSIONS, type Omissions } from './omissions.js';
import { progressBar } from './progress.js';
import { parseRepoAndTag } from '../core/references.js';
import { untaggedUploadWarning } from './untagged.js';
import { filteredTar, isGzip, rawTar, scanTar, type TarFile } from './tar-file.js';

export interface UploadOptions {
  server: string;
  json?: boolean;
  onlyMissing?: boolean;
}

/**
 * REPO[:TAG] of `berth upload`. A target that starts with a server (`127.0.0.1:5000/team/app:1.0`, as docker and
 * podman write it) is refused saying that the server goes in --server.
 */
export function parseUploadTarget(s: string): { name: string; tag?: string } {
  try {
    return parseRepoAndTag(s);
  } catch (e) {
    const m = /^(https?:\/\/)?([^/]+)\/(.+)$/.exec(s);
    if (m && (m[1] !== undefined || /:\d+$/.test(m[2]!))) {
      const server = `${m[1] ?? 'http://'}${m[2]}`;
      throw new Error(
        `"${s}" names a server: berth takes the repository alone and the server in --server ` +
          `(berth upload ARCHIVE ${m[3]} --server ${server}, or BERTH_SERVER)`,
        { cause: e },
      );
    }
    throw e;
  }
}

type Source = { kind: 'dir'; path: string; view: ArchiveView } | { kind: 'file'; file: TarFile };

async function openSource(path: string): Promise<Source> {
  const st = await stat(path).catch((e: NodeJS.ErrnoException) => {
    throw new Error(e.code === 'ENOENT' ? `${path}: no such file or directory` : `${path}: ${e.message}`);
  });
  if (st.isDirectory()) return { kind: 'dir', path, view: await scanDir(path) };
  if (st.isFile()) return { kind: 'file', file: { path, size: st.size, gzip: await isGzip(path) } };
  throw new Error(`${path} is neither a tar file nor a directory`);
}

/** Asks the server which of `digests` the repository's latest version holds (none if it does not exist yet). */
async function presentBlobs(
  client: BerthClient,
  repository: string,
  digests: string[],
): Promise<Set<string>> {
  try {
    const answer = await client.postJson(repositoryPath(repository, '/-/blobs/present'), { digests });
    return new Set(expect(PresentBlobs, answer, 'the blobs/present request').present);
  } catch (e) {
    if (e instanceof ApiError && e.code === 'NAME_UNKNOWN') return new Set();
    throw e;
  }
}

async function chooseLeftOut(client: BerthClient, repository: string, view: ArchiveView) {
  const found = await findLayers(view);
  const digests = layerDigestsHeld(view, found);
  const present = digests.length > 0 ? await presentBlobs(client, repository, digests) : new Set<string>();
  return { omissions: chooseOmissions(view, found, present), asked: digests.length };
}

/** The request body: the file as it is when nothing is left out, else a tar re-streamed without those entries. */
function bodyOf(source: Source, omissions: Omissions, tick: (n: number) => void): Readable {
  if (source.kind === 'dir') return tarOfDir(source.path, source.view, omissions.paths, tick);
  if (omissions.paths.size === 0) return rawTar(source.file, tick);
  return filteredTar(source.file, omissions.paths, tick);
}

/** Uploads the archive or directory at `path` to REPO[:TAG] and prints the outcome. */
export async function upload(path: string, repository: string, tag: string | undefined, opts: UploadOptions) {
  const client = clientFor(opts);
  const source = await openSource(path);
  let omissions = NO_OMISSIONS;
  if (opts.onlyMissing) {
    const view = source.kind === 'dir' ? source.view : await scanTar(source.file);
    const chosen = await chooseLeftOut(client, repository, view);
    omissions = chosen.omissions;
    if (!opts.json) console.log(omissionSummary(omissions, repository, chosen.asked));
  }
  const total = source.kind === 'dir' ? bytesToSend(source.view, omissions.paths) : source.file.size;
  const bar = progressBar('uploading', opts.json ? 0 : total);
  const body = bodyOf(source, omissions, (n) => bar.tick(n));
  const length = source.kind === 'file' && omissions.paths.size === 0 ? source.file.size : undefined;
  const query = tag === undefined ? '' : `?tag=${encodeURIComponent(tag)}`;
  let answer: unknown;
  try {
    answer = await client.postStream(
      repositoryPath(repository, `/-/archives${query}`),
      body,
      'application/x-tar',
      length,
    );
  } finally {
    bar.stop();
  }
  if (opts.json) {
    console.log(JSON.stringify(answer, null, 2));
    return;
  }
  const result = ArchiveResult.safeParse(answer);
  console.log(
    result.success ? uploadSummary(result.data) : `uploaded ${formatBytes(total)}: ${JSON.stringify(answer)}`,
  );
  if (result.success) for (const line of untaggedUploadWarning(result.data, opts.server)) console.error(line);
}
