/*
 * fuzz-store-import.c - libFuzzer target for bt_store_import_json() (libbtstore/json.c), the
 * NDJSON lines store-query import reads from pipes: meta-fetch results, dht-crawl discoveries,
 * another store's export.
 *
 * Each input is one line imported into a store in a temporary directory (recreated every 20,000
 * inputs so it stays small).  Besides "does not crash": the result is one of the documented
 * codes; when a line was imported, the infohash it names can be read back, its export
 * (bt_store_torrent_json) is JSON that imports again as "known", and its magnet link names it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "btstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static char dir[256], path[300];
static bt_store *store;
static unsigned runs;

static void cleanup(void)
{
	bt_store_close(store);
	store = NULL;
	if (dir[0]) {
		char lock[310];
		snprintf(lock, sizeof(lock), "%s-lock", path);
		unlink(path);
		unlink(lock);
		rmdir(dir);
	}
}

static void open_store(void)
{
	if (!dir[0]) {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof(dir), "%s/bt-fuzz-store-XXXXXX", tmp ? tmp : "/tmp");
		check(mkdtemp(dir) != NULL);
		snprintf(path, sizeof(path), "%s/f.mdb", dir);
		atexit(cleanup);
	}
	bt_store_options o = BT_STORE_OPTIONS_INIT;
	o.no_sync = 1;
	check(bt_store_open(&store, path, &o) == 0);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!store)
		open_store();
	if (++runs % 20000 == 0) {
		bt_store_close(store);
		store = NULL;
		unlink(path);
		open_store();
	}
	int rc = bt_store_import_json(store, (const char *)data, size, 1700000000);
	check(rc == 0 || rc == 1 || rc == BT_STORE_E_FORMAT || rc == BT_STORE_E_BLOCKED);
	if (rc < 0)
		return 0;
	/* It was imported: the line is JSON with a hex infohash. */
	json_t *o = json_loadb((const char *)data, size, 0, NULL);
	check(o != NULL);
	const char *hex = json_string_value(json_object_get(o, "infohash"));
	check(hex != NULL && (strlen(hex) == 40 || strlen(hex) == 64));
	uint8_t ih[32];
	size_t len = strlen(hex) / 2;
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		check(hi >= 0 && lo >= 0);
		ih[i] = (uint8_t)(hi << 4 | lo);
	}
	json_decref(o);
	bt_store_torrent *t;
	check(bt_store_get(store, ih, len, &t) == 0);
	char *js;
	check(bt_store_torrent_json(t, &js) == 0);
	rc = bt_store_import_json(store, js, strlen(js), 1700000000);
	check(rc == 0);
	char *magnet;
	check(bt_store_magnet(t, &magnet) == 0);
	check(strncmp(magnet, "magnet:?xt=urn:bt", 17) == 0);
	free(magnet);
	free(js);
	bt_store_torrent_free(t);
	return 0;
}
