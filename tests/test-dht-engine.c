/*
 * test-dht-engine.c - the DHT engine (libbtdht/dht.c) driven with bytes and a fake clock.
 *
 * Two kinds of test.  Probes send hand-made KRPC datagrams to one node and parse what it sends
 * back, so the server side is checked message by message against BEP 5/32/51.  Networks connect
 * many engines through an in-memory queue (each node has its own 127.x address), so bootstrap,
 * searches, announces, timeouts and limits are checked end to end, deterministically.
 */
#include <check.h>

#include "test-util.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "bep42.h"
#include "btdht.h"
#include "krpc.h"

/* ---- an in-memory network ---- */

#define MAX_NODES 256
#define QUEUE_MAX 200000

struct pkt {
	bt_addr from, to;
	uint16_t len;
	uint8_t data[1500];
};

struct node {
	bt_dht *dht;
	bt_addr addr;
	int silent; /* drops everything it receives */
	uint64_t sent;
	unsigned found_infohash;
};

static struct net {
	struct node nodes[MAX_NODES];
	int n;
	struct pkt *q;
	size_t qhead, qlen;
	uint64_t now;
	uint64_t dropped;
	int v6; /* nodes live at fd00::1:i (IPv6 only) instead of 127.1.x.y */
	/* the probe: a fake remote party whose received datagrams are kept here */
	bt_addr probe_addr;
	struct pkt probe_rx[64];
	int probe_n;
} net;

static bt_addr node_addr(int i)
{
	bt_addr a;
	memset(&a, 0, sizeof(a));
	a.port = 6881;
	if (net.v6) {
		a.family = 6;
		a.ip[0] = 0xfd;
		a.ip[13] = 1;
		a.ip[14] = (uint8_t)(i >> 8);
		a.ip[15] = (uint8_t)(i & 255);
		return a;
	}
	a.family = 4;
	a.ip[0] = 127;
	a.ip[1] = 1;
	a.ip[2] = (uint8_t)(i >> 8);
	a.ip[3] = (uint8_t)(i & 255);
	return a;
}

static int net_send(const uint8_t *data, size_t len, const struct sockaddr *to, socklen_t tolen,
                    void *ud)
{
	struct node *src = ud;
	bt_addr dst;
	ck_assert_int_eq(bt_addr_from_sockaddr(&dst, to, tolen), 0);
	ck_assert(len <= 1500);
	src->sent++;
	if (bt_addr_eq(&dst, &net.probe_addr)) {
		if (net.probe_n < 64) {
			struct pkt *p = &net.probe_rx[net.probe_n++];
			p->from = src->addr;
			p->to = dst;
			p->len = (uint16_t)len;
			memcpy(p->data, data, len);
		}
		return 0;
	}
	if (net.qlen == QUEUE_MAX) {
		net.dropped++;
		return 0;
	}
	struct pkt *p = &net.q[(net.qhead + net.qlen++) % QUEUE_MAX];
	p->from = src->addr;
	p->to = dst;
	p->len = (uint16_t)len;
	memcpy(p->data, data, len);
	return 0;
}

static struct node *node_at(const bt_addr *a)
{
	int i = a->ip[net.v6 ? 14 : 2] << 8 | a->ip[net.v6 ? 15 : 3];
	if (i >= net.n)
		return NULL;
	bt_addr want = node_addr(i);
	return bt_addr_eq(a, &want) ? &net.nodes[i] : NULL;
}

static void on_infohash(const uint8_t ih[20], bt_dht_source src, const struct sockaddr *from,
                        socklen_t fl, const struct sockaddr *peer, socklen_t pl, void *ud)
{
	(void)ih, (void)src, (void)from, (void)fl, (void)peer, (void)pl;
	((struct node *)ud)->found_infohash++;
}

static void net_init_family(int n, void (*tweak)(bt_dht_options *), int v6)
{
	memset(&net, 0, sizeof(net));
	net.v6 = v6;
	net.q = malloc(sizeof(struct pkt) * QUEUE_MAX);
	ck_assert_ptr_nonnull(net.q);
	net.now = 1000000;
	net.n = n;
	memset(&net.probe_addr, 0, sizeof(net.probe_addr));
	net.probe_addr.family = 4;
	net.probe_addr.ip[0] = 127;
	net.probe_addr.ip[1] = 9;
	net.probe_addr.ip[3] = 1;
	net.probe_addr.port = 4000;
	for (int i = 0; i < n; i++) {
		bt_dht_options o = BT_DHT_OPTIONS_INIT;
		o.families = v6 ? BT_DHT_IPV6 : BT_DHT_IPV4;
		o.seed = 1000 + (uint64_t)i;
		o.send = net_send;
		o.send_ud = &net.nodes[i];
		o.on_infohash = on_infohash;
		o.cb_ud = &net.nodes[i];
		o.max_out_qps = 1000;
		o.max_out_bps = 1000000;
		o.max_in_qps_ip = 1000;
		if (tweak)
			tweak(&o);
		net.nodes[i].addr = node_addr(i);
		ck_assert_int_eq(bt_dht_new(&net.nodes[i].dht, &o, net.now), 0);
	}
}

static void net_init(int n, void (*tweak)(bt_dht_options *))
{
	net_init_family(n, tweak, 0);
}

static void net_free(void)
{
	for (int i = 0; i < net.n; i++)
		bt_dht_free(net.nodes[i].dht);
	free(net.q);
	net.q = NULL;
}

static void deliver(void)
{
	for (size_t guard = 0; net.qlen && guard < 10 * QUEUE_MAX; guard++) {
		struct pkt p = net.q[net.qhead];
		net.qhead = (net.qhead + 1) % QUEUE_MAX;
		net.qlen--;
		struct node *dst = node_at(&p.to);
		if (!dst || dst->silent)
			continue;
		struct sockaddr_storage ss;
		socklen_t sl = bt_addr_to_sockaddr(&p.from, &ss);
		bt_dht_input(dst->dht, p.data, p.len, (struct sockaddr *)&ss, sl, net.now);
	}
}

static void run(uint64_t ms)
{
	for (uint64_t t = 0; t < ms; t += 50) {
		net.now += 50;
		deliver();
		for (int i = 0; i < net.n; i++)
			bt_dht_tick(net.nodes[i].dht, net.now);
		deliver();
	}
}

static void bootstrap_all(int from)
{
	struct sockaddr_storage ss;
	socklen_t sl = bt_addr_to_sockaddr(&net.nodes[from].addr, &ss);
	for (int i = 0; i < net.n; i++)
		if (i != from)
			ck_assert_int_eq(
			    bt_dht_add_node(net.nodes[i].dht, (struct sockaddr *)&ss, sl, net.now),
			    0);
}

/* ---- the probe: raw KRPC into node 0 ---- */

static void probe_raw(const void *data, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = bt_addr_to_sockaddr(&net.probe_addr, &ss);
	net.probe_n = 0;
	bt_dht_input(net.nodes[0].dht, data, len, (struct sockaddr *)&ss, sl, net.now);
}

static void probe_str(const char *s)
{
	probe_raw(s, strlen(s));
}

static void probe_query(bt_dht__krpc_msg *q)
{
	uint8_t mem[1500];
	bt_buf b;
	bt_buf_init_fixed(&b, mem, sizeof(mem));
	q->kind = BT_DHT__KRPC_QUERY;
	q->t = (const uint8_t *)"tt";
	q->tlen = 2;
	if (!q->has_id) {
		q->has_id = true;
		memset(q->id.b, 0x77, 20);
	}
	ck_assert_int_eq(bt_dht__krpc_encode(&b, q), 0);
	probe_raw(b.data, b.len);
}

/* The single reply to the last probe, parsed into @r. */
static void probe_reply(bt_dht__krpc_msg *r)
{
	ck_assert_int_eq(net.probe_n, 1);
	ck_assert_int_eq(bt_dht__krpc_parse(r, net.probe_rx[0].data, net.probe_rx[0].len), 0);
	ck_assert_uint_eq(r->tlen, 2);
	ck_assert(memcmp(r->t, "tt", 2) == 0);
}

static bt_dht_stats stats(int i)
{
	bt_dht_stats st;
	ck_assert_int_eq(bt_dht_get_stats(net.nodes[i].dht, &st, net.now), 0);
	return st;
}

START_TEST(test_options)
{
	bt_dht *d;
	bt_dht_options o = BT_DHT_OPTIONS_INIT;
	ck_assert_int_eq(bt_dht_new(&d, &o, 0), BT_DHT_E_INVAL); /* no send callback */
	o.send = net_send;
	o.version = 99;
	ck_assert_int_eq(bt_dht_new(&d, &o, 0), BT_DHT_E_VERSION);
	o.version = BT_DHT_OPTIONS_VERSION;
	o.families = 0;
	ck_assert_int_eq(bt_dht_new(&d, &o, 0), BT_DHT_E_INVAL);
	o.families = BT_DHT_IPV4;
	o.max_out_qps = 0;
	ck_assert_int_eq(bt_dht_new(&d, &o, 0), BT_DHT_E_INVAL);
	o.max_out_qps = 10;
	uint8_t id[20];
	memset(id, 0xAB, 20);
	o.node_id = id;
	ck_assert_int_eq(bt_dht_new(&d, &o, 0), 0);
	uint8_t got[20];
	bt_dht_get_id(d, got);
	ck_assert(memcmp(got, id, 20) == 0);
	ck_assert_int_eq(bt_dht_set_limits(d, &o, 0), 0);
	o.max_peers = 0;
	ck_assert_int_eq(bt_dht_set_limits(d, &o, 0), BT_DHT_E_INVAL);
	bt_dht_free(d);
	bt_dht_free(NULL);
	for (int e = BT_DHT_E_NOENT; e <= BT_DHT_E_INVAL; e++)
		ck_assert_str_ne(bt_dht_strerror(e), "Unknown error");
	ck_assert_str_eq(bt_dht_version(), "0.2.0");
}
END_TEST

START_TEST(test_probe_ping_find_node)
{
	net_init(1, NULL);
	bt_dht__krpc_msg q, r;
	memset(&q, 0, sizeof(q));
	q.method = BT_DHT__KRPC_M_PING;
	probe_query(&q);
	probe_reply(&r);
	ck_assert_int_eq(r.kind, BT_DHT__KRPC_RESPONSE);
	uint8_t id[20];
	bt_dht_get_id(net.nodes[0].dht, id);
	ck_assert(memcmp(r.id.b, id, 20) == 0);
	ck_assert(r.has_ip && bt_addr_eq(&r.ip, &net.probe_addr)); /* BEP 42 "ip" */
	ck_assert_uint_eq(r.vlen, 4);

	memset(&q, 0, sizeof(q));
	q.method = BT_DHT__KRPC_M_FIND_NODE;
	q.has_target = true;
	probe_query(&q);
	probe_reply(&r);
	ck_assert_ptr_nonnull(r.nodes); /* IPv4 request, no want: "nodes" (empty table) */
	ck_assert_ptr_null(r.nodes6);
	ck_assert_int_eq(stats(0).in_queries[0], 1);
	ck_assert_int_eq(stats(0).in_queries[1], 1);
	net_free();
}
END_TEST

START_TEST(test_probe_announce_get_peers_sample)
{
	net_init(1, NULL);
	bt_dht__krpc_msg q, r;
	bt_id ih;
	memset(ih.b, 0x42, 20);

	/* get_peers: a token, no values yet */
	memset(&q, 0, sizeof(q));
	q.method = BT_DHT__KRPC_M_GET_PEERS;
	q.has_info_hash = true;
	q.info_hash = ih;
	probe_query(&q);
	probe_reply(&r);
	ck_assert_ptr_nonnull(r.token);
	ck_assert_uint_eq(r.nvalues, 0);
	uint8_t token[64];
	size_t tlen = r.token_len;
	memcpy(token, r.token, tlen);
	ck_assert_uint_eq(net.nodes[0].found_infohash, 1);

	/* announce with a wrong token: 203, nothing stored */
	memset(&q, 0, sizeof(q));
	q.method = BT_DHT__KRPC_M_ANNOUNCE_PEER;
	q.has_info_hash = true;
	q.info_hash = ih;
	q.port = 5555;
	q.token = (const uint8_t *)"wrongtok";
	q.token_len = 8;
	probe_query(&q);
	probe_reply(&r);
	ck_assert_int_eq(r.kind, BT_DHT__KRPC_ERROR);
	ck_assert_int_eq(r.err_code, 203);
	ck_assert_int_eq(stats(0).bad_tokens, 1);
	ck_assert_int_eq(stats(0).infohashes, 0);

	/* with the right token: stored, and served back */
	q.token = token;
	q.token_len = tlen;
	probe_query(&q);
	probe_reply(&r);
	ck_assert_int_eq(r.kind, BT_DHT__KRPC_RESPONSE);
	ck_assert_int_eq(stats(0).infohashes, 1);
	ck_assert_int_eq(stats(0).peers, 1);

	memset(&q, 0, sizeof(q));
	q.method = BT_DHT__KRPC_M_GET_PEERS;
	q.has_info_hash = true;
	q.info_hash = ih;
	probe_query(&q);
	probe_reply(&r);
	ck_assert_uint_eq(r.nvalues, 1);
	bt_addr peer;
	ck_assert_int_eq(bt_addr_from_compact(&peer, r.values[0], r.values_len[0]), 0);
	ck_assert(bt_addr_ip_eq(&peer, &net.probe_addr));
	ck_assert_uint_eq(peer.port, 5555);

	/* implied_port: the source port is announced */
	memset(&q, 0, sizeof(q));
	q.method = BT_DHT__KRPC_M_ANNOUNCE_PEER;
	q.has_info_hash = true;
	memset(q.info_hash.b, 0x43, 20);
	q.implied_port = true;
	q.port = 9;
	q.token = token;
	q.token_len = tlen;
	probe_query(&q);
	probe_reply(&r);
	ck_assert_int_eq(r.kind, BT_DHT__KRPC_RESPONSE);

	/* BEP 51: both infohashes sampled, num and interval present, nodes too */
	memset(&q, 0, sizeof(q));
	q.method = BT_DHT__KRPC_M_SAMPLE_INFOHASHES;
	q.has_target = true;
	probe_query(&q);
	probe_reply(&r);
	ck_assert_ptr_nonnull(r.samples);
	ck_assert_uint_eq(r.samples_len, 40);
	ck_assert(r.has_num && r.num == 2);
	ck_assert(r.has_interval && r.interval >= 0 && r.interval <= 21600);
	ck_assert_ptr_nonnull(r.nodes);
	int seen42 = 0, seen43 = 0;
	for (int i = 0; i < 2; i++) {
		seen42 |= r.samples[20 * i] == 0x42;
		seen43 |= r.samples[20 * i] == 0x43;
	}
	ck_assert(seen42 && seen43);
	net_free();
}
END_TEST

START_TEST(test_probe_errors_and_garbage)
{
	net_init(1, NULL);
	bt_dht__krpc_msg r;
	/* unknown method, no target: 204 */
	probe_str("d1:ad2:id20:abcdefghij0123456789e1:q4:zzzz1:t2:tt1:y1:qe");
	probe_reply(&r);
	ck_assert_int_eq(r.kind, BT_DHT__KRPC_ERROR);
	ck_assert_int_eq(r.err_code, 204);
	/* unknown method with a target: answered like find_node */
	probe_str("d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q4:zzzz1:t2:"
	          "tt1:y1:qe");
	probe_reply(&r);
	ck_assert_int_eq(r.kind, BT_DHT__KRPC_RESPONSE);
	ck_assert_ptr_nonnull(r.nodes);
	/* a malformed find_node (target of 19 bytes) with a t: 203 */
	probe_str("d1:ad2:id20:abcdefghij01234567896:target19:mnopqrstuvwxyz12345e1:q9:find_node1:"
	          "t2:tt1:y1:qe");
	probe_reply(&r);
	ck_assert_int_eq(r.kind, BT_DHT__KRPC_ERROR);
	ck_assert_int_eq(r.err_code, 203);
	/* garbage, a response nobody asked for, truncated messages: dropped, counted, no reply */
	uint64_t malformed = stats(0).malformed;
	probe_str("hello");
	ck_assert_int_eq(net.probe_n, 0);
	static const char unasked[] = "d1:rd2:id20:abcdefghij0123456789e1:t4:\0\0\0\0"
	                              "1:y1:re";
	probe_raw(unasked, sizeof(unasked) - 1);
	ck_assert_int_eq(net.probe_n, 0);
	ck_assert_int_eq(stats(0).unexpected, 1);
	const char *ok = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:tt1:y1:qe";
	for (size_t cut = 0; cut < strlen(ok); cut++) {
		uint8_t *p = malloc(cut + 1);
		memcpy(p, ok, cut);
		probe_raw(p, cut);
		ck_assert_int_eq(net.probe_n, 0);
		free(p);
	}
	ck_assert_int_eq(stats(0).malformed, malformed + 1 + strlen(ok));
	net_free();
}
END_TEST

static void limit_in_qps(bt_dht_options *o)
{
	o->max_in_qps_ip = 5;
}

START_TEST(test_incoming_rate_limit)
{
	net_init(1, limit_in_qps);
	int answered = 0;
	for (int i = 0; i < 50; i++) {
		probe_raw("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:tt1:y1:qe", 56);
		answered += net.probe_n;
	}
	ck_assert_int_eq(answered, 5);
	ck_assert_int_eq(stats(0).rate_limited, 45);
	net.now += 1000; /* a new second */
	probe_raw("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:tt1:y1:qe", 56);
	ck_assert_int_eq(net.probe_n, 1);
	net_free();
}
END_TEST

static void read_only(bt_dht_options *o)
{
	o->read_only = 1;
}

START_TEST(test_read_only)
{
	net_init(2, read_only);
	probe_raw("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:tt1:y1:qe", 56);
	ck_assert_int_eq(net.probe_n, 0); /* BEP 43: no answers */
	net_free();
}
END_TEST

START_TEST(test_bootstrap_and_tables)
{
	net_init(60, NULL);
	bootstrap_all(0);
	run(40000);
	for (int i = 0; i < net.n; i++) {
		bt_dht_stats st = stats(i);
		ck_assert_msg(st.nodes[0] >= 8, "node %d knows only %llu nodes", i,
		              (unsigned long long)st.nodes[0]);
		ck_assert_int_eq(st.malformed, 0);
		ck_assert_int_eq(st.unexpected, 0);
	}
	/* a smaller max_nodes at run time: caches emptied, bucket nodes kept */
	bt_dht_stats before = stats(3);
	bt_dht_options lim = BT_DHT_OPTIONS_INIT;
	lim.max_nodes = 4;
	ck_assert_int_eq(bt_dht_set_limits(net.nodes[3].dht, &lim, net.now), 0);
	bt_dht_stats after = stats(3);
	ck_assert_uint_eq(after.cached[0], 0);
	ck_assert_uint_le(after.nodes[0], before.nodes[0]);
	ck_assert_uint_ge(after.nodes[0], before.nodes_good[0]); /* no good node dropped */
	ck_assert_uint_gt(before.cached[0] + before.nodes[0], 4);
	lim.max_nodes = 0;
	ck_assert_int_eq(bt_dht_set_limits(net.nodes[3].dht, &lim, net.now), 0);

	/* save and load round trip on a fresh node */
	uint8_t *saved;
	size_t len;
	ck_assert_int_eq(bt_dht_save(net.nodes[5].dht, &saved, &len), 0);
	bt_dht *fresh;
	bt_dht_options o = BT_DHT_OPTIONS_INIT;
	o.families = BT_DHT_IPV4;
	o.seed = 7;
	o.send = net_send;
	o.send_ud = &net.nodes[5];
	ck_assert_int_eq(bt_dht_new(&fresh, &o, net.now), 0);
	uint64_t sent_before = net.nodes[5].sent;
	ck_assert_int_eq(bt_dht_load(fresh, saved, len, net.now), 0);
	uint8_t a[20], b[20];
	bt_dht_get_id(fresh, a);
	bt_dht_get_id(net.nodes[5].dht, b);
	ck_assert(memcmp(a, b, 20) == 0);
	ck_assert_uint_ge(net.nodes[5].sent - sent_before, 8); /* contacted the saved nodes */
	ck_assert_int_eq(bt_dht_load(fresh, (const uint8_t *)"de", 2, net.now), BT_DHT_E_FORMAT);
	ck_assert_int_eq(bt_dht_load(fresh, saved, len - 1, net.now), BT_DHT_E_FORMAT);
	free(saved);
	bt_dht_free(fresh);
	net_free();
}
END_TEST

static struct {
	int peers, done;
	bt_addr last;
} sres;

static void search_cb(const uint8_t ih[20], const struct sockaddr *peer, socklen_t pl, int done,
                      void *ud)
{
	(void)ih, (void)ud;
	if (done) {
		sres.done++;
		return;
	}
	sres.peers++;
	bt_addr_from_sockaddr(&sres.last, peer, pl);
}

static void search_and_announce(int v6)
{
	net_init_family(80, NULL, v6);
	bootstrap_all(0);
	run(20000);
	uint8_t ih[20];
	memset(ih, 0x5A, 20);
	memset(&sres, 0, sizeof(sres));
	/* node 10 announces port 7000; node 50 then finds it */
	ck_assert_int_eq(bt_dht_search(net.nodes[10].dht, ih, BT_DHT_SEARCH_ANNOUNCE, 7000,
	                               search_cb, NULL, net.now, NULL),
	                 0);
	run(15000);
	ck_assert_int_eq(sres.done, 1);
	int stored = 0;
	for (int i = 0; i < net.n; i++)
		stored += stats(i).peers > 0;
	ck_assert_int_ge(stored, 4);

	memset(&sres, 0, sizeof(sres));
	ck_assert_int_eq(bt_dht_search(net.nodes[50].dht, ih, 0, 0, search_cb, NULL, net.now, NULL),
	                 0);
	run(15000);
	ck_assert_int_eq(sres.done, 1);
	bt_dht_stats s50 = stats(50);
	ck_assert_msg(sres.peers >= 1, "no peer: node 50 sent %llu get_peers, knows %llu nodes",
	              (unsigned long long)s50.out_queries[2], (unsigned long long)s50.nodes[0]);
	ck_assert(bt_addr_ip_eq(&sres.last, &net.nodes[10].addr));
	ck_assert_uint_eq(sres.last.port, 7000);
	ck_assert_int_eq(stats(50).searches, 0);
	bt_dht_stats st = stats(50);
	ck_assert_uint_gt(st.nodes[v6], 0); /* the table of the family in use */
	ck_assert_uint_eq(st.nodes[!v6], 0);
	net_free();
}

START_TEST(test_search_and_announce)
{
	search_and_announce(0);
}
END_TEST

START_TEST(test_search_and_announce_ipv6)
{
	search_and_announce(1);
}
END_TEST

static struct {
	int calls, ok;
	unsigned rtt;
	uint8_t id[20];
} pres;

static void ping_cb(int ok, const struct sockaddr *addr, socklen_t len, const uint8_t id[20],
                    const uint8_t *v, size_t vlen, unsigned rtt, void *ud)
{
	(void)addr, (void)len, (void)ud;
	pres.calls++;
	pres.ok = ok;
	pres.rtt = rtt;
	if (ok) {
		memcpy(pres.id, id, 20);
		ck_assert_uint_eq(vlen, 4);
		ck_assert(memcmp(v, "BS\0\1", 4) == 0);
	}
}

START_TEST(test_timeouts_and_retries)
{
	net_init(3, NULL);
	/* a ping that is answered */
	struct sockaddr_storage ss;
	socklen_t sl = bt_addr_to_sockaddr(&net.nodes[2].addr, &ss);
	memset(&pres, 0, sizeof(pres));
	ck_assert_int_eq(
	    bt_dht_ping(net.nodes[0].dht, (struct sockaddr *)&ss, sl, ping_cb, NULL, net.now), 0);
	run(100);
	ck_assert_int_eq(pres.calls, 1);
	ck_assert_int_eq(pres.ok, 1);
	uint8_t id2[20];
	bt_dht_get_id(net.nodes[2].dht, id2);
	ck_assert(memcmp(pres.id, id2, 20) == 0);

	/* one that is not: retried once, then reported */
	net.nodes[1].silent = 1;
	sl = bt_addr_to_sockaddr(&net.nodes[1].addr, &ss);
	memset(&pres, 0, sizeof(pres));
	uint64_t out0 = stats(0).out_messages;
	ck_assert_int_eq(
	    bt_dht_ping(net.nodes[0].dht, (struct sockaddr *)&ss, sl, ping_cb, NULL, net.now), 0);
	ck_assert_int_eq(stats(0).pending, 1);
	run(1000);
	ck_assert_int_eq(stats(0).out_messages - out0, 1);
	run(1500); /* first timeout: one retry */
	ck_assert_int_eq(stats(0).out_messages - out0, 2);
	ck_assert_int_eq(stats(0).timeouts, 0);
	ck_assert_int_eq(pres.calls, 0);
	run(2500);
	ck_assert_int_eq(stats(0).timeouts, 1);
	ck_assert_int_eq(stats(0).pending, 0);
	ck_assert_int_eq(stats(0).out_messages - out0, 2);
	ck_assert_int_eq(pres.calls, 1);
	ck_assert_int_eq(pres.ok, 0);

	/* a search whose only candidate (node 2, now in the table) is silent still ends */
	net.nodes[2].silent = 1;
	uint8_t ih[20] = {1};
	memset(&sres, 0, sizeof(sres));
	ck_assert_int_eq(bt_dht_search(net.nodes[0].dht, ih, 0, 0, search_cb, NULL, net.now, NULL),
	                 0);
	run(10000);
	ck_assert_int_eq(sres.done, 1);
	net_free();
}
END_TEST

/* on_node sends 40 pings: the table of pending queries grows (moves) while the response that
 * triggered the callback is being handled.  ASan catches any pointer kept across it. */
static int pings_sent;

static void on_node_pings(const uint8_t id[20], const struct sockaddr *addr, socklen_t len,
                          void *ud)
{
	struct node *n = ud;
	(void)id, (void)addr, (void)len;
	if (n != &net.nodes[1] || pings_sent++)
		return; /* once, from node 1 */
	for (int k = 0; k < 40; k++) {
		bt_addr a = node_addr(200 + k); /* nobody there: they stay pending */
		struct sockaddr_storage ss;
		socklen_t sl = bt_addr_to_sockaddr(&a, &ss);
		bt_dht_ping(n->dht, (struct sockaddr *)&ss, sl, NULL, NULL, net.now);
	}
}

static void with_on_node_pings(bt_dht_options *o)
{
	o->on_node = on_node_pings; /* its cb_ud is the node (see net_init) */
}

START_TEST(test_callbacks_may_send)
{
	pings_sent = 0;
	net_init(3, with_on_node_pings);
	bootstrap_all(0);
	run(500);
	ck_assert_uint_ge(stats(1).pending, 40);
	ck_assert_uint_ge(stats(1).nodes[0], 1);
	run(10000);
	ck_assert_int_eq(stats(1).pending, 0);
	net_free();
}
END_TEST

START_TEST(test_search_no_reentry)
{
	net_init(1, NULL);
	uint8_t ih[20] = {9};
	memset(&sres, 0, sizeof(sres));
	uint64_t id;
	ck_assert_int_eq(bt_dht_search(net.nodes[0].dht, ih, 0, 0, search_cb, NULL, net.now, &id),
	                 0);
	ck_assert_int_eq(sres.done, 0); /* nobody to ask, but no callback inside the call */
	bt_dht_tick(net.nodes[0].dht, net.now);
	ck_assert_int_eq(sres.done, 1);
	ck_assert_int_eq(bt_dht_search_cancel(net.nodes[0].dht, id), BT_DHT_E_NOENT);
	ck_assert_int_eq(bt_dht_search_cancel(NULL, id), BT_DHT_E_INVAL);
	ck_assert_int_eq(bt_dht_search(net.nodes[0].dht, ih, BT_DHT_SEARCH_ANNOUNCE, 0, NULL, NULL,
	                               net.now, NULL),
	                 BT_DHT_E_INVAL);
	ck_assert_int_eq(bt_dht_search(net.nodes[0].dht, ih, 0, 70000, NULL, NULL, net.now, NULL),
	                 BT_DHT_E_INVAL);
	net_free();
}
END_TEST

START_TEST(test_spoofed_response_ignored)
{
	net_init(2, NULL);
	net.nodes[1].silent = 1;
	struct sockaddr_storage ss;
	socklen_t sl = bt_addr_to_sockaddr(&net.nodes[1].addr, &ss);
	ck_assert_int_eq(
	    bt_dht_ping(net.nodes[0].dht, (struct sockaddr *)&ss, sl, NULL, NULL, net.now), 0);
	/* Forge the answer from another address with every possible slot/nonce guess of one. */
	const struct pkt *sent = &net.q[net.qhead];
	bt_dht__krpc_msg q;
	ck_assert_int_eq(bt_dht__krpc_parse(&q, sent->data, sent->len), 0);
	char forged[] = "d1:rd2:id20:abcdefghij0123456789e1:t4:XXXX1:y1:re";
	ck_assert_uint_eq(q.tlen, 4);
	memcpy(forged + 38, q.t, 4);
	probe_raw(forged, sizeof(forged) - 1); /* right t, wrong source address */
	ck_assert_int_eq(stats(0).unexpected, 1);
	ck_assert_int_eq(stats(0).pending, 1);
	ck_assert_int_eq(stats(0).nodes[0], 0);
	net_free();
}
END_TEST

/* Node @voter (an address of its own) answers a ping of ours saying our address is @ext. */
static void vote_from(int voter, const bt_addr *ext, int i)
{
	net.probe_addr.ip[3] = (uint8_t)(10 + voter);
	struct sockaddr_storage ss;
	socklen_t sl = bt_addr_to_sockaddr(&net.probe_addr, &ss);
	ck_assert_int_eq(
	    bt_dht_ping(net.nodes[0].dht, (struct sockaddr *)&ss, sl, NULL, NULL, net.now), 0);
	const struct pkt *p = &net.probe_rx[0];
	ck_assert_int_eq(net.probe_n, 1);
	bt_dht__krpc_msg q, r;
	ck_assert_int_eq(bt_dht__krpc_parse(&q, p->data, p->len), 0);
	memset(&r, 0, sizeof(r));
	r.kind = BT_DHT__KRPC_RESPONSE;
	r.t = q.t;
	r.tlen = q.tlen;
	r.has_id = true;
	memset(r.id.b, 0x30 + i, 20);
	r.has_ip = true;
	r.ip = *ext;
	uint8_t mem[512];
	bt_buf b;
	bt_buf_init_fixed(&b, mem, sizeof(mem));
	ck_assert_int_eq(bt_dht__krpc_encode(&b, &r), 0);
	probe_raw(b.data, b.len);
}

START_TEST(test_bep42_vote)
{
	net_init(1, NULL);
	bt_addr ext;
	ck_assert_int_eq(bt_addr_parse(&ext, "124.31.75.21:1"), 0);
	uint8_t before[20], id[20];
	bt_dht_get_id(net.nodes[0].dht, before);
	/* One node saying it eight times is one vote. */
	for (int i = 0; i < 8; i++)
		vote_from(0, &ext, i);
	bt_dht_get_id(net.nodes[0].dht, id);
	ck_assert(memcmp(id, before, 20) == 0);
	/* Eight distinct nodes report our address as 124.31.75.21: we derive a BEP 42 id for it. */
	for (int i = 1; i < 8; i++)
		vote_from(i, &ext, i);
	bt_dht_get_id(net.nodes[0].dht, id);
	bt_id bid;
	memcpy(bid.b, id, 20);
	ck_assert(bt_dht__bep42_check(&bid, &ext));
	net_free();
}
END_TEST

static void limit_out(bt_dht_options *o)
{
	o->max_out_qps = 10;
}

START_TEST(test_outgoing_query_budget)
{
	net_init(100, NULL);
	bootstrap_all(0);
	run(20000);
	/* node 7 now searches 20 infohashes at 10 queries/s: never more than the budget (a burst
	 * of one second's worth plus 10/s) */
	bt_dht_options o = BT_DHT_OPTIONS_INIT;
	limit_out(&o);
	ck_assert_int_eq(bt_dht_set_limits(net.nodes[7].dht, &o, net.now), 0);
	uint64_t q0 = 0, q1 = 0;
	bt_dht_stats st = stats(7);
	for (int m = 0; m < 6; m++)
		q0 += st.out_queries[m];
	for (int i = 0; i < 20; i++) {
		uint8_t ih[20];
		memset(ih, i + 1, 20);
		bt_dht_search(net.nodes[7].dht, ih, 0, 0, NULL, NULL, net.now, NULL);
	}
	run(5000);
	st = stats(7);
	for (int m = 0; m < 6; m++)
		q1 += st.out_queries[m];
	ck_assert_uint_le(q1 - q0, 10 + 10 * 5 + 1);
	ck_assert_uint_ge(q1 - q0, 40); /* and it does use its budget */
	ck_assert_uint_gt(st.throttled, 0);
	net_free();
}
END_TEST

START_TEST(test_flood_bounded)
{
	/* 200,000 distinct sources send get_peers and announce for distinct infohashes: the tables
	 * and stores stay inside their limits and memory stays bounded. */
	net_init(1, NULL);
	bt_dht_options o = BT_DHT_OPTIONS_INIT;
	o.max_infohashes = 5000;
	o.max_in_qps_ip = 1000;
	o.max_out_bps = 1u << 30; /* the fake clock stands still: no byte budget in the way */
	ck_assert_int_eq(bt_dht_set_limits(net.nodes[0].dht, &o, net.now), 0);
	for (uint32_t i = 0; i < 200000; i++) {
		net.probe_addr.ip[1] = (uint8_t)(10 + (i >> 16));
		net.probe_addr.ip[2] = (uint8_t)(i >> 8);
		net.probe_addr.ip[3] = (uint8_t)i;
		bt_dht__krpc_msg q, r;
		memset(&q, 0, sizeof(q));
		q.method = BT_DHT__KRPC_M_GET_PEERS;
		q.has_info_hash = true;
		memcpy(q.info_hash.b, &i, 4);
		q.has_id = true;
		memcpy(q.id.b, &i, 4); /* a distinct node id too */
		probe_query(&q);
		probe_reply(&r);
		uint8_t token[64];
		size_t tlen = r.token_len;
		memcpy(token, r.token, tlen);
		memset(&q, 0, sizeof(q));
		q.method = BT_DHT__KRPC_M_ANNOUNCE_PEER;
		q.has_info_hash = true;
		memcpy(q.info_hash.b, &i, 4);
		q.port = 1000;
		q.token = token;
		q.token_len = tlen;
		q.has_id = true;
		memcpy(q.id.b, &i, 4);
		probe_query(&q);
		net.now++;
		if (i % 1000 == 0)
			bt_dht_tick(net.nodes[0].dht, net.now);
	}
	bt_dht_stats st = stats(0);
	ck_assert_uint_le(st.infohashes, 5000);
	ck_assert_uint_le(st.nodes[0] + st.cached[0], 161 * 16);
	ck_assert_uint_lt(st.memory, 16u << 20);
	net_free();
}
END_TEST

static Suite *engine_suite(void)
{
	Suite *s = suite_create("dht-engine");
	TCase *tc = tcase_create("probe");
	tcase_add_test(tc, test_options);
	tcase_add_test(tc, test_probe_ping_find_node);
	tcase_add_test(tc, test_probe_announce_get_peers_sample);
	tcase_add_test(tc, test_probe_errors_and_garbage);
	tcase_add_test(tc, test_incoming_rate_limit);
	tcase_add_test(tc, test_read_only);
	tcase_add_test(tc, test_spoofed_response_ignored);
	tcase_add_test(tc, test_bep42_vote);
	tcase_add_test(tc, test_search_no_reentry);
	tcase_add_test(tc, test_callbacks_may_send);
	suite_add_tcase(s, tc);
	tc = tcase_create("network");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_bootstrap_and_tables);
	tcase_add_test(tc, test_search_and_announce);
	tcase_add_test(tc, test_search_and_announce_ipv6);
	tcase_add_test(tc, test_timeouts_and_retries);
	tcase_add_test(tc, test_outgoing_query_budget);
	tcase_add_test(tc, test_flood_bounded);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return bt_test_run(engine_suite());
}
