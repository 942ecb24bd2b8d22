# shellcheck shell=bash
# Reproducibility.

layer_digest() { manifest_json "$1" "$2" | jq -r '.layers[0].digest'; }

test_repro_layer_digest_without_sde() {
    mk_tree "$T/src"
    ob_build --dir "$T/src" -t a:1 --layout "$T/L1"
    sleep 1.1   # make sure a clock-based field would differ
    ob_build --dir "$T/src" -t a:1 --layout "$T/L2"
    assert_eq "$(layer_digest "$T/L2" a:1)" "$(layer_digest "$T/L1" a:1)" "layer digest of two builds"
    cmp "$(blob "$T/L1" "$(layer_digest "$T/L1" a:1)")" "$(blob "$T/L2" "$(layer_digest "$T/L2" a:1)")" \
        || fail "layer blobs differ"
}

test_repro_manifest_digest_with_sde() {
    mk_tree "$T/src"
    export SOURCE_DATE_EPOCH=1234567890
    ob_build --dir "$T/src" -t a:1 --layout "$T/L1" --env X=1 -l l=1 -a a=1
    local d1=$DIGEST
    sleep 1.1
    ob_build --dir "$T/src" -t a:1 --layout "$T/L2" --env X=1 -l l=1 -a a=1
    assert_eq "$DIGEST" "$d1" "manifest digest with SOURCE_DATE_EPOCH"
    cmp "$T/L1/index.json" "$T/L2/index.json" || fail "index.json differs"
    # archive output carries the same manifest
    ob_build --dir "$T/src" -t a:1 -o "$T/a.tar" --env X=1 -l l=1 -a a=1
    assert_eq "$DIGEST" "$d1" "manifest digest of -o build"
    ob_build --dir "$T/src" -t a:1 -o "$T/b.tar.gz" --env X=1 -l l=1 -a a=1
    assert_eq "$DIGEST" "$d1" "manifest digest of -o .tar.gz build"
}

test_repro_copied_and_touched_tree() {
    mk_tree "$T/src"
    mkdir -p "$T/out1" "$T/out2" "$T/out3" "$T/out4"
    ob_build --dir "$T/src" -t a:1 --layout "$T/out1/L"
    local want
    want=$(layer_digest "$T/out1/L" a:1)
    # copy created in reverse order (different directory order on disk),
    # different mtimes/atimes, in another directory, built into another directory
    mkdir -p "$T/elsewhere/copy"
    (cd "$T/src" && find . -mindepth 1 | LC_ALL=C sort -r) >"$T/rev"
    tar -C "$T/src" --no-recursion -cf - -T "$T/rev" | tar -C "$T/elsewhere/copy" -xpf -
    chmod 0755 "$T/elsewhere/copy"
    assert_same_tree "$T/src" "$T/elsewhere/copy"
    find "$T/elsewhere/copy" -exec touch -h -d '2001-02-03 04:05:06' {} +
    (cd "$T/elsewhere" && ob_build --dir copy -t other:tag --layout "$T/out2/L")
    assert_eq "$(layer_digest "$T/out2/L" other:tag)" "$want" "layer digest of copied/touched tree"
    # touching the original tree changes nothing either
    find "$T/src" -exec touch -h {} +
    ob_build --dir "$T/src" -t a:1 --layout "$T/out3/L"
    assert_eq "$(layer_digest "$T/out3/L" a:1)" "$want" "layer digest after touch"
    # but content matters
    echo changed >>"$T/src/README"
    ob_build --dir "$T/src" -t a:1 --layout "$T/out4/L"
    assert_ne "$(layer_digest "$T/out4/L" a:1)" "$want" "layer digest after content change"
}

# same bytes whether the compressor may use one or all CPUs
repro_taskset() {
    local comp=$1
    command -v taskset >/dev/null || fail "taskset not installed"
    mk_tree "$T/src"
    head -c 3000000 /dev/urandom >"$T/src/data/big-random.bin"
    seq 1 400000 >"$T/src/data/numbers.txt"
    SOURCE_DATE_EPOCH=99 taskset -c 0 "$OCIBUILD" build --dir "$T/src" -t a:1 --layout "$T/L1" \
        --compression "$comp" -q >"$T/d1" || fail "taskset -c 0 build failed"
    SOURCE_DATE_EPOCH=99 ob_build --dir "$T/src" -t a:1 --layout "$T/L2" --compression "$comp"
    assert_eq "$DIGEST" "$(cat "$T/d1")" "manifest digest 1 CPU vs all CPUs ($comp)"
    local l1 l2
    l1=$(layer_digest "$T/L1" a:1)
    l2=$(layer_digest "$T/L2" a:1)
    assert_eq "$l2" "$l1" "layer digest 1 CPU vs all CPUs ($comp)"
    cmp "$(blob "$T/L1" "$l1")" "$(blob "$T/L2" "$l2")" || fail "layer bytes differ"
}

test_repro_taskset_gzip() { repro_taskset gzip; }
test_repro_taskset_zstd() { repro_taskset zstd; }

test_repro_layout_vs_archive_layer() {
    mk_tree "$T/src"
    ob_build --dir "$T/src" -t a:1 --layout "$T/L"
    ob_build --dir "$T/src" -t a:1 -o "$T/a.tar"
    mkdir "$T/x" && tar -xf "$T/a.tar" -C "$T/x"
    assert_eq "$(layer_digest "$T/x" a:1)" "$(layer_digest "$T/L" a:1)" "layer digest layout vs archive"
}

# The binary documents -j/--jobs (compression threads, "the output does not
# depend on it"): check that claim when the flag is offered.
test_repro_jobs_flag() {
    "$OCIBUILD" build --help 2>/dev/null | grep -- '--jobs' >/dev/null || skip "no --jobs flag"
    mk_tree "$T/src"
    head -c 2000000 /dev/urandom >"$T/src/data/big-random.bin"
    seq 1 300000 >"$T/src/data/numbers.txt"
    local comp j ref
    for comp in gzip zstd; do
        ref=
        for j in 1 2 5; do
            SOURCE_DATE_EPOCH=7 ob_build --dir "$T/src" -t a:1 --layout "$T/L-$comp-$j" --compression "$comp" --jobs "$j"
            [ -n "$ref" ] || ref=$DIGEST
            assert_eq "$DIGEST" "$ref" "manifest digest with --jobs $j ($comp)"
        done
    done
}

# The walk reads subtrees side by side with --jobs > 1: any thread count
# gives the same image (entries, modes, symlinks recorded and not followed,
# empty directories), and a bad entry deep in one subtree is refused,
# naming it, whatever the count.
test_repro_walk_threads() {
    local i k j ref=
    mkdir -p "$T/src"
    for i in $(seq 1 24); do
        for k in a b/c b/d/e; do
            mkdir -p "$T/src/top$i/$k"
            printf 'file %s %s\n' "$i" "$k" >"$T/src/top$i/$k/f.txt"
        done
        mkdir "$T/src/top$i/empty"
        ln -s b "$T/src/top$i/link-to-dir"
        chmod 0700 "$T/src/top$i/b/d"
    done
    echo root >"$T/src/at-root"
    for j in 1 3 8; do
        SOURCE_DATE_EPOCH=7 ob_build --no-cache --dir "$T/src" -t a:1 --layout "$T/L$j" --jobs "$j"
        [ -n "$ref" ] || ref=$DIGEST
        assert_eq "$DIGEST" "$ref" "manifest digest with --jobs $j"
    done
    layer_tar "$T/L1" a:1 | tar -tvf - >"$T/list"
    grep -q 'top7/link-to-dir -> b$' "$T/list" || fail "the directory symlink is not recorded as one: $(head -5 "$T/list")"
    grep -q 'top7/empty/$' "$T/list" || fail "the empty directory is missing"
    grep -q '^drwx------ .*top7/b/d/$' "$T/list" || fail "the 0700 directory lost its mode"
    if grep -q 'top7/link-to-dir/' "$T/list"; then fail "the walk followed a directory symlink"; fi
    mkfifo "$T/src/top13/b/d/e/weird-fifo"
    for j in 1 3 8; do
        ob_fail 1 "top13/b/d/e/weird-fifo" --no-cache --dir "$T/src" -t a:1 -o "$T/x.tar" --jobs "$j"
    done
}
