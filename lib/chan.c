/*
 * chan.c - channels: an unbounded MPSC queue of fixed-size elements with a
 * receiver that parks while it is empty.
 *
 * A channel is one allocation; smarm_tx and smarm_rx both point at it.
 * Elements travel in nodes of the lock-free queue in mpscq.h, one node per
 * element, filled by the sender; the receiver copies the element out of
 * the node after the queue's stub, and that node becomes the new stub
 * (the non-intrusive consumer of mpscq.h).
 *
 * Waking the receiver.  A receiver that finds the queue empty announces
 * itself in `waiter` (store + full barrier), then looks at the queue (and
 * the sender count) once more before it parks.  A sender links its node
 * (store + full barrier), then looks at `waiter`; a closing sender
 * decrements the count (full barrier), then looks.  Each side stores
 * before it loads, with a full barrier between, so at least one of them
 * sees the other: the receiver finds the element, or the sender finds the
 * receiver.  Whoever takes the receiver out of `waiter` (a CAS to NULL)
 * owns the duty to wake it; a receiver that fails to take itself back
 * out (its timeout fired, or it found the element itself) knows a wake is
 * on its way and parks once more to absorb it, so no stale wake is left to
 * disturb a later park.
 *
 * Nodes.  The receiver does not free the node it emptied if the
 * channel's one-node `spare` slot is free: it parks the node there, and
 * the next send takes it instead of calling malloc.  Taking is a
 * compare-and-swap on one pointer, putting a plain store (only the
 * receiver puts).  No ABA hazard: nobody reads through the pointer before
 * owning it, and a node that left the slot and came back is simply free
 * again.  A steady exchange (ping-pong,
 * request-reply) then allocates nothing.
 *
 * Lifetime.  `refs` counts the receiving end plus every sending handle;
 * the last close frees the channel and whatever is still queued.
 *
 * Owns: the channel.  May touch: sched.h (park, wake, the waiter word),
 * mpscq.h.  Never a worker's fields.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "smarm.h"
#include "atomic.h"
#include "mpscq.h"
#include "sched.h"

typedef struct chan {
	smarm__mpscq q;
	size_t elem_size;
	smarm__atomic senders;   /* open sending handles */
	smarm__atomic refs;      /* senders + the receiving end */
	smarm__atomic rx_closed;
	smarm__atomic waiter;    /* actor parked in recv, or 0 */
	smarm__atomic spare;     /* an emptied node for the next send, or 0 */
} chan;

typedef struct node {
	smarm__mpscq_node link;
	/* The element: memcpy'd in and out, so no alignment is needed. */
	unsigned char data[];
} node;

int smarm_channel(smarm_tx **tx, smarm_rx **rx, size_t elem_size)
{
	chan *c;
	node *stub;

	if (tx == NULL || rx == NULL || elem_size == 0)
		return EINVAL;
	if (elem_size > SIZE_MAX - sizeof(node))
		return ENOMEM;
	c = malloc(sizeof(*c));
	stub = malloc(sizeof(*stub) + elem_size);
	if (c == NULL || stub == NULL) {
		free(c);
		free(stub);
		return ENOMEM;
	}
	smarm__mpscq_init(&c->q, &stub->link);
	c->elem_size = elem_size;
	smarm__atomic_store_relaxed(&c->senders, 1);
	smarm__atomic_store_relaxed(&c->refs, 2);
	smarm__atomic_store_relaxed(&c->rx_closed, 0);
	smarm__atomic_store_relaxed(&c->waiter, 0);
	smarm__atomic_store_relaxed(&c->spare, 0);
	/* Handing the pointers to another thread (through whatever the
	 * program uses) orders these stores before that thread's use. */
	*tx = (smarm_tx *)c;
	*rx = (smarm_rx *)c;
	return 0;
}

/* Discard every element: by the receiver, or when nothing else can touch
 * the channel. */
static void drain(chan *c)
{
	smarm__mpscq_node *n;

	while ((n = smarm__mpscq_next(&c->q)) != NULL)
		free(smarm__mpscq_advance(&c->q, n));
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

static void unref(chan *c)
{
	/* Full barrier: every use of the channel by this handle happens
	 * before the last one frees it. */
	if (smarm__atomic_fetch_add_full(&c->refs, (AO_t)-1) == 1) {
		drain(c);
		free(c->q.tail);
		free((void *)smarm__atomic_load_relaxed(&c->spare));
		free(c);
	}
}

int smarm_send(smarm_tx *tx, const void *elem)
{
	chan *c = (chan *)tx;
	node *n;

	if (tx == NULL || elem == NULL)
		return EINVAL;
	if (smarm__atomic_load_acquire(&c->rx_closed))
		return EPIPE;
	n = (node *)smarm__atomic_load_relaxed(&c->spare);
	if (n == NULL || !smarm__atomic_cas_full(&c->spare, (AO_t)n, 0)) {
		n = malloc(sizeof(*n) + c->elem_size);
		if (n == NULL)
			return ENOMEM;
	}
	copy_elem(n->data, elem, c->elem_size);
	/* Ends with a full barrier: the node is reachable before we look
	 * for a waiter (see the top of this file). */
	smarm__mpscq_push(&c->q, &n->link);
	smarm__waiter_wake(&c->waiter);
	return 0;
}

static inline int take(chan *c, void *out)
{
	smarm__mpscq_node *n = smarm__mpscq_next(&c->q);

	if (n == NULL)
		return 0;
	copy_elem(out, ((node *)n)->data, c->elem_size);
	n = smarm__mpscq_advance(&c->q, n);
	/* Only the receiver fills the slot and senders only empty it, so an
	 * empty slot stays empty until this store; release: the copy above
	 * is done before a sender can take the node back. */
	if (smarm__atomic_load_relaxed(&c->spare) == 0)
		smarm__atomic_store_release(&c->spare, (AO_t)n);
	else
		free(n);
	return 1;
}

/* Empty, or the last sender is gone?  Once the sender count is zero (an
 * acquire load, pairing with the closers' full-barrier decrements) every
 * push is complete, so one more pop is exact. */
static int closed_and_empty(chan *c, void *out, int *got)
{
	*got = 0;
	if (smarm__atomic_load_acquire(&c->senders) != 0)
		return 0;
	*got = take(c, out);
	return !*got;
}

int smarm_try_recv(smarm_rx *rx, void *out)
{
	chan *c = (chan *)rx;
	smarm__worker *w;
	int got;

	if (rx == NULL || out == NULL)
		return EINVAL;
	w = smarm__worker_at_entry();
	if (w == NULL)
		return EPERM;
	if (!take(c, out)) {
		if (closed_and_empty(c, out, &got))
			return EPIPE;
		if (!got)
			return EAGAIN;
	}
	SMARM__STAT_INC(w, messages);
	return 0;
}

/* A receiver's park is open: a plain thread may send, so a runtime whose
 * actors all wait in recv is not deadlocked. */
#define PARK_RECV SMARM__PARK_OPEN

static int recv_parked(chan *c, smarm__actor *self, void *out,
		       uint64_t timeout);

int smarm_recv(smarm_rx *rx, void *out, uint64_t timeout)
{
	chan *c = (chan *)rx;
	smarm__worker *w = smarm__worker_at_entry();
	int r;

	if (rx == NULL || out == NULL)
		return EINVAL;
	if (w == NULL)
		return EPERM;
	if (take(c, out)) {
		SMARM__STAT_INC(w, messages);
		return 0;
	}
	r = recv_parked(c, smarm__current(w), out, timeout);
	if (r == 0) {
		w = smarm__worker_self();
		SMARM__STAT_INC(w, messages);
	}
	return r;
}

/* smarm_recv once the channel was found empty. */
static int recv_parked(chan *c, smarm__actor *self, void *out,
		       uint64_t timeout)
{
	uint64_t deadline = SMARM_FOREVER, left = SMARM_FOREVER;
	int got, r;

	for (;;) {
		/* Announce ourselves, then look again (see the top of this
		 * file): a sender either sees us or we see its element. */
		smarm__atomic_store_full(&c->waiter, (AO_t)self);
		got = take(c, out);
		if (got || smarm__atomic_load_acquire(&c->senders) == 0) {
			smarm__waiter_cancel(&c->waiter, self, PARK_RECV);
			if (got)
				return 0;
			return closed_and_empty(c, out, &got) ? EPIPE : 0;
		}
		if (timeout != SMARM_FOREVER) {
			uint64_t now = timeout ? smarm_now() : 0;

			if (deadline == SMARM_FOREVER)
				deadline = smarm__deadline(now, timeout);
			left = now < deadline ? deadline - now : 0;
			if (left == 0) {
				smarm__waiter_cancel(&c->waiter, self,
						     PARK_RECV);
				return take(c, out) ? 0 : ETIMEDOUT;
			}
		}
		r = smarm__park(self, left, PARK_RECV);
		/* The timer fired (or the park failed): out of `waiter`, or,
		 * when a sender took us out as it did, take its wake, then
		 * the element. */
		if (r != 0)
			smarm__waiter_cancel(&c->waiter, self, PARK_RECV);
		if (take(c, out))
			return 0;
		if (r == ENOMEM)
			return ENOMEM;
	}
}

smarm_tx *smarm_tx_clone(smarm_tx *tx)
{
	chan *c = (chan *)tx;

	if (tx == NULL)
		return NULL;
	smarm__atomic_fetch_add_full(&c->senders, 1);
	smarm__atomic_fetch_add_full(&c->refs, 1);
	return tx;
}

int smarm_tx_close(smarm_tx *tx)
{
	chan *c = (chan *)tx;

	if (tx == NULL)
		return EINVAL;
	/* Full barrier, then look for a waiter: pairs with the receiver's
	 * announce-then-look (top of this file). */
	if (smarm__atomic_fetch_add_full(&c->senders, (AO_t)-1) == 1)
		smarm__waiter_wake(&c->waiter);
	unref(c);
	return 0;
}

int smarm_rx_close(smarm_rx *rx)
{
	chan *c = (chan *)rx;

	if (rx == NULL)
		return EINVAL;
	/* Senders that see the flag stop queueing; what is queued, or gets
	 * queued by a send racing with this close, is discarded here or at
	 * the last unref. */
	smarm__atomic_store_full(&c->rx_closed, 1);
	drain(c);
	unref(c);
	return 0;
}
