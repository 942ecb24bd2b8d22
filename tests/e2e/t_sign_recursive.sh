# shellcheck shell=bash
# Signing a multi-platform image as `cosign sign --recursive` does: the
# index and every platform manifest it lists get a sha256-<hex>.sig tag,
# and `ocibuild verify --recursive` checks each of them. The signatures are
# also checked independently of ocibuild (skopeo copies the signature image,
# openssl verifies the ECDSA signature over the payload bytes). Uses the
# helpers of t_sign.sh (sign_*), t_referrers.sh (refs_*) and the registry
# fixture (reg_*).
#
# Helpers here are prefixed signr_ (every t_*.sh shares one shell).

# signr_platform_digests INDEXJSON: "ARCH DIGEST" per platform, in order
signr_platform_digests() {
    jq -r '.manifests[] | "\(.platform.architecture) \(.digest)"' <<<"$1"
}

# signr_skopeo_check REPO DIGEST PUBKEY: skopeo copies the signature image
# of DIGEST into a layout; its one payload names REG/REPO and DIGEST and
# its signature annotation verifies with PUBKEY under openssl
signr_skopeo_check() {
    local repo=$1 digest=$2 pub=$3 man pd dir=$T/sigcopy-${2#sha256:}
    expect_ok skopeo copy --retry-times 0 "${REG_SK[@]}" \
        "docker://$REG/$repo:sha256-${digest#sha256:}.sig" "oci:$dir:sig"
    man=$(manifest_json "$dir" sig) || fail "no signature manifest in $dir"
    assert_eq "$(jq '.layers | length' <<<"$man")" 1 "signature layers of $digest"
    pd=$(jq -r '.layers[0].digest' <<<"$man")
    jq -e --arg r "$REG/$repo" --arg d "$digest" '
        .critical.identity["docker-reference"] == $r and
        .critical.image["docker-manifest-digest"] == $d' "$(blob "$dir" "$pd")" >/dev/null ||
        fail "the payload of $digest names another image: $(cat "$(blob "$dir" "$pd")")"
    jq -r '.layers[0].annotations["dev.cosignproject.cosign/signature"]' <<<"$man" |
        base64 -d >"$T/signr.der" 2>/dev/null || fail "signature of $digest is not base64"
    openssl dgst -sha256 -verify "$pub" -signature "$T/signr.der" "$(blob "$dir" "$pd")" \
        >/dev/null 2>&1 || fail "openssl does not verify the signature of $digest with $pub"
}

# signr_resign REPO DIGEST KEY: overwrite the .sig tag of DIGEST with the
# same payload signed by KEY (openssl), as another signer's tool would
signr_resign() {
    local repo=$1 digest=$2 key=$3 tag man pd sig
    tag="sha256-${digest#sha256:}.sig"
    man=$(sign_curl "$repo/manifests/$tag" -H 'Accept: application/vnd.oci.image.manifest.v1+json') ||
        fail "GET $tag"
    pd=$(jq -r '.layers[0].digest' <<<"$man")
    sign_curl "$repo/blobs/$pd" >"$T/resign.payload" || fail "GET payload $pd"
    sig=$(openssl dgst -sha256 -sign "$key" "$T/resign.payload" | base64 -w0) || fail "openssl sign"
    jq -c --arg s "$sig" '.layers[0].annotations["dev.cosignproject.cosign/signature"] = $s' \
        <<<"$man" >"$T/resign.man"
    sign_put_manifest "$repo" "$tag" "$T/resign.man"
}

# a release on a two-platform base: each platform image has an SBOM
test_sign_recursive_multi_platform() {
    reg_start plain
    refs_release
    cp -a "$REFS_REL" "$T/rel"
    rm -rf "$T/rel"/erts-*
    plat_two_base "$T/B"
    sign_keypair k1
    sign_keypair k2
    reg_ob_push build --release "$T/rel" -t app:1 --platform linux/amd64,linux/arm64 \
        --base "oci:$T/B:base:multi" --push "$REG" --sign-key "$T/k1.pem" --image-refs "$T/refs"
    local top=$PDIGEST x arch d n=0 amd arm
    x=$(refs_get "app/manifests/$top") || fail "index missing"
    assert_eq "$(jq -r .mediaType <<<"$x")" "$REFS_MT_INDEX" "the pushed image is an index"
    # the index and each platform manifest: signed with k1, ref in --image-refs
    sign_verify app "$top" "$T/k1.pub"
    grep -qx "$REG/app:sha256-${top#sha256:}.sig" "$T/refs" ||
        fail "--image-refs lacks the index signature: $(cat "$T/refs")"
    while read -r arch d; do
        sign_verify app "$d" "$T/k1.pub"
        assert_eq "$SIG_LAYERS" 1 "signature layers of the $arch manifest"
        grep -qx "$REG/app:sha256-${d#sha256:}.sig" "$T/refs" ||
            fail "--image-refs lacks the $arch signature: $(cat "$T/refs")"
        assert_contains "$ERR" "signed $REG/app:sha256-${d#sha256:}.sig" "log line for $arch"
        # its SBOM referrer exists and is signed too
        local ri art
        ri=$(refs_index app "$d") || fail "no referrers index for the $arch manifest"
        assert_eq "$(jq --arg t "$REFS_SPDX" '[.manifests[] | select(.artifactType == $t)] | length' <<<"$ri")" \
            1 "SBOM referrers of the $arch manifest"
        art=$(jq -r '.manifests[0].digest' <<<"$ri")
        assert_eq "$(refs_get "app/manifests/$art" | jq -r .subject.digest)" "$d" "subject of the $arch SBOM"
        sign_verify app "$art" "$T/k1.pub"
        grep -qx "$REG/app:sha256-${art#sha256:}.sig" "$T/refs" ||
            fail "--image-refs lacks the $arch SBOM signature: $(cat "$T/refs")"
        n=$((n + 1))
    done < <(signr_platform_digests "$x")
    assert_eq "$n" 2 "platform manifests"
    assert_eq "$(grep -c '\.sig$' "$T/refs")" 5 "signature refs (index, 2 manifests, 2 SBOMs)"
    amd=$(jq -r '.manifests[] | select(.platform.architecture == "amd64") | .digest' <<<"$x")
    arm=$(jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest' <<<"$x")
    # one platform checked by skopeo + openssl alone
    signr_skopeo_check app "$arm" "$T/k1.pub"

    # verify --recursive: one line per digest, all verified
    sign_ob_verify "$REG/app:1" --key "$T/k1.pub" --recursive
    assert_eq "$RC" 0 "verify --recursive exit code (stderr: $ERR)"
    assert_eq "$(wc -l <<<"$OUT")" 3 "verify --recursive lines: $OUT"
    assert_eq "$(grep -c 'verified with' <<<"$OUT")" 3 "verified lines: $OUT"
    assert_contains "$OUT" "$REG/app@$top (index) verified with $T/k1.pub" "index line"
    assert_contains "$OUT" "$REG/app@$amd (linux/amd64) verified with $T/k1.pub" "amd64 line"
    assert_contains "$OUT" "$REG/app@$arm (linux/arm64) verified with $T/k1.pub" "arm64 line"
    sign_ob_verify "$REG/app@$top" --key "$T/k1.pub" --recursive --json
    assert_eq "$RC" 0 "verify --recursive --json exit code (stderr: $ERR)"
    jq -e --arg t "$top" --arg a "$amd" --arg r "$arm" '
        .digest == $t and .verified == 1 and (.manifests | length) == 3 and
        ([.manifests[] | select(.verified == 1 and .reason == null)] | length) == 3 and
        ([.manifests[] | .digest] == [$t, $a, $r]) and
        ([.manifests[] | .platform] == [null, "linux/amd64", "linux/arm64"])' <<<"$OUT" >/dev/null ||
        fail "verify --recursive --json: $OUT"
    # without --recursive: as before, the index alone
    sign_ob_verify "$REG/app:1" --key "$T/k1.pub"
    assert_eq "$RC" 0 "verify exit code (stderr: $ERR)"
    assert_eq "$OUT" "$REG/app@$top verified with $T/k1.pub" "verify stdout"

    # the arm64 signature replaced by one made with k2
    signr_resign app "$arm" "$T/k2.pem"
    signr_skopeo_check app "$arm" "$T/k2.pub"
    sign_ob_verify "$REG/app:1" --key "$T/k1.pub" --recursive
    assert_eq "$RC" 1 "verify --recursive with a foreign platform signature"
    assert_eq "$(wc -l <<<"$OUT")" 3 "verify --recursive lines: $OUT"
    assert_eq "$(grep -c 'verified with' <<<"$OUT")" 2 "verified lines: $OUT"
    assert_match "$OUT" "$REG/app@$arm \\(linux/arm64\\) not verified: no signature of .*verifies with" \
        "the arm64 line"
    # and one error line naming the platform that failed
    assert_eq "$(grep -c 'error' <<<"$ERR")" 1 "error lines: $ERR"
    assert_match "$ERR" "^ocibuild: error: 1 of 3 manifests of $REG/app@$top not verified with .*k1\.pub, first $REG/app@$arm \(linux/arm64\): no signature of" \
        "the error line"
    sign_ob_verify "$REG/app:1" --key "$T/k1.pub" --recursive --json
    assert_eq "$RC" 1 "verify --recursive --json with a foreign platform signature"
    jq -e --arg r "$arm" '(.manifests | length) == 3 and
        ([.manifests[] | select(.verified == 0)] | map(.digest)) == [$r] and
        (.manifests[2].reason | test("verifies with"))' <<<"$OUT" >/dev/null ||
        fail "verify --recursive --json after the swap: $OUT"
    sign_ob_verify "$REG/app:1" --key "$T/k1.pub"
    assert_eq "$RC" 0 "verify of the index alone after the swap (stderr: $ERR)"
    # with k2 it is the other way round: only arm64 verifies
    sign_ob_verify "$REG/app:1" --key "$T/k2.pub" --recursive
    assert_eq "$RC" 1 "verify --recursive with k2"
    assert_eq "$(grep -c 'verified with' <<<"$OUT")" 1 "lines verified with k2: $OUT"
}

# `ocibuild push` of an archive holding an index (no SBOM: a plain tree)
# signs every manifest too, in each repository pushed; a second push
# re-signs nothing
test_sign_recursive_push_archive() {
    reg_start basic
    export SOURCE_DATE_EPOCH=$REG_EPOCH
    reg_src "$T/src"
    sign_keypair k1
    ob_build --dir "$T/src" -t app:1 --platform linux/arm64,linux/amd64 -o "$T/x.tar"
    local top=$DIGEST x arch d repo
    run "$OCIBUILD" push "$T/x.tar" --push "$REG/ns" -t one:1 -t two:1 --sign-key "$T/k1.pem" \
        --image-refs "$T/refs" "${REG_NET[@]}"
    assert_eq "$RC" 0 "push to two repositories (stderr: $ERR)"
    assert_eq "$OUT" "$REG/ns/one@$top"$'\n'"$REG/ns/two@$top" "push stdout"
    x=$(refs_get "ns/one/manifests/$top") || fail "index missing"
    for repo in ns/one ns/two; do
        sign_verify "$repo" "$top" "$T/k1.pub"
        while read -r arch d; do
            sign_verify "$repo" "$d" "$T/k1.pub"
            grep -qx "$REG/$repo:sha256-${d#sha256:}.sig" "$T/refs" ||
                fail "--image-refs lacks the $repo $arch signature: $(cat "$T/refs")"
        done < <(signr_platform_digests "$x")
        sign_ob_verify "$REG/$repo:1" --key "$T/k1.pub" --recursive
        assert_eq "$RC" 0 "verify --recursive of $repo (stderr: $ERR)"
        assert_eq "$(grep -c "verified with" <<<"$OUT")" 3 "verified lines of $repo: $OUT"
    done
    assert_not_contains "$ERR$OUT" "$REG_PASS" "output"
    # an index whose platform text would break the report: shown as a
    # neutral word, still one line per digest; the unsigned index is named
    jq -c '.manifests[1].platform.architecture = "arm64\nok 9 injected"' <<<"$x" >"$T/evil-index"
    refs_auth
    curl -sf "${REFS_AUTH[@]}" -X PUT -H "Content-Type: $REFS_MT_INDEX" --data-binary "@$T/evil-index" \
        "http://$REG/v2/ns/one/manifests/evil" >/dev/null || fail "PUT the edited index"
    sign_ob_verify "$REG/ns/one:evil" --key "$T/k1.pub" --recursive
    assert_eq "$RC" 1 "verify --recursive of an unsigned index"
    assert_eq "$(wc -l <<<"$OUT")" 3 "lines of the edited index: $OUT"
    assert_not_contains "$OUT$ERR" "injected" "output"
    assert_eq "$(grep -c ' (unknown-platform) verified with ' <<<"$OUT")" 1 "the edited platform: $OUT"
    assert_match "$ERR" "^ocibuild: error: 1 of 3 manifests .* \(index\): '$REG/ns/one:evil' now points at" \
        "the error line"
    reg_mark
    run "$OCIBUILD" push "$T/x.tar" --push "$REG/ns" -t one:1 -t two:1 --sign-key "$T/k1.pem" \
        "${REG_NET[@]}"
    assert_eq "$RC" 0 "second push (stderr: $ERR)"
    assert_eq "$(reg_count '"PUT /v2/[a-z/]+/manifests/sha256-')" 0 "signature manifests re-put"
    # a single image: --recursive checks it alone
    ob_build --dir "$T/src" -t single:1 -o "$T/s.tar"
    reg_ob_push push "$T/s.tar" --push "$REG" --sign-key "$T/k1.pem"
    sign_ob_verify "$REG/single:1" --key "$T/k1.pub" --recursive
    assert_eq "$RC" 0 "verify --recursive of a single image (stderr: $ERR)"
    assert_eq "$OUT" "$REG/single@$PDIGEST verified with $T/k1.pub" "single image line"
}
