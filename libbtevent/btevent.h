/*
 * btevent.h - libbtevent, BitScrape's unified event system.
 *
 * Components publish typed events on named topics and others subscribe to them, so that no
 * component needs to know another: the DHT node publishes "dht.infohash", the metadata fetcher
 * subscribes to it and publishes "meta.torrent", the store subscribes to that.  A bus is bound to
 * one libevent event_base (the "loop") and lives on the thread that runs that loop.
 *
 * Delivery is chosen per subscription:
 *   - BT_EVENT_SYNC:  the handler runs inside bt_event_publish(), before it returns;
 *   - BT_EVENT_ASYNC: the delivery is queued and the handler runs later from the loop.
 * The asynchronous queue is bounded (bt_event_bus_options.queue_limit); when it is full the
 * bus applies its overflow policy and counts what it dropped per topic.
 *
 * Threads: every function runs on the loop thread only, except bt_event_post(), which any thread
 * may call, and bt_event_strerror()/bt_event_version(), which are pure.
 *
 * Example:
 *
 *     static void on_torrent(const char *topic, void *payload, void *ud)
 *     {
 *         struct torrent *t = payload;          // valid until this handler returns
 *         ...
 *     }
 *
 *     bt_event_bus *bus;
 *     bt_event_bus_options o = BT_EVENT_BUS_OPTIONS_INIT;
 *     if (bt_event_bus_new(&bus, base, &o) < 0) ...
 *     bt_event_sub_id id;
 *     bt_event_subscribe(bus, "meta.torrent", BT_EVENT_ASYNC, on_torrent, ctx, &id);
 *     bt_event_publish(bus, "meta.torrent", t, torrent_free);   // bus now owns t
 *     ...
 *     bt_event_unsubscribe(bus, id);
 *     bt_event_bus_free(bus);
 */
#ifndef BTEVENT_H
#define BTEVENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(BT_EVENT_BUILDING) && defined(__GNUC__)
#define BT_EVENT_EXTERN __attribute__((visibility("default")))
#else
#define BT_EVENT_EXTERN
#endif

struct event_base;

/** A bus: opaque, created by bt_event_bus_new(), freed by bt_event_bus_free(). */
typedef struct bt_event_bus bt_event_bus;

/**
 * A subscription handle.  Never 0 for a live subscription; a handle is never reused by the same
 * bus, so unsubscribing a stale handle is detected (BT_EVENT_E_NOENT) rather than hitting someone
 * else's subscription.
 */
typedef uint64_t bt_event_sub_id;

/** Error codes.  0 is success; system errors are -errno; library errors are in this range. */
enum {
	BT_EVENT_E_INVAL = -1000, /**< an argument is NULL, empty or out of range */
	BT_EVENT_E_NOMEM = -1001, /**< out of memory */
	BT_EVENT_E_NOENT = -1002, /**< no such subscription or topic */
	BT_EVENT_E_FULL = -1003,  /**< a bounded queue is full; the event was dropped */
	BT_EVENT_E_DEPTH = -1004, /**< synchronous publishes nested deeper than max_depth */
	BT_EVENT_E_VERSION = -1005 /**< the options struct has an unknown version */
};

/** How a subscription receives events. */
typedef enum bt_event_delivery {
	BT_EVENT_SYNC = 0, /**< inside bt_event_publish(), in subscription order */
	BT_EVENT_ASYNC = 1 /**< queued, later, from the loop, in publish order */
} bt_event_delivery;

/** What the bus does when the asynchronous queue is full. */
typedef enum bt_event_overflow {
	/** Refuse the new delivery and count it as dropped (default: never loses an old event). */
	BT_EVENT_DROP_NEWEST = 0,
	/** Discard the oldest queued delivery to make room and count that one as dropped. */
	BT_EVENT_DROP_OLDEST = 1
} bt_event_overflow;

/**
 * A handler.  @topic is the topic's name and @payload the published pointer; both stay valid only
 * until the handler returns (copy what you keep).  @ud is the pointer given to
 * bt_event_subscribe().  Runs on the loop thread.  It may publish, subscribe and unsubscribe
 * (itself included) on the same bus; it must not free the bus.
 */
typedef void (*bt_event_handler_cb)(const char *topic, void *payload, void *ud);

/** Frees a payload once the last handler that receives it has run.  May be NULL.  Runs on the
 *  loop thread, except when bt_event_post() fails (the posting thread) and from
 *  bt_event_bus_free().  It must not call functions of the bus. */
typedef void (*bt_event_free_cb)(void *payload);

#define BT_EVENT_BUS_OPTIONS_VERSION 1

/** Options for bt_event_bus_new().  Start from BT_EVENT_BUS_OPTIONS_INIT; fields may be added at
 *  the end in later versions. */
typedef struct bt_event_bus_options {
	unsigned int version;       /**< BT_EVENT_BUS_OPTIONS_VERSION */
	size_t queue_limit;         /**< max queued async deliveries, all topics (default 65536) */
	bt_event_overflow overflow; /**< policy when the queue is full (default DROP_NEWEST) */
	size_t post_limit;          /**< max events posted by other threads and not yet taken in by
	                                 the loop (default 65536) */
	unsigned int batch;         /**< max async deliveries per loop iteration, so the bus never
	                                 starves other events (default 1024) */
	unsigned int max_depth;     /**< max nesting of synchronous publishes (default 64) */
} bt_event_bus_options;

#define BT_EVENT_BUS_OPTIONS_INIT \
	{ BT_EVENT_BUS_OPTIONS_VERSION, 65536, BT_EVENT_DROP_NEWEST, 65536, 1024, 64 }

/** Counters of one topic, since the bus was created. */
typedef struct bt_event_topic_stats {
	uint64_t published;   /**< bt_event_publish()/bt_event_post() calls that reached the loop
	                           and were accepted (not failed with _INVAL, _DEPTH or _NOMEM) */
	uint64_t delivered;   /**< handler invocations */
	uint64_t dropped;     /**< deliveries lost to a full queue (see bt_event_overflow) */
	uint64_t queued;      /**< async deliveries waiting now */
	unsigned int subscribers; /**< live subscriptions now */
} bt_event_topic_stats;

/**
 * Create a bus on @base.
 *
 * @out:  receives the bus; the caller frees it with bt_event_bus_free().
 * @base: the libevent loop; must outlive the bus.  Need not have libevent's thread support.
 * @opts: options, or NULL for the defaults.
 *
 * The bus keeps a read event pending on @base for the whole of its life (the wake-up channel of
 * bt_event_post()), so event_base_dispatch() does not return for lack of events while the bus
 * exists: stop the loop with event_base_loopbreak()/event_base_loopexit().
 *
 * Returns 0, BT_EVENT_E_INVAL (NULL @out or @base, a zero limit, an unknown overflow policy),
 * BT_EVENT_E_VERSION, BT_EVENT_E_NOMEM, or -errno if the cross-thread wake-up channel could not
 * be created.  On failure *@out is set to NULL.
 */
BT_EVENT_EXTERN int bt_event_bus_new(bt_event_bus **out, struct event_base *base,
                                     const bt_event_bus_options *opts);

/**
 * Free @bus: its subscriptions end, queued and posted events are freed with their free
 * functions without being delivered.  NULL is accepted.  Must not be called from a handler, nor
 * while another thread may still call bt_event_post() on it.
 */
BT_EVENT_EXTERN void bt_event_bus_free(bt_event_bus *bus);

/**
 * Subscribe @handler to @topic.
 *
 * @topic:   a NUL-terminated name, 1 to 255 bytes; copied.  Topics need not exist beforehand.
 * @mode:    BT_EVENT_SYNC or BT_EVENT_ASYNC.
 * @ud:      passed to every call of @handler; not owned by the bus.
 * @out:     receives the handle for bt_event_unsubscribe().
 *
 * A subscription made inside a handler does not receive the event being delivered.
 * Returns 0, BT_EVENT_E_INVAL or BT_EVENT_E_NOMEM.
 */
BT_EVENT_EXTERN int bt_event_subscribe(bt_event_bus *bus, const char *topic,
                                       bt_event_delivery mode, bt_event_handler_cb handler,
                                       void *ud, bt_event_sub_id *out);

/**
 * End subscription @id.  Once this returns, its handler is never called again, even for
 * deliveries already queued, and even when called from inside a handler of the same event.
 * Returns 0, BT_EVENT_E_NOENT if @id is not a live subscription of @bus, or BT_EVENT_E_INVAL if
 * @bus is NULL.
 */
BT_EVENT_EXTERN int bt_event_unsubscribe(bt_event_bus *bus, bt_event_sub_id id);

/**
 * Publish @payload on @topic, on the loop thread.
 *
 * Synchronous subscribers run before this returns; asynchronous ones are queued.  Ownership of
 * @payload passes to the bus in every case, success or failure: @free_fn (if not NULL) is called
 * exactly once, after the last handler that receives it ran (at once if nobody subscribes).
 *
 * Returns 0 when every subscriber got or was queued the event and nothing was dropped,
 * BT_EVENT_E_FULL if the queue was full and the overflow policy dropped at least one async
 * delivery, of this event (DROP_NEWEST) or an older one (DROP_OLDEST) (the others still happen),
 * BT_EVENT_E_DEPTH if called from nested synchronous handlers deeper than max_depth (nothing
 * delivered), BT_EVENT_E_INVAL, or BT_EVENT_E_NOMEM (nothing delivered).
 */
BT_EVENT_EXTERN int bt_event_publish(bt_event_bus *bus, const char *topic, void *payload,
                                     bt_event_free_cb free_fn);

/**
 * Publish from any thread.  The event is handed to the loop thread, which publishes it as
 * bt_event_publish() would: every handler, synchronous ones included, runs on the loop thread.
 * Events posted by one thread are published in the order that thread posted them.
 *
 * Ownership of @payload passes to the bus in every case; on failure @free_fn runs on the calling
 * thread before this returns.  Returns 0, BT_EVENT_E_FULL when post_limit events are already
 * waiting, BT_EVENT_E_INVAL or BT_EVENT_E_NOMEM.
 */
BT_EVENT_EXTERN int bt_event_post(bt_event_bus *bus, const char *topic, void *payload,
                                  bt_event_free_cb free_fn);

/**
 * Read the counters of @topic into @out.
 * Returns 0, BT_EVENT_E_NOENT if nothing was ever published or subscribed on @topic, or
 * BT_EVENT_E_INVAL.
 */
BT_EVENT_EXTERN int bt_event_topic_stats_get(bt_event_bus *bus, const char *topic,
                                             bt_event_topic_stats *out);

/**
 * Call @fn once per known topic, in creation order, with its name and counters (for a status
 * page); both are valid only during the call.  @fn must not publish, subscribe or unsubscribe.
 * Returns the number of topics; 0 if @bus is NULL.  A NULL @fn only counts them.
 */
typedef void (*bt_event_topic_cb)(const char *topic, const bt_event_topic_stats *stats, void *ud);
BT_EVENT_EXTERN size_t bt_event_topic_foreach(bt_event_bus *bus, bt_event_topic_cb fn, void *ud);

/** A static English message for an error code of this library or a -errno.  Never NULL. */
BT_EVENT_EXTERN const char *bt_event_strerror(int err);

/** The library's version, e.g. "0.1.0".  Static. */
BT_EVENT_EXTERN const char *bt_event_version(void);

#ifdef __cplusplus
}
#endif

#endif /* BTEVENT_H */
