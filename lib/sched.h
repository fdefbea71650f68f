/*
 * sched.h - the worker, its run queue, park/unpark, and the runtime.
 *
 * One worker for now: the thread that calls smarm_runtime_run.  It runs
 * actors from a FIFO run queue; an actor that yields, parks or ends
 * switches straight to the next runnable actor, and only when none is
 * runnable to the worker's own context, which handles idleness (sleeping
 * in the kernel until the next deadline) and the end of the run.
 */
#ifndef SMARM_SCHED_H
#define SMARM_SCHED_H

#include <stdint.h>

#include "smarm.h"
#include "actor.h"
#include "atomic.h"
#include "mpscq.h"
#include "pid.h"
#include "stack.h"
#include "timer.h"

typedef struct smarm__worker {
	smarm__actor *current;   /* running actor; NULL in the worker context */
	smarm__actor *rq_head;   /* runnable actors, FIFO */
	smarm__actor *rq_tail;
	void *sp;                /* the worker context, while an actor runs */
	smarm__stack *unmap;     /* own-mapped stack of an ended actor */
	uint32_t tick;           /* switches, to space out timer checks */
	unsigned budget;         /* preemption budget given to each actor */
	uint64_t chan_waiters;   /* actors parked in smarm_recv */
	smarm__timers timers;
	struct smarm_runtime *rt;
	/* Written by other threads: actors they woke, and the idle handshake
	 * (see idle() in sched.c).  On their own cache line. */
	smarm__mpscq inbox __attribute__((aligned(64)));
	smarm__mpscq_node inbox_stub;
	smarm__atomic sleeping;  /* 1 while the worker is about to sleep */
	smarm__atomic_u32 idle_seq; /* futex word; bumped to wake it */
} smarm__worker;

struct smarm_runtime {
	smarm_config cfg;
	smarm__stack_pool stacks;
	smarm__pidtab pids;
	smarm__worker worker;
	uint64_t live;           /* actors spawned and not yet ended */
	smarm__atomic running;   /* 1 while smarm_runtime_run is under way */
};

/* The worker the calling thread runs, NULL outside a runtime's actors.
 * Not inlined: a green thread may resume on another OS thread, so code
 * must fetch the worker again after any switch instead of caching the
 * address of a thread-local. */
smarm__worker *smarm__worker_self(void) __attribute__((noinline));

/*
 * Park the calling actor until smarm__wake or, unless timeout is
 * SMARM_FOREVER, until the timeout passes.  Returns 0 when woken,
 * ETIMEDOUT when the timer fired.  A wake that arrives before the park
 * (from another thread, between the caller's "nothing to do" and its
 * park) is not lost: the park then returns 0 at once.  Callers loop on
 * their own condition, since a wake means "look again".
 */
int smarm__park(smarm__worker *w, smarm__actor *self, uint64_t timeout);

/* Wake a parked actor, or make its next park return at once.  Callable
 * from any thread: a wake from outside the actor's worker goes through the
 * worker's inbox and rouses the worker if it sleeps.  One waker per park:
 * only whoever took the actor out of what it waits on may wake it. */
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

/* Yield (smarm_yield) for callers that already hold the worker. */
int smarm__yield(smarm__worker *w);

/* Run fn(arg) as the root actor on the calling thread until every actor
 * has ended.  On return *result and *panicked describe the root's end. */
int smarm__sched_run(struct smarm_runtime *rt, smarm_fn fn, void *arg,
		     void **result, int *panicked);

#endif /* SMARM_SCHED_H */
