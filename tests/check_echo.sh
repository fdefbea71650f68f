#!/bin/bash
# check_echo.sh - examples/echo_server and examples/echo_client: 10,000
# connections open at once, 100 messages each, every byte checked; the
# server gives back every descriptor, and SIGTERM stops it cleanly.
#
# Run by make check from the build directory, once the examples are built.
# Environment:
#   SMARM_TEST_THREADS      worker counts (default "1 2"), each run as
#                           SMARM_THREADS of both programs
#   SMARM_ECHO_CONNECTIONS  connections of the big run (default 10000)
#   SMARM_ECHO_MESSAGES     messages on each (default 100)
#   VALGRIND                set by make check-valgrind: both programs then
#                           run under valgrind memcheck, with the flags in
#                           VALGRIND_MEMCHECK (Makefile.am), through
#                           $LIBTOOL --mode=execute, and the big run is
#                           100 connections x 10 messages by default; a
#                           valgrind error fails the run it was found in
#
# For each worker count:
#   1. echo_server 0 starts and prints "listening on PORT";
#   2. a small client run (16 connections, 10 messages) warms it up, and
#      the server's descriptors (/proc/PID/fd) are counted;
#   3. echo_client opens all the connections at once and echoes the
#      messages on each; it must exit 0;
#   4. the server's count of descriptors comes back to that of step 2
#      within 10 s (each connection actor closed its socket);
#   5. with one connection open and idle (its actor parked in a read), the
#      server gets SIGTERM: it must exit with status 0 within 5 s, and
#      write nothing to stderr but its line about the signal.
#
# Both programs raise their soft limit of open files to the hard limit;
# when the hard limit is too low for the connections (and a few more), the
# test says so and is skipped (77), as it is without /proc or timeout(1).
# Prints one line per check, then "N passed, N failed"; exit status 0 when
# all passed, 1 otherwise.

# make check may start us with sh.
if [ -z "${BASH_VERSION:-}" ]; then
	exec bash "$0" "$@"
fi

set -u

srcdir=${srcdir:-.}
counts=${SMARM_TEST_THREADS:-1 2}
conns=${SMARM_ECHO_CONNECTIONS:-10000}
msgs=${SMARM_ECHO_MESSAGES:-100}
server=./examples/echo_server
client=./examples/echo_client
host=127.0.0.1
run=
if [ -n "${VALGRIND:-}" ]; then
	conns=${SMARM_ECHO_CONNECTIONS:-100}
	msgs=${SMARM_ECHO_MESSAGES:-10}
	run="${LIBTOOL:-./libtool} --mode=execute $VALGRIND -q ${VALGRIND_MEMCHECK:-}"
fi

. "$(dirname "$0")/testlib.sh"

need=$((conns + 64))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
	echo "SKIP: $conns connections need $need open files in each" \
		"process; the hard limit (ulimit -Hn) is $hard"
	exit 77
fi
if [ ! -d /proc/self/fd ] || ! command -v timeout >/dev/null 2>&1; then
	echo "SKIP: needs /proc and timeout(1)"
	exit 77
fi
for p in "$server" "$client"; do
	if [ ! -x "$p" ]; then
		echo "FAIL: $p not built"
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_echo.XXXXXX") || exit 99
pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

fds() {
	ls "/proc/$pid/fd" 2>/dev/null | wc -l
}

now() {
	date +%s.%N
}

# seconds since T, two decimals
since() {
	awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'
}

# show FILE indented, if it has anything
show() {
	[ -s "$1" ] && sed 's/^/    /' "$1"
}

for n in $counts; do
	export SMARM_THREADS=$n
	t=threads=$n

	# 1. Start the server on any free port.
	: >"$tmp/out"
	# shellcheck disable=SC2086 # $run is a list of words
	$run "$server" 0 >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	port=
	for _ in $(seq 100); do
		port=$(sed -n 's/^listening on \([0-9][0-9]*\)$/\1/p' "$tmp/out")
		[ -n "$port" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$port" ]; then
		fail "$t: echo_server did not say where it listens"
		show "$tmp/out"; show "$tmp/err"
		kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
		continue
	fi

	# 2. Warm up, then count the server's descriptors.
	# shellcheck disable=SC2086
	if timeout 60 $run "$client" "$host" "$port" 16 10 >"$tmp/small" 2>&1; then
		pass "$t: echo_server on port $port, 16 connections x 10 messages"
	else
		fail "$t: 16 connections x 10 messages"
		show "$tmp/small"
	fi
	sleep 0.2
	base=$(fds)

	# 3. The big run.
	t0=$(now)
	# shellcheck disable=SC2086
	timeout 300 $run "$client" "$host" "$port" "$conns" "$msgs" \
		>"$tmp/big" 2>"$tmp/bigerr"
	rc=$?
	took=$(since "$t0")
	if [ $rc -eq 0 ] && grep -q "^$conns connections open at once, $((conns * msgs)) messages," "$tmp/big"; then
		pass "$t: $conns connections x $msgs messages, every byte" \
			"verified, in $took s: $(cat "$tmp/big")"
	else
		fail "$t: $conns connections x $msgs messages: exit status $rc" \
			"after $took s"
		show "$tmp/big"; show "$tmp/bigerr"
	fi

	# 4. Every connection's socket closed on the server's side.
	now_fds=$(fds)
	for _ in $(seq 100); do
		[ "$now_fds" -le "$base" ] && break
		sleep 0.1
		now_fds=$(fds)
	done
	if [ "$now_fds" -eq "$base" ]; then
		pass "$t: server descriptors back to $base after the connections"
	else
		fail "$t: server has $now_fds descriptors open, $base before" \
			"the connections"
		ls -l "/proc/$pid/fd" | sed 's/^/    /' | head -20
	fi

	# 5. SIGTERM with a connection open.
	idle=no
	if exec 3<>"/dev/tcp/$host/$port" 2>/dev/null; then
		printf 'ping\n' >&3
		read -r -t 10 line <&3 && [ "$line" = ping ] && idle=yes
	fi
	kill -TERM "$pid"
	t0=$(now)
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		fail "$t: echo_server still running 5 s after SIGTERM"
		kill -KILL "$pid"
	fi
	wait "$pid"
	rc=$?
	took=$(since "$t0")
	pid=
	exec 3>&- 3<&-
	grep -v '^echo_server: Terminated, stopping$' "$tmp/err" >"$tmp/errx"
	if [ $rc -eq 0 ] && [ ! -s "$tmp/errx" ]; then
		pass "$t: SIGTERM: echo_server exited 0 in $took s" \
			"(an idle connection open: $idle)"
	else
		fail "$t: SIGTERM: echo_server exit status $rc after $took s"
		show "$tmp/err"
	fi
done

summary
