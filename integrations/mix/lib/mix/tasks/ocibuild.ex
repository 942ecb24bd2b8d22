defmodule Mix.Tasks.Ocibuild do
  @shortdoc "Builds an OCI image from the project's release (no Docker needed)"

  @moduledoc """
  Builds an OCI image from the release built by `mix release`, with the
  `ocibuild` binary: erts, deps and app layers plus an SBOM, no Docker, no
  daemon, no network.

      $ MIX_ENV=prod mix release
      $ MIX_ENV=prod mix ocibuild                     # tag app:version, _build/prod/app-version.tar
      $ MIX_ENV=prod mix ocibuild -t myapp:1.0.0 -t myapp:latest --push ghcr.io/myorg
      $ mix ocibuild _build/prod/myapp-1.0.0.tar --push ghcr.io/myorg   # push an archive built before

  With `--push` (or the `push` setting) the binary prints the pushed
  `REGISTRY/REPO@sha256:...` on stdout, shown as is and followed by
  `Image pushed: REF`. With an image archive (or OCI layout) as argument, only
  `--push`, `-t` and the registry options (`--ca-file`, `--insecure-registry`,
  `--chunk-size`, `--image-refs`, `--digest-file`, `--sign-key`,
  `--no-attach-sbom`; and the registry settings of the config) apply; build
  options are an error.

  Unless told otherwise the `ocibuild` binary tags the image `NAME:VSN` of the
  release (`_` for the `+` of build metadata) and writes
  `_build/<env>/<name>-<version>.tar`, and says so.

  The release is `_build/<env>/rel/<name>` of the current `MIX_ENV` (without
  `MIX_ENV`, when that env has none, the one in `_build/prod/rel/<name>`); with
  several releases, pick one with `--release NAME` (or set `default_release`).
  `mix.lock` names the dependencies of the deps layer and the SBOM.

  Settings come from the `:ocibuild` key of the project (see `Ocibuild`);
  the command line overrides them.

  ## Options

    * `-t, --tag NAME:TAG` - image name and tag; repeatable (default: release name:version)
    * `-o, --output FILE` - write an image archive FILE.tar or FILE.tar.gz
      (default, unless `--push` or `--layout`: `_build/<env>/<name>-<version>.tar`)
    * `-p, --push REGISTRY[/NAMESPACE]` - push the image as REGISTRY/NAMESPACE/NAME:TAG
      for each tag
    * `--layout DIR` - write (or add to) an OCI image layout directory
    * `-a, --annotation KEY=VALUE` - manifest annotation; repeatable
    * `-l, --label KEY=VALUE` - image label; repeatable
    * `-e, --env KEY=VALUE` - environment variable; repeatable
    * `--expose PORT[/PROTO]` - port to declare; repeatable
    * `-P, --platform OS/ARCH` - image platform; repeatable (several make an image index)
    * `--base BASE` - base image: `scratch`, `oci:DIR[:TAG]` (a layout on disk) or a
      registry reference such as `debian:stable-slim`
    * `--release NAME|DIR` - the release to use
    * `-c, --cmd CMD` - the image's Cmd: arguments of the start script `bin/NAME` (default `start`)
    * `--entrypoint ARGS` - the image's Entrypoint instead of the start script; drops its Cmd
      unless `-c` is given too
    * `--uid UID[:GID]` - user the container runs as
    * `--workdir PATH` - where the release goes in the image
    * `--compression gzip|zstd|none` - layer compression
    * `--created WHEN` - the image's creation time: `now`, an RFC 3339 time or `@SECONDS`
      (default: `SOURCE_DATE_EPOCH`, else the git HEAD's commit time)
    * `--no-cache` - make every layer instead of taking unchanged ones from the layer cache
    * `--cache-max SIZE` - keep the layer cache at most SIZE (default: 10G)
    * `--cache-from REF` - reuse the layers of this registry image whose content is
      unchanged; repeatable (default when pushing: the pushed tags)
    * `--jobs N` - compression threads and blobs in flight (default: one per CPU)
    * `--lock-timeout SECONDS` - how long to wait while another process writes to the
      same `--layout` (default: 120)
    * `--bundle-runtime` - with base scratch: add the libraries and busybox the release needs
      (the default when the release includes ERTS); `--no-bundle-runtime` leaves them out
    * `--ca-file FILE` - also trust this CA (PEM) for registries
    * `--insecure-registry HOST[:PORT]` - may use plain HTTP; repeatable
      (default: localhost, 127.0.0.1, [::1])
    * `--chunk-size SIZE` - upload blobs larger than SIZE in resumable chunks (default: 16M)
    * `--image-refs FILE` - write every pushed reference to FILE, one a line
    * `--digest-file FILE` - write the image digest to FILE
    * `--sbom FILE` - also write the image's SPDX SBOM to FILE
    * `--no-vcs-annotations` - do not record the source URL and revision
    * `--sign-key KEY` - sign the image
    * `--no-attach-sbom` - do not attach the SBOM to the pushed image

  The binary is `$OCIBUILD_BIN`, else `ocibuild` on `PATH`, else the one built
  from this dependency with `make` when it was compiled.
  """
  use Mix.Task

  @aliases [
    t: :tag,
    o: :output,
    p: :push,
    a: :annotation,
    l: :label,
    e: :env,
    P: :platform,
    c: :cmd
  ]

  @impl true
  def run(args) do
    {opts, rest, invalid} =
      OptionParser.parse(args,
        strict: [release: :string] ++ Ocibuild.switches(),
        aliases: @aliases
      )

    case invalid do
      [] ->
        :ok

      [{flag, nil} | _] ->
        Mix.raise("unknown option #{flag} for mix ocibuild; see `mix help ocibuild`")

      [{flag, value} | _] ->
        Mix.raise("bad value #{inspect(value)} for #{flag}; see `mix help ocibuild`")
    end

    Mix.Project.get!()
    config = Mix.Project.config()[:ocibuild] || []

    case rest do
      [] ->
        Ocibuild.build_image!(release!(opts), config, opts)

      [tarball] ->
        Ocibuild.push_image!(tarball, config, opts)

      _ ->
        Mix.raise("unexpected arguments #{Enum.join(rest, " ")}; see `mix help ocibuild`")
    end
  end

  # The directory of the release: --release (a directory or a name), else the
  # project's only release, its default_release, or the app.
  defp release!(opts) do
    config = Mix.Project.config()
    releases = config[:releases] || []

    {name, given_dir} =
      case opts[:release] do
        nil ->
          {default_release!(config, releases), nil}

        r ->
          if release_dir?(r), do: {Path.basename(Path.expand(r)), Path.expand(r)}, else: {r, nil}
      end

    dir =
      given_dir ||
        case releases[String.to_atom(name)][:path] do
          nil -> prod_fallback(Path.join([Mix.Project.build_path(), "rel", name]))
          path -> Path.expand(path)
        end

    if !release_dir?(dir) do
      cmd = if length(releases) > 1, do: "mix release #{name}", else: "mix release"

      Mix.raise(
        "no release at #{Ocibuild.relative(dir)}: build it first with " <>
          "`MIX_ENV=#{hint_env()} #{cmd}`"
      )
    end

    dir
  end

  # Without MIX_ENV (env dev), a release built with `MIX_ENV=prod mix release`
  # is the one meant: use it when the current env has none, and say so.
  defp prod_fallback(dir) do
    build = Mix.Project.build_path()
    prod = Path.join([Path.dirname(build), "prod", "rel", Path.basename(dir)])

    if System.get_env("MIX_ENV") in [nil, ""] and Mix.env() != :prod and
         Path.basename(build) == Atom.to_string(Mix.env()) and not release_dir?(dir) and
         release_dir?(prod) do
      Mix.shell().info(
        "No release in #{Ocibuild.relative(dir)} (MIX_ENV is not set): using the prod " <>
          "release #{Ocibuild.relative(prod)}"
      )

      prod
    else
      dir
    end
  end

  # the env of the release to build: prod unless MIX_ENV names one
  defp hint_env do
    if System.get_env("MIX_ENV") in [nil, ""], do: :prod, else: Mix.env()
  end

  defp default_release!(config, releases) do
    case Keyword.keys(releases) do
      [name] ->
        Atom.to_string(name)

      [] ->
        if Mix.Project.umbrella?(config) do
          Mix.raise(
            "umbrella projects need a release in :releases of mix.exs; see `mix help release`"
          )
        end

        Atom.to_string(config[:app])

      names ->
        case config[:default_release] do
          nil ->
            Mix.raise(
              "several releases (#{Enum.join(names, ", ")}): pick one with --release NAME " <>
                "or set :default_release in mix.exs"
            )

          name ->
            Atom.to_string(name)
        end
    end
  end

  defp release_dir?(dir) do
    File.dir?(Path.join(dir, "releases")) and File.dir?(Path.join(dir, "bin"))
  end
end
