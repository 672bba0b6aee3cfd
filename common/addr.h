/*
 * addr.h - a compact IPv4/IPv6 address + port, the unit of every table that remembers peers or
 * nodes, with conversions to and from struct sockaddr, the 6/18-byte "compact" form of BEP 5/23/32,
 * and text.
 *
 * It is 20 bytes with no pointers, so it can be compared with memcmp, hashed and stored in place.
 */
#ifndef BT_COMMON_ADDR_H
#define BT_COMMON_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct bt_addr {
	uint8_t family; /* 4 or 6; 0 for "no address" */
	uint8_t pad;    /* always 0, so memcmp compares */
	uint16_t port;  /* host byte order */
	uint8_t ip[16]; /* IPv4 in ip[0..3], the rest 0 */
} bt_addr;

#define BT_ADDR_COMPACT4 6
#define BT_ADDR_COMPACT6 18

/* From a sockaddr (AF_INET or AF_INET6; a v4-mapped IPv6 address becomes IPv4).  0 or -1. */
int bt_addr_from_sockaddr(bt_addr *a, const struct sockaddr *sa, socklen_t len);

/* Into @ss; returns the sockaddr's length, or 0 for an empty address. */
socklen_t bt_addr_to_sockaddr(const bt_addr *a, struct sockaddr_storage *ss);

/* From the compact form: 6 bytes (IPv4 + port) or 18 bytes (IPv6 + port).  0 or -1. */
int bt_addr_from_compact(bt_addr *a, const uint8_t *p, size_t len);

/* Into @out (at least 18 bytes); returns 6, 18, or 0 for an empty address. */
size_t bt_addr_to_compact(const bt_addr *a, uint8_t *out);

static inline int bt_addr_eq(const bt_addr *a, const bt_addr *b)
{
	return a->family == b->family && a->port == b->port &&
	       __builtin_memcmp(a->ip, b->ip, 16) == 0;
}

static inline int bt_addr_ip_eq(const bt_addr *a, const bt_addr *b)
{
	return a->family == b->family && __builtin_memcmp(a->ip, b->ip, 16) == 0;
}

/* A keyed 64-bit hash of the IP alone (not the port), for per-IP tables.  @key: any secret. */
uint64_t bt_addr_ip_hash(const bt_addr *a, uint64_t key);

/* True for addresses BEP 42 exempts and no public node can have: loopback, private (RFC 1918,
 * fc00::/7), link-local, unspecified. */
int bt_addr_is_local(const bt_addr *a);

/* "1.2.3.4:6881" or "[2001:db8::1]:6881" into @buf (BT_ADDR_STRLEN is always enough). */
#define BT_ADDR_STRLEN 56
const char *bt_addr_format(const bt_addr *a, char *buf, size_t n);

/* A numeric "IPv4:port", "[IPv6]:port" (port 1..65535).  0 or -1; names are not resolved. */
int bt_addr_parse(bt_addr *a, const char *s);

#endif
