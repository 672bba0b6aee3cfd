/*
 * fuzz-store-record.c - libFuzzer target for libbtstore's record decoders (libbtstore/record.c),
 * which read values back from the database file: a corrupt or foreign file must give
 * BT_STORE_E_CORRUPT, never a crash or an allocation out of proportion.
 *
 * The first byte chooses: even, the bytes are a metadata record and go to
 * bt_store__torrent_make() and bt_store__rec_texts(); odd, a sightings value for
 * bt_store__doc_decode().  On success it checks what the decoders promise: every path is
 * NUL-terminated, the texts walk visits the name and the same paths; a decoded torrent that is
 * a valid bt_store_put() input encodes to a record that decodes to the same torrent; a decoded
 * sightings value encodes and decodes to itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

typedef struct walk {
	const bt_store_torrent *t;
	size_t i;
	int single;
} walk;

static int walk_fn(const char *s, size_t len, int is_name, void *ud)
{
	walk *w = ud;
	if (is_name) {
		check(w->i == 0 && len == strlen(w->t->name) && memcmp(s, w->t->name, len) == 0);
		w->i = 1;
		return 0;
	}
	check(w->i >= 1 && w->i - 1 < w->t->num_files);
	const char *p = w->t->files[w->i - 1].path;
	check(len == strlen(p) && memcmp(s, p, len) == 0);
	w->i++;
	return 0;
}

static int same_torrent(const bt_store_torrent *a, const bt_store_torrent *b)
{
	if (strcmp(a->name, b->name) || a->length != b->length ||
	    a->piece_length != b->piece_length || a->metadata_size != b->metadata_size ||
	    a->is_private != b->is_private || a->has_v2 != b->has_v2 ||
	    (a->has_v2 && memcmp(a->infohash_v2, b->infohash_v2, 32)) ||
	    a->num_files != b->num_files)
		return 0;
	for (size_t i = 0; i < a->num_files; i++)
		if (strcmp(a->files[i].path, b->files[i].path) ||
		    a->files[i].length != b->files[i].length ||
		    a->files[i].flags != b->files[i].flags)
			return 0;
	return 1;
}

static void record(const uint8_t *data, size_t size)
{
	bt_store__doc d;
	memset(&d, 0, sizeof(d));
	d.has_meta = 1;
	bt_store_torrent *t;
	int rc = bt_store__torrent_make(&d, data, size, &t);
	check(rc == 0 || rc == BT_STORE_E_CORRUPT || rc == BT_STORE_E_NOMEM);
	if (rc) {
		check(t == NULL);
		return;
	}
	check(t->has_metadata && t->num_files >= 1);
	walk w = {t, 0, 0};
	check(bt_store__rec_texts(data, size, walk_fn, &w) == 0);
	/* A single-file record's walk stops at its name (the file's path is the name). */
	check(w.i == t->num_files + 1 || (w.i == 1 && t->num_files == 1));
	if (bt_store__torrent_check(t) == 0) {
		bt_buf b;
		bt_buf_init(&b, 0);
		check(bt_store__rec_encode(t, &b) == 0);
		bt_store_torrent *t2;
		check(bt_store__torrent_make(&d, b.data, b.len, &t2) == 0);
		/* versions 0 is stored as V1. */
		check(same_torrent(t, t2));
		check(t2->versions == (t->versions ? t->versions : BT_STORE_V1));
		bt_store_torrent_free(t2);
		bt_buf_free(&b);
	}
	bt_store_torrent_free(t);
}

static void doc(const uint8_t *data, size_t size)
{
	bt_store__doc d, d2;
	if (bt_store__doc_decode(data, size, &d))
		return;
	uint8_t b[BT_STORE__DOC_MAX];
	size_t n = bt_store__doc_encode(&d, b);
	check(n <= BT_STORE__DOC_MAX);
	check(bt_store__doc_decode(b, n, &d2) == 0);
	check(memcmp(&d, &d2, sizeof(d)) == 0 ||
	      (d.npeers == d2.npeers && d.length == d2.length && d.first_seen == d2.first_seen &&
	       memcmp(d.infohash, d2.infohash, 20) == 0));
	uint8_t b2[BT_STORE__DOC_MAX];
	check(bt_store__doc_encode(&d2, b2) == n && memcmp(b, b2, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		doc(data + 1, size - 1);
	else
		record(data + 1, size - 1);
	return 0;
}
