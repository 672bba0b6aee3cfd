/*
 * store-client.c - built by tests/pkgconfig-test.sh against the installed libbtstore with
 * pkg-config alone: creates a store in a temporary directory, indexes a torrent, finds it by a
 * folded word, and reopens the store read-only to find it again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <btstore.h>

int main(void)
{
	char dir[] = "/tmp/bt-store-client-XXXXXX", path[64], lock[80];
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/t.mdb", dir);
	snprintf(lock, sizeof(lock), "%s-lock", path);
	printf("libbtstore %s\n", bt_store_version());
	bt_store *s;
	bt_store_options o = BT_STORE_OPTIONS_INIT;
	int rc = bt_store_open(&s, path, &o), ok = 0;
	if (rc) {
		fprintf(stderr, "open: %s\n", bt_store_strerror(rc));
		return 1;
	}
	bt_store_file f = {"Caf\xc3\xa9 Tacvba - Re (1994)/01 - El Aparato.flac", 31000000, 0};
	bt_store_torrent t;
	memset(&t, 0, sizeof(t));
	memset(t.infohash, 0x5a, 20);
	t.has_metadata = 1;
	t.name = "Caf\xc3\xa9 Tacvba - Re (1994)";
	t.length = f.length;
	t.piece_length = 1 << 18;
	t.files = &f;
	t.num_files = 1;
	if (bt_store_put(s, &t) != 1 || bt_store_commit(s) != 0)
		return 1;
	bt_store_close(s);
	o.read_only = 1;
	if ((rc = bt_store_open(&s, path, &o)) != 0) {
		fprintf(stderr, "reopen: %s\n", bt_store_strerror(rc));
		return 1;
	}
	bt_store_query q = BT_STORE_QUERY_INIT;
	q.text = "cafe aparato";
	bt_store_results *r;
	if (bt_store_search(s, &q, &r) == 0) {
		ok = r->count == 1 && strcmp(r->items[0]->name, t.name) == 0;
		bt_store_results_free(r);
	}
	bt_store_close(s);
	unlink(path);
	unlink(lock);
	rmdir(dir);
	printf("search: %s\n", ok ? "found" : "NOT FOUND");
	return ok ? 0 : 1;
}
