/*
 * test-dht-crawler.c - the crawler (libbtdht/crawler.c) driven through one engine, scripted fake
 * DHT nodes and a fake clock.  No sockets.
 *
 * The fake network: one real engine (bt_dht) with a crawler attached, and up to MAXF fake nodes,
 * each an address, a 20-byte id and a scripted behaviour.  The engine's send callback parses every
 * datagram it sends (bt_dht__krpc_parse) and records it (time, destination, kind, method,
 * argument).  A query to a live fake node is answered by the script: sample_infohashes with the
 * node's samples / num / interval / "nodes" (or error 204 when it has no BEP 51), find_node with
 * its "nodes", get_peers with "values" for the infohashes it holds (or "nodes" only), ping and
 * announce_peer with its id; a dead node never answers, a spoofer answers with a fresh random id
 * every time.  The reply is encoded (bt_dht__krpc_encode) and queued with a small fake latency:
 * the send callback never calls back into the engine.  The run loop advances the clock in steps
 * of STEP_MS, delivers the replies that are due with bt_dht_input() and calls bt_dht_tick().
 * Replies of the engine to a fake node's own queries (the passive tests) are kept in an inbox.
 * Every discovery reported by the crawler is recorded with the time it was reported.
 */
#include <check.h>

#include "test-util.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "btdht.h"
#include "buf.h"
#include "id.h"
#include "krpc.h"

#define MAXF 64
#define MAXHOLD 64
#define STEP_MS 5
#define LATENCY_MS 20
#define T0 1000000

enum fkind {
	FK_BEP51 = 0, /* answers everything */
	FK_NO51,      /* answers sample_infohashes with error 204 */
	FK_DEAD,      /* never answers */
	FK_SPOOF      /* answers everything, with a new id each time */
};

struct fnode {
	bt_addr addr;
	bt_id id;
	int kind;
	bt_id hold[MAXHOLD]; /* infohashes it holds (and returns in samples) */
	int nhold;
	int64_t num;      /* "num" sent; -1: nhold */
	int64_t interval; /* "interval" sent */
	int fresh;        /* > 0: every sample is @fresh new random infohashes */
	int hide;         /* samples are empty (it still holds @hold for get_peers) */
	int peers;        /* answers get_peers for what it holds with a value */
	int gp_silent;    /* never answers get_peers */
	int list[MAXF];   /* fake nodes it lists in "nodes" */
	int nlist;
	uint8_t extra[26 * 16]; /* raw contacts appended to the "nodes" of sample replies only */
	size_t nextra;
	unsigned replies; /* replies sent */
	unsigned samples_answered;
};

struct rec {
	uint64_t t;
	int to;       /* fake node index, -1: none */
	bt_addr addr; /* destination */
	int kind;     /* BT_DHT__KRPC_QUERY, ... */
	int method;
	bt_id arg; /* target or info_hash */
};

struct disc {
	bt_id ih;
	int src;
	size_t npeers;
	bt_addr peer0;
	bt_addr peers[64];
	bt_addr from;
	uint64_t found, at;
};

struct qpkt {
	bt_addr from;
	uint64_t due;
	uint16_t len;
	uint8_t data[1500];
};

static struct world {
	bt_dht *dht;
	bt_dht_crawler *c;
	uint64_t now;
	bt_id self;
	struct fnode f[MAXF];
	int nf;
	struct rec *log;
	size_t nlog, caplog;
	struct qpkt *q;
	size_t qhead, qlen, qcap;
	struct disc *d;
	size_t nd, capd;
	/* the engine's replies to queries from fake nodes (passive tests) */
	uint8_t inbox[8][1500];
	size_t inbox_len[8];
	int ninbox;
	unsigned known_calls;
	int known_below; /* is_known: infohashes whose first byte is below this are known */
} w;

/* ---- helpers ---- */

static bt_addr mkaddr(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
	bt_addr x;
	memset(&x, 0, sizeof(x));
	x.family = 4;
	x.ip[0] = a;
	x.ip[1] = b;
	x.ip[2] = c;
	x.ip[3] = d;
	x.port = port;
	return x;
}

static void rnd_id(bt_id *id)
{
	for (int i = 0; i < BT_ID_LEN; i += 4) {
		uint64_t r = bt_test_rnd();
		memcpy(id->b + i, &r, 4);
	}
}

/* The peer fake node @j gives for infohash @ih. */
static bt_addr peer_of(int j, const bt_id *ih)
{
	return mkaddr(30, ih->b[0], (uint8_t)j, 1, (uint16_t)(6000 + ih->b[1]));
}

static int fake_at(const bt_addr *a)
{
	for (int i = 0; i < w.nf; i++)
		if (bt_addr_eq(&w.f[i].addr, a))
			return i;
	return -1;
}

/* A new fake node at 20.0.x.y ("public"), port 6881. */
static int fake_add(int kind)
{
	ck_assert_int_lt(w.nf, MAXF);
	int i = w.nf++;
	struct fnode *f = &w.f[i];
	memset(f, 0, sizeof(*f));
	f->addr = mkaddr(20, 0, (uint8_t)(i >> 8), (uint8_t)(i + 1), 6881);
	rnd_id(&f->id);
	f->kind = kind;
	f->num = -1;
	f->interval = 30;
	f->peers = 1;
	return i;
}

static void fake_list_all(int i)
{
	struct fnode *f = &w.f[i];
	f->nlist = 0;
	for (int j = 0; j < w.nf; j++)
		if (j != i)
			f->list[f->nlist++] = j;
}

static void extra_add(int i, const bt_id *id, const bt_addr *a)
{
	struct fnode *f = &w.f[i];
	ck_assert(f->nextra + 26 <= sizeof(f->extra));
	memcpy(f->extra + f->nextra, id->b, 20);
	f->extra[f->nextra + 20] = a->ip[0];
	f->extra[f->nextra + 21] = a->ip[1];
	f->extra[f->nextra + 22] = a->ip[2];
	f->extra[f->nextra + 23] = a->ip[3];
	f->extra[f->nextra + 24] = (uint8_t)(a->port >> 8);
	f->extra[f->nextra + 25] = (uint8_t)a->port;
	f->nextra += 26;
}

static int holds(const struct fnode *f, const bt_id *ih)
{
	for (int k = 0; k < f->nhold; k++)
		if (bt_id_eq(&f->hold[k], ih))
			return 1;
	return 0;
}

static void enqueue(const bt_addr *from, const uint8_t *data, size_t len)
{
	if (w.qlen == w.qcap) {
		/* grow, keeping order */
		size_t ncap = w.qcap ? w.qcap * 2 : 256;
		struct qpkt *nq = malloc(ncap * sizeof(*nq));
		ck_assert_ptr_nonnull(nq);
		for (size_t k = 0; k < w.qlen; k++)
			nq[k] = w.q[(w.qhead + k) % w.qcap];
		free(w.q);
		w.q = nq;
		w.qcap = ncap;
		w.qhead = 0;
	}
	struct qpkt *p = &w.q[(w.qhead + w.qlen++) % w.qcap];
	p->from = *from;
	p->due = w.now + LATENCY_MS;
	p->len = (uint16_t)len;
	memcpy(p->data, data, len);
}

/* The script of fake node @i answering query @q. */
static void fake_answer(int i, const bt_dht__krpc_msg *q)
{
	struct fnode *f = &w.f[i];
	if (f->kind == FK_DEAD)
		return;
	if (q->method == BT_DHT__KRPC_M_GET_PEERS && f->gp_silent)
		return;
	if (f->kind == FK_SPOOF)
		rnd_id(&f->id);
	bt_dht__krpc_msg r;
	memset(&r, 0, sizeof(r));
	r.t = q->t;
	r.tlen = q->tlen;
	uint8_t nodes[26 * MAXF + sizeof(f->extra)], samples[20 * 60],
	    token[4] = {'t', 'o', 'k', 0};
	uint8_t vals[1][6];
	size_t nn = 0;
	for (int k = 0; k < f->nlist; k++) {
		const struct fnode *o = &w.f[f->list[k]];
		memcpy(nodes + nn, o->id.b, 20);
		ck_assert_uint_eq(bt_addr_to_compact(&o->addr, nodes + nn + 20), 6);
		nn += 26;
	}
	if (q->method == BT_DHT__KRPC_M_SAMPLE_INFOHASHES && f->kind == FK_NO51) {
		r.kind = BT_DHT__KRPC_ERROR;
		r.err_code = 204;
		r.err_msg = (const uint8_t *)"Method Unknown";
		r.err_msg_len = 14;
	} else {
		r.kind = BT_DHT__KRPC_RESPONSE;
		r.has_id = true;
		r.id = f->id;
		switch (q->method) {
		case BT_DHT__KRPC_M_SAMPLE_INFOHASHES: {
			size_t ns = 0;
			if (f->fresh) {
				for (int k = 0; k < f->fresh; k++) {
					bt_id ih;
					rnd_id(&ih);
					memcpy(samples + 20 * ns++, ih.b, 20);
				}
			} else if (!f->hide) {
				for (int k = 0; k < f->nhold; k++)
					memcpy(samples + 20 * ns++, f->hold[k].b, 20);
			}
			r.samples = samples;
			r.samples_len = 20 * ns;
			r.has_num = true;
			r.num = f->num >= 0 ? f->num : (int64_t)ns;
			r.has_interval = true;
			r.interval = f->interval;
			memcpy(nodes + nn, f->extra, f->nextra);
			nn += f->nextra;
			f->samples_answered++;
			break;
		}
		case BT_DHT__KRPC_M_GET_PEERS:
			r.token = token;
			r.token_len = 3;
			if (f->peers && holds(f, &q->info_hash)) {
				bt_addr p = peer_of(i, &q->info_hash);
				bt_addr_to_compact(&p, vals[0]);
				r.values[0] = vals[0];
				r.values_len[0] = 6;
				r.nvalues = 1;
				r.has_values = true;
			}
			break;
		default:
			break;
		}
		if (q->method != BT_DHT__KRPC_M_PING && q->method != BT_DHT__KRPC_M_ANNOUNCE_PEER &&
		    nn) {
			r.nodes = nodes;
			r.nodes_len = nn;
		}
	}
	uint8_t mem[1500];
	bt_buf b;
	bt_buf_init_fixed(&b, mem, sizeof(mem));
	ck_assert_int_eq(bt_dht__krpc_encode(&b, &r), 0);
	f->replies++;
	enqueue(&f->addr, b.data, b.len);
}

static int send_cb(const uint8_t *data, size_t len, const struct sockaddr *to, socklen_t tolen,
                   void *ud)
{
	(void)ud;
	bt_addr dst;
	ck_assert_int_eq(bt_addr_from_sockaddr(&dst, to, tolen), 0);
	bt_dht__krpc_msg m;
	ck_assert_int_eq(bt_dht__krpc_parse(&m, data, len), 0);
	if (w.nlog == w.caplog) {
		w.caplog = w.caplog ? w.caplog * 2 : 1024;
		w.log = realloc(w.log, w.caplog * sizeof(*w.log));
		ck_assert_ptr_nonnull(w.log);
	}
	struct rec *r = &w.log[w.nlog++];
	memset(r, 0, sizeof(*r));
	r->t = w.now;
	r->to = fake_at(&dst);
	r->addr = dst;
	r->kind = m.kind;
	r->method = m.method;
	if (m.has_target)
		r->arg = m.target;
	else if (m.has_info_hash)
		r->arg = m.info_hash;
	if (m.kind != BT_DHT__KRPC_QUERY) {
		if (w.ninbox < 8) {
			memcpy(w.inbox[w.ninbox], data, len);
			w.inbox_len[w.ninbox++] = len;
		}
		return 0;
	}
	if (r->to >= 0)
		fake_answer(r->to, &m);
	return 0;
}

static void on_disc(const bt_dht_discovery *dv, void *ud)
{
	(void)ud;
	if (w.nd == w.capd) {
		w.capd = w.capd ? w.capd * 2 : 256;
		w.d = realloc(w.d, w.capd * sizeof(*w.d));
		ck_assert_ptr_nonnull(w.d);
	}
	struct disc *d = &w.d[w.nd++];
	memset(d, 0, sizeof(*d));
	memcpy(d->ih.b, dv->infohash, 20);
	d->src = dv->source;
	d->npeers = dv->npeers;
	ck_assert_uint_le(dv->npeers, 64);
	for (size_t k = 0; k < dv->npeers; k++)
		ck_assert_int_eq(bt_addr_from_sockaddr(&d->peers[k],
		                                       (const struct sockaddr *)&dv->peers[k],
		                                       sizeof(dv->peers[k])),
		                 0);
	if (dv->npeers)
		d->peer0 = d->peers[0];
	if (dv->from)
		ck_assert_int_eq(bt_addr_from_sockaddr(&d->from, dv->from, dv->fromlen), 0);
	d->found = dv->found_ms;
	d->at = w.now;
}

static int is_known(const uint8_t ih[20], void *ud)
{
	(void)ud;
	w.known_calls++;
	return ih[0] < w.known_below;
}

static void engine_opts(bt_dht_options *o)
{
	*o = (bt_dht_options)BT_DHT_OPTIONS_INIT;
	o->families = BT_DHT_IPV4;
	o->bep42 = BT_DHT_BEP42_OFF;
	o->seed = 4242;
	o->send = send_cb;
	o->max_out_qps = 100;
	o->max_in_qps_ip = 1000;
}

static void crawl_opts(bt_dht_crawl_options *o)
{
	*o = (bt_dht_crawl_options)BT_DHT_CRAWL_OPTIONS_INIT;
	o->on_discovery = on_disc;
	o->allow_local = 1;
	o->node_gap_ms = 1000;
	o->min_interval_s = 5;
	o->seen_capacity = 10000;
	o->max_nodes = 1000;
	o->max_pending = 1000;
}

static void world_init(void)
{
	memset(&w, 0, sizeof(w));
	w.now = T0;
	bt_test_rng = 0x9E3779B97F4A7C15ull;
}

/* Start the engine and the crawler (NULL options: the defaults of engine_opts/crawl_opts). */
static void world_start(const bt_dht_options *eo, const bt_dht_crawl_options *co)
{
	bt_dht_options e;
	bt_dht_crawl_options c;
	engine_opts(&e);
	crawl_opts(&c);
	if (eo)
		e = *eo;
	if (co)
		c = *co;
	ck_assert_int_eq(bt_dht_new(&w.dht, &e, w.now), 0);
	bt_dht_get_id(w.dht, w.self.b);
	ck_assert_int_eq(bt_dht_crawler_new(&w.c, w.dht, &c, w.now), 0);
}

static void world_free(void)
{
	bt_dht_crawler_free(w.c);
	bt_dht_free(w.dht);
	free(w.log);
	free(w.q);
	free(w.d);
	memset(&w, 0, sizeof(w));
}

static void bootstrap(int i)
{
	struct sockaddr_storage ss;
	socklen_t sl = bt_addr_to_sockaddr(&w.f[i].addr, &ss);
	ck_assert_int_eq(bt_dht_add_node(w.dht, (struct sockaddr *)&ss, sl, w.now), 0);
}

static void deliver(void)
{
	while (w.qlen && w.q[w.qhead].due <= w.now) {
		struct qpkt p = w.q[w.qhead];
		w.qhead = (w.qhead + 1) % w.qcap;
		w.qlen--;
		struct sockaddr_storage ss;
		socklen_t sl = bt_addr_to_sockaddr(&p.from, &ss);
		bt_dht_input(w.dht, p.data, p.len, (struct sockaddr *)&ss, sl, w.now);
	}
}

static void run(uint64_t ms)
{
	for (uint64_t t = 0; t < ms; t += STEP_MS) {
		w.now += STEP_MS;
		deliver();
		bt_dht_tick(w.dht, w.now);
	}
}

static bt_dht_crawl_stats cstats(void)
{
	bt_dht_crawl_stats st;
	ck_assert_int_eq(bt_dht_crawler_get_stats(w.c, &st), 0);
	return st;
}

/* Queries of @method (0: any) sent to fake node @i, their times into @t (may be NULL). */
static size_t queries_to(int i, int method, uint64_t *t, size_t max)
{
	size_t n = 0;
	for (size_t k = 0; k < w.nlog; k++) {
		const struct rec *r = &w.log[k];
		if (r->kind != BT_DHT__KRPC_QUERY || r->to != i || (method && r->method != method))
			continue;
		if (t && n < max)
			t[n] = r->t;
		n++;
	}
	return n;
}

static size_t sent_to_addr(const bt_addr *a)
{
	size_t n = 0;
	for (size_t k = 0; k < w.nlog; k++)
		n += bt_addr_eq(&w.log[k].addr, a) || bt_addr_ip_eq(&w.log[k].addr, a);
	return n;
}

static const struct disc *disc_find(const bt_id *ih, size_t *count)
{
	const struct disc *first = NULL;
	size_t n = 0;
	for (size_t k = 0; k < w.nd; k++) {
		if (bt_id_eq(&w.d[k].ih, ih)) {
			if (!first)
				first = &w.d[k];
			n++;
		}
	}
	if (count)
		*count = n;
	return first;
}

static int disc_has_peer(const struct disc *d, const bt_addr *p)
{
	for (size_t k = 0; k < d->npeers; k++)
		if (bt_addr_eq(&d->peers[k], p))
			return 1;
	return 0;
}

/* The most queries in any 1 s window over everything sent. */
static unsigned max_qps_window(void)
{
	unsigned best = 0;
	size_t j = 0;
	/* the log is in time order */
	size_t *idx = malloc((w.nlog + 1) * sizeof(*idx));
	size_t n = 0;
	for (size_t k = 0; k < w.nlog; k++)
		if (w.log[k].kind == BT_DHT__KRPC_QUERY)
			idx[n++] = k;
	for (size_t i = 0; i < n; i++) {
		if (j < i)
			j = i;
		while (j < n && w.log[idx[j]].t < w.log[idx[i]].t + 1000)
			j++;
		if (j - i > best)
			best = (unsigned)(j - i);
	}
	free(idx);
	return best;
}

/* ---- tests ---- */

START_TEST(test_discovery)
{
	world_init();
	const int NF = 20, NIH = 100;
	for (int i = 0; i < NF; i++)
		fake_add(FK_BEP51);
	for (int i = 0; i < NF; i++)
		fake_list_all(i);
	bt_id ihs[100];
	int nholders[100];
	for (int k = 0; k < NIH; k++) {
		rnd_id(&ihs[k]);
		nholders[k] = 2 + (int)(bt_test_rnd() % 2);
		for (int h = 0; h < nholders[k]; h++) {
			/* the node with the fewest, not holding it yet */
			int best = -1;
			for (int i = 0; i < NF; i++)
				if (!holds(&w.f[i], &ihs[k]) &&
				    (best < 0 || w.f[i].nhold < w.f[best].nhold))
					best = i;
			w.f[best].hold[w.f[best].nhold++] = ihs[k];
		}
	}
	for (int i = 0; i < NF; i++)
		ck_assert_int_le(w.f[i].nhold, 20);
	world_start(NULL, NULL);
	bootstrap(0);
	run(40000);

	for (int k = 0; k < NIH; k++) {
		size_t cnt;
		const struct disc *d = disc_find(&ihs[k], &cnt);
		ck_assert_msg(cnt == 1, "infohash %d reported %zu times", k, cnt);
		ck_assert_int_eq(d->src, BT_DHT_SRC_SAMPLE);
		int from = fake_at(&d->from);
		ck_assert_int_ge(from, 0);
		ck_assert(holds(&w.f[from], &ihs[k]));
		ck_assert_uint_ge(d->npeers, 1);
		bt_addr p = peer_of(from, &ihs[k]);
		ck_assert(disc_has_peer(d, &p));
		ck_assert_uint_le(d->found, d->at);
	}
	ck_assert_uint_eq(w.nd, NIH);
	bt_dht_crawl_stats st = cstats();
	ck_assert_uint_eq(st.reported, NIH);
	ck_assert_uint_eq(st.reported_peers, NIH);
	ck_assert_uint_eq(st.seen, NIH);
	ck_assert_uint_gt(st.repeats, 0);
	ck_assert_uint_eq(st.pending, 0);
	ck_assert_uint_eq(st.nodes, NF);
	ck_assert_uint_eq(st.nodes_bep51, NF);
	ck_assert_uint_eq(st.nodes_dead, 0);
	ck_assert_uint_eq(st.overflow, 0);
	world_free();
}
END_TEST

/* Politeness: node_gap_ms per node, the sampling interval per node, max_out_qps overall. */
START_TEST(test_politeness)
{
	world_init();
	const int NF = 12;
	for (int i = 0; i < NF; i++) {
		fake_add(FK_BEP51);
		for (int k = 0; k < 5; k++)
			rnd_id(&w.f[i].hold[w.f[i].nhold++]);
		w.f[i].interval = 30;
		/* even nodes hold more than they return; odd ones return everything */
		w.f[i].num = i % 2 == 0 ? 50 : -1;
	}
	/* node 1 asks for 2 s, below min_interval_s (5): it returns all, so 2 x 5 s */
	w.f[1].interval = 2;
	for (int i = 0; i < NF; i++)
		fake_list_all(i);
	bt_dht_options eo;
	engine_opts(&eo);
	eo.max_out_qps = 8;
	world_start(&eo, NULL);
	bootstrap(0);
	run(100000);

	/* any 1 s window: at most max_out_qps queries */
	ck_assert_uint_le(max_qps_window(), 8);
	ck_assert_uint_ge(max_qps_window(), 4); /* and the budget was used */

	uint64_t t[4096];
	for (int i = 0; i < NF; i++) {
		/* the crawler's own queries to one node: node_gap_ms apart */
		size_t n = 0;
		for (size_t k = 0; k < w.nlog; k++) {
			const struct rec *r = &w.log[k];
			if (r->kind == BT_DHT__KRPC_QUERY && r->to == i &&
			    (r->method == BT_DHT__KRPC_M_SAMPLE_INFOHASHES ||
			     r->method == BT_DHT__KRPC_M_GET_PEERS ||
			     (r->method == BT_DHT__KRPC_M_FIND_NODE &&
			      !bt_id_eq(&r->arg, &w.self))))
				t[n++] = r->t;
		}
		ck_assert_uint_ge(n, 3);
		for (size_t k = 1; k < n; k++)
			ck_assert_msg(t[k] - t[k - 1] >= 1000, "node %d: queries %llu ms apart", i,
			              (unsigned long long)(t[k] - t[k - 1]));
		/* sampling times */
		n = queries_to(i, BT_DHT__KRPC_M_SAMPLE_INFOHASHES, t, 4096);
		uint64_t want = i == 1 ? 10000 : i % 2 == 0 ? 30000 : 60000;
		ck_assert_uint_eq(w.f[i].samples_answered, n);
		ck_assert_uint_ge(n, 100000 / want - 1);
		ck_assert_uint_le(n, 100000 / want + 1);
		for (size_t k = 1; k < n; k++) {
			uint64_t gap = t[k] - t[k - 1];
			ck_assert_msg(gap >= want && gap <= want + 1500,
			              "node %d: resampled after %llu ms, want %llu", i,
			              (unsigned long long)gap, (unsigned long long)want);
		}
	}
	world_free();
}
END_TEST

/* Every query to one node but the engine's own find_node for our id (its bootstrap queries,
 * which are not lookups and do not ask the crawler) is node_gap_ms after the one before: pings,
 * find_node walks, sample_infohashes, get_peers, and the lookups the crawler starts (the engine
 * asks the crawler before a lookup queries a node, and tells it of every query it sends). */
START_TEST(test_politeness_all_queries)
{
	world_init();
	const int NF = 12;
	for (int i = 0; i < NF; i++) {
		fake_add(FK_BEP51);
		for (int k = 0; k < 5; k++)
			rnd_id(&w.f[i].hold[w.f[i].nhold++]);
		w.f[i].peers = i % 3 != 0; /* some infohashes need a lookup */
	}
	for (int i = 0; i < NF; i++)
		fake_list_all(i);
	world_start(NULL, NULL);
	bootstrap(0);
	run(60000);
	ck_assert_uint_gt(cstats().lookups, 0);
	for (int i = 0; i < NF; i++) {
		uint64_t last = 0;
		size_t n = 0;
		for (size_t k = 0; k < w.nlog; k++) {
			const struct rec *r = &w.log[k];
			if (r->kind != BT_DHT__KRPC_QUERY || r->to != i ||
			    (r->method == BT_DHT__KRPC_M_FIND_NODE && bt_id_eq(&r->arg, &w.self)))
				continue;
			if (n++)
				ck_assert_msg(
				    r->t - last >= 1000,
				    "node %d: method %d %llu ms after the query before, at %llu", i,
				    r->method, (unsigned long long)(r->t - last),
				    (unsigned long long)(r->t - T0));
			last = r->t;
		}
		ck_assert_uint_ge(n, 10);
	}
	world_free();
}
END_TEST

/* A node answering sample_infohashes with 204 is walked with find_node instead; the nodes it
 * lists are sampled. */
START_TEST(test_no_bep51)
{
	world_init();
	int x = fake_add(FK_NO51);
	for (int i = 0; i < 3; i++) {
		int y = fake_add(FK_BEP51);
		for (int k = 0; k < 3; k++)
			rnd_id(&w.f[y].hold[w.f[y].nhold++]);
		w.f[x].list[w.f[x].nlist++] = y;
	}
	world_start(NULL, NULL);
	bootstrap(x);
	run(100000);
	uint64_t ts[64];
	ck_assert_uint_eq(queries_to(x, BT_DHT__KRPC_M_SAMPLE_INFOHASHES, ts, 64), 1);
	uint64_t first_walk = 0;
	for (size_t k = 0; k < w.nlog; k++) {
		const struct rec *r = &w.log[k];
		if (r->kind == BT_DHT__KRPC_QUERY && r->to == x &&
		    r->method == BT_DHT__KRPC_M_FIND_NODE && !bt_id_eq(&r->arg, &w.self)) {
			first_walk = r->t;
			break;
		}
	}
	ck_assert_uint_gt(first_walk, ts[0]);
	ck_assert_uint_ge(first_walk - ts[0], 1000); /* node_gap_ms */
	for (int y = 1; y <= 3; y++) {
		ck_assert_uint_ge(queries_to(y, BT_DHT__KRPC_M_SAMPLE_INFOHASHES, NULL, 0), 1);
		for (int k = 0; k < 3; k++) {
			size_t cnt;
			const struct disc *d = disc_find(&w.f[y].hold[k], &cnt);
			ck_assert_uint_eq(cnt, 1);
			ck_assert(bt_addr_eq(&d->from, &w.f[y].addr));
		}
	}
	bt_dht_crawl_stats st = cstats();
	ck_assert_uint_eq(st.nodes, 4);
	ck_assert_uint_eq(st.nodes_bep51, 3);
	ck_assert_uint_eq(st.nodes_replied, 4);
	ck_assert_uint_eq(st.reported, 9);
	ck_assert_uint_ge(st.find_node_sent, 1);
	world_free();
}
END_TEST

/* Contacts that cannot be public DHT nodes are never sent anything, and counted. */
START_TEST(test_sanitising)
{
	world_init();
	int b = fake_add(FK_BEP51);
	int g = fake_add(FK_BEP51);
	rnd_id(&w.f[b].hold[w.f[b].nhold++]);
	rnd_id(&w.f[g].hold[w.f[g].nhold++]);
	w.f[b].list[w.f[b].nlist++] = g;
	w.f[b].interval = 5;
	w.f[b].num = 10;
	world_start(NULL, NULL);
	bt_dht_crawl_options co;
	crawl_opts(&co);
	co.allow_local = 0;
	ck_assert_int_eq(bt_dht_crawler_set_options(w.c, &co), 0);
	bt_addr bad[] = {
	    mkaddr(20, 1, 0, 1, 0),           /* port 0 */
	    mkaddr(20, 1, 0, 2, 6881),        /* our own id (below) */
	    mkaddr(0, 0, 0, 0, 6881),         /* this network */
	    mkaddr(224, 0, 0, 1, 6881),       /* multicast */
	    mkaddr(240, 0, 0, 1, 6881),       /* reserved */
	    mkaddr(255, 255, 255, 255, 6881), /* broadcast */
	    mkaddr(127, 0, 0, 5, 6881),       /* loopback */
	    mkaddr(10, 1, 2, 3, 6881),        /* private */
	    mkaddr(192, 168, 1, 1, 6881),     /* private */
	};
	const unsigned NBAD = sizeof(bad) / sizeof(bad[0]);
	for (unsigned k = 0; k < NBAD; k++) {
		bt_id id;
		rnd_id(&id);
		extra_add(b, k == 1 ? &w.self : &id, &bad[k]);
	}
	bootstrap(b);
	run(20000);
	for (unsigned k = 0; k < NBAD; k++)
		ck_assert_msg(sent_to_addr(&bad[k]) == 0, "contact %u was sent something", k);
	ck_assert_uint_ge(w.f[b].samples_answered, 3);
	ck_assert_uint_ge(queries_to(g, BT_DHT__KRPC_M_SAMPLE_INFOHASHES, NULL, 0), 1);
	bt_dht_crawl_stats st = cstats();
	ck_assert_uint_eq(st.nodes_rejected, NBAD * w.f[b].samples_answered);
	ck_assert_uint_eq(st.nodes, 2);
	ck_assert_uint_eq(st.reported, 2);
	world_free();
}
END_TEST

/* A node that never answers: DEAD_FAILS tries, growing gaps, then never again. */
START_TEST(test_dead_node)
{
	world_init();
	int a = fake_add(FK_BEP51);
	int d = fake_add(FK_DEAD);
	rnd_id(&w.f[a].hold[w.f[a].nhold++]);
	w.f[a].list[w.f[a].nlist++] = d;
	world_start(NULL, NULL);
	bootstrap(a);
	run(200000);
	uint64_t t[64];
	/* the crawler's queries (the engine's own lookups of our id ask it too: not counted) */
	size_t n = queries_to(d, BT_DHT__KRPC_M_SAMPLE_INFOHASHES, t, 64);
	ck_assert_uint_eq(queries_to(d, BT_DHT__KRPC_M_GET_PEERS, NULL, 0), 0);
	for (size_t k = 0; k < w.nlog; k++)
		ck_assert(w.log[k].to != d || w.log[k].method != BT_DHT__KRPC_M_FIND_NODE ||
		          bt_id_eq(&w.log[k].arg, &w.self));
	/* 3 tries of 1 + query_retries (1) datagrams each */
	ck_assert_uint_eq(n, 6);
	for (size_t k = 0; k < 6; k += 2)
		ck_assert_uint_eq(t[k + 1] - t[k], 2000); /* the engine's retry: query_timeout_ms */
	uint64_t g1 = t[2] - t[0], g2 = t[4] - t[2];
	ck_assert_uint_ge(g1, 4000 + 15000);
	ck_assert_uint_ge(g2, 4000 + 30000);
	ck_assert_uint_gt(g2, g1);
	ck_assert_uint_lt(t[5] + 4000, w.now - 100000); /* and then silence for 100 s */
	bt_dht_crawl_stats st = cstats();
	ck_assert_uint_eq(st.nodes_dead, 1);
	ck_assert_uint_eq(st.timeouts, 3);
	ck_assert_uint_eq(st.nodes_replied, 1);
	world_free();
}
END_TEST

/* A node answering with a new id every time: its samples are ignored. */
START_TEST(test_spoofer)
{
	world_init();
	int a = fake_add(FK_BEP51);
	int sp = fake_add(FK_SPOOF);
	for (int k = 0; k < 5; k++)
		rnd_id(&w.f[a].hold[w.f[a].nhold++]);
	for (int k = 0; k < 10; k++)
		rnd_id(&w.f[sp].hold[w.f[sp].nhold++]);
	w.f[sp].hold[w.f[sp].nhold++] = w.f[a].hold[0]; /* shared with the honest node */
	w.f[a].list[w.f[a].nlist++] = sp;
	w.f[sp].list[w.f[sp].nlist++] = a;
	w.f[a].interval = w.f[sp].interval = 5;
	world_start(NULL, NULL);
	bootstrap(a);
	run(60000);
	ck_assert_uint_ge(w.f[sp].samples_answered, 2);
	for (int k = 0; k < 10; k++) {
		size_t cnt;
		disc_find(&w.f[sp].hold[k], &cnt);
		ck_assert_msg(cnt == 0, "a spoofer's sample %d was reported", k);
	}
	for (int k = 0; k < 5; k++) {
		size_t cnt;
		const struct disc *d = disc_find(&w.f[a].hold[k], &cnt);
		ck_assert_uint_eq(cnt, 1);
		ck_assert(bt_addr_eq(&d->from, &w.f[a].addr));
	}
	/* after it was found out, the spoofer is not sampled again */
	uint64_t t[64];
	size_t n = queries_to(sp, BT_DHT__KRPC_M_SAMPLE_INFOHASHES, t, 64);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(queries_to(sp, BT_DHT__KRPC_M_GET_PEERS, NULL, 0), 0);
	bt_dht_crawl_stats st = cstats();
	ck_assert_uint_eq(st.nodes_spoofing, 1);
	ck_assert_uint_eq(st.reported, 5);
	world_free();
}
END_TEST

/* The seen-set and is_known: each infohash is reported once, known ones never. */
START_TEST(test_dedup_known)
{
	world_init();
	bt_id ihs[30];
	for (int k = 0; k < 30; k++) {
		rnd_id(&ihs[k]);
		ihs[k].b[0] = k < 10 ? 5 : 200;
	}
	for (int i = 0; i < 3; i++) {
		int f = fake_add(FK_BEP51);
		memcpy(w.f[f].hold, ihs, sizeof(ihs));
		w.f[f].nhold = 30;
		w.f[f].interval = 600;
	}
	for (int i = 0; i < 3; i++)
		fake_list_all(i);
	w.known_below = 10;
	bt_dht_crawl_options co;
	crawl_opts(&co);
	co.is_known = is_known;
	world_start(NULL, &co);
	bootstrap(0);
	run(60000);
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(w.f[i].samples_answered, 1);
	for (int k = 0; k < 30; k++) {
		size_t cnt;
		const struct disc *d = disc_find(&ihs[k], &cnt);
		ck_assert_uint_eq(cnt, k < 10 ? 0 : 1);
		if (d)
			ck_assert_uint_eq(d->npeers, 1);
	}
	ck_assert_uint_eq(w.known_calls, 30);
	bt_dht_crawl_stats st = cstats();
	ck_assert_uint_eq(st.sampled, 90);
	ck_assert_uint_eq(st.known, 10);
	ck_assert_uint_eq(st.seen, 20);
	ck_assert_uint_eq(st.repeats, 60);
	ck_assert_uint_eq(st.reported, 20);
	world_free();
}
END_TEST

/* No peers within peer_wait_ms of the first query for them: reported without, when the wait
 * is over. */
START_TEST(test_no_peers_wait)
{
	world_init();
	int a = fake_add(FK_BEP51);
	for (int k = 0; k < 5; k++)
		rnd_id(&w.f[a].hold[w.f[a].nhold++]);
	w.f[a].gp_silent = 1;
	w.f[a].interval = 600;
	bt_dht_crawl_options co;
	crawl_opts(&co);
	co.peer_wait_ms = 3000;
	world_start(NULL, &co);
	bootstrap(a);
	run(20000);
	ck_assert_uint_eq(w.nd, 5);
	for (int k = 0; k < 5; k++) {
		size_t cnt;
		const struct disc *d = disc_find(&w.f[a].hold[k], &cnt);
		ck_assert_uint_eq(cnt, 1);
		ck_assert_uint_eq(d->npeers, 0);
		ck_assert_int_eq(d->src, BT_DHT_SRC_SAMPLE);
		/* The wait counts from its get_peers, which go to the silent node one at a time,
		 * each after the one before timed out (2 tries of 2000 ms). */
		ck_assert_uint_ge(d->at, d->found + 3000);
		ck_assert_uint_le(d->at, d->found + 3000 + 5 * 4000 + STEP_MS);
	}
	ck_assert_uint_ge(queries_to(a, BT_DHT__KRPC_M_GET_PEERS, NULL, 0), 1);
	bt_dht_crawl_stats st = cstats();
	ck_assert_uint_eq(st.reported, 5);
	ck_assert_uint_eq(st.reported_peers, 0);
	ck_assert_uint_eq(st.pending, 0);
	world_free();
}
END_TEST

/* The holder has no peers and a lookup finds none: reported without peers when the lookup ends
 * (before peer_wait_ms). */
START_TEST(test_no_peers_lookup)
{
	world_init();
	for (int i = 0; i < 4; i++) {
		int f = fake_add(FK_BEP51);
		w.f[f].peers = 0;
		w.f[f].interval = 600;
	}
	for (int k = 0; k < 3; k++)
		rnd_id(&w.f[0].hold[w.f[0].nhold++]);
	for (int i = 0; i < 4; i++)
		fake_list_all(i);
	world_start(NULL, NULL);
	bootstrap(0);
	run(40000);
	for (int k = 0; k < 3; k++) {
		size_t cnt;
		const struct disc *d = disc_find(&w.f[0].hold[k], &cnt);
		ck_assert_uint_eq(cnt, 1);
		ck_assert_uint_eq(d->npeers, 0);
		ck_assert_uint_lt(d->at, d->found + 30000);
	}
	bt_dht_crawl_stats st = cstats();
	ck_assert_uint_eq(st.reported, 3);
	ck_assert_uint_eq(st.lookups, 3);
	ck_assert_uint_eq(st.reported_peers, 0);
	world_free();
}
END_TEST

/* Infohashes other nodes announce to us or ask us for. */
START_TEST(test_passive)
{
	world_init();
	int p = fake_add(FK_BEP51);
	bt_id ih1, ih2;
	rnd_id(&ih1);
	rnd_id(&ih2);
	w.f[p].hold[w.f[p].nhold++] = ih1; /* the lookup for ih1 finds its peer at p */
	w.f[p].hide = 1;
	world_start(NULL, NULL);
	bootstrap(p); /* so the engine's table has a node for the lookup */
	run(3000);
	ck_assert_uint_eq(w.nd, 0);
	w.ninbox = 0;
	uint64_t t_in = w.now;
	struct sockaddr_storage ss;
	socklen_t sl = bt_addr_to_sockaddr(&w.f[p].addr, &ss);
	uint8_t mem[1500];
	bt_buf b;
	bt_dht__krpc_msg q;
	memset(&q, 0, sizeof(q));
	q.kind = BT_DHT__KRPC_QUERY;
	q.method = BT_DHT__KRPC_M_GET_PEERS;
	q.t = (const uint8_t *)"g1";
	q.tlen = 2;
	q.has_id = true;
	q.id = w.f[p].id;
	q.has_info_hash = true;
	q.info_hash = ih1;
	bt_buf_init_fixed(&b, mem, sizeof(mem));
	ck_assert_int_eq(bt_dht__krpc_encode(&b, &q), 0);
	ck_assert_int_eq(bt_dht_input(w.dht, b.data, b.len, (struct sockaddr *)&ss, sl, w.now), 0);
	ck_assert_int_eq(w.ninbox, 1);
	bt_dht__krpc_msg r;
	ck_assert_int_eq(bt_dht__krpc_parse(&r, w.inbox[0], w.inbox_len[0]), 0);
	ck_assert_ptr_nonnull(r.token);
	uint8_t token[64];
	size_t tlen = r.token_len;
	memcpy(token, r.token, tlen);
	ck_assert_uint_eq(w.nd, 0); /* ih1 waits for its peers */

	memset(&q, 0, sizeof(q));
	q.kind = BT_DHT__KRPC_QUERY;
	q.method = BT_DHT__KRPC_M_ANNOUNCE_PEER;
	q.t = (const uint8_t *)"a1";
	q.tlen = 2;
	q.has_id = true;
	q.id = w.f[p].id;
	q.has_info_hash = true;
	q.info_hash = ih2;
	q.port = 7000;
	q.token = token;
	q.token_len = tlen;
	bt_buf_init_fixed(&b, mem, sizeof(mem));
	ck_assert_int_eq(bt_dht__krpc_encode(&b, &q), 0);
	ck_assert_int_eq(bt_dht_input(w.dht, b.data, b.len, (struct sockaddr *)&ss, sl, w.now), 0);
	ck_assert_int_eq(w.ninbox, 2);
	ck_assert_int_eq(bt_dht__krpc_parse(&r, w.inbox[1], w.inbox_len[1]), 0);
	ck_assert_int_eq(r.kind, BT_DHT__KRPC_RESPONSE); /* the token was good */
	/* announced: reported at once, with the announced peer */
	ck_assert_uint_eq(w.nd, 1);
	size_t cnt;
	const struct disc *d = disc_find(&ih2, &cnt);
	ck_assert_uint_eq(cnt, 1);
	ck_assert_int_eq(d->src, BT_DHT_SRC_ANNOUNCE);
	ck_assert_uint_eq(d->npeers, 1);
	bt_addr want = w.f[p].addr;
	want.port = 7000;
	ck_assert(bt_addr_eq(&d->peer0, &want));
	ck_assert(bt_addr_eq(&d->from, &w.f[p].addr));
	ck_assert_uint_eq(d->found, t_in);

	run(20000);
	d = disc_find(&ih1, &cnt);
	ck_assert_uint_eq(cnt, 1);
	ck_assert_int_eq(d->src, BT_DHT_SRC_GET_PEERS);
	ck_assert(bt_addr_eq(&d->from, &w.f[p].addr));
	ck_assert_uint_eq(d->npeers, 1);
	bt_addr pp = peer_of(p, &ih1);
	ck_assert(bt_addr_eq(&d->peer0, &pp));
	ck_assert_uint_eq(d->found, t_in);
	ck_assert_uint_lt(d->at, t_in + 1000);
	disc_find(&ih2, &cnt);
	ck_assert_uint_eq(cnt, 1);
	bt_dht_crawl_stats st = cstats();
	ck_assert_uint_eq(st.reported, 2);
	ck_assert_uint_eq(st.reported_peers, 2);
	ck_assert_uint_eq(st.lookups, 1);
	world_free();
}
END_TEST

/* flush() reports everything waiting for peers, once. */
START_TEST(test_flush)
{
	world_init();
	int a = fake_add(FK_BEP51);
	for (int k = 0; k < 20; k++)
		rnd_id(&w.f[a].hold[w.f[a].nhold++]);
	w.f[a].gp_silent = 1;
	w.f[a].interval = 10;
	world_start(NULL, NULL);
	bootstrap(a);
	run(3000);
	ck_assert_uint_eq(w.nd, 0);
	bt_dht_crawl_stats st = cstats();
	ck_assert_uint_eq(st.pending, 20);
	ck_assert_uint_eq(bt_dht_crawler_flush(w.c, w.now), 20);
	ck_assert_uint_eq(w.nd, 20);
	for (int k = 0; k < 20; k++) {
		size_t cnt;
		const struct disc *d = disc_find(&w.f[a].hold[k], &cnt);
		ck_assert_uint_eq(cnt, 1);
		ck_assert_uint_eq(d->npeers, 0);
		ck_assert_int_eq(d->src, BT_DHT_SRC_SAMPLE);
		ck_assert_uint_eq(d->at, w.now);
	}
	st = cstats();
	ck_assert_uint_eq(st.pending, 0);
	ck_assert_uint_eq(st.reported, 20);
	ck_assert_uint_eq(bt_dht_crawler_flush(w.c, w.now), 0);
	run(60000); /* late answers, timeouts, samples again */
	ck_assert_uint_ge(w.f[a].samples_answered, 2);
	ck_assert_uint_eq(w.nd, 20);
	ck_assert_uint_eq(cstats().reported, 20);
	world_free();
}
END_TEST

/* More infohashes than max_pending: the oldest waiting are pushed out and reported as they
 * are, each exactly once, and the queue keeps working for what comes after. */
START_TEST(test_pending_overflow)
{
	world_init();
	int holders[3];
	for (int i = 0; i < 3; i++) {
		holders[i] = fake_add(FK_BEP51);
		for (int k = 0; k < 20; k++)
			rnd_id(&w.f[holders[i]].hold[w.f[holders[i]].nhold++]);
		w.f[holders[i]].gp_silent = 1;
		w.f[holders[i]].interval = 600;
	}
	for (int i = 0; i < 3; i++)
		fake_list_all(holders[i]);
	bt_dht_crawl_options co;
	crawl_opts(&co);
	co.max_pending = 8;
	co.peer_wait_ms = 5000;
	world_start(NULL, &co);
	bootstrap(holders[0]);
	run(120000);
	bt_dht_crawl_stats st = cstats();
	ck_assert_uint_eq(w.nd, 60);
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 20; k++) {
			size_t cnt;
			disc_find(&w.f[holders[i]].hold[k], &cnt);
			ck_assert_uint_eq(cnt, 1);
		}
	ck_assert_uint_ge(st.overflow, 40);
	ck_assert_uint_eq(st.pending, 0);
	ck_assert_uint_eq(st.reported, 60);

	/* a node with peers for its infohashes, found after all that */
	int b = fake_add(FK_BEP51);
	for (int k = 0; k < 6; k++)
		rnd_id(&w.f[b].hold[w.f[b].nhold++]);
	bootstrap(b);
	run(30000);
	ck_assert_uint_eq(w.nd, 66);
	for (int k = 0; k < 6; k++) {
		size_t cnt;
		const struct disc *d = disc_find(&w.f[b].hold[k], &cnt);
		ck_assert_uint_eq(cnt, 1);
		ck_assert_uint_ge(d->npeers, 1);
	}
	world_free();
}
END_TEST

/* Sends our engine a query from fake node @f: get_peers (no @token) or announce_peer of @ih;
 * returns our answer's token in @tok (get_peers). */
static size_t query_from(int f, const bt_id *ih, const uint8_t *token, size_t tlen, uint8_t *tok)
{
	struct sockaddr_storage ss;
	socklen_t sl = bt_addr_to_sockaddr(&w.f[f].addr, &ss);
	uint8_t mem[1500];
	bt_buf b;
	bt_dht__krpc_msg q;
	memset(&q, 0, sizeof(q));
	q.kind = BT_DHT__KRPC_QUERY;
	q.method = token ? BT_DHT__KRPC_M_ANNOUNCE_PEER : BT_DHT__KRPC_M_GET_PEERS;
	q.t = (const uint8_t *)"q1";
	q.tlen = 2;
	q.has_id = true;
	q.id = w.f[f].id;
	q.has_info_hash = true;
	q.info_hash = *ih;
	q.port = 7001;
	q.token = token;
	q.token_len = tlen;
	bt_buf_init_fixed(&b, mem, sizeof(mem));
	ck_assert_int_eq(bt_dht__krpc_encode(&b, &q), 0);
	w.ninbox = 0;
	ck_assert_int_eq(bt_dht_input(w.dht, b.data, b.len, (struct sockaddr *)&ss, sl, w.now), 0);
	ck_assert_int_eq(w.ninbox, 1);
	bt_dht__krpc_msg r;
	ck_assert_int_eq(bt_dht__krpc_parse(&r, w.inbox[0], w.inbox_len[0]), 0);
	if (token || !r.token)
		return 0;
	memcpy(tok, r.token, r.token_len);
	return r.token_len;
}

/* An infohash waiting for its lookup (only asked for) is announced: reported at once, once,
 * with the announced peer; the lookup's end reports nothing more. */
START_TEST(test_passive_then_announce)
{
	world_init();
	int p = fake_add(FK_BEP51);
	w.f[p].hide = 1;
	world_start(NULL, NULL);
	bootstrap(p);
	run(3000);
	bt_id ih;
	rnd_id(&ih);
	uint8_t tok[64];
	size_t tlen = query_from(p, &ih, NULL, 0, tok);
	ck_assert_uint_gt(tlen, 0);
	ck_assert_uint_eq(cstats().pending, 1); /* its lookup starts on the next tick */
	ck_assert_uint_eq(w.nd, 0);
	query_from(p, &ih, tok, tlen, NULL);
	ck_assert_uint_eq(w.nd, 1);
	size_t cnt;
	const struct disc *d = disc_find(&ih, &cnt);
	ck_assert_uint_eq(cnt, 1);
	ck_assert_int_eq(d->src, BT_DHT_SRC_GET_PEERS);
	ck_assert_uint_eq(d->npeers, 1);
	ck_assert_uint_eq(cstats().pending, 0);
	run(40000);
	ck_assert_uint_eq(w.nd, 1);
	world_free();
}
END_TEST

/* Options: checked, changed at run time; one crawler per node; freeing in either order. */
START_TEST(test_options)
{
	world_init();
	for (int i = 0; i < 4; i++) {
		int f = fake_add(FK_BEP51);
		rnd_id(&w.f[f].hold[w.f[f].nhold++]);
		w.f[f].interval = 1; /* sampled again every 2 s: often, until the gap grows */
	}
	for (int i = 0; i < 4; i++)
		fake_list_all(i);
	bt_dht_crawl_options co;
	crawl_opts(&co);
	co.min_interval_s = 1;
	world_start(NULL, &co);
	bt_dht_crawler *c2 = (bt_dht_crawler *)&co;
	co.version = 2;
	ck_assert_int_eq(bt_dht_crawler_new(&c2, w.dht, &co, w.now), BT_DHT_E_VERSION);
	ck_assert_ptr_null(c2);
	ck_assert_int_eq(bt_dht_crawler_set_options(w.c, &co), BT_DHT_E_VERSION);
	crawl_opts(&co);
	co.max_peers = 65;
	ck_assert_int_eq(bt_dht_crawler_new(&c2, w.dht, &co, w.now), BT_DHT_E_INVAL);
	ck_assert_int_eq(bt_dht_crawler_set_options(w.c, &co), BT_DHT_E_INVAL);
	crawl_opts(&co);
	co.on_discovery = NULL;
	ck_assert_int_eq(bt_dht_crawler_new(&c2, w.dht, &co, w.now), BT_DHT_E_INVAL);
	ck_assert_int_eq(bt_dht_crawler_set_options(w.c, &co), BT_DHT_E_INVAL);
	crawl_opts(&co);
	ck_assert_int_eq(bt_dht_crawler_new(&c2, w.dht, &co, w.now), BT_DHT_E_LIMIT);
	ck_assert_ptr_null(c2);
	ck_assert_int_eq(bt_dht_crawler_set_options(NULL, &co), BT_DHT_E_INVAL);
	ck_assert_int_eq(bt_dht_crawler_get_stats(w.c, NULL), BT_DHT_E_INVAL);
	bt_dht_crawler_free(NULL);

	bootstrap(0);
	run(20000);
	uint64_t change = w.now;
	co.min_interval_s = 1;
	co.node_gap_ms = 5000;
	ck_assert_int_eq(bt_dht_crawler_set_options(w.c, &co), 0);
	run(40000);
	for (int i = 0; i < 4; i++) {
		uint64_t last = 0, min_before = UINT64_MAX, min_after = UINT64_MAX;
		size_t after = 0;
		for (size_t k = 0; k < w.nlog; k++) {
			const struct rec *r = &w.log[k];
			if (r->kind != BT_DHT__KRPC_QUERY || r->to != i ||
			    (r->method == BT_DHT__KRPC_M_FIND_NODE && bt_id_eq(&r->arg, &w.self)))
				continue;
			if (last && r->t < change && r->t - last < min_before)
				min_before = r->t - last;
			if (last && r->t > change + 1000) {
				after++;
				if (r->t - last < min_after)
					min_after = r->t - last;
			}
			last = r->t;
		}
		ck_assert_uint_lt(min_before, 5000); /* sampled every 2 s before */
		ck_assert_uint_ge(after, 4);
		ck_assert_msg(min_after >= 5000, "node %d asked %llu ms apart after the change", i,
		              (unsigned long long)min_after);
	}

	/* the node freed first: the crawler stays usable until freed */
	w.f[0].gp_silent = 1;
	bt_dht_free(w.dht);
	w.dht = NULL;
	ck_assert_uint_eq(bt_dht_crawler_flush(w.c, w.now), 0);
	ck_assert_int_eq(bt_dht_crawler_get_stats(w.c, &(bt_dht_crawl_stats){0}), 0);
	ck_assert_int_eq(bt_dht_crawler_set_options(w.c, &co), 0);
	bt_dht_crawler_free(w.c);
	w.c = NULL;
	world_free();
}
END_TEST

/* The node freed first while infohashes wait for peers (one in a lookup). */
START_TEST(test_free_node_first)
{
	world_init();
	int a = fake_add(FK_BEP51);
	int dead = fake_add(FK_DEAD); /* keeps the lookups running */
	for (int k = 0; k < 4; k++)
		rnd_id(&w.f[a].hold[w.f[a].nhold++]);
	w.f[a].peers = 0;
	w.f[a].list[w.f[a].nlist++] = dead;
	world_start(NULL, NULL);
	bootstrap(a);
	/* bootstrap find_node at 0, sample at 1 s, get_peers at 2 s (node_gap_ms 1000 each) */
	run(2500);
	bt_dht_crawl_stats st = cstats();
	ck_assert_uint_eq(w.nd, 0);
	ck_assert_uint_eq(st.pending, 4);
	ck_assert_uint_eq(st.lookups, 1);
	bt_dht_stats es;
	ck_assert_int_eq(bt_dht_get_stats(w.dht, &es, w.now), 0);
	ck_assert_uint_ge(es.searches, 1);
	bt_dht_free(w.dht);
	w.dht = NULL;
	ck_assert_uint_eq(bt_dht_crawler_flush(w.c, w.now), 4);
	ck_assert_uint_eq(w.nd, 4);
	bt_dht_crawler_free(w.c);
	w.c = NULL;
	world_free();
}
END_TEST

/* A seen-set of 1000: memory does not grow with what it has seen; what it forgot is reported
 * again. */
START_TEST(test_seen_bound)
{
	world_init();
	const int NF = 10;
	for (int i = 0; i < NF; i++) {
		int f = fake_add(FK_BEP51);
		w.f[f].fresh = 45;
		w.f[f].num = 1000;
		w.f[f].interval = 1;
	}
	int kf = fake_add(FK_BEP51); /* the same 10 every time, again after 2 x 8 s */
	for (int k = 0; k < 10; k++)
		rnd_id(&w.f[kf].hold[w.f[kf].nhold++]);
	w.f[kf].interval = 8;
	for (int i = 0; i <= NF; i++)
		fake_list_all(i);
	bt_dht_crawl_options co;
	crawl_opts(&co);
	co.seen_capacity = 1000;
	co.min_interval_s = 1;
	co.no_get_peers = 1;
	world_start(NULL, &co);
	uint64_t mem0 = cstats().memory;
	ck_assert_uint_ge(mem0, 2 * 1000 * 20 / 8);
	bootstrap(kf);
	run(20000);
	bt_dht_crawl_stats st = cstats();
	ck_assert_uint_eq(st.memory, mem0);
	ck_assert_uint_gt(st.sampled, 3000);
	ck_assert_uint_eq(w.f[kf].samples_answered, 2);
	/* the fresh ones are all new; kf's 10 are repeats only if still remembered */
	for (int k = 0; k < 10; k++) {
		size_t cnt;
		disc_find(&w.f[kf].hold[k], &cnt);
		ck_assert_uint_eq(cnt, 2);
	}
	/* every sampled infohash is new but for Bloom false positives (below 1 in 10,000 per
	 * filter at capacity) */
	ck_assert_uint_le(st.repeats, st.sampled / 1000);
	ck_assert_uint_eq(st.seen + st.repeats, st.sampled);
	ck_assert_uint_eq(st.reported, st.seen);
	ck_assert_uint_eq(w.nd, st.seen);
	world_free();
}
END_TEST

static Suite *crawler_suite(void)
{
	Suite *s = suite_create("dht-crawler");
	TCase *tc = tcase_create("crawl");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_discovery);
	tcase_add_test(tc, test_politeness);
	tcase_add_test(tc, test_politeness_all_queries);
	tcase_add_test(tc, test_no_bep51);
	tcase_add_test(tc, test_sanitising);
	tcase_add_test(tc, test_dead_node);
	tcase_add_test(tc, test_spoofer);
	tcase_add_test(tc, test_dedup_known);
	tcase_add_test(tc, test_no_peers_wait);
	tcase_add_test(tc, test_no_peers_lookup);
	tcase_add_test(tc, test_passive);
	tcase_add_test(tc, test_flush);
	tcase_add_test(tc, test_pending_overflow);
	tcase_add_test(tc, test_passive_then_announce);
	tcase_add_test(tc, test_options);
	tcase_add_test(tc, test_free_node_first);
	tcase_add_test(tc, test_seen_bound);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return bt_test_run(crawler_suite());
}
