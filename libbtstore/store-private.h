/*
 * store-private.h - what store.c, search.c and json.c share: the handle and internal calls.
 */
#ifndef BT_STORE_PRIVATE_H
#define BT_STORE_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "btstore.h"
#include "buf.h"
#include "log.h"
#include "record.h"
#include "text.h"

#define logf_(s, level, ...) bt_log((bt_log_fn)(s)->opts.log, (s)->opts.log_ud, level, __VA_ARGS__)

/* Internal results, never returned to the caller. */
#define E_MAPFULL (-4090) /* the map is full */
#define E_TXNFULL (-4091) /* the transaction has too many dirty pages */

/* A word of the batch's postings. */
typedef struct bt_store__tok {
	uint32_t off; /* in tok_text */
	uint8_t len;
	uint32_t hash;
	uint32_t last_doc;  /* the document that added a posting last */
	uint32_t last_post; /* and that posting's index */
} bt_store__tok;

typedef struct bt_store__post {
	uint32_t tok;
	uint32_t val; /* document << 1 | in the name */
} bt_store__post;

struct bt_store {
	MDB_env *env;
	MDB_dbi db_meta, db_ih, db_doc, db_rec, db_pend, db_terms, db_blocked, db_days, db_nodes;
	MDB_txn *txn;  /* the open batch */
	MDB_txn *rtxn; /* a reset read transaction, renewed for each read */
	bt_store_options opts;
	int read_only;
	char *path;
	uint64_t map_size;
	uint32_t next_doc; /* while the batch is open */

	bt_buf log; /* the batch's operations: type(1) length(4) payload */
	unsigned int nops;
	int64_t files_delta;
	uint64_t ev_pending_delta, ev_torrents_delta;

	/* The batch's postings, written in word order by flush. */
	bt_store__tok *toks;
	uint32_t ntok;
	size_t toks_cap;
	uint32_t *tok_slots; /* open addressing over toks */
	uint32_t tok_cap;
	bt_buf tok_text;
	bt_store__post *post;
	size_t npost, post_cap;

	bt_buf scratch;
};

int bt_store__mdb_err(bt_store *s, int rc, const char *what);
int bt_store__meta_get(bt_store *s, MDB_txn *txn, const char *key, uint64_t *v);
/* A transaction to read in: the open batch (its postings flushed) or the renewed read one. */
int bt_store__read_begin(bt_store *s, MDB_txn **txn);
void bt_store__read_end(bt_store *s, MDB_txn *txn);
int bt_store__flush(bt_store *s);
int bt_store__doc_get(bt_store *s, MDB_txn *txn, uint32_t doc, bt_store__doc *out);
int bt_store__torrent_load(bt_store *s, MDB_txn *txn, uint32_t doc, bt_store_torrent **out);
uint64_t bt_store__used_bytes(bt_store *s, MDB_txn *txn);

#endif
