/*
 * bench-bencode.c - bencode decode (and encode) throughput.
 *
 * Two workloads:
 *   - a realistic mix of KRPC messages as a crawler receives them (weights below: mostly
 *     find_node / get_peers / sample_infohashes responses, some incoming queries and errors),
 *     decoded as the DHT engine will: lax, into a stack token array;
 *   - a 1 MiB info dictionary (5,000 files in nested folders plus piece hashes), decoded strictly
 *     into a growable document, as metadata verification will.
 *
 * usage: bench-bencode [SECONDS-PER-CASE]   (default 1)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-util.h"
#include "bencode.h"

static void rand_bytes(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)bench_rnd();
}

static void str_rand(bt_ben_enc *e, size_t n)
{
	uint8_t b[1024];
	rand_bytes(b, n);
	bt_ben_enc_str(e, b, n);
}

/* One KRPC message of kind @k into @out.  Keys are written in sorted order. */
static void krpc(bt_buf *out, int k)
{
	bt_ben_enc e;
	bt_ben_enc_init(&e, out);
	bt_ben_enc_dict(&e);
	switch (k) {
	case 0: /* ping query */
	case 1: /* find_node query */
	case 2: /* get_peers query */
	case 3: /* announce_peer query */
	case 4: /* sample_infohashes query */
		bt_ben_enc_strz(&e, "a");
		bt_ben_enc_dict(&e);
		bt_ben_enc_strz(&e, "id");
		str_rand(&e, 20);
		if (k == 3) {
			bt_ben_enc_strz(&e, "implied_port");
			bt_ben_enc_int(&e, 1);
		}
		if (k == 2 || k == 3) {
			bt_ben_enc_strz(&e, "info_hash");
			str_rand(&e, 20);
		}
		if (k == 3) {
			bt_ben_enc_strz(&e, "port");
			bt_ben_enc_int(&e, 6881 + (int64_t)(bench_rnd() % 50000));
		}
		if (k == 1 || k == 4) {
			bt_ben_enc_strz(&e, "target");
			str_rand(&e, 20);
		}
		if (k == 3) {
			bt_ben_enc_strz(&e, "token");
			str_rand(&e, 8);
		}
		bt_ben_enc_end(&e);
		bt_ben_enc_strz(&e, "q");
		bt_ben_enc_strz(&e, (const char *[]){"ping", "find_node", "get_peers",
		                                     "announce_peer", "sample_infohashes"}[k]);
		bt_ben_enc_strz(&e, "t");
		str_rand(&e, 2);
		bt_ben_enc_strz(&e, "v");
		bt_ben_enc_str(&e, "LT\x02\x00", 4);
		bt_ben_enc_strz(&e, "y");
		bt_ben_enc_strz(&e, "q");
		break;
	case 5: /* error */
		bt_ben_enc_strz(&e, "e");
		bt_ben_enc_list(&e);
		bt_ben_enc_int(&e, 203);
		bt_ben_enc_strz(&e, "Protocol Error, such as a malformed packet");
		bt_ben_enc_end(&e);
		bt_ben_enc_strz(&e, "t");
		str_rand(&e, 2);
		bt_ben_enc_strz(&e, "y");
		bt_ben_enc_strz(&e, "e");
		break;
	default: /* responses: 6 ping, 7 find_node, 8 get_peers values, 9 get_peers nodes, 10
	            samples */
		bt_ben_enc_strz(&e, "ip");
		str_rand(&e, 6);
		bt_ben_enc_strz(&e, "r");
		bt_ben_enc_dict(&e);
		bt_ben_enc_strz(&e, "id");
		str_rand(&e, 20);
		if (k == 10) {
			bt_ben_enc_strz(&e, "interval");
			bt_ben_enc_int(&e, 21600);
		}
		if (k == 7 || k == 9 || k == 10) {
			bt_ben_enc_strz(&e, "nodes");
			str_rand(&e, 26 * 8);
		}
		if (k == 10) {
			bt_ben_enc_strz(&e, "num");
			bt_ben_enc_int(&e, (int64_t)(bench_rnd() % 500));
			bt_ben_enc_strz(&e, "samples");
			str_rand(&e, 20 * (1 + bench_rnd() % 20));
		}
		if (k == 8 || k == 9) {
			bt_ben_enc_strz(&e, "token");
			str_rand(&e, 8);
		}
		if (k == 8) {
			bt_ben_enc_strz(&e, "values");
			bt_ben_enc_list(&e);
			for (int i = 0, n = 1 + (int)(bench_rnd() % 30); i < n; i++)
				str_rand(&e, 6);
			bt_ben_enc_end(&e);
		}
		bt_ben_enc_end(&e);
		bt_ben_enc_strz(&e, "t");
		str_rand(&e, 2);
		bt_ben_enc_strz(&e, "v");
		bt_ben_enc_str(&e, "UT\x03\x05", 4);
		bt_ben_enc_strz(&e, "y");
		bt_ben_enc_strz(&e, "r");
		break;
	}
	bt_ben_enc_end(&e);
	if (bt_ben_enc_finish(&e) != 0) {
		fprintf(stderr, "bench-bencode: generator bug in kind %d\n", k);
		exit(1);
	}
}

/* A realistic multi-file info dictionary of about @target bytes. */
static void info_dict(bt_buf *out, size_t target)
{
	static const char *words[] = {"Season", "Disc", "Extras",  "Sample",  "Subs", "Album",
	                              "CD1",    "CD2",  "Artwork", "Chapter", "Part", "Bonus"};
	bt_ben_enc e;
	bt_ben_enc_init(&e, out);
	bt_ben_enc_dict(&e);
	bt_ben_enc_strz(&e, "files");
	bt_ben_enc_list(&e);
	size_t files = 5000;
	for (size_t i = 0; i < files; i++) {
		char a[32], b[64];
		bt_ben_enc_dict(&e);
		bt_ben_enc_strz(&e, "length");
		bt_ben_enc_int(&e, (int64_t)(bench_rnd() % (4ull << 30)));
		bt_ben_enc_strz(&e, "path");
		bt_ben_enc_list(&e);
		snprintf(a, sizeof(a), "%s %02zu", words[i / 500 % 12], i / 100 % 100);
		bt_ben_enc_strz(&e, a);
		snprintf(b, sizeof(b), "%s %zu - track name number %zu.flac", words[i % 12], i,
		         bench_rnd() % 1000);
		bt_ben_enc_strz(&e, b);
		bt_ben_enc_end(&e);
		bt_ben_enc_end(&e);
	}
	bt_ben_enc_end(&e);
	bt_ben_enc_strz(&e, "name");
	bt_ben_enc_strz(&e, "A Realistic Multi-File Torrent (2026) [FLAC]");
	bt_ben_enc_strz(&e, "piece length");
	bt_ben_enc_int(&e, 1 << 20);
	size_t pieces = out->len < target ? (target - out->len - 32) / 20 : 1;
	uint8_t *p = malloc(pieces * 20);
	rand_bytes(p, pieces * 20);
	bt_ben_enc_strz(&e, "pieces");
	bt_ben_enc_str(&e, p, pieces * 20);
	free(p);
	bt_ben_enc_end(&e);
	if (bt_ben_enc_finish(&e) != 0) {
		fprintf(stderr, "bench-bencode: info generator bug\n");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0;
	if (secs <= 0)
		secs = 1.0;
	uint64_t budget = (uint64_t)(secs * 1e9);

	/* Weights per 100 messages, by kind (see krpc()). */
	static const int weight[11] = {4, 4, 8, 2, 1, 2, 8, 30, 10, 16, 15};
	enum { NMSG = 4096 };
	bt_buf msgs;
	size_t off[NMSG + 1];
	bt_buf_init(&msgs, 0);
	for (int i = 0; i < NMSG; i++) {
		int r = (int)(bench_rnd() % 100), k = 0;
		while (r >= weight[k])
			r -= weight[k++];
		off[i] = msgs.len;
		krpc(&msgs, k);
	}
	off[NMSG] = msgs.len;

	/* KRPC: lax decode into a stack array, the DHT engine's path */
	bt_ben_tok toks[128];
	uint64_t bytes = 0, count = 0, t0 = bench_now_ns(), t;
	volatile uint32_t sink = 0;
	do {
		for (int i = 0; i < NMSG; i++) {
			bt_ben_doc doc;
			bt_ben_doc_init(&doc, toks, 128);
			if (bt_ben_decode(&doc, msgs.data + off[i], off[i + 1] - off[i], BT_BEN_LAX,
			                  NULL) < 0) {
				fprintf(stderr,
				        "bench-bencode: a generated message failed to decode\n");
				return 1;
			}
			sink += doc.ntoks;
		}
		bytes += msgs.len;
		count += NMSG;
		t = bench_now_ns() - t0;
	} while (t < budget);
	printf("bencode decode  krpc-mix     avg %5zu B/msg  %8.1f MB/s  %6.2f Mmsg/s\n",
	       msgs.len / NMSG, bench_rate(bytes, t) / 1e6, bench_rate(count, t) / 1e6);

	/* KRPC encode: a find_node response with 8 nodes into a fixed stack buffer */
	uint8_t nodes[208], id[20], txid[2];
	rand_bytes(nodes, sizeof(nodes));
	rand_bytes(id, sizeof(id));
	rand_bytes(txid, sizeof(txid));
	count = 0;
	bytes = 0;
	t0 = bench_now_ns();
	do {
		for (int i = 0; i < 4096; i++) {
			uint8_t mem[512];
			bt_buf b;
			bt_ben_enc e;
			bt_buf_init_fixed(&b, mem, sizeof(mem));
			bt_ben_enc_init(&e, &b);
			bt_ben_enc_dict(&e);
			bt_ben_enc_strz(&e, "r");
			bt_ben_enc_dict(&e);
			bt_ben_enc_strz(&e, "id");
			bt_ben_enc_str(&e, id, 20);
			bt_ben_enc_strz(&e, "nodes");
			bt_ben_enc_str(&e, nodes, sizeof(nodes));
			bt_ben_enc_end(&e);
			bt_ben_enc_strz(&e, "t");
			bt_ben_enc_str(&e, txid, 2);
			bt_ben_enc_strz(&e, "y");
			bt_ben_enc_strz(&e, "r");
			bt_ben_enc_end(&e);
			sink += (uint32_t)bt_ben_enc_finish(&e) + mem[b.len - 1];
			bytes += b.len;
		}
		count += 4096;
		t = bench_now_ns() - t0;
	} while (t < budget);
	printf("bencode encode  find_node-r  avg %5llu B/msg  %8.1f MB/s  %6.2f Mmsg/s\n",
	       (unsigned long long)(bytes / count), bench_rate(bytes, t) / 1e6,
	       bench_rate(count, t) / 1e6);

	/* 1 MiB info dictionary: strict decode into a growable document */
	bt_buf info;
	bt_buf_init(&info, 0);
	info_dict(&info, 1 << 20);
	bt_ben_doc doc;
	bt_ben_doc_init_alloc(&doc, (uint32_t)(info.len / 2 + 1));
	bytes = count = 0;
	t0 = bench_now_ns();
	do {
		if (bt_ben_decode(&doc, info.data, info.len, 0, NULL) < 0) {
			fprintf(stderr, "bench-bencode: the info dictionary failed to decode\n");
			return 1;
		}
		sink += doc.ntoks;
		bytes += info.len;
		count++;
		t = bench_now_ns() - t0;
	} while (t < budget);
	printf("bencode decode  info-dict    %zu B, %u values  %8.1f MB/s  %6.0f dicts/s\n",
	       info.len, doc.ntoks, bench_rate(bytes, t) / 1e6, bench_rate(count, t));

	/* The same without the piece hashes, which the parser skips in O(1): the file list alone
	 * (every value a token) is the worst case per byte. */
	size_t flen;
	const uint8_t *files = bt_ben_raw(&doc, bt_ben_dict_getz(&doc, 0, "files"), &flen);
	bt_ben_doc fdoc;
	bt_ben_doc_init_alloc(&fdoc, (uint32_t)(flen / 2 + 1));
	bytes = count = 0;
	t0 = bench_now_ns();
	do {
		if (bt_ben_decode(&fdoc, files, flen, 0, NULL) < 0) {
			fprintf(stderr, "bench-bencode: the file list failed to decode\n");
			return 1;
		}
		sink += fdoc.ntoks;
		bytes += flen;
		count += fdoc.ntoks;
		t = bench_now_ns() - t0;
	} while (t < budget);
	printf("bencode decode  file-list    %zu B, %u values  %8.1f MB/s  %6.1f Mvalues/s\n", flen,
	       fdoc.ntoks, bench_rate(bytes, t) / 1e6, bench_rate(count, t) / 1e6);
	bt_ben_doc_free(&fdoc);
	bt_ben_doc_free(&doc);
	bt_buf_free(&info);
	bt_buf_free(&msgs);
	(void)sink;
	return 0;
}
