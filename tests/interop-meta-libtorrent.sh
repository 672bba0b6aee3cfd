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
PYTHON=${INTEROP_PYTHON:-/usr/bin/python3}
helper="$top_srcdir/tests/interop/lt_meta.py"
mf="$top_builddir/tools/meta-fetch"
LIMIT=55
SEED_IP=127.0.61.1
SEED_PORT=6991

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

tmp=$(mktemp -d "${TMPDIR:-/tmp}/interop-meta-lt.XXXXXX") || { echo "ERROR: mktemp failed"; exit 99; }
case $tmp in /*) ;; *) tmp="$(pwd)/$tmp" ;; esac
started=
cleanup() {
	for n in $started; do stop "$n"; done
	exec 3>&-
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

if ! ih_single=$(h make "$tmp" --single) || ! ih_multi=$(h make "$tmp" --multi); then
	echo "ERROR: could not make the torrents"
	exit 99
fi

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

show() {  # the output files of a meta-fetch run
	for f in "$@"; do
		echo "    --- $f:"
		sed 's/^/    /' "$tmp/$f" | head -n 40
	done
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
