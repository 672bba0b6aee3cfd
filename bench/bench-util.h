/*
 * bench-util.h - what every BitScrape benchmark shares: a monotonic clock in nanoseconds, a rate
 * computation and one line of output per measured case, so that all bench-* programs print
 * figures in the same shape ("<label>  <unit>=<count>  <rate> M<unit>/s") and can be compared
 * or grepped side by side.  Header-only; needs a POSIX clock_gettime() (the build defines
 * _GNU_SOURCE).
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Nanoseconds on a clock that never jumps, for measuring intervals only. */
static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Items per second; 0 when no time was measured rather than a division by zero. */
/* A fast deterministic generator (xorshift64) for benchmark data: same inputs every run. */
static uint64_t bench_rng = 88172645463325252ull;
static inline uint64_t bench_rnd(void)
{
	bench_rng ^= bench_rng << 13;
	bench_rng ^= bench_rng >> 7;
	bench_rng ^= bench_rng << 17;
	return bench_rng;
}

static inline double bench_rate(uint64_t count, uint64_t ns)
{
	return ns ? (double)count * 1e9 / (double)ns : 0.0;
}

/* Prints one result line, e.g.
 *   event-bus sync   subs=1    events=50000000           50.06 Mevents/s  (1.00 s)
 * @unit names what was counted ("events", "bytes", ...). */
static inline void bench_print(const char *label, const char *unit, uint64_t count, uint64_t ns)
{
	char what[64];
	snprintf(what, sizeof(what), "%s=%" PRIu64, unit, count);
	printf("%-28s %-22s %9.2f M%s/s  (%.2f s)\n", label, what, bench_rate(count, ns) / 1e6,
	       unit, (double)ns / 1e9);
	fflush(stdout);
}

#endif /* BENCH_UTIL_H */
