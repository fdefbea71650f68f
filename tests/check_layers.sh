#!/bin/bash
# check_layers.sh - the library keeps its floor plan (HACKING.md).
#
# Run by make check; srcdir is the source tree (default .).  Checks, for
# every file in lib/:
#   (a) it includes only the internal headers of modules on floors below
#       its own (or its own header): calls go one way, no cycles;
#   (b) worker.h, a worker's fields, is included by sched.c (and its
#       timers' half, sched_timer.c) and idle.c only, and the worker's head (smarm__head, ->h.) is used only by
#       sched.h, sched.c and idle.c: nobody else reaches a worker's fields;
#   (c) it says near its top what it owns and what it may touch
#       ("Owns:", "May touch:");
#   (d) no .c file is longer than 800 lines and no function longer than
#       70 lines;
# and that no test includes worker.h.  Prints one line per check, then
# "N passed, N failed"; exit status 0 when all passed.

set -u
srcdir=${srcdir:-.}
lib=$srcdir/lib

# The floors, bottom up.  A module is a file's name without .c/.h; a file
# may include the header of a module on a lower floor, or its own.
floor_of() {
	case $1 in
	atomic | fiber | context | switch) echo 0 ;;
	lock | mpscq | runq | deque | limit) echo 1 ;;
	stack | pid | freelist) echo 2 ;;
	timer) echo 3 ;;
	sched | sched_timer | worker) echo 4 ;;
	poll) echo 5 ;;
	idle) echo 6 ;;
	mailbox | mutex) echo 7 ;;
	actor) echo 8 ;;
	chan | io | blocking | preempt | guard | dump) echo 9 ;;
	supervisor | group | select | watch | chanend) echo 10 ;;
	runtime) echo 11 ;;
	error) echo 12 ;;
	*) echo "" ;;
	esac
}

. "$(dirname "$0")/testlib.sh"

files=$(cd "$lib" && ls *.c *.h 2>/dev/null)
# The assembly only has to say what it owns.
for f in "$lib"/arch/*/*.S; do
	[ -f "$f" ] || continue
	if head -n 40 "$f" | grep -q 'Owns' && head -n 40 "$f" | grep -q 'May touch'; then
		pass "${f#$lib/} says what it owns and may touch"
	else
		fail "${f#$lib/}: no 'Owns:' / 'May touch:' in its opening comment"
	fi
done
for f in $files; do
	mod=${f%.*}
	fl=$(floor_of "$mod")
	if [ -z "$fl" ]; then
		fail "$f: module '$mod' is not on the floor plan (tests/check_layers.sh, HACKING.md)"
		continue
	fi
	errs=""
	for inc in $(sed -n 's/^#include "\([a-z_]*\)\.h".*/\1/p' "$lib/$f"); do
		case $inc in config | smarm) continue ;; esac
		ifl=$(floor_of "$inc")
		if [ -z "$ifl" ]; then
			errs="$errs $inc.h (not on the plan)"
		elif [ "$inc" != "$mod" ] && [ "$ifl" -ge "$fl" ] &&
		     ! { [ "$mod" = sched ] && [ "$inc" = worker ]; } &&
		     ! { [ "$mod" = worker ] && [ "$inc" = sched ]; } &&
		     ! { [ "$mod" = sched_timer ] &&
			 { [ "$inc" = sched ] || [ "$inc" = worker ]; }; }; then
			errs="$errs $inc.h (floor $ifl >= $fl)"
		fi
	done
	if [ -n "$errs" ]; then
		fail "$f (floor $fl) includes a header at or above its floor:$errs"
	else
		pass "$f includes only lower floors"
	fi

	case $f in
	sched.c | sched_timer.c | idle.c | worker.h) ;;
	*)
		if grep -q '#include "worker.h"' "$lib/$f"; then
			fail "$f includes worker.h (only sched.c, sched_timer.c and idle.c may)"
		else
			pass "$f does not include worker.h"
		fi ;;
	esac
	case $f in
	sched.h | sched.c | idle.c | worker.h) ;;
	*)
		if grep -nE 'smarm__head\(|smarm__worker_head|->h\.' "$lib/$f"; then
			fail "$f reaches into a worker's head (use sched.h's accessors)"
		else
			pass "$f leaves the worker's head to sched.h"
		fi ;;
	esac

	if head -n 40 "$lib/$f" | grep -q 'Owns' &&
	   head -n 40 "$lib/$f" | grep -q 'May touch'; then
		pass "$f says what it owns and may touch"
	else
		fail "$f: no 'Owns:' / 'May touch:' in its opening comment"
	fi

	case $f in
	*.c)
		n=$(wc -l <"$lib/$f")
		if [ "$n" -gt 800 ]; then
			fail "$f has $n lines (more than 800: make it two files)"
		else
			pass "$f has $n lines"
		fi
		long=$(awk '
			/^[a-zA-Z].*\(/ { name = $0 }
			/^\{/ { start = NR }
			/^\}/ { if (start && NR - start > 70)
					printf "%s (%d lines); ", name, NR - start
				start = 0 }' "$lib/$f")
		if [ -n "$long" ]; then
			fail "$f has functions over 70 lines: $long"
		else
			pass "$f has no function over 70 lines"
		fi ;;
	esac
done

if grep -l '#include "worker.h"' "$srcdir"/tests/*.c "$srcdir"/tests/*.h \
	"$srcdir"/bench/*.c 2>/dev/null; then
	fail "tests or benchmarks include worker.h"
else
	pass "no test or benchmark includes worker.h"
fi

summary
