# shellcheck shell=bash
# The layer cache (src/lib/layercache.c): unchanged layers are taken from
# $OCIBUILD_CACHE_DIR instead of being made again. run.sh gives each test a
# cache of its own. "made" and "cached" count the log lines build_layer
# writes for a layer it compressed and for one it took from the cache.

cache_made() { grep -c ' layer sha256:[0-9a-f]*: [0-9]* entries,' <<<"$1" || true; }
cache_hits() { grep -c ' layer sha256:[0-9a-f]*: from the cache' <<<"$1" || true; }

# files whose content the cache key read ("cache key: N of M files read and
# hashed", one line per layer), summed over the layers; and the files seen
cache_read() { sed -n 's/.*cache key: \([0-9]*\) of [0-9]* files read.*/\1/p' <<<"$1" | awk '{ s += $1 } END { print s + 0 }'; }
cache_files() { sed -n 's/.*cache key: [0-9]* of \([0-9]*\) files read.*/\1/p' <<<"$1" | awk '{ s += $1 } END { print s + 0 }'; }
# the stat index trusts a file only when its mtime and ctime are older than
# the index by more than the timestamp granularity it assumes (2 s): let the
# input become older than that
cache_settle() { sleep 3; }

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

# a warm rebuild of an unchanged tree reads no file: every content digest
# comes from the stat index
test_cache_warm_rebuild_reads_no_file() {
    cache_release
    cache_settle
    ob_build --release "$T/rel" -t relx:1 -o "$T/a.tar"
    local first=$DIGEST files
    files=$(cache_files "$BUILD_ERR")
    [ "$files" -ge 100 ] || fail "files seen by the cache key: $files ($BUILD_ERR)"
    assert_eq "$(cache_read "$BUILD_ERR")" "$files" "files read by a cold build"
    # one index file per layer root (the release's, and the runtime layer's)
    [ "$(find "$OCIBUILD_CACHE_DIR/statindex" -type f | wc -l)" -ge 1 ] || fail "no stat index"
    ob_build --release "$T/rel" -t relx:1 -o "$T/b.tar"
    assert_eq "$DIGEST" "$first" "digest of the warm rebuild"
    assert_eq "$(cache_files "$BUILD_ERR")" "$files" "files seen by the warm rebuild"
    assert_eq "$(cache_read "$BUILD_ERR")" 0 "files read by the warm rebuild ($BUILD_ERR)"
    assert_eq "$(cache_made "$BUILD_ERR")" 0 "layers made by the warm rebuild"
    # the same with one thread: the key does not depend on the thread count
    ob_build --release "$T/rel" -t relx:1 -o "$T/c.tar" -j 1 --no-cache
    assert_eq "$DIGEST" "$first" "digest of a -j 1 build without the cache"
}

# a file touched (new mtime, same content) is read again and still hits
test_cache_touched_file_is_read_again_and_hits() {
    cache_release
    cache_settle
    ob_build --release "$T/rel" -t relx:1 -o "$T/a.tar"
    local first=$DIGEST app
    app=$(find "$T/rel/lib" -path '*/relx_app-*/ebin/relx_app.app' | head -n1)
    touch "$app"
    ob_build --release "$T/rel" -t relx:1 -o "$T/b.tar"
    assert_eq "$(cache_read "$BUILD_ERR")" 1 "files read after a touch ($BUILD_ERR)"
    assert_eq "$(cache_made "$BUILD_ERR")" 0 "layers made after a touch"
    assert_eq "$DIGEST" "$first" "digest after a touch"
}

# racy: a file whose mtime is not older than the index (here: in the future)
# is read on every build, so a change that keeps its size and its mtime,
# made within the same timestamp tick, is seen
test_cache_racy_file_is_read_every_time() {
    mkdir -p "$T/src"
    printf 'old\n' >"$T/src/racy"
    printf 'calm\n' >"$T/src/calm"
    touch -d '@4000000000' "$T/src/racy"
    cache_settle
    ob_build --dir "$T/src" -t d:1 --layout "$T/L"
    assert_eq "$(cache_read "$BUILD_ERR")" 2 "files read by the first build"
    ob_build --dir "$T/src" -t d:1 --layout "$T/L"
    assert_eq "$(cache_read "$BUILD_ERR")" 1 "files read again: the racy one alone ($BUILD_ERR)"
    # same size, same mtime, new content, and the ctime of now: read again
    printf 'new\n' >"$T/src/racy"
    touch -d '@4000000000' "$T/src/racy"
    ob_build --dir "$T/src" -t d:2 --layout "$T/L"
    assert_eq "$(cache_read "$BUILD_ERR")" 1 "files read after the racy change"
    assert_eq "$(cache_made "$BUILD_ERR")" 1 "layers made after the racy change"
    assert_ne "$(index_digest "$T/L" d:1)" "$(index_digest "$T/L" d:2)" "image digest after the racy change"
}

# a corrupt, truncated or foreign index is ignored (every file read, the
# right image) and rewritten
test_cache_bad_stat_index_is_ignored() {
    reg_src "$T/src"
    cache_settle
    ob_build --dir "$T/src" -t d:1 -o "$T/a.tar"
    local first=$DIGEST idx files how before
    files=$(cache_files "$BUILD_ERR")
    assert_eq "$files" 3 "files of the tree"
    # one tree, one index file
    assert_eq "$(find "$OCIBUILD_CACHE_DIR/statindex" -type f | wc -l)" 1 "index files"
    idx=$(find "$OCIBUILD_CACHE_DIR/statindex" -type f)
    for how in digit truncate version garbage empty; do
        case $how in
        # one digit of a content digest: the checksum no longer matches
        digit) if [ "$(sed -n '2s/^[^\t]*\t\(.\).*/\1/p' "$idx")" = 0 ]; then sed -i '2s/\t./\t1/' "$idx"; else sed -i '2s/\t./\t0/' "$idx"; fi ;;
        truncate) truncate -s $(($(stat -c %s "$idx") / 2)) "$idx" ;;
        version) sed -i '1s/^ocibuild-statindex [0-9]*/ocibuild-statindex 99/' "$idx" ;;
        garbage) head -c 5000 /dev/urandom >"$idx" ;;
        empty) : >"$idx" ;;
        esac
        before=$(cat "$idx")
        ob_build --dir "$T/src" -t d:1 -o "$T/b.tar"
        assert_eq "$DIGEST" "$first" "digest with a $how index"
        assert_eq "$(cache_read "$BUILD_ERR")" "$files" "files read with a $how index ($BUILD_ERR)"
        assert_ne "$(cat "$idx")" "$before" "the $how index rewritten"
        ob_build --dir "$T/src" -t d:1 -o "$T/b.tar"
        assert_eq "$(cache_read "$BUILD_ERR")" 0 "files read once the $how index was rewritten"
    done
    # a stale digest under a valid checksum is the one thing it can not
    # see; a file changed since then has a new stat tuple all the same
    printf 'setting=2\n' >"$T/src/etc/app.conf"
    ob_build --dir "$T/src" -t d:2 -o "$T/c.tar"
    assert_eq "$(cache_read "$BUILD_ERR")" 1 "files read after a change"
    assert_ne "$DIGEST" "$first" "digest after a change"
}

# one index file per tree; one unused for 30 days goes, one in use stays
test_cache_stat_index_per_tree_and_aged_out() {
    reg_src "$T/a"
    reg_src "$T/b" 2
    cache_settle
    ob_build --dir "$T/a" -t a:1 -o "$T/a.tar"
    local ia ib
    ia=$(find "$OCIBUILD_CACHE_DIR/statindex" -type f)
    ob_build --dir "$T/b" -t b:1 -o "$T/b.tar"
    assert_eq "$(find "$OCIBUILD_CACHE_DIR/statindex" -type f | wc -l)" 2 "index files of two trees"
    ib=$(find "$OCIBUILD_CACHE_DIR/statindex" -type f ! -path "$ia")
    # a's unused for 40 days, b's for 20: the next build removes a's only
    touch -d '-40 days' "$ia"
    touch -d '-20 days' "$ib"
    ob_build --dir "$T/b" -t b:1 -o "$T/b.tar"
    assert_eq "$(cache_read "$BUILD_ERR")" 0 "files read: nothing to write to the index"
    assert_no_path "$ia"
    assert_file "$ib"
    # b's was used: marked so (at most once a day), it stays another 30 days
    [ -n "$(find "$ib" -mtime -1)" ] || fail "the index in use was not marked used"
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

# the path of a blob of the cache larger than 100 bytes (a layer's), the
# first find meets
cache_layer_blob() {
    local f
    f=$(find "$OCIBUILD_CACHE_DIR/blobs/sha256" -type f -size +100c -print -quit)
    [ -n "$f" ] || fail "no layer blob in the cache"
    printf '%s\n' "$f"
}

test_cache_corrupt_blob_is_made_again() {
    reg_src "$T/src"
    ob_build --dir "$T/src" -t d:1 -o "$T/a.tar"
    local first=$DIGEST f
    f=$(cache_layer_blob)
    printf 'X' | dd of="$f" bs=1 seek=20 conv=notrunc 2>/dev/null
    ob_build --dir "$T/src" -t d:1 -o "$T/b.tar"
    assert_eq "$DIGEST" "$first" "digest after healing"
    assert_contains "$BUILD_ERR" "cache file '$f' is corrupt" "warning naming the cache file"
    assert_eq "$(cache_made "$BUILD_ERR")" 1 "layers made again"
    ob_build --dir "$T/src" -t d:1 -o "$T/c.tar"
    assert_eq "$(cache_made "$BUILD_ERR")" 0 "layers made after the cache healed"
}

# opens of the cache's layer blob F by one build (strace), into OPENS
cache_blob_opens() {
    local f=$1
    shift
    command -v strace >/dev/null || fail "strace is missing (scripts/install-deps.sh --test)"
    # LeakSanitizer (an ASan build) can not run under ptrace
    run env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        strace -f -qq -e trace=open,openat -o "$T/strace.log" "$OCIBUILD" build "$@"
    [ "$RC" -eq 0 ] || fail "build under strace exited $RC: $ERR"
    BUILD_ERR=$ERR
    OPENS=$(grep -c "open.*\"$f\"" "$T/strace.log" || true)
}

# A cached blob is read and checked against its digest when a build takes
# it, until one check vouches for it: from then on its stat (inode, size,
# mtime) matching the record of that check, outside the racy window, says it
# is unchanged, and a build links it without reading it. Any write to it
# gives it a new mtime: it is read again, found corrupt and made again.
test_cache_checked_blob_is_not_read_again() {
    reg_src "$T/src"
    ob_build --dir "$T/src" -t d:1 -o "$T/a.tar"
    local first=$DIGEST f
    f=$(cache_layer_blob)
    # written moments ago: too recent for a check to vouch for it (a write
    # in the same timestamp tick would keep its mtime); age it
    touch -d '-1 min' "$f"
    cache_blob_opens "$f" --dir "$T/src" -t d:1 -o "$T/b.tar"
    assert_eq "$OPENS" 1 "opens of the cached blob by the build that checks it"
    assert_eq "$(cache_hits "$BUILD_ERR")" 1 "layers from the cache"
    cache_blob_opens "$f" --dir "$T/src" -t d:1 -o "$T/c.tar"
    assert_eq "$OPENS" 0 "opens of the checked blob by the next build ($BUILD_ERR)"
    assert_eq "$(cache_hits "$BUILD_ERR")" 1 "layers from the cache"
    cmp "$T/a.tar" "$T/c.tar" || fail "the archive from the unread blob differs"
    # a write to the blob: read again, corrupt, made again
    printf 'X' | dd of="$f" bs=1 seek=20 conv=notrunc 2>/dev/null
    cache_blob_opens "$f" --dir "$T/src" -t d:1 -o "$T/d.tar"
    assert_contains "$BUILD_ERR" "cache file '$f' is corrupt" "warning naming the cache file"
    assert_eq "$(cache_made "$BUILD_ERR")" 1 "layers made again"
    cmp "$T/a.tar" "$T/d.tar" || fail "the archive after healing differs"
    # the same when the write keeps the size and the mtime is set back to
    # a time other than the checked one
    touch -d '-1 min' "$f"
    ob_build --dir "$T/src" -t d:1 -o "$T/e.tar"
    printf 'Y' | dd of="$f" bs=1 seek=20 conv=notrunc 2>/dev/null
    touch -d '-2 min' "$f"
    ob_build --dir "$T/src" -t d:1 -o "$T/g.tar"
    assert_contains "$BUILD_ERR" "cache file '$f' is corrupt" "warning after a write and an mtime set back"
    assert_eq "$DIGEST" "$first" "digest after healing"
}

# the least recently used blob goes first, "used" being taken from the cache,
# not only made: a blob that a warm build takes without reading it (a check
# vouches for it) outlives one made after it. Its access time says when it
# was used, so the access times are set here to make the order plain.
test_cache_lru_counts_use() {
    mkdir -p "$T/a" "$T/b" "$T/c"
    head -c 300000 /dev/urandom >"$T/a/blob"
    head -c 300000 /dev/urandom >"$T/b/blob"
    head -c 300000 /dev/urandom >"$T/c/blob"
    local blobs="$OCIBUILD_CACHE_DIR/blobs/sha256" fa fb
    ob_build --dir "$T/a" -t a:1 -o "$T/a.tar" --compression none
    fa=$(find "$blobs" -type f -size +200k)
    ob_build --dir "$T/b" -t b:1 -o "$T/b.tar" --compression none
    fb=$(find "$blobs" -type f -size +200k ! -path "$fa")
    [ -f "$fa" ] && [ -f "$fb" ] || fail "layer blobs: '$fa' '$fb'"
    # a checked once, so that the next build does not read it
    touch -d '-1 min' "$fa"
    ob_build --dir "$T/a" -t a:1 -o "$T/a.tar" --compression none
    touch -a -d '-2 hours' "$fa"
    touch -a -d '-1 hour' "$fb"
    # (a layout made from the stage by links, so that nothing reads the blob)
    ob_build --dir "$T/a" -t a:1 --layout "$T/L" --compression none
    assert_eq "$(cache_hits "$BUILD_ERR")" 1 "a from the cache"
    # room for two of the three layers: b, used longest ago, goes
    ob_build --dir "$T/c" -t c:1 -o "$T/c.tar" --compression none --cache-max 700K
    assert_contains "$BUILD_ERR" "cache: removed" "eviction logged"
    [ -f "$fa" ] || fail "a, used last, was evicted"
    [ ! -f "$fb" ] || fail "b, used longest ago, was kept"
    ob_build --dir "$T/a" -t a:1 -o "$T/a.tar" --compression none
    assert_eq "$(cache_made "$BUILD_ERR")" 0 "layers made for a (used, kept)"
    ob_build --dir "$T/b" -t b:1 -o "$T/b.tar" --compression none
    assert_eq "$(cache_made "$BUILD_ERR")" 1 "layers made for b (evicted)"
}

test_cache_concurrent_builds() {
    cache_release
    cache_settle
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
    # the stat index they shared is whole (the last writer's): the build
    # after them read what it lacked, the next one reads nothing
    ob_build --release "$T/rel" -t relx:1 -o "$T/again.tar"
    assert_eq "$(cache_read "$BUILD_ERR")" 0 "files read after the concurrent builds ($BUILD_ERR)"
    assert_eq "$DIGEST" "$(cat "$T/d1")" "digest from the stat index"
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
    sleep 3   # older than the racy window: what this build learns is kept
    ob_build --release "$T/rel" -t relx:1 -o "$T/b.tar"
    assert_eq "$DIGEST" "$first" "digest"
    assert_eq "$(cache_made "$BUILD_ERR")" 0 "layers made after the release was copied again ($BUILD_ERR)"
    # new inodes and ctimes: the stat index vouches for none of them, every
    # file is read, and the key is the same
    # (the host files of the runtime layer were not copied: not read)
    assert_eq "$(cache_read "$BUILD_ERR")" "$(find "$T/rel" -type f | wc -l)" "files read after the copy"
    # the layers of one release share its root, and their keys are made side
    # by side: what each learnt is kept, the next build reads nothing
    ob_build --release "$T/rel" -t relx:1 -o "$T/c.tar"
    assert_eq "$(cache_read "$BUILD_ERR")" 0 "files read by the build after that ($BUILD_ERR)"
    # and what each key cost is told in layer order, whichever finished first
    assert_eq "$(sed -n 's/^ocibuild: \([a-z]*\) layer: cache key:.*/\1/p' <<<"$BUILD_ERR" | tr '\n' ' ')" \
        "$(sed -n 's/^ocibuild: \([a-z]*\) layer sha256:.*/\1/p' <<<"$BUILD_ERR" | grep -v sbom | tr '\n' ' ')" \
        "layers of the cache key lines"
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

# text of about N bytes from a fixed word list (compressible, level 6)
cache_text() {
    python3 - "$1" "$2" <<'PY'
import random, sys
r = random.Random(sys.argv[2])
words = [''.join(r.choice('abcdefghijklmnop') for _ in range(r.randint(2, 9))) for _ in range(4000)]
out, size = [], 0
while size < int(sys.argv[1]):
    w = r.choice(words)
    out.append(w)
    size += len(w) + 1
sys.stdout.write(' '.join(out))
PY
}
cache_blocks_reused() { sed -n 's/.* layer sha256:[0-9a-f]*: .*, \([0-9]* of [0-9]*\) gzip blocks reused.*/\1/p' <<<"$1"; }

# A layer made again recompresses only the gzip blocks whose bytes changed:
# the others are taken from the blob the cache holds for that layer's last
# build, each checked by decompressing it and comparing. The result is byte
# for byte what a build without the cache makes.
test_cache_gzip_blocks_reused() {
    mkdir -p "$T/src"
    cache_text 2600000 1 >"$T/src/big1"
    cache_text 2600000 2 >"$T/src/big2"
    printf 'version 1\n' >"$T/src/a.txt"
    ob_build --dir "$T/src" -t b:1 --compression gzip -o "$T/a.tar"
    assert_eq "$(cache_blocks_reused "$BUILD_ERR")" "" "blocks reused with nothing to reuse ($BUILD_ERR)"
    # the same size: one block changes (a.txt is first in the tar)
    printf 'version 2\n' >"$T/src/a.txt"
    ob_build --dir "$T/src" -t b:1 --compression gzip -o "$T/b.tar"
    local second=$DIGEST short f
    assert_eq "$(cache_blocks_reused "$BUILD_ERR")" "4 of 5" "blocks reused ($BUILD_ERR)"
    short=$(sed -n 's/.* layer sha256:\([0-9a-f]*\): .*gzip blocks reused.*/\1/p' <<<"$BUILD_ERR")
    ob_build --dir "$T/src" -t b:1 --compression gzip --no-cache -o "$T/c.tar"
    assert_eq "$DIGEST" "$second" "digest with reused blocks against a build without the cache"
    cmp "$T/b.tar" "$T/c.tar" || fail "the archives differ"
    # a damaged block in the cached blob is compressed again, not copied
    f=$(find "$OCIBUILD_CACHE_DIR/blobs/sha256" -name "$short*" -print -quit)
    [ -n "$f" ] || fail "the layer's blob is not in the cache"
    printf 'version 3\n' >"$T/src/a.txt"
    printf 'XXXX' | dd of="$f" bs=1 seek=$(( $(stat -c %s "$f") - 4000 )) conv=notrunc 2>/dev/null
    ob_build --dir "$T/src" -t b:1 --compression gzip -o "$T/d.tar"
    local third=$DIGEST
    assert_eq "$(cache_blocks_reused "$BUILD_ERR")" "3 of 5" "blocks reused from a damaged blob ($BUILD_ERR)"
    ob_build --dir "$T/src" -t b:1 --compression gzip --no-cache -o "$T/e.tar"
    assert_eq "$DIGEST" "$third" "digest after a damaged block"
    # zstd makes no blocks of its own: nothing said
    ob_build --dir "$T/src" -t b:1 --compression zstd -o "$T/f.tar"
    assert_eq "$(cache_blocks_reused "$BUILD_ERR")" "" "blocks reused with zstd ($BUILD_ERR)"
}

# A file that grows moves every byte after it in the tar; blocks end at an
# entry's start (once they hold 7/8 MiB), so the cuts after the change fall
# where they fell before and only the blocks up to there are compressed.
test_cache_gzip_blocks_reused_after_a_file_grew() {
    mkdir -p "$T/src/many"
    python3 - "$T/src/many" <<'PY'
import random, sys
r = random.Random(3)
words = [''.join(r.choice('abcdefghijklmnop') for _ in range(r.randint(2, 9))) for _ in range(4000)]
for i in range(360):
    text, size = [], 0
    while size < 13000:
        w = r.choice(words)
        text.append(w)
        size += len(w) + 1
    open('%s/f%03d' % (sys.argv[1], i), 'w').write(' '.join(text))
PY
    printf 'version 1\n' >"$T/src/a.txt"
    ob_build --dir "$T/src" -t b:1 --compression gzip -o "$T/a.tar"
    head -c 700 /dev/zero | tr '\0' 'x' >>"$T/src/a.txt"
    ob_build --dir "$T/src" -t b:1 --compression gzip -o "$T/b.tar"
    local second=$DIGEST got reused total
    got=$(cache_blocks_reused "$BUILD_ERR")
    reused=${got%% of *} total=${got##* of }
    [ -n "$got" ] && [ "$total" -ge 4 ] && [ "$reused" -ge $((total - 2)) ] ||
        fail "blocks reused after a file grew: '$got' ($BUILD_ERR)"
    ob_build --dir "$T/src" -t b:1 --compression gzip --no-cache -o "$T/c.tar"
    assert_eq "$DIGEST" "$second" "digest against a build without the cache"
}
