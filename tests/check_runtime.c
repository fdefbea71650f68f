/*
 * check_runtime.c - runtime life cycle: configuration, creation, running,
 * freeing, and the rules about which thread may run which runtime.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#include "testutil.h"

#include <dirent.h>
#include <stdatomic.h>
/* C11 threads, not <pthread.h>: the build adds lib/ to the include path,
 * and lib/sched.h would shadow the <sched.h> that <pthread.h> includes. */
#include <threads.h>
#include <time.h>

/* ---- helpers ------------------------------------------------------------ */

/* Sleep the calling OS thread (a plain thread, never inside an actor). */
static void nap_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int trivial_ran;

static void *trivial(void *arg)
{
	(void)arg;
	trivial_ran++;
	return NULL;
}

/* Number of entries in /proc/self/task. */
static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Number of inaccessible (---) mappings in /proc/self/maps: guard pages. */
static int count_prot_none_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char *line = NULL;
	size_t cap = 0;
	int n = 0;

	ck_assert_ptr_nonnull(f);
	while (getline(&line, &cap, f) != -1) {
		char perms[8];

		if (sscanf(line, "%*x-%*x %7s", perms) == 1 &&
		    strncmp(perms, "---", 3) == 0)
			n++;
	}
	free(line);
	fclose(f);
	return n;
}

/* ---- config ------------------------------------------------------------- */

START_TEST(test_config_defaults)
{
	smarm_config cfg;
	size_t i;

	unsetenv("SMARM_STACK_GUARD");
	memset(&cfg, 0xa5, sizeof(cfg));
	smarm_config_init(&cfg);
	ck_assert_uint_eq(cfg.threads, 1);
	ck_assert_int_eq(cfg.stack_guard, SMARM_GUARD_AUTO);
	ck_assert_uint_eq(cfg.stack_size, SMARM_STACK_DEFAULT);
	ck_assert_uint_eq(cfg.stack_size, 256u * 1024u);
	for (i = 0; i < sizeof(cfg.reserved) / sizeof(cfg.reserved[0]); i++)
		ck_assert_uint_eq(cfg.reserved[i], 0);

	smarm_config_init(NULL); /* no-op, no crash */
}
END_TEST

static const struct {
	const char *value;
	int guard;
} env_guards[] = {
	{ "madvise", SMARM_GUARD_MADVISE },
	{ "mprotect", SMARM_GUARD_MPROTECT },
	{ "canary", SMARM_GUARD_CANARY },
	{ "auto", SMARM_GUARD_AUTO },
	{ "bogus", SMARM_GUARD_AUTO },
	{ "", SMARM_GUARD_AUTO },
};

START_TEST(test_config_env_guard)
{
	smarm_config cfg;

	ck_assert_int_eq(setenv("SMARM_STACK_GUARD", env_guards[_i].value, 1), 0);
	memset(&cfg, 0x5a, sizeof(cfg));
	smarm_config_init(&cfg);
	ck_assert_msg(cfg.stack_guard == env_guards[_i].guard,
		      "SMARM_STACK_GUARD=\"%s\": stack_guard %d, expected %d",
		      env_guards[_i].value, cfg.stack_guard, env_guards[_i].guard);
	/* the variable sets only the guard default */
	ck_assert_uint_eq(cfg.threads, 1);
	ck_assert_uint_eq(cfg.stack_size, SMARM_STACK_DEFAULT);
	unsetenv("SMARM_STACK_GUARD");
}
END_TEST

/*
 * Which guard mode a runtime really uses is visible in /proc/self/maps:
 * in mprotect mode every live stack has its own PROT_NONE page (one mapping
 * each), in canary mode there is no guard page at all.
 */
#define GUARD_N 200

static atomic_int guard_started;
static atomic_int guard_release;

static void *guard_waiter(void *arg)
{
	(void)arg;
	atomic_fetch_add(&guard_started, 1);
	while (!atomic_load(&guard_release))
		ck_assert_int_eq(smarm_sleep(1 * MS), 0);
	return NULL;
}

static void *guard_root(void *arg)
{
	int *delta = arg;
	smarm_pid pids[GUARD_N];
	int before, i;

	before = count_prot_none_maps();
	for (i = 0; i < GUARD_N; i++)
		ck_assert_int_eq(smarm_spawn(&pids[i], guard_waiter, NULL), 0);
	while (atomic_load(&guard_started) < GUARD_N)
		ck_assert_int_eq(smarm_yield(), 0);
	*delta = count_prot_none_maps() - before;
	atomic_store(&guard_release, 1);
	for (i = 0; i < GUARD_N; i++)
		ck_assert_int_eq(smarm_join(pids[i], NULL, SMARM_FOREVER), 0);
	return NULL;
}

static const struct {
	const char *env;
	int assigned; /* -1: keep what smarm_config_init() chose */
	int guard_pages;
} guard_modes[] = {
	{ "mprotect", -1, 1 },
	{ "canary", -1, 0 },
	{ "canary", SMARM_GUARD_MPROTECT, 1 },
	{ "mprotect", SMARM_GUARD_CANARY, 0 },
};

START_TEST(test_config_guard_takes_effect)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	int delta = -1;

	ck_assert_int_eq(setenv("SMARM_STACK_GUARD", guard_modes[_i].env, 1), 0);
	smarm_config_init(&cfg);
	if (guard_modes[_i].assigned >= 0)
		cfg.stack_guard = guard_modes[_i].assigned;
	unsetenv("SMARM_STACK_GUARD");

	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_ptr_nonnull(rt);
	ck_assert_int_eq(smarm_runtime_run(rt, guard_root, &delta, NULL), 0);
	smarm_runtime_free(rt);

	if (guard_modes[_i].guard_pages)
		ck_assert_msg(delta >= GUARD_N / 2,
			      "env %s, assigned %d: %d live stacks added only %d "
			      "PROT_NONE mappings (mprotect guards expected)",
			      guard_modes[_i].env, guard_modes[_i].assigned,
			      GUARD_N, delta);
	else
		ck_assert_msg(delta < GUARD_N / 2,
			      "env %s, assigned %d: %d live stacks added %d "
			      "PROT_NONE mappings (canary mode has no guard pages)",
			      guard_modes[_i].env, guard_modes[_i].assigned,
			      GUARD_N, delta);
}
END_TEST

/* The configured default stack size is what an actor gets. */
static void *deep_root(void *arg)
{
	(void)arg;
	return (void *)(uintptr_t)(use_stack(700 * 1024) != 0);
}

START_TEST(test_config_stack_size_large)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	void *res = NULL;

	smarm_config_init(&cfg);
	cfg.stack_size = 1024 * 1024;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, deep_root, NULL, &res), 0);
	ck_assert_ptr_eq(res, (void *)1);
	smarm_runtime_free(rt);
}
END_TEST

static void *overflow_actor(void *arg)
{
	(void)arg;
	use_stack(256 * 1024);
	return NULL;
}

static void *overflow_root(void *arg)
{
	smarm_pid pid;

	(void)arg;
	/* spawned with the runtime's default stack size */
	ck_assert_int_eq(smarm_spawn(&pid, overflow_actor, NULL), 0);
	smarm_join(pid, NULL, SMARM_FOREVER);
	return NULL;
}

START_TEST(test_config_stack_size_small)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;

	smarm_config_init(&cfg);
	cfg.stack_guard = SMARM_GUARD_MPROTECT;
	cfg.stack_size = 64 * 1024;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	smarm_runtime_run(rt, overflow_root, NULL, NULL);
	ck_abort_msg("an actor used 256 KiB of a 64 KiB default stack unharmed");
}
END_TEST

/* ---- runtime_new --------------------------------------------------------- */

START_TEST(test_new_errors)
{
	smarm_config cfg;
	smarm_runtime *rt;

	smarm_config_init(&cfg);
	ck_assert_int_eq(smarm_runtime_new(NULL, NULL), EINVAL);
	ck_assert_int_eq(smarm_runtime_new(NULL, &cfg), EINVAL);

	smarm_config_init(&cfg);
	cfg.threads = 0;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), EINVAL);

	smarm_config_init(&cfg);
	cfg.threads = 2;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), ENOTSUP);

	smarm_config_init(&cfg);
	cfg.stack_guard = 4;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), EINVAL);
	cfg.stack_guard = -1;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), EINVAL);
	cfg.stack_guard = 1000;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), EINVAL);

	smarm_config_init(&cfg);
	cfg.stack_size = 0;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), EINVAL);
	cfg.stack_size = SMARM_STACK_MIN - 1;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), EINVAL);
	cfg.stack_size = (size_t)SMARM_STACK_MAX + 1;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), EINVAL);
	cfg.stack_size = SIZE_MAX;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), EINVAL);
}
END_TEST

START_TEST(test_new_valid)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	int threads = count_threads();
	void *res = NULL;

	/* cfg NULL = defaults */
	ck_assert_int_eq(smarm_runtime_new(&rt, NULL), 0);
	ck_assert_ptr_nonnull(rt);
	ck_assert_int_eq(count_threads(), threads); /* starts no thread */
	smarm_runtime_free(rt);

	/* every guard mode (madvise is ENOTSUP on kernels before 6.13) */
	for (int g = SMARM_GUARD_AUTO; g <= SMARM_GUARD_CANARY; g++) {
		int err;

		smarm_config_init(&cfg);
		cfg.stack_guard = g;
		rt = NULL;
		err = smarm_runtime_new(&rt, &cfg);
		if (g == SMARM_GUARD_MADVISE && err == ENOTSUP)
			continue;
		ck_assert_msg(err == 0, "guard mode %d: %s", g,
			      smarm_strerror(err));
		ck_assert_int_eq(smarm_runtime_run(rt, return_arg,
						   (void *)(uintptr_t)(g + 10),
						   &res), 0);
		ck_assert_ptr_eq(res, (void *)(uintptr_t)(g + 10));
		smarm_runtime_free(rt);
	}

	/* both ends of the stack size range */
	smarm_config_init(&cfg);
	cfg.stack_size = SMARM_STACK_MIN;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, return_arg, (void *)3, &res), 0);
	ck_assert_ptr_eq(res, (void *)3);
	smarm_runtime_free(rt);

	cfg.stack_size = SMARM_STACK_MAX;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	smarm_runtime_free(rt);
}
END_TEST

/* ---- run ---------------------------------------------------------------- */

START_TEST(test_run_result)
{
	smarm_runtime *rt = NULL;
	void *res = NULL;

	ck_assert_int_eq(smarm_run(return_arg, (void *)0x1234, &res), 0);
	ck_assert_ptr_eq(res, (void *)0x1234);

	ck_assert_int_eq(smarm_runtime_new(&rt, NULL), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, return_arg, (void *)0xbeef, &res),
			 0);
	ck_assert_ptr_eq(res, (void *)0xbeef);
	smarm_runtime_free(rt);
}
END_TEST

static void *exit_root(void *arg)
{
	smarm_exit(arg);
}

START_TEST(test_run_root_exit)
{
	void *res = NULL;

	ck_assert_int_eq(smarm_run(exit_root, (void *)77, &res), 0);
	ck_assert_ptr_eq(res, (void *)77);
}
END_TEST

START_TEST(test_run_einval)
{
	smarm_runtime *rt = NULL;
	void *res = (void *)1;

	ck_assert_int_eq(smarm_run(NULL, NULL, &res), EINVAL);
	ck_assert_int_eq(smarm_runtime_run(NULL, trivial, NULL, &res), EINVAL);
	ck_assert_int_eq(smarm_runtime_new(&rt, NULL), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, NULL, NULL, &res), EINVAL);
	ck_assert_int_eq(trivial_ran, 0);
	/* the runtime is still usable */
	ck_assert_int_eq(smarm_runtime_run(rt, trivial, NULL, &res), 0);
	ck_assert_int_eq(trivial_ran, 1);
	smarm_runtime_free(rt);
}
END_TEST

START_TEST(test_run_twice)
{
	smarm_runtime *rt = NULL;
	void *res = NULL;

	ck_assert_int_eq(smarm_runtime_new(&rt, NULL), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, return_arg, (void *)1, &res), 0);
	ck_assert_ptr_eq(res, (void *)1);
	ck_assert_int_eq(smarm_runtime_run(rt, return_arg, (void *)2, &res), 0);
	ck_assert_ptr_eq(res, (void *)2);
	ck_assert_int_eq(smarm_runtime_run(rt, trivial, NULL, NULL), 0);
	ck_assert_int_eq(trivial_ran, 1);
	smarm_runtime_free(rt);
}
END_TEST

START_TEST(test_run_sequential_runtimes)
{
	smarm_runtime *a = NULL, *b = NULL;
	void *res = NULL;
	int i;

	for (i = 0; i < 5; i++) {
		smarm_runtime *rt = NULL;

		ck_assert_int_eq(smarm_runtime_new(&rt, NULL), 0);
		ck_assert_int_eq(smarm_runtime_run(rt, return_arg,
						   (void *)(uintptr_t)(i + 1),
						   &res), 0);
		ck_assert_ptr_eq(res, (void *)(uintptr_t)(i + 1));
		smarm_runtime_free(rt);
		ck_assert_int_eq(smarm_run(return_arg, (void *)(uintptr_t)i,
					   &res), 0);
		ck_assert_ptr_eq(res, (void *)(uintptr_t)i);
	}

	/* two runtimes may exist at once; they run one after the other */
	ck_assert_int_eq(smarm_runtime_new(&a, NULL), 0);
	ck_assert_int_eq(smarm_runtime_new(&b, NULL), 0);
	ck_assert_ptr_ne(a, b);
	ck_assert_int_eq(smarm_runtime_run(b, return_arg, (void *)0xb, &res), 0);
	ck_assert_ptr_eq(res, (void *)0xb);
	ck_assert_int_eq(smarm_runtime_run(a, return_arg, (void *)0xa, &res), 0);
	ck_assert_ptr_eq(res, (void *)0xa);
	smarm_runtime_free(a);
	ck_assert_int_eq(smarm_runtime_run(b, return_arg, (void *)0xc, &res), 0);
	ck_assert_ptr_eq(res, (void *)0xc);
	smarm_runtime_free(b);
}
END_TEST

static void *panic_root(void *arg)
{
	smarm_panic("root failed: %s %d", (const char *)arg, 42);
}

START_TEST(test_run_root_panic)
{
	smarm_runtime *rt = NULL;
	void *res = NULL;

	ck_assert_int_eq(smarm_run(panic_root, "code", &res), SMARM_EPANIC);
	ck_assert_ptr_nonnull(res);
	ck_assert_str_eq((char *)res, "root failed: code 42");
	free(res);

	res = NULL;
	ck_assert_int_eq(smarm_runtime_new(&rt, NULL), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, panic_root, "again", &res),
			 SMARM_EPANIC);
	ck_assert_ptr_nonnull(res);
	ck_assert_str_eq((char *)res, "root failed: again 42");
	free(res);
	/* the runtime runs again after a panicked root */
	ck_assert_int_eq(smarm_runtime_run(rt, return_arg, (void *)5, &res), 0);
	ck_assert_ptr_eq(res, (void *)5);
	smarm_runtime_free(rt);
}
END_TEST

START_TEST(test_run_result_null)
{
	smarm_runtime *rt = NULL;

	ck_assert_int_eq(smarm_run(return_arg, (void *)9, NULL), 0);
	ck_assert_int_eq(smarm_run(panic_root, "ignored", NULL), SMARM_EPANIC);
	ck_assert_int_eq(smarm_runtime_new(&rt, NULL), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, return_arg, (void *)9, NULL), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, panic_root, "ignored", NULL),
			 SMARM_EPANIC);
	smarm_runtime_free(rt);
}
END_TEST

/* ---- run waits for every actor ------------------------------------------ */

static int ended;

static void *sleep_then_count(void *arg)
{
	ck_assert_int_eq(smarm_sleep((uint64_t)(uintptr_t)arg * MS), 0);
	ended++;
	return NULL;
}

static void *yield_then_count(void *arg)
{
	uintptr_t i;

	for (i = 0; i < (uintptr_t)arg; i++)
		ck_assert_int_eq(smarm_yield(), 0);
	ended++;
	return NULL;
}

static void *spawn_grandchild(void *arg)
{
	smarm_spawn_opts o;

	(void)arg;
	smarm_spawn_opts_init(&o);
	o.flags = SMARM_SPAWN_DETACHED;
	ck_assert_int_eq(smarm_sleep(5 * MS), 0);
	ck_assert_int_eq(smarm_spawn_opt(NULL, sleep_then_count,
					 (void *)(uintptr_t)30, &o), 0);
	ended++;
	return NULL;
}

/* 5 detached sleepers, 5 unjoined sleepers, 2 yielders, 1 detached actor
 * spawning a detached sleeper: 14 counts in all. */
#define WAIT_ALL 14

static void spawn_stragglers(void)
{
	smarm_spawn_opts o;
	smarm_pid pid;
	uintptr_t i;

	smarm_spawn_opts_init(&o);
	o.flags = SMARM_SPAWN_DETACHED;
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(smarm_spawn_opt(NULL, sleep_then_count,
						 (void *)(10 + 10 * i), &o), 0);
		ck_assert_int_eq(smarm_spawn(&pid, sleep_then_count,
					     (void *)(50 - 10 * i)), 0);
	}
	ck_assert_int_eq(smarm_spawn(&pid, yield_then_count, (void *)100), 0);
	ck_assert_int_eq(smarm_spawn(&pid, yield_then_count, (void *)1000), 0);
	ck_assert_int_eq(smarm_detach(pid), 0);
	ck_assert_int_eq(smarm_spawn_opt(NULL, spawn_grandchild, NULL, &o), 0);
}

static void *straggler_root(void *arg)
{
	spawn_stragglers();
	return arg;
}

static void *straggler_panic_root(void *arg)
{
	(void)arg;
	spawn_stragglers();
	smarm_panic("root gives up");
}

START_TEST(test_run_waits_for_all)
{
	smarm_runtime *rt = NULL;
	void *res = NULL;

	ended = 0;
	ck_assert_int_eq(smarm_run(straggler_root, (void *)4, &res), 0);
	ck_assert_ptr_eq(res, (void *)4);
	ck_assert_int_eq(ended, WAIT_ALL);

	ended = 0;
	ck_assert_int_eq(smarm_run(straggler_panic_root, NULL, &res),
			 SMARM_EPANIC);
	ck_assert_str_eq((char *)res, "root gives up");
	free(res);
	ck_assert_int_eq(ended, WAIT_ALL);

	ended = 0;
	ck_assert_int_eq(smarm_runtime_new(&rt, NULL), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, straggler_root, NULL, NULL), 0);
	ck_assert_int_eq(ended, WAIT_ALL);
	ended = 0;
	ck_assert_int_eq(smarm_runtime_run(rt, straggler_root, NULL, NULL), 0);
	ck_assert_int_eq(ended, WAIT_ALL);
	smarm_runtime_free(rt);
}
END_TEST

/* ---- unjoined actors are released --------------------------------------- */

static int unjoined_ran;

static void *unjoined_panic(void *arg)
{
	unjoined_ran++;
	ck_assert_int_eq(smarm_yield(), 0);
	smarm_panic("unjoined actor %d gave up (%s)", (int)(uintptr_t)arg,
		    "reason that must be freed by the runtime");
}

static void *unjoined_return(void *arg)
{
	unjoined_ran++;
	return arg;
}

static void *unjoined_root(void *arg)
{
	smarm_spawn_opts o;
	smarm_pid pid;
	uintptr_t i;

	(void)arg;
	smarm_spawn_opts_init(&o);
	o.name = "unjoined";
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(smarm_spawn_opt(&pid, unjoined_panic,
						 (void *)i, &o), 0);
		ck_assert_int_eq(smarm_spawn(&pid, unjoined_return, (void *)i),
				 0);
	}
	o.flags = SMARM_SPAWN_DETACHED;
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(smarm_spawn_opt(NULL, unjoined_panic,
						 (void *)(100 + i), &o), 0);
	/* let some of them end before the root does */
	ck_assert_int_eq(smarm_yield(), 0);
	return NULL;
}

START_TEST(test_unjoined_released)
{
	smarm_runtime *rt = NULL;
	int round;

	run_in_actor(unjoined_root, NULL);
	ck_assert_int_eq(unjoined_ran, 23);

	ck_assert_int_eq(smarm_runtime_new(&rt, NULL), 0);
	for (round = 0; round < 3; round++) {
		unjoined_ran = 0;
		ck_assert_int_eq(smarm_runtime_run(rt, unjoined_root, NULL,
						   NULL), 0);
		ck_assert_int_eq(unjoined_ran, 23);
	}
	smarm_runtime_free(rt);
}
END_TEST

/* ---- EPERM inside an actor ---------------------------------------------- */

static smarm_runtime *eperm_other;
static smarm_runtime *eperm_self;

static void eperm_checks(void)
{
	void *res = (void *)1;

	ck_assert_int_eq(smarm_run(trivial, NULL, &res), EPERM);
	ck_assert_int_eq(smarm_run(trivial, NULL, NULL), EPERM);
	ck_assert_int_eq(smarm_runtime_run(eperm_other, trivial, NULL, &res),
			 EPERM);
	ck_assert_int_eq(smarm_runtime_run(eperm_self, trivial, NULL, &res),
			 EPERM);
	ck_assert_int_eq(trivial_ran, 0);
}

static void *eperm_child(void *arg)
{
	eperm_checks();
	return arg;
}

static void *eperm_root(void *arg)
{
	smarm_pid pid;
	void *res = NULL;

	eperm_checks();
	ck_assert_int_eq(smarm_spawn(&pid, eperm_child, (void *)8), 0);
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), 0);
	ck_assert_ptr_eq(res, (void *)8);
	return arg;
}

START_TEST(test_run_inside_actor_eperm)
{
	void *res = NULL;

	ck_assert_int_eq(smarm_runtime_new(&eperm_other, NULL), 0);
	ck_assert_int_eq(smarm_runtime_new(&eperm_self, NULL), 0);
	ck_assert_int_eq(smarm_runtime_run(eperm_self, eperm_root, (void *)6,
					   &res), 0);
	ck_assert_ptr_eq(res, (void *)6);
	ck_assert_int_eq(trivial_ran, 0);
	/* both runtimes are still usable afterwards */
	ck_assert_int_eq(smarm_runtime_run(eperm_other, trivial, NULL, NULL), 0);
	ck_assert_int_eq(smarm_runtime_run(eperm_self, trivial, NULL, NULL), 0);
	ck_assert_int_eq(trivial_ran, 2);
	smarm_runtime_free(eperm_other);
	smarm_runtime_free(eperm_self);
}
END_TEST

/* ---- EBUSY from another thread ------------------------------------------ */

static smarm_runtime *busy_a, *busy_b;
static atomic_int busy_running, busy_done, busy_other_ran;
static int busy_rc_run, busy_rc_b, busy_rc_a;

static void *busy_other_fn(void *arg)
{
	(void)arg;
	atomic_store(&busy_other_ran, 1);
	return NULL;
}

static int busy_thread(void *arg)
{
	void *res = (void *)1;

	(void)arg;
	while (!atomic_load(&busy_running))
		nap_ms(1);
	busy_rc_run = smarm_run(busy_other_fn, NULL, &res);
	busy_rc_b = smarm_runtime_run(busy_b, busy_other_fn, NULL, &res);
	busy_rc_a = smarm_runtime_run(busy_a, busy_other_fn, NULL, &res);
	/* refused with a diagnostic: busy_a is running */
	smarm_runtime_free(busy_a);
	atomic_store(&busy_done, 1);
	return 0;
}

static void *busy_root(void *arg)
{
	atomic_store(&busy_running, 1);
	while (!atomic_load(&busy_done))
		ck_assert_int_eq(smarm_sleep(1 * MS), 0);
	return arg;
}

START_TEST(test_run_ebusy_other_thread)
{
	thrd_t th;
	void *res = NULL;

	ck_assert_int_eq(smarm_runtime_new(&busy_a, NULL), 0);
	ck_assert_int_eq(smarm_runtime_new(&busy_b, NULL), 0);
	ck_assert_int_eq(thrd_create(&th, busy_thread, NULL), thrd_success);
	ck_assert_int_eq(smarm_runtime_run(busy_a, busy_root, (void *)0x42,
					   &res), 0);
	ck_assert_ptr_eq(res, (void *)0x42);
	ck_assert_int_eq(thrd_join(th, NULL), thrd_success);

	ck_assert_int_eq(busy_rc_run, EBUSY);
	ck_assert_int_eq(busy_rc_b, EBUSY);
	ck_assert_int_eq(busy_rc_a, EBUSY);
	ck_assert_int_eq(atomic_load(&busy_other_ran), 0);

	/* nothing was freed: both runtimes still run */
	ck_assert_int_eq(smarm_runtime_run(busy_a, return_arg, (void *)1, &res),
			 0);
	ck_assert_ptr_eq(res, (void *)1);
	ck_assert_int_eq(smarm_runtime_run(busy_b, busy_other_fn, NULL, NULL),
			 0);
	ck_assert_int_eq(atomic_load(&busy_other_ran), 1);
	smarm_runtime_free(busy_a);
	smarm_runtime_free(busy_b);
}
END_TEST

/* Once no runtime runs, any thread may run one. */
static int thread_runs(void *arg)
{
	void *res = NULL;
	int *rc = arg;

	rc[0] = smarm_run(return_arg, (void *)0x77, &res);
	rc[1] = res == (void *)0x77;
	return 0;
}

START_TEST(test_run_in_other_thread)
{
	thrd_t th;
	int rc[2] = { -1, 0 };
	void *res = NULL;

	ck_assert_int_eq(smarm_run(return_arg, (void *)1, &res), 0);
	ck_assert_int_eq(thrd_create(&th, thread_runs, rc), thrd_success);
	ck_assert_int_eq(thrd_join(th, NULL), thrd_success);
	ck_assert_int_eq(rc[0], 0);
	ck_assert_int_eq(rc[1], 1);
	ck_assert_int_eq(smarm_run(return_arg, (void *)2, &res), 0);
	ck_assert_ptr_eq(res, (void *)2);
}
END_TEST

/* ---- free ---------------------------------------------------------------- */

static smarm_runtime *self_free_rt;

static void *free_self_root(void *arg)
{
	smarm_pid pid;

	smarm_runtime_free(self_free_rt); /* refused: it is running */
	ck_assert_int_eq(smarm_spawn(&pid, return_arg, arg), 0);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	return arg;
}

START_TEST(test_free)
{
	void *res = NULL;

	smarm_runtime_free(NULL); /* no-op */

	ck_assert_int_eq(smarm_runtime_new(&self_free_rt, NULL), 0);
	ck_assert_int_eq(smarm_runtime_run(self_free_rt, free_self_root,
					   (void *)3, &res), 0);
	ck_assert_ptr_eq(res, (void *)3);
	/* not freed: it runs again */
	ck_assert_int_eq(smarm_runtime_run(self_free_rt, return_arg, (void *)4,
					   &res), 0);
	ck_assert_ptr_eq(res, (void *)4);
	smarm_runtime_free(self_free_rt);

	/* a runtime that never ran */
	ck_assert_int_eq(smarm_runtime_new(&self_free_rt, NULL), 0);
	smarm_runtime_free(self_free_rt);
}
END_TEST

/* ---- deadlock ------------------------------------------------------------ */

/*
 * When every actor still alive is parked with nothing that could wake it
 * (none runnable, no timer pending), the run returns EDEADLK, abandons the
 * parked actors and leaves *result alone.  None of the actors here holds
 * memory of its own, so under valgrind nothing may leak.
 */
#define UNTOUCHED ((void *)0x5a5a)

/* Parks for ever: nothing can wake it. */
static void *sleep_forever(void *arg)
{
	(void)arg;
	smarm_sleep(SMARM_FOREVER);
	ck_abort_msg("an actor sleeping SMARM_FOREVER woke up");
	return NULL;
}

/* The root joins an actor that sleeps for ever. */
static void *join_sleeper_root(void *arg)
{
	smarm_pid pid;

	(void)arg;
	ck_assert_int_eq(smarm_spawn(&pid, sleep_forever, NULL), 0);
	/* A pending timer is no deadlock: this join times out. */
	ck_assert_int_eq(smarm_join(pid, NULL, 5 * MS), ETIMEDOUT);
	smarm_join(pid, NULL, SMARM_FOREVER);
	ck_abort_msg("joined an actor that sleeps for ever");
	return NULL;
}

/* The same, with named actors and stacks of other sizes among the
 * abandoned, and a detached one that sleeps for ever too. */
static void *join_sleepers_root(void *arg)
{
	smarm_spawn_opts o;
	smarm_pid pid, last = SMARM_PID_NONE;
	uintptr_t i;

	(void)arg;
	smarm_spawn_opts_init(&o);
	o.name = "sleeper";
	for (i = 0; i < 20; i++) {
		o.stack_size = i % 2 ? 64 * 1024 : 0;
		ck_assert_int_eq(smarm_spawn_opt(&pid, sleep_forever, NULL, &o),
				 0);
		last = pid;
	}
	o.flags = SMARM_SPAWN_DETACHED;
	ck_assert_int_eq(smarm_spawn_opt(NULL, sleep_forever, NULL, &o), 0);
	smarm_join(last, NULL, SMARM_FOREVER);
	ck_abort_msg("joined an actor that sleeps for ever");
	return NULL;
}

START_TEST(test_deadlock_root_joins_sleeper)
{
	smarm_runtime *rt = NULL;
	void *res = UNTOUCHED;

	ck_assert_int_eq(smarm_run(join_sleeper_root, NULL, &res), EDEADLK);
	ck_assert_ptr_eq(res, UNTOUCHED);
	ck_assert_int_eq(smarm_run(join_sleepers_root, NULL, &res), EDEADLK);
	ck_assert_ptr_eq(res, UNTOUCHED);
	ck_assert_int_eq(smarm_run(join_sleeper_root, NULL, NULL), EDEADLK);

	ck_assert_int_eq(smarm_runtime_new(&rt, NULL), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, join_sleeper_root, NULL, &res),
			 EDEADLK);
	ck_assert_ptr_eq(res, UNTOUCHED);
	smarm_runtime_free(rt);
}
END_TEST

/* A chain: the root joins A, A joins B, B sleeps for ever. */
static void *join_chain_a(void *arg)
{
	smarm_pid b;

	(void)arg;
	ck_assert_int_eq(smarm_spawn(&b, sleep_forever, NULL), 0);
	smarm_join(b, NULL, SMARM_FOREVER);
	ck_abort_msg("A joined B, which sleeps for ever");
	return NULL;
}

static void *join_chain_root(void *arg)
{
	smarm_pid a;

	(void)arg;
	ck_assert_int_eq(smarm_spawn(&a, join_chain_a, NULL), 0);
	smarm_join(a, NULL, SMARM_FOREVER);
	ck_abort_msg("the root joined A, which waits for ever");
	return NULL;
}

/* A cycle: A joins B and B joins A; the root ends normally. */
static smarm_pid cycle_a, cycle_b;
static int cycle_started;

static void *join_cycle_a(void *arg)
{
	(void)arg;
	cycle_started++;
	smarm_join(cycle_b, NULL, SMARM_FOREVER);
	ck_abort_msg("A joined B, which joins A");
	return NULL;
}

static void *join_cycle_b(void *arg)
{
	(void)arg;
	cycle_started++;
	smarm_join(cycle_a, NULL, SMARM_FOREVER);
	ck_abort_msg("B joined A, which joins B");
	return NULL;
}

static void *join_cycle_root(void *arg)
{
	ck_assert_int_eq(smarm_spawn(&cycle_a, join_cycle_a, NULL), 0);
	ck_assert_int_eq(smarm_spawn(&cycle_b, join_cycle_b, NULL), 0);
	while (cycle_started < 2)
		ck_assert_int_eq(smarm_yield(), 0);
	/* Both are parked, each joining the other. */
	ck_assert_int_eq(smarm_join(cycle_a, NULL, 0), EBUSY);
	ck_assert_int_eq(smarm_join(cycle_b, NULL, 0), EBUSY);
	return arg;
}

START_TEST(test_deadlock_joins)
{
	void *res = UNTOUCHED;

	ck_assert_int_eq(smarm_run(join_chain_root, NULL, &res), EDEADLK);
	ck_assert_ptr_eq(res, UNTOUCHED);
	/* The root's own result is not reported when others deadlock. */
	ck_assert_int_eq(smarm_run(join_cycle_root, (void *)1, &res), EDEADLK);
	ck_assert_ptr_eq(res, UNTOUCHED);
}
END_TEST

/* After EDEADLK the thread is outside any actor again and the runtime
 * runs as before: actors, timers, joins, unjoined actors. */
START_TEST(test_deadlock_run_again)
{
	smarm_runtime *rt = NULL;
	void *res = UNTOUCHED;
	int round;

	ck_assert_int_eq(smarm_runtime_new(&rt, NULL), 0);
	for (round = 0; round < 3; round++) {
		res = UNTOUCHED;
		ck_assert_int_eq(smarm_runtime_run(rt, join_chain_root, NULL,
						   &res), EDEADLK);
		ck_assert_ptr_eq(res, UNTOUCHED);
		ck_assert_int_eq(smarm_yield(), EPERM);
		ck_assert_int_eq(smarm_sleep(0), EPERM);
		ck_assert(smarm_pid_eq(smarm_self(), SMARM_PID_NONE));

		ck_assert_int_eq(smarm_runtime_run(rt, return_arg, (void *)3,
						   &res), 0);
		ck_assert_ptr_eq(res, (void *)3);
		ended = 0;
		ck_assert_int_eq(smarm_runtime_run(rt, straggler_root,
						   (void *)4, &res), 0);
		ck_assert_ptr_eq(res, (void *)4);
		ck_assert_int_eq(ended, WAIT_ALL);
		unjoined_ran = 0;
		ck_assert_int_eq(smarm_runtime_run(rt, unjoined_root, NULL,
						   NULL), 0);
		ck_assert_int_eq(unjoined_ran, 23);

		ck_assert_int_eq(smarm_runtime_run(rt, join_sleepers_root,
						   NULL, NULL), EDEADLK);
		ck_assert_int_eq(smarm_runtime_run(rt, return_arg, (void *)5,
						   &res), 0);
		ck_assert_ptr_eq(res, (void *)5);
	}
	smarm_runtime_free(rt);

	/* smarm_run, and another runtime, after a deadlocked one */
	ck_assert_int_eq(smarm_run(join_sleeper_root, NULL, &res), EDEADLK);
	ck_assert_int_eq(smarm_run(return_arg, (void *)6, &res), 0);
	ck_assert_ptr_eq(res, (void *)6);
	ended = 0;
	run_in_actor(straggler_root, NULL);
	ck_assert_int_eq(ended, WAIT_ALL);
}
END_TEST

/* ---- suite ---------------------------------------------------------------- */

static Suite *runtime_suite(void)
{
	Suite *s = suite_create("runtime");
	TCase *tc;

	tc = tcase_add(s, "config");
	tcase_add_test(tc, test_config_defaults);
	tcase_add_loop_test(tc, test_config_env_guard, 0,
			    (int)(sizeof(env_guards) / sizeof(env_guards[0])));
	tcase_add_loop_test(tc, test_config_guard_takes_effect, 0,
			    (int)(sizeof(guard_modes) / sizeof(guard_modes[0])));
	tcase_add_test(tc, test_config_stack_size_large);
	tcase_add_test_raise_signal(tc, test_config_stack_size_small, SIGSEGV);

	tc = tcase_add(s, "new");
	tcase_add_test(tc, test_new_errors);
	tcase_add_test(tc, test_new_valid);

	tc = tcase_add(s, "run");
	tcase_add_test(tc, test_run_result);
	tcase_add_test(tc, test_run_root_exit);
	tcase_add_test(tc, test_run_einval);
	tcase_add_test(tc, test_run_twice);
	tcase_add_test(tc, test_run_sequential_runtimes);
	tcase_add_test(tc, test_run_root_panic);
	tcase_add_test(tc, test_run_result_null);

	tc = tcase_add(s, "wait_all");
	tcase_add_test(tc, test_run_waits_for_all);
	tcase_add_test(tc, test_unjoined_released);

	tc = tcase_add(s, "exclusion");
	tcase_add_test(tc, test_run_inside_actor_eperm);
	tcase_add_test(tc, test_run_ebusy_other_thread);
	tcase_add_test(tc, test_run_in_other_thread);

	tc = tcase_add(s, "free");
	tcase_add_test(tc, test_free);

	tc = tcase_add(s, "deadlock");
	tcase_add_test(tc, test_deadlock_root_joins_sleeper);
	tcase_add_test(tc, test_deadlock_joins);
	tcase_add_test(tc, test_deadlock_run_again);

	return s;
}

int main(void)
{
	return run_suite(runtime_suite());
}
