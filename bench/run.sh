#!/usr/bin/env bash
# Benchmark: ocibuild against tar|gzip, tar|pigz, tar|zstd and umoci on a
# synthetic Erlang release (~60 MiB, ~5,000 files). See bench/README.md.
#
# Environment (all optional):
#   BENCH_RUNS=5          timed runs per contender (median time is reported)
#   BENCH_WARMUP=1        untimed runs per contender before the timed ones
#   BENCH_WORK=bench/work where the input and the outputs go (git-ignored)
#   BENCH_OUT=...         where outputs are written (default: $BENCH_WORK/out)
#   BENCH_SEED=42  BENCH_INPUT_MB=60  BENCH_INPUT_FILES=5000   input shape
#   BENCH_ONLY=REGEX      run only contenders whose name matches REGEX
#   BENCH_QUIET=1         before each timed run wait (<= BENCH_QUIET_WAIT=10 s) for an idle
#                         second, and redo (<= BENCH_QUIET_RETRIES=2 times) a run during
#                         which other processes used CPU; 0 turns both off
#   BENCH_JOBS=N          pass --jobs N to ocibuild (default: its own, one per CPU)
#   OCIBUILD=path         binary to test (default: ./ocibuild, rebuilt with make if stale)
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
RUNS=${BENCH_RUNS:-5}
WARMUP=${BENCH_WARMUP:-1}
WORK=${BENCH_WORK:-$HERE/work}
SEED=${BENCH_SEED:-42}
INPUT_MB=${BENCH_INPUT_MB:-60}
INPUT_FILES=${BENCH_INPUT_FILES:-5000}
ONLY=${BENCH_ONLY:-}
QUIET=${BENCH_QUIET:-1}
QUIET_WAIT=${BENCH_QUIET_WAIT:-10}
QUIET_RETRIES=${BENCH_QUIET_RETRIES:-2}
JOBS=${BENCH_JOBS:-}

die() { echo "bench: $*" >&2; exit 2; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must be a number"
[[ $QUIET == [01] ]] || die "BENCH_QUIET must be 0 or 1"
[[ $QUIET_WAIT =~ ^[0-9]+$ && $QUIET_RETRIES =~ ^[0-9]+$ ]] ||
	die "BENCH_QUIET_WAIT and BENCH_QUIET_RETRIES must be numbers"
for t in python3 tar gzip pigz zstd umoci /usr/bin/time; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done

# --- the binary under test -------------------------------------------------
if [[ -z ${OCIBUILD:-} ]]; then
	OCIBUILD=$ROOT/ocibuild
	if ! make --no-print-directory -C "$ROOT" -q ocibuild 2>/dev/null; then
		echo "bench: ./ocibuild is missing or stale: running make" >&2
		make --no-print-directory -C "$ROOT" -s ocibuild >&2
	fi
fi
[[ -x $OCIBUILD ]] || die "no executable at $OCIBUILD"
OCIBUILD=$(cd "$(dirname "$OCIBUILD")" && pwd)/$(basename "$OCIBUILD")

# --- the input ---------------------------------------------------------------
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
OUT=${BENCH_OUT:-$WORK/out}
IN=$WORK/input-s$SEED-${INPUT_MB}m-${INPUT_FILES}f
LOCK=$IN.rebar.lock
GEN=$HERE/gen_input.py
stamp="seed=$SEED mb=$INPUT_MB files=$INPUT_FILES gen=$(sha256sum "$GEN" | cut -c1-16)"
if [[ -d $IN && -f $IN.stamp && $(head -n1 "$IN.stamp") == "$stamp" ]]; then
	echo "input: reusing $IN"
else
	echo "input: generating $IN ..."
	rm -rf "$IN" "$IN.tmp" "$IN.stamp" "$LOCK"
	t0=$EPOCHREALTIME
	python3 "$GEN" "$IN.tmp" --seed "$SEED" --mb "$INPUT_MB" --files "$INPUT_FILES" --lock "$LOCK"
	mv "$IN.tmp" "$IN"
	# one pass: gzip -l reports both sizes (the tar is far below 4 GiB)
	tar -C "$IN" --sort=name -cf - . | gzip -6 >"$WORK/ratio.tar.gz"
	read -r gz_bytes tar_bytes _ < <(gzip -l "$WORK/ratio.tar.gz" | sed -n 2p)
	rm -f "$WORK/ratio.tar.gz"
	{ echo "$stamp"; echo "$tar_bytes $gz_bytes"; } >"$IN.stamp"
	awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "input: generated and measured in %.1f s\n", b-a}'
fi
read -r TAR_BYTES GZ_BYTES < <(sed -n 2p "$IN.stamp")
NFILES=$(find "$IN" -type f | wc -l)
NDIRS=$(find "$IN" -mindepth 1 -type d | wc -l)
DATA_BYTES=$(find "$IN" -type f -printf '%s\n' | awk '{s+=$1} END{print s}')
awk -v f="$NFILES" -v d="$NDIRS" -v b="$DATA_BYTES" -v t="$TAR_BYTES" -v g="$GZ_BYTES" 'BEGIN{
	printf "input: %d files, %d dirs, %.1f MiB of file data, %.1f MiB as tar\n", f, d, b/1048576, t/1048576
	printf "input: compression ratio with tar | gzip -6: %.2fx (%.1f MiB)\n", t/g, g/1048576 }'

# --- machine facts ----------------------------------------------------------
echo
echo "== machine"
echo "nproc:     $(nproc)"
echo "cpu:       $(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n1)"
echo "memory:    $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
echo "kernel:    $(uname -sr)"
echo "os:        $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
echo "output fs: $(mkdir -p "$OUT" && df -PT "$OUT" | awk 'NR==2{print $2" ("$1")"}')"
echo "ocibuild:  $("$OCIBUILD" --version 2>&1 | head -n1) [$OCIBUILD; git $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')]"
echo "cc:        $(${CC:-cc} --version 2>/dev/null | head -n1)"
echo "gzip:      $(gzip --version | head -n1)"
echo "pigz:      $(pigz --version 2>&1 | head -n1)"
echo "zstd:      $(zstd --version | head -n1)"
echo "tar:       $(tar --version | head -n1)"
echo "umoci:     $(umoci --version | head -n1)"
echo "python3:   $(python3 --version 2>&1)"
echo "load avg:  $(cut -d' ' -f1-3 /proc/loadavg) (before the runs; anything well above 0 means contention)"
echo "runs:      $RUNS timed (+$WARMUP warm-up) per contender, round-robin"

# --- contenders ----------------------------------------------------------------
# Each: NAME, OUTPUT path (size is measured there), SETUP (untimed shell code),
# COMMAND (timed shell code). ocibuild and umoci are run directly under
# /usr/bin/time; pipelines through `bash -c`.
jobs_arg=${JOBS:+--jobs $JOBS}
UMOCI_ROOTLESS=
[[ $(id -u) -eq 0 ]] || UMOCI_ROOTLESS=--rootless
NAMES=() OUTS=() SETUPS=() CMDS=() DIRECT=() AFTERS=()
add() { # name out setup direct(1|0) cmd [after: untimed shell code run after cmd]
	[[ -z $ONLY || $1 =~ $ONLY ]] || return 0
	NAMES+=("$1"); OUTS+=("$2"); SETUPS+=("$3"); DIRECT+=("$4"); CMDS+=("$5"); AFTERS+=("${6:-}")
}
q() { printf '%q' "$1"; }
# the layer cache of the warm contenders; the cold ones bypass it
export OCIBUILD_CACHE_DIR=$WORK/layer-cache
rm -rf "$OCIBUILD_CACHE_DIR"
OBW="$(q "$OCIBUILD") build -q --dir $(q "$IN") -t bench:1 $jobs_arg"
OB="$OBW --no-cache"
add "ocibuild gzip -o"       "$OUT/ob-gzip.tar"  "" 1 "$OB --compression gzip -o $(q "$OUT/ob-gzip.tar")"
add "ocibuild gzip --layout" "$OUT/ob-gzip.oci"  "" 1 "$OB --compression gzip --layout $(q "$OUT/ob-gzip.oci")"
add "ocibuild zstd -o"       "$OUT/ob-zstd.tar"  "" 1 "$OB --compression zstd -o $(q "$OUT/ob-zstd.tar")"
add "ocibuild none -o"       "$OUT/ob-none.tar"  "" 1 "$OB --compression none -o $(q "$OUT/ob-none.tar")"
# warm: the same build again, every layer in the cache (the setup fills it)
if "$OCIBUILD" build --help 2>&1 | grep -- '--no-cache' >/dev/null; then
	add "ocibuild gzip -o, warm" "$OUT/ob-warm.tar" \
		"$OBW --compression gzip -o $(q "$OUT/ob-warm.tar")" 1 \
		"$OBW --compression gzip -o $(q "$OUT/ob-warm.tar")"
fi
# informational: the same input as a release (erts, deps and app layers + SBOM)
if "$OCIBUILD" build --help 2>&1 | grep -- '--release' >/dev/null; then
	OBREL="$(q "$OCIBUILD") build -q --release $(q "$IN") --lock $(q "$LOCK") -t bench:1 $jobs_arg"
	add "ocibuild gzip --release" "$OUT/ob-release.tar" "" 1 \
		"$OBREL --no-cache --compression gzip -o $(q "$OUT/ob-release.tar")"
	# one file of the project's app changed since the last (cached) build
	APPIN=$IN.app-change
	OBR="$(q "$OCIBUILD") build -q --release $(q "$APPIN") --lock $(q "$LOCK") -t bench:1 $jobs_arg --compression gzip -o $(q "$OUT/ob-appchange.tar")"
	add "ocibuild --release, app change" "$OUT/ob-appchange.tar" \
		"{ [ -d $(q "$APPIN") ] || cp -a $(q "$IN") $(q "$APPIN"); } && $OBR && echo '%% changed' >> $(q "$APPIN")/lib/myapp-0.1.0/ebin/myapp.app" 1 \
		"$OBR"
fi
# --- pushes: a docker-registry of our own on 127.0.0.1 (plain HTTP), stopped by PID --
# ocibuild push and skopeo copy send the same layout (the release image, made
# once) to a registry emptied before each run, so every push is cold: the
# registry has none of its blobs and the client uploads them all. Then
# build+push, cold (empty layer cache, emptied repository) and as a fresh CI
# runner would (empty layer cache) an app-only change with --cache-from the
# previous image; their "output" is a sparse file as big as the bytes uploaded
# (--json events).
TMPD=$(mktemp -d)
REGD=$WORK/registry COLD=$WORK/registry-cold
cleanup() {
	"$HERE/registry.sh" stop "$REGD" 2>/dev/null || true
	"$HERE/registry.sh" stop "$COLD" 2>/dev/null || true
	rm -rf "$TMPD"
}
trap cleanup EXIT
if [[ ${BENCH_REGISTRY:-1} == 1 ]] && command -v docker-registry >/dev/null &&
	command -v skopeo >/dev/null && command -v jq >/dev/null; then
	rm -rf "$REGD" "$COLD"
	mkdir -p "$OUT"
	REG=$("$HERE/registry.sh" start "$REGD") || die "the bench registry did not start"
	# the cold pushes go to a registry emptied (and restarted) before each run:
	# a new repository is not enough, skopeo remembers where it saw a blob
	# (its blob info cache) and mounts it from there instead of uploading
	COLDREG=$("$HERE/registry.sh" start "$COLD") || die "the bench registry did not start"
	echo "registry:  docker-registry on $REG, and on $COLDREG for the cold pushes"
	REPOS=$REGD/storage/docker/registry/v2/repositories
	PUSHSRC=$OUT/push-src.oci
	rm -rf "$PUSHSRC"
	"$OCIBUILD" build -q --release "$IN" --lock "$LOCK" -t bench:1 --no-cache --layout "$PUSHSRC" >/dev/null
	RESET="$(q "$HERE/registry.sh") reset $(q "$COLD")"
	add "ocibuild push (cold)" "" "$RESET" 0 \
		"$(q "$OCIBUILD") push -q $jobs_arg $(q "$PUSHSRC") --push $COLDREG -t bench/r:1 --no-attach-sbom"
	add "skopeo copy (cold)" "" "$RESET" 0 \
		"skopeo copy -q --dest-tls-verify=false oci:$(q "$PUSHSRC"):bench:1 docker://$COLDREG/bench/r:1"
	# the --json events go to a file; after the timed run (untimed), the
	# uploaded bytes -> a sparse file of that size
	EVENTS=$TMPD/events.json
	UPLOADED="jq -r 'select(.event == \"uploaded\") | .size' $(q "$EVENTS") | awk '{s+=\$1} END{print s+0}' | xargs -I{} truncate -s {}"
	OBP="$(q "$OCIBUILD") build --json --lock $(q "$LOCK") --release"
	add "ocibuild build+push, cold" "$OUT/push-cold.bytes" \
		"rm -rf $(q "$REPOS/cold")" 0 \
		"$OBP $(q "$IN") -t cold:1 $jobs_arg --no-cache --no-attach-sbom --push $REG 2>$(q "$EVENTS") >/dev/null" \
		"$UPLOADED $(q "$OUT/push-cold.bytes")"
	# the previous image, pushed once; the runner's input is that release
	# with one app file changed
	CFIN=$IN.cache-from
	CFCACHE=$WORK/cache-from-empty-cache
	add "ocibuild build+push, --cache-from" "$OUT/push-cf.bytes" \
		"{ [ -d $(q "$CFIN") ] || { cp -a $(q "$IN") $(q "$CFIN") && echo '%% changed' >> $(q "$CFIN")/lib/myapp-0.1.0/ebin/myapp.app; }; } &&
		 { [ -d $(q "$REPOS/prev") ] || OCIBUILD_CACHE_DIR=$(q "$CFCACHE") $(q "$OCIBUILD") build -q --lock $(q "$LOCK") --release $(q "$IN") -t prev:1 --no-attach-sbom --push $REG; } &&
		 rm -rf $(q "$REPOS/ci") $(q "$CFCACHE")" 0 \
		"OCIBUILD_CACHE_DIR=$(q "$CFCACHE") $OBP $(q "$CFIN") -t ci:1 $jobs_arg --no-attach-sbom --push $REG --cache-from $REG/prev:1 2>$(q "$EVENTS") >/dev/null" \
		"$UPLOADED $(q "$OUT/push-cf.bytes")"
fi
TARC="tar -C $(q "$IN") --sort=name -cf - ."
add "tar | gzip -6"          "$OUT/tar.gz"       "" 0 "$TARC | gzip -6 > $(q "$OUT/tar.gz")"
add "tar | pigz -6"          "$OUT/tar.pigz.gz"  "" 0 "$TARC | pigz -6 > $(q "$OUT/tar.pigz.gz")"
add "tar | zstd -3 -T0"      "$OUT/tar.zst"      "" 0 "$TARC | zstd -q -3 -T0 > $(q "$OUT/tar.zst")"
UL=$(q "$OUT/umoci.oci")
add "umoci insert (gzip)"    "$OUT/umoci.oci" \
	"umoci init --layout $UL && umoci new --image $UL:t" 1 \
	"umoci insert $UMOCI_ROOTLESS --image $UL:t $(q "$IN") /app"

((${#NAMES[@]})) || die "BENCH_ONLY='$ONLY' matches no contender"

# CPU time (jiffies, all CPUs) spent by anything other than idle/iowait.
busy_jiffies() {
	local _c u n s i w x y z
	read -r _c u n s i w x y z _ </proc/stat
	echo $((u + n + s + x + y + z))
}
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)

# wait_idle: until half a second passes with the CPUs >= 95% idle, at most
# QUIET_WAIT seconds.
wait_idle() {
	local waited=0 a b
	while ((waited < 2 * QUIET_WAIT)); do
		a=$(busy_jiffies)
		sleep 0.5
		b=$(busy_jiffies)
		(((b - a) * 200 <= HZ * NCPU * 5)) && return 0
		waited=$((waited + 1))
	done
	return 1
}

# run_one INDEX LOG: untimed cleanup and setup, then one timed run; appends
# "wall_seconds maxrss_kib cpu_seconds" to LOG (when LOG is not empty).
# When BENCH_QUIET is on, a timed run during which other processes used
# noticeable CPU is thrown away and repeated (at most QUIET_RETRIES times).
run_one() {
	local i=$1 log=$2 t0 t1 rc j0 j1 try foreign
	if [[ ${DIRECT[$i]} == 1 ]]; then
		# word-split the command line (paths are %q-quoted) without a shell in between
		eval "local -a argv=(${CMDS[$i]})"
	else
		local -a argv=(bash -c "set -o pipefail; ${CMDS[$i]}")
	fi
	for ((try = 0; ; try++)); do
		[[ -z ${OUTS[$i]} ]] || rm -rf -- "${OUTS[$i]}"
		[[ -z ${SETUPS[$i]} ]] || bash -c "${SETUPS[$i]}" >/dev/null 2>"$TMPD/err" ||
			{ cat "$TMPD/err" >&2; die "setup failed for '${NAMES[$i]}'"; }
		if [[ -n $log && $QUIET == 1 ]]; then
			wait_idle || NOISY_WAITS=$((NOISY_WAITS + 1))
		fi
		rc=0
		j0=$(busy_jiffies)
		t0=$EPOCHREALTIME
		/usr/bin/time -f '%e %M %U %S' -o "$TMPD/time" -- "${argv[@]}" >/dev/null 2>"$TMPD/err" || rc=$?
		t1=$EPOCHREALTIME
		j1=$(busy_jiffies)
		if ((rc)); then
			cat "$TMPD/err" >&2
			die "'${NAMES[$i]}' failed (exit $rc): ${CMDS[$i]}"
		fi
		[[ -z ${AFTERS[$i]} ]] || bash -c "set -o pipefail; ${AFTERS[$i]}" >/dev/null 2>"$TMPD/err" ||
			{ cat "$TMPD/err" >&2; die "the untimed step after '${NAMES[$i]}' failed"; }
		[[ -n $log ]] || return 0
		# CPU seconds used on the machine during the run by anything else
		foreign=$(awk -v j0="$j0" -v j1="$j1" -v hz="$HZ" '
			!/^Command/ {own=$3+$4} END{printf "%.2f", (j1-j0)/hz - own}' "$TMPD/time")
		if [[ $QUIET == 1 ]] && awk -v f="$foreign" -v a="$t0" -v b="$t1" -v n="$NCPU" \
			'BEGIN{exit !(f > 0.05 + 0.05 * (b - a) * n)}'; then
			if ((try < QUIET_RETRIES)); then
				RETRIED=$((RETRIED + 1))
				continue
			fi
			KEPT_NOISY=$((KEPT_NOISY + 1))
		fi
		awk -v a="$t0" -v b="$t1" -v f="$foreign" '
			!/^Command/ {m=$2; c=$3+$4} END{printf "%.4f %d %.2f %s\n", b-a, m, c, f}' \
			"$TMPD/time" >>"$log"
		return 0
	done
}
RETRIED=0 KEPT_NOISY=0 NOISY_WAITS=0

# warm the page cache (GNU tar skips reading file data when it writes
# straight to /dev/null, hence the cat)
tar -C "$IN" -cf - . | cat >/dev/null

echo
echo "== running (${#NAMES[@]} contenders x $RUNS runs)"
for ((i = 0; i < ${#NAMES[@]}; i++)); do
	: >"$TMPD/log.$i"
	for ((w = 0; w < WARMUP; w++)); do run_one "$i" ""; done
done
for ((r = 1; r <= RUNS; r++)); do
	printf 'run %d/%d:' "$r" "$RUNS"
	tar -C "$IN" -cf - . | cat >/dev/null
	for ((i = 0; i < ${#NAMES[@]}; i++)); do
		run_one "$i" "$TMPD/log.$i"
		printf ' %s' "$(tail -n1 "$TMPD/log.$i" | cut -d' ' -f1)"
	done
	echo
done

# --- results ----------------------------------------------------------------------
size_of() { # bytes in a file or in all files under a directory
	if [[ -z $1 ]]; then echo 0
	elif [[ -d $1 ]]; then find "$1" -type f -printf '%s\n' | awk '{s+=$1} END{print s+0}'
	else stat -c %s "$1"; fi
}
declare -A MED RSS CPU SIZE
echo
echo "== results (median of $RUNS runs; cpu = median user+sys; RSS = peak over runs;"
echo "   ratio = tar size / output size; other = max CPU s used by other processes during a kept run)"
fmt='%-32s %8s %7s %7s %7s %9s %8s %7s %7s\n'
# shellcheck disable=SC2059 # constant format shared by header and rows
printf "$fmt" contender "median s" "min s" "max s" "cpu s" "RSS MiB" "out MiB" ratio "other"
for ((i = 0; i < ${#NAMES[@]}; i++)); do
	read -r med min max rss < <(sort -n "$TMPD/log.$i" | awk '
		{t[NR]=$1; if ($2>m) m=$2}
		END{ med = NR%2 ? t[(NR+1)/2] : (t[NR/2]+t[NR/2+1])/2
		     printf "%.3f %.3f %.3f %.1f\n", med, t[1], t[NR], m/1024 }')
	cpu=$(cut -d' ' -f3 "$TMPD/log.$i" | sort -n | awk '{c[NR]=$1}
		END{printf "%.2f", NR%2 ? c[(NR+1)/2] : (c[NR/2]+c[NR/2+1])/2}')
	other=$(awk '$4 > m {m = $4} END{printf "%.2f", m}' "$TMPD/log.$i")
	osz=$(size_of "${OUTS[$i]}")
	MED[${NAMES[$i]}]=$med
	SIZE[${NAMES[$i]}]=$osz
	RSS[${NAMES[$i]}]=$rss
	CPU[${NAMES[$i]}]=$cpu
	# shellcheck disable=SC2059 # constant format shared by header and rows
	printf "$fmt" "${NAMES[$i]}" "$med" "$min" "$max" "$cpu" "$rss" \
		"$(awk -v o="$osz" 'BEGIN{if (o > 0) printf "%.1f", o/1048576; else printf "-"}')" \
		"$(awk -v o="$osz" -v t="$TAR_BYTES" 'BEGIN{if (o > 0) printf "%.2fx", t/o; else printf "-"}')" "$other"
done

echo
echo "== ratios: ocibuild / reference, of median wall time, median CPU time and peak RSS (lower is better;"
echo "   the targets apply to wall time)"
ratio() { # label a b [target]
	local a=${MED[$2]:-} b=${MED[$3]:-}
	if [[ -z $a || -z $b ]]; then printf '%-40s (not run)\n' "$1"; return; fi
	awk -v l="$1" -v a="$a" -v b="$b" -v tg="${4:-}" -v ra="${RSS[$2]}" -v rb="${RSS[$3]}" \
		-v ca="${CPU[$2]}" -v cb="${CPU[$3]}" 'BEGIN{
		r = a / b
		verdict = tg == "" ? "" : (r <= tg ? sprintf("PASS (target <= %sx)", tg) : sprintf("MISS (target <= %sx)", tg))
		printf "%-40s wall %5.2fx  cpu %5.2fx  RSS %5.2fx  %s\n", l, r, (cb > 0 ? ca / cb : 0),
			(rb > 0 ? ra / rb : 0), verdict }'
}
ratio "ocibuild gzip -o / tar | pigz -6"        "ocibuild gzip -o" "tar | pigz -6" 0.6
ratio "ocibuild gzip --layout / tar | pigz -6"  "ocibuild gzip --layout" "tar | pigz -6"
ratio "ocibuild gzip -o / tar | gzip -6"        "ocibuild gzip -o" "tar | gzip -6"
ratio "ocibuild zstd -o / tar | zstd -3 -T0"    "ocibuild zstd -o" "tar | zstd -3 -T0" 1.2
ratio "ocibuild gzip -o / umoci insert"         "ocibuild gzip -o" "umoci insert (gzip)" 0.8
ratio "warm rebuild / cold build (gzip -o)"     "ocibuild gzip -o, warm" "ocibuild gzip -o" 0.1
ratio "app change / cold build (--release)"     "ocibuild --release, app change" "ocibuild gzip --release" 0.25
ratio "ocibuild push / skopeo copy (cold)"      "ocibuild push (cold)" "skopeo copy (cold)" 1.0
ratio "fresh runner --cache-from / cold (push)" "ocibuild build+push, --cache-from" "ocibuild build+push, cold" 0.3
if [[ -n ${SIZE[ocibuild gzip -o]:-} && -n ${SIZE[tar | gzip -6]:-} ]]; then
	awk -v a="${SIZE[ocibuild gzip -o]}" -v b="${SIZE[tar | gzip -6]}" 'BEGIN{
		r = a / b; printf "%-40s size %5.3fx  %s\n", "ocibuild gzip -o / tar | gzip -6, bytes", r,
			(r <= 1.02 ? "PASS (target <= 1.02x)" : "MISS (target <= 1.02x)") }'
fi
maxrss=0 maxname=
for n in "${!RSS[@]}"; do
	[[ $n == ocibuild* ]] || continue
	if awk -v a="${RSS[$n]}" -v b="$maxrss" 'BEGIN{exit !(a > b)}'; then maxrss=${RSS[$n]} maxname=$n; fi
done
[[ -z $maxname ]] || awk -v m="$maxrss" -v n="$maxname" 'BEGIN{
	printf "%-40s %.1f MiB (%s)  %s\n", "ocibuild peak RSS, all modes", m, n,
		(m < 32 ? "PASS (target < 32 MiB)" : "MISS (target < 32 MiB)") }'
echo "load avg after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ $QUIET == 1 ]]; then
	echo "contention: $RETRIED runs redone because other processes used CPU during them," \
		"$KEPT_NOISY kept anyway after $QUIET_RETRIES retries, $NOISY_WAITS started without an idle second"
else
	echo "contention: not checked (BENCH_QUIET=0)"
fi
echo
echo "Notes: times are wall clock around /usr/bin/time (ms resolution); RSS is /usr/bin/time's"
echo "%M: for a single process (ocibuild, umoci) its peak RSS, threads included; for a"
echo "'bash -c' pipeline the largest peak RSS of any one process in it (Linux reports the"
echo "max over the waited-for tree, not the sum). ocibuild fsyncs its output; the pipelines"
echo "and umoci do not. 'cpu s' is the median user+sys CPU time (all threads and"
echo "processes), less sensitive than wall time to other load on the machine."
echo "A MISS is reported, never an error: the exit status is 0."
