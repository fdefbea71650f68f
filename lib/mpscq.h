/*
 * mpscq.h - unbounded multi-producer single-consumer queue, intrusive,
 * lock-free for producers and for the intrusive consumer (which pushes the
 * stub back with the producers' CAS loop), wait-free for the non-intrusive
 * consumer (smarm__mpscq_next/smarm__mpscq_advance).
 *
 * The algorithm is Dmitry Vyukov's MPSC node-based queue (1024cores.net,
 * "Non-intrusive MPSC node-based queue" and its intrusive variant), the
 * one the Pony runtime's mailboxes use.  Producers link a node by swinging
 * the head pointer to it and then linking the previous head to it; the
 * consumer walks from the tail.  The queue always holds one node that is
 * not an element (the stub), so that producers and the consumer work at
 * opposite ends without touching each other's pointers.
 *
 * Two ways to consume:
 *  - smarm__mpscq_pop (intrusive): nodes are the elements themselves (an
 *    actor's link), so the node handed out must leave the queue; a fixed
 *    stub is swapped back in as the head when the last element goes.
 *  - smarm__mpscq_next / smarm__mpscq_advance (non-intrusive): elements
 *    are carried in nodes; the consumer reads the element out of the node
 *    after the current tail, then that node becomes the new stub and the
 *    old one is the consumer's to reuse.  No push on the consumer's side.
 *
 * A push is complete only once its link store is done: between the head
 * swap and the link, the consumer sees the queue end early and pop
 * returns NULL although a node is on its way.  Callers that must not miss
 * it (a worker about to sleep) pair the producer's "link, then look for a
 * sleeper" with their own "announce sleeping, then look again" so that
 * one of the two sides always sees the other.
 *
 * FIFO per producer: one producer's nodes arrive in the order it pushed
 * them.  libatomic_ops has no exchange primitive, so the head swap is a
 * compare-and-swap loop.
 *
 * Owns: the queue.  May touch: atomic.h only.
 */
#ifndef SMARM_MPSCQ_H
#define SMARM_MPSCQ_H

#include <stddef.h>

#include "atomic.h"

typedef struct smarm__mpscq_node {
	smarm__atomic next;
} smarm__mpscq_node;

typedef struct smarm__mpscq {
	smarm__atomic head;          /* newest node; producers swing it */
	smarm__mpscq_node *tail;     /* oldest node; the consumer's alone */
} smarm__mpscq;

/* The queue starts with stub as its only node. */
static inline void smarm__mpscq_init(smarm__mpscq *q, smarm__mpscq_node *stub)
{
	smarm__atomic_store_relaxed(&stub->next, 0);
	smarm__atomic_store_relaxed(&q->head, (AO_t)stub);
	q->tail = stub;
}

/*
 * Any thread.  The head swap is a full-barrier CAS: the node's contents,
 * written before, are visible to whoever reaches the node.  The link is
 * a store followed by a full barrier, so that a producer's next load (of a
 * waiter, say) cannot happen before the node is reachable.
 */
static inline void smarm__mpscq_push(smarm__mpscq *q, smarm__mpscq_node *n)
{
	AO_t prev, seen;

	smarm__atomic_store_relaxed(&n->next, 0);
	prev = smarm__atomic_load_relaxed(&q->head);
	while ((seen = smarm__atomic_fetch_cas_full(&q->head, prev,
						    (AO_t)n)) != prev)
		prev = seen;
	smarm__atomic_store_full(&((smarm__mpscq_node *)prev)->next, (AO_t)n);
}

/*
 * Any thread: push the chain first..last, linked by the caller through
 * their next fields in the order they are to be popped, with one head
 * swap for the lot.  The links, written before the swap, are visible to
 * whoever reaches first (the same barriers as smarm__mpscq_push).
 */
static inline void smarm__mpscq_push_chain(smarm__mpscq *q,
					   smarm__mpscq_node *first,
					   smarm__mpscq_node *last)
{
	AO_t prev, seen;

	smarm__atomic_store_relaxed(&last->next, 0);
	prev = smarm__atomic_load_relaxed(&q->head);
	while ((seen = smarm__atomic_fetch_cas_full(&q->head, prev,
						    (AO_t)last)) != prev)
		prev = seen;
	smarm__atomic_store_full(&((smarm__mpscq_node *)prev)->next,
				 (AO_t)first);
}

/*
 * Intrusive consumer.  Returns the oldest node, or NULL when the queue is
 * empty or its next node is still being linked by a producer.  Acquire
 * loads of the links pair with the producers' link stores, so a node's
 * contents are visible once the node is returned.
 */
static inline smarm__mpscq_node *smarm__mpscq_pop(smarm__mpscq *q,
						  smarm__mpscq_node *stub)
{
	smarm__mpscq_node *tail = q->tail, *next;

	next = (smarm__mpscq_node *)smarm__atomic_load_acquire(&tail->next);
	if (tail == stub) {
		if (next == NULL)
			return NULL;
		q->tail = tail = next;
		next = (smarm__mpscq_node *)
			smarm__atomic_load_acquire(&tail->next);
	}
	if (next != NULL) {
		q->tail = next;
		return tail;
	}
	/* tail is the last node linked: unless a producer is mid-push,
	 * the stub takes its place as the only node, so that tail can be
	 * handed out.  By a compare-and-swap of the head from tail, not a
	 * push: a producer may swap the head between the look below and
	 * the stub's push, and the pushed stub would then be the head with
	 * that producer's node still before it.  maybe() would say "empty"
	 * until the next push -- and the global queue's actors would wait
	 * that long, for ever once pushes stop (a worker woken for them
	 * finds nothing and sleeps).  When the swap fails, a producer is
	 * mid-push behind tail and the head is not the stub. */
	if ((AO_t)tail != smarm__atomic_load_acquire(&q->head))
		return NULL;
	smarm__atomic_store_relaxed(&stub->next, 0);
	if (smarm__atomic_cas_full(&q->head, (AO_t)tail, (AO_t)stub)) {
		q->tail = stub;
		return tail;
	}
	next = (smarm__mpscq_node *)smarm__atomic_load_acquire(&tail->next);
	if (next != NULL) {
		q->tail = next;
		return tail;
	}
	return NULL;
}

/* The consumer only: is anything pushed, even if not yet linked?  The
 * queue is empty exactly when the stub is both its oldest and its newest
 * node; any other tail is a node not yet handed out.  A relaxed load
 * suffices: what follows a "yes" is a pop. */
static inline int smarm__mpscq_busy(const smarm__mpscq *q,
				    const smarm__mpscq_node *stub)
{
	return q->tail != stub ||
		smarm__atomic_load_relaxed(&q->head) != (AO_t)stub;
}

/* Anyone: might anything be pushed?  Only the producers' end is read,
 * so this races with nobody.  A hint while the consumer pops; exact
 * otherwise (outside a pop, the queue is empty exactly when the stub is
 * its newest node: pop puts the stub back only as the sole node). */
static inline int smarm__mpscq_maybe(const smarm__mpscq *q,
				     const smarm__mpscq_node *stub)
{
	return smarm__atomic_load_acquire(&q->head) != (AO_t)stub;
}

/* Non-intrusive consumer: the node holding the oldest element, or NULL
 * (empty, or the next node still being linked).  Read the element, then
 * call smarm__mpscq_advance. */
static inline smarm__mpscq_node *smarm__mpscq_next(const smarm__mpscq *q)
{
	return (smarm__mpscq_node *)smarm__atomic_load_acquire(&q->tail->next);
}

/* Make next (from smarm__mpscq_next) the new stub; returns the old one,
 * which no producer can reach any more: the consumer's to reuse. */
static inline smarm__mpscq_node *smarm__mpscq_advance(smarm__mpscq *q,
						      smarm__mpscq_node *next)
{
	smarm__mpscq_node *old = q->tail;

	q->tail = next;
	return old;
}

#endif /* SMARM_MPSCQ_H */
