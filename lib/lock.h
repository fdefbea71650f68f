/*
 * lock.h - a spin lock for short critical sections (a few dozen
 * instructions: a free-list splice, a slot's state change).
 *
 * Workers are OS threads that must not sleep in the kernel while they hold
 * an actor's context, and the sections guarded here never block, so
 * spinning is cheaper than a futex-based mutex.  The waiter spins on a
 * plain load (no bus traffic while the lock is held), with the pause
 * hint, and gives its CPU away after a while in case the holder was
 * preempted by the kernel.
 *
 * Owns: the spin lock.  May touch: atomic.h only.
 */
#ifndef SMARM_LOCK_H
#define SMARM_LOCK_H

#include <sched.h>

#include "atomic.h"

typedef struct {
	smarm__atomic held;
} smarm__lock;

static inline void smarm__lock_init(smarm__lock *l)
{
	smarm__atomic_store_relaxed(&l->held, 0);
}

/* Take the lock if it is free: nonzero when taken. */
static inline int smarm__lock_try(smarm__lock *l)
{
	return smarm__atomic_cas_full(&l->held, 0, 1);
}

static __attribute__((noinline)) void smarm__lock_wait(smarm__lock *l)
{
	unsigned spins = 0;

	do {
		while (smarm__atomic_load_relaxed(&l->held) != 0) {
			if (++spins < 1000) {
				__builtin_ia32_pause();
			} else {
				spins = 0;
				sched_yield();
			}
		}
	} while (!smarm__lock_try(l));
}

/* Acquire: a full-barrier CAS, so the section cannot start early. */
static inline void smarm__lock_take(smarm__lock *l)
{
	if (__builtin_expect(!smarm__lock_try(l), 0))
		smarm__lock_wait(l);
}

/* Release: everything done in the section is visible before the lock
 * reads free. */
static inline void smarm__lock_drop(smarm__lock *l)
{
	smarm__atomic_store_release(&l->held, 0);
}

#endif /* SMARM_LOCK_H */
