/*
 * check_mailbox.c - every actor's mailbox (smarm_send_to, smarm_receive)
 * and the dead-letter function:
 *
 *  - basic:     messages arrive in order, with their sender and kind;
 *               NULL is a message like any other.
 *  - errors:    ESRCH for the zero pid, a stale pid and an ended actor
 *               (the message stays the caller's), and from a thread when
 *               no runtime runs; EINVAL, EPERM.
 *  - timeout:   0 and a short timeout on an empty mailbox; a message that
 *               comes before the timeout.
 *  - threads:   10 plain threads send 10,000 messages each to one actor:
 *               none lost or duplicated, each thread's in order.
 *  - dead:      an actor ends with 1,000 messages queued: each reaches the
 *               dead-letter function once, in order, with its pid; with
 *               the default, free(3) takes them (valgrind checks); an
 *               actor left parked when a run deadlocks has its messages
 *               handed over too.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#define TIMEOUT 120
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>

#define MS (1000ull * 1000ull)

/* ---- basic ------------------------------------------------------------------ */

static void *collect3(void *arg)
{
	smarm_pid parent = *(smarm_pid *)arg;
	smarm_msg m;
	int i, *p;

	for (i = 0; i < 3; i++) {
		memset(&m, 0x5a, sizeof(m));
		ck_assert_int_eq(smarm_receive(&m, SMARM_FOREVER), 0);
		ck_assert_int_eq(m.kind, SMARM_MSG);
		ck_assert(smarm_pid_eq(m.from, parent));
		ck_assert_str_eq(m.reason, "");
		p = m.data;
		ck_assert_int_eq(*p, i);
		free(p);
	}
	ck_assert_int_eq(smarm_receive(&m, SMARM_FOREVER), 0);
	ck_assert_ptr_null(m.data);
	return (void *)1;
}

static void *basic_root(void *arg)
{
	smarm_pid self = smarm_self(), pid;
	int i;

	(void)arg;
	spawn_ok(&pid, collect3, &self);
	for (i = 0; i < 3; i++) {
		int *p = malloc(sizeof(*p));

		ck_assert_ptr_nonnull(p);
		*p = i;
		ck_assert_int_eq(smarm_send_to(pid, p), 0);
		if (i == 1)
			ck_assert_int_eq(smarm_yield(), 0);
	}
	ck_assert_int_eq(smarm_send_to(pid, NULL), 0);
	ck_assert_ptr_eq(join_ok(pid), (void *)1);
	return NULL;
}

START_TEST(test_basic)
{
	run_in_actor(basic_root, NULL);
}
END_TEST

/* ---- errors ----------------------------------------------------------------- */

static void *errors_root(void *arg)
{
	smarm_pid pid;
	int x = 7;

	(void)arg;
	ck_assert_int_eq(smarm_send_to(SMARM_PID_NONE, &x), ESRCH);
	spawn_ok(&pid, return_arg, NULL);
	/* Ended, not yet joined: no mailbox any more. */
	wait_exited(1);
	ck_assert_int_eq(smarm_send_to(pid, &x), ESRCH);
	join_ok(pid);
	/* Stale. */
	ck_assert_int_eq(smarm_send_to(pid, &x), ESRCH);
	ck_assert_int_eq(x, 7);
	ck_assert_int_eq(smarm_receive(NULL, 0), EINVAL);
	return NULL;
}

START_TEST(test_errors)
{
	smarm_msg m;
	int x = 1;

	run_in_actor(errors_root, NULL);
	/* No runtime runs now. */
	ck_assert_int_eq(smarm_receive(&m, 0), EPERM);
	ck_assert_int_eq(smarm_send_to(SMARM_PID_NONE, &x), ESRCH);
	ck_assert_int_eq(smarm_send_to((smarm_pid){ (1ull << 32) | 1 }, &x),
			 ESRCH);
}
END_TEST

/* ---- timeouts ---------------------------------------------------------------- */

static void *late_sender(void *arg)
{
	ck_assert_int_eq(smarm_sleep(20 * MS), 0);
	ck_assert_int_eq(smarm_send_to(*(smarm_pid *)arg, (void *)0x99), 0);
	return NULL;
}

static void *timeout_root(void *arg)
{
	smarm_pid self = smarm_self(), pid;
	smarm_msg m;
	uint64_t t0;

	(void)arg;
	memset(&m, 0x5a, sizeof(m));
	ck_assert_int_eq(smarm_receive(&m, 0), ETIMEDOUT);
	ck_assert_int_eq(m.kind, 0x5a5a5a5a);	/* not written */
	t0 = smarm_now();
	ck_assert_int_eq(smarm_receive(&m, 20 * MS), ETIMEDOUT);
	ck_assert_uint_ge(smarm_now() - t0, 20 * MS);
	spawn_ok(&pid, late_sender, &self);
	ck_assert_int_eq(smarm_receive(&m, 10000 * MS), 0);
	ck_assert_ptr_eq(m.data, (void *)0x99);
	ck_assert(smarm_pid_eq(m.from, pid));
	join_ok(pid);
	return NULL;
}

START_TEST(test_timeout)
{
	run_in_actor(timeout_root, NULL);
}
END_TEST

/* ---- plain threads ----------------------------------------------------------- */

#define NTHREADS 10
#define PER_THREAD 10000

struct feed {
	pthread_t t;
	smarm_pid to;
	unsigned id;
	int err;
};

static void *feeder(void *arg)
{
	struct feed *f = arg;
	uint64_t i;
	int err;

	for (i = 0; i < PER_THREAD; i++) {
		err = smarm_send_to(f->to,
				    (void *)(uintptr_t)((uint64_t)f->id << 32 | i));
		if (err) {
			f->err = err;
			break;
		}
	}
	return NULL;
}

static void *threads_root(void *arg)
{
	struct feed f[NTHREADS];
	uint64_t next[NTHREADS] = { 0 };
	smarm_msg m;
	unsigned i;

	(void)arg;
	for (i = 0; i < NTHREADS; i++) {
		f[i].to = smarm_self();
		f[i].id = i;
		f[i].err = 0;
		ck_assert_int_eq(pthread_create(&f[i].t, NULL, feeder, &f[i]),
				 0);
	}
	for (i = 0; i < NTHREADS * PER_THREAD; i++) {
		uint64_t v, t;

		ck_assert_int_eq(smarm_receive(&m, SMARM_FOREVER), 0);
		ck_assert(smarm_pid_eq(m.from, SMARM_PID_NONE));
		v = (uint64_t)(uintptr_t)m.data;
		t = v >> 32;
		ck_assert_uint_lt(t, NTHREADS);
		/* In order per thread: nothing lost, nothing twice. */
		ck_assert_uint_eq(v & 0xffffffffu, next[t]);
		next[t]++;
	}
	for (i = 0; i < NTHREADS; i++) {
		ck_assert_int_eq(pthread_join(f[i].t, NULL), 0);
		ck_assert_int_eq(f[i].err, 0);
		ck_assert_uint_eq(next[i], PER_THREAD);
	}
	ck_assert_int_eq(smarm_receive(&m, 0), ETIMEDOUT);
	return NULL;
}

START_TEST(test_threads)
{
	run_in_actor(threads_root, NULL);
}
END_TEST

/* ---- dead letters ------------------------------------------------------------ */

#define NDEAD 1000

static atomic_uint dead_count;
static smarm_pid dead_to;
static int dead_order_ok;

static void count_dead(void *msg, smarm_pid to)
{
	unsigned n = atomic_fetch_add(&dead_count, 1);
	int *p = msg;

	if (*p != (int)n || !smarm_pid_eq(to, dead_to))
		dead_order_ok = 0;
	free(p);
}

/* Ends, its mailbox unread, once the root says all was sent (however
 * slowly the sends went). */
static void *sleepy(void *arg)
{
	smarm_rx *go = arg;
	int v = 0;

	ck_assert_int_eq(smarm_recv(go, &v, SMARM_FOREVER), 0);
	ck_assert_int_eq(smarm_rx_close(go), 0);
	return NULL;
}

static void *dead_root(void *arg)
{
	smarm_pid pid;
	smarm_tx *tx;
	smarm_rx *rx;
	int i, one = 1;

	(void)arg;
	ck_assert_int_eq(smarm_channel(&tx, &rx, sizeof(int)), 0);
	spawn_ok(&pid, sleepy, rx);
	dead_to = pid;
	for (i = 0; i < NDEAD; i++) {
		int *p = malloc(sizeof(*p));

		ck_assert_ptr_nonnull(p);
		*p = i;
		ck_assert_int_eq(smarm_send_to(pid, p), 0);
	}
	ck_assert_int_eq(smarm_send(tx, &one), 0);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	join_ok(pid);
	return NULL;
}

static void run_dead(void (*dead)(void *, smarm_pid))
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	void *res = NULL;

	smarm_config_init(&cfg);
	ck_assert_ptr_null(cfg.dead_letter);
	cfg.dead_letter = dead;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, dead_root, NULL, &res), 0);
	smarm_runtime_free(rt);
}

START_TEST(test_dead_letters)
{
	atomic_store(&dead_count, 0);
	dead_order_ok = 1;
	run_dead(count_dead);
	ck_assert_uint_eq(atomic_load(&dead_count), NDEAD);
	ck_assert(dead_order_ok);
}
END_TEST

/* The default frees them: valgrind finds no leak. */
START_TEST(test_dead_default)
{
	run_dead(NULL);
}
END_TEST

/* A run that deadlocks: the root joins a child that sleeps for ever;
 * the child's queued messages reach the dead-letter function when the
 * run ends. */
static void *sleep_forever(void *arg)
{
	(void)arg;
	smarm_sleep(SMARM_FOREVER);
	ck_abort_msg("an actor sleeping SMARM_FOREVER woke up");
	return NULL;
}

static void *deadlock_root(void *arg)
{
	smarm_pid pid;
	int i;

	(void)arg;
	spawn_ok(&pid, sleep_forever, NULL);
	dead_to = pid;
	for (i = 0; i < 5; i++) {
		int *p = malloc(sizeof(*p));

		ck_assert_ptr_nonnull(p);
		*p = i;
		ck_assert_int_eq(smarm_send_to(pid, p), 0);
	}
	smarm_join(pid, NULL, SMARM_FOREVER);
	return NULL;
}

START_TEST(test_dead_on_deadlock)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;

	atomic_store(&dead_count, 0);
	dead_order_ok = 1;
	smarm_config_init(&cfg);
	cfg.dead_letter = count_dead;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, deadlock_root, NULL, NULL),
			 EDEADLK);
	smarm_runtime_free(rt);
	ck_assert_uint_eq(atomic_load(&dead_count), 5);
	ck_assert(dead_order_ok);
}
END_TEST

static Suite *mailbox_suite(void)
{
	Suite *s = suite_create("mailbox");
	TCase *tc;

	tc = tcase_add(s, "basic");
	tcase_add_test(tc, test_basic);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_timeout);

	tc = tcase_add(s, "threads");
	tcase_add_test(tc, test_threads);

	tc = tcase_add(s, "dead");
	tcase_add_test(tc, test_dead_letters);
	tcase_add_test(tc, test_dead_default);
	tcase_add_test(tc, test_dead_on_deadlock);

	return s;
}

int main(void)
{
	return run_suite(mailbox_suite());
}
