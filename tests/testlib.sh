# testlib.sh - what the shell tests share: counting checks and the
# closing "N passed, N failed" line.  Sourced, not run:
#   . "$(dirname "$0")/testlib.sh"
# then pass/fail once per check, and end with `summary` (exit status 0
# when nothing failed, 1 otherwise).

passed=0
failed=0

pass() {
	passed=$((passed + 1))
	printf 'PASS: %s\n' "$*"
}

fail() {
	failed=$((failed + 1))
	printf 'FAIL: %s\n' "$*"
}

summary() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
