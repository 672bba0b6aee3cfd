/*
 * bep42.h - DHT security extension (BEP 42): node ids tied to the node's external IP address.
 * Internal to libbtdht.
 */
#ifndef BT_DHT_BEP42_H
#define BT_DHT_BEP42_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "id.h"

/* CRC32C (Castagnoli) of @n bytes, starting from @crc (0 for a fresh checksum). */
uint32_t bt_dht__crc32c(uint32_t crc, const uint8_t *p, size_t n);

/* An id valid for @ip: the first 21 bits from the CRC32C of the masked address and r, the last
 * byte r, the rest from @rnd (20 random bytes; rnd[19] & 7 is used as r). */
void bt_dht__bep42_make_id(bt_id *out, const bt_addr *ip, const uint8_t rnd[BT_ID_LEN]);

/* True if @id is valid for @ip by BEP 42.  Local addresses (bt_addr_is_local) are exempt and
 * always valid. */
bool bt_dht__bep42_check(const bt_id *id, const bt_addr *ip);

#endif
