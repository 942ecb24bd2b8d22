%% @doc Finding (or building) the `ocibuild' binary and running it.
%%
%% The binary is, in order: $OCIBUILD_BIN, `ocibuild' on PATH, or
%% <plugin dir>/priv/ocibuild. When none exists (or the C sources are newer than
%% priv/ocibuild) it is built with `make' in the plugin's checkout (this
%% repository, fetched whole as a git dependency) and copied to priv/. No rebar3 API here; Log is fun((Format, Args) -> ok).
-module(ocibuild_bin).

-export([find/2, run/2, format_error/1, plugin_dir/0]).

-include_lib("kernel/include/file.hrl").

-define(BUILD_TOOLS, "apt-get install -y build-essential pkg-config").

%% @doc The directory of this plugin's checkout.
-spec plugin_dir() -> file:filename().
plugin_dir() ->
    case code:lib_dir(ocibuild) of
        Dir when is_list(Dir) -> Dir;
        _ -> filename:dirname(filename:dirname(code:which(?MODULE)))
    end.

%% @doc Path of the binary, building it from PluginDir when needed.
-spec find(file:filename(), fun((string(), list()) -> term())) ->
    {ok, file:filename()} | {error, term()}.
find(PluginDir, Log) ->
    case os:getenv("OCIBUILD_BIN") of
        Env when is_list(Env), Env =/= "" ->
            case is_exe(Env) of
                true -> {ok, Env};
                false -> {error, {bad_env_bin, Env}}
            end;
        _ ->
            case os:find_executable("ocibuild") of
                Path when is_list(Path) -> {ok, Path};
                false ->
                    Priv = filename:join([PluginDir, "priv", "ocibuild"]),
                    case is_exe(Priv) andalso not stale(PluginDir, Priv) of
                        true -> {ok, Priv};
                        false -> build(PluginDir, Priv, Log)
                    end
            end
    end.

is_exe(Path) ->
    case file:read_file_info(Path) of
        {ok, #file_info{type = regular, mode = Mode}} -> Mode band 8#111 =/= 0;
        _ -> false
    end.

%% Whether a C source of the checkout is newer than the binary built from it.
stale(Dir, Bin) ->
    case file:read_file_info(Bin, [{time, posix}]) of
        {ok, #file_info{mtime = Built}} ->
            Files = lists:append([filelib:wildcard(W, Dir)
                                  || W <- ["Makefile", "src/**/*.{c,h}", "include/**/*.h"]]),
            lists:any(fun(F) ->
                              case file:read_file_info(filename:join(Dir, F), [{time, posix}]) of
                                  {ok, #file_info{mtime = T}} -> T > Built;
                                  _ -> false
                              end
                      end, Files);
        _ -> true
    end.

build(Dir, Priv, Log) ->
    case {filelib:is_regular(filename:join(Dir, "Makefile")), os:find_executable("make")} of
        {false, _} -> {error, {no_sources, Dir}};
        {true, false} -> {error, no_make};
        {true, Make} ->
            Jobs = "-j" ++ integer_to_list(max(1, erlang:system_info(schedulers_online))),
            Log("Building the ocibuild binary (first use): make ~s in ~ts", [Jobs, Dir]),
            %% O and BIN on the command line: a user's environment must not move the outputs
            {Status, Out} = capture(Make, [Jobs, "O=build", "BIN=."], Dir),
            Built = filename:join(Dir, "ocibuild"),
            case Status =:= 0 andalso is_exe(Built) of
                true -> install(Built, Priv);
                false -> {error, {make_failed, Dir, Status, Out}}
            end
    end.

install(Built, Priv) ->
    Tmp = Priv ++ ".tmp",
    ok = filelib:ensure_dir(Priv),
    case file:copy(Built, Tmp) of
        {ok, _} ->
            ok = file:change_mode(Tmp, 8#755),
            ok = file:rename(Tmp, Priv),
            {ok, Priv};
        {error, Reason} ->
            {error, {install, Priv, Reason}}
    end.

capture(Exe, Args, Dir) ->
    Port = open_port({spawn_executable, Exe},
                     [{args, Args}, {cd, Dir}, exit_status, stderr_to_stdout,
                      binary, use_stdio, hide]),
    capture_loop(Port, []).

capture_loop(Port, Acc) ->
    receive
        {Port, {data, Data}} -> capture_loop(Port, [Acc, Data]);
        {Port, {exit_status, Status}} -> {Status, unicode:characters_to_list(iolist_to_binary(Acc))}
    end.

%% @doc Run the binary. Its stdout (the result: a digest, or the pushed
%% references) is copied, line by line, to standard_io and returned; its stderr
%% (progress and errors) is the caller's. Returns {ExitStatus, StdoutLines}.
-spec run(file:filename(), [string()]) -> {non_neg_integer(), [string()]}.
run(Bin, Args) ->
    Port = open_port({spawn_executable, Bin},
                     [{args, Args}, exit_status, binary, {line, 65536}, use_stdio, hide]),
    stream(Port, <<>>, []).

stream(Port, Part, Lines) ->
    receive
        {Port, {data, {eol, Data}}} ->
            put_chars([Data, $\n]),   % Part was shown as it came
            Line = <<Part/binary, Data/binary>>,
            stream(Port, <<>>, [to_list(Line) | Lines]);
        {Port, {data, {noeol, Data}}} ->
            put_chars(Data),
            stream(Port, <<Part/binary, Data/binary>>, Lines);
        {Port, {exit_status, Status}} ->
            Last = case Part of <<>> -> []; _ -> [to_list(Part)] end,
            {Status, lists:reverse(Lines, Last)}
    end.

to_list(Bin) ->
    case unicode:characters_to_list(Bin) of
        L when is_list(L) -> L;
        _ -> binary_to_list(Bin)
    end.

put_chars(Data) ->
    Bin = iolist_to_binary(Data),
    try io:put_chars(Bin)
    catch _:_ -> io:put_chars(binary_to_list(Bin))   % not UTF-8: bytes as latin1
    end.

%% @doc One message naming what to do.
-spec format_error(term()) -> string().
format_error({bad_env_bin, Path}) ->
    io_lib:format("OCIBUILD_BIN is set to ~ts, which is not an executable file", [Path]);
format_error({no_sources, Dir}) ->
    io_lib:format("no ocibuild binary: not on PATH, OCIBUILD_BIN unset, and ~ts has no Makefile "
                  "to build one; install ocibuild or set OCIBUILD_BIN", [Dir]);
format_error(no_make) ->
    "cannot build the ocibuild binary: `make` is not on PATH; install the build tools with `"
        ?BUILD_TOOLS "` (or set OCIBUILD_BIN to an ocibuild binary)";
format_error({install, Priv, Reason}) ->
    io_lib:format("cannot copy the ocibuild binary to ~ts: ~ts", [Priv, file:format_error(Reason)]);
format_error({make_failed, Dir, Status, Out}) ->
    make_error(Dir, Status, Out).

make_error(Dir, Status, Out) ->
    Lines = string:split(Out, "\n", all),
    case [L || L <- Lines, string:find(L, "missing build dependencies") =/= nomatch] of
        [Line | _] ->
            Msg0 = trim_make_noise(string:find(Line, "missing build dependencies")),
            %% the Makefile's list has blanks for the modules that were found
            Msg1 = re:replace(Msg0, "\\s+`\\s*$", "`", [global, unicode, {return, list}]),
            Msg = string:trim(re:replace(Msg1, "\\s+", " ", [global, unicode, {return, list}])),
            io_lib:format("cannot build the ocibuild binary in ~ts: ~ts", [Dir, Msg]);
        [] ->
            case cc_missing() of
                {true, CC} ->
                    io_lib:format("cannot build the ocibuild binary in ~ts: no C compiler (`~ts` "
                                  "is not on PATH); install one with `" ?BUILD_TOOLS "`",
                                  [Dir, CC]);
                false ->
                    Tail = lists:sublist(lists:reverse([L || L <- Lines, L =/= ""]), 15),
                    io_lib:format("cannot build the ocibuild binary: make failed in ~ts "
                                  "(exit status ~p); ~ts/scripts/install-deps.sh installs "
                                  "what it needs. The end of its output:~n~ts",
                                  [Dir, Status, Dir, lists:join("\n", lists:reverse(Tail))])
            end
    end.

%% GNU make ends $(error ...) lines with ".  Stop."
trim_make_noise(Line) ->
    case string:find(Line, ".  Stop.", trailing) of
        nomatch -> Line;
        Rest -> string:slice(Line, 0, string:length(Line) - string:length(Rest))
    end.

cc_missing() ->
    CC = case os:getenv("CC") of
             V when is_list(V), V =/= "" -> hd(string:lexemes(V, " "));
             _ -> "cc"
         end,
    case os:find_executable(CC) of
        false -> {true, CC};
        _ -> false
    end.
