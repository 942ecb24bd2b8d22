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
  (boolean), `entrypoint`, `cmd` (the image's Cmd: the start script's
  arguments, a string of words or a list; default `start`), `compression`,
  `platforms` (list), `bundle_runtime` (boolean), `created`, `sbom`, `cache`
  (boolean), `cache_max`, `cache_from` (list of image references), `jobs`,
  `lock_timeout`; and for registries `push`
  (`"REGISTRY[/NAMESPACE]"`), `ca_file`, `insecure_registries` (list of hosts),
  `chunk_size`, `image_refs`, `digest_file`, `sign_key`, `attach_sbom`
  (boolean). Values may be strings, atoms, integers or charlists.

  With `push` (or `--push`) the image goes to the registry; the binary prints
  the pushed `REGISTRY/REPO@sha256:...` on stdout, which is shown as is and
  followed by `Image pushed: REF`.

  The binary is `$OCIBUILD_BIN`, else `ocibuild` on `PATH`, else
  `priv/ocibuild` of this dependency, built with `make` when the dependency is
  compiled (see `Mix.Tasks.Compile.OcibuildMake`).
  """

  # The root of this checkout (deps/ocibuild in a user's project).
  @root Path.expand("../../..", __DIR__)

  # {setting, config keys, command-line switch, OptionParser type, flag, kind, push},
  # in the order of the argv. The kinds (how a value becomes flags):
  #   :str     one value: FLAG V
  #   :list    repeatable, a command-line use replaces the config's list: FLAG V each
  #   :items   as :list, but a config list of ports (integers or strings)
  #   :joined  as :list, passed as one comma-separated FLAG V1,V2
  #   :pairs   KEY=VALUE, the command line wins key by key: FLAG K=V each
  #   :args    a string of words or a list (a JSON array for the binary)
  #   :off     a boolean, true by default: FLAG when false (--no-SWITCH)
  #   :yes_no  a boolean, unset by default: {YES_FLAG, NO_FLAG}
  # push: :both (also when pushing an archive, config and command line), :cli
  # (only its switch) or :no (building only). Everything else (the default tag
  # NAME:VSN, the default archive _build/ENV/NAME-VSN.tar) is the binary's.
  @flags [
    {:tags, [:tag, :tags], :tag, :keep, "-t", :list, :cli},
    {:output, [], :output, :string, "-o", :str, :no},
    {:layout, [], :layout, :string, "--layout", :str, :no},
    {:push, [:push], :push, :string, "--push", :str, :both},
    {:base, [:base_image], :base, :string, "--base", :str, :no},
    {:workdir, [:workdir], :workdir, :string, "--workdir", :str, :no},
    {:env, [:env], :env, :keep, "-e", :pairs, :no},
    {:expose, [:expose], :expose, :keep, "--expose", :items, :no},
    {:labels, [:labels], :label, :keep, "-l", :pairs, :no},
    {:annotations, [:annotations], :annotation, :keep, "-a", :pairs, :no},
    {:uid, [:uid], :uid, :string, "--uid", :str, :no},
    {:entrypoint, [:entrypoint], :entrypoint, :string, "--entrypoint", :args, :no},
    {:cmd, [:cmd], :cmd, :string, "--cmd", :args, :no},
    {:compression, [:compression], :compression, :string, "--compression", :str, :no},
    {:platforms, [:platforms, :platform], :platform, :keep, "--platform", :joined, :no},
    {:bundle_runtime, [:bundle_runtime], :bundle_runtime, :boolean,
     {"--bundle-runtime", "--no-bundle-runtime"}, :yes_no, :no},
    {:vcs_annotations, [:vcs_annotations], :vcs_annotations, :boolean, "--no-vcs-annotations",
     :off, :no},
    {:created, [:created], :created, :string, "--created", :str, :no},
    {:sbom, [:sbom], :sbom, :string, "--sbom", :str, :no},
    {:cache, [:cache], :cache, :boolean, "--no-cache", :off, :no},
    {:cache_max, [:cache_max], :cache_max, :string, "--cache-max", :str, :no},
    {:cache_from, [:cache_from], :cache_from, :keep, "--cache-from", :list, :no},
    {:jobs, [:jobs], :jobs, :string, "--jobs", :str, :no},
    {:lock_timeout, [:lock_timeout], :lock_timeout, :string, "--lock-timeout", :str, :no},
    # registry settings: also used when pushing an archive built before
    {:ca_file, [:ca_file], :ca_file, :string, "--ca-file", :str, :both},
    {:insecure_registries, [:insecure_registries, :insecure_registry], :insecure_registry, :keep,
     "--insecure-registry", :list, :both},
    {:chunk_size, [:chunk_size], :chunk_size, :string, "--chunk-size", :str, :both},
    {:image_refs, [:image_refs], :image_refs, :string, "--image-refs", :str, :both},
    {:digest_file, [:digest_file], :digest_file, :string, "--digest-file", :str, :both},
    {:sign_key, [:sign_key], :sign_key, :string, "--sign-key", :str, :both},
    {:attach_sbom, [:attach_sbom], :attach_sbom, :boolean, "--no-attach-sbom", :off, :both}
  ]

  @doc "The `OptionParser` switches of the settings (`mix ocibuild` adds `--release`)."
  def switches, do: for({_, _, switch, type, _, _, _} <- @flags, do: {switch, type})

  @doc "Every config key, in the table's order."
  def config_keys, do: for({_, keys, _, _, _, _, _} <- @flags, key <- keys, do: key)

  @doc """
  Builds an image from the release in `dir` with `config` (the `:ocibuild`
  settings) and `cli` (parsed command-line options, which win). The binary tags
  it `NAME:VSN` and writes `_build/ENV/NAME-VSN.tar` unless told otherwise, and
  says so. Raises when the binary fails.
  """
  def build_image!(dir, config, cli \\ []) do
    settings = settings(config, cli)
    refs = pushed_refs(run!(binary!(), build_argv(settings, %{dir: dir, lock: lock_file()})))
    if settings[:push], do: report_push(refs, settings[:tags] || [], settings.push)
    :ok
  end

  @doc """
  Pushes an image archive (or OCI layout) built before:
  `ocibuild push FILE --push REGISTRY`. Uses the registry settings of `config`
  (not `tag`) and the command-line options `cli`, which may only be `--tag`,
  `--push` and the registry options: others raise.
  """
  def push_image!(file, config, cli) do
    case build_only_opts(cli) do
      [] ->
        :ok

      opts ->
        takes = Enum.map(push_switches(), &if(&1 == :tag, do: "-t", else: option_name(&1)))

        Mix.raise(
          "#{Enum.map_join(opts, ", ", &option_name/1)}: only for building an image; with an " <>
            "image archive, `mix ocibuild IMAGE.tar` pushes it and takes " <>
            "#{Enum.join(Enum.drop(takes, -1), ", ")} and #{List.last(takes)}"
        )
    end

    s = push_settings(config, cli)
    refs = pushed_refs(run!(binary!(), push_argv(s, file)))
    report_push(refs, s[:tags] || [], s[:push])
  end

  defp push_switches, do: for({_, _, switch, _, _, _, push} <- @flags, push != :no, do: switch)

  @doc "Settings for pushing an archive: the registry keys of `config`, then `cli`."
  def push_settings(config, cli) do
    keys = for {_, keys, _, _, _, _, :both} <- @flags, key <- keys, do: key

    registry =
      for {key, _} = entry <- List.wrap(config_list(config)), config_key(key) in keys, do: entry

    settings(registry, cli)
  end

  @doc "The command-line options (each once) that only apply to building an image."
  def build_only_opts(cli) do
    cli |> Keyword.keys() |> Enum.uniq() |> Enum.reject(&(&1 in push_switches()))
  end

  defp option_name(switch) do
    dashed = String.replace(Atom.to_string(switch), "_", "-")

    case List.keyfind(@flags, switch, 2) do
      {_, _, _, _, _, :off, _} -> "--no-" <> dashed
      _ -> "--" <> dashed
    end
  end

  # One line per reference the binary printed; should it have printed none,
  # where the image went.
  defp report_push([], [], registry), do: Mix.shell().info("Image pushed to #{registry}")

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

  defp lock_file do
    config = Mix.Project.config()
    lock = Path.expand(config[:lockfile] || "mix.lock")
    if File.regular?(lock), do: lock, else: nil
  end

  defp config_list(config) when is_map(config), do: Map.to_list(config)
  defp config_list(config), do: config || []

  @doc """
  Settings (a map of the set ones): the project config, then the command line
  (an OptionParser keyword list).
  """
  def settings(config, cli) do
    config = config_list(config)

    if !is_list(config) do
      Mix.raise("bad ocibuild config: expected a keyword list, got #{inspect(config)}")
    end

    s =
      Enum.reduce(config, %{}, fn
        {_key, nil}, acc ->
          acc

        {key, value}, acc ->
          k = config_key(key)

          case Enum.find(@flags, fn {_, keys, _, _, _, _, _} -> k in keys end) do
            {setting, _, _, _, _, kind, _} ->
              Map.put(acc, setting, convert(kind, key, value))

            nil ->
              Mix.shell().error("ocibuild: ignoring unknown config key #{inspect(key)}")
              acc
          end

        other, acc ->
          Mix.shell().error("ocibuild: ignoring config entry #{inspect(other)}")
          acc
      end)

    # the command line's uses of each switch, in order, over the config
    Enum.reduce(@flags, s, fn {setting, _, switch, _, _, kind, _}, acc ->
      case Keyword.get_values(cli, switch) do
        [] -> acc
        vs -> Map.put(acc, setting, cli_merge(kind, vs, acc[setting]))
      end
    end)
  end

  defp cli_merge(:pairs, kvs, old), do: Enum.reduce(kvs, old || [], &put_pair_kv(&2, &1))
  defp cli_merge(kind, vs, _old) when kind in [:list, :items, :joined], do: vs
  defp cli_merge(_kind, vs, _old), do: List.last(vs)

  defp config_key(key) when is_atom(key), do: key

  defp config_key(key) do
    String.to_existing_atom(str(:key, key))
  rescue
    _ -> key
  end

  defp convert(:str, key, v), do: str(key, v)

  defp convert(kind, key, v) when kind in [:list, :joined],
    do: if(single?(v), do: [str(key, v)], else: Enum.map(list(key, v), &str(key, &1)))

  # a top-level list is always a list of items, since [53] could be a port or "5"
  defp convert(:items, key, v) when is_list(v), do: Enum.map(v, &str(key, &1))
  defp convert(:items, key, v), do: [str(key, v)]
  defp convert(:pairs, key, v), do: pairs(key, v)
  defp convert(kind, _key, v) when kind in [:off, :yes_no] and is_boolean(v), do: v
  defp convert(kind, key, v) when kind in [:off, :yes_no], do: bad!(key, v)

  defp convert(:args, key, v) do
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

  @doc """
  The argv of `ocibuild build` for the release `rel.dir` (with `rel.lock`, or
  nil): the flags of the settings that are set.
  """
  def build_argv(s, rel) do
    ["build", "--release", rel.dir] ++
      if(rel.lock, do: ["--lock", rel.lock], else: []) ++
      Enum.flat_map(@flags, &to_flags(&1, s))
  end

  @doc """
  The argv of `ocibuild push FILE`, with settings from `push_settings/2`
  (without tags the binary uses the archive's own).
  """
  def push_argv(s, file) do
    ["push", file] ++
      Enum.flat_map(for(f = {_, _, _, _, _, _, push} <- @flags, push != :no, do: f), &to_flags(&1, s))
  end

  defp to_flags({setting, _, _, _, flag, kind, _}, s) do
    case s[setting] do
      nil -> []
      v -> to_flags(kind, flag, v)
    end
  end

  defp to_flags(kind, flag, v) when kind in [:str, :args], do: [flag, v]
  defp to_flags(kind, flag, vs) when kind in [:list, :items], do: Enum.flat_map(vs, &[flag, &1])
  defp to_flags(:joined, _flag, []), do: []
  defp to_flags(:joined, flag, vs), do: [flag, Enum.join(vs, ",")]

  defp to_flags(:pairs, flag, kvs) do
    Enum.flat_map(kvs, fn
      {k, nil} -> [flag, k]
      {k, v} -> [flag, "#{k}=#{v}"]
    end)
  end

  defp to_flags(:off, flag, false), do: [flag]
  defp to_flags(:off, _flag, true), do: []
  defp to_flags(:yes_no, {yes, _no}, true), do: [yes]
  defp to_flags(:yes_no, {_yes, no}, false), do: [no]

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
      Enum.find(priv_candidates(make), &make.executable?/1) ||
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
