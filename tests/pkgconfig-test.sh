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
for lib in btevent btdht btmeta btstore; do
	need "$libdir/lib$lib.so"
	need "$includedir/$lib.h"
	need "$libdir/pkgconfig/lib$lib.pc"
	need "$mandir/man3/lib$lib.3"
done
need "$mandir/man3/bt_event_publish.3"
need "$mandir/man3/bt_dht_new.3"
need "$mandir/man3/bt_meta_submit.3"
need "$mandir/man3/bt_store_search.3"
need "$prefix/bin/dht-crawl"
need "$mandir/man1/dht-crawl.1"
need "$prefix/bin/meta-fetch"
need "$mandir/man1/meta-fetch.1"
need "$prefix/bin/store-query"
need "$mandir/man1/store-query.1"
[ "$failed" = 0 ] || exit 1

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
for pair in libbtevent:event-client libbtdht:dht-client libbtmeta:meta-client \
	libbtstore:store-client; do
	lib=${pair%%:*} prog=${pair#*:}
	cp "$srcdir/tests/pkgconfig/$prog.c" "$tmp/"
	flags=$(pkg-config --cflags --libs "$lib") || { echo "FAIL: pkg-config $lib"; exit 1; }
	echo "pkg-config --cflags --libs $lib: $flags"
	(cd "$tmp" && $cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror "$prog.c" -o "$prog" $flags) \
		|| { echo "FAIL: $prog does not build against the installed $lib"; exit 1; }
	LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/$prog" \
		|| { echo "FAIL: $prog did not run"; exit 1; }
	echo "ok: a program outside the tree builds and runs against the installed $lib"
done
for tool in dht-crawl meta-fetch store-query; do
	"$prefix/bin/$tool" --version || { echo "FAIL: the installed $tool does not run"; exit 1; }
done
