#!/bin/sh
# Replays each fuzz target's seed corpus (and past crashes kept there) through the target's
# checks, built without libFuzzer: every build runs them as regression tests.
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
failed=0
for corpus in "$top_srcdir"/fuzz/corpus/*/; do
	name=$(basename "$corpus")
	bin="$top_builddir/fuzz/$name-replay"
	if [ ! -x "$bin" ]; then
		echo "FAIL: no replay binary for corpus $name"; failed=1; continue
	fi
	"$bin" "$corpus" || { echo "FAIL: $name"; failed=1; }
done
exit $failed
