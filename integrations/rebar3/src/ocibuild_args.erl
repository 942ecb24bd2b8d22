%% @doc Turns the `{ocibuild, [...]}' config of a project and the command-line
%% options of `rebar3 ocibuild' into the argument list of the `ocibuild' binary.
%%
%% Pure functions, no rebar3 API: the precedence is command line, then config,
%% then the binary's defaults. Config values may be strings (charlists),
%% binaries, atoms or integers; maps or lists of `{Key, Value}' pairs.
%%
%% Pushing an image archive built before (`ocibuild push FILE') uses only the
%% registry settings: push_settings/2 and push_argv/2.
-module(ocibuild_args).

-export([settings/2, push_settings/2, build_only_opts/1, build_argv/2, push_argv/2,
         pushed_refs/1, to_str/1, json_array/1]).

-export_type([settings/0]).

-type settings() :: #{atom() => term()}.

%% config key -> {settings key, kind}
-define(CONFIG_KEYS,
        [{base_image, base, str},
         {tag, tags, strs},
         {tags, tags, strs},
         {workdir, workdir, str},
         {env, env, pairs},
         {expose, expose, items},
         {labels, labels, pairs},
         {annotations, annotations, pairs},
         {uid, uid, str},
         {vcs_annotations, vcs_annotations, bool},
         {cmd, cmd, cmd},
         {sign_key, sign_key, str},
         {compression, compression, str},
         {platforms, platforms, strs},
         {platform, platforms, strs},
         {bundle_runtime, bundle_runtime, bool},
         {sbom, sbom, str},
         %% registry settings: also used when pushing an archive built before
         {push, push, str},
         {chunk_size, chunk_size, str},
         {ca_file, ca_file, str},
         {insecure_registries, insecure_registries, strs},
         {insecure_registry, insecure_registries, strs},
         {image_refs, image_refs, str},
         {digest_file, digest_file, str}]).

%% The config keys, and the command-line options, that say where and how to
%% push; the others only describe a build.
-define(REGISTRY_CONFIG_KEYS,
        [push, chunk_size, ca_file, insecure_registries, insecure_registry, image_refs,
         digest_file, sign_key]).
-define(REGISTRY_OPTS,
        [push, tag, chunk_size, ca_file, insecure_registry, image_refs, digest_file, sign_key,
         tarball]).

-spec defaults() -> settings().
defaults() ->
    #{tags => [], base => undefined, workdir => undefined, env => [], expose => [],
      labels => [], annotations => [], uid => undefined, vcs_annotations => true,
      cmd => undefined, sign_key => undefined, compression => undefined,
      platforms => [], bundle_runtime => undefined, sbom => undefined,
      chunk_size => undefined, output => undefined, layout => undefined,
      push => undefined, ca_file => undefined, insecure_registries => [],
      image_refs => undefined, digest_file => undefined, warnings => []}.

%% @doc Settings from the project config and the parsed command line (a getopt
%% proplist; repeated options appear once per use, in order).
%% Throws `{bad_config, Key, Value}' for a value of the wrong shape.
-spec settings(list() | map(), [{atom(), term()} | atom()]) -> settings().
settings(Config, Cli) ->
    S0 = lists:foldl(fun config_entry/2, defaults(), config_list(Config)),
    cli(Cli, S0).

%% @doc Settings for pushing an image archive built before: the registry keys
%% of the config (push, ca_file, insecure_registries, chunk_size, image_refs,
%% digest_file; not tag, which names the tags of a build), then the command
%% line. See build_only_opts/1 for the options that make no sense there.
-spec push_settings(list() | map(), [{atom(), term()} | atom()]) -> settings().
push_settings(Config, Cli) ->
    Registry = [E || E = {K, _} <- config_list(Config),
                     lists:member(key_atom(K), ?REGISTRY_CONFIG_KEYS)],
    settings(Registry, Cli).

%% @doc The command-line options (getopt names, each once) that only apply to
%% building an image, not to pushing an archive.
-spec build_only_opts([{atom(), term()} | atom()]) -> [atom()].
build_only_opts(Cli) ->
    Names = [case O of {K, _} -> K; K -> K end || O <- Cli],
    lists:usort([K || K <- Names, not lists:member(K, ?REGISTRY_OPTS)]).

config_list(M) when is_map(M) -> maps:to_list(M);
config_list(L) when is_list(L) -> L;
config_list(Other) -> throw({bad_config, ocibuild, Other}).

config_entry({_Key, undefined}, S) ->
    S;
config_entry({Key0, Value}, S) ->
    Key = key_atom(Key0),
    case lists:keyfind(Key, 1, ?CONFIG_KEYS) of
        {_, SKey, Kind} ->
            S#{SKey => convert(Kind, Key, Value)};
        false ->
            S#{warnings => maps:get(warnings, S) ++ [{unknown_key, Key0}]}
    end;
config_entry(Other, S) ->
    S#{warnings => maps:get(warnings, S) ++ [{unknown_key, Other}]}.

key_atom(K) when is_atom(K) -> K;
key_atom(K) ->
    try list_to_existing_atom(to_str(K)) catch _:_ -> K end.

convert(str, Key, V) -> str(Key, V);
convert(strs, Key, V) -> strs(Key, V);
convert(items, Key, V) -> items(Key, V);
convert(pairs, Key, V) -> pairs(Key, V);
convert(bool, _Key, true) -> true;
convert(bool, _Key, false) -> false;
convert(bool, Key, V) -> throw({bad_config, Key, V});
convert(cmd, Key, V) ->
    case is_single(V) of
        true -> str(Key, V);
        false -> json_array([str(Key, W) || W <- list(Key, V)])
    end.

str(Key, V) ->
    try to_str(V) catch _:_ -> throw({bad_config, Key, V}) end.

%% One string, or a list of strings.
strs(Key, V) ->
    case is_single(V) of
        true -> [str(Key, V)];
        false -> [str(Key, X) || X <- list(Key, V)]
    end.

%% A list whose items are numbers or strings (ports): a top-level list is always
%% a list of items, since [53] could be a port or the string "5".
items(Key, V) when is_list(V) -> [str(Key, X) || X <- V];
items(Key, V) -> [str(Key, V)].

list(_Key, V) when is_list(V) -> V;
list(Key, V) -> throw({bad_config, Key, V}).

%% A map, or a list of {K, V} pairs or "K=V" strings; kept in order, unique keys.
pairs(Key, M) when is_map(M) -> pairs(Key, lists:sort(maps:to_list(M)));
pairs(Key, L) when is_list(L) ->
    lists:foldl(fun({K, V}, Acc) -> put_pair(str(Key, K), str(Key, V), Acc);
                   (KV, Acc) ->
                        case is_single(KV) of
                            true -> put_pair_kv(str(Key, KV), Acc);
                            false -> throw({bad_config, Key, KV})
                        end
                end, [], L);
pairs(Key, V) -> throw({bad_config, Key, V}).

put_pair(K, V, Acc) -> lists:keystore(K, 1, Acc, {K, V}).

put_pair_kv(KV, Acc) ->
    case string:split(KV, "=") of
        [K, V] -> put_pair(K, V, Acc);
        [_] -> put_pair(KV, undefined, Acc)   % passed on as is; the binary reports it
    end.

is_single(V) when is_binary(V); is_atom(V); is_integer(V); is_float(V) -> true;
is_single([]) -> false;
is_single(V) when is_list(V) -> lists:all(fun erlang:is_integer/1, V);
is_single(_) -> false.

%% @doc Any string-like term as a (unicode) charlist.
-spec to_str(term()) -> string().
to_str(B) when is_binary(B) ->
    case unicode:characters_to_list(B) of
        L when is_list(L) -> L;
        _ -> binary_to_list(B)
    end;
to_str(A) when is_atom(A) -> atom_to_list(A);
to_str(I) when is_integer(I) -> integer_to_list(I);
to_str(F) when is_float(F) -> lists:flatten(io_lib:format("~p", [F]));
to_str(L) when is_list(L) ->
    case unicode:characters_to_list(L) of
        R when is_list(R) -> R;
        _ -> erlang:error(badarg)
    end.

%% Command-line options (getopt proplist) over the config.
cli([], S) -> S;
cli([Opt | Rest], S) -> cli(Rest, cli_opt(Opt, S)).

cli_opt({tag, T}, S = #{cli_tags := Ts}) -> S#{cli_tags => Ts ++ [T], tags => Ts ++ [T]};
cli_opt({tag, T}, S) -> S#{cli_tags => [T], tags => [T]};
cli_opt({platform, P}, S = #{cli_platforms := Ps}) ->
    S#{cli_platforms => Ps ++ [P], platforms => Ps ++ [P]};
cli_opt({platform, P}, S) -> S#{cli_platforms => [P], platforms => [P]};
cli_opt({expose, P}, S = #{cli_expose := Ps}) -> S#{cli_expose => Ps ++ [P], expose => Ps ++ [P]};
cli_opt({expose, P}, S) -> S#{cli_expose => [P], expose => [P]};
cli_opt({insecure_registry, H}, S = #{cli_insecure := Hs}) ->
    S#{cli_insecure => Hs ++ [H], insecure_registries => Hs ++ [H]};
cli_opt({insecure_registry, H}, S) -> S#{cli_insecure => [H], insecure_registries => [H]};
cli_opt({env, KV}, S = #{env := L}) -> S#{env => put_pair_kv(KV, L)};
cli_opt({label, KV}, S = #{labels := L}) -> S#{labels => put_pair_kv(KV, L)};
cli_opt({annotation, KV}, S = #{annotations := L}) -> S#{annotations => put_pair_kv(KV, L)};
cli_opt(no_vcs_annotations, S) -> S#{vcs_annotations => false};
cli_opt({no_vcs_annotations, true}, S) -> S#{vcs_annotations => false};
cli_opt(bundle_runtime, S) -> S#{bundle_runtime => true};
cli_opt({bundle_runtime, true}, S) -> S#{bundle_runtime => true};
cli_opt(no_bundle_runtime, S) -> S#{bundle_runtime => false};
cli_opt({no_bundle_runtime, true}, S) -> S#{bundle_runtime => false};
cli_opt({K, V}, S) when K =:= output; K =:= push; K =:= layout; K =:= base;
                        K =:= cmd; K =:= uid; K =:= chunk_size; K =:= sbom;
                        K =:= sign_key; K =:= compression; K =:= workdir;
                        K =:= ca_file; K =:= image_refs; K =:= digest_file ->
    S#{K => V};
cli_opt(_, S) -> S.   % release, relname, tarball: used by the caller

%% @doc The argv of `ocibuild build' for a release.
%% Rel: #{dir, lock (or undefined), default_tag, default_output}.
%% Returns {Argv, Outputs} where Outputs says where the image goes, for the
%% message printed after the build.
-spec build_argv(settings(), map()) -> {[string()], [{atom(), string()}]}.
build_argv(S, #{dir := Dir, lock := Lock, default_tag := DefTag, default_output := DefOut}) ->
    Tags = case maps:get(tags, S) of [] -> [DefTag]; Ts -> Ts end,
    Outputs0 = [{K, V} || K <- [output, layout, push], (V = maps:get(K, S)) =/= undefined],
    Outputs = case Outputs0 of [] -> [{output, DefOut}]; _ -> Outputs0 end,
    Argv = ["build", "--release", Dir]
        ++ opt("--lock", Lock)
        ++ lists:append([["-t", T] || T <- Tags])
        ++ lists:append([[flag(K), V] || {K, V} <- Outputs])
        ++ image_flags(S)
        ++ registry_flags(S),
    {Argv, Outputs}.

%% @doc The argv of `ocibuild push FILE': push an image archive built before,
%% with the settings of push_settings/2. Only --push, the tags and the registry
%% flags are passed; without tags the binary uses the archive's own.
-spec push_argv(settings(), string()) -> [string()].
push_argv(S, File) ->
    ["push", File]
        ++ opt("--push", maps:get(push, S))
        ++ lists:append([["-t", T] || T <- maps:get(tags, S)])
        ++ registry_flags(S).

%% @doc The references the binary printed on stdout for a push
%% (`REGISTRY/REPO@sha256:...'), among its stdout lines.
-spec pushed_refs([string()]) -> [string()].
pushed_refs(Lines) ->
    [L || L0 <- Lines, L <- [string:trim(L0)],
          re:run(L, "^[^\\s@]+/[^\\s@]+@sha256:[0-9a-f]{64}$", [{capture, none}]) =:= match].

%% The flags describing the image, for those settings that are set.
image_flags(S) ->
    opt("--base", maps:get(base, S))
        ++ opt("--workdir", maps:get(workdir, S))
        ++ kvs("-e", maps:get(env, S))
        ++ lists:append([["--expose", P] || P <- maps:get(expose, S)])
        ++ kvs("-l", maps:get(labels, S))
        ++ kvs("-a", maps:get(annotations, S))
        ++ opt("--uid", maps:get(uid, S))
        ++ opt("--cmd", maps:get(cmd, S))
        ++ opt("--compression", maps:get(compression, S))
        ++ platform(maps:get(platforms, S))
        ++ runtime(maps:get(bundle_runtime, S))
        ++ bool("--no-vcs-annotations", not maps:get(vcs_annotations, S))
        ++ opt("--sbom", maps:get(sbom, S)).

%% The flags saying how to reach the registry and where to note what was pushed.
registry_flags(S) ->
    opt("--ca-file", maps:get(ca_file, S))
        ++ lists:append([["--insecure-registry", H] || H <- maps:get(insecure_registries, S)])
        ++ opt("--chunk-size", maps:get(chunk_size, S))
        ++ opt("--image-refs", maps:get(image_refs, S))
        ++ opt("--digest-file", maps:get(digest_file, S))
        ++ opt("--sign-key", maps:get(sign_key, S)).

flag(output) -> "-o";
flag(layout) -> "--layout";
flag(push) -> "--push".

opt(_, undefined) -> [];
opt(Flag, V) -> [Flag, V].

bool(Flag, true) -> [Flag];
bool(_, false) -> [].

%% The binary bundles the runtime on scratch by default: say only what the
%% user said.
runtime(true) -> ["--bundle-runtime"];
runtime(false) -> ["--no-bundle-runtime"];
runtime(undefined) -> [].

kvs(Flag, Pairs) ->
    lists:append([[Flag, case V of undefined -> K; _ -> K ++ "=" ++ V end] || {K, V} <- Pairs]).

%% One platform: --platform P. Several: one comma-separated --platform, from
%% which the binary builds an image index.
platform([]) -> [];
platform(Ps) -> ["--platform", lists:flatten(lists:join(",", Ps))].

%% @doc A JSON array of strings (for --cmd given as a list).
-spec json_array([string()]) -> string().
json_array(Words) ->
    lists:flatten(["[", lists:join(",", [json_string(W) || W <- Words]), "]"]).

json_string(S) ->
    [$" | lists:flatmap(fun json_char/1, S)] ++ [$"].

json_char($") -> "\\\"";
json_char($\\) -> "\\\\";
json_char($\n) -> "\\n";
json_char($\t) -> "\\t";
json_char($\r) -> "\\r";
json_char(C) when C < 16#20 -> io_lib:format("\\u~4.16.0b", [C]);
json_char(C) -> [C].
