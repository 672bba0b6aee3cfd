/*
 * test-util.h - what every Check suite shares: its main(), and a deterministic PRNG (xorshift64*)
 * so that generated inputs are the same on every run.  Each suite is its own program, so the
 * generator's state is per suite; a test that needs a fixed sequence sets bt_test_rng first.
 */
#ifndef BT_TESTS_TEST_UTIL_H
#define BT_TESTS_TEST_UTIL_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

static uint64_t bt_test_rng = 0x9E3779B97F4A7C15ull;

static inline uint64_t bt_test_rnd(void)
{
	bt_test_rng ^= bt_test_rng >> 12;
	bt_test_rng ^= bt_test_rng << 25;
	bt_test_rng ^= bt_test_rng >> 27;
	return bt_test_rng * 2685821657736338717ull;
}

/* Run @s; EXIT_FAILURE when a test failed. */
static inline int bt_test_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
