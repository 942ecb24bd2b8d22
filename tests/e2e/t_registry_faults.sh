# shellcheck shell=bash
# Registry failures: a registry that dies in the middle of an upload, retries,
# redirects to an object store, corrupt blobs, injected statuses and delays
# through tests/e2e/registry/fault_proxy.py. The fixture is
# tests/e2e/registry/lib.sh.

# ------------------------------------------------------------ failures

# the registry dies in the middle of a chunked upload and comes back on the
# same port and storage: the push completes, or fails cleanly with no tag
test_registry_killed_mid_upload() {
    reg_start plain
    mkdir -p "$T/src"
    head -c 12000000 /dev/urandom >"$T/src/big.bin"
    ob_build --dir "$T/src" -t big:1 -o "$T/x.tar"
    local built=$DIGEST
    reg_mark
    "$OCIBUILD" push "$T/x.tar" --push "$REG" --chunk-size 256K -j 1 >"$T/ob.out" 2>"$T/ob.err" &
    REG_OB_PID=$!
    reg_wait_patch big
    local i
    kill -STOP "$REG_PID"
    local before
    before=$(grep -c '"PATCH /v2/big/' "$REG_LOG")
    sleep 0.5
    kill -KILL "$REG_PID"
    wait "$REG_PID" 2>/dev/null || true
    reg_alive "$REG_OB_PID" || fail "the push ended before the registry was killed (after $before PATCHes): $(cat "$T/ob.err")"
    sleep 0.5
    reg_launch
    local rc=0 t0=$SECONDS
    for i in $(seq 1 1200); do
        reg_alive "$REG_OB_PID" || break
        sleep 0.05
    done
    reg_alive "$REG_OB_PID" && fail "the push still runs 60 s after the registry came back: $(cat "$T/ob.err")"
    wait "$REG_OB_PID" || rc=$?
    REG_OB_PID=
    OUT=$(cat "$T/ob.out") ERR=$(cat "$T/ob.err") RC=$rc
    echo "# push exit $rc $((SECONDS - t0)) s after the restart; $before PATCHes before the kill"
    echo "# stderr: $ERR"
    if [ "$rc" -eq 0 ]; then
        assert_eq "$OUT" "$REG/big@$built" "stdout of the completed push"
        assert_eq "$(reg_remote_digest big:1)" "$built" "big:1 after the restart"
        assert_eq "$(reg_copy big:1 "$T/S")" "$built" "skopeo copy (verifies every blob)"
        umoci_unpack "$T/S" 1 "$T/bundle"
        cmp "$T/src/big.bin" "$T/bundle/rootfs/app/big.bin" || fail "big.bin differs"
    else
        reg_assert_one_error "$REG"
        reg_assert_remote_missing big:1
    fi
}

# the registry dies in the middle of an upload and stays down: the push
# gives up with one clear error, and nothing is tagged. "Gives up" means
# within 30 s: a registry that is down from the start is reported after
# about 9 s of retries, and a dead one mid-upload is the same condition.
test_registry_killed_stays_down() {
    reg_start plain
    mkdir -p "$T/src"
    head -c 6000000 /dev/urandom >"$T/src/big.bin"
    ob_build --dir "$T/src" -t big:1 -o "$T/x.tar"
    "$OCIBUILD" push "$T/x.tar" --push "$REG" --chunk-size 256K -j 1 >"$T/ob.out" 2>"$T/ob.err" &
    REG_OB_PID=$!
    reg_wait_patch big
    local i
    kill -KILL "$REG_PID"
    wait "$REG_PID" 2>/dev/null || true
    local rc=0 t0=$SECONDS
    for i in $(seq 1 600); do
        reg_alive "$REG_OB_PID" || break
        sleep 0.05
    done
    if reg_alive "$REG_OB_PID"; then
        fail "the push still retries 30 s after the registry died (connection refused); stderr so far: '$(cat "$T/ob.err")'"
    fi
    wait "$REG_OB_PID" || rc=$?
    REG_OB_PID=
    OUT=$(cat "$T/ob.out") ERR=$(cat "$T/ob.err") RC=$rc
    echo "# push exit $rc after $((SECONDS - t0)) s; stderr: $ERR"
    reg_assert_one_error "$REG"
    reg_launch
    reg_assert_remote_missing big:1
}

# an identitytoken in config.json (what `docker login` stores for OAuth2
# registries) is exchanged for an access token with a refresh_token grant
test_registry_token_identitytoken() {
    reg_start token
    reg_no_env_creds
    reg_src "$T/src"
    local rt
    rt=$(curl -sf -u "$REG_USER:$REG_PASS" \
        "$REG_TOKEN_URL?service=$REG_SERVICE&offline_token=true&client_id=test" | jq -r .refresh_token)
    [ -n "$rt" ] && [ "$rt" != null ] || fail "the token server gave no refresh token"
    jq -n --arg r "$REG" --arg t "$rt" '{auths: {($r): {identitytoken: $t}}}' \
        >"$DOCKER_CONFIG/config.json"
    : >"$REG_TOKEN_LOG"
    reg_ob_push build --dir "$T/src" -t idt:1 --push "$REG"
    grep -q 'POST /token refresh_token auth=' "$REG_TOKEN_LOG" ||
        fail "no refresh_token grant: $(cat "$REG_TOKEN_LOG")"
    assert_not_contains "$OUT$ERR" "$rt" "refresh token printed"
    assert_eq "$(reg_copy idt:1 "$T/S")" "$PDIGEST" "skopeo copy"
}

# on a terminal each blob in flight has a live line with bytes and rate;
# without one (CI) only finished blobs are reported
test_registry_tty_progress() {
    command -v script >/dev/null || skip "no script(1) to give the push a terminal"
    reg_start plain
    mkdir -p "$T/src"
    head -c 6000000 /dev/urandom >"$T/src/big.bin"
    script -qec "$OCIBUILD build --dir $T/src -t tty:1 --push $REG --chunk-size 1M --compression none -j 1" \
        "$T/tty.log" >/dev/null || fail "push on a terminal failed: $(cat "$T/tty.log")"
    tr '\r' '\n' <"$T/tty.log" | sed 's/\x1b\[[0-9]*[A-Z]//g' >"$T/tty.txt"
    grep -Eq '^sha256:[0-9a-f]{12}: [0-9.]+ (B|KiB|MiB) / [0-9.]+ MiB  [0-9.]+ (B|KiB|MiB)/s$' "$T/tty.txt" ||
        fail "no live progress line: $(head -20 "$T/tty.txt")"
    grep -q 'uploaded' "$T/tty.txt" || fail "no finished-blob line"
    # the same push without a terminal: no live lines at all
    reg_src "$T/src2"
    "$OCIBUILD" build --dir "$T/src2" -t tty:2 --push "$REG" 2>"$T/ci.err" >/dev/null
    grep -q '/s$' "$T/ci.err" && fail "live lines without a terminal: $(cat "$T/ci.err")"
    grep -q 'uploaded\|exists' "$T/ci.err" || fail "no per-blob line in CI mode: $(cat "$T/ci.err")"
}

# a registry that redirects blob downloads to an object store on another
# host (as S3/GCS-backed registries do): the credentials for the registry
# must not follow the redirect, and the redirected bytes are still verified
test_registry_redirect_drops_auth() {
    reg_start basic
    reg_proxy_start --redirect-blobs
    local P=$REG_PROXY
    reg_src "$T/src"
    REG=$P reg_ob_push build --dir "$T/src" -t redir:1 --push "$P"
    assert_eq "$PREPO" redir "repository pushed through the proxy"
    local pushed=$PDIGEST m layer
    reg_assert_no_password
    assert_eq "$(reg_remote_digest redir:1)" "$pushed" "digest in the registry behind the proxy"
    expect_ok skopeo inspect "${REG_SK[@]/--src-/--}" --raw "docker://$REG/redir:1"
    m=$OUT
    layer=$(jq -r '.layers[0].digest' <<<"$m")
    # pull with pull credentials only, into an empty cache
    unset OCIBUILD_PUSH_USERNAME OCIBUILD_PUSH_PASSWORD
    export OCIBUILD_CACHE_DIR=$T/cache-pull
    REG=$P reg_ob_push pull "$P/redir:1" --layout "$T/L"
    assert_eq "$PDIGEST" "$pushed" "digest pulled through the redirecting proxy"
    reg_assert_no_password
    expect_ok skopeo inspect "oci:$T/L:$P/redir:1"
    assert_eq "$(jq -r .Digest <<<"$OUT")" "$pushed" "skopeo inspect oci: digest"
    validate_layout "$T/L" "$P/redir:1"
    verify_blob "$T/L" "$layer" "$(jq -r '.layers[0].size' <<<"$m")"
    assert_file "$OCIBUILD_CACHE_DIR/blobs/sha256/${layer#sha256:}" "the pulled layer is not in the cache:"
    # the blobs came from the object store, never with an Authorization header
    local gets
    gets=$(grep -E '^[0-9.]+ store GET sha256:[0-9a-f]{64} auth=' "$REG_PROXY_LOG" || true)
    [ -n "$gets" ] || fail "no blob GET reached the object store: $(cat "$REG_PROXY_LOG")"
    grep -q " store GET $layer auth=" <<<"$gets" || fail "the layer was not fetched from the store: $gets"
    if grep -q 'auth=yes' <<<"$gets"; then
        fail "credentials for $P were sent to the object store $REG_PROXY_STORE after a redirect:
$(grep 'auth=yes' <<<"$gets")"
    fi
    assert_eq "$(grep -c ' redirect GET ' "$REG_PROXY_LOG")" "$(wc -l <<<"$gets")" \
        "redirects vs. store GETs (proxy log: $(cat "$REG_PROXY_LOG"))"
    reg_proxy_assert_no_password
    # the store corrupts the layer (same length, one byte flipped): the pull
    # fails naming the layer, and the cache does not keep the bad bytes
    reg_proxy_stop
    reg_proxy_start --redirect-blobs --corrupt-store "$layer"
    P=$REG_PROXY
    export OCIBUILD_CACHE_DIR=$T/cache-bad
    run "$OCIBUILD" pull "$P/redir:1" --layout "$T/L2"
    reg_assert_one_error "$layer"
    reg_assert_no_password
    grep -q " store GET $layer auth=no -> 200 corrupted" "$REG_PROXY_LOG" \
        || fail "the corrupted layer was not served: $(cat "$REG_PROXY_LOG")"
    assert_no_path "$OCIBUILD_CACHE_DIR/blobs/sha256/${layer#sha256:}" "a corrupted blob was cached:"
    reg_proxy_assert_no_password
}

# 503 and 429 with Retry-After: the push waits that long and then succeeds;
# a 400 is final: one request, one clear error carrying the registry's
# error code and message
test_registry_retry_after() {
    reg_start plain
    reg_src "$T/src"
    local st gaps g n
    for st in 503 429; do
        reg_proxy_start --fail-first 2 --fail-status "$st" --retry-after 1
        REG=$REG_PROXY reg_ob_push build --dir "$T/src" -t "retry$st:1" --push "$REG_PROXY" -j 1
        assert_eq "$(reg_remote_digest "retry$st:1")" "$PDIGEST" "retry$st:1 in the registry"
        n=$(grep -c " injected $st " "$REG_PROXY_LOG" || true)
        assert_eq "$n" 2 "injected $st failures (proxy log: $(cat "$REG_PROXY_LOG"))"
        gaps=$(reg_proxy_gaps)
        echo "# $st: failure -> next request to the same path: $(tr '\n' ';' <<<"$gaps")"
        assert_eq "$(wc -l <<<"$gaps")" 2 "gap lines"
        while read -r _ _ g; do
            [ "$g" != none ] || fail "a request that got $st was never retried: $gaps"
            awk -v g="$g" 'BEGIN { exit !(g >= 0.95) }' \
                || fail "retried $g s after a $st with Retry-After: 1 (want >= 1 s): $gaps
proxy log: $(cat "$REG_PROXY_LOG")"
        done <<<"$gaps"
        reg_proxy_stop
    done
    # 400 on every upload start: no retry, a clear error
    reg_src "$T/src400" 400
    local re='^/v2/[^/]+/blobs/uploads/$' t0 t1
    reg_proxy_start --fail-first 100 --fail-status 400 --fail-path "$re"
    t0=$(date +%s.%N)
    run "$OCIBUILD" build --dir "$T/src400" -t bad400:1 --push "$REG_PROXY" -j 1
    t1=$(date +%s.%N)
    echo "# 400: exit $RC after $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s: $ERR"
    reg_assert_one_error 'BLOB_UPLOAD_INVALID'
    assert_contains "$REG_ERRLINE" "injected by fault_proxy (400)" "registry error message in the error line"
    assert_eq "$(grep -c ' injected 400 ' "$REG_PROXY_LOG" || true)" 1 \
        "requests that got the 400 (proxy log: $(cat "$REG_PROXY_LOG"))"
    assert_eq "$(awk '$2 == "injected" || $2 == "forward"' "$REG_PROXY_LOG" \
        | awk '{ p = ($2 == "injected") ? $5 : $4 } p ~ /^\/v2\/[^\/]+\/blobs\/uploads\/$/' | wc -l)" 1 \
        "requests to the failing path"
    awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 5) }' || fail "a 400 took $t0..$t1 to fail (retried?)"
    reg_assert_remote_missing bad400:1
}

# a multi-platform index (with an attestation entry, as buildx writes):
# pull and --base pick the wanted platform's manifest, and a missing
# platform is an error naming the ones offered (not unknown/unknown)
test_registry_index_platforms() {
    reg_start plain
    reg_src "$T/src"
    local amd arm
    amd=$("$OCIBUILD" build --dir "$T/src" -t multi:amd --platform linux/amd64 --push "$REG" -q)
    arm=$("$OCIBUILD" build --dir "$T/src" -t multi:arm --platform linux/arm64 --push "$REG" -q)
    amd=${amd#*@} arm=${arm#*@}
    local mt=application/vnd.oci.image.manifest.v1+json sa sr
    sa=$(curl -sf -H "Accept: $mt" "http://$REG/v2/multi/manifests/$amd" | wc -c)
    sr=$(curl -sf -H "Accept: $mt" "http://$REG/v2/multi/manifests/$arm" | wc -c)
    jq -nc --arg mt "$mt" --arg a "$amd" --arg r "$arm" --argjson sa "$sa" --argjson sr "$sr" '{
        schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [
          {mediaType: $mt, digest: $r, size: $sr, platform: {os: "linux", architecture: "arm64"}},
          {mediaType: $mt, digest: $a, size: $sa, platform: {os: "linux", architecture: "amd64"}},
          {mediaType: $mt, digest: $a, size: $sa, platform: {os: "unknown", architecture: "unknown"},
           annotations: {"vnd.docker.reference.type": "attestation-manifest"}}]}' >"$T/index.json"
    curl -sf -X PUT -H "Content-Type: application/vnd.oci.image.index.v1+json" \
        --data-binary @"$T/index.json" "http://$REG/v2/multi/manifests/idx" >/dev/null ||
        fail "could not put the index"
    run "$OCIBUILD" pull "$REG/multi:idx" --platform linux/arm64 --layout "$T/L1" -q
    [ "$RC" -eq 0 ] || fail "pull arm64: $ERR"
    assert_eq "$OUT" "$REG/multi@$arm" "arm64 pick"
    run "$OCIBUILD" pull "$REG/multi:idx" --platform linux/amd64 --layout "$T/L2" -q
    [ "$RC" -eq 0 ] || fail "pull amd64: $ERR"
    assert_eq "$OUT" "$REG/multi@$amd" "amd64 pick"
    skopeo inspect "oci:$T/L1:$REG/multi:idx" | jq -e '.Architecture == "arm64"' >/dev/null ||
        fail "the pulled layout is not the arm64 image"
    run "$OCIBUILD" pull "$REG/multi:idx" --platform linux/s390x --layout "$T/L3" -q
    [ "$RC" -ne 0 ] || fail "a missing platform was accepted"
    assert_contains "$ERR" "linux/arm64" "offered platforms"
    assert_contains "$ERR" "linux/amd64" "offered platforms"
    assert_not_contains "$ERR" "unknown/unknown" "attestations listed as platforms"
    # as a base: the arm64 manifest's digest is the base digest
    run "$OCIBUILD" build --dir "$T/src" -t onarm:1 --platform linux/arm64 \
        --base "$REG/multi:idx" --layout "$T/L4" -q
    [ "$RC" -eq 0 ] || fail "build on the index: $ERR"
    skopeo inspect --raw "oci:$T/L4:onarm:1" |
        jq -e --arg d "$arm" '.annotations["org.opencontainers.image.base.digest"] == $d' >/dev/null ||
        fail "base.digest is not the arm64 manifest"
}

test_registry_parallel_uploads() {
    reg_start plain
    reg_proxy_start --delay 1 --delay-path '^/v2/.+/blobs/uploads/.+'
    reg_src "$T/src"
    REG=$REG_PROXY reg_ob_push build --dir "$T/src" -t par:1 --push "$REG_PROXY"
    local -a t
    mapfile -t t < <(reg_put_arrivals par)
    assert_eq "${#t[@]}" 2 "upload PUTs (the layer and the config)"
    awk -v a="${t[0]}" -v b="${t[1]}" 'BEGIN { exit !(b - a < 0.9) }' ||
        fail "the two uploads did not overlap: PUTs at ${t[*]}"
    reg_src "$T/src1" 2
    REG=$REG_PROXY reg_ob_push build --dir "$T/src1" -t seq:1 --push "$REG_PROXY" -j 1
    mapfile -t t < <(reg_put_arrivals seq)
    assert_eq "${#t[@]}" 2 "upload PUTs with -j 1"
    awk -v a="${t[0]}" -v b="${t[1]}" 'BEGIN { exit !(b - a >= 1.0) }' ||
        fail "with -j 1 the second upload started before the first was answered: PUTs at ${t[*]}"
}

# A push to a registry that may speak plain HTTP finds out once whether it
# speaks TLS, before its parallel uploads: each TLS attempt loads the CA
# bundle, and four workers each trying TLS first was most of the CPU time of
# a push to a local registry (bench/profile.sh)
test_registry_plain_probe_once() {
    reg_start plain
    reg_proxy_start
    mkdir -p "$T/src/a" "$T/src/b"
    reg_src "$T/src"
    head -c 300000 /dev/urandom >"$T/src/a/blob"
    head -c 200000 /dev/urandom >"$T/src/b/blob"
    "$OCIBUILD" build -q --dir "$T/src" -t probe:1 --layout "$T/img" >/dev/null || fail "build"
    REG=$REG_PROXY reg_ob_push push "$T/img" --push "$REG_PROXY" -j 4 --no-attach-sbom
    local tls blobs
    tls=$(grep -c ' unparsed ' "$REG_PROXY_LOG" || true)
    blobs=$(grep -cE ' forward PUT /v2/probe/blobs/uploads/' "$REG_PROXY_LOG" || true)
    [ "$blobs" -ge 2 ] || fail "expected at least 2 blob uploads, got $blobs"
    assert_eq "$tls" 1 "TLS attempts on the plain-HTTP registry"
    # the next push of the same command line knows nothing more: again once
    REG=$REG_PROXY reg_ob_push push "$T/img" --push "$REG_PROXY" -t probe2:1 -j 4 --no-attach-sbom
    tls=$(grep -c ' unparsed ' "$REG_PROXY_LOG" || true)
    assert_eq "$tls" 2 "TLS attempts after a second push"
}

# pull -j N: the layers of one image are fetched N at a time (-j was once
# ignored by pull, which always used 4)
test_registry_pull_jobs() {
    reg_start plain
    reg_base
    reg_src "$T/src"
    reg_ob_push build --dir "$T/src" --base "$REG/base:1" -t two:1 --push "$REG"
    local layers
    layers=$(skopeo inspect --raw --tls-verify=false "docker://$REG/two:1" | jq -r '.layers[].digest')
    assert_eq "$(wc -l <<<"$layers")" 2 "layers of the image"
    reg_proxy_start --delay 1 --delay-path '^/v2/.+/blobs/sha256:'
    local -a t
    for j in 4 1; do
        rm -rf "$T/cache" "$T/L$j"
        : >"$REG_PROXY_LOG"
        expect_ok "$OCIBUILD" pull "$REG_PROXY/two:1" --layout "$T/L$j" -j "$j"
        mapfile -t t < <(grep -F -f <(printf ' forward GET /v2/two/blobs/%s \n' $layers) "$REG_PROXY_LOG" \
            | awk '{ print $1 }' | sort -n)
        assert_eq "${#t[@]}" 2 "layer GETs with -j $j"
        if [ "$j" = 4 ]; then
            awk -v a="${t[0]}" -v b="${t[1]}" 'BEGIN { exit !(b - a < 0.9) }' ||
                fail "with -j 4 the two layer downloads did not overlap: GETs at ${t[*]}"
        else
            awk -v a="${t[0]}" -v b="${t[1]}" 'BEGIN { exit !(b - a >= 1.0) }' ||
                fail "with -j 1 the second download started before the first was answered: GETs at ${t[*]}"
        fi
    done
}
