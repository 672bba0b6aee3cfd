/*
 * dht-crawl - crawl the Mainline DHT, and poke and run DHT nodes, from the command line, on
 * libbtdht.
 *
 *   dht-crawl [crawl] [options]                 crawl: one JSON line per new infohash, with
 *                                               its peers, for meta-fetch
 *   dht-crawl ping   [options] HOST:PORT...     ping nodes, one JSON line per answer
 *   dht-crawl sample [options] HOST:PORT...     BEP 51 sample_infohashes, one line per node
 *   dht-crawl node   [options]                  run a node: bootstrap, search, announce, and
 *                                               report what it sees as JSON lines
 *
 * Output is newline-delimited JSON on stdout; diagnostics go to stderr.  The tool only parses
 * options, calls the library and prints: everything else is libbtdht's.
 * Exit codes: 0 success; 1 some node did not answer / a search found nothing / stdout closed;
 * 2 usage error; 3 run-time error (cannot bind, out of memory); 128+N when signal N stopped a
 * crawl (after everything found was printed and the state saved).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <time.h>

#include "btdht.h"
#include "btevent.h"
#include "btstore.h"

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
	fputs("usage: dht-crawl [crawl] [--bootstrap HOST:PORT]... [--bind ADDR] [--bind6 ADDR]\n"
	      "                        [--rate QPS] [--bps BYTES] [--duration S] [--max N]\n"
	      "                        [--state FILE] [--db PATH] [--seen N] [--node-gap MS]\n"
	      "                        [--peer-wait S] [--no-get-peers] [--allow-local]\n"
	      "                        [--progress | --no-progress] [-q] [-v]\n"
	      "       dht-crawl ping   [--bind ADDR] [--timeout MS] HOST:PORT...\n"
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
	      "  -v, --verbose      log the library's messages to stderr\n"
	      "\n"
	      "crawl (the default) prints one line per new infohash on stdout:\n"
	      "  "
	      "{\"infohash\":HEX,\"source\":\"sample|get_peers|announce\",\"peers\":[\"IP:PORT\",.."
	      ".],"
	      "\"time\":UNIX}\n"
	      "  --bind ADDR        default 0.0.0.0:6881\n"
	      "  --rate QPS         queries per second, never more in any second (default 100)\n"
	      "  --bps BYTES        bytes per second sent, replies included (default 262144)\n"
	      "  --duration S       stop after S seconds (default: at SIGINT/SIGTERM)\n"
	      "  --max N            stop after N infohashes\n"
	      "  --state FILE       routing table kept across runs\n"
	      "  --db PATH          skip infohashes whose metadata this libbtstore store has\n"
	      "  --seen N           in-memory seen-set size, infohashes (default 1000000)\n"
	      "  --node-gap MS      least time between two queries to one node (default 1500)\n"
	      "  --peer-wait S      look for peers this long before printing without (default 30)\n"
	      "  --no-get-peers     print sampled infohashes at once, without peers\n"
	      "  --allow-local      crawl loopback and private addresses (on by itself when a\n"
	      "                     --bootstrap address is one)\n"
	      "  --progress         progress on stderr (default: when stderr is a terminal)\n"
	      "  -q, --quiet        no progress, no summary\n",
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
	if (!f) {
		if (errno == ENOENT)
			return 0; /* the first run */
		fprintf(stderr, "dht-crawl: cannot read %s: %s\n", path, strerror(errno));
		return -1;
	}
	/* Two full tables (IPv4 and IPv6) are about 80 KB; anything past 1 MiB is not ours. */
	size_t cap = 1 << 20, n;
	uint8_t *buf = malloc(cap);
	if (!buf) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, cap, f);
	int err = ferror(f);
	fclose(f);
	int rc = err ? -EIO : bt_dht_load(dht, buf, n, bt_dht_now());
	free(buf);
	if (rc < 0)
		fprintf(stderr, "dht-crawl: %s: %s (ignored)\n", path, bt_dht_strerror(rc));
	return 0;
}

/* Start a node on @base; says why on stderr when it cannot.  0 or -1. */
static int start_node(struct event_base *base, const bt_dht_udp_options *o, bt_dht_udp **out)
{
	int rc = bt_dht_udp_new(out, base, o);
	if (rc < 0)
		fprintf(stderr, "dht-crawl: cannot start a node on %s%s%s: %s\n",
		        o->bind4 ? o->bind4 : "", o->bind4 && o->bind6 ? " and " : "",
		        o->bind6 ? o->bind6 : "", bt_dht_strerror(rc));
	return rc < 0 ? -1 : 0;
}

/* Load the saved table, then contact the --bootstrap nodes (none: the public routers). */
static void join(bt_dht_udp *udp, const char *state, const char *const *bootstrap, int nboot)
{
	if (state)
		load_state(bt_dht_udp_dht(udp), state);
	if (nboot == 0)
		for (const char *const *p = bt_dht_default_routers(); *p; p++)
			bt_dht_udp_bootstrap(udp, *p);
	for (int i = 0; i < nboot; i++) {
		int rc = bt_dht_udp_bootstrap(udp, bootstrap[i]);
		if (rc < 0)
			fprintf(stderr, "dht-crawl: --bootstrap %s: %s\n", bootstrap[i],
			        bt_dht_strerror(rc));
	}
}

static int legacy_main(int argc, char **argv)
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
	int rc;
	if (start_node(r.base, &o, &r.udp) < 0) {
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
		join(r.udp, state, bootstrap, nboot);
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

/* ---------------------------------------------------------------------------------------------
 * crawl
 * ------------------------------------------------------------------------------------------- */

struct crawl {
	struct event_base *base;
	bt_dht_udp *udp;
	bt_dht *dht;
	bt_dht_crawler *crawler;
	bt_store *db;
	uint64_t start_ms; /* bt_dht_now() at start */
	time_t start_wall; /* time() at start */
	unsigned long max; /* 0: no limit */
	unsigned long printed, with_peers;
	unsigned long db_errors;
	int verbose, quiet, progress, progress_shown;
	int stop_signal;            /* SIGINT/SIGTERM that stopped us, or 0 */
	int out_closed;             /* stdout went away */
	uint64_t last_out, last_ms; /* queries sent and time at the last progress line */
};

static void crawl_log(int level, const char *msg, void *ud)
{
	const struct crawl *c = ud;
	if (c->verbose || (level <= BT_DHT_LOG_WARN && !c->quiet))
		fprintf(stderr, "dht-crawl: %s\n", msg);
}

static int crawl_known(const uint8_t ih[20], void *ud)
{
	struct crawl *c = ud;
	bt_store_torrent *t = NULL;
	int rc = bt_store_get(c->db, ih, 20, &t);
	int known = rc == 0 && t && t->has_metadata;
	if (rc < 0 && rc != BT_STORE_E_NOTFOUND && c->db_errors++ == 0)
		fprintf(stderr, "dht-crawl: --db: %s\n", bt_store_strerror(rc));
	bt_store_torrent_free(t);
	return known;
}

static void crawl_found(const bt_dht_discovery *d, void *ud)
{
	struct crawl *c = ud;
	if (c->out_closed || (c->max && c->printed >= c->max))
		return;
	char h[41], a[80];
	hex(d->infohash, 20, h);
	long long when = (long long)c->start_wall +
	                 (long long)((int64_t)d->found_ms - (int64_t)c->start_ms) / 1000;
	printf("{\"infohash\":\"%s\",\"source\":\"%s\",\"peers\":[", h, source_name(d->source));
	for (size_t i = 0; i < d->npeers; i++)
		printf("%s\"%s\"", i ? "," : "",
		       addr_str((const struct sockaddr *)&d->peers[i], a, sizeof(a)));
	printf("],\"time\":%lld}\n", when);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		c->out_closed = 1;
		event_base_loopbreak(c->base);
		return;
	}
	c->printed++;
	if (d->npeers)
		c->with_peers++;
	if (c->max && c->printed >= c->max)
		event_base_loopbreak(c->base);
}

static void crawl_signal(evutil_socket_t sig, short what, void *arg)
{
	struct crawl *c = arg;
	(void)what;
	c->stop_signal = (int)sig;
	event_base_loopbreak(c->base);
}

static void crawl_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	event_base_loopbreak(((struct crawl *)arg)->base);
}

/* The node's and the crawler's counters; returns the queries sent, all methods. */
static uint64_t crawl_counters(struct crawl *c, uint64_t now, bt_dht_stats *st,
                               bt_dht_crawl_stats *cs)
{
	bt_dht_get_stats(c->dht, st, now);
	bt_dht_crawler_get_stats(c->crawler, cs);
	uint64_t out = 0;
	for (int m = 0; m < 6; m++)
		out += st->out_queries[m];
	return out;
}

static void crawl_progress(evutil_socket_t fd, short what, void *arg)
{
	struct crawl *c = arg;
	(void)fd, (void)what;
	uint64_t now = bt_dht_now();
	bt_dht_stats st;
	bt_dht_crawl_stats cs;
	uint64_t out = crawl_counters(c, now, &st, &cs);
	double secs = c->last_ms ? (double)(now - c->last_ms) / 1000.0 : 0;
	double qps = secs > 0 ? (double)(out - c->last_out) / secs : 0;
	double mins = (double)(now - c->start_ms) / 60000.0;
	c->last_out = out;
	c->last_ms = now;
	fprintf(stderr,
	        "\r\033[Kdht-crawl: %llu nodes (%llu replied, %llu BEP 51), %.0f queries/s, "
	        "%lu infohashes, %.0f unique/min, %llu waiting for peers",
	        (unsigned long long)cs.nodes, (unsigned long long)cs.nodes_replied,
	        (unsigned long long)cs.nodes_bep51, qps, c->printed,
	        mins > 0 ? (double)c->printed / mins : 0.0, (unsigned long long)cs.pending);
	c->progress_shown = 1;
}

static void crawl_summary(struct crawl *c)
{
	uint64_t now = bt_dht_now();
	bt_dht_stats st;
	bt_dht_crawl_stats cs;
	uint64_t out = crawl_counters(c, now, &st, &cs);
	double secs = (double)(now - c->start_ms) / 1000.0;
	if (c->progress_shown)
		fputc('\n', stderr);
	fprintf(stderr,
	        "dht-crawl: %.1f s: %lu infohashes (%lu with peers), %llu queries sent "
	        "(%.0f/s: %llu sample_infohashes, %llu get_peers, %llu find_node, %llu in "
	        "lookups and upkeep), %llu timeouts; %llu nodes (%llu replied, %llu BEP 51, %llu "
	        "dead, %llu spoofing, %llu contacts refused); %llu infohashes sampled, %llu "
	        "repeats, %llu already in --db, %llu passive (%llu get_peers and %llu announces "
	        "heard)\n",
	        secs, c->printed, c->with_peers, (unsigned long long)out,
	        secs > 0 ? (double)out / secs : 0.0, (unsigned long long)cs.samples_sent,
	        (unsigned long long)cs.get_peers_sent, (unsigned long long)cs.find_node_sent,
	        (unsigned long long)(out - cs.samples_sent - cs.get_peers_sent - cs.find_node_sent),
	        (unsigned long long)st.timeouts, (unsigned long long)cs.nodes,
	        (unsigned long long)cs.nodes_replied, (unsigned long long)cs.nodes_bep51,
	        (unsigned long long)cs.nodes_dead, (unsigned long long)cs.nodes_spoofing,
	        (unsigned long long)cs.nodes_rejected, (unsigned long long)cs.sampled,
	        (unsigned long long)cs.repeats, (unsigned long long)cs.known,
	        (unsigned long long)(st.in_queries[2] + st.in_queries[3]),
	        (unsigned long long)st.in_queries[2], (unsigned long long)st.in_queries[3]);
}

/* Whether "host:port" names a loopback or private address (numeric only). */
static int local_address(const char *hostport)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	if (resolve_target(NULL, hostport, &ss, &sl) < 0)
		return 0;
	if (ss.ss_family == AF_INET) {
		const uint8_t *ip = (const uint8_t *)&((struct sockaddr_in *)&ss)->sin_addr;
		return ip[0] == 127 || ip[0] == 10 || (ip[0] == 172 && (ip[1] & 0xf0) == 16) ||
		       (ip[0] == 192 && ip[1] == 168) || (ip[0] == 169 && ip[1] == 254) ||
		       (ip[0] == 100 && (ip[1] & 0xc0) == 64);
	}
	const uint8_t *ip = ((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr;
	static const uint8_t loop6[16] = {[15] = 1};
	return !memcmp(ip, loop6, 16) || (ip[0] & 0xfe) == 0xfc ||
	       (ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80);
}

static int parse_ulong(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int crawl_main(int argc, char **argv, int first)
{
	enum {
		O_BPS = 256,
		O_MAX,
		O_DB,
		O_SEEN,
		O_GAP,
		O_WAIT,
		O_NOGP,
		O_LOCAL,
		O_PROGRESS,
		O_NOPROGRESS
	};
	static const struct option longopts[] = {
	    {"bind", required_argument, NULL, 'b'},
	    {"bind6", required_argument, NULL, '6'},
	    {"bootstrap", required_argument, NULL, 'B'},
	    {"duration", required_argument, NULL, 'd'},
	    {"state", required_argument, NULL, 'S'},
	    {"rate", required_argument, NULL, 'r'},
	    {"bps", required_argument, NULL, O_BPS},
	    {"max", required_argument, NULL, O_MAX},
	    {"db", required_argument, NULL, O_DB},
	    {"seen", required_argument, NULL, O_SEEN},
	    {"node-gap", required_argument, NULL, O_GAP},
	    {"peer-wait", required_argument, NULL, O_WAIT},
	    {"no-get-peers", no_argument, NULL, O_NOGP},
	    {"allow-local", no_argument, NULL, O_LOCAL},
	    {"progress", no_argument, NULL, O_PROGRESS},
	    {"no-progress", no_argument, NULL, O_NOPROGRESS},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *bind4 = NULL, *bind6 = NULL, *state = NULL, *dbpath = NULL;
	const char *bootstrap[64];
	int nboot = 0, allow_local = 0, progress = -1;
	unsigned long duration = 0, rate = 100, bps = 262144, seen = 0, gap = 0, wait_s = 0;
	int have_duration = 0;
	struct crawl c;
	memset(&c, 0, sizeof(c));
	bt_dht_crawl_options co = BT_DHT_CRAWL_OPTIONS_INIT;

	int ch, li = 0;
	optind = first;
	while ((ch = getopt_long(argc, argv, "qvh", longopts, &li)) != -1) {
		int bad = 0;
		switch (ch) {
		case 'b':
			bind4 = optarg;
			break;
		case '6':
			bind6 = optarg;
			break;
		case 'B':
			if (nboot == 64) {
				fprintf(stderr, "dht-crawl: at most 64 --bootstrap\n");
				return EXIT_USAGE;
			}
			bootstrap[nboot++] = optarg;
			break;
		case 'd':
			bad = parse_ulong(optarg, 0, 100000000, &duration);
			have_duration = 1;
			break;
		case 'S':
			state = optarg;
			break;
		case 'r':
			bad = parse_ulong(optarg, 1, 100000, &rate);
			break;
		case O_BPS:
			bad = parse_ulong(optarg, 1500, 1000000000, &bps);
			break;
		case O_MAX:
			bad = parse_ulong(optarg, 1, ULONG_MAX, &c.max);
			break;
		case O_DB:
			dbpath = optarg;
			break;
		case O_SEEN:
			bad = parse_ulong(optarg, 1000, 1u << 30, &seen);
			break;
		case O_GAP:
			bad = parse_ulong(optarg, 1, 3600000, &gap);
			break;
		case O_WAIT:
			bad = parse_ulong(optarg, 1, 3600, &wait_s);
			break;
		case O_NOGP:
			co.no_get_peers = 1;
			break;
		case O_LOCAL:
			allow_local = 1;
			break;
		case O_PROGRESS:
			progress = 1;
			break;
		case O_NOPROGRESS:
			progress = 0;
			break;
		case 'q':
			c.quiet = 1;
			break;
		case 'v':
			c.verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("dht-crawl %s (libbtdht %s)\n", PACKAGE_VERSION, bt_dht_version());
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
		if (bad) {
			fprintf(stderr, "dht-crawl: bad value for --%s: %s\n", longopts[li].name,
			        optarg);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dht-crawl crawl: unexpected argument: %s\n", argv[optind]);
		return EXIT_USAGE;
	}
	for (int i = 0; i < nboot; i++)
		if (local_address(bootstrap[i]))
			allow_local = 1;
	c.progress = progress < 0 ? (!c.quiet && isatty(2)) : progress && !c.quiet;

	if (dbpath) {
		bt_store_options so = BT_STORE_OPTIONS_INIT;
		so.read_only = 1;
		int rc = bt_store_open(&c.db, dbpath, &so);
		if (rc < 0) {
			fprintf(stderr, "dht-crawl: --db %s: %s\n", dbpath, bt_store_strerror(rc));
			return EXIT_RUNTIME;
		}
	}
	c.base = event_base_new();
	if (!c.base) {
		fprintf(stderr, "dht-crawl: cannot create an event loop\n");
		bt_store_close(c.db);
		return EXIT_RUNTIME;
	}
	bt_dht_udp_options o = BT_DHT_UDP_OPTIONS_INIT;
	o.bind4 = bind4 ? bind4 : bind6 ? NULL : "0.0.0.0:6881";
	o.bind6 = bind6;
	o.dht.max_out_qps = (unsigned)rate;
	o.dht.max_out_bps = (unsigned)bps;
	o.dht.log = crawl_log;
	o.dht.cb_ud = &c;
	if (start_node(c.base, &o, &c.udp) < 0) {
		event_base_free(c.base);
		bt_store_close(c.db);
		return EXIT_RUNTIME;
	}
	c.dht = bt_dht_udp_dht(c.udp);
	c.start_ms = bt_dht_now();
	c.start_wall = time(NULL);

	co.on_discovery = crawl_found;
	co.is_known = c.db ? crawl_known : NULL;
	co.cb_ud = &c;
	co.seen_capacity = (unsigned)seen;
	co.node_gap_ms = (unsigned)gap;
	co.peer_wait_ms = (unsigned)wait_s * 1000;
	co.allow_local = allow_local;
	int rc = bt_dht_crawler_new(&c.crawler, c.dht, &co, c.start_ms);
	if (rc < 0) {
		fprintf(stderr, "dht-crawl: cannot start the crawler: %s\n", bt_dht_strerror(rc));
		bt_dht_udp_free(c.udp);
		event_base_free(c.base);
		bt_store_close(c.db);
		return EXIT_RUNTIME;
	}
	/* A second signal while we clean up must not kill us half-way: libevent takes them
	 * from here, and they stay ignored after its handlers are freed. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	struct event *sigint = evsignal_new(c.base, SIGINT, crawl_signal, &c);
	struct event *sigterm = evsignal_new(c.base, SIGTERM, crawl_signal, &c);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
	struct event *deadline = NULL, *tick = NULL;
	if (have_duration) {
		struct timeval tv = {(time_t)duration, 0};
		deadline = evtimer_new(c.base, crawl_deadline, &c);
		evtimer_add(deadline, &tv);
	}
	if (c.progress) {
		struct timeval one = {1, 0};
		tick = event_new(c.base, -1, EV_PERSIST, crawl_progress, &c);
		evtimer_add(tick, &one);
	}
	join(c.udp, state, bootstrap, nboot);
	if (!have_duration || duration > 0)
		event_base_dispatch(c.base);

	/* Print what still waits for peers, then save and say what we did. */
	if (!c.out_closed && !(c.max && c.printed >= c.max))
		bt_dht_crawler_flush(c.crawler, bt_dht_now());
	int status = 0;
	if (state && save_state(c.dht, state) < 0)
		status = EXIT_RUNTIME;
	if (c.out_closed) {
		if (!c.quiet)
			fprintf(stderr, "dht-crawl: stdout closed\n");
		status = EXIT_PARTIAL;
	}
	if (!c.quiet)
		crawl_summary(&c);
	if (c.stop_signal)
		status = 128 + c.stop_signal;
	event_free(sigint);
	event_free(sigterm);
	if (deadline)
		event_free(deadline);
	if (tick)
		event_free(tick);
	bt_dht_crawler_free(c.crawler);
	bt_dht_udp_free(c.udp);
	event_base_free(c.base);
	bt_store_close(c.db);
	return status;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		printf("dht-crawl %s (libbtdht %s)\n", PACKAGE_VERSION, bt_dht_version());
		return 0;
	}
	if (argc >= 2 &&
	    (!strcmp(argv[1], "ping") || !strcmp(argv[1], "sample") || !strcmp(argv[1], "node")))
		return legacy_main(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "crawl"))
		return crawl_main(argc, argv, 2);
	if (argc >= 2 && argv[1][0] != '-') {
		fprintf(stderr, "dht-crawl: unknown command: %s\n", argv[1]);
		usage(stderr);
		return EXIT_USAGE;
	}
	return crawl_main(argc, argv, 1);
}
