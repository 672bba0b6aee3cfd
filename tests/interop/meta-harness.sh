# meta-harness.sh - sourced by the tests/interop-meta-*.sh scripts: what they share.  Before
# sourcing, a script sets top_srcdir, top_builddir and NAME (its temp folder's prefix), and may
# skip first for a tool of its own.  This file then: runs the script again under timeout(1)
# (LIMIT s, 124/137 become 99 ERROR); skips (77) without /usr/bin/python3 and libtorrent;
# errs (99) without tools/meta-fetch; makes $tmp (removed at exit, with every job started);
# defines h (tests/interop/lt_meta.py), start/run/stop for background jobs with recorded exit
# statuses, fail, budget (deadlines within the script's own 47 s), say, show; and makes the
# two torrents, $tmp/single.torrent and $tmp/multi.torrent ($ih_single, $ih_multi).
helper="$top_srcdir/tests/interop/lt_meta.py"
mf="$top_builddir/tools/meta-fetch"
LIMIT=55

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

. "$top_srcdir/tests/interop/need-libtorrent.sh"
if [ ! -x "$mf" ]; then
	echo "ERROR: $mf not built"
	exit 99
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/$NAME.XXXXXX") || { echo "ERROR: mktemp failed"; exit 99; }
case $tmp in /*) ;; *) tmp="$(pwd)/$tmp" ;; esac
started=
cleanup() {
	for n in $started; do stop "$n"; done
	exec 3>&- 4>&-
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
show() {  # files of $tmp, indented (Transmission ends its lines with CR)
	for f in "$@"; do
		echo "    --- $f:"
		tr '\r' '\n' <"$tmp/$f" | sed 's/^/    /' | tail -n 40
	done
}

if ! ih_single=$(h make "$tmp" --single) || ! ih_multi=$(h make "$tmp" --multi); then
	echo "ERROR: could not make the torrents"
	exit 99
fi
