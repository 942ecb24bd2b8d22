#!/bin/sh
# Install what ocibuild needs on Debian/Ubuntu.
#   scripts/install-deps.sh          build dependencies and what `make demo` uses
#   scripts/install-deps.sh --test   plus the real peers the test suite drives
set -eu
build="build-essential pkg-config libjansson-dev libzstd-dev libdeflate-dev zlib1g-dev libssl-dev libelf-dev libcurl4-openssl-dev libarchive-dev libsodium-dev"
demo="erlang-nox erlang-dev rebar3 busybox-static umoci jq"
test="elixir libcmocka-dev skopeo umoci oci-image-tool podman crun zstd pigz gzip tar time
      python3 python3-jsonschema python3-jwt python3-cryptography python3-nacl file ca-certificates
      docker-registry apache2-utils openssl curl git util-linux strace"
pkgs="$build $demo"
[ "${1:-}" = "--test" ] && pkgs="$build $demo $test"
# root (a fresh container, which has no sudo) runs apt-get itself
sudo=
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-deps.sh: installing packages needs root: run it as root, or install sudo" >&2
		exit 1
	fi
	sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
echo "installed: $pkgs" | tr -s ' \n' ' '
echo
