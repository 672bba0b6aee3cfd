/*
 * bus.c - the libbtevent bus: named topics, subscriptions, synchronous delivery inside
 * bt_event_publish(), a bounded queue of asynchronous deliveries drained from the libevent loop in
 * batches, and a bounded, mutex-protected inbox through which other threads hand events to the
 * loop thread.  Everything except the inbox is touched by the loop thread only, so the only lock
 * is the inbox's; the wake-up goes through an eventfd (or a pipe) watched by the loop, which keeps
 * bt_event_post() working on an event_base that has no libevent thread support.
 *
 * Lifetimes, which are the subtle part:
 *   - a topic lives until the bus is freed (its counters are "since the bus was created", and
 *     handlers and queued deliveries hold bare pointers to its name);
 *   - a subscription is referenced by its topic's array and by each queued delivery to it;
 *     unsubscribing only marks it dead, the array drops dead entries when no delivery loop is
 *     walking it, and the memory goes when the last reference does;
 *   - an event (payload + free function) is referenced by each queued delivery and, while
 *     bt_event_publish() runs, by the publish itself; its free function runs when the last
 *     reference goes.  An event whose subscribers are all synchronous needs no such object.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_SYS_EVENTFD_H
#include <sys/eventfd.h>
#endif

#include <event2/event.h>

#include "btevent.h"

#define TOPIC_MAX 255       /* longest topic name, bytes, without the NUL */
#define EVENT_CACHE_MAX 256 /* event objects kept for reuse instead of free()/malloc() */
#define RING_MIN 64         /* first allocation of the async queue */

struct topic;

struct sub {
	bt_event_sub_id id;
	struct topic *topic;
	bt_event_handler_cb handler;
	void *ud;
	bt_event_delivery mode;
	bool dead;      /* unsubscribed: never call the handler again */
	bool in_array;  /* still referenced by topic->subs */
	size_t refs;    /* in_array + one per queued or running async delivery */
	size_t pending; /* deliveries to this subscription waiting in the queue */
};

struct topic {
	uint64_t hash;
	struct sub **subs; /* subscription order; dead entries until compacted */
	size_t nsubs, cap;
	size_t ndead; /* dead entries in subs */
	unsigned int live, nsync, nasync;
	unsigned int iterating; /* delivery loops walking subs right now: no compaction */
	bt_event_topic_stats st;
	size_t len;
	char name[];
};

struct event_obj {
	struct topic *topic;
	void *payload;
	bt_event_free_cb free_fn;
	size_t refs;
	struct event_obj *next_free;
};

struct delivery {
	struct event_obj *ev;
	struct sub *sub;
};

struct post_node {
	struct post_node *next;
	void *payload;
	bt_event_free_cb free_fn;
	size_t len;
	char topic[];
};

struct bt_event_bus {
	struct event_base *base;
	bt_event_bus_options opt;

	/* Topics: creation order (foreach, free) plus an open-addressing index by name. */
	struct topic **topics;
	size_t ntopics, topics_cap;
	struct topic **tindex;
	size_t tindex_cap; /* power of two */

	/* Live subscriptions by id: open addressing, linear probing, backward-shift deletion. */
	struct sub **smap;
	size_t smap_cap, smap_count; /* cap is a power of two */
	unsigned int smap_bits;
	bt_event_sub_id next_id;

	/* The async queue: a ring of deliveries that grows up to opt.queue_limit. */
	struct delivery *ring;
	size_t ring_cap, ring_head, ring_count;
	size_t ring_dead; /* queued deliveries to dead subscriptions */
	struct event *dispatch_ev;
	bool dispatch_scheduled;
	bool dispatching;

	struct event_obj *ev_cache;
	size_t ev_cache_count;

	unsigned int depth; /* synchronous publishes on the stack */

	/* Cross-thread inbox.  Posting threads touch the fields the mutex guards, and read
	 * wake_wfd and opt.post_limit, which never change after creation. */
	int wake_rfd, wake_wfd; /* equal for an eventfd */
	struct event *wake_ev;
	pthread_mutex_t lock;
	struct post_node *in_head, *in_tail;
	size_t in_count;
	struct post_node *taken; /* loop thread only: taken in, not yet published */
};

static const bt_event_bus_options default_options = BT_EVENT_BUS_OPTIONS_INIT;

/* ---------------------------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------------------------- */

/* Returns the name's length, or 0 when it is NULL, empty or too long. */
static size_t topic_len(const char *name)
{
	if (!name)
		return 0;
	size_t n = strnlen(name, TOPIC_MAX + 1);
	return n > TOPIC_MAX ? 0 : n;
}

static uint64_t hash_name(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void release_payload(void *payload, bt_event_free_cb free_fn)
{
	if (free_fn)
		free_fn(payload);
}

/* ---------------------------------------------------------------------------------------------
 * Topics
 * ------------------------------------------------------------------------------------------- */

static struct topic *topic_find(const bt_event_bus *bus, const char *name, size_t len,
                                uint64_t hash)
{
	if (!bus->tindex)
		return NULL;
	size_t mask = bus->tindex_cap - 1;
	for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
		struct topic *t = bus->tindex[i];
		if (!t)
			return NULL;
		if (t->hash == hash && t->len == len && memcmp(t->name, name, len) == 0)
			return t;
	}
}

static void tindex_insert(struct topic **index, size_t cap, struct topic *t)
{
	size_t mask = cap - 1;
	size_t i = (size_t)t->hash & mask;
	while (index[i])
		i = (i + 1) & mask;
	index[i] = t;
}

/* Makes room for one more topic in both the list and the index (kept at most half full). */
static int topics_reserve(bt_event_bus *bus)
{
	if (bus->ntopics == bus->topics_cap) {
		size_t cap = bus->topics_cap ? bus->topics_cap * 2 : 16;
		struct topic **v = realloc(bus->topics, cap * sizeof(*v));
		if (!v)
			return BT_EVENT_E_NOMEM;
		bus->topics = v;
		bus->topics_cap = cap;
	}
	if ((bus->ntopics + 1) * 2 > bus->tindex_cap) {
		size_t cap = bus->tindex_cap ? bus->tindex_cap * 2 : 32;
		struct topic **idx = calloc(cap, sizeof(*idx));
		if (!idx)
			return BT_EVENT_E_NOMEM;
		for (size_t i = 0; i < bus->ntopics; i++)
			tindex_insert(idx, cap, bus->topics[i]);
		free(bus->tindex);
		bus->tindex = idx;
		bus->tindex_cap = cap;
	}
	return 0;
}

/* The topic called @name, created if needed; NULL when out of memory. */
static struct topic *topic_get(bt_event_bus *bus, const char *name, size_t len)
{
	uint64_t hash = hash_name(name, len);
	struct topic *t = topic_find(bus, name, len, hash);
	if (t)
		return t;
	if (topics_reserve(bus) < 0)
		return NULL;
	t = calloc(1, sizeof(*t) + len + 1);
	if (!t)
		return NULL;
	t->hash = hash;
	t->len = len;
	memcpy(t->name, name, len);
	t->name[len] = '\0';
	bus->topics[bus->ntopics++] = t;
	tindex_insert(bus->tindex, bus->tindex_cap, t);
	return t;
}

/* ---------------------------------------------------------------------------------------------
 * Subscriptions
 * ------------------------------------------------------------------------------------------- */

static void sub_unref(struct sub *s)
{
	if (--s->refs == 0)
		free(s);
}

/* Drops dead entries, keeping subscription order.  Only called when no delivery loop walks the
 * array, so indices held by such loops cannot shift under them.  Waiting for dead entries to be
 * as many as half the array keeps unsubscribe O(1) amortised. */
static void topic_compact(struct topic *t, bool force)
{
	if (t->iterating || t->ndead == 0)
		return;
	if (!force && t->ndead * 2 < t->nsubs)
		return;
	size_t j = 0;
	for (size_t i = 0; i < t->nsubs; i++) {
		struct sub *s = t->subs[i];
		if (s->dead) {
			s->in_array = false;
			sub_unref(s);
		} else {
			t->subs[j++] = s;
		}
	}
	t->nsubs = j;
	t->ndead = 0;
}

static size_t smap_slot(const bt_event_bus *bus, bt_event_sub_id id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ULL) >> (64 - bus->smap_bits));
}

static struct sub **smap_find(bt_event_bus *bus, bt_event_sub_id id)
{
	if (!bus->smap || id == 0)
		return NULL;
	size_t mask = bus->smap_cap - 1;
	for (size_t i = smap_slot(bus, id);; i = (i + 1) & mask) {
		if (!bus->smap[i])
			return NULL;
		if (bus->smap[i]->id == id)
			return &bus->smap[i];
	}
}

static void smap_put(bt_event_bus *bus, struct sub *s)
{
	size_t mask = bus->smap_cap - 1;
	size_t i = smap_slot(bus, s->id);
	while (bus->smap[i])
		i = (i + 1) & mask;
	bus->smap[i] = s;
	bus->smap_count++;
}

/* Keeps the map at most half full so probes stay short. */
static int smap_reserve(bt_event_bus *bus)
{
	if ((bus->smap_count + 1) * 2 <= bus->smap_cap)
		return 0;
	unsigned int bits = bus->smap_cap ? bus->smap_bits + 1 : 5;
	size_t cap = (size_t)1 << bits;
	struct sub **m = calloc(cap, sizeof(*m));
	if (!m)
		return BT_EVENT_E_NOMEM;
	struct sub **old = bus->smap;
	size_t old_cap = bus->smap_cap;
	bus->smap = m;
	bus->smap_cap = cap;
	bus->smap_bits = bits;
	bus->smap_count = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i])
			smap_put(bus, old[i]);
	free(old);
	return 0;
}

/* Backward-shift deletion: later entries of the probe run move up so no tombstones build up. */
static void smap_remove(bt_event_bus *bus, struct sub **slot)
{
	size_t mask = bus->smap_cap - 1;
	size_t hole = (size_t)(slot - bus->smap);
	size_t i = hole;
	bus->smap[hole] = NULL;
	bus->smap_count--;
	for (;;) {
		i = (i + 1) & mask;
		struct sub *s = bus->smap[i];
		if (!s)
			return;
		size_t home = smap_slot(bus, s->id);
		/* Move s into the hole unless its home lies cyclically in (hole, i]. */
		bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
		if (stays)
			continue;
		bus->smap[hole] = s;
		bus->smap[i] = NULL;
		hole = i;
	}
}

/* ---------------------------------------------------------------------------------------------
 * Events and the async queue
 * ------------------------------------------------------------------------------------------- */

static struct event_obj *event_obj_new(bt_event_bus *bus, struct topic *t, void *payload,
                                       bt_event_free_cb free_fn)
{
	struct event_obj *ev = bus->ev_cache;
	if (ev) {
		bus->ev_cache = ev->next_free;
		bus->ev_cache_count--;
	} else {
		ev = malloc(sizeof(*ev));
		if (!ev)
			return NULL;
	}
	ev->topic = t;
	ev->payload = payload;
	ev->free_fn = free_fn;
	ev->refs = 1;
	ev->next_free = NULL;
	return ev;
}

static void event_obj_unref(bt_event_bus *bus, struct event_obj *ev)
{
	if (--ev->refs)
		return;
	/* Recycle before calling out, so the bus is consistent whatever free_fn does. */
	void *payload = ev->payload;
	bt_event_free_cb free_fn = ev->free_fn;
	if (bus->ev_cache_count < EVENT_CACHE_MAX) {
		ev->next_free = bus->ev_cache;
		bus->ev_cache = ev;
		bus->ev_cache_count++;
	} else {
		free(ev);
	}
	release_payload(payload, free_fn);
}

/* Room for @extra more deliveries, without passing queue_limit.  Growing before any delivery of
 * a publish is queued makes an out-of-memory failure all-or-nothing. */
static int ring_reserve(bt_event_bus *bus, size_t extra)
{
	size_t limit = bus->opt.queue_limit;
	size_t need = bus->ring_count + extra;
	if (need > limit || need < extra)
		need = limit;
	if (need <= bus->ring_cap)
		return 0;
	size_t cap = bus->ring_cap ? bus->ring_cap : RING_MIN;
	while (cap < need && cap <= SIZE_MAX / 2)
		cap *= 2;
	if (cap < need || cap > limit)
		cap = limit;
	if (cap > SIZE_MAX / sizeof(struct delivery))
		return BT_EVENT_E_NOMEM;
	struct delivery *r = malloc(cap * sizeof(*r));
	if (!r)
		return BT_EVENT_E_NOMEM;
	for (size_t i = 0; i < bus->ring_count; i++) {
		size_t j = bus->ring_head + i;
		if (j >= bus->ring_cap)
			j -= bus->ring_cap;
		r[i] = bus->ring[j];
	}
	free(bus->ring);
	bus->ring = r;
	bus->ring_cap = cap;
	bus->ring_head = 0;
	return 0;
}

/* Appends; the caller made room. */
static void ring_push(bt_event_bus *bus, struct delivery d)
{
	size_t i = bus->ring_head + bus->ring_count;
	if (i >= bus->ring_cap)
		i -= bus->ring_cap;
	bus->ring[i] = d;
	bus->ring_count++;
}

/* Removes the oldest delivery.  Its references move to the caller; the counters of what is
 * waiting are updated here, so an unsubscribe that runs before the caller releases the delivery
 * does not count it again. */
static struct delivery ring_pop(bt_event_bus *bus)
{
	struct delivery d = bus->ring[bus->ring_head];
	if (++bus->ring_head == bus->ring_cap)
		bus->ring_head = 0;
	bus->ring_count--;
	d.sub->pending--;
	if (d.sub->dead)
		bus->ring_dead--;
	else
		d.ev->topic->st.queued--;
	return d;
}

static void delivery_release(bt_event_bus *bus, struct delivery d)
{
	sub_unref(d.sub);
	event_obj_unref(bus, d.ev);
}

/* Discards queued deliveries to dead subscriptions, which must not make the queue refuse live
 * ones.  Rotating the whole ring once keeps the order of the others and leaves the ring
 * consistent at every step, whatever the free functions called on the way do. */
static void ring_purge_dead(bt_event_bus *bus)
{
	size_t n = bus->ring_count;
	for (size_t i = 0; i < n; i++) {
		bool dead = bus->ring[bus->ring_head].sub->dead;
		struct delivery d = ring_pop(bus);
		if (dead) {
			delivery_release(bus, d);
		} else {
			d.sub->pending++;
			d.ev->topic->st.queued++;
			ring_push(bus, d);
		}
	}
}

/* Queues @ev for @s.  Returns true when the overflow policy dropped a delivery. */
static bool enqueue(bt_event_bus *bus, struct event_obj *ev, struct sub *s)
{
	bool dropped = false;
	if (bus->ring_count == bus->opt.queue_limit && bus->ring_dead)
		ring_purge_dead(bus);
	if (bus->ring_count == bus->opt.queue_limit) {
		dropped = true;
		if (bus->opt.overflow == BT_EVENT_DROP_NEWEST) {
			ev->topic->st.dropped++;
			return true;
		}
		struct delivery old = ring_pop(bus);
		old.ev->topic->st.dropped++;
		/* @ev is held by the publish, so this cannot free it. */
		delivery_release(bus, old);
	}
	ev->refs++;
	s->refs++;
	s->pending++;
	ev->topic->st.queued++;
	ring_push(bus, (struct delivery){ev, s});
	return dropped;
}

/* Makes the dispatch callback run.  The first activation is immediate; while the callback runs,
 * it re-arms itself at the end (see dispatch_cb), because an event_active() from inside a
 * libevent callback runs again in the same loop iteration, before timers and I/O get a turn. */
static void schedule_dispatch(bt_event_bus *bus)
{
	if (bus->dispatch_scheduled || bus->dispatching)
		return;
	bus->dispatch_scheduled = true;
	event_active(bus->dispatch_ev, 0, 0);
}

static void dispatch_cb(evutil_socket_t fd, short what, void *arg)
{
	bt_event_bus *bus = arg;
	(void)fd;
	(void)what;
	bus->dispatch_scheduled = false;
	bus->dispatching = true;
	for (unsigned int n = 0; n < bus->opt.batch && bus->ring_count; n++) {
		bool dead = bus->ring[bus->ring_head].sub->dead;
		struct delivery d = ring_pop(bus);
		if (!dead) {
			struct topic *t = d.ev->topic;
			d.sub->handler(t->name, d.ev->payload, d.sub->ud);
			t->st.delivered++;
		}
		delivery_release(bus, d);
	}
	bus->dispatching = false;
	if (bus->ring_count && !bus->dispatch_scheduled) {
		/* A zero timeout fires in the next loop iteration, after pending I/O and timers. */
		static const struct timeval now = {0, 0};
		bus->dispatch_scheduled = true;
		if (event_add(bus->dispatch_ev, &now) < 0) {
			bus->dispatch_scheduled = false;
			schedule_dispatch(bus);
		}
	}
}

/* ---------------------------------------------------------------------------------------------
 * Publishing
 * ------------------------------------------------------------------------------------------- */

/* bt_event_publish() once the bus and the topic name are known to be valid. */
static int publish(bt_event_bus *bus, const char *name, size_t len, void *payload,
                   bt_event_free_cb free_fn)
{
	if (bus->depth >= bus->opt.max_depth) {
		release_payload(payload, free_fn);
		return BT_EVENT_E_DEPTH;
	}
	struct topic *t = topic_get(bus, name, len);
	if (!t) {
		release_payload(payload, free_fn);
		return BT_EVENT_E_NOMEM;
	}
	if (t->live == 0) {
		t->st.published++;
		release_payload(payload, free_fn);
		return 0;
	}

	/* Only events that get queued need to live on the heap. */
	struct event_obj *ev = NULL;
	if (t->nasync) {
		ev = event_obj_new(bus, t, payload, free_fn);
		if (!ev || ring_reserve(bus, t->nasync) < 0) {
			if (ev)
				event_obj_unref(bus, ev);
			else
				release_payload(payload, free_fn);
			return BT_EVENT_E_NOMEM;
		}
	}
	t->st.published++;

	/* Queue first, then run synchronous handlers: what those publish is queued after this
	 * event, so asynchronous subscribers see events in publish order.  n is fixed here so that
	 * subscriptions made by handlers do not receive this event. */
	int rc = 0;
	size_t n = t->nsubs;
	bool any_sync = t->nsync > 0;
	if (ev) {
		for (size_t i = 0; i < n; i++) {
			struct sub *s = t->subs[i];
			if (!s->dead && s->mode == BT_EVENT_ASYNC && enqueue(bus, ev, s))
				rc = BT_EVENT_E_FULL;
		}
		if (bus->ring_count)
			schedule_dispatch(bus);
	}
	if (any_sync) {
		bus->depth++;
		t->iterating++;
		for (size_t i = 0; i < n; i++) {
			struct sub *s = t->subs[i]; /* re-read: handlers may grow the array */
			if (s->dead || s->mode != BT_EVENT_SYNC)
				continue;
			s->handler(t->name, payload, s->ud);
			t->st.delivered++;
		}
		t->iterating--;
		bus->depth--;
		topic_compact(t, false);
	}

	if (ev)
		event_obj_unref(bus, ev);
	else
		release_payload(payload, free_fn);
	return rc;
}

BT_EVENT_EXTERN int bt_event_publish(bt_event_bus *bus, const char *topic, void *payload,
                                     bt_event_free_cb free_fn)
{
	size_t len = topic_len(topic);
	if (!bus || len == 0) {
		release_payload(payload, free_fn);
		return BT_EVENT_E_INVAL;
	}
	return publish(bus, topic, len, payload, free_fn);
}

/* ---------------------------------------------------------------------------------------------
 * Cross-thread posting
 * ------------------------------------------------------------------------------------------- */

static void wake_write(bt_event_bus *bus)
{
	ssize_t r;
#ifdef HAVE_SYS_EVENTFD_H
	uint64_t one = 1;
	do
		r = write(bus->wake_wfd, &one, sizeof(one));
	while (r < 0 && errno == EINTR);
#else
	char c = 0;
	do
		r = write(bus->wake_wfd, &c, 1);
	while (r < 0 && errno == EINTR);
#endif
	/* EAGAIN means the channel is already readable, which is all a wake-up needs. */
	(void)r;
}

static void wake_drain(bt_event_bus *bus)
{
#ifdef HAVE_SYS_EVENTFD_H
	uint64_t v;
	while (read(bus->wake_rfd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
#else
	char buf[256];
	for (;;) {
		ssize_t r = read(bus->wake_rfd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < (ssize_t)sizeof(buf))
			break;
	}
#endif
}

/* Publishes at most one batch of posted events per loop iteration, so a flood of posts cannot
 * starve the loop either.  The inbox is taken over whole, in O(1), so that posters never wait
 * while the loop walks a list; the loop works through that private list (at most post_limit
 * events) before it takes the inbox again.  The channel is drained before the inbox is read: a
 * post whose wake-up we swallow has already put its event in the inbox, which we then see. */
static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	bt_event_bus *bus = arg;
	(void)fd;
	(void)what;
	wake_drain(bus);

	if (!bus->taken) {
		pthread_mutex_lock(&bus->lock);
		bus->taken = bus->in_head;
		bus->in_head = bus->in_tail = NULL;
		bus->in_count = 0;
		pthread_mutex_unlock(&bus->lock);
	}
	for (unsigned int n = 0; bus->taken && n < bus->opt.batch; n++) {
		struct post_node *p = bus->taken;
		bus->taken = p->next;
		publish(bus, p->topic, p->len, p->payload, p->free_fn);
		free(p);
	}

	/* Posters only signal an empty inbox, and the drain above may have swallowed the signal of
	 * events we did not take: leftovers of either kind need our own wake-up. */
	bool more = bus->taken != NULL;
	if (!more) {
		pthread_mutex_lock(&bus->lock);
		more = bus->in_count > 0;
		pthread_mutex_unlock(&bus->lock);
	}
	if (more)
		wake_write(bus);
}

BT_EVENT_EXTERN int bt_event_post(bt_event_bus *bus, const char *topic, void *payload,
                                  bt_event_free_cb free_fn)
{
	size_t len = topic_len(topic);
	if (!bus || len == 0) {
		release_payload(payload, free_fn);
		return BT_EVENT_E_INVAL;
	}
	struct post_node *p = malloc(sizeof(*p) + len + 1);
	if (!p) {
		release_payload(payload, free_fn);
		return BT_EVENT_E_NOMEM;
	}
	p->next = NULL;
	p->payload = payload;
	p->free_fn = free_fn;
	p->len = len;
	memcpy(p->topic, topic, len + 1);

	pthread_mutex_lock(&bus->lock);
	if (bus->in_count >= bus->opt.post_limit) {
		pthread_mutex_unlock(&bus->lock);
		free(p);
		release_payload(payload, free_fn);
		return BT_EVENT_E_FULL;
	}
	bool was_empty = bus->in_count == 0;
	if (bus->in_tail)
		bus->in_tail->next = p;
	else
		bus->in_head = p;
	bus->in_tail = p;
	bus->in_count++;
	pthread_mutex_unlock(&bus->lock);

	/* One wake-up per empty-to-non-empty transition: the loop keeps going until it is empty. */
	if (was_empty)
		wake_write(bus);
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Bus
 * ------------------------------------------------------------------------------------------- */

static int wake_open(bt_event_bus *bus)
{
#ifdef HAVE_SYS_EVENTFD_H
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	bus->wake_rfd = bus->wake_wfd = fd;
#else
	int fds[2];
	if (pipe(fds) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		int fl = fcntl(fds[i], F_GETFL);
		if (fl < 0 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) < 0 ||
		    fcntl(fds[i], F_SETFD, FD_CLOEXEC) < 0) {
			int err = -errno;
			close(fds[0]);
			close(fds[1]);
			return err;
		}
	}
	bus->wake_rfd = fds[0];
	bus->wake_wfd = fds[1];
#endif
	return 0;
}

static void wake_close(bt_event_bus *bus)
{
	if (bus->wake_rfd >= 0)
		close(bus->wake_rfd);
	if (bus->wake_wfd >= 0 && bus->wake_wfd != bus->wake_rfd)
		close(bus->wake_wfd);
	bus->wake_rfd = bus->wake_wfd = -1;
}

static int check_options(const bt_event_bus_options *o)
{
	if (o->version != BT_EVENT_BUS_OPTIONS_VERSION)
		return BT_EVENT_E_VERSION;
	if (o->queue_limit == 0 || o->post_limit == 0 || o->batch == 0 || o->max_depth == 0)
		return BT_EVENT_E_INVAL;
	if (o->overflow != BT_EVENT_DROP_NEWEST && o->overflow != BT_EVENT_DROP_OLDEST)
		return BT_EVENT_E_INVAL;
	return 0;
}

BT_EVENT_EXTERN int bt_event_bus_new(bt_event_bus **out, struct event_base *base,
                                     const bt_event_bus_options *opts)
{
	if (!out)
		return BT_EVENT_E_INVAL;
	*out = NULL;
	if (!base)
		return BT_EVENT_E_INVAL;
	if (!opts)
		opts = &default_options;
	int rc = check_options(opts);
	if (rc < 0)
		return rc;

	bt_event_bus *bus = calloc(1, sizeof(*bus));
	if (!bus)
		return BT_EVENT_E_NOMEM;
	bus->base = base;
	bus->opt = *opts;
	bus->next_id = 1;
	bus->wake_rfd = bus->wake_wfd = -1;
	if (pthread_mutex_init(&bus->lock, NULL) != 0) {
		free(bus);
		return BT_EVENT_E_NOMEM;
	}
	rc = wake_open(bus);
	if (rc < 0)
		goto fail;
	rc = BT_EVENT_E_NOMEM;
	bus->dispatch_ev = event_new(base, -1, 0, dispatch_cb, bus);
	if (!bus->dispatch_ev)
		goto fail;
	bus->wake_ev = event_new(base, bus->wake_rfd, EV_READ | EV_PERSIST, wake_cb, bus);
	if (!bus->wake_ev || event_add(bus->wake_ev, NULL) < 0)
		goto fail;
	*out = bus;
	return 0;
fail:
	if (bus->wake_ev)
		event_free(bus->wake_ev);
	if (bus->dispatch_ev)
		event_free(bus->dispatch_ev);
	wake_close(bus);
	pthread_mutex_destroy(&bus->lock);
	free(bus);
	return rc;
}

/* Frees posted events that were never published, with their payloads. */
static void free_posts(struct post_node *p)
{
	while (p) {
		struct post_node *next = p->next;
		release_payload(p->payload, p->free_fn);
		free(p);
		p = next;
	}
}

BT_EVENT_EXTERN void bt_event_bus_free(bt_event_bus *bus)
{
	if (!bus)
		return;
	/* No callback of ours may run from here on. */
	event_free(bus->wake_ev);
	event_free(bus->dispatch_ev);
	wake_close(bus);

	free_posts(bus->taken);
	free_posts(bus->in_head);
	bus->taken = bus->in_head = bus->in_tail = NULL;
	bus->in_count = 0;
	pthread_mutex_destroy(&bus->lock);

	/* Queued deliveries first: they hold references to subscriptions and events. */
	while (bus->ring_count)
		delivery_release(bus, ring_pop(bus));
	free(bus->ring);

	for (size_t i = 0; i < bus->ntopics; i++) {
		struct topic *t = bus->topics[i];
		for (size_t j = 0; j < t->nsubs; j++)
			free(t->subs[j]); /* only the array refers to them now */
		free(t->subs);
		free(t);
	}
	free(bus->topics);
	free(bus->tindex);
	free(bus->smap);
	while (bus->ev_cache) {
		struct event_obj *ev = bus->ev_cache;
		bus->ev_cache = ev->next_free;
		free(ev);
	}
	free(bus);
}

BT_EVENT_EXTERN int bt_event_subscribe(bt_event_bus *bus, const char *topic, bt_event_delivery mode,
                                       bt_event_handler_cb handler, void *ud, bt_event_sub_id *out)
{
	if (out)
		*out = 0;
	size_t len = topic_len(topic);
	if (!bus || len == 0 || !handler || !out)
		return BT_EVENT_E_INVAL;
	if (mode != BT_EVENT_SYNC && mode != BT_EVENT_ASYNC)
		return BT_EVENT_E_INVAL;

	struct topic *t = topic_get(bus, topic, len);
	if (!t)
		return BT_EVENT_E_NOMEM;
	if (t->nsubs == t->cap) {
		topic_compact(t, true);
		if (t->nsubs == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 4;
			struct sub **v = realloc(t->subs, cap * sizeof(*v));
			if (!v)
				return BT_EVENT_E_NOMEM;
			t->subs = v;
			t->cap = cap;
		}
	}
	if (smap_reserve(bus) < 0)
		return BT_EVENT_E_NOMEM;
	struct sub *s = calloc(1, sizeof(*s));
	if (!s)
		return BT_EVENT_E_NOMEM;

	s->id = bus->next_id++;
	s->topic = t;
	s->handler = handler;
	s->ud = ud;
	s->mode = mode;
	s->in_array = true;
	s->refs = 1;
	t->subs[t->nsubs++] = s;
	t->live++;
	if (mode == BT_EVENT_SYNC)
		t->nsync++;
	else
		t->nasync++;
	smap_put(bus, s);
	*out = s->id;
	return 0;
}

BT_EVENT_EXTERN int bt_event_unsubscribe(bt_event_bus *bus, bt_event_sub_id id)
{
	if (!bus)
		return BT_EVENT_E_INVAL;
	struct sub **slot = smap_find(bus, id);
	if (!slot)
		return BT_EVENT_E_NOENT;
	struct sub *s = *slot;
	smap_remove(bus, slot);

	struct topic *t = s->topic;
	s->dead = true;
	t->live--;
	if (s->mode == BT_EVENT_SYNC)
		t->nsync--;
	else
		t->nasync--;
	/* Its queued deliveries stay in the ring until the loop or an overflow skips them. */
	t->st.queued -= s->pending;
	bus->ring_dead += s->pending;
	t->ndead++;
	topic_compact(t, false);
	return 0;
}

static void fill_stats(const struct topic *t, bt_event_topic_stats *out)
{
	*out = t->st;
	out->subscribers = t->live;
}

BT_EVENT_EXTERN int bt_event_topic_stats_get(bt_event_bus *bus, const char *topic,
                                             bt_event_topic_stats *out)
{
	size_t len = topic_len(topic);
	if (!bus || len == 0 || !out)
		return BT_EVENT_E_INVAL;
	struct topic *t = topic_find(bus, topic, len, hash_name(topic, len));
	if (!t)
		return BT_EVENT_E_NOENT;
	fill_stats(t, out);
	return 0;
}

BT_EVENT_EXTERN size_t bt_event_topic_foreach(bt_event_bus *bus, bt_event_topic_cb fn, void *ud)
{
	if (!bus)
		return 0;
	size_t n = bus->ntopics;
	for (size_t i = 0; fn && i < n; i++) {
		bt_event_topic_stats st;
		fill_stats(bus->topics[i], &st);
		fn(bus->topics[i]->name, &st, ud);
	}
	return n;
}

/* ---------------------------------------------------------------------------------------------
 * Pure functions
 * ------------------------------------------------------------------------------------------- */

/* Our own table instead of strerror(), which is not thread-safe, and whose thread-safe variants
 * differ between libcs.  Only errors a program could plausibly get from us or pass on. */
static const struct {
	int code;
	const char *msg;
} errno_messages[] = {
    {EPERM, "Operation not permitted"},
    {ENOENT, "No such file or directory"},
    {ESRCH, "No such process"},
    {EINTR, "Interrupted system call"},
    {EIO, "Input/output error"},
    {ENXIO, "No such device or address"},
    {E2BIG, "Argument list too long"},
    {EBADF, "Bad file descriptor"},
    {EAGAIN, "Resource temporarily unavailable"},
    {ENOMEM, "Cannot allocate memory"},
    {EACCES, "Permission denied"},
    {EFAULT, "Bad address"},
    {EBUSY, "Device or resource busy"},
    {EEXIST, "File exists"},
    {ENODEV, "No such device"},
    {ENOTDIR, "Not a directory"},
    {EISDIR, "Is a directory"},
    {EINVAL, "Invalid argument"},
    {ENFILE, "Too many open files in system"},
    {EMFILE, "Too many open files"},
    {ENOSPC, "No space left on device"},
    {ESPIPE, "Illegal seek"},
    {EROFS, "Read-only file system"},
    {EPIPE, "Broken pipe"},
    {EDOM, "Numerical argument out of domain"},
    {ERANGE, "Numerical result out of range"},
    {EDEADLK, "Resource deadlock avoided"},
    {ENAMETOOLONG, "File name too long"},
    {ENOSYS, "Function not implemented"},
    {ENOTSUP, "Operation not supported"},
    {EOVERFLOW, "Value too large for defined data type"},
    {EADDRINUSE, "Address already in use"},
    {EADDRNOTAVAIL, "Cannot assign requested address"},
    {ENETDOWN, "Network is down"},
    {ENETUNREACH, "Network is unreachable"},
    {ECONNABORTED, "Software caused connection abort"},
    {ECONNRESET, "Connection reset by peer"},
    {ENOBUFS, "No buffer space available"},
    {ENOTCONN, "Transport endpoint is not connected"},
    {ETIMEDOUT, "Connection timed out"},
    {ECONNREFUSED, "Connection refused"},
    {EHOSTUNREACH, "No route to host"},
    {EALREADY, "Operation already in progress"},
    {EINPROGRESS, "Operation now in progress"},
    {ECANCELED, "Operation canceled"},
};

static const char *errno_message(int e)
{
	for (size_t i = 0; i < sizeof(errno_messages) / sizeof(errno_messages[0]); i++)
		if (errno_messages[i].code == e)
			return errno_messages[i].msg;
	return "Unknown system error";
}

BT_EVENT_EXTERN const char *bt_event_strerror(int err)
{
	switch (err) {
	case 0:
		return "Success";
	case BT_EVENT_E_INVAL:
		return "Invalid argument";
	case BT_EVENT_E_NOMEM:
		return "Out of memory";
	case BT_EVENT_E_NOENT:
		return "No such subscription or topic";
	case BT_EVENT_E_FULL:
		return "Queue full, event dropped";
	case BT_EVENT_E_DEPTH:
		return "Synchronous publishes nested too deeply";
	case BT_EVENT_E_VERSION:
		return "Unknown options version";
	default:
		break;
	}
	if (err < 0 && err > -1000)
		return errno_message(-err);
	return "Unknown error";
}

BT_EVENT_EXTERN const char *bt_event_version(void)
{
	return BT_EVENT_VERSION_STRING;
}
