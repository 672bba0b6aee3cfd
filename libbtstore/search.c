/*
 * search.c - bt_store_search(): keyword queries over the postings, filters, sorts and cursors.
 *
 * A query word expands to the index words it is a prefix of (at most MAX_EXPANSIONS, the most
 * frequent kept), each weighted by its rarity (idf), by being whole or a prefix match, and by
 * where it occurs (name or file path: the low bit of a posting).  Words are evaluated rarest
 * first: the first one's postings, merged across its expansions, are the candidates; each
 * further word either merges its own postings in or, when the candidates are few and the word
 * is common, is probed per candidate.  The postings of one word are read a page at a time
 * (MDB_GET_MULTIPLE), so a word in a third of a million torrents costs a few milliseconds.
 *
 * Ordering is total: (sort key, document number), so a cursor - the last shown item's key -
 * continues a listing exactly, whatever was written in between.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store-private.h"

#define MAX_WORDS 16
#define MAX_EXPANSIONS 256
#define MAX_SCAN_EXPANSIONS 20000 /* index words looked at for one prefix */
#define DEFAULT_LIMIT 20
#define MAX_LIMIT 1000

typedef struct cand {
	uint32_t doc;
	float score;
} cand;

typedef struct cands {
	cand *v;
	size_t n, cap;
} cands;

static int cands_push(cands *c, uint32_t doc, float score)
{
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 1024;
		cand *nv = realloc(c->v, nc * sizeof(*nv));
		if (!nv)
			return BT_STORE_E_NOMEM;
		c->v = nv;
		c->cap = nc;
	}
	c->v[c->n].doc = doc;
	c->v[c->n].score = score;
	c->n++;
	return 0;
}

/* ---- Query words --------------------------------------------------------------------------------
 */

typedef struct expn {
	char key[BT_STORE__TOKEN_MAX];
	uint8_t len;
	uint8_t exact;
	size_t count;
} expn;

typedef struct word {
	char text[BT_STORE__TOKEN_MAX];
	uint8_t len;
	expn *exp;
	size_t nexp;
	uint64_t df; /* sum of the expansions' counts: the size of the postings to read */
} word;

typedef struct words {
	word w[MAX_WORDS];
	size_t n;
} words;

static int collect_word(const char *tok, size_t len, void *ud)
{
	words *ws = ud;
	for (size_t i = 0; i < ws->n; i++)
		if (ws->w[i].len == len && memcmp(ws->w[i].text, tok, len) == 0)
			return 0;
	if (ws->n == MAX_WORDS)
		return 1;
	memcpy(ws->w[ws->n].text, tok, len);
	ws->w[ws->n].len = (uint8_t)len;
	ws->n++;
	return 0;
}

static size_t codepoints(const char *p, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += ((uint8_t)p[i] & 0xc0) != 0x80;
	return c;
}

static int exp_cmp(const void *a, const void *b)
{
	const expn *x = a, *y = b;
	if (x->exact != y->exact)
		return x->exact ? -1 : 1;
	return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

/* The index words @w stands for: itself, and words it is a prefix of when it has three
 * characters or more. */
static int expand(bt_store *s, MDB_txn *txn, word *w)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, s->db_terms, &c);
	if (rc)
		return bt_store__mdb_err(s, rc, "terms");
	int prefix = codepoints(w->text, w->len) >= 3;
	size_t cap = 0, scanned = 0;
	MDB_val k = {w->len, w->text}, v;
	rc = mdb_cursor_get(c, &k, &v, prefix ? MDB_SET_RANGE : MDB_SET_KEY);
	while (rc == 0 && k.mv_size >= w->len && memcmp(k.mv_data, w->text, w->len) == 0 &&
	       scanned++ < MAX_SCAN_EXPANSIONS) {
		if (w->nexp == cap) {
			cap = cap ? cap * 2 : 16;
			expn *ne = realloc(w->exp, cap * sizeof(*ne));
			if (!ne) {
				mdb_cursor_close(c);
				return BT_STORE_E_NOMEM;
			}
			w->exp = ne;
		}
		expn *e = &w->exp[w->nexp++];
		memcpy(e->key, k.mv_data, k.mv_size);
		e->len = (uint8_t)k.mv_size;
		e->exact = k.mv_size == w->len;
		size_t cnt = 0;
		mdb_cursor_count(c, &cnt);
		e->count = (size_t)cnt;
		if (!prefix)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_NODUP);
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return bt_store__mdb_err(s, rc, "terms");
	if (w->nexp > MAX_EXPANSIONS) {
		qsort(w->exp, w->nexp, sizeof(expn), exp_cmp);
		w->nexp = MAX_EXPANSIONS;
	}
	w->df = 0;
	for (size_t i = 0; i < w->nexp; i++)
		w->df += w->exp[i].count;
	return 0;
}

static float weight(const expn *e, double ndocs, int in_name)
{
	double idf = log(1.0 + ndocs / (double)(e->count ? e->count : 1));
	return (float)(idf * (e->exact ? 1.0 : 0.6) * (in_name ? 2.0 : 1.0));
}

/* ---- Postings ---------------------------------------------------------------------------------
 */

/* Append every posting of @e to @out with its weight. */
static int read_postings(bt_store *s, MDB_cursor *c, const expn *e, double ndocs, cands *out)
{
	MDB_val k = {e->len, (void *)e->key}, v;
	int rc = mdb_cursor_get(c, &k, &v, MDB_SET);
	if (rc == MDB_NOTFOUND)
		return 0;
	float w0 = weight(e, ndocs, 0), w1 = weight(e, ndocs, 1);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_GET_MULTIPLE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_MULTIPLE)) {
		const uint8_t *p = v.mv_data;
		size_t m = v.mv_size / sizeof(uint32_t);
		if (out->n + m > out->cap) {
			size_t nc = out->cap ? out->cap : 1024;
			while (nc < out->n + m)
				nc *= 2;
			cand *nv = realloc(out->v, nc * sizeof(*nv));
			if (!nv)
				return BT_STORE_E_NOMEM;
			out->v = nv;
			out->cap = nc;
		}
		for (size_t i = 0; i < m; i++) {
			uint32_t x;
			memcpy(&x, p + i * 4, 4);
			out->v[out->n].doc = x >> 1;
			out->v[out->n].score = (x & 1) ? w1 : w0;
			out->n++;
		}
	}
	return rc == MDB_NOTFOUND ? 0 : bt_store__mdb_err(s, rc, "terms");
}

/* Sort by document number (LSD radix, 3 passes of 11 bits), then keep the best score of each. */
static int sort_unique(cands *c)
{
	if (c->n < 2)
		return 0;
	cand *tmp = malloc(c->n * sizeof(cand));
	if (!tmp)
		return BT_STORE_E_NOMEM;
	cand *src = c->v, *dst = tmp;
	for (int shift = 0; shift < 33; shift += 11) {
		size_t cnt[2049] = {0};
		for (size_t i = 0; i < c->n; i++)
			cnt[((src[i].doc >> shift) & 2047) + 1]++;
		for (int i = 0; i < 2048; i++)
			cnt[i + 1] += cnt[i];
		for (size_t i = 0; i < c->n; i++)
			dst[cnt[(src[i].doc >> shift) & 2047]++] = src[i];
		cand *t = src;
		src = dst;
		dst = t;
	}
	/* Three passes: the sorted data is in tmp. */
	free(c->v);
	c->v = src;
	size_t o = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (o && c->v[o - 1].doc == c->v[i].doc) {
			if (c->v[i].score > c->v[o - 1].score)
				c->v[o - 1].score = c->v[i].score;
		} else {
			c->v[o++] = c->v[i];
		}
	}
	c->n = o;
	c->cap = c->n > 0 ? c->n : 1;
	(void)dst;
	return 0;
}

/* The documents of @w, sorted, with their best weight. */
static int word_postings(bt_store *s, MDB_txn *txn, const word *w, double ndocs, cands *out)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, s->db_terms, &c);
	if (rc)
		return bt_store__mdb_err(s, rc, "terms");
	for (size_t i = 0; i < w->nexp && rc == 0; i++)
		rc = read_postings(s, c, &w->exp[i], ndocs, out);
	mdb_cursor_close(c);
	if (rc)
		return rc;
	return w->nexp > 1 ? sort_unique(out) : 0;
}

/* Keep the candidates that @w also matches, adding its weight; by probing each. */
static int probe_word(bt_store *s, MDB_txn *txn, const word *w, double ndocs, cands *cur)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, s->db_terms, &c);
	if (rc)
		return bt_store__mdb_err(s, rc, "terms");
	size_t o = 0;
	for (size_t i = 0; i < cur->n; i++) {
		float best = 0;
		for (size_t j = 0; j < w->nexp; j++) {
			uint32_t want = cur->v[i].doc << 1;
			MDB_val k = {w->exp[j].len, w->exp[j].key}, v = {4, &want};
			rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH_RANGE);
			if (rc == MDB_NOTFOUND)
				continue;
			if (rc) {
				mdb_cursor_close(c);
				return bt_store__mdb_err(s, rc, "terms");
			}
			uint32_t got;
			memcpy(&got, v.mv_data, 4);
			if (got >> 1 == cur->v[i].doc) {
				float sc = weight(&w->exp[j], ndocs, got & 1);
				if (sc > best)
					best = sc;
			}
		}
		if (best > 0) {
			cur->v[o] = cur->v[i];
			cur->v[o++].score += best;
		}
	}
	cur->n = o;
	mdb_cursor_close(c);
	return 0;
}

/* Keep the candidates in @other too, adding its score.  Both are sorted. */
static void intersect(cands *cur, const cands *other)
{
	size_t i = 0, j = 0, o = 0;
	while (i < cur->n && j < other->n) {
		if (cur->v[i].doc < other->v[j].doc) {
			i++;
		} else if (cur->v[i].doc > other->v[j].doc) {
			j++;
		} else {
			cur->v[o] = cur->v[i];
			cur->v[o++].score += other->v[j].score;
			i++;
			j++;
		}
	}
	cur->n = o;
}

static int word_df_cmp(const void *a, const void *b)
{
	const word *x = a, *y = b;
	return x->df < y->df ? -1 : x->df > y->df;
}

static int match_words(bt_store *s, MDB_txn *txn, words *ws, double ndocs, cands *out)
{
	for (size_t i = 0; i < ws->n; i++) {
		int rc = expand(s, txn, &ws->w[i]);
		if (rc)
			return rc;
		if (ws->w[i].nexp == 0)
			return 0; /* a word nothing matches: no results */
	}
	qsort(ws->w, ws->n, sizeof(word), word_df_cmp);
	int rc = word_postings(s, txn, &ws->w[0], ndocs, out);
	for (size_t i = 1; i < ws->n && rc == 0 && out->n; i++) {
		word *w = &ws->w[i];
		if ((uint64_t)out->n * w->nexp * 16 < w->df) {
			rc = probe_word(s, txn, w, ndocs, out);
		} else {
			cands other = {0};
			rc = word_postings(s, txn, w, ndocs, &other);
			if (rc == 0)
				intersect(out, &other);
			free(other.v);
		}
	}
	return rc;
}

/* ---- Ordering and cursors -----------------------------------------------------------------------
 */

typedef struct hit {
	uint64_t k1, k2;
	uint32_t doc;
	float score;
} hit;

/* >0 if @a comes before @b in a descending listing. */
static int hit_cmp(const hit *a, const hit *b)
{
	if (a->k1 != b->k1)
		return a->k1 > b->k1 ? 1 : -1;
	if (a->k2 != b->k2)
		return a->k2 > b->k2 ? 1 : -1;
	return a->doc > b->doc ? 1 : a->doc < b->doc ? -1 : 0;
}

static const char sort_chars[] = "rastp";

static void hit_keys(hit *h, int sort, float score, const bt_store__doc *d)
{
	h->score = score;
	h->k1 = h->k2 = 0;
	switch (sort) {
	case BT_STORE_SORT_RELEVANCE: {
		uint32_t bits;
		memcpy(&bits, &score, 4); /* non-negative floats order as their bits */
		h->k1 = bits;
		break;
	}
	case BT_STORE_SORT_SIZE:
		h->k1 = d->length;
		break;
	case BT_STORE_SORT_SEEN:
		h->k1 = (uint64_t)d->last_seen ^ (1ull << 63);
		break;
	case BT_STORE_SORT_POPULARITY:
		h->k1 = d->peers;
		h->k2 = d->times_seen;
		break;
	}
}

static char *cursor_make(int sort, int asc, const hit *h)
{
	char *c = malloc(64);
	if (c)
		snprintf(c, 64, "%c%c%llx.%llx.%x", sort_chars[sort], asc ? '+' : '-',
		         (unsigned long long)h->k1, (unsigned long long)h->k2, (unsigned)h->doc);
	return c;
}

static int cursor_parse(const char *c, int sort, int asc, hit *h)
{
	unsigned long long k1, k2;
	unsigned doc;
	char tail;
	if (strlen(c) > 60 || c[0] != sort_chars[sort] || c[1] != (asc ? '+' : '-') ||
	    sscanf(c + 2, "%llx.%llx.%x%c", &k1, &k2, &doc, &tail) != 3)
		return BT_STORE_E_CURSOR;
	for (const char *p = c + 2; *p; p++)
		if (!strchr("0123456789abcdef.", *p))
			return BT_STORE_E_CURSOR;
	h->k1 = k1;
	h->k2 = k2;
	h->doc = doc;
	return 0;
}

/* A bounded heap of the best @cap hits, the worst on top. */
typedef struct heap {
	hit *v;
	size_t n, cap;
	int asc;
} heap;

/* >0 if @a is better than @b in this listing. */
static int better(const heap *hp, const hit *a, const hit *b)
{
	int c = hit_cmp(a, b);
	return hp->asc ? -c : c;
}

static void heap_offer(heap *hp, const hit *h)
{
	size_t i;
	if (hp->n < hp->cap) {
		i = hp->n++;
		while (i > 0 && better(hp, &hp->v[(i - 1) / 2], h) > 0) {
			hp->v[i] = hp->v[(i - 1) / 2];
			i = (i - 1) / 2;
		}
		hp->v[i] = *h;
		return;
	}
	if (better(hp, h, &hp->v[0]) <= 0)
		return;
	i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const hit *mv = h;
		if (l < hp->n && better(hp, mv, &hp->v[l]) > 0)
			m = l, mv = &hp->v[l];
		if (r < hp->n && better(hp, mv, &hp->v[r]) > 0)
			m = r, mv = &hp->v[r];
		if (m == i)
			break;
		hp->v[i] = hp->v[m];
		i = m;
	}
	hp->v[i] = *h;
}

static int hit_order(const void *a, const void *b, void *ud)
{
	return -better(ud, a, b);
}

/* ---- The query ----------------------------------------------------------------------------------
 */

static int filtered(const bt_store_query *q)
{
	return q->min_size || q->max_size || q->min_files || q->max_files || q->seen_since;
}

static int passes(const bt_store_query *q, const bt_store__doc *d)
{
	return (!q->min_size || d->length >= q->min_size) &&
	       (!q->max_size || d->length <= q->max_size) &&
	       (!q->min_files || d->nfiles >= q->min_files) &&
	       (!q->max_files || d->nfiles <= q->max_files) &&
	       (!q->seen_since || d->last_seen >= q->seen_since);
}

/* Every indexed document, for a query without words. */
static int all_docs(bt_store *s, MDB_txn *txn, cands *out)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, s->db_rec, &c);
	if (rc)
		return bt_store__mdb_err(s, rc, "rec");
	MDB_val k, v;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		uint32_t doc;
		memcpy(&doc, k.mv_data, 4);
		if ((rc = cands_push(out, doc, 0)))
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc < 0 ? rc : bt_store__mdb_err(s, rc, "rec");
}

/* Turn the selected hits into results. */
static int fill_results(bt_store *s, MDB_txn *txn, hit *sel, size_t n, bt_store_results *r)
{
	r->items = calloc(n ? n : 1, sizeof(*r->items));
	r->scores = calloc(n ? n : 1, sizeof(*r->scores));
	if (!r->items || !r->scores)
		return BT_STORE_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		bt_store_torrent *t;
		int rc = bt_store__torrent_load(s, txn, sel[i].doc, &t);
		if (rc == BT_STORE_E_CORRUPT || rc == BT_STORE_E_NOTFOUND) {
			r->corrupt++;
			continue;
		}
		if (rc)
			return rc;
		r->scores[r->count] = sel[i].score;
		r->items[r->count++] = t;
	}
	return 0;
}

/* "Recent" without filters: a walk back from the end of rec. */
static int recent(bt_store *s, MDB_txn *txn, const bt_store_query *q, unsigned limit,
                  const hit *after, bt_store_results *r)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, s->db_rec, &c);
	if (rc)
		return bt_store__mdb_err(s, rc, "rec");
	hit *sel = calloc((size_t)limit + 1, sizeof(hit));
	if (!sel) {
		mdb_cursor_close(c);
		return BT_STORE_E_NOMEM;
	}
	MDB_val k, v;
	uint32_t from = after ? after->doc : 0;
	MDB_cursor_op first = q->ascending ? MDB_FIRST : MDB_LAST;
	MDB_cursor_op next = q->ascending ? MDB_NEXT : MDB_PREV;
	if (after) {
		k.mv_size = 4;
		k.mv_data = &from;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND && !q->ascending)
			rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	} else {
		rc = mdb_cursor_get(c, &k, &v, first);
	}
	size_t n = 0;
	for (; rc == 0 && n <= limit; rc = mdb_cursor_get(c, &k, &v, next)) {
		uint32_t doc;
		memcpy(&doc, k.mv_data, 4);
		if (after && (q->ascending ? doc <= from : doc >= from))
			continue;
		sel[n].doc = doc;
		sel[n].k1 = sel[n].k2 = 0;
		sel[n].score = 0;
		n++;
	}
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND) {
		free(sel);
		return bt_store__mdb_err(s, rc, "rec");
	}
	MDB_stat st;
	if (mdb_stat(txn, s->db_rec, &st) == 0)
		r->total = st.ms_entries;
	if (n > limit) {
		n = limit;
		if (!(r->next_cursor =
		          cursor_make(BT_STORE_SORT_ADDED, q->ascending, &sel[n - 1]))) {
			free(sel);
			return BT_STORE_E_NOMEM;
		}
	}
	rc = fill_results(s, txn, sel, n, r);
	free(sel);
	return rc;
}

static int run(bt_store *s, MDB_txn *txn, const bt_store_query *q, words *ws, bt_store_results *r)
{
	int sort = q->sort;
	unsigned limit = q->limit ? q->limit : DEFAULT_LIMIT;
	if (ws->n == 0 && sort == BT_STORE_SORT_RELEVANCE)
		sort = BT_STORE_SORT_ADDED;
	hit after;
	if (q->cursor && cursor_parse(q->cursor, sort, q->ascending, &after))
		return BT_STORE_E_CURSOR;
	if (ws->n == 0 && sort == BT_STORE_SORT_ADDED && !filtered(q))
		return recent(s, txn, q, limit, q->cursor ? &after : NULL, r);

	MDB_stat st;
	double ndocs = mdb_stat(txn, s->db_rec, &st) == 0 ? (double)st.ms_entries : 1.0;
	cands cs = {0};
	int rc = ws->n ? match_words(s, txn, ws, ndocs, &cs) : all_docs(s, txn, &cs);
	heap hp = {NULL, 0, (size_t)limit + 1, q->ascending};
	if (rc == 0 && !(hp.v = malloc(hp.cap * sizeof(hit))))
		rc = BT_STORE_E_NOMEM;
	int need_doc =
	    filtered(q) || (sort != BT_STORE_SORT_RELEVANCE && sort != BT_STORE_SORT_ADDED);
	bt_store__doc d;
	memset(&d, 0, sizeof(d));
	/* Candidates come in document order: one cursor finds each next one on the leaf page it
	 * is already on, mostly without descending the tree again. */
	MDB_cursor *dc = NULL;
	if (rc == 0 && need_doc && (rc = mdb_cursor_open(txn, s->db_doc, &dc)))
		rc = bt_store__mdb_err(s, rc, "doc");
	for (size_t i = 0; i < cs.n && rc == 0; i++) {
		if (need_doc) {
			MDB_val k = {4, &cs.v[i].doc}, v;
			int e = mdb_cursor_get(dc, &k, &v, MDB_SET_KEY);
			if (e == 0)
				e = bt_store__doc_decode_head(v.mv_data, v.mv_size, &d);
			else if (e != MDB_NOTFOUND)
				e = bt_store__mdb_err(s, e, "doc");
			if (e == BT_STORE_E_CORRUPT || e == MDB_NOTFOUND) {
				r->corrupt++;
				continue;
			}
			if (e) {
				rc = e;
				break;
			}
			if (!passes(q, &d))
				continue;
		}
		hit h;
		h.doc = cs.v[i].doc;
		hit_keys(&h, sort, cs.v[i].score, &d);
		r->total++;
		if (q->cursor && better(&hp, &h, &after) >= 0)
			continue; /* shown on an earlier page */
		heap_offer(&hp, &h);
	}
	if (dc)
		mdb_cursor_close(dc);
	free(cs.v);
	if (rc == 0) {
		qsort_r(hp.v, hp.n, sizeof(hit), hit_order, &hp);
		size_t n = hp.n;
		if (n > limit) {
			n = limit;
			if (!(r->next_cursor = cursor_make(sort, q->ascending, &hp.v[n - 1])))
				rc = BT_STORE_E_NOMEM;
		}
		if (rc == 0)
			rc = fill_results(s, txn, hp.v, n, r);
	}
	free(hp.v);
	return rc;
}

int bt_store_search(bt_store *s, const bt_store_query *q, bt_store_results **out)
{
	if (!out)
		return BT_STORE_E_INVAL;
	*out = NULL;
	if (!s || !q)
		return BT_STORE_E_INVAL;
	if (q->version != BT_STORE_QUERY_VERSION)
		return BT_STORE_E_VERSION;
	if (q->limit > MAX_LIMIT || q->sort < 0 || q->sort > BT_STORE_SORT_POPULARITY)
		return BT_STORE_E_INVAL;
	words ws;
	memset(&ws, 0, sizeof(ws));
	if (q->text)
		bt_store__tokenize(q->text, strlen(q->text), collect_word, &ws);
	bt_store_results *r = calloc(1, sizeof(*r));
	if (!r)
		return BT_STORE_E_NOMEM;
	MDB_txn *txn;
	int rc = bt_store__read_begin(s, &txn);
	if (rc == 0) {
		rc = run(s, txn, q, &ws, r);
		bt_store__read_end(s, txn);
	}
	for (size_t i = 0; i < ws.n; i++)
		free(ws.w[i].exp);
	if (rc) {
		bt_store_results_free(r);
		return rc;
	}
	if (r->corrupt)
		logf_(s, BT_STORE_LOG_ERROR, "search: %u records did not decode",
		      (unsigned)r->corrupt);
	*out = r;
	return 0;
}

void bt_store_results_free(bt_store_results *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->count; i++)
		bt_store_torrent_free(r->items[i]);
	free(r->items);
	free(r->scores);
	free(r->next_cursor);
	free(r);
}
