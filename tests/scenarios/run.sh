#!/bin/sh
# Scenario tests of the iommufd-sim program, run by `make check`.  Plays
# every tests/scenarios/*.scn with `iommufd-sim run`: a file passes when
# the exit status is the one its `#! status: N` line names (0 if none)
# and every `#! stderr: TEXT` line appears in what the run wrote on
# stderr; a `#! options: -k` line adds options to `run` (-k lets one
# fail_* file show several lines that do not hold).  Then checks the
# demo's key lines, --help of every command, the three trace formats
# and the DOT output (rendered by Graphviz when it is installed).
set -u
srcdir=${srcdir:-$(dirname "$0")/../..}
sim=${ISIM:-./iommufd-sim}
case $sim in /*) ;; *) sim=$(pwd)/$sim ;; esac
dir=$srcdir/tests/scenarios
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
failed=0

fail() {
	echo "FAIL: $*"
	failed=$((failed + 1))
}

for f in "$dir"/*.scn; do
	name=$(basename "$f")
	want=$(sed -n 's/^#! status: *//p' "$f")
	opts=$(sed -n 's/^#! options: *//p' "$f")
	# $opts is unquoted on purpose: it may hold several options.
	(cd "$dir" && "$sim" run -q $opts "$name") >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" != "${want:-0}" ]; then
		fail "$name: exit status $got, expected ${want:-0}"
		cat "$tmp/err"
		continue
	fi
	sed -n 's/^#! stderr: *//p' "$f" >"$tmp/want"
	while IFS= read -r line; do
		grep -qF -- "$line" "$tmp/err" ||
			fail "$name: stderr lacks: $line"
	done <"$tmp/want"
	echo "ok: $name"
done

# The demo plays with no arguments and tells the story's key lines: the
# CMDQV's pinned, contiguous queue running guest commands (CONS moves,
# the IOTLB entry goes, an illegal command stops it and comes back as a
# vEVENT, IOAS_UNMAP is EBUSY), AMD's unpinned rings (the unmap goes
# through, the next command is a COMMAND_HARDWARE_ERROR) and the v8 bug.
if "$sim" demo --explain >"$tmp/demo" 2>"$tmp/err"; then
	for key in 'iommu smmu tegra241-cmdqv' 'backing=thp' \
		'contiguity verdict (per-page check): physically contiguous' \
		'allocated to the VINTF as its LVCMDQ 0; BASE = ' \
		'CONFIG.EN := 1; STATUS.ENABLED followed' \
		'CONS    0x00000002  RD 2, wrap 0; ERR 0 (none)' \
		'ok: $cached = 0' 'ERR 1 (ILL)' 'active: CMDQ_ERR' \
		'the entry at RD 2: CFGI_STE' \
		'the driver reports it as a vEVENT' \
		'vEVENT seq 0: LVCMDQ_ERR_MAP 0x1: error in LVCMDQ 0' \
		'is locked by 1 internal pin' 'EBUSY, as expected' \
		'iommu amd amd-viommu' 'nothing was pinned' \
		'0 pinned frames in 0 physically contiguous runs' \
		'ok: $semaphore = 1' \
		'COMMAND_HARDWARE_ERROR: target abort at GPA 0x100010' \
		'CmdBufEn 1, CmdBufRun 0' \
		'v8 rounding' 'undo: hw_queue' 'ERANGE, as expected' \
		'ok: the invariants hold'; do
		grep -qF -- "$key" "$tmp/demo" || fail "demo --explain lacks: $key"
	done
	echo "ok: demo --explain"
else
	fail "demo --explain exits $?"
	cat "$tmp/err"
fi
"$sim" >/dev/null 2>&1 || fail "iommufd-sim with no arguments does not play the demo"
"$sim" demo --source >"$tmp/demo.scn" && "$sim" run -q "$tmp/demo.scn" >/dev/null ||
	fail "demo --source does not run"

for cmd in run demo trace dot help version; do
	"$sim" "$cmd" --help >/dev/null 2>&1 || [ "$cmd" = version ] ||
		fail "$cmd --help"
done
"$sim" help run | grep -q 'usage: iommufd-sim run' || fail "help run"
"$sim" frobnicate >/dev/null 2>&1; [ $? = 2 ] || fail "an unknown command is not exit 2"
"$sim" run "$dir/no-such-file.scn" >/dev/null 2>&1; [ $? = 2 ] || fail "a missing file is not exit 2"

# Traces: one event per line, JSON lines, Chrome's object.
scn=$dir/hw_queue_phys.scn
"$sim" trace "$scn" >"$tmp/t.txt" || fail "trace text"
grep -q 'hw_queue.contig' "$tmp/t.txt" || fail "the text trace lacks hw_queue.contig"
"$sim" trace --format jsonl -o "$tmp/t.jsonl" "$scn" || fail "trace jsonl"
grep -v '^{"machine":.*"point":".*","args":{.*}}$' "$tmp/t.jsonl" | head -3 >"$tmp/bad"
[ -s "$tmp/bad" ] && fail "jsonl lines that are not objects: $(cat "$tmp/bad")"
"$sim" trace -f chrome "$scn" >"$tmp/t.json" || fail "trace chrome"
head -c 40 "$tmp/t.json" | grep -q '^{"displayTimeUnit":"ns","traceEvents":\[' ||
	fail "chrome trace header"
tail -n 1 "$tmp/t.json" | grep -q '^]}$' || fail "chrome trace end"
if command -v python3 >/dev/null 2>&1; then
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/t.json" ||
		fail "the chrome trace is not JSON"
	python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$tmp/t.jsonl" ||
		fail "the jsonl trace is not JSON lines"
fi
"$sim" trace -f yaml "$scn" >/dev/null 2>&1; [ $? = 2 ] || fail "an unknown trace format is not exit 2"

# The object graph.
"$sim" dot -o "$tmp/g.dot" "$scn" || fail "dot"
grep -q 'hw_queue' "$tmp/g.dot" && grep -q -- '->' "$tmp/g.dot" ||
	fail "the graph lacks the queue or its edges"
if command -v dot >/dev/null 2>&1; then
	dot -Tsvg "$tmp/g.dot" >"$tmp/g.svg" || fail "Graphviz cannot render the graph"
else
	echo "note: Graphviz is not installed; the DOT output was not rendered"
fi

echo "$failed failure(s)"
[ "$failed" = 0 ]
