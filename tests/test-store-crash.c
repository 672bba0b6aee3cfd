/*
 * test-store-crash.c - a writer killed at any point leaves a store that opens and holds every
 * torrent it committed.
 *
 * Each round forks a writer that indexes torrents numbered from where the last round's
 * committed ones end, mixed with sightings, re-puts and deletes, committing after a random
 * number of writes and reporting each commit's last number on a pipe only after
 * bt_store_commit() returned.  The parent lets it run for a random number of commits, waits a
 * random fraction of a millisecond more so the kill lands inside a batch as often as between
 * them, and sends SIGKILL.  It then opens the store and checks every committed torrent is there,
 * whole (name, files), and found by search; and the store's counts agree with what it holds.
 * Rounds alternate between synchronous commits and MDB_NOSYNC, which a process crash must not
 * hurt either (the kernel keeps the written pages).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "btstore.h"
#include "test-util.h"

#define ROUNDS 60

static char dir[64], path[128];

static void make_ih(uint32_t n, uint8_t ih[20])
{
	uint64_t x = n * 0x9E3779B97F4A7C15ull + 1;
	for (int i = 0; i < 20; i++) {
		x ^= x >> 29;
		x *= 0xBF58476D1CE4E5B9ull;
		ih[i] = (uint8_t)(x >> 56);
	}
	ih[0] = 0x42; /* torrents; sightings use other first bytes */
}

/* Torrent @n: a name with a word shared by all (crashtest) and one of its own (tN). */
static void make_torrent(uint32_t n, bt_store_torrent *t, bt_store_file *f, char *name,
                         char paths[][64])
{
	memset(t, 0, sizeof(*t));
	make_ih(n, t->infohash);
	snprintf(name, 64, "crashtest t%u Season %u", (unsigned)n, (unsigned)(n % 7));
	size_t nf = 1 + n % 12;
	uint64_t total = 0;
	for (size_t i = 0; i < nf; i++) {
		snprintf(paths[i], 64, "Season %u/ep%02u.t%u.mkv", (unsigned)(n % 7), (unsigned)i,
		         (unsigned)n);
		f[i].path = paths[i];
		f[i].length = 1000 * (n + 1) + i;
		f[i].flags = 0;
		total += f[i].length;
	}
	t->has_metadata = 1;
	t->name = name;
	t->files = f;
	t->num_files = nf;
	t->length = total;
	t->piece_length = 16384;
	t->first_seen = 1700000000 + n;
	t->last_seen = t->first_seen;
}

/* The writer: never returns. */
static void writer(uint32_t start, int fd, int no_sync, uint64_t seed)
{
	bt_store_options o = BT_STORE_OPTIONS_INIT;
	o.no_sync = no_sync;
	o.batch_size = 1000000; /* commits only when told */
	bt_store *s;
	if (bt_store_open(&s, path, &o))
		_exit(2);
	bt_test_rng = seed | 1;
	char name[64], paths[12][64];
	bt_store_file f[12];
	bt_store_torrent t;
	for (uint32_t n = start;; n++) {
		make_torrent(n, &t, f, name, paths);
		if (bt_store_put(s, &t) < 0)
			_exit(3);
		uint8_t ih[20];
		make_ih(n * 31 + 7, ih);
		ih[0] = 0x17; /* a sighting of something else */
		bt_store_peer p = {4, {127, 0, 0, 1}, (uint16_t)(1000 + n % 1000)};
		if (bt_store_seen(s, ih, 20, BT_STORE_SOURCE_SAMPLE, &p, 1, 1700000000 + n) < 0)
			_exit(4);
		if (n % 5 == 0 && bt_store_put(s, &t) != 0) /* again: sightings merge */
			_exit(5);
		if (bt_test_rnd() % 8 == 0) {
			if (bt_store_commit(s))
				_exit(6);
			uint32_t done = n;
			if (write(fd, &done, sizeof(done)) != sizeof(done))
				_exit(7);
		}
	}
}

START_TEST(test_sigkill_rounds)
{
	snprintf(dir, sizeof(dir), "/tmp/bt-store-crash-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/torrents.mdb", dir);
	bt_test_rng = 12345;
	uint32_t committed = 0; /* torrents 1..committed are durable */
	for (int round = 0; round < ROUNDS; round++) {
		int fds[2];
		ck_assert_int_eq(pipe(fds), 0);
		uint64_t seed = bt_test_rnd();
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(fds[0]);
			writer(committed + 1, fds[1], round % 2, seed);
		}
		close(fds[1]);
		unsigned want = 1 + (unsigned)(bt_test_rnd() % 12), got = 0;
		uint32_t last = committed;
		while (got < want) {
			uint32_t v;
			ssize_t r = read(fds[0], &v, sizeof(v));
			if (r != sizeof(v))
				break; /* the writer died: waitpid tells why */
			last = v;
			got++;
		}
		/* Land the kill anywhere: right away, or up to 2 ms into the next batch. */
		struct timespec ts = {0, (long)(bt_test_rnd() % 2000000)};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		              "writer ended by itself (status %d) in round %d", status, round);
		/* Commits it made after our last read are durable too, but not promised: drain. */
		uint32_t v;
		while (read(fds[0], &v, sizeof(v)) == sizeof(v))
			last = v;
		close(fds[0]);
		ck_assert_uint_gt(last, committed);
		committed = last;

		bt_store *s;
		bt_store_options o = BT_STORE_OPTIONS_INIT;
		int rc = bt_store_open(&s, path, &o);
		ck_assert_msg(rc == 0, "round %d: reopen failed: %s", round, bt_store_strerror(rc));
		char name[64], paths[12][64];
		bt_store_file f[12];
		bt_store_torrent t;
		for (uint32_t n = 1; n <= committed; n++) {
			make_torrent(n, &t, f, name, paths);
			bt_store_torrent *g;
			rc = bt_store_get(s, t.infohash, 20, &g);
			ck_assert_msg(rc == 0, "round %d: committed torrent %u missing (%s)", round,
			              (unsigned)n, bt_store_strerror(rc));
			ck_assert_str_eq(g->name, name);
			ck_assert_uint_eq(g->num_files, t.num_files);
			for (size_t i = 0; i < t.num_files; i++) {
				ck_assert_str_eq(g->files[i].path, paths[i]);
				ck_assert_uint_eq(g->files[i].length, f[i].length);
			}
			bt_store_torrent_free(g);
		}
		/* Torrents past the last commit we heard of may exist (a commit we did not read
		 * about): whatever is there is whole, and search agrees with get. */
		bt_store_stats st;
		ck_assert_int_eq(bt_store_get_stats(s, &st), 0);
		ck_assert_uint_ge(st.torrents, committed);
		bt_store_query q = BT_STORE_QUERY_INIT;
		q.text = "crashtest";
		bt_store_results *r;
		ck_assert_int_eq(bt_store_search(s, &q, &r), 0);
		ck_assert_uint_eq(r->total, st.torrents);
		ck_assert_uint_eq(r->corrupt, 0);
		bt_store_results_free(r);
		char word[16];
		snprintf(word, sizeof(word), "t%u", (unsigned)committed);
		q.text = word;
		ck_assert_int_eq(bt_store_search(s, &q, &r), 0);
		ck_assert_uint_ge(r->count, 1);
		ck_assert_uint_eq(r->corrupt, 0);
		bt_store_results_free(r);
		/* The store accepts writes again, and the next round's writer continues after
		 * whatever survived. */
		committed = (uint32_t)st.torrents;
		bt_store_close(s);
	}
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *crash_suite(void)
{
	Suite *s = suite_create("store-crash");
	TCase *tc = tcase_create("sigkill");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sigkill_rounds);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return bt_test_run(crash_suite());
}
