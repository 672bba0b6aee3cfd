/*
 * record.h - libbtstore's on-disk encodings, free of LMDB so tests and fuzzers can reach them.
 *
 * A torrent lives in two values keyed by its document number: the "doc" value (what changes with
 * every sighting: times, counts, peers; fixed layout, small) and, once metadata is known, the
 * "rec" value (the metadata, written once: name, sizes, file list with shared path prefixes,
 * varints).  Every decoder takes bytes that may be corrupt and refuses them with
 * BT_STORE_E_CORRUPT, bounded in what it allocates.
 */
#ifndef BT_STORE_RECORD_H
#define BT_STORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "btstore.h"
#include "buf.h"

/* Little-endian fixed-width fields of the stored values. */
static inline void bt_store__put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void bt_store__put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t bt_store__get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t bt_store__get_u64(const uint8_t *p)
{
	return (uint64_t)bt_store__get_u32(p) | (uint64_t)bt_store__get_u32(p + 4) << 32;
}

#define BT_STORE__REC_FORMAT 1
#define BT_STORE__DOC_FORMAT 1
#define BT_STORE__MAX_FILES 1000000
#define BT_STORE__MAX_PATH 4096
/* Bytes of names and paths one torrent may expand to, decoded. */
#define BT_STORE__MAX_TEXT (64u << 20)

/* The mutable part of an infohash's entry. */
typedef struct bt_store__doc {
	uint8_t has_meta;
	uint8_t sources;
	uint8_t npeers;
	uint32_t times_seen;
	uint32_t peers;
	uint32_t nfiles;
	uint64_t length;
	int64_t first_seen;
	int64_t last_seen;
	int64_t indexed;
	uint8_t infohash[20];
	bt_store_peer addrs[BT_STORE_MAX_PEERS];
} bt_store__doc;

#define BT_STORE__DOC_MAX (72 + BT_STORE_MAX_PEERS * 19)

/* Encode @d into @out (BT_STORE__DOC_MAX bytes); returns the length. */
size_t bt_store__doc_encode(const bt_store__doc *d, uint8_t *out);

/* Decode; 0 or BT_STORE_E_CORRUPT. */
int bt_store__doc_decode(const uint8_t *p, size_t n, bt_store__doc *d);

/* Decode all but the peer list (npeers is 0): what search's filters and sorts read. */
int bt_store__doc_decode_head(const uint8_t *p, size_t n, bt_store__doc *d);

/* 1 if @n bytes of @s are valid UTF-8. */
int bt_store__utf8_valid(const char *s, size_t n);

/* Check a torrent handed to bt_store_put(): 0 or BT_STORE_E_INVAL. */
int bt_store__torrent_check(const bt_store_torrent *t);

/* Append the metadata record of @t (checked) to @out.  Returns 0 or the buffer's error. */
int bt_store__rec_encode(const bt_store_torrent *t, bt_buf *out);

/*
 * Build a torrent in one allocation from @d and, when it has metadata, the record @rec (@n bytes;
 * NULL for none).  Returns 0 and *@out (free with bt_store_torrent_free), BT_STORE_E_CORRUPT or
 * BT_STORE_E_NOMEM.
 */
int bt_store__torrent_make(const bt_store__doc *d, const uint8_t *rec, size_t n,
                           bt_store_torrent **out);

/* The v2 infohash of a record, if it has one: 1 and @v2 filled, 0 if none, or CORRUPT. */
int bt_store__rec_v2(const uint8_t *rec, size_t n, uint8_t v2[32]);

/* Call @fn for the name and then each path of a record (@is_name set for the name). */
typedef int (*bt_store__text_fn)(const char *s, size_t len, int is_name, void *ud);
int bt_store__rec_texts(const uint8_t *rec, size_t n, bt_store__text_fn fn, void *ud);

#endif
