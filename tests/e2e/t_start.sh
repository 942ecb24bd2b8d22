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
