/*
 * fuzz-ext-handshake.c - libFuzzer target for the BEP 10 extension handshake parser
 * (bt_meta__exths_parse in libbtmeta/wire.c).
 *
 * Properties: what a successful parse returns is in range (ids 1..255, ports 1..65535, sizes
 * and reqq never negative, the client name printable and terminated); and what we would send
 * back with those values (bt_meta__exths_build) parses again to the same values.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bt_wire_exths x, y;
	if (bt_meta__exths_parse(data, size, &x) < 0)
		return 0;
	check(x.ut_metadata >= 0 && x.ut_metadata <= 255);
	check(x.metadata_size >= -1 && x.reqq >= -1);
	check(x.port >= 0 && x.port <= 65535);
	size_t cl = strlen(x.client);
	check(cl < sizeof(x.client));
	for (size_t i = 0; i < cl; i++)
		check(x.client[i] >= 0x20 && x.client[i] < 0x7f);
	check(x.yourip.family == 0 || x.yourip.family == 4 || x.yourip.family == 6);

	/* Our own handshake carrying the values we parsed. */
	uint8_t mem[512];
	bt_buf b;
	bt_buf_init_fixed(&b, mem, sizeof(mem));
	int64_t reqq = x.reqq < 0 ? 0 : x.reqq > 100000 ? 100000 : x.reqq;
	check(bt_meta__exths_build(&b, x.metadata_size, x.port, (unsigned)reqq, x.client,
	                           x.yourip.family ? &x.yourip : NULL) == 0);
	check(b.len > 6 && mem[4] == BT_WIRE_MSG_EXTENDED && mem[5] == 0);
	uint32_t len =
	    (uint32_t)mem[0] << 24 | (uint32_t)mem[1] << 16 | (uint32_t)mem[2] << 8 | mem[3];
	check(len == b.len - 4);
	check(bt_meta__exths_parse(mem + 6, b.len - 6, &y) == 0);
	check(y.ut_metadata == BT_WIRE_OUR_UTM);
	check(y.metadata_size == x.metadata_size && y.port == x.port && y.reqq == reqq);
	check(strcmp(y.client, x.client) == 0);
	check(bt_addr_ip_eq(&y.yourip, &x.yourip));
	return 0;
}
