#!/bin/sh
# dht-crawl | meta-fetch against a hostile dht-sim: 600 nodes (20% without BEP 51, 5% lying
# with spoofed ids and fake samples, 10% churning), 2% packet loss, 20 ms latency, 20% of peers
# serving garbage metadata, and passive traffic towards the crawler.  The crawler must find
# >= 99% of the 300 torrents, meta-fetch must fetch their correct metadata (never a lying
# peer's), passive get_peers must be harvested, spoofers must be noticed, and SIGTERM must stop
# the crawler cleanly (exit 143, everything printed).  Then the metadata goes into a store, and
# a second crawl with --db (the persistent seen-set) must print none of what the store has.
# Also: the usage errors of both tools.
# Addresses: the simulation on UDP/TCP port 21801 and TCP 21802 for its lying peers (nodes
# 127.100.x.y, peers 127.120.x.y), the crawler on 127.0.72.1: this test's alone.
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
crawl="$top_builddir/tools/dht-crawl"
sim="$top_builddir/tools/dht-sim"
mf="$top_builddir/tools/meta-fetch"
sq="$top_builddir/tools/store-query"
PY=/usr/bin/python3
for t in "$crawl" "$sim" "$mf" "$sq"; do [ -x "$t" ] || { echo "ERROR: $t not built"; exit 99; }; done
[ -x "$PY" ] || { echo "SKIP: /usr/bin/python3 not found"; exit 77; }

tmp=$(mktemp -d) || exit 99
simpid=
crawlpid=
cleanup() {
	[ -n "$crawlpid" ] && kill "$crawlpid" 2>/dev/null
	[ -n "$simpid" ] && kill "$simpid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$tmp"/*.err; do [ -f "$f" ] && tail -5 "$f"; done; exit 1; }

expect_usage() {
	tool=$1; shift
	"$tool" "$@" >"$tmp/out" 2>"$tmp/usage.err" </dev/null
	rc=$?
	[ "$rc" = 2 ] || fail "$(basename "$tool") $* exited $rc, want 2"
	[ -s "$tmp/usage.err" ] || fail "$(basename "$tool") $* printed no message"
}
"$crawl" --help | grep -q 'dht-crawl \[crawl\]' || fail "dht-crawl --help shows no crawl mode"
"$sim" --help | grep -q 'dht-sim' || fail "dht-sim --help"
expect_usage "$crawl" nosuchcommand
expect_usage "$crawl" --rate 0
expect_usage "$crawl" crawl --max -3
expect_usage "$crawl" crawl --seen many
expect_usage "$crawl" crawl stray-argument
expect_usage "$sim" --nodes 0
expect_usage "$sim" --loss 2
expect_usage "$sim" --net 10.1

# Bounded wait for a condition (a shell command), 0.2 s apart.
wait_for() {
	n=$1; shift
	while [ "$n" -gt 0 ]; do
		eval "$@" && return 0
		n=$((n - 1))
		sleep 0.2
	done
	return 1
}

"$sim" --nodes 600 --torrents 300 --udp-port 21801 --tcp-port 21801 --bep51 0.8 \
	--liars 0.05 --churn 0.1 --loss 0.02 --latency 20 --lying-peers 0.2 --activity 5 \
	--seed 7 --manifest "$tmp/m.json" --stats "$tmp/sim.json" --duration 200 -q \
	2>"$tmp/sim.err" &
simpid=$!
wait_for 300 '[ -s "$tmp/m.json" ]' || fail "dht-sim wrote no manifest"
boot=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["bootstrap"][0])' "$tmp/m.json")
"$PY" -c 'import json,sys
for t in json.load(open(sys.argv[1]))["torrents"]: print(t["infohash"])' "$tmp/m.json" >"$tmp/real"

"$crawl" --bootstrap "$boot" --bind 127.0.72.1:0 --rate 300 --peer-wait 10 --node-gap 1000 \
	--duration 150 >"$tmp/crawl.ndjson" 2>"$tmp/crawl.err" &
crawlpid=$!
# Until every real infohash is out and a passive one too (or 120 s): then stop it as a user
# would.  Passive lookups run a few at a time, after the sampled ones.
all() {
	[ "$(grep -c -F -f "$tmp/real" "$tmp/crawl.ndjson")" -ge 300 ] &&
		grep -q '"source":"get_peers"' "$tmp/crawl.ndjson"
}
wait_for 600 all
kill -TERM "$crawlpid"
wait "$crawlpid"
rc=$?
crawlpid=
[ "$rc" = 143 ] || fail "dht-crawl exited $rc after SIGTERM, want 143"
grep -q '^dht-crawl: [0-9.]* s: ' "$tmp/crawl.err" || fail "no summary on stderr"

"$mf" -q --per-ip 64 --timeout 30 <"$tmp/crawl.ndjson" >"$tmp/meta.ndjson" 2>"$tmp/meta.err"
"$PY" "$top_srcdir/bench/crawl-check.py" "$tmp/m.json" "$tmp/crawl.ndjson" \
	"$tmp/meta.ndjson" >"$tmp/check.json" || fail "crawl-check"
cat "$tmp/check.json"
"$PY" - "$tmp/check.json" "$tmp/crawl.ndjson" "$tmp/crawl.err" <<'PYEOF' || fail "figures"
import json, re, sys
c = json.load(open(sys.argv[1]))
lines = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
err = open(sys.argv[3]).read()
bad = []
if c["found"] < 297: bad.append("found %d of 300" % c["found"])
if c["metadata_correct"] < 297: bad.append("correct metadata %d of 300" % c["metadata_correct"])
if c["metadata_wrong"]: bad.append("%d wrong metadata" % c["metadata_wrong"])
seen = [l["infohash"] for l in lines]
if len(seen) != len(set(seen)): bad.append("an infohash printed twice")
for l in lines:
    if set(l) != {"infohash", "source", "peers", "time"} or len(l["infohash"]) != 40:
        bad.append("bad line %r" % l); break
if not any(l["source"] == "get_peers" for l in lines): bad.append("no passive get_peers")
m = re.search(r"(\d+) spoofing", err)
if not m or int(m.group(1)) < 1: bad.append("no spoofer noticed")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PYEOF

# The persistent seen-set: what the store has metadata for is not printed again.
"$sq" --db "$tmp/db.mdb" import <"$tmp/meta.ndjson" >/dev/null 2>"$tmp/import.err" ||
	fail "store-query import"
"$crawl" --bootstrap "$boot" --bind 127.0.72.1:0 --rate 300 --node-gap 1000 --duration 12 \
	--db "$tmp/db.mdb" >"$tmp/again.ndjson" 2>"$tmp/again.err" || fail "dht-crawl --db"
again=$(grep -c -F -f "$tmp/real" "$tmp/again.ndjson")
known=$(sed -n 's/.* \([0-9]*\) already in --db.*/\1/p' "$tmp/again.err")
[ "$again" = 0 ] || fail "--db: $again stored infohashes printed again"
[ "${known:-0}" -ge 250 ] || fail "--db: only ${known:-0} infohashes skipped as known"
echo "--db: $known known infohashes skipped, none printed"

kill -TERM "$simpid"
wait_for 100 '[ -s "$tmp/sim.json" ]' || fail "dht-sim wrote no stats"
echo "PASS: $(tr -d '\n' <"$tmp/check.json")"
