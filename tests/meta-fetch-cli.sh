#!/bin/sh
# meta-fetch as users run it: usage errors exit 2 with a message; one meta-fetch serves two
# torrents on 127.0.65.1 while another reads NDJSON on stdin (a dht-crawl "peer" line, a
# "peers" line, a node line to skip, a line that is not JSON, one of 70,000 bytes, an
# infohash nobody has a peer for) and prints one line per torrent, writes .torrent files identical in their info to the
# originals, and exits 1 because one torrent could not be fetched.  127.0.65.0/24 is this
# test's alone.
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
mf="$top_builddir/tools/meta-fetch"
PY=$(command -v python3 || true)
[ -x "$mf" ] || { echo "ERROR: $mf not built"; exit 99; }
[ -n "$PY" ] || { echo "SKIP: python3 not found"; exit 77; }

tmp=$(mktemp -d) || exit 99
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

expect_usage() {
	"$mf" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ "$rc" = 2 ] || fail "meta-fetch $* exited $rc, want 2"
	[ -s "$tmp/err" ] || fail "meta-fetch $* printed no message"
}
"$mf" --help | grep -q 'usage: meta-fetch' || fail "--help"
"$mf" --version | grep -q 'libbtmeta' || fail "--version"
expect_usage --no-such-option
expect_usage 0123
expect_usage nothex0000000000000000000000000000000000 127.0.0.1:1
expect_usage 0123456789abcdef0123456789abcdef01234567 localhost:6881
expect_usage 0123456789abcdef0123456789abcdef01234567 127.0.0.1:0
expect_usage --connections 0 0123456789abcdef0123456789abcdef01234567 127.0.0.1:1
expect_usage --serve x.torrent
expect_usage -t "$tmp/nonexistent" 0123456789abcdef0123456789abcdef01234567 127.0.0.1:1

# Two torrents, one single-file with a name that is not UTF-8, one multi-file.
"$PY" - "$tmp" <<'EOF' || exit 99
import hashlib, sys
def be(x):
    if isinstance(x, int): return b'i%de' % x
    if isinstance(x, str): x = x.encode()
    if isinstance(x, bytes): return b'%d:%s' % (len(x), x)
    if isinstance(x, list): return b'l' + b''.join(be(i) for i in x) + b'e'
    return b'd' + b''.join(be(k) + be(x[k]) for k in sorted(x)) + b'e'
d = sys.argv[1]
pieces = bytes(range(256)) * 200  # 51,200 bytes: 4 metadata pieces
a = {b'name': b'caf\xe9.bin', b'piece length': 16384, b'length': 12345, b'pieces': pieces[:2560 * 20]}
b = {b'name': 'dir', b'piece length': 32768, b'pieces': pieces[:20 * 3],
     b'files': [{b'length': 1000, b'path': ['sub', 'one.txt']}, {b'length': 70000, b'path': ['two.bin']}]}
for n, info in (('a', a), ('b', b)):
    open('%s/%s.torrent' % (d, n), 'wb').write(be({b'announce': 'http://127.0.0.1/x', b'info': info}))
    open('%s/%s.ih' % (d, n), 'w').write(hashlib.sha1(be(info)).hexdigest())
EOF
ih_a=$(cat "$tmp/a.ih") ih_b=$(cat "$tmp/b.ih")

"$mf" --serve "$tmp/a.torrent" --serve "$tmp/b.torrent" --listen 127.0.65.1:0 \
	--serve-time 30 2>"$tmp/serve.err" &
server=$!
addr=
i=0
while [ $i -lt 100 ]; do
	addr=$(sed -n 's/^meta-fetch: listening on //p' "$tmp/serve.err")
	[ -n "$addr" ] && break
	kill -0 "$server" 2>/dev/null || fail "the server exited: $(cat "$tmp/serve.err")"
	sleep 0.1
	i=$((i + 1))
done
[ -n "$addr" ] || fail "the server never listened"

mkdir "$tmp/out.d"
cat >"$tmp/in" <<EOF
{"event":"ready","id":"00","addr":"127.0.0.1:1"}
{"event":"peer","infohash":"$ih_a","peer":"$addr"}
this is not json
{"infohash":"$ih_b","peers":["127.0.65.2:9","$addr"]}
{"event":"infohash","infohash":"ffffffffffffffffffffffffffffffffffffffff"}
EOF
head -c 70000 /dev/zero | tr '\0' x >>"$tmp/in"
echo >>"$tmp/in"
"$mf" -t "$tmp/out.d" --connect-timeout 2 --timeout 20 <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 1 ] || fail "exit $rc, want 1 (one torrent had no peer); stderr: $(cat "$tmp/err")"
grep -q 'not JSON' "$tmp/err" || fail "no warning about the bad line"
grep -q 'longer than' "$tmp/err" || fail "no warning about the overlong line"

"$PY" - "$tmp" "$ih_a" "$ih_b" <<'EOF' || exit 1
import json, sys
d, ih_a, ih_b = sys.argv[1:]
lines = [json.loads(l) for l in open(d + '/out')]
by = {l['infohash']: l for l in lines}
assert len(lines) == 3, lines
a, b, c = by[ih_a], by[ih_b], by['f' * 40]
assert a['status'] == 'ok' and a['name'] == 'caf\\xe9.bin' and a['name_hex'] == '636166e92e62696e', a
assert a['length'] == 12345 and a['pieces'] == 2560 and a['metadata_size'] > 49152, a
assert b['status'] == 'ok' and b['name'] == 'dir' and b['length'] == 71000, b
assert [f['path'] for f in b['files']] == ['sub/one.txt', 'two.bin'], b
assert b['peers_known'] == 2, b
assert c['status'] == 'error' and c['error'] == 'no peer known', c
def info(p):
    t = open(p, 'rb').read()
    i = t.index(b'4:info')
    return t[i + 6:-1]
for n, ih in (('a', ih_a), ('b', ih_b)):
    got = by[ih]['torrent']
    assert info(got) == info('%s/%s.torrent' % (d, n)), n
print('ok: 3 lines, .torrent files identical in their info')
EOF

# The single-infohash form, and a peer that refuses: exit 1 with an error line.
"$mf" "$ih_a" "$addr" >"$tmp/one" || fail "single fetch"
grep -q '"status":"ok"' "$tmp/one" || fail "single fetch output: $(cat "$tmp/one")"
"$mf" --connect-timeout 2 "$ih_a" 127.0.65.3:9 >"$tmp/refused"
rc=$?
[ "$rc" = 1 ] || fail "refused peer: exit $rc, want 1"
grep -q '"error":"no peer delivered the metadata"' "$tmp/refused" || fail "refused: $(cat "$tmp/refused")"
echo "ok: meta-fetch usage errors, NDJSON in and out, .torrent files, exit codes"
exit 0
