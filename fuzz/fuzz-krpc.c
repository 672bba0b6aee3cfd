/*
 * fuzz-krpc.c - libFuzzer target for the KRPC codec (libbtdht/krpc.c).
 *
 * Besides "does not crash", it checks properties on every input.  A parse that succeeds holds
 * only what krpc.h promises (whole nodes and samples, at most MAX_VALUES values of 6 or 18 bytes,
 * bounded t and token, valid ports, pointers inside the datagram); its encoding is canonical
 * bencode, no longer than the datagram, parses back to the same fields (compared by content,
 * not by pointer), and encodes again to the same bytes; and a fixed buffer one byte too small is
 * refused without a byte written past it.  A parse that fails leaves exactly what krpc.h says.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"
#include "krpc-eq.h"
#include "krpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool cond)
{
	if (!cond)
		abort();
}

/* @p, @n lies inside the datagram (or is absent, with n == 0). */
static void check_within(const uint8_t *p, size_t n, const uint8_t *data, size_t size)
{
	if (!p) {
		check(n == 0);
		return;
	}
	check(p >= data && n <= size && (size_t)(p - data) <= size - n);
}

static void check_invariants(const bt_dht__krpc_msg *m, const uint8_t *data, size_t size)
{
	check(m->kind >= BT_DHT__KRPC_QUERY && m->kind <= BT_DHT__KRPC_ERROR);
	check((m->kind == BT_DHT__KRPC_QUERY) == (m->method != BT_DHT__KRPC_M_NONE));
	check(m->method <= BT_DHT__KRPC_M_UNKNOWN);
	check(m->t && m->tlen >= 1 && m->tlen <= BT_DHT__KRPC_MAX_T);
	check_within(m->t, m->tlen, data, size);
	check_within(m->v, m->vlen, data, size);
	check(!m->has_ip || m->ip.family == 4 || m->ip.family == 6);
	check(m->want <= (BT_DHT__WANT_N4 | BT_DHT__WANT_N6));

	check_within(m->token, m->token_len, data, size);
	check(m->token_len <= BT_DHT__KRPC_MAX_TOKEN);
	check_within(m->nodes, m->nodes_len, data, size);
	check(m->nodes_len % 26 == 0);
	check_within(m->nodes6, m->nodes6_len, data, size);
	check(m->nodes6_len % 38 == 0);
	check_within(m->samples, m->samples_len, data, size);
	check(m->samples_len % 20 == 0);
	check(m->nvalues <= BT_DHT__KRPC_MAX_VALUES);
	check(m->has_values || (m->nvalues == 0 && m->values_skipped == 0));
	for (unsigned i = 0; i < m->nvalues; i++) {
		check(m->values_len[i] == 6 || m->values_len[i] == 18);
		check_within(m->values[i], m->values_len[i], data, size);
	}
	/* every skipped value took two bytes or more of the datagram */
	check(m->values_skipped <= size / 2);
	check_within(m->err_msg, m->err_msg_len, data, size);

	switch (m->method) {
	case BT_DHT__KRPC_M_FIND_NODE:
	case BT_DHT__KRPC_M_SAMPLE_INFOHASHES:
		check(m->has_id && m->has_target && !m->has_info_hash);
		break;
	case BT_DHT__KRPC_M_GET_PEERS:
		check(m->has_id && m->has_info_hash && !m->has_target);
		break;
	case BT_DHT__KRPC_M_ANNOUNCE_PEER:
		check(m->has_id && m->has_info_hash && !m->has_target);
		check(m->token && m->token_len >= 1);
		check(m->port != 0 || m->implied_port);
		break;
	case BT_DHT__KRPC_M_PING:
		check(m->has_id && !m->has_target && !m->has_info_hash);
		break;
	case BT_DHT__KRPC_M_UNKNOWN:
		check(m->has_id);
		break;
	default:
		check(m->has_id == (m->kind == BT_DHT__KRPC_RESPONSE));
	}
	if (m->kind != BT_DHT__KRPC_QUERY)
		check(!m->has_target && !m->has_info_hash && !m->port && !m->implied_port &&
		      !m->want);
	if (m->kind != BT_DHT__KRPC_RESPONSE)
		check(!m->nodes && !m->nodes6 && !m->samples && !m->has_values &&
		      !m->has_interval && !m->has_num);
	if (m->kind != BT_DHT__KRPC_RESPONSE && m->method != BT_DHT__KRPC_M_ANNOUNCE_PEER)
		check(!m->token);
	if (m->kind != BT_DHT__KRPC_ERROR)
		check(m->err_code == 0 && !m->err_msg);
}

/* After a failed parse: the top level only (E_ARGS / E_ID), or nothing at all. */
static void check_failure(int rc, const bt_dht__krpc_msg *m, const uint8_t *data, size_t size)
{
	check(rc < 0 && rc >= BT_DHT__KRPC_E_ID);
	if (rc == BT_DHT__KRPC_E_ARGS || rc == BT_DHT__KRPC_E_ID) {
		check(m->kind >= BT_DHT__KRPC_QUERY && m->kind <= BT_DHT__KRPC_ERROR);
		check(m->t && m->tlen >= 1 && m->tlen <= BT_DHT__KRPC_MAX_T);
		check_within(m->t, m->tlen, data, size);
		check_within(m->v, m->vlen, data, size);
		check(krpc_only_top_level(m));
		return;
	}
	bt_dht__krpc_msg z;
	memset(&z, 0, sizeof(z));
	check(krpc_msg_eq(&z, m) && m->values_skipped == 0);
}

static void check_encoding(const bt_dht__krpc_msg *m, size_t size)
{
	bt_buf out, again;
	bt_ben_tok toks[BT_DHT__KRPC_MAX_PACKET / 2];
	bt_ben_doc doc;
	bt_dht__krpc_msg back;
	int rc;

	bt_buf_init(&out, 0);
	rc = bt_dht__krpc_encode(&out, m);
	/* the only parsed messages we cannot send back: an unknown method has no name, and an
	 * error code of 0 reads as "no code" */
	if ((m->kind == BT_DHT__KRPC_QUERY && m->method == BT_DHT__KRPC_M_UNKNOWN) ||
	    (m->kind == BT_DHT__KRPC_ERROR && m->err_code == 0)) {
		check(rc == BT_DHT__KRPC_E_ARGS && out.len == 0);
		bt_buf_free(&out);
		return;
	}
	check(rc == 0);
	/* canonical, and never longer than what was parsed: lax numbers shrink, extras go */
	check(out.len > 0 && out.len <= size);
	bt_ben_doc_init(&doc, toks, BT_DHT__KRPC_MAX_PACKET / 2);
	check(bt_ben_decode(&doc, out.data, out.len, 0, NULL) == 0);

	check(bt_dht__krpc_parse(&back, out.data, out.len) == BT_DHT__KRPC_OK);
	check_invariants(&back, out.data, out.len);
	check(krpc_msg_eq(m, &back));
	check(back.values_skipped == 0);

	bt_buf_init(&again, 0);
	check(bt_dht__krpc_encode(&again, &back) == 0);
	check(again.len == out.len && memcmp(again.data, out.data, out.len) == 0);
	bt_buf_free(&again);

	/* one byte short, in caller memory: refused, nothing kept, nothing written past the end */
	uint8_t *mem = malloc(out.len + 16);
	check(mem != NULL);
	memset(mem, 0xa5, out.len + 16);
	bt_buf fixed;
	bt_buf_init_fixed(&fixed, mem, out.len - 1);
	check(bt_dht__krpc_encode(&fixed, m) == -ENOBUFS && fixed.len == 0);
	for (size_t i = out.len - 1; i < out.len + 16; i++)
		check(mem[i] == 0xa5);
	bt_buf_init_fixed(&fixed, mem, out.len);
	check(bt_dht__krpc_encode(&fixed, m) == 0 && fixed.len == out.len);
	check(memcmp(mem, out.data, out.len) == 0 && mem[out.len] == 0xa5);
	free(mem);
	bt_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bt_dht__krpc_msg m;
	int rc = bt_dht__krpc_parse(&m, data, size);
	if (rc != BT_DHT__KRPC_OK) {
		check_failure(rc, &m, data, size);
		check((rc == BT_DHT__KRPC_E_SIZE) == (size == 0 || size > BT_DHT__KRPC_MAX_PACKET));
		return 0;
	}
	check(size > 0 && size <= BT_DHT__KRPC_MAX_PACKET);
	check_invariants(&m, data, size);
	check_encoding(&m, size);
	return 0;
}
