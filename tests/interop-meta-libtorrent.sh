#!/bin/sh
# Interop test of meta-fetch's metadata download (BEP 9 ut_metadata over BEP 10) from a real
# libtorrent-rasterbar 2.0 seeder, on loopback only.  tests/interop/lt_meta.py makes two
# deterministic v1 torrents with 16 KiB pieces: "single" (one file; 34 KB info dict = 3
# metadata pieces, the last one short) and "multi" (4 files in nested directories, one with a
# non-ASCII UTF-8 name; 18 KB info dict = 2 pieces).  One libtorrent session seeds both on
# 127.0.61.1:6991 (no DHT/LSD/UPnP/NAT-PMP, no trackers); no other test uses that address.
#
# Checks:
#   1-2  meta-fetch -t DIR INFOHASH 127.0.61.1:6991, for each torrent: exit 0; one NDJSON line
#        with status ok and name, length, files, piece_length, private, metadata_size, peer,
#        fetch_ms, torrent as the original says; DIR/<hex>.torrent holds the original's exact
#        info bytes and opens in libtorrent (lt.torrent_info).
#   3    batch mode: three NDJSON jobs on stdin (single with "peer", multi with "peers", an
#        info-hash the seeder does not have): exit 1; the two good ones as in 1-2, the unknown
#        one status error.
# When meta-fetch fails, libtorrent fetches the same metadata from the same seeder as a control:
# if that fails too the seeder is broken and the result is ERROR (99), not FAIL.
#
# Exit: 0 pass, 1 fail, 77 skip (no /usr/bin/python3 with libtorrent), 99 error (meta-fetch
# not built, setup failed, time cap).  Every wait has a deadline (meta-fetch runs: timeout(1));
# the whole script is capped at 55 s.  A passing run takes ~2 s.
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
SEED_IP=127.0.61.1
SEED_PORT=6991

NAME=interop-meta-lt
. "$top_srcdir/tests/interop/meta-harness.sh"

# The seeder stops on SIGTERM, after 50 s, or at EOF on stdin: a FIFO whose write end this shell
# holds on fd 3, so that it stops however this shell dies.
mkfifo "$tmp/seed.in" || exit 99
start seed "$tmp/seed.in" "$PYTHON" "$helper" seed "$tmp/single.torrent" "$tmp/data" \
	$SEED_IP $SEED_PORT --add "$tmp/multi.torrent" --time 50
exec 3>"$tmp/seed.in"
if ! h wait-line "$tmp/seed.out" ready "$(budget 10)"; then
	echo "ERROR: the libtorrent seeder did not become ready within 10 s:"
	sed 's/^/    /' "$tmp/seed.err"
	exit 99
fi
say "libtorrent seeds $ih_single (single) and $ih_multi (multi) on $SEED_IP:$SEED_PORT"

# control IH: can libtorrent itself fetch IH's metadata from the seeder?  If not, no verdict.
control() {
	if h fetch "$1" $SEED_IP $SEED_PORT "$tmp/control.torrent" --bind 127.0.61.2 \
		--timeout "$(budget 8)"
		2>"$tmp/control.err"; then
		echo "      (control: libtorrent fetched $1 from the same seeder)"
	else
		echo "ERROR: the libtorrent seeder does not serve $1 to libtorrent either:"
		sed 's/^/    /' "$tmp/control.err" "$tmp/seed.err"
		exit 99
	fi
}

mkdir "$tmp/got" "$tmp/got2" || exit 99
for kind in single multi; do
	eval "ih=\$ih_$kind"
	run mf-$kind /dev/null timeout -k 2 "$(budget 10)" "$mf" -t "$tmp/got" --timeout 8 "$ih" \
		$SEED_IP:$SEED_PORT
	if [ "$rc" -ne 0 ]; then
		fail "$kind: meta-fetch -t DIR $ih $SEED_IP:$SEED_PORT exited with status $rc$([ "$rc" = 124 ] && echo ", killed by timeout(1)") (want 0)"
		show "mf-$kind.out" "mf-$kind.err"
		control "$ih"
	elif ! h check "$tmp/$kind.torrent" "$tmp/mf-$kind.out" --torrent-dir "$tmp/got" \
		--peer $SEED_IP:$SEED_PORT >"$tmp/check.out"; then
		fail "$kind: wrong output or torrent file:"
		sed 's/^/    /' "$tmp/check.out"
		show "mf-$kind.out" "mf-$kind.err"
	else
		say "PASS $kind: $(cat "$tmp/check.out")"
	fi
done

# Batch mode.  The unknown info-hash: libtorrent closes a connection for a torrent it lacks.
ih_unknown=0123456789abcdef0123456789abcdef01234567
{
	printf '{"infohash":"%s","peer":"%s:%d"}\n' "$ih_single" $SEED_IP $SEED_PORT
	printf '{"infohash":"%s","peers":["%s:%d"]}\n' "$ih_multi" $SEED_IP $SEED_PORT
	printf '{"infohash":"%s","peer":"%s:%d"}\n' "$ih_unknown" $SEED_IP $SEED_PORT
} >"$tmp/jobs.ndjson"
run mf-batch "$tmp/jobs.ndjson" timeout -k 2 "$(budget 15)" "$mf" -t "$tmp/got2" --timeout 8
ok=1
[ "$rc" -eq 1 ] || { fail "batch: meta-fetch exited with status $rc (want 1: one job fails)"; ok=0; }
for kind in single multi; do
	eval "ih=\$ih_$kind"
	h check "$tmp/$kind.torrent" "$tmp/mf-batch.out" --torrent-dir "$tmp/got2" \
		--peer $SEED_IP:$SEED_PORT >"$tmp/check.out" ||
		{ fail "batch: $kind:"; sed 's/^/    /' "$tmp/check.out"; ok=0; }
done
h check-error $ih_unknown "$tmp/mf-batch.out" >"$tmp/check.out" ||
	{ fail "batch: unknown info-hash:"; sed 's/^/    /' "$tmp/check.out"; ok=0; }
if [ $ok = 1 ]; then
	say "PASS batch: 2 ok, 1 error, exit 1"
else
	show jobs.ndjson mf-batch.out mf-batch.err
fi

say "interop-meta-libtorrent: $fails failed"
[ $fails -eq 0 ]
