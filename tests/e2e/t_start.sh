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
