# shellcheck shell=bash
# --base oci:LAYOUT[:TAG]

# mk_base: image "a:1" in $T/L1 from tree $T/src1; sets BASE_DIGEST, BASE_LAYER, BASE_DIFF
mk_base() {
    mk_tree "$T/src1"
    ob_build --dir "$T/src1" -t a:1 --layout "$T/L1" \
        --env FOO=1 --env KEEP=yes --entrypoint '["/app/bin/start.sh","serve"]' \
        --cmd '--verbose' --expose 8080 -l base.label=from-a --uid 1000
    BASE_DIGEST=$DIGEST
    BASE_LAYER=$(manifest_json "$T/L1" a:1 | jq -r '.layers[0].digest')
    BASE_DIFF=$(config_json "$T/L1" a:1 | jq -r '.rootfs.diff_ids[0]')
}

mk_tree2() {
    mkdir -p "$T/src2/extra"
    echo "from b" >"$T/src2/extra/b.txt"
    echo "overridden by b" >"$T/src2/README"
    chmod 0755 "$T/src2"
}

test_base_layers_and_inheritance() {
    mk_base
    mk_tree2
    ob_build --dir "$T/src2" --base "oci:$T/L1:a:1" -t b:1 --layout "$T/L2" --env FOO=2 --env NEW=3
    local m c
    m=$(manifest_json "$T/L2" b:1)
    c=$(config_json "$T/L2" b:1)
    assert_eq "$(jq '.layers | length' <<<"$m")" 2 "layer count"
    assert_eq "$(jq -r '.layers[0].digest' <<<"$m")" "$BASE_LAYER" "first layer = base layer"
    assert_eq "$(jq -r '.rootfs.diff_ids[0]' <<<"$c")" "$BASE_DIFF" "first diff_id = base diff_id"
    assert_eq "$(jq '.rootfs.diff_ids | length' <<<"$c")" 2 "diff_ids count"
    verify_blob "$T/L2" "$BASE_LAYER" "$(jq -r '.layers[0].size' <<<"$m")"
    verify_blob "$T/L2" "$(jq -r '.layers[1].digest' <<<"$m")" "$(jq -r '.layers[1].size' <<<"$m")"
    # Env: inherited, overridden by key, extended; no duplicate keys
    local env
    env=$(jq -r '.config.Env[]' <<<"$c")
    grep -qx 'FOO=2' <<<"$env" || fail "FOO not overridden: $env"
    if grep -qx 'FOO=1' <<<"$env"; then fail "old FOO=1 still present: $env"; fi
    grep -qx 'KEEP=yes' <<<"$env" || fail "KEEP not inherited: $env"
    grep -qx 'NEW=3' <<<"$env" || fail "NEW missing: $env"
    assert_eq "$(cut -d= -f1 <<<"$env" | sort | uniq -d)" "" "duplicate Env keys"
    # other fields inherited
    assert_eq "$(jq -c .config.Entrypoint <<<"$c")" '["/app/bin/start.sh","serve"]' "Entrypoint inherited"
    assert_eq "$(jq -c .config.Cmd <<<"$c")" '["--verbose"]' "Cmd inherited"
    assert_eq "$(jq -c '.config.ExposedPorts' <<<"$c")" '{"8080/tcp":{}}' "ExposedPorts inherited"
    assert_eq "$(jq -r '.config.Labels["base.label"]' <<<"$c")" from-a "Labels inherited"
    # history covers both layers
    assert_eq "$(jq -r '[.history[] | select(.empty_layer != true)] | length' <<<"$c")" 2 "non-empty history entries"
    # base annotations
    assert_eq "$(jq -r '.annotations["org.opencontainers.image.base.digest"]' <<<"$m")" "$BASE_DIGEST" "base.digest annotation"
    local bn
    bn=$(jq -r '.annotations["org.opencontainers.image.base.name"] // ""' <<<"$m")
    [ -n "$bn" ] || fail "no org.opencontainers.image.base.name annotation"
    assert_contains "$bn" "a:1" "base.name annotation"
    validate_layout "$T/L2" b:1
    # the unpacked image has both trees, the upper one winning
    umoci_unpack "$T/L2" b:1 "$T/bundle"
    assert_file "$T/bundle/rootfs/app/extra/b.txt"
    assert_file "$T/bundle/rootfs/app/sub/file"
    [ -L "$T/bundle/rootfs/app/abs" ] || fail "base symlink missing"
    assert_eq "$(cat "$T/bundle/rootfs/app/README")" "overridden by b" "upper layer wins"
    # the base layout is untouched
    assert_eq "$(jq '.manifests | length' "$T/L1/index.json")" 1 "base layout index"
}

test_base_flags_override() {
    mk_base
    mk_tree2
    ob_build --dir "$T/src2" --base "oci:$T/L1:a:1" -t b:1 --layout "$T/L2" \
        --entrypoint '/app/other' --cmd '["x"]' --uid 7 --workdir /srv/b -l base.label=b --expose 53/udp
    local c
    c=$(config_json "$T/L2" b:1)
    assert_eq "$(jq -c .config.Entrypoint <<<"$c")" '["/app/other"]' "Entrypoint overridden"
    assert_eq "$(jq -c .config.Cmd <<<"$c")" '["x"]' "Cmd overridden"
    assert_eq "$(jq -r .config.User <<<"$c")" 7 "User overridden"
    assert_eq "$(jq -r .config.WorkingDir <<<"$c")" /srv/b "WorkingDir overridden"
    assert_eq "$(jq -r '.config.Labels["base.label"]' <<<"$c")" b "Label overridden"
    assert_eq "$(jq -c '.config.ExposedPorts | keys' <<<"$c")" '["53/udp","8080/tcp"]' "ports merged"
    umoci_unpack "$T/L2" b:1 "$T/bundle"
    assert_same_tree "$T/src1" "$T/bundle/rootfs/app"
    assert_same_tree "$T/src2" "$T/bundle/rootfs/srv/b"
}

test_base_from_skopeo_layout() {
    mk_tree "$T/src1"
    ob_build --dir "$T/src1" -t a:1 -o "$T/a.tar" --env FOO=1
    expect_ok skopeo copy "oci-archive:$T/a.tar" "oci:$T/S:base:1"
    local sdigest
    sdigest=$(index_digest "$T/S" base:1)
    mk_tree2
    ob_build --dir "$T/src2" --base "oci:$T/S:base:1" -t b:1 -o "$T/b.tar"
    mkdir "$T/x" && tar -xf "$T/b.tar" -C "$T/x"
    local m
    m=$(manifest_json "$T/x" b:1)
    assert_eq "$(jq '.layers | length' <<<"$m")" 2 "layers"
    assert_eq "$(jq -r '.annotations["org.opencontainers.image.base.digest"]' <<<"$m")" "$sdigest" "base.digest"
    assert_eq "$(jq '.[0].Layers | length' "$T/x/manifest.json")" 2 "manifest.json Layers"
    expect_ok skopeo inspect "docker-archive:$T/b.tar"
    assert_eq "$(jq '.Layers | length' <<<"$OUT")" 2 "docker-archive layers"
    assert_contains "$(jq -r '.Env[]' <<<"$OUT")" FOO=1 "Env from skopeo-made base"
    expect_ok skopeo copy "oci-archive:$T/b.tar" "oci:$T/B:b:1"
    umoci_unpack "$T/B" b:1 "$T/bundle"
    assert_file "$T/bundle/rootfs/app/extra/b.txt"
    assert_file "$T/bundle/rootfs/app/data/random.bin"
}

test_base_without_tag_single_image() {
    mk_base
    mk_tree2
    ob_build --dir "$T/src2" --base "oci:$T/L1" -t b:1 --layout "$T/L2"
    local m
    m=$(manifest_json "$T/L2" b:1)
    assert_eq "$(jq '.layers | length' <<<"$m")" 2 "layers"
    assert_eq "$(jq -r '.annotations["org.opencontainers.image.base.digest"]' <<<"$m")" "$BASE_DIGEST" "base.digest"
}

test_base_chain_and_zstd() {
    # base built with zstd, child with gzip: layer media types are kept per layer
    mkdir -p "$T/s1" "$T/s2" "$T/s3"
    echo one >"$T/s1/one"; echo two >"$T/s2/two"; echo three >"$T/s3/three"
    ob_build --dir "$T/s1" -t l:1 --layout "$T/L" --compression zstd
    ob_build --dir "$T/s2" -t l:2 --layout "$T/L" --base "oci:$T/L:l:1"
    ob_build --dir "$T/s3" -t l:3 --layout "$T/L" --base "oci:$T/L:l:2" --compression none
    local m
    m=$(manifest_json "$T/L" l:3)
    assert_eq "$(jq -r '[.layers[].mediaType] | join(" ")' <<<"$m")" \
        "application/vnd.oci.image.layer.v1.tar+zstd application/vnd.oci.image.layer.v1.tar+gzip application/vnd.oci.image.layer.v1.tar" \
        "layer media types"
    assert_eq "$(jq '.manifests | length' "$T/L/index.json")" 3 "tags in shared layout"
    expect_ok skopeo copy "oci:$T/L:l:3" "dir:$T/d"
    assert_eq "$(config_json "$T/L" l:3 | jq '.rootfs.diff_ids | length')" 3 "diff_ids"
}
