/*
 * deque.h - a worker's LIFO of new actors: a bounded Chase-Lev
 * work-stealing deque (Chase and Lev, "Dynamic Circular Work-Stealing
 * Deque", SPAA 2005; the memory orders after Le et al., "Correct and
 * Efficient Work-Stealing for Weak Memory Models", PPoPP 2013), on
 * libatomic_ops.
 *
 * The owner pushes and pops at the bottom, newest first, so a spawning
 * tree unfolds depth first and the actors alive at once stay few; other
 * threads steal at the top, oldest first, which in a tree is the biggest
 * piece of work left.  One element per steal.
 *
 *  - bottom: one past the newest element; only the owner writes it.
 *  - top: the oldest element; it only grows, by CAS, whether a thief or
 *    the owner (taking the last element) moves it.
 *  - Both are 64-bit counters that do not wrap in the life of a process;
 *    bottom may fall one below top for an instant in pop, so they are
 *    compared as signed differences.
 *  - The owner's pop lowers bottom first, then (full barrier) reads top:
 *    a thief reads top, then (full barrier) bottom.  So when one element
 *    is left the two cannot both miss each other: they race for it with a
 *    CAS on top, and only the winner takes it.
 *  - A slot is rewritten only by a push, which first checks that the
 *    ring is not full against a fresh top; a thief that read a slot and
 *    lost its CAS discards what it read.  Slots are atomic objects.
 *
 * Owns: the deque.  May touch: atomic.h only.
 */
#ifndef SMARM_DEQUE_H
#define SMARM_DEQUE_H

#include <stddef.h>

#include "atomic.h"

#define SMARM__DEQUE_SIZE 256u /* a power of two */

typedef struct smarm__deque {
	smarm__atomic top;
	smarm__atomic bottom;
	smarm__atomic slot[SMARM__DEQUE_SIZE];
} smarm__deque;

static inline void smarm__deque_init(smarm__deque *d)
{
	smarm__atomic_store_relaxed(&d->top, 0);
	smarm__atomic_store_relaxed(&d->bottom, 0);
}

/* Signed distance b - t. */
static inline long smarm__deque_diff(AO_t b, AO_t t)
{
	return (long)(b - t);
}

/* Owner only.  0, or -1 when the deque is full. */
static inline int smarm__deque_push(smarm__deque *d, void *x)
{
	AO_t b = smarm__atomic_load_relaxed(&d->bottom);
	/* Acquire: thieves' reads of the slot we may reuse are done. */
	AO_t t = smarm__atomic_load_acquire(&d->top);

	if (smarm__deque_diff(b, t) >= (long)SMARM__DEQUE_SIZE)
		return -1;
	smarm__atomic_store_relaxed(&d->slot[b % SMARM__DEQUE_SIZE], (AO_t)x);
	/* Release: the slot is written before a thief can count it. */
	smarm__atomic_store_release(&d->bottom, b + 1);
	return 0;
}

/* Owner only: the newest element, or NULL when empty. */
static inline void *smarm__deque_pop(smarm__deque *d)
{
	AO_t b = smarm__atomic_load_relaxed(&d->bottom) - 1, t;
	AO_t x;

	/* Full barrier between lowering bottom and reading top (the
	 * StoreLoad order the last-element race depends on). */
	smarm__atomic_store_full(&d->bottom, b);
	t = smarm__atomic_load_acquire(&d->top);
	if (smarm__deque_diff(b, t) < 0) {
		/* Empty: put bottom back. */
		smarm__atomic_store_relaxed(&d->bottom, b + 1);
		return NULL;
	}
	x = smarm__atomic_load_relaxed(&d->slot[b % SMARM__DEQUE_SIZE]);
	if (b != t)
		return (void *)x; /* more than one left: no thief can reach it */
	/* The last one: race the thieves for it. */
	if (!smarm__atomic_cas_full(&d->top, t, t + 1))
		x = 0;
	smarm__atomic_store_relaxed(&d->bottom, b + 1);
	return (void *)x;
}

/* Owner only, when no other thread can take from d: the newest element,
 * or NULL, without the barrier. */
static inline void *smarm__deque_pop_alone(smarm__deque *d)
{
	AO_t b = smarm__atomic_load_relaxed(&d->bottom);

	if (b == smarm__atomic_load_relaxed(&d->top))
		return NULL;
	smarm__atomic_store_relaxed(&d->bottom, b - 1);
	return (void *)smarm__atomic_load_relaxed(
		&d->slot[(b - 1) % SMARM__DEQUE_SIZE]);
}

/* Any thread, the owner included: the oldest element, or NULL when the
 * deque is empty.  A lost race with another taker retries. */
static inline void *smarm__deque_steal(smarm__deque *d)
{
	for (;;) {
		AO_t t = smarm__atomic_load_acquire(&d->top);
		AO_t b, x;

		/* Full barrier between reading top and reading bottom (pairs
		 * with the one in pop). */
		smarm__atomic_fence_full();
		b = smarm__atomic_load_acquire(&d->bottom);
		if (smarm__deque_diff(b, t) <= 0)
			return NULL;
		x = smarm__atomic_load_relaxed(&d->slot[t % SMARM__DEQUE_SIZE]);
		if (smarm__atomic_cas_full(&d->top, t, t + 1))
			return (void *)x;
	}
}

/* Owner only: might there be anything?  Two plain loads, so that a pick
 * from an empty deque costs no barrier. */
static inline int smarm__deque_maybe(const smarm__deque *d)
{
	return smarm__atomic_load_relaxed(&d->bottom) !=
		smarm__atomic_load_relaxed(&d->top);
}

/* Number of elements, as seen from any thread (a hint), clamped to what
 * the deque can hold. */
static inline size_t smarm__deque_len(const smarm__deque *d)
{
	AO_t t = smarm__atomic_load_acquire(&d->top);
	long n = smarm__deque_diff(smarm__atomic_load_acquire(&d->bottom), t);

	if (n <= 0)
		return 0;
	return n > (long)SMARM__DEQUE_SIZE ? SMARM__DEQUE_SIZE : (size_t)n;
}

#endif /* SMARM_DEQUE_H */
