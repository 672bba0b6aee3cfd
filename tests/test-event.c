/*
 * test-event.c - Check suite for libbtevent.  It drives a real libevent loop, one bounded
 * iteration at a time, and asserts exact values: who received what and in which order, how many
 * times each payload was freed (exactly once, on every path), the per-topic counters, and that the
 * contract in btevent.h holds under re-entrancy, overflow, batching and cross-thread posting.
 * Nothing depends on timing: loops are bounded in iterations, never in sleeps.
 */
#include "config.h"

#include <check.h>

#include "test-util.h"
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "btevent.h"

/* ---------------------------------------------------------------------------------------------
 * Fixture: one loop per test, a log of deliveries, payloads that count their frees.
 * ------------------------------------------------------------------------------------------- */

#define NPAYLOAD 64
#define NREC 1024

struct payload {
	int id;
	int freed;
};

struct rec {
	const char *who;
	int id;
	size_t topic_len;
	char topic[32];
};

static struct event_base *g_base;
static bt_event_bus *g_bus;
static struct payload g_pl[NPAYLOAD];
static struct rec g_rec[NREC];
static int g_nrec;

static void setup(void)
{
	g_base = event_base_new();
	ck_assert_ptr_nonnull(g_base);
	g_bus = NULL;
	for (int i = 0; i < NPAYLOAD; i++) {
		g_pl[i].id = i;
		g_pl[i].freed = 0;
	}
	memset(g_rec, 0, sizeof(g_rec));
	g_nrec = 0;
}

static void teardown(void)
{
	bt_event_bus_free(g_bus);
	g_bus = NULL;
	event_base_free(g_base);
	g_base = NULL;
}

static void pl_free(void *p)
{
	((struct payload *)p)->freed++;
}

static struct payload *pl(int i)
{
	return &g_pl[i];
}

static void record(const char *who, const char *topic, void *payload)
{
	struct payload *p = payload;
	ck_assert_int_lt(g_nrec, NREC);
	/* The payload must still be alive while any handler runs. */
	ck_assert_int_eq(p->freed, 0);
	g_rec[g_nrec].who = who;
	g_rec[g_nrec].id = p->id;
	g_rec[g_nrec].topic_len = strlen(topic);
	snprintf(g_rec[g_nrec].topic, sizeof(g_rec[g_nrec].topic), "%s", topic);
	g_nrec++;
}

/* ud is the subscriber's name. */
static void h_log(const char *topic, void *payload, void *ud)
{
	record(ud, topic, payload);
}

#define ck_rec(i, name, pid)                                                                       \
	do {                                                                                       \
		ck_assert_int_gt(g_nrec, (i));                                                     \
		ck_assert_str_eq(g_rec[(i)].who, (name));                                          \
		ck_assert_int_eq(g_rec[(i)].id, (pid));                                            \
	} while (0)

#define ck_stats(bus, topic, pub, del, drop, que, subs)                                            \
	do {                                                                                       \
		bt_event_topic_stats st_;                                                          \
		ck_assert_int_eq(bt_event_topic_stats_get((bus), (topic), &st_), 0);               \
		ck_assert_uint_eq(st_.published, (pub));                                           \
		ck_assert_uint_eq(st_.delivered, (del));                                           \
		ck_assert_uint_eq(st_.dropped, (drop));                                            \
		ck_assert_uint_eq(st_.queued, (que));                                              \
		ck_assert_uint_eq(st_.subscribers, (subs));                                        \
	} while (0)

static void sum_queued(const char *topic, const bt_event_topic_stats *st, void *ud)
{
	(void)topic;
	*(uint64_t *)ud += st->queued;
}

static uint64_t total_queued(bt_event_bus *bus)
{
	uint64_t n = 0;
	bt_event_topic_foreach(bus, sum_queued, &n);
	return n;
}

/* Runs non-blocking loop iterations until nothing is queued, plus one to let the bus discard
 * deliveries to ended subscriptions.  Returns the number of iterations that found work. */
static int run_idle(bt_event_bus *bus)
{
	int i;
	for (i = 0; i < 10000 && total_queued(bus) > 0; i++)
		event_base_loop(g_base, EVLOOP_NONBLOCK);
	ck_assert_uint_eq(total_queued(bus), 0);
	event_base_loop(g_base, EVLOOP_NONBLOCK);
	return i;
}

static bt_event_bus *new_bus(const bt_event_bus_options *o)
{
	ck_assert_int_eq(bt_event_bus_new(&g_bus, g_base, o), 0);
	ck_assert_ptr_nonnull(g_bus);
	return g_bus;
}

static bt_event_sub_id sub(bt_event_bus *bus, const char *topic, bt_event_delivery mode,
                           bt_event_handler_cb h, void *ud)
{
	bt_event_sub_id id = 0;
	ck_assert_int_eq(bt_event_subscribe(bus, topic, mode, h, ud, &id), 0);
	ck_assert_uint_ne(id, 0);
	return id;
}

/* ---------------------------------------------------------------------------------------------
 * Delivery
 * ------------------------------------------------------------------------------------------- */

START_TEST(test_sync_basic)
{
	bt_event_bus *bus = new_bus(NULL);
	sub(bus, "t", BT_EVENT_SYNC, h_log, "A");
	ck_assert_int_eq(bt_event_publish(bus, "t", pl(0), pl_free), 0);
	/* Ran inside publish, payload freed once right after. */
	ck_assert_int_eq(g_nrec, 1);
	ck_rec(0, "A", 0);
	ck_assert_str_eq(g_rec[0].topic, "t");
	ck_assert_int_eq(pl(0)->freed, 1);
	ck_stats(bus, "t", 1, 1, 0, 0, 1);
	run_idle(bus);
	ck_assert_int_eq(g_nrec, 1);
	ck_assert_int_eq(pl(0)->freed, 1);
}
END_TEST

START_TEST(test_async_basic)
{
	bt_event_bus *bus = new_bus(NULL);
	sub(bus, "t", BT_EVENT_ASYNC, h_log, "A");
	ck_assert_int_eq(bt_event_publish(bus, "t", pl(0), pl_free), 0);
	ck_assert_int_eq(g_nrec, 0);
	ck_assert_int_eq(pl(0)->freed, 0);
	ck_stats(bus, "t", 1, 0, 0, 1, 1);
	ck_assert_int_eq(run_idle(bus), 1);
	ck_assert_int_eq(g_nrec, 1);
	ck_rec(0, "A", 0);
	ck_assert_str_eq(g_rec[0].topic, "t");
	ck_assert_int_eq(pl(0)->freed, 1);
	ck_stats(bus, "t", 1, 1, 0, 0, 1);
}
END_TEST

START_TEST(test_order_multiple_subscribers)
{
	bt_event_bus *bus = new_bus(NULL);
	sub(bus, "t", BT_EVENT_SYNC, h_log, "A");
	sub(bus, "t", BT_EVENT_ASYNC, h_log, "B");
	sub(bus, "t", BT_EVENT_SYNC, h_log, "C");
	sub(bus, "t", BT_EVENT_ASYNC, h_log, "D");
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(bt_event_publish(bus, "t", pl(i), pl_free), 0);
	/* Synchronous ones in subscription order, inside each publish. */
	ck_assert_int_eq(g_nrec, 6);
	for (int i = 0; i < 3; i++) {
		ck_rec(2 * i, "A", i);
		ck_rec(2 * i + 1, "C", i);
		ck_assert_int_eq(pl(i)->freed, 0); /* B and D still hold it */
	}
	ck_stats(bus, "t", 3, 6, 0, 6, 4);
	run_idle(bus);
	ck_assert_int_eq(g_nrec, 12);
	for (int i = 0; i < 3; i++) {
		ck_rec(6 + 2 * i, "B", i);
		ck_rec(6 + 2 * i + 1, "D", i);
		ck_assert_int_eq(pl(i)->freed, 1);
	}
	ck_stats(bus, "t", 3, 12, 0, 0, 4);
}
END_TEST

START_TEST(test_async_publish_order_across_topics)
{
	bt_event_bus *bus = new_bus(NULL);
	sub(bus, "a", BT_EVENT_ASYNC, h_log, "X");
	sub(bus, "b", BT_EVENT_ASYNC, h_log, "X");
	ck_assert_int_eq(bt_event_publish(bus, "a", pl(0), pl_free), 0);
	ck_assert_int_eq(bt_event_publish(bus, "b", pl(1), pl_free), 0);
	ck_assert_int_eq(bt_event_publish(bus, "a", pl(2), pl_free), 0);
	ck_assert_int_eq(bt_event_publish(bus, "b", pl(3), pl_free), 0);
	run_idle(bus);
	ck_assert_int_eq(g_nrec, 4);
	const char *topics[] = {"a", "b", "a", "b"};
	for (int i = 0; i < 4; i++) {
		ck_rec(i, "X", i);
		ck_assert_str_eq(g_rec[i].topic, topics[i]);
		ck_assert_int_eq(pl(i)->freed, 1);
	}
}
END_TEST

START_TEST(test_no_subscribers)
{
	bt_event_bus *bus = new_bus(NULL);
	ck_assert_int_eq(bt_event_topic_stats_get(bus, "nobody", &(bt_event_topic_stats){0}),
	                 BT_EVENT_E_NOENT);
	ck_assert_int_eq(bt_event_publish(bus, "nobody", pl(0), pl_free), 0);
	ck_assert_int_eq(pl(0)->freed, 1);
	ck_assert_int_eq(bt_event_publish(bus, "nobody", NULL, NULL), 0);
	ck_stats(bus, "nobody", 2, 0, 0, 0, 0);
	/* A topic whose only subscriber left behaves the same. */
	bt_event_sub_id id = sub(bus, "gone", BT_EVENT_ASYNC, h_log, "A");
	ck_assert_int_eq(bt_event_unsubscribe(bus, id), 0);
	ck_assert_int_eq(bt_event_publish(bus, "gone", pl(1), pl_free), 0);
	ck_assert_int_eq(pl(1)->freed, 1);
	run_idle(bus);
	ck_assert_int_eq(g_nrec, 0);
	ck_assert_int_eq(pl(0)->freed, 1);
	ck_assert_int_eq(pl(1)->freed, 1);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Unsubscribe and handles
 * ------------------------------------------------------------------------------------------- */

START_TEST(test_unsubscribe_and_stale_ids)
{
	bt_event_bus *bus = new_bus(NULL);
	bt_event_sub_id a = sub(bus, "t", BT_EVENT_SYNC, h_log, "A");
	bt_event_sub_id b = sub(bus, "t", BT_EVENT_SYNC, h_log, "B");
	ck_assert_uint_ne(a, b);
	ck_assert_int_eq(bt_event_unsubscribe(bus, a), 0);
	ck_stats(bus, "t", 0, 0, 0, 0, 1);
	ck_assert_int_eq(bt_event_publish(bus, "t", pl(0), pl_free), 0);
	ck_assert_int_eq(g_nrec, 1);
	ck_rec(0, "B", 0);
	ck_assert_int_eq(bt_event_unsubscribe(bus, a), BT_EVENT_E_NOENT);
	ck_assert_int_eq(bt_event_unsubscribe(bus, 0), BT_EVENT_E_NOENT);
	ck_assert_int_eq(bt_event_unsubscribe(bus, b + 1000), BT_EVENT_E_NOENT);
	ck_assert_int_eq(bt_event_unsubscribe(bus, UINT64_MAX), BT_EVENT_E_NOENT);
	ck_assert_int_eq(bt_event_unsubscribe(NULL, b), BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_unsubscribe(bus, b), 0);
	ck_assert_int_eq(bt_event_unsubscribe(bus, b), BT_EVENT_E_NOENT);
	ck_stats(bus, "t", 1, 1, 0, 0, 0);

	/* Handles are never reused, however many come and go; old ones stay stale. */
	enum { N = 2000 };
	static bt_event_sub_id ids[N];
	int reused = 0;
	for (int i = 0; i < N; i++) {
		ids[i] = sub(bus, "churn", BT_EVENT_SYNC, h_log, "C");
		reused += ids[i] == a || ids[i] == b;
		for (int j = 0; j < i; j++)
			reused += ids[i] == ids[j];
		if (i % 3 != 0)
			ck_assert_int_eq(bt_event_unsubscribe(bus, ids[i]), 0);
	}
	ck_assert_int_eq(reused, 0);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(bt_event_unsubscribe(bus, ids[i]),
		                 i % 3 != 0 ? BT_EVENT_E_NOENT : 0);
	ck_stats(bus, "churn", 0, 0, 0, 0, 0);
}
END_TEST

/* Many subscriptions over many topics, removed in a scattered order: exercises both hash
 * tables (growth, probing, deletion) against a plain model. */
START_TEST(test_many_subscriptions)
{
	bt_event_bus *bus = new_bus(NULL);
	enum { N = 3000, T = 97 };
	static bt_event_sub_id ids[N];
	static bool live[N];
	static int count[T];
	char name[16];
	memset(count, 0, sizeof(count));
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "topic.%d", i % T);
		ids[i] = sub(bus, name, i % 2 ? BT_EVENT_SYNC : BT_EVENT_ASYNC, h_log, "M");
		live[i] = true;
		count[i % T]++;
	}
	for (int k = 0; k < N; k++) {
		int i = (int)(((unsigned)k * 7919u) % N); /* 7919 is prime: a permutation */
		if (i % 5 == 0)
			continue;
		ck_assert_int_eq(bt_event_unsubscribe(bus, ids[i]), 0);
		live[i] = false;
		count[i % T]--;
	}
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(bt_event_unsubscribe(bus, ids[i]), live[i] ? 0 : BT_EVENT_E_NOENT);
	for (int t = 0; t < T; t++) {
		bt_event_topic_stats st;
		snprintf(name, sizeof(name), "topic.%d", t);
		ck_assert_int_eq(bt_event_topic_stats_get(bus, name, &st), 0);
		ck_assert_uint_eq(st.subscribers, 0);
	}
	ck_assert_uint_eq(bt_event_topic_foreach(bus, NULL, NULL), T);
}
END_TEST

START_TEST(test_unsubscribe_with_queued_async)
{
	bt_event_bus *bus = new_bus(NULL);
	bt_event_sub_id d = sub(bus, "t", BT_EVENT_ASYNC, h_log, "D");
	sub(bus, "t", BT_EVENT_ASYNC, h_log, "E");
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(bt_event_publish(bus, "t", pl(i), pl_free), 0);
	ck_stats(bus, "t", 3, 0, 0, 6, 2);
	ck_assert_int_eq(bt_event_unsubscribe(bus, d), 0);
	ck_stats(bus, "t", 3, 0, 0, 3, 1);
	run_idle(bus);
	ck_assert_int_eq(g_nrec, 3);
	for (int i = 0; i < 3; i++) {
		ck_rec(i, "E", i);
		ck_assert_int_eq(pl(i)->freed, 1);
	}
	ck_stats(bus, "t", 3, 3, 0, 0, 1);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Re-entrancy
 * ------------------------------------------------------------------------------------------- */

static void h_publish_b(const char *topic, void *payload, void *ud)
{
	(void)ud;
	record("pre", topic, payload);
	struct payload *p = payload;
	ck_assert_int_eq(bt_event_publish(g_bus, "b", pl(p->id + 10), pl_free), 0);
	record("post", topic, payload);
}

START_TEST(test_publish_from_sync_handler)
{
	bt_event_bus *bus = new_bus(NULL);
	sub(bus, "a", BT_EVENT_SYNC, h_publish_b, NULL);
	sub(bus, "b", BT_EVENT_SYNC, h_log, "B");
	sub(bus, "b", BT_EVENT_ASYNC, h_log, "Basync");
	sub(bus, "a", BT_EVENT_ASYNC, h_log, "Aasync");
	ck_assert_int_eq(bt_event_publish(bus, "a", pl(0), pl_free), 0);
	/* The nested publish ran its synchronous handler right there. */
	ck_assert_int_eq(g_nrec, 3);
	ck_rec(0, "pre", 0);
	ck_rec(1, "B", 10);
	ck_rec(2, "post", 0);
	ck_assert_int_eq(pl(0)->freed, 0);
	ck_assert_int_eq(pl(10)->freed, 0);
	run_idle(bus);
	/* Asynchronous subscribers see the outer event first: it was published first. */
	ck_assert_int_eq(g_nrec, 5);
	ck_rec(3, "Aasync", 0);
	ck_rec(4, "Basync", 10);
	ck_assert_int_eq(pl(0)->freed, 1);
	ck_assert_int_eq(pl(10)->freed, 1);
	ck_stats(bus, "a", 1, 2, 0, 0, 2);
	ck_stats(bus, "b", 1, 2, 0, 0, 2);
}
END_TEST

static void h_async_chain(const char *topic, void *payload, void *ud)
{
	(void)ud;
	record("chain", topic, payload);
	struct payload *p = payload;
	if (p->id < 5)
		ck_assert_int_eq(bt_event_publish(g_bus, "chain", pl(p->id + 1), pl_free), 0);
}

START_TEST(test_publish_from_async_handler)
{
	bt_event_bus *bus = new_bus(NULL);
	sub(bus, "chain", BT_EVENT_ASYNC, h_async_chain, NULL);
	ck_assert_int_eq(bt_event_publish(bus, "chain", pl(0), pl_free), 0);
	run_idle(bus);
	ck_assert_int_eq(g_nrec, 6);
	for (int i = 0; i < 6; i++) {
		ck_rec(i, "chain", i);
		ck_assert_int_eq(pl(i)->freed, 1);
	}
	ck_stats(bus, "chain", 6, 6, 0, 0, 1);
}
END_TEST

static bool g_subscribed_once;

static void h_subscribe_more(const char *topic, void *payload, void *ud)
{
	(void)ud;
	record("S", topic, payload);
	if (g_subscribed_once)
		return;
	g_subscribed_once = true;
	sub(g_bus, topic, BT_EVENT_SYNC, h_log, "N");
	sub(g_bus, topic, BT_EVENT_ASYNC, h_log, "M");
}

START_TEST(test_subscribe_from_handler)
{
	bt_event_bus *bus = new_bus(NULL);
	g_subscribed_once = false;
	sub(bus, "t", BT_EVENT_SYNC, h_subscribe_more, NULL);
	ck_assert_int_eq(bt_event_publish(bus, "t", pl(0), pl_free), 0);
	run_idle(bus);
	/* The new subscriptions did not get the event being delivered when they were made. */
	ck_assert_int_eq(g_nrec, 1);
	ck_rec(0, "S", 0);
	ck_assert_int_eq(pl(0)->freed, 1);
	ck_stats(bus, "t", 1, 1, 0, 0, 3);
	ck_assert_int_eq(bt_event_publish(bus, "t", pl(1), pl_free), 0);
	run_idle(bus);
	ck_assert_int_eq(g_nrec, 4);
	ck_rec(1, "S", 1);
	ck_rec(2, "N", 1);
	ck_rec(3, "M", 1);
	ck_assert_int_eq(pl(1)->freed, 1);
}
END_TEST

static bt_event_sub_id g_victims[4];
static int g_nvictims;

/* Unsubscribes every handle in g_victims (itself among them) the first time it runs. */
static void h_unsubscriber(const char *topic, void *payload, void *ud)
{
	record(ud, topic, payload);
	for (int i = 0; i < g_nvictims; i++)
		ck_assert_int_eq(bt_event_unsubscribe(g_bus, g_victims[i]), 0);
	g_nvictims = 0;
}

START_TEST(test_unsubscribe_in_sync_handler)
{
	bt_event_bus *bus = new_bus(NULL);
	bt_event_sub_id a = sub(bus, "t", BT_EVENT_SYNC, h_unsubscriber, "A");
	sub(bus, "t", BT_EVENT_SYNC, h_log, "B");
	bt_event_sub_id c = sub(bus, "t", BT_EVENT_SYNC, h_log, "C");
	bt_event_sub_id d = sub(bus, "t", BT_EVENT_ASYNC, h_log, "D");
	sub(bus, "t", BT_EVENT_ASYNC, h_log, "E");
	g_victims[0] = a;
	g_victims[1] = c;
	g_victims[2] = d; /* its delivery of this very event is already queued */
	g_nvictims = 3;
	ck_assert_int_eq(bt_event_publish(bus, "t", pl(0), pl_free), 0);
	ck_assert_int_eq(g_nrec, 2);
	ck_rec(0, "A", 0);
	ck_rec(1, "B", 0);
	ck_stats(bus, "t", 1, 2, 0, 1, 2);
	run_idle(bus);
	ck_assert_int_eq(g_nrec, 3);
	ck_rec(2, "E", 0);
	ck_assert_int_eq(pl(0)->freed, 1);
	ck_assert_int_eq(bt_event_publish(bus, "t", pl(1), pl_free), 0);
	run_idle(bus);
	ck_assert_int_eq(g_nrec, 5);
	ck_rec(3, "B", 1);
	ck_rec(4, "E", 1);
	ck_assert_int_eq(pl(1)->freed, 1);
	ck_stats(bus, "t", 2, 5, 0, 0, 2);
	ck_assert_int_eq(bt_event_unsubscribe(bus, a), BT_EVENT_E_NOENT);
	ck_assert_int_eq(bt_event_unsubscribe(bus, c), BT_EVENT_E_NOENT);
	ck_assert_int_eq(bt_event_unsubscribe(bus, d), BT_EVENT_E_NOENT);
}
END_TEST

START_TEST(test_unsubscribe_self_in_async_handler)
{
	bt_event_bus *bus = new_bus(NULL);
	bt_event_sub_id a = sub(bus, "t", BT_EVENT_ASYNC, h_unsubscriber, "A");
	g_victims[0] = a;
	g_nvictims = 1;
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(bt_event_publish(bus, "t", pl(i), pl_free), 0);
	run_idle(bus);
	ck_assert_int_eq(g_nrec, 1);
	ck_rec(0, "A", 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pl(i)->freed, 1);
	ck_stats(bus, "t", 3, 1, 0, 0, 0);
}
END_TEST

static int g_depth_calls, g_depth_base;
static int g_depth_rc[8];

static void h_recurse(const char *topic, void *payload, void *ud)
{
	(void)ud;
	record("R", topic, payload);
	int level = g_depth_calls++;
	ck_assert_int_lt(level, 8);
	g_depth_rc[level] = bt_event_publish(g_bus, topic, pl(g_depth_base + level + 1), pl_free);
}

START_TEST(test_depth_limit)
{
	bt_event_bus_options o = BT_EVENT_BUS_OPTIONS_INIT;
	o.max_depth = 3;
	bt_event_bus *bus = new_bus(&o);
	g_depth_calls = 0;
	g_depth_base = 0;
	sub(bus, "r", BT_EVENT_SYNC, h_recurse, NULL);
	ck_assert_int_eq(bt_event_publish(bus, "r", pl(0), pl_free), 0);
	/* Three nested publishes are allowed; the fourth is refused and its payload freed. */
	ck_assert_int_eq(g_depth_calls, 3);
	ck_assert_int_eq(g_depth_rc[0], 0);
	ck_assert_int_eq(g_depth_rc[1], 0);
	ck_assert_int_eq(g_depth_rc[2], BT_EVENT_E_DEPTH);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pl(i)->freed, 1);
	ck_stats(bus, "r", 3, 3, 0, 0, 1);
	/* The depth unwinds: the bus works again at top level. */
	g_depth_calls = 0;
	g_depth_base = 10;
	ck_assert_int_eq(bt_event_publish(bus, "r", pl(10), pl_free), 0);
	ck_assert_int_eq(g_depth_calls, 3);
	ck_assert_int_eq(g_depth_rc[2], BT_EVENT_E_DEPTH);
	for (int i = 10; i < 14; i++)
		ck_assert_int_eq(pl(i)->freed, 1);
	ck_stats(bus, "r", 6, 6, 0, 0, 1);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Overflow
 * ------------------------------------------------------------------------------------------- */

START_TEST(test_overflow_drop_newest)
{
	bt_event_bus_options o = BT_EVENT_BUS_OPTIONS_INIT;
	o.queue_limit = 4;
	o.overflow = BT_EVENT_DROP_NEWEST;
	bt_event_bus *bus = new_bus(&o);
	sub(bus, "a", BT_EVENT_ASYNC, h_log, "S");
	for (int i = 0; i < 6; i++) {
		int rc = bt_event_publish(bus, "a", pl(i), pl_free);
		ck_assert_int_eq(rc, i < 4 ? 0 : BT_EVENT_E_FULL);
		ck_assert_int_eq(pl(i)->freed, i < 4 ? 0 : 1); /* refused ones freed at once */
	}
	ck_stats(bus, "a", 6, 0, 2, 4, 1);
	run_idle(bus);
	ck_assert_int_eq(g_nrec, 4);
	for (int i = 0; i < 4; i++)
		ck_rec(i, "S", i);
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(pl(i)->freed, 1);
	ck_stats(bus, "a", 6, 4, 2, 0, 1);
}
END_TEST

START_TEST(test_overflow_drop_oldest)
{
	bt_event_bus_options o = BT_EVENT_BUS_OPTIONS_INIT;
	o.queue_limit = 4;
	o.overflow = BT_EVENT_DROP_OLDEST;
	bt_event_bus *bus = new_bus(&o);
	sub(bus, "a", BT_EVENT_ASYNC, h_log, "S");
	for (int i = 0; i < 6; i++) {
		int rc = bt_event_publish(bus, "a", pl(i), pl_free);
		ck_assert_int_eq(rc, i < 4 ? 0 : BT_EVENT_E_FULL);
		if (i >= 4)
			ck_assert_int_eq(pl(i - 4)->freed, 1); /* the oldest went to make room */
		ck_assert_int_eq(pl(i)->freed, 0);
	}
	ck_stats(bus, "a", 6, 0, 2, 4, 1);
	run_idle(bus);
	ck_assert_int_eq(g_nrec, 4);
	for (int i = 0; i < 4; i++)
		ck_rec(i, "S", i + 2);
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(pl(i)->freed, 1);
	ck_stats(bus, "a", 6, 4, 2, 0, 1);
}
END_TEST

/* A drop is counted on the topic whose delivery was lost. */
static void overflow_accounting(bt_event_overflow policy)
{
	bt_event_bus_options o = BT_EVENT_BUS_OPTIONS_INIT;
	o.queue_limit = 2;
	o.overflow = policy;
	bt_event_bus *bus = new_bus(&o);
	sub(bus, "a", BT_EVENT_ASYNC, h_log, "A");
	sub(bus, "b", BT_EVENT_ASYNC, h_log, "B");
	ck_assert_int_eq(bt_event_publish(bus, "a", pl(0), pl_free), 0);
	ck_assert_int_eq(bt_event_publish(bus, "a", pl(1), pl_free), 0);
	ck_assert_int_eq(bt_event_publish(bus, "b", pl(2), pl_free), BT_EVENT_E_FULL);
	if (policy == BT_EVENT_DROP_NEWEST) {
		ck_stats(bus, "a", 2, 0, 0, 2, 1);
		ck_stats(bus, "b", 1, 0, 1, 0, 1);
		ck_assert_int_eq(pl(2)->freed, 1);
	} else {
		ck_stats(bus, "a", 2, 0, 1, 1, 1);
		ck_stats(bus, "b", 1, 0, 0, 1, 1);
		ck_assert_int_eq(pl(0)->freed, 1);
	}
	run_idle(bus);
	ck_assert_int_eq(g_nrec, 2);
	if (policy == BT_EVENT_DROP_NEWEST) {
		ck_rec(0, "A", 0);
		ck_rec(1, "A", 1);
	} else {
		ck_rec(0, "A", 1);
		ck_rec(1, "B", 2);
	}
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pl(i)->freed, 1);
}

START_TEST(test_overflow_accounting_newest)
{
	overflow_accounting(BT_EVENT_DROP_NEWEST);
}
END_TEST

START_TEST(test_overflow_accounting_oldest)
{
	overflow_accounting(BT_EVENT_DROP_OLDEST);
}
END_TEST

/* One event, three asynchronous subscribers, room for two. */
static void overflow_fanout(bt_event_overflow policy)
{
	bt_event_bus_options o = BT_EVENT_BUS_OPTIONS_INIT;
	o.queue_limit = 2;
	o.overflow = policy;
	bt_event_bus *bus = new_bus(&o);
	sub(bus, "t", BT_EVENT_ASYNC, h_log, "A");
	sub(bus, "t", BT_EVENT_ASYNC, h_log, "B");
	sub(bus, "t", BT_EVENT_ASYNC, h_log, "C");
	ck_assert_int_eq(bt_event_publish(bus, "t", pl(0), pl_free), BT_EVENT_E_FULL);
	ck_assert_int_eq(pl(0)->freed, 0);
	ck_stats(bus, "t", 1, 0, 1, 2, 3);
	run_idle(bus);
	ck_assert_int_eq(g_nrec, 2);
	ck_rec(0, policy == BT_EVENT_DROP_NEWEST ? "A" : "B", 0);
	ck_rec(1, policy == BT_EVENT_DROP_NEWEST ? "B" : "C", 0);
	ck_assert_int_eq(pl(0)->freed, 1);
	ck_stats(bus, "t", 1, 2, 1, 0, 3);
}

START_TEST(test_overflow_fanout_newest)
{
	overflow_fanout(BT_EVENT_DROP_NEWEST);
}
END_TEST

START_TEST(test_overflow_fanout_oldest)
{
	overflow_fanout(BT_EVENT_DROP_OLDEST);
}
END_TEST

/* Deliveries to ended subscriptions never cost a live one its place in the queue. */
START_TEST(test_overflow_ignores_dead_deliveries)
{
	bt_event_bus_options o = BT_EVENT_BUS_OPTIONS_INIT;
	o.queue_limit = 3;
	bt_event_bus *bus = new_bus(&o);
	bt_event_sub_id x = sub(bus, "a", BT_EVENT_ASYNC, h_log, "X");
	sub(bus, "b", BT_EVENT_ASYNC, h_log, "Y");
	ck_assert_int_eq(bt_event_publish(bus, "a", pl(0), pl_free), 0);
	ck_assert_int_eq(bt_event_publish(bus, "b", pl(1), pl_free), 0);
	ck_assert_int_eq(bt_event_publish(bus, "a", pl(2), pl_free), 0);
	ck_assert_int_eq(bt_event_unsubscribe(bus, x), 0);
	ck_stats(bus, "a", 2, 0, 0, 0, 0);
	sub(bus, "a", BT_EVENT_ASYNC, h_log, "Z");
	ck_assert_int_eq(bt_event_publish(bus, "a", pl(3), pl_free), 0);
	ck_assert_int_eq(pl(0)->freed, 1);
	ck_assert_int_eq(pl(2)->freed, 1);
	ck_assert_int_eq(bt_event_publish(bus, "a", pl(4), pl_free), 0);
	ck_assert_int_eq(bt_event_publish(bus, "a", pl(5), pl_free), BT_EVENT_E_FULL);
	ck_stats(bus, "a", 5, 0, 1, 2, 1);
	ck_stats(bus, "b", 1, 0, 0, 1, 1);
	run_idle(bus);
	ck_assert_int_eq(g_nrec, 3);
	ck_rec(0, "Y", 1);
	ck_rec(1, "Z", 3);
	ck_rec(2, "Z", 4);
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(pl(i)->freed, 1);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Batching: other loop events run between batches
 * ------------------------------------------------------------------------------------------- */

static int g_ticks;
static int g_tick_at[NREC];

/* Re-arms itself with a zero timeout, so it fires once per loop iteration.  (A persistent event
 * with a zero interval would fire only once.) */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	static const struct timeval zero = {0, 0};
	(void)fd;
	(void)what;
	g_ticks++;
	ck_assert_int_eq(event_add(arg, &zero), 0);
}

static void h_tick_log(const char *topic, void *payload, void *ud)
{
	g_tick_at[g_nrec] = g_ticks;
	record(ud, topic, payload);
}

static void h_tick_feed(const char *topic, void *payload, void *ud)
{
	struct payload *p = payload;
	h_tick_log(topic, payload, ud);
	if (p->id + 1 < 20)
		bt_event_publish(g_bus, topic, pl(p->id + 1), pl_free);
}

/* Asserts the deliveries came in batches of @batch with the timer running between batches. */
static void check_batches(int n, int batch)
{
	for (int i = 1; i < n; i++) {
		if (i % batch == 0)
			ck_assert_int_gt(g_tick_at[i], g_tick_at[i - 1]);
		else
			ck_assert_int_eq(g_tick_at[i], g_tick_at[i - 1]);
	}
}

static void run_batched(bt_event_handler_cb h, int publish)
{
	bt_event_bus_options o = BT_EVENT_BUS_OPTIONS_INIT;
	o.batch = 3;
	bt_event_bus *bus = new_bus(&o);
	g_ticks = 0;
	struct event *timer = event_new(g_base, -1, 0, tick_cb, event_self_cbarg());
	ck_assert_ptr_nonnull(timer);
	const struct timeval zero = {0, 0};
	ck_assert_int_eq(event_add(timer, &zero), 0);
	sub(bus, "t", BT_EVENT_ASYNC, h, "S");
	for (int i = 0; i < publish; i++)
		ck_assert_int_eq(bt_event_publish(bus, "t", pl(i), pl_free), 0);
	int iterations = 0;
	while (g_nrec < 20 && iterations < 100) {
		event_base_loop(g_base, EVLOOP_ONCE);
		iterations++;
	}
	event_free(timer);
	ck_assert_int_eq(g_nrec, 20);
	for (int i = 0; i < 20; i++) {
		ck_rec(i, "S", i);
		ck_assert_int_eq(pl(i)->freed, 1);
	}
	check_batches(20, 3);
	ck_assert_int_eq(iterations, 7); /* ceil(20 / 3): one batch per loop iteration */
	ck_assert_int_gt(g_ticks, 6);
}

START_TEST(test_batch_fairness)
{
	run_batched(h_tick_log, 20);
}
END_TEST

/* Handlers that keep publishing must not keep the bus in one loop iteration either. */
START_TEST(test_batch_fairness_self_feeding)
{
	run_batched(h_tick_feed, 1);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Cross-thread posting
 * ------------------------------------------------------------------------------------------- */

enum { POST_THREADS = 4, POST_EACH = 10000 };

struct tpayload {
	int thread;
	int seq;
};

static struct tpayload g_tp[POST_THREADS][POST_EACH];
static int g_next_sync[POST_THREADS], g_next_async[POST_THREADS];
static int g_got_sync, g_got_async;
static atomic_int g_tp_freed;
static int g_order_errors;

static void tp_free(void *p)
{
	(void)p;
	atomic_fetch_add(&g_tp_freed, 1);
}

static void h_tp(const char *topic, void *payload, void *ud)
{
	struct tpayload *p = payload;
	int *next = ud == (void *)g_next_sync ? g_next_sync : g_next_async;
	(void)topic;
	if (p->seq != next[p->thread])
		g_order_errors++;
	next[p->thread] = p->seq + 1;
	if (next == g_next_sync)
		g_got_sync++;
	else
		g_got_async++;
}

static void *poster(void *arg)
{
	struct tpayload *mine = arg;
	intptr_t failures = 0;
	for (int i = 0; i < POST_EACH; i++)
		if (bt_event_post(g_bus, "x", &mine[i], tp_free) != 0)
			failures++;
	return (void *)failures;
}

START_TEST(test_post_threads)
{
	bt_event_bus *bus = new_bus(NULL);
	atomic_store(&g_tp_freed, 0);
	g_got_sync = g_got_async = g_order_errors = 0;
	memset(g_next_sync, 0, sizeof(g_next_sync));
	memset(g_next_async, 0, sizeof(g_next_async));
	sub(bus, "x", BT_EVENT_SYNC, h_tp, g_next_sync);
	sub(bus, "x", BT_EVENT_ASYNC, h_tp, g_next_async);

	pthread_t th[POST_THREADS];
	for (int t = 0; t < POST_THREADS; t++) {
		for (int i = 0; i < POST_EACH; i++)
			g_tp[t][i] = (struct tpayload){t, i};
		ck_assert_int_eq(pthread_create(&th[t], NULL, poster, g_tp[t]), 0);
	}
	const int total = POST_THREADS * POST_EACH;
	long iterations = 0;
	while ((g_got_sync < total || g_got_async < total) && iterations < 10000000) {
		event_base_loop(g_base, EVLOOP_ONCE);
		iterations++;
	}
	for (int t = 0; t < POST_THREADS; t++) {
		void *failures;
		ck_assert_int_eq(pthread_join(th[t], &failures), 0);
		ck_assert_int_eq((intptr_t)failures, 0);
	}
	ck_assert_int_eq(g_order_errors, 0);
	ck_assert_int_eq(g_got_sync, total);
	ck_assert_int_eq(g_got_async, total);
	for (int t = 0; t < POST_THREADS; t++) {
		ck_assert_int_eq(g_next_sync[t], POST_EACH);
		ck_assert_int_eq(g_next_async[t], POST_EACH);
	}
	ck_assert_int_eq(atomic_load(&g_tp_freed), total);
	ck_stats(bus, "x", total, 2 * total, 0, 0, 2);
}
END_TEST

START_TEST(test_post_runs_on_loop)
{
	bt_event_bus *bus = new_bus(NULL);
	sub(bus, "t", BT_EVENT_SYNC, h_log, "A");
	ck_assert_int_eq(bt_event_post(bus, "t", pl(0), pl_free), 0);
	ck_assert_int_eq(bt_event_post(bus, "t", pl(1), pl_free), 0);
	/* Even a synchronous handler waits for the loop. */
	ck_assert_int_eq(g_nrec, 0);
	ck_assert_int_eq(bt_event_topic_stats_get(bus, "t", &(bt_event_topic_stats){0}), 0);
	ck_stats(bus, "t", 0, 0, 0, 0, 1);
	for (int i = 0; i < 10 && g_nrec < 2; i++)
		event_base_loop(g_base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(g_nrec, 2);
	ck_rec(0, "A", 0);
	ck_rec(1, "A", 1);
	ck_assert_int_eq(pl(0)->freed, 1);
	ck_assert_int_eq(pl(1)->freed, 1);
	ck_stats(bus, "t", 2, 2, 0, 0, 1);
}
END_TEST

static pthread_t g_freed_on;
static int g_freed_on_count;
static bool g_freed_here;

static void pl_free_where(void *p)
{
	pl_free(p);
	g_freed_on = pthread_self();
	g_freed_on_count++;
}

static void *post_one_full(void *arg)
{
	(void)arg;
	int rc = bt_event_post(g_bus, "t", pl(9), pl_free_where);
	/* Checked before returning: "before this returns, on the calling thread". */
	g_freed_here = g_freed_on_count == 1 && pthread_equal(g_freed_on, pthread_self());
	return (void *)(intptr_t)rc;
}

START_TEST(test_post_limit)
{
	bt_event_bus_options o = BT_EVENT_BUS_OPTIONS_INIT;
	o.post_limit = 2;
	bt_event_bus *bus = new_bus(&o);
	sub(bus, "t", BT_EVENT_ASYNC, h_log, "A");
	ck_assert_int_eq(bt_event_post(bus, "t", pl(0), pl_free), 0);
	ck_assert_int_eq(bt_event_post(bus, "t", pl(1), pl_free), 0);
	ck_assert_int_eq(bt_event_post(bus, "t", pl(2), pl_free), BT_EVENT_E_FULL);
	ck_assert_int_eq(pl(2)->freed, 1);

	/* A refused post frees its payload on the posting thread, before returning. */
	pthread_t th;
	void *rc;
	g_freed_on_count = 0;
	g_freed_here = false;
	ck_assert_int_eq(pthread_create(&th, NULL, post_one_full, NULL), 0);
	ck_assert_int_eq(pthread_join(th, &rc), 0);
	ck_assert_int_eq((intptr_t)rc, BT_EVENT_E_FULL);
	ck_assert_int_eq(g_freed_on_count, 1);
	ck_assert(g_freed_here);
	ck_assert(!pthread_equal(g_freed_on, pthread_self()));
	ck_assert_int_eq(pl(9)->freed, 1);

	for (int i = 0; i < 10 && g_nrec < 2; i++)
		event_base_loop(g_base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(g_nrec, 2);
	ck_rec(0, "A", 0);
	ck_rec(1, "A", 1);
	/* Taken in by the loop: there is room again. */
	ck_assert_int_eq(bt_event_post(bus, "t", pl(3), pl_free), 0);
	ck_assert_int_eq(bt_event_post(bus, "t", pl(4), pl_free), 0);
	for (int i = 0; i < 10 && g_nrec < 4; i++)
		event_base_loop(g_base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(g_nrec, 4);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(pl(i)->freed, 1);
	ck_stats(bus, "t", 4, 4, 0, 0, 1);
}
END_TEST

/* More posts than one batch: the loop takes them in over several iterations, in order. */
START_TEST(test_post_batches)
{
	bt_event_bus_options o = BT_EVENT_BUS_OPTIONS_INIT;
	o.batch = 4;
	bt_event_bus *bus = new_bus(&o);
	sub(bus, "t", BT_EVENT_SYNC, h_log, "A");
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(bt_event_post(bus, "t", pl(i), pl_free), 0);
	/* One loop iteration per call (EVLOOP_NONBLOCK alone goes on while callbacks run). */
	int iterations = 0;
	while (g_nrec < 10 && iterations < 100) {
		event_base_loop(g_base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		iterations++;
		ck_assert_int_eq(g_nrec, iterations * 4 < 10 ? iterations * 4 : 10);
	}
	ck_assert_int_eq(g_nrec, 10);
	ck_assert_int_eq(iterations, 3);
	for (int i = 0; i < 10; i++) {
		ck_rec(i, "A", i);
		ck_assert_int_eq(pl(i)->freed, 1);
	}
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Freeing the bus
 * ------------------------------------------------------------------------------------------- */

START_TEST(test_free_with_queued_and_posted)
{
	bt_event_bus *bus = new_bus(NULL);
	sub(bus, "t", BT_EVENT_ASYNC, h_log, "A");
	sub(bus, "t", BT_EVENT_ASYNC, h_log, "B");
	bt_event_sub_id c = sub(bus, "t", BT_EVENT_ASYNC, h_log, "C");
	sub(bus, "t", BT_EVENT_SYNC, h_log, "S");
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(bt_event_publish(bus, "t", pl(i), pl_free), 0);
	ck_assert_int_eq(bt_event_unsubscribe(bus, c), 0); /* leaves dead deliveries queued */
	for (int i = 3; i < 6; i++)
		ck_assert_int_eq(bt_event_post(bus, "t", pl(i), pl_free), 0);
	ck_assert_int_eq(g_nrec, 3); /* only S, synchronously */
	bt_event_bus_free(bus);
	g_bus = NULL;
	ck_assert_int_eq(g_nrec, 3);
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(pl(i)->freed, 1);
	/* Nothing of the bus is left on the loop. */
	ck_assert_int_eq(event_base_loop(g_base, EVLOOP_NONBLOCK), 1);
	bt_event_bus_free(NULL);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Arguments, options, strings, introspection
 * ------------------------------------------------------------------------------------------- */

static void h_never(const char *topic, void *payload, void *ud)
{
	(void)topic;
	(void)payload;
	(void)ud;
	ck_abort_msg("handler must not run");
}

START_TEST(test_invalid_arguments)
{
	bt_event_bus *bus = (bt_event_bus *)&g_bus; /* junk that must be overwritten */
	ck_assert_int_eq(bt_event_bus_new(NULL, g_base, NULL), BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_bus_new(&bus, NULL, NULL), BT_EVENT_E_INVAL);
	ck_assert_ptr_null(bus);

	const bt_event_bus_options def = BT_EVENT_BUS_OPTIONS_INIT;
	bt_event_bus_options o = def;
	o.queue_limit = 0;
	ck_assert_int_eq(bt_event_bus_new(&bus, g_base, &o), BT_EVENT_E_INVAL);
	o = def;
	o.post_limit = 0;
	ck_assert_int_eq(bt_event_bus_new(&bus, g_base, &o), BT_EVENT_E_INVAL);
	o = def;
	o.batch = 0;
	ck_assert_int_eq(bt_event_bus_new(&bus, g_base, &o), BT_EVENT_E_INVAL);
	o = def;
	o.max_depth = 0;
	ck_assert_int_eq(bt_event_bus_new(&bus, g_base, &o), BT_EVENT_E_INVAL);
	o = def;
	o.overflow = (bt_event_overflow)7;
	ck_assert_int_eq(bt_event_bus_new(&bus, g_base, &o), BT_EVENT_E_INVAL);
	ck_assert_ptr_null(bus);

	bus = new_bus(NULL);
	bt_event_sub_id id = 77;
	char long_topic[300];
	memset(long_topic, 'x', sizeof(long_topic));
	long_topic[256] = '\0'; /* 256 bytes: one too many */
	ck_assert_int_eq(bt_event_subscribe(NULL, "t", BT_EVENT_SYNC, h_never, NULL, &id),
	                 BT_EVENT_E_INVAL);
	ck_assert_uint_eq(id, 0);
	ck_assert_int_eq(bt_event_subscribe(bus, NULL, BT_EVENT_SYNC, h_never, NULL, &id),
	                 BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_subscribe(bus, "", BT_EVENT_SYNC, h_never, NULL, &id),
	                 BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_subscribe(bus, long_topic, BT_EVENT_SYNC, h_never, NULL, &id),
	                 BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_subscribe(bus, "t", BT_EVENT_SYNC, NULL, NULL, &id),
	                 BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_subscribe(bus, "t", BT_EVENT_SYNC, h_never, NULL, NULL),
	                 BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_subscribe(bus, "t", (bt_event_delivery)2, h_never, NULL, &id),
	                 BT_EVENT_E_INVAL);
	ck_assert_uint_eq(id, 0);

	/* Refused publishes and posts still consume their payload. */
	ck_assert_int_eq(bt_event_publish(NULL, "t", pl(0), pl_free), BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_publish(bus, NULL, pl(1), pl_free), BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_publish(bus, "", pl(2), pl_free), BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_publish(bus, long_topic, pl(3), pl_free), BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_post(NULL, "t", pl(4), pl_free), BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_post(bus, NULL, pl(5), pl_free), BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_post(bus, "", pl(6), pl_free), BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_post(bus, long_topic, pl(7), pl_free), BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_publish(bus, NULL, NULL, NULL), BT_EVENT_E_INVAL);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(pl(i)->freed, 1);

	bt_event_topic_stats st;
	ck_assert_int_eq(bt_event_topic_stats_get(NULL, "t", &st), BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_topic_stats_get(bus, NULL, &st), BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_topic_stats_get(bus, "", &st), BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_topic_stats_get(bus, long_topic, &st), BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_topic_stats_get(bus, "t", NULL), BT_EVENT_E_INVAL);
	ck_assert_int_eq(bt_event_topic_stats_get(bus, "t", &st), BT_EVENT_E_NOENT);
	ck_assert_uint_eq(bt_event_topic_foreach(NULL, NULL, NULL), 0);
	/* None of the refused calls created a topic. */
	ck_assert_uint_eq(bt_event_topic_foreach(bus, NULL, NULL), 0);
	run_idle(bus);
}
END_TEST

START_TEST(test_topic_length_bounds)
{
	bt_event_bus *bus = new_bus(NULL);
	char name[256];
	memset(name, 'n', 255);
	name[255] = '\0';
	sub(bus, name, BT_EVENT_SYNC, h_log, "L");
	ck_assert_int_eq(bt_event_publish(bus, name, pl(0), pl_free), 0);
	ck_assert_int_eq(g_nrec, 1);
	ck_assert_uint_eq(g_rec[0].topic_len, 255);
	ck_stats(bus, name, 1, 1, 0, 0, 1);
	ck_assert_int_eq(bt_event_publish(bus, "n", pl(1), pl_free), 0); /* another topic */
	ck_stats(bus, name, 1, 1, 0, 0, 1);
	ck_assert_int_eq(bt_event_publish(bus, "x", pl(2), pl_free), 0);
	ck_assert_int_eq(g_nrec, 1);
}
END_TEST

START_TEST(test_options_version)
{
	bt_event_bus *bus = (bt_event_bus *)&g_bus;
	bt_event_bus_options o = BT_EVENT_BUS_OPTIONS_INIT;
	ck_assert_uint_eq(o.version, BT_EVENT_BUS_OPTIONS_VERSION);
	o.version = 0;
	ck_assert_int_eq(bt_event_bus_new(&bus, g_base, &o), BT_EVENT_E_VERSION);
	ck_assert_ptr_null(bus);
	o.version = BT_EVENT_BUS_OPTIONS_VERSION + 1;
	ck_assert_int_eq(bt_event_bus_new(&bus, g_base, &o), BT_EVENT_E_VERSION);
	/* The version is checked before the fields it governs. */
	o.queue_limit = 0;
	ck_assert_int_eq(bt_event_bus_new(&bus, g_base, &o), BT_EVENT_E_VERSION);
	o = (bt_event_bus_options)BT_EVENT_BUS_OPTIONS_INIT;
	ck_assert_int_eq(bt_event_bus_new(&bus, g_base, &o), 0);
	bt_event_bus_free(bus);
	ck_assert_int_eq(bt_event_bus_new(&bus, g_base, NULL), 0);
	bt_event_bus_free(bus);
}
END_TEST

START_TEST(test_strerror)
{
	const int codes[] = {BT_EVENT_E_INVAL, BT_EVENT_E_NOMEM, BT_EVENT_E_NOENT,
	                     BT_EVENT_E_FULL,  BT_EVENT_E_DEPTH, BT_EVENT_E_VERSION};
	const char *unknown = bt_event_strerror(-999999);
	ck_assert_ptr_nonnull(unknown);
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *m = bt_event_strerror(codes[i]);
		ck_assert_ptr_nonnull(m);
		ck_assert_uint_gt(strlen(m), 5);
		ck_assert_str_ne(m, unknown);
		for (size_t j = 0; j < i; j++)
			ck_assert_str_ne(m, bt_event_strerror(codes[j]));
	}
	ck_assert_str_eq(bt_event_strerror(BT_EVENT_E_INVAL), "Invalid argument");
	ck_assert_str_eq(bt_event_strerror(BT_EVENT_E_NOMEM), "Out of memory");
	ck_assert_str_eq(bt_event_strerror(BT_EVENT_E_NOENT), "No such subscription or topic");
	ck_assert_str_eq(bt_event_strerror(BT_EVENT_E_FULL), "Queue full, event dropped");
	ck_assert_str_eq(bt_event_strerror(BT_EVENT_E_DEPTH),
	                 "Synchronous publishes nested too deeply");
	ck_assert_str_eq(bt_event_strerror(BT_EVENT_E_VERSION), "Unknown options version");
	ck_assert_str_eq(bt_event_strerror(0), "Success");
	ck_assert_str_eq(bt_event_strerror(-ENOMEM), "Cannot allocate memory");
	ck_assert_str_eq(bt_event_strerror(-EMFILE), "Too many open files");
	ck_assert_str_eq(bt_event_strerror(-EINVAL), "Invalid argument");
	ck_assert_str_eq(bt_event_strerror(-EAGAIN), "Resource temporarily unavailable");
	ck_assert_str_eq(bt_event_strerror(-998), "Unknown system error");
	ck_assert_str_eq(bt_event_strerror(-1006), "Unknown error");
	ck_assert_str_eq(bt_event_strerror(1), "Unknown error");
	ck_assert_ptr_nonnull(bt_event_strerror(INT_MIN));
	ck_assert_ptr_nonnull(bt_event_strerror(INT_MAX));
}
END_TEST

START_TEST(test_version)
{
	ck_assert_str_eq(bt_event_version(), BT_EVENT_VERSION_STRING);
	ck_assert_ptr_eq(bt_event_version(), bt_event_version());
}
END_TEST

struct seen {
	int n;
	char names[8][8];
	bt_event_topic_stats st[8];
};

static void collect(const char *topic, const bt_event_topic_stats *st, void *ud)
{
	struct seen *s = ud;
	ck_assert_int_lt(s->n, 8);
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", topic);
	s->st[s->n] = *st;
	s->n++;
}

START_TEST(test_topic_foreach)
{
	bt_event_bus_options o = BT_EVENT_BUS_OPTIONS_INIT;
	o.queue_limit = 1;
	bt_event_bus *bus = new_bus(&o);
	ck_assert_uint_eq(bt_event_topic_foreach(bus, collect, &(struct seen){0}), 0);
	sub(bus, "sub", BT_EVENT_ASYNC, h_log, "A");
	sub(bus, "sub", BT_EVENT_SYNC, h_log, "B");
	ck_assert_int_eq(bt_event_publish(bus, "pub", pl(0), pl_free), 0);
	ck_assert_int_eq(bt_event_post(bus, "post", pl(1), pl_free), 0);
	ck_assert_int_eq(bt_event_publish(bus, "sub", pl(2), pl_free), 0);
	ck_assert_int_eq(bt_event_publish(bus, "sub", pl(3), pl_free), BT_EVENT_E_FULL);

	struct seen s = {0};
	ck_assert_uint_eq(bt_event_topic_foreach(bus, collect, &s), 2); /* "post" not taken in */
	ck_assert_int_eq(s.n, 2);
	ck_assert_str_eq(s.names[0], "sub");
	ck_assert_str_eq(s.names[1], "pub");
	ck_assert_uint_eq(s.st[0].published, 2);
	ck_assert_uint_eq(s.st[0].delivered, 2);
	ck_assert_uint_eq(s.st[0].dropped, 1);
	ck_assert_uint_eq(s.st[0].queued, 1);
	ck_assert_uint_eq(s.st[0].subscribers, 2);
	ck_assert_uint_eq(s.st[1].published, 1);
	ck_assert_uint_eq(s.st[1].delivered, 0);
	ck_assert_uint_eq(s.st[1].subscribers, 0);

	for (int i = 0; i < 10 && pl(1)->freed == 0; i++)
		event_base_loop(g_base, EVLOOP_NONBLOCK);
	run_idle(bus);
	memset(&s, 0, sizeof(s));
	ck_assert_uint_eq(bt_event_topic_foreach(bus, collect, &s), 3);
	ck_assert_str_eq(s.names[2], "post");
	ck_assert_uint_eq(s.st[2].published, 1);
	ck_assert_uint_eq(s.st[0].queued, 0);
	ck_assert_uint_eq(s.st[0].delivered, 3);
	ck_assert_uint_eq(bt_event_topic_foreach(bus, NULL, NULL), 3);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pl(i)->freed, 1);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Suite
 * ------------------------------------------------------------------------------------------- */

static Suite *event_suite(void)
{
	Suite *s = suite_create("btevent");
	struct {
		const char *name;
		const TTest *tests[12];
	} cases[] = {
	    {"delivery",
	     {test_sync_basic, test_async_basic, test_order_multiple_subscribers,
	      test_async_publish_order_across_topics, test_no_subscribers}},
	    {"subscriptions",
	     {test_unsubscribe_and_stale_ids, test_many_subscriptions,
	      test_unsubscribe_with_queued_async}},
	    {"reentrancy",
	     {test_publish_from_sync_handler, test_publish_from_async_handler,
	      test_subscribe_from_handler, test_unsubscribe_in_sync_handler,
	      test_unsubscribe_self_in_async_handler, test_depth_limit}},
	    {"overflow",
	     {test_overflow_drop_newest, test_overflow_drop_oldest, test_overflow_accounting_newest,
	      test_overflow_accounting_oldest, test_overflow_fanout_newest,
	      test_overflow_fanout_oldest, test_overflow_ignores_dead_deliveries}},
	    {"batching", {test_batch_fairness, test_batch_fairness_self_feeding}},
	    {"post",
	     {test_post_threads, test_post_runs_on_loop, test_post_limit, test_post_batches}},
	    {"lifetime", {test_free_with_queued_and_posted}},
	    {"api",
	     {test_invalid_arguments, test_topic_length_bounds, test_options_version, test_strerror,
	      test_version, test_topic_foreach}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		/* Each case takes well under a second; the margin is for sanitizer builds.  A lost
		 * wake-up would block EVLOOP_ONCE forever: this turns it into a failure. */
		tcase_set_timeout(tc, 30);
		for (size_t j = 0; j < 12 && cases[i].tests[j]; j++)
			tcase_add_test(tc, cases[i].tests[j]);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	return bt_test_run(event_suite());
}
