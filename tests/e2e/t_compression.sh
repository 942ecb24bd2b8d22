# shellcheck shell=bash
# Layer blob formats and the layer tar itself (headers, order, mtimes).

# check_layer LAYOUT REF COMPRESSION: the single layer blob has the right media
# type, digest and size, passes the decompressor's integrity test, and its
# uncompressed sha256 is the config's diff_id.
check_layer() {
    local L=$1 ref=$2 comp=$3 m c mt d size f diff
    m=$(manifest_json "$L" "$ref")
    c=$(config_json "$L" "$ref")
    assert_eq "$(jq '.layers | length' <<<"$m")" 1 "layer count"
    mt=$(jq -r '.layers[0].mediaType' <<<"$m")
    d=$(jq -r '.layers[0].digest' <<<"$m")
    size=$(jq -r '.layers[0].size' <<<"$m")
    f=$(blob "$L" "$d")
    case "$comp" in
        gzip)
            assert_eq "$mt" application/vnd.oci.image.layer.v1.tar+gzip "media type"
            assert_eq "$(head -c 2 "$f" | od -An -tx1 | tr -d ' ')" 1f8b "gzip magic"
            expect_ok gzip -t "$f" ;;
        zstd)
            assert_eq "$mt" application/vnd.oci.image.layer.v1.tar+zstd "media type"
            assert_eq "$(head -c 4 "$f" | od -An -tx1 | tr -d ' ')" 28b52ffd "zstd magic"
            expect_ok zstd -tq "$f" ;;
        none)
            assert_eq "$mt" application/vnd.oci.image.layer.v1.tar "media type"
            expect_ok tar -tf "$f" ;;
    esac
    verify_blob "$L" "$d" "$size"
    diff=$(decompress "$mt" <"$f" | sha256sum | cut -d' ' -f1)
    assert_eq "sha256:$diff" "$(jq -r '.rootfs.diff_ids[0]' <<<"$c")" "diff_id = sha256 of uncompressed layer"
    LAYER_DIGEST=$d
}

test_compression_gzip() {
    mk_tree "$T/src"
    ob_build --dir "$T/src" -t a:1 --layout "$T/L" --compression gzip
    check_layer "$T/L" a:1 gzip
    validate_layout "$T/L" a:1
}

test_compression_zstd() {
    mk_tree "$T/src"
    ob_build --dir "$T/src" -t a:1 --layout "$T/L" --compression zstd
    check_layer "$T/L" a:1 zstd
    # other tools can read it
    expect_ok skopeo copy "oci:$T/L:a:1" "dir:$T/dircopy"
    expect_ok skopeo copy "oci:$T/L:a:1" "oci:$T/copy:a:1"
    # same content as the gzip build (only the compression differs)
    ob_build --dir "$T/src" -t a:gz --layout "$T/L" --compression gzip
    assert_eq "$(config_json "$T/L" a:gz | jq -r '.rootfs.diff_ids[0]')" \
        "$(config_json "$T/L" a:1 | jq -r '.rootfs.diff_ids[0]')" "diff_id gzip vs zstd"
}

test_compression_none() {
    mk_tree "$T/src"
    ob_build --dir "$T/src" -t a:1 --layout "$T/L" --compression none
    check_layer "$T/L" a:1 none
    validate_layout "$T/L" a:1
    umoci_unpack "$T/L" a:1 "$T/bundle"
    assert_same_tree "$T/src" "$T/bundle/rootfs/app"
    # uncompressed: digest == diff_id
    assert_eq "$LAYER_DIGEST" "$(config_json "$T/L" a:1 | jq -r '.rootfs.diff_ids[0]')" "digest vs diff_id"
}

test_tar_listing_owner_order_mtime() {
    mk_tree "$T/src"
    ob_build --dir "$T/src" -t a:1 --layout "$T/L"
    layer_tar "$T/L" a:1 >"$T/layer.tar"
    tar --numeric-owner --full-time -tvf "$T/layer.tar" >"$T/tv" || fail "layer is not a tar"
    # owner 0/0 and mtime 1970-01-01 00:00:01 on every line
    if grep -v ' 0/0 ' "$T/tv" | grep . >/dev/null; then
        fail "entries not owned by 0/0: $(grep -v ' 0/0 ' "$T/tv" | head -3)"
    fi
    if grep -v ' 1970-01-01 00:00:01 ' "$T/tv" | grep . >/dev/null; then
        fail "entries with mtime != 1970-01-01 00:00:01: $(grep -v ' 1970-01-01 00:00:01 ' "$T/tv" | head -3)"
    fi
    tar -tf "$T/layer.tar" >"$T/names"
    assert_eq "$(head -n1 "$T/names")" app/ "first entry is the workdir"
    # every input path is there, under app/
    (cd "$T/src" && find . -mindepth 1 | sed 's#^\./#app/#') | LC_ALL=C sort >"$T/want"
    sed 's#/$##' "$T/names" | grep -vx app | LC_ALL=C sort >"$T/got"
    diff -u "$T/want" "$T/got" >&2 || fail "layer entries differ from input tree"
    grep -q '^lrwxrwxrwx .* app/abs -> /etc/passwd$' "$T/tv" || fail "abs not stored as symlink: $(grep abs "$T/tv")"
    grep -q '^-rw------- .* app/secret.key$' "$T/tv" || fail "0600 mode lost: $(grep secret "$T/tv")"
    grep -q '^-rwxr-xr-x .* app/bin/start.sh$' "$T/tv" || fail "0755 mode lost"
    # header-level checks: ustar, uid/gid 0, empty uname/gname, byte-wise order,
    # PAX only where needed, no GNU extensions
    "$PY" - "$T/layer.tar" <<'EOF' || fail "tar header checks failed (see above)"
import sys
data = open(sys.argv[1], "rb").read()
errors = []
def num(field):
    field = field.rstrip(b"\0 ").lstrip(b" ")
    return int(field, 8) if field else 0
def parse_pax(buf):
    out, i = {}, 0
    while i < len(buf) and buf[i:i+1] != b"\0":
        sp = buf.index(b" ", i)
        n = int(buf[i:sp])
        rec = buf[sp+1:i+n-1]
        k, v = rec.split(b"=", 1)
        out[k.decode()] = v
        i += n
    return out
off, names, pending, end = 0, [], None, False
while off + 512 <= len(data):
    h = data[off:off+512]
    if h == b"\0" * 512:
        end = True
        break
    name, mode, uid, gid = h[0:100], h[100:108], h[108:116], h[116:124]
    size, mtime, chk, typ = num(h[124:136]), num(h[136:148]), h[148:156], h[156:157]
    link, magic, ver, uname, gname, prefix = h[157:257], h[257:263], h[263:265], h[265:297], h[297:329], h[345:500]
    s = sum(h[:148]) + 8 * 32 + sum(h[156:])
    if num(chk) != s:
        errors.append("bad checksum at offset %d" % off)
    if magic != b"ustar\0" or ver != b"00":
        errors.append("not POSIX ustar magic at offset %d: %r %r" % (off, magic, ver))
    if typ in (b"L", b"K", b"g"):
        errors.append("GNU/global extension header %r" % typ)
    body = data[off+512:off+512+size]
    if typ == b"x":
        pending = parse_pax(body)
    else:
        full = (prefix.rstrip(b"\0") + b"/" if prefix.rstrip(b"\0") else b"") + name.rstrip(b"\0")
        lname = link.rstrip(b"\0")
        if pending is not None:
            keys = set(pending)
            if "path" in pending: full = pending["path"]
            if "linkpath" in pending: lname = pending["linkpath"]
            if "size" in pending: size = int(pending["size"])
            if not keys <= {"path", "linkpath", "size"}:
                errors.append("unexpected PAX keys %s for %r" % (sorted(keys), full))
            if "path" in keys and len(full) <= 100:
                errors.append("PAX path for short name %r" % full)
            if "linkpath" in keys and len(lname) <= 100:
                errors.append("PAX linkpath for short target %r" % lname)
            if "size" in keys and size < 8**11:
                errors.append("PAX size for small file %r" % full)
        if num(uid) != 0 or num(gid) != 0:
            errors.append("uid/gid not 0 for %r" % full)
        if uname.strip(b"\0") or gname.strip(b"\0"):
            errors.append("uname/gname not empty for %r: %r %r" % (full, uname, gname))
        if mtime != 1:
            errors.append("mtime %d != 1 for %r" % (mtime, full))
        if typ not in (b"0", b"2", b"5"):
            errors.append("unexpected type %r for %r" % (typ, full))
        if (typ == b"5") != full.endswith(b"/"):
            errors.append("directory names must end in / (and only they): %r" % full)
        names.append(full)
        pending = None
    off += 512 + (size + 511) // 512 * 512
if not end:
    errors.append("missing end-of-archive zero blocks")
if len(names) != len(set(names)):
    errors.append("duplicate entries")
stripped = [n.rstrip(b"/") for n in names]
if names != sorted(names) and stripped != sorted(stripped):
    for a, b in zip(names, names[1:]):
        if a > b:
            errors.append("not sorted byte-wise: %r before %r" % (a, b)); break
longs = [n for n in names if len(n) > 255]
if not longs:
    errors.append("the >255-char path is missing")
for e in errors[:15]:
    print(e)
if len(errors) > 15:
    print("... and %d more" % (len(errors) - 15))
sys.exit(1 if errors else 0)
EOF
}

test_tar_source_date_epoch() {
    mk_tree "$T/src"
    SOURCE_DATE_EPOCH=1700000000 ob_build --dir "$T/src" -t a:1 --layout "$T/L"
    layer_tar "$T/L" a:1 | tar --numeric-owner --full-time -tvf - >"$T/tv"
    [ -s "$T/tv" ] || fail "empty listing"
    if grep -v ' 2023-11-14 22:13:20 ' "$T/tv" | grep . >/dev/null; then
        fail "mtime != SOURCE_DATE_EPOCH: $(grep -v ' 2023-11-14 22:13:20 ' "$T/tv" | head -3)"
    fi
    local c m
    c=$(config_json "$T/L" a:1)
    m=$(manifest_json "$T/L" a:1)
    assert_eq "$(date -u -d "$(jq -r .created <<<"$c")" +%s)" 1700000000 "config.created"
    assert_eq "$(date -u -d "$(jq -r '.annotations["org.opencontainers.image.created"]' <<<"$m")" +%s)" \
        1700000000 "manifest created annotation"
    local h
    h=$(jq -r '.history[].created' <<<"$c")
    [ -n "$h" ] || fail "no history"
    while read -r line; do
        assert_eq "$(date -u -d "$line" +%s)" 1700000000 "history created"
    done <<<"$h"
}

test_tar_pax_long_names() {
    mk_tree "$T/src"
    local target
    target=$(printf 'q%.0s' $(seq 1 130))
    ln -s "$target" "$T/src/longtarget"
    ob_build --dir "$T/src" -t a:1 --layout "$T/L" --compression none
    layer_tar "$T/L" a:1 | tar_members >"$T/members"
    # the long path
    local long
    long=$(jq -r 'select(.name | length > 255) | .name' "$T/members")
    [ -n "$long" ] || fail "no member with a >255-char name"
    assert_match "$long" '^app/deep/x{60}/y{60}/L{146}\.txt$' "long name"
    assert_eq "$(jq -r "select(.name == \"$long\") | .pax | join(\",\")" "$T/members")" path "PAX keys for long name"
    # long link target
    assert_eq "$(jq -r 'select(.name == "app/longtarget") | .linkname' "$T/members")" "$target" "long link target"
    assert_eq "$(jq -r 'select(.name == "app/longtarget") | .pax | join(",")' "$T/members")" linkpath "PAX keys for long target"
    # short names need no PAX
    assert_eq "$(jq -r 'select(.name == "app/README") | .pax | length' "$T/members")" 0 "PAX for a short name"
    # GNU tar reads it back identically
    mkdir "$T/x"
    layer_tar "$T/L" a:1 | tar -xf - -C "$T/x"
    assert_same_tree "$T/src" "$T/x/app"
}

test_tar_name_boundaries() {
    mkdir -p "$T/src"
    local n95 n96 n97 t100 t101
    n95=$(printf 'd%.0s' $(seq 1 95))
    n96=$(printf 'f%.0s' $(seq 1 96))
    n97=$(printf 'g%.0s' $(seq 1 97))
    t100=$(printf 't%.0s' $(seq 1 100))
    t101=$(printf 'u%.0s' $(seq 1 101))
    mkdir "$T/src/$n95"                       # "app/<95>/" is exactly 100 chars
    echo in95 >"$T/src/$n95/x"
    echo 96 >"$T/src/$n96"                    # "app/<96>" is exactly 100 chars
    echo 97 >"$T/src/$n97"                    # 101 chars
    ln -s "$t100" "$T/src/l100"               # link target exactly 100 chars
    ln -s "$t101" "$T/src/l101"
    printf 'caf\xc3\xa9\n' >"$T/src/$(printf 'caf\xc3\xa9.txt')"   # UTF-8 name
    echo dash >"$T/src/-rf"
    echo q >"$T/src/quote'\"\\back"
    ob_build --dir "$T/src" -t a:1 --layout "$T/L" --compression none
    layer_tar "$T/L" a:1 | tar_members >"$T/members"
    assert_eq "$(jq -r "select(.name == \"app/$n96\") | .pax | length" "$T/members")" 0 "PAX for a 100-char path"
    assert_eq "$(jq -r "select(.name == \"app/$n97\") | .size" "$T/members")" 3 "101-char path entry"
    assert_eq "$(jq -r "select(.name == \"app/$n95\") | .type" "$T/members")" 5 "100-char dir path entry"
    assert_eq "$(jq -r 'select(.name == "app/l100") | .linkname' "$T/members")" "$t100" "100-char link target"
    assert_eq "$(jq -r 'select(.name == "app/l100") | .pax | length' "$T/members")" 0 "PAX for a 100-char link target"
    assert_eq "$(jq -r 'select(.name == "app/l101") | .linkname' "$T/members")" "$t101" "101-char link target"
    mkdir "$T/x"
    layer_tar "$T/L" a:1 | tar -xf - -C "$T/x"
    assert_same_tree "$T/src" "$T/x/app"
    umoci_unpack "$T/L" a:1 "$T/bundle"
    assert_same_tree "$T/src" "$T/bundle/rootfs/app"
}

test_tar_many_files_sorted() {
    mkdir -p "$T/src"
    local d f
    for d in A a B b _ - . z0 z-0 z.0 Z; do
        [ "$d" = . ] && continue
        mkdir -p "$T/src/$d"
        for f in $(seq 1 120); do
            echo "$d/$f" >"$T/src/$d/$f"
        done
        echo x >"$T/src/$d.txt"
        echo y >"$T/src/${d}-x"
    done
    ob_build --dir "$T/src" -t a:1 --layout "$T/L"
    layer_tar "$T/L" a:1 | tar -tf - >"$T/names"
    assert_eq "$(wc -l <"$T/names")" "$(( $(find "$T/src" | wc -l) ))" "entry count (incl. app/)"
    # byte-wise order (directory names compared with or without their trailing /)
    if ! LC_ALL=C sort -c "$T/names" 2>/dev/null && ! sed 's#/$##' "$T/names" | LC_ALL=C sort -c 2>/dev/null; then
        fail "entries not in byte-wise order: $(sed 's#/$##' "$T/names" | LC_ALL=C sort -c 2>&1)"
    fi
    umoci_unpack "$T/L" a:1 "$T/bundle"
    assert_same_tree "$T/src" "$T/bundle/rootfs/app"
}

# A gzip layer is a series of members: the tar in blocks of 1 MiB (or cut
# at an entry's start after 7/8 MiB), and a block cut again around each run
# of random-looking bytes 32 KiB or longer, which is stored (the cuts fix
# the bytes, see src/lib/compress.c). Each piece's effort follows its
# content, and the whole must stay within 2% of `gzip -6` on a mixed tree.
# Checked with Python's zlib member by member, GNU gzip and Go (umoci).
test_compression_gzip_blocks() {
    mk_tree "$T/src"
    # text (compressible), random (as compressed assets are) and a mix of the
    # two in small runs (as machine code with tables is)
    seq 1 700000 >"$T/src/data/numbers.txt"
    head -c 3000000 /dev/urandom >"$T/src/data/assets.bin"
    "$PY" - "$T/src/data/mixed.bin" <<'PYEOF'
import os, sys
words = [b"erlang", b"beam", b"process", b"spawn", b"receive", b"gen_server", b"{ok,", b"}."]
with open(sys.argv[1], "wb") as f:
    for i in range(400):
        f.write(b" ".join(words[(i * 7 + k) % len(words)] for k in range(600)))
        f.write(os.urandom(2000 + (i * 131) % 3000))
PYEOF
    ob_build --dir "$T/src" -t a:1 --layout "$T/L" --compression gzip
    check_layer "$T/L" a:1 gzip
    layer_tar "$T/L" a:1 >"$T/layer.tar"
    gzip -6 -c "$T/layer.tar" >"$T/ref.gz"
    "$PY" - "$(blob "$T/L" "$LAYER_DIGEST")" "$T/layer.tar" "$T/ref.gz" <<'PYEOF' || fail "gzip members (see above)"
import sys, zlib
blob = open(sys.argv[1], "rb").read()
tar = open(sys.argv[2], "rb").read()
ref = open(sys.argv[3], "rb").read()
BLOCK = 1 << 20
off, out, sizes = 0, [], []
while off < len(blob):
    d = zlib.decompressobj(31)
    data = d.decompress(blob[off:])
    if not d.eof:
        sys.exit("member %d: truncated" % len(sizes))
    used = len(blob) - off - len(d.unused_data)
    out.append(data)
    # stored (a run cut out, or random bytes libdeflate found no use in
    # compressing): the first deflate block, after the 10-byte header, is
    # of type 0
    sizes.append((len(data), used, (blob[off + 10] >> 1) & 3 == 0))
    off += used
bad = 0
if b"".join(out) != tar:
    print("the members do not decode to the layer tar"); bad = 1
# a block is 1 MiB, or ends earlier where a tar entry starts once it holds
# 7/8 MiB; only the last is shorter. Inside a block, a run of random 8 KiB
# windows (from the block's start) 32 KiB or longer is a stored member.
import io, tarfile
starts = {m.offset for m in tarfile.open(fileobj=io.BytesIO(tar))}
pos, block, cut, inside = 0, 0, 0, 0
for k, (n, _, stored) in enumerate(sizes[:-1]):
    pos += n
    if pos - block == BLOCK:
        block = pos
        continue
    if pos - block >= BLOCK // 8 * 7 and pos in starts:
        cut += 1
        block = pos
        continue
    if (pos - block) % 8192 == 0 and (stored or sizes[k + 1][2]):
        inside += 1
        continue
    print("member %d holds %d bytes and ends at %d, not at a block's end or a stored run's edge" % (k, n, pos)); bad = 1
if not inside:
    print("no run of random bytes was cut out of its block"); bad = 1
# a block of random bytes is stored, not expanded
for k, (n, z, _) in enumerate(sizes):
    if z > n + n // 1000 + 64:
        print("member %d: %d bytes for a %d-byte block" % (k, z, n)); bad = 1
if len(blob) > len(ref) * 1.02:
    print("layer %d bytes > 1.02 x gzip -6 (%d)" % (len(blob), len(ref))); bad = 1
print("# %d members (%d blocks cut at an entry, %d cuts at stored runs), %d bytes, %.4f x gzip -6" % (len(sizes), cut, inside, len(blob), len(blob) / len(ref)))
sys.exit(bad)
PYEOF
    umoci_unpack "$T/L" a:1 "$T/bundle"
    assert_same_tree "$T/src" "$T/bundle/rootfs/app"
}
