#!/bin/sh
# threads.sh - run one test program once per worker count.
#
# make check runs every Check suite through this script (LOG_COMPILER):
#   threads.sh PROGRAM [ARGS...]
# runs PROGRAM with SMARM_THREADS=1, then with SMARM_THREADS=2 (or with each
# number in SMARM_TEST_THREADS, e.g. SMARM_TEST_THREADS="1 2 4"), so that
# every runtime the suites make from smarm_config_init's defaults runs once
# with a single worker and once with several.  Each run's output is
# preceded by a line of its own, "threads=N:", so that Check's summary
# lines ("100%: Checks: ...") stay at the start of theirs.
#
# Exit status, for automake's test driver: 99 if a run said 99 (hard
# error), else the status of the first run that failed (not 0 or 77), else
# 77 if every run was skipped, else 0.

if [ $# -eq 0 ]; then
	echo "usage: $0 PROGRAM [ARGS...]" >&2
	exit 99
fi

# Suites that start no runtime (the queue suites) or fix their own worker
# count (the stress suite, the fuzz replay, whose inputs choose) would only
# repeat themselves: they run once.
counts=${SMARM_TEST_THREADS:-1 2}
case ${1##*/} in
check_runq | check_mpscq | check_deque | check_stress | check_wake | check_lock | check_freelist | check_timerheap | replay)
	counts=${counts%% *} ;;
esac

status=0
skipped=0
runs=0
for n in $counts; do
	echo "threads=$n:"
	SMARM_THREADS=$n "$@"
	rc=$?
	runs=$((runs + 1))
	case $rc in
	0) ;;
	77) skipped=$((skipped + 1)) ;;
	99) status=99 ;;
	*) [ $status -eq 0 ] && status=$rc ;;
	esac
	[ $rc -ne 0 ] && [ $rc -ne 77 ] && echo "threads=$n: exit status $rc"
done
if [ $status -eq 0 ] && [ $runs -gt 0 ] && [ $skipped -eq $runs ]; then
	status=77
fi
exit $status
