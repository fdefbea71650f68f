#!/bin/bash
# check_examples.sh - every EXAMPLES program of the man pages compiles, runs
# and prints what its page says it prints.
#
# Run by make check from the build directory.  Environment:
#   srcdir      source tree (default .): reads include/smarm.h and man/
#   SMARM_LIB   shared library to link (default lib/.libs/libsmarm.so, the
#               libtool library lib/libsmarm.la once built); the programs
#               run with its directory in their rpath and LD_LIBRARY_PATH
#   CC          C compiler, possibly with options (default cc)
#   EXAMPLE_CFLAGS       more compiler flags (e.g. -fsanitize=...), if any
#   SMARM_TEST_THREADS   worker counts to run each program with (default
#                        "1 2"), as SMARM_THREADS in its environment
#
# Convention in the pages (man/*.3 and man/*.7), all within the EXAMPLES
# section (from ".SH EXAMPLES" to the next ".SH"):
#
#   * The first .EX/.EE block is the example program.  It must be a
#     complete C program: it is compiled with $CC -std=gnu11 -Wall -Wextra
#     -Werror -pthread against the in-tree header and library, and run with
#     each worker count, with no argument, stdin from /dev/null and a limit
#     of 20 seconds; it must exit with status 0.
#   * A later .EX/.EE block whose last line of text before it (requests
#     such as .PP and .RS do not count) is exactly
#         The output is:
#     states the program's standard output.  The program must print exactly
#     that, byte for byte once the roff escapes are turned into text, with
#     every worker count: state only output that the documented semantics
#     guarantee.  Standard error is never compared.  Output that varies is
#     described in prose instead, and is not checked.
#   * Any other .EX/.EE block in the section is an error, so that a stated
#     output cannot go unchecked by being worded differently, unless the
#     comment line
#         .\" example: unchecked
#     comes between the previous block and its .EX.
#   * A page whose example is not a complete program says so with the
#     comment line
#         .\" example: fragment
#     in its EXAMPLES section; it is reported as FRAGMENT and neither built
#     nor counted.  A page with no EXAMPLES section at all carries
#         .\" example: none
#     anywhere instead; without either, it fails.
#
# Roff in the blocks: \e and \\ are a backslash, \- a minus, \(aq \(dq \(ga
# \(ti \(ha \(rs the characters ' " ` ~ ^ \, \& \% \| \^ and font changes
# (\fB, \fI, \fR, \fP, \f(..) nothing, \~ and "\ " a space; \" starts a
# comment.  Lines starting with .\" are comments; any other request, or any
# other escape, inside a block is an error.
#
# Prints one line per page (PASS, FAIL, FRAGMENT or NONE; under a FAIL,
# the compiler's or the program's output, or a diff), then a last line
# "N passed, N failed".
# Exit status: 0 when all passed, 1 otherwise, 77 (skip) when perl or
# timeout is not installed.

# make check may start us with sh (SH_LOG_COMPILER = $(SHELL)).
if [ -z "${BASH_VERSION:-}" ]; then
	exec bash "$0" "$@"
fi

set -u

srcdir=${srcdir:-.}
lib=${SMARM_LIB:-lib/.libs/libsmarm.so}
cc=${CC:-cc}
extra_cflags=${EXAMPLE_CFLAGS:-}
counts=${SMARM_TEST_THREADS:-1 2}
run_limit=20

. "$(dirname "$0")/testlib.sh"

indent() {
	sed 's/^/    /'
}

for tool in perl timeout; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool not found"
		exit 77
	fi
done

# The programs are built and run in a scratch directory: make paths
# absolute first.
abspath() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$PWD" "$1" ;;
	esac
}
srcdir=$(abspath "$srcdir")
lib=$(abspath "$lib")
incdir=$srcdir/include
mandir=$srcdir/man
libdir=${lib%/*}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_examples.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

# extract PAGE DIR: writes DIR/kind ("program", "fragment" or "none"),
# DIR/prog.c for a program and DIR/expected when the page states an output.
# Exits non-zero, with the reason on stderr, when the page breaks the
# convention.
extract() {
	perl -e '
use strict;
use warnings;

my ($page, $dir) = @ARGV;
open(my $in, "<", $page) or die "cannot read $page: $!\n";
my @lines = <$in>;
close($in);
chomp(@lines);

my %char = (aq => "\x27", dq => "\"", ga => "`", ti => "~", ha => "^",
	    rs => "\\");

# Turn the roff text of one line of an .EX block into plain text.
sub unroff {
	my ($s, $where) = @_;
	my $out = "";
	while ($s =~ /\G([^\\]*)\\(\((..)|\[([^\]]*)\]|f(?:\(..|\[[^\]]*\]|.)|.)?/gc) {
		$out .= $1;
		my $esc = $2;
		die "$where: backslash at the end of the line\n" unless defined $esc;
		my $name = defined $3 ? $3 : $4;
		if (defined $name) {
			die "$where: unknown character escape \\$esc\n"
				unless exists $char{$name};
			$out .= $char{$name};
		} elsif ($esc eq "e" || $esc eq "\\") {
			$out .= "\\";
		} elsif ($esc eq "-") {
			$out .= "-";
		} elsif ($esc eq "~" || $esc eq " ") {
			$out .= " ";
		} elsif ($esc =~ /^(?:&|%|\||\^|f.*)$/) {
			# nothing
		} elsif ($esc eq "\"") {
			return $out;	# a comment runs to the end of the line
		} else {
			die "$where: unknown escape \\$esc\n";
		}
	}
	$s =~ /\G(.*)/g;
	return $out . $1;
}

my $in_ex = 0;
my $in_sec = 0;
my $seen_sec = 0;
my ($fragment, $none, $unchecked) = (0, 0, 0);
my $last_text = "";
my (@blocks, $cur, $cur_kind);

for (my $i = 0; $i < @lines; $i++) {
	my $l = $lines[$i];
	my $where = "$page:" . ($i + 1);

	$none = 1 if $l =~ /^\.\\"\s*example:\s*none\s*$/;
	if ($in_ex) {
		if ($l =~ /^\.EE\b/) {
			push @blocks, [$cur_kind, $cur];
			$in_ex = 0;
			$last_text = "";
			$unchecked = 0;
		} elsif ($l =~ /^[.\x27]\\"/) {
			# a comment line
		} elsif ($l =~ /^[.\x27]/) {
			die "$where: request inside .EX: $l\n";
		} else {
			$cur .= unroff($l, $where) . "\n";
		}
		next;
	}
	if ($l =~ /^\.SH\s+"?EXAMPLES?"?\s*$/) {
		$in_sec = 1;
		$seen_sec = 1;
		next;
	}
	if ($l =~ /^\.SH\b/) {
		$in_sec = 0;
		next;
	}
	next unless $in_sec;

	if ($l =~ /^\.\\"\s*example:\s*(\S+)\s*$/) {
		if ($1 eq "fragment") {
			$fragment = 1;
		} elsif ($1 eq "unchecked") {
			$unchecked = 1;
		} elsif ($1 ne "none") {
			die "$where: unknown marker \"example: $1\"\n";
		}
	} elsif ($l =~ /^\.EX\b/) {
		if (!@blocks) {
			$cur_kind = "program";
		} elsif ($last_text eq "The output is:") {
			$cur_kind = "output";
		} elsif ($unchecked) {
			$cur_kind = "unchecked";
		} else {
			die "$where: .EX block after the program that is neither " .
			    "introduced by \"The output is:\" nor marked " .
			    "\".\\\" example: unchecked\"\n";
		}
		$in_ex = 1;
		$cur = "";
	} elsif ($l =~ /^[.\x27]/) {
		# a request: .PP, .RS, .RE, a comment, ...
	} else {
		$last_text = $l;
	}
}
die "$page: .EX without .EE\n" if $in_ex;

sub put {
	my ($name, $text) = @_;
	open(my $out, ">", "$dir/$name") or die "cannot write $dir/$name: $!\n";
	print $out $text;
	close($out) or die "cannot write $dir/$name: $!\n";
}

if (!$seen_sec) {
	die "$page: no EXAMPLES section, and no \".\\\" example: none\" " .
	    "marker\n" unless $none;
	put("kind", "none\n");
	exit 0;
}
die "$page: EXAMPLES section without an .EX block\n" unless @blocks;
my @out = grep { $_->[0] eq "output" } @blocks;
die "$page: more than one stated output\n" if @out > 1;
if ($fragment) {
	die "$page: a fragment cannot have a stated output\n" if @out;
	put("kind", "fragment\n");
	exit 0;
}
put("kind", "program\n");
put("prog.c", $blocks[0][1]);
put("expected", $out[0][1]) if @out;
' "$1" "$2"
}

# ---- the checks -------------------------------------------------------------

if [ ! -r "$incdir/smarm.h" ]; then
	fail "header $incdir/smarm.h not readable (is srcdir right?)"
fi
if [ ! -e "$lib" ]; then
	fail "library $lib not found: build it first, or set SMARM_LIB"
fi
if ! command -v "${cc%% *}" >/dev/null 2>&1; then
	fail "C compiler $cc not found: set CC"
fi

shopt -s nullglob
pages=("$mandir"/*.[37])
shopt -u nullglob
if [ ${#pages[@]} -eq 0 ]; then
	fail "no page found in $mandir"
fi

if [ "$failed" -ne 0 ]; then
	summary
	exit 1
fi

for page in "${pages[@]}"; do
	base=${page##*/}
	dir=$tmp/$base
	mkdir -p "$dir"

	if ! err=$(extract "$page" "$dir" 2>&1); then
		fail "$base: the EXAMPLES section breaks the convention:"
		printf '%s\n' "$err" | indent
		continue
	fi
	kind=$(cat "$dir/kind")
	case $kind in
	fragment)
		printf 'FRAGMENT: %s: marked as a fragment, not built\n' "$base"
		continue
		;;
	none)
		printf 'NONE: %s: marked as having no example\n' "$base"
		continue
		;;
	esac

	# shellcheck disable=SC2086 # CC and EXAMPLE_CFLAGS are lists of words
	if ! out=$($cc -std=gnu11 -Wall -Wextra -Werror -pthread \
		-I"$incdir" $extra_cflags -o "$dir/prog" "$dir/prog.c" \
		"$lib" -Wl,-rpath,"$libdir" 2>&1); then
		fail "$base: the example does not compile:"
		printf '%s\n' "$out" | indent
		continue
	fi

	problems=
	for n in $counts; do
		(cd "$dir" && SMARM_THREADS=$n \
			LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
			timeout "$run_limit" ./prog </dev/null \
			>"out.$n" 2>"err.$n")
		rc=$?
		why=
		if [ $rc -eq 124 ]; then
			why="did not end within $run_limit s"
		elif [ $rc -ne 0 ]; then
			why="exit status $rc"
		elif [ -f "$dir/expected" ] &&
			! cmp -s "$dir/expected" "$dir/out.$n"; then
			why="output differs from the page"
		fi
		if [ -n "$why" ]; then
			problems="${problems:+$problems; }SMARM_THREADS=$n: $why"
			{
				echo "SMARM_THREADS=$n: $why"
				if [ "$why" = "output differs from the page" ]; then
					diff -u --label "stated in $base" \
						--label "printed" \
						"$dir/expected" "$dir/out.$n"
				else
					if [ -s "$dir/out.$n" ]; then
						echo "standard output:"
						cat "$dir/out.$n"
					else
						echo "standard output: (none)"
					fi
				fi
				if [ -s "$dir/err.$n" ]; then
					echo "standard error:"
					cat "$dir/err.$n"
				fi
			} >>"$dir/report"
		fi
	done

	runs="ran with SMARM_THREADS=$(printf '%s' "$counts" | sed 's/  */, /g')"
	if [ -n "$problems" ]; then
		fail "$base: $problems"
		indent <"$dir/report"
	elif [ -f "$dir/expected" ]; then
		pass "$base: built, $runs, output as stated"
	else
		pass "$base: built, $runs (no stated output)"
	fi
done

summary
