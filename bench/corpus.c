/*
 * corpus.c - realistic torrents for the libbtstore benchmark (see corpus.h).  A store's costs
 * depend on what it holds: how long names are, how many files a torrent has and how their paths
 * share prefixes, how skewed the word frequencies are (posting-list lengths), how much text is
 * not ASCII.  This generator imitates what a DHT crawler fetches, so that bench-store's figures
 * mean something for a real crawl.  The model, with the reasons for each choice:
 *
 * Determinism.  Torrent i is generated from its own xorshift stream (bench-util.h's bench_rnd(),
 * reseeded through splitmix64 from (seed, i)), so it never depends on what was generated before.
 * Things shared by many torrents (a movie's title, a show's name, an artist, a release group)
 * are entities: an entity id is drawn in the torrent's stream, and the entity's words come from
 * a stream seeded by (seed, kind, id), so every release of the same movie carries the same
 * title, as on the real DHT where one film exists in a dozen encodes.
 *
 * Vocabulary.  50,000 pronounceable words made of syllables (onset, vowel, coda), shorter at
 * frequent ranks (Zipf's law of abbreviation), drawn by a Zipf law of exponent 1 (the top word
 * fills ~6% of title slots, as "the" does in English titles).  Entities are drawn by Zipf laws
 * of exponent 0.75 (400k movies, 60k shows, 150k artists, ...): popular ones recur, the tail is
 * long.  Real tokens come from the category templates, with their usual shares: resolutions
 * (1080p 50%, 720p 23%, 2160p 12%, SD), sources (BluRay, WEB-DL, WEBRip, HDTV, ...), codecs
 * (x264, x265, HEVC, H.264), audio tags, FLAC/MP3 bitrates, release groups (400, Zipf), "Season",
 * "Complete", "Discography", years (recent ones likelier).
 *
 * Scripts.  87.5% of torrents are plain ASCII; 5% accented Latin (each word of the vocabulary has
 * one fixed accented spelling, 60% of words get accents, so folding "rene" must find "René"),
 * 3% Cyrillic and 1.5% Greek (words transliterated letter by letter, with ё, tonos and final
 * sigma, so case and accent folding are exercised beyond Latin-1), 3% CJK (each word a run of
 * one to three Han characters or two to four kana; CJK titles are written without spaces, as
 * they are in real names).  ISO, tarball and scene-game names stay ASCII whatever the draw, so
 * ~10.5% of names carry non-ASCII characters.
 *
 * Categories and their shares, from the make-up of public DHT crawls (video dominates, then
 * music, software, books, games, pictures):
 *   movie 22%     "The.Quiet.River.2019.1080p.BluRay.x264-GRP"; 60% one file (.mkv/.mp4/.avi,
 *                 700 MB-60 GB by resolution), else with .nfo, Sample/, Subs/<Language>.srt,
 *                 Screens/ and a site .txt
 *   episode 20%   "Show.Name.S03E07.720p.WEB.h264-GRP", spaced and anime "[Group] Show - 07
 *                 [1080p]" styles; 75% one file (200 MB-2 GB), else with .nfo/sample/subs
 *   season 7%     "Show Name Season 2 Complete", "Show.S02.1080p...", complete series with
 *                 "Season 1/Show.S01E01...mkv", per-episode Subs/ folders, Featurettes/
 *   album 11%     "Artist - Album (1997) [FLAC]": 8-20 "01 - Track Title.flac" (5-60 MB),
 *                 cover.jpg, .cue/.log, Scans/, CD1/CD2; 3% are discographies of 1-24 albums
 *   track 3%      "Artist - Title.mp3", one file
 *   software 8%   "distro-12.4-amd64-netinst.iso" (300 MB-5 GB), "Product Pro 2023 v24.1.3 (x64)"
 *                 installers with Crack/ Docs/, source tarballs, a few full program trees
 *   books 8%      single .epub/.pdf/.mobi, or packs of 5-5,000 ("Author/Title.epub"), comic
 *                 runs of .cbz, magazine years
 *   game 5%       scene .rNN volumes, repacks of .bin parts with _Redist/, installed trees of
 *                 30-5,000 files three folders deep, single ROM images
 *   photos 5%     packs of 30-3,000 IMG_1234.jpg / DSC01234.JPG / wallpaper_0001.jpg, some in
 *                 per-day folders, some RAW
 *   other 11%     archives, clips, audiobooks, video courses "01 - Section/03 - Lesson.mp4"
 * The file count that results is heavy-tailed, capped at 5,000: measured over 200,000 torrents,
 * 45.8% single-file, median 2, p90 51, p99 231, mean 20.9 (20.2 without padding files); names
 * average 41.6 bytes (bench-store prints the figures of its own run).  Paths inside a multi-file
 * torrent come in directory order, sharing prefixes, as torrent creators write them.
 *
 * Pieces and metadata.  The piece length is the smallest power of two from 16 KiB to 16 MiB that
 * keeps the piece count under a target of 1,000-2,000 (what libtorrent, qBittorrent and
 * Transmission do; 40% stop at 4 MiB, as older tools do).  metadata_size is the info dictionary's
 * size computed from its parts: ~80 bytes + the name + 20 bytes per piece + per file its path and
 * length keys (v1), plus the file tree with a 32-byte root per file for v2.  95% are v1, 4% hybrid
 * (with BEP 47 ".pad/N" files, flagged, after every file not ending on a piece boundary), 1%
 * v2-only (the key is the truncated v2 infohash).  2% are private.
 *
 * Sightings.  first_seen uniform over the 60 days before `now`; times_seen a Pareto from 1 (alpha
 * 1.2: most seen once or twice, a few thousands of times); last_seen between first_seen and now;
 * sources a mix (sample_infohashes 45%, get_peers 30%, announce 20%, import 5%, often with a
 * second one, and LOOKUP for those fetched through our own lookups); peers 0 for a quarter, else
 * a Pareto capped at 500, with up to 3 addresses (15% IPv6).
 *
 * Queries.  One-word queries: 80% a word of the title of a random torrent (10% of them cut to
 * a prefix of 3+ letters, accented words typed without accents half of the time, CJK the start
 * of the title's run), 5% a bare tag ("1080p", "flac"), 15% a word drawn from the vocabulary's
 * Zipf law.  Two-word queries:
 * 60% two adjacent title words, 20% a title word and the torrent's tag ("river 1080p"), 20% two
 * independent vocabulary words (which may find nothing, as real searches sometimes do).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-util.h"
#include "corpus.h"

#define VOCAB 50000
#define MAX_FILES 5000
#define LINE_CAP 400
#define ARENA_CAP ((size_t)(MAX_FILES + 4) * LINE_CAP)
#define MAX_KW 12
#define DAY 86400

#define KIB 1024ull
#define MIB (1024ull * 1024)
#define GIB (1024ull * 1024 * 1024)

enum { SCRIPT_PLAIN, SCRIPT_ACCENT, SCRIPT_CYRILLIC, SCRIPT_GREEK, SCRIPT_CJK };
enum { CASE_LOWER, CASE_TITLE, CASE_UPPER };

/* A string being built, bounded: a piece that does not fit is dropped whole, so a full line
 * stays valid UTF-8. */
struct line {
	char s[LINE_CAP];
	size_t n;
};

/* Words of an entity's title, as vocabulary ranks. */
struct title {
	uint32_t w[6];
	int n;
	int the;     /* starts with "The" */
	int conn;    /* 0, or 1 + index of the word that "of"/"and" precedes */
	int conn_of; /* "of" rather than "and" */
	int year;
};

/* Where one torrent is built.  Every string lives in the arena, which is sized for the largest
 * torrent, so generating allocates nothing. */
struct slot {
	char *arena;
	size_t used;
	bt_store_file *files;
	size_t nfiles;
	bt_store_torrent t;
	bt_store_peer peers[3];
	struct line name, path;
	int category, script;
	uint32_t kw[MAX_KW]; /* title words, for queries */
	int nkw;
	const char *tag; /* a token of the name users add to a query, lower case */
	char tagbuf[24];
};

struct corpus {
	uint64_t seed;
	int64_t now;
	char *words; /* the vocabulary, concatenated */
	uint32_t woff[VOCAB + 1];
	struct slot tor, qry;
	char query[2 * LINE_CAP];
};

/* ---- randomness ---- */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t hash3(uint64_t a, uint64_t b, uint64_t c)
{
	return mix64(a ^ mix64(b ^ mix64(c)));
}

/* Restart bench_rnd()'s stream at a point fixed by (a, b, c); xorshift needs a nonzero state. */
static void reseed(uint64_t a, uint64_t b, uint64_t c)
{
	bench_rng = hash3(a, b, c) | 1;
}

static double unif(void)
{
	return (double)(bench_rnd() >> 11) * 0x1.0p-53;
}

static uint64_t below(uint64_t n)
{
	return n ? bench_rnd() % n : 0;
}

/* Uniform in [lo, hi]. */
static uint64_t between(uint64_t lo, uint64_t hi)
{
	return lo + below(hi - lo + 1);
}

static int chance(double p)
{
	return unif() < p;
}

/* A rank in [0, n) with P(rank) roughly proportional to (rank + 1)^-s: the continuous power law
 * inverted, which needs no table and is close enough for ranks past the first few. */
static uint64_t zipf(uint64_t n, double s)
{
	double u = unif(), x;
	if (fabs(s - 1.0) < 1e-9)
		x = exp(u * log((double)n + 1));
	else
		x = pow(u * (pow((double)n + 1, 1 - s) - 1) + 1, 1 / (1 - s));
	uint64_t r = (uint64_t)x;
	return r >= 1 ? (r - 1 < n ? r - 1 : n - 1) : 0;
}

/* Log-uniform in [lo, hi]: sizes spread over orders of magnitude. */
static uint64_t loguni(double lo, double hi)
{
	return (uint64_t)exp(log(lo) + unif() * (log(hi) - log(lo)));
}

/* A Pareto count: at least @xmin, heavy tail of index @alpha, at most @cap. */
static uint64_t pareto(double xmin, double alpha, uint64_t cap)
{
	double x = xmin / pow(1.0 - unif(), 1.0 / alpha);
	return x >= (double)cap ? cap : (uint64_t)x;
}

/* Index into @w (weights of any scale). */
static int pick(const unsigned *w, int n)
{
	unsigned sum = 0;
	for (int i = 0; i < n; i++)
		sum += w[i];
	unsigned r = (unsigned)below(sum);
	for (int i = 0; i < n; i++) {
		if (r < w[i])
			return i;
		r -= w[i];
	}
	return n - 1;
}

#define PICK(w) pick(w, (int)(sizeof(w) / sizeof(w[0])))
#define ONE_OF(a) (a[below(sizeof(a) / sizeof(a[0]))])

/* ---- bounded strings ---- */

static void l_reset(struct line *l)
{
	l->n = 0;
	l->s[0] = 0;
}

static void l_bytes(struct line *l, const char *p, size_t n)
{
	if (l->n + n >= LINE_CAP)
		return;
	memcpy(l->s + l->n, p, n);
	l->n += n;
	l->s[l->n] = 0;
}

static void l_str(struct line *l, const char *s)
{
	l_bytes(l, s, strlen(s));
}

static void l_copy(struct line *l, const struct line *from)
{
	memcpy(l->s, from->s, from->n + 1);
	l->n = from->n;
}

__attribute__((format(printf, 2, 3))) static void l_fmt(struct line *l, const char *fmt, ...)
{
	char tmp[LINE_CAP];
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (k > 0 && (size_t)k < sizeof(tmp))
		l_bytes(l, tmp, (size_t)k);
}

static void l_cp(struct line *l, uint32_t cp)
{
	char b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	}
	l_bytes(l, b, n);
}

/* ---- the vocabulary ---- */

static const char *const onsets[] = {"b", "c", "d", "f", "g", "h", "j", "k", "l", "m",
                                     "n", "p", "r", "s", "t", "v", "w", "z", "l", "m",
                                     "n", "r", "s", "t", "d", "k", "b", "p", "v", "g"};
static const char *const clusters[] = {"br", "cr", "dr", "fr", "gr", "pr", "tr", "st", "sl", "sh",
                                       "ch", "th", "bl", "cl", "fl", "gl", "pl", "sk", "sp", "qu"};
static const char *const vowels[] = {"a", "e", "i", "o", "u", "a", "e", "i", "o", "a", "e", "o"};
static const char *const diphthongs[] = {"ai", "ea", "ou", "io", "ie", "y", "au", "ei"};
static const char *const codas[] = {"n",  "r", "s",  "t",  "l",  "m", "nd", "rt", "st", "ck",
                                    "ng", "x", "rn", "ll", "sh", "k", "d",  "n",  "r",  "s"};

/* Word @rank of the vocabulary into @out (lower-case ASCII letters); returns its length. */
static size_t make_word(uint64_t seed, uint32_t rank, char *out)
{
	static const unsigned mid[] = {25, 60, 15}, tail[] = {0, 60, 40};
	reseed(seed, 'W', rank);
	int syl = rank < 60 ? 1 + (int)below(2) : 1 + (rank < 3000 ? PICK(mid) : PICK(tail));
	size_t n = 0;
	for (int k = 0; k < syl; k++) {
		const char *parts[3] = {chance(0.2)    ? ""
		                        : chance(0.85) ? ONE_OF(onsets)
		                                       : ONE_OF(clusters),
		                        chance(0.85) ? ONE_OF(vowels) : ONE_OF(diphthongs),
		                        chance(0.25) ? ONE_OF(codas) : ""};
		for (int p = 0; p < 3; p++) {
			size_t m = strlen(parts[p]);
			memcpy(out + n, parts[p], m);
			n += m;
		}
	}
	if (n < 3 && rank >= 60) {
		const char *c = ONE_OF(codas);
		memcpy(out + n, c, strlen(c));
		n += strlen(c);
	}
	return n;
}

static int make_vocab(corpus *c)
{
	c->words = malloc((size_t)VOCAB * 26);
	if (!c->words)
		return -1;
	uint32_t off = 0;
	for (uint32_t r = 0; r < VOCAB; r++) {
		c->woff[r] = off;
		off += (uint32_t)make_word(c->seed, r, c->words + off);
	}
	c->woff[VOCAB] = off;
	return 0;
}

/* ---- writing words in scripts ---- */

static const uint16_t cyrillic[26] = {0x430, 0x431, 0x43a, 0x434, 0x435, 0x444, 0x433, 0x445, 0x438,
                                      0x436, 0x43a, 0x43b, 0x43c, 0x43d, 0x43e, 0x43f, 0x43a, 0x440,
                                      0x441, 0x442, 0x443, 0x432, 0x432, 0x445, 0x44b, 0x437};
static const uint16_t greek[26] = {0x3b1, 0x3b2, 0x3ba, 0x3b4, 0x3b5, 0x3c6, 0x3b3, 0x3b7, 0x3b9,
                                   0x3be, 0x3ba, 0x3bb, 0x3bc, 0x3bd, 0x3bf, 0x3c0, 0x3ba, 0x3c1,
                                   0x3c3, 0x3c4, 0x3c5, 0x3b2, 0x3c9, 0x3c7, 0x3c8, 0x3b6};

static uint32_t upper(uint32_t cp)
{
	if ((cp >= 'a' && cp <= 'z') || (cp >= 0xe0 && cp <= 0xfe && cp != 0xf7) ||
	    (cp >= 0x430 && cp <= 0x44f) || (cp >= 0x3b1 && cp <= 0x3c9 && cp != 0x3c2))
		return cp - 0x20;
	switch (cp) {
	case 0x451:
		return 0x401;
	case 0x3c2:
		return 0x3a3;
	case 0x3ac:
		return 0x386;
	case 0x3ad:
	case 0x3ae:
	case 0x3af:
		return cp - 0x25;
	case 0x3cc:
		return 0x38c;
	case 0x3cd:
	case 0x3ce:
		return cp - 0x3f;
	}
	return cp;
}

/* The accented spelling of letter @k of word @rank: each word has one fixed spelling. */
static uint32_t accented(uint64_t seed, uint32_t rank, size_t k, uint32_t ch)
{
	static const uint16_t a[] = {0xe0, 0xe1, 0xe2, 0xe4, 0xe3, 0xe5};
	static const uint16_t e[] = {0xe8, 0xe9, 0xe9, 0xea, 0xeb};
	static const uint16_t i[] = {0xec, 0xed, 0xee, 0xef};
	static const uint16_t o[] = {0xf2, 0xf3, 0xf4, 0xf6, 0xf5, 0xf8};
	static const uint16_t u[] = {0xf9, 0xfa, 0xfb, 0xfc};
	if (hash3(seed, 'A', rank) % 10 >= 6)
		return ch;
	uint64_t h = hash3(seed, rank, k);
	if (h % 100 >= 35)
		return ch;
	h /= 100;
	switch (ch) {
	case 'a':
		return a[h % 6];
	case 'e':
		return e[h % 5];
	case 'i':
		return i[h % 4];
	case 'o':
		return o[h % 6];
	case 'u':
		return u[h % 4];
	case 'n':
		return h % 3 ? ch : 0xf1;
	case 'c':
		return h % 2 ? ch : 0xe7;
	}
	return ch;
}

static uint32_t tonos(uint32_t cp)
{
	switch (cp) {
	case 0x3b1:
		return 0x3ac;
	case 0x3b5:
		return 0x3ad;
	case 0x3b7:
		return 0x3ae;
	case 0x3b9:
		return 0x3af;
	case 0x3bf:
		return 0x3cc;
	case 0x3c5:
		return 0x3cd;
	case 0x3c9:
		return 0x3ce;
	}
	return cp;
}

/* A CJK word: one to three Han characters, or (30%) two to four kana. */
static void put_cjk(const corpus *c, struct line *l, uint32_t rank)
{
	uint64_t h = hash3(c->seed, 'C', rank);
	if (h % 10 < 3) {
		int n = 2 + (int)(h / 10 % 3);
		for (int k = 0; k < n; k++)
			l_cp(l, 0x3041 + (uint32_t)(hash3(c->seed, rank, 100 + k) % 83));
		return;
	}
	int n = (int)(h / 10 % 20);
	n = n < 4 ? 1 : n < 15 ? 2 : 3;
	for (int k = 0; k < n; k++) {
		/* Frequent characters first, as in real text. */
		uint64_t x = hash3(c->seed, rank, 200 + k) % 1000000;
		l_cp(l, 0x4e00 + (uint32_t)(x * x / 1000000 * 0x3000 / 1000000));
	}
}

/* Word @rank in @script and case @kase; @plain drops accents (what a user often types). */
static void put_word(const corpus *c, struct line *l, uint32_t rank, int script, int kase,
                     int plain)
{
	if (script == SCRIPT_CJK) {
		put_cjk(c, l, rank);
		return;
	}
	const char *w = c->words + c->woff[rank];
	size_t n = c->woff[rank + 1] - c->woff[rank];
	uint64_t h = hash3(c->seed, 'S', rank);
	size_t tonos_at = (size_t)(h % n);
	int yo = h / n % 12 == 0;
	for (size_t k = 0; k < n; k++) {
		uint32_t ch = (unsigned char)w[k];
		int up = kase == CASE_UPPER || (kase == CASE_TITLE && k == 0);
		uint32_t cp = ch;
		if (script == SCRIPT_ACCENT && !plain)
			cp = accented(c->seed, rank, k, ch);
		else if (script == SCRIPT_CYRILLIC)
			cp = ch == 'e' && yo ? 0x451 : cyrillic[ch - 'a'];
		else if (script == SCRIPT_GREEK) {
			cp = ch == 's' && k == n - 1 ? 0x3c2 : greek[ch - 'a'];
			if (k == tonos_at && !up && !plain)
				cp = tonos(cp);
		}
		l_cp(l, up ? upper(cp) : cp);
	}
}

/* Put a small English word in the case of the title around it. */
static void put_small(struct line *l, const char *w, int kase)
{
	for (const char *p = w; *p; p++) {
		int up = kase == CASE_UPPER || (kase == CASE_TITLE && p == w);
		l_cp(l, up ? (uint32_t)(*p - 0x20) : (uint32_t)*p);
	}
}

/* A title with words joined by @sep (CJK: run together, no "The"). */
static void put_title(const corpus *c, struct line *l, const struct title *t, int script,
                      const char *sep, int kase)
{
	int latin = script == SCRIPT_PLAIN || script == SCRIPT_ACCENT;
	if (script == SCRIPT_CJK) {
		for (int k = 0; k < t->n; k++)
			put_word(c, l, t->w[k], script, kase, 0);
		return;
	}
	if (t->the && latin) {
		put_small(l, "the", kase);
		l_str(l, sep);
	}
	for (int k = 0; k < t->n; k++) {
		if (k)
			l_str(l, sep);
		if (latin && t->conn == k + 1 && k > 0) {
			put_small(l, t->conn_of ? "of" : "and", kase);
			l_str(l, sep);
		}
		put_word(c, l, t->w[k], script, kase, 0);
	}
}

/* The words of entity @id of @kind, from their own stream so every torrent about the same
 * entity names it the same way.  The torrent's stream is left where it was. */
static void make_title(const corpus *c, uint64_t kind, uint64_t id, int maxw, struct title *t)
{
	static const unsigned nw[] = {18, 34, 26, 14, 8};
	uint64_t saved = bench_rng;
	reseed(c->seed, kind, id);
	t->n = 1 + PICK(nw);
	if (t->n > maxw)
		t->n = maxw;
	for (int k = 0; k < t->n; k++)
		t->w[k] = (uint32_t)zipf(VOCAB, 1.0);
	t->the = chance(0.15);
	t->conn = t->n >= 3 && chance(0.2) ? 2 + (int)below((uint64_t)t->n - 1) : 0;
	t->conn_of = chance(0.6);
	/* Release years: half of the last 8 years, the rest back to 1950. */
	t->year = chance(0.5) ? 2024 - (int)below(8) : 2016 - (int)pareto(1, 0.9, 66) + 1;
	bench_rng = saved;
}

/* A release group's tag: "FLUX", "Tigole", "ION10". */
static void put_group(const corpus *c, struct line *l, uint64_t id)
{
	uint64_t h = hash3(c->seed, 'G', id);
	uint32_t rank = (uint32_t)(h % 3000);
	int style = (int)(h / 8000 % 10);
	put_word(c, l, rank, SCRIPT_PLAIN, style < 5 ? CASE_UPPER : CASE_TITLE, 1);
	if (style >= 8)
		l_fmt(l, "%u", (unsigned)(h / 80000 % 100));
}

static void kw_title(struct slot *s, const struct title *t)
{
	for (int k = 0; k < t->n && s->nkw < MAX_KW; k++)
		s->kw[s->nkw++] = t->w[k];
}

/* ---- files ---- */

static const char *arena_put(struct slot *s, const struct line *l)
{
	char *p = s->arena + s->used;
	memcpy(p, l->s, l->n + 1);
	s->used += l->n + 1;
	return p;
}

/* Add a file; -1 when the torrent is full (MAX_FILES). */
static int add_file(struct slot *s, const struct line *path, uint64_t length)
{
	if (s->nfiles >= MAX_FILES)
		return -1;
	if (!path->n || path->s[path->n - 1] == '/')
		return 0; /* did not fit in LINE_CAP: leave it out */
	bt_store_file *f = &s->files[s->nfiles++];
	f->path = arena_put(s, path);
	f->length = length ? length : 1;
	f->flags = 0;
	return 0;
}

static int full(const struct slot *s)
{
	return s->nfiles >= MAX_FILES;
}

/* The name becomes final (multi-file torrent). */
static void name_done(struct slot *s)
{
	s->t.name = arena_put(s, &s->name);
}

/* A single-file torrent: its one file's path is its name. */
static void single(struct slot *s, uint64_t length)
{
	name_done(s);
	s->files[0].path = s->t.name;
	s->files[0].length = length;
	s->files[0].flags = 0;
	s->nfiles = 1;
}

/* s->path = @dir + "/" (or nothing when @dir is empty); returns s->path to append to. */
static struct line *path_in(struct slot *s, const struct line *dir)
{
	l_copy(&s->path, dir);
	if (dir->n)
		l_str(&s->path, "/");
	return &s->path;
}

static const struct line no_dir = {{0}, 0};

/* ---- video ---- */

struct video {
	const char *res, *src, *codec, *audio, *extra, *ext;
	uint64_t group;
	int style; /* 0 scene, 1 scene lower case, 2 spaced p2p, 3 bracketed p2p, 4 underscores */
};

static void pick_video(struct video *v, int tv)
{
	static const char *const res[] = {"2160p", "1080p", "720p", ""};
	static const unsigned res_w[] = {12, 50, 23, 15};
	static const unsigned res_tv[] = {5, 45, 35, 15};
	static const char *const src[] = {"BluRay", "WEB-DL", "WEBRip", "HDRip",       "BRRip",
	                                  "REMUX",  "HDTV",   "WEB",    "AMZN.WEB-DL", "NF.WEB-DL"};
	static const unsigned src_w[] = {35, 25, 20, 5, 5, 3, 2, 0, 3, 2};
	static const unsigned src_tv[] = {10, 25, 15, 0, 0, 0, 15, 30, 3, 2};
	static const char *const codec[] = {"x264", "x265", "HEVC", "H.264", "h264", "AVC"};
	static const unsigned codec_w[] = {45, 25, 10, 10, 6, 4};
	static const char *const audio[] = {"DTS",   "AAC5.1", "DD5.1",      "AC3",
	                                    "Atmos", "DDP5.1", "TrueHD.7.1", "AAC"};
	static const char *const extra[] = {"EXTENDED", "REMASTERED", "PROPER", "UNRATED",
	                                    "DC",       "IMAX",       "HDR",    "10bit"};
	static const unsigned style_w[] = {62, 5, 18, 10, 5};
	v->res = res[tv ? PICK(res_tv) : PICK(res_w)];
	v->src = src[tv ? PICK(src_tv) : PICK(src_w)];
	v->codec = codec[PICK(codec_w)];
	if (!*v->res) {
		v->src = tv ? "HDTV" : chance(0.6) ? "DVDRip" : "HDRip";
		v->codec = chance(0.5) ? "XviD" : "x264";
	}
	v->audio = chance(0.4) ? ONE_OF(audio) : NULL;
	v->extra = chance(0.1) ? ONE_OF(extra) : NULL;
	v->group = zipf(400, 1.0);
	v->style = PICK(style_w);
	v->ext = !strcmp(v->codec, "XviD") ? ".avi" : chance(0.72) ? ".mkv" : ".mp4";
}

/* A token the release's name carries: its resolution, or its codec as users type it. */
static const char *video_tag(const struct video *v)
{
	static const char *const codec[][2] = {{"x264", "x264"},
	                                       {"x265", "x265"},
	                                       {"HEVC", "hevc"},
	                                       {"h264", "h264"},
	                                       {"XviD", "xvid"}};
	int has_codec = v->style < 3;
	if (*v->res && (!has_codec || chance(0.7)))
		return v->res;
	for (size_t k = 0; has_codec && k < sizeof(codec) / sizeof(codec[0]); k++)
		if (!strcmp(v->codec, codec[k][0]))
			return codec[k][1];
	return *v->res ? v->res : "";
}

/* "<title><sep><marker>...<res>.<src>.<codec>-GROUP" in the video's style; @marker is a year
 * or an episode code, @marker2 an optional episode title. */
static void put_release(const corpus *c, struct slot *s, struct line *l, const struct title *t,
                        const char *marker, const struct title *eptitle, const struct video *v)
{
	int lower = v->style == 1;
	const char *sep = v->style == 2 || v->style == 3 ? " " : v->style == 4 ? "_" : ".";
	put_title(c, l, t, s->script, sep, lower ? CASE_LOWER : CASE_TITLE);
	if (v->style == 3) {
		l_fmt(l, " (%s)", marker);
		if (*v->res)
			l_fmt(l, " [%s]", v->res);
		l_fmt(l, " [%s]", v->src);
		if (v->audio)
			l_fmt(l, " [%s]", v->audio);
		l_str(l, " [");
		put_group(c, l, v->group);
		l_str(l, "]");
		return;
	}
	l_fmt(l, "%s%s", sep, marker);
	if (eptitle) {
		l_str(l, sep);
		put_title(c, l, eptitle, s->script, sep, lower ? CASE_LOWER : CASE_TITLE);
	}
	if (v->style == 4) {
		if (*v->res)
			l_fmt(l, "_%s", v->res);
		return;
	}
	const char *parts[5] = {v->extra, v->res, v->src, v->audio, v->codec};
	for (int k = 0; k < 5; k++) {
		if (!parts[k] || !*parts[k])
			continue;
		l_str(l, sep);
		for (const char *p = parts[k]; *p; p++) {
			char ch = lower && *p >= 'A' && *p <= 'Z' ? (char)(*p + 32) : *p;
			l_bytes(l, &ch, 1);
		}
	}
	l_str(l, "-");
	if (lower) {
		struct line g;
		l_reset(&g);
		put_group(c, &g, v->group);
		for (size_t k = 0; k < g.n; k++)
			if (g.s[k] >= 'A' && g.s[k] <= 'Z')
				g.s[k] = (char)(g.s[k] + 32);
		l_bytes(l, g.s, g.n);
	} else {
		put_group(c, l, v->group);
	}
}

static const char *const languages[] = {
    "English",  "Spanish",    "French",  "German",     "Italian",   "Portuguese",
    "Russian",  "Arabic",     "Chinese", "Japanese",   "Korean",    "Dutch",
    "Polish",   "Turkish",    "Swedish", "Norwegian",  "Danish",    "Finnish",
    "Czech",    "Hungarian",  "Greek",   "Hebrew",     "Romanian",  "Bulgarian",
    "Croatian", "Indonesian", "Thai",    "Vietnamese", "Ukrainian", "Malay"};

/* What comes with a video release in its folder: .nfo, sample, subtitles, screenshots. */
static void video_extras(const corpus *c, struct slot *s, const struct line *dir,
                         const struct line *rel, const struct video *v, int many_subs)
{
	if (chance(0.6)) {
		l_fmt(path_in(s, dir), "%s.nfo", rel->s);
		add_file(s, &s->path, between(1500, 12000));
	}
	if (chance(0.4)) {
		struct line *p = path_in(s, dir);
		l_str(p, chance(0.5) ? "Sample/" : "");
		l_fmt(p, "%s-sample%s", rel->s, v->ext);
		add_file(s, p, loguni(20e6, 150e6));
	}
	if (chance(0.3)) {
		int n = many_subs ? (int)pareto(1, 0.8, 30) : 1 + (int)below(3);
		int numbered = chance(0.5);
		for (int k = 0; k < n && !full(s); k++) {
			struct line *p = path_in(s, dir);
			l_str(p, "Subs/");
			if (numbered)
				l_fmt(p, "%d_", k + 2);
			l_fmt(p, "%s.srt", languages[k % 30]);
			add_file(s, p, loguni(25e3, 130e3));
		}
	}
	if (chance(0.1)) {
		int n = 3 + (int)below(4);
		for (int k = 0; k < n; k++) {
			l_fmt(path_in(s, dir), "Screens/screen%02d.jpg", k + 1);
			add_file(s, &s->path, loguni(100e3, 600e3));
		}
	}
	if (chance(0.15)) {
		struct line *p = path_in(s, dir);
		l_str(p, "Downloaded from ");
		put_group(c, p, 1000 + zipf(50, 1.0));
		l_str(p, ".txt");
		add_file(s, p, between(40, 200));
	}
}

static uint64_t movie_size(const struct video *v)
{
	if (v->src && !strcmp(v->src, "REMUX"))
		return loguni(20e9, 60e9);
	if (!strcmp(v->res, "2160p"))
		return loguni(8e9, 60e9);
	if (!strcmp(v->res, "1080p"))
		return loguni(1.4e9, 16e9);
	if (!strcmp(v->res, "720p"))
		return loguni(700e6, 4.5e9);
	return loguni(700e6, 1.5e9);
}

static uint64_t episode_size(const struct video *v)
{
	if (!strcmp(v->res, "2160p"))
		return loguni(1.2e9, 4e9);
	if (!strcmp(v->res, "1080p"))
		return loguni(400e6, 2e9);
	if (!strcmp(v->res, "720p"))
		return loguni(200e6, 1.2e9);
	return loguni(150e6, 450e6);
}

static void gen_movie(corpus *c, struct slot *s)
{
	struct title t;
	struct video v;
	make_title(c, 'M', zipf(400000, 0.75), 5, &t);
	pick_video(&v, 0);
	char year[8];
	snprintf(year, sizeof(year), "%d", t.year);
	put_release(c, s, &s->name, &t, year, NULL, &v);
	kw_title(s, &t);
	s->tag = video_tag(&v);
	uint64_t size = movie_size(&v);
	if (chance(0.6)) {
		l_str(&s->name, v.ext);
		single(s, size);
		return;
	}
	struct line rel;
	l_copy(&rel, &s->name);
	name_done(s);
	l_fmt(path_in(s, &no_dir), "%s%s", rel.s, v.ext);
	add_file(s, &s->path, size);
	video_extras(c, s, &no_dir, &rel, &v, 1);
	if (s->nfiles == 1) {
		l_fmt(path_in(s, &no_dir), "%s.nfo", rel.s);
		add_file(s, &s->path, between(1500, 12000));
	}
}

/* Episode code and an anime-style name. */
static void put_anime(const corpus *c, struct slot *s, struct line *l, const struct title *t,
                      const char *ep, const struct video *v)
{
	l_str(l, "[");
	put_group(c, l, 500 + v->group % 200);
	l_str(l, "] ");
	put_title(c, l, t, s->script, " ", CASE_TITLE);
	l_fmt(l, " - %s [%s]", ep, *v->res ? v->res : "480p");
	if (chance(0.4))
		l_fmt(l, " [%08llX]", (unsigned long long)(bench_rnd() & 0xffffffffu));
}

static void gen_episode(corpus *c, struct slot *s)
{
	struct title t, et;
	struct video v;
	uint64_t show = zipf(60000, 0.75);
	make_title(c, 'T', show, 4, &t);
	pick_video(&v, 1);
	if (v.style == 3)
		v.style = 2;
	kw_title(s, &t);
	s->tag = video_tag(&v);
	int seasons = 1 + (int)(hash3(c->seed, 'N', show) % 12);
	int season = 1 + (int)below((uint64_t)seasons), ep = 1 + (int)below(22);
	char code[16];
	int anime = chance(0.12);
	if (anime) {
		snprintf(code, sizeof(code), "%02d", ep + (season - 1) * 12);
		put_anime(c, s, &s->name, &t, code, &v);
		v.ext = ".mkv";
		s->tag = *v.res ? v.res : "480p";
	} else {
		snprintf(code, sizeof(code), "S%02dE%02d", season, ep);
		int titled = chance(0.25);
		if (titled)
			make_title(c, 'E', show * 1000 + (uint64_t)(season * 30 + ep), 4, &et);
		put_release(c, s, &s->name, &t, code, titled ? &et : NULL, &v);
	}
	uint64_t size = episode_size(&v);
	if (chance(0.75)) {
		l_str(&s->name, v.ext);
		single(s, size);
		return;
	}
	struct line rel;
	l_copy(&rel, &s->name);
	name_done(s);
	l_fmt(path_in(s, &no_dir), "%s%s", rel.s, v.ext);
	add_file(s, &s->path, size);
	video_extras(c, s, &no_dir, &rel, &v, 0);
	if (s->nfiles == 1) {
		l_fmt(path_in(s, &no_dir), "%s.nfo", rel.s);
		add_file(s, &s->path, between(1500, 12000));
	}
}

static void gen_season(corpus *c, struct slot *s)
{
	struct title t;
	struct video v;
	uint64_t show = zipf(60000, 0.75);
	make_title(c, 'T', show, 4, &t);
	pick_video(&v, 1);
	kw_title(s, &t);
	int seasons = 1 + (int)(hash3(c->seed, 'N', show) % 12);
	int eps = 6 + (int)(hash3(c->seed, 'P', show) % 19);
	int first = 1 + (int)below((uint64_t)seasons), last = first;
	if (seasons > 1 && chance(0.15)) {
		first = 1;
		last = seasons;
	}
	char code[32];
	if (first == last)
		snprintf(code, sizeof(code), "S%02d", first);
	else
		snprintf(code, sizeof(code), "S%02d-S%02d", first, last);
	struct line *n = &s->name;
	int style = (int)below(10);
	if (style < 5) {
		put_release(c, s, n, &t, code, NULL, &v);
		s->tag = video_tag(&v);
	} else if (style < 8) {
		s->tag = "season";
		put_title(c, n, &t, s->script, " ", CASE_TITLE);
		if (first != last)
			l_fmt(n, " (%d) Season %d-%d %s", t.year, first, last, code);
		else
			l_fmt(n, " Season %d", first);
		l_str(n, chance(0.5) ? " Complete" : "");
		if (*v.res)
			l_fmt(n, " %s", v.res);
	} else {
		s->tag = "complete";
		put_title(c, n, &t, s->script, " ", CASE_TITLE);
		l_str(n, first != last ? " - Complete Series" : " - Complete Season");
		if (first == last)
			l_fmt(n, " %d", first);
	}
	name_done(s);
	int dirs = first != last || chance(0.3);
	int subs = chance(0.2), nfo = chance(0.4);
	for (int se = first; se <= last && !full(s); se++) {
		struct line dir;
		l_reset(&dir);
		if (dirs)
			l_fmt(&dir, "Season %d", se);
		for (int e = 1; e <= eps && !full(s); e++) {
			struct line rel;
			l_reset(&rel);
			char ec[16];
			snprintf(ec, sizeof(ec), "S%02dE%02d", se, e);
			struct video ev = v;
			ev.style = v.style == 3 ? 0 : v.style;
			put_release(c, s, &rel, &t, ec, NULL, &ev);
			l_fmt(path_in(s, &dir), "%s%s", rel.s, v.ext);
			add_file(s, &s->path, episode_size(&v));
			if (subs) {
				int k = 1 + (int)below(3);
				for (int j = 0; j < k && !full(s); j++) {
					l_fmt(path_in(s, &dir), "Subs/%s/%d_%s.srt", rel.s, j + 2,
					      languages[j]);
					add_file(s, &s->path, loguni(25e3, 90e3));
				}
			}
		}
		if (nfo && !full(s)) {
			l_fmt(path_in(s, &dir), "Season.%02d.nfo", se);
			add_file(s, &s->path, between(1500, 9000));
		}
	}
	if (chance(0.1)) {
		int k = 2 + (int)below(7);
		for (int j = 0; j < k && !full(s); j++) {
			struct title ft;
			make_title(c, 'F', show * 100 + (uint64_t)j, 3, &ft);
			struct line *p = path_in(s, &no_dir);
			l_str(p, "Featurettes/");
			put_title(c, p, &ft, s->script, " ", CASE_TITLE);
			l_str(p, v.ext);
			add_file(s, p, loguni(50e6, 600e6));
		}
	}
}

/* ---- music ---- */

struct audio {
	const char *label, *ext, *tag;
	double rate; /* bytes per second */
};

static const struct audio audio_formats[] = {
    {"FLAC", ".flac", "flac", 110e3}, {"FLAC 24-96", ".flac", "flac", 350e3},
    {"MP3 320", ".mp3", "mp3", 40e3}, {"MP3 V0", ".mp3", "mp3", 32e3},
    {"MP3 256", ".mp3", "mp3", 32e3}, {"ALAC", ".m4a", "alac", 105e3},
    {"OGG", ".ogg", "ogg", 20e3},     {"FLAC 24-192", ".flac", "flac", 700e3}};
static const unsigned audio_w[] = {40, 7, 35, 8, 4, 3, 1, 2};

static uint64_t track_size(const struct audio *a)
{
	double secs = chance(0.05) ? (double)loguni(480, 1200) : (double)loguni(120, 480);
	return (uint64_t)(secs * a->rate) + below((uint64_t)a->rate);
}

/* One album's tracks (and cover, cue, log, scans) under @dir. */
static void album_files(corpus *c, struct slot *s, const struct line *dir, uint64_t artist,
                        uint64_t album, const struct title *at, const struct audio *a)
{
	uint64_t h = hash3(c->seed, 'K', artist * 64 + album);
	int tracks = 8 + (int)(h % 13), discs = h / 13 % 10 == 0 ? 2 : 1;
	int style = (int)(h / 130 % 4);
	for (int d = 1; d <= discs && !full(s); d++) {
		struct line ddir;
		l_copy(&ddir, dir);
		if (discs > 1) {
			if (ddir.n)
				l_str(&ddir, "/");
			l_fmt(&ddir, "CD%d", d);
		}
		for (int k = 1; k <= tracks && !full(s); k++) {
			struct title tt;
			make_title(c, 'R', (artist * 64 + album) * 64 + (uint64_t)(d * 32 + k), 4,
			           &tt);
			struct line *p = path_in(s, &ddir);
			if (style == 0)
				l_fmt(p, "%02d - ", k);
			else if (style == 1)
				l_fmt(p, "%02d. ", k);
			else if (style == 2) {
				l_fmt(p, "%02d ", k);
				put_title(c, p, at, s->script, " ", CASE_TITLE);
				l_str(p, " - ");
			} else
				l_fmt(p, "%d%02d - ", d, k);
			put_title(c, p, &tt, s->script, " ", CASE_TITLE);
			l_str(p, a->ext);
			add_file(s, p, track_size(a));
		}
	}
	if (chance(0.7) && !full(s)) {
		l_str(path_in(s, dir), ONE_OF(((const char *const[]){"cover.jpg", "folder.jpg",
		                                                     "Cover.jpg", "front.jpg"})));
		add_file(s, &s->path, loguni(80e3, 3e6));
	}
	if (!strcmp(a->ext, ".flac") && chance(0.5)) {
		for (int k = 0; k < 2 && !full(s); k++) {
			struct line *p = path_in(s, dir);
			put_title(c, p, at, s->script, " ", CASE_TITLE);
			l_str(p, k ? ".log" : ".cue");
			add_file(s, p, between(1000, 9000));
		}
	}
	if (chance(0.15)) {
		int k = 3 + (int)below(13);
		for (int j = 1; j <= k && !full(s); j++) {
			l_fmt(path_in(s, dir), "Scans/%02d.jpg", j);
			add_file(s, &s->path, loguni(500e3, 8e6));
		}
	}
}

static void gen_album(corpus *c, struct slot *s)
{
	struct title artist, album;
	uint64_t aid = zipf(150000, 0.75);
	make_title(c, 'A', aid, 3, &artist);
	const struct audio *a = &audio_formats[PICK(audio_w)];
	kw_title(s, &artist);
	s->tag = a->tag;
	struct line *n = &s->name;
	int albums = 1 + (int)(hash3(c->seed, 'L', aid) % 24);
	if (chance(0.03)) {
		int from = artist.year - (int)below(30);
		put_title(c, n, &artist, s->script, " ", CASE_TITLE);
		l_fmt(n, " - Discography (%d-%d) [%s]", from, artist.year, a->label);
		name_done(s);
		int grouped = chance(0.3);
		for (int k = 0; k < albums && !full(s); k++) {
			make_title(c, 'B', aid * 64 + (uint64_t)k, 4, &album);
			struct line dir;
			l_reset(&dir);
			if (grouped)
				l_str(&dir, k % 4 == 3 ? "Singles & EPs/" : "Albums/");
			l_fmt(&dir, "%d - ", from + k * (artist.year - from + 1) / albums);
			put_title(c, &dir, &album, s->script, " ", CASE_TITLE);
			album_files(c, s, &dir, aid, (uint64_t)k, &album, a);
		}
		return;
	}
	uint64_t k = below((uint64_t)albums);
	make_title(c, 'B', aid * 64 + k, 4, &album);
	kw_title(s, &album);
	int style = (int)below(10);
	if (style < 6) {
		put_title(c, n, &artist, s->script, " ", CASE_TITLE);
		l_str(n, " - ");
		put_title(c, n, &album, s->script, " ", CASE_TITLE);
		l_fmt(n, " (%d) [%s]", album.year, a->label);
	} else if (style < 8) {
		put_title(c, n, &artist, s->script, " ", CASE_TITLE);
		l_str(n, " - ");
		put_title(c, n, &album, s->script, " ", CASE_TITLE);
		l_fmt(n, " (%d) %s%s", album.year, a->label, a->rate < 50e3 ? "kbps" : "");
	} else if (style < 9) {
		l_fmt(n, "(%d) ", album.year);
		put_title(c, n, &artist, s->script, " ", CASE_TITLE);
		l_str(n, " - ");
		put_title(c, n, &album, s->script, " ", CASE_TITLE);
	} else {
		put_title(c, n, &artist, s->script, "_", CASE_TITLE);
		l_str(n, "-");
		put_title(c, n, &album, s->script, "_", CASE_TITLE);
		l_fmt(n, "-WEB-%d-", album.year);
		put_group(c, n, 1100 + zipf(100, 1.0));
	}
	name_done(s);
	album_files(c, s, &no_dir, aid, k, &album, a);
}

static void gen_track(corpus *c, struct slot *s)
{
	struct title artist, song;
	uint64_t aid = zipf(150000, 0.75);
	make_title(c, 'A', aid, 3, &artist);
	make_title(c, 'S', aid * 64 + zipf(40, 1.0), 4, &song);
	const struct audio *a = &audio_formats[chance(0.8) ? 2 : 0];
	kw_title(s, &artist);
	kw_title(s, &song);
	s->tag = a->tag;
	put_title(c, &s->name, &artist, s->script, " ", CASE_TITLE);
	l_str(&s->name, " - ");
	put_title(c, &s->name, &song, s->script, " ", CASE_TITLE);
	l_str(&s->name, a->ext);
	single(s, track_size(a));
}

/* ---- software ---- */

static void gen_software(corpus *c, struct slot *s)
{
	struct title t;
	struct line *n = &s->name;
	int kind = (int)below(100);
	uint64_t id = zipf(20000, 0.75);
	if (kind < 35 || (kind >= 80 && kind < 90))
		s->script = SCRIPT_PLAIN; /* ISO and tarball names are ASCII */
	make_title(c, 'O', id, kind < 35 ? 1 : 3, &t);
	kw_title(s, &t);
	uint64_t h = hash3(c->seed, 'V', id);
	int major = (int)(h % 40), minor = (int)below(12), patch = (int)below(20);
	if (kind < 35) {
		static const char *const arch[] = {"amd64", "x86_64", "arm64", "i386", "aarch64"};
		static const char *const var[] = {"netinst", "desktop", "live", "server",
		                                  "dvd",     "minimal", "KDE",  "xfce"};
		const char *vr = ONE_OF(var);
		put_title(c, n, &t, SCRIPT_PLAIN, "-", h / 40 % 3 ? CASE_LOWER : CASE_TITLE);
		l_fmt(n, "-%d.%d-%s-%s.iso", major, minor, ONE_OF(arch), vr);
		s->tag = "iso";
		uint64_t size = !strcmp(vr, "netinst") || !strcmp(vr, "minimal")
		                    ? loguni(300e6, 700e6)
		                    : loguni(1.5e9, 5e9);
		if (chance(0.8)) {
			single(s, size);
			return;
		}
		struct line iso;
		l_copy(&iso, n);
		n->n -= 4;
		n->s[n->n] = 0;
		name_done(s);
		add_file(s, &iso, size);
		l_str(path_in(s, &no_dir), "SHA256SUMS");
		add_file(s, &s->path, between(100, 900));
		l_str(path_in(s, &no_dir), "SHA256SUMS.sign");
		add_file(s, &s->path, between(800, 900));
		return;
	}
	if (kind < 80) {
		static const char *const suffix[] = {"Pro",    "Studio",  "Suite",      "Ultimate",
		                                     "Server", "Toolkit", "Enterprise", ""};
		const char *suf = ONE_OF(suffix);
		int scene = chance(0.35);
		put_title(c, n, &t, s->script, scene ? "." : " ", CASE_TITLE);
		if (*suf)
			l_fmt(n, "%s%s", scene ? "." : " ", suf);
		if (scene) {
			l_fmt(n, ".v%d.%d.%d.Incl.Keygen-", major, minor, patch);
			put_group(c, n, 1200 + zipf(60, 1.0));
			s->tag = "keygen";
		} else {
			int year = 2015 + (int)(h % 10);
			l_fmt(n, " %d v%d.%d.%d", year, major, minor, patch);
			snprintf(s->tagbuf, sizeof(s->tagbuf), "%d", year);
			s->tag = s->tagbuf;
			if (chance(0.5)) {
				l_str(n, " (x64) Multilingual");
				s->tag = "x64";
			} else if (chance(0.5)) {
				l_str(n, " macOS");
				s->tag = "macos";
			}
		}
		if (*suf && chance(0.5)) {
			snprintf(s->tagbuf, sizeof(s->tagbuf), "%s", suf);
			s->tagbuf[0] = (char)(s->tagbuf[0] + 32);
			s->tag = s->tagbuf;
		}
		uint64_t size = loguni(5e6, 3e9);
		if (chance(0.55)) {
			l_str(n, ONE_OF(((const char *const[]){".exe", ".zip", ".rar", ".dmg"})));
			single(s, size);
			return;
		}
		name_done(s);
		l_str(path_in(s, &no_dir), chance(0.5) ? "Setup.exe" : "setup.exe");
		add_file(s, &s->path, size);
		l_str(path_in(s, &no_dir), "Readme.txt");
		add_file(s, &s->path, between(300, 5000));
		if (chance(0.6)) {
			l_str(path_in(s, &no_dir),
			      chance(0.5) ? "Crack/patch.exe" : "Keygen/keygen.exe");
			add_file(s, &s->path, loguni(100e3, 5e6));
		}
		if (chance(0.3)) {
			l_str(path_in(s, &no_dir), "Docs/manual.pdf");
			add_file(s, &s->path, loguni(500e3, 20e6));
		}
		if (chance(0.1)) {
			/* A whole program tree. */
			static const char *const dirs[] = {"bin",       "lib",    "plugins",
			                                   "resources", "locale", "share/icons"};
			static const char *const ext[] = {".dll", ".so", ".dat",
			                                  ".png", ".qm", ".xml"};
			uint64_t k = pareto(20, 1.1, 400);
			for (uint64_t j = 0; j < k && !full(s); j++) {
				int d = (int)(j * 6 / k);
				struct line *p = path_in(s, &no_dir);
				put_title(c, p, &t, SCRIPT_PLAIN, " ", CASE_TITLE);
				l_fmt(p, "/%s/", dirs[d]);
				put_word(c, p, (uint32_t)zipf(VOCAB, 1.0), SCRIPT_PLAIN, CASE_LOWER,
				         1);
				l_fmt(p, "%u%s", (unsigned)j, ext[d]);
				add_file(s, p, loguni(2e3, 30e6));
			}
		}
		return;
	}
	if (kind < 90) {
		put_title(c, n, &t, SCRIPT_PLAIN, "-", CASE_LOWER);
		l_fmt(n, "-%d.%d.%d.tar.%s", major % 6, minor, patch, chance(0.5) ? "gz" : "xz");
		s->tag = "tar";
		single(s, loguni(500e3, 200e6));
		return;
	}
	put_title(c, n, &t, s->script, " ", CASE_TITLE);
	l_fmt(n, " Drivers %d.%d", major, minor);
	s->tag = "drivers";
	name_done(s);
	int k = 2 + (int)below(40);
	for (int j = 0; j < k && !full(s); j++) {
		l_fmt(path_in(s, &no_dir), "%s/driver%02d.%s", j % 3 ? "x64" : "x86", j,
		      j % 2 ? "sys" : "inf");
		add_file(s, &s->path, loguni(5e3, 20e6));
	}
}

/* ---- books ---- */

static void put_author_book(corpus *c, struct slot *s, struct line *l, uint64_t author,
                            uint64_t book, int kw)
{
	struct title a, b;
	make_title(c, 'U', author, 3, &a);
	make_title(c, 'K', author * 256 + book, 5, &b);
	if (kw) {
		kw_title(s, &a);
		kw_title(s, &b);
	}
	put_title(c, l, &a, s->script, " ", CASE_TITLE);
	l_str(l, " - ");
	put_title(c, l, &b, s->script, " ", CASE_TITLE);
	l_fmt(l, " (%d)", b.year);
}

static uint64_t book_size(const char *ext)
{
	if (!strcmp(ext, ".pdf"))
		return loguni(500e3, 60e6);
	if (!strcmp(ext, ".cbz") || !strcmp(ext, ".cbr"))
		return loguni(15e6, 120e6);
	if (!strcmp(ext, ".epub"))
		return loguni(200e3, 5e6);
	return loguni(300e3, 4e6);
}

static void gen_books(corpus *c, struct slot *s)
{
	static const char *const ext[] = {".epub", ".pdf", ".mobi", ".azw3"};
	static const unsigned ext_w[] = {50, 30, 12, 8};
	struct line *n = &s->name;
	const char *e = ext[PICK(ext_w)];
	s->tag = e + 1;
	int kind = (int)below(100);
	if (kind < 30) {
		put_author_book(c, s, n, zipf(100000, 0.75), zipf(30, 1.0), 1);
		l_str(n, e);
		single(s, book_size(e));
		return;
	}
	struct title t;
	if (kind < 65) {
		/* A collection: by one author, or many authors in folders. */
		uint64_t id = zipf(100000, 0.75);
		make_title(c, 'U', id, 3, &t);
		int many = chance(0.6);
		uint64_t k = many ? pareto(20, 1.1, 5000) : 5 + below(55);
		if (many) {
			struct title g;
			make_title(c, 'Q', zipf(2000, 0.75), 3, &g);
			kw_title(s, &g);
			l_fmt(n, "%llu ", (unsigned long long)k);
			put_title(c, n, &g, s->script, " ", CASE_TITLE);
			l_fmt(n, " Books (%s)", e + 1);
		} else {
			kw_title(s, &t);
			put_title(c, n, &t, s->script, " ", CASE_TITLE);
			l_fmt(n, " - Complete Works [%s]", e + 1);
		}
		name_done(s);
		uint64_t author = id;
		for (uint64_t j = 0; j < k && !full(s); j++) {
			if (many && (j == 0 || chance(0.3)))
				author = zipf(100000, 0.75);
			struct line *p = path_in(s, &no_dir);
			if (many) {
				make_title(c, 'U', author, 3, &t);
				put_title(c, p, &t, s->script, " ", CASE_TITLE);
				l_str(p, "/");
			}
			put_author_book(c, s, p, author, j, 0);
			l_str(p, e);
			add_file(s, p, book_size(e));
		}
		return;
	}
	if (kind < 85) {
		/* A comic run. */
		uint64_t id = zipf(30000, 0.75);
		make_title(c, 'X', id, 3, &t);
		kw_title(s, &t);
		s->tag = "cbz";
		uint64_t k = pareto(6, 1.3, 600);
		int from = t.year - (int)(k / 12);
		put_title(c, n, &t, s->script, " ", CASE_TITLE);
		l_fmt(n, " #001-#%03llu (%d-%d) [CBZ]", (unsigned long long)k, from, t.year);
		name_done(s);
		for (uint64_t j = 1; j <= k && !full(s); j++) {
			struct line *p = path_in(s, &no_dir);
			put_title(c, p, &t, s->script, " ", CASE_TITLE);
			l_fmt(p, " %03llu (%d) (Digital).cbz", (unsigned long long)j,
			      from + (int)(j / 12));
			add_file(s, p, book_size(".cbz"));
		}
		return;
	}
	/* A magazine's year. */
	static const char *const months[] = {"January",   "February", "March",    "April",
	                                     "May",       "June",     "July",     "August",
	                                     "September", "October",  "November", "December"};
	uint64_t id = zipf(5000, 0.75);
	make_title(c, 'Z', id, 2, &t);
	kw_title(s, &t);
	s->tag = "pdf";
	int weekly = chance(0.2), nested = chance(0.4);
	put_title(c, n, &t, s->script, " ", CASE_TITLE);
	l_fmt(n, " - %d Full Year Collection", t.year);
	name_done(s);
	int k = weekly ? 52 : 12;
	for (int j = 0; j < k && !full(s); j++) {
		struct line *p = path_in(s, &no_dir);
		if (nested)
			l_fmt(p, "%d/", t.year);
		put_title(c, p, &t, s->script, " ", CASE_TITLE);
		if (weekly)
			l_fmt(p, " - %d-%02d.pdf", t.year, j + 1);
		else
			l_fmt(p, " - %s %d.pdf", months[j], t.year);
		add_file(s, p, loguni(5e6, 80e6));
	}
}

/* ---- games ---- */

static void game_tree(corpus *c, struct slot *s, const struct title *t, uint64_t k)
{
	static const char *const top[] = {"Data",         "Engine", "Content", "Movies", "Sound",
	                                  "Localization", "Maps",   "Shaders", "Bin",    "Redist"};
	static const char *const sub[] = {"Textures", "Models", "Audio",  "Scripts", "Config",
	                                  "UI",       "Fonts",  "Levels", "Video",   "Paks"};
	static const char *const ext[] = {".pak", ".bin", ".dat",  ".ogg", ".wav", ".dds",
	                                  ".png", ".lua", ".json", ".xml", ".dll", ".bik",
	                                  ".wem", ".bnk", ".txt",  ".ini"};
	int ntop = 2 + (int)below(6), root = chance(0.5);
	uint64_t j = 0;
	for (int d = 0; d < ntop && j < k && !full(s); d++) {
		/* Each top folder gets a share; most of it in subfolders, depth up to 3. */
		uint64_t share =
		    d == ntop - 1 ? k - j : (k - j) * (1 + below(3)) / (uint64_t)(ntop - d + 2) + 1;
		int nsub = (int)below(5);
		for (uint64_t f = 0; f < share && j < k && !full(s); f++, j++) {
			struct line *p = path_in(s, &no_dir);
			if (root) {
				put_title(c, p, t, s->script, " ", CASE_TITLE);
				l_str(p, "/");
			}
			l_str(p, top[(d + (int)(t->w[0] % 3)) % 10]);
			if (nsub) {
				int sd = (int)(f * (uint64_t)nsub / share);
				l_fmt(p, "/%s", sub[(sd + d) % 10]);
				if (sd % 2)
					l_fmt(p, "/%c%c", 'a' + sd, 'a' + (int)(f % 7));
			}
			l_str(p, "/");
			put_word(c, p, (uint32_t)zipf(VOCAB, 1.0), SCRIPT_PLAIN, CASE_LOWER, 1);
			l_fmt(p, "_%04llu%s", (unsigned long long)f,
			      ext[(f * 7 + (uint64_t)d) % 16]);
			add_file(s, p, loguni(500, 800e6));
		}
	}
	struct line *p = path_in(s, &no_dir);
	if (root) {
		put_title(c, p, t, s->script, " ", CASE_TITLE);
		l_str(p, "/");
	}
	put_title(c, p, t, SCRIPT_PLAIN, "", CASE_TITLE);
	l_str(p, ".exe");
	add_file(s, p, loguni(2e6, 200e6));
}

static void gen_game(corpus *c, struct slot *s)
{
	struct title t, sub;
	uint64_t id = zipf(30000, 0.75);
	make_title(c, 'J', id, 3, &t);
	kw_title(s, &t);
	struct line *n = &s->name;
	int kind = (int)below(100);
	if (kind < 10) {
		static const char *const region[] = {"(USA)", "(Europe)", "(Japan)",
		                                     "(USA, Europe)"};
		static const char *const ext[] = {".iso", ".chd", ".nsp", ".rvz"};
		const char *e = ONE_OF(ext);
		put_title(c, n, &t, s->script, " ", CASE_TITLE);
		l_fmt(n, " %s%s", ONE_OF(region), e);
		s->tag = e + 1;
		single(s, loguni(100e6, 8e9));
		return;
	}
	if (kind < 40) {
		/* A scene release: RAR volumes, ASCII names. */
		s->script = SCRIPT_PLAIN;
		put_title(c, n, &t, SCRIPT_PLAIN, ".", CASE_TITLE);
		l_str(n, "-");
		uint64_t g = 1300 + zipf(30, 1.0);
		put_group(c, n, g);
		name_done(s);
		s->tag = "rar";
		struct line base;
		l_reset(&base);
		put_group(c, &base, g);
		l_str(&base, "-");
		put_title(c, &base, &t, SCRIPT_PLAIN, "", CASE_LOWER);
		for (size_t i = 0; i < base.n; i++)
			if (base.s[i] >= 'A' && base.s[i] <= 'Z')
				base.s[i] = (char)(base.s[i] + 32);
		uint64_t vols = loguni(15, 150), vol = (uint64_t)(50 << below(4)) * 1000000;
		l_fmt(path_in(s, &no_dir), "%s.nfo", base.s);
		add_file(s, &s->path, between(3000, 12000));
		l_fmt(path_in(s, &no_dir), "%s.rar", base.s);
		add_file(s, &s->path, vol);
		for (uint64_t v = 0; v + 1 < vols && !full(s); v++) {
			l_fmt(path_in(s, &no_dir), "%s.r%02llu", base.s, (unsigned long long)v);
			add_file(s, &s->path, v + 2 == vols ? loguni(1e6, (double)vol) : vol);
		}
		l_fmt(path_in(s, &no_dir), "%s.sfv", base.s);
		add_file(s, &s->path, between(500, 5000));
		return;
	}
	make_title(c, 'Y', id, 2, &sub);
	put_title(c, n, &t, s->script, " ", CASE_TITLE);
	if (chance(0.4)) {
		l_str(n, ": ");
		put_title(c, n, &sub, s->script, " ", CASE_TITLE);
		kw_title(s, &sub);
	}
	int major = (int)below(3), minor = (int)below(20);
	if (kind < 75) {
		/* A repack: installer plus compressed parts. */
		l_fmt(n, " v%d.%d.%d + %d DLCs [Repack]", major, minor, (int)below(100),
		      (int)below(40));
		s->tag = "repack";
		name_done(s);
		uint64_t parts = 2 + below(30), total = loguni(2e9, 80e9);
		l_str(path_in(s, &no_dir), "setup.exe");
		add_file(s, &s->path, loguni(2e6, 6e6));
		for (uint64_t j = 1; j <= parts && !full(s); j++) {
			l_fmt(path_in(s, &no_dir), "setup-%02llu.bin", (unsigned long long)j);
			add_file(s, &s->path, total / parts);
		}
		static const char *const extra[] = {"MD5/QuickSFV.exe", "MD5/checksums.md5",
		                                    "Verify BIN files before installation.bat",
		                                    "_Redist/vcredist_x64.exe",
		                                    "_Redist/dxwebsetup.exe"};
		for (size_t j = 0; j < 5; j++) {
			l_str(path_in(s, &no_dir), extra[j]);
			add_file(s, &s->path, loguni(1e3, 30e6));
		}
		return;
	}
	int gog = chance(0.5);
	l_fmt(n, gog ? " v%d.%d (GOG)" : " v%d.%d", major, minor);
	s->tag = gog ? "gog" : "exe";
	name_done(s);
	game_tree(c, s, &t, pareto(40, 1.1, 5000));
}

/* ---- photos ---- */

static void gen_photos(corpus *c, struct slot *s)
{
	struct title t, who;
	struct line *n = &s->name;
	uint64_t id = zipf(200000, 0.75);
	make_title(c, 'H', id, 4, &t);
	kw_title(s, &t);
	uint64_t k = pareto(40, 1.6, 3000);
	int style = (int)below(4), raw = chance(0.1);
	s->tag = style == 3 ? "wallpapers" : raw ? "nef" : "jpg";
	if (style == 3) {
		put_title(c, n, &t, s->script, " ", CASE_TITLE);
		l_fmt(n, " Wallpapers Pack %s %d (%llu wallpapers)", chance(0.5) ? "4K" : "HD",
		      t.year, (unsigned long long)k);
	} else if (chance(0.5)) {
		make_title(c, 'U', zipf(50000, 0.75), 3, &who);
		kw_title(s, &who);
		put_title(c, n, &who, s->script, " ", CASE_TITLE);
		l_str(n, " - ");
		put_title(c, n, &t, s->script, " ", CASE_TITLE);
		l_fmt(n, " [%llu photos]", (unsigned long long)k);
	} else {
		put_title(c, n, &t, s->script, " ", CASE_TITLE);
		l_fmt(n, " %d", t.year);
	}
	name_done(s);
	int folders = chance(0.4) ? 2 + (int)below(9) : 0;
	uint64_t start = between(1, 9000);
	struct line dir;
	l_reset(&dir);
	for (uint64_t j = 0; j < k && !full(s); j++) {
		if (folders) {
			l_reset(&dir);
			l_fmt(&dir, "Day %d", (int)(j * (uint64_t)folders / k) + 1);
		}
		struct line *p = path_in(s, &dir);
		uint64_t num = start + j;
		if (raw)
			l_fmt(p, "_DSC%04llu.NEF", (unsigned long long)num % 10000);
		else if (style == 0)
			l_fmt(p, "IMG_%04llu.jpg", (unsigned long long)num % 10000);
		else if (style == 1)
			l_fmt(p, "DSC%05llu.JPG", (unsigned long long)num);
		else if (style == 2) {
			put_title(c, p, &t, s->script, " ", CASE_TITLE);
			l_fmt(p, " (%llu).jpg", (unsigned long long)j + 1);
		} else
			l_fmt(p, "wallpaper_%04llu.jpg", (unsigned long long)j + 1);
		add_file(s, p, raw ? loguni(20e6, 45e6) : loguni(200e3, 12e6));
		if (chance(0.03) && !full(s)) {
			l_fmt(path_in(s, &dir), "MOV_%04llu.mp4", (unsigned long long)num % 10000);
			add_file(s, &s->path, loguni(10e6, 500e6));
		}
	}
}

/* ---- everything else ---- */

static void gen_other(corpus *c, struct slot *s)
{
	struct title t;
	struct line *n = &s->name;
	uint64_t id = zipf(300000, 0.75);
	make_title(c, 'Z' + 1, id, 5, &t);
	int kind = (int)below(100);
	if (kind < 52 || (kind >= 60 && kind < 80) || kind >= 88)
		kw_title(s, &t); /* the audiobooks are named after their author and book */
	if (kind < 25) {
		static const char *const ext[] = {".zip", ".rar", ".7z"};
		put_title(c, n, &t, s->script, chance(0.5) ? " " : ".", CASE_TITLE);
		const char *e = ONE_OF(ext);
		l_str(n, e);
		s->tag = e + 1;
		single(s, loguni(1e6, 10e9));
		return;
	}
	if (kind < 52) {
		put_title(c, n, &t, s->script, "_", CASE_TITLE);
		l_fmt(n, "_%d.mp4", t.year);
		s->tag = "mp4";
		single(s, loguni(20e6, 2e9));
		return;
	}
	if (kind < 60) {
		put_author_book(c, s, n, zipf(100000, 0.75), zipf(30, 1.0), 1);
		l_str(n, " (Audiobook).m4b");
		s->tag = "audiobook";
		single(s, loguni(50e6, 1.2e9));
		return;
	}
	if (kind < 80) {
		/* A video course. */
		put_title(c, n, &t, s->script, " ", CASE_TITLE);
		l_str(n, " - Complete Course");
		s->tag = "course";
		name_done(s);
		int sections = 3 + (int)below(10), srt = chance(0.5);
		for (int i = 1; i <= sections && !full(s); i++) {
			struct title st;
			make_title(c, 'Z' + 2, id * 64 + (uint64_t)i, 4, &st);
			struct line dir;
			l_reset(&dir);
			l_fmt(&dir, "%02d - ", i);
			put_title(c, &dir, &st, s->script, " ", CASE_TITLE);
			int lessons = 2 + (int)below(9);
			for (int j = 1; j <= lessons && !full(s); j++) {
				struct title lt;
				make_title(c, 'Z' + 3, (id * 64 + (uint64_t)i) * 32 + (uint64_t)j,
				           5, &lt);
				struct line rel;
				l_reset(&rel);
				l_fmt(&rel, "%02d - ", j);
				put_title(c, &rel, &lt, s->script, " ", CASE_TITLE);
				l_fmt(path_in(s, &dir), "%s.mp4", rel.s);
				add_file(s, &s->path, loguni(5e6, 400e6));
				if (srt && !full(s)) {
					l_fmt(path_in(s, &dir), "%s.srt", rel.s);
					add_file(s, &s->path, loguni(2e3, 40e3));
				}
			}
		}
		return;
	}
	if (kind < 88) {
		/* An audiobook in parts. */
		put_author_book(c, s, n, zipf(100000, 0.75), zipf(30, 1.0), 1);
		s->tag = "mp3";
		name_done(s);
		int k = 10 + (int)below(70);
		for (int j = 1; j <= k && !full(s); j++) {
			l_fmt(path_in(s, &no_dir), "Part %02d.mp3", j);
			add_file(s, &s->path, loguni(10e6, 60e6));
		}
		return;
	}
	/* A folder of assorted documents. */
	static const char *const ext[] = {".pdf", ".docx", ".xlsx", ".txt", ".jpg", ".zip"};
	put_title(c, n, &t, s->script, " ", CASE_TITLE);
	name_done(s);
	uint64_t k = pareto(2, 1.0, 200);
	for (uint64_t j = 0; j < k && !full(s); j++) {
		struct line *p = path_in(s, &no_dir);
		put_word(c, p, (uint32_t)zipf(VOCAB, 1.0), s->script, CASE_TITLE, 0);
		l_str(p, " ");
		put_word(c, p, (uint32_t)zipf(VOCAB, 1.0), s->script, CASE_LOWER, 0);
		const char *e = ONE_OF(ext);
		if (!j)
			s->tag = e + 1;
		l_str(p, e);
		add_file(s, p, loguni(10e3, 50e6));
	}
}

/* ---- the torrent around the files ---- */

enum { KIND_V1, KIND_HYBRID, KIND_V2 };

static int ih_kind(const corpus *c, uint64_t i)
{
	uint64_t h = hash3(c->seed, 'k', i) % 1000;
	return h < 10 ? KIND_V2 : h < 50 ? KIND_HYBRID : KIND_V1;
}

static void fill_bytes(uint64_t a, uint64_t b, uint8_t *out, size_t n)
{
	for (size_t k = 0; k < n; k += 8) {
		uint64_t x = hash3(a, b, k);
		memcpy(out + k, &x, n - k < 8 ? n - k : 8);
	}
}

void corpus_infohash(const corpus *c, uint64_t i, uint8_t out[20])
{
	if (ih_kind(c, i) == KIND_V2) {
		uint8_t v2[32];
		fill_bytes(c->seed ^ 0x5632, i, v2, 32);
		memcpy(out, v2, 20);
	} else {
		fill_bytes(c->seed ^ 0x4931, i, out, 20);
	}
}

static size_t digits(uint64_t x)
{
	size_t n = 1;
	while (x >= 10) {
		x /= 10;
		n++;
	}
	return n;
}

/* BEP 47 padding after every file but the last that does not end on a piece boundary. */
static void add_padding(struct slot *s, uint64_t pl)
{
	size_t n = s->nfiles, pads = 0;
	for (size_t k = 0; k + 1 < n; k++)
		pads += s->files[k].length % pl != 0;
	if (n == 1 || n + pads > MAX_FILES)
		return;
	/* Move the files up, then interleave the pads on the way down. */
	size_t w = n + pads;
	for (size_t k = n; k-- > 0;) {
		bt_store_file f = s->files[k];
		if (k + 1 < n && f.length % pl) {
			struct line p;
			l_reset(&p);
			l_fmt(&p, ".pad/%llu", (unsigned long long)(pl - f.length % pl));
			bt_store_file *pad = &s->files[--w];
			pad->path = arena_put(s, &p);
			pad->length = pl - f.length % pl;
			pad->flags = BT_STORE_FILE_PAD;
		}
		s->files[--w] = f;
	}
	s->nfiles = n + pads;
}

static void finish(corpus *c, struct slot *s, uint64_t i)
{
	bt_store_torrent *t = &s->t;
	uint64_t total = 0;
	for (size_t k = 0; k < s->nfiles; k++)
		total += s->files[k].length;
	/* Piece length as clients choose it: a power of two keeping pieces under a target. */
	uint64_t target = chance(0.6) ? 1500 : between(1000, 2000), pl = 16 * KIB;
	uint64_t cap = chance(0.4) ? 4 * MIB : 16 * MIB; /* older tools stop at 4 MiB */
	while (pl < cap && total / pl > target)
		pl *= 2;
	int kind = ih_kind(c, i);
	if (kind == KIND_HYBRID)
		add_padding(s, pl);
	uint64_t padded = 0, meta = 80 + strlen(t->name) + digits(total) + digits(pl);
	for (size_t k = 0; k < s->nfiles; k++) {
		const bt_store_file *f = &s->files[k];
		padded += f->length;
		size_t comps = 1;
		for (const char *p = f->path; *p; p++)
			comps += *p == '/';
		size_t keys = strlen(f->path) + 3 * comps + digits(f->length);
		if (kind != KIND_V2 && s->nfiles > 1)
			meta += 28 + keys + (f->flags ? 9 : 0);
		if (kind != KIND_V1 && !f->flags)
			meta += 30 + keys + (f->length > pl ? 47 : 0);
	}
	if (kind != KIND_V2)
		meta += 20 * ((padded + pl - 1) / pl);
	t->has_metadata = 1;
	t->length = total;
	t->piece_length = pl;
	t->metadata_size = (uint32_t)(meta < UINT32_MAX ? meta : UINT32_MAX);
	t->versions = kind == KIND_V1   ? BT_STORE_V1
	              : kind == KIND_V2 ? BT_STORE_V2
	                                : BT_STORE_V1 | BT_STORE_V2;
	t->is_private = chance(0.02);
	t->num_files = s->nfiles;
	t->files = s->files;
	corpus_infohash(c, i, t->infohash);
	t->has_v2 = kind != KIND_V1;
	if (t->has_v2)
		fill_bytes(c->seed ^ 0x5632, i, t->infohash_v2, 32);

	/* Sightings. */
	t->first_seen = c->now - (int64_t)below(60 * DAY);
	t->times_seen = (uint32_t)pareto(1, 1.2, 100000);
	t->last_seen = t->first_seen;
	if (t->times_seen > 1)
		t->last_seen += (int64_t)((double)(c->now - t->first_seen) * sqrt(unif()));
	static const unsigned src_w[] = {45, 30, 20, 5};
	static const unsigned src[] = {BT_STORE_SOURCE_SAMPLE, BT_STORE_SOURCE_GET_PEERS,
	                               BT_STORE_SOURCE_ANNOUNCE, BT_STORE_SOURCE_IMPORT};
	t->sources = src[PICK(src_w)];
	if (t->times_seen > 1 && chance(0.5))
		t->sources |= src[PICK(src_w)];
	if (chance(0.6))
		t->sources |= BT_STORE_SOURCE_LOOKUP;
	t->peers = chance(0.25) ? 0 : (uint32_t)pareto(1, 1.1, 500);
	t->num_peer_addrs = t->peers ? 1 + below(t->peers < 3 ? t->peers : 3) : 0;
	for (size_t k = 0; k < t->num_peer_addrs; k++) {
		bt_store_peer *p = &s->peers[k];
		memset(p, 0, sizeof(*p));
		uint64_t x = bench_rnd();
		if (chance(0.15)) {
			p->family = 6;
			p->ip[0] = 0x20;
			p->ip[1] = (uint8_t)(0x01 + x % 0x10);
			fill_bytes(x, k, p->ip + 2, 14);
		} else {
			p->family = 4;
			p->ip[0] = (uint8_t)(1 + x % 223);
			if (p->ip[0] == 10 || p->ip[0] == 127)
				p->ip[0]++;
			p->ip[1] = (uint8_t)(x >> 8);
			p->ip[2] = (uint8_t)(x >> 16);
			p->ip[3] = (uint8_t)(x >> 24);
		}
		p->port = chance(0.1) ? 6881 : (uint16_t)(1024 + (x >> 32) % 64511);
	}
	t->peer_addrs = t->num_peer_addrs ? s->peers : NULL;
}

static void generate(corpus *c, struct slot *s, uint64_t i)
{
	static const unsigned cat_w[CORPUS_CATEGORIES] = {22, 20, 7, 11, 3, 8, 8, 5, 5, 11};
	static const unsigned script_w[] = {875, 50, 30, 15, 30};
	static void (*const gen[CORPUS_CATEGORIES])(corpus *, struct slot *) = {
	    gen_movie,    gen_episode, gen_season, gen_album,  gen_track,
	    gen_software, gen_books,   gen_game,   gen_photos, gen_other};
	reseed(c->seed, 'T', i);
	s->used = 0;
	s->nfiles = 0;
	s->nkw = 0;
	s->tag = "";
	memset(&s->t, 0, sizeof(s->t));
	l_reset(&s->name);
	s->category = PICK(cat_w);
	s->script = PICK(script_w);
	gen[s->category](c, s);
	finish(c, s, i);
}

/* ---- the public side ---- */

static int slot_init(struct slot *s)
{
	s->arena = malloc(ARENA_CAP);
	s->files = malloc(sizeof(*s->files) * MAX_FILES);
	return s->arena && s->files ? 0 : -1;
}

static void slot_free(struct slot *s)
{
	free(s->arena);
	free(s->files);
}

corpus *corpus_new(uint64_t seed, int64_t now)
{
	corpus *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->seed = seed;
	c->now = now;
	uint64_t saved = bench_rng;
	int err = make_vocab(c);
	bench_rng = saved;
	if (err || slot_init(&c->tor) || slot_init(&c->qry)) {
		corpus_free(c);
		return NULL;
	}
	return c;
}

void corpus_free(corpus *c)
{
	if (!c)
		return;
	slot_free(&c->tor);
	slot_free(&c->qry);
	free(c->words);
	free(c);
}

const bt_store_torrent *corpus_torrent(corpus *c, uint64_t i, int *category)
{
	uint64_t saved = bench_rng;
	generate(c, &c->tor, i);
	bench_rng = saved;
	if (category)
		*category = c->tor.category;
	return &c->tor.t;
}

const char *corpus_category_name(int category)
{
	static const char *const names[CORPUS_CATEGORIES] = {
	    "movie",    "episode", "season", "album",  "track",
	    "software", "books",   "game",   "photos", "other"};
	return category >= 0 && category < CORPUS_CATEGORIES ? names[category] : "?";
}

/* A title word as typed: lower case, accents often left out, sometimes only its start. */
static void put_query_word(const corpus *c, struct line *l, uint32_t rank, int script)
{
	int plain = script == SCRIPT_ACCENT && chance(0.5);
	size_t start = l->n;
	put_word(c, l, rank, script, CASE_LOWER, plain);
	size_t len = l->n - start;
	if (script != SCRIPT_CJK && len >= 6 && chance(0.1)) {
		/* Cut to 3+ characters on a character boundary. */
		size_t keep = 0, chars = 0, want = 3 + below(3);
		while (start + keep < l->n && chars < want) {
			keep++;
			while (start + keep < l->n && (l->s[start + keep] & 0xc0) == 0x80)
				keep++;
			chars++;
		}
		l->n = start + keep;
		l->s[l->n] = 0;
	}
}

/* A CJK title is one run: the query is its beginning, up to the end of a word. */
static void put_query_cjk(const corpus *c, struct line *l, const struct slot *s)
{
	int n = s->nkw < 2 ? s->nkw : 1 + (int)below(2);
	for (int k = 0; k < n; k++)
		put_word(c, l, s->kw[k], SCRIPT_CJK, CASE_LOWER, 0);
}

const char *corpus_query(corpus *c, uint64_t k, int words, uint64_t n, int *from_name)
{
	uint64_t saved = bench_rng;
	reseed(c->seed, 'Q', k * 4 + (uint64_t)words);
	struct line l;
	l_reset(&l);
	double r = unif();
	int named = 0;
	if (n && (words == 1 ? r < 0.85 : r < 0.8)) {
		uint64_t j = below(n), state;
		struct slot *s = &c->qry;
		state = bench_rng;
		generate(c, s, j);
		bench_rng = state;
		named = s->nkw > 0;
		if (!named) {
			l_str(&l, s->tag);
		} else if (words == 1 && r >= 0.8 && *s->tag) {
			l_str(&l, s->tag);
		} else if (s->script == SCRIPT_CJK) {
			put_query_cjk(c, &l, s);
			if (words == 2 && *s->tag) {
				l_str(&l, " ");
				l_str(&l, s->tag);
			}
		} else {
			int at = (int)below((uint64_t)s->nkw);
			put_query_word(c, &l, s->kw[at], s->script);
			int adjacent = s->nkw > 1 && (r < 0.6 || !*s->tag);
			if (words == 2 && adjacent) {
				at = at + 1 < s->nkw ? at + 1 : at - 1;
				l_str(&l, " ");
				put_query_word(c, &l, s->kw[at], s->script);
			} else if (words == 2 && *s->tag) {
				l_str(&l, " ");
				l_str(&l, s->tag);
			}
		}
	} else {
		for (int w = 0; w < words; w++) {
			if (w)
				l_str(&l, " ");
			put_word(c, &l, (uint32_t)zipf(VOCAB, 1.0), SCRIPT_PLAIN, CASE_LOWER, 1);
		}
	}
	if (from_name)
		*from_name = named;
	memcpy(c->query, l.s, l.n + 1);
	bench_rng = saved;
	return c->query;
}
