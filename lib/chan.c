/*
 * chan.c - channels: an unbounded queue of fixed-size elements with a
 * receiver that parks while it is empty.
 *
 * A channel is one allocation; smarm_tx and smarm_rx both point at it.
 * Its queue, its counts and the receiver parked on it are guarded by the
 * channel's spin lock (lock.h), taken for a few dozen instructions: a
 * send takes it once, hands its element to the parked receiver or links
 * it in the queue, and wakes that receiver after dropping it.  The unlock is a plain
 * release store, so a message to a parked receiver costs three locked
 * instructions: the receiver's lock as it announces itself, the commit of
 * its park (sched.c), and the sender's lock.
 *
 * Waking the receiver.  A receiver that finds the queue empty records
 * itself in `waiter` under the lock (a record on its own stack: itself
 * and where the element goes), drops the lock, and parks.  Whoever takes
 * it out of `waiter` under the lock -- a sender, the last closing sender,
 * or the receiver itself when its timeout fires -- owns the duty to wake
 * it.  A sender that finds it copies the element straight into the
 * receiver's buffer, so the woken receiver returns without taking the
 * lock again.  A receiver whose timer fired but which someone took out
 * already knows that a wake is on its way, and parks once more to absorb
 * it, so no stale wake is left to disturb a later park.
 *
 * Nodes.  An element that finds no receiver waiting travels in a node of
 * its own.  The receiver keeps the node it emptied in the channel's
 * one-node `spare` slot when that is free, and the next send takes it
 * instead of calling malloc.
 *
 * Lifetime.  `refs` counts the receiving end plus every sending handle;
 * the last close frees whatever is still queued and gives the channel to
 * a pool that keeps its memory for the next smarm_channel until the
 * library is unloaded.  A canceller (sched.h) may hold a stale pointer to
 * a channel its actor waited on: it takes that channel's lock and looks
 * for the actor among its waiters, which is safe on memory that stays a
 * channel.  Recycling never writes the lock, and `waiter` is NULL in a
 * channel nobody waits on.
 *
 * Owns: the channel and the pool of free ones.  May touch: sched.h (park,
 * wake, cancellation), lock.h, freelist.h.  Never a worker's fields.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "smarm.h"
#include "atomic.h"
#include "chan.h"
#include "freelist.h"
#include "lock.h"
#include "sched.h"

typedef struct node {
	struct node *next;
	/* The element: memcpy'd in and out, so no alignment is needed. */
	unsigned char data[];
} node;

/* A receiver parked in smarm_recv, on its own stack: a sender that finds
 * it hands the element over directly. */
struct recv_wait {
	smarm__actor *self;
	void *out;
	int delivered;            /* an element is in *out */
};

typedef struct chan {
	smarm__waitable site;     /* first: what a canceller kicks */
	smarm__flink free_link;   /* in the pool, once freed */
	smarm__lock lock;         /* everything below but refs */
	node *head, *tail;        /* the queue, oldest first */
	node *spare;              /* an emptied node for the next send */
	struct recv_wait *waiter; /* the receiver, parked in recv, or NULL */
	size_t senders;           /* open sending handles */
	int rx_closed;
	size_t elem_size;         /* set once */
	smarm__atomic refs;       /* senders + the receiving end */
} chan;

/* Free channels, kept for reuse (see Lifetime). */
static smarm__fpool pool; /* all-zero: empty, unlocked */

static void kick(smarm__waitable *obj, smarm__actor *a);

/* A channel from the pool, or a new one; NULL when memory runs out. */
static chan *chan_new(void)
{
	smarm__flink *x;
	chan *c;

	smarm__lock_take(&pool.lock);
	x = smarm__fpool_head(&pool);
	if (x != NULL) {
		smarm__atomic_store_relaxed(&pool.head, (AO_t)x->next);
		pool.n--;
	}
	smarm__lock_drop(&pool.lock);
	if (x != NULL)
		return (chan *)(void *)((char *)x - offsetof(chan, free_link));
	c = calloc(1, sizeof(*c));
	if (c != NULL) {
		smarm__lock_init(&c->lock);
		c->site.kick = kick;
	}
	return c;
}

/* Give an unused channel (no waiter, nothing queued) to the pool. */
static void chan_free(chan *c)
{
	c->head = c->tail = c->spare = NULL;
	c->rx_closed = 0;
	smarm__lock_take(&pool.lock);
	c->free_link.next = smarm__fpool_head(&pool);
	smarm__atomic_store_relaxed(&pool.head, (AO_t)&c->free_link);
	pool.n++;
	smarm__lock_drop(&pool.lock);
}

/* Free channels in the pool (for tests). */
size_t smarm__chan_pooled(void)
{
	size_t n;

	smarm__lock_take(&pool.lock);
	n = pool.n;
	smarm__lock_drop(&pool.lock);
	return n;
}

/* The library is unloaded: give the pool's memory back. */
static __attribute__((destructor)) void pool_fini(void)
{
	smarm__flink *x = smarm__fpool_head(&pool), *next;

	for (; x != NULL; x = next) {
		next = x->next;
		free((char *)x - offsetof(chan, free_link));
	}
	smarm__atomic_store_relaxed(&pool.head, 0);
}

int smarm_channel(smarm_tx **tx, smarm_rx **rx, size_t elem_size)
{
	chan *c;

	if (tx == NULL || rx == NULL || elem_size == 0)
		return EINVAL;
	if (elem_size > SIZE_MAX - sizeof(node))
		return ENOMEM;
	c = chan_new();
	if (c == NULL)
		return ENOMEM;
	c->elem_size = elem_size;
	c->senders = 1;
	smarm__atomic_store_relaxed(&c->refs, 2);
	/* Handing the pointers to another thread (through whatever the
	 * program uses) orders these stores before that thread's use. */
	*tx = (smarm_tx *)c;
	*rx = (smarm_rx *)c;
	return 0;
}

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

static void unref(chan *c)
{
	/* Full barrier: every use of the channel by this handle happens
	 * before the last one frees it. */
	if (smarm__atomic_fetch_add_full(&c->refs, (AO_t)-1) == 1) {
		free_nodes(c->head);
		free(c->spare);
		chan_free(c);
	}
}

/* Keep n as the channel's spare node, or free it (under the lock). */
static inline void keep_spare(chan *c, node *n)
{
	if (c->spare == NULL)
		c->spare = n;
	else
		free(n);
}

int smarm_send(smarm_tx *tx, const void *elem)
{
	chan *c = (chan *)tx;
	struct recv_wait *rw;
	node *n, *fresh = NULL;

	if (tx == NULL || elem == NULL)
		return EINVAL;
	for (;;) {
		smarm__lock_take(&c->lock);
		if (c->rx_closed || c->waiter != NULL || c->spare != NULL ||
		    fresh != NULL)
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
	if (rw != NULL) {
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
	n = fresh;
	if (n == NULL) {
		n = c->spare;
		c->spare = NULL;
	}
	copy_elem(n->data, elem, c->elem_size);
	n->next = NULL;
	if (c->tail)
		c->tail->next = n;
	else
		c->head = n;
	c->tail = n;
	smarm__lock_drop(&c->lock);
	return 0;
}

/* Under the lock: move the oldest element to out, keeping its node as
 * the spare when there is none.  Returns 0 when the queue is empty. */
static inline int take(chan *c, void *out)
{
	node *n = c->head;

	if (n == NULL)
		return 0;
	c->head = n->next;
	if (c->head == NULL)
		c->tail = NULL;
	copy_elem(out, n->data, c->elem_size);
	keep_spare(c, n);
	return 1;
}

int smarm_try_recv(smarm_rx *rx, void *out)
{
	chan *c = (chan *)rx;
	smarm__worker *w;
	int got, closed;

	if (rx == NULL || out == NULL)
		return EINVAL;
	w = smarm__worker_at_entry();
	if (w == NULL)
		return EPERM;
	smarm__lock_take(&c->lock);
	got = take(c, out);
	closed = c->senders == 0;
	smarm__lock_drop(&c->lock);
	if (!got)
		return closed ? EPIPE : EAGAIN;
	SMARM__STAT_INC(w, messages);
	return 0;
}

/* A receiver's park is open: a plain thread may send, so a runtime whose
 * actors all wait in recv is not deadlocked. */
#define PARK_RECV SMARM__PARK_OPEN

/* The receiver gives up waiting (its timeout): out of `waiter`, or, when
 * someone took it out first, take the wake that is on its way. */
static void stop_waiting(chan *c, struct recv_wait *rw)
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

/* A canceller: take a out of `waiter` if it waits here, and wake it. */
static void kick(smarm__waitable *obj, smarm__actor *a)
{
	chan *c = (chan *)(void *)obj;
	int mine;

	smarm__lock_take(&c->lock);
	mine = c->waiter != NULL && c->waiter->self == a;
	if (mine)
		c->waiter = NULL;
	smarm__lock_drop(&c->lock);
	if (mine)
		smarm__wake(a);
}

int smarm_recv(smarm_rx *rx, void *out, uint64_t timeout)
{
	chan *c = (chan *)rx;
	smarm__worker *w = smarm__worker_at_entry();
	struct recv_wait rw;
	uint64_t deadline = SMARM_FOREVER, left;
	int r;

	if (rx == NULL || out == NULL)
		return EINVAL;
	if (w == NULL)
		return EPERM;
	rw.self = smarm__current(w);
	rw.out = out;
	rw.delivered = 0;
	smarm__wait_on(rw.self, &c->site, SMARM__WAIT_OBJ);
	for (;;) {
		smarm__lock_take(&c->lock);
		if (take(c, out)) {
			smarm__lock_drop(&c->lock);
			break;
		}
		if (c->senders == 0) {
			smarm__lock_drop(&c->lock);
			return EPIPE;
		}
		left = smarm__wait_left(timeout, &deadline);
		if (left == 0 || smarm__cancel_take(rw.self)) {
			smarm__lock_drop(&c->lock);
			return left == 0 ? ETIMEDOUT : ECANCELED;
		}
		c->waiter = &rw;
		smarm__lock_drop(&c->lock);
		r = smarm__park(rw.self, left, PARK_RECV);
		/* The timer fired (or the park failed): out of `waiter`, or
		 * the wake of whoever took us out first. */
		if (r != 0)
			stop_waiting(c, &rw);
		if (rw.delivered)
			break;
		if (r == ENOMEM)
			return ENOMEM;
	}
	w = smarm__worker_self();
	SMARM__STAT_INC(w, messages);
	return 0;
}

smarm_tx *smarm_tx_clone(smarm_tx *tx)
{
	chan *c = (chan *)tx;

	if (tx == NULL)
		return NULL;
	smarm__lock_take(&c->lock);
	c->senders++;
	smarm__lock_drop(&c->lock);
	smarm__atomic_fetch_add_full(&c->refs, 1);
	return tx;
}

int smarm_tx_close(smarm_tx *tx)
{
	chan *c = (chan *)tx;
	smarm__actor *w = NULL;

	if (tx == NULL)
		return EINVAL;
	/* The last sender gone: a parked receiver learns of it. */
	smarm__lock_take(&c->lock);
	if (--c->senders == 0 && c->waiter != NULL) {
		w = c->waiter->self;
		c->waiter = NULL;
	}
	smarm__lock_drop(&c->lock);
	if (w)
		smarm__wake(w);
	unref(c);
	return 0;
}

int smarm_rx_close(smarm_rx *rx)
{
	chan *c = (chan *)rx;
	node *q;

	if (rx == NULL)
		return EINVAL;
	/* Senders that see the flag stop queueing; what is queued is
	 * discarded here. */
	smarm__lock_take(&c->lock);
	c->rx_closed = 1;
	q = c->head;
	c->head = c->tail = NULL;
	smarm__lock_drop(&c->lock);
	free_nodes(q);
	unref(c);
	return 0;
}
