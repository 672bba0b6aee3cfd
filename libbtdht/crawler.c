/*
 * crawler.c - the crawler of btdht.h: walks the DHT through an attached node and reports every
 * new infohash with its peers.
 *
 * Three structures:
 *  - the crawl table: every node heard of, by address (open addressing over an array that grows
 *    up to max_nodes), with what we know of it and when it may be asked next; a min-heap of the
 *    nodes that have work due orders the BEP 51 sampling and the find_node walks;
 *  - the seen-set: two Bloom filters (current, previous) of seen_capacity infohashes each;
 *  - the pending ring: infohashes waiting for peers, in the order they were found, so the
 *    oldest is the first to pass peer_wait_ms; a work queue holds those that need a query sent
 *    (a get_peers to the node that sampled them, or an iterative lookup).
 * Every query goes through bt_dht__query() or bt_dht_search(), under the node's budgets; no
 * node is asked twice within node_gap_ms, nor while a query to it is in flight.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "btdht.h"
#include "crawler.h"
#include "siphash.h"

#define DEAD_FAILS 3                   /* consecutive timeouts before a node is dead */
#define RETRY_MS 15000                 /* after a timeout; doubled per further timeout */
#define WALK_AGAIN_MS (30 * 60 * 1000) /* find_node walk of a node without BEP 51 */
#define MAX_INTERVAL_S 21600           /* BEP 51's largest interval */
#define BUSY_RETRY_MS 500              /* a node with a query in flight */
#define EXPLORE_REST_MS 30000          /* a walk asks only nodes left alone this long */
#define STEPS_PER_TICK 512             /* bound on the work of one tick */
/* Lookups at once for infohashes only asked for: most are random targets of other nodes' table
 * upkeep, and each lookup takes node gaps that the lookups of sampled infohashes need. */
#define PASSIVE_LOOKUPS 4
#define BLOOM_K 13
#define BLOOM_BITS_PER_ITEM 20 /* with K 13: false positives 7.5e-5 at capacity */
#define MAX_PEERS_CAP 64

enum {
	F_ID = 1,         /* id known (from a contact list or a reply) */
	F_CONFIRMED = 2,  /* id given by the node itself, the same twice or heard directly */
	F_REPLIED = 4,    /* answered one of our queries */
	F_BEP51 = 8,      /* answered sample_infohashes */
	F_NO51 = 16,      /* does not: walked with find_node instead */
	F_DEAD = 32,      /* timed out DEAD_FAILS times in a row */
	F_SPOOF = 64,     /* answers with ever-new ids */
	F_INFLIGHT = 128, /* a query of ours awaits its answer */
};

struct cnode {
	bt_addr addr;
	bt_id id;
	uint64_t due;    /* when its next query is due (valid while in the heap) */
	uint64_t last_q; /* when it was last sent a query */
	uint32_t heap;   /* position in the heap + 1; 0: not in it */
	uint8_t flags;
	uint8_t fails;      /* consecutive timeouts */
	uint8_t id_changes; /* replies with another id than the one we had */
};

enum pstate { P_FREE = 0, P_ASK, P_ASKING, P_LOOKUP, P_LOOKING };

struct pend {
	bt_dht_crawler *c;
	uint64_t seq;
	bt_id ih;
	bt_addr from; /* who told us */
	uint64_t found;
	uint64_t started; /* its first query went out (0: still queued) */
	uint64_t search_id;
	uint8_t state; /* enum pstate */
	uint8_t src;   /* bt_dht_source */
	uint8_t npeers;
	bool passive_lookup; /* a running lookup counted in passive_lookups */
	bool confirmed;      /* sampled or announced too: reported even without peers */
	bt_addr *peers;      /* max_peers slots */
};

struct bloom {
	uint64_t *bits;
	uint64_t nbits;
	uint64_t count;
};

struct bt_dht_crawler {
	bt_dht *d; /* NULL once the node is freed */
	bt_dht_crawl_options o;
	uint64_t key[2]; /* hashing */

	struct cnode *nodes;
	uint32_t nnodes, cap, max_nodes;
	uint32_t *slots; /* node index + 1; 0: empty */
	uint32_t nslots; /* a power of two */
	uint32_t *heap;  /* node indices, ordered by due */
	uint32_t nheap;

	struct bloom seen[2]; /* [0] current, [1] previous */

	struct pend *pend; /* ring of max_pending */
	bt_addr *peerbuf;
	uint32_t npend_slots, max_peers_cap;
	uint64_t head, next; /* oldest possibly waiting seq, next seq */
	uint64_t *work;      /* ring of seqs that need a query sent */
	uint64_t *pidx;      /* the waiting items by infohash: seqs, 0 empty (linear probing) */
	uint32_t npidx;      /* a power of two, at least twice max_pending */
	uint64_t whead, wtail;
	uint64_t lookups_blocked_until;
	uint64_t work_idle_until; /* no queued item can be sent before then */
	unsigned passive_lookups; /* running, for infohashes only asked for */
	uint64_t next_explore;

	bt_dht_crawl_stats st;
};

/* ---------------------------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------------------------- */

static void defaults(bt_dht_crawl_options *o)
{
	if (!o->seen_capacity)
		o->seen_capacity = 1000000;
	if (!o->max_nodes)
		o->max_nodes = 200000;
	if (!o->max_pending)
		o->max_pending = 10000;
	if (!o->max_peers)
		o->max_peers = 16;
	if (!o->node_gap_ms)
		o->node_gap_ms = 1500;
	if (!o->min_interval_s)
		o->min_interval_s = 60;
	if (!o->peer_wait_ms)
		o->peer_wait_ms = 30000;
	if (!o->explore_share)
		o->explore_share = 10;
}

static int check(const bt_dht_crawl_options *o)
{
	if (o->version != BT_DHT_CRAWL_OPTIONS_VERSION)
		return BT_DHT_E_VERSION;
	if (!o->on_discovery || o->max_peers > MAX_PEERS_CAP || o->explore_share > 100 ||
	    o->seen_capacity > (1u << 30) || o->max_nodes > (1u << 26) ||
	    o->max_pending > (1u << 22) || o->min_interval_s > MAX_INTERVAL_S ||
	    o->node_gap_ms > 3600000 || o->peer_wait_ms > 3600000)
		return BT_DHT_E_INVAL;
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The seen-set
 * ------------------------------------------------------------------------------------------- */

static void bloom_pos(const bt_dht_crawler *c, const bt_id *ih, uint64_t *h1, uint64_t *h2)
{
	*h1 = bt_siphash24(c->key[0], c->key[1], ih->b, BT_ID_LEN);
	*h2 = bt_siphash24(c->key[1], c->key[0], ih->b, BT_ID_LEN) | 1;
}

static bool bloom_has(const struct bloom *b, uint64_t h1, uint64_t h2)
{
	for (unsigned i = 0; i < BLOOM_K; i++) {
		uint64_t bit = (h1 + i * h2) % b->nbits;
		if (!(b->bits[bit / 64] >> (bit % 64) & 1))
			return false;
	}
	return true;
}

static void bloom_add(struct bloom *b, uint64_t h1, uint64_t h2)
{
	for (unsigned i = 0; i < BLOOM_K; i++) {
		uint64_t bit = (h1 + i * h2) % b->nbits;
		b->bits[bit / 64] |= (uint64_t)1 << (bit % 64);
	}
	b->count++;
}

/* True if @ih was seen; else remembers it. */
static bool seen_check_add(bt_dht_crawler *c, const bt_id *ih)
{
	uint64_t h1, h2;
	bloom_pos(c, ih, &h1, &h2);
	if (bloom_has(&c->seen[0], h1, h2) || bloom_has(&c->seen[1], h1, h2))
		return true;
	if (c->seen[0].count >= c->o.seen_capacity) {
		struct bloom old = c->seen[1];
		c->seen[1] = c->seen[0];
		c->seen[0] = old;
		memset(c->seen[0].bits, 0, c->seen[0].nbits / 8);
		c->seen[0].count = 0;
	}
	bloom_add(&c->seen[0], h1, h2);
	return false;
}

/* ---------------------------------------------------------------------------------------------
 * The crawl table and its heap
 * ------------------------------------------------------------------------------------------- */

static uint32_t addr_slot(const bt_dht_crawler *c, const bt_addr *a)
{
	return (uint32_t)bt_siphash24(c->key[0], c->key[1], (const uint8_t *)a, sizeof(*a)) &
	       (c->nslots - 1);
}

static struct cnode *node_find(bt_dht_crawler *c, const bt_addr *a)
{
	for (uint32_t s = addr_slot(c, a);; s = (s + 1) & (c->nslots - 1)) {
		uint32_t v = c->slots[s];
		if (!v)
			return NULL;
		if (bt_addr_eq(&c->nodes[v - 1].addr, a))
			return &c->nodes[v - 1];
	}
}

static void slot_insert(bt_dht_crawler *c, uint32_t idx)
{
	uint32_t s = addr_slot(c, &c->nodes[idx].addr);
	while (c->slots[s])
		s = (s + 1) & (c->nslots - 1);
	c->slots[s] = idx + 1;
}

static bool heap_less(const bt_dht_crawler *c, uint32_t a, uint32_t b)
{
	return c->nodes[c->heap[a]].due < c->nodes[c->heap[b]].due;
}

static void heap_swap(bt_dht_crawler *c, uint32_t a, uint32_t b)
{
	uint32_t t = c->heap[a];
	c->heap[a] = c->heap[b];
	c->heap[b] = t;
	c->nodes[c->heap[a]].heap = a + 1;
	c->nodes[c->heap[b]].heap = b + 1;
}

static void heap_up(bt_dht_crawler *c, uint32_t i)
{
	while (i > 0 && heap_less(c, i, (i - 1) / 2)) {
		heap_swap(c, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(bt_dht_crawler *c, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < c->nheap && heap_less(c, l, m))
			m = l;
		if (r < c->nheap && heap_less(c, r, m))
			m = r;
		if (m == i)
			return;
		heap_swap(c, i, m);
		i = m;
	}
}

static void heap_remove(bt_dht_crawler *c, struct cnode *n)
{
	if (!n->heap)
		return;
	uint32_t i = n->heap - 1;
	n->heap = 0;
	c->nheap--;
	if (i == c->nheap)
		return;
	c->heap[i] = c->heap[c->nheap];
	c->nodes[c->heap[i]].heap = i + 1;
	heap_up(c, i);
	heap_down(c, c->nodes[c->heap[i]].heap - 1);
}

/* Puts @n in the heap (or moves it) with work due at @due. */
static void schedule(bt_dht_crawler *c, struct cnode *n, uint64_t due)
{
	n->due = due;
	if (n->heap) {
		heap_up(c, n->heap - 1);
		heap_down(c, n->heap - 1);
		return;
	}
	uint32_t idx = (uint32_t)(n - c->nodes);
	c->heap[c->nheap] = idx;
	n->heap = ++c->nheap;
	heap_up(c, c->nheap - 1);
}

/* Rebuilds the index and the heap after nodes moved. */
static void reindex(bt_dht_crawler *c)
{
	memset(c->slots, 0, (size_t)c->nslots * sizeof(*c->slots));
	c->nheap = 0;
	for (uint32_t i = 0; i < c->nnodes; i++) {
		slot_insert(c, i);
		if (c->nodes[i].heap) {
			c->heap[c->nheap] = i;
			c->nodes[i].heap = ++c->nheap;
		}
	}
	for (uint32_t i = c->nheap / 2; i-- > 0;)
		heap_down(c, i);
}

/* Drops nodes of no use: dead and spoofing ones, then, if that is not a quarter of the table,
 * those that never replied.  Nodes with a query in flight stay (their answer finds them by
 * address).  Returns whether room was made. */
static bool compact(bt_dht_crawler *c)
{
	for (int pass = 0; pass < 2; pass++) {
		uint32_t keep = 0;
		for (uint32_t i = 0; i < c->nnodes; i++) {
			struct cnode *n = &c->nodes[i];
			bool drop =
			    !(n->flags & F_INFLIGHT) && ((n->flags & (F_DEAD | F_SPOOF)) ||
			                                 (pass == 1 && !(n->flags & F_REPLIED)));
			if (drop) {
				c->st.nodes_evicted++;
				continue;
			}
			c->nodes[keep++] = *n;
		}
		c->nnodes = keep;
		if (c->nnodes < c->max_nodes - c->max_nodes / 4)
			break;
	}
	reindex(c);
	return c->nnodes < c->max_nodes;
}

/* Contacts that cannot be a public DHT node, or that we do not run. */
static bool contact_ok(const bt_dht_crawler *c, const bt_addr *a, const bt_id *id)
{
	if (!a->port || !bt_dht__runs(c->d, a) || (id && bt_id_eq(id, bt_dht__id(c->d))))
		return false;
	if (a->family == 4) {
		const uint8_t *p = a->ip;
		if (p[0] == 0 || p[0] >= 224) /* this network, multicast, reserved, broadcast */
			return false;
	} else {
		static const uint8_t zero[16];
		if (!memcmp(a->ip, zero, 16) || a->ip[0] == 0xff) /* unspecified, multicast */
			return false;
	}
	return c->o.allow_local || !bt_addr_is_local(a);
}

/* The node at @a, added if new (work due now).  NULL if refused or the table is full. */
static struct cnode *node_add(bt_dht_crawler *c, const bt_addr *a, const bt_id *id, bool confirmed,
                              uint64_t now)
{
	struct cnode *n = node_find(c, a);
	if (n)
		return n;
	if (!contact_ok(c, a, id)) {
		c->st.nodes_rejected++;
		return NULL;
	}
	if (c->nnodes == c->max_nodes && !compact(c)) {
		c->st.nodes_evicted++;
		return NULL;
	}
	if (c->nnodes == c->cap) {
		uint32_t ncap = c->cap * 2 > c->max_nodes ? c->max_nodes : c->cap * 2;
		struct cnode *nn = realloc(c->nodes, (size_t)ncap * sizeof(*nn));
		if (!nn)
			return NULL;
		c->nodes = nn;
		c->cap = ncap;
	}
	uint32_t idx = c->nnodes++;
	n = &c->nodes[idx];
	memset(n, 0, sizeof(*n));
	n->addr = *a;
	if (id) {
		n->id = *id;
		n->flags = F_ID | (confirmed ? F_CONFIRMED : 0);
	}
	slot_insert(c, idx);
	schedule(c, n, now);
	return n;
}

static void add_contacts(bt_dht_crawler *c, const uint8_t *p, size_t len, size_t entry,
                         uint64_t now)
{
	for (size_t off = 0; p && off + entry <= len; off += entry) {
		bt_id id;
		bt_addr a;
		memcpy(id.b, p + off, BT_ID_LEN);
		if (bt_addr_from_compact(&a, p + off + BT_ID_LEN, entry - BT_ID_LEN) < 0)
			continue;
		node_add(c, &a, &id, false, now);
	}
}

/* ---------------------------------------------------------------------------------------------
 * Reporting and the pending ring
 * ------------------------------------------------------------------------------------------- */

static void report(bt_dht_crawler *c, const bt_id *ih, bt_dht_source src, const bt_addr *from,
                   const bt_addr *peers, unsigned npeers, uint64_t found)
{
	struct sockaddr_storage ps[MAX_PEERS_CAP], fs;
	size_t np = 0;
	for (unsigned i = 0; i < npeers && np < MAX_PEERS_CAP; i++)
		if (bt_addr_to_sockaddr(&peers[i], &ps[np]))
			np++;
	bt_dht_discovery dv = {ih->b, src, ps, np, NULL, 0, found};
	if (from && from->family) {
		dv.fromlen = bt_addr_to_sockaddr(from, &fs);
		dv.from = (struct sockaddr *)&fs;
	}
	c->st.reported++;
	if (np)
		c->st.reported_peers++;
	c->o.on_discovery(&dv, c->o.cb_ud);
}

static struct pend *pend_get(bt_dht_crawler *c, uint64_t seq)
{
	struct pend *p = &c->pend[seq % c->npend_slots];
	return p->seq == seq && p->state != P_FREE ? p : NULL;
}

static uint32_t pidx_home(const bt_dht_crawler *c, const bt_id *ih)
{
	return (uint32_t)bt_siphash24(c->key[1], c->key[0], ih->b, BT_ID_LEN) & (c->npidx - 1);
}

/* The item waiting for peers of @ih, or NULL. */
static struct pend *pend_find(bt_dht_crawler *c, const bt_id *ih)
{
	for (uint32_t i = pidx_home(c, ih);; i = (i + 1) & (c->npidx - 1)) {
		if (!c->pidx[i])
			return NULL;
		struct pend *p = pend_get(c, c->pidx[i]);
		if (p && bt_id_eq(&p->ih, ih))
			return p;
	}
}

static void pidx_add(bt_dht_crawler *c, const struct pend *p)
{
	uint32_t i = pidx_home(c, &p->ih);
	while (c->pidx[i])
		i = (i + 1) & (c->npidx - 1);
	c->pidx[i] = p->seq;
}

/* Removes @p's entry, shifting back the entries after it that probed past it. */
static void pidx_del(bt_dht_crawler *c, const struct pend *p)
{
	uint32_t m = c->npidx - 1, i = pidx_home(c, &p->ih);
	while (c->pidx[i] != p->seq)
		i = (i + 1) & m;
	for (uint32_t j = (i + 1) & m; c->pidx[j]; j = (j + 1) & m) {
		uint32_t home = pidx_home(c, &c->pend[c->pidx[j] % c->npend_slots].ih);
		/* The entry at j may move to the hole at i unless its home lies in (i, j]. */
		if (((j - home) & m) >= ((j - i) & m)) {
			c->pidx[i] = c->pidx[j];
			i = j;
		}
	}
	c->pidx[i] = 0;
}

/* Ends @p: reported with the peers it has. */
static void pend_finish(bt_dht_crawler *c, struct pend *p)
{
	pidx_del(c, p);
	if (p->state == P_LOOKING && c->d)
		bt_dht_search_cancel(c->d, p->search_id);
	if (p->passive_lookup) {
		p->passive_lookup = false;
		c->passive_lookups--;
	}
	p->state = P_FREE;
	c->st.pending--;
	/* Nodes ask get_peers for random targets to fill their tables: an infohash heard that way
	 * is a torrent only if someone has it. */
	if (p->src == BT_DHT_SRC_GET_PEERS && !p->npeers && !p->confirmed)
		c->st.unconfirmed++;
	else
		report(c, &p->ih, (bt_dht_source)p->src, &p->from, p->peers, p->npeers, p->found);
	while (c->head < c->next && !pend_get(c, c->head))
		c->head++;
}

static void pend_add_peer(bt_dht_crawler *c, struct pend *p, const bt_addr *a)
{
	if (!a->port || p->npeers >= c->o.max_peers)
		return;
	for (unsigned i = 0; i < p->npeers; i++)
		if (bt_addr_eq(&p->peers[i], a))
			return;
	p->peers[p->npeers++] = *a;
}

/* Drops the queue's entries whose item ended while queued (pushed out by a full ring, or
 * flushed).  Every waiting item has one entry, so what is left has room for one more. */
static void work_compact(bt_dht_crawler *c)
{
	uint64_t w = c->whead;
	for (uint64_t r = c->whead; r < c->wtail; r++) {
		uint64_t seq = c->work[r % c->npend_slots];
		const struct pend *p = pend_get(c, seq);
		if (p && (p->state == P_ASK || p->state == P_LOOKUP))
			c->work[w++ % c->npend_slots] = seq;
	}
	c->wtail = w;
}

/* Queues @seq for a query; @fresh: new work, which may be sendable at once. */
static void work_push(bt_dht_crawler *c, uint64_t seq, bool fresh)
{
	if (c->wtail - c->whead == c->npend_slots)
		work_compact(c);
	c->work[c->wtail++ % c->npend_slots] = seq;
	if (fresh)
		c->work_idle_until = 0;
}

static void pend_new(bt_dht_crawler *c, const bt_id *ih, bt_dht_source src, const bt_addr *from,
                     bool ask_from, uint64_t now)
{
	if (c->next - c->head == c->npend_slots) {
		c->st.overflow++;
		pend_finish(c, pend_get(c, c->head));
	}
	uint64_t seq = c->next++;
	struct pend *p = &c->pend[seq % c->npend_slots];
	p->c = c;
	p->seq = seq;
	p->ih = *ih;
	memset(&p->from, 0, sizeof(p->from));
	if (from)
		p->from = *from;
	p->found = now;
	p->started = 0;
	p->search_id = 0;
	p->passive_lookup = false;
	p->confirmed = false;
	p->state = ask_from ? P_ASK : P_LOOKUP;
	p->src = (uint8_t)src;
	p->npeers = 0;
	c->st.pending++;
	pidx_add(c, p);
	work_push(c, seq, true);
}

/* @ih, already waiting as @p, is heard of again.  An announce brings its peer: reported now.  A
 * sample confirms an infohash only asked for, and names a node that has its peers: an item
 * still queued for a lookup asks that node instead. */
static void pend_again(bt_dht_crawler *c, struct pend *p, bt_dht_source src, const bt_addr *from,
                       const bt_addr *peer)
{
	if (peer) {
		pend_add_peer(c, p, peer);
		pend_finish(c, p);
		return;
	}
	if (src != BT_DHT_SRC_SAMPLE || p->src != BT_DHT_SRC_GET_PEERS || p->confirmed)
		return;
	p->confirmed = true;
	if (p->state == P_LOOKUP && from) {
		p->state = P_ASK;
		p->from = *from;
		c->work_idle_until = 0;
	}
}

/* An infohash from @from: new ones are looked up or reported. */
static void discover(bt_dht_crawler *c, const bt_id *ih, bt_dht_source src, const bt_addr *from,
                     const bt_addr *peer, uint64_t now)
{
	if (seen_check_add(c, ih)) {
		c->st.repeats++;
		struct pend *p = pend_find(c, ih);
		if (p)
			pend_again(c, p, src, from, peer);
		return;
	}
	if (c->o.is_known && c->o.is_known(ih->b, c->o.cb_ud)) {
		c->st.known++;
		return;
	}
	c->st.seen++;
	if (peer || (c->o.no_get_peers && src != BT_DHT_SRC_GET_PEERS)) {
		report(c, ih, src, from, peer, peer ? 1 : 0, now);
		return;
	}
	if (c->o.no_get_peers) { /* only asked for, and no lookup to confirm it */
		c->st.unconfirmed++;
		return;
	}
	pend_new(c, ih, src, from, src == BT_DHT_SRC_SAMPLE, now);
}

/* ---------------------------------------------------------------------------------------------
 * Answers
 * ------------------------------------------------------------------------------------------- */

/* The node asked at @to, with its in-flight mark cleared; NULL if it left the table. */
static struct cnode *answered(bt_dht_crawler *c, const bt_addr *to)
{
	struct cnode *n = node_find(c, to);
	if (n)
		n->flags &= (uint8_t)~F_INFLIGHT;
	return n;
}

static void failed(bt_dht_crawler *c, struct cnode *n, uint64_t now)
{
	c->st.timeouts++;
	if (++n->fails >= DEAD_FAILS) {
		n->flags |= F_DEAD;
		heap_remove(c, n);
		return;
	}
	schedule(c, n, now + ((uint64_t)RETRY_MS << (n->fails - 1)));
}

/* Whether the reply's id can be trusted.  A node learned from a list and answering with another
 * id, or a node changing ids, is asked again soon to confirm; twice a new id is spoofing. */
static bool id_trusted(bt_dht_crawler *c, struct cnode *n, const bt_id *id, uint64_t now)
{
	n->fails = 0;
	n->flags |= F_REPLIED;
	if (!(n->flags & F_ID)) {
		n->id = *id;
		n->flags |= F_ID | F_CONFIRMED;
		return true;
	}
	if (bt_id_eq(&n->id, id)) {
		n->flags |= F_CONFIRMED;
		return true;
	}
	n->id = *id;
	n->flags &= (uint8_t)~F_CONFIRMED;
	if (++n->id_changes >= 2) {
		n->flags |= F_SPOOF;
		heap_remove(c, n);
		return false;
	}
	schedule(c, n, now + c->o.node_gap_ms);
	return false;
}

static void on_sample(bt_dht *d, const bt_addr *to, const bt_dht__krpc_msg *r, void *ud,
                      uint64_t now)
{
	(void)ud;
	bt_dht_crawler *c = bt_dht__crawler(d);
	struct cnode *n = c ? answered(c, to) : NULL;
	if (!n)
		return;
	if (!r) {
		failed(c, n, now);
		return;
	}
	if (r->kind == BT_DHT__KRPC_ERROR) {
		if (r->err_code != 204) { /* not "method unknown": a server error */
			failed(c, n, now);
			return;
		}
		n->flags |= F_NO51;
		n->fails = 0;
		schedule(c, n, now + c->o.node_gap_ms);
		return;
	}
	if (!id_trusted(c, n, &r->id, now))
		return;
	/* Adding contacts may move or drop nodes: find this one again after. */
	add_contacts(c, to->family == 6 ? r->nodes6 : r->nodes,
	             to->family == 6 ? r->nodes6_len : r->nodes_len, to->family == 6 ? 38 : 26,
	             now);
	if (!(n = node_find(c, to)))
		return;
	if (!r->samples) {
		n->flags |= F_NO51;
		schedule(c, n, now + c->o.node_gap_ms);
		return;
	}
	n->flags |= F_BEP51;
	size_t count = r->samples_len / BT_ID_LEN;
	for (size_t i = 0; i < count; i++) {
		bt_id ih;
		memcpy(ih.b, r->samples + i * BT_ID_LEN, BT_ID_LEN);
		c->st.sampled++;
		discover(c, &ih, BT_DHT_SRC_SAMPLE, to, NULL, now);
	}
	int64_t iv = r->has_interval ? r->interval : 0;
	if (iv < c->o.min_interval_s)
		iv = c->o.min_interval_s;
	if (iv > MAX_INTERVAL_S)
		iv = MAX_INTERVAL_S;
	uint64_t wait = (uint64_t)iv * 1000;
	if (!r->has_num || r->num <= (int64_t)count)
		wait *= 2; /* it returned all it has: what it gains comes slowly */
	schedule(c, n, now + wait);
}

static void on_find(bt_dht *d, const bt_addr *to, const bt_dht__krpc_msg *r, void *ud, uint64_t now)
{
	(void)ud;
	bt_dht_crawler *c = bt_dht__crawler(d);
	struct cnode *n = c ? answered(c, to) : NULL;
	if (!n)
		return;
	if (!r || r->kind == BT_DHT__KRPC_ERROR) {
		failed(c, n, now);
		return;
	}
	if (!id_trusted(c, n, &r->id, now))
		return;
	add_contacts(c, to->family == 6 ? r->nodes6 : r->nodes,
	             to->family == 6 ? r->nodes6_len : r->nodes_len, to->family == 6 ? 38 : 26,
	             now);
	if ((n = node_find(c, to)) && !n->heap && (n->flags & F_NO51))
		schedule(c, n, now + WALK_AGAIN_MS);
}

static void on_peers(bt_dht *d, const bt_addr *to, const bt_dht__krpc_msg *r, void *ud,
                     uint64_t now)
{
	bt_dht_crawler *c = bt_dht__crawler(d);
	if (!c)
		return;
	struct cnode *n = answered(c, to);
	if (n && !r)
		failed(c, n, now);
	struct pend *p = pend_get(c, (uint64_t)(uintptr_t)ud);
	if (!p || p->state != P_ASKING)
		return;
	if (r && r->kind == BT_DHT__KRPC_RESPONSE && n && (n->flags & F_CONFIRMED) &&
	    bt_id_eq(&n->id, &r->id)) {
		for (unsigned i = 0; i < r->nvalues; i++) {
			bt_addr a;
			if (bt_addr_from_compact(&a, r->values[i], r->values_len[i]) == 0)
				pend_add_peer(c, p, &a);
		}
	}
	if (p->npeers) {
		pend_finish(c, p);
		return;
	}
	p->state = P_LOOKUP; /* the sampling node had none: look them up */
	work_push(c, p->seq, true);
}

static void on_search(const uint8_t infohash[20], const struct sockaddr *peer, socklen_t len,
                      int done, void *ud)
{
	struct pend *p = ud;
	(void)infohash;
	if (peer) {
		bt_addr a;
		if (bt_addr_from_sockaddr(&a, peer, len) == 0)
			pend_add_peer(p->c, p, &a);
		if (p->npeers < p->c->o.max_peers)
			return;
	} else if (!done) {
		return;
	} else {
		p->state = P_LOOKUP; /* the engine has freed the search: nothing to cancel */
	}
	pend_finish(p->c, p);
}

/* ---------------------------------------------------------------------------------------------
 * Sending
 * ------------------------------------------------------------------------------------------- */

static bool node_idle(const bt_dht_crawler *c, const struct cnode *n, uint64_t now)
{
	return !(n->flags & F_INFLIGHT) && (!n->last_q || now >= n->last_q + c->o.node_gap_ms);
}

static int send_to(bt_dht_crawler *c, struct cnode *n, bt_dht__krpc_method m, const bt_id *arg,
                   bt_dht__raw_cb cb, void *ud, uint64_t now)
{
	int rc = bt_dht__query(c->d, &n->addr, m, arg, cb, ud, now);
	if (rc < 0)
		return rc;
	n->last_q = now;
	n->flags |= F_INFLIGHT;
	if (m == BT_DHT__KRPC_M_SAMPLE_INFOHASHES)
		c->st.samples_sent++;
	else if (m == BT_DHT__KRPC_M_GET_PEERS)
		c->st.get_peers_sent++;
	else
		c->st.find_node_sent++;
	return 0;
}

/* A target near @id: its first bits (as many as the table suggests nodes share with their
 * closest neighbours, plus a few) and random ones after, so the answer lists its neighbours. */
static void target_near(bt_dht_crawler *c, const bt_id *id, bt_id *t)
{
	unsigned bits = 4;
	for (uint32_t n = c->nnodes; n > 1; n >>= 1)
		bits++;
	for (unsigned i = 0; i < BT_ID_LEN; i += 8) {
		uint64_t r = bt_dht__rand(c->d);
		memcpy(t->b + i, &r, BT_ID_LEN - i < 8 ? BT_ID_LEN - i : 8);
	}
	for (unsigned i = 0; i < bits && i < 160; i++) {
		uint8_t mask = (uint8_t)(0x80 >> (i % 8));
		t->b[i / 8] = (uint8_t)((t->b[i / 8] & ~mask) | (id->b[i / 8] & mask));
	}
}

static void target_random(bt_dht_crawler *c, bt_id *t)
{
	for (unsigned i = 0; i < BT_ID_LEN; i += 8) {
		uint64_t r = bt_dht__rand(c->d);
		memcpy(t->b + i, &r, BT_ID_LEN - i < 8 ? BT_ID_LEN - i : 8);
	}
}

/* One step of the pending work: the first queued item that can be sent now is.  Returns 1 if a
 * query went out, 0 if none could (the queue is then left alone until the earliest time one
 * can, or until new work comes), -1 if the budget refused. */
static int work_step(bt_dht_crawler *c, uint64_t now)
{
	if (now < c->work_idle_until)
		return 0;
	uint64_t n = c->wtail - c->whead, next = now + 1000;
	for (uint64_t k = 0; k < n; k++) {
		uint64_t seq = c->work[c->whead++ % c->npend_slots];
		struct pend *p = pend_get(c, seq);
		if (!p || (p->state != P_ASK && p->state != P_LOOKUP))
			continue;
		if (p->state == P_ASK) {
			struct cnode *nd = node_find(c, &p->from);
			if (!nd || (nd->flags & (F_DEAD | F_SPOOF))) {
				p->state = P_LOOKUP;
			} else if (!node_idle(c, nd, now)) {
				uint64_t at = (nd->flags & F_INFLIGHT)
				                  ? now + 10
				                  : nd->last_q + c->o.node_gap_ms;
				if (at < next)
					next = at;
				work_push(c, seq, false);
				continue;
			} else {
				int rc = send_to(c, nd, BT_DHT__KRPC_M_GET_PEERS, &p->ih, on_peers,
				                 (void *)(uintptr_t)seq, now);
				if (rc < 0) {
					work_push(c, seq, false);
					return -1;
				}
				p->state = P_ASKING;
				if (!p->started)
					p->started = now;
				return 1;
			}
		}
		bool passive = p->src == BT_DHT_SRC_GET_PEERS;
		if (now < c->lookups_blocked_until ||
		    (passive && c->passive_lookups >= PASSIVE_LOOKUPS)) {
			uint64_t at =
			    now < c->lookups_blocked_until ? c->lookups_blocked_until : now + 100;
			if (at < next)
				next = at;
			work_push(c, seq, false);
			continue;
		}
		int rc = bt_dht_search(c->d, p->ih.b, 0, 0, on_search, p, now, &p->search_id);
		if (rc < 0) {
			work_push(c, seq, false);
			c->lookups_blocked_until = now + 100;
			continue;
		}
		c->st.lookups++;
		p->state = P_LOOKING;
		if (passive) {
			p->passive_lookup = true;
			c->passive_lookups++;
		}
		if (!p->started)
			p->started = now;
		return 1;
	}
	c->work_idle_until = next;
	return 0;
}

/* One step of the node walk.  Returns 1 if a query went out, 0 if no node is due, -1 if the
 * budget refused. */
static int node_step(bt_dht_crawler *c, uint64_t now)
{
	for (unsigned k = 0; k < 64 && c->nheap; k++) {
		struct cnode *n = &c->nodes[c->heap[0]];
		if (n->due > now)
			return 0;
		if (n->flags & (F_DEAD | F_SPOOF)) {
			heap_remove(c, n);
			continue;
		}
		if (n->flags & F_INFLIGHT) {
			schedule(c, n, now + BUSY_RETRY_MS);
			continue;
		}
		if (!node_idle(c, n, now)) {
			schedule(c, n, n->last_q + c->o.node_gap_ms);
			continue;
		}
		bt_id t;
		int rc;
		if (n->flags & F_NO51) {
			target_near(c, &n->id, &t);
			rc = send_to(c, n, BT_DHT__KRPC_M_FIND_NODE, &t, on_find, NULL, now);
		} else {
			if ((n->flags & F_ID) && (bt_dht__rand(c->d) & 1))
				target_near(c, &n->id, &t);
			else
				target_random(c, &t);
			rc = send_to(c, n, BT_DHT__KRPC_M_SAMPLE_INFOHASHES, &t, on_sample, NULL,
			             now);
		}
		if (rc < 0)
			return -1;
		heap_remove(c, n); /* its answer schedules it again */
		return 1;
	}
	return 0;
}

/* A find_node with a random target to a random node that answered before: the walk that finds
 * nodes beyond those the others list.  Limited to explore_share of the query budget. */
static int explore_step(bt_dht_crawler *c, unsigned qps, uint64_t now)
{
	if (now < c->next_explore || !c->nnodes)
		return 0;
	for (int tries = 0; tries < 8; tries++) {
		struct cnode *n = &c->nodes[bt_dht__rand(c->d) % c->nnodes];
		if (!(n->flags & F_REPLIED) || (n->flags & (F_DEAD | F_SPOOF)) ||
		    !node_idle(c, n, now) || now - n->last_q < EXPLORE_REST_MS)
			continue;
		bt_id t;
		target_random(c, &t);
		if (send_to(c, n, BT_DHT__KRPC_M_FIND_NODE, &t, on_find, NULL, now) < 0)
			return -1;
		unsigned share = qps * c->o.explore_share / 100;
		c->next_explore = now + 1000 / (share ? share : 1);
		return 1;
	}
	c->next_explore = now + 100;
	return 0;
}

/* Infohashes whose peers were looked for peer_wait_ms are reported as they are.  The ring is
 * in the order they were found, which is nearly the order their queries go out: an item still
 * queued at the head holds the others back until its turn, which the budget brings. */
static void expire(bt_dht_crawler *c, uint64_t now)
{
	while (c->head < c->next) {
		struct pend *p = pend_get(c, c->head);
		if (!p) {
			c->head++;
			continue;
		}
		if (!p->started || now - p->started < c->o.peer_wait_ms)
			return;
		pend_finish(c, p);
	}
}

unsigned bt_dht__crawler_tick(bt_dht_crawler *c, uint64_t now)
{
	if (!c->d)
		return 1000;
	expire(c, now);
	unsigned qps = bt_dht__max_qps(c->d);
	for (unsigned steps = 0; steps < STEPS_PER_TICK; steps++) {
		if (!bt_dht__can_query(c->d, now))
			return bt_dht__query_wait(c->d, now);
		/* Peers of what we found come first: sampling only finds more to look up. */
		int a = work_step(c, now);
		if (a < 0)
			return bt_dht__query_wait(c->d, now);
		if (a > 0)
			continue;
		int b = node_step(c, now);
		if (b < 0)
			return bt_dht__query_wait(c->d, now);
		if (b > 0)
			continue;
		if (explore_step(c, qps, now) != 1)
			break;
	}
	/* Idle: wake for the next due node, pending work or expiry. */
	uint64_t wake = now + 1000;
	if (c->nheap && c->nodes[c->heap[0]].due < wake)
		wake = c->nodes[c->heap[0]].due;
	if (c->wtail != c->whead && c->work_idle_until < wake)
		wake = c->work_idle_until > now ? c->work_idle_until : now + 1;
	return wake > now ? (unsigned)(wake - now) : 1;
}

/* ---------------------------------------------------------------------------------------------
 * What the engine tells us
 * ------------------------------------------------------------------------------------------- */

void bt_dht__crawler_heard(bt_dht_crawler *c, const bt_id *id, const bt_addr *a, uint64_t now)
{
	node_add(c, a, id, true, now);
}

void bt_dht__crawler_sent(bt_dht_crawler *c, const bt_addr *a, uint64_t now)
{
	struct cnode *n = node_find(c, a);
	if (n)
		n->last_q = now;
}

bool bt_dht__crawler_may_ask(bt_dht_crawler *c, const bt_addr *a, uint64_t now)
{
	const struct cnode *n = node_find(c, a);
	return !n || node_idle(c, n, now);
}

void bt_dht__crawler_infohash(bt_dht_crawler *c, const bt_id *ih, bt_dht_source src,
                              const bt_addr *from, const bt_addr *peer)
{
	if (src != BT_DHT_SRC_GET_PEERS && src != BT_DHT_SRC_ANNOUNCE)
		return;
	discover(c, ih, src, from, src == BT_DHT_SRC_ANNOUNCE ? peer : NULL,
	         bt_dht__last_now(c->d));
}

void bt_dht__crawler_detach(bt_dht_crawler *c)
{
	c->d = NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------------------------- */

static int bloom_init(struct bloom *b, unsigned capacity)
{
	b->nbits = ((uint64_t)capacity * BLOOM_BITS_PER_ITEM + 63) / 64 * 64;
	b->bits = calloc(b->nbits / 64, sizeof(uint64_t));
	b->count = 0;
	return b->bits ? 0 : -1;
}

BT_DHT_EXTERN int bt_dht_crawler_new(bt_dht_crawler **out, bt_dht *d,
                                     const bt_dht_crawl_options *opts, uint64_t now)
{
	if (!out || !d || !opts)
		return BT_DHT_E_INVAL;
	*out = NULL;
	int rc = check(opts);
	if (rc < 0)
		return rc;
	bt_dht_crawler *c = calloc(1, sizeof(*c));
	if (!c)
		return BT_DHT_E_NOMEM;
	c->d = d;
	c->o = *opts;
	defaults(&c->o);
	c->key[0] = bt_dht__rand(d);
	c->key[1] = bt_dht__rand(d);
	c->max_nodes = c->o.max_nodes;
	c->cap = c->max_nodes < 1024 ? c->max_nodes : 1024;
	c->nslots = 2;
	while (c->nslots < 2 * (uint64_t)c->max_nodes)
		c->nslots *= 2;
	c->npend_slots = c->o.max_pending;
	c->max_peers_cap = c->o.max_peers;
	c->nodes = malloc((size_t)c->cap * sizeof(*c->nodes));
	c->slots = calloc(c->nslots, sizeof(*c->slots));
	c->heap = malloc((size_t)c->max_nodes * sizeof(*c->heap));
	c->pend = calloc(c->npend_slots, sizeof(*c->pend));
	c->peerbuf = calloc((size_t)c->npend_slots * c->max_peers_cap, sizeof(*c->peerbuf));
	c->work = calloc(c->npend_slots, sizeof(*c->work));
	c->npidx = 2;
	while (c->npidx < 2 * (uint64_t)c->npend_slots)
		c->npidx *= 2;
	c->pidx = calloc(c->npidx, sizeof(*c->pidx));
	if (!c->nodes || !c->slots || !c->heap || !c->pend || !c->peerbuf || !c->work || !c->pidx ||
	    bloom_init(&c->seen[0], c->o.seen_capacity) < 0 ||
	    bloom_init(&c->seen[1], c->o.seen_capacity) < 0) {
		c->d = NULL;
		bt_dht_crawler_free(c);
		return BT_DHT_E_NOMEM;
	}
	for (uint32_t i = 0; i < c->npend_slots; i++)
		c->pend[i].peers = c->peerbuf + (size_t)i * c->max_peers_cap;
	/* Answers to a freed crawler's queries may still come: they must not match ours. */
	c->head = c->next = 1 + (bt_dht__rand(d) >> 16);
	rc = bt_dht__attach(d, c);
	if (rc < 0) {
		c->d = NULL;
		bt_dht_crawler_free(c);
		return rc;
	}
	(void)now;
	*out = c;
	return 0;
}

BT_DHT_EXTERN void bt_dht_crawler_free(bt_dht_crawler *c)
{
	if (!c)
		return;
	if (c->d) {
		for (uint64_t s = c->head; s < c->next; s++) {
			struct pend *p = pend_get(c, s);
			if (p && p->state == P_LOOKING)
				bt_dht_search_cancel(c->d, p->search_id);
		}
		bt_dht__attach(c->d, NULL);
	}
	free(c->nodes);
	free(c->slots);
	free(c->heap);
	free(c->pend);
	free(c->peerbuf);
	free(c->work);
	free(c->pidx);
	free(c->seen[0].bits);
	free(c->seen[1].bits);
	free(c);
}

BT_DHT_EXTERN unsigned int bt_dht_crawler_flush(bt_dht_crawler *c, uint64_t now)
{
	(void)now;
	if (!c)
		return 0;
	unsigned n = 0;
	while (c->head < c->next) {
		struct pend *p = pend_get(c, c->head);
		if (!p) {
			c->head++;
			continue;
		}
		pend_finish(c, p);
		n++;
	}
	return n;
}

BT_DHT_EXTERN int bt_dht_crawler_set_options(bt_dht_crawler *c, const bt_dht_crawl_options *o)
{
	if (!c || !o)
		return BT_DHT_E_INVAL;
	int rc = check(o);
	if (rc < 0)
		return rc;
	bt_dht_crawl_options n = *o;
	defaults(&n);
	if (n.max_peers > c->max_peers_cap)
		n.max_peers = c->max_peers_cap;
	n.seen_capacity = c->o.seen_capacity;
	n.max_nodes = c->o.max_nodes;
	n.max_pending = c->o.max_pending;
	c->o = n;
	return 0;
}

BT_DHT_EXTERN int bt_dht_crawler_get_stats(const bt_dht_crawler *c, bt_dht_crawl_stats *out)
{
	if (!c || !out)
		return BT_DHT_E_INVAL;
	*out = c->st;
	out->nodes = c->nnodes;
	out->nodes_replied = out->nodes_bep51 = out->nodes_dead = out->nodes_spoofing = 0;
	for (uint32_t i = 0; i < c->nnodes; i++) {
		uint8_t f = c->nodes[i].flags;
		out->nodes_replied += !!(f & F_REPLIED);
		out->nodes_bep51 += !!(f & F_BEP51);
		out->nodes_dead += !!(f & F_DEAD);
		out->nodes_spoofing += !!(f & F_SPOOF);
	}
	out->memory =
	    sizeof(*c) + (uint64_t)c->cap * sizeof(*c->nodes) +
	    (uint64_t)c->nslots * sizeof(*c->slots) + (uint64_t)c->max_nodes * sizeof(*c->heap) +
	    (uint64_t)c->npend_slots *
	        (sizeof(*c->pend) + sizeof(*c->work) + c->max_peers_cap * sizeof(bt_addr)) +
	    (uint64_t)c->npidx * sizeof(*c->pidx) + (c->seen[0].nbits + c->seen[1].nbits) / 8;
	return 0;
}
