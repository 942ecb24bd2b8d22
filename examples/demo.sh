#!/usr/bin/env bash
# The main job on the embedded example: build examples/hello into an image
# archive and an OCI layout under out/, with no registry and no daemon.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
bin=${OCIBUILD:-$repo/ocibuild}
out=$repo/out
mkdir -p "$out"
rm -rf "$out/hello.tar" "$out/oci"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
digest=$("$bin" build --dir "$here/hello" -t hello:1.0.0 \
	--entrypoint '["/app/bin/hello"]' --env LANG=C.UTF-8 \
	-l org.opencontainers.image.title=hello \
	-o "$out/hello.tar" --layout "$out/oci")
echo
echo "built hello:1.0.0 ($digest)"
echo "  archive: out/hello.tar   (podman load -i out/hello.tar, docker load -i out/hello.tar)"
echo "  layout:  out/oci         (skopeo inspect oci:out/oci:hello:1.0.0)"
echo
echo "layer contents:"
layer=$(tar -xOf "$out/hello.tar" manifest.json | sed 's/.*"Layers":\["\([^"]*\)".*/\1/')
tar -xOf "$out/hello.tar" "$layer" | tar -tvzf -
