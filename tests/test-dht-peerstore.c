/*
 * test-dht-peerstore.c - the announce store (libbtdht/peerstore.h): storing and serving peers per
 * infohash and family, the per-infohash and per-store caps and which entry each one evicts, expiry
 * (lazy and incremental), random choice in get, BEP 51 samples and their caching, limits changed
 * at run time, and floods of a million announces that must leave memory within a derived bound.
 *
 * A randomized test replays tens of thousands of operations against a naive model of the rules in
 * peerstore.h and compares every observable result.  Everything is deterministic: time is a
 * counter passed to each call and randomness comes from fixed seeds.
 */
#include <check.h>

#include "test-util.h"
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peerstore.h"

#define MINUTE (60 * 1000ull)

/* Deterministic PRNG (xorshift64*) so every run tests the same operations. */
static bt_id ih_of(uint32_t n)
{
	bt_id id;
	for (int i = 0; i < BT_ID_LEN; i++)
		id.b[i] = (uint8_t)(0xa5 ^ (i * 29));
	memcpy(id.b + 3, &n, sizeof(n));
	return id;
}

/* Distinct peers for distinct @n; the port varies too, so ports are compared on the way back. */
static bt_addr v4(uint32_t n)
{
	bt_addr a;
	memset(&a, 0, sizeof(a));
	a.family = 4;
	a.ip[0] = 10;
	a.ip[1] = (uint8_t)(n >> 16);
	a.ip[2] = (uint8_t)(n >> 8);
	a.ip[3] = (uint8_t)n;
	a.port = (uint16_t)(1024 + (n * 7) % 60000);
	return a;
}

static bt_addr v6(uint32_t n)
{
	bt_addr a;
	memset(&a, 0, sizeof(a));
	a.family = 6;
	a.ip[0] = 0x20;
	a.ip[1] = 0x01;
	a.ip[13] = (uint8_t)(n >> 16);
	a.ip[14] = (uint8_t)(n >> 8);
	a.ip[15] = (uint8_t)n;
	a.port = (uint16_t)(2048 + (n * 13) % 60000);
	return a;
}

static bt_addr peer_of(int family, uint32_t n)
{
	return family == 4 ? v4(n) : v6(n);
}

static bt_dht__ps_limits limits(size_t max_ih, size_t max_peers, uint64_t ttl, uint64_t interval)
{
	bt_dht__ps_limits l = {max_ih, max_peers, ttl, interval};
	return l;
}

static bt_dht__ps *mk(size_t max_ih, size_t max_peers, uint64_t ttl, uint64_t interval)
{
	bt_dht__ps *ps;
	bt_dht__ps_limits l = limits(max_ih, max_peers, ttl, interval);
	ck_assert_int_eq(bt_dht__ps_new(&ps, &l, 0x0123456789abcdefull), 0);
	ck_assert_ptr_nonnull(ps);
	return ps;
}

static bt_dht__ps_stats stats(const bt_dht__ps *ps)
{
	bt_dht__ps_stats st;
	bt_dht__ps_get_stats(ps, &st);
	return st;
}

static int add(bt_dht__ps *ps, uint32_t ih, bt_addr peer, uint64_t now)
{
	bt_id id = ih_of(ih);
	return bt_dht__ps_add(ps, &id, &peer, now);
}

static size_t get(bt_dht__ps *ps, uint32_t ih, int family, bt_addr *out, size_t max, uint64_t now,
                  uint64_t seed)
{
	bt_id id = ih_of(ih);
	return bt_dht__ps_get(ps, &id, family, out, max, now, seed);
}

static bool contains(const bt_addr *v, size_t n, bt_addr a)
{
	for (size_t i = 0; i < n; i++)
		if (bt_addr_eq(&v[i], &a))
			return true;
	return false;
}

static void assert_distinct(const bt_addr *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			ck_assert(!bt_addr_eq(&v[i], &v[j]));
}

/* The peers of @family stored for @ih are exactly peer_of(family, want[0..n)). */
static void assert_peers(bt_dht__ps *ps, uint32_t ih, int family, const uint32_t *want, size_t n,
                         uint64_t now)
{
	bt_addr out[64];
	size_t got = get(ps, ih, family, out, 64, now, 7);
	ck_assert_uint_eq(got, n);
	assert_distinct(out, got);
	for (size_t i = 0; i < n; i++)
		ck_assert(contains(out, got, peer_of(family, want[i])));
}

START_TEST(test_add_get_v4)
{
	bt_dht__ps *ps = mk(100, 20, 30 * MINUTE, 0);
	bt_addr out[8];
	ck_assert_int_eq(add(ps, 1, v4(1), 0), 1);
	ck_assert_int_eq(add(ps, 1, v4(2), 1), 0);
	ck_assert_int_eq(add(ps, 2, v4(3), 2), 1);
	assert_peers(ps, 1, 4, (uint32_t[]){1, 2}, 2, 3);
	assert_peers(ps, 2, 4, (uint32_t[]){3}, 1, 3);
	ck_assert_uint_eq(get(ps, 1, 6, out, 8, 3, 1), 0);
	ck_assert_uint_eq(get(ps, 3, 4, out, 8, 3, 1), 0); /* unknown infohash */
	ck_assert_uint_eq(get(ps, 1, 4, out, 0, 3, 1), 0); /* no room */
	ck_assert_uint_eq(get(ps, 1, 5, out, 8, 3, 1), 0); /* no such family */
	ck_assert_uint_eq(get(ps, 1, 4, out, 1, 3, 1), 1);
	ck_assert(bt_addr_eq(&out[0], &(bt_addr){0}) == 0);
	ck_assert(contains((bt_addr[]){v4(1), v4(2)}, 2, out[0]));

	/* same IP, another port: another peer */
	bt_addr p = v4(1);
	p.port++;
	ck_assert_int_eq(add(ps, 1, p, 4), 0);
	ck_assert_uint_eq(get(ps, 1, 4, out, 8, 5, 1), 3);
	ck_assert(contains(out, 3, p));

	bt_dht__ps_stats st = stats(ps);
	ck_assert_uint_eq(st.infohashes, 2);
	ck_assert_uint_eq(st.peers, 4);
	ck_assert_uint_eq(st.evicted_infohashes + st.evicted_peers + st.expired_peers, 0);
	bt_dht__ps_free(ps);
}
END_TEST

START_TEST(test_add_get_v6)
{
	bt_dht__ps *ps = mk(100, 20, 30 * MINUTE, 0);
	bt_addr out[8];
	ck_assert_int_eq(add(ps, 1, v6(1), 0), 1);
	ck_assert_int_eq(add(ps, 1, v6(2), 0), 0);
	ck_assert_int_eq(add(ps, 1, v4(1), 0), 0);
	ck_assert_int_eq(add(ps, 1, v4(2), 0), 0);
	ck_assert_int_eq(add(ps, 1, v4(3), 0), 0);
	assert_peers(ps, 1, 6, (uint32_t[]){1, 2}, 2, 1);
	assert_peers(ps, 1, 4, (uint32_t[]){1, 2, 3}, 3, 1);
	ck_assert_uint_eq(get(ps, 1, 6, out, 8, 1, 9), 2);
	for (size_t i = 0; i < 2; i++) {
		ck_assert_uint_eq(out[i].family, 6);
		ck_assert_uint_eq(out[i].pad, 0);
	}
	/* a v6-only infohash has no v4 peers */
	ck_assert_int_eq(add(ps, 2, v6(9), 0), 1);
	ck_assert_uint_eq(get(ps, 2, 4, out, 8, 1, 9), 0);
	assert_peers(ps, 2, 6, (uint32_t[]){9}, 1, 1);
	ck_assert_uint_eq(stats(ps).peers, 6);
	bt_dht__ps_free(ps);
}
END_TEST

START_TEST(test_refresh)
{
	bt_dht__ps *ps = mk(100, 20, 1000, 0);
	ck_assert_int_eq(add(ps, 1, v4(1), 0), 1);
	for (uint64_t t = 100; t <= 500; t += 100)
		ck_assert_int_eq(add(ps, 1, v4(1), t), 0);
	ck_assert_int_eq(add(ps, 1, v6(1), 500), 0);
	ck_assert_uint_eq(stats(ps).peers, 2);
	/* refreshed at 500, so alive until 1500 */
	assert_peers(ps, 1, 4, (uint32_t[]){1}, 1, 1200);
	assert_peers(ps, 1, 4, (uint32_t[]){1}, 1, 1499);
	assert_peers(ps, 1, 4, NULL, 0, 1500);
	ck_assert_uint_eq(stats(ps).expired_peers, 2); /* the v6 peer went with its infohash */
	ck_assert_uint_eq(stats(ps).infohashes, 0);
	bt_dht__ps_free(ps);
}
END_TEST

START_TEST(test_per_hash_cap)
{
	bt_dht__ps *ps = mk(100, 3, 30 * MINUTE, 0);
	add(ps, 1, v4(1), 1);
	add(ps, 1, v4(2), 2);
	add(ps, 1, v4(3), 3);
	add(ps, 1, v4(1), 4); /* refresh: v4(2) is now the oldest announce */
	ck_assert_uint_eq(stats(ps).evicted_peers, 0);
	add(ps, 1, v4(4), 5);
	assert_peers(ps, 1, 4, (uint32_t[]){1, 3, 4}, 3, 6);
	ck_assert_uint_eq(stats(ps).evicted_peers, 1);
	add(ps, 1, v4(5), 7);
	assert_peers(ps, 1, 4, (uint32_t[]){1, 4, 5}, 3, 8);

	/* the cap is per family: three v6 peers fit beside three v4 peers */
	add(ps, 1, v6(1), 9);
	add(ps, 1, v6(2), 10);
	add(ps, 1, v6(3), 11);
	ck_assert_uint_eq(stats(ps).peers, 6);
	ck_assert_uint_eq(stats(ps).evicted_peers, 2);
	add(ps, 1, v6(4), 12);
	assert_peers(ps, 1, 6, (uint32_t[]){2, 3, 4}, 3, 13);
	assert_peers(ps, 1, 4, (uint32_t[]){1, 4, 5}, 3, 13);

	/* a full family evicts an expired peer rather than a live one, and counts it as expired */
	bt_dht__ps_limits l = limits(100, 3, 10, 0);
	ck_assert_int_eq(bt_dht__ps_set_limits(ps, &l, 13), 0);
	add(ps, 2, v4(1), 100);
	add(ps, 2, v4(2), 105);
	add(ps, 2, v4(3), 106);
	add(ps, 2, v4(4), 110); /* v4(1) expired at 110 */
	bt_dht__ps_stats st = stats(ps);
	ck_assert_uint_eq(st.evicted_peers, 3);
	ck_assert_uint_eq(st.expired_peers, 1);
	assert_peers(ps, 2, 4, (uint32_t[]){2, 3, 4}, 3, 110);
	bt_dht__ps_free(ps);
}
END_TEST

START_TEST(test_max_infohashes_lru)
{
	bt_dht__ps *ps = mk(3, 10, 30 * MINUTE, 0);
	bt_addr out[4];
	add(ps, 'A', v4(1), 1);
	add(ps, 'B', v4(2), 2);
	add(ps, 'C', v4(3), 3);
	add(ps, 'A', v4(4), 4); /* A announced again: B is now the least recent */
	ck_assert_int_eq(add(ps, 'D', v4(5), 5), 1);
	ck_assert_uint_eq(get(ps, 'B', 4, out, 4, 6, 0), 0);
	assert_peers(ps, 'A', 4, (uint32_t[]){1, 4}, 2, 6);
	assert_peers(ps, 'C', 4, (uint32_t[]){3}, 1, 6);
	assert_peers(ps, 'D', 4, (uint32_t[]){5}, 1, 6);
	bt_dht__ps_stats st = stats(ps);
	ck_assert_uint_eq(st.infohashes, 3);
	ck_assert_uint_eq(st.evicted_infohashes, 1);
	ck_assert_uint_eq(st.evicted_peers, 1);

	/* order now C(3) A(4) D(5): E evicts C */
	add(ps, 'E', v4(6), 7);
	ck_assert_uint_eq(get(ps, 'C', 4, out, 4, 8, 0), 0);
	ck_assert_uint_eq(get(ps, 'A', 4, out, 4, 8, 0), 2);

	/* get is not an announce: A stays the least recent and goes next, with both its peers */
	for (int i = 0; i < 10; i++)
		get(ps, 'A', 4, out, 4, 9, (uint64_t)i);
	ck_assert_int_eq(add(ps, 'C', v4(7), 10), 1); /* C is new again */
	ck_assert_uint_eq(get(ps, 'A', 4, out, 4, 11, 0), 0);
	assert_peers(ps, 'D', 4, (uint32_t[]){5}, 1, 11);
	assert_peers(ps, 'E', 4, (uint32_t[]){6}, 1, 11);
	assert_peers(ps, 'C', 4, (uint32_t[]){7}, 1, 11);
	st = stats(ps);
	ck_assert_uint_eq(st.evicted_infohashes, 3);
	ck_assert_uint_eq(st.evicted_peers, 1 + 1 + 2);
	ck_assert_uint_eq(st.peers, 3);

	/* a v6 announce refreshes the infohash's place too */
	add(ps, 'D', v6(1), 12);
	add(ps, 'F', v4(8), 13); /* E goes, not D */
	ck_assert_uint_eq(get(ps, 'E', 4, out, 4, 14, 0), 0);
	assert_peers(ps, 'D', 6, (uint32_t[]){1}, 1, 14);
	bt_dht__ps_free(ps);
}
END_TEST

START_TEST(test_ttl_expiry)
{
	bt_dht__ps *ps = mk(100, 10, 1000, 0);
	add(ps, 1, v4(1), 0);
	add(ps, 1, v4(2), 400);
	add(ps, 2, v4(3), 500);
	assert_peers(ps, 1, 4, (uint32_t[]){1, 2}, 2, 999);
	assert_peers(ps, 1, 4, (uint32_t[]){2}, 1, 1000); /* exactly ttl after: gone */
	ck_assert_uint_eq(stats(ps).expired_peers, 1);

	/* a sample leaves out infohashes whose announces all expired */
	uint8_t s[40];
	size_t num;
	ck_assert_uint_eq(bt_dht__ps_sample(ps, s, 2, 1450, 1, &num), 1);
	ck_assert_uint_eq(num, 2);
	bt_id id2 = ih_of(2);
	ck_assert(memcmp(s, id2.b, BT_ID_LEN) == 0);

	assert_peers(ps, 1, 4, NULL, 0, 1450);
	bt_dht__ps_stats st = stats(ps);
	ck_assert_uint_eq(st.expired_peers, 2);
	ck_assert_uint_eq(st.infohashes, 1); /* get dropped the dead infohash */
	ck_assert_uint_eq(st.peers, 1);

	/* an unswept infohash whose peers all expired is new again when announced */
	ck_assert_int_eq(add(ps, 2, v4(4), 1600), 1);
	assert_peers(ps, 2, 4, (uint32_t[]){4}, 1, 1600);
	st = stats(ps);
	ck_assert_uint_eq(st.expired_peers, 3);
	ck_assert_uint_eq(st.evicted_peers + st.evicted_infohashes, 0);
	bt_dht__ps_free(ps);
}
END_TEST

START_TEST(test_expire_incremental)
{
	enum { N = 1000 };
	bt_dht__ps *ps = mk(N, 10, 1000, 0);
	for (uint32_t i = 0; i < N; i++)
		for (uint32_t j = 0; j < 3; j++)
			add(ps, i, j == 2 ? v6(i) : v4(3 * i + j), 0);
	for (uint32_t i = 1; i < N; i += 2)
		add(ps, i, v4(3 * i), 999); /* refresh one peer of every odd infohash */
	ck_assert_uint_eq(stats(ps).peers, 3 * N);
	size_t before = stats(ps).bytes;

	bt_dht__ps_expire(ps, 1500, 0);
	ck_assert_uint_eq(stats(ps).peers, 3 * N);

	/* at 1500: even infohashes are dead, odd ones keep one peer of three */
	size_t calls = 0;
	for (size_t budget = 1;; budget = budget % 3 + 1) {
		bt_dht__ps_stats a = stats(ps);
		if (a.infohashes == N / 2 && a.peers == N / 2)
			break;
		bt_dht__ps_expire(ps, 1500, budget);
		bt_dht__ps_stats b = stats(ps);
		ck_assert_uint_le(a.infohashes - b.infohashes, budget);
		ck_assert_uint_le(++calls, N);
	}
	ck_assert_uint_eq(stats(ps).expired_peers, 3 * N - N / 2);
	for (uint32_t i = 0; i < N; i++) {
		if (i % 2)
			assert_peers(ps, i, 4, &(uint32_t){3 * i}, 1, 1500);
		else
			assert_peers(ps, i, 4, NULL, 0, 1500);
		ck_assert_uint_eq(get(ps, i, 6, (bt_addr[1]){{0}}, 1, 1500, 0), 0);
	}
	ck_assert_uint_lt(stats(ps).bytes, before);

	/* everything dead: small budgets still empty the store and give the memory back */
	for (calls = 0; stats(ps).infohashes; calls++) {
		bt_dht__ps_expire(ps, 5000, 2);
		ck_assert_uint_le(calls, N);
	}
	bt_dht__ps_stats st = stats(ps);
	ck_assert_uint_eq(st.peers, 0);
	ck_assert_uint_eq(st.expired_peers, 3 * N);
	ck_assert_uint_eq(st.evicted_peers + st.evicted_infohashes, 0);
	ck_assert_uint_le(st.bytes, 2048);
	bt_dht__ps_expire(ps, 6000, 10); /* on an empty store */
	bt_dht__ps_free(ps);
}
END_TEST

START_TEST(test_get_random)
{
	enum { N = 50 };
	bt_dht__ps *ps = mk(10, 200, 30 * MINUTE, 0);
	bt_addr out[2 * N];
	int seen[N] = {0};
	for (uint32_t i = 0; i < N; i++)
		add(ps, 1, v4(i), i);
	for (uint64_t seed = 0; seed < 200; seed++) {
		ck_assert_uint_eq(get(ps, 1, 4, out, 10, 100, seed), 10);
		assert_distinct(out, 10);
		for (size_t k = 0; k < 10; k++) {
			uint32_t n = out[k].ip[3];
			bt_addr want = v4(n);
			ck_assert_uint_lt(n, N);
			ck_assert(bt_addr_eq(&out[k], &want));
			seen[n]++;
		}
	}
	/* 2000 draws of 50: every peer turns up, none dominates */
	for (int i = 0; i < N; i++) {
		ck_assert_int_gt(seen[i], 10);
		ck_assert_int_lt(seen[i], 100);
	}
	for (size_t max = N; max <= 2 * N; max += N) {
		ck_assert_uint_eq(get(ps, 1, 4, out, max, 100, max), N);
		assert_distinct(out, N);
		for (uint32_t i = 0; i < N; i++)
			ck_assert(contains(out, N, v4(i)));
	}
	/* expired peers are never chosen: those announced at 0..25 are gone */
	ck_assert_uint_eq(get(ps, 1, 4, out, 2 * N, 30 * MINUTE + 25, 3), 24);
	for (size_t k = 0; k < 24; k++)
		ck_assert_uint_ge(out[k].ip[3], 26);
	ck_assert_uint_eq(get(ps, 1, 4, out, 5, 30 * MINUTE + 25, 4), 5);
	bt_dht__ps_free(ps);
}
END_TEST

static bool ih_in(const uint8_t *s, size_t n, const uint8_t *id)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(s + i * BT_ID_LEN, id, BT_ID_LEN) == 0)
			return true;
	return false;
}

static void assert_sample_ok(const uint8_t *s, size_t n, uint32_t stored)
{
	for (size_t i = 0; i < n; i++) {
		ck_assert(!ih_in(s, i, s + i * BT_ID_LEN));
		uint32_t k;
		memcpy(&k, s + i * BT_ID_LEN + 3, sizeof(k));
		ck_assert_uint_lt(k, stored);
		bt_id id = ih_of(k);
		ck_assert(memcmp(id.b, s + i * BT_ID_LEN, BT_ID_LEN) == 0);
	}
}

START_TEST(test_sample)
{
	bt_dht__ps *ps = mk(1000, 10, 30 * MINUTE, 1000);
	uint8_t a[200 * BT_ID_LEN], b[200 * BT_ID_LEN];
	size_t num = 0;
	ck_assert_uint_eq(bt_dht__ps_sample(ps, a, 20, 0, 1, &num), 0); /* empty store */
	ck_assert_uint_eq(num, 0);
	for (uint32_t i = 0; i < 100; i++)
		add(ps, i, v4(i), 0);
	/* the empty sample is kept for its interval */
	ck_assert_uint_eq(bt_dht__ps_sample(ps, a, 20, 999, 1, &num), 0);
	ck_assert_uint_eq(num, 100);

	ck_assert_uint_eq(bt_dht__ps_sample(ps, a, 20, 1000, 1, &num), 20);
	ck_assert_uint_eq(num, 100);
	assert_sample_ok(a, 20, 100);

	/* cached until the interval passes, whatever is announced meanwhile */
	for (uint32_t i = 100; i < 110; i++)
		add(ps, i, v4(i), 1500);
	ck_assert_uint_eq(bt_dht__ps_sample(ps, b, 20, 1999, 2, &num), 20);
	ck_assert_uint_eq(num, 110);
	ck_assert(memcmp(a, b, 20 * BT_ID_LEN) == 0);
	ck_assert_uint_eq(bt_dht__ps_sample(ps, b, 5, 1999, 3, NULL), 5); /* fewer: a prefix */
	ck_assert(memcmp(a, b, 5 * BT_ID_LEN) == 0);
	ck_assert_uint_eq(bt_dht__ps_sample(ps, b, 40, 1999, 3, NULL), 20); /* drawn at 20 */
	ck_assert_uint_eq(bt_dht__ps_sample(ps, b, 0, 1999, 3, &num), 0);
	ck_assert_uint_eq(num, 110);

	/* a new draw after the interval */
	ck_assert_uint_eq(bt_dht__ps_sample(ps, b, 20, 2000, 4, &num), 20);
	assert_sample_ok(b, 20, 110);
	ck_assert(memcmp(a, b, 20 * BT_ID_LEN) != 0);

	/* asking for more than stored returns every infohash once */
	ck_assert_uint_eq(bt_dht__ps_sample(ps, b, 200, 3000, 5, &num), 110);
	assert_sample_ok(b, 110, 110);

	/* uniform enough: with a new sample each call, every infohash is drawn */
	bt_dht__ps_limits l = limits(1000, 10, 30 * MINUTE, 0);
	ck_assert_int_eq(bt_dht__ps_set_limits(ps, &l, 3000), 0);
	int hits[110] = {0};
	for (uint64_t r = 0; r < 300; r++) {
		ck_assert_uint_eq(bt_dht__ps_sample(ps, b, 20, 3000, r, NULL), 20);
		assert_sample_ok(b, 20, 110);
		for (size_t i = 0; i < 20; i++) {
			uint32_t k;
			memcpy(&k, b + i * BT_ID_LEN + 3, sizeof(k));
			hits[k]++;
		}
	}
	for (int i = 0; i < 110; i++) /* expect 54.5 */
		ck_assert_int_gt(hits[i], 20);
	bt_dht__ps_free(ps);
}
END_TEST

START_TEST(test_set_limits)
{
	bt_dht__ps *ps = mk(10, 5, 30 * MINUTE, 0);
	uint64_t t = 0;
	for (uint32_t i = 0; i < 10; i++)
		for (uint32_t j = 0; j < 5; j++)
			add(ps, i, v4(10 * i + j), t++);
	size_t before = stats(ps).bytes;

	bt_dht__ps_limits bad[] = {
	    limits(0, 5, 1000, 0),
	    limits(10, 0, 1000, 0),
	    limits(10, 5, 0, 0),
	    limits(BT_DHT__PS_MAX_INFOHASHES + 1, 5, 1000, 0),
	    limits(10, BT_DHT__PS_MAX_PEERS + 1, 1000, 0),
	    limits(10, 5, BT_DHT__PS_MAX_TTL_MS + 1, 0),
	};
	static char sentinel;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(bt_dht__ps_set_limits(ps, &bad[i], t), -EINVAL);
		bt_dht__ps *x = (bt_dht__ps *)(void *)&sentinel;
		ck_assert_int_eq(bt_dht__ps_new(&x, &bad[i], 1), -EINVAL);
		ck_assert_ptr_null(x);
	}
	ck_assert_uint_eq(stats(ps).peers, 50);

	bt_dht__ps_limits l = limits(4, 2, 30 * MINUTE, 0);
	ck_assert_int_eq(bt_dht__ps_set_limits(ps, &l, t), 0);
	bt_dht__ps_stats st = stats(ps);
	ck_assert_uint_eq(st.infohashes, 4);
	ck_assert_uint_eq(st.peers, 8);
	ck_assert_uint_eq(st.evicted_infohashes, 6);
	ck_assert_uint_eq(st.evicted_peers, 6 * 5 + 4 * 3);
	ck_assert_uint_lt(st.bytes, before);
	bt_addr out[8];
	for (uint32_t i = 0; i < 6; i++)
		ck_assert_uint_eq(get(ps, i, 4, out, 8, t, 0), 0);
	for (uint32_t i = 6; i < 10; i++) /* the two newest announces stay */
		assert_peers(ps, i, 4, (uint32_t[]){10 * i + 3, 10 * i + 4}, 2, t);

	/* the new limits hold from now on: 20 evicts 6, and 9's oldest of two goes */
	add(ps, 20, v4(200), t++);
	add(ps, 9, v4(201), t++);
	st = stats(ps);
	ck_assert_uint_eq(st.infohashes, 4);
	ck_assert_uint_eq(st.evicted_infohashes, 7);
	ck_assert_uint_eq(st.evicted_peers, 42 + 2 + 1);
	ck_assert_uint_eq(get(ps, 6, 4, out, 8, t, 0), 0);
	assert_peers(ps, 9, 4, (uint32_t[]){94, 201}, 2, t);

	/* growing the limits again evicts nothing */
	l = limits(100, 50, 30 * MINUTE, 0);
	ck_assert_int_eq(bt_dht__ps_set_limits(ps, &l, t), 0);
	ck_assert_uint_eq(stats(ps).peers, st.peers);

	/* shrinking drops expired peers as expired, then evicts the oldest live ones */
	l = limits(100, 50, 100, 0);
	ck_assert_int_eq(bt_dht__ps_set_limits(ps, &l, t), 0);
	add(ps, 30, v4(300), 1000);
	add(ps, 30, v4(301), 1050);
	add(ps, 30, v4(302), 1060);
	st = stats(ps);
	l = limits(100, 1, 100, 0);
	ck_assert_int_eq(bt_dht__ps_set_limits(ps, &l, 1120), 0);
	bt_dht__ps_stats st2 = stats(ps);
	ck_assert_uint_eq(st2.infohashes, 1); /* the others had expired */
	ck_assert_uint_eq(st2.peers, 1);
	ck_assert_uint_eq(st2.evicted_peers - st.evicted_peers, 1);
	ck_assert_uint_eq(st2.expired_peers - st.expired_peers, st.peers - 2);
	assert_peers(ps, 30, 4, (uint32_t[]){302}, 1, 1120);
	bt_dht__ps_free(ps);
}
END_TEST

START_TEST(test_invalid)
{
	bt_dht__ps_free(NULL);
	bt_dht__ps *ps = mk(1, 1, 1, 0);
	bt_addr none;
	memset(&none, 0, sizeof(none));
	bt_id id = ih_of(1);
	ck_assert_int_eq(bt_dht__ps_add(ps, &id, &none, 0), -EINVAL);
	none.family = 5;
	ck_assert_int_eq(bt_dht__ps_add(ps, &id, &none, 0), -EINVAL);
	ck_assert_uint_eq(stats(ps).infohashes, 0);

	/* the smallest limits work: one infohash, one peer, 1 ms */
	ck_assert_int_eq(add(ps, 1, v4(1), 10), 1);
	ck_assert_int_eq(add(ps, 1, v4(2), 10), 0);
	assert_peers(ps, 1, 4, (uint32_t[]){2}, 1, 10);
	ck_assert_int_eq(add(ps, 2, v4(3), 10), 1);
	assert_peers(ps, 1, 4, NULL, 0, 10);
	assert_peers(ps, 2, 4, NULL, 0, 11);

	/* the bits of a v4 address beyond the first four are ignored */
	bt_addr p = v4(5);
	ck_assert_int_eq(add(ps, 3, p, 20), 1);
	p.ip[9] = 1;
	ck_assert_int_eq(add(ps, 3, p, 20), 0);
	ck_assert_uint_eq(stats(ps).peers, 1);
	bt_dht__ps_free(ps);
}
END_TEST

/* Times past 2^32 ms force the store to move its 32-bit time bases; live peers must survive. */
START_TEST(test_long_uptime)
{
	const uint64_t T = BT_DHT__PS_MAX_TTL_MS, t0 = 1000000000000000ull;
	bt_dht__ps *ps = mk(10, 10, T, 0);
	/* announces less than a ttl apart keep the infohash alive (and its first base) */
	add(ps, 1, v4(1), t0);
	add(ps, 1, v6(1), t0 + 10);
	add(ps, 1, v4(2), t0 + T - 1);
	ck_assert_int_eq(add(ps, 1, v4(3), t0 + 2 * T - 2), 0);
	ck_assert_uint_eq(stats(ps).peers, 4);
	ck_assert_uint_eq(stats(ps).expired_peers, 0);
	/* past base + 2^32: the base moves, and what falls before it is older than any ttl */
	ck_assert_int_eq(add(ps, 1, v4(4), t0 + 2 * T + 5), 0);
	bt_dht__ps_stats st = stats(ps);
	ck_assert_uint_eq(st.peers, 2);
	ck_assert_uint_eq(st.expired_peers, 3);
	assert_peers(ps, 1, 4, (uint32_t[]){3, 4}, 2, t0 + 2 * T + 5);
	assert_peers(ps, 1, 6, NULL, 0, t0 + 2 * T + 5);
	assert_peers(ps, 1, 4, (uint32_t[]){3, 4}, 2, t0 + 3 * T - 3);
	assert_peers(ps, 1, 4, (uint32_t[]){4}, 1, t0 + 3 * T - 2);

	/* a peer refreshed just within its ttl lives on across many moves of the base */
	const uint64_t t3 = t0 + 2 * T + 5;
	for (uint64_t k = 1; k <= 8; k++)
		ck_assert_int_eq(add(ps, 1, v4(4), t3 + k * (T - 1)), 0);
	const uint64_t t4 = t3 + 8 * (T - 1);
	assert_peers(ps, 1, 4, (uint32_t[]){4}, 1, t4 + T - 1);
	st = stats(ps);
	ck_assert_uint_eq(st.peers, 1);
	ck_assert_uint_eq(st.expired_peers, 4);
	assert_peers(ps, 1, 4, NULL, 0, t4 + T);
	ck_assert_uint_eq(stats(ps).infohashes, 0);
	bt_dht__ps_free(ps);
}
END_TEST

/*
 * Flood bounds.  On LP64 an infohash entry is 64 bytes, a table slot 8 (the table is a power of two
 * at most 3/4 full: 16,384 slots for 10,000), an IPv4 record 10 and an IPv6 record 22, record
 * arrays holding at most max(2, max_peers) records; the store itself is under 1 KiB.
 *   10,000 infohashes with one IPv4 peer each:
 *     10,000 * 64 + 16,384 * 8 + 10,000 * 2 * 10 + 1,024 = 972,096 <= 1,000,000.
 *   one infohash with 200 IPv4 and 200 IPv6 peers (arrays are at least 16 entries, 16 slots):
 *     16 * 64 + 16 * 8 + 200 * 10 + 200 * 22 + 1,024 = 8,576 <= 9,000.
 */
#define FLOOD 1000000u
#define FLOOD_IH_BOUND 1000000u
#define FLOOD_PEERS_BOUND 9000u

START_TEST(test_flood_infohashes)
{
	bt_dht__ps *ps = mk(10000, 200, 30 * MINUTE, 0);
	/* Check records every assertion it passes through a syscall: count misses in hot loops */
	size_t peak = 0, bad = 0;
	for (uint32_t i = 0; i < FLOOD; i++) {
		bad += add(ps, i, v4(i), i) != 1;
		if (i % 997 == 0) {
			bt_dht__ps_stats st = stats(ps);
			bad += st.infohashes > 10000;
			peak = st.bytes > peak ? st.bytes : peak;
		}
	}
	ck_assert_uint_eq(bad, 0);
	bt_dht__ps_stats st = stats(ps);
	ck_assert_uint_eq(st.infohashes, 10000);
	ck_assert_uint_eq(st.peers, 10000);
	ck_assert_uint_eq(st.evicted_infohashes, FLOOD - 10000);
	ck_assert_uint_eq(st.evicted_peers, FLOOD - 10000);
	ck_assert_uint_eq(st.expired_peers, 0);
	ck_assert_uint_le(st.bytes, FLOOD_IH_BOUND);
	ck_assert_uint_le(peak, FLOOD_IH_BOUND);
	/* exactly the last 10,000 announced remain */
	bt_addr out[2];
	for (uint32_t i = FLOOD - 10000; i < FLOOD; i++) {
		bt_addr want = v4(i);
		bad += get(ps, i, 4, out, 2, FLOOD, i) != 1 || !bt_addr_eq(&out[0], &want);
	}
	for (uint32_t i = 0; i < FLOOD - 10000; i += 4999)
		bad += get(ps, i, 4, out, 2, FLOOD, i) != 0;
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_eq(get(ps, FLOOD - 10001, 4, out, 2, FLOOD, 0), 0);
	bt_dht__ps_free(ps);
}
END_TEST

START_TEST(test_flood_peers)
{
	bt_dht__ps *ps = mk(10000, 200, 30 * MINUTE, 0);
	bt_addr out[256];
	size_t peak = 0, bad = 0;
	for (int family = 4; family <= 6; family += 2) {
		/* a million IPv4 announces, then fewer IPv6 ones: the same code, at 22 bytes */
		uint64_t t0 = family == 4 ? 0 : FLOOD;
		uint32_t flood = family == 4 ? FLOOD : FLOOD / 5;
		for (uint32_t i = 0; i < flood; i++) {
			int want = family == 4 && i == 0;
			bad += add(ps, 7, peer_of(family, i), t0 + i) != want;
			if (i % 997 == 0) {
				bt_dht__ps_stats st = stats(ps);
				peak = st.bytes > peak ? st.bytes : peak;
			}
		}
		ck_assert_uint_eq(bad, 0);
		/* exactly the 200 most recent announces remain */
		ck_assert_uint_eq(get(ps, 7, family, out, 256, t0 + flood, 1), 200);
		assert_distinct(out, 200);
		for (uint32_t i = flood - 200; i < flood; i++)
			ck_assert(contains(out, 200, peer_of(family, i)));
	}
	bt_dht__ps_stats st = stats(ps);
	ck_assert_uint_eq(st.infohashes, 1);
	ck_assert_uint_eq(st.peers, 400);
	ck_assert_uint_eq(st.evicted_peers, (FLOOD - 200) + (FLOOD / 5 - 200));
	ck_assert_uint_eq(st.evicted_infohashes, 0);
	ck_assert_uint_eq(st.expired_peers, 0);
	ck_assert_uint_le(st.bytes, FLOOD_PEERS_BOUND);
	ck_assert_uint_le(peak, FLOOD_PEERS_BOUND);
	bt_dht__ps_free(ps);
}
END_TEST

/*
 * The model: the rules of peerstore.h written the obvious way (arrays, linear scans), with expired
 * peers purged eagerly.  The store purges lazily, so only what is observable is compared: get,
 * add's return value, sample membership and the eviction counters.  Time strictly increases, so
 * "the oldest announce" is never a tie.
 */
#define MK 160 /* infohash keys */
#define MP 12  /* peer keys per family */

typedef struct m_ih {
	bool on;
	uint64_t seq; /* LRU: larger is more recent */
	uint64_t t[2][MP];
	int pid[2][MP];
	size_t n[2];
} m_ih;

static m_ih model[MK];
static uint64_t m_seq, m_ttl, m_ev_ih, m_ev_p;
static size_t m_max_ih, m_max_p;

static void m_purge_one(int k, uint64_t now)
{
	m_ih *m = &model[k];
	if (!m->on)
		return;
	for (int f = 0; f < 2; f++) {
		size_t w = 0;
		for (size_t r = 0; r < m->n[f]; r++) {
			if (now - m->t[f][r] >= m_ttl)
				continue;
			m->t[f][w] = m->t[f][r];
			m->pid[f][w++] = m->pid[f][r];
		}
		m->n[f] = w;
	}
	if (m->n[0] + m->n[1] == 0)
		m->on = false;
}

static size_t m_purge(uint64_t now)
{
	size_t live = 0;
	for (int k = 0; k < MK; k++) {
		m_purge_one(k, now);
		live += model[k].on;
	}
	return live;
}

static void m_evict_lru(void)
{
	int tail = -1;
	for (int k = 0; k < MK; k++)
		if (model[k].on && (tail < 0 || model[k].seq < model[tail].seq))
			tail = k;
	m_ev_ih++;
	m_ev_p += model[tail].n[0] + model[tail].n[1];
	model[tail].on = false;
}

/* Keep the @max newest peers of family @f. */
static void m_trim(m_ih *m, int f, size_t max)
{
	while (m->n[f] > max) {
		size_t old = 0;
		for (size_t r = 1; r < m->n[f]; r++)
			if (m->t[f][r] < m->t[f][old])
				old = r;
		m->n[f]--;
		m->t[f][old] = m->t[f][m->n[f]];
		m->pid[f][old] = m->pid[f][m->n[f]];
		m_ev_p++;
	}
}

static int m_add(int k, int f, int pid, uint64_t now)
{
	m_ih *m = &model[k];
	int isnew = 0;
	m_purge_one(k, now);
	if (!m->on) {
		if (m_purge(now) >= m_max_ih)
			m_evict_lru();
		memset(m, 0, sizeof(*m));
		m->on = true;
		isnew = 1;
	}
	m->seq = ++m_seq;
	for (size_t r = 0; r < m->n[f]; r++) {
		if (m->pid[f][r] == pid) {
			m->t[f][r] = now;
			return isnew;
		}
	}
	if (m->n[f] == m_max_p)
		m_trim(m, f, m_max_p - 1);
	m->t[f][m->n[f]] = now;
	m->pid[f][m->n[f]++] = pid;
	return isnew;
}

static void m_set_limits(size_t max_ih, size_t max_p, uint64_t now)
{
	m_max_ih = max_ih;
	m_max_p = max_p;
	while (m_purge(now) > max_ih)
		m_evict_lru();
	for (int k = 0; k < MK; k++)
		for (int f = 0; f < 2; f++)
			if (model[k].on)
				m_trim(&model[k], f, max_p);
}

static void m_compare(bt_dht__ps *ps, int k, uint64_t now)
{
	m_purge_one(k, now);
	for (int f = 0; f < 2; f++) {
		bt_addr out[MP + 1];
		size_t n = get(ps, (uint32_t)k, f ? 6 : 4, out, MP + 1, now, bt_test_rnd());
		size_t want = model[k].on ? model[k].n[f] : 0;
		ck_assert_uint_eq(n, want);
		for (size_t r = 0; r < want; r++)
			ck_assert(
			    contains(out, n, peer_of(f ? 6 : 4, (uint32_t)model[k].pid[f][r])));
	}
}

static void model_run(size_t ops, size_t max_ih, size_t max_p, uint64_t ttl, uint64_t seed)
{
	memset(model, 0, sizeof(model));
	m_seq = m_ev_ih = m_ev_p = 0;
	m_ttl = ttl;
	m_max_ih = max_ih;
	m_max_p = max_p;
	bt_test_rng = seed;
	bt_dht__ps *ps = mk(max_ih, max_p, ttl, 0);
	uint64_t now = 1;
	uint8_t s[MK * BT_ID_LEN];
	for (size_t op = 0; op < ops; op++) {
		now += 1 + bt_test_rnd() % 3;
		unsigned r = (unsigned)(bt_test_rnd() % 100);
		int k = (int)(bt_test_rnd() % (bt_test_rnd() % 2 ? 12 : MK));
		if (r < 55) {
			int f = bt_test_rnd() % 5 == 0, pid = (int)(bt_test_rnd() % MP);
			bt_id id = ih_of((uint32_t)k);
			bt_addr a = peer_of(f ? 6 : 4, (uint32_t)pid);
			ck_assert_int_eq(bt_dht__ps_add(ps, &id, &a, now), m_add(k, f, pid, now));
		} else if (r < 70) {
			m_compare(ps, k, now);
		} else if (r < 80) {
			bt_dht__ps_expire(ps, now, bt_test_rnd() % 6);
		} else if (r < 86) {
			size_t max = 1 + bt_test_rnd() % 40, num, live = m_purge(now);
			size_t n = bt_dht__ps_sample(ps, s, max, now, bt_test_rnd(), &num);
			ck_assert_uint_eq(n, max < live ? max : live);
			ck_assert_uint_ge(num, live);
			for (size_t i = 0; i < n; i++) {
				uint32_t key;
				memcpy(&key, s + i * BT_ID_LEN + 3, sizeof(key));
				ck_assert_uint_lt(key, MK);
				ck_assert(model[key].on);
				ck_assert(!ih_in(s, i, s + i * BT_ID_LEN));
			}
		} else if (r < 87) {
			size_t mi = 1 + bt_test_rnd() % (MK * 3 / 4), mp = 1 + bt_test_rnd() % MP;
			bt_dht__ps_limits l = limits(mi, mp, ttl, 0);
			ck_assert_int_eq(bt_dht__ps_set_limits(ps, &l, now), 0);
			m_set_limits(mi, mp, now);
		} else if (r < 88) {
			now += bt_test_rnd() % ttl;
		}
		if (op % 512 == 0 || op == ops - 1) {
			for (int j = 0; j < MK; j++)
				m_compare(ps, j, now);
			bt_dht__ps_stats st = stats(ps);
			ck_assert_uint_eq(st.evicted_infohashes, m_ev_ih);
			ck_assert_uint_eq(st.evicted_peers, m_ev_p);
			ck_assert_uint_ge(st.infohashes, m_purge(now));
			ck_assert_uint_le(st.infohashes, m_max_ih);
		}
	}
	bt_dht__ps_free(ps);
}

START_TEST(test_model_small)
{
	model_run(60000, 8, 3, 300, 0x1234567887654321ull);
}
END_TEST

START_TEST(test_model_large)
{
	model_run(60000, 120, 10, 2000, 0xdeadbeefcafef00dull);
}
END_TEST

static Suite *peerstore_suite(void)
{
	Suite *s = suite_create("dht-peerstore");
	TCase *tc = tcase_create("basic");
	tcase_add_test(tc, test_add_get_v4);
	tcase_add_test(tc, test_add_get_v6);
	tcase_add_test(tc, test_refresh);
	tcase_add_test(tc, test_invalid);
	suite_add_tcase(s, tc);
	tc = tcase_create("limits");
	tcase_add_test(tc, test_per_hash_cap);
	tcase_add_test(tc, test_max_infohashes_lru);
	tcase_add_test(tc, test_ttl_expiry);
	tcase_add_test(tc, test_expire_incremental);
	tcase_add_test(tc, test_set_limits);
	tcase_add_test(tc, test_long_uptime);
	suite_add_tcase(s, tc);
	tc = tcase_create("random");
	tcase_add_test(tc, test_get_random);
	tcase_add_test(tc, test_sample);
	suite_add_tcase(s, tc);
	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_flood_infohashes);
	tcase_add_test(tc, test_flood_peers);
	tcase_add_test(tc, test_model_small);
	tcase_add_test(tc, test_model_large);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return bt_test_run(peerstore_suite());
}
