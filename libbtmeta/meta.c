/*
 * meta.c - the manager of btmeta.h: jobs, their priority queue, peer connections on libevent,
 * peer health, and the serving side.
 *
 * Memory is the design constraint: a crawler holds thousands of connections that mostly wait.
 * A connection is one allocation (its struct event lives in the same block), reads go through
 * one buffer shared by the manager, the wire reader skips uninteresting messages without storing
 * them, and a metadata buffer exists only between the first piece and the end of a fetch.
 * Timeouts are not timers: one sweep a few times a second checks each connection's deadlines,
 * which costs nothing per connection while it waits.
 *
 * Re-entrancy: nothing is freed while a handler that may touch it runs, and no user code runs
 * inside the manager's loops.  Closing a connection marks it dead and lists it; ending a job
 * lists it as done; jobs that need new connections are listed to run.  One deferred event, the
 * pump, works through those lists: it frees dead connections, runs jobs, starts queued jobs, and
 * only then calls on_result for each done job, which may submit and cancel freely.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "addr.h"
#include "buf.h"
#include "log.h"
#include "btmeta.h"
#include "siphash.h"
#include "wire.h"

#define SWEEP_MS 200
#define READ_BUF 65536
#define READS_PER_WAKE 4
#define ACCEPTS_PER_WAKE 64
#define REQ_PIPELINE 16     /* ut_metadata requests in flight per connection */
#define SERVE_QUEUE 64      /* requests a serving connection holds; more are rejected */
#define SERVE_OUT_LOW 32768 /* refill a serving connection's output below this */
#define OUT_MAX (1u << 20)  /* a connection whose unsent output passes this is dropped */
#define NOHEAP UINT32_MAX
#define STOP (-1)        /* handler result: the connection was already dealt with */
#define E_MEMORY (-3099) /* internal: the buffer budget refused a fetch */

/* ---- a small intrusive chained hash table ---- */

struct hnode {
	struct hnode *next;
	uint64_t hash;
};

typedef struct htab {
	struct hnode **b;
	size_t mask, n;
} htab;

static int ht_init(htab *t, size_t nb)
{
	t->b = calloc(nb, sizeof(*t->b));
	t->mask = nb - 1;
	t->n = 0;
	return t->b ? 0 : -1;
}

static void ht_grow(htab *t)
{
	size_t nb = (t->mask + 1) * 2;
	struct hnode **b = calloc(nb, sizeof(*b));
	if (!b)
		return; /* keep the longer chains */
	for (size_t i = 0; i <= t->mask; i++) {
		for (struct hnode *x = t->b[i], *nx; x; x = nx) {
			nx = x->next;
			x->next = b[x->hash & (nb - 1)];
			b[x->hash & (nb - 1)] = x;
		}
	}
	free(t->b);
	t->b = b;
	t->mask = nb - 1;
}

static void ht_insert(htab *t, struct hnode *x, uint64_t hash)
{
	if (t->n > t->mask)
		ht_grow(t);
	x->hash = hash;
	x->next = t->b[hash & t->mask];
	t->b[hash & t->mask] = x;
	t->n++;
}

static void ht_remove(htab *t, struct hnode *x)
{
	for (struct hnode **pp = &t->b[x->hash & t->mask]; *pp; pp = &(*pp)->next) {
		if (*pp == x) {
			*pp = x->next;
			t->n--;
			return;
		}
	}
}

#define HT_FIRST(t, h) ((t)->b[(h) & (t)->mask])

/* ---- records ---- */

typedef struct peer_rec {
	struct hnode hn;
	struct peer_rec *lru_prev, *lru_next;
	bt_addr addr;
	uint32_t succ, fail, lat_ms;
	int last_err;
	uint16_t streak;
	uint64_t backoff_until, banned_until;
} peer_rec;

typedef struct ip_rec {
	struct hnode hn;
	bt_addr ip; /* port 0 */
	uint32_t n;
} ip_rec;

typedef struct torrent torrent;
struct tkey {
	struct hnode hn;
	uint8_t key[20];
	torrent *t;
};
struct torrent {
	bt_meta_info *info;
	struct tkey k[2];
	int nk;
	int removed;
	unsigned refs; /* serving connections */
	uint32_t npieces;
	torrent *next;
};

enum { JP_UNTRIED = 0, JP_TRYING = 1, JP_DONE = 2 };
typedef struct jpeer {
	bt_addr a;
	uint8_t state;
} jpeer;

enum { J_QUEUED = 0, J_ACTIVE = 1 };
typedef struct job {
	struct hnode hn;
	uint8_t ih[32];
	uint8_t ihlen, state;
	uint16_t npeers, untried, nconns, tried;
	uint8_t inrun;
	uint32_t heap_idx;
	uint32_t seen;
	uint64_t first_seen, last_seen, started;
	uint64_t hold_until; /* no new connection before (the memory budget was full) */
	jpeer *peers;
	struct conn *conns;
	struct job *prev, *next;   /* queued: the staleness list; active: the active list (oldest
	                              first); done: the done list */
	struct job *rprev, *rnext; /* the run list */
	/* Set when the job ends, for its on_result. */
	int status;
	bt_meta_info *info;
	bt_addr by;
} job;

enum { C_CONNECTING = 0, C_HANDSHAKE = 1, C_FETCH = 2, C_SERVE = 3, C_DEAD = 4 };
enum { D_OUT = 0, D_IN = 1 };

struct servq {
	uint32_t q[SERVE_QUEUE];
	uint8_t head, n;
	uint32_t sent;
	bool complete;
};

typedef struct conn {
	struct conn *prev, *next; /* all live connections; next also links the dead list */
	struct conn *jnext;       /* the job's connections */
	job *job;
	torrent *tor;
	bt_meta *m;
	bt_addr addr;
	int fd;
	uint8_t dir, state, their_utm, lie;
	short evf; /* the flags the event is registered with */
	uint16_t jpeer;
	uint64_t t_start, t_stage, t_act;
	bt_wire_rd rd;
	/* fetching */
	uint32_t meta_size, npieces, next_req, received, inflight;
	uint8_t *meta; /* meta_size bytes, then a bitmap of received pieces */
	size_t reserved;
	/* serving */
	struct servq *sq;
	/* unsent output */
	uint8_t *out;
	uint32_t out_len, out_off, out_cap;
	max_align_t ev[]; /* struct event, event_get_struct_event_size() bytes */
} conn;

#define CONN_EV(c) ((struct event *)(void *)(c)->ev)

struct listener {
	int fd;
	struct event *ev;
	struct listener *next;
};

struct bt_meta {
	bt_meta_options o;
	struct event_base *base;
	struct event *sweep, *pump;
	uint8_t peer_id[20];
	char client[64];
	uint64_t k0, k1;
	int listen_port;
	struct listener *listeners;

	htab jobs, peers, ips, served;
	job **heap;
	uint32_t nheap, heap_cap;
	job *qhead, *qtail; /* queued jobs, least recently seen first */
	job *ahead, *atail; /* active jobs, oldest first */
	job *runq;          /* active jobs that may start connections */
	job *dhead, *dtail; /* ended jobs waiting for their on_result */
	uint32_t nqueued, nactive;

	conn *conns, *dead;
	uint32_t nconns;
	peer_rec *lru_head, *lru_tail; /* least recently used first */
	torrent *torrents;

	bt_meta_stats st;
	uint8_t rbuf[READ_BUF];
	uint8_t wbuf[BT_WIRE_MAX_EXT + 64];
};

static void conn_cb(evutil_socket_t fd, short what, void *arg);
static void job_finish(bt_meta *m, job *j, int status, bt_meta_info *info, conn *by);
static void job_mark(bt_meta *m, job *j);

/* ---- utilities ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#define logf_(m, level, ...) bt_log((m)->o.log, (m)->o.cb_ud, (level), __VA_ARGS__)

static void schedule(bt_meta *m)
{
	if (m->pump)
		event_active(m->pump, EV_TIMEOUT, 0);
}

static uint64_t addr_hash(const bt_meta *m, const bt_addr *a)
{
	return bt_siphash24(m->k0, m->k1, (const uint8_t *)a, sizeof(*a));
}

static uint64_t key_hash(const bt_meta *m, const uint8_t *k, size_t n)
{
	return bt_siphash24(m->k0, m->k1, k, n);
}

/* ---- peer health ---- */

static void lru_unlink(bt_meta *m, peer_rec *p)
{
	if (p->lru_prev)
		p->lru_prev->lru_next = p->lru_next;
	else
		m->lru_head = p->lru_next;
	if (p->lru_next)
		p->lru_next->lru_prev = p->lru_prev;
	else
		m->lru_tail = p->lru_prev;
	p->lru_prev = p->lru_next = NULL;
}

static void lru_push(bt_meta *m, peer_rec *p)
{
	p->lru_prev = m->lru_tail;
	p->lru_next = NULL;
	if (m->lru_tail)
		m->lru_tail->lru_next = p;
	else
		m->lru_head = p;
	m->lru_tail = p;
}

static peer_rec *peer_find(const bt_meta *m, const bt_addr *a)
{
	uint64_t h = addr_hash(m, a);
	for (struct hnode *x = HT_FIRST(&m->peers, h); x; x = x->next) {
		peer_rec *p = (peer_rec *)x;
		if (x->hash == h && bt_addr_eq(&p->addr, a))
			return p;
	}
	return NULL;
}

static peer_rec *peer_get(bt_meta *m, const bt_addr *a)
{
	peer_rec *p = peer_find(m, a);
	if (p) {
		lru_unlink(m, p);
		lru_push(m, p);
		return p;
	}
	if (m->peers.n >= m->o.max_peers_tracked && m->lru_head) {
		p = m->lru_head;
		lru_unlink(m, p);
		ht_remove(&m->peers, &p->hn);
		memset(p, 0, sizeof(*p));
	} else if (!(p = calloc(1, sizeof(*p)))) {
		return NULL;
	}
	p->addr = *a;
	ht_insert(&m->peers, &p->hn, addr_hash(m, a));
	lru_push(m, p);
	return p;
}

static void health_success(bt_meta *m, const bt_addr *a, uint64_t took)
{
	peer_rec *p = peer_get(m, a);
	if (!p)
		return;
	p->succ++;
	p->streak = 0;
	p->backoff_until = 0;
	uint32_t t = took > 600000 ? 600000 : (uint32_t)took;
	p->lat_ms = p->lat_ms ? (p->lat_ms * 7 + t) / 8 : (t ? t : 1);
}

static void health_failure(bt_meta *m, const bt_addr *a, int err, bool lie, uint64_t now)
{
	peer_rec *p = peer_get(m, a);
	if (!p)
		return;
	p->fail++;
	p->last_err = err;
	if (p->streak < 16)
		p->streak++;
	/* 15 s, doubling with every failure in a row, at most an hour. */
	uint64_t back = 15000ull << (p->streak - 1);
	p->backoff_until = now + (back > 3600000 ? 3600000 : back);
	if (lie) {
		if (p->banned_until <= now)
			m->st.peers_banned++;
		p->banned_until = now + m->o.ban_ms;
		logf_(m, BT_META_LOG_INFO, "banned a peer for %s", bt_meta_strerror(err));
	}
}

/* ---- per-IP connection counts ---- */

static ip_rec *ip_find(bt_meta *m, const bt_addr *a, uint64_t *hout)
{
	bt_addr ip = *a;
	ip.port = 0;
	uint64_t h = addr_hash(m, &ip);
	*hout = h;
	for (struct hnode *x = HT_FIRST(&m->ips, h); x; x = x->next) {
		ip_rec *r = (ip_rec *)x;
		if (x->hash == h && bt_addr_eq(&r->ip, &ip))
			return r;
	}
	return NULL;
}

static bool ip_full(bt_meta *m, const bt_addr *a)
{
	uint64_t h;
	ip_rec *r = ip_find(m, a, &h);
	return r && r->n >= m->o.max_per_ip;
}

static int ip_acquire(bt_meta *m, const bt_addr *a)
{
	uint64_t h;
	ip_rec *r = ip_find(m, a, &h);
	if (r) {
		if (r->n >= m->o.max_per_ip)
			return -1;
		r->n++;
		return 0;
	}
	if (!(r = calloc(1, sizeof(*r))))
		return -1;
	r->ip = *a;
	r->ip.port = 0;
	r->n = 1;
	ht_insert(&m->ips, &r->hn, h);
	return 0;
}

static void ip_release(bt_meta *m, const bt_addr *a)
{
	uint64_t h;
	ip_rec *r = ip_find(m, a, &h);
	if (r && --r->n == 0) {
		ht_remove(&m->ips, &r->hn);
		free(r);
	}
}

/* ---- the priority queue of jobs that have peers ---- */

static uint32_t job_score(const job *j)
{
	return j->seen + 4u * j->npeers;
}

/* Whether @a should run before @b: higher score, then the older. */
static bool job_before(const job *a, const job *b)
{
	uint32_t sa = job_score(a), sb = job_score(b);
	return sa != sb ? sa > sb : a->first_seen < b->first_seen;
}

static void heap_set(bt_meta *m, uint32_t i, job *j)
{
	m->heap[i] = j;
	j->heap_idx = i;
}

static void heap_up(bt_meta *m, uint32_t i)
{
	job *j = m->heap[i];
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (!job_before(j, m->heap[p]))
			break;
		heap_set(m, i, m->heap[p]);
		i = p;
	}
	heap_set(m, i, j);
}

static void heap_down(bt_meta *m, uint32_t i)
{
	job *j = m->heap[i];
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= m->nheap)
			break;
		if (c + 1 < m->nheap && job_before(m->heap[c + 1], m->heap[c]))
			c++;
		if (!job_before(m->heap[c], j))
			break;
		heap_set(m, i, m->heap[c]);
		i = c;
	}
	heap_set(m, i, j);
}

static int heap_push(bt_meta *m, job *j)
{
	if (m->nheap == m->heap_cap) {
		uint32_t cap = m->heap_cap ? m->heap_cap * 2 : 64;
		job **h = realloc(m->heap, cap * sizeof(*h));
		if (!h)
			return -1;
		m->heap = h;
		m->heap_cap = cap;
	}
	heap_set(m, m->nheap++, j);
	heap_up(m, m->nheap - 1);
	return 0;
}

static void heap_remove(bt_meta *m, job *j)
{
	uint32_t i = j->heap_idx;
	if (i == NOHEAP)
		return;
	j->heap_idx = NOHEAP;
	job *last = m->heap[--m->nheap];
	if (i == m->nheap)
		return;
	heap_set(m, i, last);
	heap_up(m, i);
	heap_down(m, last->heap_idx);
}

/* ---- job lists ---- */

static void list_unlink(job **head, job **tail, job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		*head = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else if (tail)
		*tail = j->prev;
	j->prev = j->next = NULL;
}

static void list_append(job **head, job **tail, job *j)
{
	j->prev = *tail;
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

/* List @j to run (start connections) at the next pump. */
static void job_mark(bt_meta *m, job *j)
{
	if (j->inrun || j->state != J_ACTIVE)
		return;
	j->inrun = 1;
	j->rprev = NULL;
	j->rnext = m->runq;
	if (m->runq)
		m->runq->rprev = j;
	m->runq = j;
	schedule(m);
}

static void job_unmark(bt_meta *m, job *j)
{
	if (!j->inrun)
		return;
	j->inrun = 0;
	if (j->rprev)
		j->rprev->rnext = j->rnext;
	else
		m->runq = j->rnext;
	if (j->rnext)
		j->rnext->rprev = j->rprev;
	j->rprev = j->rnext = NULL;
}

static job *job_find(const bt_meta *m, const uint8_t *ih, size_t len)
{
	uint64_t h = key_hash(m, ih, len);
	for (struct hnode *x = HT_FIRST(&m->jobs, h); x; x = x->next) {
		job *j = (job *)x;
		if (x->hash == h && j->ihlen == len && memcmp(j->ih, ih, len) == 0)
			return j;
	}
	return NULL;
}

/* ---- connection output ---- */

static void conn_want(conn *c, short f)
{
	if (c->state == C_DEAD || c->evf == f)
		return;
	struct event *ev = CONN_EV(c);
	if (c->evf != -1)
		event_del(ev);
	event_assign(ev, c->m->base, c->fd, (short)(f | EV_PERSIST), conn_cb, c);
	event_add(ev, NULL);
	c->evf = f;
}

static void conn_update_interest(conn *c)
{
	short f = c->state == C_CONNECTING ? EV_WRITE : EV_READ;
	if (c->out_len > c->out_off)
		f |= EV_WRITE;
	conn_want(c, f);
}

/* Write what can be written now; keep the rest.  0, or a failure code. */
static int conn_send(conn *c, const uint8_t *p, size_t n)
{
	bt_meta *m = c->m;
	if (c->out_len == c->out_off && c->state != C_CONNECTING) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return BT_META_E_CLOSED;
		if (w > 0) {
			m->st.bytes_out += (uint64_t)w;
			p += w;
			n -= (size_t)w;
		}
		if (n == 0)
			return 0;
	}
	if (c->out_off > 0 && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if ((size_t)c->out_len + n > OUT_MAX)
		return BT_META_E_PROTOCOL; /* it asks and does not read */
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 256;
		while (cap < c->out_len + n)
			cap *= 2;
		uint8_t *o = realloc(c->out, cap);
		if (!o)
			return BT_META_E_NOMEM;
		c->out = o;
		c->out_cap = (uint32_t)cap;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += (uint32_t)n;
	conn_update_interest(c);
	return 0;
}

static int conn_flush(conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			return BT_META_E_CLOSED;
		}
		c->m->st.bytes_out += (uint64_t)w;
		c->out_off += (uint32_t)w;
	}
	/* Drained: give the memory back, idle connections hold none. */
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = c->out_cap = 0;
	return 0;
}

/* ---- closing ---- */

static void conn_close(conn *c)
{
	bt_meta *m = c->m;
	if (c->state == C_DEAD)
		return;
	c->state = C_DEAD;
	if (c->evf != -1)
		event_del(CONN_EV(c));
	close(c->fd);
	c->fd = -1;
	bt_meta__rd_free(&c->rd);
	free(c->out);
	c->out = NULL;
	free(c->meta);
	c->meta = NULL;
	free(c->sq);
	c->sq = NULL;
	m->st.buffer_bytes -= c->reserved;
	c->reserved = 0;
	ip_release(m, &c->addr);
	if (c->tor && --c->tor->refs == 0 && c->tor->removed) {
		bt_meta_info_free(c->tor->info);
		free(c->tor);
	}
	c->tor = NULL;
	if (c->job) {
		job *j = c->job;
		for (conn **pp = &j->conns; *pp; pp = &(*pp)->jnext) {
			if (*pp == c) {
				*pp = c->jnext;
				break;
			}
		}
		j->nconns--;
		c->job = NULL;
		job_mark(m, j);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		m->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	m->nconns--;
	c->prev = NULL;
	c->next = m->dead;
	m->dead = c;
	schedule(m);
}

static void count_failure(bt_meta *m, int err)
{
	switch (err) {
	case BT_META_E_CONNECT:
		m->st.fail_connect++;
		break;
	case BT_META_E_NOEXT:
		m->st.fail_noext++;
		break;
	case BT_META_E_REJECT:
		m->st.fail_reject++;
		break;
	case BT_META_E_SIZE:
		m->st.fail_size++;
		break;
	case BT_META_E_HASH:
		m->st.fail_hash++;
		break;
	case BT_META_E_CLOSED:
		m->st.fail_closed++;
		break;
	case BT_META_E_SLOW:
		m->st.fail_slow++;
		break;
	case E_MEMORY:
		m->st.fail_memory++;
		break;
	default:
		m->st.fail_protocol++;
		break;
	}
}

/* A connection ends for @err.  Fetching ones are counted and mark their peer. */
static void conn_fail(conn *c, int err)
{
	bt_meta *m = c->m;
	if (c->state == C_DEAD)
		return;
	if (c->dir == D_OUT) {
		count_failure(m, err);
		uint64_t now = now_ms();
		job *j = c->job;
		if (err == E_MEMORY && j && c->jpeer < j->npeers) {
			/* Not the peer's fault: try it again once memory may have come back. */
			j->peers[c->jpeer].state = JP_UNTRIED;
			j->untried++;
			j->hold_until = now + 1000;
		} else {
			health_failure(m, &c->addr, err, err == BT_META_E_HASH || c->lie, now);
			if (j && c->jpeer < j->npeers)
				j->peers[c->jpeer].state = JP_DONE;
		}
	}
	conn_close(c);
}

/* ---- fetching ---- */

/* Keep REQ_PIPELINE requests in flight, written together (one segment, no Nagle wait). */
static int fetch_request_more(conn *c)
{
	bt_meta *m = c->m;
	bt_buf b;
	bt_buf_init_fixed(&b, m->wbuf, sizeof(m->wbuf));
	while (c->inflight < REQ_PIPELINE && c->next_req < c->npieces) {
		bt_meta__utm_build(&b, c->their_utm, BT_UTM_REQUEST, c->next_req, 0, NULL, 0);
		c->next_req++;
		c->inflight++;
	}
	return b.len ? conn_send(c, b.data, b.len) : 0;
}

static int fetch_ext_handshake(conn *c, const uint8_t *p, size_t n)
{
	bt_meta *m = c->m;
	bt_wire_exths x;
	if (bt_meta__exths_parse(p, n, &x) < 0)
		return BT_META_E_PROTOCOL;
	if (c->state == C_FETCH) {
		/* BEP 10 allows a second handshake; the size must not change under us. */
		if (x.metadata_size >= 0 && (uint64_t)x.metadata_size != c->meta_size) {
			c->lie = 1;
			return BT_META_E_SIZE;
		}
		if (x.ut_metadata)
			c->their_utm = (uint8_t)x.ut_metadata;
		return 0;
	}
	if (!x.ut_metadata || x.metadata_size < 0)
		return BT_META_E_NOEXT;
	if (x.metadata_size == 0 || (uint64_t)x.metadata_size > m->o.max_metadata_size)
		return BT_META_E_SIZE;
	if (m->st.buffer_bytes + (uint64_t)x.metadata_size > m->o.max_buffer_memory)
		return E_MEMORY;
	c->their_utm = (uint8_t)x.ut_metadata;
	c->meta_size = (uint32_t)x.metadata_size;
	c->npieces = (c->meta_size + BT_WIRE_PIECE - 1) / BT_WIRE_PIECE;
	c->reserved = c->meta_size + (c->npieces + 7) / 8;
	m->st.buffer_bytes += c->reserved;
	c->state = C_FETCH;
	c->t_stage = now_ms();
	return fetch_request_more(c);
}

static int fetch_verified(conn *c)
{
	bt_meta *m = c->m;
	job *j = c->job;
	uint8_t md[32];
	bool ok = false;

	if (j->ihlen == 20) {
		EVP_Digest(c->meta, c->meta_size, md, NULL, EVP_sha1(), NULL);
		ok = memcmp(md, j->ih, 20) == 0;
	}
	if (!ok) {
		/* A v2 infohash, whole or truncated to 20 bytes in the handshake. */
		EVP_Digest(c->meta, c->meta_size, md, NULL, EVP_sha256(), NULL);
		ok = memcmp(md, j->ih, j->ihlen) == 0;
	}
	if (!ok)
		return BT_META_E_HASH;

	bt_meta_info *info = NULL;
	int r = bt_meta_info_parse(&info, c->meta, c->meta_size);
	m->st.fetches_ok++;
	health_success(m, &c->addr, now_ms() - c->t_start);
	if (r < 0) {
		/* The peer gave what hashes right: the torrent itself is broken. */
		logf_(m, BT_META_LOG_WARN, "verified metadata is not an info dictionary: %s",
		      bt_meta_strerror(r));
		job_finish(m, j, r == BT_META_E_NOMEM ? r : BT_META_E_FORMAT, NULL, c);
	} else {
		job_finish(m, j, 0, info, c);
	}
	return STOP;
}

static int fetch_data(conn *c, const bt_wire_utm *u, const uint8_t *p)
{
	if (c->state != C_FETCH || u->piece < 0 || (uint64_t)u->piece >= c->next_req) {
		c->lie = 1;
		return BT_META_E_SIZE; /* a piece we did not ask for */
	}
	uint32_t i = (uint32_t)u->piece;
	uint32_t want = i + 1 < c->npieces ? BT_WIRE_PIECE : c->meta_size - i * BT_WIRE_PIECE;
	if ((u->total_size >= 0 && (uint64_t)u->total_size != c->meta_size) ||
	    u->data_len != want) {
		c->lie = 1;
		return BT_META_E_SIZE;
	}
	if (!c->meta) {
		c->meta = malloc(c->meta_size + (c->npieces + 7) / 8);
		if (!c->meta)
			return E_MEMORY;
		memset(c->meta + c->meta_size, 0, (c->npieces + 7) / 8);
	}
	uint8_t *bits = c->meta + c->meta_size;
	if (bits[i / 8] & (1u << (i % 8))) {
		c->lie = 1;
		return BT_META_E_SIZE; /* the same piece twice */
	}
	bits[i / 8] |= (uint8_t)(1u << (i % 8));
	memcpy(c->meta + (size_t)i * BT_WIRE_PIECE, p + u->data_off, want);
	c->received++;
	c->inflight--;
	if (c->received == c->npieces)
		return fetch_verified(c);
	return fetch_request_more(c);
}

/* ---- serving ---- */

static torrent *served_find(const bt_meta *m, const uint8_t key[20])
{
	uint64_t h = key_hash(m, key, 20);
	for (struct hnode *x = HT_FIRST(&m->served, h); x; x = x->next) {
		struct tkey *k = (struct tkey *)x;
		if (x->hash == h && memcmp(k->key, key, 20) == 0)
			return k->t;
	}
	return NULL;
}

static int serve_fill(conn *c)
{
	bt_meta *m = c->m;
	struct servq *q = c->sq;
	const bt_meta_info *info = c->tor->info;
	while (q->n > 0 && c->out_len - c->out_off < SERVE_OUT_LOW) {
		uint32_t i = q->q[q->head];
		q->head = (uint8_t)((q->head + 1) % SERVE_QUEUE);
		q->n--;
		size_t off = (size_t)i * BT_WIRE_PIECE;
		size_t len =
		    info->raw_len - off < BT_WIRE_PIECE ? info->raw_len - off : BT_WIRE_PIECE;
		bt_buf b;
		bt_buf_init_fixed(&b, m->wbuf, sizeof(m->wbuf));
		bt_meta__utm_build(&b, c->their_utm, BT_UTM_DATA, i, (int64_t)info->raw_len,
		                   info->raw + off, len);
		int r = b.err ? b.err : conn_send(c, b.data, b.len);
		if (r < 0)
			return r;
		m->st.served_pieces++;
		if (++q->sent >= c->tor->npieces && !q->complete) {
			q->complete = true;
			m->st.served_complete++;
		}
	}
	return 0;
}

static int serve_reject(conn *c, uint32_t piece)
{
	bt_buf b;
	c->m->st.served_rejects++;
	if (!c->their_utm)
		return 0;
	bt_buf_init_fixed(&b, c->m->wbuf, sizeof(c->m->wbuf));
	bt_meta__utm_build(&b, c->their_utm, BT_UTM_REJECT, piece, 0, NULL, 0);
	return conn_send(c, b.data, b.len);
}

static int serve_request(conn *c, const bt_wire_utm *u)
{
	struct servq *q = c->sq;
	if (!c->their_utm)
		return 0; /* it never told us how to address it */
	if (u->piece < 0 || (uint64_t)u->piece >= c->tor->npieces || q->n == SERVE_QUEUE)
		return serve_reject(c,
		                    u->piece < 0 || u->piece > UINT32_MAX ? 0 : (uint32_t)u->piece);
	q->q[(q->head + q->n) % SERVE_QUEUE] = (uint32_t)u->piece;
	q->n++;
	return serve_fill(c);
}

/* ---- wire handlers ---- */

static int on_handshake(void *ud, const bt_wire_hs *hs)
{
	conn *c = ud;
	bt_meta *m = c->m;
	bt_buf b;

	if (c->dir == D_OUT) {
		if (memcmp(hs->infohash, c->job->ih, 20) != 0)
			return BT_META_E_PROTOCOL;
		if (!bt_meta__hs_has_ext(hs))
			return BT_META_E_NOEXT;
		bt_buf_init_fixed(&b, m->wbuf, sizeof(m->wbuf));
		bt_meta__exths_build(&b, -1, m->listen_port, SERVE_QUEUE, m->client, &c->addr);
		return conn_send(c, b.data, b.len);
	}

	torrent *t = served_find(m, hs->infohash);
	if (!t || !bt_meta__hs_has_ext(hs))
		return BT_META_E_NOENT;
	if (!(c->sq = calloc(1, sizeof(*c->sq))))
		return BT_META_E_NOMEM;
	c->tor = t;
	t->refs++;
	c->state = C_SERVE;
	uint8_t out[BT_WIRE_HS_LEN];
	bt_meta__hs_build(out, hs->infohash, m->peer_id);
	int r = conn_send(c, out, sizeof(out));
	if (r < 0)
		return r;
	bt_buf_init_fixed(&b, m->wbuf, sizeof(m->wbuf));
	bt_meta__exths_build(&b, (int64_t)t->info->raw_len, m->listen_port, SERVE_QUEUE, m->client,
	                     &c->addr);
	return conn_send(c, b.data, b.len);
}

static int on_extended(void *ud, uint8_t ext_id, const uint8_t *p, size_t n)
{
	conn *c = ud;
	bt_wire_utm u;

	if (ext_id == 0) {
		if (c->dir == D_OUT)
			return fetch_ext_handshake(c, p, n);
		bt_wire_exths x;
		if (bt_meta__exths_parse(p, n, &x) < 0)
			return BT_META_E_PROTOCOL;
		c->their_utm = (uint8_t)x.ut_metadata;
		return 0;
	}
	if (ext_id != BT_WIRE_OUR_UTM)
		return 0; /* pex, upload_only, ...: not ours to care about */
	if (bt_meta__utm_parse(p, n, &u) < 0)
		return BT_META_E_PROTOCOL;
	if (c->dir == D_IN)
		return u.type == BT_UTM_REQUEST ? serve_request(c, &u) : 0;
	switch (u.type) {
	case BT_UTM_DATA:
		return fetch_data(c, &u, p);
	case BT_UTM_REJECT:
		return BT_META_E_REJECT;
	case BT_UTM_REQUEST:
		/* We have nothing to give while we fetch. */
		if (c->their_utm) {
			bt_buf b;
			bt_buf_init_fixed(&b, c->m->wbuf, sizeof(c->m->wbuf));
			bt_meta__utm_build(&b, c->their_utm, BT_UTM_REJECT,
			                   u.piece < 0 || u.piece > UINT32_MAX ? 0
			                                                       : (uint32_t)u.piece,
			                   0, NULL, 0);
			return conn_send(c, b.data, b.len);
		}
		return 0;
	default:
		return 0; /* BEP 9: ignore unknown message types */
	}
}

static const bt_wire_handlers handlers = {on_handshake, on_extended};

/* ---- connection events ---- */

static void conn_connected(conn *c)
{
	int err = 0;
	socklen_t el = sizeof(err);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0) {
		conn_fail(c, BT_META_E_CONNECT);
		return;
	}
	c->state = C_HANDSHAKE;
	c->t_stage = c->t_act = now_ms();
	uint8_t hs[BT_WIRE_HS_LEN];
	bt_meta__hs_build(hs, c->job->ih, c->m->peer_id);
	int r = conn_send(c, hs, sizeof(hs));
	if (r < 0) {
		conn_fail(c, r);
		return;
	}
	conn_update_interest(c);
}

static void conn_readable(conn *c)
{
	bt_meta *m = c->m;
	for (int k = 0; k < READS_PER_WAKE && c->state != C_DEAD; k++) {
		ssize_t n = recv(c->fd, m->rbuf, sizeof(m->rbuf), 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			conn_fail(c, BT_META_E_CLOSED);
			return;
		}
		if (n == 0) {
			conn_fail(c, BT_META_E_CLOSED);
			return;
		}
		m->st.bytes_in += (uint64_t)n;
		c->t_act = now_ms();
		int r = bt_meta__rd_feed(&c->rd, m->rbuf, (size_t)n, &handlers, c);
		if (r == STOP)
			return;
		if (r < 0) {
			conn_fail(c, r);
			return;
		}
		if ((size_t)n < sizeof(m->rbuf))
			return;
	}
}

static void conn_cb(evutil_socket_t fd, short what, void *arg)
{
	conn *c = arg;
	(void)fd;
	if (c->state == C_CONNECTING) {
		if (what & EV_WRITE)
			conn_connected(c);
		return;
	}
	if ((what & EV_WRITE) && c->state != C_DEAD) {
		int r = conn_flush(c);
		if (r == 0 && c->sq && c->tor)
			r = serve_fill(c);
		if (r < 0) {
			conn_fail(c, r);
			return;
		}
		c->t_act = now_ms();
	}
	if ((what & EV_READ) && c->state != C_DEAD)
		conn_readable(c);
	if (c->state != C_DEAD)
		conn_update_interest(c);
}

static conn *conn_alloc(bt_meta *m, int fd, const bt_addr *a, int dir, uint64_t now)
{
	/* Every write is a whole message the peer waits for. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	conn *c = calloc(1, sizeof(*c) + event_get_struct_event_size());
	if (!c)
		return NULL;
	c->m = m;
	c->fd = fd;
	c->addr = *a;
	c->dir = (uint8_t)dir;
	c->t_start = c->t_stage = c->t_act = now;
	c->evf = -1;
	bt_meta__rd_init(&c->rd);
	c->next = m->conns;
	if (m->conns)
		m->conns->prev = c;
	m->conns = c;
	if (++m->nconns > m->st.conns_peak)
		m->st.conns_peak = m->nconns;
	return c;
}

/* Open a connection to peer @pi of job @j.  0, or -1 when the system refuses (no fd). */
static int conn_open(bt_meta *m, job *j, uint16_t pi, uint64_t now)
{
	jpeer *jp = &j->peers[pi];
	struct sockaddr_storage ss;
	socklen_t sl = bt_addr_to_sockaddr(&jp->a, &ss);

	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		logf_(m, BT_META_LOG_WARN, "socket: %s", strerror(errno));
		return -1;
	}
	if (ip_acquire(m, &jp->a) < 0) {
		close(fd);
		return -1;
	}
	conn *c = conn_alloc(m, fd, &jp->a, D_OUT, now);
	if (!c) {
		ip_release(m, &jp->a);
		close(fd);
		return -1;
	}
	c->job = j;
	c->jpeer = pi;
	c->jnext = j->conns;
	j->conns = c;
	j->nconns++;
	j->tried++;
	j->untried--;
	jp->state = JP_TRYING;
	m->st.conns_out++;
	c->state = C_CONNECTING;
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
		conn_fail(c, BT_META_E_CONNECT);
		return 0;
	}
	conn_want(c, EV_WRITE);
	return 0;
}

/* ---- jobs ---- */

/* The untried peer of @j to try next: healthy first, never a banned one (those are marked done
 * here).  -1 if none can be tried now. */
static int job_pick_peer(bt_meta *m, job *j, uint64_t now)
{
	int best = -1;
	int64_t best_score = INT64_MIN;
	for (uint16_t i = 0; i < j->npeers; i++) {
		jpeer *jp = &j->peers[i];
		if (jp->state != JP_UNTRIED)
			continue;
		peer_rec *p = peer_find(m, &jp->a);
		if (p && p->banned_until > now) {
			jp->state = JP_DONE;
			j->untried--;
			continue;
		}
		if (ip_full(m, &jp->a))
			continue;
		int64_t s = 0;
		if (p) {
			s = (int64_t)p->succ * 4 - p->fail;
			if (p->backoff_until > now)
				s -= 1000000;
			else if (p->lat_ms)
				s += 100000 / (p->lat_ms + 100);
		}
		if (s > best_score) {
			best_score = s;
			best = i;
		}
	}
	return best;
}

/* Start connections for an active job; fail it when nothing is left to try. */
static void job_run(bt_meta *m, job *j, uint64_t now)
{
	if (now < j->hold_until)
		return; /* the sweep lists it again */
	while (j->nconns < m->o.peers_per_job && j->untried > 0 &&
	       m->nconns < m->o.max_connections && m->st.buffer_bytes < m->o.max_buffer_memory) {
		int pi = job_pick_peer(m, j, now);
		if (pi < 0 || conn_open(m, j, (uint16_t)pi, now) < 0)
			break;
	}
	if (j->nconns == 0 && j->untried == 0)
		job_finish(m, j, BT_META_E_NOPEERS, NULL, NULL);
}

static void job_free(job *j)
{
	bt_meta_info_free(j->info);
	free(j->peers);
	free(j);
}

/* Take @j out of every table; closes its connections (counted as cancelled). */
static void job_detach(bt_meta *m, job *j)
{
	while (j->conns) {
		conn *c = j->conns;
		if (c->state != C_DEAD)
			m->st.cancelled_conns++;
		conn_close(c);
	}
	ht_remove(&m->jobs, &j->hn);
	if (j->state == J_ACTIVE) {
		job_unmark(m, j);
		list_unlink(&m->ahead, &m->atail, j);
		m->nactive--;
	} else {
		heap_remove(m, j);
		list_unlink(&m->qhead, &m->qtail, j);
		m->nqueued--;
	}
}

/* End @j: out of every table now, its on_result from the next pump.  Takes @info. */
static void job_finish(bt_meta *m, job *j, int status, bt_meta_info *info, conn *by)
{
	j->status = status;
	j->info = info;
	if (by && status == 0)
		j->by = by->addr;
	if (by)
		conn_close(by); /* not a cancellation: it delivered */
	job_detach(m, j);
	if (j->state == J_ACTIVE)
		j->started = now_ms() - j->started; /* from here on: the elapsed time */
	else
		j->started = 0;
	switch (status) {
	case 0:
		m->st.jobs_done++;
		break;
	case BT_META_E_CANCELLED:
		m->st.jobs_cancelled++;
		break;
	case BT_META_E_LIMIT:
		m->st.jobs_dropped++;
		break;
	default:
		m->st.jobs_failed++;
		break;
	}
	list_append(&m->dhead, &m->dtail, j);
	schedule(m);
}

static void job_report(bt_meta *m, job *j)
{
	struct sockaddr_storage ss;
	bt_meta_result r;

	memset(&r, 0, sizeof(r));
	r.infohash = j->ih;
	r.infohash_len = j->ihlen;
	r.status = j->status;
	r.info = j->info;
	if (j->by.family) {
		r.peer_len = bt_addr_to_sockaddr(&j->by, &ss);
		r.peer = (struct sockaddr *)&ss;
	}
	r.elapsed_ms = j->started > UINT32_MAX ? UINT32_MAX : (uint32_t)j->started;
	r.peers_tried = j->tried;
	r.peers_known = j->npeers;
	if (m->o.on_result)
		m->o.on_result(&r, m->o.cb_ud);
}

static int job_add_peer(bt_meta *m, job *j, const bt_addr *a)
{
	for (uint16_t i = 0; i < j->npeers; i++)
		if (bt_addr_eq(&j->peers[i].a, a))
			return 0;
	if (j->npeers >= m->o.max_job_peers)
		return 0;
	jpeer *np = realloc(j->peers, (j->npeers + 1u) * sizeof(*np));
	if (!np)
		return BT_META_E_NOMEM;
	j->peers = np;
	np[j->npeers].a = *a;
	np[j->npeers].state = JP_UNTRIED;
	j->npeers++;
	j->untried++;
	return 1;
}

/* Make room for a new queued job of score @score: drop the least valuable of a few candidates
 * (the least recently seen job, some leaves of the heap) if it is worth less.  0 or -1. */
static int queue_make_room(bt_meta *m, uint32_t score)
{
	job *victim = m->qhead;
	uint64_t rnd;
	RAND_bytes((uint8_t *)&rnd, sizeof(rnd));
	for (int k = 0; k < 8 && m->nheap > 0; k++) {
		uint32_t leaves = m->nheap - m->nheap / 2;
		job *c = m->heap[m->nheap / 2 + (uint32_t)((rnd >> (k * 8)) % leaves)];
		if (!victim || job_score(c) < job_score(victim))
			victim = c;
	}
	if (!victim || job_score(victim) >= score)
		return -1;
	job_finish(m, victim, BT_META_E_LIMIT, NULL, NULL);
	return 0;
}

/* ---- the pump and the sweep ---- */

static void free_dead(bt_meta *m)
{
	while (m->dead) {
		conn *c = m->dead;
		m->dead = c->next;
		free(c);
	}
}

static void pump_cb(evutil_socket_t fd, short what, void *arg)
{
	bt_meta *m = arg;
	uint64_t now = now_ms();
	(void)fd;
	(void)what;

	free_dead(m);
	while (m->runq) {
		job *j = m->runq;
		job_unmark(m, j);
		job_run(m, j, now);
	}
	while (m->nheap > 0 && m->nactive < m->o.max_active && m->nconns < m->o.max_connections) {
		job *j = m->heap[0];
		heap_remove(m, j);
		list_unlink(&m->qhead, &m->qtail, j);
		m->nqueued--;
		j->state = J_ACTIVE;
		j->started = now;
		list_append(&m->ahead, &m->atail, j);
		m->nactive++;
		job_run(m, j, now);
	}
	/* Last, the callbacks: whatever they do only adds to the lists and schedules a pump. */
	while (m->dhead) {
		job *j = m->dhead;
		list_unlink(&m->dhead, &m->dtail, j);
		job_report(m, j);
		job_free(j);
	}
	free_dead(m);
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	bt_meta *m = arg;
	uint64_t now = now_ms();
	const bt_meta_options *o = &m->o;
	(void)fd;
	(void)what;

	for (conn *c = m->conns, *nx; c; c = nx) {
		nx = c->next;
		if (c->state == C_CONNECTING) {
			if (now - c->t_start >= o->connect_timeout_ms)
				conn_fail(c, BT_META_E_CONNECT);
			continue;
		}
		bool late = now - c->t_act >= o->idle_timeout_ms;
		if (c->dir == D_OUT)
			late = late ||
			       (c->state == C_HANDSHAKE &&
			        now - c->t_stage >= o->handshake_timeout_ms) ||
			       now - c->t_start >= o->peer_timeout_ms;
		else /* a peer we serve gets the same whole-connection deadline: no slowloris */
			late = late ||
			       (c->state == C_HANDSHAKE &&
			        now - c->t_start >= o->handshake_timeout_ms) ||
			       now - c->t_start >= o->peer_timeout_ms;
		if (late)
			conn_fail(c, BT_META_E_SLOW);
		/* conn_fail only unlinks @c, so @nx is still live. */
	}
	while (m->ahead && now - m->ahead->started >= o->job_timeout_ms)
		job_finish(m, m->ahead, BT_META_E_TIMEOUT, NULL, NULL);
	/* Jobs held back by a limit try again: capacity may have come back. */
	for (job *j = m->ahead; j; j = j->next)
		if (j->untried > 0 && j->nconns < o->peers_per_job)
			job_mark(m, j);
	while (m->qhead && now - m->qhead->last_seen >= o->queue_ttl_ms)
		job_finish(m, m->qhead, BT_META_E_LIMIT, NULL, NULL);
	schedule(m);
}

/* ---- listening ---- */

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	bt_meta *m = arg;
	(void)what;
	for (int k = 0; k < ACCEPTS_PER_WAKE; k++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		bt_addr a;
		if (bt_addr_from_sockaddr(&a, (struct sockaddr *)&ss, sl) < 0 ||
		    m->nconns >= m->o.max_connections || ip_acquire(m, &a) < 0) {
			m->st.conns_refused++;
			close(fd);
			continue;
		}
		conn *c = conn_alloc(m, fd, &a, D_IN, now_ms());
		if (!c) {
			ip_release(m, &a);
			close(fd);
			continue;
		}
		m->st.conns_in++;
		c->state = C_HANDSHAKE;
		conn_want(c, EV_READ);
	}
}

/* ---- public API ---- */

static void defaults(bt_meta_options *o)
{
#define DEF(f, v)                                                                                  \
	if (o->f == 0)                                                                             \
	o->f = (v)
	DEF(max_connections, 1000);
	DEF(max_per_ip, 4);
	DEF(max_active, 500);
	DEF(max_queued, 100000);
	DEF(peers_per_job, 3);
	DEF(max_job_peers, 32);
	DEF(max_metadata_size, 10u << 20);
	DEF(max_buffer_memory, 256u << 20);
	DEF(connect_timeout_ms, 5000);
	DEF(handshake_timeout_ms, 5000);
	DEF(idle_timeout_ms, 10000);
	DEF(peer_timeout_ms, 30000);
	DEF(job_timeout_ms, 60000);
	DEF(queue_ttl_ms, 3600000);
	DEF(ban_ms, 3600000);
	DEF(max_peers_tracked, 100000);
#undef DEF
	if (o->max_job_peers > 65535)
		o->max_job_peers = 65535;
	if (o->peers_per_job > o->max_job_peers)
		o->peers_per_job = o->max_job_peers;
	if (o->max_metadata_size > (64u << 20))
		o->max_metadata_size = 64u << 20; /* what bt_meta_info_parse() accepts */
}

int bt_meta_new(bt_meta **out, const bt_meta_options *opts)
{
	if (!out)
		return BT_META_E_INVAL;
	*out = NULL;
	if (!opts)
		return BT_META_E_INVAL;
	if (opts->version != BT_META_OPTIONS_VERSION)
		return BT_META_E_VERSION;
	if (!opts->base)
		return BT_META_E_INVAL;

	bt_meta *m = calloc(1, sizeof(*m));
	if (!m)
		return BT_META_E_NOMEM;
	m->o = *opts;
	defaults(&m->o);
	m->base = opts->base;
	m->o.client_name = NULL; /* copied below; the caller's string need not live on */
	snprintf(m->client, sizeof(m->client), "%s",
	         opts->client_name ? opts->client_name : "BitScrape/" BT_META_VERSION_STRING);
	if (opts->peer_id) {
		memcpy(m->peer_id, opts->peer_id, 20);
	} else {
		memcpy(m->peer_id, "-BS0100-", 8);
		if (RAND_bytes(m->peer_id + 8, 12) != 1)
			goto fail;
	}
	if (RAND_bytes((uint8_t *)&m->k0, 8) != 1 || RAND_bytes((uint8_t *)&m->k1, 8) != 1)
		goto fail;
	if (ht_init(&m->jobs, 256) < 0 || ht_init(&m->peers, 256) < 0 ||
	    ht_init(&m->ips, 256) < 0 || ht_init(&m->served, 16) < 0)
		goto fail;
	m->pump = event_new(m->base, -1, 0, pump_cb, m);
	m->sweep = event_new(m->base, -1, EV_PERSIST, sweep_cb, m);
	struct timeval tv = {0, SWEEP_MS * 1000};
	if (!m->pump || !m->sweep || event_add(m->sweep, &tv) < 0)
		goto fail;
	*out = m;
	return 0;
fail:
	bt_meta_free(m);
	return BT_META_E_NOMEM;
}

void bt_meta_free(bt_meta *m)
{
	if (!m)
		return;
	while (m->conns)
		conn_close(m->conns);
	while (m->dead) {
		conn *c = m->dead;
		m->dead = c->next;
		free(c);
	}
	job **lists[] = {&m->ahead, &m->qhead, &m->dhead};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		while (*lists[i]) {
			job *j = *lists[i];
			*lists[i] = j->next;
			job_free(j);
		}
	}
	for (peer_rec *p = m->lru_head, *nx; p; p = nx) {
		nx = p->lru_next;
		free(p);
	}
	for (size_t i = 0; m->ips.b && i <= m->ips.mask; i++)
		for (struct hnode *x = m->ips.b[i], *nx; x; x = nx) {
			nx = x->next;
			free(x);
		}
	for (torrent *t = m->torrents, *nx; t; t = nx) {
		nx = t->next;
		bt_meta_info_free(t->info);
		free(t);
	}
	for (struct listener *l = m->listeners, *nx; l; l = nx) {
		nx = l->next;
		event_free(l->ev);
		close(l->fd);
		free(l);
	}
	if (m->pump)
		event_free(m->pump);
	if (m->sweep)
		event_free(m->sweep);
	free(m->jobs.b);
	free(m->peers.b);
	free(m->ips.b);
	free(m->served.b);
	free(m->heap);
	free(m);
}

int bt_meta_submit(bt_meta *m, const uint8_t *ih, size_t len, const struct sockaddr *peer,
                   socklen_t peer_len)
{
	bt_addr a;
	uint64_t now = now_ms();

	if (!m || !ih || (len != 20 && len != 32))
		return BT_META_E_INVAL;
	if (peer && (bt_addr_from_sockaddr(&a, peer, peer_len) < 0 || a.port == 0))
		return BT_META_E_INVAL;

	job *j = job_find(m, ih, len);
	if (!j) {
		uint32_t score = 1 + (peer ? 4 : 0);
		if (m->nqueued >= m->o.max_queued && queue_make_room(m, score) < 0)
			return BT_META_E_LIMIT;
		if (!(j = calloc(1, sizeof(*j))))
			return BT_META_E_NOMEM;
		memcpy(j->ih, ih, len);
		j->ihlen = (uint8_t)len;
		j->heap_idx = NOHEAP;
		j->first_seen = now;
		j->state = J_QUEUED;
		ht_insert(&m->jobs, &j->hn, key_hash(m, ih, len));
		list_append(&m->qhead, &m->qtail, j);
		m->nqueued++;
		m->st.jobs_submitted++;
	} else if (j->state == J_QUEUED) {
		list_unlink(&m->qhead, &m->qtail, j);
		list_append(&m->qhead, &m->qtail, j);
	}
	j->seen++;
	j->last_seen = now;
	if (peer) {
		int r = job_add_peer(m, j, &a);
		if (r < 0)
			return r;
		if (r > 0)
			job_mark(m, j);
	}
	if (j->state == J_QUEUED) {
		if (j->heap_idx != NOHEAP)
			heap_up(m, j->heap_idx);
		else if (j->npeers > 0 && heap_push(m, j) < 0)
			return BT_META_E_NOMEM;
	}
	schedule(m);
	return 0;
}

int bt_meta_cancel(bt_meta *m, const uint8_t *ih, size_t len)
{
	if (!m || !ih || (len != 20 && len != 32))
		return BT_META_E_INVAL;
	job *j = job_find(m, ih, len);
	if (!j)
		return BT_META_E_NOENT;
	job_finish(m, j, BT_META_E_CANCELLED, NULL, NULL);
	return 0;
}

int bt_meta_listen(bt_meta *m, const struct sockaddr *addr, socklen_t len,
                   struct sockaddr_storage *bound)
{
	if (!m || !addr || (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
		return BT_META_E_INVAL;
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (bind(fd, addr, len) < 0 || listen(fd, 1024) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	struct listener *l = calloc(1, sizeof(*l));
	if (!l || !(l->ev = event_new(m->base, fd, EV_READ | EV_PERSIST, accept_cb, m)) ||
	    event_add(l->ev, NULL) < 0) {
		if (l && l->ev)
			event_free(l->ev);
		free(l);
		close(fd);
		return BT_META_E_NOMEM;
	}
	l->fd = fd;
	l->next = m->listeners;
	m->listeners = l;
	bt_addr b;
	if (!m->listen_port && bt_addr_from_sockaddr(&b, (struct sockaddr *)&ss, sl) == 0)
		m->listen_port = b.port;
	if (bound)
		*bound = ss;
	return 0;
}

int bt_meta_serve_add(bt_meta *m, const uint8_t *data, size_t len)
{
	if (!m || !data)
		return BT_META_E_INVAL;
	if (len > m->o.max_metadata_size)
		return BT_META_E_LIMIT;
	torrent *t = calloc(1, sizeof(*t));
	if (!t)
		return BT_META_E_NOMEM;
	int r = bt_meta_info_parse(&t->info, data, len);
	if (r < 0) {
		free(t);
		return r;
	}
	memcpy(t->k[0].key, t->info->sha1, 20);
	t->nk = 1;
	if (t->info->versions & BT_META_V2) {
		memcpy(t->k[1].key, t->info->sha256, 20);
		t->nk = 2;
	}
	for (int i = 0; i < t->nk; i++) {
		if (served_find(m, t->k[i].key)) {
			bt_meta_info_free(t->info);
			free(t);
			return BT_META_E_EXISTS;
		}
	}
	t->npieces = (uint32_t)((len + BT_WIRE_PIECE - 1) / BT_WIRE_PIECE);
	for (int i = 0; i < t->nk; i++) {
		t->k[i].t = t;
		ht_insert(&m->served, &t->k[i].hn, key_hash(m, t->k[i].key, 20));
	}
	t->next = m->torrents;
	m->torrents = t;
	m->st.served_torrents++;
	return 0;
}

int bt_meta_serve_remove(bt_meta *m, const uint8_t *ih, size_t len)
{
	if (!m || !ih || (len != 20 && len != 32))
		return BT_META_E_INVAL;
	torrent *t = served_find(m, ih);
	if (!t || (len == 32 && memcmp(t->info->sha256, ih, 32) != 0))
		return BT_META_E_NOENT;
	for (int i = 0; i < t->nk; i++)
		ht_remove(&m->served, &t->k[i].hn);
	for (torrent **pp = &m->torrents; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	m->st.served_torrents--;
	if (t->refs) {
		t->removed = 1; /* the last serving connection frees it */
		return 0;
	}
	bt_meta_info_free(t->info);
	free(t);
	return 0;
}

int bt_meta_get_stats(const bt_meta *m, bt_meta_stats *out)
{
	if (!m || !out)
		return BT_META_E_INVAL;
	*out = m->st;
	out->jobs_queued = m->nqueued;
	out->jobs_active = m->nactive;
	out->conns_open = m->nconns;
	out->peers_tracked = m->peers.n;
	return 0;
}

int bt_meta_peer_get(const bt_meta *m, const struct sockaddr *peer, socklen_t len,
                     bt_meta_peer_health *out)
{
	bt_addr a;
	if (!m || !peer || !out || bt_addr_from_sockaddr(&a, peer, len) < 0)
		return BT_META_E_INVAL;
	const peer_rec *p = peer_find(m, &a);
	if (!p)
		return BT_META_E_NOENT;
	uint64_t now = now_ms();
	out->successes = p->succ;
	out->failures = p->fail;
	out->latency_ms = p->lat_ms;
	out->last_error = p->last_err;
	out->backoff_ms = p->backoff_until > now ? (uint32_t)(p->backoff_until - now) : 0;
	out->banned_ms = p->banned_until > now ? (uint32_t)(p->banned_until - now) : 0;
	return 0;
}

const char *bt_meta_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case BT_META_E_INVAL:
		return "invalid argument";
	case BT_META_E_NOMEM:
		return "out of memory";
	case BT_META_E_VERSION:
		return "unknown options version";
	case BT_META_E_EXISTS:
		return "already exists";
	case BT_META_E_NOENT:
		return "no such infohash";
	case BT_META_E_LIMIT:
		return "refused by a limit";
	case BT_META_E_FORMAT:
		return "not a valid info dictionary or torrent file";
	case BT_META_E_HASH:
		return "metadata does not match the infohash";
	case BT_META_E_NOPEERS:
		return "no peer delivered the metadata";
	case BT_META_E_TIMEOUT:
		return "timed out";
	case BT_META_E_CANCELLED:
		return "cancelled";
	case BT_META_E_CONNECT:
		return "connection failed";
	case BT_META_E_PROTOCOL:
		return "peer broke the protocol";
	case BT_META_E_NOEXT:
		return "peer does not offer ut_metadata";
	case BT_META_E_REJECT:
		return "peer rejected the request";
	case BT_META_E_SIZE:
		return "wrong or oversized metadata size";
	case BT_META_E_CLOSED:
		return "peer closed the connection";
	case BT_META_E_SLOW:
		return "peer too slow";
	default:
		break;
	}
	if (err < 0 && err > -4096)
		return strerror(-err);
	return "unknown error";
}

const char *bt_meta_version(void)
{
	return BT_META_VERSION_STRING;
}
