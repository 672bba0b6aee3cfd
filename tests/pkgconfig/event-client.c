/*
 * event-client.c - the smallest real user of an installed libbtevent, built outside the tree
 * with nothing but `pkg-config --cflags --libs libbtevent` (tests/pkgconfig-test.sh).  It proves
 * the installed header, library and .pc file work together: create a bus on a libevent loop,
 * deliver one asynchronous event, and see its payload freed.  Prints "ok" and exits 0, or says
 * what failed on stderr and exits 1.
 */
#include <stdio.h>
#include <string.h>

#include <btevent.h>
#include <event2/event.h>

struct state {
	int handled;
	int freed;
	char seen[32];
};

static struct state st;

static void on_hello(const char *topic, void *payload, void *ud)
{
	struct state *s = ud;
	s->handled++;
	snprintf(s->seen, sizeof(s->seen), "%s:%s", topic, (const char *)payload);
}

static void free_hello(void *payload)
{
	(void)payload;
	st.freed++;
}

static int fail(const char *what, int rc)
{
	fprintf(stderr, "event-client: %s: %s\n", what, bt_event_strerror(rc));
	return 1;
}

int main(void)
{
	static char payload[] = "world";
	struct event_base *base = event_base_new();
	if (!base)
		return fail("event_base_new", BT_EVENT_E_NOMEM);
	bt_event_bus *bus;
	int rc = bt_event_bus_new(&bus, base, NULL);
	if (rc < 0)
		return fail("bt_event_bus_new", rc);
	bt_event_sub_id id;
	rc = bt_event_subscribe(bus, "hello", BT_EVENT_ASYNC, on_hello, &st, &id);
	if (rc < 0)
		return fail("bt_event_subscribe", rc);
	rc = bt_event_publish(bus, "hello", payload, free_hello);
	if (rc < 0)
		return fail("bt_event_publish", rc);
	if (st.handled != 0)
		return fail("async handler ran inside publish", BT_EVENT_E_INVAL);

	/* The bus keeps an event pending, so run bounded iterations rather than dispatch(). */
	for (int i = 0; i < 100 && st.handled == 0; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);

	rc = bt_event_unsubscribe(bus, id);
	if (rc < 0)
		return fail("bt_event_unsubscribe", rc);
	bt_event_bus_free(bus);
	event_base_free(base);

	if (st.handled != 1 || strcmp(st.seen, "hello:world") != 0) {
		fprintf(stderr, "event-client: handler ran %d times, saw \"%s\"\n", st.handled,
		        st.seen);
		return 1;
	}
	if (st.freed != 1) {
		fprintf(stderr, "event-client: payload freed %d times\n", st.freed);
		return 1;
	}
	printf("ok\n");
	return 0;
}
