/*
 * freelist.h - free objects of one kind, kept for reuse: a list of a
 * worker's own, used without a lock, and a pool that the workers share
 * under its lock.  A worker whose list grew past a bound (objects freed
 * here, made elsewhere) spills the excess to the pool; a worker whose
 * list is empty refills it from the pool before it allocates.  Each
 * object embeds a smarm__flink; the lists are linked through it.
 *
 * Spilling and refilling walk the objects they move, a few hundred at a
 * time, once per as many frees or allocations.
 *
 * Owns: the free lists.  May touch: lock.h, atomic.h.
 */
#ifndef SMARM_FREELIST_H
#define SMARM_FREELIST_H

#include <stddef.h>

#include "atomic.h"
#include "lock.h"

typedef struct smarm__flink {
	struct smarm__flink *next;
} smarm__flink;

typedef struct smarm__flist {
	smarm__flink *head;
	unsigned n;
} smarm__flist;

typedef struct smarm__fpool {
	smarm__lock lock;
	smarm__atomic head;   /* smarm__flink *, written under the lock */
	size_t n;
} smarm__fpool;

static inline smarm__flink *smarm__fpool_head(const smarm__fpool *p)
{
	return (smarm__flink *)smarm__atomic_load_relaxed(&p->head);
}

static inline smarm__flink *smarm__flist_pop(smarm__flist *l)
{
	smarm__flink *x = l->head;

	if (x != NULL) {
		l->head = x->next;
		l->n--;
	}
	return x;
}

static inline void smarm__flist_push(smarm__flist *l, smarm__flink *x)
{
	x->next = l->head;
	l->head = x;
	l->n++;
}

/* Cut all but the first keep objects off l: the chain cut (n - keep
 * long), or NULL. */
static inline smarm__flink *smarm__flist_cut(smarm__flist *l, unsigned keep)
{
	smarm__flink **at = &l->head, *rest;
	unsigned i;

	if (l->n <= keep)
		return NULL;
	for (i = 0; i < keep; i++)
		at = &(*at)->next;
	rest = *at;
	*at = NULL;
	l->n = keep;
	return rest;
}

/* Move all but the first keep objects of l to the pool. */
static inline void smarm__flist_spill(smarm__fpool *p, smarm__flist *l,
				      unsigned keep)
{
	unsigned n = l->n - keep;
	smarm__flink *rest = smarm__flist_cut(l, keep), *end = rest;

	if (rest == NULL)
		return;
	while (end->next != NULL)
		end = end->next;
	smarm__lock_take(&p->lock);
	end->next = smarm__fpool_head(p);
	smarm__atomic_store_relaxed(&p->head, (AO_t)rest);
	p->n += n;
	smarm__lock_drop(&p->lock);
}

/* Move up to max objects from the pool to l: how many. */
static inline unsigned smarm__flist_refill(smarm__fpool *p, smarm__flist *l,
					   unsigned max)
{
	smarm__flink *first, *last;
	unsigned n = 1;

	/* A look without the lock first: a miss only costs an allocation. */
	if (smarm__fpool_head(p) == NULL)
		return 0;
	smarm__lock_take(&p->lock);
	first = last = smarm__fpool_head(p);
	if (first == NULL) {
		smarm__lock_drop(&p->lock);
		return 0;
	}
	while (n < max && last->next != NULL) {
		last = last->next;
		n++;
	}
	smarm__atomic_store_relaxed(&p->head, (AO_t)last->next);
	p->n -= n;
	smarm__lock_drop(&p->lock);
	last->next = l->head;
	l->head = first;
	l->n += n;
	return n;
}

/* Everything in the pool, for the caller to free. */
static inline smarm__flink *smarm__fpool_take_all(smarm__fpool *p)
{
	smarm__flink *all;

	smarm__lock_take(&p->lock);
	all = smarm__fpool_head(p);
	smarm__atomic_store_relaxed(&p->head, 0);
	p->n = 0;
	smarm__lock_drop(&p->lock);
	return all;
}

#endif /* SMARM_FREELIST_H */
