/*
 * check_lock.c - the spin lock of lib/lock.h on plain threads:
 *
 *  - try:        smarm__lock_try takes a free lock and fails on a held one.
 *  - take_drop:  take and drop on one thread, many times; take of a free
 *                lock and smarm__lock_wait on a free lock return at once.
 *  - exclusion:  4 threads each add 1 to a plain (non-atomic) counter
 *                200,000 times under the lock: the total is exact, and no
 *                two threads are ever inside at once.
 *  - yield:      a waiter whose holder sleeps a few milliseconds stops
 *                spinning and calls sched_yield (counted here by replacing
 *                sched_yield for this program), and gets the lock only
 *                once the holder dropped it.
 *
 * lock.h is header-only: this suite links Check and nothing of lib/.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#include "testutil.h"

#include <sched.h>
#include <sys/syscall.h>

#include "lock.h"

#define NTHREADS 4
#define NINCR 200000

/*
 * sched_yield, replaced for this program (the lock's waiter calls it from
 * code inlined here, and a definition in the program comes before the C
 * library's): it counts the calls, then yields as the C library would.
 */
static unsigned long yields;

int sched_yield(void)
{
	__atomic_fetch_add(&yields, 1, __ATOMIC_RELAXED);
	return (int)syscall(SYS_sched_yield);
}

static unsigned long yields_now(void)
{
	return __atomic_load_n(&yields, __ATOMIC_RELAXED);
}

/* Sleep the calling thread for ms milliseconds. */
static void nap_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000u, (long)(ms % 1000u) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int is_held(smarm__lock *l)
{
	return smarm__atomic_load_relaxed(&l->held) != 0;
}

/* ---- try -------------------------------------------------------------- */

START_TEST(test_try)
{
	smarm__lock l;

	memset(&l, 0xa5, sizeof(l));
	smarm__lock_init(&l);
	ck_assert(!is_held(&l));
	/* Free: taken. */
	ck_assert_int_ne(smarm__lock_try(&l), 0);
	ck_assert(is_held(&l));
	/* Held: refused, and still held. */
	ck_assert_int_eq(smarm__lock_try(&l), 0);
	ck_assert_int_eq(smarm__lock_try(&l), 0);
	ck_assert(is_held(&l));
	/* Dropped: free again, taken again. */
	smarm__lock_drop(&l);
	ck_assert(!is_held(&l));
	ck_assert_int_ne(smarm__lock_try(&l), 0);
	smarm__lock_drop(&l);
	/* init frees a lock whatever it held. */
	ck_assert_int_ne(smarm__lock_try(&l), 0);
	smarm__lock_init(&l);
	ck_assert(!is_held(&l));
	ck_assert_int_ne(smarm__lock_try(&l), 0);
	smarm__lock_drop(&l);
}
END_TEST

/* A held lock refuses try from another thread too. */
static void *try_other(void *arg)
{
	return (void *)(intptr_t)smarm__lock_try(arg);
}

START_TEST(test_try_other_thread)
{
	smarm__lock l;
	pthread_t th;
	void *res = (void *)1;

	smarm__lock_init(&l);
	smarm__lock_take(&l);
	ck_assert_int_eq(pthread_create(&th, NULL, try_other, &l), 0);
	ck_assert_int_eq(pthread_join(th, &res), 0);
	ck_assert_ptr_null(res);
	ck_assert(is_held(&l));
	smarm__lock_drop(&l);
	/* Free: the other thread takes it (and keeps it). */
	ck_assert_int_eq(pthread_create(&th, NULL, try_other, &l), 0);
	ck_assert_int_eq(pthread_join(th, &res), 0);
	ck_assert_ptr_nonnull(res);
	ck_assert(is_held(&l));
	ck_assert_int_eq(smarm__lock_try(&l), 0);
	smarm__lock_drop(&l);
}
END_TEST

/* ---- take and drop on one thread --------------------------------------- */

START_TEST(test_take_drop)
{
	smarm__lock l;
	unsigned long y0 = yields_now();
	int i;

	smarm__lock_init(&l);
	for (i = 0; i < 1000; i++) {
		smarm__lock_take(&l);
		REQUIRE_MSG(is_held(&l), "round %d: not held after take", i);
		REQUIRE_MSG(smarm__lock_try(&l) == 0,
			    "round %d: try succeeded on a held lock", i);
		smarm__lock_drop(&l);
		REQUIRE_MSG(!is_held(&l), "round %d: held after drop", i);
	}
	/* The wait on a free lock returns at once, with the lock. */
	smarm__lock_wait(&l);
	ck_assert(is_held(&l));
	ck_assert_int_eq(smarm__lock_try(&l), 0);
	smarm__lock_drop(&l);
	/* A free lock is never waited for. */
	ck_assert_uint_eq(yields_now(), y0);
}
END_TEST

/* ---- mutual exclusion -------------------------------------------------- */

struct excl {
	smarm__lock lock;
	pthread_barrier_t start;
	unsigned long counter;  /* plain: only the lock protects it */
	int inside;             /* threads in the section (__atomic) */
	int overlap;            /* times a second thread was inside */
};

static void *excl_main(void *arg)
{
	struct excl *e = arg;
	int i;

	pthread_barrier_wait(&e->start);
	for (i = 0; i < NINCR; i++) {
		smarm__lock_take(&e->lock);
		if (__atomic_add_fetch(&e->inside, 1, __ATOMIC_RELAXED) != 1)
			__atomic_fetch_add(&e->overlap, 1, __ATOMIC_RELAXED);
		/* A read, a little work, a write: an unprotected increment
		 * would lose updates here. */
		{
			unsigned long v = e->counter;

			if ((i & 63) == 0)
				spin(8);
			e->counter = v + 1;
		}
		__atomic_sub_fetch(&e->inside, 1, __ATOMIC_RELAXED);
		smarm__lock_drop(&e->lock);
	}
	return NULL;
}

START_TEST(test_exclusion)
{
	static struct excl e;
	pthread_t th[NTHREADS];
	int i;

	memset(&e, 0, sizeof(e));
	smarm__lock_init(&e.lock);
	ck_assert_int_eq(pthread_barrier_init(&e.start, NULL, NTHREADS), 0);
	for (i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, excl_main, &e),
				 0);
	for (i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&e.start);
	ck_assert_int_eq(e.overlap, 0);
	ck_assert_uint_eq(e.counter, (unsigned long)NTHREADS * NINCR);
	ck_assert(!is_held(&e.lock));
}
END_TEST

/* ---- the waiter yields ---------------------------------------------------- */

#define HOLD_MS 20

struct hold {
	smarm__lock lock;
	int waiting;            /* the waiter is about to take (__atomic) */
	int released;           /* the holder is about to drop (__atomic) */
	int saw_released;       /* the waiter, once it has the lock */
	unsigned long yields;   /* sched_yield calls while it waited */
	uint64_t waited_ns;
};

static void *waiter_main(void *arg)
{
	struct hold *h = arg;
	unsigned long y0;
	uint64_t t0;

	y0 = yields_now();
	t0 = mono_ns();
	__atomic_store_n(&h->waiting, 1, __ATOMIC_RELEASE);
	smarm__lock_take(&h->lock);
	h->waited_ns = mono_ns() - t0;
	h->yields = yields_now() - y0;
	h->saw_released = __atomic_load_n(&h->released, __ATOMIC_ACQUIRE);
	smarm__lock_drop(&h->lock);
	return NULL;
}

START_TEST(test_wait_yields)
{
	struct hold h;
	pthread_t th;
	int i;

	memset(&h, 0, sizeof(h));
	smarm__lock_init(&h.lock);
	smarm__lock_take(&h.lock);
	ck_assert_int_eq(pthread_create(&th, NULL, waiter_main, &h), 0);
	/* Once the waiter is on its way, hold on for a while (sleeping, as
	 * a holder preempted by the kernel would). */
	for (i = 0; i < 30000 && !__atomic_load_n(&h.waiting, __ATOMIC_ACQUIRE);
	     i++)
		nap_ms(1);
	ck_assert(__atomic_load_n(&h.waiting, __ATOMIC_ACQUIRE));
	nap_ms(HOLD_MS);
	__atomic_store_n(&h.released, 1, __ATOMIC_RELEASE);
	smarm__lock_drop(&h.lock);
	ck_assert_int_eq(pthread_join(th, NULL), 0);

	/* The waiter got the lock only after the drop ... */
	ck_assert_int_eq(h.saw_released, 1);
	ck_assert_uint_ge(h.waited_ns, (uint64_t)(HOLD_MS / 2) * MS);
	/* ... and gave its CPU away meanwhile instead of only spinning. */
	ck_assert_msg(h.yields > 0, "the waiter never called sched_yield "
		      "in %llu ms", (unsigned long long)(h.waited_ns / MS));
	ck_assert(!is_held(&h.lock));
}
END_TEST

/* The same with smarm__lock_wait called directly (the lock's slow path),
 * and two waiters: both get it, one after the other. */
static void *direct_waiter(void *arg)
{
	struct hold *h = arg;

	__atomic_fetch_add(&h->waiting, 1, __ATOMIC_RELEASE);
	smarm__lock_wait(&h->lock);
	if (__atomic_load_n(&h->released, __ATOMIC_ACQUIRE))
		__atomic_fetch_add(&h->saw_released, 1, __ATOMIC_RELAXED);
	smarm__lock_drop(&h->lock);
	return NULL;
}

START_TEST(test_wait_direct)
{
	struct hold h;
	pthread_t th[2];
	unsigned long y0 = yields_now();
	int i;

	memset(&h, 0, sizeof(h));
	smarm__lock_init(&h.lock);
	smarm__lock_take(&h.lock);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, direct_waiter,
						&h), 0);
	for (i = 0; i < 30000 &&
		    __atomic_load_n(&h.waiting, __ATOMIC_ACQUIRE) < 2;
	     i++)
		nap_ms(1);
	nap_ms(HOLD_MS);
	__atomic_store_n(&h.released, 1, __ATOMIC_RELEASE);
	smarm__lock_drop(&h.lock);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	ck_assert_int_eq(h.saw_released, 2);
	ck_assert_uint_gt(yields_now(), y0);
	ck_assert(!is_held(&h.lock));
}
END_TEST

/* ---- the suite ------------------------------------------------------------ */

static Suite *lock_suite(void)
{
	Suite *s = suite_create("lock");
	TCase *tc;

	tc = tcase_add(s, "try");
	tcase_add_test(tc, test_try);
	tcase_add_test(tc, test_try_other_thread);

	tc = tcase_add(s, "take_drop");
	tcase_add_test(tc, test_take_drop);

	tc = tcase_add(s, "exclusion");
	tcase_add_test(tc, test_exclusion);

	tc = tcase_add(s, "yield");
	tcase_add_test(tc, test_wait_yields);
	tcase_add_test(tc, test_wait_direct);

	return s;
}

int main(void)
{
	return run_suite(lock_suite());
}
