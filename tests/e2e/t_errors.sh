# shellcheck shell=bash
# Error handling: exit codes, one clear stderr line, nothing left behind.

# assert_error WANT_RC NEEDLE: checks $RC/$OUT/$ERR of the last run.
# WANT_RC is 1, 2 or "nonzero". Exactly one stderr line mentions "error" and it
# starts with "ocibuild: error: " and contains NEEDLE; for usage errors (2) that
# line is the whole of stderr. Nothing on stdout.
assert_error() {
    local want=$1 needle=$2 lines
    [ "$RC" -ne 124 ] || fail "timed out"
    [ "$RC" -ne 0 ] || fail "expected failure, got exit 0 (stdout: $OUT)"
    if [ "$want" != nonzero ]; then
        assert_eq "$RC" "$want" "exit code (stderr: $ERR)"
    fi
    [ "$RC" -lt 128 ] || fail "killed by a signal / crashed: exit $RC, stderr: $ERR"
    assert_eq "$OUT" "" "stdout on error"
    lines=$(grep -ci 'error' <<<"$ERR" || true)
    assert_eq "$lines" 1 "number of stderr lines mentioning 'error' (stderr: $ERR)"
    local line
    line=$(grep -i 'error' <<<"$ERR")
    assert_match "$line" '^ocibuild: error: .' "error line prefix"
    assert_contains "$line" "$needle" "error line must name the problem"
    if [ "$want" = 2 ]; then
        assert_eq "$(grep -c '' <<<"$ERR")" 1 "stderr lines for a usage error (stderr: $ERR)"
    fi
}

# ob_fail WANT_RC NEEDLE BUILD-ARGS...
ob_fail() {
    local want=$1 needle=$2
    shift 2
    run "$OCIBUILD" build "$@"
    assert_error "$want" "$needle"
}

small_src() { mkdir -p "$T/src" && echo hi >"$T/src/hi.txt"; mkdir -p "$T/out"; }

test_err_missing_required_flags() {
    small_src
    ob_fail 2 --dir -t a:1 -o "$T/out/img.tar"
    ob_fail 2 "" --dir "$T/src" -o "$T/out/img.tar"            # no -t
    assert_match "$ERR" '(-t|--tag)' "missing tag message"
    ob_fail 2 "" --dir "$T/src" -t a:1                          # no output
    assert_match "$ERR" '(-o|--layout)' "missing output message"
    assert_dir_listing "$T/out" ""
}

test_err_dir_does_not_exist() {
    mkdir "$T/out"
    ob_fail 1 "$T/nope" --dir "$T/nope" -t a:1 -o "$T/out/img.tar"
    assert_dir_listing "$T/out" ""
    echo "a file" >"$T/plainfile"
    ob_fail nonzero "$T/plainfile" --dir "$T/plainfile" -t a:1 --layout "$T/out/L"
    assert_dir_listing "$T/out" ""
}

# An empty --dir is no --dir (as for a release's defaults in the CLI):
# alone it is no input, beside --release the release is the input.
test_err_empty_dir() {
    mkdir "$T/out"
    ob_fail 2 "no input" --dir "" -t a:1 -o "$T/out/img.tar"
    ob_fail 1 "$T/norel" --dir "" --release "$T/norel" -t a:1 -o "$T/out/img.tar"
    ob_fail 1 "$T/norel" --dir "" --release "$T/norel" --bundle-runtime -t a:1 -o "$T/out/img.tar"
    assert_dir_listing "$T/out" ""
}

# special_file_case KIND CREATE-CMD: a special file deep in an otherwise valid
# tree must be refused, naming it, for both output kinds.
special_file_case() {
    mk_tree "$T/src"
    mkdir "$T/out"
    "$@"
    ob_fail 1 "weird" --dir "$T/src" -t a:1 -o "$T/out/img.tar"
    assert_dir_listing "$T/out" ""
    ob_fail 1 "weird" --dir "$T/src" -t a:1 -o "$T/out/img.tar.gz"
    assert_dir_listing "$T/out" ""
    ob_fail 1 "weird" --dir "$T/src" -t a:1 --layout "$T/out/L"
    assert_dir_listing "$T/out" ""
}

test_err_fifo_in_tree() {
    special_file_case mkfifo "$T/src/sub/weird-fifo"
}

test_err_socket_in_tree() {
    special_file_case "$PY" -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
        "$T/src/sub/deeper/weird.sock"
}

test_err_device_in_tree() {
    special_file_case mknod "$T/src/weird-null" c 1 3
}

test_err_unreadable_file() {
    # Root reads everything, so run the binary as an unprivileged user.
    command -v setpriv >/dev/null || skip "setpriv not installed"
    mkdir -p "$T/src/sub" && echo a >"$T/src/a" && echo b >"$T/src/sub/b"
    mkdir "$T/out" && chmod 0777 "$T/out"
    cp "$OCIBUILD" "$T/ocibuild-copy" && chmod 0755 "$T/ocibuild-copy"
    local asnobody=(setpriv --reuid 65534 --regid 65534 --clear-groups --inh-caps=-all)
    "${asnobody[@]}" test -r "$T/src/sub/b" || skip "user 65534 cannot reach $T (TMPDIR not world-searchable?)"
    # sanity: the unprivileged user can build the readable tree
    run "${asnobody[@]}" "$T/ocibuild-copy" build --dir "$T/src" -t a:1 -o "$T/out/ok.tar" -q
    assert_eq "$RC" 0 "unprivileged build of a readable tree (stderr: $ERR)"
    rm -f "$T/out/ok.tar"
    # unreadable file
    echo secret >"$T/src/sub/locked-file"
    chmod 000 "$T/src/sub/locked-file"
    if "${asnobody[@]}" cat "$T/src/sub/locked-file" >/dev/null 2>&1; then
        skip "cannot make a file unreadable here"
    fi
    run "${asnobody[@]}" "$T/ocibuild-copy" build --dir "$T/src" -t a:1 -o "$T/out/img.tar"
    assert_error 1 "locked-file"
    assert_dir_listing "$T/out" ""
    rm -f "$T/src/sub/locked-file"
    # unreadable directory
    mkdir "$T/src/locked-dir" && echo x >"$T/src/locked-dir/x" && chmod 000 "$T/src/locked-dir"
    run "${asnobody[@]}" "$T/ocibuild-copy" build --dir "$T/src" -t a:1 --layout "$T/out/L"
    assert_error 1 "locked-dir"
    assert_dir_listing "$T/out" ""
}

test_err_bad_env() {
    small_src
    ob_fail 2 NOEQUALS --dir "$T/src" -t a:1 -o "$T/out/img.tar" --env NOEQUALS
    ob_fail 2 "=value" --dir "$T/src" -t a:1 -o "$T/out/img.tar" --env =value
    assert_dir_listing "$T/out" ""
}

test_err_bad_label_annotation() {
    small_src
    ob_fail 2 nolabelvalue --dir "$T/src" -t a:1 -o "$T/out/img.tar" -l nolabelvalue
    ob_fail 2 noannvalue --dir "$T/src" -t a:1 -o "$T/out/img.tar" --annotation noannvalue
    assert_dir_listing "$T/out" ""
}

test_err_bad_tag() {
    small_src
    local tag
    for tag in UPPER:tag a:b:c name: :tag 'sp ace:1' 'a:bad tag' 'a:-lead'; do
        ob_fail 2 "$tag" --dir "$T/src" -t "$tag" -o "$T/out/img.tar"
        assert_dir_listing "$T/out" ""
    done
    # one bad tag among good ones still fails
    ob_fail 2 "a:b:c" --dir "$T/src" -t good:1 -t a:b:c --layout "$T/out/L"
    assert_dir_listing "$T/out" ""
}

test_err_unknown_flag() {
    small_src
    ob_fail 2 --bogus --dir "$T/src" -t a:1 -o "$T/out/img.tar" --bogus
    ob_fail 2 --workdir --dir "$T/src" -t a:1 -o "$T/out/img.tar" --workdir   # missing value
    run "$OCIBUILD" frobnicate
    assert_error 2 frobnicate
    assert_dir_listing "$T/out" ""
}

test_err_output_dir_not_writable() {
    small_src
    ob_fail 1 /nonexistent --dir "$T/src" -t a:1 -o /nonexistent/x.tar
    assert_no_path /nonexistent
    # read-only file system
    mkdir "$T/ro"
    mount -t tmpfs -o ro,size=1m tmpfs "$T/ro" || skip "cannot mount tmpfs"
    run "$OCIBUILD" build --dir "$T/src" -t a:1 -o "$T/ro/x.tar"
    local rc=$RC out=$OUT err=$ERR
    local listing
    listing=$(ls -A "$T/ro")
    umount "$T/ro"
    RC=$rc OUT=$out ERR=$err
    assert_error 1 "$T/ro"
    assert_eq "$listing" "" "read-only dir contents"
    # output path whose parent is a file
    echo f >"$T/out/file"
    ob_fail 1 "$T/out/file" --dir "$T/src" -t a:1 -o "$T/out/file/x.tar"
    assert_dir_listing "$T/out" "file"
}

# disk_full_case OUTPUT-ARGS...: build a 4 MB incompressible tree into a 1 MB tmpfs
disk_full_case() {
    mkdir -p "$T/src" "$T/small"
    head -c 4194304 /dev/urandom >"$T/src/random.bin"
    echo x >"$T/src/x"
    mount -t tmpfs -o size=1m tmpfs "$T/small" || skip "cannot mount tmpfs"
    run "$OCIBUILD" build --dir "$T/src" -t a:1 "$@"
    local rc=$RC out=$OUT err=$ERR listing
    listing=$(ls -A "$T/small")
    umount "$T/small"
    RC=$rc OUT=$out ERR=$err
    assert_error 1 ""
    grep -qi 'space' <<<"$ERR" || fail "error does not mention space: $ERR"
    assert_eq "$listing" "" "contents of the full file system (partial output left?)"
}

test_err_disk_full_archive() {
    disk_full_case -o "$T/small/img.tar"
    disk_full_case -o "$T/small/img.tar.gz"
}

test_err_disk_full_layout() {
    disk_full_case --layout "$T/small/L" --compression none
}

test_err_bad_compression() {
    small_src
    ob_fail nonzero lz4 --dir "$T/src" -t a:1 -o "$T/out/img.tar" --compression lz4
    assert_dir_listing "$T/out" ""
}

test_err_bad_platform() {
    small_src
    local p
    for p in windows linux/ /amd64 linux/amd64/v1/extra 'linux amd64'; do
        ob_fail nonzero "$p" --dir "$T/src" -t a:1 -o "$T/out/img.tar" --platform "$p"
        assert_dir_listing "$T/out" ""
    done
}

test_err_bad_base() {
    small_src
    ob_fail 1 /nonexistent --dir "$T/src" -t a:1 -o "$T/out/img.tar" --base oci:/nonexistent
    assert_dir_listing "$T/out" ""
    ob_fail nonzero docker://busybox --dir "$T/src" -t a:1 -o "$T/out/img.tar" --base docker://busybox
    assert_dir_listing "$T/out" ""
    # existing layout, missing tag
    ob_build --dir "$T/src" -t base:1 --layout "$T/B"
    ob_fail 1 missing:9 --dir "$T/src" -t a:1 -o "$T/out/img.tar" --base "oci:$T/B:missing:9"
    assert_dir_listing "$T/out" ""
    # a directory that is not an OCI layout
    mkdir "$T/notalayout"
    ob_fail 1 "$T/notalayout" --dir "$T/src" -t a:1 --layout "$T/out/L" --base "oci:$T/notalayout"
    assert_dir_listing "$T/out" ""
    # a layout with a missing blob
    cp -a "$T/B" "$T/B2"
    local layer
    layer=$(manifest_json "$T/B2" base:1 | jq -r '.layers[0].digest')
    rm "$(blob "$T/B2" "$layer")"
    ob_fail 1 "${layer#sha256:}" --dir "$T/src" -t a:1 -o "$T/out/img.tar" --base "oci:$T/B2:base:1"
    assert_dir_listing "$T/out" ""
}

test_err_bad_values() {
    small_src
    ob_fail nonzero abc --dir "$T/src" -t a:1 -o "$T/out/img.tar" --uid abc
    ob_fail nonzero -5 --dir "$T/src" -t a:1 -o "$T/out/img.tar" --uid -5
    ob_fail nonzero 70000 --dir "$T/src" -t a:1 -o "$T/out/img.tar" --expose 70000
    ob_fail nonzero http --dir "$T/src" -t a:1 -o "$T/out/img.tar" --expose http
    ob_fail nonzero 80/xyz --dir "$T/src" -t a:1 -o "$T/out/img.tar" --expose 80/xyz
    ob_fail nonzero '["unterminated' --dir "$T/src" -t a:1 -o "$T/out/img.tar" --entrypoint '["unterminated'
    ob_fail nonzero img.zip --dir "$T/src" -t a:1 -o "$T/out/img.zip"
    assert_dir_listing "$T/out" ""
}

test_help() {
    run "$OCIBUILD" --help
    assert_eq "$RC" 0 "ocibuild --help exit code"
    [ -n "$OUT" ] || fail "ocibuild --help printed nothing on stdout"
    assert_contains "$OUT" build "top-level help mentions the build command"
    run "$OCIBUILD" build --help
    assert_eq "$RC" 0 "ocibuild build --help exit code"
    local h=$OUT flag
    for flag in --dir --base --layout --workdir --compression --platform --uid --env \
        --entrypoint --cmd --expose --label --annotation --quiet; do
        assert_contains "$h" "$flag" "build --help lists $flag"
    done
    grep -qE -- '(^|[^a-z-])-t([^a-z]|$)' <<<"$h" || fail "build --help lacks -t"
    grep -qE -- '(^|[^a-z-])-o([^a-z]|$)' <<<"$h" || fail "build --help lacks -o"
    grep -qE -- '(^|[^a-z-])-l([^a-z]|$)' <<<"$h" || fail "build --help lacks -l"
    grep -qE -- '(^|[^a-z-])-a([^a-z]|$)' <<<"$h" || fail "build --help lacks -a"
    grep -qE -- '(^|[^a-z-])-q([^a-z]|$)' <<<"$h" || fail "build --help lacks -q"
    # defaults
    grep -A2 -- '--workdir' <<<"$h" | grep '/app' >/dev/null || fail "--workdir default /app not shown"
    grep -A2 -- '--compression' <<<"$h" | grep 'gzip' >/dev/null || fail "--compression default gzip not shown"
    grep -A2 -- '--uid' <<<"$h" | grep '65534' >/dev/null || fail "--uid default 65534 not shown"
    grep -A2 -- '--base' <<<"$h" | grep 'scratch' >/dev/null || fail "--base default scratch not shown"
    grep -A2 -- '--platform' <<<"$h" | grep -E 'linux/[a-z0-9]+' >/dev/null || fail "--platform default not shown"
}

test_err_existing_layout_untouched() {
    # a failing build into an existing layout leaves it exactly as it was
    mkdir -p "$T/ok" && echo ok >"$T/ok/f"
    ob_build --dir "$T/ok" -t a:1 --layout "$T/L"
    (cd "$T/L" && find . -printf '%p %s %m\n' | LC_ALL=C sort && cat index.json) >"$T/before"
    mk_tree "$T/src"
    mkfifo "$T/src/weird-fifo"
    ob_fail 1 weird-fifo --dir "$T/src" -t b:1 --layout "$T/L"
    (cd "$T/L" && find . -printf '%p %s %m\n' | LC_ALL=C sort && cat index.json) >"$T/after"
    diff -u "$T/before" "$T/after" >&2 || fail "existing layout changed by a failed build"
    # no temp files/dirs next to the layout either
    assert_eq "$(cd "$T" && LC_ALL=C ls -A | grep -v '^\.' | tr '\n' ' ')" "L after before ok src " "files next to the layout"
}

test_err_interrupted_build_leaves_nothing() {
    # SIGTERM in the middle of a build: non-zero exit, nothing left behind
    mkdir -p "$T/src" "$T/out"
    truncate -s 1G "$T/src/big.img"
    local target pid i rc
    # (-o with --no-cache writes the first layer into the archive's temp file)
    for target in "-o $T/out/img.tar" "-o $T/out/img.tar --no-cache" "--layout $T/out/L"; do
        # shellcheck disable=SC2086
        "$OCIBUILD" build --dir "$T/src" -t a:1 $target --compression gzip >"$T/stdout" 2>"$T/stderr" &
        pid=$!
        for i in $(seq 1 100); do
            [ -n "$(ls -A "$T/out")" ] && break
            sleep 0.05
        done
        sleep 0.3
        kill -0 "$pid" 2>/dev/null || skip "build finished before it could be interrupted"
        kill -TERM "$pid"
        rc=0
        wait "$pid" || rc=$?
        [ "$rc" -ne 0 ] || fail "interrupted build exited 0"
        assert_eq "$(cat "$T/stdout")" "" "stdout of an interrupted build"
        assert_dir_listing "$T/out" ""
    done
}
