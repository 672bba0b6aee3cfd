/*
 * rtable.c - the BEP 5 routing table of rtable.h.
 *
 * Layout: node records live in one pool (an array that grows by doubling up to the table's
 * bound, so indices stay valid across growth); buckets are an array indexed by the number of
 * leading bits shared with our id and hold 16-bit pool indices, K for nodes and K for the
 * replacement cache.  An open-addressing hash of pool indices keyed by IP enforces one entry per
 * IP; an id is found by searching the one bucket it maps to (at most 2K entries).  Everything a
 * peer can make grow is bounded: at most 160 buckets of 2K entries, or max_nodes entries.
 */
#include "rtable.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define K BT_DHT__K
/* Bucket 159 holds the single id that differs from ours in the last bit only; a 161st bucket
 * could hold nothing but our own id, which is never admitted. */
#define MAX_BUCKETS (8 * BT_ID_LEN)
#define MAX_ENTRIES (MAX_BUCKETS * 2 * K)
#define NONE 0xffffu

struct bucket {
	uint64_t last_changed; /* ms: a node added, replaced or answering, or a refresh */
	uint16_t node[K];      /* pool indices, in no particular order */
	uint16_t cache[K];     /* pool indices, most recently heard first */
	uint8_t n, nc;
};

struct bt_dht__rtable {
	bt_id self;
	int family;
	unsigned cap; /* most entries, buckets and caches together */
	uint64_t key; /* of the IP hash */

	struct bucket *b;
	unsigned nb, bcap;

	/* Pool: entries [0, hw) have been handed out; the free ones among them are on freel. */
	bt_dht__rt_node *pool;
	uint16_t *freel;
	unsigned pcap, pmax, hw, nfree, count;

	/* IP index: linear probing over pool indices, NONE when empty; at most half full. */
	uint16_t *index;
	unsigned imask;
};

/* Where an entry sits: bucket @bi, in its nodes or its cache, at @pos; pool index @idx. */
struct loc {
	unsigned bi, pos;
	bool cached;
	uint16_t idx;
};

static uint64_t elapsed(uint64_t now, uint64_t then)
{
	/* A clock that went backwards counts as no time at all rather than as centuries. */
	return now > then ? now - then : 0;
}

static bool is_bad(const bt_dht__rt_node *n)
{
	return n->fails >= BT_DHT__RT_BAD_FAILS;
}

static bt_dht__rt_state node_state(const bt_dht__rt_node *n, uint64_t now)
{
	if (is_bad(n))
		return BT_DHT__RT_BAD;
	/* The REPLIED flag, not last_reply != 0, says "ever answered", so a clock starting at 0
	 * still works. */
	if (n->flags & BT_DHT__RT_F_REPLIED) {
		if (elapsed(now, n->last_reply) < BT_DHT__RT_GOOD_MS)
			return BT_DHT__RT_GOOD;
		if (n->last_query && elapsed(now, n->last_query) < BT_DHT__RT_GOOD_MS)
			return BT_DHT__RT_GOOD;
	}
	return BT_DHT__RT_QUESTIONABLE;
}

/* The hash key comes from our own id, so the table needs no entropy source and tests are
 * reproducible.  The id is public, so the key is not a secret: a peer that spoofs many source
 * addresses could make them collide.  That costs at most a probe over every entry, which the
 * table's bound (MAX_ENTRIES, or max_nodes) keeps small, and changes no result. */
static uint64_t key_of(const bt_id *self)
{
	uint64_t h = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < BT_ID_LEN; i++)
		h = (h ^ self->b[i]) * 0x100000001b3ull;
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 29;
	return h;
}

static unsigned bucket_of(const bt_dht__rtable *rt, const bt_id *id)
{
	unsigned cb = bt_id_common_bits(id, &rt->self);
	return cb < rt->nb - 1 ? cb : rt->nb - 1;
}

/* ---- IP index ---- */

static unsigned ip_home(const bt_dht__rtable *rt, const bt_addr *a)
{
	return (unsigned)bt_addr_ip_hash(a, rt->key) & rt->imask;
}

static uint16_t ip_find(const bt_dht__rtable *rt, const bt_addr *a)
{
	for (unsigned i = ip_home(rt, a); rt->index[i] != NONE; i = (i + 1) & rt->imask) {
		if (bt_addr_ip_eq(&rt->pool[rt->index[i]].addr, a))
			return rt->index[i];
	}
	return NONE;
}

static void ip_insert(bt_dht__rtable *rt, uint16_t idx)
{
	unsigned i = ip_home(rt, &rt->pool[idx].addr);
	while (rt->index[i] != NONE)
		i = (i + 1) & rt->imask;
	rt->index[i] = idx;
}

/* Backward-shift deletion: later entries of the probe run move up, so lookups never need
 * tombstones and the table never degrades with churn. */
static void ip_remove(bt_dht__rtable *rt, uint16_t idx)
{
	unsigned i = ip_home(rt, &rt->pool[idx].addr);
	while (rt->index[i] != idx)
		i = (i + 1) & rt->imask;
	for (;;) {
		unsigned j = i, h;
		rt->index[i] = NONE;
		for (;;) {
			j = (j + 1) & rt->imask;
			if (rt->index[j] == NONE)
				return;
			h = ip_home(rt, &rt->pool[rt->index[j]].addr);
			/* The entry at j may fill the hole at i unless its home lies cyclically in
			 * (i, j]. */
			if (i <= j ? (h <= i || h > j) : (h <= i && h > j))
				break;
		}
		rt->index[i] = rt->index[j];
		i = j;
	}
}

static void reindex(bt_dht__rtable *rt)
{
	for (unsigned i = 0; i <= rt->imask; i++)
		rt->index[i] = NONE;
	for (unsigned bi = 0; bi < rt->nb; bi++) {
		const struct bucket *b = &rt->b[bi];
		for (unsigned i = 0; i < b->n; i++)
			ip_insert(rt, b->node[i]);
		for (unsigned i = 0; i < b->nc; i++)
			ip_insert(rt, b->cache[i]);
	}
}

/* ---- pool ---- */

static unsigned index_size(unsigned pcap)
{
	unsigned n = 16;
	while (n < 2 * pcap)
		n *= 2;
	return n;
}

/* Doubles the pool (up to pmax) and the index with it.  Called only when every entry is in a
 * bucket or a cache, as reindex finds entries there.  0 or -ENOMEM; on failure the table is
 * unchanged. */
static int pool_grow(bt_dht__rtable *rt)
{
	unsigned ncap = rt->pcap * 2 < rt->pmax ? rt->pcap * 2 : rt->pmax;
	unsigned isize = index_size(ncap);
	uint16_t *nindex = NULL;

	if (ncap <= rt->pcap)
		return -ENOMEM;
	if (isize != rt->imask + 1) {
		nindex = malloc(isize * sizeof(*nindex));
		if (!nindex)
			return -ENOMEM;
	}
	bt_dht__rt_node *pool = realloc(rt->pool, ncap * sizeof(*pool));
	if (!pool) {
		free(nindex);
		return -ENOMEM;
	}
	rt->pool = pool;
	uint16_t *freel = realloc(rt->freel, ncap * sizeof(*freel));
	if (!freel) {
		free(nindex);
		return -ENOMEM; /* the pool is larger than pcap says, which is harmless */
	}
	rt->freel = freel;
	rt->pcap = ncap;
	if (nindex) {
		free(rt->index);
		rt->index = nindex;
		rt->imask = isize - 1;
		reindex(rt);
	}
	return 0;
}

static uint16_t node_alloc(bt_dht__rtable *rt)
{
	uint16_t idx;
	if (rt->nfree) {
		idx = rt->freel[--rt->nfree];
	} else {
		if (rt->hw == rt->pcap && pool_grow(rt))
			return NONE;
		idx = (uint16_t)rt->hw++;
	}
	rt->count++;
	return idx;
}

/* Forgets entry @idx, which the caller has already taken out of its bucket or cache array. */
static void drop(bt_dht__rtable *rt, uint16_t idx)
{
	ip_remove(rt, idx);
	rt->freel[rt->nfree++] = idx;
	rt->count--;
}

/* ---- bucket arrays ---- */

static void arr_remove(uint16_t *a, uint8_t *n, unsigned pos)
{
	memmove(a + pos, a + pos + 1, (size_t)(*n - pos - 1) * sizeof(*a));
	(*n)--;
}

static void arr_push_front(uint16_t *a, uint8_t *n, uint16_t v)
{
	memmove(a + 1, a, (size_t)*n * sizeof(*a));
	a[0] = v;
	(*n)++;
}

static bool find_id(const bt_dht__rtable *rt, const bt_id *id, struct loc *l)
{
	unsigned bi = bucket_of(rt, id);
	const struct bucket *b = &rt->b[bi];
	for (unsigned i = 0; i < b->n; i++) {
		if (bt_id_eq(&rt->pool[b->node[i]].id, id)) {
			*l = (struct loc){bi, i, false, b->node[i]};
			return true;
		}
	}
	for (unsigned i = 0; i < b->nc; i++) {
		if (bt_id_eq(&rt->pool[b->cache[i]].id, id)) {
			*l = (struct loc){bi, i, true, b->cache[i]};
			return true;
		}
	}
	return false;
}

/* Takes the entry at @l out of its array; the caller drops it or puts it elsewhere. */
static void detach(bt_dht__rtable *rt, const struct loc *l)
{
	struct bucket *b = &rt->b[l->bi];
	if (l->cached)
		arr_remove(b->cache, &b->nc, l->pos);
	else
		arr_remove(b->node, &b->n, l->pos);
}

/* The cached candidate that answered us most recently, or -1. */
static int freshest_replied(const bt_dht__rtable *rt, const struct bucket *b)
{
	int best = -1;
	for (unsigned i = 0; i < b->nc; i++) {
		const bt_dht__rt_node *c = &rt->pool[b->cache[i]];
		if ((c->flags & BT_DHT__RT_F_REPLIED) &&
		    (best < 0 || c->last_reply > rt->pool[b->cache[best]].last_reply))
			best = (int)i;
	}
	return best;
}

/* Moves cached candidates that have answered us into bucket @bi while it has room. */
static void fill_from_cache(bt_dht__rtable *rt, unsigned bi, uint64_t now)
{
	struct bucket *b = &rt->b[bi];
	while (b->n < K) {
		int pos = freshest_replied(rt, b);
		if (pos < 0)
			return;
		uint16_t idx = b->cache[pos];
		arr_remove(b->cache, &b->nc, (unsigned)pos);
		rt->pool[idx].flags &= (uint8_t)~BT_DHT__RT_F_CACHED;
		b->node[b->n++] = idx;
		b->last_changed = now;
	}
}

/* Splits the last bucket: the entries sharing more bits with us than its index move, in order,
 * to a new last bucket.  0, or -1 when there are MAX_BUCKETS already or no memory. */
static int split(bt_dht__rtable *rt)
{
	if (rt->nb >= MAX_BUCKETS)
		return -1;
	if (rt->nb == rt->bcap) {
		unsigned ncap = rt->bcap * 2 < MAX_BUCKETS ? rt->bcap * 2 : MAX_BUCKETS;
		struct bucket *nb = realloc(rt->b, ncap * sizeof(*nb));
		if (!nb)
			return -1;
		rt->b = nb;
		rt->bcap = ncap;
	}
	unsigned last = rt->nb - 1;
	struct bucket *old = &rt->b[last], *nw = &rt->b[last + 1];
	memset(nw, 0, sizeof(*nw));
	nw->last_changed = old->last_changed;
	uint8_t keep = 0;
	for (unsigned i = 0; i < old->n; i++) {
		uint16_t idx = old->node[i];
		if (bt_id_common_bits(&rt->pool[idx].id, &rt->self) > last)
			nw->node[nw->n++] = idx;
		else
			old->node[keep++] = idx;
	}
	old->n = keep;
	keep = 0;
	for (unsigned i = 0; i < old->nc; i++) {
		uint16_t idx = old->cache[i];
		if (bt_id_common_bits(&rt->pool[idx].id, &rt->self) > last)
			nw->cache[nw->nc++] = idx;
		else
			old->cache[keep++] = idx;
	}
	old->nc = keep;
	rt->nb++;
	return 0;
}

/* The bad node a newcomer should replace in @b: the one that failed most, or -1. */
static int worst_bad(const bt_dht__rtable *rt, const struct bucket *b)
{
	int worst = -1;
	for (unsigned i = 0; i < b->n; i++) {
		const bt_dht__rt_node *n = &rt->pool[b->node[i]];
		if (is_bad(n) && (worst < 0 || n->fails > rt->pool[b->node[worst]].fails))
			worst = (int)i;
	}
	return worst;
}

/* Puts entry @idx, which has answered us and sits in no array, into its bucket: there is room,
 * or the bucket is the last and splits, or a bad node gives up its place.  Buckets created by
 * splits then take in cached candidates that have answered.  False when nothing applies. */
static bool place(bt_dht__rtable *rt, uint16_t idx, uint64_t now)
{
	unsigned first_split = MAX_BUCKETS;
	bool placed = false;

	for (;;) {
		unsigned bi = bucket_of(rt, &rt->pool[idx].id);
		struct bucket *b = &rt->b[bi];
		if (b->n < K) {
			b->node[b->n++] = idx;
			placed = true;
		} else if (bi == rt->nb - 1 && split(rt) == 0) {
			if (first_split > bi)
				first_split = bi;
			continue;
		} else {
			int pos = worst_bad(rt, b);
			if (pos >= 0) {
				drop(rt, b->node[pos]);
				b->node[pos] = idx;
				placed = true;
			}
		}
		if (placed) {
			rt->pool[idx].flags &= (uint8_t)~BT_DHT__RT_F_CACHED;
			b->last_changed = now;
		}
		break;
	}
	for (unsigned bi = first_split; bi < rt->nb; bi++)
		fill_from_cache(rt, bi, now);
	return placed;
}

/* Puts entry @idx, which sits in no array, at the front of its bucket's cache.  A full cache
 * loses its least recently heard candidate that never answered us; if all have answered, a
 * newcomer that has answered too takes the place of the least recent, and one that has not is
 * refused (false; the caller drops it).  So a flood of queries from spoofed addresses cannot
 * push verified candidates out. */
static bool cache_push(bt_dht__rtable *rt, uint16_t idx)
{
	struct bucket *b = &rt->b[bucket_of(rt, &rt->pool[idx].id)];
	if (b->nc == K) {
		int victim = -1;
		for (int i = K - 1; i >= 0 && victim < 0; i--) {
			if (!(rt->pool[b->cache[i]].flags & BT_DHT__RT_F_REPLIED))
				victim = i;
		}
		if (victim < 0) {
			if (!(rt->pool[idx].flags & BT_DHT__RT_F_REPLIED))
				return false;
			victim = K - 1;
		}
		drop(rt, b->cache[victim]);
		arr_remove(b->cache, &b->nc, (unsigned)victim);
	}
	rt->pool[idx].flags |= BT_DHT__RT_F_CACHED;
	arr_push_front(b->cache, &b->nc, idx);
	return true;
}

/* ---- public ---- */

int bt_dht__rt_new(bt_dht__rtable **out, const bt_id *self, int family, size_t max_nodes)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!self || (family != 4 && family != 6))
		return -EINVAL;
	bt_dht__rtable *rt = calloc(1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	rt->self = *self;
	rt->family = family;
	rt->cap = max_nodes && max_nodes < MAX_ENTRIES ? (unsigned)max_nodes : MAX_ENTRIES;
	/* One spare entry: a newcomer is allocated before it evicts or replaces anything, and
	 * taken back out if it ends up growing the table past cap. */
	rt->pmax = rt->cap + 1;
	rt->key = key_of(self);
	rt->bcap = 8;
	rt->pcap = rt->pmax < 32 ? rt->pmax : 32;
	rt->imask = index_size(rt->pcap) - 1;
	rt->b = calloc(rt->bcap, sizeof(*rt->b));
	rt->pool = malloc(rt->pcap * sizeof(*rt->pool));
	rt->freel = malloc(rt->pcap * sizeof(*rt->freel));
	rt->index = malloc((rt->imask + 1) * sizeof(*rt->index));
	if (!rt->b || !rt->pool || !rt->freel || !rt->index) {
		bt_dht__rt_free(rt);
		return -ENOMEM;
	}
	rt->nb = 1;
	for (unsigned i = 0; i <= rt->imask; i++)
		rt->index[i] = NONE;
	*out = rt;
	return 0;
}

void bt_dht__rt_free(bt_dht__rtable *rt)
{
	if (!rt)
		return;
	free(rt->b);
	free(rt->pool);
	free(rt->freel);
	free(rt->index);
	free(rt);
}

const bt_id *bt_dht__rt_self(const bt_dht__rtable *rt)
{
	return &rt->self;
}

struct reentry {
	uint64_t heard; /* most recent of last_reply and last_query */
	uint16_t idx;
};

/* Drops entries until the table holds at most rt->cap: cached candidates that never answered,
 * then cached ones that did, then bad bucket nodes.  Good and questionable bucket nodes stay. */
static void trim(bt_dht__rtable *rt)
{
	for (int pass = 0; pass < 3 && rt->count > rt->cap; pass++) {
		for (unsigned bi = 0; bi < rt->nb && rt->count > rt->cap; bi++) {
			struct bucket *b = &rt->b[bi];
			if (pass < 2) {
				for (int i = (int)b->nc - 1; i >= 0 && rt->count > rt->cap; i--) {
					bool replied =
					    rt->pool[b->cache[i]].flags & BT_DHT__RT_F_REPLIED;
					if (pass == 0 && replied)
						continue;
					drop(rt, b->cache[i]);
					arr_remove(b->cache, &b->nc, (unsigned)i);
				}
				continue;
			}
			for (int i = (int)b->n - 1; i >= 0 && rt->count > rt->cap; i--) {
				if (!is_bad(&rt->pool[b->node[i]]))
					continue;
				drop(rt, b->node[i]);
				arr_remove(b->node, &b->n, (unsigned)i);
			}
		}
	}
}

void bt_dht__rt_set_max(bt_dht__rtable *rt, size_t max_nodes)
{
	rt->cap = max_nodes && max_nodes < MAX_ENTRIES ? (unsigned)max_nodes : MAX_ENTRIES;
	if (rt->pmax < rt->cap + 1)
		rt->pmax = rt->cap + 1; /* the pool may grow to the new bound, on demand */
	trim(rt);
}

static int reentry_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct reentry *)a)->heard, y = ((const struct reentry *)b)->heard;
	return x < y ? -1 : x > y;
}

/* Every entry is put back as if heard anew, keeping its flags and timestamps: bucket nodes
 * first, so the nodes we relied on keep priority, then cached candidates from the least to the
 * most recently heard, so each cache again lists the most recent first.  New buckets start with
 * last_changed 0: the neighbourhood has changed, so they are due for a refresh. */
int bt_dht__rt_set_self(bt_dht__rtable *rt, const bt_id *self)
{
	if (!rt || !self)
		return -EINVAL;
	if (bt_id_eq(self, &rt->self))
		return 0;
	struct reentry *list = malloc((rt->count ? rt->count : 1) * sizeof(*list));
	if (!list)
		return -ENOMEM;
	size_t n = 0, nnodes;
	for (unsigned bi = 0; bi < rt->nb; bi++) {
		for (unsigned i = 0; i < rt->b[bi].n; i++)
			list[n++] = (struct reentry){0, rt->b[bi].node[i]};
	}
	nnodes = n;
	for (unsigned bi = 0; bi < rt->nb; bi++) {
		for (unsigned i = 0; i < rt->b[bi].nc; i++) {
			const bt_dht__rt_node *c = &rt->pool[rt->b[bi].cache[i]];
			list[n].idx = rt->b[bi].cache[i];
			list[n++].heard =
			    c->last_reply > c->last_query ? c->last_reply : c->last_query;
		}
	}
	qsort(list + nnodes, n - nnodes, sizeof(*list), reentry_cmp);

	rt->self = *self;
	rt->key = key_of(self);
	memset(rt->b, 0, rt->bcap * sizeof(*rt->b));
	rt->nb = 1;
	/* Index every entry under the new key first: placing may drop some, which unindexes. */
	for (unsigned i = 0; i <= rt->imask; i++)
		rt->index[i] = NONE;
	for (size_t i = 0; i < n; i++)
		ip_insert(rt, list[i].idx);
	for (size_t i = 0; i < n; i++) {
		uint16_t idx = list[i].idx;
		bt_dht__rt_node *e = &rt->pool[idx];
		if (bt_id_eq(&e->id, self)) {
			drop(rt, idx);
			continue;
		}
		if ((e->flags & BT_DHT__RT_F_REPLIED) && place(rt, idx, 0))
			continue;
		if (!cache_push(rt, idx))
			drop(rt, idx);
	}
	free(list);
	return 0;
}

/* @id at @addr is new to the table, and its IP is free.  At max_nodes, a newcomer may still take
 * a bad node's place or evict a cached candidate, as the table does not grow; one that would take
 * a free place is refused. */
static bt_dht__rt_result admit(bt_dht__rtable *rt, const bt_id *id, const bt_addr *addr,
                               bt_dht__rt_how how, unsigned flags, uint64_t now)
{
	uint16_t idx = node_alloc(rt);
	if (idx == NONE)
		return BT_DHT__RT_REJECTED;
	bt_dht__rt_node *e = &rt->pool[idx];
	memset(e, 0, sizeof(*e));
	e->id = *id;
	e->addr = *addr;
	e->flags = (uint8_t)(flags & BT_DHT__RT_F_BEP42);
	if (how == BT_DHT__RT_REPLIED) {
		e->last_reply = now;
		e->flags |= BT_DHT__RT_F_REPLIED;
	} else {
		e->last_query = now;
	}
	ip_insert(rt, idx);

	bt_dht__rt_result res;
	if (how == BT_DHT__RT_REPLIED && place(rt, idx, now)) {
		res = BT_DHT__RT_ADDED;
	} else if (cache_push(rt, idx)) {
		res = BT_DHT__RT_CACHED;
	} else {
		drop(rt, idx);
		return BT_DHT__RT_REJECTED;
	}
	if (rt->count > rt->cap) {
		/* It took a free place: undo, which leaves the table as it was (a split on the way
		 * moved entries but added none). */
		struct loc l;
		find_id(rt, id, &l);
		detach(rt, &l);
		drop(rt, l.idx);
		return BT_DHT__RT_REJECTED;
	}
	return res;
}

/* @l's entry was heard from at its own address. */
static bt_dht__rt_result refresh(bt_dht__rtable *rt, const struct loc *l, bt_dht__rt_how how,
                                 unsigned flags, uint64_t now)
{
	bt_dht__rt_node *e = &rt->pool[l->idx];
	e->flags =
	    (uint8_t)((unsigned)(e->flags & ~BT_DHT__RT_F_BEP42) | (flags & BT_DHT__RT_F_BEP42));
	if (how == BT_DHT__RT_QUERIED) {
		e->last_query = now;
		if (l->cached) {
			struct bucket *b = &rt->b[l->bi];
			arr_remove(b->cache, &b->nc, l->pos);
			arr_push_front(b->cache, &b->nc, l->idx);
		}
		return BT_DHT__RT_UPDATED;
	}
	e->last_reply = now;
	e->fails = 0;
	e->flags |= BT_DHT__RT_F_REPLIED;
	if (!l->cached) {
		rt->b[l->bi].last_changed = now;
		return BT_DHT__RT_UPDATED;
	}
	/* A candidate has proved itself: into a bucket if there is a place, else back to the
	 * front of its cache, where it has just left a free slot. */
	detach(rt, l);
	if (place(rt, l->idx, now))
		return BT_DHT__RT_ADDED;
	cache_push(rt, l->idx);
	return BT_DHT__RT_UPDATED;
}

bt_dht__rt_result bt_dht__rt_heard(bt_dht__rtable *rt, const bt_id *id, const bt_addr *addr,
                                   bt_dht__rt_how how, unsigned flags, uint64_t now)
{
	struct loc l;

	if (!rt || !id || !addr || addr->family != rt->family)
		return BT_DHT__RT_REJECTED;
	if ((how != BT_DHT__RT_REPLIED && how != BT_DHT__RT_QUERIED) || bt_id_eq(id, &rt->self))
		return BT_DHT__RT_REJECTED;
	if (find_id(rt, id, &l)) {
		bt_dht__rt_node *e = &rt->pool[l.idx];
		if (bt_addr_eq(&e->addr, addr))
			return refresh(rt, &l, how, flags, now);
		/* An id that shows up elsewhere is a spoof or a node that moved; only a dead entry
		 * lets it move. */
		if (!is_bad(e))
			return BT_DHT__RT_REJECTED;
		detach(rt, &l);
		drop(rt, l.idx);
	}
	uint16_t other = ip_find(rt, addr);
	if (other != NONE) {
		if (!is_bad(&rt->pool[other]))
			return BT_DHT__RT_REJECTED;
		find_id(rt, &rt->pool[other].id, &l);
		detach(rt, &l);
		drop(rt, l.idx);
	}
	/* A bad bucket node removed above may leave room that a newcomer which only queried us
	 * does not take.  No cached candidate that has answered is waiting for it: a bad node and
	 * such a candidate never share a bucket, as whichever comes second displaces the other
	 * (bt_dht__rt_failed promotes, place replaces). */
	return admit(rt, id, addr, how, flags, now);
}

bool bt_dht__rt_failed(bt_dht__rtable *rt, const bt_id *id, const bt_addr *addr, uint64_t now)
{
	struct loc l;

	if (!rt || !id || !addr || !find_id(rt, id, &l))
		return false;
	bt_dht__rt_node *e = &rt->pool[l.idx];
	/* A silence at another address says nothing about this entry. */
	if (!bt_addr_eq(&e->addr, addr))
		return false;
	if (e->fails < UINT8_MAX)
		e->fails++;
	if (!is_bad(e))
		return false;
	if (l.cached) {
		/* An unreachable candidate is worth nothing: make room for the next one. */
		detach(rt, &l);
		drop(rt, l.idx);
		return true;
	}
	struct bucket *b = &rt->b[l.bi];
	int pos = freshest_replied(rt, b);
	if (pos >= 0) {
		uint16_t c = b->cache[pos];
		arr_remove(b->cache, &b->nc, (unsigned)pos);
		drop(rt, l.idx);
		rt->pool[c].flags &= (uint8_t)~BT_DHT__RT_F_CACHED;
		b->node[l.pos] = c;
		b->last_changed = now;
	}
	/* Else it stays, bad, until a newcomer that answers us takes its place. */
	return true;
}

bt_dht__rt_state bt_dht__rt_state_of(const bt_dht__rtable *rt, const bt_id *id, uint64_t now)
{
	struct loc l;
	if (!rt || !id || !find_id(rt, id, &l) || l.cached)
		return (bt_dht__rt_state)0;
	return node_state(&rt->pool[l.idx], now);
}

/* Appends bucket @bi's usable nodes, closest to @target first, to @out[got..k). */
static size_t emit(const bt_dht__rtable *rt, unsigned bi, const bt_id *target, bt_dht__rt_node *out,
                   size_t got, size_t k)
{
	const struct bucket *b = &rt->b[bi];
	const bt_dht__rt_node *tmp[K];
	unsigned n = 0;

	for (unsigned i = 0; i < b->n; i++) {
		const bt_dht__rt_node *e = &rt->pool[b->node[i]];
		if (is_bad(e))
			continue;
		/* Insertion sort: at most K elements. */
		unsigned j = n++;
		while (j > 0 && bt_id_dist_cmp(target, &e->id, &tmp[j - 1]->id) < 0) {
			tmp[j] = tmp[j - 1];
			j--;
		}
		tmp[j] = e;
	}
	for (unsigned i = 0; i < n && got < k; i++)
		out[got++] = *tmp[i];
	return got;
}

/* Every bucket is a band of distances from the target, and the bands are totally ordered.  Let
 * c = the bits the target shares with us, x = target ^ self, L = the last bucket.  Nodes of
 * bucket j < c are at distances whose leading bit is j: the farther, the smaller j.  Nodes of
 * the target's own bucket share more than c bits with it: closest of all.  Nodes of a deeper
 * bucket j are at distances with leading bit c, and at bit j they have 0 if x has 1 there and 1
 * otherwise, while every bucket deeper than j has x's bit: so bucket j comes before all deeper
 * ones when x[j] = 1 and after them when x[j] = 0.  Sorting within a bucket is then enough. */
size_t bt_dht__rt_closest(const bt_dht__rtable *rt, const bt_id *target, bt_dht__rt_node *out,
                          size_t k, uint64_t now)
{
	(void)now; /* a node is usable unless bad, and badness does not depend on the time */
	if (!rt || !target || !out || !k)
		return 0;
	unsigned last = rt->nb - 1;
	unsigned bi = bucket_of(rt, target);
	size_t got = emit(rt, bi, target, out, 0, k);
	if (bi < last) {
		for (unsigned j = bi + 1; j < last && got < k; j++) {
			if (bt_id_bit(target, j) != bt_id_bit(&rt->self, j))
				got = emit(rt, j, target, out, got, k);
		}
		if (got < k)
			got = emit(rt, last, target, out, got, k);
		for (unsigned j = last - 1; j > bi && got < k; j--) {
			if (bt_id_bit(target, j) == bt_id_bit(&rt->self, j))
				got = emit(rt, j, target, out, got, k);
		}
	}
	for (unsigned j = bi; j-- > 0 && got < k;)
		got = emit(rt, j, target, out, got, k);
	return got;
}

static bool ping_due(const bt_dht__rt_node *e, uint64_t now, uint64_t min_gap_ms)
{
	return !e->last_ping || elapsed(now, e->last_ping) >= min_gap_ms;
}

/* Questionable nodes go first, least recently heard first (BEP 5), since they may be holding a
 * place a newcomer could use.  Then unverified candidates: those whose bucket has room (or a bad
 * node) first, as an answer lets them straight in, and the most recently heard first, as they are
 * the likeliest to answer. */
bool bt_dht__rt_next_ping(bt_dht__rtable *rt, uint64_t now, uint64_t min_gap_ms,
                          bt_dht__rt_node *out)
{
	bt_dht__rt_node *best = NULL;
	uint64_t best_heard = 0;
	bool best_room = false;

	if (!rt || !out)
		return false;
	for (unsigned bi = 0; bi < rt->nb; bi++) {
		const struct bucket *b = &rt->b[bi];
		for (unsigned i = 0; i < b->n; i++) {
			bt_dht__rt_node *e = &rt->pool[b->node[i]];
			if (node_state(e, now) != BT_DHT__RT_QUESTIONABLE ||
			    !ping_due(e, now, min_gap_ms))
				continue;
			uint64_t heard =
			    e->last_reply > e->last_query ? e->last_reply : e->last_query;
			if (!best || heard < best_heard) {
				best = e;
				best_heard = heard;
			}
		}
	}
	bool candidates = !best;
	for (unsigned bi = 0; bi < rt->nb && candidates; bi++) {
		const struct bucket *b = &rt->b[bi];
		bool room = b->n < K || worst_bad(rt, b) >= 0;
		if (best && best_room && !room)
			continue;
		for (unsigned i = 0; i < b->nc; i++) {
			bt_dht__rt_node *e = &rt->pool[b->cache[i]];
			if ((e->flags & BT_DHT__RT_F_REPLIED) || !ping_due(e, now, min_gap_ms))
				continue;
			if (!best || (room && !best_room) ||
			    (room == best_room && e->last_query > best_heard)) {
				best = e;
				best_heard = e->last_query;
				best_room = room;
			}
		}
	}
	if (!best)
		return false;
	best->last_ping = now;
	*out = *best;
	return true;
}

bool bt_dht__rt_refresh_target(bt_dht__rtable *rt, uint64_t now, uint64_t stale_ms,
                               const uint8_t rnd[BT_ID_LEN], bt_id *target)
{
	int best = -1;

	if (!rt || !rnd || !target)
		return false;
	for (unsigned bi = 0; bi < rt->nb; bi++) {
		uint64_t changed = rt->b[bi].last_changed;
		if (elapsed(now, changed) >= stale_ms &&
		    (best < 0 || changed < rt->b[best].last_changed))
			best = (int)bi;
	}
	if (best < 0)
		return false;
	/* Bucket i < last: our first i bits, then the opposite of our bit i.  The last bucket:
	 * our first `last` bits.  Random bits below. */
	unsigned bi = (unsigned)best, prefix = bi;
	memcpy(target->b, rnd, BT_ID_LEN);
	memcpy(target->b, rt->self.b, prefix / 8);
	if (prefix % 8) {
		uint8_t mask = (uint8_t)(0xff00u >> (prefix % 8));
		target->b[prefix / 8] =
		    (uint8_t)((rt->self.b[prefix / 8] & mask) | (rnd[prefix / 8] & ~mask));
	}
	if (bi < rt->nb - 1) {
		uint8_t bit = (uint8_t)(0x80u >> (bi % 8));
		target->b[bi / 8] =
		    (uint8_t)((target->b[bi / 8] & ~bit) | (~rt->self.b[bi / 8] & bit));
	}
	rt->b[bi].last_changed = now;
	return true;
}

void bt_dht__rt_get_stats(const bt_dht__rtable *rt, uint64_t now, bt_dht__rt_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!rt)
		return;
	st->buckets = rt->nb;
	for (unsigned bi = 0; bi < rt->nb; bi++) {
		const struct bucket *b = &rt->b[bi];
		for (unsigned i = 0; i < b->n; i++) {
			switch (node_state(&rt->pool[b->node[i]], now)) {
			case BT_DHT__RT_GOOD:
				st->good++;
				break;
			case BT_DHT__RT_QUESTIONABLE:
				st->questionable++;
				break;
			case BT_DHT__RT_BAD:
				st->bad++;
				break;
			}
		}
		st->cached += b->nc;
	}
	st->bytes = sizeof(*rt) + rt->bcap * sizeof(*rt->b) +
	            rt->pcap * (sizeof(*rt->pool) + sizeof(*rt->freel)) +
	            (rt->imask + 1) * sizeof(*rt->index);
}

void bt_dht__rt_foreach(const bt_dht__rtable *rt, bt_dht__rt_node_cb fn, void *ud)
{
	if (!rt || !fn)
		return;
	for (unsigned bi = 0; bi < rt->nb; bi++) {
		const struct bucket *b = &rt->b[bi];
		for (unsigned i = 0; i < b->n; i++)
			fn(&rt->pool[b->node[i]], ud);
	}
}
