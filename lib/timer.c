/*
 * timer.c - the deadline heap and the clock (smarm_now).
 *
 * Owns: the heap of timer.h and nothing else; sleeping and timed waits
 * are the scheduler's (sched.c), which keeps a heap per worker.
 *
 * May touch: nothing in lib/ (the C library's clock).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "smarm.h"
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
	smarm__timer **h;

	if (n <= t->cap)
		return 0;
	if (n > UINT32_MAX)
		return ENOMEM;
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

static void place(smarm__timers *t, uint32_t i, smarm__timer *tm)
{
	t->heap[i] = tm;
	tm->idx = i + 1;
}

static void sift_up(smarm__timers *t, uint32_t i, smarm__timer *tm)
{
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (t->heap[parent]->deadline <= tm->deadline)
			break;
		place(t, i, t->heap[parent]);
		i = parent;
	}
	place(t, i, tm);
}

static void sift_down(smarm__timers *t, uint32_t i, smarm__timer *tm)
{
	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= t->n)
			break;
		if (c + 1 < t->n &&
		    t->heap[c + 1]->deadline < t->heap[c]->deadline)
			c++;
		if (tm->deadline <= t->heap[c]->deadline)
			break;
		place(t, i, t->heap[c]);
		i = c;
	}
	place(t, i, tm);
}

void smarm__timers_add(smarm__timers *t, smarm__timer *tm)
{
	sift_up(t, t->n++, tm);
}

void smarm__timers_remove(smarm__timers *t, smarm__timer *tm)
{
	uint32_t i = tm->idx - 1;
	smarm__timer *last = t->heap[--t->n];

	tm->idx = 0;
	if (last == tm)
		return;
	/* Move the last entry into the hole, then restore the order in
	 * whichever direction it is broken. */
	if (i > 0 && t->heap[(i - 1) / 2]->deadline > last->deadline)
		sift_up(t, i, last);
	else
		sift_down(t, i, last);
}

smarm__timer *smarm__timers_expired(smarm__timers *t, uint64_t now)
{
	smarm__timer *tm;

	if (t->n == 0 || t->heap[0]->deadline > now)
		return NULL;
	tm = t->heap[0];
	smarm__timers_remove(t, tm);
	return tm;
}

uint64_t smarm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
