# The root mix.exs loads this file before anything of the project is compiled,
# since a project's own compiler must exist before its compilers run. The guard
# keeps the compile of integrations/mix/lib from defining the module again
# (which would warn "redefining module").
if !Code.ensure_loaded?(Mix.Tasks.Compile.OcibuildMake) do
  defmodule Mix.Tasks.Compile.OcibuildMake do
    @moduledoc """
    Builds the `ocibuild` C binary of this checkout into `priv/ocibuild` with `make`.

    Nothing is built when `OCIBUILD_BIN` is set, when `ocibuild` is on `PATH`,
    or when `priv/ocibuild` exists and is newer than the C sources. Listed first
    in the `:compilers` of ocibuild's own `mix.exs`, so it runs when the
    dependency is compiled.

    This module is loaded by `mix.exs` before anything else of the project is
    compiled, so it must not use any other module of ocibuild.
    """
    use Mix.Task.Compiler

    @build_tools "apt-get install -y build-essential pkg-config"

    @impl true
    def run(_args) do
      root = project_root()

      cond do
        configured_binary() ->
          {:noop, []}

        executable?(priv_binary(root)) and not stale?(root) ->
          {:noop, []}

        true ->
          build!(root)
          # Mix links priv/ into _build/ before the compilers run, and priv/
          # did not exist then: link it now, for :code.priv_dir(:ocibuild).
          Mix.Project.build_structure()
          {:ok, []}
      end
    end

    @doc "The binary named by OCIBUILD_BIN or found on PATH, or nil."
    def configured_binary do
      case System.get_env("OCIBUILD_BIN") do
        bin when is_binary(bin) and bin != "" ->
          executable?(bin) or
            Mix.raise("OCIBUILD_BIN is set to #{bin}, which is not an executable file")

          bin

        _ ->
          System.find_executable("ocibuild")
      end
    end

    @doc """
    Whether the C sources of the checkout at `root` changed since its priv/ocibuild
    was built (`mix deps.update` checks out new sources over the old binary).
    """
    def stale?(root) do
      case File.stat(priv_binary(root), time: :posix) do
        {:ok, %File.Stat{mtime: built}} ->
          ["Makefile", "src/**/*.{c,h}", "include/**/*.h"]
          |> Enum.flat_map(&Path.wildcard(Path.join(root, &1)))
          |> Enum.any?(fn file ->
            match?({:ok, %File.Stat{mtime: t}} when t > built, File.stat(file, time: :posix))
          end)

        _ ->
          true
      end
    end

    @doc "Where the binary built from the checkout at `root` goes."
    def priv_binary(root), do: Path.join([root, "priv", "ocibuild"])

    @doc "Runs `make` in `root` and installs the binary into priv/; returns its path or raises."
    def build!(root) do
      makefile = Path.join(root, "Makefile")

      File.regular?(makefile) ||
        Mix.raise(
          "no ocibuild binary: not on PATH, OCIBUILD_BIN unset, and #{root} has no Makefile " <>
            "to build one; install ocibuild or set OCIBUILD_BIN"
        )

      make =
        System.find_executable("make") ||
          Mix.raise(
            "cannot build the ocibuild binary: `make` is not on PATH; install the build tools " <>
              "with `#{@build_tools}` (or set OCIBUILD_BIN to an ocibuild binary)"
          )

      jobs = "-j#{max(System.schedulers_online(), 1)}"

      Mix.shell().info(
        "==> ocibuild: building the ocibuild binary (first use): make #{jobs} in #{root}"
      )

      # O and BIN on the command line: a user's environment must not move the outputs
      {out, status} =
        System.cmd(make, [jobs, "O=build", "BIN=."], cd: root, stderr_to_stdout: true)

      built = Path.join(root, "ocibuild")

      if status != 0 or not executable?(built) do
        Mix.raise(make_error(root, status, out))
      end

      priv = priv_binary(root)
      File.mkdir_p!(Path.dirname(priv))
      tmp = priv <> ".tmp"
      File.cp!(built, tmp)
      File.chmod!(tmp, 0o755)
      File.rename!(tmp, priv)
      priv
    end

    defp make_error(root, status, out) do
      lines = String.split(out, "\n")

      case Enum.find(lines, &String.contains?(&1, "missing build dependencies")) do
        line when is_binary(line) ->
          [_, msg] = String.split(line, "missing build dependencies", parts: 2)
          # the Makefile's list has blanks for the modules that were found
          msg =
            msg
            |> String.trim()
            |> String.replace_suffix(".  Stop.", "")
            |> String.replace(~r/\s+`\s*$/, "`")
            |> String.replace(~r/\s+/, " ")

          "cannot build the ocibuild binary in #{root}: missing build dependencies#{msg}"

        nil ->
          cc = System.get_env("CC", "") |> String.split() |> List.first() || "cc"

          if System.find_executable(cc) == nil do
            "cannot build the ocibuild binary in #{root}: no C compiler (`#{cc}` is not on PATH); " <>
              "install one with `#{@build_tools}`"
          else
            tail = lines |> Enum.reject(&(&1 == "")) |> Enum.take(-15) |> Enum.join("\n")

            "cannot build the ocibuild binary: make failed in #{root} (exit status #{status}); " <>
              "#{root}/scripts/install-deps.sh installs what it needs. The end of its output:\n" <>
              tail
          end
      end
    end

    defp project_root do
      case Mix.Project.project_file() do
        file when is_binary(file) -> Path.dirname(file)
        _ -> File.cwd!()
      end
    end

    @doc "Whether `path` is a regular file someone may execute."
    def executable?(path) do
      case File.stat(path) do
        {:ok, %File.Stat{type: :regular, mode: mode}} -> Bitwise.band(mode, 0o111) != 0
        _ -> false
      end
    end
  end
end
