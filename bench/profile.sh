#!/usr/bin/env bash
# Where the time goes: profile ocibuild with perf on the bench input and print,
# per scenario, its wall and CPU time (a run without perf) and the share of CPU
# samples per stage (compress, hash, read, write, walk, fsync, network ...;
# see bench/perf_stages.py). Off-CPU waits (the disk flushing for fsync, the
# network) take wall time but no CPU samples: wall x cores - CPU shows them.
#
#   bench/profile.sh            # needs perf (Debian: linux-perf), run as root
#                               # or with kernel.perf_event_paranoid <= 1
# Environment: BENCH_WORK, BENCH_SEED, BENCH_INPUT_MB, BENCH_INPUT_FILES as in
# bench/run.sh (the same input is reused), OCIBUILD=path, PROFILE_ONLY=REGEX,
# PROFILE_DEBUG=1 (also show the call chains no stage rule matched).
set -euo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
WORK=${BENCH_WORK:-$HERE/work}
SEED=${BENCH_SEED:-42}
INPUT_MB=${BENCH_INPUT_MB:-60}
INPUT_FILES=${BENCH_INPUT_FILES:-5000}
ONLY=${PROFILE_ONLY:-}
die() { echo "profile: $*" >&2; exit 2; }
command -v perf >/dev/null || die "perf is missing (Debian: apt-get install linux-perf)"
OCIBUILD=${OCIBUILD:-$ROOT/ocibuild}
[[ -x $OCIBUILD ]] || make --no-print-directory -C "$ROOT" -s ocibuild >&2
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
IN=$WORK/profile-input-s$SEED-${INPUT_MB}m-${INPUT_FILES}f
LOCK=$IN.rebar.lock
if [[ ! -d $IN ]]; then
	python3 "$HERE/gen_input.py" "$IN.tmp" --seed "$SEED" --mb "$INPUT_MB" --files "$INPUT_FILES" \
		--lock "$LOCK" >/dev/null
	mv "$IN.tmp" "$IN"
fi
T=$(mktemp -d)
cleanup() {
	"$HERE/registry.sh" stop "$T/registry" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
export OCIBUILD_CACHE_DIR=$T/cache
OB=("$OCIBUILD" build -q --release "$IN" --lock "$LOCK" -t prof:1)

# a docker-registry on 127.0.0.1 for the push scenarios, if there is one
REG=
if command -v docker-registry >/dev/null; then
	REG=$("$HERE/registry.sh" start "$T/registry") || die "docker-registry did not start"
fi

N=0
# scenario NAME SETUP CMD...: SETUP (shell code) runs before each of the two runs
scenario() {
	local name=$1 setup=$2
	shift 2
	[[ -z $ONLY || $name =~ $ONLY ]] || return 0
	N=$((N + 1))
	bash -c "$setup" >/dev/null 2>&1 || die "setup of '$name' failed"
	/usr/bin/time -f '%e %U %S %M' -o "$T/time" -- "$@" >/dev/null 2>"$T/err" ||
		{ cat "$T/err" >&2; die "'$name' failed"; }
	bash -c "$setup" >/dev/null 2>&1 || die "setup of '$name' failed"
	perf record -q -F 1999 -g -o "$T/perf.data" -- "$@" >/dev/null 2>"$T/err" ||
		{ cat "$T/err" >&2; die "'$name' failed under perf"; }
	echo
	awk -v n="$name" '{printf "== %s: wall %.2f s, cpu %.2f s, peak RSS %.1f MiB\n", n, $1, $2 + $3, $4 / 1024}' "$T/time"
	perf script -i "$T/perf.data" -F comm,tid,ip,sym,dso 2>/dev/null |
		python3 "$HERE/perf_stages.py" ${PROFILE_DEBUG:+--unclassified 15}
}

echo "input: $IN ($(du -sm "$IN" | cut -f1) MiB); nproc $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
scenario "cold build, gzip" "rm -rf '$T/cache' '$T/o.tar'" "${OB[@]}" --compression gzip -o "$T/o.tar"
scenario "cold build, zstd" "rm -rf '$T/cache' '$T/o.tar'" "${OB[@]}" --compression zstd -o "$T/o.tar"
scenario "warm rebuild, gzip" "rm -f '$T/o.tar'; $(printf '%q ' "${OB[@]}") -o '$T/w.tar'" \
	"${OB[@]}" --compression gzip -o "$T/o.tar"
APP=$T/app-input
scenario "app change, gzip" \
	"[ -d '$APP' ] || cp -a '$IN' '$APP'; $(printf '%q ' "$OCIBUILD" build -q --release "$APP" --lock "$LOCK" -t prof:1) -o '$T/w.tar' && echo '%% x' >> '$APP/lib/myapp-0.1.0/ebin/myapp.app'" \
	"$OCIBUILD" build -q --release "$APP" --lock "$LOCK" -t prof:1 -o "$T/o.tar"
if [[ -n $REG ]]; then
	"${OB[@]}" --no-cache --layout "$T/src.oci" >/dev/null
	scenario "cold push" "echo \$((\$(cat '$T/n' 2>/dev/null || echo 0) + 1)) > '$T/n'" \
		bash -c "exec $(printf '%q ' "$OCIBUILD") push -q --no-attach-sbom '$T/src.oci' --push $REG -t prof/r\$(cat '$T/n'):1"
	scenario "cold build+push" "rm -rf '$T/cache'; echo \$((\$(cat '$T/n' 2>/dev/null || echo 0) + 1)) > '$T/n'" \
		bash -c "exec $(printf '%q ' "${OB[@]}") --push $REG -t prof/r\$(cat '$T/n'):1"
	# a fresh CI runner (empty layer cache) pushing an app-only change with
	# --cache-from the image pushed before it: only the app layer is made
	CF=$T/cf-input
	"${OB[@]}" --no-cache --no-attach-sbom --push "$REG" -t prof/prev:1 >/dev/null
	scenario "fresh runner --cache-from build+push" \
		"[ -d '$CF' ] || { cp -a '$IN' '$CF' && echo '%% x' >> '$CF/lib/myapp-0.1.0/ebin/myapp.app'; }; rm -rf '$T/cache'; echo \$((\$(cat '$T/n' 2>/dev/null || echo 0) + 1)) > '$T/n'" \
		bash -c "exec $(printf '%q ' "$OCIBUILD" build -q --release "$CF" --lock "$LOCK") --no-attach-sbom --push $REG --cache-from $REG/prof/prev:1 -t prof/cf\$(cat '$T/n'):1"
fi
((N)) || die "PROFILE_ONLY='$ONLY' matches no scenario"
