/*
 * preempt.c - preemption points.
 *
 * Scheduling is cooperative: an actor runs until it blocks, yields or
 * ends.  A loop that does neither would keep the other actors on its
 * worker waiting, so such loops count preemption points: every actor has
 * a budget (smarm_config.preempt_budget), each point spends one, and the
 * point that spends the last yields and refills it.  smarm_check() is the
 * explicit point; the smarm_malloc family counts allocations as points,
 * the seed's allocator-driven preemption made explicit.  Nothing here
 * reads the clock.  The budget lives in the actor, so what one actor
 * spends does not shorten another's turn.
 *
 * Owns: the budget count.  May touch: sched.h (the yield).
 */
#include "config.h"

#include <stdlib.h>

#include "smarm.h"
#include "sched.h"

void smarm_check(void)
{
	smarm__worker *w = smarm__worker_at_entry();
	smarm__actor *self;

	if (w == NULL)
		return;
	self = smarm__current(w);
	/* A budget of 0 means preemption points are off. */
	if (__builtin_expect(self->budget != 0 && --self->budget == 0, 0)) {
		self->budget = smarm__worker_budget(w);
		smarm__yield(w);
	}
}

void *smarm_malloc(size_t size)
{
	smarm_check();
	return malloc(size);
}

void *smarm_calloc(size_t nmemb, size_t size)
{
	smarm_check();
	return calloc(nmemb, size);
}

void *smarm_realloc(void *ptr, size_t size)
{
	smarm_check();
	return realloc(ptr, size);
}

void smarm_free(void *ptr)
{
	smarm_check();
	free(ptr);
}
