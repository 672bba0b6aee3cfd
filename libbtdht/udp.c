/*
 * udp.c - the libevent UDP transport of btdht.h: one non-blocking socket per address family,
 * datagrams read in batches with recvmmsg() and written in batches with sendmmsg() where the
 * system has them, a timer that calls bt_dht_tick() when the engine asks, and asynchronous
 * resolution of bootstrap names with evdns.  The engine itself never sees a socket.
 *
 * Sending: replies and queries produced while a batch of input is processed are queued (up to
 * OUTQ) and flushed together at the end of the batch, one sendmmsg() for many datagrams.  A
 * queued datagram the kernel then refuses (no buffer space) is dropped, as the network could
 * have dropped it: the engine has already counted it as sent, and a query will time out.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "addr.h"
#include "btdht.h"

#define BATCH 32      /* datagrams per recvmmsg()/sendmmsg() */
#define MAX_READS 256 /* datagrams read per wake-up, so other events get their turn */
#define OUTQ 64       /* datagrams queued before a flush */
#define PKT_MAX 1500

struct outpkt {
	int fd;
	socklen_t tolen;
	struct sockaddr_storage to;
	uint16_t len;
	uint8_t data[PKT_MAX];
};

struct resolve {
	struct bt_dht_udp *u;
	struct evdns_getaddrinfo_request *req;
	struct resolve *next;
};

struct bt_dht_udp {
	struct event_base *base;
	struct evdns_base *dns;
	bool own_dns;
	bt_dht *dht;
	int fd[2]; /* IPv4, IPv6; -1 when absent */
	struct event *rev[2];
	struct event *timer;
	struct outpkt *outq;
	unsigned nout;
	uint8_t (*rbufs)[PKT_MAX + 1]; /* BATCH receive buffers */
	bool in_batch;                 /* sends are queued until the batch ends */
	struct resolve *resolving;
	bt_dht_log_cb log;
	void *log_ud;
};

BT_DHT_EXTERN uint64_t bt_dht_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

BT_DHT_EXTERN const char *const *bt_dht_default_routers(void)
{
	static const char *const routers[] = {
	    "router.bittorrent.com:6881",
	    "dht.transmissionbt.com:6881",
	    "router.utorrent.com:6881",
	    "dht.libtorrent.org:25401",
	    NULL,
	};
	return routers;
}

static void logmsg(bt_dht_udp *u, int level, const char *msg)
{
	if (u->log)
		u->log(level, msg, u->log_ud);
}

/* ---- sending ---- */

static void flush(bt_dht_udp *u)
{
	unsigned done = 0;
	while (done < u->nout) {
#ifdef HAVE_SENDMMSG
		struct mmsghdr mm[BATCH];
		struct iovec iov[BATCH];
		unsigned n = 0;
		int fd = u->outq[done].fd;
		/* one call per run of datagrams on the same socket */
		while (done + n < u->nout && n < BATCH && u->outq[done + n].fd == fd) {
			struct outpkt *p = &u->outq[done + n];
			iov[n].iov_base = p->data;
			iov[n].iov_len = p->len;
			memset(&mm[n], 0, sizeof(mm[n]));
			mm[n].msg_hdr.msg_name = &p->to;
			mm[n].msg_hdr.msg_namelen = p->tolen;
			mm[n].msg_hdr.msg_iov = &iov[n];
			mm[n].msg_hdr.msg_iovlen = 1;
			n++;
		}
		int r = sendmmsg(fd, mm, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
			done += n; /* the socket buffer is full: the rest of this run is lost too */
			continue;
		}
		/* Any other error belongs to the first datagram (a bad address): skip it alone. */
		done += r > 0 ? (unsigned)r : 1;
#else
		struct outpkt *p = &u->outq[done++];
		while (sendto(p->fd, p->data, p->len, 0, (struct sockaddr *)&p->to, p->tolen) < 0 &&
		       errno == EINTR)
			;
#endif
	}
	u->nout = 0;
}

static int udp_send(const uint8_t *data, size_t len, const struct sockaddr *to, socklen_t tolen,
                    void *ud)
{
	bt_dht_udp *u = ud;
	int fam = to->sa_family == AF_INET6 ? 1 : 0;
	if (u->fd[fam] < 0)
		return -EAFNOSUPPORT;
	if (len > PKT_MAX || tolen > (socklen_t)sizeof(struct sockaddr_storage))
		return -EMSGSIZE;
	if (!u->in_batch) {
		/* outside a batch (an API call of the program): send at once */
		ssize_t r;
		do
			r = sendto(u->fd[fam], data, len, 0, to, tolen);
		while (r < 0 && errno == EINTR);
		return r < 0 ? -errno : 0;
	}
	if (u->nout == OUTQ)
		flush(u);
	struct outpkt *p = &u->outq[u->nout++];
	p->fd = u->fd[fam];
	p->tolen = tolen;
	memcpy(&p->to, to, tolen);
	p->len = (uint16_t)len;
	memcpy(p->data, data, len);
	return 0;
}

/* ---- the loop ---- */

static void arm_timer(bt_dht_udp *u, unsigned ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	event_add(u->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	bt_dht_udp *u = arg;
	(void)fd;
	(void)what;
	u->in_batch = true;
	unsigned ms = bt_dht_tick(u->dht, bt_dht_now());
	flush(u);
	u->in_batch = false;
	arm_timer(u, ms);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	bt_dht_udp *u = arg;
	(void)what;
	u->in_batch = true;
	for (unsigned total = 0; total < MAX_READS;) {
#ifdef HAVE_RECVMMSG
		uint8_t(*bufs)[PKT_MAX + 1] = u->rbufs;
		struct sockaddr_storage from[BATCH];
		struct iovec iov[BATCH];
		struct mmsghdr mm[BATCH];
		for (unsigned i = 0; i < BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = sizeof(bufs[i]);
			memset(&mm[i], 0, sizeof(mm[i]));
			mm[i].msg_hdr.msg_name = &from[i];
			mm[i].msg_hdr.msg_namelen = sizeof(from[i]);
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		int n = recvmmsg(fd, mm, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		uint64_t now = bt_dht_now();
		for (int i = 0; i < n; i++) {
			/* Over PKT_MAX (or truncated): not KRPC; the engine counts it as malformed.
			 */
			size_t len = mm[i].msg_len > PKT_MAX ? PKT_MAX + 1 : mm[i].msg_len;
			bt_dht_input(u->dht, bufs[i], len, (struct sockaddr *)&from[i],
			             mm[i].msg_hdr.msg_namelen, now);
		}
		total += (unsigned)n;
		if (n < BATCH)
			break;
#else
		uint8_t buf[PKT_MAX + 1];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n =
		    recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		bt_dht_input(u->dht, buf, (size_t)n, (struct sockaddr *)&from, fl, bt_dht_now());
		total++;
#endif
	}
	flush(u);
	u->in_batch = false;
}

/* ---- set-up ---- */

static int open_socket(bt_dht_udp *u, int fam, const char *spec)
{
	bt_addr a;
	if (bt_addr_parse(&a, spec) < 0) {
		/* port 0 is allowed here: the kernel picks */
		char tmp[128];
		size_t n = strlen(spec);
		if (n < 3 || n >= sizeof(tmp) - 2 || strcmp(spec + n - 2, ":0") != 0)
			return BT_DHT_E_INVAL;
		memcpy(tmp, spec, n - 1);
		strcpy(tmp + n - 1, "1");
		if (bt_addr_parse(&a, tmp) < 0)
			return BT_DHT_E_INVAL;
		a.port = 0;
	}
	if ((fam == 0) != (a.family == 4))
		return BT_DHT_E_INVAL;
	struct sockaddr_storage ss;
	socklen_t sl = bt_addr_to_sockaddr(&a, &ss);
	int fd = socket(fam ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (fam) {
		int one = 1;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	/* Room for bursts: a crawler's answers arrive together. */
	int rcvbuf = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	u->fd[fam] = fd;
	u->rev[fam] = event_new(u->base, fd, EV_READ | EV_PERSIST, on_read, u);
	if (!u->rev[fam] || event_add(u->rev[fam], NULL) < 0)
		return BT_DHT_E_NOMEM;
	return 0;
}

BT_DHT_EXTERN int bt_dht_udp_new(bt_dht_udp **out, struct event_base *base,
                                 const bt_dht_udp_options *o)
{
	if (!out)
		return BT_DHT_E_INVAL;
	*out = NULL;
	if (!base || !o)
		return BT_DHT_E_INVAL;
	if (o->version != BT_DHT_UDP_OPTIONS_VERSION)
		return BT_DHT_E_VERSION;
	if (!o->bind4 && !o->bind6)
		return BT_DHT_E_INVAL;
	bt_dht_udp *u = calloc(1, sizeof(*u));
	if (!u)
		return BT_DHT_E_NOMEM;
	u->base = base;
	u->fd[0] = u->fd[1] = -1;
	u->dns = o->dns;
	u->log = o->dht.log;
	u->log_ud = o->dht.cb_ud;
	int rc = BT_DHT_E_NOMEM;
	u->outq = malloc(OUTQ * sizeof(*u->outq));
	u->rbufs = malloc(BATCH * sizeof(*u->rbufs));
	u->timer = event_new(base, -1, 0, on_timer, u);
	if (!u->outq || !u->rbufs || !u->timer)
		goto fail;
	if (o->bind4 && (rc = open_socket(u, 0, o->bind4)) < 0)
		goto fail;
	if (o->bind6 && (rc = open_socket(u, 1, o->bind6)) < 0)
		goto fail;

	bt_dht_options d = o->dht;
	d.send = udp_send;
	d.send_ud = u;
	d.families = (u->fd[0] >= 0 ? BT_DHT_IPV4 : 0) | (u->fd[1] >= 0 ? BT_DHT_IPV6 : 0);
	if ((rc = bt_dht_new(&u->dht, &d, bt_dht_now())) < 0)
		goto fail;
	arm_timer(u, 0);
	*out = u;
	return 0;
fail:
	bt_dht_udp_free(u);
	return rc;
}

BT_DHT_EXTERN void bt_dht_udp_free(bt_dht_udp *u)
{
	if (!u)
		return;
	while (u->resolving) {
		struct resolve *r = u->resolving;
		u->resolving = r->next;
		/* Cancelling runs the callback with EVUTIL_EAI_CANCEL, which frees r. */
		r->u = NULL;
		if (r->req)
			evdns_getaddrinfo_cancel(r->req);
	}
	for (int f = 0; f < 2; f++) {
		if (u->rev[f])
			event_free(u->rev[f]);
		if (u->fd[f] >= 0)
			close(u->fd[f]);
	}
	if (u->timer)
		event_free(u->timer);
	bt_dht_free(u->dht);
	if (u->own_dns)
		evdns_base_free(u->dns, 0);
	free(u->outq);
	free(u->rbufs);
	free(u);
}

BT_DHT_EXTERN bt_dht *bt_dht_udp_dht(bt_dht_udp *u)
{
	return u ? u->dht : NULL;
}

BT_DHT_EXTERN int bt_dht_udp_local(const bt_dht_udp *u, int family, struct sockaddr_storage *out,
                                   socklen_t *len)
{
	if (!u || !out || !len || (family != 4 && family != 6))
		return BT_DHT_E_INVAL;
	int fd = u->fd[family == 6];
	if (fd < 0)
		return BT_DHT_E_FAMILY;
	*len = sizeof(*out);
	return getsockname(fd, (struct sockaddr *)out, len) < 0 ? -errno : 0;
}

static void unlink_resolve(bt_dht_udp *u, struct resolve *r)
{
	for (struct resolve **p = &u->resolving; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			return;
		}
	}
}

static void on_resolved(int err, struct evutil_addrinfo *res, void *arg)
{
	struct resolve *r = arg;
	bt_dht_udp *u = r->u;
	if (u) {
		unlink_resolve(u, r);
		if (err) {
			char msg[160];
			snprintf(msg, sizeof(msg), "bootstrap: cannot resolve: %s",
			         evutil_gai_strerror(err));
			logmsg(u, BT_DHT_LOG_WARN, msg);
		}
		for (struct evutil_addrinfo *ai = res; !err && ai; ai = ai->ai_next) {
			int fam = ai->ai_family == AF_INET6 ? 1 : 0;
			if (u->fd[fam] >= 0)
				bt_dht_add_node(u->dht, ai->ai_addr, (socklen_t)ai->ai_addrlen,
				                bt_dht_now());
		}
	}
	if (res)
		evutil_freeaddrinfo(res);
	free(r);
}

BT_DHT_EXTERN int bt_dht_udp_bootstrap(bt_dht_udp *u, const char *hostport)
{
	if (!u || !hostport)
		return BT_DHT_E_INVAL;
	bt_addr a;
	if (bt_addr_parse(&a, hostport) == 0) {
		struct sockaddr_storage ss;
		socklen_t sl = bt_addr_to_sockaddr(&a, &ss);
		return bt_dht_add_node(u->dht, (struct sockaddr *)&ss, sl, bt_dht_now());
	}
	const char *colon = strrchr(hostport, ':');
	char host[256];
	if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof(host) || !colon[1])
		return BT_DHT_E_INVAL;
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	if (!u->dns) {
		u->dns = evdns_base_new(u->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
		if (!u->dns)
			return BT_DHT_E_NOMEM;
		u->own_dns = true;
	}
	struct resolve *r = calloc(1, sizeof(*r));
	if (!r)
		return BT_DHT_E_NOMEM;
	r->u = u;
	r->next = u->resolving;
	u->resolving = r;
	struct evutil_addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
	/* NULL means the request was answered (or failed) at once and on_resolved, which frees r,
	 * has already run; r must not be touched then. */
	struct evdns_getaddrinfo_request *req =
	    evdns_getaddrinfo(u->dns, host, colon + 1, &hints, on_resolved, r);
	if (req)
		r->req = req;
	return 0;
}
