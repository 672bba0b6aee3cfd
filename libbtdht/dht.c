/*
 * dht.c - the DHT node engine of btdht.h: KRPC server and client, transactions, tokens, limits,
 * iterative searches, bootstrap, BEP 42 id voting, save/load.  It owns no socket and reads no
 * clock: datagrams and time come in through bt_dht_input()/bt_dht_tick(), datagrams go out
 * through the send callback.
 *
 * Bounds, whatever remote nodes do: pending queries (MAX_PENDING), searches (max_searches) and
 * their candidates (SEARCH_CANDS per family), the per-IP limiter (LIMITER_SLOTS), the routing
 * tables (rtable.c) and the announce store (peerstore.c).  Every send goes through the byte
 * budget; every query through the query budget.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "bencode.h"
#include "bep42.h"
#include "btdht.h"
#include "crawler.h"
#include "krpc.h"
#include "log.h"
#include "peerstore.h"
#include "rtable.h"

#define MAX_PENDING 4096 /* queries awaiting an answer */
#define TXN_PACKET 512   /* longest query we keep for a retry */
#define SEARCH_CANDS 64  /* candidates per search and family, closest kept */
#define SEARCH_ALPHA 3
#define SEARCH_SEEN 512    /* peers reported per search, for de-duplication */
#define MAX_CONTACTS 64    /* bootstrap contacts kept */
#define LIMITER_SLOTS 1024 /* per-IP incoming query counters */
#define TOKEN_LEN 8
#define SECRET_ROTATE_MS (5 * 60 * 1000)
#define BOOTSTRAP_RETRY_MS (30 * 1000)
#define PING_GAP_MS (5 * 60 * 1000)
#define REFRESH_STALE_MS (15 * 60 * 1000)
#define VOTE_SLOTS 16
#define VOTES_NEEDED 8
#define MAX_INTERNAL_SEARCHES 4
#define SMALL_TABLE (4 * BT_DHT__K) /* fewer nodes than this: keep looking ourselves up */
#define SELF_LOOKUP_MS (10 * 1000)

enum txn_owner {
	OWN_NONE = 0,
	OWN_PING,
	OWN_BOOTSTRAP,
	OWN_SEARCH,
	OWN_SAMPLE,
	OWN_ANNOUNCE,
	OWN_RAW /* bt_dht__query(): the crawler */
};

struct txn {
	uint16_t nonce; /* second half of the transaction id */
	uint8_t owner;  /* enum txn_owner; OWN_NONE: slot free */
	uint8_t tries;
	uint8_t method; /* bt_dht__krpc_method */
	uint8_t fam;    /* 0: IPv4, 1: IPv6 */
	bool has_id;    /* we know the id of the node we asked */
	bt_id id;
	bt_addr addr;
	uint64_t sent;              /* ms of the last try */
	uint64_t owner_id;          /* search id for OWN_SEARCH / OWN_ANNOUNCE */
	bt_dht_sample_cb sample_cb; /* OWN_SAMPLE */
	bt_dht_ping_cb ping_cb;     /* OWN_PING */
	bt_dht__raw_cb raw_cb;      /* OWN_RAW */
	void *cb_ud;
	uint16_t len;
	uint8_t pkt[TXN_PACKET];
};

enum cand_state { C_NEW = 0, C_INFLIGHT, C_REPLIED, C_FAILED };

struct cand {
	bt_id id;
	bt_addr addr;
	uint8_t state;
	uint8_t token_len;
	uint8_t token[BT_DHT__KRPC_MAX_TOKEN];
};

struct search {
	struct search *next;
	uint64_t id;
	bt_id target;
	bt_dht__krpc_method method; /* GET_PEERS or FIND_NODE (internal) */
	int flags;
	uint16_t port;
	bool internal;
	bool announced;
	bool starting; /* inside search_start: do not finish (no callback re-entry) */
	bt_dht_search_cb cb;
	void *ud;
	struct cand cands[2][SEARCH_CANDS];
	unsigned ncands[2];
	unsigned inflight[2];
	bool fam_done[2];
	uint64_t seen[SEARCH_SEEN]; /* hashes of peers reported */
	unsigned nseen;
	unsigned announces_pending;
};

struct limiter_slot {
	uint64_t tag;
	uint64_t window; /* second the count belongs to */
	uint32_t count;
};

struct vote {
	bt_addr addr;
	unsigned count;
};

#define VOTERS 64 /* recent voters remembered, so one node cannot vote twice */

struct bucket_rate {
	double tokens;
	double max;
	uint64_t last;
};

/* The query budget: never more than @limit queries in any window of one second, bursts
 * included.  Sends are counted in 10 ms slots; a query may go when the last WINDOW_SLOTS slots
 * (which cover every one-second window ending now) hold fewer than @limit. */
#define WINDOW_SLOTS 101
#define SLOT_MS 10
struct window_rate {
	uint32_t count[WINDOW_SLOTS];
	uint64_t slot; /* the newest slot */
	uint64_t sum;  /* of count[] */
	unsigned limit;
};

struct bt_dht {
	bt_dht_options opt;
	bt_id id;
	bool id_given;
	uint64_t rng[2];
	bt_dht__rtable *rt[2];
	bt_dht__ps *ps;
	uint64_t hash_key;

	uint8_t secret[2][16]; /* current, previous */
	uint64_t secret_at;
	EVP_MD *sha1; /* fetched once: OpenSSL 3 looks EVP_sha1() up on every use */

	struct txn *txns; /* txn_cap slots, grown on demand up to MAX_PENDING */
	unsigned txn_cap;
	unsigned npending;
	unsigned txn_hint;

	struct search *searches;
	unsigned nsearches, ninternal;
	uint64_t next_search_id;

	bt_addr contacts[MAX_CONTACTS];
	unsigned ncontacts;
	uint64_t last_bootstrap[2];
	uint64_t last_self_lookup;

	struct limiter_slot *limiter;
	struct window_rate out_q;
	struct bucket_rate out_b;

	struct vote votes[VOTE_SLOTS];
	uint64_t voters[VOTERS]; /* keyed hashes of the IPs that voted lately */
	unsigned nvoters;

	bt_dht_stats st;
	bt_dht_crawler *crawler; /* attached by bt_dht_crawler_new(), or NULL */
	uint64_t now;            /* of the latest bt_dht_input() or bt_dht_tick() */
};

/* ---------------------------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------------------------- */

static uint64_t rnd64(bt_dht *d)
{
	/* xorshift128+: fast, and seedable for repeatable tests.  Secrets come from it too, seeded
	 * from getrandom() unless the caller asked for a fixed seed. */
	uint64_t s1 = d->rng[0];
	const uint64_t s0 = d->rng[1];
	d->rng[0] = s0;
	s1 ^= s1 << 23;
	d->rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
	return d->rng[1] + s0;
}

static void rnd_bytes(bt_dht *d, uint8_t *p, size_t n)
{
	while (n) {
		uint64_t r = rnd64(d);
		size_t k = n < 8 ? n : 8;
		memcpy(p, &r, k);
		p += k;
		n -= k;
	}
}

#define logf_(d, level, ...) bt_log((d)->opt.log, (d)->opt.cb_ud, (level), __VA_ARGS__)

static int fam_index(const bt_addr *a)
{
	return a->family == 6 ? 1 : 0;
}

static bool fam_enabled(const bt_dht *d, int fam)
{
	return d->rt[fam] != NULL;
}

static void rate_init(struct bucket_rate *b, unsigned per_sec, uint64_t now)
{
	b->max = per_sec;
	b->tokens = per_sec;
	b->last = now;
}

static void rate_refill(struct bucket_rate *b, uint64_t now)
{
	if (now > b->last)
		b->tokens += (double)(now - b->last) * b->max / 1000.0;
	if (b->tokens > b->max)
		b->tokens = b->max;
	b->last = now;
}

static void window_advance(struct window_rate *w, uint64_t now)
{
	uint64_t cur = now / SLOT_MS;
	if (cur <= w->slot)
		return;
	uint64_t steps = cur - w->slot;
	if (steps >= WINDOW_SLOTS) {
		memset(w->count, 0, sizeof(w->count));
		w->sum = 0;
	} else {
		for (uint64_t s = w->slot + 1; s <= cur; s++) {
			w->sum -= w->count[s % WINDOW_SLOTS];
			w->count[s % WINDOW_SLOTS] = 0;
		}
	}
	w->slot = cur;
}

static bool window_can(struct window_rate *w, uint64_t now)
{
	window_advance(w, now);
	return w->sum < w->limit;
}

static bool window_take(struct window_rate *w, uint64_t now)
{
	if (!window_can(w, now))
		return false;
	w->count[w->slot % WINDOW_SLOTS]++;
	w->sum++;
	return true;
}

/* Milliseconds until the window has room again (at most 1010). */
static unsigned window_wait(const struct window_rate *w, uint64_t now)
{
	if (w->sum < w->limit)
		return 0;
	/* The oldest slot still counted leaves the window first (early clocks have fewer). */
	uint64_t first = w->slot >= WINDOW_SLOTS - 1 ? w->slot + 1 - WINDOW_SLOTS : 0;
	for (uint64_t s = first; s <= w->slot; s++) {
		if (w->count[s % WINDOW_SLOTS]) {
			uint64_t free_at = (s + WINDOW_SLOTS) * SLOT_MS;
			return free_at > now ? (unsigned)(free_at - now) : 1;
		}
	}
	return 1;
}

static bool rate_take(struct bucket_rate *b, double n, uint64_t now)
{
	rate_refill(b, now);
	if (b->tokens < n)
		return false;
	b->tokens -= n;
	return true;
}

/* ---------------------------------------------------------------------------------------------
 * Sending
 * ------------------------------------------------------------------------------------------- */

/* Sends @len bytes to @to within the byte budget.  Returns 0 or a negative code. */
static int send_raw(bt_dht *d, const uint8_t *p, size_t len, const bt_addr *to, uint64_t now)
{
	if (!rate_take(&d->out_b, (double)len, now)) {
		d->st.throttled++;
		return BT_DHT_E_LIMIT;
	}
	struct sockaddr_storage ss;
	socklen_t sl = bt_addr_to_sockaddr(to, &ss);
	int rc = d->opt.send(p, len, (struct sockaddr *)&ss, sl, d->opt.send_ud);
	if (rc < 0) {
		d->st.send_errors++;
		return rc;
	}
	d->st.out_messages++;
	d->st.out_bytes += len;
	return 0;
}

static void msg_init(bt_dht *d, bt_dht__krpc_msg *m, bt_dht__krpc_kind kind)
{
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->v = d->opt.client_version;
	m->vlen = 4;
}

/* ---------------------------------------------------------------------------------------------
 * Tokens (BEP 5): SHA-1 of a secret and the requester's IP; the secret rotates every 5 minutes
 * and the previous one is still accepted, so a token lives 5 to 10 minutes.
 * ------------------------------------------------------------------------------------------- */

static void make_token(const bt_dht *d, const uint8_t secret[16], const bt_addr *a,
                       uint8_t out[TOKEN_LEN])
{
	uint8_t in[16 + 1 + 16];
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	memcpy(in, secret, 16);
	in[16] = a->family;
	memcpy(in + 17, a->ip, 16);
	EVP_Digest(in, sizeof(in), md, &mdlen, d->sha1, NULL);
	memcpy(out, md, TOKEN_LEN);
}

static void rotate_secret(bt_dht *d, uint64_t now)
{
	if (d->secret_at && now - d->secret_at < SECRET_ROTATE_MS)
		return;
	memcpy(d->secret[1], d->secret[0], 16);
	rnd_bytes(d, d->secret[0], 16);
	if (!d->secret_at)
		memcpy(d->secret[1], d->secret[0], 16);
	d->secret_at = now;
}

static bool token_ok(const bt_dht *d, const bt_addr *a, const uint8_t *tok, size_t len)
{
	uint8_t want[TOKEN_LEN];
	if (len != TOKEN_LEN)
		return false;
	for (int i = 0; i < 2; i++) {
		make_token(d, d->secret[i], a, want);
		if (memcmp(want, tok, TOKEN_LEN) == 0)
			return true;
	}
	return false;
}

/* ---------------------------------------------------------------------------------------------
 * Transactions.  The id is 4 bytes: the slot index and a random nonce, so finding the query a
 * response answers is O(1), and guessing a valid id is a 1 in 65536 shot per slot that must also
 * come from the address we asked.
 * ------------------------------------------------------------------------------------------- */

static struct txn *txn_alloc(bt_dht *d, uint16_t *slot_out)
{
	if (d->npending >= MAX_PENDING)
		return NULL;
	if (d->npending == d->txn_cap) {
		/* Grow on demand (an idle node holds a few slots, not MAX_PENDING); slots keep
		 * their index, which is part of the transaction ids in flight. */
		unsigned cap = d->txn_cap ? d->txn_cap * 2 : 16;
		if (cap > MAX_PENDING)
			cap = MAX_PENDING;
		struct txn *t = realloc(d->txns, cap * sizeof(*t));
		if (!t)
			return NULL;
		memset(t + d->txn_cap, 0, (cap - d->txn_cap) * sizeof(*t));
		d->txn_hint = d->txn_cap;
		d->txns = t;
		d->txn_cap = cap;
	}
	for (unsigned i = 0; i < d->txn_cap; i++) {
		unsigned s = (d->txn_hint + i) % d->txn_cap;
		if (d->txns[s].owner == OWN_NONE) {
			d->txn_hint = (s + 1) % d->txn_cap;
			*slot_out = (uint16_t)s;
			return &d->txns[s];
		}
	}
	return NULL;
}

static void txn_free(bt_dht *d, struct txn *t)
{
	t->owner = OWN_NONE;
	d->npending--;
}

static unsigned method_index(bt_dht__krpc_method m)
{
	switch (m) {
	case BT_DHT__KRPC_M_PING:
		return 0;
	case BT_DHT__KRPC_M_FIND_NODE:
		return 1;
	case BT_DHT__KRPC_M_GET_PEERS:
		return 2;
	case BT_DHT__KRPC_M_ANNOUNCE_PEER:
		return 3;
	case BT_DHT__KRPC_M_SAMPLE_INFOHASHES:
		return 4;
	default:
		return 5;
	}
}

/*
 * Sends query @q (t, v, ro, id are filled in here) to @to and records it.  @owner says who gets
 * the answer.  Returns the transaction or NULL (budget, table full, send error: counted).
 */
static struct txn *send_query(bt_dht *d, bt_dht__krpc_msg *q, const bt_addr *to, const bt_id *to_id,
                              enum txn_owner owner, uint64_t owner_id, uint64_t now)
{
	if (!fam_enabled(d, fam_index(to)))
		return NULL;
	if (!window_take(&d->out_q, now)) {
		d->st.throttled++;
		return NULL;
	}
	uint16_t slot;
	struct txn *t = txn_alloc(d, &slot);
	if (!t) {
		d->st.throttled++;
		return NULL;
	}
	uint8_t tid[4];
	uint16_t nonce = (uint16_t)rnd64(d);
	tid[0] = (uint8_t)(slot >> 8);
	tid[1] = (uint8_t)slot;
	tid[2] = (uint8_t)(nonce >> 8);
	tid[3] = (uint8_t)nonce;
	q->kind = BT_DHT__KRPC_QUERY;
	q->t = tid;
	q->tlen = 4;
	q->v = d->opt.client_version;
	q->vlen = 4;
	q->ro = d->opt.read_only != 0;
	q->has_id = true;
	q->id = d->id;

	bt_buf b;
	bt_buf_init_fixed(&b, t->pkt, sizeof(t->pkt));
	if (bt_dht__krpc_encode(&b, q) < 0) {
		logf_(d, BT_DHT_LOG_ERROR, "cannot encode a %s query",
		      bt_dht__krpc_method_name(q->method));
		return NULL;
	}
	if (send_raw(d, b.data, b.len, to, now) < 0)
		return NULL;
	t->nonce = nonce;
	t->owner = (uint8_t)owner;
	t->tries = 1;
	t->method = (uint8_t)q->method;
	t->fam = (uint8_t)fam_index(to);
	t->has_id = to_id != NULL;
	if (to_id)
		t->id = *to_id;
	t->addr = *to;
	t->sent = now;
	t->owner_id = owner_id;
	t->sample_cb = NULL;
	t->ping_cb = NULL;
	t->raw_cb = NULL;
	t->cb_ud = NULL;
	t->len = (uint16_t)b.len;
	d->npending++;
	if (d->crawler)
		bt_dht__crawler_sent(d->crawler, to, now);
	d->st.out_queries[method_index(q->method)]++;
	return t;
}

/* A query of @method with every other field clear; send_query() fills in t, id, v and ro. */
static void query_init(bt_dht__krpc_msg *q, bt_dht__krpc_method method)
{
	memset(q, 0, sizeof(*q));
	q->method = method;
}

/* find_node for our own id to a bootstrap contact, whose id we do not know. */
static struct txn *send_find_self(bt_dht *d, const bt_addr *to, uint64_t now)
{
	bt_dht__krpc_msg q;
	query_init(&q, BT_DHT__KRPC_M_FIND_NODE);
	q.has_target = true;
	q.target = d->id;
	q.want = fam_index(to) ? BT_DHT__WANT_N6 : BT_DHT__WANT_N4;
	return send_query(d, &q, to, NULL, OWN_BOOTSTRAP, 0, now);
}

/* ---------------------------------------------------------------------------------------------
 * Incoming query limiter: per IP, per second, in a fixed table indexed by a keyed hash.  Two
 * addresses that share a slot evict each other's count, which makes the limit laxer for that
 * pair; the key is secret, so a remote party cannot pick addresses that collide.  The table is
 * allocated when the first query arrives (a node that is only ever a client never needs it).
 * ------------------------------------------------------------------------------------------- */

static bool limiter_allow(bt_dht *d, const bt_addr *from, uint64_t now)
{
	if (!d->opt.max_in_qps_ip)
		return true;
	if (!d->limiter && !(d->limiter = calloc(LIMITER_SLOTS, sizeof(*d->limiter))))
		return true; /* out of memory: answering is better than going silent */
	uint64_t h = bt_addr_ip_hash(from, d->hash_key);
	struct limiter_slot *s = &d->limiter[h % LIMITER_SLOTS];
	uint64_t sec = now / 1000;
	if (s->tag != h || s->window != sec) {
		s->tag = h;
		s->window = sec;
		s->count = 0;
	}
	return ++s->count <= d->opt.max_in_qps_ip;
}

/* ---------------------------------------------------------------------------------------------
 * Routing-table glue
 * ------------------------------------------------------------------------------------------- */

static void heard(bt_dht *d, const bt_id *id, const bt_addr *a, bt_dht__rt_how how, uint64_t now)
{
	int fam = fam_index(a);
	if (!fam_enabled(d, fam) || bt_id_eq(id, &d->id))
		return;
	unsigned flags = 0;
	if (bt_dht__bep42_check(id, a))
		flags |= BT_DHT__RT_F_BEP42;
	else if (d->opt.bep42 == BT_DHT_BEP42_ENFORCE) {
		d->st.bep42_rejected++;
		return;
	}
	bt_dht__rt_result r = bt_dht__rt_heard(d->rt[fam], id, a, how, flags, now);
	if (d->crawler)
		bt_dht__crawler_heard(d->crawler, id, a, now);
	if (r == BT_DHT__RT_ADDED && d->opt.on_node) {
		struct sockaddr_storage ss;
		socklen_t sl = bt_addr_to_sockaddr(a, &ss);
		d->opt.on_node(id->b, (struct sockaddr *)&ss, sl, d->opt.cb_ud);
	}
}

/* Compact nodes closest to @target from family @fam's table into @out (26 or 38 bytes each). */
static size_t closest_compact(bt_dht *d, int fam, const bt_id *target, uint8_t *out, uint64_t now)
{
	bt_dht__rt_node n[BT_DHT__K];
	if (!fam_enabled(d, fam))
		return 0;
	size_t k = bt_dht__rt_closest(d->rt[fam], target, n, BT_DHT__K, now);
	size_t len = 0;
	for (size_t i = 0; i < k; i++) {
		memcpy(out + len, n[i].id.b, BT_ID_LEN);
		len += BT_ID_LEN;
		len += bt_addr_to_compact(&n[i].addr, out + len);
	}
	return len;
}

/* ---------------------------------------------------------------------------------------------
 * BEP 42: learning our external address by vote, and deriving our id from it.
 * ------------------------------------------------------------------------------------------- */

static void vote_ip(bt_dht *d, const bt_addr *ip, const bt_addr *voter)
{
	if (d->opt.bep42 == BT_DHT_BEP42_OFF || d->id_given || bt_addr_is_local(ip))
		return;
	uint64_t vh = bt_addr_ip_hash(voter, d->hash_key);
	for (unsigned i = 0; i < VOTERS; i++)
		if (d->voters[i] == vh)
			return;
	d->voters[d->nvoters++ % VOTERS] = vh;
	bt_addr a = *ip;
	a.port = 0;
	struct vote *slot = NULL, *least = &d->votes[0];
	for (int i = 0; i < VOTE_SLOTS; i++) {
		if (d->votes[i].count && bt_addr_ip_eq(&d->votes[i].addr, &a)) {
			slot = &d->votes[i];
			break;
		}
		if (d->votes[i].count < least->count)
			least = &d->votes[i];
	}
	if (!slot) {
		slot = least;
		slot->addr = a;
		slot->count = 0;
	}
	if (++slot->count < VOTES_NEEDED || bt_dht__bep42_check(&d->id, &a))
		return;
	uint8_t r[BT_ID_LEN];
	rnd_bytes(d, r, sizeof(r));
	bt_dht__bep42_make_id(&d->id, &a, r);
	for (int f = 0; f < 2; f++)
		if (d->rt[f])
			bt_dht__rt_set_self(d->rt[f], &d->id);
	memset(d->votes, 0, sizeof(d->votes));
	memset(d->voters, 0, sizeof(d->voters));
	char buf[BT_ADDR_STRLEN];
	logf_(d, BT_DHT_LOG_INFO, "external address %s: new BEP 42 node id",
	      bt_addr_format(&a, buf, sizeof(buf)));
}

/* ---------------------------------------------------------------------------------------------
 * Server side
 * ------------------------------------------------------------------------------------------- */

static void send_reply(bt_dht *d, bt_dht__krpc_msg *r, const bt_dht__krpc_msg *q, const bt_addr *to,
                       uint64_t now)
{
	uint8_t mem[BT_DHT__KRPC_MAX_PACKET];
	bt_buf b;
	r->t = q->t;
	r->tlen = q->tlen;
	r->has_ip = true; /* BEP 42: tell the requester how we see it */
	r->ip = *to;
	bt_buf_init_fixed(&b, mem, sizeof(mem));
	if (bt_dht__krpc_encode(&b, r) < 0) {
		logf_(d, BT_DHT_LOG_ERROR, "cannot encode a reply");
		return;
	}
	send_raw(d, b.data, b.len, to, now);
}

static void send_error(bt_dht *d, const bt_dht__krpc_msg *q, const bt_addr *to, int code,
                       const char *msg, uint64_t now)
{
	bt_dht__krpc_msg e;
	msg_init(d, &e, BT_DHT__KRPC_ERROR);
	e.err_code = code;
	e.err_msg = (const uint8_t *)msg;
	e.err_msg_len = strlen(msg);
	send_reply(d, &e, q, to, now);
	d->st.out_errors++;
}

static void report_infohash(bt_dht *d, const bt_id *ih, bt_dht_source src, const bt_addr *from,
                            const bt_addr *peer)
{
	if (d->crawler && src != BT_DHT_SRC_SEARCH)
		bt_dht__crawler_infohash(d->crawler, ih, src, from, peer);
	if (!d->opt.on_infohash)
		return;
	struct sockaddr_storage fs, ps;
	socklen_t fl = bt_addr_to_sockaddr(from, &fs);
	socklen_t pl = peer ? bt_addr_to_sockaddr(peer, &ps) : 0;
	d->opt.on_infohash(ih->b, src, (struct sockaddr *)&fs, fl,
	                   peer ? (struct sockaddr *)&ps : NULL, pl, d->opt.cb_ud);
}

/* The "nodes"/"nodes6" of a reply to @q from @from (BEP 32 "want" rules). */
static void add_nodes(bt_dht *d, bt_dht__krpc_msg *r, const bt_dht__krpc_msg *q,
                      const bt_addr *from, const bt_id *target, uint8_t *n4, uint8_t *n6,
                      uint64_t now)
{
	unsigned want = q->want;
	if (!want)
		want = from->family == 6 ? BT_DHT__WANT_N6 : BT_DHT__WANT_N4;
	if (want & BT_DHT__WANT_N4) {
		r->nodes = n4;
		r->nodes_len = closest_compact(d, 0, target, n4, now);
	}
	if (want & BT_DHT__WANT_N6) {
		r->nodes6 = n6;
		r->nodes6_len = closest_compact(d, 1, target, n6, now);
	}
}

static void handle_query(bt_dht *d, const bt_dht__krpc_msg *q, const bt_addr *from, uint64_t now)
{
	d->st.in_queries[method_index(q->method)]++;
	if (!q->ro)
		heard(d, &q->id, from, BT_DHT__RT_QUERIED, now);

	bt_dht__krpc_msg r;
	uint8_t n4[BT_DHT__K * 26], n6[BT_DHT__K * 38];
	uint8_t tok[TOKEN_LEN];
	bt_addr peers[BT_DHT__KRPC_MAX_VALUES];
	uint8_t compact[BT_DHT__KRPC_MAX_VALUES][BT_ADDR_COMPACT6];
	uint8_t samples[20 * 20];
	msg_init(d, &r, BT_DHT__KRPC_RESPONSE);
	r.has_id = true;
	r.id = d->id;

	bt_dht__krpc_method m = q->method;
	if (m == BT_DHT__KRPC_M_UNKNOWN) {
		/* libtorrent's forward compatibility: answer by the arguments we understand. */
		if (q->has_info_hash)
			m = BT_DHT__KRPC_M_GET_PEERS;
		else if (q->has_target)
			m = BT_DHT__KRPC_M_FIND_NODE;
		else {
			send_error(d, q, from, 204, "Method Unknown", now);
			return;
		}
	}

	switch (m) {
	case BT_DHT__KRPC_M_PING:
		break;
	case BT_DHT__KRPC_M_FIND_NODE:
		add_nodes(d, &r, q, from, &q->target, n4, n6, now);
		break;
	case BT_DHT__KRPC_M_GET_PEERS: {
		report_infohash(d, &q->info_hash, BT_DHT_SRC_GET_PEERS, from, NULL);
		make_token(d, d->secret[0], from, tok);
		r.token = tok;
		r.token_len = TOKEN_LEN;
		/* Values of the requester's family; about 1 KB of them at most, so the reply fits
		 * in a datagram with the nodes. */
		size_t max = from->family == 6 ? 40 : 100;
		size_t n =
		    bt_dht__ps_get(d->ps, &q->info_hash, from->family, peers, max, now, rnd64(d));
		for (size_t i = 0; i < n; i++) {
			r.values[i] = compact[i];
			r.values_len[i] = (uint8_t)bt_addr_to_compact(&peers[i], compact[i]);
		}
		r.nvalues = (unsigned)n;
		r.has_values = n > 0;
		add_nodes(d, &r, q, from, &q->info_hash, n4, n6, now);
		break;
	}
	case BT_DHT__KRPC_M_ANNOUNCE_PEER: {
		if (!token_ok(d, from, q->token, q->token_len)) {
			d->st.bad_tokens++;
			send_error(d, q, from, 203, "Bad Token", now);
			return;
		}
		bt_addr peer = *from;
		if (!q->implied_port)
			peer.port = q->port;
		if (bt_dht__ps_add(d->ps, &q->info_hash, &peer, now) < 0) {
			send_error(d, q, from, 202, "Server Error", now);
			return;
		}
		report_infohash(d, &q->info_hash, BT_DHT_SRC_ANNOUNCE, from, &peer);
		break;
	}
	case BT_DHT__KRPC_M_SAMPLE_INFOHASHES: {
		size_t num = 0;
		size_t n = bt_dht__ps_sample(d->ps, samples, 20, now, rnd64(d), &num);
		r.samples = samples;
		r.samples_len = n * 20;
		r.has_num = true;
		r.num = (int64_t)num;
		r.has_interval = true;
		r.interval = 21600;
		add_nodes(d, &r, q, from, &q->target, n4, n6, now);
		break;
	}
	default:
		send_error(d, q, from, 204, "Method Unknown", now);
		return;
	}
	send_reply(d, &r, q, from, now);
}

/* ---------------------------------------------------------------------------------------------
 * Searches
 * ------------------------------------------------------------------------------------------- */

static struct search *search_find(bt_dht *d, uint64_t id)
{
	for (struct search *s = d->searches; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

/* Adds a candidate in distance order; the farthest falls off when full.  Duplicates (by id or
 * by address) are ignored. */
static void search_add_cand(struct search *s, int fam, const bt_id *id, const bt_addr *a)
{
	struct cand *c = s->cands[fam];
	unsigned n = s->ncands[fam], pos = n;
	for (unsigned i = 0; i < n; i++) {
		if (bt_id_eq(&c[i].id, id) || bt_addr_eq(&c[i].addr, a))
			return;
		if (pos == n && bt_id_dist_cmp(&s->target, id, &c[i].id) < 0)
			pos = i;
	}
	if (pos == SEARCH_CANDS)
		return;
	if (n == SEARCH_CANDS) {
		if (c[n - 1].state == C_INFLIGHT)
			return; /* keep the slot of a query in flight */
		n--;
	}
	memmove(&c[pos + 1], &c[pos], (n - pos) * sizeof(*c));
	memset(&c[pos], 0, sizeof(*c));
	c[pos].id = *id;
	c[pos].addr = *a;
	c[pos].state = C_NEW;
	s->ncands[fam] = n + 1;
}

static struct cand *search_cand(struct search *s, int fam, const bt_id *id)
{
	for (unsigned i = 0; i < s->ncands[fam]; i++)
		if (bt_id_eq(&s->cands[fam][i].id, id))
			return &s->cands[fam][i];
	return NULL;
}

static void search_seed(bt_dht *d, struct search *s, uint64_t now)
{
	for (int fam = 0; fam < 2; fam++) {
		bt_dht__rt_node n[BT_DHT__K * 2];
		if (!fam_enabled(d, fam)) {
			s->fam_done[fam] = true;
			continue;
		}
		size_t k = bt_dht__rt_closest(d->rt[fam], &s->target, n, BT_DHT__K * 2, now);
		for (size_t i = 0; i < k; i++)
			search_add_cand(s, fam, &n[i].id, &n[i].addr);
	}
}

static void search_free(bt_dht *d, struct search *s)
{
	/* Unlink; answers to its queries in flight find no search and are ignored. */
	for (struct search **p = &d->searches; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			break;
		}
	}
	d->nsearches--;
	if (s->internal)
		d->ninternal--;
	free(s);
}

static void search_finish(bt_dht *d, struct search *s)
{
	bt_dht_search_cb cb = s->cb;
	void *ud = s->ud;
	bt_id target = s->target;
	search_free(d, s);
	if (cb)
		cb(target.b, NULL, 0, 1, ud);
}

static void send_announces(bt_dht *d, struct search *s, uint64_t now)
{
	s->announced = true;
	for (int fam = 0; fam < 2; fam++) {
		unsigned sent = 0;
		for (unsigned i = 0; i < s->ncands[fam] && sent < BT_DHT__K; i++) {
			struct cand *c = &s->cands[fam][i];
			if (c->state != C_REPLIED || !c->token_len)
				continue;
			bt_dht__krpc_msg q;
			query_init(&q, BT_DHT__KRPC_M_ANNOUNCE_PEER);
			q.has_info_hash = true;
			q.info_hash = s->target;
			q.token = c->token;
			q.token_len = c->token_len;
			q.implied_port = (s->flags & BT_DHT_SEARCH_IMPLIED_PORT) != 0;
			q.port = s->port;
			if (send_query(d, &q, &c->addr, &c->id, OWN_ANNOUNCE, s->id, now)) {
				sent++;
				s->announces_pending++;
			}
		}
	}
}

/*
 * Advances @s: keeps α queries in flight per family toward the closest unasked candidates, and
 * ends the search when, in every family, the K closest candidates that did not fail have all
 * answered (or nothing is left to ask).  Returns false if the search was freed.
 */
static bool search_step(bt_dht *d, struct search *s, uint64_t now)
{
	for (int fam = 0; fam < 2; fam++) {
		if (s->fam_done[fam])
			continue;
		unsigned live = 0, waiting = 0;
		for (unsigned i = 0; i < s->ncands[fam] && live < BT_DHT__K; i++) {
			struct cand *c = &s->cands[fam][i];
			if (c->state == C_FAILED)
				continue;
			live++;
			if (c->state == C_REPLIED)
				continue;
			waiting++;
			if (c->state != C_NEW || s->inflight[fam] >= SEARCH_ALPHA)
				continue;
			/* A crawler keeps its gap between two queries to one node: a node asked
			 * lately waits for a later step. */
			if (d->crawler && !bt_dht__crawler_may_ask(d->crawler, &c->addr, now))
				continue;
			bt_dht__krpc_msg q;
			query_init(&q, s->method);
			if (s->method == BT_DHT__KRPC_M_GET_PEERS) {
				q.has_info_hash = true;
				q.info_hash = s->target;
			} else {
				q.has_target = true;
				q.target = s->target;
			}
			q.want = fam ? BT_DHT__WANT_N6 : BT_DHT__WANT_N4;
			if (!send_query(d, &q, &c->addr, &c->id, OWN_SEARCH, s->id, now))
				break; /* over budget: try again on the next tick */
			c->state = C_INFLIGHT;
			s->inflight[fam]++;
		}
		if (!waiting && !s->inflight[fam])
			s->fam_done[fam] = true;
	}
	if (!s->fam_done[0] || !s->fam_done[1] || s->starting)
		return true;
	if ((s->flags & BT_DHT_SEARCH_ANNOUNCE) && !s->announced) {
		send_announces(d, s, now);
		if (s->announces_pending)
			return true;
	}
	if (s->announces_pending)
		return true;
	search_finish(d, s);
	return false;
}

static bool search_seen(struct search *s, const bt_addr *peer)
{
	uint64_t h = bt_addr_ip_hash(peer, 0x5eed) ^ peer->port;
	for (unsigned i = 0; i < s->nseen; i++)
		if (s->seen[i] == h)
			return true;
	if (s->nseen < SEARCH_SEEN)
		s->seen[s->nseen++] = h;
	return false;
}

static int search_start(bt_dht *d, const bt_id *target, bt_dht__krpc_method method, int flags,
                        int port, bool internal, bt_dht_search_cb cb, void *ud, uint64_t now,
                        uint64_t *id_out)
{
	if (internal ? d->ninternal >= MAX_INTERNAL_SEARCHES
	             : d->nsearches - d->ninternal >= d->opt.max_searches)
		return BT_DHT_E_LIMIT;
	struct search *s = calloc(1, sizeof(*s));
	if (!s)
		return BT_DHT_E_NOMEM;
	s->id = ++d->next_search_id;
	s->target = *target;
	s->method = method;
	s->flags = flags;
	s->port = (uint16_t)port;
	s->internal = internal;
	s->cb = cb;
	s->ud = ud;
	s->next = d->searches;
	d->searches = s;
	d->nsearches++;
	if (internal)
		d->ninternal++;
	if (id_out)
		*id_out = s->id;
	search_seed(d, s, now);
	s->starting = true;
	search_step(d, s, now);
	s->starting = false; /* a search with nobody to ask ends on the next tick */
	return 0;
}

/* The nodes of answer @r become candidates of @s. */
static void search_add_nodes(bt_dht *d, struct search *s, const bt_dht__krpc_msg *r)
{
	for (int fam = 0; fam < 2; fam++) {
		const uint8_t *p = fam ? r->nodes6 : r->nodes;
		size_t len = fam ? r->nodes6_len : r->nodes_len;
		size_t step = fam ? 38 : 26;
		if (!p || !fam_enabled(d, fam))
			continue;
		for (size_t off = 0; off + step <= len; off += step) {
			bt_id id;
			bt_addr a;
			memcpy(id.b, p + off, BT_ID_LEN);
			if (bt_addr_from_compact(&a, p + off + BT_ID_LEN, step - BT_ID_LEN) == 0 &&
			    a.port && !bt_id_eq(&id, &d->id))
				search_add_cand(s, fam, &id, &a);
		}
		/* New candidates may have arrived: the family is not done until they are asked. */
		if (s->ncands[fam])
			s->fam_done[fam] = false;
	}
}

/* A search's query was answered (@r non-NULL) or failed. */
static void search_answer(bt_dht *d, struct txn *t, const bt_dht__krpc_msg *r, uint64_t now)
{
	struct search *s = search_find(d, t->owner_id);
	if (!s)
		return;
	int fam = t->fam;
	if (t->owner == OWN_ANNOUNCE) {
		if (s->announces_pending)
			s->announces_pending--;
		search_step(d, s, now);
		return;
	}
	struct cand *c = search_cand(s, fam, &t->id);
	if (s->inflight[fam])
		s->inflight[fam]--;
	if (c && c->state == C_INFLIGHT) {
		c->state = r ? C_REPLIED : C_FAILED;
		if (r && r->token && r->token_len <= sizeof(c->token)) {
			memcpy(c->token, r->token, r->token_len);
			c->token_len = (uint8_t)r->token_len;
		}
	}
	if (r) {
		search_add_nodes(d, s, r);
		uint64_t sid = s->id;
		for (unsigned i = 0; i < r->nvalues; i++) {
			bt_addr peer;
			if (bt_addr_from_compact(&peer, r->values[i], r->values_len[i]) < 0 ||
			    !peer.port)
				continue;
			if (search_seen(s, &peer))
				continue;
			report_infohash(d, &s->target, BT_DHT_SRC_SEARCH, &t->addr, &peer);
			if (!(s = search_find(d, sid)))
				return; /* cancelled from on_infohash */
			if (s->cb) {
				struct sockaddr_storage ss;
				socklen_t sl = bt_addr_to_sockaddr(&peer, &ss);
				s->cb(s->target.b, (struct sockaddr *)&ss, sl, 0, s->ud);
				if (!(s = search_find(d, sid)))
					return; /* cancelled from its callback */
			}
		}
	}
	search_step(d, s, now);
}

/* ---------------------------------------------------------------------------------------------
 * Client side: answers to our queries
 * ------------------------------------------------------------------------------------------- */

static void bootstrap_answer(bt_dht *d, const bt_dht__krpc_msg *r, uint64_t now)
{
	/* A contact answered our find_node for our own id: look up our neighbourhood, starting
	 * from the table (which now holds the contact) and the nodes it returned.  One such lookup
	 * at a time: the answers of further contacts feed the running one, so the queries we send
	 * at start do not grow with the number of contacts. */
	struct search *s = NULL;
	for (struct search *p = d->searches; p && !s; p = p->next)
		if (p->internal && p->method == BT_DHT__KRPC_M_FIND_NODE &&
		    bt_id_eq(&p->target, &d->id))
			s = p;
	if (!s) {
		uint64_t sid;
		if (search_start(d, &d->id, BT_DHT__KRPC_M_FIND_NODE, 0, 0, true, NULL, NULL, now,
		                 &sid) < 0)
			return;
		if (!(s = search_find(d, sid)))
			return;
	}
	search_add_nodes(d, s, r);
	search_step(d, s, now);
}

static void sample_answer(bt_dht *d, struct txn *t, const bt_dht__krpc_msg *r)
{
	for (size_t off = 0; r && r->samples && off + BT_ID_LEN <= r->samples_len;
	     off += BT_ID_LEN) {
		bt_id ih;
		memcpy(ih.b, r->samples + off, BT_ID_LEN);
		report_infohash(d, &ih, BT_DHT_SRC_SAMPLE, &t->addr, NULL);
	}
	if (!t->sample_cb)
		return;
	struct sockaddr_storage ss;
	socklen_t sl = bt_addr_to_sockaddr(&t->addr, &ss);
	if (!r) {
		t->sample_cb(0, (struct sockaddr *)&ss, sl, NULL, 0, 0, 0, NULL, 0, t->cb_ud);
		return;
	}
	int64_t interval = r->has_interval ? r->interval : 0;
	if (interval < 0)
		interval = 0;
	if (interval > 21600)
		interval = 21600;
	const uint8_t *nodes = t->fam ? r->nodes6 : r->nodes;
	size_t nlen = t->fam ? r->nodes6_len : r->nodes_len;
	t->sample_cb(1, (struct sockaddr *)&ss, sl, r->samples, r->samples_len / 20,
	             r->has_num ? r->num : 0, interval, nodes, nlen, t->cb_ud);
}

static void ping_answer(struct txn *t, const bt_dht__krpc_msg *r, uint64_t now)
{
	if (!t->ping_cb)
		return;
	struct sockaddr_storage ss;
	socklen_t sl = bt_addr_to_sockaddr(&t->addr, &ss);
	if (!r) {
		t->ping_cb(0, (struct sockaddr *)&ss, sl, NULL, NULL, 0, 0, t->cb_ud);
		return;
	}
	unsigned rtt = now > t->sent ? (unsigned)(now - t->sent) : 0;
	t->ping_cb(1, (struct sockaddr *)&ss, sl, r->id.b, r->v, r->v ? r->vlen : 0, rtt, t->cb_ud);
}

/* Frees slot @t and returns what it held.  Done before anything that may call out: a callback may
 * send queries, which may reuse the slot or move the whole table (txn_alloc grows it). */
static struct txn txn_take(bt_dht *d, struct txn *t)
{
	struct txn copy = *t;
	txn_free(d, t);
	return copy;
}

/* Hands the outcome of a finished query to its owner: answer @r, or NULL for a timeout or an
 * error reply. */
static void txn_complete(bt_dht *d, struct txn copy, const bt_dht__krpc_msg *r, uint64_t now)
{
	switch (copy.owner) {
	case OWN_SEARCH:
	case OWN_ANNOUNCE:
		search_answer(d, &copy, r, now);
		break;
	case OWN_BOOTSTRAP:
		if (r)
			bootstrap_answer(d, r, now);
		break;
	case OWN_SAMPLE:
		sample_answer(d, &copy, r);
		break;
	case OWN_PING:
		ping_answer(&copy, r, now);
		break;
	case OWN_RAW:
		copy.raw_cb(d, &copy.addr, r, copy.cb_ud, now);
		break;
	default:
		break;
	}
}

static void handle_response(bt_dht *d, const bt_dht__krpc_msg *r, const bt_addr *from, uint64_t now)
{
	struct txn *t = NULL;
	if (r->tlen == 4 && d->txns) {
		unsigned slot = (unsigned)r->t[0] << 8 | r->t[1];
		uint16_t nonce = (uint16_t)(r->t[2] << 8 | r->t[3]);
		if (slot < d->txn_cap && d->txns[slot].owner != OWN_NONE &&
		    d->txns[slot].nonce == nonce && bt_addr_eq(&d->txns[slot].addr, from))
			t = &d->txns[slot];
	}
	if (!t) {
		d->st.unexpected++;
		return;
	}
	struct txn copy = txn_take(d, t);
	if (r->kind == BT_DHT__KRPC_ERROR) {
		d->st.in_errors++;
		/* The crawler tells "no BEP 51" (204) from other errors. */
		txn_complete(d, copy, copy.owner == OWN_RAW ? r : NULL, now);
		return;
	}
	d->st.in_responses++;
	if (copy.has_id && !bt_id_eq(&copy.id, &r->id) && copy.owner != OWN_BOOTSTRAP) {
		/* Not the node we asked: its entry may be stale; do not let it answer for it. */
		d->st.unexpected++;
		txn_complete(d, copy, NULL, now);
		return;
	}
	heard(d, &r->id, from, BT_DHT__RT_REPLIED, now);
	if (r->has_ip)
		vote_ip(d, &r->ip, from);
	txn_complete(d, copy, r, now);
}

/* ---------------------------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------------------------- */

static int check_limits(const bt_dht_options *o)
{
	if (o->version != BT_DHT_OPTIONS_VERSION)
		return BT_DHT_E_VERSION;
	if (!o->max_out_qps || !o->max_out_bps || o->max_out_bps < BT_DHT__KRPC_MAX_PACKET ||
	    !o->max_infohashes || o->max_infohashes > (1u << 28) || !o->max_peers ||
	    o->max_peers > 65535 || !o->peer_ttl_s || o->peer_ttl_s > 2000000 ||
	    !o->query_timeout_ms || o->query_retries > 10 || !o->max_searches)
		return BT_DHT_E_INVAL;
	return 0;
}

static void ps_limits(const bt_dht_options *o, bt_dht__ps_limits *l)
{
	l->max_infohashes = o->max_infohashes;
	l->max_peers = o->max_peers;
	l->ttl_ms = (uint64_t)o->peer_ttl_s * 1000;
	l->sample_interval_ms = 21600ull * 1000;
}

BT_DHT_EXTERN int bt_dht_new(bt_dht **out, const bt_dht_options *opts, uint64_t now)
{
	if (!out)
		return BT_DHT_E_INVAL;
	*out = NULL;
	if (!opts)
		return BT_DHT_E_INVAL;
	int rc = check_limits(opts);
	if (rc < 0)
		return rc;
	if (!opts->send || !(opts->families & (BT_DHT_IPV4 | BT_DHT_IPV6)) ||
	    (opts->families & ~(unsigned)(BT_DHT_IPV4 | BT_DHT_IPV6)) ||
	    opts->bep42 > BT_DHT_BEP42_OFF)
		return BT_DHT_E_INVAL;

	bt_dht *d = calloc(1, sizeof(*d));
	if (!d)
		return BT_DHT_E_NOMEM;
	d->opt = *opts;
	d->opt.node_id = NULL;
	if (opts->seed) {
		/* splitmix64 spreads a small seed over the whole state: seeds 1, 2, 3 must give
		 * unrelated node ids, not clustered ones. */
		uint64_t z = opts->seed;
		for (int i = 0; i < 2; i++) {
			z += 0x9e3779b97f4a7c15ULL;
			uint64_t x = z;
			x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
			x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
			d->rng[i] = x ^ (x >> 31);
		}
	} else if (getrandom(d->rng, sizeof(d->rng), 0) != (ssize_t)sizeof(d->rng)) {
		int err = errno ? -errno : -EIO; /* a short read sets no errno */
		free(d);
		return err;
	}
	if (!d->rng[0] && !d->rng[1])
		d->rng[1] = 1;
	for (int i = 0; i < 8; i++)
		rnd64(d);
	d->hash_key = rnd64(d);
	if (opts->node_id) {
		memcpy(d->id.b, opts->node_id, BT_ID_LEN);
		d->id_given = true;
	} else {
		rnd_bytes(d, d->id.b, BT_ID_LEN);
	}
	rotate_secret(d, now);
	d->out_q.limit = opts->max_out_qps;
	rate_init(&d->out_b, opts->max_out_bps, now);

	rc = BT_DHT_E_NOMEM;
	d->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	if (!d->sha1)
		goto fail;
	for (int fam = 0; fam < 2; fam++) {
		if (!(opts->families & (fam ? BT_DHT_IPV6 : BT_DHT_IPV4)))
			continue;
		if (bt_dht__rt_new(&d->rt[fam], &d->id, fam ? 6 : 4, opts->max_nodes) < 0)
			goto fail;
	}
	bt_dht__ps_limits pl;
	ps_limits(opts, &pl);
	if (bt_dht__ps_new(&d->ps, &pl, rnd64(d)) < 0)
		goto fail;
	*out = d;
	return 0;
fail:
	bt_dht_free(d);
	return rc;
}

BT_DHT_EXTERN void bt_dht_free(bt_dht *d)
{
	if (!d)
		return;
	if (d->crawler)
		bt_dht__crawler_detach(d->crawler);
	while (d->searches) {
		struct search *s = d->searches;
		d->searches = s->next;
		free(s);
	}
	for (int fam = 0; fam < 2; fam++)
		bt_dht__rt_free(d->rt[fam]);
	bt_dht__ps_free(d->ps);
	EVP_MD_free(d->sha1);
	free(d->txns);
	free(d->limiter);
	free(d);
}

BT_DHT_EXTERN int bt_dht_input(bt_dht *d, const uint8_t *data, size_t len,
                               const struct sockaddr *from, socklen_t fromlen, uint64_t now)
{
	bt_addr a;
	if (!d || !data || !from || bt_addr_from_sockaddr(&a, from, fromlen) < 0)
		return BT_DHT_E_INVAL;
	d->st.in_messages++;
	d->st.in_bytes += len;
	d->now = now;
	if (!fam_enabled(d, fam_index(&a)) || !a.port) {
		d->st.malformed++;
		return BT_DHT_E_FAMILY;
	}
	bt_dht__krpc_msg m;
	int rc = bt_dht__krpc_parse(&m, data, len);
	if (rc < 0) {
		d->st.malformed++;
		/* A query we could not read but can answer: BEP 5 error 203. */
		if ((rc == BT_DHT__KRPC_E_ARGS || rc == BT_DHT__KRPC_E_ID) &&
		    m.kind == BT_DHT__KRPC_QUERY && !d->opt.read_only && limiter_allow(d, &a, now))
			send_error(d, &m, &a, 203, "Protocol Error", now);
		return BT_DHT_E_INVAL;
	}
	if (m.kind == BT_DHT__KRPC_QUERY) {
		if (d->opt.read_only)
			return 0; /* BEP 43: read-only nodes answer no queries */
		if (!limiter_allow(d, &a, now)) {
			d->st.rate_limited++;
			return BT_DHT_E_LIMIT;
		}
		rotate_secret(d, now);
		handle_query(d, &m, &a, now);
		return 0;
	}
	handle_response(d, &m, &a, now);
	return 0;
}

static void tick_timeouts(bt_dht *d, uint64_t now)
{
	if (!d->txns || !d->npending)
		return;
	for (unsigned i = 0; i < d->txn_cap; i++) {
		struct txn *t = &d->txns[i];
		if (t->owner == OWN_NONE || now - t->sent < d->opt.query_timeout_ms)
			continue;
		if (t->tries <= d->opt.query_retries && window_take(&d->out_q, now) &&
		    send_raw(d, t->pkt, t->len, &t->addr, now) == 0) {
			t->tries++;
			t->sent = now;
			continue;
		}
		d->st.timeouts++;
		struct txn copy = txn_take(d, t);
		if (copy.has_id && fam_enabled(d, copy.fam))
			bt_dht__rt_failed(d->rt[copy.fam], &copy.id, &copy.addr, now);
		txn_complete(d, copy, NULL, now);
	}
}

static void tick_maintenance(bt_dht *d, uint64_t now)
{
	bool any = false, small = false;
	for (int fam = 0; fam < 2; fam++) {
		if (!fam_enabled(d, fam))
			continue;
		bt_dht__rt_stats rs;
		bt_dht__rt_get_stats(d->rt[fam], now, &rs);
		size_t known = rs.good + rs.questionable;
		any |= known > 0;
		small |= known > 0 && known < SMALL_TABLE; /* an empty family is the bootstrap's */
		/* An empty table: ask the bootstrap contacts again, every 30 s at most. */
		if (rs.good + rs.questionable == 0 &&
		    (!d->last_bootstrap[fam] ||
		     now - d->last_bootstrap[fam] >= BOOTSTRAP_RETRY_MS)) {
			d->last_bootstrap[fam] = now;
			for (unsigned i = 0; i < d->ncontacts; i++) {
				if (fam_index(&d->contacts[i]) == fam)
					send_find_self(d, &d->contacts[i], now);
			}
		}
		/* A few pings of questionable nodes and unverified candidates. */
		for (int i = 0; i < 4; i++) {
			bt_dht__rt_node n;
			if (d->out_q.sum + 2 > d->out_q.limit ||
			    !bt_dht__rt_next_ping(d->rt[fam], now, PING_GAP_MS, &n))
				break;
			bt_dht__krpc_msg q;
			query_init(&q, BT_DHT__KRPC_M_PING);
			send_query(d, &q, &n.addr, &n.id, OWN_PING, 0, now);
		}
		/* Stale buckets: a lookup of a random id in their range. */
		uint8_t r[BT_ID_LEN];
		bt_id target;
		rnd_bytes(d, r, sizeof(r));
		if (rs.good && d->ninternal < MAX_INTERNAL_SEARCHES &&
		    bt_dht__rt_refresh_target(d->rt[fam], now, REFRESH_STALE_MS, r, &target))
			search_start(d, &target, BT_DHT__KRPC_M_FIND_NODE, 0, 0, true, NULL, NULL,
			             now, NULL);
	}
	/* A small table: look ourselves up again (every 10 s); the nodes we ask enter the table
	 * by answering, and their answers give us more to ask. */
	if (any && small && d->ninternal == 0 && now - d->last_self_lookup >= SELF_LOOKUP_MS) {
		d->last_self_lookup = now;
		search_start(d, &d->id, BT_DHT__KRPC_M_FIND_NODE, 0, 0, true, NULL, NULL, now,
		             NULL);
	}
	bt_dht__ps_expire(d->ps, now, 256);
	rotate_secret(d, now);
}

BT_DHT_EXTERN unsigned int bt_dht_tick(bt_dht *d, uint64_t now)
{
	if (!d)
		return 1000;
	d->now = now;
	tick_timeouts(d, now);
	/* The crawler's own queries go before the searches' next steps: a node whose gap just
	 * ended is asked for what the crawler waits on (peers of a sampled infohash) rather than
	 * for a lookup's next hop. */
	unsigned wait = 1000;
	if (d->crawler)
		wait = bt_dht__crawler_tick(d->crawler, now);
	/* Searches waiting for budget get another go.  A step may end its search, and the done
	 * callback may cancel or start others, so the next one is found again by id. */
	for (struct search *s = d->searches; s;) {
		uint64_t next_id = s->next ? s->next->id : 0;
		search_step(d, s, now);
		s = next_id ? search_find(d, next_id) : NULL;
	}
	tick_maintenance(d, now);
	if ((d->npending || d->searches) && wait > 100)
		wait = 100;
	return wait;
}

static int addr_in(bt_dht *d, const struct sockaddr *sa, socklen_t len, bt_addr *a)
{
	if (!d || !sa || bt_addr_from_sockaddr(a, sa, len) < 0 || !a->port)
		return BT_DHT_E_INVAL;
	if (!fam_enabled(d, fam_index(a)))
		return BT_DHT_E_FAMILY;
	return 0;
}

BT_DHT_EXTERN int bt_dht_add_node(bt_dht *d, const struct sockaddr *sa, socklen_t len, uint64_t now)
{
	bt_addr a;
	int rc = addr_in(d, sa, len, &a);
	if (rc < 0)
		return rc;
	bool known = false;
	for (unsigned i = 0; i < d->ncontacts; i++)
		known |= bt_addr_eq(&d->contacts[i], &a);
	if (!known && d->ncontacts < MAX_CONTACTS)
		d->contacts[d->ncontacts++] = a;
	d->last_bootstrap[fam_index(&a)] = now;
	return send_find_self(d, &a, now) ? 0 : BT_DHT_E_LIMIT;
}

BT_DHT_EXTERN int bt_dht_ping(bt_dht *d, const struct sockaddr *sa, socklen_t len,
                              bt_dht_ping_cb cb, void *ud, uint64_t now)
{
	bt_addr a;
	int rc = addr_in(d, sa, len, &a);
	if (rc < 0)
		return rc;
	bt_dht__krpc_msg q;
	query_init(&q, BT_DHT__KRPC_M_PING);
	struct txn *t = send_query(d, &q, &a, NULL, OWN_PING, 0, now);
	if (!t)
		return BT_DHT_E_LIMIT;
	t->ping_cb = cb;
	t->cb_ud = ud;
	return 0;
}

BT_DHT_EXTERN int bt_dht_search(bt_dht *d, const uint8_t infohash[20], int flags, int port,
                                bt_dht_search_cb cb, void *ud, uint64_t now, uint64_t *id_out)
{
	if (!d || !infohash || (flags & ~(BT_DHT_SEARCH_ANNOUNCE | BT_DHT_SEARCH_IMPLIED_PORT)) ||
	    port < 0 || port > 65535 ||
	    ((flags & BT_DHT_SEARCH_ANNOUNCE) && !(flags & BT_DHT_SEARCH_IMPLIED_PORT) && port < 1))
		return BT_DHT_E_INVAL;
	bt_id ih;
	memcpy(ih.b, infohash, BT_ID_LEN);
	return search_start(d, &ih, BT_DHT__KRPC_M_GET_PEERS, flags, port, false, cb, ud, now,
	                    id_out);
}

BT_DHT_EXTERN int bt_dht_search_cancel(bt_dht *d, uint64_t id)
{
	if (!d)
		return BT_DHT_E_INVAL;
	struct search *s = search_find(d, id);
	if (!s || s->internal)
		return BT_DHT_E_NOENT;
	search_free(d, s);
	return 0;
}

BT_DHT_EXTERN int bt_dht_sample(bt_dht *d, const struct sockaddr *sa, socklen_t len,
                                const uint8_t target[20], bt_dht_sample_cb cb, void *ud,
                                uint64_t now)
{
	bt_addr a;
	int rc = addr_in(d, sa, len, &a);
	if (rc < 0)
		return rc;
	if (!target || !cb)
		return BT_DHT_E_INVAL;
	bt_dht__krpc_msg q;
	query_init(&q, BT_DHT__KRPC_M_SAMPLE_INFOHASHES);
	q.has_target = true;
	memcpy(q.target.b, target, BT_ID_LEN);
	q.want = fam_index(&a) ? BT_DHT__WANT_N6 : BT_DHT__WANT_N4;
	struct txn *t = send_query(d, &q, &a, NULL, OWN_SAMPLE, 0, now);
	if (!t)
		return BT_DHT_E_LIMIT;
	t->sample_cb = cb;
	t->cb_ud = ud;
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * For the crawler (crawler.h)
 * ------------------------------------------------------------------------------------------- */

int bt_dht__query(bt_dht *d, const bt_addr *to, bt_dht__krpc_method method, const bt_id *arg,
                  bt_dht__raw_cb cb, void *ud, uint64_t now)
{
	bt_dht__krpc_msg q;
	query_init(&q, method);
	switch (method) {
	case BT_DHT__KRPC_M_FIND_NODE:
	case BT_DHT__KRPC_M_SAMPLE_INFOHASHES:
		q.has_target = true;
		q.target = *arg;
		break;
	case BT_DHT__KRPC_M_GET_PEERS:
		q.has_info_hash = true;
		q.info_hash = *arg;
		break;
	default:
		return BT_DHT_E_INVAL;
	}
	q.want = fam_index(to) ? BT_DHT__WANT_N6 : BT_DHT__WANT_N4;
	struct txn *t = send_query(d, &q, to, NULL, OWN_RAW, 0, now);
	if (!t)
		return BT_DHT_E_LIMIT;
	t->raw_cb = cb;
	t->cb_ud = ud;
	return 0;
}

bool bt_dht__can_query(bt_dht *d, uint64_t now)
{
	return window_can(&d->out_q, now) && d->npending < MAX_PENDING;
}

unsigned bt_dht__query_wait(const bt_dht *d, uint64_t now)
{
	unsigned ms = window_wait(&d->out_q, now);
	return ms ? ms : 10; /* the pending table was full */
}

int bt_dht__attach(bt_dht *d, bt_dht_crawler *c)
{
	if (c && d->crawler)
		return BT_DHT_E_LIMIT;
	d->crawler = c;
	return 0;
}

bt_dht_crawler *bt_dht__crawler(const bt_dht *d)
{
	return d->crawler;
}

unsigned bt_dht__max_qps(const bt_dht *d)
{
	return d->opt.max_out_qps;
}

uint64_t bt_dht__last_now(const bt_dht *d)
{
	return d->now;
}

const bt_id *bt_dht__id(const bt_dht *d)
{
	return &d->id;
}

bool bt_dht__runs(const bt_dht *d, const bt_addr *a)
{
	return a->family && fam_enabled(d, fam_index(a));
}

uint64_t bt_dht__rand(bt_dht *d)
{
	return rnd64(d);
}

BT_DHT_EXTERN int bt_dht_get_stats(const bt_dht *d, bt_dht_stats *out, uint64_t now)
{
	if (!d || !out)
		return BT_DHT_E_INVAL;
	*out = d->st;
	uint64_t mem = sizeof(*d) + (d->limiter ? LIMITER_SLOTS * sizeof(struct limiter_slot) : 0);
	mem += (uint64_t)d->txn_cap * sizeof(struct txn);
	for (int fam = 0; fam < 2; fam++) {
		if (!d->rt[fam])
			continue;
		bt_dht__rt_stats rs;
		bt_dht__rt_get_stats(d->rt[fam], now, &rs);
		out->nodes[fam] = rs.good + rs.questionable + rs.bad;
		out->nodes_good[fam] = rs.good;
		out->cached[fam] = rs.cached;
		out->buckets[fam] = rs.buckets;
		mem += rs.bytes;
	}
	bt_dht__ps_stats ps;
	bt_dht__ps_get_stats(d->ps, &ps);
	out->infohashes = ps.infohashes;
	out->peers = ps.peers;
	mem += ps.bytes + (uint64_t)d->nsearches * sizeof(struct search);
	out->searches = d->nsearches;
	out->pending = d->npending;
	out->memory = mem;
	return 0;
}

BT_DHT_EXTERN int bt_dht_set_limits(bt_dht *d, const bt_dht_options *o, uint64_t now)
{
	if (!d || !o)
		return BT_DHT_E_INVAL;
	int rc = check_limits(o);
	if (rc < 0)
		return rc;
	bt_dht__ps_limits pl;
	ps_limits(o, &pl);
	if (bt_dht__ps_set_limits(d->ps, &pl, now) < 0)
		return BT_DHT_E_INVAL;
	d->opt.max_out_qps = o->max_out_qps;
	d->opt.max_out_bps = o->max_out_bps;
	d->opt.max_in_qps_ip = o->max_in_qps_ip;
	d->opt.max_infohashes = o->max_infohashes;
	d->opt.max_peers = o->max_peers;
	d->opt.peer_ttl_s = o->peer_ttl_s;
	d->opt.query_timeout_ms = o->query_timeout_ms;
	d->opt.query_retries = o->query_retries;
	d->opt.max_searches = o->max_searches;
	d->out_q.limit = o->max_out_qps;
	d->out_b.max = o->max_out_bps;
	rate_refill(&d->out_b, now);
	d->opt.max_nodes = o->max_nodes;
	for (int fam = 0; fam < 2; fam++)
		if (d->rt[fam])
			bt_dht__rt_set_max(d->rt[fam], o->max_nodes);
	return 0;
}

BT_DHT_EXTERN void bt_dht_get_id(const bt_dht *d, uint8_t out[20])
{
	memcpy(out, d->id.b, BT_ID_LEN);
}

struct save_ctx {
	bt_buf nodes[2];
};

static void save_node(const bt_dht__rt_node *n, void *ud)
{
	struct save_ctx *c = ud;
	uint8_t buf[BT_ADDR_COMPACT6];
	size_t len = bt_addr_to_compact(&n->addr, buf);
	bt_buf *b = &c->nodes[n->addr.family == 6];
	bt_buf_append(b, n->id.b, BT_ID_LEN);
	bt_buf_append(b, buf, len);
}

BT_DHT_EXTERN int bt_dht_save(const bt_dht *d, uint8_t **out, size_t *len)
{
	if (!d || !out || !len)
		return BT_DHT_E_INVAL;
	struct save_ctx c;
	bt_buf_init(&c.nodes[0], 0);
	bt_buf_init(&c.nodes[1], 0);
	for (int fam = 0; fam < 2; fam++)
		if (d->rt[fam])
			bt_dht__rt_foreach(d->rt[fam], save_node, &c);
	bt_buf b;
	bt_ben_enc e;
	bt_buf_init(&b, 0);
	bt_ben_enc_init(&e, &b);
	bt_ben_enc_dict(&e);
	bt_ben_enc_strz(&e, "id");
	bt_ben_enc_str(&e, d->id.b, BT_ID_LEN);
	bt_ben_enc_strz(&e, "nodes");
	bt_ben_enc_str(&e, c.nodes[0].data, c.nodes[0].len);
	bt_ben_enc_strz(&e, "nodes6");
	bt_ben_enc_str(&e, c.nodes[1].data, c.nodes[1].len);
	bt_ben_enc_strz(&e, "v");
	bt_ben_enc_int(&e, 1);
	bt_ben_enc_end(&e);
	int rc = bt_ben_enc_finish(&e) || c.nodes[0].err || c.nodes[1].err ? BT_DHT_E_NOMEM : 0;
	bt_buf_free(&c.nodes[0]);
	bt_buf_free(&c.nodes[1]);
	if (rc == 0)
		*out = bt_buf_steal(&b, len);
	bt_buf_free(&b);
	return rc;
}

BT_DHT_EXTERN int bt_dht_load(bt_dht *d, const uint8_t *data, size_t len, uint64_t now)
{
	if (!d || !data)
		return BT_DHT_E_INVAL;
	bt_ben_doc doc;
	bt_ben_doc_init_alloc(&doc, 64);
	int64_t v;
	size_t idlen = 0, n4 = 0, n6 = 0;
	const uint8_t *id = NULL, *nodes = NULL, *nodes6 = NULL;
	int rc = BT_DHT_E_FORMAT;
	if (bt_ben_decode(&doc, data, len, 0, NULL) < 0 || bt_ben_dict_int(&doc, 0, "v", &v) < 0 ||
	    v != 1)
		goto out;
	id = bt_ben_dict_str(&doc, 0, "id", &idlen);
	nodes = bt_ben_dict_str(&doc, 0, "nodes", &n4);
	nodes6 = bt_ben_dict_str(&doc, 0, "nodes6", &n6);
	if (!id || idlen != BT_ID_LEN || !nodes || n4 % 26 || !nodes6 || n6 % 38)
		goto out;
	rc = 0;
	if (!d->id_given && !bt_id_eq(&d->id, (const bt_id *)id)) {
		memcpy(d->id.b, id, BT_ID_LEN);
		for (int fam = 0; fam < 2; fam++)
			if (d->rt[fam])
				bt_dht__rt_set_self(d->rt[fam], &d->id);
	}
	for (int fam = 0; fam < 2; fam++) {
		const uint8_t *p = fam ? nodes6 : nodes;
		size_t n = fam ? n6 : n4, step = fam ? 38 : 26;
		for (size_t off = 0; off + step <= n; off += step) {
			bt_addr a;
			struct sockaddr_storage ss;
			bt_addr_from_compact(&a, p + off + 20, step - 20);
			socklen_t sl = bt_addr_to_sockaddr(&a, &ss);
			if (a.port && fam_enabled(d, fam))
				bt_dht_add_node(d, (struct sockaddr *)&ss, sl, now);
		}
	}
out:
	bt_ben_doc_free(&doc);
	return rc;
}

BT_DHT_EXTERN const char *bt_dht_strerror(int err)
{
	switch (err) {
	case 0:
		return "Success";
	case BT_DHT_E_INVAL:
		return "Invalid argument or message";
	case BT_DHT_E_NOMEM:
		return "Out of memory";
	case BT_DHT_E_VERSION:
		return "Unknown options version";
	case BT_DHT_E_FAMILY:
		return "Address family not enabled";
	case BT_DHT_E_LIMIT:
		return "Rate or size limit reached";
	case BT_DHT_E_FORMAT:
		return "Not a saved DHT state";
	case BT_DHT_E_NOENT:
		return "No such search";
	default:
		break;
	}
	if (err < 0 && err > -1000) {
		switch (-err) {
		case EAGAIN:
			return "Resource temporarily unavailable";
		case ENOMEM:
			return "Cannot allocate memory";
		case EINVAL:
			return "Invalid argument";
		case EACCES:
			return "Permission denied";
		case EADDRINUSE:
			return "Address already in use";
		case EADDRNOTAVAIL:
			return "Cannot assign requested address";
		case ENETUNREACH:
			return "Network is unreachable";
		case EHOSTUNREACH:
			return "No route to host";
		case ECONNREFUSED:
			return "Connection refused";
		case EMSGSIZE:
			return "Message too long";
		case ENOBUFS:
			return "No buffer space available";
		default:
			return "System error";
		}
	}
	return "Unknown error";
}

BT_DHT_EXTERN const char *bt_dht_version(void)
{
	return BT_DHT_VERSION_STRING;
}
