/*
 * buf.c - the growable / fixed byte buffer of buf.h.
 */
#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bt_buf_init(bt_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max ? max : SIZE_MAX / 2;
}

void bt_buf_init_fixed(bt_buf *b, void *mem, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->data = mem;
	b->cap = cap;
	b->max = cap;
	b->fixed = 1;
}

void bt_buf_free(bt_buf *b)
{
	if (!b->fixed) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
	b->len = 0;
	b->err = 0;
}

void bt_buf_reset(bt_buf *b)
{
	b->len = 0;
	b->err = 0;
}

int bt_buf_reserve(bt_buf *b, size_t n)
{
	if (b->err)
		return b->err;
	if (n <= b->cap - b->len)
		return 0;
	if (b->fixed || n > b->max - b->len) {
		b->err = -ENOBUFS;
		return b->err;
	}
	size_t want = b->len + n;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < want)
		cap = cap > b->max / 2 ? b->max : cap * 2;
	uint8_t *p = realloc(b->data, cap);
	if (!p) {
		b->err = -ENOMEM;
		return b->err;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int bt_buf_append(bt_buf *b, const void *p, size_t n)
{
	if (bt_buf_reserve(b, n) < 0)
		return b->err;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int bt_buf_putc(bt_buf *b, uint8_t c)
{
	if (b->err || (b->len == b->cap && bt_buf_reserve(b, 1) < 0))
		return b->err;
	b->data[b->len++] = c;
	return 0;
}

uint8_t *bt_buf_steal(bt_buf *b, size_t *len)
{
	if (b->fixed || b->err || !b->len) {
		*len = 0;
		return NULL;
	}
	uint8_t *p = b->data;
	*len = b->len;
	size_t max = b->max;
	memset(b, 0, sizeof(*b));
	b->max = max;
	return p;
}
