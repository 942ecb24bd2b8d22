%% @doc Turns the `{ocibuild, [...]}' config of a project and the command-line
%% options of `rebar3 ocibuild' into the argument list of the `ocibuild' binary.
%%
%% One table, flags/0, maps each setting to its config keys, its command-line
%% options and the binary's flag; everything else (the default tag NAME:VSN,
%% the default archive _build/PROFILE/NAME-VSN.tar) is the binary's.
%%
%% Pure functions, no rebar3 API: the precedence is command line, then config,
%% then the binary's defaults. Config values may be strings (charlists),
%% binaries, atoms or integers; maps or lists of `{Key, Value}' pairs.
%%
%% Pushing an image archive built before (`ocibuild push FILE') uses only the
%% registry settings: push_settings/2 and push_argv/2.
-module(ocibuild_args).

-export([flags/0, config_keys/0, push_options/0, settings/2, push_settings/2,
         build_only_opts/1, build_argv/2, push_argv/2, pushed_refs/1, to_str/1,
         json_array/1]).

-export_type([settings/0]).

-type settings() :: #{atom() => term()}.

%% {Setting, ConfigKeys, CliOpts, Flag, Kind, Push}, in the order of the argv.
%% CliOpts: {GetoptName, arg} (the option's argument) or {GetoptName, Value}
%% (a switch). Kind says how a value becomes flags:
%%   str      one value: Flag V
%%   list     repeatable, a command-line use replaces the config's list: Flag V each
%%   items    as list, but a config list of ports (integers or strings)
%%   joined   as list, passed as one comma-separated Flag V1,V2
%%   pairs    KEY=VALUE, the command line wins key by key: Flag K=V each
%%   args     a string of words or a list (a JSON array for the binary)
%%   off      a boolean, true by default: Flag when false
%%   yes_no   a boolean, unset by default: {YesFlag, NoFlag}
%% Push: both (also when pushing an archive, config and command line), cli
%% (only its command-line option) or no (building only).
flags() ->
    [{tags, [tag, tags], [{tag, arg}], "-t", list, cli},
     {output, [], [{output, arg}], "-o", str, no},
     {layout, [], [{layout, arg}], "--layout", str, no},
     {push, [push], [{push, arg}], "--push", str, both},
     {base, [base_image], [{base, arg}], "--base", str, no},
     {workdir, [workdir], [{workdir, arg}], "--workdir", str, no},
     {env, [env], [{env, arg}], "-e", pairs, no},
     {expose, [expose], [{expose, arg}], "--expose", items, no},
     {labels, [labels], [{label, arg}], "-l", pairs, no},
     {annotations, [annotations], [{annotation, arg}], "-a", pairs, no},
     {uid, [uid], [{uid, arg}], "--uid", str, no},
     {entrypoint, [entrypoint], [{entrypoint, arg}], "--entrypoint", args, no},
     {cmd, [cmd], [{cmd, arg}], "--cmd", args, no},
     {compression, [compression], [{compression, arg}], "--compression", str, no},
     {platforms, [platforms, platform], [{platform, arg}], "--platform", joined, no},
     {bundle_runtime, [bundle_runtime], [{bundle_runtime, true}, {no_bundle_runtime, false}],
      {"--bundle-runtime", "--no-bundle-runtime"}, yes_no, no},
     {vcs_annotations, [vcs_annotations], [{no_vcs_annotations, false}],
      "--no-vcs-annotations", off, no},
     {created, [created], [{created, arg}], "--created", str, no},
     {sbom, [sbom], [{sbom, arg}], "--sbom", str, no},
     {cache, [cache], [{no_cache, false}], "--no-cache", off, no},
     {cache_max, [cache_max], [{cache_max, arg}], "--cache-max", str, no},
     {cache_from, [cache_from], [{cache_from, arg}], "--cache-from", list, no},
     {jobs, [jobs], [{jobs, arg}], "--jobs", str, no},
     {lock_timeout, [lock_timeout], [{lock_timeout, arg}], "--lock-timeout", str, no},
     %% registry settings: also used when pushing an archive built before
     {ca_file, [ca_file], [{ca_file, arg}], "--ca-file", str, both},
     {insecure_registries, [insecure_registries, insecure_registry],
      [{insecure_registry, arg}], "--insecure-registry", list, both},
     {chunk_size, [chunk_size], [{chunk_size, arg}], "--chunk-size", str, both},
     {image_refs, [image_refs], [{image_refs, arg}], "--image-refs", str, both},
     {digest_file, [digest_file], [{digest_file, arg}], "--digest-file", str, both},
     {sign_key, [sign_key], [{sign_key, arg}], "--sign-key", str, both},
     {attach_sbom, [attach_sbom], [{no_attach_sbom, false}], "--no-attach-sbom", off, both}].

%% @doc Every config key, in the table's order.
-spec config_keys() -> [atom()].
config_keys() ->
    [K || {_, Ks, _, _, _, _} <- flags(), K <- Ks].

%% @doc The command-line options (getopt names) that pushing an archive takes.
-spec push_options() -> [atom()].
push_options() ->
    [O || {_, _, Opts, _, _, Push} <- flags(), Push =/= no, {O, _} <- Opts].

%% @doc Settings from the project config and the parsed command line (a getopt
%% proplist; repeated options appear once per use, in order).
%% Throws `{bad_config, Key, Value}' for a value of the wrong shape.
-spec settings(list() | map(), [{atom(), term()} | atom()]) -> settings().
settings(Config, Cli) ->
    S0 = lists:foldl(fun config_entry/2, #{warnings => []}, config_list(Config)),
    lists:foldl(fun(F, S) -> cli(F, Cli, S) end, S0, flags()).

%% @doc Settings for pushing an image archive built before: the registry keys
%% of the config (not tag, which names the tags of a build), then the command
%% line. See build_only_opts/1 for the options that make no sense there.
-spec push_settings(list() | map(), [{atom(), term()} | atom()]) -> settings().
push_settings(Config, Cli) ->
    Keys = [K || {_, Ks, _, _, _, both} <- flags(), K <- Ks],
    Registry = [E || E = {K, _} <- config_list(Config), lists:member(key_atom(K), Keys)],
    settings(Registry, Cli).

%% @doc The command-line options (getopt names, each once) that only apply to
%% building an image, not to pushing an archive.
-spec build_only_opts([{atom(), term()} | atom()]) -> [atom()].
build_only_opts(Cli) ->
    Names = [case O of {K, _} -> K; K -> K end || O <- Cli],
    lists:usort([K || K <- Names, not lists:member(K, [tarball | push_options()])]).

config_list(M) when is_map(M) -> maps:to_list(M);
config_list(L) when is_list(L) -> L;
config_list(Other) -> throw({bad_config, ocibuild, Other}).

config_entry({_Key, undefined}, S) ->
    S;
config_entry({Key0, Value}, S) ->
    Key = key_atom(Key0),
    case [F || F = {_, Ks, _, _, _, _} <- flags(), lists:member(Key, Ks)] of
        [{Setting, _, _, _, Kind, _}] -> S#{Setting => convert(Kind, Key, Value)};
        [] -> warn({unknown_key, Key0}, S)
    end;
config_entry(Other, S) ->
    warn({unknown_key, Other}, S).

warn(W, S = #{warnings := Ws}) -> S#{warnings => Ws ++ [W]}.

key_atom(K) when is_atom(K) -> K;
key_atom(K) ->
    try list_to_existing_atom(to_str(K)) catch _:_ -> K end.

convert(str, Key, V) -> str(Key, V);
convert(list, Key, V) -> strs(Key, V);
convert(joined, Key, V) -> strs(Key, V);
%% a top-level list is always a list of items, since [53] could be a port or "5"
convert(items, Key, V) when is_list(V) -> [str(Key, X) || X <- V];
convert(items, Key, V) -> [str(Key, V)];
convert(pairs, Key, V) -> pairs(Key, V);
convert(Bool, _Key, V) when (Bool =:= off orelse Bool =:= yes_no), is_boolean(V) -> V;
convert(args, Key, V) ->
    case is_single(V) of
        true -> str(Key, V);
        false -> json_array([str(Key, W) || W <- list(Key, V)])
    end;
convert(_, Key, V) -> throw({bad_config, Key, V}).

str(Key, V) ->
    try to_str(V) catch _:_ -> throw({bad_config, Key, V}) end.

%% One string, or a list of strings.
strs(Key, V) ->
    case is_single(V) of
        true -> [str(Key, V)];
        false -> [str(Key, X) || X <- list(Key, V)]
    end.

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

%% The command line's uses of one setting's options (in order) over the config.
cli({Setting, _, Opts, _, Kind, _}, Cli, S) ->
    case [V || O <- Cli, V <- cli_value(O, Opts)] of
        [] -> S;
        Vs -> S#{Setting => cli_merge(Kind, Vs, maps:get(Setting, S, undefined))}
    end.

cli_value({K, V}, Opts) ->
    case lists:keyfind(K, 1, Opts) of
        {_, arg} -> [V];
        {_, Switch} when V =:= true -> [Switch];
        _ -> []
    end;
cli_value(K, Opts) when is_atom(K) ->
    case lists:keyfind(K, 1, Opts) of
        {_, arg} -> [];
        {_, Switch} -> [Switch];
        false -> []
    end;
cli_value(_, _) -> [].

cli_merge(pairs, KVs, Old) ->
    lists:foldl(fun put_pair_kv/2, case Old of undefined -> []; _ -> Old end, KVs);
cli_merge(Kind, Vs, _Old) when Kind =:= list; Kind =:= items; Kind =:= joined -> Vs;
cli_merge(_Kind, Vs, _Old) -> lists:last(Vs).

%% @doc The argv of `ocibuild build' for the release in Dir (with Lock, or
%% undefined): the binary tags the image NAME:VSN and writes
%% _build/PROFILE/NAME-VSN.tar unless the settings say otherwise, and says so.
-spec build_argv(settings(), #{dir := string(), lock := string() | undefined}) -> [string()].
build_argv(S, #{dir := Dir, lock := Lock}) ->
    ["build", "--release", Dir] ++ opt("--lock", Lock)
        ++ lists:append([to_flags(F, S) || F <- flags()]).

%% @doc The argv of `ocibuild push File': push an image archive built before,
%% with the settings of push_settings/2. Without tags the binary uses the
%% archive's own.
-spec push_argv(settings(), string()) -> [string()].
push_argv(S, File) ->
    ["push", File] ++ lists:append([to_flags(F, S) || F = {_, _, _, _, _, P} <- flags(), P =/= no]).

to_flags({Setting, _, _, Flag, Kind, _}, S) ->
    case maps:get(Setting, S, undefined) of
        undefined -> [];
        V -> to_flags(Kind, Flag, V)
    end.

to_flags(Kind, Flag, V) when Kind =:= str; Kind =:= args -> [Flag, V];
to_flags(Kind, Flag, Vs) when Kind =:= list; Kind =:= items -> lists:append([[Flag, V] || V <- Vs]);
to_flags(joined, _Flag, []) -> [];
to_flags(joined, Flag, Vs) -> [Flag, lists:flatten(lists:join(",", Vs))];
to_flags(pairs, Flag, KVs) ->
    lists:append([[Flag, case V of undefined -> K; _ -> K ++ "=" ++ V end] || {K, V} <- KVs]);
to_flags(off, Flag, false) -> [Flag];
to_flags(off, _Flag, true) -> [];
to_flags(yes_no, {Yes, _}, true) -> [Yes];
to_flags(yes_no, {_, No}, false) -> [No].

opt(_, undefined) -> [];
opt(Flag, V) -> [Flag, V].

%% @doc The references the binary printed on stdout for a push
%% (`REGISTRY/REPO@sha256:...'), among its stdout lines.
-spec pushed_refs([string()]) -> [string()].
pushed_refs(Lines) ->
    [L || L0 <- Lines, L <- [string:trim(L0)],
          re:run(L, "^[^\\s@]+/[^\\s@]+@sha256:[0-9a-f]{64}$", [{capture, none}]) =:= match].

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
