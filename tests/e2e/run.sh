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
# Environment:
#   OCIBUILD     binary under test (default: $REPO/ocibuild)
#   OB_TIMEOUT   seconds allowed per external command (default 300)
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
for f in "$E2E_DIR"/t_*.sh; do
    [ -e "$f" ] || continue
    # shellcheck disable=SC1090
    source "$f" || { echo "Bail out! cannot source $f"; exit 1; }
    # test functions in definition order
    while IFS= read -r name; do
        if declare -F "$name" >/dev/null; then
            tests+=("$name")
        fi
    done < <(grep -oE '^[[:space:]]*(function[[:space:]]+)?test_[A-Za-z0-9_]+[[:space:]]*\(\)' "$f" \
        | sed -E 's/^[[:space:]]*(function[[:space:]]+)?//; s/[[:space:]]*\(\)$//')
done

selected=()
for name in "${tests[@]}"; do
    if [ -z "$FILTER" ] || [[ $name =~ $FILTER ]]; then
        selected+=("$name")
    fi
done

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

n=0 passed=0 failed=0 skipped=0
failed_names=()
start_all=$(date +%s)
for name in "${selected[@]}"; do
    n=$((n + 1))
    T=$(mktemp -d "${TMPDIR:-/tmp}/ocibuild-e2e.XXXXXX")
    chmod 0755 "$T"
    export T
    # each test has a cache of its own (tests that share one set it)
    export OCIBUILD_CACHE_DIR=$T/.cache
    log="$T/.log"
    t0=$(date +%s)
    # Must not be in a conditional context, or `set -e` would be ignored
    # inside the subshell.
    (
        set -euo pipefail
        cd "$T"
        "$name"
    ) </dev/null >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - t0 ))
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        if [ -f "$T/.skip" ]; then
            skipped=$((skipped + 1))
            echo "ok $n - $name # skip $(head -n1 "$T/.skip")"
        else
            echo "ok $n - $name (${secs}s)"
        fi
    else
        failed=$((failed + 1))
        failed_names+=("$name")
        echo "not ok $n - $name (exit $rc, ${secs}s)"
        sed "s/^/#   /" "$log" | tail -n 200
    fi
    if [ "$rc" -ne 0 ] && [ "${E2E_KEEP:-0}" = 1 ]; then
        echo "#   kept temp dir: $T"
    else
        cleanup_dir "$T"
    fi
done

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
