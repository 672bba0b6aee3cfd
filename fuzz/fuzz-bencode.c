/*
 * fuzz-bencode.c - libFuzzer target for the bencode decoder (common/bencode.c).
 *
 * Besides "does not crash", it checks properties on every input: a strict decode that succeeds
 * re-encodes to exactly the input; every token's byte range decodes alone to the same subtree;
 * every key found by iteration is found by lookup in a strict dictionary; a lax decode never
 * claims more bytes than it was given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static void check_strict(const bt_ben_doc *doc, const uint8_t *data, size_t size)
{
	bt_buf b;
	bt_ben_enc e;
	bt_buf_init(&b, 0);
	bt_ben_enc_init(&e, &b);
	bt_ben_enc_value(&e, doc, 0);
	check(bt_ben_enc_finish(&e) == 0);
	check(b.len == size && memcmp(b.data, data, size) == 0);
	bt_buf_free(&b);

	for (uint32_t t = 0; t < doc->ntoks; t++) {
		const bt_ben_tok *tok = &doc->toks[t];
		check(tok->start < tok->end && tok->end <= size && tok->next > t && tok->next <= doc->ntoks);
		if (tok->type == BT_BEN_DICT) {
			for (int32_t k = bt_ben_first(doc, (int32_t)t); k >= 0;
			     k = bt_ben_next(doc, (int32_t)t, k + 1)) {
				size_t kl;
				const uint8_t *key = bt_ben_str(doc, k, &kl);
				check(key != NULL);
				check(bt_ben_dict_get(doc, (int32_t)t, (const char *)key, kl) == k + 1);
			}
		}
	}
	/* a few subtrees decode alone to the same number of tokens */
	for (uint32_t t = 0; t < doc->ntoks && t < 64; t++) {
		bt_ben_doc sub;
		size_t n;
		const uint8_t *raw = bt_ben_raw(doc, (int32_t)t, &n);
		bt_ben_doc_init_alloc(&sub, (uint32_t)(n / 2 + 1));
		check(bt_ben_decode(&sub, raw, n, 0, NULL) == 0);
		check(sub.ntoks == doc->toks[t].next - t);
		bt_ben_doc_free(&sub);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bt_ben_doc doc;
	bt_ben_error err;
	uint32_t max = (uint32_t)(size / 2 + 1);

	bt_ben_doc_init_alloc(&doc, max);
	if (bt_ben_decode(&doc, data, size, 0, &err) == 0)
		check_strict(&doc, data, size);
	else
		check(err.offset <= size && err.reason != NULL);

	if (bt_ben_decode(&doc, data, size, BT_BEN_LAX | BT_BEN_ALLOW_TRAILING, &err) == 0) {
		check(doc.used > 0 && doc.used <= size);
		int64_t v;
		size_t n;
		for (uint32_t t = 0; t < doc.ntoks; t++) {
			(void)bt_ben_int(&doc, (int32_t)t, &v);
			(void)bt_ben_str(&doc, (int32_t)t, &n);
			(void)bt_ben_list_at(&doc, (int32_t)t, 1);
			(void)bt_ben_dict_getz(&doc, (int32_t)t, "info");
		}
	}
	bt_ben_doc_free(&doc);

	/* a small fixed token array: the limit path */
	bt_ben_tok few[8];
	bt_ben_doc_init(&doc, few, 8);
	(void)bt_ben_decode(&doc, data, size, BT_BEN_LAX, NULL);
	return 0;
}
