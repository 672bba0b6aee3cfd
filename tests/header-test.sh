#!/bin/sh
# Every public header compiles on its own, twice included, as C11 and as C++11, with every
# warning an error: a user may include any one of them first, from either language.
set -u
: "${CC:=cc}" "${CXX:=c++}" "${top_srcdir:=.}" "${PUBLIC_HEADERS:?set by make check}"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
failed=0
checked=0
for h in $PUBLIC_HEADERS; do
	name=$(basename "$h")
	dir=$(dirname "$top_srcdir/$h")
	printf '#include <%s>\n#include <%s>\nint bt_header_test_dummy;\n' "$name" "$name" > "$tmp/t.c"
	cp "$tmp/t.c" "$tmp/t.cc"
	if ! $CC -std=c11 -pedantic -Wall -Wextra -Werror -I"$dir" -c "$tmp/t.c" -o "$tmp/t.o"; then
		echo "FAIL: $h does not compile alone as C11"; failed=1
	fi
	if ! $CXX -std=c++11 -pedantic -Wall -Wextra -Werror -I"$dir" -c "$tmp/t.cc" -o "$tmp/t.o"; then
		echo "FAIL: $h does not compile alone as C++11"; failed=1
	fi
	checked=$((checked + 1))
done
echo "checked $checked public headers as C and C++"
[ "$checked" -gt 0 ] || exit 1
exit $failed
