/*
 * check_timer.c - sleeping, deadlines, timed joins, the clock.
 *
 * Only lower bounds on elapsed time are checked: the machines running this
 * are shared and noisy, so an upper bound would fail at random.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#include "testutil.h"

#include <time.h>

/* ---- helpers ------------------------------------------------------------ */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Sleep ns and check that at least ns passed. */
static void sleep_at_least(uint64_t ns)
{
	uint64_t t0 = smarm_now(), t1;

	ck_assert_int_eq(smarm_sleep(ns), 0);
	t1 = smarm_now();
	ck_assert_msg(t1 - t0 >= ns, "smarm_sleep(%llu) returned after %llu ns",
		      (unsigned long long)ns, (unsigned long long)(t1 - t0));
}

/* ---- sleep ---------------------------------------------------------------- */

static void *sleep_min_root(void *arg)
{
	(void)arg;
	sleep_at_least(1);
	sleep_at_least(1000);
	sleep_at_least(1 * MS);
	sleep_at_least(1 * MS + 1);
	sleep_at_least(5 * MS);
	sleep_at_least(20 * MS);
	sleep_at_least(50 * MS);
	return NULL;
}

START_TEST(test_sleep_min)
{
	run_in_actor(sleep_min_root, NULL);
}
END_TEST

/* The same from a spawned actor with a sibling running meanwhile. */
static void *sleep_min_child(void *arg)
{
	sleep_at_least((uint64_t)(uintptr_t)arg * MS);
	return arg;
}

static void *sleep_min_many_root(void *arg)
{
	smarm_pid pids[10];
	void *res;
	uintptr_t i;

	(void)arg;
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(smarm_spawn(&pids[i], sleep_min_child,
					     (void *)(i * 3 + 1)), 0);
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(smarm_join(pids[i], &res, SMARM_FOREVER), 0);
		ck_assert_ptr_eq(res, (void *)(i * 3 + 1));
	}
	return NULL;
}

START_TEST(test_sleep_min_concurrent)
{
	run_in_actor(sleep_min_many_root, NULL);
}
END_TEST

static volatile int zero_flag;

static void *set_zero_flag(void *arg)
{
	(void)arg;
	zero_flag = 1;
	return NULL;
}

static void *sleep_zero_root(void *arg)
{
	smarm_pid pid;
	int i;

	(void)arg;
	for (i = 0; i < 100; i++)
		ck_assert_int_eq(smarm_sleep(0), 0);
	/* sleep(0) yields: a runnable actor runs before it returns */
	ck_assert_int_eq(smarm_spawn(&pid, set_zero_flag, NULL), 0);
	ck_assert_int_eq(zero_flag, 0);
	ck_assert_int_eq(smarm_sleep(0), 0);
	ck_assert_int_eq(zero_flag, 1);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	return NULL;
}

START_TEST(test_sleep_zero)
{
	run_in_actor(sleep_zero_root, NULL);
}
END_TEST

START_TEST(test_sleep_outside)
{
	ck_assert_int_eq(smarm_sleep(0), EPERM);
	ck_assert_int_eq(smarm_sleep(1 * MS), EPERM);
	ck_assert_int_eq(smarm_sleep(SMARM_FOREVER), EPERM);
}
END_TEST

/* ---- wake order -------------------------------------------------------------- */

/*
 * Every sleeper's deadline is a fixed offset from one common base time, so
 * the order of the deadlines does not depend on when each sleeper started.
 */
#define MAX_SLEEPERS 16

static uint64_t order_base;
static unsigned order_ms[MAX_SLEEPERS];
static uint64_t order_woke_at[MAX_SLEEPERS];
static int order_n;

static void *ordered_sleeper(void *arg)
{
	unsigned ms = (unsigned)(uintptr_t)arg;
	uint64_t deadline = order_base + ms * MS, now = smarm_now();

	ck_assert_int_eq(smarm_sleep(deadline > now ? deadline - now : 0), 0);
	now = smarm_now();
	ck_assert_int_lt(order_n, MAX_SLEEPERS);
	order_woke_at[order_n] = now;
	order_ms[order_n++] = ms;
	return NULL;
}

static void *order_root(void *arg)
{
	const unsigned *ms = arg;
	smarm_pid pids[MAX_SLEEPERS];
	int n, i;

	for (n = 0; ms[n] != 0; n++)
		;
	order_n = 0;
	order_base = smarm_now();
	for (i = 0; i < n; i++)
		ck_assert_int_eq(smarm_spawn(&pids[i], ordered_sleeper,
					     (void *)(uintptr_t)ms[i]), 0);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(smarm_join(pids[i], NULL, SMARM_FOREVER), 0);
	ck_assert_int_eq(order_n, n);
	for (i = 0; i < n; i++) {
		ck_assert_uint_ge(order_woke_at[i], order_base + order_ms[i] * MS);
		if (i > 0)
			ck_assert_msg(order_ms[i - 1] < order_ms[i],
				      "woke out of deadline order: %u ms before "
				      "%u ms", order_ms[i - 1], order_ms[i]);
	}
	return NULL;
}

START_TEST(test_wake_order_three)
{
	static const unsigned ms[] = { 30, 10, 20, 0 };

	run_in_actor(order_root, (void *)ms);
	ck_assert_uint_eq(order_ms[0], 10);
	ck_assert_uint_eq(order_ms[1], 20);
	ck_assert_uint_eq(order_ms[2], 30);
}
END_TEST

START_TEST(test_wake_order_many)
{
	static const unsigned ms[] = { 25, 5, 45, 15, 35, 10, 40, 20, 30, 50,
				       0 };

	run_in_actor(order_root, (void *)ms);
	ck_assert_int_eq(order_n, 10);
}
END_TEST

/* ---- sleepers let others run -------------------------------------------- */

static volatile int spin_count;
static volatile int sleeper_done;

static void *spinner(void *arg)
{
	(void)arg;
	while (!sleeper_done) {
		spin_count++;
		ck_assert_int_eq(smarm_yield(), 0);
	}
	return NULL;
}

static void *sleeper(void *arg)
{
	int before, after;

	(void)arg;
	before = spin_count;
	sleep_at_least(30 * MS);
	after = spin_count;
	sleeper_done = 1;
	return (void *)(uintptr_t)(after > before);
}

static void *others_run_root(void *arg)
{
	smarm_pid s, p;
	void *res = NULL;
	int before;

	(void)arg;
	ck_assert_int_eq(smarm_spawn(&s, sleeper, NULL), 0);
	ck_assert_int_eq(smarm_spawn(&p, spinner, NULL), 0);
	/* a busy yielder does not keep the sleeper from waking */
	ck_assert_int_eq(smarm_join(s, &res, SMARM_FOREVER), 0);
	ck_assert_ptr_eq(res, (void *)1);
	ck_assert_int_eq(smarm_join(p, NULL, SMARM_FOREVER), 0);

	/* the sleeping root lets others run, too */
	sleeper_done = 0;
	before = spin_count;
	ck_assert_int_eq(smarm_spawn(&p, spinner, NULL), 0);
	sleep_at_least(20 * MS);
	ck_assert_int_gt(spin_count, before);
	sleeper_done = 1;
	ck_assert_int_eq(smarm_join(p, NULL, SMARM_FOREVER), 0);
	return NULL;
}

START_TEST(test_sleepers_let_others_run)
{
	run_in_actor(others_run_root, NULL);
}
END_TEST

/* ---- timed join ------------------------------------------------------------- */

static volatile int join_release;

static void *wait_release(void *arg)
{
	while (!join_release)
		ck_assert_int_eq(smarm_sleep(1 * MS), 0);
	return arg;
}

static void *join_fires_root(void *arg)
{
	smarm_pid pid;
	uint64_t t0, t1;
	void *res = NULL;

	(void)arg;
	ck_assert_int_eq(smarm_spawn(&pid, wait_release, (void *)0x77), 0);
	t0 = smarm_now();
	ck_assert_int_eq(smarm_join(pid, &res, 20 * MS), ETIMEDOUT);
	t1 = smarm_now();
	ck_assert_msg(t1 - t0 >= 20 * MS, "join timed out after %llu ns",
		      (unsigned long long)(t1 - t0));
	/* still joinable, again and again */
	t0 = smarm_now();
	ck_assert_int_eq(smarm_join(pid, &res, 5 * MS), ETIMEDOUT);
	ck_assert_uint_ge(smarm_now() - t0, 5 * MS);
	join_release = 1;
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), 0);
	ck_assert_ptr_eq(res, (void *)0x77);
	ck_assert_int_eq(smarm_join(pid, &res, 0), ESRCH);

	/* timed out, then joined within a timeout that does not fire */
	join_release = 0;
	ck_assert_int_eq(smarm_spawn(&pid, wait_release, (void *)0x78), 0);
	ck_assert_int_eq(smarm_join(pid, &res, 2 * MS), ETIMEDOUT);
	join_release = 1;
	ck_assert_int_eq(smarm_join(pid, &res, 10000 * MS), 0);
	ck_assert_ptr_eq(res, (void *)0x78);
	return NULL;
}

START_TEST(test_join_timeout_fires)
{
	run_in_actor(join_fires_root, NULL);
}
END_TEST

static void *yield_once(void *arg)
{
	ck_assert_int_eq(smarm_yield(), 0);
	return arg;
}

static void *short_sleep(void *arg)
{
	ck_assert_int_eq(smarm_sleep(5 * MS), 0);
	return arg;
}

static void *join_no_fire_root(void *arg)
{
	smarm_pid pid;
	void *res = NULL;

	(void)arg;
	ck_assert_int_eq(smarm_spawn(&pid, short_sleep, (void *)0x55), 0);
	ck_assert_int_eq(smarm_join(pid, &res, 10000 * MS), 0);
	ck_assert_ptr_eq(res, (void *)0x55);

	/*
	 * The actor ends long before the join's 200 ms timeout.  That timeout
	 * must be gone with the join: it must not cut the root's next sleep
	 * short when it would have expired.
	 */
	ck_assert_int_eq(smarm_spawn(&pid, yield_once, (void *)0x56), 0);
	ck_assert_int_eq(smarm_join(pid, &res, 200 * MS), 0);
	ck_assert_ptr_eq(res, (void *)0x56);
	sleep_at_least(300 * MS);
	return NULL;
}

START_TEST(test_join_timeout_not_fired)
{
	run_in_actor(join_no_fire_root, NULL);
}
END_TEST

/* ---- clock ------------------------------------------------------------------- */

static void check_now_monotonic(void)
{
	uint64_t prev = smarm_now(), t, lo, hi;
	int i;

	ck_assert_uint_gt(prev, 0);
	for (i = 0; i < 10000; i++) {
		t = smarm_now();
		ck_assert_uint_ge(t, prev);
		prev = t;
	}
	/* it is CLOCK_MONOTONIC */
	for (i = 0; i < 100; i++) {
		lo = mono_ns();
		t = smarm_now();
		hi = mono_ns();
		ck_assert_uint_ge(t, lo);
		ck_assert_uint_le(t, hi);
	}
}

static void *now_root(void *arg)
{
	uint64_t t0;

	(void)arg;
	check_now_monotonic();
	t0 = smarm_now();
	ck_assert_int_eq(smarm_yield(), 0);
	ck_assert_uint_ge(smarm_now(), t0);
	return NULL;
}

START_TEST(test_now)
{
	check_now_monotonic();
	run_in_actor(now_root, NULL);
	check_now_monotonic();
}
END_TEST

/* ---- suite ---------------------------------------------------------------- */

static Suite *timer_suite(void)
{
	Suite *s = suite_create("timer");
	TCase *tc;

	tc = tcase_add(s, "sleep");
	tcase_add_test(tc, test_sleep_min);
	tcase_add_test(tc, test_sleep_min_concurrent);
	tcase_add_test(tc, test_sleep_zero);
	tcase_add_test(tc, test_sleep_outside);

	tc = tcase_add(s, "order");
	tcase_add_test(tc, test_wake_order_three);
	tcase_add_test(tc, test_wake_order_many);

	tc = tcase_add(s, "others");
	tcase_add_test(tc, test_sleepers_let_others_run);

	tc = tcase_add(s, "join_timeout");
	tcase_add_test(tc, test_join_timeout_fires);
	tcase_add_test(tc, test_join_timeout_not_fired);

	tc = tcase_add(s, "now");
	tcase_add_test(tc, test_now);

	return s;
}

int main(void)
{
	return run_suite(timer_suite());
}
