#!/usr/bin/env bash
# Runs the Linux kernel's own iommufd selftest (tools/testing/selftests/
# iommu: the `iommufd` and `iommufd_fail_nth` programs), unmodified, against
# the simulator through libiommufd-sim-preload.so.  The kernel sources come
# from KSRC (a kernel tree or a kernel tarball) or else from Debian's
# linux-source-6.12 package, installed with apt when missing.  Only the
# files listed below (plus any further quoted #include under tools/ that
# they need) are extracted, into <builddir>/kselftest, never into the
# repository; the programs are built there against our headers (our
# include/uapi first on the include path, our iommufd_test.h where the
# test's relative #include expects the kernel's), run with LD_PRELOAD, and
# their TAP output is parsed into per-fixture counts and a closing line
# "N passed, N failed, N skipped".  Failed cases are results, not errors:
# the exit status is non-zero only when fetching, building or running the
# machinery breaks.  KSELFTEST_DIAGNOSE=1 reruns each failed case alone
# and reports which ioctls it saw fail (docs/kselftest.md).
set -uo pipefail

usage() {
	cat <<EOF
usage: $0 --srcdir DIR --builddir DIR --preload LIB

environment:
  KSRC=PATH              kernel tree or tarball (default: Debian linux-source-6.12)
  KSELFTEST_TIMEOUT=S    time limit per program in seconds (default 600)
  KSELFTEST_PROGRAMS=..  programs to run (default "iommufd iommufd_fail_nth")
  KSELFTEST_ARGS=..      extra harness arguments, e.g. "-f iommufd_ioas"
  KSELFTEST_DIAGNOSE=1   rerun each failed case alone and list failing ioctls
  KSELFTEST_VERBOSE=1    print the full TAP output
  IOMMUFD_SIM_CAPS=..    simulated capabilities (default here: all)
  IOMMUFD_SIM_HUGETLB=host  no MAP_HUGETLB emulation (default: emulate)
EOF
}

srcdir='' builddir='' preload=''
while [ $# -gt 0 ]; do
	case $1 in
	--srcdir) srcdir=$2; shift 2 ;;
	--builddir) builddir=$2; shift 2 ;;
	--preload) preload=$2; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
if [ -z "$srcdir" ] || [ -z "$builddir" ] || [ -z "$preload" ]; then
	usage >&2
	exit 2
fi

die() { echo "kselftest: $*" >&2; exit 2; }
note() { echo "kselftest: $*"; }

srcdir=$(cd "$srcdir" && pwd) || die "no source dir"
builddir=$(cd "$builddir" && pwd) || die "no build dir"
[ -f "$preload" ] || die "preload library $preload not built"
[ -f "$srcdir/include/uapi/iommufd_test.h" ] || die "$srcdir is not the iommufd-sim tree"

timeout_s=${KSELFTEST_TIMEOUT:-600}
programs=${KSELFTEST_PROGRAMS:-iommufd iommufd_fail_nth}
work=$builddir/kselftest
tree=$work/tree			# the kernel layout the test's #includes want
mkdir -p "$work" || die "cannot create $work"

# The files the selftest needs, relative to the kernel tree.  The whole
# iommu/ directory, the harness it includes, and the uapi header it takes
# from the kernel (<linux/vfio.h>; <linux/iommufd.h> is ours).  The test's
# own drivers/iommu/iommufd/iommufd_test.h is never taken: ours goes there.
FILES=(
	tools/testing/selftests/iommu/
	tools/testing/selftests/kselftest_harness.h
	tools/testing/selftests/kselftest.h
	include/uapi/linux/vfio.h
)
OURS=drivers/iommu/iommufd/iommufd_test.h

# ------------------------------------------------------------ sources

# Copy FILES (or the paths given) from a kernel tree directory.
copy_from_tree() { # ksrc path...
	local ksrc=$1 p; shift
	for p in "$@"; do
		[ -e "$ksrc/$p" ] || die "$ksrc has no $p (not a kernel tree?)"
		mkdir -p "$tree/$(dirname "$p")"
		cp -r "$ksrc/${p%/}" "$tree/$(dirname "$p")/" || die "copy of $p failed"
	done
}

# Extract paths from a kernel tarball whose members start with "$top/".
extract_from_tarball() { # tarball top path...
	local tarball=$1 top=$2 p; shift 2
	local members=()
	for p in "$@"; do members+=("$top/${p%/}"); done
	tar -xf "$tarball" -C "$tree" --strip-components=1 "${members[@]}" ||
		die "extracting ${members[*]} from $tarball failed"
}

# Quoted #includes under tools/ that the extracted sources reach but that
# are not there yet (newer trees may need more harness headers).
missing_includes() {
	local f inc dir target
	while IFS= read -r f; do
		dir=$(dirname "$f")
		sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
		while IFS= read -r inc; do
			target=$(realpath -m "$dir/$inc")
			case $target in
			"$tree"/*) ;;
			*) continue ;;
			esac
			target=${target#"$tree"/}
			[ "$target" = "$OURS" ] && continue
			case $target in tools/*) ;; *) continue ;; esac
			[ -e "$tree/$target" ] || echo "$target"
		done
	done < <(find "$tree/tools" -name '*.[ch]') | sort -u
}

have_header() {
	echo "#include <$1>" | ${CC:-cc} -E -x c - >/dev/null 2>&1
}

# apt-get install, with an update first only when apt cannot find it.
apt_install() { # package
	[ "$(id -u)" -eq 0 ] || return 1
	note "installing Debian's $1"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y "$1" >>"$work/apt.log" 2>&1 ||
		{ apt-get update >>"$work/apt.log" 2>&1 &&
		  apt-get install -y "$1" >>"$work/apt.log" 2>&1; }
}

fetch_sources() {
	local tarball top stamp want extra
	stamp=$work/.sources

	if [ -n "${KSRC:-}" ] && [ -d "$KSRC" ]; then
		want="dir $(cd "$KSRC" && pwd)"
	else
		if [ -n "${KSRC:-}" ]; then
			tarball=$KSRC
			[ -f "$tarball" ] || die "KSRC=$KSRC is neither a directory nor a file"
		else
			tarball=/usr/src/linux-source-6.12.tar.xz
			if [ ! -f "$tarball" ]; then
				apt_install linux-source-6.12 ||
					die "apt-get install linux-source-6.12 failed (root needed; see $work/apt.log)"
			fi
			[ -f "$tarball" ] || die "$tarball missing after installing linux-source-6.12"
		fi
		want="tar $(realpath "$tarball") $(stat -c '%s %Y' "$tarball")"
	fi

	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
	   [ -f "$tree/tools/testing/selftests/iommu/iommufd.c" ]; then
		note "sources: ${want#* } (already extracted)"
		return
	fi
	rm -rf "$tree" "$stamp"
	mkdir -p "$tree"
	note "sources: ${want#* }"
	if [ "${want%% *}" = dir ]; then
		copy_from_tree "$KSRC" "${FILES[@]}"
		while extra=$(missing_includes) && [ -n "$extra" ]; do
			note "also needed: $extra"
			# shellcheck disable=SC2086
			copy_from_tree "$KSRC" $extra
		done
	else
		top=$(tar -tf "$tarball" 2>/dev/null | head -n 1 | cut -d/ -f1)
		[ -n "$top" ] || die "cannot list $tarball"
		extract_from_tarball "$tarball" "$top" "${FILES[@]}"
		while extra=$(missing_includes) && [ -n "$extra" ]; do
			note "also needed: $extra"
			# shellcheck disable=SC2086
			extract_from_tarball "$tarball" "$top" $extra
		done
	fi
	echo "$want" >"$stamp"
}

# ------------------------------------------------------------ build

build_programs() {
	local p src libs cflags
	mkdir -p "$tree/$(dirname "$OURS")" "$work/khdr/linux"
	cp "$srcdir/include/uapi/iommufd_test.h" "$tree/$OURS" || die "cannot place iommufd_test.h"
	cp "$tree/include/uapi/linux/vfio.h" "$work/khdr/linux/vfio.h" || die "no vfio.h"
	cflags=(-Wall -O2 -Wno-unused-function -D_GNU_SOURCE -U_FORTIFY_SOURCE
		-D__user= -I"$srcdir/include/uapi" -isystem "$work/khdr")
	for p in $programs; do
		src=$tree/tools/testing/selftests/iommu/$p.c
		[ -f "$src" ] || die "no $p.c in the kernel sources"
		libs=()
		# Newer trees drop CAP_IPC_LOCK with libcap in change_process.
		if grep -q '<sys/capability.h>' "$src"; then
			have_header sys/capability.h || apt_install libcap-dev ||
				die "$p needs libcap: apt-get install libcap-dev"
			libs+=(-lcap)
		fi
		# From the source directory, so failure messages say "iommufd.c:".
		(cd "$(dirname "$src")" &&
		 ${CC:-cc} "${cflags[@]}" -o "$work/$p" "$p.c" "${libs[@]}") \
			>"$work/$p.build.log" 2>&1 ||
			{ cat "$work/$p.build.log" >&2; die "building $p failed"; }
	done
	note "built: $programs (against $srcdir/include/uapi)"
}

# ------------------------------------------------------------ run

# A sanitizer runtime the preload library needs must be preloaded first.
preload_list() {
	local rt
	rt=$(ldd "$preload" 2>/dev/null | awk '/lib(a|t|ub)san/ {print $3}' | head -n 1)
	if [ -n "$rt" ]; then echo "$rt:$preload"; else echo "$preload"; fi
}

# Run a program of ours under the preload library, from $work.
run_preloaded() { # [VAR=value...] program args...
	(cd "$work" && env IOMMUFD_SIM_FAKEFS="$work/fakefs" \
		IOMMUFD_SIM_CAPS="${IOMMUFD_SIM_CAPS:-all}" \
		LD_PRELOAD="$(preload_list)" "$@")
}

run_program() { # program -> $work/program.tap, returns the program's status
	local p=$1 args
	read -r -a args <<<"${KSELFTEST_ARGS:-}"
	run_preloaded timeout -k 10 "$timeout_s" "./$p" "${args[@]}" \
		>"$work/$p.tap" 2>&1
}

# Per-fixture counts from TAP: "fixture pass fail skip" lines, then a
# "TOTAL plan pass fail skip notrun" line.  XFAIL counts as passed, XPASS
# as failed; cases the plan promised but that never reported (a crash or
# the time limit) count as failed.
parse_tap() { # tapfile
	awk '
	/^1\.\.[0-9]+/ { if (!plan) plan = substr($1, 4) + 0 }
	/^(not )?ok [0-9]+ / {
		bad = ($1 == "not"); name = bad ? $4 : $3
		split(name, parts, "."); fx = parts[1]
		if (!(fx in seen)) { seen[fx] = 1; order[++nfx] = fx }
		if (bad) { fail[fx]++; F++ }
		else if ($0 ~ / # SKIP/) { skip[fx]++; S++ }
		else if ($0 ~ / # XPASS/) { fail[fx]++; F++ }
		else { pass[fx]++; P++ }
		done++
	}
	END {
		for (i = 1; i <= nfx; i++)
			printf "%s %d %d %d\n", order[i], pass[order[i]], fail[order[i]], skip[order[i]]
		nr = plan > done ? plan - done : 0
		printf "TOTAL %d %d %d %d %d\n", plan, P, F + nr, S, nr
	}' "$1"
}

# KSELFTEST_DIAGNOSE: rerun a failed case alone with the ioctl log on.
diagnose_case() { # program case
	local p=$1 c=$2 log out where line
	log=$work/diag/$c.ioctls
	mkdir -p "$work/diag"
	rm -f "$log"
	out=$(run_preloaded IOMMUFD_SIM_PRELOAD_LOG="$log" \
		timeout -k 10 120 "./$p" -r "$c" 2>&1)
	echo "$out" >"$work/diag/$c.tap"
	where=$(echo "$out" | grep -m1 -oE '^# [^: ]+\.[ch]:[0-9]+:' | sed 's/^# //; s/:$//')
	line=
	if [ -n "$where" ]; then
		line=$(sed -n "${where##*:}p" "$tree/tools/testing/selftests/iommu/$(basename "${where%%:*}")" |
		       sed 's/^[[:space:]]*//' | cut -c1-70)
	fi
	echo "  $c"
	echo "      first failure: ${where:-?} ${line}"
	if [ -s "$log" ]; then
		echo "      failing ioctls: $(awk '{print $2 "=" $3}' "$log" | sort | uniq -c |
			sort -rn | awk '{printf "%s%s(x%d)", n++ ? ", " : "", $2, $1}')"
		awk '$3 == "EOPNOTSUPP" || $3 == "ENOTTY" || $3 == "ENOSYS" {print $2 "=" $3}' \
			"$log" | sort -u | sed "s|\$| $c|" >>"$work/diag/unsupported.cases"
	fi
}

# ------------------------------------------------------------ main

fetch_sources
build_programs

total_pass=0 total_fail=0 total_skip=0
for p in $programs; do
	run_program "$p"
	rc=$?
	[ "${KSELFTEST_VERBOSE:-0}" = 1 ] && cat "$work/$p.tap"
	counts=$(parse_tap "$work/$p.tap")
	read -r _ plan pass fail skip notrun <<<"$(echo "$counts" | grep '^TOTAL ')"
	if [ "$plan" -eq 0 ]; then
		tail -n 20 "$work/$p.tap" >&2
		die "$p printed no test plan (exit status $rc); output in $work/$p.tap"
	fi
	echo "== $p: $plan cases (log: $work/$p.tap)"
	printf '  %-32s %6s %6s %6s\n' fixture passed failed skipped
	echo "$counts" | grep -v '^TOTAL ' | while read -r fx fp ff fs; do
		printf '  %-32s %6d %6d %6d\n' "$fx" "$fp" "$ff" "$fs"
	done
	[ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && echo "  time limit of ${timeout_s}s hit"
	[ "$notrun" -gt 0 ] && echo "  $notrun cases never reported (counted as failed)"
	echo "  $p: $pass passed, $fail failed, $skip skipped"
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	total_skip=$((total_skip + skip))
	failed_cases=$(grep -E '^not ok [0-9]+ ' "$work/$p.tap" | awk '{print $4}')
	if [ -n "$failed_cases" ]; then
		echo "  failed:"
		while read -r c; do echo "    $c"; done <<<"$failed_cases"
	fi
	if [ "${KSELFTEST_DIAGNOSE:-0}" = 1 ] && [ -n "$failed_cases" ]; then
		echo "== $p: diagnosis of failed cases (each rerun alone)"
		rm -f "$work/diag/unsupported.cases"
		for c in $failed_cases; do
			diagnose_case "$p" "$c"
		done
		if [ -s "$work/diag/unsupported.cases" ]; then
			echo "  unsupported (EOPNOTSUPP/ENOTTY) ioctls, by failed cases that hit them:"
			awk '{print $1}' "$work/diag/unsupported.cases" | sort | uniq -c | sort -rn |
				awk '{printf "    %4d  %s\n", $1, $2}'
		fi
	fi
done
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
exit 0
