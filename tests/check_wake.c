/*
 * check_wake.c - a wake always finds a worker.
 *
 * Two workers.  Whatever makes an actor runnable -- a send to a parked
 * receiver (untimed and timed), a spawn, a timer, a send from a plain OS
 * thread, an exit that ends a join -- while its waker's worker goes on
 * computing for COMPUTE without a single smarm call, the woken actor must
 * run on the other worker long before that computation ends: within
 * LIMIT, a fraction of it (smarm(7), "Workers", promises a few
 * milliseconds).  Before this was so, the woken actor sat in its waker's
 * run-next slot until the waker stopped computing.
 *
 * The suite makes its own two-worker runtimes, whatever SMARM_THREADS says.
 * SMARM_WAKE_VERBOSE=1 in the environment prints each latency.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#include "testutil.h"

#include <stdatomic.h>

#include "idle.h"

static uint64_t compute_ns(void)
{
	/* valgrind runs one thread at a time and slowly: a longer
	 * computation keeps the bound meaningful there. */
	return RUNNING_ON_VALGRIND ? 2000 * MS : 200 * MS;
}

static uint64_t limit_ns(void)
{
	return compute_ns() / 2;
}

/* Compute for ns without any smarm call. */
static void compute(uint64_t ns)
{
	uint64_t t0 = mono_ns();

	while (mono_ns() - t0 < ns)
		__asm__ volatile("" ::: "memory");
}

static void run2(smarm_fn fn, void *arg)
{
	smarm_config cfg;
	smarm_runtime *rt;

	smarm_config_init(&cfg);
	cfg.threads = 2;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, fn, arg, NULL), 0);
	smarm_runtime_free(rt);
}

struct wk {
	smarm_tx *tx;
	smarm_rx *rx;
	uint64_t timeout;
	atomic_int ready;       /* the woken actor is about to wait */
	atomic_uint worker;     /* the worker it waits on */
	atomic_ulong ran;       /* when it ran again, 0 = not yet */
};

/* The waker computed from t0 on; the woken actor must have run within
 * the limit of t0 (of `due` for a timer). */
static void check_ran(struct wk *k, uint64_t due, const char *what)
{
	uint64_t ran = atomic_load(&k->ran);

	ck_assert_msg(ran != 0, "%s: the woken actor had not run after the "
		      "waker computed %llu ms", what,
		      (unsigned long long)(compute_ns() / MS));
	if (getenv("SMARM_WAKE_VERBOSE"))
		fprintf(stderr, "%s: ran %.3f ms after its wake\n", what,
			(double)(int64_t)(ran - due) / 1e6);
	ck_assert_msg(ran < due + limit_ns(),
		      "%s: the woken actor ran %llu ms after its wake, while "
		      "its waker computed", what,
		      (unsigned long long)((ran - due) / MS));
}

/* Wait (sleeping) until the actor announced it waits, plus a little, so
 * that it is parked for sure. */
static void wait_ready(struct wk *k)
{
	while (!atomic_load(&k->ready))
		ck_assert_int_eq(smarm_sleep(MS), 0);
	ck_assert_int_eq(smarm_sleep(5 * MS), 0);
}

/* ---- a send to a parked receiver -------------------------------------------- */

static void *receiver(void *p)
{
	struct wk *k = p;
	uint64_t v;

	atomic_store(&k->ready, 1);
	ck_assert_int_eq(smarm_recv(k->rx, &v, k->timeout), 0);
	atomic_store(&k->ran, mono_ns());
	return NULL;
}

static void *send_root(void *p)
{
	struct wk *k = p;
	smarm_pid pid;
	uint64_t v = 1, t0;

	ck_assert_int_eq(smarm_channel(&k->tx, &k->rx, sizeof(v)), 0);
	ck_assert_int_eq(smarm_spawn(&pid, receiver, k), 0);
	wait_ready(k);
	t0 = mono_ns();
	ck_assert_int_eq(smarm_send(k->tx, &v), 0);
	compute(compute_ns());
	check_ran(k, t0, k->timeout == SMARM_FOREVER ? "send" : "timed send");
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	ck_assert_int_eq(smarm_tx_close(k->tx), 0);
	ck_assert_int_eq(smarm_rx_close(k->rx), 0);
	return NULL;
}

START_TEST(test_send)
{
	struct wk k = { .timeout = SMARM_FOREVER };

	run2(send_root, &k);
}
END_TEST

START_TEST(test_send_timed)
{
	struct wk k = { .timeout = 60000 * MS };

	run2(send_root, &k);
}
END_TEST

/* ---- a spawn --------------------------------------------------------------------- */

static void *mark(void *p)
{
	atomic_store(&((struct wk *)p)->ran, mono_ns());
	return NULL;
}

static void *spawn_root(void *p)
{
	struct wk *k = p;
	smarm_pid pid;
	uint64_t t0;

	/* Let the other worker settle asleep first. */
	ck_assert_int_eq(smarm_sleep(20 * MS), 0);
	t0 = mono_ns();
	ck_assert_int_eq(smarm_spawn(&pid, mark, k), 0);
	compute(compute_ns());
	check_ran(k, t0, "spawn");
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	return NULL;
}

START_TEST(test_spawn)
{
	struct wk k = { .timeout = 0 };

	run2(spawn_root, &k);
}
END_TEST

/* ---- a timer whose worker is busy --------------------------------------------- */

#define NAP (20 * MS)

static void *napper(void *p)
{
	struct wk *k = p;

	atomic_store(&k->worker, smarm__worker_id_self());
	atomic_store(&k->ready, 1);
	ck_assert_int_eq(smarm_sleep(NAP), 0);
	atomic_store(&k->ran, mono_ns());
	return NULL;
}

/* Pinned: its worker holds the napper's timer and computes. */
static void *busy_pinned(void *p)
{
	struct wk *k = p;
	smarm_pid pid;
	uint64_t t0;
	int tries;

	for (tries = 0; tries < 50; tries++) {
		atomic_store(&k->ready, 0);
		atomic_store(&k->ran, 0);
		ck_assert_int_eq(smarm_spawn(&pid, napper, k), 0);
		/* The napper runs next, here, and parks with its timer. */
		t0 = mono_ns();
		ck_assert_int_eq(smarm_yield(), 0);
		if (atomic_load(&k->ready) &&
		    atomic_load(&k->worker) == smarm__worker_id_self() &&
		    atomic_load(&k->ran) == 0) {
			compute(compute_ns());
			check_ran(k, t0 + NAP, "timer");
			ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER),
					 0);
			return NULL;
		}
		/* It ran elsewhere: the case did not arise; again. */
		ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	}
	ck_abort_msg("the napper never parked on its spawner's worker");
	return NULL;
}

static void *timer_root(void *p)
{
	smarm_pid pid;

	ck_assert_int_eq(smarm_sleep(10 * MS), 0);
	ck_assert_int_eq(spawn_pinned(&pid, busy_pinned, p), 0);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	return NULL;
}

START_TEST(test_timer)
{
	struct wk k = { .timeout = 0 };

	run2(timer_root, &k);
}
END_TEST

/* ---- a send from a plain OS thread ------------------------------------------- */

struct plain {
	struct wk *k;
	uint64_t t0;
};

static void *plain_sender(void *p)
{
	struct plain *pl = p;
	uint64_t v = 2;

	pl->t0 = mono_ns();
	ck_assert_int_eq(smarm_send(pl->k->tx, &v), 0);
	compute(compute_ns());
	return NULL;
}

/* Pinned: one worker computes while the thread sends, so only the other
 * can run the receiver. */
static void *plain_root_busy(void *p)
{
	struct wk *k = p;
	struct plain pl = { k, 0 };
	pthread_t th;
	smarm_pid pid;

	ck_assert_int_eq(smarm_channel(&k->tx, &k->rx, sizeof(uint64_t)), 0);
	ck_assert_int_eq(smarm_spawn(&pid, receiver, k), 0);
	wait_ready(k);
	ck_assert_int_eq(pthread_create(&th, NULL, plain_sender, &pl), 0);
	compute(compute_ns());
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	check_ran(k, pl.t0, "plain thread");
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	ck_assert_int_eq(smarm_tx_close(k->tx), 0);
	ck_assert_int_eq(smarm_rx_close(k->rx), 0);
	return NULL;
}

static void *plain_root(void *p)
{
	smarm_pid pid;

	ck_assert_int_eq(spawn_pinned(&pid, plain_root_busy, p), 0);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	return NULL;
}

START_TEST(test_plain_thread)
{
	struct wk k = { .timeout = SMARM_FOREVER };

	run2(plain_root, &k);
}
END_TEST

/* ---- a join woken by an exit ---------------------------------------------------- */

struct jn {
	struct wk k;
	smarm_pid target;
	atomic_ulong ended;
};

static void *short_lived(void *p)
{
	struct jn *j = p;

	ck_assert_int_eq(smarm_sleep(10 * MS), 0);
	atomic_store(&j->ended, mono_ns());
	return NULL;
}

static void *joiner(void *p)
{
	struct jn *j = p;

	atomic_store(&j->k.ready, 1);
	ck_assert_int_eq(smarm_join(j->target, NULL, SMARM_FOREVER), 0);
	atomic_store(&j->k.ran, mono_ns());
	return NULL;
}

static void *join_root(void *p)
{
	struct jn *j = p;
	smarm_pid pid;
	uint64_t ended;

	ck_assert_int_eq(smarm_spawn(&j->target, short_lived, j), 0);
	ck_assert_int_eq(smarm_spawn(&pid, joiner, j), 0);
	wait_ready(&j->k);
	compute(compute_ns());
	ended = atomic_load(&j->ended);
	ck_assert_msg(ended != 0, "join: the joinee had not ended after its "
		      "10 ms nap while another actor computed 200 ms");
	check_ran(&j->k, ended, "join");
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	return NULL;
}

START_TEST(test_join)
{
	struct jn j = { .k = { .timeout = 0 } };

	run2(join_root, &j);
}
END_TEST

static Suite *wake_suite(void)
{
	Suite *s = suite_create("wake");
	TCase *tc;

	tc = tcase_add(s, "send");
	tcase_add_test(tc, test_send);
	tcase_add_test(tc, test_send_timed);
	tc = tcase_add(s, "spawn");
	tcase_add_test(tc, test_spawn);
	tc = tcase_add(s, "timer");
	tcase_add_test(tc, test_timer);
	tc = tcase_add(s, "plain_thread");
	tcase_add_test(tc, test_plain_thread);
	tc = tcase_add(s, "join");
	tcase_add_test(tc, test_join);
	return s;
}

int main(void)
{
	return run_suite(wake_suite());
}
