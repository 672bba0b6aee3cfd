#!/bin/sh
# Interop test of our DHT node against libtorrent-rasterbar's, on loopback only: runs
# tests/interop/lt_dht.py (eight libtorrent sessions on 127.0.60.1-8, our nodes on
# 127.0.60.100-101, all port 6881; no other test uses 127.0.60.0/24, so it runs in parallel
# with them).  Skips (77) when /usr/bin/python3 cannot import libtorrent: the Debian module
# python3-libtorrent is only visible to the system Python.
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
crawl="$top_builddir/tools/dht-crawl"

. "$top_srcdir/tests/interop/need-libtorrent.sh"
if [ ! -x "$crawl" ]; then
	echo "ERROR: $crawl not built"
	exit 99
fi

# The script caps itself at 115 s; timeout(1), where present, is a second fence (120 s in all) in
# case the interpreter hangs inside libtorrent.  Its 124 becomes 99 (ERROR): no verdict on our node.
if command -v timeout >/dev/null 2>&1; then
	timeout -k 2 118 "$PYTHON" "$top_srcdir/tests/interop/lt_dht.py" "$crawl"
else
	"$PYTHON" "$top_srcdir/tests/interop/lt_dht.py" "$crawl"
fi
rc=$?
case $rc in
0 | 1 | 77 | 99) exit $rc ;;
124 | 137) echo "ERROR: lt_dht.py ran past 118 s and was killed"; exit 99 ;;
*) echo "ERROR: lt_dht.py exited with status $rc"; exit 99 ;;
esac
