# shellcheck shell=bash
# shellcheck disable=SC2034  # DIGEST, BUILD_ERR, OUT, ERR, RC are read by the tests
# Helpers for the ocibuild end-to-end tests. Sourced by tests/e2e/run.sh.
#
# Every test function runs in its own subshell with `set -euo pipefail`,
# with the current directory set to a fresh temp dir, also available as $T.
# Helpers call `fail`, which exits that subshell, so they can be used from
# plain statements; avoid calling them in `if`/`||` context where `set -e`
# is suspended (they still fail explicitly, they do not rely on set -e).

: "${OB_TIMEOUT:=300}"     # seconds one ocibuild invocation may take
PY=/usr/bin/python3

# ---------------------------------------------------------------- assertions

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# skip MSG: end the current test as passed-but-skipped.
skip() {
    echo "# skip $*"
    echo "$*" >"$T/.skip"
    exit 0
}

assert_eq() {  # assert_eq ACTUAL EXPECTED MSG
    [ "$1" == "$2" ] || fail "${3:-values differ}: got '$1', expected '$2'"
}

assert_ne() {  # assert_ne A B MSG
    [ "$1" != "$2" ] || fail "${3:-values equal}: both are '$1'"
}

assert_match() {  # assert_match STRING ERE MSG
    [[ $1 =~ $2 ]] || fail "${3:-no match}: '$1' does not match /$2/"
}

assert_contains() {  # assert_contains HAYSTACK NEEDLE MSG
    [[ $1 == *"$2"* ]] || fail "${3:-missing substring}: '$2' not in: $1"
}

assert_not_contains() {
    [[ $1 != *"$2"* ]] || fail "${3:-unexpected substring}: '$2' found in: $1"
}

assert_file() { [ -f "$1" ] || fail "${2:-expected file} $1"; }
assert_no_path() {
    if [ -e "$1" ] || [ -L "$1" ]; then
        fail "${2:-expected nothing at} $1 (found: $(ls -ld "$1"))"
    fi
}

# assert_dir_listing DIR EXPECTED: the names in DIR (incl. dot files), sorted
# and space-separated, must be EXPECTED ("" for empty).
assert_dir_listing() {
    local got
    got=$(cd "$1" && LC_ALL=C ls -A | tr '\n' ' ' | sed 's/ $//')
    assert_eq "$got" "$2" "contents of $1 (leftover files?)"
}

# run CMD... : run a command without failing; sets RC, OUT (stdout), ERR
# (stderr). External commands get a timeout.
run() {
    RC=0
    if [ "$(type -t "$1")" = file ]; then
        timeout "$OB_TIMEOUT" "$@" >"$T/.run.out" 2>"$T/.run.err" || RC=$?
    else
        "$@" >"$T/.run.out" 2>"$T/.run.err" || RC=$?
    fi
    OUT=$(cat "$T/.run.out")
    ERR=$(cat "$T/.run.err")
}

# expect_fail CMD... : the command must exit non-zero; stderr is in $ERR,
# stdout in $OUT, exit code in $RC.
expect_fail() {
    run "$@"
    if [ "$RC" -eq 0 ]; then
        fail "expected failure, but exit 0: $*
stdout: $OUT
stderr: $ERR"
    fi
    [ "$RC" -ne 124 ] || fail "timed out after ${OB_TIMEOUT}s: $*"
    return 0
}

# expect_ok CMD... : the command must succeed; sets OUT/ERR/RC.
expect_ok() {
    run "$@"
    [ "$RC" -eq 0 ] || fail "command failed (exit $RC): $*
stdout: $OUT
stderr: $ERR"
}

# ------------------------------------------------------------ ocibuild calls

# ob_build ARGS... : run `ocibuild build ARGS`, require success and a stdout
# that is exactly one manifest digest; sets DIGEST and BUILD_ERR.
ob_build() {
    run "$OCIBUILD" build "$@"
    [ "$RC" -eq 0 ] || fail "ocibuild build $* exited $RC
stdout: $OUT
stderr: $ERR"
    [[ $OUT =~ ^sha256:[0-9a-f]{64}$ ]] \
        || fail "stdout of ocibuild build must be only the manifest digest, got: '$OUT'"
    DIGEST=$OUT
    BUILD_ERR=$ERR
}

# ----------------------------------------------------------- layout helpers

# blob LAYOUT DIGEST -> path of the blob file
blob() { printf '%s/blobs/%s/%s\n' "$1" "${2%%:*}" "${2#*:}"; }

# index_digest LAYOUT REFNAME -> manifest digest recorded for that ref name
index_digest() {
    local d
    d=$(jq -r --arg r "$2" \
        '[.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest] | if length == 1 then .[0] else "count=\(length)" end' \
        "$1/index.json") || fail "cannot read $1/index.json"
    [[ $d == sha256:* ]] || fail "index.json of $1: ref '$2' -> $d"
    echo "$d"
}

# manifest_json LAYOUT REFNAME -> manifest document
manifest_json() {
    local d
    d=$(index_digest "$1" "$2") || exit 1
    cat "$(blob "$1" "$d")" || fail "manifest blob $d missing in $1"
}

# config_json LAYOUT REFNAME -> config document
config_json() {
    local m c
    m=$(manifest_json "$1" "$2") || exit 1
    c=$(jq -r .config.digest <<<"$m")
    cat "$(blob "$1" "$c")" || fail "config blob $c missing in $1"
}

# verify_blob LAYOUT DIGEST SIZE: blob exists, sha256 and size match.
verify_blob() {
    local f sum size
    f=$(blob "$1" "$2")
    [ -f "$f" ] || fail "blob $2 missing in $1"
    sum=$(sha256sum "$f" | cut -d' ' -f1)
    assert_eq "sha256:$sum" "$2" "sha256 of blob file $f"
    size=$(stat -c %s "$f")
    assert_eq "$size" "$3" "size of blob $2"
}

# decompress MEDIATYPE < blob > tar
decompress() {
    case "$1" in
        *tar+gzip) gzip -dc ;;
        *tar+zstd) zstd -dcq ;;
        *tar) cat ;;
        *) fail "unknown layer media type $1" ;;
    esac
}

# layer_tar LAYOUT REFNAME [INDEX] > uncompressed layer tar on stdout
layer_tar() {
    local m d mt
    m=$(manifest_json "$1" "$2") || exit 1
    d=$(jq -r ".layers[${3:-0}].digest" <<<"$m")
    mt=$(jq -r ".layers[${3:-0}].mediaType" <<<"$m")
    decompress "$mt" <"$(blob "$1" "$d")"
}

# validate_layout LAYOUT REFNAME: oci-image-tool validation of one tagged image.
# oci-image-tool 1.0.0-rc1 refuses to pick a ref when several index entries
# share the same digest ("descriptor ... is not unique"), so in that case the
# check runs on a view of the layout whose index.json holds only that entry.
validate_layout() {
    local L=$1 d n
    d=$(index_digest "$L" "$2")
    n=$(jq --arg d "$d" '[.manifests[] | select(.digest == $d)] | length' "$L/index.json")
    if [ "$n" -gt 1 ]; then
        local v
        v=$(mktemp -d "$T/.validate.XXXXXX")
        cp -al "$L/blobs" "$v/blobs" 2>/dev/null || cp -a "$L/blobs" "$v/blobs"
        cp "$L/oci-layout" "$v/oci-layout"
        jq --arg r "$2" '.manifests |= map(select(.annotations["org.opencontainers.image.ref.name"] == $r))' \
            "$L/index.json" >"$v/index.json"
        L=$v
    fi
    expect_ok oci-image-tool validate --type image --ref "name=$2" "$L"
}

umoci_unpack() {  # umoci_unpack LAYOUT REFNAME BUNDLE
    expect_ok umoci unpack --image "$1:$2" "$3"
}

host_arch() {
    case "$(uname -m)" in
        x86_64) echo amd64 ;;
        aarch64|arm64) echo arm64 ;;
        armv7l|armv6l) echo arm ;;
        i?86) echo 386 ;;
        ppc64le) echo ppc64le ;;
        s390x) echo s390x ;;
        riscv64) echo riscv64 ;;
        *) uname -m ;;
    esac
}

# ------------------------------------------------------------------ trees

# mk_tree DIR: a sample input tree exercising the interesting cases.
mk_tree() {
    local d=$1 long150 deep
    mkdir -p "$d"
    chmod 0755 "$d"
    mkdir -p "$d/sub/deeper/a/b" "$d/bin" "$d/empty" "$d/data"
    echo "hello from sub" >"$d/sub/file"
    echo "nested" >"$d/sub/deeper/a/b/nested.txt"
    printf '#!/bin/sh\necho started "$@"\n' >"$d/bin/start.sh"
    chmod 0755 "$d/bin/start.sh"
    echo "top secret" >"$d/secret.key"
    chmod 0600 "$d/secret.key"
    echo "read me" >"$d/README"
    chmod 0644 "$d/README"
    : >"$d/empty-file"
    ln -s sub/file "$d/link"
    ln -s /etc/passwd "$d/abs"
    echo "spaces" >"$d/file with spaces.txt"
    head -c 6000 /dev/urandom >"$d/data/random.bin"
    # 150-char file name under a deep path: full path > 255 chars
    long150=$(printf 'L%.0s' $(seq 1 146)).txt
    deep="$d/deep/$(printf 'x%.0s' $(seq 1 60))/$(printf 'y%.0s' $(seq 1 60))"
    mkdir -p "$deep"
    echo "long name" >"$deep/$long150"
    # sanity: the relative path really is > 255 characters
    local rel=${deep#"$d"/}/$long150
    [ "${#rel}" -gt 255 ] || fail "mk_tree: long path only ${#rel} chars"
    [ "${#long150}" -eq 150 ] || fail "mk_tree: long name is ${#long150} chars"
}

# tree_manifest DIR: sorted listing "path<TAB>type<TAB>mode<TAB>size<TAB>sha256|target"
# of everything below DIR (DIR itself excluded). Sizes only for regular files.
tree_manifest() {
    [ -d "$1" ] || fail "tree_manifest: $1 is not a directory"
    "$PY" - "$1" <<'PYEOF'
import hashlib, os, stat, sys
root = os.fsencode(sys.argv[1])
rows = []
for dirpath, dirnames, filenames in os.walk(root):
    for n in dirnames + filenames:
        p = os.path.join(dirpath, n)
        rel = os.path.relpath(p, root)
        st = os.lstat(p)
        mode = "%o" % stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            row = [rel, b"link", mode.encode(), b"-", os.readlink(p)]
        elif stat.S_ISREG(st.st_mode):
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            row = [rel, b"file", mode.encode(), str(st.st_size).encode(), h.hexdigest().encode()]
        elif stat.S_ISDIR(st.st_mode):
            row = [rel, b"dir", mode.encode(), b"-", b"-"]
        else:
            row = [rel, b"other(%o)" % stat.S_IFMT(st.st_mode), mode.encode(), b"-", b"-"]
        rows.append(row)
rows.sort(key=lambda r: r[0])
out = sys.stdout.buffer
for r in rows:
    out.write(b"\t".join(r) + b"\n")
PYEOF
}

# assert_same_tree EXPECTED_DIR ACTUAL_DIR
assert_same_tree() {
    tree_manifest "$1" >"$T/.tm.expected"
    tree_manifest "$2" >"$T/.tm.actual"
    [ -s "$T/.tm.expected" ] || fail "tree_manifest of $1 is empty"
    if ! diff -u "$T/.tm.expected" "$T/.tm.actual" >"$T/.tm.diff"; then
        cat "$T/.tm.diff" >&2
        fail "tree $2 differs from $1 (diff above)"
    fi
}

# ------------------------------------------------------------------ podman

podman_cmd() {
    podman --storage-driver vfs --root "$T/pstore" --runroot "$T/prun" \
        --cgroup-manager cgroupfs --events-backend file "$@"
}

# podman_works: true if podman can run at all on this machine.
podman_works() {
    command -v podman >/dev/null 2>&1 || return 1
    timeout 60 podman --storage-driver vfs --root "$T/pstore" --runroot "$T/prun" \
        --cgroup-manager cgroupfs --events-backend file info >"$T/.podman-info" 2>&1
}

# podman_load FILE: load an archive into a throw-away vfs store; skips the
# test when podman cannot run here at all.
podman_load() {
    if ! podman_works; then
        skip "podman cannot run here: $(tail -n1 "$T/.podman-info" 2>/dev/null)"
    fi
    expect_ok podman_cmd load -i "$1"
}

# ------------------------------------------------------------------ misc

# tar_members: python helper printing per-member header facts of a tar read
# from stdin, one JSON object per line.
tar_members() {
    "$PY" -c '
import json, sys, tarfile
with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tf:
    for m in tf:
        print(json.dumps({"name": m.name, "type": m.type.decode("latin1"),
            "mode": m.mode, "uid": m.uid, "gid": m.gid, "uname": m.uname,
            "gname": m.gname, "mtime": m.mtime, "size": m.size,
            "linkname": m.linkname, "pax": sorted(m.pax_headers.keys())}))
'
}

# ------------------------------------------------------------ the registry fixture

# shellcheck source=registry/lib.sh
source "$E2E_DIR/registry/lib.sh"
