#!/usr/bin/env escript
%%! +S 1
%% mailbox.erl - bench/mailbox written in Erlang: the cost of one round
%% trip between two processes' mailboxes.
%%
%% A sends I to B; B replies I + 1 to the sender; A checks it.  After N
%% round trips A sends stop.  Run with Debian's erlang-base, on one
%% scheduler (the %%! line):
%%
%%   escript bench/peers/erlang/mailbox.erl [round-trips]
%%
%% Prints: bench=mailbox-erlang threads=<schedulers> value=<ns per round
%% trip> unit=ns/roundtrip
-mode(compile).

main(Args) ->
    N = case Args of [A] -> list_to_integer(A); _ -> 1000000 end,
    B = spawn(fun() -> ponger(0) end),
    T0 = erlang:monotonic_time(nanosecond),
    ok = pinger(B, 0, N),
    T1 = erlang:monotonic_time(nanosecond),
    B ! stop,
    io:format("bench=mailbox-erlang threads=~w value=~.2f unit=ns/roundtrip~n",
              [erlang:system_info(schedulers_online), (T1 - T0) / N]).

pinger(_B, N, N) -> ok;
pinger(B, I, N) ->
    B ! {self(), I},
    receive
        R when R =:= I + 1 -> pinger(B, I + 1, N);
        R -> erlang:error({bad_reply, I, R})
    end.

ponger(Expect) ->
    receive
        {From, Expect} -> From ! Expect + 1, ponger(Expect + 1);
        stop -> ok;
        Other -> erlang:error({unexpected, Other})
    end.
