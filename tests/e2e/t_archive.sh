# shellcheck shell=bash
# -o FILE.tar / FILE.tar.gz output: OCI archive with a Docker manifest.json.

test_archive_skopeo_oci_archive() {
    mk_tree "$T/src"
    mkdir "$T/out"
    ob_build --dir "$T/src" -t myapp:1.0.0 -o "$T/out/img.tar" --env FOO=bar
    assert_dir_listing "$T/out" "img.tar"
    expect_ok skopeo inspect "oci-archive:$T/out/img.tar"
    assert_eq "$(jq -r .Digest <<<"$OUT")" "$DIGEST" "skopeo inspect digest"
    assert_contains "$(jq -r '.Env[]' <<<"$OUT")" FOO=bar "Env via oci-archive"
    expect_ok skopeo copy "oci-archive:$T/out/img.tar" "oci:$T/copy:myapp:1.0.0"
    validate_layout "$T/copy" myapp:1.0.0
    umoci_unpack "$T/copy" myapp:1.0.0 "$T/bundle"
    assert_same_tree "$T/src" "$T/bundle/rootfs/app"
}

test_archive_docker_archive() {
    mk_tree "$T/src"
    ob_build --dir "$T/src" -t myapp:1.0.0 -o "$T/img.tar" --platform linux/arm64 --uid 42
    expect_ok skopeo inspect "docker-archive:$T/img.tar"
    assert_eq "$(jq -r .Architecture <<<"$OUT")" arm64 "docker-archive Architecture"
    assert_eq "$(jq -r .Os <<<"$OUT")" linux "docker-archive Os"
    assert_eq "$(jq -r '.Layers | length' <<<"$OUT")" 1 "docker-archive layers"
    expect_ok skopeo inspect --config "docker-archive:$T/img.tar"
    assert_eq "$(jq -r .config.User <<<"$OUT")" 42 "docker-archive config User"
    # the tag is reachable by name too
    expect_ok skopeo inspect "docker-archive:$T/img.tar:myapp:1.0.0"
    # and the image copies out with the same layer
    expect_ok skopeo copy "docker-archive:$T/img.tar" "oci:$T/copy:x"
    expect_ok skopeo copy "docker-archive:$T/img.tar" "dir:$T/dircopy"
    assert_file "$T/dircopy/manifest.json"
}

test_archive_listing_and_manifest_json() {
    mk_tree "$T/src"
    ob_build --dir "$T/src" -t myapp:1.0.0 -o "$T/img.tar"
    tar -tf "$T/img.tar" | sed 's#^\./##' >"$T/list" || fail "img.tar is not a tar"
    local f
    for f in oci-layout index.json manifest.json; do
        grep -qx "$f" "$T/list" || fail "$f missing from archive: $(cat "$T/list")"
    done
    mkdir "$T/x"
    tar -xf "$T/img.tar" -C "$T/x"
    local m cfg layer
    assert_eq "$(index_digest "$T/x" myapp:1.0.0)" "$DIGEST" "index.json digest"
    m=$(manifest_json "$T/x" myapp:1.0.0)
    cfg=$(jq -r .config.digest <<<"$m")
    layer=$(jq -r '.layers[0].digest' <<<"$m")
    for f in "$DIGEST" "$cfg" "$layer"; do
        grep -qx "blobs/sha256/${f#sha256:}" "$T/list" || fail "blob $f missing from archive"
    done
    # exactly those 3 blobs plus the three metadata files (and optional dir entries)
    assert_eq "$(grep -v '/$' "$T/list" | LC_ALL=C sort | tr '\n' ' ')" \
        "$(printf '%s\n' index.json manifest.json oci-layout "blobs/sha256/${DIGEST#sha256:}" \
            "blobs/sha256/${cfg#sha256:}" "blobs/sha256/${layer#sha256:}" | LC_ALL=C sort | tr '\n' ' ')" \
        "archive file list"
    # Docker-style manifest.json
    local dm=$T/x/manifest.json
    assert_eq "$(jq -r 'type' "$dm")" array "manifest.json type"
    assert_eq "$(jq -r 'length' "$dm")" 1 "manifest.json entries"
    assert_eq "$(jq -r '.[0].Config' "$dm")" "blobs/sha256/${cfg#sha256:}" "manifest.json Config"
    assert_eq "$(jq -c '.[0].RepoTags' "$dm")" '["myapp:1.0.0"]' "manifest.json RepoTags"
    assert_eq "$(jq -c '.[0].Layers' "$dm")" "[\"blobs/sha256/${layer#sha256:}\"]" "manifest.json Layers"
    verify_blob "$T/x" "$layer" "$(jq -r '.layers[0].size' <<<"$m")"
    validate_layout "$T/x" myapp:1.0.0
}

test_archive_tar_gz() {
    mk_tree "$T/src"
    mkdir "$T/out"
    ob_build --dir "$T/src" -t myapp:1.0.0 -o "$T/out/img.tar.gz"
    assert_dir_listing "$T/out" "img.tar.gz"
    assert_eq "$(head -c 2 "$T/out/img.tar.gz" | od -An -tx1 | tr -d ' ')" 1f8b "gzip magic"
    expect_ok gzip -t "$T/out/img.tar.gz"
    gzip -dc "$T/out/img.tar.gz" >"$T/img.tar"
    tar -tf "$T/img.tar" | grep -x 'manifest.json' >/dev/null || fail "no manifest.json in gunzipped archive"
    expect_ok skopeo copy "oci-archive:$T/img.tar" "oci:$T/copy:myapp:1.0.0"
    assert_eq "$(index_digest "$T/copy" myapp:1.0.0)" "$DIGEST" "digest after skopeo copy"
    expect_ok skopeo inspect "docker-archive:$T/img.tar"
}

test_archive_multiple_tags() {
    mkdir -p "$T/src" && echo hi >"$T/src/hi"
    ob_build --dir "$T/src" -t myapp:1.0.0 -t myapp:latest -o "$T/img.tar"
    mkdir "$T/x" && tar -xf "$T/img.tar" -C "$T/x"
    assert_eq "$(index_digest "$T/x" myapp:1.0.0)" "$DIGEST" "tag 1"
    assert_eq "$(index_digest "$T/x" myapp:latest)" "$DIGEST" "tag 2"
    assert_eq "$(jq -c '.[0].RepoTags | sort' "$T/x/manifest.json")" '["myapp:1.0.0","myapp:latest"]' "RepoTags"
    expect_ok skopeo inspect "oci-archive:$T/img.tar:myapp:latest"
}

test_archive_podman_load() {
    mk_tree "$T/src"
    ob_build --dir "$T/src" -t myapp:1.0.0 -o "$T/img.tar" --env FOO=bar --entrypoint '/app/bin/start.sh go'
    podman_load "$T/img.tar"
    expect_ok podman_cmd images --format '{{.Repository}}:{{.Tag}}'
    grep -qE '(^|/)myapp:1\.0\.0$' <<<"$OUT" || fail "podman images does not list myapp:1.0.0: $OUT"
    local name
    name=$(grep -E '(^|/)myapp:1\.0\.0$' <<<"$OUT" | sed -n 1p)
    expect_ok podman_cmd image inspect "$name"
    assert_eq "$(jq -c '.[0].Config.Entrypoint' <<<"$OUT")" '["/app/bin/start.sh","go"]' "podman Entrypoint"
    assert_eq "$(jq -r '.[0].Config.User' <<<"$OUT")" 65534 "podman User"
    # the gzipped form loads too
    ob_build --dir "$T/src" -t myapp:gz -o "$T/img.tar.gz"
    podman_load "$T/img.tar.gz"
    expect_ok podman_cmd images --format '{{.Repository}}:{{.Tag}}'
    grep -qE '(^|/)myapp:gz$' <<<"$OUT" || fail "podman images does not list myapp:gz: $OUT"
}

test_archive_relative_and_overwrite() {
    mk_tree "$T/src"
    mkdir "$T/out"
    cd "$T/out" || fail "cd"
    ob_build --dir ../src -t myapp:1 -o img.tar
    local d1=$DIGEST
    assert_dir_listing "$T/out" "img.tar"
    # rebuilding onto an existing file replaces it, leaving nothing else
    ob_build --dir ../src -t myapp:1 -o img.tar --env CHANGED=1
    assert_ne "$DIGEST" "$d1" "digest after change"
    assert_dir_listing "$T/out" "img.tar"
    expect_ok skopeo inspect "oci-archive:img.tar"
    assert_eq "$(jq -r .Digest <<<"$OUT")" "$DIGEST" "archive holds the new image"
    # the output may even live inside the input tree: it is not packed into itself
    cd "$T/src" || fail "cd"
    ob_build --dir . -t self:1 -o self.tar
    mkdir "$T/x" && tar -xf self.tar -C "$T/x"
    if layer_tar "$T/x" self:1 | tar -tf - | grep 'self\.tar' >/dev/null; then
        fail "the output archive (or its temp file) was packed into the layer"
    fi
}

# Run a container from the image with podman. Only meaningful where podman can
# run containers at all: a control image made with umoci must run first,
# otherwise the test is skipped (e.g. no cgroup support, rlimits refused).
test_archive_podman_run() {
    local bb
    bb=$(command -v busybox || true)
    [ -n "$bb" ] && file -L "$bb" 2>/dev/null | grep 'statically linked' >/dev/null \
        || skip "no static busybox to put in the image"
    podman_works || skip "podman cannot run here"
    local runargs=(run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
    # control image
    mkdir -p "$T/ctl"
    expect_ok umoci init --layout "$T/ctl/L"
    expect_ok umoci new --image "$T/ctl/L:c"
    expect_ok umoci unpack --image "$T/ctl/L:c" "$T/ctl/b"
    cp "$bb" "$T/ctl/b/rootfs/busybox"
    expect_ok umoci repack --image "$T/ctl/L:c" "$T/ctl/b"
    expect_ok skopeo copy "oci:$T/ctl/L:c" "oci-archive:$T/ctl.tar:control:1"
    expect_ok podman_cmd load -i "$T/ctl.tar"
    run podman_cmd "${runargs[@]}" localhost/control:1 /busybox true
    [ "$RC" -eq 0 ] || skip "podman cannot run containers here: $(tail -n1 <<<"$ERR")"
    # our image
    mkdir -p "$T/src/bin"
    cp "$bb" "$T/src/bin/busybox"
    echo "payload" >"$T/src/data.txt"
    ob_build --dir "$T/src" -t runme:1 -o "$T/img.tar" --env GREETING=hi \
        --entrypoint '["/app/bin/busybox","sh","-c"]' --cmd '["echo default"]'
    expect_ok podman_cmd load -i "$T/img.tar"
    local name
    name=$(podman_cmd images --format '{{.Repository}}:{{.Tag}}' | grep -E '(^|/)runme:1$' | sed -n 1p)
    [ -n "$name" ] || fail "runme:1 not loaded"
    expect_ok podman_cmd "${runargs[@]}" "$name"
    assert_eq "$OUT" "default" "default Cmd output"
    expect_ok podman_cmd "${runargs[@]}" "$name" 'echo $(/app/bin/busybox id -u) $(pwd) $GREETING; /app/bin/busybox cat data.txt'
    assert_eq "$OUT" "65534 /app hi
payload" "container sees uid, workdir, env, files"
}

# A rebuild whose archive would be byte for byte the file already there leaves
# that file in place (no temp file, no rename: its inode stays) and sets its
# mtime to now, as a write would, so make-style tools see it fresh. Anything
# else is written anew: a byte changed inside a blob, a tag of the same length
# (only index.json differs), a file that grew, another mode, a second link.
test_archive_unchanged_output_left_in_place() {
    mk_tree "$T/src"
    mkdir "$T/o"
    ob_build --dir "$T/src" -t myapp:1 -o "$T/o/img.tar"
    cp "$T/o/img.tar" "$T/o/first.tar"
    local ino
    ino=$(stat -c %i "$T/o/img.tar")
    touch -d '-1 hour' "$T/o/img.tar"
    touch -d '-1 min' "$T/o/marker"
    ob_build --dir "$T/src" -t myapp:1 -o "$T/o/img.tar"
    assert_eq "$(stat -c %i "$T/o/img.tar")" "$ino" "inode of the unchanged archive"
    [ "$T/o/img.tar" -nt "$T/o/marker" ] || fail "the kept archive's mtime was not set to now"
    assert_contains "$ERR" "$T/o/img.tar is up to date" "the log says it was kept"
    cmp "$T/o/img.tar" "$T/o/first.tar" || fail "the kept archive changed"
    assert_dir_listing "$T/o" "first.tar img.tar marker"

    # one byte of the biggest blob, size and mtime kept
    local off
    off=$(( $(stat -c %s "$T/o/img.tar") / 2 ))
    printf 'X' | dd of="$T/o/img.tar" bs=1 seek="$off" conv=notrunc 2>/dev/null
    touch -d '-1 hour' "$T/o/img.tar"
    ob_build --dir "$T/src" -t myapp:1 -o "$T/o/img.tar"
    assert_ne "$(stat -c %i "$T/o/img.tar")" "$ino" "inode after a changed byte"
    cmp "$T/o/img.tar" "$T/o/first.tar" || fail "the rewritten archive differs from the first"
    assert_contains "$ERR" "wrote $T/o/img.tar" "the log says it was written"

    # a tag of the same length: the tar headers match, index.json does not
    ino=$(stat -c %i "$T/o/img.tar")
    ob_build --dir "$T/src" -t myapp:2 -o "$T/o/img.tar"
    assert_ne "$(stat -c %i "$T/o/img.tar")" "$ino" "inode after a new tag"
    expect_ok skopeo inspect "oci-archive:$T/o/img.tar:myapp:2"

    # longer than the archive, another mode, a second link: written anew
    ob_build --dir "$T/src" -t myapp:1 -o "$T/o/img.tar"
    printf 'tail' >>"$T/o/img.tar"
    ino=$(stat -c %i "$T/o/img.tar")
    ob_build --dir "$T/src" -t myapp:1 -o "$T/o/img.tar"
    assert_ne "$(stat -c %i "$T/o/img.tar")" "$ino" "inode after a grown file"
    cmp "$T/o/img.tar" "$T/o/first.tar" || fail "the archive after a grown file differs"
    chmod 0600 "$T/o/img.tar"
    ino=$(stat -c %i "$T/o/img.tar")
    ob_build --dir "$T/src" -t myapp:1 -o "$T/o/img.tar"
    assert_ne "$(stat -c %i "$T/o/img.tar")" "$ino" "inode after a mode change"
    assert_eq "$(stat -c %a "$T/o/img.tar")" 644 "mode of the rewritten archive"
    ln "$T/o/img.tar" "$T/o/other.tar"
    ino=$(stat -c %i "$T/o/img.tar")
    ob_build --dir "$T/src" -t myapp:1 -o "$T/o/img.tar"
    assert_ne "$(stat -c %i "$T/o/img.tar")" "$ino" "inode of an archive that had a second link"
    assert_eq "$(stat -c %i "$T/o/other.tar")" "$ino" "the other link keeps its file"
}

# A write around the first layer in the archive's temp file that the kernel
# cuts short (a full disk; here the file size limit, which ends the padding
# after the layer one byte in) fails with what stopped it, and leaves no
# temp file.
test_archive_front_short_write() {
    mkdir -p "$T/src/data" "$T/o"
    seq 1 30000 >"$T/src/data/numbers.txt"
    ob_build --dir "$T/src" -t myapp:1 --no-cache -o "$T/o/first.tar"
    local size pad
    size=$(tar -tvf "$T/o/first.tar" | sed -n 3p | awk '{print $3}')
    pad=$(( (512 - size % 512) % 512 ))
    [ "$pad" -ge 2 ] || fail "the first layer ($size bytes) leaves no padding to cut short"
    trap '' XFSZ
    run prlimit --fsize=$((1536 + size + 1)) "$OCIBUILD" build --dir "$T/src" -t myapp:1 \
        --no-cache -o "$T/o/img.tar"
    trap - XFSZ
    [ "$RC" -ne 0 ] || fail "the build wrote past the file size limit"
    assert_contains "$ERR" "File too large" "the error says what stopped the write"
    assert_dir_listing "$T/o" "first.tar"
}

# With no layer cache to keep it and nothing else to read the stage (no
# --layout, no push), the first layer is compressed straight into the
# archive's temp file, not into the stage and then copied: its bytes are
# written once. The archive is byte for byte the one a build with the cache
# writes (the first layer comes right after blobs/sha256/ in both), and
# skopeo and umoci read it.
test_archive_first_layer_written_once() {
    command -v strace >/dev/null || fail "strace is missing (scripts/install-deps.sh --test)"
    mk_tree "$T/src"
    head -c 3000000 /dev/urandom >"$T/src/data/assets.bin"
    mkdir "$T/o"
    # LeakSanitizer (an ASan build) can not run under ptrace
    run env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        strace -f -qq -e trace=write,pwrite64,copy_file_range -o "$T/strace.log" \
        "$OCIBUILD" build --dir "$T/src" -t myapp:1 --no-cache -o "$T/o/direct.tar"
    [ "$RC" -eq 0 ] || fail "build under strace exited $RC: $ERR"
    local size written
    size=$(stat -c %s "$T/o/direct.tar")
    written=$(sed -n 's/.*) = \([0-9]*\)$/\1/p' "$T/strace.log" | awk '{s+=$1} END{print s+0}')
    [ "$written" -ge "$size" ] || fail "wrote $written bytes for a $size-byte archive"
    [ "$written" -lt $((size + size / 4)) ] ||
        fail "wrote $written bytes for a $size-byte archive: the layer went through the stage"
    # the same bytes as through the stage (a cold layer cache, then a warm one)
    ob_build --dir "$T/src" -t myapp:1 -o "$T/o/cached.tar"
    cmp "$T/o/direct.tar" "$T/o/cached.tar" || fail "the direct archive differs from the cached build's"
    ob_build --dir "$T/src" -t myapp:1 -o "$T/o/warm.tar"
    cmp "$T/o/direct.tar" "$T/o/warm.tar" || fail "the direct archive differs from the warm build's"
    local layer
    layer=$(tar -xOf "$T/o/direct.tar" index.json | jq -r '.manifests[0].digest')
    layer=$(tar -xOf "$T/o/direct.tar" "blobs/sha256/${layer#sha256:}" | jq -r '.layers[0].digest')
    assert_eq "$(tar -tf "$T/o/direct.tar" | head -n 3 | tr '\n' ' ')" \
        "blobs/ blobs/sha256/ blobs/sha256/${layer#sha256:} " "the archive's first entries"
    expect_ok skopeo inspect "oci-archive:$T/o/direct.tar:myapp:1"
    expect_ok skopeo copy "oci-archive:$T/o/direct.tar:myapp:1" "oci:$T/L:x"
    umoci_unpack "$T/L" x "$T/bundle"
    assert_same_tree "$T/src" "$T/bundle/rootfs/app"
    assert_dir_listing "$T/o" "cached.tar direct.tar warm.tar"
}
