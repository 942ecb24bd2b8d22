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
}

test_memory_sparse_1g_gzip() { sparse_case gzip; }
test_memory_sparse_1g_zstd() { sparse_case zstd; }

# > 8 GiB needs a PAX size record (ustar size field is 11 octal digits).
# Opt-in: E2E_SLOW=1 (reads/compresses 9 GiB).
test_memory_sparse_9g_zstd_pax_size() {
    [ "${E2E_SLOW:-0}" = 1 ] || skip "set E2E_SLOW=1 to run"
    sparse_case zstd 9663676416
}
