/*
 * info.c - the info dictionaries of btmeta.h: parse the bytes a peer (or a .torrent file) gives
 * us into a bt_meta_info that a program can display without further care, write them back as a
 * .torrent file, and tell whether they belong to an infohash.  The input is hostile: it is decoded
 * strictly (its hash depends on every byte), every count and length is bounded before anything is
 * allocated, and every string shown to a user is made valid UTF-8 without control characters.
 * The result is one allocation, measured by a first pass over the decoded tokens and filled by a
 * second pass that runs the same code, so the two cannot disagree and freeing is one free().
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "bencode.h"
#include "buf.h"
#include "btmeta.h"

#define MAX_INFO_BYTES (64u << 20) /* bytes of an info dictionary */
/* A .torrent file: v2 "piece layers" live outside the info dictionary and can outgrow it. */
#define MAX_TORRENT_BYTES (256u << 20)
#define MAX_FILES 1000000
#define MAX_PATH_BYTES 4096 /* bytes of one path, components and separators, before escaping */
/* A v2 file tree shares directories between files, so a small tree can name gigabytes of
 * paths; capping their sum caps the allocation at about 4 (escapes) times this. */
#define MAX_PATHS_TOTAL MAX_INFO_BYTES
/* The nesting libtorrent accepts, so that we take what real clients take.  It also bounds the
 * depth of a v2 file tree, and so the stack of its walk. */
#define MAX_DEPTH 100
/* Enough for a million files of several tokens each; the decoder grows the array only as far as
 * the input needs, and an input of n bytes never holds more than n / 2 values. */
#define MAX_TOKENS (1u << 24)

/* ---- display-safe strings ---- */

/* Length of the well-formed UTF-8 sequence at @s (@n bytes left), or 0 if there is none there.
 * Overlong forms, surrogates and code points past U+10FFFF are not well-formed (RFC 3629). */
static size_t utf8_seq(const uint8_t *s, size_t n)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0;
	if (c < 0xe0) {
		len = 2;
	} else if (c < 0xf0) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c < 0xf5) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* C0, DEL and C1 (U+0080..U+009F): the C1 ones are terminal escapes too (U+009B is CSI). */
static int is_control(const uint8_t *s, size_t seq)
{
	if (seq == 1)
		return s[0] < 0x20 || s[0] == 0x7f;
	return seq == 2 && s[0] == 0xc2 && s[1] < 0xa0;
}

/*
 * Write the display form of @s (@n bytes) at @dst, or only measure it when @dst is NULL; returns
 * its length, without a terminating NUL.  With @slash, '/' is escaped too: in a path component it
 * would otherwise pass for a separator.  The form equals the input exactly when the input needs
 * no escape, which is how "valid UTF-8 without control characters" is tested.
 */
static size_t disp(char *dst, const uint8_t *s, size_t n, int slash)
{
	static const char hex[] = "0123456789abcdef";
	size_t out = 0;

	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(s + i, n - i);
		if (k && !is_control(s + i, k) && !(slash && s[i] == '/')) {
			if (dst)
				memcpy(dst + out, s + i, k);
			out += k;
			i += k;
			continue;
		}
		/* A control character loses all its bytes; a malformed sequence only its first,
		 * so that a valid character right after it survives. */
		for (size_t e = i + (k ? k : 1); i < e; i++) {
			if (dst) {
				dst[out] = '\\';
				dst[out + 1] = 'x';
				dst[out + 2] = hex[s[i] >> 4];
				dst[out + 3] = hex[s[i] & 15];
			}
			out += 4;
		}
	}
	return out;
}

static int is_clean(const uint8_t *s, size_t n, int slash)
{
	return disp(NULL, s, n, slash) == n;
}

/* ---- paths ---- */

/* The components of a path: @n string tokens, either consecutive from @first (a v1 "path" list,
 * whose elements are all strings, hence leaves) or listed in @toks (v2 file tree keys). */
struct path {
	const bt_ben_doc *doc;
	const int32_t *toks;
	int32_t first;
	uint32_t n;
};

static const uint8_t *comp(const struct path *p, uint32_t i, size_t *len)
{
	return bt_ben_str(p->doc, p->toks ? p->toks[i] : p->first + (int32_t)i, len);
}

static uint64_t path_raw_len(const struct path *p)
{
	uint64_t total = p->n - 1; /* separators */
	for (uint32_t i = 0; i < p->n; i++) {
		size_t len;
		comp(p, i, &len);
		total += len;
	}
	return total;
}

/* The components joined by '/', display-safe, at @dst (or measured); see disp(). */
static size_t path_disp(char *dst, const struct path *p)
{
	size_t out = 0;
	for (uint32_t i = 0; i < p->n; i++) {
		size_t len;
		const uint8_t *s = comp(p, i, &len);
		if (i) {
			if (dst)
				dst[out] = '/';
			out++;
		}
		out += disp(dst ? dst + out : NULL, s, len, 1);
	}
	return out;
}

/* A v1 "path" (or "path.utf-8") list as a struct path: at least one component, all strings. */
static int v1_path(const bt_ben_doc *doc, int32_t list, struct path *p)
{
	if (!bt_ben_is(doc, list, BT_BEN_LIST) || doc->toks[list].v.count == 0)
		return -1;
	for (int32_t c = bt_ben_first(doc, list); c >= 0; c = bt_ben_next(doc, list, c))
		if (!bt_ben_is(doc, c, BT_BEN_STR))
			return -1;
	p->doc = doc;
	p->toks = NULL;
	p->first = list + 1;
	p->n = doc->toks[list].v.count;
	return 0;
}

/* ---- the two passes ---- */

/* One pass over the files.  Measuring (files == NULL) validates and counts; filling writes the
 * files and their paths at str, and runs over input the measuring pass has accepted. */
struct walk {
	const bt_ben_doc *doc;
	bt_meta_file *files;
	char *str;
	size_t nfiles;
	size_t str_len;  /* measuring: bytes of the paths, NULs included */
	uint64_t paths;  /* raw bytes of the paths */
	uint64_t total;  /* lengths of the files that are not padding */
	uint64_t pieces; /* v2: pieces, counted per file */
	uint64_t piece_length;
};

static unsigned attr_flags(const bt_ben_doc *doc, int32_t dict)
{
	size_t n = 0;
	const uint8_t *a = bt_ben_dict_str(doc, dict, "attr", &n);
	unsigned flags = 0;

	for (size_t i = 0; a && i < n; i++) {
		switch (a[i]) {
		case 'p':
			flags |= BT_META_FILE_PAD;
			break;
		case 'x':
			flags |= BT_META_FILE_EXEC;
			break;
		case 'h':
			flags |= BT_META_FILE_HIDDEN;
			break;
		case 'l':
			flags |= BT_META_FILE_LINK;
			break;
		default:
			break; /* BEP 47 lets new letters appear */
		}
	}
	return flags;
}

static int add_file(struct walk *w, const struct path *shown, uint64_t length, unsigned flags)
{
	uint64_t raw = path_raw_len(shown);

	if (w->nfiles == MAX_FILES || raw > MAX_PATH_BYTES)
		return BT_META_E_FORMAT;
	w->paths += raw;
	if (w->paths > MAX_PATHS_TOTAL)
		return BT_META_E_FORMAT;
	if (!(flags & BT_META_FILE_PAD)) {
		if (length > UINT64_MAX - w->total)
			return BT_META_E_FORMAT;
		w->total += length;
	}
	if (w->files) {
		bt_meta_file *f = &w->files[w->nfiles];
		f->path = w->str;
		f->length = length;
		f->flags = flags;
		w->str += path_disp(w->str, shown);
		*w->str++ = '\0';
	} else {
		w->str_len += path_disp(NULL, shown) + 1;
	}
	w->nfiles++;
	return 0;
}

/* BEP 3 "files": a non-empty list of {"length": >= 0, "path": [component, ...]}.  "path.utf-8",
 * where some clients put a UTF-8 copy of a path in another encoding, is shown when it is clean. */
static int walk_v1(struct walk *w, int32_t files)
{
	const bt_ben_doc *doc = w->doc;

	if (!bt_ben_is(doc, files, BT_BEN_LIST) || doc->toks[files].v.count == 0 ||
	    doc->toks[files].v.count > MAX_FILES)
		return BT_META_E_FORMAT;
	for (int32_t f = bt_ben_first(doc, files); f >= 0; f = bt_ben_next(doc, files, f)) {
		struct path path, u8;
		int64_t length;

		if (bt_ben_dict_int(doc, f, "length", &length) < 0 || length < 0)
			return BT_META_E_FORMAT;
		if (v1_path(doc, bt_ben_dict_getz(doc, f, "path"), &path) < 0 ||
		    path_raw_len(&path) > MAX_PATH_BYTES)
			return BT_META_E_FORMAT;
		const struct path *shown = &path;
		if (v1_path(doc, bt_ben_dict_getz(doc, f, "path.utf-8"), &u8) == 0 &&
		    path_raw_len(&u8) <= MAX_PATH_BYTES &&
		    path_disp(NULL, &u8) == path_raw_len(&u8))
			shown = &u8;
		int rc = add_file(w, shown, (uint64_t)length, attr_flags(doc, f));
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A v2 file: {"": {"length": >= 0, "pieces root": 32 bytes when length > 0}} and nothing beside
 * the "" key (BEP 52).  Returns the "" dictionary, -1 for a directory, or BT_META_E_FORMAT. */
static int32_t v2_file(const bt_ben_doc *doc, int32_t node, int64_t *length)
{
	int32_t d = bt_ben_dict_get(doc, node, "", 0);
	size_t rlen;

	if (d < 0)
		return -1;
	if (doc->toks[node].v.count != 1 || bt_ben_dict_int(doc, d, "length", length) < 0 ||
	    *length < 0)
		return BT_META_E_FORMAT;
	if (*length > 0 && (!bt_ben_dict_str(doc, d, "pieces root", &rlen) || rlen != 32))
		return BT_META_E_FORMAT;
	return d;
}

/*
 * BEP 52 "file tree", walked in key order (the order of the files) with an explicit stack: the
 * decoder refused nesting past MAX_DEPTH, so a directory depth fits.  keys[i] is the key under
 * which dirs[i] holds the entry being visited, so keys[0..top] is the path of a file found there.
 * A "" key is only valid as the marker of a file; elsewhere it would be a nameless entry.
 * @tree is a dictionary (read_head() checked).
 */
static int walk_v2(struct walk *w, int32_t tree)
{
	const bt_ben_doc *doc = w->doc;
	int32_t dirs[MAX_DEPTH], keys[MAX_DEPTH];
	int top = 0;

	dirs[0] = tree;
	keys[0] = bt_ben_first(doc, tree);
	while (top >= 0) {
		int32_t k = keys[top];
		if (k < 0) {
			if (--top >= 0)
				keys[top] = bt_ben_next(doc, dirs[top], keys[top] + 1);
			continue;
		}
		int32_t v = k + 1;
		size_t klen;
		int64_t length;
		bt_ben_str(doc, k, &klen);
		if (klen == 0 || !bt_ben_is(doc, v, BT_BEN_DICT))
			return BT_META_E_FORMAT;
		int32_t d = v2_file(doc, v, &length);
		if (d == BT_META_E_FORMAT)
			return d;
		if (d < 0) {
			if (top + 1 == MAX_DEPTH)
				return BT_META_E_FORMAT;
			top++;
			dirs[top] = v;
			keys[top] = bt_ben_first(doc, v);
			continue;
		}
		/* v2 pieces never span files: each file starts a piece. */
		uint64_t len = (uint64_t)length;
		uint64_t np = len / w->piece_length + (len % w->piece_length != 0);
		if (np > UINT64_MAX - w->pieces)
			return BT_META_E_FORMAT;
		w->pieces += np;
		struct path p = {doc, keys, 0, (uint32_t)top + 1};
		int rc = add_file(w, &p, len, attr_flags(doc, d));
		if (rc < 0)
			return rc;
		keys[top] = bt_ben_next(doc, dirs[top], v);
	}
	return w->nfiles ? 0 : BT_META_E_FORMAT;
}

/* ---- parsing ---- */

/* What the top level of an info dictionary says, checked before anything is allocated. */
struct head {
	const uint8_t *name;
	size_t name_len;
	const uint8_t *shown; /* "name.utf-8" if present and clean, else "name" */
	size_t shown_len;
	int64_t piece_length;
	size_t pieces_len;
	int v1, v2;
	int32_t length, files, tree;
};

static int read_head(const bt_ben_doc *doc, struct head *t)
{
	int64_t mv;
	size_t n;

	memset(t, 0, sizeof(*t));
	if (!bt_ben_is(doc, 0, BT_BEN_DICT))
		return BT_META_E_FORMAT;
	t->name = bt_ben_dict_str(doc, 0, "name", &t->name_len);
	if (!t->name || t->name_len > MAX_PATH_BYTES)
		return BT_META_E_FORMAT;
	t->shown = t->name;
	t->shown_len = t->name_len;
	const uint8_t *u8 = bt_ben_dict_str(doc, 0, "name.utf-8", &n);
	if (u8 && n <= MAX_PATH_BYTES && is_clean(u8, n, 0)) {
		t->shown = u8;
		t->shown_len = n;
	}
	if (bt_ben_dict_int(doc, 0, "piece length", &t->piece_length) < 0 || t->piece_length <= 0)
		return BT_META_E_FORMAT;

	/* BEP 52: "meta version" is checked first, and a version we do not know is refused
	 * rather than misread. */
	int32_t mvt = bt_ben_dict_getz(doc, 0, "meta version");
	if (mvt >= 0) {
		if (bt_ben_int(doc, mvt, &mv) < 0 || mv != 2)
			return BT_META_E_FORMAT;
		t->v2 = 1;
		t->tree = bt_ben_dict_getz(doc, 0, "file tree");
		if (!bt_ben_is(doc, t->tree, BT_BEN_DICT))
			return BT_META_E_FORMAT;
	}

	int32_t pieces = bt_ben_dict_getz(doc, 0, "pieces");
	t->length = bt_ben_dict_getz(doc, 0, "length");
	t->files = bt_ben_dict_getz(doc, 0, "files");
	t->v1 = pieces >= 0 || t->length >= 0 || t->files >= 0;
	if (!t->v1 && !t->v2)
		return BT_META_E_FORMAT;
	if (t->v1) {
		if (!bt_ben_str(doc, pieces, &t->pieces_len) || t->pieces_len % 20)
			return BT_META_E_FORMAT;
		if ((t->length >= 0) == (t->files >= 0))
			return BT_META_E_FORMAT;
		int64_t len;
		if (t->length >= 0 && (bt_ben_int(doc, t->length, &len) < 0 || len < 0))
			return BT_META_E_FORMAT;
	}
	return 0;
}

/*
 * A hybrid's files are taken from its v1 "files" (or "length"): they include the padding files
 * that align its v1 pieces, and they are what v1-only clients show.  Its v2 tree is validated
 * but not stored, nor checked against the v1 list.  num_pieces is then "pieces" / 20; for a
 * v2-only dictionary it is the sum over files of ceil(length / piece length), since v2 pieces
 * never span two files.
 */
static int build(const bt_ben_doc *doc, bt_meta_info **out)
{
	struct head t;
	struct walk w, v2;
	int rc;

	if ((rc = read_head(doc, &t)) < 0)
		return rc;
	memset(&w, 0, sizeof(w));
	w.doc = doc;
	w.piece_length = (uint64_t)t.piece_length;
	v2 = w;
	if (t.v2 && (rc = walk_v2(&v2, t.tree)) < 0)
		return rc;
	if (t.v1 && t.files >= 0 && (rc = walk_v1(&w, t.files)) < 0)
		return rc;
	if (!t.v1)
		w = v2;

	int single = t.v1 && t.files < 0;
	size_t nfiles = single ? 1 : w.nfiles;
	size_t shown_len = disp(NULL, t.shown, t.shown_len, 0);
	/* Every term is bounded above (input, MAX_FILES, MAX_PATHS_TOTAL), far below SIZE_MAX. */
	size_t size = sizeof(bt_meta_info) + nfiles * sizeof(bt_meta_file) + doc->len + 1 +
	              t.name_len + 1 + shown_len + 1 + (single ? 0 : w.str_len);
	bt_meta_info *info = malloc(size);
	if (!info)
		return BT_META_E_NOMEM;
	memset(info, 0, sizeof(*info));
	info->files = (bt_meta_file *)(info + 1);
	char *p = (char *)(info->files + nfiles);

	memcpy(p, doc->buf, doc->len);
	p[doc->len] = '\0';
	info->raw = (const uint8_t *)p;
	info->raw_len = doc->len;
	p += doc->len + 1;
	memcpy(p, t.name, t.name_len);
	p[t.name_len] = '\0';
	info->name_raw = (const uint8_t *)p;
	info->name_raw_len = t.name_len;
	p += t.name_len + 1;
	info->name = p;
	p += disp(p, t.shown, t.shown_len, 0);
	*p++ = '\0';
	info->name_is_utf8 = is_clean(t.name, t.name_len, 0);
	info->piece_length = (uint64_t)t.piece_length;
	info->num_pieces = t.v1 ? t.pieces_len / 20 : w.pieces;
	int64_t priv;
	if (bt_ben_dict_int(doc, 0, "private", &priv) == 0 && priv == 1)
		info->is_private = 1;
	info->versions = (t.v1 ? BT_META_V1 : 0) | (t.v2 ? BT_META_V2 : 0);
	info->num_files = nfiles;

	if (single) {
		int64_t len;
		bt_ben_int(doc, t.length, &len);
		info->files[0].path = info->name;
		info->files[0].length = (uint64_t)len;
		info->files[0].flags = attr_flags(doc, 0);
		info->total_length = info->files[0].flags & BT_META_FILE_PAD ? 0 : (uint64_t)len;
	} else {
		struct walk fill;
		memset(&fill, 0, sizeof(fill));
		fill.doc = doc;
		fill.piece_length = w.piece_length;
		fill.files = info->files;
		fill.str = p;
		rc = t.v1 ? walk_v1(&fill, t.files) : walk_v2(&fill, t.tree);
		if (rc < 0 ||
		    fill.nfiles != nfiles) { /* cannot happen: the same walk accepted it */
			free(info);
			return rc < 0 ? rc : BT_META_E_FORMAT;
		}
		info->total_length = fill.total;
	}

	/* EVP_Digest fails only when it cannot allocate its context. */
	if (EVP_Digest(info->raw, info->raw_len, info->sha1, NULL, EVP_sha1(), NULL) != 1 ||
	    EVP_Digest(info->raw, info->raw_len, info->sha256, NULL, EVP_sha256(), NULL) != 1) {
		free(info);
		return BT_META_E_NOMEM;
	}
	*out = info;
	return 0;
}

static void doc_init(bt_ben_doc *doc)
{
	bt_ben_doc_init_alloc(doc, MAX_TOKENS);
	doc->max_depth = MAX_DEPTH;
}

static int ben_error(int rc)
{
	return rc == BT_BEN_E_NOMEM ? BT_META_E_NOMEM : BT_META_E_FORMAT;
}

int bt_meta_info_parse(bt_meta_info **out, const uint8_t *data, size_t len)
{
	bt_ben_doc doc;
	int rc;

	if (!out)
		return BT_META_E_INVAL;
	*out = NULL;
	if (!data)
		return BT_META_E_INVAL;
	if (len == 0 || len > MAX_INFO_BYTES)
		return BT_META_E_FORMAT;
	doc_init(&doc);
	rc = bt_ben_decode(&doc, data, len, 0, NULL);
	rc = rc < 0 ? ben_error(rc) : build(&doc, out);
	bt_ben_doc_free(&doc);
	return rc;
}

int bt_meta_info_from_torrent(bt_meta_info **out, const uint8_t *data, size_t len)
{
	bt_ben_doc doc;
	const uint8_t *raw = NULL;
	size_t raw_len = 0;
	int rc;

	if (!out)
		return BT_META_E_INVAL;
	*out = NULL;
	if (!data)
		return BT_META_E_INVAL;
	if (len == 0 || len > MAX_TORRENT_BYTES)
		return BT_META_E_FORMAT;
	/* Files from the wild have unsorted keys and the like outside "info", which is
	 * harmless there; the info dictionary's bytes are then held to the strict rules. */
	doc_init(&doc);
	rc = bt_ben_decode(&doc, data, len, BT_BEN_LAX, NULL);
	if (rc < 0) {
		bt_ben_doc_free(&doc);
		return ben_error(rc);
	}
	int32_t info = bt_ben_dict_getz(&doc, 0, "info");
	if (bt_ben_is(&doc, info, BT_BEN_DICT))
		raw = bt_ben_raw(&doc, info, &raw_len);
	/* raw points into @data, not into the tokens, which can go before the second decode. */
	bt_ben_doc_free(&doc);
	if (!raw)
		return BT_META_E_FORMAT;
	return bt_meta_info_parse(out, raw, raw_len);
}

int bt_meta_info_to_torrent(const bt_meta_info *info, const char *created_by, int64_t date,
                            uint8_t **out, size_t *len)
{
	bt_buf b;
	bt_ben_enc e;

	if (out)
		*out = NULL;
	if (len)
		*len = 0;
	if (!info || !info->raw || !info->raw_len || !out || !len)
		return BT_META_E_INVAL;
	bt_buf_init(&b, 0);
	bt_buf_reserve(&b, info->raw_len + (created_by ? strlen(created_by) : 0) + 64);
	bt_ben_enc_init(&e, &b);
	bt_ben_enc_dict(&e);
	if (created_by) {
		bt_ben_enc_strz(&e, "created by");
		bt_ben_enc_strz(&e, created_by);
	}
	if (date) {
		bt_ben_enc_strz(&e, "creation date");
		bt_ben_enc_int(&e, date);
	}
	bt_ben_enc_strz(&e, "info");
	bt_ben_enc_raw(&e, info->raw, info->raw_len);
	bt_ben_enc_end(&e);
	int rc = bt_ben_enc_finish(&e);
	if (rc < 0) {
		bt_buf_free(&b);
		return rc == BT_BEN_E_NOMEM ? BT_META_E_NOMEM : BT_META_E_INVAL;
	}
	*out = bt_buf_steal(&b, len);
	return *out ? 0 : BT_META_E_NOMEM;
}

int bt_meta_info_matches(const bt_meta_info *info, const uint8_t *hash, size_t len)
{
	int v2;

	if (!info || !hash)
		return 0;
	v2 = (info->versions & BT_META_V2) != 0;
	if (len == 20)
		return memcmp(info->sha1, hash, 20) == 0 ||
		       (v2 && memcmp(info->sha256, hash, 20) == 0);
	if (len == 32)
		return v2 && memcmp(info->sha256, hash, 32) == 0;
	return 0;
}

void bt_meta_info_free(bt_meta_info *info)
{
	free(info);
}
