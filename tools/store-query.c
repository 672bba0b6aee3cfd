/*
 * store-query - search, inspect, fill and maintain a BitScrape torrent index, on libbtstore.
 *
 *   store-query [options] search WORDS...     torrents whose names or file paths match
 *   store-query [options] get INFOHASH...     torrents in detail, with their files
 *   store-query [options] recent | pending    latest indexed / oldest awaiting metadata
 *   store-query [options] stats               totals, and the last 14 days
 *   store-query [options] export | import     NDJSON out of / into the store
 *   store-query [options] delete | block | unblock INFOHASH...
 *   store-query [options] reindex             rebuild the keyword index
 *
 * Results go to stdout, as NDJSON (the library's own JSON of each torrent) or, on a terminal,
 * as a table; messages go to stderr.  The tool parses the command line, calls libbtstore and
 * prints: storing, searching and the JSON of a torrent are the library's.
 * Exit codes: 0 ok; 1 nothing found, or some items failed (not found, bad input lines);
 * 2 usage error; 3 store or system error; 128+N when signal N stopped an import or export.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <locale.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <arpa/inet.h>
#include <jansson.h>

#include "btstore.h"

#define EXIT_PARTIAL 1
#define EXIT_USAGE 2
#define EXIT_STORE 3

#define MAX_LINE (64u << 20) /* longest import line */
#define READ_CHUNK (1u << 16)
#define MAX_BAD_SHOWN 10 /* bad import lines reported one by one */
#define DEFAULT_LIMIT 20
#define PAGE_MAX 1000 /* bt_store_query.limit's bound */
#define STATS_DAYS 14
#define PROGRESS_EVERY 0.5 /* seconds */

/* Options that only some commands take, to refuse them elsewhere. */
enum {
	F_LIMIT = 1 << 0,
	F_CURSOR = 1 << 1,
	F_SIZE = 1 << 2,
	F_FILES = 1 << 3,
	F_SINCE = 1 << 4,
	F_SORT = 1 << 5,
	F_ASC = 1 << 6,
	F_PENDING = 1 << 7,
	F_COUNT = 8
};
static const char *const flag_names[F_COUNT] = {
    "--limit", "--cursor", "--min-size/--max-size", "--min-files/--max-files", "--since", "--sort",
    "--asc",   "--pending"};

/* How a command opens the store. */
enum { OPEN_READ, OPEN_WRITE, OPEN_CREATE };

struct cli {
	const char *db;
	char *db_alloc;
	char **args; /* the command's operands */
	int nargs;
	bool table, json, quiet, verbose, export_pending;
	unsigned long limit; /* 0: no limit */
	unsigned given;      /* F_* options given */
	bt_store_query q;    /* filters, sort, cursor */
	int argc;            /* the command line as typed, for the "more:" footer */
	char **argv;
	bt_store *s;
	bool progress_shown;
};

struct command {
	const char *name;
	int (*run)(struct cli *c);
	int open;         /* OPEN_* */
	unsigned allowed; /* F_* */
	int min_args;     /* operands */
	int max_args;     /* -1: any number */
};

static volatile sig_atomic_t got_signal;

static void usage(FILE *f)
{
	fputs("usage: store-query [options] COMMAND [ARGS]\n"
	      "       store-query --help | --version\n"
	      "\n"
	      "commands:\n"
	      "  search WORDS...      torrents whose name or file paths match every word\n"
	      "  get INFOHASH...      torrents in detail (hex infohash or magnet link)\n"
	      "  recent               the latest indexed torrents\n"
	      "  pending              infohashes without metadata, oldest first\n"
	      "  stats                totals of the store and the last 14 days\n"
	      "  export               every torrent as NDJSON on stdout\n"
	      "  import               NDJSON from stdin (meta-fetch, dht-crawl, export lines)\n"
	      "  delete INFOHASH...   forget torrents\n"
	      "  block INFOHASH...    forget torrents and refuse them from now on\n"
	      "  unblock INFOHASH...  take torrents off the blocklist\n"
	      "  reindex              rebuild the keyword index\n"
	      "\n"
	      "options:\n"
	      "  -d, --db PATH        the store (default $BITSCRAPE_DB, else\n"
	      "                       $XDG_DATA_HOME/bitscrape/torrents.mdb)\n"
	      "      --json           NDJSON output, even on a terminal\n"
	      "      --table          table output, even when not on a terminal\n"
	      "  -n, --limit N        at most N results (default 20; 0: all)\n"
	      "  -q, --quiet          no progress, no warnings, no summary\n"
	      "  -v, --verbose        log the library's messages to stderr\n"
	      "  -h, --help           print this and exit\n"
	      "      --version        print the versions and exit\n"
	      "search and recent:\n"
	      "      --min-size SIZE, --max-size SIZE   total size bounds (suffixes K M G T)\n"
	      "      --min-files N, --max-files N       file count bounds\n"
	      "      --since WHEN     seen since a Unix time, YYYY-MM-DD, or an age (7d 12h 30m)\n"
	      "      --sort ORDER     relevance, added, size, seen or popularity (search only)\n"
	      "      --asc            reverse the order\n"
	      "      --cursor C       the page after the one that printed C\n"
	      "export:\n"
	      "      --pending        also export the infohashes without metadata\n",
	      f);
}

/* ---- parsing ---- */

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

static bool unhex(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n / 2; i++) {
		int h = hexval(s[2 * i]), l = hexval(s[2 * i + 1]);
		if (h < 0 || l < 0)
			return false;
		out[i] = (uint8_t)(h << 4 | l);
	}
	return true;
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

/* 32 base32 characters (RFC 4648, either case) into 20 bytes, as magnet links may carry. */
static bool unbase32(const char *s, uint8_t out[20])
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (int i = 0; i < 32; i++) {
		int c = s[i], v;
		if (c >= 'a' && c <= 'z')
			v = c - 'a';
		else if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= '2' && c <= '7')
			v = c - '2' + 26;
		else
			return false;
		acc = acc << 5 | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return o == 20;
}

/* The value of parameter @key ("xt=urn:btih:") of a magnet link: its start and length. */
static const char *magnet_param(const char *s, const char *key, size_t *len)
{
	size_t kl = strlen(key);
	for (const char *p = strchr(s, '?'); p; p = strchr(p + 1, '&')) {
		if (strncasecmp(p + 1, key, kl) == 0) {
			*len = strcspn(p + 1 + kl, "&");
			return p + 1 + kl;
		}
	}
	return NULL;
}

/*
 * An infohash operand: 40 or 64 hex digits, or a magnet link with "xt=urn:btih:" (40 hex
 * digits or 32 base32 characters) or "xt=urn:btmh:1220" and 64 hex digits (v2).  Returns
 * the byte length, 20 or 32, or -1.
 */
static int parse_infohash(const char *s, uint8_t out[32])
{
	size_t n = strlen(s);
	if (strncasecmp(s, "magnet:?", 8) != 0) {
		if ((n != 40 && n != 64) || !unhex(s, n, out))
			return -1;
		return (int)(n / 2);
	}
	const char *v = magnet_param(s, "xt=urn:btih:", &n);
	if (v && n == 40 && unhex(v, 40, out))
		return 20;
	if (v && n == 32 && unbase32(v, out))
		return 20;
	v = magnet_param(s, "xt=urn:btmh:1220", &n);
	if (v && n == 64 && unhex(v, 64, out))
		return 32;
	return -1;
}

static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || s[0] < '0' || s[0] > '9' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A size: a decimal number, maybe with a fraction, and an optional binary suffix K, M, G, T
 * or P (maybe followed by "B" or "iB"). */
static int parse_size(const char *s, uint64_t *out)
{
	uint64_t whole = 0;
	double frac = 0, scale = 0.1;
	const char *p = s;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (whole > (UINT64_MAX - 9) / 10)
			return -1;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			frac += (*p - '0') * scale;
	}
	static const char units[] = "KMGTP";
	char up = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
	const char *u = up ? strchr(units, up) : NULL;
	unsigned shift = 0;
	if (u) {
		shift = 10 * (unsigned)(u - units + 1);
		p++;
		if (strcmp(p, "iB") == 0 || strcmp(p, "ib") == 0)
			p += 2;
		else if (*p == 'B' || *p == 'b')
			p++;
	} else if (*p == 'B' || *p == 'b') {
		p++;
	}
	if (*p)
		return -1;
	if (shift && whole > (UINT64_MAX >> shift) - 1)
		return -1;
	*out = (whole << shift) + (uint64_t)(frac * (double)((uint64_t)1 << shift) + 0.5);
	return 0;
}

static bool leap(long y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* --since: a Unix time, YYYY-MM-DD (midnight UTC), or an age: N followed by s, m, h, d or w. */
static int parse_when(const char *s, int64_t now, int64_t *out)
{
	size_t n = strlen(s), digits = strspn(s, "0123456789");
	unsigned long v;
	if (n > 0 && digits == n) {
		if (parse_ulong(s, (unsigned long)LONG_MAX, &v) < 0)
			return -1;
		*out = (int64_t)v;
		return 0;
	}
	if (n == 10 && s[4] == '-' && s[7] == '-' && strspn(s, "0123456789-") == 10 &&
	    digits == 4 && strspn(s + 5, "0123456789") == 2 && strspn(s + 8, "0123456789") == 2) {
		static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
		long y = strtol(s, NULL, 10), m = strtol(s + 5, NULL, 10),
		     d = strtol(s + 8, NULL, 10);
		if (y < 1970 || m < 1 || m > 12 || d < 1 ||
		    d > mdays[m - 1] + (m == 2 && leap(y) ? 1 : 0))
			return -1;
		struct tm tm = {0};
		tm.tm_year = (int)(y - 1900);
		tm.tm_mon = (int)(m - 1);
		tm.tm_mday = (int)d;
		*out = (int64_t)timegm(&tm);
		return 0;
	}
	if (digits > 0 && digits + 1 == n && digits <= 9) {
		static const char units[] = "smhdw";
		static const int64_t secs[] = {1, 60, 3600, 86400, 604800};
		const char *u = strchr(units, s[n - 1]);
		if (!u || !*u)
			return -1;
		v = strtoul(s, NULL, 10);
		*out = now - (int64_t)v * secs[u - units];
		if (*out < 0)
			*out = 0;
		return 0;
	}
	return -1;
}

static int parse_sort(const char *s)
{
	static const char *const names[] = {"relevance", "added", "size", "seen", "popularity"};
	static const int sorts[] = {BT_STORE_SORT_RELEVANCE, BT_STORE_SORT_ADDED,
	                            BT_STORE_SORT_SIZE, BT_STORE_SORT_SEEN,
	                            BT_STORE_SORT_POPULARITY};
	for (size_t i = 0; i < sizeof(sorts) / sizeof(sorts[0]); i++)
		if (strcmp(s, names[i]) == 0)
			return sorts[i];
	return -1;
}

/* ---- formatting ---- */

static const char *human_size(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	if (n < 1024) {
		snprintf(buf, len, "%u B", (unsigned)n);
		return buf;
	}
	double v = (double)n / 1024;
	size_t i = 0;
	while (v >= 1023.95 && i + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, "%.1f %s", v, units[i]);
	return buf;
}

/* @t as "YYYY-MM-DD" (@with_time: "YYYY-MM-DD HH:MM:SS UTC"), or "-" for 0. */
static const char *date_str(int64_t t, bool with_time, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (t <= 0 || !gmtime_r(&tt, &tm)) {
		snprintf(buf, len, "-");
		return buf;
	}
	if (with_time)
		strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
	else
		strftime(buf, len, "%Y-%m-%d", &tm);
	return buf;
}

static const char *peer_str(const bt_store_peer *p, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (p->family == 6) {
		inet_ntop(AF_INET6, p->ip, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, p->port);
	} else {
		inet_ntop(AF_INET, p->ip, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, p->port);
	}
	return buf;
}

/* The terminal's width: stdout's window, else $COLUMNS, else 100. */
static int term_columns(void)
{
	struct winsize ws;
	if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	unsigned long v;
	const char *e = getenv("COLUMNS");
	if (e && parse_ulong(e, 10000, &v) == 0 && v > 0)
		return (int)v;
	return 100;
}

/* One code point of UTF-8 at @s and its length in bytes; a broken sequence counts as U+FFFD
 * so that a name which is not what the header promises still prints. */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
	unsigned c = s[0];
	size_t n = c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	uint32_t v = n == 1 ? c : c & (0x7Fu >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80) {
			*cp = 0xFFFD;
			return i;
		}
		v = v << 6 | (s[i] & 0x3Fu);
	}
	*cp = v;
	return n;
}

static int cp_width(uint32_t cp)
{
	int w = wcwidth((wchar_t)cp);
	return w < 0 ? 1 : w;
}

/* Print @s in at most @cols columns, cut on a code point and ended with "…" when too wide. */
static void print_fit(const char *s, int cols)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	int width = 0;
	while (*p && width <= cols) {
		p += utf8_next(p, &cp);
		width += cp_width(cp);
	}
	if (width <= cols) {
		fputs(s, stdout);
		return;
	}
	p = (const unsigned char *)s;
	width = 0;
	while (*p) {
		size_t n = utf8_next(p, &cp);
		int w = cp_width(cp);
		if (width + w > cols - 1)
			break;
		width += w;
		p += n;
	}
	fwrite(s, 1, (size_t)(p - (const unsigned char *)s), stdout);
	fputs("\xe2\x80\xa6", stdout);
}

/* A word of the command line as the shell would read it back. */
static void print_shell_word(const char *s)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	                           "_-+=.,:/@%";
	if (*s && strspn(s, safe) == strlen(s)) {
		fputs(s, stdout);
		return;
	}
	putchar('\'');
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	}
	putchar('\'');
}

/* Whether @a is --cursor, --cursor=C or an abbreviation getopt_long takes for it. */
static bool is_cursor_option(const char *a, bool *with_value)
{
	if (strncmp(a, "--", 2) != 0)
		return false;
	size_t n = strcspn(a + 2, "=");
	if (n == 0 || n > 6 || strncmp(a + 2, "cursor", n) != 0)
		return false;
	*with_value = a[2 + n] == '=';
	return true;
}

/* "more: store-query ARGS --cursor C": the command line as typed, with the cursor replaced.
 * The cursor goes before a "--", after which it would be taken for a search word. */
static void print_more(const struct cli *c, const char *cursor)
{
	bool with_value;
	int i = 1;
	fputs("more: store-query", stdout);
	for (; i < c->argc && strcmp(c->argv[i], "--") != 0; i++) {
		if (is_cursor_option(c->argv[i], &with_value)) {
			if (!with_value)
				i++;
			continue;
		}
		putchar(' ');
		print_shell_word(c->argv[i]);
	}
	fputs(" --cursor ", stdout);
	print_shell_word(cursor);
	for (; i < c->argc; i++) {
		putchar(' ');
		print_shell_word(c->argv[i]);
	}
	putchar('\n');
}

/* ---- output of torrents ---- */

static int store_error(const char *what, int err)
{
	fprintf(stderr, "store-query: %s: %s\n", what, bt_store_strerror(err));
	return EXIT_STORE;
}

/* One NDJSON line: the library's JSON of @t, with "score" appended when @score is given. */
static int print_json_line(const bt_store_torrent *t, const double *score)
{
	char *s;
	int e = bt_store_torrent_json(t, &s);
	if (e < 0)
		return e;
	size_t n = strlen(s);
	if (score && n >= 2 && s[n - 1] == '}') {
		json_t *v = json_real(*score);
		char *num = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(6)) : NULL;
		fwrite(s, 1, n - 1, stdout);
		printf("%s\"score\":%s}\n", n > 2 ? "," : "", num ? num : "0");
		free(num);
		json_decref(v);
	} else {
		fwrite(s, 1, n, stdout);
		putchar('\n');
	}
	free(s);
	return 0;
}

static void print_magnet_line(const bt_store_torrent *t)
{
	char *m;
	if (bt_store_magnet(t, &m) == 0) {
		printf("    %s\n", m);
		free(m);
	}
}

#define ROW_PREFIX 31 /* columns before the name in a search row */

static void print_row_header(void)
{
	printf("%10s %6s  %-10s  %s\n", "SIZE", "FILES", "SEEN", "NAME");
}

static void print_row(const bt_store_torrent *t, int cols)
{
	char size[32], files[24], seen[32];
	human_size(t->length, size, sizeof(size));
	snprintf(files, sizeof(files), "%zu", t->num_files);
	printf("%10s %6s  %-10s  ", size, files, date_str(t->last_seen, false, seen, sizeof(seen)));
	int room = cols - ROW_PREFIX;
	print_fit(t->has_metadata && t->name ? t->name : "(no metadata)", room < 10 ? 10 : room);
	putchar('\n');
	print_magnet_line(t);
}

static void print_sources(unsigned int sources)
{
	static const char *const names[] = {"sample", "announce", "get_peers", "lookup", "import"};
	bool any = false;
	for (unsigned i = 0; i < 5; i++) {
		if (sources & (1u << i)) {
			printf("%s%s", any ? ", " : "", names[i]);
			any = true;
		}
	}
	if (!any)
		fputs("-", stdout);
	putchar('\n');
}

static void key(const char *name)
{
	printf("%-13s ", name);
}

/* get's view of one torrent. */
static void print_detail(const bt_store_torrent *t)
{
	char hex[65], buf[64], buf2[64];
	if (t->has_metadata) {
		key("name:");
		puts(t->name ? t->name : "");
	} else {
		key("name:");
		puts("(no metadata yet)");
	}
	to_hex(t->infohash, 20, hex);
	key("infohash:");
	puts(hex);
	if (t->has_v2) {
		to_hex(t->infohash_v2, 32, hex);
		key("infohash v2:");
		puts(hex);
	}
	if (t->has_metadata) {
		key("size:");
		printf("%s (%llu bytes)\n", human_size(t->length, buf, sizeof(buf)),
		       (unsigned long long)t->length);
		key("pieces:");
		printf("%s each\n", human_size(t->piece_length, buf, sizeof(buf)));
		key("versions:");
		printf("%s\n", t->versions == (BT_STORE_V1 | BT_STORE_V2) ? "v1, v2 (hybrid)"
		               : t->versions == BT_STORE_V2               ? "v2"
		                                                          : "v1");
		key("private:");
		puts(t->is_private ? "yes" : "no");
		key("metadata:");
		printf("%s\n", human_size(t->metadata_size, buf, sizeof(buf)));
		key("files:");
		printf("%zu\n", t->num_files);
		for (size_t i = 0; i < t->num_files; i++) {
			const bt_store_file *f = &t->files[i];
			printf("  %10s  %s%s\n", human_size(f->length, buf, sizeof(buf)),
			       f->path ? f->path : "",
			       f->flags & BT_STORE_FILE_PAD ? " (padding)" : "");
		}
	}
	key("first seen:");
	puts(date_str(t->first_seen, true, buf, sizeof(buf)));
	key("last seen:");
	puts(date_str(t->last_seen, true, buf, sizeof(buf)));
	key("times seen:");
	printf("%lu\n", (unsigned long)t->times_seen);
	if (t->has_metadata) {
		key("indexed:");
		puts(date_str(t->indexed, true, buf, sizeof(buf)));
	}
	key("sources:");
	print_sources(t->sources);
	key("peers:");
	printf("%lu", (unsigned long)t->peers);
	for (size_t i = 0; i < t->num_peer_addrs; i++)
		printf("%s%s", i ? ", " : " (", peer_str(&t->peer_addrs[i], buf2, sizeof(buf2)));
	puts(t->num_peer_addrs ? ")" : "");
	char *m;
	if (bt_store_magnet(t, &m) == 0) {
		key("magnet:");
		puts(m);
		free(m);
	}
}

/* ---- progress and signals ---- */

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_signal(int sig)
{
	got_signal = sig;
}

/* SIGINT and SIGTERM set a flag the loops check.  Without @restart a blocked read of stdin
 * returns at once, so that an import from a quiet pipe stops when asked. */
static void catch_signals(bool restart)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void log_cb(int level, const char *msg, void *ud)
{
	const struct cli *c = ud;
	static const char *const names[] = {"error", "warning", "info", "debug"};
	if (level > BT_STORE_LOG_WARN && !c->verbose)
		return;
	if (level == BT_STORE_LOG_WARN && c->quiet && !c->verbose)
		return;
	fprintf(stderr, "store-query: %s: %s\n", names[level & 3], msg);
}

/* ---- the store ---- */

/* The default database: $BITSCRAPE_DB, $XDG_DATA_HOME/bitscrape/torrents.mdb, or the same
 * under ~/.local/share.  NULL when there is no home to put it in. */
static char *default_db(void)
{
	const char *e = getenv("BITSCRAPE_DB");
	if (e && *e)
		return strdup(e);
	const char *base = getenv("XDG_DATA_HOME"), *sub = "";
	if (!base || base[0] != '/') { /* the XDG spec says to ignore a relative path */
		base = getenv("HOME");
		if (!base || !*base) {
			struct passwd *pw = getpwuid(getuid());
			base = pw ? pw->pw_dir : NULL;
		}
		sub = "/.local/share";
	}
	if (!base)
		return NULL;
	size_t n = strlen(base) + strlen(sub) + sizeof("/bitscrape/torrents.mdb");
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s%s/bitscrape/torrents.mdb", base, sub);
	return p;
}

/* mkdir -p of the directory holding @path. */
static int make_parent(const char *path)
{
	char *d = strdup(path);
	if (!d)
		return -1;
	char *slash = strrchr(d, '/');
	if (!slash || slash == d) {
		free(d);
		return 0;
	}
	*slash = 0;
	for (char *p = d + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char was = *p;
		*p = 0;
		if (mkdir(d, 0777) < 0 && errno != EEXIST) {
			fprintf(stderr, "store-query: cannot create %s: %s\n", d, strerror(errno));
			free(d);
			return -1;
		}
		*p = was;
		if (!was)
			break;
	}
	free(d);
	return 0;
}

static int no_database(const struct cli *c)
{
	fprintf(stderr, "store-query: no database at %s (run import first, or give --db)\n", c->db);
	return EXIT_STORE;
}

static int open_store(struct cli *c, int how)
{
	bt_store_options o = BT_STORE_OPTIONS_INIT;
	o.read_only = how == OPEN_READ;
	o.log = log_cb;
	o.log_ud = c;
	struct stat sb;
	if (how != OPEN_CREATE && stat(c->db, &sb) < 0 && errno == ENOENT)
		return no_database(c);
	if (how == OPEN_CREATE && make_parent(c->db) < 0)
		return EXIT_STORE;
	int e = bt_store_open(&c->s, c->db, &o);
	if (e == -ENOENT)
		return no_database(c);
	if (e == BT_STORE_E_VERSION && o.read_only) {
		fprintf(stderr,
		        "store-query: %s: %s (an older store: a write command such as "
		        "\"store-query reindex\" migrates it)\n",
		        c->db, bt_store_strerror(e));
		return EXIT_STORE;
	}
	if (e < 0)
		return store_error(c->db, e);
	return 0;
}

/* ---- commands ---- */

static int nothing_found(const struct cli *c)
{
	if (!c->quiet)
		fprintf(stderr, "store-query: nothing found\n");
	return EXIT_PARTIAL;
}

static void print_cursor_line(const char *cursor)
{
	json_t *o = json_object();
	json_object_set_new(o, "next_cursor", json_string(cursor));
	char *s = json_dumps(o, JSON_COMPACT);
	if (s)
		puts(s);
	free(s);
	json_decref(o);
}

/* search and recent: pages of up to PAGE_MAX until --limit is reached or the results end. */
static int run_query(struct cli *c, const char *text, bool scored)
{
	bt_store_query q = c->q;
	q.text = text;
	unsigned long shown = 0;
	uint64_t total = 0;
	uint32_t corrupt = 0;
	char *next = NULL;
	int cols = c->table ? term_columns() : 0;
	for (bool first = true;; first = false) {
		unsigned long page = c->limit == 0 ? PAGE_MAX : c->limit - shown;
		q.limit = (unsigned)(page > PAGE_MAX ? PAGE_MAX : page);
		q.cursor = first ? c->q.cursor : next;
		bt_store_results *r;
		int e = bt_store_search(c->s, &q, &r);
		if (e == BT_STORE_E_CURSOR) {
			free(next);
			fprintf(stderr, "store-query: --cursor: %s\n", bt_store_strerror(e));
			return EXIT_USAGE;
		}
		if (e < 0) {
			free(next);
			return store_error("search", e);
		}
		if (first)
			total = r->total;
		if (first && c->table && r->count > 0)
			print_row_header();
		for (size_t i = 0; i < r->count; i++) {
			if (c->table) {
				print_row(r->items[i], cols);
			} else if ((e = print_json_line(r->items[i],
			                                scored ? &r->scores[i] : NULL)) < 0) {
				bt_store_results_free(r);
				free(next);
				return store_error("json", e);
			}
		}
		size_t count = r->count;
		corrupt += r->corrupt;
		shown += count;
		free(next);
		next = r->next_cursor ? strdup(r->next_cursor) : NULL;
		bt_store_results_free(r);
		if (!next || count == 0 || (c->limit && shown >= c->limit))
			break;
	}
	if (c->table && shown > 0)
		printf("%lu of %llu\n", shown, (unsigned long long)total);
	if (next) {
		if (c->table)
			print_more(c, next);
		else
			print_cursor_line(next);
	}
	free(next);
	if (corrupt) {
		fprintf(stderr, "store-query: %lu records skipped: they do not decode\n",
		        (unsigned long)corrupt);
		return EXIT_STORE;
	}
	return shown ? 0 : nothing_found(c);
}

static int cmd_search(struct cli *c)
{
	size_t n = 1;
	for (int i = 0; i < c->nargs; i++)
		n += strlen(c->args[i]) + 1;
	char *text = malloc(n), *p = text;
	if (!text)
		return store_error("search", BT_STORE_E_NOMEM);
	*p = 0;
	for (int i = 0; i < c->nargs; i++)
		p += sprintf(p, "%s%s", i ? " " : "", c->args[i]);
	int rc = run_query(c, c->nargs ? text : NULL, c->nargs > 0);
	free(text);
	return rc;
}

static int cmd_recent(struct cli *c)
{
	c->q.sort = BT_STORE_SORT_ADDED;
	return run_query(c, NULL, false);
}

static int cmd_get(struct cli *c)
{
	int rc = 0, shown = 0;
	for (int i = 0; i < c->nargs; i++) {
		uint8_t ih[32];
		int len = parse_infohash(c->args[i], ih);
		bt_store_torrent *t;
		int e = bt_store_get(c->s, ih, (size_t)len, &t);
		if (e == BT_STORE_E_NOTFOUND) {
			fprintf(stderr, "store-query: %s: not found\n", c->args[i]);
			rc = rc ? rc : EXIT_PARTIAL;
			continue;
		}
		if (e < 0) {
			fprintf(stderr, "store-query: %s: %s\n", c->args[i], bt_store_strerror(e));
			rc = EXIT_STORE;
			continue;
		}
		if (c->table) {
			if (shown++)
				putchar('\n');
			print_detail(t);
		} else if ((e = print_json_line(t, NULL)) < 0) {
			rc = store_error("json", e);
		}
		bt_store_torrent_free(t);
	}
	return rc;
}

/* A walk of bt_store_foreach(), for pending and export. */
struct walk {
	struct cli *c;
	unsigned long n, limit;
	int err;
	bool progress;
	double start, last;
	int cols;
};

enum { WALK_LIMIT = 1, WALK_SIGNAL, WALK_ERROR };

static void walk_progress(struct walk *w, bool force)
{
	double t = now_mono();
	if (!w->progress || (!force && t - w->last < PROGRESS_EVERY))
		return;
	w->last = t;
	double rate = t > w->start ? (double)w->n / (t - w->start) : 0;
	fprintf(stderr, "\rstore-query: %lu torrents, %.0f/s   ", w->n, rate);
	w->c->progress_shown = true;
}

static int pending_cb(const bt_store_torrent *t, void *ud)
{
	struct walk *w = ud;
	if (w->limit && w->n >= w->limit)
		return WALK_LIMIT;
	if (w->c->table && w->n == 0)
		printf("%-10s  %-10s  %5s  %5s  %s\n", "FIRST SEEN", "LAST SEEN", "TIMES", "PEERS",
		       "INFOHASH");
	if (w->c->table) {
		char first[16], last[16], hex[41];
		to_hex(t->infohash, 20, hex);
		printf("%-10s  %-10s  %5lu  %5lu  %s\n",
		       date_str(t->first_seen, false, first, sizeof(first)),
		       date_str(t->last_seen, false, last, sizeof(last)),
		       (unsigned long)t->times_seen, (unsigned long)t->peers, hex);
		print_magnet_line(t);
	} else if ((w->err = print_json_line(t, NULL)) < 0) {
		return WALK_ERROR;
	}
	w->n++;
	return 0;
}

static int cmd_pending(struct cli *c)
{
	struct walk w = {.c = c, .limit = c->limit};
	uint32_t corrupt = 0;
	int e = bt_store_foreach(c->s, BT_STORE_PENDING, pending_cb, &w, &corrupt);
	if (e == WALK_ERROR)
		return store_error("json", w.err);
	if (e < 0)
		return store_error("pending", e);
	if (c->table && w.n > 0) {
		bt_store_stats st;
		if (bt_store_get_stats(c->s, &st) == 0)
			printf("%lu of %llu\n", w.n, (unsigned long long)st.pending);
	}
	if (corrupt) {
		fprintf(stderr, "store-query: %lu records skipped: they do not decode\n",
		        (unsigned long)corrupt);
		return EXIT_STORE;
	}
	return w.n ? 0 : nothing_found(c);
}

static int export_cb(const bt_store_torrent *t, void *ud)
{
	struct walk *w = ud;
	if (got_signal)
		return WALK_SIGNAL;
	if ((w->err = print_json_line(t, NULL)) < 0)
		return WALK_ERROR;
	if (ferror(stdout)) {
		w->err = -errno;
		return WALK_ERROR;
	}
	w->n++;
	walk_progress(w, false);
	return 0;
}

static int cmd_export(struct cli *c)
{
	struct walk w = {.c = c, .progress = !c->quiet && isatty(2)};
	uint32_t corrupt = 0;
	unsigned what = BT_STORE_WITH_METADATA | (c->export_pending ? BT_STORE_PENDING : 0);
	catch_signals(true);
	w.start = w.last = now_mono();
	int e = bt_store_foreach(c->s, what, export_cb, &w, &corrupt);
	walk_progress(&w, true);
	if (c->progress_shown)
		fputc('\n', stderr);
	if (e == WALK_ERROR)
		return store_error("export", w.err ? w.err : -EIO);
	if (e < 0)
		return store_error("export", e);
	if (corrupt) {
		fprintf(stderr, "store-query: %lu records skipped: they do not decode\n",
		        (unsigned long)corrupt);
		return EXIT_STORE;
	}
	if (e == WALK_SIGNAL) {
		if (!c->quiet)
			fprintf(stderr, "store-query: interrupted after %lu torrents\n", w.n);
		return 128 + got_signal;
	}
	return 0;
}

/* Lines of stdin, each at most MAX_LINE bytes. */
struct reader {
	char *buf;
	size_t pos, end;
	char *line;
	size_t len, cap;
	bool eof;
};

/* The next line into r->line (NUL-terminated, without its newline): 1; *@too_long when it
 * was longer than MAX_LINE (its start is dropped).  0 at the end, -1 on a read error (errno),
 * -2 when a signal came.  -3: out of memory. */
static int read_line(struct reader *r, bool *too_long)
{
	r->len = 0;
	*too_long = false;
	bool any = false;
	for (;;) {
		if (r->pos == r->end) {
			if (r->eof) {
				if (!any)
					return 0;
				break;
			}
			if (got_signal)
				return -2;
			ssize_t n = read(0, r->buf, READ_CHUNK);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -1;
			if (n == 0)
				r->eof = true;
			r->pos = 0;
			r->end = (size_t)n;
			continue;
		}
		char *start = r->buf + r->pos, *nl = memchr(start, '\n', r->end - r->pos);
		size_t take = nl ? (size_t)(nl - start) : r->end - r->pos;
		any = true;
		if (!*too_long && r->len + take > MAX_LINE) {
			*too_long = true;
		} else if (!*too_long) {
			if (r->len + take + 1 > r->cap) {
				size_t cap = r->cap ? r->cap : READ_CHUNK;
				while (cap < r->len + take + 1)
					cap *= 2;
				char *p = realloc(r->line, cap);
				if (!p)
					return -3;
				r->line = p;
				r->cap = cap;
			}
			memcpy(r->line + r->len, start, take);
			r->len += take;
		}
		r->pos += take + (nl ? 1 : 0);
		if (nl)
			break;
	}
	if (!*too_long && r->line)
		r->line[r->len] = 0;
	return 1;
}

struct import {
	struct cli *c;
	unsigned long lines, fresh, known, blocked, bad;
	double start, last;
	bool progress;
};

static void import_progress(struct import *im, bool force)
{
	double t = now_mono();
	if (!im->progress || (!force && t - im->last < PROGRESS_EVERY))
		return;
	im->last = t;
	double rate = t > im->start ? (double)im->lines / (t - im->start) : 0;
	fprintf(stderr, "\rstore-query: %lu lines, %lu new, %lu known, %lu bad, %.0f/s   ",
	        im->lines, im->fresh, im->known, im->bad, rate);
	im->c->progress_shown = true;
}

static void bad_line(struct import *im, unsigned long lineno, const char *line, size_t len, int err)
{
	im->bad++;
	if (im->c->quiet || im->bad > MAX_BAD_SHOWN)
		return;
	if (im->progress && im->c->progress_shown)
		fputc('\n', stderr);
	if (!line) {
		fprintf(stderr, "store-query: line %lu: longer than %u MiB\n", lineno,
		        MAX_LINE >> 20);
		return;
	}
	/* The library says only that it did not understand; Jansson can say where JSON broke. */
	json_error_t je;
	json_t *o = err == BT_STORE_E_FORMAT ? json_loadb(line, len, 0, &je) : NULL;
	if (err == BT_STORE_E_FORMAT && !o)
		fprintf(stderr, "store-query: line %lu: not JSON: %s\n", lineno, je.text);
	else
		fprintf(stderr, "store-query: line %lu: %s\n", lineno, bt_store_strerror(err));
	json_decref(o);
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

static int cmd_import(struct cli *c)
{
	struct import im = {.c = c, .progress = !c->quiet && isatty(2)};
	struct reader rd = {.buf = malloc(READ_CHUNK)};
	unsigned long lineno = 0;
	int rc = 0, k;
	bool too_long;
	if (!rd.buf)
		return store_error("import", BT_STORE_E_NOMEM);
	catch_signals(false);
	im.start = im.last = now_mono();
	while (!got_signal && (k = read_line(&rd, &too_long)) != 0) {
		if (k == -2)
			break;
		if (k == -1) {
			fprintf(stderr, "store-query: reading standard input: %s\n",
			        strerror(errno));
			rc = EXIT_STORE;
			break;
		}
		if (k == -3) {
			rc = store_error("import", BT_STORE_E_NOMEM);
			break;
		}
		lineno++;
		if (too_long) {
			im.lines++;
			bad_line(&im, lineno, NULL, 0, 0);
			continue;
		}
		size_t len = rd.len;
		if (blank(rd.line, len))
			continue;
		im.lines++;
		int e = bt_store_import_json(c->s, rd.line, len, (int64_t)time(NULL));
		if (e == 1) {
			im.fresh++;
		} else if (e == 0) {
			im.known++;
		} else if (e == BT_STORE_E_BLOCKED) {
			im.blocked++;
		} else if (e == BT_STORE_E_FORMAT || e == BT_STORE_E_INVAL) {
			bad_line(&im, lineno, rd.line, len, e);
		} else {
			if (c->progress_shown)
				fputc('\n', stderr);
			fprintf(stderr, "store-query: line %lu: %s\n", lineno,
			        bt_store_strerror(e));
			rc = EXIT_STORE;
			break;
		}
		import_progress(&im, false);
	}
	free(rd.buf);
	free(rd.line);
	import_progress(&im, true);
	if (c->progress_shown)
		fputc('\n', stderr);
	int e = bt_store_commit(c->s);
	if (e < 0)
		rc = store_error("commit", e);
	if (!c->quiet && im.bad > MAX_BAD_SHOWN)
		fprintf(stderr, "store-query: %lu more bad lines not shown\n",
		        im.bad - MAX_BAD_SHOWN);
	if (!c->quiet)
		fprintf(stderr,
		        "store-query: %lu lines: %lu new, %lu known, %lu blocked, %lu bad%s%s\n",
		        im.lines, im.fresh, im.known, im.blocked, im.bad,
		        got_signal ? " (interrupted)" : "", e < 0 ? " (not committed)" : "");
	if (c->json) {
		json_t *o = json_object();
		json_object_set_new(o, "lines", json_integer((json_int_t)im.lines));
		json_object_set_new(o, "new", json_integer((json_int_t)im.fresh));
		json_object_set_new(o, "known", json_integer((json_int_t)im.known));
		json_object_set_new(o, "blocked", json_integer((json_int_t)im.blocked));
		json_object_set_new(o, "bad", json_integer((json_int_t)im.bad));
		json_object_set_new(o, "interrupted", json_boolean(got_signal != 0));
		json_object_set_new(o, "committed", json_boolean(e == 0 && rc != EXIT_STORE));
		char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (s)
			puts(s);
		free(s);
		json_decref(o);
	}
	if (rc)
		return rc;
	if (got_signal)
		return 128 + got_signal;
	return im.bad ? EXIT_PARTIAL : 0;
}

/* delete, block, unblock: every operand, then one commit. */
static int each_infohash(struct cli *c, int (*op)(bt_store *, const uint8_t *, size_t),
                         const char *missing)
{
	int rc = 0;
	for (int i = 0; i < c->nargs; i++) {
		uint8_t ih[32];
		int len = parse_infohash(c->args[i], ih);
		int e = op(c->s, ih, (size_t)len);
		if (e == BT_STORE_E_NOTFOUND) {
			fprintf(stderr, "store-query: %s: %s\n", c->args[i], missing);
			rc = rc ? rc : EXIT_PARTIAL;
		} else if (e < 0) {
			fprintf(stderr, "store-query: %s: %s\n", c->args[i], bt_store_strerror(e));
			rc = EXIT_STORE;
			break;
		}
	}
	int e = bt_store_commit(c->s);
	if (e < 0)
		return store_error("commit", e);
	return rc;
}

static int cmd_delete(struct cli *c)
{
	return each_infohash(c, bt_store_delete, "not found");
}

static int cmd_block(struct cli *c)
{
	return each_infohash(c, bt_store_block, "not found");
}

static int cmd_unblock(struct cli *c)
{
	return each_infohash(c, bt_store_unblock, "not blocked");
}

static int cmd_reindex(struct cli *c)
{
	double t = now_mono();
	int e = bt_store_reindex(c->s);
	if (e < 0)
		return store_error("reindex", e);
	if ((e = bt_store_commit(c->s)) < 0)
		return store_error("commit", e);
	if (!c->quiet)
		fprintf(stderr, "store-query: keyword index rebuilt in %.1f s\n", now_mono() - t);
	return 0;
}

/* The last STATS_DAYS UTC days, today included, with zeros for the days without counts. */
static int last_days(struct cli *c, bt_store_day *days)
{
	int64_t today = (int64_t)time(NULL) / 86400 * 86400;
	int64_t since = today - (STATS_DAYS - 1) * 86400;
	bt_store_day *got;
	size_t n;
	int e = bt_store_daily(c->s, since, &got, &n);
	if (e < 0)
		return e;
	for (int i = 0; i < STATS_DAYS; i++) {
		days[i].day = since + (int64_t)i * 86400;
		days[i].discovered = days[i].indexed = 0;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t d = (got[i].day - since) / 86400;
		if (got[i].day >= since && d < STATS_DAYS) {
			days[d].discovered = got[i].discovered;
			days[d].indexed = got[i].indexed;
		}
	}
	free(got);
	return 0;
}

static void stat_line(const char *key, const char *fmt_value)
{
	printf("%-19s %s\n", key, fmt_value);
}

static void stat_count(const char *key, uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	stat_line(key, buf);
}

static void stat_bytes(const char *key, uint64_t v)
{
	char buf[64], h[32];
	snprintf(buf, sizeof(buf), "%s (%llu bytes)", human_size(v, h, sizeof(h)),
	         (unsigned long long)v);
	stat_line(key, buf);
}

static int cmd_stats(struct cli *c)
{
	bt_store_stats st;
	bt_store_day days[STATS_DAYS];
	int e = bt_store_get_stats(c->s, &st);
	if (e < 0)
		return store_error("stats", e);
	if ((e = last_days(c, days)) < 0)
		return store_error("stats", e);
	uint64_t items = st.torrents + st.pending;
	uint64_t per = items ? (st.bytes_used + items / 2) / items : 0;
	char buf[64];
	if (!c->table) {
		json_t *o = json_object();
		json_object_set_new(o, "db", json_string(c->db));
#define SET(f) json_object_set_new(o, #f, json_integer((json_int_t)st.f))
		SET(torrents);
		SET(pending);
		SET(blocked);
		SET(nodes);
		SET(terms);
		SET(postings);
		SET(files);
		SET(bytes_used);
		SET(file_size);
		SET(map_size);
		SET(max_size);
		SET(evicted_pending);
		SET(evicted_torrents);
		SET(schema);
		SET(page_size);
		SET(created);
#undef SET
		json_object_set_new(o, "bytes_per_torrent", json_integer((json_int_t)per));
		json_t *a = json_array();
		for (int i = 0; i < STATS_DAYS; i++) {
			json_t *d = json_object();
			json_object_set_new(
			    d, "day", json_string(date_str(days[i].day, false, buf, sizeof(buf))));
			json_object_set_new(d, "time", json_integer((json_int_t)days[i].day));
			json_object_set_new(d, "discovered", json_integer(days[i].discovered));
			json_object_set_new(d, "indexed", json_integer(days[i].indexed));
			json_array_append_new(a, d);
		}
		json_object_set_new(o, "days", a);
		char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (s)
			puts(s);
		free(s);
		json_decref(o);
		return 0;
	}
	stat_line("database:", c->db);
	stat_count("schema:", st.schema);
	stat_line("created:", date_str(st.created, true, buf, sizeof(buf)));
	stat_count("torrents:", st.torrents);
	stat_count("pending:", st.pending);
	stat_count("blocked:", st.blocked);
	stat_count("files:", st.files);
	stat_count("terms:", st.terms);
	stat_count("postings:", st.postings);
	stat_count("nodes:", st.nodes);
	stat_bytes("bytes used:", st.bytes_used);
	stat_bytes("bytes per torrent:", per);
	stat_bytes("file size:", st.file_size);
	stat_bytes("map size:", st.map_size);
	if (st.max_size)
		stat_bytes("max size:", st.max_size);
	else
		stat_line("max size:", "none");
	stat_count("evicted pending:", st.evicted_pending);
	stat_count("evicted torrents:", st.evicted_torrents);
	stat_count("page size:", st.page_size);
	printf("\n%-10s  %10s  %10s\n", "DAY (UTC)", "DISCOVERED", "INDEXED");
	for (int i = 0; i < STATS_DAYS; i++)
		printf("%-10s  %10lu  %10lu\n", date_str(days[i].day, false, buf, sizeof(buf)),
		       (unsigned long)days[i].discovered, (unsigned long)days[i].indexed);
	return 0;
}

static const struct command commands[] = {
    {"search", cmd_search, OPEN_READ,
     F_LIMIT | F_CURSOR | F_SIZE | F_FILES | F_SINCE | F_SORT | F_ASC, 0, -1},
    {"get", cmd_get, OPEN_READ, 0, 1, -1},
    {"recent", cmd_recent, OPEN_READ, F_LIMIT | F_CURSOR | F_SIZE | F_FILES | F_SINCE | F_ASC, 0,
     0},
    {"pending", cmd_pending, OPEN_READ, F_LIMIT, 0, 0},
    {"stats", cmd_stats, OPEN_READ, 0, 0, 0},
    {"export", cmd_export, OPEN_READ, F_PENDING, 0, 0},
    {"import", cmd_import, OPEN_CREATE, 0, 0, 0},
    {"delete", cmd_delete, OPEN_WRITE, 0, 1, -1},
    {"block", cmd_block, OPEN_CREATE, 0, 1, -1},
    {"unblock", cmd_unblock, OPEN_WRITE, 0, 1, -1},
    {"reindex", cmd_reindex, OPEN_WRITE, 0, 0, 0},
};

static int bad_value(const char *opt, const char *v)
{
	fprintf(stderr, "store-query: bad value for %s: %s\n", opt, v);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	enum {
		O_JSON = 256,
		O_TABLE,
		O_VERSION,
		O_MIN_SIZE,
		O_MAX_SIZE,
		O_MIN_FILES,
		O_MAX_FILES,
		O_SINCE,
		O_SORT,
		O_ASC,
		O_CURSOR,
		O_PENDING
	};
	static const struct option longopts[] = {
	    {"db", required_argument, NULL, 'd'},
	    {"json", no_argument, NULL, O_JSON},
	    {"table", no_argument, NULL, O_TABLE},
	    {"limit", required_argument, NULL, 'n'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, O_VERSION},
	    {"min-size", required_argument, NULL, O_MIN_SIZE},
	    {"max-size", required_argument, NULL, O_MAX_SIZE},
	    {"min-files", required_argument, NULL, O_MIN_FILES},
	    {"max-files", required_argument, NULL, O_MAX_FILES},
	    {"since", required_argument, NULL, O_SINCE},
	    {"sort", required_argument, NULL, O_SORT},
	    {"asc", no_argument, NULL, O_ASC},
	    {"cursor", required_argument, NULL, O_CURSOR},
	    {"pending", no_argument, NULL, O_PENDING},
	    {NULL, 0, NULL, 0},
	};
	bt_store_query q0 = BT_STORE_QUERY_INIT;
	struct cli c;
	bool json = false, table = false;
	unsigned long v;
	int opt, sort;

	memset(&c, 0, sizeof(c));
	c.q = q0;
	c.limit = DEFAULT_LIMIT;
	c.argc = argc;
	c.argv = argv;
	setlocale(LC_CTYPE, "");
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":d:n:qvh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			c.db = optarg;
			break;
		case O_JSON:
			json = true;
			break;
		case O_TABLE:
			table = true;
			break;
		case 'n':
			if (parse_ulong(optarg, UINT_MAX, &c.limit) < 0)
				return bad_value("--limit", optarg);
			c.given |= F_LIMIT;
			break;
		case 'q':
			c.quiet = true;
			break;
		case 'v':
			c.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case O_VERSION:
			printf("store-query %s (libbtstore %s)\n", PACKAGE_VERSION,
			       bt_store_version());
			return 0;
		case O_MIN_SIZE:
		case O_MAX_SIZE:
			if (parse_size(optarg, opt == O_MIN_SIZE ? &c.q.min_size : &c.q.max_size) <
			    0)
				return bad_value(opt == O_MIN_SIZE ? "--min-size" : "--max-size",
				                 optarg);
			c.given |= F_SIZE;
			break;
		case O_MIN_FILES:
		case O_MAX_FILES:
			if (parse_ulong(optarg, UINT32_MAX, &v) < 0)
				return bad_value(opt == O_MIN_FILES ? "--min-files" : "--max-files",
				                 optarg);
			*(opt == O_MIN_FILES ? &c.q.min_files : &c.q.max_files) = (uint32_t)v;
			c.given |= F_FILES;
			break;
		case O_SINCE:
			if (parse_when(optarg, (int64_t)time(NULL), &c.q.seen_since) < 0)
				return bad_value("--since", optarg);
			c.given |= F_SINCE;
			break;
		case O_SORT:
			if ((sort = parse_sort(optarg)) < 0)
				return bad_value("--sort", optarg);
			c.q.sort = sort;
			c.given |= F_SORT;
			break;
		case O_ASC:
			c.q.ascending = 1;
			c.given |= F_ASC;
			break;
		case O_CURSOR:
			c.q.cursor = optarg;
			c.given |= F_CURSOR;
			break;
		case O_PENDING:
			c.export_pending = true;
			c.given |= F_PENDING;
			break;
		case ':':
			fprintf(stderr, "store-query: %s needs a value\n", argv[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;
		default:
			/* getopt's own messages would carry the path the tool was run by. */
			if (optopt)
				fprintf(stderr, "store-query: unknown option: -%c\n", optopt);
			else
				fprintf(stderr, "store-query: unknown option: %s\n",
				        argv[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind == argc) {
		fprintf(stderr, "store-query: no command given\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	const struct command *cmd = NULL;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[optind], commands[i].name) == 0)
			cmd = &commands[i];
	if (!cmd) {
		fprintf(stderr, "store-query: unknown command: %s\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	c.args = argv + optind + 1;
	c.nargs = argc - optind - 1;
	for (unsigned i = 0; i < F_COUNT; i++) {
		if (c.given & ~cmd->allowed & (1u << i)) {
			fprintf(stderr, "store-query: %s does not apply to %s\n", flag_names[i],
			        cmd->name);
			return EXIT_USAGE;
		}
	}
	if (c.nargs < cmd->min_args || (cmd->max_args >= 0 && c.nargs > cmd->max_args)) {
		fprintf(stderr, "store-query: %s takes %s\n", cmd->name,
		        cmd->max_args == 0 ? "no operand" : "at least one infohash");
		return EXIT_USAGE;
	}
	if (json && table) {
		fprintf(stderr, "store-query: --json and --table exclude each other\n");
		return EXIT_USAGE;
	}
	if ((c.q.min_size && c.q.max_size && c.q.min_size > c.q.max_size) ||
	    (c.q.min_files && c.q.max_files && c.q.min_files > c.q.max_files)) {
		fprintf(stderr, "store-query: a minimum is above its maximum\n");
		return EXIT_USAGE;
	}
	if (cmd->min_args > 0) { /* the commands whose operands are infohashes */
		for (int i = 0; i < c.nargs; i++) {
			uint8_t ih[32];
			if (parse_infohash(c.args[i], ih) < 0) {
				fprintf(stderr,
				        "store-query: not an infohash (40 or 64 hex digits, or a "
				        "magnet link): %s\n",
				        c.args[i]);
				return EXIT_USAGE;
			}
		}
	}
	c.table = table || (!json && isatty(1));
	c.json = json;
	if (!c.db) {
		c.db = c.db_alloc = default_db();
		if (!c.db) {
			fprintf(stderr,
			        "store-query: no home directory for the database: give --db\n");
			return EXIT_USAGE;
		}
	}
	int rc = open_store(&c, cmd->open);
	if (rc == 0) {
		rc = cmd->run(&c);
		bt_store_close(c.s);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "store-query: writing standard output: %s\n", strerror(errno));
		rc = rc ? rc : EXIT_STORE;
	}
	free(c.db_alloc);
	return rc;
}
