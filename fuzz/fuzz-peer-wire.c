/*
 * fuzz-peer-wire.c - libFuzzer target for the peer wire reader (libbtmeta/wire.c): a byte stream
 * from a peer, fed to bt_meta__rd_feed() in chunks whose sizes come from the input itself, so
 * every split of the handshake, of message headers and of extension messages is reached.
 *
 * Properties: the reader reports at most one handshake and only first; it hands on only
 * extension messages no longer than BT_WIRE_MAX_EXT; feeding the same stream whole or in chunks
 * gives the same messages and the same verdict; and every message it hands on goes through the
 * extension-handshake and ut_metadata parsers, whose results must stay inside the message.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "btmeta.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool cond)
{
	if (!cond)
		abort();
}

struct trace {
	unsigned handshakes, messages;
	uint64_t digest; /* of every message's id, length and bytes, in order */
};

static void mix(struct trace *t, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		t->digest = (t->digest ^ p[i]) * 0x100000001b3ull;
	t->digest = (t->digest ^ n) * 0x100000001b3ull;
}

static int on_hs(void *ud, const bt_wire_hs *hs)
{
	struct trace *t = ud;
	check(t->handshakes == 0 && t->messages == 0);
	t->handshakes++;
	mix(t, hs->infohash, 20);
	return 0;
}

static int on_ext(void *ud, uint8_t id, const uint8_t *p, size_t n)
{
	struct trace *t = ud;
	check(t->handshakes == 1);
	check(n + 1 <= BT_WIRE_MAX_EXT);
	t->messages++;
	mix(t, &id, 1);
	mix(t, p, n);
	bt_wire_exths x;
	if (bt_meta__exths_parse(p, n, &x) == 0) {
		check(x.ut_metadata >= 0 && x.ut_metadata <= 255);
		check(x.port >= 0 && x.port <= 65535);
		check(strlen(x.client) < sizeof(x.client));
	}
	bt_wire_utm u;
	if (bt_meta__utm_parse(p, n, &u) == 0)
		check(u.data_off <= n && u.data_len == n - u.data_off);
	return 0;
}

static const bt_wire_handlers H = {on_hs, on_ext};

static int run(const uint8_t *data, size_t size, const uint8_t *splits, size_t nsplits,
               struct trace *t)
{
	bt_wire_rd rd;
	bt_meta__rd_init(&rd);
	memset(t, 0, sizeof(*t));
	size_t off = 0, k = 0;
	int r = 0;
	while (off < size && r == 0) {
		size_t n = nsplits ? (size_t)(1 + splits[k++ % nsplits] % 97) : size;
		if (n > size - off)
			n = size - off;
		r = bt_meta__rd_feed(&rd, data + off, n, &H, t);
		off += n;
	}
	bt_meta__rd_free(&rd);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The first bytes choose the chunk sizes; the rest is the stream. */
	size_t nsplits = size ? data[0] % 8 : 0;
	if (size < 1 + nsplits)
		return 0;
	const uint8_t *splits = data + 1;
	data += 1 + nsplits;
	size -= 1 + nsplits;

	struct trace whole, chunked;
	int a = run(data, size, NULL, 0, &whole);
	int b = run(data, size, splits, nsplits, &chunked);
	check(a == b);
	check(whole.handshakes == chunked.handshakes && whole.messages == chunked.messages);
	check(whole.digest == chunked.digest);
	check(a == 0 || a == BT_META_E_PROTOCOL);
	return 0;
}
