defmodule Ocibuild.MixRelease do
  @moduledoc """
  A release step that builds the image right after the release is assembled:

      releases: [myapp: [steps: [:assemble, &Ocibuild.MixRelease.build_image/1]]]

  Settings: the project's `:ocibuild` config, merged with an `:ocibuild` key in
  the release's own options (`releases: [myapp: [ocibuild: [...], steps: ...]]`).
  The `ocibuild` binary tags the image `name:version` unless `tag` is set, and
  writes it to `_build/<env>/<name>-<version>.tar` unless `output`, `layout` or
  `push` is set (a release with its own `:path`, outside `rel/`, needs one of them).
  """

  @doc "Builds the image of `release`, then returns the release unchanged."
  def build_image(%{path: path, options: options} = release) do
    project = Mix.Project.config()[:ocibuild] || []
    own = Keyword.get(options, :ocibuild, [])
    Ocibuild.build_image!(path, merge(project, own))
    release
  end

  defp merge(a, b) do
    to_kw = fn
      m when is_map(m) -> Map.to_list(m)
      l -> l
    end

    Keyword.merge(to_kw.(a), to_kw.(b))
  end
end
