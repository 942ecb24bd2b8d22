# shellcheck shell=bash
# --layout output: validation, config contents, round trip through umoci,
# adding tags to an existing layout.

test_layout_validates() {
    mk_tree "$T/src"
    ob_build --dir "$T/src" -t myapp:1.0.0 --layout "$T/L"
    validate_layout "$T/L" myapp:1.0.0
    assert_eq "$(jq -c . "$T/L/oci-layout")" '{"imageLayoutVersion":"1.0.0"}' "oci-layout file"
    assert_eq "$(jq '.manifests | length' "$T/L/index.json")" 1 "index entries"
    assert_eq "$(jq -r .schemaVersion "$T/L/index.json")" 2 "index schemaVersion"
    assert_eq "$(index_digest "$T/L" myapp:1.0.0)" "$DIGEST" "stdout digest vs index.json"
    local m
    m=$(manifest_json "$T/L" myapp:1.0.0)
    assert_eq "$(jq -r .mediaType <<<"$m")" application/vnd.oci.image.manifest.v1+json "manifest mediaType"
    assert_eq "$(jq -r .config.mediaType <<<"$m")" application/vnd.oci.image.config.v1+json "config mediaType"
    assert_eq "$(jq -r '.manifests[0].mediaType' "$T/L/index.json")" \
        application/vnd.oci.image.manifest.v1+json "index entry mediaType"
    # index entry size = manifest blob size; all blobs have the right digest/size
    verify_blob "$T/L" "$DIGEST" "$(jq -r '.manifests[0].size' "$T/L/index.json")"
    verify_blob "$T/L" "$(jq -r .config.digest <<<"$m")" "$(jq -r .config.size <<<"$m")"
    verify_blob "$T/L" "$(jq -r '.layers[0].digest' <<<"$m")" "$(jq -r '.layers[0].size' <<<"$m")"
    # nothing else in the blob store, nothing besides the layout files
    assert_eq "$(find "$T/L/blobs" -type f | wc -l)" 3 "number of blobs"
    assert_dir_listing "$T/L" "blobs index.json oci-layout"
    # skopeo agrees
    expect_ok skopeo inspect "oci:$T/L:myapp:1.0.0"
    assert_eq "$(jq -r .Digest <<<"$OUT")" "$DIGEST" "skopeo inspect digest"
}

test_layout_config_fields() {
    mk_tree "$T/src"
    ob_build --dir "$T/src" -t myapp:1.0.0 --layout "$T/L" \
        --platform linux/arm64 --uid 1234 \
        --env A=0 --env A=1 --env B='two words' --env EMPTY= \
        --entrypoint '["/app/bin/start.sh","start"]' --cmd 'x y' \
        --expose 8080 --expose 53/udp \
        -l org.example.team=core --label version=1.0.0 \
        -a org.example.note=hello --annotation org.example.other=x=y
    expect_ok skopeo inspect --config "oci:$T/L:myapp:1.0.0"
    local c=$OUT
    assert_eq "$(jq -r .architecture <<<"$c")" arm64 "architecture"
    assert_eq "$(jq -r .os <<<"$c")" linux "os"
    assert_eq "$(jq -r .config.User <<<"$c")" 1234 "User"
    assert_eq "$(jq -r .config.WorkingDir <<<"$c")" /app "WorkingDir"
    assert_eq "$(jq -c .config.Entrypoint <<<"$c")" '["/app/bin/start.sh","start"]' "Entrypoint"
    assert_eq "$(jq -c .config.Cmd <<<"$c")" '["x","y"]' "Cmd"
    assert_eq "$(jq -c '.config.ExposedPorts' <<<"$c")" '{"53/udp":{},"8080/tcp":{}}' "ExposedPorts"
    assert_eq "$(jq -c '.config.Labels' <<<"$c")" '{"org.example.team":"core","version":"1.0.0"}' "Labels"
    local env
    env=$(jq -r '.config.Env[]' <<<"$c")
    assert_contains "$env" $'A=1' "Env"
    assert_contains "$env" $'B=two words' "Env"
    grep -qx 'EMPTY=' <<<"$env" || fail "Env lacks EMPTY=: $env"
    assert_eq "$(grep -c '^A=' <<<"$env")" 1 "a repeated --env key appears once (last wins)"
    assert_eq "$(jq -r '.rootfs.type' <<<"$c")" layers "rootfs.type"
    assert_eq "$(jq -r '.rootfs.diff_ids | length' <<<"$c")" 1 "diff_ids count"
    # skopeo's summary view
    expect_ok skopeo inspect "oci:$T/L:myapp:1.0.0"
    assert_eq "$(jq -r .Architecture <<<"$OUT")" arm64 "skopeo Architecture"
    assert_eq "$(jq -r .Os <<<"$OUT")" linux "skopeo Os"
    assert_eq "$(jq -r '.Layers | length' <<<"$OUT")" 1 "skopeo Layers"
    assert_eq "$(jq -r '.Labels.version' <<<"$OUT")" 1.0.0 "skopeo Labels"
    # -a annotations land in the manifest, next to the created annotation
    local m
    m=$(manifest_json "$T/L" myapp:1.0.0)
    assert_eq "$(jq -r '.annotations["org.example.note"]' <<<"$m")" hello "annotation -a"
    assert_eq "$(jq -r '.annotations["org.example.other"]' <<<"$m")" x=y "annotation --annotation (value with =)"
    assert_match "$(jq -r '.annotations["org.opencontainers.image.created"]' <<<"$m")" \
        '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$' "created annotation"
    validate_layout "$T/L" myapp:1.0.0
}

test_layout_defaults() {
    mk_tree "$T/src"
    ob_build --dir "$T/src" -t myapp:1.0.0 --layout "$T/L"
    local c m
    c=$(config_json "$T/L" myapp:1.0.0)
    m=$(manifest_json "$T/L" myapp:1.0.0)
    assert_eq "$(jq -r .architecture <<<"$c")" "$(host_arch)" "default architecture"
    assert_eq "$(jq -r .os <<<"$c")" linux "default os"
    assert_eq "$(jq -r .config.User <<<"$c")" 65534 "default User"
    assert_eq "$(jq -r .config.WorkingDir <<<"$c")" /app "default WorkingDir"
    assert_eq "$(jq -r '.layers[0].mediaType' <<<"$m")" application/vnd.oci.image.layer.v1.tar+gzip "default compression"
    # created: no SOURCE_DATE_EPOCH and no git here, so the fixed time that
    # makes the digest the same on every build
    assert_eq "$(jq -r .created <<<"$c")" 1970-01-01T00:00:01Z "config.created"
    assert_eq "$(jq -r '.annotations["org.opencontainers.image.created"]' <<<"$m")" 1970-01-01T00:00:01Z \
        "manifest created annotation"
    # no Entrypoint/Cmd/ports/labels invented
    assert_eq "$(jq -c '.config.Entrypoint // null' <<<"$c")" null "default Entrypoint"
    assert_eq "$(jq -c '.config.Cmd // null' <<<"$c")" null "default Cmd"
    assert_eq "$(jq -c '.config.ExposedPorts // {} | length' <<<"$c")" 0 "default ExposedPorts"
    # history: one entry, not an empty layer
    assert_eq "$(jq -r '[.history[]? | select(.empty_layer != true)] | length' <<<"$c")" 1 "history entries"
}

test_layout_platform_variant() {
    mk_tree "$T/src"
    ob_build --dir "$T/src" -t myapp:arm --layout "$T/L" --platform linux/arm/v7
    local c
    c=$(config_json "$T/L" myapp:arm)
    assert_eq "$(jq -r .architecture <<<"$c")" arm "architecture"
    assert_eq "$(jq -r .variant <<<"$c")" v7 "variant"
    assert_eq "$(jq -r .os <<<"$c")" linux "os"
    validate_layout "$T/L" myapp:arm
}

test_layout_entrypoint_forms() {
    mkdir -p "$T/src" && echo x >"$T/src/f"
    ob_build --dir "$T/src" -t a:json --layout "$T/L" \
        --entrypoint '["/app/my prog","--flag=a b"]' --cmd '["--x", "y"]'
    local c
    c=$(config_json "$T/L" a:json)
    assert_eq "$(jq -c .config.Entrypoint <<<"$c")" '["/app/my prog","--flag=a b"]' "JSON entrypoint"
    assert_eq "$(jq -c .config.Cmd <<<"$c")" '["--x","y"]' "JSON cmd"
    ob_build --dir "$T/src" -t a:split --layout "$T/L" --entrypoint '/bin/server --port 80' --cmd 'serve'
    c=$(config_json "$T/L" a:split)
    assert_eq "$(jq -c .config.Entrypoint <<<"$c")" '["/bin/server","--port","80"]' "space-split entrypoint"
    assert_eq "$(jq -c .config.Cmd <<<"$c")" '["serve"]' "space-split cmd"
}

test_layout_umoci_roundtrip() {
    mk_tree "$T/src"
    ln -s sub "$T/src/dirlink"                 # symlink to a directory: not followed
    ln -s does/not/exist "$T/src/dangling"     # dangling symlink: kept as is
    ob_build --dir "$T/src" -t myapp:1.0.0 --layout "$T/L"
    umoci_unpack "$T/L" myapp:1.0.0 "$T/bundle"
    assert_same_tree "$T/src" "$T/bundle/rootfs/app"
    # only app/ at the top of the rootfs
    assert_dir_listing "$T/bundle/rootfs" "app"
    [ -L "$T/bundle/rootfs/app/abs" ] || fail "abs must be a symlink"
    [ -L "$T/bundle/rootfs/app/dirlink" ] || fail "dirlink must be a symlink"
    [ -L "$T/bundle/rootfs/app/dangling" ] || fail "dangling must be a symlink"
    assert_eq "$(readlink "$T/bundle/rootfs/app/abs")" /etc/passwd "abs link target"
    assert_eq "$(readlink "$T/bundle/rootfs/app/link")" sub/file "relative link target"
    assert_eq "$(stat -c %a "$T/bundle/rootfs/app/bin/start.sh")" 755 "script mode"
    assert_eq "$(stat -c %a "$T/bundle/rootfs/app/secret.key")" 600 "0600 file mode"
    assert_eq "$(stat -c %u:%g "$T/bundle/rootfs/app/secret.key")" 0:0 "owner"
    # the runtime config picked up the image config
    assert_eq "$(jq -r .process.cwd "$T/bundle/config.json")" /app "bundle cwd"
    assert_eq "$(jq -r .process.user.uid "$T/bundle/config.json")" 65534 "bundle uid"
}

test_layout_umoci_workdir_opt_app() {
    mk_tree "$T/src"
    ob_build --dir "$T/src" -t myapp:opt --layout "$T/L" --workdir /opt/app
    assert_eq "$(config_json "$T/L" myapp:opt | jq -r .config.WorkingDir)" /opt/app "WorkingDir"
    # parent directory entries come first, then the tree
    layer_tar "$T/L" myapp:opt | tar -tf - >"$T/list"
    assert_eq "$(sed -n 1p "$T/list")" opt/ "first entry"
    assert_eq "$(sed -n 2p "$T/list")" opt/app/ "second entry"
    if grep -v '^opt/app/' "$T/list" | grep -vx 'opt/' | grep . >/dev/null; then
        fail "entries outside opt/app: $(grep -v '^opt/app/' "$T/list" | head)"
    fi
    umoci_unpack "$T/L" myapp:opt "$T/bundle"
    assert_same_tree "$T/src" "$T/bundle/rootfs/opt/app"
    assert_dir_listing "$T/bundle/rootfs" "opt"
    assert_dir_listing "$T/bundle/rootfs/opt" "app"
    assert_eq "$(stat -c %a "$T/bundle/rootfs/opt")" 755 "mode of opt/"
}

test_layout_long_symlink_target() {
    mkdir -p "$T/src"
    local target
    target=$(printf '../%.0s' $(seq 1 10))$(printf 'z%.0s' $(seq 1 120))/target-file
    ln -s "$target" "$T/src/far"
    echo small >"$T/src/x"
    ob_build --dir "$T/src" -t a:1 --layout "$T/L"
    umoci_unpack "$T/L" a:1 "$T/bundle"
    assert_eq "$(readlink "$T/bundle/rootfs/app/far")" "$target" "long (>100 chars) link target"
    assert_same_tree "$T/src" "$T/bundle/rootfs/app"
}

test_layout_second_tag_keeps_first() {
    mk_tree "$T/src1"
    mkdir -p "$T/src2" && echo two >"$T/src2/two.txt"
    ob_build --dir "$T/src1" -t myapp:1.0.0 --layout "$T/L"
    local d1=$DIGEST
    ob_build --dir "$T/src2" -t myapp:2.0.0 --layout "$T/L" --env V=2
    local d2=$DIGEST
    assert_ne "$d1" "$d2" "different images"
    assert_eq "$(jq '.manifests | length' "$T/L/index.json")" 2 "index entries after 2nd tag"
    assert_eq "$(index_digest "$T/L" myapp:1.0.0)" "$d1" "first tag kept"
    assert_eq "$(index_digest "$T/L" myapp:2.0.0)" "$d2" "second tag added"
    validate_layout "$T/L" myapp:1.0.0
    validate_layout "$T/L" myapp:2.0.0
    expect_ok skopeo inspect "oci:$T/L:myapp:1.0.0"
    expect_ok skopeo inspect "oci:$T/L:myapp:2.0.0"
    # same tag again replaces only that entry
    ob_build --dir "$T/src2" -t myapp:1.0.0 --layout "$T/L" --env V=3
    local d3=$DIGEST
    assert_eq "$(jq '.manifests | length' "$T/L/index.json")" 2 "index entries after re-tag"
    assert_eq "$(index_digest "$T/L" myapp:1.0.0)" "$d3" "re-used tag points to the new image"
    assert_eq "$(index_digest "$T/L" myapp:2.0.0)" "$d2" "other tag untouched"
    validate_layout "$T/L" myapp:1.0.0
    umoci_unpack "$T/L" myapp:1.0.0 "$T/bundle"
    assert_same_tree "$T/src2" "$T/bundle/rootfs/app"
}

test_layout_multiple_tags_one_build() {
    mk_tree "$T/src"
    ob_build --dir "$T/src" -t myapp:1.0.0 -t myapp:latest -t registry.example.com/team/myapp:v1 --layout "$T/L"
    assert_eq "$(jq '.manifests | length' "$T/L/index.json")" 3 "index entries"
    local tag
    for tag in myapp:1.0.0 myapp:latest registry.example.com/team/myapp:v1; do
        assert_eq "$(index_digest "$T/L" "$tag")" "$DIGEST" "digest of $tag"
        validate_layout "$T/L" "$tag"
    done
    expect_ok skopeo inspect "oci:$T/L:registry.example.com/team/myapp:v1"
    assert_eq "$(find "$T/L/blobs" -type f | wc -l)" 3 "blobs stored once"
}

test_layout_quiet() {
    mkdir -p "$T/src" && echo x >"$T/src/f"
    ob_build --dir "$T/src" -t a:1 --layout "$T/L" -q
    assert_eq "$BUILD_ERR" "" "stderr with -q"
    ob_build --dir "$T/src" -t a:2 --layout "$T/L" --quiet
    assert_eq "$BUILD_ERR" "" "stderr with --quiet"
}

test_layout_empty_input_dir() {
    mkdir "$T/src"
    ob_build --dir "$T/src" -t empty:1 --layout "$T/L"
    validate_layout "$T/L" empty:1
    assert_eq "$(layer_tar "$T/L" empty:1 | tar -tf - | tr '\n' ' ')" "app/ " "layer of an empty dir"
    umoci_unpack "$T/L" empty:1 "$T/bundle"
    assert_dir_listing "$T/bundle/rootfs" app
    assert_dir_listing "$T/bundle/rootfs/app" ""
}

test_layout_relative_paths() {
    mk_tree "$T/work/src"
    cd "$T/work" || fail "cd"
    ob_build --dir src -t a:1 --layout L
    local d=$DIGEST
    ob_build --dir ./src/ -t a:2 --layout ./L
    assert_eq "$(jq '.manifests | length' L/index.json)" 2 "tags"
    assert_eq "$(manifest_json L a:2 | jq -r '.layers[0].digest')" \
        "$(manifest_json L a:1 | jq -r '.layers[0].digest')" "same layer with ./src/"
    validate_layout "$T/work/L" a:1
    assert_eq "$(index_digest "$T/work/L" a:1)" "$d" "digest"
}

test_layout_tag_with_registry_port() {
    mk_tree "$T/src"
    local tag=localhost:5000/team/my-app:1.0.0-rc.1
    ob_build --dir "$T/src" -t "$tag" --layout "$T/L"
    assert_eq "$(index_digest "$T/L" "$tag")" "$DIGEST" "ref.name is the full tag"
    validate_layout "$T/L" "$tag"
    expect_ok skopeo inspect "oci:$T/L:$tag"
    # and it can be used as a base by that name
    mkdir "$T/src2" && echo two >"$T/src2/two"
    ob_build --dir "$T/src2" --base "oci:$T/L:$tag" -t child:1 --layout "$T/L"
    assert_eq "$(manifest_json "$T/L" child:1 | jq '.layers | length')" 2 "layers of child"
}
