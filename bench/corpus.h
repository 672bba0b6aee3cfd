/*
 * corpus.h - a deterministic generator of realistic torrents for benchmarking libbtstore: names,
 * file lists, sizes and sightings shaped like what a DHT crawler indexes, and search queries
 * drawn from the same vocabulary so that they hit.  Torrent i of a seed is always the same,
 * whatever was generated before it, so a benchmark can regenerate any torrent to verify what a
 * store gives back.  The model and its distributions are described at the top of corpus.c.
 *
 *     corpus *c = corpus_new(42, time(NULL));
 *     for (uint64_t i = 0; i < n; i++)
 *             bt_store_put(store, corpus_torrent(c, i, NULL));
 *     const char *q = corpus_query(c, 0, 2, n, NULL);   // e.g. "quiet river"
 *     corpus_free(c);
 *
 * Not thread-safe: one generator per thread.
 */
#ifndef BENCH_CORPUS_H
#define BENCH_CORPUS_H

#include <stdint.h>

#include "btstore.h"

/** What a torrent is (its share of the corpus is in corpus.c). */
enum corpus_category {
	CORPUS_MOVIE,
	CORPUS_EPISODE,
	CORPUS_SEASON,
	CORPUS_ALBUM,
	CORPUS_TRACK,
	CORPUS_SOFTWARE,
	CORPUS_BOOKS,
	CORPUS_GAME,
	CORPUS_PHOTOS,
	CORPUS_OTHER,
	CORPUS_CATEGORIES
};

typedef struct corpus corpus;

/** A generator for @seed; sightings fall in the 60 days before @now (Unix seconds).  NULL when
 *  out of memory.  Free with corpus_free(). */
corpus *corpus_new(uint64_t seed, int64_t now);

/** Accepts NULL. */
void corpus_free(corpus *c);

/** Torrent number @i, with its category in *@category (may be NULL).  The torrent and all its
 *  strings belong to @c and stay valid until the next corpus_torrent() call. */
const bt_store_torrent *corpus_torrent(corpus *c, uint64_t i, int *category);

/** The 20-byte key of torrent @i (its infohash field), without generating the rest. */
void corpus_infohash(const corpus *c, uint64_t i, uint8_t out[20]);

/** Query number @k of @words words (1 or 2), as a user would type it, about torrents
 *  0..@n-1.  *@from_name (may be NULL) is set to 1 when the query was taken from the name of
 *  one of those torrents (so it should find at least one), 0 when its words were drawn from
 *  the vocabulary alone.  The string belongs to @c and stays valid until the next
 *  corpus_query() call; corpus_torrent()'s buffer is not touched. */
const char *corpus_query(corpus *c, uint64_t k, int words, uint64_t n, int *from_name);

/** "movie", "episode", ... */
const char *corpus_category_name(int category);

#endif /* BENCH_CORPUS_H */
