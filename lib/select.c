/*
 * select.c - smarm_select: wait until one of several channels (or the
 * caller's mailbox) has something to receive.
 *
 * A look first: each entry, from a starting point that moves on at every
 * call (so that a busy channel does not starve the others), is asked
 * whether a receive would return at once -- an element, or the end of the
 * channel.  When none would, the actor waits in its own waiter word
 * (cword) and registers a record without a buffer in every channel's
 * `waiter` (and its mailbox's waiter word, tagged), looking at each once
 * more as it registers.  A sender that finds such a record queues its
 * element as usual and takes the actor out of cword; whoever takes it out
 * wakes it: a sender, the last closing sender, a canceller, or the actor
 * itself when its time is up.  Once woken it takes its records back and
 * looks again.
 *
 * Owns: smarm_select.  May touch: chan.h (a channel's insides, under its
 * lock), sched.h (park, wake, cancellation, the mailbox's fields), timer.h.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "smarm.h"
#include "chan.h"
#include "lock.h"
#include "sched.h"
#include "timer.h"

/* Records on the stack for this many entries; more are allocated. */
#define ON_STACK 64u

/* The mailbox's waiter word holds the actor with this bit when it selects:
 * a sender then wakes it through cword (mailbox.c). */
#define MBOX_SELECT ((AO_t)1)

/* Would a receive from entry e return at once?  A look without the
 * channel's lock (smarm__chan_ready): a channel another actor receives on
 * is found out when it registers (EBUSY), or by the receive that
 * follows. */
static int ready(smarm_rx *e, smarm__actor *self)
{
	if (e == NULL)
		return smarm__mpscq_busy(&self->mbox, &self->mbox_stub);
	return smarm__chan_ready(smarm__chan_of(e));
}

/* Look at every entry from start: 0 with *ready_i set, EAGAIN when none
 * is ready. */
static int scan(smarm_rx **rxs, size_t n, size_t start, size_t *ready_i,
		smarm__actor *self)
{
	size_t k, i;

	for (k = 0; k < n; k++) {
		i = (start + k) % n;
		if (ready(rxs[i], self)) {
			*ready_i = i;
			return 0;
		}
	}
	return EAGAIN;
}

/* Does another actor wait to receive on one of the channels?  EBUSY or
 * 0 (for a select that does not register: timeout 0). */
static int busy(smarm_rx **rxs, size_t n, smarm__actor *self)
{
	size_t i;
	int r = 0;

	for (i = 0; i < n && r == 0; i++) {
		smarm__chan *c = smarm__chan_of(rxs[i]);

		if (c == NULL)
			continue;
		smarm__lock_take(&c->lock);
		if (smarm__chan_other_receiver(c, self))
			r = EBUSY;
		smarm__lock_drop(&c->lock);
	}
	return r;
}

/* Take back the records of entries [0, n). */
static void unregister(smarm_rx **rxs, size_t n,
		       struct smarm__recv_wait *recs, smarm__actor *self)
{
	size_t i;

	for (i = 0; i < n; i++) {
		smarm__chan *c = smarm__chan_of(rxs[i]);

		if (c == NULL) {
			smarm__atomic_cas_full(&self->mbox_waiter,
					       (AO_t)self | MBOX_SELECT, 0);
			continue;
		}
		smarm__lock_take(&c->lock);
		if (c->waiter == &recs[i])
			c->waiter = NULL;
		smarm__lock_drop(&c->lock);
	}
}

/* Register in every entry, looking at each as it goes: 0 when all are
 * registered and none is ready; else the entries registered so far are
 * taken back and it returns 1 (one is ready) or EBUSY. */
static int enlist(smarm_rx **rxs, size_t n, struct smarm__recv_wait *recs,
		  smarm__actor *self)
{
	size_t i;
	int r = 0;

	for (i = 0; i < n && r == 0; i++) {
		smarm__chan *c = smarm__chan_of(rxs[i]);

		recs[i].self = self;
		recs[i].out = NULL;
		recs[i].delivered = 0;
		if (c == NULL) {
			smarm__atomic_store_full(&self->mbox_waiter,
						 (AO_t)self | MBOX_SELECT);
			r = smarm__mpscq_busy(&self->mbox, &self->mbox_stub);
			continue;
		}
		smarm__lock_take(&c->lock);
		if (smarm__chan_other_receiver(c, self))
			r = EBUSY;
		else if (smarm__chan_ready(c))
			r = 1;
		else
			c->waiter = &recs[i];
		smarm__lock_drop(&c->lock);
	}
	if (r != 0)
		unregister(rxs, i, recs, self);
	return r;
}

/* One wait: 0 when woken (look again), ETIMEDOUT, ECANCELED, ENOMEM, or
 * 1 / EBUSY from enlist. */
static int wait_once(smarm_rx **rxs, size_t n, struct smarm__recv_wait *recs,
		     smarm__actor *self, uint64_t left)
{
	int r, woken;

	smarm__why(self, SMARM__WHY_SELECT, SMARM__WHY_NUM(n));
	smarm__self_announce(self);
	r = enlist(rxs, n, recs, self);
	if (r == 0)
		r = smarm__self_park(self, left, SMARM__PARK_OPEN);
	woken = r == 0;
	if (r != 1 && r != EBUSY)
		unregister(rxs, n, recs, self);
	/* Out of cword, or the wake of whoever took us first. */
	if (!woken)
		smarm__self_unwait(self, SMARM__PARK_OPEN);
	return r;
}

int smarm_select(smarm_rx **rxs, size_t n, size_t *ready_i, uint64_t timeout)
{
	smarm__worker *w = smarm__worker_at_entry();
	struct smarm__recv_wait stack_recs[ON_STACK], *recs = stack_recs;
	uint64_t deadline = SMARM_FOREVER, left;
	smarm__actor *self;
	size_t start, i;
	AO_t seen;
	int r;

	if (rxs == NULL || n == 0 || ready_i == NULL)
		return EINVAL;
	for (i = 0; i < n; i++)
		if (rxs[i] != NULL && smarm__end_chan(rxs[i], SMARM__END_RX) == NULL)
			return EBADF; /* closed or stale */
	if (w == NULL)
		return EPERM;
	self = smarm__current(w);
	start = self->select_turn++ % n;
	r = scan(rxs, n, start, ready_i, self);
	if (r != EAGAIN)
		return r;
	if (n > ON_STACK) {
		recs = malloc(n * sizeof(*recs));
		if (recs == NULL)
			return ENOMEM;
	}
	seen = self->cancels_seen;
	for (;;) {
		left = smarm__wait_left(timeout, &deadline);
		if (left == 0)
			r = busy(rxs, n, self) ? EBUSY : ETIMEDOUT;
		else
			r = wait_once(rxs, n, recs, self, left);
		if (r == EBUSY)
			break;
		/* Whatever ended the wait, something may be ready now. */
		if (scan(rxs, n, start, ready_i, self) == 0) {
			/* A cancel that came too is the next call's. */
			if (r == ECANCELED)
				self->cancels_seen = seen;
			r = 0;
			break;
		}
		if (r == 0 && smarm__cancel_take(self))
			r = ECANCELED; /* a canceller woke us */
		if (r != 0 && r != 1)
			break;
	}
	if (recs != stack_recs)
		free(recs);
	return r;
}
