/*
 * store.c - the store of btstore.h on LMDB: opening and schema, the write batch and its replay,
 * sightings, metadata, deletion and the blocklist, eviction under max_size, counts, the node
 * table and reindexing.  Search lives in search.c, NDJSON in json.c.
 *
 * Databases (named LMDB databases in one file):
 *   meta     string keys: magic, schema, text rules version, created, counters
 *   ih       infohash (20 bytes) -> document number (u32); a hybrid torrent has two keys
 *   doc      document number -> bt_store__doc (sightings; record.c)
 *   rec      document number -> metadata record (record.c), only once metadata is known
 *   pend     document number -> nothing: the infohashes without metadata, oldest first
 *   terms    word -> postings, sorted u32 (document number << 1 | word is in the name)
 *   blocked  infohash -> when it was blocked
 *   days     day number -> discovered, indexed
 *   nodes    "table" -> the routing table snapshot
 * A document number is taken from a counter when an infohash is first seen and again when its
 * metadata is stored, so rec is in order of indexing: "recent" is a walk from its end, and doc,
 * rec and pend are appended to, which keeps their pages full.
 *
 * Every write call runs in the open batch and is also logged in memory in a compact form; when
 * LMDB says the map is full, the batch is aborted, the map grown (or, under max_size, the store
 * evicted) and the log replayed.  Postings of the batch are gathered in memory and written in
 * word order when it commits (or before a read), which turns a million random B-tree inserts
 * into a sorted pass.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store-private.h"

#define MAGIC "BitScrape store"
#define INITIAL_MAP (64ull << 20)
#define MIN_MAX_SIZE (1ull << 20)
#define MAX_TOKENS_PER_TORRENT 1024
#define FLUSH_POSTINGS (4u << 20)
#define MAX_NODES 100000
/* Under max_size: a commit evicts when the pages in use pass EVICT_AT% of it, down to
 * EVICT_TO%.  The rest is headroom LMDB needs: copy-on-write pages of a batch, and pages freed
 * by the last commits, which it reuses only a commit or two later. */
#define EVICT_AT 60
#define EVICT_TO 45

enum { OP_SEEN = 1, OP_PUT, OP_DELETE, OP_BLOCK, OP_UNBLOCK, OP_NODES };

/* ---- Errors and small helpers ---------------------------------------------------------------- */

int bt_store__mdb_err(bt_store *s, int rc, const char *what)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return BT_STORE_E_NOTFOUND;
	case MDB_MAP_FULL:
		return E_MAPFULL;
	case MDB_TXN_FULL:
		return E_TXNFULL;
	case ENOMEM:
		return BT_STORE_E_NOMEM;
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_INCOMPATIBLE:
		return BT_STORE_E_FOREIGN;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
		logf_(s, BT_STORE_LOG_ERROR, "%s: %s", what, mdb_strerror(rc));
		return BT_STORE_E_CORRUPT;
	default:
		logf_(s, BT_STORE_LOG_ERROR, "%s: %s", what, mdb_strerror(rc));
		return rc > 0 ? -rc : BT_STORE_E_LMDB;
	}
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* The 20-byte key of a 20- or 32-byte infohash. */
static int ih_key(const uint8_t *ih, size_t len, uint8_t key[20])
{
	if (!ih || (len != 20 && len != 32))
		return BT_STORE_E_INVAL;
	memcpy(key, ih, 20);
	return 0;
}

/* ---- Meta values ------------------------------------------------------------------------------
 */

int bt_store__meta_get(bt_store *s, MDB_txn *txn, const char *key, uint64_t *v)
{
	MDB_val k = {strlen(key), (void *)key}, d;
	int rc = mdb_get(txn, s->db_meta, &k, &d);
	if (rc == MDB_NOTFOUND) {
		*v = 0;
		return 0;
	}
	if (rc)
		return bt_store__mdb_err(s, rc, "meta");
	if (d.mv_size != 8)
		return BT_STORE_E_CORRUPT;
	*v = bt_store__get_u64(d.mv_data);
	return 0;
}

static int meta_put(bt_store *s, MDB_txn *txn, const char *key, uint64_t v)
{
	uint8_t b[8];
	bt_store__put_u64(b, v);
	MDB_val k = {strlen(key), (void *)key}, d = {8, b};
	return bt_store__mdb_err(s, mdb_put(txn, s->db_meta, &k, &d, 0), "meta");
}

static int meta_add(bt_store *s, MDB_txn *txn, const char *key, int64_t delta)
{
	if (!delta)
		return 0;
	uint64_t v;
	int rc = bt_store__meta_get(s, txn, key, &v);
	if (rc)
		return rc;
	return meta_put(s, txn, key, (uint64_t)((int64_t)v + delta));
}

/* ---- Transactions -----------------------------------------------------------------------------
 */

/* Begin a transaction, adopting a map grown by another process. */
static int txn_begin(bt_store *s, unsigned flags, MDB_txn **txn)
{
	int rc = mdb_txn_begin(s->env, NULL, flags, txn);
	if (rc == MDB_MAP_RESIZED) {
		mdb_env_set_mapsize(s->env, 0);
		rc = mdb_txn_begin(s->env, NULL, flags, txn);
	}
	return bt_store__mdb_err(s, rc, "begin");
}

int bt_store__read_begin(bt_store *s, MDB_txn **txn)
{
	if (s->txn) {
		int rc = bt_store__flush(s);
		if (rc)
			return rc;
		*txn = s->txn;
		return 0;
	}
	if (s->rtxn) {
		int rc = mdb_txn_renew(s->rtxn);
		if (rc == 0) {
			*txn = s->rtxn;
			return 0;
		}
		mdb_txn_abort(s->rtxn);
		s->rtxn = NULL;
	}
	int rc = txn_begin(s, MDB_RDONLY, &s->rtxn);
	if (rc)
		return rc;
	*txn = s->rtxn;
	return 0;
}

void bt_store__read_end(bt_store *s, MDB_txn *txn)
{
	if (txn && txn == s->rtxn)
		mdb_txn_reset(txn);
}

/* The document number counter: the last key of doc, plus one. */
static int load_next_doc(bt_store *s)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(s->txn, s->db_doc, &c);
	if (rc)
		return bt_store__mdb_err(s, rc, "cursor");
	MDB_val k, d;
	rc = mdb_cursor_get(c, &k, &d, MDB_LAST);
	s->next_doc = 1;
	if (rc == 0 && k.mv_size == sizeof(uint32_t)) {
		uint32_t last;
		memcpy(&last, k.mv_data, 4);
		s->next_doc = last + 1;
	}
	mdb_cursor_close(c);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : bt_store__mdb_err(s, rc, "doc");
}

static void batch_forget(bt_store *s)
{
	s->npost = 0;
	s->ntok = 0;
	s->tok_text.len = 0;
	memset(s->tok_slots, 0xff, sizeof(uint32_t) * s->tok_cap);
	s->files_delta = 0;
	s->ev_pending_delta = s->ev_torrents_delta = 0;
}

static void txn_drop(bt_store *s)
{
	if (s->txn)
		mdb_txn_abort(s->txn);
	s->txn = NULL;
	batch_forget(s);
}

static int batch_begin(bt_store *s)
{
	if (s->txn)
		return 0;
	if (s->rtxn)
		mdb_txn_reset(s->rtxn);
	int rc = txn_begin(s, 0, &s->txn);
	if (rc)
		return rc;
	batch_forget(s);
	rc = load_next_doc(s);
	if (rc)
		txn_drop(s);
	return rc;
}

/* ---- Postings of the batch ------------------------------------------------------------------- */

static uint32_t tok_hash(const char *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 16777619u;
	return h;
}

static int tok_grow(bt_store *s)
{
	uint32_t ncap = s->tok_cap ? s->tok_cap * 2 : 1u << 14;
	uint32_t *slots = malloc(sizeof(uint32_t) * ncap);
	if (!slots)
		return BT_STORE_E_NOMEM;
	memset(slots, 0xff, sizeof(uint32_t) * ncap);
	for (uint32_t i = 0; i < s->ntok; i++) {
		uint32_t j = s->toks[i].hash & (ncap - 1);
		while (slots[j] != UINT32_MAX)
			j = (j + 1) & (ncap - 1);
		slots[j] = i;
	}
	free(s->tok_slots);
	s->tok_slots = slots;
	s->tok_cap = ncap;
	return 0;
}

/* Add the posting of word @p in document @doc (in its name when @in_name).  Returns 1 if the
 * word is new to the document, 0 if not, or BT_STORE_E_NOMEM. */
static int posting_add(bt_store *s, const char *p, size_t n, uint32_t doc, int in_name)
{
	if (s->ntok * 2 >= s->tok_cap && tok_grow(s))
		return BT_STORE_E_NOMEM;
	uint32_t h = tok_hash(p, n), j = h & (s->tok_cap - 1);
	bt_store__tok *t = NULL;
	for (; s->tok_slots[j] != UINT32_MAX; j = (j + 1) & (s->tok_cap - 1)) {
		bt_store__tok *c = &s->toks[s->tok_slots[j]];
		if (c->hash == h && c->len == n && memcmp(s->tok_text.data + c->off, p, n) == 0) {
			t = c;
			break;
		}
	}
	if (!t) {
		if (s->ntok == s->toks_cap) {
			size_t nc = s->toks_cap ? s->toks_cap * 2 : 8192;
			bt_store__tok *nt = realloc(s->toks, sizeof(*nt) * nc);
			if (!nt)
				return BT_STORE_E_NOMEM;
			s->toks = nt;
			s->toks_cap = nc;
		}
		size_t off = s->tok_text.len;
		if (bt_buf_append(&s->tok_text, p, n))
			return BT_STORE_E_NOMEM;
		t = &s->toks[s->ntok];
		t->off = (uint32_t)off;
		t->len = (uint8_t)n;
		t->hash = h;
		t->last_doc = 0;
		t->last_post = 0;
		s->tok_slots[j] = s->ntok++;
	}
	if (t->last_doc == doc) { /* the same word again in this torrent */
		if (in_name)
			s->post[t->last_post].val |= 1;
		return 0;
	}
	if (s->npost == s->post_cap) {
		size_t nc = s->post_cap ? s->post_cap * 2 : 65536;
		bt_store__post *np = realloc(s->post, sizeof(*np) * nc);
		if (!np)
			return BT_STORE_E_NOMEM;
		s->post = np;
		s->post_cap = nc;
	}
	t->last_doc = doc;
	t->last_post = (uint32_t)s->npost;
	s->post[s->npost].tok = (uint32_t)(t - s->toks);
	s->post[s->npost].val = doc << 1 | (in_name ? 1u : 0u);
	s->npost++;
	return 1;
}

typedef struct index_ctx {
	bt_store *s;
	uint32_t doc;
	int in_name;
	unsigned count;
	int err;
} index_ctx;

static int index_tok(const char *tok, size_t len, void *ud)
{
	index_ctx *c = ud;
	int rc = posting_add(c->s, tok, len, c->doc, c->in_name);
	if (rc < 0) {
		c->err = rc;
		return 1;
	}
	c->count += (unsigned)rc;
	return c->count >= MAX_TOKENS_PER_TORRENT;
}

static int index_text(const char *p, size_t n, int is_name, void *ud)
{
	index_ctx *c = ud;
	c->in_name = is_name;
	bt_store__tokenize(p, n, index_tok, c);
	return c->err ? c->err : (c->count >= MAX_TOKENS_PER_TORRENT ? 1 : 0);
}

/* Queue the postings of record @rec as document @doc. */
static int index_rec(bt_store *s, uint32_t doc, const uint8_t *rec, size_t n)
{
	index_ctx c = {s, doc, 1, 0, 0};
	int rc = bt_store__rec_texts(rec, n, index_text, &c);
	if (c.err)
		return c.err;
	return rc < 0 ? rc : 0;
}

static int tok_cmp(const void *a, const void *b, void *ud)
{
	const bt_store *s = ud;
	const bt_store__tok *x = &s->toks[*(const uint32_t *)a];
	const bt_store__tok *y = &s->toks[*(const uint32_t *)b];
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(s->tok_text.data + x->off, s->tok_text.data + y->off, n);
	return c ? c : (int)x->len - (int)y->len;
}

/* Write the batch's postings, word by word in key order. */
static int flush_postings(bt_store *s)
{
	if (!s->npost)
		return 0;
	uint32_t ntok = s->ntok;
	uint32_t *order = malloc(sizeof(uint32_t) * ntok);
	uint32_t *start = calloc((size_t)ntok + 1, sizeof(uint32_t));
	uint32_t *vals = malloc(sizeof(uint32_t) * s->npost);
	int err = 0;
	if (!order || !start || !vals) {
		err = BT_STORE_E_NOMEM;
		goto out;
	}
	/* Counting sort by word keeps each word's postings in the order they came. */
	for (size_t i = 0; i < s->npost; i++)
		start[s->post[i].tok + 1]++;
	for (uint32_t i = 0; i < ntok; i++)
		start[i + 1] += start[i];
	for (size_t i = 0; i < s->npost; i++)
		vals[start[s->post[i].tok]++] = s->post[i].val;
	for (uint32_t i = ntok; i > 0; i--)
		start[i] = start[i - 1];
	start[0] = 0;
	for (uint32_t i = 0; i < ntok; i++)
		order[i] = i;
	qsort_r(order, ntok, sizeof(uint32_t), tok_cmp, s);
	MDB_cursor *c;
	int rc = mdb_cursor_open(s->txn, s->db_terms, &c);
	if (rc) {
		err = bt_store__mdb_err(s, rc, "terms");
		goto out;
	}
	for (uint32_t i = 0; i < ntok && !err; i++) {
		uint32_t t = order[i];
		MDB_val k = {s->toks[t].len, s->tok_text.data + s->toks[t].off};
		for (uint32_t j = start[t]; j < start[t + 1]; j++) {
			MDB_val d = {sizeof(uint32_t), &vals[j]};
			rc = mdb_cursor_put(c, &k, &d, MDB_APPENDDUP);
			if (rc == MDB_KEYEXIST) /* not after the last: reindexing, or a duplicate */
				rc = mdb_cursor_put(c, &k, &d, MDB_NODUPDATA);
			if (rc && rc != MDB_KEYEXIST) {
				err = bt_store__mdb_err(s, rc, "terms");
				break;
			}
		}
	}
	mdb_cursor_close(c);
	if (!err) {
		s->npost = 0;
		s->ntok = 0;
		s->tok_text.len = 0;
		memset(s->tok_slots, 0xff, sizeof(uint32_t) * s->tok_cap);
	}
out:
	free(order);
	free(start);
	free(vals);
	return err;
}

/* ---- Applying operations ----------------------------------------------------------------------
 */

static int get_docnum(bt_store *s, MDB_txn *txn, const uint8_t key[20], uint32_t *doc)
{
	MDB_val k = {20, (void *)key}, d;
	int rc = mdb_get(txn, s->db_ih, &k, &d);
	if (rc)
		return bt_store__mdb_err(s, rc, "ih");
	if (d.mv_size != 4)
		return BT_STORE_E_CORRUPT;
	memcpy(doc, d.mv_data, 4);
	return 0;
}

int bt_store__doc_get(bt_store *s, MDB_txn *txn, uint32_t doc, bt_store__doc *out)
{
	MDB_val k = {sizeof(doc), &doc}, d;
	int rc = mdb_get(txn, s->db_doc, &k, &d);
	if (rc)
		return bt_store__mdb_err(s, rc, "doc");
	rc = bt_store__doc_decode(d.mv_data, d.mv_size, out);
	if (rc)
		logf_(s, BT_STORE_LOG_ERROR, "document %u: sightings do not decode", (unsigned)doc);
	return rc;
}

static int doc_put(bt_store *s, uint32_t doc, const bt_store__doc *d, unsigned flags)
{
	uint8_t b[BT_STORE__DOC_MAX];
	MDB_val k = {sizeof(doc), &doc}, v = {bt_store__doc_encode(d, b), b};
	return bt_store__mdb_err(s, mdb_put(s->txn, s->db_doc, &k, &v, flags), "doc");
}

static int is_blocked(bt_store *s, MDB_txn *txn, const uint8_t key[20])
{
	MDB_val k = {20, (void *)key}, d;
	int rc = mdb_get(txn, s->db_blocked, &k, &d);
	if (rc == MDB_NOTFOUND)
		return 0;
	return rc ? bt_store__mdb_err(s, rc, "blocked") : 1;
}

static int day_add(bt_store *s, int64_t when, int discovered, int indexed)
{
	uint32_t day = (uint32_t)(when > 0 ? when / 86400 : 0);
	MDB_val k = {sizeof(day), &day}, d;
	uint8_t b[8] = {0};
	int rc = mdb_get(s->txn, s->db_days, &k, &d);
	if (rc == 0 && d.mv_size == 8)
		memcpy(b, d.mv_data, 8);
	else if (rc && rc != MDB_NOTFOUND)
		return bt_store__mdb_err(s, rc, "days");
	bt_store__put_u32(b, bt_store__get_u32(b) + (uint32_t)discovered);
	bt_store__put_u32(b + 4, bt_store__get_u32(b + 4) + (uint32_t)indexed);
	d.mv_size = 8;
	d.mv_data = b;
	return bt_store__mdb_err(s, mdb_put(s->txn, s->db_days, &k, &d, 0), "days");
}

/* Put @peers (most recent first) before @d's own, without duplicates. */
static void merge_peers(bt_store__doc *d, const bt_store_peer *peers, size_t n)
{
	bt_store_peer out[BT_STORE_MAX_PEERS];
	size_t k = 0;
	for (size_t i = 0; i < n && k < BT_STORE_MAX_PEERS; i++)
		out[k++] = peers[i];
	for (size_t i = 0; i < d->npeers && k < BT_STORE_MAX_PEERS; i++) {
		int dup = 0;
		for (size_t j = 0; j < k && !dup; j++)
			dup = out[j].family == d->addrs[i].family &&
			      out[j].port == d->addrs[i].port &&
			      memcmp(out[j].ip, d->addrs[i].ip, 16) == 0;
		if (!dup)
			out[k++] = d->addrs[i];
	}
	memcpy(d->addrs, out, sizeof(out[0]) * k);
	d->npeers = (uint8_t)k;
}

static int peers_valid(const bt_store_peer *peers, size_t n)
{
	if (n && !peers)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (peers[i].family != 4 && peers[i].family != 6)
			return 0;
	return 1;
}

/* A sighting: @p is key(20) source(1) when(8) npeers(4), then up to BT_STORE_MAX_PEERS peers
 * of 19 bytes, most recent first. */
static int apply_seen(bt_store *s, const uint8_t *p, size_t n)
{
	(void)n;
	const uint8_t *key = p;
	unsigned source = p[20];
	int64_t when = (int64_t)bt_store__get_u64(p + 21);
	uint32_t npeers = bt_store__get_u32(p + 29);
	bt_store_peer peers[BT_STORE_MAX_PEERS];
	size_t kept = npeers < BT_STORE_MAX_PEERS ? npeers : BT_STORE_MAX_PEERS;
	const uint8_t *q = p + 33;
	for (size_t i = 0; i < kept; i++, q += 19) {
		peers[i].family = q[0];
		memcpy(peers[i].ip, q + 1, 16);
		peers[i].port = (uint16_t)(q[17] << 8 | q[18]);
	}
	int rc = is_blocked(s, s->txn, key);
	if (rc)
		return rc < 0 ? rc : BT_STORE_E_BLOCKED;
	uint32_t doc;
	bt_store__doc d;
	rc = get_docnum(s, s->txn, key, &doc);
	if (rc == BT_STORE_E_NOTFOUND) {
		memset(&d, 0, sizeof(d));
		memcpy(d.infohash, key, 20);
		d.first_seen = d.last_seen = when;
		d.times_seen = 1;
		d.sources = (uint8_t)source;
		d.peers = npeers;
		merge_peers(&d, peers, kept);
		doc = s->next_doc++;
		MDB_val k = {20, (void *)key}, v = {4, &doc}, pk = {4, &doc}, pv = {0, NULL};
		if ((rc = doc_put(s, doc, &d, MDB_APPEND)) ||
		    (rc = bt_store__mdb_err(s, mdb_put(s->txn, s->db_pend, &pk, &pv, MDB_APPEND),
		                            "pend")) ||
		    (rc = bt_store__mdb_err(s, mdb_put(s->txn, s->db_ih, &k, &v, 0), "ih")) ||
		    (rc = day_add(s, when, 1, 0)))
			return rc;
		return 1;
	}
	if (rc || (rc = bt_store__doc_get(s, s->txn, doc, &d)))
		return rc;
	if (when < d.first_seen)
		d.first_seen = when;
	if (when >= d.last_seen) {
		d.last_seen = when;
		if (npeers)
			d.peers = npeers;
	}
	if (d.times_seen < UINT32_MAX)
		d.times_seen++;
	d.sources |= (uint8_t)source;
	merge_peers(&d, peers, kept);
	rc = doc_put(s, doc, &d, 0);
	return rc ? rc : 0;
}

/* Metadata: @p is a doc value (the sightings to merge, with the key) then the record. */
static int apply_put(bt_store *s, const uint8_t *p, size_t n)
{
	uint32_t dlen = bt_store__get_u32(p);
	bt_store__doc in;
	int rc = bt_store__doc_decode(p + 4, dlen, &in);
	if (rc)
		return rc;
	const uint8_t *rec = p + 4 + dlen;
	size_t reclen = n - 4 - dlen;
	uint8_t v2[32], v2key[20];
	int has_v2 = bt_store__rec_v2(rec, reclen, v2);
	if (has_v2 < 0)
		return has_v2;
	memcpy(v2key, v2, 20);
	rc = is_blocked(s, s->txn, in.infohash);
	if (rc == 0 && has_v2)
		rc = is_blocked(s, s->txn, v2key);
	if (rc)
		return rc < 0 ? rc : BT_STORE_E_BLOCKED;

	uint32_t old = 0;
	rc = get_docnum(s, s->txn, in.infohash, &old);
	if (rc == BT_STORE_E_NOTFOUND && has_v2)
		rc = get_docnum(s, s->txn, v2key, &old);
	if (rc && rc != BT_STORE_E_NOTFOUND)
		return rc;
	bt_store__doc d;
	int known = rc == 0;
	if (known && (rc = bt_store__doc_get(s, s->txn, old, &d)))
		return rc;
	if (!known) {
		d = in;
	} else {
		if (in.first_seen < d.first_seen)
			d.first_seen = in.first_seen;
		if (in.last_seen >= d.last_seen) {
			d.last_seen = in.last_seen;
			if (in.peers)
				d.peers = in.peers;
		}
		uint64_t ts = (uint64_t)d.times_seen + in.times_seen;
		d.times_seen = ts > UINT32_MAX ? UINT32_MAX : (uint32_t)ts;
		d.sources |= in.sources;
		bt_store_peer mine[BT_STORE_MAX_PEERS];
		memcpy(mine, in.addrs, sizeof(mine[0]) * in.npeers);
		merge_peers(&d, mine, in.npeers);
	}
	if (known && d.has_meta && memcmp(d.infohash, in.infohash, 20) != 0)
		return BT_STORE_E_INVAL; /* its v2 infohash is another torrent's: one of them lies
		                          */
	if (known && d.has_meta)         /* the metadata stored first stays; the sightings merge */
		return doc_put(s, old, &d, 0);

	/* Newly indexed: it takes the next document number. */
	if (known) {
		MDB_val k = {4, &old};
		if ((rc = bt_store__mdb_err(s, mdb_del(s->txn, s->db_doc, &k, NULL), "doc")))
			return rc;
		rc = mdb_del(s->txn, s->db_pend, &k, NULL);
		if (rc && rc != MDB_NOTFOUND)
			return bt_store__mdb_err(s, rc, "pend");
	}
	uint32_t doc = s->next_doc++;
	memcpy(d.infohash, in.infohash, 20);
	d.has_meta = 1;
	d.length = in.length;
	d.nfiles = in.nfiles;
	d.indexed = in.indexed;
	MDB_val k = {4, &doc}, rv = {reclen, (void *)rec}, ik = {20, in.infohash}, iv = {4, &doc};
	if ((rc = doc_put(s, doc, &d, MDB_APPEND)) ||
	    (rc = bt_store__mdb_err(s, mdb_put(s->txn, s->db_rec, &k, &rv, MDB_APPEND), "rec")) ||
	    (rc = bt_store__mdb_err(s, mdb_put(s->txn, s->db_ih, &ik, &iv, 0), "ih")))
		return rc;
	if (has_v2 && memcmp(v2key, in.infohash, 20) != 0) {
		MDB_val vk = {20, v2key};
		if ((rc = bt_store__mdb_err(s, mdb_put(s->txn, s->db_ih, &vk, &iv, 0), "ih")))
			return rc;
	}
	if ((!known && (rc = day_add(s, d.first_seen, 1, 0))) || (rc = day_add(s, d.indexed, 0, 1)))
		return rc;
	if ((rc = index_rec(s, doc, rec, reclen)))
		return rc;
	s->files_delta += d.nfiles;
	if (s->npost >= FLUSH_POSTINGS && (rc = flush_postings(s)))
		return rc;
	return 1;
}

typedef struct unindex_ctx {
	bt_store *s;
	MDB_cursor *c;
	uint32_t doc;
	int err;
} unindex_ctx;

static int unindex_tok(const char *tok, size_t len, void *ud)
{
	unindex_ctx *u = ud;
	for (uint32_t flag = 0; flag < 2; flag++) {
		uint32_t v = u->doc << 1 | flag;
		MDB_val k = {len, (void *)tok}, d = {4, &v};
		if (mdb_cursor_get(u->c, &k, &d, MDB_GET_BOTH) == 0) {
			int rc = mdb_cursor_del(u->c, 0);
			if (rc) {
				u->err = bt_store__mdb_err(u->s, rc, "terms");
				return 1;
			}
		}
	}
	return 0;
}

static int unindex_text(const char *p, size_t n, int is_name, void *ud)
{
	(void)is_name;
	unindex_ctx *u = ud;
	bt_store__tokenize(p, n, unindex_tok, u);
	return u->err;
}

/* Remove document @doc (its sightings, record, postings, keys).  Postings must be flushed. */
static int remove_doc(bt_store *s, uint32_t doc, int *had_meta)
{
	bt_store__doc d;
	int rc = bt_store__doc_get(s, s->txn, doc, &d);
	if (rc && rc != BT_STORE_E_CORRUPT)
		return rc;
	MDB_val k = {4, &doc}, rv;
	*had_meta = 0;
	rc = mdb_get(s->txn, s->db_rec, &k, &rv);
	if (rc == 0) {
		*had_meta = 1;
		uint8_t v2[32];
		if (bt_store__rec_v2(rv.mv_data, rv.mv_size, v2) == 1) {
			MDB_val vk = {20, v2};
			mdb_del(s->txn, s->db_ih, &vk, NULL);
		}
		unindex_ctx u = {s, NULL, doc, 0};
		if ((rc = mdb_cursor_open(s->txn, s->db_terms, &u.c)))
			return bt_store__mdb_err(s, rc, "terms");
		bt_store__rec_texts(rv.mv_data, rv.mv_size, unindex_text, &u);
		mdb_cursor_close(u.c);
		if (u.err)
			return u.err;
		s->files_delta -= d.nfiles;
		if ((rc = mdb_del(s->txn, s->db_rec, &k, NULL)))
			return bt_store__mdb_err(s, rc, "rec");
	} else if (rc != MDB_NOTFOUND) {
		return bt_store__mdb_err(s, rc, "rec");
	}
	MDB_val ik = {20, d.infohash};
	rc = mdb_del(s->txn, s->db_ih, &ik, NULL);
	if (rc && rc != MDB_NOTFOUND)
		return bt_store__mdb_err(s, rc, "ih");
	rc = mdb_del(s->txn, s->db_pend, &k, NULL);
	if (rc && rc != MDB_NOTFOUND)
		return bt_store__mdb_err(s, rc, "pend");
	rc = mdb_del(s->txn, s->db_doc, &k, NULL);
	return rc && rc != MDB_NOTFOUND ? bt_store__mdb_err(s, rc, "doc") : 0;
}

static int apply_delete(bt_store *s, const uint8_t *key)
{
	uint32_t doc;
	int rc = get_docnum(s, s->txn, key, &doc), had;
	if (rc)
		return rc;
	if ((rc = flush_postings(s)))
		return rc;
	return remove_doc(s, doc, &had);
}

static int apply_block(bt_store *s, const uint8_t *p)
{
	uint32_t doc;
	int rc = get_docnum(s, s->txn, p, &doc), had;
	if (rc == 0) {
		/* Block the other key of a hybrid too: the torrent must not come back by it. */
		MDB_val k = {4, &doc}, rv;
		uint8_t v2[32];
		if (mdb_get(s->txn, s->db_rec, &k, &rv) == 0 &&
		    bt_store__rec_v2(rv.mv_data, rv.mv_size, v2) == 1 && memcmp(v2, p, 20) != 0) {
			uint8_t b[8];
			bt_store__put_u64(b, bt_store__get_u64(p + 20));
			MDB_val bk = {20, v2}, bv = {8, b};
			if ((rc = bt_store__mdb_err(s, mdb_put(s->txn, s->db_blocked, &bk, &bv, 0),
			                            "blocked")))
				return rc;
			bt_store__doc d;
			if (bt_store__doc_get(s, s->txn, doc, &d) == 0 &&
			    memcmp(d.infohash, p, 20)) {
				MDB_val ok = {20, d.infohash};
				if ((rc = bt_store__mdb_err(
				         s, mdb_put(s->txn, s->db_blocked, &ok, &bv, 0),
				         "blocked")))
					return rc;
			}
		}
		if ((rc = flush_postings(s)) || (rc = remove_doc(s, doc, &had)))
			return rc;
	} else if (rc != BT_STORE_E_NOTFOUND) {
		return rc;
	}
	MDB_val k = {20, (void *)p}, v = {8, (void *)(p + 20)};
	return bt_store__mdb_err(s, mdb_put(s->txn, s->db_blocked, &k, &v, 0), "blocked");
}

static int apply_unblock(bt_store *s, const uint8_t *key)
{
	MDB_val k = {20, (void *)key};
	return bt_store__mdb_err(s, mdb_del(s->txn, s->db_blocked, &k, NULL), "blocked");
}

static int apply_nodes(bt_store *s, const uint8_t *p, size_t n)
{
	MDB_val k = {5, "table"}, v = {n, (void *)p};
	return bt_store__mdb_err(s, mdb_put(s->txn, s->db_nodes, &k, &v, 0), "nodes");
}

static int apply(bt_store *s, int type, const uint8_t *p, size_t n)
{
	switch (type) {
	case OP_SEEN:
		return apply_seen(s, p, n);
	case OP_PUT:
		return apply_put(s, p, n);
	case OP_DELETE:
		return apply_delete(s, p);
	case OP_BLOCK:
		return apply_block(s, p);
	case OP_UNBLOCK:
		return apply_unblock(s, p);
	case OP_NODES:
		return apply_nodes(s, p, n);
	}
	return BT_STORE_E_INVAL;
}

/* ---- Batches: replay, growth, eviction, commit ------------------------------------------------
 */

static int replay(bt_store *s)
{
	const uint8_t *p = s->log.data, *end = p + s->log.len;
	while (p < end) {
		uint32_t n = bt_store__get_u32(p + 1);
		int rc = apply(s, p[0], p + 5, n);
		if (rc < 0)
			return rc;
		p += 5 + n;
	}
	return 0;
}

/* Pages in use: those of the databases' trees (what deleting in an open transaction visibly
 * shrinks). */
uint64_t bt_store__used_bytes(bt_store *s, MDB_txn *txn)
{
	MDB_dbi dbis[] = {1,          s->db_meta,  s->db_ih,      s->db_doc,  s->db_rec,
	                  s->db_pend, s->db_terms, s->db_blocked, s->db_days, s->db_nodes};
	uint64_t pages = 0, psize = 4096;
	for (size_t i = 0; i < sizeof(dbis) / sizeof(dbis[0]); i++) {
		MDB_stat st;
		if (mdb_stat(txn, dbis[i], &st) == 0) {
			pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
			psize = st.ms_psize;
		}
	}
	return pages * psize;
}

/* Evict, oldest infohashes without metadata first, then the oldest indexed torrents, until
 * the batch's transaction uses at most @target bytes.  Returns 0, or BT_STORE_E_FULL when
 * nothing is left to evict. */
static int evict(bt_store *s, uint64_t target, unsigned max_docs)
{
	int rc = flush_postings(s);
	if (rc)
		return rc;
	unsigned rounds = 0, total = 0;
	uint64_t used;
	while ((used = bt_store__used_bytes(s, s->txn)) > target &&
	       (!max_docs || total < max_docs)) {
		unsigned done = 0,
		         chunk = max_docs && max_docs - total < 256 ? max_docs - total : 256;
		for (int pass = 0; pass < 2 && !done; pass++) {
			MDB_cursor *c;
			if ((rc = mdb_cursor_open(s->txn, pass ? s->db_rec : s->db_pend, &c)))
				return bt_store__mdb_err(s, rc, "evict");
			uint32_t docs[256];
			MDB_val k, v;
			unsigned n = 0;
			for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && n < chunk;
			     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
				memcpy(&docs[n++], k.mv_data, 4);
			mdb_cursor_close(c);
			for (unsigned i = 0; i < n; i++) {
				int had;
				if ((rc = remove_doc(s, docs[i], &had)))
					return rc;
				if (had)
					s->ev_torrents_delta++;
				else
					s->ev_pending_delta++;
			}
			done = n;
		}
		if (!done)
			return BT_STORE_E_FULL;
		total += done;
		if (++rounds % 64 == 0)
			logf_(s, BT_STORE_LOG_INFO, "evicting: %llu bytes in use, target %llu",
			      (unsigned long long)used, (unsigned long long)target);
	}
	return 0;
}

/* The map is full (@why E_MAPFULL) or the transaction too big (E_TXNFULL): make room, then
 * begin again and replay the batch.  Returns 0 with the batch open again, or an error with
 * the batch lost. */
static int recover(bt_store *s, int why)
{
	txn_drop(s);
	int rc;
	if (why == E_TXNFULL) {
		/* Commit what the log holds, without the operation that did not fit. */
		if ((rc = batch_begin(s)) || (rc = replay(s)) || (rc = flush_postings(s)))
			goto fail;
		if ((rc = meta_add(s, s->txn, "files", s->files_delta)))
			goto fail;
		rc = bt_store__mdb_err(s, mdb_txn_commit(s->txn), "commit");
		s->txn = NULL;
		s->log.len = 0;
		s->nops = 0;
		if (rc)
			goto fail;
		return batch_begin(s);
	}
	if (s->opts.max_size) {
		/* The map is the cap: evict in small transactions of their own (a full map leaves
		 * little room even for deleting, and each commit frees pages for the next), then
		 * replay.  An eighth of what is used goes. */
		uint64_t target = 0;
		for (unsigned round = 0; round < 4096; round++) {
			if ((rc = batch_begin(s)))
				goto fail;
			uint64_t used = bt_store__used_bytes(s, s->txn);
			if (!target)
				target = used - used / 8;
			if (used <= target) {
				txn_drop(s);
				break;
			}
			rc = evict(s, target, 32);
			if (rc == 0 &&
			    (rc = meta_add(s, s->txn, "evicted_pending", s->ev_pending_delta)) ==
			        0 &&
			    (rc = meta_add(s, s->txn, "evicted_torrents", s->ev_torrents_delta)) ==
			        0 &&
			    (rc = meta_add(s, s->txn, "files", s->files_delta)) == 0)
				rc = bt_store__mdb_err(s, mdb_txn_commit(s->txn), "commit");
			else
				mdb_txn_abort(s->txn);
			s->txn = NULL;
			batch_forget(s);
			if (rc)
				goto fail;
		}
	} else {
		uint64_t size = s->map_size * 2;
		if ((rc = mdb_env_set_mapsize(s->env, size))) {
			rc = bt_store__mdb_err(s, rc, "mapsize");
			goto fail;
		}
		s->map_size = size;
		logf_(s, BT_STORE_LOG_INFO, "map grown to %llu MiB",
		      (unsigned long long)(size >> 20));
	}
	if ((rc = batch_begin(s)) || (rc = replay(s)))
		goto fail;
	return 0;
fail:
	txn_drop(s);
	if (rc == E_MAPFULL || rc == E_TXNFULL)
		return rc; /* the caller tries again */
	s->log.len = 0;
	s->nops = 0;
	return rc;
}

/* Run @fn in the open batch, recovering from a full map or transaction. */
typedef int (*batch_fn)(bt_store *s, void *ud);

static int with_batch(bt_store *s, batch_fn fn, void *ud)
{
	int rc = 0;
	for (int tries = 0; tries < 48; tries++) {
		if (!s->txn && (rc = batch_begin(s)))
			return rc;
		rc = fn(s, ud);
		if (rc != E_MAPFULL && rc != E_TXNFULL)
			return rc;
		int why = rc;
		while ((rc = recover(s, why)) == E_MAPFULL || rc == E_TXNFULL) {
			why = rc;
			if (++tries >= 48)
				break;
		}
		if (rc)
			break;
	}
	txn_drop(s);
	s->log.len = 0;
	s->nops = 0;
	return rc == 0 || rc == E_MAPFULL || rc == E_TXNFULL ? BT_STORE_E_FULL : rc;
}

static int flush_fn(bt_store *s, void *ud)
{
	(void)ud;
	return flush_postings(s);
}

int bt_store__flush(bt_store *s)
{
	return with_batch(s, flush_fn, NULL);
}

typedef struct op_ctx {
	int type;
	const uint8_t *p;
	size_t n;
} op_ctx;

static int op_fn(bt_store *s, void *ud)
{
	op_ctx *o = ud;
	return apply(s, o->type, o->p, o->n);
}

static int finish_fn(bt_store *s, void *ud)
{
	(void)ud;
	int rc = flush_postings(s);
	if (rc)
		return rc;
	if (s->opts.max_size) {
		uint64_t used = bt_store__used_bytes(s, s->txn);
		if (used > s->opts.max_size / 100 * EVICT_AT &&
		    (rc = evict(s, s->opts.max_size / 100 * EVICT_TO, 0)))
			return rc == BT_STORE_E_FULL && used <= s->opts.max_size ? 0 : rc;
	}
	if ((rc = meta_add(s, s->txn, "files", s->files_delta)) ||
	    (rc = meta_add(s, s->txn, "evicted_pending", s->ev_pending_delta)) ||
	    (rc = meta_add(s, s->txn, "evicted_torrents", s->ev_torrents_delta)))
		return rc;
	s->files_delta = 0;
	s->ev_pending_delta = s->ev_torrents_delta = 0;
	return 0;
}

int bt_store_commit(bt_store *s)
{
	if (!s)
		return BT_STORE_E_INVAL;
	if (!s->txn)
		return 0;
	int rc;
	for (int tries = 0;; tries++) {
		if ((rc = with_batch(s, finish_fn, NULL)))
			break;
		int m = mdb_txn_commit(s->txn);
		s->txn = NULL;
		if (m == MDB_MAP_FULL && tries < 8) { /* the free list did not fit */
			batch_forget(s);
			while ((rc = recover(s, E_MAPFULL)) == E_MAPFULL && ++tries < 48)
				;
			if (rc == 0)
				continue;
			break;
		}
		rc = bt_store__mdb_err(s, m, "commit");
		break;
	}
	txn_drop(s);
	s->log.len = 0;
	s->nops = 0;
	return rc == E_MAPFULL || rc == E_TXNFULL ? BT_STORE_E_FULL : rc;
}

/* Log and run one write operation; @payload is copied into the log when it succeeds. */
static int write_op(bt_store *s, int type, const void *payload, size_t n)
{
	if (s->read_only)
		return BT_STORE_E_READONLY;
	op_ctx o = {type, payload, n};
	int rc = with_batch(s, op_fn, &o);
	if (rc == BT_STORE_E_BLOCKED || rc == BT_STORE_E_NOTFOUND || rc == BT_STORE_E_INVAL)
		return rc; /* refused before anything was written */
	if (rc < 0) {
		/* LMDB leaves a transaction that failed a write unusable: the batch is lost. */
		logf_(s, BT_STORE_LOG_ERROR, "write failed, batch of %u lost: %s", s->nops,
		      bt_store_strerror(rc));
		txn_drop(s);
		s->log.len = 0;
		s->nops = 0;
		return rc;
	}
	uint8_t hd[5] = {(uint8_t)type};
	bt_store__put_u32(hd + 1, (uint32_t)n);
	if (bt_buf_append(&s->log, hd, 5) || bt_buf_append(&s->log, payload, n)) {
		/* Without its log entry the batch could not be replayed: commit it now. */
		bt_buf_free(&s->log);
		bt_buf_init(&s->log, 0);
		int c = bt_store_commit(s);
		return c ? c : rc;
	}
	/* Under a cap, a batch must stay small next to it: its pages are new until it commits. */
	if (++s->nops >= s->opts.batch_size ||
	    (s->opts.max_size && s->log.len > s->opts.max_size / 64)) {
		int c = bt_store_commit(s);
		if (c)
			return c;
	}
	return rc;
}

/* ---- Public write calls -----------------------------------------------------------------------
 */

int bt_store_seen(bt_store *s, const uint8_t *infohash, size_t len, unsigned int source,
                  const bt_store_peer *peers, size_t npeers, int64_t when)
{
	uint8_t p[33 + BT_STORE_MAX_PEERS * 19];
	if (!s || ih_key(infohash, len, p) || !peers_valid(peers, npeers) || source > 255 ||
	    npeers > UINT32_MAX)
		return BT_STORE_E_INVAL;
	p[20] = (uint8_t)source;
	bt_store__put_u64(p + 21, (uint64_t)when);
	bt_store__put_u32(p + 29, (uint32_t)npeers);
	size_t kept = npeers < BT_STORE_MAX_PEERS ? npeers : BT_STORE_MAX_PEERS;
	uint8_t *q = p + 33;
	for (size_t i = 0; i < kept; i++, q += 19) {
		const bt_store_peer *a = &peers[npeers - 1 - i]; /* the last given is the latest */
		q[0] = a->family;
		memcpy(q + 1, a->ip, 16);
		if (a->family == 4)
			memset(q + 5, 0, 12);
		q[17] = (uint8_t)(a->port >> 8);
		q[18] = (uint8_t)a->port;
	}
	return write_op(s, OP_SEEN, p, 33 + kept * 19);
}

int bt_store_put(bt_store *s, const bt_store_torrent *t)
{
	if (!s)
		return BT_STORE_E_INVAL;
	int rc = bt_store__torrent_check(t);
	if (rc)
		return rc;
	if (!peers_valid(t->peer_addrs, t->num_peer_addrs))
		return BT_STORE_E_INVAL;
	bt_store__doc d;
	memset(&d, 0, sizeof(d));
	memcpy(d.infohash, t->has_v2 && !(t->versions & BT_STORE_V1) ? t->infohash_v2 : t->infohash,
	       20);
	int64_t now = now_s();
	d.first_seen = t->first_seen ? t->first_seen : now;
	d.last_seen = t->last_seen ? t->last_seen : now;
	if (d.last_seen < d.first_seen)
		d.last_seen = d.first_seen;
	d.times_seen = t->times_seen ? t->times_seen : 1;
	d.sources = (uint8_t)(t->sources ? t->sources : BT_STORE_SOURCE_IMPORT);
	d.peers = t->peers;
	d.nfiles = (uint32_t)t->num_files;
	d.length = t->length;
	d.indexed = t->indexed ? t->indexed : now;
	size_t kept =
	    t->num_peer_addrs < BT_STORE_MAX_PEERS ? t->num_peer_addrs : BT_STORE_MAX_PEERS;
	if (kept)
		memcpy(d.addrs, t->peer_addrs, sizeof(bt_store_peer) * kept);
	for (size_t i = 0; i < kept; i++)
		if (d.addrs[i].family == 4)
			memset(d.addrs[i].ip + 4, 0, 12);
	d.npeers = (uint8_t)kept;

	bt_buf *b = &s->scratch;
	bt_buf_reset(b);
	uint8_t hd[4 + BT_STORE__DOC_MAX];
	size_t dl = bt_store__doc_encode(&d, hd + 4);
	bt_store__put_u32(hd, (uint32_t)dl);
	bt_buf_append(b, hd, 4 + dl);
	if ((rc = bt_store__rec_encode(t, b)))
		return BT_STORE_E_NOMEM;
	return write_op(s, OP_PUT, b->data, b->len);
}

/* A write operation whose payload is the infohash's key. */
static int key_op(bt_store *s, int type, const uint8_t *infohash, size_t len)
{
	uint8_t key[20];
	if (!s || ih_key(infohash, len, key))
		return BT_STORE_E_INVAL;
	return write_op(s, type, key, 20);
}

int bt_store_delete(bt_store *s, const uint8_t *infohash, size_t len)
{
	return key_op(s, OP_DELETE, infohash, len);
}

int bt_store_block(bt_store *s, const uint8_t *infohash, size_t len)
{
	uint8_t p[28];
	if (!s || ih_key(infohash, len, p))
		return BT_STORE_E_INVAL;
	bt_store__put_u64(p + 20, (uint64_t)now_s());
	return write_op(s, OP_BLOCK, p, 28);
}

int bt_store_unblock(bt_store *s, const uint8_t *infohash, size_t len)
{
	return key_op(s, OP_UNBLOCK, infohash, len);
}

int bt_store_is_blocked(bt_store *s, const uint8_t *infohash, size_t len)
{
	uint8_t key[20];
	MDB_txn *txn;
	if (!s || ih_key(infohash, len, key))
		return BT_STORE_E_INVAL;
	int rc = bt_store__read_begin(s, &txn);
	if (rc)
		return rc;
	rc = is_blocked(s, txn, key);
	bt_store__read_end(s, txn);
	return rc;
}

/* Node table: u32 count, then per node: id(20) family(1) ip(16) port(2) last_seen(8). */
int bt_store_nodes_save(bt_store *s, const bt_store_node *nodes, size_t n)
{
	if (!s || (n && !nodes) || n > MAX_NODES)
		return BT_STORE_E_INVAL;
	uint8_t *p = malloc(4 + n * 47), *q = p + 4;
	if (!p)
		return BT_STORE_E_NOMEM;
	bt_store__put_u32(p, (uint32_t)n);
	for (size_t i = 0; i < n; i++, q += 47) {
		if (nodes[i].addr.family != 4 && nodes[i].addr.family != 6) {
			free(p);
			return BT_STORE_E_INVAL;
		}
		memcpy(q, nodes[i].id, 20);
		q[20] = nodes[i].addr.family;
		memcpy(q + 21, nodes[i].addr.ip, 16);
		if (q[20] == 4)
			memset(q + 25, 0, 12);
		q[37] = (uint8_t)(nodes[i].addr.port >> 8);
		q[38] = (uint8_t)nodes[i].addr.port;
		bt_store__put_u64(q + 39, (uint64_t)nodes[i].last_seen);
	}
	int rc = write_op(s, OP_NODES, p, 4 + n * 47);
	free(p);
	return rc;
}

int bt_store_nodes_load(bt_store *s, bt_store_node **out, size_t *n)
{
	if (!s || !out || !n)
		return BT_STORE_E_INVAL;
	*out = NULL;
	*n = 0;
	MDB_txn *txn;
	int rc = bt_store__read_begin(s, &txn);
	if (rc)
		return rc;
	MDB_val k = {5, "table"}, v;
	rc = mdb_get(txn, s->db_nodes, &k, &v);
	if (rc == MDB_NOTFOUND) {
		rc = 0;
		goto out;
	}
	if (rc) {
		rc = bt_store__mdb_err(s, rc, "nodes");
		goto out;
	}
	const uint8_t *p = v.mv_data;
	uint32_t cnt = v.mv_size >= 4 ? bt_store__get_u32(p) : UINT32_MAX;
	if (cnt > MAX_NODES || v.mv_size != 4 + (size_t)cnt * 47) {
		rc = BT_STORE_E_CORRUPT;
		goto out;
	}
	if (cnt == 0)
		goto out;
	bt_store_node *nodes = calloc(cnt, sizeof(*nodes));
	if (!nodes) {
		rc = BT_STORE_E_NOMEM;
		goto out;
	}
	const uint8_t *q = p + 4;
	for (uint32_t i = 0; i < cnt; i++, q += 47) {
		if (q[20] != 4 && q[20] != 6) {
			free(nodes);
			rc = BT_STORE_E_CORRUPT;
			goto out;
		}
		memcpy(nodes[i].id, q, 20);
		nodes[i].addr.family = q[20];
		memcpy(nodes[i].addr.ip, q + 21, 16);
		nodes[i].addr.port = (uint16_t)(q[37] << 8 | q[38]);
		nodes[i].last_seen = (int64_t)bt_store__get_u64(q + 39);
	}
	*out = nodes;
	*n = cnt;
out:
	bt_store__read_end(s, txn);
	return rc;
}

/* ---- Reads ------------------------------------------------------------------------------------
 */

int bt_store__torrent_load(bt_store *s, MDB_txn *txn, uint32_t doc, bt_store_torrent **out)
{
	bt_store__doc d;
	int rc = bt_store__doc_get(s, txn, doc, &d);
	if (rc)
		return rc;
	MDB_val k = {4, &doc}, v = {0, NULL};
	if (d.has_meta) {
		rc = mdb_get(txn, s->db_rec, &k, &v);
		if (rc)
			return rc == MDB_NOTFOUND ? BT_STORE_E_CORRUPT
			                          : bt_store__mdb_err(s, rc, "rec");
	}
	rc = bt_store__torrent_make(&d, d.has_meta ? v.mv_data : NULL, v.mv_size, out);
	if (rc == BT_STORE_E_CORRUPT)
		logf_(s, BT_STORE_LOG_ERROR, "document %u: record does not decode", (unsigned)doc);
	return rc;
}

int bt_store_get(bt_store *s, const uint8_t *infohash, size_t len, bt_store_torrent **out)
{
	uint8_t key[20];
	if (!out)
		return BT_STORE_E_INVAL;
	*out = NULL;
	if (!s || ih_key(infohash, len, key))
		return BT_STORE_E_INVAL;
	MDB_txn *txn;
	int rc = bt_store__read_begin(s, &txn);
	if (rc)
		return rc;
	uint32_t doc;
	rc = get_docnum(s, txn, key, &doc);
	if (rc == 0)
		rc = bt_store__torrent_load(s, txn, doc, out);
	bt_store__read_end(s, txn);
	return rc;
}

int bt_store_foreach(bt_store *s, unsigned int what, bt_store_torrent_cb cb, void *ud,
                     uint32_t *corrupt)
{
	if (corrupt)
		*corrupt = 0;
	if (!s || !cb || !what || (what & ~3u))
		return BT_STORE_E_INVAL;
	MDB_txn *txn;
	int rc = bt_store__read_begin(s, &txn);
	if (rc)
		return rc;
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		if (!(what & (pass ? BT_STORE_PENDING : BT_STORE_WITH_METADATA)))
			continue;
		MDB_cursor *c;
		if ((rc = mdb_cursor_open(txn, pass ? s->db_pend : s->db_rec, &c))) {
			rc = bt_store__mdb_err(s, rc, "cursor");
			break;
		}
		MDB_val k, v;
		int r;
		for (r = mdb_cursor_get(c, &k, &v, MDB_FIRST); r == 0 && rc == 0;
		     r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			uint32_t doc;
			bt_store_torrent *t;
			memcpy(&doc, k.mv_data, 4);
			int e = bt_store__torrent_load(s, txn, doc, &t);
			if (e == BT_STORE_E_CORRUPT || e == BT_STORE_E_NOTFOUND) {
				if (corrupt)
					(*corrupt)++;
				continue;
			}
			if (e) {
				rc = e;
				break;
			}
			rc = cb(t, ud);
			bt_store_torrent_free(t);
		}
		if (r && r != MDB_NOTFOUND && rc == 0)
			rc = bt_store__mdb_err(s, r, "cursor");
		mdb_cursor_close(c);
	}
	bt_store__read_end(s, txn);
	return rc;
}

int bt_store_get_stats(bt_store *s, bt_store_stats *out)
{
	if (!s || !out)
		return BT_STORE_E_INVAL;
	memset(out, 0, sizeof(*out));
	MDB_txn *txn;
	int rc = bt_store__read_begin(s, &txn);
	if (rc)
		return rc;
	MDB_stat st;
	if (mdb_stat(txn, s->db_rec, &st) == 0)
		out->torrents = st.ms_entries;
	if (mdb_stat(txn, s->db_pend, &st) == 0)
		out->pending = st.ms_entries;
	if (mdb_stat(txn, s->db_blocked, &st) == 0)
		out->blocked = st.ms_entries;
	if (mdb_stat(txn, s->db_terms, &st) == 0)
		out->postings = st.ms_entries;
	out->page_size = st.ms_psize;
	MDB_cursor *c;
	if (mdb_cursor_open(txn, s->db_terms, &c) == 0) {
		MDB_val k, v;
		for (int r = mdb_cursor_get(c, &k, &v, MDB_FIRST); r == 0;
		     r = mdb_cursor_get(c, &k, &v, MDB_NEXT_NODUP))
			out->terms++;
		mdb_cursor_close(c);
	}
	MDB_val k = {5, "table"}, v;
	if (mdb_get(txn, s->db_nodes, &k, &v) == 0 && v.mv_size >= 4)
		out->nodes = bt_store__get_u32(v.mv_data);
	uint64_t x;
	if (bt_store__meta_get(s, txn, "files", &x) == 0)
		out->files = x + (uint64_t)(txn == s->txn ? s->files_delta : 0);
	if (bt_store__meta_get(s, txn, "evicted_pending", &x) == 0)
		out->evicted_pending = x;
	if (bt_store__meta_get(s, txn, "evicted_torrents", &x) == 0)
		out->evicted_torrents = x;
	if (bt_store__meta_get(s, txn, "schema", &x) == 0)
		out->schema = (uint32_t)x;
	if (bt_store__meta_get(s, txn, "created", &x) == 0)
		out->created = (int64_t)x;
	out->bytes_used = bt_store__used_bytes(s, txn);
	bt_store__read_end(s, txn);
	MDB_envinfo info;
	mdb_env_info(s->env, &info);
	out->map_size = info.me_mapsize;
	struct stat sb;
	if (stat(s->path, &sb) == 0)
		out->file_size = (uint64_t)sb.st_size;
	out->max_size = s->opts.max_size;
	return 0;
}

int bt_store_daily(bt_store *s, int64_t since, bt_store_day **out, size_t *n)
{
	if (!s || !out || !n)
		return BT_STORE_E_INVAL;
	*out = NULL;
	*n = 0;
	MDB_txn *txn;
	int rc = bt_store__read_begin(s, &txn);
	if (rc)
		return rc;
	MDB_cursor *c;
	if ((rc = mdb_cursor_open(txn, s->db_days, &c))) {
		bt_store__read_end(s, txn);
		return bt_store__mdb_err(s, rc, "days");
	}
	uint32_t from = (uint32_t)(since > 0 ? since / 86400 : 0);
	MDB_val k = {4, &from}, v;
	size_t cap = 0;
	bt_store_day *days = NULL;
	int r;
	for (r = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); r == 0;
	     r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 4 || v.mv_size != 8) {
			rc = BT_STORE_E_CORRUPT;
			break;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			bt_store_day *nd = realloc(days, cap * sizeof(*nd));
			if (!nd) {
				rc = BT_STORE_E_NOMEM;
				break;
			}
			days = nd;
		}
		uint32_t day;
		memcpy(&day, k.mv_data, 4);
		days[*n].day = (int64_t)day * 86400;
		days[*n].discovered = bt_store__get_u32(v.mv_data);
		days[*n].indexed = bt_store__get_u32((const uint8_t *)v.mv_data + 4);
		(*n)++;
	}
	if (r && r != MDB_NOTFOUND && !rc)
		rc = bt_store__mdb_err(s, r, "days");
	mdb_cursor_close(c);
	bt_store__read_end(s, txn);
	if (rc) {
		free(days);
		*n = 0;
		return rc;
	}
	*out = days;
	return 0;
}

/* ---- Reindexing -------------------------------------------------------------------------------
 */

typedef struct reindex_ctx {
	uint32_t from; /* next document number to index */
	int done;
} reindex_ctx;

static int reindex_chunk(bt_store *s, void *ud)
{
	reindex_ctx *r = ud;
	MDB_cursor *c;
	int rc = mdb_cursor_open(s->txn, s->db_rec, &c);
	if (rc)
		return bt_store__mdb_err(s, rc, "rec");
	MDB_val k = {4, &r->from}, v;
	unsigned n = 0;
	uint32_t last = r->from;
	int got;
	for (got = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); got == 0 && n < 20000;
	     got = mdb_cursor_get(c, &k, &v, MDB_NEXT), n++) {
		memcpy(&last, k.mv_data, 4);
		rc = index_rec(s, last, v.mv_data, v.mv_size);
		if (rc == BT_STORE_E_CORRUPT) {
			logf_(s, BT_STORE_LOG_ERROR,
			      "document %u: record does not decode, not indexed", (unsigned)last);
			rc = 0;
		}
		if (rc)
			break;
	}
	mdb_cursor_close(c);
	if (rc)
		return rc;
	if ((rc = flush_postings(s)))
		return rc;
	r->done = got != 0;
	r->from = got == 0 ? last + 1 : last;
	return 0;
}

static int drop_terms(bt_store *s, void *ud)
{
	(void)ud;
	s->npost = 0;
	return bt_store__mdb_err(s, mdb_drop(s->txn, s->db_terms, 0), "terms");
}

int bt_store_reindex(bt_store *s)
{
	if (!s)
		return BT_STORE_E_INVAL;
	if (s->read_only)
		return BT_STORE_E_READONLY;
	int rc = bt_store_commit(s);
	if (rc || (rc = with_batch(s, drop_terms, NULL)) || (rc = bt_store_commit(s)))
		return rc;
	reindex_ctx r = {0, 0};
	while (!r.done) {
		uint32_t from = r.from;
		if ((rc = with_batch(s, reindex_chunk, &r)) || (rc = bt_store_commit(s)))
			return rc;
		if (!r.done && r.from == from)
			break;
	}
	if ((rc = batch_begin(s)) || (rc = meta_put(s, s->txn, "text", BT_STORE__TEXT_VERSION)))
		return rc;
	return bt_store_commit(s);
}

/* ---- Open and close ---------------------------------------------------------------------------
 */

static const struct {
	const char *name;
	unsigned flags;
	size_t off;
} dbs[] = {
    {"meta", 0, offsetof(bt_store, db_meta)},
    {"ih", 0, offsetof(bt_store, db_ih)},
    {"doc", MDB_INTEGERKEY, offsetof(bt_store, db_doc)},
    {"rec", MDB_INTEGERKEY, offsetof(bt_store, db_rec)},
    {"pend", MDB_INTEGERKEY, offsetof(bt_store, db_pend)},
    {"terms", MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP, offsetof(bt_store, db_terms)},
    {"blocked", 0, offsetof(bt_store, db_blocked)},
    {"days", MDB_INTEGERKEY, offsetof(bt_store, db_days)},
    {"nodes", 0, offsetof(bt_store, db_nodes)},
};

/* Schema migrations: migrations[i] takes a store from schema i + 1 to i + 2, in one
 * transaction.  Schema 1 is the first; when the format changes, the step goes here and
 * SCHEMA goes up. */
#define SCHEMA 1
static int (*const migrations[])(bt_store *s) = {NULL};

/* Check (or, for a new file, create) the schema.  Returns 0, 1 if the keyword index must be
 * rebuilt, or an error. */
static int open_schema(bt_store *s)
{
	MDB_txn *txn;
	int rc = txn_begin(s, s->read_only ? MDB_RDONLY : 0, &txn);
	if (rc)
		return rc;
	MDB_dbi main_dbi;
	MDB_stat st;
	int fresh = 0;
	if ((rc = mdb_dbi_open(txn, NULL, 0, &main_dbi)) || (rc = mdb_stat(txn, main_dbi, &st))) {
		rc = bt_store__mdb_err(s, rc, "open");
		goto fail;
	}
	MDB_dbi meta;
	rc = mdb_dbi_open(txn, "meta", 0, &meta);
	if (rc == MDB_NOTFOUND && st.ms_entries == 0 && !s->read_only) {
		fresh = 1;
	} else if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE) {
		rc = st.ms_entries == 0 ? BT_STORE_E_VERSION : BT_STORE_E_FOREIGN;
		if (st.ms_entries == 0)
			rc = -ENOENT; /* an empty LMDB file opened read-only: no store yet */
		goto fail;
	} else if (rc) {
		rc = bt_store__mdb_err(s, rc, "open");
		goto fail;
	} else {
		MDB_val k = {5, "magic"}, v;
		rc = mdb_get(txn, meta, &k, &v);
		if (rc || v.mv_size != sizeof(MAGIC) - 1 || memcmp(v.mv_data, MAGIC, v.mv_size)) {
			rc = BT_STORE_E_FOREIGN;
			goto fail;
		}
	}
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		unsigned flags = dbs[i].flags | (s->read_only ? 0 : MDB_CREATE);
		rc = mdb_dbi_open(txn, dbs[i].name, flags, (MDB_dbi *)((char *)s + dbs[i].off));
		if (rc) {
			rc = rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE
			         ? BT_STORE_E_CORRUPT
			         : bt_store__mdb_err(s, rc, "open");
			goto fail;
		}
	}
	int need_reindex = 0;
	if (fresh) {
		MDB_val k = {5, "magic"}, v = {sizeof(MAGIC) - 1, MAGIC};
		if ((rc = bt_store__mdb_err(s, mdb_put(txn, s->db_meta, &k, &v, 0), "meta")) ||
		    (rc = meta_put(s, txn, "schema", SCHEMA)) ||
		    (rc = meta_put(s, txn, "text", BT_STORE__TEXT_VERSION)) ||
		    (rc = meta_put(s, txn, "created", (uint64_t)now_s())))
			goto fail;
	} else {
		uint64_t schema, text;
		if ((rc = bt_store__meta_get(s, txn, "schema", &schema)) ||
		    (rc = bt_store__meta_get(s, txn, "text", &text)))
			goto fail;
		if (schema > SCHEMA) {
			rc = BT_STORE_E_NEWER;
			goto fail;
		}
		if (schema == 0) {
			rc = BT_STORE_E_CORRUPT;
			goto fail;
		}
		if (schema < SCHEMA || text != BT_STORE__TEXT_VERSION) {
			if (s->read_only) {
				rc = BT_STORE_E_VERSION;
				goto fail;
			}
			s->txn = txn;
			for (uint64_t v = schema; v < SCHEMA; v++) {
				logf_(s, BT_STORE_LOG_INFO, "migrating schema %llu to %llu",
				      (unsigned long long)v, (unsigned long long)v + 1);
				if ((rc = migrations[v - 1](s)))
					goto fail;
			}
			s->txn = NULL;
			if ((rc = meta_put(s, txn, "schema", SCHEMA)))
				goto fail;
			need_reindex = text != BT_STORE__TEXT_VERSION;
		}
	}
	rc = mdb_txn_commit(txn);
	if (rc)
		return bt_store__mdb_err(s, rc, "open");
	return need_reindex;
fail:
	s->txn = NULL;
	mdb_txn_abort(txn);
	return rc;
}

int bt_store_open(bt_store **out, const char *path, const bt_store_options *opts)
{
	if (!out)
		return BT_STORE_E_INVAL;
	*out = NULL;
	bt_store_options o = BT_STORE_OPTIONS_INIT;
	if (opts) {
		if (opts->version != BT_STORE_OPTIONS_VERSION)
			return BT_STORE_E_VERSION;
		o = *opts;
	}
	if (!path || !*path || (o.max_size && o.max_size < MIN_MAX_SIZE))
		return BT_STORE_E_INVAL;
	if (!o.batch_size)
		o.batch_size = 50000;
	bt_store *s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return BT_STORE_E_NOMEM;
	}
	s->opts = o;
	s->read_only = !!o.read_only;
	bt_buf_init(&s->log, 0);
	bt_buf_init(&s->scratch, 0);
	bt_buf_init(&s->tok_text, 0);
	int rc = tok_grow(s);
	if (rc)
		goto fail;
	struct stat sb;
	if (stat(path, &sb) == 0) {
		if (!S_ISREG(sb.st_mode)) {
			rc = BT_STORE_E_FOREIGN;
			goto fail;
		}
	} else if (s->read_only) {
		rc = -errno;
		goto fail;
	}
	if ((rc = mdb_env_create(&s->env))) {
		rc = bt_store__mdb_err(s, rc, "create");
		goto fail;
	}
	mdb_env_set_maxdbs(s->env, 16);
	mdb_env_set_maxreaders(s->env, 254);
	s->map_size = o.max_size ? o.max_size : INITIAL_MAP;
	if (!o.max_size && stat(path, &sb) == 0 && (uint64_t)sb.st_size > s->map_size / 2)
		s->map_size = ((uint64_t)sb.st_size * 2 + (1u << 20)) & ~((1ull << 20) - 1);
	mdb_env_set_mapsize(s->env, s->map_size);
	unsigned flags = MDB_NOSUBDIR | MDB_NOTLS | (s->read_only ? MDB_RDONLY : 0) |
	                 (o.no_sync ? MDB_NOSYNC : 0);
	rc = mdb_env_open(s->env, path, flags, 0644);
	if (rc) {
		rc = bt_store__mdb_err(s, rc, "open");
		goto fail;
	}
	if (o.max_size) {
		/* A store bigger than the cap keeps its size: the cap applies as it shrinks. */
		MDB_envinfo info;
		mdb_env_info(s->env, &info);
		s->map_size = info.me_mapsize;
	}
	rc = open_schema(s);
	if (rc < 0)
		goto fail;
	if (rc == 1) {
		logf_(s, BT_STORE_LOG_INFO, "rebuilding the keyword index (rules changed)");
		if ((rc = bt_store_reindex(s)))
			goto fail;
	}
	*out = s;
	return 0;
fail:
	bt_store_close(s);
	return rc;
}

void bt_store_close(bt_store *s)
{
	if (!s)
		return;
	if (s->txn) {
		int rc = bt_store_commit(s);
		if (rc)
			logf_(s, BT_STORE_LOG_ERROR, "commit on close: %s", bt_store_strerror(rc));
	}
	if (s->rtxn)
		mdb_txn_abort(s->rtxn);
	if (s->env)
		mdb_env_close(s->env);
	bt_buf_free(&s->log);
	bt_buf_free(&s->scratch);
	bt_buf_free(&s->tok_text);
	free(s->tok_slots);
	free(s->toks);
	free(s->post);
	free(s->path);
	free(s);
}

const char *bt_store_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case BT_STORE_E_INVAL:
		return "invalid argument";
	case BT_STORE_E_NOMEM:
		return "out of memory";
	case BT_STORE_E_VERSION:
		return "version mismatch (options, query, or a store that needs migrating: open it "
		       "read-write once)";
	case BT_STORE_E_FOREIGN:
		return "not a BitScrape store";
	case BT_STORE_E_NEWER:
		return "the store was written by a newer libbtstore";
	case BT_STORE_E_CORRUPT:
		return "corrupt record or database";
	case BT_STORE_E_NOTFOUND:
		return "no such infohash";
	case BT_STORE_E_BLOCKED:
		return "infohash is blocked";
	case BT_STORE_E_READONLY:
		return "store is open read-only";
	case BT_STORE_E_FULL:
		return "store is full (max_size) and nothing is left to evict";
	case BT_STORE_E_FORMAT:
		return "not an NDJSON line libbtstore understands";
	case BT_STORE_E_CURSOR:
		return "not a cursor of this query";
	case BT_STORE_E_LMDB:
		return "LMDB failure";
	}
	if (err < 0 && err > -1000) /* the other libraries' codes start at -1000 */
		return strerror(-err);
	return "unknown error";
}

const char *bt_store_version(void)
{
	return BT_STORE_VERSION_STRING;
}
