/*
 * btdht.h - libbtdht, a BitTorrent Mainline DHT node (BEP 5, 32, 42, 43, 51) for embedding.
 *
 * The node is a protocol engine with no I/O of its own: the program feeds it the datagrams it
 * receives (bt_dht_input) and the passing of time (bt_dht_tick), and the engine calls the program
 * back to send datagrams.  That makes it easy to test (tests drive it with bytes and a fake
 * clock) and to put on any event loop.  Every time is a monotonic clock in milliseconds chosen
 * by the caller (e.g. CLOCK_MONOTONIC); the engine never reads a clock.
 *
 * The node answers ping, find_node, get_peers, announce_peer and sample_infohashes truthfully
 * (unless read-only, BEP 43), keeps a routing table per address family, stores announces, and
 * runs iterative lookups for the program (bt_dht_search, which can also announce) and single
 * queries (bt_dht_ping, bt_dht_sample).  What it discovers is reported through the callbacks of
 * bt_dht_options; they run inside bt_dht_input/bt_dht_tick, on the caller's thread.
 *
 * Threads: a bt_dht is not thread-safe; call everything from one thread.
 *
 * Example (see also bt_dht_new(3)):
 *
 *     static int send_cb(const uint8_t *p, size_t n, const struct sockaddr *to, socklen_t tl,
 *                        void *ud) { return sendto(*(int *)ud, p, n, 0, to, tl) < 0 ? -errno : 0; }
 *
 *     bt_dht_options o = BT_DHT_OPTIONS_INIT;
 *     o.send = send_cb; o.send_ud = &fd;
 *     bt_dht *dht;
 *     bt_dht_new(&dht, &o, now_ms());
 *     bt_dht_add_node(dht, (struct sockaddr *)&router, sizeof(router), now_ms());
 *     for (;;) {
 *         n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);  // with a timeout
 *         if (n > 0) bt_dht_input(dht, buf, n, (struct sockaddr *)&from, fl, now_ms());
 *         timeout_ms = bt_dht_tick(dht, now_ms());
 *     }
 */
#ifndef BTDHT_H
#define BTDHT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(BT_DHT_BUILDING) && defined(__GNUC__)
#define BT_DHT_EXTERN __attribute__((visibility("default")))
#else
#define BT_DHT_EXTERN
#endif

/** A DHT node: opaque, created by bt_dht_new(), freed by bt_dht_free(). */
typedef struct bt_dht bt_dht;

/** Error codes: 0 is success, system errors are -errno, library errors are in this range. */
enum {
	BT_DHT_E_INVAL = -2000,   /**< an argument is NULL or out of range */
	BT_DHT_E_NOMEM = -2001,   /**< out of memory */
	BT_DHT_E_VERSION = -2002, /**< unknown options version */
	BT_DHT_E_FAMILY = -2003,  /**< an address of a family the node does not run */
	BT_DHT_E_LIMIT = -2004,   /**< a limit (queries/s, searches, transactions) refused it now */
	BT_DHT_E_FORMAT = -2005,  /**< bt_dht_load(): not a state saved by bt_dht_save() */
	BT_DHT_E_NOENT = -2006    /**< no such search */
};

/** Address families a node runs (BEP 32: one routing table each). */
enum { BT_DHT_IPV4 = 1, BT_DHT_IPV6 = 2 };

/** How strictly BEP 42 (node ids bound to IP addresses) is applied. */
typedef enum bt_dht_bep42 {
	/** Derive our id from our external address once known; accept every node. */
	BT_DHT_BEP42_DERIVE = 0,
	/** Also refuse nodes whose id does not match their address (local addresses are exempt). */
	BT_DHT_BEP42_ENFORCE = 1,
	/** Neither: keep the id we were given or drew, accept every node. */
	BT_DHT_BEP42_OFF = 2
} bt_dht_bep42;

/**
 * Sends one datagram.  Return 0, or a negative -errno (counted as a send error).  Must not call
 * back into the node.  @data is valid only during the call.
 */
typedef int (*bt_dht_send_cb)(const uint8_t *data, size_t len, const struct sockaddr *to,
                              socklen_t tolen, void *ud);

/** How an infohash came to our notice. */
typedef enum bt_dht_source {
	BT_DHT_SRC_GET_PEERS = 1, /**< a node asked us get_peers for it */
	BT_DHT_SRC_ANNOUNCE = 2,  /**< a node announced a peer for it to us */
	BT_DHT_SRC_SAMPLE = 3,    /**< a node returned it in a BEP 51 sample */
	BT_DHT_SRC_SEARCH = 4     /**< a peer found by one of our searches */
} bt_dht_source;

/**
 * An infohash was seen.  @peer is the announced peer (SRC_ANNOUNCE) or the peer a search found
 * (SRC_SEARCH), NULL otherwise; @from is the node that told us.  Runs inside bt_dht_input().
 * Must not free the node; may cancel searches and send queries.
 */
typedef void (*bt_dht_infohash_cb)(const uint8_t infohash[20], bt_dht_source src,
                                   const struct sockaddr *from, socklen_t fromlen,
                                   const struct sockaddr *peer, socklen_t peerlen, void *ud);

/** A node that answered one of our queries entered a bucket of the routing table (it may do
 *  so again after it was evicted).  Not called when the table itself moves a cached node into a
 *  bucket (replacing a bad node, splitting).  May send queries; must not free the node. */
typedef void (*bt_dht_node_cb)(const uint8_t id[20], const struct sockaddr *addr, socklen_t len,
                               void *ud);

/** Log levels of bt_dht_log_cb. */
enum { BT_DHT_LOG_ERROR = 0, BT_DHT_LOG_WARN = 1, BT_DHT_LOG_INFO = 2, BT_DHT_LOG_DEBUG = 3 };

/** A log line without a trailing newline; valid only during the call. */
typedef void (*bt_dht_log_cb)(int level, const char *msg, void *ud);

#define BT_DHT_OPTIONS_VERSION 1

/**
 * Options of bt_dht_new().  Start from BT_DHT_OPTIONS_INIT; fields are only ever appended.
 * The limits (the fields from max_out_qps on) can also be changed later with
 * bt_dht_set_limits().
 */
typedef struct bt_dht_options {
	unsigned int version;      /**< BT_DHT_OPTIONS_VERSION */
	unsigned int families;     /**< BT_DHT_IPV4 | BT_DHT_IPV6 (default both) */
	const uint8_t *node_id;    /**< 20 bytes to use as our id, or NULL to draw one */
	bt_dht_bep42 bep42;        /**< default BT_DHT_BEP42_DERIVE */
	int read_only;             /**< BEP 43: ask others not to add us; answer no queries */
	uint8_t client_version[4]; /**< "v" sent with every message (default "BS" 0 1) */
	uint64_t seed;             /**< 0: seed the node's randomness from the system; other
	                                values make ids, tokens and choices repeatable (tests) */

	bt_dht_send_cb send; /**< required */
	void *send_ud;
	bt_dht_infohash_cb on_infohash; /**< optional */
	bt_dht_node_cb on_node;         /**< optional */
	bt_dht_log_cb log;              /**< optional */
	void *cb_ud;                    /**< passed to on_infohash, on_node and log */

	/* Limits. */
	unsigned int max_out_qps;      /**< queries we send per second, all nodes, never more in
	                                    any window of one second, bursts and retries included
	                                    (default 100) */
	unsigned int max_out_bps;      /**< bytes we send per second, replies included (default
	                                    262144) */
	unsigned int max_in_qps_ip;    /**< queries per second we answer from one IP (default 10;
	                                    0: no limit);
	                                    the rest are dropped and counted */
	unsigned int max_nodes;        /**< routing-table entries per family, caches included
	                                    (default 0: only the 160 buckets' own bound, 2560) */
	unsigned int max_infohashes;   /**< announce store: infohashes, 1..2^28 (default 100000) */
	unsigned int max_peers;        /**< announce store: peers per infohash and family, 1..65535
	                                    (default 200) */
	unsigned int peer_ttl_s;       /**< announce store: a peer's life after its announce,
	                                    1..2000000 s (default 1800) */
	unsigned int query_timeout_ms; /**< one try of a query (default 2000) */
	unsigned int query_retries;    /**< tries after the first (default 1) */
	unsigned int max_searches;     /**< searches running at once (default 64) */
} bt_dht_options;

#define BT_DHT_OPTIONS_INIT                                                                        \
	{                                                                                          \
		BT_DHT_OPTIONS_VERSION, BT_DHT_IPV4 | BT_DHT_IPV6, NULL, BT_DHT_BEP42_DERIVE, 0,   \
		    {'B', 'S', 0, 1}, 0, NULL, NULL, NULL, NULL, NULL, NULL, 100, 262144, 10, 0,   \
		    100000, 200, 1800, 2000, 1, 64                                                 \
	}

/**
 * Create a node.
 *
 * @out:  receives the node; free it with bt_dht_free().
 * @opts: options (the send callback is required); copied, except node_id which is read now.
 * @now:  the current time, ms.
 *
 * Returns 0, BT_DHT_E_INVAL (no send callback, a limit out of range), BT_DHT_E_VERSION,
 * BT_DHT_E_NOMEM, or -errno when the system gives no randomness (seed 0).  Sends nothing: add
 * nodes with bt_dht_add_node() or bt_dht_load().
 */
BT_DHT_EXTERN int bt_dht_new(bt_dht **out, const bt_dht_options *opts, uint64_t now);

/** Free @dht and everything it holds; searches end without their done callback.  NULL is
 *  accepted.  Must not be called from one of its callbacks. */
BT_DHT_EXTERN void bt_dht_free(bt_dht *dht);

/**
 * Feed one received datagram.  Whatever it holds, it is answered, used or dropped and counted;
 * it never makes the node misbehave.  @from is the sender.  Callbacks run from here.
 * Returns 0 if the datagram was a KRPC message we handled (or a query a read-only node ignores),
 * or a negative code saying why it was dropped (BT_DHT_E_INVAL for a NULL argument or a
 * malformed message, BT_DHT_E_LIMIT when rate-limited, BT_DHT_E_FAMILY for a family the node
 * does not run or a source port 0).
 */
BT_DHT_EXTERN int bt_dht_input(bt_dht *dht, const uint8_t *data, size_t len,
                               const struct sockaddr *from, socklen_t fromlen, uint64_t now);

/**
 * Let time pass: expire queries and retry them, advance searches, ping questionable nodes,
 * refresh stale buckets, bootstrap again when a table is empty, expire announces.
 * Returns the milliseconds after which it wants to be called again (at most 1000); calling it
 * earlier or more often is harmless.
 */
BT_DHT_EXTERN unsigned int bt_dht_tick(bt_dht *dht, uint64_t now);

/**
 * Contact a node we only know the address of (a bootstrap router, a saved node): it is sent a
 * find_node for our own id, and enters the table if it answers.  Nodes given here are kept as
 * bootstrap contacts (up to 64) and asked again whenever the table of their family empties,
 * even when this first query could not be sent.
 * Returns 0, BT_DHT_E_FAMILY, BT_DHT_E_INVAL, or BT_DHT_E_LIMIT when the query was not sent
 * (query or byte budget spent, 4096 queries pending, or the send callback failed).
 */
BT_DHT_EXTERN int bt_dht_add_node(bt_dht *dht, const struct sockaddr *addr, socklen_t len,
                                  uint64_t now);

/**
 * The outcome of bt_dht_ping(): @ok is 1 when the node answered, with its @id, the "v" it sent
 * (@version, @vlen bytes, NULL if none) and the round trip in ms (@rtt_ms, from the last try);
 * 0 after the last retry timed out or an error came back (@id and @version NULL).
 */
typedef void (*bt_dht_ping_cb)(int ok, const struct sockaddr *addr, socklen_t len,
                               const uint8_t id[20], const uint8_t *version, size_t vlen,
                               unsigned rtt_ms, void *ud);

/**
 * Ping @addr once (with the usual retries); an answer may add the node to the table.  @cb (may
 * be NULL) learns the outcome.  Returns 0 or a negative code (BT_DHT_E_FAMILY, BT_DHT_E_INVAL,
 * BT_DHT_E_LIMIT).
 */
BT_DHT_EXTERN int bt_dht_ping(bt_dht *dht, const struct sockaddr *addr, socklen_t len,
                              bt_dht_ping_cb cb, void *ud, uint64_t now);

/**
 * A search's results: called once per new peer (@peer non-NULL) found for the infohash, and once
 * more with @peer NULL when the search is over (@done = 1).  @ud as given.  A search may be
 * cancelled from inside its callback.
 */
typedef void (*bt_dht_search_cb)(const uint8_t infohash[20], const struct sockaddr *peer,
                                 socklen_t peerlen, int done, void *ud);

/** Search flags. */
enum {
	BT_DHT_SEARCH_ANNOUNCE = 1,    /**< announce_peer to the closest nodes at the end */
	BT_DHT_SEARCH_IMPLIED_PORT = 2 /**< ... with implied_port (the port we send from) */
};

/**
 * Start an iterative get_peers lookup for @infohash on every family the node runs: α = 3 queries
 * in flight, converging on the 8 closest nodes that answer.  Peers go to @cb.  With
 * BT_DHT_SEARCH_ANNOUNCE, announces @port (1..65535) to the closest nodes that gave a token.
 * @id_out (may be NULL) receives an id for bt_dht_search_cancel().  @cb never runs inside this
 * call: a search with nobody to ask ends on the next bt_dht_tick().  The node's own lookups
 * (bootstrap, refresh) do not count against max_searches.
 * Returns 0, BT_DHT_E_INVAL, BT_DHT_E_LIMIT (max_searches running) or BT_DHT_E_NOMEM.
 */
BT_DHT_EXTERN int bt_dht_search(bt_dht *dht, const uint8_t infohash[20], int flags, int port,
                                bt_dht_search_cb cb, void *ud, uint64_t now, uint64_t *id_out);

/** Stop search @id; its callback is not called again.  Returns 0, BT_DHT_E_NOENT or
 *  BT_DHT_E_INVAL. */
BT_DHT_EXTERN int bt_dht_search_cancel(bt_dht *dht, uint64_t id);

/**
 * The answer to bt_dht_sample(): @samples holds @n infohashes of 20 bytes; @num is how many the
 * node says it stores (as sent, unchecked); @interval its refresh interval in seconds (clamped to
 * 0..21600); @nodes holds @nnodes BYTES of compact node entries of the queried family (26 bytes
 * each for IPv4, 38 for IPv6).  On a timeout or an error reply @ok is 0 and the rest is empty.
 * Each sampled infohash is also reported to on_infohash as BT_DHT_SRC_SAMPLE.
 */
typedef void (*bt_dht_sample_cb)(int ok, const struct sockaddr *from, socklen_t fromlen,
                                 const uint8_t *samples, size_t n, int64_t num, int64_t interval,
                                 const uint8_t *nodes, size_t nnodes, void *ud);

/** Send one BEP 51 sample_infohashes query for @target to @addr.  Returns 0 or a negative code. */
BT_DHT_EXTERN int bt_dht_sample(bt_dht *dht, const struct sockaddr *addr, socklen_t len,
                                const uint8_t target[20], bt_dht_sample_cb cb, void *ud,
                                uint64_t now);

/** Counters, since bt_dht_new(). */
typedef struct bt_dht_stats {
	uint64_t in_messages, out_messages; /**< datagrams received / sent */
	uint64_t in_bytes, out_bytes;
	uint64_t in_queries[6];  /**< by method: ping, find_node, get_peers, announce_peer,
	                              sample_infohashes, other */
	uint64_t out_queries[6]; /**< same, sent */
	uint64_t in_responses, in_errors, out_errors;
	uint64_t malformed;      /**< dropped: not KRPC, bad fields, a family we do not run,
	                              source port 0 */
	uint64_t rate_limited;   /**< dropped: over max_in_qps_ip */
	uint64_t unexpected;     /**< responses matching no query of ours, from the wrong
	                              address, or with another id than the node we asked (those
	                              also count in in_responses) */
	uint64_t timeouts;       /**< queries given up after retries */
	uint64_t send_errors;    /**< send callback failures */
	uint64_t throttled;      /**< queries we delayed or did not send (query budget, 4096
	                              pending) and datagrams, replies too, dropped by the byte
	                              budget; a retry the budget refuses counts as a timeout */
	uint64_t bep42_rejected; /**< nodes refused for an id not matching their IP (ENFORCE) */
	uint64_t bad_tokens;     /**< announces refused for a wrong token */
	uint64_t nodes[2];       /**< routing table: bucket entries, IPv4 / IPv6 */
	uint64_t nodes_good[2];
	uint64_t cached[2]; /**< replacement-cache entries, IPv4 / IPv6 */
	uint64_t buckets[2];
	uint64_t infohashes; /**< announce store */
	uint64_t peers;
	uint64_t searches; /**< running now */
	uint64_t pending;  /**< queries awaiting an answer now */
	uint64_t memory;   /**< bytes held by tables and stores */
} bt_dht_stats;

/** Fill @out.  Returns 0 or BT_DHT_E_INVAL. */
BT_DHT_EXTERN int bt_dht_get_stats(const bt_dht *dht, bt_dht_stats *out, uint64_t now);

/**
 * Change the limits at run time from an options struct: the fields from max_out_qps to
 * max_searches are read, the others ignored.  Shrinking evicts at once: from the announce store
 * the infohashes announced least recently; from the routing tables cached candidates, then bad
 * nodes (good bucket nodes stay, and no newcomer enters while a table is over its bound).
 * Returns 0, BT_DHT_E_INVAL or BT_DHT_E_VERSION.
 */
BT_DHT_EXTERN int bt_dht_set_limits(bt_dht *dht, const bt_dht_options *limits, uint64_t now);

/** Our node id, 20 bytes, into @out. */
BT_DHT_EXTERN void bt_dht_get_id(const bt_dht *dht, uint8_t out[20]);

/**
 * Save our id and the routing table's bucket nodes for a fast restart.
 * @out receives a malloc'd buffer the caller frees with free(); @len its length.  The format
 * is bencode: {"id": 20 bytes, "nodes": compact, "nodes6": compact, "v": 1}.
 * Returns 0, BT_DHT_E_INVAL or BT_DHT_E_NOMEM.
 */
BT_DHT_EXTERN int bt_dht_save(const bt_dht *dht, uint8_t **out, size_t *len);

/**
 * Load a state from bt_dht_save(): unless options gave an id, take the saved id (BEP 42 may
 * still change it), and contact the saved nodes like bt_dht_add_node() does; those beyond the
 * query budget of the moment are skipped (they are still in the file for next time).
 * Returns 0, BT_DHT_E_FORMAT for anything else (nothing is changed) or BT_DHT_E_INVAL.
 */
BT_DHT_EXTERN int bt_dht_load(bt_dht *dht, const uint8_t *data, size_t len, uint64_t now);

/* ---------------------------------------------------------------------------------------------
 * The crawler: a node that walks the whole DHT to discover infohashes and their peers.
 * ------------------------------------------------------------------------------------------- */

/**
 * A crawler attached to a node.  It uses the node's socket, id, routing table and budgets; the
 * node keeps answering every query truthfully.  Strategies, all at once:
 *  - BEP 51: every node it learns of is asked sample_infohashes, and asked again after the
 *    interval the node gives (never sooner, and never before min_interval_s); a node that
 *    returned all it holds (its num) is asked again only after twice that;
 *  - get_peers on every new sampled infohash, to the node that sampled it (it stores the peers),
 *    then, if that gave none, an iterative lookup;
 *  - passive: infohashes other nodes announce to us, or ask us for (get_peers: then looked
 *    up, and reported only if the lookup finds a peer or a node samples or announces it);
 *  - find_node walks: nodes without BEP 51 and, when nothing else is due, random targets, to
 *    find more nodes.
 * Nodes are sanitised: contacts with port 0, our own id, or (unless allow_local) loopback,
 * private, multicast or reserved addresses are dropped; a node that times out three times in a
 * row is dead; a node that answers with a new id twice is taken for an id spoofer and its
 * samples ignored.  Politeness: every query goes through the node's global budgets
 * (max_out_qps, max_out_bps: bt_dht_set_limits()), and neither the crawler nor the lookups it
 * starts ask a node again within node_gap_ms of any query the node sent it, nor while one
 * awaits its answer (the node's own upkeep - bootstrap, pings of its table - is not held
 * back by it).
 */
typedef struct bt_dht_crawler bt_dht_crawler;

/** One discovered infohash, reported once (unless it leaves the seen-set again). */
typedef struct bt_dht_discovery {
	const uint8_t *infohash;              /**< 20 bytes */
	bt_dht_source source;                 /**< how it was first found */
	const struct sockaddr_storage *peers; /**< peers known for it (up to max_peers) */
	size_t npeers;                        /**< 0 when none was found within peer_wait_ms */
	const struct sockaddr *from;          /**< the node that told us first */
	socklen_t fromlen;
	uint64_t found_ms; /**< when it was first seen, on the node's clock (bt_dht_now()) */
} bt_dht_discovery;

/** An infohash was discovered.  Runs inside bt_dht_input() or bt_dht_tick(); may call the
 *  crawler's and the node's functions, but must not free either. */
typedef void (*bt_dht_discovery_cb)(const bt_dht_discovery *d, void *ud);

/** A persistent seen-set: return 1 if @infohash is already known (it is then not reported),
 *  0 if not.  Asked once for each infohash the in-memory seen-set has not seen. */
typedef int (*bt_dht_known_cb)(const uint8_t infohash[20], void *ud);

#define BT_DHT_CRAWL_OPTIONS_VERSION 1

/** Options of bt_dht_crawler_new().  Start from BT_DHT_CRAWL_OPTIONS_INIT; fields are only
 *  ever appended.  A zero number means its default (in brackets). */
typedef struct bt_dht_crawl_options {
	unsigned int version;             /**< BT_DHT_CRAWL_OPTIONS_VERSION */
	bt_dht_discovery_cb on_discovery; /**< required */
	bt_dht_known_cb is_known;         /**< optional */
	void *cb_ud;                      /**< passed to both */
	unsigned int seen_capacity;       /**< infohashes the seen-set holds [1000000]: two Bloom
	                                       filters of 2.5 bytes per infohash each (20 bits, 13
	                                       hashes: 1 false positive in 13,000 per full filter);
	                                       when one fills, the older is forgotten.  Fixed at
	                                       creation. */
	unsigned int max_nodes;      /**< nodes the crawl table holds [200000]; fixed at creation */
	unsigned int max_pending;    /**< infohashes waiting for peers at once [10000]; fixed at
	                                  creation; beyond it the oldest is reported as it is */
	unsigned int max_peers;      /**< peers kept and reported per infohash, 1..64 [16];
	                                  bt_dht_crawler_set_options() may lower it, not raise it
	                                  above its value at creation */
	unsigned int node_gap_ms;    /**< least time between two queries to one node [1500] */
	unsigned int min_interval_s; /**< least time between two samples of one node, whatever
	                                  interval it gives [60] */
	unsigned int peer_wait_ms;   /**< how long peers are looked for before an infohash is
	                                  reported without [30000] */
	unsigned int explore_share;  /**< percent of the query budget find_node walks may use when
	                                  nothing else is due, 1..100 [10] */
	int no_get_peers;            /**< report sampled infohashes at once, without peers (and
	                                  drop those only asked for: nothing confirms them) */
	int allow_local;             /**< accept loopback and private addresses (tests, LANs) */
} bt_dht_crawl_options;

#define BT_DHT_CRAWL_OPTIONS_INIT                                                                  \
	{                                                                                          \
		BT_DHT_CRAWL_OPTIONS_VERSION, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0       \
	}

/**
 * Attach a crawler to @dht (which must outlive it; one crawler per node) and start: it works
 * from the nodes the node hears of (bootstrap with bt_dht_add_node() or bt_dht_load()) and runs
 * on the node's bt_dht_tick().  Returns 0, BT_DHT_E_INVAL (no callback, an option out of
 * range), BT_DHT_E_VERSION, BT_DHT_E_LIMIT (a crawler is attached already) or BT_DHT_E_NOMEM.
 */
BT_DHT_EXTERN int bt_dht_crawler_new(bt_dht_crawler **out, bt_dht *dht,
                                     const bt_dht_crawl_options *opts, uint64_t now);

/** Detach and free.  Infohashes still waiting for peers are dropped: call
 *  bt_dht_crawler_flush() first to have them reported.  NULL is accepted. */
BT_DHT_EXTERN void bt_dht_crawler_free(bt_dht_crawler *c);

/** Report now every infohash still waiting for peers, with the peers found so far, and stop
 *  their lookups.  Returns how many were reported. */
BT_DHT_EXTERN unsigned int bt_dht_crawler_flush(bt_dht_crawler *c, uint64_t now);

/** Change max_peers, node_gap_ms, min_interval_s, peer_wait_ms, explore_share, no_get_peers,
 *  allow_local and the callbacks at run time (the sizes fixed at creation are ignored).
 *  Returns 0, BT_DHT_E_INVAL or BT_DHT_E_VERSION. */
BT_DHT_EXTERN int bt_dht_crawler_set_options(bt_dht_crawler *c, const bt_dht_crawl_options *o);

/** Counters (since creation) and gauges of a crawler. */
typedef struct bt_dht_crawl_stats {
	uint64_t nodes;          /**< gauge: in the crawl table */
	uint64_t nodes_replied;  /**< gauge: nodes in the table that ever replied */
	uint64_t nodes_bep51;    /**< gauge: ... that answered sample_infohashes */
	uint64_t nodes_dead;     /**< gauge: given up after timeouts */
	uint64_t nodes_spoofing; /**< gauge: answering with ever-new ids */
	uint64_t nodes_rejected; /**< contacts dropped by sanitising */
	uint64_t nodes_evicted;  /**< dropped because the table was full */
	uint64_t samples_sent, get_peers_sent, find_node_sent; /**< our queries */
	uint64_t timeouts;                                     /**< of our queries */
	uint64_t lookups;        /**< iterative get_peers lookups started */
	uint64_t sampled;        /**< infohashes received in samples, repeats included */
	uint64_t seen;           /**< infohashes the seen-set took as new */
	uint64_t repeats;        /**< infohashes the seen-set already had */
	uint64_t known;          /**< infohashes is_known said were known */
	uint64_t reported;       /**< discoveries reported */
	uint64_t reported_peers; /**< ... of which with at least one peer */
	uint64_t pending;        /**< gauge: waiting for peers */
	uint64_t overflow;       /**< reported early because max_pending were waiting */
	uint64_t memory;         /**< bytes held */
	uint64_t unconfirmed;    /**< infohashes only asked for (get_peers) whose lookup found
	                              no peer: not reported (nodes ask for random targets to
	                              fill their tables) */
} bt_dht_crawl_stats;

/** Fill *@out.  Returns 0 or BT_DHT_E_INVAL. */
BT_DHT_EXTERN int bt_dht_crawler_get_stats(const bt_dht_crawler *c, bt_dht_crawl_stats *out);

/* ---------------------------------------------------------------------------------------------
 * The UDP transport: a node on libevent sockets.  Optional; the engine above works without it.
 * ------------------------------------------------------------------------------------------- */

struct event_base;
struct evdns_base;

/** A node on UDP sockets driven by a libevent loop. */
typedef struct bt_dht_udp bt_dht_udp;

#define BT_DHT_UDP_OPTIONS_VERSION 1

/** Options of bt_dht_udp_new().  Start from BT_DHT_UDP_OPTIONS_INIT. */
typedef struct bt_dht_udp_options {
	unsigned int version;   /**< BT_DHT_UDP_OPTIONS_VERSION */
	const char *bind4;      /**< "IPv4:port" to bind for IPv4, NULL for no IPv4 socket
	                             (default "0.0.0.0:6881"; port 0 picks one) */
	const char *bind6;      /**< "[IPv6]:port" for IPv6, or NULL (default NULL) */
	struct evdns_base *dns; /**< resolver for bt_dht_udp_bootstrap(); NULL: one is made from
	                             the system's configuration on first use */
	bt_dht_options dht;     /**< the node's options; send and send_ud are the transport's,
	                             and families follows the sockets bound */
} bt_dht_udp_options;

#define BT_DHT_UDP_OPTIONS_INIT                                                                    \
	{                                                                                          \
		BT_DHT_UDP_OPTIONS_VERSION, "0.0.0.0:6881", NULL, NULL, BT_DHT_OPTIONS_INIT        \
	}

/**
 * Bind the sockets and start a node on @base (which must outlive it).  Datagrams are read in
 * batches (recvmmsg) and replies sent in batches (sendmmsg) where the system has them.
 * Returns 0, BT_DHT_E_INVAL (a bind address that does not parse, no socket at all),
 * BT_DHT_E_VERSION, BT_DHT_E_NOMEM, a -errno from socket/bind, or an error of bt_dht_new().
 */
BT_DHT_EXTERN int bt_dht_udp_new(bt_dht_udp **out, struct event_base *base,
                                 const bt_dht_udp_options *opts);

/** Close the sockets and free the node.  NULL is accepted.  Not from one of its callbacks. */
BT_DHT_EXTERN void bt_dht_udp_free(bt_dht_udp *u);

/** The engine, for bt_dht_search(), bt_dht_get_stats() and the rest; owned by @u.  Pass
 *  bt_dht_now() as the time to its functions. */
BT_DHT_EXTERN bt_dht *bt_dht_udp_dht(bt_dht_udp *u);

/** The address a socket is bound to (@family 4 or 6), e.g. to learn the port picked for port
 *  0.  Returns 0, BT_DHT_E_FAMILY when there is no such socket, or BT_DHT_E_INVAL. */
BT_DHT_EXTERN int bt_dht_udp_local(const bt_dht_udp *u, int family, struct sockaddr_storage *out,
                                   socklen_t *len);

/**
 * Resolve "host:port" (or "[v6]:port", or a numeric address) asynchronously and contact every
 * address found with bt_dht_add_node().  Returns 0 once the lookup has started (a numeric
 * address is contacted at once and its bt_dht_add_node() result returned), BT_DHT_E_INVAL for a
 * string without a port, or BT_DHT_E_NOMEM.
 * Failures of the lookup itself are logged through the log callback.
 */
BT_DHT_EXTERN int bt_dht_udp_bootstrap(bt_dht_udp *u, const char *hostport);

/** The well-known public routers, for bt_dht_udp_bootstrap() (NULL-terminated, static). */
BT_DHT_EXTERN const char *const *bt_dht_default_routers(void);

/** A monotonic clock in milliseconds, the time base the transport uses. */
BT_DHT_EXTERN uint64_t bt_dht_now(void);

/** A static English message for an error code of this library or a -errno.  Never NULL. */
BT_DHT_EXTERN const char *bt_dht_strerror(int err);

/** The library's version, e.g. "0.2.0".  Static. */
BT_DHT_EXTERN const char *bt_dht_version(void);

#ifdef __cplusplus
}
#endif

#endif /* BTDHT_H */
