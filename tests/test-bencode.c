/*
 * test-bencode.c - the bencode decoder and encoder on normal, edge and hostile input.
 *
 * Beyond examples, two properties are checked over many generated and mutated inputs: a strict
 * decode that succeeds re-encodes to exactly the input (so "strict" really means canonical), and
 * no proper prefix of a valid value ever decodes (bencode is prefix-free).
 */
#include <check.h>

#include "test-util.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"

#define NTOK 4096
static bt_ben_tok toks[NTOK];

static int decode(bt_ben_doc *doc, const char *s, size_t n, unsigned flags, bt_ben_error *err)
{
	bt_ben_doc_init(doc, toks, NTOK);
	return bt_ben_decode(doc, s, n, flags, err);
}

static int decode_s(bt_ben_doc *doc, const char *s, unsigned flags)
{
	return decode(doc, s, strlen(s), flags, NULL);
}

/* Re-encode value 0 of @doc; returns a malloc'd copy and its length, or NULL with *rc set. */
static uint8_t *reencode(const bt_ben_doc *doc, size_t *len, int *rc)
{
	bt_buf b;
	bt_ben_enc e;
	bt_buf_init(&b, 0);
	bt_ben_enc_init(&e, &b);
	bt_ben_enc_value(&e, doc, 0);
	*rc = bt_ben_enc_finish(&e);
	if (*rc) {
		bt_buf_free(&b);
		return NULL;
	}
	return bt_buf_steal(&b, len);
}

/* Deterministic PRNG (xorshift64*) so every run tests the same inputs. */
START_TEST(test_scalars)
{
	bt_ben_doc doc;
	int64_t v;
	size_t n;
	ck_assert_int_eq(decode_s(&doc, "i42e", 0), 0);
	ck_assert_int_eq(bt_ben_int(&doc, 0, &v), 0);
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(decode_s(&doc, "i-7e", 0), 0);
	bt_ben_int(&doc, 0, &v);
	ck_assert_int_eq(v, -7);
	ck_assert_int_eq(decode_s(&doc, "i0e", 0), 0);
	ck_assert_int_eq(decode_s(&doc, "i9223372036854775807e", 0), 0);
	bt_ben_int(&doc, 0, &v);
	ck_assert(v == INT64_MAX);
	ck_assert_int_eq(decode_s(&doc, "i-9223372036854775808e", 0), 0);
	bt_ben_int(&doc, 0, &v);
	ck_assert(v == INT64_MIN);
	ck_assert_int_eq(decode_s(&doc, "i9223372036854775808e", 0), BT_BEN_E_RANGE);
	ck_assert_int_eq(decode_s(&doc, "i-9223372036854775809e", 0), BT_BEN_E_RANGE);
	ck_assert_int_eq(decode_s(&doc, "i99999999999999999999999e", 0), BT_BEN_E_RANGE);

	ck_assert_int_eq(decode_s(&doc, "4:spam", 0), 0);
	const uint8_t *s = bt_ben_str(&doc, 0, &n);
	ck_assert_uint_eq(n, 4);
	ck_assert(memcmp(s, "spam", 4) == 0);
	ck_assert_ptr_null(bt_ben_str(&doc, 1, &n));   /* out of range index */
	ck_assert_int_eq(bt_ben_int(&doc, 0, &v), -1); /* wrong type */
	ck_assert_int_eq(decode_s(&doc, "0:", 0), 0);
	ck_assert_ptr_nonnull(bt_ben_str(&doc, 0, &n));
	ck_assert_uint_eq(n, 0);

	/* binary strings, NUL bytes included */
	ck_assert_int_eq(decode(&doc, "3:a\0b", 5, 0, NULL), 0);
	s = bt_ben_str(&doc, 0, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert(s[1] == 0);
}
END_TEST

START_TEST(test_containers)
{
	bt_ben_doc doc;
	size_t n;
	int64_t v;
	const char *m = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
	ck_assert_int_eq(decode_s(&doc, m, 0), 0);
	ck_assert(bt_ben_is(&doc, 0, BT_BEN_DICT));
	ck_assert_uint_eq(doc.toks[0].v.count, 4);
	ck_assert_uint_eq(doc.toks[0].next, doc.ntoks);
	int32_t a = bt_ben_dict_getz(&doc, 0, "a");
	ck_assert(bt_ben_is(&doc, a, BT_BEN_DICT));
	const uint8_t *id = bt_ben_dict_str(&doc, a, "id", &n);
	ck_assert_uint_eq(n, 20);
	ck_assert(memcmp(id, "abcdefghij0123456789", 20) == 0);
	const uint8_t *raw = bt_ben_raw(&doc, a, &n);
	ck_assert_uint_eq(n, strlen("d2:id20:abcdefghij0123456789e"));
	ck_assert(memcmp(raw, "d2:id20:abcdefghij0123456789e", n) == 0);
	ck_assert_int_eq(bt_ben_dict_getz(&doc, 0, "zz"), -1);
	ck_assert_int_eq(bt_ben_dict_getz(&doc, -1, "a"), -1);
	ck_assert_int_eq(bt_ben_dict_getz(&doc, a, "q"),
	                 -1); /* keys do not leak out of a subtree */
	const uint8_t *y = bt_ben_dict_str(&doc, 0, "y", &n);
	ck_assert(n == 1 && y[0] == 'q');

	ck_assert_int_eq(decode_s(&doc, "li1ei2eli3eei4ee", 0), 0);
	ck_assert_uint_eq(doc.toks[0].v.count, 4);
	ck_assert_int_eq(bt_ben_int(&doc, bt_ben_list_at(&doc, 0, 3), &v), 0);
	ck_assert_int_eq(v, 4);
	int32_t inner = bt_ben_list_at(&doc, 0, 2);
	ck_assert(bt_ben_is(&doc, inner, BT_BEN_LIST));
	ck_assert_int_eq(bt_ben_int(&doc, bt_ben_list_at(&doc, inner, 0), &v), 0);
	ck_assert_int_eq(v, 3);
	ck_assert_int_eq(bt_ben_list_at(&doc, 0, 4), -1);
	ck_assert_int_eq(bt_ben_list_at(&doc, inner, 1), -1);

	/* iteration */
	int count = 0;
	for (int32_t i = bt_ben_first(&doc, 0); i >= 0; i = bt_ben_next(&doc, 0, i))
		count++;
	ck_assert_int_eq(count, 4);

	ck_assert_int_eq(decode_s(&doc, "le", 0), 0);
	ck_assert_int_eq(bt_ben_first(&doc, 0), -1);
	ck_assert_int_eq(decode_s(&doc, "de", 0), 0);
	ck_assert_int_eq(bt_ben_first(&doc, 0), -1);
	ck_assert_int_eq(decode_s(&doc, "llleee", 0), 0);
	ck_assert_uint_eq(doc.ntoks, 3);
	ck_assert_uint_eq(doc.toks[1].next, 3);
	ck_assert_uint_eq(doc.toks[2].next, 3);
}
END_TEST

START_TEST(test_strict_rejects)
{
	static const struct {
		const char *in;
		int code;
	} bad[] = {
	    {"i03e", BT_BEN_E_NONCANONICAL},
	    {"i-0e", BT_BEN_E_NONCANONICAL},
	    {"i00e", BT_BEN_E_NONCANONICAL},
	    {"i-e", BT_BEN_E_SYNTAX},
	    {"ie", BT_BEN_E_SYNTAX},
	    {"i1.5e", BT_BEN_E_SYNTAX},
	    {"i+1e", BT_BEN_E_SYNTAX},
	    {"03:abc", BT_BEN_E_NONCANONICAL},
	    {"-1:a", BT_BEN_E_SYNTAX},
	    {"3abc", BT_BEN_E_SYNTAX},
	    {"d1:b0:1:a0:e", BT_BEN_E_KEYORDER},
	    {"d1:a0:1:a0:e", BT_BEN_E_KEYORDER},
	    {"d2:ab0:1:a0:e", BT_BEN_E_KEYORDER},
	    {"di1ei2ee", BT_BEN_E_KEYTYPE},
	    {"dlei1ee", BT_BEN_E_KEYTYPE},
	    {"d1:ae", BT_BEN_E_KEYTYPE},
	    {"i1ei2e", BT_BEN_E_TRAILING},
	    {"lee", BT_BEN_E_TRAILING},
	    {"e", BT_BEN_E_SYNTAX},
	    {"x", BT_BEN_E_SYNTAX},
	    {"l", BT_BEN_E_TRUNCATED},
	    {"d", BT_BEN_E_TRUNCATED},
	    {"5:abc", BT_BEN_E_TRUNCATED},
	    {"", BT_BEN_E_EMPTY},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bt_ben_doc doc;
		bt_ben_error err = {0};
		int rc = decode(&doc, bad[i].in, strlen(bad[i].in), 0, &err);
		ck_assert_msg(rc == bad[i].code, "\"%s\": got %d (%s), want %d", bad[i].in, rc,
		              bt_ben_strerror(rc), bad[i].code);
		ck_assert_int_eq(err.code, rc);
		ck_assert_ptr_nonnull(err.reason);
		ck_assert(err.offset <= strlen(bad[i].in));
	}
	/* the offset names the guilty byte */
	bt_ben_doc doc;
	bt_ben_error err;
	ck_assert_int_eq(decode(&doc, "d1:b0:1:a0:e", 12, 0, &err), BT_BEN_E_KEYORDER);
	ck_assert_uint_eq(err.offset, 6);
	ck_assert_int_eq(decode(&doc, "li1ei2exe", 9, 0, &err), BT_BEN_E_SYNTAX);
	ck_assert_uint_eq(err.offset, 7);
}
END_TEST

START_TEST(test_lax)
{
	bt_ben_doc doc;
	int64_t v;
	size_t n;
	ck_assert_int_eq(decode_s(&doc, "d1:bi2e1:ai1ee", BT_BEN_LAX), 0);
	ck_assert_int_eq(bt_ben_dict_int(&doc, 0, "a", &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(decode_s(&doc, "d1:ai1e1:ai2ee", BT_BEN_LAX_KEYS), 0);
	bt_ben_dict_int(&doc, 0, "a", &v);
	ck_assert_int_eq(v, 1); /* first of duplicates */
	ck_assert_int_eq(decode_s(&doc, "i007e", BT_BEN_LAX_INTS), 0);
	bt_ben_int(&doc, 0, &v);
	ck_assert_int_eq(v, 7);
	ck_assert_int_eq(decode_s(&doc, "i-0e", BT_BEN_LAX_INTS), 0);
	ck_assert_int_eq(decode_s(&doc, "003:abc", BT_BEN_LAX_INTS), 0);
	ck_assert_ptr_nonnull(bt_ben_str(&doc, 0, &n));
	ck_assert_uint_eq(n, 3);
	/* lax never means malformed */
	ck_assert_int_eq(decode_s(&doc, "d1:ae", BT_BEN_LAX), BT_BEN_E_KEYTYPE);
	ck_assert_int_eq(decode_s(&doc, "i1ei2e", BT_BEN_LAX), BT_BEN_E_TRAILING);
	/* a lax document that is not canonical cannot be re-encoded as if it were */
	ck_assert_int_eq(decode_s(&doc, "d1:bi2e1:ai1ee", BT_BEN_LAX), 0);
	int rc;
	ck_assert_ptr_null(reencode(&doc, &n, &rc));
	ck_assert_int_eq(rc, BT_BEN_E_KEYORDER);
}
END_TEST

START_TEST(test_trailing)
{
	/* a BEP 9 data message: a dictionary, then the raw piece */
	const char msg[] = "d8:msg_typei1e5:piecei0e10:total_sizei5eeHELLO";
	bt_ben_doc doc;
	ck_assert_int_eq(decode(&doc, msg, sizeof(msg) - 1, 0, NULL), BT_BEN_E_TRAILING);
	ck_assert_int_eq(decode(&doc, msg, sizeof(msg) - 1, BT_BEN_ALLOW_TRAILING, NULL), 0);
	ck_assert_uint_eq(doc.used, sizeof(msg) - 1 - 5);
	ck_assert(memcmp(msg + doc.used, "HELLO", 5) == 0);
}
END_TEST

START_TEST(test_deep_nesting)
{
	size_t n = 100000;
	char *s = malloc(2 * n);
	memset(s, 'l', n);
	memset(s + n, 'e', n);
	bt_ben_doc doc;
	bt_ben_error err;
	ck_assert_int_eq(decode(&doc, s, 2 * n, 0, &err), BT_BEN_E_DEPTH);
	ck_assert_uint_eq(err.offset, BT_BEN_DEFAULT_DEPTH);
	doc.max_depth = 100000; /* clamped to the hard maximum */
	bt_ben_doc_init(&doc, toks, NTOK);
	doc.max_depth = 100000;
	ck_assert_int_eq(bt_ben_decode(&doc, s, 2 * n, 0, &err), BT_BEN_E_DEPTH);
	ck_assert_uint_eq(err.offset, BT_BEN_MAX_DEPTH);
	/* 100,000 unclosed lists and alternating dict/list nesting */
	ck_assert_int_eq(decode(&doc, s, n, 0, &err), BT_BEN_E_DEPTH);
	for (size_t i = 0; i < n; i++)
		s[i] = (i & 1) ? 'l' : 'd';
	ck_assert_int_eq(decode(&doc, s, n, 0, &err), BT_BEN_E_KEYTYPE);
	/* exactly at the limit is fine */
	char ok[2 * BT_BEN_DEFAULT_DEPTH];
	memset(ok, 'l', BT_BEN_DEFAULT_DEPTH);
	memset(ok + BT_BEN_DEFAULT_DEPTH, 'e', BT_BEN_DEFAULT_DEPTH);
	ck_assert_int_eq(decode(&doc, ok, sizeof(ok), 0, &err), 0);
	free(s);
}
END_TEST

START_TEST(test_huge_lengths)
{
	static const char *bad[] = {
	    "9223372036854775808:abc", /* 2^63 */
	    "9223372036854775807:abc",
	    "18446744073709551616:abc", /* 2^64: would wrap to 0 */
	    "18446744073709551619:abc", /* 2^64 + 3: would wrap to 3 */
	    "4294967296:abc",           /* 2^32 */
	    "4294967299:abc",
	    "99999999999999999999999999999999999999:",
	    "4:abc",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bt_ben_doc doc;
		int rc = decode_s(&doc, bad[i], 0);
		ck_assert_msg(rc == BT_BEN_E_TRUNCATED, "%s: %d", bad[i], rc);
	}
	/* inside a container, too */
	bt_ben_doc doc;
	ck_assert_int_eq(decode_s(&doc, "l18446744073709551619:abce", 0), BT_BEN_E_TRUNCATED);
}
END_TEST

START_TEST(test_token_limits)
{
	bt_ben_tok few[3];
	bt_ben_doc doc;
	bt_ben_error err;
	bt_ben_doc_init(&doc, few, 3);
	ck_assert_int_eq(bt_ben_decode(&doc, "li1ei2ee", 8, 0, &err), 0);
	ck_assert_int_eq(bt_ben_decode(&doc, "li1ei2ei3ee", 11, 0, &err), BT_BEN_E_TOOMANY);
	ck_assert_uint_eq(err.offset, 7);

	/* growable: grows, then stops at its limit */
	size_t n = 50000;
	char *s = malloc(n * 3 + 2);
	s[0] = 'l';
	for (size_t i = 0; i < n; i++)
		memcpy(s + 1 + 3 * i, "i1e", 3);
	s[1 + 3 * n] = 'e';
	bt_ben_doc_init_alloc(&doc, 100000);
	ck_assert_int_eq(bt_ben_decode(&doc, s, 3 * n + 2, 0, &err), 0);
	ck_assert_uint_eq(doc.ntoks, n + 1);
	ck_assert_uint_eq(doc.toks[0].v.count, n);
	bt_ben_doc_free(&doc);
	bt_ben_doc_init_alloc(&doc, 1000);
	ck_assert_int_eq(bt_ben_decode(&doc, s, 3 * n + 2, 0, &err), BT_BEN_E_TOOMANY);
	bt_ben_doc_free(&doc);
	free(s);
}
END_TEST

/* Real-looking messages: KRPC of every kind and a small torrent file. */
static const char *samples[] = {
    "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
    "d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re",
    "d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe",
    "d1:rd2:id20:0123456789abcdefghij5:nodes52:"
    "0123456789abcdefghij012345KLMNOPQRSTUVWXYZ0123456789e1:t2:aa1:y1:re",
    "d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:"
    "porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
    "d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re",
    "d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
    "d1:rd2:id20:abcdefghij01234567898:intervali21600e5:nodes0:3:numi3e7:samples20:"
    "mnopqrstuvwxyz123456e1:t2:aa1:y1:re",
    "d8:announce31:http://tracker.invalid/"
    "announce4:infod5:filesld6:lengthi5e4:pathl1:a5:b.txteed6:lengthi7e4:pathl1:ceee4:name4:test12:"
    "piece lengthi16384e6:pieces20:01234567890123456789ee",
};

START_TEST(test_roundtrip_samples)
{
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		bt_ben_doc doc;
		bt_ben_error err;
		size_t len = strlen(samples[i]), n;
		int rc = decode(&doc, samples[i], len, 0, &err);
		ck_assert_msg(rc == 0, "sample %zu: %s at %zu", i, err.reason, err.offset);
		uint8_t *out = reencode(&doc, &n, &rc);
		ck_assert_int_eq(rc, 0);
		ck_assert_uint_eq(n, len);
		ck_assert(memcmp(out, samples[i], len) == 0);
		free(out);
		/* every token's byte range is itself a valid value */
		for (uint32_t t = 0; t < doc.ntoks; t++) {
			bt_ben_tok sub[256];
			bt_ben_doc d2;
			size_t rl;
			const uint8_t *raw = bt_ben_raw(&doc, (int32_t)t, &rl);
			bt_ben_doc_init(&d2, sub, 256);
			ck_assert_int_eq(bt_ben_decode(&d2, raw, rl, 0, NULL), 0);
			ck_assert_uint_eq(d2.ntoks, doc.toks[t].next - t);
		}
	}
	/* the info dictionary's bytes, exactly */
	bt_ben_doc doc;
	const char *tf = samples[8];
	ck_assert_int_eq(decode_s(&doc, tf, 0), 0);
	size_t n;
	const uint8_t *info = bt_ben_raw(&doc, bt_ben_dict_getz(&doc, 0, "info"), &n);
	const char *want = strstr(tf, "4:infod") + 6;
	ck_assert_ptr_eq(info, (const uint8_t *)want);
	ck_assert_uint_eq(n, strlen(want) - 1);
}
END_TEST

START_TEST(test_truncation_every_byte)
{
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		size_t len = strlen(samples[i]);
		for (size_t cut = 0; cut < len; cut++) {
			/* a heap copy of exactly cut bytes, so ASan sees any read past the end */
			char *p = malloc(cut ? cut : 1);
			memcpy(p, samples[i], cut);
			bt_ben_doc doc;
			bt_ben_error err;
			int rc = decode(&doc, p, cut, 0, &err);
			ck_assert_msg(rc < 0, "sample %zu cut at %zu decoded", i, cut);
			ck_assert(err.offset <= cut);
			rc = decode(&doc, p, cut, BT_BEN_LAX | BT_BEN_ALLOW_TRAILING, &err);
			ck_assert_msg(rc < 0, "sample %zu cut at %zu decoded (lax)", i, cut);
			free(p);
		}
	}
}
END_TEST

/* Random canonical documents: encode with the encoder, decode strictly, re-encode, compare. */
static void gen_value(bt_ben_enc *e, int depth)
{
	unsigned kind = depth > 5 ? (unsigned)(bt_test_rnd() % 2) : (unsigned)(bt_test_rnd() % 4);
	switch (kind) {
	case 0: {
		int64_t v = (int64_t)bt_test_rnd();
		if (bt_test_rnd() % 2)
			v %= 1000;
		bt_ben_enc_int(e, v);
		break;
	}
	case 1: {
		uint8_t s[64];
		size_t n = bt_test_rnd() % sizeof(s);
		for (size_t i = 0; i < n; i++)
			s[i] = (uint8_t)bt_test_rnd();
		bt_ben_enc_str(e, s, n);
		break;
	}
	case 2: {
		bt_ben_enc_list(e);
		unsigned n = (unsigned)(bt_test_rnd() % 6);
		for (unsigned i = 0; i < n; i++)
			gen_value(e, depth + 1);
		bt_ben_enc_end(e);
		break;
	}
	default: {
		bt_ben_enc_dict(e);
		unsigned n = (unsigned)(bt_test_rnd() % 6);
		/* increasing keys: a byte per level of the key, strictly growing */
		char key[8];
		for (unsigned i = 0; i < n; i++) {
			snprintf(key, sizeof(key), "k%02u", i * 3 + (unsigned)(bt_test_rnd() % 3));
			bt_ben_enc_strz(e, key);
			gen_value(e, depth + 1);
		}
		bt_ben_enc_end(e);
		break;
	}
	}
}

START_TEST(test_roundtrip_random)
{
	for (int iter = 0; iter < 5000; iter++) {
		bt_buf b;
		bt_ben_enc e;
		bt_buf_init(&b, 0);
		bt_ben_enc_init(&e, &b);
		gen_value(&e, 0);
		ck_assert_int_eq(bt_ben_enc_finish(&e), 0);
		bt_ben_doc doc;
		bt_ben_error err;
		int rc = decode(&doc, (const char *)b.data, b.len, 0, &err);
		ck_assert_msg(rc == 0, "iter %d: %s at %zu", iter, err.reason, err.offset);
		size_t n;
		uint8_t *out = reencode(&doc, &n, &rc);
		ck_assert_int_eq(rc, 0);
		ck_assert_uint_eq(n, b.len);
		ck_assert(memcmp(out, b.data, n) == 0);
		free(out);
		bt_buf_free(&b);
	}
}
END_TEST

/* Mutations of valid messages: whatever strict decoding accepts is canonical (re-encodes to the
 * same bytes); nothing crashes or reads out of bounds (ASan build). */
START_TEST(test_mutations)
{
	for (int iter = 0; iter < 100000; iter++) {
		const char *src = samples[bt_test_rnd() % (sizeof(samples) / sizeof(samples[0]))];
		size_t len = strlen(src);
		char *p = malloc(len);
		memcpy(p, src, len);
		unsigned edits = 1 + (unsigned)(bt_test_rnd() % 3);
		for (unsigned k = 0; k < edits; k++) {
			static const char pool[] = "ilde0123456789:-x";
			p[bt_test_rnd() % len] = (bt_test_rnd() % 2)
			                             ? pool[bt_test_rnd() % (sizeof(pool) - 1)]
			                             : (char)bt_test_rnd();
		}
		size_t plen = (bt_test_rnd() % 8 == 0) ? bt_test_rnd() % len : len;
		bt_ben_doc doc;
		int rc = decode(&doc, p, plen, 0, NULL);
		if (rc == 0) {
			size_t n;
			uint8_t *out = reencode(&doc, &n, &rc);
			ck_assert_int_eq(rc, 0);
			ck_assert_uint_eq(n, plen);
			ck_assert(memcmp(out, p, n) == 0);
			free(out);
		}
		(void)decode(&doc, p, plen, BT_BEN_LAX | BT_BEN_ALLOW_TRAILING, NULL);
		free(p);
	}
}
END_TEST

START_TEST(test_encoder)
{
	bt_buf b;
	bt_ben_enc e;
	bt_buf_init(&b, 0);

	bt_ben_enc_init(&e, &b);
	bt_ben_enc_dict(&e);
	bt_ben_enc_strz(&e, "a");
	bt_ben_enc_int(&e, INT64_MIN);
	bt_ben_enc_strz(&e, "b");
	bt_ben_enc_int(&e, INT64_MAX);
	bt_ben_enc_strz(&e, "c");
	bt_ben_enc_list(&e);
	bt_ben_enc_str(&e, "", 0);
	bt_ben_enc_int(&e, 0);
	bt_ben_enc_raw(&e, "de", 2);
	bt_ben_enc_end(&e);
	bt_ben_enc_end(&e);
	ck_assert_int_eq(bt_ben_enc_finish(&e), 0);
	const char *want = "d1:ai-9223372036854775808e1:bi9223372036854775807e1:cl0:i0edeee";
	ck_assert_uint_eq(b.len, strlen(want));
	ck_assert(memcmp(b.data, want, b.len) == 0);

	/* keys out of order, repeated, or "b" after "ba" */
	static const char *orders[][2] = {{"b", "a"}, {"a", "a"}, {"ba", "b"}};
	for (int i = 0; i < 3; i++) {
		bt_buf_reset(&b);
		bt_ben_enc_init(&e, &b);
		bt_ben_enc_dict(&e);
		bt_ben_enc_strz(&e, orders[i][0]);
		bt_ben_enc_int(&e, 1);
		bt_ben_enc_strz(&e, orders[i][1]);
		bt_ben_enc_int(&e, 2);
		bt_ben_enc_end(&e);
		ck_assert_int_eq(bt_ben_enc_finish(&e), BT_BEN_E_KEYORDER);
	}
	/* "a" < "ab" < "b" is fine */
	bt_buf_reset(&b);
	bt_ben_enc_init(&e, &b);
	bt_ben_enc_dict(&e);
	bt_ben_enc_strz(&e, "a");
	bt_ben_enc_int(&e, 1);
	bt_ben_enc_strz(&e, "ab");
	bt_ben_enc_int(&e, 1);
	bt_ben_enc_strz(&e, "b");
	bt_ben_enc_int(&e, 1);
	bt_ben_enc_end(&e);
	ck_assert_int_eq(bt_ben_enc_finish(&e), 0);

	/* non-string key, dangling key, unbalanced, two roots, empty */
	bt_buf_reset(&b);
	bt_ben_enc_init(&e, &b);
	bt_ben_enc_dict(&e);
	bt_ben_enc_int(&e, 1);
	ck_assert_int_eq(bt_ben_enc_finish(&e), BT_BEN_E_KEYTYPE);
	bt_buf_reset(&b);
	bt_ben_enc_init(&e, &b);
	bt_ben_enc_dict(&e);
	bt_ben_enc_strz(&e, "k");
	bt_ben_enc_end(&e);
	ck_assert_int_eq(bt_ben_enc_finish(&e), BT_BEN_E_MISUSE);
	bt_buf_reset(&b);
	bt_ben_enc_init(&e, &b);
	bt_ben_enc_list(&e);
	ck_assert_int_eq(bt_ben_enc_finish(&e), BT_BEN_E_MISUSE);
	bt_ben_enc_end(&e);
	bt_ben_enc_end(&e);
	ck_assert_int_eq(bt_ben_enc_finish(&e), BT_BEN_E_MISUSE);
	bt_buf_reset(&b);
	bt_ben_enc_init(&e, &b);
	bt_ben_enc_int(&e, 1);
	bt_ben_enc_int(&e, 2);
	ck_assert_int_eq(bt_ben_enc_finish(&e), BT_BEN_E_MISUSE);
	bt_buf_reset(&b);
	bt_ben_enc_init(&e, &b);
	ck_assert_int_eq(bt_ben_enc_finish(&e), BT_BEN_E_MISUSE);

	/* depth */
	bt_buf_reset(&b);
	bt_ben_enc_init(&e, &b);
	for (int i = 0; i <= BT_BEN_ENC_MAX_DEPTH; i++)
		bt_ben_enc_list(&e);
	ck_assert_int_eq(bt_ben_enc_finish(&e), BT_BEN_E_DEPTH);
	bt_buf_free(&b);

	/* a fixed buffer that is too small: NOSPACE, and nothing written past it */
	uint8_t mem[16];
	memset(mem, 0xAA, sizeof(mem));
	bt_buf_init_fixed(&b, mem, 10);
	bt_ben_enc_init(&e, &b);
	bt_ben_enc_str(&e, "0123456789", 10);
	ck_assert_int_eq(bt_ben_enc_finish(&e), BT_BEN_E_NOSPACE);
	for (int i = 10; i < 16; i++)
		ck_assert_uint_eq(mem[i], 0xAA);
	bt_buf_init_fixed(&b, mem, 13);
	bt_ben_enc_init(&e, &b);
	bt_ben_enc_str(&e, "0123456789", 10);
	ck_assert_int_eq(bt_ben_enc_finish(&e), 0);
	ck_assert(memcmp(mem, "10:0123456789", 13) == 0);

	/* a capped heap buffer */
	bt_buf_init(&b, 100);
	bt_ben_enc_init(&e, &b);
	bt_ben_enc_list(&e);
	for (int i = 0; i < 100; i++)
		bt_ben_enc_int(&e, i);
	bt_ben_enc_end(&e);
	ck_assert_int_eq(bt_ben_enc_finish(&e), BT_BEN_E_NOSPACE);
	ck_assert(b.len <= 100);
	bt_buf_free(&b);
}
END_TEST

START_TEST(test_strerror)
{
	for (int c = 0; c >= BT_BEN_E_NOSPACE; c--)
		ck_assert_str_ne(bt_ben_strerror(c), "unknown bencode error");
	ck_assert_str_eq(bt_ben_strerror(-999), "unknown bencode error");
}
END_TEST

static Suite *bencode_suite(void)
{
	Suite *s = suite_create("bencode");
	TCase *tc = tcase_create("decode");
	tcase_add_test(tc, test_scalars);
	tcase_add_test(tc, test_containers);
	tcase_add_test(tc, test_strict_rejects);
	tcase_add_test(tc, test_lax);
	tcase_add_test(tc, test_trailing);
	suite_add_tcase(s, tc);
	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_deep_nesting);
	tcase_add_test(tc, test_huge_lengths);
	tcase_add_test(tc, test_token_limits);
	tcase_add_test(tc, test_truncation_every_byte);
	tcase_add_test(tc, test_mutations);
	suite_add_tcase(s, tc);
	tc = tcase_create("encode");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_roundtrip_samples);
	tcase_add_test(tc, test_roundtrip_random);
	tcase_add_test(tc, test_encoder);
	tcase_add_test(tc, test_strerror);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return bt_test_run(bencode_suite());
}
