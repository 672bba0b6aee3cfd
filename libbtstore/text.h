/*
 * text.h - the keyword tokeniser of libbtstore: splits torrent names and file paths into the
 * words the keyword index stores, folded for case and accents, so that a search for "amelie"
 * finds "Amélie (2001) [FRENCH]" and one for "進撃" finds "進撃の巨人".  Queries go through the
 * same function, so index and search always agree.  Internal to libbtstore; the rules are
 * written at the top of text.c, and BT_STORE__TEXT_VERSION names them: a store remembers the
 * version its index was built with and rebuilds the index when it differs.
 */
#ifndef BT_STORE_TEXT_H
#define BT_STORE_TEXT_H

#include <stddef.h>

#define BT_STORE__TOKEN_MAX 32   /* bytes of a token, longer ones are cut at a UTF-8 boundary */
#define BT_STORE__TEXT_VERSION 1 /* bump whenever the rules change: stored indexes get rebuilt */

/* Called for each token in order; return nonzero to stop (bt_store__tokenize then returns that
 * value). tok is NOT NUL-terminated, valid only during the call, 1..BT_STORE__TOKEN_MAX bytes. */
typedef int (*bt_store__token_fn)(const char *tok, size_t len, void *ud);

/* Split and fold @len bytes of @text (any bytes, need not be valid UTF-8 or NUL-terminated).
 * Returns 0 or the callback's nonzero value. Never allocates. */
int bt_store__tokenize(const char *text, size_t len, bt_store__token_fn fn, void *ud);

#endif
