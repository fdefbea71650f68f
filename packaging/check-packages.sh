#!/bin/bash
# packaging/check-packages.sh - build the Debian packages from this tree
# and use them as a new user would: install libsmarm-dev from a local apt
# repository, compile examples/quick_taste.c out of tree with pkg-config
# (shared, then fully static), run both, read the man pages; then remove
# the packages and the apt source again, also when a step fails or the run
# is interrupted.  Run as root on Debian 12 (make check-packaging).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/smarm-packaging.XXXXXX)
start=$(date +%s)
installed_by_us=0

cleanup() {
	status=$?
	trap '' INT TERM  # finish cleaning up even if interrupted again
	trap - EXIT
	if [ "$installed_by_us" = 1 ]; then
		apt-get remove -y -qq libsmarm-dev libsmarm0 >/dev/null 2>&1 || true
	fi
	"$src/packaging/local-repo.sh" remove || true
	rm -rf "$work"
	echo "check-packaging: $([ $status = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - start )) s"
	exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "check-packaging: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

step() { echo "== $*"; }

if [ ! -f "$src/debian/control" ]; then
	echo "no debian/ here: run this from a git checkout of smarm" >&2
	exit 1
fi
if dpkg-query -W -f='${Status}' libsmarm0 2>/dev/null | grep -q 'ok installed'; then
	echo "libsmarm0 is installed already; remove it first" >&2
	exit 1
fi

step "build dependencies"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq dpkg-dev debhelper lintian man-db >/dev/null
(cd "$src" && apt-get build-dep -y -qq ./ >/dev/null)

step "copy of the tree in $work"
mkdir "$work/smarm"
if git -C "$src" rev-parse >/dev/null 2>&1; then
	(cd "$src" && git ls-files -co --exclude-standard -z |
		tar --null -cf - -T -) | tar -xf - -C "$work/smarm"
else
	cp -a "$src/." "$work/smarm"
fi

step "dpkg-buildpackage -us -uc -b (DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-})"
(cd "$work/smarm" && dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1 ||
	{ tail -40 "$work/build.log"; exit 1; }
ls "$work"/*.deb

step "lintian --pedantic"
# lintian is not meant to run as root; run it as nobody when we are root.
lint=(lintian --pedantic -I --fail-on error,warning "$work"/smarm_*.changes)
if [ "$(id -u)" = 0 ]; then
	chmod -R a+rX "$work"
	runuser -u nobody -- env HOME=/tmp "${lint[@]}"
else
	"${lint[@]}"
fi
echo "lintian: no errors, no warnings"

step "apt install libsmarm-dev from a local repository"
mkdir "$work/repo"
cp "$work"/libsmarm0_*.deb "$work"/libsmarm-dev_*.deb "$work/repo"
"$src/packaging/local-repo.sh" add "$work/repo"
installed_by_us=1
apt install -y -qq libsmarm-dev >/dev/null 2>&1
dpkg-query -W libsmarm0 libsmarm-dev

step "compile examples/quick_taste.c out of tree"
mkdir "$work/user" && cp "$src/examples/quick_taste.c" "$work/user/"
cd "$work/user"
expected=$'got 1\ngot 2\ngot 3'
echo "pkg-config --cflags smarm: $(pkg-config --cflags smarm)"
echo "pkg-config --libs smarm: $(pkg-config --libs smarm)"
echo "pkg-config --static --libs smarm: $(pkg-config --static --libs smarm)"
cc -Wall -Wextra -Werror $(pkg-config --cflags smarm) quick_taste.c \
	$(pkg-config --libs smarm) -o quick_taste
[ "$(./quick_taste)" = "$expected" ]
ldd ./quick_taste | grep -q 'libsmarm.so.0 => /'
echo "shared: ok"
cc -static $(pkg-config --cflags smarm) quick_taste.c \
	$(pkg-config --static --libs smarm) -o quick_taste_static
[ "$(./quick_taste_static)" = "$expected" ]
if ldd ./quick_taste_static >/dev/null 2>&1; then
	echo "quick_taste_static is not static" >&2
	exit 1
fi
echo "static: ok"

step "man pages"
man -w smarm_spawn
man smarm_spawn 2>/dev/null | grep -q 'smarm_spawn'
man 7 smarm 2>/dev/null | grep -q 'actor'
echo "man smarm_spawn, man 7 smarm: ok"

step "gdb script"
py=/usr/share/smarm/gdb/smarm.py
test -f "$py"
if command -v gdb >/dev/null 2>&1; then
	gdb -nx -batch -ex "source $py" -ex 'help smarm-actors' \
		-ex 'help smarm-bt' 2>&1 | grep -q 'smarm-bt\|backtrace'
	echo "$py: loads in gdb, smarm-actors and smarm-bt: ok"
else
	echo "$py: installed (no gdb here to load it)"
fi
