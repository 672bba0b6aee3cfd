#!/bin/sh
# Interop test of meta-fetch's metadata download (BEP 9 ut_metadata over BEP 10) from real
# Transmission 3.00 seeders (transmission-cli), on loopback only.  tests/interop/lt_meta.py makes
# the two torrents of interop-meta-libtorrent.sh ("single": 3 metadata pieces; "multi": 2
# pieces, nested directories, a non-ASCII name).  transmission-cli takes one torrent, so two
# run, each with its own config dir (a settings.json written here) and the data dir made by
# lt_meta.py: single on 127.0.61.10:6993, multi on 127.0.61.11:6994.  No other test uses them.
#
# Staying on loopback: settings.json binds Transmission's sockets to bind-address-ipv4 (our
# 127.0.61.x) and bind-address-ipv6 (::1), so it cannot send off the machine, and turns off
# DHT, LPD, PEX, uTP, port mapping (also -M) and the blocklist; the torrents have no trackers.
# Encryption is "preferred" (Transmission's default, -ep): it accepts plaintext peers.
#
# Checks, for each torrent: meta-fetch -t DIR INFOHASH IP:PORT exits 0, prints one NDJSON
# line with status ok and the right name, length, files, piece_length, private, metadata_size,
# peer, fetch_ms and torrent; DIR/<hex>.torrent holds the original's exact info bytes and opens
# in libtorrent.  When meta-fetch fails, libtorrent fetches the same metadata from the same
# seeder as a control: if that fails too, the result is ERROR (99), not FAIL.
#
# Transmission is slow to serve metadata: it answers requests on its ~0.5 s pulse and batches
# "low priority" messages for up to 2 s: ~3-4 s for 2-3 pieces requested at once (libtorrent,
# asking one piece at a time, takes ~7 s); meta-fetch gets --timeout 20.  Both fetches run at
# once.  Transmission keys peers by IP: one connection per IP and torrent at a time.  Every wait has a deadline; the whole script is capped at 55 s.
#
# Exit: 0 pass, 1 fail, 77 skip (no transmission-cli, or no /usr/bin/python3 with libtorrent,
# which makes the torrents and checks the results), 99 error (meta-fetch not built, setup
# failed, time cap).
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
TRANSMISSION=${INTEROP_TRANSMISSION:-transmission-cli}
IP_single=127.0.61.10 PORT_single=6993
IP_multi=127.0.61.11 PORT_multi=6994

NAME=interop-meta-tr
if ! command -v "$TRANSMISSION" >/dev/null 2>&1; then
	echo "SKIP: $TRANSMISSION not found (Debian: apt-get install transmission-cli)"
	exit 77
fi
. "$top_srcdir/tests/interop/meta-harness.sh"

# Readiness: transmission-cli prints "Seeding, ..." on stdout once the data is verified and the
# torrent started; it does not flush stdout (and ends its status lines with \r), hence stdbuf.
# Without stdbuf: the debug log line that ends the verification, on stderr (message-level 3).
if command -v stdbuf >/dev/null 2>&1; then
	unbuf="stdbuf -o0" ready_file=out ready_text=Seeding
else
	unbuf='' ready_file=err ready_text="Verification is done"
fi
for kind in single multi; do
	eval "ip=\$IP_$kind port=\$PORT_$kind"
	mkdir -p "$tmp/tr-$kind" || exit 99
	cat >"$tmp/tr-$kind/settings.json" <<EOF
{
    "bind-address-ipv4": "$ip",
    "bind-address-ipv6": "::1",
    "peer-port": $port,
    "peer-port-random-on-start": false,
    "dht-enabled": false,
    "lpd-enabled": false,
    "pex-enabled": false,
    "utp-enabled": false,
    "port-forwarding-enabled": false,
    "blocklist-enabled": false,
    "rpc-enabled": false,
    "encryption": 1,
    "ratio-limit-enabled": false,
    "idle-seeding-limit-enabled": false,
    "speed-limit-up-enabled": false,
    "message-level": 3
}
EOF
	# timeout(1): it ends even if this shell is SIGKILLed.
	start tr-$kind /dev/null timeout -k 2 50 $unbuf "$TRANSMISSION" -g "$tmp/tr-$kind" \
		-w "$tmp/data" -p $port -ep -M "$tmp/$kind.torrent"
done
for kind in single multi; do
	eval "ip=\$IP_$kind port=\$PORT_$kind"
	# The port probe comes from its own address: Transmission drops a connection from an IP
	# that still has a handshake or peer on the torrent, and purges a closed one only at its
	# next pulse (~0.5 s): a probe from 127.0.0.1 makes meta-fetch's connection fail.
	if ! h wait-line "$tmp/tr-$kind.$ready_file" "$ready_text" "$(budget 10)" ||
		! h wait-port $ip $port "$(budget 3)" --from 127.0.61.13
	then
		echo "ERROR: transmission-cli ($kind) was not seeding on $ip:$port within 10 s:"
		show tr-$kind.err tr-$kind.out
		exit 99
	fi
done
say "transmission-cli seeds $ih_single (single) on $IP_single:$PORT_single," \
	"$ih_multi (multi) on $IP_multi:$PORT_multi"

# control KIND: can libtorrent itself fetch the metadata from that seeder?  If not, no verdict.
control() {
	eval "ih=\$ih_$1 ip=\$IP_$1 port=\$PORT_$1"
	if h fetch "$ih" $ip $port "$tmp/control.torrent" --bind 127.0.61.12 \
		--timeout "$(budget 12)"
		2>"$tmp/control.err"; then
		echo "      (control: libtorrent fetched $ih from the same seeder)"
	else
		echo "ERROR: transmission-cli does not serve $ih to libtorrent either:"
		show control.err tr-$1.err
		exit 99
	fi
}

mkdir "$tmp/got" || exit 99
for kind in single multi; do
	eval "ih=\$ih_$kind ip=\$IP_$kind port=\$PORT_$kind"
	start mf-$kind /dev/null timeout -k 2 "$(budget 22)" "$mf" -t "$tmp/got" --timeout 20 \
		"$ih" $ip:$port
done
for kind in single multi; do
	eval "ih=\$ih_$kind ip=\$IP_$kind port=\$PORT_$kind"
	h wait-line "$tmp/mf-$kind.rc" "" "$(budget 25)"
	rc=$(cat "$tmp/mf-$kind.rc" 2>/dev/null) && [ -n "$rc" ] || rc=99
	if [ "$rc" -ne 0 ]; then
		fail "$kind: meta-fetch -t DIR $ih $ip:$port exited with status $rc$([ "$rc" = 124 ] && echo ", killed by timeout(1)") (want 0)"
		show mf-$kind.out mf-$kind.err
		control $kind
	elif ! h check "$tmp/$kind.torrent" "$tmp/mf-$kind.out" --torrent-dir "$tmp/got" \
		--peer $ip:$port >"$tmp/check.out"; then
		fail "$kind: wrong output or torrent file:"
		sed 's/^/    /' "$tmp/check.out"
		show mf-$kind.out mf-$kind.err
	else
		say "PASS $kind: $(cat "$tmp/check.out")"
	fi
done

say "interop-meta-transmission: $fails failed"
[ $fails -eq 0 ]
