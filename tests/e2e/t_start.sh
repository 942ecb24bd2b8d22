# shellcheck shell=bash
# Images that start the first time: the README's first commands, the
# release's Entrypoint and Cmd, reproducible digests, images that could not
# start refused, version and path edge cases. Images are started as uid
# 65534 in a chroot by scripts/run-image.sh, as a container engine would
# (Entrypoint + the given arguments, else Entrypoint + Cmd).
#
# Uses the release fixtures of t_release.sh (rel_fixture, rel_tool, ...);
# helpers here are prefixed st_.

# st_nobody CMD...: run CMD as uid/gid 65534 with no supplementary groups
st_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

# st_path_without_sudo DIR: a PATH of symlinks to every tool of $PATH but sudo
st_path_without_sudo() {
    local d=$1 p f
    mkdir -p "$d"
    IFS=: read -r -a dirs <<<"$PATH"
    for p in "${dirs[@]}"; do
        [ -d "$p" ] || continue
        for f in "$p"/*; do
            [ -x "$f" ] && [ ! -e "$d/${f##*/}" ] && ln -s "$f" "$d/${f##*/}"
        done
    done
    rm -f "$d/sudo"
    return 0
}

# The README's first two commands call sudo only when they need it: as root
# (a fresh container has no sudo) they run as they are.
test_start_readme_commands_without_sudo() {
    local cmds
    cmds=$(awk '/^```sh$/ { n++; next } /^```$/ { if (n == 1) exit; next } n == 1 && !/^#/ && NF' \
        "$REPO/README.md")
    assert_eq "$(grep -c '' <<<"$cmds")" 2 "commands in the README's first block: $cmds"
    assert_not_contains "$cmds" sudo "the README's first commands"
    # make: the tests that need root run directly as root, through sudo for a user
    expect_ok env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -C "$REPO" -n e2e integrations
    assert_not_contains "$OUT" sudo "make e2e integrations as root"
    expect_ok st_nobody env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -C "$REPO" -n e2e integrations
    assert_match "$OUT" $'(^|\n)sudo env OCIBUILD=[^\n]*tests/e2e/run\.sh' "make e2e as a user"
    assert_match "$OUT" $'(^|\n)sudo tests/integrations/run\.sh' "make integrations as a user"
    # a user without sudo is told what to do, in one line
    st_path_without_sudo "$T/bin"
    run st_nobody env PATH="$T/bin" /bin/sh "$REPO/scripts/install-deps.sh"
    assert_eq "$RC" 1 "install-deps.sh as a user without sudo (stderr: $ERR)"
    assert_eq "$ERR" "install-deps.sh: installing packages needs root: run it as root, or install sudo" \
        "install-deps.sh as a user without sudo"
    # make demo as root with no sudo anywhere: the example starts as uid 65534
    mkdir -p "$T/repo" "$T/home"
    cp -a "$REPO/examples" "$REPO/scripts" "$T/repo/"
    rm -rf "$T/repo/examples/hello/_build"
    run env PATH="$T/bin" HOME="$T/home" REBAR_CACHE_DIR="$T/home/rebar3" REBAR_OFFLINE=1 \
        OCIBUILD="$OCIBUILD" timeout 300 "$T/repo/examples/demo.sh"
    [ "$RC" -eq 0 ] || fail "demo.sh as root without sudo exited $RC: $OUT $ERR"
    assert_contains "$OUT" 'running as uid 65534' "demo output"
    run st_nobody env PATH="$T/bin" HOME="$T/home" "$T/repo/examples/demo.sh"
    assert_eq "$RC" 1 "demo.sh as a user without sudo (stderr: $ERR)"
    assert_contains "$ERR" "run it as root, or install sudo" "demo.sh as a user without sudo"
}

# st_entry LAYOUT TAG: "Entrypoint|Cmd" of the image config, as JSON
st_entry() { config_json "$1" "$2" | jq -c '[.config.Entrypoint, .config.Cmd]'; }

# The start script is the Entrypoint and its command the Cmd: arguments
# given to the image (docker run IMAGE eval ...) and -c replace the Cmd.
test_start_entrypoint_and_cmd_relx() {
    rel_fixture relx
    local L=$T/L port
    port=$(rel_free_port)
    ob_build --release "$REL_DIR" --base scratch --bundle-runtime -e "ERL_EPMD_PORT=$port" \
        -t relx:1 --layout "$L"
    assert_eq "$(st_entry "$L" relx:1)" '[["/app/bin/relx_app"],["foreground"]]' "relx Entrypoint and Cmd"
    # an image whose Cmd evaluates an expression in the running node
    ob_build --release "$REL_DIR" --base scratch --bundle-runtime -e "ERL_EPMD_PORT=$port" \
        -c '["eval","relx_app:hello()."]' -t relx:eval --layout "$L"
    assert_eq "$(st_entry "$L" relx:eval)" '[["/app/bin/relx_app"],["eval","relx_app:hello()."]]' \
        "relx Cmd from -c"
    rel_boot "$L" relx:1 "$port" ping
    # docker run IMAGE eval ...: the arguments replace the Cmd
    expect_ok rel_img "$L" relx:1 eval 'relx_app:hello().'
    assert_eq "$OUT" '"mydep greets relx_app"' "eval given to the image"
    # docker run IMAGE: the Cmd
    RUN_IMAGE_BUNDLE=$T/evalbundle expect_ok timeout 60 "$REPO/scripts/run-image.sh" "$L" relx:eval
    assert_eq "$OUT" '"mydep greets relx_app"' "eval as the image's Cmd"
    rel_stop "$L" relx:1
    assert_eq "$REL_APP_RC" 0 "exit status of 'foreground' after 'stop' (output: $(cat "$T/app.log"))"
    # --entrypoint X -c Y keeps both
    ob_build --release "$REL_DIR" --entrypoint '/app/bin/relx_app' -c 'eval ok.' -t relx:both --layout "$L"
    assert_eq "$(st_entry "$L" relx:both)" '[["/app/bin/relx_app"],["eval","ok."]]' "--entrypoint with -c"
    ob_build --release "$REL_DIR" --entrypoint '["/bin/sh","-c"]' -t relx:sh --layout "$L"
    assert_eq "$(st_entry "$L" relx:sh)" '[["/bin/sh","-c"],null]' "--entrypoint alone drops the Cmd"
}

test_start_entrypoint_and_cmd_mix() {
    rel_fixture mix
    local L=$T/L
    REL_BUNDLE=$T/bundle
    ob_build --project "$FX/mix_app" --base scratch --bundle-runtime -t mix:1 --layout "$L"
    assert_eq "$(st_entry "$L" mix:1)" '[["/app/bin/mix_app"],["start"]]' "Mix Entrypoint and Cmd"
    # eval starts its own VM without the applications: no node needed
    expect_ok rel_img "$L" mix:1 eval 'IO.puts(MixApp.hello())'
    assert_eq "$OUT" "mylib greets mix_app" "eval given to the image"
    ob_build --project "$FX/mix_app" --base scratch --bundle-runtime \
        -c '["eval","IO.puts(MixApp.hello()); IO.puts(:os.cmd(~c\"id -u\"))"]' -t mix:eval --layout "$L"
    RUN_IMAGE_BUNDLE=$T/evalbundle expect_ok timeout 60 "$REPO/scripts/run-image.sh" "$L" mix:eval
    assert_eq "$OUT" "mylib greets mix_app
65534" "eval as the image's Cmd, as uid 65534"
}

# st_created LAYOUT TAG: config.created
st_created() { config_json "$1" "$2" | jq -r .created; }

# The same input gives the same digest, whenever it is built: created comes
# from SOURCE_DATE_EPOCH, else the git HEAD's commit time, else 1970.
test_start_reproducible_created() {
    rel_fixture relx
    local d1 d2
    ob_build --release "$REL_DIR" -t a:1 --layout "$T/L1"
    d1=$DIGEST
    sleep 2
    ob_build --release "$REL_DIR" -t a:1 --layout "$T/L2"
    d2=$DIGEST
    assert_eq "$d2" "$d1" "digest of two builds 2 s apart"
    assert_eq "$(st_created "$T/L1" a:1)" 1970-01-01T00:00:01Z "created outside git"
    assert_eq "$(rel_ann "$T/L1" a:1 org.opencontainers.image.created)" 1970-01-01T00:00:01Z "created annotation"
    # in a git work tree: the commit time of HEAD
    mkdir -p "$T/repo/sub"
    echo hi >"$T/repo/sub/hi"
    git -C "$T/repo" init -q
    git -C "$T/repo" add -A
    GIT_AUTHOR_DATE=@1500000000 GIT_COMMITTER_DATE=@1600000000 git -C "$T/repo" \
        -c user.name=t -c user.email=t@example.invalid commit -qm one
    ob_build --dir "$T/repo/sub" -t a:1 --layout "$T/G1"
    assert_eq "$(st_created "$T/G1" a:1)" 2020-09-13T12:26:40Z "created from the commit time"
    sleep 2
    ob_build --dir "$T/repo/sub" -t a:1 --layout "$T/G2"
    assert_eq "$DIGEST" "$(index_digest "$T/G1" a:1)" "digest of two builds of one commit"
    # SOURCE_DATE_EPOCH wins over git, --created over both
    SOURCE_DATE_EPOCH=1700000000 ob_build --dir "$T/repo/sub" -t a:1 --layout "$T/G3"
    assert_eq "$(st_created "$T/G3" a:1)" 2023-11-14T22:13:20Z "created from SOURCE_DATE_EPOCH"
    SOURCE_DATE_EPOCH=1700000000 ob_build --dir "$T/repo/sub" --created @86400 -t a:1 --layout "$T/G4"
    assert_eq "$(st_created "$T/G4" a:1)" 1970-01-02T00:00:00Z "--created @SECONDS"
    ob_build --dir "$T/repo/sub" --created 2024-05-01T12:00:00+02:00 -t a:1 --layout "$T/G5"
    assert_eq "$(st_created "$T/G5" a:1)" 2024-05-01T10:00:00Z "--created RFC 3339"
    ob_build --dir "$T/repo/sub" --created now -t a:1 --layout "$T/G6"
    assert_match "$(st_created "$T/G6" a:1)" '^20[0-9]{2}-' "--created now"
    local bad
    mkdir "$T/out"
    for bad in yesterday 2024-02-30T00:00:00Z 2024-05-01T12:00:00 @-1 @ ""; do
        [ -n "$bad" ] || continue
        rel_ob_fail 2 "--created '$bad'" "RFC 3339" -- --dir "$T/repo/sub" --created "$bad" -t a:1 \
            --layout "$T/out/L"
    done
    assert_dir_listing "$T/out" ""
}

# Pushing an unchanged input again uploads nothing and writes nothing: the
# registry only answers HEADs.
test_start_repush_unchanged_puts_nothing() {
    rel_fixture relx
    reg_start plain
    ob_build_push() {
        run "$OCIBUILD" build --release "$REL_DIR" -t relx:1 -t relx:latest --push "$REG/team"
        [ "$RC" -eq 0 ] || fail "push exited $RC: $ERR"
    }
    ob_build_push
    local first=$OUT
    assert_match "$first" "^$REG/team/relx@sha256:[0-9a-f]{64}\$" "pushed reference"
    sleep 2
    reg_mark
    ob_build_push
    assert_eq "$OUT" "$first" "pushed reference of the same input 2 s later"
    assert_eq "$(reg_count '"(PUT|POST|PATCH|DELETE) ')" 0 "writes to the registry on a re-push: $(reg_access)"
    [ "$(reg_count '"HEAD /v2/team/relx/manifests/')" -ge 3 ] \
        || fail "the re-push did not check the manifest and tags: $(reg_access)"
    [ "$(reg_count '"HEAD /v2/team/relx/blobs/')" -ge 3 ] \
        || fail "the re-push did not check the blobs: $(reg_access)"
}

# st_env LAYOUT TAG: the config's Env, one a line
st_env() { config_json "$1" "$2" | jq -r '.config.Env[]'; }

# A release with ERTS on scratch gets the runtime it needs without asking,
# and starts as uid 65534; --no-bundle-runtime leaves it out, with a warning.
test_start_scratch_bundles_runtime_by_default() {
    rel_fixture relx
    local L=$T/L port
    port=$(rel_free_port)
    ob_build --release "$REL_DIR" -e "ERL_EPMD_PORT=$port" -t relx:1 --layout "$L"
    assert_eq "$(rel_created_by "$L" relx:1 | head -n 1)" "ocibuild build: runtime layer in /" \
        "first layer of a release with ERTS on scratch"
    assert_contains "$BUILD_ERR" "--no-bundle-runtime" "the build says how to leave the runtime out"
    st_env "$L" relx:1 >"$T/env"
    grep -qxF ERL_CRASH_DUMP=/tmp/erl_crash.dump "$T/env" || fail "no ERL_CRASH_DUMP in Env: $(cat "$T/env")"
    rel_boot "$L" relx:1 "$port" ping
    assert_eq "$(cat "$T/ready.out")" pong "bin/relx_app ping"
    # the crash dump goes where uid 65534 can write it
    expect_ok rel_img "$L" relx:1 eval 'os:getenv("ERL_CRASH_DUMP").'
    assert_eq "$OUT" '"/tmp/erl_crash.dump"' "ERL_CRASH_DUMP seen by the VM"
    rel_stop "$L" relx:1
    assert_eq "$REL_APP_RC" 0 "exit status of 'foreground' after 'stop'"
    # the user's ERL_CRASH_DUMP wins
    ob_build --release "$REL_DIR" -e ERL_CRASH_DUMP=/dev/null -t relx:2 --layout "$L"
    assert_eq "$(st_env "$L" relx:2 | grep '^ERL_CRASH_DUMP=')" ERL_CRASH_DUMP=/dev/null "user's ERL_CRASH_DUMP"
    # opting out
    ob_build --release "$REL_DIR" --no-bundle-runtime -t relx:3 --layout "$L"
    assert_eq "$(rel_created_by "$L" relx:3 | grep -c 'runtime layer' || true)" 0 "runtime layers with --no-bundle-runtime"
    assert_contains "$BUILD_ERR" "will not start on scratch" "warning of --no-bundle-runtime"
    mkdir "$T/out"
    rel_ob_fail 2 --bundle-runtime --no-bundle-runtime -- --release "$REL_DIR" --bundle-runtime \
        --no-bundle-runtime -t a:1 --layout "$T/out/L"
    # Mix too
    rel_fixture mix
    ob_build --project "$FX/mix_app" -t mix:1 --layout "$T/M"
    assert_eq "$(rel_created_by "$T/M" mix:1 | head -n 1)" "ocibuild build: runtime layer in /" \
        "first layer of a Mix release on scratch"
    REL_BUNDLE=$T/mixbundle
    expect_ok rel_img "$T/M" mix:1 eval 'IO.puts(MixApp.hello())'
    assert_eq "$OUT" "mylib greets mix_app" "Mix eval on the default scratch image"
    assert_dir_listing "$T/out" ""
}

# A release without ERTS has no Erlang on scratch: refused, naming the fix;
# on a base it builds.
test_start_refuse_no_erts_on_scratch() {
    local P=$T/noerts
    rel_copy_fixture relx_app "$P"
    sed -i "s/{mode, prod}, {include_erts, true}/{mode, minimal}/" "$P/rebar.config"
    grep -q "{mode, minimal}" "$P/rebar.config" || fail "could not set mode minimal"
    REL_HOME=$T/.home
    rel_tool "$P" "$T/rebar3.log" rebar3 as prod release
    ls -d "$P"/_build/prod/rel/relx_app/erts-* 2>/dev/null && fail "the release includes ERTS"
    mkdir "$T/out"
    rel_ob_fail 2 "does not include ERTS" "--base" "Erlang" "include_erts true" -- \
        --project "$P" -t a:1 --layout "$T/out/L"
    rel_ob_fail 2 "does not include ERTS" -- --project "$P" --base scratch --bundle-runtime -t a:1 \
        -o "$T/out/a.tar"
    assert_dir_listing "$T/out" ""
    mkdir -p "$T/base/etc"
    echo base >"$T/base/etc/base"
    ob_build --dir "$T/base" --workdir / -t base:1 --layout "$T/B"
    ob_build --project "$P" --base "oci:$T/B:base:1" -t a:1 --layout "$T/L"
    assert_eq "$(rel_cfg "$T/L" a:1 '[.config.Entrypoint, .config.Cmd]')" '[["/app/bin/relx_app"],["foreground"]]' \
        "a release without ERTS on a base"
}

# relx {extended_start_script, false}: bin/NAME passes its arguments to
# erlexec, so it is started with -noinput (no 'foreground'), and runs.
test_start_plain_start_script() {
    local P=$T/plain L=$T/L port node
    rel_copy_fixture relx_app "$P"
    sed -i 's/{include_erts, true}/{include_erts, true}, {extended_start_script, false}/' "$P/rebar.config"
    REL_HOME=$T/.home
    rel_tool "$P" "$T/rebar3.log" rebar3 as prod release
    grep -q foreground "$P/_build/prod/rel/relx_app/bin/relx_app" && fail "rebar3 made an extended start script"
    port=$(rel_free_port)
    ob_build --project "$P" -e "ERL_EPMD_PORT=$port" -t plain:1 --layout "$L"
    assert_eq "$(rel_cfg "$L" plain:1 '[.config.Entrypoint, .config.Cmd]')" '[["/app/bin/relx_app"],["-noinput"]]' \
        "Entrypoint and Cmd of a plain start script"
    # start it; ask the node from the host through the same epmd
    REL_BUNDLE=$T/bundle
    umoci_unpack "$L" plain:1 "$REL_BUNDLE"
    trap rel_teardown EXIT
    epmd -port "$port" >"$T/epmd.log" 2>&1 &
    REL_EPMD_PID=$!
    RUN_IMAGE_BUNDLE=$REL_BUNDLE setsid "$REPO/scripts/run-image.sh" "$L" plain:1 </dev/null >"$T/app.log" 2>&1 &
    REL_APP_PID=$!
    node="relx_app@$(hostname -s)"
    local i ok=0
    for i in $(seq 1 60); do
        rel_app_alive || fail "the plain start script exited: $(cat "$T/app.log")"
        if ERL_EPMD_PORT=$port timeout 30 erl -sname "probe$$" -setcookie relx_app_cookie -noinput -eval "
            case rpc:call('$node', relx_app, hello, []) of
                {badrpc, _} -> halt(1);
                R -> io:format(\"~p\", [R]), halt(0)
            end." >"$T/probe.out" 2>&1; then
            ok=1
            break
        fi
        sleep 0.5
    done
    [ "$ok" = 1 ] || fail "the node never answered: $(cat "$T/probe.out"); output: $(cat "$T/app.log")"
    assert_eq "$(cat "$T/probe.out")" '"mydep greets relx_app"' "rpc to the node of a plain start script"
    ERL_EPMD_PORT=$port timeout 30 erl -sname "stop$$" -setcookie relx_app_cookie -noinput \
        -eval "rpc:call('$node', init, stop, []), halt()." >/dev/null 2>&1 || true
    for i in $(seq 1 60); do
        rel_app_alive || break
        sleep 0.5
    done
    rel_app_alive && fail "the node did not stop"
    wait "$REL_APP_PID" || fail "exit status $? of the plain start script after init:stop (output: $(cat "$T/app.log"))"
    REL_APP_PID=
}

# --project that is not there says so; --lock is read by content, whatever
# the file is called.
test_start_project_missing_and_lock_by_content() {
    mkdir "$T/out"
    rel_ob_fail 1 "'$T/nope'" "does not exist" -- --project "$T/nope" -t a:1 --layout "$T/out/L"
    : >"$T/file"
    rel_ob_fail 1 "'$T/file'" "is not a directory" -- --project "$T/file" -t a:1 --layout "$T/out/L"
    assert_dir_listing "$T/out" ""
    rel_fixture mix
    local MIXREL=$REL_DIR
    cp "$REL_FIXTURES/mix_app/mix.lock" "$T/deps.lock"
    ob_build --release "$MIXREL" --lock "$T/deps.lock" --sbom "$T/mix.spdx.json" -t m:1 --layout "$T/M"
    rel_layer_list "$T/M" m:1 deps >"$T/deps.tsv"
    rel_has "$T/deps.tsv" '\Qapp/lib/mylib-0.4.2/ebin/Elixir.Mylib.beam\E' file \
        || fail "a mix.lock called deps.lock: mylib is not in the deps layer"
    jq -e '[.packages[].name] | index("mylib") != null' "$T/mix.spdx.json" >/dev/null \
        || fail "a mix.lock called deps.lock: the SBOM does not name mylib"
    rel_fixture relx
    cp "$REL_FIXTURES/relx_app/rebar.lock" "$T/other.lock"
    ob_build --release "$REL_DIR" --lock "$T/other.lock" -t r:1 --layout "$T/R"
    rel_layer_list "$T/R" r:1 deps >"$T/rdeps.tsv"
    rel_has "$T/rdeps.tsv" '\Qapp/lib/mydep-1.2.3/ebin/mydep.beam\E' file \
        || fail "a rebar.lock called other.lock: mydep is not in the deps layer"
}

# st_nif_project DIR: a rebar3 release project whose NIF (priv/foo_nif.so)
# links a library it ships, priv/lib/libfoo.so, found through
# RUNPATH $ORIGIN/lib; built with rebar3 as prod release
st_nif_project() {
    local d=$1 inc
    inc=$(erl -noshell -eval 'io:format("~s/erts-~s/include", [code:root_dir(), erlang:system_info(version)]), halt().')
    mkdir -p "$d/src" "$d/c_src" "$d/config"
    cat >"$d/rebar.config" <<'EOR'
{erl_opts, [debug_info, deterministic]}.
{pre_hooks, [{compile, "make -C c_src"}]}.
{relx, [{release, {nifapp, "0.1.0"}, [nifapp]},
        {mode, dev},
        {vm_args, "config/vm.args"}]}.
{profiles, [{prod, [{relx, [{mode, prod}, {include_erts, true}]}]}]}.
EOR
    printf '%s\n' '-sname nifapp' '-setcookie nifapp_cookie' >"$d/config/vm.args"
    cat >"$d/src/nifapp.app.src" <<'EOR'
{application, nifapp, [{description, "a NIF with its own library"}, {vsn, "0.1.0"},
                       {registered, []}, {applications, [kernel, stdlib]}, {env, []}]}.
EOR
    cat >"$d/src/nifapp.erl" <<'EOR'
-module(nifapp).
-export([answer/0]).
-on_load(init/0).
init() -> erlang:load_nif(filename:join(code:priv_dir(nifapp), "foo_nif"), 0).
answer() -> erlang:nif_error(not_loaded).
EOR
    printf 'int foo_answer(void) { return 42; }\n' >"$d/c_src/foo.c"
    cat >"$d/c_src/foo_nif.c" <<'EOR'
#include <erl_nif.h>
int foo_answer(void);
static ERL_NIF_TERM answer(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
{
	(void)argc; (void)argv;
	return enif_make_int(env, foo_answer());
}
static ErlNifFunc funcs[] = { { "answer", 0, answer, 0 } };
ERL_NIF_INIT(nifapp, funcs, NULL, NULL, NULL, NULL)
EOR
    cat >"$d/c_src/Makefile" <<EOR
all: ../priv/lib/libfoo.so ../priv/foo_nif.so
../priv/lib/libfoo.so: foo.c
	mkdir -p ../priv/lib
	cc -shared -fPIC -O2 -o \$@ foo.c
../priv/foo_nif.so: foo_nif.c ../priv/lib/libfoo.so
	cc -shared -fPIC -O2 -I$inc -o \$@ foo_nif.c -L../priv/lib -lfoo -Wl,--enable-new-dtags,-rpath,'\$\$ORIGIN/lib'
EOR
    REL_HOME=$T/.home
    rel_tool "$d" "$d.log" rebar3 as prod release
}

# A NIF's own library is found inside the release ($ORIGIN), not copied
# again into the runtime layer, and no layer depends on where the project
# was checked out: two checkouts, relative and absolute --project, one digest.
test_start_nif_origin_library() {
    st_nif_project "$T/a/nifapp"
    cp -a "$T/a/nifapp" "$T/b-nifapp"
    readelf -d "$T/a/nifapp/_build/prod/rel/nifapp/lib/nifapp-0.1.0/priv/foo_nif.so" | grep -F 'RUNPATH' \
        | grep -qF '[$ORIGIN/lib]' || fail "the NIF has no RUNPATH \$ORIGIN/lib"
    local port d1 d2
    port=$(rel_free_port)
    ob_build --project "$T/a/nifapp" -e "ERL_EPMD_PORT=$port" -t nif:1 --layout "$T/L"
    d1=$DIGEST
    (cd "$T" && ob_build --project b-nifapp -e "ERL_EPMD_PORT=$port" -t nif:1 --layout "$T/L2" \
        && echo "$DIGEST" >"$T/d2") || fail "build from a relative --project"
    d2=$(cat "$T/d2")
    assert_eq "$d2" "$d1" "digest of the same project in two directories (absolute and relative --project)"
    rel_layer_list "$T/L" nif:1 runtime >"$T/runtime.tsv"
    grep -F libfoo "$T/runtime.tsv" && fail "the runtime layer holds a copy of the release's libfoo.so"
    grep -F "${T#/}" "$T/runtime.tsv" && fail "the runtime layer holds the checkout path"
    rel_layer_list "$T/L" nif:1 app >"$T/app.tsv"
    rel_has "$T/app.tsv" '\Qapp/lib/nifapp-0.1.0/priv/lib/libfoo.so\E' file || fail "the app layer lacks libfoo.so"
    rel_boot "$T/L" nif:1 "$port" ping
    expect_ok rel_img "$T/L" nif:1 eval 'nifapp:answer().'
    assert_eq "$OUT" 42 "the NIF, through its own library, as uid 65534"
    rel_stop "$T/L" nif:1
}
