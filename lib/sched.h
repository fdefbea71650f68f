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
	int idle_word;           /* futex the idle worker sleeps on */
	smarm__timers timers;
	struct smarm_runtime *rt;
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

/* Park the calling actor until smarm__unpark or, unless timeout is
 * SMARM_FOREVER, until the timeout passes.  Returns 0 when unparked,
 * ETIMEDOUT when the timer fired. */
int smarm__park(smarm__worker *w, smarm__actor *self, uint64_t timeout);
void smarm__unpark(smarm__worker *w, smarm__actor *a);

/* Leave self (queued, parked or ended) for the next runnable actor, or
 * the worker context when there is none.  Returns when self is resumed. */
void smarm__switch(smarm__worker *w, smarm__actor *self);

/* Run fn(arg) as the root actor on the calling thread until every actor
 * has ended.  On return *result and *panicked describe the root's end. */
int smarm__sched_run(struct smarm_runtime *rt, smarm_fn fn, void *arg,
		     void **result, int *panicked);

#endif /* SMARM_SCHED_H */
