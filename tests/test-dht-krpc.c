/*
 * test-dht-krpc.c - the KRPC codec of libbtdht (libbtdht/krpc.h) on the BEP examples, on every
 * way a message can be refused, and on encode -> parse round trips.
 *
 * The BEP 5 examples are used byte for byte; where they carry placeholder data that our rules
 * refuse (a 9-byte "nodes"), that refusal is what is tested.  Beyond examples, every proper
 * prefix of every valid message must be refused (bencode is prefix-free, so a cut datagram can
 * never pass), and mutated messages that still parse must survive a round trip unchanged.
 */
#include <check.h>

#include "test-util.h"
#include "krpc-eq.h"
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"
#include "krpc.h"

#define ID_A "abcdefghij0123456789"
#define ID_M "mnopqrstuvwxyz123456"
#define NODE26 "abcdefghijklmnopqrstuvwxyz"
#define NODE38 "abcdefghijklmnopqrstuvwxyz012345678901"
#define TOKEN64 "0123456789012345678901234567890123456789012345678901234567890123"

/* A query with arguments @args (after "id") and method @q (length-prefixed); a response with
 * return values @body (after "id"); an error with list contents @list.  All use "t" = "aa". */
/* Byte-exact messages read best one per line. */
/* clang-format off */
#define QA(q, args) "d1:ad2:id20:" ID_A args "e1:q" q "1:t2:aa1:y1:qe"
#define RA(body) "d1:rd2:id20:" ID_M body "e1:t2:aa1:y1:re"
#define EA(list) "d1:e" list "1:t2:aa1:y1:ee"

#define LIT(s) (const uint8_t *)(s), sizeof(s) - 1

/* BEP 5, verbatim. */
#define BEP5_ERROR "d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee"
#define BEP5_PING_Q "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"
#define BEP5_PING_R "d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re"
#define BEP5_FIND_Q \
	"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node" \
	"1:t2:aa1:y1:qe"
#define BEP5_FIND_R "d1:rd2:id20:0123456789abcdefghij5:nodes9:def456...e1:t2:aa1:y1:re"
#define BEP5_GETP_Q \
	"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers" \
	"1:t2:aa1:y1:qe"
#define BEP5_GETP_R_VALUES \
	"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee" \
	"1:t2:aa1:y1:re"
#define BEP5_GETP_R_NODES \
	"d1:rd2:id20:abcdefghij01234567895:nodes9:def456...5:token8:aoeusnthe1:t2:aa1:y1:re"
#define BEP5_ANNOUNCE_Q \
	"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz123456" \
	"4:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe"
#define BEP5_ANNOUNCE_R "d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re"

/* The BEP 5 find_node response with a real 26-byte node. */
#define FIND_R "d1:rd2:id20:0123456789abcdefghij5:nodes26:" NODE26 "e1:t2:aa1:y1:re"
/* BEP 32 */
#define FIND_Q_WANT QA("9:find_node", "6:target20:" ID_M "4:wantl2:n42:n6e")
#define FIND_R6 RA("5:nodes26:" NODE26 "6:nodes638:" NODE38)
#define GETP_R6 RA("5:token8:aoeusnth6:valuesl18:abcdefghijklmnopqr18:ABCDEFGHIJKLMNOPQRe")
/* BEP 42: the requester seen as 1.2.3.4:6881 and [2001:db8::1]:6881 */
#define IP4_R "d2:ip6:\x01\x02\x03\x04\x1a\xe1" "1:rd2:id20:" ID_M "e1:t2:aa1:y1:re"
#define IP6_R                                                                                      \
	"d2:ip18:\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01\x1a\xe1" "1:rd2:id20:" ID_M            \
	"e1:t2:aa1:y1:re"
/* BEP 43 */
#define RO_Q "d1:ad2:id20:" ID_A "e1:q4:ping2:roi1e1:t2:aa1:v4:LT\x01\x02" "1:y1:qe"
/* BEP 51 */
#define SAMPLE_Q QA("17:sample_infohashes", "6:target20:" ID_M)
#define SAMPLE_R                                                                                   \
	RA("8:intervali21600e5:nodes26:" NODE26 "3:numi1234e7:samples40:ABCDEFGHIJKLMNOPQRST"      \
	   "abcdefghijklmnopqrst")
#define UNKNOWN_Q QA("8:vote_xyz", "6:target20:" ID_M)
#define UNSORTED_Q "d1:y1:q1:t2:aa1:q9:find_node1:ad6:target20:" ID_M "2:id20:" ID_A "ee"
#define UNSORTED_R "d1:y1:r1:t2:aa1:rd5:token2:tk2:id20:" ID_M "6:valuesl6:axje.ueee"

static const struct {
	const char *s;
	size_t n;
} valid_msgs[] = {
#define V(s) {s, sizeof(s) - 1}
	V(BEP5_ERROR),      V(BEP5_PING_Q),  V(BEP5_PING_R), V(BEP5_FIND_Q),   V(BEP5_GETP_Q),
	V(BEP5_GETP_R_VALUES), V(BEP5_ANNOUNCE_Q), V(BEP5_ANNOUNCE_R), V(FIND_R), V(FIND_Q_WANT),
	V(FIND_R6),         V(GETP_R6),      V(IP4_R),       V(IP6_R),         V(RO_Q),
	V(SAMPLE_Q),        V(SAMPLE_R),     V(UNKNOWN_Q),   V(UNSORTED_Q),    V(UNSORTED_R),
#undef V
};
#define NVALID (sizeof(valid_msgs) / sizeof(valid_msgs[0]))
/* clang-format on */

static int parse(bt_dht__krpc_msg *m, const uint8_t *p, size_t n)
{
	return bt_dht__krpc_parse(m, p, n);
}

static bool str_eq(const uint8_t *p, size_t n, const char *s)
{
	return p && n == strlen(s) && memcmp(p, s, n) == 0;
}

static bool all_zero(const bt_dht__krpc_msg *m)
{
	bt_dht__krpc_msg z;
	memset(&z, 0, sizeof(z));
	return krpc_msg_eq(&z, m) && m->values_skipped == 0;
}

/* Encode @m, check the output is canonical bencode, parse it back into @back.  Returns the
 * encoding (heap, caller frees) and its length. */
static uint8_t *roundtrip(const bt_dht__krpc_msg *m, bt_dht__krpc_msg *back, size_t *len)
{
	bt_buf b;
	bt_ben_tok toks[800];
	bt_ben_doc doc;
	bt_buf_init(&b, 0);
	ck_assert_int_eq(bt_dht__krpc_encode(&b, m), 0);
	bt_ben_doc_init(&doc, toks, 800);
	ck_assert_int_eq(bt_ben_decode(&doc, b.data, b.len, 0, NULL), 0);
	ck_assert_int_eq(parse(back, b.data, b.len), BT_DHT__KRPC_OK);
	return bt_buf_steal(&b, len);
}

/* Encode what was parsed from @in and expect exactly @in back (the BEP examples are canonical). */
static void check_reencodes_to(const char *in, size_t n)
{
	bt_dht__krpc_msg m, back;
	size_t len;
	ck_assert_int_eq(parse(&m, (const uint8_t *)in, n), BT_DHT__KRPC_OK);
	uint8_t *out = roundtrip(&m, &back, &len);
	ck_assert_msg(len == n && memcmp(out, in, n) == 0, "re-encoding of %.*s: %.*s", (int)n, in,
	              (int)len, (const char *)out);
	ck_assert(krpc_msg_eq(&m, &back));
	free(out);
}

/* ---- the BEP examples ---- */

START_TEST(test_bep5_ping)
{
	bt_dht__krpc_msg m;
	ck_assert_int_eq(parse(&m, LIT(BEP5_PING_Q)), BT_DHT__KRPC_OK);
	ck_assert_int_eq(m.kind, BT_DHT__KRPC_QUERY);
	ck_assert_int_eq(m.method, BT_DHT__KRPC_M_PING);
	ck_assert(str_eq(m.t, m.tlen, "aa"));
	ck_assert(m.has_id && memcmp(m.id.b, ID_A, 20) == 0);
	ck_assert(!m.has_target && !m.has_info_hash && !m.token && !m.want && !m.v && !m.ro);
	ck_assert(!m.has_ip);

	ck_assert_int_eq(parse(&m, LIT(BEP5_PING_R)), BT_DHT__KRPC_OK);
	ck_assert_int_eq(m.kind, BT_DHT__KRPC_RESPONSE);
	ck_assert_int_eq(m.method, BT_DHT__KRPC_M_NONE);
	ck_assert(m.has_id && memcmp(m.id.b, ID_M, 20) == 0);
	ck_assert(!m.nodes && !m.nodes6 && !m.token && !m.has_values && !m.samples);
	ck_assert(!m.has_interval && !m.has_num);
}
END_TEST

START_TEST(test_bep5_find_node)
{
	bt_dht__krpc_msg m;
	ck_assert_int_eq(parse(&m, LIT(BEP5_FIND_Q)), BT_DHT__KRPC_OK);
	ck_assert_int_eq(m.method, BT_DHT__KRPC_M_FIND_NODE);
	ck_assert(m.has_id && memcmp(m.id.b, ID_A, 20) == 0);
	ck_assert(m.has_target && memcmp(m.target.b, ID_M, 20) == 0);
	ck_assert(!m.want);

	/* BEP 5's example response has a 9-byte placeholder "nodes": not a whole node */
	ck_assert_int_eq(parse(&m, LIT(BEP5_FIND_R)), BT_DHT__KRPC_E_ARGS);
	ck_assert_int_eq(m.kind, BT_DHT__KRPC_RESPONSE);
	ck_assert(str_eq(m.t, m.tlen, "aa"));
	ck_assert(krpc_only_top_level(&m));

	ck_assert_int_eq(parse(&m, LIT(FIND_R)), BT_DHT__KRPC_OK);
	ck_assert(m.has_id && memcmp(m.id.b, "0123456789abcdefghij", 20) == 0);
	ck_assert(m.nodes && m.nodes_len == 26 && memcmp(m.nodes, NODE26, 26) == 0);
	ck_assert(!m.nodes6 && !m.has_values);
}
END_TEST

START_TEST(test_bep5_get_peers)
{
	bt_dht__krpc_msg m;
	ck_assert_int_eq(parse(&m, LIT(BEP5_GETP_Q)), BT_DHT__KRPC_OK);
	ck_assert_int_eq(m.method, BT_DHT__KRPC_M_GET_PEERS);
	ck_assert(m.has_info_hash && memcmp(m.info_hash.b, ID_M, 20) == 0);
	ck_assert(!m.has_target);

	ck_assert_int_eq(parse(&m, LIT(BEP5_GETP_R_VALUES)), BT_DHT__KRPC_OK);
	ck_assert(str_eq(m.token, m.token_len, "aoeusnth"));
	ck_assert(m.has_values);
	ck_assert_uint_eq(m.nvalues, 2);
	ck_assert_uint_eq(m.values_skipped, 0);
	ck_assert(str_eq(m.values[0], m.values_len[0], "axje.u"));
	ck_assert(str_eq(m.values[1], m.values_len[1], "idhtnm"));
	ck_assert(!m.nodes);

	ck_assert_int_eq(parse(&m, LIT(BEP5_GETP_R_NODES)), BT_DHT__KRPC_E_ARGS);
	ck_assert_int_eq(m.kind, BT_DHT__KRPC_RESPONSE);
	ck_assert(str_eq(m.t, m.tlen, "aa"));
	ck_assert(krpc_only_top_level(&m));
}
END_TEST

START_TEST(test_bep5_announce_peer)
{
	bt_dht__krpc_msg m;
	ck_assert_int_eq(parse(&m, LIT(BEP5_ANNOUNCE_Q)), BT_DHT__KRPC_OK);
	ck_assert_int_eq(m.method, BT_DHT__KRPC_M_ANNOUNCE_PEER);
	ck_assert(m.has_info_hash && memcmp(m.info_hash.b, ID_M, 20) == 0);
	ck_assert(m.implied_port);
	ck_assert_uint_eq(m.port, 6881);
	ck_assert(str_eq(m.token, m.token_len, "aoeusnth"));

	ck_assert_int_eq(parse(&m, LIT(BEP5_ANNOUNCE_R)), BT_DHT__KRPC_OK);
	ck_assert_int_eq(m.kind, BT_DHT__KRPC_RESPONSE);
	ck_assert(m.has_id && memcmp(m.id.b, ID_M, 20) == 0);
}
END_TEST

START_TEST(test_bep5_error)
{
	bt_dht__krpc_msg m;
	ck_assert_int_eq(parse(&m, LIT(BEP5_ERROR)), BT_DHT__KRPC_OK);
	ck_assert_int_eq(m.kind, BT_DHT__KRPC_ERROR);
	ck_assert_int_eq(m.method, BT_DHT__KRPC_M_NONE);
	ck_assert(str_eq(m.t, m.tlen, "aa"));
	ck_assert_int_eq(m.err_code, 201);
	ck_assert(str_eq(m.err_msg, m.err_msg_len, "A Generic Error Ocurred"));
	ck_assert(!m.has_id);

	/* the message is optional; a second element of another type is no message */
	ck_assert_int_eq(parse(&m, LIT(EA("li204ee"))), BT_DHT__KRPC_OK);
	ck_assert_int_eq(m.err_code, 204);
	ck_assert(!m.err_msg && m.err_msg_len == 0);
	ck_assert_int_eq(parse(&m, LIT(EA("li202ei5ee"))), BT_DHT__KRPC_OK);
	ck_assert_int_eq(m.err_code, 202);
	ck_assert(!m.err_msg);
	ck_assert_int_eq(parse(&m, LIT(EA("li-3e0:3:xyze"))), BT_DHT__KRPC_OK);
	ck_assert_int_eq(m.err_code, -3);
	ck_assert(m.err_msg && m.err_msg_len == 0);
}
END_TEST

START_TEST(test_bep5_reencode)
{
	/* every valid BEP 5 example is canonical: encoding what was parsed gives it back */
#define REENC(s) check_reencodes_to(s, sizeof(s) - 1)
	REENC(BEP5_ERROR);
	REENC(BEP5_PING_Q);
	REENC(BEP5_PING_R);
	REENC(BEP5_FIND_Q);
	REENC(BEP5_GETP_Q);
	REENC(BEP5_GETP_R_VALUES);
	REENC(BEP5_ANNOUNCE_Q);
	REENC(BEP5_ANNOUNCE_R);
	/* and so are ours, BEP 32 / 42 / 43 / 51 fields included */
	REENC(FIND_R);
	REENC(FIND_Q_WANT);
	REENC(FIND_R6);
	REENC(GETP_R6);
	REENC(IP4_R);
	REENC(IP6_R);
	REENC(RO_Q);
	REENC(SAMPLE_Q);
	REENC(SAMPLE_R);
#undef REENC
}
END_TEST

START_TEST(test_bep32)
{
	bt_dht__krpc_msg m;
	ck_assert_int_eq(parse(&m, LIT(FIND_Q_WANT)), BT_DHT__KRPC_OK);
	ck_assert_uint_eq(m.want, BT_DHT__WANT_N4 | BT_DHT__WANT_N6);
	ck_assert(m.has_target);

	ck_assert_int_eq(parse(&m, LIT(FIND_R6)), BT_DHT__KRPC_OK);
	ck_assert(m.nodes && m.nodes_len == 26);
	ck_assert(m.nodes6 && m.nodes6_len == 38 && memcmp(m.nodes6, NODE38, 38) == 0);

	ck_assert_int_eq(parse(&m, LIT(GETP_R6)), BT_DHT__KRPC_OK);
	ck_assert_uint_eq(m.nvalues, 2);
	ck_assert_uint_eq(m.values_len[0], 18);
	ck_assert(memcmp(m.values[1], "ABCDEFGHIJKLMNOPQR", 18) == 0);
	ck_assert_uint_eq(m.values_skipped, 0);

	/* a get_peers query with want, and nodes6 of two entries */
	ck_assert_int_eq(parse(&m, LIT(QA("9:get_peers", "9:info_hash20:" ID_M "4:wantl2:n6e"))),
	                 0);
	ck_assert_uint_eq(m.want, BT_DHT__WANT_N6);
	ck_assert_int_eq(parse(&m, LIT(RA("6:nodes676:" NODE38 NODE38))), 0);
	ck_assert_uint_eq(m.nodes6_len, 76);
}
END_TEST

START_TEST(test_bep42_bep43)
{
	bt_dht__krpc_msg m;
	char buf[BT_ADDR_STRLEN];
	ck_assert_int_eq(parse(&m, LIT(IP4_R)), BT_DHT__KRPC_OK);
	ck_assert(m.has_ip);
	ck_assert_str_eq(bt_addr_format(&m.ip, buf, sizeof(buf)), "1.2.3.4:6881");
	ck_assert_int_eq(parse(&m, LIT(IP6_R)), BT_DHT__KRPC_OK);
	ck_assert(m.has_ip);
	ck_assert_str_eq(bt_addr_format(&m.ip, buf, sizeof(buf)), "[2001:db8::1]:6881");

	/* "ip" of another size or type is ignored, not fatal */
	ck_assert_int_eq(parse(&m, LIT("d2:ip5:abcde1:rd2:id20:" ID_M "e1:t2:aa1:y1:re")), 0);
	ck_assert(!m.has_ip);
	ck_assert_int_eq(parse(&m, LIT("d2:ip7:abcdefg1:rd2:id20:" ID_M "e1:t2:aa1:y1:re")), 0);
	ck_assert(!m.has_ip);
	ck_assert_int_eq(parse(&m, LIT("d2:ipi5e1:rd2:id20:" ID_M "e1:t2:aa1:y1:re")), 0);
	ck_assert(!m.has_ip);

	ck_assert_int_eq(parse(&m, LIT(RO_Q)), BT_DHT__KRPC_OK);
	ck_assert(m.ro);
	ck_assert(m.v && m.vlen == 4 && memcmp(m.v, "LT\x01\x02", 4) == 0);
	ck_assert_int_eq(parse(&m, LIT("d1:ad2:id20:" ID_A "e1:q4:ping2:roi0e1:t2:aa1:y1:qe")), 0);
	ck_assert(!m.ro);
	ck_assert_int_eq(parse(&m, LIT("d1:ad2:id20:" ID_A "e1:q4:ping2:roi2e1:t2:aa1:y1:qe")), 0);
	ck_assert(!m.ro);
	ck_assert_int_eq(parse(&m, LIT("d1:ad2:id20:" ID_A "e1:q4:ping2:ro1:11:t2:aa1:y1:qe")), 0);
	ck_assert(!m.ro);
	/* "v" of another type is ignored; an empty one is kept */
	ck_assert_int_eq(parse(&m, LIT("d1:ad2:id20:" ID_A "e1:q4:ping1:t2:aa1:vi1e1:y1:qe")), 0);
	ck_assert(!m.v && m.vlen == 0);
	ck_assert_int_eq(parse(&m, LIT("d1:ad2:id20:" ID_A "e1:q4:ping1:t2:aa1:v0:1:y1:qe")), 0);
	ck_assert(m.v && m.vlen == 0);
}
END_TEST

START_TEST(test_bep51)
{
	bt_dht__krpc_msg m;
	ck_assert_int_eq(parse(&m, LIT(SAMPLE_Q)), BT_DHT__KRPC_OK);
	ck_assert_int_eq(m.method, BT_DHT__KRPC_M_SAMPLE_INFOHASHES);
	ck_assert(m.has_target && memcmp(m.target.b, ID_M, 20) == 0);

	ck_assert_int_eq(parse(&m, LIT(SAMPLE_R)), BT_DHT__KRPC_OK);
	ck_assert(m.has_interval && m.interval == 21600);
	ck_assert(m.has_num && m.num == 1234);
	ck_assert(m.samples && m.samples_len == 40);
	ck_assert(memcmp(m.samples, "ABCDEFGHIJKLMNOPQRSTabcdefghijklmnopqrst", 40) == 0);
	ck_assert(m.nodes && m.nodes_len == 26);

	/* an empty sample is a sample (BEP 51: always include it, even empty) */
	ck_assert_int_eq(parse(&m, LIT(RA("8:intervali0e3:numi0e7:samples0:"))), 0);
	ck_assert(m.samples && m.samples_len == 0);
	ck_assert(m.has_interval && m.interval == 0 && m.has_num && m.num == 0);
	ck_assert_int_eq(parse(&m, LIT(RA("7:samples19:ABCDEFGHIJKLMNOPQRS"))),
	                 BT_DHT__KRPC_E_ARGS);
	ck_assert_int_eq(parse(&m, LIT(RA("7:samples21:ABCDEFGHIJKLMNOPQRSTU"))),
	                 BT_DHT__KRPC_E_ARGS);
	ck_assert_int_eq(parse(&m, LIT(RA("7:samplesi0e"))), BT_DHT__KRPC_E_ARGS);
	ck_assert_int_eq(parse(&m, LIT(RA("8:interval2:10"))), BT_DHT__KRPC_E_ARGS);
	ck_assert_int_eq(parse(&m, LIT(RA("3:numle"))), BT_DHT__KRPC_E_ARGS);
	ck_assert_int_eq(m.kind, BT_DHT__KRPC_RESPONSE);
	ck_assert(krpc_only_top_level(&m));
}
END_TEST

START_TEST(test_unknown_method)
{
	bt_dht__krpc_msg m;
	ck_assert_int_eq(parse(&m, LIT(UNKNOWN_Q)), BT_DHT__KRPC_OK);
	ck_assert_int_eq(m.method, BT_DHT__KRPC_M_UNKNOWN);
	ck_assert(m.has_target && memcmp(m.target.b, ID_M, 20) == 0);
	ck_assert(!m.has_info_hash);

	ck_assert_int_eq(parse(&m, LIT(QA("3:get", "9:info_hash20:" ID_M))), 0);
	ck_assert_int_eq(m.method, BT_DHT__KRPC_M_UNKNOWN);
	ck_assert(m.has_info_hash && !m.has_target);

	ck_assert_int_eq(parse(&m, LIT(QA("3:put", "9:info_hash20:" ID_M "6:target20:" ID_A))), 0);
	ck_assert(m.has_info_hash && m.has_target);
	ck_assert(memcmp(m.target.b, ID_A, 20) == 0);

	/* nothing more is required; a malformed target is only ignored */
	ck_assert_int_eq(parse(&m, LIT(QA("3:put", ""))), 0);
	ck_assert(!m.has_info_hash && !m.has_target);
	ck_assert_int_eq(parse(&m, LIT(QA("3:put", "6:target19:mnopqrstuvwxyz12345"))), 0);
	ck_assert(!m.has_target);
	ck_assert_int_eq(parse(&m, LIT(QA("3:put", "9:info_hashi1e"))), 0);
	ck_assert(!m.has_info_hash);
	/* near-misses of known names are unknown; so is the empty name */
	ck_assert_int_eq(parse(&m, LIT(QA("4:Ping", ""))), 0);
	ck_assert_int_eq(m.method, BT_DHT__KRPC_M_UNKNOWN);
	ck_assert_int_eq(parse(&m, LIT(QA("5:ping\0", ""))), 0);
	ck_assert_int_eq(m.method, BT_DHT__KRPC_M_UNKNOWN);
	ck_assert_int_eq(parse(&m, LIT(QA("0:", ""))), 0);
	ck_assert_int_eq(m.method, BT_DHT__KRPC_M_UNKNOWN);
	/* but the id is still required */
	ck_assert_int_eq(parse(&m, LIT("d1:ade1:q3:put1:t2:aa1:y1:qe")), BT_DHT__KRPC_E_ID);
	ck_assert_int_eq(m.method, BT_DHT__KRPC_M_UNKNOWN);
	ck_assert_int_eq(m.kind, BT_DHT__KRPC_QUERY);
	/* and it can be encoded back only once the engine knows what to answer: never as itself */
	ck_assert_int_eq(parse(&m, LIT(UNKNOWN_Q)), 0);
	bt_buf b;
	bt_buf_init(&b, 0);
	ck_assert_int_eq(bt_dht__krpc_encode(&b, &m), BT_DHT__KRPC_E_ARGS);
	ck_assert_uint_eq(b.len, 0);
	bt_buf_free(&b);
}
END_TEST

START_TEST(test_unsorted_and_unknown_keys)
{
	bt_dht__krpc_msg m;
	ck_assert_int_eq(parse(&m, LIT(UNSORTED_Q)), BT_DHT__KRPC_OK);
	ck_assert_int_eq(m.method, BT_DHT__KRPC_M_FIND_NODE);
	ck_assert(m.has_id && memcmp(m.id.b, ID_A, 20) == 0);
	ck_assert(m.has_target && memcmp(m.target.b, ID_M, 20) == 0);
	ck_assert(str_eq(m.t, m.tlen, "aa"));

	ck_assert_int_eq(parse(&m, LIT(UNSORTED_R)), BT_DHT__KRPC_OK);
	ck_assert(str_eq(m.token, m.token_len, "tk"));
	ck_assert_uint_eq(m.nvalues, 1);

	/* unknown keys anywhere, of any type, are ignored */
	ck_assert_int_eq(parse(&m, LIT("d1:ad2:id20:" ID_A "1:xli1ed1:ai2eee1:zde"
	                               "e1:q4:ping1:t2:aa3:zzzli1ee1:y1:q5:~~~~~d1:ale1:bdeee")),
	                 BT_DHT__KRPC_OK);
	ck_assert_int_eq(m.method, BT_DHT__KRPC_M_PING);
	/* lax integers and lengths, as some clients send */
	ck_assert_int_eq(parse(&m, LIT(QA("13:announce_peer",
	                                  "9:info_hash020:" ID_M "4:porti06881e5:token2:tk"))),
	                 BT_DHT__KRPC_OK);
	ck_assert_uint_eq(m.port, 6881);
	/* a repeated key: the first one counts */
	ck_assert_int_eq(parse(&m, LIT("d1:t2:aa1:t2:bb1:y1:r1:rd2:id20:" ID_M "ee")), 0);
	ck_assert(str_eq(m.t, m.tlen, "aa"));
	/* keys of other kinds are not looked at: "r" in a query, "a" in a response */
	ck_assert_int_eq(parse(&m, LIT("d1:ad2:id20:" ID_A "e1:q4:ping1:rde1:t2:aa1:y1:qe")), 0);
	ck_assert_int_eq(m.kind, BT_DHT__KRPC_QUERY);
	ck_assert_int_eq(parse(&m, LIT("d1:ade1:rd2:id20:" ID_M "e1:t2:aa1:y1:re")), 0);
	ck_assert_int_eq(m.kind, BT_DHT__KRPC_RESPONSE);
}
END_TEST

/* ---- refusals ---- */

/* Byte-exact messages read best one per line. */
/* clang-format off */
static const struct {
	const char *s;
	size_t n;
	int rc;
	int kind; /* for E_ARGS / E_ID */
} bad_msgs[] = {
#define B(s, rc, kind) {s, sizeof(s) - 1, rc, kind}
	B("", BT_DHT__KRPC_E_SIZE, 0),
	B("x", BT_DHT__KRPC_E_BENCODE, 0),
	B("i1e", BT_DHT__KRPC_E_BENCODE, 0),
	B("le", BT_DHT__KRPC_E_BENCODE, 0),
	B("4:spam", BT_DHT__KRPC_E_BENCODE, 0),
	B("l1:t2:aa1:y1:qe", BT_DHT__KRPC_E_BENCODE, 0),
	B(BEP5_PING_R "x", BT_DHT__KRPC_E_BENCODE, 0),
	B(BEP5_PING_R "de", BT_DHT__KRPC_E_BENCODE, 0),
	B("d1:t2:aa1:y1:q", BT_DHT__KRPC_E_BENCODE, 0),
	B("d1:t2:aa1:y1:qi1ee", BT_DHT__KRPC_E_BENCODE, 0), /* an integer key */
	B("di1e1:ae", BT_DHT__KRPC_E_BENCODE, 0),
	B("d1:t9999999999999999999999:aa1:y1:qe", BT_DHT__KRPC_E_BENCODE, 0),
	B("d1:ti99999999999999999999e1:y1:qe", BT_DHT__KRPC_E_BENCODE, 0),
	B("d1:y1:qe", BT_DHT__KRPC_E_T, 0),
	B("d1:t0:1:y1:qe", BT_DHT__KRPC_E_T, 0),
	B("d1:ti1e1:y1:qe", BT_DHT__KRPC_E_T, 0),
	B("d1:tle1:y1:qe", BT_DHT__KRPC_E_T, 0),
	B("d1:t33:012345678901234567890123456789012" "1:y1:qe", BT_DHT__KRPC_E_T, 0),
	B("d1:T2:aa1:y1:qe", BT_DHT__KRPC_E_T, 0),
	B("de", BT_DHT__KRPC_E_T, 0),
	B("d1:t2:aae", BT_DHT__KRPC_E_Y, 0),
	B("d1:t2:aa1:y1:xe", BT_DHT__KRPC_E_Y, 0),
	B("d1:t2:aa1:y1:Qe", BT_DHT__KRPC_E_Y, 0),
	B("d1:t2:aa1:y2:qqe", BT_DHT__KRPC_E_Y, 0),
	B("d1:t2:aa1:y0:e", BT_DHT__KRPC_E_Y, 0),
	B("d1:t2:aa1:yi1ee", BT_DHT__KRPC_E_Y, 0),
	B("d1:t2:aa1:yl1:qee", BT_DHT__KRPC_E_Y, 0),
	/* queries */
	B("d1:ad2:id20:" ID_A "e1:t2:aa1:y1:qe", BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_QUERY),
	B("d1:ad2:id20:" ID_A "e1:qi1e1:t2:aa1:y1:qe", BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_QUERY),
	B("d1:ad2:id20:" ID_A "e1:qle1:t2:aa1:y1:qe", BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_QUERY),
	B("d1:q4:ping1:t2:aa1:y1:qe", BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_QUERY),
	B("d1:al2:id20:" ID_A "e1:q4:ping1:t2:aa1:y1:qe", BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_QUERY),
	B("d1:a2:id1:q4:ping1:t2:aa1:y1:qe", BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_QUERY),
	B("d1:ai1e1:q4:ping1:t2:aa1:y1:qe", BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_QUERY),
	B("d1:ade1:q4:ping1:t2:aa1:y1:qe", BT_DHT__KRPC_E_ID, BT_DHT__KRPC_QUERY),
	B("d1:ad2:id19:abcdefghij012345678e1:q4:ping1:t2:aa1:y1:qe", BT_DHT__KRPC_E_ID,
	  BT_DHT__KRPC_QUERY),
	B("d1:ad2:id21:abcdefghij0123456789Xe1:q4:ping1:t2:aa1:y1:qe", BT_DHT__KRPC_E_ID,
	  BT_DHT__KRPC_QUERY),
	B("d1:ad2:idi1ee1:q4:ping1:t2:aa1:y1:qe", BT_DHT__KRPC_E_ID, BT_DHT__KRPC_QUERY),
	B("d1:ad2:ID20:" ID_A "e1:q4:ping1:t2:aa1:y1:qe", BT_DHT__KRPC_E_ID, BT_DHT__KRPC_QUERY),
	B(QA("9:find_node", ""), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_QUERY),
	B(QA("9:find_node", "6:target19:mnopqrstuvwxyz12345"), BT_DHT__KRPC_E_ARGS,
	  BT_DHT__KRPC_QUERY),
	B(QA("9:find_node", "6:target21:mnopqrstuvwxyz123456X"), BT_DHT__KRPC_E_ARGS,
	  BT_DHT__KRPC_QUERY),
	B(QA("9:find_node", "6:targeti1e"), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_QUERY),
	B(QA("9:find_node", "9:info_hash20:" ID_M), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_QUERY),
	B(QA("17:sample_infohashes", ""), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_QUERY),
	B(QA("17:sample_infohashes", "6:target19:mnopqrstuvwxyz12345"), BT_DHT__KRPC_E_ARGS,
	  BT_DHT__KRPC_QUERY),
	B(QA("9:get_peers", ""), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_QUERY),
	B(QA("9:get_peers", "6:target20:" ID_M), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_QUERY),
	B(QA("9:get_peers", "9:info_hash19:mnopqrstuvwxyz12345"), BT_DHT__KRPC_E_ARGS,
	  BT_DHT__KRPC_QUERY),
	B(QA("9:get_peers", "9:info_hash21:mnopqrstuvwxyz123456X"), BT_DHT__KRPC_E_ARGS,
	  BT_DHT__KRPC_QUERY),
	B(QA("9:get_peers", "9:info_hashd1:xi1ee"), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_QUERY),
	/* responses */
	B("d1:t2:aa1:y1:re", BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_RESPONSE),
	B("d1:rl2:id20:" ID_M "e1:t2:aa1:y1:re", BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_RESPONSE),
	B("d1:r20:" ID_M "1:t2:aa1:y1:re", BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_RESPONSE),
	B("d1:rde1:t2:aa1:y1:re", BT_DHT__KRPC_E_ID, BT_DHT__KRPC_RESPONSE),
	B("d1:rd2:id19:mnopqrstuvwxyz12345e1:t2:aa1:y1:re", BT_DHT__KRPC_E_ID,
	  BT_DHT__KRPC_RESPONSE),
	B("d1:rd2:id21:mnopqrstuvwxyz123456Xe1:t2:aa1:y1:re", BT_DHT__KRPC_E_ID,
	  BT_DHT__KRPC_RESPONSE),
	B("d1:rd2:idlee1:t2:aa1:y1:re", BT_DHT__KRPC_E_ID, BT_DHT__KRPC_RESPONSE),
	B(RA("5:nodes25:abcdefghijklmnopqrstuvwxy"), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_RESPONSE),
	B(RA("5:nodes27:" NODE26 "X"), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_RESPONSE),
	B(RA("5:nodes51:" NODE26 "abcdefghijklmnopqrstuvwxy"), BT_DHT__KRPC_E_ARGS,
	  BT_DHT__KRPC_RESPONSE),
	B(RA("5:nodesi0e"), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_RESPONSE),
	B(RA("5:nodesl26:" NODE26 "e"), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_RESPONSE),
	B(RA("6:nodes626:" NODE26), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_RESPONSE),
	B(RA("6:nodes639:" NODE38 "X"), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_RESPONSE),
	B(RA("6:nodes6de"), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_RESPONSE),
	B(RA("5:token65:" TOKEN64 "X"),
	  BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_RESPONSE),
	B(RA("5:tokeni1e"), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_RESPONSE),
	B(RA("6:values6:axje.u"), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_RESPONSE),
	B(RA("6:valuesd6:axje.u6:idhtnme"), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_RESPONSE),
	B(RA("6:valuesi0e"), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_RESPONSE),
	/* errors */
	B("d1:t2:aa1:y1:ee", BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_ERROR),
	B(EA("de"), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_ERROR),
	B(EA("le"), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_ERROR),
	B(EA("i201e"), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_ERROR),
	B(EA("3:abc"), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_ERROR),
	B(EA("l3:abci201ee"), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_ERROR),
	B(EA("lli201eee"), BT_DHT__KRPC_E_ARGS, BT_DHT__KRPC_ERROR),
#undef B
};
/* clang-format on */

START_TEST(test_refusals)
{
	for (size_t i = 0; i < sizeof(bad_msgs) / sizeof(bad_msgs[0]); i++) {
		bt_dht__krpc_msg m;
		int rc = parse(&m, (const uint8_t *)bad_msgs[i].s, bad_msgs[i].n);
		ck_assert_msg(rc == bad_msgs[i].rc, "#%zu %.*s: got %d, want %d", i,
		              (int)bad_msgs[i].n, bad_msgs[i].s, rc, bad_msgs[i].rc);
		if (rc == BT_DHT__KRPC_E_ARGS || rc == BT_DHT__KRPC_E_ID) {
			/* enough for the engine to reply 203 */
			ck_assert_msg((int)m.kind == bad_msgs[i].kind, "#%zu: kind %d", i, m.kind);
			ck_assert(str_eq(m.t, m.tlen, "aa"));
			ck_assert_msg(krpc_only_top_level(&m), "#%zu: body not cleared", i);
		} else {
			ck_assert_msg(all_zero(&m), "#%zu: fields set after %d", i, rc);
		}
	}
}
END_TEST

START_TEST(test_failed_query_keeps_top_level)
{
	bt_dht__krpc_msg m;
	/* the method and the top level survive a bad argument; the arguments do not */
	ck_assert_int_eq(
	    parse(&m, LIT("d1:ad2:id20:" ID_A "6:target19:mnopqrstuvwxyz123454:wantl2:n4ee"
	                  "2:ip6:\x01\x02\x03\x04\x1a\xe1"
	                  "1:q9:find_node2:roi1e1:t3:xyz1:v2:UT1:y1:qe")),
	    BT_DHT__KRPC_E_ARGS);
	ck_assert_int_eq(m.kind, BT_DHT__KRPC_QUERY);
	ck_assert_int_eq(m.method, BT_DHT__KRPC_M_FIND_NODE);
	ck_assert(str_eq(m.t, m.tlen, "xyz"));
	ck_assert(str_eq(m.v, m.vlen, "UT"));
	ck_assert(m.ro && m.has_ip && m.ip.port == 6881);
	ck_assert(!m.has_id && !m.want && !m.has_target);
	ck_assert(krpc_only_top_level(&m));

	/* values parsed before a later bad key are forgotten too */
	ck_assert_int_eq(parse(&m, LIT(RA("6:valuesl6:axje.ue5:nodes3:abc"))), BT_DHT__KRPC_E_ARGS);
	ck_assert(!m.has_values && m.nvalues == 0 && !m.values[0]);
}
END_TEST

START_TEST(test_t_bounds)
{
	bt_dht__krpc_msg m;
	ck_assert_int_eq(parse(&m, LIT("d1:ad2:id20:" ID_A "e1:q4:ping1:t1:\0"
	                               "1:y1:qe")),
	                 0);
	ck_assert(m.tlen == 1 && m.t[0] == 0);
	ck_assert_int_eq(parse(&m, LIT("d1:ad2:id20:" ID_A "e1:q4:ping1:t32:"
	                               "01234567890123456789012345678901"
	                               "1:y1:qe")),
	                 0);
	ck_assert_uint_eq(m.tlen, 32);
}
END_TEST

/* announce_peer with the arguments after "id"; lengths are written out in each literal. */
#define ANN(args) QA("13:announce_peer", args)
#define IH "9:info_hash20:" ID_M
#define TK "5:token2:tk"

START_TEST(test_announce_ports)
{
	/* clang-format off */
	static const struct {
		const char *s;
		size_t n;
		int rc;
		unsigned port;
		bool implied;
	} cases[] = {
#define A(args, rc, port, implied) {ANN(args), sizeof(ANN(args)) - 1, rc, port, implied}
		A(IH "4:porti6881e" TK, 0, 6881, false),
		A(IH "4:porti1e" TK, 0, 1, false),
		A(IH "4:porti65535e" TK, 0, 65535, false),
		A(IH "4:porti0e" TK, BT_DHT__KRPC_E_ARGS, 0, false),
		A(IH "4:porti65536e" TK, BT_DHT__KRPC_E_ARGS, 0, false),
		A(IH "4:porti-1e" TK, BT_DHT__KRPC_E_ARGS, 0, false),
		A(IH "4:porti-9223372036854775808e" TK, BT_DHT__KRPC_E_ARGS, 0, false),
		A(IH "4:porti4294973177e" TK, BT_DHT__KRPC_E_ARGS, 0, false), /* 6881 + 2^32 */
		A(IH "4:port4:6881" TK, BT_DHT__KRPC_E_ARGS, 0, false),
		A(IH TK, BT_DHT__KRPC_E_ARGS, 0, false),
		/* implied_port: the source port counts, "port" may be absent, 0 or bad */
		A("12:implied_porti1e" IH TK, 0, 0, true),
		A("12:implied_porti1e" IH "4:porti0e" TK, 0, 0, true),
		A("12:implied_porti1e" IH "4:porti65536e" TK, 0, 0, true),
		A("12:implied_porti1e" IH "4:port1:x" TK, 0, 0, true),
		A("12:implied_porti1e" IH "4:porti6881e" TK, 0, 6881, true),
		A("12:implied_porti2e" IH TK, 0, 0, true), /* BEP 5: "non-zero" */
		A("12:implied_porti0e" IH TK, BT_DHT__KRPC_E_ARGS, 0, false),
		A("12:implied_porti0e" IH "4:porti6881e" TK, 0, 6881, false),
		A("12:implied_port1:1" IH TK, BT_DHT__KRPC_E_ARGS, 0, false),
		/* token: 1..64 bytes */
		A(IH "4:porti6881e", BT_DHT__KRPC_E_ARGS, 0, false),
		A(IH "4:porti6881e5:token0:", BT_DHT__KRPC_E_ARGS, 0, false),
		A(IH "4:porti6881e5:tokeni1e", BT_DHT__KRPC_E_ARGS, 0, false),
		A(IH "4:porti6881e5:token64:" TOKEN64, 0, 6881, false),
		A(IH "4:porti6881e5:token65:" TOKEN64 "X", BT_DHT__KRPC_E_ARGS, 0, false),
		/* info_hash */
		A("4:porti6881e" TK, BT_DHT__KRPC_E_ARGS, 0, false),
		A("9:info_hash19:mnopqrstuvwxyz123454:porti1e" TK, BT_DHT__KRPC_E_ARGS, 0, false),
#undef A
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bt_dht__krpc_msg m;
		int rc = parse(&m, (const uint8_t *)cases[i].s, cases[i].n);
		ck_assert_msg(rc == cases[i].rc, "#%zu %.*s: got %d", i, (int)cases[i].n,
		              cases[i].s, rc);
		ck_assert_int_eq(m.method, BT_DHT__KRPC_M_ANNOUNCE_PEER);
		if (rc == 0) {
			ck_assert_msg(m.port == cases[i].port, "#%zu: port %u", i, m.port);
			ck_assert(m.implied_port == cases[i].implied);
			ck_assert(m.has_info_hash && m.token && m.token_len >= 1);
		} else {
			ck_assert(krpc_only_top_level(&m));
		}
	}
}
END_TEST

START_TEST(test_want)
{
	/* clang-format off */
	static const struct {
		const char *s;
		size_t n;
		unsigned want;
	} cases[] = {
#define W(args, want) {QA("9:find_node", "6:target20:" ID_M args),                                 \
	               sizeof(QA("9:find_node", "6:target20:" ID_M args)) - 1, want}
		W("", 0),
		W("4:wantle", 0),
		W("4:wantl2:n4e", BT_DHT__WANT_N4),
		W("4:wantl2:n6e", BT_DHT__WANT_N6),
		W("4:wantl2:n62:n4e", BT_DHT__WANT_N4 | BT_DHT__WANT_N6),
		W("4:wantl2:n42:n42:n4e", BT_DHT__WANT_N4),
		W("4:wantl2:n82:xx0:3:n4xe", 0),
		W("4:wantl2:N42:n5e", 0),
		W("4:wantli4e2:n6l2:n4ed2:n4i1eee", BT_DHT__WANT_N6),
		W("4:want2:n4", 0),
		W("4:wanti3e", 0),
		W("4:wantd2:n4i1ee", 0),
#undef W
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bt_dht__krpc_msg m;
		ck_assert_int_eq(parse(&m, (const uint8_t *)cases[i].s, cases[i].n), 0);
		ck_assert_msg(m.want == cases[i].want, "#%zu: want %u", i, m.want);
	}
	/* want is read in every query, get_peers and unknown ones included */
	bt_dht__krpc_msg m;
	ck_assert_int_eq(parse(&m, LIT(QA("3:foo", "4:wantl2:n6e"))), 0);
	ck_assert_uint_eq(m.want, BT_DHT__WANT_N6);
}
END_TEST

START_TEST(test_values)
{
	bt_dht__krpc_msg m;
	/* sizes other than 6 and 18, and values that are not strings, are skipped and counted */
	ck_assert_int_eq(
	    parse(&m, LIT(RA("6:valuesl5:abcde6:axje.u7:abcdefg0:i6e17:abcdefghijklmnopq"
	                     "18:abcdefghijklmnopqr19:abcdefghijklmnopqrsl6:axje.ue"
	                     "d1:a6:axje.ue6:idhtnme"))),
	    BT_DHT__KRPC_OK);
	ck_assert(m.has_values);
	ck_assert_uint_eq(m.nvalues, 3);
	ck_assert_uint_eq(m.values_skipped, 8);
	ck_assert(str_eq(m.values[0], m.values_len[0], "axje.u"));
	ck_assert(str_eq(m.values[1], m.values_len[1], "abcdefghijklmnopqr"));
	ck_assert(str_eq(m.values[2], m.values_len[2], "idhtnm"));

	/* present but empty */
	ck_assert_int_eq(parse(&m, LIT(RA("6:valuesle"))), BT_DHT__KRPC_OK);
	ck_assert(m.has_values && m.nvalues == 0 && m.values_skipped == 0);
	/* all bad */
	ck_assert_int_eq(parse(&m, LIT(RA("6:valuesl0:0:i1elee"))), BT_DHT__KRPC_OK);
	ck_assert(m.has_values && m.nvalues == 0 && m.values_skipped == 4);

	/* more than MAX_VALUES: the first 128 are kept, the rest counted */
	static const unsigned totals[] = {127, 128, 129, 160};
	for (size_t t = 0; t < sizeof(totals) / sizeof(totals[0]); t++) {
		unsigned total = totals[t];
		char pkt[BT_DHT__KRPC_MAX_PACKET];
		int n = snprintf(pkt, sizeof(pkt), "d1:rd2:id20:%s6:valuesl", ID_M);
		for (unsigned i = 0; i < total; i++) {
			/* a distinct peer per entry: 10.0.i>>8.i:port */
			n += snprintf(pkt + n, sizeof(pkt) - (size_t)n, "6:");
			pkt[n++] = 10;
			pkt[n++] = 0;
			pkt[n++] = (char)(i >> 8);
			pkt[n++] = (char)i;
			pkt[n++] = 0x1a;
			pkt[n++] = (char)0xe1;
		}
		n += snprintf(pkt + n, sizeof(pkt) - (size_t)n, "ee1:t2:aa1:y1:re");
		ck_assert_int_le(n, BT_DHT__KRPC_MAX_PACKET);
		ck_assert_int_eq(parse(&m, (const uint8_t *)pkt, (size_t)n), BT_DHT__KRPC_OK);
		unsigned kept = total < BT_DHT__KRPC_MAX_VALUES ? total : BT_DHT__KRPC_MAX_VALUES;
		ck_assert_uint_eq(m.nvalues, kept);
		ck_assert_uint_eq(m.values_skipped, total - kept);
		for (unsigned i = 0; i < kept; i++) {
			ck_assert_uint_eq(m.values_len[i], 6);
			ck_assert_uint_eq(m.values[i][3], (uint8_t)i);
		}
	}

	/* the most entries a packet can hold: all empty, all skipped, no allocation */
	char pkt[BT_DHT__KRPC_MAX_PACKET];
	int n = snprintf(pkt, sizeof(pkt), "d1:rd2:id20:%s6:valuesl", ID_M);
	const char *tail = "ee1:t2:aa1:y1:re";
	unsigned count = 0;
	while ((size_t)n + 2 + strlen(tail) <= sizeof(pkt)) {
		memcpy(pkt + n, "0:", 2);
		n += 2;
		count++;
	}
	memcpy(pkt + n, tail, strlen(tail));
	n += (int)strlen(tail);
	ck_assert_int_eq(parse(&m, (const uint8_t *)pkt, (size_t)n), BT_DHT__KRPC_OK);
	ck_assert_uint_eq(m.nvalues, 0);
	ck_assert_uint_eq(m.values_skipped, count);
	ck_assert_uint_gt(count, 700);
}
END_TEST

START_TEST(test_response_fields)
{
	bt_dht__krpc_msg m;
	/* nodes: any whole number of entries, zero included */
	ck_assert_int_eq(parse(&m, LIT(RA("5:nodes0:"))), 0);
	ck_assert(m.nodes && m.nodes_len == 0);
	ck_assert_int_eq(parse(&m, LIT(RA("5:nodes52:" NODE26 NODE26))), 0);
	ck_assert_uint_eq(m.nodes_len, 52);
	ck_assert_int_eq(parse(&m, LIT(RA("6:nodes60:"))), 0);
	ck_assert(m.nodes6 && m.nodes6_len == 0 && !m.nodes);
	/* token: 0..64 bytes in a response */
	ck_assert_int_eq(parse(&m, LIT(RA("5:token0:"))), 0);
	ck_assert(m.token && m.token_len == 0);
	ck_assert_int_eq(parse(&m, LIT(RA("5:token64:" TOKEN64))), 0);
	ck_assert_uint_eq(m.token_len, 64);
	/* interval / num: any integer, kept as sent */
	ck_assert_int_eq(parse(&m, LIT(RA("8:intervali-5e3:numi9223372036854775807e"))), 0);
	ck_assert(m.has_interval && m.interval == -5);
	ck_assert(m.has_num && m.num == INT64_MAX);
	/* "a"-only fields in "r" are not looked at */
	ck_assert_int_eq(parse(&m, LIT(RA("6:target20:" ID_A "4:porti1e4:wantl2:n4e"))), 0);
	ck_assert(!m.has_target && m.port == 0 && m.want == 0);
}
END_TEST

START_TEST(test_sizes)
{
	bt_dht__krpc_msg m;
	static uint8_t pkt[70000];
	/* a ping padded through "v" to exactly MAX_PACKET bytes, then one more */
	const char *head = "d1:ad2:id20:" ID_A "e1:q4:ping1:t2:aa1:v";
	const char *tail = "1:y1:qe";
	for (size_t total = BT_DHT__KRPC_MAX_PACKET; total <= BT_DHT__KRPC_MAX_PACKET + 1;
	     total++) {
		size_t fixed = strlen(head) + strlen(tail) + 5; /* "NNNN:" */
		size_t vlen = total - fixed;
		int n = snprintf((char *)pkt, sizeof(pkt), "%s%04zu:", head, vlen);
		memset(pkt + n, 'x', vlen);
		memcpy(pkt + n + vlen, tail, strlen(tail));
		ck_assert_uint_eq((size_t)n + vlen + strlen(tail), total);
		int want = total <= BT_DHT__KRPC_MAX_PACKET ? BT_DHT__KRPC_OK : BT_DHT__KRPC_E_SIZE;
		ck_assert_int_eq(parse(&m, pkt, total), want);
		if (want == 0)
			ck_assert_uint_eq(m.vlen, vlen);
		else
			ck_assert(all_zero(&m));
	}
	/* a huge buffer is refused by size alone, before any of it is read */
	memset(pkt, 'd', sizeof(pkt));
	ck_assert_int_eq(parse(&m, pkt, sizeof(pkt)), BT_DHT__KRPC_E_SIZE);
	ck_assert_int_eq(parse(&m, pkt, SIZE_MAX), BT_DHT__KRPC_E_SIZE);
	ck_assert_int_eq(parse(&m, NULL, 0), BT_DHT__KRPC_E_SIZE);
	/* deep nesting in an ignored key is refused by the decoder's depth limit, not the stack */
	size_t n = 0;
	n += (size_t)snprintf((char *)pkt, sizeof(pkt), "d1:t2:aa1:y1:r1:x");
	for (int i = 0; i < 600; i++)
		pkt[n++] = 'l';
	for (int i = 0; i < 600; i++)
		pkt[n++] = 'e';
	pkt[n++] = 'e';
	ck_assert_int_eq(parse(&m, pkt, n), BT_DHT__KRPC_E_BENCODE);
	/* the most values a packet can hold (every value takes two bytes or more) fit the parser's
	 * token array: an error with ~740 empty lists in an ignored key */
	n = (size_t)snprintf((char *)pkt, sizeof(pkt), "d1:eli201ee1:t2:aa1:y1:e1:xl");
	while (n + 2 + 2 <= BT_DHT__KRPC_MAX_PACKET) {
		pkt[n++] = 'l';
		pkt[n++] = 'e';
	}
	pkt[n++] = 'e';
	pkt[n++] = 'e';
	ck_assert_int_eq(parse(&m, pkt, n), BT_DHT__KRPC_OK);
	ck_assert_int_eq(m.err_code, 201);
	/* the same shape as a bare list is not a message */
	ck_assert_int_eq(parse(&m, pkt + n - 2 - 2 * 700, 2 + 2 * 700), BT_DHT__KRPC_E_BENCODE);
}
END_TEST

START_TEST(test_truncation)
{
	/* every proper prefix of every valid message is refused: empty by size, the rest as bad
	 * bencode (a prefix of a dictionary is never a whole value) */
	for (size_t i = 0; i < NVALID; i++) {
		const uint8_t *s = (const uint8_t *)valid_msgs[i].s;
		size_t len = valid_msgs[i].n;
		bt_dht__krpc_msg m;
		ck_assert_msg(parse(&m, s, len) == 0, "valid #%zu does not parse", i);
		for (size_t cut = 0; cut < len; cut++) {
			/* an exact-size heap copy, so a read past the cut is caught by
			 * ASan/valgrind */
			uint8_t *p = malloc(cut ? cut : 1);
			ck_assert_ptr_nonnull(p);
			memcpy(p, s, cut);
			int rc = parse(&m, p, cut);
			free(p);
			ck_assert_msg(rc == (cut ? BT_DHT__KRPC_E_BENCODE : BT_DHT__KRPC_E_SIZE),
			              "valid #%zu cut at %zu: %d", i, cut, rc);
			ck_assert(all_zero(&m));
		}
	}
}
END_TEST

/* ---- encoding ---- */

/* clang-format off */
static const uint8_t peers[][18] = {
	{10, 0, 0, 1, 0x1a, 0xe1},
	{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1a, 0xe1},
};
/* clang-format on */

static void base(bt_dht__krpc_msg *m, bt_dht__krpc_kind kind)
{
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->t = (const uint8_t *)"\x00\xff";
	m->tlen = 2;
	m->has_id = kind != BT_DHT__KRPC_ERROR;
	if (m->has_id)
		memcpy(m->id.b, ID_A, 20);
}

static void with_top(bt_dht__krpc_msg *m, int family)
{
	m->v = (const uint8_t *)"BS\x00\x01";
	m->vlen = 4;
	m->ro = true;
	m->has_ip = true;
	bt_addr_from_compact(&m->ip, peers[family == 6], family == 6 ? 18 : 6);
}

static void check_roundtrip(const bt_dht__krpc_msg *m)
{
	bt_dht__krpc_msg back;
	size_t len;
	uint8_t *out = roundtrip(m, &back, &len);
	ck_assert_msg(krpc_msg_eq(m, &back), "round trip changed %.*s", (int)len,
	              (const char *)out);
	ck_assert_uint_eq(back.values_skipped, 0);
	free(out);
}

START_TEST(test_roundtrip_queries)
{
	bt_dht__krpc_msg m;
	for (int top = 0; top < 3; top++) {
		base(&m, BT_DHT__KRPC_QUERY);
		m.method = BT_DHT__KRPC_M_PING;
		if (top)
			with_top(&m, top == 1 ? 4 : 6);
		check_roundtrip(&m);

		for (unsigned want = 0; want < 4; want++) {
			base(&m, BT_DHT__KRPC_QUERY);
			if (top)
				with_top(&m, top == 1 ? 4 : 6);
			m.want = want;
			m.method = BT_DHT__KRPC_M_FIND_NODE;
			m.has_target = true;
			memcpy(m.target.b, ID_M, 20);
			check_roundtrip(&m);
			m.method = BT_DHT__KRPC_M_SAMPLE_INFOHASHES;
			check_roundtrip(&m);
			m.has_target = false;
			memset(&m.target, 0, sizeof(m.target));
			m.method = BT_DHT__KRPC_M_GET_PEERS;
			m.has_info_hash = true;
			memcpy(m.info_hash.b,
			       "\0\1\2\3\4\5\6\7\10\11\12\13\14\15\16\17\20\21\22\23", 20);
			check_roundtrip(&m);
		}

		base(&m, BT_DHT__KRPC_QUERY);
		if (top)
			with_top(&m, top == 1 ? 4 : 6);
		m.method = BT_DHT__KRPC_M_ANNOUNCE_PEER;
		m.has_info_hash = true;
		memcpy(m.info_hash.b, ID_M, 20);
		m.token = (const uint8_t *)"\x01";
		m.token_len = 1;
		m.port = 65535;
		check_roundtrip(&m);
		m.implied_port = true;
		check_roundtrip(&m);
		m.port = 0;
		m.token = (const uint8_t *)TOKEN64;
		m.token_len = 64;
		check_roundtrip(&m);
	}
}
END_TEST

START_TEST(test_roundtrip_responses)
{
	static uint8_t nodes[8 * 26], nodes6[8 * 38], samples[20 * 20];
	bt_dht__krpc_msg m;
	for (size_t i = 0; i < sizeof(nodes); i++)
		nodes[i] = (uint8_t)(i * 7);
	for (size_t i = 0; i < sizeof(nodes6); i++)
		nodes6[i] = (uint8_t)(i * 13);
	for (size_t i = 0; i < sizeof(samples); i++)
		samples[i] = (uint8_t)(i * 3);

	for (int top = 0; top < 3; top++) {
		base(&m, BT_DHT__KRPC_RESPONSE);
		if (top)
			with_top(&m, top == 1 ? 4 : 6);
		check_roundtrip(&m);

		/* find_node / get_peers with everything */
		m.nodes = nodes;
		m.nodes_len = sizeof(nodes);
		m.nodes6 = nodes6;
		m.nodes6_len = sizeof(nodes6);
		m.token = (const uint8_t *)"tok\0en";
		m.token_len = 6;
		check_roundtrip(&m);
		m.has_values = true;
		check_roundtrip(&m); /* present and empty */
		/* 128 values of both sizes, within a datagram */
		m.nodes = NULL;
		m.nodes_len = 0;
		m.nodes6 = NULL;
		m.nodes6_len = 0;
		for (unsigned i = 0; i < BT_DHT__KRPC_MAX_VALUES; i++) {
			m.values[i] = peers[i % 16 == 1];
			m.values_len[i] = i % 16 == 1 ? 18 : 6;
		}
		m.nvalues = BT_DHT__KRPC_MAX_VALUES;
		check_roundtrip(&m);
		m.has_values = false; /* nvalues alone writes the list */
		m.nvalues = 2;
		bt_dht__krpc_msg back;
		size_t len;
		free(roundtrip(&m, &back, &len));
		ck_assert(back.has_values && back.nvalues == 2);

		/* sample_infohashes */
		base(&m, BT_DHT__KRPC_RESPONSE);
		if (top)
			with_top(&m, top == 1 ? 4 : 6);
		m.has_interval = true;
		m.interval = 21600;
		m.has_num = true;
		m.num = INT64_MIN;
		m.samples = samples;
		m.samples_len = sizeof(samples);
		m.nodes = nodes;
		m.nodes_len = 26;
		check_roundtrip(&m);
		m.samples_len = 0;
		m.nodes_len = 0;
		m.interval = 0;
		m.num = 0;
		check_roundtrip(&m);
		/* a token of zero bytes is a token */
		m.token = (const uint8_t *)"";
		m.token_len = 0;
		check_roundtrip(&m);
	}
}
END_TEST

START_TEST(test_roundtrip_errors)
{
	bt_dht__krpc_msg m;
	for (int top = 0; top < 3; top++) {
		base(&m, BT_DHT__KRPC_ERROR);
		if (top)
			with_top(&m, top == 1 ? 4 : 6);
		m.err_code = 203;
		check_roundtrip(&m);
		m.err_msg = (const uint8_t *)"Protocol Error";
		m.err_msg_len = 14;
		check_roundtrip(&m);
		m.err_msg_len = 0;
		check_roundtrip(&m);
		m.err_code = INT64_MIN;
		check_roundtrip(&m);
		m.err_code = -1;
		check_roundtrip(&m);
	}
}
END_TEST

START_TEST(test_encode_exact)
{
	bt_dht__krpc_msg m;
	bt_buf b;
	bt_buf_init(&b, 0);
	base(&m, BT_DHT__KRPC_ERROR);
	m.t = (const uint8_t *)"aa";
	m.err_code = 201;
	m.err_msg = (const uint8_t *)"A Generic Error Ocurred";
	m.err_msg_len = 23;
	ck_assert_int_eq(bt_dht__krpc_encode(&b, &m), 0);
	ck_assert(b.len == sizeof(BEP5_ERROR) - 1 && memcmp(b.data, BEP5_ERROR, b.len) == 0);

	/* appends, every top-level key in order */
	size_t before = b.len;
	base(&m, BT_DHT__KRPC_QUERY);
	m.t = (const uint8_t *)"aa";
	m.method = BT_DHT__KRPC_M_GET_PEERS;
	m.has_info_hash = true;
	memcpy(m.info_hash.b, ID_M, 20);
	m.want = BT_DHT__WANT_N6 | BT_DHT__WANT_N4;
	m.ro = true;
	m.v = (const uint8_t *)"LT01";
	m.vlen = 4;
	m.has_ip = true;
	bt_addr_from_compact(&m.ip, (const uint8_t *)"\x01\x02\x03\x04\x1a\xe1", 6);
	ck_assert_int_eq(bt_dht__krpc_encode(&b, &m), 0);
	static const char want[] = "d1:ad2:id20:" ID_A "9:info_hash20:" ID_M "4:wantl2:n42:n6ee"
	                           "2:ip6:\x01\x02\x03\x04\x1a\xe1"
	                           "1:q9:get_peers2:roi1e1:t2:aa"
	                           "1:v4:LT011:y1:qe";
	ck_assert_uint_eq(b.len - before, sizeof(want) - 1);
	ck_assert(memcmp(b.data + before, want, sizeof(want) - 1) == 0);
	bt_buf_free(&b);
}
END_TEST

START_TEST(test_encode_incomplete)
{
	bt_dht__krpc_msg good[3], m;
	uint8_t mem[2048];
	bt_buf b;

	base(&good[0], BT_DHT__KRPC_QUERY);
	good[0].method = BT_DHT__KRPC_M_ANNOUNCE_PEER;
	good[0].has_info_hash = true;
	good[0].token = (const uint8_t *)"tk";
	good[0].token_len = 2;
	good[0].port = 6881;
	base(&good[1], BT_DHT__KRPC_RESPONSE);
	base(&good[2], BT_DHT__KRPC_ERROR);
	good[2].err_code = 201;

	bt_buf_init_fixed(&b, mem, sizeof(mem));
	bt_buf_append(&b, "xyz", 3);
	for (int g = 0; g < 3; g++) {
		ck_assert_int_eq(bt_dht__krpc_encode(&b, &good[g]), 0);
		b.len = 3;
	}
	memset(mem + 3, 0xa5, sizeof(mem) - 3);

	enum { Q = 1, R = 2, E = 4, ALL = 7 };
#define BAD(kinds, mod)                                                                            \
	do {                                                                                       \
		for (int g = 0; g < 3; g++) {                                                      \
			if (!((kinds) & (1 << g)))                                                 \
				continue;                                                          \
			m = good[g];                                                               \
			mod;                                                                       \
			ck_assert_msg(bt_dht__krpc_encode(&b, &m) == BT_DHT__KRPC_E_ARGS,          \
			              "%s (kind %d) encoded", #mod, g + 1);                        \
			ck_assert_uint_eq(b.len, 3);                                               \
			ck_assert_int_eq(b.err, 0);                                                \
			ck_assert_uint_eq(mem[3], 0xa5);                                           \
		}                                                                                  \
	} while (0)
	BAD(ALL, m.t = NULL);
	BAD(ALL, m.tlen = 0);
	BAD(ALL, m.tlen = BT_DHT__KRPC_MAX_T + 1);
	BAD(ALL, m.kind = 0);
	BAD(ALL, m.kind = 4);
	BAD(ALL, m.has_ip = true; m.ip.family = 0);
	BAD(ALL, m.has_ip = true; m.ip.family = 5);
	BAD(Q | R, m.has_id = false);
	BAD(E, m.err_code = 0);
	BAD(Q, m.method = BT_DHT__KRPC_M_NONE);
	BAD(Q, m.method = BT_DHT__KRPC_M_UNKNOWN);
	BAD(Q, m.method = 99);
	BAD(Q, m.want = 4);
	BAD(Q, m.want = BT_DHT__WANT_N4 | 8);
	BAD(Q, m.has_info_hash = false);
	BAD(Q, m.token = NULL);
	BAD(Q, m.token_len = 0);
	BAD(Q | R, m.token = mem; m.token_len = BT_DHT__KRPC_MAX_TOKEN + 1);
	BAD(Q, m.port = 0);
	BAD(Q, m.method = BT_DHT__KRPC_M_FIND_NODE);         /* no target */
	BAD(Q, m.method = BT_DHT__KRPC_M_SAMPLE_INFOHASHES); /* no target */
	BAD(Q, m.method = BT_DHT__KRPC_M_GET_PEERS; m.has_info_hash = false);
	BAD(R, m.nodes = mem; m.nodes_len = 25);
	BAD(R, m.nodes = mem; m.nodes_len = 27);
	BAD(R, m.nodes6 = mem; m.nodes6_len = 26);
	BAD(R, m.samples = mem; m.samples_len = 30);
	BAD(R, m.nvalues = BT_DHT__KRPC_MAX_VALUES + 1);
	BAD(R, m.nvalues = 100000);
	BAD(R, m.nvalues = 1; m.values[0] = mem; m.values_len[0] = 7);
	BAD(R, m.nvalues = 1; m.values[0] = mem; m.values_len[0] = 0);
	BAD(R, m.nvalues = 1; m.values[0] = NULL; m.values_len[0] = 6);
#undef BAD

	/* ping needs nothing but id; NULL pointers with lengths are simply absent */
	base(&m, BT_DHT__KRPC_QUERY);
	m.method = BT_DHT__KRPC_M_PING;
	m.nodes_len = 25;
	m.v = NULL;
	m.vlen = 99;
	ck_assert_int_eq(bt_dht__krpc_encode(&b, &m), 0);
}
END_TEST

START_TEST(test_encode_small_buffer)
{
	bt_dht__krpc_msg m;
	uint8_t mem[512];
	bt_buf b;
	size_t need;

	ck_assert_int_eq(parse(&m, LIT(SAMPLE_R)), 0);
	bt_buf_init_fixed(&b, mem, sizeof(mem));
	ck_assert_int_eq(bt_dht__krpc_encode(&b, &m), 0);
	need = b.len;
	ck_assert_uint_eq(need, sizeof(SAMPLE_R) - 1);

	for (size_t cap = 0; cap < need; cap++) {
		memset(mem, 0x5a, sizeof(mem));
		bt_buf_init_fixed(&b, mem, cap);
		ck_assert_int_eq(bt_dht__krpc_encode(&b, &m), -ENOBUFS);
		ck_assert_int_eq(b.err, -ENOBUFS);
		ck_assert_uint_eq(b.len, 0);
		for (size_t i = cap; i < sizeof(mem); i++)
			ck_assert_msg(mem[i] == 0x5a, "cap %zu: byte %zu written", cap, i);
		/* the error is sticky: a later, smaller message is refused too */
		bt_dht__krpc_msg small;
		ck_assert_int_eq(parse(&small, LIT(BEP5_PING_R)), 0);
		ck_assert_int_eq(bt_dht__krpc_encode(&b, &small), -ENOBUFS);
	}
	bt_buf_init_fixed(&b, mem, need);
	ck_assert_int_eq(bt_dht__krpc_encode(&b, &m), 0);
	ck_assert(memcmp(mem, SAMPLE_R, need) == 0);

	/* a capped heap buffer, after earlier contents */
	bt_buf_init(&b, 100);
	bt_buf_append(&b, "0123456789", 10);
	ck_assert_int_eq(bt_dht__krpc_encode(&b, &m), -ENOBUFS);
	ck_assert_uint_eq(b.len, 10);
	bt_buf_free(&b);
	bt_buf_init(&b, need + 10);
	bt_buf_append(&b, "0123456789", 10);
	ck_assert_int_eq(bt_dht__krpc_encode(&b, &m), 0);
	ck_assert_uint_eq(b.len, need + 10);
	bt_buf_free(&b);
}
END_TEST

START_TEST(test_method_name)
{
	ck_assert_ptr_null(bt_dht__krpc_method_name(BT_DHT__KRPC_M_NONE));
	ck_assert_ptr_null(bt_dht__krpc_method_name(BT_DHT__KRPC_M_UNKNOWN));
	ck_assert_ptr_null(bt_dht__krpc_method_name((bt_dht__krpc_method)42));
	ck_assert_ptr_null(bt_dht__krpc_method_name((bt_dht__krpc_method)-1));
	ck_assert_str_eq(bt_dht__krpc_method_name(BT_DHT__KRPC_M_PING), "ping");
	ck_assert_str_eq(bt_dht__krpc_method_name(BT_DHT__KRPC_M_FIND_NODE), "find_node");
	ck_assert_str_eq(bt_dht__krpc_method_name(BT_DHT__KRPC_M_GET_PEERS), "get_peers");
	ck_assert_str_eq(bt_dht__krpc_method_name(BT_DHT__KRPC_M_ANNOUNCE_PEER), "announce_peer");
	ck_assert_str_eq(bt_dht__krpc_method_name(BT_DHT__KRPC_M_SAMPLE_INFOHASHES),
	                 "sample_infohashes");
}
END_TEST

/* Deterministic PRNG (xorshift64*) so every run tests the same inputs. */
START_TEST(test_mutations)
{
	/* mutated messages: whatever still parses must round-trip */
	static const char alphabet[] = "0123456789:ideltyqrav-x\0\xff";
	unsigned parsed = 0;
	for (int iter = 0; iter < 30000; iter++) {
		size_t k = (size_t)(bt_test_rnd() % NVALID);
		uint8_t buf[512];
		size_t len = valid_msgs[k].n;
		memcpy(buf, valid_msgs[k].s, len);
		for (int e = 1 + (int)(bt_test_rnd() % 3); e > 0; e--) {
			size_t at = (size_t)(bt_test_rnd() % len);
			switch (bt_test_rnd() % 3) {
			case 0:
				buf[at] = (uint8_t)alphabet[bt_test_rnd() % (sizeof(alphabet) - 1)];
				break;
			case 1: /* delete */
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
				break;
			default: /* insert */
				if (len < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = (uint8_t)
					    alphabet[bt_test_rnd() % (sizeof(alphabet) - 1)];
					len++;
				}
			}
			if (len == 0)
				break;
		}
		uint8_t *p = malloc(len ? len : 1);
		ck_assert_ptr_nonnull(p);
		memcpy(p, buf, len);
		bt_dht__krpc_msg m;
		int rc = parse(&m, p, len);
		ck_assert(rc <= 0 && rc >= BT_DHT__KRPC_E_ID);
		if (rc == 0) {
			parsed++;
			if (m.kind == BT_DHT__KRPC_ERROR && m.err_code == 0) {
				bt_buf b;
				bt_buf_init(&b, 0);
				ck_assert_int_eq(bt_dht__krpc_encode(&b, &m), BT_DHT__KRPC_E_ARGS);
				bt_buf_free(&b);
			} else if (m.kind != BT_DHT__KRPC_QUERY ||
			           m.method != BT_DHT__KRPC_M_UNKNOWN) {
				check_roundtrip(&m);
			}
		} else if (rc == BT_DHT__KRPC_E_ARGS || rc == BT_DHT__KRPC_E_ID) {
			ck_assert(m.kind >= BT_DHT__KRPC_QUERY && m.kind <= BT_DHT__KRPC_ERROR);
			ck_assert(m.t && m.tlen >= 1 && m.tlen <= BT_DHT__KRPC_MAX_T);
			ck_assert(krpc_only_top_level(&m));
		} else {
			ck_assert(all_zero(&m));
		}
		free(p);
	}
	ck_assert_uint_gt(parsed, 1000);
}
END_TEST

static Suite *krpc_suite(void)
{
	Suite *s = suite_create("dht-krpc");
	TCase *tc = tcase_create("beps");
	tcase_add_test(tc, test_bep5_ping);
	tcase_add_test(tc, test_bep5_find_node);
	tcase_add_test(tc, test_bep5_get_peers);
	tcase_add_test(tc, test_bep5_announce_peer);
	tcase_add_test(tc, test_bep5_error);
	tcase_add_test(tc, test_bep5_reencode);
	tcase_add_test(tc, test_bep32);
	tcase_add_test(tc, test_bep42_bep43);
	tcase_add_test(tc, test_bep51);
	tcase_add_test(tc, test_unknown_method);
	tcase_add_test(tc, test_unsorted_and_unknown_keys);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_failed_query_keeps_top_level);
	tcase_add_test(tc, test_t_bounds);
	tcase_add_test(tc, test_announce_ports);
	tcase_add_test(tc, test_want);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_response_fields);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_truncation);
	tcase_add_test(tc, test_mutations);
	suite_add_tcase(s, tc);

	tc = tcase_create("encode");
	tcase_add_test(tc, test_roundtrip_queries);
	tcase_add_test(tc, test_roundtrip_responses);
	tcase_add_test(tc, test_roundtrip_errors);
	tcase_add_test(tc, test_encode_exact);
	tcase_add_test(tc, test_encode_incomplete);
	tcase_add_test(tc, test_encode_small_buffer);
	tcase_add_test(tc, test_method_name);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return bt_test_run(krpc_suite());
}
