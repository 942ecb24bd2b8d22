-module(hello_app).
-behaviour(application).
-export([start/2, stop/1, greeting/0]).

start(_Type, _Args) ->
    Uid = string:trim(os:cmd("id -u")),
    io:format("~s (node ~s, running as uid ~s)~n", [greeting(), node(), Uid]),
    supervisor:start_link({local, hello_sup}, hello_sup, []).

stop(_State) ->
    ok.

greeting() ->
    application:get_env(hello, greeting, "Hello").
