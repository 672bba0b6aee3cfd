#!/bin/sh
# bench-crawl.sh - the crawler end to end against dht-sim: how much of a simulated DHT
# `dht-crawl | meta-fetch` finds, how fast, and with how many queries.
#
#   bench/bench-crawl.sh [NODES [TORRENTS [RATE [SIM_OPTION...]]]]
#
# Defaults: 2000 nodes, 1000 torrents, 100 queries/s (dht-crawl's default).  Run from the build
# directory (the tools are taken from ./tools, or from $BS_TOOLS).  Everything stays on
# loopback: the simulation's nodes are 127.100.x.y, its peers 127.120.x.y, on UDP and TCP port
# $BS_PORT (default 21700); the crawler binds 127.0.71.1.  Prints the figures as JSON lines:
# the crawl (time, queries, recall, metadata), the simulator's view of our traffic, and
# dht-crawl's own summary.
set -eu

nodes=${1:-2000}
torrents=${2:-1000}
rate=${3:-100}
[ $# -gt 3 ] && shift 3 || shift $#
port=${BS_PORT:-21700}
tools=${BS_TOOLS:-$(pwd)/tools}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-crawl.XXXXXX")
sim_pid=
cleanup() {
	[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

# Generous bounds: at RATE queries/s a crawl needs about 2 queries per node and one per
# torrent; the simulation outlives it.
limit=$(( (2 * nodes + 2 * torrents) / rate + 120 ))
t0=$(date +%s.%N)
"$tools/dht-sim" --nodes "$nodes" --torrents "$torrents" --udp-port "$port" \
	--tcp-port "$port" --manifest "$dir/manifest.json" --stats "$dir/sim.json" \
	--duration $((limit + 60)) -q "$@" &
sim_pid=$!
i=0
while [ ! -s "$dir/manifest.json" ]; do
	i=$((i + 1))
	if [ $i -gt 1200 ] || ! kill -0 "$sim_pid" 2>/dev/null; then
		echo "bench-crawl: dht-sim did not start" >&2
		exit 1
	fi
	sleep 0.1
done
t1=$(date +%s.%N)
boot=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bootstrap"][0])' \
	"$dir/manifest.json")

start=$(date +%s.%N)
"$tools/dht-crawl" --bootstrap "$boot" --bind 127.0.71.1:0 --rate "$rate" --max "$torrents" \
	--duration "$limit" --no-progress 2>"$dir/crawl.err" | tee "$dir/crawl.ndjson" |
	"$tools/meta-fetch" -q -c 2000 --per-ip 64 >"$dir/meta.ndjson" 2>"$dir/meta.err" || true
end=$(date +%s.%N)
kill "$sim_pid" 2>/dev/null || true
wait "$sim_pid" 2>/dev/null || true
sim_pid=

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
printf '{"bench":"crawl","nodes":%s,"torrents":%s,"rate":%s,"sim_start_s":%s,"pipeline_s":%s}\n' \
	"$nodes" "$torrents" "$rate" "$(secs "$t0" "$t1")" "$(secs "$start" "$end")"
/usr/bin/python3 "$here/crawl-check.py" "$dir/manifest.json" "$dir/crawl.ndjson" \
	"$dir/meta.ndjson" "$(echo "$start" | cut -d. -f1)"
[ -s "$dir/sim.json" ] && tr -d '\n' <"$dir/sim.json" && echo
grep '^dht-crawl: [0-9.]* s:' "$dir/crawl.err" || cat "$dir/crawl.err" >&2
