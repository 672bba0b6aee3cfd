/*
 * log.h - the libraries' logging: a printf-style line handed to the program's callback, or
 * nothing when it gave none.  Libraries never print; this is their only way to speak.
 */
#ifndef BT_COMMON_LOG_H
#define BT_COMMON_LOG_H

/* The shape of every library's log callback (bt_dht_log_cb, bt_meta_log_cb, ...). */
typedef void (*bt_log_fn)(int level, const char *msg, void *ud);

/* Format a line of at most 255 bytes and pass it to @cb with @ud; nothing if @cb is NULL. */
void bt_log(bt_log_fn cb, void *ud, int level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
