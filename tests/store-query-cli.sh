#!/bin/sh
# store-query as users run it, on stores in a temporary directory: usage errors exit 2 with a
# message and print nothing; a missing store exits 3; an import of meta-fetch results,
# dht-crawl sightings and bad lines (not JSON, a bad infohash, a 2 MB line) counts them and
# exits 1; searches by word, folded accent, prefix, file path and filters; get by hex, v2 and
# magnet; recent, pending and stats; delete, block and unblock; export | import into another
# store gives the same export; pages by --cursor cover every result once; SIGTERM stops an
# import with what it read committed.
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
sq="${STORE_QUERY:-$top_builddir/tools/store-query}"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)
[ -x "$sq" ] || { echo "ERROR: $sq not built"; exit 99; }
[ -n "$PY" ] || { echo "SKIP: python3 not found"; exit 77; }
command -v mkfifo >/dev/null || { echo "SKIP: mkfifo not found"; exit 77; }

tmp=$(mktemp -d) || exit 99
pid=
# shellcheck disable=SC2317 # run by the trap
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
unset BITSCRAPE_DB
db="$tmp/a.mdb"

# run WANT ARGS...: run store-query, stdout to $tmp/out, stderr to $tmp/err, want exit WANT.
run() {
	want=$1
	shift
	"$sq" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ "$rc" = "$want" ] || fail "store-query $* exited $rc, want $want; stderr: $(cat "$tmp/err")"
}
# check PYTHON-STATEMENTS [FILE]: L is the list of JSON objects of FILE's lines ($tmp/out).
check() {
	"$PY" -c 'import json, sys
L = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
exec(sys.argv[1])' "$1" "${2:-$tmp/out}" || fail "check failed: $1 on $(cat "${2:-$tmp/out}")"
}
expect_usage() {
	run 2 -d "$tmp/none.mdb" "$@"
	[ -s "$tmp/err" ] || fail "store-query $* printed no message"
	[ -s "$tmp/out" ] && fail "store-query $* printed on stdout: $(cat "$tmp/out")"
	grep -q '^store-query: ' "$tmp/err" || fail "store-query $*: message not prefixed"
}

"$sq" --help | grep -q 'usage: store-query' || fail "--help"
"$sq" --version | grep -q '^store-query .*(libbtstore ' || fail "--version"

A=a000000000000000000000000000000000000001
B=b000000000000000000000000000000000000002
C=c000000000000000000000000000000000000003
D=d000000000000000000000000000000000000004
E=e000000000000000000000000000000000000005
F=f000000000000000000000000000000000000006

expect_usage
expect_usage bogus
expect_usage --no-such-option stats
expect_usage get
expect_usage get 0123
expect_usage get zz00000000000000000000000000000000000001
expect_usage get "magnet:?dn=no-hash"
expect_usage delete nothex
expect_usage block
expect_usage search --min-size 12X foo
expect_usage search --max-size -1 foo
expect_usage search --since yesterday foo
expect_usage search --since 2023-02-30 foo
expect_usage search --sort bogus foo
expect_usage search --min-size 2G --max-size 1G
expect_usage -n x search foo
expect_usage stats --limit 3
expect_usage stats --sort size
expect_usage export --cursor abc
expect_usage recent extra
expect_usage --json --table stats
[ -e "$tmp/none.mdb" ] && fail "a usage error created the store"

# No store: exit 3 with the message, for readers and for delete; nothing is created.
for cmd in "search foo" stats "get $A" export pending "delete $A"; do
	# shellcheck disable=SC2086
	run 3 -d "$tmp/none.mdb" $cmd
	grep -q "^store-query: no database at $tmp/none.mdb (run import first, or give --db)" \
		"$tmp/err" || fail "$cmd on no store: $(cat "$tmp/err")"
done
[ -e "$tmp/none.mdb" ] && fail "a read created the store"

# meta-fetch results, dht-crawl sightings, a blank line and three bad lines.
ok_line() { # IH NAME LENGTH FILES
	printf '{"name":"%s","length":%s,"piece_length":262144,"pieces":%s,"private":false,' \
		"$2" "$3" $(($3 / 262144 + 1))
	printf '"versions":[1],"files":%s,"metadata_size":4321,"infohash":"%s","status":"ok",' \
		"$4" "$1"
	printf '"peer":"192.0.2.1:6881","fetch_ms":120,"peers_tried":1,"peers_known":2}\n'
}
ok_line $A 'Amélie (2001) 1080p BluRay' 1500000000 \
	'[{"path":"Amélie.mkv","length":1499000000},{"path":"subs/fr.srt","length":1000000}]' \
	>"$tmp/in1"
ok_line $B 'Ubuntu 24.04 Desktop amd64' 6000000000 \
	'[{"path":"ubuntu-24.04-desktop-amd64.iso","length":6000000000}]' >>"$tmp/in1"
{
	echo
	echo 'this is not json'
} >>"$tmp/in1"
ok_line $C 'Debian 12 netinst' 629145600 \
	'[{"path":"debian-12-amd64-netinst.iso","length":629145600}]' >>"$tmp/in1"
cat >>"$tmp/in1" <<EOF
{"infohash":"$D","status":"error","error":"timed out","fetch_ms":60000,"peers_tried":3,"peers_known":3}
{"infohash":"not-hex","source":"sample","peers":["127.0.0.1:6881"],"time":1700000000}
{"infohash":"$E","source":"sample","peers":["127.0.0.1:6881"],"time":1700000000}
{"infohash":"$A","source":"announce","peers":["127.0.0.1:6882"],"time":1700000100}
EOF
head -c 2000000 /dev/zero | tr '\0' x >>"$tmp/in1"
echo >>"$tmp/in1"

"$sq" -d "$db" import <"$tmp/in1" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 1 ] || fail "import with bad lines exited $rc, want 1; stderr: $(cat "$tmp/err")"
grep -q '^store-query: 9 lines: 5 new, 1 known, 0 blocked, 3 bad' "$tmp/err" ||
	fail "import summary: $(cat "$tmp/err")"
for n in 4 7 10; do
	grep -q "^store-query: line $n: " "$tmp/err" || fail "no message for line $n: $(cat "$tmp/err")"
done
[ "$(grep -c '^store-query: line ' "$tmp/err")" = 3 ] || fail "bad line messages: $(cat "$tmp/err")"
[ -s "$tmp/out" ] && fail "import printed on stdout without --json"

# A second later, so that it is the latest indexed.
sleep 1
ok_line $F 'Zebra Migration Documentary' 314572800 '[{"path":"zebra.mp4","length":314572800}]' \
	>"$tmp/in2"
run 0 -d "$db" --json import <"$tmp/in2"
check 'assert L == [{"lines": 1, "new": 1, "known": 0, "blocked": 0, "bad": 0,
                     "interrupted": False, "committed": True}], L'

# Ten bad lines are told one by one, the others counted.
i=0
while [ $i -lt 15 ]; do
	echo "[$i]"
	i=$((i + 1))
done >"$tmp/bad15"
run 1 -d "$tmp/bad.mdb" import <"$tmp/bad15"
[ "$(grep -c '^store-query: line ' "$tmp/err")" = 10 ] || fail "bad lines told: $(cat "$tmp/err")"
grep -q '^store-query: 5 more bad lines not shown' "$tmp/err" || fail "cap: $(cat "$tmp/err")"
grep -q '^store-query: 15 lines: 0 new, 0 known, 0 blocked, 15 bad' "$tmp/err" ||
	fail "bad summary: $(cat "$tmp/err")"

# Search: NDJSON when stdout is not a terminal, with a score for words.
run 0 -d "$db" search amelie
check 'assert [t["infohash"] for t in L] == ["'$A'"], L
t = L[0]
assert t["name"] == "Amélie (2001) 1080p BluRay" and t["length"] == 1500000000, t
assert isinstance(t["score"], (int, float)) and t["score"] > 0, t
assert [f["path"] for f in t["files"]] == ["Amélie.mkv", "subs/fr.srt"], t
assert t["magnet"].startswith("magnet:?xt=urn:btih:'$A'"), t'
for words in AMÉLIE 'amél' 'ubun' 'ubuntu desktop' 'srt' 'Zebra'; do
	case $words in
	AMÉLIE | amél | srt) expect=$A ;;
	Zebra) expect=$F ;;
	*) expect=$B ;;
	esac
	# shellcheck disable=SC2086
	run 0 -d "$db" --json search $words
	check 'assert [t["infohash"] for t in L] == ["'"$expect"'"], L'
done
run 1 -d "$db" search ubuntu amelie
[ -s "$tmp/out" ] && fail "a search that found nothing printed: $(cat "$tmp/out")"
run 0 -d "$db" search --min-size 1G
check 'assert sorted(t["infohash"] for t in L) == ["'$A'", "'$B'"], L
assert all("score" not in t for t in L), L'
run 0 -d "$db" search --max-size 700M
check 'assert sorted(t["infohash"] for t in L) == ["'$C'", "'$F'"], L'
run 0 -d "$db" search --min-files 2
check 'assert [t["infohash"] for t in L] == ["'$A'"], L'
run 0 -d "$db" search --sort size --asc -n 0
check 'assert [t["length"] for t in L] == [314572800, 629145600, 1500000000, 6000000000], L'
run 0 -d "$db" search --since 2d
check 'assert len(L) == 4, L'
run 1 -d "$db" search --since 2099-01-01

# Tables: names cut with an ellipsis to $COLUMNS, magnet links indented, a footer.
COLUMNS=40 "$sq" -d "$db" --table search amelie >"$tmp/out" 2>"$tmp/err" || fail "table search"
grep -q 'Amélie (2…$' "$tmp/out" || fail "name not cut to 40 columns: $(cat "$tmp/out")"
grep -q "^    magnet:?xt=urn:btih:$A" "$tmp/out" || fail "table magnet: $(cat "$tmp/out")"
grep -q '^1 of 1$' "$tmp/out" || fail "table footer: $(cat "$tmp/out")"

# get: by hex in either case, by a 64-digit v2 form, by magnet; pending ones too.
run 0 -d "$db" get $A
check 'assert len(L) == 1 and L[0]["name"].startswith("Amélie") and len(L[0]["files"]) == 2, L
assert L[0]["times_seen"] >= 2 and L[0]["first_seen"] == 1700000100, L'
up=$(echo $B | tr a-f A-F)
run 0 -d "$db" get "$up" "magnet:?xt=urn:btih:$A&dn=whatever" "${C}000000000000000000000000"
check 'assert [t["infohash"] for t in L] == ["'$B'", "'$A'", "'$C'"], L'
run 0 -d "$db" get $E
check 'assert L[0]["infohash"] == "'$E'" and "name" not in L[0] and L[0]["first_seen"] == 1700000000, L'
run 1 -d "$db" get $A 0000000000000000000000000000000000000000
check 'assert [t["infohash"] for t in L] == ["'$A'"], L'
grep -q 'not found' "$tmp/err" || fail "get of a missing infohash: $(cat "$tmp/err")"
run 0 -d "$db" --table get $A
grep -q '^name: *Amélie (2001) 1080p BluRay$' "$tmp/out" || fail "get table: $(cat "$tmp/out")"
grep -q '^ .*subs/fr.srt$' "$tmp/out" || fail "get table files: $(cat "$tmp/out")"
grep -q '^magnet: *magnet:' "$tmp/out" || fail "get table magnet: $(cat "$tmp/out")"

# recent: the latest indexed first; pending: in the order first stored.
run 0 -d "$db" recent
check 'assert len(L) == 4 and L[0]["infohash"] == "'$F'", L
assert all(a["indexed"] >= b["indexed"] for a, b in zip(L, L[1:])), L'
# Pending: D was stored before E (though E's sighting is older: it came later, by import).
run 0 -d "$db" pending
check 'assert [t["infohash"] for t in L] == ["'$D'", "'$E'"], L'
run 0 -d "$db" -n 1 pending
check 'assert [t["infohash"] for t in L] == ["'$D'"], L'
run 0 -d "$db" --table pending
grep -q "$E" "$tmp/out" || fail "pending table: $(cat "$tmp/out")"
grep -q '^2 of 2$' "$tmp/out" || fail "pending table footer: $(cat "$tmp/out")"

# stats.
run 0 -d "$db" stats
check 'assert len(L) == 1, L
s = L[0]
assert (s["torrents"], s["pending"], s["blocked"]) == (4, 2, 0), s
assert s["files"] == 5 and s["terms"] > 0 and s["postings"] > 0 and s["bytes_used"] > 0, s
assert s["bytes_per_torrent"] == (s["bytes_used"] + 3) // 6, s
assert len(s["days"]) == 14 and sum(d["indexed"] for d in s["days"]) == 4, s
assert s["days"][0]["time"] + 13 * 86400 == s["days"][-1]["time"], s'
run 0 -d "$db" --table stats
for k in 'torrents: *4$' 'pending: *2$' 'bytes per torrent: ' 'DISCOVERED'; do
	grep -q "^.*$k" "$tmp/out" || fail "stats table lacks $k: $(cat "$tmp/out")"
done

# Pages of one by --cursor cover every result once, in order; the table says what to run next.
for q in "search --sort size" "recent" "search --sort seen --asc"; do
	# shellcheck disable=SC2086
	run 0 -d "$db" -n 0 $q
	"$PY" -c 'import json, sys
print("\n".join(json.loads(l)["infohash"] for l in open(sys.argv[1])))' "$tmp/out" >"$tmp/all"
	: >"$tmp/paged"
	cursor=
	i=0
	while :; do
		if [ -n "$cursor" ]; then
			# shellcheck disable=SC2086
			"$sq" -d "$db" -n 1 $q --cursor "$cursor" >"$tmp/out" 2>"$tmp/err"
		else
			# shellcheck disable=SC2086
			"$sq" -d "$db" -n 1 $q >"$tmp/out" 2>"$tmp/err"
		fi
		rc=$?
		[ "$rc" = 0 ] || { [ "$rc" = 1 ] && [ ! -s "$tmp/out" ]; } || fail "$q page $i: exit $rc"
		"$PY" -c 'import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    print(o["infohash"] if "infohash" in o else "cursor " + o["next_cursor"])' "$tmp/out" \
			>"$tmp/page" || fail "$q page $i: $(cat "$tmp/out")"
		grep -v '^cursor ' "$tmp/page" >>"$tmp/paged"
		[ "$(grep -vc '^cursor ' "$tmp/page")" -le 1 ] || fail "$q: page $i longer than 1"
		cursor=$(sed -n 's/^cursor //p' "$tmp/page")
		[ -n "$cursor" ] || break
		i=$((i + 1))
		[ $i -lt 20 ] || fail "$q: no end to the pages"
	done
	cmp -s "$tmp/all" "$tmp/paged" || fail "$q: pages $(cat "$tmp/paged") differ from $(cat "$tmp/all")"
done
run 0 -d "$db" --table -n 1 recent
grep -q '^1 of 4$' "$tmp/out" || fail "recent table footer: $(cat "$tmp/out")"
more=$(sed -n 's/^more: store-query //p' "$tmp/out")
case $more in
*"--cursor "*) ;;
*) fail "no more: line: $(cat "$tmp/out")" ;;
esac
eval "set -- $more"
run 0 "$@"
grep -q "$F" "$tmp/out" && fail "the next page repeats the first"
grep -q '^1 of 4$' "$tmp/out" || fail "second page footer: $(cat "$tmp/out")"
run 2 -d "$db" search --cursor garbage ubuntu

# export | import into a new store gives the same export; a second import finds all known.
run 0 -d "$db" export --pending
[ "$(wc -l <"$tmp/out")" -eq 6 ] || fail "export --pending: $(cat "$tmp/out")"
cp "$tmp/out" "$tmp/export-a"
run 0 -d "$db" export
[ "$(wc -l <"$tmp/out")" -eq 4 ] || fail "export: $(cat "$tmp/out")"
"$sq" -d "$tmp/b.mdb" import <"$tmp/export-a" 2>"$tmp/err" || fail "import of an export: $(cat "$tmp/err")"
grep -q '^store-query: 6 lines: 6 new, 0 known, 0 blocked, 0 bad' "$tmp/err" ||
	fail "import of an export: $(cat "$tmp/err")"
run 0 -d "$tmp/b.mdb" export --pending
sort "$tmp/export-a" >"$tmp/sorted-a"
sort "$tmp/out" >"$tmp/sorted-b"
cmp -s "$tmp/sorted-a" "$tmp/sorted-b" ||
	fail "exports differ: $(diff "$tmp/sorted-a" "$tmp/sorted-b")"
"$sq" -d "$tmp/b.mdb" export --pending | "$sq" -d "$tmp/b.mdb" import 2>"$tmp/err" ||
	fail "re-import: $(cat "$tmp/err")"
grep -q '^store-query: 6 lines: 0 new, 6 known, 0 blocked, 0 bad' "$tmp/err" ||
	fail "re-import: $(cat "$tmp/err")"

# delete, block, unblock.
run 0 -d "$db" delete $C
[ -s "$tmp/out" ] && fail "delete printed"
run 1 -d "$db" get $C
run 1 -d "$db" delete $C
run 0 -d "$db" block "$up"
run 1 -d "$db" get $B
run 1 -d "$db" search ubuntu
grep "\"$B\"" "$tmp/in1" | head -n 1 >"$tmp/in-b"
run 0 -d "$db" --json import <"$tmp/in-b"
check 'assert L[0]["blocked"] == 1 and L[0]["new"] == 0, L'
run 1 -d "$db" get $B
run 0 -d "$db" stats
check 'assert (L[0]["torrents"], L[0]["blocked"]) == (2, 1), L'
run 0 -d "$db" unblock $B
run 1 -d "$db" unblock $B
run 0 -d "$db" --json import <"$tmp/in-b"
check 'assert L[0]["new"] == 1, L'
run 0 -d "$db" search ubuntu
run 0 -d "$db" reindex
run 0 -d "$db" search amelie

# The default store: $BITSCRAPE_DB, else under $XDG_DATA_HOME, else under ~/.local/share.
BITSCRAPE_DB="$tmp/env/x.mdb" "$sq" import <"$tmp/in2" 2>/dev/null || fail "BITSCRAPE_DB import"
[ -f "$tmp/env/x.mdb" ] || fail "BITSCRAPE_DB not used"
XDG_DATA_HOME="$tmp/xdg" "$sq" import <"$tmp/in2" 2>/dev/null || fail "XDG import"
XDG_DATA_HOME="$tmp/xdg" "$sq" get $F >/dev/null || fail "XDG get"
[ -f "$tmp/xdg/bitscrape/torrents.mdb" ] || fail "XDG_DATA_HOME not used"
(
	unset XDG_DATA_HOME
	HOME="$tmp/home" "$sq" import <"$tmp/in2" 2>/dev/null
) || fail "HOME import"
[ -f "$tmp/home/.local/share/bitscrape/torrents.mdb" ] || fail "\$HOME/.local/share not used"

# SIGTERM during an import from a pipe that stays open: what was read is committed.
mkfifo "$tmp/fifo" || exit 99
"$sq" -d "$tmp/sig.mdb" import <"$tmp/fifo" >"$tmp/out" 2>"$tmp/err" &
pid=$!
exec 3>"$tmp/fifo"
cat "$tmp/in2" >&3
i=0
while [ $i -lt 50 ] && [ ! -e "$tmp/sig.mdb" ]; do
	sleep 0.1
	i=$((i + 1))
done
sleep 1
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
exec 3>&-
[ "$rc" = 143 ] || fail "import stopped by SIGTERM exited $rc, want 143"
grep -q '^store-query: 1 lines: 1 new, .*(interrupted)' "$tmp/err" || fail "SIGTERM: $(cat "$tmp/err")"
run 0 -d "$tmp/sig.mdb" get $F

echo "ok: store-query usage errors, import counts, search, get, recent, pending, stats, pages," \
	"export | import, delete/block/unblock, default paths, SIGTERM"
exit 0
