# shellcheck shell=bash
# The SBOM attached to a pushed image as an OCI 1.1 referrer: an artifact
# manifest (artifactType application/spdx+json, the empty config, the SPDX
# document as its one layer, subject = the image manifest), pushed by
# digest and tagged sha256-<hex>.sbom, and `ocibuild sbom` to get it back.
#
# Debian's registry (distribution 2.8) has no referrers API, so against it
# ocibuild keeps the distribution spec's referrers tag schema: the tag
# sha256-<hex> of the subject holds an image index listing the referrers.
# No registry packaged in Debian implements the referrers API; its path is
# tested against the registry double tests/e2e/registry/hostile.py started
# with --referrers (GET /v2/NAME/referrers/DIGEST and the OCI-Subject
# header). Uses the helpers of t_registry.sh (reg_*), t_release.sh (rel_*),
# t_platforms.sh (plat_*), t_sign.sh (sign_*) and t_hostile.sh (hos_*).
#
# All helpers here are prefixed refs_ (every t_*.sh shares one shell).

REFS_MT_MANIFEST=application/vnd.oci.image.manifest.v1+json
REFS_MT_INDEX=application/vnd.oci.image.index.v1+json
REFS_SPDX=application/spdx+json
REFS_EMPTY_DIGEST=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a

# refs_auth: curl's credentials for the registry mode
refs_auth() {
    REFS_AUTH=()
    [ "${REG_MODE:-}" = basic ] && REFS_AUTH=(-u "$REG_USER:$REG_PASS")
    return 0
}

# refs_get PATH [ACCEPT]: GET http://$REG/v2/PATH (a manifest by default)
refs_get() {
    refs_auth
    curl -sf "${REFS_AUTH[@]}" -H "Accept: ${2:-$REFS_MT_MANIFEST, $REFS_MT_INDEX}" "http://$REG/v2/$1"
}

# refs_digest_of TEXT: sha256 of the bytes
refs_digest_of() { printf '%s' "$1" | sha256sum | sed 's/^/sha256:/; s/ .*//'; }

# refs_index REPO SUBJECT: the referrers tag schema index of SUBJECT
refs_index() { refs_get "$1/manifests/sha256-${2#sha256:}"; }

# refs_check_artifact REPO SUBJECT ARTIFACT SBOMFILE: ARTIFACT is the SBOM
# artifact manifest of SUBJECT holding the bytes of SBOMFILE
refs_check_artifact() {
    local repo=$1 subject=$2 artifact=$3 sbom=$4 man sman
    man=$(refs_get "$repo/manifests/$artifact") || fail "artifact manifest $artifact missing"
    assert_eq "$(refs_digest_of "$man")" "$artifact" "artifact digest"
    sman=$(refs_get "$repo/manifests/$subject") || fail "subject $subject missing"
    jq -e --arg s "$subject" --argjson ss "$(printf '%s' "$sman" | wc -c)" \
        --arg mt "$REFS_MT_MANIFEST" --arg e "$REFS_EMPTY_DIGEST" --arg spdx "$REFS_SPDX" \
        --arg l "sha256:$(sha256sum <"$sbom" | cut -d' ' -f1)" --argjson ls "$(stat -c %s "$sbom")" '
        .schemaVersion == 2 and .mediaType == $mt and .artifactType == $spdx and
        .config == {mediaType: "application/vnd.oci.empty.v1+json", digest: $e, size: 2} and
        (.layers | length) == 1 and .layers[0].mediaType == $spdx and
        .layers[0].digest == $l and .layers[0].size == $ls and
        .subject == {mediaType: $mt, digest: $s, size: $ss}' <<<"$man" >/dev/null ||
        fail "artifact manifest of $subject is not the SBOM artifact: $man"
    assert_eq "$(refs_get "$repo/blobs/$REFS_EMPTY_DIGEST" '*/*')" '{}' "the empty config blob"
    refs_get "$repo/blobs/$(jq -r '.layers[0].digest' <<<"$man")" '*/*' >"$T/layer.json" ||
        fail "SBOM blob missing"
    cmp -s "$T/layer.json" "$sbom" || fail "the SBOM blob differs from $sbom"
    # the .sbom tag names it, as cosign attach sbom and ko do
    assert_eq "$(refs_digest_of "$(refs_get "$repo/manifests/sha256-${subject#sha256:}.sbom")")" \
        "$artifact" "the .sbom tag"
}

# refs_upload REPO FILE DIGEST: upload a blob with curl (POST, then PUT)
refs_upload() {
    local loc sep='?'
    loc=$(curl -sf -D - -o /dev/null -X POST "http://$REG/v2/$1/blobs/uploads/" | tr -d '\r' |
        sed -n 's/^location: //Ip') || fail "POST upload to $1"
    [ -n "$loc" ] || fail "no upload Location"
    case $loc in /*) loc=http://$REG$loc ;; esac
    case $loc in *\?*) sep='&' ;; esac
    curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$2" \
        "$loc${sep}digest=$3" >/dev/null || fail "PUT upload of $2"
}

# refs_foreign REPO SUBJECT: another tool's referrer of SUBJECT (an artifact
# manifest with a subject, pushed with curl) listed in a hand-written tag
# schema index; sets REFS_FOREIGN (its digest)
refs_foreign() {
    local repo=$1 subject=$2 sman note nd man
    sman=$(refs_get "$repo/manifests/$subject") || fail "subject missing"
    printf '{}' >"$T/empty.json"
    echo "reviewed by someone else" >"$T/note.txt"
    nd=sha256:$(sha256sum <"$T/note.txt" | cut -d' ' -f1)
    refs_upload "$repo" "$T/empty.json" "$REFS_EMPTY_DIGEST"
    refs_upload "$repo" "$T/note.txt" "$nd"
    man=$(jq -nc --arg mt "$REFS_MT_MANIFEST" --arg s "$subject" --arg e "$REFS_EMPTY_DIGEST" \
        --arg nd "$nd" --argjson ns "$(stat -c %s "$T/note.txt")" \
        --argjson ss "$(printf '%s' "$sman" | wc -c)" '{schemaVersion: 2, mediaType: $mt,
        artifactType: "application/vnd.example.note",
        config: {mediaType: "application/vnd.oci.empty.v1+json", digest: $e, size: 2},
        layers: [{mediaType: "text/plain", digest: $nd, size: $ns}],
        subject: {mediaType: $mt, digest: $s, size: $ss}}')
    printf '%s' "$man" >"$T/foreign.json"
    REFS_FOREIGN=$(refs_digest_of "$man")
    curl -sf -X PUT -H "Content-Type: $REFS_MT_MANIFEST" --data-binary @"$T/foreign.json" \
        "http://$REG/v2/$repo/manifests/$REFS_FOREIGN" >/dev/null || fail "PUT foreign referrer"
    jq -nc --arg mt "$REFS_MT_MANIFEST" --arg x "$REFS_MT_INDEX" --arg d "$REFS_FOREIGN" \
        --argjson s "$(stat -c %s "$T/foreign.json")" '{schemaVersion: 2, mediaType: $x,
        manifests: [{mediaType: $mt, digest: $d, size: $s,
                     artifactType: "application/vnd.example.note",
                     annotations: {"org.example.by": "another tool"}}]}' >"$T/foreign-index.json"
    curl -sf -X PUT -H "Content-Type: $REFS_MT_INDEX" --data-binary @"$T/foreign-index.json" \
        "http://$REG/v2/$repo/manifests/sha256-${subject#sha256:}" >/dev/null ||
        fail "PUT foreign referrers index"
}

# refs_release: a relx release image's inputs; sets REFS_REL
refs_release() {
    rel_fixture relx
    REFS_REL=$REL_DIR
    export SOURCE_DATE_EPOCH=$REG_EPOCH   # the same image every build
}

test_referrers_tag_schema() {
    reg_start plain
    refs_release
    # --no-attach-sbom: the image only
    reg_ob_push build --release "$REFS_REL" -t app:1 --push "$REG" --no-attach-sbom \
        --image-refs "$T/refs0"
    local d=$PDIGEST
    assert_eq "$(curl -sf "http://$REG/v2/app/tags/list" | jq -c .tags)" '["1"]' \
        "tags after a push with --no-attach-sbom"
    assert_not_contains "$(cat "$T/refs0")" ".sbom" "--image-refs with --no-attach-sbom"
    # another tool's referrer is listed there first, and must survive
    refs_foreign app "$d"
    reg_mark
    reg_ob_push build --release "$REFS_REL" -t app:1 --push "$REG" --sbom "$T/sbom.json" \
        --image-refs "$T/refs"
    assert_eq "$PDIGEST" "$d" "same image"
    assert_contains "$ERR" "attached SBOM $REG/app@sha256:" "log line"
    assert_contains "$ERR" "referrers tag schema" "log line"
    local x art
    x=$(refs_index app "$d") || fail "no referrers tag index sha256-${d#sha256:}"
    assert_eq "$(jq -r .mediaType <<<"$x")" "$REFS_MT_INDEX" "media type of the referrers index"
    assert_eq "$(jq '.manifests | length' <<<"$x")" 2 "referrers listed: $x"
    jq -e --arg f "$REFS_FOREIGN" '.manifests[0] == {mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: $f, size: .manifests[0].size, artifactType: "application/vnd.example.note",
        annotations: {"org.example.by": "another tool"}}' <<<"$x" >/dev/null ||
        fail "the foreign referrer was changed or dropped: $x"
    art=$(jq -r --arg t "$REFS_SPDX" '.manifests[] | select(.artifactType == $t) | .digest' <<<"$x")
    [[ $art =~ ^sha256:[0-9a-f]{64}$ ]] || fail "no single SBOM referrer in $x"
    assert_eq "$(jq -r --arg a "$art" '.manifests[] | select(.digest == $a) | .mediaType' <<<"$x")" \
        "$REFS_MT_MANIFEST" "mediaType of the SBOM entry"
    assert_eq "$(jq -r --arg a "$art" '.manifests[] | select(.digest == $a) | .size' <<<"$x")" \
        "$(refs_get "app/manifests/$art" | wc -c)" "size of the SBOM entry"
    refs_check_artifact app "$d" "$art" "$T/sbom.json"
    grep -qx "$REG/app:sha256-${d#sha256:}.sbom" "$T/refs" ||
        fail "--image-refs lacks the SBOM artifact: $(cat "$T/refs")"
    # a push of the same image again neither rewrites the index nor duplicates
    reg_mark
    reg_ob_push build --release "$REFS_REL" -t app:1 --push "$REG"
    assert_eq "$(reg_count '"PUT /v2/app/manifests/sha256-')" 0 "referrers index or .sbom tag rewritten"
    assert_eq "$(reg_count '"GET /v2/app/manifests/sha256-'"${d#sha256:}"' HTTP')" 1 "index read"
    assert_eq "$(refs_index app "$d" | jq '.manifests | length')" 2 "referrers after a re-push"
    # ocibuild sbom gets it back byte for byte, by tag and by digest
    run "$OCIBUILD" sbom "$REG/app:1"
    [ "$RC" -eq 0 ] || fail "ocibuild sbom: $ERR"
    "$OCIBUILD" sbom "$REG/app:1" >"$T/got.json" 2>/dev/null || fail "ocibuild sbom to stdout"
    cmp -s "$T/got.json" "$T/sbom.json" || fail "ocibuild sbom differs from --sbom FILE"
    expect_ok "$OCIBUILD" sbom "$REG/app@$d" -o "$T/got2.json"
    assert_eq "$OUT" "" "stdout with -o"
    assert_contains "$ERR" "referrers tag schema" "how it was found"
    cmp -s "$T/got2.json" "$T/sbom.json" || fail "ocibuild sbom -o differs from --sbom FILE"
    # without the index, the .sbom tag still leads to it
    curl -sf -X DELETE "http://$REG/v2/app/manifests/$(refs_digest_of "$(refs_index app "$d")")" \
        >/dev/null || fail "delete the referrers index"
    expect_ok "$OCIBUILD" sbom "$REG/app:1" -o "$T/got3.json"
    assert_contains "$ERR" "sbom tag" "found by the .sbom tag"
    cmp -s "$T/got3.json" "$T/sbom.json" || fail "SBOM by the .sbom tag"
}

test_referrers_none_without_sbom_or_flag() {
    reg_start plain
    reg_src "$T/src"
    # a directory image has no SBOM: nothing is attached, and it says so
    reg_ob_push build --dir "$T/src" -t plain:1 --push "$REG"
    assert_contains "$ERR" "has no SBOM layer" "log line"
    assert_eq "$(curl -sf "http://$REG/v2/plain/tags/list" | jq -c .tags)" '["1"]' "tags of a --dir image"
    expect_fail "$OCIBUILD" sbom "$REG/plain:1"
    reg_assert_one_error "no SBOM is attached to $REG/plain@$PDIGEST"
    # ocibuild push --no-attach-sbom of a release archive
    refs_release
    ob_build --release "$REFS_REL" -t rel:1 -o "$T/img.tar"
    reg_ob_push push "$T/img.tar" --push "$REG" --no-attach-sbom
    assert_eq "$(curl -sf "http://$REG/v2/rel/tags/list" | jq -c .tags)" '["1"]' "tags with push --no-attach-sbom"
}

test_referrers_push_archive_signed() {
    reg_start basic
    refs_release
    sign_keypair k1
    ob_build --release "$REFS_REL" -t app:2 -o "$T/img.tar" --sbom "$T/sbom.json"
    reg_ob_push push "$T/img.tar" --push "$REG/team" --sign-key "$T/k1.pem" --image-refs "$T/refs"
    assert_eq "$PDIGEST" "$DIGEST" "pushed digest"
    local x art
    x=$(refs_index team/app "$PDIGEST") || fail "no referrers index"
    assert_eq "$(jq '.manifests | length' <<<"$x")" 1 "referrers"
    art=$(jq -r '.manifests[0].digest' <<<"$x")
    refs_check_artifact team/app "$PDIGEST" "$art" "$T/sbom.json"
    # the image and the SBOM artifact are both signed
    sign_verify team/app "$PDIGEST" "$T/k1.pub"
    sign_verify team/app "$art" "$T/k1.pub"
    grep -qx "$REG/team/app:sha256-${art#sha256:}.sig" "$T/refs" ||
        fail "--image-refs lacks the SBOM's signature: $(cat "$T/refs")"
    expect_ok "$OCIBUILD" sbom "$REG/team/app:2" -o "$T/got.json"
    cmp -s "$T/got.json" "$T/sbom.json" || fail "ocibuild sbom of the pushed archive"
}

test_referrers_multi_platform() {
    reg_start plain
    refs_release
    local other host
    other=$(plat_other)
    host=$(host_arch)
    cp -a "$REFS_REL" "$T/rel"
    rm -rf "$T/rel"/erts-*
    plat_two_base "$T/B"
    reg_ob_push build --release "$T/rel" -t multi:1 --platform "linux/$host,linux/$other" \
        --base "oci:$T/B:base:multi" --push "$REG" --sbom "$T/sbom.json" --image-refs "$T/refs"
    local top=$PDIGEST x m a n=0
    x=$(refs_get "multi/manifests/$top") || fail "index missing"
    for a in "$host" "$other"; do
        m=$(jq -r --arg a "$a" '.manifests[] | select(.platform.architecture == $a) | .digest' <<<"$x")
        local ri
        ri=$(refs_index multi "$m") || fail "no referrers index for the $a manifest"
        assert_eq "$(jq -c --arg t "$REFS_SPDX" '[.manifests[] | select(.artifactType == $t)] | length' <<<"$ri")" \
            1 "SBOM referrers of the $a manifest"
        local art
        art=$(jq -r '.manifests[0].digest' <<<"$ri")
        assert_eq "$(refs_get "multi/manifests/$art" | jq -r .subject.digest)" "$m" "subject of the $a SBOM"
        expect_ok "$OCIBUILD" sbom "$REG/multi:1" --platform "linux/$a" -o "$T/$a.json"
        # each platform's SBOM names its own base
        local want=$PLAT_BASE_AMD
        [ "$a" = arm64 ] && want=$PLAT_BASE_ARM
        assert_eq "$(jq -r '.packages[] | select(.SPDXID == "SPDXRef-Package-base-image") | .versionInfo' "$T/$a.json")" \
            "$want" "the $a SBOM names the $a base"
        grep -qx "$REG/multi:sha256-${m#sha256:}.sbom" "$T/refs" || fail "--image-refs lacks the $a SBOM"
        n=$((n + 1))
    done
    assert_eq "$n" 2 "platforms checked"
    # the host's (the first platform's) is the one --sbom wrote
    cmp -s "$T/$host.json" "$T/sbom.json" || fail "the $host SBOM differs from --sbom FILE"
    # nothing is attached to the index itself
    if refs_index multi "$top" >/dev/null; then fail "a referrers index for the image index"; fi
    assert_eq "$(grep -c '\.sbom$' "$T/refs")" 2 "SBOM refs in --image-refs"
}

test_referrers_api() {
    # no registry packaged in Debian has the referrers API: the double has it
    hos_start --referrers
    refs_release
    REG=$HOS
    reg_ob_push build --release "$REFS_REL" -t app:1 --push "$HOS" --sbom "$T/sbom.json"
    local d=$PDIGEST x art
    assert_contains "$ERR" "(referrers API)" "log line"
    # the registry lists the referrer; no tag schema index was written
    x=$(curl -sf "http://$HOS/v2/app/referrers/$d") || fail "GET referrers"
    assert_eq "$(jq -r .mediaType <<<"$x")" "$REFS_MT_INDEX" "referrers API answer"
    assert_eq "$(jq '.manifests | length' <<<"$x")" 1 "referrers listed by the API"
    assert_eq "$(jq -r .manifests[0].artifactType <<<"$x")" "$REFS_SPDX" "artifactType"
    art=$(jq -r .manifests[0].digest <<<"$x")
    refs_check_artifact app "$d" "$art" "$T/sbom.json"
    assert_eq "$(grep -c "^PUT /v2/app/manifests/sha256-${d#sha256:} " "$HOS_LOG" || true)" 0 \
        "PUTs of a referrers tag index"
    assert_eq "$(grep -c "^PUT /v2/app/manifests/sha256-${d#sha256:}.sbom " "$HOS_LOG" || true)" 1 \
        "PUT of the .sbom tag"
    # a registry that has the API but does not send OCI-Subject: the GET says so
    expect_ok "$OCIBUILD" sbom "$HOS/app:1" -o "$T/got.json"
    assert_contains "$ERR" "found by the referrers API" "how it was found"
    cmp -s "$T/got.json" "$T/sbom.json" || fail "ocibuild sbom through the referrers API"
    assert_eq "$(grep -c "^GET /v2/app/manifests/sha256-${d#sha256:} " "$HOS_LOG" || true)" 0 \
        "reads of a referrers tag index"
}

test_referrers_api_without_subject_header() {
    hos_start --referrers=no-header
    refs_release
    REG=$HOS
    reg_ob_push build --release "$REFS_REL" -t app:1 --push "$HOS" --sbom "$T/sbom.json"
    local d=$PDIGEST
    assert_contains "$ERR" "(referrers API)" "log line"
    assert_eq "$(grep -c "^GET /v2/app/referrers/$d " "$HOS_LOG" || true)" 1 "referrers API asked"
    assert_eq "$(grep -c "^PUT /v2/app/manifests/sha256-${d#sha256:} " "$HOS_LOG" || true)" 0 \
        "PUTs of a referrers tag index"
    expect_ok "$OCIBUILD" sbom "$HOS/app:1" -o "$T/got.json"
    cmp -s "$T/got.json" "$T/sbom.json" || fail "ocibuild sbom through the referrers API"
}

# refs_tiny LAYOUT: a tiny image whose last layer is made the way build
# makes an SBOM layer (sbom.spdx.json in /, the history naming it), as
# "tiny:1" in LAYOUT; sets REFS_TINY_SBOM (the document's path)
refs_tiny() {
    local L=$1 m c nc nm cd md
    mkdir -p "$T/tiny"
    jq -nc '{spdxVersion: "SPDX-2.2", name: "tiny", packages: []}' >"$T/tiny/sbom.spdx.json"
    REFS_TINY_SBOM=$T/tiny/sbom.spdx.json
    ob_build --dir "$T/tiny" --workdir / -t tiny:1 --layout "$L"
    m=$(manifest_json "$L" tiny:1)
    c=$(cat "$(blob "$L" "$(jq -r .config.digest <<<"$m")")")
    nc=$(jq -c '.history[-1].created_by = "ocibuild build: sbom layer in /"' <<<"$c")
    cd=$(refs_digest_of "$nc")
    printf '%s' "$nc" >"$(blob "$L" "$cd")"
    nm=$(jq -c --arg d "$cd" --argjson s "$(printf '%s' "$nc" | wc -c)" \
        '.config.digest = $d | .config.size = $s' <<<"$m")
    md=$(refs_digest_of "$nm")
    printf '%s' "$nm" >"$(blob "$L" "$md")"
    jq -c --arg d "$md" --argjson s "$(printf '%s' "$nm" | wc -c)" \
        '.manifests[0].digest = $d | .manifests[0].size = $s' "$L/index.json" >"$T/index.new"
    mv "$T/index.new" "$L/index.json"
}

# out of memory anywhere in attaching (push) and fetching (sbom): a clean
# error or success, never a crash, a leak or a half-written -o file
test_referrers_faults() {
    faults_enabled
    reg_start plain
    refs_tiny "$T/L"
    reg_ob_push push "$T/L" --push "$REG/once"
    expect_ok "$OCIBUILD" sbom "$REG/once/tiny:1"
    assert_eq "$OUT" "$(cat "$REFS_TINY_SBOM")" "the tiny image's SBOM"
    faults_sweep 2 push "$T/L" --push "$REG/r@N@" -q
    faults_sweep 2 sbom "$REG/once/tiny:1" -o @OUT@/sbom.json -q
}

# a tag sha256-<hex> that holds something else than an index: the push
# fails with one line naming the tag and the way out, and changes nothing
test_referrers_bad_tag_index() {
    reg_start plain
    refs_release
    reg_ob_push build --release "$REFS_REL" -t app:1 --push "$REG" --no-attach-sbom
    local d=$PDIGEST tag="sha256-${PDIGEST#sha256:}"
    refs_get "app/manifests/$d" >"$T/image.json" || fail "image manifest"
    curl -sf -X PUT -H "Content-Type: $REFS_MT_MANIFEST" --data-binary @"$T/image.json" \
        "http://$REG/v2/app/manifests/$tag" >/dev/null || fail "PUT $tag"
    run "$OCIBUILD" build --release "$REFS_REL" -t app:1 --push "$REG"
    reg_assert_one_error "--no-attach-sbom.*$tag.*not a usable image index"
    assert_eq "$(refs_digest_of "$(refs_get "app/manifests/$tag")")" "$d" "the tag is left alone"
    reg_ob_push build --release "$REFS_REL" -t app:1 --push "$REG" --no-attach-sbom
}

# an index that lists another image's SBOM: ocibuild sbom checks the subject
test_referrers_sbom_of_another_image() {
    reg_start plain
    refs_release
    reg_ob_push build --release "$REFS_REL" -e A=1 -t app:1 --push "$REG" --no-attach-sbom
    local d1=$PDIGEST
    reg_ob_push build --release "$REFS_REL" -e A=2 -t app:2 --push "$REG"
    local d2=$PDIGEST x
    assert_ne "$d1" "$d2" "two images"
    x=$(refs_index app "$d2") || fail "no referrers index of app:2"
    printf '%s' "$x" >"$T/x.json"
    curl -sf -X PUT -H "Content-Type: $REFS_MT_INDEX" --data-binary @"$T/x.json" \
        "http://$REG/v2/app/manifests/sha256-${d1#sha256:}" >/dev/null || fail "PUT index for app:1"
    run "$OCIBUILD" sbom "$REG/app:1" -o "$T/got.json"
    reg_assert_one_error "names $d2 as its subject, not $d1"
    assert_no_path "$T/got.json"
}
