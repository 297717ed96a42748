// What the CLI says about untagged images: the warning of an upload without a tag, and `repo show`'s list of them.
import type { ArchiveResult } from '../api/schemas.js';
import { plural, table } from './format.js';

/** A skopeo command that pulls `repository@digest` from `server` into an OCI layout named after the repository. */
export function pullByDigest(server: string, repository: string, digest: string): string {
  const url = new URL(server);
  const plain = url.protocol === 'http:' ? ' --src-tls-verify=false' : '';
  const dir = repository.split('/').at(-1) ?? repository;
  return `skopeo copy${plain} docker://${url.host}/${repository}@${digest} oci:${dir}`;
}

/**
 * The warning `berth upload` prints (on stderr) when images of the archive got no tag: each one's full digest and a
 * pull command by digest. None when every image is tagged.
 */
export function untaggedUploadWarning(r: ArchiveResult, server: string): string[] {
  // (a server that does not say which manifests are images of their own: those no tag names)
  const untagged = r.manifests.filter((m) => m.root !== false && m.tags.length === 0);
  if (untagged.length === 0) return [];
  const what = untagged.length === 1 ? 'the image is untagged' : `${untagged.length} images are untagged`;
  return [
    `berth: warning: ${what}: ${r.repository} version ${r.version} holds ${untagged.length === 1 ? 'it' : 'them'} under ${untagged.length === 1 ? 'its digest' : 'their digests'} only`,
    ...untagged.flatMap((m) => [
      `  digest: ${m.digest}`,
      `  pull it: ${pullByDigest(server, r.repository, m.digest)}`,
    ]),
    `  (to tag it, upload with ${r.repository}:TAG)`,
  ];
}

/** `repo show`'s lines for the untagged images of the latest version (none: no lines). */
export function untaggedLines(untagged: { digest: string; mediaType: string }[] | undefined): string[] {
  if (!untagged || untagged.length === 0) return [];
  return [
    // (aligned with repositoryDetails' labels, the longest of which is "latest version")
    `${'untagged'.padEnd('latest version  '.length)}${plural(untagged.length, 'image')}, pulled by digest only:`,
    ...table(untagged.map((m) => [`  ${m.digest}`, m.mediaType])).split('\n'),
  ];
}
