# shellcheck shell=bash
# Image signing (--sign-key): cosign's storage (a manifest tagged
# sha256-<hex>.sig in the image's repository, one simplesigning layer per
# signature, the signature in the dev.cosignproject.cosign/signature
# annotation) and payload (critical.identity / image / type), checked here
# independently of ocibuild: the manifest read with skopeo, the payload with
# curl from the registry, the ECDSA signature with `openssl dgst -verify`.
# (Debian's skopeo is built without sigstore verification, so it can not be
# the verifier.) Uses the registry helpers of t_registry.sh (reg_*).
#
# Keys: P-256 made by openssl (PKCS#8, SEC1, encrypted PKCS#8) and cosign's
# own encrypted key format (scrypt + nacl/secretbox around PKCS#8), made by
# tests/e2e/registry/cosign_key.py.

SIGN_PASS='k3y-pa55-e2e-only'   # never appears in any output

sign_keypair() {  # sign_keypair NAME: $T/NAME.pem (PKCS#8) and $T/NAME.pub
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/$1.pem" 2>/dev/null \
        || fail "openssl genpkey"
    openssl pkey -in "$T/$1.pem" -pubout -out "$T/$1.pub" 2>/dev/null || fail "openssl pkey -pubout"
}

sign_curl() {  # sign_curl PATH [CURL ARGS]: GET http://$REG/v2/PATH with the test credentials
    local -a auth=()
    [ "$REG_MODE" = basic ] && auth=(-u "$REG_USER:$REG_PASS")
    curl -sf "${auth[@]}" "${@:2}" "http://$REG/v2/$1"
}

# sign_verify REPO DIGEST PUBKEY: the signature manifest of DIGEST holds a
# layer whose payload names REG/REPO and DIGEST and whose signature
# `openssl dgst -verify` accepts with PUBKEY. Sets SIG_LAYERS (layer count).
sign_verify() {
    local repo=$1 digest=$2 pub=$3 sigtag man n i pd sig ok=0
    sigtag="sha256-${digest#sha256:}.sig"
    man=$(sign_curl "$repo/manifests/$sigtag" -H 'Accept: application/vnd.oci.image.manifest.v1+json') \
        || fail "no signature manifest $REG/$repo:$sigtag"
    [ "$(jq -r .mediaType <<<"$man")" = application/vnd.oci.image.manifest.v1+json ] \
        || fail "signature manifest media type: $man"
    [ "$(jq -r .config.mediaType <<<"$man")" = application/vnd.oci.image.config.v1+json ] \
        || fail "signature config media type: $man"
    SIG_LAYERS=$(jq '.layers | length' <<<"$man")
    for ((i = 0; i < SIG_LAYERS; i++)); do
        [ "$(jq -r ".layers[$i].mediaType" <<<"$man")" = application/vnd.dev.cosign.simplesigning.v1+json ] \
            || fail "layer $i media type: $man"
        pd=$(jq -r ".layers[$i].digest" <<<"$man")
        sign_curl "$repo/blobs/$pd" >"$T/payload" || fail "payload blob $pd missing"
        [ "sha256:$(sha256sum <"$T/payload" | cut -d' ' -f1)" = "$pd" ] || fail "payload digest"
        jq -e --arg r "$REG/$repo" --arg d "$digest" '
            .critical.type == "cosign container image signature" and
            .critical.identity["docker-reference"] == $r and
            .critical.image["docker-manifest-digest"] == $d and
            (.critical | keys) == ["identity", "image", "type"]' "$T/payload" >/dev/null ||
            fail "payload does not name $REG/$repo and $digest: $(cat "$T/payload")"
        sig=$(jq -r ".layers[$i].annotations[\"dev.cosignproject.cosign/signature\"]" <<<"$man")
        base64 -d <<<"$sig" >"$T/sig.der" 2>/dev/null || fail "signature is not base64: $sig"
        if openssl dgst -sha256 -verify "$pub" -signature "$T/sig.der" "$T/payload" >/dev/null 2>&1; then
            ok=1
        fi
    done
    [ "$ok" = 1 ] || fail "no signature of $REG/$repo@$digest verifies with $pub"
}

# sign_assert_no_secret TEXT: the key password never shows
sign_assert_no_secret() {
    assert_not_contains "$1" "$SIGN_PASS" "output"
}

test_sign_build_push_verifies() {
    reg_start plain
    reg_src "$T/src"
    sign_keypair k1
    sign_keypair other
    reg_ob_push build --dir "$T/src" -t app:1 -t app:latest --push "$REG" \
        --sign-key "$T/k1.pem" --image-refs "$T/refs"
    sign_verify app "$PDIGEST" "$T/k1.pub"
    assert_eq "$SIG_LAYERS" 1 "signature layers"
    grep -qx "$REG/app:sha256-${PDIGEST#sha256:}.sig" "$T/refs" ||
        fail "--image-refs lacks the signature ref: $(cat "$T/refs")"
    assert_eq "$(grep -c "@$PDIGEST\$" "$T/refs")" 1 "digest ref in --image-refs"
    assert_contains "$ERR" "signed $REG/app:sha256-" "log line"
    # the other key does not verify it; tampering with the payload is caught
    if (sign_verify app "$PDIGEST" "$T/other.pub") >/dev/null 2>&1; then
        fail "a signature verified with an unrelated key"
    fi
    # the signature names the image, not a tag: the tags still resolve to it
    assert_eq "$(reg_remote_digest app:1)" "$PDIGEST" "tag 1"
    assert_eq "$(reg_remote_digest app:latest)" "$PDIGEST" "tag latest"
}

test_sign_repush_is_idempotent_and_keeps_other_signers() {
    reg_start plain
    export SOURCE_DATE_EPOCH=$REG_EPOCH   # the same image every build
    reg_src "$T/src"
    sign_keypair k1
    sign_keypair k2
    reg_ob_push build --dir "$T/src" -t app:1 --push "$REG" --sign-key "$T/k1.pem"
    local first=$PDIGEST
    reg_mark
    reg_ob_push build --dir "$T/src" -t app:1 --push "$REG" --sign-key "$T/k1.pem"
    assert_eq "$PDIGEST" "$first" "same image"
    assert_eq "$(reg_uploaded_digests | wc -l)" 0 "blobs uploaded by an unchanged signed push"
    assert_eq "$(reg_count '"PUT /v2/app/manifests/sha256-')" 0 "signature manifest re-put"
    sign_verify app "$first" "$T/k1.pub"
    assert_eq "$SIG_LAYERS" 1 "signature layers after the same key again"
    # a second signer is added next to the first, as cosign does
    reg_ob_push build --dir "$T/src" -t app:1 --push "$REG" --sign-key "$T/k2.pem"
    sign_verify app "$first" "$T/k2.pub"
    assert_eq "$SIG_LAYERS" 2 "signature layers with two signers"
    sign_verify app "$first" "$T/k1.pub"
}

test_sign_push_archive_and_basic_auth() {
    reg_start basic
    reg_src "$T/src"
    sign_keypair k1
    ob_build --dir "$T/src" -t app:7 -o "$T/img.tar"
    reg_ob_push push "$T/img.tar" --push "$REG/team" --sign-key "$T/k1.pem"
    assert_eq "$PDIGEST" "$DIGEST" "pushed digest"
    sign_verify team/app "$PDIGEST" "$T/k1.pub"
    assert_not_contains "$ERR$OUT" "$REG_PASS" "output"
}

test_sign_key_formats() {
    reg_start plain
    reg_src "$T/src"
    sign_keypair k1
    # SEC1 "EC PRIVATE KEY"
    openssl ec -in "$T/k1.pem" -out "$T/sec1.pem" 2>/dev/null || fail "openssl ec"
    grep -q 'BEGIN EC PRIVATE KEY' "$T/sec1.pem" || fail "not SEC1"
    reg_ob_push build --dir "$T/src" -t app:1 --push "$REG" --sign-key "$T/sec1.pem"
    sign_verify app "$PDIGEST" "$T/k1.pub"
    # encrypted PKCS#8, password from OCIBUILD_SIGN_PASSWORD
    openssl pkcs8 -topk8 -in "$T/k1.pem" -out "$T/enc.pem" -v2 aes-256-cbc \
        -passout "pass:$SIGN_PASS" 2>/dev/null || fail "openssl pkcs8"
    echo b >"$T/src/b"
    OCIBUILD_SIGN_PASSWORD=$SIGN_PASS reg_ob_push build --dir "$T/src" -t app:2 --push "$REG" \
        --sign-key "$T/enc.pem"
    sign_verify app "$PDIGEST" "$T/k1.pub"
    sign_assert_no_secret "$OUT$ERR"
    # cosign's key file, password from COSIGN_PASSWORD
    /usr/bin/python3 "$REG_HELPERS/cosign_key.py" "$T/k1.pem" "$SIGN_PASS" >"$T/cosign.key" ||
        fail "cosign_key.py"
    grep -q 'BEGIN ENCRYPTED SIGSTORE PRIVATE KEY' "$T/cosign.key" || fail "not a cosign key"
    echo c >"$T/src/c"
    COSIGN_PASSWORD=$SIGN_PASS reg_ob_push build --dir "$T/src" -t app:3 --push "$REG" \
        --sign-key "$T/cosign.key"
    sign_verify app "$PDIGEST" "$T/k1.pub"
    sign_assert_no_secret "$OUT$ERR"
}

# a bad key fails before anything is built or pushed
sign_expect_refused() {  # sign_expect_refused NEEDLE ARGS...
    local needle=$1
    shift
    reg_mark
    run "$OCIBUILD" build --dir "$T/src" -t app:1 --push "$REG" "$@"
    [ "$RC" -ne 0 ] || fail "ocibuild $* succeeded"
    reg_assert_one_error "$needle"
    assert_eq "$(reg_count '"(PUT|POST|PATCH) ')" 0 "requests after a refused key"
    sign_assert_no_secret "$OUT$ERR"
}

test_sign_errors() {
    reg_start plain
    reg_src "$T/src"
    sign_keypair k1
    openssl pkcs8 -topk8 -in "$T/k1.pem" -out "$T/enc.pem" -v2 aes-256-cbc \
        -passout "pass:$SIGN_PASS" 2>/dev/null || fail "openssl pkcs8"
    /usr/bin/python3 "$REG_HELPERS/cosign_key.py" "$T/k1.pem" "$SIGN_PASS" >"$T/cosign.key" ||
        fail "cosign_key.py"
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa.pem" 2>/dev/null
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$T/p384.pem" 2>/dev/null
    echo 'not a key' >"$T/junk.pem"
    unset OCIBUILD_SIGN_PASSWORD COSIGN_PASSWORD
    sign_expect_refused 'sign.*missing\.pem|missing\.pem' --sign-key "$T/missing.pem"
    sign_expect_refused 'not a PEM file' --sign-key "$T/junk.pem"
    sign_expect_refused 'holds no private key' --sign-key "$T/k1.pub"
    sign_expect_refused 'not an ECDSA P-256 key.*openssl genpkey' --sign-key "$T/rsa.pem"
    sign_expect_refused 'not an ECDSA P-256 key' --sign-key "$T/p384.pem"
    sign_expect_refused 'is encrypted: set OCIBUILD_SIGN_PASSWORD' --sign-key "$T/enc.pem"
    sign_expect_refused 'is encrypted: set OCIBUILD_SIGN_PASSWORD' --sign-key "$T/cosign.key"
    OCIBUILD_SIGN_PASSWORD=wrong-$SIGN_PASS sign_expect_refused 'wrong password' --sign-key "$T/enc.pem"
    COSIGN_PASSWORD=wrong-$SIGN_PASS sign_expect_refused 'wrong password' --sign-key "$T/cosign.key"
    # signing needs a registry
    run "$OCIBUILD" build --dir "$T/src" -t app:1 --layout "$T/L" --sign-key "$T/k1.pem"
    assert_eq "$RC" 2 "exit code of --sign-key without --push"
    assert_contains "$ERR" "add --push" "message"
    assert_no_path "$T/L"
}
