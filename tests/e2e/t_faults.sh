# shellcheck shell=bash
# Out of memory, everywhere: a sanitizer build (make check-asan) is also a
# fault-injection build, where OCIBUILD_FAIL_ALLOC=N makes the Nth
# allocation of the library fail (src/lib/util/mem.c). These tests fail one
# allocation per run and require each run to end cleanly: exit 0 (the
# failure was absorbed) or exit 1 with the one line
# "ocibuild: error: ... out of memory" (not some other, misleading cause), no
# AddressSanitizer/LeakSanitizer/UBSan report (so no leak or bad access on
# any error path), and nothing left at the output paths.
# With a normal build they skip.
#
# Which allocations fail (faults_sweep): a build allocates thousands of
# times, mostly at the same few places in loops over files. One traced run
# (OCIBUILD_ALLOC_TRACE) names the site of each allocation, a hash of its
# callers' return addresses (4 frames); then one run fails the first and
# one the second allocation of each distinct site, and last N runs on past
# the traced count until 40 runs in a row succeed (allocations that a
# threaded run makes in another order, or only when it is slower).
# Covered: every site's failure path, on the first pass of a loop and on a
# later one (state carried from an earlier iteration). Not covered: a bug
# only on the third or a later pass at the same site (say, only when a
# buffer grows for the third time), or reached only in an order of threads that
# neither the traced nor the probing runs took. FAULTS_FULL=1 fails every
# N = 1, 2, ... instead (the old full sweep, ten times as many runs):
#
#     FAULTS_FULL=1 OCIBUILD=build-asan/ocibuild tests/e2e/run.sh faults

faults_enabled() {
    "$OCIBUILD" --version | grep 'fault injection' >/dev/null ||
        skip "not a fault-injection build (make check-asan runs these)"
}

# faults_one N OUTDIR ARGS...: one run with the Nth allocation failing;
# prints "ok" (absorbed), "oom" (failed cleanly) or a reason it is wrong.
# Hooks, when set: FAULTS_SETUP OUTDIR runs before, FAULTS_CHECK OUTDIR RC
# after; what FAULTS_CHECK prints is a reason the run is wrong.
faults_one() {
    local n=$1 out=$2 rc why cache=$OCIBUILD_CACHE_DIR
    shift 2
    rm -rf "$out"
    mkdir -p "$out"
    # each run starts from an empty layer cache of its own (unless the test
    # chose a cache), so that every run takes the whole path, filling it
    [ "$cache" != "$T/.cache" ] || cache=$out.cache
    [ -z "${FAULTS_SETUP:-}" ] || "$FAULTS_SETUP" "$out"
    rc=0
    ASAN_OPTIONS=exitcode=99:detect_leaks=1:abort_on_error=0 OCIBUILD_FAIL_ALLOC=$n \
        OCIBUILD_CACHE_DIR=$cache "$OCIBUILD" "$@" >"$out.stdout" 2>"$out.stderr" || rc=$?
    why=
    [ -z "${FAULTS_CHECK:-}" ] || why=$("$FAULTS_CHECK" "$out" "$rc" 2>&1)
    if [ -n "$why" ]; then
        echo "N=$n: exit $rc: $why"
    elif [ "$rc" = 0 ]; then
        echo ok
    elif [ "$rc" != 1 ]; then
        echo "N=$n: exit $rc: $(grep -m1 -E 'Sanitizer|runtime error|ERROR' "$out.stderr" || head -c 300 "$out.stderr")"
    elif [ "$(wc -l <"$out.stderr")" != 1 ] ||
        ! grep -E '^ocibuild: error: .*out of memory$' "$out.stderr" >/dev/null; then
        echo "N=$n: not one out-of-memory line: $(head -c 300 "$out.stderr")"
    elif [ -n "$(ls -A "$out")" ]; then
        echo "N=$n: left behind: $(ls -A "$out")"
    else
        echo oom
    fi
}

# faults_sweep JOBS ARGS...: the runs of faults_one that prove every
# allocation site's failure path, JOBS runs at a time; fails on any bad run.
# First one run without a failure traces the site of every allocation
# (OCIBUILD_ALLOC_TRACE); then the runs fail, for each distinct site, its
# first and its second allocation in that order (see the top of this file);
# then N = (allocations traced) + 1, + 2, ... until 40 runs in a row
# succeed. FAULTS_FULL=1 runs every N = 1, 2, ... instead (the old sweep).
# Each run gets its own output dir $T/f.N; "@OUT@" in ARGS is replaced by it,
# "@N@" by N (so that runs side by side push to repositories of their own:
# two pushes of one image to one repository at once race in the registry).
faults_sweep() {
    local jobs=$1 streak=0 oom=0 runs=0 total=0 sites=0 k=0 last i m r
    shift
    local -a todo=() batch args
    if [ "${FAULTS_FULL:-0}" != 1 ]; then
        rm -f "$T/f.trace"
        args=("${@//@OUT@/$T/f.0}")
        args=("${args[@]//@N@/0}")
        r=$(OCIBUILD_ALLOC_TRACE=$T/f.trace faults_one 0 "$T/f.0" "${args[@]}")
        [ "$r" = ok ] || fail "the run without a failure: $r: $(head -c 300 "$T/f.0.stderr")"
        rm -rf "$T/f.0" "$T/f.0".*
        total=$(wc -l <"$T/f.trace")
        [ "$total" -gt 0 ] || fail "no allocation traced: is OCIBUILD_ALLOC_TRACE working?"
        sites=$(cut -d' ' -f2 "$T/f.trace" | sort -u | wc -l)
        mapfile -t todo < <(sort -n "$T/f.trace" | awk '++seen[$2] <= 2 { print $1 }')
    fi
    last=$total
    while :; do
        batch=()
        if [ "$k" -lt "${#todo[@]}" ]; then
            batch=("${todo[@]:k:jobs}")
            k=$((k + ${#batch[@]}))
        else
            [ "$streak" -lt 40 ] || break
            [ "$last" -lt 20000 ] || fail "more than 20000 allocations?"
            for ((i = 1; i <= jobs; i++)); do
                batch+=($((last + i)))
            done
            last=$((last + jobs))
        fi
        local -a pids=()
        for m in "${batch[@]}"; do
            args=("${@//@OUT@/$T/f.$m}")
            args=("${args[@]//@N@/$m}")
            faults_one "$m" "$T/f.$m" "${args[@]}" >"$T/f.$m.verdict" &
            pids+=($!)
        done
        wait "${pids[@]}"
        for m in "${batch[@]}"; do
            r=$(cat "$T/f.$m.verdict")
            case $r in
                ok) streak=$((streak + 1)) ;;
                oom) streak=0 oom=$((oom + 1)) ;;
                *) fail "$r" ;;
            esac
            rm -rf "$T/f.$m" "$T/f.$m".*
        done
        runs=$((runs + ${#batch[@]}))
    done
    FAULT_RUNS=$runs
    FAULT_OOMS=$oom
    if [ "${FAULTS_FULL:-0}" = 1 ]; then
        [ "$oom" -gt 10 ] || fail "only $oom runs failed: is OCIBUILD_FAIL_ALLOC working?"
        echo "# $FAULT_RUNS runs, $FAULT_OOMS ended in a clean out-of-memory error"
    else
        # a failed allocation is rarely absorbed: most of the probes of
        # traced allocations must end in the out-of-memory error
        [ "$((oom * 2))" -gt "${#todo[@]}" ] ||
            fail "only $oom of ${#todo[@]} runs failed: is OCIBUILD_FAIL_ALLOC working?"
        echo "# $total allocations at $sites sites: $FAULT_RUNS runs, $FAULT_OOMS ended in a clean out-of-memory error"
    fi
}

test_faults_dir_build() {
    faults_enabled
    mk_tree "$T/src"
    faults_sweep 2 build --dir "$T/src" -t app:1 -o @OUT@/img.tar --layout @OUT@/layout \
        --env A=1 -l k=v -a x=y --expose 8080 -q
    # an index of two platforms on an index base; with no layer cache, the
    # first layer goes straight into the archive's temp file
    "$OCIBUILD" build --dir "$T/src" -t base:1 --platform linux/amd64,linux/arm64 \
        --layout "$T/base" -q >/dev/null || fail "base build"
    faults_sweep 2 build --dir "$T/src" -t app:2 --platform linux/amd64,linux/arm64 \
        --base "oci:$T/base:base:1" -o @OUT@/img.tar --no-cache -q
}

test_faults_release_build() {
    faults_enabled
    rel_fixture relx
    faults_sweep 2 build --release "$REL_DIR" --lock "$FX/proj/rebar.lock" --bundle-runtime \
        --compression zstd -t app:1 -o @OUT@/img.tar --sbom @OUT@/sbom.json -q
}

# a layer made again from a warm cache: its unchanged gzip blocks are taken
# from the blob of its last build (each run starts from a copy of that cache)
faults_warm_cache() { cp -a "$T/warm" "$1.cache"; }
test_faults_gzip_blocks_reused() {
    faults_enabled
    mkdir -p "$T/src"
    head -c 1700000 /dev/urandom | base64 >"$T/src/big"
    printf 'v1\n' >"$T/src/a.txt"
    OCIBUILD_CACHE_DIR=$T/warm "$OCIBUILD" build --dir "$T/src" -t app:1 --compression gzip \
        -o "$T/a.tar" -q >/dev/null || fail "the build that fills the cache"
    printf 'v2\n' >"$T/src/a.txt"
    OCIBUILD_CACHE_DIR=$T/warm run "$OCIBUILD" build --dir "$T/src" -t app:1 --compression gzip -o "$T/b.tar"
    assert_contains "$ERR" "2 of 3 gzip blocks reused" "blocks reused by the run the sweep repeats"
    printf 'v3\n' >"$T/src/a.txt"
    FAULTS_SETUP=faults_warm_cache faults_sweep 2 build --dir "$T/src" -t app:1 --compression gzip \
        -o @OUT@/img.tar -q
}

# the defaults of a release build (tag NAME:VSN, archive path), found by the
# CLI before the build: the lookup of a project's releases included
test_faults_release_defaults() {
    faults_enabled
    rel_fixture relx
    faults_sweep 2 build --project "$FX/proj" --layout @OUT@/layout -q
}

test_faults_push_and_pull() {
    faults_enabled
    reg_start basic
    reg_src "$T/src"
    ob_build --dir "$T/src" -t app:1 -o "$T/img.tar"
    # two repositories: the second mounts from the first
    faults_sweep 2 push "$T/img.tar" --push "$REG/team@N@" -t app:1 -t app-mirror:1 -q
    # an index of two platforms
    ob_build --dir "$T/src" -t multi:1 --platform linux/amd64,linux/arm64 -o "$T/multi.tar"
    faults_sweep 2 push "$T/multi.tar" --push "$REG/multi@N@" -q
    "$OCIBUILD" push "$T/img.tar" --push "$REG/src" -q >/dev/null || fail "push for the pull"
    faults_sweep 2 pull "$REG/src/app:1" --layout @OUT@/layout -q
}

# build --push streams its layers into the first repository while it
# builds (transfer's push session); the second repository is pushed after
test_faults_build_push() {
    faults_enabled
    reg_start basic
    reg_src "$T/src"
    faults_sweep 2 build --dir "$T/src" -t app:1 -t mirror:1 --platform linux/amd64,linux/arm64 \
        --push "$REG/bp@N@" -q
}

# verify: every allocation failure ends in "out of memory", never in a
# wrong verdict about the signature (fresh cache per run: the payload is
# fetched every time)
test_faults_verify() {
    faults_enabled
    reg_start basic
    reg_src "$T/src"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/k.pem" 2>/dev/null
    openssl pkey -in "$T/k.pem" -pubout -out "$T/k.pub" 2>/dev/null
    ob_build --dir "$T/src" -t app:1 -o "$T/img.tar"
    "$OCIBUILD" push "$T/img.tar" --push "$REG" --sign-key "$T/k.pem" -q >/dev/null ||
        fail "signed push"
    OCIBUILD_CACHE_DIR=$T/vcache faults_sweep 2 verify "$REG/app:1" --key "$T/k.pub"
    # --recursive over a signed index of two platforms: a run fails with
    # "out of memory" or verifies all three digests, never another verdict
    ob_build --dir "$T/src" -t multi:1 --platform linux/amd64,linux/arm64 -o "$T/multi.tar"
    "$OCIBUILD" push "$T/multi.tar" --push "$REG" --sign-key "$T/k.pem" -q >/dev/null ||
        fail "signed push of the index"
    FAULTS_CHECK=faults_verify_check OCIBUILD_CACHE_DIR=$T/vcache \
        faults_sweep 2 verify "$REG/multi:1" --key "$T/k.pub" --recursive
}

# FAULTS_CHECK of verify --recursive: a run that succeeds says all three
# digests verified
faults_verify_check() {
    [ "$2" = 0 ] || return 0
    [ "$(grep -c ' verified with ' "$1.stdout")" = 3 ] || echo "stdout: $(head -c 300 "$1.stdout")"
}

# Adding to an existing layout (the layout transaction): a run that fails
# leaves the layout exactly as it was (its new blobs taken out again); one
# that succeeds leaves it naming every blob it holds.
faults_layout_setup() {  # a copy of $T/seed (hard links) beside OUTDIR
    cp -al "$T/seed" "$1.L"
}
faults_layout_check() {  # OUTDIR RC
    local L=$1.L
    if [ "$2" != 0 ]; then
        cmp -s "$L/index.json" "$T/seed/index.json" || echo "index.json changed"
        [ "$(cd "$L" && ls -A . blobs/sha256)" = "$(cd "$T/seed" && ls -A . blobs/sha256)" ] \
            || echo "files added: $(cd "$L" && ls -A . blobs/sha256 | tr '\n' ' ')"
        return 0
    fi
    "$PY" - "$L" <<'PY'
import json, os, sys
L = sys.argv[1]
seen = set()
for e in json.load(open(os.path.join(L, "index.json")))["manifests"]:
    m = json.load(open(os.path.join(L, "blobs/sha256", e["digest"][7:])))
    seen.add(e["digest"][7:])
    seen.add(m["config"]["digest"][7:])
    seen.update(l["digest"][7:] for l in m["layers"])
have = set(os.listdir(os.path.join(L, "blobs/sha256")))
if have != seen:
    print("blobs not named by index.json: %s; missing: %s" % (sorted(have - seen), sorted(seen - have)))
PY
}

test_faults_existing_layout() {
    faults_enabled
    mk_tree "$T/src"
    mkdir -p "$T/other" && echo other >"$T/other/f"
    ob_build --dir "$T/other" -t other:1 --layout "$T/seed"
    ob_build --dir "$T/other" -t other:2 --layout "$T/seed" --env B=2 # now with its lock file
    FAULTS_SETUP=faults_layout_setup FAULTS_CHECK=faults_layout_check \
        faults_sweep 2 build --dir "$T/src" -t app:1 --env A=1 --layout @OUT@.L -q
}

# A git dependency's purl and download location come from its URL: when
# out of memory while making them, the build fails; it never writes an
# SBOM that names the dependency without them.
faults_sbom_git_check() {  # OUTDIR RC
    [ "$2" = 0 ] || return 0
    jq -r '.packages[] | select(.name == "mydep") |
        .downloadLocation, (.externalRefs // [] | map(.referenceLocator) | join(" "))' \
        "$1/sbom.json" | tr '\n' ' ' >"$1.got"
    [ "$(cat "$1.got")" = "$(cat "$T/want")" ] || echo "mydep: $(cat "$1.got")"
}

test_faults_release_sbom_git_purl() {
    faults_enabled
    rel_fixture relx
    local ref=89abcdef0123456789abcdef0123456789abcdef
    {
        echo '{"1.2.0",'
        echo " [{<<\"mydep\">>,{git,\"https://user:s3cr3t@gitlab.example.com/acme/mydep.git\",{ref,\"$ref\"}},0}]}."
    } >"$T/rebar.lock"
    "$OCIBUILD" build --release "$REL_DIR" --lock "$T/rebar.lock" -t app:1 \
        -o "$T/img.tar" --sbom "$T/sbom.json" -q >/dev/null || fail "build"
    jq -r '.packages[] | select(.name == "mydep") |
        .downloadLocation, (.externalRefs // [] | map(.referenceLocator) | join(" "))' \
        "$T/sbom.json" | tr '\n' ' ' >"$T/want"
    assert_eq "$(cat "$T/want")" \
        "git+https://gitlab.example.com/acme/mydep@$ref pkg:generic/mydep?vcs_url=git%2Bhttps://gitlab.example.com/acme/mydep%40$ref " \
        "mydep without faults"
    FAULTS_CHECK=faults_sbom_git_check faults_sweep 2 build --release "$REL_DIR" \
        --lock "$T/rebar.lock" -t app:1 -o @OUT@/img.tar --sbom @OUT@/sbom.json -q
}
