/*
 * dht-crawl - poke and run Mainline DHT nodes from the command line, on libbtdht.
 *
 *   dht-crawl ping   [options] HOST:PORT...     ping nodes, one JSON line per answer
 *   dht-crawl sample [options] HOST:PORT...     BEP 51 sample_infohashes, one line per node
 *   dht-crawl node   [options]                  run a node: bootstrap, search, announce, and
 *                                               report what it sees as JSON lines
 *
 * Output is newline-delimited JSON on stdout; diagnostics go to stderr.  The tool only parses
 * options, calls the library and prints: everything else is libbtdht's.
 * Exit codes: 0 success; 1 some node did not answer / a search found nothing; 2 usage error;
 * 3 run-time error (cannot bind, out of memory).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>

#include "btdht.h"
#include "btevent.h"

#define EXIT_PARTIAL 1
#define EXIT_USAGE 2
#define EXIT_RUNTIME 3

struct run {
	struct event_base *base;
	bt_dht_udp *udp;
	bt_event_bus *bus; /* node mode: the DHT's discoveries, for whoever subscribes */
	int outstanding;   /* pings / samples awaiting an outcome */
	int failures;
	int searches;        /* searches running */
	unsigned long found; /* peers found by searches */
	int verbose;
};

static void usage(FILE *f)
{
	fputs("usage: dht-crawl ping   [--bind ADDR] [--timeout MS] HOST:PORT...\n"
	      "       dht-crawl sample [--bind ADDR] [--timeout MS] [--target HEX] HOST:PORT...\n"
	      "       dht-crawl node   [--bind ADDR] [--bind6 ADDR] [--bootstrap HOST:PORT]...\n"
	      "                        [--search HEX]... [--announce HEX:PORT]... [--duration S]\n"
	      "                        [--state FILE] [--rate QPS] [--read-only] [--no-bep42]\n"
	      "       dht-crawl --help | --version\n"
	      "\n"
	      "  --bind ADDR        IPv4 address:port to bind (default 0.0.0.0:0; node: "
	      "0.0.0.0:6881)\n"
	      "  --bind6 ADDR       also bind IPv6 [address]:port\n"
	      "  --timeout MS       per try (default 2000; one retry)\n"
	      "  --target HEX       sample_infohashes target (default random)\n"
	      "  --bootstrap H:P    contact this node (repeatable); default: the public routers\n"
	      "  --search HEX       look up peers for an infohash (repeatable)\n"
	      "  --announce HEX:P   announce port P for an infohash (repeatable)\n"
	      "  --duration S       run the node for S seconds (default: until SIGINT/SIGTERM)\n"
	      "  --state FILE       load the routing table from FILE and save it back on exit\n"
	      "  --rate QPS         queries per second we may send (default 100)\n"
	      "  --read-only        BEP 43 read-only node\n"
	      "  --no-bep42         keep our node id whatever our external address is\n"
	      "  -v, --verbose      log the library's messages to stderr\n",
	      f);
}

static const char *addr_str(const struct sockaddr *sa, char *buf, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		port = ntohs(s4->sin_port);
		snprintf(buf, n, "%s:%u", ip, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
		snprintf(buf, n, "[%s]:%u", ip, port);
	} else {
		snprintf(buf, n, "?");
	}
	return buf;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int unhex20(const char *s, uint8_t out[20])
{
	for (int i = 0; i < 20; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return strlen(s) == 40 || s[40] == ':' ? 0 : -1;
}

/* JSON string of bytes that may not be text: printable ASCII as is, the rest \u00XX. */
static void json_bytes(FILE *f, const uint8_t *p, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
			fputc(p[i], f);
		else
			fprintf(f, "\\u%04x", p[i]);
	}
	fputc('"', f);
}

static void log_cb(int level, const char *msg, void *ud)
{
	const struct run *r = ud;
	if (r->verbose || level <= BT_DHT_LOG_WARN)
		fprintf(stderr, "dht-crawl: %s\n", msg);
}

static void maybe_done(struct run *r)
{
	if (r->outstanding == 0)
		event_base_loopbreak(r->base);
}

static void on_ping(int ok, const struct sockaddr *addr, socklen_t len, const uint8_t id[20],
                    const uint8_t *v, size_t vlen, unsigned rtt, void *ud)
{
	struct run *r = ud;
	char a[80], h[41];
	(void)len;
	addr_str(addr, a, sizeof(a));
	if (ok) {
		hex(id, 20, h);
		printf("{\"addr\":\"%s\",\"id\":\"%s\",\"rtt_ms\":%u,\"version\":", a, h, rtt);
		if (v)
			json_bytes(stdout, v, vlen);
		else
			fputs("null", stdout);
		puts("}");
	} else {
		printf("{\"addr\":\"%s\",\"error\":\"no answer\"}\n", a);
		r->failures++;
	}
	fflush(stdout);
	r->outstanding--;
	maybe_done(r);
}

static void on_sample(int ok, const struct sockaddr *from, socklen_t fl, const uint8_t *samples,
                      size_t n, int64_t num, int64_t interval, const uint8_t *nodes, size_t nlen,
                      void *ud)
{
	struct run *r = ud;
	char a[80], h[41];
	(void)fl;
	(void)nodes;
	addr_str(from, a, sizeof(a));
	if (!ok) {
		printf("{\"addr\":\"%s\",\"error\":\"no answer\"}\n", a);
		r->failures++;
	} else {
		printf(
		    "{\"addr\":\"%s\",\"num\":%lld,\"interval\":%lld,\"nodes\":%zu,\"samples\":[",
		    a, (long long)num, (long long)interval,
		    nlen / (from->sa_family == AF_INET6 ? 38 : 26));
		for (size_t i = 0; i < n; i++) {
			hex(samples + 20 * i, 20, h);
			printf("%s\"%s\"", i ? "," : "", h);
		}
		puts("]}");
	}
	fflush(stdout);
	r->outstanding--;
	maybe_done(r);
}

static const char *source_name(bt_dht_source s)
{
	switch (s) {
	case BT_DHT_SRC_GET_PEERS:
		return "get_peers";
	case BT_DHT_SRC_ANNOUNCE:
		return "announce";
	case BT_DHT_SRC_SAMPLE:
		return "sample";
	case BT_DHT_SRC_SEARCH:
		return "search";
	default:
		return "?";
	}
}

/*
 * Node mode: the DHT's callbacks only publish what they learn on the event bus ("dht.node",
 * "dht.infohash", "dht.peer", "dht.search_done"); the NDJSON printer is one subscriber, which
 * knows nothing of the DHT.  A fetcher or a store in the same process would subscribe the same
 * way.
 */
struct dht_event {
	uint8_t id[20]; /* node id, or infohash */
	bt_dht_source source;
	struct sockaddr_storage from, peer;
	socklen_t fromlen, peerlen;
};

static void publish(struct run *r, const char *topic, const uint8_t id[20], bt_dht_source src,
                    const struct sockaddr *from, socklen_t fl, const struct sockaddr *peer,
                    socklen_t pl)
{
	struct dht_event *e = calloc(1, sizeof(*e));
	if (!e)
		return;
	memcpy(e->id, id, 20);
	e->source = src;
	if (from && fl <= sizeof(e->from)) {
		memcpy(&e->from, from, fl);
		e->fromlen = fl;
	}
	if (peer && pl <= sizeof(e->peer)) {
		memcpy(&e->peer, peer, pl);
		e->peerlen = pl;
	}
	int rc = bt_event_publish(r->bus, topic, e, free);
	if (rc < 0)
		fprintf(stderr, "dht-crawl: %s event lost: %s\n", topic, bt_event_strerror(rc));
}

static void on_infohash(const uint8_t ih[20], bt_dht_source src, const struct sockaddr *from,
                        socklen_t fl, const struct sockaddr *peer, socklen_t pl, void *ud)
{
	if (src == BT_DHT_SRC_SEARCH)
		return; /* published by the search callback, with the search's bookkeeping */
	publish(ud, "dht.infohash", ih, src, from, fl, peer, pl);
}

static void on_node(const uint8_t id[20], const struct sockaddr *addr, socklen_t len, void *ud)
{
	publish(ud, "dht.node", id, 0, addr, len, NULL, 0);
}

static void on_search(const uint8_t ih[20], const struct sockaddr *peer, socklen_t pl, int done,
                      void *ud)
{
	struct run *r = ud;
	if (done) {
		r->searches--;
		publish(r, "dht.search_done", ih, 0, NULL, 0, NULL, 0);
	} else {
		r->found++;
		publish(r, "dht.peer", ih, BT_DHT_SRC_SEARCH, NULL, 0, peer, pl);
	}
}

/* The NDJSON printer: one line per event, in the order they were published. */
static void print_event(const char *topic, void *payload, void *ud)
{
	const struct dht_event *e = payload;
	char h[41], a[80], p[80];
	(void)ud;
	hex(e->id, 20, h);
	if (!strcmp(topic, "dht.node")) {
		printf("{\"event\":\"node\",\"id\":\"%s\",\"addr\":\"%s\"}\n", h,
		       addr_str((const struct sockaddr *)&e->from, a, sizeof(a)));
	} else if (!strcmp(topic, "dht.infohash")) {
		printf(
		    "{\"event\":\"infohash\",\"infohash\":\"%s\",\"source\":\"%s\",\"from\":\"%s\"",
		    h, source_name(e->source),
		    addr_str((const struct sockaddr *)&e->from, a, sizeof(a)));
		if (e->peerlen)
			printf(",\"peer\":\"%s\"",
			       addr_str((const struct sockaddr *)&e->peer, p, sizeof(p)));
		puts("}");
	} else if (!strcmp(topic, "dht.peer")) {
		printf("{\"event\":\"peer\",\"infohash\":\"%s\",\"peer\":\"%s\"}\n", h,
		       addr_str((const struct sockaddr *)&e->peer, p, sizeof(p)));
	} else {
		printf("{\"event\":\"search_done\",\"infohash\":\"%s\"}\n", h);
	}
	fflush(stdout);
}

static void add_queued(const char *topic, const bt_event_topic_stats *st, void *ud)
{
	(void)topic;
	*(uint64_t *)ud += st->queued;
}

/* Delivers what is still queued on the bus (bounded: the printer queues nothing itself). */
static void drain(struct run *r)
{
	for (int i = 0; i < 1000; i++) {
		uint64_t queued = 0;
		bt_event_topic_foreach(r->bus, add_queued, &queued);
		if (!queued)
			return;
		event_base_loop(r->base, EVLOOP_NONBLOCK);
	}
}

static int stopping; /* a signal or the deadline: leave every loop */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig, (void)what;
	stopping = 1;
	event_base_loopbreak(arg);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	stopping = 1;
	event_base_loopbreak(arg);
}

static int resolve_target(bt_dht_udp *u, const char *spec, struct sockaddr_storage *ss,
                          socklen_t *sl)
{
	(void)u;
	/* numeric only for ping/sample: names go through --bootstrap of "node" */
	memset(ss, 0, sizeof(*ss));
	char host[128];
	const char *colon = strrchr(spec, ':');
	if (!colon || (size_t)(colon - spec) >= sizeof(host))
		return -1;
	long port = strtol(colon + 1, NULL, 10);
	if (port < 1 || port > 65535)
		return -1;
	if (spec[0] == '[') {
		size_t n = (size_t)(colon - spec);
		if (n < 3 || spec[n - 1] != ']')
			return -1;
		memcpy(host, spec + 1, n - 2);
		host[n - 2] = '\0';
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -1;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*sl = sizeof(*s6);
		return 0;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
		return -1;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	*sl = sizeof(*s4);
	return 0;
}

static int save_state(bt_dht *dht, const char *path)
{
	uint8_t *buf;
	size_t len;
	if (bt_dht_save(dht, &buf, &len) < 0)
		return -1;
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "wb");
	int ok = f && fwrite(buf, 1, len, f) == len;
	if (f && fclose(f) != 0)
		ok = 0;
	free(buf);
	/* rename: a crash never leaves half a state file behind */
	if (!ok || rename(tmp, path) < 0) {
		fprintf(stderr, "dht-crawl: cannot write %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int load_state(bt_dht *dht, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return errno == ENOENT ? 0 : -1;
	uint8_t buf[65536];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	int rc = bt_dht_load(dht, buf, n, bt_dht_now());
	if (rc < 0)
		fprintf(stderr, "dht-crawl: %s: %s (ignored)\n", path, bt_dht_strerror(rc));
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"bind", required_argument, NULL, 'b'},      {"bind6", required_argument, NULL, '6'},
	    {"timeout", required_argument, NULL, 't'},   {"target", required_argument, NULL, 'T'},
	    {"bootstrap", required_argument, NULL, 'B'}, {"search", required_argument, NULL, 's'},
	    {"announce", required_argument, NULL, 'a'},  {"duration", required_argument, NULL, 'd'},
	    {"state", required_argument, NULL, 'S'},     {"rate", required_argument, NULL, 'r'},
	    {"read-only", no_argument, NULL, 'R'},       {"no-bep42", no_argument, NULL, 'N'},
	    {"verbose", no_argument, NULL, 'v'},         {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},         {NULL, 0, NULL, 0},
	};
	const char *bind4 = NULL, *bind6 = NULL, *state = NULL, *target_hex = NULL;
	const char *bootstrap[64], *searches[64], *announces[64];
	int nboot = 0, nsearch = 0, nannounce = 0;
	long timeout = 2000, duration = -1, rate = 100;
	int read_only = 0, no_bep42 = 0;
	struct run r;
	memset(&r, 0, sizeof(r));

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		printf("dht-crawl %s (libbtdht %s)\n", PACKAGE_VERSION, bt_dht_version());
		return 0;
	}
	if (argc < 2 ||
	    (strcmp(argv[1], "ping") && strcmp(argv[1], "sample") && strcmp(argv[1], "node"))) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'b':
			bind4 = optarg;
			break;
		case '6':
			bind6 = optarg;
			break;
		case 't':
			timeout = strtol(optarg, &end, 10);
			break;
		case 'T':
			target_hex = optarg;
			break;
		case 'd':
			duration = strtol(optarg, &end, 10);
			break;
		case 'S':
			state = optarg;
			break;
		case 'r':
			rate = strtol(optarg, &end, 10);
			break;
		case 'R':
			read_only = 1;
			break;
		case 'N':
			no_bep42 = 1;
			break;
		case 'v':
			r.verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'B':
		case 's':
		case 'a': {
			const char **v = c == 'B' ? bootstrap : c == 's' ? searches : announces;
			int *n = c == 'B' ? &nboot : c == 's' ? &nsearch : &nannounce;
			if (*n == 64) {
				fprintf(stderr, "dht-crawl: at most 64 of each "
				                "--bootstrap/--search/--announce\n");
				return EXIT_USAGE;
			}
			v[(*n)++] = optarg;
			break;
		}
		case 'V':
			printf("dht-crawl %s (libbtdht %s)\n", PACKAGE_VERSION, bt_dht_version());
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
		if (end && *end) {
			fprintf(stderr, "dht-crawl: not a number: %s\n", optarg);
			return EXIT_USAGE;
		}
	}
	if (timeout < 100 || timeout > 60000 || rate < 1 || rate > 100000) {
		fprintf(stderr, "dht-crawl: --timeout must be 100..60000 ms, --rate 1..100000\n");
		return EXIT_USAGE;
	}
	int node_mode = !strcmp(cmd, "node");
	if (!node_mode && optind >= argc) {
		fprintf(stderr, "dht-crawl %s: no HOST:PORT given\n", cmd);
		return EXIT_USAGE;
	}
	uint8_t target[20];
	if (target_hex && unhex20(target_hex, target) < 0) {
		fprintf(stderr, "dht-crawl: --target needs 40 hex digits\n");
		return EXIT_USAGE;
	}
	for (int i = 0; i < nsearch + nannounce; i++) {
		const char *s = i < nsearch ? searches[i] : announces[i - nsearch];
		uint8_t ih[20];
		if (unhex20(s, ih) < 0 ||
		    (i >= nsearch && (!strchr(s, ':') || atoi(strchr(s, ':') + 1) < 1 ||
		                      atoi(strchr(s, ':') + 1) > 65535))) {
			fprintf(stderr, "dht-crawl: bad infohash%s: %s\n",
			        i >= nsearch ? ":port" : "", s);
			return EXIT_USAGE;
		}
	}

	r.base = event_base_new();
	if (!r.base) {
		fprintf(stderr, "dht-crawl: cannot create an event loop\n");
		return EXIT_RUNTIME;
	}
	bt_dht_udp_options o = BT_DHT_UDP_OPTIONS_INIT;
	o.bind4 = bind4 ? bind4 : node_mode ? "0.0.0.0:6881" : (bind6 ? NULL : "0.0.0.0:0");
	o.bind6 = bind6;
	o.dht.query_timeout_ms = (unsigned)timeout;
	o.dht.max_out_qps = (unsigned)rate;
	/* ping and sample are one-shot: read-only (BEP 43), so they do not end up in the tables of
	 * the nodes they ask and leave dead entries behind when they exit. */
	o.dht.read_only = read_only || !node_mode;
	o.dht.bep42 = no_bep42 ? BT_DHT_BEP42_OFF : BT_DHT_BEP42_DERIVE;
	o.dht.log = log_cb;
	o.dht.cb_ud = &r;
	if (node_mode) {
		static const char *const topics[] = {"dht.node", "dht.infohash", "dht.peer",
		                                     "dht.search_done"};
		bt_event_sub_id sub;
		if (bt_event_bus_new(&r.bus, r.base, NULL) < 0) {
			fprintf(stderr, "dht-crawl: cannot create the event bus\n");
			event_base_free(r.base);
			return EXIT_RUNTIME;
		}
		for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
			bt_event_subscribe(r.bus, topics[i], BT_EVENT_ASYNC, print_event, NULL,
			                   &sub);
		o.dht.on_infohash = on_infohash;
		o.dht.on_node = on_node;
	}
	int rc = bt_dht_udp_new(&r.udp, r.base, &o);
	if (rc < 0) {
		fprintf(stderr, "dht-crawl: cannot start a node on %s%s%s: %s\n",
		        o.bind4 ? o.bind4 : "", o.bind4 && o.bind6 ? " and " : "",
		        o.bind6 ? o.bind6 : "", bt_dht_strerror(rc));
		bt_event_bus_free(r.bus);
		event_base_free(r.base);
		return EXIT_RUNTIME;
	}
	bt_dht *dht = bt_dht_udp_dht(r.udp);
	int status = 0;

	if (!node_mode) {
		for (int i = optind; i < argc; i++) {
			struct sockaddr_storage ss;
			socklen_t sl;
			if (resolve_target(r.udp, argv[i], &ss, &sl) < 0) {
				fprintf(stderr, "dht-crawl: not a numeric HOST:PORT: %s\n",
				        argv[i]);
				status = EXIT_USAGE;
				break;
			}
			if (!target_hex)
				for (int k = 0; k < 20; k++)
					target[k] = (uint8_t)rand();
			rc = !strcmp(cmd, "ping")
			         ? bt_dht_ping(dht, (struct sockaddr *)&ss, sl, on_ping, &r,
			                       bt_dht_now())
			         : bt_dht_sample(dht, (struct sockaddr *)&ss, sl, target, on_sample,
			                         &r, bt_dht_now());
			if (rc < 0) {
				fprintf(stderr, "dht-crawl: %s: %s\n", argv[i],
				        bt_dht_strerror(rc));
				r.failures++;
				continue;
			}
			r.outstanding++;
		}
		if (r.outstanding && status == 0)
			event_base_dispatch(r.base);
		if (status == 0 && r.failures)
			status = EXIT_PARTIAL;
	} else {
		/* First line: who we are, so a script can tell our node from the others. */
		uint8_t id[20];
		char h[41], a4[80] = "", a6[80] = "";
		struct sockaddr_storage ss;
		socklen_t sl;
		bt_dht_get_id(dht, id);
		hex(id, 20, h);
		if (bt_dht_udp_local(r.udp, 4, &ss, &sl) == 0)
			addr_str((struct sockaddr *)&ss, a4, sizeof(a4));
		if (bt_dht_udp_local(r.udp, 6, &ss, &sl) == 0)
			addr_str((struct sockaddr *)&ss, a6, sizeof(a6));
		printf("{\"event\":\"ready\",\"id\":\"%s\",\"addr\":\"%s\",\"addr6\":\"%s\"}\n", h,
		       a4, a6);
		fflush(stdout);
		if (state)
			load_state(dht, state);
		if (nboot == 0) {
			for (const char *const *p = bt_dht_default_routers(); *p; p++)
				bt_dht_udp_bootstrap(r.udp, *p);
		}
		for (int i = 0; i < nboot; i++) {
			rc = bt_dht_udp_bootstrap(r.udp, bootstrap[i]);
			if (rc < 0)
				fprintf(stderr, "dht-crawl: --bootstrap %s: %s\n", bootstrap[i],
				        bt_dht_strerror(rc));
		}
		struct event *sigint = evsignal_new(r.base, SIGINT, on_signal, r.base);
		struct event *sigterm = evsignal_new(r.base, SIGTERM, on_signal, r.base);
		evsignal_add(sigint, NULL);
		evsignal_add(sigterm, NULL);
		struct event *deadline = NULL;
		if (duration >= 0) {
			struct timeval tv = {duration, 0};
			deadline = evtimer_new(r.base, on_deadline, r.base);
			evtimer_add(deadline, &tv);
		}
		/* Searches start once the node had a moment to bootstrap (a second). */
		struct timeval one = {1, 0};
		event_base_loopexit(r.base, &one);
		event_base_dispatch(r.base);
		for (int i = 0; i < nsearch + nannounce; i++) {
			const char *s = i < nsearch ? searches[i] : announces[i - nsearch];
			uint8_t ih[20];
			unhex20(s, ih);
			int port = i < nsearch ? 0 : atoi(strchr(s, ':') + 1);
			rc = bt_dht_search(dht, ih, i < nsearch ? 0 : BT_DHT_SEARCH_ANNOUNCE, port,
			                   on_search, &r, bt_dht_now(), NULL);
			if (rc < 0)
				fprintf(stderr, "dht-crawl: search %s: %s\n", s,
				        bt_dht_strerror(rc));
			else
				r.searches++;
		}
		if (!stopping)
			event_base_dispatch(r.base);
		drain(&r);
		bt_dht_stats st;
		bt_dht_get_stats(dht, &st, bt_dht_now());
		printf(
		    "{\"event\":\"stats\",\"nodes\":%llu,\"nodes6\":%llu,\"in\":%llu,\"out\":%llu,"
		    "\"infohashes\":%llu,\"peers\":%llu,\"found\":%lu,\"malformed\":%llu,"
		    "\"timeouts\":%llu}\n",
		    (unsigned long long)st.nodes[0], (unsigned long long)st.nodes[1],
		    (unsigned long long)st.in_messages, (unsigned long long)st.out_messages,
		    (unsigned long long)st.infohashes, (unsigned long long)st.peers, r.found,
		    (unsigned long long)st.malformed, (unsigned long long)st.timeouts);
		if (state && save_state(dht, state) < 0)
			status = EXIT_RUNTIME;
		if (nsearch && !r.found && status == 0)
			status = EXIT_PARTIAL;
		event_free(sigint);
		event_free(sigterm);
		if (deadline)
			event_free(deadline);
	}
	bt_dht_udp_free(r.udp);
	bt_event_bus_free(r.bus);
	event_base_free(r.base);
	return status;
}
