/*
 * stack.h - actor stacks: reserved with mmap, committed on first touch,
 * protected by a guard page or a canary, and cached for reuse.
 *
 * Stacks of the pool's default size are carved from slabs (one mapping
 * for many stacks) and go back to a free list when their actor ends, so
 * spawn and exit make no system call once the pool is warm.  Stacks of
 * another size get a mapping of their own and are unmapped on release.
 *
 * Guard modes (smarm(7)):
 *   madvise   MADV_GUARD_INSTALL marks the lowest page of each stack inside
 *             the slab: no extra kernel mapping (Linux >= 6.13).
 *   mprotect  the lowest page is made PROT_NONE, which splits the slab into
 *             two more mappings per stack; near vm.max_map_count (or
 *             valgrind's own limit) new stacks fall back to canaries.
 *   canary    no guard page; a known word at the stack's low end is
 *             checked at every switch away from the actor.
 *
 * Owns: stacks (stack.c).  May touch: lock.h, atomic.h.
 */
#ifndef SMARM_STACK_H
#define SMARM_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "lock.h"

/* Sign-extended from 32 bits so that the check on every switch is one
 * compare with an immediate operand. */
#define SMARM__CANARY 0xffffffffa5f3c7e1ull

/* Bytes at the top of every stack for its descriptor and the actor's
 * control block, added to the size asked for, so that an actor really
 * has the stack it was promised for its own frames. */
#define SMARM__STACK_TOP 512u

/* Descriptor of one stack; it lives in the stack's own top bytes. */
typedef struct smarm__stack {
	char *lo;                   /* lowest usable byte */
	char *top;                  /* one past the usable area (below this) */
	const volatile uint64_t *canary; /* word checked on every switch */
	struct smarm__stack *next;  /* free-list link while cached */
	struct smarm__stack *batch_next; /* next batch, in the pool's list */
	size_t map_len;             /* own mapping's length; 0 = slab stack */
	unsigned guard;             /* SMARM_GUARD_* actually applied */
	unsigned vg_id;             /* valgrind stack id */
} smarm__stack;

typedef struct smarm__slab smarm__slab;

typedef struct smarm__stack_pool {
	smarm__lock lock;     /* everything below, once workers share it */
	size_t size;          /* bytes of a default stack, SMARM__STACK_TOP included */
	size_t stride;        /* size + guard page */
	int mode;             /* configured SMARM_GUARD_* */
	int guard;            /* mode for new guarded stacks (madvise/mprotect) */
	smarm__stack *cache;  /* free default-size stacks, most recent first */
	smarm__stack *batches; /* chains of SMARM__STACK_BATCH free stacks */
	smarm__slab *slabs;
	char *carve;          /* next uncarved byte of the newest slab */
	char *carve_end;
	size_t map_budget;    /* kernel mappings mprotect guards may still add */
	size_t nguarded;      /* mprotect-guarded stacks carved so far */
	size_t nguarded_max;  /* cap on those (valgrind's segment table) */
	size_t ncanary;       /* stacks that fell back to a canary */
} smarm__stack_pool;

/* Returns 0, EINVAL (bad mode or size) or ENOTSUP (madvise guard asked
 * for on a kernel without it). */
int smarm__stack_pool_init(smarm__stack_pool *p, int mode, size_t size);
void smarm__stack_pool_fini(smarm__stack_pool *p);

/*
 * A worker's own cache of free default-size stacks, used without the
 * pool's lock.  It trades whole chains of SMARM__STACK_BATCH stacks with
 * the pool, linked as they are: moving a batch touches one stack, not
 * all of them (each stack is a cache line and a TLB entry of its own).
 * `head` holds up to a batch being used, `full` one complete batch.
 */
#define SMARM__STACK_BATCH 32u

typedef struct smarm__stack_cache {
	smarm__stack *head;
	unsigned n;           /* stacks in head */
	smarm__stack *full;   /* a batch of SMARM__STACK_BATCH, or NULL */
} smarm__stack_cache;

/* Return a stack to the pool's shared cache, or unmap one of its own
 * size.  The caller may still be running on it (an ending actor): pages
 * are given back only well below its frame.  Takes the pool's lock. */
void smarm__stack_put(smarm__stack_pool *p, smarm__stack *s);

/* The slow path of smarm__stack_get_cached: refill c from the pool. */
smarm__stack *smarm__stack_refill(smarm__stack_pool *p,
				  smarm__stack_cache *c, size_t size);

/* A stack with at least size usable bytes below s->top (0 = the pool's
 * default), from the worker's cache c or, when c has none (or for another
 * size), from the pool under its lock.  NULL when memory or mappings run
 * out. */
static inline smarm__stack *smarm__stack_get_cached(smarm__stack_pool *p,
						    smarm__stack_cache *c,
						    size_t size)
{
	smarm__stack *s;

	if (__builtin_expect(size == 0, 1)) {
		if (c->head == NULL && c->full != NULL) {
			c->head = c->full;
			c->n = SMARM__STACK_BATCH;
			c->full = NULL;
		}
		s = c->head;
		if (__builtin_expect(s != NULL, 1)) {
			c->head = s->next;
			c->n--;
			return s;
		}
	}
	return smarm__stack_refill(p, c, size);
}

/* smarm__stack_put through a worker's cache. */
void smarm__stack_put_cached(smarm__stack_pool *p, smarm__stack_cache *c,
			     smarm__stack *s);

/* Stacks guarded by a canary only, carved or mapped so far and not
 * unmapped. */
size_t smarm__stack_ncanary(smarm__stack_pool *p);

/* Does the kernel support MADV_GUARD_INSTALL? */
int smarm__stack_have_madvise_guard(void);

/* Round up to the page size. */
size_t smarm__stack_round(size_t size);

extern const volatile uint64_t smarm__canary_ok;

#endif /* SMARM_STACK_H */
