/*
 * check_runtime.c - runtime life cycle: configuration, creation, running,
 * freeing, and the rules about which thread may run which runtime.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#include "testutil.h"

#include <dirent.h>
#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
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

/* The CPUs this process may run on: the default number of workers. */
static unsigned cpus_allowed(void)
{
	cpu_set_t set;
	int n;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	n = CPU_COUNT(&set);
	ck_assert_int_ge(n, 1);
	return (unsigned)n > SMARM_THREADS_MAX ? SMARM_THREADS_MAX
					       : (unsigned)n;
}

/*
 * SMARM_THREADS as the tests found it (make check sets it), put back by
 * env_restore() after a test that changes it, so that later tests in the
 * same process (CK_FORK=no) see what they would have seen.
 */
static char saved_threads[64];
static int have_saved_threads = -1;

static void env_save(void)
{
	const char *e = getenv("SMARM_THREADS");

	have_saved_threads = e != NULL;
	if (e)
		snprintf(saved_threads, sizeof(saved_threads), "%s", e);
}

static void env_restore(void)
{
	if (have_saved_threads == 1)
		ck_assert_int_eq(setenv("SMARM_THREADS", saved_threads, 1), 0);
	else if (have_saved_threads == 0)
		ck_assert_int_eq(unsetenv("SMARM_THREADS"), 0);
}

/* smarm_config_init's threads with SMARM_THREADS set to value, or unset
 * when value is NULL. */
static unsigned threads_with_env(const char *value)
{
	smarm_config cfg;

	if (value)
		ck_assert_int_eq(setenv("SMARM_THREADS", value, 1), 0);
	else
		ck_assert_int_eq(unsetenv("SMARM_THREADS"), 0);
	memset(&cfg, 0xa5, sizeof(cfg));
	smarm_config_init(&cfg);
	return cfg.threads;
}

static void *trivial(void *arg)
{
	(void)arg;
	trivial_ran++;
	return NULL;
}

/* Number of entries in /proc/self/task. */
static int count_threads(void)
{
	return dir_entries("/proc/self/task");
}

/* Number of threads once those that are exiting are gone: a joined thread
 * may linger in /proc/self/task for a moment after pthread_join returned
 * (the kernel wakes the joiner before it has reaped the thread).  Waits up
 * to 5 s for the count to come down to want. */
static int count_threads_settled(int want)
{
	int n, i;

	for (i = 0; (n = count_threads()) > want && i < 5000; i++)
		nap_ms(1);
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

	env_save();
	unsetenv("SMARM_STACK_GUARD");
	unsetenv("SMARM_THREADS");
	memset(&cfg, 0xa5, sizeof(cfg));
	smarm_config_init(&cfg);
	env_restore();
	/* one worker per CPU the process may use */
	ck_assert_uint_eq(cfg.threads, cpus_allowed());
	ck_assert_uint_ge(cfg.threads, 1);
	ck_assert_uint_le(cfg.threads, SMARM_THREADS_MAX);
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
	unsigned threads;

	smarm_config_init(&cfg);
	threads = cfg.threads;
	ck_assert_int_eq(setenv("SMARM_STACK_GUARD", env_guards[_i].value, 1), 0);
	memset(&cfg, 0x5a, sizeof(cfg));
	smarm_config_init(&cfg);
	ck_assert_msg(cfg.stack_guard == env_guards[_i].guard,
		      "SMARM_STACK_GUARD=\"%s\": stack_guard %d, expected %d",
		      env_guards[_i].value, cfg.stack_guard, env_guards[_i].guard);
	/* the variable sets only the guard default */
	ck_assert_uint_eq(cfg.threads, threads);
	ck_assert_uint_eq(cfg.stack_size, SMARM_STACK_DEFAULT);
	unsetenv("SMARM_STACK_GUARD");
}
END_TEST

/* SMARM_THREADS: a number from 1 to SMARM_THREADS_MAX sets the default;
 * anything else is ignored, leaving one worker per CPU. */
static const struct {
	const char *value;
	unsigned threads; /* 0: the number of CPUs */
} env_threads[] = {
	{ "3", 3 },
	{ "1", 1 },
	{ "2", 2 },
	{ "64", 64 },
	{ "1024", SMARM_THREADS_MAX },
	{ "0", 0 },
	{ "abc", 0 },
	{ "5x", 0 },
	{ "99999", 0 },
	{ "1025", 0 },
	{ "", 0 },
	{ "-1", 0 },
	{ "-3", 0 },
	{ "+3", 0 },
	{ " 3", 0 },
	{ "3 ", 0 },
	{ "0x10", 0 },
	{ "18446744073709551617", 0 },
	{ "4294967299", 0 },
};

START_TEST(test_config_env_threads)
{
	smarm_config cfg;
	unsigned want = env_threads[_i].threads ? env_threads[_i].threads
						: cpus_allowed();
	unsigned got;

	env_save();
	got = threads_with_env(env_threads[_i].value);
	/* only threads: the rest is as without the variable */
	smarm_config_init(&cfg);
	env_restore();
	ck_assert_msg(got == want, "SMARM_THREADS=\"%s\": threads %u, "
		      "expected %u", env_threads[_i].value, got, want);
	ck_assert_uint_eq(cfg.stack_size, SMARM_STACK_DEFAULT);
	ck_assert_uint_eq(cfg.preempt_budget, SMARM_PREEMPT_DEFAULT);
	/* unset: the CPUs again */
	env_save();
	got = threads_with_env(NULL);
	env_restore();
	ck_assert_uint_eq(got, cpus_allowed());
}
END_TEST

/* The value assigned after smarm_config_init wins; the runtime gets it. */
static void *report_threads(void *arg)
{
	(void)arg;
	return (void *)(uintptr_t)stats_now().threads;
}

START_TEST(test_config_threads_reach_runtime)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	void *res = NULL;

	env_save();
	ck_assert_int_eq(setenv("SMARM_THREADS", "3", 1), 0);
	smarm_config_init(&cfg);
	env_restore();
	ck_assert_uint_eq(cfg.threads, 3);
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, report_threads, NULL, &res), 0);
	ck_assert_uint_eq((uintptr_t)res, 3);
	smarm_runtime_free(rt);

	cfg.threads = 2;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, report_threads, NULL, &res), 0);
	ck_assert_uint_eq((uintptr_t)res, 2);
	smarm_runtime_free(rt);

	/* cfg NULL: the defaults, SMARM_THREADS included */
	smarm_config_init(&cfg);
	ck_assert_int_eq(smarm_runtime_new(&rt, NULL), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, report_threads, NULL, &res), 0);
	ck_assert_uint_eq((uintptr_t)res, cfg.threads);
	smarm_runtime_free(rt);
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
	void *res = NULL;

	(void)arg;
	/* spawned with the runtime's default stack size: its guard page
	 * stops it, as a panic */
	ck_assert_int_eq(smarm_spawn(&pid, overflow_actor, NULL), 0);
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), SMARM_EPANIC);
	ck_assert_msg(strstr(res, "stack overflow") != NULL, "reason: %s",
		      (char *)res);
	free(res);
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
	ck_assert_int_eq(smarm_runtime_run(rt, overflow_root, NULL, NULL), 0);
	smarm_runtime_free(rt);
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

	cfg.threads = SMARM_THREADS_MAX + 1;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), EINVAL);
	cfg.threads = 99999;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), EINVAL);
	cfg.threads = UINT_MAX;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), EINVAL);
	/* the other fields are good: threads alone was refused */
	cfg.threads = 1;
	rt = NULL;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	smarm_runtime_free(rt);

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

	/* both ends of the threads range; creating starts no thread (once
	 * the workers of the runs above are gone) */
	ck_assert_int_eq(count_threads_settled(threads), threads);
	smarm_config_init(&cfg);
	cfg.threads = SMARM_THREADS_MAX;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_int_eq(count_threads(), threads);
	smarm_runtime_free(rt);
	cfg.threads = 1;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_int_eq(count_threads(), threads);
	smarm_runtime_free(rt);
}
END_TEST

/*
 * A runtime of n workers runs n threads while it runs (the caller and
 * n - 1 started for the run) and none between runs, more workers than
 * CPUs included; the actors all run and their counts add up.
 */
struct threads_ctx {
	int base;        /* threads of the process outside the run */
	unsigned n;      /* workers */
	int during;      /* threads seen by the root */
	atomic_int sum;
};

static void *threads_child(void *arg)
{
	struct threads_ctx *c = arg;
	int i;

	for (i = 0; i < 100; i++) {
		atomic_fetch_add(&c->sum, 1);
		if (i % 10 == 0)
			ck_assert_int_eq(smarm_sleep(100 * 1000), 0);
		else
			ck_assert_int_eq(smarm_yield(), 0);
	}
	return NULL;
}

static void *threads_root(void *arg)
{
	struct threads_ctx *c = arg;
	smarm_pid pids[16];
	int i;

	c->during = count_threads();
	ck_assert_uint_eq(stats_now().threads, c->n);
	for (i = 0; i < 16; i++)
		ck_assert_int_eq(smarm_spawn(&pids[i], threads_child, c), 0);
	for (i = 0; i < 16; i++)
		ck_assert_int_eq(smarm_join(pids[i], NULL, SMARM_FOREVER), 0);
	return arg;
}

START_TEST(test_run_threads)
{
	static const unsigned ns[] = { 1, 2, 3, 4, 8 };
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	struct threads_ctx c;
	void *res = NULL;
	int round;

	memset(&c, 0, sizeof(c));
	c.n = ns[_i];
	c.base = count_threads();
	smarm_config_init(&cfg);
	cfg.threads = c.n;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	for (round = 0; round < 2; round++) {
		atomic_store(&c.sum, 0);
		ck_assert_int_eq(smarm_runtime_run(rt, threads_root, &c, &res),
				 0);
		ck_assert_ptr_eq(res, &c);
		ck_assert_int_eq(c.during, c.base + (int)c.n - 1);
		ck_assert_int_eq(atomic_load(&c.sum), 16 * 100);
		/* the workers were joined before the run returned */
		ck_assert_int_eq(count_threads_settled(c.base), c.base);
	}
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

static atomic_int ended;

static void *sleep_then_count(void *arg)
{
	ck_assert_int_eq(smarm_sleep((uint64_t)(uintptr_t)arg * MS), 0);
	atomic_fetch_add(&ended, 1);
	return NULL;
}

static void *yield_then_count(void *arg)
{
	uintptr_t i;

	for (i = 0; i < (uintptr_t)arg; i++)
		ck_assert_int_eq(smarm_yield(), 0);
	atomic_fetch_add(&ended, 1);
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
	atomic_fetch_add(&ended, 1);
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

	atomic_store(&ended, 0);
	ck_assert_int_eq(smarm_run(straggler_root, (void *)4, &res), 0);
	ck_assert_ptr_eq(res, (void *)4);
	ck_assert_int_eq(atomic_load(&ended), WAIT_ALL);

	atomic_store(&ended, 0);
	ck_assert_int_eq(smarm_run(straggler_panic_root, NULL, &res),
			 SMARM_EPANIC);
	ck_assert_str_eq((char *)res, "root gives up");
	free(res);
	ck_assert_int_eq(atomic_load(&ended), WAIT_ALL);

	atomic_store(&ended, 0);
	ck_assert_int_eq(smarm_runtime_new(&rt, NULL), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, straggler_root, NULL, NULL), 0);
	ck_assert_int_eq(atomic_load(&ended), WAIT_ALL);
	atomic_store(&ended, 0);
	ck_assert_int_eq(smarm_runtime_run(rt, straggler_root, NULL, NULL), 0);
	ck_assert_int_eq(atomic_load(&ended), WAIT_ALL);
	smarm_runtime_free(rt);
}
END_TEST

/* ---- unjoined actors are released --------------------------------------- */

static atomic_int unjoined_ran;

static void *unjoined_panic(void *arg)
{
	atomic_fetch_add(&unjoined_ran, 1);
	ck_assert_int_eq(smarm_yield(), 0);
	smarm_panic("unjoined actor %d gave up (%s)", (int)(uintptr_t)arg,
		    "reason that must be freed by the runtime");
}

static void *unjoined_return(void *arg)
{
	atomic_fetch_add(&unjoined_ran, 1);
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
	ck_assert_int_eq(atomic_load(&unjoined_ran), 23);

	ck_assert_int_eq(smarm_runtime_new(&rt, NULL), 0);
	for (round = 0; round < 3; round++) {
		atomic_store(&unjoined_ran, 0);
		ck_assert_int_eq(smarm_runtime_run(rt, unjoined_root, NULL,
						   NULL), 0);
		ck_assert_int_eq(atomic_load(&unjoined_ran), 23);
	}
	smarm_runtime_free(rt);
}
END_TEST

/*
 * The run returns only after the detached actors ended, however many
 * workers (threads 0: the defaults): a detached actor that sleeps 50 ms
 * and then sets a flag has set it when smarm_runtime_run returns.
 */
static atomic_int late_flag;

static void *late_detached(void *arg)
{
	ck_assert_int_eq(smarm_sleep(50 * MS), 0);
	/* a few switches more, in case the run ended at the wrong time */
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(smarm_yield(), 0);
	atomic_store(&late_flag, (int)(uintptr_t)arg);
	return NULL;
}

static void *late_root(void *arg)
{
	smarm_spawn_opts o;

	smarm_spawn_opts_init(&o);
	o.flags = SMARM_SPAWN_DETACHED;
	ck_assert_int_eq(smarm_spawn_opt(NULL, late_detached, arg, &o), 0);
	return arg;
}

static const unsigned late_threads[] = { 0, 1, 2, 4 };

START_TEST(test_run_waits_for_detached)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	void *res = NULL;
	uint64_t t0;
	int round;

	smarm_config_init(&cfg);
	if (late_threads[_i])
		cfg.threads = late_threads[_i];
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	for (round = 1; round <= 2; round++) {
		atomic_store(&late_flag, 0);
		t0 = smarm_now();
		ck_assert_int_eq(smarm_runtime_run(rt, late_root,
						   (void *)(uintptr_t)round,
						   &res), 0);
		ck_assert_ptr_eq(res, (void *)(uintptr_t)round);
		ck_assert_msg(atomic_load(&late_flag) == round,
			      "%u workers, run %d: smarm_runtime_run returned "
			      "before its detached actor ended", cfg.threads,
			      round);
		ck_assert_uint_ge(smarm_now() - t0, 50 * MS);
	}
	smarm_runtime_free(rt);
	/* smarm_run too */
	atomic_store(&late_flag, 0);
	ck_assert_int_eq(smarm_run(late_root, (void *)3, &res), 0);
	ck_assert_int_eq(atomic_load(&late_flag), 3);
}
END_TEST

/*
 * smarm_run always runs one worker, whatever SMARM_THREADS says: the
 * counters say one thread, no thread is started, and every actor runs on
 * the calling thread.
 */
static atomic_int one_moved;
static pthread_t one_thread;

static void *one_child(void *arg)
{
	for (int i = 0; i < 20; i++) {
		if (!pthread_equal(os_thread(), one_thread))
			atomic_fetch_add(&one_moved, 1);
		if (i % 5 == 0)
			ck_assert_int_eq(smarm_sleep(100 * 1000), 0);
		else
			ck_assert_int_eq(smarm_yield(), 0);
	}
	return arg;
}

static void *one_root(void *arg)
{
	int *base = arg;
	smarm_stats st;
	smarm_pid pids[8];
	int i;

	ck_assert_int_eq(smarm_stats_get(&st), 0);
	ck_assert_uint_eq(st.threads, 1);
	ck_assert_int_eq(count_threads(), *base);
	ck_assert(pthread_equal(os_thread(), one_thread));
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(smarm_spawn(&pids[i], one_child, NULL), 0);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(smarm_join(pids[i], NULL, SMARM_FOREVER), 0);
	ck_assert_int_eq(smarm_stats_get(&st), 0);
	ck_assert_uint_eq(st.threads, 1);
	ck_assert_uint_eq(st.steals, 0);
	return NULL;
}

START_TEST(test_smarm_run_one_worker)
{
	smarm_config cfg;
	int base = count_threads();

	env_save();
	ck_assert_int_eq(setenv("SMARM_THREADS", "2", 1), 0);
	smarm_config_init(&cfg);
	ck_assert_uint_eq(cfg.threads, 2); /* the variable is seen ... */
	one_thread = pthread_self();
	ck_assert_int_eq(smarm_run(one_root, &base, NULL), 0);
	env_restore();
	ck_assert_int_eq(atomic_load(&one_moved), 0);
	/* ... and smarm_run freed its runtime */
	ck_assert_int_eq(smarm_stats_get(&(smarm_stats){ 0 }), ESRCH);
}
END_TEST

/* ---- stats ------------------------------------------------------------ */

/* A stats structure filled with a marker, to see that a failed call left
 * it alone. */
static void stats_mark(smarm_stats *st)
{
	memset(st, 0x5c, sizeof(*st));
}

static int stats_marked(const smarm_stats *st)
{
	const unsigned char *p = (const unsigned char *)st;
	size_t i;

	for (i = 0; i < sizeof(*st); i++)
		if (p[i] != 0x5c)
			return 0;
	return 1;
}

static void *stats_inside(void *arg)
{
	smarm_stats st;

	(void)arg;
	ck_assert_int_eq(smarm_stats_get(NULL), EINVAL);
	stats_mark(&st);
	ck_assert_int_eq(smarm_stats_get(&st), 0);
	ck_assert_uint_ge(st.spawned, 1);
	ck_assert_uint_ge(st.switches, 1);
	for (size_t i = 0; i < sizeof(st.reserved) / sizeof(st.reserved[0]);
	     i++)
		ck_assert_uint_eq(st.reserved[i], 0);
	return (void *)(uintptr_t)st.threads;
}

/* A plain thread reads the counters while runtimes are run and freed
 * one after another: each read is of a whole runtime or ESRCH, never of
 * one being freed (valgrind and ASan would see such a read). */
static atomic_int stats_reader_stop;
static atomic_long stats_reads;

static void *stats_reader(void *arg)
{
	smarm_stats st;

	(void)arg;
	while (!atomic_load(&stats_reader_stop)) {
		int r = smarm_stats_get(&st);

		ck_assert(r == 0 || r == ESRCH);
		if (r == 0)
			ck_assert_uint_ge(st.threads, 1);
		atomic_fetch_add(&stats_reads, 1);
	}
	return NULL;
}

START_TEST(test_stats_during_free)
{
	smarm_runtime *rt;
	pthread_t th;
	uint64_t t0 = now_ms();
	int i;

	atomic_store(&stats_reader_stop, 0);
	atomic_store(&stats_reads, 0);
	ck_assert_int_eq(pthread_create(&th, NULL, stats_reader, NULL), 0);
	/* 50 runtimes at least, and until the reader read a few hundred
	 * times (it may start late), for 20 s at most. */
	for (i = 0; i < 50 || (atomic_load(&stats_reads) < 300 &&
			       now_ms() - t0 < 20000); i++) {
		ck_assert_int_eq(smarm_runtime_new(&rt, NULL), 0);
		ck_assert_int_eq(smarm_runtime_run(rt, return_arg, NULL, NULL),
				 0);
		smarm_runtime_free(rt);
	}
	atomic_store(&stats_reader_stop, 1);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_ge(atomic_load(&stats_reads), 300);
}
END_TEST

START_TEST(test_stats_errors)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL, *other = NULL;
	smarm_stats st;
	void *res = NULL;

	/* no runtime has run in this process (or every one was freed) */
	ck_assert_int_eq(smarm_stats_get(NULL), EINVAL);
	stats_mark(&st);
	ck_assert_int_eq(smarm_stats_get(&st), ESRCH);
	ck_assert(stats_marked(&st));

	/* created, never run: not reported on */
	smarm_config_init(&cfg);
	cfg.threads = 2;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_int_eq(smarm_stats_get(&st), ESRCH);
	ck_assert(stats_marked(&st));

	/* inside a run and after it */
	ck_assert_int_eq(smarm_runtime_run(rt, stats_inside, NULL, &res), 0);
	ck_assert_uint_eq((uintptr_t)res, 2);
	ck_assert_int_eq(smarm_stats_get(NULL), EINVAL);
	ck_assert_int_eq(smarm_stats_get(&st), 0);
	ck_assert_uint_eq(st.threads, 2);
	ck_assert_uint_eq(st.spawned, 1);
	ck_assert_uint_eq(st.exited, 1);

	/* another runtime, created but not run, changes nothing ... */
	cfg.threads = 3;
	ck_assert_int_eq(smarm_runtime_new(&other, &cfg), 0);
	ck_assert_int_eq(smarm_stats_get(&st), 0);
	ck_assert_uint_eq(st.threads, 2);
	/* ... nor does freeing it */
	smarm_runtime_free(other);
	ck_assert_int_eq(smarm_stats_get(&st), 0);
	ck_assert_uint_eq(st.threads, 2);

	/* freed: nothing to report on */
	smarm_runtime_free(rt);
	stats_mark(&st);
	ck_assert_int_eq(smarm_stats_get(&st), ESRCH);
	ck_assert(stats_marked(&st));

	/* smarm_run frees its runtime too */
	ck_assert_int_eq(smarm_run(stats_inside, NULL, &res), 0);
	ck_assert_uint_eq((uintptr_t)res, 1);
	ck_assert_int_eq(smarm_stats_get(&st), ESRCH);
}
END_TEST

/*
 * A known workload, run twice on one runtime:
 *   - 4 consumers each sleep 1 ms, then receive 25 messages the root sends
 *     (100 messages, 4 parks in sleep woken by their timers);
 *   - 3 actors panic and are joined;
 *   - 5 detached actors each send the root one message, which it
 *     receives (5 messages);
 *   - the root sends itself 2 messages and takes them with try_recv, and
 *     sleeps 1 ms twice (2 more parks, 2 more timer wake-ups).
 * Spawned: 1 + 4 + 3 + 5 = 13, all ended, 3 by a panic; 107 messages.
 * Every park is followed by a switch back into its actor, and every actor
 * starts with a switch, so switches >= spawned + parks.
 */
#define W_CONSUMERS 4
#define W_PER 25
#define W_PANICKERS 3
#define W_DETACHED 5
#define W_SPAWNED (1 + W_CONSUMERS + W_PANICKERS + W_DETACHED)
#define W_MESSAGES (W_CONSUMERS * W_PER + W_DETACHED + 2)
#define W_SLEEPS (W_CONSUMERS + 2)

static void *w_consumer(void *arg)
{
	smarm_rx *rx = arg;
	uint64_t v, sum = 0;
	int err;

	ck_assert_int_eq(smarm_sleep(1 * MS), 0);
	while ((err = smarm_recv(rx, &v, SMARM_FOREVER)) == 0)
		sum += v;
	ck_assert_int_eq(err, EPIPE);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return (void *)(uintptr_t)sum;
}

static void *w_panicker(void *arg)
{
	smarm_panic("workload panic %d", (int)(uintptr_t)arg);
}

static void *w_detached(void *arg)
{
	uint64_t v = 1000;

	ck_assert_int_eq(smarm_send(arg, &v), 0);
	ck_assert_int_eq(smarm_tx_close(arg), 0);
	return NULL;
}

static void *w_root(void *arg)
{
	smarm_spawn_opts o;
	smarm_tx *tx[W_CONSUMERS], *mine_tx;
	smarm_rx *rx, *mine;
	smarm_pid pids[W_CONSUMERS + W_PANICKERS];
	uint64_t v;
	void *res;
	int i, k;

	for (i = 0; i < W_CONSUMERS; i++) {
		ck_assert_int_eq(smarm_channel(&tx[i], &rx, sizeof(v)), 0);
		ck_assert_int_eq(smarm_spawn(&pids[i], w_consumer, rx), 0);
	}
	for (k = 0; k < W_PER; k++)
		for (i = 0; i < W_CONSUMERS; i++) {
			v = (uint64_t)k;
			ck_assert_int_eq(smarm_send(tx[i], &v), 0);
		}
	for (i = 0; i < W_CONSUMERS; i++)
		ck_assert_int_eq(smarm_tx_close(tx[i]), 0);
	for (i = 0; i < W_CONSUMERS; i++) {
		ck_assert_int_eq(smarm_join(pids[i], &res, SMARM_FOREVER), 0);
		ck_assert_uint_eq((uintptr_t)res, W_PER * (W_PER - 1) / 2);
	}
	for (i = 0; i < W_PANICKERS; i++)
		ck_assert_int_eq(smarm_spawn(&pids[i], w_panicker,
					     (void *)(uintptr_t)i), 0);
	for (i = 0; i < W_PANICKERS; i++) {
		res = NULL;
		ck_assert_int_eq(smarm_join(pids[i], &res, SMARM_FOREVER),
				 SMARM_EPANIC);
		free(res);
	}
	ck_assert_int_eq(smarm_channel(&mine_tx, &mine, sizeof(v)), 0);
	smarm_spawn_opts_init(&o);
	o.flags = SMARM_SPAWN_DETACHED;
	for (i = 0; i < W_DETACHED; i++)
		ck_assert_int_eq(smarm_spawn_opt(NULL, w_detached,
						 smarm_tx_clone(mine_tx), &o),
				 0);
	for (i = 0; i < W_DETACHED; i++) {
		ck_assert_int_eq(smarm_recv(mine, &v, SMARM_FOREVER), 0);
		ck_assert_uint_eq(v, 1000);
	}
	for (i = 0; i < 2; i++) {
		v = 7;
		ck_assert_int_eq(smarm_send(mine_tx, &v), 0);
	}
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(smarm_try_recv(mine, &v), 0);
	ck_assert_int_eq(smarm_try_recv(mine, &v), EAGAIN);
	ck_assert_int_eq(smarm_tx_close(mine_tx), 0);
	ck_assert_int_eq(smarm_rx_close(mine), 0);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(smarm_sleep(1 * MS), 0);
	return arg;
}

/* Counters that only grow between two reads of one runtime. */
static void stats_grew(const smarm_stats *a, const smarm_stats *b)
{
	ck_assert_uint_ge(b->spawned, a->spawned);
	ck_assert_uint_ge(b->exited, a->exited);
	ck_assert_uint_ge(b->panicked, a->panicked);
	ck_assert_uint_ge(b->switches, a->switches);
	ck_assert_uint_ge(b->steals, a->steals);
	ck_assert_uint_ge(b->parks, a->parks);
	ck_assert_uint_ge(b->wakeups, a->wakeups);
	ck_assert_uint_ge(b->messages, a->messages);
}

/* What one run of the workload adds (b - a), the exact and the lower
 * bounds. */
static void stats_workload(const smarm_stats *a, const smarm_stats *b,
			   unsigned threads)
{
	uint64_t parks = b->parks - a->parks;

	stats_grew(a, b);
	ck_assert_uint_eq(b->spawned - a->spawned, W_SPAWNED);
	ck_assert_uint_eq(b->exited - a->exited, W_SPAWNED);
	ck_assert_uint_eq(b->panicked - a->panicked, W_PANICKERS);
	ck_assert_uint_eq(b->messages - a->messages, W_MESSAGES);
	ck_assert_uint_ge(parks, W_SLEEPS);
	ck_assert_uint_ge(b->wakeups - a->wakeups, W_SLEEPS);
	ck_assert_uint_le(b->wakeups - a->wakeups, parks);
	ck_assert_uint_ge(b->switches - a->switches, W_SPAWNED + parks);
	if (threads == 1)
		ck_assert_uint_eq(b->steals, 0);
	ck_assert_uint_eq(b->threads, threads);
	ck_assert_uint_eq(b->canary_stacks, 0);
	for (size_t i = 0; i < sizeof(b->reserved) / sizeof(b->reserved[0]);
	     i++)
		ck_assert_uint_eq(b->reserved[i], 0);
}

static const unsigned stats_threads[] = { 0, 1, 2, 3 };

START_TEST(test_stats_workload)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	smarm_stats zero, first, second;
	void *res = NULL;

	smarm_config_init(&cfg);
	if (stats_threads[_i])
		cfg.threads = stats_threads[_i];
	/* guard pages: canary_stacks stays 0 */
	cfg.stack_guard = SMARM_GUARD_MPROTECT;
	memset(&zero, 0, sizeof(zero));
	zero.threads = cfg.threads;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, w_root, (void *)1, &res), 0);
	ck_assert_ptr_eq(res, (void *)1);
	ck_assert_int_eq(smarm_stats_get(&first), 0);
	stats_workload(&zero, &first, cfg.threads);
	/* read again: the same, exactly, once the run is over */
	ck_assert_int_eq(smarm_stats_get(&second), 0);
	ck_assert(memcmp(&first, &second, sizeof(first)) == 0);

	/* cumulative over the runs of one runtime */
	ck_assert_int_eq(smarm_runtime_run(rt, w_root, (void *)2, &res), 0);
	ck_assert_ptr_eq(res, (void *)2);
	ck_assert_int_eq(smarm_stats_get(&second), 0);
	stats_workload(&first, &second, cfg.threads);
	ck_assert_uint_eq(second.spawned, 2 * W_SPAWNED);
	ck_assert_uint_eq(second.exited, 2 * W_SPAWNED);
	ck_assert_uint_eq(second.panicked, 2 * W_PANICKERS);
	ck_assert_uint_eq(second.messages, 2 * W_MESSAGES);
	smarm_runtime_free(rt);

	/* a new runtime starts from zero */
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, w_root, (void *)3, &res), 0);
	ck_assert_int_eq(smarm_stats_get(&second), 0);
	stats_workload(&zero, &second, cfg.threads);
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

/* A cycle: A joins B and B joins A; the root ends normally.  A and B
 * wait for the root's go before they read each other's pid: with several
 * workers they may start before the root has spawned (and named) the
 * other. */
static smarm_pid cycle_a, cycle_b;
static atomic_int cycle_started, cycle_go;

static void cycle_wait_go(void)
{
	while (!atomic_load(&cycle_go))
		ck_assert_int_eq(smarm_yield(), 0);
}

static void *join_cycle_a(void *arg)
{
	(void)arg;
	atomic_fetch_add(&cycle_started, 1);
	cycle_wait_go();
	smarm_join(cycle_b, NULL, SMARM_FOREVER);
	ck_abort_msg("A joined B, which joins A");
	return NULL;
}

static void *join_cycle_b(void *arg)
{
	(void)arg;
	atomic_fetch_add(&cycle_started, 1);
	cycle_wait_go();
	smarm_join(cycle_a, NULL, SMARM_FOREVER);
	ck_abort_msg("B joined A, which joins B");
	return NULL;
}

static void *join_cycle_root(void *arg)
{
	atomic_store(&cycle_started, 0);
	atomic_store(&cycle_go, 0);
	ck_assert_int_eq(smarm_spawn(&cycle_a, join_cycle_a, NULL), 0);
	ck_assert_int_eq(smarm_spawn(&cycle_b, join_cycle_b, NULL), 0);
	atomic_store(&cycle_go, 1);
	while (atomic_load(&cycle_started) < 2)
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
		atomic_store(&ended, 0);
		ck_assert_int_eq(smarm_runtime_run(rt, straggler_root,
						   (void *)4, &res), 0);
		ck_assert_ptr_eq(res, (void *)4);
		ck_assert_int_eq(atomic_load(&ended), WAIT_ALL);
		atomic_store(&unjoined_ran, 0);
		ck_assert_int_eq(smarm_runtime_run(rt, unjoined_root, NULL,
						   NULL), 0);
		ck_assert_int_eq(atomic_load(&unjoined_ran), 23);

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
	atomic_store(&ended, 0);
	run_in_actor(straggler_root, NULL);
	ck_assert_int_eq(atomic_load(&ended), WAIT_ALL);
}
END_TEST

/*
 * Deadlocks are found however many workers run: all of them must be idle
 * with nothing that could wake an actor.  (The runtime joins the root, so
 * an actor cannot join the root: that is EBUSY, and the actor that tried
 * then sleeps for ever.)
 */
static const unsigned dl_threads[] = { 1, 2, 3 };

static atomic_int dl_child_rc;

static void *join_root_child(void *arg)
{
	atomic_store(&dl_child_rc, smarm_join(*(smarm_pid *)arg, NULL,
					      SMARM_FOREVER));
	smarm_sleep(SMARM_FOREVER);
	ck_abort_msg("an actor sleeping SMARM_FOREVER woke up");
	return NULL;
}

static void *join_root_root(void *arg)
{
	smarm_pid me = smarm_self(), pid;

	(void)arg;
	ck_assert_int_eq(smarm_spawn(&pid, join_root_child, &me), 0);
	smarm_join(pid, NULL, SMARM_FOREVER);
	ck_abort_msg("joined an actor that sleeps for ever");
	return NULL;
}

/* The cycle of test_deadlock_joins, safe with parallel workers: the root
 * waits until both have registered as joiners (EBUSY to its own try). */
static void *join_cycle_root_mt(void *arg)
{
	int err;

	atomic_store(&cycle_go, 0);
	ck_assert_int_eq(smarm_spawn(&cycle_a, join_cycle_a, NULL), 0);
	ck_assert_int_eq(smarm_spawn(&cycle_b, join_cycle_b, NULL), 0);
	atomic_store(&cycle_go, 1);
	while ((err = smarm_join(cycle_a, NULL, 0)) == ETIMEDOUT)
		ck_assert_int_eq(smarm_yield(), 0);
	ck_assert_int_eq(err, EBUSY);
	while ((err = smarm_join(cycle_b, NULL, 0)) == ETIMEDOUT)
		ck_assert_int_eq(smarm_yield(), 0);
	ck_assert_int_eq(err, EBUSY);
	return arg;
}

START_TEST(test_deadlock_workers)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	void *res = UNTOUCHED;
	int base = count_threads(), round;

	smarm_config_init(&cfg);
	cfg.threads = dl_threads[_i];
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	for (round = 0; round < 2; round++) {
		res = UNTOUCHED;
		ck_assert_int_eq(smarm_runtime_run(rt, join_sleeper_root, NULL,
						   &res), EDEADLK);
		ck_assert_ptr_eq(res, UNTOUCHED);
		ck_assert_int_eq(smarm_runtime_run(rt, join_sleepers_root,
						   NULL, &res), EDEADLK);
		ck_assert_int_eq(smarm_runtime_run(rt, join_chain_root, NULL,
						   &res), EDEADLK);
		ck_assert_int_eq(smarm_runtime_run(rt, join_cycle_root_mt,
						   (void *)1, &res), EDEADLK);
		ck_assert_ptr_eq(res, UNTOUCHED);
		atomic_store(&dl_child_rc, -1);
		ck_assert_int_eq(smarm_runtime_run(rt, join_root_root, NULL,
						   &res), EDEADLK);
		ck_assert_int_eq(atomic_load(&dl_child_rc), EBUSY);
		ck_assert_ptr_eq(res, UNTOUCHED);
		/* the workers were joined each time; the runtime still
		 * works */
		ck_assert_int_eq(count_threads_settled(base), base);
		ck_assert_int_eq(smarm_yield(), EPERM);
		atomic_store(&ended, 0);
		ck_assert_int_eq(smarm_runtime_run(rt, straggler_root,
						   (void *)4, &res), 0);
		ck_assert_ptr_eq(res, (void *)4);
		ck_assert_int_eq(atomic_load(&ended), WAIT_ALL);
	}
	smarm_runtime_free(rt);
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
	tcase_add_loop_test(tc, test_config_env_threads, 0,
			    (int)(sizeof(env_threads) / sizeof(env_threads[0])));
	tcase_add_test(tc, test_config_threads_reach_runtime);
	tcase_add_loop_test(tc, test_config_guard_takes_effect, 0,
			    (int)(sizeof(guard_modes) / sizeof(guard_modes[0])));
	tcase_add_test(tc, test_config_stack_size_large);
	tcase_add_test(tc, test_config_stack_size_small);

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
	tcase_add_loop_test(tc, test_run_threads, 0, 5);
	tcase_add_test(tc, test_smarm_run_one_worker);

	tc = tcase_add(s, "wait_all");
	tcase_add_test(tc, test_run_waits_for_all);
	tcase_add_test(tc, test_unjoined_released);
	tcase_add_loop_test(tc, test_run_waits_for_detached, 0,
			    (int)(sizeof(late_threads) /
				  sizeof(late_threads[0])));

	tc = tcase_add(s, "stats");
	tcase_add_test(tc, test_stats_errors);
	tcase_add_test(tc, test_stats_during_free);
	tcase_add_loop_test(tc, test_stats_workload, 0,
			    (int)(sizeof(stats_threads) /
				  sizeof(stats_threads[0])));

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
	tcase_add_loop_test(tc, test_deadlock_workers, 0,
			    (int)(sizeof(dl_threads) / sizeof(dl_threads[0])));

	return s;
}

int main(void)
{
	return run_suite(runtime_suite());
}
