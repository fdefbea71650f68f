/*
 * timer.c - the deadline heap, smarm_sleep and smarm_now.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "smarm.h"
#include "actor.h"
#include "sched.h"
#include "timer.h"

void smarm__timers_fini(smarm__timers *t)
{
	free(t->heap);
	t->heap = NULL;
	t->n = t->cap = 0;
}

int smarm__timers_reserve(smarm__timers *t, uint64_t n)
{
	uint64_t cap = t->cap ? t->cap : 64;
	smarm__actor **h;

	if (n <= t->cap)
		return 0;
	while (cap < n)
		cap *= 2;
	if (cap > UINT32_MAX)
		return ENOMEM;
	h = realloc(t->heap, cap * sizeof(*h));
	if (h == NULL)
		return ENOMEM;
	t->heap = h;
	t->cap = (uint32_t)cap;
	return 0;
}

static void place(smarm__timers *t, uint32_t i, smarm__actor *a)
{
	t->heap[i] = a;
	a->timer_idx = i + 1;
}

static void sift_up(smarm__timers *t, uint32_t i, smarm__actor *a)
{
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (t->heap[parent]->deadline <= a->deadline)
			break;
		place(t, i, t->heap[parent]);
		i = parent;
	}
	place(t, i, a);
}

static void sift_down(smarm__timers *t, uint32_t i, smarm__actor *a)
{
	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= t->n)
			break;
		if (c + 1 < t->n &&
		    t->heap[c + 1]->deadline < t->heap[c]->deadline)
			c++;
		if (a->deadline <= t->heap[c]->deadline)
			break;
		place(t, i, t->heap[c]);
		i = c;
	}
	place(t, i, a);
}

void smarm__timers_add(smarm__timers *t, smarm__actor *a)
{
	sift_up(t, t->n++, a);
}

void smarm__timers_remove(smarm__timers *t, smarm__actor *a)
{
	uint32_t i = a->timer_idx - 1;
	smarm__actor *last = t->heap[--t->n];

	a->timer_idx = 0;
	if (last == a)
		return;
	/* Move the last entry into the hole, then restore the order in
	 * whichever direction it is broken. */
	if (i > 0 && t->heap[(i - 1) / 2]->deadline > last->deadline)
		sift_up(t, i, last);
	else
		sift_down(t, i, last);
}

smarm__actor *smarm__timers_expired(smarm__timers *t, uint64_t now)
{
	smarm__actor *a;

	if (t->n == 0 || t->heap[0]->deadline > now)
		return NULL;
	a = t->heap[0];
	smarm__timers_remove(t, a);
	return a;
}

uint64_t smarm__timers_next(const smarm__timers *t)
{
	return t->n ? t->heap[0]->deadline : UINT64_MAX;
}

uint64_t smarm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int smarm_sleep(uint64_t ns)
{
	smarm__worker *w = smarm__worker_self();

	if (w == NULL)
		return EPERM;
	if (ns == 0)
		return smarm_yield();
	return smarm__park(w, w->current, ns) == ENOMEM ? ENOMEM : 0;
}
