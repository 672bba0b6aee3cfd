/*
 * test-meta-fetch.c - the public API of libbtmeta (btmeta.h) fetching metadata from real TCP
 * peers on loopback.  Each peer is a fake-peer.h peer that serves honestly or lies in one
 * chosen way; each lie must end in its own counted failure (bt_meta_stats.fail_*), the job in
 * BT_META_E_NOPEERS, and nothing worse.  Honest peers must deliver the exact bytes, the fastest
 * of several must win and the others be cancelled, and a bt_meta that serves must feed another.
 *
 * Every test runs on its own addresses in 127.0.63.0/24 with ports chosen by the system, so the
 * suite runs beside others.  The loop runs until the expected result arrived, bounded by a
 * deadline that fails the test; nothing sleeps.  Set BT_TEST_LOG=1 to see the manager's log.
 */
#include "config.h"

#include <check.h>

#include "test-util.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "btmeta.h"
#include "fake-peer.h"

#define DEADLINE_MS 10000 /* no test waits longer for one thing */
#define NUM_HASHES 2000   /* "pieces" of 2000 SHA-1s: a 40 KiB dictionary, 3 metadata pieces */
#define META_PIECES 3
#define MAX_FAKES 8

/* ---- fixture ---- */

static struct {
	struct event_base *base;
	bt_meta *m;      /* the fetching manager */
	bt_meta *server; /* a serving manager, when the test has one */
	fake_peer *fakes[MAX_FAKES];
	int nfakes;
	int closed_fd; /* a bound socket that never listens: connections to it are refused */
	int timed_out;
	/* What on_result saw. */
	int results;
	int server_results;
	int status;
	uint8_t *raw;
	size_t raw_len;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	uint32_t elapsed_ms;
	unsigned peers_tried;
	uint8_t result_ih[32];
	/* The info dictionary every test fetches. */
	uint8_t *dict;
	size_t dict_len;
	uint8_t ih[20];
} T;

/* d6:lengthi..e4:name..12:piece lengthi16384e6:pieces<20*n>e, keys in canonical order. */
static void make_dict(void)
{
	char head[160];
	int hl = snprintf(head, sizeof(head),
	                  "d6:lengthi%llue4:name13:fake-meta.bin12:piece lengthi16384e6:pieces%u:",
	                  (unsigned long long)NUM_HASHES * 16384, NUM_HASHES * 20);
	ck_assert_int_gt(hl, 0);
	T.dict_len = (size_t)hl + NUM_HASHES * 20 + 1;
	T.dict = malloc(T.dict_len);
	ck_assert_ptr_nonnull(T.dict);
	memcpy(T.dict, head, (size_t)hl);
	bt_test_rng = 0x5eed0f3e7a11ull;
	for (size_t i = 0; i < NUM_HASHES * 20; i++)
		T.dict[(size_t)hl + i] = (uint8_t)bt_test_rnd();
	T.dict[T.dict_len - 1] = 'e';
	ck_assert_int_eq(EVP_Digest(T.dict, T.dict_len, T.ih, NULL, EVP_sha1(), NULL), 1);
	/* 3 pieces: more than 2 * 16 KiB, at most 3. */
	ck_assert_uint_gt(T.dict_len, 2 * 16384);
	ck_assert_uint_le(T.dict_len, 3 * 16384);
}

static void setup(void)
{
	memset(&T, 0, sizeof(T));
	T.closed_fd = -1;
	T.base = event_base_new();
	ck_assert_ptr_nonnull(T.base);
	make_dict();
}

static void teardown(void)
{
	bt_meta_free(T.m);
	bt_meta_free(T.server);
	for (int i = 0; i < T.nfakes; i++)
		fake_peer_free(T.fakes[i]);
	if (T.closed_fd >= 0)
		close(T.closed_fd);
	event_base_free(T.base);
	free(T.raw);
	free(T.dict);
}

/* ---- the manager's callbacks and options ---- */

static void on_result(const bt_meta_result *r, void *ud)
{
	if (ud == &T.server_results) {
		T.server_results++; /* a server has no jobs: counted to be asserted 0 */
		return;
	}
	T.results++;
	T.status = r->status;
	T.elapsed_ms = r->elapsed_ms;
	T.peers_tried = r->peers_tried;
	ck_assert_ptr_nonnull(r->infohash);
	ck_assert(r->infohash_len == 20 || r->infohash_len == 32);
	memcpy(T.result_ih, r->infohash, r->infohash_len);
	if (r->status != 0) {
		ck_assert_ptr_null(r->info);
		return;
	}
	ck_assert_ptr_nonnull(r->info);
	ck_assert_ptr_nonnull(r->peer);
	ck_assert_uint_le(r->peer_len, sizeof(T.peer));
	free(T.raw);
	T.raw = malloc(r->info->raw_len);
	ck_assert_ptr_nonnull(T.raw);
	memcpy(T.raw, r->info->raw, r->info->raw_len);
	T.raw_len = r->info->raw_len;
	memcpy(&T.peer, r->peer, r->peer_len);
	T.peer_len = r->peer_len;
}

static void on_log(int level, const char *msg, void *ud)
{
	(void)ud;
	static const char *const names[] = {"error", "warn", "info", "debug"};
	fprintf(stderr, "  [meta %s] %s\n", level >= 0 && level <= 3 ? names[level] : "?", msg);
}

/* Small timeouts, so that every failure happens within about a second. */
static bt_meta_options fast_options(void)
{
	bt_meta_options o = BT_META_OPTIONS_INIT;
	o.base = T.base;
	o.on_result = on_result;
	o.cb_ud = &T;
	if (getenv("BT_TEST_LOG"))
		o.log = on_log;
	o.connect_timeout_ms = 1000;
	o.handshake_timeout_ms = 1000;
	o.idle_timeout_ms = 1000;
	o.peer_timeout_ms = 5000;
	o.job_timeout_ms = 8000;
	return o;
}

static void client_new(const bt_meta_options *o)
{
	ck_assert_int_eq(bt_meta_new(&T.m, o), 0);
	ck_assert_ptr_nonnull(T.m);
}

/* ---- peers ---- */

static fake_peer *fake_at(const char *addr, int mode)
{
	ck_assert_int_lt(T.nfakes, MAX_FAKES);
	fake_peer *fp = NULL;
	int err = fake_peer_new(&fp, T.base, addr, mode, T.dict, T.dict_len);
	ck_assert_msg(err == 0, "fake_peer_new(%s, %s): %s", addr, fake_peer_mode_name(mode),
	              strerror(-err));
	T.fakes[T.nfakes++] = fp;
	return fp;
}

/* A fake peer on 127.0.63.@host. */
static fake_peer *fake(int host, int mode)
{
	char addr[32];
	snprintf(addr, sizeof(addr), "127.0.63.%d:0", host);
	return fake_at(addr, mode);
}

static void submit_fake(fake_peer *fp)
{
	struct sockaddr_storage ss;
	socklen_t sl = fake_peer_sockaddr(fp, &ss);
	ck_assert_int_eq(bt_meta_submit(T.m, T.ih, 20, (struct sockaddr *)&ss, sl), 0);
}

/* An address on 127.0.63.@host where nothing listens: a bound socket that never calls
 * listen(), kept open so that no one else takes the port while the test runs. */
static socklen_t refusing_addr(int host, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	memset(ss, 0, sizeof(*ss));
	s4->sin_family = AF_INET;
	s4->sin_addr.s_addr = htonl(0x7f3f0000u | (uint32_t)host);
	T.closed_fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(T.closed_fd, 0);
	ck_assert_int_eq(bind(T.closed_fd, (struct sockaddr *)s4, sizeof(*s4)), 0);
	socklen_t sl = sizeof(*s4);
	ck_assert_int_eq(getsockname(T.closed_fd, (struct sockaddr *)s4, &sl), 0);
	return sl;
}

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return 0;
}

static int result_from(fake_peer *fp)
{
	struct sockaddr_storage ss;
	fake_peer_sockaddr(fp, &ss);
	return T.peer_len > 0 && same_addr(&T.peer, &ss);
}

/* ---- running the loop ---- */

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	T.timed_out = 1;
}

/* Run the loop until @cond(@arg) holds or @ms passed; returns whether it holds.  The condition
 * is checked after every round of callbacks, and only events change it. */
static int run_until(int (*cond)(const void *), const void *arg, unsigned ms)
{
	struct event *dl = evtimer_new(T.base, on_deadline, NULL);
	ck_assert_ptr_nonnull(dl);
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(dl, &tv);
	T.timed_out = 0;
	while (!cond(arg) && !T.timed_out)
		ck_assert_int_ge(event_base_loop(T.base, EVLOOP_ONCE), 0);
	event_free(dl);
	return cond(arg);
}

static int have_results(const void *arg)
{
	return T.results >= *(const int *)arg;
}

static void wait_results(int n)
{
	ck_assert_msg(run_until(have_results, &n, DEADLINE_MS),
	              "%d result(s) expected within %d ms, %d arrived", n, DEADLINE_MS, T.results);
}

/* The fake peer's connections are all closed. */
static int fake_drained(const void *arg)
{
	fake_peer_stats st;
	fake_peer_get_stats((fake_peer *)(uintptr_t)arg, &st);
	return st.accepted > 0 && st.open == 0;
}

static int fake_requested(const void *arg)
{
	fake_peer_stats st;
	fake_peer_get_stats((fake_peer *)(uintptr_t)arg, &st);
	return st.requests > 0;
}

static bt_meta_stats stats_of(const bt_meta *m)
{
	bt_meta_stats s;
	memset(&s, 0xa5, sizeof(s));
	ck_assert_int_eq(bt_meta_get_stats(m, &s), 0);
	return s;
}

static uint64_t fails_total(const bt_meta_stats *s)
{
	return s->fail_connect + s->fail_protocol + s->fail_noext + s->fail_reject + s->fail_size +
	       s->fail_hash + s->fail_closed + s->fail_slow + s->fail_memory;
}

/* The stats counter of peer failures with code @code. */
static uint64_t fails_of(const bt_meta_stats *s, int code)
{
	switch (code) {
	case BT_META_E_CONNECT:
		return s->fail_connect;
	case BT_META_E_PROTOCOL:
		return s->fail_protocol;
	case BT_META_E_NOEXT:
		return s->fail_noext;
	case BT_META_E_REJECT:
		return s->fail_reject;
	case BT_META_E_SIZE:
		return s->fail_size;
	case BT_META_E_HASH:
		return s->fail_hash;
	case BT_META_E_CLOSED:
		return s->fail_closed;
	case BT_META_E_SLOW:
		return s->fail_slow;
	default:
		ck_abort_msg("no counter for %d", code);
		return 0;
	}
}

static void assert_fetched_dict(void)
{
	ck_assert_int_eq(T.status, 0);
	ck_assert_uint_eq(T.raw_len, T.dict_len);
	ck_assert(memcmp(T.raw, T.dict, T.dict_len) == 0);
	ck_assert(memcmp(T.result_ih, T.ih, 20) == 0);
}

/* ---- the info dictionary itself ---- */

START_TEST(test_info_parse)
{
	bt_meta_info *info = NULL;
	ck_assert_int_eq(bt_meta_info_parse(&info, T.dict, T.dict_len), 0);
	ck_assert_str_eq(info->name, "fake-meta.bin");
	ck_assert_uint_eq(info->piece_length, 16384);
	ck_assert_uint_eq(info->num_pieces, NUM_HASHES);
	ck_assert_uint_eq(info->total_length, (uint64_t)NUM_HASHES * 16384);
	ck_assert_uint_eq(info->num_files, 1);
	ck_assert_uint_eq(info->versions, BT_META_V1);
	ck_assert_uint_eq(info->raw_len, T.dict_len);
	ck_assert(memcmp(info->sha1, T.ih, 20) == 0);
	ck_assert_int_eq(bt_meta_info_matches(info, T.ih, 20), 1);
	bt_meta_info_free(info);

	/* Cut short, or a byte changed in the canonical framing: not an info dictionary. */
	info = (bt_meta_info *)1;
	ck_assert_int_eq(bt_meta_info_parse(&info, T.dict, T.dict_len - 1), BT_META_E_FORMAT);
	ck_assert_ptr_null(info);
	ck_assert_int_eq(bt_meta_info_parse(&info, (const uint8_t *)"d4:name1:xe", 11),
	                 BT_META_E_FORMAT);
	bt_meta_info_free(NULL);
}
END_TEST

/* ---- fetching ---- */

START_TEST(test_honest_fetch)
{
	fake_peer *fp = fake(10, FP_HONEST);
	bt_meta_options o = fast_options();
	client_new(&o);
	submit_fake(fp);
	/* The same infohash and peer again: the same job. */
	submit_fake(fp);
	wait_results(1);

	assert_fetched_dict();
	ck_assert(result_from(fp));
	ck_assert_uint_eq(T.peers_tried, 1);

	bt_meta_stats s = stats_of(T.m);
	ck_assert_uint_eq(s.jobs_submitted, 1);
	ck_assert_uint_eq(s.jobs_done, 1);
	ck_assert_uint_eq(s.jobs_failed, 0);
	ck_assert_uint_eq(s.fetches_ok, 1);
	ck_assert_uint_eq(fails_total(&s), 0);
	ck_assert_uint_eq(s.peers_banned, 0);
	ck_assert_uint_eq(s.conns_out, 1);
	ck_assert_uint_ge(s.bytes_in, T.dict_len);
	ck_assert_uint_eq(s.buffer_bytes, 0);

	/* The fake saw one client that spoke BEP 10, asked for each piece once with our id. */
	fake_peer_stats fs;
	fake_peer_get_stats(fp, &fs);
	ck_assert_uint_eq(fs.accepted, 1);
	ck_assert_uint_eq(fs.handshakes, 1);
	ck_assert_uint_eq(fs.ext_handshakes, 1);
	ck_assert(memcmp(fs.last_infohash, T.ih, 20) == 0);
	ck_assert_uint_ne(fs.last_client_ut, 0);
	ck_assert_uint_eq(fs.requests, META_PIECES);
	ck_assert_uint_eq(fs.pieces_sent, META_PIECES);

	struct sockaddr_storage ss;
	socklen_t sl = fake_peer_sockaddr(fp, &ss);
	bt_meta_peer_health h;
	ck_assert_int_eq(bt_meta_peer_get(T.m, (struct sockaddr *)&ss, sl, &h), 0);
	ck_assert_uint_eq(h.successes, 1);
	ck_assert_uint_eq(h.failures, 0);
	ck_assert_int_eq(h.last_error, 0);
	ck_assert_uint_eq(h.banned_ms, 0);

	/* The job is over: nothing to cancel; the connection is closed. */
	ck_assert_int_eq(bt_meta_cancel(T.m, T.ih, 20), BT_META_E_NOENT);
	ck_assert(run_until(fake_drained, fp, DEADLINE_MS));
}
END_TEST

/*
 * One peer that lies or breaks in one way: its failure is counted under @code (or @alt), the
 * job ends with BT_META_E_NOPEERS, and the peer's health record says why.  Mode -1 is an
 * address where nothing listens.
 */
static const struct liar {
	int mode;
	int code;
	int alt;            /* another acceptable code, or 0 */
	int never_requests; /* the client must not ask for a piece */
} liars[] = {
    {FP_HUGE_SIZE, BT_META_E_SIZE, 0, 1},
    {FP_BAD_PIECES, BT_META_E_HASH, 0, 0},
    {FP_DRIP, BT_META_E_SLOW, 0, 0},
    {FP_CLOSE_MID, BT_META_E_CLOSED, 0, 0},
    {FP_SILENT, BT_META_E_SLOW, 0, 0},
    {FP_REJECT, BT_META_E_REJECT, 0, 0},
    {FP_NO_EXT, BT_META_E_NOEXT, 0, 1},
    {FP_WRONG_INFOHASH, BT_META_E_PROTOCOL, 0, 1},
    {FP_WRONG_PIECE_SIZE, BT_META_E_SIZE, 0, 0},
    {FP_BIG_MESSAGE, BT_META_E_PROTOCOL, BT_META_E_SIZE, 0},
    {FP_GARBAGE, BT_META_E_PROTOCOL, 0, 1},
    {FP_NO_SIZE, BT_META_E_NOEXT, 0, 1},
    {-1, BT_META_E_CONNECT, 0, 1},
};
#define NUM_LIARS ((int)(sizeof(liars) / sizeof(liars[0])))

START_TEST(test_liar)
{
	const struct liar *l = &liars[_i];
	bt_meta_options o = fast_options();
	struct sockaddr_storage ss;
	socklen_t sl;
	fake_peer *fp = NULL;
	if (l->mode >= 0) {
		fp = fake(100 + _i, l->mode);
		sl = fake_peer_sockaddr(fp, &ss);
	} else {
		sl = refusing_addr(100 + _i, &ss);
	}
	if (l->mode == FP_DRIP) {
		/* Bytes keep coming (every 250 ms, within the idle timeout), too slowly: only the
		 * per-peer deadline can end it. */
		fake_peer_set_drip_ms(fp, 250);
		o.peer_timeout_ms = 1500;
	}
	client_new(&o);
	ck_assert_int_eq(bt_meta_submit(T.m, T.ih, 20, (struct sockaddr *)&ss, sl), 0);
	wait_results(1);

	const char *what = l->mode >= 0 ? fake_peer_mode_name(l->mode) : "refused";
	ck_assert_msg(T.status == BT_META_E_NOPEERS, "%s: job status %d (%s)", what, T.status,
	              bt_meta_strerror(T.status));
	ck_assert_ptr_null(T.raw);

	bt_meta_stats s = stats_of(T.m);
	uint64_t n = fails_of(&s, l->code) + (l->alt ? fails_of(&s, l->alt) : 0);
	ck_assert_msg(n == 1 && fails_total(&s) == 1,
	              "%s: expected one %s failure; connect %llu protocol %llu noext %llu reject "
	              "%llu size %llu hash %llu closed %llu slow %llu memory %llu",
	              what, bt_meta_strerror(l->code), (unsigned long long)s.fail_connect,
	              (unsigned long long)s.fail_protocol, (unsigned long long)s.fail_noext,
	              (unsigned long long)s.fail_reject, (unsigned long long)s.fail_size,
	              (unsigned long long)s.fail_hash, (unsigned long long)s.fail_closed,
	              (unsigned long long)s.fail_slow, (unsigned long long)s.fail_memory);
	ck_assert_uint_eq(s.jobs_failed, 1);
	ck_assert_uint_eq(s.jobs_done, 0);
	ck_assert_uint_eq(s.fetches_ok, 0);
	ck_assert_uint_eq(s.buffer_bytes, 0);
	ck_assert_uint_eq(s.conns_open, 0);
	ck_assert_uint_eq(s.peers_banned, l->code == BT_META_E_HASH ? 1 : s.peers_banned);

	bt_meta_peer_health h;
	ck_assert_int_eq(bt_meta_peer_get(T.m, (struct sockaddr *)&ss, sl, &h), 0);
	ck_assert_uint_ge(h.failures, 1);
	ck_assert_uint_eq(h.successes, 0);
	ck_assert_msg(h.last_error == l->code || (l->alt && h.last_error == l->alt),
	              "%s: last_error %d", what, h.last_error);
	if (l->code == BT_META_E_HASH) {
		/* Metadata that does not hash is a lie: banned. */
		ck_assert_uint_gt(h.banned_ms, 0);
	}

	if (fp) {
		fake_peer_stats fs;
		fake_peer_get_stats(fp, &fs);
		ck_assert_uint_eq(fs.accepted, 1);
		if (l->never_requests)
			ck_assert_msg(fs.requests == 0, "%s: the client asked for %u piece(s)",
			              what, fs.requests);
		ck_assert(run_until(fake_drained, fp, DEADLINE_MS));
	}
}
END_TEST

/* A liar and an honest peer tried in parallel: the job succeeds from the honest one. */
START_TEST(test_liar_and_honest)
{
	fake_peer *liar = fake(30, FP_BAD_PIECES);
	fake_peer *honest = fake(31, FP_HONEST);
	bt_meta_options o = fast_options();
	client_new(&o);
	submit_fake(liar);
	submit_fake(honest);
	wait_results(1);
	assert_fetched_dict();
	ck_assert(result_from(honest));
	bt_meta_stats s = stats_of(T.m);
	ck_assert_uint_eq(s.fetches_ok, 1);
	ck_assert_uint_eq(s.jobs_done, 1);
	ck_assert_uint_le(s.fail_hash, 1);
}
END_TEST

/* A memory budget smaller than the metadata: not the peer's fault.  Its health stays clean, and
 * the job tries it again (a second later) until its deadline. */
START_TEST(test_memory_budget)
{
	fake_peer *fp = fake(34, FP_HONEST);
	bt_meta_options o = fast_options();
	o.max_buffer_memory = T.dict_len / 2;
	o.job_timeout_ms = 2600;
	client_new(&o);
	submit_fake(fp);
	wait_results(1);
	ck_assert_int_eq(T.status, BT_META_E_TIMEOUT);
	bt_meta_stats s = stats_of(T.m);
	ck_assert_uint_ge(s.fail_memory, 2);
	ck_assert_uint_eq(s.fail_memory, fails_total(&s));
	ck_assert_uint_ge(s.conns_out, 2);
	ck_assert_uint_eq(s.buffer_bytes, 0);
	struct sockaddr_storage ss;
	socklen_t sl = fake_peer_sockaddr(fp, &ss);
	bt_meta_peer_health h;
	ck_assert_int_eq(bt_meta_peer_get(T.m, (struct sockaddr *)&ss, sl, &h), BT_META_E_NOENT);
	fake_peer_stats fs;
	fake_peer_get_stats(fp, &fs);
	ck_assert_uint_eq(fs.requests, 0);
}
END_TEST

/* One peer at a time, the liar first: the job falls over to the next peer. */
START_TEST(test_liar_then_honest)
{
	fake_peer *liar = fake(32, FP_REJECT);
	fake_peer *honest = fake(33, FP_HONEST);
	bt_meta_options o = fast_options();
	o.peers_per_job = 1;
	client_new(&o);
	submit_fake(liar);
	submit_fake(honest);
	wait_results(1);
	assert_fetched_dict();
	ck_assert(result_from(honest));
	bt_meta_stats s = stats_of(T.m);
	ck_assert_uint_eq(s.fetches_ok, 1);
	ck_assert_uint_le(s.fail_reject, 1);
	ck_assert_uint_eq(fails_total(&s), s.fail_reject);
	ck_assert_uint_eq(s.fail_reject + 1, T.peers_tried);
	ck_assert_uint_le(s.conns_peak, 1);
}
END_TEST

/* Three honest peers, two of them slow: the fast one wins, the others are cancelled without
 * waiting for them. */
START_TEST(test_early_cancel)
{
	const unsigned delay = 800; /* below the handshake timeout: slow, not failing */
	fake_peer *slow1 = fake(40, FP_HONEST_SLOW);
	fake_peer *slow2 = fake(41, FP_HONEST_SLOW);
	fake_peer *quick = fake(42, FP_HONEST);
	fake_peer_set_delay_ms(slow1, delay);
	fake_peer_set_delay_ms(slow2, delay);
	bt_meta_options o = fast_options();
	o.peers_per_job = 3;
	client_new(&o);
	submit_fake(slow1);
	submit_fake(slow2);
	submit_fake(quick);
	wait_results(1);
	assert_fetched_dict();
	ck_assert(result_from(quick));
	ck_assert_uint_lt(T.elapsed_ms, delay);
	bt_meta_stats s = stats_of(T.m);
	ck_assert_uint_eq(s.fetches_ok, 1);
	ck_assert_uint_ge(s.cancelled_conns, 1);
	ck_assert_uint_eq(fails_total(&s), 0);
	/* The losers' connections are closed (as seen from their side). */
	ck_assert(run_until(fake_drained, slow1, DEADLINE_MS));
	ck_assert(run_until(fake_drained, slow2, DEADLINE_MS));
	ck_assert_uint_eq(stats_of(T.m).conns_open, 0);
}
END_TEST

START_TEST(test_cancel)
{
	fake_peer *fp = fake(50, FP_SILENT);
	bt_meta_options o = fast_options();
	o.idle_timeout_ms = 5000; /* the silence must outlast the test */
	client_new(&o);
	submit_fake(fp);
	/* Cancel once the job is running and waiting for a piece. */
	ck_assert(run_until(fake_requested, fp, DEADLINE_MS));
	ck_assert_int_eq(T.results, 0);
	ck_assert_int_eq(bt_meta_cancel(T.m, T.ih, 20), 0);
	wait_results(1);
	ck_assert_int_eq(T.status, BT_META_E_CANCELLED);
	ck_assert(memcmp(T.result_ih, T.ih, 20) == 0);
	ck_assert_int_eq(bt_meta_cancel(T.m, T.ih, 20), BT_META_E_NOENT);
	bt_meta_stats s = stats_of(T.m);
	ck_assert_uint_eq(s.jobs_cancelled, 1);
	ck_assert_uint_eq(s.jobs_failed, 0);
	ck_assert_uint_eq(s.jobs_active, 0);
	ck_assert(run_until(fake_drained, fp, DEADLINE_MS));

	/* A queued job, without a peer yet, is cancelled too. */
	uint8_t other[20];
	memset(other, 0x42, sizeof(other));
	ck_assert_int_eq(bt_meta_submit(T.m, other, 20, NULL, 0), 0);
	ck_assert_uint_eq(stats_of(T.m).jobs_queued, 1);
	ck_assert_int_eq(bt_meta_cancel(T.m, other, 20), 0);
	wait_results(2);
	ck_assert_int_eq(T.status, BT_META_E_CANCELLED);
	ck_assert(memcmp(T.result_ih, other, 20) == 0);
	ck_assert_uint_eq(stats_of(T.m).jobs_queued, 0);
}
END_TEST

START_TEST(test_ipv6)
{
	fake_peer *fp = NULL;
	int err = fake_peer_new(&fp, T.base, "[::1]:0", FP_HONEST, T.dict, T.dict_len);
	if (err < 0) {
		fprintf(stderr, "test_ipv6: skipped, cannot bind [::1]: %s\n", strerror(-err));
		return;
	}
	T.fakes[T.nfakes++] = fp;
	bt_meta_options o = fast_options();
	client_new(&o);
	submit_fake(fp);
	wait_results(1);
	assert_fetched_dict();
	ck_assert_int_eq(T.peer.ss_family, AF_INET6);
	ck_assert(result_from(fp));
	ck_assert_uint_eq(stats_of(T.m).fetches_ok, 1);
}
END_TEST

/* ---- serving ---- */

START_TEST(test_serve)
{
	bt_meta_options so = fast_options();
	so.cb_ud = &T.server_results;
	ck_assert_int_eq(bt_meta_new(&T.server, &so), 0);
	ck_assert_int_eq(bt_meta_serve_add(T.server, T.dict, T.dict_len), 0);
	ck_assert_int_eq(bt_meta_serve_add(T.server, T.dict, T.dict_len), BT_META_E_EXISTS);
	ck_assert_int_eq(bt_meta_serve_add(T.server, T.dict, T.dict_len - 1), BT_META_E_FORMAT);

	struct sockaddr_in la;
	memset(&la, 0, sizeof(la));
	la.sin_family = AF_INET;
	la.sin_addr.s_addr = htonl(0x7f3f003cu); /* 127.0.63.60, port 0 */
	struct sockaddr_storage bound;
	memset(&bound, 0, sizeof(bound));
	ck_assert_int_eq(bt_meta_listen(T.server, (struct sockaddr *)&la, sizeof(la), &bound), 0);
	ck_assert_int_eq(bound.ss_family, AF_INET);
	ck_assert_uint_ne(((struct sockaddr_in *)&bound)->sin_port, 0);
	ck_assert_uint_eq(((struct sockaddr_in *)&bound)->sin_addr.s_addr, la.sin_addr.s_addr);

	bt_meta_options o = fast_options();
	client_new(&o);
	ck_assert_int_eq(
	    bt_meta_submit(T.m, T.ih, 20, (struct sockaddr *)&bound, sizeof(struct sockaddr_in)),
	    0);
	wait_results(1);
	assert_fetched_dict();
	ck_assert(same_addr(&T.peer, &bound));

	bt_meta_stats ss = stats_of(T.server);
	ck_assert_uint_eq(ss.served_torrents, 1);
	ck_assert_uint_eq(ss.served_pieces, META_PIECES);
	ck_assert_uint_eq(ss.served_rejects, 0);
	ck_assert_uint_eq(ss.served_complete, 1);
	ck_assert_uint_eq(ss.conns_in, 1);
	ck_assert_uint_ge(ss.bytes_out, T.dict_len);
	ck_assert_uint_eq(stats_of(T.m).fetches_ok, 1);

	/* An infohash the server does not serve: it hangs up, the job finds no peer. */
	uint8_t other[20];
	memcpy(other, T.ih, 20);
	other[0] ^= 1;
	ck_assert_int_eq(
	    bt_meta_submit(T.m, other, 20, (struct sockaddr *)&bound, sizeof(struct sockaddr_in)),
	    0);
	wait_results(2);
	ck_assert_int_eq(T.status, BT_META_E_NOPEERS);
	ck_assert_uint_eq(stats_of(T.server).served_pieces, META_PIECES);

	ck_assert_int_eq(bt_meta_serve_remove(T.server, T.ih, 20), 0);
	ck_assert_int_eq(bt_meta_serve_remove(T.server, T.ih, 20), BT_META_E_NOENT);
	ck_assert_uint_eq(stats_of(T.server).served_torrents, 0);
	ck_assert_int_eq(T.server_results, 0);
}
END_TEST

/* ---- arguments ---- */

START_TEST(test_bad_args)
{
	bt_meta *m = NULL;
	bt_meta_options o = fast_options();
	o.version = 99;
	ck_assert_int_eq(bt_meta_new(&m, &o), BT_META_E_VERSION);
	o = fast_options();
	o.base = NULL;
	ck_assert_int_eq(bt_meta_new(&m, &o), BT_META_E_INVAL);
	ck_assert_int_eq(bt_meta_new(&m, NULL), BT_META_E_INVAL);
	bt_meta_free(NULL);

	o = fast_options();
	client_new(&o);
	struct sockaddr_in p;
	memset(&p, 0, sizeof(p));
	p.sin_family = AF_INET;
	p.sin_addr.s_addr = htonl(0x7f3f0046u); /* 127.0.63.70 */
	p.sin_port = htons(6881);
	const struct sockaddr *sa = (const struct sockaddr *)&p;
	ck_assert_int_eq(bt_meta_submit(T.m, T.ih, 19, sa, sizeof(p)), BT_META_E_INVAL);
	ck_assert_int_eq(bt_meta_submit(T.m, T.ih, 21, sa, sizeof(p)), BT_META_E_INVAL);
	ck_assert_int_eq(bt_meta_submit(T.m, NULL, 20, sa, sizeof(p)), BT_META_E_INVAL);
	p.sin_port = 0;
	ck_assert_int_eq(bt_meta_submit(T.m, T.ih, 20, sa, sizeof(p)), BT_META_E_INVAL);
	struct sockaddr_un un;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	ck_assert_int_eq(bt_meta_submit(T.m, T.ih, 20, (struct sockaddr *)&un, sizeof(un)),
	                 BT_META_E_INVAL);
	bt_meta_stats s = stats_of(T.m);
	ck_assert_uint_eq(s.jobs_submitted, 0);
	ck_assert_uint_eq(s.jobs_queued, 0);

	ck_assert_int_eq(bt_meta_cancel(T.m, T.ih, 20), BT_META_E_NOENT);
	p.sin_port = htons(6881);
	bt_meta_peer_health h;
	ck_assert_int_eq(bt_meta_peer_get(T.m, sa, sizeof(p), &h), BT_META_E_NOENT);
	ck_assert_int_eq(bt_meta_get_stats(NULL, &s), BT_META_E_INVAL);
	ck_assert_int_eq(bt_meta_serve_add(T.m, (const uint8_t *)"garbage", 7), BT_META_E_FORMAT);
	ck_assert_int_eq(bt_meta_serve_remove(T.m, T.ih, 20), BT_META_E_NOENT);

	static const int codes[] = {
	    BT_META_E_INVAL,    BT_META_E_NOMEM,   BT_META_E_VERSION,   BT_META_E_EXISTS,
	    BT_META_E_NOENT,    BT_META_E_LIMIT,   BT_META_E_FORMAT,    BT_META_E_HASH,
	    BT_META_E_NOPEERS,  BT_META_E_TIMEOUT, BT_META_E_CANCELLED, BT_META_E_CONNECT,
	    BT_META_E_PROTOCOL, BT_META_E_NOEXT,   BT_META_E_REJECT,    BT_META_E_SIZE,
	    BT_META_E_CLOSED,   BT_META_E_SLOW,    -ECONNREFUSED,       0,
	    -1234567,
	};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *t = bt_meta_strerror(codes[i]);
		ck_assert_ptr_nonnull(t);
		ck_assert_uint_gt(strlen(t), 0);
	}
	ck_assert_str_ne(bt_meta_strerror(BT_META_E_NOPEERS), bt_meta_strerror(BT_META_E_HASH));
	ck_assert_ptr_nonnull(bt_meta_version());
	ck_assert_uint_gt(strlen(bt_meta_version()), 0);
	ck_assert_int_eq(T.results, 0);
}
END_TEST

static Suite *meta_fetch_suite(void)
{
	Suite *s = suite_create("meta-fetch");
	struct {
		const char *name;
		const TTest *tests[4];
	} cases[] = {
	    {"info", {test_info_parse}},
	    {"honest", {test_honest_fetch, test_ipv6}},
	    {"choice", {test_liar_and_honest, test_liar_then_honest, test_early_cancel}},
	    {"cancel", {test_cancel, test_memory_budget}},
	    {"serve", {test_serve}},
	    {"api", {test_bad_args}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		/* Each test takes at most a few seconds; the margin is for sanitizer builds. */
		tcase_set_timeout(tc, 30);
		for (size_t j = 0; j < 4 && cases[i].tests[j]; j++)
			tcase_add_test(tc, cases[i].tests[j]);
		suite_add_tcase(s, tc);
	}
	TCase *tc = tcase_create("liars");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_liar, 0, NUM_LIARS);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return bt_test_run(meta_fetch_suite());
}
