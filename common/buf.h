/*
 * buf.h - a byte buffer that grows up to a cap, or writes into caller memory and never allocates.
 *
 * Encoders append to a bt_buf.  Errors are sticky: once an append fails (allocation failure or the
 * cap reached) the buffer refuses every later append and keeps its error, so a sequence of appends
 * is checked once at the end.  The fixed mode lets hot paths (a DHT reply) encode into the stack.
 */
#ifndef BT_COMMON_BUF_H
#define BT_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct bt_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;   /* never grow past this many bytes */
	int fixed;    /* data belongs to the caller: never realloc or free it */
	int err;      /* 0, or the first error: -ENOMEM, -ENOBUFS (cap reached) */
} bt_buf;

/* A heap buffer that may grow to @max bytes (0: no cap beyond SIZE_MAX / 2). Allocates nothing yet. */
void bt_buf_init(bt_buf *b, size_t max);

/* A buffer over caller memory @mem of @cap bytes; appends past @cap fail with -ENOBUFS. */
void bt_buf_init_fixed(bt_buf *b, void *mem, size_t cap);

/* Release a heap buffer's memory (not a fixed one's) and reset it to empty. */
void bt_buf_free(bt_buf *b);

/* Forget the contents and the error, keep the memory. */
void bt_buf_reset(bt_buf *b);

/* Make room for @n more bytes.  Returns 0 or the (sticky) error. */
int bt_buf_reserve(bt_buf *b, size_t n);

/* Append @n bytes of @p.  Returns 0 or the (sticky) error. */
int bt_buf_append(bt_buf *b, const void *p, size_t n);

/* Append one byte. */
int bt_buf_putc(bt_buf *b, uint8_t c);

/* Hand the heap memory to the caller (who frees it with free()) and reset @b.  @len receives the
 * length.  Returns NULL for an empty or failed buffer, and for a fixed one. */
uint8_t *bt_buf_steal(bt_buf *b, size_t *len);

#endif
