/*
 * check_mutex.c - smarm_mutex: mutual exclusion, first come first served,
 * the mandatory timeout, cancellation, and the end of an owner that still
 * holds it (EOWNERDEAD).
 *
 *  - counter:   10,000 actors, a few increments each, read, yield, write
 *               back under one mutex: the count is exact, one holder at a
 *               time; the same with trylock.
 *  - fifo:      waiters queued in a known order get the mutex in that
 *               order; the unlocker hands it over directly (it cannot take
 *               it back, and destroy sees it held, before the new owner
 *               runs).
 *  - errors:    EINVAL (NULL, SMARM_FOREVER), EPERM (plain threads, main,
 *               unlock by a non-owner or of a free mutex), EDEADLK, EBUSY
 *               (trylock, destroy while held and while an actor waits),
 *               ETIMEDOUT with 0; none of them changes the mutex.
 *  - cancel:    a cancelled waiter gets ECANCELED and leaves the queue (the
 *               mutex goes to the next one), so does a deadline; a pending
 *               cancel is delivered by a lock that has to wait, once, and
 *               stays pending over one that need not; a cancel that comes
 *               with the hand-off is left for the next wait.
 *  - ownerdead: the owner returns, exits, panics or is cancelled (in a
 *               sleep, in a receive) and ends holding the mutex: its oldest
 *               waiter gets EOWNERDEAD, or, nobody waiting, the next trylock
 *               or lock does, or destroy may clear it; after EOWNERDEAD and
 *               an unlock, the next lock gets 0.  Several mutexes held at
 *               the end; a mutex received by hand-off and held at the end.
 *  - timeout:   timeouts that fire (ETIMEDOUT, not early; the waiter left
 *               the queue, at its head, middle or tail) and ones that do not
 *               (handed over well before: no stale timer later); a hand-off
 *               racing the timeout: acquired or not, never half.
 *  - storage:   SMARM_MUTEX_INIT, all-zero storage, a mutex embedded in a
 *               struct, destroy then init again; the size and alignment.
 *  - workers:   two workers, actors pinned to each or not: the count stays
 *               exact (read, yield or spin, write back); one actor on each
 *               worker in a tight loop of lock (or trylock) and unlock, so
 *               that the fast paths race the slow ones.
 *
 * Waiters are queued in a known order by waiting, after each spawn, until
 * the runtime has counted one more park (smarm_stats_get): a waiter queues
 * itself before it parks.  Every wait for something that must come is
 * bounded by WAIT, so that a bug fails the test with a line number rather
 * than a hang.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#define TIMEOUT 120
#include "testutil.h"

#include <stdalign.h>
#include <stdatomic.h>

/* A wait only a bug makes expire. */
#define WAIT (30000 * MS)
/* A wait that must expire. */
#define QUIET (20 * MS)
#define SEC (1000 * MS)

_Static_assert(sizeof(smarm_mutex) == 64, "smarm_mutex is 64 bytes");
_Static_assert(alignof(smarm_mutex) >= 8, "smarm_mutex is 8-aligned");

/* ---- helpers ---------------------------------------------------------------- */

static void noop_dead(void *msg, smarm_pid to)
{
	(void)msg;
	(void)to;
}

/*
 * Run fn(arg) as the root of a fresh runtime from smarm_config_init's
 * defaults (SMARM_THREADS applies) but for threads and stack, when not 0;
 * messages here are small integers, so the dead-letter function does
 * nothing.  The run must succeed.
 */
static void run_with(smarm_fn fn, void *arg, unsigned threads, size_t stack)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	void *res = NULL;

	smarm_config_init(&cfg);
	if (threads)
		cfg.threads = threads;
	if (stack)
		cfg.stack_size = stack;
	cfg.dead_letter = noop_dead;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, fn, arg, &res), 0);
	smarm_runtime_free(rt);
}

static void run(smarm_fn fn, void *arg)
{
	run_with(fn, arg, 0, 0);
}

/* In an actor: yield until the runtime has counted n parks in all. */
static void wait_parks(uint64_t n)
{
	uint64_t t0 = smarm_now();

	while (stats_now().parks < n) {
		REQUIRE_MSG(smarm_now() - t0 < WAIT,
			    "waited %llu ms for park number %llu",
			    (unsigned long long)(WAIT / MS),
			    (unsigned long long)n);
		REQUIRE_MSG(smarm_yield() == 0, "yield failed");
	}
}

/* In an actor: yield until *flag is at least v. */
static void wait_flag(atomic_int *flag, int v)
{
	uint64_t t0 = smarm_now();

	while (atomic_load(flag) < v) {
		REQUIRE_MSG(smarm_now() - t0 < WAIT, "flag never reached %d",
			    v);
		REQUIRE_MSG(smarm_yield() == 0, "yield failed");
	}
}

/* Join pid within WAIT; its result. */
static void *join_wait(smarm_pid pid)
{
	void *res = NULL;

	ck_assert_int_eq(smarm_join(pid, &res, WAIT), 0);
	return res;
}

/* Join pid, which must have returned a lock's code; that code. */
static int join_code(smarm_pid pid)
{
	return (int)untok(join_wait(pid)) - 1;
}

/* What an actor returns for a lock's code: code + 1, so that 0 is not
 * NULL. */
static void *code_tok(int code)
{
	return tok((uint64_t)(code + 1));
}

/* The order in which waiters got a mutex: written by the owner only. */
static int order[64];
static atomic_int norder;

/* A waiter: locks m with the timeout given; on 0 or EOWNERDEAD it notes
 * idx in order[], yields twice holding it and unlocks.  t0 and t1 frame
 * the lock call.  Returns code_tok(the lock's code). */
struct waiter {
	smarm_mutex *m;
	uint64_t timeout;
	int idx;
	_Atomic uint64_t t0;
	uint64_t t1;
};

static void *waiter(void *arg)
{
	struct waiter *w = arg;
	int r;

	atomic_store(&w->t0, smarm_now());
	r = smarm_mutex_lock(w->m, w->timeout);
	w->t1 = smarm_now();
	if (r == 0 || r == EOWNERDEAD) {
		int k = atomic_fetch_add(&norder, 1);

		ck_assert_int_lt(k, 64);
		order[k] = w->idx;
		ck_assert_int_eq(smarm_yield(), 0);
		ck_assert_int_eq(smarm_yield(), 0);
		ck_assert_int_eq(smarm_mutex_unlock(w->m), 0);
	}
	return code_tok(r);
}

static void waiter_set(struct waiter *w, smarm_mutex *m, uint64_t timeout,
		       int idx)
{
	w->m = m;
	w->timeout = timeout;
	w->idx = idx;
	atomic_store(&w->t0, 0);
	w->t1 = 0;
}

/* Spawn a waiter (pinned or not) and wait until it is parked: it is then
 * queued on its mutex, after every waiter queued before it.  *parks is the
 * number of parks the runtime has counted, one more on return. */
static smarm_pid queue_waiter(struct waiter *w, int pinned, uint64_t *parks)
{
	smarm_pid pid;

	if (pinned)
		spawn_pinned_ok(&pid, waiter, w);
	else
		spawn_ok(&pid, waiter, w);
	wait_parks(++*parks);
	return pid;
}

/* The order[] so far is exactly want[0..n-1]. */
static void expect_order(const int *want, int n)
{
	int i;

	ck_assert_int_eq(norder, n);
	for (i = 0; i < n; i++)
		ck_assert_msg(order[i] == want[i],
			      "acquisition %d went to waiter %d, expected %d", i,
			      order[i], want[i]);
}

/* ---- counter ------------------------------------------------------------------ */

#define NCOUNT 10000
#define ROUNDS 3

static smarm_mutex cmx;
static uint64_t counter;
static atomic_int inside;

/* ROUNDS times: lock, check it is alone, read, yield, write back. */
static void *count_yield(void *arg)
{
	int i, r;

	(void)arg;
	for (i = 0; i < ROUNDS; i++) {
		uint64_t v;

		r = smarm_mutex_lock(&cmx, WAIT);
		REQUIRE_MSG(r == 0, "lock gave %d", r);
		REQUIRE_MSG(atomic_fetch_add(&inside, 1) == 0,
			    "two holders at once");
		v = counter;
		REQUIRE_MSG(smarm_yield() == 0, "yield failed");
		counter = v + 1;
		atomic_fetch_sub(&inside, 1);
		r = smarm_mutex_unlock(&cmx);
		REQUIRE_MSG(r == 0, "unlock gave %d", r);
	}
	return NULL;
}

/* The same with trylock, yielding while it is busy. */
static void *count_try(void *arg)
{
	int i, r;

	(void)arg;
	for (i = 0; i < ROUNDS; i++) {
		uint64_t v, t0 = smarm_now();

		while ((r = smarm_mutex_trylock(&cmx)) == EBUSY) {
			REQUIRE_MSG(smarm_now() - t0 < WAIT, "trylock starved");
			REQUIRE_MSG(smarm_yield() == 0, "yield failed");
		}
		REQUIRE_MSG(r == 0, "trylock gave %d", r);
		REQUIRE_MSG(atomic_fetch_add(&inside, 1) == 0,
			    "two holders at once");
		v = counter;
		REQUIRE_MSG(smarm_yield() == 0, "yield failed");
		counter = v + 1;
		atomic_fetch_sub(&inside, 1);
		r = smarm_mutex_unlock(&cmx);
		REQUIRE_MSG(r == 0, "unlock gave %d", r);
	}
	return NULL;
}

struct count_case {
	smarm_fn fn;
	unsigned n;
};

static void *count_root(void *arg)
{
	const struct count_case *c = arg;
	smarm_pid *pids = calloc(c->n, sizeof(*pids));
	unsigned i;
	int r;

	ck_assert_ptr_nonnull(pids);
	counter = 0;
	atomic_store(&inside, 0);
	ck_assert_int_eq(smarm_mutex_init(&cmx), 0);
	for (i = 0; i < c->n; i++) {
		r = smarm_spawn(&pids[i], c->fn, NULL);
		REQUIRE_MSG(r == 0, "spawn %u gave %d", i, r);
	}
	for (i = 0; i < c->n; i++) {
		r = smarm_join(pids[i], NULL, WAIT);
		REQUIRE_MSG(r == 0, "join %u gave %d", i, r);
	}
	free(pids);
	ck_assert_uint_eq(counter, (uint64_t)c->n * ROUNDS);
	ck_assert_int_eq(smarm_mutex_destroy(&cmx), 0);
	return NULL;
}

/* 10,000 actors contend for one mutex, each incrementing a counter
 * ROUNDS times by reading it, yielding, and writing it back: the count is
 * exact and no two actors are ever inside at once.  (Without the mutex,
 * the yield between read and write loses updates.) */
START_TEST(test_counter_10k)
{
	struct count_case c = { count_yield, NCOUNT };

	run_with(count_root, &c, 0, 64 * 1024);
}
END_TEST

/* 1,000 actors do the same with smarm_mutex_trylock, yielding while it
 * is EBUSY. */
START_TEST(test_counter_trylock)
{
	struct count_case c = { count_try, 1000 };

	run_with(count_root, &c, 0, 64 * 1024);
}
END_TEST

/* ---- FIFO --------------------------------------------------------------------- */

#define NFIFO 16

static void *fifo_root(void *arg)
{
	int pinned = arg != NULL;
	struct waiter w[NFIFO];
	smarm_pid pids[NFIFO];
	int want[NFIFO], i;
	smarm_mutex m;
	uint64_t parks;

	ck_assert_int_eq(smarm_mutex_init(&m), 0);
	norder = 0;
	ck_assert_int_eq(smarm_mutex_lock(&m, WAIT), 0);
	parks = stats_now().parks;
	for (i = 0; i < NFIFO; i++) {
		waiter_set(&w[i], &m, WAIT, i);
		pids[i] = queue_waiter(&w[i], pinned, &parks);
		want[i] = i;
	}
	ck_assert_int_eq(norder, 0);
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	for (i = 0; i < NFIFO; i++)
		ck_assert_int_eq(join_code(pids[i]), 0);
	expect_order(want, NFIFO);
	ck_assert_int_eq(smarm_mutex_trylock(&m), 0);
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	ck_assert_int_eq(smarm_mutex_destroy(&m), 0);
	return NULL;
}

/* 16 actors queue, one after the other, on a mutex the root holds; when
 * the root unlocks, each gets it (0) in the order it arrived, each passing
 * it to the next by its unlock.  Loop: 0 unpinned (any worker), 1 the
 * holder and the waiters all pinned to one worker. */
START_TEST(test_fifo_order)
{
	if (_i)
		run_pinned(fifo_root, tok(1));
	else
		run(fifo_root, NULL);
}
END_TEST

static void *handoff_root(void *arg)
{
	struct waiter w[2];
	smarm_pid pids[2];
	int want[2] = { 0, 1 };
	smarm_mutex m = SMARM_MUTEX_INIT;
	uint64_t parks;
	int i;

	(void)arg;
	norder = 0;
	ck_assert_int_eq(smarm_mutex_lock(&m, WAIT), 0);
	parks = stats_now().parks;
	for (i = 0; i < 2; i++) {
		waiter_set(&w[i], &m, WAIT, i);
		pids[i] = queue_waiter(&w[i], 1, &parks);
	}
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	/* Waiter 0 owns it now, though it has not run (pinned to our
	 * worker, and we have not switched): no barging back in. */
	ck_assert_int_eq(norder, 0);
	ck_assert_int_eq(smarm_mutex_trylock(&m), EBUSY);
	ck_assert_int_eq(smarm_mutex_lock(&m, 0), ETIMEDOUT);
	ck_assert_int_eq(smarm_mutex_destroy(&m), EBUSY);
	ck_assert_int_eq(smarm_mutex_unlock(&m), EPERM);
	/* A lock that waits now queues behind waiter 1. */
	ck_assert_int_eq(smarm_mutex_lock(&m, WAIT), 0);
	expect_order(want, 2);
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(join_code(pids[i]), 0);
	ck_assert_int_eq(smarm_mutex_destroy(&m), 0);
	return NULL;
}

/* The unlocker hands the mutex to its oldest waiter directly (all pinned
 * to one worker): before that waiter has run, the mutex is held (trylock EBUSY, lock(0) ETIMEDOUT,
 * destroy EBUSY, the old owner's unlock EPERM), and a new lock queues
 * behind the waiters already there. */
START_TEST(test_fifo_handoff)
{
	run_pinned(handoff_root, NULL);
}
END_TEST

/* ---- errors -------------------------------------------------------------------- */

/* What a plain thread gets from each call on a held and a free mutex. */
struct thread_calls {
	smarm_mutex *held, *free;
	int lock_held, lock_free, lock_free0, try_held, try_free, unlock_held,
		unlock_free, destroy_held, init_own, destroy_own;
};

static void thread_try_all(struct thread_calls *t)
{
	smarm_mutex own;

	t->lock_held = smarm_mutex_lock(t->held, 0);
	t->lock_free = smarm_mutex_lock(t->free, WAIT);
	t->lock_free0 = smarm_mutex_lock(t->free, 0);
	t->try_held = smarm_mutex_trylock(t->held);
	t->try_free = smarm_mutex_trylock(t->free);
	t->unlock_held = smarm_mutex_unlock(t->held);
	t->unlock_free = smarm_mutex_unlock(t->free);
	t->destroy_held = t->held ? smarm_mutex_destroy(t->held) : 0;
	memset(&own, 0xa5, sizeof(own));
	t->init_own = smarm_mutex_init(&own);
	t->destroy_own = smarm_mutex_destroy(&own);
}

static void *thread_calls_fn(void *p)
{
	thread_try_all(p);
	return NULL;
}

/* lock, trylock and unlock gave EPERM; init and destroy worked, destroy
 * of the held mutex (if any) gave EBUSY. */
static void expect_thread_calls(const struct thread_calls *t, int held)
{
	ck_assert_int_eq(t->lock_held, EPERM);
	ck_assert_int_eq(t->lock_free, EPERM);
	ck_assert_int_eq(t->lock_free0, EPERM);
	ck_assert_int_eq(t->try_held, EPERM);
	ck_assert_int_eq(t->try_free, EPERM);
	ck_assert_int_eq(t->unlock_held, EPERM);
	ck_assert_int_eq(t->unlock_free, EPERM);
	ck_assert_int_eq(t->destroy_held, held ? EBUSY : 0);
	ck_assert_int_eq(t->init_own, 0);
	ck_assert_int_eq(t->destroy_own, 0);
}

static atomic_int other_phase;

/* Holds the mutex arg points to until other_phase reaches 2. */
static void *hold_until(void *arg)
{
	smarm_mutex *m = arg;

	ck_assert_int_eq(smarm_mutex_lock(m, WAIT), 0);
	atomic_store(&other_phase, 1);
	wait_flag(&other_phase, 2);
	ck_assert_int_eq(smarm_mutex_unlock(m), 0);
	return NULL;
}

static void *errors_root(void *arg)
{
	smarm_mutex m, f;
	struct thread_calls t;
	pthread_t th;
	smarm_pid pid;

	(void)arg;
	/* EINVAL: NULL, and SMARM_FOREVER (which leaves m free). */
	ck_assert_int_eq(smarm_mutex_init(NULL), EINVAL);
	ck_assert_int_eq(smarm_mutex_destroy(NULL), EINVAL);
	ck_assert_int_eq(smarm_mutex_lock(NULL, WAIT), EINVAL);
	ck_assert_int_eq(smarm_mutex_lock(NULL, 0), EINVAL);
	ck_assert_int_eq(smarm_mutex_trylock(NULL), EINVAL);
	ck_assert_int_eq(smarm_mutex_unlock(NULL), EINVAL);
	ck_assert_int_eq(smarm_mutex_init(&m), 0);
	ck_assert_int_eq(smarm_mutex_init(&f), 0);
	ck_assert_int_eq(smarm_mutex_lock(&m, SMARM_FOREVER), EINVAL);
	ck_assert_int_eq(smarm_mutex_unlock(&m), EPERM);
	ck_assert_int_eq(smarm_mutex_trylock(&m), 0);
	/* Held by the caller: EDEADLK (whatever the timeout), EBUSY from
	 * trylock and destroy, and SMARM_FOREVER is still EINVAL. */
	ck_assert_int_eq(smarm_mutex_lock(&m, WAIT), EDEADLK);
	ck_assert_int_eq(smarm_mutex_lock(&m, 0), EDEADLK);
	ck_assert_int_eq(smarm_mutex_lock(&m, SMARM_FOREVER), EINVAL);
	ck_assert_int_eq(smarm_mutex_trylock(&m), EBUSY);
	ck_assert_int_eq(smarm_mutex_destroy(&m), EBUSY);
	/* A plain thread, while the runtime runs. */
	t.held = &m;
	t.free = &f;
	ck_assert_int_eq(pthread_create(&th, NULL, thread_calls_fn, &t), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	expect_thread_calls(&t, 1);
	/* None of that changed m (still ours) or f (still free). */
	ck_assert_int_eq(smarm_mutex_trylock(&m), EBUSY);
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	ck_assert_int_eq(smarm_mutex_unlock(&m), EPERM);
	ck_assert_int_eq(smarm_mutex_trylock(&f), 0);
	ck_assert_int_eq(smarm_mutex_unlock(&f), 0);

	/* Held by another actor: lock(0) ETIMEDOUT, trylock EBUSY, unlock
	 * EPERM (it stays the other's), destroy EBUSY. */
	atomic_store(&other_phase, 0);
	spawn_ok(&pid, hold_until, &m);
	wait_flag(&other_phase, 1);
	ck_assert_int_eq(smarm_mutex_lock(&m, 0), ETIMEDOUT);
	ck_assert_int_eq(smarm_mutex_trylock(&m), EBUSY);
	ck_assert_int_eq(smarm_mutex_unlock(&m), EPERM);
	ck_assert_int_eq(smarm_mutex_destroy(&m), EBUSY);
	ck_assert_int_eq(smarm_mutex_lock(&m, SMARM_FOREVER), EINVAL);
	ck_assert_int_eq(smarm_mutex_trylock(&m), EBUSY);
	atomic_store(&other_phase, 2);
	ck_assert_ptr_null(join_wait(pid));
	/* Nothing was left queued by lock(0): destroy works. */
	ck_assert_int_eq(smarm_mutex_destroy(&m), 0);
	ck_assert_int_eq(smarm_mutex_destroy(&f), 0);
	return NULL;
}

/* Every error of every call but ECANCELED and EOWNERDEAD (their own
 * tests): EINVAL for NULL and for SMARM_FOREVER; EPERM for unlock of a
 * free mutex, a second unlock, unlock by a non-owner, and lock, trylock
 * and unlock from a plain thread during a run and from main with no run
 * (where init and destroy work); EDEADLK for a lock by the holder, even
 * with timeout 0; EBUSY for trylock (by the holder too) and for destroy
 * while held; ETIMEDOUT for lock(0) of a mutex another actor holds.  A
 * failed call changes nothing. */
START_TEST(test_errors)
{
	smarm_mutex m = SMARM_MUTEX_INIT, f = SMARM_MUTEX_INIT;
	struct thread_calls t;

	/* main, before and after a run: a plain thread too. */
	t.held = NULL;
	t.free = &f;
	thread_try_all(&t);
	ck_assert_int_eq(t.lock_free, EPERM);
	ck_assert_int_eq(t.lock_free0, EPERM);
	ck_assert_int_eq(t.try_free, EPERM);
	ck_assert_int_eq(t.unlock_free, EPERM);
	ck_assert_int_eq(t.init_own, 0);
	ck_assert_int_eq(t.destroy_own, 0);
	run(errors_root, NULL);
	t.held = &m;
	thread_try_all(&t);
	ck_assert_int_eq(t.lock_held, EPERM);
	ck_assert_int_eq(t.try_held, EPERM);
	ck_assert_int_eq(t.unlock_held, EPERM);
	ck_assert_int_eq(t.destroy_held, 0);
	ck_assert_int_eq(t.lock_free, EPERM);
	ck_assert_int_eq(t.try_free, EPERM);
	ck_assert_int_eq(smarm_mutex_destroy(&f), 0);
}
END_TEST

/* Queued behind the holder: destroy EBUSY whoever calls it. */
static void *busy_root(void *arg)
{
	struct waiter w;
	smarm_pid pid;
	struct thread_calls t;
	pthread_t th;
	smarm_mutex m, f;
	uint64_t parks;

	(void)arg;
	norder = 0;
	ck_assert_int_eq(smarm_mutex_init(&m), 0);
	ck_assert_int_eq(smarm_mutex_init(&f), 0);
	ck_assert_int_eq(smarm_mutex_lock(&m, WAIT), 0);
	parks = stats_now().parks;
	waiter_set(&w, &m, WAIT, 0);
	pid = queue_waiter(&w, 0, &parks);
	ck_assert_int_eq(smarm_mutex_destroy(&m), EBUSY);
	t.held = &m;
	t.free = &f;
	ck_assert_int_eq(pthread_create(&th, NULL, thread_calls_fn, &t), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	expect_thread_calls(&t, 1);
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	ck_assert_int_eq(join_code(pid), 0);
	ck_assert_int_eq(norder, 1);
	ck_assert_int_eq(smarm_mutex_destroy(&m), 0);
	ck_assert_int_eq(smarm_mutex_destroy(&f), 0);
	return NULL;
}

/* destroy returns EBUSY while an actor waits for the mutex (from the
 * holder and from a plain thread, which also gets EPERM from the rest);
 * the waiter is not disturbed: it gets the mutex at the unlock. */
START_TEST(test_destroy_busy_waiter)
{
	run(busy_root, NULL);
}
END_TEST

/* ---- cancellation ----------------------------------------------------------------- */

/* Waiter arrival positions and how one of them leaves the queue early. */
enum { LEAVE_CANCEL, LEAVE_TIMEOUT };
#define NLEAVE 3

/* The leaver: lock; once it failed, the mutex is still held by the root
 * (trylock EBUSY, lock(0) ETIMEDOUT).  Returns code_tok(its code). */
static void *leaver(void *arg)
{
	struct waiter *w = arg;
	int r;

	atomic_store(&w->t0, smarm_now());
	r = smarm_mutex_lock(w->m, w->timeout);
	w->t1 = smarm_now();
	if (r == 0 || r == EOWNERDEAD) {
		ck_assert_int_eq(smarm_mutex_unlock(w->m), 0);
		return code_tok(r);
	}
	ck_assert_int_eq(smarm_mutex_trylock(w->m), EBUSY);
	ck_assert_int_eq(smarm_mutex_lock(w->m, 0), ETIMEDOUT);
	return code_tok(r);
}

struct leave_case {
	int how;
	int pos;           /* the leaver's place among NLEAVE waiters */
	uint64_t timeout;  /* LEAVE_TIMEOUT: the leaver's */
	int valid;         /* out: the others were queued before it left */
};

static void *leave_root(void *arg)
{
	struct leave_case *c = arg;
	struct waiter w[NLEAVE + 1];
	smarm_pid pids[NLEAVE + 1];
	int want[NLEAVE + 1], nwant = 0, i, r;
	smarm_mutex m;
	uint64_t parks, full;

	ck_assert_int_eq(smarm_mutex_init(&m), 0);
	norder = 0;
	ck_assert_int_eq(smarm_mutex_lock(&m, WAIT), 0);
	parks = stats_now().parks;
	for (i = 0; i < NLEAVE; i++) {
		if (i == c->pos) {
			waiter_set(&w[i], &m,
				   c->how == LEAVE_TIMEOUT ? c->timeout : WAIT,
				   i);
			spawn_ok(&pids[i], leaver, &w[i]);
			wait_parks(++parks);
		} else {
			waiter_set(&w[i], &m, WAIT, i);
			pids[i] = queue_waiter(&w[i], 0, &parks);
			want[nwant++] = i;
		}
	}
	/* Everyone was queued before the leaver's timer could fire? */
	while (atomic_load(&w[c->pos].t0) == 0)
		ck_assert_int_eq(smarm_yield(), 0);
	full = smarm_now();
	c->valid = c->how != LEAVE_TIMEOUT ||
		   full < atomic_load(&w[c->pos].t0) + c->timeout;
	if (c->how == LEAVE_CANCEL)
		ck_assert_int_eq(smarm_cancel(pids[c->pos]), 0);
	r = join_code(pids[c->pos]);
	if (c->how == LEAVE_CANCEL) {
		ck_assert_int_eq(r, ECANCELED);
	} else {
		ck_assert_int_eq(r, ETIMEDOUT);
		ck_assert_uint_ge(w[c->pos].t1 - atomic_load(&w[c->pos].t0),
				  c->timeout);
	}
	ck_assert_int_eq(norder, 0);
	/* One more arrives after it left: the queue's tail is sound. */
	waiter_set(&w[NLEAVE], &m, WAIT, NLEAVE);
	pids[NLEAVE] = queue_waiter(&w[NLEAVE], 0, &parks);
	want[nwant++] = NLEAVE;
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	for (i = 0; i <= NLEAVE; i++)
		if (i != c->pos)
			ck_assert_int_eq(join_code(pids[i]), 0);
	/* In arrival order, the leaver skipped; nobody got EOWNERDEAD, so
	 * the leaver never owned it. */
	expect_order(want, nwant);
	ck_assert_int_eq(smarm_mutex_lock(&m, 0), 0);
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	/* The queue is empty. */
	ck_assert_int_eq(smarm_mutex_destroy(&m), 0);
	return NULL;
}

/* Run a leave case; a timeout that fired before the waiters behind the
 * leaver were queued (a slow machine) is tried again, twice as long. */
static void leave_case_run(int how, int pos)
{
	struct leave_case c = { how, pos, 50 * MS, 0 };
	int tries;

	for (tries = 0; tries < 6; tries++) {
		run(leave_root, &c);
		if (c.valid)
			return;
		c.timeout *= 2;
	}
	ck_abort_msg("the waiters never queued within %llu ms",
		     (unsigned long long)(c.timeout / MS));
}

/* Of three waiters queued on a held mutex, the one at position _i % 3
 * (head, middle, tail) is cancelled: its lock returns ECANCELED, the
 * mutex still held by the root; it left the queue: a fourth waiter queues
 * after it left, and at the unlock the mutex goes to the others in their
 * order, each with 0, then to the fourth, and destroy finds no waiter. */
START_TEST(test_cancel_waiter)
{
	leave_case_run(LEAVE_CANCEL, _i);
}
END_TEST

static void *deadline_root(void *arg)
{
	smarm_spawn_opts o;
	struct waiter w;
	smarm_pid pid;
	smarm_mutex m = SMARM_MUTEX_INIT;

	(void)arg;
	norder = 0;
	ck_assert_int_eq(smarm_mutex_lock(&m, WAIT), 0);
	waiter_set(&w, &m, WAIT, 0);
	smarm_spawn_opts_init(&o);
	o.deadline = 20 * MS;
	ck_assert_int_eq(smarm_spawn_opt(&pid, leaver, &w, &o), 0);
	ck_assert_int_eq(join_code(pid), ECANCELED);
	ck_assert_uint_lt(w.t1 - atomic_load(&w.t0), WAIT / 2);
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	ck_assert_int_eq(smarm_mutex_destroy(&m), 0);
	return NULL;
}

/* A waiter whose deadline passes while it waits (with a 30 s timeout)
 * is cancelled: ECANCELED, and it left the queue (destroy works once the
 * holder unlocks). */
START_TEST(test_cancel_deadline)
{
	run(deadline_root, NULL);
}
END_TEST

static smarm_mutex pend_free, pend_held;

/* Cancelled before it locks a free mutex: taken at once, the cancel stays
 * pending for the sleep after; delivered once. */
static void *pending_free(void *arg)
{
	(void)arg;
	ck_assert_int_eq(smarm_cancel(smarm_self()), 0);
	ck_assert_int_eq(smarm_mutex_lock(&pend_free, WAIT), 0);
	ck_assert_int_eq(smarm_mutex_unlock(&pend_free), 0);
	ck_assert_int_eq(smarm_mutex_trylock(&pend_free), 0);
	ck_assert_int_eq(smarm_mutex_unlock(&pend_free), 0);
	ck_assert_int_eq(smarm_sleep(WAIT), ECANCELED);
	ck_assert_int_eq(smarm_sleep(1 * MS), 0);
	return tok(1);
}

/* Cancelled before it locks a held mutex: that lock returns ECANCELED at
 * once; the next waits (and times out); lock(0) never delivers it. */
static void *pending_held(void *arg)
{
	uint64_t t0;

	(void)arg;
	ck_assert_int_eq(smarm_cancel(smarm_self()), 0);
	ck_assert_int_eq(smarm_mutex_lock(&pend_held, 0), ETIMEDOUT);
	t0 = smarm_now();
	ck_assert_int_eq(smarm_mutex_lock(&pend_held, WAIT), ECANCELED);
	ck_assert_uint_lt(smarm_now() - t0, WAIT / 2);
	ck_assert_int_ne(smarm_cancelled(), 0);
	t0 = smarm_now();
	ck_assert_int_eq(smarm_mutex_lock(&pend_held, QUIET), ETIMEDOUT);
	ck_assert_uint_ge(smarm_now() - t0, QUIET);
	return tok(2);
}

static void *pending_root(void *arg)
{
	smarm_pid a, b;

	(void)arg;
	ck_assert_int_eq(smarm_mutex_init(&pend_free), 0);
	ck_assert_int_eq(smarm_mutex_init(&pend_held), 0);
	ck_assert_int_eq(smarm_mutex_lock(&pend_held, WAIT), 0);
	spawn_ok(&a, pending_free, NULL);
	spawn_ok(&b, pending_held, NULL);
	ck_assert_ptr_eq(join_wait(a), tok(1));
	ck_assert_ptr_eq(join_wait(b), tok(2));
	ck_assert_int_eq(smarm_mutex_unlock(&pend_held), 0);
	ck_assert_int_eq(smarm_mutex_destroy(&pend_held), 0);
	ck_assert_int_eq(smarm_mutex_destroy(&pend_free), 0);
	return NULL;
}

/* A cancel made before the lock: a lock that has to wait returns
 * ECANCELED at once, delivered once (the next lock waits its timeout out);
 * lock(0) and a free mutex are taken without waiting and leave it pending
 * for the next call that waits (a sleep). */
START_TEST(test_cancel_pending)
{
	run(pending_root, NULL);
}
END_TEST

/* Gets the mutex by hand-off, while a cancel comes: the lock returns 0,
 * the next wait ECANCELED. */
static void *handed_cancelled(void *arg)
{
	smarm_mutex *m = arg;

	ck_assert_int_eq(smarm_mutex_lock(m, WAIT), 0);
	ck_assert_int_eq(smarm_sleep(WAIT), ECANCELED);
	ck_assert_int_eq(smarm_mutex_unlock(m), 0);
	return tok(3);
}

static void *late_cancel_root(void *arg)
{
	smarm_mutex m = SMARM_MUTEX_INIT;
	smarm_pid pid;
	uint64_t parks;

	(void)arg;
	ck_assert_int_eq(smarm_mutex_lock(&m, WAIT), 0);
	parks = stats_now().parks;
	ck_assert_int_eq(spawn_pinned(&pid, handed_cancelled, &m), 0);
	wait_parks(parks + 1);
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	ck_assert_int_eq(smarm_cancel(pid), 0);
	ck_assert_ptr_eq(join_wait(pid), tok(3));
	ck_assert_int_eq(smarm_mutex_lock(&m, 0), 0);
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	ck_assert_int_eq(smarm_mutex_destroy(&m), 0);
	return NULL;
}

/* The holder unlocks, handing the mutex to a waiter that has not run yet
 * (both pinned to one worker), and cancels it at once: the waiter's lock returns 0 (it owns the
 * mutex), and the cancel goes to its next wait. */
START_TEST(test_cancel_after_handoff)
{
	run_pinned(late_cancel_root, NULL);
}
END_TEST

/* ---- owner dead ---------------------------------------------------------------------- */

/* How the holder ends. */
enum {
	END_RETURN,
	END_EXIT,
	END_PANIC,
	END_CANCEL_SLEEP,
	END_CANCEL_RECEIVE,
	NEND
};

/* Who meets the mutex after. */
enum { AFTER_WAITERS, AFTER_TRYLOCK, AFTER_LOCK0, AFTER_LOCK, AFTER_DESTROY,
       NAFTER };

struct holder {
	smarm_mutex *m;
	int end;
};

/* Locks m, parks (until a message, or a cancel), ends holding it. */
static void *holder(void *arg)
{
	struct holder *h = arg;
	smarm_msg msg;

	ck_assert_int_eq(smarm_mutex_lock(h->m, WAIT), 0);
	switch (h->end) {
	case END_CANCEL_SLEEP:
		ck_assert_int_eq(smarm_sleep(WAIT), ECANCELED);
		return tok(0x33);
	case END_CANCEL_RECEIVE:
		ck_assert_int_eq(smarm_receive(&msg, WAIT), ECANCELED);
		return tok(0x34);
	default:
		break;
	}
	ck_assert_int_eq(smarm_receive(&msg, WAIT), 0);
	if (h->end == END_EXIT)
		smarm_exit(tok(0x22));
	if (h->end == END_PANIC)
		smarm_panic("holder died");
	return tok(0x11);
}

/* Make the holder end, join it, check how it ended. */
static void end_holder(smarm_pid pid, int end)
{
	void *res = NULL;
	int r;

	if (end == END_CANCEL_SLEEP || end == END_CANCEL_RECEIVE)
		ck_assert_int_eq(smarm_cancel(pid), 0);
	else
		ck_assert_int_eq(smarm_send_to(pid, tok(1)), 0);
	r = smarm_join(pid, &res, WAIT);
	switch (end) {
	case END_RETURN:
		ck_assert_int_eq(r, 0);
		ck_assert_ptr_eq(res, tok(0x11));
		break;
	case END_EXIT:
		ck_assert_int_eq(r, 0);
		ck_assert_ptr_eq(res, tok(0x22));
		break;
	case END_PANIC:
		ck_assert_int_eq(r, SMARM_EPANIC);
		ck_assert_str_eq((char *)res, "holder died");
		free(res);
		break;
	case END_CANCEL_SLEEP:
		ck_assert_int_eq(r, 0);
		ck_assert_ptr_eq(res, tok(0x33));
		break;
	default:
		ck_assert_int_eq(r, 0);
		ck_assert_ptr_eq(res, tok(0x34));
		break;
	}
}

static void *owner_dead_root(void *arg)
{
	int end = (int)untok(arg) / NAFTER, after = (int)untok(arg) % NAFTER;
	struct holder h;
	struct waiter w[2];
	smarm_pid hp, wp[2] = { { 0 }, { 0 } };
	int want[2] = { 0, 1 };
	smarm_mutex m;
	uint64_t parks;

	ck_assert_int_eq(smarm_mutex_init(&m), 0);
	norder = 0;
	h.m = &m;
	h.end = end;
	parks = stats_now().parks;
	spawn_ok(&hp, holder, &h);
	wait_parks(++parks);
	if (after == AFTER_WAITERS) {
		waiter_set(&w[0], &m, WAIT, 0);
		wp[0] = queue_waiter(&w[0], 0, &parks);
		waiter_set(&w[1], &m, WAIT, 1);
		wp[1] = queue_waiter(&w[1], 0, &parks);
	}
	end_holder(hp, end);
	switch (after) {
	case AFTER_WAITERS:
		/* The oldest waiter gets EOWNERDEAD, the next one, after its
		 * unlock, 0. */
		ck_assert_int_eq(join_code(wp[0]), EOWNERDEAD);
		ck_assert_int_eq(join_code(wp[1]), 0);
		expect_order(want, 2);
		break;
	case AFTER_TRYLOCK:
	case AFTER_LOCK0:
	case AFTER_LOCK:
		/* Not held: unlock is refused and changes nothing. */
		ck_assert_int_eq(smarm_mutex_unlock(&m), EPERM);
		if (after == AFTER_TRYLOCK)
			ck_assert_int_eq(smarm_mutex_trylock(&m), EOWNERDEAD);
		else if (after == AFTER_LOCK0)
			ck_assert_int_eq(smarm_mutex_lock(&m, 0), EOWNERDEAD);
		else
			ck_assert_int_eq(smarm_mutex_lock(&m, WAIT),
					 EOWNERDEAD);
		/* Taken: held by us now. */
		ck_assert_int_eq(smarm_mutex_trylock(&m), EBUSY);
		ck_assert_int_eq(smarm_mutex_lock(&m, 0), EDEADLK);
		ck_assert_int_eq(smarm_mutex_destroy(&m), EBUSY);
		ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
		break;
	default:
		/* Dead and untaken: destroy may clear it; init makes it new. */
		ck_assert_int_eq(smarm_mutex_destroy(&m), 0);
		ck_assert_int_eq(smarm_mutex_init(&m), 0);
		break;
	}
	/* From now on, 0. */
	ck_assert_int_eq(smarm_mutex_lock(&m, 0), 0);
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	ck_assert_int_eq(smarm_mutex_trylock(&m), 0);
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	ck_assert_int_eq(smarm_mutex_destroy(&m), 0);
	return NULL;
}

/* An actor locks a mutex and ends holding it, each way an actor ends
 * (_i / 5: returns, calls smarm_exit, panics, is cancelled in a sleep, is
 * cancelled in a receive -- and returns without unlocking); then (_i % 5)
 * two waiters queued meanwhile: the oldest gets EOWNERDEAD and the mutex,
 * the other gets 0 after its unlock; or, nobody waiting, the next trylock,
 * lock with timeout 0, or lock with a timeout gets EOWNERDEAD and holds
 * it (unlock before that is EPERM); or destroy clears it.  Then every lock
 * and trylock gets 0. */
START_TEST(test_owner_dead)
{
	run(owner_dead_root, tok((uint64_t)_i));
}
END_TEST

static smarm_mutex dm[4];

/* Locks dm[0..3], unlocks dm[1], parks until a message, ends. */
static void *hold_many(void *arg)
{
	smarm_msg msg;
	int i;

	(void)arg;
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(smarm_mutex_lock(&dm[i], WAIT), 0);
	ck_assert_int_eq(smarm_mutex_unlock(&dm[1]), 0);
	ck_assert_int_eq(smarm_receive(&msg, WAIT), 0);
	return NULL;
}

static void *many_root(void *arg)
{
	struct waiter w[3];
	smarm_pid hp, wp[3];
	int pos[3] = { -1, -1, -1 };
	uint64_t parks;
	int i;

	(void)arg;
	norder = 0;
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(smarm_mutex_init(&dm[i]), 0);
	parks = stats_now().parks;
	spawn_ok(&hp, hold_many, NULL);
	wait_parks(++parks);
	waiter_set(&w[0], &dm[0], WAIT, 0);
	wp[0] = queue_waiter(&w[0], 0, &parks);
	waiter_set(&w[1], &dm[0], WAIT, 1);
	wp[1] = queue_waiter(&w[1], 0, &parks);
	waiter_set(&w[2], &dm[2], WAIT, 2);
	wp[2] = queue_waiter(&w[2], 0, &parks);
	ck_assert_int_eq(smarm_send_to(hp, tok(1)), 0);
	ck_assert_ptr_null(join_wait(hp));
	ck_assert_int_eq(join_code(wp[0]), EOWNERDEAD);
	ck_assert_int_eq(join_code(wp[1]), 0);
	ck_assert_int_eq(join_code(wp[2]), EOWNERDEAD);
	/* dm[0] went to its waiters in arrival order: 0, then 1. */
	ck_assert_int_eq(norder, 3);
	for (i = 0; i < 3; i++)
		pos[order[i]] = i;
	ck_assert_int_lt(pos[0], pos[1]);
	ck_assert_int_eq(order[pos[2]], 2);
	/* Unlocked before the end: 0.  Nobody waited: EOWNERDEAD. */
	ck_assert_int_eq(smarm_mutex_trylock(&dm[1]), 0);
	ck_assert_int_eq(smarm_mutex_trylock(&dm[3]), EOWNERDEAD);
	for (i = 0; i < 4; i++) {
		if (i == 1 || i == 3)
			ck_assert_int_eq(smarm_mutex_unlock(&dm[i]), 0);
		ck_assert_int_eq(smarm_mutex_trylock(&dm[i]), 0);
		ck_assert_int_eq(smarm_mutex_unlock(&dm[i]), 0);
		ck_assert_int_eq(smarm_mutex_destroy(&dm[i]), 0);
	}
	return NULL;
}

/* An actor ends holding three mutexes (it unlocked a fourth, taken
 * between them, before): each goes to its own oldest waiter with
 * EOWNERDEAD (the second waiter of one of them gets 0 after), the one
 * nobody waits for gives EOWNERDEAD to the next trylock; the one it
 * unlocked is plainly free. */
START_TEST(test_owner_dead_many)
{
	run(many_root, NULL);
}
END_TEST

/* Gets the mutex by hand-off and returns holding it. */
static void *take_and_leave(void *arg)
{
	smarm_mutex *m = arg;

	ck_assert_int_eq(smarm_mutex_lock(m, WAIT), 0);
	return tok(5);
}

static void *handed_dead_root(void *arg)
{
	smarm_mutex m = SMARM_MUTEX_INIT;
	struct waiter w;
	smarm_pid a, b;
	uint64_t parks;

	(void)arg;
	norder = 0;
	ck_assert_int_eq(smarm_mutex_lock(&m, WAIT), 0);
	parks = stats_now().parks;
	spawn_ok(&a, take_and_leave, &m);
	wait_parks(++parks);
	waiter_set(&w, &m, WAIT, 0);
	b = queue_waiter(&w, 0, &parks);
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	ck_assert_ptr_eq(join_wait(a), tok(5));
	ck_assert_int_eq(join_code(b), EOWNERDEAD);
	ck_assert_int_eq(smarm_mutex_lock(&m, 0), 0);
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	ck_assert_int_eq(smarm_mutex_destroy(&m), 0);
	return NULL;
}

/* An actor that got the mutex by hand-off (not by its fast path) and
 * ends holding it passes it on with EOWNERDEAD all the same. */
START_TEST(test_owner_dead_after_handoff)
{
	run(handed_dead_root, NULL);
}
END_TEST

/* ---- timeouts ------------------------------------------------------------------------ */

/* Of three waiters queued on a held mutex, the one at position _i
 * (head, middle, tail) has a short timeout: its lock returns ETIMEDOUT,
 * no earlier than asked, the mutex still held by the root; it left the
 * queue (as for test_cancel_waiter). */
START_TEST(test_timeout_fires)
{
	leave_case_run(LEAVE_TIMEOUT, _i);
}
END_TEST

static void *lone_timeout_root(void *arg)
{
	smarm_mutex m = SMARM_MUTEX_INIT;
	struct waiter w;
	smarm_pid pid;

	(void)arg;
	norder = 0;
	ck_assert_int_eq(smarm_mutex_lock(&m, WAIT), 0);
	waiter_set(&w, &m, QUIET, 0);
	spawn_ok(&pid, leaver, &w);
	ck_assert_int_eq(join_code(pid), ETIMEDOUT);
	ck_assert_uint_ge(w.t1 - atomic_load(&w.t0), QUIET);
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	/* The mutex works after. */
	waiter_set(&w, &m, WAIT, 1);
	spawn_ok(&pid, waiter, &w);
	ck_assert_int_eq(join_code(pid), 0);
	ck_assert_int_eq(norder, 1);
	ck_assert_int_eq(smarm_mutex_destroy(&m), 0);
	return NULL;
}

/* A lone waiter times out (ETIMEDOUT after at least its timeout) and
 * leaves nothing behind: the next lock gets the mutex at once, destroy
 * works. */
START_TEST(test_timeout_lone)
{
	run(lone_timeout_root, NULL);
}
END_TEST

/* Gets the mutex well within its timeout, then holds it over a sleep
 * twice as long as that timeout: a timer left behind would cut the sleep
 * short or wake it twice. */
static void *early_grant(void *arg)
{
	struct waiter *w = arg;
	smarm_msg msg;
	uint64_t t;

	atomic_store(&w->t0, smarm_now());
	ck_assert_int_eq(smarm_mutex_lock(w->m, w->timeout), 0);
	w->t1 = smarm_now();
	t = smarm_now();
	ck_assert_int_eq(smarm_sleep(2 * w->timeout), 0);
	ck_assert_uint_ge(smarm_now() - t, 2 * w->timeout);
	t = smarm_now();
	ck_assert_int_eq(smarm_receive(&msg, QUIET), ETIMEDOUT);
	ck_assert_uint_ge(smarm_now() - t, QUIET);
	ck_assert_int_eq(smarm_mutex_unlock(w->m), 0);
	return tok(4);
}

static void *not_fired_root(void *arg)
{
	smarm_mutex m = SMARM_MUTEX_INIT;
	struct waiter w[2];
	smarm_pid pid;
	uint64_t parks, t0;

	(void)arg;
	norder = 0;
	/* A long timeout, handed over at once. */
	waiter_set(&w[0], &m, 10 * SEC, 0);
	t0 = smarm_now();
	ck_assert_int_eq(smarm_mutex_lock(&m, WAIT), 0);
	parks = stats_now().parks;
	spawn_ok(&pid, waiter, &w[0]);
	wait_parks(++parks);
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	ck_assert_int_eq(join_code(pid), 0);
	ck_assert_uint_lt(w[0].t1 - atomic_load(&w[0].t0), 5 * SEC);
	/* A short one, handed over well before it: no timer left. */
	waiter_set(&w[1], &m, 200 * MS, 1);
	ck_assert_int_eq(smarm_mutex_lock(&m, WAIT), 0);
	parks = stats_now().parks;
	spawn_ok(&pid, early_grant, &w[1]);
	wait_parks(++parks);
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	ck_assert_ptr_eq(join_wait(pid), tok(4));
	ck_assert_uint_lt(w[1].t1 - atomic_load(&w[1].t0), 200 * MS);
	ck_assert_int_eq(smarm_mutex_lock(&m, 0), 0);
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	ck_assert_int_eq(smarm_mutex_destroy(&m), 0);
	/* The 10 s timer of the first waiter kept nothing waiting. */
	ck_assert_uint_lt(smarm_now() - t0, 5 * SEC);
	return NULL;
}

/* Timeouts that do not fire: a waiter with a 10 s timeout gets the mutex
 * as soon as it is unlocked, and the run ends long before 10 s; one with
 * 200 ms gets it at once, then sleeps 400 ms and receives for 20 ms
 * holding it, each wait lasting its full time (no stray timer). */
START_TEST(test_timeout_not_fired)
{
	run(not_fired_root, NULL);
}
END_TEST

#define NRACE 200

/* Locks with a 1 ms timeout; holds it a moment if it got it. */
static void *racer(void *arg)
{
	smarm_mutex *m = arg;
	int r = smarm_mutex_lock(m, 1 * MS);

	if (r == 0) {
		ck_assert_int_eq(smarm_yield(), 0);
		ck_assert_int_eq(smarm_mutex_unlock(m), 0);
	}
	return code_tok(r);
}

static void *race_root(void *arg)
{
	smarm_mutex m = SMARM_MUTEX_INIT;
	smarm_pid pid;
	int i, r;

	(void)arg;
	for (i = 0; i < NRACE; i++) {
		ck_assert_int_eq(smarm_mutex_lock(&m, WAIT), 0);
		spawn_ok(&pid, racer, &m);
		/* Unlock around the racer's timeout: 0.9 to 1.1 ms, in steps
		 * of 10 us. */
		ck_assert_int_eq(smarm_sleep(900 * 1000 +
					     (uint64_t)(i % 21) * 10 * 1000),
				 0);
		ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
		r = join_code(pid);
		ck_assert_msg(r == 0 || r == ETIMEDOUT, "round %d: lock gave %d",
			      i, r);
		/* Free, and not left to a racer that gave up holding it. */
		ck_assert_int_eq(smarm_mutex_trylock(&m), 0);
		ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
		ck_assert_int_eq(smarm_mutex_destroy(&m), 0);
		ck_assert_int_eq(smarm_mutex_init(&m), 0);
	}
	return NULL;
}

/* 200 rounds of an unlock that races a waiter's 1 ms timeout: the waiter
 * gets 0 and holds the mutex, or ETIMEDOUT and never had it -- the mutex
 * is free after, not held, not dead, and no waiter is left queued. */
START_TEST(test_timeout_race)
{
	run(race_root, NULL);
}
END_TEST

/* ---- storage --------------------------------------------------------------------------- */

static smarm_mutex static_mx = SMARM_MUTEX_INIT;
static uint64_t static_count;

static void *static_count_fn(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 10; i++) {
		uint64_t v;

		ck_assert_int_eq(smarm_mutex_lock(&static_mx, WAIT), 0);
		v = static_count;
		ck_assert_int_eq(smarm_yield(), 0);
		static_count = v + 1;
		ck_assert_int_eq(smarm_mutex_unlock(&static_mx), 0);
	}
	return NULL;
}

/* Accounts with their mutex embedded, between other members. */
struct account {
	char tag;
	smarm_mutex lock;
	int64_t balance;
	char tail;
};

static struct account *accounts[2];

/* Moves 1 from one account to the other, 20 times, both locked (in
 * address order), with a yield in between. */
static void *transfer(void *arg)
{
	int dir = arg != NULL, i;
	struct account *from = accounts[dir], *to = accounts[!dir];
	struct account *first = from < to ? from : to;
	struct account *second = from < to ? to : from;

	for (i = 0; i < 20; i++) {
		int64_t f, t;

		ck_assert_int_eq(smarm_mutex_lock(&first->lock, WAIT), 0);
		ck_assert_int_eq(smarm_mutex_lock(&second->lock, WAIT), 0);
		f = from->balance;
		t = to->balance;
		ck_assert_int_eq(smarm_yield(), 0);
		from->balance = f - 1;
		to->balance = t + 1;
		ck_assert_int_eq(smarm_mutex_unlock(&second->lock), 0);
		ck_assert_int_eq(smarm_mutex_unlock(&first->lock), 0);
	}
	return NULL;
}

static void *storage_root(void *arg)
{
	smarm_pid pids[40];
	smarm_mutex local = SMARM_MUTEX_INIT, *heap;
	int i;

	(void)arg;
	/* SMARM_MUTEX_INIT, static: 20 actors, 10 increments each. */
	static_count = 0;
	for (i = 0; i < 20; i++)
		spawn_ok(&pids[i], static_count_fn, NULL);
	for (i = 0; i < 20; i++)
		join_ok(pids[i]);
	ck_assert_uint_eq(static_count, 200);

	/* Embedded: one account zeroed by calloc (unlocked without init),
	 * one from malloc, its garbage set right by smarm_mutex_init. */
	accounts[0] = calloc(1, sizeof(struct account));
	accounts[1] = malloc(sizeof(struct account));
	ck_assert_ptr_nonnull(accounts[0]);
	ck_assert_ptr_nonnull(accounts[1]);
	memset(accounts[1], 0x5a, sizeof(struct account));
	ck_assert_int_eq(smarm_mutex_init(&accounts[1]->lock), 0);
	accounts[0]->tag = 'a';
	accounts[0]->tail = 'A';
	accounts[0]->balance = 1000;
	accounts[1]->tag = 'b';
	accounts[1]->tail = 'B';
	accounts[1]->balance = 1000;
	for (i = 0; i < 40; i++)
		spawn_ok(&pids[i], transfer, i % 4 ? NULL : tok(1));
	for (i = 0; i < 40; i++)
		join_ok(pids[i]);
	/* 30 actors moved 20 each from a to b, 10 moved 20 each back. */
	ck_assert_int_eq(accounts[0]->balance, 1000 - 30 * 20 + 10 * 20);
	ck_assert_int_eq(accounts[1]->balance, 1000 + 30 * 20 - 10 * 20);
	/* Its neighbours untouched. */
	ck_assert_int_eq(accounts[0]->tag, 'a');
	ck_assert_int_eq(accounts[0]->tail, 'A');
	ck_assert_int_eq(accounts[1]->tag, 'b');
	ck_assert_int_eq(accounts[1]->tail, 'B');
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(smarm_mutex_destroy(&accounts[i]->lock), 0);
		free(accounts[i]);
	}

	/* Destroy, then init again, several times; a compound literal
	 * assigned; storage reused after destroy. */
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(smarm_mutex_lock(&local, WAIT), 0);
		ck_assert_int_eq(smarm_mutex_destroy(&local), EBUSY);
		ck_assert_int_eq(smarm_mutex_unlock(&local), 0);
		ck_assert_int_eq(smarm_mutex_destroy(&local), 0);
		memset(&local, 0xff, sizeof(local));
		ck_assert_int_eq(smarm_mutex_init(&local), 0);
		ck_assert_int_eq(smarm_mutex_trylock(&local), 0);
		ck_assert_int_eq(smarm_mutex_unlock(&local), 0);
		ck_assert_int_eq(smarm_mutex_destroy(&local), 0);
		local = SMARM_MUTEX_INIT;
	}
	heap = malloc(sizeof(*heap));
	ck_assert_ptr_nonnull(heap);
	ck_assert_int_eq(smarm_mutex_init(heap), 0);
	ck_assert_int_eq(smarm_mutex_lock(heap, 0), 0);
	ck_assert_int_eq(smarm_mutex_unlock(heap), 0);
	ck_assert_int_eq(smarm_mutex_destroy(heap), 0);
	free(heap);
	/* Never used: destroy is 0. */
	ck_assert_int_eq(smarm_mutex_destroy(&static_mx), 0);
	ck_assert_int_eq(smarm_mutex_init(&static_mx), 0);
	return NULL;
}

/* smarm_mutex is 64 bytes, 8-aligned; SMARM_MUTEX_INIT (a static, a
 * local, assigned as a compound literal) and all-zero storage (calloc) are
 * unlocked mutexes; a mutex embedded in a struct among other members
 * protects them and leaves its neighbours alone (two accounts, 40 actors
 * moving money with both locked: the totals are exact); destroy then init
 * again works, over garbage too, as does storage freed after destroy. */
START_TEST(test_storage)
{
	ck_assert_uint_eq(sizeof(smarm_mutex), 64);
	ck_assert_uint_ge(alignof(smarm_mutex), 8);
	run(storage_root, NULL);
}
END_TEST

/* ---- across workers ------------------------------------------------------------------- */

#define XGROUP 100
#define XROUNDS 20

static smarm_mutex xmx;
static uint64_t xcount;
static atomic_int xinside;

/* XROUNDS increments: read, then yield (even rounds) or spin (odd), then
 * write back. */
static void *x_count(void *arg)
{
	int i, r;

	(void)arg;
	for (i = 0; i < XROUNDS; i++) {
		uint64_t v;

		r = smarm_mutex_lock(&xmx, WAIT);
		REQUIRE_MSG(r == 0, "lock gave %d", r);
		REQUIRE_MSG(atomic_fetch_add(&xinside, 1) == 0,
			    "two holders at once");
		v = xcount;
		if (i % 2 == 0)
			REQUIRE_MSG(smarm_yield() == 0, "yield failed");
		else
			spin(200);
		xcount = v + 1;
		atomic_fetch_sub(&xinside, 1);
		r = smarm_mutex_unlock(&xmx);
		REQUIRE_MSG(r == 0, "unlock gave %d", r);
	}
	return NULL;
}

/* Spawns n actors running x_count, pinned or not; joins them. */
static void x_group(unsigned n, int pinned)
{
	smarm_pid pids[2 * XGROUP];
	unsigned i;

	for (i = 0; i < n; i++) {
		if (pinned)
			spawn_pinned_ok(&pids[i], x_count, NULL);
		else
			spawn_ok(&pids[i], x_count, NULL);
	}
	for (i = 0; i < n; i++)
		join_ok(pids[i]);
}

static atomic_int seed_started;
static pthread_t root_thread;

/* On the other worker: a pinned group there. */
static void *x_seeder(void *arg)
{
	pthread_t me = os_thread();

	(void)arg;
	atomic_store(&seed_started, 1 + !pthread_equal(me, root_thread));
	x_group(XGROUP, 1);
	return NULL;
}

static void *x_root(void *arg)
{
	int mode = (int)untok(arg);
	smarm_pid seeder;
	uint64_t t0;

	ck_assert_uint_eq(stats_now().threads, 2);
	ck_assert_int_eq(smarm_mutex_init(&xmx), 0);
	xcount = 0;
	atomic_store(&xinside, 0);
	atomic_store(&seed_started, 0);
	switch (mode) {
	case 0:
		/* Unpinned, wherever they run. */
		x_group(2 * XGROUP, 0);
		break;
	case 1:
		/* A pinned group on each worker: this worker is kept busy
		 * (no switch) until the seeder runs, so it runs on the
		 * other. */
		root_thread = os_thread();
		spawn_ok(&seeder, x_seeder, NULL);
		t0 = mono_ns();
		while (atomic_load(&seed_started) == 0) {
			ck_assert_msg(mono_ns() - t0 < WAIT,
				      "the other worker never ran the seeder");
			nap_us(50);
		}
		ck_assert_msg(atomic_load(&seed_started) == 2,
			      "the seeder ran on the root's worker");
		x_group(XGROUP, 1);
		join_ok(seeder);
		break;
	default:
		/* Half pinned here, half free to move. */
		spawn_ok(&seeder, x_seeder, NULL);
		x_group(XGROUP, 1);
		join_ok(seeder);
		break;
	}
	ck_assert_uint_eq(xcount, 2ull * XGROUP * XROUNDS);
	ck_assert_int_eq(smarm_mutex_destroy(&xmx), 0);
	return NULL;
}

/* Two workers whatever SMARM_THREADS says; 200 actors, 20 increments
 * each (read, yield or spin, write back): _i 0, none pinned; 1, 100
 * pinned to each worker, so the mutex goes back and forth between
 * workers and wakes pinned actors on the other; 2, 100 pinned to the
 * root's worker and 100 spawned by an unpinned actor (pinned to wherever
 * it ran).  The count is exact, one holder at a time. */
START_TEST(test_across_workers)
{
	run_with(x_root, tok((uint64_t)_i), 2, 64 * 1024);
}
END_TEST

/* Tight loops, on two workers at once: lock (or trylock until it works),
 * check alone, increment, unlock, with nothing in between, so that the
 * mutex is mostly free or held without waiters and the fast paths race
 * the slow ones. */
#define TIGHT 200000

static smarm_mutex tmx;
static uint64_t tcount;
static atomic_int tinside;
static atomic_int tight_started;

static void tight_loop(int use_try, unsigned n)
{
	unsigned i;
	int r;

	for (i = 0; i < n; i++) {
		if (use_try) {
			uint64_t spins = 0, t0 = 0;

			while ((r = smarm_mutex_trylock(&tmx)) == EBUSY) {
				if (++spins % 4096 != 0)
					continue;
				if (t0 == 0)
					t0 = mono_ns();
				REQUIRE_MSG(mono_ns() - t0 < WAIT,
					    "round %u: trylock busy for %llu ms",
					    i, (unsigned long long)(WAIT / MS));
			}
		} else {
			r = smarm_mutex_lock(&tmx, WAIT);
		}
		REQUIRE_MSG(r == 0, "round %u: lock gave %d", i, r);
		REQUIRE_MSG(atomic_fetch_add(&tinside, 1) == 0,
			    "round %u: two holders at once", i);
		tcount++;
		atomic_fetch_sub(&tinside, 1);
		r = smarm_mutex_unlock(&tmx);
		REQUIRE_MSG(r == 0, "round %u: unlock gave %d", i, r);
	}
}

static void *tight_other(void *arg)
{
	unsigned n = (unsigned)untok(arg) >> 1;

	atomic_store(&tight_started,
		     1 + !pthread_equal(os_thread(), root_thread));
	tight_loop((int)(untok(arg) & 1), n);
	return NULL;
}

static void *tight_root(void *arg)
{
	int use_try = (int)untok(arg);
	unsigned n = RUNNING_ON_VALGRIND ? TIGHT / 20 : TIGHT;
	smarm_pid pid;
	uint64_t t0;

	ck_assert_int_eq(smarm_mutex_init(&tmx), 0);
	tcount = 0;
	atomic_store(&tinside, 0);
	atomic_store(&tight_started, 0);
	/* The other runs on the other worker: this one does not switch
	 * until it has started. */
	root_thread = os_thread();
	spawn_ok(&pid, tight_other, tok(((uint64_t)n << 1) | (uint64_t)use_try));
	t0 = mono_ns();
	while (atomic_load(&tight_started) == 0) {
		ck_assert_msg(mono_ns() - t0 < WAIT,
			      "the other worker never ran the actor");
		nap_us(50);
	}
	ck_assert_msg(atomic_load(&tight_started) == 2,
		      "the actor ran on the root's worker");
	tight_loop(use_try, n);
	join_ok(pid);
	ck_assert_uint_eq(tcount, 2ull * n);
	ck_assert_int_eq(smarm_mutex_destroy(&tmx), 0);
	return NULL;
}

/* Two actors, one on each of two workers, 200,000 rounds each of lock
 * (_i 0) or trylock until it works (_i 1), increment, unlock, with no
 * switch in between: never two holders, never an unlock refused, the
 * count exact. */
START_TEST(test_tight_loops)
{
	run_with(tight_root, tok((uint64_t)_i), 2, 0);
}
END_TEST

/* ---- suite ------------------------------------------------------------------------------ */

static Suite *mutex_suite(void)
{
	Suite *s = suite_create("mutex");
	TCase *tc;

	tc = tcase_add(s, "counter");
	tcase_add_test(tc, test_counter_10k);
	tcase_add_test(tc, test_counter_trylock);

	tc = tcase_add(s, "fifo");
	tcase_add_loop_test(tc, test_fifo_order, 0, 2);
	tcase_add_test(tc, test_fifo_handoff);

	tc = tcase_add(s, "errors");
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_destroy_busy_waiter);

	tc = tcase_add(s, "cancel");
	tcase_add_loop_test(tc, test_cancel_waiter, 0, NLEAVE);
	tcase_add_test(tc, test_cancel_deadline);
	tcase_add_test(tc, test_cancel_pending);
	tcase_add_test(tc, test_cancel_after_handoff);

	tc = tcase_add(s, "ownerdead");
	tcase_add_loop_test(tc, test_owner_dead, 0, NEND * NAFTER);
	tcase_add_test(tc, test_owner_dead_many);
	tcase_add_test(tc, test_owner_dead_after_handoff);

	tc = tcase_add(s, "timeout");
	tcase_add_loop_test(tc, test_timeout_fires, 0, NLEAVE);
	tcase_add_test(tc, test_timeout_lone);
	tcase_add_test(tc, test_timeout_not_fired);
	tcase_add_test(tc, test_timeout_race);

	tc = tcase_add(s, "storage");
	tcase_add_test(tc, test_storage);

	tc = tcase_add(s, "workers");
	tcase_add_loop_test(tc, test_across_workers, 0, 3);
	tcase_add_loop_test(tc, test_tight_loops, 0, 2);

	return s;
}

int main(void)
{
	return run_suite(mutex_suite());
}
