/*
 * fuzz-dht-input.c - libFuzzer target for the DHT engine's whole input path (bt_dht_input and
 * what it triggers: parsing, answering, transactions, searches, tables, stores).
 *
 * The input is a script of datagrams: [source:1][advance-ms:1][length:2 big-endian][bytes].
 * The source picks one of 16 addresses (IPv4 and IPv6); before the script runs the engine pings
 * each of them and starts a search, so responses can match real transactions: any "TTTT" in a
 * datagram is replaced by the transaction id of the engine's last query to that source.
 * A crawler is attached, so samples, contact lists and get_peers answers also drive its node
 * table, seen-set and pending ring.
 * Properties checked: the engine answers at most one datagram per query it was sent (plus the
 * queries it makes itself), never sends more than 1500 bytes, and its stats stay consistent;
 * every infohash the crawler takes as new is reported once or counted as unconfirmed (after a
 * flush), with no more peers than max_peers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "btdht.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NSRC 16

static struct {
	bt_addr src[NSRC];
	uint8_t last_tid[NSRC][4];
	int have_tid[NSRC];
	uint64_t sent;
	uint64_t reported;
} F;

static void check(int cond)
{
	if (!cond)
		abort();
}

static int src_of(const bt_addr *a)
{
	for (int i = 0; i < NSRC; i++)
		if (bt_addr_eq(&F.src[i], a))
			return i;
	return -1;
}

static int fuzz_send(const uint8_t *p, size_t len, const struct sockaddr *to, socklen_t tl,
                     void *ud)
{
	(void)ud;
	bt_addr a;
	check(len > 0 && len <= 1500);
	check(bt_addr_from_sockaddr(&a, to, tl) == 0);
	F.sent++;
	/* Remember the transaction id of a query (bencoded "1:t4:" followed by 4 bytes). */
	int s = src_of(&a);
	const uint8_t *t = len > 9 ? memmem(p, len, "1:t4:", 5) : NULL;
	if (s >= 0 && t && (size_t)(t - p) + 9 <= len && memmem(p, len, "1:y1:q", 6)) {
		memcpy(F.last_tid[s], t + 5, 4);
		F.have_tid[s] = 1;
	}
	return 0;
}

static void ignore_search(const uint8_t ih[20], const struct sockaddr *peer, socklen_t pl, int done,
                          void *ud)
{
	(void)ih, (void)peer, (void)pl, (void)done, (void)ud;
}

static void on_discovery(const bt_dht_discovery *dv, void *ud)
{
	(void)ud;
	check(dv->infohash != NULL && dv->npeers <= 4);
	check(dv->source >= BT_DHT_SRC_GET_PEERS && dv->source <= BT_DHT_SRC_SAMPLE);
	F.reported++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	memset(&F, 0, sizeof(F));
	for (int i = 0; i < NSRC; i++) {
		bt_addr *a = &F.src[i];
		if (i < 12) {
			a->family = 4;
			a->ip[0] =
			    (uint8_t)(i < 6 ? 127 : 82); /* local and public (BEP 42 paths) */
			a->ip[1] = 1;
			a->ip[3] = (uint8_t)(i + 1);
		} else {
			a->family = 6;
			a->ip[0] = 0x20;
			a->ip[1] = 0x01;
			a->ip[15] = (uint8_t)i;
		}
		a->port = (uint16_t)(6881 + i);
	}
	bt_dht_options o = BT_DHT_OPTIONS_INIT;
	o.seed = 1;
	o.send = fuzz_send;
	o.max_infohashes = 64;
	o.max_peers = 8;
	bt_dht *d;
	uint64_t now = 1000000;
	check(bt_dht_new(&d, &o, now) == 0);
	bt_dht_crawl_options co = BT_DHT_CRAWL_OPTIONS_INIT;
	co.on_discovery = on_discovery;
	co.seen_capacity = 1000;
	co.max_nodes = 64;
	co.max_pending = 16;
	co.max_peers = 4;
	co.node_gap_ms = 50;
	co.peer_wait_ms = 5000;
	co.allow_local = 1;
	bt_dht_crawler *cr;
	check(bt_dht_crawler_new(&cr, d, &co, now) == 0);
	for (int i = 0; i < NSRC; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = bt_addr_to_sockaddr(&F.src[i], &ss);
		if (i % 2)
			bt_dht_add_node(d, (struct sockaddr *)&ss, sl, now);
		else
			bt_dht_ping(d, (struct sockaddr *)&ss, sl, NULL, NULL, now);
	}
	uint8_t ih[20] = {0x55};
	bt_dht_search(d, ih, BT_DHT_SEARCH_ANNOUNCE, 6881, ignore_search, NULL, now, NULL);

	size_t off = 0;
	uint8_t msg[2048];
	while (off + 4 <= size) {
		int s = data[off] % NSRC;
		now += data[off + 1] * 37u;
		size_t len = (size_t)data[off + 2] << 8 | data[off + 3];
		off += 4;
		if (len > size - off)
			len = size - off;
		if (len > sizeof(msg))
			len = sizeof(msg);
		memcpy(msg, data + off, len);
		off += len;
		if (F.have_tid[s]) {
			for (uint8_t *p = msg; (p = memmem(p, len - (size_t)(p - msg), "TTTT", 4));
			     p += 4)
				memcpy(p, F.last_tid[s], 4);
		}
		struct sockaddr_storage ss;
		socklen_t sl = bt_addr_to_sockaddr(&F.src[s], &ss);
		bt_dht_input(d, msg, len, (struct sockaddr *)&ss, sl, now);
		bt_dht_tick(d, now);
	}
	bt_dht_crawler_flush(cr, now);
	bt_dht_crawl_stats cs;
	check(bt_dht_crawler_get_stats(cr, &cs) == 0);
	check(cs.pending == 0 && cs.reported == F.reported &&
	      cs.reported + cs.unconfirmed == cs.seen);
	check(cs.nodes <= 64);
	bt_dht_crawler_free(cr);
	bt_dht_stats st;
	check(bt_dht_get_stats(d, &st, now) == 0);
	check(st.out_messages == F.sent);
	check(st.infohashes <= 64);
	/* a save/load round trip of whatever the table became */
	uint8_t *saved;
	size_t slen;
	if (bt_dht_save(d, &saved, &slen) == 0) {
		check(bt_dht_load(d, saved, slen, now) == 0);
		free(saved);
	}
	bt_dht_free(d);
	return 0;
}
