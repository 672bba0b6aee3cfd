#!/bin/sh
# Interop test of meta-fetch's serving side (--serve/--listen: BEP 9 ut_metadata over BEP 10,
# answering peers that ask for a torrent's metadata), with real clients fetching from it, on
# loopback only.  tests/interop/lt_meta.py makes the two torrents of interop-meta-libtorrent.sh
# ("single": 3 metadata pieces, the last one short; "multi": 2 pieces, nested directories, a
# non-ASCII name).  Addresses (no other test uses them):
#   127.0.61.20:6992  meta-fetch --serve single --serve multi --listen ... --serve-time 30
#   127.0.61.21, .25  libtorrent fetchers (lt_meta.py fetch: magnet + connect_peer, no DHT)
#   127.0.61.22:6995  a static HTTP tracker (lt_meta.py tracker) listing only 127.0.61.20:6992
#   127.0.61.23:6996  aria2c (--interface), which cannot be handed a peer but through a tracker
#   127.0.61.24:6997  a second meta-fetch, --serve-time 2
#
# Checks:
#   1  meta-fetch prints "meta-fetch: listening on ADDR" on stderr (within 5 s);
#   2  libtorrent fetches "single" over plaintext (pe disabled) and "multi" the way libtorrent
#      connects on the Internet (MSE handshake first, plaintext retry when refused), both at
#      once; each has the original's exact info bytes;
#   3  aria2c --bt-metadata-only fetches "multi" through the tracker; the .torrent it saves has
#      the original's exact info bytes (skipped when aria2c is missing);
#   4  meta-fetch, still serving, ends with status 0 on SIGTERM (within 5 s);
#   5  --serve-time 2 with nothing to fetch: meta-fetch exits 0 by itself.
#
# Exit: 0 pass, 1 fail, 77 skip (no /usr/bin/python3 with libtorrent), 99 error (meta-fetch not
# built, setup failed, time cap).  Every wait has a deadline; the whole script is capped at 55 s;
# a passing run takes ~5 s.
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
ARIA2C=${INTEROP_ARIA2C:-aria2c}
SERVE=127.0.61.20:6992
TRACKER_IP=127.0.61.22 TRACKER_PORT=6995
ARIA_IP=127.0.61.23 ARIA_PORT=6996
SERVE2=127.0.61.24:6997

NAME=interop-meta-serve
. "$top_srcdir/tests/interop/meta-harness.sh"

# stdin is /dev/null: nothing to fetch.  timeout(1): it ends even if this shell is SIGKILLed.
start serve /dev/null timeout -k 2 40 "$mf" --serve "$tmp/single.torrent" \
	--serve "$tmp/multi.torrent" --listen $SERVE --serve-time 30
start serve2 /dev/null timeout -k 2 20 "$mf" --serve "$tmp/single.torrent" --listen $SERVE2 \
	--serve-time 2

# 1: listening.
if h wait-line "$tmp/serve.err" "meta-fetch: listening on" "$(budget 5)"; then
	say "PASS listening: $(grep 'meta-fetch: listening on' "$tmp/serve.err" | head -n 1)"
else
	fail "meta-fetch --serve ... --listen $SERVE printed no \"meta-fetch: listening on\"" \
		"within 5 s$([ -f "$tmp/serve.rc" ] && echo "; it exited with status $(cat "$tmp/serve.rc")")"
	show serve.out serve.err
	echo "interop-meta-serve: $fails failed"
	exit 1
fi

# 2: libtorrent fetches both torrents at once.
for kind in single multi; do
	if [ $kind = single ]; then
		bind=127.0.61.21 enc=disabled
	else
		bind=127.0.61.25 enc=enabled
	fi
	eval "ih=\$ih_$kind"
	start lt-$kind /dev/null timeout -k 2 "$(budget 12)" "$PYTHON" "$helper" fetch "$ih" \
		${SERVE%:*} ${SERVE##*:} "$tmp/lt-$kind.torrent" --bind $bind --enc $enc --timeout 10
done
for kind in single multi; do
	eval "ih=\$ih_$kind"
	h wait-line "$tmp/lt-$kind.rc" "" "$(budget 15)"
	rc=$(cat "$tmp/lt-$kind.rc" 2>/dev/null) && [ -n "$rc" ] || rc=99
	if [ "$rc" -ne 0 ]; then
		fail "$kind: libtorrent did not get the metadata of $ih from meta-fetch (status $rc):"
		show lt-$kind.err
	elif ! h compare "$tmp/lt-$kind.torrent" "$tmp/$kind.torrent" 2>"$tmp/cmp.err"; then
		fail "$kind: libtorrent got metadata other than the original's: $(cat "$tmp/cmp.err")"
	else
		say "PASS libtorrent $kind: $(grep 'metadata of' "$tmp/lt-$kind.err" | sed 's/^lt_meta[^:]*: //')"
	fi
done

# 3: aria2c, through the tracker.
if ! command -v "$ARIA2C" >/dev/null 2>&1; then
	say "SKIP aria2c: $ARIA2C not found (Debian: apt-get install aria2)"
else
	# The tracker stops on SIGTERM, after 40 s, or at EOF on its stdin: a FIFO whose write end
	# this shell holds on fd 4, so that it stops however this shell dies.
	mkfifo "$tmp/tracker.in" || exit 99
	start tracker "$tmp/tracker.in" "$PYTHON" "$helper" tracker $TRACKER_IP $TRACKER_PORT \
		$SERVE --time 40
	exec 4>"$tmp/tracker.in"
	if ! h wait-line "$tmp/tracker.out" ready "$(budget 5)"; then
		echo "ERROR: the tracker did not start on $TRACKER_IP:$TRACKER_PORT:"
		show tracker.err
		exit 99
	fi
	mkdir "$tmp/aria" || exit 99
	magnet="magnet:?xt=urn:btih:$ih_multi&tr=http%3A%2F%2F$TRACKER_IP%3A$TRACKER_PORT%2Fannounce"
	start aria /dev/null timeout -k 2 "$(budget 12)" "$ARIA2C" --no-conf=true -d "$tmp/aria" \
		--bt-metadata-only=true --bt-save-metadata=true --enable-dht=false \
		--enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=false \
		--disable-ipv6=true --interface=$ARIA_IP --listen-port=$ARIA_PORT \
		--summary-interval=0 --console-log-level=info "$magnet"
	h wait-line "$tmp/aria.rc" "" "$(budget 15)"
	rc=$(cat "$tmp/aria.rc" 2>/dev/null) && [ -n "$rc" ] || rc=99
	if [ "$rc" -ne 0 ] || [ ! -f "$tmp/aria/$ih_multi.torrent" ]; then
		fail "multi: aria2c did not get the metadata of $ih_multi from meta-fetch (status $rc)"
		show aria.out tracker.err
	elif ! h compare "$tmp/aria/$ih_multi.torrent" "$tmp/multi.torrent" 2>"$tmp/cmp.err"; then
		fail "multi: aria2c got metadata other than the original's: $(cat "$tmp/cmp.err")"
	else
		say "PASS aria2c multi: saved $ih_multi.torrent, the original's info bytes"
	fi
fi

# 4: SIGTERM ends the server with status 0.
if [ -f "$tmp/serve.rc" ]; then
	fail "meta-fetch --serve-time 30 exited early, status $(cat "$tmp/serve.rc")"
	show serve.out serve.err
else
	kill -TERM "$(cat "$tmp/serve.pid")"
	if ! h wait-line "$tmp/serve.rc" "" "$(budget 5)"; then
		fail "meta-fetch --serve did not exit within 5 s of SIGTERM"
	elif [ "$(cat "$tmp/serve.rc")" != 0 ]; then
		fail "meta-fetch --serve exited with status $(cat "$tmp/serve.rc") on SIGTERM (want 0)"
		show serve.out serve.err
	else
		say "PASS SIGTERM: meta-fetch --serve exited 0"
	fi
fi

# 5: --serve-time 2 ends by itself, status 0.
if ! h wait-line "$tmp/serve2.rc" "" "$(budget 5)"; then
	fail "meta-fetch --serve-time 2 was still running after $(($(date +%s) - T0)) s"
elif [ "$(cat "$tmp/serve2.rc")" != 0 ]; then
	fail "meta-fetch --serve-time 2 exited with status $(cat "$tmp/serve2.rc") (want 0)"
	show serve2.out serve2.err
elif ! grep -q "meta-fetch: listening on" "$tmp/serve2.err"; then
	fail "meta-fetch --serve-time 2 exited 0 but never said it was listening"
	show serve2.err
else
	say "PASS --serve-time 2: exited 0 by itself"
fi

say "interop-meta-serve: $fails failed"
[ $fails -eq 0 ]
