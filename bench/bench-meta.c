/*
 * bench-meta.c - libbtmeta under load, over loopback: how many torrents' metadata one manager
 * fetches per second from many serving peers, and what an idle peer connection costs.
 *
 *   bench/bench-meta [TORRENTS [IDLE_CONNS [ROUNDS]]]      (defaults 5000 5000 3)
 *
 * Fetch rate: a child process runs a bt_meta serving TORRENTS distinct info dictionaries of
 * about 24 KiB (two ut_metadata pieces, like a typical torrent) on 8 addresses 127.0.70.1-8.
 * The parent fetches all of them, each from one peer, ROUNDS times with a fresh manager 1,000
 * jobs (and connections) wide, then ROUNDS times with all TORRENTS jobs and connections at once;
 * each round prints metadata/s and the peak of open connections.  Every
 * fetch is verified (SHA-1) and parsed.  Both sides share the machine's two cores, so the rate is
 * a floor for a client whose peers are elsewhere.
 *
 * Idle connections: a child runs 10 silent peers (tests/fake-peer.c, FP_SILENT: both
 * handshakes, metadata_size 40000, then no answer) on 127.0.71.1-10.  The parent opens
 * IDLE_CONNS connections to them, waits until every one has finished its handshakes and sent its
 * requests, and reports the growth of its resident memory divided by the connections, and the
 * kernel's TCP memory from /proc/net/sockstat (not part of the process, for the record).
 *
 * Every phase has a deadline and stops by itself; nothing leaves 127.0.0.0/8.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/evp.h>

#include "bench-util.h"
#include "btmeta.h"
#include "fake-peer.h"

#define SERVE_ADDRS 8
#define SERVE_PORT 7100
#define IDLE_PEERS 10
#define PHASE_DEADLINE_S 120

/* ---- test data ---- */

static size_t put_str(uint8_t *p, const char *s, size_t n)
{
	int k = sprintf((char *)p, "%zu:", n);
	memcpy(p + k, s, n);
	return (size_t)k + n;
}

/* A canonical single-file info dictionary of about 24 KiB: 1,200 piece hashes. */
static size_t make_info(uint8_t *out, unsigned i)
{
	char name[32];
	size_t n = 0;
	int k = snprintf(name, sizeof(name), "bench-%06u.bin", i);
	n += (size_t)sprintf((char *)out, "d6:lengthi%llue", 1200ull * 16384 - i);
	n += put_str(out + n, "name", 4);
	n += put_str(out + n, name, (size_t)k);
	n += put_str(out + n, "piece length", 12);
	n += (size_t)sprintf((char *)out + n, "i16384e");
	n += put_str(out + n, "pieces", 6);
	n += (size_t)sprintf((char *)out + n, "24000:");
	for (int j = 0; j < 24000; j += 8) {
		uint64_t r = bench_rnd();
		memcpy(out + n + j, &r, 8);
	}
	n += 24000;
	out[n++] = 'e';
	return n;
}

static void sin_of(struct sockaddr_in *s, unsigned a, unsigned b, unsigned port)
{
	memset(s, 0, sizeof(*s));
	s->sin_family = AF_INET;
	s->sin_port = htons((uint16_t)port);
	s->sin_addr.s_addr = htonl(127u << 24 | a << 8 | b);
}

static long rss_kib(void)
{
	long pages = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &res) != 2)
		res = -1;
	fclose(f);
	return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void sockstat(char *out, size_t n)
{
	char line[256];
	out[0] = 0;
	FILE *f = fopen("/proc/net/sockstat", "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "TCP:", 4) == 0) {
			line[strcspn(line, "\n")] = 0;
			snprintf(out, n, "%.*s", (int)(n - 1), line);
		}
	fclose(f);
}

static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* ---- children ---- */

static void parent_gone(evutil_socket_t fd, short what, void *arg)
{
	char c;
	(void)what;
	if (read(fd, &c, 1) <= 0)
		event_base_loopexit(arg, NULL);
}

/* Serve @n torrents on 127.0.70.1-8 until the parent closes @ctl; say "ready" on @rdy. */
static void run_server(unsigned n, int ctl, int rdy)
{
	struct event_base *base = event_base_new();
	bt_meta_options o = BT_META_OPTIONS_INIT;
	o.base = base;
	o.max_connections = 30000;
	o.max_per_ip = 30000;
	bt_meta *m;
	static uint8_t info[32768];
	if (!base || bt_meta_new(&m, &o) < 0)
		_exit(1);
	for (unsigned i = 0; i < n; i++) {
		size_t len = make_info(info, i);
		if (bt_meta_serve_add(m, info, len) < 0)
			_exit(1);
	}
	for (unsigned a = 1; a <= SERVE_ADDRS; a++) {
		struct sockaddr_in s;
		sin_of(&s, 70, a, SERVE_PORT);
		int e = bt_meta_listen(m, (struct sockaddr *)&s, sizeof(s), NULL);
		if (e < 0) {
			fprintf(stderr, "bench-meta: listen 127.0.70.%u:%d: %s\n", a, SERVE_PORT,
			        bt_meta_strerror(e));
			_exit(1);
		}
	}
	struct event *ev = event_new(base, ctl, EV_READ | EV_PERSIST, parent_gone, base);
	event_add(ev, NULL);
	if (write(rdy, "r", 1) != 1)
		_exit(1);
	event_base_dispatch(base);
	bt_meta_stats st;
	bt_meta_get_stats(m, &st);
	fprintf(stderr, "  server: %llu connections accepted, %llu pieces served\n",
	        (unsigned long long)st.conns_in, (unsigned long long)st.served_pieces);
	_exit(0);
}

/* Run silent peers on 127.0.71.1-10; write their ports to @rdy; stop when @ctl closes. */
static void run_silent(int ctl, int rdy)
{
	struct event_base *base = event_base_new();
	fake_peer *fp[IDLE_PEERS];
	uint16_t ports[IDLE_PEERS];
	for (int i = 0; i < IDLE_PEERS; i++) {
		char addr[32];
		snprintf(addr, sizeof(addr), "127.0.71.%d:0", i + 1);
		if (fake_peer_new(&fp[i], base, addr, FP_SILENT, NULL, 0) < 0)
			_exit(1);
		fake_peer_set_max_conns(fp[i], 100000);
		ports[i] = fake_peer_port(fp[i]);
	}
	struct event *ev = event_new(base, ctl, EV_READ | EV_PERSIST, parent_gone, base);
	event_add(ev, NULL);
	if (write(rdy, ports, sizeof(ports)) != (ssize_t)sizeof(ports))
		_exit(1);
	event_base_dispatch(base);
	_exit(0);
}

static pid_t spawn(int kind, unsigned n, int *ctl_w, void *ready, size_t rlen)
{
	int ctl[2], rdy[2];
	if (pipe(ctl) < 0 || pipe(rdy) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(ctl[1]);
		close(rdy[0]);
		if (kind == 0)
			run_server(n, ctl[0], rdy[1]);
		run_silent(ctl[0], rdy[1]);
	}
	close(ctl[0]);
	close(rdy[1]);
	*ctl_w = ctl[1];
	ssize_t got = read(rdy[0], ready, rlen);
	close(rdy[0]);
	return got == (ssize_t)rlen ? pid : -1;
}

static void reap(pid_t pid, int ctl_w)
{
	close(ctl_w);
	waitpid(pid, NULL, 0);
}

/* ---- the fetch rate ---- */

struct fetch_run {
	struct event_base *base;
	unsigned want, ok, failed;
	uint64_t bytes;
	int first_error;
};

static void fetched(const bt_meta_result *r, void *ud)
{
	struct fetch_run *f = ud;
	if (r->status == 0) {
		f->ok++;
		f->bytes += r->info->raw_len;
	} else {
		f->failed++;
		if (!f->first_error)
			f->first_error = r->status;
	}
	if (f->ok + f->failed == f->want)
		event_base_loopexit(f->base, NULL);
}

static int fetch_round(unsigned n, unsigned active, unsigned round)
{
	struct fetch_run f = {0};
	f.base = event_base_new();
	f.want = n;
	bt_meta_options o = BT_META_OPTIONS_INIT;
	o.base = f.base;
	o.on_result = fetched;
	o.cb_ud = &f;
	o.max_connections = active;
	o.max_active = active;
	o.max_queued = n;
	o.max_per_ip = active;
	o.peers_per_job = 1;
	o.job_timeout_ms = PHASE_DEADLINE_S * 1000;
	bt_meta *m;
	if (bt_meta_new(&m, &o) < 0)
		return -1;

	/* The same dictionaries as the server, so the same infohashes. */
	static uint8_t info[32768];
	uint8_t(*ih)[20] = malloc((size_t)n * 20);
	bench_rng = 88172645463325252ull;
	for (unsigned i = 0; i < n; i++) {
		size_t len = make_info(info, i);
		EVP_Digest(info, len, ih[i], NULL, EVP_sha1(), NULL);
	}
	uint64_t t0 = bench_now_ns();
	for (unsigned i = 0; i < n; i++) {
		struct sockaddr_in s;
		sin_of(&s, 70, 1 + i % SERVE_ADDRS, SERVE_PORT);
		bt_meta_submit(m, ih[i], 20, (struct sockaddr *)&s, sizeof(s));
	}
	struct timeval dl = {PHASE_DEADLINE_S, 0};
	event_base_loopexit(f.base, &dl);
	event_base_dispatch(f.base);
	uint64_t ns = bench_now_ns() - t0;

	bt_meta_stats st;
	bt_meta_get_stats(m, &st);
	char label[64];
	snprintf(label, sizeof(label), "fetch %u-wide #%u", active, round);
	printf("%-20s metadata=%-6u failed=%-4u %8.0f metadata/s  %6.1f MB/s  peak conns=%llu"
	       "  (%.2f s)\n",
	       label, f.ok, f.failed, bench_rate(f.ok, ns), bench_rate(f.bytes, ns) / 1e6,
	       (unsigned long long)st.conns_peak, (double)ns / 1e9);
	if (f.failed)
		printf("  first failure: %s\n", bt_meta_strerror(f.first_error));
	fflush(stdout);
	bt_meta_free(m);
	event_base_free(f.base);
	free(ih);
	return f.failed || f.ok != n ? -1 : 0;
}

/* ---- idle connections ---- */

static void idle_check(evutil_socket_t fd, short what, void *arg)
{
	bt_meta *m = ((void **)arg)[0];
	struct event_base *base = ((void **)arg)[1];
	uint64_t want = *(uint64_t *)((void **)arg)[2];
	bt_meta_stats st;
	(void)fd;
	(void)what;
	bt_meta_get_stats(m, &st);
	/* Every connection past its handshakes holds a reservation of metadata_size + bitmap. */
	if (st.conns_open == want && st.buffer_bytes == want * 40001)
		event_base_loopexit(base, NULL);
}

static int idle_conns(unsigned n, const uint16_t ports[IDLE_PEERS])
{
	struct event_base *base = event_base_new();
	bt_meta_options o = BT_META_OPTIONS_INIT;
	o.base = base;
	o.max_connections = n;
	o.max_active = n;
	o.max_queued = n;
	o.max_per_ip = n;
	o.peers_per_job = 1;
	o.idle_timeout_ms = o.peer_timeout_ms = o.handshake_timeout_ms = o.job_timeout_ms =
	    PHASE_DEADLINE_S * 1000 * 2;
	o.max_buffer_memory = (size_t)n * 40001;
	bt_meta *m;
	if (bt_meta_new(&m, &o) < 0)
		return -1;

	uint8_t(*ih)[20] = malloc((size_t)n * 20);
	for (unsigned i = 0; i < n; i++)
		for (int j = 0; j < 20; j += 4) {
			uint32_t r = (uint32_t)bench_rnd();
			memcpy(ih[i] + j, &r, 4);
		}
	long before = rss_kib();
	uint64_t t0 = bench_now_ns();
	for (unsigned i = 0; i < n; i++) {
		struct sockaddr_in s;
		sin_of(&s, 71, 1 + i % IDLE_PEERS, ports[i % IDLE_PEERS]);
		bt_meta_submit(m, ih[i], 20, (struct sockaddr *)&s, sizeof(s));
	}
	uint64_t want = n;
	void *args[3] = {m, base, &want};
	struct event *tick = event_new(base, -1, EV_PERSIST, idle_check, args);
	struct timeval tv = {0, 50000}, dl = {PHASE_DEADLINE_S, 0};
	event_add(tick, &tv);
	event_base_loopexit(base, &dl);
	event_base_dispatch(base);
	uint64_t ns = bench_now_ns() - t0;
	long after = rss_kib();

	bt_meta_stats st;
	bt_meta_get_stats(m, &st);
	char sock[256];
	sockstat(sock, sizeof(sock));
	int ok = st.conns_open == n && st.buffer_bytes == want * 40001;
	printf("%-20s conns=%-6llu peak=%-6llu %s in %.2f s\n", "idle connections",
	       (unsigned long long)st.conns_open, (unsigned long long)st.conns_peak,
	       ok ? "all past their handshakes" : "NOT ALL READY", (double)ns / 1e9);
	printf("%-20s rss %ld KiB -> %ld KiB: %.0f bytes per idle connection "
	       "(jobs and queue included)\n",
	       "memory", before, after,
	       st.conns_open ? (double)(after - before) * 1024.0 / (double)st.conns_open : 0.0);
	printf("%-20s %s (pages, both ends of every connection)\n", "kernel", sock);
	fflush(stdout);
	event_free(tick);
	bt_meta_free(m);
	event_base_free(base);
	free(ih);
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	unsigned torrents = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 5000;
	unsigned idle = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 5000;
	unsigned rounds = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 3;
	int rc = 0, ctl;
	char ready;

	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	/* Idle first: its memory figure must not profit from heap the fetch rounds freed. */
	if (idle > 0) {
		uint16_t ports[IDLE_PEERS];
		pid_t pid = spawn(1, 0, &ctl, ports, sizeof(ports));
		if (pid < 0) {
			fprintf(stderr, "bench-meta: the silent peers did not start\n");
			return 1;
		}
		if (idle_conns(idle, ports) < 0)
			rc = 1;
		reap(pid, ctl);
	}
	if (torrents > 0) {
		bench_rng = 88172645463325252ull;
		pid_t pid = spawn(0, torrents, &ctl, &ready, 1);
		if (pid < 0) {
			fprintf(stderr, "bench-meta: the serving process did not start\n");
			return 1;
		}
		/* As many at once as a typical crawler runs, then all of them at once. */
		for (unsigned r = 1; r <= rounds; r++)
			if (fetch_round(torrents, torrents < 1000 ? torrents : 1000, r) < 0)
				rc = 1;
		for (unsigned r = 1; r <= rounds; r++)
			if (fetch_round(torrents, torrents, r) < 0)
				rc = 1;
		reap(pid, ctl);
	}
	return rc;
}
