%% @doc The `ocibuild' rebar3 provider: `rebar3 [as PROFILE] ocibuild [OPTIONS] [TARBALL]'.
%%
%% Runs `release' for the current profile first (after `compile', a provider
%% dependency; `release' itself is run from here, with the release name that
%% --release or -n gave, as rebar3's own provider needs it as -n), then
%% hands the release directory, the lock file and the image settings (config
%% `{ocibuild, [...]}' in rebar.config, overridden by the command line) to the
%% `ocibuild' binary, whose output is shown as it comes.
-module(ocibuild_prv).

-export([init/1, do/1, format_error/1]).

-define(PROVIDER, ocibuild).
-define(DEPS, [compile]).

-spec init(rebar_state:t()) -> {ok, rebar_state:t()}.
init(State) ->
    Provider = providers:create([
        {name, ?PROVIDER},
        {module, ?MODULE},
        {bare, true},
        {deps, ?DEPS},
        {example, "rebar3 as prod ocibuild -t myapp:1.0.0 -t myapp:latest"},
        {opts, opts()},
        {short_desc, "Build an OCI image from the release (no Docker needed)."},
        {desc, desc()}]),
    {ok, rebar_state:add_provider(State, Provider)}.

opts() ->
    [{tag, $t, "tag", string, "Image NAME:TAG; repeatable (default: release_name:release_version)."},
     {output, $o, "output", string, "Write an image archive FILE.tar or FILE.tar.gz "
      "(default, unless --push or --layout: _build/PROFILE/NAME-VSN.tar)."},
     {push, $p, "push", string, "Push the image to REGISTRY[/NAMESPACE], as "
      "REGISTRY/NAMESPACE/NAME:TAG for each tag."},
     {layout, undefined, "layout", string, "Write (or add to) an OCI image layout directory."},
     {annotation, $a, "annotation", string, "Manifest annotation KEY=VALUE; repeatable."},
     {label, $l, "label", string, "Image label KEY=VALUE; repeatable."},
     {env, $e, "env", string, "Environment variable KEY=VALUE; repeatable."},
     {expose, undefined, "expose", string, "Port to declare, e.g. 8080 or 53/udp; repeatable."},
     {platform, $P, "platform", string, "Image platform OS/ARCH; repeatable (several make an image index)."},
     {base, undefined, "base", string, "Base image: scratch, oci:DIR[:TAG] (a layout on disk) "
      "or a registry reference such as debian:stable-slim."},
     {release, undefined, "release", string, "Release name (as -n), or a release directory "
      "built before (default: the project's only release)."},
     {relname, $n, "relname", string, "Release to build, with several releases "
      "(rebar3 release -n)."},
     {cmd, $c, "cmd", string, "Image Cmd: the start script's arguments (default foreground), e.g. 'eval ok.'."},
     {entrypoint, undefined, "entrypoint", string, "Image Entrypoint instead of the start "
      "script bin/NAME; drops its Cmd unless -c is given too."},
     {uid, undefined, "uid", string, "User the container runs as, UID[:GID]."},
     {workdir, undefined, "workdir", string, "Where the release goes in the image."},
     {compression, undefined, "compression", string, "Layer compression: gzip, zstd or none."},
     {created, undefined, "created", string, "The image's creation time: now, an RFC 3339 time "
      "or @SECONDS (default: SOURCE_DATE_EPOCH, else the git HEAD's commit time)."},
     {no_cache, undefined, "no-cache", undefined, "Make every layer instead of taking unchanged "
      "ones from the layer cache."},
     {cache_max, undefined, "cache-max", string, "Keep the layer cache at most SIZE (default: 10G)."},
     {cache_from, undefined, "cache-from", string, "Reuse the layers of this registry image whose "
      "content is unchanged; repeatable (default when pushing: the pushed tags)."},
     {jobs, undefined, "jobs", string, "Compression threads and blobs in flight (default: one per CPU)."},
     {lock_timeout, undefined, "lock-timeout", string, "Seconds to wait while another process "
      "writes to the same --layout (default: 120)."},
     {bundle_runtime, undefined, "bundle-runtime", undefined, "With base scratch: add the "
      "libraries and busybox the release needs (the default when it includes ERTS)."},
     {no_bundle_runtime, undefined, "no-bundle-runtime", undefined, "Leave them out (the "
      "image will not start on scratch)."},
     {ca_file, undefined, "ca-file", string, "Also trust this CA (PEM) for registries."},
     {insecure_registry, undefined, "insecure-registry", string, "Registry HOST[:PORT] that "
      "may use plain HTTP; repeatable (default: localhost, 127.0.0.1, [::1])."},
     {chunk_size, undefined, "chunk-size", string, "Upload blobs larger than SIZE in "
      "resumable chunks (default: 16M)."},
     {image_refs, undefined, "image-refs", string, "Write every pushed reference to FILE, "
      "one a line."},
     {digest_file, undefined, "digest-file", string, "Write the image digest to FILE."},
     {sbom, undefined, "sbom", string, "Also write the image's SPDX SBOM to FILE."},
     {no_vcs_annotations, undefined, "no-vcs-annotations", undefined,
      "Do not record the source URL and revision."},
     {sign_key, undefined, "sign-key", string, "Sign the image with this key."},
     {no_attach_sbom, undefined, "no-attach-sbom", undefined,
      "Do not attach the SBOM to the pushed image."},
     {tarball, undefined, undefined, string,
      "An image archive (or OCI layout) built before: push it instead of building, with "
      "--push, -t and the registry options only."}].

desc() ->
    "Builds the release of the current profile (use `rebar3 as prod ocibuild`; with several "
    "releases name one: `rebar3 as prod ocibuild -n NAME`), then an OCI "
    "image from it with the ocibuild binary: erts, deps and app layers plus an SBOM, no "
    "Docker or daemon. Settings come from {ocibuild, [...]} in rebar.config (" ++
    lists:join(", ", [atom_to_list(K) || K <- ocibuild_args:config_keys()]) ++
    "); options here override them. With --push (or push) "
    "the image goes to a registry and the pushed REGISTRY/REPO@sha256:... is printed. "
    "`rebar3 ocibuild IMAGE.tar --push REGISTRY` pushes an archive built before. The binary is "
    "$OCIBUILD_BIN, else `ocibuild` on PATH, else built with make from the plugin's checkout "
    "on first use.".

-spec do(rebar_state:t()) -> {ok, rebar_state:t()} | {error, string()}.
do(State) ->
    try
        run(State),
        {ok, State}
    catch
        throw:{?MODULE, Reason} -> {error, {?MODULE, Reason}}
    end.

run(State) ->
    {Opts, Rest} = rebar_state:command_parsed_args(State),
    Rest =:= [] orelse fail({unexpected_args, Rest}),
    Settings = try ocibuild_args:settings(rebar_state:get(State, ocibuild, []), Opts)
               catch throw:{bad_config, K, V} -> fail({bad_config, K, V})
               end,
    [rebar_api:warn("ocibuild: ignoring unknown config key ~tp in rebar.config", [K])
     || {unknown_key, K} <- maps:get(warnings, Settings)],
    Bin = case ocibuild_bin:find(ocibuild_bin:plugin_dir(), fun rebar_api:info/2) of
              {ok, B} -> B;
              {error, E} -> fail({bin, E})
          end,
    case proplists:get_value(tarball, Opts) of
        undefined -> build(State, Opts, Settings, Bin);
        File -> push(State, Opts, File, Bin)
    end.

%% Pushing an archive built before: the registry settings of the config and the
%% command line; options that describe a build are an error, not ignored.
push(State, Opts, File, Bin) ->
    case ocibuild_args:build_only_opts(Opts) of
        [] -> ok;
        BuildOnly -> fail({build_only, BuildOnly})
    end,
    S = try ocibuild_args:push_settings(rebar_state:get(State, ocibuild, []), Opts)
        catch throw:{bad_config, K, V} -> fail({bad_config, K, V})
        end,
    Refs = exec(Bin, ocibuild_args:push_argv(S, File)),
    report_push(Refs, maps:get(tags, S, []), maps:get(push, S, undefined)).

%% The binary tags the image NAME:VSN and writes _build/PROFILE/NAME-VSN.tar
%% unless told otherwise, and says so.
build(State, Opts, Settings, Bin) ->
    Dir = release_dir(release(State, Opts), Opts),
    Lock = filename:join(rebar_state:dir(State), "rebar.lock"),
    Rel = #{dir => Dir, lock => case filelib:is_regular(Lock) of true -> Lock; false -> undefined end},
    Refs = exec(Bin, ocibuild_args:build_argv(Settings, Rel)),
    case maps:get(push, Settings, undefined) of
        undefined -> ok;
        Registry -> report_push(Refs, maps:get(tags, Settings, []), Registry)
    end.

%% One line per reference the binary printed; should it have printed none, where
%% the image went.
report_push([], [], Registry) ->
    rebar_api:info("Image pushed to ~ts", [Registry]);
report_push([], Tags, Registry) ->
    rebar_api:info("Image ~ts pushed to ~ts", [lists:join(", ", Tags), Registry]);
report_push(Refs, _Tags, _Registry) ->
    [rebar_api:info("Image pushed: ~ts", [Ref]) || Ref <- Refs],
    ok.

%% Runs the binary; returns the references it printed for a push.
exec(Bin, Argv) ->
    rebar_api:debug("Running ~ts ~ts", [Bin, lists:join(" ", Argv)]),
    case ocibuild_bin:run(Bin, Argv) of
        {0, Lines} -> ocibuild_args:pushed_refs(Lines);
        {Status, _} -> fail({exit, Bin, Status})
    end.

%% Runs rebar3's `release' provider for the release to build: --release NAME
%% (not a directory), else -n NAME, else the project's only release, given to it
%% as -n NAME (it reads the command's parsed arguments, and wants the name as soon
%% as the relx config has several releases). A --release directory is used as
%% it is. Returns the state `release' left.
release(State, Opts) ->
    Rel = proplists:get_value(release, Opts),
    case Rel =/= undefined andalso is_release(Rel) of
        true -> State;
        false ->
            Name = case {Rel, proplists:get_value(relname, Opts)} of
                       {undefined, undefined} -> relx_release(State);
                       {undefined, N} -> N;
                       {R, _} -> R
                   end,
            Known = relx_names(rebar_state:get(State, relx, [])),
            Name =:= undefined orelse Known =:= [] orelse lists:member(Name, Known)
                orelse fail({unknown_release, Name, Known}),
            Args = [{relname, Name} || Name =/= undefined],
            State1 = rebar_state:command_parsed_args(State, {Args, []}),
            case rebar_core:do([{default, release}], State1) of
                {ok, State2} -> rebar_state:command_parsed_args(State2, {Opts, []});
                {error, E} -> fail({release, E})
            end
    end.

%% The name of the relx config's only release (or of its default_release);
%% undefined if it names none; several: an error naming them and -n.
relx_release(State) ->
    Relx = rebar_state:get(State, relx, []),
    case {relx_names(Relx), [atom_to_list(N) || {default_release, {N, _}} <- Relx, is_atom(N)]} of
        {[], []} -> undefined;
        {[N], _} -> N;
        {_, [N | _]} -> N;
        {Many, []} -> fail({several_releases, Many})
    end.

relx_names(Relx) ->
    lists:usort([atom_to_list(N) || T <- Relx, element(1, T) =:= release,
                                    tuple_size(T) >= 3,
                                    {N, _} <- [element(2, T)], is_atom(N)]).

%% The release directory: --release (a directory or a release name), else
%% --relname, else the one release of the relx config (or its default_release).
release_dir(State, Opts) ->
    Base = filename:join(rebar_dir:base_dir(State), "rel"),
    Profile = profile(State),
    Dir = case {proplists:get_value(release, Opts), proplists:get_value(relname, Opts)} of
              {undefined, undefined} -> filename:join(Base, default_release(State, Base));
              {undefined, Name} -> filename:join(Base, Name);
              {R, _} ->
                  case is_release(R) of
                      true -> filename:absname(R);
                      false -> filename:join(Base, R)
                  end
          end,
    is_release(Dir) orelse fail({no_release, Dir, Profile}),
    Dir.

default_release(State, Base) ->
    Relx = rebar_state:get(State, relx, []),
    Names = relx_names(Relx),
    Default = [atom_to_list(N) || {default_release, {N, _}} <- Relx, is_atom(N)],
    case {Names, Default} of
        {[N], _} -> N;
        {_, [N | _]} -> N;
        {[], []} ->
            %% relx.config or an unusual config: whatever release exists
            case [filename:basename(D) || D <- filelib:wildcard(filename:join(Base, "*")),
                                          is_release(D)] of
                [N] -> N;
                [] -> fail({no_release, Base, profile(State)});
                Many -> fail({several_releases, Many})
            end;
        {Many, []} -> fail({several_releases, Many})
    end.

is_release(Dir) ->
    filelib:is_dir(filename:join(Dir, "releases")) andalso filelib:is_dir(filename:join(Dir, "bin")).

profile(State) ->
    case [P || P <- rebar_state:current_profiles(State), P =/= default] of
        [] -> default;
        Ps -> lists:last(Ps)
    end.

relative(Path) ->
    {ok, Cwd} = file:get_cwd(),
    Abs = filename:absname(Path),
    case string:prefix(Abs, Cwd ++ "/") of
        nomatch -> Abs;
        Rel -> Rel
    end.

fail(Reason) -> throw({?MODULE, Reason}).

-spec format_error(any()) -> iolist().
format_error({unexpected_args, Args}) ->
    io_lib:format("unexpected argument(s) ~ts; see `rebar3 help ocibuild`",
                  [lists:join(" ", Args)]);
format_error({bad_config, Key, Value}) ->
    io_lib:format("bad {ocibuild, [...]} value for ~tp in rebar.config: ~tp "
                  "(use a string, or a list or map as documented in `rebar3 help ocibuild`)",
                  [Key, Value]);
format_error({build_only, Opts}) ->
    Takes = [case O of tag -> "-t"; _ -> option_name(O) end || O <- ocibuild_args:push_options()],
    io_lib:format("~ts: only for building an image; with an image archive, `rebar3 ocibuild "
                  "IMAGE.tar` pushes it and takes ~ts and ~ts",
                  [lists:join(", ", [option_name(O) || O <- Opts]),
                   lists:join(", ", lists:droplast(Takes)), lists:last(Takes)]);
format_error({bin, E}) ->
    ocibuild_bin:format_error(E);
format_error({exit, _Bin, Status}) ->
    io_lib:format("the ocibuild binary failed (exit status ~b); its message is above", [Status]);
format_error({no_release, Dir, Profile}) ->
    io_lib:format("no release in ~ts: build it with `~ts`", [relative(Dir), release_cmd(Profile)]);
format_error({several_releases, Names}) ->
    io_lib:format("several releases (~ts): pick one with `rebar3 as prod ocibuild -n NAME` "
                  "(or --release NAME)", [lists:join(", ", Names)]);
format_error({unknown_release, Name, Known}) ->
    io_lib:format("no release ~ts in the relx config (it has ~ts); --release also takes a "
                  "release directory", [Name, lists:join(", ", Known)]);
format_error({release, E}) when is_list(E); is_binary(E) ->
    io_lib:format("rebar3 release failed: ~ts", [E]);
format_error({release, {Module, E}}) when is_atom(Module) ->
    io_lib:format("rebar3 release failed: ~ts", [Module:format_error(E)]);
format_error(Other) ->
    io_lib:format("~tp", [Other]).

option_name(Opt) ->
    case lists:keyfind(Opt, 1, opts()) of
        {_, _, Long, _, _} when is_list(Long) -> "--" ++ Long;
        _ -> atom_to_list(Opt)
    end.

release_cmd(default) -> "rebar3 release";
release_cmd(Profile) -> io_lib:format("rebar3 as ~ts release", [Profile]).
