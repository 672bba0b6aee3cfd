/*
 * test-meta-wire.c - the peer wire codec of libbtmeta (wire.c): handshakes, extension
 * handshakes, ut_metadata messages, and the incremental reader fed whole, byte by byte and with
 * hostile streams.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "btmeta.h"
#include "test-util.h"
#include "wire.h"

static const uint8_t IH[20] = "0123456789abcdefghij";
static const uint8_t PID[20] = "-XX0001-abcdefghijkl";

struct seen {
	int handshakes;
	bt_wire_hs hs;
	int msgs;
	uint8_t ids[16];
	size_t lens[16];
	uint8_t last[BT_WIRE_MAX_EXT];
	int stop_after; /* return an error from the n-th message */
};

static int on_hs(void *ud, const bt_wire_hs *hs)
{
	struct seen *s = ud;
	s->handshakes++;
	s->hs = *hs;
	return 0;
}

static int on_ext(void *ud, uint8_t id, const uint8_t *p, size_t n)
{
	struct seen *s = ud;
	if (s->msgs < 16) {
		s->ids[s->msgs] = id;
		s->lens[s->msgs] = n;
	}
	memcpy(s->last, p, n);
	s->msgs++;
	if (s->stop_after && s->msgs == s->stop_after)
		return -42;
	return 0;
}

static const bt_wire_handlers H = {on_hs, on_ext};

static size_t put_msg(uint8_t *out, uint8_t id, const void *payload, size_t n)
{
	uint32_t l = (uint32_t)n + 1;
	out[0] = (uint8_t)(l >> 24);
	out[1] = (uint8_t)(l >> 16);
	out[2] = (uint8_t)(l >> 8);
	out[3] = (uint8_t)l;
	out[4] = id;
	if (n)
		memcpy(out + 5, payload, n);
	return n + 5;
}

/* A stream a real client sends: handshake, ext handshake, bitfield, unchoke, keep-alive, a
 * 16 KiB ut_metadata data message. */
static size_t build_stream(uint8_t *s, uint8_t **data_piece)
{
	size_t n = 0;
	bt_meta__hs_build(s, IH, PID);
	n += BT_WIRE_HS_LEN;
	bt_buf b;
	bt_buf_init_fixed(&b, s + n, 4096);
	bt_addr you = {.family = 4, .ip = {127, 0, 0, 9}};
	ck_assert_int_eq(bt_meta__exths_build(&b, 40000, 6881, 250, "Test 1.0", &you), 0);
	n += b.len;
	uint8_t bf[300];
	memset(bf, 0xff, sizeof(bf));
	n += put_msg(s + n, 5, bf, sizeof(bf));
	n += put_msg(s + n, 1, NULL, 0);
	memset(s + n, 0, 4); /* keep-alive */
	n += 4;
	static uint8_t piece[BT_WIRE_PIECE];
	for (size_t i = 0; i < sizeof(piece); i++)
		piece[i] = (uint8_t)(i * 7);
	bt_buf_init_fixed(&b, s + n, BT_WIRE_MAX_EXT + 64);
	ck_assert_int_eq(
	    bt_meta__utm_build(&b, BT_WIRE_OUR_UTM, BT_UTM_DATA, 1, 40000, piece, sizeof(piece)),
	    0);
	n += b.len;
	*data_piece = piece;
	return n;
}

static void check_stream_seen(const struct seen *s, const uint8_t *piece)
{
	ck_assert_int_eq(s->handshakes, 1);
	ck_assert_mem_eq(s->hs.infohash, IH, 20);
	ck_assert_mem_eq(s->hs.peer_id, PID, 20);
	ck_assert(bt_meta__hs_has_ext(&s->hs));
	ck_assert_int_eq(s->msgs, 2);
	ck_assert_int_eq(s->ids[0], 0);
	ck_assert_int_eq(s->ids[1], BT_WIRE_OUR_UTM);
	bt_wire_utm u;
	ck_assert_int_eq(bt_meta__utm_parse(s->last, s->lens[1], &u), 0);
	ck_assert_int_eq(u.type, BT_UTM_DATA);
	ck_assert_int_eq(u.piece, 1);
	ck_assert_int_eq(u.total_size, 40000);
	ck_assert_uint_eq(u.data_len, BT_WIRE_PIECE);
	ck_assert_mem_eq(s->last + u.data_off, piece, BT_WIRE_PIECE);
}

START_TEST(handshake_roundtrip)
{
	uint8_t hs[BT_WIRE_HS_LEN];
	bt_wire_hs out;
	bt_meta__hs_build(hs, IH, PID);
	ck_assert_int_eq(hs[0], 19);
	ck_assert_mem_eq(hs + 1, "BitTorrent protocol", 19);
	ck_assert_int_eq(hs[25], 0x10);
	ck_assert_int_eq(bt_meta__hs_parse(hs, &out), 0);
	ck_assert_mem_eq(out.infohash, IH, 20);
	ck_assert(bt_meta__hs_has_ext(&out));
	hs[5] = 'X';
	ck_assert_int_eq(bt_meta__hs_parse(hs, &out), -1);
}
END_TEST

START_TEST(ext_handshake_fields)
{
	uint8_t mem[512];
	bt_buf b;
	bt_wire_exths x;
	bt_addr you = {.family = 6, .ip = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}};
	bt_buf_init_fixed(&b, mem, sizeof(mem));
	ck_assert_int_eq(bt_meta__exths_build(&b, 12345, 7000, 64, "BitScrape/0.1", &you), 0);
	ck_assert_int_eq(mem[4], BT_WIRE_MSG_EXTENDED);
	ck_assert_int_eq(mem[5], 0);
	ck_assert_int_eq(bt_meta__exths_parse(mem + 6, b.len - 6, &x), 0);
	ck_assert_int_eq(x.ut_metadata, BT_WIRE_OUR_UTM);
	ck_assert_int_eq(x.metadata_size, 12345);
	ck_assert_int_eq(x.port, 7000);
	ck_assert_int_eq(x.reqq, 64);
	ck_assert_str_eq(x.client, "BitScrape/0.1");
	ck_assert_int_eq(x.yourip.family, 6);
	ck_assert_mem_eq(x.yourip.ip, you.ip, 16);

	/* What real clients send: unsorted keys, ut_metadata disabled, a client name with
	 * control bytes, a port out of range. */
	static const char lax[] = "d1:pi70000e1:v3:a\x01z1:md6:ut_pexi1e11:ut_metadatai0eee";
	ck_assert_int_eq(bt_meta__exths_parse((const uint8_t *)lax, sizeof(lax) - 1, &x), 0);
	ck_assert_int_eq(x.ut_metadata, 0);
	ck_assert_int_eq(x.metadata_size, -1);
	ck_assert_int_eq(x.port, 0);
	ck_assert_str_eq(x.client, "a?z");
	ck_assert_int_eq(bt_meta__exths_parse((const uint8_t *)"li1ee", 5, &x), -1);
	ck_assert_int_eq(bt_meta__exths_parse((const uint8_t *)"d1:m", 4, &x), -1);
}
END_TEST

START_TEST(ut_metadata_messages)
{
	static uint8_t mem[BT_WIRE_MAX_EXT + 64];
	bt_buf b;
	bt_wire_utm u;
	bt_buf_init_fixed(&b, mem, sizeof(mem));
	ck_assert_int_eq(bt_meta__utm_build(&b, 9, BT_UTM_REQUEST, 3, 0, NULL, 0), 0);
	ck_assert_int_eq(mem[5], 9);
	ck_assert_int_eq(bt_meta__utm_parse(mem + 6, b.len - 6, &u), 0);
	ck_assert_int_eq(u.type, BT_UTM_REQUEST);
	ck_assert_int_eq(u.piece, 3);
	ck_assert_int_eq(u.total_size, -1);
	ck_assert_uint_eq(u.data_len, 0);

	bt_buf_init_fixed(&b, mem, sizeof(mem));
	ck_assert_int_eq(
	    bt_meta__utm_build(&b, 9, BT_UTM_DATA, 2, 32800, (const uint8_t *)"xyz", 3), 0);
	ck_assert_int_eq(bt_meta__utm_parse(mem + 6, b.len - 6, &u), 0);
	ck_assert_int_eq(u.type, BT_UTM_DATA);
	ck_assert_int_eq(u.total_size, 32800);
	ck_assert_uint_eq(u.data_len, 3);
	ck_assert_mem_eq(mem + 6 + u.data_off, "xyz", 3);

	/* A fixed buffer too small for a data message: refused, nothing past it. */
	uint8_t small[40];
	bt_buf_init_fixed(&b, small, sizeof(small));
	ck_assert_int_lt(bt_meta__utm_build(&b, 9, BT_UTM_DATA, 0, 16384, mem, 100), 0);

	ck_assert_int_eq(bt_meta__utm_parse((const uint8_t *)"d5:piecei0ee", 12, &u), -1);
	ck_assert_int_eq(bt_meta__utm_parse((const uint8_t *)"d8:msg_typei0ee", 15, &u), -1);
	ck_assert_int_eq(bt_meta__utm_parse((const uint8_t *)"d8:msg_type1:05:piecei0ee", 25, &u),
	                 -1);
}
END_TEST

START_TEST(reader_whole_and_bytewise)
{
	static uint8_t s[BT_WIRE_MAX_EXT * 2];
	uint8_t *piece;
	size_t n = build_stream(s, &piece);
	static struct seen a, b;

	bt_wire_rd rd;
	memset(&a, 0, sizeof(a));
	bt_meta__rd_init(&rd);
	ck_assert_int_eq(bt_meta__rd_feed(&rd, s, n, &H, &a), 0);
	ck_assert_ptr_null(rd.body); /* whole messages are handed on in place */
	bt_meta__rd_free(&rd);
	check_stream_seen(&a, piece);

	memset(&b, 0, sizeof(b));
	bt_meta__rd_init(&rd);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(bt_meta__rd_feed(&rd, s + i, 1, &H, &b), 0);
	bt_meta__rd_free(&rd);
	check_stream_seen(&b, piece);
}
END_TEST

START_TEST(reader_hostile)
{
	bt_wire_rd rd;
	static struct seen s;
	uint8_t buf[256];

	/* Not BitTorrent: refused at the first wrong byte. */
	memset(&s, 0, sizeof(s));
	bt_meta__rd_init(&rd);
	ck_assert_int_eq(bt_meta__rd_feed(&rd, (const uint8_t *)"GET / HTTP/1.1\r\n", 16, &H, &s),
	                 BT_META_E_PROTOCOL);
	bt_meta__rd_free(&rd);
	bt_meta__rd_init(&rd);
	ck_assert_int_eq(bt_meta__rd_feed(&rd, (const uint8_t *)"\x13", 1, &H, &s), 0);
	ck_assert_int_eq(bt_meta__rd_feed(&rd, (const uint8_t *)"X", 1, &H, &s),
	                 BT_META_E_PROTOCOL);
	bt_meta__rd_free(&rd);

	/* A 100 MB length prefix. */
	bt_meta__hs_build(buf, IH, PID);
	memcpy(buf + BT_WIRE_HS_LEN, "\x05\xf5\xe1\x00\x07", 5);
	bt_meta__rd_init(&rd);
	ck_assert_int_eq(bt_meta__rd_feed(&rd, buf, BT_WIRE_HS_LEN + 5, &H, &s),
	                 BT_META_E_PROTOCOL);
	bt_meta__rd_free(&rd);

	/* An extension message over the cap, and one with no extension id. */
	uint32_t big = BT_WIRE_MAX_EXT + 2;
	uint8_t hdr[5] = {(uint8_t)(big >> 24), (uint8_t)(big >> 16), (uint8_t)(big >> 8),
	                  (uint8_t)big, 20};
	memcpy(buf + BT_WIRE_HS_LEN, hdr, 5);
	bt_meta__rd_init(&rd);
	ck_assert_int_eq(bt_meta__rd_feed(&rd, buf, BT_WIRE_HS_LEN + 5, &H, &s),
	                 BT_META_E_PROTOCOL);
	bt_meta__rd_free(&rd);
	memcpy(buf + BT_WIRE_HS_LEN, "\0\0\0\x01\x14", 5);
	bt_meta__rd_init(&rd);
	ck_assert_int_eq(bt_meta__rd_feed(&rd, buf, BT_WIRE_HS_LEN + 5, &H, &s),
	                 BT_META_E_PROTOCOL);
	bt_meta__rd_free(&rd);

	/* A 2 MB message we do not want is skipped without being stored. */
	memset(&s, 0, sizeof(s));
	bt_meta__rd_init(&rd);
	memcpy(buf + BT_WIRE_HS_LEN, "\x00\x20\x00\x01\x05", 5);
	ck_assert_int_eq(bt_meta__rd_feed(&rd, buf, BT_WIRE_HS_LEN + 5, &H, &s), 0);
	static uint8_t zeros[65536];
	for (int i = 0; i < 32; i++)
		ck_assert_int_eq(bt_meta__rd_feed(&rd, zeros, sizeof(zeros), &H, &s), 0);
	ck_assert_ptr_null(rd.body);
	ck_assert_int_eq(s.msgs, 0);
	ck_assert_int_eq(bt_meta__rd_feed(&rd, (const uint8_t *)"\0\0\0\x02\x14\x05", 6, &H, &s),
	                 0);
	ck_assert_int_eq(s.msgs, 1);
	ck_assert_int_eq(s.ids[0], 5);
	bt_meta__rd_free(&rd);
}
END_TEST

START_TEST(reader_handler_stops)
{
	static uint8_t s[BT_WIRE_MAX_EXT * 2];
	uint8_t *piece;
	size_t n = build_stream(s, &piece);
	static struct seen a;
	bt_wire_rd rd;

	/* The error of a handler ends the feed, split or not, and leaks nothing (ASan). */
	for (size_t step = 1; step <= n; step = step * 3 + 1) {
		memset(&a, 0, sizeof(a));
		a.stop_after = 2;
		bt_meta__rd_init(&rd);
		int r = 0;
		for (size_t off = 0; off < n && r == 0; off += step)
			r = bt_meta__rd_feed(&rd, s + off, off + step <= n ? step : n - off, &H,
			                     &a);
		ck_assert_int_eq(r, -42);
		ck_assert_int_eq(a.msgs, 2);
		bt_meta__rd_free(&rd);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("meta-wire");
	TCase *t = tcase_create("codec");
	tcase_add_test(t, handshake_roundtrip);
	tcase_add_test(t, ext_handshake_fields);
	tcase_add_test(t, ut_metadata_messages);
	suite_add_tcase(s, t);
	t = tcase_create("reader");
	tcase_add_test(t, reader_whole_and_bytewise);
	tcase_add_test(t, reader_hostile);
	tcase_add_test(t, reader_handler_stops);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return bt_test_run(suite());
}
