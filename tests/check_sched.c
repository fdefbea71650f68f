/*
 * check_sched.c - scheduling: yield, spawn, join, detach, many actors,
 * spawn trees.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
/* 10,000 actors under valgrind, on a loaded machine, take a while. */
#define TIMEOUT 120
#include "testutil.h"

#include <stdatomic.h>

/*
 * With two workers or more, actors run in parallel: what they share is
 * atomic, and "it ended" is learnt from the runtime's counters
 * (wait_exited), never from a flag the actor sets on its way out.  Tests
 * about what one worker does (a yield lets a sibling run, a new actor
 * waits for its spawner to yield) pin the actors involved.
 */

/* ---- helpers ------------------------------------------------------------ */

/* Yield until *flag becomes nonzero. */
static void yield_until(atomic_int *flag)
{
	while (!atomic_load(flag))
		ck_assert_int_eq(smarm_yield(), 0);
}

/* An actor that stays alive until *arg (an atomic_int) is set. */
static void *wait_flag(void *arg)
{
	yield_until(arg);
	return (void *)0xf1a9;
}

/* Sets *arg (an atomic_int) and ends. */
static void *set_flag(void *arg)
{
	atomic_store((atomic_int *)arg, 1);
	return (void *)0xd0e;
}

/* Spawn fn(arg), then yield until it has ended (it must end by itself). */
static void spawn_until_ended(smarm_pid *pid, smarm_fn fn, void *arg)
{
	uint64_t ended = stats_now().exited;

	ck_assert_int_eq(smarm_spawn(pid, fn, arg), 0);
	wait_exited(ended + 1);
}

/* Yield until another actor has registered as the joiner of pid (a join
 * with timeout 0 says EBUSY, where it said ETIMEDOUT before). */
static void wait_joined_by_other(smarm_pid pid)
{
	int err;

	while ((err = smarm_join(pid, NULL, 0)) == ETIMEDOUT)
		ck_assert_int_eq(smarm_yield(), 0);
	ck_assert_int_eq(err, EBUSY);
}

/* A pid that was valid once, taken from a finished run. */
static smarm_pid old_pid;

static void *capture_pid(void *arg)
{
	(void)arg;
	old_pid = smarm_self();
	return NULL;
}

/* ---- yield ---------------------------------------------------------------- */

/*
 * Two actors pinned to one worker take turns: each yield lets the other
 * run.  (Unpinned, with two workers, each could run alone on its own.)
 */
#define TURNS 50

static char trace[2 * TURNS + 1];
static int trace_len;
static int progress[2];
static pthread_t turn_thread[2];

static void *turn_taker(void *arg)
{
	int me = (int)(uintptr_t)arg, other = 1 - me;
	int i, seen;

	turn_thread[me] = os_thread();
	for (i = 0; i < TURNS; i++) {
		trace[trace_len++] = (char)('A' + me);
		progress[me]++;
		seen = progress[other];
		ck_assert_int_eq(smarm_yield(), 0);
		/* the other one ran in between, unless it has finished */
		if (progress[other] < TURNS)
			ck_assert_msg(progress[other] > seen,
				      "actor %c yielded but %c made no progress "
				      "(%d)", 'A' + me, 'A' + other, seen);
	}
	return NULL;
}

static void *yield_root(void *arg)
{
	smarm_pid a, b;
	int i;

	(void)arg;
	ck_assert_int_eq(spawn_pinned(&a, turn_taker, (void *)0), 0);
	ck_assert_int_eq(spawn_pinned(&b, turn_taker, (void *)1), 0);
	ck_assert_int_eq(smarm_join(a, NULL, SMARM_FOREVER), 0);
	ck_assert_int_eq(smarm_join(b, NULL, SMARM_FOREVER), 0);
	ck_assert(pthread_equal(turn_thread[0], turn_thread[1]));
	ck_assert_int_eq(trace_len, 2 * TURNS);
	for (i = 1; i < trace_len; i++)
		ck_assert_msg(trace[i] != trace[i - 1],
			      "turns not alternating at %d: %s", i, trace);
	return NULL;
}

START_TEST(test_yield_alternates)
{
	run_in_actor(yield_root, NULL);
	ck_assert_int_eq(progress[0], TURNS);
	ck_assert_int_eq(progress[1], TURNS);
}
END_TEST

static void *yield_alone(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(smarm_yield(), 0);
	return (void *)5;
}

START_TEST(test_yield_alone)
{
	void *res = NULL;

	ck_assert_int_eq(smarm_run(yield_alone, NULL, &res), 0);
	ck_assert_ptr_eq(res, (void *)5);
}
END_TEST

START_TEST(test_yield_outside)
{
	ck_assert_int_eq(smarm_yield(), EPERM);
	run_in_actor(return_arg, NULL);
	ck_assert_int_eq(smarm_yield(), EPERM);
}
END_TEST

/* ---- spawn ------------------------------------------------------------------ */

static atomic_int spawn_ran;

static void *count_run(void *arg)
{
	atomic_fetch_add(&spawn_ran, 1);
	return arg;
}

static void *spawn_errors_root(void *arg)
{
	smarm_pid pid;
	uint64_t spawned = stats_now().spawned;

	(void)arg;
	ck_assert_int_eq(smarm_spawn(NULL, count_run, NULL), EINVAL);
	ck_assert_int_eq(smarm_spawn(&pid, NULL, NULL), EINVAL);
	ck_assert_int_eq(smarm_spawn(NULL, NULL, NULL), EINVAL);
	ck_assert_int_eq(smarm_yield(), 0);
	ck_assert_uint_eq(stats_now().spawned, spawned);
	ck_assert_int_eq(atomic_load(&spawn_ran), 0);
	return NULL;
}

START_TEST(test_spawn_errors)
{
	smarm_pid pid;

	run_in_actor(spawn_errors_root, NULL);
	ck_assert_int_eq(smarm_spawn(&pid, count_run, NULL), EPERM);
	ck_assert_int_eq(atomic_load(&spawn_ran), 0);
}
END_TEST

/* A new actor on its spawner's worker runs when the spawner yields (or
 * parks, or ends), not before: the spawn itself never switches. */
static void *spawn_runs_at_yield(void *arg)
{
	smarm_pid pid;
	atomic_int flag = 0;
	int i;

	(void)arg;
	for (i = 0; i < 10; i++) {
		atomic_store(&flag, 0);
		ck_assert_int_eq(spawn_pinned(&pid, set_flag, &flag), 0);
		ck_assert_int_eq(atomic_load(&flag), 0);
		ck_assert_int_eq(smarm_yield(), 0);
		ck_assert_int_eq(atomic_load(&flag), 1);
		ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	}
	/* the same with a park (a join) */
	atomic_store(&flag, 0);
	ck_assert_int_eq(spawn_pinned(&pid, set_flag, &flag), 0);
	ck_assert_int_eq(atomic_load(&flag), 0);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	ck_assert_int_eq(atomic_load(&flag), 1);
	return NULL;
}

START_TEST(test_spawn_runs_at_yield)
{
	run_pinned(spawn_runs_at_yield, NULL);
}
END_TEST

/* ---- join ------------------------------------------------------------------- */

static void *join_result_root(void *arg)
{
	smarm_pid pid;
	void *res = NULL;

	(void)arg;
	ck_assert_int_eq(smarm_spawn(&pid, return_arg, (void *)0x1234), 0);
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), 0);
	ck_assert_ptr_eq(res, (void *)0x1234);
	/* joined: stale now */
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), ESRCH);
	ck_assert_int_eq(smarm_join(pid, &res, 0), ESRCH);

	/* result NULL accepted */
	ck_assert_int_eq(smarm_spawn(&pid, return_arg, (void *)1), 0);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), ESRCH);

	/* an actor that already ended: timeout 0 suffices */
	spawn_until_ended(&pid, return_arg, (void *)0xd0e);
	res = NULL;
	ck_assert_int_eq(smarm_join(pid, &res, 0), 0);
	ck_assert_ptr_eq(res, (void *)0xd0e);
	return NULL;
}

START_TEST(test_join_result)
{
	run_in_actor(join_result_root, NULL);
}
END_TEST

static void *join_timeout0_root(void *arg)
{
	smarm_pid pid;
	void *res = (void *)1;
	atomic_int release = 0;
	int i;

	(void)arg;
	ck_assert_int_eq(smarm_spawn(&pid, wait_flag, &release), 0);
	ck_assert_int_eq(smarm_join(pid, &res, 0), ETIMEDOUT);
	ck_assert_int_eq(smarm_yield(), 0); /* now it may have started too */
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(smarm_join(pid, &res, 0), ETIMEDOUT);
	ck_assert_ptr_eq(res, (void *)1);
	atomic_store(&release, 1);
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), 0);
	ck_assert_ptr_eq(res, (void *)0xf1a9);
	ck_assert_int_eq(smarm_join(pid, &res, 0), ESRCH);
	return NULL;
}

START_TEST(test_join_timeout0)
{
	run_in_actor(join_timeout0_root, NULL);
}
END_TEST

static smarm_pid root_pid;

static void *self_join_child(void *arg)
{
	(void)arg;
	ck_assert_int_eq(smarm_join(smarm_self(), NULL, SMARM_FOREVER), EDEADLK);
	ck_assert_int_eq(smarm_join(smarm_self(), NULL, 0), EDEADLK);
	/* the runtime joins the root */
	ck_assert_int_eq(smarm_join(root_pid, NULL, SMARM_FOREVER), EBUSY);
	ck_assert_int_eq(smarm_join(root_pid, NULL, 0), EBUSY);
	return (void *)9;
}

static void *self_join_root(void *arg)
{
	smarm_pid pid;
	void *res = NULL;

	(void)arg;
	root_pid = smarm_self();
	ck_assert_int_eq(smarm_spawn(&pid, self_join_child, NULL), 0);
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), 0);
	ck_assert_ptr_eq(res, (void *)9);
	return NULL;
}

START_TEST(test_join_self)
{
	run_in_actor(self_join_root, NULL);
}
END_TEST

/* J1 joins the target; anyone else trying then gets EBUSY. */
static smarm_pid j_target;

static void *joiner(void *arg)
{
	void *res = NULL;
	int err;

	(void)arg;
	err = smarm_join(j_target, &res, SMARM_FOREVER);
	ck_assert_int_eq(err, 0);
	ck_assert_ptr_eq(res, (void *)0xf1a9);
	return (void *)0x1a;
}

static void *second_joiner(void *arg)
{
	(void)arg;
	return (void *)(uintptr_t)smarm_join(j_target, NULL, SMARM_FOREVER);
}

static void *two_joiners_root(void *arg)
{
	smarm_pid j1, j2;
	atomic_int release = 0;
	void *res = NULL;

	(void)arg;
	ck_assert_int_eq(smarm_spawn(&j_target, wait_flag, &release), 0);
	ck_assert_int_eq(smarm_spawn(&j1, joiner, NULL), 0);
	wait_joined_by_other(j_target);

	/* the root, then another actor, try to join too */
	ck_assert_int_eq(smarm_join(j_target, &res, SMARM_FOREVER), EBUSY);
	ck_assert_int_eq(smarm_spawn(&j2, second_joiner, NULL), 0);
	ck_assert_int_eq(smarm_join(j2, &res, SMARM_FOREVER), 0);
	ck_assert_int_eq((int)(uintptr_t)res, EBUSY);

	atomic_store(&release, 1);
	ck_assert_int_eq(smarm_join(j1, &res, SMARM_FOREVER), 0);
	ck_assert_ptr_eq(res, (void *)0x1a);
	ck_assert_int_eq(smarm_join(j_target, &res, 0), ESRCH);
	return NULL;
}

START_TEST(test_join_two_joiners)
{
	run_in_actor(two_joiners_root, NULL);
}
END_TEST

static atomic_int detached_release;

static void *join_detached_root(void *arg)
{
	smarm_spawn_opts o;
	smarm_pid pid;
	atomic_int *release = &detached_release;

	(void)arg;
	ck_assert_int_eq(smarm_spawn(&pid, wait_flag, (void *)release), 0);
	ck_assert_int_eq(smarm_detach(pid), 0);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), ESRCH);
	ck_assert_int_eq(smarm_join(pid, NULL, 0), ESRCH);

	smarm_spawn_opts_init(&o);
	o.flags = SMARM_SPAWN_DETACHED;
	ck_assert_int_eq(smarm_spawn_opt(&pid, wait_flag, (void *)release, &o),
			 0);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), ESRCH);
	atomic_store(release, 1);
	ck_assert_int_eq(smarm_yield(), 0);
	return NULL;
}

START_TEST(test_join_detached)
{
	run_in_actor(join_detached_root, NULL);
}
END_TEST

static void *join_stale_root(void *arg)
{
	smarm_pid first, pid, bogus = { UINT64_MAX };
	char buf[8];
	int i;

	(void)arg;
	ck_assert_int_eq(smarm_join(SMARM_PID_NONE, NULL, SMARM_FOREVER), ESRCH);
	ck_assert_int_eq(smarm_join(SMARM_PID_NONE, NULL, 0), ESRCH);
	ck_assert_int_eq(smarm_join(bogus, NULL, SMARM_FOREVER), ESRCH);

	ck_assert_int_eq(smarm_spawn(&first, return_arg, NULL), 0);
	ck_assert_int_eq(smarm_join(first, NULL, SMARM_FOREVER), 0);
	/* its slot is reused by later actors; the old pid stays stale */
	for (i = 0; i < 50; i++) {
		ck_assert_int_eq(smarm_spawn(&pid, return_arg, NULL), 0);
		ck_assert_int_eq(smarm_join(first, NULL, SMARM_FOREVER), ESRCH);
		ck_assert_int_eq(smarm_detach(first), ESRCH);
		ck_assert_int_eq(smarm_name(first, buf, sizeof(buf)), ESRCH);
		ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	}
	return NULL;
}

START_TEST(test_join_stale)
{
	run_in_actor(join_stale_root, NULL);
}
END_TEST

START_TEST(test_join_outside)
{
	void *res = NULL;

	run_in_actor(capture_pid, NULL);
	ck_assert_int_eq(smarm_join(old_pid, &res, SMARM_FOREVER), EPERM);
	ck_assert_int_eq(smarm_join(old_pid, &res, 0), EPERM);
	ck_assert_int_eq(smarm_join(old_pid, NULL, 0), EPERM);
}
END_TEST

/* ---- detach ---------------------------------------------------------------- */

static void *detach_errors_root(void *arg)
{
	smarm_pid pid, j1;
	atomic_int release = 0;
	void *res = NULL;

	(void)arg;
	/* twice */
	ck_assert_int_eq(smarm_spawn(&pid, wait_flag, &detached_release), 0);
	ck_assert_int_eq(smarm_detach(pid), 0);
	ck_assert_int_eq(smarm_detach(pid), ESRCH);
	atomic_store(&detached_release, 1);
	ck_assert_int_eq(smarm_yield(), 0);

	/* none, joined */
	ck_assert_int_eq(smarm_detach(SMARM_PID_NONE), ESRCH);
	ck_assert_int_eq(smarm_spawn(&pid, return_arg, NULL), 0);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	ck_assert_int_eq(smarm_detach(pid), ESRCH);

	/* while another actor joins it */
	ck_assert_int_eq(smarm_spawn(&j_target, wait_flag, &release), 0);
	ck_assert_int_eq(smarm_spawn(&j1, joiner, NULL), 0);
	wait_joined_by_other(j_target);
	ck_assert_int_eq(smarm_detach(j_target), EBUSY);
	atomic_store(&release, 1);
	ck_assert_int_eq(smarm_join(j1, &res, SMARM_FOREVER), 0);
	ck_assert_ptr_eq(res, (void *)0x1a);
	ck_assert_int_eq(smarm_detach(j_target), ESRCH);

	/* the root, which the runtime joins */
	ck_assert_int_eq(smarm_detach(smarm_self()), EBUSY);
	return NULL;
}

START_TEST(test_detach_errors)
{
	run_in_actor(detach_errors_root, NULL);
	/* outside an actor */
	run_in_actor(capture_pid, NULL);
	ck_assert_int_eq(smarm_detach(old_pid), EPERM);
}
END_TEST

static void *detach_ended_root(void *arg)
{
	smarm_pid pid;
	char buf[8];

	(void)arg;
	spawn_until_ended(&pid, return_arg, NULL);
	/* ended but not joined: still there */
	ck_assert_int_eq(smarm_name(pid, buf, sizeof(buf)), 0);
	/* released at once */
	ck_assert_int_eq(smarm_detach(pid), 0);
	ck_assert_int_eq(smarm_name(pid, buf, sizeof(buf)), ESRCH);
	ck_assert_int_eq(smarm_join(pid, NULL, 0), ESRCH);
	ck_assert_int_eq(smarm_detach(pid), ESRCH);
	return NULL;
}

START_TEST(test_detach_ended)
{
	run_in_actor(detach_ended_root, NULL);
}
END_TEST

static atomic_int self_detach_rc = -1;
static atomic_int self_detach_release;
static atomic_int self_detach_done;

/* Detaches itself, then stays alive until released. */
static void *self_detacher(void *arg)
{
	(void)arg;
	atomic_store(&self_detach_rc, smarm_detach(smarm_self()));
	yield_until(&self_detach_release);
	atomic_store(&self_detach_done, 1);
	return NULL;
}

static void *self_detach_root(void *arg)
{
	smarm_pid pid;

	(void)arg;
	ck_assert_int_eq(smarm_spawn(&pid, self_detacher, NULL), 0);
	while (atomic_load(&self_detach_rc) == -1)
		ck_assert_int_eq(smarm_yield(), 0);
	ck_assert_int_eq(atomic_load(&self_detach_rc), 0);
	/* alive, and already neither joinable nor detachable */
	ck_assert_int_eq(atomic_load(&self_detach_done), 0);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), ESRCH);
	ck_assert_int_eq(smarm_join(pid, NULL, 0), ESRCH);
	ck_assert_int_eq(smarm_detach(pid), ESRCH);
	atomic_store(&self_detach_release, 1);
	return NULL;
}

START_TEST(test_detach_self)
{
	run_in_actor(self_detach_root, NULL);
	/* the run waited for it */
	ck_assert_int_eq(atomic_load(&self_detach_done), 1);
}
END_TEST

/* ---- many actors --------------------------------------------------------- */

#define MANY 10000

/*
 * 10,000 actors alive at once: each starts, sleeps once (10,000 timers
 * pending), then waits on a channel of its own until the root, having
 * seen them all started and none ended, sends it the word.  Nothing polls
 * (which would swamp valgrind's one-thread-at-a-time schedule).
 */
static atomic_int many_started, many_ended;

struct many {
	smarm_pid pid;
	smarm_tx *tx;
	smarm_rx *rx;
	uintptr_t i;
};

static void *many_actor(void *arg)
{
	struct many *m = arg;
	uint64_t v = 0;

	atomic_fetch_add(&many_started, 1);
	ck_assert_int_eq(smarm_sleep(1 * MS + (m->i % 4) * MS), 0);
	ck_assert_int_eq(smarm_recv(m->rx, &v, SMARM_FOREVER), 0);
	ck_assert_uint_eq(v, m->i);
	ck_assert_int_eq(smarm_rx_close(m->rx), 0);
	ck_assert_int_eq(smarm_yield(), 0);
	atomic_fetch_add(&many_ended, 1);
	return (void *)(m->i * 2 + 1);
}

static void *many_root(void *arg)
{
	struct many *m = calloc(MANY, sizeof(*m));
	uintptr_t i;
	uint64_t v;
	void *res;

	(void)arg;
	ck_assert_ptr_nonnull(m);
	for (i = 0; i < MANY; i++) {
		m[i].i = i;
		ck_assert_int_eq(smarm_channel(&m[i].tx, &m[i].rx, sizeof(v)),
				 0);
		ck_assert_int_eq(smarm_spawn(&m[i].pid, many_actor, &m[i]), 0);
	}
	/* (sleeping, not yielding: a yield with nothing else to run on this
	 * worker returns at once, and under valgrind, which runs one thread
	 * at a time, such a busy loop would hold up the other worker) */
	while (atomic_load(&many_started) < MANY)
		ck_assert_int_eq(smarm_sleep(1 * MS), 0);
	/* all 10,000 alive at once */
	ck_assert_int_eq(atomic_load(&many_ended), 0);
	ck_assert_uint_eq(stats_now().exited, 0);
	for (i = 0; i < MANY; i++) {
		v = i;
		ck_assert_int_eq(smarm_send(m[i].tx, &v), 0);
		ck_assert_int_eq(smarm_tx_close(m[i].tx), 0);
	}
	for (i = 0; i < MANY; i++) {
		res = NULL;
		ck_assert_int_eq(smarm_join(m[i].pid, &res, SMARM_FOREVER), 0);
		ck_assert_ptr_eq(res, (void *)(i * 2 + 1));
	}
	ck_assert_int_eq(atomic_load(&many_ended), MANY);
	free(m);
	return NULL;
}

START_TEST(test_many_actors)
{
	run_in_actor(many_root, NULL);
}
END_TEST

/* ---- spawn from spawned actors ------------------------------------------ */

static atomic_int tree_nodes;

static void *tree_node(void *arg)
{
	uintptr_t depth = (uintptr_t)arg;
	smarm_pid l, r;
	void *rl = NULL, *rr = NULL;

	atomic_fetch_add(&tree_nodes, 1);
	if (depth == 0)
		return (void *)1;
	ck_assert_int_eq(smarm_spawn(&l, tree_node, (void *)(depth - 1)), 0);
	ck_assert_int_eq(smarm_spawn(&r, tree_node, (void *)(depth - 1)), 0);
	ck_assert_int_eq(smarm_yield(), 0);
	ck_assert_int_eq(smarm_join(r, &rr, SMARM_FOREVER), 0);
	ck_assert_int_eq(smarm_join(l, &rl, SMARM_FOREVER), 0);
	return (void *)((uintptr_t)rl + (uintptr_t)rr + 1);
}

static void *chain_link(void *arg)
{
	uintptr_t n = (uintptr_t)arg;
	smarm_pid next;
	void *res = NULL;

	if (n == 0)
		return (void *)0;
	ck_assert_int_eq(smarm_spawn(&next, chain_link, (void *)(n - 1)), 0);
	ck_assert_int_eq(smarm_join(next, &res, SMARM_FOREVER), 0);
	return (void *)((uintptr_t)res + 1);
}

static atomic_int detached_chain_ended;

static void *detached_chain_link(void *arg)
{
	uintptr_t n = (uintptr_t)arg;
	smarm_spawn_opts o;

	if (n > 0) {
		smarm_spawn_opts_init(&o);
		o.flags = SMARM_SPAWN_DETACHED;
		ck_assert_int_eq(smarm_spawn_opt(NULL, detached_chain_link,
						 (void *)(n - 1), &o), 0);
	}
	atomic_fetch_add(&detached_chain_ended, 1);
	return NULL;
}

static void *tree_root(void *arg)
{
	void *res = NULL;
	smarm_pid pid;

	(void)arg;
	ck_assert_int_eq(smarm_spawn(&pid, tree_node, (void *)7), 0);
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), 0);
	ck_assert_uint_eq((uintptr_t)res, 255);
	ck_assert_int_eq(atomic_load(&tree_nodes), 255);

	ck_assert_int_eq(smarm_spawn(&pid, chain_link, (void *)200), 0);
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), 0);
	ck_assert_uint_eq((uintptr_t)res, 200);

	ck_assert_int_eq(smarm_spawn(&pid, detached_chain_link, (void *)99), 0);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	return NULL;
}

START_TEST(test_spawn_tree)
{
	run_in_actor(tree_root, NULL);
	/* the run waited for the whole detached chain */
	ck_assert_int_eq(atomic_load(&detached_chain_ended), 100);
}
END_TEST

/* ---- pinned actors ------------------------------------------------------- */

/*
 * A pinned actor never leaves the worker it was spawned on, whatever it
 * does (yield, sleep, receive from actors on other workers, join), while
 * unpinned actors keep both workers of the runtime busy and migrate
 * between them.  The runtime has two workers whatever SMARM_THREADS says.
 * The busy actors note every OS thread they run on: the test is only
 * meaningful if they ran on both, which they keep at for up to 10 s.
 */
#define PIN_WORKERS 2
#define PIN_BUSY 4
#define PIN_ROUNDS 200
#define PIN_MSGS (PIN_BUSY * PIN_ROUNDS)

static pthread_t pin_home;              /* the worker of the pinned actors */
static atomic_int pin_moved;            /* times one was seen elsewhere */
static atomic_int pin_done;             /* the pinned actors have finished */
static atomic_int pin_busy_other;       /* a busy actor ran off pin_home */
static atomic_int pin_busy_home;        /* a busy actor ran on pin_home */
static atomic_int pin_detached_done;

/* Count a pinned actor found off its worker. */
static void pin_check(void)
{
	if (!pthread_equal(os_thread(), pin_home))
		atomic_fetch_add(&pin_moved, 1);
}

/* Unpinned: yield, sleep now and then, send to the pinned actor, until
 * the pinned ones are done and this actor has seen the other worker. */
static void *pin_busy(void *arg)
{
	smarm_tx *tx = arg;
	uint64_t t0 = smarm_now(), v;
	unsigned i;

	for (i = 0;; i++) {
		if (pthread_equal(os_thread(), pin_home))
			atomic_store(&pin_busy_home, 1);
		else
			atomic_store(&pin_busy_other, 1);
		if (i < PIN_ROUNDS) {
			v = i;
			ck_assert_int_eq(smarm_send(tx, &v), 0);
		} else if (atomic_load(&pin_done) &&
			   (atomic_load(&pin_busy_other) ||
			    smarm_now() - t0 > 10000 * MS)) {
			break;
		}
		if (i % 16 == 0)
			ck_assert_int_eq(smarm_sleep(100 * 1000), 0);
		else
			ck_assert_int_eq(smarm_yield(), 0);
	}
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	return NULL;
}

/* Pinned, spawned by a pinned actor: the same worker again. */
static void *pin_grandchild(void *arg)
{
	int i;

	pin_check();
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(smarm_yield(), 0);
		pin_check();
		ck_assert_int_eq(smarm_sleep(50 * 1000), 0);
		pin_check();
	}
	return arg;
}

/* Pinned: receives every busy actor's messages, yields and sleeps in
 * between, joins a pinned child; checks its thread after each. */
static void *pin_actor(void *arg)
{
	smarm_rx *rx = arg;
	smarm_pid child;
	uint64_t v;
	void *res = NULL;
	unsigned i, got = 0;

	pin_check();
	ck_assert_int_eq(spawn_pinned(&child, pin_grandchild, (void *)7), 0);
	for (i = 0; i < PIN_MSGS; i++) {
		ck_assert_int_eq(smarm_recv(rx, &v, SMARM_FOREVER), 0);
		pin_check();
		got++;
		if (i % 3 == 0) {
			ck_assert_int_eq(smarm_yield(), 0);
			pin_check();
		}
		if (i % 50 == 0) {
			ck_assert_int_eq(smarm_sleep(1 * MS), 0);
			pin_check();
		}
		if (i % 7 == 0 && smarm_recv(rx, &v, 10 * 1000) == 0) {
			/* a timed receive, which may time out */
			pin_check();
			got++;
			i++;
		}
	}
	ck_assert_uint_eq(got, PIN_MSGS);
	ck_assert_int_eq(smarm_join(child, &res, SMARM_FOREVER), 0);
	pin_check();
	ck_assert_ptr_eq(res, (void *)7);
	/* every busy actor closed its handle in the end */
	atomic_store(&pin_done, 1);
	ck_assert_int_eq(smarm_recv(rx, &v, SMARM_FOREVER), EPIPE);
	pin_check();
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

/* Pinned and detached: nobody joins it; the run waits for it. */
static void *pin_detached(void *arg)
{
	int i;

	(void)arg;
	pin_check();
	for (i = 0; i < 50; i++) {
		ck_assert_int_eq(smarm_yield(), 0);
		pin_check();
		if (i % 10 == 0) {
			ck_assert_int_eq(smarm_sleep(1 * MS), 0);
			pin_check();
		}
	}
	atomic_store(&pin_detached_done, 1);
	return NULL;
}

static void *pin_root(void *arg)
{
	smarm_spawn_opts o;
	smarm_tx *tx;
	smarm_rx *rx;
	smarm_pid pinned, busy[PIN_BUSY];
	int i;

	(void)arg;
	ck_assert_uint_eq(stats_now().threads, PIN_WORKERS);
	ck_assert_int_eq(smarm_channel(&tx, &rx, sizeof(uint64_t)), 0);
	/* No switch from here to the last pinned spawn: this is the
	 * worker the pinned actors belong to. */
	pin_home = os_thread();
	ck_assert_int_eq(spawn_pinned(&pinned, pin_actor, rx), 0);
	smarm_spawn_opts_init(&o);
	o.flags = SMARM_SPAWN_PINNED | SMARM_SPAWN_DETACHED;
	ck_assert_int_eq(smarm_spawn_opt(NULL, pin_detached, NULL, &o), 0);
	for (i = 0; i < PIN_BUSY; i++)
		ck_assert_int_eq(smarm_spawn(&busy[i], pin_busy,
					     smarm_tx_clone(tx)), 0);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_join(pinned, NULL, SMARM_FOREVER), 0);
	for (i = 0; i < PIN_BUSY; i++)
		ck_assert_int_eq(smarm_join(busy[i], NULL, SMARM_FOREVER), 0);
	return NULL;
}

START_TEST(test_pinned_stays)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;

	smarm_config_init(&cfg);
	cfg.threads = PIN_WORKERS;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, pin_root, NULL, NULL), 0);
	smarm_runtime_free(rt);
	ck_assert_msg(atomic_load(&pin_busy_other),
		      "the unpinned actors never ran on the second worker: "
		      "nothing was tested");
	ck_assert_int_eq(atomic_load(&pin_detached_done), 1);
	ck_assert_msg(atomic_load(&pin_moved) == 0,
		      "pinned actors were seen %d times off their worker",
		      atomic_load(&pin_moved));
}
END_TEST

/* ---- suite ---------------------------------------------------------------- */

static Suite *sched_suite(void)
{
	Suite *s = suite_create("sched");
	TCase *tc;

	tc = tcase_add(s, "yield");
	tcase_add_test(tc, test_yield_alternates);
	tcase_add_test(tc, test_yield_alone);
	tcase_add_test(tc, test_yield_outside);

	tc = tcase_add(s, "spawn");
	tcase_add_test(tc, test_spawn_errors);
	tcase_add_test(tc, test_spawn_runs_at_yield);

	tc = tcase_add(s, "join");
	tcase_add_test(tc, test_join_result);
	tcase_add_test(tc, test_join_timeout0);
	tcase_add_test(tc, test_join_self);
	tcase_add_test(tc, test_join_two_joiners);
	tcase_add_test(tc, test_join_detached);
	tcase_add_test(tc, test_join_stale);
	tcase_add_test(tc, test_join_outside);

	tc = tcase_add(s, "detach");
	tcase_add_test(tc, test_detach_errors);
	tcase_add_test(tc, test_detach_ended);
	tcase_add_test(tc, test_detach_self);

	tc = tcase_add(s, "pinned");
	tcase_add_test(tc, test_pinned_stays);

	tc = tcase_add(s, "many");
	tcase_add_test(tc, test_many_actors);

	tc = tcase_add(s, "tree");
	tcase_add_test(tc, test_spawn_tree);

	return s;
}

int main(void)
{
	return run_suite(sched_suite());
}
