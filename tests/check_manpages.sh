#!/bin/bash
# check_manpages.sh - every public name has a man page, and the pages lint clean.
#
# Run by make check from the build directory.  Environment:
#   srcdir     source tree (default .): reads include/smarm.h and man/
#   SMARM_LIB  shared library to inspect (default lib/.libs/libsmarm.so)
#
# Checks:
#   (a) every dynamic export of SMARM_LIB starts with smarm_ and has
#       man/<symbol>.3;
#   (b) every function-like macro SMARM_X( in the header has man/SMARM_X.3;
#   (c) every function declared SMARM_API in the header has a page and is
#       exported;
#   (d) every man/*.[37] page has a .TH line matching its file name and is
#       silent under mandoc -Tlint -Wwarning (mandoc is required) and, when
#       groff is installed, under groff -man -ww -z.
# Prints one line per check, then "N passed, N failed".  Exit status: 0 when
# all passed, 1 otherwise, 77 (skip) when nm is not installed.

# make check may start us with sh (SH_LOG_COMPILER = $(SHELL)).
if [ -z "${BASH_VERSION:-}" ]; then
	exec bash "$0" "$@"
fi

set -u

srcdir=${srcdir:-.}
lib=${SMARM_LIB:-lib/.libs/libsmarm.so}
header=$srcdir/include/smarm.h
mandir=$srcdir/man

. "$(dirname "$0")/testlib.sh"

if ! command -v nm >/dev/null 2>&1; then
	echo "SKIP: nm not found (install binutils)"
	exit 77
fi

# ---- (a) exports --------------------------------------------------------

exports=		# newline-separated list of exported names, once (a) ran
have_exports=no

if [ ! -e "$lib" ]; then
	fail "(a) library $lib not found: build it first, or set SMARM_LIB"
elif ! nm_out=$(LC_ALL=C nm -D --defined-only "$lib" 2>&1); then
	fail "(a) nm -D --defined-only $lib failed: $nm_out"
else
	have_exports=yes

	# A version script adds one absolute symbol per version node
	# ("A SMARM_0.1") and suffixes names ("smarm_spawn@@SMARM_0.1").
	# Those node symbols are not exports; nothing else is ignored.
	versions=$(printf '%s\n' "$nm_out" | awk 'NF >= 3 && $3 ~ /@/ {
		v = $3; sub(/^[^@]*@+/, "", v); print v }')
	if command -v readelf >/dev/null 2>&1; then
		versions=$versions$'\n'$(LC_ALL=C readelf -V --wide "$lib" 2>/dev/null |
			awk '/^Version definition section/ { d = 1; next }
			     /^Version/ { d = 0 }
			     d && /Name:/ { sub(/.*Name: */, ""); print $1 }')
	fi

	exports=$(printf '%s\n' "$nm_out" | awk -v versions="$versions" '
		BEGIN { n = split(versions, v, "\n"); for (i = 1; i <= n; i++) isver[v[i]] = 1 }
		NF >= 3 {
			name = $3
			if ($2 == "A" && (name in isver)) next
			sub(/@.*/, "", name)
			if (!(name in seen)) { seen[name] = 1; print name }
		}')

	if [ -z "$exports" ]; then
		fail "(a) $lib exports no symbol at all"
	fi
	while IFS= read -r sym; do
		[ -n "$sym" ] || continue
		case $sym in
		smarm_*)
			if [ -f "$mandir/$sym.3" ]; then
				pass "(a) export $sym has $mandir/$sym.3"
			else
				fail "(a) export $sym has no page $mandir/$sym.3"
			fi
			;;
		*)
			fail "(a) export $sym does not start with smarm_"
			;;
		esac
	done <<<"$exports"
fi

# ---- header parsing -------------------------------------------------------

if [ ! -r "$header" ]; then
	fail "header $header not readable (is srcdir right?)"
	macros=
	apis=
else
	# (b) function-like macros: the name is followed directly by "(".
	# SMARM__ names are internal to the header (STYLE.md) and need no page.
	macros=$(sed -n -E 's/^[[:space:]]*#[[:space:]]*define[[:space:]]+(SMARM_[A-Za-z0-9_]*)\(.*/\1/p' "$header" |
		grep -v '^SMARM__' | sort -u)

	# (c) SMARM_API functions: drop comments and preprocessor lines (with
	# their continuations), join the rest, split into declarations, and
	# take the identifier before the first "(".
	apis=$(awk '
		BEGIN { incomment = 0; cont = 0 }
		{
			if (cont) { cont = ($0 ~ /\\[ \t]*$/); next }
			line = $0; out = ""
			while (line != "") {
				if (incomment) {
					p = index(line, "*/")
					if (p == 0) { line = ""; break }
					line = substr(line, p + 2); incomment = 0
					continue
				}
				p = index(line, "/*"); q = index(line, "//")
				if (q > 0 && (p == 0 || q < p)) {
					out = out substr(line, 1, q - 1); break
				}
				if (p == 0) { out = out line; break }
				out = out substr(line, 1, p - 1) " "
				line = substr(line, p + 2); incomment = 1
			}
			if (out ~ /^[ \t]*#/) { cont = ($0 ~ /\\[ \t]*$/); next }
			printf "%s ", out
		}
		END { print "" }' "$header" |
		tr ';{}' '\n\n\n' |
		sed -n -E 's/^.*SMARM_API[^(]*[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\(.*$/\1/p' |
		sort -u)
	if [ -z "$apis" ]; then
		fail "(c) no SMARM_API function found in $header"
	fi
fi

# ---- (b) function-like macros ----------------------------------------------

if [ -n "$macros" ]; then
	while IFS= read -r m; do
		if [ -f "$mandir/$m.3" ]; then
			pass "(b) macro $m() has $mandir/$m.3"
		else
			fail "(b) macro $m() has no page $mandir/$m.3"
		fi
	done <<<"$macros"
else
	echo "note: (b) no function-like SMARM_ macro in $header"
fi

# ---- (c) SMARM_API functions ------------------------------------------------

if [ -n "$apis" ]; then
	while IFS= read -r f; do
		problems=
		if [ ! -f "$mandir/$f.3" ]; then
			problems="no page $mandir/$f.3"
		fi
		if [ "$have_exports" = yes ] && ! grep -qxF -- "$f" <<<"$exports"; then
			problems="${problems:+$problems; }not exported by $lib"
		fi
		if [ -z "$problems" ]; then
			if [ "$have_exports" = yes ]; then
				pass "(c) SMARM_API $f is exported and has a page"
			else
				pass "(c) SMARM_API $f has a page (exports not checked)"
			fi
		else
			fail "(c) SMARM_API $f: $problems"
		fi
	done <<<"$apis"
fi

# ---- (d) lint ---------------------------------------------------------------

shopt -s nullglob
pages=("$mandir"/*.[37])
shopt -u nullglob

have_mandoc=no
if command -v mandoc >/dev/null 2>&1; then
	have_mandoc=yes
else
	fail "(d) mandoc not found: it is required to lint the pages (apt-get install mandoc)"
fi
have_groff=no
if command -v groff >/dev/null 2>&1; then
	have_groff=yes
else
	echo "note: (d) groff not found; pages linted with mandoc only"
fi

if [ ${#pages[@]} -eq 0 ]; then
	fail "(d) no page found in $mandir"
fi

for page in "${pages[@]}"; do
	base=${page##*/}
	stem=${base%.*}
	sect=${base##*.}

	th=$(sed -n '/^\.TH[[:space:]]/{p;q;}' "$page")
	read -r _ th_title th_sect _ <<<"$th"
	want=$(printf '%s' "$stem" | tr '[:lower:]' '[:upper:]')
	if [ "$th_title" = "$want" ] && [ "$th_sect" = "$sect" ]; then
		pass "(d) $base: .TH $want $sect"
	else
		fail "(d) $base: .TH line is \"$th\", expected \".TH $want $sect ...\""
	fi

	if [ "$have_mandoc" = yes ]; then
		out=$(mandoc -Tlint -Wwarning "$page" 2>&1)
		rc=$?
		if [ -z "$out" ] && [ $rc -eq 0 ]; then
			pass "(d) $base: mandoc -Tlint -Wwarning"
		else
			fail "(d) $base: mandoc -Tlint -Wwarning (status $rc):"
			printf '%s\n' "$out" | sed 's/^/    /'
		fi
	fi

	if [ "$have_groff" = yes ]; then
		# Both the default (typesetter) and the terminal device.
		out=$(for dev in ps utf8; do
			LC_ALL=C.UTF-8 MANWIDTH=80 groff -man -ww -z -T"$dev" "$page" 2>&1 |
				sed "s/^/[-T$dev] /"
		done)
		if [ -z "$out" ]; then
			pass "(d) $base: groff -man -ww -z"
		else
			fail "(d) $base: groff -man -ww -z:"
			printf '%s\n' "$out" | sed 's/^/    /'
		fi
	fi
done

summary
