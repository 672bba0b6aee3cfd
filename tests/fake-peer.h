/*
 * fake-peer.h - a scriptable BitTorrent peer for tests and benchmarks: it listens on a loopback
 * address, answers the BEP 3 handshake and serves metadata over BEP 10 / BEP 9 ut_metadata,
 * honestly or with one chosen misbehaviour, so that a metadata client can be checked against
 * every way a real peer lies, stalls or breaks.
 *
 * It runs on the caller's libevent loop (raw non-blocking sockets and plain events), is
 * single-threaded, and never blocks.  Every buffer is bounded; it binds only to 127.0.0.0/8 or
 * ::1.  Honest modes also send what a real client sends before the metadata (a bitfield, a
 * keep-alive, an unchoke), so the client's skipping of other messages is exercised.
 *
 *     fake_peer *fp;
 *     if (fake_peer_new(&fp, base, "127.0.63.1:0", FP_HONEST, info, info_len) == 0) {
 *         struct sockaddr_storage ss;
 *         socklen_t sl = fake_peer_sockaddr(fp, &ss);
 *         ... connect a client to (struct sockaddr *)&ss, run the loop ...
 *         fake_peer_stats st;
 *         fake_peer_get_stats(fp, &st);   (st.requests, st.pieces_sent, ...)
 *         fake_peer_free(fp);
 *     }
 */
#ifndef BT_TESTS_FAKE_PEER_H
#define BT_TESTS_FAKE_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;

typedef struct fake_peer fake_peer;

/*
 * What the peer does once a client's handshake arrived.  Unless said otherwise it answers with
 * its own handshake (same infohash, BEP 10 bit set) and, if the client set the BEP 10 bit, its
 * extension handshake {"m": {"ut_metadata": 3, "ut_pex": 1}, "metadata_size": S, "reqq", "v"}.
 */
enum fake_peer_mode {
	FP_HONEST = 0,       /* serve every requested piece correctly; reject bad indices */
	FP_HUGE_SIZE,        /* metadata_size = 2^40; requests are rejected */
	FP_BAD_PIECES,       /* right sizes, but one byte of every piece altered: SHA-1 fails */
	FP_DRIP,             /* honest, but everything after the extension handshake is written
	                        one byte per drip interval (fake_peer_set_drip_ms) */
	FP_CLOSE_MID,        /* on the first request: half a data message, then FIN */
	FP_SILENT,           /* both handshakes, then requests are never answered */
	FP_REJECT,           /* every request answered with msg_type 2 */
	FP_NO_EXT,           /* handshake without the BEP 10 bit, then silence */
	FP_WRONG_INFOHASH,   /* handshake with another infohash, then silence */
	FP_WRONG_PIECE_SIZE, /* data messages carry 13 bytes more than the piece */
	FP_BIG_MESSAGE,      /* on the first request: a 100 MB length prefix, 64 KiB of garbage,
	                        then silence */
	FP_GARBAGE,          /* on accept: 128 bytes of HTTP-ish text instead of a handshake */
	FP_NO_SIZE,          /* extension handshake with ut_metadata but no metadata_size;
	                        requests are served honestly */
	FP_HONEST_SLOW,      /* honest, but the handshake answer is held back by the delay
	                        (fake_peer_set_delay_ms) so a faster peer can win */
	FP_MODE_COUNT
};

/* Counters, for assertions.  Bytes are counted when the socket took them. */
typedef struct fake_peer_stats {
	unsigned accepted;       /* connections accepted (including those refused by the cap) */
	unsigned open;           /* connections open now */
	unsigned closed_by_peer; /* connections the client closed (EOF or reset) */
	unsigned handshakes;     /* valid BEP 3 handshakes received */
	unsigned bad_handshakes; /* connections closed on a malformed handshake */
	unsigned ext_handshakes; /* BEP 10 handshakes received */
	unsigned requests;       /* ut_metadata requests received */
	unsigned pieces_sent;    /* data messages queued */
	unsigned rejects_sent;   /* reject messages queued */
	uint64_t bytes_sent;
	uint64_t bytes_received;
	uint8_t last_infohash[20]; /* from the last client handshake */
	uint8_t last_client_ut;    /* the client's ut_metadata id (0: none seen) */
} fake_peer_stats;

/*
 * Listen on @listen_addr ("127.0.63.1:0", "[::1]:0"; port 0: the system chooses) on @base and
 * behave as @mode.  @info (@info_len bytes) is the metadata to serve; it is copied.  It may be
 * NULL for the modes that never send piece bytes (FP_HUGE_SIZE, FP_SILENT, FP_REJECT, FP_NO_EXT,
 * FP_WRONG_INFOHASH, FP_BIG_MESSAGE, FP_GARBAGE, FP_NO_SIZE); metadata_size is then 40000.
 *
 * Returns 0 and *@out; -EINVAL (bad mode, unparsable or non-loopback address, missing info),
 * -ENOMEM, or the -errno of socket()/bind()/listen().  Free with fake_peer_free().
 */
int fake_peer_new(fake_peer **out, struct event_base *base, const char *listen_addr, int mode,
                  const uint8_t *info, size_t info_len);

/* Close every connection and the listener, and free the peer.  Accepts NULL. */
void fake_peer_free(fake_peer *fp);

/* The port bound (host byte order). */
uint16_t fake_peer_port(const fake_peer *fp);

/* The address bound, into @out; returns its length. */
socklen_t fake_peer_sockaddr(const fake_peer *fp, struct sockaddr_storage *out);

/* Connections accepted so far. */
unsigned fake_peer_accepted(const fake_peer *fp);

void fake_peer_get_stats(const fake_peer *fp, fake_peer_stats *out);

/* Connections held open at once; more are closed as they are accepted [256]. */
void fake_peer_set_max_conns(fake_peer *fp, unsigned n);

/* FP_DRIP: milliseconds between two bytes [1000].  Affects connections from now on. */
void fake_peer_set_drip_ms(fake_peer *fp, unsigned ms);

/* FP_HONEST_SLOW: milliseconds the handshake answer is held back [300]. */
void fake_peer_set_delay_ms(fake_peer *fp, unsigned ms);

/* Whether honest modes send a bitfield, a keep-alive and an unchoke around their extension
 * handshake [1]. */
void fake_peer_set_noise(fake_peer *fp, int on);

/* "FP_HONEST", ... for messages. */
const char *fake_peer_mode_name(int mode);

#endif
