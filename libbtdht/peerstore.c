/*
 * peerstore.c - the announce store of peerstore.h, laid out for memory because it holds whatever
 * the whole DHT announces to us.  Infohashes live in a dense array of 64-byte entries, found
 * through an open-addressing table (linear probing, backward-shift deletion, keyed SipHash-2-4)
 * and chained in an LRU list by index for eviction.  Each entry keeps one small array per family
 * of packed records, a 32-bit announce time in ms relative to the entry's base followed by the
 * compact address: 10 bytes per IPv4 peer, 22 per IPv6 peer.  Arrays grow by a quarter up to
 * max_peers and shrink when expiry empties them.
 */
#include "peerstore.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "siphash.h"

#define NIL UINT32_MAX
#define STAMP 4 /* bytes of the time offset at the start of a record */
#define MIN_SLOTS 16u
#define MIN_ENTRIES 16u

static const size_t rec_size[2] = {STAMP + BT_ADDR_COMPACT4, STAMP + BT_ADDR_COMPACT6};
static const size_t addr_len[2] = {BT_ADDR_COMPACT4, BT_ADDR_COMPACT6};

typedef struct ps_entry {
	uint64_t base;     /* ms; record stamps and last are offsets from it */
	uint8_t *peers[2]; /* [0] IPv4, [1] IPv6 records; NULL when cap is 0 */
	bt_id ih;
	uint32_t prev, next;   /* LRU by announce: prev is more recent; NIL ends */
	uint32_t last;         /* offset of the latest announce, >= every record's stamp */
	uint16_t n[2], cap[2]; /* records used / allocated per family */
} ps_entry;

typedef struct ps_slot {
	uint32_t ent; /* entry index + 1; 0 is an empty slot, so calloc makes an empty table */
	uint32_t tag; /* low 32 bits of the key's hash: the home slot, and a pre-compare that saves
	                 touching the entry on most probes */
} ps_slot;

struct bt_dht__ps {
	bt_dht__ps_limits lim;
	uint64_t k0, k1; /* SipHash key */

	ps_slot *slots;
	uint32_t mask; /* slots - 1; the table is a power of two */

	ps_entry *ent;
	uint32_t count, ent_cap;
	uint32_t head, tail; /* most / least recently announced */
	uint32_t cursor;     /* next entry bt_dht__ps_expire examines */

	size_t peers;
	size_t peer_bytes; /* bytes of all record arrays, by capacity */

	uint8_t *sample; /* BEP 51 sample, sample_n ids of 20 bytes */
	uint32_t sample_n, sample_cap;
	uint64_t sample_time;
	bool sample_valid;

	uint64_t evicted_infohashes, evicted_peers, expired_peers;
};

/* --- hashing and randomness --- */

static uint64_t ih_hash(const bt_dht__ps *ps, const bt_id *ih)
{
	return bt_siphash24(ps->k0, ps->k1, ih->b, BT_ID_LEN);
}

/* splitmix64: a one-word generator, enough to turn the caller's seed into many choices. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n) for n <= 2^32, by multiply-shift; the bias (n / 2^32) is irrelevant here. */
static size_t rng_below(uint64_t *s, size_t n)
{
	return (size_t)(((rng_next(s) >> 32) * (uint64_t)n) >> 32);
}

/* --- time --- */

static bool expired(const bt_dht__ps *ps, uint64_t t, uint64_t now)
{
	return now > t && now - t >= ps->lim.ttl_ms;
}

static uint32_t rec_off(const uint8_t *r)
{
	uint32_t off;
	memcpy(&off, r, STAMP);
	return off;
}

static void rec_set_off(uint8_t *r, uint32_t off)
{
	memcpy(r, &off, STAMP);
}

static bool rec_expired(const bt_dht__ps *ps, const ps_entry *e, const uint8_t *r, uint64_t now)
{
	return expired(ps, e->base + rec_off(r), now);
}

/* The record of compact address @key in family @f, or SIZE_MAX.  A linear scan: it is as fast as
 * a per-infohash index for the sizes max_peers allows, and costs no memory.  One loop per family
 * so that the compare has a constant length and is inlined. */
static size_t fam_find(const uint8_t *p, size_t n, int f, const uint8_t *key)
{
	if (f == 0) {
		for (size_t r = 0; r < n; r++)
			if (memcmp(p + r * rec_size[0] + STAMP, key, BT_ADDR_COMPACT4) == 0)
				return r;
	} else {
		for (size_t r = 0; r < n; r++)
			if (memcmp(p + r * rec_size[1] + STAMP, key, BT_ADDR_COMPACT6) == 0)
				return r;
	}
	return SIZE_MAX;
}

/* The record with the oldest announce among @n > 0. */
static size_t fam_oldest(const uint8_t *p, size_t n, size_t rs)
{
	size_t o = 0;
	uint32_t min = rec_off(p);
	for (size_t r = 1; r < n; r++) {
		uint32_t x = rec_off(p + r * rs);
		if (x < min) {
			min = x;
			o = r;
		}
	}
	return o;
}

static bool entry_expired(const bt_dht__ps *ps, const ps_entry *e, uint64_t now)
{
	return expired(ps, e->base + e->last, now);
}

/* --- record arrays --- */

static int fam_resize(bt_dht__ps *ps, ps_entry *e, int f, size_t cap)
{
	if (cap == 0) {
		free(e->peers[f]);
		e->peers[f] = NULL;
	} else {
		uint8_t *p = realloc(e->peers[f], cap * rec_size[f]);
		if (!p)
			return -ENOMEM;
		e->peers[f] = p;
	}
	ps->peer_bytes = ps->peer_bytes - e->cap[f] * rec_size[f] + cap * rec_size[f];
	e->cap[f] = (uint16_t)cap;
	return 0;
}

/* Give memory back once a family uses a quarter of its array, and keep arrays within max_peers
 * after the limit shrank.  A failed shrink only keeps the larger array. */
static void fam_fit(bt_dht__ps *ps, ps_entry *e, int f)
{
	size_t n = e->n[f], cap = e->cap[f];
	if (n == 0)
		fam_resize(ps, e, f, 0);
	else if (cap >= 8 && n * 4 <= cap)
		fam_resize(ps, e, f, n * 2 < ps->lim.max_peers ? n * 2 : ps->lim.max_peers);
	else if (cap > ps->lim.max_peers)
		fam_resize(ps, e, f, ps->lim.max_peers);
}

/* Drop the expired records of family @f, keeping the order of the rest. */
static void fam_compact(bt_dht__ps *ps, ps_entry *e, int f, uint64_t now)
{
	size_t rs = rec_size[f], w = 0;
	uint8_t *p = e->peers[f];
	for (size_t r = 0; r < e->n[f]; r++) {
		if (rec_expired(ps, e, p + r * rs, now))
			continue;
		if (w != r)
			memcpy(p + w * rs, p + r * rs, rs);
		w++;
	}
	ps->expired_peers += e->n[f] - w;
	ps->peers -= e->n[f] - w;
	e->n[f] = (uint16_t)w;
}

/* Move the base of @e forward so that @now fits in 32 bits again.  The new base is MAX_TTL before
 * now, so a record that would fall before it is older than any ttl and is dropped as expired. */
static void entry_rebase(bt_dht__ps *ps, ps_entry *e, uint64_t now)
{
	uint64_t nb = now - BT_DHT__PS_MAX_TTL_MS, d = nb - e->base;
	for (int f = 0; f < 2; f++) {
		size_t rs = rec_size[f], w = 0;
		uint8_t *p = e->peers[f];
		for (size_t r = 0; r < e->n[f]; r++) {
			uint32_t off = rec_off(p + r * rs);
			if (off < d)
				continue;
			memmove(p + w * rs, p + r * rs, rs);
			rec_set_off(p + w * rs, (uint32_t)(off - d));
			w++;
		}
		ps->expired_peers += e->n[f] - w;
		ps->peers -= e->n[f] - w;
		e->n[f] = (uint16_t)w;
	}
	e->last = e->last < d ? 0 : (uint32_t)(e->last - d);
	e->base = nb;
}

/* --- hash table --- */

static uint32_t slot_find(const bt_dht__ps *ps, const bt_id *ih, uint64_t h)
{
	uint32_t tag = (uint32_t)h;
	for (uint32_t i = tag & ps->mask;; i = (i + 1) & ps->mask) {
		const ps_slot *s = &ps->slots[i];
		if (!s->ent)
			return NIL;
		if (s->tag == tag && bt_id_eq(&ps->ent[s->ent - 1].ih, ih))
			return i;
	}
}

/* The slot that points at entry @idx (which must be in the table). */
static uint32_t slot_of(const bt_dht__ps *ps, uint32_t idx)
{
	uint32_t i = (uint32_t)ih_hash(ps, &ps->ent[idx].ih) & ps->mask;
	while (ps->slots[i].ent != idx + 1)
		i = (i + 1) & ps->mask;
	return i;
}

static void slot_put(ps_slot *slots, uint32_t mask, uint32_t tag, uint32_t ent)
{
	uint32_t i = tag & mask;
	while (slots[i].ent)
		i = (i + 1) & mask;
	slots[i].ent = ent;
	slots[i].tag = tag;
}

/* Knuth's deletion for linear probing: pull later members of the run back into the hole when
 * their home allows it, so no tombstones build up under churn. */
static void slot_delete(bt_dht__ps *ps, uint32_t hole)
{
	uint32_t m = ps->mask;
	for (uint32_t k = (hole + 1) & m; ps->slots[k].ent; k = (k + 1) & m) {
		uint32_t home = ps->slots[k].tag & m;
		if (((k - home) & m) >= ((k - hole) & m)) {
			ps->slots[hole] = ps->slots[k];
			hole = k;
		}
	}
	ps->slots[hole].ent = 0;
}

static int table_resize(bt_dht__ps *ps, uint32_t size)
{
	ps_slot *n = calloc(size, sizeof(*n));
	if (!n)
		return -ENOMEM;
	for (uint32_t i = 0; i <= ps->mask; i++)
		if (ps->slots[i].ent)
			slot_put(n, size - 1, ps->slots[i].tag, ps->slots[i].ent);
	free(ps->slots);
	ps->slots = n;
	ps->mask = size - 1;
	return 0;
}

/* The table size for @n keys: a power of two, at most 3/4 full. */
static uint32_t table_size_for(size_t n)
{
	uint32_t size = MIN_SLOTS;
	while ((uint64_t)n * 4 > (uint64_t)size * 3)
		size *= 2;
	return size;
}

/* --- entries and the LRU --- */

static void lru_unlink(bt_dht__ps *ps, uint32_t i)
{
	ps_entry *e = &ps->ent[i];
	if (e->prev != NIL)
		ps->ent[e->prev].next = e->next;
	else
		ps->head = e->next;
	if (e->next != NIL)
		ps->ent[e->next].prev = e->prev;
	else
		ps->tail = e->prev;
}

static void lru_push(bt_dht__ps *ps, uint32_t i)
{
	ps_entry *e = &ps->ent[i];
	e->prev = NIL;
	e->next = ps->head;
	if (ps->head != NIL)
		ps->ent[ps->head].prev = i;
	else
		ps->tail = i;
	ps->head = i;
}

static int ent_reserve(bt_dht__ps *ps, size_t need)
{
	if (need <= ps->ent_cap)
		return 0;
	size_t cap = ps->ent_cap + ps->ent_cap / 4;
	if (cap < MIN_ENTRIES)
		cap = MIN_ENTRIES;
	if (cap < need)
		cap = need;
	if (cap > ps->lim.max_infohashes)
		cap = ps->lim.max_infohashes;
	ps_entry *n = realloc(ps->ent, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	ps->ent = n;
	ps->ent_cap = (uint32_t)cap;
	return 0;
}

/* Shrink the entry array and the table when expiry has emptied them; failures keep the larger. */
static void ent_fit(bt_dht__ps *ps)
{
	uint32_t want = table_size_for(ps->count);
	if (ps->mask + 1 > MIN_SLOTS && (size_t)ps->count * 8 < ps->mask + 1)
		table_resize(ps, want);
	if (ps->ent_cap > MIN_ENTRIES && (size_t)ps->count * 4 < ps->ent_cap) {
		size_t cap = ps->count * 2 > MIN_ENTRIES ? ps->count * 2 : MIN_ENTRIES;
		ps_entry *n = realloc(ps->ent, cap * sizeof(*n));
		if (n) {
			ps->ent = n;
			ps->ent_cap = (uint32_t)cap;
		}
	}
}

/* Take entry @i out of the table, the LRU and the dense array (the last entry moves into its
 * place).  Entry pointers held by the caller are invalid afterwards. */
static void entry_remove(bt_dht__ps *ps, uint32_t i)
{
	slot_delete(ps, slot_of(ps, i));
	lru_unlink(ps, i);
	fam_resize(ps, &ps->ent[i], 0, 0);
	fam_resize(ps, &ps->ent[i], 1, 0);
	uint32_t last = --ps->count;
	if (i != last) {
		uint32_t s = slot_of(ps, last);
		ps_entry *e = &ps->ent[i];
		*e = ps->ent[last];
		ps->slots[s].ent = i + 1;
		if (e->prev != NIL)
			ps->ent[e->prev].next = i;
		else
			ps->head = i;
		if (e->next != NIL)
			ps->ent[e->next].prev = i;
		else
			ps->tail = i;
	}
	ent_fit(ps);
}

/* Remove entry @i with its peers.  Peers already expired count as expired; live ones count as
 * evicted, and the infohash as evicted if it had any: callers drop live entries only for room. */
static void entry_drop(bt_dht__ps *ps, uint32_t i, uint64_t now)
{
	const ps_entry *e = &ps->ent[i];
	size_t live = 0, total = 0;
	for (int f = 0; f < 2; f++) {
		for (size_t r = 0; r < e->n[f]; r++)
			live += !rec_expired(ps, e, e->peers[f] + r * rec_size[f], now);
		total += e->n[f];
	}
	ps->expired_peers += total - live;
	ps->evicted_peers += live;
	ps->evicted_infohashes += live > 0;
	ps->peers -= total;
	entry_remove(ps, i);
}

static int cmp_newest_first(const void *a, const void *b)
{
	uint32_t x = rec_off(a), y = rec_off(b);
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Keep the @max most recently announced records of family @f. */
static void fam_trim(bt_dht__ps *ps, ps_entry *e, int f, size_t max)
{
	if (e->n[f] <= max)
		return;
	qsort(e->peers[f], e->n[f], rec_size[f], cmp_newest_first);
	ps->evicted_peers += e->n[f] - max;
	ps->peers -= e->n[f] - max;
	e->n[f] = (uint16_t)max;
}

/* Drop expired peers of entry @i, then all but the @max newest (live ones count as evicted);
 * remove the entry if nothing is left.  Returns true if removed. */
static bool entry_examine(bt_dht__ps *ps, uint32_t i, uint64_t now, size_t max)
{
	ps_entry *e = &ps->ent[i];
	fam_compact(ps, e, 0, now);
	fam_compact(ps, e, 1, now);
	fam_trim(ps, e, 0, max);
	fam_trim(ps, e, 1, max);
	if (e->n[0] == 0 && e->n[1] == 0) {
		entry_remove(ps, i);
		return true;
	}
	fam_fit(ps, e, 0);
	fam_fit(ps, e, 1);
	return false;
}

static int fam_of(int family)
{
	return family == 4 ? 0 : family == 6 ? 1 : -1;
}

/* The SIZE_MAX test only bites on 32-bit systems, where array sizes could otherwise overflow. */
static bool limits_ok(const bt_dht__ps_limits *l)
{
	return l && l->max_infohashes >= 1 && l->max_infohashes <= BT_DHT__PS_MAX_INFOHASHES &&
	       l->max_infohashes <= SIZE_MAX / sizeof(ps_entry) && l->max_peers >= 1 &&
	       l->max_peers <= BT_DHT__PS_MAX_PEERS && l->ttl_ms >= 1 &&
	       l->ttl_ms <= BT_DHT__PS_MAX_TTL_MS;
}

/* --- public functions --- */

int bt_dht__ps_new(bt_dht__ps **out, const bt_dht__ps_limits *lim, uint64_t hash_key)
{
	*out = NULL;
	if (!limits_ok(lim))
		return -EINVAL;
	bt_dht__ps *ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	ps->slots = calloc(MIN_SLOTS, sizeof(*ps->slots));
	if (!ps->slots) {
		free(ps);
		return -ENOMEM;
	}
	ps->mask = MIN_SLOTS - 1;
	ps->lim = *lim;
	/* SipHash wants 128 key bits; the second half is derived, so the secret is the 64 given. */
	ps->k0 = hash_key;
	uint64_t s = hash_key ^ 0x5053746f72654b31ULL;
	ps->k1 = rng_next(&s);
	ps->head = ps->tail = NIL;
	*out = ps;
	return 0;
}

void bt_dht__ps_free(bt_dht__ps *ps)
{
	if (!ps)
		return;
	for (uint32_t i = 0; i < ps->count; i++) {
		free(ps->ent[i].peers[0]);
		free(ps->ent[i].peers[1]);
	}
	free(ps->ent);
	free(ps->slots);
	free(ps->sample);
	free(ps);
}

int bt_dht__ps_set_limits(bt_dht__ps *ps, const bt_dht__ps_limits *lim, uint64_t now)
{
	if (!limits_ok(lim))
		return -EINVAL;
	size_t old_peers = ps->lim.max_peers;
	ps->lim = *lim;
	while (ps->count > lim->max_infohashes)
		entry_drop(ps, ps->tail, now);
	if (lim->max_peers < old_peers) {
		for (uint32_t i = 0; i < ps->count;) {
			if (!entry_examine(ps, i, now, lim->max_peers))
				i++;
		}
	}
	if (ps->ent_cap > lim->max_infohashes) {
		ps_entry *n = realloc(ps->ent, lim->max_infohashes * sizeof(*n));
		if (n) {
			ps->ent = n;
			ps->ent_cap = (uint32_t)lim->max_infohashes;
		}
	}
	if (ps->mask + 1 > table_size_for(lim->max_infohashes))
		table_resize(ps, table_size_for(ps->count));
	if (ps->sample_cap > lim->max_infohashes) {
		uint8_t *n = realloc(ps->sample, lim->max_infohashes * BT_ID_LEN);
		if (n) {
			ps->sample = n;
			ps->sample_cap = (uint32_t)lim->max_infohashes;
			if (ps->sample_n > ps->sample_cap)
				ps->sample_n = ps->sample_cap;
		}
	}
	return 0;
}

/* Store or refresh compact address @key in family @f of the known entry @i. */
static int add_peer(bt_dht__ps *ps, uint32_t i, int f, const uint8_t *key, uint64_t now)
{
	ps_entry *e = &ps->ent[i];
	if (now > e->base && now - e->base > UINT32_MAX)
		entry_rebase(ps, e, now);
	uint32_t off = now > e->base ? (uint32_t)(now - e->base) : 0;
	if (off > e->last)
		e->last = off;

	size_t rs = rec_size[f], n = e->n[f];
	uint8_t *p = e->peers[f];
	size_t found = fam_find(p, n, f, key);
	if (found != SIZE_MAX) {
		/* max: a clock that steps back must not make a peer older than e->last says */
		if (off > rec_off(p + found * rs))
			rec_set_off(p + found * rs, off);
		return 0;
	}
	/* Full: the oldest announce goes, unless it has expired; then so may others, and dropping
	 * those makes room without evicting anyone live. */
	if (n >= ps->lim.max_peers) {
		size_t oldest = fam_oldest(p, n, rs);
		if (!rec_expired(ps, e, p + oldest * rs, now)) {
			rec_set_off(p + oldest * rs, off);
			memcpy(p + oldest * rs + STAMP, key, addr_len[f]);
			ps->evicted_peers++;
			return 0;
		}
		fam_compact(ps, e, f, now);
	}
	size_t w = e->n[f];
	if (w == e->cap[f]) {
		/* 1.25x: more reallocs than doubling, but at most a quarter of slack */
		size_t cap = w < 2 ? 2 : w < 4 ? w + 1 : w + w / 4;
		if (cap > ps->lim.max_peers)
			cap = ps->lim.max_peers;
		if (fam_resize(ps, e, f, cap))
			return -ENOMEM;
		p = e->peers[f];
	}
	rec_set_off(p + w * rs, off);
	memcpy(p + w * rs + STAMP, key, addr_len[f]);
	e->n[f]++;
	ps->peers++;
	return 0;
}

static int add_new(bt_dht__ps *ps, const bt_id *ih, uint64_t h, int f, const uint8_t *key,
                   uint64_t now)
{
	/* Allocate first: an announce that cannot be stored must not evict anything. */
	size_t cap = ps->lim.max_peers < 2 ? 1 : 2;
	uint8_t *p = malloc(cap * rec_size[f]);
	if (!p)
		return -ENOMEM;
	if (ps->count >= ps->lim.max_infohashes)
		entry_drop(ps, ps->tail, now);
	if (ent_reserve(ps, ps->count + 1u)) {
		free(p);
		return -ENOMEM;
	}
	if ((uint64_t)(ps->count + 1) * 4 > (uint64_t)(ps->mask + 1) * 3 &&
	    table_resize(ps, (ps->mask + 1) * 2)) {
		free(p);
		return -ENOMEM;
	}
	uint32_t i = ps->count++;
	ps_entry *e = &ps->ent[i];
	memset(e, 0, sizeof(*e));
	e->base = now;
	e->ih = *ih;
	e->peers[f] = p;
	e->cap[f] = (uint16_t)cap;
	e->n[f] = 1;
	ps->peer_bytes += cap * rec_size[f];
	ps->peers++;
	rec_set_off(p, 0);
	memcpy(p + STAMP, key, addr_len[f]);
	slot_put(ps->slots, ps->mask, (uint32_t)h, i + 1);
	lru_push(ps, i);
	return 1;
}

int bt_dht__ps_add(bt_dht__ps *ps, const bt_id *ih, const bt_addr *peer, uint64_t now)
{
	int f = fam_of(peer->family);
	if (f < 0)
		return -EINVAL;
	uint8_t key[BT_ADDR_COMPACT6];
	bt_addr_to_compact(peer, key);
	uint64_t h = ih_hash(ps, ih);
	uint32_t s = slot_find(ps, ih, h);
	if (s == NIL)
		return add_new(ps, ih, h, f, key, now);
	uint32_t i = ps->slots[s].ent - 1;
	if (entry_expired(ps, &ps->ent[i], now)) {
		/* Not swept yet, but gone as far as anyone can see: new again, so the answer does
		 * not depend on when bt_dht__ps_expire last ran. */
		entry_drop(ps, i, now);
		return add_new(ps, ih, h, f, key, now);
	}
	lru_unlink(ps, i);
	lru_push(ps, i);
	return add_peer(ps, i, f, key, now);
}

size_t bt_dht__ps_get(bt_dht__ps *ps, const bt_id *ih, int family, bt_addr *out, size_t max,
                      uint64_t now, uint64_t rnd)
{
	int f = fam_of(family);
	if (f < 0 || max == 0)
		return 0;
	uint32_t s = slot_find(ps, ih, ih_hash(ps, ih));
	if (s == NIL)
		return 0;
	uint32_t i = ps->slots[s].ent - 1;
	ps_entry *e = &ps->ent[i];
	if (entry_expired(ps, e, now)) {
		entry_drop(ps, i, now);
		return 0;
	}
	fam_compact(ps, e, f, now);

	/* Partial Fisher-Yates on the stored records themselves: their order carries no meaning,
	 * so the choice needs no scratch memory. */
	size_t n = e->n[f], k = max < n ? max : n, rs = rec_size[f];
	uint8_t *p = e->peers[f], tmp[STAMP + BT_ADDR_COMPACT6];
	uint64_t st = rnd;
	for (size_t j = 0; j < k; j++) {
		size_t r = j + rng_below(&st, n - j);
		if (r != j) {
			memcpy(tmp, p + j * rs, rs);
			memcpy(p + j * rs, p + r * rs, rs);
			memcpy(p + r * rs, tmp, rs);
		}
		bt_addr_from_compact(&out[j], p + j * rs + STAMP, addr_len[f]);
	}
	return k;
}

void bt_dht__ps_expire(bt_dht__ps *ps, uint64_t now, size_t budget)
{
	size_t pass = ps->count, seen = 0;
	while (budget > 0 && ps->count > 0) {
		budget--;
		/* Whole infohashes die at the LRU tail first: their last announce is the oldest. */
		if (entry_expired(ps, &ps->ent[ps->tail], now)) {
			entry_drop(ps, ps->tail, now);
			continue;
		}
		if (seen++ >= pass)
			break;
		if (ps->cursor >= ps->count)
			ps->cursor = 0;
		if (!entry_examine(ps, ps->cursor, now, ps->lim.max_peers))
			ps->cursor++;
	}
}

/* Reservoir sampling over the infohashes with a live announce: one pass, uniform, no scratch. */
static void sample_draw(bt_dht__ps *ps, size_t max, uint64_t now, uint64_t rnd)
{
	size_t k = max < ps->count ? max : ps->count;
	if (k > ps->sample_cap) {
		uint8_t *n = realloc(ps->sample, k * BT_ID_LEN);
		if (n) {
			ps->sample = n;
			ps->sample_cap = (uint32_t)k;
		} else {
			k = ps->sample_cap;
		}
	}
	size_t seen = 0;
	uint64_t st = rnd;
	for (uint32_t i = 0; i < ps->count; i++) {
		const ps_entry *e = &ps->ent[i];
		if (entry_expired(ps, e, now))
			continue;
		size_t j = seen < k ? seen : rng_below(&st, seen + 1);
		if (j < k)
			memcpy(ps->sample + j * BT_ID_LEN, e->ih.b, BT_ID_LEN);
		seen++;
	}
	ps->sample_n = (uint32_t)(seen < k ? seen : k);
	ps->sample_time = now;
	ps->sample_valid = true;
}

size_t bt_dht__ps_sample(bt_dht__ps *ps, uint8_t *out, size_t max, uint64_t now, uint64_t rnd,
                         size_t *num)
{
	if (num)
		*num = ps->count;
	if (max == 0)
		return 0;
	if (!ps->sample_valid ||
	    (now >= ps->sample_time && now - ps->sample_time >= ps->lim.sample_interval_ms))
		sample_draw(ps, max, now, rnd);
	size_t k = max < ps->sample_n ? max : ps->sample_n;
	if (k)
		memcpy(out, ps->sample, k * BT_ID_LEN);
	return k;
}

void bt_dht__ps_get_stats(const bt_dht__ps *ps, bt_dht__ps_stats *st)
{
	st->infohashes = ps->count;
	st->peers = ps->peers;
	st->bytes = sizeof(*ps) + (size_t)(ps->mask + 1) * sizeof(ps_slot) +
	            (size_t)ps->ent_cap * sizeof(ps_entry) + ps->peer_bytes +
	            (size_t)ps->sample_cap * BT_ID_LEN;
	st->evicted_infohashes = ps->evicted_infohashes;
	st->evicted_peers = ps->evicted_peers;
	st->expired_peers = ps->expired_peers;
}
