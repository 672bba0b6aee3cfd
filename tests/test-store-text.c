/*
 * test-store-text.c - libbtstore's keyword tokeniser (libbtstore/text.c) on normal, edge and
 * hostile input: every rule of its opening comment with exact token lists, the 32-byte cut,
 * invalid UTF-8, NUL bytes, the callback's early stop; then every code point on its own, and
 * 200,000 random byte strings, checking that every token is short, valid, folded UTF-8 with no
 * separator in it and that tokenising a token gives back exactly that token.
 *
 * Expected token lists are written as one string, tokens joined by a space (a token never holds
 * one).  Inputs are string literals measured with sizeof, so that they may hold NUL bytes.
 */
#include <check.h>

#include "test-util.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* For checks in hot loops: ck_assert records every passing check (a write per check in fork
 * mode), which would dominate the run time; this one costs nothing until it fails. */
#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ck_abort_msg("%s:%d: failed: %s", __FILE__, __LINE__, #cond);              \
	} while (0)

#define A8 "aaaaaaaa"
#define A28 A8 A8 A8 "aaaa"
#define A29 A28 "a"
#define A30 A28 "aa"
#define A31 A28 "aaa"
#define A32 A8 A8 A8 A8
#define A40 A32 A8

/* The code point of the strictly valid UTF-8 sequence at @s (of @n bytes), its length in *@len;
 * written apart from text.c's decoder, after the table of well-formed sequences in the Unicode
 * standard (3.9, table 3-7).  Returns -1 if there is none. */
static long utf8_next(const unsigned char *s, size_t n, size_t *len)
{
	static const struct {
		unsigned char lo1, hi1, lo2, hi2;
		size_t len;
	} forms[] = {
	    {0x00, 0x7F, 0, 0, 1},       {0xC2, 0xDF, 0x80, 0xBF, 2}, {0xE0, 0xE0, 0xA0, 0xBF, 3},
	    {0xE1, 0xEC, 0x80, 0xBF, 3}, {0xED, 0xED, 0x80, 0x9F, 3}, {0xEE, 0xEF, 0x80, 0xBF, 3},
	    {0xF0, 0xF0, 0x90, 0xBF, 4}, {0xF1, 0xF3, 0x80, 0xBF, 4}, {0xF4, 0xF4, 0x80, 0x8F, 4},
	};
	for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
		if (s[0] < forms[f].lo1 || s[0] > forms[f].hi1)
			continue;
		size_t k = forms[f].len;
		if (n < k)
			return -1;
		if (k == 1) {
			*len = 1;
			return s[0];
		}
		if (s[1] < forms[f].lo2 || s[1] > forms[f].hi2)
			return -1;
		long cp = s[0] & (0x7F >> k);
		for (size_t i = 1; i < k; i++) {
			if ((s[i] & 0xC0) != 0x80)
				return -1;
			cp = cp << 6 | (s[i] & 0x3F);
		}
		*len = k;
		return cp;
	}
	return -1;
}

/* Code points that must never be in a token: separators, dropped ones, and letters that fold to
 * something else (capitals, accented letters, variants). */
static int never_in_token(long c)
{
	/* clang-format off */
	static const long ranges[][2] = {
	    {0x00, 0x2F},        {0x3A, 0x60},        {0x7B, 0xFF},       /* ASCII but a-z 0-9, Latin-1 */
	    {0x100, 0x137},      {0x139, 0x14A},      {0x14C, 0x17F},     /* Latin Extended-A but ĸ ŋ */
	    {0x2B0, 0x36F},      {0x386, 0x38A},      {0x38C, 0x38C},     /* modifiers, marks, Greek */
	    {0x38E, 0x3A1},      {0x3A3, 0x3A9},                          /* capitals */
	    {0x3AC, 0x3B0},      {0x3C2, 0x3C2},      {0x3CA, 0x3CE},     /* tonos, final sigma */
	    {0x400, 0x42F},      {0x450, 0x451},      {0x591, 0x5BD},     /* Cyrillic capitals, ё, niqqud */
	    {0x64B, 0x652},      {0x1E00, 0x1E9E},    {0x1EA0, 0x1EF9},   /* harakat, Latin with marks */
	    {0x1F00, 0x1F15},    {0x2000, 0x2BFF},    {0x2E00, 0x3004},   /* polytonic, punct, symbols */
	    {0x3008, 0x303F},    {0x3099, 0x309C},    {0x30FB, 0x30FB},   /* CJK punct, voicing marks */
	    {0xD800, 0xF8FF},    {0xFB00, 0xFB06},    {0xFDD0, 0xFDEF},   /* surrogates, private, ligatures */
	    {0xFE00, 0xFE6F},    {0xFEFF, 0xFEFF},    {0xFF00, 0xFF9F},   /* marks, forms, fullwidth */
	    {0xFFDD, 0xFFFF},    {0x1D000, 0x1D6A5},  {0x1D7CE, 0x1D7FF}, /* specials, math Latin */
	    {0x1F000, 0x1FFFF},  {0xE0000, 0xE0FFF},  {0xF0000, 0x10FFFF},
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		if (c >= ranges[i][0] && c <= ranges[i][1])
			return 1;
	return 0;
}

/* Tokenising @tok must give back exactly @tok, once. */
typedef struct again {
	const char *tok;
	size_t len;
	int count;
} again;

static int again_cb(const char *tok, size_t len, void *ud)
{
	again *a = ud;
	a->count++;
	REQUIRE(a->count == 1);
	REQUIRE(len == a->len && memcmp(tok, a->tok, len) == 0);
	return 0;
}

/* Every property a token must have (see text.c: "So every token is ..."). */
static void check_token(const char *tok, size_t len)
{
	REQUIRE(len >= 1 && len <= BT_STORE__TOKEN_MAX);
	const unsigned char *s = (const unsigned char *)tok;
	for (size_t i = 0, k; i < len; i += k) {
		long c = utf8_next(s + i, len - i, &k);
		if (c < 0 || never_in_token(c))
			ck_abort_msg("bad token \"%.*s\": code point %ld (at %zu)", (int)len, tok,
			             c, i);
	}
	again a = {tok, len, 0};
	REQUIRE(bt_store__tokenize(tok, len, again_cb, &a) == 0);
	REQUIRE(a.count == 1);
}

/* The tokens of an input, joined by spaces. */
typedef struct joined {
	char buf[8192];
	size_t len;
	int count;
} joined;

static int join_cb(const char *tok, size_t len, void *ud)
{
	joined *j = ud;
	check_token(tok, len);
	REQUIRE(j->len + len + 2 < sizeof(j->buf));
	if (j->count++)
		j->buf[j->len++] = ' ';
	memcpy(j->buf + j->len, tok, len);
	j->len += len;
	j->buf[j->len] = '\0';
	return 0;
}

static const char *tokens(const char *s, size_t n)
{
	static joined j;
	j.len = 0;
	j.count = 0;
	j.buf[0] = '\0';
	ck_assert_int_eq(bt_store__tokenize(s, n, join_cb, &j), 0);
	return j.buf;
}

/* @where: the line of the check, or its index in a loop. */
static void expect(const char *s, size_t n, const char *want, int where)
{
	const char *got = tokens(s, n);
	if (strcmp(got, want) != 0)
		ck_abort_msg("at %d: got \"%s\", want \"%s\"", where, got, want);
}

#define TOK(lit, want) expect(lit, sizeof(lit) - 1, want, __LINE__)

START_TEST(test_examples)
{
	TOK("The.Matrix.1999.1080p.BluRay.x264-GROUP/Sample/matrix-sample.mkv",
	    "the matrix 1999 1080p bluray x264 group sample matrix sample mkv");
	TOK("Amélie (2001) [FRENCH]", "amelie 2001 french");
	TOK("Ёлки 2", "елки 2");
	TOK("Λευκός", "λευκοσ");
	TOK("進撃の巨人 第1話.mp4", "進 撃 の 巨 人 第 1 話 mp4");
	TOK("Björk - Homogenic (1997) FLAC", "bjork homogenic 1997 flac");
	TOK("Game.of.Thrones.S01E02.720p.HDTV", "game of thrones s01e02 720p hdtv");
	TOK("[HorribleSubs] Shingeki no Kyojin - 01 [1080p].mkv",
	    "horriblesubs shingeki no kyojin 01 1080p mkv");
	TOK("Guns N’ Roses – Appetite for Destruction", "guns n roses appetite for destruction");
	TOK("Война и мир (1966) DVDRip", "война и мир 1966 dvdrip");
}
END_TEST

START_TEST(test_ascii)
{
	for (int c = 0; c < 128; c++) {
		char in[3] = {'a', (char)c, 'b'};
		char want[4];
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))
			snprintf(want, sizeof(want), "a%cb", c);
		else if (c >= 'A' && c <= 'Z')
			snprintf(want, sizeof(want), "a%cb", c - 'A' + 'a');
		else if (c == '\'')
			snprintf(want, sizeof(want), "ab");
		else
			snprintf(want, sizeof(want), "a b");
		expect(in, 3, want, c);
	}
	TOK("x264 S01E02 1080p H.264 DTS-HD.MA.5.1", "x264 s01e02 1080p h 264 dts hd ma 5 1");
	TOK("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz");
	TOK("my_file-name+v2~final", "my file name v2 final");
	TOK("  \t\r\n!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\x7f\x01", "");
}
END_TEST

START_TEST(test_apostrophes)
{
	TOK("don't", "dont");
	TOK("'quoted' rock'n'roll", "quoted rocknroll");
	TOK("'80s 80's", "80s 80s");
	TOK("don\u2019t", "dont");
	TOK("m\u02bcyaso o\u02bbzbek", "myaso ozbek");
	TOK("ｄｏｎ＇ｔ", "dont");           /* fullwidth */
	TOK("\u2018quoted\u2019", "quoted"); /* U+2018 separates, U+2019 is dropped */
	TOK("don\u2018t", "don t");
	TOK("'''", "");
}
END_TEST

START_TEST(test_latin1)
{
	TOK("ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏ", "aaaaaaaeceeeeiiii");
	TOK("ÐÑÒÓÔÕÖØÙÚÛÜÝÞß", "dnoooooouuuuythss");
	TOK("àáâãäåæçèéêëìíîï", "aaaaaaaeceeeeiiii");
	TOK("ðñòóôõöøùúûüýþÿ", "dnoooooouuuuythy");
	TOK("2×3÷4", "2 3 4");
	TOK("a¡b¿c«d»e°f±g²h·i©j®k§l¶mµnªoºp¼q\u00a0r", "a b c d e f g h i j k l m n o p q r");
	TOK("co\u00adop", "coop");           /* soft hyphen */
	TOK("x\xc2\x85y\xc2\x9fz", "x y z"); /* C1 controls */
	TOK("Ærøskøbing Þórsmörk Straße", "aeroskobing thorsmork strasse");
}
END_TEST

START_TEST(test_latin_extended)
{
	TOK("ĀāĂăĄąĆćĈĉĊċČč", "aaaaaacccccccc");
	TOK("Łódź Kraków", "lodz krakow");
	TOK("Đorđe Balašević", "dorde balasevic");
	TOK("Őrség Űr", "orseg ur");
	TOK("Œuvre œil", "oeuvre oeil");
	TOK("İstanbul ılık", "istanbul ilik");
	TOK("ĲSSELMEER ĳs", "ijsselmeer ijs");
	TOK("Ŋŋ ĸ ſ ŉ Ħħ Ŧŧ Ŀŀ", "ŋŋ ĸ s n hh tt ll");
	TOK("Ștefan Țara ştiinţă", "stefan tara stiinta");
	TOK("ƯƠ ươ", "uo uo");
	TOK("Ǆǅǆ ǇǈǉǊǋǌ Ǳǲǳ", "dzdzdz ljljljnjnjnj dzdzdz");
	TOK("Əliyev ƐƆƔ", "əliyev ɛɔɣ");
	TOK("Ǯǯʒ Ʒ", "ʒʒʒ ʒ");
	TOK("ǢǣǼǽ", "aeaeaeae");
	TOK("Ɓɓ Ɗɗ ƒ Ƴ ȷ", "bb dd f y j");
	TOK("Tiếng Việt Nam", "tieng viet nam");
	TOK("Nguyễn Phúc Ẁales", "nguyen phuc wales");
	TOK("STRAẞE", "strasse");
	TOK("Ỻỻ", "ỻỻ");
	TOK("ﬁnal ﬂac ﬀ ﬃ ﬄ ﬅ ﬆ", "final flac ff ffi ffl st st");
	TOK("Ame\u0301lie n\u0303 A\u030a", "amelie n a"); /* decomposed */
}
END_TEST

START_TEST(test_greek)
{
	TOK("ΑΒΓΔΕΖΗΘΙΚΛΜ ΝΞΟΠΡΣΤΥΦΧΨΩ", "αβγδεζηθικλμ νξοπρστυφχψω");
	TOK("αβγδεζηθικλμ νξοπρστυφχψω", "αβγδεζηθικλμ νξοπρστυφχψω");
	TOK("ΆΈΉΊΌΎΏ άέήίόύώ", "αεηιουω αεηιουω");
	TOK("ΪΫϊϋΐΰ", "ιυιυιυ");
	TOK("Σίσυφος ΣΊΣΥΦΟΣ", "σισυφοσ σισυφοσ");
	TOK("Ἀθῆναι ᾅδης Ὀδυσσεύς ῥῆμα", "αθηναι αδησ οδυσσευσ ρημα");
	TOK("ϐϑϕϖϰϱϲϵ Ϲ ϴ", "βθφπκρσε σ θ");
	TOK("Ϛϛ Ϸϸ", "ϛϛ ϸϸ");
	TOK("α\u037eβ\u0387γ\u0384δ", "α β γ δ");
	TOK("α\u0301ι\u0308", "αι");
}
END_TEST

START_TEST(test_cyrillic)
{
	TOK("АБВГДЕЁЖЗИЙ КЛМНОПРСТУФ ХЦЧШЩЪЫЬЭЮЯ", "абвгдеежзий клмнопрстуф хцчшщъыьэюя");
	TOK("абвгдеёжзий клмнопрстуф хцчшщъыьэюя", "абвгдеежзий клмнопрстуф хцчшщъыьэюя");
	TOK("ЀЁЂЃЄЅІЇЈЉЊЋЌЍЎЏ", "ееђгєѕііјљњћкиуџ");
	TOK("ѐёђѓєѕіїјљњћќѝўџ", "ееђгєѕііјљњћкиуџ");
	TOK("Їжак Ґанок", "іжак ґанок");
	TOK("Ӂӂ Ӑӑ Ӧӧ Ӏ Ѣѣ Ҷҷ Ԁԁ", "жж аа оо ӏ ѣѣ ҷҷ ԁԁ");
	TOK("и\u0306 И\u0306 е\u0308лка", "й й елка"); /* decomposed */
	TOK("Й й", "й й");
	TOK("1\u04822 а\u0483б", "1 2 аб"); /* thousands sign; titlo */
}
END_TEST

START_TEST(test_other_scripts)
{
	TOK("ՀԱՅԱՍՏԱՆ Հայաստան", "հայաստան հայաստան");
	TOK("Ո՞վ ա՝բ ա։բ", "ով ա բ ա բ");
	TOK("שָׁלוֹם עולם", "שלום עולם");
	TOK("בית\u05beספר צה\u05f4ל ג\u05f3ירפה", "בית ספר צהל גירפה");
	TOK("السَّلَامُ عَلَيْكُمْ", "السلام عليكم");
	TOK("أحمد إبراهيم آمنة ٱلله", "احمد ابراهيم امنة الله");
	TOK("مسؤول رئيس على", "مسوول رييس علي");
	TOK("عـــربي", "عربي");
	TOK("٢٠٢٣ ۱۴۰۲", "2023 1402");
	TOK("کتاب یک", "كتاب يك");
	TOK("أ،ب؛ج؟د", "ا ب ج د");
	TOK("हिन्दी गाने।नया", "हिन्दी गाने नया");
	TOK("ภาพยนตร์ ไทย", "ภาพยนตร์ ไทย");
	TOK("ქართული ენა", "ქართული ენა");
}
END_TEST

START_TEST(test_dropped)
{
	TOK("a\u200bb a\u200cb a\u200db a\u200eb a\u200fb", "ab ab ab ab ab");
	TOK("\xef\xbb\xbfxyz", "xyz"); /* BOM */
	TOK("\u202bشبكة\u202c", "شبكة");
	TOK("a\u2060b a\u2066b", "ab ab");
	TOK("a\ufe0fb a\U000e0041b a\U000e0100b", "ab ab ab");
	TOK("a\u20ddb a\u1ab0b a\u1dc0b a\ufe20b", "ab ab ab ab");
	TOK("a\u180bb", "ab");
	TOK("\u0301\u0301", "");
}
END_TEST

START_TEST(test_separators)
{
	static const char *const seps[] = {
	    "\u00a0",     "\u00bf",     "\u00d7",     "\u02c6",     "\u037e",     "\u0387",
	    "\u055d",     "\u05be",     "\u060c",     "\u061f",     "\u066b",     "\u06d4",
	    "\u0700",     "\u0964",     "\u0e4f",     "\u10fb",     "\u1361",     "\u1680",
	    "\u17d4",     "\u1802",     "\u2014",     "\u2018",     "\u201c",     "\u2026",
	    "\u2028",     "\u2070",     "\u20ac",     "\u2122",     "\u2160",     "\u2192",
	    "\u2212",     "\u2460",     "\u2500",     "\u25b6",     "\u2605",     "\u2764",
	    "\u2800",     "\u2e2e",     "\u2f00",     "\u3000",     "\u3001",     "\u3002",
	    "\u300c",     "\u309b",     "\u30a0",     "\u30fb",     "\u3190",     "\u31c0",
	    "\u3231",     "\u33a1",     "\u4dc0",     "\ue000",     "\uf8ff",     "\ufb29",
	    "\ufdd0",     "\ufdfd",     "\ufe10",     "\ufe30",     "\ufe50",     "\uff01",
	    "\uff0c",     "\uff3b",     "\uff5e",     "\uff61",     "\uffe5",     "\ufffd",
	    "\uffff",     "\U0001d11e", "\U0001f600", "\U0001f1ef", "\U0001faff", "\U0001fbf0",
	    "\U00050000", "\U000e1000", "\U000f0000", "\U0010fffd",
	};
	for (size_t i = 0; i < sizeof(seps) / sizeof(seps[0]); i++) {
		char in[16];
		int n = snprintf(in, sizeof(in), "a%sb", seps[i]);
		expect(in, (size_t)n, "a b", (int)i);
	}
}
END_TEST

START_TEST(test_fullwidth)
{
	TOK("ＡＢＣ１２３ａｂｃ", "abc123abc");
	TOK("Ｓ０１Ｅ０２", "s01e02");
	TOK("ＡＢ，ＣＤ（ＥＦ）", "ab cd ef");
	TOK("ｶﾀｶﾅ", "カ タ カ ナ");
	TOK("ｶﾞｯﾂ ﾊﾟﾝ ｳﾞ", "ガ ッ ツ パ ン ヴ");
	TOK("ｱﾞ", "ア"); /* no voiced form: the mark is dropped */
	TOK("𝐁𝐨𝐥𝐝 𝟏𝟐 𝕿𝖊𝖝𝖙 𝚤𝚥", "bold 12 text ij");
}
END_TEST

START_TEST(test_unigrams)
{
	TOK("abc漢字def", "abc 漢 字 def");
	TOK("進撃の巨人S2", "進 撃 の 巨 人 s2");
	TOK("ひらがな カタカナ", "ひ ら が な カ タ カ ナ");
	TOK("ラーメン", "ラ ー メ ン");
	TOK("안녕하세요", "안 녕 하 세 요");
	TOK("佐々木 〇", "佐 々 木 〇");
	TOK("ア・イ「ウ」", "ア イ ウ");
	TOK("𠀀𪚲 豈", "𠀀 𪚲 豈");
	TOK("漢\u0301字", "漢 字"); /* a mark after a unigram is dropped */
	/* decomposed kana and Hangul compose */
	TOK("か\u3099は\u309aハ\u309aう\u3099ゝ\u3099ワ\u3099", "が ぱ パ ゔ ゞ ヷ");
	TOK("あ\u3099 \u3099", "あ");
	TOK("\u1100\u1161\u11a8 \u1112\u1161\u11ab\u1100\u1173\u11af", "각 한 글");
	TOK("\uac00\u11a8 \u1100\u1100\u1161", "각 \u1100 가");
	TOK("ㄱㄴ", "ㄱ ㄴ");
}
END_TEST

START_TEST(test_length)
{
	TOK(A32, A32);
	TOK(A32 "a", A32);
	TOK(A40 " next", A32 " next");
	TOK(A40 "漢" A8, A32 " 漢 " A8); /* a unigram is not part of the cut run */
	TOK(A31 "b", A31 "b");
	/* a multi-byte character straddling the cut, and what follows it in the run */
	TOK(A31 "ж", A31);
	TOK(A31 "жb c", A31 " c");
	TOK(A30 "ж", A30 "ж");
	TOK(A30 "ก", A30);
	TOK(A29 "ก", A29 "ก");
	TOK(A29 "𐐀", A29);
	TOK(A28 "𐐀", A28 "𐐀");
	TOK(A31 "É", A31 "e");
	TOK(A31 "ß", A31 "s");   /* ß -> ss, of which one fits */
	TOK(A30 "ßx", A30 "ss"); /* both fit, x does not */
	TOK(A32 "\u0301b", A32);
	TOK(A32 "'b", A32);
	TOK("абвгдежзийклмноп", "абвгдежзийклмноп");
	TOK("АБВГДЕЖЗИЙКЛМНОПР", "абвгдежзийклмноп");
	TOK("ภาพยนตร์ไทยเรื่องใหม่", "ภาพยนตร์ไท");
}
END_TEST

START_TEST(test_invalid_utf8)
{
	TOK("x\x80y", "x y");
	TOK("\x80\x81\xbf", "");
	TOK("ab\xc3", "ab"); /* cut short at the end */
	TOK("ab\xe6\x97", "ab");
	TOK("ab\xf0\x9f\x98", "ab");
	TOK("\xc3z", "z");
	TOK("\xc3\xc3\xa9", "e");
	TOK("\xe2\xc3\xa9", "e");
	TOK("Bj\xf6rk", "bj rk"); /* Latin-1 */
	/* overlong forms: never a letter, even when they encode one */
	TOK("x\xc0\xafy", "x y");
	TOK("x\xc1\x81y", "x y");
	TOK("x\xe0\x80\xafy", "x y");
	TOK("x\xe0\x9f\xbfy", "x y");
	TOK("x\xf0\x80\x80\xafy", "x y");
	TOK("x\xf0\x8f\xbf\xbfy", "x y");
	/* surrogates, alone and as a CESU-8 pair */
	TOK("x\xed\xa0\x80y", "x y");
	TOK("x\xed\xbf\xbfy", "x y");
	TOK("x\xed\xa0\xbd\xed\xb8\x80y", "x y");
	/* beyond U+10FFFF, and bytes that never appear */
	TOK("x\xf4\x90\x80\x80y", "x y");
	TOK("x\xf5\x80\x80\x80y", "x y");
	TOK("x\xf7\xbf\xbf\xbfy", "x y");
	TOK("x\xf8\x88\x80\x80\x80y", "x y");
	TOK("x\xfe\xffy", "x y");
	/* the edges of the valid forms */
	TOK("\xc2\x80", "");
	TOK("\xe0\xa0\x80", "\xe0\xa0\x80");
	TOK("\xed\x9f\xbf", "\xed\x9f\xbf");
	TOK("\xee\x80\x80", "");
	TOK("\xef\xbf\xbf", "");
	TOK("\xf0\x90\x80\x80", "\xf0\x90\x80\x80");
	TOK("\xf4\x8f\xbf\xbf", "");
}
END_TEST

START_TEST(test_nul_and_empty)
{
	TOK("ab\0cd", "ab cd");
	TOK("\0", "");
	TOK("a\0", "a");
	TOK("\0漢\0", "漢");
	TOK("", "");
	TOK(" -- [] ... ", "");
	ck_assert_int_eq(bt_store__tokenize(NULL, 0, join_cb, NULL), 0);
	ck_assert_int_eq(bt_store__tokenize("abc", 0, join_cb, NULL), 0);
	ck_assert_str_eq(tokens("abcdef", 3), "abc"); /* only len bytes are read */
}
END_TEST

/* Stops at the @stop_at-th token with @value. */
typedef struct stopper {
	int stop_at;
	int value;
	int calls;
	char last[BT_STORE__TOKEN_MAX + 1];
} stopper;

static int stop_cb(const char *tok, size_t len, void *ud)
{
	stopper *s = ud;
	memcpy(s->last, tok, len);
	s->last[len] = '\0';
	return ++s->calls == s->stop_at ? s->value : 0;
}

static void expect_stop(const char *text, int stop_at, int value, const char *last)
{
	stopper s = {stop_at, value, 0, ""};
	ck_assert_int_eq(bt_store__tokenize(text, strlen(text), stop_cb, &s), value);
	ck_assert_int_eq(s.calls, stop_at);
	ck_assert_str_eq(s.last, last);
}

START_TEST(test_stop)
{
	expect_stop("one two three four", 2, 42, "two");
	expect_stop("one two three", 3, 42, "three"); /* the last token, at the end of input */
	expect_stop("one two three", 1, -5, "one");
	expect_stop("one two three", 1, 1, "one");
	expect_stop("a漢b", 1, 7, "a");   /* the token before a unigram */
	expect_stop("a漢b", 2, 7, "漢");  /* the unigram itself */
	expect_stop("x\xffy", 1, 7, "x"); /* ended by an invalid byte */
	expect_stop("éa·b", 1, 7, "ea");  /* ended by a non-ASCII separator */

	stopper s = {0, 42, 0, ""}; /* never stops */
	ck_assert_int_eq(bt_store__tokenize("one two three", 13, stop_cb, &s), 0);
	ck_assert_int_eq(s.calls, 3);
}
END_TEST

static size_t put_utf8(char *o, uint32_t c)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xC0 | c >> 6);
		o[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) { /* surrogates too, for the hostile test */
		o[0] = (char)(0xE0 | c >> 12);
		o[1] = (char)(0x80 | (c >> 6 & 0x3F));
		o[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | c >> 18);
	o[1] = (char)(0x80 | (c >> 12 & 0x3F));
	o[2] = (char)(0x80 | (c >> 6 & 0x3F));
	o[3] = (char)(0x80 | (c & 0x3F));
	return 4;
}

static int count_cb(const char *tok, size_t len, void *ud)
{
	check_token(tok, len);
	++*(int *)ud;
	return 0;
}

/* Every code point, alone and between two letters: its tokens are well-formed and fold to
 * themselves; a code point gives at most one token alone, at most three between letters. */
START_TEST(test_every_code_point)
{
	char in[8];
	for (uint32_t c = 0; c <= 0x10FFFF; c++) {
		if (c >= 0xD800 && c <= 0xDFFF)
			continue;
		int count = 0;
		size_t n = put_utf8(in, c);
		REQUIRE(bt_store__tokenize(in, n, count_cb, &count) == 0);
		REQUIRE(count <= 1);
		in[0] = 'x';
		n = 1 + put_utf8(in + 1, c);
		in[n++] = 'y';
		count = 0;
		REQUIRE(bt_store__tokenize(in, n, count_cb, &count) == 0);
		REQUIRE(count >= 1 && count <= 3);
	}
}
END_TEST

/* Code point ranges the random strings draw from: all of Unicode, and the parts with rules. */
/* clang-format off */
static const uint32_t pools[][2] = {
    {0x80, 0x800},     {0x300, 0x370},     {0x370, 0x530},    {0x1E00, 0x2000},
    {0x2000, 0x2070},  {0x3000, 0x3100},   {0x3099, 0x309B},  {0x1100, 0x11C3},
    {0xAC00, 0xD7B0},  {0xD800, 0xE000},   {0x4E00, 0x4F00},  {0xFB00, 0xFB07},
    {0xFF00, 0xFFF0},  {0x1D400, 0x1D800}, {0x800, 0x10000},  {0x10000, 0x110000},
    {0x110000, 0x200000}, /* beyond Unicode, encoded as 4 bytes with lead F4-F7 */
};
/* clang-format on */

/* Up to @max bytes of hostile input into @buf: ASCII, random bytes, and UTF-8 (valid or not,
 * sometimes cut short) of code points from the pools. */
static size_t random_input(char *buf, size_t max)
{
	size_t units = bt_test_rnd() % 48, n = 0;
	for (size_t u = 0; u < units && n + 4 <= max; u++) {
		uint64_t r = bt_test_rnd();
		switch (r % 10) {
		case 0:
		case 1:
		case 2:
			buf[n++] = (char)(r >> 8 & 0x7F);
			break;
		case 3:
			buf[n++] = (char)('A' + (r >> 8) % 26);
			break;
		case 4:
			buf[n++] = (char)(0x80 | (r >> 8 & 0x7F));
			break;
		default: {
			const uint32_t *p = pools[(r >> 8) % (sizeof(pools) / sizeof(pools[0]))];
			uint32_t c = p[0] + (uint32_t)((r >> 16) % (p[1] - p[0]));
			size_t k = put_utf8(buf + n, c);
			if ((r >> 48) % 16 == 0)
				k -= 1 + (r >> 52) % k; /* cut short */
			n += k;
		}
		}
	}
	return n;
}

START_TEST(test_hostile)
{
	char buf[256];
	bt_test_rng = 0x5EED5EED1234ull;
	unsigned long total = 0;
	for (int i = 0; i < 200000; i++) {
		size_t n = random_input(buf, sizeof(buf));
		int count = 0;
		REQUIRE(bt_store__tokenize(buf, n, count_cb, &count) == 0);
		total += (unsigned long)count;
	}
	ck_assert_uint_gt(total, 1000000); /* the generator makes tokens, not only noise */
}
END_TEST

static Suite *store_text_suite(void)
{
	Suite *s = suite_create("store-text");
	TCase *tc = tcase_create("rules");
	tcase_add_test(tc, test_examples);
	tcase_add_test(tc, test_ascii);
	tcase_add_test(tc, test_apostrophes);
	tcase_add_test(tc, test_latin1);
	tcase_add_test(tc, test_latin_extended);
	tcase_add_test(tc, test_greek);
	tcase_add_test(tc, test_cyrillic);
	tcase_add_test(tc, test_other_scripts);
	tcase_add_test(tc, test_dropped);
	tcase_add_test(tc, test_separators);
	tcase_add_test(tc, test_fullwidth);
	tcase_add_test(tc, test_unigrams);
	suite_add_tcase(s, tc);
	tc = tcase_create("edges");
	tcase_add_test(tc, test_length);
	tcase_add_test(tc, test_invalid_utf8);
	tcase_add_test(tc, test_nul_and_empty);
	tcase_add_test(tc, test_stop);
	suite_add_tcase(s, tc);
	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 300); /* valgrind and sanitizers are slow */
	tcase_add_test(tc, test_every_code_point);
	tcase_add_test(tc, test_hostile);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return bt_test_run(store_text_suite());
}
