/*
 * addr.c - conversions of the compact address of addr.h.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int bt_addr_from_sockaddr(bt_addr *a, const struct sockaddr *sa, socklen_t len)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		a->family = 4;
		memcpy(a->ip, &s4->sin_addr, 4);
		a->port = ntohs(s4->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		a->port = ntohs(s6->sin6_port);
		if (memcmp(&s6->sin6_addr, v4mapped, 12) == 0) {
			a->family = 4;
			memcpy(a->ip, (const uint8_t *)&s6->sin6_addr + 12, 4);
		} else {
			a->family = 6;
			memcpy(a->ip, &s6->sin6_addr, 16);
		}
		return 0;
	}
	return -1;
}

socklen_t bt_addr_to_sockaddr(const bt_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a->ip, 4);
		s4->sin_port = htons(a->port);
		return sizeof(*s4);
	}
	if (a->family == 6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a->ip, 16);
		s6->sin6_port = htons(a->port);
		return sizeof(*s6);
	}
	return 0;
}

int bt_addr_from_compact(bt_addr *a, const uint8_t *p, size_t len)
{
	memset(a, 0, sizeof(*a));
	if (len == BT_ADDR_COMPACT4) {
		a->family = 4;
		memcpy(a->ip, p, 4);
		a->port = (uint16_t)(p[4] << 8 | p[5]);
		return 0;
	}
	if (len == BT_ADDR_COMPACT6) {
		a->family = 6;
		memcpy(a->ip, p, 16);
		a->port = (uint16_t)(p[16] << 8 | p[17]);
		return 0;
	}
	return -1;
}

size_t bt_addr_to_compact(const bt_addr *a, uint8_t *out)
{
	size_t n = a->family == 4 ? 4 : a->family == 6 ? 16 : 0;
	if (!n)
		return 0;
	memcpy(out, a->ip, n);
	out[n] = (uint8_t)(a->port >> 8);
	out[n + 1] = (uint8_t)a->port;
	return n + 2;
}

uint64_t bt_addr_ip_hash(const bt_addr *a, uint64_t key)
{
	/* FNV-1a over a keyed start, then a final mix: cheap, and the key keeps a remote party from
	 * choosing addresses that collide in our tables. */
	uint64_t h = 0xcbf29ce484222325ULL ^ key;
	size_t n = a->family == 4 ? 4 : 16;
	h = (h ^ a->family) * 0x100000001b3ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ a->ip[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

int bt_addr_is_local(const bt_addr *a)
{
	const uint8_t *ip = a->ip;
	if (a->family == 4) {
		return ip[0] == 0 || ip[0] == 10 || ip[0] == 127 ||
		       (ip[0] == 169 && ip[1] == 254) || (ip[0] == 172 && (ip[1] & 0xf0) == 16) ||
		       (ip[0] == 192 && ip[1] == 168) ||
		       (ip[0] == 100 && (ip[1] & 0xc0) == 64); /* carrier-grade NAT */
	}
	if (a->family == 6) {
		static const uint8_t zero[15] = {0};
		if (memcmp(ip, zero, 15) == 0 && (ip[15] == 0 || ip[15] == 1))
			return 1; /* :: and ::1 */
		return (ip[0] & 0xfe) == 0xfc || (ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80);
	}
	return 1;
}

const char *bt_addr_format(const bt_addr *a, char *buf, size_t n)
{
	char ip[INET6_ADDRSTRLEN];
	if (a->family == 4 && inet_ntop(AF_INET, a->ip, ip, sizeof(ip)))
		snprintf(buf, n, "%s:%u", ip, a->port);
	else if (a->family == 6 && inet_ntop(AF_INET6, a->ip, ip, sizeof(ip)))
		snprintf(buf, n, "[%s]:%u", ip, a->port);
	else
		snprintf(buf, n, "-");
	return buf;
}

int bt_addr_parse(bt_addr *a, const char *s)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon;
	memset(a, 0, sizeof(*a));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		colon = end + 1;
		if (inet_pton(AF_INET6, host, a->ip) != 1)
			return -1;
		a->family = 6;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		if (inet_pton(AF_INET, host, a->ip) != 1)
			return -1;
		a->family = 4;
	}
	char *end;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || port == 0 || port > 65535) {
		memset(a, 0, sizeof(*a));
		return -1;
	}
	a->port = (uint16_t)port;
	return 0;
}
