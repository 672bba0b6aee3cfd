/*
 * test-store.c - libbtstore (libbtstore/): sightings and metadata in and out, search (folding,
 * prefixes, ranking, filters, sorts, cursors), delete and the blocklist, refusals on open,
 * schema and index versions, the size cap and map growth, NDJSON import and export, magnet
 * links, the routing table and the daily counts.
 *
 * Each test works in its own directory under /tmp and removes it.  Infohashes are derived from
 * a number, so that a test can name thousands of them.
 */
#include <check.h>

#include "test-util.h"
#include <errno.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "btstore.h"

#define T0 1700000000

/* A temporary directory and the store file in it. */
typedef struct tmp {
	char dir[64];
	char path[96];
} tmp;

static void tmp_make(tmp *t)
{
	strcpy(t->dir, "/tmp/bt-store-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/s.mdb", t->dir);
}

static void tmp_remove(tmp *t)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The infohash numbered @n: its number in the first bytes, a fixed filler after. */
static void ih_of(uint8_t ih[20], uint32_t n)
{
	for (int i = 0; i < 20; i++)
		ih[i] = (uint8_t)(0xA5 ^ (i * 7));
	ih[0] = (uint8_t)(n >> 24);
	ih[1] = (uint8_t)(n >> 16);
	ih[2] = (uint8_t)(n >> 8);
	ih[3] = (uint8_t)n;
}

static bt_store *open_rw(const char *path)
{
	bt_store *s = NULL;
	bt_store_options o = BT_STORE_OPTIONS_INIT;
	o.no_sync = 1;
	int rc = bt_store_open(&s, path, &o);
	ck_assert_msg(rc == 0, "open %s: %s", path, bt_store_strerror(rc));
	ck_assert_ptr_nonnull(s);
	return s;
}

/* Put torrent @n named @name with @nf files (paths and lengths), indexed and seen at @when. */
static int put_files(bt_store *s, uint32_t n, const char *name, const char *const *paths,
                     const uint64_t *lengths, size_t nf, int64_t when)
{
	bt_store_file files[16];
	ck_assert_uint_le(nf, 16);
	bt_store_torrent t;
	memset(&t, 0, sizeof(t));
	ih_of(t.infohash, n);
	t.has_metadata = 1;
	t.name = name;
	t.piece_length = 16384;
	t.versions = BT_STORE_V1;
	t.metadata_size = 100;
	for (size_t i = 0; i < nf; i++) {
		files[i].path = paths[i];
		files[i].length = lengths[i];
		files[i].flags = 0;
		t.length += lengths[i];
	}
	t.num_files = nf;
	t.files = files;
	t.first_seen = t.last_seen = t.indexed = when;
	t.times_seen = 1;
	t.sources = BT_STORE_SOURCE_LOOKUP;
	return bt_store_put(s, &t);
}

/* A single-file torrent @n: the file is the name. */
static int put_single(bt_store *s, uint32_t n, const char *name, uint64_t length, int64_t when)
{
	const char *p[1] = {name};
	uint64_t l[1] = {length};
	return put_files(s, n, name, p, l, 1, when);
}

static bt_store_torrent *get_ok(bt_store *s, uint32_t n)
{
	uint8_t ih[20];
	ih_of(ih, n);
	bt_store_torrent *t = NULL;
	int rc = bt_store_get(s, ih, 20, &t);
	ck_assert_msg(rc == 0, "get %u: %s", n, bt_store_strerror(rc));
	ck_assert_ptr_nonnull(t);
	return t;
}

static int get_rc(bt_store *s, uint32_t n)
{
	uint8_t ih[20];
	ih_of(ih, n);
	bt_store_torrent *t = NULL;
	int rc = bt_store_get(s, ih, 20, &t);
	bt_store_torrent_free(t);
	return rc;
}

/* ---- seen, put, get ------------------------------------------------------------------------- */

static bt_store_peer peer4(uint8_t last, uint16_t port)
{
	bt_store_peer p;
	memset(&p, 0, sizeof(p));
	p.family = 4;
	p.ip[0] = 10;
	p.ip[3] = last;
	p.port = port;
	return p;
}

START_TEST(test_seen)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = open_rw(d.path);
	uint8_t ih[20];
	ih_of(ih, 1);
	bt_store_peer p1[2] = {peer4(1, 1000), peer4(2, 2000)};
	bt_store_peer p2[1] = {peer4(3, 3000)};
	ck_assert_int_eq(bt_store_seen(s, ih, 20, BT_STORE_SOURCE_SAMPLE, p1, 2, T0 + 100), 1);
	ck_assert_int_eq(bt_store_seen(s, ih, 20, BT_STORE_SOURCE_ANNOUNCE, p2, 1, T0 + 200), 0);
	ck_assert_int_eq(bt_store_seen(s, ih, 20, BT_STORE_SOURCE_SAMPLE, NULL, 0, T0 + 50), 0);
	bt_store_torrent *t = get_ok(s, 1);
	ck_assert_int_eq(t->has_metadata, 0);
	ck_assert_str_eq(t->name, "");
	ck_assert_ptr_null(t->files);
	ck_assert_uint_eq(t->times_seen, 3);
	ck_assert_int_eq(t->first_seen, T0 + 50);
	ck_assert_int_eq(t->last_seen, T0 + 200);
	ck_assert_uint_eq(t->sources, BT_STORE_SOURCE_SAMPLE | BT_STORE_SOURCE_ANNOUNCE);
	ck_assert_uint_eq(t->peers, 1);
	ck_assert_uint_eq(t->num_peer_addrs, 3);
	ck_assert_uint_eq(t->peer_addrs[0].ip[3], 3);
	ck_assert_uint_eq(t->peer_addrs[0].port, 3000);
	ck_assert_uint_eq(t->peer_addrs[1].ip[3], 2);
	ck_assert_uint_eq(t->peer_addrs[2].ip[3], 1);
	bt_store_torrent_free(t);
	ck_assert_int_eq(get_rc(s, 2), BT_STORE_E_NOTFOUND);
	/* Bad arguments. */
	ck_assert_int_eq(bt_store_seen(s, ih, 19, 1, NULL, 0, T0), BT_STORE_E_INVAL);
	ck_assert_int_eq(bt_store_seen(s, ih, 20, 256, NULL, 0, T0), BT_STORE_E_INVAL);
	ck_assert_int_eq(bt_store_seen(s, ih, 20, 1, NULL, 1, T0), BT_STORE_E_INVAL);
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

START_TEST(test_put_get)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = open_rw(d.path);
	uint8_t ih[20];
	ih_of(ih, 7);
	bt_store_peer p1[1] = {peer4(9, 900)};
	ck_assert_int_eq(bt_store_seen(s, ih, 20, BT_STORE_SOURCE_SAMPLE, p1, 1, T0 + 10), 1);

	bt_store_file files[3] = {
	    {"dir/sub/a.txt", 5, 0},
	    {".pad/16379", 16379, BT_STORE_FILE_PAD},
	    {"dir/b.sh", 7, BT_STORE_FILE_EXEC | BT_STORE_FILE_HIDDEN},
	};
	bt_store_peer p2[1] = {peer4(8, 800)};
	bt_store_torrent t;
	memset(&t, 0, sizeof(t));
	memcpy(t.infohash, ih, 20);
	t.has_metadata = 1;
	t.name = "Multi Files";
	t.length = 12;
	t.piece_length = 16384;
	t.metadata_size = 321;
	t.versions = BT_STORE_V1;
	t.is_private = 1;
	t.num_files = 3;
	t.files = files;
	t.first_seen = T0 + 5;
	t.last_seen = T0 + 20;
	t.times_seen = 2;
	t.sources = BT_STORE_SOURCE_LOOKUP;
	t.peers = 4;
	t.indexed = T0 + 20;
	t.num_peer_addrs = 1;
	t.peer_addrs = p2;
	ck_assert_int_eq(bt_store_put(s, &t), 1);
	t.name = "Other name";
	ck_assert_int_eq(bt_store_put(s, &t), 0);
	ck_assert_int_eq(put_single(s, 8, "single.iso", 123456789, T0), 1);

	for (int round = 0; round < 2; round++) {
		bt_store_torrent *g = get_ok(s, 7);
		ck_assert_int_eq(g->has_metadata, 1);
		ck_assert_mem_eq(g->infohash, ih, 20);
		ck_assert_str_eq(g->name, "Multi Files");
		ck_assert_uint_eq(g->length, 12);
		ck_assert_uint_eq(g->piece_length, 16384);
		ck_assert_uint_eq(g->metadata_size, 321);
		ck_assert_uint_eq(g->versions, BT_STORE_V1);
		ck_assert_int_eq(g->is_private, 1);
		ck_assert_uint_eq(g->num_files, 3);
		for (int i = 0; i < 3; i++) {
			ck_assert_str_eq(g->files[i].path, files[i].path);
			ck_assert_uint_eq(g->files[i].length, files[i].length);
			ck_assert_uint_eq(g->files[i].flags, files[i].flags);
		}
		/* Sightings merged: 1 seen + 2 put + 2 put again. */
		ck_assert_int_eq(g->first_seen, T0 + 5);
		ck_assert_int_eq(g->last_seen, T0 + 20);
		ck_assert_uint_eq(g->times_seen, 5);
		ck_assert_uint_eq(g->sources & (BT_STORE_SOURCE_SAMPLE | BT_STORE_SOURCE_LOOKUP),
		                  BT_STORE_SOURCE_SAMPLE | BT_STORE_SOURCE_LOOKUP);
		ck_assert_uint_eq(g->peers, 4);
		ck_assert_int_eq(g->indexed, T0 + 20);
		ck_assert_uint_ge(g->num_peer_addrs, 2);
		ck_assert_uint_eq(g->peer_addrs[0].ip[3], 8);
		bt_store_torrent_free(g);

		g = get_ok(s, 8);
		ck_assert_str_eq(g->name, "single.iso");
		ck_assert_uint_eq(g->num_files, 1);
		ck_assert_str_eq(g->files[0].path, "single.iso");
		ck_assert_uint_eq(g->files[0].length, 123456789);
		ck_assert_uint_eq(g->length, 123456789);
		bt_store_torrent_free(g);

		bt_store_stats st;
		ck_assert_int_eq(bt_store_get_stats(s, &st), 0);
		ck_assert_uint_eq(st.torrents, 2);
		ck_assert_uint_eq(st.pending, 0);
		ck_assert_uint_eq(st.files, 4);
		bt_store_close(s);
		s = open_rw(d.path);
	}
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

START_TEST(test_put_v2)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = open_rw(d.path);
	bt_store_file f = {"v2file", 10, 0};
	bt_store_torrent t;
	memset(&t, 0, sizeof(t));
	t.has_metadata = 1;
	t.name = "Hybrid one";
	t.length = 10;
	t.piece_length = 16384;
	t.num_files = 1;
	t.files = &f;
	t.first_seen = t.last_seen = t.indexed = T0;
	/* Hybrid: key is the v1 infohash, also found by the v2 one (32 or truncated 20). */
	ih_of(t.infohash, 1);
	for (int i = 0; i < 32; i++)
		t.infohash_v2[i] = (uint8_t)(0x30 + i);
	t.has_v2 = 1;
	t.versions = BT_STORE_V1 | BT_STORE_V2;
	ck_assert_int_eq(bt_store_put(s, &t), 1);
	bt_store_torrent *g = NULL;
	ck_assert_int_eq(bt_store_get(s, t.infohash_v2, 32, &g), 0);
	ck_assert_mem_eq(g->infohash, t.infohash, 20);
	ck_assert_int_eq(g->has_v2, 1);
	ck_assert_mem_eq(g->infohash_v2, t.infohash_v2, 32);
	ck_assert_uint_eq(g->versions, BT_STORE_V1 | BT_STORE_V2);
	bt_store_torrent_free(g);
	ck_assert_int_eq(bt_store_get(s, t.infohash_v2, 20, &g), 0);
	ck_assert_mem_eq(g->infohash, t.infohash, 20);
	bt_store_torrent_free(g);
	/* The same v2 infohash with another v1 infohash is refused. */
	bt_store_torrent t2 = t;
	ih_of(t2.infohash, 2);
	ck_assert_int_eq(bt_store_put(s, &t2), BT_STORE_E_INVAL);
	/* v2 only: keyed by the truncated v2 infohash. */
	bt_store_torrent t3 = t;
	memset(t3.infohash, 0, 20);
	for (int i = 0; i < 32; i++)
		t3.infohash_v2[i] = (uint8_t)(0x90 + i);
	t3.versions = BT_STORE_V2;
	t3.name = "Only v2";
	ck_assert_int_eq(bt_store_put(s, &t3), 1);
	ck_assert_int_eq(bt_store_get(s, t3.infohash_v2, 20, &g), 0);
	ck_assert_mem_eq(g->infohash, t3.infohash_v2, 20);
	ck_assert_str_eq(g->name, "Only v2");
	bt_store_torrent_free(g);
	ck_assert_int_eq(bt_store_get(s, t3.infohash_v2, 32, &g), 0);
	bt_store_torrent_free(g);
	/* Deleting the hybrid by its v2 key removes both keys; blocking by one blocks both. */
	ck_assert_int_eq(bt_store_delete(s, t.infohash_v2, 32), 0);
	ck_assert_int_eq(get_rc(s, 1), BT_STORE_E_NOTFOUND);
	g = NULL;
	ck_assert_int_eq(bt_store_get(s, t.infohash_v2, 20, &g), BT_STORE_E_NOTFOUND);
	ck_assert_ptr_null(g);
	ck_assert_int_eq(bt_store_put(s, &t), 1);
	ck_assert_int_eq(bt_store_block(s, t.infohash, 20), 0);
	ck_assert_int_eq(bt_store_is_blocked(s, t.infohash_v2, 20), 1);
	ck_assert_int_eq(bt_store_seen(s, t.infohash_v2, 32, 1, NULL, 0, T0), BT_STORE_E_BLOCKED);
	ck_assert_int_eq(bt_store_put(s, &t), BT_STORE_E_BLOCKED);
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

START_TEST(test_put_invalid)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = open_rw(d.path);
	bt_store_file f = {"ok", 10, 0};
	bt_store_torrent t;
	memset(&t, 0, sizeof(t));
	ih_of(t.infohash, 1);
	t.name = "Name";
	t.num_files = 1;
	t.files = &f;
	ck_assert_int_eq(bt_store_put(s, &t), BT_STORE_E_INVAL); /* no has_metadata */
	t.has_metadata = 1;
	t.num_files = 0;
	ck_assert_int_eq(bt_store_put(s, &t), BT_STORE_E_INVAL);
	t.num_files = 1;
	t.name = "bad \xff utf8";
	ck_assert_int_eq(bt_store_put(s, &t), BT_STORE_E_INVAL);
	t.name = "Name";
	f.path = NULL;
	ck_assert_int_eq(bt_store_put(s, &t), BT_STORE_E_INVAL);
	f.path = "bad \xc3";
	ck_assert_int_eq(bt_store_put(s, &t), BT_STORE_E_INVAL);
	char *long_name = malloc(5000);
	memset(long_name, 'a', 4999);
	long_name[4999] = 0;
	f.path = "ok";
	t.name = long_name;
	ck_assert_int_eq(bt_store_put(s, &t), BT_STORE_E_INVAL);
	free(long_name);
	t.name = "Name";
	bt_store_peer p = peer4(1, 1);
	p.family = 5;
	t.num_peer_addrs = 1;
	t.peer_addrs = &p;
	ck_assert_int_eq(bt_store_put(s, &t), BT_STORE_E_INVAL);
	ck_assert_int_eq(get_rc(s, 1), BT_STORE_E_NOTFOUND);
	t.num_peer_addrs = 0;
	ck_assert_int_eq(bt_store_put(s, &t), 1);
	ck_assert_int_eq(bt_store_put(NULL, &t), BT_STORE_E_INVAL);
	ck_assert_int_eq(bt_store_put(s, NULL), BT_STORE_E_INVAL);
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

typedef struct walk {
	uint32_t n[16];
	size_t count;
	int stop_at;
} walk;

static int walk_cb(const bt_store_torrent *t, void *ud)
{
	walk *w = ud;
	ck_assert_uint_lt(w->count, 16);
	w->n[w->count++] = (uint32_t)t->infohash[0] << 24 | (uint32_t)t->infohash[1] << 16 |
	                   (uint32_t)t->infohash[2] << 8 | t->infohash[3];
	return w->stop_at && (int)w->count == w->stop_at ? 7 : 0;
}

START_TEST(test_foreach)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = open_rw(d.path);
	uint8_t ih[20];
	ih_of(ih, 30);
	ck_assert_int_eq(bt_store_seen(s, ih, 20, 1, NULL, 0, T0), 1);
	ck_assert_int_eq(put_single(s, 20, "Second", 1, T0 + 20), 1);
	ck_assert_int_eq(put_single(s, 10, "First", 1, T0 + 10), 1);
	ih_of(ih, 31);
	ck_assert_int_eq(bt_store_seen(s, ih, 20, 1, NULL, 0, T0), 1);
	walk w = {{0}, 0, 0};
	uint32_t corrupt = 99;
	ck_assert_int_eq(bt_store_foreach(s, BT_STORE_WITH_METADATA, walk_cb, &w, &corrupt), 0);
	ck_assert_uint_eq(corrupt, 0);
	ck_assert_uint_eq(w.count, 2);
	/* Both walk and ADDED go by the order this store indexed them (20 was put first), not by
	 * the carried-over "indexed" times. */
	ck_assert_uint_eq(w.n[0], 20);
	ck_assert_uint_eq(w.n[1], 10);
	bt_store_query q = BT_STORE_QUERY_INIT;
	q.sort = BT_STORE_SORT_ADDED;
	bt_store_results *r = NULL;
	ck_assert_int_eq(bt_store_search(s, &q, &r), 0);
	ck_assert_uint_eq(r->count, 2);
	ck_assert_int_eq(r->items[0]->indexed, T0 + 10);
	ck_assert_int_eq(r->items[1]->indexed, T0 + 20);
	bt_store_results_free(r);
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(bt_store_foreach(s, BT_STORE_PENDING, walk_cb, &w, NULL), 0);
	ck_assert_uint_eq(w.count, 2);
	ck_assert_uint_eq(w.n[0], 30);
	ck_assert_uint_eq(w.n[1], 31);
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(
	    bt_store_foreach(s, BT_STORE_WITH_METADATA | BT_STORE_PENDING, walk_cb, &w, NULL), 0);
	ck_assert_uint_eq(w.count, 4);
	ck_assert_uint_eq(w.n[2], 30);
	ck_assert_uint_eq(w.n[3], 31);
	memset(&w, 0, sizeof(w));
	w.stop_at = 3;
	ck_assert_int_eq(
	    bt_store_foreach(s, BT_STORE_WITH_METADATA | BT_STORE_PENDING, walk_cb, &w, NULL), 7);
	ck_assert_uint_eq(w.count, 3);
	ck_assert_int_eq(bt_store_foreach(s, 0, walk_cb, &w, NULL), BT_STORE_E_INVAL);
	ck_assert_int_eq(bt_store_foreach(s, 4, walk_cb, &w, NULL), BT_STORE_E_INVAL);
	ck_assert_int_eq(bt_store_foreach(s, 1, NULL, &w, NULL), BT_STORE_E_INVAL);
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

START_TEST(test_peer_list)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = open_rw(d.path);
	uint8_t ih[20];
	ih_of(ih, 3);
	bt_store_peer p[12];
	for (int i = 0; i < 12; i++)
		p[i] = peer4((uint8_t)(i + 1), (uint16_t)(100 + i));
	ck_assert_int_eq(bt_store_seen(s, ih, 20, 1, p, 12, T0 + 10), 1);
	bt_store_torrent *t = get_ok(s, 3);
	ck_assert_uint_eq(t->num_peer_addrs, BT_STORE_MAX_PEERS);
	for (int i = 0; i < BT_STORE_MAX_PEERS; i++)
		ck_assert_uint_eq(t->peer_addrs[i].ip[3], 12 - i);
	ck_assert_uint_eq(t->peers, 12);
	bt_store_torrent_free(t);
	/* A known peer seen again moves to the front, without a duplicate; an older sighting
	 * does not change the count. */
	ck_assert_int_eq(bt_store_seen(s, ih, 20, 1, &p[6], 1, T0 + 20), 0);
	ck_assert_int_eq(bt_store_seen(s, ih, 20, 1, p, 3, T0 + 5), 0);
	t = get_ok(s, 3);
	ck_assert_uint_eq(t->num_peer_addrs, BT_STORE_MAX_PEERS);
	ck_assert_uint_eq(t->peers, 1);
	for (size_t i = 0; i < t->num_peer_addrs; i++)
		for (size_t j = i + 1; j < t->num_peer_addrs; j++)
			ck_assert(t->peer_addrs[i].ip[3] != t->peer_addrs[j].ip[3]);
	bt_store_torrent_free(t);
	/* A 32-byte infohash is looked up by its first 20 bytes. */
	uint8_t ih32[32];
	memset(ih32, 0x77, 32);
	ck_assert_int_eq(bt_store_seen(s, ih32, 32, 1, NULL, 0, T0), 1);
	ck_assert_int_eq(bt_store_seen(s, ih32, 20, 1, NULL, 0, T0), 0);
	bt_store_peer bad = peer4(1, 1);
	bad.family = 0;
	ck_assert_int_eq(bt_store_seen(s, ih, 20, 1, &bad, 1, T0), BT_STORE_E_INVAL);
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

/* In a child process: open @path read-only and exit with its pending count (255: error). */
static int pending_elsewhere(const char *path)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		bt_store *s = NULL;
		bt_store_options o = BT_STORE_OPTIONS_INIT;
		o.read_only = 1;
		bt_store_stats st;
		if (bt_store_open(&s, path, &o) || bt_store_get_stats(s, &st))
			_exit(255);
		bt_store_close(s);
		_exit(st.pending > 254 ? 254 : (int)st.pending);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(test_batches)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = NULL;
	bt_store_options o = BT_STORE_OPTIONS_INIT;
	o.no_sync = 1;
	o.batch_size = 10;
	ck_assert_int_eq(bt_store_open(&s, d.path, &o), 0);
	uint8_t ih[20];
	for (uint32_t i = 0; i < 25; i++) {
		ih_of(ih, i);
		ck_assert_int_eq(bt_store_seen(s, ih, 20, 1, NULL, 0, T0), 1);
	}
	/* Two batches committed by themselves; the open one is seen only here. */
	ck_assert_int_eq(pending_elsewhere(d.path), 20);
	bt_store_stats st;
	ck_assert_int_eq(bt_store_get_stats(s, &st), 0);
	ck_assert_uint_eq(st.pending, 25);
	ck_assert_int_eq(bt_store_commit(s), 0);
	ck_assert_int_eq(bt_store_commit(s), 0);
	ck_assert_int_eq(pending_elsewhere(d.path), 25);
	bt_store_close(s);
	/* A process that dies with a batch open loses that batch only. */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		bt_store *c = NULL;
		if (bt_store_open(&c, d.path, NULL))
			_exit(1);
		uint8_t h[20];
		ih_of(h, 1000);
		bt_store_seen(c, h, 20, 1, NULL, 0, T0);
		bt_store_commit(c);
		ih_of(h, 1001);
		bt_store_seen(c, h, 20, 1, NULL, 0, T0);
		_exit(0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	s = open_rw(d.path);
	ck_assert_int_eq(get_rc(s, 1000), 0);
	ck_assert_int_eq(get_rc(s, 1001), BT_STORE_E_NOTFOUND);
	ck_assert_int_eq(get_rc(s, 24), 0);
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

/* ---- search --------------------------------------------------------------------------------- */

/* Run @q and keep the results; asserts success. */
static bt_store_results *search_ok(bt_store *s, const bt_store_query *q)
{
	bt_store_results *r = NULL;
	int rc = bt_store_search(s, q, &r);
	ck_assert_msg(rc == 0, "search: %s", bt_store_strerror(rc));
	ck_assert_ptr_nonnull(r);
	return r;
}

/* The number of torrents that words @text find. */
static size_t count_text(bt_store *s, const char *text)
{
	bt_store_query q = BT_STORE_QUERY_INIT;
	q.text = text;
	q.limit = 1000;
	bt_store_results *r = search_ok(s, &q);
	size_t n = r->count;
	ck_assert_uint_eq(r->total, n);
	bt_store_results_free(r);
	return n;
}

/* Whether torrent @n is among the results. */
static int has_ih(const bt_store_results *r, uint32_t n)
{
	uint8_t ih[20];
	ih_of(ih, n);
	for (size_t i = 0; i < r->count; i++)
		if (!memcmp(r->items[i]->infohash, ih, 20))
			return 1;
	return 0;
}

/* A corpus: 1-6 with known names, sizes, file counts and times. */
static void corpus(bt_store *s)
{
	const char *p2[2] = {"Amelie/cd1.avi", "Amelie/cd2.avi"};
	uint64_t l2[2] = {700, 800};
	ck_assert_int_eq(put_files(s, 1, "Amélie (2001) French", p2, l2, 2, T0 + 1), 1);
	ck_assert_int_eq(put_single(s, 2, "The.Matrix.1999.1080p.mkv", 8000, T0 + 2), 1);
	const char *p3[3] = {"docs/readme.txt", "docs/matrix-notes.txt", "x.bin"};
	uint64_t l3[3] = {10, 20, 30};
	ck_assert_int_eq(put_files(s, 3, "Linear algebra course", p3, l3, 3, T0 + 3), 1);
	ck_assert_int_eq(put_single(s, 4, "Ubuntu 22.04 desktop amd64.iso", 4000, T0 + 4), 1);
	ck_assert_int_eq(put_single(s, 5, "Matrix Reloaded", 5000, T0 + 5), 1);
	ck_assert_int_eq(put_single(s, 6, "ma ma ma", 100, T0 + 6), 1);
}

START_TEST(test_search_words)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = open_rw(d.path);
	corpus(s);
	bt_store_commit(s);
	bt_store_query q = BT_STORE_QUERY_INIT;
	q.text = "amelie";
	bt_store_results *r = search_ok(s, &q);
	ck_assert_uint_eq(r->count, 1);
	ck_assert_str_eq(r->items[0]->name, "Amélie (2001) French");
	bt_store_results_free(r);
	ck_assert_uint_eq(count_text(s, "AMÉLIE"), 1);
	/* Prefixes of three characters or more expand; two-letter words match whole. */
	q.text = "matr";
	r = search_ok(s, &q);
	ck_assert(has_ih(r, 2));
	ck_assert(has_ih(r, 5));
	ck_assert(has_ih(r, 3));
	bt_store_results_free(r);
	q.text = "ma";
	r = search_ok(s, &q);
	ck_assert_uint_eq(r->count, 1);
	ck_assert(has_ih(r, 6));
	bt_store_results_free(r);
	/* Every word must match. */
	q.text = "matrix 1999";
	r = search_ok(s, &q);
	ck_assert_uint_eq(r->count, 1);
	ck_assert(has_ih(r, 2));
	bt_store_results_free(r);
	ck_assert_uint_eq(count_text(s, "matrix nothere"), 0);
	ck_assert_uint_eq(count_text(s, "ubuntu iso"), 1);
	/* Name matches rank above a path-only match (3 has "matrix" in a path only, and is
	 * newer than 2). */
	q.text = "matrix";
	r = search_ok(s, &q);
	ck_assert_uint_eq(r->count, 3);
	ck_assert(has_ih(r, 3));
	uint8_t ih3[20];
	ih_of(ih3, 3);
	ck_assert_mem_eq(r->items[2]->infohash, ih3, 20);
	ck_assert(r->scores[0] >= r->scores[1]);
	ck_assert(r->scores[1] > r->scores[2]);
	bt_store_results_free(r);
	/* No words: every torrent. */
	q.text = NULL;
	r = search_ok(s, &q);
	ck_assert_uint_eq(r->count, 6);
	bt_store_results_free(r);
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

START_TEST(test_search_filters)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = open_rw(d.path);
	corpus(s);
	bt_store_query q = BT_STORE_QUERY_INIT;
	q.min_size = 4000;
	bt_store_results *r = search_ok(s, &q);
	ck_assert_uint_eq(r->count, 3); /* 2, 4, 5 */
	ck_assert(has_ih(r, 2) && has_ih(r, 4) && has_ih(r, 5));
	bt_store_results_free(r);
	q.max_size = 5000;
	r = search_ok(s, &q);
	ck_assert_uint_eq(r->count, 2);
	ck_assert(has_ih(r, 4) && has_ih(r, 5));
	bt_store_results_free(r);
	q = (bt_store_query)BT_STORE_QUERY_INIT;
	q.max_size = 100;
	r = search_ok(s, &q);
	ck_assert_uint_eq(r->count, 2); /* 3 (60), 6 (100) */
	ck_assert(has_ih(r, 3) && has_ih(r, 6));
	bt_store_results_free(r);
	q = (bt_store_query)BT_STORE_QUERY_INIT;
	q.min_files = 2;
	r = search_ok(s, &q);
	ck_assert_uint_eq(r->count, 2);
	ck_assert(has_ih(r, 1) && has_ih(r, 3));
	bt_store_results_free(r);
	q.max_files = 2;
	r = search_ok(s, &q);
	ck_assert_uint_eq(r->count, 1);
	ck_assert(has_ih(r, 1));
	bt_store_results_free(r);
	q = (bt_store_query)BT_STORE_QUERY_INIT;
	q.max_files = 1;
	r = search_ok(s, &q);
	ck_assert_uint_eq(r->count, 4);
	bt_store_results_free(r);
	q = (bt_store_query)BT_STORE_QUERY_INIT;
	q.seen_since = T0 + 5;
	r = search_ok(s, &q);
	ck_assert_uint_eq(r->count, 2);
	ck_assert(has_ih(r, 5) && has_ih(r, 6));
	bt_store_results_free(r);
	/* Sort by size, both ways. */
	q = (bt_store_query)BT_STORE_QUERY_INIT;
	q.sort = BT_STORE_SORT_SIZE;
	r = search_ok(s, &q);
	ck_assert_uint_eq(r->count, 6);
	for (size_t i = 1; i < r->count; i++)
		ck_assert_uint_ge(r->items[i - 1]->length, r->items[i]->length);
	ck_assert_uint_eq(r->items[0]->length, 8000);
	bt_store_results_free(r);
	q.ascending = 1;
	r = search_ok(s, &q);
	ck_assert_uint_eq(r->count, 6);
	for (size_t i = 1; i < r->count; i++)
		ck_assert_uint_le(r->items[i - 1]->length, r->items[i]->length);
	ck_assert_uint_eq(r->items[0]->length, 60);
	bt_store_results_free(r);
	/* Added: newest first. */
	q = (bt_store_query)BT_STORE_QUERY_INIT;
	q.sort = BT_STORE_SORT_ADDED;
	r = search_ok(s, &q);
	for (size_t i = 1; i < r->count; i++)
		ck_assert_int_ge(r->items[i - 1]->indexed, r->items[i]->indexed);
	bt_store_results_free(r);
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

/* Page through @q (limit 2) and check it visits exactly what one page of 100 holds. */
static void check_pages(bt_store *s, bt_store_query q)
{
	q.limit = 100;
	q.cursor = NULL;
	bt_store_results *all = search_ok(s, &q);
	ck_assert_ptr_null(all->next_cursor);
	ck_assert_uint_eq(all->total, all->count);
	int seen[100] = {0};
	q.limit = 2;
	char *cur = NULL;
	size_t visited = 0, pages = 0;
	do {
		q.cursor = cur;
		bt_store_results *r = search_ok(s, &q);
		free(cur);
		cur = r->next_cursor ? strdup(r->next_cursor) : NULL;
		ck_assert_uint_le(r->count, 2);
		for (size_t i = 0; i < r->count; i++) {
			size_t j = 0;
			while (j < all->count &&
			       memcmp(all->items[j]->infohash, r->items[i]->infohash, 20))
				j++;
			ck_assert_uint_lt(j, all->count);
			ck_assert_int_eq(seen[j], 0);
			ck_assert_uint_eq(j, visited); /* the same order */
			seen[j] = 1;
			visited++;
		}
		bt_store_results_free(r);
		ck_assert_uint_lt(++pages, 100);
	} while (cur);
	ck_assert_uint_eq(visited, all->count);
	bt_store_results_free(all);
}

START_TEST(test_search_pages)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = open_rw(d.path);
	corpus(s);
	char name[64];
	for (uint32_t i = 0; i < 15; i++) {
		snprintf(name, sizeof(name), "Matrix extra %u", i);
		ck_assert_int_eq(put_single(s, 100 + i, name, 1000 + (i % 4) * 10, T0 + 10 + i % 3),
		                 1);
	}
	bt_store_commit(s);
	bt_store_query q = BT_STORE_QUERY_INIT;
	for (int sort = 0; sort <= 4; sort++) {
		q.sort = sort;
		for (int asc = 0; asc < 2; asc++) {
			q.ascending = asc;
			q.text = NULL;
			check_pages(s, q);
			q.text = "matrix";
			check_pages(s, q);
		}
	}
	/* A cursor of another sort. */
	q = (bt_store_query)BT_STORE_QUERY_INIT;
	q.sort = BT_STORE_SORT_SIZE;
	q.limit = 2;
	bt_store_results *r = search_ok(s, &q);
	ck_assert_ptr_nonnull(r->next_cursor);
	q.sort = BT_STORE_SORT_ADDED;
	q.cursor = r->next_cursor;
	bt_store_results *r2 = (bt_store_results *)1;
	ck_assert_int_eq(bt_store_search(s, &q, &r2), BT_STORE_E_CURSOR);
	q.sort = BT_STORE_SORT_SIZE;
	q.ascending = 1;
	ck_assert_int_eq(bt_store_search(s, &q, &r2), BT_STORE_E_CURSOR);
	bt_store_results_free(r);
	q = (bt_store_query)BT_STORE_QUERY_INIT;
	q.cursor = "not a cursor";
	ck_assert_int_eq(bt_store_search(s, &q, &r2), BT_STORE_E_CURSOR);
	q.cursor = NULL;
	q.limit = 1001;
	ck_assert_int_eq(bt_store_search(s, &q, &r2), BT_STORE_E_INVAL);
	q.limit = 1000;
	r = search_ok(s, &q);
	bt_store_results_free(r);
	q.version = 2;
	ck_assert_int_eq(bt_store_search(s, &q, &r2), BT_STORE_E_VERSION);
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

START_TEST(test_search_random)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = open_rw(d.path);
	corpus(s);
	bt_store_commit(s);
	bt_test_rng = 0x1234567ull;
	char text[64];
	for (int i = 0; i < 500; i++) {
		size_t len = bt_test_rnd() % 63;
		for (size_t j = 0; j < len; j++) {
			char c = (char)(bt_test_rnd() & 0xff);
			text[j] = c ? c : ' ';
		}
		text[len] = 0;
		bt_store_query q = BT_STORE_QUERY_INIT;
		q.text = text;
		q.sort = (int)(bt_test_rnd() % 5);
		bt_store_results *r = NULL;
		ck_assert_int_eq(bt_store_search(s, &q, &r), 0);
		ck_assert_uint_le(r->count, 6);
		bt_store_results_free(r);
	}
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

/* ---- delete, block -------------------------------------------------------------------------- */

START_TEST(test_delete)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = open_rw(d.path);
	corpus(s);
	bt_store_commit(s);
	bt_store_stats before, after;
	ck_assert_int_eq(bt_store_get_stats(s, &before), 0);
	ck_assert_int_eq(put_single(s, 50, "Zebra crossing unique", 77, T0), 1);
	ck_assert_uint_eq(count_text(s, "zebra"), 1);
	ck_assert_int_eq(bt_store_get_stats(s, &after), 0);
	ck_assert_uint_gt(after.postings, before.postings);
	uint8_t ih[20];
	ih_of(ih, 50);
	ck_assert_int_eq(bt_store_delete(s, ih, 20), 0);
	ck_assert_int_eq(bt_store_delete(s, ih, 20), BT_STORE_E_NOTFOUND);
	ck_assert_int_eq(get_rc(s, 50), BT_STORE_E_NOTFOUND);
	ck_assert_uint_eq(count_text(s, "zebra"), 0);
	ck_assert_int_eq(bt_store_get_stats(s, &after), 0);
	ck_assert_uint_eq(after.postings, before.postings);
	ck_assert_uint_eq(after.terms, before.terms);
	ck_assert_uint_eq(after.torrents, before.torrents);
	ck_assert_uint_eq(after.files, before.files);
	/* The same after a commit and reopen. */
	bt_store_close(s);
	s = open_rw(d.path);
	ck_assert_int_eq(bt_store_get_stats(s, &after), 0);
	ck_assert_uint_eq(after.postings, before.postings);
	ck_assert_uint_eq(count_text(s, "zebra"), 0);
	/* A pending one. */
	ck_assert_int_eq(bt_store_seen(s, ih, 20, 1, NULL, 0, T0), 1);
	ck_assert_int_eq(bt_store_delete(s, ih, 20), 0);
	ck_assert_int_eq(get_rc(s, 50), BT_STORE_E_NOTFOUND);
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

START_TEST(test_block)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = open_rw(d.path);
	uint8_t ih[20];
	ih_of(ih, 9);
	ck_assert_int_eq(put_single(s, 9, "Blocked thing", 10, T0), 1);
	ck_assert_int_eq(bt_store_is_blocked(s, ih, 20), 0);
	ck_assert_int_eq(bt_store_block(s, ih, 20), 0);
	ck_assert_int_eq(bt_store_block(s, ih, 20), 0);
	ck_assert_int_eq(bt_store_is_blocked(s, ih, 20), 1);
	ck_assert_int_eq(get_rc(s, 9), BT_STORE_E_NOTFOUND);
	ck_assert_uint_eq(count_text(s, "blocked"), 0);
	ck_assert_int_eq(bt_store_seen(s, ih, 20, 1, NULL, 0, T0), BT_STORE_E_BLOCKED);
	ck_assert_int_eq(put_single(s, 9, "Blocked thing", 10, T0), BT_STORE_E_BLOCKED);
	bt_store_stats st;
	ck_assert_int_eq(bt_store_get_stats(s, &st), 0);
	ck_assert_uint_eq(st.blocked, 1);
	ck_assert_uint_eq(st.torrents, 0);
	bt_store_close(s);
	s = open_rw(d.path);
	ck_assert_int_eq(bt_store_is_blocked(s, ih, 20), 1);
	ck_assert_int_eq(bt_store_seen(s, ih, 20, 1, NULL, 0, T0), BT_STORE_E_BLOCKED);
	ck_assert_int_eq(put_single(s, 9, "Blocked thing", 10, T0), BT_STORE_E_BLOCKED);
	ck_assert_int_eq(bt_store_unblock(s, ih, 20), 0);
	ck_assert_int_eq(bt_store_is_blocked(s, ih, 20), 0);
	ck_assert_int_eq(bt_store_seen(s, ih, 20, 1, NULL, 0, T0), 1);
	ck_assert_int_eq(put_single(s, 9, "Blocked thing", 10, T0), 1);
	ck_assert_uint_eq(count_text(s, "blocked"), 1);
	/* Blocking a never-seen infohash. */
	uint8_t ih2[20];
	ih_of(ih2, 10);
	ck_assert_int_eq(bt_store_block(s, ih2, 20), 0);
	ck_assert_int_eq(bt_store_seen(s, ih2, 20, 1, NULL, 0, T0), BT_STORE_E_BLOCKED);
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

/* ---- open ----------------------------------------------------------------------------------- */

START_TEST(test_open_errors)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = (bt_store *)1;
	bt_store_options o = BT_STORE_OPTIONS_INIT;
	/* Not LMDB: refused and untouched. */
	char data[8192];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('a' + i % 26);
	FILE *f = fopen(d.path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, sizeof(data), f), sizeof(data));
	fclose(f);
	ck_assert_int_eq(bt_store_open(&s, d.path, &o), BT_STORE_E_FOREIGN);
	ck_assert_ptr_null(s);
	o.read_only = 1;
	s = (bt_store *)1;
	ck_assert_int_eq(bt_store_open(&s, d.path, &o), BT_STORE_E_FOREIGN);
	ck_assert_ptr_null(s);
	char back[sizeof(data) + 1];
	f = fopen(d.path, "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(back, 1, sizeof(back), f), sizeof(data));
	fclose(f);
	ck_assert_mem_eq(back, data, sizeof(data));
	/* A directory. */
	o = (bt_store_options)BT_STORE_OPTIONS_INIT;
	ck_assert_int_eq(bt_store_open(&s, d.dir, &o), BT_STORE_E_FOREIGN);
	/* Options. */
	char path2[128];
	snprintf(path2, sizeof(path2), "%s/new.mdb", d.dir);
	o.version = 2;
	s = (bt_store *)1;
	ck_assert_int_eq(bt_store_open(&s, path2, &o), BT_STORE_E_VERSION);
	ck_assert_ptr_null(s);
	o = (bt_store_options)BT_STORE_OPTIONS_INIT;
	o.max_size = (1u << 20) - 1;
	ck_assert_int_eq(bt_store_open(&s, path2, &o), BT_STORE_E_INVAL);
	ck_assert_int_eq(bt_store_open(&s, "", NULL), BT_STORE_E_INVAL);
	ck_assert_int_eq(bt_store_open(&s, NULL, NULL), BT_STORE_E_INVAL);
	ck_assert_int_eq(bt_store_open(NULL, path2, NULL), BT_STORE_E_INVAL);
	/* Read-only: no file. */
	o = (bt_store_options)BT_STORE_OPTIONS_INIT;
	o.read_only = 1;
	ck_assert_int_eq(bt_store_open(&s, path2, &o), -ENOENT);
	struct stat sb;
	ck_assert_int_ne(stat(path2, &sb), 0);
	/* Read-only: writes refused, reads work. */
	s = open_rw(path2);
	ck_assert_int_eq(put_single(s, 1, "Read only test", 5, T0), 1);
	bt_store_close(s);
	ck_assert_int_eq(bt_store_open(&s, path2, &o), 0);
	uint8_t ih[20];
	ih_of(ih, 2);
	ck_assert_int_eq(bt_store_seen(s, ih, 20, 1, NULL, 0, T0), BT_STORE_E_READONLY);
	ck_assert_int_eq(put_single(s, 2, "x", 5, T0), BT_STORE_E_READONLY);
	ih_of(ih, 1);
	ck_assert_int_eq(bt_store_delete(s, ih, 20), BT_STORE_E_READONLY);
	ck_assert_int_eq(bt_store_block(s, ih, 20), BT_STORE_E_READONLY);
	ck_assert_int_eq(bt_store_reindex(s), BT_STORE_E_READONLY);
	ck_assert_int_eq(bt_store_nodes_save(s, NULL, 0), BT_STORE_E_READONLY);
	ck_assert_uint_eq(count_text(s, "read"), 1);
	ck_assert_int_eq(get_rc(s, 1), 0);
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

/* ---- schema and index versions -------------------------------------------------------------- */

/* Set (or with @get, read) @key of the store's "meta" database through LMDB itself. */
static uint64_t raw_meta(const char *path, const char *key, uint64_t v, int get)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 16), 0);
	ck_assert_int_eq(mdb_env_open(env, path, MDB_NOSUBDIR, 0644), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, get ? MDB_RDONLY : 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	MDB_val k = {strlen(key), (void *)key}, d;
	uint8_t b[8];
	if (get) {
		ck_assert_int_eq(mdb_get(txn, dbi, &k, &d), 0);
		ck_assert_uint_eq(d.mv_size, 8);
		memcpy(b, d.mv_data, 8);
		v = 0;
		for (int i = 7; i >= 0; i--)
			v = v << 8 | b[i];
		mdb_txn_abort(txn);
	} else {
		for (int i = 0; i < 8; i++)
			b[i] = (uint8_t)(v >> (8 * i));
		d.mv_size = 8;
		d.mv_data = b;
		ck_assert_int_eq(mdb_put(txn, dbi, &k, &d, 0), 0);
		ck_assert_int_eq(mdb_txn_commit(txn), 0);
	}
	mdb_env_close(env);
	return v;
}

START_TEST(test_schema_newer)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = open_rw(d.path);
	corpus(s);
	bt_store_close(s);
	ck_assert_uint_ge(raw_meta(d.path, "schema", 0, 1), 1);
	raw_meta(d.path, "schema", 99, 0);
	s = (bt_store *)1;
	ck_assert_int_eq(bt_store_open(&s, d.path, NULL), BT_STORE_E_NEWER);
	ck_assert_ptr_null(s);
	bt_store_options o = BT_STORE_OPTIONS_INIT;
	o.read_only = 1;
	ck_assert_int_eq(bt_store_open(&s, d.path, &o), BT_STORE_E_NEWER);
	ck_assert_uint_eq(raw_meta(d.path, "schema", 0, 1), 99);
	tmp_remove(&d);
}
END_TEST

START_TEST(test_text_version)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = open_rw(d.path);
	corpus(s);
	bt_store_stats before;
	ck_assert_int_eq(bt_store_get_stats(s, &before), 0);
	bt_store_close(s);
	ck_assert_uint_eq(raw_meta(d.path, "text", 0, 1), 1);
	raw_meta(d.path, "text", 0, 0);
	bt_store_options o = BT_STORE_OPTIONS_INIT;
	o.read_only = 1;
	s = (bt_store *)1;
	ck_assert_int_eq(bt_store_open(&s, d.path, &o), BT_STORE_E_VERSION);
	ck_assert_ptr_null(s);
	s = open_rw(d.path);
	ck_assert_uint_eq(count_text(s, "amelie"), 1);
	ck_assert_uint_eq(count_text(s, "matrix"), 3);
	bt_store_stats after;
	ck_assert_int_eq(bt_store_get_stats(s, &after), 0);
	ck_assert_uint_eq(after.postings, before.postings);
	ck_assert_uint_eq(after.terms, before.terms);
	bt_store_close(s);
	ck_assert_uint_eq(raw_meta(d.path, "text", 0, 1), 1);
	ck_assert_int_eq(bt_store_open(&s, d.path, &o), 0);
	ck_assert_uint_eq(count_text(s, "matr"), 3);
	bt_store_close(s);
	/* An explicit reindex leaves the same index. */
	s = open_rw(d.path);
	ck_assert_int_eq(bt_store_reindex(s), 0);
	ck_assert_int_eq(bt_store_get_stats(s, &after), 0);
	ck_assert_uint_eq(after.postings, before.postings);
	ck_assert_uint_eq(count_text(s, "amelie"), 1);
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

/* ---- size cap, map growth ------------------------------------------------------------------- */

START_TEST(test_max_size)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = NULL;
	bt_store_options o = BT_STORE_OPTIONS_INIT;
	o.no_sync = 1;
	o.max_size = 4u << 20;
	ck_assert_int_eq(bt_store_open(&s, d.path, &o), 0);
	const uint32_t n = 100000;
	uint8_t ih[20];
	for (uint32_t i = 0; i < n; i++) {
		ih_of(ih, i);
		int rc = bt_store_seen(s, ih, 20, BT_STORE_SOURCE_SAMPLE, NULL, 0, T0 + i);
		ck_assert_msg(rc >= 0, "seen %u: %s", i, bt_store_strerror(rc));
		if ((i + 1) % 5000 == 0)
			ck_assert_int_eq(bt_store_commit(s), 0);
	}
	ck_assert_int_eq(bt_store_commit(s), 0);
	struct stat sb;
	ck_assert_int_eq(stat(d.path, &sb), 0);
	ck_assert_int_le(sb.st_size, 4 << 20);
	bt_store_stats st;
	ck_assert_int_eq(bt_store_get_stats(s, &st), 0);
	ck_assert_uint_gt(st.evicted_pending, 0);
	ck_assert_uint_le(st.bytes_used, 4u << 20);
	ck_assert_uint_eq(st.max_size, 4u << 20);
	ck_assert_int_eq(get_rc(s, n - 1), 0);
	ck_assert_int_eq(get_rc(s, 0), BT_STORE_E_NOTFOUND);
	bt_store_close(s);
	ck_assert_int_eq(stat(d.path, &sb), 0);
	ck_assert_int_le(sb.st_size, 4 << 20);
	tmp_remove(&d);
}
END_TEST

/* Under max_size, torrents with metadata (and postings) are evicted oldest first once nothing
 * without metadata is left, and the index forgets them. */
START_TEST(test_max_size_torrents)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = NULL;
	bt_store_options o = BT_STORE_OPTIONS_INIT;
	o.no_sync = 1;
	o.max_size = 4u << 20;
	ck_assert_int_eq(bt_store_open(&s, d.path, &o), 0);
	const uint32_t n = 30000;
	char name[64], p0[64], p1[64], p2[64];
	const char *paths[3] = {p0, p1, p2};
	uint64_t lens[3] = {1, 2, 3};
	for (uint32_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "Capped torrent %u word%u", i, i % 500);
		snprintf(p0, sizeof(p0), "folder%u/first file %u.txt", i % 31, i);
		snprintf(p1, sizeof(p1), "folder%u/second file %u.txt", i % 31, i);
		snprintf(p2, sizeof(p2), "extra/third %u.bin", i);
		int rc = put_files(s, i, name, paths, lens, 3, T0 + i);
		ck_assert_msg(rc == 1, "put %u: %d %s", i, rc, bt_store_strerror(rc));
		if ((i + 1) % 100 == 0) {
			rc = bt_store_commit(s);
			bt_store_stats x;
			bt_store_get_stats(s, &x);
			ck_assert_msg(rc == 0,
			              "commit at %u: %s; torrents %lu evicted %lu used %lu map %lu",
			              i, bt_store_strerror(rc), (unsigned long)x.torrents,
			              (unsigned long)x.evicted_torrents,
			              (unsigned long)x.bytes_used, (unsigned long)x.map_size);
		}
	}
	ck_assert_int_eq(bt_store_commit(s), 0);
	bt_store_stats st;
	ck_assert_int_eq(bt_store_get_stats(s, &st), 0);
	ck_assert_uint_gt(st.evicted_torrents, 0);
	ck_assert_uint_lt(st.torrents, n);
	ck_assert_uint_eq(st.torrents + st.evicted_torrents, n);
	struct stat sb;
	ck_assert_int_eq(stat(d.path, &sb), 0);
	ck_assert_int_le(sb.st_size, 4 << 20);
	ck_assert_int_eq(get_rc(s, n - 1), 0);
	ck_assert_int_eq(get_rc(s, 0), BT_STORE_E_NOTFOUND);
	/* The index forgets the evicted ones. */
	bt_store_query q = BT_STORE_QUERY_INIT;
	q.text = "capped";
	bt_store_results *r = search_ok(s, &q);
	ck_assert_uint_eq(r->total, st.torrents);
	bt_store_results_free(r);
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

START_TEST(test_map_growth)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = open_rw(d.path);
	const uint32_t n = 120000;
	char name[64], p0[64], p1[64], p2[64];
	const char *paths[3] = {p0, p1, p2};
	uint64_t lens[3] = {1, 2, 3};
	for (uint32_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "Torrent number %u", i);
		snprintf(p0, sizeof(p0), "dir%u/a%u.txt", i % 97, i);
		snprintf(p1, sizeof(p1), "dir%u/b%u.txt", i % 97, i);
		snprintf(p2, sizeof(p2), "other/c%u.bin", i);
		int rc = put_files(s, i, name, paths, lens, 3, T0 + i);
		ck_assert_msg(rc == 1, "put %u: %d %s", i, rc, bt_store_strerror(rc));
	}
	bt_store_stats st;
	ck_assert_int_eq(bt_store_get_stats(s, &st), 0);
	bt_store_close(s);
	s = open_rw(d.path);
	ck_assert_int_eq(bt_store_get_stats(s, &st), 0);
	ck_assert_uint_eq(st.torrents, n);
	ck_assert_uint_eq(st.files, 3ull * n);
	ck_assert_uint_gt(st.map_size, 64ull << 20);
	bt_store_torrent *t = get_ok(s, n - 1);
	ck_assert_str_eq(t->files[2].path, "other/c119999.bin");
	bt_store_torrent_free(t);
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

/* ---- NDJSON --------------------------------------------------------------------------------- */

#define IH40 "0123456789abcdef0123456789abcdef01234567"
#define IH40B "89abcdef0123456789abcdef0123456789abcdef"

static int import(bt_store *s, const char *line)
{
	return bt_store_import_json(s, line, strlen(line), T0 + 999);
}

static void ih_hex(uint8_t ih[20], const char *hex)
{
	for (int i = 0; i < 20; i++) {
		unsigned int b;
		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &b), 1);
		ih[i] = (uint8_t)b;
	}
}

static char *json_of(bt_store *s, const char *hex)
{
	uint8_t ih[20];
	ih_hex(ih, hex);
	bt_store_torrent *t = NULL;
	ck_assert_int_eq(bt_store_get(s, ih, 20, &t), 0);
	char *j = NULL;
	ck_assert_int_eq(bt_store_torrent_json(t, &j), 0);
	ck_assert_ptr_nonnull(j);
	bt_store_torrent_free(t);
	return j;
}

START_TEST(test_import_json)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = open_rw(d.path);
	const char *fetch =
	    "{\"infohash\":\"" IH40 "\",\"status\":\"ok\",\"name\":\"Fetched Thing\","
	    "\"length\":300,\"piece_length\":16384,\"pieces\":1,\"private\":false,\"versions\":[1],"
	    "\"files\":[{\"path\":\"d/a.txt\",\"length\":100},{\"path\":\"d/"
	    "b.txt\",\"length\":200}],"
	    "\"metadata_size\":222,\"peer\":\"127.0.0.1:6881\",\"fetch_ms\":3,\"peers_tried\":1,"
	    "\"peers_known\":2}";
	ck_assert_int_eq(import(s, fetch), 1);
	ck_assert_int_eq(import(s, fetch), 0);
	uint8_t ih[20];
	ih_hex(ih, IH40);
	bt_store_torrent *t = NULL;
	ck_assert_int_eq(bt_store_get(s, ih, 20, &t), 0);
	ck_assert_int_eq(t->has_metadata, 1);
	ck_assert_str_eq(t->name, "Fetched Thing");
	ck_assert_uint_eq(t->length, 300);
	ck_assert_uint_eq(t->piece_length, 16384);
	ck_assert_uint_eq(t->metadata_size, 222);
	ck_assert_int_eq(t->is_private, 0);
	ck_assert_uint_eq(t->versions, BT_STORE_V1);
	ck_assert_uint_eq(t->num_files, 2);
	ck_assert_str_eq(t->files[1].path, "d/b.txt");
	ck_assert_uint_eq(t->files[1].length, 200);
	ck_assert(t->sources & BT_STORE_SOURCE_LOOKUP);
	ck_assert_uint_ge(t->num_peer_addrs, 1);
	ck_assert_uint_eq(t->peer_addrs[0].family, 4);
	ck_assert_uint_eq(t->peer_addrs[0].ip[0], 127);
	ck_assert_uint_eq(t->peer_addrs[0].port, 6881);
	bt_store_torrent_free(t);
	ck_assert_uint_eq(count_text(s, "fetched"), 1);

	const char *crawl = "{\"infohash\":\"" IH40B "\",\"source\":\"sample\","
	                    "\"peers\":[\"127.0.0.1:1\",\"[::1]:2\"],\"time\":1700000000}";
	ck_assert_int_eq(import(s, crawl), 1);
	ih_hex(ih, IH40B);
	ck_assert_int_eq(bt_store_get(s, ih, 20, &t), 0);
	ck_assert_int_eq(t->has_metadata, 0);
	ck_assert_int_eq(t->first_seen, 1700000000);
	ck_assert_int_eq(t->last_seen, 1700000000);
	ck_assert_uint_eq(t->sources, BT_STORE_SOURCE_SAMPLE);
	ck_assert_uint_eq(t->num_peer_addrs, 2);
	/* Both addresses (the header leaves the order of a crawl line's "peers" open; the
	 * library takes them as most recent first). */
	int v4 = t->peer_addrs[0].family == 4 ? 0 : 1;
	ck_assert_uint_eq(t->peer_addrs[v4].family, 4);
	ck_assert_uint_eq(t->peer_addrs[v4].ip[0], 127);
	ck_assert_uint_eq(t->peer_addrs[v4].port, 1);
	ck_assert_uint_eq(t->peer_addrs[!v4].family, 6);
	ck_assert_uint_eq(t->peer_addrs[!v4].ip[15], 1);
	ck_assert_uint_eq(t->peer_addrs[!v4].port, 2);
	ck_assert_uint_eq(t->peers, 2);
	bt_store_torrent_free(t);

	/* Refused lines store nothing. */
	bt_store_stats before, after;
	ck_assert_int_eq(bt_store_get_stats(s, &before), 0);
	const char *bad[] = {
	    "not json",
	    "",
	    "[]",
	    "{}",
	    "{\"infohash\":\"0123456789abcdef0123456789abcdef0123456\",\"source\":\"sample\"}",
	    "{\"infohash\":\"zz23456789abcdef0123456789abcdef01234567\",\"source\":\"sample\"}",
	    "{\"infohash\":\"1" IH40B "\",\"status\":\"ok\",\"name\":\"x\",\"length\":1,"
	    "\"piece_length\":16384,\"files\":{\"path\":\"x\",\"length\":1}}",
	    "{\"infohash\":\"1123456789abcdef0123456789abcdef01234567\",\"status\":\"ok\",\"name\":"
	    "\"x\",\"length\":1,\"piece_length\":16384,\"files\":\"x\"}",
	    "{\"infohash\":\"2123456789abcdef0123456789abcdef01234567\",\"status\":\"ok\",\"name\":"
	    "\"x\",\"length\":-1,\"piece_length\":16384,\"files\":[{\"path\":\"x\",\"length\":-1}]"
	    "}",
	    "{\"infohash\":\"3123456789abcdef0123456789abcdef01234567\",\"status\":\"ok\",\"name\":"
	    "\"x\",\"length\":1,\"piece_length\":16384,\"files\":[{\"path\":\"x\",\"length\":-1}]}",
	    "{\"infohash\":\"4123456789abcdef0123456789abcdef01234567\",\"infohash\":"
	    "\"5123456789abcdef0123456789abcdef01234567\",\"source\":\"sample\"}",
	    "{\"infohash\":\"6123456789abcdef0123456789abcdef01234567\",\"source\":\"sample\","
	    "\"source\":\"sample\"}",
	    "{\"infohash\":\"7123456789abcdef0123456789abcdef01234567\",\"source\":\"sample\","
	    "\"peers\":[\"nope\"]}",
	    "{\"infohash\":\"8123456789abcdef0123456789abcdef01234567\",\"source\":\"sample\"} x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = import(s, bad[i]);
		ck_assert_msg(rc == BT_STORE_E_FORMAT, "line %zu: %d (%s)", i, rc, bad[i]);
	}
	ck_assert_int_eq(bt_store_get_stats(s, &before), 0);
	ck_assert_int_eq(bt_store_get_stats(s, &after), 0);
	ck_assert_uint_eq(after.torrents, 1);
	ck_assert_uint_eq(after.pending, 1);

	/* Export, import into a second store, export again: the same lines. */
	tmp d2;
	tmp_make(&d2);
	bt_store *s2 = open_rw(d2.path);
	const char *keys[2] = {IH40, IH40B};
	for (int i = 0; i < 2; i++) {
		char *j1 = json_of(s, keys[i]);
		ck_assert_int_eq(import(s2, j1), 1);
		char *j2 = json_of(s2, keys[i]);
		ck_assert_str_eq(j1, j2);
		free(j1);
		free(j2);
	}
	bt_store_close(s2);
	tmp_remove(&d2);
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

START_TEST(test_json_roundtrip_hybrid)
{
	tmp d, d2;
	tmp_make(&d);
	tmp_make(&d2);
	bt_store *s = open_rw(d.path);
	bt_store *s2 = open_rw(d2.path);
	bt_store_file f[3] = {{"Dir/é ü.txt", 10, 0},
	                      {".pad/6", 6, BT_STORE_FILE_PAD},
	                      {"Dir/run \\\"x\\\".sh", 20, BT_STORE_FILE_EXEC}};
	bt_store_peer p[2] = {peer4(1, 1), {6, {0x20, 0x01, [15] = 9}, 65535}};
	bt_store_torrent t;
	memset(&t, 0, sizeof(t));
	ih_of(t.infohash, 5);
	for (int i = 0; i < 32; i++)
		t.infohash_v2[i] = (uint8_t)(0xC0 + i);
	t.has_v2 = 1;
	t.has_metadata = 1;
	t.name = "Hybrid \"quoted\" ∑";
	t.length = 30;
	t.piece_length = 32768;
	t.metadata_size = 999;
	t.versions = BT_STORE_V1 | BT_STORE_V2;
	t.is_private = 1;
	t.num_files = 3;
	t.files = f;
	t.first_seen = T0;
	t.last_seen = T0 + 50;
	t.times_seen = 4;
	t.sources = BT_STORE_SOURCE_ANNOUNCE | BT_STORE_SOURCE_GET_PEERS;
	t.peers = 9;
	t.indexed = T0 + 40;
	t.num_peer_addrs = 2;
	t.peer_addrs = p;
	ck_assert_int_eq(bt_store_put(s, &t), 1);
	/* A meta-fetch failure line is a sighting with source import. */
	const char *err = "{\"infohash\":\"" IH40B "\",\"status\":\"error\",\"error\":\"timeout\"}";
	ck_assert_int_eq(import(s, err), 1);
	uint8_t ih[20];
	ih_hex(ih, IH40B);
	bt_store_torrent *g = NULL;
	ck_assert_int_eq(bt_store_get(s, ih, 20, &g), 0);
	ck_assert_uint_eq(g->sources, BT_STORE_SOURCE_IMPORT);
	ck_assert_int_eq(g->last_seen, T0 + 999);
	bt_store_torrent_free(g);
	for (int k = 0; k < 2; k++) {
		bt_store_torrent *a = NULL, *b = NULL;
		uint8_t key[20];
		if (k == 0)
			ih_of(key, 5);
		else
			memcpy(key, ih, 20);
		ck_assert_int_eq(bt_store_get(s, key, 20, &a), 0);
		char *j1 = NULL, *j2 = NULL;
		ck_assert_int_eq(bt_store_torrent_json(a, &j1), 0);
		ck_assert_int_eq(bt_store_import_json(s2, j1, strlen(j1), T0 + 5000), 1);
		ck_assert_int_eq(bt_store_get(s2, key, 20, &b), 0);
		ck_assert_int_eq(bt_store_torrent_json(b, &j2), 0);
		ck_assert_str_eq(j1, j2);
		if (k == 0) {
			ck_assert_ptr_nonnull(strstr(j1, "\"infohash_v2\""));
			ck_assert_str_eq(b->name, t.name);
			ck_assert_str_eq(b->files[2].path, f[2].path);
			ck_assert_uint_eq(b->files[1].flags, BT_STORE_FILE_PAD);
			ck_assert_uint_eq(b->num_peer_addrs, 2);
			ck_assert_uint_eq(b->peer_addrs[1].port, 65535);
		}
		free(j1);
		free(j2);
		bt_store_torrent_free(a);
		bt_store_torrent_free(b);
	}
	bt_store_close(s);
	bt_store_close(s2);
	tmp_remove(&d);
	tmp_remove(&d2);
}
END_TEST

/* ---- magnet --------------------------------------------------------------------------------- */

START_TEST(test_magnet)
{
	bt_store_file f = {"x", 1, 0};
	bt_store_torrent t;
	memset(&t, 0, sizeof(t));
	ih_hex(t.infohash, IH40);
	t.has_metadata = 1;
	t.name = "A b&c é";
	t.versions = BT_STORE_V1;
	t.num_files = 1;
	t.files = &f;
	char *m = NULL;
	ck_assert_int_eq(bt_store_magnet(&t, &m), 0);
	ck_assert_ptr_nonnull(strstr(m, "xt=urn:btih:" IH40));
	ck_assert(strstr(m, "&dn=A%20b%26c%20%C3%A9") || strstr(m, "&dn=A+b%26c+%C3%A9"));
	ck_assert_ptr_null(strstr(m, "btmh"));
	ck_assert_ptr_null(strchr(m, ' '));
	free(m);
	/* Hybrid. */
	for (int i = 0; i < 32; i++)
		t.infohash_v2[i] = (uint8_t)(0xF0 + (i & 15));
	t.has_v2 = 1;
	t.versions = BT_STORE_V1 | BT_STORE_V2;
	ck_assert_int_eq(bt_store_magnet(&t, &m), 0);
	ck_assert_ptr_nonnull(strstr(m, "xt=urn:btih:" IH40));
	ck_assert_ptr_nonnull(strstr(
	    m, "xt=urn:btmh:1220f0f1f2f3f4f5f6f7f8f9fafbfcfdfefff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"));
	free(m);
	/* v2 only. */
	t.versions = BT_STORE_V2;
	memcpy(t.infohash, t.infohash_v2, 20);
	ck_assert_int_eq(bt_store_magnet(&t, &m), 0);
	ck_assert_ptr_null(strstr(m, "btih"));
	ck_assert_ptr_nonnull(strstr(m, "xt=urn:btmh:1220f0f1"));
	free(m);
	/* Without metadata, with a peer. */
	memset(&t, 0, sizeof(t));
	ih_hex(t.infohash, IH40);
	t.name = "";
	bt_store_peer p = peer4(5, 6881);
	t.num_peer_addrs = 1;
	t.peer_addrs = &p;
	ck_assert_int_eq(bt_store_magnet(&t, &m), 0);
	ck_assert_ptr_nonnull(strstr(m, "xt=urn:btih:" IH40));
	ck_assert_ptr_null(strstr(m, "&dn="));
	ck_assert_ptr_nonnull(strstr(m, "&x.pe=10.0.0.5:6881"));
	free(m);
	ck_assert_int_eq(bt_store_magnet(NULL, &m), BT_STORE_E_INVAL);
	ck_assert_int_eq(bt_store_magnet(&t, NULL), BT_STORE_E_INVAL);
}
END_TEST

/* ---- nodes, daily counts, strerror ---------------------------------------------------------- */

START_TEST(test_nodes)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = open_rw(d.path);
	bt_store_node nodes[3];
	memset(nodes, 0, sizeof(nodes));
	for (int i = 0; i < 3; i++) {
		memset(nodes[i].id, 0x11 * (i + 1), 20);
		nodes[i].last_seen = T0 + i;
	}
	nodes[0].addr = peer4(1, 6881);
	nodes[1].addr.family = 6;
	nodes[1].addr.ip[0] = 0x20;
	nodes[1].addr.ip[1] = 0x01;
	nodes[1].addr.ip[15] = 0x42;
	nodes[1].addr.port = 51413;
	nodes[2].addr = peer4(200, 1);
	ck_assert_int_eq(bt_store_nodes_save(s, nodes, 3), 0);
	bt_store_close(s);
	s = open_rw(d.path);
	bt_store_node *out = NULL;
	size_t n = 0;
	ck_assert_int_eq(bt_store_nodes_load(s, &out, &n), 0);
	ck_assert_uint_eq(n, 3);
	for (size_t i = 0; i < 3; i++) {
		size_t j = 0;
		while (j < 3 && memcmp(out[j].id, nodes[i].id, 20))
			j++;
		ck_assert_uint_lt(j, 3);
		ck_assert_uint_eq(out[j].addr.family, nodes[i].addr.family);
		ck_assert_mem_eq(out[j].addr.ip, nodes[i].addr.ip,
		                 nodes[i].addr.family == 4 ? 4 : 16);
		ck_assert_uint_eq(out[j].addr.port, nodes[i].addr.port);
		ck_assert_int_eq(out[j].last_seen, nodes[i].last_seen);
	}
	free(out);
	bt_store_stats st;
	ck_assert_int_eq(bt_store_get_stats(s, &st), 0);
	ck_assert_uint_eq(st.nodes, 3);
	nodes[0].addr.family = 5;
	ck_assert_int_eq(bt_store_nodes_save(s, nodes, 1), BT_STORE_E_INVAL);
	ck_assert_int_eq(bt_store_nodes_save(s, NULL, 0), 0);
	ck_assert_int_eq(bt_store_nodes_load(s, &out, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(out);
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

START_TEST(test_daily)
{
	tmp d;
	tmp_make(&d);
	bt_store *s = open_rw(d.path);
	const int64_t day0 = (int64_t)T0 / 86400 * 86400;
	uint8_t ih[20];
	/* Day 0: 3 discovered, 1 indexed.  Day 1: 1 discovered.  Day 2: 2 discovered + indexed. */
	for (uint32_t i = 0; i < 3; i++) {
		ih_of(ih, i);
		ck_assert_int_eq(bt_store_seen(s, ih, 20, 1, NULL, 0, day0 + 10 + i), 1);
	}
	ck_assert_int_eq(put_single(s, 0, "Day zero", 1, day0 + 100), 1);
	ih_of(ih, 10);
	ck_assert_int_eq(bt_store_seen(s, ih, 20, 1, NULL, 0, day0 + 86400 + 5), 1);
	ck_assert_int_eq(bt_store_seen(s, ih, 20, 1, NULL, 0, day0 + 86400 + 6), 0);
	ck_assert_int_eq(put_single(s, 20, "Day two a", 1, day0 + 2 * 86400 + 1), 1);
	ck_assert_int_eq(put_single(s, 21, "Day two b", 1, day0 + 2 * 86400 + 86399), 1);
	bt_store_close(s);
	s = open_rw(d.path);
	bt_store_day *days = NULL;
	size_t n = 0;
	ck_assert_int_eq(bt_store_daily(s, day0 + 5, &days, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(days[0].day, day0);
	ck_assert_uint_eq(days[0].discovered, 3);
	ck_assert_uint_eq(days[0].indexed, 1);
	ck_assert_int_eq(days[1].day, day0 + 86400);
	ck_assert_uint_eq(days[1].discovered, 1);
	ck_assert_uint_eq(days[1].indexed, 0);
	ck_assert_int_eq(days[2].day, day0 + 2 * 86400);
	ck_assert_uint_eq(days[2].discovered, 2);
	ck_assert_uint_eq(days[2].indexed, 2);
	free(days);
	ck_assert_int_eq(bt_store_daily(s, day0 + 86400 + 86399, &days, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(days[0].day, day0 + 86400);
	free(days);
	ck_assert_int_eq(bt_store_daily(s, day0 + 3 * 86400, &days, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(days);
	bt_store_close(s);
	tmp_remove(&d);
}
END_TEST

START_TEST(test_strerror)
{
	for (int e = BT_STORE_E_LMDB; e <= BT_STORE_E_INVAL; e++) {
		const char *m = bt_store_strerror(e);
		ck_assert_ptr_nonnull(m);
		ck_assert_uint_gt(strlen(m), 0);
		ck_assert_str_ne(m, "unknown error");
	}
	ck_assert_str_eq(bt_store_strerror(-ENOENT), strerror(ENOENT));
	ck_assert_str_eq(bt_store_strerror(-4013), "unknown error");
	ck_assert_str_eq(bt_store_strerror(12345), "unknown error");
	ck_assert_uint_gt(strlen(bt_store_strerror(0)), 0);
	ck_assert_uint_gt(strlen(bt_store_version()), 0);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("basics");
	tcase_add_test(tc, test_seen);
	tcase_add_test(tc, test_put_get);
	tcase_add_test(tc, test_put_v2);
	tcase_add_test(tc, test_put_invalid);
	tcase_add_test(tc, test_foreach);
	tcase_add_test(tc, test_peer_list);
	tcase_add_test(tc, test_batches);
	suite_add_tcase(s, tc);
	tc = tcase_create("search");
	tcase_add_test(tc, test_search_words);
	tcase_add_test(tc, test_search_filters);
	tcase_add_test(tc, test_search_pages);
	tcase_add_test(tc, test_search_random);
	suite_add_tcase(s, tc);
	tc = tcase_create("delete-block");
	tcase_add_test(tc, test_delete);
	tcase_add_test(tc, test_block);
	suite_add_tcase(s, tc);
	tc = tcase_create("open");
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_schema_newer);
	tcase_add_test(tc, test_text_version);
	suite_add_tcase(s, tc);
	tc = tcase_create("size");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_max_size);
	tcase_add_test(tc, test_max_size_torrents);
	tcase_add_test(tc, test_map_growth);
	suite_add_tcase(s, tc);
	tc = tcase_create("json");
	tcase_add_test(tc, test_import_json);
	tcase_add_test(tc, test_json_roundtrip_hybrid);
	tcase_add_test(tc, test_magnet);
	suite_add_tcase(s, tc);
	tc = tcase_create("misc");
	tcase_add_test(tc, test_nodes);
	tcase_add_test(tc, test_daily);
	tcase_add_test(tc, test_strerror);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return bt_test_run(store_suite());
}
