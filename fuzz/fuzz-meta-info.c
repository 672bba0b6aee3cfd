/*
 * fuzz-meta-info.c - libFuzzer target for libbtmeta's info dictionaries (libbtmeta/info.c).  Every
 * input goes to bt_meta_info_parse() as an info dictionary and to bt_meta_info_from_torrent() as
 * a .torrent file.
 *
 * Besides "does not crash", on every success it checks what the header promises: raw is the exact
 * input (or, from a .torrent, a part of it) and NUL-terminated; the name and every path are
 * NUL-terminated, valid UTF-8 without control characters, as judged by a validator written apart
 * from the one under test, which must also agree with name_is_utf8; total_length is the sum of the
 * files that are not padding; the infohashes match; to_torrent then from_torrent gives back the
 * same raw bytes, and parsing raw again gives the same result.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "btmeta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

/* Valid UTF-8 (RFC 3629) without C0, DEL or C1 characters: decode each code point and check its
 * range, rather than check lead and continuation bytes as info.c does. */
static int clean_utf8(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t c = s[i], min;
		size_t k;
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return 0;
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			k = 2, c &= 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			k = 3, c &= 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			k = 4, c &= 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (n - i < k)
			return 0;
		for (size_t j = 1; j < k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			c = c << 6 | (s[i + j] & 0x3fu);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) ||
		    (c >= 0x80 && c < 0xa0))
			return 0;
		i += k;
	}
	return 1;
}

static void check_str(const char *s)
{
	check(s != NULL);
	check(clean_utf8((const uint8_t *)s, strlen(s)));
}

static void check_info(const bt_meta_info *info)
{
	check(info->raw[info->raw_len] == 0);
	check(info->name_raw[info->name_raw_len] == 0);
	check_str(info->name);
	int raw_clean = clean_utf8(info->name_raw, info->name_raw_len);
	check(info->name_is_utf8 == raw_clean);
	check(info->versions >= 1 && info->versions <= 3);
	check(info->piece_length > 0);
	check(info->num_files >= 1 && info->num_files <= 1000000);

	uint64_t total = 0;
	for (size_t i = 0; i < info->num_files; i++) {
		check_str(info->files[i].path);
		if (!(info->files[i].flags & BT_META_FILE_PAD))
			total += info->files[i].length;
	}
	check(total == info->total_length);

	check(bt_meta_info_matches(info, info->sha1, 20) == 1);
	check(bt_meta_info_matches(info, info->sha256, 32) == !!(info->versions & BT_META_V2));
}

/* Same dictionary: same bytes, hashes and reading. */
static void check_same(const bt_meta_info *a, const bt_meta_info *b)
{
	check(a->raw_len == b->raw_len && memcmp(a->raw, b->raw, a->raw_len) == 0);
	check(memcmp(a->sha1, b->sha1, 20) == 0 && memcmp(a->sha256, b->sha256, 32) == 0);
	check(strcmp(a->name, b->name) == 0);
	check(a->num_files == b->num_files && a->total_length == b->total_length);
	check(a->num_pieces == b->num_pieces && a->versions == b->versions);
	check(a->is_private == b->is_private);
	for (size_t i = 0; i < a->num_files; i++)
		check(strcmp(a->files[i].path, b->files[i].path) == 0 &&
		      a->files[i].length == b->files[i].length &&
		      a->files[i].flags == b->files[i].flags);
}

/* Whether @needle (@n bytes, n > 0) occurs in @hay (@size bytes). */
static int contains(const uint8_t *hay, size_t size, const uint8_t *needle, size_t n)
{
	for (size_t i = 0; n <= size && i <= size - n; i++)
		if (memcmp(hay + i, needle, n) == 0)
			return 1;
	return 0;
}

static void check_roundtrip(const bt_meta_info *info)
{
	uint8_t *t;
	size_t tlen;
	bt_meta_info *again;

	check(bt_meta_info_to_torrent(info, "fuzz", 1, &t, &tlen) == 0);
	check(bt_meta_info_from_torrent(&again, t, tlen) == 0);
	check_same(info, again);
	bt_meta_info_free(again);
	free(t);

	check(bt_meta_info_parse(&again, info->raw, info->raw_len) == 0);
	check_same(info, again);
	bt_meta_info_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bt_meta_info *info;

	if (bt_meta_info_parse(&info, data, size) == 0) {
		check(info->raw_len == size && memcmp(info->raw, data, size) == 0);
		check_info(info);
		check_roundtrip(info);
		bt_meta_info_free(info);
	} else {
		check(info == NULL);
	}

	if (bt_meta_info_from_torrent(&info, data, size) == 0) {
		/* the dictionary is a part of the file, taken as it is */
		check(info->raw_len < size);
		check(contains(data, size, info->raw, info->raw_len));
		check_info(info);
		check_roundtrip(info);
		bt_meta_info_free(info);
	} else {
		check(info == NULL);
	}
	return 0;
}
