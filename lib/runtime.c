/*
 * runtime.c - configuration, the runtime's life cycle (its workers'
 * threads started and stopped), the public run calls, the version.
 *
 * Owns: smarm_config, struct smarm_runtime's life, the worker threads,
 * smarm_shutdown.
 * May touch: actor.h (the root actor, what a run leaves), guard.h (each
 * worker thread's alternate signal stack), idle.h (the
 * worker's loop), poll.h and blocking.h (the poller and the helper
 * threads of a run), mailbox.h (cancelling everyone at a shutdown),
 * sched.h (set-up of the workers), watch.h (a run's watcher: the dump
 * signal, the watchdog), limit.h (naming a limit a run or a spawn ran
 * into), and below.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "smarm.h"
#include "actor.h"
#include "atomic.h"
#include "blocking.h"
#include "guard.h"
#include "idle.h"
#include "limit.h"
#include "lock.h"
#include "mailbox.h"
#include "poll.h"
#include "sched.h"
#include "watch.h"

/* One runtime runs at a time in a process: set while one does. */
static smarm__atomic running_any = SMARM__ATOMIC_INIT(0);
/* Runs ended in this process, and how the last one ended: a plain
 * thread's smarm_shutdown waits for the count to move. */
static smarm__atomic runs_ended = SMARM__ATOMIC_INIT(0);
static smarm__atomic last_end = SMARM__ATOMIC_INIT(0);


/* ---- the worker threads ---------------------------------------------------- */

/* One started worker thread. */
struct smarm__thread {
	smarm_runtime *rt;
	unsigned i;
	pthread_t id;
	smarm__altstack as;   /* where its stack overflows are handled */
};

static void *worker_thread(void *p)
{
	struct smarm__thread *t = p;
	smarm_runtime *rt = t->rt;

	/* Wait for the gate: the root actor exists, or the run was called
	 * off. */
	while (smarm__atomic_u32_load_acquire(&rt->gate) == 0)
		syscall(SYS_futex, &rt->gate.v, FUTEX_WAIT_PRIVATE, 0, NULL,
			NULL, 0);
	if (smarm__atomic_load_acquire(&rt->done) == SMARM__RUN_GOING) {
		/* Without an alternate stack, an overflow stops the process
		 * as it would without smarm. */
		(void)smarm__guard_thread_begin(&t->as);
		smarm__idle_work(rt, t->i);
		smarm__guard_thread_end(&t->as);
	}
	return NULL;
}

/* Start the workers other than the caller, with every asynchronous signal
 * blocked: signals for the process go to threads the program made.
 * *started says how many threads were started. */
static int start_workers(smarm_runtime *rt, unsigned *started)
{
	sigset_t all, old;
	unsigned i;
	int err = 0;

	smarm__sigset_async(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 1; i < rt->nworkers; i++) {
		rt->threads[i].rt = rt;
		rt->threads[i].i = i;
		err = pthread_create(&rt->threads[i].id, NULL, worker_thread,
				     &rt->threads[i]);
		if (err)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	*started = i - 1;
	if (err == 0)
		return 0;
	smarm__limit_hit(&rt->limits_said, SMARM__LIMIT_THREADS,
			 "smarm_runtime_run", 0);
	return EAGAIN;
}

static void open_gate(smarm_runtime *rt)
{
	smarm__atomic_u32_store_release(&rt->gate, 1);
	syscall(SYS_futex, &rt->gate.v, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL,
		NULL, 0);
}

static void join_workers(smarm_runtime *rt, unsigned started)
{
	unsigned i;

	for (i = 1; i <= started; i++)
		pthread_join(rt->threads[i].id, NULL);
}

/* Run fn(arg) as the root actor until every actor has ended; on success
 * *result and *panicked describe the root's end. */
static int run(smarm_runtime *rt, smarm_fn fn, void *arg, void **result,
	       int *panicked)
{
	smarm_pid root;
	unsigned started;
	int err;

	smarm__idle_prepare(rt);
	smarm__poll_prepare(rt);
	smarm__atomic_u32_store_relaxed(&rt->gate, 0);
	err = start_workers(rt, &started);
	if (err == 0)
		err = smarm__watch_start(rt);
	/* The caller is worker 0: the root is spawned from it. */
	smarm__idle_adopt(rt, 0);
	if (err == 0)
		err = smarm__actor_spawn(smarm__worker_self(), fn, arg, 0,
					 NULL, SMARM__SPAWN_ROOT, &root);
	smarm__idle_leave();
	if (err) {
		smarm__atomic_store_release(&rt->done, SMARM__RUN_ABORTED);
		open_gate(rt);
		join_workers(rt, started);
		smarm__watch_stop(rt);
		return err;
	}
	open_gate(rt);
	(void)smarm__guard_thread_begin(&rt->threads[0].as);
	smarm__idle_work(rt, 0);
	smarm__guard_thread_end(&rt->threads[0].as);
	join_workers(rt, rt->nworkers - 1);
	smarm__watch_stop(rt);
	smarm__pool_stop(rt);
	switch (smarm__atomic_load_acquire(&rt->done)) {
	case SMARM__RUN_DEADLOCK:
		err = EDEADLK;
		break;
	case SMARM__RUN_SHUTDOWN:
		err = ETIMEDOUT;
		break;
	default:
		err = 0;
	}
	if (err == 0)
		smarm__actor_root_result(rt, root, result, panicked);
	smarm__idle_release(rt);
	smarm__actor_reap(rt);
	return err;
}

/* The CPUs this process may run on, capped at SMARM_THREADS_MAX. */
static unsigned cpus_allowed(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 1;
	n = CPU_COUNT(&set);
	if (n < 1)
		return 1;
	return (unsigned)n > SMARM_THREADS_MAX ? SMARM_THREADS_MAX : (unsigned)n;
}

/* The environment variable name, when it is a decimal number from lo to
 * hi; else 0. */
static unsigned long env_number(const char *name, unsigned long lo,
				unsigned long hi)
{
	const char *e = getenv(name);
	char *end;
	unsigned long n;

	if (e == NULL || *e < '0' || *e > '9')
		return 0;
	errno = 0;
	n = strtoul(e, &end, 10);
	if (errno || *end != '\0' || n < lo || n > hi)
		return 0;
	return n;
}

/* SMARM_THREADS, when it is a number from 1 to SMARM_THREADS_MAX. */
static unsigned threads_from_env(void)
{
	return (unsigned)env_number("SMARM_THREADS", 1, SMARM_THREADS_MAX);
}

/* SMARM_WATCHDOG_MS, when it is a number of milliseconds (else 0: off). */
static unsigned watchdog_from_env(void)
{
	return (unsigned)env_number("SMARM_WATCHDOG_MS", 0, INT32_MAX);
}

static int guard_from_env(void)
{
	const char *e = getenv("SMARM_STACK_GUARD");

	if (e == NULL)
		return SMARM_GUARD_AUTO;
	if (strcmp(e, "madvise") == 0)
		return SMARM_GUARD_MADVISE;
	if (strcmp(e, "mprotect") == 0)
		return SMARM_GUARD_MPROTECT;
	if (strcmp(e, "canary") == 0)
		return SMARM_GUARD_CANARY;
	return SMARM_GUARD_AUTO;
}

/* SMARM_MAX_ACTORS: the most slots of the pid table, in whole chunks
 * (of SMARM__CHUNK_SLOTS); SMARM__MAX_CHUNKS when unset or not a
 * number from 1 up. */
static uint32_t max_chunks_from_env(void)
{
	unsigned long n = env_number("SMARM_MAX_ACTORS", 1, ULONG_MAX);

	if (n == 0)
		return SMARM__MAX_CHUNKS;
	n = n / SMARM__CHUNK_SLOTS + (n % SMARM__CHUNK_SLOTS != 0);
	return n > SMARM__MAX_CHUNKS ? SMARM__MAX_CHUNKS : (uint32_t)n;
}

void smarm_config_init(smarm_config *cfg)
{
	if (cfg == NULL)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->threads = threads_from_env();
	if (cfg->threads == 0)
		cfg->threads = cpus_allowed();
	cfg->stack_guard = guard_from_env();
	cfg->stack_size = SMARM_STACK_DEFAULT;
	cfg->preempt_budget = SMARM_PREEMPT_DEFAULT;
	cfg->watchdog_ms = watchdog_from_env();
}

int smarm_runtime_new(smarm_runtime **rtp, const smarm_config *cfg)
{
	smarm_config def;
	smarm_runtime *rt;
	size_t i;
	int err;

	if (rtp == NULL)
		return EINVAL;
	if (cfg == NULL) {
		smarm_config_init(&def);
		cfg = &def;
	}
	for (i = 0; i < sizeof(cfg->reserved) / sizeof(cfg->reserved[0]); i++)
		if (cfg->reserved[i])
			return EINVAL; /* a field from a later version */
	if (cfg->reserved_u != 0 || cfg->watchdog_ms > INT32_MAX)
		return EINVAL;
	if (cfg->threads == 0 || cfg->threads > SMARM_THREADS_MAX ||
	    cfg->io_threads > SMARM_IO_THREADS_MAX ||
	    cfg->stack_size < SMARM_STACK_MIN ||
	    cfg->stack_size > SMARM_STACK_MAX ||
	    cfg->stack_guard < SMARM_GUARD_AUTO ||
	    cfg->stack_guard > SMARM_GUARD_CANARY)
		return EINVAL;
	/* Aligned as its type asks: the worker's cross-thread fields sit on
	 * their own cache line. */
	err = smarm__guard_init();
	if (err)
		return err;
	rt = aligned_alloc(_Alignof(smarm_runtime), sizeof(*rt));
	if (rt == NULL)
		return ENOMEM;
	memset(rt, 0, sizeof(*rt));
	rt->cfg = *cfg;
	err = smarm__stack_pool_init(&rt->stacks, cfg->stack_guard,
				     cfg->stack_size);
	rt->stacks.said = &rt->limits_said;
	if (err == 0)
		err = smarm__pidtab_init(&rt->pids);
	rt->pids.said = &rt->limits_said;
	if (err == 0)
		err = smarm__idle_init(rt);
	if (err == 0) {
		rt->pids.max_chunks = max_chunks_from_env();
		err = smarm__poll_init(rt);
		if (err == EMFILE)
			smarm__limit_hit(&rt->limits_said, SMARM__LIMIT_FILES,
					 "smarm_runtime_new", 0);
	}
	if (err == 0) {
		rt->threads = calloc(cfg->threads, sizeof(*rt->threads));
		if (rt->threads == NULL)
			err = ENOMEM;
	}
	if (err) {
		if (err == ENOMEM)
			smarm__limit_nomem(&rt->limits_said,
					   "smarm_runtime_new");
		free(rt->threads);
		smarm__poll_fini(rt);
		smarm__idle_fini(rt);
		smarm__pidtab_fini(&rt->pids);
		smarm__stack_pool_fini(&rt->stacks);
		free(rt);
		return err;
	}
	*rtp = rt;
	return 0;
}

int smarm_runtime_run(smarm_runtime *rt, smarm_fn fn, void *arg,
		      void **result)
{
	void *res = NULL;
	int panicked = 0, err;
	sigset_t mask;

	if (rt == NULL || fn == NULL)
		return EINVAL;
	if (smarm__worker_self() != NULL)
		return EPERM;
	/* Full barrier: everything the previous run wrote is visible to this
	 * thread before it touches the runtime, and ours to the next. */
	if (!smarm__atomic_cas_full(&running_any, 0, 1))
		return EBUSY;
	smarm__atomic_store_release(&rt->running, 1);
	smarm__reach_set(rt);
	/* smarm_signal_wait may block signals in this thread for the run. */
	pthread_sigmask(SIG_SETMASK, NULL, &mask);
	err = run(rt, fn, arg, &res, &panicked);
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	smarm__atomic_store_release(&last_end,
				    smarm__atomic_load_acquire(&rt->done));
	smarm__atomic_fetch_add_full(&runs_ended, 1);
	smarm__atomic_store_release(&rt->running, 0);
	smarm__atomic_store_release(&running_any, 0);
	if (err)
		return err;
	if (result)
		*result = res;
	else if (panicked)
		free(res);
	return panicked ? SMARM_EPANIC : 0;
}

void smarm_runtime_free(smarm_runtime *rt)
{
	if (rt == NULL)
		return;
	if (smarm__atomic_load_acquire(&rt->running)) {
		fputs("smarm: smarm_runtime_free() on a running runtime "
		      "refused\n", stderr);
		return;
	}
	smarm__reach_clear(rt);
	free(rt->threads);
	smarm__poll_fini(rt);
	smarm__idle_fini(rt);
	smarm__pidtab_fini(&rt->pids);
	smarm__stack_pool_fini(&rt->stacks);
	free(rt);
}

int smarm_run(smarm_fn fn, void *arg, void **result)
{
	smarm_config cfg;
	smarm_runtime *rt;
	int err;

	if (fn == NULL)
		return EINVAL;
	if (smarm__worker_self() != NULL)
		return EPERM;
	smarm_config_init(&cfg);
	cfg.threads = 1;
	err = smarm_runtime_new(&rt, &cfg);
	if (err)
		return err;
	err = smarm_runtime_run(rt, fn, arg, result);
	smarm_runtime_free(rt);
	return err;
}

/* When a shutdown of this timeout, asked now, gives up (never 0). */
static uint64_t shutdown_end(uint64_t timeout)
{
	uint64_t now = smarm_now();

	return timeout >= UINT64_MAX - now ? UINT64_MAX : now + timeout + 1;
}

/* A plain thread waits for the run to end, a little past the shutdown's
 * time (at): 0, or ETIMEDOUT when some actor did not end in time. */
static int shutdown_wait(AO_t runs, uint64_t at)
{
	struct timespec ms = { 0, 1000000 };

	while (smarm__atomic_load_acquire(&runs_ended) == runs) {
		if (at != UINT64_MAX && smarm_now() > at + 100000000u)
			return ETIMEDOUT; /* a worker does not switch */
		nanosleep(&ms, NULL);
	}
	return smarm__atomic_load_acquire(&last_end) == SMARM__RUN_SHUTDOWN ?
		ETIMEDOUT : 0;
}

int smarm_shutdown(uint64_t timeout)
{
	smarm__worker *w = smarm__worker_at_entry();
	smarm_runtime *rt = w ? smarm__worker_rt(w) : smarm__reach_take();
	uint64_t at = shutdown_end(timeout);
	AO_t old, runs = smarm__atomic_load_acquire(&runs_ended);

	if (rt == NULL || !smarm__atomic_load_acquire(&rt->running) ||
	    smarm__atomic_load_acquire(&rt->done) != SMARM__RUN_GOING) {
		if (w == NULL)
			smarm__reach_drop();
		return ESRCH;
	}
	/* The earliest time asked for stands. */
	do
		old = smarm__atomic_load_acquire(&rt->shutdown_at);
	while ((old == 0 || at < old) &&
	       !smarm__atomic_cas_full(&rt->shutdown_at, old, at));
	smarm__cancel_all(rt);
	/* Sleepers look again, now with the shutdown's time. */
	smarm__idle_rouse_all(rt);
	if (w)
		return 0;
	smarm__reach_drop();
	return shutdown_wait(runs, at);
}

int smarm_stats_get(smarm_stats *out)
{
	smarm_runtime *rt;

	if (out == NULL)
		return EINVAL;
	rt = smarm__reach_take();
	if (rt)
		smarm__idle_stats(rt, out);
	smarm__reach_drop();
	return rt ? 0 : ESRCH;
}

unsigned smarm_version(void)
{
	return SMARM_VERSION_HEX;
}

#define STR_(x) #x
#define STR(x) STR_(x)

const char *smarm_version_string(void)
{
	return STR(SMARM_VERSION_MAJOR) "." STR(SMARM_VERSION_MINOR) "."
		STR(SMARM_VERSION_PATCH);
}
