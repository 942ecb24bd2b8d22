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
# started with scripts/run-image.sh (chroot: needs root). Pushes go to a
# registry started here (Debian's docker-registry, plain HTTP on 127.0.0.1).
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

# output_of LOG: the output in LOG, without the command line and colours (rebar3
# ends a coloured line with a reset at the start of the next one)
output_of() { tail -n +2 "$1" | sed 's/\x1b\[[0-9;]*m//g'; }

# expect_fail DESC LOG ERE COMMAND...: non-zero exit, and the output (not
# counting the command line) matches the extended regex ERE
expect_fail() {
	local desc=$1 log=$2 re=$3; shift 3
	run "$log" "$@"
	local rc=$?
	if [ "$rc" -eq 0 ]; then
		not_ok "$desc (exit status 0, expected a failure)" "$log"
	elif ! output_of "$log" | grep -E -- "$re" >/dev/null; then
		echo "# expected in the output: /$re/" >>"$log"
		not_ok "$desc (no /$re/ in the output)" "$log"
	else
		ok "$desc"
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
	stop_registry
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
cfg() { skopeo inspect --config "oci-archive:$1:$(ref_names "$1" | sed -n 1p)"; }

# ref_names TAR: the tags in the archive's index, one per line
ref_names() {
	tar -xOf "$1" index.json | jq -r '.manifests[].annotations["org.opencontainers.image.ref.name"]'
}

has_ref() { ref_names "$1" | grep -xF "$2" >/dev/null; }

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
	got=$(skopeo inspect --raw "oci-archive:$1:$(ref_names "$1" | sed -n 1p)" | jq -c "$2")
	[ "$got" = true ] && return 0
	echo "jq '$2' gave '$got' for the manifest"
	return 1
}

# index_platforms_are TAR TAG "OS/ARCH ...": TAG in the archive is an image
# index of exactly these platforms, in this order
index_platforms_are() {
	local raw got
	raw=$(skopeo inspect --raw "oci-archive:$1:$2") || return 1
	got=$(jq -r 'select(.mediaType == "application/vnd.oci.image.index.v1+json") | [.manifests[].platform | .os + "/" + .architecture] | join(" ")' <<<"$raw")
	[ "$got" = "$3" ] && return 0
	echo "expected an index of $3, got: $raw"
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

# multi_base BIN: $T/base-multi, an OCI layout holding base:multi, an index of
# linux/amd64 and linux/arm64 (stands for a base image that provides Erlang)
multi_base() {
	[ -f "$T/base-multi/index.json" ] && return 0
	mkdir -p "$T/base-root/etc"
	echo base >"$T/base-root/etc/base-image"
	"$1" build -q --dir "$T/base-root" --workdir / --platform linux/amd64,linux/arm64 -t base:multi \
		--layout "$T/base-multi" >/dev/null
}

# ------------------------------------------------------------------ registry

REG_PID=
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_registry: docker-registry on a free port of 127.0.0.1; sets REG (HOST:PORT)
start_registry() {
	local port dir=$T/registry i
	port=$(free_port) || return 1
	REG=127.0.0.1:$port
	mkdir -p "$dir/store"
	cat >"$dir/config.yml" <<-EOF
	version: 0.1
	log:
	  level: info
	http:
	  addr: $REG
	  secret: x
	storage:
	  filesystem:
	    rootdirectory: $dir/store
	EOF
	docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
	REG_PID=$!
	for i in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		kill -0 "$REG_PID" 2>/dev/null || { REG_PID=; tail -n 20 "$dir/log"; return 1; }
		sleep 0.1
	done
	tail -n 20 "$dir/log"
	return 1
}

stop_registry() {
	[ -n "$REG_PID" ] || return 0
	kill "$REG_PID" 2>/dev/null
	wait "$REG_PID" 2>/dev/null
	REG_PID=
}

# pushed_ref LOG REPO: the line of LOG that is exactly REG/team/REPO@sha256:...
# (the binary's stdout, shown unchanged)
pushed_ref() {
	grep -xE "${REG//./\\.}/team/$2@sha256:[0-9a-f]{64}" "$1" | sed -n 1p | grep .
}

# sbom_ref REG/REPO@sha256:HEX: the tag of the SBOM attached to that image
sbom_ref() {
	printf '%s:sha256-%s.sbom\n' "${1%@*}" "${1#*@sha256:}"
}

# registry_digest NAME:TAG: the digest the registry has for REG/team/NAME:TAG
registry_digest() {
	skopeo inspect --tls-verify=false "docker://$REG/team/$1" | jq -r .Digest
}

# signed_ok LOG NAME PUBKEY: the image LOG pushed to REG/team/NAME carries a
# cosign signature (tag sha256-<hex>.sig) whose payload names it and whose
# ECDSA signature openssl verifies with PUBKEY
signed_ok() {
	local ref digest man pd
	ref=$(pushed_ref "$1" "$2") || { echo "no line $REG/team/$2@sha256:... in $1"; return 1; }
	digest=${ref#*@}
	man=$(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$REG/v2/team/$2/manifests/sha256-${digest#sha256:}.sig") ||
		{ echo "no signature manifest for $ref"; return 1; }
	pd=$(jq -r '.layers[0].digest' <<<"$man")
	curl -sf "http://$REG/v2/team/$2/blobs/$pd" >"$T/payload" || { echo "no payload $pd"; return 1; }
	jq -e --arg d "$digest" '.critical.image["docker-manifest-digest"] == $d' "$T/payload" >/dev/null ||
		{ echo "payload does not name $digest: $(cat "$T/payload")"; return 1; }
	jq -r '.layers[0].annotations["dev.cosignproject.cosign/signature"]' <<<"$man" | base64 -d >"$T/sig.der"
	openssl dgst -sha256 -verify "$3" -signature "$T/sig.der" "$T/payload"
}

# pushed_ok LOG NAME:TAG: LOG shows the pushed reference unchanged and
# "Image pushed: REF", and the registry has that digest for the tag
pushed_ok() {
	local log=$1 name=${2%%:*} ref digest
	ref=$(pushed_ref "$log" "$name") || { echo "no line $REG/team/$name@sha256:... in $log"; return 1; }
	grep -qxF "Image pushed: $ref" <(sed 's/\x1b\[[0-9;]*m//g; s/^===> //' "$log") ||
		{ echo "no 'Image pushed: $ref' in $log"; return 1; }
	digest=$(registry_digest "$2") || return 1
	[ "${ref#*@}" = "$digest" ] || { echo "pushed $ref, the registry has $digest for $2"; return 1; }
}

# every_flag_has_option BIN HELP-COMMAND...: each long flag of `BIN build --help`
# is in the output of HELP-COMMAND (the front-end's help), except those the
# README says the front-ends do not take, and why
every_flag_has_option() {
	local bin=$1 help flag missing=
	shift
	help=$("$@" 2>&1) || { echo "$* failed: $help"; return 1; }
	for flag in $("$bin" build --help | grep -oE '^ +(-[a-zA-Z], )?--[a-z-]+' | grep -oE -- '--[a-z-]+'); do
		case $flag in
		--dir | --project | --lock | --json | --quiet | --help) continue ;;
		esac
		[[ $help == *"$flag"* ]] || missing="$missing $flag"
	done
	[ -z "$missing" ] || { echo "not in '$*':$missing"; return 1; }
}

# archive_digest TAR: the digest of the (first) manifest of an image archive
archive_digest() { tar -xOf "$1" index.json | jq -r '.manifests[0].digest'; }

# ran_with LOG STRING...: the "Running BIN ARGS" debug line of LOG has each STRING
ran_with() {
	local log=$1 line s; shift
	line=$(grep -E 'Running .*/ocibuild (build|push) ' "$log") || { echo "no Running line in $log"; return 1; }
	for s in "$@"; do
		[[ $line == *"$s"* ]] || { echo "no '$s' in: $line"; return 1; }
	done
}

# ran_without LOG STRING: ... and does not have STRING
ran_without() {
	grep -qE 'Running .*/ocibuild (build|push) ' "$1" || { echo "no Running line in $1"; return 1; }
	! grep -E 'Running .*/ocibuild (build|push) ' "$1" | grep -F -- "$2" >/dev/null
}

# lines_are FILE LINE...: FILE has exactly these lines, in any order
lines_are() {
	local file=$1; shift
	[ -f "$file" ] || { echo "no $file"; return 1; }
	diff <(sort "$file") <(printf '%s\n' "$@" | sort) >/dev/null ||
		{ echo "$file:"; cat "$file"; echo; echo "expected:"; printf '%s\n' "$@"; return 1; }
}

# file_is FILE TEXT: FILE holds TEXT (a final newline or not)
file_is() {
	[ -f "$1" ] || { echo "no $1"; return 1; }
	[ "$(cat "$1")" = "$2" ] || { echo "$1 holds '$(cat "$1")', expected '$2'"; return 1; }
}

# ------------------------------------------------------------------ setup

for tool in git make cc pkg-config erl rebar3 elixir mix skopeo umoci jq tar timeout unshare chroot \
	docker-registry python3 openssl; do
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
start_registry >"$T/registry-start.log" 2>&1 || { cat "$T/registry-start.log"; bail "cannot start docker-registry"; }
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/it-key.pem" 2>/dev/null &&
	openssl pkey -in "$T/it-key.pem" -pubout -out "$T/it-key.pub" 2>/dev/null || bail "cannot make a signing key"
echo "# registry $REG (pid $REG_PID)"
# a port where nothing listens
DEAD=127.0.0.1:$(free_port)
# a CA certificate for --ca-file (the registry is plain HTTP: it is only loaded)
CA=$T/it-ca.pem
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/it-ca.key" -out "$CA" -days 2 \
	-subj /CN=ocibuild-it-ca >"$T/ca.log" 2>&1 || { cat "$T/ca.log"; bail "openssl cannot make a CA"; }

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
	# more {ocibuild, [...]} entries from $IT_OCIBUILD_EXTRA (an Erlang list), for
	# the tests of config keys; $IT_NO_ERTS: the prod release without ERTS (relx
	# mode minimal), as for an image on a base that provides Erlang
	cat >"$p/rebar.config.script" <<-'EOF'
	C1 = case os:getenv("IT_OCIBUILD_EXTRA") of
	    Extra when Extra =:= false; Extra =:= "" -> CONFIG;
	    Extra ->
	        {ok, Toks, _} = erl_scan:string(Extra ++ "."),
	        {ok, More} = erl_parse:parse_term(Toks),
	        {ocibuild, Oci} = lists:keyfind(ocibuild, 1, CONFIG),
	        lists:keystore(ocibuild, 1, CONFIG, {ocibuild, Oci ++ More})
	end,
	case os:getenv("IT_NO_ERTS") of
	    NoErts when NoErts =:= false; NoErts =:= "" -> C1;
	    _ ->
	        {profiles, Ps} = lists:keyfind(profiles, 1, C1),
	        Prod = proplists:get_value(prod, Ps, []),
	        Relx = proplists:get_value(relx, Prod, []),
	        Prod1 = lists:keystore(relx, 1, Prod, {relx, lists:keystore(mode, 1, Relx, {mode, minimal})}),
	        lists:keystore(profiles, 1, C1, {profiles, lists:keystore(prod, 1, Ps, {prod, Prod1})})
	end.
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
	check "rebar3: the binary says where the image went" \
		grep -qF "ocibuild: image myrel:0.1.0 written to _build/prod/myrel-0.1.0.tar" "$T/r-build.log"
	check "rebar3: default tag myrel:0.1.0" has_ref "$tar" myrel:0.1.0
	check "rebar3: entrypoint /app/bin/myrel, cmd foreground" \
		jq_true "$tar" '.config.Entrypoint == ["/app/bin/myrel"] and .config.Cmd == ["foreground"]'
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
	expect_fail "rebar3: --release of a release the relx config lacks names the ones it has" "$T/r-norel.log" \
		"no release nosuch in the relx config \\(it has myrel\\)" rebar3 as prod ocibuild --release nosuch

	# two releases: rebar3's release provider needs the name (-n); --release NAME
	# and -n both give it, and without either the plugin says which to pick
	cp "$p/rebar.config" "$T/rebar.config.one"
	sed -i 's/{release, {myrel, "0.1.0"},/{release, {other, "0.2.0"}, [myrel, sasl]},\n{release, {myrel, "0.1.0"},/' "$p/rebar.config"
	expect_fail "rebar3: two releases and no name: the message says -n NAME" "$T/r-two.log" \
		"several releases \\(myrel, other\\): pick one with .rebar3 as prod ocibuild -n NAME" \
		rebar3 as prod ocibuild -o "$T/r-two.tar"
	expect_ok "rebar3: two releases, --release other" "$T/r-two-release.log" \
		rebar3 as prod ocibuild --release other -o "$T/r-other.tar"
	check "rebar3: ... the image of release other:0.2.0" has_ref "$T/r-other.tar" other:0.2.0
	expect_ok "rebar3: two releases, -n myrel" "$T/r-two-n.log" \
		rebar3 as prod ocibuild -n myrel -o "$T/r-two-myrel.tar"
	check "rebar3: ... the image of release myrel:0.1.0" has_ref "$T/r-two-myrel.tar" myrel:0.1.0
	cp "$T/rebar.config.one" "$p/rebar.config"
	# passed on unchanged: the binary either does it or reports it
	# several platforms: a release that bundles ERTS runs on the build host's only
	expect_fail "rebar3: several -P platforms with ERTS bundled: the binary says to drop ERTS" \
		"$T/r-platforms-erts.log" "^ocibuild: error: .*include_erts false" \
		rebar3 as prod ocibuild -P linux/amd64 -P linux/arm64 -o "$T/r-plat.tar"

	# pushing to the registry
	expect_ok "rebar3 as prod ocibuild -t myrel:1.0.0 --push REG/team" "$T/r-push.log" \
		rebar3 as prod ocibuild -t myrel:1.0.0 --push "$REG/team"
	check "rebar3 --push: the pushed reference (unchanged), 'Image pushed: REF', the registry's digest" \
		pushed_ok "$T/r-push.log" myrel:1.0.0
	expect_ok "rebar3 as prod ocibuild --push REG/team --sign-key KEY" "$T/r-signed.log" \
		rebar3 as prod ocibuild -t myrel:signed --push "$REG/team" --sign-key "$T/it-key.pem"
	check "rebar3 --sign-key: a cosign signature openssl verifies" \
		signed_ok "$T/r-signed.log" myrel "$T/it-key.pub"

	rm -f "$T/r-refs.txt" "$T/r-digest.txt"
	expect_ok "rebar3 --push with --insecure-registry x2, --ca-file, --chunk-size, --image-refs, --digest-file" \
		"$T/r-push-flags.log" env DEBUG=1 rebar3 as prod ocibuild -t myrel:flags -t myrel:flags2 \
		--push "$REG/team" --insecure-registry "$REG" --insecure-registry registry.invalid \
		--ca-file "$CA" --chunk-size 1M --image-refs "$T/r-refs.txt" --digest-file "$T/r-digest.txt"
	check "rebar3: ... all passed to ocibuild build" ran_with "$T/r-push-flags.log" \
		"-t myrel:flags -t myrel:flags2 --push $REG/team " "--bundle-runtime --ca-file $CA --insecure-registry $REG --insecure-registry registry.invalid --chunk-size 1M --image-refs $T/r-refs.txt --digest-file $T/r-digest.txt"
	check "rebar3: ... pushed" pushed_ok "$T/r-push-flags.log" myrel:flags2
	local ref
	ref=$(pushed_ref "$T/r-push-flags.log" myrel)
	check "rebar3: --image-refs file: both tags and the digest reference" \
		lines_are "$T/r-refs.txt" "$REG/team/myrel:flags" "$REG/team/myrel:flags2" "$ref" "$(sbom_ref "$ref")"
	check "rebar3: --digest-file holds the pushed digest" file_is "$T/r-digest.txt" "${ref#*@}"

	rm -f "$T/r-cfg-refs.txt" "$T/r-cfg-digest.txt" "$T/r-cli-refs.txt"
	local extra="[{push, \"$REG/team\"}, {insecure_registries, [\"$REG\", \"registry.invalid\"]}, {ca_file, \"$CA\"}, {chunk_size, \"2M\"}, {image_refs, \"$T/r-cfg-refs.txt\"}, {digest_file, \"$T/r-cfg-digest.txt\"}]"
	expect_ok "rebar3: push, insecure_registries, ca_file, chunk_size, image_refs, digest_file from rebar.config" \
		"$T/r-push-cfg.log" env DEBUG=1 IT_OCIBUILD_EXTRA="$extra" rebar3 as prod ocibuild -t myrel:cfg
	check "rebar3: ... passed to ocibuild build" ran_with "$T/r-push-cfg.log" \
		"-t myrel:cfg --push $REG/team " "--bundle-runtime --ca-file $CA --insecure-registry $REG --insecure-registry registry.invalid --chunk-size 2M --image-refs $T/r-cfg-refs.txt --digest-file $T/r-cfg-digest.txt"
	check "rebar3: ... pushed (config push)" pushed_ok "$T/r-push-cfg.log" myrel:cfg
	ref=$(pushed_ref "$T/r-push-cfg.log" myrel)
	check "rebar3: ... config image_refs file" lines_are "$T/r-cfg-refs.txt" "$REG/team/myrel:cfg" "$ref" "$(sbom_ref "$ref")"
	check "rebar3: ... config digest_file" file_is "$T/r-cfg-digest.txt" "${ref#*@}"
	check "rebar3: ... no default archive written when pushing" \
		bash -c '! grep -q "written to" "$1"' _ "$T/r-push-cfg.log"
	rm -f "$T/r-cfg-refs.txt"
	expect_ok "rebar3: the command line wins over the config (--image-refs, --insecure-registry)" \
		"$T/r-push-cli.log" env DEBUG=1 IT_OCIBUILD_EXTRA="$extra" rebar3 as prod ocibuild -t myrel:cli \
		--image-refs "$T/r-cli-refs.txt" --insecure-registry "$REG"
	check "rebar3: ... only the command line's --insecure-registry" ran_with "$T/r-push-cli.log" \
		"--ca-file $CA --insecure-registry $REG --chunk-size 2M --image-refs $T/r-cli-refs.txt --digest-file"
	ref=$(pushed_ref "$T/r-push-cli.log" myrel)
	check "rebar3: ... the command line's image-refs file written, not the config's" \
		bash -c 'test ! -e "$1" && grep -qxF "$2" "$3"' _ "$T/r-cfg-refs.txt" "$ref" "$T/r-cli-refs.txt"

	# an archive built before: ocibuild push, registry flags only
	rm -f "$T/r-tar-refs.txt" "$T/r-tar-digest.txt"
	expect_ok "rebar3 ocibuild path/to.tar --push REG/team -t ... (and every registry flag)" "$T/r-push-tar.log" \
		env DEBUG=1 rebar3 ocibuild "$tar" --push "$REG/team" -t myrel:fromtar --ca-file "$CA" \
		--insecure-registry "$REG" --chunk-size 1M --image-refs "$T/r-tar-refs.txt" \
		--digest-file "$T/r-tar-digest.txt"
	check "rebar3: ... ocibuild push with the registry flags" ran_with "$T/r-push-tar.log" \
		"/ocibuild push $tar -t myrel:fromtar --push $REG/team --ca-file $CA --insecure-registry $REG --chunk-size 1M --image-refs $T/r-tar-refs.txt --digest-file $T/r-tar-digest.txt"
	check "rebar3: ... none of the config's build settings" ran_without "$T/r-push-tar.log" "--bundle-runtime"
	check "rebar3: ... pushed" pushed_ok "$T/r-push-tar.log" myrel:fromtar
	check "rebar3: ... the archive's manifest digest" file_is "$T/r-tar-digest.txt" "$(archive_digest "$tar")"
	ref=$(pushed_ref "$T/r-push-tar.log" myrel)
	check "rebar3: ... --image-refs file" lines_are "$T/r-tar-refs.txt" "$REG/team/myrel:fromtar" "$ref" "$(sbom_ref "$ref")"
	expect_ok "rebar3 ocibuild path/to.tar with push from rebar.config (the archive's own tag)" \
		"$T/r-push-tar-cfg.log" env IT_OCIBUILD_EXTRA="[{push, \"$REG/team\"}]" rebar3 as prod ocibuild "$tar"
	check "rebar3: ... pushed as myrel:0.1.0" pushed_ok "$T/r-push-tar-cfg.log" myrel:0.1.0
	expect_fail "rebar3: a tarball with a build option (--base) fails, naming it" "$T/r-push-tar-base.log" \
		"--base: only for building" rebar3 as prod ocibuild "$tar" --push "$REG/team" --base scratch
	check "rebar3: ... and every option a push takes" grep -qF -- \
		"takes -t, --push, --ca-file, --insecure-registry, --chunk-size, --image-refs, --digest-file, --sign-key and --no-attach-sbom" \
		"$T/r-push-tar-base.log"

	# SBOM attachment off: attach_sbom false in the config, --no-attach-sbom for an archive
	rm -f "$T/r-nosbom-refs.txt" "$T/r-nosbom-tar-refs.txt"
	expect_ok "rebar3: {attach_sbom, false} with push" "$T/r-nosbom.log" \
		env DEBUG=1 IT_OCIBUILD_EXTRA="[{attach_sbom, false}, {image_refs, \"$T/r-nosbom-refs.txt\"}]" \
		rebar3 as prod ocibuild -t myrel:nosbom --push "$REG/team"
	check "rebar3: ... --no-attach-sbom passed to ocibuild build" ran_with "$T/r-nosbom.log" "--no-attach-sbom"
	ref=$(pushed_ref "$T/r-nosbom.log" myrel)
	check "rebar3: ... pushed with no SBOM attached" \
		lines_are "$T/r-nosbom-refs.txt" "$REG/team/myrel:nosbom" "$ref"
	expect_ok "rebar3 ocibuild path/to.tar --push REG/team --no-attach-sbom" "$T/r-nosbom-tar.log" \
		env DEBUG=1 rebar3 ocibuild "$tar" --push "$REG/team" -t myrel:nosbomtar --no-attach-sbom \
		--image-refs "$T/r-nosbom-tar-refs.txt"
	ref=$(pushed_ref "$T/r-nosbom-tar.log" myrel)
	check "rebar3: ... pushed with no SBOM attached" \
		lines_are "$T/r-nosbom-tar-refs.txt" "$REG/team/myrel:nosbomtar" "$ref"
	check "rebar3: every flag of 'ocibuild build --help' has an option (or is one the docs say why not)" \
		every_flag_has_option "$p/_build/default/plugins/ocibuild/priv/ocibuild" rebar3 help ocibuild

	# nothing listens: the task fails with the binary's one-line error
	expect_fail "rebar3 --push to a port where nothing listens fails with the binary's error" \
		"$T/r-push-dead.log" "^ocibuild: error: .*${DEAD//./\\.}" \
		rebar3 as prod ocibuild -t myrel:1.0.0 --push "$DEAD/team"
	check "rebar3: ... and says the binary failed" grep -q "the ocibuild binary failed" "$T/r-push-dead.log"
	expect_fail "rebar3 ocibuild path/to.tar --push to a dead port fails with the binary's error" \
		"$T/r-push-tar-dead.log" "^ocibuild: error: .*${DEAD//./\\.}" \
		rebar3 as prod ocibuild "$tar" --push "$DEAD/team"
	expect_fail "rebar3: an image's exit status fails the task (bad --compression)" "$T/r-badcomp.log" \
		"the ocibuild binary failed" rebar3 as prod ocibuild --compression lzma

	# a version with build metadata: the default tag has '_' for '+', and says so
	sed -i 's/{myrel, "0.1.0"}/{myrel, "0.3.0+build.7"}/' "$p/rebar.config"
	expect_ok "rebar3: release version 0.3.0+build.7 (default tag)" "$T/r-vsn.log" rebar3 as prod ocibuild
	check "rebar3: ... says the tag is myrel:0.3.0_build.7" \
		grep -qF "tagging the image myrel:0.3.0_build.7" "$T/r-vsn.log"
	check "rebar3: ... tagged myrel:0.3.0_build.7" has_ref "$p/_build/prod/myrel-0.3.0+build.7.tar" myrel:0.3.0_build.7
	check "rebar3: ... the version annotation keeps the '+'" \
		manifest_true "$p/_build/prod/myrel-0.3.0+build.7.tar" '.annotations["org.opencontainers.image.version"] == "0.3.0+build.7"'
	sed -i 's/{myrel, "0.3.0+build.7"}/{myrel, "0.1.0"}/' "$p/rebar.config"

	# last, as it leaves a release without ERTS: several platforms make an index,
	# on a base that provides Erlang (scratch has none: refused)
	multi_base "$p/_build/default/plugins/ocibuild/priv/ocibuild"
	rm -rf "$p/_build/prod/rel/myrel"
	expect_fail "rebar3: a release without ERTS on scratch is refused, naming the fix" "$T/r-noerts.log" \
		"^ocibuild: error: .*does not include ERTS.*--base" \
		env IT_NO_ERTS=1 IT_OCIBUILD_EXTRA="[{bundle_runtime, false}]" rebar3 as prod ocibuild -o "$T/r-noerts.tar"
	expect_ok "rebar3: several -P platforms, release without ERTS: an image index" "$T/r-platforms.log" \
		env DEBUG=1 IT_NO_ERTS=1 IT_OCIBUILD_EXTRA="[{bundle_runtime, false}, {base_image, \"oci:$T/base-multi:base:multi\"}]" \
		rebar3 as prod ocibuild -P linux/amd64 -P linux/arm64 -o "$T/r-plat.tar"
	check "rebar3: ... one comma-separated --platform passed on" ran_with "$T/r-platforms.log" \
		"--platform linux/amd64,linux/arm64"
	check "rebar3: ... the archive holds an index of both platforms" \
		index_platforms_are "$T/r-plat.tar" myrel:0.1.0 "linux/amd64 linux/arm64"
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
	                 labels: %{"org.example.team" => "core"}] ++
	                # more entries from $IT_OCIBUILD_EXTRA (a keyword list), for the tests of config keys
	                elem(Code.eval_string(System.get_env("IT_OCIBUILD_EXTRA", "[]")), 0),
	      releases: [myapp: [include_erts: System.get_env("IT_NO_ERTS", "") == "",
	                         steps: [:assemble, &Ocibuild.MixRelease.build_image/1]]]
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

	expect_fail "mix ocibuild without MIX_ENV before any release: says MIX_ENV=prod mix release" "$T/m-norel-noenv.log" \
		"build it first with .MIX_ENV=prod mix release." env -u MIX_ENV mix ocibuild
	expect_ok "MIX_ENV=prod mix release: the release step builds the image" "$T/m-release.log" mix release --overwrite
	local tar=$p/_build/prod/myapp-0.1.0.tar
	check "mix release: the binary says where the image went" \
		grep -qF "ocibuild: image myapp:0.1.0 written to _build/prod/myapp-0.1.0.tar" "$T/m-release.log"
	check "mix release: default tag myapp:0.1.0" has_ref "$tar" myapp:0.1.0
	check "mix: entrypoint /app/bin/myapp, cmd start" \
		jq_true "$tar" '.config.Entrypoint == ["/app/bin/myapp"] and .config.Cmd == ["start"]'
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

	# without MIX_ENV (env dev, no release of its own): the prod release, logged
	expect_ok "mix ocibuild without MIX_ENV, only a prod release: uses it" "$T/m-noenv.log" \
		env -u MIX_ENV mix ocibuild -o "$T/m-noenv.tar"
	check "mix: ... says it uses the prod release" \
		grep -qF "using the prod release _build/prod/rel/myapp" "$T/m-noenv.log"
	check "mix: ... the image of myapp:0.1.0" has_ref "$T/m-noenv.tar" myapp:0.1.0

	expect_fail "mix: unknown flag fails with a message" "$T/m-badflag.log" "unknown option --bogus" mix ocibuild --bogus
	# passed on unchanged: the binary either does it or reports it
	expect_fail "mix: several -P platforms with ERTS bundled: the binary says to drop ERTS" \
		"$T/m-platforms-erts.log" "^ocibuild: error: .*include_erts: false" \
		mix ocibuild -P linux/amd64 -P linux/arm64 -o "$T/m-plat.tar"

	# pushing to the registry
	expect_ok "MIX_ENV=prod mix ocibuild --push REG/team" "$T/m-push.log" mix ocibuild --push "$REG/team"
	check "mix --push: the pushed reference (unchanged), 'Image pushed: REF', the registry's digest" \
		pushed_ok "$T/m-push.log" myapp:0.1.0
	expect_ok "MIX_ENV=prod mix ocibuild --push REG/team --sign-key KEY" "$T/m-signed.log" \
		mix ocibuild -t myapp:signed --push "$REG/team" --sign-key "$T/it-key.pem"
	check "mix --sign-key: a cosign signature openssl verifies" \
		signed_ok "$T/m-signed.log" myapp "$T/it-key.pub"

	rm -f "$T/m-refs.txt" "$T/m-digest.txt"
	expect_ok "mix --push with --insecure-registry x2, --ca-file, --chunk-size, --image-refs, --digest-file" \
		"$T/m-push-flags.log" env MIX_DEBUG=1 mix ocibuild -t myapp:flags -t myapp:flags2 \
		--push "$REG/team" --insecure-registry "$REG" --insecure-registry registry.invalid \
		--ca-file "$CA" --chunk-size 1M --image-refs "$T/m-refs.txt" --digest-file "$T/m-digest.txt"
	check "mix: ... all passed to ocibuild build" ran_with "$T/m-push-flags.log" \
		"-t myapp:flags -t myapp:flags2 --push $REG/team " \
		"--bundle-runtime --ca-file $CA --insecure-registry $REG --insecure-registry registry.invalid --chunk-size 1M --image-refs $T/m-refs.txt --digest-file $T/m-digest.txt"
	check "mix: ... pushed" pushed_ok "$T/m-push-flags.log" myapp:flags2
	local ref
	ref=$(pushed_ref "$T/m-push-flags.log" myapp)
	check "mix: --image-refs file: both tags and the digest reference" \
		lines_are "$T/m-refs.txt" "$REG/team/myapp:flags" "$REG/team/myapp:flags2" "$ref" "$(sbom_ref "$ref")"
	check "mix: --digest-file holds the pushed digest" file_is "$T/m-digest.txt" "${ref#*@}"

	rm -f "$T/m-cfg-refs.txt" "$T/m-cfg-digest.txt" "$T/m-cli-refs.txt"
	local extra="[push: \"$REG/team\", insecure_registries: [\"$REG\", \"registry.invalid\"], ca_file: \"$CA\", chunk_size: \"2M\", image_refs: \"$T/m-cfg-refs.txt\", digest_file: \"$T/m-cfg-digest.txt\"]"
	expect_ok "mix: push, insecure_registries, ca_file, chunk_size, image_refs, digest_file from mix.exs" \
		"$T/m-push-cfg.log" env MIX_DEBUG=1 IT_OCIBUILD_EXTRA="$extra" mix ocibuild -t myapp:cfg
	check "mix: ... passed to ocibuild build" ran_with "$T/m-push-cfg.log" "-t myapp:cfg --push $REG/team " \
		"--bundle-runtime --ca-file $CA --insecure-registry $REG --insecure-registry registry.invalid --chunk-size 2M --image-refs $T/m-cfg-refs.txt --digest-file $T/m-cfg-digest.txt"
	check "mix: ... pushed (config push)" pushed_ok "$T/m-push-cfg.log" myapp:cfg
	ref=$(pushed_ref "$T/m-push-cfg.log" myapp)
	check "mix: ... config image_refs file" lines_are "$T/m-cfg-refs.txt" "$REG/team/myapp:cfg" "$ref" "$(sbom_ref "$ref")"
	check "mix: ... config digest_file" file_is "$T/m-cfg-digest.txt" "${ref#*@}"
	check "mix: ... no default archive written when pushing" \
		bash -c '! grep -q "written to" "$1"' _ "$T/m-push-cfg.log"
	rm -f "$T/m-cfg-refs.txt"
	expect_ok "mix: the command line wins over the config (--image-refs, --insecure-registry)" \
		"$T/m-push-cli.log" env MIX_DEBUG=1 IT_OCIBUILD_EXTRA="$extra" mix ocibuild -t myapp:cli \
		--image-refs "$T/m-cli-refs.txt" --insecure-registry "$REG"
	check "mix: ... only the command line's --insecure-registry" ran_with "$T/m-push-cli.log" \
		"--ca-file $CA --insecure-registry $REG --chunk-size 2M --image-refs $T/m-cli-refs.txt --digest-file"
	ref=$(pushed_ref "$T/m-push-cli.log" myapp)
	check "mix: ... the command line's image-refs file written, not the config's" \
		bash -c 'test ! -e "$1" && grep -qxF "$2" "$3"' _ "$T/m-cfg-refs.txt" "$ref" "$T/m-cli-refs.txt"

	# an archive built before: ocibuild push, registry flags only
	rm -f "$T/m-tar-refs.txt" "$T/m-tar-digest.txt"
	expect_ok "mix ocibuild path/to.tar --push REG/team -t ... (and every registry flag)" "$T/m-push-tar.log" \
		env MIX_DEBUG=1 mix ocibuild "$tar" --push "$REG/team" -t myapp:fromtar --ca-file "$CA" \
		--insecure-registry "$REG" --chunk-size 1M --image-refs "$T/m-tar-refs.txt" \
		--digest-file "$T/m-tar-digest.txt"
	check "mix: ... ocibuild push with the registry flags" ran_with "$T/m-push-tar.log" \
		"/ocibuild push $tar -t myapp:fromtar --push $REG/team --ca-file $CA --insecure-registry $REG --chunk-size 1M --image-refs $T/m-tar-refs.txt --digest-file $T/m-tar-digest.txt"
	check "mix: ... none of the config's build settings" ran_without "$T/m-push-tar.log" "--bundle-runtime"
	check "mix: ... pushed" pushed_ok "$T/m-push-tar.log" myapp:fromtar
	check "mix: ... the archive's manifest digest" file_is "$T/m-tar-digest.txt" "$(archive_digest "$tar")"
	ref=$(pushed_ref "$T/m-push-tar.log" myapp)
	check "mix: ... --image-refs file" lines_are "$T/m-tar-refs.txt" "$REG/team/myapp:fromtar" "$ref" "$(sbom_ref "$ref")"
	expect_ok "mix ocibuild path/to.tar with push from mix.exs (the archive's own tag)" \
		"$T/m-push-tar-cfg.log" env IT_OCIBUILD_EXTRA="[push: \"$REG/team\"]" mix ocibuild "$tar"
	check "mix: ... pushed as myapp:0.1.0" pushed_ok "$T/m-push-tar-cfg.log" myapp:0.1.0
	expect_fail "mix: a tarball with a build option (--base) fails, naming it" "$T/m-push-tar-base.log" \
		"--base: only for building" mix ocibuild "$tar" --push "$REG/team" --base scratch
	check "mix: ... and every option a push takes" grep -qF -- \
		"takes -t, --push, --ca-file, --insecure-registry, --chunk-size, --image-refs, --digest-file, --sign-key and --no-attach-sbom" \
		"$T/m-push-tar-base.log"

	# SBOM attachment off: attach_sbom: false in the config, --no-attach-sbom for an archive
	rm -f "$T/m-nosbom-refs.txt" "$T/m-nosbom-tar-refs.txt"
	expect_ok "mix: attach_sbom: false with push" "$T/m-nosbom.log" \
		env MIX_DEBUG=1 IT_OCIBUILD_EXTRA="[attach_sbom: false, image_refs: \"$T/m-nosbom-refs.txt\"]" \
		mix ocibuild -t myapp:nosbom --push "$REG/team"
	check "mix: ... --no-attach-sbom passed to ocibuild build" ran_with "$T/m-nosbom.log" "--no-attach-sbom"
	ref=$(pushed_ref "$T/m-nosbom.log" myapp)
	check "mix: ... pushed with no SBOM attached" \
		lines_are "$T/m-nosbom-refs.txt" "$REG/team/myapp:nosbom" "$ref"
	expect_ok "mix ocibuild path/to.tar --push REG/team --no-attach-sbom" "$T/m-nosbom-tar.log" \
		env MIX_DEBUG=1 mix ocibuild "$tar" --push "$REG/team" -t myapp:nosbomtar --no-attach-sbom \
		--image-refs "$T/m-nosbom-tar-refs.txt"
	ref=$(pushed_ref "$T/m-nosbom-tar.log" myapp)
	check "mix: ... pushed with no SBOM attached" \
		lines_are "$T/m-nosbom-tar-refs.txt" "$REG/team/myapp:nosbomtar" "$ref"
	check "mix: every flag of 'ocibuild build --help' has an option (or is one the docs say why not)" \
		every_flag_has_option "$p/deps/ocibuild/priv/ocibuild" mix help ocibuild

	expect_ok "MIX_ENV=prod mix release: the release step pushes with push in mix.exs" "$T/m-release-push.log" \
		env IT_OCIBUILD_EXTRA="[push: \"$REG/team\"]" mix release --overwrite
	check "mix release: ... pushed" pushed_ok "$T/m-release-push.log" myapp:0.1.0

	# nothing listens: the task fails with the binary's one-line error
	expect_fail "mix --push to a port where nothing listens fails with the binary's error" \
		"$T/m-push-dead.log" "^ocibuild: error: .*${DEAD//./\\.}" \
		mix ocibuild -t myapp:0.1.0 --push "$DEAD/team"
	check "mix: ... and says the binary failed" grep -q "the ocibuild binary failed" "$T/m-push-dead.log"
	expect_fail "mix ocibuild path/to.tar --push to a dead port fails with the binary's error" \
		"$T/m-push-tar-dead.log" "^ocibuild: error: .*${DEAD//./\\.}" \
		mix ocibuild "$tar" --push "$DEAD/team"
	expect_fail "mix: the binary's failure fails the task (bad --compression)" "$T/m-badcomp.log" \
		"the ocibuild binary failed" mix ocibuild --compression lzma

	# a version with build metadata: the default tag has '_' for '+', and says so
	sed -i 's/version: "0.1.0"/version: "0.3.0+build.7"/' "$p/mix.exs"
	expect_ok "mix release: version 0.3.0+build.7 (default tag)" "$T/m-vsn.log" mix release --overwrite
	check "mix: ... says the tag is myapp:0.3.0_build.7" grep -qF "tagging the image myapp:0.3.0_build.7" "$T/m-vsn.log"
	check "mix: ... tagged myapp:0.3.0_build.7" has_ref "$p/_build/prod/myapp-0.3.0+build.7.tar" myapp:0.3.0_build.7
	check "mix: ... the version annotation keeps the '+'" \
		manifest_true "$p/_build/prod/myapp-0.3.0+build.7.tar" '.annotations["org.opencontainers.image.version"] == "0.3.0+build.7"'
	sed -i 's/version: "0.3.0+build.7"/version: "0.1.0"/' "$p/mix.exs"

	# last, as it leaves a release without ERTS: several platforms make an index,
	# on a base that provides Erlang (scratch has none: refused)
	multi_base "$p/deps/ocibuild/priv/ocibuild"
	rm -rf "$p/_build/prod/rel/myapp"
	expect_fail "mix release without ERTS on scratch is refused, naming the fix" "$T/m-release-noerts-scratch.log" \
		"^ocibuild: error: .*does not include ERTS.*--base" \
		env IT_NO_ERTS=1 IT_OCIBUILD_EXTRA="[bundle_runtime: false]" mix release --overwrite
	expect_ok "mix release without ERTS (include_erts: false) on a base" "$T/m-release-noerts.log" \
		env IT_NO_ERTS=1 IT_OCIBUILD_EXTRA="[bundle_runtime: false, base_image: \"oci:$T/base-multi:base:multi\"]" \
		mix release --overwrite
	expect_ok "mix: several -P platforms, release without ERTS: an image index" "$T/m-platforms.log" \
		env MIX_DEBUG=1 IT_OCIBUILD_EXTRA="[bundle_runtime: false, base_image: \"oci:$T/base-multi:base:multi\"]" \
		mix ocibuild -P linux/amd64 -P linux/arm64 -o "$T/m-plat.tar"
	check "mix: ... one comma-separated --platform passed on" ran_with "$T/m-platforms.log" \
		"--platform linux/amd64,linux/arm64"
	check "mix: ... the archive holds an index of both platforms" \
		index_platforms_are "$T/m-plat.tar" myapp:0.1.0 "linux/amd64 linux/arm64"
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

stop_registry

echo "1..$n"
echo "# $failures of $n failed, $((SECONDS - t0))s"
[ "$n" -gt 0 ] || { echo "# no test ran"; exit 1; }
[ "$failures" -eq 0 ]
