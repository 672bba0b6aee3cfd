/*
 * krpc.h - KRPC messages of the Mainline DHT (BEP 5, 32, 42, 43, 51): one flat struct, parsed
 * from a datagram without copying, and encoded from the same struct.  Internal to libbtdht.
 *
 * Parsing is lax about what real clients do (unsorted keys, unknown keys, extra fields) and strict
 * about what would hurt us: every id, target and info_hash is exactly 20 bytes; "nodes" is a whole
 * number of 26-byte entries and "nodes6" of 38; ports are 1..65535; "values" holds at most
 * BT_DHT__KRPC_MAX_VALUES entries of 6 or 18 bytes (others are skipped and counted); sizes are
 * bounded before anything is used.  Pointers in a parsed message point into the datagram, which
 * must outlive the struct.
 *
 * A query whose method we do not know parses successfully as BT_DHT__KRPC_M_UNKNOWN (BEP 5: reply
 * 204), so the engine can answer it; a query that is malformed but carries a transaction id
 * fails with BT_DHT__KRPC_E_ARGS or _E_ID and still fills in kind and t, so the engine can reply
 * 203.
 *
 * Encoding writes exactly the fields that are set (see each field), in canonical key order.
 */
#ifndef BT_DHT_KRPC_H
#define BT_DHT_KRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "buf.h"
#include "id.h"

#define BT_DHT__KRPC_MAX_T 32          /* longest transaction id accepted */
#define BT_DHT__KRPC_MAX_VALUES 128    /* peers kept from one "values" list */
#define BT_DHT__KRPC_MAX_TOKEN 64      /* longest token accepted */
#define BT_DHT__KRPC_MAX_PACKET 1500   /* larger datagrams are not parsed */

typedef enum bt_dht__krpc_kind {
	BT_DHT__KRPC_QUERY = 1,    /* "y": "q" */
	BT_DHT__KRPC_RESPONSE = 2, /* "y": "r" */
	BT_DHT__KRPC_ERROR = 3     /* "y": "e" */
} bt_dht__krpc_kind;

typedef enum bt_dht__krpc_method {
	BT_DHT__KRPC_M_NONE = 0,     /* responses and errors */
	BT_DHT__KRPC_M_PING,
	BT_DHT__KRPC_M_FIND_NODE,
	BT_DHT__KRPC_M_GET_PEERS,
	BT_DHT__KRPC_M_ANNOUNCE_PEER,
	BT_DHT__KRPC_M_SAMPLE_INFOHASHES,
	BT_DHT__KRPC_M_UNKNOWN       /* a well-formed query of a method we do not implement */
} bt_dht__krpc_method;

/* "want" flags (BEP 32). */
enum { BT_DHT__WANT_N4 = 1, BT_DHT__WANT_N6 = 2 };

/* Parse errors: why a datagram was dropped (the engine counts each). */
typedef enum bt_dht__krpc_err {
	BT_DHT__KRPC_OK = 0,
	BT_DHT__KRPC_E_SIZE = -1,    /* empty or over BT_DHT__KRPC_MAX_PACKET */
	BT_DHT__KRPC_E_BENCODE = -2, /* not bencode, or not a dictionary at the top */
	BT_DHT__KRPC_E_T = -3,       /* no "t", or not a string of 1..MAX_T bytes */
	BT_DHT__KRPC_E_Y = -4,       /* no "y", or not "q"/"r"/"e" */
	BT_DHT__KRPC_E_ARGS = -5,    /* a query/response/error without its required parts, or with
	                               a part of the wrong type or size (t and kind are filled in) */
	BT_DHT__KRPC_E_ID = -6       /* no 20-byte "id" in "a" or "r" (t and kind are filled in) */
} bt_dht__krpc_err;

typedef struct bt_dht__krpc_msg {
	bt_dht__krpc_kind kind;
	bt_dht__krpc_method method;  /* queries only */
	const uint8_t *t;            /* transaction id; encode: required */
	size_t tlen;
	const uint8_t *v;            /* "v" client version, optional (NULL: absent) */
	size_t vlen;
	bool ro;                     /* BEP 43 "ro": 1 in a query */
	bool has_ip;                 /* BEP 42 "ip": the requester's address as seen by the replier */
	bt_addr ip;

	/* "a" (queries) or "r" (responses) */
	bool has_id;
	bt_id id;
	bool has_target;             /* find_node, sample_infohashes */
	bt_id target;
	bool has_info_hash;          /* get_peers, announce_peer */
	bt_id info_hash;
	uint16_t port;               /* announce_peer; 0: absent */
	bool implied_port;           /* announce_peer "implied_port" present and non-zero (BEP 5);
	                                encoded as 1 */
	const uint8_t *token;        /* announce_peer query; get_peers response.  NULL: absent */
	size_t token_len;
	unsigned want;               /* BT_DHT__WANT_* ; 0: absent */
	const uint8_t *nodes;        /* compact 26-byte entries; NULL: absent */
	size_t nodes_len;
	const uint8_t *nodes6;       /* compact 38-byte entries; NULL: absent */
	size_t nodes6_len;
	const uint8_t *values[BT_DHT__KRPC_MAX_VALUES]; /* compact peers, 6 or 18 bytes each */
	uint8_t values_len[BT_DHT__KRPC_MAX_VALUES];
	unsigned nvalues;
	bool has_values;             /* a "values" key is present (even if empty) */
	unsigned values_skipped;     /* parse: entries of a bad size, or beyond MAX_VALUES */
	const uint8_t *samples;      /* BEP 51: 20-byte entries; NULL: absent */
	size_t samples_len;
	bool has_interval;           /* BEP 51 */
	int64_t interval;
	bool has_num;
	int64_t num;

	/* "e" (errors) */
	int64_t err_code;            /* 0: absent (encode refuses it; BEP 5 codes are 201..204) */
	const uint8_t *err_msg;
	size_t err_msg_len;
} bt_dht__krpc_msg;

/* Parse @len bytes.  Returns BT_DHT__KRPC_OK or a bt_dht__krpc_err.  After E_ARGS / E_ID the
 * top-level fields (kind, method, t, v, ro, ip) are filled in and every field of "a", "r" and "e"
 * is zero; after the other errors the whole struct is zero.  Never allocates. */
int bt_dht__krpc_parse(bt_dht__krpc_msg *m, const uint8_t *buf, size_t len);

/* Encode @m into @out (appending).  Returns 0, or a negative code: BT_DHT__KRPC_E_ARGS when
 * @m lacks what its kind needs (t; a query's method, id and method's args; a response's id; an
 * error's code) or holds what the parser would refuse (t not of 1..MAX_T bytes, a partial node or
 * sample entry, a token over MAX_TOKEN bytes or an empty one in a query, nvalues over MAX_VALUES
 * or a value not of 6 or 18 bytes, unknown want bits, has_ip without a 4/6 family), or the
 * buffer's error (e.g. -ENOBUFS from a fixed buffer that is too small).  On failure nothing is
 * appended: @out's length is as before (its error, if any, stays). */
int bt_dht__krpc_encode(bt_buf *out, const bt_dht__krpc_msg *m);

/* The method's name as sent in "q", or NULL for NONE/UNKNOWN. */
const char *bt_dht__krpc_method_name(bt_dht__krpc_method m);

#endif
