/*
 * fake-peer.c - the scriptable BitTorrent peer of fake-peer.h.  One listening socket, a list of
 * accepted connections, each a small state machine (waiting for the client's handshake, then
 * exchanging length-prefixed messages, then possibly lingering after a half-close).  What the
 * peer answers depends on its mode; everything else (framing, the extension handshake, the
 * ut_metadata dictionaries) is shared, so each mode differs from honesty in exactly one way.
 *
 * Output goes through a per-connection queue written when the socket is writable.  FP_DRIP
 * marks the point in the stream from which bytes leave one per timer tick; FP_HONEST_SLOW
 * holds the queue back for a while.  Both use the connection's one timer, as does the linger
 * after FP_CLOSE_MID's half-close.
 */
#include "config.h"

#include "fake-peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>

#include "bencode.h"
#include "buf.h"

#define FP_MAX_CONNS 256 /* default; past the cap, accepted connections are closed at once */
#define FP_ACCEPTS_PER_WAKE 16
#define FP_READS_PER_WAKE 16
#define FP_WRITES_PER_WAKE 64
#define FP_IN_CAP (128 * 1024)       /* the client's unparsed bytes */
#define FP_MSG_MAX (64 * 1024)       /* a longer message from the client closes the connection */
#define FP_OUT_MAX (4 * 1024 * 1024) /* queued output; requests past it are not answered */
#define FP_PIECE 16384
/* Our ut_metadata id: not 1, so a client that confuses its id with ours is caught. */
#define FP_UT_ID 3
#define FP_PEX_ID 1
#define FP_DEFAULT_SIZE 40000 /* metadata_size announced with no info */
#define FP_HUGE ((int64_t)1 << 40)
#define FP_BIG_PREFIX (100u * 1000u * 1000u)
#define FP_BIG_GARBAGE (64 * 1024)
#define FP_EXTRA_BYTES 13
#define FP_LINGER_MS 2000
#define FP_HS_LEN 68

static const char fp_pstr[] = "BitTorrent protocol";

enum { ST_HANDSHAKE, ST_MESSAGES, ST_LINGER };

struct fp_conn {
	fake_peer *fp;
	struct fp_conn *prev, *next;
	int fd;
	int state;
	struct event *rd, *wr, *tm;
	int client_ext;    /* the client set the BEP 10 bit */
	uint8_t client_ut; /* the client's ut_metadata id, 0 until its extension handshake */
	int holding;       /* FP_HONEST_SLOW: output held until the timer fires */
	int answered_once; /* FP_CLOSE_MID / FP_BIG_MESSAGE acted on their first request */
	int close_after_flush;
	bt_buf out;
	size_t out_off;
	uint64_t queued_total; /* bytes ever queued / written: the drip mark is absolute */
	uint64_t written_total;
	uint64_t drip_from; /* stream offset from which bytes are dripped (UINT64_MAX: never) */
	size_t in_len;
	uint8_t in[FP_IN_CAP];
};

struct fake_peer {
	struct event_base *base;
	int mode;
	int fd;
	struct event *lev;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	uint8_t *info; /* the bytes sent as pieces (altered for FP_BAD_PIECES) */
	size_t info_len;
	int64_t meta_size; /* announced metadata_size */
	unsigned drip_ms, delay_ms;
	unsigned max_conns;
	int noise;
	uint8_t peer_id[20];
	struct fp_conn *conns;
	fake_peer_stats st;
};

static const char *const mode_names[FP_MODE_COUNT] = {
    "FP_HONEST",      "FP_HUGE_SIZE", "FP_BAD_PIECES", "FP_DRIP",           "FP_CLOSE_MID",
    "FP_SILENT",      "FP_REJECT",    "FP_NO_EXT",     "FP_WRONG_INFOHASH", "FP_WRONG_PIECE_SIZE",
    "FP_BIG_MESSAGE", "FP_GARBAGE",   "FP_NO_SIZE",    "FP_HONEST_SLOW",
};

const char *fake_peer_mode_name(int mode)
{
	if (mode < 0 || mode >= FP_MODE_COUNT)
		return "FP_?";
	return mode_names[mode];
}

static int mode_needs_info(int mode)
{
	switch (mode) {
	case FP_HONEST:
	case FP_BAD_PIECES:
	case FP_DRIP:
	case FP_CLOSE_MID:
	case FP_WRONG_PIECE_SIZE:
	case FP_HONEST_SLOW:
		return 1;
	default:
		return 0;
	}
}

static struct timeval ms_tv(unsigned ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
	return tv;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- connections ---- */

static void conn_free(struct fp_conn *c)
{
	fake_peer *fp = c->fp;
	if (c->prev)
		c->prev->next = c->next;
	else
		fp->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->rd)
		event_free(c->rd);
	if (c->wr)
		event_free(c->wr);
	if (c->tm)
		event_free(c->tm);
	if (c->fd >= 0)
		close(c->fd);
	bt_buf_free(&c->out);
	fp->st.open--;
	free(c);
}

/* Room for @n more bytes of output, compacting the queue first.  0, or -1 past FP_OUT_MAX (the
 * request is then dropped, as an overloaded client would). */
static int out_room(struct fp_conn *c, size_t n)
{
	if (c->out_off == c->out.len) {
		bt_buf_reset(&c->out);
		c->out_off = 0;
	} else if (c->out_off > 0) {
		memmove(c->out.data, c->out.data + c->out_off, c->out.len - c->out_off);
		c->out.len -= c->out_off;
		c->out_off = 0;
	}
	if (n > FP_OUT_MAX - c->out.len)
		return -1;
	return bt_buf_reserve(&c->out, n) == 0 ? 0 : -1;
}

static void out_put(struct fp_conn *c, const void *p, size_t n)
{
	bt_buf_append(&c->out, p, n);
	c->queued_total += n;
}

/* A whole BitTorrent message: length prefix, id, payload (@n2 more bytes at @p2 appended). */
static int out_msg(struct fp_conn *c, uint8_t id, const void *p, size_t n, const void *p2,
                   size_t n2)
{
	if (out_room(c, 5 + n + n2) < 0)
		return -1;
	uint8_t hdr[5];
	put_be32(hdr, (uint32_t)(1 + n + n2));
	hdr[4] = id;
	out_put(c, hdr, 5);
	if (n)
		out_put(c, p, n);
	if (n2)
		out_put(c, p2, n2);
	return 0;
}

static void conn_arm_timer(struct fp_conn *c, unsigned ms)
{
	struct timeval tv = ms_tv(ms);
	evtimer_add(c->tm, &tv);
}

static void conn_start_linger(struct fp_conn *c)
{
	shutdown(c->fd, SHUT_WR);
	c->state = ST_LINGER;
	c->in_len = 0;
	event_del(c->wr);
	conn_arm_timer(c, FP_LINGER_MS);
}

/* Write what the queue allows now.  Returns 0, or -1 when the connection was freed. */
static int conn_flush(struct fp_conn *c)
{
	fake_peer *fp = c->fp;
	if (c->holding || c->state == ST_LINGER)
		return 0;
	for (int i = 0; i < FP_WRITES_PER_WAKE && c->out_off < c->out.len; i++) {
		size_t n = c->out.len - c->out_off;
		if (c->written_total >= c->drip_from) {
			/* Dripping: the timer writes, one byte per tick. */
			if (!evtimer_pending(c->tm, NULL))
				conn_arm_timer(c, fp->drip_ms);
			return 0;
		}
		if (c->drip_from - c->written_total < n)
			n = (size_t)(c->drip_from - c->written_total);
		ssize_t w = send(c->fd, c->out.data + c->out_off, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				event_add(c->wr, NULL);
				return 0;
			}
			conn_free(c);
			return -1;
		}
		c->out_off += (size_t)w;
		c->written_total += (uint64_t)w;
		fp->st.bytes_sent += (uint64_t)w;
	}
	if (c->out_off < c->out.len) {
		if (c->written_total < c->drip_from)
			event_add(c->wr, NULL); /* the loop's bound, not the socket, stopped us */
		else if (!evtimer_pending(c->tm, NULL))
			conn_arm_timer(c, fp->drip_ms);
		return 0;
	}
	event_del(c->wr);
	if (c->close_after_flush)
		conn_start_linger(c);
	return 0;
}

/* ---- what the peer says ---- */

static void queue_handshake(struct fp_conn *c, const uint8_t *infohash)
{
	fake_peer *fp = c->fp;
	uint8_t hs[FP_HS_LEN];
	hs[0] = 19;
	memcpy(hs + 1, fp_pstr, 19);
	memset(hs + 20, 0, 8);
	if (fp->mode != FP_NO_EXT)
		hs[25] |= 0x10;
	memcpy(hs + 28, infohash, 20);
	if (fp->mode == FP_WRONG_INFOHASH)
		for (int i = 0; i < 20; i++)
			hs[28 + i] ^= (uint8_t)(0x5a + i);
	memcpy(hs + 48, fp->peer_id, 20);
	if (out_room(c, sizeof(hs)) == 0)
		out_put(c, hs, sizeof(hs));
}

static void queue_ext_handshake(struct fp_conn *c)
{
	fake_peer *fp = c->fp;
	uint8_t mem[256];
	bt_buf b;
	bt_ben_enc e;
	bt_buf_init_fixed(&b, mem, sizeof(mem));
	bt_ben_enc_init(&e, &b);
	uint8_t sub = 0;
	bt_buf_append(&b, &sub, 1);
	bt_ben_enc_dict(&e);
	bt_ben_enc_strz(&e, "m");
	bt_ben_enc_dict(&e);
	bt_ben_enc_strz(&e, "ut_metadata");
	bt_ben_enc_int(&e, FP_UT_ID);
	bt_ben_enc_strz(&e, "ut_pex");
	bt_ben_enc_int(&e, FP_PEX_ID);
	bt_ben_enc_end(&e);
	if (fp->mode != FP_NO_SIZE) {
		bt_ben_enc_strz(&e, "metadata_size");
		bt_ben_enc_int(&e, fp->meta_size);
	}
	bt_ben_enc_strz(&e, "reqq");
	bt_ben_enc_int(&e, 250);
	bt_ben_enc_strz(&e, "v");
	bt_ben_enc_strz(&e, "FakePeer 0.1");
	bt_ben_enc_end(&e);
	if (b.err)
		return;
	out_msg(c, 20, b.data, b.len, NULL, 0);
}

static void queue_noise_before(struct fp_conn *c)
{
	uint8_t bits[100];
	memset(bits, 0xff, sizeof(bits));
	bits[99] = 0xf0;
	out_msg(c, 5, bits, sizeof(bits), NULL, 0);
}

static void queue_noise_after(struct fp_conn *c)
{
	static const uint8_t keepalive[4] = {0, 0, 0, 0};
	if (out_room(c, 4) == 0)
		out_put(c, keepalive, 4);
	out_msg(c, 1, NULL, 0, NULL, 0); /* unchoke */
}

/* The ut_metadata dictionary of a data or reject message, after the extended id byte. */
static int ut_dict(uint8_t *mem, size_t cap, uint8_t client_ut, int msg_type, int64_t piece,
                   int64_t total, size_t *len)
{
	bt_buf b;
	bt_ben_enc e;
	bt_buf_init_fixed(&b, mem, cap);
	bt_buf_append(&b, &client_ut, 1);
	bt_ben_enc_init(&e, &b);
	bt_ben_enc_dict(&e);
	bt_ben_enc_strz(&e, "msg_type");
	bt_ben_enc_int(&e, msg_type);
	bt_ben_enc_strz(&e, "piece");
	bt_ben_enc_int(&e, piece);
	if (msg_type == 1) {
		bt_ben_enc_strz(&e, "total_size");
		bt_ben_enc_int(&e, total);
	}
	bt_ben_enc_end(&e);
	if (b.err || bt_ben_enc_finish(&e))
		return -1;
	*len = b.len;
	return 0;
}

static void queue_reject(struct fp_conn *c, int64_t piece)
{
	uint8_t d[96];
	size_t n;
	if (ut_dict(d, sizeof(d), c->client_ut, 2, piece, 0, &n) == 0 &&
	    out_msg(c, 20, d, n, NULL, 0) == 0)
		c->fp->st.rejects_sent++;
}

/* A data message for @piece; with @half, only the first half of its bytes is queued. */
static void queue_data(struct fp_conn *c, int64_t piece, int half)
{
	fake_peer *fp = c->fp;
	size_t off = (size_t)piece * FP_PIECE;
	size_t plen = fp->info_len - off < FP_PIECE ? fp->info_len - off : FP_PIECE;
	size_t extra = fp->mode == FP_WRONG_PIECE_SIZE ? FP_EXTRA_BYTES : 0;
	uint8_t d[96 + FP_EXTRA_BYTES];
	size_t n;
	if (ut_dict(d, sizeof(d) - FP_EXTRA_BYTES, c->client_ut, 1, piece, (int64_t)fp->info_len,
	            &n) < 0)
		return;
	uint8_t hdr[5];
	size_t whole = 5 + n + plen + extra;
	put_be32(hdr, (uint32_t)(whole - 4));
	hdr[4] = 20;
	size_t cut = half ? whole / 2 : whole;
	if (out_room(c, cut) < 0)
		return;
	/* The message is queued as its parts, each cut to what is left of @cut. */
	const struct {
		const void *p;
		size_t n;
	} parts[3] = {{hdr, 5}, {d, n}, {fp->info + off, plen}};
	size_t left = cut;
	for (int i = 0; i < 3 && left; i++) {
		size_t k = parts[i].n < left ? parts[i].n : left;
		out_put(c, parts[i].p, k);
		left -= k;
	}
	if (left) {
		uint8_t junk[FP_EXTRA_BYTES];
		memset(junk, 0xee, sizeof(junk));
		out_put(c, junk, left < extra ? left : extra);
	}
	fp->st.pieces_sent++;
}

static void queue_big_message(struct fp_conn *c)
{
	uint8_t hdr[6];
	put_be32(hdr, FP_BIG_PREFIX);
	hdr[4] = 20;
	hdr[5] = c->client_ut;
	if (out_room(c, sizeof(hdr) + FP_BIG_GARBAGE) < 0)
		return;
	out_put(c, hdr, sizeof(hdr));
	uint8_t junk[1024];
	memset(junk, 0xab, sizeof(junk));
	for (int i = 0; i < FP_BIG_GARBAGE / (int)sizeof(junk); i++)
		out_put(c, junk, sizeof(junk));
}

/* The client's handshake arrived: the answer depends on the mode. */
static void on_handshake(struct fp_conn *c, const uint8_t *infohash)
{
	fake_peer *fp = c->fp;
	queue_handshake(c, infohash);
	if (fp->mode == FP_NO_EXT || fp->mode == FP_WRONG_INFOHASH)
		return;
	if (fp->noise)
		queue_noise_before(c);
	if (c->client_ext)
		queue_ext_handshake(c);
	if (fp->noise)
		queue_noise_after(c);
	if (fp->mode == FP_DRIP)
		c->drip_from = c->queued_total;
	if (fp->mode == FP_HONEST_SLOW && fp->delay_ms) {
		c->holding = 1;
		conn_arm_timer(c, fp->delay_ms);
	}
}

static void on_request(struct fp_conn *c, int64_t piece)
{
	fake_peer *fp = c->fp;
	fp->st.requests++;
	if (!c->client_ut)
		return; /* no id to answer with */
	int valid = fp->info && piece >= 0 && (uint64_t)piece * FP_PIECE < fp->info_len;
	switch (fp->mode) {
	case FP_SILENT:
	case FP_NO_EXT:
	case FP_WRONG_INFOHASH:
	case FP_GARBAGE:
		return;
	case FP_REJECT:
	case FP_HUGE_SIZE:
		queue_reject(c, piece);
		return;
	case FP_CLOSE_MID:
		if (c->answered_once)
			return;
		c->answered_once = 1;
		if (!valid) {
			queue_reject(c, piece);
			return;
		}
		queue_data(c, piece, 1);
		c->close_after_flush = 1;
		return;
	case FP_BIG_MESSAGE:
		if (!c->answered_once)
			queue_big_message(c);
		c->answered_once = 1;
		return;
	default:
		if (valid)
			queue_data(c, piece, 0);
		else
			queue_reject(c, piece);
	}
}

static void on_extended(struct fp_conn *c, const uint8_t *p, size_t n)
{
	fake_peer *fp = c->fp;
	if (n < 1)
		return;
	bt_ben_tok toks[64];
	bt_ben_doc doc;
	bt_ben_doc_init(&doc, toks, 64);
	if (p[0] == 0) {
		if (bt_ben_decode(&doc, p + 1, n - 1, BT_BEN_LAX, NULL) < 0)
			return;
		fp->st.ext_handshakes++;
		int64_t id;
		if (bt_ben_dict_int(&doc, bt_ben_dict_getz(&doc, 0, "m"), "ut_metadata", &id) ==
		        0 &&
		    id > 0 && id < 256) {
			c->client_ut = (uint8_t)id;
			fp->st.last_client_ut = (uint8_t)id;
		}
		return;
	}
	if (p[0] != FP_UT_ID)
		return;
	if (bt_ben_decode(&doc, p + 1, n - 1, BT_BEN_LAX | BT_BEN_ALLOW_TRAILING, NULL) < 0)
		return;
	int64_t type, piece;
	if (bt_ben_dict_int(&doc, 0, "msg_type", &type) < 0 ||
	    bt_ben_dict_int(&doc, 0, "piece", &piece) < 0)
		return;
	if (type == 0)
		on_request(c, piece);
}

static void consume(struct fp_conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

/* Parse what the client sent.  Returns 0, or -1 when the connection was freed. */
static int conn_process(struct fp_conn *c)
{
	fake_peer *fp = c->fp;
	if (c->state == ST_LINGER || fp->mode == FP_GARBAGE) {
		c->in_len = 0;
		return 0;
	}
	if (c->state == ST_HANDSHAKE) {
		size_t k = c->in_len < 20 ? c->in_len : 20;
		if ((k > 0 && c->in[0] != 19) || (k > 1 && memcmp(c->in + 1, fp_pstr, k - 1))) {
			fp->st.bad_handshakes++;
			conn_free(c);
			return -1;
		}
		if (c->in_len < FP_HS_LEN)
			return 0;
		fp->st.handshakes++;
		c->client_ext = (c->in[25] & 0x10) != 0;
		memcpy(fp->st.last_infohash, c->in + 28, 20);
		uint8_t ih[20];
		memcpy(ih, c->in + 28, 20);
		consume(c, FP_HS_LEN);
		c->state = ST_MESSAGES;
		on_handshake(c, ih);
	}
	while (c->state == ST_MESSAGES && c->in_len >= 4) {
		uint32_t len = get_be32(c->in);
		if (len > FP_MSG_MAX) {
			conn_free(c);
			return -1;
		}
		if (c->in_len - 4 < len)
			break;
		if (len >= 2 && c->in[4] == 20)
			on_extended(c, c->in + 5, len - 1);
		consume(c, 4 + (size_t)len);
	}
	return 0;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct fp_conn *c = arg;
	fake_peer *fp = c->fp;
	(void)what;
	for (int i = 0; i < FP_READS_PER_WAKE; i++) {
		if (c->in_len == FP_IN_CAP) {
			conn_free(
			    c); /* cannot happen with FP_MSG_MAX < FP_IN_CAP; a bound anyway */
			return;
		}
		ssize_t r = recv(fd, c->in + c->in_len, FP_IN_CAP - c->in_len, 0);
		if (r == 0 ||
		    (r < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
			fp->st.closed_by_peer++;
			conn_free(c);
			return;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		c->in_len += (size_t)r;
		fp->st.bytes_received += (uint64_t)r;
		if (conn_process(c) < 0)
			return;
	}
	conn_flush(c);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_flush(arg);
}

/* One timer per connection: the end of a hold, a drip tick, or the end of a linger. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct fp_conn *c = arg;
	fake_peer *fp = c->fp;
	(void)fd;
	(void)what;
	if (c->state == ST_LINGER) {
		conn_free(c);
		return;
	}
	if (c->holding) {
		c->holding = 0;
		conn_flush(c);
		return;
	}
	if (c->out_off >= c->out.len || c->written_total < c->drip_from)
		return;
	ssize_t w = send(c->fd, c->out.data + c->out_off, 1, MSG_NOSIGNAL);
	if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		conn_free(c);
		return;
	}
	if (w == 1) {
		c->out_off++;
		c->written_total++;
		fp->st.bytes_sent++;
	}
	if (c->out_off < c->out.len)
		conn_arm_timer(c, fp->drip_ms);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	fake_peer *fp = arg;
	(void)what;
	for (int i = 0; i < FP_ACCEPTS_PER_WAKE; i++) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			return;
		fp->st.accepted++;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (fp->st.open >= fp->max_conns || evutil_make_socket_nonblocking(fd) < 0 ||
		    evutil_make_socket_closeonexec(fd) < 0) {
			close(fd);
			continue;
		}
		struct fp_conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fp = fp;
		c->fd = fd;
		c->drip_from = UINT64_MAX;
		bt_buf_init(&c->out, FP_OUT_MAX);
		c->next = fp->conns;
		if (fp->conns)
			fp->conns->prev = c;
		fp->conns = c;
		fp->st.open++;
		c->rd = event_new(fp->base, fd, EV_READ | EV_PERSIST, on_readable, c);
		c->wr = event_new(fp->base, fd, EV_WRITE, on_writable, c);
		c->tm = evtimer_new(fp->base, on_timer, c);
		if (!c->rd || !c->wr || !c->tm || event_add(c->rd, NULL) < 0) {
			conn_free(c);
			continue;
		}
		if (fp->mode == FP_GARBAGE) {
			static const char junk[] =
			    "HTTP/1.1 400 Bad Request\r\nServer: not-a-bittorrent-peer\r\n"
			    "Content-Length: 0\r\nConnection: keep-alive\r\n\r\n";
			uint8_t g[128];
			memset(g, '~', sizeof(g));
			memcpy(g, junk,
			       sizeof(junk) - 1 < sizeof(g) ? sizeof(junk) - 1 : sizeof(g));
			if (out_room(c, sizeof(g)) == 0)
				out_put(c, g, sizeof(g));
			conn_flush(c);
		}
	}
}

/* ---- the listener ---- */

static int is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
	}
	return 0;
}

/* "a.b.c.d:port" or "[v6]:port", port 0..65535 (evutil_parse_sockaddr_port refuses 0).
 * Returns the sockaddr's length, or 0. */
static socklen_t parse_addr(const char *s, struct sockaddr_storage *ss)
{
	char host[64];
	const char *colon, *h = s;
	size_t hl;
	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *close_br = strchr(s, ']');
		if (!close_br || close_br[1] != ':')
			return 0;
		h = s + 1;
		hl = (size_t)(close_br - h);
		colon = close_br + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return 0;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host))
		return 0;
	memcpy(host, h, hl);
	host[hl] = 0;
	char *end;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || errno || port > 65535)
		return 0;
	if (s[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return 0;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
		return 0;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	return sizeof(*s4);
}

static int open_listener(fake_peer *fp, const char *listen_addr)
{
	struct sockaddr_storage ss;
	socklen_t sl = listen_addr ? parse_addr(listen_addr, &ss) : 0;
	if (!sl || !is_loopback((struct sockaddr *)&ss))
		return -EINVAL;
	int fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 64) < 0 ||
	    evutil_make_socket_nonblocking(fd) < 0 || evutil_make_socket_closeonexec(fd) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	fp->addr_len = sizeof(fp->addr);
	if (getsockname(fd, (struct sockaddr *)&fp->addr, &fp->addr_len) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	fp->fd = fd;
	return 0;
}

int fake_peer_new(fake_peer **out, struct event_base *base, const char *listen_addr, int mode,
                  const uint8_t *info, size_t info_len)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!base || mode < 0 || mode >= FP_MODE_COUNT || (mode_needs_info(mode) && !info) ||
	    (info && (info_len == 0 || info_len > 64u * 1024 * 1024)))
		return -EINVAL;
	fake_peer *fp = calloc(1, sizeof(*fp));
	if (!fp)
		return -ENOMEM;
	fp->base = base;
	fp->mode = mode;
	fp->fd = -1;
	fp->drip_ms = 1000;
	fp->max_conns = FP_MAX_CONNS;
	fp->delay_ms = 300;
	fp->noise = 1;
	memcpy(fp->peer_id, "-FP0001-", 8);
	for (int i = 8; i < 20; i++)
		fp->peer_id[i] = (uint8_t)('a' + (mode + i) % 26);
	fp->meta_size = FP_DEFAULT_SIZE;
	if (info) {
		fp->info = malloc(info_len);
		if (!fp->info) {
			free(fp);
			return -ENOMEM;
		}
		memcpy(fp->info, info, info_len);
		fp->info_len = info_len;
		fp->meta_size = (int64_t)info_len;
		if (mode == FP_BAD_PIECES)
			for (size_t off = 0; off < info_len; off += FP_PIECE) {
				size_t plen = info_len - off < FP_PIECE ? info_len - off : FP_PIECE;
				fp->info[off + plen / 2] ^= 0x01;
			}
	}
	if (mode == FP_HUGE_SIZE)
		fp->meta_size = FP_HUGE;
	int err = open_listener(fp, listen_addr);
	if (err < 0) {
		free(fp->info);
		free(fp);
		return err;
	}
	fp->lev = event_new(base, fp->fd, EV_READ | EV_PERSIST, on_accept, fp);
	if (!fp->lev || event_add(fp->lev, NULL) < 0) {
		fake_peer_free(fp);
		return -ENOMEM;
	}
	*out = fp;
	return 0;
}

void fake_peer_free(fake_peer *fp)
{
	if (!fp)
		return;
	while (fp->conns)
		conn_free(fp->conns);
	if (fp->lev)
		event_free(fp->lev);
	if (fp->fd >= 0)
		close(fp->fd);
	free(fp->info);
	free(fp);
}

uint16_t fake_peer_port(const fake_peer *fp)
{
	if (fp->addr.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&fp->addr)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&fp->addr)->sin_port);
}

socklen_t fake_peer_sockaddr(const fake_peer *fp, struct sockaddr_storage *out)
{
	memcpy(out, &fp->addr, sizeof(*out));
	return fp->addr_len;
}

unsigned fake_peer_accepted(const fake_peer *fp)
{
	return fp->st.accepted;
}

void fake_peer_get_stats(const fake_peer *fp, fake_peer_stats *out)
{
	*out = fp->st;
}

void fake_peer_set_max_conns(fake_peer *fp, unsigned n)
{
	fp->max_conns = n ? n : 1;
}

void fake_peer_set_drip_ms(fake_peer *fp, unsigned ms)
{
	fp->drip_ms = ms ? ms : 1;
}

void fake_peer_set_delay_ms(fake_peer *fp, unsigned ms)
{
	fp->delay_ms = ms;
}

void fake_peer_set_noise(fake_peer *fp, int on)
{
	fp->noise = on != 0;
}
