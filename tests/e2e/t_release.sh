# shellcheck shell=bash
# BEAM releases: --release / --project, smart layers, --bundle-runtime, SBOM,
# VCS annotations, start commands and the release-specific errors.
#
# Fixtures (tests/e2e/fixtures/):
#   relx_app/  rebar3 project; dependency mydep comes from _checkouts/ (no hex
#              needed) while the hand-written rebar.lock names it as a hex
#              package with pkg_hash/pkg_hash_ext. Profile prod: mode prod,
#              include_erts true. vm.args has -sname.
#   mix_app/   Mix project with a path dependency on ../mylib, which the
#              hand-written mix.lock names as a hex package.
#   umbrella_app/  Mix umbrella, release umb: apps/web needs apps/core and
#              the path dependency ../mylib; its mix.lock names only ocibuild,
#              which is not in the release.
# They are built once (rebar3 / mix, offline) into
# ${TMPDIR:-/tmp}/ocibuild-e2e-cache/<kind>-<hash of fixture files and tools>
# and reused by every test and run; tests copy them before changing anything.
#
# Images are started with scripts/run-image.sh. Each test that starts a node
# runs its own epmd on a free port and bakes ERL_EPMD_PORT into the image
# (-e), so that concurrent runs (same node names) cannot meet.
#
# Environment: SPDX_SCHEMA=FILE  also validate SBOMs against that JSON schema
#              (the SPDX 2.2 schema of the SPDX specification; the project does
#              not ship a copy, so without it only the structural checks run).
#
# All helpers here are prefixed rel_ (every t_*.sh shares one shell).

REL_FIXTURES=$E2E_DIR/fixtures
REL_RECIPE=1        # bump when the way fixtures are built changes
REL_CI_VARS=(GITHUB_SERVER_URL GITHUB_REPOSITORY GITHUB_SHA CI_PROJECT_URL CI_COMMIT_SHA
    BUILD_REPOSITORY_URI BUILD_SOURCEVERSION)

# ------------------------------------------------------------ fixture cache

# rel_fingerprint FIXTURE... : short hash of the fixture files and build tools
rel_fingerprint() {
    local t p root
    {
        echo "recipe $REL_RECIPE"
        (cd "$REL_FIXTURES" && find "$@" \( -name _build -o -name deps \) -prune -o -type f -print \
            | LC_ALL=C sort | xargs -d '\n' sha256sum)
        for t in erl rebar3 elixir mix; do
            p=$(command -v "$t") || fail "$t is not installed"
            p=$(readlink -f "$p")
            echo "$t $p $(stat -c '%s %Y' "$p")"
        done
        root=$(dirname "$(dirname "$(readlink -f "$(command -v erl)")")")
        cat "$root"/releases/*/OTP_VERSION 2>/dev/null || true
        ls "$root"
    } | sha256sum | cut -c1-16
}

# rel_copy_fixture NAME DEST: the fixture's files without build output
rel_copy_fixture() {
    mkdir -p "$2"
    tar -C "$REL_FIXTURES/$1" --exclude=./_build --exclude=./deps -cf - . | tar -C "$2" -xf - \
        || fail "cannot copy fixture $1 to $2"
}

# rel_tool DIR LOG CMD... : run a build tool in DIR, offline, with private
# caches below $REL_HOME
rel_tool() {
    local dir=$1 log=$2
    shift 2
    mkdir -p "$REL_HOME"
    (cd "$dir" && env HOME="$REL_HOME" REBAR_CACHE_DIR="$REL_HOME/rebar3" \
        MIX_HOME="$REL_HOME/mix" HEX_HOME="$REL_HOME/hex" HEX_OFFLINE=1 REBAR_OFFLINE=1 \
        timeout "$OB_TIMEOUT" "$@") >"$log" 2>&1 \
        || fail "'$*' in $dir failed:
$(tail -n 40 "$log")"
}

rel_build_relx() {
    rel_copy_fixture relx_app "$FX/proj"
    rel_tool "$FX/proj" "$FX/proj.log" rebar3 as prod release
    # the hand-written lock is the point of the fixture
    cp "$REL_FIXTURES/relx_app/rebar.lock" "$FX/proj/rebar.lock"
    [ -d "$FX/proj/_build/prod/rel/relx_app/lib" ] || fail "rebar3 made no prod release in $FX/proj"
    # a dev-mode release (lib/* are symlinks) of the same project
    rel_copy_fixture relx_app "$FX/dev"
    rel_tool "$FX/dev" "$FX/dev.log" rebar3 release
}

rel_build_mix() {
    rel_copy_fixture mix_app "$FX/mix_app"
    rel_copy_fixture mylib "$FX/mylib"
    rel_tool "$FX/mix_app" "$FX/mix.log" env MIX_ENV=prod mix release --overwrite
    cp "$REL_FIXTURES/mix_app/mix.lock" "$FX/mix_app/mix.lock"
    [ -d "$FX/mix_app/_build/prod/rel/mix_app/lib" ] || fail "mix made no release in $FX/mix_app"
}

rel_build_umbrella() {
    rel_copy_fixture umbrella_app "$FX/umbrella_app"
    rel_copy_fixture mylib "$FX/mylib"
    rm -f "$FX/umbrella_app/mix.lock"
    rel_tool "$FX/umbrella_app" "$FX/umbrella.log" env MIX_ENV=prod mix release --overwrite
    cp "$REL_FIXTURES/umbrella_app/mix.lock" "$FX/umbrella_app/mix.lock"
    [ -d "$FX/umbrella_app/_build/prod/rel/umb/lib" ] || fail "mix made no release in $FX/umbrella_app"
}

# rel_git_project DIR ORIGIN [VAR=VALUE...]: a copy of the relx fixture's
# project ($FX/proj, after rel_fixture relx) in DIR as a git work tree of
# one commit (made with the VAR=VALUE given, e.g. its dates) whose origin is
# ORIGIN; git reads no system or user configuration
rel_git_project() {
    local P=$1 origin=$2
    shift 2
    cp -a "$FX/proj" "$P"
    export GIT_CONFIG_NOSYSTEM=1 HOME=$T/githome
    mkdir -p "$HOME"
    git -C "$P" init -q
    git -C "$P" add -A
    env "$@" git -C "$P" -c user.name=t -c user.email=t@example.com commit -qm fixture
    git -C "$P" remote add origin "$origin"
}

# rel_fixture relx|mix|umbrella : build the fixture once (cached, under a lock); sets
# FX to its directory and REL_DIR to its release:
#   relx: $FX/proj (prod release), $FX/dev (dev-mode release)
#   mix:  $FX/mix_app, $FX/mylib
rel_fixture() {
    local kind=$1 root key lockfd
    case $kind in
        relx) key=$(rel_fingerprint relx_app) ;;
        mix) key=$(rel_fingerprint mix_app mylib) ;;
        umbrella) key=$(rel_fingerprint umbrella_app mylib) ;;
        *) fail "rel_fixture: unknown kind '$kind'" ;;
    esac
    root=${TMPDIR:-/tmp}/ocibuild-e2e-cache
    mkdir -p "$root" || fail "cannot create $root"
    FX=$root/$kind-$key
    if [ ! -f "$FX/.complete" ]; then
        exec {lockfd}>"$root/.$kind.lock"
        flock -w 900 "$lockfd" || fail "timed out waiting for $root/.$kind.lock"
        if [ ! -f "$FX/.complete" ]; then
            echo "# building fixture $kind in $FX"
            rm -rf "$FX"
            mkdir -p "$FX"
            REL_HOME=$FX/.home
            "rel_build_$kind"
            touch "$FX/.complete"
        fi
        exec {lockfd}>&-
    fi
    case $kind in
        relx) REL_DIR=$FX/proj/_build/prod/rel/relx_app ;;
        mix) REL_DIR=$FX/mix_app/_build/prod/rel/mix_app ;;
        umbrella) REL_DIR=$FX/umbrella_app/_build/prod/rel/umb ;;
    esac
    # tests that run rebar3/mix themselves use their own caches
    REL_HOME=$T/.home
}

# ------------------------------------------------------------ image facts

rel_cfg() { config_json "$1" "$2" | jq -c "$3"; }              # LAYOUT TAG JQ
rel_ann() { manifest_json "$1" "$2" | jq -r --arg k "$3" '.annotations[$k] // "<none>"'; }

# rel_created_by LAYOUT TAG: created_by of the layers, one per line
rel_created_by() {
    config_json "$1" "$2" | jq -r '.history[] | select(.empty_layer != true) | .created_by'
}

# rel_layer_index LAYOUT TAG KIND: index into .layers of the KIND layer
rel_layer_index() {
    local idx
    idx=$(config_json "$1" "$2" | jq -r --arg k "ocibuild build: $3 layer in " \
        '[.history[] | select(.empty_layer != true) | .created_by | startswith($k)]
         | to_entries | map(select(.value)) | .[0].key // "none"')
    [ "$idx" != none ] || fail "image $2 in $1 has no $3 layer: $(rel_created_by "$1" "$2" | tr '\n' '|')"
    echo "$idx"
}

rel_layer_digest() {  # LAYOUT TAG KIND
    local idx
    idx=$(rel_layer_index "$1" "$2" "$3")
    manifest_json "$1" "$2" | jq -r ".layers[$idx].digest"
}

# rel_layer_list LAYOUT TAG KIND: "path<TAB>type<TAB>mode<TAB>size<TAB>link"
# for each member of the KIND layer, in archive order; paths without a
# leading ./ or / and without a trailing /; type is file|dir|symlink|hardlink|other
rel_layer_list() {
    local idx
    idx=$(rel_layer_index "$1" "$2" "$3")
    layer_tar "$1" "$2" "$idx" | "$PY" -c '
import sys, tarfile
kinds = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir",
         tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink"}
with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tf:
    for m in tf:
        name = m.name
        while name.startswith("./"):
            name = name[2:]
        name = name.strip("/")
        print("\t".join([name, kinds.get(m.type, "other"), "%o" % m.mode, str(m.size), m.linkname]))
    sys.stdin.buffer.read()
' || fail "cannot list the $3 layer of $2"
}

# rel_layer_cat LAYOUT TAG KIND PATH: contents of one file of a layer
rel_layer_cat() {
    local idx
    idx=$(rel_layer_index "$1" "$2" "$3")
    layer_tar "$1" "$2" "$idx" | "$PY" -c '
import sys, tarfile
want, data = sys.argv[1], None
with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tf:
    for m in tf:   # read to the end: the producer must not get SIGPIPE
        if m.name.lstrip("./").lstrip("/") == want and m.isfile():
            data = tf.extractfile(m).read()
    sys.stdin.buffer.read()
if data is None:
    sys.exit("no file %s in the layer" % want)
sys.stdout.buffer.write(data)
' "$4" || fail "cannot read $4 from the $3 layer of $2"
}

# rel_has LISTING PCRE [TYPE]: some member's path matches ^PCRE$ (and its
# type is TYPE); use \Q...\E for literal paths
rel_has() { grep -qP "^(?:$2)\t${3:-}" "$1"; }

# rel_check_listing LISTING...: no duplicate paths, and the parent directory of
# every member is itself a member of the same layer (as it is for a tree).
rel_check_listing() {
    "$PY" - "$@" <<'PYEOF' || fail "malformed layer listing (see above)"
import sys
bad = 0
for f in sys.argv[1:]:
    rows = [l.rstrip("\n").split("\t") for l in open(f) if l.strip()]
    names = [r[0] for r in rows]
    dirs = {r[0] for r in rows if r[1] == "dir"}
    seen = set()
    for n in names:
        if n in seen:
            print("%s: duplicate member %s" % (f, n)); bad = 1
        seen.add(n)
    missing = sorted({n.rsplit("/", 1)[0] for n in names if "/" in n} - dirs)
    for m in missing:
        print("%s: no directory entry for %s/ (parent of %s)" % (f, m,
              next(n for n in names if n.startswith(m + "/"))))
        bad = 1
sys.exit(bad)
PYEOF
}

# ------------------------------------------------------------ running images

rel_free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# rel_img LAYOUT TAG [ARGS...]: scripts/run-image.sh on the test's bundle
rel_img() {
    RUN_IMAGE_BUNDLE=$REL_BUNDLE timeout 60 "$REPO/scripts/run-image.sh" "$@"
}

rel_app_alive() {
    local st
    st=$(awk '{print $3}' "/proc/$REL_APP_PID/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

rel_teardown() {
    if [ -n "${REL_APP_PID:-}" ] && rel_app_alive; then
        kill -TERM -- "-$REL_APP_PID" 2>/dev/null || kill -TERM "$REL_APP_PID" 2>/dev/null || true
        sleep 1
        kill -KILL -- "-$REL_APP_PID" 2>/dev/null || true
    fi
    if [ -n "${REL_EPMD_PID:-}" ]; then
        kill "$REL_EPMD_PID" 2>/dev/null || true
    fi
    return 0
}

# rel_boot LAYOUT TAG PORT READY-ARGS... : start epmd on PORT (the image must
# have ERL_EPMD_PORT=PORT), start the image's entrypoint in the background
# (its own process group, output in $T/app.log), then retry
# `run-image.sh LAYOUT TAG READY-ARGS...` until it succeeds (output in
# $T/ready.out). Sets REL_APP_PID, REL_EPMD_PID, REL_BUNDLE.
rel_boot() {
    local L=$1 tag=$2 port=$3 deadline
    shift 3
    REL_BUNDLE=$T/bundle
    umoci_unpack "$L" "$tag" "$REL_BUNDLE"
    trap rel_teardown EXIT
    epmd -port "$port" >"$T/epmd.log" 2>&1 &
    REL_EPMD_PID=$!
    deadline=$(($(date +%s) + 15))
    until epmd -port "$port" -names >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "epmd did not start on port $port: $(cat "$T/epmd.log")"
        sleep 0.1
    done
    RUN_IMAGE_BUNDLE=$REL_BUNDLE setsid "$REPO/scripts/run-image.sh" "$L" "$tag" >"$T/app.log" 2>&1 &
    REL_APP_PID=$!
    deadline=$(($(date +%s) + 90))
    while :; do
        rel_app_alive || fail "the image's entrypoint exited while starting; its output:
$(cat "$T/app.log")"
        if rel_img "$L" "$tag" "$@" >"$T/ready.out" 2>&1; then
            return 0
        fi
        [ "$(date +%s)" -lt "$deadline" ] || fail "no answer to '$*' after 90s: $(cat "$T/ready.out")
entrypoint output:
$(cat "$T/app.log")"
        sleep 0.5
    done
}

# rel_stop LAYOUT TAG: `run-image.sh LAYOUT TAG stop`, then the entrypoint
# must exit within 60s; its exit status goes to REL_APP_RC.
rel_stop() {
    local deadline
    expect_ok rel_img "$1" "$2" stop
    deadline=$(($(date +%s) + 60))
    while rel_app_alive; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "the release did not stop within 60s after 'stop'"
        sleep 0.2
    done
    REL_APP_RC=0
    wait "$REL_APP_PID" || REL_APP_RC=$?
    REL_APP_PID=
}

# rel_uid_of_pid PID: real, effective, saved and fs uid of a process
rel_uid_of_pid() { awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "/proc/$1/status"; }

# ------------------------------------------------------------ errors

# rel_ob_fail WANT_RC NEEDLE... -- BUILD-ARGS... : the build fails with exit
# WANT_RC (1, 2 or nonzero); nothing on stdout; exactly one stderr line
# mentions "error", it starts with "ocibuild: error: " and contains every
# NEEDLE; for usage errors (2) it is the whole of stderr. Sets REL_ERRLINE.
rel_ob_fail() {
    local want=$1 needles=() n
    shift
    while [ "$1" != -- ]; do needles+=("$1"); shift; done
    shift
    run "$OCIBUILD" build "$@"
    [ "$RC" -ne 124 ] || fail "timed out: ocibuild build $*"
    [ "$RC" -ne 0 ] || fail "expected failure, got exit 0: ocibuild build $*
stderr: $ERR"
    [ "$RC" -lt 128 ] || fail "crashed (exit $RC): ocibuild build $*
stderr: $ERR"
    [ "$want" = nonzero ] || assert_eq "$RC" "$want" "exit code of ocibuild build $* (stderr: $ERR)"
    assert_eq "$OUT" "" "stdout on error"
    assert_eq "$(grep -ci error <<<"$ERR" || true)" 1 "stderr lines mentioning 'error' (stderr: $ERR)"
    REL_ERRLINE=$(grep -i error <<<"$ERR")
    assert_match "$REL_ERRLINE" '^ocibuild: error: .' "error line prefix"
    for n in "${needles[@]}"; do
        assert_contains "$REL_ERRLINE" "$n" "the error line must name the problem/fix"
    done
    if [ "$want" = 2 ]; then
        assert_eq "$(grep -c '' <<<"$ERR")" 1 "stderr lines of a usage error (stderr: $ERR)"
    fi
}

# ------------------------------------------------------------ SBOM check

# rel_start_erl RELEASE_DIR: sets erts and vsn from releases/start_erl.data
# (which has no trailing newline)
rel_start_erl() {
    read -r erts vsn <"$1/releases/start_erl.data" || true
    if [ -z "${erts:-}" ] || [ -z "${vsn:-}" ]; then
        fail "cannot read $1/releases/start_erl.data"
    fi
}

# rel_check_spdx FILE NAME VERSION ERTS_VSN [PKG...]
# Structural SPDX 2.2 checks that do not need the schema, then the schema.
# The image package SPDXRef-Image (NAME VERSION) is what the document
# describes and contains every other package; ERTS_VSN is the erts package's
# version ("-": none). Packages that must be there (rel_check_sbom_image
# checks that there are no others):
#   hex:NAME=VERSION=SHA256   purl pkg:hex/NAME@VERSION, that SHA256 checksum
#   git:NAME=REF              the commit REF in its download location and purl
#   base:NAME=DIGEST          the base image: that SHA256 checksum (hex of DIGEST)
#   KIND:NAME                 (otp, elixir, app, umbrella, path) its SPDXID is
#                             SPDXRef-Package-KIND-NAME
rel_check_spdx() {
    "$PY" - "$@" <<'PYEOF' || fail "SBOM $1 fails the SPDX 2.2 checks (see above)"
import json, re, sys
path, name, version, erts = sys.argv[1:5]
deps = {}
for spec in sys.argv[5:]:
    kind, rest = spec.split(":", 1)
    n, _, rest = rest.partition("=")
    deps[n] = (kind, rest)
errors = []
def err(msg):
    errors.append(msg)
doc = json.load(open(path))
if doc.get("spdxVersion") != "SPDX-2.2": err("spdxVersion is %r" % doc.get("spdxVersion"))
if doc.get("dataLicense") != "CC0-1.0": err("dataLicense is %r" % doc.get("dataLicense"))
if doc.get("SPDXID") != "SPDXRef-DOCUMENT": err("document SPDXID is %r" % doc.get("SPDXID"))
if not isinstance(doc.get("name"), str) or not doc["name"]: err("document name missing")
ns = doc.get("documentNamespace", "")
if not re.match(r"^[a-z][a-z0-9+.-]*://[^\s#]+$", ns): err("documentNamespace is not a URI without '#': %r" % ns)
ci = doc.get("creationInfo") or {}
if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", ci.get("created", "")):
    err("creationInfo.created is %r" % ci.get("created"))
creators = ci.get("creators") or []
if not creators or not all(re.match(r"^(Tool|Organization|Person): \S", c) for c in creators):
    err("creationInfo.creators is %r" % creators)
def walk(o, where):
    if isinstance(o, dict):
        for k, v in o.items():
            if k in ("primaryPackagePurpose", "releaseDate", "builtDate", "validUntilDate"):
                err("SPDX 2.3-only field %s at %s" % (k, where))
            walk(v, where + "." + k)
    elif isinstance(o, list):
        for i, v in enumerate(o):
            walk(v, "%s[%d]" % (where, i))
walk(doc, "$")
ids = {"SPDXRef-DOCUMENT"}
pkgs = doc.get("packages") or []
if not pkgs: err("no packages")
by_name = {}
for p in pkgs:
    pid = p.get("SPDXID", "")
    if not re.match(r"^SPDXRef-[A-Za-z0-9.-]+$", pid): err("bad SPDXID %r" % pid)
    if pid in ids: err("duplicate SPDXID %r" % pid)
    ids.add(pid)
    for f in ("name", "downloadLocation", "licenseConcluded", "licenseDeclared", "copyrightText"):
        if not isinstance(p.get(f), str) or not p[f]:
            err("package %s: required field %s missing" % (pid, f))
    dl = p.get("downloadLocation", "")
    if dl not in ("NOASSERTION", "NONE") and not re.match(r"^[a-z][a-z0-9+.-]*:\S+$", dl):
        err("package %s: downloadLocation %r" % (pid, dl))
    if p.get("filesAnalyzed", True) is not False and "packageVerificationCode" not in p:
        err("package %s: filesAnalyzed is not false but there is no packageVerificationCode" % pid)
    for c in p.get("checksums", []):
        if c.get("algorithm") not in ("SHA1", "SHA224", "SHA256", "SHA384", "SHA512", "MD2", "MD4",
                                      "MD5", "MD6"):
            err("package %s: checksum algorithm %r" % (pid, c.get("algorithm")))
        if not re.match(r"^[0-9a-f]+$", c.get("checksumValue", "")):
            err("package %s: checksumValue %r is not lower-case hex" % (pid, c.get("checksumValue")))
    for r in p.get("externalRefs", []):
        for f in ("referenceCategory", "referenceType", "referenceLocator"):
            if f not in r: err("package %s: externalRef without %s" % (pid, f))
        if r.get("referenceCategory") not in ("SECURITY", "PACKAGE-MANAGER", "PERSISTENT-ID", "OTHER"):
            err("package %s: referenceCategory %r (2.2 spelling is PACKAGE-MANAGER)" % (pid, r.get("referenceCategory")))
    by_name.setdefault(p.get("name"), []).append(p)
def purls(p):
    return [r["referenceLocator"] for r in p.get("externalRefs", []) if r.get("referenceType") == "purl"]
def one(n):
    got = [p for p in by_name.get(n, []) if p.get("SPDXID") != "SPDXRef-Image"]
    if len(got) != 1:
        err("expected one package named %s, found %d" % (n, len(got)))
        return None
    return got[0]
app = None
for p in pkgs:
    if p.get("SPDXID") == "SPDXRef-Image": app = p
if not app: err("no package SPDXRef-Image")
elif app.get("name") != name or app.get("versionInfo") != version:
    err("image package %r %r, want %r %r" % (app.get("name"), app.get("versionInfo"), name, version))
if erts != "-":
    ep = one("erts")
    if ep and ep.get("versionInfo") != erts: err("erts package versionInfo %r, want %r (start_erl.data)" % (ep.get("versionInfo"), erts))
elif "erts" in by_name:
    err("an erts package, but the release has no ERTS")
for n, (kind, rest) in deps.items():
    p = one(n)
    if not p: continue
    sums = [c.get("checksumValue") for c in p.get("checksums", []) if c.get("algorithm") == "SHA256"]
    if kind == "hex":
        v, h = rest.split("=")
        if p.get("versionInfo") != v: err("%s versionInfo %r, want %r" % (n, p.get("versionInfo"), v))
        if "pkg:hex/%s@%s" % (n, v) not in purls(p): err("%s purls %r, want pkg:hex/%s@%s" % (n, purls(p), n, v))
        if sums != [h]: err("%s SHA256 checksums %r, want [%r] (the lock's outer hash, lower-cased)" % (n, sums, h))
    elif kind == "git":
        if not p.get("downloadLocation", "").endswith("@" + rest): err("%s downloadLocation %r does not end in @%s" % (n, p.get("downloadLocation"), rest))
        if not any(rest in u for u in purls(p)): err("%s purls %r do not name the commit %s" % (n, purls(p), rest))
    elif kind == "base":
        if sums != [rest.split(":")[-1]]: err("base %s SHA256 checksums %r, want the digest %s" % (n, sums, rest))
    elif kind in ("otp", "elixir", "app", "umbrella", "path"):
        want = "SPDXRef-Package-%s-%s" % (kind, n.replace("_", "-"))
        if p.get("SPDXID") != want: err("%s is %r, want %s" % (n, p.get("SPDXID"), want))
    else:
        err("bad package spec kind %r" % kind)
rels = doc.get("relationships") or []
for r in rels:
    for f in ("spdxElementId", "relatedSpdxElement"):
        if r.get(f) not in ids: err("relationship %r: %s does not resolve" % (r, f))
def has(a, t, b):
    return any(r.get("spdxElementId") == a and r.get("relationshipType") == t and r.get("relatedSpdxElement") == b for r in rels)
if app:
    if not has("SPDXRef-DOCUMENT", "DESCRIBES", app["SPDXID"]): err("no DOCUMENT DESCRIBES %s" % app["SPDXID"])
    if doc.get("documentDescribes", [app["SPDXID"]]) != [app["SPDXID"]]:
        err("documentDescribes %r" % doc.get("documentDescribes"))
    for p in pkgs:
        if p is not app and not has(app["SPDXID"], "CONTAINS", p["SPDXID"]):
            err("no %s CONTAINS %s" % (app["SPDXID"], p["SPDXID"]))
for e in errors:
    print("SPDX: " + e)
sys.exit(1 if errors else 0)
PYEOF
    local schema=${SPDX_SCHEMA:-}
    [ -n "$schema" ] || return 0
    [ -r "$schema" ] || fail "SPDX schema $schema is not readable"
    "$PY" - "$schema" "$1" <<'PYEOF' || fail "SBOM $1 does not validate against $schema"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
cls = jsonschema.validators.validator_for(schema)
errors = sorted(cls(schema, format_checker=jsonschema.FormatChecker()).iter_errors(doc), key=str)
for e in errors:
    print("schema: %s at %s" % (e.message, "/".join(map(str, e.absolute_path))))
sys.exit(1 if errors else 0)
PYEOF
}

# rel_check_sbom_image LAYOUT TAG [BASE_LAYERS]: the packages of the image's
# /sbom.spdx.json are exactly the release's lib/NAME-VSN directories in the
# image (name and version), its erts-VSN, the Debian packages with a record
# in /var/lib/dpkg/status.d/ and, when the image has BASE_LAYERS layers
# from a base, the base: none more, none fewer.
rel_check_sbom_image() {
    local L=$1 tag=$2 nbase=${3:-0} n i
    n=$(manifest_json "$L" "$tag" | jq '.layers | length')
    rel_layer_cat "$L" "$tag" sbom sbom.spdx.json >"$T/image-sbom.json"
    for ((i = nbase; i < n; i++)); do
        layer_tar "$L" "$tag" "$i" | "$PY" -c '
import sys, tarfile
with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tf:
    for m in tf:
        print(m.name.lstrip("./").strip("/") + ("/" if m.isdir() else ""))
    sys.stdin.buffer.read()
' || fail "cannot list layer $i of $tag"
    done >"$T/image-members.txt"
    "$PY" - "$T/image-members.txt" "$T/image-sbom.json" "$nbase" <<'PYEOF' || fail "the SBOM of $tag does not list what the image holds (see above)"
import json, re, sys
members = [l.rstrip("\n") for l in open(sys.argv[1])]
doc = json.load(open(sys.argv[2]))
base = int(sys.argv[3]) > 0
roots = [m[:-len("releases/start_erl.data")] for m in members if m.endswith("releases/start_erl.data")]
if len(roots) != 1: sys.exit("release roots in the image: %r" % roots)
root = roots[0]
want = set()
for m in members:
    if not m.startswith(root) or not m.endswith("/"): continue
    rest = m[len(root):-1]
    if re.fullmatch(r"lib/[^/]+", rest): want.add("app " + rest[4:])
    if re.fullmatch(r"erts-[^/]+", rest): want.add("erts " + rest)
for m in members:
    if m.startswith("var/lib/dpkg/status.d/") and not m.endswith("/"):
        want.add("deb " + m.rsplit("/", 1)[1])
if base: want.add("base")
got = set()
for p in doc["packages"]:
    i = p["SPDXID"]
    if i == "SPDXRef-Image": continue
    if i == "SPDXRef-Package-erts": got.add("erts erts-" + p["versionInfo"])
    elif i.startswith("SPDXRef-Package-deb-"): got.add("deb " + p["name"])
    elif i == "SPDXRef-Package-base-image": got.add("base")
    else: got.add("app %s-%s" % (p["name"], p["versionInfo"]))
bad = False
for x in sorted(want - got): print("SBOM: missing %s" % x); bad = True
for x in sorted(got - want): print("SBOM: not in the image: %s" % x); bad = True
print("# SBOM of the image: %d packages, as in the image" % len(got))
sys.exit(1 if bad else 0)
PYEOF
}

# =================================================================== tests

# 1. relx release, --bundle-runtime, no base: starts as uid 65534, answers.
test_release_relx_runs_as_nobody() {
    rel_fixture relx
    local L=$T/L port
    port=$(rel_free_port)
    ob_build --release "$REL_DIR" --base scratch --bundle-runtime -e "ERL_EPMD_PORT=$port" \
        -t relx:1 --layout "$L"
    rel_boot "$L" relx:1 "$port" ping
    assert_eq "$(cat "$T/ready.out")" pong "bin/relx_app ping"
    expect_ok rel_img "$L" relx:1 ping
    assert_eq "$OUT" pong "bin/relx_app ping"
    expect_ok rel_img "$L" relx:1 eval 'relx_app:hello().'
    assert_eq "$OUT" '"mydep greets relx_app"' "eval calling the dependency"
    expect_ok rel_img "$L" relx:1 rpc erlang node
    assert_match "$OUT" '^relx_app@' "rpc erlang node"
    # the crypto NIF loads: its shared libraries are in the runtime layer
    expect_ok rel_img "$L" relx:1 eval 'relx_app:sha256(<<"abc">>).'
    assert_eq "$OUT" '"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"' "crypto NIF"
    # as on the host, OpenSSL's legacy provider is there: md4 (RFC 1320's "abc")
    expect_ok rel_img "$L" relx:1 eval 'binary_to_list(binary:encode_hex(crypto:hash(md4, <<"abc">>))).'
    assert_eq "$OUT" '"A448017AAF21D8525FC10AE87AA6729D"' "md4 from the legacy provider"
    # /bin/sh and id come from the bundled busybox
    expect_ok rel_img "$L" relx:1 eval 'os:cmd("id -u").'
    assert_eq "$OUT" '"65534\n"' "id -u inside the release"
    assert_eq "$(rel_uid_of_pid "$REL_APP_PID")" "65534 65534 65534 65534" "uids of the running VM"
    rel_stop "$L" relx:1
    assert_eq "$REL_APP_RC" 0 "exit status of 'foreground' after 'stop' (output: $(cat "$T/app.log"))"
}

# 2. Mix release, --bundle-runtime: `start` (the default), rpc, stop.
test_release_mix_runs() {
    rel_fixture mix
    local L=$T/L port
    port=$(rel_free_port)
    ob_build --project "$FX/mix_app" --base scratch --bundle-runtime -e "ERL_EPMD_PORT=$port" \
        -t mix:1 --layout "$L"
    assert_eq "$(rel_cfg "$L" mix:1 '[.config.Entrypoint, .config.Cmd]')" '[["/app/bin/mix_app"],["start"]]' "Mix entrypoint"
    rel_boot "$L" mix:1 "$port" rpc 'IO.puts(:ok)'
    assert_eq "$(cat "$T/ready.out")" ok "rpc 'IO.puts(:ok)'"
    expect_ok rel_img "$L" mix:1 rpc 'IO.puts(:ok)'
    assert_eq "$OUT" ok "rpc 'IO.puts(:ok)'"
    expect_ok rel_img "$L" mix:1 rpc 'IO.puts(MixApp.hello())'
    assert_eq "$OUT" "mylib greets mix_app" "rpc calling the path dependency"
    expect_ok rel_img "$L" mix:1 rpc 'IO.write(:os.cmd(~c"id -u"))'
    assert_eq "$OUT" 65534 "id -u inside the release"
    assert_eq "$(rel_uid_of_pid "$REL_APP_PID")" "65534 65534 65534 65534" "uids of the running VM"
    rel_stop "$L" mix:1
    assert_eq "$REL_APP_RC" 0 "exit status of 'start' after 'stop' (output: $(cat "$T/app.log"))"
}

# 3. Layer split of a relx release with ERTS and a lock file.
test_release_layers_relx() {
    rel_fixture relx
    local L=$T/L k
    ob_build --release "$REL_DIR" --base scratch --bundle-runtime -t relx:1 --layout "$L"
    assert_eq "$(rel_created_by "$L" relx:1)" "ocibuild build: runtime layer in /
ocibuild build: erts layer in /app
ocibuild build: deps layer in /app
ocibuild build: app layer in /app
ocibuild build: sbom layer in /" "history created_by of the layers"
    assert_eq "$(manifest_json "$L" relx:1 | jq '.layers | length')" 5 "number of layers"
    assert_eq "$(config_json "$L" relx:1 | jq '.rootfs.diff_ids | length')" 5 "number of diff_ids"
    assert_eq "$(config_json "$L" relx:1 | jq '.history | length')" 5 "number of history entries"
    for k in runtime erts deps app sbom; do
        rel_layer_list "$L" relx:1 "$k" >"$T/$k.tsv"
    done
    rel_check_listing "$T"/{erts,deps,app,sbom}.tsv   # runtime: test_release_layers_parent_dirs

    # deps: lib/mydep-* and its parents, nothing else
    local bad
    bad=$(cut -f1 "$T/deps.tsv" | grep -vxE 'app|app/lib|app/lib/mydep-1\.2\.3(/.*)?' || true)
    assert_eq "$bad" "" "members of the deps layer outside lib/mydep-*"
    rel_has "$T/deps.tsv" '\Qapp/lib/mydep-1.2.3/ebin/mydep.beam\E' file || fail "deps layer lacks mydep.beam"
    # erts: erts-*/ and the OTP applications
    bad=$(cut -f1 "$T/erts.tsv" \
        | grep -vxE 'app|app/lib|app/erts-13\.1\.5(/.*)?|app/lib/(kernel|stdlib|sasl|crypto)-[0-9.]+(/.*)?' || true)
    assert_eq "$bad" "" "members of the erts layer outside erts-*/ and lib/<OTP app>-*"
    for k in 'app/erts-13\.1\.5/bin/beam\.smp' 'app/lib/kernel-[0-9.]+/ebin/kernel\.app' \
        'app/lib/stdlib-[0-9.]+/ebin/lists\.beam' 'app/lib/crypto-[0-9.]+/priv/lib/crypto\.so'; do
        rel_has "$T/erts.tsv" "$k" file || fail "erts layer lacks $k"
    done
    # app: bin/, releases/, lib/relx_app-*, and nothing of the others
    for k in app/bin/relx_app app/releases/start_erl.data app/releases/0.1.0/relx_app.rel \
        app/releases/0.1.0/vm.args app/lib/relx_app-0.1.0/ebin/relx_app.beam; do
        rel_has "$T/app.tsv" "\Q$k\E" file || fail "app layer lacks $k"
    done
    bad=$(cut -f1 "$T/app.tsv" | grep -E '^app/(erts-|lib/(mydep|kernel|stdlib|sasl|crypto)-)' || true)
    assert_eq "$bad" "" "erts/deps members in the app layer"
    # sbom: just /sbom.spdx.json
    assert_eq "$(cut -f1,2 "$T/sbom.tsv")" "sbom.spdx.json	file" "sbom layer members"
    # together, erts+deps+app hold exactly the release's files, each once
    cat "$T"/{erts,deps,app}.tsv | awk -F'\t' '$2 != "dir" { sub(/^app\//, "", $1); print $1 }' \
        | LC_ALL=C sort >"$T/in-image"
    (cd "$REL_DIR" && find . ! -type d | sed 's|^\./||' | LC_ALL=C sort) >"$T/in-release"
    diff -u "$T/in-release" "$T/in-image" >&2 || fail "files of erts+deps+app layers != files of the release"
    k=$(uniq -d "$T/in-image")
    [ -z "$k" ] || fail "files in more than one layer: $k"

    # runtime: loader, libraries of ERTS and NIFs, busybox /bin/sh, users, /tmp, CA certs
    awk -F'\t' '$1 == "tmp" && $2 == "dir" && $3 == "1777" { ok = 1 } END { exit !ok }' "$T/runtime.tsv" \
        || fail "runtime layer: no /tmp with mode 1777: $(grep -P '^tmp\t' "$T/runtime.tsv")"
    grep -qP '^bin/sh\t' "$T/runtime.tsv" || fail "runtime layer: no /bin/sh"
    awk -F'\t' '$1 ~ /^etc\/ssl\/certs\// && $2 == "file" && $4 > 1000 { ok = 1 } END { exit !ok }' \
        "$T/runtime.tsv" || fail "runtime layer: no CA certificates under /etc/ssl/certs"
    k=$(rel_layer_cat "$L" relx:1 runtime etc/passwd)
    grep -qE '^[^:]*:[^:]*:65534:65534:' <<<"$k" || fail "runtime /etc/passwd has no uid 65534: $k"
    k=$(rel_layer_cat "$L" relx:1 runtime etc/group)
    grep -qE '^[^:]*:[^:]*:65534:' <<<"$k" || fail "runtime /etc/group has no gid 65534: $k"
    local elf interp lib
    for elf in erts-13.1.5/bin/beam.smp erts-13.1.5/bin/erlexec erts-13.1.5/bin/epmd \
        lib/crypto-*/priv/lib/crypto.so; do
        # shellcheck disable=SC2086,SC2116  # glob expansion
        elf=$(echo "$REL_DIR"/$elf)
        [ -f "$elf" ] || fail "release has no $elf"
        interp=$(ldd "$elf" | awk '$1 ~ /^\// { print $1 }' | sed -n 1p)
        if [ -n "$interp" ]; then
            grep -qP "^${interp#/}\t(file|symlink)" "$T/runtime.tsv" || fail "runtime layer lacks the loader $interp"
        fi
        for lib in $(ldd "$elf" | awk '$2 == "=>" { print $1 }'); do
            grep -qP "/\Q$lib\E\t(file|symlink)" "$T/runtime.tsv" \
                || fail "runtime layer lacks $lib (needed by ${elf#"$REL_DIR"/})"
        done
    done
}

# 3b. The runtime layer tells scanners what it is: a dpkg status record in
# /var/lib/dpkg/status.d/NAME for each Debian package that owns a bundled
# file (as distroless images have), equal to what dpkg says on this
# machine, and this machine's /etc/os-release. Two builds give the same
# runtime layer.
test_release_runtime_dpkg_records() {
    [ -f /var/lib/dpkg/status ] || skip "no dpkg database on this machine"
    rel_fixture relx
    local L=$T/L R f name want got owner bad=""
    ob_build --release "$REL_DIR" --base scratch -t relx:1 --layout "$L"
    umoci_unpack "$L" relx:1 "$T/bundle"
    R=$T/bundle/rootfs
    [ -d "$R/var/lib/dpkg/status.d" ] || fail "the image has no /var/lib/dpkg/status.d"
    ls "$R/var/lib/dpkg/status.d" >"$T/pkgs"
    [ -s "$T/pkgs" ] || fail "status.d is empty"
    for f in "$R"/var/lib/dpkg/status.d/*; do
        name=${f##*/}
        got=$(awk -F': ' '$1 == "Package" { p = $2 } $1 == "Version" { v = $2 }
            $1 == "Architecture" { a = $2 } END { print p " " v " " a }' "$f")
        want=$(dpkg-query -W -f '${Package} ${Version} ${Architecture}' "$name") \
            || fail "dpkg-query knows no package $name"
        assert_eq "$got" "$want" "status.d/$name against dpkg-query"
        assert_eq "$(grep -c '^Status: install ok installed$' "$f")" 1 "Status of status.d/$name"
        assert_eq "$(grep '^Source:' "$f" || true)" "$(dpkg-query -s "$name" | grep '^Source:' || true)" \
            "Source of status.d/$name"
        grep -qE '^(Conffiles|Config-Version|Triggers-)' "$f" && bad="$bad $name"
    done
    assert_eq "$bad" "" "status.d records with dpkg bookkeeping fields"
    # the owners of the loader, libc, /bin/sh (busybox) and libcrypto are there
    for f in /lib64/ld-linux-x86-64.so.2 /bin/busybox "$(ldd "$REL_DIR"/lib/crypto-*/priv/lib/crypto.so \
        | awk '$1 ~ /^libcrypto/ { print $3 }')"; do
        [ -e "$f" ] || continue
        owner=$(dpkg -S "$(readlink -f "$f")" 2>/dev/null || dpkg -S "$f") || fail "dpkg -S $f"
        owner=${owner%%: *}
        owner=${owner%%:*}
        grep -qx "$owner" "$T/pkgs" || fail "status.d has no record of $owner, which owns $f: $(cat "$T/pkgs")"
    done
    grep -qx libc6 "$T/pkgs" || fail "status.d has no libc6: $(cat "$T/pkgs")"
    cmp "$R/etc/os-release" /etc/os-release || fail "/etc/os-release of the image differs from the host's"
    [ -L "$R/etc/os-release" ] && fail "/etc/os-release must be a regular file, not a symlink"
    # reproducible: a second build has the same runtime layer
    ob_build --release "$REL_DIR" --base scratch -t relx:1 --layout "$T/L2"
    assert_eq "$(manifest_json "$T/L2" relx:1 | jq -r '.layers[0].digest')" \
        "$(manifest_json "$L" relx:1 | jq -r '.layers[0].digest')" "runtime layer digest of two builds"
}

# 3a. Each layer is a well-formed tree: no duplicates, and every member's
# parent directory is a member too (the runtime layer's included), so that
# unpackers do not have to invent directories with modes of their own.
test_release_layers_parent_dirs() {
    rel_fixture relx
    local k
    ob_build --release "$REL_DIR" --base scratch --bundle-runtime -t relx:1 --layout "$T/L"
    for k in runtime erts deps app sbom; do
        rel_layer_list "$T/L" relx:1 "$k" >"$T/relx-$k.tsv"
    done
    rel_fixture mix
    ob_build --release "$REL_DIR" --base scratch --bundle-runtime -t mix:1 --layout "$T/M"
    for k in runtime erts deps app sbom; do
        rel_layer_list "$T/M" mix:1 "$k" >"$T/mix-$k.tsv"
    done
    rel_check_listing "$T"/relx-*.tsv "$T"/mix-*.tsv
}

# 3b. Without a lock file there is no deps layer; without ERTS the OTP
# applications are dependencies; --lock names the lock explicitly.
test_release_layers_without_lock_or_erts() {
    rel_fixture relx
    # the release alone, outside a project: no lock file
    mkdir -p "$T/rel"
    cp -a "$REL_DIR" "$T/rel/relx_app"
    ob_build --release "$T/rel/relx_app" -t a:1 --layout "$T/L1"
    assert_eq "$(rel_created_by "$T/L1" a:1)" "ocibuild build: runtime layer in /
ocibuild build: erts layer in /app
ocibuild build: app layer in /app
ocibuild build: sbom layer in /" "layers without a lock file"
    rel_layer_list "$T/L1" a:1 app >"$T/app1.tsv"
    rel_has "$T/app1.tsv" '\Qapp/lib/mydep-1.2.3/ebin/mydep.beam\E' || fail "without a lock, mydep belongs in the app layer"
    rel_layer_cat "$T/L1" a:1 sbom sbom.spdx.json >"$T/l1.spdx.json"
    jq -e '[.packages[] | select(.name == "mydep") | .SPDXID] == ["SPDXRef-Package-path-mydep"]' "$T/l1.spdx.json" >/dev/null \
        || fail "without a lock file mydep is in the SBOM as a path dependency"
    rel_check_sbom_image "$T/L1" a:1
    # the same release with --lock
    ob_build --release "$T/rel/relx_app" --lock "$REL_FIXTURES/relx_app/rebar.lock" -t a:1 --layout "$T/L2"
    assert_eq "$(rel_created_by "$T/L2" a:1 | tr '\n' '|')" \
        "ocibuild build: runtime layer in /|ocibuild build: erts layer in /app|ocibuild build: deps layer in /app|ocibuild build: app layer in /app|ocibuild build: sbom layer in /|" \
        "layers with --lock"
    rel_layer_list "$T/L2" a:1 deps >"$T/deps2.tsv"
    rel_has "$T/deps2.tsv" '\Qapp/lib/mydep-1.2.3/ebin/mydep.beam\E' || fail "with --lock, mydep belongs in the deps layer"
    # ERTS not bundled (as with include_erts false): OTP apps go with the deps
    mkdir -p "$T/p/_build/prod/rel"
    cp "$REL_FIXTURES/relx_app/rebar.config" "$REL_FIXTURES/relx_app/rebar.lock" "$T/p/"
    cp -a "$REL_DIR" "$T/p/_build/prod/rel/relx_app"
    rm -rf "$T/p/_build/prod/rel/relx_app"/erts-*
    # (on a base: without ERTS, scratch is refused)
    mkdir -p "$T/base/etc" && echo base >"$T/base/etc/base"
    ob_build --dir "$T/base" --workdir / -t base:1 --layout "$T/B"
    ob_build --project "$T/p" --base "oci:$T/B:base:1" -t a:1 --layout "$T/L3"
    assert_eq "$(rel_created_by "$T/L3" a:1 | tr '\n' '|')" \
        "ocibuild build: files layer in /|ocibuild build: deps layer in /app|ocibuild build: app layer in /app|ocibuild build: sbom layer in /|" \
        "layers without ERTS"
    rel_layer_list "$T/L3" a:1 deps >"$T/deps3.tsv"
    rel_check_listing "$T/deps3.tsv"
    local a
    for a in kernel stdlib sasl crypto mydep; do
        rel_has "$T/deps3.tsv" "app/lib/$a-[0-9.]+/ebin/$a\\.app" || fail "without ERTS, lib/$a-* belongs in the deps layer"
    done
    rel_layer_list "$T/L3" a:1 app >"$T/app3.tsv"
    rel_has "$T/app3.tsv" '\Qapp/lib/relx_app-0.1.0/ebin/relx_app.beam\E' || fail "app layer lacks relx_app"
}

# 4. Changing only the application's code changes only the app layer; equal
# inputs with SOURCE_DATE_EPOCH give the same manifest.
test_release_rebuild_app_only() {
    rel_fixture relx
    export SOURCE_DATE_EPOCH=1700000000
    cp -a "$FX/proj" "$T/p"
    local R=$T/p/_build/prod/rel/relx_app k d1
    ob_build --release "$R" --base scratch --bundle-runtime -t r:1 --layout "$T/A"
    d1=$DIGEST
    sleep 1.1
    ob_build --release "$R" --base scratch --bundle-runtime -t r:1 --layout "$T/A2"
    assert_eq "$DIGEST" "$d1" "manifest digest of a second build with SOURCE_DATE_EPOCH"
    cmp "$T/A/index.json" "$T/A2/index.json" || fail "index.json differs between equal builds"
    # the same release elsewhere (the cached original) gives the same image
    ob_build --release "$REL_DIR" --base scratch --bundle-runtime -t r:1 --layout "$T/A3"
    assert_eq "$DIGEST" "$d1" "manifest digest of the same release in another directory"

    sed -i 's/mydep:greet(relx_app)/mydep:greet(relx_app_changed)/' "$T/p/src/relx_app.erl"
    grep -q relx_app_changed "$T/p/src/relx_app.erl" || fail "could not change src/relx_app.erl"
    rel_tool "$T/p" "$T/rebar3.log" rebar3 as prod release
    ob_build --release "$R" --base scratch --bundle-runtime -t r:1 --layout "$T/B"
    assert_ne "$DIGEST" "$d1" "manifest digest after an app change"
    for k in runtime erts deps; do
        if [ "$(rel_layer_digest "$T/B" r:1 $k)" != "$(rel_layer_digest "$T/A" r:1 $k)" ]; then
            diff <(rel_layer_list "$T/A" r:1 $k) <(rel_layer_list "$T/B" r:1 $k) >&2 || true
            fail "$k layer digest changed although only the app's code changed"
        fi
    done
    assert_ne "$(rel_layer_digest "$T/B" r:1 app)" "$(rel_layer_digest "$T/A" r:1 app)" "app layer digest"
    assert_eq "$(rel_created_by "$T/B" r:1 | tr '\n' '|')" "$(rel_created_by "$T/A" r:1 | tr '\n' '|')" \
        "layer kinds"
}

# 5. --workdir /opt/myapp: everything moves there, and it still starts.
test_release_workdir_opt() {
    rel_fixture relx
    local L=$T/L port k bad
    port=$(rel_free_port)
    ob_build --release "$REL_DIR" --base scratch --bundle-runtime --workdir /opt/myapp \
        -e "ERL_EPMD_PORT=$port" -t relx:1 --layout "$L"
    assert_eq "$(rel_cfg "$L" relx:1 '[.config.Entrypoint, .config.Cmd]')" '[["/opt/myapp/bin/relx_app"],["foreground"]]' "entrypoint"
    assert_eq "$(rel_cfg "$L" relx:1 .config.WorkingDir)" '"/opt/myapp"' "WorkingDir"
    assert_eq "$(rel_created_by "$L" relx:1 | tr '\n' '|')" \
        "ocibuild build: runtime layer in /|ocibuild build: erts layer in /opt/myapp|ocibuild build: deps layer in /opt/myapp|ocibuild build: app layer in /opt/myapp|ocibuild build: sbom layer in /|" \
        "history created_by"
    for k in erts deps app; do
        rel_layer_list "$L" relx:1 $k >"$T/$k.tsv"
        bad=$(cut -f1 "$T/$k.tsv" | grep -vxE 'opt|opt/myapp(/.*)?' || true)
        assert_eq "$bad" "" "members of the $k layer outside /opt/myapp"
    done
    rel_check_listing "$T"/{erts,deps,app}.tsv
    rel_has "$T/app.tsv" '\Qopt/myapp/bin/relx_app\E' file || fail "no /opt/myapp/bin/relx_app"
    rel_has "$T/erts.tsv" '\Qopt/myapp/erts-13.1.5/bin/beam.smp\E' file || fail "no beam.smp under /opt/myapp"
    rel_boot "$L" relx:1 "$port" ping
    assert_eq "$(cat "$T/ready.out")" pong "ping"
    expect_ok rel_img "$L" relx:1 eval 'code:root_dir().'
    assert_eq "$OUT" '"/opt/myapp"' "code:root_dir() of the running release"
    rel_stop "$L" relx:1
    assert_eq "$REL_APP_RC" 0 "exit status after stop (output: $(cat "$T/app.log"))"
}

# 6. SBOM: --sbom FILE == /sbom.spdx.json; SPDX 2.2 structure; the lock's
# hashes; reproducible with SOURCE_DATE_EPOCH.
test_release_sbom() {
    rel_fixture relx
    export SOURCE_DATE_EPOCH=1700000000
    local erts vsn hash
    rel_start_erl "$REL_DIR"
    hash=$(grep -A1 'pkg_hash_ext' "$FX/proj/rebar.lock" | sed -nE 's/.*<<"mydep">>, *<<"([0-9A-Fa-f]{64})">>.*/\1/p')
    [ ${#hash} -eq 64 ] || fail "cannot read pkg_hash_ext of mydep from the fixture's rebar.lock"
    hash=$(tr 'A-F' 'a-f' <<<"$hash")
    ob_build --release "$REL_DIR" --base scratch --bundle-runtime --sbom "$T/a.spdx.json" -t relx:1 --layout "$T/L1"
    rel_layer_cat "$T/L1" relx:1 sbom sbom.spdx.json >"$T/in-image.spdx.json"
    cmp "$T/a.spdx.json" "$T/in-image.spdx.json" || fail "--sbom file differs from /sbom.spdx.json in the image"
    rel_check_spdx "$T/a.spdx.json" relx_app "$vsn" "$erts" "hex:mydep=1.2.3=$hash" \
        app:relx_app otp:kernel otp:stdlib otp:sasl
    rel_check_sbom_image "$T/L1" relx:1
    jq -e '[.packages[] | select(.externalRefs[]?.referenceLocator | test("^pkg:deb/debian/libc6@.*[?]arch=[a-z0-9]+&distro=debian-[0-9]+$"))] | length == 1' \
        "$T/a.spdx.json" >/dev/null || fail "no pkg:deb purl for libc6 of the runtime layer"
    assert_eq "$(jq -r '[.relationships[] | select(.relationshipType == "DEPENDS_ON" and .spdxElementId == "SPDXRef-Package-app-relx-app") | .relatedSpdxElement] | sort | join(" ")' "$T/a.spdx.json")" \
        "SPDXRef-Package-hex-mydep SPDXRef-Package-otp-crypto SPDXRef-Package-otp-kernel SPDXRef-Package-otp-stdlib" "relx_app DEPENDS_ON (its .app's applications)"
    assert_eq "$(jq -r .creationInfo.created "$T/a.spdx.json")" 2023-11-14T22:13:20Z "created = SOURCE_DATE_EPOCH"
    sleep 1.1
    ob_build --release "$REL_DIR" --base scratch --bundle-runtime --sbom "$T/b.spdx.json" -t relx:1 -o "$T/b.tar"
    cmp "$T/a.spdx.json" "$T/b.spdx.json" || fail "SBOMs of two builds with the same SOURCE_DATE_EPOCH differ"

    # Mix: the 8th element of the mix.lock tuple is the outer checksum (what
    # rebar.lock calls pkg_hash_ext)
    rel_fixture mix
    rel_start_erl "$REL_DIR"
    hash=$(sed -nE 's/.*"mylib": *\{:hex, *:mylib, *"0\.4\.2", *"[0-9a-f]{64}", *\[[^]]*\], *\[[^]]*\], *"hexpm", *"([0-9a-fA-F]{64})".*/\1/p' \
        "$FX/mix_app/mix.lock" | tr 'A-F' 'a-f')
    [ ${#hash} -eq 64 ] || fail "cannot read the outer checksum of mylib from the fixture's mix.lock"
    ob_build --project "$FX/mix_app" --sbom "$T/mix.spdx.json" -t mix:1 --layout "$T/M"
    rel_layer_cat "$T/M" mix:1 sbom sbom.spdx.json | cmp - "$T/mix.spdx.json" \
        || fail "Mix: --sbom file differs from /sbom.spdx.json"
    rel_check_spdx "$T/mix.spdx.json" mix_app "$vsn" "$erts" "hex:mylib=0.4.2=$hash" \
        app:mix_app elixir:elixir elixir:logger otp:kernel otp:stdlib
    rel_check_sbom_image "$T/M" mix:1
    # what the lock names but the release leaves out (ocibuild itself,
    # runtime: false; a dev-only credo) is not in the SBOM; without the
    # lock's entry mylib is a path dependency
    {
        echo '%{'
        echo '  "credo": {:hex, :credo, "1.7.0", "6839fcf63d1f0d1c0f450abc8564a57c43d644077ab96f2934563e68b8a769d7", [:mix], [], "hexpm", "2a1c4b9b2a4d5e3a4f9e2b5e6f8a0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b"},'
        echo '  "ocibuild": {:git, "https://github.com/example/ocibuild.git", "0123456789abcdef0123456789abcdef01234567", []},'
        echo '}'
    } >"$T/mix.lock"
    ob_build --release "$REL_DIR" --lock "$T/mix.lock" --sbom "$T/mix2.spdx.json" -t mix:2 --layout "$T/M"
    rel_check_spdx "$T/mix2.spdx.json" mix_app "$vsn" "$erts" path:mylib app:mix_app
    rel_check_sbom_image "$T/M" mix:2
    assert_eq "$(jq -r '[.packages[].name | select(. == "credo" or . == "ocibuild")] | length' "$T/mix2.spdx.json")" 0 \
        "locked packages that are not in the image"
}

# 6a. A Mix umbrella: its apps, their path dependency and the OTP and Elixir
# applications, none of what only the lock names; DEPENDS_ON from the .app files.
test_release_sbom_umbrella() {
    rel_fixture umbrella
    local erts vsn
    rel_start_erl "$REL_DIR"
    ob_build --project "$FX/umbrella_app" --sbom "$T/umb.spdx.json" -t umb:1 --layout "$T/U"
    rel_layer_cat "$T/U" umb:1 sbom sbom.spdx.json | cmp - "$T/umb.spdx.json" \
        || fail "umbrella: --sbom file differs from /sbom.spdx.json"
    rel_check_spdx "$T/umb.spdx.json" umb "$vsn" "$erts" umbrella:core umbrella:web path:mylib \
        elixir:elixir elixir:logger otp:kernel otp:stdlib otp:compiler
    rel_check_sbom_image "$T/U" umb:1
    assert_eq "$(jq -r '.packages[] | select(.name == "core" or .name == "web") | "\(.name)@\(.versionInfo)"' "$T/umb.spdx.json" | sort | tr '\n' ' ')" \
        "core@0.2.1 web@0.2.2 " "versions of the umbrella apps (their .app files)"
    assert_eq "$(jq -r '[.packages[] | select(.name == "ocibuild")] | length' "$T/umb.spdx.json")" 0 "ocibuild (locked, not in the release)"
    assert_eq "$(jq -r '[.relationships[] | select(.relationshipType == "DEPENDS_ON" and .spdxElementId == "SPDXRef-Package-umbrella-web") | .relatedSpdxElement] | sort | join(" ")' "$T/umb.spdx.json")" \
        "SPDXRef-Package-elixir-elixir SPDXRef-Package-elixir-logger SPDXRef-Package-otp-kernel SPDXRef-Package-otp-stdlib SPDXRef-Package-path-mylib SPDXRef-Package-umbrella-core" \
        "web DEPENDS_ON"
}

# 6b. Git dependencies in the lock: their credentials never reach the SBOM;
# lock entries that are not in the image are not in it either.
test_release_sbom_git_deps_without_credentials() {
    rel_fixture relx
    local foo=0123456789abcdef0123456789abcdef01234567 ref=89abcdef0123456789abcdef0123456789abcdef
    local erts vsn url
    rel_start_erl "$REL_DIR"
    for url in "https://user:s3cr3t@github.com/acme/mydep.git?tok=s3cr3t" \
        "https://oauth2:s3cr3t@gitlab.example.com/acme/mydep.git#s3cr3t"; do
        {
            echo '{"1.2.0",'
            echo "[{<<\"foo\">>,{git,\"https://user:s3cr3t@github.com/acme/foo.git\",{ref,\"$foo\"}},0},"
            echo " {<<\"mydep\">>,{git,\"$url\",{ref,\"$ref\"}},0}]}."
        } >"$T/rebar.lock"
        ob_build --release "$REL_DIR" --lock "$T/rebar.lock" --sbom "$T/sbom.json" -t a:1 --layout "$T/L"
        rel_check_spdx "$T/sbom.json" relx_app "$vsn" "$erts" "git:mydep=$ref" app:relx_app
        rel_check_sbom_image "$T/L" a:1
        assert_eq "$(jq -r '.packages[] | select(.name == "mydep") | .versionInfo' "$T/sbom.json")" 1.2.3 \
            "version of a git dependency: its .app's"
        assert_not_contains "$(cat "$T/sbom.json")" s3cr3t "SBOM"
        assert_not_contains "$(cat "$T/sbom.json")" '"foo"' "SBOM (foo is not in the image)"
        assert_not_contains "$(rel_layer_cat "$T/L" a:1 sbom sbom.spdx.json)" s3cr3t "/sbom.spdx.json"
        assert_not_contains "$BUILD_ERR" s3cr3t "stderr"
        rm -rf "$T/L"
    done
    assert_eq "$(jq -r '.packages[] | select(.name == "mydep") | .downloadLocation' "$T/sbom.json")" \
        "git+https://gitlab.example.com/acme/mydep@$ref" "download location of a git dependency"
}

# 7a. VCS annotations from CI variables; -a cannot override them.
test_release_vcs_ci_env() {
    rel_fixture relx
    unset "${REL_CI_VARS[@]}"
    local sha=0123456789abcdef0123456789abcdef01234567 L
    L=$T/gh
    GITHUB_SERVER_URL=https://github.com GITHUB_REPOSITORY=acme/shop GITHUB_SHA=$sha \
        ob_build --release "$REL_DIR" -t a:1 --layout "$L"
    assert_eq "$(rel_ann "$L" a:1 org.opencontainers.image.source)" https://github.com/acme/shop "GitHub source"
    assert_eq "$(rel_ann "$L" a:1 org.opencontainers.image.revision)" "$sha" "GitHub revision"
    assert_eq "$(rel_ann "$L" a:1 org.opencontainers.image.version)" 0.1.0 "version annotation"
    L=$T/ghe
    GITHUB_SERVER_URL=https://ghe.example.com GITHUB_REPOSITORY=acme/shop GITHUB_SHA=$sha \
        ob_build --release "$REL_DIR" -t a:1 --layout "$L"
    assert_eq "$(rel_ann "$L" a:1 org.opencontainers.image.source)" https://ghe.example.com/acme/shop "GHE source"
    L=$T/gl
    CI_PROJECT_URL=https://gitlab.example.com/group/sub/proj CI_COMMIT_SHA=$sha \
        ob_build --release "$REL_DIR" -t a:1 --layout "$L"
    assert_eq "$(rel_ann "$L" a:1 org.opencontainers.image.source)" https://gitlab.example.com/group/sub/proj "GitLab source"
    assert_eq "$(rel_ann "$L" a:1 org.opencontainers.image.revision)" "$sha" "GitLab revision"
    L=$T/az
    BUILD_REPOSITORY_URI=https://acme@dev.azure.com/acme/shop/_git/shop BUILD_SOURCEVERSION=$sha \
        ob_build --release "$REL_DIR" -t a:1 --layout "$L"
    assert_eq "$(rel_ann "$L" a:1 org.opencontainers.image.source)" https://dev.azure.com/acme/shop/_git/shop "Azure source (no user)"
    assert_eq "$(rel_ann "$L" a:1 org.opencontainers.image.revision)" "$sha" "Azure revision"
    # -a cannot override them; other -a still apply
    L=$T/override
    GITHUB_REPOSITORY=acme/shop GITHUB_SHA=$sha ob_build --release "$REL_DIR" -t a:1 --layout "$L" \
        -a org.opencontainers.image.source=x -a org.opencontainers.image.revision=y -a org.example.k=v
    assert_eq "$(rel_ann "$L" a:1 org.opencontainers.image.source)" https://github.com/acme/shop "-a source must not override"
    assert_eq "$(rel_ann "$L" a:1 org.opencontainers.image.revision)" "$sha" "-a revision must not override"
    assert_eq "$(rel_ann "$L" a:1 org.example.k)" v "other -a annotation"
    # --no-vcs-annotations
    L=$T/novcs
    GITHUB_REPOSITORY=acme/shop GITHUB_SHA=$sha ob_build --release "$REL_DIR" -t a:1 --layout "$L" --no-vcs-annotations
    assert_eq "$(rel_ann "$L" a:1 org.opencontainers.image.source)" "<none>" "source with --no-vcs-annotations"
    assert_eq "$(rel_ann "$L" a:1 org.opencontainers.image.revision)" "<none>" "revision with --no-vcs-annotations"
    assert_eq "$(rel_ann "$L" a:1 org.opencontainers.image.version)" 0.1.0 "version with --no-vcs-annotations"
    # neither CI variables nor git: nothing
    if ! git -C "$REL_DIR" rev-parse --git-dir >/dev/null 2>&1; then
        ob_build --release "$REL_DIR" -t a:1 --layout "$T/none"
        assert_eq "$(rel_ann "$T/none" a:1 org.opencontainers.image.source)" "<none>" "source without VCS"
        assert_eq "$(rel_ann "$T/none" a:1 org.opencontainers.image.revision)" "<none>" "revision without VCS"
    fi
}

# 7b. VCS annotations from the project's git repository, without credentials.
test_release_vcs_git_remote() {
    rel_fixture relx
    unset "${REL_CI_VARS[@]}"
    local P=$T/proj head L f
    rel_git_project "$P" https://user:secret@example.com/org/repo.git
    head=$(git -C "$P" rev-parse HEAD)
    L=$T/L
    ob_build --project "$P" --sbom "$T/sbom.json" -t a:1 --layout "$L" \
        -a org.opencontainers.image.source=x -a org.opencontainers.image.revision=y
    assert_eq "$(rel_ann "$L" a:1 org.opencontainers.image.source)" https://example.com/org/repo "source from git"
    assert_eq "$(rel_ann "$L" a:1 org.opencontainers.image.revision)" "$head" "revision from git"
    assert_eq "$(rel_ann "$L" a:1 org.opencontainers.image.version)" 0.1.0 "version annotation"
    assert_not_contains "$BUILD_ERR" secret "stderr"
    for f in "$L/index.json" "$(blob "$L" "$(index_digest "$L" a:1)")" \
        "$(blob "$L" "$(manifest_json "$L" a:1 | jq -r .config.digest)")" "$T/sbom.json"; do
        assert_not_contains "$(cat "$f")" secret "$f"
    done
    # --release inside the repository: the same
    ob_build --release "$P/_build/prod/rel/relx_app" -t a:1 --layout "$T/L2"
    assert_eq "$(rel_ann "$T/L2" a:1 org.opencontainers.image.source)" https://example.com/org/repo "source (--release)"
    assert_eq "$(rel_ann "$T/L2" a:1 org.opencontainers.image.revision)" "$head" "revision (--release)"
    # --no-vcs-annotations
    ob_build --project "$P" -t a:1 --layout "$T/L3" --no-vcs-annotations
    assert_eq "$(rel_ann "$T/L3" a:1 org.opencontainers.image.source)" "<none>" "source with --no-vcs-annotations"
    assert_eq "$(rel_ann "$T/L3" a:1 org.opencontainers.image.revision)" "<none>" "revision with --no-vcs-annotations"
    # other remote spellings
    local remote want n=0
    while read -r remote want; do
        n=$((n + 1))
        git -C "$P" remote set-url origin "$remote"
        ob_build --project "$P" -t a:1 --layout "$T/R$n"
        assert_eq "$(rel_ann "$T/R$n" a:1 org.opencontainers.image.source)" "$want" "source for remote $remote"
        assert_not_contains "$(cat "$(blob "$T/R$n" "$(index_digest "$T/R$n" a:1)")")" secret "manifest for $remote"
    done <<'EOF'
git@github.com:org/repo.git https://github.com/org/repo
ssh://git@example.com/org/repo.git https://example.com/org/repo
https://x-access-token:secret@github.com/org/repo https://github.com/org/repo
EOF
}

# 7c. With a base image, -a cannot override the base.* annotations either;
# the base becomes the first layer(s) and a package of the SBOM.
test_release_base_annotations() {
    rel_fixture relx
    local erts vsn base
    rel_start_erl "$REL_DIR"
    mkdir -p "$T/src"
    echo hi >"$T/src/hi"
    ob_build --dir "$T/src" -t base:1 --layout "$T/B"
    base=$DIGEST
    ob_build --release "$REL_DIR" --base "oci:$T/B:base:1" --sbom "$T/sbom.json" -t a:1 --layout "$T/L" \
        -a org.opencontainers.image.base.name=y \
        -a org.opencontainers.image.base.digest=sha256:0000000000000000000000000000000000000000000000000000000000000000
    assert_eq "$(rel_ann "$T/L" a:1 org.opencontainers.image.base.digest)" "$base" "base.digest"
    assert_ne "$(rel_ann "$T/L" a:1 org.opencontainers.image.base.name)" y "-a must not override base.name"
    assert_ne "$(rel_ann "$T/L" a:1 org.opencontainers.image.base.name)" "<none>" "base.name"
    assert_eq "$(manifest_json "$T/L" a:1 | jq -r '.layers[0].digest')" \
        "$(manifest_json "$T/B" base:1 | jq -r '.layers[0].digest')" "first layer is the base's"
    assert_eq "$(rel_created_by "$T/L" a:1 | tail -n 4 | tr '\n' '|')" \
        "ocibuild build: erts layer in /app|ocibuild build: deps layer in /app|ocibuild build: app layer in /app|ocibuild build: sbom layer in /|" \
        "release layers on top of the base"
    rel_check_spdx "$T/sbom.json" relx_app "$vsn" "$erts" \
        "hex:mydep=1.2.3=f9e8d7c6b5a4938271605f4e3d2c1b0af9e8d7c6b5a4938271605f4e3d2c1b0a" \
        "base:$(rel_ann "$T/L" a:1 org.opencontainers.image.base.name)=$base"
    rel_check_sbom_image "$T/L" a:1 1
}

# 8. Errors: one line, naming the fix.
test_release_err_not_a_release() {
    rel_fixture relx
    mkdir -p "$T/out" "$T/notrel"
    echo x >"$T/notrel/file"
    rel_ob_fail 1 "$T/notrel" 'rebar3 as prod release' -- --release "$T/notrel" -t a:1 --layout "$T/out/L"
    # the project directory instead of its release
    rel_ob_fail 1 'rebar3 as prod release' -- --release "$FX/proj" -t a:1 --layout "$T/out/L"
    rel_ob_fail 1 "$T/nope" 'rebar3 as prod release' -- --release "$T/nope" -t a:1 -o "$T/out/a.tar"
    assert_dir_listing "$T/out" ""
}

test_release_err_dev_mode() {
    rel_fixture relx
    mkdir -p "$T/out"
    [ -L "$(echo "$FX/dev/_build/default/rel/relx_app/lib/"relx_app-*)" ] || fail "fixture: dev release without symlinks"
    rel_ob_fail 1 'dev mode' 'rebar3 as prod release' -- --release "$FX/dev/_build/default/rel/relx_app" \
        -t a:1 --layout "$T/out/L"
    rel_ob_fail 1 'dev mode' -- --project "$FX/dev" -t a:1 -o "$T/out/a.tar"
    assert_dir_listing "$T/out" ""
}

test_release_err_project_without_build() {
    mkdir -p "$T/out" "$T/r" "$T/m"
    cp "$REL_FIXTURES/relx_app/rebar.config" "$T/r/"
    cp "$REL_FIXTURES/mix_app/mix.exs" "$T/m/"
    rel_ob_fail 1 'rebar3 as prod release' -- --project "$T/r" -t a:1 --layout "$T/out/L"
    assert_not_contains "$REL_ERRLINE" 'mix release' "rebar3 project"
    rel_ob_fail 1 'MIX_ENV=prod mix release' -- --project "$T/m" -t a:1 --layout "$T/out/L"
    assert_not_contains "$REL_ERRLINE" rebar3 "Mix project"
    # _build exists but holds no release
    mkdir -p "$T/m/_build/prod/lib"
    rel_ob_fail 1 'MIX_ENV=prod mix release' -- --project "$T/m" -t a:1 -o "$T/out/a.tar"
    rel_ob_fail 1 "$T/nothere" -- --project "$T/nothere" -t a:1 -o "$T/out/a.tar"
    assert_dir_listing "$T/out" ""
}

test_release_err_two_releases() {
    rel_fixture relx
    local relx=$REL_DIR
    rel_fixture mix
    mkdir -p "$T/out" "$T/two/_build/prod/rel"
    cp "$REL_FIXTURES/relx_app/rebar.config" "$REL_FIXTURES/relx_app/rebar.lock" "$T/two/"
    cp -a "$relx" "$T/two/_build/prod/rel/relx_app"
    cp -a "$REL_DIR" "$T/two/_build/prod/rel/mix_app"
    rel_ob_fail 1 relx_app mix_app --release -- --project "$T/two" -t a:1 --layout "$T/out/L"
    assert_dir_listing "$T/out" ""
    ob_build --project "$T/two" --release mix_app -t a:1 --layout "$T/M"
    assert_eq "$(rel_ann "$T/M" a:1 org.opencontainers.image.version)" 0.3.0 "--release mix_app"
    ob_build --project "$T/two" --release relx_app -t a:1 --layout "$T/R"
    assert_eq "$(rel_ann "$T/R" a:1 org.opencontainers.image.version)" 0.1.0 "--release relx_app"
    rel_ob_fail 1 nope -- --project "$T/two" --release nope -t a:1 --layout "$T/out/L"
    assert_dir_listing "$T/out" ""
}

test_release_err_broken_lock() {
    rel_fixture relx
    mkdir -p "$T/out" "$T/p/_build/prod/rel"
    cp "$REL_FIXTURES/relx_app/rebar.config" "$T/p/"
    cp -a "$REL_DIR" "$T/p/_build/prod/rel/relx_app"
    # line 7 loses the comma between name and hash
    sed '7s/>>, </>> </' "$REL_FIXTURES/relx_app/rebar.lock" >"$T/p/rebar.lock"
    cmp -s "$T/p/rebar.lock" "$REL_FIXTURES/relx_app/rebar.lock" && fail "fixture lock: line 7 not as expected"
    rel_ob_fail 1 "$T/p/rebar.lock" 'line 7' -- --project "$T/p" -t a:1 --layout "$T/out/L"
    rel_ob_fail 1 "$T/p/rebar.lock" 'line 7' -- --release "$T/p/_build/prod/rel/relx_app" \
        --lock "$T/p/rebar.lock" -t a:1 -o "$T/out/a.tar"
    # unterminated: the error is at the end
    head -n 5 "$REL_FIXTURES/relx_app/rebar.lock" >"$T/p/rebar.lock"
    rel_ob_fail 1 "$T/p/rebar.lock" 'line ' -- --project "$T/p" -t a:1 --layout "$T/out/L"
    # a broken mix.lock, line 2
    printf '%%{\n  "mylib": {:hex, :mylib "0.4.2"},\n}\n' >"$T/mix.lock"
    rel_fixture mix
    rel_ob_fail 1 "$T/mix.lock" 'line 2' -- --release "$REL_DIR" --lock "$T/mix.lock" -t a:1 --layout "$T/out/L"
    assert_dir_listing "$T/out" ""
}

test_release_err_platform_mismatch() {
    rel_fixture relx
    local other host
    host=$(host_arch)
    case $host in
        amd64) other=arm64 ;;
        arm64) other=amd64 ;;
        *) skip "no cross-architecture case for host $host" ;;
    esac
    mkdir -p "$T/out"
    rel_ob_fail 1 "$other" -- --release "$REL_DIR" --platform "linux/$other" -t a:1 --layout "$T/out/L"
    assert_match "$REL_ERRLINE" "$host|x86-64|x86_64|aarch64" "the error names the release's architecture"
    rel_ob_fail 1 "$other" -- --release "$REL_DIR" --platform "linux/$other" --base scratch --bundle-runtime \
        -t a:1 -o "$T/out/a.tar"
    assert_match "$REL_ERRLINE" "$host|x86-64|x86_64|aarch64" "the error names the release's architecture"
    assert_dir_listing "$T/out" ""
}

test_release_err_bundle_runtime_with_base() {
    rel_fixture relx
    mkdir -p "$T/src" "$T/out"
    echo hi >"$T/src/hi"
    ob_build --dir "$T/src" -t base:1 --layout "$T/B"
    rel_ob_fail 2 --bundle-runtime -- --release "$REL_DIR" --bundle-runtime --base "oci:$T/B:base:1" \
        -t a:1 --layout "$T/out/L"
    rel_ob_fail 2 --bundle-runtime -- --release "$REL_DIR" --bundle-runtime --base "oci:$T/B" \
        -t a:1 -o "$T/out/a.tar"
    assert_dir_listing "$T/out" ""
}

# 9a. -c is the Cmd; start commands that leave at once (daemons) are refused.
test_release_cmd_daemon() {
    rel_fixture relx
    ob_build --release "$REL_DIR" --cmd foreground -t a:1 --layout "$T/L2"
    assert_eq "$(rel_cfg "$T/L2" a:1 '[.config.Entrypoint, .config.Cmd]')" '[["/app/bin/relx_app"],["foreground"]]' "relx --cmd foreground"
    mkdir "$T/out"
    local c
    for c in daemon start daemon_boot; do
        rel_ob_fail 2 "-c $c" "background" "leave -c out" -- --release "$REL_DIR" -c "$c" -t a:1 --layout "$T/out/L"
    done
    rel_fixture mix
    for c in daemon daemon_iex; do
        rel_ob_fail 2 "-c $c" "background" -- --project "$FX/mix_app" -c "$c" -t m:1 --layout "$T/out/M"
    done
    ob_build --project "$FX/mix_app" -c start_iex -t m:1 --layout "$T/M"
    assert_eq "$(rel_cfg "$T/M" m:1 .config.Cmd)" '["start_iex"]' "Mix -c start_iex"
    assert_dir_listing "$T/out" ""
    "$OCIBUILD" build --help >"$T/help"
    grep -q daemon "$T/help" && fail "build --help offers a daemon mode: $(grep daemon "$T/help")"
    return 0
}

# 9b. --project picks the newest release of the project.
test_release_project_newest() {
    rel_fixture relx
    local P=$T/np
    mkdir -p "$P/_build/prod/rel" "$P/_build/staging/rel"
    cp "$REL_FIXTURES/relx_app/rebar.config" "$REL_FIXTURES/relx_app/rebar.lock" "$P/"
    cp -a "$REL_DIR" "$P/_build/prod/rel/relx_app"
    # the same release, as version 0.2.0, built by another profile
    local S=$P/_build/staging/rel/relx_app erts vsn
    cp -a "$REL_DIR" "$S"
    rel_start_erl "$S"
    mv "$S/releases/0.1.0" "$S/releases/0.2.0"
    sed -i 's/"0\.1\.0"/"0.2.0"/' "$S/releases/0.2.0/relx_app.rel"
    echo "$erts 0.2.0" >"$S/releases/start_erl.data"
    find "$P/_build/prod" -exec touch -h -d '2024-01-01 00:00:00' {} +
    find "$P/_build/staging" -exec touch -h -d '2024-06-01 00:00:00' {} +
    ob_build --project "$P" -t a:1 --layout "$T/L1"
    assert_eq "$(rel_ann "$T/L1" a:1 org.opencontainers.image.version)" 0.2.0 "newest release (staging)"
    rel_layer_list "$T/L1" a:1 app >"$T/app1.tsv"
    rel_has "$T/app1.tsv" '\Qapp/releases/0.2.0/relx_app.rel\E' || fail "image does not hold the staging release"
    find "$P/_build/prod" -exec touch -h -d '2025-01-01 00:00:00' {} +
    ob_build --project "$P" -t a:1 --layout "$T/L2"
    assert_eq "$(rel_ann "$T/L2" a:1 org.opencontainers.image.version)" 0.1.0 "newest release (prod)"
}

# Image config of releases: entrypoint, user, env, annotations; valid OCI.
test_release_config_defaults() {
    rel_fixture relx
    local L=$T/L
    ob_build --release "$REL_DIR" --base scratch --bundle-runtime -e FOO=bar -t relx:1 --layout "$L"
    validate_layout "$L" relx:1
    assert_eq "$(rel_cfg "$L" relx:1 .config.Entrypoint)" '["/app/bin/relx_app"]' "relx entrypoint"
    assert_eq "$(rel_cfg "$L" relx:1 '.config.Cmd // "none"')" '["foreground"]' "relx Cmd"
    assert_eq "$(rel_cfg "$L" relx:1 .config.WorkingDir)" '"/app"' "WorkingDir"
    assert_eq "$(rel_cfg "$L" relx:1 .config.User)" '"65534"' "User"
    assert_eq "$(rel_cfg "$L" relx:1 .architecture)" "\"$(host_arch)\"" "architecture"
    local e env
    env=$(rel_cfg "$L" relx:1 '.config.Env[]')
    for e in HOME=/tmp LANG=C.UTF-8 RELX_OUT_FILE_PATH=/tmp FOO=bar; do
        grep -qxF "\"$e\"" <<<"$env" || fail "relx Env lacks $e: $env"
    done
    grep -q RELEASE_TMP <<<"$env" && fail "relx Env has RELEASE_TMP: $env"
    assert_eq "$(rel_ann "$L" relx:1 org.opencontainers.image.version)" 0.1.0 "version annotation"
    assert_match "$(rel_ann "$L" relx:1 org.opencontainers.image.created)" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "created annotation"

    rel_fixture mix
    ob_build --project "$FX/mix_app" --base scratch --bundle-runtime -t mix:1 --layout "$T/M" -o "$T/mix.tar"
    validate_layout "$T/M" mix:1
    assert_eq "$(rel_cfg "$T/M" mix:1 .config.Entrypoint)" '["/app/bin/mix_app"]' "Mix entrypoint"
    assert_eq "$(rel_cfg "$T/M" mix:1 '.config.Cmd // "none"')" '["start"]' "Mix Cmd"
    env=$(rel_cfg "$T/M" mix:1 '.config.Env[]')
    for e in HOME=/tmp LANG=C.UTF-8 RELEASE_TMP=/tmp; do
        grep -qxF "\"$e\"" <<<"$env" || fail "Mix Env lacks $e: $env"
    done
    grep -q RELX_OUT_FILE_PATH <<<"$env" && fail "Mix Env has RELX_OUT_FILE_PATH: $env"
    assert_eq "$(rel_ann "$T/M" mix:1 org.opencontainers.image.version)" 0.3.0 "Mix version annotation"
    assert_eq "$(rel_created_by "$T/M" mix:1 | tr '\n' '|')" \
        "ocibuild build: runtime layer in /|ocibuild build: erts layer in /app|ocibuild build: deps layer in /app|ocibuild build: app layer in /app|ocibuild build: sbom layer in /|" \
        "Mix layers"
    rel_layer_list "$T/M" mix:1 deps >"$T/mixdeps.tsv"
    rel_has "$T/mixdeps.tsv" '\Qapp/lib/mylib-0.4.2/ebin/Elixir.Mylib.beam\E' file || fail "Mix deps layer lacks mylib"
    cut -f1 "$T/mixdeps.tsv" | grep -vxE 'app|app/lib|app/lib/mylib-0\.4\.2(/.*)?' && fail "Mix deps layer holds more than mylib"
    rel_layer_list "$T/M" mix:1 erts >"$T/mixerts.tsv"
    rel_has "$T/mixerts.tsv" 'app/lib/elixir-[0-9.]+/ebin/elixir\.app' file || fail "Mix erts layer lacks the elixir application"
    # the archive carries the same image
    mkdir "$T/x" && tar -xf "$T/mix.tar" -C "$T/x"
    assert_eq "$(index_digest "$T/x" mix:1)" "$(index_digest "$T/M" mix:1)" "archive vs layout digest"
}

# 9c. Without -t a release build is tagged NAME:VSN ('_' for the '+' of build
# metadata); without an output it writes NAME-VSN.tar beside the release's
# rel/ directory (_build/PROFILE/), as the rebar3 plugin and Mix task want.
test_release_default_tag_and_output() {
    rel_fixture relx
    local P=$T/p erts vsn
    mkdir -p "$P/_build/prod/rel"
    cp "$REL_FIXTURES/relx_app/rebar.config" "$REL_FIXTURES/relx_app/rebar.lock" "$P/"
    cp -a "$REL_DIR" "$P/_build/prod/rel/relx_app"
    ob_build --project "$P"
    local A=$P/_build/prod/relx_app-0.1.0.tar
    assert_file "$A" "default archive"
    mkdir "$T/x1" && tar -xf "$A" -C "$T/x1"
    assert_eq "$(jq -r '[.manifests[].annotations["org.opencontainers.image.ref.name"]] | join(" ")' "$T/x1/index.json")" \
        relx_app:0.1.0 "default tag"
    assert_eq "$(index_digest "$T/x1" relx_app:0.1.0)" "$DIGEST" "archive digest vs stdout"
    assert_eq "$(jq -r '.[0].RepoTags | join(" ")' "$T/x1/manifest.json")" relx_app:0.1.0 "Docker RepoTags"
    # (relative to the working directory when under it)
    assert_match "$BUILD_ERR" "image relx_app:0\.1\.0 written to (/.*/)?p/_build/prod/relx_app-0\.1\.0\.tar" \
        "says what it chose"
    assert_dir_listing "$P/_build/prod" "rel relx_app-0.1.0.tar"

    # run from the project: the path it reports is relative, as the user gave it
    rm "$A"
    run env -C "$P" "$OCIBUILD" build --project .
    assert_eq "$RC" 0 "build from the project directory (stderr: $ERR)"
    assert_contains "$ERR" "image relx_app:0.1.0 written to _build/prod/relx_app-0.1.0.tar" "relative path"
    assert_file "$A" "default archive (relative)"

    # the tags given, the default output; the output given, the default tag
    ob_build --project "$P" -t a:1 -t a:latest
    mkdir "$T/x2" && tar -xf "$A" -C "$T/x2"
    assert_eq "$(jq -r '[.manifests[].annotations["org.opencontainers.image.ref.name"]] | sort | join(" ")' "$T/x2/index.json")" \
        "a:1 a:latest" "-t replaces the default tag"
    assert_match "$BUILD_ERR" "image a:1, a:latest written to (/.*/)?p/_build/prod/relx_app-0\.1\.0\.tar" \
        "names the given tags"
    ob_build --release "$P/_build/prod/rel/relx_app" --layout "$T/L"
    assert_eq "$(jq -r '[.manifests[].annotations["org.opencontainers.image.ref.name"]] | join(" ")' "$T/L/index.json")" \
        relx_app:0.1.0 "--release: default tag"
    assert_contains "$BUILD_ERR" "image relx_app:0.1.0 added to the OCI layout $T/L" "says the tag it chose"
    assert_dir_listing "$P/_build/prod" "rel relx_app-0.1.0.tar"
    # a plain build names nothing it did not choose
    ob_build --project "$P" -t a:1 -o "$T/a.tar"
    assert_not_contains "$BUILD_ERR" "written to" "no summary when -t and -o are given"

    # build metadata: '+' is not allowed in a tag
    local S=$P/_build/prod/rel/relx_app
    rel_start_erl "$S"
    mv "$S/releases/0.1.0" "$S/releases/0.3.0+build.7"
    sed -i 's/"0\.1\.0"/"0.3.0+build.7"/' "$S/releases/0.3.0+build.7/relx_app.rel"
    echo "$erts 0.3.0+build.7" >"$S/releases/start_erl.data"
    ob_build --project "$P"
    A=$P/_build/prod/relx_app-0.3.0+build.7.tar
    assert_file "$A" "default archive of 0.3.0+build.7"
    mkdir "$T/x3" && tar -xf "$A" -C "$T/x3"
    assert_eq "$(jq -r '[.manifests[].annotations["org.opencontainers.image.ref.name"]] | join(" ")' "$T/x3/index.json")" \
        relx_app:0.3.0_build.7 "'_' for '+'"
    assert_contains "$BUILD_ERR" "tagging the image relx_app:0.3.0_build.7" "says why the tag differs"
    assert_eq "$(rel_ann "$T/x3" relx_app:0.3.0_build.7 org.opencontainers.image.version)" 0.3.0+build.7 \
        "the version annotation keeps the '+'"

    # a release outside rel/ has no default output; a directory no default tag
    mkdir -p "$T/out" "$T/elsewhere"
    cp -a "$S" "$T/elsewhere/relx_app"
    rel_ob_fail 2 'no output' '-o FILE.tar' -- --release "$T/elsewhere/relx_app"
    mkdir -p "$T/src" && echo x >"$T/src/f"
    rel_ob_fail 2 'no tag' -- --dir "$T/src" -o "$T/out/a.tar"
    assert_dir_listing "$T/out" ""
}

# 7c. Without SOURCE_DATE_EPOCH or CI variables, the creation time and the
# source labels of a release in a git work tree come from git: two runs of
# it, side by side (the commit's time and hash from one, the remote from the
# other), not one run per value. Each run of git is start-up time of every
# such build (bench/profile.sh, "fresh runner").
test_release_vcs_git_runs() {
    command -v strace >/dev/null || fail "strace is missing (scripts/install-deps.sh --test)"
    rel_fixture relx
    unset "${REL_CI_VARS[@]}" SOURCE_DATE_EPOCH
    local P=$T/proj head runs
    rel_git_project "$P" https://user:secret@example.com/org/repo.git \
        GIT_AUTHOR_DATE=@1500000000 GIT_COMMITTER_DATE=@1600000000
    head=$(git -C "$P" rev-parse HEAD)
    run env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        strace -ff -qq -e trace=execve -o "$T/strace.log" "$OCIBUILD" build \
        --release "$P/_build/prod/rel/relx_app" -t a:1 --layout "$T/L"
    [ "$RC" -eq 0 ] || fail "build under strace exited $RC: $ERR"
    # one log per process (-ff): the two runs overlap, and strace -f would
    # split their lines into "unfinished" and "resumed" halves
    runs=$(cat "$T"/strace.log.* | grep -cE '^execve\("[^"]*/git", .*\) = 0$' || true)
    assert_eq "$runs" 2 "runs of git"
    assert_eq "$(rel_ann "$T/L" a:1 org.opencontainers.image.source)" https://example.com/org/repo "source from git"
    assert_eq "$(rel_ann "$T/L" a:1 org.opencontainers.image.revision)" "$head" "revision from git"
    assert_eq "$(rel_ann "$T/L" a:1 org.opencontainers.image.created)" 2020-09-13T12:26:40Z "created from the commit time"
    # outside a git work tree: nothing from git, and the build still works
    cp -a "$P/_build/prod/rel/relx_app" "$T/norepo"
    ob_build --release "$T/norepo" -t a:1 --layout "$T/N"
    assert_eq "$(rel_ann "$T/N" a:1 org.opencontainers.image.source)" "<none>" "source outside git"
    assert_eq "$(rel_ann "$T/N" a:1 org.opencontainers.image.created)" 1970-01-01T00:00:01Z "created outside git"
}

# The ELF check opens every file of the release (side by side on the
# context's threads): a NIF found only by its magic (mode 0644, a name that
# does not end in .so, deep in priv/) still brings its libraries, and the
# dpkg records of their packages, into the runtime layer, with -j 1 and
# -j 4 alike.
test_release_elf_found_by_magic() {
    rel_fixture relx
    local j
    # a stand-in NIF that needs a library no other file of the release needs
    printf '#include <jansson.h>\nvoid *nif_stand_in(void) { return json_object(); }\n' >"$T/nif.c"
    cc -shared -fPIC -o "$T/nif.so" "$T/nif.c" -ljansson || fail "cannot build the stand-in NIF"
    cp -a "$REL_DIR" "$T/rel"
    ob_build --release "$T/rel" -t a:1 --layout "$T/L0"
    rel_layer_list "$T/L0" a:1 runtime >"$T/r0.tsv"
    if grep -qF 'libjansson.so.4' "$T/r0.tsv"; then
        fail "the fixture's runtime layer already holds libjansson.so.4: pick another NIF stand-in"
    fi
    local app
    app=$(find "$T/rel/lib" -maxdepth 1 -name 'relx_app-*' | head -n1)
    mkdir -p "$app/priv/deep/er/still"
    cp "$T/nif.so" "$app/priv/deep/er/still/native.blob"
    chmod 0644 "$app/priv/deep/er/still/native.blob"
    for j in 1 4; do
        ob_build --release "$T/rel" -t a:1 --layout "$T/L$j" -j "$j" --no-cache
        rel_layer_list "$T/L$j" a:1 runtime >"$T/r$j.tsv"
        grep -qF 'libjansson.so.4' "$T/r$j.tsv" || fail "-j $j: libjansson.so.4 (needed by the NIF) is not in the runtime layer"
        # and the package that owns it is found in dpkg's file lists (read
        # side by side too) and recorded for scanners
        grep -qF 'var/lib/dpkg/status.d/libjansson4' "$T/r$j.tsv" || fail "-j $j: no dpkg record of libjansson4"
    done
    assert_eq "$(index_digest "$T/L4" a:1)" "$(index_digest "$T/L1" a:1)" "digest with -j 1 and -j 4"
}

# A .beam file is read by the code loader, never mapped as native code:
# the ELF check does not open it (most of a release's files are .beam), so
# a build without the layer cache opens each .beam once, to tar it, while
# any other file of 64 bytes or more is opened by the check too.
test_release_elf_check_skips_beam() {
    command -v strace >/dev/null || fail "strace is missing (scripts/install-deps.sh --test)"
    rel_fixture relx
    cp -a "$REL_DIR" "$T/rel"
    local beam app
    # (-quit, not a pipe into head: a writer cut off by head fails the
    # pipeline with SIGPIPE)
    beam=$(find "$T/rel/lib" -name '*.beam' -size +1k -print -quit)
    [ -n "$beam" ] || fail "no .beam file in the release"
    app=$(dirname "$(dirname "$beam")")/priv/table.dat
    mkdir -p "${app%/*}" && head -c 100 /dev/zero >"$app"
    run env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        strace -f -qq -e trace=openat -o "$T/strace.log" "$OCIBUILD" build \
        --release "$T/rel" -t a:1 -o "$T/a.tar" --no-cache
    [ "$RC" -eq 0 ] || fail "build under strace exited $RC: $ERR"
    # (the walk opens by name in the directory, the tar by path)
    assert_eq "$(grep -cF -e "\"${beam##*/}\"" -e "/${beam##*/}\"" "$T/strace.log" || true)" 1 \
        "opens of ${beam##*/}"
    assert_eq "$(grep -cF -e "\"${app##*/}\"" -e "/${app##*/}\"" "$T/strace.log" || true)" 2 \
        "opens of ${app##*/}"
}
