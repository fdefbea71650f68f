/*
 * runq.h - a worker's local run queue: a bounded ring that one thread (its
 * owner) pushes to and pops from, and that other threads steal from, half
 * at a time.  Single producer, multiple consumers (SPMC).
 *
 * The shape is the one Go's scheduler (runtime/proc.go, runqput/runqget/
 * runqgrab) and Tokio's local queue use, written here on libatomic_ops:
 *
 *  - head counts elements ever taken (by the owner or by thieves); it only
 *    grows, moved by compare-and-swap, so every taker, the owner included,
 *    claims its elements by one CAS on it.
 *  - tail counts elements ever pushed; only the owner writes it, with a
 *    release store after writing the slot, so a thief that loads tail
 *    with acquire sees the slot's contents.
 *  - Both are full-width counters (AO_t, 64 bits): they do not wrap in the
 *    life of a process, so a CAS on head cannot succeed on a stale value
 *    (no ABA).
 *  - A slot is overwritten only once head has moved past it (the owner's
 *    push checks tail - head < SIZE against an acquire load of head); a
 *    thief that read slots and then lost its CAS discards what it read.
 *    Slots are read and written with AO_load/AO_store so that the race a
 *    losing thief has with the owner is on atomic objects.
 *
 * When the ring is full, the owner's push fails and the caller moves work
 * elsewhere (a global queue), as Go moves half its ring.
 *
 * Owns: the ring.  May touch: atomic.h only.
 */
#ifndef SMARM_RUNQ_H
#define SMARM_RUNQ_H

#include <stddef.h>

#include "atomic.h"

#define SMARM__RUNQ_SIZE 256u /* a power of two */

typedef struct smarm__runq {
	smarm__atomic head;
	smarm__atomic tail;
	smarm__atomic slot[SMARM__RUNQ_SIZE];
} smarm__runq;

static inline void smarm__runq_init(smarm__runq *q)
{
	smarm__atomic_store_relaxed(&q->head, 0);
	smarm__atomic_store_relaxed(&q->tail, 0);
}

/* Owner only.  0, or -1 when the ring is full. */
static inline int smarm__runq_push(smarm__runq *q, void *x)
{
	AO_t t = smarm__atomic_load_relaxed(&q->tail);
	/* Acquire: the takers' reads of the slots we are about to reuse
	 * are done before we overwrite them. */
	AO_t h = smarm__atomic_load_acquire(&q->head);

	if (t - h >= SMARM__RUNQ_SIZE)
		return -1;
	smarm__atomic_store_relaxed(&q->slot[t % SMARM__RUNQ_SIZE], (AO_t)x);
	/* Release: the slot is written before a thief can see it counted. */
	smarm__atomic_store_release(&q->tail, t + 1);
	return 0;
}

/* Owner only: the oldest element, or NULL when empty. */
static inline void *smarm__runq_pop(smarm__runq *q)
{
	for (;;) {
		AO_t h = smarm__atomic_load_acquire(&q->head);
		AO_t t = smarm__atomic_load_relaxed(&q->tail);
		AO_t x;

		if (t == h)
			return NULL;
		x = smarm__atomic_load_relaxed(&q->slot[h % SMARM__RUNQ_SIZE]);
		/* Thieves may have taken it meanwhile: claim it by CAS. */
		if (smarm__atomic_cas_full(&q->head, h, h + 1))
			return (void *)x;
	}
}

/* Owner only, when no other thread can take from q (a runtime with one
 * worker has no thieves): the oldest element, or NULL, without the CAS. */
static inline void *smarm__runq_pop_alone(smarm__runq *q)
{
	AO_t h = smarm__atomic_load_relaxed(&q->head);
	AO_t x;

	if (smarm__atomic_load_relaxed(&q->tail) == h)
		return NULL;
	x = smarm__atomic_load_relaxed(&q->slot[h % SMARM__RUNQ_SIZE]);
	smarm__atomic_store_relaxed(&q->head, h + 1);
	return (void *)x;
}

/* Number of elements, as seen from any thread (a hint).  From another
 * thread head may be stale by the time tail is read: the count is
 * clamped to what the ring can hold. */
static inline size_t smarm__runq_len(const smarm__runq *q)
{
	AO_t h = smarm__atomic_load_acquire(&q->head);
	AO_t t = smarm__atomic_load_acquire(&q->tail);

	if (t <= h)
		return 0;
	return t - h > SMARM__RUNQ_SIZE ? SMARM__RUNQ_SIZE : (size_t)(t - h);
}

/*
 * Any thread but the owner: take half of q's elements (rounded up) into
 * out[], oldest first.  Returns how many (0 when q is empty).  out must
 * have room for SMARM__RUNQ_SIZE / 2 elements.
 */
static inline size_t smarm__runq_steal(smarm__runq *q, void **out)
{
	for (;;) {
		AO_t h = smarm__atomic_load_acquire(&q->head);
		/* Acquire: pairs with the owner's release of tail, so the
		 * slots counted are written. */
		AO_t t = smarm__atomic_load_acquire(&q->tail);
		AO_t n = t - h, i;

		if (t <= h)
			return 0;
		n -= n / 2;
		if (n > SMARM__RUNQ_SIZE / 2)
			continue; /* inconsistent snapshot: look again */
		for (i = 0; i < n; i++)
			out[i] = (void *)smarm__atomic_load_relaxed(
				&q->slot[(h + i) % SMARM__RUNQ_SIZE]);
		/* Commit: the elements are ours only if nobody took from
		 * this ring since we read head. */
		if (smarm__atomic_cas_full(&q->head, h, h + n))
			return (size_t)n;
	}
}

#endif /* SMARM_RUNQ_H */
