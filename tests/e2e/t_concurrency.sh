# shellcheck shell=bash
# Several ocibuild processes writing to one OCI layout at once: builds and
# pulls adding tags concurrently must all land (index.json is updated under
# an exclusive lock on LAYOUT/.ocibuild.lock), the lock wait is bounded
# (--lock-timeout) and interruptible, and the lock file does not disturb
# the other tools that read the layout.
#
# Helpers here are prefixed conc_ (every t_*.sh shares one shell).

CONC_LOCK=.ocibuild.lock

# conc_check_layout LAYOUT: every index entry's manifest, config and layers
# are in the layout with the right digest and size; prints the entry count
conc_check_layout() {
    "$PY" - "$1" <<'EOF' || fail "layout $1 is inconsistent"
import hashlib, json, os, sys
L = sys.argv[1]
def blob(d, size):
    algo, hexd = d.split(":", 1)
    p = os.path.join(L, "blobs", algo, hexd)
    if not os.path.isfile(p):
        sys.exit("missing blob %s" % d)
    data = open(p, "rb").read()
    if "sha256:" + hashlib.sha256(data).hexdigest() != d or (size is not None and len(data) != size):
        sys.exit("blob %s does not match its digest or size" % d)
    return data
ix = json.load(open(os.path.join(L, "index.json")))
for e in ix["manifests"]:
    m = json.loads(blob(e["digest"], e["size"]))
    blob(m["config"]["digest"], m["config"]["size"])
    for l in m["layers"]:
        blob(l["digest"], l["size"])
print(len(ix["manifests"]))
EOF
}

# conc_refs LAYOUT: the ref names of index.json, sorted, one a line
conc_refs() {
    jq -r '.manifests[].annotations["org.opencontainers.image.ref.name"]' "$1/index.json" | sort
}

# conc_validate LAYOUT REFNAME: oci-image-tool validation of one tag, lock
# file and all. The layout holds one image under several tags (the pulls),
# which oci-image-tool 1.0.0-rc1 refuses to pick from ("is not unique", for
# any ref), so it looks at a copy (hard links) whose index.json has that tag
# only.
conc_validate() {
    local v
    v=$(mktemp -d "$T/.validate.XXXXXX")
    cp -al "$1/." "$v/"
    rm "$v/index.json"
    jq --arg r "$2" '.manifests |= map(select(.annotations["org.opencontainers.image.ref.name"] == $r))' \
        "$1/index.json" >"$v/index.json"
    assert_file "$v/$CONC_LOCK"
    expect_ok oci-image-tool validate --type image --ref "name=$2" "$v"
    rm -rf "$v"
}

# conc_hold_lock FILE: a process holding an exclusive flock on FILE until it
# is killed; sets CONC_HOLDER
conc_hold_lock() {
    rm -f "$T/.held"
    "$PY" -c 'import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(600)' "$1" "$T/.held" &
    CONC_HOLDER=$!
    local _
    for _ in $(seq 1 200); do
        [ -e "$T/.held" ] && return 0
        sleep 0.05
    done
    fail "the lock holder did not start"
}

# conc_wait_blocked PID FILE: PID has FILE open (it waits for the lock)
conc_wait_blocked() {
    local _ f
    for _ in $(seq 1 400); do
        for f in /proc/"$1"/fd/*; do
            [ "$(readlink "$f" 2>/dev/null)" = "$2" ] && return 0
        done
        reg_alive "$1" || fail "process $1 exited before it waited for the lock"
        sleep 0.05
    done
    fail "process $1 never opened $2"
}

# conc_push_images WRITERS ROUNDS: push app1..appWRITERS, each tagged
# r1..rROUNDS, to a plain registry it starts
conc_push_images() {
    local k r tags
    reg_start plain
    for k in $(seq 1 "$1"); do
        reg_src "$T/p$k" "$k"
        tags=()
        for r in $(seq 1 "$2"); do tags+=(-t "app$k:r$r"); done
        reg_ob_push build --dir "$T/p$k" "${tags[@]}" --push "$REG" -j 1
    done
}

# conc_round LAYOUT ROUND WRITERS: WRITERS builds (tags bK:rROUND, a tiny
# tree each) and WRITERS pulls ($REG/appK:rROUND) into LAYOUT at once; all
# must succeed. Appends the ref names they add to $T/want.
conc_round() {
    local L=$1 r=$2 k rc pids=() names=()
    for k in $(seq 1 "$3"); do
        mkdir -p "$T/b/$r/$k"
        echo "round $r writer $k" >"$T/b/$r/$k/f"
        timeout "$OB_TIMEOUT" "$OCIBUILD" build --dir "$T/b/$r/$k" -t "b$k:r$r" \
            --layout "$L" -j 1 -q >"$T/out.b$k" 2>"$T/err.b$k" &
        pids+=($!) names+=("b$k")
        timeout "$OB_TIMEOUT" "$OCIBUILD" pull "$REG/app$k:r$r" --layout "$L" -j 1 -q \
            >"$T/out.p$k" 2>"$T/err.p$k" &
        pids+=($!) names+=("p$k")
        printf '%s\n' "b$k:r$r" "$REG/app$k:r$r" >>"$T/want"
    done
    for k in "${!pids[@]}"; do
        rc=0
        wait "${pids[$k]}" || rc=$?
        [ "$rc" -eq 0 ] || fail "round $r: writer ${names[$k]} exited $rc: $(cat "$T/err.${names[$k]}")"
    done
}

# 8 builds and 8 pulls into one existing layout at once, 20 rounds: no tag
# is lost, no process fails, the layout stays valid for the tools reading it
test_concurrency_builds_and_pulls() {
    local rounds=20 writers=8 r k
    conc_push_images $writers $rounds
    mkdir -p "$T/seed" && echo seed >"$T/seed/f"
    ob_build --dir "$T/seed" -t seed:1 --layout "$T/L"
    echo seed:1 >"$T/want"
    for r in $(seq 1 $rounds); do
        conc_round "$T/L" "$r" $writers
        assert_eq "$(conc_refs "$T/L" | tr '\n' ' ')" "$(sort "$T/want" | tr '\n' ' ')" \
            "ref names in index.json after round $r"
    done
    assert_eq "$(conc_check_layout "$T/L")" $((1 + 2 * writers * rounds)) "index entries"
    assert_dir_listing "$T/L" "$CONC_LOCK blobs index.json oci-layout"
    assert_eq "$(find "$T" -maxdepth 1 -name '.ocibuild-stage-*' | wc -l)" 0 "staging dirs left"
    assert_eq "$(find "$T/L/blobs/sha256" -mindepth 1 -regextype posix-extended \
        ! -regex '.*/[0-9a-f]{64}' | wc -l)" 0 \
        "temporary files among the blobs"
    # the readers do not mind the lock file
    for k in 1 $writers; do
        conc_validate "$T/L" "b$k:r$rounds"
        conc_validate "$T/L" "$REG/app$k:r$rounds"
    done
    for k in $(seq 1 $writers); do
        expect_ok skopeo inspect "oci:$T/L:b$k:r$rounds"
        assert_eq "$(jq -r .Digest <<<"$OUT")" "$(index_digest "$T/L" "b$k:r$rounds")" "skopeo: b$k:r$rounds"
        expect_ok skopeo inspect "oci:$T/L:$REG/app$k:r1"
    done
    umoci_unpack "$T/L" "b1:r$rounds" "$T/bundle"
    assert_eq "$(cat "$T/bundle/rootfs/app/f")" "round $rounds writer 1" "unpacked file"
    skopeo copy "oci:$T/L:b2:r1" "oci:$T/L:copied" >/dev/null 2>"$T/skopeo.err" \
        || fail "skopeo copy into the layout: $(cat "$T/skopeo.err")"
    assert_eq "$(index_digest "$T/L" copied)" "$(index_digest "$T/L" b2:r1)" "skopeo wrote to the layout"
}

# The same into a layout that does not exist yet: one of them makes it, the
# others add to it
test_concurrency_new_layout() {
    local rounds=4 writers=8 r
    conc_push_images $writers $rounds
    for r in $(seq 1 $rounds); do
        : >"$T/want"
        conc_round "$T/L$r" "$r" $writers
        assert_eq "$(conc_refs "$T/L$r" | tr '\n' ' ')" "$(sort "$T/want" | tr '\n' ' ')" \
            "ref names in index.json of new layout $r"
        assert_eq "$(conc_check_layout "$T/L$r")" $((2 * writers)) "index entries of new layout $r"
    done
    assert_eq "$(find "$T" -maxdepth 1 -name '.ocibuild-stage-*' | wc -l)" 0 "staging dirs left"
}

# A writer waits for the lock, at most --lock-timeout seconds, and then fails
# with one line naming the layout and the lock file, leaving the layout as it
# was; once the lock is free it goes ahead
test_concurrency_lock_timeout() {
    mkdir -p "$T/s1" "$T/s2" && echo one >"$T/s1/f" && echo two >"$T/s2/f"
    ob_build --dir "$T/s1" -t a:1 --layout "$T/L"
    conc_hold_lock "$T/L/$CONC_LOCK"
    trap 'reg_kill "$CONC_HOLDER"' EXIT
    cp "$T/L/index.json" "$T/index.before"
    local blobs_before
    blobs_before=$(ls "$T/L/blobs/sha256" | tr '\n' ' ')
    run "$OCIBUILD" build --dir "$T/s2" -t b:1 --layout "$T/L" --lock-timeout 1
    reg_assert_one_error "'$T/L'.*'$T/L/$CONC_LOCK'"
    assert_eq "$RC" 1 "exit code"
    assert_contains "$REG_ERRLINE" "--lock-timeout" "the error says how to wait longer"
    cmp -s "$T/L/index.json" "$T/index.before" || fail "index.json changed"
    assert_eq "$(ls "$T/L/blobs/sha256" | tr '\n' ' ')" "$blobs_before" "blobs after the timeout"
    assert_eq "$(find "$T" -maxdepth 1 -name '.ocibuild-stage-*' | wc -l)" 0 "staging dirs left"
    # a bad value is a usage error
    run "$OCIBUILD" build --dir "$T/s2" -t b:1 --layout "$T/L" --lock-timeout soon
    assert_eq "$RC" 2 "exit code of --lock-timeout soon"
    # waiting writer: goes ahead when the holder lets go
    "$OCIBUILD" build --dir "$T/s2" -t b:1 --layout "$T/L" -q >"$T/out.w" 2>"$T/err.w" &
    local pid=$!
    conc_wait_blocked "$pid" "$T/L/$CONC_LOCK"
    cmp -s "$T/L/index.json" "$T/index.before" || fail "index.json changed while the lock was held"
    reg_kill "$CONC_HOLDER"
    local rc=0
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "the waiting build exited $rc: $(cat "$T/err.w")"
    assert_eq "$(index_digest "$T/L" b:1)" "$(cat "$T/out.w")" "tag of the waiting build"
    assert_eq "$(index_digest "$T/L" a:1) $(conc_check_layout "$T/L")" \
        "$(jq -r '.manifests[0].digest' "$T/index.before") 2" "first tag kept"
    # a layout another writer is making (its lock, no oci-layout yet): a
    # build waits for it too, rather than calling it "not an OCI layout"
    mkdir "$T/N"
    conc_hold_lock "$T/N/$CONC_LOCK"
    "$OCIBUILD" build --dir "$T/s2" -t n:1 --layout "$T/N" -q >"$T/out.n" 2>"$T/err.n" &
    pid=$!
    conc_wait_blocked "$pid" "$T/N/$CONC_LOCK"
    reg_kill "$CONC_HOLDER"
    rc=0
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "the build into the layout being made exited $rc: $(cat "$T/err.n")"
    assert_eq "$(index_digest "$T/N" n:1)" "$(cat "$T/out.n")" "tag in the layout being made"
    validate_layout "$T/N" n:1
}

# Ctrl-C while waiting for the lock: exit 130, the layout unchanged
test_concurrency_lock_interrupt() {
    reg_start plain
    reg_src "$T/p"
    reg_ob_push build --dir "$T/p" -t app:1 --push "$REG"
    mkdir -p "$T/s1" "$T/s2" && echo one >"$T/s1/f" && echo two >"$T/s2/f"
    ob_build --dir "$T/s1" -t a:1 --layout "$T/L"
    conc_hold_lock "$T/L/$CONC_LOCK"
    trap 'reg_kill "$CONC_HOLDER"; reg_teardown' EXIT
    cp "$T/L/index.json" "$T/index.before"
    local blobs_before sub pid rc
    blobs_before=$(ls "$T/L/blobs/sha256" | tr '\n' ' ')
    for sub in build pull; do
        if [ $sub = build ]; then
            "$OCIBUILD" build --dir "$T/s2" -t b:1 --layout "$T/L" >"$T/out.$sub" 2>"$T/err.$sub" &
        else
            "$OCIBUILD" pull "$REG/app:1" --layout "$T/L" >"$T/out.$sub" 2>"$T/err.$sub" &
        fi
        pid=$!
        conc_wait_blocked "$pid" "$T/L/$CONC_LOCK"
        kill -INT "$pid"
        rc=0
        wait "$pid" || rc=$?
        assert_eq "$rc" 130 "exit code of the interrupted $sub ($(cat "$T/err.$sub"))"
        assert_contains "$(cat "$T/err.$sub")" "interrupted" "$sub stderr"
        assert_eq "$(cat "$T/out.$sub")" "" "$sub stdout"
        cmp -s "$T/L/index.json" "$T/index.before" || fail "index.json changed by the interrupted $sub"
        assert_eq "$(ls "$T/L/blobs/sha256" | tr '\n' ' ')" "$blobs_before" "blobs after the interrupted $sub"
    done
    assert_eq "$(find "$T" -maxdepth 1 -name '.ocibuild-stage-*' | wc -l)" 0 "staging dirs left"
    # the pull's timeout is a flag too
    run "$OCIBUILD" pull "$REG/app:1" --layout "$T/L" --lock-timeout 1
    reg_assert_one_error "'$T/L'.*'$T/L/$CONC_LOCK'"
    cmp -s "$T/L/index.json" "$T/index.before" || fail "index.json changed by the pull that timed out"
}
