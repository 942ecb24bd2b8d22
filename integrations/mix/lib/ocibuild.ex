defmodule Ocibuild do
  @moduledoc """
  Builds OCI images from Mix releases with the `ocibuild` binary: no Docker,
  no daemon, no network.

  Used by `mix ocibuild` (`Mix.Tasks.Ocibuild`) and by the release step
  `Ocibuild.MixRelease.build_image/1`. Settings come from the `:ocibuild` key of
  the project (and of a release's options), overridden by the command line:

      def project do
        [..., ocibuild: [base_image: "scratch", bundle_runtime: true, expose: [8080]]]
      end

  Keys: `base_image`, `tag` (string or list), `workdir`, `env` (map or list of
  `{key, value}`), `expose` (list of ports, integers or strings such as
  `"53/udp"`), `labels`, `annotations` (maps), `uid`, `vcs_annotations`
  (boolean), `cmd` (the image's Cmd: the start script's arguments, a string of words or a list; default `start`), `sign_key`,
  `compression`, `platforms` (list), `bundle_runtime` (boolean), `sbom`; and
  for registries `push` (`"REGISTRY[/NAMESPACE]"`), `ca_file`,
  `insecure_registries` (list of hosts), `chunk_size`, `image_refs`,
  `digest_file`. Values may be strings, atoms, integers or charlists.

  With `push` (or `--push`) the image goes to the registry; the binary prints
  the pushed `REGISTRY/REPO@sha256:...` on stdout, which is shown as is and
  followed by `Image pushed: REF`.

  The binary is `$OCIBUILD_BIN`, else `ocibuild` on `PATH`, else
  `priv/ocibuild` of this dependency, built with `make` when the dependency is
  compiled (see `Mix.Tasks.Compile.OcibuildMake`).
  """

  # The root of this checkout (deps/ocibuild in a user's project).
  @root Path.expand("../../..", __DIR__)

  @config_keys %{
    base_image: {:base, :str},
    tag: {:tags, :strs},
    tags: {:tags, :strs},
    workdir: {:workdir, :str},
    env: {:env, :pairs},
    expose: {:expose, :items},
    labels: {:labels, :pairs},
    annotations: {:annotations, :pairs},
    uid: {:uid, :str},
    vcs_annotations: {:vcs_annotations, :bool},
    cmd: {:cmd, :cmd},
    sign_key: {:sign_key, :str},
    compression: {:compression, :str},
    platforms: {:platforms, :strs},
    platform: {:platforms, :strs},
    bundle_runtime: {:bundle_runtime, :bool},
    sbom: {:sbom, :str},
    # registry settings: also used when pushing an archive built before
    push: {:push, :str},
    chunk_size: {:chunk_size, :str},
    ca_file: {:ca_file, :str},
    insecure_registries: {:insecure_registries, :strs},
    insecure_registry: {:insecure_registries, :strs},
    image_refs: {:image_refs, :str},
    digest_file: {:digest_file, :str}
  }

  # The config keys, and the command-line options, that say where and how to
  # push; the others only describe a build.
  @registry_config_keys [
    :push,
    :chunk_size,
    :ca_file,
    :insecure_registries,
    :insecure_registry,
    :image_refs,
    :digest_file,
    :sign_key
  ]
  @registry_opts [
    :push,
    :tag,
    :chunk_size,
    :ca_file,
    :insecure_registry,
    :image_refs,
    :digest_file,
    :sign_key
  ]

  @defaults %{
    tags: [],
    base: nil,
    workdir: nil,
    env: [],
    expose: [],
    labels: [],
    annotations: [],
    uid: nil,
    vcs_annotations: true,
    cmd: nil,
    sign_key: nil,
    compression: nil,
    platforms: [],
    bundle_runtime: nil,
    sbom: nil,
    chunk_size: nil,
    output: nil,
    layout: nil,
    push: nil,
    ca_file: nil,
    insecure_registries: [],
    image_refs: nil,
    digest_file: nil
  }

  @doc """
  Builds an image from the release in `dir` (named `name`, version `vsn`),
  with `config` (the `:ocibuild` settings) and `cli` (parsed command-line
  options, which win). Raises when the binary fails.
  """
  def build_image!(dir, name, vsn, config, cli \\ []) do
    settings = settings(config, cli)
    name = to_string(name)
    vsn = to_string(vsn)
    lock = lock_file()

    rel = %{
      dir: dir,
      lock: lock,
      default_tag: default_tag(name, vsn),
      default_output: Path.join(Mix.Project.build_path(), "#{name}-#{vsn}.tar")
    }

    {argv, outputs} = build_argv(settings, rel)
    refs = pushed_refs(run!(binary!(), argv))
    tags = if settings.tags == [], do: [rel.default_tag], else: settings.tags

    for {kind, where} <- outputs do
      case kind do
        :push ->
          report_push(refs, tags, where)

        _ ->
          Mix.shell().info("Image #{Enum.join(tags, ", ")} #{describe(kind)} #{relative(where)}")
      end
    end

    :ok
  end

  # A tag may not hold "+" (build metadata, "0.3.0+build.7"): "_" instead,
  # and say so.
  defp default_tag(name, vsn) do
    if String.contains?(vsn, "+") do
      tag = "#{name}:#{String.replace(vsn, "+", "_")}"

      Mix.shell().info(
        "Version #{vsn} has build metadata and a tag can not hold \"+\": tagging the image #{tag}"
      )

      tag
    else
      "#{name}:#{vsn}"
    end
  end

  @doc """
  Pushes an image archive (or OCI layout) built before:
  `ocibuild push FILE --push REGISTRY`. Uses the registry settings of `config`
  (`push`, `ca_file`, `insecure_registries`, `chunk_size`, `image_refs`,
  `digest_file`; not `tag`) and the command-line options `cli`, which may only
  be `--push`, `--tag` and the registry options: others raise.
  """
  def push_image!(file, config, cli) do
    case build_only_opts(cli) do
      [] ->
        :ok

      opts ->
        Mix.raise(
          "#{Enum.map_join(opts, ", ", &option_name/1)}: only for building an image; with an " <>
            "image archive, `mix ocibuild IMAGE.tar` pushes it and takes --push, -t, --ca-file, " <>
            "--insecure-registry, --chunk-size, --image-refs and --digest-file"
        )
    end

    s = push_settings(config, cli)
    refs = pushed_refs(run!(binary!(), push_argv(s, file)))
    report_push(refs, [], s.push)
  end

  @doc "Settings for pushing an archive: the registry keys of `config`, then `cli`."
  def push_settings(config, cli) do
    config = if is_map(config), do: Map.to_list(config), else: config || []

    registry =
      for {key, _} = entry <- List.wrap(config),
          config_key(key) in @registry_config_keys,
          do: entry

    settings(registry, cli)
  end

  @doc "The command-line options (each once) that only apply to building an image."
  def build_only_opts(cli) do
    cli |> Keyword.keys() |> Enum.uniq() |> Enum.reject(&(&1 in @registry_opts))
  end

  defp option_name(:vcs_annotations), do: "--no-vcs-annotations"
  defp option_name(key), do: "--" <> String.replace(Atom.to_string(key), "_", "-")

  # One line per reference the binary printed; should it have printed none,
  # where the image went.
  defp report_push([], tags, registry) do
    Mix.shell().info("Image #{Enum.join(tags, ", ")} pushed to #{registry}")
  end

  defp report_push(refs, _tags, _registry) do
    Enum.each(refs, &Mix.shell().info("Image pushed: #{&1}"))
  end

  @doc "The pushed references (`REGISTRY/REPO@sha256:...`) among the binary's stdout lines."
  def pushed_refs(lines) do
    lines
    |> Enum.map(&String.trim/1)
    |> Enum.filter(&Regex.match?(~r/^[^\s@]+\/[^\s@]+@sha256:[0-9a-f]{64}$/, &1))
  end

  defp describe(:output), do: "written to"
  defp describe(:layout), do: "added to the OCI layout"

  defp lock_file do
    config = Mix.Project.config()
    lock = Path.expand(config[:lockfile] || "mix.lock")
    if File.regular?(lock), do: lock, else: nil
  end

  @doc "Settings: the project config, then the command line (an OptionParser keyword list)."
  def settings(config, cli) do
    config = if is_map(config), do: Map.to_list(config), else: config || []

    if !is_list(config) do
      Mix.raise("bad ocibuild config: expected a keyword list, got #{inspect(config)}")
    end

    s =
      Enum.reduce(config, @defaults, fn
        {_key, nil}, acc ->
          acc

        {key, value}, acc ->
          case Map.fetch(@config_keys, config_key(key)) do
            {:ok, {skey, kind}} ->
              Map.put(acc, skey, convert(kind, key, value))

            :error ->
              Mix.shell().error("ocibuild: ignoring unknown config key #{inspect(key)}")
              acc
          end

        other, acc ->
          Mix.shell().error("ocibuild: ignoring config entry #{inspect(other)}")
          acc
      end)

    cli(cli, s, %{})
  end

  defp config_key(key) when is_atom(key), do: key

  defp config_key(key) do
    String.to_existing_atom(str(:key, key))
  rescue
    _ -> key
  end

  defp convert(:str, key, v), do: str(key, v)

  defp convert(:strs, key, v),
    do: if(single?(v), do: [str(key, v)], else: Enum.map(list(key, v), &str(key, &1)))

  defp convert(:items, key, v) when is_list(v), do: Enum.map(v, &str(key, &1))
  defp convert(:items, key, v), do: [str(key, v)]
  defp convert(:pairs, key, v), do: pairs(key, v)
  defp convert(:bool, _key, v) when is_boolean(v), do: v
  defp convert(:bool, key, v), do: bad!(key, v)

  defp convert(:cmd, key, v) do
    if single?(v), do: str(key, v), else: json_array(Enum.map(list(key, v), &str(key, &1)))
  end

  defp list(_key, v) when is_list(v), do: v
  defp list(key, v), do: bad!(key, v)

  defp pairs(key, m) when is_map(m), do: pairs(key, Enum.sort(Map.to_list(m)))

  defp pairs(key, l) when is_list(l) do
    Enum.reduce(l, [], fn
      {k, v}, acc ->
        put_pair(acc, str(key, k), str(key, v))

      kv, acc ->
        if single?(kv), do: put_pair_kv(acc, str(key, kv)), else: bad!(key, kv)
    end)
  end

  defp pairs(key, v), do: bad!(key, v)

  defp put_pair(acc, k, v), do: List.keystore(acc, k, 0, {k, v})

  defp put_pair_kv(acc, kv) do
    case String.split(kv, "=", parts: 2) do
      [k, v] -> put_pair(acc, k, v)
      # passed on as is; the binary reports it
      [_] -> put_pair(acc, kv, nil)
    end
  end

  defp single?(v) when is_binary(v) or is_atom(v) or is_number(v), do: true
  defp single?([]), do: false
  defp single?(v) when is_list(v), do: Enum.all?(v, &is_integer/1)
  defp single?(_), do: false

  defp str(_key, v) when is_binary(v), do: v
  defp str(_key, v) when is_atom(v) and v not in [nil, true, false], do: Atom.to_string(v)
  defp str(_key, v) when is_integer(v), do: Integer.to_string(v)
  defp str(_key, v) when is_float(v), do: Float.to_string(v)

  defp str(key, v) when is_list(v) do
    case :unicode.characters_to_binary(v) do
      b when is_binary(b) -> b
      _ -> bad!(key, v)
    end
  rescue
    ArgumentError -> bad!(key, v)
  end

  defp str(key, v), do: bad!(key, v)

  defp bad!(key, v) do
    Mix.raise(
      "bad ocibuild config value for #{inspect(key)}: #{inspect(v)} " <>
        "(use a string, or a list or map as documented in `mix help ocibuild`)"
    )
  end

  # Command-line options (repeatable ones appear once per use) over the config.
  defp cli([], s, _seen), do: s

  defp cli([{key, v} | rest], s, seen) when key in [:tag, :platform, :expose] do
    skey = %{tag: :tags, platform: :platforms, expose: :expose}[key]
    prev = if seen[skey], do: Map.fetch!(s, skey), else: []
    cli(rest, Map.put(s, skey, prev ++ [v]), Map.put(seen, skey, true))
  end

  defp cli([{:insecure_registry, v} | rest], s, seen) do
    prev = if seen[:insecure_registries], do: s.insecure_registries, else: []

    cli(
      rest,
      Map.put(s, :insecure_registries, prev ++ [v]),
      Map.put(seen, :insecure_registries, true)
    )
  end

  defp cli([{key, kv} | rest], s, seen) when key in [:env, :label, :annotation] do
    skey = %{env: :env, label: :labels, annotation: :annotations}[key]
    cli(rest, Map.update!(s, skey, &put_pair_kv(&1, kv)), seen)
  end

  defp cli([{key, v} | rest], s, seen) when key in [:vcs_annotations, :bundle_runtime] do
    cli(rest, Map.put(s, key, v), seen)
  end

  defp cli([{key, v} | rest], s, seen)
       when key in [
              :output,
              :push,
              :layout,
              :base,
              :cmd,
              :uid,
              :chunk_size,
              :sbom,
              :sign_key,
              :compression,
              :workdir,
              :ca_file,
              :image_refs,
              :digest_file
            ] do
    cli(rest, Map.put(s, key, v), seen)
  end

  # release: used by the caller
  defp cli([_ | rest], s, seen), do: cli(rest, s, seen)

  @doc """
  The argv of `ocibuild build` for a release, and where the image goes.
  `rel` has `:dir`, `:lock` (or nil), `:default_tag` and `:default_output`.
  """
  def build_argv(s, rel) do
    tags = if s.tags == [], do: [rel.default_tag], else: s.tags

    outputs =
      case for k <- [:output, :layout, :push], v = Map.fetch!(s, k), v != nil, do: {k, v} do
        [] -> [output: rel.default_output]
        outs -> outs
      end

    argv =
      ["build", "--release", rel.dir] ++
        opt("--lock", rel.lock) ++
        Enum.flat_map(tags, &["-t", &1]) ++
        Enum.flat_map(outputs, fn {k, v} -> [flag(k), v] end) ++
        image_flags(s) ++
        registry_flags(s)

    {argv, outputs}
  end

  @doc """
  The argv of `ocibuild push FILE`, with settings from `push_settings/2`: only
  `--push`, the tags and the registry flags (without tags the binary uses the
  archive's own).
  """
  def push_argv(s, file) do
    ["push", file] ++
      opt("--push", s.push) ++
      Enum.flat_map(s.tags, &["-t", &1]) ++
      registry_flags(s)
  end

  # The flags describing the image, for those settings that are set.
  defp image_flags(s) do
    opt("--base", s.base) ++
      opt("--workdir", s.workdir) ++
      kvs("-e", s.env) ++
      Enum.flat_map(s.expose, &["--expose", &1]) ++
      kvs("-l", s.labels) ++
      kvs("-a", s.annotations) ++
      opt("--uid", s.uid) ++
      opt("--cmd", s.cmd) ++
      opt("--compression", s.compression) ++
      platform(s.platforms) ++
      runtime(s.bundle_runtime) ++
      bool("--no-vcs-annotations", not s.vcs_annotations) ++
      opt("--sbom", s.sbom)
  end

  # The flags saying how to reach the registry and where to note what was pushed.
  defp registry_flags(s) do
    opt("--ca-file", s.ca_file) ++
      Enum.flat_map(s.insecure_registries, &["--insecure-registry", &1]) ++
      opt("--chunk-size", s.chunk_size) ++
      opt("--image-refs", s.image_refs) ++
      opt("--digest-file", s.digest_file) ++
      opt("--sign-key", s.sign_key)
  end

  defp flag(:output), do: "-o"
  defp flag(:layout), do: "--layout"
  defp flag(:push), do: "--push"

  defp opt(_flag, nil), do: []
  defp opt(flag, v), do: [flag, v]

  defp bool(flag, true), do: [flag]
  defp bool(_flag, false), do: []

  # The binary bundles the runtime on scratch by default: say only what the
  # user said.
  defp runtime(true), do: ["--bundle-runtime"]
  defp runtime(false), do: ["--no-bundle-runtime"]
  defp runtime(nil), do: []

  defp kvs(flag, pairs) do
    Enum.flat_map(pairs, fn
      {k, nil} -> [flag, k]
      {k, v} -> [flag, "#{k}=#{v}"]
    end)
  end

  # Several platforms: one comma-separated --platform, from which the binary
  # builds an image index.
  defp platform([]), do: []
  defp platform(ps), do: ["--platform", Enum.join(ps, ",")]

  @doc false
  def json_array(words) do
    "[" <> Enum.map_join(words, ",", &json_string/1) <> "]"
  end

  defp json_string(s) do
    escaped =
      for <<c::utf8 <- s>>, into: "" do
        case c do
          ?" -> "\\\""
          ?\\ -> "\\\\"
          ?\n -> "\\n"
          ?\t -> "\\t"
          ?\r -> "\\r"
          c when c < 0x20 -> "\\u" <> String.pad_leading(Integer.to_string(c, 16), 4, "0")
          c -> <<c::utf8>>
        end
      end

    "\"" <> escaped <> "\""
  end

  @doc """
  The path of the `ocibuild` binary: `$OCIBUILD_BIN`, `ocibuild` on `PATH`,
  `priv/ocibuild` of this dependency, or built now with `make`.
  """
  def binary! do
    make = make_module()

    make.configured_binary() ||
      Enum.find(priv_candidates(make), &executable?/1) ||
      make.build!(@root)
  end

  # Mix.Tasks.Compile.OcibuildMake is loaded by ocibuild's mix.exs, not from
  # ebin (see that file); load it from source if this VM has not done so.
  defp make_module do
    mod = Mix.Tasks.Compile.OcibuildMake

    if !Code.ensure_loaded?(mod) do
      Code.require_file(
        Path.join(@root, "integrations/mix/lib/mix/tasks/compile.ocibuild_make.ex")
      )
    end

    mod
  end

  defp priv_candidates(make) do
    app_priv =
      case :code.priv_dir(:ocibuild) do
        dir when is_list(dir) -> [Path.join(List.to_string(dir), "ocibuild")]
        _ -> []
      end

    app_priv ++ [make.priv_binary(@root)]
  end

  defp executable?(path) do
    case File.stat(path) do
      {:ok, %File.Stat{type: :regular, mode: mode}} -> Bitwise.band(mode, 0o111) != 0
      _ -> false
    end
  end

  @doc """
  Runs the binary; raises on a non-zero exit. Its stdout (the result: a digest,
  or the pushed references) is copied to ours line by line and returned as a
  list of lines; its stderr (progress and errors) is ours.
  """
  def run!(bin, argv) do
    if Mix.debug?(), do: Mix.shell().info("Running #{bin} #{Enum.join(argv, " ")}")

    port =
      Port.open({:spawn_executable, bin}, [
        :binary,
        :exit_status,
        :use_stdio,
        :hide,
        {:line, 65536},
        args: argv
      ])

    {status, lines} = collect(port, "", [])

    if status != 0 do
      Mix.raise("the ocibuild binary failed (exit status #{status}); its message is above")
    end

    lines
  end

  defp collect(port, part, lines) do
    receive do
      {^port, {:data, {:eol, data}}} ->
        # part was shown as it came
        put_chars([data, ?\n])
        collect(port, "", [part <> data | lines])

      {^port, {:data, {:noeol, data}}} ->
        put_chars(data)
        collect(port, part <> data, lines)

      {^port, {:exit_status, status}} ->
        last = if part == "", do: [], else: [part]
        {status, Enum.reverse(lines, last)}
    end
  end

  defp put_chars(data) do
    IO.write(data)
  rescue
    # not UTF-8: the bytes as they are
    ArgumentError ->
      :io.put_chars(:standard_io, :erlang.binary_to_list(IO.iodata_to_binary(data)))
  end

  @doc false
  def relative(path) do
    Path.relative_to_cwd(path)
  end
end
