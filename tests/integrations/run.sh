#!/usr/bin/env bash
# Integration tests of `rebar3 ocibuild` (integrations/rebar3) and `mix ocibuild`
# plus the release step (integrations/mix), run the way a new user runs them.
#
#   tests/integrations/run.sh [rebar3|mix]     (both by default)
#
# The checkout is copied (tracked and untracked, not ignored, files of the
# working tree) into a temporary git repository and committed there, so that
# uncommitted changes are tested; fresh projects made by `rebar3 new release`
# and `mix new` use it through a file:// git URL. No `ocibuild` on PATH and no
# OCIBUILD_BIN, so the binary is built from the fetched checkout on first use;
# HOME, REBAR_CACHE_DIR, MIX_HOME and HEX_HOME are temporary, HEX_OFFLINE=1:
# nothing is downloaded. The images are checked with skopeo, umoci and jq, and
# started with scripts/run-image.sh (chroot: needs root).
#
# Output is TAP-like; the exit status is non-zero if a test failed or none ran.
#
# Environment:
#   IT_SOURCE=head   test HEAD's files plus the working tree's integration files
#                    (integrations/, rebar.config, mix.exs, tests/integrations/)
#                    instead of the whole working tree
#   IT_KEEP=1        keep the temporary directory (kept anyway on failure)
#   IT_TIMEOUT=N     seconds one build-tool command may take (default 300)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
only=${1:-}
case $only in "" | rebar3 | mix) ;; *) echo "usage: $0 [rebar3|mix]" >&2; exit 2 ;; esac
timeout_s=${IT_TIMEOUT:-300}
export LC_ALL=C.UTF-8 TZ=UTC

n=0
failures=0
T=

# ------------------------------------------------------------------ reporting

ok() { n=$((n + 1)); echo "ok $n - $*"; }

not_ok() {  # not_ok DESC [LOG]: the end of LOG as diagnostics
	n=$((n + 1)); failures=$((failures + 1))
	echo "not ok $n - $1"
	if [ -n "${2:-}" ] && [ -f "$2" ]; then
		tail -n 25 "$2" | sed 's/\x1b\[[0-9;]*m//g; s/^/#   /'
	fi
}

check() {  # check DESC COMMAND...: a test that passes when COMMAND succeeds
	local desc=$1; shift
	local log=$T/check.$n.log
	if "$@" >"$log" 2>&1; then ok "$desc"; else not_ok "$desc" "$log"; fi
}

# run LOG COMMAND...: run a build-tool command (in the current directory),
# output to LOG; returns its exit status.
run() {
	local log=$1; shift
	echo "\$ $*" >"$log"
	timeout "$timeout_s" "$@" >>"$log" 2>&1
}

# expect_ok DESC LOG COMMAND...
expect_ok() {
	local desc=$1 log=$2; shift 2
	local t0=$SECONDS
	if run "$log" "$@"; then ok "$desc ($((SECONDS - t0))s)"; return 0; fi
	not_ok "$desc (exit status $?)" "$log"
	return 1
}

# expect_fail DESC LOG ERE COMMAND...: non-zero exit, and the output (not
# counting the command line) matches the extended regex ERE
expect_fail() {
	local desc=$1 log=$2 re=$3; shift 3
	run "$log" "$@"
	local rc=$?
	if [ "$rc" -eq 0 ]; then
		not_ok "$desc (exit status 0, expected a failure)" "$log"
	elif ! tail -n +2 "$log" | grep -qE -- "$re"; then
		echo "# expected in the output: /$re/" >>"$log"
		not_ok "$desc (no /$re/ in the output)" "$log"
	else
		ok "$desc"
	fi
}

# expect_passed_on DESC LOG ERE COMMAND...: an option the binary may not support
# yet reached it: the build succeeds, or fails with ERE in the output
expect_passed_on() {
	local desc=$1 log=$2 re=$3; shift 3
	if run "$log" "$@" || tail -n +2 "$log" | grep -qE -- "$re"; then
		ok "$desc"
	else
		not_ok "$desc (no /$re/ in the output)" "$log"
	fi
}

bail() { echo "Bail out! $*"; exit 1; }

# ------------------------------------------------------------------ helpers

# Processes started by the image runs live in a chroot under $T: end them by pid.
stop_image_processes() {
	local p root
	for p in /proc/[0-9]*; do
		root=$(readlink "$p/root" 2>/dev/null) || continue
		case $root in "$T"/*) kill "${p#/proc/}" 2>/dev/null ;; esac
	done
}

cleanup() {
	[ -n "$T" ] || return 0
	stop_image_processes
	if [ "$failures" -eq 0 ] && [ "${IT_KEEP:-}" != 1 ]; then
		rm -rf "$T"
	else
		echo "# kept $T"
	fi
}
trap cleanup EXIT

# The checkout as a git repository with one commit on branch main.
snapshot() {
	local dst=$1
	mkdir -p "$dst"
	if [ "${IT_SOURCE:-}" = head ]; then
		git -C "$repo" archive HEAD | tar -x -C "$dst" || return 1
		(cd "$repo" && tar -cf - integrations rebar.config mix.exs tests/integrations) | tar -x -C "$dst" || return 1
	else
		(cd "$repo" && git ls-files -z -co --exclude-standard) |
			while IFS= read -r -d '' f; do
				# build-tool output of someone using the checkout itself is not source
				case $f in _build/* | deps/* | priv/* | *.beam) continue ;; esac
				if [ -e "$repo/$f" ] || [ -L "$repo/$f" ]; then printf '%s\0' "$f"; fi
			done | tar -C "$repo" --null -T - -cf - | tar -x -C "$dst" || return 1
	fi
	git -C "$dst" init -q -b main &&
		git -C "$dst" add -A &&
		git -C "$dst" -c user.name=it -c user.email=it@example.invalid commit -q -m snapshot
}

# A directory of links to every command on PATH except the C compilers.
path_without_cc() {
	local dir=$1 d f name
	mkdir -p "$dir"
	for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
		[ -d "$d" ] || continue
		for f in "$d"/*; do
			name=${f##*/}
			case $name in
			cc | c89 | c99 | gcc | gcc-[0-9]* | *-gcc | *-gcc-[0-9]* | clang | clang-[0-9]* | tcc | ocibuild) continue ;;
			esac
			[ -e "$dir/$name" ] || ln -s "$f" "$dir/$name"
		done
	done
}

# A pkg-config that does not find jansson.
fake_pkg_config() {
	cat >"$1" <<-'EOF'
	#!/bin/sh
	for a in "$@"; do [ "$a" = jansson ] && exit 1; done
	exec pkg-config "$@"
	EOF
	chmod +x "$1"
}

# cfg TAR: the image config of (the first tag of) an archive, as JSON
cfg() { skopeo inspect --config "oci-archive:$1:$(ref_names "$1" | head -n 1)"; }

# ref_names TAR: the tags in the archive's index, one per line
ref_names() {
	tar -xOf "$1" index.json | jq -r '.manifests[].annotations["org.opencontainers.image.ref.name"]'
}

has_ref() { ref_names "$1" | grep -qxF "$2"; }

# refs_are TAR "A B": exactly these tags (sorted, space-separated)
refs_are() { [ "$(ref_names "$1" | sort | tr '\n' ' ' | sed 's/ $//')" = "$2" ]; }

# jq_true TAR FILTER: FILTER applied to the image config yields true
jq_true() {
	local got
	got=$(cfg "$1" | jq -c "$2")
	[ "$got" = true ] && return 0
	echo "jq '$2' gave '$got' for the config:"
	cfg "$1" | jq -c .config
	return 1
}

# manifest_true TAR FILTER: FILTER applied to the image manifest yields true
manifest_true() {
	local got
	got=$(skopeo inspect --raw "oci-archive:$1:$(ref_names "$1" | head -n 1)" | jq -c "$2")
	[ "$got" = true ] && return 0
	echo "jq '$2' gave '$got' for the manifest"
	return 1
}

# start_image TAR TAG PROBE...: convert to a layout, start the image in the
# background, run PROBE (the release script's arguments) until it prints
# EXPECT, then `stop` it. PROBE_EXPECT names the expected output.
start_image() {
	local tar=$1 tag=$2; shift 2
	local dir=$T/run.${tag//[:\/]/_}
	rm -rf "$dir" && mkdir -p "$dir"
	skopeo copy -q "oci-archive:$tar" "oci:$dir/layout:$tag" || { echo "skopeo copy failed"; return 1; }
	umoci unpack --image "$dir/layout:$tag" "$dir/bundle" >/dev/null || { echo "umoci unpack failed"; return 1; }
	export RUN_IMAGE_BUNDLE=$dir/bundle
	timeout 120 "$repo/scripts/run-image.sh" "$dir/layout" "$tag" >"$dir/main.log" 2>&1 &
	local main=$! i out=
	for i in $(seq 1 40); do
		out=$(timeout 20 "$repo/scripts/run-image.sh" "$dir/layout" "$tag" "$@" 2>&1) &&
			[[ $out == *"$PROBE_EXPECT"* ]] && break
		out=
		kill -0 "$main" 2>/dev/null || break
		sleep 0.5
	done
	timeout 30 "$repo/scripts/run-image.sh" "$dir/layout" "$tag" stop >/dev/null 2>&1
	local stopped=0
	for i in $(seq 1 40); do
		kill -0 "$main" 2>/dev/null || { stopped=1; break; }
		sleep 0.5
	done
	wait "$main" 2>/dev/null
	unset RUN_IMAGE_BUNDLE
	echo "probe output: $out"
	echo "--- the image's output:"
	cat "$dir/main.log"
	[ -n "$out" ] || { echo "the probe never answered $PROBE_EXPECT"; return 1; }
	[ "$stopped" = 1 ] || { echo "the release did not stop"; return 1; }
}

# ------------------------------------------------------------------ setup

for tool in git make cc pkg-config erl rebar3 elixir mix skopeo umoci jq tar timeout unshare chroot; do
	command -v "$tool" >/dev/null || bail "$tool is not installed (scripts/install-deps.sh --test)"
done
[ "$(id -u)" -eq 0 ] || bail "run as root: the images are started in a chroot (scripts/run-image.sh)"

T=$(mktemp -d /tmp/ocibuild-it.XXXXXX)
echo "# work dir $T"

# A user environment: nothing from this checkout or the caller's tool caches.
unset OCIBUILD_BIN MIX_ENV MIX_EXS MIX_BUILD_PATH MIX_DEPS_PATH ERL_LIBS REBAR_CONFIG \
	REBAR_PROFILE MAKEFLAGS MAKELEVEL MFLAGS
export HOME=$T/home REBAR_CACHE_DIR=$T/rebar-cache MIX_HOME=$T/mix-home HEX_HOME=$T/hex-home \
	HEX_OFFLINE=1
mkdir -p "$HOME"
clean_path=
IFS=: read -r -a path_dirs <<<"$PATH"
for d in "${path_dirs[@]}"; do
	[ -n "$d" ] && [ ! -x "$d/ocibuild" ] && clean_path=${clean_path:+$clean_path:}$d
done
export PATH=$clean_path
command -v ocibuild >/dev/null && bail "ocibuild is still on PATH"

snapshot "$T/src" >"$T/snapshot.log" 2>&1 || { cat "$T/snapshot.log"; bail "cannot copy the checkout"; }
SRC_URL=file://$T/src
path_without_cc "$T/nocc-bin"
fake_pkg_config "$T/fake-pkg-config"

# ------------------------------------------------------------------ rebar3

test_rebar3() {
	local p=$T/rebar3/myrel
	mkdir -p "$T/rebar3"
	(cd "$T/rebar3" && run "$T/rebar3-new.log" rebar3 new release myrel) || { not_ok "rebar3 new release myrel" "$T/rebar3-new.log"; return; }
	cat >>"$p/rebar.config" <<-EOF

	{project_plugins, [{ocibuild, {git, "$SRC_URL", {branch, "main"}}}]}.
	{ocibuild, [{base_image, "scratch"},
	            {bundle_runtime, true},
	            {env, #{"LANG" => "C.UTF-8", "GREETING" => "hello world"}},
	            {expose, [8080, "9090/udp"]},
	            {labels, #{"org.example.team" => <<"core">>}},
	            {annotations, [{"org.example.note", it}]}]}.
	EOF
	cd "$p" || return

	# first use, with the build failing: no C compiler, then no libjansson
	expect_fail "rebar3: no C compiler -> the message names build-essential" "$T/r-nocc.log" \
		"apt-get install -y build-essential pkg-config" env PATH="$T/nocc-bin" rebar3 as prod ocibuild
	expect_fail "rebar3: jansson missing -> the message names libjansson-dev" "$T/r-nojansson.log" \
		"libjansson-dev" env PKG_CONFIG="$T/fake-pkg-config" rebar3 as prod ocibuild

	expect_ok "rebar3 as prod ocibuild: release, binary built on first use, image" "$T/r-build.log" \
		rebar3 as prod ocibuild
	local tar=$p/_build/prod/myrel-0.1.0.tar
	check "rebar3: the binary was built into the plugin's priv/" test -x "$p/_build/default/plugins/ocibuild/priv/ocibuild"
	check "rebar3: the binary's output is shown (digest, 'wrote')" \
		grep -qE '^sha256:[0-9a-f]{64}$|ocibuild: wrote ' "$T/r-build.log"
	check "rebar3: says where the image went" grep -qF "Image myrel:0.1.0 written to _build/prod/myrel-0.1.0.tar" "$T/r-build.log"
	check "rebar3: default tag myrel:0.1.0" has_ref "$tar" myrel:0.1.0
	check "rebar3: entrypoint /app/bin/myrel foreground" \
		jq_true "$tar" '.config.Entrypoint == ["/app/bin/myrel","foreground"]'
	check "rebar3: env from rebar.config (string values)" \
		jq_true "$tar" '.config.Env | (index("LANG=C.UTF-8") != null) and (index("GREETING=hello world") != null)'
	check "rebar3: exposed ports" jq_true "$tar" '.config.ExposedPorts | has("8080/tcp") and has("9090/udp")'
	check "rebar3: labels" jq_true "$tar" '.config.Labels["org.example.team"] == "core"'
	check "rebar3: manifest annotations" manifest_true "$tar" '.annotations["org.example.note"] == "it"'
	check "rebar3: erts, app and sbom layers" \
		jq_true "$tar" '[.history[].created_by] | any(test("erts layer")) and any(test("app layer")) and any(test("sbom layer"))'
	PROBE_EXPECT=pong check "rebar3: the image starts, answers ping, stops" start_image "$tar" myrel:0.1.0 ping

	expect_ok "rebar3: -t twice and -o override the defaults" "$T/r-tags.log" \
		rebar3 as prod ocibuild -t myrel:custom -t myrel:latest -o "$T/myrel-custom.tar" -e LANG=C
	check "rebar3: both -t tags, not the default" refs_are "$T/myrel-custom.tar" "myrel:custom myrel:latest"
	check "rebar3: -e overrides the config's env" jq_true "$T/myrel-custom.tar" \
		'.config.Env | (index("LANG=C") != null) and (index("LANG=C.UTF-8") == null) and (index("GREETING=hello world") != null)'

	expect_fail "rebar3: unknown flag fails with a message" "$T/r-badflag.log" "Invalid option --bogus" \
		rebar3 as prod ocibuild --bogus
	expect_fail "rebar3: --release of a missing release names the command" "$T/r-norel.log" \
		"rebar3 as prod release" rebar3 as prod ocibuild --release nosuch
	# passed on unchanged: the binary either does it or reports it (no registry listens there)
	expect_fail "rebar3: --push is passed on to the binary" "$T/r-push.log" "--push|127\\.0\\.0\\.1:9" \
		rebar3 as prod ocibuild -t myrel:0.1.0 --push 127.0.0.1:9/it
	expect_passed_on "rebar3: --sign-key is passed on to the binary" "$T/r-sign.log" \
		"sign-key|it-key\\.pem" rebar3 as prod ocibuild --sign-key it-key.pem -o "$T/r-sign.tar"
	expect_passed_on "rebar3: several -P platforms are passed on to the binary" "$T/r-platforms.log" \
		"linux/amd64,linux/arm64" rebar3 as prod ocibuild -P linux/amd64 -P linux/arm64 -o "$T/r-plat.tar"
	expect_fail "rebar3: a tarball argument pushes it (ocibuild push)" "$T/r-push-tar.log" \
		"127\\.0\\.0\\.1:9" rebar3 as prod ocibuild "$tar" --push 127.0.0.1:9/it
	expect_fail "rebar3: an image's exit status fails the task (bad --compression)" "$T/r-badcomp.log" \
		"the ocibuild binary failed" rebar3 as prod ocibuild --compression lzma
	cd "$T" || return
}

# ------------------------------------------------------------------ mix

test_mix() {
	local p=$T/mix/myapp
	mkdir -p "$T/mix"
	(cd "$T/mix" && run "$T/mix-new.log" mix new myapp) || { not_ok "mix new myapp" "$T/mix-new.log"; return; }
	# the user's edits: the dependency, the settings and the release step
	python3 - "$p/mix.exs" "$SRC_URL" <<-'EOF' || { not_ok "edit mix.exs"; return; }
	import sys
	path, url = sys.argv[1], sys.argv[2]
	s = open(path).read()
	s = s.replace("      deps: deps()\n", """      deps: deps(),
	      ocibuild: [base_image: "scratch", bundle_runtime: true, expose: [8080],
	                 env: %{"LANG" => "C.UTF-8", "GREETING" => ~c"hello world"},
	                 labels: %{"org.example.team" => "core"}],
	      releases: [myapp: [steps: [:assemble, &Ocibuild.MixRelease.build_image/1]]]
	""", 1)
	s = s.replace('      # {:dep_from_hexpm, "~> 0.3.0"},\n',
	              '      {:ocibuild, git: "%s", runtime: false},\n' % url, 1)
	assert "ocibuild:" in s and ":ocibuild, git:" in s, "mix.exs template changed"
	open(path, "w").write(s)
	EOF
	cd "$p" || return
	export MIX_ENV=prod
	expect_ok "mix deps.get (git file:// URL, offline)" "$T/m-deps.log" mix deps.get || { cd "$T"; return; }

	expect_fail "mix: no C compiler -> the message names build-essential" "$T/m-nocc.log" \
		"apt-get install -y build-essential pkg-config" env PATH="$T/nocc-bin" mix deps.compile
	expect_fail "mix: jansson missing -> the message names libjansson-dev" "$T/m-nojansson.log" \
		"libjansson-dev" env PKG_CONFIG="$T/fake-pkg-config" mix deps.compile

	expect_fail "mix ocibuild before mix release: says to run MIX_ENV=prod mix release" "$T/m-norel.log" \
		"no release at _build/prod/rel/myapp: build it first with .MIX_ENV=prod mix release." mix ocibuild
	check "mix: the binary was built into the dependency's priv/ on first use" test -x "$p/deps/ocibuild/priv/ocibuild"
	# as after `mix deps.update`: sources newer than the binary are built again
	sleep 1
	touch "$p"/deps/ocibuild/src/lib/ref.c
	expect_ok "mix deps.compile after a C source changed" "$T/m-stale.log" mix deps.compile ocibuild
	check "mix: ... rebuilt the binary" grep -q "building the ocibuild binary" "$T/m-stale.log"

	expect_ok "MIX_ENV=prod mix release: the release step builds the image" "$T/m-release.log" mix release --overwrite
	local tar=$p/_build/prod/myapp-0.1.0.tar
	check "mix release: says where the image went" grep -qF "Image myapp:0.1.0 written to _build/prod/myapp-0.1.0.tar" "$T/m-release.log"
	check "mix release: default tag myapp:0.1.0" has_ref "$tar" myapp:0.1.0
	check "mix: entrypoint /app/bin/myapp start" jq_true "$tar" '.config.Entrypoint == ["/app/bin/myapp","start"]'
	check "mix: env (map, charlist value)" \
		jq_true "$tar" '.config.Env | (index("LANG=C.UTF-8") != null) and (index("GREETING=hello world") != null)'
	check "mix: exposed port" jq_true "$tar" '.config.ExposedPorts | has("8080/tcp")'
	check "mix: labels" jq_true "$tar" '.config.Labels["org.example.team"] == "core"'
	check "mix: erts, app and sbom layers" \
		jq_true "$tar" '[.history[].created_by] | any(test("erts layer")) and any(test("app layer")) and any(test("sbom layer"))'
	PROBE_EXPECT=ok check "mix: the image starts, answers rpc 'IO.puts(:ok)', stops" start_image "$tar" myapp:0.1.0 rpc 'IO.puts(:ok)'

	rm -f "$tar"
	expect_ok "MIX_ENV=prod mix ocibuild (default tag and output)" "$T/m-task.log" mix ocibuild
	check "mix ocibuild: default tag myapp:0.1.0 in _build/prod/myapp-0.1.0.tar" has_ref "$tar" myapp:0.1.0
	check "mix ocibuild: the binary's output is shown" grep -qE '^sha256:[0-9a-f]{64}$' "$T/m-task.log"
	expect_ok "mix ocibuild -t -t -o -l" "$T/m-tags.log" \
		mix ocibuild -t myapp:custom -t myapp:latest -o "$T/myapp-custom.tar" -l org.example.team=edge
	check "mix ocibuild: both -t tags, not the default" refs_are "$T/myapp-custom.tar" "myapp:custom myapp:latest"
	check "mix ocibuild: -l overrides the config's label" jq_true "$T/myapp-custom.tar" '.config.Labels["org.example.team"] == "edge"'

	expect_fail "mix: unknown flag fails with a message" "$T/m-badflag.log" "unknown option --bogus" mix ocibuild --bogus
	expect_fail "mix: --push is passed on to the binary" "$T/m-push.log" "--push|127\\.0\\.0\\.1:9" \
		mix ocibuild -t myapp:0.1.0 --push 127.0.0.1:9/it
	expect_passed_on "mix: --sign-key is passed on to the binary" "$T/m-sign.log" \
		"sign-key|it-key\\.pem" mix ocibuild --sign-key it-key.pem -o "$T/m-sign.tar"
	expect_passed_on "mix: several -P platforms are passed on to the binary" "$T/m-platforms.log" \
		"linux/amd64,linux/arm64" mix ocibuild -P linux/amd64 -P linux/arm64 -o "$T/m-plat.tar"
	expect_fail "mix: a tarball argument pushes it (ocibuild push)" "$T/m-push-tar.log" \
		"127\\.0\\.0\\.1:9" mix ocibuild "$tar" --push 127.0.0.1:9/it
	expect_fail "mix: the binary's failure fails the task (bad --compression)" "$T/m-badcomp.log" \
		"the ocibuild binary failed" mix ocibuild --compression lzma
	unset MIX_ENV
	cd "$T" || return
}

# The sources compile without warnings (rebar3 and Mix show warnings of a
# dependency but do not fail on them).
test_sources() {
	mkdir -p "$T/ebin"
	check "the rebar3 plugin compiles without warnings (erlc +warnings_as_errors)" \
		erlc +warnings_as_errors -o "$T/ebin" "$T"/src/integrations/rebar3/src/*.erl
	check "the Mix project compiles without warnings (mix compile --warnings-as-errors)" \
		bash -c 'cd "$1" && OCIBUILD_BIN=/bin/true MIX_BUILD_PATH="$2" mix compile --warnings-as-errors' \
		_ "$T/src" "$T/mix-build"
}

t0=$SECONDS
test_sources
case $only in
"" | rebar3) test_rebar3 ;;
esac
case $only in
"" | mix) test_mix ;;
esac

echo "1..$n"
echo "# $failures of $n failed, $((SECONDS - t0))s"
[ "$n" -gt 0 ] || { echo "# no test ran"; exit 1; }
[ "$failures" -eq 0 ]
