/*
 * test-meta-info.c - libbtmeta's info dictionaries (libbtmeta/info.c) on normal, edge and hostile
 * input: v1 single- and multi-file, v2, hybrid; the display-safe forms of names and paths; every
 * reason to refuse a dictionary; .torrent files in and out; infohash matching.
 *
 * Inputs are bencode literals, so that a test shows the exact bytes it feeds, or are built with
 * the encoder when they are large or repetitive.  Hashes are checked against values computed
 * outside the code under test (sha1sum/sha256sum of the literal).
 */
#include <check.h>

#include "test-util.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"
#include "btmeta.h"

#define P20 "aaaaaaaaaaaaaaaaaaaa"
#define R32 "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"
#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/* A v1 single-file dictionary: 20000 bytes in two pieces of 16 KiB. */
#define SINGLE "d6:lengthi20000e4:name9:hello.txt12:piece lengthi16384e6:pieces40:" P20 P20 "e"

/* A v1 multi-file dictionary: nested path, a BEP 47 pad file, an executable hidden file. */
#define MULTI                                                                                      \
	"d5:filesl"                                                                                \
	"d6:lengthi5e4:pathl3:dir3:sub5:a.txtee"                                                   \
	"d4:attr1:p6:lengthi16379e4:pathl4:.pad5:16379ee"                                          \
	"d4:attr2:xh6:lengthi7e4:pathl1:bee"                                                       \
	"e4:name5:multi12:piece lengthi16384e6:pieces40:" P20 P20 "e"

/* A v2 dictionary: c (16384), dir/a (20000), dir/b (empty). */
#define V2TREE                                                                                     \
	"9:file treed"                                                                             \
	"1:cd0:d6:lengthi16384e11:pieces root32:" R32 "ee"                                         \
	"3:dird1:ad0:d6:lengthi20000e11:pieces root32:" R32 "ee1:bd0:d6:lengthi0eeee"              \
	"e"
#define V2 "d" V2TREE "12:meta versioni2e4:name2:v212:piece lengthi16384ee"

/* The same files as a hybrid: v1 list with a pad file after c, then the v2 tree. */
#define HYBRID                                                                                     \
	"d" V2TREE "5:filesl"                                                                      \
	"d6:lengthi16384e4:pathl1:cee"                                                             \
	"d6:lengthi20000e4:pathl3:dir1:aee"                                                        \
	"d4:attr1:p6:lengthi12768e4:pathl4:.pad5:12768ee"                                          \
	"d6:lengthi0e4:pathl3:dir1:bee"                                                            \
	"e12:meta versioni2e4:name2:v212:piece lengthi16384e6:pieces60:" P20 P20 P20 "e"

static bt_meta_info *parse_ok(const uint8_t *data, size_t len)
{
	bt_meta_info *info = (bt_meta_info *)1;
	int rc = bt_meta_info_parse(&info, data, len);
	ck_assert_msg(rc == 0, "parse failed: %d", rc);
	ck_assert_ptr_nonnull(info);
	return info;
}

/* The error of parsing @data; also that *out was cleared. */
static int parse_rc(const uint8_t *data, size_t len)
{
	bt_meta_info *info = (bt_meta_info *)1;
	int rc = bt_meta_info_parse(&info, data, len);
	if (rc == 0)
		bt_meta_info_free(info);
	else
		ck_assert_ptr_null(info);
	return rc;
}

static int parse_rcs(const char *s)
{
	return parse_rc((const uint8_t *)s, strlen(s));
}

static void hex_to(uint8_t *out, const char *hex)
{
	for (size_t i = 0; hex[2 * i]; i++) {
		unsigned v;
		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* Whether every pointer of @info lies inside the allocation that starts at @info. */
static void check_layout(const bt_meta_info *info)
{
	const char *lo = (const char *)info;
	const char *hi = (const char *)info->raw + info->raw_len + 1;
	ck_assert_ptr_eq(info->files, (const void *)(info + 1));
	ck_assert((const char *)info->raw > lo);
	ck_assert(info->raw[info->raw_len] == 0);
	ck_assert(info->name_raw[info->name_raw_len] == 0);
	ck_assert((const char *)info->name_raw >= hi && info->name >= hi);
	for (size_t i = 0; i < info->num_files; i++)
		ck_assert(info->files[i].path >= hi);
}

START_TEST(test_v1_single)
{
	bt_meta_info *info = parse_ok(S(SINGLE));
	uint8_t sha1[20], sha256[32];

	ck_assert_str_eq(info->name, "hello.txt");
	ck_assert_uint_eq(info->name_raw_len, 9);
	ck_assert(memcmp(info->name_raw, "hello.txt", 10) == 0);
	ck_assert_int_eq(info->name_is_utf8, 1);
	ck_assert_uint_eq(info->total_length, 20000);
	ck_assert_uint_eq(info->piece_length, 16384);
	ck_assert_uint_eq(info->num_pieces, 2);
	ck_assert_int_eq(info->is_private, 0);
	ck_assert_uint_eq(info->versions, BT_META_V1);
	ck_assert_uint_eq(info->num_files, 1);
	ck_assert_str_eq(info->files[0].path, "hello.txt");
	ck_assert_uint_eq(info->files[0].length, 20000);
	ck_assert_uint_eq(info->files[0].flags, 0);
	ck_assert_uint_eq(info->raw_len, sizeof(SINGLE) - 1);
	ck_assert(memcmp(info->raw, SINGLE, info->raw_len) == 0);
	ck_assert_ptr_ne(info->raw, (const void *)SINGLE); /* a copy */
	hex_to(sha1, "1c99329388e70845bb5a94a62a338bd743139c46");
	hex_to(sha256, "553dab2961f845496bd884c7afc9438de6c54555371f22376c649927e90571d3");
	ck_assert(memcmp(info->sha1, sha1, 20) == 0);
	ck_assert(memcmp(info->sha256, sha256, 32) == 0);
	check_layout(info);
	bt_meta_info_free(info);

	/* BEP 47 "attr" at the top applies to the single file */
	info = parse_ok(S("d4:attr1:x6:lengthi3e4:name1:x12:piece lengthi1e6:pieces20:" P20 "e"));
	ck_assert_uint_eq(info->files[0].flags, BT_META_FILE_EXEC);
	ck_assert_uint_eq(info->total_length, 3);
	bt_meta_info_free(info);

	/* empty file, no pieces */
	info = parse_ok(S("d6:lengthi0e4:name1:x12:piece lengthi1e6:pieces0:e"));
	ck_assert_uint_eq(info->total_length, 0);
	ck_assert_uint_eq(info->num_pieces, 0);
	bt_meta_info_free(info);
	bt_meta_info_free(NULL);
}
END_TEST

START_TEST(test_v1_multi)
{
	bt_meta_info *info = parse_ok(S(MULTI));

	ck_assert_str_eq(info->name, "multi");
	ck_assert_uint_eq(info->versions, BT_META_V1);
	ck_assert_uint_eq(info->num_files, 3);
	ck_assert_str_eq(info->files[0].path, "dir/sub/a.txt");
	ck_assert_uint_eq(info->files[0].length, 5);
	ck_assert_uint_eq(info->files[0].flags, 0);
	ck_assert_str_eq(info->files[1].path, ".pad/16379");
	ck_assert_uint_eq(info->files[1].length, 16379);
	ck_assert_uint_eq(info->files[1].flags, BT_META_FILE_PAD);
	ck_assert_str_eq(info->files[2].path, "b");
	ck_assert_uint_eq(info->files[2].flags, BT_META_FILE_EXEC | BT_META_FILE_HIDDEN);
	ck_assert_uint_eq(info->total_length, 12); /* the pad file does not count */
	ck_assert_uint_eq(info->num_pieces, 2);
	check_layout(info);
	bt_meta_info_free(info);

	/* "." and ".." are kept (display only), an empty component is shown as such, a '/' inside
	 * a component is escaped so that it cannot pass for a separator; 'l' and unknown letters */
	info = parse_ok(S("d5:filesl"
	                  "d4:attr2:lz6:lengthi1e4:pathl2:..3:etc0:1:xee"
	                  "d6:lengthi2e4:pathl3:a/b1:.ee"
	                  "e4:name1:n12:piece lengthi1e6:pieces20:" P20 "e"));
	ck_assert_str_eq(info->files[0].path, "../etc//x");
	ck_assert_uint_eq(info->files[0].flags, BT_META_FILE_LINK);
	ck_assert_str_eq(info->files[1].path, "a\\x2fb/.");
	ck_assert_uint_eq(info->total_length, 3);
	bt_meta_info_free(info);
}
END_TEST

START_TEST(test_v2)
{
	bt_meta_info *info = parse_ok(S(V2));
	uint8_t sha256[32];

	ck_assert_str_eq(info->name, "v2");
	ck_assert_uint_eq(info->versions, BT_META_V2);
	ck_assert_uint_eq(info->num_files, 3);
	ck_assert_str_eq(info->files[0].path, "c");
	ck_assert_uint_eq(info->files[0].length, 16384);
	ck_assert_str_eq(info->files[1].path, "dir/a");
	ck_assert_uint_eq(info->files[1].length, 20000);
	ck_assert_str_eq(info->files[2].path, "dir/b");
	ck_assert_uint_eq(info->files[2].length, 0);
	ck_assert_uint_eq(info->total_length, 36384);
	ck_assert_uint_eq(info->num_pieces, 3); /* per file: 1 + 2 + 0 */
	hex_to(sha256, "543a7a5f4ceb3f8dbf784c1a6ac8c78ce7af8a436b4af42579e33180a961029e");
	ck_assert(memcmp(info->sha256, sha256, 32) == 0);
	check_layout(info);
	bt_meta_info_free(info);

	/* two files of 1 byte: 2 pieces, where ceil(total / piece length) would be 1 */
	info = parse_ok(S("d9:file treed1:ad0:d6:lengthi1e11:pieces root32:" R32
	                  "ee1:bd0:d6:lengthi1e11:pieces root32:" R32
	                  "eee12:meta versioni2e4:name1:n12:piece lengthi16384ee"));
	ck_assert_uint_eq(info->num_pieces, 2);
	ck_assert_uint_eq(info->total_length, 2);
	bt_meta_info_free(info);

	/* attr in the file's "" dictionary; an empty directory adds nothing */
	info = parse_ok(S("d9:file treed1:ad0:d4:attr1:x6:lengthi0eee1:edee"
	                  "12:meta versioni2e4:name1:n12:piece lengthi16384ee"));
	ck_assert_uint_eq(info->num_files, 1);
	ck_assert_uint_eq(info->files[0].flags, BT_META_FILE_EXEC);
	bt_meta_info_free(info);
}
END_TEST

START_TEST(test_hybrid)
{
	bt_meta_info *info = parse_ok(S(HYBRID));
	bt_meta_info *v2 = parse_ok(S(V2));

	ck_assert_uint_eq(info->versions, BT_META_V1 | BT_META_V2);
	/* files come from the v1 list, pad file included */
	ck_assert_uint_eq(info->num_files, 4);
	ck_assert_str_eq(info->files[0].path, "c");
	ck_assert_str_eq(info->files[1].path, "dir/a");
	ck_assert_str_eq(info->files[2].path, ".pad/12768");
	ck_assert_uint_eq(info->files[2].flags, BT_META_FILE_PAD);
	ck_assert_str_eq(info->files[3].path, "dir/b");
	ck_assert_uint_eq(info->total_length, v2->total_length);
	ck_assert_uint_eq(info->num_pieces, 3); /* "pieces" / 20 */
	check_layout(info);
	bt_meta_info_free(info);
	bt_meta_info_free(v2);

	/* the v2 part of a hybrid is validated too */
	ck_assert_int_eq(parse_rcs("d9:file treed1:ad0:d6:lengthi5eeee"
	                           "6:lengthi5e12:meta versioni2e4:name1:n12:piece lengthi16384e"
	                           "6:pieces20:" P20 "e"),
	                 BT_META_E_FORMAT);
	/* "file tree" without "meta version" is not v2: a plain v1 dictionary */
	info = parse_ok(S("d9:file treei0e6:lengthi5e4:name1:n12:piece lengthi16384e"
	                  "6:pieces20:" P20 "e"));
	ck_assert_uint_eq(info->versions, BT_META_V1);
	bt_meta_info_free(info);
}
END_TEST

START_TEST(test_private)
{
	bt_meta_info *info;

	info =
	    parse_ok(S("d6:lengthi1e4:name1:x12:piece lengthi1e6:pieces20:" P20 "7:privatei1ee"));
	ck_assert_int_eq(info->is_private, 1);
	bt_meta_info_free(info);
	info =
	    parse_ok(S("d6:lengthi1e4:name1:x12:piece lengthi1e6:pieces20:" P20 "7:privatei0ee"));
	ck_assert_int_eq(info->is_private, 0);
	bt_meta_info_free(info);
	info =
	    parse_ok(S("d6:lengthi1e4:name1:x12:piece lengthi1e6:pieces20:" P20 "7:private1:1e"));
	ck_assert_int_eq(info->is_private, 0);
	bt_meta_info_free(info);
}
END_TEST

/* A dictionary named @name (@n bytes), with optional "name.utf-8" @u8. */
static uint8_t *named(const char *name, size_t n, const char *u8, size_t *len)
{
	bt_buf b;
	bt_ben_enc e;
	bt_buf_init(&b, 0);
	bt_ben_enc_init(&e, &b);
	bt_ben_enc_dict(&e);
	bt_ben_enc_strz(&e, "length");
	bt_ben_enc_int(&e, 1);
	bt_ben_enc_strz(&e, "name");
	bt_ben_enc_str(&e, name, n);
	if (u8) {
		bt_ben_enc_strz(&e, "name.utf-8");
		bt_ben_enc_strz(&e, u8);
	}
	bt_ben_enc_strz(&e, "piece length");
	bt_ben_enc_int(&e, 16384);
	bt_ben_enc_strz(&e, "pieces");
	bt_ben_enc_strz(&e, P20);
	bt_ben_enc_end(&e);
	ck_assert_int_eq(bt_ben_enc_finish(&e), 0);
	return bt_buf_steal(&b, len);
}

static bt_meta_info *parse_named(const char *name, size_t n, const char *u8)
{
	size_t len;
	uint8_t *d = named(name, n, u8, &len);
	bt_meta_info *info = parse_ok(d, len);
	free(d);
	return info;
}

START_TEST(test_utf8_names)
{
	static const char bad[] = "a\xff"            /* never valid */
	                          "\xc0\xaf"         /* overlong '/' */
	                          "\xed\xa0\x80"     /* surrogate U+D800 */
	                          "\xf4\x90\x80\x80" /* U+110000 */
	                          "\xc3\xa9"         /* e acute */
	                          "\xe2\x82\xac"     /* euro */
	                          "\xf0\x9f\x98\x80" /* emoji */
	                          "\xe0\x80\x80"     /* overlong NUL */
	                          "z\xe2\x82";       /* truncated at the end */
	bt_meta_info *info = parse_named(bad, sizeof(bad) - 1, NULL);

	ck_assert_str_eq(info->name, "a\\xff\\xc0\\xaf\\xed\\xa0\\x80\\xf4\\x90\\x80\\x80"
	                             "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
	                             "\\xe0\\x80\\x80z\\xe2\\x82");
	ck_assert_int_eq(info->name_is_utf8, 0);
	ck_assert_uint_eq(info->name_raw_len, sizeof(bad) - 1);
	ck_assert(memcmp(info->name_raw, bad, sizeof(bad)) == 0); /* lossless, NUL appended */
	ck_assert_str_eq(info->files[0].path, info->name);
	bt_meta_info_free(info);

	/* valid multi-byte UTF-8 passes unchanged */
	info = parse_named("\xc3\xa9t\xc3\xa9", 5, NULL);
	ck_assert_str_eq(info->name, "\xc3\xa9t\xc3\xa9");
	ck_assert_int_eq(info->name_is_utf8, 1);
	bt_meta_info_free(info);
}
END_TEST

START_TEST(test_name_utf8_key)
{
	/* "name.utf-8" preferred when valid; name_raw and name_is_utf8 stay those of "name" */
	bt_meta_info *info = parse_named("caf\xe9", 4, "caf\xc3\xa9");
	ck_assert_str_eq(info->name, "caf\xc3\xa9");
	ck_assert_int_eq(info->name_is_utf8, 0);
	ck_assert_uint_eq(info->name_raw_len, 4);
	ck_assert(memcmp(info->name_raw, "caf\xe9", 5) == 0);
	bt_meta_info_free(info);

	/* an invalid or controlling "name.utf-8" is ignored */
	info = parse_named("caf\xe9", 4, "caf\xe9!");
	ck_assert_str_eq(info->name, "caf\\xe9");
	bt_meta_info_free(info);
	info = parse_named("plain", 5, "tab\there");
	ck_assert_str_eq(info->name, "plain");
	ck_assert_int_eq(info->name_is_utf8, 1);
	bt_meta_info_free(info);

	/* "path.utf-8" likewise, per file */
	info = parse_ok(S("d5:filesl"
	                  "d6:lengthi1e4:pathl1:\xff"
	                  "e10:path.utf-8l2:\xc3\xbf"
	                  "ee"
	                  "d6:lengthi1e4:pathl1:\xfe"
	                  "e10:path.utf-8l1:\xfe"
	                  "ee"
	                  "e4:name1:n12:piece lengthi1e6:pieces20:" P20 "e"));
	ck_assert_str_eq(info->files[0].path, "\xc3\xbf");
	ck_assert_str_eq(info->files[1].path, "\\xfe");
	bt_meta_info_free(info);
}
END_TEST

START_TEST(test_control_chars)
{
	static const char name[] = "a\x01"
	                           "b\x7f\n\0"
	                           "c\xc2\x85"
	                           "d\xc2\xa0"
	                           "e\x1b[31m";
	bt_meta_info *info = parse_named(name, sizeof(name) - 1, NULL);

	/* C0, DEL, NUL and C1 (U+0085) escaped; U+00A0 is not a control character */
	ck_assert_str_eq(info->name, "a\\x01b\\x7f\\x0a\\x00c\\xc2\\x85d\xc2\xa0"
	                             "e\\x1b[31m");
	ck_assert_int_eq(info->name_is_utf8, 0);
	ck_assert_uint_eq(info->name_raw_len, sizeof(name) - 1);
	ck_assert(memcmp(info->name_raw, name, sizeof(name)) == 0);
	bt_meta_info_free(info);

	info = parse_ok(S("d5:filesld6:lengthi1e4:pathl3:a\rbeee"
	                  "4:name1:n12:piece lengthi1e6:pieces20:" P20 "e"));
	ck_assert_str_eq(info->files[0].path, "a\\x0db");
	bt_meta_info_free(info);
}
END_TEST

#define TAIL "12:piece lengthi16384e6:pieces20:" P20 "e"

START_TEST(test_rejects)
{
	const int F = BT_META_E_FORMAT;

	/* not a dictionary at all */
	ck_assert_int_eq(parse_rcs("le"), F);
	ck_assert_int_eq(parse_rcs("i1e"), F);
	ck_assert_int_eq(parse_rcs("d"), F);
	ck_assert_int_eq(parse_rc((const uint8_t *)"", 0), F);
	/* name: missing, not a string */
	ck_assert_int_eq(parse_rcs("d6:lengthi1e" TAIL), F);
	ck_assert_int_eq(parse_rcs("d6:lengthi1e4:namei1e" TAIL), F);
	/* piece length: missing, zero, negative, not an integer */
	ck_assert_int_eq(parse_rcs("d6:lengthi1e4:name1:x6:pieces20:" P20 "e"), F);
	ck_assert_int_eq(parse_rcs("d6:lengthi1e4:name1:x12:piece lengthi0e6:pieces20:" P20 "e"),
	                 F);
	ck_assert_int_eq(parse_rcs("d6:lengthi1e4:name1:x12:piece lengthi-1e6:pieces20:" P20 "e"),
	                 F);
	ck_assert_int_eq(parse_rcs("d6:lengthi1e4:name1:x12:piece length1:16:pieces20:" P20 "e"),
	                 F);
	/* pieces: not a multiple of 20, missing, not a string */
	ck_assert_int_eq(parse_rcs("d6:lengthi1e4:name1:x12:piece lengthi1e6:pieces19:"
	                           "aaaaaaaaaaaaaaaaaaae"),
	                 F);
	ck_assert_int_eq(parse_rcs("d6:lengthi1e4:name1:x12:piece lengthi1ee"), F);
	ck_assert_int_eq(parse_rcs("d6:lengthi1e4:name1:x12:piece lengthi1e6:piecesi0ee"), F);
	/* negative lengths */
	ck_assert_int_eq(parse_rcs("d6:lengthi-1e4:name1:x" TAIL), F);
	ck_assert_int_eq(parse_rcs("d5:filesld6:lengthi-5e4:pathl1:aeee4:name1:x" TAIL), F);
	/* both, or neither of, length and files; no files */
	ck_assert_int_eq(parse_rcs("d5:filesld6:lengthi5e4:pathl1:aeee6:lengthi1e4:name1:x" TAIL),
	                 F);
	ck_assert_int_eq(parse_rcs("d4:name1:x" TAIL), F);
	ck_assert_int_eq(parse_rcs("d5:filesle4:name1:x" TAIL), F);
	ck_assert_int_eq(parse_rcs("d5:filesi0e4:name1:x" TAIL), F);
	ck_assert_int_eq(parse_rcs("d6:length1:14:name1:x" TAIL), F);
	/* bad file entries: not a dict, no length, empty path, component not a string */
	ck_assert_int_eq(parse_rcs("d5:filesli0ee4:name1:x" TAIL), F);
	ck_assert_int_eq(parse_rcs("d5:filesld4:pathl1:aeee4:name1:x" TAIL), F);
	ck_assert_int_eq(parse_rcs("d5:filesld6:lengthi1e4:pathleee4:name1:x" TAIL), F);
	ck_assert_int_eq(parse_rcs("d5:filesld6:lengthi1e4:pathli1eeee4:name1:x" TAIL), F);
	ck_assert_int_eq(parse_rcs("d5:filesld6:lengthi1e4:path1:aee4:name1:x" TAIL), F);
	/* non-canonical: unsorted keys, a repeated key, leading zero */
	ck_assert_int_eq(parse_rcs("d4:name1:x6:lengthi1e" TAIL), F);
	ck_assert_int_eq(parse_rcs("d6:lengthi1e6:lengthi1e4:name1:x" TAIL), F);
	ck_assert_int_eq(parse_rcs("d6:lengthi01e4:name1:x" TAIL), F);
	/* trailing bytes */
	ck_assert_int_eq(parse_rcs(SINGLE "x"), F);
	ck_assert_int_eq(parse_rcs(SINGLE "de"), F);
	/* total overflows 64 bits (pad files would not count, these do) */
	ck_assert_int_eq(parse_rcs("d5:filesl"
	                           "d6:lengthi9223372036854775807e4:pathl1:aee"
	                           "d6:lengthi9223372036854775807e4:pathl1:bee"
	                           "d6:lengthi9223372036854775807e4:pathl1:cee"
	                           "e4:name1:x" TAIL),
	                 F);
	bt_meta_info *info = parse_ok(S("d5:filesl"
	                                "d6:lengthi9223372036854775807e4:pathl1:aee"
	                                "d6:lengthi9223372036854775807e4:pathl1:bee"
	                                "d4:attr1:p6:lengthi9223372036854775807e4:pathl1:cee"
	                                "e4:name1:x" TAIL));
	ck_assert(info->total_length == UINT64_MAX - 1);
	bt_meta_info_free(info);
}
END_TEST

#define V2HEAD "d9:file treed"
#define V2TAIL "e12:meta versioni2e4:name1:n12:piece lengthi16384ee"

START_TEST(test_rejects_v2)
{
	const int F = BT_META_E_FORMAT;

	/* unknown meta version, meta version not an int, no or bad file tree */
	ck_assert_int_eq(parse_rcs("d9:file treed1:ad0:d6:lengthi0eeee12:meta versioni3e"
	                           "4:name1:n12:piece lengthi16384ee"),
	                 F);
	ck_assert_int_eq(parse_rcs("d9:file treed1:ad0:d6:lengthi0eeee12:meta version1:2"
	                           "4:name1:n12:piece lengthi16384ee"),
	                 F);
	ck_assert_int_eq(parse_rcs("d12:meta versioni2e4:name1:n12:piece lengthi16384ee"), F);
	ck_assert_int_eq(
	    parse_rcs("d9:file treele12:meta versioni2e4:name1:n12:piece lengthi16384ee"), F);
	/* empty tree, only empty directories */
	ck_assert_int_eq(parse_rcs(V2HEAD V2TAIL), F);
	ck_assert_int_eq(parse_rcs(V2HEAD "1:ade" V2TAIL), F);
	/* the root is a file */
	ck_assert_int_eq(parse_rcs(V2HEAD "0:d6:lengthi0ee" V2TAIL), F);
	/* a file with a sibling of its "" key */
	ck_assert_int_eq(parse_rcs(V2HEAD "1:ad0:d6:lengthi0ee1:bd0:d6:lengthi0eeee" V2TAIL), F);
	/* "" without length, "" not a dict, a non-dict entry */
	ck_assert_int_eq(parse_rcs(V2HEAD "1:ad0:dee" V2TAIL), F);
	ck_assert_int_eq(parse_rcs(V2HEAD "1:ad0:i0eee" V2TAIL), F);
	ck_assert_int_eq(parse_rcs(V2HEAD "1:ai0e" V2TAIL), F);
	/* negative length; non-empty without pieces root, or with a short one */
	ck_assert_int_eq(parse_rcs(V2HEAD "1:ad0:d6:lengthi-1eee" V2TAIL), F);
	ck_assert_int_eq(parse_rcs(V2HEAD "1:ad0:d6:lengthi1eee" V2TAIL), F);
	ck_assert_int_eq(parse_rcs(V2HEAD "1:ad0:d6:lengthi1e11:pieces root31:"
	                                  "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrreee" V2TAIL),
	                 F);
}
END_TEST

/* A valid dictionary with @n nested lists under an unknown key. */
static int deep_list(unsigned n)
{
	bt_buf b;
	bt_buf_init(&b, 0);
	bt_buf_append(&b, "d1:a", 4);
	for (unsigned i = 0; i < n; i++)
		bt_buf_putc(&b, 'l');
	for (unsigned i = 0; i < n; i++)
		bt_buf_putc(&b, 'e');
	bt_buf_append(&b, S("6:lengthi1e4:name1:x" TAIL));
	int rc = parse_rc(b.data, b.len);
	bt_buf_free(&b);
	return rc;
}

/* A v2 tree of @n nested directories "x" holding one file. */
static int deep_tree(unsigned n)
{
	bt_buf b;
	bt_buf_init(&b, 0);
	bt_buf_append(&b, V2HEAD, strlen(V2HEAD));
	for (unsigned i = 0; i < n; i++)
		bt_buf_append(&b, "1:xd", 4);
	bt_buf_append(&b, S("1:fd0:d6:lengthi0eee"));
	for (unsigned i = 0; i < n; i++)
		bt_buf_putc(&b, 'e');
	bt_buf_append(&b, S(V2TAIL));
	int rc = parse_rc(b.data, b.len);
	bt_buf_free(&b);
	return rc;
}

START_TEST(test_too_deep)
{
	ck_assert_int_eq(deep_list(50), 0);
	ck_assert_int_eq(deep_list(200), BT_META_E_FORMAT);
	ck_assert_int_eq(deep_list(100000), BT_META_E_FORMAT);
	ck_assert_int_eq(deep_tree(50), 0);
	ck_assert_int_eq(deep_tree(120), BT_META_E_FORMAT);
}
END_TEST

/* A v2 tree: one directory named by @dirlen 'a's holding @n empty files. */
static uint8_t *wide_tree(size_t dirlen, unsigned n, size_t *len)
{
	bt_buf b;
	bt_ben_enc e;
	char *dir = malloc(dirlen);
	memset(dir, 'a', dirlen);
	bt_buf_init(&b, 0);
	bt_ben_enc_init(&e, &b);
	bt_ben_enc_dict(&e);
	bt_ben_enc_strz(&e, "file tree");
	bt_ben_enc_dict(&e);
	bt_ben_enc_str(&e, dir, dirlen);
	bt_ben_enc_dict(&e);
	for (unsigned i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "%07u", i);
		bt_ben_enc_strz(&e, name);
		bt_ben_enc_dict(&e);
		bt_ben_enc_strz(&e, "");
		bt_ben_enc_dict(&e);
		bt_ben_enc_strz(&e, "length");
		bt_ben_enc_int(&e, 0);
		bt_ben_enc_end(&e);
		bt_ben_enc_end(&e);
	}
	bt_ben_enc_end(&e);
	bt_ben_enc_end(&e);
	bt_ben_enc_strz(&e, "meta version");
	bt_ben_enc_int(&e, 2);
	bt_ben_enc_strz(&e, "name");
	bt_ben_enc_strz(&e, "w");
	bt_ben_enc_strz(&e, "piece length");
	bt_ben_enc_int(&e, 16384);
	bt_ben_enc_end(&e);
	ck_assert_int_eq(bt_ben_enc_finish(&e), 0);
	free(dir);
	return bt_buf_steal(&b, len);
}

START_TEST(test_limits)
{
	size_t len;
	uint8_t *d;
	bt_meta_info *info;

	/* a path of 4096 bytes is taken, 4097 is not */
	d = wide_tree(4096 - 8, 2, &len);
	info = parse_ok(d, len);
	ck_assert_uint_eq(strlen(info->files[1].path), 4096);
	ck_assert(info->files[1].path[4096 - 8] == '/');
	ck_assert_str_eq(info->files[1].path + 4096 - 7, "0000001");
	bt_meta_info_free(info);
	free(d);
	d = wide_tree(4096 - 7, 2, &len);
	ck_assert_int_eq(parse_rc(d, len), BT_META_E_FORMAT);
	free(d);

	/* shared directories: 17,000 paths of 4 KiB from 450 KB of input would be 68 MB */
	d = wide_tree(4000, 17000, &len);
	ck_assert(len < 1000000);
	ck_assert_int_eq(parse_rc(d, len), BT_META_E_FORMAT);
	free(d);

	/* more than 64 MiB of input is refused before it is read */
	size_t big = (64u << 20) + 1;
	d = calloc(1, big);
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(parse_rc(d, big), BT_META_E_FORMAT);
	free(d);

	/* arguments */
	ck_assert_int_eq(bt_meta_info_parse(NULL, S(SINGLE)), BT_META_E_INVAL);
	info = (bt_meta_info *)1;
	ck_assert_int_eq(bt_meta_info_parse(&info, NULL, 10), BT_META_E_INVAL);
	ck_assert_ptr_null(info);
	ck_assert_int_eq(bt_meta_info_from_torrent(NULL, S(SINGLE)), BT_META_E_INVAL);
	info = (bt_meta_info *)1;
	ck_assert_int_eq(bt_meta_info_from_torrent(&info, NULL, 10), BT_META_E_INVAL);
	ck_assert_ptr_null(info);
}
END_TEST

START_TEST(test_truncations)
{
	static const char *const samples[] = {SINGLE, MULTI, V2, HYBRID};
	for (size_t s = 0; s < sizeof(samples) / sizeof(samples[0]); s++) {
		size_t n = strlen(samples[s]);
		for (size_t i = 0; i < n; i++)
			ck_assert_int_eq(parse_rc((const uint8_t *)samples[s], i),
			                 BT_META_E_FORMAT);
	}
}
END_TEST

/* Random byte changes to valid dictionaries: never a crash, and what is accepted is sane. */
START_TEST(test_mutations)
{
	static const char *const samples[] = {SINGLE, MULTI, V2, HYBRID};
	uint8_t buf[1024];
	unsigned accepted = 0;

	bt_test_rng = 42;
	for (unsigned it = 0; it < 20000; it++) {
		const char *s = samples[it % 4];
		size_t n = strlen(s);
		memcpy(buf, s, n);
		for (unsigned k = 1 + bt_test_rnd() % 3; k; k--)
			buf[bt_test_rnd() % n] = (uint8_t)bt_test_rnd();
		bt_meta_info *info = NULL;
		int rc = bt_meta_info_parse(&info, buf, n);
		if (rc) {
			ck_assert_int_eq(rc, BT_META_E_FORMAT);
			continue;
		}
		accepted++;
		ck_assert_uint_eq(info->raw_len, n);
		ck_assert(memcmp(info->raw, buf, n) == 0);
		ck_assert(info->num_files >= 1);
		for (const char *c = info->name; *c; c++)
			ck_assert((uint8_t)*c >= 0x20 && *c != 0x7f);
		for (size_t f = 0; f < info->num_files; f++)
			for (const char *c = info->files[f].path; *c; c++)
				ck_assert((uint8_t)*c >= 0x20 && *c != 0x7f);
		check_layout(info);
		bt_meta_info_free(info);
	}
	ck_assert_uint_gt(accepted, 100); /* the test reaches the success path */
}
END_TEST

START_TEST(test_from_torrent)
{
	bt_meta_info *info, *direct = parse_ok(S(MULTI));

	/* lax outside "info": unsorted keys, a leading zero */
	info = (bt_meta_info *)1;
	ck_assert_int_eq(bt_meta_info_from_torrent(&info, S("d4:info" MULTI "8:announce3:url"
	                                                    "13:creation datei01ee")),
	                 0);
	ck_assert_uint_eq(info->raw_len, sizeof(MULTI) - 1);
	ck_assert(memcmp(info->raw, MULTI, info->raw_len) == 0);
	ck_assert(memcmp(info->sha1, direct->sha1, 20) == 0);
	ck_assert_str_eq(info->files[0].path, "dir/sub/a.txt");
	bt_meta_info_free(info);
	bt_meta_info_free(direct);

	/* v2 */
	ck_assert_int_eq(bt_meta_info_from_torrent(&info, S("d4:info" V2 "12:piece layersdee")), 0);
	ck_assert_uint_eq(info->versions, BT_META_V2);
	bt_meta_info_free(info);

	/* the info dictionary itself stays strict */
	info = (bt_meta_info *)1;
	ck_assert_int_eq(
	    bt_meta_info_from_torrent(&info, S("d4:infod4:name1:x6:lengthi1e" TAIL "e")),
	    BT_META_E_FORMAT);
	ck_assert_ptr_null(info);
	ck_assert_int_eq(
	    bt_meta_info_from_torrent(&info, S("d4:infod6:lengthi01e4:name1:x" TAIL "e")),
	    BT_META_E_FORMAT);
	/* no info, info not a dictionary, not a dictionary, trailing bytes, truncated, empty */
	ck_assert_int_eq(bt_meta_info_from_torrent(&info, S("d8:announce3:urle")),
	                 BT_META_E_FORMAT);
	ck_assert_int_eq(bt_meta_info_from_torrent(&info, S("d4:info3:abce")), BT_META_E_FORMAT);
	ck_assert_int_eq(bt_meta_info_from_torrent(&info, S("l" SINGLE "e")), BT_META_E_FORMAT);
	ck_assert_int_eq(bt_meta_info_from_torrent(&info, S("d4:info" SINGLE "ex")),
	                 BT_META_E_FORMAT);
	ck_assert_int_eq(bt_meta_info_from_torrent(&info, S("d4:info" SINGLE)), BT_META_E_FORMAT);
	ck_assert_int_eq(bt_meta_info_from_torrent(&info, (const uint8_t *)"", 0),
	                 BT_META_E_FORMAT);
	/* a bare info dictionary is not a .torrent file */
	ck_assert_int_eq(bt_meta_info_from_torrent(&info, S(SINGLE)), BT_META_E_FORMAT);
	ck_assert_ptr_null(info);
}
END_TEST

START_TEST(test_to_torrent)
{
	static const char full[] =
	    "d10:created by4:test13:creation datei1700000000e4:info" HYBRID "e";
	static const char bare[] = "d4:info" HYBRID "e";
	bt_meta_info *info = parse_ok(S(HYBRID)), *again;
	uint8_t *out = (uint8_t *)1;
	size_t len = 1;

	ck_assert_int_eq(bt_meta_info_to_torrent(info, "test", 1700000000, &out, &len), 0);
	ck_assert_uint_eq(len, sizeof(full) - 1);
	ck_assert(memcmp(out, full, len) == 0);
	ck_assert_int_eq(bt_meta_info_from_torrent(&again, out, len), 0);
	ck_assert_uint_eq(again->raw_len, info->raw_len);
	ck_assert(memcmp(again->raw, info->raw, info->raw_len) == 0);
	ck_assert(memcmp(again->sha256, info->sha256, 32) == 0);
	bt_meta_info_free(again);
	free(out);

	ck_assert_int_eq(bt_meta_info_to_torrent(info, NULL, 0, &out, &len), 0);
	ck_assert_uint_eq(len, sizeof(bare) - 1);
	ck_assert(memcmp(out, bare, len) == 0);
	free(out);

	ck_assert_int_eq(bt_meta_info_to_torrent(info, "", -1, &out, &len), 0);
	ck_assert_uint_eq(len, strlen("d10:created by0:13:creation datei-1e4:info" HYBRID "e"));
	free(out);

	out = (uint8_t *)1;
	ck_assert_int_eq(bt_meta_info_to_torrent(NULL, NULL, 0, &out, &len), BT_META_E_INVAL);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(bt_meta_info_to_torrent(info, NULL, 0, NULL, &len), BT_META_E_INVAL);
	ck_assert_int_eq(bt_meta_info_to_torrent(info, NULL, 0, &out, NULL), BT_META_E_INVAL);
	bt_meta_info_free(info);
}
END_TEST

START_TEST(test_matches)
{
	bt_meta_info *v1 = parse_ok(S(SINGLE));
	bt_meta_info *v2 = parse_ok(S(V2));
	uint8_t h[32];

	memcpy(h, v1->sha1, 20);
	ck_assert_int_eq(bt_meta_info_matches(v1, h, 20), 1);
	ck_assert_int_eq(bt_meta_info_matches(v1, h, 19), 0);
	h[19] ^= 1;
	ck_assert_int_eq(bt_meta_info_matches(v1, h, 20), 0);
	/* a v1-only dictionary has no v2 infohash, even if asked for its SHA-256 */
	memcpy(h, v1->sha256, 32);
	ck_assert_int_eq(bt_meta_info_matches(v1, h, 32), 0);
	ck_assert_int_eq(bt_meta_info_matches(v1, h, 20), 0);

	memcpy(h, v2->sha256, 32);
	ck_assert_int_eq(bt_meta_info_matches(v2, h, 32), 1);
	ck_assert_int_eq(bt_meta_info_matches(v2, h, 20), 1); /* truncated */
	ck_assert_int_eq(bt_meta_info_matches(v2, v2->sha1, 20), 1);
	ck_assert_int_eq(bt_meta_info_matches(v1, h, 32), 0);
	h[31] ^= 1;
	ck_assert_int_eq(bt_meta_info_matches(v2, h, 32), 0);
	ck_assert_int_eq(bt_meta_info_matches(v2, h, 20), 1); /* the difference is past byte 20 */
	ck_assert_int_eq(bt_meta_info_matches(v2, h, 0), 0);
	ck_assert_int_eq(bt_meta_info_matches(NULL, h, 20), 0);
	ck_assert_int_eq(bt_meta_info_matches(v2, NULL, 20), 0);
	bt_meta_info_free(v1);
	bt_meta_info_free(v2);
}
END_TEST

static Suite *meta_info_suite(void)
{
	Suite *s = suite_create("meta-info");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, test_v1_single);
	tcase_add_test(tc, test_v1_multi);
	tcase_add_test(tc, test_v2);
	tcase_add_test(tc, test_hybrid);
	tcase_add_test(tc, test_private);
	tcase_add_test(tc, test_utf8_names);
	tcase_add_test(tc, test_name_utf8_key);
	tcase_add_test(tc, test_control_chars);
	suite_add_tcase(s, tc);
	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_rejects);
	tcase_add_test(tc, test_rejects_v2);
	tcase_add_test(tc, test_too_deep);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_truncations);
	tcase_add_test(tc, test_mutations);
	suite_add_tcase(s, tc);
	tc = tcase_create("torrent");
	tcase_add_test(tc, test_from_torrent);
	tcase_add_test(tc, test_to_torrent);
	tcase_add_test(tc, test_matches);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return bt_test_run(meta_info_suite());
}
