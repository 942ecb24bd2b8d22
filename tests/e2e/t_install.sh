# make install, and a C program using the installed public header and library.

test_install_and_link() {
    local d=$T/dest
    # a plain build, even when this suite runs inside `make check-asan`
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SAN -u O -u BIN \
        make -s -C "$REPO" install DESTDIR="$d" PREFIX=/usr >"$T/make.log" 2>&1 ||
        fail "make install: $(tail -5 "$T/make.log")"
    [ -x "$d/usr/bin/ocibuild" ] || fail "no bin/ocibuild"
    [ -f "$d/usr/lib/libocibuild.a" ] || fail "no lib/libocibuild.a"
    [ -f "$d/usr/include/ocibuild/ocibuild.h" ] || fail "no include/ocibuild/ocibuild.h"
    "$d/usr/bin/ocibuild" --version | grep '^ocibuild ' >/dev/null || fail "installed binary does not run"
    mkdir -p "$T/tree"
    echo hello >"$T/tree/hello.txt"
    cat >"$T/use.c" <<'C'
#include <stdio.h>
#include <ocibuild/ocibuild.h>

int main(int argc, char **argv)
{
	const char *tags[] = { "fromc:1" };
	ocibuild_build_opts o = OCIBUILD_BUILD_OPTS_INIT;
	ocibuild_build_result r;
	ocibuild_error err = { 0 };
	ocibuild_ctx *ctx = ocibuild_ctx_new();

	(void)argc;
	o.dir = argv[1];
	o.layout = argv[2];
	o.tags.items = tags;
	o.tags.count = 1;
	if (ocibuild_build(ctx, &o, &r, &err) < 0) {
		fprintf(stderr, "%s\n", err.message);
		ocibuild_error_clear(&err);
		return 1;
	}
	printf("%s\n", r.manifest_digest);
	ocibuild_build_result_release(&r);
	ocibuild_ctx_free(ctx);
	return 0;
}
C
    cc -Wall -Wextra -I"$d/usr/include" -o "$T/use" "$T/use.c" "$d/usr/lib/libocibuild.a" \
        $(pkg-config --libs jansson libzstd libdeflate libcrypto libelf libsodium) -ldl -pthread \
        2>"$T/cc.err" || fail "cannot link against the installed library: $(cat "$T/cc.err")"
    [ -s "$T/cc.err" ] && fail "warnings building against the public header: $(cat "$T/cc.err")"
    local out
    out=$("$T/use" "$T/tree" "$T/layout") || fail "the program failed"
    [[ $out =~ ^sha256:[0-9a-f]{64}$ ]] || fail "unexpected output: $out"
    skopeo inspect "oci:$T/layout:fromc:1" >/dev/null || fail "skopeo cannot read the layout"
}
