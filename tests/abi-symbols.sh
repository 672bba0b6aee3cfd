#!/bin/sh
# Each shared library exports only its own bt_<lib>_ functions: nothing from common/, nothing
# from a dependency, no stray helper.  The prefix is derived from the name: libbtdht -> bt_dht_.
set -u
: "${NM:=nm}" "${top_builddir:=.}" "${SHARED_LIBS:?set by make check}"
failed=0
for la in $SHARED_LIBS; do
	base=$(basename "$la" .la)
	so="$top_builddir/$(dirname "$la")/.libs/$base.so"
	prefix="bt_${base#libbt}_"
	if [ ! -f "$so" ]; then
		echo "FAIL: $so not built"; failed=1; continue
	fi
	# Version-node names (type A) are not symbols of ours.
	syms=$($NM -D --defined-only "$so" | awk '$2 != "A" { print $3 }' | sed 's/@.*//')
	stray=$(printf '%s\n' "$syms" | grep -v "^$prefix" | grep -v '^$')
	count=$(printf '%s\n' "$syms" | grep -c "^$prefix")
	if [ -n "$stray" ]; then
		echo "FAIL: $base exports symbols outside $prefix*:"; printf '  %s\n' $stray; failed=1
	elif [ "$count" -eq 0 ]; then
		echo "FAIL: $base exports nothing"; failed=1
	else
		echo "ok: $base exports $count symbols, all $prefix*"
	fi
done
exit $failed
