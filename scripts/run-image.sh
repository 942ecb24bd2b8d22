#!/usr/bin/env bash
# Run an image without a container engine: unpack it with umoci, then start
# its entrypoint (or the given command) as the image's user in a chroot,
# inside a private mount namespace with /proc, /dev/null and /etc/hosts.
# Needs root (for chroot), umoci and jq.
#
#   scripts/run-image.sh LAYOUT_DIR TAG [ARGS...]    ARGS replace the image's Cmd, as
#                                                   `docker run IMAGE ARGS...` does
#   RUN_IMAGE_BUNDLE=DIR  unpack there (kept) instead of a temporary directory
#   RUN_IMAGE_EXEC=1      run ARGS as the whole command line (no entrypoint)
set -euo pipefail
layout=$1 tag=$2
shift 2
bundle=${RUN_IMAGE_BUNDLE:-}
if [ -z "$bundle" ]; then
	bundle=$(mktemp -d)
	trap 'rm -rf "$bundle"' EXIT
fi
if [ ! -f "$bundle/config.json" ]; then
	rm -rf "$bundle"
	umoci unpack --image "$layout:$tag" "$bundle" >/dev/null
fi
cfg=$bundle/config.json
mapfile -t env < <(jq -r '.process.env[]' "$cfg")
cwd=$(jq -r '.process.cwd' "$cfg")
uid=$(jq -r '.process.user.uid' "$cfg")
gid=$(jq -r '.process.user.gid' "$cfg")
if [ "${RUN_IMAGE_EXEC:-}" = 1 ]; then
	args=("$@")
else
	if [ $# -gt 0 ]; then
		# as a container engine does: the image's Entrypoint, then ARGS in
		# place of its Cmd
		blob() { printf '%s/blobs/%s/%s' "$layout" "${1%%:*}" "${1#*:}"; }
		m=$(jq -r --arg t "$tag" 'first(.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest)' "$layout/index.json")
		if [ "$(jq -r '.mediaType // ""' "$(blob "$m")")" = application/vnd.oci.image.index.v1+json ]; then
			m=$(jq -r '.manifests[0].digest' "$(blob "$m")")
		fi
		c=$(jq -r '.config.digest' "$(blob "$m")")
		mapfile -t args < <(jq -r '(.config.Entrypoint // [])[]' "$(blob "$c")")
		args+=("$@")
	else
		mapfile -t args < <(jq -r '.process.args[]' "$cfg")
	fi
fi
rootfs=$bundle/rootfs
exec unshare -m -- bash -c '
	set -e
	rootfs=$1 cwd=$2 uid=$3 gid=$4; shift 4
	mkdir -p "$rootfs/proc" "$rootfs/dev" "$rootfs/etc"
	mount -t proc proc "$rootfs/proc"
	[ -e "$rootfs/dev/null" ] || touch "$rootfs/dev/null"
	mount --bind /dev/null "$rootfs/dev/null"
	# not cp: two runs of one bundle (start, then rpc) may race to create it
	cat /etc/hosts >"$rootfs/etc/hosts"
	n=$1; shift
	envs=("${@:1:$n}"); shift "$n"
	# the working directory is not applied: chroot starts in /
	exec env -i "${envs[@]}" chroot --userspec="$uid:$gid" "$rootfs" "$@"
' _ "$rootfs" "$cwd" "$uid" "$gid" "${#env[@]}" "${env[@]}" "${args[@]}"
