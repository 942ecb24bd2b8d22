# shellcheck shell=bash
# Registry flows: build --push and ocibuild push/pull against the real
# registry in each mode (plain, basic, tls, token), registry bases and the
# blob cache, cross-repository mounts, chunked and parallel uploads. The
# fixture is tests/e2e/registry/lib.sh.

test_registry_plain_push_copy() { reg_case_push_copy plain; }

test_registry_plain_multi_tags() { reg_case_multi_tags plain; }

test_registry_plain_push_archive() { reg_case_push_archive plain; }

test_registry_plain_repush_noop() { reg_case_repush_noop plain; }

test_registry_plain_one_file_change() { reg_case_one_file_change plain; }

test_registry_basic_push_copy() { reg_case_push_copy basic; }

test_registry_basic_multi_tags() { reg_case_multi_tags basic; }

test_registry_basic_push_archive() { reg_case_push_archive basic; }

test_registry_basic_repush_noop() { reg_case_repush_noop basic; }

test_registry_basic_one_file_change() { reg_case_one_file_change basic; }

test_registry_tls_push_copy() { reg_case_push_copy tls; }

test_registry_tls_multi_tags() { reg_case_multi_tags tls; }

test_registry_tls_push_archive() { reg_case_push_archive tls; }

test_registry_tls_repush_noop() { reg_case_repush_noop tls; }

test_registry_tls_one_file_change() { reg_case_one_file_change tls; }

test_registry_token_push_copy() { reg_case_push_copy token; }

test_registry_token_multi_tags() { reg_case_multi_tags token; }

test_registry_token_push_archive() { reg_case_push_archive token; }

test_registry_token_repush_noop() { reg_case_repush_noop token; }

test_registry_token_one_file_change() { reg_case_one_file_change token; }

# ============================================================ once

# a base image from the registry is pulled once, then comes from the cache
test_registry_base_pull_cache() {
    reg_start plain
    export SOURCE_DATE_EPOCH=$REG_EPOCH
    reg_base
    reg_src "$T/src"
    reg_mark
    ob_build --dir "$T/src" --base "$REG/base:1" -t app:1 -o "$T/a.tar"
    local first=$DIGEST
    assert_eq "$(reg_count "\"GET /v2/base/blobs/$REG_BASE_LAYER HTTP/[0-9.]+\" 200 ")" 1 \
        "downloads of the base layer by the first build"
    assert_match "$BUILD_ERR" "${REG_BASE_LAYER:7:12}[^\n]*downloaded" "progress of the first build"
    # the cache holds the base's manifest, config and layer, under their digests
    local d f
    for d in "$REG_BASE_DIGEST" "$REG_BASE_LAYER"; do
        f=$(find "$OCIBUILD_CACHE_DIR" -type f -name "${d#sha256:}" | sed -n 1p)
        [ -n "$f" ] || fail "blob $d is not in the cache $OCIBUILD_CACHE_DIR: $(find "$OCIBUILD_CACHE_DIR" -type f)"
        assert_eq "sha256:$(sha256sum <"$f" | cut -d' ' -f1)" "$d" "content of cached $f"
    done
    # second build (and a layout build): no blob is downloaded again
    reg_mark
    ob_build --dir "$T/src" --base "$REG/base:1" -t app:1 -o "$T/b.tar"
    assert_eq "$DIGEST" "$first" "digest of the second build"
    assert_eq "$(reg_blob_gets)" 0 "blob GETs by the second build: $(reg_access)"
    assert_match "$BUILD_ERR" "${REG_BASE_LAYER:7:12}[^\n]*cached" "progress of the second build"
    ob_build --dir "$T/src" --base "$REG/base:1" -t app:1 --layout "$T/L"
    assert_eq "$(reg_blob_gets)" 0 "blob GETs by the layout build"
    verify_blob "$T/L" "$REG_BASE_LAYER" "$(stat -c %s "$(find "$OCIBUILD_CACHE_DIR" -type f -name "${REG_BASE_LAYER#sha256:}" | sed -n 1p)")"
    validate_layout "$T/L" app:1
    umoci_unpack "$T/L" app:1 "$T/bundle"
    assert_same_tree "$T/basesrc" "$T/bundle/rootfs/opt/base"
    assert_same_tree "$T/src" "$T/bundle/rootfs/app"
    # a different cache dir downloads again
    reg_mark
    OCIBUILD_CACHE_DIR=$T/cache2 ob_build --dir "$T/src" --base "$REG/base:1" -t app:1 -o "$T/c.tar"
    assert_eq "$(reg_count "\"GET /v2/base/blobs/$REG_BASE_LAYER ")" 1 "download with an empty cache"
}

# base and target on one registry, in different namespaces: the base layer
# is mounted, not downloaded and uploaded
test_registry_cross_repo_mount() {
    reg_start plain
    export SOURCE_DATE_EPOCH=$REG_EPOCH
    mkdir -p "$T/basesrc"
    head -c 300000 /dev/urandom >"$T/basesrc/big.bin"
    reg_ob_push build --dir "$T/basesrc" --workdir /opt/base -t base:1 --push "$REG/lib"
    assert_eq "$PREPO" lib/base "base repository"
    local base_layer
    expect_ok skopeo inspect --tls-verify=false --raw "docker://$REG/lib/base:1"
    base_layer=$(jq -r '.layers[0].digest' <<<"$OUT")
    reg_src "$T/src"
    reg_mark
    reg_ob_push build --dir "$T/src" --base "$REG/lib/base:1" -t app:1 --push "$REG/apps" --json
    assert_eq "$PREPO" apps/app "target repository"
    assert_eq "$(reg_json_events mounted)" "$base_layer" "--json mounted events"
    reg_access | grep -E "\"POST /v2/apps/app/blobs/uploads/\?mount=$base_layer&from=lib(/|%2F)base HTTP/[0-9.]+\" 201 " >/dev/null \
        || fail "no successful mount of $base_layer from lib/base in the registry log: $(reg_access)"
    assert_eq "$(reg_count "\"GET /v2/[^ ]*/blobs/$base_layer ")" 0 "downloads of the base layer"
    if reg_uploaded_digests | grep -x "$base_layer" >/dev/null; then fail "the base layer was uploaded"; fi
    assert_eq "$(reg_uploaded_digests | wc -l)" 2 "uploads: the new layer and the config"
    assert_eq "$(reg_copy apps/app:1 "$T/S")" "$PDIGEST" "skopeo copy of apps/app:1"
    umoci_unpack "$T/S" 1 "$T/bundle"
    assert_same_tree "$T/basesrc" "$T/bundle/rootfs/opt/base"
}

# tags naming two repositories of one registry: the blobs go up once, the
# second repository mounts them from the first (token auth: the mount needs
# pull on the first repository as well as push on the second)
test_registry_two_repos_upload_once() {
    reg_start token
    reg_src "$T/src"
    reg_mark
    run "$OCIBUILD" build --dir "$T/src" -t app:1 -t app-mirror:1 --push "$REG/team" --json \
        "${REG_NET[@]}"
    [ "$RC" -eq 0 ] || fail "push to two repositories: $ERR"
    assert_eq "$(wc -l <<<"$OUT")" 2 "stdout lines (one digest ref per repository)"
    PDIGEST=${OUT%%$'\n'*}
    PDIGEST=${PDIGEST#*@}
    assert_eq "$(grep -c "@$PDIGEST\$" <<<"$OUT")" 2 "the same digest in both repositories"
    assert_eq "$(reg_uploaded_digests | wc -l)" 2 "uploads (the layer and the config, once each)"
    assert_eq "$(reg_uploaded_digests | sort -u | wc -l)" 2 "distinct uploads"
    assert_eq "$(reg_mounts_ok)" 2 "blobs mounted into the second repository"
    assert_eq "$(reg_json_events mounted | wc -l)" 2 "--json mounted events"
    # progress events report movement: one per new byte count of a blob,
    # never the same count again (a stream for machines, not a poll log)
    local rep
    rep=$(grep '^{' <<<"$ERR" | jq -r 'select(.event == "progress") | "\(.digest) \(.done)"' | sort | uniq -d)
    assert_eq "$rep" "" "repeated --json progress events"
    assert_eq "$(reg_copy team/app:1 "$T/A")" "$PDIGEST" "skopeo copy of team/app:1"
    assert_eq "$(reg_copy team/app-mirror:1 "$T/B")" "$PDIGEST" "skopeo copy of team/app-mirror:1"
}

# a tag's repository path is kept under the push prefix, and only a registry
# it names is dropped (the path was once cut to its last part, silently)
test_registry_tag_path_kept() {
    reg_start plain
    reg_src "$T/src"
    "$OCIBUILD" build -q --dir "$T/src" -t one/app:1 -t registry.example.com/team/svc:2 \
        --layout "$T/L" >/dev/null || fail "build"
    run "$OCIBUILD" push "$T/L" --push "$REG" --no-attach-sbom
    [ "$RC" -eq 0 ] || fail "push: $ERR"
    PDIGEST=${OUT%%$'\n'*}
    PDIGEST=${PDIGEST#*@}
    assert_eq "$(sed 's/@.*//' <<<"$OUT" | sort | paste -sd' ')" "$REG/one/app $REG/team/svc" \
        "pushed repositories"
    assert_eq "$(reg_copy one/app:1 "$T/A")" "$PDIGEST" "skopeo copy of one/app:1"
    assert_eq "$(reg_copy team/svc:2 "$T/B")" "$PDIGEST" "skopeo copy of team/svc:2"
    run "$OCIBUILD" push "$T/L" --push "$REG/ns" -t deep/er/app:3 --no-attach-sbom
    [ "$RC" -eq 0 ] || fail "push under a namespace: $ERR"
    assert_eq "${OUT%@*}" "$REG/ns/deep/er/app" "pushed repository under a namespace"
}

# stdout of a push names every repository's digest reference, however
# many: 16 repositories with long names make more than 4 KiB of lines
test_registry_many_repos_stdout() {
    reg_start plain
    reg_src "$T/src"
    local long i tags=() want=()
    long=$(printf 'r%.0s' {1..200})
    for i in $(seq 1 16); do
        tags+=(-t "$long-$i:1")
    done
    run "$OCIBUILD" build --dir "$T/src" "${tags[@]}" --push "$REG/ns" -o "$T/x.tar" "${REG_NET[@]}"
    [ "$RC" -eq 0 ] || fail "push to 16 repositories: $ERR"
    PDIGEST=${OUT%%$'\n'*}
    PDIGEST=${PDIGEST#*@}
    [[ $PDIGEST =~ ^sha256:[0-9a-f]{64}$ ]] || fail "first stdout line: '${OUT%%$'\n'*}'"
    for i in $(seq 1 16); do
        want+=("$REG/ns/$long-$i@$PDIGEST")
    done
    [ "${#OUT}" -gt 4096 ] || fail "stdout is only ${#OUT} bytes: $OUT"
    assert_eq "$(sort <<<"$OUT")" "$(printf '%s\n' "${want[@]}" | sort)" "stdout of build --push"
    assert_eq "$(reg_remote_digest "ns/$long-16:1")" "$PDIGEST" "digest of the last repository"
    # ocibuild push of the archive prints them all too
    run "$OCIBUILD" push "$T/x.tar" --push "$REG/ns" "${REG_NET[@]}"
    [ "$RC" -eq 0 ] || fail "push of the archive to 16 repositories: $ERR"
    assert_eq "$(sort <<<"$OUT")" "$(printf '%s\n' "${want[@]}" | sort)" "stdout of push"
}

# ocibuild pull into a layout that skopeo and oci-image-tool accept
test_registry_pull_layout() {
    reg_start plain
    reg_src "$T/src"
    reg_ob_push build --dir "$T/src" -t app:1 -t app:2 --push "$REG"
    local d=$PDIGEST
    reg_mark
    reg_ob_push pull "$REG/app:1" --layout "$T/L"
    assert_eq "$PUSHED" "$REG/app@$d" "stdout of pull"
    assert_eq "$(index_digest "$T/L" "$REG/app:1")" "$d" "index.json entry of the pulled image"
    expect_ok skopeo inspect "oci:$T/L:$REG/app:1"
    assert_eq "$(jq -r .Digest <<<"$OUT")" "$d" "skopeo inspect oci: digest"
    assert_eq "$(jq -r .Os <<<"$OUT")/$(jq -r .Architecture <<<"$OUT")" "linux/$(host_arch)" "platform"
    validate_layout "$T/L" "$REG/app:1"
    umoci_unpack "$T/L" "$REG/app:1" "$T/bundle"
    assert_same_tree "$T/src" "$T/bundle/rootfs/app"
    # another tag and a digest reference into the same layout; blobs come from the cache
    reg_mark
    reg_ob_push pull "$REG/app:2" --layout "$T/L" --platform "linux/$(host_arch)"
    reg_ob_push pull "$REG/app@$d" --layout "$T/L"
    assert_eq "$PUSHED" "$REG/app@$d" "stdout of pull by digest"
    assert_eq "$(reg_blob_gets)" 0 "blob downloads for images already in the cache"
    assert_eq "$(jq '.manifests | length' "$T/L/index.json")" 3 "index.json entries"
    expect_ok skopeo inspect "oci:$T/L:$REG/app:2"
    assert_eq "$(jq -r .Digest <<<"$OUT")" "$d" "app:2"
    # a missing tag: a clean error, nothing added to the layout
    cp "$T/L/index.json" "$T/index.before"
    run "$OCIBUILD" pull "$REG/app:nope" --layout "$T/L"
    reg_assert_one_error 'nope|not found|unknown'
    cmp -s "$T/L/index.json" "$T/index.before" || fail "a failed pull changed index.json"
}

# --image-refs and --digest-file of build --push and push
test_registry_image_refs_digest_file() {
    reg_start plain
    reg_src "$T/src"
    reg_ob_push build --dir "$T/src" -t app:1 -t app:latest --push "$REG/ns" \
        --image-refs "$T/refs" --digest-file "$T/digest"
    assert_eq "$PUSHED" "$REG/ns/app@$PDIGEST" "stdout"
    assert_eq "$(cat "$T/digest")" "$PDIGEST" "--digest-file content"
    assert_eq "$(tail -c1 "$T/digest" | od -An -c | tr -d ' ')" '\n' "--digest-file ends with a newline"
    assert_eq "$(sort "$T/refs" | tr '\n' ' ')" \
        "$REG/ns/app:1 $REG/ns/app:latest $REG/ns/app@$PDIGEST " "--image-refs lines"
    local r
    while IFS= read -r r; do
        assert_eq "$(reg_remote_digest "${r#"$REG"/}")" "$PDIGEST" "digest of $r"
    done <"$T/refs"
    # ocibuild push writes them too (and replaces old content)
    ob_build --dir "$T/src" -t arch:3 -o "$T/x.tar"
    reg_ob_push push "$T/x.tar" --push "$REG" --image-refs "$T/refs" --digest-file "$T/digest"
    assert_eq "$(cat "$T/digest")" "$DIGEST" "--digest-file of push"
    assert_eq "$(sort "$T/refs" | tr '\n' ' ')" "$REG/arch:3 $REG/arch@$DIGEST " "--image-refs of push"
}

# `ocibuild pull --help` offers --digest-file and --image-refs: when they
# are accepted they must do what they say
test_registry_pull_digest_file() {
    reg_start plain
    reg_src "$T/src"
    reg_ob_push build --dir "$T/src" -t app:1 --push "$REG"
    run "$OCIBUILD" pull "$REG/app:1" --layout "$T/L" --digest-file "$T/digest" --image-refs "$T/refs"
    if [ "$RC" -eq 2 ]; then
        return 0    # refused as a usage error: fine
    fi
    [ "$RC" -eq 0 ] || fail "pull failed: $ERR"
    [ -f "$T/digest" ] || fail "pull --digest-file $T/digest exited 0 but wrote nothing"
    assert_eq "$(cat "$T/digest")" "$PDIGEST" "pull --digest-file"
    [ -f "$T/refs" ] || fail "pull --image-refs $T/refs exited 0 but wrote nothing"
}

# a blob larger than --chunk-size goes up in PATCH chunks
test_registry_chunked_upload() {
    reg_start plain
    mkdir -p "$T/src"
    head -c 1048576 /dev/urandom >"$T/src/random.bin"
    reg_mark
    reg_ob_push build --dir "$T/src" -t chunky:1 --push "$REG" --chunk-size 64K
    local layer size patches
    expect_ok skopeo inspect --tls-verify=false --raw "docker://$REG/chunky:1"
    layer=$(jq -r '.layers[0].digest' <<<"$OUT")
    size=$(jq -r '.layers[0].size' <<<"$OUT")
    patches=$(reg_count '"PATCH /v2/chunky/blobs/uploads/[^ ]* HTTP/[0-9.]+" 202 ')
    [ "$patches" -ge $(( size / 65536 )) ] \
        || fail "only $patches PATCH requests for a $size-byte layer in 64 KiB chunks"
    [ "$patches" -le $(( size / 65536 + 1 )) ] \
        || fail "$patches PATCH requests for a $size-byte layer in 64 KiB chunks (too many)"
    assert_eq "$(reg_count '"PATCH /v2/[^ ]* HTTP/[0-9.]+" [^2]')" 0 "failed PATCH requests"
    assert_eq "$(reg_uploaded_digests | tr '\n' ' ')" \
        "$(printf '%s\n' "$layer" "$(jq -r .config.digest <<<"$OUT")" | sort | tr '\n' ' ')" "completed uploads"
    # skopeo reads it back, digests checked
    assert_eq "$(reg_copy chunky:1 "$T/S")" "$PDIGEST" "skopeo copy"
    verify_blob "$T/S" "$layer" "$size"
    umoci_unpack "$T/S" 1 "$T/bundle"
    cmp "$T/src/random.bin" "$T/bundle/rootfs/app/random.bin" || fail "random.bin differs after the round trip"
    # another layer with an odd chunk size
    head -c 1000000 /dev/urandom >"$T/src/random.bin"
    reg_mark
    reg_ob_push build --dir "$T/src" -t chunky:2 --push "$REG" --chunk-size 100000
    [ "$(reg_patches)" -ge 10 ] || fail "only $(reg_patches) PATCH requests with --chunk-size 100000"
    assert_eq "$(reg_copy chunky:2 "$T/S")" "$PDIGEST" "skopeo copy of chunky:2"
}

# libcurl and libarchive (and the libraries behind them) are loaded by the
# first call that needs them: a local build maps neither, a push libcurl,
# reading a tar archive libarchive
reg_libs_mapped() { # ARGS... -> the sonames of libcurl and libarchive the run opened
    command -v strace >/dev/null || fail "strace is missing (scripts/install-deps.sh --test)"
    run env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        strace -f -qq -e trace=open,openat -o "$T/strace.log" "$OCIBUILD" "$@"
    [ "$RC" -eq 0 ] || fail "ocibuild $* exited $RC: $ERR"
    grep -v ENOENT "$T/strace.log" | grep -oE 'lib(curl|archive)\.so[.0-9]*' | sort -u | tr '\n' ' '
}
test_registry_libraries_loaded_when_needed() {
    reg_start plain
    reg_src "$T/src"
    assert_eq "$(reg_libs_mapped build --dir "$T/src" -t app:1 -o "$T/img.tar" --layout "$T/L")" "" \
        "libraries of a local build"
    assert_eq "$(reg_libs_mapped push "$T/L" --push "$REG/lazy" -t app:1)" "libcurl.so.4 " "libraries of a push"
    assert_eq "$(reg_libs_mapped push "$T/img.tar" --push "$REG/lazy2" -t app:1)" "libarchive.so.13 libcurl.so.4 " \
        "libraries of a push of an archive"
}
