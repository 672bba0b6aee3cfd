/*
 * id.h - 160-bit identifiers (DHT node ids, v1 infohashes) and the XOR metric of BEP 5.
 *
 * Ids are big-endian byte strings: bit 0 is the most significant bit of b[0].  Comparing two
 * distances to a target is a memcmp of the XORs, done here without materialising them.
 */
#ifndef BT_COMMON_ID_H
#define BT_COMMON_ID_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define BT_ID_LEN 20

typedef struct bt_id {
	uint8_t b[BT_ID_LEN];
} bt_id;

static inline int bt_id_eq(const bt_id *a, const bt_id *b)
{
	return memcmp(a->b, b->b, BT_ID_LEN) == 0;
}

static inline int bt_id_cmp(const bt_id *a, const bt_id *b)
{
	return memcmp(a->b, b->b, BT_ID_LEN);
}

/* <0 if @a is closer to @target than @b, 0 if as close (a == b), >0 if farther. */
static inline int bt_id_dist_cmp(const bt_id *target, const bt_id *a, const bt_id *b)
{
	for (int i = 0; i < BT_ID_LEN; i++) {
		uint8_t x = (uint8_t)(a->b[i] ^ target->b[i]);
		uint8_t y = (uint8_t)(b->b[i] ^ target->b[i]);
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

/* Bit @i (0 = most significant) of @id. */
static inline int bt_id_bit(const bt_id *id, unsigned i)
{
	return (id->b[i >> 3] >> (7 - (i & 7))) & 1;
}

/* Number of leading bits @a and @b share, 0..160 (160 when equal). */
unsigned bt_id_common_bits(const bt_id *a, const bt_id *b);

/* 40 lowercase hex digits and a NUL into @out. */
void bt_id_to_hex(const bt_id *id, char out[2 * BT_ID_LEN + 1]);

/* Parse exactly 40 hex digits (either case).  Returns 0 or -1. */
int bt_id_from_hex(bt_id *id, const char *hex);

#endif
