#!/bin/bash
# check-fuzz.sh - make check-fuzz: libFuzzer over the public API.
#
#   check-fuzz.sh SRCDIR BUILDDIR
#
# Builds, in BUILDDIR/fuzz-build (apart from the ordinary build), every
# lib/*.c and the context switch with $FUZZ_CC -fsanitize=fuzzer-no-link,
# address,undefined (coverage, no libFuzzer main), and the harness
# tests/fuzz/fuzz_api.c with -fsanitize=fuzzer,address,undefined; then runs
# it for FUZZ_SECONDS over a working copy of the corpus (new inputs land in
# fuzz-build/corpus; the committed tests/fuzz/corpus is only read).  Prints
# libFuzzer's final stats (stat::number_of_executed_units, ...).  A crash,
# a leak, a UBSan report, an input that runs past 10 s (a hang) or an
# invariant of the harness that breaks (abort) fails the run; the input is
# written to fuzz-build/crash-*, leak-* or timeout-* (HACKING.md says how
# to replay it).
#
# Environment (set by the make target): FUZZ_CC, SMARM_ARCH,
# ATOMIC_OPS_CFLAGS, ATOMIC_OPS_LIBS, FUZZ_SECONDS (default 60), FUZZ_ARGS
# (more libFuzzer flags, e.g. -jobs=2).
#
# Stacks are instrumented too: lib/fiber.h tells AddressSanitizer about
# every switch between stacks, and a stack's shadow is cleared when it
# goes back to the pool, so frames an ended actor left behind are not
# taken for the next actor's.

set -eu
srcdir=$1
builddir=$2
out=$builddir/fuzz-build
cc=${FUZZ_CC:-clang}
arch=${SMARM_ARCH:-x86_64}
seconds=${FUZZ_SECONDS:-60}
flags="-g -O1 -fno-omit-frame-pointer"
incs="-I$builddir -I$srcdir/include ${ATOMIC_OPS_CFLAGS:-}"

mkdir -p "$out/obj" "$out/corpus"
# Rebuild the objects when any library file or this script is newer.
stamp=$out/obj/stamp
if [ ! -e "$stamp" ] || [ -n "$(find "$srcdir/lib" "$0" "$builddir/config.h" \
	-newer "$stamp" -print -quit)" ]; then
	echo "check-fuzz: building the library with $cc (fuzzer-no-link,address,undefined)"
	rm -f "$out"/obj/*.o
	for f in "$srcdir"/lib/*.c "$srcdir/lib/arch/$arch/switch.S"; do
		"$cc" $flags -fsanitize=fuzzer-no-link,address,undefined $incs \
			-pthread -c "$f" -o "$out/obj/$(basename "$f").o"
	done
	touch "$stamp"
fi
"$cc" $flags -fsanitize=fuzzer,address,undefined $incs \
	-o "$out/fuzz_api" "$srcdir/tests/fuzz/fuzz_api.c" "$out"/obj/*.o \
	${ATOMIC_OPS_LIBS:-} -pthread

echo "check-fuzz: running for $seconds s over $srcdir/tests/fuzz/corpus"
log=$out/fuzz.log
rc=0
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
	"$out/fuzz_api" -max_total_time="$seconds" -print_final_stats=1 \
	-max_len=256 -timeout=10 -artifact_prefix="$out/" ${FUZZ_ARGS:-} \
	"$out/corpus" "$srcdir/tests/fuzz/corpus" >"$log" 2>&1 || rc=$?
grep -a -E '^(stat::|Done )' "$log" || true
if [ $rc -ne 0 ]; then
	tail -n 60 "$log"
	echo "check-fuzz: FAILED (exit status $rc; the whole log is $log)"
	exit 1
fi
echo "check-fuzz: passed"
