/*
 * test-dht-rtable.c - libbtdht's routing table (rtable.h) and BEP 42 helpers (bep42.h).
 *
 * The table is checked rule by rule (admission, one entry per IP, ids that move, the cache, bad
 * nodes, states over time, pings, refreshes, a change of our own id, max_nodes), closest() against
 * a brute-force sort over every node for many targets, and under a flood of a million distinct
 * nodes, after which it must still be within its bounds.  BEP 42 is checked against the CRC32C
 * check value and the example ids of the BEP.  A fixed-seed PRNG makes every run the same.
 */
#include <check.h>

#include "test-util.h"
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bep42.h"
#include "rtable.h"

#define K BT_DHT__K
#define GOOD_MS BT_DHT__RT_GOOD_MS
#define T0 1000000000ull /* an arbitrary start for the test clock, in ms */
#define MAX_NODES (161 * K * 2)

/* For checks in hot loops: ck_assert records every passing check (a write per check in fork
 * mode), which would dominate the run time; this one costs nothing until it fails. */
#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ck_abort_msg("%s:%d: failed: %s", __FILE__, __LINE__, #cond);              \
	} while (0)

/* Deterministic PRNG (xorshift64*) so every run tests the same inputs. */
static void rnd_bytes(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(bt_test_rnd() >> 32);
}

static bt_id rnd_id(void)
{
	bt_id id;
	rnd_bytes(id.b, BT_ID_LEN);
	return id;
}

/* A random id sharing exactly @p leading bits with @self (p < 160). */
static bt_id id_prefix(const bt_id *self, unsigned p)
{
	bt_id id = rnd_id();
	for (unsigned i = 0; i < p / 8; i++)
		id.b[i] = self->b[i];
	uint8_t keep = (uint8_t)(0xff00u >> (p % 8)); /* bits above p in its byte */
	uint8_t bit = (uint8_t)(0x80u >> (p % 8));
	id.b[p / 8] = (uint8_t)((self->b[p / 8] & keep) | (~self->b[p / 8] & bit) |
	                        (id.b[p / 8] & ~keep & ~bit));
	return id;
}

static bt_addr addr4(uint32_t ip, uint16_t port)
{
	bt_addr a;
	memset(&a, 0, sizeof(a));
	a.family = 4;
	a.port = port;
	a.ip[0] = (uint8_t)(ip >> 24);
	a.ip[1] = (uint8_t)(ip >> 16);
	a.ip[2] = (uint8_t)(ip >> 8);
	a.ip[3] = (uint8_t)ip;
	return a;
}

/* A fresh IPv4 address on every call (11.0.0.1, 11.0.0.2, ...). */
static uint32_t next_ip;
static bt_addr fresh_addr(void)
{
	return addr4(0x0b000001u + next_ip++, 6881);
}

static void setup(void)
{
	bt_test_rng = 0x9E3779B97F4A7C15ull;
	next_ip = 0;
}

static bt_dht__rtable *new_rt(const bt_id *self, size_t max)
{
	bt_dht__rtable *rt = NULL;
	ck_assert_int_eq(bt_dht__rt_new(&rt, self, 4, max), 0);
	ck_assert_ptr_nonnull(rt);
	return rt;
}

/* Every bucket node, in foreach order. */
struct nodes {
	bt_dht__rt_node *v;
	size_t n, cap;
};

static void collect_cb(const bt_dht__rt_node *n, void *ud)
{
	struct nodes *ns = ud;
	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? 2 * ns->cap : 256;
		ns->v = realloc(ns->v, ns->cap * sizeof(*ns->v));
		REQUIRE(ns->v != NULL);
	}
	ns->v[ns->n++] = *n;
}

static struct nodes collect(const bt_dht__rtable *rt)
{
	struct nodes ns = {NULL, 0, 0};
	bt_dht__rt_foreach(rt, collect_cb, &ns);
	return ns;
}

static const bt_dht__rt_node *find_node(const struct nodes *ns, const bt_id *id)
{
	for (size_t i = 0; i < ns->n; i++) {
		if (bt_id_eq(&ns->v[i].id, id))
			return &ns->v[i];
	}
	return NULL;
}

static size_t total(const bt_dht__rtable *rt, uint64_t now)
{
	bt_dht__rt_stats st;
	bt_dht__rt_get_stats(rt, now, &st);
	return st.good + st.questionable + st.bad + st.cached;
}

static size_t nbuckets(const bt_dht__rtable *rt)
{
	bt_dht__rt_stats st;
	bt_dht__rt_get_stats(rt, T0, &st);
	return st.buckets;
}

/* What must hold of any table: nodes come bucket by bucket, bucket i < last holds at most K
 * nodes sharing exactly i bits with us, the last at most K sharing more; no id or IP twice; the
 * counts agree with the stats; everything is within its bounds. */
static void check_invariants(const bt_dht__rtable *rt, uint64_t now)
{
	bt_dht__rt_stats st;
	bt_dht__rt_get_stats(rt, now, &st);
	struct nodes ns = collect(rt);
	const bt_id *self = bt_dht__rt_self(rt);
	size_t last = st.buckets - 1, prev = 0, run = 0;

	REQUIRE(st.buckets >= 1);
	REQUIRE(st.buckets <= 161);
	REQUIRE(ns.n == st.good + st.questionable + st.bad);
	REQUIRE(st.cached <= st.buckets * K);
	for (size_t i = 0; i < ns.n; i++) {
		size_t cb = bt_id_common_bits(&ns.v[i].id, self);
		size_t b = cb < last ? cb : last;
		REQUIRE(cb < 160);
		REQUIRE(b >= prev);
		run = b == prev && i > 0 ? run + 1 : 1;
		REQUIRE(run <= K);
		prev = b;
		REQUIRE(ns.v[i].flags & BT_DHT__RT_F_REPLIED);
		REQUIRE(!(ns.v[i].flags & BT_DHT__RT_F_CACHED));
		REQUIRE(ns.v[i].addr.family == 4);
	}
	/* Pairwise uniqueness on a sorted copy would be faster; tables here are small enough. */
	if (ns.n <= 1500) {
		for (size_t i = 0; i < ns.n; i++) {
			for (size_t j = i + 1; j < ns.n; j++) {
				REQUIRE(!bt_id_eq(&ns.v[i].id, &ns.v[j].id));
				REQUIRE(!bt_addr_ip_eq(&ns.v[i].addr, &ns.v[j].addr));
			}
		}
	}
	free(ns.v);
}

/* ---------------------------------------------------------------- creation */

START_TEST(test_new_args)
{
	bt_id self = rnd_id();
	bt_dht__rtable *rt = (bt_dht__rtable *)&self;

	ck_assert_int_eq(bt_dht__rt_new(&rt, &self, 5, 0), -EINVAL);
	ck_assert_ptr_null(rt);
	ck_assert_int_eq(bt_dht__rt_new(&rt, NULL, 4, 0), -EINVAL);
	ck_assert_int_eq(bt_dht__rt_new(NULL, &self, 4, 0), -EINVAL);
	bt_dht__rt_free(NULL);

	rt = new_rt(&self, 0);
	ck_assert(bt_id_eq(bt_dht__rt_self(rt), &self));
	bt_dht__rt_stats st;
	bt_dht__rt_get_stats(rt, T0, &st);
	ck_assert_uint_eq(st.buckets, 1);
	ck_assert_uint_eq(st.good + st.questionable + st.bad + st.cached, 0);
	ck_assert_uint_gt(st.bytes, 0);
	ck_assert_uint_lt(st.bytes, 8192);

	/* Our own id, the wrong family, an unknown event: all refused. */
	bt_addr a = fresh_addr();
	ck_assert_int_eq(bt_dht__rt_heard(rt, &self, &a, BT_DHT__RT_REPLIED, 0, T0),
	                 BT_DHT__RT_REJECTED);
	bt_id id = rnd_id();
	bt_addr a6;
	ck_assert_int_eq(bt_addr_parse(&a6, "[2001:db8::1]:6881"), 0);
	ck_assert_int_eq(bt_dht__rt_heard(rt, &id, &a6, BT_DHT__RT_REPLIED, 0, T0),
	                 BT_DHT__RT_REJECTED);
	ck_assert_int_eq(bt_dht__rt_heard(rt, &id, &a, (bt_dht__rt_how)7, 0, T0),
	                 BT_DHT__RT_REJECTED);
	ck_assert_uint_eq(total(rt, T0), 0);
	bt_dht__rt_free(rt);
}
END_TEST

START_TEST(test_ipv6_table)
{
	bt_id self = rnd_id();
	bt_dht__rtable *rt = NULL;
	ck_assert_int_eq(bt_dht__rt_new(&rt, &self, 6, 0), 0);
	bt_addr a6, b6, a4 = fresh_addr();
	ck_assert_int_eq(bt_addr_parse(&a6, "[2001:db8::1]:6881"), 0);
	ck_assert_int_eq(bt_addr_parse(&b6, "[2001:db8::1]:6882"), 0);
	bt_id id = rnd_id(), id2 = rnd_id();
	ck_assert_int_eq(bt_dht__rt_heard(rt, &id, &a4, BT_DHT__RT_REPLIED, 0, T0),
	                 BT_DHT__RT_REJECTED);
	ck_assert_int_eq(bt_dht__rt_heard(rt, &id, &a6, BT_DHT__RT_REPLIED, BT_DHT__RT_F_BEP42, T0),
	                 BT_DHT__RT_ADDED);
	ck_assert_int_eq(bt_dht__rt_heard(rt, &id2, &b6, BT_DHT__RT_REPLIED, 0, T0),
	                 BT_DHT__RT_REJECTED);
	bt_dht__rt_node out[2];
	ck_assert_uint_eq(bt_dht__rt_closest(rt, &id, out, 2, T0), 1);
	ck_assert(bt_addr_eq(&out[0].addr, &a6));
	ck_assert(out[0].flags & BT_DHT__RT_F_BEP42);
	bt_dht__rt_free(rt);
}
END_TEST

/* ---------------------------------------------------------------- insertion and splitting */

START_TEST(test_split_same_depth)
{
	bt_id self = rnd_id();
	bt_dht__rtable *rt = new_rt(&self, 0);
	bt_id ids[K + 1];

	for (int i = 0; i < K; i++) {
		ids[i] = id_prefix(&self, 0);
		bt_addr a = fresh_addr();
		ck_assert_int_eq(bt_dht__rt_heard(rt, &ids[i], &a, BT_DHT__RT_REPLIED, 0, T0 + i),
		                 BT_DHT__RT_ADDED);
		ck_assert_uint_eq(nbuckets(rt), 1);
	}
	/* The full only bucket splits; its nodes all share 0 bits, so the newcomer still finds
	 * bucket 0 full, and it is no longer the last: to the cache. */
	ids[K] = id_prefix(&self, 0);
	bt_addr a = fresh_addr();
	ck_assert_int_eq(bt_dht__rt_heard(rt, &ids[K], &a, BT_DHT__RT_REPLIED, 0, T0 + 9),
	                 BT_DHT__RT_CACHED);
	ck_assert_uint_eq(nbuckets(rt), 2);
	/* Bucket 0 no longer splits. */
	for (int i = 0; i < 20; i++) {
		bt_id id = id_prefix(&self, 0);
		bt_addr b = fresh_addr();
		ck_assert_int_eq(bt_dht__rt_heard(rt, &id, &b, BT_DHT__RT_REPLIED, 0, T0 + 10),
		                 BT_DHT__RT_CACHED);
	}
	ck_assert_uint_eq(nbuckets(rt), 2);
	bt_dht__rt_stats st;
	bt_dht__rt_get_stats(rt, T0 + 10, &st);
	ck_assert_uint_eq(st.good, K);
	ck_assert_uint_eq(st.cached, K);
	/* Bucket 1, the last, fills and splits in turn. */
	for (int i = 0; i < K; i++) {
		bt_id id = id_prefix(&self, 1);
		bt_addr b = fresh_addr();
		ck_assert_int_eq(bt_dht__rt_heard(rt, &id, &b, BT_DHT__RT_REPLIED, 0, T0 + 11),
		                 BT_DHT__RT_ADDED);
	}
	ck_assert_uint_eq(nbuckets(rt), 2);
	bt_id deep = id_prefix(&self, 5);
	bt_addr b = fresh_addr();
	ck_assert_int_eq(bt_dht__rt_heard(rt, &deep, &b, BT_DHT__RT_REPLIED, 0, T0 + 12),
	                 BT_DHT__RT_ADDED);
	ck_assert_uint_eq(nbuckets(rt), 3);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &deep, T0 + 12), BT_DHT__RT_GOOD);
	check_invariants(rt, T0 + 12);
	bt_dht__rt_free(rt);
}
END_TEST

START_TEST(test_split_chain)
{
	/* One node at each depth 0, 1, 2, ...: the first K share one bucket; from then on each
	 * deeper node splits the last bucket once, leaving one node in each bucket but the last. */
	bt_id self = rnd_id();
	bt_dht__rtable *rt = new_rt(&self, 0);
	for (unsigned p = 0; p <= 155; p++) {
		bt_id id = id_prefix(&self, p);
		bt_addr a = fresh_addr();
		ck_assert_int_eq(bt_dht__rt_heard(rt, &id, &a, BT_DHT__RT_REPLIED, 0, T0 + p),
		                 BT_DHT__RT_ADDED);
		ck_assert_uint_eq(nbuckets(rt), p < K ? 1 : p - (K - 2));
	}
	struct nodes ns = collect(rt);
	size_t last = nbuckets(rt) - 1;
	ck_assert_uint_eq(ns.n, 156);
	for (size_t i = 0; i < ns.n; i++) {
		size_t cb = bt_id_common_bits(&ns.v[i].id, &self);
		ck_assert_uint_eq(cb, i); /* foreach goes bucket by bucket, one node in each */
		ck_assert_uint_eq(i < last ? cb : last, i < last ? i : last);
	}
	free(ns.v);
	check_invariants(rt, T0 + 200);

	/* The very deepest ids: 159 common bits is one id only; the table stays at most 160
	 * buckets and never holds our own id. */
	for (unsigned p = 156; p < 160; p++) {
		bt_id id = id_prefix(&self, p);
		bt_addr a = fresh_addr();
		ck_assert_int_eq(bt_dht__rt_heard(rt, &id, &a, BT_DHT__RT_REPLIED, 0, T0 + p),
		                 BT_DHT__RT_ADDED);
	}
	ck_assert_uint_le(nbuckets(rt), 160);
	check_invariants(rt, T0 + 200);
	bt_dht__rt_free(rt);
}
END_TEST

START_TEST(test_split_moves_cache)
{
	/* Cached candidates follow their ids when the last bucket splits, and those that have
	 * answered us fill the room a split makes. */
	bt_id self = rnd_id();
	bt_dht__rtable *rt = new_rt(&self, 0);
	bt_id deep[3];
	uint64_t t = T0;

	for (int i = 0; i < K; i++) {
		bt_id id = id_prefix(&self, 0);
		bt_addr a = fresh_addr();
		ck_assert_int_eq(bt_dht__rt_heard(rt, &id, &a, BT_DHT__RT_REPLIED, 0, t++),
		                 BT_DHT__RT_ADDED);
	}
	/* Three deep nodes that only queried us: cached in bucket 0's cache (one bucket). */
	for (int i = 0; i < 3; i++) {
		deep[i] = id_prefix(&self, 3 + i);
		bt_addr a = fresh_addr();
		ck_assert_int_eq(bt_dht__rt_heard(rt, &deep[i], &a, BT_DHT__RT_QUERIED, 0, t++),
		                 BT_DHT__RT_CACHED);
	}
	ck_assert_uint_eq(nbuckets(rt), 1);
	/* A deep node answers: the bucket splits, it enters bucket 1. */
	bt_id d = id_prefix(&self, 10);
	bt_addr a = fresh_addr();
	ck_assert_int_eq(bt_dht__rt_heard(rt, &d, &a, BT_DHT__RT_REPLIED, 0, t++),
	                 BT_DHT__RT_ADDED);
	ck_assert_uint_eq(nbuckets(rt), 2);
	/* The cached deep nodes now live in bucket 1's cache: an answer from one puts it in
	 * bucket 1, which has room. */
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(bt_dht__rt_state_of(rt, &deep[i], t), 0);
		a = addr4(0x0b000001u + (uint32_t)(K + i), 6881);
		ck_assert_int_eq(bt_dht__rt_heard(rt, &deep[i], &a, BT_DHT__RT_REPLIED, 0, t++),
		                 BT_DHT__RT_ADDED);
		ck_assert_int_eq(bt_dht__rt_state_of(rt, &deep[i], t), BT_DHT__RT_GOOD);
	}
	bt_dht__rt_stats st;
	bt_dht__rt_get_stats(rt, t, &st);
	ck_assert_uint_eq(st.good, K + 4);
	ck_assert_uint_eq(st.cached, 0);
	check_invariants(rt, t);
	bt_dht__rt_free(rt);
}
END_TEST

/* ---------------------------------------------------------------- admission rules */

START_TEST(test_one_per_ip)
{
	bt_id self = rnd_id();
	bt_dht__rtable *rt = new_rt(&self, 0);
	bt_id a = rnd_id(), b = rnd_id(), c = rnd_id(), d = rnd_id();
	bt_addr x = addr4(0x0b000001u, 6881), x2 = addr4(0x0b000001u, 7000);
	bt_addr y = addr4(0x0b000002u, 6881), y2 = addr4(0x0b000002u, 1234);

	ck_assert_int_eq(bt_dht__rt_heard(rt, &a, &x, BT_DHT__RT_REPLIED, 0, T0), BT_DHT__RT_ADDED);
	/* Another id at the same IP, whatever the port or event. */
	ck_assert_int_eq(bt_dht__rt_heard(rt, &b, &x, BT_DHT__RT_REPLIED, 0, T0),
	                 BT_DHT__RT_REJECTED);
	ck_assert_int_eq(bt_dht__rt_heard(rt, &b, &x2, BT_DHT__RT_REPLIED, 0, T0),
	                 BT_DHT__RT_REJECTED);
	ck_assert_int_eq(bt_dht__rt_heard(rt, &b, &x2, BT_DHT__RT_QUERIED, 0, T0),
	                 BT_DHT__RT_REJECTED);
	/* Cached entries hold their IP too. */
	ck_assert_int_eq(bt_dht__rt_heard(rt, &c, &y, BT_DHT__RT_QUERIED, 0, T0),
	                 BT_DHT__RT_CACHED);
	ck_assert_int_eq(bt_dht__rt_heard(rt, &d, &y2, BT_DHT__RT_REPLIED, 0, T0),
	                 BT_DHT__RT_REJECTED);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &b, T0), 0);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &d, T0), 0);
	ck_assert_uint_eq(total(rt, T0), 2);

	/* Once the holder is bad, the IP goes to the newcomer and the old entry is gone. */
	ck_assert(!bt_dht__rt_failed(rt, &a, &x, T0 + 1));
	ck_assert(bt_dht__rt_failed(rt, &a, &x, T0 + 2));
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &a, T0 + 2), BT_DHT__RT_BAD);
	ck_assert_int_eq(bt_dht__rt_heard(rt, &b, &x2, BT_DHT__RT_REPLIED, 0, T0 + 3),
	                 BT_DHT__RT_ADDED);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &a, T0 + 3), 0);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &b, T0 + 3), BT_DHT__RT_GOOD);
	ck_assert_uint_eq(total(rt, T0 + 3), 2);

	/* Many ids from one IP: still one entry. */
	for (int i = 0; i < 1000; i++) {
		bt_id id = rnd_id();
		bt_addr z = addr4(0x0c000001u, (uint16_t)(1000 + i));
		bt_dht__rt_result r =
		    bt_dht__rt_heard(rt, &id, &z, (bt_dht__rt_how)(1 + i % 2), 0, T0 + 4);
		REQUIRE(r == (i == 0 ? BT_DHT__RT_ADDED : BT_DHT__RT_REJECTED));
	}
	ck_assert_uint_eq(total(rt, T0 + 4), 3);
	check_invariants(rt, T0 + 4);
	bt_dht__rt_free(rt);
}
END_TEST

START_TEST(test_id_moves)
{
	bt_id self = rnd_id();
	bt_dht__rtable *rt = new_rt(&self, 0);
	bt_id a = rnd_id(), e = rnd_id(), q = rnd_id();
	bt_addr x = addr4(0x0b000001u, 6881), y = addr4(0x0b000002u, 6881);
	bt_addr x_port = addr4(0x0b000001u, 6882), z = addr4(0x0b000003u, 6881);

	ck_assert_int_eq(bt_dht__rt_heard(rt, &a, &x, BT_DHT__RT_REPLIED, 0, T0), BT_DHT__RT_ADDED);
	/* The same id elsewhere (another IP, or another port) is refused while it is not bad. */
	ck_assert_int_eq(bt_dht__rt_heard(rt, &a, &y, BT_DHT__RT_REPLIED, 0, T0 + 1),
	                 BT_DHT__RT_REJECTED);
	ck_assert_int_eq(bt_dht__rt_heard(rt, &a, &x_port, BT_DHT__RT_QUERIED, 0, T0 + 1),
	                 BT_DHT__RT_REJECTED);
	/* A failure reported for the other address does not count against the entry. */
	ck_assert(!bt_dht__rt_failed(rt, &a, &y, T0 + 2));
	ck_assert(!bt_dht__rt_failed(rt, &a, &y, T0 + 2));
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &a, T0 + 2), BT_DHT__RT_GOOD);
	struct nodes ns = collect(rt);
	ck_assert_uint_eq(ns.n, 1);
	ck_assert(bt_addr_eq(&ns.v[0].addr, &x));
	ck_assert_uint_eq(ns.v[0].fails, 0);
	free(ns.v);

	/* A cached entry does not move either. */
	ck_assert_int_eq(bt_dht__rt_heard(rt, &q, &z, BT_DHT__RT_QUERIED, 0, T0),
	                 BT_DHT__RT_CACHED);
	ck_assert_int_eq(bt_dht__rt_heard(rt, &q, &y, BT_DHT__RT_QUERIED, 0, T0),
	                 BT_DHT__RT_REJECTED);

	/* Bad: now it may move, and its old IP is free. */
	bt_dht__rt_failed(rt, &a, &x, T0 + 3);
	ck_assert(bt_dht__rt_failed(rt, &a, &x, T0 + 3));
	ck_assert_int_eq(bt_dht__rt_heard(rt, &a, &y, BT_DHT__RT_REPLIED, 0, T0 + 4),
	                 BT_DHT__RT_ADDED);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &a, T0 + 4), BT_DHT__RT_GOOD);
	ck_assert_int_eq(bt_dht__rt_heard(rt, &e, &x, BT_DHT__RT_REPLIED, 0, T0 + 5),
	                 BT_DHT__RT_ADDED);
	ns = collect(rt);
	ck_assert_uint_eq(ns.n, 2);
	ck_assert(bt_addr_eq(&find_node(&ns, &a)->addr, &y));
	ck_assert_uint_eq(find_node(&ns, &a)->fails, 0);
	free(ns.v);

	/* A bad id that moves by only querying us goes to the cache, not back to a bucket. */
	bt_dht__rt_failed(rt, &e, &x, T0 + 6);
	bt_dht__rt_failed(rt, &e, &x, T0 + 6);
	ck_assert_int_eq(bt_dht__rt_heard(rt, &e, &x_port, BT_DHT__RT_QUERIED, 0, T0 + 7),
	                 BT_DHT__RT_CACHED);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &e, T0 + 7), 0);
	check_invariants(rt, T0 + 7);
	bt_dht__rt_free(rt);
}
END_TEST

START_TEST(test_queried_goes_to_cache)
{
	bt_id self = rnd_id();
	bt_dht__rtable *rt = new_rt(&self, 0);
	bt_id a = rnd_id();
	bt_addr x = fresh_addr();
	bt_dht__rt_stats st;

	/* Even into an empty table, a node that only queried us is a candidate. */
	ck_assert_int_eq(bt_dht__rt_heard(rt, &a, &x, BT_DHT__RT_QUERIED, 0, T0),
	                 BT_DHT__RT_CACHED);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &a, T0), 0);
	bt_dht__rt_get_stats(rt, T0, &st);
	ck_assert_uint_eq(st.cached, 1);
	ck_assert_uint_eq(st.good + st.questionable + st.bad, 0);
	bt_dht__rt_node out[1];
	ck_assert_uint_eq(bt_dht__rt_closest(rt, &a, out, 1, T0), 0);
	ck_assert_int_eq(bt_dht__rt_heard(rt, &a, &x, BT_DHT__RT_QUERIED, 0, T0 + 1),
	                 BT_DHT__RT_UPDATED);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &a, T0 + 1), 0);

	/* The engine verifies it with a ping; its answer puts it in the bucket. */
	ck_assert(bt_dht__rt_next_ping(rt, T0 + 2, 1000, out));
	ck_assert(bt_id_eq(&out[0].id, &a));
	ck_assert(out[0].flags & BT_DHT__RT_F_CACHED);
	ck_assert_uint_eq(out[0].last_ping, T0 + 2);
	ck_assert_uint_eq(out[0].last_query, T0 + 1);
	ck_assert_int_eq(
	    bt_dht__rt_heard(rt, &a, &x, BT_DHT__RT_REPLIED, BT_DHT__RT_F_BEP42, T0 + 3),
	    BT_DHT__RT_ADDED);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &a, T0 + 3), BT_DHT__RT_GOOD);
	bt_dht__rt_get_stats(rt, T0 + 3, &st);
	ck_assert_uint_eq(st.cached, 0);
	ck_assert_uint_eq(st.good, 1);
	ck_assert_uint_eq(bt_dht__rt_closest(rt, &a, out, 1, T0), 1);
	ck_assert_uint_eq(out[0].flags, BT_DHT__RT_F_REPLIED | BT_DHT__RT_F_BEP42);
	ck_assert_uint_eq(out[0].last_reply, T0 + 3);
	ck_assert_uint_eq(out[0].last_query, T0 + 1);

	/* A bucket node that queries us only refreshes its entry. */
	ck_assert_int_eq(
	    bt_dht__rt_heard(rt, &a, &x, BT_DHT__RT_QUERIED, BT_DHT__RT_F_BEP42, T0 + 4),
	    BT_DHT__RT_UPDATED);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &a, T0 + 4), BT_DHT__RT_GOOD);
	ck_assert_uint_eq(bt_dht__rt_closest(rt, &a, out, 1, T0), 1);
	ck_assert_uint_eq(out[0].last_query, T0 + 4);
	bt_dht__rt_free(rt);
}
END_TEST

/* Fills bucket 0 of a fresh table around @self with K answering nodes and one answering
 * candidate (the full only bucket splits, so the candidate is cached). */
static void fill_bucket0(bt_dht__rtable *rt, const bt_id *self, bt_id ids[K], bt_addr addrs[K],
                         bt_id *cand, bt_addr *cand_addr)
{
	for (int i = 0; i < K; i++) {
		ids[i] = id_prefix(self, 0);
		addrs[i] = fresh_addr();
		ck_assert_int_eq(
		    bt_dht__rt_heard(rt, &ids[i], &addrs[i], BT_DHT__RT_REPLIED, 0, T0 + i),
		    BT_DHT__RT_ADDED);
	}
	*cand = id_prefix(self, 0);
	*cand_addr = fresh_addr();
	ck_assert_int_eq(bt_dht__rt_heard(rt, cand, cand_addr, BT_DHT__RT_REPLIED, 0, T0 + 100),
	                 BT_DHT__RT_CACHED);
}

START_TEST(test_bad_replacement_and_promotion)
{
	bt_id self = rnd_id();
	bt_dht__rtable *rt = new_rt(&self, 0);
	bt_id ids[K], cand, cand2, unv;
	bt_addr addrs[K], cand_addr, cand2_addr, unv_addr = fresh_addr();
	bt_dht__rt_stats st;
	bt_dht__rt_node out[K + 1];

	fill_bucket0(rt, &self, ids, addrs, &cand, &cand_addr);
	/* An older answering candidate and an unverified one: the fresher answer is promoted. */
	cand2 = id_prefix(&self, 0);
	cand2_addr = fresh_addr();
	ck_assert_int_eq(bt_dht__rt_heard(rt, &cand2, &cand2_addr, BT_DHT__RT_REPLIED, 0, T0 + 50),
	                 BT_DHT__RT_CACHED);
	unv = id_prefix(&self, 0);
	ck_assert_int_eq(bt_dht__rt_heard(rt, &unv, &unv_addr, BT_DHT__RT_QUERIED, 0, T0 + 200),
	                 BT_DHT__RT_CACHED);
	/* A full bucket of good nodes: an answering newcomer waits in the cache. */
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &cand, T0 + 200), 0);

	ck_assert(!bt_dht__rt_failed(rt, &ids[0], &addrs[0], T0 + 300));
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &ids[0], T0 + 300), BT_DHT__RT_GOOD);
	ck_assert(bt_dht__rt_failed(rt, &ids[0], &addrs[0], T0 + 301));
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &ids[0], T0 + 301), 0);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &cand, T0 + 301), BT_DHT__RT_GOOD);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &cand2, T0 + 301), 0);
	/* The replaced node is gone altogether: its IP is free. */
	bt_id other = rnd_id();
	ck_assert_int_ne(bt_dht__rt_heard(rt, &other, &addrs[0], BT_DHT__RT_QUERIED, 0, T0 + 302),
	                 BT_DHT__RT_REJECTED);

	/* Next failure: cand2 takes the place. */
	bt_dht__rt_failed(rt, &ids[1], &addrs[1], T0 + 400);
	ck_assert(bt_dht__rt_failed(rt, &ids[1], &addrs[1], T0 + 400));
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &cand2, T0 + 400), BT_DHT__RT_GOOD);

	/* Then no answering candidate is left (unv never answered): the node stays, bad, and
	 * closest() skips it. */
	bt_dht__rt_failed(rt, &ids[2], &addrs[2], T0 + 500);
	ck_assert(bt_dht__rt_failed(rt, &ids[2], &addrs[2], T0 + 500));
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &ids[2], T0 + 500), BT_DHT__RT_BAD);
	ck_assert(bt_dht__rt_failed(rt, &ids[2], &addrs[2], T0 + 501)); /* still bad */
	bt_dht__rt_get_stats(rt, T0 + 500, &st);
	ck_assert_uint_eq(st.bad, 1);
	size_t n = bt_dht__rt_closest(rt, &ids[2], out, K + 1, T0 + 500);
	ck_assert_uint_eq(n, K - 1);
	for (size_t i = 0; i < n; i++)
		ck_assert(!bt_id_eq(&out[i].id, &ids[2]));

	/* The unverified candidate answers: it replaces the bad node. */
	ck_assert_int_eq(bt_dht__rt_heard(rt, &unv, &unv_addr, BT_DHT__RT_REPLIED, 0, T0 + 600),
	                 BT_DHT__RT_ADDED);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &ids[2], T0 + 600), 0);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &unv, T0 + 600), BT_DHT__RT_GOOD);

	/* Another bad node, and a newcomer answering: it takes the bad node's place directly. */
	bt_dht__rt_failed(rt, &ids[3], &addrs[3], T0 + 700);
	ck_assert(bt_dht__rt_failed(rt, &ids[3], &addrs[3], T0 + 700));
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &ids[3], T0 + 700), BT_DHT__RT_BAD);
	bt_id nw = id_prefix(&self, 0);
	bt_addr nw_addr = fresh_addr();
	ck_assert_int_eq(bt_dht__rt_heard(rt, &nw, &nw_addr, BT_DHT__RT_REPLIED, 0, T0 + 800),
	                 BT_DHT__RT_ADDED);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &ids[3], T0 + 800), 0);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &nw, T0 + 800), BT_DHT__RT_GOOD);

	/* A bad node that answers again is good again. */
	bt_dht__rt_failed(rt, &ids[4], &addrs[4], T0 + 900);
	bt_dht__rt_failed(rt, &ids[4], &addrs[4], T0 + 900);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &ids[4], T0 + 900), BT_DHT__RT_BAD);
	ck_assert_int_eq(bt_dht__rt_heard(rt, &ids[4], &addrs[4], BT_DHT__RT_REPLIED, 0, T0 + 901),
	                 BT_DHT__RT_UPDATED);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &ids[4], T0 + 901), BT_DHT__RT_GOOD);

	/* Unknown nodes: nothing to fail. */
	ck_assert(!bt_dht__rt_failed(rt, &other, &nw_addr, T0 + 902));
	check_invariants(rt, T0 + 902);
	bt_dht__rt_free(rt);
}
END_TEST

START_TEST(test_cache_eviction)
{
	bt_id self = rnd_id();
	bt_dht__rtable *rt = new_rt(&self, 0);
	bt_id ids[K], cand, c[K + 2];
	bt_addr addrs[K], cand_addr, ca[K + 2];
	uint64_t t = T0 + 1000;

	fill_bucket0(rt, &self, ids, addrs, &cand, &cand_addr);
	/* Cache: cand (answered) + K-1 unverified = full. */
	for (int i = 0; i < K - 1; i++) {
		c[i] = id_prefix(&self, 0);
		ca[i] = fresh_addr();
		ck_assert_int_eq(bt_dht__rt_heard(rt, &c[i], &ca[i], BT_DHT__RT_QUERIED, 0, t++),
		                 BT_DHT__RT_CACHED);
	}
	/* c[0] queries again: now the most recent, so c[1] is the least recently heard. */
	ck_assert_int_eq(bt_dht__rt_heard(rt, &c[0], &ca[0], BT_DHT__RT_QUERIED, 0, t++),
	                 BT_DHT__RT_UPDATED);
	/* One more unverified: it evicts c[1], not the answered candidate (older still). */
	c[K - 1] = id_prefix(&self, 0);
	ca[K - 1] = fresh_addr();
	ck_assert_int_eq(bt_dht__rt_heard(rt, &c[K - 1], &ca[K - 1], BT_DHT__RT_QUERIED, 0, t++),
	                 BT_DHT__RT_CACHED);
	bt_dht__rt_stats st;
	bt_dht__rt_get_stats(rt, t, &st);
	ck_assert_uint_eq(st.cached, K);
	/* c[1]'s IP is free again; c[0]'s is not. */
	bt_id probe = id_prefix(&self, 0);
	ck_assert_int_eq(bt_dht__rt_heard(rt, &probe, &ca[0], BT_DHT__RT_QUERIED, 0, t),
	                 BT_DHT__RT_REJECTED);
	ck_assert_int_eq(bt_dht__rt_heard(rt, &c[1], &ca[1], BT_DHT__RT_QUERIED, 0, t++),
	                 BT_DHT__RT_CACHED); /* new again, so it evicted c[2] */
	ck_assert_int_eq(bt_dht__rt_heard(rt, &c[2], &ca[2], BT_DHT__RT_QUERIED, 0, t++),
	                 BT_DHT__RT_CACHED);
	/* The answered candidate survived all that. */
	bt_dht__rt_failed(rt, &ids[0], &addrs[0], t);
	ck_assert(bt_dht__rt_failed(rt, &ids[0], &addrs[0], t));
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &cand, t), BT_DHT__RT_GOOD);

	/* A cache full of answered candidates refuses unverified newcomers, while answering ones
	 * replace the least recent. */
	bt_dht__rtable *rt2 = new_rt(&self, 0);
	bt_id c2[K];
	bt_addr ca2[K];
	fill_bucket0(rt2, &self, ids, addrs, &cand, &cand_addr);
	for (int i = 0; i < K - 1; i++) {
		c2[i] = id_prefix(&self, 0);
		ca2[i] = fresh_addr();
		ck_assert_int_eq(bt_dht__rt_heard(rt2, &c2[i], &ca2[i], BT_DHT__RT_REPLIED, 0,
		                                  T0 + 200 + (uint64_t)i),
		                 BT_DHT__RT_CACHED);
	}
	bt_id q = id_prefix(&self, 0);
	bt_addr qa = fresh_addr();
	ck_assert_int_eq(bt_dht__rt_heard(rt2, &q, &qa, BT_DHT__RT_QUERIED, 0, T0 + 300),
	                 BT_DHT__RT_REJECTED);
	ck_assert_int_eq(bt_dht__rt_heard(rt2, &q, &qa, BT_DHT__RT_REPLIED, 0, T0 + 301),
	                 BT_DHT__RT_CACHED);
	/* cand, the least recent, is gone: its IP is free. */
	ck_assert_int_eq(bt_dht__rt_heard(rt2, &probe, &cand_addr, BT_DHT__RT_QUERIED, 0, T0 + 302),
	                 BT_DHT__RT_REJECTED); /* the cache is still all answered ones */
	bt_dht__rt_failed(rt2, &ids[0], &addrs[0], T0 + 303);
	bt_dht__rt_failed(rt2, &ids[0], &addrs[0], T0 + 303);
	/* The freshest answer (q) was promoted; then the IP test again, now there is room. */
	ck_assert_int_eq(bt_dht__rt_state_of(rt2, &q, T0 + 303), BT_DHT__RT_GOOD);
	ck_assert_int_eq(bt_dht__rt_heard(rt2, &probe, &cand_addr, BT_DHT__RT_QUERIED, 0, T0 + 304),
	                 BT_DHT__RT_CACHED);
	check_invariants(rt, t);
	check_invariants(rt2, T0 + 304);
	bt_dht__rt_free(rt);
	bt_dht__rt_free(rt2);
}
END_TEST

START_TEST(test_states_over_time)
{
	bt_id self = rnd_id();
	bt_dht__rtable *rt = new_rt(&self, 0);
	bt_id a = rnd_id();
	bt_addr x = fresh_addr();
	bt_dht__rt_stats st;

	ck_assert_int_eq(bt_dht__rt_heard(rt, &a, &x, BT_DHT__RT_REPLIED, 0, T0), BT_DHT__RT_ADDED);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &a, T0), BT_DHT__RT_GOOD);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &a, T0 + GOOD_MS - 1), BT_DHT__RT_GOOD);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &a, T0 + GOOD_MS), BT_DHT__RT_QUESTIONABLE);
	bt_dht__rt_get_stats(rt, T0 + GOOD_MS, &st);
	ck_assert_uint_eq(st.questionable, 1);
	ck_assert_uint_eq(st.good, 0);

	/* Ever answered + queried us recently = good again, for 15 minutes. */
	uint64_t t = T0 + 2 * GOOD_MS;
	ck_assert_int_eq(bt_dht__rt_heard(rt, &a, &x, BT_DHT__RT_QUERIED, 0, t),
	                 BT_DHT__RT_UPDATED);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &a, t), BT_DHT__RT_GOOD);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &a, t + GOOD_MS - 1), BT_DHT__RT_GOOD);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &a, t + GOOD_MS), BT_DHT__RT_QUESTIONABLE);

	/* Failures: questionable after one, bad after BT_DHT__RT_BAD_FAILS. */
	t += GOOD_MS;
	ck_assert(!bt_dht__rt_failed(rt, &a, &x, t));
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &a, t), BT_DHT__RT_QUESTIONABLE);
	ck_assert(bt_dht__rt_failed(rt, &a, &x, t + 1));
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &a, t + 1), BT_DHT__RT_BAD);
	/* Bad regardless of the time, until it answers. */
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &a, t + 10 * GOOD_MS), BT_DHT__RT_BAD);
	bt_dht__rt_get_stats(rt, t + 1, &st);
	ck_assert_uint_eq(st.bad, 1);
	ck_assert_int_eq(bt_dht__rt_heard(rt, &a, &x, BT_DHT__RT_REPLIED, 0, t + 2),
	                 BT_DHT__RT_UPDATED);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &a, t + 2), BT_DHT__RT_GOOD);

	/* A clock that goes backwards does not make anyone stale. */
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &a, t - 5), BT_DHT__RT_GOOD);

	/* Timestamps as documented. */
	bt_dht__rt_node out[1];
	ck_assert_uint_eq(bt_dht__rt_closest(rt, &a, out, 1, t + 2), 1);
	ck_assert_uint_eq(out[0].last_reply, t + 2);
	ck_assert_uint_eq(out[0].last_query, T0 + 2 * GOOD_MS);
	ck_assert_uint_eq(out[0].fails, 0);
	bt_dht__rt_free(rt);
}
END_TEST

/* ---------------------------------------------------------------- closest */

static const bt_id *sort_target;
static int by_distance(const void *a, const void *b)
{
	return bt_id_dist_cmp(sort_target, &((const bt_dht__rt_node *)a)->id,
	                      &((const bt_dht__rt_node *)b)->id);
}

/* closest() for @target and several k against a sort of every usable node. */
static void check_closest(const bt_dht__rtable *rt, const struct nodes *all, const bt_id *target,
                          uint64_t now)
{
	static bt_dht__rt_node out[MAX_NODES];
	bt_dht__rt_node *sorted = malloc((all->n + 1) * sizeof(*sorted));
	size_t n = 0;
	REQUIRE(sorted != NULL);
	for (size_t i = 0; i < all->n; i++) {
		if (all->v[i].fails < BT_DHT__RT_BAD_FAILS)
			sorted[n++] = all->v[i];
	}
	sort_target = target;
	qsort(sorted, n, sizeof(*sorted), by_distance);
	static const size_t ks[] = {1, 3, K, 20, 100, MAX_NODES};
	for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++) {
		size_t got = bt_dht__rt_closest(rt, target, out, ks[ki], now);
		REQUIRE(got == (ks[ki] < n ? ks[ki] : n));
		for (size_t i = 0; i < got; i++)
			REQUIRE(bt_id_eq(&out[i].id, &sorted[i].id));
	}
	free(sorted);
}

START_TEST(test_closest_bruteforce)
{
	bt_id self = rnd_id();
	bt_dht__rtable *rt = new_rt(&self, 0);
	uint64_t t = T0;

	/* Random nodes fill the shallow buckets; nodes at chosen depths make deep ones. */
	for (int i = 0; i < 3000; i++) {
		bt_id id = rnd_id();
		bt_addr a = fresh_addr();
		bt_dht__rt_heard(rt, &id, &a, BT_DHT__RT_REPLIED, 0, t++);
	}
	for (unsigned p = 0; p < 120; p++) {
		for (int j = 0; j < 6; j++) {
			bt_id id = id_prefix(&self, p);
			bt_addr a = fresh_addr();
			bt_dht__rt_heard(rt, &id, &a, BT_DHT__RT_REPLIED, 0, t++);
		}
	}
	/* Make some nodes bad (those without a replacement stay, bad). */
	struct nodes all = collect(rt);
	for (size_t i = 0; i < all.n; i += 7) {
		bt_dht__rt_failed(rt, &all.v[i].id, &all.v[i].addr, t);
		bt_dht__rt_failed(rt, &all.v[i].id, &all.v[i].addr, t);
	}
	free(all.v);
	all = collect(rt);
	bt_dht__rt_stats st;
	bt_dht__rt_get_stats(rt, t, &st);
	ck_assert_uint_gt(st.buckets, 100);
	ck_assert_uint_gt(st.bad, 0);
	check_invariants(rt, t);

	for (int i = 0; i < 600; i++) {
		bt_id target = rnd_id();
		check_closest(rt, &all, &target, t);
		target = id_prefix(&self, (unsigned)(bt_test_rnd() % 160));
		check_closest(rt, &all, &target, t);
		/* Right next to a node (including exactly on it). */
		target = all.v[bt_test_rnd() % all.n].id;
		check_closest(rt, &all, &target, t);
		target.b[BT_ID_LEN - 1 - bt_test_rnd() % 3] ^= (uint8_t)bt_test_rnd();
		check_closest(rt, &all, &target, t);
	}
	check_closest(rt, &all, &self, t);

	bt_dht__rt_node out[1];
	ck_assert_uint_eq(bt_dht__rt_closest(rt, &self, out, 0, t), 0);
	free(all.v);
	bt_dht__rt_free(rt);
}
END_TEST

START_TEST(test_closest_small_tables)
{
	/* Many small tables, where the band walk meets empty buckets and short tables. */
	for (int round = 0; round < 200; round++) {
		bt_id self = rnd_id();
		bt_dht__rtable *rt = new_rt(&self, 0);
		int n = (int)(bt_test_rnd() % 60);
		for (int i = 0; i < n; i++) {
			bt_id id = bt_test_rnd() % 2
			               ? rnd_id()
			               : id_prefix(&self, (unsigned)(bt_test_rnd() % 12));
			bt_addr a = fresh_addr();
			bt_dht__rt_heard(rt, &id, &a, BT_DHT__RT_REPLIED, 0, T0);
		}
		struct nodes all = collect(rt);
		for (int i = 0; i < 30; i++) {
			bt_id target = bt_test_rnd() % 2
			                   ? rnd_id()
			                   : id_prefix(&self, (unsigned)(bt_test_rnd() % 16));
			check_closest(rt, &all, &target, T0);
		}
		free(all.v);
		bt_dht__rt_free(rt);
	}
}
END_TEST

/* ---------------------------------------------------------------- engine helpers */

START_TEST(test_next_ping)
{
	bt_id self = rnd_id();
	bt_dht__rtable *rt = new_rt(&self, 0);
	bt_id n[4], c[2];
	bt_addr na[4], ca[2];
	bt_dht__rt_node out;
	const uint64_t gap = 60000;

	for (int i = 0; i < 4; i++) {
		n[i] = id_prefix(&self, 0);
		na[i] = fresh_addr();
		/* Inserted out of order in time, so the order of insertion is not the answer. */
		ck_assert_int_eq(bt_dht__rt_heard(rt, &n[i], &na[i], BT_DHT__RT_REPLIED, 0,
		                                  T0 + (uint64_t)((i + 2) % 4)),
		                 BT_DHT__RT_ADDED);
	}
	/* All good, nothing cached: nothing to ping. */
	ck_assert(!bt_dht__rt_next_ping(rt, T0 + 1000, gap, &out));
	for (int i = 0; i < 2; i++) {
		c[i] = id_prefix(&self, 0);
		ca[i] = fresh_addr();
		ck_assert_int_eq(bt_dht__rt_heard(rt, &c[i], &ca[i], BT_DHT__RT_QUERIED, 0,
		                                  T0 + 10 + (uint64_t)i),
		                 BT_DHT__RT_CACHED);
	}
	/* Unverified candidates, most recently heard first, each once within the gap. */
	ck_assert(bt_dht__rt_next_ping(rt, T0 + 1000, gap, &out));
	ck_assert(bt_id_eq(&out.id, &c[1]));
	ck_assert_uint_eq(out.last_ping, T0 + 1000);
	ck_assert(bt_dht__rt_next_ping(rt, T0 + 1001, gap, &out));
	ck_assert(bt_id_eq(&out.id, &c[0]));
	ck_assert(!bt_dht__rt_next_ping(rt, T0 + 1002, gap, &out));

	/* 15 minutes on, the nodes are questionable: least recently heard first, before any
	 * candidate. */
	uint64_t t = T0 + GOOD_MS + 100;
	static const int order[4] = {2, 3, 0, 1}; /* heard at T0 + 0, 1, 2, 3 */
	for (int i = 0; i < 4; i++) {
		ck_assert(bt_dht__rt_next_ping(rt, t + (uint64_t)i, gap, &out));
		ck_assert(bt_id_eq(&out.id, &n[order[i]]));
		ck_assert_uint_eq(out.last_ping, t + (uint64_t)i);
	}
	/* The candidates' gap (pinged at T0 + 1000) has passed long ago. */
	ck_assert(bt_dht__rt_next_ping(rt, t + 4, gap, &out));
	ck_assert(bt_id_eq(&out.id, &c[1]));
	ck_assert(bt_dht__rt_next_ping(rt, t + 5, gap, &out));
	ck_assert(bt_id_eq(&out.id, &c[0]));
	ck_assert(!bt_dht__rt_next_ping(rt, t + 6, gap, &out));
	ck_assert(!bt_dht__rt_next_ping(rt, t + gap - 1, gap, &out));

	/* n[2] queried us: good again, so not pinged; the others come round after the gap. */
	ck_assert_int_eq(bt_dht__rt_heard(rt, &n[2], &na[2], BT_DHT__RT_QUERIED, 0, t + 10),
	                 BT_DHT__RT_UPDATED);
	ck_assert(bt_dht__rt_next_ping(rt, t + gap + 1, gap, &out));
	ck_assert(bt_id_eq(&out.id, &n[3]));
	ck_assert(bt_dht__rt_next_ping(rt, t + gap + 2, gap, &out));
	ck_assert(bt_id_eq(&out.id, &n[0]));
	/* Bad nodes are not pinged. */
	bt_dht__rt_failed(rt, &n[1], &na[1], t + gap + 3);
	bt_dht__rt_failed(rt, &n[1], &na[1], t + gap + 3);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &n[1], t + gap + 3), BT_DHT__RT_BAD);
	/* Candidates next: c[1] was pinged at t + 4, so it is due at t + 4 + gap. */
	ck_assert(bt_dht__rt_next_ping(rt, t + gap + 4, gap, &out));
	ck_assert(bt_id_eq(&out.id, &c[1]));
	ck_assert(bt_dht__rt_next_ping(rt, t + gap + 5, gap, &out));
	ck_assert(bt_id_eq(&out.id, &c[0]));
	ck_assert(!bt_dht__rt_next_ping(rt, t + gap + 6, gap, &out));
	bt_dht__rt_free(rt);
}
END_TEST

START_TEST(test_refresh_target)
{
	bt_id self = rnd_id();
	bt_dht__rtable *rt = new_rt(&self, 0);
	uint8_t r[BT_ID_LEN];
	bt_id target;
	const uint64_t stale = GOOD_MS;

	/* A fresh table's bucket has never changed: due at once, anywhere is in range. */
	rnd_bytes(r, sizeof(r));
	ck_assert(bt_dht__rt_refresh_target(rt, T0, stale, r, &target));
	ck_assert(memcmp(target.b, r, BT_ID_LEN) == 0);
	ck_assert(!bt_dht__rt_refresh_target(rt, T0 + stale - 1, stale, r, &target));

	for (unsigned p = 0; p < 40; p++) {
		bt_id id = id_prefix(&self, p);
		bt_addr a = fresh_addr();
		ck_assert_int_eq(bt_dht__rt_heard(rt, &id, &a, BT_DHT__RT_REPLIED, 0, T0 + p),
		                 BT_DHT__RT_ADDED);
	}
	size_t nb = nbuckets(rt), last = nb - 1;
	ck_assert_uint_eq(nb, 39 - (K - 2));

	/* Stale an hour on: every bucket once, stalest first, each target in its bucket's range
	 * whatever the random bytes (all zeros, all ones, random). */
	uint64_t t = T0 + 4 * stale;
	bool seen[160] = {false};
	for (size_t i = 0; i < nb; i++) {
		if (i % 3 == 0)
			memset(r, 0, sizeof(r));
		else if (i % 3 == 1)
			memset(r, 0xff, sizeof(r));
		else
			rnd_bytes(r, sizeof(r));
		ck_assert(bt_dht__rt_refresh_target(rt, t, stale, r, &target));
		size_t cb = bt_id_common_bits(&target, &self);
		size_t b = cb < last ? cb : last;
		ck_assert(!seen[b]);
		seen[b] = true;
		/* Bits below the bucket's prefix are the random ones. */
		size_t from = (b < last ? b + 1 : last);
		for (size_t bit = from; bit < 160; bit++) {
			bt_id rid;
			memcpy(rid.b, r, BT_ID_LEN);
			ck_assert_int_eq(bt_id_bit(&target, (unsigned)bit),
			                 bt_id_bit(&rid, (unsigned)bit));
		}
		/* Buckets changed at T0 + p; the lowest changed first (nodes 0..K-1 went into
		 * bucket 0 at T0 .. T0 + 7, the last nodes are in the last bucket). */
		if (i == 0)
			ck_assert_uint_eq(b, 0);
	}
	ck_assert(!bt_dht__rt_refresh_target(rt, t, stale, r, &target));
	ck_assert(!bt_dht__rt_refresh_target(rt, t + stale - 1, stale, r, &target));

	/* An answer from a node marks its bucket changed: not due when the others are. */
	struct nodes ns = collect(rt);
	const bt_dht__rt_node *n5 = &ns.v[5];
	size_t b5 = bt_id_common_bits(&n5->id, &self);
	ck_assert_uint_eq(b5, 5);
	ck_assert_int_eq(bt_dht__rt_heard(rt, &n5->id, &n5->addr, BT_DHT__RT_REPLIED, 0, t + 10),
	                 BT_DHT__RT_UPDATED);
	free(ns.v);
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i + 1 < nb; i++) {
		rnd_bytes(r, sizeof(r));
		ck_assert(bt_dht__rt_refresh_target(rt, t + stale, stale, r, &target));
		size_t cb = bt_id_common_bits(&target, &self);
		size_t b = cb < last ? cb : last;
		ck_assert_uint_ne(b, 5);
		ck_assert(!seen[b]);
		seen[b] = true;
	}
	ck_assert(!bt_dht__rt_refresh_target(rt, t + stale, stale, r, &target));
	ck_assert(bt_dht__rt_refresh_target(rt, t + stale + 10, stale, r, &target));
	ck_assert_uint_eq(bt_id_common_bits(&target, &self), 5);
	bt_dht__rt_free(rt);
}
END_TEST

/* ---------------------------------------------------------------- set_self */

START_TEST(test_set_self)
{
	bt_id self = rnd_id();
	bt_dht__rtable *rt = new_rt(&self, 0);
	uint64_t t = T0;

	/* Chosen so that everything fits around both ids: 4 answering nodes sharing no bit with
	 * us, 6 sharing 1 to 3 bits, and 10 random ones that only queried us (cached). */
	for (int i = 0; i < 20; i++) {
		bt_id id = i < 4    ? id_prefix(&self, 0)
		           : i < 10 ? id_prefix(&self, 1 + (unsigned)(i - 4) % 3)
		                    : rnd_id();
		bt_addr a = fresh_addr();
		ck_assert_int_eq(bt_dht__rt_heard(rt, &id, &a,
		                                  i < 10 ? BT_DHT__RT_REPLIED : BT_DHT__RT_QUERIED,
		                                  i % 2 ? BT_DHT__RT_F_BEP42 : 0, t),
		                 i < 10 ? BT_DHT__RT_ADDED : BT_DHT__RT_CACHED);
		if (i % 5 == 0)
			ck_assert_int_eq(
			    bt_dht__rt_heard(rt, &id, &a, BT_DHT__RT_QUERIED, 0, t + 7),
			    BT_DHT__RT_UPDATED);
		t += 1000;
	}
	struct nodes before = collect(rt);
	bt_dht__rt_failed(rt, &before.v[0].id, &before.v[0].addr, t);
	before.v[0].fails = 1;
	size_t total_before = total(rt, t);
	ck_assert_uint_eq(total_before, 20);

	/* Our new id: flip the first bit, so what was far is near and vice versa: the 6 go to
	 * bucket 0, the 4 deeper. */
	bt_id self2 = self;
	self2.b[0] ^= 0x80;
	ck_assert_int_eq(bt_dht__rt_set_self(rt, &self2), 0);
	ck_assert(bt_id_eq(bt_dht__rt_self(rt), &self2));
	check_invariants(rt, t);
	ck_assert_uint_eq(total(rt, t), total_before);
	/* Every former bucket node is still in a bucket (none of the new buckets overflows),
	 * with its timestamps, failures and flags. */
	struct nodes after = collect(rt);
	ck_assert_uint_ge(after.n, before.n);
	for (size_t i = 0; i < before.n; i++) {
		const bt_dht__rt_node *n = find_node(&after, &before.v[i].id);
		ck_assert_ptr_nonnull(n);
		ck_assert(bt_addr_eq(&n->addr, &before.v[i].addr));
		ck_assert_uint_eq(n->last_reply, before.v[i].last_reply);
		ck_assert_uint_eq(n->last_query, before.v[i].last_query);
		ck_assert_uint_eq(n->fails, before.v[i].fails);
		ck_assert_uint_eq(n->flags, before.v[i].flags);
	}
	free(after.v);

	/* Same id: nothing to do.  The id of a node in the table: that node goes. */
	ck_assert_int_eq(bt_dht__rt_set_self(rt, &self2), 0);
	ck_assert_uint_eq(total(rt, t), total_before);
	ck_assert_int_eq(bt_dht__rt_set_self(rt, &before.v[3].id), 0);
	ck_assert_uint_eq(total(rt, t), total_before - 1);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &before.v[3].id, t), 0);
	check_invariants(rt, t);
	ck_assert_int_eq(bt_dht__rt_set_self(NULL, &self), -EINVAL);
	free(before.v);

	/* A big table: every node is kept, in a bucket or a cache, when there is room. */
	for (int i = 0; i < 2000; i++) {
		bt_id id = rnd_id();
		bt_addr a = fresh_addr();
		bt_dht__rt_heard(rt, &id, &a, (bt_dht__rt_how)(1 + i % 2), 0, t + (uint64_t)i);
	}
	check_invariants(rt, t + 3000);
	bt_id self3 = rnd_id();
	size_t tb = total(rt, t + 3000);
	ck_assert_int_eq(bt_dht__rt_set_self(rt, &self3), 0);
	check_invariants(rt, t + 3000);
	ck_assert_uint_le(total(rt, t + 3000), tb);
	ck_assert_uint_gt(total(rt, t + 3000), 0);
	bt_dht__rt_free(rt);
}
END_TEST

/* ---------------------------------------------------------------- bounds */

/* The bound changed at run time: lowering drops cached candidates (unverified first), never a
 * good bucket node; raising lets the table grow again. */
START_TEST(test_set_max)
{
	bt_id self = rnd_id();
	bt_dht__rtable *rt = new_rt(&self, 0);
	for (int i = 0; i < 3000; i++) {
		bt_id id = rnd_id();
		bt_addr a = fresh_addr();
		bt_dht__rt_heard(rt, &id, &a, i % 3 ? BT_DHT__RT_REPLIED : BT_DHT__RT_QUERIED, 0,
		                 T0 + i);
	}
	bt_dht__rt_stats st;
	bt_dht__rt_get_stats(rt, T0 + 3000, &st);
	size_t nodes = st.good + st.questionable + st.bad;
	ck_assert_uint_gt(st.cached, 20);
	ck_assert_uint_eq(st.bad, 0);

	bt_dht__rt_set_max(rt, nodes + 5);
	bt_dht__rt_get_stats(rt, T0 + 3000, &st);
	ck_assert_uint_eq(st.good + st.questionable, nodes);
	ck_assert_uint_eq(st.cached, 5);
	check_invariants(rt, T0 + 3000);

	/* Below the bucket nodes: every cached entry goes, no good node does, newcomers wait. */
	bt_dht__rt_set_max(rt, 10);
	bt_dht__rt_get_stats(rt, T0 + 3000, &st);
	ck_assert_uint_eq(st.good + st.questionable, nodes);
	ck_assert_uint_eq(st.cached, 0);
	bt_id n1 = rnd_id();
	bt_addr a1 = fresh_addr();
	ck_assert_int_eq(bt_dht__rt_heard(rt, &n1, &a1, BT_DHT__RT_REPLIED, 0, T0 + 3001),
	                 BT_DHT__RT_REJECTED);
	check_invariants(rt, T0 + 3001);

	/* No bound again: the table takes newcomers. */
	bt_dht__rt_set_max(rt, 0);
	ck_assert_int_ne(bt_dht__rt_heard(rt, &n1, &a1, BT_DHT__RT_REPLIED, 0, T0 + 3002),
	                 BT_DHT__RT_REJECTED);
	check_invariants(rt, T0 + 3002);
	bt_dht__rt_free(rt);
}
END_TEST

START_TEST(test_max_nodes)
{
	bt_id self = rnd_id();
	bt_dht__rtable *rt = new_rt(&self, 10);
	bt_id ids[K], cand;
	bt_addr addrs[K], cand_addr;

	fill_bucket0(rt, &self, ids, addrs, &cand, &cand_addr);
	bt_id q = id_prefix(&self, 0), q2 = id_prefix(&self, 0);
	bt_addr qa = fresh_addr(), q2a = fresh_addr();
	ck_assert_int_eq(bt_dht__rt_heard(rt, &q, &qa, BT_DHT__RT_QUERIED, 0, T0 + 200),
	                 BT_DHT__RT_CACHED);
	ck_assert_uint_eq(total(rt, T0), 10);
	/* Full: a newcomer that would take a free place is refused, even into a bucket. */
	ck_assert_int_eq(bt_dht__rt_heard(rt, &q2, &q2a, BT_DHT__RT_QUERIED, 0, T0 + 201),
	                 BT_DHT__RT_REJECTED);
	bt_id deep = id_prefix(&self, 30);
	bt_addr da = fresh_addr();
	ck_assert_int_eq(bt_dht__rt_heard(rt, &deep, &da, BT_DHT__RT_REPLIED, 0, T0 + 202),
	                 BT_DHT__RT_REJECTED);
	ck_assert_uint_eq(total(rt, T0), 10);
	/* Known nodes still update. */
	ck_assert_int_eq(bt_dht__rt_heard(rt, &ids[1], &addrs[1], BT_DHT__RT_REPLIED, 0, T0 + 203),
	                 BT_DHT__RT_UPDATED);
	/* A bad node is still replaced by an answering newcomer (the count does not grow). */
	bt_dht__rt_failed(rt, &ids[0], &addrs[0], T0 + 300);
	ck_assert(bt_dht__rt_failed(rt, &ids[0], &addrs[0], T0 + 300)); /* cand promoted */
	ck_assert_uint_eq(total(rt, T0), 9);
	bt_dht__rt_failed(rt, &ids[2], &addrs[2], T0 + 301);
	ck_assert(bt_dht__rt_failed(rt, &ids[2], &addrs[2], T0 + 301)); /* stays, bad */
	ck_assert_int_eq(bt_dht__rt_heard(rt, &q2, &q2a, BT_DHT__RT_QUERIED, 0, T0 + 302),
	                 BT_DHT__RT_CACHED);
	ck_assert_uint_eq(total(rt, T0), 10);
	bt_id nw = id_prefix(&self, 0);
	bt_addr nwa = fresh_addr();
	ck_assert_int_eq(bt_dht__rt_heard(rt, &nw, &nwa, BT_DHT__RT_REPLIED, 0, T0 + 303),
	                 BT_DHT__RT_ADDED);
	ck_assert_int_eq(bt_dht__rt_state_of(rt, &ids[2], T0 + 303), 0);
	ck_assert_uint_eq(total(rt, T0), 10);
	check_invariants(rt, T0 + 303);
	bt_dht__rt_free(rt);

	/* Random traffic never takes a small table past its bound. */
	rt = new_rt(&self, 20);
	size_t rejected = 0;
	for (int i = 0; i < 5000; i++) {
		bt_id id =
		    bt_test_rnd() % 3 ? rnd_id() : id_prefix(&self, (unsigned)(bt_test_rnd() % 40));
		bt_addr a = fresh_addr();
		if (bt_dht__rt_heard(rt, &id, &a, (bt_dht__rt_how)(1 + bt_test_rnd() % 2), 0,
		                     T0 + (uint64_t)i) == BT_DHT__RT_REJECTED)
			rejected++;
		REQUIRE(total(rt, T0 + (uint64_t)i) <= 20);
		if (i % 10 == 0) {
			struct nodes ns = collect(rt);
			if (ns.n) {
				const bt_dht__rt_node *v = &ns.v[bt_test_rnd() % ns.n];
				bt_dht__rt_failed(rt, &v->id, &v->addr, T0 + (uint64_t)i);
			}
			free(ns.v);
		}
	}
	ck_assert_uint_gt(rejected, 1000);
	check_invariants(rt, T0 + 5000);
	bt_dht__rt_free(rt);
}
END_TEST

START_TEST(test_flood)
{
	/* A million distinct nodes, answering or querying: the table stays within its bounds in
	 * entries and memory, and keeps its invariants.  (It is also fast: each event costs a
	 * bucket search and a hash probe, nothing that grows with the traffic.) */
	bt_id self = rnd_id();
	bt_dht__rtable *rt = new_rt(&self, 0);
	bt_dht__rt_stats st;
	size_t max_bytes = 0, added = 0;
	bt_dht__rt_node out[K];
	uint64_t t = T0;

	for (uint32_t i = 0; i < 1000000; i++) {
		bt_id id = (i & 7) ? rnd_id() : id_prefix(&self, (unsigned)(bt_test_rnd() % 160));
		/* A multiplication by an odd constant is a bijection: every IP is distinct. */
		bt_addr a = addr4(i * 2654435761u, (uint16_t)(1 + i % 65535));
		bt_dht__rt_how how = (bt_test_rnd() & 1) ? BT_DHT__RT_REPLIED : BT_DHT__RT_QUERIED;
		if (bt_dht__rt_heard(rt, &id, &a, how, 0, t) == BT_DHT__RT_ADDED)
			added++;
		if (i % 64 == 0) {
			/* The engine's side: pings, failures, lookups, refreshes. */
			if (bt_dht__rt_next_ping(rt, t, 1000, out) && (bt_test_rnd() & 1))
				bt_dht__rt_failed(rt, &out[0].id, &out[0].addr, t);
			bt_id target = rnd_id();
			bt_dht__rt_closest(rt, &target, out, K, t);
		}
		if (i % 10000 == 0) {
			bt_dht__rt_get_stats(rt, t, &st);
			REQUIRE(st.good + st.questionable + st.bad + st.cached <= MAX_NODES);
			if (st.bytes > max_bytes)
				max_bytes = st.bytes;
		}
		t += 7;
	}
	bt_dht__rt_get_stats(rt, t, &st);
	ck_assert_uint_le(st.buckets, 161);
	ck_assert_uint_le(st.good + st.questionable + st.bad + st.cached, MAX_NODES);
	ck_assert_uint_ge(st.good + st.questionable + st.bad, 100);
	ck_assert_uint_gt(added, 100);
	if (st.bytes > max_bytes)
		max_bytes = st.bytes;
	/* 161 * 16 entries of well under 128 bytes each, with the index and buckets. */
	ck_assert_uint_le(max_bytes, (size_t)MAX_NODES * 128);
	check_invariants(rt, t);
	bt_dht__rt_free(rt);
}
END_TEST

START_TEST(test_flood_deep)
{
	/* Ids chosen to crowd our neighbourhood (every depth, answering) and spoofed queries
	 * crowding the caches: buckets stop at 160 and caches at K. */
	bt_id self = rnd_id();
	bt_dht__rtable *rt = new_rt(&self, 0);
	for (uint32_t i = 0; i < 200000; i++) {
		bt_id id = id_prefix(&self, 100 + (unsigned)(bt_test_rnd() % 60));
		bt_addr a = addr4(i * 2654435761u + 1, 6881);
		bt_dht__rt_heard(rt, &id, &a, (i % 3) ? BT_DHT__RT_QUERIED : BT_DHT__RT_REPLIED, 0,
		                 T0 + i);
	}
	bt_dht__rt_stats st;
	bt_dht__rt_get_stats(rt, T0, &st);
	ck_assert_uint_le(st.buckets, 160);
	ck_assert_uint_le(st.good + st.questionable + st.bad + st.cached, MAX_NODES);
	check_invariants(rt, T0 + 200000);
	bt_dht__rt_free(rt);
}
END_TEST

/* ---------------------------------------------------------------- BEP 42 */

START_TEST(test_crc32c)
{
	const uint8_t *s = (const uint8_t *)"123456789";
	ck_assert_uint_eq(bt_dht__crc32c(0, s, 9), 0xE3069283u);
	ck_assert_uint_eq(bt_dht__crc32c(0, s, 0), 0);
	/* Chaining gives the checksum of the concatenation. */
	ck_assert_uint_eq(bt_dht__crc32c(bt_dht__crc32c(0, s, 4), s + 4, 5), 0xE3069283u);
	/* RFC 3720 B.4: 32 bytes of zeros, of 0xff. */
	uint8_t buf[32];
	memset(buf, 0, sizeof(buf));
	ck_assert_uint_eq(bt_dht__crc32c(0, buf, 32), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	ck_assert_uint_eq(bt_dht__crc32c(0, buf, 32), 0x62A8AB43u);
}
END_TEST

static const struct {
	uint32_t ip;
	uint8_t rand;
	const char *id;
} bep42_vectors[] = {
    {0x7c1f4b15u, 1, "5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401"},  /* 124.31.75.21 */
    {0x154b1f7cu, 86, "5a3ce9c14e7a08645677bbd1cfe7d8f956d53256"}, /* 21.75.31.124 */
    {0x411733aau, 22, "a5d43220bc8f112a3d426c84764f8c2a1150e616"}, /* 65.23.51.170 */
    {0x547c490eu, 65, "1b0321dd1bb1fe518101ceef99462b947a01ff41"}, /* 84.124.73.14 */
    {0x2bd53553u, 90, "e56f6cbf5b7c4be0237986d5243b87aa6d51305a"}, /* 43.213.53.83 */
};
#define NVEC (sizeof(bep42_vectors) / sizeof(bep42_vectors[0]))

START_TEST(test_bep42_make_id)
{
	for (size_t v = 0; v < NVEC; v++) {
		bt_id expect, id;
		bt_addr ip = addr4(bep42_vectors[v].ip, 6881);
		ck_assert_int_eq(bt_id_from_hex(&expect, bep42_vectors[v].id), 0);
		ck_assert_uint_eq(expect.b[19], bep42_vectors[v].rand);
		/* With the example's own random bytes, the example id exactly. */
		bt_dht__bep42_make_id(&id, &ip, expect.b);
		ck_assert(bt_id_eq(&id, &expect));
		/* With other random bytes and the same r: the same first 21 bits, r in the last
		 * byte, the rest from the random bytes. */
		for (int i = 0; i < 50; i++) {
			uint8_t r[BT_ID_LEN];
			rnd_bytes(r, sizeof(r));
			r[19] = (uint8_t)((r[19] & 0xf8) | (bep42_vectors[v].rand & 7));
			bt_dht__bep42_make_id(&id, &ip, r);
			ck_assert_uint_eq(id.b[0], expect.b[0]);
			ck_assert_uint_eq(id.b[1], expect.b[1]);
			ck_assert_uint_eq(id.b[2] & 0xf8, expect.b[2] & 0xf8);
			ck_assert_uint_eq(id.b[2] & 7, r[2] & 7);
			ck_assert(memcmp(id.b + 3, r + 3, BT_ID_LEN - 3) == 0);
			ck_assert(bt_dht__bep42_check(&id, &ip));
		}
	}
}
END_TEST

START_TEST(test_bep42_check)
{
	for (size_t v = 0; v < NVEC; v++) {
		bt_id id, alt;
		bt_addr ip = addr4(bep42_vectors[v].ip, 6881);
		ck_assert_int_eq(bt_id_from_hex(&id, bep42_vectors[v].id), 0);
		ck_assert(bt_dht__bep42_check(&id, &ip));
		/* Any of the first 21 bits altered: refused. */
		for (unsigned bit = 0; bit < 21; bit++) {
			alt = id;
			alt.b[bit / 8] ^= (uint8_t)(0x80u >> (bit % 8));
			ck_assert(!bt_dht__bep42_check(&alt, &ip));
		}
		/* Another r: refused (for these vectors). */
		for (unsigned r = 1; r < 8; r++) {
			alt = id;
			alt.b[19] ^= (uint8_t)r;
			ck_assert(!bt_dht__bep42_check(&alt, &ip));
		}
		/* The random parts may be anything. */
		alt = id;
		alt.b[2] ^= 7;
		alt.b[10] ^= 0xff;
		alt.b[19] ^= 0xf8;
		ck_assert(bt_dht__bep42_check(&alt, &ip));
		/* The same id at another IP, or at an IP the mask treats differently: refused. */
		bt_addr other = addr4(bep42_vectors[v].ip ^ 0x00010000u, 6881);
		ck_assert(!bt_dht__bep42_check(&id, &other));
		/* Bits the mask drops do not matter: the top 6 bits of the first octet. */
		bt_addr masked = addr4(bep42_vectors[v].ip ^ 0xfc000000u, 1);
		if (!bt_addr_is_local(&masked))
			ck_assert(bt_dht__bep42_check(&id, &masked));
	}
}
END_TEST

START_TEST(test_bep42_local_and_v6)
{
	bt_id id = rnd_id();
	static const char *const local[] = {"10.1.2.3:1",    "172.16.0.1:1",  "172.31.255.255:1",
	                                    "192.168.1.1:1", "169.254.3.4:1", "127.0.0.1:1",
	                                    "[::1]:1",       "[fe80::1]:1",   "[fd00::1]:1"};
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
		bt_addr a;
		ck_assert_int_eq(bt_addr_parse(&a, local[i]), 0);
		ck_assert(bt_dht__bep42_check(&id, &a));
	}
	bt_addr pub;
	ck_assert_int_eq(bt_addr_parse(&pub, "172.32.0.1:1"), 0);
	id.b[0] = 0;
	id.b[1] = 0;
	id.b[2] = 0;
	bt_id good;
	bt_dht__bep42_make_id(&good, &pub, id.b);
	ck_assert(bt_dht__bep42_check(&good, &pub));
	good.b[0] ^= 1;
	ck_assert(!bt_dht__bep42_check(&good, &pub));

	/* IPv6: only the high 64 bits count. */
	bt_addr a6, b6, c6;
	ck_assert_int_eq(bt_addr_parse(&a6, "[2001:db8:1:2:3:4:5:6]:6881"), 0);
	ck_assert_int_eq(bt_addr_parse(&b6, "[2001:db8:1:2:ffff::]:6881"), 0);
	ck_assert_int_eq(bt_addr_parse(&c6, "[2001:db8:1:3:3:4:5:6]:6881"), 0);
	for (int i = 0; i < 100; i++) {
		uint8_t r[BT_ID_LEN];
		rnd_bytes(r, sizeof(r));
		bt_dht__bep42_make_id(&id, &a6, r);
		ck_assert(bt_dht__bep42_check(&id, &a6));
		ck_assert(bt_dht__bep42_check(&id, &b6));
		ck_assert_uint_eq(id.b[19], r[19]);
		bt_id alt = id;
		alt.b[1] ^= 0x10;
		ck_assert(!bt_dht__bep42_check(&alt, &a6));
	}
	/* Masking by hand: v6 mask 0103070f1f3f7fff with r << 61, big-endian, CRC32C. */
	uint8_t in[8] = {0x20 & 0x01, 0x01 & 0x03, 0x0d & 0x07, 0xb8 & 0x0f,
	                 0x00 & 0x1f, 0x01 & 0x3f, 0x00 & 0x7f, 0x03 & 0xff};
	in[0] |= (uint8_t)(5 << 5);
	uint32_t crc = bt_dht__crc32c(0, in, 8);
	uint8_t r[BT_ID_LEN] = {0};
	r[19] = 5;
	bt_dht__bep42_make_id(&id, &c6, r);
	ck_assert_uint_eq(id.b[0], crc >> 24);
	ck_assert_uint_eq(id.b[1], (crc >> 16) & 0xff);
	ck_assert_uint_eq(id.b[2], (crc >> 8) & 0xf8);
	/* 2001:db8:1:3:: vs 2001:db8:1:2:: differ in bit 63, kept by the mask: another prefix
	 * (almost surely; checked for this r). */
	bt_dht__bep42_make_id(&good, &a6, r);
	ck_assert(!bt_id_eq(&good, &id));
}
END_TEST

static Suite *rtable_suite(void)
{
	Suite *s = suite_create("dht-rtable");
	TCase *tc = tcase_create("admission");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_new_args);
	tcase_add_test(tc, test_ipv6_table);
	tcase_add_test(tc, test_split_same_depth);
	tcase_add_test(tc, test_split_chain);
	tcase_add_test(tc, test_split_moves_cache);
	tcase_add_test(tc, test_one_per_ip);
	tcase_add_test(tc, test_id_moves);
	tcase_add_test(tc, test_queried_goes_to_cache);
	tcase_add_test(tc, test_bad_replacement_and_promotion);
	tcase_add_test(tc, test_cache_eviction);
	tcase_add_test(tc, test_states_over_time);
	suite_add_tcase(s, tc);

	tc = tcase_create("queries");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_closest_bruteforce);
	tcase_add_test(tc, test_closest_small_tables);
	tcase_add_test(tc, test_next_ping);
	tcase_add_test(tc, test_refresh_target);
	tcase_add_test(tc, test_set_self);
	suite_add_tcase(s, tc);

	tc = tcase_create("bounds");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 300); /* valgrind runs it too */
	tcase_add_test(tc, test_max_nodes);
	tcase_add_test(tc, test_set_max);
	tcase_add_test(tc, test_flood);
	tcase_add_test(tc, test_flood_deep);
	suite_add_tcase(s, tc);

	tc = tcase_create("bep42");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_crc32c);
	tcase_add_test(tc, test_bep42_make_id);
	tcase_add_test(tc, test_bep42_check);
	tcase_add_test(tc, test_bep42_local_and_v6);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return bt_test_run(rtable_suite());
}
