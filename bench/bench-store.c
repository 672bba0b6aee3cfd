/*
 * bench-store.c - libbtstore under a realistic load: how fast a crawler's index takes torrents
 * in, what it costs on disk per torrent, and how long searches and lookups take, on a corpus
 * shaped like a DHT crawl (bench/corpus.c: names, heavy-tailed file lists, Zipf vocabulary,
 * non-ASCII names).
 *
 *   bench/bench-store [--keep] [--seed S] [N [DIR]]     (defaults 1000000 and a fresh
 *                                                        directory under $TMPDIR or /tmp)
 *
 * Phases, each printed as "name: value" lines on stdout:
 *  1. import: a first store takes min(N, 50000) torrents with no_sync = 0 (every batch fsynced);
 *     then the measured store takes N with batch_size 50000 (the default) and no_sync = 1, then
 *     re-sightings (bt_store_seen) of 20% of them picked at random; commits are included.
 *     Library time only: generating the corpus is timed apart.
 *  2. size: bt_store_get_stats (bytes used, file size, terms, postings, files) per torrent.
 *  3. search: 2,000 one-word and 2,000 two-word queries from the corpus, 500 with min_size
 *     1 GiB, 500 sorted by size, 500 "recent" (no words, sorted by time added), a walk of 100
 *     recent pages by cursor, and 10 each of two listings of the whole store (no words,
 *     min_size 1 GiB; no words, sorted by size), all with limit 20: latency percentiles,
 *     results per query, share of queries that found something, cost per 1,000 matches.  Then
 * 10,000 bt_store_get of random stored torrents, each checked against the regenerated torrent, and
 * 10,000 of unknown infohashes.
 *  4. peak memory (ru_maxrss; LMDB's mapped pages that were touched count in it).
 *
 * Exit status: 0; 1 when the store fails a call or gives back something other than what was
 * put (a wrong name, a filter or order not respected, a page repeating a torrent); 2 for bad
 * arguments.  A progress line goes to stderr when it is a terminal.  The database is removed
 * at the end unless --keep.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"
#include "btstore.h"
#include "corpus.h"

#define DEFAULT_N 1000000
#define SYNC_N 50000
#define BATCH 50000
#define QUERIES 2000
#define SIDE_QUERIES 500
#define LOOKUPS 10000
#define PAGES 100
#define BROWSE_RUNS 10
#define LIMIT 20
#define MAX_HIST 5001 /* file counts are capped at 5,000 by the corpus (pads included) */
#define MIB_D 1048576.0
#define GIB (1024ull * 1024 * 1024)

static int failed;
static int tty;
static uint64_t last_progress;
static unsigned log_counts[4];

/* ---- output ---- */

static void fail(const char *fmt, ...)
{
	va_list ap;
	if (tty)
		fputs("\r\033[K", stderr);
	fputs("bench-store: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failed = 1;
}

static void figure(const char *name, const char *fmt, ...)
{
	va_list ap;
	printf("%s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void progress(const char *phase, uint64_t done, uint64_t total)
{
	if (!tty)
		return;
	uint64_t now = bench_now_ns();
	if (done < total && now - last_progress < 200000000u)
		return;
	last_progress = now;
	fprintf(stderr, "\r\033[K%s %llu/%llu", phase, (unsigned long long)done,
	        (unsigned long long)total);
	if (done == total)
		fputs("\r\033[K", stderr);
}

static void store_log(int level, const char *msg, void *ud)
{
	(void)ud;
	if (level >= 0 && level < 4)
		log_counts[level]++;
	if (level <= BT_STORE_LOG_INFO) {
		static const char *const names[] = {"error", "warning", "info"};
		if (tty)
			fputs("\r\033[K", stderr);
		fprintf(stderr, "bench-store: store %s: %s\n", names[level], msg);
	}
}

/* ---- latencies ---- */

struct lat {
	double *ms;
	size_t n;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The q-quantile of the sorted latencies (nearest rank). */
static double quantile(const struct lat *l, double q)
{
	if (!l->n)
		return 0;
	size_t r = (size_t)ceil(q * (double)l->n);
	return l->ms[r ? r - 1 : 0];
}

static void print_lat(const char *name, struct lat *l)
{
	char label[96];
	qsort(l->ms, l->n, sizeof(double), cmp_double);
	snprintf(label, sizeof(label), "%s latency", name);
	figure(label, "p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms (%zu runs)",
	       quantile(l, 0.5), quantile(l, 0.9), quantile(l, 0.99), l->n ? l->ms[l->n - 1] : 0,
	       l->n);
}

/* ---- the store ---- */

static int open_store(bt_store **s, const char *path, int no_sync)
{
	bt_store_options o = BT_STORE_OPTIONS_INIT;
	o.batch_size = BATCH;
	o.no_sync = no_sync;
	o.log = store_log;
	int err = bt_store_open(s, path, &o);
	if (err)
		fail("open %s: %s", path, bt_store_strerror(err));
	return err;
}

static void remove_store(const char *path)
{
	char lock[4200];
	snprintf(lock, sizeof(lock), "%s-lock", path);
	unlink(path);
	unlink(lock);
}

/* What the corpus put in: for the figures and to check the store's counts. */
struct corpus_stats {
	uint64_t torrents, files, pads, single, name_bytes, text_bytes;
	uint64_t hist[MAX_HIST];
};

static void count(struct corpus_stats *cs, const bt_store_torrent *t)
{
	cs->torrents++;
	cs->files += t->num_files;
	cs->single += t->num_files == 1;
	cs->hist[t->num_files < MAX_HIST ? t->num_files : MAX_HIST - 1]++;
	size_t name = strlen(t->name);
	cs->name_bytes += name;
	cs->text_bytes += name;
	for (size_t k = 0; k < t->num_files; k++) {
		cs->pads += (t->files[k].flags & BT_STORE_FILE_PAD) != 0;
		if (t->num_files > 1)
			cs->text_bytes += strlen(t->files[k].path);
	}
}

static uint64_t hist_median(const struct corpus_stats *cs)
{
	uint64_t seen = 0;
	for (size_t k = 0; k < MAX_HIST; k++) {
		seen += cs->hist[k];
		if (seen * 2 >= cs->torrents)
			return k;
	}
	return 0;
}

/* Put torrents 0..@n-1; returns the library's time in ns (puts and the final commit), and in
 * *@at_mark (may be NULL) that of the first @mark puts. */
static uint64_t import(bt_store *s, corpus *c, uint64_t n, struct corpus_stats *cs, struct lat *lat,
                       uint64_t *wall, uint64_t mark, uint64_t *at_mark)
{
	uint64_t lib = 0, w0 = bench_now_ns();
	for (uint64_t i = 0; i < n; i++) {
		const bt_store_torrent *t = corpus_torrent(c, i, NULL);
		if (cs)
			count(cs, t);
		uint64_t t0 = bench_now_ns();
		int rc = bt_store_put(s, t);
		uint64_t dt = bench_now_ns() - t0;
		lib += dt;
		if (lat)
			lat->ms[lat->n++] = (double)dt / 1e6;
		if (at_mark && i + 1 == mark)
			*at_mark = lib;
		if (rc != 1) {
			fail("put #%llu \"%s\": %s", (unsigned long long)i, t->name,
			     rc < 0 ? bt_store_strerror(rc)
			            : "returned 0 (already known) for a new torrent");
			if (rc < 0)
				return 0;
		}
		progress("import", i + 1, n);
	}
	uint64_t t0 = bench_now_ns();
	int rc = bt_store_commit(s);
	lib += bench_now_ns() - t0;
	if (rc)
		fail("commit: %s", bt_store_strerror(rc));
	*wall = bench_now_ns() - w0;
	return lib;
}

static int phase_sync(const char *dir, corpus *c, uint64_t n, int keep)
{
	char path[4096];
	bt_store *s;
	snprintf(path, sizeof(path), "%s/sync.mdb", dir);
	if (open_store(&s, path, 0))
		return -1;
	uint64_t wall, ns = import(s, c, n, NULL, NULL, &wall, 0, NULL);
	bt_store_close(s);
	if (!keep)
		remove_store(path);
	if (failed)
		return -1;
	char label[64];
	snprintf(label, sizeof(label), "import put no_sync=0 (%llu torrents)",
	         (unsigned long long)n);
	figure(label, "%.0f torrents/s (%.2f s, commits fsynced every %d puts)", bench_rate(n, ns),
	       (double)ns / 1e9, BATCH);
	return 0;
}

static int phase_import(bt_store *s, corpus *c, uint64_t n, uint64_t n_sync,
                        struct corpus_stats *cs)
{
	struct lat lat = {malloc(sizeof(double) * n), 0};
	if (!lat.ms)
		return -1;
	uint64_t wall, first = 0, ns = import(s, c, n, cs, &lat, &wall, n_sync, &first);
	if (failed) {
		free(lat.ms);
		return -1;
	}
	figure("corpus torrents", "%llu", (unsigned long long)cs->torrents);
	figure("corpus files per torrent", "mean %.2f, median %llu, single-file %.1f%%",
	       (double)cs->files / (double)n, (unsigned long long)hist_median(cs),
	       100.0 * (double)cs->single / (double)n);
	figure("corpus name length", "mean %.1f bytes", (double)cs->name_bytes / (double)n);
	figure("corpus text per torrent", "%.0f bytes (name and file paths)",
	       (double)cs->text_bytes / (double)n);
	figure("corpus generation", "%.0f torrents/s", bench_rate(n, wall - ns));
	figure("import put no_sync=1",
	       "%.0f torrents/s (%llu in %.2f s, batch %d, final commit included)",
	       bench_rate(n, ns), (unsigned long long)n, (double)ns / 1e9, BATCH);
	if (n_sync < n) {
		char label[64];
		snprintf(label, sizeof(label), "import put no_sync=1 (first %llu torrents)",
		         (unsigned long long)n_sync);
		figure(label, "%.0f torrents/s (%.2f s, to compare with no_sync=0)",
		       bench_rate(n_sync, first), (double)first / 1e9);
	}
	print_lat("import put", &lat);
	free(lat.ms);
	return 0;
}

static int phase_seen(bt_store *s, corpus *c, uint64_t n, int64_t now)
{
	uint64_t m = n / 5, ns = 0;
	for (uint64_t k = 0; k < m; k++) {
		uint8_t ih[20];
		bt_store_peer peers[2];
		uint64_t i = bench_rnd() % n, r = bench_rnd();
		size_t np = (size_t)(r % 3);
		for (size_t j = 0; j < np; j++) {
			memset(&peers[j], 0, sizeof(peers[j]));
			peers[j].family = 4;
			uint32_t ip = (uint32_t)(bench_rnd() | 0x01000000u);
			memcpy(peers[j].ip, &ip, 4);
			peers[j].port = (uint16_t)(1024 + r / 3 % 60000);
		}
		static const unsigned sources[] = {
		    BT_STORE_SOURCE_SAMPLE, BT_STORE_SOURCE_GET_PEERS, BT_STORE_SOURCE_ANNOUNCE};
		corpus_infohash(c, i, ih);
		uint64_t t0 = bench_now_ns();
		int rc = bt_store_seen(s, ih, 20, sources[r / 7 % 3], peers, np,
		                       now - (int64_t)(r >> 40) % 3600);
		ns += bench_now_ns() - t0;
		if (rc != 0) {
			fail("seen #%llu: %s", (unsigned long long)i,
			     rc < 0 ? bt_store_strerror(rc)
			            : "returned 1 (new) for a stored torrent");
			if (rc < 0)
				return -1;
		}
		progress("seen", k + 1, m);
	}
	uint64_t t0 = bench_now_ns();
	int rc = bt_store_commit(s);
	ns += bench_now_ns() - t0;
	if (rc) {
		fail("commit: %s", bt_store_strerror(rc));
		return -1;
	}
	figure("import seen",
	       "%.0f sightings/s (%llu re-sightings in %.2f s, final commit included)",
	       bench_rate(m, ns), (unsigned long long)m, (double)ns / 1e9);
	return 0;
}

static void phase_size(bt_store *s, uint64_t n, const struct corpus_stats *cs)
{
	bt_store_stats st;
	int rc = bt_store_get_stats(s, &st);
	if (rc) {
		fail("stats: %s", bt_store_strerror(rc));
		return;
	}
	if (st.torrents != n || st.pending)
		fail("stats: %llu torrents and %llu pending, expected %llu and 0",
		     (unsigned long long)st.torrents, (unsigned long long)st.pending,
		     (unsigned long long)n);
	figure("db bytes per torrent", "%.0f used, %.0f on disk", (double)st.bytes_used / (double)n,
	       (double)st.file_size / (double)n);
	figure("db bytes_used", "%llu (%.1f MiB)", (unsigned long long)st.bytes_used,
	       (double)st.bytes_used / MIB_D);
	figure("db file_size", "%llu (%.1f MiB)", (unsigned long long)st.file_size,
	       (double)st.file_size / MIB_D);
	figure("db map_size", "%llu (%.1f MiB)", (unsigned long long)st.map_size,
	       (double)st.map_size / MIB_D);
	figure("db torrents", "%llu (pending %llu)", (unsigned long long)st.torrents,
	       (unsigned long long)st.pending);
	figure("db files", "%llu (the corpus put %llu, %llu of them padding)",
	       (unsigned long long)st.files, (unsigned long long)cs->files,
	       (unsigned long long)cs->pads);
	figure("db terms", "%llu", (unsigned long long)st.terms);
	figure("db postings", "%llu (%.1f per torrent)", (unsigned long long)st.postings,
	       (double)st.postings / (double)n);
	figure("db page_size", "%u, schema %u", st.page_size, st.schema);
}

/* ---- searches ---- */

struct search_run {
	struct lat lat;
	uint64_t queries, results, found, total;
	uint64_t named, named_missed; /* queries taken from a stored name, and those finding none */
};

/* What every page must respect, whatever the store's ranking: the limit, the filters, the
 * order asked for, metadata present. */
static void check_page(const bt_store_query *q, const bt_store_results *r)
{
	const char *what = q->text ? q->text : "(no words)";
	if (r->count > (q->limit ? q->limit : 20) || r->total < r->count)
		fail("search \"%s\": %zu items, total %llu, limit %u", what, r->count,
		     (unsigned long long)r->total, q->limit);
	for (size_t k = 0; k < r->count; k++) {
		const bt_store_torrent *t = r->items[k], *prev = k ? r->items[k - 1] : NULL;
		if (!t->has_metadata || !t->name)
			fail("search \"%s\": item %zu has no metadata", what, k);
		if (q->min_size && t->length < q->min_size)
			fail("search \"%s\": item %zu is %llu bytes, under min_size %llu", what, k,
			     (unsigned long long)t->length, (unsigned long long)q->min_size);
		if (prev && q->sort == BT_STORE_SORT_SIZE && !q->ascending &&
		    prev->length < t->length)
			fail("search \"%s\" by size: item %zu (%llu bytes) after one of %llu", what,
			     k, (unsigned long long)t->length, (unsigned long long)prev->length);
		if (prev && q->sort == BT_STORE_SORT_ADDED && !q->ascending &&
		    prev->indexed < t->indexed)
			fail("search \"%s\" by time added: item %zu (%lld) after one of %lld", what,
			     k, (long long)t->indexed, (long long)prev->indexed);
	}
}

/* Run and time one query; the results are the caller's (NULL on failure). */
static bt_store_results *run_query(bt_store *s, const bt_store_query *q, struct search_run *r)
{
	bt_store_results *res = NULL;
	uint64_t t0 = bench_now_ns();
	int rc = bt_store_search(s, q, &res);
	r->lat.ms[r->lat.n++] = (double)(bench_now_ns() - t0) / 1e6;
	if (rc) {
		fail("search \"%s\": %s", q->text ? q->text : "(no words)", bt_store_strerror(rc));
		return NULL;
	}
	r->queries++;
	r->results += res->count;
	r->found += res->count > 0;
	r->total += res->total;
	check_page(q, res);
	return res;
}

static void print_run(const char *name, struct search_run *r, int cost)
{
	char label[96];
	print_lat(name, &r->lat);
	snprintf(label, sizeof(label), "%s results", name);
	double q = r->queries ? (double)r->queries : 1;
	figure(label, "mean %.1f per page, %.1f%% found at least one, mean %.0f matches in all",
	       (double)r->results / q, 100.0 * (double)r->found / q, (double)r->total / q);
	double ms = 0;
	for (size_t k = 0; k < r->lat.n; k++)
		ms += r->lat.ms[k];
	snprintf(label, sizeof(label), "%s cost", name);
	if (cost)
		figure(label, "%.1f ms mean, %.3f ms per 1,000 matches", ms / q,
		       r->total ? ms * 1000.0 / (double)r->total : 0.0);
	if (r->named) {
		snprintf(label, sizeof(label), "%s from stored names", name);
		figure(label, "%llu queries, %llu found nothing", (unsigned long long)r->named,
		       (unsigned long long)r->named_missed);
	}
}

/* @count corpus queries of @words words (numbers from @k0), with @min_size and @sort. */
static int search_words(bt_store *s, corpus *c, uint64_t n, const char *name, int words,
                        uint64_t k0, size_t count, uint64_t min_size, int sort)
{
	struct search_run r = {{malloc(sizeof(double) * count), 0}, 0, 0, 0, 0, 0, 0};
	unsigned shown = 0;
	if (!r.lat.ms)
		return -1;
	for (size_t k = 0; k < count && !failed; k++) {
		int named;
		bt_store_query q = BT_STORE_QUERY_INIT;
		q.text = corpus_query(c, k0 + k, words, n, &named);
		q.limit = LIMIT;
		q.min_size = min_size;
		q.sort = sort;
		bt_store_results *res = run_query(s, &q, &r);
		if (res && named && !min_size) {
			r.named++;
			if (res->total == 0) {
				r.named_missed++;
				if (shown++ < 5)
					fprintf(
					    stderr,
					    "bench-store: note: \"%s\" (from a stored name) found "
					    "nothing\n",
					    q.text);
			}
		}
		bt_store_results_free(res);
		progress(name, k + 1, count);
	}
	print_run(name, &r, 1);
	free(r.lat.ms);
	return failed ? -1 : 0;
}

static int cmp_ih(const void *a, const void *b)
{
	return memcmp(a, b, 20);
}

/* Listings without words over the whole store (a web UI's "largest" or "big ones" page). */
static int search_browse(bt_store *s, const char *name, uint64_t min_size, int sort)
{
	struct search_run r = {{malloc(sizeof(double) * BROWSE_RUNS), 0}, 0, 0, 0, 0, 0, 0};
	if (!r.lat.ms)
		return -1;
	bt_store_query q = BT_STORE_QUERY_INIT;
	q.min_size = min_size;
	q.sort = sort;
	q.limit = LIMIT;
	for (int k = 0; k < BROWSE_RUNS && !failed; k++) {
		bt_store_results_free(run_query(s, &q, &r));
		progress(name, (uint64_t)k + 1, BROWSE_RUNS);
	}
	print_run(name, &r, 1);
	free(r.lat.ms);
	return failed ? -1 : 0;
}

/* The newest torrents, first page over and over, then a walk of PAGES pages by cursor that
 * must never show a torrent twice. */
static int search_recent(bt_store *s)
{
	struct search_run r = {{malloc(sizeof(double) * SIDE_QUERIES), 0}, 0, 0, 0, 0, 0, 0};
	struct search_run w = {{malloc(sizeof(double) * PAGES), 0}, 0, 0, 0, 0, 0, 0};
	uint8_t(*seen)[20] = malloc((size_t)PAGES * LIMIT * 20);
	char *cursor = NULL;
	size_t nseen = 0;
	int rc = -1;
	if (!r.lat.ms || !w.lat.ms || !seen)
		goto out;
	bt_store_query q = BT_STORE_QUERY_INIT;
	q.sort = BT_STORE_SORT_ADDED;
	q.limit = LIMIT;
	for (int k = 0; k < SIDE_QUERIES && !failed; k++)
		bt_store_results_free(run_query(s, &q, &r));
	int64_t last = INT64_MAX;
	for (int p = 0; p < PAGES && !failed; p++) {
		q.cursor = cursor;
		bt_store_results *res = run_query(s, &q, &w);
		if (!res)
			break;
		for (size_t k = 0; k < res->count; k++) {
			if (res->items[k]->indexed > last)
				fail("recent page %d: item %zu added later than the page before",
				     p + 1, k);
			last = res->items[k]->indexed;
			memcpy(seen[nseen++], res->items[k]->infohash, 20);
		}
		free(cursor);
		cursor = res->next_cursor ? strdup(res->next_cursor) : NULL;
		bt_store_results_free(res);
		if (!cursor)
			break;
	}
	qsort(seen, nseen, 20, cmp_ih);
	for (size_t k = 1; k < nseen; k++)
		if (!memcmp(seen[k - 1], seen[k], 20)) {
			fail("recent pages: a torrent shown twice in %d pages", PAGES);
			break;
		}
	print_run("search recent", &r, 0);
	print_run("search recent by cursor", &w, 0);
	rc = failed ? -1 : 0;
out:
	free(cursor);
	free(seen);
	free(r.lat.ms);
	free(w.lat.ms);
	return rc;
}

/* ---- lookups ---- */

static int same(const bt_store_torrent *got, const bt_store_torrent *want)
{
	return got->has_metadata && got->name && !strcmp(got->name, want->name) &&
	       got->length == want->length && got->num_files == want->num_files;
}

static int phase_get(bt_store *s, corpus *c, uint64_t n)
{
	struct lat hit = {malloc(sizeof(double) * LOOKUPS), 0};
	struct lat miss = {malloc(sizeof(double) * LOOKUPS), 0};
	uint64_t v2 = 0;
	if (!hit.ms || !miss.ms)
		return -1;
	for (int k = 0; k < LOOKUPS && !failed; k++) {
		uint8_t ih[20];
		uint64_t i = bench_rnd() % n;
		bt_store_torrent *t = NULL;
		corpus_infohash(c, i, ih);
		uint64_t t0 = bench_now_ns();
		int rc = bt_store_get(s, ih, 20, &t);
		hit.ms[hit.n++] = (double)(bench_now_ns() - t0) / 1e6;
		const bt_store_torrent *want = corpus_torrent(c, i, NULL);
		if (rc) {
			fail("get #%llu \"%s\": %s", (unsigned long long)i, want->name,
			     bt_store_strerror(rc));
			break;
		}
		if (!same(t, want))
			fail("get #%llu: \"%s\" (%llu bytes, %zu files), expected \"%s\" (%llu "
			     "bytes, "
			     "%zu files)",
			     (unsigned long long)i, t->name ? t->name : "(none)",
			     (unsigned long long)t->length, t->num_files, want->name,
			     (unsigned long long)want->length, want->num_files);
		bt_store_torrent_free(t);
		if (want->versions == BT_STORE_V2) {
			/* A v2-only torrent is also found by its whole v2 infohash. */
			v2++;
			rc = bt_store_get(s, want->infohash_v2, 32, &t);
			if (rc || !same(t, want))
				fail("get #%llu by its 32-byte v2 infohash: %s",
				     (unsigned long long)i,
				     rc ? bt_store_strerror(rc) : "another torrent");
			if (!rc)
				bt_store_torrent_free(t);
		}
		progress("get", (uint64_t)k + 1, LOOKUPS);
	}
	for (int k = 0; k < LOOKUPS && !failed; k++) {
		uint8_t ih[20];
		bt_store_torrent *t = NULL;
		for (int j = 0; j < 20; j += 4) {
			uint32_t x = (uint32_t)bench_rnd();
			memcpy(ih + j, &x, 4);
		}
		uint64_t t0 = bench_now_ns();
		int rc = bt_store_get(s, ih, 20, &t);
		miss.ms[miss.n++] = (double)(bench_now_ns() - t0) / 1e6;
		if (rc != BT_STORE_E_NOTFOUND) {
			fail("get of an unknown infohash: %s",
			     rc ? bt_store_strerror(rc) : "found a torrent");
			bt_store_torrent_free(rc ? NULL : t);
		}
	}
	print_lat("get stored", &hit);
	figure("get stored checked",
	       "%zu names, lengths and file counts as put (%llu v2-only "
	       "also by their 32-byte infohash)",
	       hit.n, (unsigned long long)v2);
	print_lat("get unknown", &miss);
	free(hit.ms);
	free(miss.ms);
	return failed ? -1 : 0;
}

/* ---- main ---- */

static int usage(FILE *f)
{
	fprintf(f,
	        "usage: bench-store [--keep] [--seed S] [N [DIR]]   (N torrents, default %d; "
	        "DIR default: a fresh directory under $TMPDIR or /tmp)\n",
	        DEFAULT_N);
	return f == stdout ? 0 : 2;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || end == s || *s == '-' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t n = DEFAULT_N, seed = 1;
	const char *dir_arg = NULL;
	int keep = 0, npos = 0;
	for (int k = 1; k < argc; k++) {
		const char *a = argv[k];
		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			return usage(stdout);
		if (!strcmp(a, "--keep"))
			keep = 1;
		else if (!strcmp(a, "--seed") && k + 1 < argc) {
			if (parse_u64(argv[++k], 0, UINT64_MAX, &seed))
				return usage(stderr);
		} else if (a[0] == '-' && a[1])
			return usage(stderr);
		else if (npos == 0 && ++npos) {
			if (parse_u64(a, 1, 1000000000, &n))
				return usage(stderr);
		} else if (npos == 1 && ++npos)
			dir_arg = a;
		else
			return usage(stderr);
	}
	tty = isatty(2);

	char dir[4000], path[4096];
	int made_dir = 0;
	if (dir_arg) {
		snprintf(dir, sizeof(dir), "%s", dir_arg);
		if (mkdir(dir, 0700) == 0)
			made_dir = 1;
		else if (errno != EEXIST) {
			fprintf(stderr, "bench-store: %s: %s\n", dir, strerror(errno));
			return 1;
		}
	} else {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof(dir), "%s/bench-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir)) {
			fprintf(stderr, "bench-store: mkdtemp %s: %s\n", dir, strerror(errno));
			return 1;
		}
		made_dir = 1;
	}
	snprintf(path, sizeof(path), "%s/store.mdb", dir);
	if (access(path, F_OK) == 0) {
		fprintf(stderr, "bench-store: %s exists: give a directory without a store\n", path);
		return 1;
	}

	int64_t now = (int64_t)time(NULL);
	corpus *c = corpus_new(seed, now);
	if (!c) {
		fprintf(stderr, "bench-store: out of memory\n");
		return 1;
	}
	bench_rng = 0x9e3779b97f4a7c15ull ^ seed;
	struct corpus_stats *cs = calloc(1, sizeof(*cs));
	bt_store *s = NULL;
	figure("bench-store", "libbtstore %s, %llu torrents, seed %llu, in %s", bt_store_version(),
	       (unsigned long long)n, (unsigned long long)seed, dir);
	uint64_t n_sync = n < SYNC_N ? n : SYNC_N;
	if (!cs || phase_sync(dir, c, n_sync, keep) || open_store(&s, path, 1) ||
	    phase_import(s, c, n, n_sync, cs) || phase_seen(s, c, n, now))
		goto out;
	phase_size(s, n, cs);
	if (failed || search_words(s, c, n, "search one-word", 1, 0, QUERIES, 0, 0) ||
	    search_words(s, c, n, "search two-word", 2, 0, QUERIES, 0, 0) ||
	    search_words(s, c, n, "search one-word min_size 1GiB", 1, 100000, SIDE_QUERIES, GIB,
	                 BT_STORE_SORT_RELEVANCE) ||
	    search_words(s, c, n, "search one-word sort size", 1, 200000, SIDE_QUERIES, 0,
	                 BT_STORE_SORT_SIZE) ||
	    search_recent(s) ||
	    search_browse(s, "search no words min_size 1GiB", GIB, BT_STORE_SORT_ADDED) ||
	    search_browse(s, "search no words sort size", 0, BT_STORE_SORT_SIZE) ||
	    phase_get(s, c, n))
		goto out;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	figure("peak memory",
	       "%.1f MiB (ru_maxrss: LMDB's mapped pages that were read count in it)",
	       (double)ru.ru_maxrss / 1024.0);
out:
	bt_store_close(s);
	figure("store log", "%u errors, %u warnings, %u info", log_counts[0], log_counts[1],
	       log_counts[2]);
	if (!keep) {
		remove_store(path);
		if (made_dir)
			rmdir(dir);
	} else {
		figure("kept", "%s", dir);
	}
	corpus_free(c);
	free(cs);
	if (failed)
		figure("result", "FAILED");
	return failed ? 1 : 0;
}
