/*
 * check_sched.c - scheduling: yield, spawn, join, detach, many actors,
 * spawn trees.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------ */

/* Yield until *flag becomes nonzero. */
static void yield_until(volatile int *flag)
{
	while (!*flag)
		ck_assert_int_eq(smarm_yield(), 0);
}

/* An actor that stays alive until *arg (a volatile int) is set. */
static void *wait_flag(void *arg)
{
	yield_until(arg);
	return (void *)0xf1a9;
}

/* Sets *arg and ends at once: once another actor sees the flag, it ended. */
static void *set_flag(void *arg)
{
	*(volatile int *)arg = 1;
	return (void *)0xd0e;
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

#define TURNS 50

static char trace[2 * TURNS + 1];
static int trace_len;
static int progress[2];

static void *turn_taker(void *arg)
{
	int me = (int)(uintptr_t)arg, other = 1 - me;
	int i, seen;

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
	ck_assert_int_eq(smarm_spawn(&a, turn_taker, (void *)0), 0);
	ck_assert_int_eq(smarm_spawn(&b, turn_taker, (void *)1), 0);
	ck_assert_int_eq(smarm_join(a, NULL, SMARM_FOREVER), 0);
	ck_assert_int_eq(smarm_join(b, NULL, SMARM_FOREVER), 0);
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

static int spawn_ran;

static void *count_run(void *arg)
{
	spawn_ran++;
	return arg;
}

static void *spawn_errors_root(void *arg)
{
	smarm_pid pid;
	volatile int flag = 0;

	(void)arg;
	ck_assert_int_eq(smarm_spawn(NULL, count_run, NULL), EINVAL);
	ck_assert_int_eq(smarm_spawn(&pid, NULL, NULL), EINVAL);
	ck_assert_int_eq(smarm_spawn(NULL, NULL, NULL), EINVAL);
	ck_assert_int_eq(smarm_yield(), 0);
	ck_assert_int_eq(spawn_ran, 0);

	/* a new actor runs when its spawner yields, not before */
	ck_assert_int_eq(smarm_spawn(&pid, set_flag, (void *)&flag), 0);
	ck_assert_int_eq(flag, 0);
	ck_assert_int_eq(smarm_yield(), 0);
	ck_assert_int_eq(flag, 1);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	return NULL;
}

START_TEST(test_spawn_errors)
{
	smarm_pid pid;

	run_in_actor(spawn_errors_root, NULL);
	ck_assert_int_eq(smarm_spawn(&pid, count_run, NULL), EPERM);
	ck_assert_int_eq(spawn_ran, 0);
}
END_TEST

/* ---- join ------------------------------------------------------------------- */

static void *join_result_root(void *arg)
{
	smarm_pid pid;
	void *res = NULL;
	volatile int flag = 0;

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
	ck_assert_int_eq(smarm_spawn(&pid, set_flag, (void *)&flag), 0);
	yield_until(&flag);
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
	volatile int release = 0;
	int i;

	(void)arg;
	ck_assert_int_eq(smarm_spawn(&pid, wait_flag, (void *)&release), 0);
	ck_assert_int_eq(smarm_join(pid, &res, 0), ETIMEDOUT);
	ck_assert_int_eq(smarm_yield(), 0); /* now it has started too */
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(smarm_join(pid, &res, 0), ETIMEDOUT);
	release = 1;
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
static volatile int j1_joining;
static smarm_pid j_target;

static void *joiner(void *arg)
{
	void *res = NULL;
	int err;

	(void)arg;
	j1_joining = 1;
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
	volatile int release = 0;
	void *res = NULL;

	(void)arg;
	ck_assert_int_eq(smarm_spawn(&j_target, wait_flag, (void *)&release), 0);
	ck_assert_int_eq(smarm_spawn(&j1, joiner, NULL), 0);
	yield_until(&j1_joining);

	/* the root, then another actor, try to join too */
	ck_assert_int_eq(smarm_join(j_target, &res, SMARM_FOREVER), EBUSY);
	ck_assert_int_eq(smarm_spawn(&j2, second_joiner, NULL), 0);
	ck_assert_int_eq(smarm_join(j2, &res, SMARM_FOREVER), 0);
	ck_assert_int_eq((int)(uintptr_t)res, EBUSY);

	release = 1;
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

static volatile int detached_release;

static void *join_detached_root(void *arg)
{
	smarm_spawn_opts o;
	smarm_pid pid;
	volatile int *release = &detached_release;

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
	*release = 1;
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
	volatile int release = 0;
	void *res = NULL;

	(void)arg;
	/* twice */
	ck_assert_int_eq(smarm_spawn(&pid, wait_flag, (void *)&detached_release),
			 0);
	ck_assert_int_eq(smarm_detach(pid), 0);
	ck_assert_int_eq(smarm_detach(pid), ESRCH);
	detached_release = 1;
	ck_assert_int_eq(smarm_yield(), 0);

	/* none, joined */
	ck_assert_int_eq(smarm_detach(SMARM_PID_NONE), ESRCH);
	ck_assert_int_eq(smarm_spawn(&pid, return_arg, NULL), 0);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	ck_assert_int_eq(smarm_detach(pid), ESRCH);

	/* while another actor joins it */
	j1_joining = 0;
	ck_assert_int_eq(smarm_spawn(&j_target, wait_flag, (void *)&release), 0);
	ck_assert_int_eq(smarm_spawn(&j1, joiner, NULL), 0);
	yield_until(&j1_joining);
	ck_assert_int_eq(smarm_detach(j_target), EBUSY);
	release = 1;
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
	volatile int flag = 0;
	char buf[8];

	(void)arg;
	ck_assert_int_eq(smarm_spawn(&pid, set_flag, (void *)&flag), 0);
	yield_until(&flag);
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

static volatile int self_detach_rc = -1;
static volatile int self_detach_done;

static void *self_detacher(void *arg)
{
	int i;

	(void)arg;
	self_detach_rc = smarm_detach(smarm_self());
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(smarm_yield(), 0);
	self_detach_done = 1;
	return NULL;
}

static void *self_detach_root(void *arg)
{
	smarm_pid pid;

	(void)arg;
	ck_assert_int_eq(smarm_spawn(&pid, self_detacher, NULL), 0);
	while (self_detach_rc == -1)
		ck_assert_int_eq(smarm_yield(), 0);
	ck_assert_int_eq(self_detach_rc, 0);
	ck_assert_int_eq(self_detach_done, 0);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), ESRCH);
	ck_assert_int_eq(smarm_detach(pid), ESRCH);
	yield_until(&self_detach_done);
	return NULL;
}

START_TEST(test_detach_self)
{
	run_in_actor(self_detach_root, NULL);
	ck_assert_int_eq(self_detach_done, 1);
}
END_TEST

/* ---- many actors --------------------------------------------------------- */

#define MANY 10000

static int many_started, many_ended;
static volatile int many_go;

static void *many_actor(void *arg)
{
	uintptr_t i = (uintptr_t)arg;

	many_started++;
	while (!many_go)
		ck_assert_int_eq(smarm_sleep(1 * MS + (i % 4) * MS), 0);
	ck_assert_int_eq(smarm_yield(), 0);
	many_ended++;
	return (void *)(i * 2 + 1);
}

static void *many_root(void *arg)
{
	smarm_pid *pids = calloc(MANY, sizeof(*pids));
	uintptr_t i;
	void *res;

	(void)arg;
	ck_assert_ptr_nonnull(pids);
	for (i = 0; i < MANY; i++)
		ck_assert_int_eq(smarm_spawn(&pids[i], many_actor, (void *)i), 0);
	while (many_started < MANY)
		ck_assert_int_eq(smarm_yield(), 0);
	/* all 10,000 alive at once */
	ck_assert_int_eq(many_ended, 0);
	many_go = 1;
	for (i = 0; i < MANY; i++) {
		res = NULL;
		ck_assert_int_eq(smarm_join(pids[i], &res, SMARM_FOREVER), 0);
		ck_assert_ptr_eq(res, (void *)(i * 2 + 1));
	}
	ck_assert_int_eq(many_ended, MANY);
	free(pids);
	return NULL;
}

START_TEST(test_many_actors)
{
	run_in_actor(many_root, NULL);
}
END_TEST

/* ---- spawn from spawned actors ------------------------------------------ */

static int tree_nodes;

static void *tree_node(void *arg)
{
	uintptr_t depth = (uintptr_t)arg;
	smarm_pid l, r;
	void *rl = NULL, *rr = NULL;

	tree_nodes++;
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

static int detached_chain_ended;

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
	detached_chain_ended++;
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
	ck_assert_int_eq(tree_nodes, 255);

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
	ck_assert_int_eq(detached_chain_ended, 100);
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
