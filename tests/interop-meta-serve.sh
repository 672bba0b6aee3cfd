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
PYTHON=${INTEROP_PYTHON:-/usr/bin/python3}
ARIA2C=${INTEROP_ARIA2C:-aria2c}
helper="$top_srcdir/tests/interop/lt_meta.py"
mf="$top_builddir/tools/meta-fetch"
LIMIT=55
SERVE=127.0.61.20:6992
TRACKER_IP=127.0.61.22 TRACKER_PORT=6995
ARIA_IP=127.0.61.23 ARIA_PORT=6996
SERVE2=127.0.61.24:6997

# The second fence: the whole script again, under timeout(1).  Its 124/137 become 99 (ERROR).
if [ -z "${INTEROP_META_FENCED:-}" ] && command -v timeout >/dev/null 2>&1; then
	INTEROP_META_FENCED=1 timeout -k 5 $LIMIT sh "$0" "$@"
	rc=$?
	case $rc in
	0 | 1 | 77 | 99) exit $rc ;;
	124 | 137) echo "ERROR: $0 ran past $LIMIT s and was killed"; exit 99 ;;
	*) echo "ERROR: $0 exited with status $rc"; exit 99 ;;
	esac
fi

if [ ! -x "$PYTHON" ]; then
	echo "SKIP: $PYTHON not found (install python3 and python3-libtorrent)"
	exit 77
fi
if ! err=$("$PYTHON" -c 'import libtorrent' 2>&1); then
	echo "SKIP: $PYTHON cannot import libtorrent: $(printf '%s\n' "$err" | tail -n 1)"
	echo "      (Debian: apt-get install python3-libtorrent; it is visible to /usr/bin/python3 only)"
	exit 77
fi
if [ ! -x "$mf" ]; then
	echo "ERROR: $mf not built"
	exit 99
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/interop-meta-serve.XXXXXX") || {
	echo "ERROR: mktemp failed"; exit 99; }
case $tmp in /*) ;; *) tmp="$(pwd)/$tmp" ;; esac
started=
cleanup() {
	for n in $started; do stop "$n"; done
	exec 4>&-
	wait
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "ERROR: interrupted by a signal"; exit 99' HUP INT TERM

h() { "$PYTHON" "$helper" "$@"; }
# start NAME IN CMD...: CMD in the background, stdin from IN, stdout and stderr to $tmp/NAME.out
# and $tmp/NAME.err; its pid goes to $tmp/NAME.pid, its exit status to $tmp/NAME.rc.  The
# subshell that waits for CMD outlives a SIGTERM to the process group (timeout(1) sends one) to
# write that status; CMD itself gets the default dispositions.  (Its stderr is quiet: dash
# reports a job killed by a signal there, "Terminated".)
start() {
	_n=$1 _in=$2
	shift 2
	(
		sig=0
		trap 'sig=1' HUP INT TERM
		"$@" <"$_in" >"$tmp/$_n.out" 2>"$tmp/$_n.err" &
		_p=$!
		echo $_p >"$tmp/$_n.pid"
		while :; do
			sig=0
			wait $_p
			_r=$?
			[ $sig = 1 ] || break
		done
		echo "$_r" >"$tmp/$_n.rc"
	) 2>/dev/null &
	started="$started $_n"
}
# run NAME IN CMD...: start, then wait for CMD's exit status, in $rc.  Not in the foreground, so
# that a signal to this shell runs its trap at once: the trap's cleanup ends CMD.
run() {
	start "$@"
	wait $!
	rc=$(cat "$tmp/$1.rc" 2>/dev/null) && [ -n "$rc" ] || rc=99
}
# stop NAME: SIGTERM unless it has ended; its exit status within 5 s, else SIGKILL.
stop() {
	h wait-line "$tmp/$1.pid" "" 2 || return 0
	[ -f "$tmp/$1.rc" ] || kill -TERM "$(cat "$tmp/$1.pid")" 2>/dev/null
	h wait-line "$tmp/$1.rc" "" 5 && return 0
	kill -KILL "$(cat "$tmp/$1.pid")" 2>/dev/null
	h wait-line "$tmp/$1.rc" "" 2
}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
T0=$(date +%s)
# budget S: S, or the seconds left of the script's own 47 s if fewer (at least 1); the waits
# take their deadlines from it, so that the script ends before the 55 s fence even when every
# wait runs out, and a FAIL is not turned into an ERROR by the fence.
budget() {
	_l=$((T0 + 47 - $(date +%s)))
	[ $_l -ge 1 ] || _l=1
	[ "$1" -lt $_l ] && _l=$1
	echo $_l
}
say() { echo "[$(($(date +%s) - T0))s] $*"; }
show() {  # files of $tmp, indented
	for f in "$@"; do
		echo "    --- $f:"
		sed 's/^/    /' "$tmp/$f" | tail -n 40
	done
}

if ! ih_single=$(h make "$tmp" --single) || ! ih_multi=$(h make "$tmp" --multi); then
	echo "ERROR: could not make the torrents"
	exit 99
fi

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
