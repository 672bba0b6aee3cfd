#!/bin/sh
# Interop test of the whole pipeline, dht-crawl | meta-fetch, against a swarm of real
# libtorrent-rasterbar 2.0 sessions on loopback only: tests/interop/lt_swarm.py runs 10 sessions
# on 127.0.67.1-10 port 6881 (DHT nodes that know each other, each seeding 3 small torrents it
# announced into the DHT; BEP 51 samples recomputed on each request).  No other test uses
# 127.0.67.0/24, so it runs in parallel with them.
#
#   dht-crawl --bootstrap 127.0.67.1:6881 --bind 127.0.67.200:0 --max 120 --duration 90
#     | tee crawl.ndjson | meta-fetch --timeout 30 > meta.ndjson
# (stopped with SIGTERM as soon as crawl.ndjson holds all 30 infohashes: see below)
#
# Passes when every infohash the swarm announced is in crawl.ndjson, and meta.ndjson has for
# each a status "ok" line whose name and files (paths, lengths) are the swarm's.  libtorrent's
# DoS blocker is left at its defaults (more than 50 packets from one IP in ~10 s and it ignores
# that IP for 5 minutes, silently): a crawler that is not polite loses nodes and fails here.
# The swarm reports the IPs its blockers banned; a ban of the crawler's IP is a failure too.
#
# Exit: 0 pass, 1 fail, 77 skip (no /usr/bin/python3 with libtorrent), 99 error (tools not
# built, no crawl mode, the swarm did not come up, time cap).  Every wait has a deadline; the
# whole script is capped at 190 s by timeout(1).  A passing run takes ~30-60 s.
# By hand, from the source tree: top_builddir=/path/to/build sh tests/interop-crawl-libtorrent.sh
# (INTEROP_KEEP=1 keeps the temp folder; DHT_CRAWL_ARGS adds options to dht-crawl).
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
crawl="$top_builddir/tools/dht-crawl"
mf="$top_builddir/tools/meta-fetch"
swarm_py="$top_srcdir/tests/interop/lt_swarm.py"
BASE=127.0.67
PORT=6881
SESSIONS=10
TORRENTS=3
CRAWL_BIND=$BASE.200
DURATION=90
LIMIT=190

# The second fence: the whole script again, under timeout(1).  Its 124/137 become 99 (ERROR).
if [ -z "${INTEROP_CRAWL_FENCED:-}" ] && command -v timeout >/dev/null 2>&1; then
	INTEROP_CRAWL_FENCED=1 timeout -k 5 $LIMIT sh "$0" "$@"
	rc=$?
	case $rc in
	0 | 1 | 77 | 99) exit $rc ;;
	124 | 137) echo "ERROR: $0 ran past $LIMIT s and was killed"; exit 99 ;;
	*) echo "ERROR: $0 exited with status $rc"; exit 99 ;;
	esac
fi

. "$top_srcdir/tests/interop/need-libtorrent.sh"
for t in "$crawl" "$mf"; do
	if [ ! -x "$t" ]; then
		echo "ERROR: $t not built"
		exit 99
	fi
done
if ! "$crawl" --help 2>&1 | grep -q -- '--max'; then
	echo "ERROR: $crawl has no crawl mode (no --max in its --help)"
	exit 99
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/interop-crawl-lt.XXXXXX") || { echo "ERROR: mktemp failed"; exit 99; }
case $tmp in /*) ;; *) tmp="$(pwd)/$tmp" ;; esac
swarm_pid=
watch_pid=
pipeline_started=
cleanup() {
	if [ -n "$pipeline_started" ]; then # interrupted: end the watcher, dht-crawl, meta-fetch
		[ -n "$watch_pid" ] && kill -TERM "$watch_pid" 2>/dev/null
		for f in crawl meta; do
			[ -s "$tmp/$f.pid" ] && kill -TERM "$(cat "$tmp/$f.pid")" 2>/dev/null
		done
	fi
	exec 3>&- # the swarm's stdin: EOF stops it
	if [ -n "$swarm_pid" ]; then
		# it stops within a second or two of EOF; then SIGTERM, then SIGKILL
		i=0
		while kill -0 "$swarm_pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
		kill -TERM "$swarm_pid" 2>/dev/null
		i=0
		while kill -0 "$swarm_pid" 2>/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
		kill -KILL "$swarm_pid" 2>/dev/null
	fi
	wait
	if [ -n "${INTEROP_KEEP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'echo "ERROR: interrupted by a signal"; exit 99' HUP INT TERM

# fence S CMD...: CMD under timeout(1) (S s, then SIGKILL 2 s later) where there is one.
fence() {
	if command -v timeout >/dev/null 2>&1; then
		timeout -k 2 "$@"
	else
		shift
		"$@"
	fi
}
T0=$(date +%s)
say() { echo "[$(($(date +%s) - T0))s] $*"; }
show() { # files of $tmp, indented, the last N lines
	n=$1
	shift
	for f in "$@"; do
		echo "    --- $f (last $n lines):"
		tail -n "$n" "$tmp/$f" 2>/dev/null | sed 's/^/    /'
	done
}

# The swarm stops at EOF on its stdin (a FIFO whose write end this shell holds on fd 3, so that
# it stops however this shell dies), on SIGTERM, or after LIMIT s.
mkfifo "$tmp/swarm.in" || exit 99
"$PYTHON" "$swarm_py" swarm --base $BASE --port $PORT --sessions $SESSIONS --torrents $TORRENTS \
	--time $LIMIT --stats "$tmp/swarm-stats.json" "$tmp/data" "$tmp/ready.json" \
	<"$tmp/swarm.in" >"$tmp/swarm.out" 2>"$tmp/swarm.err" &
swarm_pid=$!
exec 3>"$tmp/swarm.in"

# Wait for the ready file (the swarm writes it through a rename): at most 60 s, and not a
# moment longer than the swarm lives.
i=0
while [ ! -s "$tmp/ready.json" ] && kill -0 $swarm_pid 2>/dev/null && [ $i -lt 600 ]; do
	sleep 0.1
	i=$((i + 1))
done
if [ ! -s "$tmp/ready.json" ]; then
	if kill -0 $swarm_pid 2>/dev/null; then
		echo "ERROR: the libtorrent swarm was not ready within 60 s"
	else
		wait $swarm_pid
		rc=$?
		[ $rc -eq 77 ] && { cat "$tmp/swarm.err"; exit 77; }
		echo "ERROR: the libtorrent swarm exited with status $rc before it was ready"
	fi
	show 40 swarm.err
	exit 99
fi
n=$("$PYTHON" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["torrents"]))' \
	"$tmp/ready.json") || exit 99
say "libtorrent swarm ready: $SESSIONS sessions on $BASE.1-$SESSIONS:$PORT, $n torrents announced"

# The pipeline.  dht-crawl stops after --duration, or once it printed --max infohashes; --max
# is only a ceiling above the swarm's count.  A watcher (lt_swarm.py watch) stops dht-crawl with
# SIGTERM as soon as it printed every infohash of the swarm, as a user would; it then exits
# 143, which counts as success only in that case.  Each side's exit status goes to a file;
# timeout(1) fences each, the crawl (which ends by itself after --duration) with 15 s more.
crawl_fence=
meta_fence=
if command -v timeout >/dev/null 2>&1; then
	crawl_fence="timeout -k 2 $((DURATION + 15))"
	meta_fence="timeout -k 2 $((DURATION + 50))"
fi
t_crawl=$(date +%s)
"$PYTHON" "$swarm_py" watch "$tmp/ready.json" "$tmp/crawl.ndjson" "$tmp/crawl.pid" \
	--timeout $((DURATION + 20)) 2>"$tmp/watch.err" &
watch_pid=$!
pipeline_started=1
(
	{
		# not through fence: $! must be timeout(1)'s pid (it hands SIGTERM on to dht-crawl)
		$crawl_fence "$crawl" --bootstrap $BASE.1:$PORT --bind $CRAWL_BIND:0 \
			--max $((n * 4)) --duration $DURATION ${DHT_CRAWL_ARGS:-} 2>"$tmp/crawl.err" &
		echo $! >"$tmp/crawl.pid"
		wait $!
		echo $? >"$tmp/crawl.rc"
		date +%s >"$tmp/crawl.end"
	} | tee "$tmp/crawl.ndjson" | {
		# in the background for its pid (for cleanup), its stdin kept through fd 4
		exec 4<&0
		$meta_fence "$mf" --timeout 30 <&4 >"$tmp/meta.ndjson" 2>"$tmp/meta.err" &
		echo $! >"$tmp/meta.pid"
		exec 4<&-
		wait $!
		echo $? >"$tmp/meta.rc"
	}
) &
wait $!
wait $watch_pid
watch_rc=$?
pipeline_started=
crawl_rc=$(cat "$tmp/crawl.rc" 2>/dev/null) || crawl_rc=99
meta_rc=$(cat "$tmp/meta.rc" 2>/dev/null) || meta_rc=99
crawl_s=$(($(cat "$tmp/crawl.end" 2>/dev/null || date +%s) - t_crawl))
stopped=
if [ $watch_rc -eq 0 ]; then
	stopped=" (stopped by the watcher: all found)"
	[ "$crawl_rc" -eq 143 ] && crawl_rc=0
fi
say "dht-crawl exited with status $crawl_rc after ${crawl_s}s$stopped ($(wc -l <"$tmp/crawl.ndjson") lines); meta-fetch with status $meta_rc ($(wc -l <"$tmp/meta.ndjson") lines)"

# Stop the swarm (EOF on its stdin), for its stats: whom its DoS blockers banned.
exec 3>&-
i=0
while kill -0 $swarm_pid 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
stats=$(cat "$tmp/swarm-stats.json" 2>/dev/null)
[ -n "$stats" ] && say "swarm: $stats"

fails=0
if [ "$crawl_rc" -ne 0 ]; then
	echo "FAIL: dht-crawl exited with status $crawl_rc$([ "$crawl_rc" = 124 ] && echo ", killed by timeout(1)") (want 0)"
	fails=$((fails + 1))
fi
# meta-fetch exits 1 when some torrent failed: the infohashes nobody announced always do.
if [ "$meta_rc" -gt 1 ]; then
	echo "FAIL: meta-fetch exited with status $meta_rc$([ "$meta_rc" = 124 ] && echo ", killed by timeout(1)") (want 0 or 1)"
	fails=$((fails + 1))
fi
if "$PYTHON" "$swarm_py" check "$tmp/ready.json" "$tmp/crawl.ndjson" "$tmp/meta.ndjson" \
	--crawl-seconds "$crawl_s" >"$tmp/check.out"; then
	cat "$tmp/check.out"
else
	echo "FAIL: not every torrent of the swarm was found and fetched:"
	cat "$tmp/check.out"
	fails=$((fails + 1))
fi
if [ -n "$stats" ] && printf '%s\n' "$stats" | grep -q "\"$CRAWL_BIND\""; then
	echo "FAIL: libtorrent's DoS blocker banned the crawler's IP $CRAWL_BIND (see banned above)"
	fails=$((fails + 1))
fi
if [ $fails -ne 0 ]; then
	show 25 crawl.err meta.err
	show 15 swarm.err
fi
say "interop-crawl-libtorrent: $fails failed"
[ $fails -eq 0 ]
