#!/bin/bash
# check_gdb.sh - the gdb script (gdb/smarm.py): smarm-actors lists the
# actors of a stopped program with what they wait on, and smarm-bt shows
# a parked actor's backtrace, then gives the thread its registers back.
#
# Run by make check from the build directory, once tests/gdb_target is
# built; srcdir is the source tree (default .).  Skipped (exit 77) when gdb,
# or its Python, is missing, or when gdb cannot run the program (ptrace not
# allowed).

set -u
srcdir=${srcdir:-.}
. "$srcdir/tests/testlib.sh"

if ! command -v gdb >/dev/null 2>&1; then
	echo "SKIP: no gdb"
	exit 77
fi
if ! gdb -batch -nx -ex 'python print("py-ok")' 2>/dev/null | grep -q py-ok; then
	echo "SKIP: gdb has no Python"
	exit 77
fi
prog=tests/gdb_target
[ -x tests/.libs/gdb_target ] && prog=tests/.libs/gdb_target

out=$(SMARM_THREADS=1 LD_LIBRARY_PATH=lib/.libs timeout 120 \
	gdb -batch -nx -ex "source $srcdir/gdb/smarm.py" \
	-ex 'break gdb_stop_here' -ex run \
	-ex smarm-actors \
	-ex 'smarm-bt waiter_pid' -ex 'smarm-bt sleeper_pid' \
	-ex 'bt 1' -ex 'smarm-bt 0' -ex kill "$prog" 2>&1)
if ! printf '%s\n' "$out" | grep -q 'Breakpoint 1, .*gdb_stop_here'; then
	printf '%s\n' "$out" | tail -5
	echo "SKIP: gdb could not run $prog"
	exit 77
fi

expect() {
	if printf '%s\n' "$out" | grep -Eq -- "$2"; then
		pass "$1"
	else
		fail "$1 (no line matching: $2)"
	fi
}

expect "smarm-actors: the waiter, parked in a channel receive" \
	"^[0-9]+ +'waiter' +parked +0 +channel recv 0x[0-9a-f]+$"
expect "smarm-actors: the sleeper, parked in a sleep" \
	"^[0-9]+ +'sleeper' +parked +0 +sleep$"
expect "smarm-actors: the root, running on worker 0" \
	"^[0-9]+ +'' +running +0 *$"
expect "smarm-bt: the waiter's frames" "in waiter_fn .*gdb_target.c"
expect "smarm-bt: the waiter's frames reach smarm_recv" " smarm_recv "
expect "smarm-bt: the sleeper's frames" "in sleeper_fn .*gdb_target.c"
expect "the thread's own registers are back afterwards" \
	"^#0 +(0x[0-9a-f]+ in )?gdb_stop_here"
expect "smarm-bt on no actor says so" "smarm: no live actor 0"
if [ "$failed" -ne 0 ]; then
	printf '%s\n' "$out"
fi
summary
