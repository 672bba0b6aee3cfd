/*
 * siphash.h - SipHash-2-4, the keyed hash of every table whose keys a remote party chooses
 * (infohashes, peer addresses): with a secret key, they cannot aim many keys at one chain.
 */
#ifndef BT_COMMON_SIPHASH_H
#define BT_COMMON_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* The 64-bit SipHash-2-4 of @len bytes at @m under the key (@k0, @k1). */
uint64_t bt_siphash24(uint64_t k0, uint64_t k1, const uint8_t *m, size_t len);

#endif
