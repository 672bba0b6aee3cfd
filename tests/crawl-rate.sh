#!/bin/sh
# Politeness, measured by the other side: dht-crawl --rate R crawls a 1,500-node dht-sim for
# 12 s, and the simulator, which counts every query it receives, must never have seen more
# than R in any one-second window, nor one node asked more often than --node-gap allows -
# while the crawler did use its budget.  Then the same with another rate.  Addresses: the
# simulation on UDP/TCP ports 21811-21812 (nodes 127.100.x.y), the crawler on 127.0.72.2: this
# test's alone.
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
crawl="$top_builddir/tools/dht-crawl"
sim="$top_builddir/tools/dht-sim"
PY=/usr/bin/python3
for t in "$crawl" "$sim"; do [ -x "$t" ] || { echo "ERROR: $t not built"; exit 99; }; done
[ -x "$PY" ] || { echo "SKIP: /usr/bin/python3 not found"; exit 77; }

tmp=$(mktemp -d) || exit 99
simpid=
cleanup() { [ -n "$simpid" ] && kill "$simpid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
wait_for() {
	n=$1; shift
	while [ "$n" -gt 0 ]; do
		eval "$@" && return 0
		n=$((n - 1))
		sleep 0.2
	done
	return 1
}

# One round: rate R, node gap G ms, for S seconds.
round() {
	R=$1 G=$2 S=$3
	rm -f "$tmp/m.json" "$tmp/sim.json"
	"$sim" --nodes 1500 --torrents 3000 --udp-port 21811 --tcp-port 21811 --seed "$R" \
		--manifest "$tmp/m.json" --stats "$tmp/sim.json" --duration 120 -q &
	simpid=$!
	wait_for 300 '[ -s "$tmp/m.json" ]' || fail "dht-sim wrote no manifest"
	"$crawl" --bootstrap 127.100.0.1:21811 --bind 127.0.72.2:0 --rate "$R" --node-gap "$G" \
		--duration "$S" -q >"$tmp/crawl.ndjson" || fail "dht-crawl --rate $R failed"
	kill -TERM "$simpid"
	wait_for 100 '[ -s "$tmp/sim.json" ]' || fail "dht-sim wrote no stats"
	wait "$simpid"
	simpid=
	"$PY" - "$tmp/sim.json" "$R" "$G" "$S" <<'PYEOF' || fail "rate $1"
import json, sys
st = json.load(open(sys.argv[1]))
r, g, s = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
per_node = 10000 // g + 1  # queries one node may get in any 10 s at one per g ms
print("rate %d: %d queries in %d s, at most %d in one second (limit %d), at most %d to one "
      "node in 10 s (limit %d)" % (r, st["queries_total"], s, st["max_qps_1s"], r,
                                   st["max_node_queries_10s"], per_node))
bad = st["max_qps_1s"] > r or st["max_node_queries_10s"] > per_node
bad = bad or st["queries_total"] < r * s * 0.6  # and it does use its budget
sys.exit(1 if bad else 0)
PYEOF
}
round 40 1500 12
round 150 1000 12
echo PASS
