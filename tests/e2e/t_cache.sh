# shellcheck shell=bash
# The layer cache (src/lib/layercache.c): unchanged layers are taken from
# $OCIBUILD_CACHE_DIR instead of being made again. run.sh gives each test a
# cache of its own. "made" and "cached" count the log lines build_layer
# writes for a layer it compressed and for one it took from the cache.

cache_made() { grep -c ' layer sha256:[0-9a-f]*: [0-9]* entries,' <<<"$1" || true; }
cache_hits() { grep -c ' layer sha256:[0-9a-f]*: from the cache' <<<"$1" || true; }

# a copy of the relx fixture release that a test may change
cache_release() {
    rel_fixture relx
    cp -a "$REL_DIR" "$T/rel"
}

test_cache_warm_rebuild_makes_nothing() {
    cache_release
    ob_build --release "$T/rel" -t relx:1 -o "$T/a.tar"
    local first=$DIGEST
    assert_eq "$(cache_hits "$BUILD_ERR")" 0 "layers from an empty cache"
    [ "$(cache_made "$BUILD_ERR")" -ge 4 ] || fail "layers made: $BUILD_ERR"
    ob_build --release "$T/rel" -t relx:1 -o "$T/b.tar"
    assert_eq "$DIGEST" "$first" "digest of the warm rebuild"
    assert_eq "$(cache_made "$BUILD_ERR")" 0 "layers made by a warm rebuild ($BUILD_ERR)"
    [ "$(cache_hits "$BUILD_ERR")" -ge 4 ] || fail "layers from the cache: $BUILD_ERR"
    cmp "$T/a.tar" "$T/b.tar" || fail "the two archives differ"
}

test_cache_app_only_change() {
    cache_release
    ob_build --release "$T/rel" -t relx:1 --layout "$T/L"
    local app
    app=$(find "$T/rel/lib" -path '*/relx_app-*/ebin/relx_app.app' | head -n1)
    [ -n "$app" ] || fail "no relx_app.app in the release"
    printf '%% changed\n' >>"$app"
    ob_build --release "$T/rel" -t relx:2 --layout "$T/L"
    # the app layer (and the SBOM, which describes it) are made again;
    # runtime, erts and deps come from the cache
    assert_eq "$(cache_made "$BUILD_ERR")" "$(grep -cE '(app|sbom) layer sha256:[0-9a-f]*: [0-9]* entries,' <<<"$BUILD_ERR")" \
        "layers made other than app and sbom ($BUILD_ERR)"
    grep -qE 'app layer sha256:[0-9a-f]*: [0-9]* entries,' <<<"$BUILD_ERR" || fail "the app layer was not made again: $BUILD_ERR"
    grep -qE 'erts layer sha256:[0-9a-f]*: from the cache' <<<"$BUILD_ERR" || fail "erts not from the cache: $BUILD_ERR"
    grep -qE 'runtime layer sha256:[0-9a-f]*: from the cache' <<<"$BUILD_ERR" || fail "runtime not from the cache: $BUILD_ERR"
    # and the change is in the image
    assert_ne "$(rel_layer_digest "$T/L" relx:1 app)" "$(rel_layer_digest "$T/L" relx:2 app)" "app layer digest"
    assert_eq "$(rel_layer_digest "$T/L" relx:1 erts)" "$(rel_layer_digest "$T/L" relx:2 erts)" "erts layer digest"
}

# the key is the content: a file rewritten with the same size and its old
# mtime, within the same second, is a change
test_cache_same_size_same_mtime_change() {
    mkdir -p "$T/src"
    printf 'aaaa\n' >"$T/src/f"
    touch -d @1600000000 "$T/src/f"
    ob_build --dir "$T/src" -t d:1 --layout "$T/L"
    printf 'bbbb\n' >"$T/src/f"
    touch -d @1600000000 "$T/src/f"
    ob_build --dir "$T/src" -t d:2 --layout "$T/L"
    assert_eq "$(cache_made "$BUILD_ERR")" 1 "layers made after the change ($BUILD_ERR)"
    assert_ne "$(index_digest "$T/L" d:1)" "$(index_digest "$T/L" d:2)" "image digest after the change"
    # and again, at once
    printf 'cccc\n' >"$T/src/f"
    touch -d @1600000000 "$T/src/f"
    ob_build --dir "$T/src" -t d:3 --layout "$T/L"
    printf 'dddd\n' >"$T/src/f"
    touch -d @1600000000 "$T/src/f"
    ob_build --dir "$T/src" -t d:4 --layout "$T/L"
    assert_ne "$(index_digest "$T/L" d:3)" "$(index_digest "$T/L" d:4)" "image digest after a racy change"
}

test_cache_corrupt_blob_is_made_again() {
    reg_src "$T/src"
    ob_build --dir "$T/src" -t d:1 -o "$T/a.tar"
    local first=$DIGEST f
    f=$(find "$OCIBUILD_CACHE_DIR/blobs/sha256" -type f -size +100c | head -n1)
    [ -n "$f" ] || fail "no layer blob in the cache"
    printf 'X' | dd of="$f" bs=1 seek=20 conv=notrunc 2>/dev/null
    ob_build --dir "$T/src" -t d:1 -o "$T/b.tar"
    assert_eq "$DIGEST" "$first" "digest after healing"
    assert_contains "$BUILD_ERR" "cache file '$f' is corrupt" "warning naming the cache file"
    assert_eq "$(cache_made "$BUILD_ERR")" 1 "layers made again"
    ob_build --dir "$T/src" -t d:1 -o "$T/c.tar"
    assert_eq "$(cache_made "$BUILD_ERR")" 0 "layers made after the cache healed"
}

test_cache_concurrent_builds() {
    cache_release
    local i pids=() rc=0
    for i in 1 2 3 4; do
        "$OCIBUILD" build --release "$T/rel" -t relx:1 -o "$T/out$i.tar" >"$T/d$i" 2>"$T/e$i" &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || rc=$?; done
    assert_eq "$rc" 0 "exit status of the concurrent builds ($(cat "$T"/e*))"
    for i in 2 3 4; do
        assert_eq "$(cat "$T/d$i")" "$(cat "$T/d1")" "digest of build $i"
    done
    ob_build --release "$T/rel" -t relx:1 -o "$T/after.tar"
    assert_eq "$(cache_made "$BUILD_ERR")" 0 "layers made after the concurrent builds"
    assert_eq "$DIGEST" "$(cat "$T/d1")" "digest from the cache"
}

test_cache_no_cache() {
    reg_src "$T/src"
    ob_build --dir "$T/src" -t d:1 -o "$T/a.tar" --no-cache
    assert_no_path "$OCIBUILD_CACHE_DIR/layers"
    ob_build --dir "$T/src" -t d:1 -o "$T/a.tar"
    ob_build --dir "$T/src" -t d:1 -o "$T/a.tar" --no-cache
    assert_eq "$(cache_made "$BUILD_ERR")" 1 "layers made with --no-cache"
    # an unusable cache directory costs a warning, not the build
    OCIBUILD_CACHE_DIR=/proc/version ob_build --dir "$T/src" -t d:1 -o "$T/b.tar"
    assert_contains "$BUILD_ERR" "layer cache" "warning about the cache"
}

# a release made again (relx copies every file anew: new inodes, new ctimes)
# with the same content is a warm rebuild
test_cache_release_copied_again() {
    cache_release
    ob_build --release "$T/rel" -t relx:1 -o "$T/a.tar"
    local first=$DIGEST
    rm -rf "$T/rel2"
    cp -r "$T/rel" "$T/rel2"
    rm -rf "$T/rel"
    mv "$T/rel2" "$T/rel"
    ob_build --release "$T/rel" -t relx:1 -o "$T/b.tar"
    assert_eq "$DIGEST" "$first" "digest"
    assert_eq "$(cache_made "$BUILD_ERR")" 0 "layers made after the release was copied again ($BUILD_ERR)"
}

# --cache-max: the least recently used blobs go once the cache is larger
test_cache_bounded_lru() {
    mkdir -p "$T/a" "$T/b"
    head -c 300000 /dev/urandom >"$T/a/blob"
    head -c 300000 /dev/urandom >"$T/b/blob"
    # room for one of the two layers (and the small blobs), not both
    ob_build --dir "$T/a" -t a:1 -o "$T/a.tar" --compression none --cache-max 400K
    ob_build --dir "$T/b" -t b:1 -o "$T/b.tar" --compression none --cache-max 400K
    assert_contains "$BUILD_ERR" "cache: removed" "eviction logged"
    local total
    total=$(find "$OCIBUILD_CACHE_DIR/blobs/sha256" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
    [ "$total" -le 409600 ] || fail "the cache holds $total bytes, more than --cache-max"
    # b was used last: it is still there; a went
    ob_build --dir "$T/b" -t b:1 -o "$T/b.tar" --compression none --cache-max 400K
    assert_eq "$(cache_made "$BUILD_ERR")" 0 "layers made for b"
    ob_build --dir "$T/a" -t a:1 -o "$T/a.tar" --compression none --cache-max 400K
    assert_eq "$(cache_made "$BUILD_ERR")" 1 "layers made for a (evicted)"
    expect_fail "$OCIBUILD" build --dir "$T/a" -t a:1 -o "$T/x.tar" --cache-max lots
    assert_contains "$ERR" "bad --cache-max 'lots'" "error"
}
