#!/bin/bash
# check-scale.sh - `make check-scale`: a million idle actors and ten
# million short ones (tests/scale.c), each run a fresh process.
#
#   1,000,000 actors parked in smarm_recv, on 1 and on 2 workers, with
#     the default guard (madvise where the kernel has it) and with the
#     canary guard: every one spawned, woken, ended and joined;
#   the mprotect guard, whose two kernel mappings per stack run into
#     vm.max_map_count: spawning must stop with ENOMEM and one line on
#     standard error naming vm.max_map_count (or reach the million where
#     the limit allows it);
#   10,000,000 short actors, 100,000 a wave, on 1 and on 2 workers.
#
# Prints each program's line and its memory per idle actor; needs about
# 9 GiB of memory (the canary run).  Usage: check-scale.sh [path to tests/scale]
set -u
scale=${1:-tests/scale}
n=1000000
fail=0
err=$(mktemp)
trap 'rm -f "$err"' EXIT

# run NAME [VAR=VALUE...] ARGS...: one run; its standard error kept in
# $err, its line in $last.
run() {
	local name=$1 out vars=()
	shift
	while [[ $1 == *=* ]]; do
		vars+=("$1")
		shift
	done
	if ! out=$(env "${vars[@]}" "$scale" "$@" 2>"$err"); then
		echo "FAIL: $name"
		cat "$err"
		fail=1
		return 1
	fi
	echo "$out"
	last=$out
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$last"; }

for t in 1 2; do
	run "parked, default guard, $t workers" parked "$t" "$n" &&
		[ "$(field spawned)" != "$n" ] && {
			echo "FAIL: only $(field spawned) of $n parked"; fail=1; }
done
run "parked, canary guard" SMARM_STACK_GUARD=canary parked 1 "$n" &&
	[ "$(field spawned)" != "$n" ] && {
		echo "FAIL: only $(field spawned) of $n parked"; fail=1; }

# One actor a wave: the spawn sees the last stack go.
maps=$(cat /proc/sys/vm/max_map_count)
if run "parked, mprotect guard" SMARM_STACK_GUARD=mprotect \
	parked 1 "$n" 1; then
	if [ "$(field spawned)" = "$n" ]; then
		[ "$maps" -gt $((2 * n)) ] || {
			echo "FAIL: $n mprotect stacks in $maps mappings"
			fail=1; }
	elif [ "$(field error)" != ENOMEM ] ||
	     ! grep -q 'vm.max_map_count' "$err"; then
		echo "FAIL: mprotect guard stopped without naming the limit"
		cat "$err"
		fail=1
	else
		echo "mprotect guard: stopped at $(field spawned) with" \
			"vm.max_map_count = $maps:"
		cat "$err"
	fi
fi

for t in 1 2; do
	run "10,000,000 short actors, $t workers" waves "$t" 10000000 100000
done

[ "$fail" = 0 ] && echo "check-scale: PASS" || echo "check-scale: FAIL"
exit "$fail"
