/*
 * testutil.h - what the Check suites share: the common includes, a few
 * constants, small helpers, and the suite plumbing (one TCase per feature,
 * each with the same timeout; a main that runs the suite).
 *
 * Header-only (static functions), so no test links another object.  Include
 * it first: it sets _GNU_SOURCE before any system header.  A suite whose
 * tests need longer than TIMEOUT defines its own before including it.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#ifndef SMARM_TESTUTIL_H
#define SMARM_TESTUTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <smarm.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* valgrind's client requests where the headers are installed; harmless
 * stand-ins elsewhere. */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_VG 1
#endif
#endif
#ifndef HAVE_VG
#define RUNNING_ON_VALGRIND 0
#define VALGRIND_MAKE_MEM_UNDEFINED(p, n) ((void)(p), (void)(n))
#endif

/* SANITIZED: built with AddressSanitizer or ThreadSanitizer
 * (--enable-sanitizers; fiber.h tells which). */
#include "fiber.h"
#if defined(SMARM__ASAN) || defined(SMARM__TSAN)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif
#ifdef SMARM__TSAN
#define TSAN_BUILD 1
#else
#define TSAN_BUILD 0
#endif

/* An assertion for hot loops: Check's own ck_assert_* record every passing
 * assertion (a write to the runner, a system call each), which would
 * dominate such loops; this one costs nothing until it fails. */
#define REQUIRE_MSG(cond, ...)                  \
	do {                                    \
		if (!(cond))                    \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

/* Queue elements in the queue suites: tokens 1, 2, 3, ... (never 0: NULL
 * means "empty"). */
/* Entries of a /proc directory (/proc/self/fd, /proc/self/task), "."
 * and ".." not counted; an open fd directory counts its own fd. */
static inline int dir_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static inline void *tok(uint64_t x)
{
	return (void *)(uintptr_t)x;
}

static inline uint64_t untok(void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* The monotonic clock, in nanoseconds and in milliseconds. */
static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t now_ms(void)
{
	return mono_ns() / 1000000u;
}

/* Sleep the calling OS thread (a plain thread, or a worker itself) for
 * us microseconds. */
static inline void nap_us(unsigned us)
{
	struct timespec ts = { us / 1000000u, (long)(us % 1000000u) * 1000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Let others run a little: a short sleep in an actor, a nap elsewhere. */
static inline void breathe(void)
{
	if (smarm_sleep(20 * 1000) == EPERM)
		nap_us(20);
}

/* Wait, letting others run, until cond holds; fail after limit ns. */
#define AWAIT_WITHIN(cond, limit)                                          \
	do {                                                               \
		uint64_t await_t0_ = mono_ns();                            \
		while (!(cond)) {                                          \
			if (mono_ns() - await_t0_ > (limit))               \
				ck_abort_msg("still false after %llu s: %s", \
					     (unsigned long long)((limit) / \
						     1000000000u), #cond); \
			breathe();                                         \
		}                                                          \
	} while (0)

/* Busy-wait n pause instructions. */
static inline void spin(unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		__builtin_ia32_pause();
}

/* A queue stress run's count of token x: +1 for each take. */
static inline void take(unsigned char *count, uint64_t x)
{
	__atomic_fetch_add(&count[x], 1, __ATOMIC_RELAXED);
}

/*
 * The end of a queue stress run: the owner has pushed a last element and
 * waits until the thieves have taken something (*thefts, updated with
 * __atomic builtins) or the queue is empty (left(q) == 0); 30 s at most.
 * Natively the thieves race the owner all along and this returns at once.
 * Under valgrind the threads take turns and sched_yield need not hand the
 * CPU over, so the thieves may not have had a turn yet; a nap does hand
 * it over.  A check that they took part then tells about the queue, not
 * about the turns.
 */
static inline void wait_thieves(const long *thefts, size_t (*left)(void *),
				void *q)
{
	struct timespec ms = { 0, 1000000 };
	int i;

	for (i = 0; i < 30000 && __atomic_load_n(thefts, __ATOMIC_RELAXED) == 0 &&
		    left(q) != 0;
	     i++)
		nanosleep(&ms, NULL);
}

/* One millisecond in nanoseconds, smarm's unit of time. */
#define MS (1000ull * 1000ull)

/* Seconds each test may take (every TCase of a suite gets the same). */
#ifndef TIMEOUT
#define TIMEOUT 60
#endif

/* Run fn(arg) as the root actor of a fresh runtime made from
 * smarm_config_init's defaults (so SMARM_THREADS reaches every suite);
 * returns what smarm_runtime_run returned, the root's result in *res. */
static inline int run_default(smarm_fn fn, void *arg, void **res)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	int err;

	smarm_config_init(&cfg);
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	err = smarm_runtime_run(rt, fn, arg, res);
	smarm_runtime_free(rt);
	return err;
}

/* The same; the root must end normally. */
static inline void run_in_actor(smarm_fn fn, void *arg)
{
	void *res = NULL;

	ck_assert_int_eq(run_default(fn, arg, &res), 0);
}

/*
 * Multi-worker runtimes (SMARM_THREADS=2 and up) run actors in parallel
 * and in no promised order.  Tests whose subject is what happens among
 * the actors of ONE worker (a yield lets a sibling run, a preemption point
 * yields, a sleeper frees its worker) pin every actor involved with
 * SMARM_SPAWN_PINNED: pinned actors spawned one after the other, with no
 * switch in between, share their spawner's worker for good, whatever the
 * number of workers.
 */

/* Spawn fn(arg) pinned to the calling actor's worker. */
static inline int spawn_pinned(smarm_pid *pid, smarm_fn fn, void *arg)
{
	smarm_spawn_opts o;

	smarm_spawn_opts_init(&o);
	o.flags = SMARM_SPAWN_PINNED;
	return smarm_spawn_opt(pid, fn, arg, &o);
}

/* In an actor: the calls most tests make, each required to succeed. */
static inline void chan_ok(smarm_tx **tx, smarm_rx **rx, size_t elem_size)
{
	*tx = NULL;
	*rx = NULL;
	ck_assert_int_eq(smarm_channel(tx, rx, elem_size), 0);
	ck_assert_ptr_nonnull(*tx);
	ck_assert_ptr_nonnull(*rx);
}

static inline void spawn_ok(smarm_pid *pid, smarm_fn fn, void *arg)
{
	ck_assert_int_eq(smarm_spawn(pid, fn, arg), 0);
}

static inline void spawn_pinned_ok(smarm_pid *pid, smarm_fn fn, void *arg)
{
	ck_assert_int_eq(spawn_pinned(pid, fn, arg), 0);
}

/* Spawn fn(arg) under a name (smarm_dump and the panic report show it). */
static inline smarm_pid spawn_named(const char *name, smarm_fn fn, void *arg)
{
	smarm_spawn_opts o;
	smarm_pid pid;

	smarm_spawn_opts_init(&o);
	o.name = name;
	ck_assert_int_eq(smarm_spawn_opt(&pid, fn, arg, &o), 0);
	return pid;
}

/* Join pid without a time limit; return its result. */
static inline void *join_ok(smarm_pid pid)
{
	void *res = NULL;

	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), 0);
	return res;
}

struct pinned_call {
	smarm_fn fn;
	void *arg;
	void *res;
};

/* In an actor: run fn(arg) in a pinned actor spawned on this worker, wait
 * for it to end, return its result. */
static inline void *pinned_join(smarm_fn fn, void *arg)
{
	smarm_pid pid;
	void *res = NULL;

	ck_assert_int_eq(spawn_pinned(&pid, fn, arg), 0);
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), 0);
	return res;
}

static inline void *pinned_call_root(void *p)
{
	struct pinned_call *c = p;

	c->res = pinned_join(c->fn, c->arg);
	return NULL;
}

/* run_in_actor, with fn(arg) in a pinned actor that the root spawns and
 * joins (the root stays parked meanwhile): fn and the actors it spawns
 * with spawn_pinned() all run on one worker.  Returns fn's result. */
static inline void *run_pinned(smarm_fn fn, void *arg)
{
	struct pinned_call c = { fn, arg, NULL };

	run_in_actor(pinned_call_root, &c);
	return c.res;
}

/* The counters of the runtime running (or last run), which must exist. */
static inline smarm_stats stats_now(void)
{
	smarm_stats st;

	ck_assert_int_eq(smarm_stats_get(&st), 0);
	return st;
}

/* In an actor: yield until at least n actors of the runtime have ended.
 * An actor is counted only after its slot records the end (joinable with
 * timeout 0, its result set), so this is how a test knows that an actor
 * running on another worker has ended, not merely got close to its end:
 * a flag it sets just before returning says nothing with 2+ workers. */
static inline void wait_exited(uint64_t n)
{
	while (stats_now().exited < n)
		ck_assert_int_eq(smarm_yield(), 0);
}

/*
 * The calling OS thread, read afresh.  pthread_self() is declared const,
 * so the compiler may reuse the value of one call after a call that can
 * move the actor to another worker thread (smarm(7), CAVEATS); a call
 * through a volatile pointer cannot be reused.  Tests that check which
 * thread an actor runs on use this.
 */
static pthread_t (*volatile pthread_self_fresh)(void)
	__attribute__((unused)) = pthread_self;

static inline pthread_t os_thread(void)
{
	return pthread_self_fresh();
}

/* An actor that returns its argument. */
static inline void *return_arg(void *arg)
{
	return arg;
}

/* Uses at least `bytes` of stack, touching every page on the way down.
 * Never inlined, so not `inline`: `unused` spares the suites without it
 * the warning. */
static __attribute__((noinline, unused)) unsigned long use_stack(size_t bytes)
{
	volatile unsigned char buf[1024];
	unsigned long sum;
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(bytes + i);
	sum = buf[0];
	if (bytes > sizeof(buf))
		sum += use_stack(bytes - sizeof(buf));
	return sum + buf[sizeof(buf) - 1];
}

/* A small deterministic generator (xorshift64*), for tests that need
 * repeatable pseudo-random sequences. */
static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static __attribute__((unused)) uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* A new TCase called name, with the suite's TIMEOUT, added to s. */
static inline TCase *tcase_add(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, TIMEOUT);
	suite_add_tcase(s, tc);
	return tc;
}

/* Run every test of s and free it.  Returns main's exit status:
 * EXIT_SUCCESS only when no test failed. */
static inline int run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif /* SMARM_TESTUTIL_H */
