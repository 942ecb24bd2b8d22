#!/usr/bin/env bash
# The main job on the embedded example: build the example release
# (examples/hello, a rebar3 project) into a self-contained image with no
# base image and no registry, then start it as uid 65534 and show its
# greeting. Starting the image uses chroot, so that step runs with sudo
# when you are not root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
bin=${OCIBUILD:-$repo/ocibuild}
out=$repo/out
# root runs the image itself (a fresh container has no sudo); a user
# through sudo, which then also owns the unpacked bundle
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 \
		|| { echo "demo.sh: starting the image needs root (chroot): run it as root, or install sudo" >&2; exit 1; }
	sudo=(sudo)
fi
mkdir -p "$out"
rm -rf "$out/hello.tar" "$out/oci" "$out/hello.log"
"${sudo[@]}" rm -rf "$out/bundle"

echo "== rebar3 as prod release (examples/hello)"
(cd "$here/hello" && rebar3 as prod release >/dev/null)

echo "== ocibuild build --project examples/hello --bundle-runtime"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
digest=$("$bin" build --project "$here/hello" --base scratch --bundle-runtime \
	-t hello:1.0.0 -o "$out/hello.tar" --layout "$out/oci" --sbom "$out/hello.spdx.json")
echo "   image hello:1.0.0 $digest"
echo "   archive out/hello.tar (podman load / docker load), layout out/oci, SBOM out/hello.spdx.json"

echo "== starting the image (entrypoint as uid 65534, no container engine)"
export RUN_IMAGE_BUNDLE=$out/bundle
run=("${sudo[@]}" env RUN_IMAGE_BUNDLE="$RUN_IMAGE_BUNDLE" "$repo/scripts/run-image.sh")
"${run[@]}" "$out/oci" hello:1.0.0 >"$out/hello.log" 2>&1 &
for _ in $(seq 1 60); do
	grep -q 'Hello from' "$out/hello.log" && break
	sleep 0.5
done
"${run[@]}" "$out/oci" hello:1.0.0 stop >/dev/null 2>&1 || true
wait || true
if grep 'Hello from' "$out/hello.log"; then
	exit 0
fi
echo "the release did not start; its output:" >&2
cat "$out/hello.log" >&2
exit 1
