/*
 * record.c - the binary encodings of libbtstore's values (see record.h).
 *
 * rec value, format 1:
 *   u8 format, u8 flags (PRIVATE, HAS_V2, V1, V2, FILE_FLAGS, SINGLE)
 *   [32 bytes v2 infohash if HAS_V2]
 *   varint length, varint piece_length, varint metadata_size
 *   varint name length, name bytes
 *   SINGLE: the one file is the name itself, of the whole length; [varint flags if FILE_FLAGS]
 *   else:   varint file count, then per file: varint bytes shared with the previous path,
 *           varint suffix length, suffix, varint length, [varint flags if FILE_FLAGS]
 * Sharing prefixes makes a 20-file season pack or album cost little more than its distinct
 * file names.  doc value: fixed little-endian fields then 19 bytes per peer.
 */
#include <stdlib.h>
#include <string.h>

#include "record.h"

enum {
	RF_PRIVATE = 1,
	RF_HAS_V2 = 2,
	RF_V1 = 4,
	RF_V2 = 8,
	RF_FILE_FLAGS = 16,
	RF_SINGLE = 32,
	RF_KNOWN = 63
};

/* ---- Little helpers ------------------------------------------------------------------------ */

static int put_varint(bt_buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	return bt_buf_append(b, tmp, n);
}

/* A reader over untrusted bytes: every get fails once the input is exhausted or malformed. */
typedef struct rd {
	const uint8_t *p, *end;
	int bad;
} rd;

static uint64_t rd_varint(rd *r)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end) {
			r->bad = 1;
			return 0;
		}
		uint8_t c = *r->p++;
		if (shift == 63 && c > 1) {
			r->bad = 1;
			return 0;
		}
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
	r->bad = 1;
	return 0;
}

static const uint8_t *rd_bytes(rd *r, uint64_t n)
{
	if (r->bad || n > (uint64_t)(r->end - r->p)) {
		r->bad = 1;
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	return p;
}

/* ---- doc ----------------------------------------------------------------------------------- */

/* Layout: format, has_meta, sources, npeers, times_seen, peers, nfiles, length, first_seen,
 * last_seen, indexed, infohash = 72 bytes; then per peer: family, 16 bytes ip, 2 bytes port. */
size_t bt_store__doc_encode(const bt_store__doc *d, uint8_t *out)
{
	out[0] = BT_STORE__DOC_FORMAT;
	out[1] = d->has_meta;
	out[2] = d->sources;
	out[3] = d->npeers;
	bt_store__put_u32(out + 4, d->times_seen);
	bt_store__put_u32(out + 8, d->peers);
	bt_store__put_u32(out + 12, d->nfiles);
	bt_store__put_u64(out + 16, d->length);
	bt_store__put_u64(out + 24, (uint64_t)d->first_seen);
	bt_store__put_u64(out + 32, (uint64_t)d->last_seen);
	bt_store__put_u64(out + 40, (uint64_t)d->indexed);
	memcpy(out + 48, d->infohash, 20);
	memset(out + 68, 0, 4);
	size_t n = 72;
	for (unsigned i = 0; i < d->npeers && i < BT_STORE_MAX_PEERS; i++) {
		out[n] = d->addrs[i].family;
		memcpy(out + n + 1, d->addrs[i].ip, 16);
		out[n + 17] = (uint8_t)(d->addrs[i].port >> 8);
		out[n + 18] = (uint8_t)d->addrs[i].port;
		n += 19;
	}
	return n;
}

int bt_store__doc_decode_head(const uint8_t *p, size_t n, bt_store__doc *d)
{
	if (n < 72 || p[0] != BT_STORE__DOC_FORMAT || p[1] > 1 || p[3] > BT_STORE_MAX_PEERS ||
	    n != 72 + (size_t)p[3] * 19)
		return BT_STORE_E_CORRUPT;
	d->has_meta = p[1];
	d->sources = p[2];
	d->times_seen = bt_store__get_u32(p + 4);
	d->peers = bt_store__get_u32(p + 8);
	d->nfiles = bt_store__get_u32(p + 12);
	d->length = bt_store__get_u64(p + 16);
	d->first_seen = (int64_t)bt_store__get_u64(p + 24);
	d->last_seen = (int64_t)bt_store__get_u64(p + 32);
	d->indexed = (int64_t)bt_store__get_u64(p + 40);
	memcpy(d->infohash, p + 48, 20);
	d->npeers = 0;
	return 0;
}

int bt_store__doc_decode(const uint8_t *p, size_t n, bt_store__doc *d)
{
	memset(d, 0, sizeof(*d));
	if (bt_store__doc_decode_head(p, n, d))
		return BT_STORE_E_CORRUPT;
	d->npeers = p[3];
	const uint8_t *q = p + 72;
	for (unsigned i = 0; i < d->npeers; i++, q += 19) {
		if (q[0] != 4 && q[0] != 6)
			return BT_STORE_E_CORRUPT;
		d->addrs[i].family = q[0];
		memcpy(d->addrs[i].ip, q + 1, 16);
		d->addrs[i].port = (uint16_t)(q[17] << 8 | q[18]);
	}
	return 0;
}

/* ---- rec ----------------------------------------------------------------------------------- */

/* Strict UTF-8: no overlong forms, surrogates or code points past U+10FFFF. */
int bt_store__utf8_valid(const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s, *end = p + n;
	while (p < end) {
		uint8_t c = *p;
		if (c < 0x80) {
			p++;
			continue;
		}
		size_t k = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : 0;
		if (!k || c > 0xf4 || (size_t)(end - p) <= k)
			return 0;
		uint32_t cp = c & (0x3f >> k);
		for (size_t i = 1; i <= k; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += k + 1;
	}
	return 1;
}

int bt_store__torrent_check(const bt_store_torrent *t)
{
	if (!t || !t->has_metadata || !t->name || !t->files || t->num_files == 0 ||
	    t->num_files > BT_STORE__MAX_FILES)
		return BT_STORE_E_INVAL;
	size_t total = strlen(t->name);
	if (total > BT_STORE__MAX_PATH || !bt_store__utf8_valid(t->name, total))
		return BT_STORE_E_INVAL;
	for (size_t i = 0; i < t->num_files; i++) {
		if (!t->files[i].path)
			return BT_STORE_E_INVAL;
		size_t l = strlen(t->files[i].path);
		if (l > BT_STORE__MAX_PATH || !bt_store__utf8_valid(t->files[i].path, l))
			return BT_STORE_E_INVAL;
		total += l + 1;
		if (total > BT_STORE__MAX_TEXT)
			return BT_STORE_E_INVAL;
	}
	return 0;
}

static int is_single(const bt_store_torrent *t)
{
	return t->num_files == 1 && strcmp(t->files[0].path, t->name) == 0 &&
	       t->files[0].length == t->length;
}

int bt_store__rec_encode(const bt_store_torrent *t, bt_buf *out)
{
	unsigned flags = 0;
	if (t->is_private)
		flags |= RF_PRIVATE;
	if (t->has_v2)
		flags |= RF_HAS_V2;
	unsigned versions = t->versions ? t->versions : BT_STORE_V1;
	if (versions & BT_STORE_V1)
		flags |= RF_V1;
	if (versions & BT_STORE_V2)
		flags |= RF_V2;
	for (size_t i = 0; i < t->num_files; i++)
		if (t->files[i].flags)
			flags |= RF_FILE_FLAGS;
	int single = is_single(t);
	if (single)
		flags |= RF_SINGLE;
	uint8_t head[2] = {BT_STORE__REC_FORMAT, (uint8_t)flags};
	bt_buf_append(out, head, 2);
	if (t->has_v2)
		bt_buf_append(out, t->infohash_v2, 32);
	put_varint(out, t->length);
	put_varint(out, t->piece_length);
	put_varint(out, t->metadata_size);
	size_t nl = strlen(t->name);
	put_varint(out, nl);
	bt_buf_append(out, t->name, nl);
	if (single) {
		if (flags & RF_FILE_FLAGS)
			put_varint(out, t->files[0].flags & 15);
		return out->err;
	}
	put_varint(out, t->num_files);
	const char *prev = "";
	size_t prevlen = 0;
	for (size_t i = 0; i < t->num_files; i++) {
		const char *p = t->files[i].path;
		size_t l = strlen(p), shared = 0;
		while (shared < l && shared < prevlen && p[shared] == prev[shared])
			shared++;
		put_varint(out, shared);
		put_varint(out, l - shared);
		bt_buf_append(out, p + shared, l - shared);
		put_varint(out, t->files[i].length);
		if (flags & RF_FILE_FLAGS)
			put_varint(out, t->files[i].flags & 15);
		prev = p;
		prevlen = l;
	}
	return out->err;
}

/* The parsed head of a record; the file list is walked separately. */
typedef struct rec_head {
	unsigned flags;
	const uint8_t *v2;
	uint64_t length, piece_length, metadata_size;
	const uint8_t *name;
	size_t name_len;
	uint64_t nfiles;
	rd files; /* positioned at the first file (or the single file's flags) */
} rec_head;

static int no_nul(const uint8_t *p, size_t n)
{
	return memchr(p, 0, n) == NULL;
}

static int rec_head_parse(const uint8_t *rec, size_t n, rec_head *h)
{
	rd r = {rec, rec + n, 0};
	const uint8_t *hd = rd_bytes(&r, 2);
	if (!hd || hd[0] != BT_STORE__REC_FORMAT || (hd[1] & ~RF_KNOWN))
		return BT_STORE_E_CORRUPT;
	memset(h, 0, sizeof(*h));
	h->flags = hd[1];
	if (h->flags & RF_HAS_V2)
		h->v2 = rd_bytes(&r, 32);
	h->length = rd_varint(&r);
	h->piece_length = rd_varint(&r);
	h->metadata_size = rd_varint(&r);
	uint64_t nl = rd_varint(&r);
	if (nl > BT_STORE__MAX_PATH)
		return BT_STORE_E_CORRUPT;
	h->name = rd_bytes(&r, nl);
	h->name_len = (size_t)nl;
	h->nfiles = (h->flags & RF_SINGLE) ? 1 : rd_varint(&r);
	if (r.bad || h->metadata_size > UINT32_MAX || h->nfiles == 0 ||
	    h->nfiles > BT_STORE__MAX_FILES || !no_nul(h->name, h->name_len))
		return BT_STORE_E_CORRUPT;
	h->files = r;
	return 0;
}

/* Walk the files of @h: @fn gets each full path (rebuilt in @path, BT_STORE__MAX_PATH + 1
 * bytes), length and flags.  Returns 0, CORRUPT, or @fn's nonzero value. */
typedef int (*file_fn)(const char *path, size_t len, uint64_t length, unsigned flags, void *ud);

static int rec_files(const rec_head *h, char *path, file_fn fn, void *ud)
{
	rd r = h->files;
	if (h->flags & RF_SINGLE) {
		unsigned fl = (h->flags & RF_FILE_FLAGS) ? (unsigned)rd_varint(&r) : 0;
		if (r.bad || r.p != r.end || fl > 15)
			return BT_STORE_E_CORRUPT;
		memcpy(path, h->name, h->name_len);
		path[h->name_len] = 0;
		return fn(path, h->name_len, h->length, fl, ud);
	}
	size_t prevlen = 0;
	for (uint64_t i = 0; i < h->nfiles; i++) {
		uint64_t shared = rd_varint(&r), sl = rd_varint(&r);
		if (r.bad || shared > prevlen || sl > BT_STORE__MAX_PATH - shared)
			return BT_STORE_E_CORRUPT;
		const uint8_t *suf = rd_bytes(&r, sl);
		uint64_t len = rd_varint(&r);
		unsigned fl = (h->flags & RF_FILE_FLAGS) ? (unsigned)rd_varint(&r) : 0;
		if (r.bad || fl > 15 || !no_nul(suf, (size_t)sl))
			return BT_STORE_E_CORRUPT;
		memcpy(path + shared, suf, (size_t)sl);
		prevlen = (size_t)(shared + sl);
		path[prevlen] = 0;
		int rc = fn(path, prevlen, len, fl, ud);
		if (rc)
			return rc;
	}
	return r.p == r.end ? 0 : BT_STORE_E_CORRUPT;
}

/* First pass: the bytes of text the record expands to. */
static int count_fn(const char *path, size_t len, uint64_t length, unsigned flags, void *ud)
{
	(void)path;
	(void)length;
	(void)flags;
	uint64_t *total = ud;
	*total += len + 1;
	return *total > BT_STORE__MAX_TEXT ? BT_STORE_E_CORRUPT : 0;
}

typedef struct fill_ctx {
	bt_store_file *files;
	char *text;
	size_t i;
} fill_ctx;

static int fill_fn(const char *path, size_t len, uint64_t length, unsigned flags, void *ud)
{
	fill_ctx *c = ud;
	memcpy(c->text, path, len + 1);
	c->files[c->i].path = c->text;
	c->files[c->i].length = length;
	c->files[c->i].flags = flags;
	c->text += len + 1;
	c->i++;
	return 0;
}

int bt_store__torrent_make(const bt_store__doc *d, const uint8_t *rec, size_t n,
                           bt_store_torrent **out)
{
	*out = NULL;
	rec_head h;
	uint64_t text = 0;
	char path[BT_STORE__MAX_PATH + 1];
	if (rec) {
		int rc = rec_head_parse(rec, n, &h);
		if (rc == 0)
			rc = rec_files(&h, path, count_fn, &text);
		if (rc)
			return BT_STORE_E_CORRUPT;
	}
	size_t nfiles = rec ? (size_t)h.nfiles : 0;
	size_t size = sizeof(bt_store_torrent) + sizeof(bt_store_peer) * d->npeers +
	              sizeof(bt_store_file) * nfiles + (rec ? h.name_len + 1 : 1) + (size_t)text;
	bt_store_torrent *t = calloc(1, size);
	if (!t)
		return BT_STORE_E_NOMEM;
	/* Strictest alignment first: files, then peers, then the text. */
	bt_store_file *files = (bt_store_file *)(t + 1);
	bt_store_peer *peers = (bt_store_peer *)(files + nfiles);
	char *name = (char *)(peers + d->npeers);
	memcpy(t->infohash, d->infohash, 20);
	t->first_seen = d->first_seen;
	t->last_seen = d->last_seen;
	t->times_seen = d->times_seen;
	t->sources = d->sources;
	t->peers = d->peers;
	t->indexed = d->indexed;
	t->num_peer_addrs = d->npeers;
	memcpy(peers, d->addrs, sizeof(bt_store_peer) * d->npeers);
	t->peer_addrs = peers;
	t->name = name;
	if (rec) {
		t->has_metadata = 1;
		memcpy(name, h.name, h.name_len);
		name[h.name_len] = 0;
		if (h.v2) {
			t->has_v2 = 1;
			memcpy(t->infohash_v2, h.v2, 32);
		}
		t->length = h.length;
		t->piece_length = h.piece_length;
		t->metadata_size = (uint32_t)h.metadata_size;
		t->is_private = !!(h.flags & RF_PRIVATE);
		t->versions =
		    ((h.flags & RF_V1) ? BT_STORE_V1 : 0) | ((h.flags & RF_V2) ? BT_STORE_V2 : 0);
		fill_ctx c = {files, name + h.name_len + 1, 0};
		rec_files(&h, path, fill_fn, &c);
		t->num_files = nfiles;
		t->files = files;
	}
	*out = t;
	return 0;
}

void bt_store_torrent_free(bt_store_torrent *t)
{
	free(t); /* one allocation: bt_store__torrent_make() */
}

int bt_store__rec_v2(const uint8_t *rec, size_t n, uint8_t v2[32])
{
	rec_head h;
	if (rec_head_parse(rec, n, &h))
		return BT_STORE_E_CORRUPT;
	if (!h.v2)
		return 0;
	memcpy(v2, h.v2, 32);
	return 1;
}

typedef struct texts_ctx {
	bt_store__text_fn fn;
	void *ud;
} texts_ctx;

static int texts_fn(const char *path, size_t len, uint64_t length, unsigned flags, void *ud)
{
	(void)length;
	(void)flags;
	texts_ctx *c = ud;
	return c->fn(path, len, 0, c->ud);
}

int bt_store__rec_texts(const uint8_t *rec, size_t n, bt_store__text_fn fn, void *ud)
{
	rec_head h;
	char path[BT_STORE__MAX_PATH + 1];
	if (rec_head_parse(rec, n, &h))
		return BT_STORE_E_CORRUPT;
	int rc = fn((const char *)h.name, h.name_len, 1, ud);
	if (rc)
		return rc;
	if (h.flags & RF_SINGLE) /* its path is its name */
		return 0;
	texts_ctx c = {fn, ud};
	return rec_files(&h, path, texts_fn, &c);
}
