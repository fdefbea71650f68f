/*
 * check_preempt.c - preemption points: SMARM_CHECK(), the smarm_malloc
 * family, and smarm_config.preempt_budget.
 *
 * A preemption point yields to what else is runnable on the actor's own
 * worker, so the actors whose turns are counted here are pinned to one
 * worker (SMARM_SPAWN_PINNED, see testutil.h): the spinner runs pinned,
 * and spawns its pinned sibling itself, so that whatever the number of
 * workers (SMARM_THREADS) the two share a worker, the spinner starts with
 * a fresh budget, and the sibling's first turn comes at the spinner's
 * first forced yield.  Nothing else is runnable on that worker meanwhile
 * (the root is parked in a join), so the budget tests assert exact counts.
 * A test that would hang without preemption is bounded by an iteration
 * or wall-clock cap and fails instead.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#define TIMEOUT 120
#include "testutil.h"

#include <stdatomic.h>

#define SPIN_TIMEOUT 30 /* tests that would spin forever without preemption */

/* ---- helpers ------------------------------------------------------------ */

struct budget_call {
	smarm_fn fn;
	void *arg;
};

static void *budget_call_root(void *p)
{
	struct budget_call *c = p;

	return pinned_join(c->fn, c->arg);
}

/* Run fn(arg) pinned (see the top of this file), in a runtime made from
 * the defaults with the given budget. */
static void run_with_budget(unsigned budget, smarm_fn fn, void *arg)
{
	struct budget_call c = { fn, arg };
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	void *res = NULL;

	smarm_config_init(&cfg);
	cfg.preempt_budget = budget;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_ptr_nonnull(rt);
	ck_assert_int_eq(smarm_runtime_run(rt, budget_call_root, &c, &res), 0);
	smarm_runtime_free(rt);
}

/*
 * The sibling whose turns are counted: one increment per turn, then a
 * voluntary yield (not a preemption point), until told to stop.  With
 * just it and one spinner runnable on their worker, every forced yield of
 * the spinner gives it exactly one turn.
 */
static volatile unsigned sib_turns;
static volatile int sib_stop;

static void *turn_counter(void *arg)
{
	(void)arg;
	while (!sib_stop) {
		sib_turns++;
		ck_assert_int_eq(smarm_yield(), 0);
	}
	return NULL;
}

/* ---- defaults ----------------------------------------------------------- */

START_TEST(test_config_default)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;

	memset(&cfg, 0xff, sizeof(cfg));
	smarm_config_init(&cfg);
	ck_assert_uint_eq(cfg.preempt_budget, SMARM_PREEMPT_DEFAULT);
	ck_assert_uint_eq(SMARM_PREEMPT_DEFAULT, 1024);
	/* 0 and other budgets are accepted */
	cfg.preempt_budget = 0;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	smarm_runtime_free(rt);
	cfg.preempt_budget = 1;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	smarm_runtime_free(rt);
}
END_TEST

/* ---- a spinner lets its sibling run ---------------------------------------- */

/* Bounds on the spin loops below: far above any budget, so reaching one
 * means the sibling never ran, i.e. no preemption. */
#define CHECK_SPIN_CAP 20000000ul
#define ALLOC_SPIN_CAP 2000000ul

static volatile int spin_flag;
static volatile int spinner_started;
static volatile int setter_saw_spinner; /* the setter ran mid-spin */
static unsigned long spin_iters;

static void *flag_setter(void *arg)
{
	(void)arg;
	setter_saw_spinner = spinner_started && !spin_flag;
	spin_flag = 1;
	return NULL;
}

static void *check_spinner(void *arg)
{
	smarm_pid setter;

	(void)arg;
	spinner_started = 1;
	/* the setter can only run when this actor yields */
	spawn_pinned_ok(&setter, flag_setter, NULL);
	while (!spin_flag) {
		SMARM_CHECK();
		if (++spin_iters >= CHECK_SPIN_CAP)
			break;
	}
	join_ok(setter);
	return NULL;
}

static void *alloc_spinner(void *arg)
{
	smarm_pid setter;
	void *p;

	(void)arg;
	spinner_started = 1;
	spawn_pinned_ok(&setter, flag_setter, NULL);
	while (!spin_flag) {
		p = smarm_malloc(32);
		if (p == NULL)
			break;
		((volatile char *)p)[0] = 1;
		smarm_free(p);
		if (++spin_iters >= ALLOC_SPIN_CAP)
			break;
	}
	join_ok(setter);
	return NULL;
}

START_TEST(test_check_lets_sibling_run)
{
	run_pinned(check_spinner, NULL);
	ck_assert_msg(spin_flag, "the sibling never ran: SMARM_CHECK() did "
		      "not yield in %lu iterations", spin_iters);
	ck_assert_msg(setter_saw_spinner, "the sibling did not run while the "
		      "spinner was spinning");
	ck_assert_uint_lt(spin_iters, CHECK_SPIN_CAP);
	/* default budget: the first forced yield comes at check 1024 */
	ck_assert_uint_eq(spin_iters, SMARM_PREEMPT_DEFAULT);
}
END_TEST

START_TEST(test_alloc_lets_sibling_run)
{
	run_pinned(alloc_spinner, NULL);
	ck_assert_msg(spin_flag, "the sibling never ran: smarm_malloc/"
		      "smarm_free did not yield in %lu iterations", spin_iters);
	ck_assert_msg(setter_saw_spinner, "the sibling did not run while the "
		      "spinner was spinning");
	ck_assert_uint_lt(spin_iters, ALLOC_SPIN_CAP);
	/* two preemption points per iteration */
	ck_assert_uint_eq(spin_iters, SMARM_PREEMPT_DEFAULT / 2);
}
END_TEST

/* A sleeping sibling: its timer is noticed at a preemption point of the
 * spinner that keeps their worker busy. */
static volatile uint64_t sleeper_woke_at;

static void *flag_after_sleep(void *arg)
{
	uint64_t t0 = smarm_now();

	ck_assert_int_eq(smarm_sleep((uint64_t)(uintptr_t)arg), 0);
	sleeper_woke_at = smarm_now();
	ck_assert_uint_ge(sleeper_woke_at - t0, (uint64_t)(uintptr_t)arg);
	spin_flag = 1;
	return NULL;
}

static void *timed_spinner(void *arg)
{
	uint64_t limit = smarm_now() + 10000 * MS;
	unsigned long n = 0;

	(void)arg;
	while (!spin_flag) {
		SMARM_CHECK();
		/* reading the clock is not a preemption point */
		if ((++n & 1023) == 0 && smarm_now() > limit)
			break;
	}
	return NULL;
}

static void *sleep_spin_root(void *arg)
{
	smarm_pid sleeper, spinner;

	(void)arg;
	spawn_pinned_ok(&sleeper, flag_after_sleep,
			(void *)(uintptr_t)(20 * MS));
	ck_assert_int_eq(smarm_yield(), 0); /* the sleeper is parked now */
	spawn_pinned_ok(&spinner, timed_spinner, NULL);
	join_ok(spinner);
	join_ok(sleeper);
	return NULL;
}

START_TEST(test_check_notices_timers)
{
	run_pinned(sleep_spin_root, NULL);
	ck_assert_msg(spin_flag, "a sleeper's 20 ms timer was not noticed in "
		      "10 s of SMARM_CHECK()");
}
END_TEST

/* ---- the allocation functions -------------------------------------------- */

static void check_zero(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			ck_abort_msg("smarm_calloc: byte %zu of %zu is 0x%02x",
				     i, n, p[i]);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 131u + seed);
}

static void check_fill(const unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != (unsigned char)(i * 131u + seed))
			ck_abort_msg("smarm_realloc: byte %zu of %zu changed",
				     i, n);
}

/* Huge but not "fishy" (negative as ssize_t) for valgrind.  Volatile, so
 * that the compiler does not reject the calls at build time. */
static volatile size_t huge_size = (size_t)1 << 62;
static volatile size_t half_overflow = (size_t)1 << 33; /* squared: 2^66 */
#define HUGE_SIZE huge_size
/* libc's, called through pointers: clang takes malloc for a function that
 * writes no memory of the program's, errno included, and would read back
 * the 0 stored before the call. */
static void *(*volatile libc_malloc)(size_t) = malloc;
static void *(*volatile libc_calloc)(size_t, size_t) = calloc;

/* The same checks inside and outside an actor. */
static void alloc_semantics(void)
{
	static const size_t sizes[] = { 1, 24, 100, 4096, 100000, 1u << 20 };
	unsigned char *p, *q;
	void *libc_p;
	int libc_errno;
	size_t i;

	/* calloc zeroes, even memory that was dirty before */
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		p = smarm_malloc(sizes[i]);
		ck_assert_ptr_nonnull(p);
		memset(p, 0xa5, sizes[i]);
		smarm_free(p);
		p = smarm_calloc(1, sizes[i]);
		ck_assert_ptr_nonnull(p);
		check_zero(p, sizes[i]);
		smarm_free(p);
		p = smarm_calloc(sizes[i], 3);
		ck_assert_ptr_nonnull(p);
		check_zero(p, sizes[i] * 3);
		smarm_free(p);
	}

	/* realloc keeps the contents, growing and shrinking */
	p = smarm_realloc(NULL, 100); /* realloc(NULL) is malloc */
	ck_assert_ptr_nonnull(p);
	fill(p, 100, 7);
	p = smarm_realloc(p, 100000);
	ck_assert_ptr_nonnull(p);
	check_fill(p, 100, 7);
	fill(p, 100000, 9);
	p = smarm_realloc(p, 1u << 21);
	ck_assert_ptr_nonnull(p);
	check_fill(p, 100000, 9);
	p = smarm_realloc(p, 50);
	ck_assert_ptr_nonnull(p);
	check_fill(p, 50, 9);

	/* failures: NULL and the same errno as libc's; the block survives a
	 * failed realloc */
	errno = 0;
	libc_p = libc_malloc(HUGE_SIZE);
	libc_errno = errno;
	ck_assert_ptr_null(libc_p);
	errno = 0;
	q = smarm_malloc(HUGE_SIZE);
	ck_assert_ptr_null(q);
	ck_assert_int_eq(errno, libc_errno);
	ck_assert_int_eq(errno, ENOMEM);

	errno = 0;
	q = smarm_realloc(p, HUGE_SIZE);
	ck_assert_ptr_null(q);
	ck_assert_int_eq(errno, libc_errno);
	check_fill(p, 50, 9);
	smarm_free(p);

	/* n * size overflows */
	errno = 0;
	libc_p = libc_calloc(half_overflow, half_overflow);
	libc_errno = errno;
	ck_assert_ptr_null(libc_p);
	errno = 0;
	q = smarm_calloc(half_overflow, half_overflow);
	ck_assert_ptr_null(q);
	ck_assert_int_eq(errno, libc_errno);

	/* malloc(0) and calloc(0, n) give what free() takes, like libc */
	p = smarm_malloc(0);
	smarm_free(p);
	p = smarm_calloc(0, 8);
	smarm_free(p);
	smarm_free(NULL);

	/* memory from one family is freed by the other: they are libc's */
	p = smarm_malloc(64);
	ck_assert_ptr_nonnull(p);
	free(p);
	p = malloc(64);
	ck_assert_ptr_nonnull(p);
	fill(p, 64, 3);
	p = smarm_realloc(p, 128);
	ck_assert_ptr_nonnull(p);
	check_fill(p, 64, 3);
	smarm_free(p);
}

static void *alloc_semantics_root(void *arg)
{
	(void)arg;
	alloc_semantics();
	return NULL;
}

START_TEST(test_alloc_in_actor)
{
	run_in_actor(alloc_semantics_root, NULL);
}
END_TEST

/* Outside an actor: libc behaviour, and smarm_check does nothing. */
START_TEST(test_alloc_outside)
{
	int i;

	for (i = 0; i < 100000; i++)
		smarm_check();
	SMARM_CHECK();
	alloc_semantics();
	/* after a run, too */
	run_in_actor(alloc_semantics_root, NULL);
	for (i = 0; i < 100000; i++)
		SMARM_CHECK();
	alloc_semantics();
}
END_TEST

/*
 * A plain thread calling the preemption points while a runtime runs in
 * another thread: nothing happens to it, and the actors' budgets are not
 * charged for its calls.  The budget is 10 and the thread makes 7 calls of
 * each kind, so a charge would move the root's first forced yield.
 */
static atomic_int outside_done;

static void *outside_thread(void *arg)
{
	void *p;
	int i;

	(void)arg;
	for (i = 0; i < 7; i++)
		SMARM_CHECK();
	for (i = 0; i < 7; i++) {
		p = smarm_calloc(1, 16);
		if (p == NULL)
			return (void *)1;
		p = smarm_realloc(p, 32);
		if (p == NULL)
			return (void *)2;
		smarm_free(p);
	}
	for (i = 0; i < 100000; i++)
		smarm_check();
	atomic_store(&outside_done, 1);
	return NULL;
}

static void *outside_thread_root(void *arg)
{
	pthread_t th;
	void *tres = (void *)-1;
	smarm_pid sib;
	unsigned i, before, first = 0, turns = 0;

	(void)arg;
	ck_assert_int_eq(pthread_create(&th, NULL, outside_thread, NULL), 0);
	/* no preemption point while the thread runs: the root's budget
	 * stays fresh (nothing to yield to anyway) */
	ck_assert_int_eq(pthread_join(th, &tres), 0);
	ck_assert_ptr_null(tres);
	ck_assert_int_eq(atomic_load(&outside_done), 1);

	/* now measure the root's own budget against a sibling */
	spawn_pinned_ok(&sib, turn_counter, NULL);
	for (i = 1; i <= 30; i++) {
		before = sib_turns;
		SMARM_CHECK();
		if (sib_turns != before) {
			turns++;
			if (first == 0)
				first = i;
		}
	}
	sib_stop = 1;
	join_ok(sib);
	ck_assert_uint_eq(first, 10);
	ck_assert_uint_eq(turns, 3);
	return NULL;
}

START_TEST(test_check_from_plain_thread)
{
	run_with_budget(10, outside_thread_root, NULL);
}
END_TEST

/*
 * Every allocation function counts as one preemption point: with budget
 * 2, ten calls of any one of them give the sibling exactly five turns.
 */
#define PER_KIND 10

static void *alloc_points_root(void *arg)
{
	smarm_pid sib;
	void *ptrs[PER_KIND];
	unsigned before, i;

	(void)arg;
	/* the root does not spin; a fresh measuring actor does */
	spawn_pinned_ok(&sib, turn_counter, NULL);
	ck_assert_int_eq(smarm_yield(), 0); /* the sibling has started */

	before = sib_turns;
	for (i = 0; i < PER_KIND; i++) {
		ptrs[i] = smarm_malloc(16 + i);
		ck_assert_ptr_nonnull(ptrs[i]);
	}
	ck_assert_uint_eq(sib_turns - before, PER_KIND / 2);

	before = sib_turns;
	for (i = 0; i < PER_KIND; i++) {
		ptrs[i] = smarm_realloc(ptrs[i], 4096 + i);
		ck_assert_ptr_nonnull(ptrs[i]);
	}
	ck_assert_uint_eq(sib_turns - before, PER_KIND / 2);

	before = sib_turns;
	for (i = 0; i < PER_KIND; i++)
		smarm_free(ptrs[i]);
	ck_assert_uint_eq(sib_turns - before, PER_KIND / 2);

	before = sib_turns;
	for (i = 0; i < PER_KIND; i++) {
		ptrs[i] = smarm_calloc(4, 8);
		ck_assert_ptr_nonnull(ptrs[i]);
	}
	ck_assert_uint_eq(sib_turns - before, PER_KIND / 2);
	for (i = 0; i < PER_KIND; i++)
		free(ptrs[i]); /* libc free: no preemption point */

	before = sib_turns;
	for (i = 0; i < PER_KIND; i++)
		smarm_check();
	ck_assert_uint_eq(sib_turns - before, PER_KIND / 2);

	/* a mixed sequence: malloc, check, free = 3 points per round */
	before = sib_turns;
	for (i = 0; i < 2 * PER_KIND; i++) {
		void *p = smarm_malloc(8);

		ck_assert_ptr_nonnull(p);
		SMARM_CHECK();
		smarm_free(p);
	}
	ck_assert_uint_eq(sib_turns - before, 3 * PER_KIND);

	sib_stop = 1;
	join_ok(sib);
	return NULL;
}

START_TEST(test_alloc_points)
{
	run_with_budget(2, alloc_points_root, NULL);
}
END_TEST

/* ---- the budget ------------------------------------------------------------ */

#define MAX_CHECKS 20000

/* Positions (1-based) of the checks across which the sibling ran. */
static unsigned yield_pos[MAX_CHECKS];
static unsigned n_yields;
static unsigned bad_delta; /* a check across which the sibling ran twice */

static void *budget_spinner(void *arg)
{
	unsigned n = (unsigned)(uintptr_t)arg, i, before, d;
	smarm_pid sib;

	/* the sibling's first turn comes at our first forced yield */
	spawn_pinned_ok(&sib, turn_counter, NULL);
	for (i = 1; i <= n; i++) {
		before = sib_turns;
		SMARM_CHECK();
		d = sib_turns - before;
		if (d != 0) {
			if (d != 1 && bad_delta == 0)
				bad_delta = i;
			yield_pos[n_yields++] = i;
		}
	}
	sib_stop = 1;
	join_ok(sib);
	return NULL;
}

/* With budget N a fresh actor yields at checks N, 2N, 3N, ... */
static void check_budget(unsigned budget, unsigned checks)
{
	unsigned i;

	ck_assert_uint_le(checks, MAX_CHECKS);
	run_with_budget(budget, budget_spinner, (void *)(uintptr_t)checks);
	ck_assert_msg(bad_delta == 0, "the sibling ran more than once across "
		      "check %u", bad_delta);
	ck_assert_msg(n_yields == checks / budget,
		      "budget %u: %u checks gave %u forced yields, expected %u",
		      budget, checks, n_yields, checks / budget);
	for (i = 0; i < n_yields; i++)
		ck_assert_msg(yield_pos[i] == (i + 1) * budget,
			      "budget %u: forced yield #%u at check %u, "
			      "expected %u", budget, i + 1, yield_pos[i],
			      (i + 1) * budget);
	/* the sibling ran once per forced yield and not otherwise (it sees
	 * sib_stop on its next turn and ends without counting) */
	ck_assert_uint_eq(sib_turns, n_yields);
}

START_TEST(test_budget_10)
{
	check_budget(10, 100);
	ck_assert_uint_eq(n_yields, 10);
}
END_TEST

START_TEST(test_budget_1)
{
	check_budget(1, 50);
	ck_assert_uint_eq(n_yields, 50);
}
END_TEST

START_TEST(test_budget_7)
{
	check_budget(7, 72);
	ck_assert_uint_eq(n_yields, 10);
}
END_TEST

START_TEST(test_budget_default)
{
	check_budget(SMARM_PREEMPT_DEFAULT, 10 * SMARM_PREEMPT_DEFAULT + 5);
	ck_assert_uint_eq(n_yields, 10);
}
END_TEST

/* Budget 0: no preemption point ever yields, allocations included. */
static void *no_budget_spinner(void *arg)
{
	smarm_pid sib;
	unsigned i;
	void *p;

	(void)arg;
	spawn_pinned_ok(&sib, turn_counter, NULL);
	for (i = 0; i < 200000; i++) {
		SMARM_CHECK();
		if (sib_turns != 0)
			ck_abort_msg("budget 0: the sibling ran at check %u", i);
	}
	for (i = 0; i < 20000; i++) {
		p = smarm_malloc(16);
		if (p == NULL)
			ck_abort_msg("smarm_malloc failed");
		p = smarm_realloc(p, 64);
		if (p == NULL)
			ck_abort_msg("smarm_realloc failed");
		smarm_free(p);
		p = smarm_calloc(2, 8);
		if (p == NULL)
			ck_abort_msg("smarm_calloc failed");
		smarm_free(p);
		if (sib_turns != 0)
			ck_abort_msg("budget 0: the sibling ran at "
				     "allocation round %u", i);
	}
	/* a voluntary yield still works */
	ck_assert_int_eq(smarm_yield(), 0);
	ck_assert_uint_eq(sib_turns, 1);
	sib_stop = 1;
	join_ok(sib);
	return NULL;
}

START_TEST(test_budget_0)
{
	run_with_budget(0, no_budget_spinner, NULL);
	ck_assert_uint_eq(sib_turns, 1);
}
END_TEST

/* ---- each actor has its own budget ------------------------------------------ */

#define OWN_BUDGET 5
#define OWN_CHECKS 100

static char own_trace[2 * OWN_CHECKS + 1];
static unsigned own_len;

/* A spawns B, so A starts first; each starts with a fresh budget. */
static void *own_spinner(void *arg)
{
	char me = (char)(uintptr_t)arg;
	smarm_pid b;
	unsigned i;

	if (me == 'A')
		spawn_pinned_ok(&b, own_spinner, (void *)(uintptr_t)'B');
	for (i = 0; i < OWN_CHECKS; i++) {
		own_trace[own_len++] = me;
		SMARM_CHECK();
	}
	if (me == 'A')
		join_ok(b);
	return NULL;
}

/* Two spinners alternate in turns of exactly OWN_BUDGET checks. */
START_TEST(test_own_budget_alternate)
{
	unsigned i, run = 0;

	run_with_budget(OWN_BUDGET, own_spinner, (void *)(uintptr_t)'A');
	ck_assert_uint_eq(own_len, 2 * OWN_CHECKS);
	ck_assert_int_eq(own_trace[0], 'A');
	for (i = 0; i < own_len; i++) {
		run++;
		if (i + 1 == own_len || own_trace[i + 1] != own_trace[i]) {
			ck_assert_msg(run == OWN_BUDGET,
				      "a turn of %u checks ending at %u: %s",
				      run, i, own_trace);
			run = 0;
		}
	}
}
END_TEST

/*
 * A spinner's budget is not spent by another actor's preemption points:
 * the other actor here passes one check per turn, then yields.  A budget
 * shared by the worker would cut the spinner's turns short.  The sibling
 * bumps its counter each time it gets control (after its check returns
 * and after its yield returns), so every forced yield of the spinner is
 * seen.
 */
static volatile unsigned mixed_seen;
static volatile int mixed_stop;

static void *check_and_yield(void *arg)
{
	(void)arg;
	while (!mixed_stop) {
		mixed_seen++;
		SMARM_CHECK();
		mixed_seen++;
		ck_assert_int_eq(smarm_yield(), 0);
	}
	return NULL;
}

static void *mixed_spinner(void *arg)
{
	unsigned i, before;
	smarm_pid b;

	(void)arg;
	spawn_pinned_ok(&b, check_and_yield, NULL);
	for (i = 1; i <= OWN_CHECKS; i++) {
		before = mixed_seen;
		SMARM_CHECK();
		if (mixed_seen != before)
			yield_pos[n_yields++] = i;
	}
	mixed_stop = 1;
	join_ok(b);
	return NULL;
}

START_TEST(test_own_budget_not_shared)
{
	unsigned i;

	run_with_budget(OWN_BUDGET, mixed_spinner, NULL);
	ck_assert_uint_eq(n_yields, OWN_CHECKS / OWN_BUDGET);
	for (i = 0; i < n_yields; i++)
		ck_assert_msg(yield_pos[i] == (i + 1) * OWN_BUDGET,
			      "the spinner's forced yield #%u came at check %u, "
			      "expected %u: its budget was charged for the "
			      "other actor's checks", i + 1, yield_pos[i],
			      (i + 1) * OWN_BUDGET);
}
END_TEST

/* ---- suite ---------------------------------------------------------------- */

/* A TCase of the suite whose tests get `timeout` seconds. */
static TCase *tcase_add_timeout(Suite *s, const char *name, int timeout)
{
	TCase *tc = tcase_add(s, name);

	tcase_set_timeout(tc, timeout);
	return tc;
}

static Suite *preempt_suite(void)
{
	Suite *s = suite_create("preempt");
	TCase *tc;

	tc = tcase_add_timeout(s, "config", TIMEOUT);
	tcase_add_test(tc, test_config_default);

	tc = tcase_add_timeout(s, "spin", SPIN_TIMEOUT);
	tcase_add_test(tc, test_check_lets_sibling_run);
	tcase_add_test(tc, test_alloc_lets_sibling_run);
	tcase_add_test(tc, test_check_notices_timers);

	tc = tcase_add_timeout(s, "alloc", TIMEOUT);
	tcase_add_test(tc, test_alloc_in_actor);
	tcase_add_test(tc, test_alloc_outside);
	tcase_add_test(tc, test_check_from_plain_thread);
	tcase_add_test(tc, test_alloc_points);

	tc = tcase_add_timeout(s, "budget", SPIN_TIMEOUT);
	tcase_add_test(tc, test_budget_10);
	tcase_add_test(tc, test_budget_1);
	tcase_add_test(tc, test_budget_7);
	tcase_add_test(tc, test_budget_default);
	tcase_add_test(tc, test_budget_0);

	tc = tcase_add_timeout(s, "own_budget", SPIN_TIMEOUT);
	tcase_add_test(tc, test_own_budget_alternate);
	tcase_add_test(tc, test_own_budget_not_shared);

	return s;
}

int main(void)
{
	return run_suite(preempt_suite());
}
