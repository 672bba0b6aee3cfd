/*
 * peerstore.h - the announce store of a DHT node: peers announced to us per infohash (BEP 5
 * announce_peer), served back through get_peers, and sampled for BEP 51 sample_infohashes.
 * Internal to libbtdht.  Bounded in every dimension, whatever remote nodes send:
 *   - at most max_infohashes infohashes; when full, the infohash announced least recently goes;
 *   - at most max_peers peers per infohash and family; when full, the oldest announce goes;
 *   - a peer expires ttl_ms after its last announce (BEP 5 leaves this to us; 30 min is usual).
 * Times are milliseconds from a monotonic clock, passed in; randomness comes from the caller.
 * Expired peers are never returned; the memory they hold is reclaimed by bt_dht__ps_expire (and
 * opportunistically by add and get).  Not thread-safe: one caller at a time.
 */
#ifndef BT_DHT_PEERSTORE_H
#define BT_DHT_PEERSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "id.h"

typedef struct bt_dht__ps bt_dht__ps;

/* Bounds of the limits: announce times are kept as 32-bit millisecond offsets and per-infohash
 * counts as 16-bit integers, to keep each stored peer small (10 bytes for IPv4, 22 for IPv6). */
#define BT_DHT__PS_MAX_INFOHASHES ((size_t)1 << 28)
#define BT_DHT__PS_MAX_PEERS 65535
#define BT_DHT__PS_MAX_TTL_MS ((uint64_t)1 << 31) /* about 24.8 days */

typedef struct bt_dht__ps_limits {
	size_t max_infohashes; /* e.g. 100,000; 1..BT_DHT__PS_MAX_INFOHASHES */
	size_t max_peers;      /* per infohash and family, e.g. 200; 1..BT_DHT__PS_MAX_PEERS */
	uint64_t ttl_ms;       /* e.g. 30 minutes; 1..BT_DHT__PS_MAX_TTL_MS */
	uint64_t sample_interval_ms; /* BEP 51: how long one sample is served before a new one */
} bt_dht__ps_limits;

/* A new, empty store in *@out, which the caller frees with bt_dht__ps_free (NULL is accepted).
 * @hash_key: a random secret for the hash table, so remote nodes cannot choose colliding keys.
 * Returns 0, -EINVAL if a limit is out of its range (*@out is then NULL), or -ENOMEM. */
int bt_dht__ps_new(bt_dht__ps **out, const bt_dht__ps_limits *lim, uint64_t hash_key);
void bt_dht__ps_free(bt_dht__ps *ps);

/* Change the limits at run time; shrinking evicts at once (least recently announced infohashes,
 * oldest announces), and memory above the new limits is released.  A shorter ttl takes effect at
 * once for get and sample; @now tells expired peers from evicted ones in the stats.  0, or
 * -EINVAL with the store unchanged. */
int bt_dht__ps_set_limits(bt_dht__ps *ps, const bt_dht__ps_limits *lim, uint64_t now);

/* Store or refresh @peer for @ih; either way @ih becomes the most recently announced infohash.
 * Returns 1 if @ih was new (or all its peers had expired), 0 if known, -EINVAL if @peer's family
 * is neither 4 nor 6, -ENOMEM (nothing was evicted for an infohash that could not be stored). */
int bt_dht__ps_add(bt_dht__ps *ps, const bt_id *ih, const bt_addr *peer, uint64_t now);

/* Up to @max unexpired peers of @family (4 or 6) for @ih into @out (room for @max), a random
 * choice when there are more, all distinct; @rnd seeds the choice.  Returns how many (0 for an
 * unknown infohash or another family).  May drop expired peers as it meets them. */
size_t bt_dht__ps_get(bt_dht__ps *ps, const bt_id *ih, int family, bt_addr *out, size_t max,
                      uint64_t now, uint64_t rnd);

/* Drop expired peers and infohashes left empty.  Cheap to call often: it does a bounded amount of
 * work per call (at most @budget infohashes examined) and resumes where it stopped. */
void bt_dht__ps_expire(bt_dht__ps *ps, uint64_t now, size_t budget);

/* BEP 51: up to @max infohashes (20 bytes each) into @out, random when more are stored; the same
 * sample is returned until sample_interval_ms has passed since it was drawn.  *@num receives the
 * number of infohashes stored (@num may be NULL).  Returns how many were written.
 * A sample is drawn (one pass over the store) by the first call with @max > 0 after the interval,
 * at that call's @max and among infohashes with an unexpired announce; later calls in the interval
 * get at most that many, possibly naming infohashes dropped since.  @max 0 only sets *@num. */
size_t bt_dht__ps_sample(bt_dht__ps *ps, uint8_t *out, size_t max, uint64_t now, uint64_t rnd,
                         size_t *num);

typedef struct bt_dht__ps_stats {
	size_t infohashes;
	size_t peers;
	size_t bytes; /* memory held: bytes allocated, not counting the allocator's overhead */
	uint64_t evicted_infohashes; /* infohashes with a live peer dropped for max_infohashes */
	uint64_t evicted_peers; /* live peers dropped for a limit, with their infohash or not */
	uint64_t expired_peers; /* peers dropped after their ttl */
} bt_dht__ps_stats;
void bt_dht__ps_get_stats(const bt_dht__ps *ps, bt_dht__ps_stats *st);

#endif
