# This repository is also a Mix project (app :ocibuild), used as a dependency:
#   {:ocibuild, git: "https://github.com/<org>/ocibuild.git", runtime: false}
# It provides `mix ocibuild` and the release step Ocibuild.MixRelease.build_image/1
# (integrations/mix/lib); the C binary they drive is built with `make` by the
# :ocibuild_make compiler when the dependency is compiled.

# The compiler has to exist before anything of this project is compiled, so it
# is loaded from source here (once: mix.exs is evaluated more than once).
if !Code.ensure_loaded?(Mix.Tasks.Compile.OcibuildMake) do
  Code.require_file("integrations/mix/lib/mix/tasks/compile.ocibuild_make.ex", __DIR__)
end

defmodule Ocibuild.MixProject do
  use Mix.Project

  def project do
    [
      app: :ocibuild,
      version: "0.1.0",
      elixir: "~> 1.14",
      description: "mix ocibuild: build OCI images from Mix releases, no Docker needed",
      elixirc_paths: ["integrations/mix/lib"],
      # the Erlang sources are the rebar3 plugin, not part of this Mix project
      erlc_paths: [],
      compilers: [:ocibuild_make] ++ Mix.compilers(),
      deps: []
    ]
  end

  def application do
    [extra_applications: [:mix]]
  end
end
