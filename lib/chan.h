/*
 * chan.h - a channel's insides, for chan.c and select.c (the public calls
 * are in smarm.h).
 *
 * Owns: nothing but these declarations (chan.c owns channels, select.c
 * smarm_select).  May touch: sched.h, lock.h, freelist.h, atomic.h.
 */
#ifndef SMARM_CHAN_H
#define SMARM_CHAN_H

#include <stddef.h>

#include "atomic.h"
#include "freelist.h"
#include "lock.h"
#include "sched.h"

typedef struct smarm__node {
	struct smarm__node *next;
	/* The element: memcpy'd in and out, so no alignment is needed. */
	unsigned char data[];
} smarm__node;

/*
 * The actor waiting to receive on a channel, on its own stack: in
 * smarm_recv (out set: a sender hands its element straight into *out and
 * wakes it), or in smarm_select (out NULL: a sender queues its element
 * and wakes it through its own waiter word, cword, since it waits on
 * several channels at once).
 */
struct smarm__recv_wait {
	smarm__actor *self;
	void *out;
	int delivered;            /* an element is in *out */
};

/* A sender waiting for room in a full bounded channel, on its own stack:
 * an actor (self), woken through its cword, or a plain thread (self
 * NULL), woken with a futex on done.  The receiver that makes room moves
 * elem into the queue itself, so the order of arrival is kept. */
struct smarm__send_wait {
	smarm__actor *self;
	const void *elem;
	struct smarm__send_wait *next;
	smarm__atomic_u32 done;   /* elem is queued, or err is set */
	int err;                  /* 0, or EPIPE: the receiver closed */
};

typedef struct smarm__chan {
	smarm__waitable site;     /* first: what a canceller kicks */
	smarm__flink free_link;   /* in the pool, once freed */
	smarm__lock lock;         /* everything below but refs */
	smarm__node *head, *tail; /* the queue, oldest first */
	smarm__node *spare;       /* emptied nodes for the next sends */
	unsigned nspare;
	struct smarm__recv_wait *waiter; /* the receiver, parked, or NULL */
	struct smarm__send_wait *sq_head, *sq_tail; /* senders waiting */
	size_t len;               /* elements queued */
	size_t cap;               /* most elements queued; 0: no limit */
	size_t senders;           /* open sending handles */
	int rx_closed;
	size_t elem_size;         /* set once */
	smarm__atomic refs;       /* senders + the receiving end */
} smarm__chan;

/* Would a receive return at once (an element, or the end)?  Exact under
 * the lock.  Without it, for the receiver only: head and senders are
 * written under the lock with release stores, and read here with
 * acquire loads; what the receiver sees there does not go away, since
 * only the receiver takes elements (and an ended channel stays ended). */
static inline int smarm__chan_ready(const smarm__chan *c)
{
	return __atomic_load_n(&c->head, __ATOMIC_ACQUIRE) != NULL ||
		__atomic_load_n(&c->senders, __ATOMIC_ACQUIRE) == 0;
}

/* Under the lock: the queue's head, for smarm__chan_ready's readers. */
static inline void smarm__chan_set_head(smarm__chan *c, smarm__node *n)
{
	__atomic_store_n(&c->head, n, __ATOMIC_RELEASE);
}

/* Under the lock: does another actor wait to receive here? */
static inline int smarm__chan_other_receiver(const smarm__chan *c,
					     const smarm__actor *self)
{
	return c->waiter != NULL && c->waiter->self != self;
}

/* Free channels kept for reuse (their memory is never given back while
 * the library is loaded: see chan.c).  For tests. */
size_t smarm__chan_pooled(void);

#endif /* SMARM_CHAN_H */
