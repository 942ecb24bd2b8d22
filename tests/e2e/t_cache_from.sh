# shellcheck shell=bash
# --cache-from REF (src/lib/cachefrom.c): a fresh runner (empty
# $OCIBUILD_CACHE_DIR) reuses the layers of an image already in a registry
# whose diff_id equals the one it computes (tar + SHA-256, no compression):
# nothing is compressed or uploaded for them. "made" counts the log lines
# build_layer writes for a layer it compressed, "reused" those for a layer
# taken from a cache ref.
#
# Helpers here are prefixed cf_ (every t_*.sh shares one shell).

cf_made() { grep -c ' layer sha256:[0-9a-f]*: [0-9]* entries,' <<<"$1" || true; }
cf_reused() { grep -c ' layer sha256:[0-9a-f]*: reused from ' <<<"$1" || true; }

# upload sessions that are not mounts
cf_upload_starts() { reg_count '"POST /v2/[^ ]*/blobs/uploads/ HTTP'; }
# downloads of the layers of MANIFEST (reading the cache ref's config is not one)
cf_layer_gets() {
    local n=0 d
    for d in $(jq -r '.layers[].digest' <<<"$1"); do
        n=$(( n + $(reg_count "\"GET /v2/[^ ]*/blobs/$d ") ))
    done
    echo "$n"
}

# cf_fresh: a new, empty layer cache, as on a fresh CI runner
cf_fresh() {
    export OCIBUILD_CACHE_DIR=$T/cache-$RANDOM$RANDOM
    mkdir -p "$OCIBUILD_CACHE_DIR"
}

# cf_release: a copy of the relx fixture release that the test changes
cf_release() {
    rel_fixture relx
    cp -a "$REL_DIR" "$T/rel"
}

# cf_change_app: change one file of the app (the app layer only)
cf_change_app() {
    local app
    app=$(find "$T/rel/lib" -path '*/relx_app-*/ebin/relx_app.app' | head -n1)
    [ -n "$app" ] || fail "no relx_app.app in the release"
    printf '%% changed\n' >>"$app"
}

# cf_push_first [/REPO]: a registry, and relx:1 of the release pushed to
# it (under REPO) from an empty cache, without an SBOM referrer
cf_push_first() {
    reg_start plain
    export SOURCE_DATE_EPOCH=$REG_EPOCH
    cf_release
    cf_fresh
    reg_ob_push build --release "$T/rel" -t relx:1 --push "$REG${1:-}" --no-attach-sbom
}

# cf_pushed_then_changed: cf_push_first, then one file of the app changed
cf_pushed_then_changed() {
    cf_push_first
    cf_change_app
}

# cf_remote_manifest REPO:TAG -> the manifest as skopeo reads it
cf_remote_manifest() {
    expect_ok skopeo inspect "${REG_SK[@]/--src-/--}" --raw "docker://$REG/$1"
    printf '%s' "$OUT"
}

# cf_new_layers OLD NEW: digests of NEW's layers that OLD has not, sorted
cf_new_layers() {
    comm -13 <(jq -r '.layers[].digest' <<<"$1" | sort) <(jq -r '.layers[].digest' <<<"$2" | sort)
}

# cf_cold_digest ARGS...: digest of a cold build (no cache) of the same input
cf_cold_digest() {
    ob_build "$@" --no-cache --layout "$T/cold"
    printf '%s' "$DIGEST"
}

# cf_check_pushed REPO:TAG DIGEST [PATH]: skopeo pulls it, oci-image-tool
# validates it, umoci unpacks it and PATH (default app/bin) is in it
cf_check_pushed() {
    local tag=${1##*:}
    assert_eq "$(reg_copy "$1" "$T/S")" "$2" "skopeo copy of $1"
    validate_layout "$T/S" "$tag"
    umoci_unpack "$T/S" "$tag" "$T/bundle-$tag"
    [ -e "$T/bundle-$tag/rootfs/${3:-app/bin}" ] || fail "no /${3:-app/bin} in the unpacked image"
}

# v1 pushed cold, then v2 (one app file changed) from an empty cache with
# ARGS: only the changed layers are compressed and uploaded
cf_case_app_change() {
    local tag2=$1 m1 m2 want changed
    shift
    cf_push_first
    m1=$(cf_remote_manifest relx:1)
    cf_change_app
    cf_fresh
    reg_mark
    reg_ob_push build --release "$T/rel" -t "relx:$tag2" --push "$REG" --no-attach-sbom "${@//@REG@/$REG}"
    local pushed=$PDIGEST err=$ERR
    reg_assert_log_live
    m2=$(cf_remote_manifest "relx:$tag2")
    changed=$(cf_new_layers "$m1" "$m2")
    [ -n "$changed" ] || fail "no layer changed: $m2"
    assert_eq "$(cf_made "$err")" "$(wc -l <<<"$changed")" "layers compressed ($err)"
    assert_eq "$(cf_reused "$err")" "$(( $(jq '.layers | length' <<<"$m2") - $(wc -l <<<"$changed") ))" \
        "layers reused ($err)"
    grep -qE 'app layer sha256:[0-9a-f]*: [0-9]* entries,' <<<"$err" || fail "the app layer was not made: $err"
    grep -qE 'erts layer sha256:[0-9a-f]*: reused from ' <<<"$err" || fail "erts not reused: $err"
    assert_match "$err" 'reused [0-9]+ layers from ' "summary line"
    want=$( (printf '%s\n' "$changed"; jq -r .config.digest <<<"$m2") | sort)
    assert_eq "$(reg_uploaded_digests | tr '\n' ' ')" "$(tr '\n' ' ' <<<"$want")" \
        "blobs uploaded (registry log)"
    assert_eq "$(cf_upload_starts)" "$(wc -l <<<"$want")" "upload sessions"
    # a layer no cache image had is new to the repository: its upload
    # session is opened as it starts to be made (its bytes then follow the
    # file in a PATCH, or go in the PUT when it is complete by then), with
    # no HEAD first
    local d
    for d in $changed; do
        assert_eq "$(reg_count "\"HEAD /v2/[^ ]*/blobs/$d ")" 0 "HEADs of the new layer $d"
    done
    # blobs were added, so the manifest and its tag can not be there yet:
    # they are put without asking first
    assert_eq "$(reg_count '"HEAD /v2/[^ ]*/manifests/')" 0 "manifest HEADs of a new image"
    # a reused blob is never downloaded when only pushing
    assert_eq "$(cf_layer_gets "$m2")" 0 "layer downloads"
    cf_check_pushed "relx:$tag2" "$pushed"
    # the same image as a cold build of the same input
    cf_fresh
    assert_eq "$(cf_cold_digest --release "$T/rel" -t "relx:$tag2")" "$pushed" "digest of a cold build"
    assert_eq "$(config_json "$T/cold" "relx:$tag2" | jq -c .rootfs.diff_ids)" \
        "$(jq -c .rootfs.diff_ids "$(blob "$T/S" "$(jq -r .config.digest <<<"$m2")")")" "diff_ids"
}

test_cache_from_explicit_ref() {
    cf_case_app_change 2 --cache-from @REG@/relx:1
}

# with --push and no --cache-from, the pushed tags are the cache refs
test_cache_from_default_is_pushed_tag() {
    cf_case_app_change 1
}

# the SBOM referrer needs the sbom layer's bytes: a reused one is fetched
test_cache_from_with_sbom_referrer() {
    reg_start plain
    export SOURCE_DATE_EPOCH=$REG_EPOCH
    cf_release
    cf_fresh
    reg_ob_push build --release "$T/rel" -t relx:1 --push "$REG"
    local d1=$PDIGEST
    cf_fresh
    reg_mark
    reg_ob_push build --release "$T/rel" -t relx:1 --push "$REG"
    assert_eq "$PDIGEST" "$d1" "digest of the unchanged image"
    assert_eq "$(cf_made "$ERR")" 0 "layers compressed ($ERR)"
    assert_eq "$(reg_uploaded_digests | wc -l)" 0 "blobs uploaded: $(reg_uploaded_digests)"
    expect_ok "$OCIBUILD" sbom "$REG/relx:1" -o "$T/sbom.json" "${REG_NET[@]}"
    jq -e .spdxVersion "$T/sbom.json" >/dev/null || fail "no SBOM read back"
}

# cache-from repository A, push to repository B of the same registry: the
# unchanged layers are mounted, not uploaded
test_cache_from_cross_repository_mount() {
    cf_push_first /a
    local m1 m2 changed
    m1=$(cf_remote_manifest a/relx:1)
    cf_change_app
    cf_fresh
    reg_mark
    reg_ob_push build --release "$T/rel" -t relx:2 --push "$REG/b" --no-attach-sbom \
        --cache-from "$REG/a/relx:1"
    local pushed=$PDIGEST err=$ERR
    m2=$(cf_remote_manifest b/relx:2)
    changed=$(cf_new_layers "$m1" "$m2")
    assert_eq "$(cf_made "$err")" "$(wc -l <<<"$changed")" "layers compressed ($err)"
    assert_eq "$(reg_mounts_ok)" "$(( $(jq '.layers | length' <<<"$m2") - $(wc -l <<<"$changed") ))" \
        "blobs mounted from a"
    assert_eq "$(reg_uploaded_digests | tr '\n' ' ')" \
        "$( (printf '%s\n' "$changed"; jq -r .config.digest <<<"$m2") | sort | tr '\n' ' ')" "blobs uploaded"
    assert_eq "$(cf_layer_gets "$m2")" 0 "layer downloads"
    cf_check_pushed b/relx:2 "$pushed"
}

# no push, only -o: the reused blobs are downloaded (not compressed) so that
# the archive is complete
test_cache_from_archive_is_complete() {
    cf_push_first
    local m1
    m1=$(cf_remote_manifest relx:1)
    cf_change_app
    cf_fresh
    reg_mark
    ob_build --release "$T/rel" -t relx:2 -o "$T/out.tar" --cache-from "$REG/relx:1" "${REG_NET[@]}"
    local d=$DIGEST err=$BUILD_ERR reused
    reused=$(cf_reused "$err")
    [ "$reused" -ge 3 ] || fail "layers reused: $err"
    assert_eq "$(cf_layer_gets "$m1")" "$reused" "layers downloaded"
    assert_eq "$(reg_upload_starts)" 0 "uploads"
    expect_ok skopeo copy "oci-archive:$T/out.tar:relx:2" "oci:$T/A:2"
    assert_eq "$(index_digest "$T/A" 2)" "$d" "digest in the archive"
    validate_layout "$T/A" 2
    local m
    m=$(manifest_json "$T/A" 2)
    for l in $(jq -r '.layers[] | "\(.digest):\(.size)"' <<<"$m"); do
        verify_blob "$T/A" "${l%:*}" "${l##*:}"
    done
    cf_fresh
    assert_eq "$(cf_cold_digest --release "$T/rel" -t relx:2)" "$d" "digest of a cold build"
}

# a cache ref that does not exist is not an error
test_cache_from_missing_ref_warns() {
    reg_start plain
    reg_src "$T/src"
    cf_fresh
    reg_ob_push build --dir "$T/src" -t d:1 --push "$REG" --cache-from "$REG/nothing:here"
    assert_match "$ERR" "cache ref .*$REG/nothing:here" "a line naming the missing cache ref"
    assert_eq "$(cf_made "$ERR")" 1 "layers compressed"
    # an unreachable registry as a cache ref does not break the build either
    cf_fresh
    reg_ob_push build --dir "$T/src" -t d:2 --push "$REG" --cache-from "127.0.0.1:1/x:1"
    assert_match "$ERR" "127.0.0.1:1/x:1" "a warning naming the unreachable cache ref"
    # ... at once: a cache is not worth a retry budget (it was 6 retries, about
    # 17 s). A listener that accepts and drops every connection counts them:
    # one TLS try, then one plain-HTTP request.
    "$PY" - "$T/drop.port" "$T/drop.count" <<'PYEOF' &
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
n = 0
while True:
    c, _ = s.accept()
    n += 1
    open(sys.argv[2], "w").write(str(n))
    c.close()
PYEOF
    local drop_pid=$! i
    for i in $(seq 1 100); do [ -s "$T/drop.port" ] && break; sleep 0.05; done
    [ -s "$T/drop.port" ] || fail "the dropping listener did not start"
    cf_fresh
    run "$OCIBUILD" build --dir "$T/src" -t d:3 -o "$T/d3.tar" \
        --cache-from "127.0.0.1:$(cat "$T/drop.port")/x:1"
    kill "$drop_pid" 2>/dev/null; wait "$drop_pid" 2>/dev/null || true
    [ "$RC" -eq 0 ] || fail "build with a dropping cache ref: $ERR"
    assert_eq "$(cat "$T/drop.count")" 2 "connections to the dropping cache ref"
}

# two platforms: each platform's manifest of the cache ref is resolved
test_cache_from_two_platforms() {
    reg_start plain
    export SOURCE_DATE_EPOCH=$REG_EPOCH
    mkdir -p "$T/src/a" "$T/src/b"
    echo one >"$T/src/a/f"
    echo two >"$T/src/b/g"
    cf_fresh
    reg_ob_push build --dir "$T/src" -t m:1 --push "$REG" --platform linux/amd64,linux/arm64
    local d1=$PDIGEST
    cf_fresh
    reg_mark
    reg_ob_push build --dir "$T/src" -t m:2 --push "$REG" --platform linux/amd64,linux/arm64 \
        --cache-from "$REG/m:1"
    assert_eq "$PDIGEST" "$d1" "digest of the same input"
    assert_eq "$(cf_made "$ERR")" 0 "layers compressed ($ERR)"
    assert_eq "$(cf_reused "$ERR")" 1 "layers reused ($ERR)"
    assert_eq "$(reg_uploaded_digests | wc -l)" 0 "blobs uploaded"
    assert_match "$ERR" "reused 1 layers? from $REG/m:1" "summary line"
}

# --no-cache turns the default cache refs off too (a named one still counts)
test_cache_from_no_cache_has_no_default() {
    reg_start plain
    export SOURCE_DATE_EPOCH=$REG_EPOCH
    reg_src "$T/src"
    cf_fresh
    reg_ob_push build --dir "$T/src" -t d:1 --push "$REG"
    reg_mark
    reg_ob_push build --dir "$T/src" -t d:1 --push "$REG" --no-cache
    assert_eq "$(cf_made "$ERR")" 1 "layers compressed with --no-cache ($ERR)"
    assert_eq "$(reg_count '"GET /v2/[^ ]*/manifests/')" 0 "cache ref reads with --no-cache"
    reg_ob_push build --dir "$T/src" -t d:1 --push "$REG" --no-cache --cache-from "$REG/d:1"
    assert_eq "$(cf_reused "$ERR")" 1 "layers reused from a named cache ref ($ERR)"
}

# the cache image on another registry: the reused blob is copied from there
# (downloaded with pull credentials, uploaded), still not compressed
test_cache_from_other_registry_copies() {
    reg_start plain
    export SOURCE_DATE_EPOCH=$REG_EPOCH
    mkdir -p "$T/src/a" "$T/src/b"
    head -c 200000 /dev/urandom >"$T/src/a/big"
    echo small >"$T/src/b/f"
    cf_fresh
    reg_ob_push build --dir "$T/src" -t d:1 --push "$REG"
    local src_reg=$REG src_log=$REG_LOG layer
    layer=$(cf_remote_manifest d:1 | jq -r '.layers[0].digest')
    # a second registry, stopped by PID when the test ends; like reg_start,
    # it moves to another port when its free port was taken meanwhile by a
    # test running beside this one
    local port d2=$T/reg2 try
    mkdir -p "$d2"
    CF_REG2_PID=
    trap '[ -z "$CF_REG2_PID" ] || reg_kill "$CF_REG2_PID"; reg_teardown' EXIT
    for try in 1 2 3; do
        port=$(reg_free_port)
        sed -e "s|addr: $REG|addr: 127.0.0.1:$port|" -e "s|rootdirectory: .*|rootdirectory: $d2/storage|" \
            "$REG_CFG" >"$d2/config.yml"
        docker-registry serve "$d2/config.yml" >"$d2/registry.log" 2>&1 &
        CF_REG2_PID=$!
        for _ in $(seq 1 100); do
            reg_alive "$CF_REG2_PID" || break
            curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && break
            sleep 0.05
        done
        reg_alive "$CF_REG2_PID" && break
        grep 'address already in use' "$d2/registry.log" >/dev/null ||
            fail "the second registry exited: $(tail -n 5 "$d2/registry.log")"
    done
    reg_alive "$CF_REG2_PID" || fail "the second registry did not start: $(tail -n 5 "$d2/registry.log")"
    cf_fresh
    # shellcheck disable=SC2034  # read by reg_access, on the first registry's log
    REG_MARK=$(wc -l <"$src_log")
    run "$OCIBUILD" build --dir "$T/src" -t d:1 --push "127.0.0.1:$port" --cache-from "$src_reg/d:1"
    [ "$RC" -eq 0 ] || fail "build --push to the second registry exited $RC: $ERR"
    assert_eq "$(cf_made "$ERR")" 0 "layers compressed ($ERR)"
    assert_eq "$(cf_reused "$ERR")" 1 "layers reused ($ERR)"
    # read from the first registry, uploaded to the second
    assert_eq "$(reg_count "\"GET /v2/d/blobs/$layer ")" 1 "downloads of the layer from the cache registry"
    local up
    up=$(REG_LOG=$d2/registry.log REG_MARK=0 reg_uploaded_digests)
    assert_contains "$up" "$layer" "blobs uploaded to the second registry"
    REG=127.0.0.1:$port
    cf_check_pushed d:1 "${OUT##*@}" app/a/big
    cmp "$T/src/a/big" "$T/bundle-1/rootfs/app/a/big" || fail "the reused layer's content"
}

# out of memory anywhere in a --cache-from build (reading the cache ref,
# reusing, downloading for -o, mounting on push) ends cleanly (t_faults.sh)
test_cache_from_faults() {
    faults_enabled
    reg_start plain
    reg_src "$T/src"
    "$OCIBUILD" build --dir "$T/src" -t app:1 --push "$REG" -q >/dev/null || fail "push of the cache image"
    faults_sweep 2 build --dir "$T/src" -t app:1 --push "$REG/cf@N@" --cache-from "$REG/app:1" \
        -o @OUT@/img.tar -q
}

# the same for a release whose app blocks come from the cache image
# (oci_lmake_fetch_members on the thread that reads the cache ref)
test_cache_from_faults_release() {
    faults_enabled
    cf_push_first
    cf_change_app
    export OCIBUILD_CACHE_DIR=$T/.cache
    faults_sweep 2 build --release "$T/rel" -t relx:2 --push "$REG/cf@N@" --no-attach-sbom \
        --cache-from "$REG/relx:1" -q
}

# the layers' diff_id passes run side by side (one layer per thread): what a
# fresh runner logs, uploads and writes is the same for --jobs 1 and 2
test_cache_from_jobs_same_output() {
    cf_pushed_then_changed
    local j d=() lines=() up=()
    for j in 1 2; do
        cf_fresh
        reg_mark
        # a repository of its own, so that the second build uploads too
        reg_ob_push build --release "$T/rel" -t relx:2 --push "$REG/j$j" --no-attach-sbom \
            --cache-from "$REG/relx:1" --jobs "$j" -o "$T/j$j.tar"
        d+=("$PDIGEST")
        lines+=("$(grep -E ' layer sha256:|reused [0-9]+ layer' <<<"$ERR")")
        up+=("$(reg_uploaded_digests | tr '\n' ' ')")
        assert_eq "$(cf_made "$ERR")" 1 "layers compressed with --jobs $j ($ERR)"
        [ "$(cf_reused "$ERR")" -ge 3 ] || fail "layers reused with --jobs $j: $ERR"
    done
    assert_eq "${d[1]}" "${d[0]}" "digest with --jobs 2"
    assert_eq "${lines[1]}" "${lines[0]}" "layer log lines, in order, with --jobs 2"
    assert_eq "${up[1]}" "${up[0]}" "blobs uploaded with --jobs 2"
    cmp "$T/j1.tar" "$T/j2.tar" || fail "the -o archives differ between --jobs 1 and --jobs 2"
}

# a fresh runner's layer cache is empty: no key is computed to look a layer
# up there (a read of every file), so a file of a layer reused from the
# cache ref is read once, by its diff_id pass (strace counts the opens of a
# file too small for the ELF check to open). The key of the layer that is
# made is still computed: the next build on that runner finds it.
test_cache_from_fresh_runner_reads_once() {
    command -v strace >/dev/null || fail "strace is missing (scripts/install-deps.sh --test)"
    reg_start plain
    export SOURCE_DATE_EPOCH=$REG_EPOCH
    cf_release
    local erts
    erts=$(find "$T/rel" -maxdepth 1 -name 'erts-*' | head -n1)
    [ -n "$erts" ] || fail "no ERTS in the release"
    echo tiny >"$erts/cf-tiny.txt"
    cf_fresh
    reg_ob_push build --release "$T/rel" -t relx:1 --push "$REG" --no-attach-sbom
    cf_change_app
    cf_fresh
    # LeakSanitizer (an ASan build) can not run under ptrace; the build
    # below checks leaks as usual
    run env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        strace -f -qq -e trace=openat -o "$T/strace.log" "$OCIBUILD" build --release "$T/rel" \
        -t relx:2 --push "$REG" --no-attach-sbom --cache-from "$REG/relx:1" "${REG_NET[@]}"
    [ "$RC" -eq 0 ] || fail "build under strace exited $RC: $ERR"
    assert_match "$ERR" "layer cache '.*' is empty: no layer looked up" "the empty-cache line"
    grep -qE 'erts layer sha256:[0-9a-f]*: reused from ' <<<"$ERR" || fail "erts not reused: $ERR"
    # (a call another thread interrupts ends on a "resumed" line of its own)
    assert_eq "$(grep -cE 'openat\(.*[/"]cf-tiny\.txt"' "$T/strace.log" || true)" 1 \
        "opens of a file of the reused erts layer"
    # the same runner again: the app layer made above is in its cache
    reg_ob_push build --release "$T/rel" -t relx:2 --push "$REG" --no-attach-sbom \
        --cache-from "$REG/relx:1"
    grep -qE 'app layer sha256:[0-9a-f]*: from the cache' <<<"$ERR" || fail "app layer not from the cache: $ERR"
    assert_eq "$(cf_made "$ERR")" 0 "layers compressed on the second build ($ERR)"
}

# the cache ref on the registry being pushed to: whether that registry
# speaks TLS is found out once (by the push), not again for the cache ref;
# each TLS attempt loads the system CA bundle, the largest part of a fresh
# runner's start-up CPU (bench/profile.sh). The fault proxy logs a TLS
# ClientHello as an unparsed request.
test_cache_from_plain_probe_once() {
    reg_start plain
    reg_proxy_start
    reg_src "$T/src"
    cf_fresh
    REG=$REG_PROXY reg_ob_push build --dir "$T/src" -t d:1 --push "$REG_PROXY"
    assert_eq "$(grep -c ' unparsed ' "$REG_PROXY_LOG" || true)" 1 "TLS attempts of a push"
    : >"$REG_PROXY_LOG"
    cf_fresh
    REG=$REG_PROXY reg_ob_push build --dir "$T/src" -t d:2 --push "$REG_PROXY" \
        --cache-from "$REG_PROXY/d:1"
    assert_eq "$(cf_reused "$ERR")" 1 "layers reused ($ERR)"
    assert_eq "$(grep -c ' unparsed ' "$REG_PROXY_LOG" || true)" 1 \
        "TLS attempts of a push with a cache ref on the same registry"
}

# The upload of a new layer that starts while it is made fails (the
# registry refuses the PUT that ends it, named by the app layer's digest,
# which a cold build tells first): the layer is uploaded again, whole, and
# the image is the one a cold build makes.
test_cache_from_streamed_upload_falls_back() {
    cf_pushed_then_changed
    local cold app
    cold=$(cf_cold_digest --release "$T/rel" -t relx:2)
    app=$(rel_layer_digest "$T/cold" relx:2 app)
    [ -n "$app" ] || fail "no app layer in the cold build"
    reg_proxy_start --fail-first 1 --fail-status 400 --fail-method PUT --fail-query "digest=$app"
    cf_fresh
    REG=$REG_PROXY reg_ob_push build --release "$T/rel" -t relx:2 --push "$REG_PROXY" \
        --no-attach-sbom --cache-from "$REG_PROXY/relx:1"
    grep -qE ' injected 400 PUT ' "$REG_PROXY_LOG" || fail "no PUT refused: $(cat "$REG_PROXY_LOG")"
    assert_match "$ERR" "uploading ${app:0:19} again: " "the upload made again"
    local pushed=$PDIGEST
    cf_check_pushed relx:2 "$pushed"
    assert_eq "$pushed" "$cold" "digest of a cold build"
}

# A fresh runner has no earlier blob of the app layer it is about to
# compress, but the cache image has one: fetched while the input is walked,
# its unchanged gzip blocks are taken instead of compressed (each checked
# to decompress to the very block), and the image is the one a cold build
# makes. The app gets 3 MiB of random data so that its layer is several
# blocks, of which the one change touches the first.
test_cache_from_app_blocks_from_cache_image() {
    reg_start plain
    export SOURCE_DATE_EPOCH=$REG_EPOCH
    cf_release
    local app
    app=$(find "$T/rel/lib" -maxdepth 1 -name 'relx_app-*' | head -n1)
    mkdir -p "$app/priv"
    head -c 3145728 /dev/urandom >"$app/priv/table.bin"
    cf_fresh
    reg_ob_push build --release "$T/rel" -t relx:1 --push "$REG" --no-attach-sbom
    cf_change_app
    cf_fresh
    reg_mark
    reg_ob_push build --release "$T/rel" -t relx:2 --push "$REG" --no-attach-sbom \
        --cache-from "$REG/relx:1"
    local pushed=$PDIGEST reused made
    reused=$(sed -n 's/.* app layer sha256:.*, \([0-9]*\) of \([0-9]*\) gzip blocks reused$/\1/p' <<<"$ERR")
    made=$(sed -n 's/.* app layer sha256:.*, \([0-9]*\) of \([0-9]*\) gzip blocks reused$/\2/p' <<<"$ERR")
    [ -n "$reused" ] || fail "no gzip blocks reused from the cache image: $ERR"
    [ "$made" -ge 4 ] && [ "$reused" -ge $((made - 2)) ] || fail "blocks reused: $reused of $made ($ERR)"
    # the blobs downloaded: the cache image's config, and its app layer
    assert_eq "$(reg_blob_gets)" 2 "blob downloads: $(reg_access)"
    cf_check_pushed relx:2 "$pushed"
    cf_fresh
    assert_eq "$(cf_cold_digest --release "$T/rel" -t relx:2)" "$pushed" "digest of a cold build"
}

# A fresh runner reads its cache ref while it walks its input. When the
# input turns out to be bad, the build fails with that error at once: it
# does not wait for the registry's answer (the proxy holds it a minute).
test_cache_from_bad_input_does_not_wait_for_the_registry() {
    reg_start plain
    reg_src "$T/src"
    reg_ob_push build --dir "$T/src" -t app:1 --push "$REG"
    mkfifo "$T/src/pipe"
    reg_proxy_start --delay 60 --delay-path '/manifests/'
    cf_fresh
    run "$OCIBUILD" build --dir "$T/src" -t app:2 --push "$REG_PROXY" "${REG_NET[@]}"
    [ "$RC" -ne 0 ] || fail "a build of a tree with a FIFO succeeded"
    assert_contains "$ERR" "pipe" "the error names the FIFO"
    assert_eq "$(grep -c 'forward GET /v2/app/manifests/' "$REG_PROXY_LOG" || true)" 0 \
        "answers to the cache ref's manifest request when the build ended"
}

# cf_ca_bundle: the CA bundle libcurl loads by default (to count its opens)
cf_ca_bundle() {
    local ca
    ca=$(curl-config --ca 2>/dev/null || true)
    [ -n "$ca" ] && [ -e "$ca" ] || ca=/etc/ssl/certs/ca-certificates.crt
    [ -e "$ca" ] || fail "no system CA bundle to watch"
    printf '%s' "$ca"
}

# A fresh runner's build+push to a plain-HTTP registry (127.0.0.1, where
# ocibuild tries TLS first): learning that the registry does not speak TLS
# loads no CA bundle (parsing it was 8% of the fresh runner's CPU), the
# registry still sees exactly one TLS attempt, and the push goes through.
# Verification of a TLS registry is tested in t_registry*.sh; the second half
# checks that an untrusted TLS registry is still refused before any request.
test_cache_from_plain_push_loads_no_ca_bundle() {
    command -v strace >/dev/null || fail "strace is missing (scripts/install-deps.sh --test)"
    local ca
    ca=$(cf_ca_bundle)
    reg_start plain
    reg_proxy_start
    reg_src "$T/src"
    cf_fresh
    REG=$REG_PROXY reg_ob_push build --dir "$T/src" -t d:1 --push "$REG_PROXY" --no-attach-sbom
    cf_fresh
    : >"$REG_PROXY_LOG"
    run env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        strace -f -qq -e trace=openat -o "$T/strace.log" "$OCIBUILD" build --dir "$T/src" \
        -t d:2 --push "$REG_PROXY" --no-attach-sbom --cache-from "$REG_PROXY/d:1"
    [ "$RC" -eq 0 ] || fail "build under strace exited $RC: $ERR"
    assert_eq "$(cf_reused "$ERR")" 1 "layers reused ($ERR)"
    assert_eq "$(grep -c ' unparsed ' "$REG_PROXY_LOG" || true)" 1 "TLS attempts on the plain registry"
    assert_eq "$(grep -cF "\"$ca\"" "$T/strace.log" || true)" 0 "opens of the CA bundle $ca"
}

# the probe that finds out whether a registry speaks TLS does not verify its
# certificate, so it must decide nothing else: a TLS registry whose CA is not
# trusted is refused as before, with the advice to pass --ca-file, and a
# trusted one works (its requests verified against the given CA)
test_cache_from_tls_probe_still_verifies() {
    reg_start tls
    reg_src "$T/src"
    cf_fresh
    run "$OCIBUILD" build --dir "$T/src" -t d:1 --push "$REG" --no-attach-sbom
    [ "$RC" -ne 0 ] || fail "a push to a TLS registry with an untrusted certificate succeeded"
    assert_match "$ERR" "TLS certificate of registry '.*' is not trusted: pass --ca-file" "the refusal"
    assert_eq "$(reg_count '"(GET|HEAD|POST|PUT|PATCH) /v2/')" 0 "requests the untrusted registry answered"
    cf_fresh
    reg_ob_push build --dir "$T/src" -t d:1 --push "$REG" --no-attach-sbom
}

# A reused layer the push cannot mount from the cache image's repository (its
# link there is gone, as after a registry clean-up) is not lost: it is pushed
# at the end with every source, here from the blobs already in the cache.
test_cache_from_unmountable_layer_pushed_at_the_end() {
    cf_push_first /a
    local m1 big link warm=$OCIBUILD_CACHE_DIR
    m1=$(cf_remote_manifest a/relx:1)
    # the largest layer: its link in repository a/relx removed
    big=$(jq -r '.layers | max_by(.size) | .digest' <<<"$m1")
    link=$REG_STORE/docker/registry/v2/repositories/a/relx/_layers/sha256/${big#sha256:}
    [ -d "$link" ] || fail "no link for $big in the registry's storage"
    rm -rf "$link"
    cf_change_app
    # a cache with the blobs of the first build but no layer entries: every
    # layer goes through the cache image, as on a fresh runner
    cf_fresh
    cp -a "$warm/blobs" "$OCIBUILD_CACHE_DIR/"
    reg_mark
    reg_ob_push build --release "$T/rel" -t relx:2 --push "$REG/b" --no-attach-sbom \
        --cache-from "$REG/a/relx:1"
    local pushed=$PDIGEST err=$ERR
    grep -qE "layer ${big:0:19}: reused from " <<<"$err" || fail "the layer was not reused: $err"
    # that layer uploaded (from the cache) after its mount failed, the
    # other reused layers mounted
    reg_uploaded_digests | grep -qx "$big" || fail "$big was not uploaded: $(reg_uploaded_digests) ($err)"
    [ "$(reg_mounts_ok)" -ge 1 ] || fail "no layer mounted: $(reg_access)"
    # its mount refused twice: while the layers were made, and again at the
    # end, with every source, before the upload
    [ "$(reg_count "\"POST /v2/b/relx/blobs/uploads/\\?mount=$big[^ ]* HTTP/[0-9.]+\" 202 ")" -eq 2 ] ||
        fail "mounts of $big tried: $(reg_access)"
    cf_check_pushed b/relx:2 "$pushed"
}
