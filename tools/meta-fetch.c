/*
 * meta-fetch - fetch torrents' metadata from their peers, and serve metadata, on libbtmeta.
 *
 *   meta-fetch [options] INFOHASH HOST:PORT...   one torrent from these peers
 *   meta-fetch [options] < lines                 many: NDJSON lines with "infohash" and "peer"
 *                                                or "peers" (what dht-crawl node prints)
 *   meta-fetch --serve FILE.torrent --listen HOST:PORT [--serve-time S]
 *
 * One JSON line per torrent on stdout; progress and diagnostics on stderr.  The tool parses
 * options and input, calls the library and prints: everything else is libbtmeta's.
 * Exit codes: 0 every torrent fetched (or serving ended); 1 some failed or the run was
 * interrupted; 2 usage error; 3 run-time error (cannot listen, unreadable torrent, no memory).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <jansson.h>
#include <netinet/in.h>

#include "btmeta.h"

#define EXIT_PARTIAL 1
#define EXIT_USAGE 2
#define EXIT_RUNTIME 3
#define MAX_LINE 65536
#define MAX_SERVE 1024
#define MAX_LISTEN 8

/* An infohash we submitted and whose result has not come yet. */
struct pending {
	uint8_t ih[32];
	size_t len;
	bool has_peer;
	bool eof_cancel; /* cancelled at end of input because no peer was ever given */
	struct pending *next;
};

struct run {
	struct event_base *base;
	bt_meta *meta;
	const char *torrent_dir;
	bool progress, quiet, stats, serving, reading;
	unsigned long ok, failed, bad_lines, refused;
	struct pending **tab;
	size_t tab_size, npending;
	struct event *stdin_ev, *progress_ev, *stop_ev;
	char *line;
	size_t line_len;
	bool interrupted;
};

static void usage(FILE *f)
{
	fputs("usage: meta-fetch [options] INFOHASH HOST:PORT...\n"
	      "       meta-fetch [options] < NDJSON\n"
	      "       meta-fetch --serve FILE.torrent... --listen HOST:PORT [--serve-time S]\n"
	      "       meta-fetch --help | --version\n"
	      "\n"
	      "  -t, --torrent-dir DIR  write DIR/<infohash>.torrent for each torrent fetched\n"
	      "  --timeout S            give up on a torrent after S seconds (default 60)\n"
	      "  --peer-timeout S       give up on one peer after S seconds (default 30)\n"
	      "  --connect-timeout S    TCP connect timeout (default 5)\n"
	      "  -c, --connections N    open connections at most (default 1000)\n"
	      "  --per-ip N             connections per IP address (default 4)\n"
	      "  -p, --peers-per-job N  peers of one torrent tried at once (default 3)\n"
	      "  --active N             torrents fetched at once (default 500)\n"
	      "  --max-size BYTES       refuse larger metadata (default 10485760)\n"
	      "  --serve FILE.torrent   serve this torrent's metadata (repeatable)\n"
	      "  --listen HOST:PORT     accept peer connections here (repeatable)\n"
	      "  --serve-time S         with --serve: stop after S seconds (default: at a signal)\n"
	      "  --stdin                read NDJSON from stdin even with --serve\n"
	      "  --stats                print the library's counters to stderr at the end\n"
	      "  -q, --quiet            no progress line, no warnings about bad input\n"
	      "  -v, --verbose          log the library's messages to stderr\n",
	      f);
}

/* ---- small helpers ---- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 40 or 64 hex digits into @out; returns the byte length or -1. */
static int parse_infohash(const char *s, uint8_t out[32])
{
	size_t n = strlen(s);
	if (n != 40 && n != 64)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int h = hexval(s[2 * i]), l = hexval(s[2 * i + 1]);
		if (h < 0 || l < 0)
			return -1;
		out[i] = (uint8_t)(h << 4 | l);
	}
	return (int)(n / 2);
}

static void to_hex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = 0;
}

/* A numeric "IPv4:port" or "[IPv6]:port"; names are not resolved.  Port 0 only with
 * @any_port.  0 or -1. */
static int parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len, bool any_port)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = 0;
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host) ||
		    memchr(s, ':', (size_t)(colon - s)))
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = 0;
	}
	char *end;
	errno = 0;
	long port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < (any_port ? 0 : 1) || port > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 0;
	}
	return -1;
}

static const char *addr_str(const struct sockaddr *sa, char *buf, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, n, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(buf, n, "%s:%u", ip, ntohs(s4->sin_port));
	}
	return buf;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || s[0] == '-' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* ---- the set of pending infohashes ---- */

static size_t slot(const struct run *r, const uint8_t *ih, size_t len)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ ih[i]) * 1099511628211ull;
	return (size_t)(h & (r->tab_size - 1));
}

static struct pending *pending_find(struct run *r, const uint8_t *ih, size_t len,
                                    struct pending ***where)
{
	struct pending **pp = &r->tab[slot(r, ih, len)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->len == len && memcmp((*pp)->ih, ih, len) == 0)
			break;
	if (where)
		*where = pp;
	return *pp;
}

static void maybe_finish(struct run *r)
{
	if (!r->reading && r->npending == 0 && !r->serving)
		event_base_loopexit(r->base, NULL);
}

/* ---- output ---- */

static int write_torrent(struct run *r, const bt_meta_info *info, const char *hex, char *path,
                         size_t pathlen)
{
	uint8_t *data;
	size_t len;
	if (bt_meta_info_to_torrent(info, "meta-fetch/" PACKAGE_VERSION, (int64_t)time(NULL), &data,
	                            &len) < 0)
		return -1;
	char tmp[PATH_MAX];
	snprintf(path, pathlen, "%s/%s.torrent", r->torrent_dir, hex);
	snprintf(tmp, sizeof(tmp), "%s/.%s.torrent.tmp", r->torrent_dir, hex);
	FILE *f = fopen(tmp, "wb");
	int ok = f && fwrite(data, 1, len, f) == len;
	if (f && fclose(f) != 0)
		ok = 0;
	free(data);
	if (!ok || rename(tmp, path) < 0) {
		if (!r->quiet)
			fprintf(stderr, "meta-fetch: %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static json_t *info_json(const bt_meta_info *info)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(info->name));
	if (!info->name_is_utf8) {
		char *hex = malloc(info->name_raw_len * 2 + 1);
		if (hex) {
			to_hex(info->name_raw, info->name_raw_len, hex);
			json_object_set_new(o, "name_hex", json_string(hex));
			free(hex);
		}
	}
	json_object_set_new(o, "length", json_integer((json_int_t)info->total_length));
	json_object_set_new(o, "piece_length", json_integer((json_int_t)info->piece_length));
	json_object_set_new(o, "pieces", json_integer((json_int_t)info->num_pieces));
	json_object_set_new(o, "private", json_boolean(info->is_private));
	json_t *v = json_array();
	if (info->versions & BT_META_V1)
		json_array_append_new(v, json_integer(1));
	if (info->versions & BT_META_V2)
		json_array_append_new(v, json_integer(2));
	json_object_set_new(o, "versions", v);
	json_t *files = json_array();
	for (size_t i = 0; i < info->num_files; i++) {
		const bt_meta_file *f = &info->files[i];
		json_t *fo = json_object();
		json_object_set_new(fo, "path", json_string(f->path));
		json_object_set_new(fo, "length", json_integer((json_int_t)f->length));
		if (f->flags & BT_META_FILE_PAD)
			json_object_set_new(fo, "pad", json_true());
		json_array_append_new(files, fo);
	}
	json_object_set_new(o, "files", files);
	json_object_set_new(o, "metadata_size", json_integer((json_int_t)info->raw_len));
	return o;
}

static void on_result(const bt_meta_result *res, void *ud)
{
	struct run *r = ud;
	char hex[65], pbuf[64];
	struct pending **where;
	struct pending *p = pending_find(r, res->infohash, res->infohash_len, &where);

	to_hex(res->infohash, res->infohash_len, hex);
	json_t *o;
	if (res->status == 0) {
		o = info_json(res->info);
		r->ok++;
	} else {
		o = json_object();
		r->failed++;
	}
	json_object_set_new(o, "infohash", json_string(hex));
	json_object_set_new(o, "status", json_string(res->status == 0 ? "ok" : "error"));
	if (res->status != 0) {
		const char *why =
		    p && p->eof_cancel ? "no peer known" : bt_meta_strerror(res->status);
		json_object_set_new(o, "error", json_string(why));
	}
	if (res->peer)
		json_object_set_new(o, "peer",
		                    json_string(addr_str(res->peer, pbuf, sizeof(pbuf))));
	json_object_set_new(o, "fetch_ms", json_integer(res->elapsed_ms));
	json_object_set_new(o, "peers_tried", json_integer(res->peers_tried));
	json_object_set_new(o, "peers_known", json_integer(res->peers_known));
	if (res->status == 0 && r->torrent_dir) {
		char path[PATH_MAX];
		if (write_torrent(r, res->info, hex, path, sizeof(path)) == 0)
			json_object_set_new(o, "torrent", json_string(path));
	}
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (s) {
		puts(s);
		fflush(stdout);
		free(s);
	}
	json_decref(o);
	if (p) {
		*where = p->next;
		free(p);
		r->npending--;
	}
	maybe_finish(r);
}

/* ---- input ---- */

static void submit(struct run *r, const uint8_t *ih, size_t len, const char *peer)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	if (peer && parse_hostport(peer, &ss, &sl, false) < 0) {
		r->bad_lines++;
		if (!r->quiet)
			fprintf(stderr, "meta-fetch: not a numeric HOST:PORT: %s\n", peer);
		return;
	}
	struct pending **where;
	struct pending *p = pending_find(r, ih, len, &where);
	int e = bt_meta_submit(r->meta, ih, len, peer ? (struct sockaddr *)&ss : NULL, sl);
	if (e < 0) {
		r->refused++;
		if (!r->quiet && e != BT_META_E_LIMIT)
			fprintf(stderr, "meta-fetch: %s\n", bt_meta_strerror(e));
		return;
	}
	if (!p && (p = calloc(1, sizeof(*p)))) {
		memcpy(p->ih, ih, len);
		p->len = len;
		*where = p;
		r->npending++;
	}
	if (p && peer)
		p->has_peer = true;
}

static void handle_line(struct run *r, const char *line)
{
	json_error_t err;
	json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &err);
	uint8_t ih[32];
	int ihlen;
	json_t *jih = json_object_get(o, "infohash");
	if (json_is_object(o) && !jih) {
		json_decref(o); /* another kind of line (dht-crawl's "node", "stats"...) */
		return;
	}
	const char *ihs = json_string_value(jih);
	if (!json_is_object(o) || !ihs || (ihlen = parse_infohash(ihs, ih)) < 0) {
		r->bad_lines++;
		if (!r->quiet && r->bad_lines <= 10)
			fprintf(stderr, "meta-fetch: input line %s ignored: %s\n",
			        o ? "with a bad \"infohash\"" : "that is not JSON",
			        o ? "want 40 or 64 hex digits" : err.text);
		json_decref(o);
		return;
	}
	const char *peer = json_string_value(json_object_get(o, "peer"));
	json_t *peers = json_object_get(o, "peers");
	bool any = false;
	if (peer) {
		submit(r, ih, (size_t)ihlen, peer);
		any = true;
	}
	size_t i;
	json_t *v;
	json_array_foreach(peers, i, v)
	{
		if (json_is_string(v)) {
			submit(r, ih, (size_t)ihlen, json_string_value(v));
			any = true;
		}
	}
	if (!any)
		submit(r, ih, (size_t)ihlen, NULL); /* seen: raises its priority */
	json_decref(o);
}

static void end_of_input(struct run *r)
{
	r->reading = false;
	if (r->stdin_ev)
		event_del(r->stdin_ev);
	/* Torrents nobody gave a peer for would wait for one forever. */
	for (size_t i = 0; i < r->tab_size; i++) {
		for (struct pending *p = r->tab[i]; p; p = p->next) {
			if (!p->has_peer) {
				p->eof_cancel = true;
				bt_meta_cancel(r->meta, p->ih, p->len);
			}
		}
	}
	maybe_finish(r);
}

static void stdin_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	char buf[16384];
	(void)what;
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (r->line_len > 0 && r->line_len <= MAX_LINE) {
			r->line[r->line_len] = 0;
			handle_line(r, r->line);
		}
		r->line_len = 0;
		end_of_input(r);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (r->line_len < MAX_LINE)
				r->line[r->line_len] = buf[i];
			if (r->line_len <= MAX_LINE)
				r->line_len++; /* MAX_LINE + 1 marks a line too long */
			continue;
		}
		if (r->line_len > MAX_LINE) {
			r->bad_lines++;
			if (!r->quiet)
				fprintf(stderr,
				        "meta-fetch: input line longer than %d bytes ignored\n",
				        MAX_LINE);
		} else if (r->line_len > 0) {
			r->line[r->line_len] = 0;
			handle_line(r, r->line);
		}
		r->line_len = 0;
	}
}

/* ---- progress, signals ---- */

static void progress_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	bt_meta_stats st;
	(void)fd;
	(void)what;
	bt_meta_get_stats(r->meta, &st);
	fprintf(stderr,
	        "\rmeta-fetch: %lu ok, %lu failed, %llu running, %llu queued, %llu connections   ",
	        r->ok, r->failed, (unsigned long long)st.jobs_active,
	        (unsigned long long)st.jobs_queued, (unsigned long long)st.conns_open);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	(void)what;
	if (fd >= 0)
		r->interrupted = true;
	event_base_loopexit(r->base, NULL);
}

static void log_cb(int level, const char *msg, void *ud)
{
	(void)ud;
	static const char *names[] = {"error", "warning", "info", "debug"};
	fprintf(stderr, "meta-fetch: %s: %s\n", names[level & 3], msg);
}

static void print_stats(const bt_meta *m)
{
	bt_meta_stats s;
	bt_meta_get_stats(m, &s);
	fprintf(stderr,
	        "{\"jobs_done\":%llu,\"jobs_failed\":%llu,\"jobs_cancelled\":%llu,"
	        "\"jobs_dropped\":%llu,\"conns_out\":%llu,\"conns_in\":%llu,\"conns_peak\":%llu,"
	        "\"fetches_ok\":%llu,\"fail_connect\":%llu,\"fail_protocol\":%llu,"
	        "\"fail_noext\":%llu,\"fail_reject\":%llu,\"fail_size\":%llu,\"fail_hash\":%llu,"
	        "\"fail_closed\":%llu,\"fail_slow\":%llu,\"fail_memory\":%llu,"
	        "\"cancelled_conns\":%llu,\"peers_banned\":%llu,\"bytes_in\":%llu,"
	        "\"bytes_out\":%llu,\"served_pieces\":%llu,\"served_rejects\":%llu,"
	        "\"served_complete\":%llu}\n",
	        (unsigned long long)s.jobs_done, (unsigned long long)s.jobs_failed,
	        (unsigned long long)s.jobs_cancelled, (unsigned long long)s.jobs_dropped,
	        (unsigned long long)s.conns_out, (unsigned long long)s.conns_in,
	        (unsigned long long)s.conns_peak, (unsigned long long)s.fetches_ok,
	        (unsigned long long)s.fail_connect, (unsigned long long)s.fail_protocol,
	        (unsigned long long)s.fail_noext, (unsigned long long)s.fail_reject,
	        (unsigned long long)s.fail_size, (unsigned long long)s.fail_hash,
	        (unsigned long long)s.fail_closed, (unsigned long long)s.fail_slow,
	        (unsigned long long)s.fail_memory, (unsigned long long)s.cancelled_conns,
	        (unsigned long long)s.peers_banned, (unsigned long long)s.bytes_in,
	        (unsigned long long)s.bytes_out, (unsigned long long)s.served_pieces,
	        (unsigned long long)s.served_rejects, (unsigned long long)s.served_complete);
}

static int load_torrent(bt_meta *m, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "meta-fetch: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 1 << 16, len = 0;
	uint8_t *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap && cap < (64u << 20)) {
			uint8_t *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		} else if (len == cap) {
			break; /* 64 MiB: no torrent file is that big */
		}
	}
	fclose(f);
	bt_meta_info *info = NULL;
	int e = buf ? bt_meta_info_from_torrent(&info, buf, len) : BT_META_E_NOMEM;
	free(buf);
	if (e == 0)
		e = bt_meta_serve_add(m, info->raw, info->raw_len);
	if (e < 0 && e != BT_META_E_EXISTS) {
		fprintf(stderr, "meta-fetch: %s: %s\n", path, bt_meta_strerror(e));
		bt_meta_info_free(info);
		return -1;
	}
	bt_meta_info_free(info);
	return 0;
}

int main(int argc, char **argv)
{
	enum {
		O_TIMEOUT = 256,
		O_PEER_TIMEOUT,
		O_CONNECT_TIMEOUT,
		O_PER_IP,
		O_ACTIVE,
		O_MAX_SIZE,
		O_SERVE,
		O_LISTEN,
		O_SERVE_TIME,
		O_STDIN,
		O_STATS,
		O_VERSION
	};
	static const struct option longopts[] = {
	    {"torrent-dir", required_argument, NULL, 't'},
	    {"timeout", required_argument, NULL, O_TIMEOUT},
	    {"peer-timeout", required_argument, NULL, O_PEER_TIMEOUT},
	    {"connect-timeout", required_argument, NULL, O_CONNECT_TIMEOUT},
	    {"connections", required_argument, NULL, 'c'},
	    {"per-ip", required_argument, NULL, O_PER_IP},
	    {"peers-per-job", required_argument, NULL, 'p'},
	    {"active", required_argument, NULL, O_ACTIVE},
	    {"max-size", required_argument, NULL, O_MAX_SIZE},
	    {"serve", required_argument, NULL, O_SERVE},
	    {"listen", required_argument, NULL, O_LISTEN},
	    {"serve-time", required_argument, NULL, O_SERVE_TIME},
	    {"stdin", no_argument, NULL, O_STDIN},
	    {"stats", no_argument, NULL, O_STATS},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, O_VERSION},
	    {NULL, 0, NULL, 0},
	};
	bt_meta_options o = BT_META_OPTIONS_INIT;
	struct run r;
	struct event *sigint = NULL, *sigterm = NULL;
	const char *serve[MAX_SERVE], *listen_on[MAX_LISTEN];
	int nserve = 0, nlisten = 0, c, verbose = 0;
	unsigned long v, serve_time = 0;
	bool force_stdin = false;

	memset(&r, 0, sizeof(r));
	while ((c = getopt_long(argc, argv, "t:c:p:qvh", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			r.torrent_dir = optarg;
			break;
		case 'q':
			r.quiet = true;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case O_VERSION:
			printf("meta-fetch %s (libbtmeta %s)\n", PACKAGE_VERSION,
			       bt_meta_version());
			return 0;
		case O_STDIN:
			force_stdin = true;
			break;
		case O_STATS:
			r.stats = true;
			break;
		case O_SERVE:
			if (nserve == MAX_SERVE) {
				fprintf(stderr, "meta-fetch: at most %d --serve\n", MAX_SERVE);
				return EXIT_USAGE;
			}
			serve[nserve++] = optarg;
			break;
		case O_LISTEN:
			if (nlisten == MAX_LISTEN) {
				fprintf(stderr, "meta-fetch: at most %d --listen\n", MAX_LISTEN);
				return EXIT_USAGE;
			}
			listen_on[nlisten++] = optarg;
			break;
		default: {
			unsigned long max = c == O_MAX_SIZE ? 64ul << 20
			                    : c == 'c'      ? 1000000
			                                    : 86400;
			if (c == '?' || parse_uint(optarg, max, &v) < 0 ||
			    (v == 0 && c != O_SERVE_TIME)) {
				if (c != '?')
					fprintf(stderr, "meta-fetch: bad value for an option: %s\n",
					        optarg);
				usage(stderr);
				return EXIT_USAGE;
			}
			switch (c) {
			case O_TIMEOUT:
				o.job_timeout_ms = (unsigned)v * 1000;
				break;
			case O_PEER_TIMEOUT:
				o.peer_timeout_ms = (unsigned)v * 1000;
				break;
			case O_CONNECT_TIMEOUT:
				o.connect_timeout_ms = (unsigned)v * 1000;
				break;
			case 'c':
				o.max_connections = (unsigned)v;
				break;
			case O_PER_IP:
				o.max_per_ip = (unsigned)v;
				break;
			case 'p':
				o.peers_per_job = (unsigned)v;
				break;
			case O_ACTIVE:
				o.max_active = (unsigned)v;
				break;
			case O_MAX_SIZE:
				o.max_metadata_size = v;
				break;
			case O_SERVE_TIME:
				serve_time = v;
				break;
			default:
				usage(stderr);
				return EXIT_USAGE;
			}
		}
		}
	}
	int npos = argc - optind;
	uint8_t ih[32];
	int ihlen = -1;
	if (npos == 1) {
		fprintf(stderr, "meta-fetch: give an infohash and at least one HOST:PORT\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (npos >= 2 && (ihlen = parse_infohash(argv[optind], ih)) < 0) {
		fprintf(stderr, "meta-fetch: not an infohash (40 or 64 hex digits): %s\n",
		        argv[optind]);
		return EXIT_USAGE;
	}
	for (int i = optind + 1; i < argc; i++) {
		struct sockaddr_storage ss;
		socklen_t sl;
		if (parse_hostport(argv[i], &ss, &sl, false) < 0) {
			fprintf(stderr, "meta-fetch: not a numeric HOST:PORT: %s\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (nserve > 0 && nlisten == 0) {
		fprintf(stderr, "meta-fetch: --serve needs --listen\n");
		return EXIT_USAGE;
	}
	if (r.torrent_dir) {
		struct stat sb;
		if (stat(r.torrent_dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
			fprintf(stderr, "meta-fetch: %s: not a directory\n", r.torrent_dir);
			return EXIT_USAGE;
		}
	}
	signal(SIGPIPE, SIG_IGN);

	int rc = EXIT_RUNTIME;
	r.tab_size = 4096;
	r.tab = calloc(r.tab_size, sizeof(*r.tab));
	r.line = malloc(MAX_LINE + 1);
	r.base = event_base_new();
	if (!r.tab || !r.line || !r.base) {
		fprintf(stderr, "meta-fetch: out of memory\n");
		goto out;
	}
	o.base = r.base;
	o.on_result = on_result;
	o.log = verbose ? log_cb : NULL;
	o.cb_ud = &r;
	int e = bt_meta_new(&r.meta, &o);
	if (e < 0) {
		fprintf(stderr, "meta-fetch: %s\n", bt_meta_strerror(e));
		goto out;
	}
	/* Before "listening" is printed: whoever waits for that line may signal us at once.
	 * Ignored first, so that freeing these events at the end restores "ignore", not the
	 * default: timeout(1) sends SIGTERM to the child and then to the whole group, and a
	 * second signal arriving during cleanup must not kill us with our work done. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	sigint = evsignal_new(r.base, SIGINT, stop_cb, &r);
	sigterm = evsignal_new(r.base, SIGTERM, stop_cb, &r);
	if (sigint)
		event_add(sigint, NULL);
	if (sigterm)
		event_add(sigterm, NULL);
	for (int i = 0; i < nserve; i++)
		if (load_torrent(r.meta, serve[i]) < 0)
			goto out;
	for (int i = 0; i < nlisten; i++) {
		struct sockaddr_storage ss, bound;
		socklen_t sl;
		char buf[64];
		if (parse_hostport(listen_on[i], &ss, &sl, true) < 0) {
			fprintf(stderr, "meta-fetch: not a numeric HOST:PORT: %s\n", listen_on[i]);
			rc = EXIT_USAGE;
			goto out;
		}
		if ((e = bt_meta_listen(r.meta, (struct sockaddr *)&ss, sl, &bound)) < 0) {
			fprintf(stderr, "meta-fetch: listen on %s: %s\n", listen_on[i],
			        bt_meta_strerror(e));
			goto out;
		}
		fprintf(stderr, "meta-fetch: listening on %s\n",
		        addr_str((struct sockaddr *)&bound, buf, sizeof(buf)));
	}
	r.serving = nserve > 0 || nlisten > 0;

	if (ihlen > 0) {
		for (int i = optind + 1; i < argc; i++)
			submit(&r, ih, (size_t)ihlen, argv[i]);
	} else if (!r.serving || force_stdin) {
		r.reading = true;
		fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
		r.stdin_ev = event_new(r.base, 0, EV_READ | EV_PERSIST, stdin_cb, &r);
		if (!r.stdin_ev || event_add(r.stdin_ev, NULL) < 0) {
			/* A regular file or /dev/null cannot be polled: read it all now. */
			if (r.stdin_ev)
				event_free(r.stdin_ev);
			r.stdin_ev = NULL;
			while (r.reading)
				stdin_cb(0, EV_READ, &r);
		}
	}

	if (serve_time > 0 && r.serving) {
		struct timeval tv = {(time_t)serve_time, 0};
		r.stop_ev = evtimer_new(r.base, stop_cb, &r);
		if (r.stop_ev)
			evtimer_add(r.stop_ev, &tv);
	}
	r.progress = !r.quiet && isatty(2);
	if (r.progress) {
		struct timeval tv = {1, 0};
		r.progress_ev = event_new(r.base, -1, EV_PERSIST, progress_cb, &r);
		if (r.progress_ev)
			event_add(r.progress_ev, &tv);
	}
	if (r.serving && serve_time > 0) {
		/* A timed serve ends at its deadline even with fetches left. */
	} else if (!r.serving && r.npending == 0 && !r.reading) {
		maybe_finish(&r);
	}
	event_base_dispatch(r.base);
	if (r.progress)
		fputc('\n', stderr);
	if (r.stats)
		print_stats(r.meta);
	if (r.serving && !r.reading && r.npending == 0)
		rc = (r.failed || (r.interrupted && ihlen > 0)) ? EXIT_PARTIAL : 0;
	else
		rc = (r.failed || r.npending || r.interrupted || r.refused) ? EXIT_PARTIAL : 0;
out:
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	if (r.stdin_ev)
		event_free(r.stdin_ev);
	if (r.progress_ev)
		event_free(r.progress_ev);
	if (r.stop_ev)
		event_free(r.stop_ev);
	bt_meta_free(r.meta);
	if (r.base)
		event_base_free(r.base);
	if (r.tab) {
		for (size_t i = 0; i < r.tab_size; i++)
			while (r.tab[i]) {
				struct pending *p = r.tab[i];
				r.tab[i] = p->next;
				free(p);
			}
		free(r.tab);
	}
	free(r.line);
	return rc;
}
