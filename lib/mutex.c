/*
 * mutex.c - smarm_mutex: a mutex that parks its waiters, first come
 * first served, with a mandatory timeout, robust against its owner's end.
 *
 * State.  One word: 0 (free), DEAD (free, but its last owner ended
 * holding it), or the owner's control block with the WAITERS bit set
 * while anyone waits.  An uncontended lock is one compare-and-swap
 * 0 -> self; an uncontended unlock one compare-and-swap self -> 0.  A
 * waiter, under the mutex's spin lock, queues a record on its own stack
 * and sets WAITERS, so that the owner's unlock fails its fast path and
 * takes the lock: it then hands the mutex to the oldest waiter directly
 * (the state names the new owner before it even runs), so the order of
 * arrival is the order of ownership, across workers.  WAITERS is only
 * ever set on a state that names an owner, and only holders of the spin
 * lock change such a state.  With more than one worker, a locker that
 * finds the mutex held and nobody queued looks at it 200 times (about
 * 5 us here) before it queues: an owner running on another worker usually
 * lets go by then, and a park, a hand-off and a wake are saved.
 *
 * Waking.  A waiter waits in its own waiter word (cword, sched.h): the
 * one who takes it out of that word wakes it -- the unlocker that handed
 * it the mutex, a canceller, or the waiter itself when its time is up.
 * The unlocker takes it under the spin lock, so a waiter that learns
 * under that lock that it was handed the mutex knows whether a wake is
 * still owed to it.
 *
 * The end of an owner.  The owner keeps the mutexes it holds in a list
 * (held), linked through the mutexes: at its end (actor.c) each goes to
 * its oldest waiter with EOWNERDEAD, or becomes DEAD for the next locker.
 * A control block is reused only after its actor's end, so a state that
 * names one names its live owner.
 *
 * Owns: smarm_mutex's contents, the held lists.  May touch: sched.h
 * (park, wake, cancellation), lock.h.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "smarm.h"
#include "atomic.h"
#include "lock.h"
#include "mutex.h"
#include "sched.h"

#define WAITERS ((AO_t)1)
#define DEAD ((AO_t)2)
/* Looks at a mutex held on another worker before queueing (spin). */
#define SPINS 200u

/* A waiter, on its own stack. */
struct mwait {
	smarm__actor *self;
	struct mwait *next;
	int granted;          /* it owns the mutex now */
	int dead;             /* ... whose last owner ended holding it */
};

struct smarm__mutex {
	smarm__atomic state;
	smarm__lock lock;     /* the queue; the slow paths */
	struct mwait *head, *tail;
	/* In its owner's list of held mutexes (the owner's only). */
	struct smarm__mutex *hprev, *hnext;
};

_Static_assert(sizeof(struct smarm__mutex) <= sizeof(smarm_mutex),
	       "smarm_mutex holds the mutex's state");
_Static_assert(_Alignof(struct smarm__mutex) <= _Alignof(smarm_mutex),
	       "smarm_mutex is aligned for the mutex's state");

static inline struct smarm__mutex *mx(smarm_mutex *m)
{
	return (struct smarm__mutex *)(void *)m;
}

static inline smarm__actor *owner_of(AO_t s)
{
	return (smarm__actor *)(s & ~(WAITERS | DEAD));
}

/* self holds m now: first in its list. */
static inline void held_add(smarm__actor *self, struct smarm__mutex *m)
{
	m->hprev = NULL;
	m->hnext = self->held;
	if (m->hnext)
		m->hnext->hprev = m;
	self->held = m;
}

static inline void held_remove(smarm__actor *self, struct smarm__mutex *m)
{
	if (m->hprev)
		m->hprev->hnext = m->hnext;
	else
		self->held = m->hnext;
	if (m->hnext)
		m->hnext->hprev = m->hprev;
}

int smarm_mutex_init(smarm_mutex *m)
{
	if (m == NULL)
		return EINVAL;
	memset(m, 0, sizeof(*m));
	return 0;
}

int smarm_mutex_destroy(smarm_mutex *m)
{
	struct smarm__mutex *x = mx(m);
	int busy;

	if (m == NULL)
		return EINVAL;
	smarm__lock_take(&x->lock);
	busy = owner_of(smarm__atomic_load_acquire(&x->state)) != NULL ||
		x->head != NULL;
	smarm__lock_drop(&x->lock);
	if (busy)
		return EBUSY;
	memset(m, 0, sizeof(*m));
	return 0;
}

/* Take a free (or DEAD) mutex: 0, EOWNERDEAD, or EBUSY when it has an
 * owner.  A compare-and-swap even under the spin lock: the fast paths do
 * not take it. */
static int take_free(struct smarm__mutex *x, smarm__actor *self)
{
	AO_t s = smarm__atomic_load_acquire(&x->state);

	for (;;) {
		if (owner_of(s) != NULL)
			return EBUSY;
		if (smarm__atomic_cas_full(&x->state, s, (AO_t)self))
			break;
		s = smarm__atomic_load_acquire(&x->state);
	}
	held_add(self, x);
	return s == DEAD ? EOWNERDEAD : 0;
}

int smarm_mutex_trylock(smarm_mutex *m)
{
	smarm__worker *w = smarm__worker_at_entry();
	struct smarm__mutex *x = mx(m);
	smarm__actor *self;
	int r;

	if (m == NULL)
		return EINVAL;
	if (w == NULL)
		return EPERM;
	self = smarm__current(w);
	if (smarm__atomic_cas_full(&x->state, 0, (AO_t)self)) {
		held_add(self, x);
		return 0;
	}
	smarm__lock_take(&x->lock);
	r = take_free(x, self);
	smarm__lock_drop(&x->lock);
	return r;
}

/* Under the spin lock: take self's record out of the queue; the state
 * loses WAITERS when nobody is left. */
static void unqueue(struct smarm__mutex *x, struct mwait *me)
{
	struct mwait **pp = &x->head, *prev = NULL;

	while (*pp != NULL && *pp != me) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (*pp == NULL)
		return;
	*pp = me->next;
	if (x->tail == me)
		x->tail = prev;
	/* With WAITERS set the state has an owner and only holders of the
	 * spin lock change it. */
	if (x->head == NULL)
		smarm__atomic_store_release(
			&x->state,
			smarm__atomic_load_relaxed(&x->state) & ~WAITERS);
}

/* Wait in the queue for the mutex, whose state has an owner and WAITERS;
 * the spin lock is held on entry and dropped on return.  0, EOWNERDEAD, ETIMEDOUT, ECANCELED, ENOMEM. */
static int lock_wait(struct smarm__mutex *x, smarm__actor *self,
		     uint64_t timeout)
{
	struct mwait me = { self, NULL, 0, 0 };
	AO_t seen;
	int r, woken;

	/* Queue (WAITERS is set: the owner's unlock takes the slow path and
	 * the spin lock, so it finds us). */
	if (x->tail)
		x->tail->next = &me;
	else
		x->head = &me;
	x->tail = &me;
	smarm__why(self, SMARM__WHY_MUTEX, SMARM__WHY_NUM(x));
	smarm__self_announce(self);
	smarm__lock_drop(&x->lock);
	seen = self->cancels_seen;
	r = smarm__self_park(self, timeout, 0);
	/* Woken (0): taken out of cword, by the unlocker that handed us the
	 * mutex or by a canceller. */
	woken = r == 0;
	if (woken && !me.granted) {
		smarm__cancel_take(self);
		r = ECANCELED;
	}
	if (r != 0) {
		/* Out of the queue, unless the mutex came meanwhile. */
		smarm__lock_take(&x->lock);
		if (!me.granted)
			unqueue(x, &me);
		smarm__lock_drop(&x->lock);
		/* Out of cword, or the wake of whoever took us first. */
		if (!woken)
			smarm__self_unwait(self, 0);
	}
	if (!me.granted)
		return r;
	/* It came in time: a cancel that came too is the next call's. */
	self->cancels_seen = seen;
	held_add(self, x);
	return me.dead ? EOWNERDEAD : 0;
}

/* Another worker may be about to unlock: look a few times before
 * queueing, as long as nobody is queued (who would come first). */
static int spin(struct smarm__mutex *x, smarm__actor *self)
{
	unsigned i;
	AO_t s;

	for (i = 0; i < SPINS; i++) {
		s = smarm__atomic_load_relaxed(&x->state);
		if (s == 0 && smarm__atomic_cas_full(&x->state, 0, (AO_t)self))
			return 1;
		if ((s & WAITERS) || owner_of(s) == self || s == DEAD)
			return 0;
		__builtin_ia32_pause();
	}
	return 0;
}

/* Under the spin lock: take it, or set WAITERS on an owned state.  0 or
 * EOWNERDEAD (taken), EBUSY (WAITERS set: queue), EDEADLK, ETIMEDOUT. */
static int take_or_flag(struct smarm__mutex *x, smarm__actor *self,
			uint64_t timeout)
{
	AO_t s;
	int r;

	for (;;) {
		r = take_free(x, self);
		if (r != EBUSY)
			return r;
		s = smarm__atomic_load_acquire(&x->state);
		if (owner_of(s) == self)
			return EDEADLK;
		if (timeout == 0)
			return ETIMEDOUT;
		/* Unlocked meanwhile (owner_of is NULL): take it, above. */
		if (owner_of(s) != NULL &&
		    ((s & WAITERS) ||
		     smarm__atomic_cas_full(&x->state, s, s | WAITERS)))
			return EBUSY;
	}
}

int smarm_mutex_lock(smarm_mutex *m, uint64_t timeout)
{
	smarm__worker *w = smarm__worker_at_entry();
	struct smarm__mutex *x = mx(m);
	smarm__actor *self;
	int r;

	if (m == NULL || timeout == SMARM_FOREVER)
		return EINVAL;
	if (w == NULL)
		return EPERM;
	self = smarm__current(w);
	if (__builtin_expect(smarm__atomic_cas_full(&x->state, 0, (AO_t)self),
			     1) ||
	    (smarm__worker_rt(w)->nworkers > 1 && timeout != 0 &&
	     spin(x, self))) {
		held_add(self, x);
		return 0;
	}
	smarm__lock_take(&x->lock);
	r = take_or_flag(x, self, timeout);
	if (r != EBUSY) {
		smarm__lock_drop(&x->lock);
		return r;
	}
	return lock_wait(x, self, timeout);
}

/* Hand x to its oldest waiter, or free it (DEAD: its owner ended).  The
 * caller owned it and took it off its list. */
static void hand_over(struct smarm__mutex *x, int dead)
{
	struct mwait *next;
	smarm__actor *to = NULL;
	int took = 0;

	smarm__lock_take(&x->lock);
	next = x->head;
	if (next == NULL) {
		smarm__atomic_store_release(&x->state, dead ? DEAD : 0);
	} else {
		x->head = next->next;
		if (x->head == NULL)
			x->tail = NULL;
		smarm__atomic_store_release(
			&x->state, (AO_t)next->self | (x->head ? WAITERS : 0));
		next->granted = 1;
		next->dead = dead;
		to = next->self;
		/* Under the lock, while it cannot give up (see Waking). */
		took = smarm__cword_take(to);
	}
	smarm__lock_drop(&x->lock);
	if (took)
		smarm__wake(to);
}

int smarm_mutex_unlock(smarm_mutex *m)
{
	smarm__worker *w = smarm__worker_at_entry();
	struct smarm__mutex *x = mx(m);
	smarm__actor *self;

	if (m == NULL)
		return EINVAL;
	if (w == NULL)
		return EPERM;
	self = smarm__current(w);
	if (owner_of(smarm__atomic_load_relaxed(&x->state)) != self)
		return EPERM;
	held_remove(self, x);
	if (__builtin_expect(smarm__atomic_cas_full(&x->state, (AO_t)self, 0),
			     1))
		return 0;
	hand_over(x, 0);
	return 0;
}

void smarm__mutex_release_all(smarm__actor *self)
{
	struct smarm__mutex *x;

	while ((x = self->held) != NULL) {
		self->held = x->hnext;
		hand_over(x, 1);
	}
}
