#!/bin/bash
# check_faults.sh - the fault sweep: fail, one at a time, every system and
# allocation call that libsmarm makes in each fault program, and check that
# the program still ends well (tests/faultinject.c, tests/fault_api.c).
#
# For each program, each set-up in FAULT_SETUPS ("THREADS" or
# "THREADS:GUARD", GUARD a value of SMARM_STACK_GUARD) and each kind of
# call: one run without a fault counts the calls; then one run for every N
# in 1..count with SMARM_FAULT=call:N.  A run passes when it exits 0
# within FAULT_TIMEOUT seconds (the program checks the answers of the
# calls, the messages and the actors' work itself).  Then a valgrind pass
# over some of those points (every FAULT_VG_EVERY-th N of each kind, and
# its first and last; FAULT_VALGRIND=all for every point, =no for none):
# no memcheck error, no definite or indirect leak.
#
# Environment: BUILDDIR (the build tree; default: the current directory),
# FAULT_PROGS (programs, relative to BUILDDIR; default tests/fault_api),
# FAULT_SETUPS (default "1 2 1:mprotect"), FAULT_CALLS (kinds to sweep; default all
# that the program makes), FAULT_TIMEOUT (default 60), FAULT_VG_EVERY
# (default 16), FAULT_VALGRIND.  Failing runs' output is kept under
# $BUILDDIR/tests/faults/.
#
# Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.

set -u
BUILDDIR=${BUILDDIR:-$PWD}
FAULT_PROGS=${FAULT_PROGS:-tests/fault_api}
FAULT_SETUPS=${FAULT_SETUPS:-1 2 1:mprotect}
FAULT_TIMEOUT=${FAULT_TIMEOUT:-60}
FAULT_VG_EVERY=${FAULT_VG_EVERY:-16}
FAULT_VALGRIND=${FAULT_VALGRIND:-some}
out=$BUILDDIR/tests/faults
rm -rf "$out"
mkdir -p "$out"

swept=0
failures=0
vg_runs=0
declare -A per_call

# run LOG PROG SETUP SPEC [wrapper...]: one run; 0 when it passed.
run() {
	local log=$1 prog=$2 threads=${3%%:*} guard=auto spec=$4 rc
	case $3 in *:*) guard=${3#*:} ;; esac
	shift 4
	SMARM_THREADS=$threads SMARM_STACK_GUARD=$guard SMARM_FAULT=$spec \
		SMARM_FAULT_REPORT=$log.report \
		timeout -k 5 "$FAULT_TIMEOUT" "$@" "$prog" >"$log" 2>&1 </dev/null
	rc=$?
	echo "exit $rc" >>"$log"
	return $rc
}

# keep LOG WHY: a failing run's log stays; say so.
keep() {
	echo "FAIL: $2 (log: $1)"
	failures=$((failures + 1))
}

# vg_pick N COUNT: whether the valgrind pass takes point N of COUNT.
vg_pick() {
	case $FAULT_VALGRIND in
	all) return 0 ;;
	no) return 1 ;;
	esac
	[ "$1" -eq 1 ] || [ "$1" -eq "$2" ] || [ $(($1 % FAULT_VG_EVERY)) -eq 0 ]
}

vg=(valgrind -q --error-exitcode=99 --leak-check=full
	--show-leak-kinds=definite,indirect
	--errors-for-leak-kinds=definite,indirect --fair-sched=try
	--suppressions="${srcdir:-$BUILDDIR}/smarm.supp")

sweep() { # PROG SETUP
	local prog=$1 threads=$2 name base kind count n log calls
	name=$(basename "$prog")
	base=$out/$name-t${threads/:/-}
	if ! run "$base.count" "$prog" "$threads" ""; then
		keep "$base.count" "$name threads=$threads without a fault"
		return
	fi
	calls=${FAULT_CALLS:-$(awk '$1 == "count" && $3 > 0 { print $2 }' \
		"$base.count.report")}
	for kind in $calls; do
		count=$(awk -v k="$kind" '$1 == "count" && $2 == k { print $3 }' \
			"$base.count.report")
		count=${count:-0}
		# a few calls more than counted: runs differ a little
		[ "${threads%%:*}" -gt 1 ] && count=$((count + 2))
		for ((n = 1; n <= count; n++)); do
			log=$base-$kind-$n
			swept=$((swept + 1))
			per_call[$kind]=$((${per_call[$kind]:-0} + 1))
			if run "$log" "$prog" "$threads" "$kind:$n"; then
				grep '^tolerated' "$log" >>"$out/tolerated"
				rm -f "$log" "$log.report"
			else
				keep "$log" "$name threads=$threads $kind:$n"
				continue
			fi
			vg_pick "$n" "$count" || continue
			vg_runs=$((vg_runs + 1))
			if run "$log.vg" "$prog" "$threads" "$kind:$n" "${vg[@]}"; then
				rm -f "$log.vg" "$log.vg.report"
			else
				keep "$log.vg" "$name threads=$threads $kind:$n under valgrind"
			fi
		done
	done
}

start=$(date +%s)
for prog in $FAULT_PROGS; do
	case $prog in /*) ;; *) prog=$BUILDDIR/$prog ;; esac
	for threads in $FAULT_SETUPS; do
		sweep "$prog" "$threads"
	done
done
for kind in "${!per_call[@]}"; do
	echo "  $kind: ${per_call[$kind]}"
done | sort
if [ -s "$out/tolerated" ]; then
	echo "documented failures met (call, error, runs):"
	awk '{ k = $2; $1 = $2 = ""; sub(/^ +/, ""); n[k ": " $0]++ }
	     END { for (x in n) print "  " x ": " n[x] }' "$out/tolerated" |
		sort
fi
echo "valgrind runs: $vg_runs; wall time: $(($(date +%s) - start)) s"
echo "fault points swept: $swept, failures: $failures"
[ "$failures" -eq 0 ]
