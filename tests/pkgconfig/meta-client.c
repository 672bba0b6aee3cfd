/*
 * meta-client.c - built outside the tree against the installed libbtmeta with pkg-config alone
 * (tests/pkgconfig-test.sh): one manager serves a small info dictionary on 127.0.0.1 and fetches
 * it from itself.  Prints "ok" and exits 0, or says what failed and exits 1.
 */
#include <btmeta.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const char INFO[] = "d6:lengthi5e4:name5:a.txt12:piece lengthi16384e"
                           "6:pieces20:01234567890123456789e";
static int status = 1;

static void done(const bt_meta_result *r, void *ud)
{
	if (r->status == 0 && r->info && strcmp(r->info->name, "a.txt") == 0)
		status = 0;
	else
		printf("fetch: %s\n", bt_meta_strerror(r->status));
	event_base_loopexit(ud, NULL);
}

int main(void)
{
	struct event_base *base = event_base_new();
	bt_meta_options o = BT_META_OPTIONS_INIT;
	o.base = base;
	o.on_result = done;
	o.cb_ud = base;
	bt_meta *m;
	bt_meta_info *info;
	int rc = bt_meta_new(&m, &o);
	if (rc == 0)
		rc = bt_meta_info_parse(&info, (const uint8_t *)INFO, sizeof(INFO) - 1);
	if (rc < 0) {
		printf("%s\n", bt_meta_strerror(rc));
		return 1;
	}
	struct sockaddr_in sin;
	struct sockaddr_storage bound;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0x7f000001);
	if ((rc = bt_meta_serve_add(m, info->raw, info->raw_len)) < 0 ||
	    (rc = bt_meta_listen(m, (struct sockaddr *)&sin, sizeof(sin), &bound)) < 0 ||
	    (rc = bt_meta_submit(m, info->sha1, 20, (struct sockaddr *)&bound, sizeof(sin))) < 0) {
		printf("%s\n", bt_meta_strerror(rc));
		return 1;
	}
	struct timeval deadline = {10, 0};
	event_base_loopexit(base, &deadline);
	event_base_dispatch(base);
	bt_meta_info_free(info);
	bt_meta_free(m);
	event_base_free(base);
	if (status == 0)
		printf("ok\n");
	return status;
}
