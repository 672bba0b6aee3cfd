/*
 * wire.c - peer wire messages for metadata exchange: the BEP 3 handshake, the BEP 10 extension
 * handshake, BEP 9 ut_metadata messages, and the incremental reader that cuts a byte stream
 * into them.  Nothing here touches a socket or a clock; see wire.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "bencode.h"
#include "btmeta.h"
#include "wire.h"

static const char PROTO[] = "\x13"
                            "BitTorrent protocol";

enum { RD_HS = 0, RD_HDR = 1, RD_SKIP = 2, RD_EXT = 3 };

/* A dictionary is small; a hostile one hits the token cap and is refused. */
#define MAX_TOKS 256

int bt_meta__hs_parse(const uint8_t p[BT_WIRE_HS_LEN], bt_wire_hs *out)
{
	if (memcmp(p, PROTO, 20) != 0)
		return -1;
	memcpy(out->reserved, p + 20, 8);
	memcpy(out->infohash, p + 28, 20);
	memcpy(out->peer_id, p + 48, 20);
	return 0;
}

void bt_meta__hs_build(uint8_t out[BT_WIRE_HS_LEN], const uint8_t infohash[20],
                       const uint8_t peer_id[20])
{
	memcpy(out, PROTO, 20);
	memset(out + 20, 0, 8);
	out[25] = 0x10;
	memcpy(out + 28, infohash, 20);
	memcpy(out + 48, peer_id, 20);
}

static int decode_dict(bt_ben_doc *doc, bt_ben_tok *toks, const uint8_t *p, size_t n,
                       unsigned flags)
{
	bt_ben_doc_init(doc, toks, MAX_TOKS);
	doc->max_depth = 8;
	if (bt_ben_decode(doc, p, n, flags, NULL) < 0 || !bt_ben_is(doc, 0, BT_BEN_DICT))
		return -1;
	return 0;
}

int bt_meta__exths_parse(const uint8_t *p, size_t n, bt_wire_exths *out)
{
	bt_ben_tok toks[MAX_TOKS];
	bt_ben_doc doc;
	int64_t v;

	memset(out, 0, sizeof(*out));
	out->metadata_size = -1;
	out->reqq = -1;
	/* Real clients send unsorted keys, and some append bytes after the dictionary. */
	if (decode_dict(&doc, toks, p, n, BT_BEN_LAX | BT_BEN_ALLOW_TRAILING) < 0)
		return -1;
	int32_t m = bt_ben_dict_getz(&doc, 0, "m");
	if (bt_ben_dict_int(&doc, m, "ut_metadata", &v) == 0 && v > 0 && v <= 255)
		out->ut_metadata = (int)v;
	if (bt_ben_dict_int(&doc, 0, "metadata_size", &v) == 0 && v >= 0)
		out->metadata_size = v;
	if (bt_ben_dict_int(&doc, 0, "reqq", &v) == 0 && v >= 0)
		out->reqq = v;
	if (bt_ben_dict_int(&doc, 0, "p", &v) == 0 && v > 0 && v <= 65535)
		out->port = (int)v;
	size_t len;
	const uint8_t *s = bt_ben_dict_str(&doc, 0, "v", &len);
	if (s) {
		size_t k = len < sizeof(out->client) - 1 ? len : sizeof(out->client) - 1;
		for (size_t i = 0; i < k; i++)
			out->client[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
		out->client[k] = 0;
	}
	s = bt_ben_dict_str(&doc, 0, "yourip", &len);
	if (s && len == 4) {
		out->yourip.family = 4;
		memcpy(out->yourip.ip, s, 4);
	} else if (s && len == 16) {
		out->yourip.family = 6;
		memcpy(out->yourip.ip, s, 16);
	}
	return 0;
}

/* Reserve the 4-byte length of a message at @start and fill it in once the body is written. */
static void put_len(bt_buf *out, size_t start)
{
	if (out->err)
		return;
	uint32_t l = (uint32_t)(out->len - start - 4);
	out->data[start] = (uint8_t)(l >> 24);
	out->data[start + 1] = (uint8_t)(l >> 16);
	out->data[start + 2] = (uint8_t)(l >> 8);
	out->data[start + 3] = (uint8_t)l;
}

static void begin_ext(bt_buf *out, uint8_t ext_id)
{
	static const uint8_t zero[4];
	bt_buf_append(out, zero, 4);
	bt_buf_putc(out, BT_WIRE_MSG_EXTENDED);
	bt_buf_putc(out, ext_id);
}

int bt_meta__exths_build(bt_buf *out, int64_t metadata_size, int port, unsigned reqq,
                         const char *client, const bt_addr *yourip)
{
	size_t start = out->len;
	bt_ben_enc e;

	begin_ext(out, 0);
	bt_ben_enc_init(&e, out);
	bt_ben_enc_dict(&e);
	bt_ben_enc_strz(&e, "m");
	bt_ben_enc_dict(&e);
	bt_ben_enc_strz(&e, "ut_metadata");
	bt_ben_enc_int(&e, BT_WIRE_OUR_UTM);
	bt_ben_enc_end(&e);
	if (metadata_size >= 0) {
		bt_ben_enc_strz(&e, "metadata_size");
		bt_ben_enc_int(&e, metadata_size);
	}
	if (port > 0) {
		bt_ben_enc_strz(&e, "p");
		bt_ben_enc_int(&e, port);
	}
	bt_ben_enc_strz(&e, "reqq");
	bt_ben_enc_int(&e, reqq);
	if (client) {
		bt_ben_enc_strz(&e, "v");
		bt_ben_enc_strz(&e, client);
	}
	if (yourip && (yourip->family == 4 || yourip->family == 6)) {
		bt_ben_enc_strz(&e, "yourip");
		bt_ben_enc_str(&e, yourip->ip, yourip->family == 4 ? 4 : 16);
	}
	bt_ben_enc_end(&e);
	put_len(out, start);
	return out->err ? out->err : bt_ben_enc_finish(&e);
}

int bt_meta__utm_parse(const uint8_t *p, size_t n, bt_wire_utm *out)
{
	bt_ben_tok toks[MAX_TOKS];
	bt_ben_doc doc;

	memset(out, 0, sizeof(*out));
	out->total_size = -1;
	if (decode_dict(&doc, toks, p, n, BT_BEN_LAX | BT_BEN_ALLOW_TRAILING) < 0)
		return -1;
	int64_t t;
	if (bt_ben_dict_int(&doc, 0, "msg_type", &t) < 0 ||
	    bt_ben_dict_int(&doc, 0, "piece", &out->piece) < 0)
		return -1;
	out->type = (t >= 0 && t <= 0x7fffffff) ? (int)t : -1;
	if (bt_ben_dict_int(&doc, 0, "total_size", &out->total_size) < 0)
		out->total_size = -1;
	out->data_off = doc.used;
	out->data_len = n - doc.used;
	return 0;
}

int bt_meta__utm_build(bt_buf *out, uint8_t their_id, int type, uint32_t piece, int64_t total_size,
                       const uint8_t *data, size_t len)
{
	size_t start = out->len;
	bt_ben_enc e;

	begin_ext(out, their_id);
	bt_ben_enc_init(&e, out);
	bt_ben_enc_dict(&e);
	bt_ben_enc_strz(&e, "msg_type");
	bt_ben_enc_int(&e, type);
	bt_ben_enc_strz(&e, "piece");
	bt_ben_enc_int(&e, piece);
	if (data) {
		bt_ben_enc_strz(&e, "total_size");
		bt_ben_enc_int(&e, total_size);
	}
	bt_ben_enc_end(&e);
	int r = bt_ben_enc_finish(&e);
	if (data)
		bt_buf_append(out, data, len);
	put_len(out, start);
	return out->err ? out->err : r;
}

void bt_meta__rd_init(bt_wire_rd *rd)
{
	memset(rd, 0, sizeof(*rd));
	rd->state = RD_HS;
}

void bt_meta__rd_free(bt_wire_rd *rd)
{
	free(rd->body);
	rd->body = NULL;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The 5-byte header is complete: decide what to do with the body. */
static int start_body(bt_wire_rd *rd)
{
	uint8_t id = rd->hdr[4];
	rd->len = be32(rd->hdr) - 1;
	rd->have = 0;
	if (id != BT_WIRE_MSG_EXTENDED) {
		rd->need = rd->len;
		rd->state = rd->need ? RD_SKIP : RD_HDR;
		return 0;
	}
	if (rd->len < 1 || rd->len > BT_WIRE_MAX_EXT)
		return BT_META_E_PROTOCOL;
	rd->need = rd->len;
	rd->body_have = 0;
	rd->state = RD_EXT;
	return 0;
}

int bt_meta__rd_feed(bt_wire_rd *rd, const uint8_t *p, size_t n, const bt_wire_handlers *h,
                     void *ud)
{
	int r;

	while (n > 0) {
		switch (rd->state) {
		case RD_HS: {
			size_t k = BT_WIRE_HS_LEN - rd->have;
			if (k > n)
				k = n;
			memcpy(rd->hdr + rd->have, p, k);
			rd->have = (uint8_t)(rd->have + k);
			p += k;
			n -= k;
			/* Refuse a stranger at its first wrong byte, not after 68. */
			size_t chk = rd->have < 20 ? rd->have : 20;
			if (memcmp(rd->hdr, PROTO, chk) != 0)
				return BT_META_E_PROTOCOL;
			if (rd->have < BT_WIRE_HS_LEN)
				break;
			bt_wire_hs hs;
			bt_meta__hs_parse(rd->hdr, &hs);
			rd->have = 0;
			rd->state = RD_HDR;
			if (h->handshake && (r = h->handshake(ud, &hs)) < 0)
				return r;
			break;
		}
		case RD_HDR:
			rd->hdr[rd->have++] = *p++;
			n--;
			if (rd->have == 4) {
				uint32_t l = be32(rd->hdr);
				if (l == 0) { /* keep-alive */
					rd->have = 0;
				} else if (l > BT_WIRE_MAX_MSG) {
					return BT_META_E_PROTOCOL;
				}
			} else if (rd->have == 5 && (r = start_body(rd)) < 0) {
				return r;
			}
			break;
		case RD_SKIP: {
			size_t k = rd->need < n ? rd->need : n;
			p += k;
			n -= k;
			rd->need -= (uint32_t)k;
			if (rd->need == 0)
				rd->state = RD_HDR;
			break;
		}
		case RD_EXT: {
			if (!rd->body && n >= rd->need) {
				/* The whole message is in this read: no copy. */
				const uint8_t *m = p;
				size_t len = rd->need;
				p += len;
				n -= len;
				rd->state = RD_HDR;
				if (h->extended && (r = h->extended(ud, m[0], m + 1, len - 1)) < 0)
					return r;
				break;
			}
			if (!rd->body && !(rd->body = malloc(rd->len)))
				return BT_META_E_NOMEM;
			size_t k = rd->need < n ? rd->need : n;
			memcpy(rd->body + rd->body_have, p, k);
			rd->body_have += (uint32_t)k;
			rd->need -= (uint32_t)k;
			p += k;
			n -= k;
			if (rd->need)
				break;
			uint8_t *m = rd->body;
			rd->body = NULL;
			rd->state = RD_HDR;
			r = h->extended ? h->extended(ud, m[0], m + 1, rd->len - 1) : 0;
			free(m);
			if (r < 0)
				return r;
			break;
		}
		default:
			return BT_META_E_PROTOCOL;
		}
	}
	return 0;
}
