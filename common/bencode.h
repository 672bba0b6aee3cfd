/*
 * bencode.h - zero-copy bencode decoder and canonical encoder (BEP 3), internal to the libraries.
 *
 * Decoding is one pass over a (pointer, length) buffer that fills an array of tokens in pre-order:
 * every value, at any depth, is one token holding its type, its exact byte range in the input (so
 * the bytes of an info dictionary can be hashed as received) and the index of its next sibling
 * (so a subtree is skipped in O(1)).  Nothing is copied; strings point into the input, which
 * must outlive the document.  The parser never recurses: hostile nesting costs an error at
 * max_depth, not the stack.
 *
 * Strictness is chosen per call.  By default the decoder accepts only canonical bencode: integers
 * without leading zeros or "-0", dictionary keys sorted as raw bytes and unique, and nothing after
 * the value.  Data we verify (metadata, stored records) is decoded strictly; messages from
 * arbitrary DHT nodes may use BT_BEN_LAX, because real clients send unsorted keys.
 *
 *     bt_ben_tok toks[256];
 *     bt_ben_doc doc;
 *     bt_ben_error err;
 *     bt_ben_doc_init(&doc, toks, 256);
 *     if (bt_ben_decode(&doc, pkt, n, BT_BEN_LAX, &err) < 0)
 *         log("bad packet at %zu: %s", err.offset, err.reason);
 *     int32_t t = bt_ben_dict_get(&doc, 0, "t", 1);
 *
 * The encoder appends to a bt_buf and refuses to produce non-canonical output: keys must be given
 * in increasing order, containers must balance; the first misuse is kept and reported by
 * bt_ben_enc_finish().
 */
#ifndef BT_COMMON_BENCODE_H
#define BT_COMMON_BENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef enum bt_ben_type {
	BT_BEN_INT = 1,
	BT_BEN_STR = 2,
	BT_BEN_LIST = 3,
	BT_BEN_DICT = 4
} bt_ben_type;

/* Decoder flags. */
enum {
	BT_BEN_LAX_KEYS = 1u << 0,     /* accept unsorted and duplicate keys (lookups find the first) */
	BT_BEN_LAX_INTS = 1u << 1,     /* accept "i03e" and "i-0e" (and "03:abc") */
	BT_BEN_ALLOW_TRAILING = 1u << 2, /* stop after the first value; doc.used says where (BEP 9
	                                    data messages carry raw bytes after their dictionary) */
	BT_BEN_LAX = BT_BEN_LAX_KEYS | BT_BEN_LAX_INTS
};

/* Error codes (negative). */
enum {
	BT_BEN_E_TRUNCATED = -1,  /* input ends inside a value */
	BT_BEN_E_SYNTAX = -2,     /* a byte that cannot start or continue a value */
	BT_BEN_E_NONCANONICAL = -3, /* leading zero, "-0" */
	BT_BEN_E_KEYORDER = -4,   /* dictionary keys not sorted, or repeated */
	BT_BEN_E_KEYTYPE = -5,    /* a dictionary key that is not a string, or a key with no value */
	BT_BEN_E_RANGE = -6,      /* integer outside int64, string longer than the input */
	BT_BEN_E_DEPTH = -7,      /* nesting deeper than max_depth */
	BT_BEN_E_TOOMANY = -8,    /* more values than the token limit */
	BT_BEN_E_TRAILING = -9,   /* bytes after the value */
	BT_BEN_E_NOMEM = -10,
	BT_BEN_E_EMPTY = -11,     /* no input at all */
	BT_BEN_E_MISUSE = -12,    /* encoder: unbalanced containers, value where a key belongs */
	BT_BEN_E_NOSPACE = -13    /* encoder: the output buffer's cap was reached */
};

/* The default and the hard maximum nesting depth.  A DHT message nests 3 deep, an info
 * dictionary 5 (info > files > file > path > component). */
#define BT_BEN_DEFAULT_DEPTH 32
#define BT_BEN_MAX_DEPTH 256

/* One decoded value.  Offsets are into the decoded buffer. */
typedef struct bt_ben_tok {
	uint32_t start; /* first byte of the value: 'i', 'l', 'd' or the first digit of a length */
	uint32_t end;   /* one past its last byte */
	uint32_t next;  /* index of the token after this value's subtree */
	uint32_t type;  /* bt_ben_type */
	union {
		int64_t i;                         /* BT_BEN_INT */
		struct { uint32_t off, len; } s;   /* BT_BEN_STR: the bytes, without the length */
		uint32_t count;                    /* LIST: elements; DICT: key/value pairs */
	} v;
} bt_ben_tok;

typedef struct bt_ben_doc {
	const uint8_t *buf;  /* the decoded input (not owned) */
	size_t len;
	size_t used;         /* bytes the value took (== len unless BT_BEN_ALLOW_TRAILING) */
	bt_ben_tok *toks;
	uint32_t ntoks;
	uint32_t cap;        /* tokens available in toks */
	uint32_t max_tokens; /* growable documents: never more than this */
	unsigned max_depth;  /* default BT_BEN_DEFAULT_DEPTH; at most BT_BEN_MAX_DEPTH */
	int owned;           /* toks is ours to grow and free */
} bt_ben_doc;

typedef struct bt_ben_error {
	int code;           /* BT_BEN_E_* */
	size_t offset;      /* byte where decoding failed */
	const char *reason; /* static English text */
} bt_ben_error;

/* A document over caller tokens: decoding never allocates and fails with BT_BEN_E_TOOMANY past
 * @cap values.  Any input of n bytes holds at most n / 2 values. */
void bt_ben_doc_init(bt_ben_doc *doc, bt_ben_tok *toks, uint32_t cap);

/* A document whose tokens are allocated and grown as needed, to at most @max_tokens. */
void bt_ben_doc_init_alloc(bt_ben_doc *doc, uint32_t max_tokens);

/* Free the tokens of a growable document.  The document may be decoded into again. */
void bt_ben_doc_free(bt_ben_doc *doc);

/* Decode @len bytes at @buf into @doc; the root is token 0.  @flags: BT_BEN_* above.  Returns 0,
 * or a BT_BEN_E_* code with @err (may be NULL) saying where and why.  Inputs of 4 GiB or more
 * are refused (BT_BEN_E_RANGE). */
int bt_ben_decode(bt_ben_doc *doc, const void *buf, size_t len, unsigned flags, bt_ben_error *err);

/* Accessors.  Indices are token indices; -1 means "none" and is accepted (and returned) by all of
 * them, so lookups chain without checks: bt_ben_dict_get(d, bt_ben_dict_get(d, 0, "r", 1), ...). */
static inline int bt_ben_is(const bt_ben_doc *doc, int32_t i, bt_ben_type t)
{
	return i >= 0 && (uint32_t)i < doc->ntoks && doc->toks[i].type == (uint32_t)t;
}

/* Value of key @key (@klen bytes) in dictionary @dict, or -1. */
int32_t bt_ben_dict_get(const bt_ben_doc *doc, int32_t dict, const char *key, size_t klen);

/* Same with a NUL-terminated key. */
int32_t bt_ben_dict_getz(const bt_ben_doc *doc, int32_t dict, const char *key);

/* Element @n of list @list, or -1. */
int32_t bt_ben_list_at(const bt_ben_doc *doc, int32_t list, uint32_t n);

/* First child of a list or dict (for a dict, its first key), or -1 when empty. */
int32_t bt_ben_first(const bt_ben_doc *doc, int32_t container);

/* The sibling after @i inside @container, or -1 at the end. */
int32_t bt_ben_next(const bt_ben_doc *doc, int32_t container, int32_t i);

/* A string's bytes and length, or NULL if @i is not a string. */
const uint8_t *bt_ben_str(const bt_ben_doc *doc, int32_t i, size_t *len);

/* An integer into @out; returns 0, or -1 if @i is not an integer. */
int bt_ben_int(const bt_ben_doc *doc, int32_t i, int64_t *out);

/* The exact encoded bytes of value @i (e.g. to hash an info dictionary), or NULL. */
const uint8_t *bt_ben_raw(const bt_ben_doc *doc, int32_t i, size_t *len);

/* Shorthands: string / integer at @key of @dict. */
const uint8_t *bt_ben_dict_str(const bt_ben_doc *doc, int32_t dict, const char *key, size_t *len);
int bt_ben_dict_int(const bt_ben_doc *doc, int32_t dict, const char *key, int64_t *out);

/* A static English text for a BT_BEN_E_* code. */
const char *bt_ben_strerror(int code);

/* ---- Encoder ---- */

typedef struct bt_ben_enc_frame {
	uint8_t type;      /* BT_BEN_LIST or BT_BEN_DICT */
	uint32_t count;    /* values written in this container (a dict counts keys and values) */
	size_t key_off;    /* the previous key's bytes in the output, to enforce the order */
	size_t key_len;
} bt_ben_enc_frame;

#define BT_BEN_ENC_MAX_DEPTH 32

typedef struct bt_ben_enc {
	bt_buf *out;
	unsigned depth;
	unsigned top;  /* values written at the top level (exactly one makes a document) */
	int err;       /* first error: BT_BEN_E_MISUSE, _KEYTYPE, _KEYORDER, _DEPTH, _NOMEM, _NOSPACE */
	bt_ben_enc_frame stack[BT_BEN_ENC_MAX_DEPTH];
} bt_ben_enc;

void bt_ben_enc_init(bt_ben_enc *e, bt_buf *out);
void bt_ben_enc_int(bt_ben_enc *e, int64_t v);
void bt_ben_enc_str(bt_ben_enc *e, const void *p, size_t n);
void bt_ben_enc_strz(bt_ben_enc *e, const char *s);
void bt_ben_enc_list(bt_ben_enc *e);
void bt_ben_enc_dict(bt_ben_enc *e);
void bt_ben_enc_end(bt_ben_enc *e);

/* Append already-encoded bytes as one value (e.g. a verified info dictionary).  They are not
 * re-checked: the caller vouches that they are one canonical value. */
void bt_ben_enc_raw(bt_ben_enc *e, const void *p, size_t n);

/* Re-encode value @i of @doc (and its subtree) canonically.  Fails with BT_BEN_E_KEYORDER on a
 * lax document whose keys are out of order. */
void bt_ben_enc_value(bt_ben_enc *e, const bt_ben_doc *doc, int32_t i);

/* 0 if the output is one complete, canonical value; otherwise the first error. */
int bt_ben_enc_finish(const bt_ben_enc *e);

#endif
