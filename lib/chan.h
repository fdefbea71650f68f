/*
 * chan.h - a channel's insides, for chan.c, chanend.c and select.c (the
 * public calls are in smarm.h), and what a handle's value means.
 *
 * Owns: nothing but these declarations (chan.c owns sending and
 * receiving, chanend.c the ends and their memory, select.c
 * smarm_select).  May touch: sched.h, lock.h, freelist.h, atomic.h.
 *
 * Handles.  A smarm_tx or smarm_rx the user holds is not a plain pointer:
 * its low 48 bits are the address of an end record (smarm__end), its top
 * 16 bits the record's tag at the time the handle was made -- a
 * generation times two, plus one for a receiving end.  The record keeps
 * the whole value of its open handle, and every call compares the two;
 * closing the handle moves the record's generation on,
 * so a closed handle, or one whose record was since reused for another
 * channel, is refused (EBADF) instead of touching a channel that may be
 * gone.  Records are never given back to malloc while the library is
 * loaded (chanend.c), so the look at the tag is always at valid memory.
 * A channel embeds two records: its receiving end and its first sending
 * handle; each smarm_tx_clone takes one of its own from a pool.
 */
#ifndef SMARM_CHAN_H
#define SMARM_CHAN_H

#include <stddef.h>
#include <stdint.h>

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

/* An end: what a handle's address bits point at.  handle moves on at the
 * close, with a compare-and-swap; chan is written only while no open
 * handle names the record. */
typedef struct smarm__end {
	smarm__atomic handle;     /* the value of its open handle: the
				     record's address, and its tag (a
				     generation * 2 + SMARM__END_RX or _TX)
				     in the top 16 bits */
	struct smarm__chan *chan; /* the channel, while the end is open */
	smarm__flink free_link;   /* in the pool of clones' ends, once closed */
} smarm__end;

#define SMARM__END_TX 0u
#define SMARM__END_RX 1u
/* The tag bits a handle carries, and where. */
#define SMARM__END_TAG_MASK 0xffffu
#define SMARM__END_SHIFT 48
#define SMARM__END_ADDR ((((uintptr_t)1) << SMARM__END_SHIFT) - 1)

typedef struct smarm__chan {
	smarm__waitable site;     /* first: what a canceller kicks */
	smarm__flink free_link;   /* in the pool, once freed */
	smarm__end rx_end;        /* the receiving end's record */
	smarm__end tx_end;        /* the first sending handle's record */
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

/* The record a handle points at (NULL for a NULL handle). */
static inline smarm__end *smarm__end_of(const void *h)
{
	return (smarm__end *)((uintptr_t)h & SMARM__END_ADDR);
}

/* The tag a handle carries. */
static inline AO_t smarm__end_tag(const void *h)
{
	return (AO_t)((uintptr_t)h >> SMARM__END_SHIFT);
}

/* The channel of an open handle of the given kind (SMARM__END_TX or
 * SMARM__END_RX); NULL when h is closed, stale or of the other kind.  h
 * must not be NULL (every caller answers EINVAL for that first).  The
 * record holds the value of its open handle, so one compare tells open
 * from closed or stale; the tag's low bit tells the kind.  A call racing
 * with the close of the same handle may get either answer (as with
 * close(2) of an fd in use). */
static inline smarm__chan *smarm__end_chan(const void *h, unsigned kind)
{
	const smarm__end *e = smarm__end_of(h);

	if (__builtin_expect((smarm__end_tag(h) & 1) != kind, 0) ||
	    __builtin_expect(smarm__atomic_load_relaxed(&e->handle) !=
			     (AO_t)h, 0))
		return NULL;
	return e->chan;
}

/* The channel of a handle already checked with smarm__end_chan, or
 * NULL for a NULL one (select.c's mailbox entry). */
static inline smarm__chan *smarm__chan_of(const void *h)
{
	const smarm__end *e = smarm__end_of(h);

	return e != NULL ? e->chan : NULL;
}

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
 * the library is loaded: see chanend.c).  For tests. */
size_t smarm__chan_pooled(void);
/* Free end records of clones kept for reuse, likewise.  For tests. */
size_t smarm__chan_ends_pooled(void);

/* chan.c, for chanend.c: the canceller's kick of a channel's waiters;
 * one sending handle fewer (a receiver waiting learns of the last one's
 * close); the receiving end closed (what is queued is discarded, waiting
 * senders fail with EPIPE); the last reference gone (the nodes freed,
 * the channel emptied for the pool). */
void smarm__chan_kick(smarm__waitable *obj, smarm__actor *a);
void smarm__chan_tx_gone(smarm__chan *c);
void smarm__chan_rx_gone(smarm__chan *c);
void smarm__chan_empty(smarm__chan *c);

#endif /* SMARM_CHAN_H */
