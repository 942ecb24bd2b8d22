#!/usr/bin/env bash
# End-to-end test runner for ocibuild.
#
#   tests/e2e/run.sh [FILTER]
#
# Sources tests/e2e/lib.sh and every tests/e2e/t_*.sh, then runs each shell
# function named test_* (whose name matches the extended regex FILTER, if
# given) in a subshell with `set -euo pipefail`, inside a fresh temp dir $T
# that is removed afterwards. Output is TAP-like. Exit status is non-zero if
# any test failed or if no test ran.
#
# Up to E2E_JOBS tests run at once, each in its own temp dir with its own
# registry, ports and caches; their output is kept per test and printed in
# the order of the selection, each result as soon as it and all before it
# are done. A test that cannot share the machine with another one says so
# with a comment line "# e2e:serial REASON" in the comments right above its
# function: it runs alone (the tests before it finish first, the ones after
# it wait).
#
# Environment:
#   OCIBUILD     binary under test (default: $REPO/ocibuild)
#   OB_TIMEOUT   seconds allowed per external command (default 300)
#   E2E_JOBS     tests run at once (default: the number of cores)
#   E2E_KEEP=1   keep the temp dir of failing tests
#   E2E_SLOW=1   also run slow opt-in tests
set -u

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_DIR/../.." && pwd)
OCIBUILD=${OCIBUILD:-$REPO/ocibuild}
case "$OCIBUILD" in /*) ;; *) OCIBUILD=$PWD/$OCIBUILD ;; esac
export E2E_DIR REPO OCIBUILD
export LC_ALL=C TZ=UTC
unset SOURCE_DATE_EPOCH
umask 022

FILTER=${1:-}

# shellcheck source=lib.sh
source "$E2E_DIR/lib.sh"

tests=()
declare -A serial=()
for f in "$E2E_DIR"/t_*.sh; do
    [ -e "$f" ] || continue
    # shellcheck disable=SC1090
    source "$f" || { echo "Bail out! cannot source $f"; exit 1; }
    # test functions in definition order, each with "serial" when the
    # comment block right above it has an "# e2e:serial" line
    while read -r name mode; do
        if declare -F "$name" >/dev/null; then
            tests+=("$name")
            [ "$mode" != serial ] || serial[$name]=1
        fi
    done < <(awk '
        /^[[:space:]]*#/ { if ($0 ~ /^[[:space:]]*#[[:space:]]*e2e:serial([[:space:]]|$)/) s = 1; next }
        match($0, /^[[:space:]]*(function[[:space:]]+)?test_[A-Za-z0-9_]+[[:space:]]*\(\)/) {
            name = substr($0, RSTART, RLENGTH)
            sub(/^[[:space:]]*(function[[:space:]]+)?/, "", name)
            sub(/[[:space:]]*\(\)$/, "", name)
            print name, (s ? "serial" : "-")
        }
        { s = 0 }' "$f")
done

selected=()
for name in "${tests[@]}"; do
    if [ -z "$FILTER" ] || [[ $name =~ $FILTER ]]; then
        selected+=("$name")
    fi
done

jobs=${E2E_JOBS:-$(nproc 2>/dev/null || echo 1)}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "Bail out! E2E_JOBS must be a positive number, not '$jobs'"; exit 1; }

if [ ! -x "$OCIBUILD" ]; then
    echo "# warning: binary under test $OCIBUILD is missing or not executable"
fi
echo "1..${#selected[@]}"

# Unmount anything left mounted below DIR (tests mount tmpfs), then remove it.
# Processes a test started in the background (e.g. podman's conmon/cleanup
# helpers) may still use DIR for a moment: wait (bounded) for them first.
procs_using() {
    # pattern via -f so that grep does not match its own command line
    grep -lsF -f <(printf "%s\n" "$1") /proc/[0-9]*/cmdline 2>/dev/null | grep -v "^/proc/$$/" || true
}
cleanup_dir() {
    local dir=$1 m _
    for _ in $(seq 1 40); do
        [ -z "$(procs_using "$dir/")" ] && break
        sleep 0.25
    done
    while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done < <(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r)
    rm -rf "$dir"
    sleep 0.2
    [ -e "$dir" ] && rm -rf "$dir"   # recreated by a straggler
    return 0
}

# run_one I NAME: run test NAME (the Ith of the selection) in a temp dir
# of its own; leaves in $RES: I.log (its output), I.skip (the reason, when
# it skipped), I.kept (its kept temp dir) and, last, I.done ("RC SECONDS")
run_one() {
    local i=$1 name=$2 t0 rc secs
    T=$(mktemp -d "${TMPDIR:-/tmp}/ocibuild-e2e.XXXXXX")
    chmod 0755 "$T"
    export T
    # each test has a cache of its own (tests that share one set it)
    export OCIBUILD_CACHE_DIR=$T/.cache
    t0=$(date +%s)
    # Must not be in a conditional context, or `set -e` would be ignored
    # inside the subshell.
    (
        set -euo pipefail
        cd "$T"
        "$name"
    ) </dev/null >"$T/.log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - t0 ))
    cp "$T/.log" "$RES/$i.log"
    [ ! -f "$T/.skip" ] || head -n1 "$T/.skip" >"$RES/$i.skip"
    if [ "$rc" -ne 0 ] && [ "${E2E_KEEP:-0}" = 1 ]; then
        echo "$T" >"$RES/$i.kept"
    else
        cleanup_dir "$T"
    fi
    echo "$rc $secs" >"$RES/$i.tmp"
    mv "$RES/$i.tmp" "$RES/$i.done"
}

# report I NAME: print the result of a finished test, count it
report() {
    local i=$1 name=$2 rc secs
    read -r rc secs <"$RES/$i.done"
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        if [ -f "$RES/$i.skip" ]; then
            skipped=$((skipped + 1))
            echo "ok $i - $name # skip $(cat "$RES/$i.skip")"
        else
            echo "ok $i - $name (${secs}s)"
        fi
    else
        failed=$((failed + 1))
        failed_names+=("$name")
        echo "not ok $i - $name (exit $rc, ${secs}s)"
        sed "s/^/#   /" "$RES/$i.log" | tail -n 200
    fi
    [ ! -f "$RES/$i.kept" ] || echo "#   kept temp dir: $(cat "$RES/$i.kept")"
}

RES=$(mktemp -d "${TMPDIR:-/tmp}/ocibuild-e2e-results.XXXXXX")
declare -A running=()   # PID -> index of the test it runs
# interrupted: stop the running tests with all they started (their
# registries too), children first, by PID
kill_tree() {
    local c
    for c in $(pgrep -P "$1"); do
        kill_tree "$c"
    done
    kill -TERM "$1" 2>/dev/null || true
}
stop_all() {
    local pid
    for pid in "${!running[@]}"; do
        kill_tree "$pid"
    done
    rm -rf "$RES"
    exit 130
}
trap stop_all INT TERM

n=${#selected[@]} passed=0 failed=0 skipped=0
failed_names=()
start_all=$(date +%s)
next=0 printed=0 alone=0
while [ "$printed" -lt "$n" ]; do
    # start tests while there is room; a serial one only on an idle machine
    while [ "$next" -lt "$n" ] && [ "${#running[@]}" -lt "$jobs" ] && [ "$alone" = 0 ]; do
        name=${selected[$next]}
        if [ -n "${serial[$name]:-}" ]; then
            [ "${#running[@]}" -eq 0 ] || break
            alone=1
        fi
        run_one $((next + 1)) "$name" &
        running[$!]=$((next + 1))
        next=$((next + 1))
    done
    # print, in order, what has finished
    while [ "$printed" -lt "$n" ] && [ -f "$RES/$((printed + 1)).done" ]; do
        report $((printed + 1)) "${selected[$printed]}"
        printed=$((printed + 1))
    done
    [ "$printed" -lt "$n" ] || break
    # wait for a test to finish
    sleep 0.1
    for pid in "${!running[@]}"; do
        if [ -f "$RES/${running[$pid]}.done" ]; then
            wait "$pid" 2>/dev/null || true
            [ -z "${serial[${selected[${running[$pid]} - 1]}]:-}" ] || alone=0
            unset "running[$pid]"
        fi
    done
done
rm -rf "$RES"

echo "# ran $n tests in $(( $(date +%s) - start_all ))s: $passed passed ($skipped skipped), $failed failed"
if [ "$failed" -gt 0 ]; then
    echo "# failed: ${failed_names[*]}"
    exit 1
fi
if [ "$n" -eq 0 ]; then
    echo "# no tests ran${FILTER:+ (filter: $FILTER)}"
    exit 1
fi
exit 0
