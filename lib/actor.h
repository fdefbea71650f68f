/*
 * actor.h - an actor's control block and its entry and exit.
 *
 * The control block lives at the top of the actor's own stack, so a
 * spawn allocates nothing but a stack (from the cache) and a slot.
 */
#ifndef SMARM_ACTOR_H
#define SMARM_ACTOR_H

#include <stdint.h>

#include "smarm.h"
#include "atomic.h"
#include "mpscq.h"
#include "pid.h"
#include "stack.h"

struct smarm__worker;

/* Park states (smarm__actor.pstate). */
enum {
	SMARM__RUNNING = 0,  /* running or runnable */
	SMARM__PARKED = 1,   /* switched away, waiting for a wake */
	SMARM__NOTIFIED = 2  /* running, and a wake came before it parked */
};

typedef struct smarm__actor {
	void *sp;                         /* saved context while not running */
	struct smarm__actor *next;        /* run-queue link */
	const volatile uint64_t *canary;  /* copy of stack->canary */
	smarm__stack *stack;
	smarm__slot *slot;
	smarm_fn fn;
	void *arg;
	struct smarm__worker *worker;     /* the worker it runs on */
	uint64_t deadline;                /* of the pending timed wait */
	uint32_t timer_idx;               /* heap position + 1, 0 = no timer */
	int wake;                         /* why a park ended: 0 or ETIMEDOUT */
	unsigned budget;                  /* preemption points left */
	smarm__atomic pstate;             /* SMARM__RUNNING, ... */
	smarm__mpscq_node wake_link;      /* in the worker's inbox */
} smarm__actor;

/* Entry of every actor, run on its fresh stack. */
void smarm__actor_main(void *actor) __attribute__((noreturn));

/* End the calling actor with a result (or a panic reason). */
void smarm__actor_finish(smarm__actor *self, void *result, int panicked)
	__attribute__((noreturn));

/* Called when a stack's canary is found overwritten: report and abort. */
void smarm__actor_overflow(smarm__actor *a) __attribute__((noreturn));

#endif /* SMARM_ACTOR_H */
