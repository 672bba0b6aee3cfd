/*
 * log.c - see log.h.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

void bt_log(bt_log_fn cb, void *ud, int level, const char *fmt, ...)
{
	if (!cb)
		return;
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cb(level, buf, ud);
}
