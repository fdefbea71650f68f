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
#include "fiber.h"
#include "mpscq.h"
#include "pid.h"
#include "stack.h"

struct smarm__worker;

/*
 * Park states (smarm__actor.pstate).  A parking actor switches away
 * first and commits RUNNING -> PARKED on the stack it switched to, once
 * its context is saved (see after_switch in sched.c): so nobody can
 * resume an actor whose registers are still being pushed.  A wake that
 * finds RUNNING leaves NOTIFIED, which makes the park (or its commit)
 * return at once.
 */
enum {
	SMARM__RUNNING = 0,  /* running, runnable, or switching away to park */
	SMARM__PARKED = 1,   /* context saved, waiting for a wake */
	SMARM__NOTIFIED = 2  /* not parked yet, and a wake came */
};

typedef struct smarm__actor {
	void *sp;                         /* saved context while not running */
	struct smarm__actor *next;        /* pinned run list link */
	const volatile uint64_t *canary;  /* copy of stack->canary */
	smarm__stack *stack;
	smarm__slot *slot;
	smarm_fn fn;
	void *arg;
	/* The worker that holds its timer while a timed park is pending, and
	 * its only worker when pinned. */
	struct smarm__worker *worker;
	uint64_t deadline;                /* of the pending timed wait */
	uint32_t timer_idx;               /* heap position + 1, 0 = no timer */
	uint8_t timed;                    /* the last park had a timeout */
	uint8_t pinned;                   /* SMARM_SPAWN_PINNED */
	int wake;                         /* why a park ended: 0 or ETIMEDOUT */
	unsigned budget;                  /* preemption points left */
	smarm__atomic pstate;             /* SMARM__RUNNING, ... */
	smarm__mpscq_node wake_link;      /* in an inbox or the global queue */
	SMARM__FIBER_FIELD                /* ThreadSanitizer builds only */
} smarm__actor;

/* Entry of every actor, run on its fresh stack. */
void smarm__actor_main(void *actor) __attribute__((noreturn));

/* End the calling actor with a result (or a panic reason). */
void smarm__actor_finish(smarm__actor *self, void *result, int panicked)
	__attribute__((noreturn));

/* Called when a stack's canary is found overwritten: report and abort. */
void smarm__actor_overflow(smarm__actor *a) __attribute__((noreturn));

#endif /* SMARM_ACTOR_H */
