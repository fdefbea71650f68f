#!/usr/bin/env escript
%%! +S 1
%% mailbox.erl - bench/mailbox written in Erlang: the cost of one round
%% trip between two processes' mailboxes.
%%
%% A sends {A, I} to B; B checks I and replies {B, I + 1} to the sender;
%% A checks that the reply is I + 1 and comes from B.  After N round trips
%% A sends B stop and B answers with the number of round trips it made,
%% which must be N too.  B is linked to A, so that a failed check in
%% either ends the program.  Run with Debian's erlang-base, on one
%% scheduler (the %%! line):
%%
%%   escript bench/peers/erlang/mailbox.erl [round-trips]
%%
%% or on T schedulers: ERL_FLAGS="+S T:T" escript ...  (ERL_FLAGS comes
%% after the %%! line, so it wins; "+S T" alone would start T schedulers
%% but leave only one online).  bench/compare runs it that way.
%%
%% Prints: bench=mailbox-erlang threads=<schedulers online> value=<ns per
%% round trip> unit=ns/roundtrip
-mode(compile).

main([]) -> run(1000000);
main([A]) ->
    case catch list_to_integer(A) of
        N when is_integer(N), N >= 1 -> run(N);
        _ -> usage()
    end;
main(_) -> usage().

usage() ->
    io:format(standard_error, "usage: mailbox.erl [round-trips >= 1]~n", []),
    halt(2).

run(N) ->
    B = spawn_link(fun() -> ponger(self(), 0) end),
    T0 = erlang:monotonic_time(nanosecond),
    ok = pinger(B, 0, N),
    T1 = erlang:monotonic_time(nanosecond),
    B ! {self(), stop},
    receive
        {B, done, N} -> ok;
        {B, done, M} -> erlang:error({round_trips, N, M})
    end,
    io:format("bench=mailbox-erlang threads=~w value=~.2f unit=ns/roundtrip~n",
              [erlang:system_info(schedulers_online), (T1 - T0) / N]).

pinger(_B, N, N) -> ok;
pinger(B, I, N) ->
    B ! {self(), I},
    receive
        {B, R} when R =:= I + 1 -> pinger(B, I + 1, N);
        R -> erlang:error({bad_reply, I, R})
    end.

ponger(Self, Expect) ->
    receive
        {From, Expect} -> From ! {Self, Expect + 1}, ponger(Self, Expect + 1);
        {From, stop} -> From ! {Self, done, Expect};
        Other -> erlang:error({unexpected, Other})
    end.
