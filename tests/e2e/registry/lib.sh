# shellcheck shell=bash
# The registry fixture of the end-to-end tests, sourced by tests/e2e/lib.sh:
# Debian's docker-registry (CNCF distribution 2.8) started per test on a free
# port of 127.0.0.1 in one of four modes, the token server, the fault proxy,
# and the helpers that count what the registry saw. Suites using it:
# t_registry.sh (push and pull flows), t_registry_auth.sh (credentials, TLS,
# token auth), t_registry_faults.sh (failures and the fault proxy),
# t_hostile.sh, t_auth.sh, t_sign.sh, t_platforms.sh ...
#
# Every test runs its own registry with its storage, config and log below $T,
# and stops it (and the token server, the proxy) on exit. Its access log
# (lines starting with "127.0.0.1 - ") is how the tests count requests.
#
# Registry modes:
#   plain   HTTP, anonymous
#   basic   HTTP with htpasswd Basic auth
#   tls     HTTPS with a throw-away CA passed with --ca-file, anonymous
#   token   HTTP with token auth; the token server wants Basic credentials
#
# All helpers here are prefixed reg_ (every t_*.sh shares one shell).

REG_HELPERS=$E2E_DIR/registry
REG_USER=e2e-user
REG_PASS='S3cret-pa55-e2e'          # never appears in any output
REG_SERVICE=ocibuild-e2e-registry
REG_ISSUER=ocibuild-e2e-token-issuer
REG_EPOCH=1700000000
# ------------------------------------------------------------ processes

reg_free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

reg_alive() {  # reg_alive PID
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

reg_kill() {  # reg_kill PID: TERM (CONT first, it may be stopped), then KILL
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 20); do
        reg_alive "$pid" || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

reg_teardown() {
    reg_kill "${REG_OB_PID:-}"
    reg_kill "${REG_PID:-}"
    reg_kill "${REG_TOKEN_PID:-}"
    return 0
}

# reg_stop: stop the servers and forget them and their state (for a test
# that starts another registry)
reg_stop() {
    reg_teardown
    REG_OB_PID='' REG_PID='' REG_TOKEN_PID=''
    rm -rf "$T/reg"
}

# ------------------------------------------------------------ keys and certs

# reg_ca: a throw-away CA and a server certificate for 127.0.0.1/localhost in
# $T/pki (ca.crt, server.crt, server.key)
reg_ca() {
    local d=$T/pki
    [ -f "$d/server.crt" ] && return 0
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" -days 2 \
        -subj "/CN=ocibuild e2e CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" >"$d/openssl.log" 2>&1 \
        || fail "openssl CA: $(cat "$d/openssl.log")"
    openssl req -newkey rsa:2048 -nodes -keyout "$d/server.key" -out "$d/server.csr" \
        -subj "/CN=localhost" >>"$d/openssl.log" 2>&1 || fail "openssl csr: $(cat "$d/openssl.log")"
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$d/ext.cnf"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
        -out "$d/server.crt" -days 2 -extfile "$d/ext.cnf" >>"$d/openssl.log" 2>&1 \
        || fail "openssl sign: $(cat "$d/openssl.log")"
}

# reg_token_key: self-signed token signing certificate ($T/pki/token.{crt,key})
reg_token_key() {
    local d=$T/pki
    mkdir -p "$d"
    [ -f "$d/token.crt" ] && return 0
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/token.key" -out "$d/token.crt" -days 2 \
        -subj "/CN=ocibuild e2e token signer" >"$d/openssl-token.log" 2>&1 \
        || fail "openssl token key: $(cat "$d/openssl-token.log")"
}

# ------------------------------------------------------------ servers

# reg_token_server_start: start token_server.py (account REG_USER/REG_PASS,
# TOKEN_EXPIRES_IN, TOKEN_EXP_SKEW, TOKEN_PAD from the environment); sets REG_TOKEN_PID,
# REG_TOKEN_URL, REG_TOKEN_LOG
reg_token_server_start() {
    local d=$T/reg i
    reg_token_key
    mkdir -p "$d"
    REG_TOKEN_LOG=$d/token.log
    : >"$REG_TOKEN_LOG"
    rm -f "$d/token.port"
    TOKEN_USER=$REG_USER TOKEN_PASSWORD=$REG_PASS \
        "$PY" "$REG_HELPERS/token_server.py" --key "$T/pki/token.key" --cert "$T/pki/token.crt" \
        --issuer "$REG_ISSUER" --service "$REG_SERVICE" --log "$REG_TOKEN_LOG" \
        --port-file "$d/token.port" >"$d/token.stderr" 2>&1 &
    REG_TOKEN_PID=$!
    for i in $(seq 1 100); do
        [ -s "$d/token.port" ] && break
        reg_alive "$REG_TOKEN_PID" || fail "token server died: $(cat "$d/token.stderr")"
        sleep 0.05
    done
    [ -s "$d/token.port" ] || fail "token server did not start: $(cat "$d/token.stderr")"
    REG_TOKEN_URL=http://127.0.0.1:$(cat "$d/token.port")/token
}

# reg_start MODE: start a registry (plain|basic|tls|token) and set up a
# clean client environment. Sets:
#   REG        127.0.0.1:PORT
#   REG_LOG    its log (access lines start with "127.0.0.1 - ")
#   REG_PID, REG_STORE, REG_CFG, REG_MODE
#   REG_NET    ocibuild network flags for this mode (--ca-file for tls)
#   REG_SK     skopeo flags reading from it (tls/cert dir, creds)
# and exports OCIBUILD_CACHE_DIR, DOCKER_CONFIG (empty), and for basic/token
# OCIBUILD_PUSH_/PULL_USERNAME/PASSWORD.
reg_start() {
    REG_MODE=$1
    local d=$T/reg port
    mkdir -p "$d" "$T/docker-config" "$T/cache"
    trap reg_teardown EXIT
    unset REGISTRY_AUTH_FILE GITHUB_TOKEN OCIBUILD_PUSH_USERNAME OCIBUILD_PUSH_PASSWORD \
        OCIBUILD_PULL_USERNAME OCIBUILD_PULL_PASSWORD
    export DOCKER_CONFIG=$T/docker-config
    export OCIBUILD_CACHE_DIR=$T/cache
    export XDG_RUNTIME_DIR=$T/xdg   # keep skopeo away from a real auth.json
    mkdir -p "$XDG_RUNTIME_DIR"
    port=$(reg_free_port)
    REG=127.0.0.1:$port
    REG_STORE=$d/storage
    REG_CFG=$d/config.yml
    REG_LOG=$d/registry.log
    REG_NET=()
    REG_SK=(--src-tls-verify=false)
    {
        echo "version: 0.1"
        echo "log:"
        echo "  level: info"
        echo "  accesslog:"
        echo "    disabled: false"
        echo "storage:"
        echo "  filesystem:"
        echo "    rootdirectory: $REG_STORE"
        echo "  delete:"
        echo "    enabled: true"
        echo "http:"
        echo "  addr: $REG"
        echo "  secret: e2e-upload-state-secret"
    } >"$REG_CFG"
    case "$REG_MODE" in
        plain) ;;
        basic)
            htpasswd -Bbn "$REG_USER" "$REG_PASS" >"$d/htpasswd" 2>/dev/null || fail "htpasswd"
            printf '%s\n' "auth:" "  htpasswd:" "    realm: e2e-realm" "    path: $d/htpasswd" >>"$REG_CFG"
            ;;
        tls)
            reg_ca
            printf '%s\n' "  tls:" "    certificate: $T/pki/server.crt" "    key: $T/pki/server.key" >>"$REG_CFG"
            mkdir -p "$T/pki/certdir"
            cp "$T/pki/ca.crt" "$T/pki/certdir/ca.crt"
            REG_NET=(--ca-file "$T/pki/ca.crt")
            REG_SK=(--src-cert-dir "$T/pki/certdir")
            ;;
        token)
            reg_token_server_start
            printf '%s\n' "auth:" "  token:" "    realm: $REG_TOKEN_URL" "    service: $REG_SERVICE" \
                "    issuer: $REG_ISSUER" "    rootcertbundle: $T/pki/token.crt" >>"$REG_CFG"
            ;;
        *) fail "reg_start: unknown mode $REG_MODE" ;;
    esac
    case "$REG_MODE" in
        basic|token)
            REG_SK+=(--src-creds "$REG_USER:$REG_PASS")
            export OCIBUILD_PUSH_USERNAME=$REG_USER OCIBUILD_PUSH_PASSWORD=$REG_PASS
            export OCIBUILD_PULL_USERNAME=$REG_USER OCIBUILD_PULL_PASSWORD=$REG_PASS
            ;;
    esac
    : >"$REG_LOG"
    REG_MARK=0
    # the free port may be taken between reg_free_port and the registry's
    # bind (tests run side by side): on "address already in use", move once
    # more to another port; a restart later (reg_launch) keeps its port
    local try
    for try in 1 2 3; do
        REG_MAY_MOVE=1 reg_launch && break
        port=$(reg_free_port)
        REG=127.0.0.1:$port
        sed -i "s|^  addr: .*|  addr: $REG|" "$REG_CFG"
    done
    [ -n "$REG_PID" ] && reg_alive "$REG_PID" || fail "registry did not start: $(tail -n 5 "$REG_LOG")"
}

# reg_launch: (re)start the registry process on $REG with $REG_CFG, appending
# to $REG_LOG; waits until it answers
reg_launch() {
    local i scheme=http code
    [ "$REG_MODE" = tls ] && scheme=https
    docker-registry serve "$REG_CFG" >>"$REG_LOG" 2>&1 &
    REG_PID=$!
    for i in $(seq 1 100); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$T/pki/ca.crt" \
            "$scheme://$REG/v2/" 2>/dev/null) || code=000
        if ! reg_alive "$REG_PID"; then
            if [ "${REG_MAY_MOVE:-0}" = 1 ] && tail -n 3 "$REG_LOG" | grep 'address already in use' >/dev/null; then
                wait "$REG_PID" 2>/dev/null || true
                return 1
            fi
            fail "registry exited: $(tail -n 20 "$REG_LOG")"
        fi
        # an answer counts once our process holds the port (another test's
        # registry may have answered on it)
        [ "$code" != 000 ] && reg_alive "$REG_PID" && return 0
        sleep 0.05
    done
    fail "registry did not answer on $REG: $(tail -n 20 "$REG_LOG")"
}

# ------------------------------------------------------------ registry log

# reg_mark: remember the current end of the registry log; reg_access then
# prints only the access lines after it (made by ocibuild, unless ALL is given)
reg_mark() { REG_MARK=$(wc -l <"$REG_LOG"); }

reg_access() {  # reg_access [all]
    tail -n +"$(( ${REG_MARK:-0} + 1 ))" "$REG_LOG" | grep '^127\.0\.0\.1 - ' \
        | if [ "${1:-}" = all ]; then cat; else grep '"ocibuild/[^"]*"$' || true; fi
}

# request counts among reg_access lines
reg_count() {  # reg_count ERE
    reg_access | grep -cE "$1" || true
}
# digests of completed blob uploads (the final PUT of each upload session)
reg_uploaded_digests() {
    reg_access | grep -E '"PUT /v2/[^ ]*/blobs/uploads/[^ ]*digest=sha256(:|%3A)[0-9a-f]{64}[^ ]* HTTP/[0-9.]+" 201 ' \
        | grep -oE 'digest=sha256(:|%3A)[0-9a-f]{64}' | sed 's/%3A/:/; s/^digest=//' | sort
}
reg_upload_starts() { reg_count '"POST /v2/[^ ]*/blobs/uploads/ HTTP'; }
reg_patches() { reg_count '"PATCH /v2/[^ ]*/blobs/uploads/'; }

# reg_wait_patch REPO: wait (about 15 s at most) until the registry log shows
# a PATCH to REPO from the push running in the background as $REG_OB_PID
# (stderr in $T/ob.err); fails when none comes
reg_wait_patch() {
    local i
    for i in $(seq 1 1500); do
        grep -qF "\"PATCH /v2/$1/" "$REG_LOG" && return 0
        reg_alive "$REG_OB_PID" || break
        sleep 0.01
    done
    grep -qF "\"PATCH /v2/$1/" "$REG_LOG" || fail "no PATCH seen: $(cat "$T/ob.err")"
}
reg_blob_gets() { reg_count '"GET /v2/[^ ]*/blobs/sha256:'; }
# reg_assert_log_live: the access log after the mark shows ocibuild's manifest
# PUTs (so that counts of 0 mean something)
reg_assert_log_live() {
    [ "$(reg_count '"PUT /v2/[^ ]*/manifests/[^ ]* HTTP/[0-9.]+" 201 ')" -gt 0 ] \
        || fail "no manifest PUT by ocibuild in the registry log: $(reg_access all | tail -n 5)"
}
# reg_assert_repush_noop: after the mark, ocibuild asked about the manifests
# (so that counts of 0 mean something) and wrote nothing at all
reg_assert_repush_noop() {
    [ "$(reg_count '"HEAD /v2/[^ ]*/manifests/[^ ]* HTTP/[0-9.]+" 200 ')" -gt 0 ] \
        || fail "no manifest HEAD by ocibuild in the registry log: $(reg_access all | tail -n 5)"
    assert_eq "$(reg_count '"(PUT|POST|PATCH|DELETE) ')" 0 "writes to the registry: $(reg_access)"
}
reg_mounts_ok() { reg_count '"POST /v2/[^ ]*/blobs/uploads/\?mount=[^ ]* HTTP/[0-9.]+" 201 '; }

# ------------------------------------------------------------ ocibuild calls

# reg_ob_push SUBCMD ARGS... : run `ocibuild SUBCMD ARGS $REG_NET`; it must
# succeed and print exactly REG/REPO@sha256:... on stdout. Sets PUSHED (that
# line), PDIGEST (sha256:...), PREPO (repository).
reg_ob_push() {
    local sub=$1
    shift
    run "$OCIBUILD" "$sub" "$@" "${REG_NET[@]}"
    [ "$RC" -eq 0 ] || fail "ocibuild $sub $* exited $RC
stdout: $OUT
stderr: $ERR
registry log tail:
$(reg_access all | tail -n 15)"
    [[ $OUT =~ ^${REG//./\\.}/([a-z0-9._/-]+)@(sha256:[0-9a-f]{64})$ ]] \
        || fail "stdout of ocibuild $sub must be only $REG/REPO@sha256:..., got: '$OUT'"
    PUSHED=$OUT
    PREPO=${BASH_REMATCH[1]}
    PDIGEST=${BASH_REMATCH[2]}
}

# reg_json_events EVENT: digests of the blob events EVENT in the --json
# stderr $ERR, sorted
reg_json_events() {
    grep '^{' <<<"$ERR" | jq -r --arg e "$1" 'select(.event == $e) | .digest' | sort
}

# reg_remote_digest REF: digest of the manifest REF (repo:tag) as skopeo sees it
reg_remote_digest() {
    expect_ok skopeo inspect "${REG_SK[@]/--src-/--}" --raw "docker://$REG/$1"
    printf '%s' "$OUT" | sha256sum | sed 's/^/sha256:/; s/ .*//'
}

# reg_copy REF LAYOUT: skopeo copy docker://REG/REF to oci:LAYOUT:REF-tag
# and print the manifest digest skopeo stored
reg_copy() {
    local tag=${1##*:}
    expect_ok skopeo copy --retry-times 0 "${REG_SK[@]}" "docker://$REG/$1" "oci:$2:$tag"
    index_digest "$2" "$tag"
}

# reg_assert_remote_missing REF: the registry has no manifest REF
reg_assert_remote_missing() {
    run skopeo inspect "${REG_SK[@]/--src-/--}" --raw "docker://$REG/$1"
    [ "$RC" -ne 0 ] || fail "$REG/$1 exists, but should not: $OUT"
    assert_match "$ERR" '(manifest unknown|not found|name unknown)' "skopeo inspect of $REG/$1"
}

# reg_assert_one_error NEEDLE: $RC/$OUT/$ERR of a failed command: non-zero,
# not a crash, nothing on stdout, exactly one line of stderr mentions
# "error", starting with "ocibuild: error: " and containing NEEDLE (an ERE)
reg_assert_one_error() {
    local line
    [ "$RC" -ne 0 ] || fail "expected failure, got exit 0 (stdout: $OUT)"
    [ "$RC" -ne 124 ] || fail "timed out (stderr: $ERR)"
    [ "$RC" -lt 128 ] || fail "killed by a signal / crashed: exit $RC, stderr: $ERR"
    assert_eq "$OUT" "" "stdout on error"
    assert_eq "$(grep -ci 'error' <<<"$ERR" || true)" 1 "stderr lines mentioning 'error' (stderr: $ERR)"
    line=$(grep -i 'error' <<<"$ERR")
    assert_match "$line" '^ocibuild: error: .' "error line prefix"
    [[ $line =~ $1 ]] || fail "error line does not match /$1/: $line"
    REG_ERRLINE=$line
}

# reg_assert_no_password: REG_PASS is in none of stdout, stderr and the logs
reg_assert_no_password() {
    local f
    assert_not_contains "$OUT" "$REG_PASS" "password on stdout"
    assert_not_contains "$ERR" "$REG_PASS" "password on stderr"
    for f in "$REG_LOG" "${REG_TOKEN_LOG:-}"; do
        if [ -z "$f" ] || [ ! -f "$f" ]; then continue; fi
        if grep -qF -- "$REG_PASS" "$f"; then fail "password in $f"; fi
    done
}

# ------------------------------------------------------------ sources

# reg_src DIR [SEED]: a small tree; SEED changes one file's content
reg_src() {
    mkdir -p "$1/bin" "$1/etc"
    printf '#!/bin/sh\necho hello\n' >"$1/bin/run"
    chmod 0755 "$1/bin/run" "$1"
    echo "setting=${2:-1}" >"$1/etc/app.conf"
    echo "readme" >"$1/README"
}

# reg_base: push a one-layer base image to $REG/base:1 (fixed time); sets
# REG_BASE_DIGEST, REG_BASE_LAYER. Built with --no-cache, so that its layer
# reaches the cache only by being pulled, as a base from elsewhere would.
reg_base() {
    mkdir -p "$T/basesrc/lib"
    head -c 20000 /dev/urandom >"$T/basesrc/lib/libbase.so"
    echo "base" >"$T/basesrc/lib/VERSION"
    SOURCE_DATE_EPOCH=$REG_EPOCH reg_ob_push build --dir "$T/basesrc" --workdir /opt/base \
        -t base:1 --push "$REG" --env BASE=1 --no-cache
    REG_BASE_DIGEST=$PDIGEST
    expect_ok skopeo inspect "${REG_SK[@]/--src-/--}" --raw "docker://$REG/base:1"
    REG_BASE_LAYER=$(jq -r '.layers[0].digest' <<<"$OUT")
}

# ============================================================ per-mode cases

# push, then skopeo copies it back: same digest, same files
reg_case_push_copy() {
    reg_start "$1"
    reg_src "$T/src"
    reg_ob_push build --dir "$T/src" -t app:1 --push "$REG"
    assert_eq "$PREPO" app "repository in the pushed reference"
    local got
    got=$(reg_copy app:1 "$T/S")
    assert_eq "$got" "$PDIGEST" "digest skopeo copied vs ocibuild's stdout"
    assert_eq "$(reg_remote_digest app:1)" "$PDIGEST" "digest of the raw manifest"
    validate_layout "$T/S" 1
    umoci_unpack "$T/S" 1 "$T/bundle"
    assert_same_tree "$T/src" "$T/bundle/rootfs/app"
    # the uploads the registry saw are exactly the image's blobs
    local m want
    m=$(cat "$(blob "$T/S" "$PDIGEST")")
    want=$(jq -r '.config.digest, .layers[].digest' <<<"$m" | sort)
    assert_eq "$(reg_uploaded_digests | tr '\n' ' ')" "$(tr '\n' ' ' <<<"$want")" "uploaded blobs"
    reg_assert_no_password
}

# several -t of one name: every tag resolves to the same digest
reg_case_multi_tags() {
    reg_start "$1"
    reg_src "$T/src"
    reg_mark
    reg_ob_push build --dir "$T/src" -t multi:1 -t multi:latest -t multi:1.0.0 \
        --push "$REG" --image-refs "$T/refs"
    assert_eq "$PREPO" multi "repository"
    local t
    for t in 1 latest 1.0.0; do
        assert_eq "$(reg_remote_digest "multi:$t")" "$PDIGEST" "digest of multi:$t"
        assert_eq "$(reg_count "\"PUT /v2/multi/manifests/$t HTTP/[0-9.]+\" 201 ")" 1 "tag PUTs of $t"
    done
    assert_eq "$(reg_copy multi:latest "$T/S")" "$PDIGEST" "skopeo copy of multi:latest"
    # the blobs went up once, not once per tag
    assert_eq "$(reg_uploaded_digests | wc -l)" 2 "blob uploads for three tags"
    expect_ok skopeo list-tags "${REG_SK[@]/--src-/--}" "docker://$REG/multi"
    assert_eq "$(jq -c '.Tags | sort' <<<"$OUT")" '["1","1.0.0","latest"]' "tags of multi"
}

# build -o x.tar, then `ocibuild push x.tar`, under its own and another name
reg_case_push_archive() {
    reg_start "$1"
    reg_src "$T/src"
    ob_build --dir "$T/src" -t arch:1 -o "$T/x.tar"
    local built=$DIGEST
    reg_ob_push push "$T/x.tar" --push "$REG"
    assert_eq "$PUSHED" "$REG/arch@$built" "push of the archive (its own tag)"
    assert_eq "$(reg_remote_digest arch:1)" "$built" "arch:1"
    reg_ob_push push "$T/x.tar" --push "$REG/ns" -t other:7
    assert_eq "$PUSHED" "$REG/ns/other@$built" "push under -t other:7 below ns/"
    assert_eq "$(reg_copy ns/other:7 "$T/S")" "$built" "skopeo copy of ns/other:7"
    umoci_unpack "$T/S" 7 "$T/bundle"
    assert_same_tree "$T/src" "$T/bundle/rootfs/app"
    # a layout works too
    ob_build --dir "$T/src" -t lay:2 --layout "$T/L"
    reg_ob_push push "$T/L" --push "$REG"
    assert_eq "$PUSHED" "$REG/lay@$DIGEST" "push of a layout"
    assert_eq "$(reg_remote_digest lay:2)" "$DIGEST" "lay:2"
}

# pushing the same image again uploads nothing
reg_case_repush_noop() {
    reg_start "$1"
    reg_src "$T/src"
    export SOURCE_DATE_EPOCH=$REG_EPOCH
    reg_ob_push build --dir "$T/src" -t same:1 --push "$REG"
    local first=$PDIGEST
    reg_mark
    reg_ob_push build --dir "$T/src" -t same:1 --push "$REG" --json
    assert_eq "$PDIGEST" "$first" "digest of the unchanged rebuild"
    reg_assert_repush_noop
    assert_eq "$(reg_upload_starts)" 0 "upload sessions on the second push"
    assert_eq "$(reg_patches)" 0 "PATCH requests on the second push"
    assert_eq "$(reg_uploaded_digests | wc -l)" 0 "blob uploads on the second push"
    # --json: every blob event is "exists"
    local ev
    ev=$(grep '^{' <<<"$ERR" | jq -r 'select(.digest != null and (.event | test("^(exists|mounted|uploaded|cached|downloaded)$"))) | .event' | sort | uniq -c | sed 's/^ *//')
    assert_eq "$ev" "2 exists" "blob events of the second push (stderr: $ERR)"
    # and `ocibuild push` of the same image as an archive: nothing either
    ob_build --dir "$T/src" -t same:1 -o "$T/same.tar"
    assert_eq "$DIGEST" "$first" "archive digest"
    reg_mark
    reg_ob_push push "$T/same.tar" --push "$REG"
    reg_assert_repush_noop
    assert_eq "$(reg_upload_starts)" 0 "upload sessions on push of the archive"
    assert_eq "$(reg_uploaded_digests | wc -l)" 0 "blob uploads on push of the archive"
    assert_eq "$(reg_count '"(PUT|POST|PATCH) /v2/[^ ]*/blobs/')" 0 "blob writes"
}

# two images on one registry base differing in one file: the second push
# uploads only its own layer and config
reg_case_one_file_change() {
    reg_start "$1"
    export SOURCE_DATE_EPOCH=$REG_EPOCH
    reg_base
    reg_src "$T/v1" 1
    reg_src "$T/v2" 2
    reg_mark
    reg_ob_push build --dir "$T/v1" --base "$REG/base:1" -t rel:1 --push "$REG" --json
    local d1=$PDIGEST m1 m2
    # the base layer comes from the base repository by a cross-repo mount
    assert_eq "$(reg_json_events mounted)" "$REG_BASE_LAYER" "--json mounted events of rel:1 (stderr: $ERR)"
    assert_eq "$(reg_mounts_ok)" 1 "successful mount requests"
    assert_eq "$(reg_count "\"GET /v2/[^ ]*/blobs/$REG_BASE_LAYER ")" 0 \
        "downloads of the base layer (not needed locally when it can be mounted)"
    expect_ok skopeo inspect "${REG_SK[@]/--src-/--}" --raw "docker://$REG/rel:1"
    m1=$OUT
    assert_eq "$(jq '.layers | length' <<<"$m1")" 2 "layers of rel:1"
    assert_eq "$(jq -r '.layers[0].digest' <<<"$m1")" "$REG_BASE_LAYER" "rel:1 layer 0 = base layer"
    reg_mark
    reg_ob_push build --dir "$T/v2" --base "$REG/base:1" -t rel:2 --push "$REG" --json
    local ev_up ev_ex
    ev_up=$(reg_json_events uploaded | tr '\n' ' ')
    ev_ex=$(reg_json_events exists | tr '\n' ' ')
    assert_ne "$PDIGEST" "$d1" "digest after a change"
    expect_ok skopeo inspect "${REG_SK[@]/--src-/--}" --raw "docker://$REG/rel:2"
    m2=$OUT
    assert_eq "$(jq -r '.layers[0].digest' <<<"$m2")" "$REG_BASE_LAYER" "rel:2 layer 0 = base layer"
    assert_ne "$(jq -r '.layers[1].digest' <<<"$m2")" "$(jq -r '.layers[1].digest' <<<"$m1")" "app layer changed"
    local want
    want=$(jq -r '.layers[1].digest, .config.digest' <<<"$m2" | sort)
    assert_eq "$(reg_uploaded_digests | tr '\n' ' ')" "$(tr '\n' ' ' <<<"$want")" \
        "blobs uploaded for the changed image (registry log)"
    assert_eq "$(reg_upload_starts)" 2 "upload sessions for the changed image"
    assert_eq "$ev_up" "$(tr '\n' ' ' <<<"$want")" "--json uploaded events"
    assert_eq "$ev_ex" "$REG_BASE_LAYER " "--json exists events"
    assert_eq "$(reg_copy rel:2 "$T/S")" "$PDIGEST" "skopeo copy of rel:2"
    umoci_unpack "$T/S" 2 "$T/bundle"
    assert_eq "$(cat "$T/bundle/rootfs/app/etc/app.conf")" "setting=2" "changed file"
    assert_same_tree "$T/basesrc" "$T/bundle/rootfs/opt/base"
}

# ------------------------------------------------------------ credentials

# reg_fake_helper NAME MODE: $T/bin/docker-credential-NAME; MODE "ok" answers
# REG_USER/REG_PASS, "notfound" answers like a helper with nothing stored.
# Every call is logged to $T/helper.log as "ARGS | STDIN".
reg_fake_helper() {
    mkdir -p "$T/bin"
    local f=$T/bin/docker-credential-$1
    # shellcheck disable=SC2016  # the script's own $-expressions
    {
        echo '#!/bin/sh'
        echo 'in=$(cat)'
        echo "echo \"\$* | \$in\" >>'$T/helper.log'"
        echo '[ "$1" = get ] || exit 1'
        case "$2" in
            ok) printf "printf '{\"ServerURL\":\"%%s\",\"Username\":\"%s\",\"Secret\":\"%s\"}\\\\n' \"\$in\"\n" "$REG_USER" "$REG_PASS" ;;
            notfound) echo 'echo "credentials not found in native keychain"; exit 1' ;;
            *) fail "reg_fake_helper: mode $2" ;;
        esac
    } >"$f"
    chmod 0755 "$f"
    case ":$PATH:" in *":$T/bin:"*) ;; *) export PATH=$T/bin:$PATH ;; esac
}

reg_no_env_creds() {
    unset OCIBUILD_PUSH_USERNAME OCIBUILD_PUSH_PASSWORD OCIBUILD_PULL_USERNAME OCIBUILD_PULL_PASSWORD
}

# wrong credentials: one clear line, no password anywhere, nothing tagged
reg_case_wrong_password() {
    reg_start "$1"
    reg_src "$T/src"
    local bad='Wr0ng-pa55word-XYZ'
    export OCIBUILD_PUSH_PASSWORD=$bad OCIBUILD_PULL_PASSWORD=$bad
    run "$OCIBUILD" build --dir "$T/src" -t app:1 --push "$REG"
    reg_assert_one_error 'credentials|password|denied|unauthori'
    assert_contains "$REG_ERRLINE" "$REG" "error names the registry"
    assert_not_contains "$OUT$ERR" "$bad" "wrong password printed"
    reg_assert_no_password
    if grep -qF -- "$bad" "$REG_LOG" ${REG_TOKEN_LOG:+"$REG_TOKEN_LOG"}; then fail "wrong password in a server log"; fi
    # push of an archive and pull fail the same way
    ob_build --dir "$T/src" -t app:1 -o "$T/x.tar"
    run "$OCIBUILD" push "$T/x.tar" --push "$REG"
    reg_assert_one_error 'credentials|password|denied|unauthori'
    assert_not_contains "$OUT$ERR" "$bad" "wrong password printed by push"
    run "$OCIBUILD" pull "$REG/app:1" --layout "$T/L"
    reg_assert_one_error 'credentials|password|denied|unauthori'
    assert_not_contains "$OUT$ERR" "$bad" "wrong password printed by pull"
    # nothing was tagged
    reg_assert_remote_missing app:1
}

# ocibuild login: checks the password, stores it 0600, keeps other entries
reg_case_login() {
    reg_start "$1"
    reg_no_env_creds
    reg_src "$T/src"
    local bad='Wr0ng-login-pa55'
    # an existing config with other content
    jq -n '{auths: {"other.example.com": {auth: "b3RoZXI6b3RoZXI="}}, psFormat: "keep me"}' \
        >"$DOCKER_CONFIG/config.json"
    chmod 0600 "$DOCKER_CONFIG/config.json"
    cp -p "$DOCKER_CONFIG/config.json" "$T/config.before"
    run "$OCIBUILD" login "$REG" -u "$REG_USER" --password-stdin <<<"$bad"
    reg_assert_one_error 'credentials|password|denied|unauthori|refused'
    assert_not_contains "$OUT$ERR" "$bad" "wrong password printed"
    cmp -s "$DOCKER_CONFIG/config.json" "$T/config.before" || fail "a failed login changed config.json"
    # right password
    run "$OCIBUILD" login "$REG" -u "$REG_USER" --password-stdin <<<"$REG_PASS"
    [ "$RC" -eq 0 ] || fail "login failed: $ERR"
    assert_eq "$OUT" "" "stdout of login"
    reg_assert_no_password
    assert_eq "$(stat -c %a "$DOCKER_CONFIG/config.json")" 600 "mode of config.json"
    local c
    c=$(cat "$DOCKER_CONFIG/config.json")
    assert_eq "$(jq -r --arg r "$REG" '.auths[$r].auth' <<<"$c" | base64 -d)" "$REG_USER:$REG_PASS" "stored auth"
    assert_eq "$(jq -r '.auths["other.example.com"].auth' <<<"$c")" "b3RoZXI6b3RoZXI=" "other registry kept"
    assert_eq "$(jq -r .psFormat <<<"$c")" "keep me" "other keys kept"
    # a push with no other credentials uses it
    reg_ob_push build --dir "$T/src" -t app:1 --push "$REG"
    reg_assert_no_password
    assert_eq "$(reg_copy app:1 "$T/S")" "$PDIGEST" "skopeo copy after login"
    # a later wrong login leaves the stored one alone
    cp -p "$DOCKER_CONFIG/config.json" "$T/config.after"
    run "$OCIBUILD" login "$REG" -u "$REG_USER" --password-stdin <<<"$bad"
    reg_assert_one_error 'credentials|password|denied|unauthori|refused'
    cmp -s "$DOCKER_CONFIG/config.json" "$T/config.after" || fail "a failed login changed config.json"
    reg_assert_no_password
}

# ------------------------------------------------------------ fault proxy

# reg_proxy_start ARGS...: start tests/e2e/registry/fault_proxy.py in front
# of the registry $REG with ARGS (--redirect-blobs, --corrupt-store,
# --fail-first ...); it is stopped with the registry on exit. Sets
#   REG_PROXY        127.0.0.1:PORT of the proxy (use it as the registry)
#   REG_PROXY_STORE  127.0.0.1:PORT of its object store
#   REG_PROXY_LOG    its log (a new file per start), REG_PROXY_PID
reg_proxy_start() {
    local d=$T/reg i
    mkdir -p "$d"
    REG_PROXY_N=$(( ${REG_PROXY_N:-0} + 1 ))
    REG_PROXY_LOG=$d/proxy.$REG_PROXY_N.log
    : >"$REG_PROXY_LOG"
    rm -f "$d/proxy.port"
    "$PY" "$REG_HELPERS/fault_proxy.py" --upstream "$REG" --log "$REG_PROXY_LOG" \
        --port-file "$d/proxy.port" "$@" >"$d/proxy.$REG_PROXY_N.stderr" 2>&1 &
    REG_PROXY_PID=$!
    trap reg_proxy_teardown EXIT
    for i in $(seq 1 100); do
        [ -s "$d/proxy.port" ] && break
        reg_alive "$REG_PROXY_PID" || fail "fault proxy died: $(cat "$d/proxy.$REG_PROXY_N.stderr")"
        sleep 0.05
    done
    [ -s "$d/proxy.port" ] || fail "fault proxy did not start: $(cat "$d/proxy.$REG_PROXY_N.stderr")"
    REG_PROXY=127.0.0.1:$(sed -n 1p "$d/proxy.port")
    REG_PROXY_STORE=127.0.0.1:$(sed -n 2p "$d/proxy.port")
}

reg_proxy_stop() {
    reg_kill "${REG_PROXY_PID:-}"
    REG_PROXY_PID=''
}

reg_proxy_teardown() {
    reg_proxy_stop
    reg_teardown
}

# reg_proxy_gaps: for every injected failure in $REG_PROXY_LOG, one line
# "METHOD PATH GAP": GAP is the time in seconds from that failure to the next
# request with the same method and path ("none" if there was none)
reg_proxy_gaps() {
    "$PY" - "$REG_PROXY_LOG" <<'PYEOF'
import sys
rows = []
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 5 and f[1] == "injected":
        rows.append((float(f[0]), True, f[3], f[4]))
    elif len(f) >= 4 and f[1] in ("forward", "redirect"):
        rows.append((float(f[0]), False, f[2], f[3]))
for t, inj, m, p in sorted(rows):
    if not inj:
        continue
    nxt = [t2 for t2, _, m2, p2 in rows if m2 == m and p2 == p and t2 > t]
    print(m, p, "%.3f" % (min(nxt) - t) if nxt else "none")
PYEOF
}

# reg_proxy_assert_no_password: REG_PASS is not in the proxy's logs
reg_proxy_assert_no_password() {
    local f
    for f in "$T"/reg/proxy.*; do
        [ -f "$f" ] || continue
        if grep -qF -- "$REG_PASS" "$f"; then fail "password in $f"; fi
    done
}

# blobs go up several at a time (--jobs, default 4): with every upload PUT
# held 1 s by the proxy, the two PUTs of a push arrive together; with -j 1
# the second only arrives after the first was answered
reg_put_arrivals() {  # arrival times of the upload PUTs of REPO, sorted
    grep -E " forward PUT /v2/$1/blobs/uploads/[^ ]+ -> 201" "$REG_PROXY_LOG" | awk '{ print $1 }' | sort -n
}
