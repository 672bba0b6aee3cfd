/*
 * btstore.h - libbtstore, BitScrape's index of torrents on LMDB: every infohash the crawler
 * saw (when, how often, how, with which peers), the metadata of those it fetched (name, files,
 * sizes), a keyword index over names and file paths, the DHT node's routing table, and a
 * blocklist.  It is embedded: no server, one file (plus its "-lock" file) on disk.
 *
 * Records are compact binary (file paths share their prefixes with the path before them); the
 * keyword index is derived from them and can be rebuilt (bt_store_reindex).  Search folds case
 * and accents, matches word prefixes, ranks, filters, sorts and pages by cursor.
 *
 * Writes.  Write calls (bt_store_seen, bt_store_put, bt_store_delete, bt_store_block,
 * bt_store_unblock, bt_store_nodes_save, bt_store_import_json) go into one open write
 * transaction, the batch, which bt_store_commit() makes durable; a batch also commits by
 * itself after options.batch_size writes and in bt_store_close().  Until it commits, a batch is
 * visible to this handle's reads and to no one else's, and a crash loses it (only it: every
 * committed batch survives a crash at any point, LMDB's copy-on-write guarantees).  When the
 * memory map is full the batch is replayed into a bigger map, so writes never fail for lack
 * of map; with options.max_size the database stays under that size by evicting (see there).
 *
 * Processes.  Any number of processes may open the same file and read while one writes: readers
 * see the last committed state and never wait, and never make the writer wait.  Only one batch
 * is open at a time across all processes; a second writer's first write call waits until the
 * first one commits.  Do not open the same file twice in one process, and do not use a store
 * on a network file system (LMDB's rules).
 *
 * Threads.  A bt_store is not thread-safe, and its batch is an LMDB write transaction, which
 * belongs to the thread that began it: use a store from one thread.  Its log callback runs on
 * that thread, inside the call that logs.
 *
 * Errors.  "An LMDB failure" below is BT_STORE_E_LMDB, BT_STORE_E_CORRUPT (the file is damaged)
 * or a -errno (I/O); the log says more.  When a write call or a commit fails that way, or with
 * BT_STORE_E_FULL or BT_STORE_E_NOMEM, the open batch is lost (rolled back); the calls' other
 * errors refuse the one call and leave the batch as it was.
 *
 * Times are Unix seconds.  Infohashes are 20 bytes (a v1 infohash, or a v2 one truncated as
 * BEP 52 does for the DHT) or 32 bytes (a v2 infohash, looked up by its first 20 bytes).
 *
 * Example:
 *
 *     bt_store_options o = BT_STORE_OPTIONS_INIT;
 *     bt_store *s;
 *     int err = bt_store_open(&s, "torrents.mdb", &o);
 *     if (err) { fprintf(stderr, "%s\n", bt_store_strerror(err)); return 1; }
 *     bt_store_seen(s, ih, 20, BT_STORE_SOURCE_SAMPLE, NULL, 0, time(NULL));
 *     bt_store_commit(s);
 *     bt_store_query q = BT_STORE_QUERY_INIT;
 *     q.text = "ubuntu iso";
 *     bt_store_results *r;
 *     if (bt_store_search(s, &q, &r) == 0) {
 *         for (size_t i = 0; i < r->count; i++) puts(r->items[i]->name);
 *         bt_store_results_free(r);
 *     }
 *     bt_store_close(s);
 */
#ifndef BTSTORE_H
#define BTSTORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(BT_STORE_BUILDING) && defined(__GNUC__)
#define BT_STORE_EXTERN __attribute__((visibility("default")))
#else
#define BT_STORE_EXTERN
#endif

/** A store: opaque, opened by bt_store_open(), closed by bt_store_close(). */
typedef struct bt_store bt_store;

/** Error codes: 0 is success, system errors are -errno, library errors are in this range. */
enum {
	BT_STORE_E_INVAL = -4000,    /**< an argument is NULL or out of range */
	BT_STORE_E_NOMEM = -4001,    /**< out of memory */
	BT_STORE_E_VERSION = -4002,  /**< unknown options or query version */
	BT_STORE_E_FOREIGN = -4003,  /**< the file is not a BitScrape store (another LMDB file,
	                                  or not LMDB at all); it was not changed */
	BT_STORE_E_NEWER = -4004,    /**< the store's schema is newer than this library */
	BT_STORE_E_CORRUPT = -4005,  /**< a record or the database failed to decode */
	BT_STORE_E_NOTFOUND = -4006, /**< no such infohash */
	BT_STORE_E_BLOCKED = -4007,  /**< the infohash is on the blocklist: not stored */
	BT_STORE_E_READONLY = -4008, /**< a write to a store opened read-only */
	BT_STORE_E_FULL = -4009,     /**< max_size reached and nothing left to evict */
	BT_STORE_E_FORMAT = -4010,   /**< bt_store_import_json(): not a line it understands */
	BT_STORE_E_CURSOR = -4011,   /**< a cursor that is not from this kind of query */
	BT_STORE_E_LMDB = -4012      /**< another LMDB failure (the log says which) */
};

/** How an infohash was found (bt_store_torrent.sources is a set of these). */
enum {
	BT_STORE_SOURCE_SAMPLE = 1,    /**< a BEP 51 sample_infohashes reply */
	BT_STORE_SOURCE_ANNOUNCE = 2,  /**< an incoming announce_peer */
	BT_STORE_SOURCE_GET_PEERS = 4, /**< an incoming get_peers */
	BT_STORE_SOURCE_LOOKUP = 8,    /**< our own lookup found peers for it */
	BT_STORE_SOURCE_IMPORT = 16    /**< imported, or metadata put with no other source */
};

/** BEP 52 versions (bt_store_torrent.versions), as BT_META_V1 / BT_META_V2. */
enum { BT_STORE_V1 = 1, BT_STORE_V2 = 2 };

/** File flags (bt_store_file.flags), as BT_META_FILE_*: BEP 47 attributes. */
enum {
	BT_STORE_FILE_PAD = 1,
	BT_STORE_FILE_EXEC = 2,
	BT_STORE_FILE_HIDDEN = 4,
	BT_STORE_FILE_LINK = 8
};

/** Peers kept per infohash (the most recently seen). */
#define BT_STORE_MAX_PEERS 8

/** A peer or node address. */
typedef struct bt_store_peer {
	uint8_t family; /**< 4 or 6 */
	uint8_t ip[16]; /**< 4 bytes for IPv4, 16 for IPv6, network order */
	uint16_t port;  /**< host order */
} bt_store_peer;

/** One file of a torrent. */
typedef struct bt_store_file {
	const char *path; /**< path components joined by '/', NUL-terminated */
	uint64_t length;
	unsigned int flags; /**< BT_STORE_FILE_* */
} bt_store_file;

/**
 * An infohash and what is known of it.  bt_store_put() reads one the caller owns.  The library
 * hands out ones whose pointers all point into one allocation: from bt_store_get() (free with
 * bt_store_torrent_free()), in bt_store_results (freed with them), and to a bt_store_foreach()
 * callback (valid during the call).  Without metadata, name is "" and files NULL.
 */
typedef struct bt_store_torrent {
	uint8_t infohash[20];    /**< the key: v1 infohash, or truncated v2 for a v2-only torrent */
	uint8_t infohash_v2[32]; /**< the full v2 infohash, when has_v2 */
	int has_v2;
	int has_metadata; /**< 0: only sightings are known, the fields up to `files` are empty */

	/* Metadata. */
	const char *name; /**< UTF-8, NUL-terminated, as meta-fetch prints it (display-safe) */
	uint64_t length;  /**< total bytes, padding files excluded */
	uint64_t piece_length;
	uint32_t metadata_size; /**< bytes of the info dictionary */
	unsigned int versions;  /**< BT_STORE_V1 and/or BT_STORE_V2; 0 taken as V1 on put */
	int is_private;         /**< BEP 27 */
	size_t num_files;       /**< at least 1 once metadata is known */
	const bt_store_file *files;

	/* Sightings. */
	int64_t first_seen;
	int64_t last_seen;
	uint32_t times_seen;
	unsigned int sources; /**< BT_STORE_SOURCE_* seen so far */
	uint32_t peers;       /**< last known peer count */
	int64_t indexed;      /**< when its metadata was stored (0 without metadata) */
	size_t num_peer_addrs;
	const bt_store_peer *peer_addrs; /**< up to BT_STORE_MAX_PEERS, most recent first */
} bt_store_torrent;

/** Free a torrent from bt_store_get().  Accepts NULL. */
BT_STORE_EXTERN void bt_store_torrent_free(bt_store_torrent *t);

/** Log levels of bt_store_log_cb. */
enum {
	BT_STORE_LOG_ERROR = 0,
	BT_STORE_LOG_WARN = 1,
	BT_STORE_LOG_INFO = 2,
	BT_STORE_LOG_DEBUG = 3
};

/** A log line without a trailing newline; valid only during the call. */
typedef void (*bt_store_log_cb)(int level, const char *msg, void *ud);

#define BT_STORE_OPTIONS_VERSION 1

/** Options of bt_store_open().  Start from BT_STORE_OPTIONS_INIT; fields are only appended. */
typedef struct bt_store_options {
	unsigned int version; /**< BT_STORE_OPTIONS_VERSION */
	int read_only;        /**< open for reading only; the file must exist */
	/** Cap on the database's size in bytes (0: none; else at least 1 MiB).  The file never
	 *  grows past it (it is the size of the memory map).  When the pages in use
	 *  (bt_store_stats.bytes_used) pass 60% of it, a commit evicts the infohashes without
	 *  metadata stored longest ago, then (if that is not enough) the torrents indexed longest
	 *  ago,
	 *  until they are under 45% (the rest is headroom LMDB needs for copy-on-write and for
	 * pages it frees but reuses only a commit or two later); a write that finds the map full
	 * evicts the same way. Evicted infohashes are not blocked and may come back.  A store
	 * opened with a cap smaller than its file keeps its size. */
	uint64_t max_size;
	/** Commit by itself after this many write calls (0: 50000).  When that commit fails, the
	 *  write call returns its error. */
	unsigned int batch_size;
	/** Do not fsync on commit (LMDB's MDB_NOSYNC): a crash of the process still loses nothing
	 *  committed, but a crash of the machine may lose the last batches, and on a file system
	 *  that does not keep the order of writes may damage the store.  Much faster. */
	int no_sync;
	bt_store_log_cb log; /**< optional */
	void *log_ud;
} bt_store_options;

#define BT_STORE_OPTIONS_INIT                                                                      \
	{                                                                                          \
		BT_STORE_OPTIONS_VERSION, 0, 0, 0, 0, NULL, NULL                                   \
	}

/**
 * Open the store at @path (a file; "@path-lock" is created beside it), creating it unless
 * read-only.  A store of an older schema is migrated on a read-write open (and a keyword
 * index built by older tokenising rules is rebuilt); a read-only open of a store that needs
 * migrating fails with BT_STORE_E_VERSION until a read-write open has migrated it.
 *
 * @opts may be NULL for the defaults.
 *
 * Returns 0 and *@out; otherwise *@out is NULL and the result is BT_STORE_E_INVAL (NULL or empty
 * path, max_size under 1 MiB); BT_STORE_E_VERSION (options version, or a read-only open of a
 * store that needs migrating); BT_STORE_E_FOREIGN (not a regular file, or not a BitScrape
 * store: nothing is written to it); BT_STORE_E_NEWER; -ENOENT (read-only, no file); an LMDB
 * failure; BT_STORE_E_NOMEM.  Close with bt_store_close().
 */
BT_STORE_EXTERN int bt_store_open(bt_store **out, const char *path, const bt_store_options *opts);

/** Commit the open batch (its error, if any, is logged and lost) and close.  Accepts NULL. */
BT_STORE_EXTERN void bt_store_close(bt_store *s);

/** Commit the open batch, if any, evicting first when max_size asks for it.  Returns 0 (also
 *  with no batch open); BT_STORE_E_FULL, BT_STORE_E_NOMEM or an LMDB failure, and the batch is
 *  lost; BT_STORE_E_INVAL (NULL). */
BT_STORE_EXTERN int bt_store_commit(bt_store *s);

/**
 * Record a sighting of @infohash (@len 20 or 32) at time @when, by @source (BT_STORE_SOURCE_*
 * bits, joined to those seen before), with @npeers peers in the order they were learnt (may be
 * 0).  first_seen and last_seen widen to @when; times_seen counts up.  The last
 * BT_STORE_MAX_PEERS of @peers go first in the torrent's peer list, latest first, without
 * duplicates; when @when is the latest sighting and @npeers is not 0, the peer count becomes
 * @npeers.  A new infohash is stored without metadata and awaits bt_store_put().
 *
 * Returns 1 if the infohash was new to the store, 0 if known; BT_STORE_E_BLOCKED;
 * BT_STORE_E_INVAL (a bad length, a peer family other than 4 or 6, NULL peers with @npeers,
 * @source over 255); BT_STORE_E_READONLY; BT_STORE_E_FULL; BT_STORE_E_NOMEM; an LMDB failure.
 */
BT_STORE_EXTERN int bt_store_seen(bt_store *s, const uint8_t *infohash, size_t len,
                                  unsigned int source, const bt_store_peer *peers, size_t npeers,
                                  int64_t when);

/**
 * Store the metadata of @t (has_metadata must be set, name and at least one file given) and
 * merge its sightings with what is known: first_seen the earliest (0: now), last_seen the
 * latest (0: now), times_seen added (0 counts as 1), sources joined (0: IMPORT), the peer
 * count from the later sighting, peer_addrs (latest first) before the known ones.  indexed is
 * taken from @t (0: now).  The key is infohash, or for a v2-only torrent (versions without V1)
 * the first 20 bytes of infohash_v2; a hybrid is also found by its truncated v2 infohash.
 * Metadata already stored stays as it was: the first copy wins.  @t is only read.
 *
 * Returns 1 if the torrent was newly indexed, 0 if its metadata was known; BT_STORE_E_BLOCKED
 * (by either key); BT_STORE_E_INVAL (no metadata, no files, a NULL path, more than 1,000,000
 * files, a name or path over 4,096 bytes or not UTF-8, over 64 MiB of paths in all, a bad peer
 * address, or a v2 infohash that belongs to a stored torrent with another v1 infohash);
 * BT_STORE_E_READONLY; BT_STORE_E_FULL; BT_STORE_E_NOMEM; an LMDB failure.
 */
BT_STORE_EXTERN int bt_store_put(bt_store *s, const bt_store_torrent *t);

/**
 * What is known of @infohash (20 or 32 bytes), with or without metadata, into *@out (free with
 * bt_store_torrent_free()).  Returns 0; BT_STORE_E_NOTFOUND; BT_STORE_E_CORRUPT (its record
 * does not decode; logged); BT_STORE_E_INVAL; BT_STORE_E_NOMEM; an LMDB failure.  Sees the
 * committed state and this handle's open batch, as every read call does.
 */
BT_STORE_EXTERN int bt_store_get(bt_store *s, const uint8_t *infohash, size_t len,
                                 bt_store_torrent **out);

/** Remove @infohash and everything about it (a hybrid's other key too).  Returns 0,
 *  BT_STORE_E_NOTFOUND, BT_STORE_E_INVAL, BT_STORE_E_READONLY, BT_STORE_E_FULL,
 *  BT_STORE_E_NOMEM or an LMDB failure. */
BT_STORE_EXTERN int bt_store_delete(bt_store *s, const uint8_t *infohash, size_t len);

/** Remove @infohash (if present) and put it on the blocklist (with a hybrid's other key):
 *  bt_store_seen() and bt_store_put() refuse it from now on, across restarts.  Returns 0 (also
 *  when it was already blocked), or the errors of bt_store_delete() but NOTFOUND. */
BT_STORE_EXTERN int bt_store_block(bt_store *s, const uint8_t *infohash, size_t len);

/** Take @infohash off the blocklist.  Returns 0, or the errors of bt_store_delete(). */
BT_STORE_EXTERN int bt_store_unblock(bt_store *s, const uint8_t *infohash, size_t len);

/** 1 if @infohash is blocked, 0 if not; BT_STORE_E_INVAL or an LMDB failure. */
BT_STORE_EXTERN int bt_store_is_blocked(bt_store *s, const uint8_t *infohash, size_t len);

/* ---- Search --------------------------------------------------------------------------------- */

/** Orders of bt_store_query.sort. */
enum {
	BT_STORE_SORT_RELEVANCE = 0, /**< best match first (needs words; without, as ADDED) */
	BT_STORE_SORT_ADDED = 1,     /**< by when this store indexed it, newest first (an import
	                                  counts when imported; its "indexed" field keeps the
	                                  time of the store it came from) */
	BT_STORE_SORT_SIZE = 2,      /**< by total length, largest first */
	BT_STORE_SORT_SEEN = 3,      /**< by last sighting, latest first */
	BT_STORE_SORT_POPULARITY = 4 /**< by peer count, then times seen, highest first */
};

#define BT_STORE_QUERY_VERSION 1

/** A search.  Start from BT_STORE_QUERY_INIT.  Only torrents with metadata are searched. */
typedef struct bt_store_query {
	unsigned int version; /**< BT_STORE_QUERY_VERSION */
	/** Words, any bytes (NULL or none: every torrent).  Each word is folded like the index
	 *  (case, accents) and matches the words of names and file paths that start with it (a
	 *  word of one or two characters must match whole); a torrent must match every word.
	 *  Relevance weighs rare words more, whole-word matches over prefix matches, and name
	 *  matches over file-path matches; ties go to the newer torrent.  Only the first 16
	 *  words count. */
	const char *text;
	uint64_t min_size, max_size;   /**< total length bounds, inclusive (0: none) */
	uint32_t min_files, max_files; /**< file count bounds, inclusive (0: none) */
	int64_t seen_since;            /**< last seen at or after (0: any) */
	int sort;                      /**< BT_STORE_SORT_* */
	int ascending;                 /**< reverse the order */
	unsigned int limit;            /**< page size [20], at most 1000 */
	/** NULL for the first page, or a previous page's next_cursor to get the page after it
	 *  (with the same query; a cursor of another sort or direction is refused, one of other
	 *  words or filters gives a page of those).  Pages stay consistent while the store
	 *  changes: nothing is shown twice; torrents added meanwhile may be missed.  Read only
	 *  during the call. */
	const char *cursor;
} bt_store_query;

#define BT_STORE_QUERY_INIT                                                                        \
	{                                                                                          \
		BT_STORE_QUERY_VERSION, NULL, 0, 0, 0, 0, 0, BT_STORE_SORT_RELEVANCE, 0, 0, NULL   \
	}

/** One page of results (free with bt_store_results_free()). */
typedef struct bt_store_results {
	size_t count;             /**< torrents on this page */
	bt_store_torrent **items; /**< in the query's order */
	double *scores;           /**< relevance of each (0 when the query had no words) */
	uint64_t total;           /**< torrents matching the query, over all pages */
	char *next_cursor;        /**< the page after this one, or NULL at the end; freed with
	                               the results */
	uint32_t corrupt;         /**< records skipped because they failed to decode (logged) */
} bt_store_results;

/**
 * Run @q.  Returns 0 and *@out (possibly with no items); BT_STORE_E_CURSOR (a cursor from
 * another sort, or not a cursor); BT_STORE_E_VERSION; BT_STORE_E_INVAL (limit over 1000);
 * BT_STORE_E_NOMEM; an LMDB failure.  A query without words that filters, or sorts by other
 * than ADDED, walks every torrent: fast on thousands, slow on millions.
 */
BT_STORE_EXTERN int bt_store_search(bt_store *s, const bt_store_query *q, bt_store_results **out);

/** Free results and every torrent in them.  Accepts NULL. */
BT_STORE_EXTERN void bt_store_results_free(bt_store_results *r);

/** What bt_store_foreach() visits. */
enum { BT_STORE_WITH_METADATA = 1, BT_STORE_PENDING = 2 };

/** Called for each infohash; @t is valid only during the call.  Return a positive value to
 *  stop.  It must not write to the store. */
typedef int (*bt_store_torrent_cb)(const bt_store_torrent *t, void *ud);

/**
 * Call @cb for every infohash in @what (BT_STORE_WITH_METADATA: in the order this store
 * indexed them, oldest first;
 * BT_STORE_PENDING: in the order they were first stored, the order eviction takes them; both:
 * those, then these), from one snapshot.
 * Records that fail to decode are logged, counted in *@corrupt (set to 0 first; may be NULL)
 * and skipped.  Returns 0, the callback's nonzero value, BT_STORE_E_INVAL (no callback, @what 0
 * or unknown bits) or an LMDB failure.  A long walk holds a read snapshot, which keeps the pages
 * it sees from being reused by writers meanwhile.
 */
BT_STORE_EXTERN int bt_store_foreach(bt_store *s, unsigned int what, bt_store_torrent_cb cb,
                                     void *ud, uint32_t *corrupt);

/* ---- Counts --------------------------------------------------------------------------------- */

/** Totals of a store. */
typedef struct bt_store_stats {
	uint64_t torrents;         /**< with metadata */
	uint64_t pending;          /**< seen, without metadata */
	uint64_t blocked;          /**< on the blocklist */
	uint64_t nodes;            /**< in the routing table snapshot */
	uint64_t terms;            /**< distinct words in the keyword index */
	uint64_t postings;         /**< (word, torrent) pairs in it */
	uint64_t files;            /**< files of all torrents */
	uint64_t bytes_used;       /**< pages in use, in bytes */
	uint64_t file_size;        /**< size of the file on disk */
	uint64_t map_size;         /**< current memory map */
	uint64_t max_size;         /**< options.max_size, 0 if none */
	uint64_t evicted_pending;  /**< evicted by max_size since the store was created */
	uint64_t evicted_torrents; /**< the same, with metadata */
	uint32_t schema;           /**< schema version */
	uint32_t page_size;
	int64_t created; /**< when the store was created */
} bt_store_stats;

/** Fill *@out.  Returns 0, BT_STORE_E_INVAL or an LMDB failure. */
BT_STORE_EXTERN int bt_store_get_stats(bt_store *s, bt_store_stats *out);

/** What happened on one UTC day. */
typedef struct bt_store_day {
	int64_t day;         /**< the day's first second (a multiple of 86400) */
	uint32_t discovered; /**< infohashes seen for the first time */
	uint32_t indexed;    /**< torrents whose metadata was stored */
} bt_store_day;

/**
 * The days from the one holding @since on that have counts, oldest first, into *@out (*@n of
 * them; free with free(); NULL and 0 when none).  Returns 0, BT_STORE_E_INVAL,
 * BT_STORE_E_NOMEM or an LMDB failure.
 */
BT_STORE_EXTERN int bt_store_daily(bt_store *s, int64_t since, bt_store_day **out, size_t *n);

/* ---- The DHT node's routing table ------------------------------------------------------------ */

/** A DHT node. */
typedef struct bt_store_node {
	uint8_t id[20];
	bt_store_peer addr;
	int64_t last_seen; /**< last reply from it (0: unknown) */
} bt_store_node;

/** Replace the saved routing table with @n nodes (at most 100,000; 0 empties it).  Returns 0,
 *  BT_STORE_E_INVAL (too many, or a family other than 4 or 6), or the errors of
 *  bt_store_delete() but NOTFOUND. */
BT_STORE_EXTERN int bt_store_nodes_save(bt_store *s, const bt_store_node *nodes, size_t n);

/** The saved routing table into *@out (*@n nodes, free with free(); NULL and 0 when none).
 *  Returns 0, BT_STORE_E_INVAL, BT_STORE_E_CORRUPT, BT_STORE_E_NOMEM or an LMDB failure. */
BT_STORE_EXTERN int bt_store_nodes_load(bt_store *s, bt_store_node **out, size_t *n);

/* ---- NDJSON --------------------------------------------------------------------------------- */

/**
 * Import one JSON line (@len bytes, no newline needed) of any of these kinds:
 *  - a meta-fetch result: "status":"ok" with the metadata (stored as bt_store_put()); its
 *    "peer" counts as a sighting by lookup;
 *  - a line of bt_store_torrent_json() (another store's export): metadata and sightings;
 *  - a dht-crawl discovery: "infohash", "source", optional "peers" and "time" (a sighting);
 *  - a meta-fetch failure ("status":"error"): a sighting with source IMPORT;
 *  - another store's export of an infohash without metadata: sightings at its first_seen and
 *    last_seen.
 * Peer lists ("peer_addrs", then an array "peers") are read as most recent first, the order
 * bt_store_torrent_json() writes; a "peer" comes before them.
 * Returns as bt_store_put() for lines with metadata and as bt_store_seen() for the others,
 * except that BT_STORE_E_FORMAT replaces BT_STORE_E_INVAL: not JSON, none of these, or a field
 * of the wrong type or range (nothing is stored).  BT_STORE_E_INVAL: @s NULL, or @line NULL
 * with @len not 0.  Lines over 64 MiB are refused.  @now is the
 * time for a line that carries none.
 */
BT_STORE_EXTERN int bt_store_import_json(bt_store *s, const char *line, size_t len, int64_t now);

/**
 * @t as one JSON object without a newline, into *@out (free with free()): infohash (40 hex
 * digits, the key), infohash_v2 (64, when known); when metadata is known, the fields of a
 * meta-fetch result (name, length, piece_length, private, versions, files with path, length,
 * "pad" and other "flags", metadata_size) and indexed; always first_seen, last_seen,
 * times_seen, sources (names: sample, announce, get_peers, lookup, import), peers (the
 * count), peer_addrs ("ip:port", "[ip6]:port") and magnet.  bt_store_import_json() reads it
 * back.  Returns 0, BT_STORE_E_INVAL or BT_STORE_E_NOMEM.
 */
BT_STORE_EXTERN int bt_store_torrent_json(const bt_store_torrent *t, char **out);

/**
 * The magnet link of @t into *@out (free with free()): "xt=urn:btih:" and the lowercase hex
 * infohash, except for a v2-only torrent; "xt=urn:btmh:1220" and the v2 infohash when known;
 * "&dn=" and the name percent-encoded (UTF-8 bytes) when metadata is known; "&x.pe=" and the
 * latest peer ("ip:port" or "[ip6]:port").  Returns 0, BT_STORE_E_INVAL or BT_STORE_E_NOMEM.
 */
BT_STORE_EXTERN int bt_store_magnet(const bt_store_torrent *t, char **out);

/* ---- Maintenance ---------------------------------------------------------------------------- */

/** Rebuild the keyword index from the records (as an open does when the tokenising rules
 *  changed).  Commits the open batch first, then works in batches of its own: other processes
 *  may see a partial index meanwhile, and an interrupted rebuild is redone by the next
 *  read-write open.  Returns 0, BT_STORE_E_READONLY, or the errors of bt_store_commit();
 *  records that fail to decode are logged and left out of the index. */
BT_STORE_EXTERN int bt_store_reindex(bt_store *s);

/** A static English text for a BT_STORE_E_* code, "success" for 0, strerror(3)'s text for a
 *  -errno, "unknown error" for anything else. */
BT_STORE_EXTERN const char *bt_store_strerror(int err);

/** The library's version, e.g. "0.1.0": a static string. */
BT_STORE_EXTERN const char *bt_store_version(void);

#ifdef __cplusplus
}
#endif

#endif
