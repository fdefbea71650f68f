/*
 * check_misuse.c - API misuse gets a documented error, never a crash or
 * a hang: NULL pointers, closed and stale channel handles, ended and
 * made-up pids, calls from plain threads, runtimes run twice at once,
 * mutexes destroyed while in use, and the like (smarm(7), API misuse).
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

/* Count the checks made, so the suite's size is visible in its log. */
#define MISUSE(call, err) ck_assert_int_eq((call), (err))

/* A time limit no test reaches. */
#define LONG (3600ull * 1000 * MS)

/* A pid that never named an actor: a slot far past any table, a high
 * generation. */
static const smarm_pid NEVER = { 0x7fff0000fffffffdull };

/* The address a handle names (its low 48 bits; chan.h). */
static uintptr_t rec(const void *h)
{
	return (uintptr_t)h & (((uintptr_t)1 << 48) - 1);
}

static void *nothing(void *arg)
{
	return arg;
}

static void *sleeper(void *arg)
{
	(void)arg;
	smarm_sleep(SMARM_FOREVER);
	return NULL;
}

/* ---- channel handles ---------------------------------------------------------- */

/* NULL and bad sizes, from a plain thread (no runtime). */
START_TEST(test_chan_null)
{
	smarm_tx *tx;
	smarm_rx *rx;
	smarm_rx *rxs[1] = { NULL };
	uint64_t v = 1;
	size_t ready;

	MISUSE(smarm_channel(NULL, &rx, 8), EINVAL);
	MISUSE(smarm_channel(&tx, NULL, 8), EINVAL);
	MISUSE(smarm_channel(&tx, &rx, 0), EINVAL);
	MISUSE(smarm_channel_bounded(&tx, &rx, 8, 0), EINVAL);
	MISUSE(smarm_channel_bounded(NULL, &rx, 8, 1), EINVAL);
	MISUSE(smarm_send(NULL, &v), EINVAL);
	MISUSE(smarm_send_timed(NULL, &v, 0), EINVAL);
	MISUSE(smarm_recv(NULL, &v, 0), EINVAL);
	MISUSE(smarm_try_recv(NULL, &v), EINVAL);
	MISUSE(smarm_select(NULL, 1, &ready, 0), EINVAL);
	MISUSE(smarm_select(rxs, 0, &ready, 0), EINVAL);
	MISUSE(smarm_select(rxs, 1, NULL, 0), EINVAL);
	MISUSE(smarm_tx_close(NULL), EINVAL);
	MISUSE(smarm_rx_close(NULL), EINVAL);
	ck_assert_ptr_null(smarm_tx_clone(NULL));

	ck_assert_int_eq(smarm_channel(&tx, &rx, sizeof(v)), 0);
	MISUSE(smarm_send(tx, NULL), EINVAL);
	MISUSE(smarm_send_timed(tx, NULL, 0), EINVAL);
	MISUSE(smarm_recv(rx, NULL, 0), EINVAL);
	MISUSE(smarm_try_recv(rx, NULL), EINVAL);
	/* receiving is for actors */
	MISUSE(smarm_recv(rx, &v, 0), EPERM);
	MISUSE(smarm_try_recv(rx, &v), EPERM);
	rxs[0] = rx;
	MISUSE(smarm_select(rxs, 1, &ready, 0), EPERM);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
}
END_TEST

/* Every call given a closed handle, from a plain thread. */
START_TEST(test_closed_thread)
{
	smarm_tx *tx, *c;
	smarm_rx *rx;
	uint64_t v = 1;

	ck_assert_int_eq(smarm_channel(&tx, &rx, sizeof(v)), 0);
	c = smarm_tx_clone(tx);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(smarm_tx_close(c), 0);
	MISUSE(smarm_tx_close(c), EBADF);
	MISUSE(smarm_send(c, &v), EBADF);
	MISUSE(smarm_send_timed(c, &v, 0), EBADF);
	MISUSE(smarm_send_timed(c, &v, SMARM_FOREVER), EBADF);
	ck_assert_ptr_null(smarm_tx_clone(c));
	/* the open handle still counts as the only sender */
	ck_assert_int_eq(smarm_send(tx, &v), 0);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	MISUSE(smarm_tx_close(tx), EBADF);
	MISUSE(smarm_send(tx, &v), EBADF);
	ck_assert_ptr_null(smarm_tx_clone(tx));
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	MISUSE(smarm_rx_close(rx), EBADF);
	MISUSE(smarm_recv(rx, &v, 0), EBADF);
	MISUSE(smarm_try_recv(rx, &v), EBADF);
}
END_TEST

/* A handle of one kind passed as the other. */
START_TEST(test_wrong_kind)
{
	smarm_tx *tx;
	smarm_rx *rx;
	uint64_t v = 1;

	ck_assert_int_eq(smarm_channel(&tx, &rx, sizeof(v)), 0);
	MISUSE(smarm_send((smarm_tx *)(void *)rx, &v), EBADF);
	MISUSE(smarm_tx_close((smarm_tx *)(void *)rx), EBADF);
	ck_assert_ptr_null(smarm_tx_clone((smarm_tx *)(void *)rx));
	MISUSE(smarm_rx_close((smarm_rx *)(void *)tx), EBADF);
	MISUSE(smarm_recv((smarm_rx *)(void *)tx, &v, 0), EBADF);
	MISUSE(smarm_try_recv((smarm_rx *)(void *)tx, &v), EBADF);
	/* both still open */
	ck_assert_int_eq(smarm_send(tx, &v), 0);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
}
END_TEST

/* The double close that used to free the channel under its receiver:
 * the second close is refused, the receiver still waits for the real
 * last sender, and then sees the end. */
static void *double_close_root(void *arg)
{
	smarm_tx *tx, *c;
	smarm_rx *rx;
	uint64_t v = 7;

	(void)arg;
	chan_ok(&tx, &rx, sizeof(v));
	c = smarm_tx_clone(tx);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(smarm_tx_close(c), 0);
	MISUSE(smarm_tx_close(c), EBADF);
	MISUSE(smarm_try_recv(rx, &v), EAGAIN); /* tx is still open */
	MISUSE(smarm_recv(rx, &v, MS), ETIMEDOUT);
	ck_assert_int_eq(smarm_send(tx, &v), 0);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	MISUSE(smarm_tx_close(tx), EBADF);
	ck_assert_int_eq(smarm_recv(rx, &v, SMARM_FOREVER), 0);
	ck_assert_uint_eq(v, 7);
	MISUSE(smarm_recv(rx, &v, SMARM_FOREVER), EPIPE);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	MISUSE(smarm_rx_close(rx), EBADF);
	return NULL;
}

START_TEST(test_double_close)
{
	run_in_actor(double_close_root, NULL);
}
END_TEST

/* Handles whose records were reused for a new channel and a new clone:
 * the old ones are refused and reach nothing of the new ones. */
static void *stale_root(void *arg)
{
	smarm_tx *tx, *tx2, *c, *c2;
	smarm_rx *rx, *rx2, *rxs[2];
	uint64_t v = 1;
	size_t ready = 99;

	(void)arg;
	chan_ok(&tx, &rx, sizeof(v));
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	chan_ok(&tx2, &rx2, sizeof(v));
	/* The pool gives the same channel back (last in, first out). */
	ck_assert_uint_eq(rec(tx2), rec(tx));
	ck_assert_uint_eq(rec(rx2), rec(rx));
	ck_assert_ptr_ne(tx2, tx);
	ck_assert_ptr_ne(rx2, rx);
	MISUSE(smarm_send(tx, &v), EBADF);
	MISUSE(smarm_send_timed(tx, &v, MS), EBADF);
	MISUSE(smarm_tx_close(tx), EBADF);
	ck_assert_ptr_null(smarm_tx_clone(tx));
	MISUSE(smarm_recv(rx, &v, 0), EBADF);
	MISUSE(smarm_try_recv(rx, &v), EBADF);
	MISUSE(smarm_rx_close(rx), EBADF);
	rxs[0] = rx2;
	rxs[1] = rx;
	MISUSE(smarm_select(rxs, 2, &ready, 0), EBADF);
	ck_assert_uint_eq(ready, 99);
	/* nothing reached the new channel */
	MISUSE(smarm_try_recv(rx2, &v), EAGAIN);

	/* a clone's record, reused by the next clone */
	c = smarm_tx_clone(tx2);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(smarm_tx_close(c), 0);
	c2 = smarm_tx_clone(tx2);
	ck_assert_ptr_nonnull(c2);
	ck_assert_uint_eq(rec(c2), rec(c));
	ck_assert_ptr_ne(c2, c);
	MISUSE(smarm_send(c, &v), EBADF);
	MISUSE(smarm_tx_close(c), EBADF);
	ck_assert_int_eq(smarm_tx_close(c2), 0);
	ck_assert_int_eq(smarm_tx_close(tx2), 0);
	MISUSE(smarm_try_recv(rx2, &v), EPIPE);
	ck_assert_int_eq(smarm_rx_close(rx2), 0);
	return NULL;
}

START_TEST(test_stale)
{
	run_in_actor(stale_root, NULL);
}
END_TEST

/* Bounded channels: a closed handle is refused before any wait. */
static void *bounded_root(void *arg)
{
	smarm_tx *tx;
	smarm_rx *rx, *rxs[1];
	uint64_t v = 1;
	size_t ready;

	(void)arg;
	ck_assert_int_eq(smarm_channel_bounded(&tx, &rx, sizeof(v), 1), 0);
	ck_assert_int_eq(smarm_send(tx, &v), 0);
	MISUSE(smarm_send_timed(tx, &v, 0), ETIMEDOUT); /* full */
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	MISUSE(smarm_send(tx, &v), EBADF); /* would wait forever if open */
	MISUSE(smarm_send_timed(tx, &v, SMARM_FOREVER), EBADF);
	MISUSE(smarm_tx_close(tx), EBADF);
	ck_assert_int_eq(smarm_recv(rx, &v, 0), 0);
	MISUSE(smarm_recv(rx, &v, 0), EPIPE);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	rxs[0] = rx;
	MISUSE(smarm_select(rxs, 1, &ready, SMARM_FOREVER), EBADF);
	MISUSE(smarm_recv(rx, &v, SMARM_FOREVER), EBADF);
	return NULL;
}

START_TEST(test_bounded_closed)
{
	run_in_actor(bounded_root, NULL);
}
END_TEST

/* Two threads close one handle at once: exactly one close counts. */
struct race {
	smarm_tx *tx;
	atomic_int go;
	int err;
};

static void *close_racer(void *p)
{
	struct race *r = p;

	while (!atomic_load(&r->go))
		;
	r->err = smarm_tx_close(r->tx);
	return NULL;
}

static void *close_race_root(void *arg)
{
	struct race r[2];
	pthread_t th[2];
	smarm_tx *tx, *c;
	smarm_rx *rx;
	uint64_t v;
	int i, k;

	(void)arg;
	for (k = 0; k < 50; k++) {
		chan_ok(&tx, &rx, sizeof(v));
		c = smarm_tx_clone(tx);
		ck_assert_ptr_nonnull(c);
		for (i = 0; i < 2; i++) {
			r[i].tx = c;
			atomic_store(&r[i].go, 0);
			ck_assert_int_eq(pthread_create(&th[i], NULL,
							close_racer, &r[i]), 0);
		}
		atomic_store(&r[0].go, 1);
		atomic_store(&r[1].go, 1);
		for (i = 0; i < 2; i++)
			ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		ck_assert_msg((r[0].err == 0 && r[1].err == EBADF) ||
			      (r[0].err == EBADF && r[1].err == 0),
			      "two closes of one handle returned %d and %d",
			      r[0].err, r[1].err);
		MISUSE(smarm_try_recv(rx, &v), EAGAIN); /* tx still open */
		ck_assert_int_eq(smarm_tx_close(tx), 0);
		MISUSE(smarm_try_recv(rx, &v), EPIPE);
		ck_assert_int_eq(smarm_rx_close(rx), 0);
	}
	return NULL;
}

START_TEST(test_close_race)
{
	run_in_actor(close_race_root, NULL);
}
END_TEST

/* ---- pids ------------------------------------------------------------------------ */

static void *pids_root(void *arg)
{
	smarm_pid p, self = smarm_self();
	char buf[SMARM_NAME_MAX];
	void *res;

	(void)arg;
	/* SMARM_PID_NONE and a pid that never was */
	MISUSE(smarm_join(SMARM_PID_NONE, &res, 0), ESRCH);
	MISUSE(smarm_join(NEVER, &res, 0), ESRCH);
	MISUSE(smarm_detach(SMARM_PID_NONE), ESRCH);
	MISUSE(smarm_detach(NEVER), ESRCH);
	MISUSE(smarm_cancel(SMARM_PID_NONE), ESRCH);
	MISUSE(smarm_cancel(NEVER), ESRCH);
	MISUSE(smarm_name(SMARM_PID_NONE, buf, sizeof(buf)), ESRCH);
	MISUSE(smarm_name(NEVER, buf, sizeof(buf)), ESRCH);
	MISUSE(smarm_send_to(SMARM_PID_NONE, buf), ESRCH);
	MISUSE(smarm_send_to(NEVER, buf), ESRCH);
	MISUSE(smarm_monitor(SMARM_PID_NONE), ESRCH);
	MISUSE(smarm_monitor(NEVER), ESRCH);
	/* itself */
	MISUSE(smarm_join(self, &res, 0), EDEADLK);
	MISUSE(smarm_monitor(self), EINVAL);
	MISUSE(smarm_name(self, NULL, 8), EINVAL);
	MISUSE(smarm_name(self, buf, 0), EINVAL);
	/* joined: a second join, and everything else */
	spawn_ok(&p, nothing, NULL);
	ck_assert_int_eq(smarm_join(p, NULL, SMARM_FOREVER), 0);
	MISUSE(smarm_join(p, &res, SMARM_FOREVER), ESRCH);
	MISUSE(smarm_detach(p), ESRCH);
	MISUSE(smarm_cancel(p), ESRCH);
	MISUSE(smarm_name(p, buf, sizeof(buf)), ESRCH);
	MISUSE(smarm_send_to(p, buf), ESRCH);
	MISUSE(smarm_monitor(p), ESRCH);
	/* detached: no join, no second detach */
	spawn_ok(&p, sleeper, NULL);
	ck_assert_int_eq(smarm_detach(p), 0);
	MISUSE(smarm_detach(p), ESRCH);
	MISUSE(smarm_join(p, &res, 0), ESRCH);
	ck_assert_int_eq(smarm_cancel(p), 0); /* still alive: cancellable */
	/* spawn's own arguments */
	MISUSE(smarm_spawn(NULL, nothing, NULL), EINVAL);
	MISUSE(smarm_spawn(&p, NULL, NULL), EINVAL);
	MISUSE(smarm_spawn_opt(&p, nothing, NULL, NULL), 0);
	ck_assert_int_eq(smarm_join(p, NULL, SMARM_FOREVER), 0);
	return NULL;
}

START_TEST(test_pids)
{
	run_in_actor(pids_root, NULL);
}
END_TEST

/* Join and detach a pid another actor already joins. */
static void *joiner(void *arg)
{
	smarm_pid *p = arg;

	return (void *)(intptr_t)smarm_join(*p, NULL, SMARM_FOREVER);
}

static void *join_twice_root(void *arg)
{
	smarm_pid target, j;

	(void)arg;
	spawn_ok(&target, sleeper, NULL);
	spawn_ok(&j, joiner, &target);
	while (smarm_join(target, NULL, 0) != EBUSY)
		smarm_yield(); /* until the joiner waits */
	MISUSE(smarm_detach(target), EBUSY);
	ck_assert_int_eq(smarm_cancel(target), 0);
	ck_assert_int_eq((int)(intptr_t)join_ok(j), 0); /* it ended */
	return NULL;
}

START_TEST(test_join_twice)
{
	run_in_actor(join_twice_root, NULL);
}
END_TEST

/* Cancelling itself: its next wait returns ECANCELED. */
static void *cancel_self_root(void *arg)
{
	(void)arg;
	ck_assert_int_eq(smarm_cancel(smarm_self()), 0);
	ck_assert_int_eq(smarm_cancelled(), 1);
	MISUSE(smarm_sleep(MS), ECANCELED);
	MISUSE(smarm_sleep(0), 0);
	return NULL;
}

START_TEST(test_cancel_self)
{
	run_in_actor(cancel_self_root, NULL);
}
END_TEST

/* A pid kept from an earlier runtime names no actor of a later one, even
 * at the same slot: every call answers ESRCH (cancel must not reach the
 * new actor). */
static smarm_pid kept;

static void *keep_self(void *arg)
{
	(void)arg;
	kept = smarm_self();
	return NULL;
}

static void *later_root(void *arg)
{
	char buf[SMARM_NAME_MAX];

	(void)arg;
	ck_assert_int_eq(smarm_pid_eq(kept, SMARM_PID_NONE), 0);
	ck_assert_int_eq(smarm_pid_eq(kept, smarm_self()), 0);
	MISUSE(smarm_join(kept, NULL, 0), ESRCH);
	MISUSE(smarm_detach(kept), ESRCH);
	MISUSE(smarm_name(kept, buf, sizeof(buf)), ESRCH);
	MISUSE(smarm_send_to(kept, buf), ESRCH);
	MISUSE(smarm_monitor(kept), ESRCH);
	MISUSE(smarm_cancel(kept), ESRCH);
	ck_assert_int_eq(smarm_cancelled(), 0);
	return NULL;
}

START_TEST(test_pid_of_earlier_runtime)
{
	run_in_actor(keep_self, NULL);  /* a runtime, freed */
	/* between runtimes, from this thread */
	MISUSE(smarm_cancel(kept), ESRCH);
	MISUSE(smarm_send_to(kept, &kept), ESRCH);
	run_in_actor(later_root, NULL); /* a new one */
}
END_TEST

/* The same runtime run twice: the first run's root is gone. */
START_TEST(test_pid_of_earlier_run)
{
	smarm_runtime *rt;

	ck_assert_int_eq(smarm_runtime_new(&rt, NULL), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, keep_self, NULL, NULL), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, later_root, NULL, NULL), 0);
	smarm_runtime_free(rt);
}
END_TEST

/* ---- calls from a plain thread ------------------------------------------------- */

static void *thread_calls(void *arg)
{
	smarm_pid p = SMARM_PID_NONE;
	smarm_msg msg;
	smarm_mutex m = SMARM_MUTEX_INIT;
	smarm_group *g;
	sigset_t set;
	char buf[8];
	int fd, signo;
	size_t done;

	(void)arg;
	MISUSE(smarm_spawn(&p, nothing, NULL), EPERM);
	MISUSE(smarm_spawn_opt(&p, nothing, NULL, NULL), EPERM);
	MISUSE(smarm_join(NEVER, NULL, 0), EPERM);
	MISUSE(smarm_detach(NEVER), EPERM);
	MISUSE(smarm_yield(), EPERM);
	MISUSE(smarm_sleep(1), EPERM);
	MISUSE(smarm_receive(&msg, 0), EPERM);
	MISUSE(smarm_monitor(NEVER), EPERM);
	MISUSE(smarm_name(NEVER, buf, sizeof(buf)), EPERM);
	ck_assert_int_eq(smarm_pid_eq(smarm_self(), SMARM_PID_NONE), 1);
	ck_assert_int_eq(smarm_cancelled(), 0);
	MISUSE(smarm_mutex_lock(&m, 0), EPERM);
	MISUSE(smarm_mutex_trylock(&m), EPERM);
	MISUSE(smarm_mutex_unlock(&m), EPERM);
	ck_assert_int_eq(smarm_group_new(&g), 0);
	MISUSE(smarm_group_spawn(g, &p, nothing, NULL), EPERM);
	MISUSE(smarm_group_join(g, 0), EPERM);
	smarm_group_free(g);
	MISUSE(smarm_supervisor_run(NULL), EINVAL);
	MISUSE(smarm_block_on_io(nothing, NULL, NULL), EPERM);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	MISUSE(smarm_signal_wait(&set, &signo, 0), EPERM);
	fd = 0;
	MISUSE(smarm_read(fd, buf, sizeof(buf), &done, 0), EPERM);
	MISUSE(smarm_write(1, buf, 0, &done, 0), EPERM);
	MISUSE(smarm_wait_readable(fd, 0), EPERM);
	MISUSE(smarm_wait_writable(fd, 0), EPERM);
	MISUSE(smarm_accept(fd, &fd, NULL, NULL, 0), EPERM);
	MISUSE(smarm_close(-1), EBADF);
	return NULL;
}

/* With no runtime at all. */
START_TEST(test_thread_no_runtime)
{
	smarm_stats st;

	thread_calls(NULL);
	MISUSE(smarm_cancel(NEVER), ESRCH);
	MISUSE(smarm_send_to(NEVER, &st), ESRCH);
	MISUSE(smarm_shutdown(0), ESRCH);
	MISUSE(smarm_stats_get(NULL), EINVAL);
	MISUSE(smarm_stats_get(&st), ESRCH);
}
END_TEST

/* From a plain thread while a runtime runs. */
static void *thread_root(void *arg)
{
	pthread_t th;

	(void)arg;
	ck_assert_int_eq(pthread_create(&th, NULL, thread_calls, NULL), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	return NULL;
}

START_TEST(test_thread_runtime_runs)
{
	run_in_actor(thread_root, NULL);
}
END_TEST

/* smarm_exit outside an actor aborts, as its page says. */
START_TEST(test_exit_outside)
{
	smarm_exit(NULL);
}
END_TEST

/* Options and settings out of range. */
static void *opts_root(void *arg)
{
	smarm_spawn_opts o;
	smarm_pid p, gone;

	(void)arg;
	smarm_spawn_opts_init(&o);
	o.stack_size = SMARM_STACK_MIN - 1;
	MISUSE(smarm_spawn_opt(&p, nothing, NULL, &o), EINVAL);
	o.stack_size = (size_t)SMARM_STACK_MAX + 1;
	MISUSE(smarm_spawn_opt(&p, nothing, NULL, &o), EINVAL);
	smarm_spawn_opts_init(&o);
	o.flags = 0x80u;
	MISUSE(smarm_spawn_opt(&p, nothing, NULL, &o), EINVAL);
	smarm_spawn_opts_init(&o);
	o.reserved[3] = 1;
	MISUSE(smarm_spawn_opt(&p, nothing, NULL, &o), EINVAL);
	smarm_spawn_opts_init(&o);
	MISUSE(smarm_spawn_opt(NULL, nothing, NULL, &o), EINVAL);
	spawn_ok(&gone, nothing, NULL);
	ck_assert_int_eq(smarm_join(gone, NULL, SMARM_FOREVER), 0);
	o.supervisor = gone;
	MISUSE(smarm_spawn_opt(&p, nothing, NULL, &o), ESRCH);
	o.supervisor = NEVER;
	MISUSE(smarm_spawn_opt(&p, nothing, NULL, &o), ESRCH);
	return NULL;
}

START_TEST(test_opts)
{
	smarm_runtime *rt = NULL;
	smarm_config cfg;

	run_in_actor(opts_root, NULL);
	smarm_config_init(&cfg);
	cfg.stack_size = SMARM_STACK_MIN - 1;
	MISUSE(smarm_runtime_new(&rt, &cfg), EINVAL);
	smarm_config_init(&cfg);
	cfg.stack_guard = 7;
	MISUSE(smarm_runtime_new(&rt, &cfg), EINVAL);
	smarm_config_init(&cfg);
	cfg.io_threads = SMARM_IO_THREADS_MAX + 1;
	MISUSE(smarm_runtime_new(&rt, &cfg), EINVAL);
	smarm_config_init(&cfg);
	cfg.reserved[8] = 1;
	MISUSE(smarm_runtime_new(&rt, &cfg), EINVAL);
	ck_assert_ptr_null(rt);
}
END_TEST

/* A receiving handle twice in one select, and a shutdown asked twice. */
static void *twice_sender(void *arg)
{
	uint64_t v = 5;

	smarm_sleep(MS);
	ck_assert_int_eq(smarm_send(arg, &v), 0);
	return NULL;
}

static void *twice_root(void *arg)
{
	smarm_tx *tx;
	smarm_rx *rx, *rxs[3];
	smarm_pid p;
	size_t ready = 9;
	uint64_t v = 0;

	(void)arg;
	chan_ok(&tx, &rx, sizeof(v));
	rxs[0] = rx;
	rxs[1] = NULL;
	rxs[2] = rx;
	MISUSE(smarm_select(rxs, 3, &ready, MS), ETIMEDOUT);
	spawn_ok(&p, twice_sender, tx);
	ck_assert_int_eq(smarm_select(rxs, 3, &ready, SMARM_FOREVER), 0);
	ck_assert(ready == 0 || ready == 2);
	ck_assert_int_eq(smarm_recv(rx, &v, 0), 0);
	ck_assert_uint_eq(v, 5);
	join_ok(p);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_select(rxs, 3, &ready, SMARM_FOREVER), 0);
	MISUSE(smarm_recv(rx, &v, 0), EPIPE);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	/* a shutdown asked twice ends the run once */
	spawn_ok(&p, sleeper, NULL);
	ck_assert_int_eq(smarm_detach(p), 0);
	ck_assert_int_eq(smarm_shutdown(SMARM_FOREVER), 0);
	ck_assert_int_eq(smarm_shutdown(0), 0);
	return NULL;
}

START_TEST(test_twice)
{
	void *res;
	int err = run_default(twice_root, NULL, &res);

	ck_assert(err == 0 || err == ETIMEDOUT);
}
END_TEST

/* ---- runtimes ----------------------------------------------------------------- */

START_TEST(test_runtime_args)
{
	smarm_runtime *rt = NULL;
	smarm_config cfg;

	MISUSE(smarm_runtime_new(NULL, NULL), EINVAL);
	smarm_config_init(&cfg);
	cfg.threads = 0;
	MISUSE(smarm_runtime_new(&rt, &cfg), EINVAL);
	cfg.threads = SMARM_THREADS_MAX + 1;
	MISUSE(smarm_runtime_new(&rt, &cfg), EINVAL);
	ck_assert_ptr_null(rt);
	MISUSE(smarm_runtime_run(NULL, nothing, NULL, NULL), EINVAL);
	ck_assert_int_eq(smarm_runtime_new(&rt, NULL), 0);
	MISUSE(smarm_runtime_run(rt, NULL, NULL, NULL), EINVAL);
	MISUSE(smarm_run(NULL, NULL, NULL), EINVAL);
	/* it still runs, twice in a row */
	ck_assert_int_eq(smarm_runtime_run(rt, nothing, NULL, NULL), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, nothing, NULL, NULL), 0);
	smarm_runtime_free(rt);
	smarm_runtime_free(NULL); /* nothing */
}
END_TEST

/* While one runtime runs: a run from an actor, a run of the same or of a
 * second runtime from another thread, and a free of the running one. */
struct second {
	smarm_runtime *rt, *other;
	int err_same, err_other, err_run;
};

static void *second_thread(void *p)
{
	struct second *s = p;

	s->err_same = smarm_runtime_run(s->rt, nothing, NULL, NULL);
	s->err_other = smarm_runtime_run(s->other, nothing, NULL, NULL);
	s->err_run = smarm_run(nothing, NULL, NULL);
	return NULL;
}

static void *second_root(void *arg)
{
	struct second *s = arg;
	pthread_t th;

	MISUSE(smarm_runtime_run(s->rt, nothing, NULL, NULL), EPERM);
	MISUSE(smarm_runtime_run(s->other, nothing, NULL, NULL), EPERM);
	MISUSE(smarm_run(nothing, NULL, NULL), EPERM);
	ck_assert_int_eq(pthread_create(&th, NULL, second_thread, s), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	/* refused, with a diagnostic: the runtime keeps running */
	smarm_runtime_free(s->rt);
	ck_assert_int_eq(smarm_yield(), 0);
	return NULL;
}

START_TEST(test_second_runtime)
{
	struct second s;
	smarm_config cfg;

	smarm_config_init(&cfg);
	ck_assert_int_eq(smarm_runtime_new(&s.rt, &cfg), 0);
	/* making a second one while one runs is allowed; running it is not */
	ck_assert_int_eq(smarm_runtime_new(&s.other, &cfg), 0);
	ck_assert_int_eq(smarm_runtime_run(s.rt, second_root, &s, NULL), 0);
	ck_assert_int_eq(s.err_same, EBUSY);
	ck_assert_int_eq(s.err_other, EBUSY);
	ck_assert_int_eq(s.err_run, EBUSY);
	/* once it ended, the second one runs */
	ck_assert_int_eq(smarm_runtime_run(s.other, nothing, NULL, NULL), 0);
	smarm_runtime_free(s.rt);
	smarm_runtime_free(s.other);
	/* after the free: no runtime to report on, none to shut down */
	{
		smarm_stats st;

		MISUSE(smarm_stats_get(&st), ESRCH);
		MISUSE(smarm_shutdown(0), ESRCH);
	}
}
END_TEST

/* ---- mutexes ------------------------------------------------------------------ */

struct waiter {
	smarm_mutex *m;
	atomic_int started;
};

static void *mutex_waiter(void *arg)
{
	struct waiter *w = arg;

	atomic_store(&w->started, 1);
	return (void *)(intptr_t)smarm_mutex_lock(w->m, LONG);
}

static void *not_owner(void *arg)
{
	return (void *)(intptr_t)smarm_mutex_unlock(arg);
}

static void *destroy_thread(void *arg)
{
	return (void *)(intptr_t)smarm_mutex_destroy(arg);
}

static void *mutex_root(void *arg)
{
	struct waiter w;
	smarm_mutex m;
	smarm_pid p;
	int i;

	(void)arg;
	MISUSE(smarm_mutex_init(NULL), EINVAL);
	MISUSE(smarm_mutex_destroy(NULL), EINVAL);
	MISUSE(smarm_mutex_lock(NULL, 0), EINVAL);
	MISUSE(smarm_mutex_trylock(NULL), EINVAL);
	MISUSE(smarm_mutex_unlock(NULL), EINVAL);
	ck_assert_int_eq(smarm_mutex_init(&m), 0);
	MISUSE(smarm_mutex_unlock(&m), EPERM); /* not held */
	MISUSE(smarm_mutex_lock(&m, SMARM_FOREVER), EINVAL); /* no limit */
	ck_assert_int_eq(smarm_mutex_lock(&m, LONG), 0);
	MISUSE(smarm_mutex_lock(&m, LONG), EDEADLK);
	MISUSE(smarm_mutex_trylock(&m), EBUSY);
	MISUSE(smarm_mutex_destroy(&m), EBUSY); /* held */
	p = SMARM_PID_NONE;
	ck_assert_int_eq((int)(intptr_t)pinned_join(not_owner, &m), EPERM);
	{
		pthread_t th;
		void *r;

		ck_assert_int_eq(pthread_create(&th, NULL, destroy_thread, &m), 0);
		ck_assert_int_eq(pthread_join(th, &r), 0);
		ck_assert_int_eq((int)(intptr_t)r, EBUSY);
	}
	w.m = &m;
	atomic_store(&w.started, 0);
	spawn_ok(&p, mutex_waiter, &w);
	AWAIT_WITHIN(atomic_load(&w.started), 10000 * MS);
	for (i = 0; i < 10; i++)
		breathe(); /* most likely waiting in the lock by now */
	MISUSE(smarm_mutex_destroy(&m), EBUSY); /* held, waited for */
	ck_assert_int_eq(smarm_mutex_unlock(&m), 0);
	MISUSE(smarm_mutex_unlock(&m), EPERM); /* handed over, or free */
	ck_assert_int_eq((int)(intptr_t)join_ok(p), 0);
	/* its owner ended holding it: not held, may be destroyed */
	ck_assert_int_eq(smarm_mutex_destroy(&m), 0);
	return NULL;
}

START_TEST(test_mutex)
{
	run_in_actor(mutex_root, NULL);
}
END_TEST

/* ---- groups, supervisors, I/O, errors ---------------------------------------- */

static void *panicker(void *arg)
{
	(void)arg;
	smarm_panic("on purpose");
}

static void *groups_root(void *arg)
{
	smarm_group *g;
	smarm_pid p;
	void *res = NULL;

	(void)arg;
	ck_assert_int_eq(smarm_group_new(&g), 0);
	MISUSE(smarm_group_join(g, 0), 0); /* empty */
	ck_assert_int_eq(smarm_group_spawn(g, &p, nothing, NULL), 0);
	ck_assert_int_eq(smarm_group_join(g, SMARM_FOREVER), 0);
	MISUSE(smarm_group_join(g, SMARM_FOREVER), 0); /* joined already */
	MISUSE(smarm_join(p, NULL, 0), ESRCH);        /* the group's */
	MISUSE(smarm_group_cancel(g), 0);
	ck_assert_int_eq(smarm_group_spawn(g, &p, sleeper, NULL), 0);
	MISUSE(smarm_group_join(g, 0), ETIMEDOUT);
	smarm_group_free(g); /* cancels and joins the sleeper */
	MISUSE(smarm_cancel(p), ESRCH);
	/* a panicked actor: joined once, with its reason */
	spawn_ok(&p, panicker, NULL);
	MISUSE(smarm_join(p, &res, SMARM_FOREVER), SMARM_EPANIC);
	free(res);
	MISUSE(smarm_join(p, &res, SMARM_FOREVER), ESRCH);
	return NULL;
}

START_TEST(test_groups)
{
	run_in_actor(groups_root, NULL);
}
END_TEST

static void *others_root(void *arg)
{
	smarm_group *g = NULL;
	smarm_pid p;
	smarm_sup_spec spec = { 0 };
	sigset_t set;
	char buf[4];
	size_t done;
	int signo;

	(void)arg;
	MISUSE(smarm_group_new(NULL), EINVAL);
	MISUSE(smarm_group_spawn(NULL, &p, nothing, NULL), EINVAL);
	MISUSE(smarm_group_join(NULL, 0), EINVAL);
	MISUSE(smarm_group_cancel(NULL), EINVAL);
	smarm_group_free(NULL);
	ck_assert_int_eq(smarm_group_new(&g), 0);
	MISUSE(smarm_group_spawn(g, &p, NULL, NULL), EINVAL);
	smarm_group_free(g);
	MISUSE(smarm_supervisor_run(NULL), EINVAL);
	spec.nchildren = 1;
	MISUSE(smarm_supervisor_run(&spec), EINVAL); /* children NULL */
	MISUSE(smarm_block_on_io(NULL, NULL, NULL), EINVAL);
	MISUSE(smarm_signal_wait(NULL, &signo, 0), EINVAL);
	sigemptyset(&set);
	MISUSE(smarm_signal_wait(&set, &signo, 0), EINVAL); /* empty */
	sigaddset(&set, SIGUSR1);
	MISUSE(smarm_signal_wait(&set, NULL, 0), EINVAL);
	sigaddset(&set, SIGKILL);
	MISUSE(smarm_signal_wait(&set, &signo, 0), EINVAL);
	sigdelset(&set, SIGKILL);
	sigaddset(&set, SIGSEGV);
	MISUSE(smarm_signal_wait(&set, &signo, 0), EINVAL);
	MISUSE(smarm_read(-1, buf, sizeof(buf), &done, 0), EBADF);
	MISUSE(smarm_read(0, buf, sizeof(buf), NULL, 0), EINVAL);
	MISUSE(smarm_write(-1, buf, sizeof(buf), &done, 0), EBADF);
	MISUSE(smarm_wait_readable(-1, 0), EBADF);
	MISUSE(smarm_wait_writable(-1, 0), EBADF);
	MISUSE(smarm_close(-1), EBADF);
	MISUSE(smarm_receive(NULL, 0), EINVAL);
	ck_assert_ptr_nonnull(smarm_strerror(-1));
	ck_assert_ptr_nonnull(smarm_strerror(99999));
	return NULL;
}

START_TEST(test_others)
{
	run_in_actor(others_root, NULL);
}
END_TEST

static Suite *misuse_suite(void)
{
	Suite *s = suite_create("misuse");
	TCase *tc;

	tc = tcase_add(s, "handles");
	tcase_add_test(tc, test_chan_null);
	tcase_add_test(tc, test_closed_thread);
	tcase_add_test(tc, test_wrong_kind);
	tcase_add_test(tc, test_double_close);
	tcase_add_test(tc, test_stale);
	tcase_add_test(tc, test_bounded_closed);
	tcase_add_test(tc, test_close_race);

	tc = tcase_add(s, "pids");
	tcase_add_test(tc, test_pids);
	tcase_add_test(tc, test_join_twice);
	tcase_add_test(tc, test_cancel_self);
	tcase_add_test(tc, test_pid_of_earlier_runtime);
	tcase_add_test(tc, test_pid_of_earlier_run);

	tc = tcase_add(s, "threads");
	tcase_add_test(tc, test_thread_no_runtime);
	tcase_add_test(tc, test_thread_runtime_runs);
	tcase_add_test_raise_signal(tc, test_exit_outside, SIGABRT);

	tc = tcase_add(s, "runtimes");
	tcase_add_test(tc, test_opts);
	tcase_add_test(tc, test_twice);
	tcase_add_test(tc, test_runtime_args);
	tcase_add_test(tc, test_second_runtime);

	tc = tcase_add(s, "others");
	tcase_add_test(tc, test_mutex);
	tcase_add_test(tc, test_others);
	tcase_add_test(tc, test_groups);

	return s;
}

int main(void)
{
	return run_suite(misuse_suite());
}
