#!/bin/bash
#
# long-test.sh - run a suite over and over, to shake out the rare races of
# the multi-worker scheduler that one run of `make check` misses.
#
# Usage: tests/long-test.sh [path/to/check_stress]
#
# Runs the built suite (default ./tests/check_stress; make check-long also
# runs ./tests/check_wake) 50 times in a row and
# stops at the first run that fails or hangs: each run is killed after
# 600 s.  SMARM_STRESS_SCALE is passed through to the suite (default 1;
# e.g. SMARM_STRESS_SCALE=5 tests/long-test.sh to run it harder).  The
# output of a failing run is shown; that of passing runs is not.
#
# Exits 0 when every run passed, otherwise with the failing run's status
# (124 for a hang).
#
# Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.

set -u

bin=${1:-./tests/check_stress}
runs=50
limit=600

if [ ! -x "$bin" ]; then
	echo "long-test: $bin: no such executable (build it: make tests/check_stress)" >&2
	exit 2
fi
if ! command -v timeout >/dev/null 2>&1; then
	echo "long-test: timeout(1) not found (coreutils)" >&2
	exit 2
fi

log=$(mktemp "${TMPDIR:-/tmp}/long-test.XXXXXX") || exit 2
trap 'rm -f "$log"' EXIT

echo "long-test: $bin, $runs runs, SMARM_STRESS_SCALE=${SMARM_STRESS_SCALE:-1}, at most $limit s each"
start=$SECONDS
for ((i = 1; i <= runs; i++)); do
	t0=$SECONDS
	# timeout signals the suite's whole process group, so Check's forked
	# test processes go too.
	timeout -k 10 "$limit" "$bin" >"$log" 2>&1
	status=$?
	dt=$((SECONDS - t0))
	if [ "$status" -ne 0 ]; then
		cat "$log"
		if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
			echo "long-test: run $i/$runs HUNG: killed after $limit s"
		else
			echo "long-test: run $i/$runs FAILED (exit status $status, $dt s)"
		fi
		echo "long-test: summary: $((i - 1)) of $runs runs ok, then run $i failed; $((SECONDS - start)) s in all"
		exit "$status"
	fi
	echo "long-test: run $i/$runs ok ($dt s)"
done
echo "long-test: summary: all $runs runs ok in $((SECONDS - start)) s"
exit 0
