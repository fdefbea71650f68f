/*
 * check_actor.c - an actor's life: spawn, result, exit, panic, identity,
 * names, per-spawn options (stack size, name, flags).
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#include "testutil.h"

#include <stdatomic.h>

/* ---- helpers ------------------------------------------------------------ */

/* Spawn fn(arg) with the given options; join it; return join's code. */
static int spawn_join(smarm_fn fn, void *arg, const smarm_spawn_opts *o,
		      void **res)
{
	smarm_pid pid = SMARM_PID_NONE;

	ck_assert_int_eq(smarm_spawn_opt(&pid, fn, arg, o), 0);
	ck_assert(!smarm_pid_eq(pid, SMARM_PID_NONE));
	return smarm_join(pid, res, SMARM_FOREVER);
}

/* ---- spawn, return, exit ------------------------------------------------ */

static void *add_one(void *arg)
{
	return (void *)((uintptr_t)arg + 1);
}

static void *exit_direct(void *arg)
{
	smarm_exit(arg);
}

static void *spawn_return_root(void *arg)
{
	void *res = NULL;
	uintptr_t i;

	(void)arg;
	ck_assert_int_eq(spawn_join(add_one, (void *)41, NULL, &res), 0);
	ck_assert_ptr_eq(res, (void *)42);
	ck_assert_int_eq(spawn_join(return_arg, NULL, NULL, &res), 0);
	ck_assert_ptr_null(res);
	ck_assert_int_eq(spawn_join(exit_direct, (void *)0x5eed, NULL, &res), 0);
	ck_assert_ptr_eq(res, (void *)0x5eed);
	/* result NULL accepted */
	ck_assert_int_eq(spawn_join(add_one, (void *)1, NULL, NULL), 0);
	/* several at once, joined in reverse order */
	{
		smarm_pid pids[8];

		for (i = 0; i < 8; i++)
			ck_assert_int_eq(smarm_spawn(&pids[i], add_one,
						     (void *)(i * 100)), 0);
		for (i = 8; i-- > 0;) {
			ck_assert_int_eq(smarm_join(pids[i], &res,
						    SMARM_FOREVER), 0);
			ck_assert_ptr_eq(res, (void *)(i * 100 + 1));
		}
	}
	return (void *)7;
}

START_TEST(test_spawn_return)
{
	void *res = NULL;

	ck_assert_int_eq(smarm_run(spawn_return_root, NULL, &res), 0);
	ck_assert_ptr_eq(res, (void *)7);
	res = NULL;
	ck_assert_int_eq(run_default(spawn_return_root, NULL, &res), 0);
	ck_assert_ptr_eq(res, (void *)7);
}
END_TEST

static int after_exit;

static __attribute__((noinline)) void nested3(void *v)
{
	smarm_exit(v);
}

static __attribute__((noinline)) int nested2(void *v)
{
	nested3(v);
	after_exit++;
	return 1;
}

static __attribute__((noinline)) int nested1(void *v)
{
	int r = nested2(v);

	after_exit++;
	return r;
}

static void *exit_nested(void *arg)
{
	nested1(arg);
	after_exit++;
	return (void *)0xbad;
}

static void *exit_nested_root(void *arg)
{
	void *res = NULL;

	ck_assert_int_eq(spawn_join(exit_nested, (void *)77, NULL, &res), 0);
	ck_assert_ptr_eq(res, (void *)77);
	ck_assert_int_eq(after_exit, 0);
	/* the root itself exits from nested calls too */
	exit_nested(arg);
	return (void *)0xbad;
}

START_TEST(test_exit_nested)
{
	void *res = NULL;

	ck_assert_int_eq(run_default(exit_nested_root, (void *)88, &res), 0);
	ck_assert_ptr_eq(res, (void *)88);
	ck_assert_int_eq(after_exit, 0);
}
END_TEST

/* ---- panic ---------------------------------------------------------------- */

static int after_panic;

static __attribute__((noinline)) void panic_deep(int depth, const char *what)
{
	if (depth > 0)
		panic_deep(depth - 1, what);
	else if (what != NULL)
		smarm_panic("failure %d in %s: %c%s (%.2f%%)", -17, what, 'X',
			    "tail", 99.5);
	after_panic++;
}

static void *panic_formatted(void *arg)
{
	panic_deep(5, arg);
	after_panic++;
	return NULL;
}

static void *panic_empty(void *arg)
{
	(void)arg;
	smarm_panic("%s", "");
}

static char long_reason[301];

static void *panic_long(void *arg)
{
	(void)arg;
	smarm_panic("<%s>", long_reason);
}

static void *panic_root(void *arg)
{
	void *res = NULL;
	char expect[310];

	(void)arg;
	ck_assert_int_eq(spawn_join(panic_formatted, "parser", NULL, &res),
			 SMARM_EPANIC);
	ck_assert_ptr_nonnull(res);
	ck_assert_str_eq((char *)res, "failure -17 in parser: Xtail (99.50%)");
	free(res);
	ck_assert_int_eq(after_panic, 0);

	res = NULL;
	ck_assert_int_eq(spawn_join(panic_empty, NULL, NULL, &res),
			 SMARM_EPANIC);
	ck_assert_ptr_nonnull(res);
	ck_assert_str_eq((char *)res, "");
	free(res);

	memset(long_reason, 'r', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = '\0';
	snprintf(expect, sizeof(expect), "<%s>", long_reason);
	res = NULL;
	ck_assert_int_eq(spawn_join(panic_long, NULL, NULL, &res),
			 SMARM_EPANIC);
	ck_assert_ptr_nonnull(res);
	ck_assert_str_eq((char *)res, expect);
	free(res);

	/* reason NULL accepted: the runtime frees it */
	ck_assert_int_eq(spawn_join(panic_formatted, "x", NULL, NULL),
			 SMARM_EPANIC);
	return (void *)1;
}

START_TEST(test_panic_reason)
{
	void *res = NULL;

	ck_assert_int_eq(run_default(panic_root, NULL, &res), 0);
	ck_assert_ptr_eq(res, (void *)1);
}
END_TEST

/*
 * One actor panics midway; its siblings finish all their work.  The
 * siblings stop halfway until the root, having seen the panic, releases
 * them: so the panic really comes while each of them is mid-work, whether
 * they share the panicker's worker or run in parallel on another.
 */
#define ISO_WORKERS 4
#define ISO_STEPS 100

static atomic_int iso_steps[ISO_WORKERS];
static atomic_int iso_release;

static void *iso_worker(void *arg)
{
	uintptr_t me = (uintptr_t)arg;
	int i;

	for (i = 0; i < ISO_STEPS; i++) {
		if (i == ISO_STEPS / 2)
			while (!atomic_load(&iso_release))
				ck_assert_int_eq(smarm_yield(), 0);
		atomic_fetch_add(&iso_steps[me], 1);
		ck_assert_int_eq(smarm_yield(), 0);
	}
	return (void *)(me + 1000);
}

static void *iso_panicker(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < ISO_STEPS / 2; i++)
		ck_assert_int_eq(smarm_yield(), 0);
	smarm_panic("midway");
}

static void *isolation_root(void *arg)
{
	smarm_pid w[ISO_WORKERS], p;
	void *res;
	uintptr_t i;

	(void)arg;
	for (i = 0; i < ISO_WORKERS / 2; i++)
		ck_assert_int_eq(smarm_spawn(&w[i], iso_worker, (void *)i), 0);
	ck_assert_int_eq(smarm_spawn(&p, iso_panicker, NULL), 0);
	for (; i < ISO_WORKERS; i++)
		ck_assert_int_eq(smarm_spawn(&w[i], iso_worker, (void *)i), 0);

	res = NULL;
	ck_assert_int_eq(smarm_join(p, &res, SMARM_FOREVER), SMARM_EPANIC);
	ck_assert_str_eq((char *)res, "midway");
	free(res);
	/* the panic happened halfway: every worker is still at work */
	for (i = 0; i < ISO_WORKERS; i++)
		ck_assert_int_le(atomic_load(&iso_steps[i]), ISO_STEPS / 2);
	atomic_store(&iso_release, 1);
	for (i = 0; i < ISO_WORKERS; i++) {
		ck_assert_int_eq(smarm_join(w[i], &res, SMARM_FOREVER), 0);
		ck_assert_ptr_eq(res, (void *)(i + 1000));
		ck_assert_int_eq(atomic_load(&iso_steps[i]), ISO_STEPS);
	}
	return (void *)2;
}

START_TEST(test_panic_isolated)
{
	void *res = NULL;

	ck_assert_int_eq(run_default(isolation_root, NULL, &res), 0);
	ck_assert_ptr_eq(res, (void *)2);
}
END_TEST

/* A detached actor's panic: reported on stderr, nobody else disturbed. */
static void *detached_panicker(void *arg)
{
	ck_assert_int_eq(smarm_yield(), 0);
	smarm_panic("detached boom %d", (int)(uintptr_t)arg);
}

static void *detach_panic_root(void *arg)
{
	smarm_spawn_opts o;
	smarm_pid pid, sib;
	void *res = NULL;

	(void)arg;
	atomic_store(&iso_release, 1);
	ck_assert_int_eq(smarm_spawn(&sib, iso_worker, (void *)0), 0);

	smarm_spawn_opts_init(&o);
	o.name = "dname";
	o.flags = SMARM_SPAWN_DETACHED;
	ck_assert_int_eq(smarm_spawn_opt(NULL, detached_panicker, (void *)5,
					 &o), 0);

	smarm_spawn_opts_init(&o);
	o.name = "later";
	ck_assert_int_eq(smarm_spawn_opt(&pid, detached_panicker, (void *)6,
					 &o), 0);
	ck_assert_int_eq(smarm_detach(pid), 0);

	ck_assert_int_eq(smarm_join(sib, &res, SMARM_FOREVER), 0);
	ck_assert_ptr_eq(res, (void *)1000);
	ck_assert_int_eq(atomic_load(&iso_steps[0]), ISO_STEPS);
	return (void *)3;
}

/* Run fn as the root with standard error captured into text; returns
 * what the run returned. */
static int run_capturing(smarm_fn fn, void **res, char *text, size_t size)
{
	FILE *cap = tmpfile();
	int saved, rc;
	size_t n;

	ck_assert_ptr_nonnull(cap);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fileno(cap), STDERR_FILENO), 0);
	rc = run_default(fn, NULL, res);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(cap);
	n = fread(text, 1, size - 1, cap);
	text[n] = '\0';
	fclose(cap);
	return rc;
}

START_TEST(test_panic_detached)
{
	void *res = NULL;
	char text[4096];

	ck_assert_int_eq(run_capturing(detach_panic_root, &res, text,
				       sizeof(text)), 0);
	ck_assert_ptr_eq(res, (void *)3);
	ck_assert_msg(strstr(text, "'dname' panicked: detached boom 5") != NULL,
		      "stderr lacks the detached panic report: \"%s\"", text);
	ck_assert_msg(strstr(text, "'later' panicked: detached boom 6") != NULL,
		      "stderr lacks the detached panic report: \"%s\"", text);
	ck_assert_msg(strstr(text, "smarm: actor ") != NULL,
		      "stderr report not in the documented form: \"%s\"", text);
}
END_TEST

/* Detached after it panicked: reported all the same, once. */
static void *detach_late_root(void *arg)
{
	smarm_spawn_opts o;
	smarm_pid pid;
	uint64_t before = stats_now().exited;

	(void)arg;
	smarm_spawn_opts_init(&o);
	o.name = "late";
	ck_assert_int_eq(smarm_spawn_opt(&pid, detached_panicker, (void *)7,
					 &o), 0);
	wait_exited(before + 1);
	ck_assert_int_eq(smarm_detach(pid), 0);
	ck_assert_int_eq(smarm_detach(pid), ESRCH);
	return NULL;
}

START_TEST(test_panic_detached_late)
{
	char text[4096];

	ck_assert_int_eq(run_capturing(detach_late_root, NULL, text,
				       sizeof(text)), 0);
	ck_assert_msg(strstr(text, "'late' panicked: detached boom 7") != NULL,
		      "stderr lacks the late detach's panic report: \"%s\"",
		      text);
	ck_assert_msg(strstr(strstr(text, "boom 7") + 1, "boom 7") == NULL,
		      "the panic was reported twice: \"%s\"", text);
}
END_TEST

/* ---- identity --------------------------------------------------------------- */

static void *report_self(void *arg)
{
	(void)arg;
	return (void *)(uintptr_t)smarm_self().id;
}

static void *self_root(void *arg)
{
	smarm_pid me = smarm_self(), a, b, c;
	void *ra = NULL, *rb = NULL;

	(void)arg;
	ck_assert(!smarm_pid_eq(me, SMARM_PID_NONE));
	ck_assert_int_eq(smarm_pid_eq(me, me), 1);
	ck_assert_int_eq(smarm_pid_eq(me, smarm_self()), 1);

	ck_assert_int_eq(smarm_spawn(&a, report_self, NULL), 0);
	ck_assert_int_eq(smarm_spawn(&b, report_self, NULL), 0);
	ck_assert_int_eq(smarm_pid_eq(a, b), 0);
	ck_assert_int_eq(smarm_pid_eq(a, me), 0);
	ck_assert_int_eq(smarm_pid_eq(a, SMARM_PID_NONE), 0);
	ck_assert_int_eq(smarm_join(a, &ra, SMARM_FOREVER), 0);
	ck_assert_int_eq(smarm_join(b, &rb, SMARM_FOREVER), 0);
	ck_assert_uint_eq((uintptr_t)ra, a.id);
	ck_assert_uint_eq((uintptr_t)rb, b.id);

	/* a stale pid never aliases a later actor */
	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(smarm_spawn(&c, report_self, NULL), 0);
		ck_assert_int_eq(smarm_pid_eq(c, a), 0);
		ck_assert_int_eq(smarm_pid_eq(c, b), 0);
		ck_assert_int_eq(smarm_join(c, NULL, SMARM_FOREVER), 0);
	}
	return (void *)(uintptr_t)me.id;
}

START_TEST(test_self)
{
	smarm_pid none = SMARM_PID_NONE;
	void *res = NULL;

	ck_assert_uint_eq(none.id, 0);
	ck_assert_int_eq(smarm_pid_eq(SMARM_PID_NONE, SMARM_PID_NONE), 1);
	ck_assert_int_eq(smarm_pid_eq(smarm_self(), SMARM_PID_NONE), 1);
	ck_assert_uint_eq(smarm_self().id, 0);
	{
		smarm_pid x = { 5 }, y = { 5 }, z = { 6 };

		ck_assert_int_eq(smarm_pid_eq(x, y), 1);
		ck_assert_int_eq(smarm_pid_eq(x, z), 0);
	}
	ck_assert_int_eq(run_default(self_root, NULL, &res), 0);
	ck_assert_uint_ne((uintptr_t)res, 0);
	/* outside again */
	ck_assert_int_eq(smarm_pid_eq(smarm_self(), SMARM_PID_NONE), 1);
}
END_TEST

/* ---- names ----------------------------------------------------------------- */

static void *name_child(void *arg)
{
	char buf[SMARM_NAME_MAX + 8];

	ck_assert_int_eq(smarm_name(smarm_self(), buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, (const char *)arg);
	return NULL;
}

static void expect_name(smarm_pid pid, const char *want)
{
	char buf[SMARM_NAME_MAX * 2];

	memset(buf, 'X', sizeof(buf));
	ck_assert_int_eq(smarm_name(pid, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, want);
}

static void *name_root(void *arg)
{
	smarm_spawn_opts o;
	smarm_pid pid;
	char src[64], buf[16];
	char want31[SMARM_NAME_MAX];
	uint64_t ended;

	(void)arg;
	/* the root has no name */
	expect_name(smarm_self(), "");

	/* unnamed: plain spawn, opts NULL, opts with name NULL */
	ck_assert_int_eq(smarm_spawn(&pid, name_child, ""), 0);
	expect_name(pid, "");
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	ck_assert_int_eq(smarm_spawn_opt(&pid, name_child, "", NULL), 0);
	expect_name(pid, "");
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	smarm_spawn_opts_init(&o);
	ck_assert_int_eq(smarm_spawn_opt(&pid, name_child, "", &o), 0);
	expect_name(pid, "");
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);

	/* named; the name is copied at spawn */
	ended = stats_now().exited;
	strcpy(src, "worker-1");
	o.name = src;
	ck_assert_int_eq(smarm_spawn_opt(&pid, name_child, "worker-1", &o), 0);
	strcpy(src, "changed!");
	expect_name(pid, "worker-1");

	/* small buffers: truncated, NUL terminated, nothing written past */
	memset(buf, 'X', sizeof(buf));
	ck_assert_int_eq(smarm_name(pid, buf, 4), 0);
	ck_assert_str_eq(buf, "wor");
	ck_assert_int_eq(buf[4], 'X');
	memset(buf, 'X', sizeof(buf));
	ck_assert_int_eq(smarm_name(pid, buf, 1), 0);
	ck_assert_int_eq(buf[0], '\0');
	ck_assert_int_eq(buf[1], 'X');
	memset(buf, 'X', sizeof(buf));
	ck_assert_int_eq(smarm_name(pid, buf, 9), 0); /* exactly fits */
	ck_assert_str_eq(buf, "worker-1");

	/* errors */
	ck_assert_int_eq(smarm_name(pid, NULL, 16), EINVAL);
	ck_assert_int_eq(smarm_name(pid, buf, 0), EINVAL);
	ck_assert_int_eq(smarm_name(SMARM_PID_NONE, buf, sizeof(buf)), ESRCH);

	/* readable after the actor ended, until it is joined (it is the
	 * only actor alive besides the root) */
	wait_exited(ended + 1);
	expect_name(pid, "worker-1");
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	ck_assert_int_eq(smarm_name(pid, buf, sizeof(buf)), ESRCH);

	/* truncation to SMARM_NAME_MAX - 1 bytes */
	memset(src, 'n', 40);
	src[40] = '\0';
	memset(want31, 'n', SMARM_NAME_MAX - 1);
	want31[SMARM_NAME_MAX - 1] = '\0';
	ck_assert_int_eq(smarm_spawn_opt(&pid, name_child, want31, &o), 0);
	expect_name(pid, want31);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);

	/* exactly SMARM_NAME_MAX - 1 bytes is kept whole */
	src[SMARM_NAME_MAX - 1] = '\0';
	src[0] = 'A';
	src[SMARM_NAME_MAX - 2] = 'Z';
	ck_assert_int_eq(smarm_spawn_opt(&pid, name_child, src, &o), 0);
	expect_name(pid, src);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);

	/* SMARM_NAME_MAX bytes loses its last */
	memset(src, 'm', SMARM_NAME_MAX);
	src[SMARM_NAME_MAX] = '\0';
	memset(want31, 'm', SMARM_NAME_MAX - 1);
	ck_assert_int_eq(smarm_spawn_opt(&pid, name_child, want31, &o), 0);
	expect_name(pid, want31);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	return NULL;
}

static smarm_pid old_pid;

static void *capture_pid(void *arg)
{
	(void)arg;
	old_pid = smarm_self();
	return NULL;
}

START_TEST(test_name)
{
	char buf[SMARM_NAME_MAX];

	run_in_actor(name_root, NULL);
	/* outside an actor */
	run_in_actor(capture_pid, NULL);
	ck_assert_int_eq(smarm_name(old_pid, buf, sizeof(buf)), EPERM);
}
END_TEST

/* ---- spawn options ------------------------------------------------------- */

START_TEST(test_spawn_opts_init)
{
	smarm_spawn_opts o;
	size_t i;

	memset(&o, 0xa5, sizeof(o));
	smarm_spawn_opts_init(&o);
	ck_assert_uint_eq(o.stack_size, 0);
	ck_assert_ptr_null(o.name);
	ck_assert_uint_eq(o.flags, 0);
	for (i = 0; i < sizeof(o.reserved) / sizeof(o.reserved[0]); i++)
		ck_assert_uint_eq(o.reserved[i], 0);
	smarm_spawn_opts_init(NULL); /* no-op */
}
END_TEST

static void *use_stack_actor(void *arg)
{
	return (void *)(uintptr_t)(use_stack((size_t)(uintptr_t)arg) != 0);
}

static void *stack_root(void *arg)
{
	smarm_spawn_opts o;
	void *res = NULL;

	(void)arg;
	smarm_spawn_opts_init(&o);

	o.stack_size = 1024 * 1024;
	ck_assert_int_eq(spawn_join(use_stack_actor, (void *)(700 * 1024), &o,
				    &res), 0);
	ck_assert_ptr_eq(res, (void *)1);

	/* default (256 KiB): opts NULL and stack_size 0 */
	ck_assert_int_eq(spawn_join(use_stack_actor, (void *)(160 * 1024), NULL,
				    &res), 0);
	ck_assert_ptr_eq(res, (void *)1);
	o.stack_size = 0;
	ck_assert_int_eq(spawn_join(use_stack_actor, (void *)(160 * 1024), &o,
				    &res), 0);
	ck_assert_ptr_eq(res, (void *)1);

	/* not a multiple of the page size: rounded up */
	o.stack_size = 100000;
	ck_assert_int_eq(spawn_join(use_stack_actor, (void *)(64 * 1024), &o,
				    &res), 0);
	ck_assert_ptr_eq(res, (void *)1);

	/* the smallest allowed */
	o.stack_size = SMARM_STACK_MIN;
	ck_assert_int_eq(spawn_join(use_stack_actor, (void *)(6 * 1024), &o,
				    &res), 0);
	ck_assert_ptr_eq(res, (void *)1);

	/* 4 MiB */
	o.stack_size = 4 * 1024 * 1024;
	ck_assert_int_eq(spawn_join(use_stack_actor, (void *)(3 * 1024 * 1024),
				    &o, &res), 0);
	ck_assert_ptr_eq(res, (void *)1);
	return NULL;
}

START_TEST(test_stack_size)
{
	run_in_actor(stack_root, NULL);
}
END_TEST

static void *overflow_root(void *arg)
{
	smarm_spawn_opts o;
	smarm_pid pid;
	void *res = NULL;

	(void)arg;
	smarm_spawn_opts_init(&o);
	o.stack_size = 64 * 1024;
	ck_assert_int_eq(smarm_spawn_opt(&pid, use_stack_actor,
					 (void *)(256 * 1024), &o), 0);
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), SMARM_EPANIC);
	ck_assert_msg(strstr(res, "stack overflow") != NULL, "reason: %s",
		      (char *)res);
	free(res);
	return NULL;
}

/* An overflow into the guard page is the actor's panic. */
START_TEST(test_stack_overflow)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;

	smarm_config_init(&cfg);
	cfg.stack_guard = SMARM_GUARD_MPROTECT;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, overflow_root, NULL, NULL), 0);
	smarm_runtime_free(rt);
}
END_TEST

/* The store through NULL is the point: UBSan must let it fault. */
static __attribute__((no_sanitize("undefined"))) void *null_store(void *arg)
{
	*(volatile int *)arg = 1;
	return NULL;
}

static void *fault_root(void *arg)
{
	smarm_pid pid;

	ck_assert_int_eq(smarm_spawn(&pid, null_store, arg), 0);
	smarm_join(pid, NULL, SMARM_FOREVER);
	return NULL;
}

/* Any other fault in an actor keeps its default action: the process
 * dies of SIGSEGV. */
START_TEST(test_other_fault)
{
	/* valgrind reports the store itself, as it should: the signal is
	 * what this test checks, natively. */
	if (RUNNING_ON_VALGRIND)
		raise(SIGSEGV);
	run_in_actor(fault_root, NULL);
	ck_abort_msg("a store through NULL went unpunished");
}
END_TEST

static void on_segv(int sig)
{
	(void)sig;
	_exit(42);
}

/* A handler the program installed before the first runtime still gets
 * every fault that is not a stack overflow. */
START_TEST(test_fault_chained)
{
	struct sigaction sa;

	if (RUNNING_ON_VALGRIND)
		_exit(42); /* valgrind reports the store itself */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_segv;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGSEGV, &sa, NULL), 0);
	run_in_actor(fault_root, NULL);
	ck_abort_msg("a store through NULL went unpunished");
}
END_TEST

static atomic_int opt_ran;

static void *count_run(void *arg)
{
	atomic_fetch_add(&opt_ran, 1);
	return arg;
}

/* The flags SMARM_SPAWN_* do not define: every bit but 0x1 and 0x2. */
static const unsigned bad_flags[] = {
	0x4, 0x8, 0x100, 0x80000000u,
	SMARM_SPAWN_DETACHED | 0x4, SMARM_SPAWN_PINNED | 0x4,
	SMARM_SPAWN_DETACHED | SMARM_SPAWN_PINNED | 0x80000000u, ~0u,
	~(SMARM_SPAWN_DETACHED | SMARM_SPAWN_PINNED)
};

static void *opt_errors_root(void *arg)
{
	smarm_spawn_opts o;
	smarm_pid pid;
	uint64_t spawned;
	size_t i;

	(void)arg;
	spawned = stats_now().spawned;
	smarm_spawn_opts_init(&o);

	o.stack_size = 1;
	ck_assert_int_eq(smarm_spawn_opt(&pid, count_run, NULL, &o), EINVAL);
	o.stack_size = SMARM_STACK_MIN - 1;
	ck_assert_int_eq(smarm_spawn_opt(&pid, count_run, NULL, &o), EINVAL);
	o.stack_size = (size_t)SMARM_STACK_MAX + 1;
	ck_assert_int_eq(smarm_spawn_opt(&pid, count_run, NULL, &o), EINVAL);
	o.stack_size = SIZE_MAX;
	ck_assert_int_eq(smarm_spawn_opt(&pid, count_run, NULL, &o), EINVAL);
	o.stack_size = 0;

	for (i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		o.flags = bad_flags[i];
		ck_assert_msg(smarm_spawn_opt(&pid, count_run, NULL, &o) ==
			      EINVAL, "flags %#x accepted", bad_flags[i]);
		ck_assert_msg(smarm_spawn_opt(NULL, count_run, NULL, &o) ==
			      EINVAL, "flags %#x accepted (pid NULL)",
			      bad_flags[i]);
	}
	o.flags = 0;

	ck_assert_int_eq(smarm_spawn_opt(NULL, count_run, NULL, &o), EINVAL);
	ck_assert_int_eq(smarm_spawn_opt(NULL, count_run, NULL, NULL), EINVAL);
	ck_assert_int_eq(smarm_spawn_opt(&pid, NULL, NULL, &o), EINVAL);
	ck_assert_int_eq(smarm_spawn_opt(&pid, NULL, NULL, NULL), EINVAL);
	/* pinned alone needs a pid, like no flag at all */
	o.flags = SMARM_SPAWN_PINNED;
	ck_assert_int_eq(smarm_spawn_opt(NULL, count_run, NULL, &o), EINVAL);
	ck_assert_int_eq(smarm_spawn_opt(&pid, NULL, NULL, &o), EINVAL);
	o.stack_size = 1;
	ck_assert_int_eq(smarm_spawn_opt(&pid, count_run, NULL, &o), EINVAL);
	o.stack_size = 0;
	o.flags = 0;

	/* nothing was spawned (the counter is exact, wherever an actor
	 * would have run) */
	ck_assert_int_eq(smarm_yield(), 0);
	ck_assert_uint_eq(stats_now().spawned, spawned);
	ck_assert_int_eq(atomic_load(&opt_ran), 0);

	/* DETACHED: pid may be NULL; with a pid the actor is not joinable */
	o.flags = SMARM_SPAWN_DETACHED;
	ck_assert_int_eq(smarm_spawn_opt(NULL, count_run, NULL, &o), 0);
	ck_assert_int_eq(smarm_spawn_opt(&pid, count_run, NULL, &o), 0);
	ck_assert(!smarm_pid_eq(pid, SMARM_PID_NONE));
	ck_assert_int_eq(smarm_join(pid, NULL, 0), ESRCH);
	while (atomic_load(&opt_ran) < 2)
		ck_assert_int_eq(smarm_yield(), 0);
	ck_assert_int_eq(atomic_load(&opt_ran), 2);
	ck_assert_uint_eq(stats_now().spawned, spawned + 2);
	return NULL;
}

START_TEST(test_spawn_opt_errors)
{
	smarm_spawn_opts o;
	smarm_pid pid;

	run_in_actor(opt_errors_root, NULL);
	ck_assert_int_eq(atomic_load(&opt_ran), 2);

	/* outside an actor */
	smarm_spawn_opts_init(&o);
	ck_assert_int_eq(smarm_spawn_opt(&pid, count_run, NULL, &o), EPERM);
	o.flags = SMARM_SPAWN_DETACHED;
	ck_assert_int_eq(smarm_spawn_opt(NULL, count_run, NULL, &o), EPERM);
	o.flags = SMARM_SPAWN_PINNED;
	ck_assert_int_eq(smarm_spawn_opt(&pid, count_run, NULL, &o), EPERM);
	o.flags = SMARM_SPAWN_PINNED | SMARM_SPAWN_DETACHED;
	ck_assert_int_eq(smarm_spawn_opt(NULL, count_run, NULL, &o), EPERM);
	ck_assert_int_eq(atomic_load(&opt_ran), 2);
}
END_TEST

/* SMARM_SPAWN_PINNED is a valid flag, alone or with DETACHED, with every
 * other option; a pinned actor is an actor like any other (joined, named,
 * its result and panic reported).  Where it runs: check_sched's "pinned"
 * tests. */
static pthread_t pin_spawner_thread;
static atomic_int pin_wrong_thread, pin_detached_ran;

static void *pinned_child(void *arg)
{
	char buf[SMARM_NAME_MAX];

	if (!pthread_equal(os_thread(), pin_spawner_thread))
		atomic_fetch_add(&pin_wrong_thread, 1);
	ck_assert_int_eq(smarm_yield(), 0);
	if (!pthread_equal(os_thread(), pin_spawner_thread))
		atomic_fetch_add(&pin_wrong_thread, 1);
	if (arg == (void *)1) {
		ck_assert_int_eq(smarm_name(smarm_self(), buf, sizeof(buf)),
				 0);
		ck_assert_str_eq(buf, "pinned-one");
	}
	if (arg == (void *)2)
		smarm_panic("pinned panic %d", 2);
	if (arg == (void *)3)
		atomic_fetch_add(&pin_detached_ran, 1);
	return (void *)((uintptr_t)arg + 100);
}

static void *pinned_flags_root(void *arg)
{
	smarm_spawn_opts o;
	smarm_pid pid;
	void *res = NULL;

	(void)arg;
	smarm_spawn_opts_init(&o);
	o.flags = SMARM_SPAWN_PINNED;
	o.name = "pinned-one";
	o.stack_size = 64 * 1024;
	/* no switch between here and the spawns: this is the worker */
	pin_spawner_thread = os_thread();
	ck_assert_int_eq(smarm_spawn_opt(&pid, pinned_child, (void *)1, &o),
			 0);
	ck_assert(!smarm_pid_eq(pid, SMARM_PID_NONE));
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), 0);
	ck_assert_ptr_eq(res, (void *)101);

	o.name = NULL;
	o.stack_size = 0;
	pin_spawner_thread = os_thread();
	ck_assert_int_eq(smarm_spawn_opt(&pid, pinned_child, (void *)2, &o),
			 0);
	res = NULL;
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), SMARM_EPANIC);
	ck_assert_str_eq((char *)res, "pinned panic 2");
	free(res);

	/* pinned and detached: pid NULL or not, never joinable */
	o.flags = SMARM_SPAWN_PINNED | SMARM_SPAWN_DETACHED;
	pin_spawner_thread = os_thread();
	ck_assert_int_eq(smarm_spawn_opt(NULL, pinned_child, (void *)3, &o),
			 0);
	ck_assert_int_eq(smarm_spawn_opt(&pid, pinned_child, (void *)3, &o),
			 0);
	ck_assert_int_eq(smarm_join(pid, NULL, 0), ESRCH);
	ck_assert_int_eq(smarm_detach(pid), ESRCH);
	/* a pinned actor detached later */
	o.flags = SMARM_SPAWN_PINNED;
	ck_assert_int_eq(smarm_spawn_opt(&pid, pinned_child, (void *)3, &o),
			 0);
	ck_assert_int_eq(smarm_detach(pid), 0);
	ck_assert_int_eq(smarm_join(pid, NULL, 0), ESRCH);
	return NULL;
}

START_TEST(test_spawn_opt_pinned)
{
	run_in_actor(pinned_flags_root, NULL);
	/* the run waited for the detached ones */
	ck_assert_int_eq(atomic_load(&pin_detached_ran), 3);
	ck_assert_int_eq(atomic_load(&pin_wrong_thread), 0);
	ck_assert_int_eq(SMARM_SPAWN_PINNED, 0x2);
	ck_assert_int_eq(SMARM_SPAWN_DETACHED, 0x1);
}
END_TEST

/* ---- misuse outside an actor ------------------------------------------- */

START_TEST(test_exit_outside)
{
	smarm_exit((void *)1);
}
END_TEST

START_TEST(test_panic_outside)
{
	smarm_panic("not in an actor: %d", 3);
}
END_TEST

/* After a runtime ran and ended, the calling thread is outside again. */
START_TEST(test_exit_outside_after_run)
{
	run_in_actor(return_arg, NULL);
	smarm_exit(NULL);
}
END_TEST

/* ---- suite ---------------------------------------------------------------- */

static Suite *actor_suite(void)
{
	Suite *s = suite_create("actor");
	TCase *tc;

	tc = tcase_add(s, "spawn");
	tcase_add_test(tc, test_spawn_return);
	tcase_add_test(tc, test_exit_nested);

	tc = tcase_add(s, "panic");
	tcase_add_test(tc, test_panic_reason);
	tcase_add_test(tc, test_panic_isolated);
	tcase_add_test(tc, test_panic_detached);
	tcase_add_test(tc, test_panic_detached_late);

	tc = tcase_add(s, "self");
	tcase_add_test(tc, test_self);

	tc = tcase_add(s, "name");
	tcase_add_test(tc, test_name);

	tc = tcase_add(s, "spawn_opt");
	tcase_add_test(tc, test_spawn_opts_init);
	tcase_add_test(tc, test_stack_size);
	tcase_add_test(tc, test_stack_overflow);
	tcase_add_test_raise_signal(tc, test_other_fault, SIGSEGV);
	tcase_add_exit_test(tc, test_fault_chained, 42);
	tcase_add_test(tc, test_spawn_opt_errors);
	tcase_add_test(tc, test_spawn_opt_pinned);

	tc = tcase_add(s, "outside");
	tcase_add_test_raise_signal(tc, test_exit_outside, SIGABRT);
	tcase_add_test_raise_signal(tc, test_panic_outside, SIGABRT);
	tcase_add_test_raise_signal(tc, test_exit_outside_after_run, SIGABRT);

	return s;
}

int main(void)
{
	return run_suite(actor_suite());
}
