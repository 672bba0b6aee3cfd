/*
 * dht-client.c - built outside the tree against the installed libbtdht with pkg-config alone
 * (tests/pkgconfig-test.sh): a node answers a ping fed to it and the reply goes through the send
 * callback.  Prints "ok" and exits 0, or says what failed and exits 1.
 */
#include <btdht.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static int replies;

static int send_cb(const uint8_t *data, size_t len, const struct sockaddr *to, socklen_t tolen,
                   void *ud)
{
	(void)to, (void)tolen, (void)ud;
	if (len > 10 && memmem(data, len, "1:y1:r", 6))
		replies++;
	return 0;
}

int main(void)
{
	bt_dht_options o = BT_DHT_OPTIONS_INIT;
	o.send = send_cb;
	o.families = BT_DHT_IPV4;
	bt_dht *d;
	int rc = bt_dht_new(&d, &o, 1000);
	if (rc < 0) {
		printf("bt_dht_new: %s\n", bt_dht_strerror(rc));
		return 1;
	}
	struct sockaddr_in from;
	memset(&from, 0, sizeof(from));
	from.sin_family = AF_INET;
	from.sin_addr.s_addr = htonl(0x7f000001);
	from.sin_port = htons(6881);
	static const char ping[] = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
	rc = bt_dht_input(d, (const uint8_t *)ping, sizeof(ping) - 1, (struct sockaddr *)&from,
	                  sizeof(from), 1000);
	bt_dht_free(d);
	if (rc < 0 || replies != 1) {
		printf("no reply to a ping (rc %d, %d replies)\n", rc, replies);
		return 1;
	}
	printf("ok (libbtdht %s)\n", bt_dht_version());
	return 0;
}
