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

# ---------------------------------------------------------------- ocibuild verify

# sign_ob_verify ARGS...: run `ocibuild verify ARGS $REG_NET`
sign_ob_verify() {
    run "$OCIBUILD" verify "$@" "${REG_NET[@]}"
}

# sign_expect_unverified NEEDLE ARGS...: verify fails with exit 1 and one
# error line matching NEEDLE
sign_expect_unverified() {
    local needle=$1
    shift
    sign_ob_verify "$@"
    assert_eq "$RC" 1 "exit code of ocibuild verify $* (stderr: $ERR)"
    reg_assert_one_error "$needle"
}

# sign_put_manifest REPO REF FILE: PUT the manifest bytes of FILE as REPO:REF
sign_put_manifest() {
    local -a auth=()
    [ "$REG_MODE" = basic ] && auth=(-u "$REG_USER:$REG_PASS")
    curl -sf "${auth[@]}" -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
        --data-binary "@$3" "http://$REG/v2/$1/manifests/$2" >/dev/null || fail "PUT $1:$2"
}

verify_cases() {  # the five outcomes against the running registry
    sign_keypair k1
    sign_keypair other
    reg_ob_push build --dir "$T/src" -t app:1 --push "$REG" --sign-key "$T/k1.pem"
    local signed=$PDIGEST
    sign_verify app "$signed" "$T/k1.pub"   # the independent check (openssl) agrees
    reg_ob_push build --dir "$T/src" -t copy:1 --push "$REG"
    assert_eq "$PDIGEST" "$signed" "the same image pushed unsigned to another repository"

    # good: by tag and by digest, one line per verified signature
    sign_ob_verify "$REG/app:1" --key "$T/k1.pub"
    assert_eq "$RC" 0 "verify exit code (stderr: $ERR)"
    assert_eq "$OUT" "$REG/app@$signed verified with $T/k1.pub" "verify stdout"
    sign_ob_verify "$REG/app@$signed" --key "$T/k1.pub" --json
    assert_eq "$RC" 0 "verify --json exit code (stderr: $ERR)"
    jq -e --arg r "$REG/app" --arg d "$signed" --arg k "$T/k1.pub" '
        .repository == $r and .digest == $d and .key == $k and .verified == 1 and
        .signatures == 1' <<<"$OUT" >/dev/null || fail "verify --json: $OUT"
    # a second signer: both layers are checked, only the matching one counts
    reg_ob_push build --dir "$T/src" -t app:1 --push "$REG" --sign-key "$T/other.pem"
    sign_ob_verify "$REG/app:1" --key "$T/k1.pub" --json
    assert_eq "$RC" 0 "verify with two signers (stderr: $ERR)"
    jq -e '.verified == 1 and .signatures == 2' <<<"$OUT" >/dev/null || fail "two signers: $OUT"

    # wrong key
    sign_keypair stranger
    sign_expect_unverified "no signature of $REG/app@$signed verifies with .*stranger\.pub" \
        "$REG/app:1" --key "$T/stranger.pub"
    if openssl dgst -sha256 -verify "$T/stranger.pub" -signature "$T/sig.der" "$T/payload" \
        >/dev/null 2>&1; then
        fail "openssl accepts the wrong key too"
    fi

    # missing: an image never signed
    reg_ob_push build --dir "$T/src" -t plain:1 --push "$REG"
    sign_expect_unverified "no signature for $REG/plain:1" "$REG/plain:1" --key "$T/k1.pub"

    # tampered: another image pushed under the signed tag
    echo changed >"$T/src/changed"
    reg_ob_push build --dir "$T/src" -t app:1 --push "$REG"
    local moved=$PDIGEST
    assert_ne "$moved" "$signed" "the re-pushed image"
    sign_expect_unverified "$REG/app:1' now points at $moved, which is not signed.*other images" \
        "$REG/app:1" --key "$T/k1.pub"
    # the signed image itself still verifies by digest
    sign_ob_verify "$REG/app@$signed" --key "$T/k1.pub"
    assert_eq "$RC" 0 "signed digest after the tag moved (stderr: $ERR)"

    # a signature whose payload names another digest: the signature manifest
    # of the signed image copied to the unsigned image's signature tag
    sign_curl "app/manifests/sha256-${signed#sha256:}.sig" \
        -H 'Accept: application/vnd.oci.image.manifest.v1+json' >"$T/sigman" || fail "GET sig"
    sign_put_manifest app "sha256-${moved#sha256:}.sig" "$T/sigman"
    sign_expect_unverified "signature.*names $signed, not $moved" "$REG/app:1" --key "$T/k1.pub"
    # a payload whose digest is hostile text: the reason stays one line
    printf '{"critical":{"identity":{"docker-reference":"%s"},"image":{"docker-manifest-digest":"sha256:0\\nerror: injected"},"type":"cosign container image signature"},"optional":null}' \
        "$REG/app" >"$T/evil"
    local ed loc
    ed=sha256:$(sha256sum <"$T/evil" | cut -d' ' -f1)
    loc=$(curl -sf -o /dev/null -w '%{redirect_url}' -X POST "http://$REG/v2/app/blobs/uploads/") ||
        fail "POST upload"
    [ -n "$loc" ] || loc=$(curl -sf -D - -o /dev/null -X POST "http://$REG/v2/app/blobs/uploads/" |
        tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$T/evil" \
        "$loc&digest=$ed" >/dev/null || fail "PUT evil payload"
    jq --arg d "$ed" --argjson n "$(stat -c %s "$T/evil")" \
        '.layers = [.layers[0] | .digest = $d | .size = $n]' "$T/sigman" >"$T/evilman"
    sign_put_manifest app "sha256-${moved#sha256:}.sig" "$T/evilman"
    sign_expect_unverified "signature.*names another digest, not $moved" "$REG/app:1" --key "$T/k1.pub"

    # ... or another repository: the signed image pushed unsigned to "copy",
    # the signature manifest of "app" copied next to it
    sign_curl "app/manifests/sha256-${signed#sha256:}.sig" \
        -H 'Accept: application/vnd.oci.image.manifest.v1+json' >"$T/sigman"
    jq -r '.layers[].digest, .config.digest' "$T/sigman" | while read -r d; do
        curl -sf -X POST "http://$REG/v2/copy/blobs/uploads/?mount=$d&from=app" >/dev/null ||
            fail "mount $d"
    done
    sign_put_manifest copy "sha256-${signed#sha256:}.sig" "$T/sigman"
    sign_expect_unverified "signature.*names $REG/app, not $REG/copy" \
        "$REG/copy@$signed" --key "$T/k1.pub"
}

test_sign_verify() {
    reg_start plain
    reg_src "$T/src"
    verify_cases
}

test_sign_verify_errors() {
    reg_start basic
    reg_src "$T/src"
    sign_keypair k1
    reg_ob_push build --dir "$T/src" -t app:1 --push "$REG" --sign-key "$T/k1.pem"
    # credentials as pull: the pull variables
    sign_ob_verify "$REG/app:1" --key "$T/k1.pub"
    assert_eq "$RC" 0 "verify with Basic auth (stderr: $ERR)"
    assert_not_contains "$ERR$OUT" "$REG_PASS" "output"
    run "$OCIBUILD" verify "$REG/app:1"
    assert_eq "$RC" 2 "verify without --key"
    sign_expect_unverified "holds no public key|not a PEM" "$REG/app:1" --key "$T/k1.pem"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$T/p384.pem" 2>/dev/null
    openssl pkey -in "$T/p384.pem" -pubout -out "$T/p384.pub" 2>/dev/null
    sign_expect_unverified "not an ECDSA P-256" "$REG/app:1" --key "$T/p384.pub"
    sign_expect_unverified "app:nope.*not found" "$REG/app:nope" --key "$T/k1.pub"
}
