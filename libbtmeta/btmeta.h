/*
 * btmeta.h - libbtmeta, BitTorrent metadata over the peer wire: fetch a torrent's info dictionary
 * from its peers (BEP 3 handshake, BEP 10 extension protocol, BEP 9 ut_metadata), verify it
 * against the infohash (SHA-1, or SHA-256 for BEP 52 v2), and serve the metadata of torrents the
 * program holds to peers that ask for it.
 *
 * A bt_meta is a manager on the program's libevent loop.  The program submits infohashes with
 * the peers it learnt of (bt_meta_submit); the manager queues them by priority (more peers and
 * more sightings first, stale ones dropped), runs a bounded number at a time, tries several
 * peers of each in parallel and cancels the rest when one delivers, and reports every ending —
 * success or failure — through the on_result callback.  It keeps a health record per peer
 * (successes, failures, latency, back-off) and bans peers that lie (metadata that does not hash,
 * wrong sizes).  Everything a peer can make grow is bounded: connections (globally and per IP),
 * message sizes, metadata size, and the memory of metadata being assembled.
 *
 * The same manager serves: bt_meta_listen() accepts peers, bt_meta_serve_add() registers an
 * info dictionary, and incoming peers that ask for it by its v1 (or truncated v2) infohash get it
 * through ut_metadata.  The manager holds no pieces, so it only ever serves metadata.
 *
 * Threads: a bt_meta is not thread-safe.  Call every function from the thread that runs its
 * event_base; callbacks run on that thread, from inside event_base_loop().
 *
 * Example:
 *
 *     static void done(const bt_meta_result *r, void *ud)
 *     {
 *         if (r->status == 0)
 *             printf("%s: %zu files\n", r->info->name, r->info->num_files);
 *         event_base_loopexit(ud, NULL);   // the manager's sweep timer keeps the loop busy
 *     }
 *
 *     bt_meta_options o = BT_META_OPTIONS_INIT;
 *     o.base = base;
 *     o.on_result = done;
 *     o.cb_ud = base;
 *     bt_meta *m;
 *     if (bt_meta_new(&m, &o) == 0) {
 *         bt_meta_submit(m, infohash, 20, (struct sockaddr *)&peer, peerlen);
 *         event_base_dispatch(base);
 *         bt_meta_free(m);
 *     }
 */
#ifndef BTMETA_H
#define BTMETA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(BT_META_BUILDING) && defined(__GNUC__)
#define BT_META_EXTERN __attribute__((visibility("default")))
#else
#define BT_META_EXTERN
#endif

struct event_base;

/** The manager: opaque, created by bt_meta_new(), freed by bt_meta_free(). */
typedef struct bt_meta bt_meta;

/**
 * Error codes: 0 is success, system errors are -errno, library errors are in this range.  The
 * codes from BT_META_E_NOPEERS on are also the status of a failed bt_meta_result, and the
 * reasons a peer connection failed (bt_meta_stats counts each).
 */
enum {
	BT_META_E_INVAL = -3000,   /**< an argument is NULL or out of range */
	BT_META_E_NOMEM = -3001,   /**< out of memory */
	BT_META_E_VERSION = -3002, /**< unknown options version */
	BT_META_E_EXISTS = -3003,  /**< already there (a served torrent) */
	BT_META_E_NOENT = -3004,   /**< no such infohash */
	BT_META_E_LIMIT = -3005,   /**< a limit refused it now (queue full, metadata too big) */
	BT_META_E_FORMAT = -3006,  /**< not a valid info dictionary / torrent file */
	BT_META_E_HASH = -3007,    /**< metadata that does not hash to the infohash */

	BT_META_E_NOPEERS = -3010,   /**< result: every peer was tried and failed */
	BT_META_E_TIMEOUT = -3011,   /**< result: the job's deadline passed */
	BT_META_E_CANCELLED = -3012, /**< result: bt_meta_cancel() or bt_meta_free() */
	BT_META_E_CONNECT = -3013,   /**< peer: the TCP connection failed or timed out */
	BT_META_E_PROTOCOL = -3014,  /**< peer: malformed handshake or message, wrong infohash */
	BT_META_E_NOEXT = -3015,     /**< peer: no BEP 10, no ut_metadata or no metadata_size */
	BT_META_E_REJECT = -3016,    /**< peer: it rejected a ut_metadata request */
	BT_META_E_SIZE = -3017,      /**< peer: metadata_size over the cap, or a piece of the wrong
	                                 size, index or total_size */
	BT_META_E_CLOSED = -3018,    /**< peer: it closed the connection before the metadata */
	BT_META_E_SLOW = -3019       /**< peer: handshake, idle or per-peer deadline passed */
};

/* ---- Info dictionaries ---------------------------------------------------------------------- */

/** BEP 52 versions of an info dictionary (bt_meta_info.versions). */
enum { BT_META_V1 = 1, BT_META_V2 = 2 };

/** Flags of a file (bt_meta_file.flags), from the BEP 47 "attr" string. */
enum {
	BT_META_FILE_PAD = 1,    /**< 'p': padding, not part of the content */
	BT_META_FILE_EXEC = 2,   /**< 'x' */
	BT_META_FILE_HIDDEN = 4, /**< 'h' */
	BT_META_FILE_LINK = 8    /**< 'l' */
};

/** One file of a torrent. */
typedef struct bt_meta_file {
	/** The path components joined by '/', display-safe (see bt_meta_info.name). */
	char *path;
	uint64_t length;
	unsigned int flags; /**< BT_META_FILE_* */
} bt_meta_file;

/**
 * A parsed info dictionary.  Every pointer points into the same allocation, freed with
 * bt_meta_info_free(); nothing else needs freeing.
 */
typedef struct bt_meta_info {
	/** The torrent's name, display-safe: valid UTF-8 with no control characters.  Bytes that
	 *  are not valid UTF-8, and control characters (C0, DEL, C1), appear as "\xNN" escapes; a
	 *  '/' inside a path component as "\x2f".  A backslash is not escaped, so the display
	 *  form is for showing; name_raw is the lossless one.  "name.utf-8" is preferred when
	 *  present and valid. */
	char *name;
	/** The name exactly as in the dictionary ("name"), @name_raw_len bytes, not terminated by
	 *  the dictionary (a NUL is appended here for convenience). */
	const uint8_t *name_raw;
	size_t name_raw_len;
	int name_is_utf8;      /**< 1 if name_raw is valid UTF-8 without control characters */
	uint64_t total_length; /**< sum of the lengths of the files that are not padding */
	uint64_t piece_length;
	uint64_t num_pieces;   /**< v1 and hybrid: pieces / 20; v2-only: the sum over files of
	                            ceil(length / piece length) (v2 pieces are per file) */
	int is_private;        /**< "private" = 1 (BEP 27) */
	unsigned int versions; /**< BT_META_V1 and/or BT_META_V2 (a hybrid has both) */
	size_t num_files;      /**< 1 for a single-file torrent */
	bt_meta_file *files;
	const uint8_t *raw; /**< the info dictionary's bytes, as received */
	size_t raw_len;
	uint8_t sha1[20];   /**< SHA-1 of raw: the v1 infohash */
	uint8_t sha256[32]; /**< SHA-256 of raw: the v2 infohash (meaningful when V2) */
} bt_meta_info;

/**
 * Parse an info dictionary (the bytes that hash to the infohash) into *@out, copying them.
 * The dictionary must be canonical bencode with "name", "piece length" and either "pieces"
 * with "length" or "files" (v1) or "meta version" 2 with "file tree" (v2), or both (hybrid).
 * Limits: 1,000,000 files, 64 MiB of input, paths of 4,096 bytes.
 *
 * Returns 0; BT_META_E_FORMAT for input that is not such a dictionary; BT_META_E_INVAL (NULL
 * arguments); BT_META_E_NOMEM.  On failure *@out is NULL.  Free with bt_meta_info_free().
 */
BT_META_EXTERN int bt_meta_info_parse(bt_meta_info **out, const uint8_t *data, size_t len);

/**
 * Parse a .torrent file: its "info" value is parsed as by bt_meta_info_parse() (the file may
 * be lax bencode; the info dictionary itself must be canonical, as its hash depends on it).
 * Returns as bt_meta_info_parse().
 */
BT_META_EXTERN int bt_meta_info_from_torrent(bt_meta_info **out, const uint8_t *data, size_t len);

/**
 * Write a .torrent file for @info into *@out (*@len bytes), to be freed with free(): a
 * dictionary with "created by" = @created_by (may be NULL), "creation date" = @date (0: none)
 * and "info" = the raw dictionary.  It has no trackers: clients find peers through the DHT.
 * For a v2 or hybrid dictionary the file lacks "piece layers" (ut_metadata does not carry
 * them), which BEP 52 requires: clients that check will fetch them from peers or refuse.
 * Returns 0, BT_META_E_INVAL or BT_META_E_NOMEM.
 */
BT_META_EXTERN int bt_meta_info_to_torrent(const bt_meta_info *info, const char *created_by,
                                           int64_t date, uint8_t **out, size_t *len);

/**
 * Whether @info has infohash @hash: @len 20 compares the SHA-1, or the first 20 bytes of the
 * SHA-256 of a v2 dictionary; @len 32 compares the SHA-256 of a v2 dictionary.  Returns 1 or 0.
 */
BT_META_EXTERN int bt_meta_info_matches(const bt_meta_info *info, const uint8_t *hash, size_t len);

/** Free an info from bt_meta_info_parse() or bt_meta_info_from_torrent().  Accepts NULL. */
BT_META_EXTERN void bt_meta_info_free(bt_meta_info *info);

/* ---- The manager --------------------------------------------------------------------------- */

/** The ending of a job, passed to bt_meta_result_cb.  Valid only during the call. */
typedef struct bt_meta_result {
	const uint8_t *infohash; /**< as submitted */
	size_t infohash_len;     /**< 20 or 32 */
	/** 0; BT_META_E_NOPEERS (every peer failed), _TIMEOUT (job_timeout_ms), _CANCELLED
	 *  (bt_meta_cancel), _LIMIT (dropped from the queue: stale, or pushed out when it was
	 *  full), _FORMAT (a peer delivered bytes that hash right but are not a valid info
	 *  dictionary: the torrent itself is broken), or _NOMEM. */
	int status;
	const bt_meta_info *info;    /**< on success: the verified, parsed metadata; else NULL.
	                                  To keep it, copy info->raw and parse it again. */
	const struct sockaddr *peer; /**< the peer that delivered it (success), else NULL */
	socklen_t peer_len;
	uint32_t elapsed_ms;      /**< from the job's start (not its queueing) to now */
	unsigned int peers_tried; /**< connections attempted for this job */
	unsigned int peers_known; /**< peers the job had */
} bt_meta_result;

/** A job ended.  Called from the event loop, never from inside another bt_meta_ call.  May
 *  call bt_meta_submit() and bt_meta_cancel(); must not free the manager. */
typedef void (*bt_meta_result_cb)(const bt_meta_result *result, void *ud);

/** Log levels of bt_meta_log_cb. */
enum { BT_META_LOG_ERROR = 0, BT_META_LOG_WARN = 1, BT_META_LOG_INFO = 2, BT_META_LOG_DEBUG = 3 };

/** A log line without a trailing newline; valid only during the call. */
typedef void (*bt_meta_log_cb)(int level, const char *msg, void *ud);

#define BT_META_OPTIONS_VERSION 1

/**
 * Options of bt_meta_new().  Start from BT_META_OPTIONS_INIT; fields are only ever appended.
 * A zero limit or timeout means its default (shown in brackets).
 */
typedef struct bt_meta_options {
	unsigned int version;    /**< BT_META_OPTIONS_VERSION */
	struct event_base *base; /**< required; must outlive the manager */
	const uint8_t *peer_id;  /**< 20 bytes, or NULL to draw "-BS0100-" + random */
	const char *client_name; /**< BEP 10 "v" [BitScrape/<library version>] */

	bt_meta_result_cb on_result; /**< optional */
	bt_meta_log_cb log;          /**< optional */
	void *cb_ud;                 /**< passed to on_result and log */

	unsigned int max_connections; /**< open peer connections, both directions [1000] */
	unsigned int max_per_ip;      /**< connections to or from one IP address [4] */
	unsigned int max_active;      /**< jobs running at once [500] */
	unsigned int max_queued;      /**< jobs waiting; past it the lowest priority go [100000] */
	unsigned int peers_per_job;   /**< peers of one job tried in parallel [3] */
	unsigned int max_job_peers;   /**< peers remembered per job [32] */
	size_t max_metadata_size;     /**< larger metadata_size is refused [10 MiB] */
	size_t max_buffer_memory;     /**< metadata being assembled, all connections [256 MiB];
	                                   while it is full no connection starts, and a peer
	                                   refused by it is tried again a second later */
	unsigned int connect_timeout_ms;   /**< TCP connect [5000] */
	unsigned int handshake_timeout_ms; /**< connected to both handshakes done [5000] */
	unsigned int idle_timeout_ms;      /**< no byte received while waiting for one [10000] */
	unsigned int peer_timeout_ms;      /**< one peer's whole fetch, and the whole connection of
	                                        a peer we serve [30000] */
	unsigned int job_timeout_ms;       /**< one job from its start [60000] */
	unsigned int queue_ttl_ms;         /**< a queued job not seen for this long is dropped
	                                        [3600000] */
	unsigned int ban_ms;               /**< a lying peer is not contacted for this long
	                                        [3600000] */
	unsigned int max_peers_tracked;    /**< health records kept [100000] */
} bt_meta_options;

#define BT_META_OPTIONS_INIT                                                                       \
	{                                                                                          \
		BT_META_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0,  \
		    0, 0, 0, 0, 0, 0, 0, 0, 0                                                      \
	}

/**
 * Create a manager on @opts->base.  It opens no socket until it has work or bt_meta_listen()
 * is called.  Returns 0 and *@out; BT_META_E_VERSION, BT_META_E_INVAL (no base), or
 * BT_META_E_NOMEM.  Free with bt_meta_free().
 */
BT_META_EXTERN int bt_meta_new(bt_meta **out, const bt_meta_options *opts);

/**
 * Close every connection and listener and free the manager.  Jobs still queued or running, and
 * ended jobs whose on_result has not run yet, go without a callback.  Accepts NULL.  Must not
 * be called from a callback.
 */
BT_META_EXTERN void bt_meta_free(bt_meta *m);

/**
 * Ask for the metadata of @infohash (@len 20: a v1 or truncated v2 infohash; 32: a v2 infohash,
 * verified by SHA-256) and tell of a peer that has it (@peer may be NULL: the infohash was
 * seen again).  A new infohash is queued; a queued or running one gains the peer (up to
 * max_job_peers) and priority.  Jobs run when they have a peer and a free slot.  A peer in its
 * back-off or ban is remembered but tried last, or not at all when banned.
 *
 * Returns 0; BT_META_E_INVAL (bad length, a peer that is not AF_INET/AF_INET6 or has port 0);
 * BT_META_E_LIMIT (the queue is full of jobs with a higher priority); BT_META_E_NOMEM.
 */
BT_META_EXTERN int bt_meta_submit(bt_meta *m, const uint8_t *infohash, size_t len,
                                  const struct sockaddr *peer, socklen_t peer_len);

/**
 * End the job for @infohash now: it leaves the queue, its connections close, and on_result
 * follows from the event loop with BT_META_E_CANCELLED.  Returns 0, BT_META_E_INVAL or
 * BT_META_E_NOENT.
 */
BT_META_EXTERN int bt_meta_cancel(bt_meta *m, const uint8_t *infohash, size_t len);

/**
 * Accept peer connections on @addr (port 0: the system chooses; *@bound, if not NULL,
 * receives the address bound).  Peers that ask for a served infohash get its metadata; the
 * others are disconnected after their handshake.  Several listeners may be opened (e.g. IPv4
 * and IPv6).  Returns 0; BT_META_E_INVAL (NULL, or a family other than AF_INET/AF_INET6);
 * BT_META_E_NOMEM; or the -errno of socket(), bind() or listen().
 */
BT_META_EXTERN int bt_meta_listen(bt_meta *m, const struct sockaddr *addr, socklen_t len,
                                  struct sockaddr_storage *bound);

/**
 * Serve the info dictionary @data (@len bytes; it is parsed and copied) under its v1 infohash
 * and, for a v2 or hybrid dictionary, its truncated v2 infohash.  Returns 0; BT_META_E_FORMAT;
 * BT_META_E_EXISTS (already served); BT_META_E_LIMIT (larger than max_metadata_size);
 * BT_META_E_NOMEM.
 */
BT_META_EXTERN int bt_meta_serve_add(bt_meta *m, const uint8_t *data, size_t len);

/** Stop serving the torrent with infohash @infohash (20 or 32 bytes).  0 or BT_META_E_NOENT. */
BT_META_EXTERN int bt_meta_serve_remove(bt_meta *m, const uint8_t *infohash, size_t len);

/** Counters and gauges of a manager. */
typedef struct bt_meta_stats {
	/* Jobs. */
	uint64_t jobs_submitted; /**< new infohashes accepted by bt_meta_submit() */
	uint64_t jobs_done;      /**< ended with verified metadata */
	uint64_t jobs_failed;    /**< ended with NOPEERS, TIMEOUT, FORMAT or NOMEM */
	uint64_t jobs_cancelled;
	uint64_t jobs_dropped; /**< queued jobs dropped: stale, or pushed out by a full queue */
	uint64_t jobs_queued;  /**< gauge: waiting (with or without peers) */
	uint64_t jobs_active;  /**< gauge: running */
	/* Connections. */
	uint64_t conns_open;    /**< gauge: open now, both directions */
	uint64_t conns_peak;    /**< most open at once */
	uint64_t conns_out;     /**< attempted */
	uint64_t conns_in;      /**< accepted */
	uint64_t conns_refused; /**< incoming refused by a limit */
	uint64_t fetches_ok;    /**< connections that delivered verified metadata */
	uint64_t fail_connect, fail_protocol, fail_noext, fail_reject, fail_size, fail_hash,
	    fail_closed, fail_slow, fail_memory;
	uint64_t cancelled_conns; /**< closed because their job ended otherwise: another peer
	                               delivered first, a cancel, a timeout */
	uint64_t peers_banned;    /**< bans issued */
	uint64_t peers_tracked;   /**< gauge: health records */
	uint64_t buffer_bytes;    /**< gauge: metadata being assembled */
	uint64_t bytes_in, bytes_out;
	/* Serving. */
	uint64_t served_torrents; /**< gauge */
	uint64_t served_pieces;   /**< ut_metadata data messages sent */
	uint64_t served_rejects;  /**< requests rejected (bad index, too many queued) */
	uint64_t served_complete; /**< peers that received every piece of a torrent */
} bt_meta_stats;

/** Fill *@out.  Returns 0 or BT_META_E_INVAL. */
BT_META_EXTERN int bt_meta_get_stats(const bt_meta *m, bt_meta_stats *out);

/** What the manager knows of one peer (bt_meta_peer_get). */
typedef struct bt_meta_peer_health {
	uint32_t successes;  /**< verified metadata delivered */
	uint32_t failures;   /**< failed fetches, any reason */
	uint32_t latency_ms; /**< smoothed time from connect to metadata (0: none yet) */
	int last_error;      /**< the last failure's BT_META_E_* code, or 0 */
	uint32_t backoff_ms; /**< time left before it is tried again first, or 0 */
	uint32_t banned_ms;  /**< time left of its ban, or 0 */
} bt_meta_peer_health;

/** The health record of @peer (address and port).  Returns 0 or BT_META_E_NOENT. */
BT_META_EXTERN int bt_meta_peer_get(const bt_meta *m, const struct sockaddr *peer, socklen_t len,
                                    bt_meta_peer_health *out);

/** A static English text for a BT_META_E_* code; for -errno, strerror(3)'s text. */
BT_META_EXTERN const char *bt_meta_strerror(int err);

/** The library's version, e.g. "0.1.0". */
BT_META_EXTERN const char *bt_meta_version(void);

#ifdef __cplusplus
}
#endif

#endif
