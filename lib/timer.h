/*
 * timer.h - deadlines of timed waits: a binary min-heap of actors keyed by
 * their deadline.  Each actor has at most one timed wait pending, and the
 * heap's capacity is kept at least the number of live actors (grown on
 * spawn), so adding a timer never allocates and never fails.
 */
#ifndef SMARM_TIMER_H
#define SMARM_TIMER_H

#include <stdint.h>

struct smarm__actor;

typedef struct smarm__timers {
	struct smarm__actor **heap;
	uint32_t n;
	uint32_t cap;
} smarm__timers;

void smarm__timers_fini(smarm__timers *t);
/* Make room for n timers; 0 or ENOMEM. */
int smarm__timers_reserve(smarm__timers *t, uint64_t n);
/* Add a's timer at a->deadline. */
void smarm__timers_add(smarm__timers *t, struct smarm__actor *a);
/* Cancel a's pending timer. */
void smarm__timers_remove(smarm__timers *t, struct smarm__actor *a);
/* Remove and return an actor whose deadline is <= now, or NULL. */
struct smarm__actor *smarm__timers_expired(smarm__timers *t, uint64_t now);
/* The earliest deadline, UINT64_MAX when no timer is pending. */
uint64_t smarm__timers_next(const smarm__timers *t);

/* now + timeout, saturating at UINT64_MAX. */
static inline uint64_t smarm__deadline(uint64_t now, uint64_t timeout)
{
	return timeout > UINT64_MAX - now ? UINT64_MAX : now + timeout;
}

#endif /* SMARM_TIMER_H */
