# shellcheck shell=bash
# Registry features: build --push, ocibuild push/pull/login, registry bases,
# the blob cache, cross-repository mounts, chunked uploads, credentials
# (environment, config.json, credential helpers), TLS with a private CA and
# token auth (tests/e2e/registry/token_server.py), token refresh and a
# registry that dies in the middle of an upload.
#
# Every test runs its own registry (Debian's docker-registry, CNCF
# distribution 2.8) on a free port of 127.0.0.1, with its storage, config and
# log below $T, and stops it (and the token server) on exit. Its access log
# (lines starting with "127.0.0.1 - ") is how the tests count requests.
#
# The main flows run once per registry mode:
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
    reg_launch
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
        [ "$code" != 000 ] && return 0
        reg_alive "$REG_PID" || fail "registry exited: $(tail -n 20 "$REG_LOG")"
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
# REG_BASE_DIGEST, REG_BASE_LAYER
reg_base() {
    mkdir -p "$T/basesrc/lib"
    head -c 20000 /dev/urandom >"$T/basesrc/lib/libbase.so"
    echo "base" >"$T/basesrc/lib/VERSION"
    SOURCE_DATE_EPOCH=$REG_EPOCH reg_ob_push build --dir "$T/basesrc" --workdir /opt/base \
        -t base:1 --push "$REG" --env BASE=1
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
    assert_eq "$(reg_copy team/app:1 "$T/A")" "$PDIGEST" "skopeo copy of team/app:1"
    assert_eq "$(reg_copy team/app-mirror:1 "$T/B")" "$PDIGEST" "skopeo copy of team/app-mirror:1"
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
    local i
    for i in $(seq 1 1500); do
        grep -q '"PATCH /v2/slow/' "$REG_LOG" && break
        reg_alive "$REG_OB_PID" || break
        sleep 0.01
    done
    grep -q '"PATCH /v2/slow/' "$REG_LOG" || fail "no PATCH seen: $(cat "$T/ob.err")"
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
    local i
    for i in $(seq 1 3000); do
        grep -q '"PATCH /v2/big/' "$REG_LOG" && break
        reg_alive "$REG_OB_PID" || break
        sleep 0.005
    done
    grep -q '"PATCH /v2/big/' "$REG_LOG" || fail "no PATCH seen: $(cat "$T/ob.err")"
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
    local i
    for i in $(seq 1 3000); do
        grep -q '"PATCH /v2/big/' "$REG_LOG" && break
        reg_alive "$REG_OB_PID" || break
        sleep 0.005
    done
    grep -q '"PATCH /v2/big/' "$REG_LOG" || fail "no PATCH seen: $(cat "$T/ob.err")"
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

# blobs go up several at a time (--jobs, default 4): with every upload PUT
# held 1 s by the proxy, the two PUTs of a push arrive together; with -j 1
# the second only arrives after the first was answered
reg_put_arrivals() {  # arrival times of the upload PUTs of REPO, sorted
    grep -E " forward PUT /v2/$1/blobs/uploads/[^ ]+ -> 201" "$REG_PROXY_LOG" | awk '{ print $1 }' | sort -n
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
