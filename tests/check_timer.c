/*
 * check_timer.c - sleeping, deadlines, timed joins, the clock.
 *
 * Only lower bounds on elapsed time are checked: the machines running this
 * are shared and noisy, so an upper bound would fail at random.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#include "testutil.h"

#include <stdatomic.h>
#include <time.h>

#include "idle.h"

/*
 * Tests about what one worker does while an actor sleeps (it runs the
 * others, and notices the timer while they keep it busy) pin the actors
 * involved to one worker (testutil.h), so that they say the same with
 * any number of workers; the others run unpinned on the defaults.
 */

/* ---- helpers ------------------------------------------------------------ */

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

static atomic_int zero_flag;

static void *set_zero_flag(void *arg)
{
	(void)arg;
	atomic_store(&zero_flag, 1);
	return NULL;
}

/* Pinned, spawning a pinned actor: they share a worker. */
static void *sleep_zero_root(void *arg)
{
	smarm_pid pid;
	uint64_t parks;
	int i;

	(void)arg;
	parks = stats_now().parks;
	for (i = 0; i < 100; i++)
		ck_assert_int_eq(smarm_sleep(0), 0);
	/* sleep(0) parks not */
	ck_assert_uint_eq(stats_now().parks, parks);
	/* sleep(0) yields: a runnable actor of this worker runs before it
	 * returns */
	ck_assert_int_eq(spawn_pinned(&pid, set_zero_flag, NULL), 0);
	ck_assert_int_eq(atomic_load(&zero_flag), 0);
	ck_assert_int_eq(smarm_sleep(0), 0);
	ck_assert_int_eq(atomic_load(&zero_flag), 1);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	return NULL;
}

START_TEST(test_sleep_zero)
{
	run_pinned(sleep_zero_root, NULL);
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
 * Sleepers of one worker wake in deadline order: the sleepers are pinned
 * to one worker (_i == 0).  Unpinned (_i == 1), they may sleep and wake
 * on different workers, in parallel, so that only the deadlines are
 * checked: each woke after its own.
 */
#define MAX_SLEEPERS 16

static uint64_t order_base;
static unsigned order_ms[MAX_SLEEPERS];
static uint64_t order_woke_at[MAX_SLEEPERS];
static atomic_int order_n;

/* Set when a sleeper started too late for the order to mean anything
 * (a machine so loaded that 100 ms did not see ten spawns run). */
static atomic_int order_late;

static void *ordered_sleeper(void *arg)
{
	unsigned ms = (unsigned)(uintptr_t)arg;
	uint64_t deadline = order_base + ms * MS, now = smarm_now();
	int slot;

	/* Started after the first deadline: the order cannot be judged. */
	if (now >= order_base)
		atomic_store(&order_late, 1);
	ck_assert_int_eq(smarm_sleep(deadline > now ? deadline - now : 0), 0);
	now = smarm_now();
	slot = atomic_fetch_add(&order_n, 1);
	ck_assert_int_lt(slot, MAX_SLEEPERS);
	order_woke_at[slot] = now;
	order_ms[slot] = ms;
	return NULL;
}

struct order_ctx {
	const unsigned *ms;
	int pinned;
};

static void *order_root(void *arg)
{
	const struct order_ctx *c = arg;
	smarm_pid pids[MAX_SLEEPERS];
	int n, i;

	for (n = 0; c->ms[n] != 0; n++)
		;
	atomic_store(&order_n, 0);
	atomic_store(&order_late, 0);
	/* The deadlines start 100 ms from now: every sleeper has started,
	 * and really sleeps, before the first of them, even on a loaded
	 * machine (one that started late would only yield, and could wake
	 * out of order: such a run, seen under valgrind on a busy machine,
	 * sets order_late and only the deadlines themselves are checked). */
	order_base = smarm_now() + 100 * MS;
	for (i = 0; i < n; i++)
		ck_assert_int_eq((c->pinned ? spawn_pinned : smarm_spawn)(
					 &pids[i], ordered_sleeper,
					 (void *)(uintptr_t)c->ms[i]), 0);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(smarm_join(pids[i], NULL, SMARM_FOREVER), 0);
	ck_assert_int_eq(atomic_load(&order_n), n);
	for (i = 0; i < n; i++) {
		ck_assert_uint_ge(order_woke_at[i], order_base + order_ms[i] * MS);
		if (i > 0 && c->pinned && !atomic_load(&order_late))
			ck_assert_msg(order_ms[i - 1] < order_ms[i],
				      "woke out of deadline order: %u ms before "
				      "%u ms", order_ms[i - 1], order_ms[i]);
	}
	return NULL;
}

static void run_order(const unsigned *ms, int pinned)
{
	struct order_ctx c = { ms, pinned };

	if (pinned)
		run_pinned(order_root, &c);
	else
		run_in_actor(order_root, &c);
}

START_TEST(test_wake_order_three)
{
	static const unsigned ms[] = { 30, 10, 20, 0 };

	run_order(ms, _i == 0);
	ck_assert_int_eq(atomic_load(&order_n), 3);
	if (_i == 0 && !atomic_load(&order_late)) {
		ck_assert_uint_eq(order_ms[0], 10);
		ck_assert_uint_eq(order_ms[1], 20);
		ck_assert_uint_eq(order_ms[2], 30);
	}
}
END_TEST

START_TEST(test_wake_order_many)
{
	static const unsigned ms[] = { 25, 5, 45, 15, 35, 10, 40, 20, 30, 50,
				       0 };

	run_order(ms, _i == 0);
	ck_assert_int_eq(atomic_load(&order_n), 10);
}
END_TEST

/* ---- sleepers let others run -------------------------------------------- */

/* All pinned to one worker: while one sleeps, the others run there, and
 * a busy yielder there does not keep the sleeper from waking. */
static atomic_int spin_count;
static atomic_int sleeper_done;

static void *spinner(void *arg)
{
	(void)arg;
	while (!atomic_load(&sleeper_done)) {
		atomic_fetch_add(&spin_count, 1);
		ck_assert_int_eq(smarm_yield(), 0);
	}
	return NULL;
}

static void *sleeper(void *arg)
{
	int before, after;

	(void)arg;
	before = atomic_load(&spin_count);
	sleep_at_least(30 * MS);
	after = atomic_load(&spin_count);
	atomic_store(&sleeper_done, 1);
	return (void *)(uintptr_t)(after > before);
}

static void *others_run_root(void *arg)
{
	smarm_pid s, p;
	void *res = NULL;
	int before;

	(void)arg;
	ck_assert_int_eq(spawn_pinned(&s, sleeper, NULL), 0);
	ck_assert_int_eq(spawn_pinned(&p, spinner, NULL), 0);
	/* a busy yielder does not keep the sleeper from waking */
	ck_assert_int_eq(smarm_join(s, &res, SMARM_FOREVER), 0);
	ck_assert_ptr_eq(res, (void *)1);
	ck_assert_int_eq(smarm_join(p, NULL, SMARM_FOREVER), 0);

	/* the sleeping root lets others run, too */
	atomic_store(&sleeper_done, 0);
	before = atomic_load(&spin_count);
	ck_assert_int_eq(spawn_pinned(&p, spinner, NULL), 0);
	sleep_at_least(20 * MS);
	ck_assert_int_gt(atomic_load(&spin_count), before);
	atomic_store(&sleeper_done, 1);
	ck_assert_int_eq(smarm_join(p, NULL, SMARM_FOREVER), 0);
	return NULL;
}

START_TEST(test_sleepers_let_others_run)
{
	run_pinned(others_run_root, NULL);
}
END_TEST

/* ---- timed join ------------------------------------------------------------- */

static atomic_int join_release;

static void *wait_release(void *arg)
{
	while (!atomic_load(&join_release))
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
	atomic_store(&join_release, 1);
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), 0);
	ck_assert_ptr_eq(res, (void *)0x77);
	ck_assert_int_eq(smarm_join(pid, &res, 0), ESRCH);

	/* timed out, then joined within a timeout that does not fire */
	atomic_store(&join_release, 0);
	ck_assert_int_eq(smarm_spawn(&pid, wait_release, (void *)0x78), 0);
	ck_assert_int_eq(smarm_join(pid, &res, 2 * MS), ETIMEDOUT);
	atomic_store(&join_release, 1);
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

/* ---- no memory for a timer ------------------------------------------------ */

/* Blocks until its channel closes: something to join that has not ended. */
static void *wait_closed(void *arg)
{
	uint64_t v;

	ck_assert_int_eq(smarm_recv(arg, &v, SMARM_FOREVER), EPIPE);
	ck_assert_int_eq(smarm_rx_close(arg), 0);
	return NULL;
}

/*
 * Make this worker's timer heap look full at the largest size it can
 * have, so that the next timed wait cannot grow it: every timed wait then
 * fails with ENOMEM at once, without parking and without touching the
 * heap.  Nothing in between can switch, so the actor stays on this
 * worker until the heap is put back; and no timer is pending meanwhile,
 * so no other worker looks into it.
 */
static void *enomem_root(void *arg)
{
	smarm__timers *timers, saved;
	smarm_tx *tx, *tx2;
	smarm_rx *rx, *rx2;
	smarm_pid pid;
	uint64_t v = 0;
	int sleep_err, recv_err, join_err;

	(void)arg;
	ck_assert_int_eq(smarm_channel(&tx, &rx, sizeof(v)), 0);
	ck_assert_int_eq(smarm_channel(&tx2, &rx2, sizeof(v)), 0);
	ck_assert_int_eq(smarm_spawn(&pid, wait_closed, rx2), 0);
	timers = smarm__worker_timers_self();
	saved = *timers;
	timers->n = timers->cap = 1u << 31;
	sleep_err = smarm_sleep(MS);
	recv_err = smarm_recv(rx, &v, MS);
	join_err = smarm_join(pid, NULL, MS);
	*timers = saved;
	ck_assert_int_eq(sleep_err, ENOMEM);
	ck_assert_int_eq(recv_err, ENOMEM);
	ck_assert_int_eq(join_err, ENOMEM);
	/* Nothing was left behind: the channel still works, the joinee can
	 * still be joined, and sleeps work again. */
	v = 7;
	ck_assert_int_eq(smarm_send(tx, &v), 0);
	v = 0;
	ck_assert_int_eq(smarm_recv(rx, &v, MS), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(smarm_sleep(MS), 0);
	ck_assert_int_eq(smarm_tx_close(tx2), 0);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

START_TEST(test_timer_enomem)
{
	run_in_actor(enomem_root, NULL);
}
END_TEST

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
	tcase_add_loop_test(tc, test_wake_order_three, 0, 2);
	tcase_add_loop_test(tc, test_wake_order_many, 0, 2);

	tc = tcase_add(s, "others");
	tcase_add_test(tc, test_sleepers_let_others_run);

	tc = tcase_add(s, "join_timeout");
	tcase_add_test(tc, test_join_timeout_fires);
	tcase_add_test(tc, test_join_timeout_not_fired);

	tc = tcase_add(s, "now");
	tcase_add_test(tc, test_now);

	tc = tcase_add(s, "enomem");
	tcase_add_test(tc, test_timer_enomem);

	return s;
}

int main(void)
{
	return run_suite(timer_suite());
}
