/*
 * chan.c - channels: a queue of fixed-size elements, unbounded or
 * bounded, with one receiver that parks while it is empty and senders
 * that park while a bounded one is full.
 *
 * Owns: sending and receiving on a channel, and what closing an end does
 * to those waiting.  May touch: chan.h, sched.h (park, wake,
 * cancellation), lock.h, freelist.h, timer.h.  Never a worker's fields.
 *
 * A channel is one allocation; smarm_tx and smarm_rx are checked handles
 * of its ends (chan.h, chanend.c), and every call here first checks the
 * one it is given (EBADF for a closed or stale handle).  Its queue, its counts and who waits on it are guarded by the channel's
 * spin lock (lock.h), taken for a few dozen instructions: a send takes it
 * once, hands its element to the parked receiver or links it in the
 * queue, and wakes that receiver after dropping it.  The unlock is a
 * plain release store, so a message to a parked receiver costs three
 * locked instructions: the receiver's lock as it announces itself, the
 * commit of its park (sched.c), and the sender's lock.
 *
 * Waking the receiver.  A receiver that finds the queue empty records
 * itself in `waiter` under the lock (a record on its own stack: itself
 * and where the element goes), drops the lock, and parks.  Whoever takes
 * it out of `waiter` under the lock -- a sender, the last closing sender,
 * a canceller, or the receiver itself when its timeout fires -- owns the
 * duty to wake it.  A sender that finds it copies the element straight
 * into the receiver's buffer, so the woken receiver returns without
 * taking the lock again.  A receiver whose timer fired but which someone
 * took out already knows that a wake is on its way, and parks once more
 * to absorb it, so no stale wake is left to disturb a later park.  One
 * receiver at a time: another actor's recv, try_recv or select on a
 * channel whose receiver waits gets EBUSY.  An actor in smarm_select
 * (select.c) waits with a record that has no buffer: a sender queues its
 * element and wakes it through its own waiter word.
 *
 * Bounded channels.  A sender that finds the channel full (or others
 * already waiting) queues a record on its own stack, first come first
 * served, and waits: an actor in its own waiter word (cword), a plain
 * thread on a futex.  The receiver that takes an element moves the
 * oldest waiting sender's element into the queue itself, in the node it
 * just emptied, and wakes that sender; closing the receiving end wakes
 * every waiting sender with EPIPE.
 *
 * Nodes.  An element that finds no receiver waiting travels in a node of
 * its own.  The receiver keeps the node it emptied in the channel's
 * list of spares (up to SPARES of them), and the next sends take them
 * instead of calling malloc.
 *
 * Lifetime (chanend.c).  `refs` counts the receiving end plus every
 * sending handle; the last close frees whatever is still queued
 * (smarm__chan_empty) and gives the channel to a pool that keeps its
 * memory until the library is unloaded.  A canceller (sched.h) may hold
 * a stale pointer to a channel its actor waited on: it takes that
 * channel's lock and looks for the actor among its waiters, which is
 * safe on memory that stays a channel.  Recycling never writes the lock,
 * and `waiter` is NULL in a channel nobody waits on.
 */
#include "config.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "smarm.h"
#include "atomic.h"
#include "chan.h"
#include "freelist.h"
#include "lock.h"
#include "sched.h"
#include "timer.h"

typedef smarm__node node;
typedef smarm__chan chan;

/* Emptied nodes a channel keeps for its next sends: enough for a burst
 * of a producer on another worker, few enough to matter little. */
#define SPARES 64u

static void free_nodes(node *n)
{
	node *next;

	for (; n != NULL; n = next) {
		next = n->next;
		free(n);
	}
}

/* Copy an element; the pointer-sized case, the one that moves
 * ownership, without a call. */
static inline void copy_elem(void *dst, const void *src, size_t size)
{
	if (size == sizeof(void *))
		memcpy(dst, src, sizeof(void *));
	else
		memcpy(dst, src, size);
}

/* The last reference is gone: free the nodes, empty the channel for the
 * pool (chanend.c). */
void smarm__chan_empty(chan *c)
{
	free_nodes(c->head);
	free_nodes(c->spare);
	smarm__chan_set_head(c, NULL);
	c->tail = c->spare = NULL;
	c->nspare = 0;
	c->sq_head = c->sq_tail = NULL;
	c->len = 0;
	c->rx_closed = 0;
}

/* Keep n among the channel's spare nodes, or free it (under the
 * lock). */
static inline void keep_spare(chan *c, node *n)
{
	if (__builtin_expect(c->nspare < SPARES, 1)) {
		n->next = c->spare;
		c->spare = n;
		c->nspare++;
	} else {
		free(n);
	}
}

/* A spare node (there is one), under the lock. */
static inline node *take_spare(chan *c)
{
	node *n = c->spare;

	c->spare = n->next;
	c->nspare--;
	return n;
}

/* Under the lock: link node n, holding elem, at the queue's tail. */
static inline void enqueue(chan *c, node *n, const void *elem)
{
	copy_elem(n->data, elem, c->elem_size);
	n->next = NULL;
	if (c->tail)
		c->tail->next = n;
	else
		smarm__chan_set_head(c, n);
	c->tail = n;
	c->len++;
}

/* Under the lock: is a bounded channel full for a new sender? */
static inline int full(const chan *c)
{
	return __builtin_expect(c->cap != 0, 0) &&
		(c->len >= c->cap || c->sq_head != NULL);
}

/* ---- senders waiting for room ------------------------------------------------ */

static void futex_wake(smarm__atomic_u32 *word)
{
	syscall(SYS_futex, &word->v, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Under the lock: take sw out of the senders' queue. */
static void sq_remove(chan *c, struct smarm__send_wait *sw)
{
	struct smarm__send_wait **pp = &c->sq_head, *prev = NULL;

	while (*pp != NULL && *pp != sw) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (*pp == NULL)
		return;
	*pp = sw->next;
	if (c->sq_tail == sw)
		c->sq_tail = prev;
}

/* Under the lock: the oldest waiting sender is done (err 0: its element
 * is queued; EPIPE).  Returns the actor to wake after the unlock, or
 * NULL; a thread's futex word goes to *thread. */
static smarm__actor *sender_done(chan *c, int err,
				 smarm__atomic_u32 **thread)
{
	struct smarm__send_wait *sw = c->sq_head;
	smarm__actor *a = sw->self;

	c->sq_head = sw->next;
	if (c->sq_head == NULL)
		c->sq_tail = NULL;
	sw->err = err;
	if (a == NULL) {
		smarm__atomic_u32_store_release(&sw->done, 1);
		*thread = &sw->done;
		return NULL;
	}
	/* Release: err is seen by whoever sees done. */
	smarm__atomic_u32_store_release(&sw->done, 1);
	/* Under the lock, while it cannot give up (it looks at done under
	 * the lock): afterwards it may be gone. */
	return smarm__cword_take(a) ? a : NULL;
}

/* Under the lock, after a receive emptied a node (now the spare): the
 * oldest waiting sender's element goes into the queue. */
static smarm__actor *make_room(chan *c, smarm__atomic_u32 **thread)
{
	node *n = take_spare(c);

	enqueue(c, n, c->sq_head->elem);
	return sender_done(c, 0, thread);
}

/* After the unlock: wake whom make_room or sender_done named. */
static void wake_sender(smarm__actor *a, smarm__atomic_u32 *thread)
{
	if (a)
		smarm__wake(a);
	else if (thread)
		futex_wake(thread);
}

/* A plain thread waits for its element to be taken (the lock is held on
 * entry, its record queued): 0, EPIPE, ETIMEDOUT. */
static int send_wait_thread(chan *c, struct smarm__send_wait *me,
			    uint64_t timeout)
{
	uint64_t deadline = SMARM_FOREVER, left;
	struct timespec ts, *tsp;

	smarm__lock_drop(&c->lock);
	while (smarm__atomic_u32_load_acquire(&me->done) == 0) {
		left = smarm__wait_left(timeout, &deadline);
		if (left == 0)
			break;
		tsp = NULL;
		if (left != SMARM_FOREVER) {
			ts.tv_sec = (time_t)(left / 1000000000u);
			ts.tv_nsec = (long)(left % 1000000000u);
			tsp = &ts;
		}
		syscall(SYS_futex, &me->done.v, FUTEX_WAIT_PRIVATE, 0, tsp,
			NULL, 0);
	}
	if (smarm__atomic_u32_load_acquire(&me->done) == 0) {
		smarm__lock_take(&c->lock);
		if (smarm__atomic_u32_load_relaxed(&me->done) == 0) {
			sq_remove(c, me);
			smarm__lock_drop(&c->lock);
			return ETIMEDOUT;
		}
		smarm__lock_drop(&c->lock);
	}
	return me->err;
}

/* A full bounded channel (the lock held on entry, dropped on return):
 * queue, wait for the receiver to take the element.  0, EPIPE,
 * ETIMEDOUT, ECANCELED, ENOMEM. */
static int send_wait(chan *c, const void *elem, uint64_t timeout)
{
	smarm__worker *w = smarm__worker_at_entry();
	struct smarm__send_wait me;
	smarm__actor *self;
	AO_t seen;
	int r, woken;

	if (timeout == 0) {
		smarm__lock_drop(&c->lock);
		return ETIMEDOUT;
	}
	me.self = w ? smarm__current(w) : NULL;
	me.elem = elem;
	me.next = NULL;
	me.err = 0;
	smarm__atomic_u32_store_relaxed(&me.done, 0);
	if (c->sq_tail)
		c->sq_tail->next = &me;
	else
		c->sq_head = &me;
	c->sq_tail = &me;
	if (me.self == NULL)
		return send_wait_thread(c, &me, timeout);
	self = me.self;
	/* Named by its receiving handle: the value a user can match. */
	smarm__why(self, SMARM__WHY_SEND,
		   (uintptr_t)smarm__atomic_load_relaxed(&c->rx_end.handle));
	smarm__self_announce(self);
	smarm__lock_drop(&c->lock);
	seen = self->cancels_seen;
	r = smarm__self_park(self, timeout, 0);
	/* Woken: by the receiver (done) or by a canceller. */
	woken = r == 0;
	if (woken && !smarm__atomic_u32_load_acquire(&me.done)) {
		smarm__cancel_take(self);
		r = ECANCELED;
	}
	if (r != 0) {
		smarm__lock_take(&c->lock);
		if (!smarm__atomic_u32_load_relaxed(&me.done))
			sq_remove(c, &me);
		smarm__lock_drop(&c->lock);
		if (!woken)
			smarm__self_unwait(self, 0);
	}
	if (!smarm__atomic_u32_load_acquire(&me.done))
		return r;
	/* It went through in time: a cancel is the next call's. */
	self->cancels_seen = seen;
	return me.err;
}

/* ---- send ------------------------------------------------------------------- */

static inline __attribute__((always_inline)) int
chan_send(chan *c, const void *elem, uint64_t timeout)
{
	struct smarm__recv_wait *rw;
	smarm__actor *wake = NULL;
	node *n, *fresh = NULL;

	for (;;) {
		smarm__lock_take(&c->lock);
		/* A receiver in smarm_recv takes the element straight; one in
		 * smarm_select needs it queued. */
		if (c->rx_closed ||
		    (c->waiter != NULL && c->waiter->out != NULL) ||
		    c->spare != NULL || fresh != NULL || full(c))
			break;
		/* No node to reuse: allocate one outside the lock, then
		 * look again. */
		smarm__lock_drop(&c->lock);
		fresh = malloc(sizeof(*fresh) + c->elem_size);
		if (fresh == NULL)
			return ENOMEM;
	}
	if (c->rx_closed) {
		if (fresh)
			keep_spare(c, fresh);
		smarm__lock_drop(&c->lock);
		return EPIPE;
	}
	rw = c->waiter;
	if (rw != NULL && rw->out != NULL) {
		/* The receiver waits, so the queue is empty: straight to
		 * it, no node. */
		smarm__actor *who = rw->self;

		/* Nothing of rw is touched after the unlock: once it sees
		 * the wake, the receiver may return and reuse that stack. */
		c->waiter = NULL;
		copy_elem(rw->out, elem, c->elem_size);
		rw->delivered = 1;
		if (fresh)
			keep_spare(c, fresh);
		smarm__lock_drop(&c->lock);
		smarm__wake(who);
		return 0;
	}
	if (full(c)) {
		if (fresh)
			keep_spare(c, fresh);
		return send_wait(c, elem, timeout);
	}
	n = fresh;
	if (n == NULL) {
		n = take_spare(c);
	}
	enqueue(c, n, elem);
	if (rw != NULL) {
		/* An actor in smarm_select: it learns of the element. */
		c->waiter = NULL;
		if (smarm__cword_take(rw->self))
			wake = rw->self;
	}
	smarm__lock_drop(&c->lock);
	if (wake)
		smarm__wake(wake);
	return 0;
}

int smarm_send(smarm_tx *tx, const void *elem)
{
	chan *c;

	if (tx == NULL || elem == NULL)
		return EINVAL;
	c = smarm__end_chan(tx, SMARM__END_TX);
	if (c == NULL)
		return EBADF;
	return chan_send(c, elem, SMARM_FOREVER);
}

int smarm_send_timed(smarm_tx *tx, const void *elem, uint64_t timeout)
{
	chan *c;

	if (tx == NULL || elem == NULL)
		return EINVAL;
	c = smarm__end_chan(tx, SMARM__END_TX);
	if (c == NULL)
		return EBADF;
	return chan_send(c, elem, timeout);
}

/* ---- receive ---------------------------------------------------------------- */

/* Under the lock: move the oldest element to out, keeping its node as
 * the spare when there is none.  Returns 0 when the queue is empty; else
 * 1, and *sa / *st name a sender to wake after the unlock. */
static inline int take(chan *c, void *out, smarm__actor **sa,
		       smarm__atomic_u32 **st)
{
	node *n = c->head;

	if (n == NULL)
		return 0;
	smarm__chan_set_head(c, n->next);
	if (c->head == NULL)
		c->tail = NULL;
	c->len--;
	copy_elem(out, n->data, c->elem_size);
	keep_spare(c, n);
	if (__builtin_expect(c->sq_head != NULL, 0))
		*sa = make_room(c, st);
	return 1;
}

int smarm_try_recv(smarm_rx *rx, void *out)
{
	smarm__worker *w;
	smarm__actor *sa = NULL;
	smarm__atomic_u32 *st = NULL;
	int got, closed;
	chan *c;

	if (rx == NULL || out == NULL)
		return EINVAL;
	c = smarm__end_chan(rx, SMARM__END_RX);
	if (c == NULL)
		return EBADF;
	w = smarm__worker_at_entry();
	if (w == NULL)
		return EPERM;
	smarm__lock_take(&c->lock);
	if (smarm__chan_other_receiver(c, smarm__current(w))) {
		smarm__lock_drop(&c->lock);
		return EBUSY;
	}
	got = take(c, out, &sa, &st);
	closed = c->senders == 0;
	smarm__lock_drop(&c->lock);
	if (!got)
		return closed ? EPIPE : EAGAIN;
	wake_sender(sa, st);
	SMARM__STAT_INC(w, messages);
	return 0;
}

/* A receiver's park is open: a plain thread may send, so a runtime whose
 * actors all wait in recv is not deadlocked. */
#define PARK_RECV SMARM__PARK_OPEN

/* The receiver gives up waiting (its timeout): out of `waiter`, or, when
 * someone took it out first, take the wake that is on its way. */
static void stop_waiting(chan *c, struct smarm__recv_wait *rw)
{
	int mine;

	smarm__lock_take(&c->lock);
	mine = c->waiter == rw;
	if (mine)
		c->waiter = NULL;
	smarm__lock_drop(&c->lock);
	if (!mine)
		smarm__park(rw->self, SMARM_FOREVER, PARK_RECV);
}

/* A canceller: take a out of `waiter` if it waits here in smarm_recv, and
 * wake it (a selecting actor waits in its own word: see select.c). */
void smarm__chan_kick(smarm__waitable *obj, smarm__actor *a)
{
	chan *c = (chan *)(void *)obj;
	int mine;

	smarm__lock_take(&c->lock);
	mine = c->waiter != NULL && c->waiter->self == a &&
		c->waiter->out != NULL;
	if (mine)
		c->waiter = NULL;
	smarm__lock_drop(&c->lock);
	if (mine)
		smarm__wake(a);
}

/* smarm_recv's wait, the lock held: 0 when an element is in out (the lock
 * dropped), else an error with the lock dropped; 1: look again. */
static inline __attribute__((always_inline)) int
recv_once(chan *c, struct smarm__recv_wait *rw, uint64_t timeout,
	  uint64_t *deadline)
{
	smarm__actor *sa = NULL;
	smarm__atomic_u32 *st = NULL;
	uint64_t left;
	int r;

	if (smarm__chan_other_receiver(c, rw->self)) {
		smarm__lock_drop(&c->lock);
		return EBUSY;
	}
	if (take(c, rw->out, &sa, &st)) {
		smarm__lock_drop(&c->lock);
		wake_sender(sa, st);
		return 0;
	}
	if (c->senders == 0) {
		smarm__lock_drop(&c->lock);
		return EPIPE;
	}
	left = smarm__wait_left(timeout, deadline);
	if (left == 0 || smarm__cancel_take(rw->self)) {
		smarm__lock_drop(&c->lock);
		return left == 0 ? ETIMEDOUT : ECANCELED;
	}
	c->waiter = rw;
	smarm__lock_drop(&c->lock);
	r = smarm__park(rw->self, left, PARK_RECV);
	/* The timer fired (or the park failed): out of `waiter`, or the wake
	 * of whoever took us out first. */
	if (r != 0)
		stop_waiting(c, rw);
	if (rw->delivered)
		return 0;
	return r == ENOMEM ? ENOMEM : 1;
}

int smarm_recv(smarm_rx *rx, void *out, uint64_t timeout)
{
	smarm__worker *w = smarm__worker_at_entry();
	struct smarm__recv_wait rw;
	uint64_t deadline = SMARM_FOREVER;
	smarm__actor *self;
	chan *c;
	int r;

	if (rx == NULL || out == NULL)
		return EINVAL;
	c = smarm__end_chan(rx, SMARM__END_RX);
	if (c == NULL)
		return EBADF;
	if (w == NULL)
		return EPERM;
	self = smarm__current(w);
	smarm__why(self, SMARM__WHY_RECV, (uintptr_t)rx);
	smarm__wait_on(self, &c->site, SMARM__WAIT_OBJ);
	rw.self = self;
	rw.out = out;
	rw.delivered = 0;
	do {
		smarm__lock_take(&c->lock);
		r = recv_once(c, &rw, timeout, &deadline);
	} while (r == 1);
	if (r)
		return r;
	w = smarm__worker_self();
	SMARM__STAT_INC(w, messages);
	return 0;
}

/* ---- the ends' closes (chanend.c) ------------------------------------------ */

/* One sending handle fewer.  The last one gone: a waiting receiver
 * learns of it. */
void smarm__chan_tx_gone(chan *c)
{
	struct smarm__recv_wait *rw;
	smarm__actor *w = NULL;

	smarm__lock_take(&c->lock);
	rw = c->waiter;
	__atomic_store_n(&c->senders, c->senders - 1, __ATOMIC_RELEASE);
	if (c->senders == 0 && rw != NULL) {
		c->waiter = NULL;
		if (rw->out != NULL || smarm__cword_take(rw->self))
			w = rw->self;
	}
	smarm__lock_drop(&c->lock);
	if (w)
		smarm__wake(w);
}

/* The receiving end is closed: senders that see the flag stop queueing,
 * what is queued is discarded, and every waiting sender learns of it,
 * one at a time. */
void smarm__chan_rx_gone(chan *c)
{
	smarm__atomic_u32 *st;
	smarm__actor *sa;
	node *q;

	smarm__lock_take(&c->lock);
	c->rx_closed = 1;
	q = c->head;
	smarm__chan_set_head(c, NULL);
	c->tail = NULL;
	c->len = 0;
	while (c->sq_head != NULL) {
		st = NULL;
		sa = sender_done(c, EPIPE, &st);
		smarm__lock_drop(&c->lock);
		wake_sender(sa, st);
		smarm__lock_take(&c->lock);
	}
	smarm__lock_drop(&c->lock);
	free_nodes(q);
}
