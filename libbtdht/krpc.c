/*
 * krpc.c - the KRPC parser and encoder of krpc.h.
 *
 * Parsing decodes the datagram once into a token array on the stack (a datagram of at most
 * BT_DHT__KRPC_MAX_PACKET bytes holds at most half as many values, so the array always suffices
 * and nothing is allocated), then looks up each key it knows and checks its type and size before
 * storing a pointer into the datagram.  Encoding checks the whole message first, so that a
 * message the parser would refuse is never sent and a refused message leaves the buffer as it
 * was, then writes the keys in canonical order through the bencode encoder.
 */
#include "krpc.h"

#include <string.h>

#include "bencode.h"

/* Every bencode value takes at least two bytes ("0:", "le", "i0e" takes three). */
#define MAX_TOKENS (BT_DHT__KRPC_MAX_PACKET / 2)

#define NODE4_LEN 26
#define NODE6_LEN 38

const char *bt_dht__krpc_method_name(bt_dht__krpc_method m)
{
	switch (m) {
	case BT_DHT__KRPC_M_PING:
		return "ping";
	case BT_DHT__KRPC_M_FIND_NODE:
		return "find_node";
	case BT_DHT__KRPC_M_GET_PEERS:
		return "get_peers";
	case BT_DHT__KRPC_M_ANNOUNCE_PEER:
		return "announce_peer";
	case BT_DHT__KRPC_M_SAMPLE_INFOHASHES:
		return "sample_infohashes";
	default:
		return NULL;
	}
}

static bt_dht__krpc_method method_from_name(const uint8_t *s, size_t n)
{
	for (int m = BT_DHT__KRPC_M_PING; m < BT_DHT__KRPC_M_UNKNOWN; m++) {
		const char *name = bt_dht__krpc_method_name((bt_dht__krpc_method)m);
		if (name && strlen(name) == n && memcmp(name, s, n) == 0)
			return (bt_dht__krpc_method)m;
	}
	return BT_DHT__KRPC_M_UNKNOWN;
}

/* ---- parsing ---- */

/* A 20-byte string at @key of @dict into @out.  Returns 1 if present and 20 bytes, 0 if absent,
 * -1 if present with another type or size. */
static int get_id(const bt_ben_doc *doc, int32_t dict, const char *key, bt_id *out)
{
	int32_t i = bt_ben_dict_getz(doc, dict, key);
	size_t n;
	const uint8_t *p;
	if (i < 0)
		return 0;
	p = bt_ben_str(doc, i, &n);
	if (!p || n != BT_ID_LEN)
		return -1;
	memcpy(out->b, p, BT_ID_LEN);
	return 1;
}

/* An optional string at @key whose length is a multiple of @unit: stored (possibly empty) when
 * present, absent leaves *@out NULL.  -1 for another type or a partial entry. */
static int get_blob(const bt_ben_doc *doc, int32_t dict, const char *key, size_t unit,
                    const uint8_t **out, size_t *len)
{
	int32_t i = bt_ben_dict_getz(doc, dict, key);
	const uint8_t *p;
	if (i < 0)
		return 0;
	p = bt_ben_str(doc, i, len);
	if (!p || *len % unit != 0)
		return -1;
	*out = p;
	return 1;
}

/* BEP 32 "want".  It only ever asks for more, so anything unexpected in it is ignored rather
 * than costing the whole query. */
static void parse_want(const bt_ben_doc *doc, int32_t a, bt_dht__krpc_msg *m)
{
	int32_t w = bt_ben_dict_getz(doc, a, "want");
	if (!bt_ben_is(doc, w, BT_BEN_LIST))
		return;
	for (int32_t i = bt_ben_first(doc, w); i >= 0; i = bt_ben_next(doc, w, i)) {
		size_t n;
		const uint8_t *s = bt_ben_str(doc, i, &n);
		if (s && n == 2 && s[0] == 'n' && s[1] == '4')
			m->want |= BT_DHT__WANT_N4;
		else if (s && n == 2 && s[0] == 'n' && s[1] == '6')
			m->want |= BT_DHT__WANT_N6;
	}
}

static int parse_announce(const bt_ben_doc *doc, int32_t a, bt_dht__krpc_msg *m)
{
	int64_t v;
	const uint8_t *tok;
	size_t n;

	if (get_id(doc, a, "info_hash", &m->info_hash) <= 0)
		return BT_DHT__KRPC_E_ARGS;
	m->has_info_hash = true;
	tok = bt_ben_dict_str(doc, a, "token", &n);
	if (!tok || n < 1 || n > BT_DHT__KRPC_MAX_TOKEN)
		return BT_DHT__KRPC_E_ARGS;
	m->token = tok;
	m->token_len = n;
	/* BEP 5: "present and non-zero" means the source port counts and "port" is ignored, so a
	 * bad "port" beside it is dropped rather than fatal. */
	if (bt_ben_dict_int(doc, a, "implied_port", &v) == 0 && v != 0)
		m->implied_port = true;
	if (bt_ben_dict_int(doc, a, "port", &v) == 0 && v >= 1 && v <= 65535)
		m->port = (uint16_t)v;
	else if (!m->implied_port)
		return BT_DHT__KRPC_E_ARGS;
	return BT_DHT__KRPC_OK;
}

static int parse_query(const bt_ben_doc *doc, bt_dht__krpc_msg *m)
{
	size_t n;
	const uint8_t *q = bt_ben_dict_str(doc, 0, "q", &n);
	int32_t a = bt_ben_dict_getz(doc, 0, "a");

	if (!q || !bt_ben_is(doc, a, BT_BEN_DICT))
		return BT_DHT__KRPC_E_ARGS;
	m->method = method_from_name(q, n);
	if (get_id(doc, a, "id", &m->id) <= 0)
		return BT_DHT__KRPC_E_ID;
	m->has_id = true;
	parse_want(doc, a, m);

	switch (m->method) {
	case BT_DHT__KRPC_M_FIND_NODE:
	case BT_DHT__KRPC_M_SAMPLE_INFOHASHES:
		if (get_id(doc, a, "target", &m->target) <= 0)
			return BT_DHT__KRPC_E_ARGS;
		m->has_target = true;
		return BT_DHT__KRPC_OK;
	case BT_DHT__KRPC_M_GET_PEERS:
		if (get_id(doc, a, "info_hash", &m->info_hash) <= 0)
			return BT_DHT__KRPC_E_ARGS;
		m->has_info_hash = true;
		return BT_DHT__KRPC_OK;
	case BT_DHT__KRPC_M_ANNOUNCE_PEER:
		return parse_announce(doc, a, m);
	case BT_DHT__KRPC_M_UNKNOWN:
		/* libtorrent's forward compatibility: an unknown query is answered like find_node
		 * when it has a target, like get_peers when it has an info_hash.  Neither is
		 * required, so a malformed one is only ignored. */
		m->has_target = get_id(doc, a, "target", &m->target) > 0;
		m->has_info_hash = get_id(doc, a, "info_hash", &m->info_hash) > 0;
		return BT_DHT__KRPC_OK;
	default:
		return BT_DHT__KRPC_OK;
	}
}

static void parse_values(const bt_ben_doc *doc, int32_t list, bt_dht__krpc_msg *m)
{
	for (int32_t i = bt_ben_first(doc, list); i >= 0; i = bt_ben_next(doc, list, i)) {
		size_t n;
		const uint8_t *p = bt_ben_str(doc, i, &n);
		if (!p || (n != BT_ADDR_COMPACT4 && n != BT_ADDR_COMPACT6) ||
		    m->nvalues == BT_DHT__KRPC_MAX_VALUES) {
			m->values_skipped++;
			continue;
		}
		m->values[m->nvalues] = p;
		m->values_len[m->nvalues] = (uint8_t)n;
		m->nvalues++;
	}
}

/* An optional integer: absent is fine, another type is not. */
static int get_opt_int(const bt_ben_doc *doc, int32_t dict, const char *key, bool *has,
                       int64_t *out)
{
	int32_t i = bt_ben_dict_getz(doc, dict, key);
	if (i < 0)
		return 0;
	if (bt_ben_int(doc, i, out) < 0)
		return -1;
	*has = true;
	return 1;
}

static int parse_response(const bt_ben_doc *doc, bt_dht__krpc_msg *m)
{
	int32_t r = bt_ben_dict_getz(doc, 0, "r");
	int32_t i;

	if (!bt_ben_is(doc, r, BT_BEN_DICT))
		return BT_DHT__KRPC_E_ARGS;
	if (get_id(doc, r, "id", &m->id) <= 0)
		return BT_DHT__KRPC_E_ID;
	m->has_id = true;

	if (get_blob(doc, r, "nodes", NODE4_LEN, &m->nodes, &m->nodes_len) < 0 ||
	    get_blob(doc, r, "nodes6", NODE6_LEN, &m->nodes6, &m->nodes6_len) < 0 ||
	    get_blob(doc, r, "samples", BT_ID_LEN, &m->samples, &m->samples_len) < 0 ||
	    get_blob(doc, r, "token", 1, &m->token, &m->token_len) < 0 ||
	    get_opt_int(doc, r, "interval", &m->has_interval, &m->interval) < 0 ||
	    get_opt_int(doc, r, "num", &m->has_num, &m->num) < 0)
		return BT_DHT__KRPC_E_ARGS;
	if (m->token && m->token_len > BT_DHT__KRPC_MAX_TOKEN)
		return BT_DHT__KRPC_E_ARGS;

	i = bt_ben_dict_getz(doc, r, "values");
	if (i >= 0) {
		if (!bt_ben_is(doc, i, BT_BEN_LIST))
			return BT_DHT__KRPC_E_ARGS;
		m->has_values = true;
		parse_values(doc, i, m);
	}
	return BT_DHT__KRPC_OK;
}

static int parse_error(const bt_ben_doc *doc, bt_dht__krpc_msg *m)
{
	int32_t e = bt_ben_dict_getz(doc, 0, "e");
	int32_t first = bt_ben_first(doc, e);

	if (!bt_ben_is(doc, e, BT_BEN_LIST) || bt_ben_int(doc, first, &m->err_code) < 0)
		return BT_DHT__KRPC_E_ARGS;
	/* The message is only for logs: a missing or odd one does not void the code. */
	m->err_msg = bt_ben_str(doc, bt_ben_next(doc, e, first), &m->err_msg_len);
	if (!m->err_msg)
		m->err_msg_len = 0;
	return BT_DHT__KRPC_OK;
}

/* After E_ARGS / E_ID only the top level may be trusted: forget whatever the body half filled
 * in, so nobody acts on arguments that were never fully checked. */
static void keep_top_level(bt_dht__krpc_msg *m)
{
	bt_dht__krpc_msg top;
	memset(&top, 0, sizeof(top));
	top.kind = m->kind;
	top.method = m->method;
	top.t = m->t;
	top.tlen = m->tlen;
	top.v = m->v;
	top.vlen = m->vlen;
	top.ro = m->ro;
	top.has_ip = m->has_ip;
	top.ip = m->ip;
	*m = top;
}

int bt_dht__krpc_parse(bt_dht__krpc_msg *m, const uint8_t *buf, size_t len)
{
	bt_ben_tok toks[MAX_TOKENS];
	bt_ben_doc doc;
	const uint8_t *t, *y, *p;
	size_t tlen, ylen, n;
	int64_t ro;
	int rc;

	memset(m, 0, sizeof(*m));
	if (len == 0 || len > BT_DHT__KRPC_MAX_PACKET || !buf)
		return BT_DHT__KRPC_E_SIZE;
	bt_ben_doc_init(&doc, toks, MAX_TOKENS);
	if (bt_ben_decode(&doc, buf, len, BT_BEN_LAX, NULL) < 0 || !bt_ben_is(&doc, 0, BT_BEN_DICT))
		return BT_DHT__KRPC_E_BENCODE;

	t = bt_ben_dict_str(&doc, 0, "t", &tlen);
	if (!t || tlen < 1 || tlen > BT_DHT__KRPC_MAX_T)
		return BT_DHT__KRPC_E_T;
	y = bt_ben_dict_str(&doc, 0, "y", &ylen);
	if (!y || ylen != 1)
		return BT_DHT__KRPC_E_Y;
	switch (y[0]) {
	case 'q':
		m->kind = BT_DHT__KRPC_QUERY;
		break;
	case 'r':
		m->kind = BT_DHT__KRPC_RESPONSE;
		break;
	case 'e':
		m->kind = BT_DHT__KRPC_ERROR;
		break;
	default:
		return BT_DHT__KRPC_E_Y;
	}
	m->t = t;
	m->tlen = tlen;

	/* Optional top-level keys never void a message: a wrong one is as good as absent. */
	m->v = bt_ben_dict_str(&doc, 0, "v", &m->vlen);
	if (!m->v)
		m->vlen = 0;
	p = bt_ben_dict_str(&doc, 0, "ip", &n);
	if (p && (n == BT_ADDR_COMPACT4 || n == BT_ADDR_COMPACT6))
		m->has_ip = bt_addr_from_compact(&m->ip, p, n) == 0;
	m->ro = bt_ben_dict_int(&doc, 0, "ro", &ro) == 0 && ro == 1;

	if (m->kind == BT_DHT__KRPC_QUERY)
		rc = parse_query(&doc, m);
	else if (m->kind == BT_DHT__KRPC_RESPONSE)
		rc = parse_response(&doc, m);
	else
		rc = parse_error(&doc, m);
	if (rc < 0)
		keep_top_level(m);
	return rc;
}

/* ---- encoding ---- */

static bool blob_ok(const uint8_t *p, size_t len, size_t unit)
{
	return !p || len % unit == 0;
}

/* Everything the parser would refuse is refused here too, before a byte is written: a message
 * we send must parse on the other side, and a bad count must not read past our own arrays. */
static bool query_ok(const bt_dht__krpc_msg *m)
{
	if (!m->has_id || (m->want & ~(unsigned)(BT_DHT__WANT_N4 | BT_DHT__WANT_N6)))
		return false;
	if (m->token && (m->token_len < 1 || m->token_len > BT_DHT__KRPC_MAX_TOKEN))
		return false;
	switch (m->method) {
	case BT_DHT__KRPC_M_PING:
		return true;
	case BT_DHT__KRPC_M_FIND_NODE:
	case BT_DHT__KRPC_M_SAMPLE_INFOHASHES:
		return m->has_target;
	case BT_DHT__KRPC_M_GET_PEERS:
		return m->has_info_hash;
	case BT_DHT__KRPC_M_ANNOUNCE_PEER:
		return m->has_info_hash && m->token && (m->port != 0 || m->implied_port);
	default:
		return false; /* no name to put in "q" */
	}
}

static bool response_ok(const bt_dht__krpc_msg *m)
{
	if (!m->has_id || !blob_ok(m->nodes, m->nodes_len, NODE4_LEN) ||
	    !blob_ok(m->nodes6, m->nodes6_len, NODE6_LEN) ||
	    !blob_ok(m->samples, m->samples_len, BT_ID_LEN) ||
	    (m->token && m->token_len > BT_DHT__KRPC_MAX_TOKEN) ||
	    m->nvalues > BT_DHT__KRPC_MAX_VALUES)
		return false;
	for (unsigned i = 0; i < m->nvalues; i++) {
		if (!m->values[i] ||
		    (m->values_len[i] != BT_ADDR_COMPACT4 && m->values_len[i] != BT_ADDR_COMPACT6))
			return false;
	}
	return true;
}

static bool msg_ok(const bt_dht__krpc_msg *m)
{
	if (!m->t || m->tlen < 1 || m->tlen > BT_DHT__KRPC_MAX_T)
		return false;
	if (m->has_ip && m->ip.family != 4 && m->ip.family != 6)
		return false;
	switch (m->kind) {
	case BT_DHT__KRPC_QUERY:
		return query_ok(m);
	case BT_DHT__KRPC_RESPONSE:
		return response_ok(m);
	case BT_DHT__KRPC_ERROR:
		return m->err_code != 0;
	default:
		return false;
	}
}

static void put_id(bt_ben_enc *e, const char *key, const bt_id *id)
{
	bt_ben_enc_strz(e, key);
	bt_ben_enc_str(e, id->b, BT_ID_LEN);
}

static void put_str(bt_ben_enc *e, const char *key, const uint8_t *p, size_t n)
{
	if (!p)
		return;
	bt_ben_enc_strz(e, key);
	bt_ben_enc_str(e, p, n);
}

static void put_args(bt_ben_enc *e, const bt_dht__krpc_msg *m)
{
	bt_ben_enc_strz(e, "a");
	bt_ben_enc_dict(e);
	put_id(e, "id", &m->id);
	if (m->implied_port) {
		bt_ben_enc_strz(e, "implied_port");
		bt_ben_enc_int(e, 1);
	}
	if (m->has_info_hash)
		put_id(e, "info_hash", &m->info_hash);
	if (m->port) {
		bt_ben_enc_strz(e, "port");
		bt_ben_enc_int(e, m->port);
	}
	if (m->has_target)
		put_id(e, "target", &m->target);
	put_str(e, "token", m->token, m->token_len);
	if (m->want) {
		bt_ben_enc_strz(e, "want");
		bt_ben_enc_list(e);
		if (m->want & BT_DHT__WANT_N4)
			bt_ben_enc_strz(e, "n4");
		if (m->want & BT_DHT__WANT_N6)
			bt_ben_enc_strz(e, "n6");
		bt_ben_enc_end(e);
	}
	bt_ben_enc_end(e);
}

static void put_return(bt_ben_enc *e, const bt_dht__krpc_msg *m)
{
	bt_ben_enc_strz(e, "r");
	bt_ben_enc_dict(e);
	put_id(e, "id", &m->id);
	if (m->has_interval) {
		bt_ben_enc_strz(e, "interval");
		bt_ben_enc_int(e, m->interval);
	}
	put_str(e, "nodes", m->nodes, m->nodes_len);
	put_str(e, "nodes6", m->nodes6, m->nodes6_len);
	if (m->has_num) {
		bt_ben_enc_strz(e, "num");
		bt_ben_enc_int(e, m->num);
	}
	put_str(e, "samples", m->samples, m->samples_len);
	put_str(e, "token", m->token, m->token_len);
	if (m->has_values || m->nvalues) {
		bt_ben_enc_strz(e, "values");
		bt_ben_enc_list(e);
		for (unsigned i = 0; i < m->nvalues; i++)
			bt_ben_enc_str(e, m->values[i], m->values_len[i]);
		bt_ben_enc_end(e);
	}
	bt_ben_enc_end(e);
}

int bt_dht__krpc_encode(bt_buf *out, const bt_dht__krpc_msg *m)
{
	bt_ben_enc e;
	size_t start = out->len;
	int rc;

	if (!msg_ok(m))
		return BT_DHT__KRPC_E_ARGS;
	if (out->err)
		return out->err;

	bt_ben_enc_init(&e, out);
	bt_ben_enc_dict(&e);
	if (m->kind == BT_DHT__KRPC_QUERY)
		put_args(&e, m);
	if (m->kind == BT_DHT__KRPC_ERROR) {
		bt_ben_enc_strz(&e, "e");
		bt_ben_enc_list(&e);
		bt_ben_enc_int(&e, m->err_code);
		if (m->err_msg)
			bt_ben_enc_str(&e, m->err_msg, m->err_msg_len);
		bt_ben_enc_end(&e);
	}
	if (m->has_ip) {
		uint8_t ip[BT_ADDR_COMPACT6];
		size_t n = bt_addr_to_compact(&m->ip, ip);
		bt_ben_enc_strz(&e, "ip");
		bt_ben_enc_str(&e, ip, n);
	}
	if (m->kind == BT_DHT__KRPC_QUERY) {
		bt_ben_enc_strz(&e, "q");
		bt_ben_enc_strz(&e, bt_dht__krpc_method_name(m->method));
	}
	if (m->kind == BT_DHT__KRPC_RESPONSE)
		put_return(&e, m);
	if (m->ro) {
		bt_ben_enc_strz(&e, "ro");
		bt_ben_enc_int(&e, 1);
	}
	put_str(&e, "t", m->t, m->tlen);
	put_str(&e, "v", m->v, m->vlen);
	bt_ben_enc_strz(&e, "y");
	bt_ben_enc_strz(&e, m->kind == BT_DHT__KRPC_QUERY      ? "q"
	                    : m->kind == BT_DHT__KRPC_RESPONSE ? "r"
	                                                       : "e");
	bt_ben_enc_end(&e);

	rc = bt_ben_enc_finish(&e);
	if (rc == 0)
		return 0;
	/* A failed message is not left half written; the buffer keeps its (sticky) error. */
	out->len = start;
	/* The keys above are written in a fixed, sorted order, so only the buffer can fail; the
	 * fallback keeps an impossible encoder error from reading as success. */
	return out->err ? out->err : BT_DHT__KRPC_E_ARGS;
}
