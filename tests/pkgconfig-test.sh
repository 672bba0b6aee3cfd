#!/bin/sh
# Run by `make installcheck`: the installed tree holds each library's .so, header, .pc and man
# pages, and a program outside the source tree builds against it with pkg-config alone and runs.
# usage: pkgconfig-test.sh PREFIX LIBDIR INCLUDEDIR MANDIR SRCDIR CC
set -u
prefix=$1 libdir=$2 includedir=$3 mandir=$4 srcdir=$5 cc=$6
failed=0
need() {
	if [ -e "$1" ]; then echo "ok: $1"; else echo "FAIL: missing $1"; failed=1; fi
}
need "$libdir/libbtevent.so"
need "$includedir/btevent.h"
need "$libdir/pkgconfig/libbtevent.pc"
need "$mandir/man3/libbtevent.3"
need "$mandir/man3/bt_event_publish.3"
[ "$failed" = 0 ] || exit 1

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
cp "$srcdir/tests/pkgconfig/event-client.c" "$tmp/"
export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
flags=$(pkg-config --cflags --libs libbtevent) || { echo "FAIL: pkg-config libbtevent"; exit 1; }
echo "pkg-config --cflags --libs libbtevent: $flags"
(cd "$tmp" && $cc -std=c11 -Wall -Wextra -Werror event-client.c -o event-client $flags) \
	|| { echo "FAIL: client does not build against the installed libbtevent"; exit 1; }
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/event-client" \
	|| { echo "FAIL: client did not run"; exit 1; }
echo "ok: a program outside the tree builds and runs against the installed libbtevent"
