# shellcheck shell=bash
# Streaming: a 1 GiB (sparse) file must not be held in memory.

: "${OB_MAX_RSS_KB:=65536}"

# sparse_case COMPRESSION [SIZE]
sparse_case() {
    local comp=$1 size=${2:-1073741824}
    mkdir -p "$T/src/sub"
    truncate -s "$size" "$T/src/sub/big.img"
    echo small >"$T/src/small.txt"
    /usr/bin/time -v -o "$T/time.txt" timeout "$OB_TIMEOUT" \
        "$OCIBUILD" build --dir "$T/src" -t big:1 --layout "$T/L" --compression "$comp" \
        >"$T/stdout" 2>"$T/stderr" || fail "build failed: $(cat "$T/stderr")"
    assert_match "$(cat "$T/stdout")" '^sha256:[0-9a-f]{64}$' "stdout"
    local rss
    rss=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$T/time.txt")
    [ -n "$rss" ] || fail "no RSS in /usr/bin/time output: $(cat "$T/time.txt")"
    echo "# max RSS ${rss} KB ($comp, $size bytes)"
    [ "$rss" -lt "$OB_MAX_RSS_KB" ] || fail "maximum resident set size ${rss} KB >= ${OB_MAX_RSS_KB} KB"
    # blob decompresses to a tar listing the big file with its full size;
    # its sha256 is the diff_id
    local m c mt d f diff
    m=$(manifest_json "$T/L" big:1)
    c=$(config_json "$T/L" big:1)
    mt=$(jq -r '.layers[0].mediaType' <<<"$m")
    d=$(jq -r '.layers[0].digest' <<<"$m")
    f=$(blob "$T/L" "$d")
    verify_blob "$T/L" "$d" "$(jq -r '.layers[0].size' <<<"$m")"
    mkfifo "$T/fifo"
    tar --numeric-owner -tvf - <"$T/fifo" >"$T/listing" 2>&1 &
    local tarpid=$!
    decompress "$mt" <"$f" | tee -p "$T/fifo" | sha256sum | cut -d' ' -f1 >"$T/diff"
    wait "$tarpid" || fail "tar could not list the layer: $(tail -n3 "$T/listing")"
    diff=$(cat "$T/diff")
    assert_eq "sha256:$diff" "$(jq -r '.rootfs.diff_ids[0]' <<<"$c")" "diff_id"
    grep -qE "^-rw-r--r-- 0/0 +$size .* app/sub/big\.img$" "$T/listing" \
        || fail "big file not listed with size $size: $(cat "$T/listing")"
    # header of the big file: a PAX size record exactly when the size does not
    # fit the 11 octal digits of the ustar size field
    { decompress "$mt" <"$f" 2>/dev/null || true; } | head -c 65536 >"$T/head.tar"
    local keys
    keys=$("$PY" - "$T/head.tar" <<'PYEOF'
import sys
data = open(sys.argv[1], "rb").read()
off, pax = 0, None
while off + 512 <= len(data):
    h = data[off:off + 512]
    typ = h[156:157]
    szf = h[124:136]
    size = int.from_bytes(szf[1:], "big") if szf[0] & 0x80 else int(szf.rstrip(b"\0 ").lstrip(b" ") or b"0", 8)
    if typ == b"x":
        body = data[off + 512:off + 512 + size]
        pax = {}
        i = 0
        while i < len(body) and body[i:i+1] != b"\0":
            sp = body.index(b" ", i); n = int(body[i:sp])
            k, v = body[sp + 1:i + n - 1].split(b"=", 1); pax[k.decode()] = v.decode(); i += n
    else:
        name = (pax or {}).get("path") or h[0:100].rstrip(b"\0").decode()
        if name == "app/sub/big.img":
            print("pax=" + ",".join(sorted(pax or {})) + " size=" + (pax or {}).get("size", str(size)))
            sys.exit(0)
        pax = None
    off += 512 + (size + 511) // 512 * 512
print("big.img header not found")
PYEOF
)
    if [ "$size" -ge 8589934592 ]; then
        assert_eq "$keys" "pax=size size=$size" "PAX records of the >8 GiB file"
    else
        assert_eq "$keys" "pax= size=$size" "PAX records of the big file"
    fi
}

test_memory_sparse_1g_gzip() { sparse_case gzip; }
test_memory_sparse_1g_zstd() { sparse_case zstd; }

# > 8 GiB needs a PAX size record (ustar size field is 11 octal digits).
# Opt-in: E2E_SLOW=1 (reads/compresses 9 GiB).
test_memory_sparse_9g_zstd_pax_size() {
    [ "${E2E_SLOW:-0}" = 1 ] || skip "set E2E_SLOW=1 to run"
    sparse_case zstd 9663676416
}
