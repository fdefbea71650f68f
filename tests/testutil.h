/*
 * testutil.h - what the Check suites share: the common includes, a few
 * constants, small helpers, and the suite plumbing (one TCase per feature,
 * each with the same timeout; a main that runs the suite).
 *
 * Header-only (static functions), so no test links another object.  Include
 * it first: it sets _GNU_SOURCE before any system header.  A suite whose
 * tests need longer than TIMEOUT defines its own before including it.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#ifndef SMARM_TESTUTIL_H
#define SMARM_TESTUTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <smarm.h>

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One millisecond in nanoseconds, smarm's unit of time. */
#define MS (1000ull * 1000ull)

/* Seconds each test may take (every TCase of a suite gets the same). */
#ifndef TIMEOUT
#define TIMEOUT 60
#endif

/* Run fn(arg) as the root actor of a fresh runtime made from
 * smarm_config_init's defaults (so SMARM_THREADS reaches every suite); it
 * must end normally. */
static inline void run_in_actor(smarm_fn fn, void *arg)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	void *res = NULL;

	smarm_config_init(&cfg);
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, fn, arg, &res), 0);
	smarm_runtime_free(rt);
}

/* An actor that returns its argument. */
static inline void *return_arg(void *arg)
{
	return arg;
}

/* Uses at least `bytes` of stack, touching every page on the way down.
 * Never inlined, so not `inline`: `unused` spares the suites without it
 * the warning. */
static __attribute__((noinline, unused)) unsigned long use_stack(size_t bytes)
{
	volatile unsigned char buf[1024];
	unsigned long sum;
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(bytes + i);
	sum = buf[0];
	if (bytes > sizeof(buf))
		sum += use_stack(bytes - sizeof(buf));
	return sum + buf[sizeof(buf) - 1];
}

/* A small deterministic generator (xorshift64*), for tests that need
 * repeatable pseudo-random sequences. */
static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static __attribute__((unused)) uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* A new TCase called name, with the suite's TIMEOUT, added to s. */
static inline TCase *tcase_add(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, TIMEOUT);
	suite_add_tcase(s, tc);
	return tc;
}

/* Run every test of s and free it.  Returns main's exit status:
 * EXIT_SUCCESS only when no test failed. */
static inline int run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif /* SMARM_TESTUTIL_H */
