/*
 * json.c - NDJSON in and out of a store: bt_store_import_json() reads the lines the tools print
 * (meta-fetch results, dht-crawl discoveries, another store's export), bt_store_torrent_json()
 * writes the export format, bt_store_magnet() a magnet link.  Input lines are untrusted: every
 * field is checked for type and range before anything is stored.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store-private.h"

#define MAX_LINE (64u << 20)

static const char *const source_names[] = {"sample", "announce", "get_peers", "lookup", "import"};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse @len bytes of hex from @s (exactly) into @out. */
static int unhex(const char *s, uint8_t *out, size_t len)
{
	if (!s || strlen(s) != len * 2)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static void tohex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = 0;
}

/* "1.2.3.4:5" or "[::1]:5" into @p. */
static int parse_peer(const char *s, bt_store_peer *p)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return -1;
	size_t hl = (size_t)(colon - s);
	const char *h = s;
	if (s[0] == '[') {
		if (hl < 3 || s[hl - 1] != ']')
			return -1;
		h = s + 1;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, h, hl);
	host[hl] = 0;
	char *end;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port == 0 || port > 65535)
		return -1;
	memset(p, 0, sizeof(*p));
	p->port = (uint16_t)port;
	if (s[0] != '[' && inet_pton(AF_INET, host, p->ip) == 1) {
		p->family = 4;
		return 0;
	}
	if (s[0] == '[' && inet_pton(AF_INET6, host, p->ip) == 1) {
		p->family = 6;
		return 0;
	}
	return -1;
}

static void format_peer(const bt_store_peer *p, char *out, size_t n)
{
	char host[INET6_ADDRSTRLEN];
	inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->ip, host, sizeof(host));
	snprintf(out, n, p->family == 4 ? "%s:%u" : "[%s]:%u", host, (unsigned)p->port);
}

/* An optional non-negative integer field: 0 if absent; -1 if of the wrong type. */
static int get_uint(json_t *o, const char *key, uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(o, key);
	*out = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int source_bit(const char *name)
{
	for (size_t i = 0; i < sizeof(source_names) / sizeof(source_names[0]); i++)
		if (strcmp(name, source_names[i]) == 0)
			return 1 << i;
	return -1;
}

/* "sources": ["sample", ...] or "source": "sample". */
static int get_sources(json_t *o, unsigned *out)
{
	*out = 0;
	json_t *one = json_object_get(o, "source"), *many = json_object_get(o, "sources");
	if (one) {
		int b = json_is_string(one) ? source_bit(json_string_value(one)) : -1;
		if (b < 0)
			return -1;
		*out |= (unsigned)b;
	}
	if (many) {
		size_t i;
		json_t *v;
		if (!json_is_array(many))
			return -1;
		json_array_foreach(many, i, v)
		{
			int b = json_is_string(v) ? source_bit(json_string_value(v)) : -1;
			if (b < 0)
				return -1;
			*out |= (unsigned)b;
		}
	}
	return 0;
}

/* Peer addresses from "peer_addrs", an array "peers", and "peer"; the count from an integer
 * "peers" (or the addresses' number).  Most recent first: "peer" is the latest. */
typedef struct peers_in {
	bt_store_peer v[BT_STORE_MAX_PEERS];
	size_t n;
	uint64_t count;
} peers_in;

static int add_peer_str(peers_in *pi, json_t *v)
{
	bt_store_peer p;
	if (!json_is_string(v) || parse_peer(json_string_value(v), &p))
		return -1;
	if (pi->n < BT_STORE_MAX_PEERS)
		pi->v[pi->n++] = p;
	return 0;
}

static int get_peers(json_t *o, peers_in *pi)
{
	memset(pi, 0, sizeof(*pi));
	json_t *one = json_object_get(o, "peer"), *arr = json_object_get(o, "peers"),
	       *addrs = json_object_get(o, "peer_addrs");
	if (one && !json_is_null(one) && add_peer_str(pi, one))
		return -1;
	size_t i;
	json_t *v;
	if (addrs) {
		if (!json_is_array(addrs))
			return -1;
		json_array_foreach(addrs, i, v) if (add_peer_str(pi, v)) return -1;
	}
	if (arr && json_is_array(arr)) {
		json_array_foreach(arr, i, v) if (add_peer_str(pi, v)) return -1;
		pi->count = json_array_size(arr);
	} else if (arr) {
		if (!json_is_integer(arr) || json_integer_value(arr) < 0 ||
		    json_integer_value(arr) > UINT32_MAX)
			return -1;
		pi->count = (uint64_t)json_integer_value(arr);
	}
	if (!pi->count)
		pi->count = pi->n;
	return 0;
}

static int get_time(json_t *o, const char *key, int64_t *out)
{
	uint64_t v;
	if (get_uint(o, key, (uint64_t)INT64_MAX, &v))
		return -1;
	*out = (int64_t)v;
	return 0;
}

/* A line with metadata. */
static int import_meta(bt_store *s, json_t *o, const uint8_t *ih, size_t ihlen, int64_t now)
{
	bt_store_torrent t;
	memset(&t, 0, sizeof(t));
	t.has_metadata = 1;
	json_t *name = json_object_get(o, "name"), *files = json_object_get(o, "files");
	json_t *v2 = json_object_get(o, "infohash_v2"), *vers = json_object_get(o, "versions");
	json_t *priv = json_object_get(o, "private");
	if (!json_is_string(name) || !json_is_array(files) || json_array_size(files) == 0 ||
	    json_array_size(files) > BT_STORE__MAX_FILES)
		return BT_STORE_E_FORMAT;
	t.name = json_string_value(name);
	if (ihlen == 32) {
		memcpy(t.infohash_v2, ih, 32);
		t.has_v2 = 1;
	} else {
		memcpy(t.infohash, ih, 20);
	}
	if (v2) {
		if (!json_is_string(v2) || unhex(json_string_value(v2), t.infohash_v2, 32))
			return BT_STORE_E_FORMAT;
		t.has_v2 = 1;
	}
	if (vers) {
		size_t i;
		json_t *v;
		if (!json_is_array(vers))
			return BT_STORE_E_FORMAT;
		json_array_foreach(vers, i, v)
		{
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > 2)
				return BT_STORE_E_FORMAT;
			t.versions |= json_integer_value(v) == 1 ? BT_STORE_V1 : BT_STORE_V2;
		}
	}
	if (ihlen == 32)
		t.versions = (t.versions & ~(unsigned)BT_STORE_V1) | BT_STORE_V2;
	if (!t.versions)
		t.versions = BT_STORE_V1;
	if ((t.versions & BT_STORE_V2) && !t.has_v2 && !(t.versions & BT_STORE_V1))
		return BT_STORE_E_FORMAT;
	if (!(t.versions & BT_STORE_V1)) {
		/* A v2-only torrent is known by its truncated v2 infohash, and by nothing else. */
		if (ihlen == 20 && memcmp(ih, t.infohash_v2, 20) != 0)
			return BT_STORE_E_FORMAT;
		memcpy(t.infohash, t.infohash_v2, 20);
	}
	if (priv && !json_is_boolean(priv))
		return BT_STORE_E_FORMAT;
	t.is_private = json_is_true(priv);
	uint64_t x;
	if (get_uint(o, "length", UINT64_MAX >> 1, &t.length) ||
	    get_uint(o, "piece_length", UINT64_MAX >> 1, &t.piece_length) ||
	    get_uint(o, "metadata_size", UINT32_MAX, &x))
		return BT_STORE_E_FORMAT;
	t.metadata_size = (uint32_t)x;
	uint64_t times;
	unsigned sources;
	peers_in pi;
	if (get_time(o, "first_seen", &t.first_seen) || get_time(o, "last_seen", &t.last_seen) ||
	    get_time(o, "indexed", &t.indexed) || get_uint(o, "times_seen", UINT32_MAX, &times) ||
	    get_sources(o, &sources) || get_peers(o, &pi))
		return BT_STORE_E_FORMAT;
	if (json_object_get(o, "peer"))
		sources |= BT_STORE_SOURCE_LOOKUP; /* meta-fetch found it at that peer */
	if (!t.first_seen)
		t.first_seen = t.last_seen ? t.last_seen : now;
	if (!t.last_seen)
		t.last_seen = t.first_seen > now ? t.first_seen : now;
	t.times_seen = (uint32_t)times;
	t.sources = sources;
	t.peers = (uint32_t)pi.count;
	t.peer_addrs = pi.v;
	t.num_peer_addrs = pi.n;

	size_t nf = json_array_size(files);
	bt_store_file *fv = calloc(nf, sizeof(*fv));
	if (!fv)
		return BT_STORE_E_NOMEM;
	uint64_t sum = 0;
	int rc = 0;
	for (size_t i = 0; i < nf && rc == 0; i++) {
		json_t *f = json_array_get(files, i);
		json_t *path = json_object_get(f, "path"), *pad = json_object_get(f, "pad");
		uint64_t len, flags;
		if (!json_is_object(f) || !json_is_string(path) ||
		    get_uint(f, "length", UINT64_MAX >> 1, &len) ||
		    get_uint(f, "flags", 15, &flags) || (pad && !json_is_boolean(pad))) {
			rc = BT_STORE_E_FORMAT;
			break;
		}
		fv[i].path = json_string_value(path);
		fv[i].length = len;
		fv[i].flags = (unsigned)flags | (json_is_true(pad) ? BT_STORE_FILE_PAD : 0);
		if (!(fv[i].flags & BT_STORE_FILE_PAD))
			sum += len;
	}
	if (rc == 0 && !json_object_get(o, "length"))
		t.length = sum;
	t.files = fv;
	t.num_files = nf;
	if (rc == 0) {
		rc = bt_store_put(s, &t);
		if (rc == BT_STORE_E_INVAL)
			rc = BT_STORE_E_FORMAT;
	}
	free(fv);
	return rc;
}

/* A line without metadata: a sighting (two for an exported pending infohash, at its first
 * and last time). */
static int import_seen(bt_store *s, json_t *o, const uint8_t *ih, size_t ihlen, int64_t now)
{
	unsigned sources;
	peers_in pi;
	int64_t when, first, last;
	if (get_sources(o, &sources) || get_peers(o, &pi) || get_time(o, "time", &when) ||
	    get_time(o, "first_seen", &first) || get_time(o, "last_seen", &last))
		return BT_STORE_E_FORMAT;
	if (!sources)
		sources = BT_STORE_SOURCE_IMPORT;
	if (!when)
		when = last ? last : now;
	/* The list is most recent first; bt_store_seen() takes the latest last. */
	bt_store_peer rev[BT_STORE_MAX_PEERS];
	for (size_t i = 0; i < pi.n; i++)
		rev[i] = pi.v[pi.n - 1 - i];
	int rc = 0;
	if (first && first < when) {
		rc = bt_store_seen(s, ih, ihlen, sources, NULL, 0, first);
		if (rc < 0)
			return rc;
	}
	int rc2 = bt_store_seen(s, ih, ihlen, sources, rev, pi.n, when);
	if (rc2 < 0)
		return rc2;
	return rc | rc2;
}

int bt_store_import_json(bt_store *s, const char *line, size_t len, int64_t now)
{
	if (!s || (!line && len))
		return BT_STORE_E_INVAL;
	if (len > MAX_LINE)
		return BT_STORE_E_FORMAT;
	json_error_t err;
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
	if (!o)
		return BT_STORE_E_FORMAT;
	int rc = BT_STORE_E_FORMAT;
	json_t *jih = json_object_get(o, "infohash");
	const char *hex = json_is_string(jih) ? json_string_value(jih) : NULL;
	uint8_t ih[32];
	size_t ihlen = hex && strlen(hex) == 64 ? 32 : 20;
	if (!json_is_object(o) || !hex || unhex(hex, ih, ihlen))
		goto out;
	json_t *status = json_object_get(o, "status");
	if (status && !json_is_string(status))
		goto out;
	int failed = status && strcmp(json_string_value(status), "ok") != 0;
	if (!failed && json_object_get(o, "files"))
		rc = import_meta(s, o, ih, ihlen, now);
	else
		rc = import_seen(s, o, ih, ihlen, now);
out:
	json_decref(o);
	return rc;
}

/* ---- Out ----------------------------------------------------------------------------------------
 */

int bt_store_torrent_json(const bt_store_torrent *t, char **out)
{
	if (!out)
		return BT_STORE_E_INVAL;
	*out = NULL;
	if (!t)
		return BT_STORE_E_INVAL;
	json_t *o = json_object();
	if (!o)
		return BT_STORE_E_NOMEM;
	char hex[65], peer[64];
	tohex(t->infohash, 20, hex);
	json_object_set_new(o, "infohash", json_string(hex));
	if (t->has_v2) {
		tohex(t->infohash_v2, 32, hex);
		json_object_set_new(o, "infohash_v2", json_string(hex));
	}
	if (t->has_metadata) {
		json_object_set_new(o, "name", json_stringn(t->name, strlen(t->name)));
		json_object_set_new(o, "length", json_integer((json_int_t)t->length));
		json_object_set_new(o, "piece_length", json_integer((json_int_t)t->piece_length));
		json_object_set_new(o, "private", json_boolean(t->is_private));
		json_t *v = json_array();
		if (t->versions & BT_STORE_V1)
			json_array_append_new(v, json_integer(1));
		if (t->versions & BT_STORE_V2)
			json_array_append_new(v, json_integer(2));
		json_object_set_new(o, "versions", v);
		json_t *files = json_array();
		for (size_t i = 0; i < t->num_files; i++) {
			json_t *f = json_object();
			json_object_set_new(f, "path", json_string(t->files[i].path));
			json_object_set_new(f, "length",
			                    json_integer((json_int_t)t->files[i].length));
			if (t->files[i].flags & BT_STORE_FILE_PAD)
				json_object_set_new(f, "pad", json_true());
			if (t->files[i].flags & ~(unsigned)BT_STORE_FILE_PAD)
				json_object_set_new(f, "flags", json_integer(t->files[i].flags));
			json_array_append_new(files, f);
		}
		json_object_set_new(o, "files", files);
		json_object_set_new(o, "metadata_size", json_integer(t->metadata_size));
		json_object_set_new(o, "indexed", json_integer(t->indexed));
	}
	json_object_set_new(o, "first_seen", json_integer(t->first_seen));
	json_object_set_new(o, "last_seen", json_integer(t->last_seen));
	json_object_set_new(o, "times_seen", json_integer(t->times_seen));
	json_t *src = json_array();
	for (size_t i = 0; i < sizeof(source_names) / sizeof(source_names[0]); i++)
		if (t->sources & (1u << i))
			json_array_append_new(src, json_string(source_names[i]));
	json_object_set_new(o, "sources", src);
	json_object_set_new(o, "peers", json_integer(t->peers));
	json_t *pa = json_array();
	for (size_t i = 0; i < t->num_peer_addrs; i++) {
		format_peer(&t->peer_addrs[i], peer, sizeof(peer));
		json_array_append_new(pa, json_string(peer));
	}
	json_object_set_new(o, "peer_addrs", pa);
	char *magnet;
	if (bt_store_magnet(t, &magnet) == 0) {
		json_object_set_new(o, "magnet", json_string(magnet));
		free(magnet);
	}
	*out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return *out ? 0 : BT_STORE_E_NOMEM;
}

int bt_store_magnet(const bt_store_torrent *t, char **out)
{
	if (!out)
		return BT_STORE_E_INVAL;
	*out = NULL;
	if (!t)
		return BT_STORE_E_INVAL;
	bt_buf b;
	bt_buf_init(&b, 0);
	char hex[65];
	bt_buf_append(&b, "magnet:?", 8);
	int v1 = !t->has_metadata || (t->versions & BT_STORE_V1) || !t->has_v2;
	if (v1) {
		tohex(t->infohash, 20, hex);
		bt_buf_append(&b, "xt=urn:btih:", 12);
		bt_buf_append(&b, hex, 40);
	}
	if (t->has_v2) {
		tohex(t->infohash_v2, 32, hex);
		if (v1)
			bt_buf_putc(&b, '&');
		bt_buf_append(&b, "xt=urn:btmh:1220", 16);
		bt_buf_append(&b, hex, 64);
	}
	if (t->has_metadata && t->name) {
		static const char d[] = "0123456789ABCDEF";
		bt_buf_append(&b, "&dn=", 4);
		for (const unsigned char *p = (const unsigned char *)t->name; *p; p++) {
			if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
				bt_buf_putc(&b, *p);
			} else {
				char e[3] = {'%', d[*p >> 4], d[*p & 15]};
				bt_buf_append(&b, e, 3);
			}
		}
	}
	if (t->num_peer_addrs) {
		char peer[64];
		format_peer(&t->peer_addrs[0], peer, sizeof(peer));
		bt_buf_append(&b, "&x.pe=", 6);
		bt_buf_append(&b, peer, strlen(peer));
	}
	bt_buf_putc(&b, 0);
	size_t len;
	*out = (char *)bt_buf_steal(&b, &len);
	return *out ? 0 : BT_STORE_E_NOMEM;
}
