/*
 * sched.h - workers, their run queues, park/unpark, and the runtime.
 *
 * A runtime has `threads` workers: the thread that calls
 * smarm_runtime_run is worker 0, the others are threads started for the
 * run.  Each worker runs actors from, in order of preference:
 *
 *   runnext   one actor to run next: the one its current actor just woke
 *             or spawned, so a message's receiver runs right after its
 *             sender parks;
 *   dq        what runnext held before (deque.h), newest first, so that a
 *             spawning tree unfolds depth first; idle workers steal its
 *             oldest, the biggest piece of a tree;
 *   runq      its run queue (runq.h) of actors that yielded, timed out or
 *             were woken from elsewhere, oldest first; idle workers steal
 *             half of it;
 *   pinned    actors spawned with SMARM_SPAWN_PINNED, which never leave;
 *
 * and, when those run dry, from its inbox (wakes that other threads
 * addressed to it), the global queue (wakes from plain threads, a full
 * run queue's overflow) and other workers' run queues.  A worker with
 * nothing to do spins briefly, then sleeps on a futex until work arrives.
 *
 * An actor that yields, parks or ends switches straight to the next
 * runnable actor; only when none is local does it switch to its worker's
 * own context, which looks further and sleeps.
 */
#ifndef SMARM_SCHED_H
#define SMARM_SCHED_H

#include <pthread.h>
#include <stdint.h>

#include "smarm.h"
#include "actor.h"
#include "atomic.h"
#include "deque.h"
#include "lock.h"
#include "mpscq.h"
#include "pid.h"
#include "runq.h"
#include "stack.h"
#include "timer.h"

/* Free slots a worker keeps for spawns without the table's lock. */
#define SMARM__SLOT_CACHE 64u

/* Counters, written by their worker only (relaxed load + store, no
 * read-modify-write), read by anyone. */
typedef struct smarm__wstats {
	smarm__atomic spawned, exited, panicked, switches, steals, parks,
		wakeups, messages;
} smarm__wstats;

typedef struct smarm__worker {
	/* Its own thread's. */
	struct smarm__actor *current; /* running actor; NULL in the worker */
	struct smarm__actor *prev;    /* switched away from, see after_switch */
	unsigned prev_op;
	void *sp;                     /* the worker context, while actors run */
	SMARM__FIBER_FIELD            /* ThreadSanitizer builds only */
	struct smarm__actor *pin_head, *pin_tail; /* runnable pinned actors */
	uint32_t tick;                /* scheduling decisions */
	uint32_t nnext;               /* runnext picks in a row */
	unsigned budget;              /* preemption budget of each actor */
	unsigned id;
	int spinning;                 /* counted in rt->nspinning */
	int alone;                    /* the runtime's only worker */
	uint64_t rng;                 /* victim order */
	struct smarm__worker *watch;  /* a worker whose runnext looks stuck */
	AO_t watch_switches;
	smarm__timers timers;
	smarm__stack_cache stacks;
	smarm__slot *slots[SMARM__SLOT_CACHE];
	unsigned nslots;
	struct smarm_runtime *rt;
	pthread_t thread;
	/* Read by other workers. */
	smarm__wstats st;
	smarm__atomic chan_waiters;   /* actors parked in recv, +/- per worker */
	smarm__atomic ntimers;        /* timers.n, published before sleeping */
	/* Stolen from. */
	smarm__atomic runnext __attribute__((aligned(64)));
	smarm__deque dq;
	smarm__runq rq;
	/* Written by other threads: actors they woke for this worker, and the
	 * sleep handshake (see idle_sleep in sched.c). */
	smarm__mpscq inbox __attribute__((aligned(64)));
	smarm__mpscq_node inbox_stub;
	smarm__atomic sleeping;       /* 0 awake, 1 asleep, 2 woken to spin */
	smarm__atomic in_kernel;      /* 1 while in (or entering) futex wait */
	smarm__atomic_u32 idle_seq;   /* futex word; bumped to wake it */
} smarm__worker;

struct smarm_runtime {
	smarm_config cfg;
	smarm__stack_pool stacks;
	smarm__pidtab pids;
	smarm__worker *workers;
	unsigned nworkers;
	smarm__atomic running;        /* 1 while smarm_runtime_run is under way */
	AO_t live_base;               /* spawned - exited when the run began */
	smarm__atomic thread_wakeups; /* wake-ups made by plain threads */
	/* Shared by the workers of a run. */
	smarm__atomic nspinning __attribute__((aligned(64)));
	smarm__atomic nsleeping;
	smarm__atomic done;           /* 0, or how the run ended: see sched.c */
	smarm__atomic_u32 gate;       /* futex word: workers start when set */
	/* The global queue: many producers, one consumer at a time. */
	smarm__mpscq inject __attribute__((aligned(64)));
	smarm__mpscq_node inject_stub;
	smarm__lock inject_lock;
};

/* The worker the calling thread runs, NULL outside a runtime's actors.
 * Not inlined: a green thread may resume on another OS thread, so code
 * must fetch the worker again after any switch instead of caching the
 * address of a thread-local. */
smarm__worker *smarm__worker_self(void) __attribute__((noinline));

/*
 * Park the calling actor until smarm__wake or, unless timeout is
 * SMARM_FOREVER, until the timeout passes.  Returns 0 when woken,
 * ETIMEDOUT when the timer fired, ENOMEM when no memory was left for the
 * timer (the actor did not park).  A wake that arrives before the park
 * (from another thread, between the caller's "nothing to do" and its
 * park) is not lost: the park then returns 0 at once.  Callers loop on
 * their own condition, since a wake means "look again".
 */
int smarm__park(smarm__worker *w, smarm__actor *self, uint64_t timeout);

/* Wake a parked actor, or make its next park return at once.  Callable
 * from any thread.  One waker per park: only whoever took the actor out
 * of what it waits on may wake it. */
void smarm__wake(smarm__actor *a);

/* Inline form of smarm__worker_self for the entry of public calls. */
extern __thread smarm__worker *smarm__tls_worker
	__attribute__((tls_model("initial-exec")));

/* The worker at the entry of a public call, before anything can switch:
 * one %fs-relative load.  After a switch, use smarm__worker_self(). */
static inline smarm__worker *smarm__worker_at_entry(void)
{
	return smarm__tls_worker;
}

/* Count one event in a worker's own counter. */
#define SMARM__STAT_INC(w, field) \
	smarm__atomic_store_relaxed(&(w)->st.field, \
		smarm__atomic_load_relaxed(&(w)->st.field) + 1)

/* Add d to a per-worker counter that only its worker writes. */
static inline void smarm__counter_add(smarm__atomic *c, AO_t d)
{
	smarm__atomic_store_relaxed(c, smarm__atomic_load_relaxed(c) + d);
}

/* Yield (smarm_yield) for callers that already hold the worker. */
int smarm__yield(smarm__worker *w);

/* Set up and tear down a runtime's workers (smarm_runtime_new/free). */
int smarm__sched_init(struct smarm_runtime *rt);
void smarm__sched_fini(struct smarm_runtime *rt);

/* Run fn(arg) as the root actor until every actor has ended.  On return
 * *result and *panicked describe the root's end. */
int smarm__sched_run(struct smarm_runtime *rt, smarm_fn fn, void *arg,
		     void **result, int *panicked);

/* Sum the workers' counters into out. */
void smarm__sched_stats(struct smarm_runtime *rt, smarm_stats *out);

#endif /* SMARM_SCHED_H */
