/*
 * bencode.c - the decoder and encoder of bencode.h.
 *
 * The decoder is a single loop with an explicit stack of open containers, so its cost is linear
 * in the input and its stack use is fixed whatever the nesting.  Every length is checked against
 * what is left of the input before it is used, so no arithmetic on a peer's numbers can overflow.
 */
#include "bencode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bt_ben_doc_init(bt_ben_doc *doc, bt_ben_tok *toks, uint32_t cap)
{
	memset(doc, 0, sizeof(*doc));
	doc->toks = toks;
	doc->cap = cap;
	doc->max_tokens = cap;
	doc->max_depth = BT_BEN_DEFAULT_DEPTH;
}

void bt_ben_doc_init_alloc(bt_ben_doc *doc, uint32_t max_tokens)
{
	memset(doc, 0, sizeof(*doc));
	doc->max_tokens = max_tokens;
	doc->max_depth = BT_BEN_DEFAULT_DEPTH;
	doc->owned = 1;
}

void bt_ben_doc_free(bt_ben_doc *doc)
{
	if (doc->owned) {
		free(doc->toks);
		doc->toks = NULL;
		doc->cap = 0;
	}
	doc->ntoks = 0;
}

static int fail(bt_ben_error *err, int code, size_t offset, const char *reason)
{
	if (err) {
		err->code = code;
		err->offset = offset;
		err->reason = reason;
	}
	return code;
}

/* Index of a fresh token, or -1 when the limit is reached or memory is short. */
static int64_t new_tok(bt_ben_doc *doc, int *code)
{
	if (doc->ntoks == doc->cap) {
		if (!doc->owned || doc->cap >= doc->max_tokens) {
			*code = BT_BEN_E_TOOMANY;
			return -1;
		}
		uint32_t cap = doc->cap ? doc->cap * 2 : 64;
		if (cap < doc->cap || cap > doc->max_tokens)
			cap = doc->max_tokens;
		bt_ben_tok *t = realloc(doc->toks, (size_t)cap * sizeof(*t));
		if (!t) {
			*code = BT_BEN_E_NOMEM;
			return -1;
		}
		doc->toks = t;
		doc->cap = cap;
	}
	return doc->ntoks++;
}

/* "i<digits>e" at *pos.  On success *pos is past the 'e'. */
static int parse_int(const uint8_t *p, size_t len, size_t *pos, int lax, int64_t *out,
                     bt_ben_error *err)
{
	size_t i = *pos + 1;
	int neg = 0;
	if (i < len && p[i] == '-') {
		neg = 1;
		i++;
	}
	size_t first = i;
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	uint64_t v = 0;
	for (; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
		unsigned d = p[i] - '0';
		if (v > (limit - d) / 10)
			return fail(err, BT_BEN_E_RANGE, first, "integer outside the 64-bit range");
		v = v * 10 + d;
	}
	if (i == len)
		return fail(err, BT_BEN_E_TRUNCATED, i, "input ends inside an integer");
	if (p[i] != 'e')
		return fail(err, BT_BEN_E_SYNTAX, i, "expected a digit or 'e' in an integer");
	if (i == first)
		return fail(err, BT_BEN_E_SYNTAX, i, "integer without digits");
	if (!lax && p[first] == '0' && i - first > 1)
		return fail(err, BT_BEN_E_NONCANONICAL, first, "integer with a leading zero");
	if (!lax && neg && v == 0)
		return fail(err, BT_BEN_E_NONCANONICAL, *pos + 1, "integer \"-0\"");
	if (!neg)
		*out = (int64_t)v;
	else if (v == (uint64_t)INT64_MAX + 1)
		*out = INT64_MIN;
	else
		*out = -(int64_t)v;
	*pos = i + 1;
	return 0;
}

/* "<length>:<bytes>" at *pos.  On success *pos is past the bytes. */
static int parse_str(const uint8_t *p, size_t len, size_t *pos, int lax, uint32_t *off,
                     uint32_t *slen, bt_ben_error *err)
{
	size_t i = *pos;
	size_t first = i;
	uint64_t v = 0;
	for (; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
		v = v * 10 + (unsigned)(p[i] - '0');
		if (v > len) /* before it can overflow: nothing longer than the input fits */
			return fail(err, BT_BEN_E_TRUNCATED, first, "string length exceeds the input");
	}
	if (i == len)
		return fail(err, BT_BEN_E_TRUNCATED, i, "input ends inside a string length");
	if (p[i] != ':')
		return fail(err, BT_BEN_E_SYNTAX, i, "expected a digit or ':' in a string length");
	if (!lax && p[first] == '0' && i - first > 1)
		return fail(err, BT_BEN_E_NONCANONICAL, first, "string length with a leading zero");
	i++;
	if (v > len - i)
		return fail(err, BT_BEN_E_TRUNCATED, first, "string length exceeds the input");
	*off = (uint32_t)i;
	*slen = (uint32_t)v;
	*pos = i + (size_t)v;
	return 0;
}

/* Raw byte order of two keys: negative, 0 or positive like memcmp, shorter-is-smaller on a tie. */
static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

int bt_ben_decode(bt_ben_doc *doc, const void *buf, size_t len, unsigned flags, bt_ben_error *err)
{
	const uint8_t *p = buf;
	struct frame {
		uint32_t tok;     /* the container's token */
		uint32_t nchild;  /* values so far (a dict's keys and values both count) */
		uint32_t lastkey; /* token of the previous key (dicts) */
	} stack[BT_BEN_MAX_DEPTH];
	unsigned depth = 0;
	unsigned max_depth = doc->max_depth ? doc->max_depth : BT_BEN_DEFAULT_DEPTH;
	int lax_ints = (flags & BT_BEN_LAX_INTS) != 0;
	int lax_keys = (flags & BT_BEN_LAX_KEYS) != 0;
	size_t pos = 0;
	int rc;

	if (max_depth > BT_BEN_MAX_DEPTH)
		max_depth = BT_BEN_MAX_DEPTH;
	doc->buf = p;
	doc->len = len;
	doc->used = 0;
	doc->ntoks = 0;
	if (len == 0)
		return fail(err, BT_BEN_E_EMPTY, 0, "empty input");
	if (len >= UINT32_MAX)
		return fail(err, BT_BEN_E_RANGE, 0, "input of 4 GiB or more");

	for (;;) {
		if (pos >= len)
			return fail(err, BT_BEN_E_TRUNCATED, pos, "input ends inside a list or dictionary");
		uint8_t c = p[pos];

		if (c == 'e') {
			if (!depth)
				return fail(err, BT_BEN_E_SYNTAX, pos, "'e' outside a list or dictionary");
			struct frame *f = &stack[depth - 1];
			bt_ben_tok *t = &doc->toks[f->tok];
			if (t->type == BT_BEN_DICT) {
				if (f->nchild & 1)
					return fail(err, BT_BEN_E_KEYTYPE, pos, "dictionary key without a value");
				t->v.count = f->nchild / 2;
			} else {
				t->v.count = f->nchild;
			}
			t->end = (uint32_t)++pos;
			t->next = doc->ntoks;
			if (--depth == 0)
				break;
			continue;
		}

		struct frame *f = depth ? &stack[depth - 1] : NULL;
		int is_key = f && doc->toks[f->tok].type == BT_BEN_DICT && !(f->nchild & 1);
		if (is_key && (c < '0' || c > '9'))
			return fail(err, BT_BEN_E_KEYTYPE, pos, "dictionary key is not a string");
		if (f && f->nchild == UINT32_MAX)
			return fail(err, BT_BEN_E_TOOMANY, pos, "too many values in one container");

		int code = 0;
		int64_t idx = new_tok(doc, &code);
		if (idx < 0)
			return fail(err, code, pos, code == BT_BEN_E_NOMEM ? "out of memory"
			                                                   : "more values than the token limit");
		bt_ben_tok *t = &doc->toks[idx];
		t->start = (uint32_t)pos;
		if (f)
			f->nchild++;

		if (c == 'i') {
			t->type = BT_BEN_INT;
			if ((rc = parse_int(p, len, &pos, lax_ints, &t->v.i, err)) < 0)
				return rc;
		} else if (c >= '0' && c <= '9') {
			t->type = BT_BEN_STR;
			if ((rc = parse_str(p, len, &pos, lax_ints, &t->v.s.off, &t->v.s.len, err)) < 0)
				return rc;
			if (is_key) {
				if (!lax_keys && f->nchild > 1) {
					const bt_ben_tok *k = &doc->toks[f->lastkey];
					if (key_cmp(p + k->v.s.off, k->v.s.len, p + t->v.s.off, t->v.s.len) >= 0)
						return fail(err, BT_BEN_E_KEYORDER, t->start,
						            "dictionary keys not sorted or not unique");
				}
				f->lastkey = (uint32_t)idx;
			}
		} else if (c == 'l' || c == 'd') {
			if (depth == max_depth)
				return fail(err, BT_BEN_E_DEPTH, pos, "nesting deeper than the limit");
			t->type = c == 'l' ? BT_BEN_LIST : BT_BEN_DICT;
			stack[depth].tok = (uint32_t)idx;
			stack[depth].nchild = 0;
			stack[depth].lastkey = 0;
			depth++;
			pos++;
			continue;
		} else {
			return fail(err, BT_BEN_E_SYNTAX, pos, "byte cannot start a value");
		}
		t->end = (uint32_t)pos;
		t->next = (uint32_t)idx + 1;
		if (!depth)
			break;
	}

	doc->used = pos;
	if (pos != len && !(flags & BT_BEN_ALLOW_TRAILING))
		return fail(err, BT_BEN_E_TRAILING, pos, "bytes after the value");
	return 0;
}

/* ---- accessors ---- */

static int valid(const bt_ben_doc *doc, int32_t i)
{
	return i >= 0 && (uint32_t)i < doc->ntoks;
}

int32_t bt_ben_first(const bt_ben_doc *doc, int32_t c)
{
	if (!valid(doc, c) || doc->toks[c].type < BT_BEN_LIST || doc->toks[c].v.count == 0)
		return -1;
	return c + 1;
}

int32_t bt_ben_next(const bt_ben_doc *doc, int32_t c, int32_t i)
{
	if (!valid(doc, c) || !valid(doc, i) || i <= c)
		return -1;
	uint32_t n = doc->toks[i].next;
	return n < doc->toks[c].next ? (int32_t)n : -1;
}

int32_t bt_ben_dict_get(const bt_ben_doc *doc, int32_t dict, const char *key, size_t klen)
{
	if (!bt_ben_is(doc, dict, BT_BEN_DICT))
		return -1;
	for (int32_t k = bt_ben_first(doc, dict); k >= 0; k = bt_ben_next(doc, dict, k + 1)) {
		const bt_ben_tok *t = &doc->toks[k];
		if (t->v.s.len == klen && memcmp(doc->buf + t->v.s.off, key, klen) == 0)
			return k + 1;
	}
	return -1;
}

int32_t bt_ben_dict_getz(const bt_ben_doc *doc, int32_t dict, const char *key)
{
	return bt_ben_dict_get(doc, dict, key, strlen(key));
}

int32_t bt_ben_list_at(const bt_ben_doc *doc, int32_t list, uint32_t n)
{
	if (!bt_ben_is(doc, list, BT_BEN_LIST) || n >= doc->toks[list].v.count)
		return -1;
	int32_t i = bt_ben_first(doc, list);
	while (n-- && i >= 0)
		i = bt_ben_next(doc, list, i);
	return i;
}

const uint8_t *bt_ben_str(const bt_ben_doc *doc, int32_t i, size_t *len)
{
	if (!bt_ben_is(doc, i, BT_BEN_STR))
		return NULL;
	*len = doc->toks[i].v.s.len;
	return doc->buf + doc->toks[i].v.s.off;
}

int bt_ben_int(const bt_ben_doc *doc, int32_t i, int64_t *out)
{
	if (!bt_ben_is(doc, i, BT_BEN_INT))
		return -1;
	*out = doc->toks[i].v.i;
	return 0;
}

const uint8_t *bt_ben_raw(const bt_ben_doc *doc, int32_t i, size_t *len)
{
	if (!valid(doc, i))
		return NULL;
	*len = doc->toks[i].end - doc->toks[i].start;
	return doc->buf + doc->toks[i].start;
}

const uint8_t *bt_ben_dict_str(const bt_ben_doc *doc, int32_t dict, const char *key, size_t *len)
{
	return bt_ben_str(doc, bt_ben_dict_getz(doc, dict, key), len);
}

int bt_ben_dict_int(const bt_ben_doc *doc, int32_t dict, const char *key, int64_t *out)
{
	return bt_ben_int(doc, bt_ben_dict_getz(doc, dict, key), out);
}

const char *bt_ben_strerror(int code)
{
	switch (code) {
	case 0: return "success";
	case BT_BEN_E_TRUNCATED: return "input truncated";
	case BT_BEN_E_SYNTAX: return "syntax error";
	case BT_BEN_E_NONCANONICAL: return "non-canonical integer or length";
	case BT_BEN_E_KEYORDER: return "dictionary keys not sorted or not unique";
	case BT_BEN_E_KEYTYPE: return "bad dictionary key";
	case BT_BEN_E_RANGE: return "value out of range";
	case BT_BEN_E_DEPTH: return "nesting too deep";
	case BT_BEN_E_TOOMANY: return "too many values";
	case BT_BEN_E_TRAILING: return "trailing bytes after the value";
	case BT_BEN_E_NOMEM: return "out of memory";
	case BT_BEN_E_EMPTY: return "empty input";
	case BT_BEN_E_MISUSE: return "encoder misuse";
	case BT_BEN_E_NOSPACE: return "output buffer full";
	default: return "unknown bencode error";
	}
}

/* ---- encoder ---- */

void bt_ben_enc_init(bt_ben_enc *e, bt_buf *out)
{
	e->out = out;
	e->depth = 0;
	e->top = 0;
	e->err = 0;
}

static void enc_fail(bt_ben_enc *e, int code)
{
	if (!e->err)
		e->err = code;
}

static void enc_check_buf(bt_ben_enc *e)
{
	if (e->out->err)
		enc_fail(e, e->out->err == -ENOMEM ? BT_BEN_E_NOMEM : BT_BEN_E_NOSPACE);
}

/* Account for a value about to be written; returns 1 if it is a dictionary key, 0 if not, -1 if
 * it may not be written here. */
static int enc_begin(bt_ben_enc *e, int is_str)
{
	if (e->err)
		return -1;
	if (!e->depth) {
		if (e->top++) {
			enc_fail(e, BT_BEN_E_MISUSE);
			return -1;
		}
		return 0;
	}
	bt_ben_enc_frame *f = &e->stack[e->depth - 1];
	int is_key = f->type == BT_BEN_DICT && !(f->count & 1);
	if (is_key && !is_str) {
		enc_fail(e, BT_BEN_E_KEYTYPE);
		return -1;
	}
	f->count++;
	return is_key;
}

/* Decimal digits of @v into the end of @tmp; returns the first digit. */
static char *u64_dec(char *end, uint64_t v)
{
	char *p = end;
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

void bt_ben_enc_int(bt_ben_enc *e, int64_t v)
{
	char tmp[24];
	char *end = tmp + sizeof(tmp);
	if (enc_begin(e, 0) < 0)
		return;
	*--end = 'e';
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	char *p = u64_dec(end, mag);
	if (v < 0)
		*--p = '-';
	*--p = 'i';
	bt_buf_append(e->out, p, (size_t)(tmp + sizeof(tmp) - p));
	enc_check_buf(e);
}

void bt_ben_enc_str(bt_ben_enc *e, const void *s, size_t n)
{
	char tmp[24];
	char *end = tmp + sizeof(tmp);
	int is_key = enc_begin(e, 1);
	if (is_key < 0)
		return;
	*--end = ':';
	char *p = u64_dec(end, n);
	bt_buf_append(e->out, p, (size_t)(tmp + sizeof(tmp) - p));
	size_t off = e->out->len;
	bt_buf_append(e->out, s, n);
	enc_check_buf(e);
	if (!is_key || e->err)
		return;
	bt_ben_enc_frame *f = &e->stack[e->depth - 1];
	if (f->count > 1 && key_cmp(e->out->data + f->key_off, f->key_len, s, n) >= 0) {
		enc_fail(e, BT_BEN_E_KEYORDER);
		return;
	}
	f->key_off = off;
	f->key_len = n;
}

void bt_ben_enc_strz(bt_ben_enc *e, const char *s)
{
	bt_ben_enc_str(e, s, strlen(s));
}

static void enc_open(bt_ben_enc *e, uint8_t type)
{
	if (enc_begin(e, 0) < 0)
		return;
	if (e->depth == BT_BEN_ENC_MAX_DEPTH) {
		enc_fail(e, BT_BEN_E_DEPTH);
		return;
	}
	bt_ben_enc_frame *f = &e->stack[e->depth++];
	f->type = type;
	f->count = 0;
	f->key_off = 0;
	f->key_len = 0;
	bt_buf_putc(e->out, type == BT_BEN_LIST ? 'l' : 'd');
	enc_check_buf(e);
}

void bt_ben_enc_list(bt_ben_enc *e)
{
	enc_open(e, BT_BEN_LIST);
}

void bt_ben_enc_dict(bt_ben_enc *e)
{
	enc_open(e, BT_BEN_DICT);
}

void bt_ben_enc_end(bt_ben_enc *e)
{
	if (e->err)
		return;
	if (!e->depth || (e->stack[e->depth - 1].type == BT_BEN_DICT && (e->stack[e->depth - 1].count & 1))) {
		enc_fail(e, BT_BEN_E_MISUSE);
		return;
	}
	e->depth--;
	bt_buf_putc(e->out, 'e');
	enc_check_buf(e);
}

void bt_ben_enc_raw(bt_ben_enc *e, const void *p, size_t n)
{
	if (enc_begin(e, 0) < 0)
		return;
	bt_buf_append(e->out, p, n);
	enc_check_buf(e);
}

void bt_ben_enc_value(bt_ben_enc *e, const bt_ben_doc *doc, int32_t i)
{
	uint32_t closes[BT_BEN_MAX_DEPTH];
	unsigned n = 0;
	if (!valid(doc, i)) {
		enc_fail(e, BT_BEN_E_MISUSE);
		return;
	}
	uint32_t end = doc->toks[i].next;
	for (uint32_t k = (uint32_t)i; k < end && !e->err; k++) {
		const bt_ben_tok *t = &doc->toks[k];
		switch (t->type) {
		case BT_BEN_INT:
			bt_ben_enc_int(e, t->v.i);
			break;
		case BT_BEN_STR:
			bt_ben_enc_str(e, doc->buf + t->v.s.off, t->v.s.len);
			break;
		default:
			if (t->type == BT_BEN_LIST)
				bt_ben_enc_list(e);
			else
				bt_ben_enc_dict(e);
			if (n == BT_BEN_MAX_DEPTH) {
				enc_fail(e, BT_BEN_E_DEPTH);
				return;
			}
			closes[n++] = t->next;
			break;
		}
		while (n && closes[n - 1] == k + 1) {
			bt_ben_enc_end(e);
			n--;
		}
	}
}

int bt_ben_enc_finish(const bt_ben_enc *e)
{
	if (e->err)
		return e->err;
	if (e->depth || e->top != 1)
		return BT_BEN_E_MISUSE;
	return 0;
}
