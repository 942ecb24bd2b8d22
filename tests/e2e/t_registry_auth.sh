# shellcheck shell=bash
# Registry credentials: the environment, docker config.json (auths,
# credHelpers, credsStore), podman auth.json, login, TLS with a private CA,
# token auth and its refresh. The fixture is tests/e2e/registry/lib.sh.

# credHelpers and credsStore in $DOCKER_CONFIG/config.json
test_registry_cred_helper() {
    reg_start basic
    reg_no_env_creds
    reg_fake_helper test ok
    reg_src "$T/src"
    jq -n --arg r "$REG" '{credHelpers: {($r): "test"}}' >"$DOCKER_CONFIG/config.json"
    reg_ob_push build --dir "$T/src" -t app:1 --push "$REG"
    assert_file "$T/helper.log" "the helper was not run:"
    assert_eq "$(sort -u "$T/helper.log")" "get | $REG" "helper calls (args | stdin)"
    reg_assert_no_password
    assert_eq "$(reg_copy app:1 "$T/S")" "$PDIGEST" "skopeo copy"
    # credsStore, used for push and for pull
    rm -f "$T/helper.log"
    jq -n '{credsStore: "test"}' >"$DOCKER_CONFIG/config.json"
    reg_src "$T/src" 2
    reg_ob_push build --dir "$T/src" -t app:2 --push "$REG"
    assert_eq "$(sort -u "$T/helper.log")" "get | $REG" "credsStore helper calls"
    reg_ob_push pull "$REG/app:2" --layout "$T/L"
    reg_assert_no_password
    # credHelpers wins over credsStore for its registry
    reg_fake_helper other notfound
    rm -f "$T/helper.log"
    jq -n --arg r "$REG" '{credsStore: "other", credHelpers: {($r): "test"}}' >"$DOCKER_CONFIG/config.json"
    reg_ob_push build --dir "$T/src" -t app:3 --push "$REG"
    assert_eq "$(sort -u "$T/helper.log")" "get | $REG" "credHelpers before credsStore"
}

# OCIBUILD_PULL_* for reading (a registry base, ocibuild pull), and the
# containers auth file named by REGISTRY_AUTH_FILE
test_registry_pull_credentials() {
    reg_start basic
    export SOURCE_DATE_EPOCH=$REG_EPOCH
    reg_base
    reg_src "$T/src"
    unset OCIBUILD_PUSH_USERNAME OCIBUILD_PUSH_PASSWORD
    ob_build --dir "$T/src" --base "$REG/base:1" -t app:1 -o "$T/a.tar"
    reg_ob_push pull "$REG/base:1" --layout "$T/L"
    assert_eq "$PDIGEST" "$REG_BASE_DIGEST" "pulled base"
    reg_assert_no_password
    # REGISTRY_AUTH_FILE
    reg_no_env_creds
    jq -n --arg r "$REG" --arg a "$(printf '%s:%s' "$REG_USER" "$REG_PASS" | base64 -w0)" \
        '{auths: {($r): {auth: $a}}}' >"$T/auth.json"
    REGISTRY_AUTH_FILE=$T/auth.json reg_ob_push build --dir "$T/src" -t app:2 --push "$REG"
    assert_eq "$(reg_copy app:2 "$T/S")" "$PDIGEST" "skopeo copy"
    REGISTRY_AUTH_FILE=$T/auth.json reg_ob_push pull "$REG/app:2" --layout "$T/L2"
    reg_assert_no_password
    # without any credentials: the login hint
    run "$OCIBUILD" pull "$REG/app:2" --layout "$T/L3"
    reg_assert_one_error 'login|credentials'
}

# "credentials not found" from the helper means anonymous
test_registry_cred_helper_not_found() {
    reg_start plain
    reg_fake_helper test notfound
    reg_src "$T/src"
    jq -n --arg r "$REG" '{credHelpers: {($r): "test"}}' >"$DOCKER_CONFIG/config.json"
    reg_ob_push build --dir "$T/src" -t app:1 --push "$REG"
    assert_eq "$(reg_copy app:1 "$T/S")" "$PDIGEST" "skopeo copy"
    jq -n '{credsStore: "test"}' >"$DOCKER_CONFIG/config.json"
    reg_ob_push build --dir "$T/src" -t app:2 --push "$REG"
    # against a registry that wants a login: the usual "no credentials" error
    reg_stop
    reg_start basic
    reg_no_env_creds
    rm -f "$T/helper.log"
    jq -n --arg r "$REG" '{credHelpers: {($r): "test"}}' >"$DOCKER_CONFIG/config.json"
    run "$OCIBUILD" build --dir "$T/src" -t app:1 --push "$REG"
    reg_assert_one_error 'login|credentials'
    assert_not_contains "$REG_ERRLINE" "docker-credential-test failed" "helper answer 'not found' is no failure"
    assert_file "$T/helper.log" "the helper was not asked:"
    reg_assert_remote_missing app:1
}

# a helper named in config.json but not installed: a clear error naming it.
# (Repeated: the failure must not depend on timing.)
test_registry_cred_helper_missing() {
    reg_start basic
    reg_no_env_creds
    reg_src "$T/src"
    ob_build --dir "$T/src" -t app:1 -o "$T/x.tar"
    local cfg i
    for cfg in "$(jq -n --arg r "$REG" '{credHelpers: {($r): "nosuch"}}')" '{"credsStore": "nosuch"}'; do
        printf '%s\n' "$cfg" >"$DOCKER_CONFIG/config.json"
        for i in $(seq 1 12); do
            run "$OCIBUILD" push "$T/x.tar" --push "$REG"
            [ "$RC" -ne 141 ] || fail "run $i with $cfg: killed by SIGPIPE (exit 141), stderr: '$ERR'"
            reg_assert_one_error 'docker-credential-nosuch'
        done
    done
    reg_assert_remote_missing app:1
}

test_registry_basic_wrong_password() { reg_case_wrong_password basic; }

test_registry_token_wrong_password() { reg_case_wrong_password token; }

# a private CA without --ca-file: an error that points at --ca-file (and no
# fallback to plain HTTP)
test_registry_tls_without_ca_file() {
    reg_start tls
    REG_NET=()
    reg_src "$T/src"
    reg_mark
    run "$OCIBUILD" build --dir "$T/src" -t app:1 --push "$REG"
    reg_assert_one_error '--ca-file'
    assert_contains "$REG_ERRLINE" "$REG" "error names the registry"
    run "$OCIBUILD" build --dir "$T/src" -t app:1 --push "localhost:${REG#*:}"
    reg_assert_one_error '--ca-file'
    ob_build --dir "$T/src" -t app:1 -o "$T/x.tar"
    run "$OCIBUILD" push "$T/x.tar" --push "$REG"
    reg_assert_one_error '--ca-file'
    run "$OCIBUILD" pull "$REG/app:1" --layout "$T/L"
    reg_assert_one_error '--ca-file'
    run "$OCIBUILD" login "$REG" -u u --password-stdin <<<"pw"
    reg_assert_one_error '--ca-file'
    assert_eq "$(reg_access all | grep -c ocibuild || true)" 0 "requests that got through"
    assert_no_path "$DOCKER_CONFIG/config.json" "login without trust stored something:"
    # with the CA it works; a wrong CA fails the same way as none
    reg_ob_push build --dir "$T/src" -t app:1 --push "$REG" --ca-file "$T/pki/ca.crt"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/other.key" -out "$T/other.crt" -days 1 \
        -subj "/CN=other CA" >/dev/null 2>&1 || fail "openssl"
    run "$OCIBUILD" push "$T/x.tar" --push "$REG" --ca-file "$T/other.crt"
    reg_assert_one_error '--ca-file'
}

test_registry_basic_login() { reg_case_login basic; }

test_registry_token_login() { reg_case_login token; }

# ------------------------------------------------------------ token auth

# tokens that live 2 s: a push that takes longer gets a new one and succeeds
test_registry_token_refresh() {
    export TOKEN_EXPIRES_IN=2 TOKEN_EXP_SKEW=60  # the registry refuses it after 2 s
    reg_start token
    mkdir -p "$T/src"
    head -c 3000000 /dev/urandom >"$T/src/random.bin"
    reg_mark
    "$OCIBUILD" build --dir "$T/src" -t slow:1 --push "$REG" --chunk-size 64K -j 1 \
        >"$T/ob.out" 2>"$T/ob.err" &
    REG_OB_PID=$!
    reg_wait_patch slow
    # hold the push for longer than the token lives
    kill -STOP "$REG_OB_PID"
    sleep 3
    kill -CONT "$REG_OB_PID"
    local rc=0
    wait "$REG_OB_PID" || rc=$?
    REG_OB_PID=
    OUT=$(cat "$T/ob.out") ERR=$(cat "$T/ob.err") RC=$rc
    [ "$rc" -eq 0 ] || fail "push with expiring tokens failed (exit $rc): $ERR
token log: $(cat "$REG_TOKEN_LOG")"
    [[ $OUT =~ ^$REG/slow@(sha256:[0-9a-f]{64})$ ]] || fail "stdout: $OUT"
    local d=${BASH_REMATCH[1]} n
    n=$(grep -c ' -> 200 ' "$REG_TOKEN_LOG")
    [ "$n" -ge 2 ] || fail "only $n token requests with a 2 s token lifetime: $(cat "$REG_TOKEN_LOG")"
    reg_assert_no_password
    unset TOKEN_EXPIRES_IN TOKEN_EXP_SKEW
    assert_eq "$(reg_copy slow:1 "$T/S")" "$d" "skopeo copy"
    umoci_unpack "$T/S" 1 "$T/bundle"
    cmp "$T/src/random.bin" "$T/bundle/rootfs/app/random.bin" || fail "content differs"
}

# the token endpoint gets one scope per repository (a mount asks for two)
test_registry_token_scopes() {
    reg_start token
    export SOURCE_DATE_EPOCH=$REG_EPOCH
    reg_base
    reg_src "$T/src"
    : >"$REG_TOKEN_LOG"
    reg_ob_push build --dir "$T/src" --base "$REG/base:1" -t app:1 --push "$REG"
    grep -E 'scopes=\[[^]]*repository:app:pull,push[^]]*repository:base:pull' "$REG_TOKEN_LOG" >/dev/null \
        || grep -E 'scopes=\[[^]]*repository:base:pull[^]]*repository:app:pull,push' "$REG_TOKEN_LOG" >/dev/null \
        || fail "no token request for both app (push) and base (pull): $(cat "$REG_TOKEN_LOG")"
    if grep -q 'auth=anonymous\|auth=bad' "$REG_TOKEN_LOG"; then
        fail "token requests without the credentials: $(cat "$REG_TOKEN_LOG")"
    fi
    # pull asks for pull only
    : >"$REG_TOKEN_LOG"
    reg_ob_push pull "$REG/app:1" --layout "$T/L"
    if grep -q 'push' "$REG_TOKEN_LOG"; then fail "pull asked for push: $(cat "$REG_TOKEN_LOG")"; fi
    grep -q 'repository:app:pull' "$REG_TOKEN_LOG" || fail "pull token scope: $(cat "$REG_TOKEN_LOG")"
}

# tokens of different sizes (real token services send anything from a few
# hundred bytes to several KiB) all work, every time
test_registry_token_sizes() {
    reg_src "$T/src"
    ob_build --dir "$T/src" -t app:1 -o "$T/x.tar"
    local pad i fails=""
    for pad in 0 1000 1500 2000; do
        export TOKEN_PAD=$pad
        reg_start token
        for i in 1 2 3 4; do
            run "$OCIBUILD" push "$T/x.tar" --push "$REG" -t "app:$i"
            [ "$RC" -eq 0 ] || fails+="
token padded by $pad, push $i: exit $RC: $ERR"
        done
        reg_stop
    done
    [ -z "$fails" ] || fail "pushes failed:$fails"
}

# anonymous push where the token service grants nothing: a clear denial,
# the same every time
test_registry_token_anonymous_denied() {
    reg_start token
    reg_no_env_creds
    reg_src "$T/src"
    ob_build --dir "$T/src" -t app:1 -o "$T/x.tar"
    local i
    for i in 1 2 3 4 5 6; do
        run "$OCIBUILD" push "$T/x.tar" --push "$REG"
        reg_assert_one_error 'denied|login|credentials'
        assert_contains "$REG_ERRLINE" "$REG" "error names the registry"
    done
    reg_assert_remote_missing app:1
}
