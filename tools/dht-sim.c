/*
 * dht-sim - a simulated Mainline DHT on loopback: thousands of nodes and torrents behind one UDP
 * socket and one TCP listener, for tests, benchmarks and an offline demo of the crawler.
 *
 *   dht-sim [--nodes N] [--torrents M] [--udp-port P] [--tcp-port T] [--net A.B]
 *           [--peer-net A.B] [--bep51 SHARE] [--loss P] [--latency MS] [--churn SHARE]
 *           [--liars SHARE] [--lying-peers SHARE] [--peers-per-torrent K] [--interval S]
 *           [--activity QPS] [--seed S] [--manifest FILE] [--stats FILE] [--duration S] [-q]
 *
 * Node i lives at the i-th address of A.B.0.0/16 onwards whose last octet is neither 0 nor
 * 255 (127.100.0.1, 127.100.0.2, ...), port P; it answers ping, find_node, get_peers,
 * announce_peer and (if it supports BEP 51) sample_infohashes from a Kademlia-like routing table
 * built at start.  One UDP socket bound on 0.0.0.0:P learns each datagram's destination through
 * IP_PKTINFO and answers from that address.  Torrents come from bench/corpus.c; each is held by
 * the 8 honest nodes closest to its infohash and has K peers in the peer net, whose metadata one
 * libbtmeta listener on 0.0.0.0:T serves (lying peers announce port T+1, where a small server
 * sends random bytes instead of the metadata).  Loss, latency, churn, lying nodes and passive
 * traffic can be switched on.  Queries from outside addresses are counted (per method, the
 * busiest second, the busiest 10 seconds of one node with one source) and written as JSON on
 * exit; --manifest writes the ground truth (nodes, torrents, holders, peers) once ready.
 *
 * Everything is sent to 127.0.0.0/8 only.  Exit codes: 0 after SIGINT, SIGTERM or --duration;
 * 2 usage error; 3 run-time error (cannot bind, out of memory, cannot write a file).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>

#include "addr.h"
#include "bencode.h"
#include "btmeta.h"
#include "buf.h"
#include "corpus.h"
#include "id.h"
#include "krpc.h"
#include "siphash.h"

#define EXIT_USAGE 2
#define EXIT_RUNTIME 3

#define SIM_VERSION "SM\x00\x01"
#define K_CLOSEST 8         /* nodes per bucket, per "nodes" reply, holders per torrent */
#define MAX_NODES 500000    /* what the address layout and memory allow comfortably */
#define MAX_TORRENTS 200000 /* each costs its metadata in the bt_meta manager */
#define MAX_K 64            /* peers per torrent */
#define DEAD_ADDRS 1024     /* addresses after the last node where nothing listens */
#define MAX_PIECES 1000
#define MIN_PIECE (16u << 10)
#define MAX_SAMPLES 20
#define ANN_SLOTS 16   /* announced peers remembered per node */
#define MAX_VALUES 100 /* peers in one get_peers reply */
#define NODE_QRING 32  /* query times kept per node for the 10-second politeness window */
#define WIN_SLOTS 100  /* 10-ms slots of the 1-second window */
#define MAX_OUTSIDE 64 /* outside addresses remembered for --activity */
#define SRC_SET 65536  /* distinct outside sources counted (open addressing, power of 2) */
#define RECV_BATCH 64
#define RECV_ROUNDS 16 /* batches per readable event, to stay fair to timers */
#define PKT_MAX 2048
#define LAT_QUEUE 16384 /* replies waiting for --latency */
#define LIE_MAX_CONNS 1000
#define LIE_CONN_SECS 30
#define LIE_MAX_MSG 65536
#define LIE_MAX_OUT (1u << 20)
#define META_PIECE 16384
#define CHURN_TICK 10
#define CHURN_DOWN 60
#define MAX_QPS 10000

/* ---- Options -------------------------------------------------------------------------------- */

struct opts {
	unsigned long nodes, torrents, k, interval, activity, duration, latency;
	unsigned udp_port, tcp_port;
	unsigned net_a, net_b, peer_a, peer_b;
	double bep51, loss, churn, liars, lying_peers;
	uint64_t seed;
	const char *manifest, *stats;
	bool quiet;
};

/* ---- State ---------------------------------------------------------------------------------- */

enum { NF_BEP51 = 1, NF_LIAR = 2, NF_BOOT = 4 };

struct announce {
	bt_id ih;
	uint8_t peer[6];
};

struct node {
	bt_id id;
	uint32_t rt_off;   /* routing table: sim.rt[rt_off .. rt_off + rt_len) */
	uint32_t held_off; /* torrents held: sim.held[held_off .. held_off + held_len) */
	uint16_t rt_len;
	uint16_t held_len;
	uint8_t flags; /* NF_* */
	uint8_t nann, ann_pos, q_pos, q_len;
	uint32_t offline_until;       /* seconds since start; 0: online */
	uint64_t q_src;               /* the outside source of the queries in q_times */
	uint32_t q_times[NODE_QRING]; /* ms since start */
	struct announce *ann;         /* ANN_SLOTS, allocated on the first announce */
};

struct torrent {
	bt_id ih;
	uint32_t holders[K_CLOSEST];
	uint8_t nholders, online_holders;
	uint32_t metadata_size;
	uint64_t total_length, piece_length;
};

struct sorted_id {
	bt_id id;
	uint32_t idx;
};

struct pending_send {
	uint64_t due_us;
	struct sockaddr_in to;
	uint32_t node;
	uint16_t len;
	uint8_t *data;
};

struct lie_conn;

enum { Q_PING, Q_FIND_NODE, Q_GET_PEERS, Q_ANNOUNCE, Q_SAMPLE, Q_OTHER, Q_KINDS };

struct counters {
	uint64_t queries_in[Q_KINDS], queries_total, max_qps_1s, max_node_10s, outside_sources;
	uint64_t replies, dropped_loss, dropped_offline, dropped_noaddr, dropped_queue, malformed;
	uint64_t send_errors, lying_conns, activity_sent, activity_replies, responses_in;
};

struct sim {
	struct opts o;
	struct event_base *base;
	int udp;
	struct event *udp_ev, *sigint_ev, *sigterm_ev, *dur_ev, *prog_ev, *churn_ev, *act_ev;
	struct event *lat_ev;
	bt_meta *meta;
	struct evconnlistener *lie_lst;
	corpus *corp;

	struct node *nodes;
	struct sorted_id *sorted;
	uint32_t *rt;
	size_t rt_len;
	uint32_t *held;
	struct torrent *tor;
	uint32_t *by_ih;    /* torrent indices sorted by infohash */
	uint8_t *peer_lies; /* per peer address (j * K + k): 1 if it is a lying peer */

	uint32_t net_start, net_end, peer_start, peer_end; /* host-order [start, end) ranges */

	uint64_t rng;     /* run-time randomness */
	uint64_t tok_key; /* token key */
	uint64_t start_us;

	/* 1-second window of outside queries */
	uint32_t win[WIN_SLOTS];
	uint64_t win_slot, win_sum;
	uint64_t *src_set; /* distinct outside sources, ip << 16 | port, +1 so that 0 is empty */
	uint64_t outside[MAX_OUTSIDE];
	unsigned noutside, outside_pos;
	uint64_t last_total;
	double act_carry;
	uint16_t act_tid;

	struct pending_send *lat;
	size_t nlat;

	struct lie_conn *lie_head;
	unsigned nlie;

	struct counters c;
};

/* ---- Randomness ----------------------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
	return n ? splitmix(s) % n : 0;
}

static double unit(uint64_t *s)
{
	return (double)(splitmix(s) >> 11) / 9007199254740992.0;
}

static bool chance(uint64_t *s, double p)
{
	return p > 0 && unit(s) < p;
}

static void rand_bytes(uint64_t *s, uint8_t *p, size_t n)
{
	while (n > 0) {
		uint64_t v = splitmix(s);
		size_t k = n < 8 ? n : 8;
		memcpy(p, &v, k);
		p += k;
		n -= k;
	}
}

/* A stream for (seed, purpose, index), independent of every other. */
static uint64_t stream(uint64_t seed, uint64_t purpose, uint64_t i)
{
	uint64_t s = seed ^ (purpose * 0xd1b54a32d192ed03ull);
	s = splitmix(&s) ^ i;
	return splitmix(&s);
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t since_ms(const struct sim *s)
{
	return (now_us() - s->start_us) / 1000u;
}

/* ---- Addresses ------------------------------------------------------------------------------ */

/* The i-th usable address from @start: last octets 1..254 only. */
static uint32_t index_ip(uint32_t start, uint32_t i)
{
	return start + (i / 254u) * 256u + i % 254u + 1u;
}

/* The index of @ip from @start, or -1 when it is not an index address. */
static int64_t ip_index(uint32_t start, uint32_t ip)
{
	if (ip < start)
		return -1;
	uint32_t off = ip - start, oct = off & 255u;
	if (oct == 0 || oct == 255)
		return -1;
	return (int64_t)(off >> 8) * 254 + oct - 1;
}

static uint32_t node_ip(const struct sim *s, uint32_t i)
{
	return index_ip(s->net_start, i);
}

static uint32_t peer_ip(const struct sim *s, uint32_t p)
{
	return index_ip(s->peer_start, p);
}

static uint16_t peer_port(const struct sim *s, uint32_t p)
{
	return (uint16_t)(s->o.tcp_port + (s->peer_lies[p] ? 1u : 0u));
}

/* The live node at @ip (host order) and port, or -1. */
static int64_t node_at(const struct sim *s, uint32_t ip)
{
	if (ip < s->net_start || ip >= s->net_end)
		return -1;
	int64_t i = ip_index(s->net_start, ip);
	return i >= 0 && (uint64_t)i < s->o.nodes ? i : -1;
}

static bool is_outside(const struct sim *s, uint32_t ip)
{
	return !(ip >= s->net_start && ip < s->net_end) &&
	       !(ip >= s->peer_start && ip < s->peer_end);
}

static void put_compact(uint8_t *out, uint32_t ip, uint16_t port)
{
	uint32_t nip = htonl(ip);
	uint16_t nport = htons(port);
	memcpy(out, &nip, 4);
	memcpy(out + 4, &nport, 2);
}

static void fmt_addr(char *buf, size_t n, uint32_t ip, unsigned port)
{
	snprintf(buf, n, "%u.%u.%u.%u:%u", ip >> 24, (ip >> 16) & 255u, (ip >> 8) & 255u, ip & 255u,
	         port);
}

/* ---- Option parsing ------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs(
	    "usage: dht-sim [--nodes N] [--torrents M] [--udp-port P] [--tcp-port T]\n"
	    "               [--net A.B] [--peer-net A.B] [--bep51 SHARE] [--loss P]\n"
	    "               [--latency MS] [--churn SHARE] [--liars SHARE] [--lying-peers SHARE]\n"
	    "               [--peers-per-torrent K] [--interval S] [--activity QPS] [--seed S]\n"
	    "               [--manifest FILE] [--stats FILE] [--duration S] [-q]\n"
	    "               [--help] [--version]\n"
	    "\n"
	    "A simulated Mainline DHT on loopback (127.0.0.0/8 only).\n"
	    "  --nodes N              simulated nodes [2000]\n"
	    "  --torrents M           torrents, from the benchmark corpus [1000]\n"
	    "  --udp-port P           the port of every node [6881]\n"
	    "  --tcp-port T           peers' metadata port (lying peers: T+1) [P]\n"
	    "  --net A.B              nodes at A.B.0.1, A.B.0.2, ... [127.100]\n"
	    "  --peer-net A.B         peers at A.B.0.1, ... [127.120]\n"
	    "  --bep51 SHARE          nodes answering sample_infohashes [0.9]\n"
	    "  --loss P               drop each datagram in and out with probability P [0]\n"
	    "  --latency MS           delay replies by MS +-50% [0]\n"
	    "  --churn SHARE          nodes offline at any time, 60 s each [0]\n"
	    "  --liars SHARE          nodes that spoof ids, fake samples, dead nodes [0]\n"
	    "  --lying-peers SHARE    peers that send random metadata [0]\n"
	    "  --peers-per-torrent K  peers of each torrent, 1..64 [2]\n"
	    "  --interval S           BEP 51 interval [60]\n"
	    "  --activity QPS         get_peers sent to outside queriers per second [0]\n"
	    "  --seed S               everything derives from it [1]\n"
	    "  --manifest FILE        ground truth as JSON, written once ready\n"
	    "  --stats FILE           counters as JSON on exit [stderr]\n"
	    "  --duration S           stop after S seconds (0: at SIGINT/SIGTERM) [0]\n"
	    "  -q, --quiet            nothing on stderr but errors\n"
	    "Exit: 0 stopped; 2 usage error; 3 run-time error.\n",
	    f);
}

static int bad_opt(const char *name, const char *arg, const char *why)
{
	fprintf(stderr, "dht-sim: --%s %s: %s\n", name, arg, why);
	return -1;
}

static int parse_ulong(const char *name, const char *arg, unsigned long lo, unsigned long hi,
                       unsigned long *out)
{
	char *end;
	errno = 0;
	if (arg[0] == '-' || arg[0] == '\0')
		return bad_opt(name, arg, "not a non-negative integer");
	unsigned long long v = strtoull(arg, &end, 10);
	if (errno || *end)
		return bad_opt(name, arg, "not a non-negative integer");
	if (v < lo || v > hi) {
		char why[96];
		snprintf(why, sizeof(why), "out of range %lu..%lu", lo, hi);
		return bad_opt(name, arg, why);
	}
	*out = (unsigned long)v;
	return 0;
}

static int parse_share(const char *name, const char *arg, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(arg, &end);
	if (errno || *end || end == arg || !(v >= 0.0 && v <= 1.0))
		return bad_opt(name, arg, "not a number from 0 to 1");
	*out = v;
	return 0;
}

static int parse_net(const char *name, const char *arg, unsigned *a, unsigned *b)
{
	unsigned x, y;
	char extra;
	if (sscanf(arg, "%u.%u%c", &x, &y, &extra) != 2 || x > 255 || y > 255)
		return bad_opt(name, arg, "not A.B");
	if (x != 127)
		return bad_opt(name, arg, "must be in 127.0.0.0/8 (loopback only)");
	if (y == 0)
		return bad_opt(name, arg, "127.0 is where clients live; pick 127.1 .. 127.255");
	*a = x;
	*b = y;
	return 0;
}

static void opts_default(struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->nodes = 2000;
	o->torrents = 1000;
	o->udp_port = 6881;
	o->net_a = o->peer_a = 127;
	o->net_b = 100;
	o->peer_b = 120;
	o->bep51 = 0.9;
	o->k = 2;
	o->interval = 60;
	o->seed = 1;
}

enum {
	O_NODES = 256,
	O_TORRENTS,
	O_UDP,
	O_TCP,
	O_NET,
	O_PEERNET,
	O_BEP51,
	O_LOSS,
	O_LATENCY,
	O_CHURN,
	O_LIARS,
	O_LYING,
	O_K,
	O_INTERVAL,
	O_ACTIVITY,
	O_SEED,
	O_MANIFEST,
	O_STATS,
	O_DURATION,
	O_VERSION
};

static const struct option long_opts[] = {{"nodes", required_argument, NULL, O_NODES},
                                          {"torrents", required_argument, NULL, O_TORRENTS},
                                          {"udp-port", required_argument, NULL, O_UDP},
                                          {"tcp-port", required_argument, NULL, O_TCP},
                                          {"net", required_argument, NULL, O_NET},
                                          {"peer-net", required_argument, NULL, O_PEERNET},
                                          {"bep51", required_argument, NULL, O_BEP51},
                                          {"loss", required_argument, NULL, O_LOSS},
                                          {"latency", required_argument, NULL, O_LATENCY},
                                          {"churn", required_argument, NULL, O_CHURN},
                                          {"liars", required_argument, NULL, O_LIARS},
                                          {"lying-peers", required_argument, NULL, O_LYING},
                                          {"peers-per-torrent", required_argument, NULL, O_K},
                                          {"interval", required_argument, NULL, O_INTERVAL},
                                          {"activity", required_argument, NULL, O_ACTIVITY},
                                          {"seed", required_argument, NULL, O_SEED},
                                          {"manifest", required_argument, NULL, O_MANIFEST},
                                          {"stats", required_argument, NULL, O_STATS},
                                          {"duration", required_argument, NULL, O_DURATION},
                                          {"quiet", no_argument, NULL, 'q'},
                                          {"help", no_argument, NULL, 'h'},
                                          {"version", no_argument, NULL, O_VERSION},
                                          {NULL, 0, NULL, 0}};

/* One option; returns 0, or -1 after printing why. */
static int set_opt(struct opts *o, int c, const char *a, bool *tcp_set)
{
	unsigned long v = 0;
	int r = 0;
	switch (c) {
	case O_NODES:
		return parse_ulong("nodes", a, 1, MAX_NODES, &o->nodes);
	case O_TORRENTS:
		return parse_ulong("torrents", a, 0, MAX_TORRENTS, &o->torrents);
	case O_UDP:
		r = parse_ulong("udp-port", a, 1, 65535, &v);
		o->udp_port = (unsigned)v;
		return r;
	case O_TCP:
		r = parse_ulong("tcp-port", a, 1, 65535, &v);
		o->tcp_port = (unsigned)v;
		*tcp_set = true;
		return r;
	case O_NET:
		return parse_net("net", a, &o->net_a, &o->net_b);
	case O_PEERNET:
		return parse_net("peer-net", a, &o->peer_a, &o->peer_b);
	case O_BEP51:
		return parse_share("bep51", a, &o->bep51);
	case O_LOSS:
		return parse_share("loss", a, &o->loss);
	case O_LATENCY:
		return parse_ulong("latency", a, 0, 60000, &o->latency);
	case O_CHURN:
		return parse_share("churn", a, &o->churn);
	case O_LIARS:
		return parse_share("liars", a, &o->liars);
	case O_LYING:
		return parse_share("lying-peers", a, &o->lying_peers);
	case O_K:
		return parse_ulong("peers-per-torrent", a, 1, MAX_K, &o->k);
	case O_INTERVAL:
		return parse_ulong("interval", a, 0, 21600, &o->interval);
	case O_ACTIVITY:
		return parse_ulong("activity", a, 0, MAX_QPS, &o->activity);
	case O_SEED:
		r = parse_ulong("seed", a, 0, ULONG_MAX, &v);
		o->seed = v;
		return r;
	case O_MANIFEST:
		o->manifest = a;
		return 0;
	case O_STATS:
		o->stats = a;
		return 0;
	case O_DURATION:
		return parse_ulong("duration", a, 0, 31536000, &o->duration);
	case 'q':
		o->quiet = true;
		return 0;
	default:
		return -1;
	}
}

/* The ranges of nodes (with the dead addresses after them) and peers must fit in 127/8 and be
 * disjoint. */
static int check_layout(const struct opts *o)
{
	uint64_t net_start = (uint64_t)o->net_a << 24 | (uint64_t)o->net_b << 16;
	uint64_t peer_start = (uint64_t)o->peer_a << 24 | (uint64_t)o->peer_b << 16;
	uint64_t net_n = o->nodes + DEAD_ADDRS, peer_n = (uint64_t)o->torrents * o->k;
	uint64_t net_end = net_start + (net_n + 253) / 254 * 256;
	uint64_t peer_end = peer_start + (peer_n + 253) / 254 * 256;
	if (net_end > 0x80000000ull || peer_end > 0x80000000ull) {
		fputs("dht-sim: the address ranges do not fit in 127.0.0.0/8; lower --nodes, "
		      "--torrents or --peers-per-torrent, or the --net / --peer-net second octet\n",
		      stderr);
		return -1;
	}
	if (net_start < peer_end && peer_start < net_end) {
		fputs("dht-sim: --net and --peer-net ranges overlap\n", stderr);
		return -1;
	}
	if (o->lying_peers > 0 && o->tcp_port >= 65535) {
		fputs("dht-sim: --lying-peers needs --tcp-port below 65535 (lying peers use T+1)\n",
		      stderr);
		return -1;
	}
	return 0;
}

/* Returns 0 to run, or an exit code + 1 (1: exit 0 after --help / --version). */
static int parse_args(struct opts *o, int argc, char **argv)
{
	bool tcp_set = false;
	int c;
	opts_default(o);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":qh", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == O_VERSION) {
			printf("dht-sim %s\n", PACKAGE_VERSION);
			return 1;
		}
		if (c == '?' || c == ':') {
			fprintf(stderr, "dht-sim: %s: %s\n", argv[optind - 1],
			        c == '?' ? "unknown option" : "needs an argument");
			usage(stderr);
			return EXIT_USAGE + 1;
		}
		if (set_opt(o, c, optarg, &tcp_set) < 0)
			return EXIT_USAGE + 1;
	}
	if (optind < argc) {
		fprintf(stderr, "dht-sim: unexpected argument: %s\n", argv[optind]);
		return EXIT_USAGE + 1;
	}
	if (!tcp_set)
		o->tcp_port = o->udp_port;
	if (check_layout(o) < 0)
		return EXIT_USAGE + 1;
	return 0;
}

/* ---- Node ids and routing tables ------------------------------------------------------------ */

static int cmp_sorted(const void *a, const void *b)
{
	return bt_id_cmp(&((const struct sorted_id *)a)->id, &((const struct sorted_id *)b)->id);
}

/* @id with its bits from @bits on all 0 (@fill 0) or all 1 (@fill 1). */
static bt_id id_mask(const bt_id *id, unsigned bits, int fill)
{
	bt_id r = *id;
	for (unsigned i = bits; i < 160; i++) {
		uint8_t m = (uint8_t)(0x80u >> (i & 7));
		if (fill)
			r.b[i >> 3] |= m;
		else
			r.b[i >> 3] &= (uint8_t)~m;
	}
	return r;
}

/* First index whose id is >= @key (@upper: > @key). */
static size_t bsearch_id(const struct sim *s, const bt_id *key, bool upper)
{
	size_t lo = 0, hi = s->o.nodes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = bt_id_cmp(&s->sorted[mid].id, key);
		if (c < 0 || (upper && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The sorted range [*lo, *hi) of ids sharing the first @bits bits of @id. */
static void prefix_range(const struct sim *s, const bt_id *id, unsigned bits, size_t *lo,
                         size_t *hi)
{
	bt_id a = id_mask(id, bits, 0), b = id_mask(id, bits, 1);
	*lo = bsearch_id(s, &a, false);
	*hi = bsearch_id(s, &b, true);
}

static int make_ids(struct sim *s)
{
	uint64_t n = s->o.nodes;
	s->nodes = calloc(n, sizeof(*s->nodes));
	s->sorted = malloc(n * sizeof(*s->sorted));
	if (!s->nodes || !s->sorted)
		return -1;
	uint64_t r = stream(s->o.seed, 1, 0);
	for (uint64_t i = 0; i < n; i++) {
		struct node *nd = &s->nodes[i];
		rand_bytes(&r, nd->id.b, BT_ID_LEN);
		if (chance(&r, s->o.bep51))
			nd->flags |= NF_BEP51;
		if (chance(&r, s->o.liars))
			nd->flags |= NF_LIAR;
		s->sorted[i].id = nd->id;
		s->sorted[i].idx = (uint32_t)i;
	}
	qsort(s->sorted, n, sizeof(*s->sorted), cmp_sorted);
	return 0;
}

static int rt_push(struct sim *s, size_t *cap, uint32_t v)
{
	if (s->rt_len == *cap) {
		size_t nc = *cap ? *cap * 2 : 4096;
		uint32_t *p = realloc(s->rt, nc * sizeof(*p));
		if (!p)
			return -1;
		s->rt = p;
		*cap = nc;
	}
	s->rt[s->rt_len++] = v;
	return 0;
}

/* Up to K_CLOSEST random distinct nodes of the sorted range [lo, hi). */
static int rt_bucket(struct sim *s, size_t *cap, uint64_t *r, size_t lo, size_t hi)
{
	size_t n = hi - lo, pick[K_CLOSEST], np = 0;
	if (n <= K_CLOSEST) {
		for (size_t i = lo; i < hi; i++)
			if (rt_push(s, cap, s->sorted[i].idx) < 0)
				return -1;
		return 0;
	}
	while (np < K_CLOSEST) {
		size_t x = lo + below(r, n), j;
		for (j = 0; j < np && pick[j] != x; j++)
			;
		if (j < np)
			continue;
		pick[np++] = x;
		if (rt_push(s, cap, s->sorted[x].idx) < 0)
			return -1;
	}
	return 0;
}

static int make_tables(struct sim *s)
{
	size_t cap = 0;
	uint64_t r = stream(s->o.seed, 2, 0);
	for (uint64_t i = 0; i < s->o.nodes; i++) {
		struct node *nd = &s->nodes[i];
		nd->rt_off = (uint32_t)s->rt_len;
		for (unsigned b = 0; b < 160; b++) {
			size_t lo, hi;
			prefix_range(s, &nd->id, b + 1, &lo, &hi);
			bt_id other = nd->id;
			other.b[b >> 3] ^= (uint8_t)(0x80u >> (b & 7));
			size_t olo, ohi;
			prefix_range(s, &other, b + 1, &olo, &ohi);
			if (rt_bucket(s, &cap, &r, olo, ohi) < 0)
				return -1;
			if (hi - lo <= 1)
				break; /* nobody else shares b + 1 bits: deeper buckets are empty */
		}
		nd->rt_len = (uint16_t)(s->rt_len - nd->rt_off);
	}
	return 0;
}

/* The (up to) K_CLOSEST entries of @tab (@n node indices) closest to @target, into @out. */
static unsigned closest(const struct sim *s, const uint32_t *tab, size_t n, const bt_id *target,
                        uint32_t out[K_CLOSEST])
{
	unsigned k = 0;
	for (size_t i = 0; i < n; i++) {
		const bt_id *id = &s->nodes[tab[i]].id;
		unsigned j = k < K_CLOSEST ? k++ : K_CLOSEST;
		if (j == K_CLOSEST) {
			if (bt_id_dist_cmp(target, id, &s->nodes[out[K_CLOSEST - 1]].id) >= 0)
				continue;
			j = K_CLOSEST - 1;
		}
		while (j > 0 && bt_id_dist_cmp(target, id, &s->nodes[out[j - 1]].id) < 0) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = tab[i];
	}
	return k;
}

/* ---- Torrents ------------------------------------------------------------------------------- */

static uint64_t piece_length_for(uint64_t total)
{
	uint64_t pl = MIN_PIECE;
	while ((total + pl - 1) / pl > MAX_PIECES)
		pl *= 2;
	return pl;
}

static bool single_file(const bt_store_torrent *t)
{
	return t->num_files == 1 && strcmp(t->files[0].path, t->name) == 0;
}

/* Path components of @path, split on '/'. */
static void enc_path(bt_ben_enc *e, const char *path)
{
	bt_ben_enc_list(e);
	const char *p = path;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		bt_ben_enc_str(e, p, n);
		if (!slash)
			break;
		p = slash + 1;
	}
	bt_ben_enc_end(e);
}

static uint64_t total_length(const bt_store_torrent *t)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < t->num_files; i++)
		if (!(t->files[i].flags & BT_STORE_FILE_PAD))
			sum += t->files[i].length;
	return sum;
}

/* The BEP 3 info dictionary of corpus torrent @j into @out (keys in order). */
static int build_info(const struct sim *s, const bt_store_torrent *t, uint64_t j, bt_buf *out,
                      uint64_t *total, uint64_t *plen)
{
	static uint8_t pieces[MAX_PIECES * 20];
	*total = total_length(t);
	*plen = piece_length_for(*total);
	uint64_t np = (*total + *plen - 1) / *plen;
	if (np == 0)
		np = 1;
	uint64_t r = stream(s->o.seed, 3, j);
	rand_bytes(&r, pieces, np * 20);

	bt_ben_enc e;
	bt_ben_enc_init(&e, out);
	bt_ben_enc_dict(&e);
	if (single_file(t)) {
		bt_ben_enc_strz(&e, "length");
		bt_ben_enc_int(&e, (int64_t)*total);
	} else {
		bt_ben_enc_strz(&e, "files");
		bt_ben_enc_list(&e);
		for (size_t i = 0; i < t->num_files; i++) {
			if (t->files[i].flags & BT_STORE_FILE_PAD)
				continue;
			bt_ben_enc_dict(&e);
			bt_ben_enc_strz(&e, "length");
			bt_ben_enc_int(&e, (int64_t)t->files[i].length);
			bt_ben_enc_strz(&e, "path");
			enc_path(&e, t->files[i].path);
			bt_ben_enc_end(&e);
		}
		bt_ben_enc_end(&e);
	}
	bt_ben_enc_strz(&e, "name");
	bt_ben_enc_strz(&e, t->name);
	bt_ben_enc_strz(&e, "piece length");
	bt_ben_enc_int(&e, (int64_t)*plen);
	bt_ben_enc_strz(&e, "pieces");
	bt_ben_enc_str(&e, pieces, np * 20);
	bt_ben_enc_end(&e);
	return bt_ben_enc_finish(&e);
}

static int sha1(const uint8_t *p, size_t n, uint8_t out[20])
{
	unsigned len = 0;
	return EVP_Digest(p, n, out, &len, EVP_sha1(), NULL) == 1 && len == 20 ? 0 : -1;
}

/* Generate torrent @j, serve it, remember its infohash and sizes. */
static int make_torrent(struct sim *s, uint64_t j, bt_buf *b)
{
	struct torrent *tr = &s->tor[j];
	const bt_store_torrent *t = corpus_torrent(s->corp, j, NULL);
	bt_buf_reset(b);
	if (!t || build_info(s, t, j, b, &tr->total_length, &tr->piece_length) != 0) {
		fprintf(stderr, "dht-sim: torrent %llu: cannot encode its info dictionary\n",
		        (unsigned long long)j);
		return -1;
	}
	if (sha1(b->data, b->len, tr->ih.b) < 0)
		return -1;
	tr->metadata_size = (uint32_t)b->len;
	int rc = bt_meta_serve_add(s->meta, b->data, b->len);
	if (rc != 0 && rc != BT_META_E_EXISTS) {
		fprintf(stderr, "dht-sim: torrent %llu: cannot serve it: %s\n",
		        (unsigned long long)j, bt_meta_strerror(rc));
		return -1;
	}
	return 0;
}

/* The K_CLOSEST honest nodes closest to @ih: the smallest prefix range around it that holds
 * enough honest nodes contains them all. */
static void find_holders(struct sim *s, struct torrent *tr)
{
	size_t lo = 0, hi = s->o.nodes;
	for (int bits = 64; bits >= 0; bits--) {
		prefix_range(s, &tr->ih, (unsigned)bits, &lo, &hi);
		size_t honest = 0;
		for (size_t i = lo; i < hi && honest < K_CLOSEST; i++)
			honest += !(s->nodes[s->sorted[i].idx].flags & NF_LIAR);
		if (honest >= K_CLOSEST)
			break;
	}
	tr->nholders = 0;
	for (size_t i = lo; i < hi; i++) {
		uint32_t idx = s->sorted[i].idx;
		if (s->nodes[idx].flags & NF_LIAR)
			continue;
		unsigned j = tr->nholders < K_CLOSEST ? tr->nholders++ : K_CLOSEST;
		if (j == K_CLOSEST) {
			const bt_id *worst = &s->nodes[tr->holders[K_CLOSEST - 1]].id;
			if (bt_id_dist_cmp(&tr->ih, &s->nodes[idx].id, worst) >= 0)
				continue;
			j = K_CLOSEST - 1;
		}
		while (j > 0 && bt_id_dist_cmp(&tr->ih, &s->nodes[idx].id,
		                               &s->nodes[tr->holders[j - 1]].id) < 0) {
			tr->holders[j] = tr->holders[j - 1];
			j--;
		}
		tr->holders[j] = idx;
	}
	tr->online_holders = tr->nholders;
}

/* sim.held: for every node, the torrents it holds (two passes: count, then fill). */
static int make_held(struct sim *s)
{
	uint64_t n = s->o.nodes, total = 0;
	for (uint64_t j = 0; j < s->o.torrents; j++)
		for (unsigned h = 0; h < s->tor[j].nholders; h++) {
			struct node *nd = &s->nodes[s->tor[j].holders[h]];
			if (nd->held_len < UINT16_MAX)
				nd->held_len++;
		}
	for (uint64_t i = 0; i < n; i++) {
		s->nodes[i].held_off = (uint32_t)total;
		total += s->nodes[i].held_len;
		s->nodes[i].held_len = 0;
	}
	s->held = malloc((total ? total : 1) * sizeof(*s->held));
	if (!s->held)
		return -1;
	for (uint64_t j = 0; j < s->o.torrents; j++)
		for (unsigned h = 0; h < s->tor[j].nholders; h++) {
			struct node *nd = &s->nodes[s->tor[j].holders[h]];
			if (nd->held_len == UINT16_MAX)
				continue; /* over 65,535 torrents on one node: the rest unheld */
			s->held[nd->held_off + nd->held_len++] = (uint32_t)j;
		}
	return 0;
}

static const struct sim *sort_sim; /* for cmp_by_ih */

static int cmp_by_ih(const void *a, const void *b)
{
	return bt_id_cmp(&sort_sim->tor[*(const uint32_t *)a].ih,
	                 &sort_sim->tor[*(const uint32_t *)b].ih);
}

static int64_t torrent_by_ih(const struct sim *s, const uint8_t *ih)
{
	size_t lo = 0, hi = s->o.torrents;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(s->tor[s->by_ih[mid]].ih.b, ih, BT_ID_LEN);
		if (c == 0)
			return s->by_ih[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Lying peers: a share of peer addresses, never all K of one torrent. */
static int make_peers(struct sim *s)
{
	uint64_t np = s->o.torrents * s->o.k;
	s->peer_lies = calloc(np ? np : 1, 1);
	if (!s->peer_lies)
		return -1;
	uint64_t r = stream(s->o.seed, 4, 0);
	for (uint64_t j = 0; j < s->o.torrents; j++) {
		unsigned liars = 0;
		for (unsigned k = 0; k < s->o.k; k++) {
			uint8_t l = chance(&r, s->o.lying_peers);
			s->peer_lies[j * s->o.k + k] = l;
			liars += l;
		}
		if (liars == s->o.k)
			s->peer_lies[j * s->o.k + below(&r, s->o.k)] = 0;
	}
	return 0;
}

static int make_torrents(struct sim *s)
{
	uint64_t m = s->o.torrents;
	s->tor = calloc(m ? m : 1, sizeof(*s->tor));
	s->by_ih = malloc((m ? m : 1) * sizeof(*s->by_ih));
	s->corp = corpus_new(s->o.seed, 1700000000);
	if (!s->tor || !s->by_ih || !s->corp)
		return -1;
	bt_buf b;
	bt_buf_init(&b, 64u << 20);
	int rc = 0;
	for (uint64_t j = 0; j < m && rc == 0; j++) {
		rc = make_torrent(s, j, &b);
		if (rc == 0)
			find_holders(s, &s->tor[j]);
		s->by_ih[j] = (uint32_t)j;
	}
	bt_buf_free(&b);
	if (rc < 0)
		return -1;
	sort_sim = s;
	qsort(s->by_ih, m, sizeof(*s->by_ih), cmp_by_ih);
	if (make_held(s) < 0 || make_peers(s) < 0)
		return -1;
	return 0;
}

/* ---- Sending -------------------------------------------------------------------------------- */

static void send_now(struct sim *s, uint32_t ni, const struct sockaddr_in *to, const uint8_t *p,
                     size_t n)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
		struct cmsghdr align;
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = {(void *)p, n};
	struct msghdr mh = {0};
	mh.msg_name = (void *)to;
	mh.msg_namelen = sizeof(*to);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = IPPROTO_IP;
	cm->cmsg_type = IP_PKTINFO;
	cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
	struct in_pktinfo pi;
	memset(&pi, 0, sizeof(pi));
	pi.ipi_spec_dst.s_addr = htonl(node_ip(s, ni));
	memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	if ((ntohl(to->sin_addr.s_addr) >> 24) != 127) {
		s->c.send_errors++; /* never leaves loopback */
		return;
	}
	if (sendmsg(s->udp, &mh, MSG_DONTWAIT) < 0)
		s->c.send_errors++;
}

static void lat_swap(struct pending_send *a, struct pending_send *b)
{
	struct pending_send t = *a;
	*a = *b;
	*b = t;
}

static void lat_arm(struct sim *s)
{
	if (s->nlat == 0)
		return;
	uint64_t now = now_us(), due = s->lat[0].due_us;
	uint64_t d = due > now ? due - now : 0;
	struct timeval tv = {(time_t)(d / 1000000u), (suseconds_t)(d % 1000000u)};
	evtimer_add(s->lat_ev, &tv);
}

static void lat_push(struct sim *s, uint32_t ni, const struct sockaddr_in *to, const uint8_t *p,
                     size_t n)
{
	if (s->nlat >= LAT_QUEUE) {
		s->c.dropped_queue++;
		return;
	}
	uint8_t *copy = malloc(n);
	if (!copy) {
		s->c.dropped_queue++;
		return;
	}
	memcpy(copy, p, n);
	double ms = (double)s->o.latency * (0.5 + unit(&s->rng));
	size_t i = s->nlat++;
	s->lat[i] =
	    (struct pending_send){now_us() + (uint64_t)(ms * 1000.0), *to, ni, (uint16_t)n, copy};
	while (i > 0 && s->lat[(i - 1) / 2].due_us > s->lat[i].due_us) {
		lat_swap(&s->lat[(i - 1) / 2], &s->lat[i]);
		i = (i - 1) / 2;
	}
	if (i == 0)
		lat_arm(s);
}

static void lat_pop(struct sim *s)
{
	free(s->lat[0].data);
	s->lat[0] = s->lat[--s->nlat];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < s->nlat && s->lat[l].due_us < s->lat[m].due_us)
			m = l;
		if (r < s->nlat && s->lat[r].due_us < s->lat[m].due_us)
			m = r;
		if (m == i)
			break;
		lat_swap(&s->lat[i], &s->lat[m]);
		i = m;
	}
}

static void on_latency(evutil_socket_t fd, short ev, void *ud)
{
	(void)fd;
	(void)ev;
	struct sim *s = ud;
	uint64_t now = now_us();
	while (s->nlat > 0 && s->lat[0].due_us <= now) {
		struct pending_send *p = &s->lat[0];
		send_now(s, p->node, &p->to, p->data, p->len);
		lat_pop(s);
	}
	lat_arm(s);
}

/* Send from node @ni, through loss and latency. */
static void send_from(struct sim *s, uint32_t ni, const struct sockaddr_in *to, const uint8_t *p,
                      size_t n)
{
	if (chance(&s->rng, s->o.loss)) {
		s->c.dropped_loss++;
		return;
	}
	if (s->o.latency > 0)
		lat_push(s, ni, to, p, n);
	else
		send_now(s, ni, to, p, n);
}

/* ---- Answering queries ---------------------------------------------------------------------- */

struct reply_bufs {
	uint8_t nodes[K_CLOSEST * 26];
	uint8_t values[MAX_VALUES][6];
	uint8_t samples[MAX_SAMPLES * 20];
	uint8_t token[8];
};

static bool is_liar(const struct sim *s, uint32_t ni)
{
	return s->nodes[ni].flags & NF_LIAR;
}

/* "nodes": the 8 closest of @ni's table to @target; a liar's point where nothing listens. */
static void put_nodes(struct sim *s, uint32_t ni, const bt_id *target, bt_dht__krpc_msg *r,
                      struct reply_bufs *rb)
{
	uint32_t best[K_CLOSEST];
	unsigned n;
	const struct node *nd = &s->nodes[ni];
	if (is_liar(s, ni)) {
		for (n = 0; n < K_CLOSEST; n++) {
			rand_bytes(&s->rng, rb->nodes + n * 26, 20);
			uint32_t dead = (uint32_t)(s->o.nodes + below(&s->rng, DEAD_ADDRS));
			put_compact(rb->nodes + n * 26 + 20, node_ip(s, dead),
			            (uint16_t)s->o.udp_port);
		}
	} else {
		n = closest(s, s->rt + nd->rt_off, nd->rt_len, target, best);
		for (unsigned i = 0; i < n; i++) {
			memcpy(rb->nodes + i * 26, s->nodes[best[i]].id.b, 20);
			put_compact(rb->nodes + i * 26 + 20, node_ip(s, best[i]),
			            (uint16_t)s->o.udp_port);
		}
	}
	r->nodes = rb->nodes;
	r->nodes_len = n * 26u;
}

static void put_token(struct sim *s, const struct sockaddr_in *from, bt_dht__krpc_msg *r,
                      struct reply_bufs *rb)
{
	uint64_t h = bt_siphash24(s->tok_key, 0x746f6b656eull, (const uint8_t *)&from->sin_addr, 4);
	memcpy(rb->token, &h, 8);
	r->token = rb->token;
	r->token_len = 8;
}

static void add_value(bt_dht__krpc_msg *r, struct reply_bufs *rb, const uint8_t *peer)
{
	if (r->nvalues >= MAX_VALUES)
		return;
	memcpy(rb->values[r->nvalues], peer, 6);
	r->values[r->nvalues] = rb->values[r->nvalues];
	r->values_len[r->nvalues] = 6;
	r->nvalues++;
}

static int64_t held_torrent(const struct sim *s, uint32_t ni, const bt_id *ih)
{
	const struct node *nd = &s->nodes[ni];
	for (unsigned i = 0; i < nd->held_len; i++) {
		uint32_t j = s->held[nd->held_off + i];
		if (bt_id_eq(&s->tor[j].ih, ih))
			return j;
	}
	return -1;
}

static void put_values(struct sim *s, uint32_t ni, const bt_id *ih, bt_dht__krpc_msg *r,
                       struct reply_bufs *rb)
{
	const struct node *nd = &s->nodes[ni];
	int64_t j = held_torrent(s, ni, ih);
	if (j >= 0)
		for (unsigned k = 0; k < s->o.k; k++) {
			uint32_t p = (uint32_t)j * (uint32_t)s->o.k + k;
			uint8_t c[6];
			put_compact(c, peer_ip(s, p), peer_port(s, p));
			add_value(r, rb, c);
		}
	for (unsigned i = 0; i < nd->nann; i++)
		if (bt_id_eq(&nd->ann[i].ih, ih))
			add_value(r, rb, nd->ann[i].peer);
	r->has_values = r->nvalues > 0;
}

static void do_announce(struct sim *s, uint32_t ni, const struct sockaddr_in *from,
                        const bt_dht__krpc_msg *q)
{
	struct node *nd = &s->nodes[ni];
	if (is_liar(s, ni))
		return;
	if (!nd->ann && !(nd->ann = calloc(ANN_SLOTS, sizeof(*nd->ann))))
		return;
	uint8_t peer[6];
	uint16_t port = q->implied_port ? ntohs(from->sin_port) : q->port;
	put_compact(peer, ntohl(from->sin_addr.s_addr), port);
	for (unsigned i = 0; i < nd->nann; i++)
		if (bt_id_eq(&nd->ann[i].ih, &q->info_hash) && !memcmp(nd->ann[i].peer, peer, 6))
			return;
	struct announce *a = &nd->ann[nd->ann_pos];
	nd->ann_pos = (uint8_t)((nd->ann_pos + 1) % ANN_SLOTS);
	if (nd->nann < ANN_SLOTS)
		nd->nann++;
	a->ih = q->info_hash;
	memcpy(a->peer, peer, 6);
}

/* Up to MAX_SAMPLES distinct infohashes of those @ni holds or was announced; returns how many
 * it has in all. */
static int64_t put_samples(struct sim *s, uint32_t ni, bt_dht__krpc_msg *r, struct reply_bufs *rb)
{
	const struct node *nd = &s->nodes[ni];
	size_t n = 0;
	if (is_liar(s, ni)) {
		rand_bytes(&s->rng, rb->samples, MAX_SAMPLES * 20);
		r->samples = rb->samples;
		r->samples_len = MAX_SAMPLES * 20;
		return 1000000 + (int64_t)below(&s->rng, 9000000);
	}
	size_t total = nd->held_len + nd->nann;
	for (size_t tries = 0; n < MAX_SAMPLES && n < total && tries < 4 * MAX_SAMPLES + total;
	     tries++) {
		size_t k = total <= MAX_SAMPLES ? tries : below(&s->rng, total);
		if (k >= total)
			break;
		const bt_id *ih = k < nd->held_len ? &s->tor[s->held[nd->held_off + k]].ih
		                                   : &nd->ann[k - nd->held_len].ih;
		size_t i;
		for (i = 0; i < n && memcmp(rb->samples + i * 20, ih->b, 20); i++)
			;
		if (i < n)
			continue;
		memcpy(rb->samples + n * 20, ih->b, 20);
		n++;
	}
	r->samples = rb->samples;
	r->samples_len = n * 20;
	return (int64_t)total;
}

static void send_msg(struct sim *s, uint32_t ni, const struct sockaddr_in *to,
                     const bt_dht__krpc_msg *r)
{
	uint8_t out[BT_DHT__KRPC_MAX_PACKET];
	bt_buf b;
	bt_buf_init_fixed(&b, out, sizeof(out));
	if (bt_dht__krpc_encode(&b, r) != 0) {
		s->c.send_errors++;
		return;
	}
	if (r->kind != BT_DHT__KRPC_QUERY)
		s->c.replies++;
	send_from(s, ni, to, out, b.len);
}

static void send_error(struct sim *s, uint32_t ni, const struct sockaddr_in *to,
                       const bt_dht__krpc_msg *q, int code, const char *msg)
{
	bt_dht__krpc_msg e;
	memset(&e, 0, sizeof(e));
	e.kind = BT_DHT__KRPC_ERROR;
	e.t = q->t;
	e.tlen = q->tlen;
	e.v = (const uint8_t *)SIM_VERSION;
	e.vlen = 4;
	e.err_code = code;
	e.err_msg = (const uint8_t *)msg;
	e.err_msg_len = strlen(msg);
	send_msg(s, ni, to, &e);
}

static void answer(struct sim *s, uint32_t ni, const struct sockaddr_in *from,
                   const bt_dht__krpc_msg *q)
{
	static bt_dht__krpc_msg r;
	struct reply_bufs rb;
	memset(&r, 0, sizeof(r));
	r.kind = BT_DHT__KRPC_RESPONSE;
	r.t = q->t;
	r.tlen = q->tlen;
	r.v = (const uint8_t *)SIM_VERSION;
	r.vlen = 4;
	r.has_ip = bt_addr_from_sockaddr(&r.ip, (const struct sockaddr *)from, sizeof(*from)) == 0;
	r.has_id = true;
	if (is_liar(s, ni))
		rand_bytes(&s->rng, r.id.b, BT_ID_LEN);
	else
		r.id = s->nodes[ni].id;
	switch (q->method) {
	case BT_DHT__KRPC_M_PING:
		break;
	case BT_DHT__KRPC_M_FIND_NODE:
		put_nodes(s, ni, &q->target, &r, &rb);
		break;
	case BT_DHT__KRPC_M_GET_PEERS:
		put_token(s, from, &r, &rb);
		if (!is_liar(s, ni))
			put_values(s, ni, &q->info_hash, &r, &rb);
		put_nodes(s, ni, &q->info_hash, &r, &rb);
		break;
	case BT_DHT__KRPC_M_ANNOUNCE_PEER:
		do_announce(s, ni, from, q);
		break;
	case BT_DHT__KRPC_M_SAMPLE_INFOHASHES:
		if (!(s->nodes[ni].flags & NF_BEP51)) {
			send_error(s, ni, from, q, 204, "Method Unknown");
			return;
		}
		r.has_num = true;
		r.num = put_samples(s, ni, &r, &rb);
		r.has_interval = true;
		r.interval = (int64_t)s->o.interval;
		put_nodes(s, ni, &q->target, &r, &rb);
		break;
	default:
		send_error(s, ni, from, q, 204, "Method Unknown");
		return;
	}
	send_msg(s, ni, from, &r);
}

/* ---- Measurement ---------------------------------------------------------------------------- */

static int method_slot(bt_dht__krpc_method m)
{
	switch (m) {
	case BT_DHT__KRPC_M_PING:
		return Q_PING;
	case BT_DHT__KRPC_M_FIND_NODE:
		return Q_FIND_NODE;
	case BT_DHT__KRPC_M_GET_PEERS:
		return Q_GET_PEERS;
	case BT_DHT__KRPC_M_ANNOUNCE_PEER:
		return Q_ANNOUNCE;
	case BT_DHT__KRPC_M_SAMPLE_INFOHASHES:
		return Q_SAMPLE;
	default:
		return Q_OTHER;
	}
}

/* The 1-second sliding window, in 10-ms slots. */
static void window_add(struct sim *s, uint64_t ms)
{
	uint64_t slot = ms / 10u;
	if (slot > s->win_slot) {
		uint64_t steps = slot - s->win_slot;
		for (uint64_t i = 1; i <= steps && i <= WIN_SLOTS; i++) {
			uint32_t *w = &s->win[(s->win_slot + i) % WIN_SLOTS];
			s->win_sum -= *w;
			*w = 0;
		}
		s->win_slot = slot;
	}
	s->win[slot % WIN_SLOTS]++;
	s->win_sum++;
	if (s->win_sum > s->c.max_qps_1s)
		s->c.max_qps_1s = s->win_sum;
}

/* Queries node @ni received from one outside source within 10 s (up to NODE_QRING). */
static void node_window_add(struct sim *s, uint32_t ni, uint64_t src, uint64_t ms)
{
	struct node *nd = &s->nodes[ni];
	if (nd->q_src != src) {
		nd->q_src = src;
		nd->q_len = 0;
		nd->q_pos = 0;
	}
	nd->q_times[nd->q_pos] = (uint32_t)ms;
	nd->q_pos = (uint8_t)((nd->q_pos + 1) % NODE_QRING);
	if (nd->q_len < NODE_QRING)
		nd->q_len++;
	uint64_t n = 0;
	for (unsigned i = 0; i < nd->q_len; i++) {
		uint32_t t = nd->q_times[(nd->q_pos + NODE_QRING - 1 - i) % NODE_QRING];
		if ((uint32_t)ms - t >= 10000u)
			break;
		n++;
	}
	if (n > s->c.max_node_10s)
		s->c.max_node_10s = n;
}

static void count_source(struct sim *s, uint64_t src)
{
	uint64_t key = src + 1, h = bt_siphash24(s->tok_key, 1, (const uint8_t *)&key, 8);
	for (unsigned i = 0; i < 64; i++) {
		uint64_t *e = &s->src_set[(h + i) & (SRC_SET - 1)];
		if (*e == key)
			return;
		if (*e == 0) {
			if (s->c.outside_sources >= SRC_SET / 2)
				return; /* full enough: stop counting rather than slow down */
			*e = key;
			s->c.outside_sources++;
			return;
		}
	}
}

static void remember_outside(struct sim *s, uint64_t src)
{
	for (unsigned i = 0; i < s->noutside; i++)
		if (s->outside[i] == src)
			return;
	s->outside[s->outside_pos] = src;
	s->outside_pos = (s->outside_pos + 1) % MAX_OUTSIDE;
	if (s->noutside < MAX_OUTSIDE)
		s->noutside++;
}

static void measure_query(struct sim *s, int64_t ni, uint64_t src, const bt_dht__krpc_msg *q)
{
	uint64_t ms = since_ms(s);
	s->c.queries_in[method_slot(q->method)]++;
	s->c.queries_total++;
	window_add(s, ms);
	if (ni >= 0)
		node_window_add(s, (uint32_t)ni, src, ms);
	count_source(s, src);
	remember_outside(s, src);
}

/* ---- Receiving ------------------------------------------------------------------------------ */

static void on_datagram(struct sim *s, const uint8_t *p, size_t n, const struct sockaddr_in *from,
                        uint32_t dst)
{
	static bt_dht__krpc_msg q;
	int64_t ni = node_at(s, dst);
	uint32_t src_ip = ntohl(from->sin_addr.s_addr);
	bool outside = is_outside(s, src_ip);
	uint64_t src = (uint64_t)src_ip << 16 | ntohs(from->sin_port);
	int rc = bt_dht__krpc_parse(&q, p, n);
	if (rc != BT_DHT__KRPC_OK)
		s->c.malformed++;
	if ((rc == BT_DHT__KRPC_OK || rc == BT_DHT__KRPC_E_ARGS || rc == BT_DHT__KRPC_E_ID) &&
	    q.kind == BT_DHT__KRPC_QUERY && outside)
		measure_query(s, ni, src, &q);
	if (rc != BT_DHT__KRPC_OK)
		return;
	if (ni < 0) {
		s->c.dropped_noaddr++;
		return;
	}
	if (chance(&s->rng, s->o.loss)) {
		s->c.dropped_loss++;
		return;
	}
	if (s->nodes[ni].offline_until) {
		s->c.dropped_offline++;
		return;
	}
	if (q.kind != BT_DHT__KRPC_QUERY) {
		s->c.responses_in++;
		if (q.tlen == 4 && !memcmp(q.t, "ac", 2))
			s->c.activity_replies++;
		return;
	}
	answer(s, (uint32_t)ni, from, &q);
}

static uint32_t pktinfo_dst(struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			return ntohl(pi.ipi_addr.s_addr);
		}
	}
	return 0;
}

struct recv_batch {
	struct mmsghdr mm[RECV_BATCH];
	struct iovec iov[RECV_BATCH];
	struct sockaddr_in from[RECV_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(struct in_pktinfo)) + 64];
		struct cmsghdr align;
	} ctl[RECV_BATCH];
	uint8_t data[RECV_BATCH][PKT_MAX];
};

static void on_udp(evutil_socket_t fd, short ev, void *ud)
{
	(void)ev;
	struct sim *s = ud;
	static struct recv_batch rb;
	for (int round = 0; round < RECV_ROUNDS; round++) {
		for (int i = 0; i < RECV_BATCH; i++) {
			rb.iov[i] = (struct iovec){rb.data[i], PKT_MAX};
			memset(&rb.mm[i], 0, sizeof(rb.mm[i]));
			rb.mm[i].msg_hdr.msg_name = &rb.from[i];
			rb.mm[i].msg_hdr.msg_namelen = sizeof(rb.from[i]);
			rb.mm[i].msg_hdr.msg_iov = &rb.iov[i];
			rb.mm[i].msg_hdr.msg_iovlen = 1;
			rb.mm[i].msg_hdr.msg_control = rb.ctl[i].buf;
			rb.mm[i].msg_hdr.msg_controllen = sizeof(rb.ctl[i].buf);
		}
		int got = recvmmsg(fd, rb.mm, RECV_BATCH, MSG_DONTWAIT, NULL);
		if (got <= 0)
			return;
		for (int i = 0; i < got; i++) {
			struct msghdr *mh = &rb.mm[i].msg_hdr;
			if ((mh->msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
			    mh->msg_namelen != sizeof(struct sockaddr_in) ||
			    rb.from[i].sin_family != AF_INET) {
				s->c.malformed++;
				continue;
			}
			on_datagram(s, rb.data[i], rb.mm[i].msg_len, &rb.from[i], pktinfo_dst(mh));
		}
		if (got < RECV_BATCH)
			return;
	}
}

static int open_udp(struct sim *s)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1, big = 8 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)s->o.udp_port);
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	s->udp = fd;
	return 0;
}

/* ---- Lying peers ---------------------------------------------------------------------------- */

enum { LIE_HANDSHAKE, LIE_MESSAGES };

struct lie_conn {
	struct sim *s;
	struct bufferevent *bev;
	struct event *timer;
	struct lie_conn *prev, *next;
	int state;
	uint32_t torrent;
	uint8_t client_ut; /* the client's ut_metadata id; 0: not told yet */
};

static void lie_close(struct lie_conn *c)
{
	struct sim *s = c->s;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->lie_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nlie--;
	bufferevent_free(c->bev);
	event_free(c->timer);
	free(c);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A BEP 10 message: length, 20, @ext, @dict, then @extra random bytes. */
static int lie_send_ext(struct lie_conn *c, uint8_t ext, const bt_buf *dict, size_t extra)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	uint8_t hdr[6], rnd[META_PIECE];
	put_be32(hdr, (uint32_t)(2 + dict->len + extra));
	hdr[4] = 20;
	hdr[5] = ext;
	rand_bytes(&c->s->rng, rnd, extra);
	if (evbuffer_add(out, hdr, 6) < 0 || evbuffer_add(out, dict->data, dict->len) < 0 ||
	    evbuffer_add(out, rnd, extra) < 0)
		return -1;
	return 0;
}

static int lie_handshake(struct lie_conn *c, const uint8_t *hs)
{
	static const char proto[] = "\x13"
	                            "BitTorrent protocol";
	if (memcmp(hs, proto, 20) != 0)
		return -1;
	int64_t j = torrent_by_ih(c->s, hs + 28);
	if (j < 0)
		return -1;
	c->torrent = (uint32_t)j;
	uint8_t reply[68] = {0};
	memcpy(reply, proto, 20);
	reply[20 + 5] = 0x10;
	memcpy(reply + 28, hs + 28, 20);
	memcpy(reply + 48, "-SM0001-", 8);
	rand_bytes(&c->s->rng, reply + 56, 12);
	if (bufferevent_write(c->bev, reply, sizeof(reply)) < 0)
		return -1;
	uint8_t mem[128];
	bt_buf d;
	bt_buf_init_fixed(&d, mem, sizeof(mem));
	bt_ben_enc e;
	bt_ben_enc_init(&e, &d);
	bt_ben_enc_dict(&e);
	bt_ben_enc_strz(&e, "m");
	bt_ben_enc_dict(&e);
	bt_ben_enc_strz(&e, "ut_metadata");
	bt_ben_enc_int(&e, 1);
	bt_ben_enc_end(&e);
	bt_ben_enc_strz(&e, "metadata_size");
	bt_ben_enc_int(&e, c->s->tor[j].metadata_size);
	bt_ben_enc_end(&e);
	if (bt_ben_enc_finish(&e) != 0)
		return -1;
	c->state = LIE_MESSAGES;
	return lie_send_ext(c, 0, &d, 0);
}

/* The client's extension handshake: learn its ut_metadata id. */
static int lie_ext_handshake(struct lie_conn *c, const uint8_t *p, size_t n)
{
	bt_ben_tok toks[256];
	bt_ben_doc doc;
	int64_t id;
	bt_ben_doc_init(&doc, toks, 256);
	if (bt_ben_decode(&doc, p, n, BT_BEN_LAX, NULL) < 0)
		return -1;
	int32_t m = bt_ben_dict_getz(&doc, 0, "m");
	if (bt_ben_dict_int(&doc, m, "ut_metadata", &id) == 0 && id > 0 && id < 256)
		c->client_ut = (uint8_t)id;
	return 0;
}

/* A ut_metadata request: answer it with random bytes of the right size. */
static int lie_request(struct lie_conn *c, const uint8_t *p, size_t n)
{
	bt_ben_tok toks[32];
	bt_ben_doc doc;
	int64_t type, piece;
	bt_ben_doc_init(&doc, toks, 32);
	if (bt_ben_decode(&doc, p, n, BT_BEN_LAX | BT_BEN_ALLOW_TRAILING, NULL) < 0 ||
	    bt_ben_dict_int(&doc, 0, "msg_type", &type) < 0 ||
	    bt_ben_dict_int(&doc, 0, "piece", &piece) < 0)
		return -1;
	uint32_t size = c->s->tor[c->torrent].metadata_size;
	if (type != 0)
		return 0;
	if (c->client_ut == 0 || piece < 0 || (uint64_t)piece * META_PIECE >= size)
		return -1;
	size_t len = size - (size_t)piece * META_PIECE;
	if (len > META_PIECE)
		len = META_PIECE;
	uint8_t mem[96];
	bt_buf d;
	bt_buf_init_fixed(&d, mem, sizeof(mem));
	bt_ben_enc e;
	bt_ben_enc_init(&e, &d);
	bt_ben_enc_dict(&e);
	bt_ben_enc_strz(&e, "msg_type");
	bt_ben_enc_int(&e, 1);
	bt_ben_enc_strz(&e, "piece");
	bt_ben_enc_int(&e, piece);
	bt_ben_enc_strz(&e, "total_size");
	bt_ben_enc_int(&e, size);
	bt_ben_enc_end(&e);
	if (bt_ben_enc_finish(&e) != 0)
		return -1;
	return lie_send_ext(c, c->client_ut, &d, len);
}

/* One whole message of @n bytes (after its length prefix). */
static int lie_message(struct lie_conn *c, const uint8_t *p, size_t n)
{
	if (n < 2 || p[0] != 20)
		return 0; /* not an extension message: ignore */
	if (p[1] == 0)
		return lie_ext_handshake(c, p + 2, n - 2);
	if (p[1] == 1)
		return lie_request(c, p + 2, n - 2);
	return 0;
}

/* Process what is buffered; -1 closes the connection. */
static int lie_input(struct lie_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	for (int rounds = 0; rounds < 64; rounds++) {
		size_t have = evbuffer_get_length(in);
		if (c->state == LIE_HANDSHAKE) {
			if (have < 68)
				return 0;
			uint8_t hs[68];
			evbuffer_remove(in, hs, sizeof(hs));
			if (lie_handshake(c, hs) < 0)
				return -1;
			continue;
		}
		if (have < 4)
			return 0;
		uint8_t *h = evbuffer_pullup(in, 4);
		uint32_t len =
		    (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
		if (len > LIE_MAX_MSG)
			return -1;
		if (have < 4 + (size_t)len)
			return 0;
		uint8_t *p = evbuffer_pullup(in, 4 + (ssize_t)len);
		int rc = len ? lie_message(c, p + 4, len) : 0;
		evbuffer_drain(in, 4 + (size_t)len);
		if (rc < 0)
			return -1;
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) > LIE_MAX_OUT)
			return -1;
	}
	return 0;
}

static void lie_read(struct bufferevent *bev, void *ud)
{
	(void)bev;
	struct lie_conn *c = ud;
	if (lie_input(c) < 0)
		lie_close(c);
}

static void lie_event(struct bufferevent *bev, short what, void *ud)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		lie_close(ud);
}

static void lie_timeout(evutil_socket_t fd, short ev, void *ud)
{
	(void)fd;
	(void)ev;
	lie_close(ud);
}

static void lie_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                       void *ud)
{
	(void)l;
	(void)sa;
	(void)len;
	struct sim *s = ud;
	struct lie_conn *c = NULL;
	if (s->nlie >= LIE_MAX_CONNS || !(c = calloc(1, sizeof(*c)))) {
		evutil_closesocket(fd);
		return;
	}
	c->s = s;
	c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(s->base, lie_timeout, c);
	if (!c->bev || !c->timer) {
		if (c->bev)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		if (c->timer)
			event_free(c->timer);
		free(c);
		return;
	}
	struct timeval tv = {LIE_CONN_SECS, 0};
	evtimer_add(c->timer, &tv);
	bufferevent_setcb(c->bev, lie_read, NULL, lie_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->next = s->lie_head;
	if (c->next)
		c->next->prev = c;
	s->lie_head = c;
	s->nlie++;
	s->c.lying_conns++;
}

static int open_liar_listener(struct sim *s)
{
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)(s->o.tcp_port + 1));
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	s->lie_lst = evconnlistener_new_bind(s->base, lie_accept, s,
	                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 512,
	                                     (struct sockaddr *)&sa, sizeof(sa));
	return s->lie_lst ? 0 : -1;
}

/* ---- Churn and passive traffic -------------------------------------------------------------- */

static uint32_t now_s(const struct sim *s)
{
	return (uint32_t)(since_ms(s) / 1000u) + 1u; /* never 0: 0 means online */
}

static void set_online(struct sim *s, uint32_t ni, bool online)
{
	struct node *nd = &s->nodes[ni];
	for (unsigned h = 0; h < nd->held_len; h++) {
		struct torrent *t = &s->tor[s->held[nd->held_off + h]];
		t->online_holders = (uint8_t)(t->online_holders + (online ? 1 : -1));
	}
	nd->offline_until = online ? 0 : now_s(s) + CHURN_DOWN;
}

/* Whether @ni may go offline: every torrent it holds keeps at least half its holders. */
static bool may_go_offline(const struct sim *s, uint32_t ni)
{
	const struct node *nd = &s->nodes[ni];
	if (nd->offline_until || (nd->flags & NF_BOOT))
		return false;
	for (unsigned h = 0; h < nd->held_len; h++) {
		const struct torrent *t = &s->tor[s->held[nd->held_off + h]];
		if (t->online_holders <= (t->nholders + 1) / 2)
			return false;
	}
	return true;
}

static void on_churn(evutil_socket_t fd, short ev, void *ud)
{
	(void)fd;
	(void)ev;
	struct sim *s = ud;
	uint32_t now = now_s(s);
	for (uint32_t i = 0; i < s->o.nodes; i++)
		if (s->nodes[i].offline_until && s->nodes[i].offline_until <= now)
			set_online(s, i, true);
	uint64_t want = (uint64_t)llround((double)s->o.nodes * s->o.churn / 6.0);
	for (uint64_t tries = 0, done = 0; done < want && tries < 4 * want; tries++) {
		uint32_t ni = (uint32_t)below(&s->rng, s->o.nodes);
		if (!may_go_offline(s, ni))
			continue;
		set_online(s, ni, false);
		done++;
	}
}

/* A get_peers from a random honest online node to a random remembered outside address. */
static void activity_one(struct sim *s)
{
	if (s->noutside == 0 || s->o.torrents == 0)
		return;
	uint32_t ni = 0;
	int tries;
	for (tries = 0; tries < 16; tries++) {
		ni = (uint32_t)below(&s->rng, s->o.nodes);
		if (!is_liar(s, ni) && !s->nodes[ni].offline_until)
			break;
	}
	if (tries == 16)
		return;
	uint64_t src = s->outside[below(&s->rng, s->noutside)];
	struct sockaddr_in to = {0};
	to.sin_family = AF_INET;
	to.sin_addr.s_addr = htonl((uint32_t)(src >> 16));
	to.sin_port = htons((uint16_t)(src & 0xffffu));
	uint8_t t[4] = {'a', 'c', (uint8_t)(s->act_tid >> 8), (uint8_t)s->act_tid};
	s->act_tid++;
	bt_dht__krpc_msg q;
	memset(&q, 0, sizeof(q));
	q.kind = BT_DHT__KRPC_QUERY;
	q.method = BT_DHT__KRPC_M_GET_PEERS;
	q.t = t;
	q.tlen = 4;
	q.v = (const uint8_t *)SIM_VERSION;
	q.vlen = 4;
	q.has_id = true;
	q.id = s->nodes[ni].id;
	q.has_info_hash = true;
	q.info_hash = s->tor[below(&s->rng, s->o.torrents)].ih;
	s->c.activity_sent++;
	send_msg(s, ni, &to, &q);
}

static void on_activity(evutil_socket_t fd, short ev, void *ud)
{
	(void)fd;
	(void)ev;
	struct sim *s = ud;
	s->act_carry += (double)s->o.activity / 10.0;
	unsigned n = (unsigned)s->act_carry;
	s->act_carry -= n;
	for (unsigned i = 0; i < n && i < MAX_QPS / 10; i++)
		activity_one(s);
}

static void on_progress(evutil_socket_t fd, short ev, void *ud)
{
	(void)fd;
	(void)ev;
	struct sim *s = ud;
	fprintf(stderr, "\rdht-sim: %llu q/s in, %llu queries, %llu replies   ",
	        (unsigned long long)(s->c.queries_total - s->last_total),
	        (unsigned long long)s->c.queries_total, (unsigned long long)s->c.replies);
	s->last_total = s->c.queries_total;
}

static void on_stop(evutil_socket_t fd, short ev, void *ud)
{
	(void)fd;
	(void)ev;
	event_base_loopbreak(((struct sim *)ud)->base);
}

/* ---- Manifest and stats --------------------------------------------------------------------- */

/* A JSON string of @p even if it is not valid UTF-8 (bad bytes become U+FFFD). */
static json_t *json_text(const char *p)
{
	json_t *j = json_string(p);
	if (j)
		return j;
	size_t n = strlen(p);
	char *fixed = malloc(3 * n + 1), *o = fixed;
	if (!fixed)
		return json_string("");
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch < 0x80) {
			*o++ = (char)ch;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
		}
	}
	*o = '\0';
	j = json_string(fixed);
	free(fixed);
	return j ? j : json_string("");
}

static json_t *json_addr(uint32_t ip, unsigned port)
{
	char buf[32];
	fmt_addr(buf, sizeof(buf), ip, port);
	return json_string(buf);
}

static json_t *manifest_node(const struct sim *s, uint32_t i)
{
	char hex[41];
	bt_id_to_hex(&s->nodes[i].id, hex);
	return json_pack("{s:o,s:s,s:b,s:b}", "addr", json_addr(node_ip(s, i), s->o.udp_port), "id",
	                 hex, "bep51", (s->nodes[i].flags & NF_BEP51) != 0, "liar",
	                 (s->nodes[i].flags & NF_LIAR) != 0);
}

static json_t *manifest_torrent(struct sim *s, uint32_t j)
{
	const struct torrent *tr = &s->tor[j];
	const bt_store_torrent *t = corpus_torrent(s->corp, j, NULL);
	char hex[41];
	bt_id_to_hex(&tr->ih, hex);
	json_t *files = json_array(), *holders = json_array(), *peers = json_array();
	for (size_t i = 0; t && i < t->num_files; i++) {
		if (t->files[i].flags & BT_STORE_FILE_PAD)
			continue;
		json_array_append_new(files,
		                      json_pack("{s:o,s:I}", "path", json_text(t->files[i].path),
		                                "length", (json_int_t)t->files[i].length));
	}
	for (unsigned h = 0; h < tr->nholders; h++)
		json_array_append_new(holders,
		                      json_addr(node_ip(s, tr->holders[h]), s->o.udp_port));
	for (unsigned k = 0; k < s->o.k; k++) {
		uint32_t p = j * (uint32_t)s->o.k + k;
		json_array_append_new(peers, json_addr(peer_ip(s, p), peer_port(s, p)));
	}
	return json_pack("{s:s,s:o,s:I,s:I,s:I,s:o,s:o,s:o}", "infohash", hex, "name",
	                 json_text(t ? t->name : ""), "total_length", (json_int_t)tr->total_length,
	                 "piece_length", (json_int_t)tr->piece_length, "metadata_size",
	                 (json_int_t)tr->metadata_size, "files", files, "holders", holders, "peers",
	                 peers);
}

/* Write one value and free it; -1 when it is NULL or the write fails. */
static int dump_value(FILE *f, json_t *v, bool comma)
{
	if (!v)
		return -1;
	int rc = (comma && fputc(',', f) == EOF) || json_dumpf(v, f, JSON_COMPACT) < 0 ? -1 : 0;
	json_decref(v);
	return rc;
}

static void bootstrap_list(struct sim *s, json_t *boot)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < s->o.nodes && n < K_CLOSEST; i++) {
		struct node *nd = &s->nodes[i];
		if (!(nd->flags & NF_BEP51) || (nd->flags & NF_LIAR) || nd->offline_until)
			continue;
		nd->flags |= NF_BOOT;
		json_array_append_new(boot, json_addr(node_ip(s, i), s->o.udp_port));
		n++;
	}
	if (n == 0 && s->o.nodes > 0) /* no honest BEP 51 node: any node will do */
		json_array_append_new(boot, json_addr(node_ip(s, 0), s->o.udp_port));
}

/* Streamed so that 10,000 torrents of thousands of files need no big JSON tree. */
static int write_manifest_to(struct sim *s, FILE *f, json_t *boot)
{
	int rc = fprintf(f,
	                 "{\"version\":1,\"seed\":%llu,\"udp_port\":%u,\"tcp_port\":%u,"
	                 "\"bootstrap\":",
	                 (unsigned long long)s->o.seed, s->o.udp_port, s->o.tcp_port) < 0;
	rc |= json_dumpf(boot, f, JSON_COMPACT) < 0;
	rc |= fputs(",\"nodes\":[", f) == EOF;
	for (uint32_t i = 0; i < s->o.nodes && !rc; i++)
		rc |= dump_value(f, manifest_node(s, i), i > 0) < 0;
	rc |= fputs("],\"torrents\":[", f) == EOF;
	for (uint32_t j = 0; j < s->o.torrents && !rc; j++)
		rc |= dump_value(f, manifest_torrent(s, j), j > 0) < 0;
	rc |= fputs("]}\n", f) == EOF;
	return rc ? -1 : 0;
}

static int write_manifest(struct sim *s, json_t *boot)
{
	const char *path = s->o.manifest;
	size_t n = strlen(path) + 5;
	char *tmp = malloc(n);
	if (!tmp)
		return -1;
	snprintf(tmp, n, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	int rc = f ? write_manifest_to(s, f, boot) : -1;
	if (f && fclose(f) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -1;
	if (rc != 0) {
		fprintf(stderr, "dht-sim: %s: cannot write the manifest: %s\n", path,
		        strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

static int write_stats(struct sim *s)
{
	bt_meta_stats ms;
	memset(&ms, 0, sizeof(ms));
	bt_meta_get_stats(s->meta, &ms);
	const struct counters *c = &s->c;
	json_t *q = json_pack(
	    "{s:I,s:I,s:I,s:I,s:I,s:I}", "ping", (json_int_t)c->queries_in[Q_PING], "find_node",
	    (json_int_t)c->queries_in[Q_FIND_NODE], "get_peers",
	    (json_int_t)c->queries_in[Q_GET_PEERS], "announce_peer",
	    (json_int_t)c->queries_in[Q_ANNOUNCE], "sample_infohashes",
	    (json_int_t)c->queries_in[Q_SAMPLE], "other", (json_int_t)c->queries_in[Q_OTHER]);
	json_t *o = json_pack(
	    "{s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}",
	    "queries_in", q, "queries_total", (json_int_t)c->queries_total, "max_qps_1s",
	    (json_int_t)c->max_qps_1s, "max_node_queries_10s", (json_int_t)c->max_node_10s,
	    "outside_sources", (json_int_t)c->outside_sources, "replies", (json_int_t)c->replies,
	    "dropped_loss", (json_int_t)c->dropped_loss, "dropped_offline",
	    (json_int_t)c->dropped_offline, "dropped_noaddr", (json_int_t)c->dropped_noaddr,
	    "dropped_queue", (json_int_t)c->dropped_queue, "malformed", (json_int_t)c->malformed,
	    "send_errors", (json_int_t)c->send_errors, "meta_served",
	    (json_int_t)ms.served_complete, "meta_pieces", (json_int_t)ms.served_pieces,
	    "lying_peer_conns", (json_int_t)c->lying_conns, "activity_sent",
	    (json_int_t)c->activity_sent, "activity_replies", (json_int_t)c->activity_replies,
	    "duration_s", (double)since_ms(s) / 1000.0);
	if (!o)
		return -1;
	FILE *f = s->o.stats ? fopen(s->o.stats, "w") : stderr;
	int rc = f ? json_dumpf(o, f, JSON_COMPACT | JSON_REAL_PRECISION(6)) : -1;
	if (f && fputc('\n', f) == EOF)
		rc = -1;
	if (f && f != stderr && fclose(f) != 0)
		rc = -1;
	json_decref(o);
	if (rc < 0)
		fprintf(stderr, "dht-sim: %s: cannot write the stats\n",
		        s->o.stats ? s->o.stats : "stderr");
	return rc;
}

/* ---- Set-up and tear-down ------------------------------------------------------------------- */

static int open_meta(struct sim *s)
{
	bt_meta_options mo = BT_META_OPTIONS_INIT;
	mo.base = s->base;
	mo.client_name = "dht-sim";
	mo.max_connections = 4096;
	mo.max_per_ip = 4096;
	mo.max_metadata_size = 64u << 20;
	if (bt_meta_new(&s->meta, &mo) != 0)
		return -1;
	return 0;
}

static int listen_meta(struct sim *s)
{
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)s->o.tcp_port);
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	int rc = bt_meta_listen(s->meta, (struct sockaddr *)&sa, sizeof(sa), NULL);
	if (rc != 0)
		fprintf(stderr, "dht-sim: cannot listen on TCP port %u: %s\n", s->o.tcp_port,
		        bt_meta_strerror(rc));
	return rc ? -1 : 0;
}

static struct event *add_timer(struct sim *s, event_callback_fn cb, unsigned ms, bool persist)
{
	struct event *ev = event_new(s->base, -1, persist ? EV_PERSIST : 0, cb, s);
	struct timeval tv = {(time_t)(ms / 1000u), (suseconds_t)(ms % 1000u) * 1000};
	if (ev && event_add(ev, &tv) < 0) {
		event_free(ev);
		ev = NULL;
	}
	return ev;
}

/* Signals (ignored first, so that a second one during clean-up is harmless), timers, the
 * socket's event. */
static int add_events(struct sim *s)
{
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	s->sigint_ev = evsignal_new(s->base, SIGINT, on_stop, s);
	s->sigterm_ev = evsignal_new(s->base, SIGTERM, on_stop, s);
	s->udp_ev = event_new(s->base, s->udp, EV_READ | EV_PERSIST, on_udp, s);
	s->lat_ev = evtimer_new(s->base, on_latency, s);
	if (!s->sigint_ev || !s->sigterm_ev || !s->udp_ev || !s->lat_ev ||
	    evsignal_add(s->sigint_ev, NULL) < 0 || evsignal_add(s->sigterm_ev, NULL) < 0 ||
	    event_add(s->udp_ev, NULL) < 0)
		return -1;
	if (s->o.duration &&
	    !(s->dur_ev = add_timer(s, on_stop, (unsigned)s->o.duration * 1000u, false)))
		return -1;
	if (s->o.churn > 0 && !(s->churn_ev = add_timer(s, on_churn, CHURN_TICK * 1000u, true)))
		return -1;
	if (s->o.activity && !(s->act_ev = add_timer(s, on_activity, 100, true)))
		return -1;
	if (!s->o.quiet && isatty(2) && !(s->prog_ev = add_timer(s, on_progress, 1000, true)))
		return -1;
	return 0;
}

static void free_event(struct event *ev)
{
	if (ev)
		event_free(ev);
}

static void sim_free(struct sim *s)
{
	while (s->lie_head)
		lie_close(s->lie_head);
	if (s->lie_lst)
		evconnlistener_free(s->lie_lst);
	bt_meta_free(s->meta);
	while (s->nlat > 0)
		lat_pop(s);
	free(s->lat);
	struct event *evs[] = {s->udp_ev,  s->sigint_ev, s->sigterm_ev, s->dur_ev,
	                       s->prog_ev, s->churn_ev,  s->act_ev,     s->lat_ev};
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		free_event(evs[i]);
	if (s->udp >= 0)
		close(s->udp);
	for (uint64_t i = 0; s->nodes && i < s->o.nodes; i++)
		free(s->nodes[i].ann);
	free(s->nodes);
	free(s->sorted);
	free(s->rt);
	free(s->held);
	free(s->tor);
	free(s->by_ih);
	free(s->peer_lies);
	free(s->src_set);
	corpus_free(s->corp);
	if (s->base)
		event_base_free(s->base);
}

static void set_ranges(struct sim *s)
{
	const struct opts *o = &s->o;
	s->net_start = (uint32_t)o->net_a << 24 | (uint32_t)o->net_b << 16;
	s->peer_start = (uint32_t)o->peer_a << 24 | (uint32_t)o->peer_b << 16;
	uint64_t np = o->torrents * o->k;
	s->net_end = s->net_start + (uint32_t)((o->nodes + DEAD_ADDRS + 253) / 254 * 256);
	s->peer_end = s->peer_start + (uint32_t)((np + 253) / 254 * 256);
}

/* Everything up to the manifest; returns 0 or an exit code. */
static int sim_start(struct sim *s)
{
	set_ranges(s);
	s->rng = stream(s->o.seed, 5, 0);
	s->tok_key = stream(s->o.seed, 6, 0);
	s->start_us = now_us();
	s->base = event_base_new();
	s->src_set = calloc(SRC_SET, sizeof(*s->src_set));
	s->lat = malloc(LAT_QUEUE * sizeof(*s->lat));
	if (!s->base || !s->src_set || !s->lat)
		goto nomem;
	if (open_udp(s) < 0) {
		fprintf(stderr, "dht-sim: cannot bind UDP 0.0.0.0:%u: %s\n", s->o.udp_port,
		        strerror(errno));
		return EXIT_RUNTIME;
	}
	if (open_meta(s) < 0 || listen_meta(s) < 0)
		return EXIT_RUNTIME;
	if (s->o.lying_peers > 0 && open_liar_listener(s) < 0) {
		fprintf(stderr, "dht-sim: cannot listen on TCP port %u: %s\n", s->o.tcp_port + 1,
		        strerror(errno));
		return EXIT_RUNTIME;
	}
	if (make_ids(s) < 0 || make_tables(s) < 0)
		goto nomem;
	if (make_torrents(s) < 0)
		return EXIT_RUNTIME;
	if (add_events(s) < 0)
		goto nomem;
	return 0;
nomem:
	fputs("dht-sim: out of memory\n", stderr);
	return EXIT_RUNTIME;
}

/* The bootstrap list, the manifest, the "ready" line. */
static int sim_ready(struct sim *s)
{
	json_t *boot = json_array();
	if (!boot)
		return EXIT_RUNTIME;
	bootstrap_list(s, boot);
	int rc = s->o.manifest ? write_manifest(s, boot) : 0;
	if (rc == 0 && !s->o.quiet) {
		const char *first = json_string_value(json_array_get(boot, 0));
		fprintf(stderr, "dht-sim: ready: %lu nodes, %lu torrents, bootstrap %s\n",
		        s->o.nodes, s->o.torrents, first ? first : "-");
	}
	json_decref(boot);
	return rc ? EXIT_RUNTIME : 0;
}

int main(int argc, char **argv)
{
	static struct sim sim;
	struct sim *s = &sim;
	s->udp = -1;
	int rc = parse_args(&s->o, argc, argv);
	if (rc)
		return rc - 1;
	if (!s->o.quiet)
		fprintf(stderr, "dht-sim: starting %lu nodes, %lu torrents on UDP %u, TCP %u\n",
		        s->o.nodes, s->o.torrents, s->o.udp_port, s->o.tcp_port);
	rc = sim_start(s);
	if (rc == 0)
		rc = sim_ready(s);
	if (rc == 0) {
		event_base_dispatch(s->base);
		if (s->prog_ev)
			fputc('\n', stderr);
		rc = write_stats(s) < 0 ? EXIT_RUNTIME : 0;
	}
	sim_free(s);
	return rc;
}
