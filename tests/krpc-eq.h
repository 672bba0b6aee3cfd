/*
 * krpc-eq.h - equality of two parsed or built KRPC messages by content, for the codec's tests
 * and fuzz target (round trips: parse(encode(m)) must equal m).  Pointers are compared by the
 * bytes they point to; values_skipped is left out, since an encoding drops what was skipped.
 */
#ifndef BT_TESTS_KRPC_EQ_H
#define BT_TESTS_KRPC_EQ_H

#include <stdbool.h>
#include <string.h>

#include "krpc.h"

static inline bool krpc_bytes_eq(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	if (!a || !b)
		return !a && !b && an == bn;
	return an == bn && memcmp(a, b, an) == 0;
}

static inline bool krpc_msg_eq(const bt_dht__krpc_msg *a, const bt_dht__krpc_msg *b)
{
	if (a->kind != b->kind || a->method != b->method || a->ro != b->ro ||
	    a->has_ip != b->has_ip || (a->has_ip && !bt_addr_eq(&a->ip, &b->ip)))
		return false;
	if (!krpc_bytes_eq(a->t, a->tlen, b->t, b->tlen) ||
	    !krpc_bytes_eq(a->v, a->vlen, b->v, b->vlen))
		return false;
	if (a->has_id != b->has_id || !bt_id_eq(&a->id, &b->id) || a->has_target != b->has_target ||
	    !bt_id_eq(&a->target, &b->target) || a->has_info_hash != b->has_info_hash ||
	    !bt_id_eq(&a->info_hash, &b->info_hash))
		return false;
	if (a->port != b->port || a->implied_port != b->implied_port || a->want != b->want ||
	    !krpc_bytes_eq(a->token, a->token_len, b->token, b->token_len) ||
	    !krpc_bytes_eq(a->nodes, a->nodes_len, b->nodes, b->nodes_len) ||
	    !krpc_bytes_eq(a->nodes6, a->nodes6_len, b->nodes6, b->nodes6_len) ||
	    !krpc_bytes_eq(a->samples, a->samples_len, b->samples, b->samples_len))
		return false;
	if (a->has_values != b->has_values || a->nvalues != b->nvalues ||
	    a->nvalues > BT_DHT__KRPC_MAX_VALUES)
		return false;
	for (unsigned i = 0; i < a->nvalues; i++) {
		if (!krpc_bytes_eq(a->values[i], a->values_len[i], b->values[i], b->values_len[i]))
			return false;
	}
	return a->has_interval == b->has_interval && a->interval == b->interval &&
	       a->has_num == b->has_num && a->num == b->num && a->err_code == b->err_code &&
	       krpc_bytes_eq(a->err_msg, a->err_msg_len, b->err_msg, b->err_msg_len);
}

/* What a parse that failed with E_ARGS / E_ID may leave in @m: its top-level fields only.  The
 * tests' own statement of the rule, kept apart from the parser's. */
static inline bool krpc_only_top_level(const bt_dht__krpc_msg *m)
{
	bt_dht__krpc_msg z;
	memset(&z, 0, sizeof(z));
	z.kind = m->kind;
	z.method = m->method;
	z.t = m->t;
	z.tlen = m->tlen;
	z.v = m->v;
	z.vlen = m->vlen;
	z.ro = m->ro;
	z.has_ip = m->has_ip;
	z.ip = m->ip;
	return krpc_msg_eq(&z, m) && m->values_skipped == 0;
}

#endif
