/*
 * fuzz-ut-metadata.c - libFuzzer target for BEP 9 ut_metadata messages (bt_meta__utm_parse in
 * libbtmeta/wire.c).
 *
 * Properties: a parsed message's piece bytes lie inside the message; and a message we build
 * from the parsed fields (request, reject, or data with the same piece bytes) parses again to
 * the same fields and the same bytes.
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
	bt_wire_utm u, v;
	if (bt_meta__utm_parse(data, size, &u) < 0)
		return 0;
	check(u.data_off <= size && u.data_len == size - u.data_off);
	if (u.type < 0 || u.type > BT_UTM_REJECT || u.piece < 0 || u.piece > UINT32_MAX ||
	    u.data_len > BT_WIRE_PIECE)
		return 0;

	static uint8_t mem[BT_WIRE_MAX_EXT + 64];
	bt_buf b;
	bt_buf_init_fixed(&b, mem, sizeof(mem));
	bool data_msg = u.type == BT_UTM_DATA;
	int64_t total = u.total_size < 0 ? 0 : u.total_size;
	check(bt_meta__utm_build(&b, 7, u.type, (uint32_t)u.piece, total,
	                         data_msg ? data + u.data_off : NULL, u.data_len) == 0);
	check(mem[4] == BT_WIRE_MSG_EXTENDED && mem[5] == 7);
	check(bt_meta__utm_parse(mem + 6, b.len - 6, &v) == 0);
	check(v.type == u.type && v.piece == u.piece);
	if (data_msg) {
		check(v.total_size == total && v.data_len == u.data_len);
		check(memcmp(mem + 6 + v.data_off, data + u.data_off, u.data_len) == 0);
	} else {
		check(v.data_len == 0);
	}
	return 0;
}
