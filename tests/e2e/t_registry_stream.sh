# shellcheck shell=bash
# build --push streams (transfer.c's push session): a layer's upload starts
# as soon as the layer is in the stage, while later layers are still being
# compressed. Proved by the order of the --json events, never by time: the
# last layer of the release is made expensive (tens of MB of random data,
# gzip), so that the first upload has long finished before it is made.
#
# Helpers here are prefixed st_ (every t_*.sh shares one shell).

# st_release: a copy of the relx fixture whose app layer (the last one
# before the SBOM) holds 48 MiB of random data
st_release() {
    local app
    rel_fixture relx
    cp -a "$REL_DIR" "$T/rel"
    for app in "$T"/rel/lib/relx_app-*; do
        [ -d "$app" ] || fail "no lib/relx_app-* in the release"
        mkdir -p "$app/priv"
        head -c $((48 << 20)) /dev/urandom >"$app/priv/noise.bin"
    done
}

# st_line FILE ERE: number of the first line of FILE matching ERE (empty: none)
st_line() { awk -v re="$2" '$0 ~ re { print NR; exit }' "$1"; }

# the log line build_layer writes when it has compressed the app layer
ST_APP_MADE='"message":"app layer sha256:[0-9a-f]+: [0-9]+ entries,'

# the first layer's upload comes before the app layer is made; each blob
# goes up once; the image is whole
test_stream_upload_before_last_layer() {
    reg_start plain
    st_release
    export OCIBUILD_CACHE_DIR=$T/cold-cache
    reg_mark
    reg_ob_push build --release "$T/rel" -t strm:1 --push "$REG" --json --no-attach-sbom
    printf '%s\n' "$ERR" >"$T/events"
    local up made m want
    up=$(st_line "$T/events" '"event":"uploaded"')
    made=$(st_line "$T/events" "$ST_APP_MADE")
    [ -n "$made" ] || fail "no log line for the app layer: $ERR"
    [ -n "$up" ] || fail "no uploaded event: $ERR"
    [ "$up" -lt "$made" ] || fail "the first upload (line $up) came after the app layer was made (line $made)"
    # the blobs uploaded while the build ran are layers (the config is made after them)
    local early d
    early=$(head -n "$made" "$T/events" | grep '^{' | jq -r 'select(.event == "uploaded") | .digest')
    [ -n "$early" ] || fail "no digest in the early uploaded events"
    # every blob once: the registry's uploads are exactly the image's blobs
    assert_eq "$(reg_copy strm:1 "$T/S")" "$PDIGEST" "skopeo copy of strm:1"
    m=$(cat "$(blob "$T/S" "$PDIGEST")")
    for d in $early; do
        assert_contains "$(jq -r '.layers[].digest' <<<"$m")" "$d" "early upload $d is a layer of the image"
    done
    want=$(jq -r '.config.digest, .layers[].digest' <<<"$m" | sort)
    assert_eq "$(reg_uploaded_digests | tr '\n' ' ')" "$(tr '\n' ' ' <<<"$want")" "uploaded blobs"
    assert_eq "$(reg_json_events uploaded | tr '\n' ' ')" "$(tr '\n' ' ' <<<"$want")" "uploaded events"
    assert_eq "$(reg_upload_starts)" "$(wc -l <<<"$want")" "upload sessions"
    validate_layout "$T/S" 1
    umoci_unpack "$T/S" 1 "$T/bundle"
    [ -e "$T/bundle/rootfs/app/bin" ] || fail "no /app/bin in the unpacked image"
    # pushed again from the layer cache: nothing is written
    reg_mark
    reg_ob_push build --release "$T/rel" -t strm:1 --push "$REG" --json --no-attach-sbom
    assert_eq "$PDIGEST" "$(reg_remote_digest strm:1)" "digest of the second push"
    reg_assert_repush_noop
}

# interrupted after the first upload, while the app layer is compressed:
# exit 130, no manifest and no tag, no stage left; the next build reuses
# the uploaded blobs (HEAD), uploading only the rest
test_stream_interrupted_build_leaves_no_tag() {
    reg_start plain
    st_release
    export OCIBUILD_CACHE_DIR=$T/cold-cache
    mkdir -p "$T/tmp"
    reg_mark
    TMPDIR=$T/tmp "$OCIBUILD" build --release "$T/rel" -t strm:1 --push "$REG" --json \
        --no-attach-sbom "${REG_NET[@]}" >"$T/out" 2>"$T/err" &
    local pid=$! i rc=0 first
    for i in $(seq 1 1200); do
        grep '"event":"uploaded"' "$T/err" >/dev/null && break
        reg_alive "$pid" || break
        sleep 0.05
    done
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" || rc=$?
    assert_eq "$rc" 130 "exit status after SIGINT (stderr: $(cat "$T/err"))"
    first=$(st_line "$T/err" '"event":"uploaded"')
    [ -n "$first" ] || fail "interrupted before any upload: $(cat "$T/err")"
    [ -z "$(st_line "$T/err" "$ST_APP_MADE")" ] || fail "the app layer was made before the interrupt: $(cat "$T/err")"
    assert_eq "$(cat "$T/out")" "" "stdout of the interrupted build"
    assert_eq "$(reg_count '"(PUT|HEAD) /v2/[^ ]*/manifests/')" 0 "manifest requests: $(reg_access)"
    reg_assert_remote_missing strm:1
    [ "$(reg_uploaded_digests | wc -l)" -ge 1 ] || fail "no completed upload in the registry log: $(reg_access)"
    assert_eq "$(find "$T/tmp" -maxdepth 1 -name '.ocibuild-stage-*' | wc -l)" 0 "staging dirs left"
    # the blobs already there are found, not uploaded again
    local before
    before=$(reg_uploaded_digests)
    reg_mark
    reg_ob_push build --release "$T/rel" -t strm:1 --push "$REG" --json --no-attach-sbom
    for i in $before; do
        assert_contains "$(reg_json_events exists)" "$i" "blob uploaded by the interrupted build"
        assert_not_contains "$(reg_uploaded_digests)" "$i" "blob uploaded twice"
    done
    assert_eq "$(reg_copy strm:1 "$T/S")" "$PDIGEST" "skopeo copy of strm:1"
    validate_layout "$T/S" 1
}
