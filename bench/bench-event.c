/*
 * bench-event.c - throughput of libbtevent: synchronous and asynchronous publishing with 1 and
 * 10 subscribers, and events handed over from another thread with bt_event_post().  Payloads are
 * NULL and handlers only count, so the figures are the bus's own overhead per event and per
 * delivery.  Usage: bench-event [EVENTS] (default: a count per case that runs about a second on
 * a current machine).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "bench-util.h"
#include "btevent.h"

/* Async publishing is done in chunks that fit the queue, each drained by the loop. */
#define CHUNK 4096

static uint64_t g_delivered;

static void on_event(const char *topic, void *payload, void *ud)
{
	(void)topic;
	(void)payload;
	(void)ud;
	g_delivered++;
}

struct bench {
	struct event_base *base;
	bt_event_bus *bus;
};

static int bench_open(struct bench *b, int subs, bt_event_delivery mode)
{
	bt_event_bus_options o = BT_EVENT_BUS_OPTIONS_INIT;
	o.queue_limit = (size_t)CHUNK * (size_t)subs;
	b->base = event_base_new();
	if (!b->base) {
		fprintf(stderr, "bench-event: event_base_new failed\n");
		return -1;
	}
	int rc = bt_event_bus_new(&b->bus, b->base, &o);
	for (int i = 0; rc == 0 && i < subs; i++) {
		bt_event_sub_id id;
		rc = bt_event_subscribe(b->bus, "bench", mode, on_event, NULL, &id);
	}
	if (rc < 0) {
		fprintf(stderr, "bench-event: %s\n", bt_event_strerror(rc));
		bt_event_bus_free(b->bus);
		event_base_free(b->base);
		return -1;
	}
	g_delivered = 0;
	return 0;
}

static void bench_close(struct bench *b)
{
	bt_event_bus_free(b->bus);
	event_base_free(b->base);
}

static int check_delivered(uint64_t expected)
{
	if (g_delivered == expected)
		return 0;
	fprintf(stderr, "bench-event: %" PRIu64 " deliveries, expected %" PRIu64 "\n", g_delivered,
	        expected);
	return -1;
}

static int bench_sync(uint64_t n, int subs)
{
	struct bench b;
	if (bench_open(&b, subs, BT_EVENT_SYNC) < 0)
		return -1;
	uint64_t t0 = bench_now_ns();
	for (uint64_t i = 0; i < n; i++)
		bt_event_publish(b.bus, "bench", NULL, NULL);
	uint64_t ns = bench_now_ns() - t0;
	bench_close(&b);
	if (check_delivered(n * (uint64_t)subs) < 0)
		return -1;
	char label[64];
	snprintf(label, sizeof(label), "event-bus sync   subs=%-2d", subs);
	bench_print(label, "events", n, ns);
	if (subs > 1)
		bench_print(label, "deliveries", n * (uint64_t)subs, ns);
	return 0;
}

static int bench_async(uint64_t n, int subs)
{
	struct bench b;
	if (bench_open(&b, subs, BT_EVENT_ASYNC) < 0)
		return -1;
	uint64_t t0 = bench_now_ns();
	for (uint64_t done = 0; done < n;) {
		uint64_t k = n - done < CHUNK ? n - done : CHUNK;
		for (uint64_t i = 0; i < k; i++)
			bt_event_publish(b.bus, "bench", NULL, NULL);
		done += k;
		/* NONBLOCK keeps iterating while the bus has batches left. */
		event_base_loop(b.base, EVLOOP_NONBLOCK);
	}
	uint64_t ns = bench_now_ns() - t0;
	bench_close(&b);
	if (check_delivered(n * (uint64_t)subs) < 0)
		return -1;
	char label[64];
	snprintf(label, sizeof(label), "event-bus async  subs=%-2d", subs);
	bench_print(label, "events", n, ns);
	if (subs > 1)
		bench_print(label, "deliveries", n * (uint64_t)subs, ns);
	return 0;
}

struct producer {
	bt_event_bus *bus;
	uint64_t n;
	uint64_t full; /* times the inbox was full and the post was retried */
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	for (uint64_t i = 0; i < p->n;) {
		if (bt_event_post(p->bus, "bench", NULL, NULL) == 0) {
			i++;
		} else {
			p->full++;
			sched_yield();
		}
	}
	return NULL;
}

static int bench_post(uint64_t n)
{
	struct bench b;
	if (bench_open(&b, 1, BT_EVENT_SYNC) < 0)
		return -1;
	struct producer p = {b.bus, n, 0};
	pthread_t th;
	uint64_t t0 = bench_now_ns();
	if (pthread_create(&th, NULL, produce, &p) != 0) {
		fprintf(stderr, "bench-event: pthread_create failed\n");
		bench_close(&b);
		return -1;
	}
	while (g_delivered < n)
		event_base_loop(b.base, EVLOOP_ONCE);
	uint64_t ns = bench_now_ns() - t0;
	pthread_join(th, NULL);
	bench_close(&b);
	if (check_delivered(n) < 0)
		return -1;
	char label[64];
	snprintf(label, sizeof(label), "event-bus post   threads=1");
	bench_print(label, "events", n, ns);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t n = 0; /* 0: the per-case defaults */
	if (argc > 2 || (argc == 2 && (argv[1][0] < '0' || argv[1][0] > '9'))) {
		fprintf(stderr, "usage: bench-event [EVENTS]\n");
		return 2;
	}
	if (argc == 2) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(argv[1], &end, 10);
		if (errno || *end || v == 0) {
			fprintf(stderr, "bench-event: EVENTS must be a positive number\n");
			return 2;
		}
		n = v;
	}
	int rc = 0;
	rc |= bench_sync(n ? n : 50000000, 1);
	rc |= bench_sync(n ? n : 25000000, 10);
	rc |= bench_async(n ? n : 30000000, 1);
	rc |= bench_async(n ? n : 9000000, 10);
	rc |= bench_post(n ? n : 9000000);
	return rc ? 1 : 0;
}
