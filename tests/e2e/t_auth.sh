# shellcheck shell=bash
# Hostile surroundings for credentials and recorded URLs: credential helpers
# that hang, fork or flood; auth files that are FIFOs; `ocibuild login` with a
# credsStore and a symlinked config.json; secrets in the URLs an image
# records (source annotation, SBOM); a tree deeper than PATH_MAX; an SBOM too
# large to write.
#
# Registry helpers (reg_*) come from t_registry.sh, release fixtures (rel_*)
# from t_release.sh. All helpers here are prefixed auth_.

# auth_helper NAME BODY: $T/bin/docker-credential-NAME running BODY (sh) after
# logging "ARGS | STDIN" to $T/helper.log and its pid to $T/NAME.pid
auth_helper() {
    mkdir -p "$T/bin"
    local f=$T/bin/docker-credential-$1
    # shellcheck disable=SC2016  # the script's own $-expressions
    {
        echo '#!/bin/sh'
        echo "echo \$\$ >'$T/$1.pid'"
        echo 'in=$(cat)'
        echo "echo \"\$* | \$in\" >>'$T/helper.log'"
        printf '%s\n' "$2"
    } >"$f"
    chmod 0755 "$f"
    case ":$PATH:" in *":$T/bin:"*) ;; *) export PATH=$T/bin:$PATH ;; esac
}

# the JSON a helper answers with the registry's user and password
auth_answer() {
    printf "printf '{\"ServerURL\":\"%%s\",\"Username\":\"%s\",\"Secret\":\"%s\"}\\\\n' \"\$in\"" \
        "$REG_USER" "$REG_PASS"
}

# auth_gone PIDFILE: the process whose pid is in PIDFILE has ended (waits a
# little: a SIGKILLed process takes a moment to be reaped by init)
auth_gone() {
    local pid i
    pid=$(cat "$1") || fail "no pid file $1"
    [ -n "$pid" ] || fail "empty pid file $1 (a helper started again?)"
    for i in $(seq 1 50); do
        reg_alive "$pid" || return 0
        sleep 0.1
    done
    fail "process $pid ($1) is still running: $(tr '\0' ' ' <"/proc/$pid/cmdline")"
}

# auth_wait_file FILE: wait (bounded) until FILE exists
auth_wait_file() {
    local i
    for i in $(seq 1 200); do
        [ -s "$1" ] && return 0
        sleep 0.05
    done
    fail "$1 did not appear"
}

# auth_setup: a Basic-auth registry, no credentials in the environment, an
# image archive to push ($T/x.tar)
auth_setup() {
    reg_start basic
    reg_no_env_creds
    reg_src "$T/src"
    ob_build --dir "$T/src" -t app:1 -o "$T/x.tar"
}

# ------------------------------------------------------------ credential helpers

# a helper that never answers: stopped after OCIBUILD_CRED_HELPER_TIMEOUT
# seconds with an error that names the limit, its whole process group killed
test_auth_helper_timeout() {
    auth_setup
    auth_helper slow "sleep 60 & echo \$! >'$T/slow-child.pid'; wait"
    jq -n --arg r "$REG" '{credHelpers: {($r): "slow"}}' >"$DOCKER_CONFIG/config.json"
    OCIBUILD_CRED_HELPER_TIMEOUT=1 run timeout -k 5 30 "$OCIBUILD" push "$T/x.tar" --push "$REG"
    [ "$RC" -ne 124 ] || fail "ocibuild waited for the helper beyond its time limit"
    reg_assert_one_error "docker-credential-slow"
    assert_contains "$REG_ERRLINE" "1 s" "the error names the time limit"
    assert_contains "$REG_ERRLINE" "OCIBUILD_CRED_HELPER_TIMEOUT" "the error names the setting"
    auth_gone "$T/slow.pid"
    auth_gone "$T/slow-child.pid"
    reg_assert_remote_missing app:1
    # a value that is not a number of seconds is refused, naming it
    jq -n '{credsStore: "slow"}' >"$DOCKER_CONFIG/config.json"
    OCIBUILD_CRED_HELPER_TIMEOUT=soon run timeout -k 5 30 "$OCIBUILD" push "$T/x.tar" --push "$REG"
    reg_assert_one_error "OCIBUILD_CRED_HELPER_TIMEOUT"
}

# a helper that answers, then leaves a background child holding its stdout:
# the answer is used as soon as the helper itself has exited
test_auth_helper_background_child() {
    auth_setup
    auth_helper bg "$(auth_answer)
sleep 60 &
echo \$! >'$T/bg-child.pid'"
    jq -n '{credsStore: "bg"}' >"$DOCKER_CONFIG/config.json"
    run timeout -k 5 30 "$OCIBUILD" push "$T/x.tar" --push "$REG"
    kill "$(cat "$T/bg-child.pid")" 2>/dev/null || true
    [ "$RC" -ne 124 ] || fail "ocibuild waited for the helper's background child"
    [ "$RC" -eq 0 ] || fail "push with the helper's answer failed (exit $RC): $ERR"
    assert_eq "$(sort -u "$T/helper.log")" "get | $REG" "helper calls"
    reg_assert_no_password
    assert_eq "$(reg_copy app:1 "$T/S")" "${OUT#*@}" "skopeo copy"
}

# a helper that answers megabytes: refused, naming the limit
test_auth_helper_output_capped() {
    auth_setup
    auth_helper flood "head -c 3000000 /dev/zero | tr '\\0' x"
    jq -n '{credsStore: "flood"}' >"$DOCKER_CONFIG/config.json"
    run timeout -k 5 30 "$OCIBUILD" push "$T/x.tar" --push "$REG"
    reg_assert_one_error "docker-credential-flood.*more than [0-9]+ bytes"
}

# Ctrl-C while `ocibuild login` waits for the credsStore helper to store the
# password: exit 130 at once, the helper killed
test_auth_helper_sigint() {
    reg_start basic
    reg_no_env_creds
    auth_helper slow "sleep 60 & echo \$! >'$T/slow-child.pid'; wait"
    jq -n '{credsStore: "slow"}' >"$DOCKER_CONFIG/config.json"
    timeout -k 5 30 "$OCIBUILD" login "$REG" -u "$REG_USER" --password-stdin \
        <<<"$REG_PASS" >"$T/out" 2>"$T/err" &
    local pid=$! rc=0
    auth_wait_file "$T/slow-child.pid"
    # the signal goes to ocibuild only (timeout runs it as its child)
    pkill -INT -P "$pid" -x ocibuild || kill -INT "$(pgrep -P "$pid")"
    wait "$pid" || rc=$?
    [ "$rc" -ne 124 ] || fail "Ctrl-C was ignored while the helper ran: $(cat "$T/err")"
    assert_eq "$rc" 130 "exit status after SIGINT (stderr: $(cat "$T/err"))"
    assert_eq "$(grep -c 'error' "$T/err" || true)" 1 "error lines"
    auth_gone "$T/slow.pid"
    auth_gone "$T/slow-child.pid"
    assert_not_contains "$(cat "$T/out" "$T/err")" "$REG_PASS" "password printed"
}

# the same while a push waits for a helper's `get` (the registry's
# credential lookup, not login's store)
test_auth_helper_sigint_push() {
    auth_setup
    auth_helper slow "sleep 60 & echo \$! >'$T/slow-child.pid'; wait"
    jq -n '{credsStore: "slow"}' >"$DOCKER_CONFIG/config.json"
    timeout -k 5 30 "$OCIBUILD" push "$T/x.tar" --push "$REG" >"$T/out" 2>"$T/err" &
    local pid=$! rc=0
    auth_wait_file "$T/slow-child.pid"
    pkill -INT -P "$pid" -x ocibuild || kill -INT "$(pgrep -P "$pid")"
    wait "$pid" || rc=$?
    [ "$rc" -ne 124 ] || fail "Ctrl-C was ignored while the helper ran: $(cat "$T/err")"
    assert_eq "$rc" 130 "exit status after SIGINT (stderr: $(cat "$T/err"))"
    auth_gone "$T/slow.pid"
    auth_gone "$T/slow-child.pid"
    reg_assert_remote_missing app:1
}

# a credential helper that fails is run once per registry, not again by
# each upload worker that meets the registry's 401 (a slow or interrupted
# helper would otherwise be started anew while the push winds down)
test_auth_helper_failure_not_retried() {
    auth_setup
    auth_helper slow "sleep 0.5; echo 'no credentials here' >&2; exit 1"
    jq -n '{credsStore: "slow"}' >"$DOCKER_CONFIG/config.json"
    run timeout -k 5 30 "$OCIBUILD" push "$T/x.tar" --push "$REG" --jobs 4
    [ "$RC" -eq 1 ] || fail "push exited $RC: $ERR"
    reg_assert_one_error "docker-credential-slow failed to get the credentials"
    assert_eq "$(wc -l <"$T/helper.log")" 1 "helper runs ($(cat "$T/helper.log"))"
    reg_assert_remote_missing app:1
}

# ------------------------------------------------------------ auth files

# a FIFO (or a directory) where config.json or the containers auth file should
# be: one line of error at once, nothing read from it
test_auth_file_not_regular() {
    auth_setup
    mkfifo "$DOCKER_CONFIG/config.json"
    run timeout -k 5 30 "$OCIBUILD" push "$T/x.tar" --push "$REG"
    [ "$RC" -ne 124 ] || fail "ocibuild blocked on a FIFO config.json"
    reg_assert_one_error "config.json' is not a regular file"
    run timeout -k 5 30 "$OCIBUILD" login "$REG" -u "$REG_USER" --password-stdin <<<"$REG_PASS"
    reg_assert_one_error "config.json' is not a regular file"
    [ -p "$DOCKER_CONFIG/config.json" ] || fail "login replaced the FIFO"
    rm "$DOCKER_CONFIG/config.json"
    mkfifo "$T/auth.json"
    REGISTRY_AUTH_FILE=$T/auth.json run timeout -k 5 30 "$OCIBUILD" push "$T/x.tar" --push "$REG"
    [ "$RC" -ne 124 ] || fail "ocibuild blocked on a FIFO auth file"
    reg_assert_one_error "auth.json' is not a regular file"
    mkdir "$T/auth.d"
    REGISTRY_AUTH_FILE=$T/auth.d run timeout -k 5 30 "$OCIBUILD" push "$T/x.tar" --push "$REG"
    reg_assert_one_error "auth.d' is not a regular file"
    # a huge file is refused, naming the limit
    head -c 5000000 /dev/zero | tr '\0' ' ' >"$DOCKER_CONFIG/config.json"
    run timeout -k 5 30 "$OCIBUILD" push "$T/x.tar" --push "$REG"
    reg_assert_one_error "config.json' is larger than [0-9]+ bytes"
    reg_assert_remote_missing app:1
}

# ------------------------------------------------------------ login

# a fake store: `store` keeps stdin in $T/store.json, `get` answers it
auth_store_helper() {
    # shellcheck disable=SC2016
    auth_helper "$1" 'case "$1" in
store) printf %s "$in" >"'"$T"'/store.json" ;;
get) if [ -f "'"$T"'/store.json" ]; then cat "'"$T"'/store.json"; else echo "credentials not found in native keychain"; exit 1; fi ;;
*) exit 1 ;;
esac'
}

# with credsStore, login stores through the helper as `docker login` does:
# the password never lands in config.json
test_auth_login_creds_store() {
    reg_start basic
    reg_no_env_creds
    reg_src "$T/src"
    auth_store_helper teststore
    jq -n '{credsStore: "teststore", auths: {"other.example.com": {auth: "b3RoZXI6b3RoZXI="}}}' \
        >"$DOCKER_CONFIG/config.json"
    run timeout -k 5 60 "$OCIBUILD" login "$REG" -u "$REG_USER" --password-stdin <<<"$REG_PASS"
    [ "$RC" -eq 0 ] || fail "login failed (exit $RC): $ERR"
    reg_assert_no_password
    assert_file "$T/store.json" "the helper did not store:"
    assert_eq "$(jq -c . "$T/store.json")" \
        "$(jq -nc --arg s "$REG" --arg u "$REG_USER" --arg p "$REG_PASS" '{ServerURL: $s, Username: $u, Secret: $p}')" \
        "what the helper got on stdin"
    assert_eq "$(grep -c '^store | ' "$T/helper.log")" 1 "store calls"
    local c
    c=$(cat "$DOCKER_CONFIG/config.json")
    assert_not_contains "$c" "$REG_PASS" "password in config.json"
    assert_not_contains "$c" "$(printf '%s:%s' "$REG_USER" "$REG_PASS" | base64 -w0)" "auth in config.json"
    assert_eq "$(jq -c --arg r "$REG" '.auths[$r]' <<<"$c")" "{}" "config.json entry for the registry"
    assert_eq "$(jq -r '.auths["other.example.com"].auth' <<<"$c")" "b3RoZXI6b3RoZXI=" "other registry kept"
    assert_eq "$(jq -r .credsStore <<<"$c")" teststore "credsStore kept"
    # a push finds the stored credentials through the helper
    reg_ob_push build --dir "$T/src" -t app:1 --push "$REG"
    reg_assert_no_password
    # credHelpers for the registry wins over credsStore
    rm -f "$T/store.json"
    auth_store_helper perhost
    jq --arg r "$REG" '.credHelpers = {($r): "perhost"}' "$DOCKER_CONFIG/config.json" >"$T/c.json"
    cp "$T/c.json" "$DOCKER_CONFIG/config.json"
    run timeout -k 5 60 "$OCIBUILD" login "$REG" -u "$REG_USER" --password-stdin <<<"$REG_PASS"
    [ "$RC" -eq 0 ] || fail "login failed (exit $RC): $ERR"
    assert_eq "$(grep -c '^store | ' "$T/helper.log")" 2 "store calls"
    assert_eq "$(jq -r .Secret "$T/store.json")" "$REG_PASS" "stored by the credHelpers helper"
    assert_not_contains "$(cat "$DOCKER_CONFIG/config.json")" "$REG_PASS" "password in config.json"
    # a helper that fails to store: login fails, config.json unchanged
    auth_helper teststore 'exit 3'
    jq -n '{credsStore: "teststore"}' >"$DOCKER_CONFIG/config.json"
    cp "$DOCKER_CONFIG/config.json" "$T/c.before"
    run timeout -k 5 60 "$OCIBUILD" login "$REG" -u "$REG_USER" --password-stdin <<<"$REG_PASS"
    reg_assert_one_error "docker-credential-teststore"
    cmp -s "$DOCKER_CONFIG/config.json" "$T/c.before" || fail "a failed store changed config.json"
    reg_assert_no_password
}

# a symlinked config.json stays a symlink; the target is replaced atomically
test_auth_login_symlink() {
    reg_start basic
    reg_no_env_creds
    mkdir -p "$T/dotfiles/docker"
    jq -n '{psFormat: "keep me"}' >"$T/dotfiles/docker/config.json"
    ln -s ../dotfiles/docker/config.json "$DOCKER_CONFIG/config.json"
    run timeout -k 5 60 "$OCIBUILD" login "$REG" -u "$REG_USER" --password-stdin <<<"$REG_PASS"
    [ "$RC" -eq 0 ] || fail "login failed (exit $RC): $ERR"
    [ -L "$DOCKER_CONFIG/config.json" ] || fail "config.json is no longer a symlink"
    assert_eq "$(readlink "$DOCKER_CONFIG/config.json")" ../dotfiles/docker/config.json "symlink target"
    assert_eq "$(jq -r .psFormat "$T/dotfiles/docker/config.json")" "keep me" "other keys kept"
    assert_eq "$(jq -r --arg r "$REG" '.auths[$r].auth' "$T/dotfiles/docker/config.json" | base64 -d)" \
        "$REG_USER:$REG_PASS" "stored in the target"
    assert_dir_listing "$T/dotfiles/docker" "config.json"
    # a chain of symlinks, the last one dangling: the file is created there
    rm "$DOCKER_CONFIG/config.json"
    ln -s "$T/link2" "$DOCKER_CONFIG/config.json"
    ln -s "$T/dotfiles/new.json" "$T/link2"
    run timeout -k 5 60 "$OCIBUILD" login "$REG" -u "$REG_USER" --password-stdin <<<"$REG_PASS"
    [ "$RC" -eq 0 ] || fail "login failed (exit $RC): $ERR"
    [ -L "$DOCKER_CONFIG/config.json" ] && [ -L "$T/link2" ] || fail "a symlink of the chain was replaced"
    assert_eq "$(jq -r --arg r "$REG" '.auths[$r].auth' "$T/dotfiles/new.json" | base64 -d)" \
        "$REG_USER:$REG_PASS" "stored at the end of the chain"
    assert_eq "$(stat -c %a "$T/dotfiles/new.json")" 600 "mode of the new file"
    # and a push reads it through the links
    reg_src "$T/src"
    reg_ob_push build --dir "$T/src" -t app:1 --push "$REG"
    reg_assert_no_password
}

# ------------------------------------------------------------ recorded URLs

# secrets in the query, fragment or userinfo of the origin URL and of a git
# dependency's URL end up nowhere in the image
test_auth_url_secrets_dropped() {
    rel_fixture relx
    unset "${REL_CI_VARS[@]}"
    local P=$T/proj L f
    rel_git_project "$P" 'https://gitlab.example.com/org/app.git?private_token=TOPSECRET1#TOPSECRET2'
    # a git dependency whose URL carries a token, in the lock file
    cat >"$P/rebar.lock" <<'EOF'
{"1.2.0",
[{<<"mydep">>,{git,"https://u:TOPSECRET3@git.example.com/org/mydep.git?tok=TOPSECRET4#TOPSECRET5",{ref,"0123456789abcdef0123456789abcdef01234567"}},0},
 {<<"ghdep">>,{git,"https://github.com/org/ghdep.git?tok=TOPSECRET6",{ref,"89abcdef0123456789abcdef0123456789abcdef"}},0}]}.
EOF
    L=$T/L
    ob_build --project "$P" --sbom "$T/sbom.json" -t a:1 --layout "$L"
    assert_eq "$(rel_ann "$L" a:1 org.opencontainers.image.source)" https://gitlab.example.com/org/app "source annotation"
    assert_eq "$(jq -r '.packages[] | select(.name == "mydep") | .downloadLocation' "$T/sbom.json")" \
        "git+https://git.example.com/org/mydep@0123456789abcdef0123456789abcdef01234567" "download location"
    assert_not_contains "$(jq -r '.packages[] | select(.name == "mydep") | .externalRefs[].referenceLocator' "$T/sbom.json")" \
        "?tok" "purl"
    # ghdep is locked but not in the image
    assert_eq "$(jq -r '[.packages[] | select(.name == "ghdep")] | length' "$T/sbom.json")" 0 "ghdep in the SBOM"
    assert_not_contains "$BUILD_ERR" TOPSECRET "stderr"
    for f in "$L/index.json" "$L"/blobs/sha256/* "$T/sbom.json"; do
        if gzip -t "$f" 2>/dev/null; then
            if gzip -dc "$f" | grep -aqF TOPSECRET; then fail "a secret of a URL is in layer $f"; fi
        elif grep -aqF TOPSECRET "$f"; then
            fail "a secret of a URL is in $f: $(grep -aoF -m1 'TOPSECRET' "$f")"
        fi
    done
    # the same from a CI variable
    CI_PROJECT_URL='https://gitlab.example.com/org/app?private_token=TOPSECRET7' CI_COMMIT_SHA=0123456789abcdef0123456789abcdef01234567 \
        ob_build --project "$P" -t a:1 --layout "$T/L2"
    assert_eq "$(rel_ann "$T/L2" a:1 org.opencontainers.image.source)" https://gitlab.example.com/org/app "source from CI_PROJECT_URL"
}

# ------------------------------------------------------------ limits

# a path longer than PATH_MAX: refused by the walk, naming it and the limit
test_auth_walk_path_max() {
    local d=$T/src i name
    name=$(printf 'd%.0s' $(seq 1 200))
    mkdir -p "$d"
    echo hi >"$d/top"
    (
        cd "$d"
        for i in $(seq 1 22); do
            mkdir "$name$i"
            cd "$name$i"
        done
        echo deep >leaf-file
    )
    run timeout -k 5 60 "$OCIBUILD" build --dir "$d" -t app:1 -o "$T/x.tar"
    reg_assert_one_error "longer than"
    assert_contains "$REG_ERRLINE" "4096" "the error names the limit"
    assert_contains "$REG_ERRLINE" "$d/" "the error names the tree"
    assert_contains "$REG_ERRLINE" "..." "the path is shortened"
    [ "${#REG_ERRLINE}" -lt 1000 ] || fail "error line of ${#REG_ERRLINE} characters"
    assert_no_path "$T/x.tar"
}

# a lock file of 90000 entries, one of them in the release: the SBOM lists
# what the image holds, so it stays small (its size limit is tested in
# tests/unit/test_sbom.c)
test_auth_sbom_huge_lock() {
    rel_fixture relx
    {
        echo '{"1.2.0",'
        echo '[{<<"mydep">>,{pkg,<<"mydep">>,<<"1.2.3">>},0}'
        seq 1 90000 | awk '{ printf ",{<<\"dependency_number_%06d\">>,{pkg,<<\"dependency_number_%06d\">>,<<\"1.0.%d\">>},1}\n", $1, $1, $1 }'
        echo ']}.'
    } >"$T/rebar.lock"
    ob_build --release "$REL_DIR" --lock "$T/rebar.lock" --sbom "$T/sbom.json" -t a:1 -o "$T/x.tar"
    assert_eq "$(jq -r '[.packages[] | select(.name | startswith("dependency_number_"))] | length' "$T/sbom.json")" 0 \
        "locked packages that are not in the image"
    assert_eq "$(jq -r '.packages[] | select(.name == "mydep") | .SPDXID' "$T/sbom.json")" SPDXRef-Package-hex-mydep "mydep"
}
