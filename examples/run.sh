#!/bin/sh
# Plays every examples/*.scn with the iommufd-sim just built (`make
# check`; examples/README.md lists them).  An example passes when
# `iommufd-sim run` exits 0: every line of it held.  One line per file;
# the exit status is non-zero if any example failed.
#
# The scenarios are found through $srcdir, which the test harness sets
# (VPATH builds, `make distcheck`); run by hand, the script's own
# directory is used.  The program is ./iommufd-sim of the current (build)
# directory unless ISIM names another.
set -u
srcdir=${srcdir:-$(dirname "$0")/..}
sim=${ISIM:-./iommufd-sim}
case $sim in /*) ;; *) sim=$(pwd)/$sim ;; esac
dir=$srcdir/examples
if [ ! -x "$sim" ]; then
	echo "ERROR: $sim is not built"
	exit 99
fi
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
total=0
failed=0

for f in "$dir"/*.scn; do
	if [ ! -f "$f" ]; then
		echo "ERROR: no scenario in $dir"
		exit 99
	fi
	name=$(basename "$f")
	total=$((total + 1))
	if "$sim" run -q "$f" >"$tmp/out" 2>"$tmp/err"; then
		echo "ok: $name"
	else
		echo "FAIL: $name (exit status $?)"
		sed 's/^/    /' "$tmp/err"
		failed=$((failed + 1))
	fi
done

echo "$total example(s), $failed failure(s)"
[ "$failed" = 0 ]
