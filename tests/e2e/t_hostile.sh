# shellcheck shell=bash
# A hostile registry: tests/e2e/registry/hostile.py, a registry double that
# misbehaves on purpose (redirects to plain HTTP, plain-HTTP token realms,
# endless or trickled bodies, absurd Range and expiry values, error texts
# that echo credentials). Each test drives the real binary against it and
# asserts what the double saw and what the user sees.
#
# Helpers are prefixed hos_; they use reg_* from t_registry.sh (sourced by
# run.sh before this file).

HOS_USER=hostile-user
HOS_PASS='H0stile-pa55-e2e'        # never appears in any output

# hos_start ARGS...: start hostile.py with ARGS; sets HOS (127.0.0.1:PORT),
# HOS_PLAIN (port of its plain listener), HOS_LOG, HOS_PID, HOS_NET
hos_start() {
    local d=$T/hos i
    # a second start in one test replaces the first server: stop it (the
    # EXIT trap stops only the last one)
    if [ -n "${HOS_PID:-}" ]; then
        reg_kill "$HOS_PID"
        HOS_PID=
    fi
    mkdir -p "$d" "$T/docker-config" "$T/cache"
    rm -f "$d/port" "$d/plain.port"
    export DOCKER_CONFIG=$T/docker-config OCIBUILD_CACHE_DIR=$T/cache
    unset OCIBUILD_PUSH_USERNAME OCIBUILD_PUSH_PASSWORD OCIBUILD_PULL_USERNAME OCIBUILD_PULL_PASSWORD
    HOS_LOG=$d/hostile.log
    : >"$HOS_LOG"
    "$PY" "$REG_HELPERS/hostile.py" --port-file "$d/port" --plain-port-file "$d/plain.port" \
        --log "$HOS_LOG" "$@" >"$d/stderr" 2>&1 &
    HOS_PID=$!
    REG_PID=$HOS_PID
    trap reg_teardown EXIT
    for i in $(seq 1 100); do
        [ -s "$d/port" ] && break
        reg_alive "$HOS_PID" || fail "hostile registry died: $(cat "$d/stderr")"
        sleep 0.05
    done
    [ -s "$d/port" ] || fail "hostile registry did not start: $(cat "$d/stderr")"
    HOS=127.0.0.1:$(cat "$d/port")
    HOS_PLAIN=$(cat "$d/plain.port")
    HOS_NET=()
}

hos_creds() {
    export OCIBUILD_PUSH_USERNAME=$HOS_USER OCIBUILD_PUSH_PASSWORD=$HOS_PASS
    export OCIBUILD_PULL_USERNAME=$HOS_USER OCIBUILD_PULL_PASSWORD=$HOS_PASS
}

# hos_tls ARGS...: hos_start over TLS with the e2e CA
hos_tls() {
    reg_ca
    hos_start --tls "$T/pki/server.crt" "$T/pki/server.key" "$@"
    HOS_NET=(--ca-file "$T/pki/ca.crt")
}

# hos_assert_plain_untouched: nothing reached the plain listener
hos_assert_plain_untouched() {
    local n
    n=$(grep -c '^plain ' "$HOS_LOG" || true)
    assert_eq "$n" 0 "requests that reached the plain-HTTP listener: $(grep '^plain ' "$HOS_LOG" || true)"
}

hos_assert_secret_safe() {
    local b64
    b64=$(printf '%s:%s' "$HOS_USER" "$HOS_PASS" | base64 -w0)
    assert_not_contains "$OUT$ERR" "$HOS_PASS" "password in output"
    assert_not_contains "$OUT$ERR" "$b64" "Basic credentials in output"
}

# hos_seed: a small image in the layout $T/seed (tag 1), for --seed-layout;
# sets SEED_LAYER (its layer's digest) and SEED_CONFIG
hos_seed() {
    reg_src "$T/seedsrc"
    SOURCE_DATE_EPOCH=$REG_EPOCH ob_build --dir "$T/seedsrc" -t seed:1 --layout "$T/seed"
    SEED_LAYER=$(manifest_json "$T/seed" seed:1 | jq -r '.layers[0].digest')
    SEED_CONFIG=$(manifest_json "$T/seed" seed:1 | jq -r '.config.digest')
}

hos_pull() {  # hos_pull REF: ocibuild pull REF into $T/pulled
    run timeout 120 "$OCIBUILD" pull "$HOS/$1" --layout "$T/pulled" "${HOS_NET[@]}"
}

hos_push() {  # hos_push: build $T/src and push it as app:1
    [ -d "$T/src" ] || reg_src "$T/src"
    run timeout 120 "$OCIBUILD" build --dir "$T/src" -t app:1 --push "$HOS" "${HOS_NET[@]}" "$@"
}

# ------------------------------------------------------------ the double itself

test_hostile_double_push_pull_bearer() {
    # the double is a working registry when it behaves: push, then pull back
    hos_start --bearer "$HOS_USER:$HOS_PASS"
    hos_creds
    hos_push
    [ "$RC" -eq 0 ] || fail "push to the double: $ERR"
    hos_pull app:1
    [ "$RC" -eq 0 ] || fail "pull from the double: $ERR"
    hos_assert_secret_safe
    assert_eq "$(jq '.manifests | length' "$T/pulled/index.json")" 1 "images in the pulled layout"
}

# ------------------------------------------------------------ credentials and TLS

test_hostile_tls_manifest_redirect_to_http() {
    hos_tls --basic "$HOS_USER:$HOS_PASS" --fault manifest-redirect-http
    hos_creds
    hos_pull app:1
    reg_assert_one_error "registry '$HOS'.*plain HTTP"
    hos_assert_plain_untouched
    hos_assert_secret_safe
    assert_no_path "$T/pulled"
}

test_hostile_tls_upload_location_http() {
    hos_tls --basic "$HOS_USER:$HOS_PASS" --fault upload-location-http
    hos_creds
    hos_push
    reg_assert_one_error "registry '$HOS'.*plain HTTP"
    hos_assert_plain_untouched
    hos_assert_secret_safe
}

test_hostile_tls_realm_http() {
    hos_tls --bearer "$HOS_USER:$HOS_PASS" --fault realm-http
    hos_creds
    hos_pull app:1
    reg_assert_one_error "token realm 'http://127\.0\.0\.1:$HOS_PLAIN/token'"
    hos_assert_plain_untouched
    hos_assert_secret_safe
    hos_push
    reg_assert_one_error "token realm 'http://127\.0\.0\.1:$HOS_PLAIN/token'"
    hos_assert_plain_untouched
}

test_hostile_plain_realm_for_plain_registry() {
    # a loopback registry that is itself plain HTTP may use a plain realm on
    # another port: that is how a local test setup looks
    hos_start --bearer "$HOS_USER:$HOS_PASS" --realm "http://localhost:1/token"
    hos_creds
    hos_pull app:1
    # the realm is accepted (and then unreachable), not refused as a downgrade
    [ "$RC" -ne 0 ] || fail "pull with an unreachable realm succeeded"
    assert_not_contains "$ERR" "plain HTTP" "plain realm of a plain registry refused"
    assert_contains "$ERR" "token" "error about the token service"
    hos_assert_secret_safe
}

test_hostile_wrong_host_certificate() {
    # a certificate from the right CA for another name: say so, do not
    # suggest --ca-file
    local d=$T/pki
    reg_ca
    openssl req -newkey rsa:2048 -nodes -keyout "$d/other.key" -out "$d/other.csr" \
        -subj "/CN=other.example" >>"$d/openssl.log" 2>&1
    printf '%s\n' "subjectAltName=DNS:other.example" "extendedKeyUsage=serverAuth" >"$d/other.cnf"
    openssl x509 -req -in "$d/other.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
        -out "$d/other.crt" -days 2 -extfile "$d/other.cnf" >>"$d/openssl.log" 2>&1
    hos_start --tls "$d/other.crt" "$d/other.key"
    run timeout 120 "$OCIBUILD" pull "$HOS/app:1" --layout "$T/pulled" --ca-file "$d/ca.crt"
    reg_assert_one_error "certificate of registry '$HOS' .*(host name|other)"
    assert_not_contains "$ERR" "pass --ca-file" "advice to pass --ca-file"
}

# ------------------------------------------------------------ bounded reads and waits

test_hostile_endless_blob_pull() {
    hos_seed
    hos_start --seed-layout "$T/seed" --fault "endless-blob=$SEED_LAYER"
    hos_pull seed:1
    reg_assert_one_error "$SEED_LAYER.*'$HOS"
    sleep 0.5
    local sent
    sent=$(awk '$1 == "sent" { s += $2 } END { printf "%d\n", s }' "$HOS_LOG")
    [ "$sent" -lt $((64 << 20)) ] || fail "ocibuild read $sent bytes of a $(manifest_json "$T/seed" seed:1 | jq .layers[0].size)-byte blob"
    assert_no_path "$T/pulled"
    # no temp file left in the cache
    assert_eq "$(find "$T/cache" -type f -name '*.tmp*' | wc -l)" 0 "temp files in the cache"
    assert_eq "$(find "$T/cache" -type f -name "${SEED_LAYER#sha256:}" | wc -l)" 0 "endless blob in the cache"
}

test_hostile_endless_config_base() {
    hos_seed
    hos_start --seed-layout "$T/seed" --fault "endless-blob=$SEED_CONFIG"
    reg_src "$T/src"
    run timeout 120 "$OCIBUILD" build --dir "$T/src" --base "$HOS/seed:1" -t app:1 -o "$T/out.tar"
    reg_assert_one_error "$SEED_CONFIG.*'$HOS"
    assert_no_path "$T/out.tar"
    local sent
    sent=$(awk '$1 == "sent" { s += $2 } END { printf "%d\n", s }' "$HOS_LOG")
    [ "$sent" -lt $((64 << 20)) ] || fail "ocibuild read $sent bytes of a config"
}

test_hostile_trickled_error_body() {
    # a 404 whose body never ends, fast enough for curl's low-speed limit:
    # the body is capped, so the transfer is cut and the command ends
    hos_start --fault trickle-404=65536
    hos_pull app:1
    [ "$RC" -ne 0 ] || fail "pull succeeded"
    [ "$RC" -ne 124 ] || fail "ocibuild kept reading a trickled error body"
    sleep 0.5
    local sent
    sent=$(awk '$1 == "sent" { s += $2 } END { printf "%d\n", s }' "$HOS_LOG")
    [ "$sent" -lt $((1 << 20)) ] || fail "ocibuild read $sent bytes of an error body"
}

test_hostile_request_time_limit() {
    # a manifest that trickles just above the low-speed limit: the total
    # time limit per request ends it, and the error says so
    hos_seed
    hos_start --seed-layout "$T/seed" --fault trickle-manifest=2048
    OCIBUILD_REQUEST_TIMEOUT=3 hos_pull seed:1
    reg_assert_one_error "'$HOS'.*3 s"
    assert_no_path "$T/pulled"
    expect_fail env OCIBUILD_REQUEST_TIMEOUT=soon "$OCIBUILD" pull "$HOS/seed:1" --layout "$T/pulled"
    reg_assert_one_error "OCIBUILD_REQUEST_TIMEOUT"
}

test_hostile_big_manifest() {
    hos_start --fault big-manifest=5000000
    hos_pull app:1
    reg_assert_one_error "manifest .*'$HOS.*larger than"
    assert_not_contains "$ERR" "cannot reach" "misleading error"
}

test_hostile_size_only_mismatch() {
    # the layer's bytes match the digest, the descriptor's size does not
    local m d
    hos_seed
    m=$(index_digest "$T/seed" seed:1)
    jq -c '.layers[0].size += 1' <"$(blob "$T/seed" "$m")" >"$T/m.json"
    d=sha256:$(sha256sum "$T/m.json" | cut -d' ' -f1)
    cp "$T/m.json" "$(blob "$T/seed" "$d")"
    jq -c --arg d "$d" --argjson s "$(stat -c %s "$T/m.json")" \
        '.manifests[0].digest = $d | .manifests[0].size = $s' <"$T/seed/index.json" >"$T/i.json"
    mv "$T/i.json" "$T/seed/index.json"
    hos_start --seed-layout "$T/seed"
    hos_pull seed:1
    reg_assert_one_error "$SEED_LAYER.*bytes"
    assert_not_contains "$ERR" "digest (got" "says the digest differs"
}

# ------------------------------------------------------------ absurd values

hos_range_case() {  # hos_range_case VALUE
    head -c 300000 /dev/urandom >"$T/big.bin"
    mkdir -p "$T/src"
    cp "$T/big.bin" "$T/src/"
    hos_start --fault drop-first-patch --fault "upload-range=$1"
    hos_push --chunk-size 64K --compression none
    reg_assert_one_error "registry '$HOS'.*(Range|range)"
    assert_not_contains "$ERR" "interrupted" "a protocol error reported as an interruption"
}

test_hostile_upload_range_past_end() { hos_range_case 99999999999; }
test_hostile_upload_range_overflow() { hos_range_case 9223372036854775807; }

test_hostile_token_expiry_overflow() {
    hos_start --bearer "$HOS_USER:$HOS_PASS" --fault token-expires=9223372036854775807
    hos_creds
    hos_push
    [ "$RC" -eq 0 ] || fail "push with a huge token expiry: $ERR"
    hos_start --bearer "$HOS_USER:$HOS_PASS" --fault token-expires=-9223372036854775808
    hos_creds
    hos_push
    [ "$RC" -eq 0 ] || fail "push with a negative token expiry: $ERR"
}

test_hostile_big_token_response() {
    hos_start --bearer "$HOS_USER:$HOS_PASS" --fault token-pad=2000000
    hos_creds
    hos_push
    reg_assert_one_error "token"
    hos_assert_secret_safe
}

test_hostile_error_echoes_credentials() {
    hos_start --basic "$HOS_USER:$HOS_PASS" --fault echo-error
    hos_creds
    hos_push
    reg_assert_one_error "registry '$HOS' answered 400"
    hos_assert_secret_safe
    assert_not_contains "$ERR" $'\e' "ESC from the registry on stderr"
    assert_eq "$(grep -c 'pushed fine' <<<"$ERR" || true)" "$(grep -c 'error' <<<"$ERR")" "forged line"
    run timeout 120 "$OCIBUILD" build --dir "$T/src" -t app:1 --push "$HOS" --json
    [ "$RC" -ne 0 ] || fail "push succeeded"
    hos_assert_secret_safe
    assert_not_contains "$ERR" $'\e' "ESC under --json"
}

test_hostile_location_fragment() {
    hos_start --fault location-fragment
    hos_push
    [ "$RC" -eq 0 ] || fail "push with a #fragment in the upload Location: $ERR"
}

# ------------------------------------------------------------ the real registry, through the fault proxy

# hos_resume_case BYTES: docker-registry 2.8 answers "Range: 0-0" both when
# an upload holds nothing and when it holds one byte; a first PATCH dropped
# after BYTES bytes reached it must still end in a correct blob
hos_resume_case() {
    reg_start plain
    reg_proxy_start --drop-first-patch "$1"
    mkdir -p "$T/src"
    head -c 300000 /dev/urandom >"$T/src/big.bin"
    run timeout 120 "$OCIBUILD" build --dir "$T/src" -t app:1 --push "$REG_PROXY" \
        --chunk-size 64K --compression none
    [ "$RC" -eq 0 ] || fail "push with the first PATCH dropped after $1 bytes: $ERR"
    assert_eq "$(grep -c "dropped PATCH .* after forwarding $1 bytes" "$REG_PROXY_LOG")" 1 "dropped PATCHes"
    # the registry holds the right bytes under the layer's digest
    local layer
    layer=$(skopeo inspect --raw --tls-verify=false "docker://$REG/app:1" | jq -r '.layers[0].digest')
    assert_eq "sha256:$(curl -fsS "http://$REG/v2/app/blobs/$layer" | sha256sum | cut -d' ' -f1)" "$layer" \
        "the uploaded layer's bytes"
    expect_ok skopeo copy --retry-times 0 --src-tls-verify=false "docker://$REG/app:1" "oci:$T/copy:1"
}

test_hostile_resume_after_drop_at_0_bytes() { hos_resume_case 0; }
test_hostile_resume_after_drop_at_1_byte() { hos_resume_case 1; }

test_hostile_retry_budget() {
    # every upload PUT fails with 503 and Retry-After: the retries of one
    # blob are bounded, however many upload sessions they take
    reg_start plain
    reg_proxy_start --fail-first 100000 --fail-status 503 --retry-after 1 \
        --fail-path '^/v2/.+/blobs/uploads/.+'
    reg_src "$T/src"
    run timeout 240 "$OCIBUILD" build --dir "$T/src" -t app:1 --push "$REG_PROXY" -j 1
    reg_assert_one_error "gave up on sha256:[0-9a-f]{64} after [0-9]+ attempts and [0-9]+ s of waiting"
    local puts per
    puts=$(grep -c 'injected 503 PUT ' "$REG_PROXY_LOG" || true)
    # one blob fails first (the pool stops at the first failure); at most
    # 7 PUTs for it (6 retries), and each PUT follows its own POST
    [ "$puts" -ge 2 ] || fail "no retries at all: $puts PUTs"
    [ "$puts" -le 7 ] || fail "$puts PUTs for one blob: the retry budget is not bounded"
    per=$(grep -c 'POST /v2/app/blobs/uploads/ ' "$REG_PROXY_LOG" || true)
    [ "$per" -le 8 ] || fail "$per upload sessions"
}

test_hostile_corrupt_cache_blob_healed() {
    # a cached blob that no longer matches its digest is dropped and fetched
    # again, with a warning naming the cache file (before: every later pull
    # failed until the file was deleted by hand)
    reg_start plain
    reg_src "$T/src"
    reg_ob_push build --dir "$T/src" -t app:1 --push "$REG"
    expect_ok "$OCIBUILD" pull "$REG/app:1" --layout "$T/one"
    local layer f
    layer=$(manifest_json "$T/one" "$REG/app:1" | jq -r '.layers[0].digest')
    f=$(blob "$T/cache" "$layer")
    assert_file "$f"
    printf 'X' | dd of="$f" bs=1 seek=10 conv=notrunc 2>/dev/null
    [ "sha256:$(sha256sum "$f" | cut -d' ' -f1)" != "$layer" ] || fail "the cache blob was not corrupted"
    expect_ok "$OCIBUILD" pull "$REG/app:1" --layout "$T/two"
    assert_contains "$ERR" "cache file '$f' is corrupt" "warning naming the cache file"
    assert_eq "sha256:$(sha256sum "$f" | cut -d' ' -f1)" "$layer" "the cache blob after the second pull"
    verify_blob "$T/two" "$layer" "$(stat -c %s "$f")"
    # and a build on it as a base heals the same way
    printf 'Y' | dd of="$f" bs=1 seek=10 conv=notrunc 2>/dev/null
    expect_ok "$OCIBUILD" build --dir "$T/src" --base "$REG/app:1" -t app:2 -o "$T/x.tar"
    assert_contains "$ERR" "is corrupt" "warning from build --base"
}
