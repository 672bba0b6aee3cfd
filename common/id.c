/*
 * id.c - helpers of id.h that are not worth inlining.
 */
#include "id.h"

unsigned bt_id_common_bits(const bt_id *a, const bt_id *b)
{
	for (unsigned i = 0; i < BT_ID_LEN; i++) {
		uint8_t x = (uint8_t)(a->b[i] ^ b->b[i]);
		if (x)
			return i * 8 + (unsigned)__builtin_clz(x) - 24;
	}
	return 8 * BT_ID_LEN;
}

void bt_id_to_hex(const bt_id *id, char out[2 * BT_ID_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < BT_ID_LEN; i++) {
		out[2 * i] = digits[id->b[i] >> 4];
		out[2 * i + 1] = digits[id->b[i] & 15];
	}
	out[2 * BT_ID_LEN] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int bt_id_from_hex(bt_id *id, const char *hex)
{
	bt_id tmp;
	for (int i = 0; i < BT_ID_LEN; i++) {
		int hi = hexval(hex[2 * i]);
		int lo = hi < 0 ? -1 : hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		tmp.b[i] = (uint8_t)(hi << 4 | lo);
	}
	if (hex[2 * BT_ID_LEN] != '\0')
		return -1;
	*id = tmp;
	return 0;
}
