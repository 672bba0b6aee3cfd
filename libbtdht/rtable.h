/*
 * rtable.h - the routing table of BEP 5 for one address family (BEP 32: one table per family).
 * Internal to libbtdht.  No I/O and no clock of its own: every call that needs the time takes
 * @now (milliseconds, monotonic); the engine decides whom to ping and when.
 *
 * Buckets hold K = 8 nodes.  Bucket i (i < nbuckets - 1) holds the nodes whose id shares exactly
 * i leading bits with our own; the last bucket holds all that share more.  Only the last bucket
 * splits (it is the one that contains our id), so there are at most 160 buckets.  Each bucket
 * keeps a replacement cache of up to K candidates, most recently heard first.
 *
 * Node states (BEP 5): good = answered one of our queries in the last 15 minutes, or answered
 * one ever and queried us in the last 15 minutes; bad = failed BT_DHT__RT_BAD_FAILS queries in a
 * row; questionable otherwise.
 *
 * Admission, which keeps the table honest:
 *   - only a node that answered our query (BT_DHT__RT_REPLIED) enters a bucket; a node that only
 *     queried us (BT_DHT__RT_QUERIED) refreshes its entry if it has one, else goes to the
 *     replacement cache, from where the engine may verify it with a ping;
 *   - at most one entry per IP address in the whole table (buckets and caches); an id never
 *     moves to another address while its entry is not bad;
 *   - a full bucket that cannot split replaces a bad node, else caches the newcomer.
 * A node that becomes bad is replaced by the freshest cached candidate that has replied, if any.
 */
#ifndef BT_DHT_RTABLE_H
#define BT_DHT_RTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "id.h"

#define BT_DHT__K 8
#define BT_DHT__RT_BAD_FAILS 2
#define BT_DHT__RT_GOOD_MS (15 * 60 * 1000)  /* 15 minutes */

enum {
	BT_DHT__RT_F_REPLIED = 1,   /* has answered at least one of our queries */
	BT_DHT__RT_F_BEP42 = 2,     /* id is valid for its IP by BEP 42 */
	BT_DHT__RT_F_CACHED = 4     /* in a replacement cache, not a bucket */
};

typedef struct bt_dht__rt_node {
	bt_id id;
	bt_addr addr;
	uint64_t last_reply;   /* ms; 0: never */
	uint64_t last_query;   /* ms; 0: never */
	uint64_t last_ping;    /* ms; 0: never: when the engine last sent it a ping */
	uint8_t fails;         /* consecutive unanswered queries */
	uint8_t flags;         /* BT_DHT__RT_F_* */
} bt_dht__rt_node;

typedef enum bt_dht__rt_how {
	BT_DHT__RT_REPLIED = 1, /* it answered one of our queries */
	BT_DHT__RT_QUERIED = 2  /* it sent us a query */
} bt_dht__rt_how;

typedef enum bt_dht__rt_result {
	BT_DHT__RT_ADDED = 1,    /* entered a bucket */
	BT_DHT__RT_UPDATED = 2,  /* was in a bucket or cache; timestamps refreshed */
	BT_DHT__RT_CACHED = 3,   /* entered a replacement cache */
	BT_DHT__RT_REJECTED = 0  /* our own id, IP already present under another id, id at
	                            another address, table at max_nodes, or no room anywhere */
} bt_dht__rt_result;

typedef enum bt_dht__rt_state {
	BT_DHT__RT_GOOD = 1,
	BT_DHT__RT_QUESTIONABLE = 2,
	BT_DHT__RT_BAD = 3
} bt_dht__rt_state;

typedef struct bt_dht__rtable bt_dht__rtable;

/* A table for @family (4 or 6) around @self, holding at most @max_nodes entries counting caches
 * (0: no limit beyond the buckets').  Returns 0 or -ENOMEM / -EINVAL. */
int bt_dht__rt_new(bt_dht__rtable **out, const bt_id *self, int family, size_t max_nodes);
void bt_dht__rt_free(bt_dht__rtable *rt);

/* Change the bound on entries (0: none beyond the buckets').  Lowering it drops cached candidates
 * that never answered, then the other cached ones, then bad bucket nodes, until the table fits;
 * good and questionable bucket nodes are never dropped for it, and while the table is over its
 * bound no newcomer is admitted. */
void bt_dht__rt_set_max(bt_dht__rtable *rt, size_t max_nodes);

/* Change our own id (BEP 42 after learning our address): the table is rebuilt around it, keeping
 * as many nodes as fit. */
int bt_dht__rt_set_self(bt_dht__rtable *rt, const bt_id *self);
const bt_id *bt_dht__rt_self(const bt_dht__rtable *rt);

/* Node @id at @addr was heard from.  @flags: BT_DHT__RT_F_BEP42 if its id checks out.  Returns a
 * bt_dht__rt_result.  An address of the wrong family is rejected. */
bt_dht__rt_result bt_dht__rt_heard(bt_dht__rtable *rt, const bt_id *id, const bt_addr *addr,
                                   bt_dht__rt_how how, unsigned flags, uint64_t now);

/* A query to @id at @addr went unanswered (after retries).  Returns true if the node is now bad
 * (and was replaced or removed when a cached candidate took its place). */
bool bt_dht__rt_failed(bt_dht__rtable *rt, const bt_id *id, const bt_addr *addr, uint64_t now);

/* The node's state, or 0 when @id is not in a bucket. */
bt_dht__rt_state bt_dht__rt_state_of(const bt_dht__rtable *rt, const bt_id *id, uint64_t now);

/* Up to @k bucket nodes closest to @target by XOR, closest first, bad ones skipped, copied into
 * @out.  Walks buckets outward from the target's (the target's bucket, then all deeper ones, then
 * shallower ones one by one: each band is strictly farther than the one before), so it costs
 * O(k log k) plus a few buckets, not a scan of the table.  Returns how many. */
size_t bt_dht__rt_closest(const bt_dht__rtable *rt, const bt_id *target, bt_dht__rt_node *out,
                          size_t k, uint64_t now);

/* The next node the engine should ping: a questionable bucket node not pinged in the last
 * @min_gap_ms, else a cached candidate that never replied (to verify it).  Sets its last_ping to
 * @now and copies it to @out.  Returns false when there is none. */
bool bt_dht__rt_next_ping(bt_dht__rtable *rt, uint64_t now, uint64_t min_gap_ms,
                          bt_dht__rt_node *out);

/* A bucket that has not changed for @stale_ms: writes a target inside its range (random bits from
 * @rnd below its prefix) to @target, marks the bucket refreshed at @now and returns true. */
bool bt_dht__rt_refresh_target(bt_dht__rtable *rt, uint64_t now, uint64_t stale_ms,
                               const uint8_t rnd[BT_ID_LEN], bt_id *target);

typedef struct bt_dht__rt_stats {
	size_t buckets;
	size_t good, questionable, bad; /* bucket nodes */
	size_t cached;                  /* replacement-cache entries */
	size_t bytes;                   /* memory held by the table */
} bt_dht__rt_stats;
void bt_dht__rt_get_stats(const bt_dht__rtable *rt, uint64_t now, bt_dht__rt_stats *st);

/* Calls @fn for every bucket node (not cached ones), bucket by bucket. */
typedef void (*bt_dht__rt_node_cb)(const bt_dht__rt_node *n, void *ud);
void bt_dht__rt_foreach(const bt_dht__rtable *rt, bt_dht__rt_node_cb fn, void *ud);

#endif
