/*
 * timer.h - deadlines: a binary min-heap of timer records.
 *
 * Owns: nothing but the heap.  It knows no actor and no worker: a timer is
 * a small record embedded in whatever waits (smarm__timer), and the heap
 * orders pointers to such records by deadline.  Whoever owns a heap
 * serialises its use (sched.c keeps one per worker, under a lock).
 *
 * Memory.  Adding a timer never allocates: its owner first makes room
 * with smarm__timers_reserve, which can fail with ENOMEM, so that a timed
 * wait fails before anything is half done instead of losing a deadline.
 *
 * May touch: nothing in lib/ (stdlib only).
 */
#ifndef SMARM_TIMER_H
#define SMARM_TIMER_H

#include <stdint.h>

#include "smarm.h"

/* One pending deadline; embedded in its waiter. */
typedef struct smarm__timer {
	uint64_t deadline;
	uint32_t idx;       /* heap position + 1; 0 = not in a heap */
	uint32_t kind;      /* what it belongs to: the owner's to say */
} smarm__timer;

typedef struct smarm__timers {
	smarm__timer **heap;
	uint32_t n;
	uint32_t cap;
} smarm__timers;

void smarm__timers_fini(smarm__timers *t);
/* Make room for n timers: 0, or ENOMEM (nothing changed then). */
int smarm__timers_reserve(smarm__timers *t, uint64_t n);
/* Add tm, whose deadline is set; room must have been reserved. */
void smarm__timers_add(smarm__timers *t, smarm__timer *tm);
/* Remove a pending tm from the heap it is in. */
void smarm__timers_remove(smarm__timers *t, smarm__timer *tm);
/* Remove and return a timer whose deadline is <= now, or NULL. */
smarm__timer *smarm__timers_expired(smarm__timers *t, uint64_t now);

/* The earliest deadline, UINT64_MAX when no timer is pending. */
static inline uint64_t smarm__timers_next(const smarm__timers *t)
{
	return t->n ? t->heap[0]->deadline : UINT64_MAX;
}

static inline int smarm__timer_pending(const smarm__timer *tm)
{
	return tm->idx != 0;
}

/* now + timeout, saturating at UINT64_MAX. */
static inline uint64_t smarm__deadline(uint64_t now, uint64_t timeout)
{
	return timeout > UINT64_MAX - now ? UINT64_MAX : now + timeout;
}

/* What is left of a wait of `timeout` ns (SMARM_FOREVER: no limit, and
 * all of it is left) whose deadline the first call fixes in *deadline
 * (start it at SMARM_FOREVER); 0 once it is over.  A timeout of 0 reads
 * no clock. */
static inline uint64_t smarm__wait_left(uint64_t timeout, uint64_t *deadline)
{
	uint64_t now;

	if (timeout == SMARM_FOREVER)
		return SMARM_FOREVER;
	now = timeout ? smarm_now() : 0;
	if (*deadline == SMARM_FOREVER)
		*deadline = smarm__deadline(now, timeout);
	return now < *deadline ? *deadline - now : 0;
}

#endif /* SMARM_TIMER_H */
