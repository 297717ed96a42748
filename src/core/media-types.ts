// Media types of manifests, configs and layers, and the predicates berth decides by.

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export const IMAGE_MANIFEST_TYPES: readonly string[] = [MediaTypes.ociManifest, MediaTypes.dockerManifest];
export const INDEX_TYPES: readonly string[] = [MediaTypes.ociIndex, MediaTypes.dockerManifestList];
export const MANIFEST_TYPES: readonly string[] = [...IMAGE_MANIFEST_TYPES, ...INDEX_TYPES];

export const isManifestMediaType = (t: string): boolean => MANIFEST_TYPES.includes(t);
export const isIndexMediaType = (t: string): boolean => INDEX_TYPES.includes(t);

/** Foreign / non-distributable layers: never uploaded to, stored by or served from berth. */
export function isForeignLayer(mediaType: string): boolean {
  return (
    mediaType === MediaTypes.dockerForeignLayer ||
    mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.v1.tar')
  );
}
