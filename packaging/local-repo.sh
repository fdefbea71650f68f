#!/bin/sh
# packaging/local-repo.sh - make a local apt repository of built .deb files
# and register it, so that a literal `apt install libsmarm-dev` works on
# this machine.  Run as root.
#
#   packaging/local-repo.sh add DIR     index DIR/*.deb, add it as an apt
#                                       source, refresh just that source
#   packaging/local-repo.sh remove      drop the source and its lists
#
# The repository is trusted without a signature ([trusted=yes]): it is a
# directory on this machine, for testing the packages before an upload.
set -eu

list=/etc/apt/sources.list.d/smarm-local.list

case "${1:-}" in
add)
	dir=$(cd "${2:?usage: $0 add DIR}" && pwd)
	ls "$dir"/*.deb >/dev/null
	(cd "$dir" && dpkg-scanpackages --multiversion . /dev/null > Packages)
	echo "deb [trusted=yes] file:$dir ./" > "$list"
	# Refresh this source alone: no network, the other lists untouched.
	apt-get update -qq -o Dir::Etc::sourcelist="$list" \
		-o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
	;;
remove)
	if [ -f "$list" ]; then
		dir=$(sed -n 's|^deb \[trusted=yes\] file:\(.*\) \./$|\1|p' "$list")
		rm -f "$list"
		# apt names a source's lists after its path.
		if [ -n "$dir" ]; then
			rm -f /var/lib/apt/lists/_"$(echo "${dir#/}" | tr / _)"_*
		fi
	fi
	;;
*)
	echo "usage: $0 add DIR | remove" >&2
	exit 2
	;;
esac
