/*
 * wire.h - the parts of the peer wire protocol that metadata exchange needs (BEP 3 handshake,
 * BEP 10 extension handshake, BEP 9 ut_metadata), as byte-level parsers, encoders and an
 * incremental message reader with no sockets, so tests and fuzzers can drive them with bytes.
 *
 * The reader keeps almost nothing per connection: the 68-byte handshake and the 5-byte message
 * header are collected in place, messages we do not need (bitfield, have, piece, ...) are
 * skipped as they stream by without being stored, and only extension messages (at most
 * BT_WIRE_MAX_EXT bytes) are assembled, on the heap, and only when they arrive split across
 * reads.  An idle connection therefore holds no buffer at all.
 */
#ifndef BT_META_WIRE_H
#define BT_META_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "buf.h"

#define BT_WIRE_HS_LEN 68
#define BT_WIRE_PIECE 16384 /* BEP 9 metadata piece size */
/* An extension message: a ut_metadata data message is a small dictionary and one piece. */
#define BT_WIRE_MAX_EXT (BT_WIRE_PIECE + 1024)
/* Any other message longer than this is not BitTorrent: a bitfield of 2^24 pieces is 2 MiB,
 * a block message 16 KiB + 9. */
#define BT_WIRE_MAX_MSG (1u << 22)

#define BT_WIRE_MSG_EXTENDED 20
#define BT_WIRE_OUR_UTM 2 /* the id we ask peers to use for ut_metadata */

enum { BT_UTM_REQUEST = 0, BT_UTM_DATA = 1, BT_UTM_REJECT = 2 };

typedef struct bt_wire_hs {
	uint8_t reserved[8];
	uint8_t infohash[20];
	uint8_t peer_id[20];
} bt_wire_hs;

/* Parse a 68-byte handshake.  0, or -1 if it is not "\x13BitTorrent protocol". */
int bt_meta__hs_parse(const uint8_t p[BT_WIRE_HS_LEN], bt_wire_hs *out);

/* Whether the handshake announces the extension protocol (BEP 10: reserved[5] & 0x10). */
static inline int bt_meta__hs_has_ext(const bt_wire_hs *hs)
{
	return (hs->reserved[5] & 0x10) != 0;
}

/* Our handshake, with the BEP 10 bit set. */
void bt_meta__hs_build(uint8_t out[BT_WIRE_HS_LEN], const uint8_t infohash[20],
                       const uint8_t peer_id[20]);

/* What we read of a BEP 10 extension handshake.  -1 / 0 means absent. */
typedef struct bt_wire_exths {
	int ut_metadata;       /* their message id for ut_metadata, 1..255; 0: none or disabled */
	int64_t metadata_size; /* -1: absent; otherwise >= 0 as sent (not yet capped) */
	int64_t reqq;          /* -1: absent */
	int port;              /* "p", 0: absent or out of range */
	char client[64];       /* "v", printable ASCII only ('?' for the rest), may be empty */
	bt_addr yourip;        /* family 0: absent or not 4/16 bytes */
} bt_wire_exths;

/* Parse the payload of an extension handshake (after the length, id 20 and ext id 0).
 * 0, or -1 if it is not a dictionary. */
int bt_meta__exths_parse(const uint8_t *p, size_t n, bt_wire_exths *out);

/* Append a whole extension handshake message (length prefix included) to @out: our
 * ut_metadata id, "metadata_size" when @metadata_size >= 0, "p" when @port, "reqq", "v", and
 * "yourip" when @yourip is not NULL.  Returns the buffer's error (0 on success). */
int bt_meta__exths_build(bt_buf *out, int64_t metadata_size, int port, unsigned reqq,
                         const char *client, const bt_addr *yourip);

/* A parsed ut_metadata message.  For data, the piece bytes are p[data_off .. data_off+data_len). */
typedef struct bt_wire_utm {
	int type; /* BT_UTM_* or another value (to be ignored, per BEP 9) */
	int64_t piece;
	int64_t total_size; /* -1 when absent */
	size_t data_off, data_len;
} bt_wire_utm;

/* Parse a ut_metadata payload (after the ext id).  0, or -1 when it is not a dictionary with
 * integer msg_type and piece. */
int bt_meta__utm_parse(const uint8_t *p, size_t n, bt_wire_utm *out);

/* Append a whole ut_metadata message to @out, addressed with the peer's id @their_id:
 * a request or reject (@data NULL), or data (@total_size and the piece's @len bytes). */
int bt_meta__utm_build(bt_buf *out, uint8_t their_id, int type, uint32_t piece, int64_t total_size,
                       const uint8_t *data, size_t len);

/* ---- The incremental reader ---- */

/* Handlers of bt_meta__rd_feed.  Return 0 to go on, or a negative code that stops the feed
 * and is returned by it. */
typedef struct bt_wire_handlers {
	int (*handshake)(void *ud, const bt_wire_hs *hs);
	/* An extension message: @ext_id and its payload. */
	int (*extended)(void *ud, uint8_t ext_id, const uint8_t *p, size_t n);
} bt_wire_handlers;

typedef struct bt_wire_rd {
	uint8_t state; /* RD_* in wire.c */
	uint8_t have;  /* bytes of hdr collected */
	uint8_t hdr[BT_WIRE_HS_LEN];
	uint32_t need; /* bytes still to come of the current message body */
	uint32_t len;  /* the current message body's length */
	uint8_t *body; /* an extension message being assembled (heap), or NULL */
	uint32_t body_have;
} bt_wire_rd;

/* A reader that expects a handshake first. */
void bt_meta__rd_init(bt_wire_rd *rd);

/* Free what the reader holds (a partial message). */
void bt_meta__rd_free(bt_wire_rd *rd);

/* Consume @n bytes.  Returns 0; a handler's negative code; BT_META_E_PROTOCOL for a bad
 * handshake, an oversized message, or an extension message over BT_WIRE_MAX_EXT;
 * BT_META_E_NOMEM. */
int bt_meta__rd_feed(bt_wire_rd *rd, const uint8_t *p, size_t n, const bt_wire_handlers *h,
                     void *ud);

#endif
