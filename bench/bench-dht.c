/*
 * bench-dht.c - how many queries one libbtdht node answers per second, and how much memory its
 * tables take per entry.
 *
 * "dht serve": a node on the UDP transport (bt_dht_udp_new) runs its own libevent loop in its own
 * thread, bound to 127.0.0.31.  The main thread is the load: 64 UDP sockets on 127.0.1.1..64,
 * each a well-behaved DHT node with its own id.  They first fill the node's routing table by
 * answering its bootstrap and lookup queries (so find_node and get_peers answers carry 8 real
 * nodes), then fetch tokens and announce 1,000 infohashes with 20 peers each; then they keep a
 * window of queries in flight - 40% ping, 30% find_node, 30% get_peers (a third of those for an
 * announced infohash, so the answer carries 20 values) - sent with sendmmsg() and read with
 * recvmmsg(), for a fixed time, and count the answers.  The window is the smallest that
 * saturates the node, found by a short ramp unless given.  The node's limits are raised so that
 * they are not what is measured (max_in_qps_ip 0 disables the per-IP limiter).  Kernel drops
 * for full receive buffers are read from /proc/net/snmp around the run.  Besides the rate, the
 * line gives the node thread's CPU time per answered query and the rate that makes on a core of
 * its own: on a shared machine the rate follows the CPU share the node gets, the cost does not.
 *
 * "dht memory": bytes per routing-table entry (a table filled down to its deepest bucket, and one
 * fed a million random ids as a real node's is), and bytes per stored peer and per infohash of
 * the announce store (10,000 x 20 and 100,000 x 1 IPv4 peers), as the tables count them and as
 * the heap grew (mallinfo2, allocator overhead included).
 *
 * usage: bench-dht [SECONDS [WINDOW]]   (default 3 s; the window found by the ramp)
 * Loopback only; every loop is bounded in time or count; it stops by itself.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "addr.h"
#include "bench-util.h"
#include "btdht.h"
#include "buf.h"
#include "id.h"
#include "krpc.h"
#include "peerstore.h"
#include "rtable.h"

#define NODE_IP "127.0.0.31"
#define NSRC 64   /* load sockets, 127.0.1.1 .. 127.0.1.64 */
#define BATCH 32  /* datagrams per sendmmsg() / recvmmsg() */
#define SRC_RUN 8 /* consecutive queries from one socket */
#define MAX_WINDOW 8192
#define QMAX 512  /* room for one query we encode */
#define RMAX 1536 /* room for one datagram we receive */
#define NIH 1000  /* infohashes announced */
#define PEERS_PER_IH 20
#define MS 1000000ull        /* ns */
#define LOST_NS (1000 * MS)  /* a query unanswered this long is lost */
#define SETUP_NS (5000 * MS) /* bound of the table-filling phase */
#define QUIET_NS (300 * MS)  /* the node is done looking up when silent this long */
#define RAMP_NS (200 * MS)   /* one step of the window ramp */
#define SOCKBUF (4 << 20)

static void rand_id(bt_id *id)
{
	for (int i = 0; i < BT_ID_LEN; i++)
		id->b[i] = (uint8_t)bench_rnd();
}

/* ---------------------------------------------------------------------------------------------
 * The node under test: its own event base and thread.  The main thread only touches it before
 * the thread starts and after it has been joined; in between it is asked to stop through an
 * atomic flag that a timer on its own loop polls.
 * ------------------------------------------------------------------------------------------- */

struct node {
	struct event_base *base;
	bt_dht_udp *udp;
	struct event *stop_check;
	atomic_bool stop;
	struct sockaddr_in addr;
	pthread_t thread;
	bool running;
};

static void on_stop_check(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;
	(void)fd;
	(void)what;
	if (atomic_load(&n->stop))
		event_base_loopbreak(n->base);
}

static void *node_main(void *arg)
{
	struct node *n = arg;
	pthread_setname_np(pthread_self(), "dht-node"); /* for perf and top */
	event_base_dispatch(n->base);
	return NULL;
}

static int node_open(struct node *n)
{
	memset(n, 0, sizeof(*n));
	atomic_init(&n->stop, false);
	n->base = event_base_new();
	if (!n->base) {
		fprintf(stderr, "bench-dht: event_base_new failed\n");
		return -1;
	}
	bt_dht_udp_options o = BT_DHT_UDP_OPTIONS_INIT;
	o.bind4 = NODE_IP ":0";
	o.dht.max_in_qps_ip = 0;      /* dht.c limiter_allow(): 0 is "no per-IP limit" */
	o.dht.max_out_bps = UINT_MAX; /* replies must not be throttled */
	o.dht.max_out_qps = 100000;   /* its own lookups while the table fills */
	int rc = bt_dht_udp_new(&n->udp, n->base, &o);
	if (rc < 0) {
		fprintf(stderr, "bench-dht: bt_dht_udp_new: %s\n", bt_dht_strerror(rc));
		return -1;
	}
	struct sockaddr_storage ss;
	socklen_t sl;
	rc = bt_dht_udp_local(n->udp, 4, &ss, &sl);
	if (rc < 0) {
		fprintf(stderr, "bench-dht: bt_dht_udp_local: %s\n", bt_dht_strerror(rc));
		return -1;
	}
	memcpy(&n->addr, &ss, sizeof(n->addr));
	n->stop_check = event_new(n->base, -1, EV_PERSIST, on_stop_check, n);
	struct timeval tv = {0, 10000};
	if (!n->stop_check || event_add(n->stop_check, &tv) < 0) {
		fprintf(stderr, "bench-dht: event_new failed\n");
		return -1;
	}
	return 0;
}

static int node_start(struct node *n)
{
	if (pthread_create(&n->thread, NULL, node_main, n) != 0) {
		fprintf(stderr, "bench-dht: pthread_create failed\n");
		return -1;
	}
	n->running = true;
	return 0;
}

/* Stops the loop and joins its thread: the node is the caller's again. */
static void node_stop(struct node *n)
{
	if (n->running) {
		atomic_store(&n->stop, true);
		pthread_join(n->thread, NULL);
		n->running = false;
	}
}

static void node_close(struct node *n)
{
	node_stop(n);
	if (n->stop_check)
		event_free(n->stop_check);
	bt_dht_udp_free(n->udp);
	if (n->base)
		event_base_free(n->base);
	memset(n, 0, sizeof(*n));
}

/* ---------------------------------------------------------------------------------------------
 * The load: NSRC sockets, a table of queries in flight indexed by the transaction id (slot and
 * generation, 2 bytes each), and a pump that keeps a window of them in flight.
 * ------------------------------------------------------------------------------------------- */

struct src {
	int fd;
	struct sockaddr_in addr;
	bt_id id;
	uint8_t token[BT_DHT__KRPC_MAX_TOKEN];
	size_t token_len;
	bool served; /* has answered one of the node's queries: it is in the node's table */
};

struct query {
	bt_dht__krpc_method method;
	unsigned src;
	bt_id target;  /* find_node target or infohash */
	uint16_t port; /* announce_peer */
	unsigned tag;  /* the producer's, given back with the answer */
};

struct slot {
	uint64_t sent_ns;
	uint16_t gen;
	bool busy;
	uint8_t src;
	uint8_t method;
	unsigned tag;
};

struct run {
	uint64_t sent, answered, errors, lost, unmatched, malformed, send_fail;
	uint64_t answered_in_time; /* answers (and errors) before producing stopped */
	uint64_t rtt_ns;           /* sum over answers */
	uint64_t ns;               /* time spent producing */
};

struct gen;
typedef bool (*produce_fn)(struct gen *g, struct query *q, void *ud);
/* @m is the parsed answer, NULL when the query was lost. */
typedef void (*answer_fn)(struct gen *g, const struct slot *s, const bt_dht__krpc_msg *m, void *ud);

struct job {
	produce_fn produce;
	answer_fn answer; /* NULL: answers are only counted, from a look at their last bytes */
	void *ud;
};

struct gen {
	struct src src[NSRC];
	struct pollfd pfd[NSRC];
	struct sockaddr_in node;
	struct slot slot[MAX_WINDOW];
	uint16_t freel[MAX_WINDOW];
	unsigned nfree, inflight;
	struct query next; /* produced, not sent yet */
	bool have_next;
	unsigned rr;              /* round robin over sockets */
	bt_id ih[NIH];            /* announced infohashes */
	uint64_t node_queries;    /* queries the node sent us */
	uint64_t last_node_query; /* ns */
	uint8_t (*rbuf)[RMAX];    /* BATCH receive buffers */
};

static int gen_open(struct gen *g)
{
	for (unsigned i = 0; i < NSRC; i++)
		g->src[i].fd = -1;
	for (unsigned i = 0; i < MAX_WINDOW; i++)
		g->freel[i] = (uint16_t)(MAX_WINDOW - 1 - i);
	g->nfree = MAX_WINDOW;
	g->rbuf = malloc(BATCH * sizeof(*g->rbuf));
	if (!g->rbuf)
		return -1;
	for (unsigned i = 0; i < NSRC; i++) {
		struct src *s = &g->src[i];
		s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (s->fd < 0) {
			perror("bench-dht: socket");
			return -1;
		}
		int sz = SOCKBUF;
		setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		memset(&s->addr, 0, sizeof(s->addr));
		s->addr.sin_family = AF_INET;
		s->addr.sin_addr.s_addr = htonl(0x7f000100u + i + 1); /* 127.0.1.(i+1) */
		socklen_t sl = sizeof(s->addr);
		if (bind(s->fd, (struct sockaddr *)&s->addr, sizeof(s->addr)) < 0 ||
		    getsockname(s->fd, (struct sockaddr *)&s->addr, &sl) < 0) {
			perror("bench-dht: bind 127.0.1.x");
			return -1;
		}
		rand_id(&s->id);
		g->pfd[i].fd = s->fd;
		g->pfd[i].events = POLLIN;
	}
	return 0;
}

static void gen_close(struct gen *g)
{
	for (unsigned i = 0; i < NSRC; i++)
		if (g->src[i].fd >= 0)
			close(g->src[i].fd);
	free(g->rbuf);
}

static size_t encode_query(const struct gen *g, const struct query *q, unsigned slot, uint16_t sgen,
                           uint8_t *out)
{
	bt_dht__krpc_msg m;
	const struct src *s = &g->src[q->src];
	uint8_t t[4] = {(uint8_t)(slot >> 8), (uint8_t)slot, (uint8_t)(sgen >> 8), (uint8_t)sgen};
	memset(&m, 0, sizeof(m));
	m.kind = BT_DHT__KRPC_QUERY;
	m.method = q->method;
	m.t = t;
	m.tlen = sizeof(t);
	m.has_id = true;
	m.id = s->id;
	switch (q->method) {
	case BT_DHT__KRPC_M_FIND_NODE:
		m.has_target = true;
		m.target = q->target;
		break;
	case BT_DHT__KRPC_M_GET_PEERS:
		m.has_info_hash = true;
		m.info_hash = q->target;
		break;
	case BT_DHT__KRPC_M_ANNOUNCE_PEER:
		m.has_info_hash = true;
		m.info_hash = q->target;
		m.port = q->port;
		m.token = s->token;
		m.token_len = s->token_len;
		break;
	default:
		break;
	}
	bt_buf b;
	bt_buf_init_fixed(&b, out, QMAX);
	return bt_dht__krpc_encode(&b, &m) < 0 ? 0 : b.len;
}

/* Answers a query of the node (its bootstrap, its lookups, its pings) from socket @si: every
 * answer names 8 other load sockets, so the node's lookups reach all of them. */
static void serve(struct gen *g, unsigned si, const bt_dht__krpc_msg *q)
{
	bt_dht__krpc_msg r;
	uint8_t nodes[8 * 26], out[QMAX];
	static const uint8_t tok[4] = {'t', 'o', 'k', '0'};
	memset(&r, 0, sizeof(r));
	r.kind = BT_DHT__KRPC_RESPONSE;
	r.t = q->t;
	r.tlen = q->tlen;
	r.has_id = true;
	r.id = g->src[si].id;
	if (q->method == BT_DHT__KRPC_M_FIND_NODE || q->method == BT_DHT__KRPC_M_GET_PEERS) {
		for (unsigned k = 0; k < 8; k++) {
			const struct src *o = &g->src[(si + 1 + k * 7) % NSRC];
			memcpy(nodes + k * 26, o->id.b, BT_ID_LEN);
			memcpy(nodes + k * 26 + 20, &o->addr.sin_addr, 4);
			memcpy(nodes + k * 26 + 24, &o->addr.sin_port, 2);
		}
		r.nodes = nodes;
		r.nodes_len = sizeof(nodes);
	}
	if (q->method == BT_DHT__KRPC_M_GET_PEERS) {
		r.token = tok;
		r.token_len = sizeof(tok);
	}
	bt_buf b;
	bt_buf_init_fixed(&b, out, sizeof(out));
	if (bt_dht__krpc_encode(&b, &r) < 0)
		return;
	sendto(g->src[si].fd, b.data, b.len, 0, (struct sockaddr *)&g->node, sizeof(g->node));
	g->src[si].served = true;
	g->node_queries++;
	g->last_node_query = bench_now_ns();
}

static void slot_free(struct gen *g, unsigned i)
{
	g->slot[i].busy = false;
	g->freel[g->nfree++] = (uint16_t)i;
	g->inflight--;
}

/* An answer with transaction id @t arrived on socket @si. */
static void complete(struct gen *g, const struct job *job, struct run *r, unsigned si,
                     const uint8_t *t, bool is_error, const bt_dht__krpc_msg *m)
{
	unsigned i = (unsigned)t[0] << 8 | t[1];
	uint16_t sgen = (uint16_t)(t[2] << 8 | t[3]);
	if (i >= MAX_WINDOW || !g->slot[i].busy || g->slot[i].gen != sgen || g->slot[i].src != si) {
		r->unmatched++;
		return;
	}
	struct slot s = g->slot[i];
	slot_free(g, i);
	if (is_error)
		r->errors++;
	else
		r->answered++;
	r->rtt_ns += bench_now_ns() - s.sent_ns;
	if (job->answer)
		job->answer(g, &s, m, job->ud);
}

/* The node ends every answer with "1:t4:TTTT1:v4:VVVV1:y1:re" (keys in canonical order, its
 * client version always sent), errors with "...1:y1:ee": the count needs no full parse. */
#define TAIL 25
static bool tail_ok(const uint8_t *p, size_t len)
{
	return len >= TAIL && memcmp(p + len - 25, "1:t4:", 5) == 0 &&
	       memcmp(p + len - 16, "1:v4:", 5) == 0 && memcmp(p + len - 7, "1:y1:", 5) == 0 &&
	       (p[len - 2] == 'r' || p[len - 2] == 'e') && p[len - 1] == 'e';
}

static void on_datagram(struct gen *g, const struct job *job, struct run *r, unsigned si,
                        const uint8_t *p, size_t len, const struct sockaddr_in *from)
{
	if (from->sin_addr.s_addr != g->node.sin_addr.s_addr || from->sin_port != g->node.sin_port)
		return;
	if (!job->answer && tail_ok(p, len)) {
		complete(g, job, r, si, p + len - 20, p[len - 2] == 'e', NULL);
		return;
	}
	bt_dht__krpc_msg m;
	if (bt_dht__krpc_parse(&m, p, len) < 0) {
		r->malformed++;
		return;
	}
	if (m.kind == BT_DHT__KRPC_QUERY) {
		serve(g, si, &m);
		return;
	}
	if (m.tlen != 4) {
		r->unmatched++;
		return;
	}
	complete(g, job, r, si, m.t, m.kind == BT_DHT__KRPC_ERROR, &m);
}

/* Waits up to @timeout_ms for datagrams and handles what has arrived (bounded per socket). */
static void receive(struct gen *g, const struct job *job, struct run *r, int timeout_ms)
{
	if (poll(g->pfd, NSRC, timeout_ms) <= 0)
		return;
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in from[BATCH];
	for (unsigned si = 0; si < NSRC; si++) {
		if (!(g->pfd[si].revents & POLLIN))
			continue;
		for (int round = 0; round < 8; round++) {
			for (unsigned k = 0; k < BATCH; k++) {
				iov[k].iov_base = g->rbuf[k];
				iov[k].iov_len = RMAX;
				memset(&mm[k], 0, sizeof(mm[k]));
				mm[k].msg_hdr.msg_name = &from[k];
				mm[k].msg_hdr.msg_namelen = sizeof(from[k]);
				mm[k].msg_hdr.msg_iov = &iov[k];
				mm[k].msg_hdr.msg_iovlen = 1;
			}
			int n = recvmmsg(g->src[si].fd, mm, BATCH, MSG_DONTWAIT, NULL);
			if (n <= 0)
				break;
			for (int k = 0; k < n; k++)
				on_datagram(g, job, r, si, g->rbuf[k], mm[k].msg_len, &from[k]);
			if (n < BATCH)
				break;
		}
	}
}

/* Sends @n queries from socket @si in one sendmmsg().  Returns how many went. */
static unsigned send_batch(struct gen *g, unsigned si, const struct query *q, unsigned n,
                           struct run *r)
{
	static uint8_t out[BATCH][QMAX];
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	unsigned idx[BATCH], k = 0;
	for (unsigned j = 0; j < n; j++) {
		unsigned i = g->freel[g->nfree - 1];
		struct slot *s = &g->slot[i];
		size_t len = encode_query(g, &q[j], i, (uint16_t)(s->gen + 1), out[k]);
		if (!len)
			continue;
		g->nfree--;
		s->gen++;
		s->busy = true;
		s->src = (uint8_t)si;
		s->method = (uint8_t)q[j].method;
		s->tag = q[j].tag;
		g->inflight++;
		idx[k] = i;
		iov[k].iov_base = out[k];
		iov[k].iov_len = len;
		memset(&mm[k], 0, sizeof(mm[k]));
		mm[k].msg_hdr.msg_name = &g->node;
		mm[k].msg_hdr.msg_namelen = sizeof(g->node);
		mm[k].msg_hdr.msg_iov = &iov[k];
		mm[k].msg_hdr.msg_iovlen = 1;
		k++;
	}
	int sent = 0;
	for (int tries = 0; tries < 4 && (unsigned)sent < k; tries++) {
		int rc = sendmmsg(g->src[si].fd, mm + sent, k - (unsigned)sent, 0);
		if (rc < 0 && errno != EINTR)
			break;
		if (rc > 0)
			sent += rc;
	}
	uint64_t now = bench_now_ns();
	for (unsigned j = 0; j < k; j++) {
		if (j < (unsigned)sent) {
			g->slot[idx[j]].sent_ns = now;
		} else {
			slot_free(g, idx[j]);
			r->send_fail++;
		}
	}
	r->sent += (uint64_t)sent;
	return (unsigned)sent;
}

/* Tops the window up.  Clears *@producing when the producer has nothing more. */
static void fill(struct gen *g, const struct job *job, unsigned window, struct run *r,
                 bool *producing)
{
	while (g->inflight < window) {
		struct query q[BATCH];
		unsigned n = 0, si = 0;
		while (n < BATCH && g->inflight + n < window) {
			if (!g->have_next) {
				if (!job->produce(g, &g->next, job->ud)) {
					*producing = false;
					break;
				}
				g->have_next = true;
			}
			if (n && g->next.src != si)
				break;
			si = g->next.src;
			q[n++] = g->next;
			g->have_next = false;
		}
		if (!n || send_batch(g, si, q, n, r) < n)
			return;
	}
}

/* Queries unanswered for LOST_NS are lost. */
static void expire(struct gen *g, const struct job *job, struct run *r, uint64_t now)
{
	for (unsigned i = 0; i < MAX_WINDOW && g->inflight; i++) {
		struct slot *s = &g->slot[i];
		if (!s->busy || s->sent_ns > now || now - s->sent_ns < LOST_NS)
			continue;
		struct slot copy = *s;
		slot_free(g, i);
		r->lost++;
		if (job->answer)
			job->answer(g, &copy, NULL, job->ud);
	}
}

/*
 * Keeps @window queries of @job in flight for @duration_ns (or until the producer runs dry),
 * then waits for the answers still due (at most LOST_NS more).
 */
static void pump(struct gen *g, const struct job *job, unsigned window, uint64_t duration_ns,
                 struct run *r)
{
	memset(r, 0, sizeof(*r));
	g->have_next = false;
	bool producing = true;
	uint64_t t0 = bench_now_ns(), end = t0 + duration_ns, stopped = 0;
	uint64_t next_scan = t0 + 10 * MS;
	for (;;) {
		uint64_t now = bench_now_ns();
		if (producing && now >= end)
			producing = false;
		if (producing)
			fill(g, job, window, r, &producing);
		if (!producing && !stopped) {
			stopped = now > t0 ? now : t0 + 1;
			r->ns = stopped - t0;
			r->answered_in_time = r->answered + r->errors;
		}
		if (!producing && !g->inflight)
			break;
		if (stopped && now - stopped > LOST_NS + 100 * MS)
			break; /* cannot happen: expire() has freed every slot by now */
		receive(g, job, r, 1);
		if (now >= next_scan) {
			expire(g, job, r, now);
			next_scan = now + 10 * MS;
		}
	}
}

/* ---- set-up: the routing table, tokens, announces ---- */

/* Answers the node's bootstrap and lookup queries until every load socket has been asked and
 * the node has been quiet for QUIET_NS (or SETUP_NS has passed). */
static void fill_table(struct gen *g)
{
	struct job idle = {NULL, NULL, NULL};
	struct run r;
	memset(&r, 0, sizeof(r));
	uint64_t t0 = bench_now_ns();
	g->last_node_query = t0;
	for (;;) {
		uint64_t now = bench_now_ns();
		unsigned served = 0;
		for (unsigned i = 0; i < NSRC; i++)
			served += g->src[i].served;
		if (now - t0 > SETUP_NS || (served == NSRC && now - g->last_node_query > QUIET_NS))
			return;
		receive(g, &idle, &r, 5);
	}
}

struct setup {
	unsigned next, ok, failed;
	unsigned nodes_found, values_found, values_random;
};

static bool produce_token(struct gen *g, struct query *q, void *ud)
{
	struct setup *st = ud;
	if (st->next == NSRC)
		return false;
	memset(q, 0, sizeof(*q));
	q->method = BT_DHT__KRPC_M_GET_PEERS;
	q->src = st->next++;
	rand_id(&q->target);
	(void)g;
	return true;
}

static void answer_token(struct gen *g, const struct slot *s, const bt_dht__krpc_msg *m, void *ud)
{
	struct setup *st = ud;
	struct src *src = &g->src[s->src];
	if (!m || m->kind != BT_DHT__KRPC_RESPONSE || !m->token ||
	    m->token_len > sizeof(src->token)) {
		st->failed++;
		return;
	}
	memcpy(src->token, m->token, m->token_len);
	src->token_len = m->token_len;
	st->ok++;
}

static bool produce_announce(struct gen *g, struct query *q, void *ud)
{
	struct setup *st = ud;
	if (st->next == NIH * PEERS_PER_IH)
		return false;
	unsigned k = st->next / PEERS_PER_IH, j = st->next % PEERS_PER_IH;
	st->next++;
	memset(q, 0, sizeof(*q));
	q->method = BT_DHT__KRPC_M_ANNOUNCE_PEER;
	q->src = (k * 7 + j) % NSRC; /* 20 distinct sockets per infohash */
	q->target = g->ih[k];
	q->port = (uint16_t)(6881 + j);
	return true;
}

static void answer_count(struct gen *g, const struct slot *s, const bt_dht__krpc_msg *m, void *ud)
{
	struct setup *st = ud;
	(void)g;
	(void)s;
	if (m && m->kind == BT_DHT__KRPC_RESPONSE)
		st->ok++;
	else
		st->failed++;
}

/* Three sample queries whose answers are looked at in full: find_node (how many nodes), get_peers
 * for an announced infohash (how many values) and for an unknown one. */
static bool produce_check(struct gen *g, struct query *q, void *ud)
{
	struct setup *st = ud;
	if (st->next == 3)
		return false;
	memset(q, 0, sizeof(*q));
	q->tag = st->next;
	q->src = st->next;
	q->method = st->next == 0 ? BT_DHT__KRPC_M_FIND_NODE : BT_DHT__KRPC_M_GET_PEERS;
	if (st->next == 1)
		q->target = g->ih[0];
	else
		rand_id(&q->target);
	st->next++;
	return true;
}

static void answer_check(struct gen *g, const struct slot *s, const bt_dht__krpc_msg *m, void *ud)
{
	struct setup *st = ud;
	(void)g;
	if (!m || m->kind != BT_DHT__KRPC_RESPONSE) {
		st->failed++;
		return;
	}
	st->ok++;
	if (s->tag == 0)
		st->nodes_found = (unsigned)(m->nodes_len / 26);
	else if (s->tag == 1)
		st->values_found = m->nvalues;
	else
		st->values_random = m->nvalues;
}

/* ---- the load ---- */

struct mix {
	uint64_t by_method[3];
};

/* 40% ping, 30% find_node, 30% get_peers; a third of the get_peers for an announced infohash. */
static bool produce_mix(struct gen *g, struct query *q, void *ud)
{
	struct mix *mx = ud;
	uint64_t x = bench_rnd();
	unsigned r = (unsigned)(x % 10);
	q->src = (g->rr++ / SRC_RUN) % NSRC;
	q->tag = 0;
	q->port = 0;
	if (r < 4) {
		q->method = BT_DHT__KRPC_M_PING;
		mx->by_method[0]++;
	} else if (r < 7) {
		q->method = BT_DHT__KRPC_M_FIND_NODE;
		rand_id(&q->target);
		mx->by_method[1]++;
	} else {
		q->method = BT_DHT__KRPC_M_GET_PEERS;
		if ((x >> 32) % 3 == 0)
			q->target = g->ih[(x >> 40) % NIH];
		else
			rand_id(&q->target);
		mx->by_method[2]++;
	}
	return true;
}

/* RcvbufErrors and SndbufErrors of /proc/net/snmp (this network namespace); -1 if unreadable. */
static void udp_drops(long long *rcv, long long *snd)
{
	*rcv = *snd = -1;
	FILE *f = fopen("/proc/net/snmp", "r");
	if (!f)
		return;
	char head[512], vals[512];
	while (fgets(head, sizeof(head), f)) {
		if (strncmp(head, "Udp:", 4) != 0 || !fgets(vals, sizeof(vals), f))
			continue;
		char *hs, *vs;
		char *h = strtok_r(head, " \n", &hs), *v = strtok_r(vals, " \n", &vs);
		while (h && v) {
			if (strcmp(h, "RcvbufErrors") == 0)
				*rcv = atoll(v);
			else if (strcmp(h, "SndbufErrors") == 0)
				*snd = atoll(v);
			h = strtok_r(NULL, " \n", &hs);
			v = strtok_r(NULL, " \n", &vs);
		}
		break;
	}
	fclose(f);
}

static uint64_t cpu_ns(clockid_t c)
{
	struct timespec ts;
	if (clock_gettime(c, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The smallest window that gets within 5% of the best rate, from a ramp of short runs.  Two
 * passes, keeping each window's better rate: other load on the machine only ever lowers a rate. */
static unsigned ramp(struct gen *g)
{
	static const unsigned steps[] = {16, 32, 64, 128, 256, 512, 1024};
	enum { NSTEPS = sizeof(steps) / sizeof(steps[0]) };
	double rate[NSTEPS] = {0}, best = 0;
	struct mix mx = {{0, 0, 0}};
	struct job job = {produce_mix, NULL, &mx};
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < NSTEPS; i++) {
			struct run r;
			pump(g, &job, steps[i], RAMP_NS, &r);
			double x = r.sent == r.answered + r.errors
			               ? bench_rate(r.answered_in_time, r.ns)
			               : 0;
			if (x > rate[i])
				rate[i] = x;
			if (x > best)
				best = x;
		}
	}
	unsigned w = steps[NSTEPS - 1];
	fprintf(stderr,
	        "bench-dht: window ramp (2 x %.2f s, kqueries/s; 0: loss):", (double)RAMP_NS / 1e9);
	for (size_t i = 0; i < NSTEPS; i++)
		fprintf(stderr, " %u:%.0f", steps[i], rate[i] / 1e3);
	for (size_t i = 0; i < NSTEPS; i++) {
		if (rate[i] >= 0.95 * best) {
			w = steps[i];
			break;
		}
	}
	fprintf(stderr, " -> %u\n", w);
	return w;
}

static int bench_serve(double seconds, unsigned window)
{
	struct node n;
	struct gen *g = calloc(1, sizeof(*g));
	int rc = -1;
	memset(&n, 0, sizeof(n));
	if (!g)
		return -1;
	if (node_open(&n) < 0 || gen_open(g) < 0)
		goto out;
	g->node = n.addr;
	for (unsigned i = 0; i < NIH; i++)
		rand_id(&g->ih[i]);

	/* Before its loop runs the node is ours: point its bootstrap at every load socket. */
	bt_dht *dht = bt_dht_udp_dht(n.udp);
	for (unsigned i = 0; i < NSRC; i++) {
		int e = bt_dht_add_node(dht, (struct sockaddr *)&g->src[i].addr,
		                        sizeof(g->src[i].addr), bt_dht_now());
		if (e < 0)
			fprintf(stderr, "bench-dht: bt_dht_add_node: %s\n", bt_dht_strerror(e));
	}
	if (node_start(&n) < 0)
		goto out;
	fill_table(g);

	struct setup st;
	struct run r;
	memset(&st, 0, sizeof(st));
	struct job tokens = {produce_token, answer_token, &st};
	pump(g, &tokens, NSRC, SETUP_NS, &r);
	if (st.ok != NSRC) {
		fprintf(stderr, "bench-dht: only %u of %d sockets got a token\n", st.ok, NSRC);
		goto out;
	}
	memset(&st, 0, sizeof(st));
	struct job announces = {produce_announce, answer_count, &st};
	pump(g, &announces, 128, SETUP_NS, &r);
	unsigned announced = st.ok;
	memset(&st, 0, sizeof(st));
	struct job check = {produce_check, answer_check, &st};
	pump(g, &check, 3, SETUP_NS, &r);
	unsigned served = 0;
	for (unsigned i = 0; i < NSRC; i++)
		served += g->src[i].served;
	fprintf(stderr,
	        "bench-dht: node %s:%u; %u/%d load sockets answered its lookups (%" PRIu64
	        " queries); %u/%d announces taken; a find_node answer carries %u nodes, get_peers "
	        "%u values (announced infohash) / %u (unknown)\n",
	        NODE_IP, ntohs(n.addr.sin_port), served, NSRC, g->node_queries, announced,
	        NIH * PEERS_PER_IH, st.nodes_found, st.values_found, st.values_random);

	if (!window)
		window = ramp(g);

	struct mix mx;
	memset(&mx, 0, sizeof(mx));
	struct job load = {produce_mix, NULL, &mx};
	clockid_t node_clock;
	bool have_clock = pthread_getcpuclockid(n.thread, &node_clock) == 0;
	long long rcv0, snd0, rcv1, snd1;
	udp_drops(&rcv0, &snd0);
	uint64_t ncpu0 = have_clock ? cpu_ns(node_clock) : 0;
	uint64_t gcpu0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	uint64_t t0 = bench_now_ns();
	pump(g, &load, window, (uint64_t)(seconds * 1e9), &r);
	uint64_t wall = bench_now_ns() - t0; /* producing and draining, for the CPU shares */
	uint64_t ncpu = have_clock ? cpu_ns(node_clock) - ncpu0 : 0;
	uint64_t gcpu = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - gcpu0;
	udp_drops(&rcv1, &snd1);

	node_stop(&n); /* its thread has ended: the node may be read */
	bt_dht_stats ds;
	bt_dht_get_stats(dht, &ds, bt_dht_now());

	uint64_t answered = r.answered + r.errors;
	char label[64], what[64];
	snprintf(label, sizeof(label), "dht serve  window=%u", window);
	snprintf(what, sizeof(what), "queries=%" PRIu64, r.answered_in_time);
	printf("%-28s %-22s %9.1f kqueries/s  (%.2f s)  sent=%" PRIu64 " lost=%" PRIu64
	       " (%.3f%%) rtt=%.2fms node-cpu=%.0f%% (%.2f us/query, %.0fk/s per busy core)"
	       " load-cpu=%.0f%%"
	       " rcvbuf-drops=%lld\n",
	       label, what, bench_rate(r.answered_in_time, r.ns) / 1e3, (double)r.ns / 1e9, r.sent,
	       r.sent - answered,
	       r.sent ? 100.0 * (double)(r.sent - answered) / (double)r.sent : 0.0,
	       answered ? (double)r.rtt_ns / (double)answered / 1e6 : 0.0,
	       wall ? 100.0 * (double)ncpu / (double)wall : 0.0,
	       answered ? (double)ncpu / (double)answered / 1e3 : 0.0,
	       ncpu ? (double)answered * 1e6 / (double)ncpu : 0.0,
	       wall ? 100.0 * (double)gcpu / (double)wall : 0.0,
	       rcv0 >= 0 && rcv1 >= 0 ? rcv1 - rcv0 : -1LL);
	fflush(stdout);
	uint64_t inq = 0;
	for (int i = 0; i < 6; i++)
		inq += ds.in_queries[i];
	fprintf(stderr,
	        "bench-dht: mix sent ping/find_node/get_peers %" PRIu64 "/%" PRIu64 "/%" PRIu64
	        "; error replies %" PRIu64 ", unmatched %" PRIu64
	        ", sndbuf-drops %lld; node: %" PRIu64 " queries in, rate-limited %" PRIu64
	        ", throttled %" PRIu64 ", send errors %" PRIu64 ", malformed %" PRIu64
	        ", table %" PRIu64 " nodes + %" PRIu64 " cached, %" PRIu64 " infohashes / %" PRIu64
	        " peers, %" PRIu64 " bytes\n",
	        mx.by_method[0], mx.by_method[1], mx.by_method[2], r.errors, r.unmatched,
	        snd0 >= 0 && snd1 >= 0 ? snd1 - snd0 : -1LL, inq, ds.rate_limited, ds.throttled,
	        ds.send_errors, ds.malformed, ds.nodes[0], ds.cached[0], ds.infohashes, ds.peers,
	        ds.memory);
	rc = 0;
out:
	node_close(&n);
	gen_close(g);
	free(g);
	return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Memory
 * ------------------------------------------------------------------------------------------- */

/* Bytes the heap hands out now, allocator overhead included; 0 where unknown (another libc, or
 * a sanitizer's allocator). */
static size_t heap_used(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
#else
	return 0;
#endif
}

static void rand_addr(bt_addr *a)
{
	uint64_t x = bench_rnd();
	memset(a, 0, sizeof(*a));
	a->family = 4;
	memcpy(a->ip, &x, 4);
	a->port = (uint16_t)(1024 + (x >> 32) % 60000);
}

/* A random id sharing exactly @d (0..159) leading bits with @self: one for bucket @d. */
static void id_at_depth(bt_id *id, const bt_id *self, unsigned d)
{
	rand_id(id);
	memcpy(id->b, self->b, d / 8);
	uint8_t keep = (uint8_t)(0xff00u >> (d % 8)), bit = (uint8_t)(0x80u >> (d % 8));
	uint8_t mine = self->b[d / 8];
	id->b[d / 8] = (uint8_t)((mine & keep) | (id->b[d / 8] & ~keep));
	id->b[d / 8] = (uint8_t)((id->b[d / 8] & ~bit) | (~mine & bit));
}

static size_t rt_entries(const bt_dht__rtable *rt, bt_dht__rt_stats *st)
{
	bt_dht__rt_get_stats(rt, 1000, st);
	return st->good + st->questionable + st->bad + st->cached;
}

/*
 * Fills a table with nodes that answered us.  @deep: ids aimed at a bucket chosen uniformly, so
 * every bucket down to the deepest fills (until 100,000 in a row add nothing); else 1,000,000
 * uniformly random ids, which fill the ~17 shallowest buckets as in a real node.
 */
static int bench_rtable(bool deep)
{
	bt_id self, id;
	bt_addr a;
	bt_dht__rtable *rt;
	bt_dht__rt_stats st;
	rand_id(&self);
	size_t heap0 = heap_used();
	if (bt_dht__rt_new(&rt, &self, 4, 0) < 0) {
		fprintf(stderr, "bench-dht: bt_dht__rt_new failed\n");
		return -1;
	}
	uint64_t inserted = 0, since_growth = 0;
	size_t best = 0;
	while (deep ? since_growth < 100000 && inserted < 5000000 : inserted < 1000000) {
		if (deep)
			id_at_depth(&id, &self, (unsigned)(bench_rnd() % (8 * BT_ID_LEN)));
		else
			rand_id(&id);
		rand_addr(&a);
		bt_dht__rt_heard(rt, &id, &a, BT_DHT__RT_REPLIED, 0, 1000);
		inserted++;
		since_growth++;
		if (deep && inserted % 1000 == 0) {
			size_t e = rt_entries(rt, &st);
			if (e > best) {
				best = e;
				since_growth = 0;
			}
		}
	}
	size_t entries = rt_entries(rt, &st);
	size_t heap = heap_used() - heap0;
	char label[64], what[64];
	snprintf(label, sizeof(label), "dht memory rtable %s", deep ? "full" : "random");
	snprintf(what, sizeof(what), "entries=%zu", entries);
	char hs[32] = "n/a";
	if (heap0 && entries)
		snprintf(hs, sizeof(hs), "%.1f", (double)heap / (double)entries);
	printf("%-28s %-22s %9.1f bytes/entry  (%zu buckets: %zu nodes + %zu cached; %zu bytes; "
	       "heap %s bytes/entry; %" PRIu64 " heard)\n",
	       label, what, entries ? (double)st.bytes / (double)entries : 0.0, st.buckets,
	       st.good + st.questionable + st.bad, st.cached, st.bytes, hs, inserted);
	fflush(stdout);
	bt_dht__rt_free(rt);
	return 0;
}

/* @nih infohashes with @per IPv4 peers each, under the node's default limits. */
static int bench_peerstore(size_t nih, size_t per)
{
	bt_dht__ps *ps;
	bt_dht__ps_limits lim = {100000, 200, 30 * 60 * 1000, 21600ull * 1000};
	size_t heap0 = heap_used();
	if (bt_dht__ps_new(&ps, &lim, bench_rnd()) < 0) {
		fprintf(stderr, "bench-dht: bt_dht__ps_new failed\n");
		return -1;
	}
	for (size_t i = 0; i < nih; i++) {
		bt_id ih;
		rand_id(&ih);
		for (size_t j = 0; j < per; j++) {
			bt_addr a;
			rand_addr(&a);
			if (bt_dht__ps_add(ps, &ih, &a, 1000) < 0) {
				fprintf(stderr, "bench-dht: bt_dht__ps_add failed\n");
				bt_dht__ps_free(ps);
				return -1;
			}
		}
	}
	bt_dht__ps_stats st;
	bt_dht__ps_get_stats(ps, &st);
	size_t heap = heap_used() - heap0;
	char label[64], what[64];
	snprintf(label, sizeof(label), "dht memory peers %zux%zu", nih, per);
	snprintf(what, sizeof(what), "peers=%zu", st.peers);
	char hs[32] = "n/a";
	if (heap0 && st.peers)
		snprintf(hs, sizeof(hs), "%.1f", (double)heap / (double)st.peers);
	printf("%-28s %-22s %9.1f bytes/peer  (%.1f bytes/infohash; %zu infohashes, %zu bytes; "
	       "heap %s bytes/peer)\n",
	       label, what, st.peers ? (double)st.bytes / (double)st.peers : 0.0,
	       st.infohashes ? (double)st.bytes / (double)st.infohashes : 0.0, st.infohashes,
	       st.bytes, hs);
	fflush(stdout);
	bt_dht__ps_free(ps);
	return 0;
}

static int usage(void)
{
	fprintf(stderr,
	        "usage: bench-dht [SECONDS [WINDOW]]   (SECONDS 0.1..600, default 3; "
	        "WINDOW 1..%d, default: found by a ramp)\n",
	        MAX_WINDOW);
	return 2;
}

int main(int argc, char **argv)
{
	double seconds = 3;
	unsigned window = 0;
	char *end;
	if (argc > 3)
		return usage();
	if (argc >= 2) {
		errno = 0;
		seconds = strtod(argv[1], &end);
		if (errno || *end || end == argv[1] || !(seconds >= 0.1 && seconds <= 600))
			return usage();
	}
	if (argc == 3) {
		errno = 0;
		unsigned long w = strtoul(argv[2], &end, 10);
		if (errno || *end || end == argv[2] || w < 1 || w > MAX_WINDOW)
			return usage();
		window = (unsigned)w;
	}
	int rc = 0;
	rc |= bench_serve(seconds, window);
	rc |= bench_rtable(true);
	rc |= bench_rtable(false);
	rc |= bench_peerstore(10000, 20);
	rc |= bench_peerstore(100000, 1);
	return rc ? 1 : 0;
}
