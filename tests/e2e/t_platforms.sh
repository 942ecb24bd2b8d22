# shellcheck shell=bash
# Several platforms (--platform linux/amd64,linux/arm64): one image index
# whose manifests share the layers made from the input and differ in their
# config and base; layouts, archives, registries, bases that are indexes,
# releases with ERTS or NIFs, and the errors of a bad list.
#
# Helpers here are prefixed plat_ (every t_*.sh shares one shell).

PLAT_MT_INDEX=application/vnd.oci.image.index.v1+json
PLAT_MT_MANIFEST=application/vnd.oci.image.manifest.v1+json

# plat_other: an architecture that is not the build host's
plat_other() {
    case "$(host_arch)" in
        amd64) echo arm64 ;;
        *) echo amd64 ;;
    esac
}

# plat_manifest LAYOUT REFNAME ARCH -> the manifest of that architecture in
# the index REFNAME points at
plat_manifest() {
    local x d
    x=$(manifest_json "$1" "$2") || exit 1
    [ "$(jq -r .mediaType <<<"$x")" = "$PLAT_MT_INDEX" ] || fail "$1:$2 is not an image index: $x"
    d=$(jq -r --arg a "$3" '[.manifests[] | select(.platform.architecture == $a) | .digest] | if length == 1 then .[0] else "count=\(length)" end' <<<"$x")
    [[ $d == sha256:* ]] || fail "index $1:$2 has no single $3 manifest ($d): $x"
    cat "$(blob "$1" "$d")" || fail "manifest blob $d missing in $1"
}

# plat_config LAYOUT REFNAME ARCH -> that platform's config
plat_config() {
    local m
    m=$(plat_manifest "$1" "$2" "$3") || exit 1
    cat "$(blob "$1" "$(jq -r .config.digest <<<"$m")")" || fail "config blob missing in $1"
}

# plat_view LAYOUT REFNAME VIEW: a layout VIEW sharing LAYOUT's blobs whose
# index.json names each platform's manifest of REFNAME by its architecture,
# for tools that read one image manifest (umoci, oci-image-tool)
plat_view() {
    local x
    x=$(manifest_json "$1" "$2") || exit 1
    mkdir -p "$3"
    cp -al "$1/blobs" "$3/blobs" 2>/dev/null || cp -a "$1/blobs" "$3/blobs"
    cp "$1/oci-layout" "$3/oci-layout"
    jq '{schemaVersion: 2, manifests: [.manifests[] | .annotations = {"org.opencontainers.image.ref.name": .platform.architecture}]}' \
        <<<"$x" >"$3/index.json"
}

# plat_two_base LAYOUT: a two-platform base image (amd64 and arm64) whose
# platforms have different layers, as "base:multi" in LAYOUT; sets
# PLAT_BASE_AMD and PLAT_BASE_ARM to their manifest digests
plat_two_base() {
    local L=$1 a
    for a in amd64 arm64; do
        mkdir -p "$T/base-$a/lib"
        echo "libc for $a" >"$T/base-$a/lib/libc.txt"
        ob_build --dir "$T/base-$a" --workdir / -t "base:$a" --platform "linux/$a" --layout "$L" \
            --env "BASE_ARCH=$a"
    done
    PLAT_BASE_AMD=$(index_digest "$L" base:amd64)
    PLAT_BASE_ARM=$(index_digest "$L" base:arm64)
    local sa sr x d
    sa=$(stat -c %s "$(blob "$L" "$PLAT_BASE_AMD")")
    sr=$(stat -c %s "$(blob "$L" "$PLAT_BASE_ARM")")
    jq -nc --arg mt "$PLAT_MT_MANIFEST" --arg a "$PLAT_BASE_AMD" --arg r "$PLAT_BASE_ARM" \
        --argjson sa "$sa" --argjson sr "$sr" '{
        schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [
          {mediaType: $mt, digest: $a, size: $sa, platform: {os: "linux", architecture: "amd64"}},
          {mediaType: $mt, digest: $r, size: $sr, platform: {os: "linux", architecture: "arm64"}}]}' >"$T/base-index.json"
    d=sha256:$(sha256sum <"$T/base-index.json" | cut -d' ' -f1)
    cp "$T/base-index.json" "$(blob "$L" "$d")"
    x=$(jq -c --arg d "$d" --argjson s "$(stat -c %s "$T/base-index.json")" \
        '.manifests += [{mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: $s,
          annotations: {"org.opencontainers.image.ref.name": "base:multi"}}]' "$L/index.json")
    printf '%s\n' "$x" >"$L/index.json"
}

# ------------------------------------------------------------ layout

test_platforms_layout() {
    mk_tree "$T/src"
    ob_build --dir "$T/src" -t app:1 --platform linux/amd64,linux/arm64 --layout "$T/L" \
        -a org.example.team=core
    assert_eq "$(index_digest "$T/L" app:1)" "$DIGEST" "stdout digest = index.json entry"
    assert_eq "$(jq -r '.manifests[0].mediaType' "$T/L/index.json")" "$PLAT_MT_INDEX" "index.json entry type"
    verify_blob "$T/L" "$DIGEST" "$(jq -r '.manifests[0].size' "$T/L/index.json")"
    local x
    x=$(cat "$(blob "$T/L" "$DIGEST")")
    assert_eq "$(jq -r .mediaType <<<"$x")" "$PLAT_MT_INDEX" "index mediaType"
    assert_eq "$(jq -c '[.manifests[].platform]' <<<"$x")" \
        '[{"architecture":"amd64","os":"linux"},{"architecture":"arm64","os":"linux"}]' "platforms in the order given"
    assert_eq "$(jq -r '.annotations["org.example.team"]' <<<"$x")" core "-a annotation on the index"
    assert_match "$(jq -r '.annotations["org.opencontainers.image.created"]' <<<"$x")" \
        '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' "index created annotation"
    # skopeo sees the index and picks either platform
    expect_ok skopeo inspect --raw "oci:$T/L:app:1"
    assert_eq "$(jq '.manifests | length' <<<"$OUT")" 2 "platforms skopeo sees"
    expect_ok skopeo inspect --override-arch arm64 "oci:$T/L:app:1"
    assert_eq "$(jq -r .Architecture <<<"$OUT")" arm64 "skopeo --override-arch arm64"
    expect_ok skopeo inspect --override-arch amd64 "oci:$T/L:app:1"
    assert_eq "$(jq -r .Architecture <<<"$OUT")" amd64 "skopeo --override-arch amd64"
    # one app layer, shared; configs per platform; annotations on each manifest
    local ma mr
    ma=$(plat_manifest "$T/L" app:1 amd64)
    mr=$(plat_manifest "$T/L" app:1 arm64)
    assert_eq "$(jq '.layers | length' <<<"$ma")" 1 "amd64 layers"
    assert_eq "$(jq -r '.layers[0].digest' <<<"$mr")" "$(jq -r '.layers[0].digest' <<<"$ma")" "shared app layer"
    assert_ne "$(jq -r .config.digest <<<"$mr")" "$(jq -r .config.digest <<<"$ma")" "configs differ"
    assert_eq "$(jq -r '.annotations["org.example.team"]' <<<"$mr")" core "-a annotation on a manifest"
    assert_eq "$(plat_config "$T/L" app:1 arm64 | jq -r '.architecture + "/" + .os')" arm64/linux "arm64 config"
    assert_eq "$(plat_config "$T/L" app:1 amd64 | jq -r .architecture)" amd64 "amd64 config"
    # blobs: 1 layer + 2 configs + 2 manifests + the index
    assert_eq "$(find "$T/L/blobs" -type f | wc -l)" 6 "blobs in the layout"
    assert_dir_listing "$T/L" "blobs index.json oci-layout"
    # each platform's image validates and unpacks to the tree
    plat_view "$T/L" app:1 "$T/V"
    local a
    for a in amd64 arm64; do
        validate_layout "$T/V" "$a"
        umoci_unpack "$T/V" "$a" "$T/bundle-$a"
        assert_same_tree "$T/src" "$T/bundle-$a/rootfs/app"
    done
    # skopeo copies the whole index with the same digest
    expect_ok skopeo copy --all "oci:$T/L:app:1" "oci:$T/C:copy"
    assert_eq "$(index_digest "$T/C" copy)" "$DIGEST" "digest after skopeo copy --all"
    # a variant is recorded as given
    ob_build --dir "$T/src" -t app:2 --platform linux/arm/v7,linux/arm64 --layout "$T/L"
    assert_eq "$(jq -c '.manifests[0].platform' "$(blob "$T/L" "$DIGEST")")" \
        '{"architecture":"arm","os":"linux","variant":"v7"}' "variant in the index"
    assert_eq "$(jq '.manifests | length' "$T/L/index.json")" 2 "tags in the layout"
}

# One platform in the list is the single-platform image, byte for byte.
test_platforms_one_is_unchanged() {
    mk_tree "$T/src"
    export SOURCE_DATE_EPOCH=1700000000
    ob_build --dir "$T/src" -t app:1 --platform linux/arm64 --layout "$T/L1"
    local one=$DIGEST
    assert_eq "$(jq -r '.manifests[0].mediaType' "$T/L1/index.json")" "$PLAT_MT_MANIFEST" "one platform: a manifest"
    ob_build --dir "$T/src" -t app:1 --platform linux/amd64,linux/arm64 --layout "$T/L2"
    # the index's arm64 manifest is the single-platform image
    assert_eq "$(jq -r '.manifests[1].digest' "$(blob "$T/L2" "$DIGEST")")" "$one" \
        "arm64 manifest of the index vs the one-platform build"
}

test_platforms_reproducible() {
    mk_tree "$T/src"
    export SOURCE_DATE_EPOCH=1700000000
    ob_build --dir "$T/src" -t app:1 --platform linux/amd64,linux/arm64 -o "$T/a.tar" -j 1
    local first=$DIGEST
    ob_build --dir "$T/src" -t app:1 --platform linux/amd64,linux/arm64 -o "$T/b.tar" -j 4
    assert_eq "$DIGEST" "$first" "index digest with another --jobs"
    cmp "$T/a.tar" "$T/b.tar" || fail "archives differ with another --jobs"
    run taskset -c 0 "$OCIBUILD" build --dir "$T/src" -t app:1 --platform linux/amd64,linux/arm64 \
        -o "$T/c.tar"
    [ "$RC" -eq 0 ] || fail "taskset build: $ERR"
    assert_eq "$OUT" "$first" "index digest on one CPU"
    cmp "$T/a.tar" "$T/c.tar" || fail "archives differ on one CPU"
    # the order given is the order of the index: another order, another digest
    ob_build --dir "$T/src" -t app:1 --platform linux/arm64,linux/amd64 -o "$T/d.tar"
    assert_ne "$DIGEST" "$first" "index digest for the other order"
}

# -o: the archive is the layout as a tar; its Docker manifest.json names the
# build host's image when it is in the list, else the first platform's
test_platforms_archive() {
    mk_tree "$T/src"
    local host other
    host=$(host_arch)
    other=$(plat_other)
    ob_build --dir "$T/src" -t app:1 --platform "linux/$other,linux/$host" -o "$T/x.tar"
    local d=$DIGEST
    expect_ok skopeo inspect --raw "oci-archive:$T/x.tar:app:1"
    assert_eq "$(jq -c '[.manifests[].platform.architecture]' <<<"$OUT")" "[\"$other\",\"$host\"]" "archive index"
    assert_eq "$(printf '%s' "$OUT" | sha256sum | sed 's/^/sha256:/; s/ .*//')" "$d" "archive index digest"
    mkdir "$T/u"
    tar -C "$T/u" -xf "$T/x.tar"
    local cfg
    cfg=$(jq -r '.[0].Config' "$T/u/manifest.json")
    assert_eq "$(jq -r .architecture "$T/u/$cfg")" "$host" "manifest.json names the host's image"
    assert_eq "$(jq -c '.[0].RepoTags' "$T/u/manifest.json")" '["app:1"]' "RepoTags"
    expect_ok skopeo inspect "docker-archive:$T/x.tar"
    assert_eq "$(jq -r .Architecture <<<"$OUT")" "$host" "docker-archive: the host's image"
    expect_ok skopeo copy --all "oci-archive:$T/x.tar:app:1" "oci:$T/C:c"
    assert_eq "$(index_digest "$T/C" c)" "$d" "skopeo copy --all of the archive"
    # host not in the list: the first platform's image
    ob_build --dir "$T/src" -t app:2 --platform "linux/s390x,linux/$other" -o "$T/y.tar"
    mkdir "$T/v"
    tar -C "$T/v" -xf "$T/y.tar"
    cfg=$(jq -r '.[0].Config' "$T/v/manifest.json")
    assert_eq "$(jq -r .architecture "$T/v/$cfg")" s390x "manifest.json names the first platform's image"
    "$OCIBUILD" build --help | grep -i 'manifest.json' >/dev/null || fail "--help does not say which image manifest.json names"
}

# ------------------------------------------------------------ bases

# a base that is an index: each platform gets its own base manifest
test_platforms_index_base() {
    plat_two_base "$T/B"
    mkdir -p "$T/src" "$T/out"
    echo app >"$T/src/app.txt"
    ob_build --dir "$T/src" -t app:1 --platform linux/arm64,linux/amd64 --base "oci:$T/B:base:multi" \
        --layout "$T/L"
    local a want base_m
    for a in amd64 arm64; do
        if [ $a = amd64 ]; then want=$PLAT_BASE_AMD; else want=$PLAT_BASE_ARM; fi
        base_m=$(cat "$(blob "$T/B" "$want")")
        local m
        m=$(plat_manifest "$T/L" app:1 $a)
        assert_eq "$(jq -r '.layers[0].digest' <<<"$m")" "$(jq -r '.layers[0].digest' <<<"$base_m")" "$a: base layer first"
        assert_eq "$(jq '.layers | length' <<<"$m")" 2 "$a: layers"
        assert_eq "$(jq -r '.annotations["org.opencontainers.image.base.digest"]' <<<"$m")" "$want" "$a: base.digest"
        assert_eq "$(plat_config "$T/L" app:1 $a | jq -r .architecture)" $a "$a: config architecture"
        assert_eq "$(plat_config "$T/L" app:1 $a | jq -r '.config.Env[]' | grep '^BASE_ARCH=')" "BASE_ARCH=$a" "$a: the base's env"
        assert_eq "$(plat_config "$T/L" app:1 $a | jq '.rootfs.diff_ids | length')" 2 "$a: diff_ids"
    done
    # the app layer is the same for both
    assert_eq "$(plat_manifest "$T/L" app:1 amd64 | jq -r '.layers[1].digest')" \
        "$(plat_manifest "$T/L" app:1 arm64 | jq -r '.layers[1].digest')" "shared app layer"
    plat_view "$T/L" app:1 "$T/V"
    for a in amd64 arm64; do
        umoci_unpack "$T/V" $a "$T/bundle-$a"
        assert_eq "$(cat "$T/bundle-$a/rootfs/lib/libc.txt")" "libc for $a" "$a: the base's file"
        assert_eq "$(cat "$T/bundle-$a/rootfs/app/app.txt")" app "$a: the app's file"
    done
    # a 2-platform image made by ocibuild is a base for a 2-platform build
    ob_build --dir "$T/src" -t app:2 --platform linux/amd64,linux/arm64 --base "oci:$T/L:app:1" \
        --layout "$T/L2"
    for a in amd64 arm64; do
        assert_eq "$(plat_manifest "$T/L2" app:2 $a | jq -r '.annotations["org.opencontainers.image.base.digest"]')" \
            "$(jq -r --arg a $a '.manifests[] | select(.platform.architecture == $a) | .digest' "$(blob "$T/L" "$(index_digest "$T/L" app:1)")")" \
            "$a: base.digest of the second build"
        assert_eq "$(plat_manifest "$T/L2" app:2 $a | jq '.layers | length')" 3 "$a: layers of the second build"
    done
    # a platform the base lacks: the error names what it offers
    ob_fail 1 "linux/s390x" --dir "$T/src" -t app:3 --platform linux/amd64,linux/s390x \
        --base "oci:$T/B:base:multi" --layout "$T/out/L"
    assert_contains "$ERR" "linux/amd64, linux/arm64" "offered platforms"
    ob_fail 1 "linux/s390x" --dir "$T/src" -t app:3 --platform linux/amd64,linux/s390x \
        --base "oci:$T/B:base:multi" -o "$T/out/x.tar"
    assert_dir_listing "$T/out" ""
    # a single-platform base is refused for another platform
    ob_fail 1 "base:amd64" --dir "$T/src" -t app:3 --platform linux/amd64,linux/arm64 \
        --base "oci:$T/B:base:amd64" --layout "$T/out/L"
    assert_contains "$ERR" "linux/arm64" "the platform the base is not for"
    assert_dir_listing "$T/out" ""
}

# ------------------------------------------------------------ errors

test_platforms_err_list() {
    small_src
    ob_fail 2 "'linux/amd64' is listed twice" --dir "$T/src" -t a:1 -o "$T/out/a.tar" \
        --platform linux/amd64,linux/arm64,linux/amd64
    ob_fail 2 "empty platform" --dir "$T/src" -t a:1 -o "$T/out/a.tar" --platform linux/amd64,
    ob_fail 2 "empty platform" --dir "$T/src" -t a:1 -o "$T/out/a.tar" --platform ,linux/amd64
    ob_fail 2 "'linux/amd64/v1/x'" --dir "$T/src" -t a:1 -o "$T/out/a.tar" \
        --platform linux/s390x,linux/amd64/v1/x
    assert_not_contains "$ERR" "s390x" "the error names only the bad entry"
    ob_fail 2 "'windows'" --dir "$T/src" -t a:1 --layout "$T/out/L" --platform linux/arm64,windows
    assert_dir_listing "$T/out" ""
}

# ------------------------------------------------------------ releases

test_platforms_release_erts_foreign() {
    rel_fixture relx
    local other
    other=$(plat_other)
    mkdir -p "$T/out"
    rel_ob_fail 1 "linux/$other" "include_erts false" "include_erts: false" "--base" -- \
        --release "$REL_DIR" --platform "linux/$(host_arch),linux/$other" -t a:1 --layout "$T/out/L"
    assert_contains "$REL_ERRLINE" "erts-" "the error names an ERTS file"
    rel_ob_fail 1 "linux/$other" "include_erts false" -- --release "$REL_DIR" \
        --platform "linux/$(host_arch),linux/$other" --base scratch --bundle-runtime -t a:1 -o "$T/out/a.tar"
    assert_dir_listing "$T/out" ""
    # only the host's platform, listed with itself: fine
    ob_build --release "$REL_DIR" --platform "linux/$(host_arch)" -t a:1 --layout "$T/L"
}

# a release without ERTS but with NIFs: a warning naming the NIFs and the
# platforms they will not run on; each platform's SBOM names its own base
test_platforms_release_nifs() {
    rel_fixture relx
    local other host
    other=$(plat_other)
    host=$(host_arch)
    mkdir -p "$T/p/_build/prod/rel"
    cp "$REL_FIXTURES/relx_app/rebar.config" "$REL_FIXTURES/relx_app/rebar.lock" "$T/p/"
    cp -a "$REL_DIR" "$T/p/_build/prod/rel/relx_app"
    rm -rf "$T/p/_build/prod/rel/relx_app"/erts-*
    local nifs
    nifs=$(cd "$T/p/_build/prod/rel/relx_app" && find lib -path 'lib/*/priv/*' -name '*.so' | sort)
    [ -n "$nifs" ] || fail "the fixture release has no NIF"
    plat_two_base "$T/B"
    export SOURCE_DATE_EPOCH=1700000000
    ob_build --project "$T/p" -t a:1 --platform "linux/$host,linux/$other" --base "oci:$T/B:base:multi" \
        --layout "$T/L" --sbom "$T/sbom.json"
    local warn n
    warn=$(grep -i 'warning' <<<"$BUILD_ERR" | grep 'will not run on') || fail "no NIF warning: $BUILD_ERR"
    assert_eq "$(grep -c '' <<<"$warn")" 1 "NIF warning lines"
    assert_contains "$warn" "linux/$other" "the warning names the foreign platform"
    assert_not_contains "$warn" "linux/$host" "the warning names only foreign platforms"
    while IFS= read -r n; do
        assert_contains "$warn" "$n" "the warning names the NIF"
    done <<<"$nifs"
    # shared release layers, one SBOM layer per platform naming its base
    local ma mr a want
    ma=$(plat_manifest "$T/L" a:1 amd64)
    mr=$(plat_manifest "$T/L" a:1 arm64)
    assert_eq "$(jq -c '[.layers[1:-1][].digest]' <<<"$ma")" "$(jq -c '[.layers[1:-1][].digest]' <<<"$mr")" \
        "release layers shared"
    assert_ne "$(jq -r '.layers[-1].digest' <<<"$ma")" "$(jq -r '.layers[-1].digest' <<<"$mr")" "sbom layers differ"
    for a in amd64 arm64; do
        if [ $a = amd64 ]; then want=$PLAT_BASE_AMD; else want=$PLAT_BASE_ARM; fi
        local m sbom
        m=$(plat_manifest "$T/L" a:1 $a)
        sbom=$(decompress "$(jq -r '.layers[-1].mediaType' <<<"$m")" <"$(blob "$T/L" "$(jq -r '.layers[-1].digest' <<<"$m")")" \
            | tar -xOf - sbom.spdx.json)
        assert_eq "$(jq -r '.packages[] | select(.SPDXID == "SPDXRef-Package-base-image") | .versionInfo' <<<"$sbom")" \
            "$want" "$a: the base digest in the SBOM"
        assert_eq "$(plat_config "$T/L" a:1 $a | jq -r '.rootfs.diff_ids[-1]')" \
            "sha256:$(decompress "$(jq -r '.layers[-1].mediaType' <<<"$m")" <"$(blob "$T/L" "$(jq -r '.layers[-1].digest' <<<"$m")")" | sha256sum | cut -d' ' -f1)" \
            "$a: diff_id of the sbom layer"
    done
    # --sbom gets the first platform's document
    if [ "$host" = amd64 ]; then want=$PLAT_BASE_AMD; else want=$PLAT_BASE_ARM; fi
    assert_eq "$(jq -r '.packages[] | select(.SPDXID == "SPDXRef-Package-base-image") | .versionInfo' "$T/sbom.json")" \
        "$want" "--sbom: the first platform's SBOM"
    # (on scratch, where both SBOMs would be equal, a release without ERTS
    # is refused: t_start.sh)
}

# ------------------------------------------------------------ registries

# build --push of two platforms: manifests by digest, then the index, then
# the tag; a second push uploads nothing; `ocibuild push` of the archive
test_platforms_registry_push() {
    reg_start plain
    reg_src "$T/src"
    export SOURCE_DATE_EPOCH=$REG_EPOCH
    reg_mark
    reg_ob_push build --dir "$T/src" -t app:1 --platform linux/amd64,linux/arm64 --push "$REG" \
        --digest-file "$T/digest"
    local d=$PDIGEST
    assert_eq "$PREPO" app "repository"
    assert_eq "$(cat "$T/digest")" "$d" "--digest-file gets the index digest"
    expect_ok skopeo inspect --tls-verify=false --raw "docker://$REG/app:1"
    local x=$OUT
    assert_eq "$(jq -r .mediaType <<<"$x")" "$PLAT_MT_INDEX" "the tag names an index"
    assert_eq "$(printf '%s' "$x" | sha256sum | sed 's/^/sha256:/; s/ .*//')" "$d" "stdout is the index digest"
    assert_eq "$(jq -c '[.manifests[].platform.architecture]' <<<"$x")" '["amd64","arm64"]' "platforms"
    # order of the manifest PUTs: both platform manifests, then the index by its
    # tag (which stores it by digest too: no PUT of its own)
    local puts ma mr
    ma=$(jq -r '.manifests[0].digest' <<<"$x")
    mr=$(jq -r '.manifests[1].digest' <<<"$x")
    puts=$(reg_access | grep -oE '"PUT /v2/app/manifests/[^ ]+ HTTP/[0-9.]+" 201 ' | sed -E 's|"PUT /v2/app/manifests/([^ ]+) .*|\1|' | sed 's/%3A/:/' | tr '\n' ' ')
    assert_eq "$puts" "$ma $mr 1 " "manifest PUTs in order"
    # blobs: the shared layer once and two configs
    assert_eq "$(reg_uploaded_digests | wc -l)" 3 "blob uploads"
    expect_ok skopeo copy --all --src-tls-verify=false "docker://$REG/app:1" "oci:$T/C:c"
    assert_eq "$(index_digest "$T/C" c)" "$d" "skopeo copy --all of the pushed index"
    plat_view "$T/C" c "$T/V"
    umoci_unpack "$T/V" arm64 "$T/bundle"
    assert_same_tree "$T/src" "$T/bundle/rootfs/app"
    # the same image again: no blob goes up
    reg_mark
    reg_ob_push build --dir "$T/src" -t app:1 --platform linux/amd64,linux/arm64 --push "$REG" --json
    assert_eq "$PDIGEST" "$d" "digest of the second push"
    reg_assert_repush_noop
    assert_eq "$(reg_upload_starts)" 0 "upload sessions of the second push"
    assert_eq "$(reg_uploaded_digests | wc -l)" 0 "blob uploads of the second push"
    assert_eq "$(reg_json_events exists | wc -l)" 3 "--json exists events of the second push"
    # an archive of the same image, pushed by `ocibuild push`, under another name
    ob_build --dir "$T/src" -t app:1 --platform linux/amd64,linux/arm64 -o "$T/x.tar"
    assert_eq "$DIGEST" "$d" "archive digest"
    reg_mark
    reg_ob_push push "$T/x.tar" --push "$REG/ns" -t other:2
    assert_eq "$PUSHED" "$REG/ns/other@$d" "push of the archive"
    assert_eq "$(reg_remote_digest ns/other:2)" "$d" "ns/other:2 is the index"
    expect_ok skopeo inspect --tls-verify=false --override-arch arm64 "docker://$REG/ns/other:2"
    assert_eq "$(jq -r .Architecture <<<"$OUT")" arm64 "arm64 image of ns/other:2"
    # a layout too, pushed twice: the second uploads nothing
    ob_build --dir "$T/src" -t lay:1 --platform linux/arm64,linux/amd64 --layout "$T/L"
    local dl=$DIGEST
    reg_ob_push push "$T/L" --push "$REG"
    assert_eq "$PUSHED" "$REG/lay@$dl" "push of the layout"
    reg_mark
    reg_ob_push push "$T/L" --push "$REG"
    reg_assert_repush_noop
}

# a multi-platform base on the registry, used by reference: each platform's
# manifest has its base's layers (mounted from the base repository)
test_platforms_registry_base() {
    reg_start plain
    export SOURCE_DATE_EPOCH=$REG_EPOCH
    plat_two_base "$T/B"
    # `ocibuild push` takes a layout of one image: the index alone
    mkdir -p "$T/B1"
    cp -a "$T/B/blobs" "$T/B/oci-layout" "$T/B1/"
    jq '.manifests |= map(select(.annotations["org.opencontainers.image.ref.name"] == "base:multi"))' \
        "$T/B/index.json" >"$T/B1/index.json"
    reg_ob_push push "$T/B1" --push "$REG/lib"
    expect_ok skopeo inspect --tls-verify=false --raw "docker://$REG/lib/base:multi"
    assert_eq "$(jq -r .mediaType <<<"$OUT")" "$PLAT_MT_INDEX" "the base on the registry is an index"
    reg_src "$T/src"
    reg_mark
    reg_ob_push build --dir "$T/src" --base "$REG/lib/base:multi" -t app:1 \
        --platform linux/arm64,linux/amd64 --push "$REG/apps" --json
    local d=$PDIGEST a want base_layer
    # both base layers were mounted, none downloaded or uploaded
    assert_eq "$(reg_mounts_ok)" 2 "cross-repository mounts"
    local mounted
    mounted=$(reg_json_events mounted)
    assert_eq "$(grep -c '' <<<"$mounted")" 2 "--json mounted events"
    assert_eq "$(reg_blob_gets)" 2 "blob downloads (the base's two configs)"
    expect_ok skopeo copy --all --src-tls-verify=false "docker://$REG/apps/app:1" "oci:$T/C:c"
    assert_eq "$(index_digest "$T/C" c)" "$d" "skopeo copy --all"
    for a in amd64 arm64; do
        if [ $a = amd64 ]; then want=$PLAT_BASE_AMD; else want=$PLAT_BASE_ARM; fi
        base_layer=$(jq -r '.layers[0].digest' "$(blob "$T/B" "$want")")
        assert_eq "$(plat_manifest "$T/C" c $a | jq -r '.layers[0].digest')" "$base_layer" "$a: its base layer first"
        assert_eq "$(plat_manifest "$T/C" c $a | jq -r '.annotations["org.opencontainers.image.base.digest"]')" \
            "$want" "$a: base.digest"
        assert_eq "$(plat_config "$T/C" c $a | jq -r .architecture)" $a "$a: config"
        assert_eq "$(reg_count "\"GET /v2/[^ ]*/blobs/$base_layer ")" 0 "$a: downloads of the base layer"
        if ! grep -x "$base_layer" <<<"$mounted" >/dev/null; then
            fail "$a: base layer $base_layer not mounted (mounted: $mounted)"
        fi
    done
    # and into a layout: the base layers come down for each platform
    ob_build --dir "$T/src" --base "$REG/lib/base:multi" -t app:1 --platform linux/amd64,linux/arm64 \
        --layout "$T/L"
    plat_view "$T/L" app:1 "$T/V"
    for a in amd64 arm64; do
        umoci_unpack "$T/V" $a "$T/bundle-$a"
        assert_eq "$(cat "$T/bundle-$a/rootfs/lib/libc.txt")" "libc for $a" "$a: the base's file"
    done
    # a platform the registry base lacks
    mkdir -p "$T/out"
    run "$OCIBUILD" build --dir "$T/src" --base "$REG/lib/base:multi" -t app:1 \
        --platform linux/amd64,linux/riscv64 --layout "$T/out/L"
    reg_assert_one_error 'linux/riscv64'
    assert_contains "$REG_ERRLINE" "linux/amd64, linux/arm64" "offered platforms"
    assert_dir_listing "$T/out" ""
    # a registry base that is one image (not an index) is refused for another platform
    reg_ob_push build --dir "$T/base-amd64" --workdir / -t single:1 --platform linux/amd64 --push "$REG/lib"
    run "$OCIBUILD" build --dir "$T/src" --base "$REG/lib/single:1" -t app:1 \
        --platform linux/amd64,linux/arm64 --layout "$T/out/L"
    reg_assert_one_error 'is linux/amd64 but the image is for linux/arm64'
    assert_dir_listing "$T/out" ""
}
