#!/usr/bin/env bash
# Makes the sample archives of this folder, which the README's commands upload, with real skopeo (Debian
# package `skopeo`; also jq and python3) from small deterministic OCI images written by mkimage.py. The same
# recipe as ../../shared/fixtures/build.sh, with smaller layers: the archives are committed, and this script
# is how they were made (running it again gives the same files, byte for byte, but for the times inside multi.oci.tar).
# The layers hold pseudo-random bytes and nothing else: the archives are berth's own (Apache-2.0, as the project).
# usage: examples/make.sh [OUTDIR]   (default: this folder)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mk() { python3 "$here/mkimage.py" "$@" >/dev/null; }
cp_() { skopeo copy --quiet "$@"; }
tar_() { tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner "$@"; }

# base: two layers; app: base's two layers and one of its own.
mk oci base s1 24k 6k
mk oci app s1 24k 6k s2:12k

# a tar of `skopeo copy … dir:` output, and app's without the two layers base already brought
cp_ oci:oci:base dir:base-dir && tar_ -C base-dir -cf "$out/base.dir.tar" .
cp_ oci:oci:app dir:app-dir && tar_ -C app-dir -cf "$out/app.dir.tar" .
keep=$(jq -r '.layers[2].digest|sub("sha256:";"")' app-dir/manifest.json)
cfg=$(jq -r '.config.digest|sub("sha256:";"")' app-dir/manifest.json)
tar_ -C app-dir -cf "$out/app.dir.partial.tar" manifest.json version "$keep" "$cfg"

# a docker-archive (the `docker save` layout, as skopeo writes it), tagged example/app:1.0
cp_ oci:oci:app docker-archive:"$out/app.docker.tar":example/app:1.0

# a two-platform image index (manifest list) as an oci-archive
mk oci2 amd s4 8k && mk oci2 arm s5 8k
python3 - oci2 <<'PY'
import json, hashlib, sys
lay = sys.argv[1]; idx = json.load(open(f"{lay}/index.json"))
plats = {"amd": "amd64", "arm": "arm64"}
ms = []
for m in idx["manifests"]:
    ref = m["annotations"]["org.opencontainers.image.ref.name"]
    ms.append({"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
               "platform": {"architecture": plats[ref], "os": "linux"}})
body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": ms}).encode()
d = hashlib.sha256(body).hexdigest()
open(f"{lay}/blobs/sha256/{d}", "wb").write(body)
idx["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + d,
                         "size": len(body), "annotations": {"org.opencontainers.image.ref.name": "multi"}})
json.dump(idx, open(f"{lay}/index.json", "w"))
PY
cp_ --all oci:oci2:multi oci-archive:"$out/multi.oci.tar":1.0
ls -l "$out"/*.tar
