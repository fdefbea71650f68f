/*
 * stack.h - actor stacks: reserved with mmap, committed on first touch,
 * protected by a guard page or a canary, and cached for reuse.
 *
 * A stack is bound to an actor when the actor first runs and goes back to
 * its worker's cache when the actor ends (sched.c), so a burst of short
 * actors runs on a few warm stacks.  Stacks of the pool's default size
 * are carved from slabs (one mapping for many stacks) and go back to free
 * lists, so binding and releasing make no system call once the pool is
 * warm.  Stacks of another size get a mapping of their own and are
 * unmapped on release.
 *
 * A stack's descriptor lives outside it (an array per slab), so the stack
 * holds nothing but frames: the first frame is its only page touched at
 * first, and a stack whose pages were given back keeps no page at all.
 * Nothing is trimmed when a stack is released; a worker that goes idle
 * gives pages back (smarm__stack_trim): the lower pages of the stacks in
 * its own cache, all pages of the stacks used since the last trim in the
 * shared cache.  MADV_DONTNEED keeps guard pages of either kind.
 *
 * Guard modes (smarm(7)):
 *   madvise   MADV_GUARD_INSTALL marks the lowest page of each stack inside
 *             the slab: no extra kernel mapping (Linux >= 6.13).  The
 *             guards of a whole slab go in with one process_madvise call
 *             per 1,024 stacks where the kernel takes it, else one madvise
 *             per stack as it is carved.
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

#include "atomic.h"
#include "lock.h"

/* Sign-extended from 32 bits so that the check on every switch is one
 * compare with an immediate operand. */
#define SMARM__CANARY 0xffffffffa5f3c7e1ull

/* Bytes at the top of every stack for the first frame (the one
 * smarm__ctx_make lays out) and its padding, added to the size asked for,
 * so that an actor really has the stack it was promised for its own
 * frames. */
#define SMARM__STACK_TOP 512u

/* Descriptor of one stack, outside the stack. */
typedef struct smarm__stack {
	char *lo;                   /* lowest usable byte */
	char *top;                  /* one past the usable area (below this) */
	const volatile uint64_t *canary; /* word checked on every switch */
	struct smarm__stack *next;  /* free-list link while cached */
	struct smarm__stack *batch_next; /* next batch, in the pool's list */
	size_t map_len;             /* own mapping's length; 0 = slab stack */
	unsigned guard;             /* SMARM_GUARD_* actually applied */
	unsigned vg_id;             /* valgrind stack id */
	unsigned cold;              /* pages given back since its last use
				     * (of a batch: all its stacks) */
} smarm__stack;

typedef struct smarm__slab smarm__slab;

typedef struct smarm__stack_pool {
	smarm__lock lock;     /* everything below, once workers share it */
	size_t size;          /* bytes of a default stack, SMARM__STACK_TOP included */
	size_t stride;        /* size + guard page */
	int mode;             /* configured SMARM_GUARD_* */
	int guard;            /* mode for new guarded stacks (madvise/mprotect) */
	/* Free default-size stacks, most recent first: those used since the
	 * last trim come before the cold ones. */
	smarm__stack *cache;
	smarm__stack *batches; /* chains of SMARM__STACK_BATCH free stacks */
	smarm__slab *slabs;
	char *carve;          /* next uncarved byte of the newest slab */
	char *carve_end;
	size_t map_budget;    /* kernel mappings mprotect guards may still add */
	size_t nguarded;      /* mprotect-guarded stacks carved so far */
	size_t nguarded_max;  /* cap on those (valgrind's segment table) */
	size_t ncanary;       /* stacks that fell back to a canary */
	int batch_guard;      /* nonzero: process_madvise is not taken */
	int carve_guarded;    /* the newest slab's guards are all in */
	smarm__atomic *said;  /* limits named (limit.h); NULL: say nothing */
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
	unsigned used;        /* a stack came back since the last trim */
} smarm__stack_cache;

/* Return a stack to the pool's shared cache, or unmap one of its own
 * size.  Nothing may run on it any more.  Takes the pool's lock. */
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

/* The slow path of smarm__stack_ready. */
int smarm__stack_reserve(smarm__stack_pool *p, smarm__stack_cache *c);

/* Is a default-size stack there for the next smarm__stack_get_cached
 * from c?  0, or ENOMEM when none can be had: then c gets one from the
 * pool, which may carve it.  A spawn asks, so that running out of stacks
 * is its error in the common case, not the actor's at its first run. */
static inline int smarm__stack_ready(smarm__stack_pool *p,
				     smarm__stack_cache *c)
{
	if (__builtin_expect(c->head != NULL || c->full != NULL, 1))
		return 0;
	return smarm__stack_reserve(p, c);
}

/*
 * Give pages back, off the hot path (a worker that goes idle): the pages
 * of c's stacks below their top SMARM__STACK_KEEP bytes, when a stack came
 * back to c since its last trim, and every page of the pool's stacks used
 * since the last trim, but for a canary stack's lowest page.  Returns the
 * number of stacks trimmed.  Takes the pool's lock; the system calls are
 * made outside it.
 */
#define SMARM__STACK_KEEP (16u << 10)
size_t smarm__stack_trim(smarm__stack_pool *p, smarm__stack_cache *c);

/* Stacks guarded by a canary only, carved or mapped so far and not
 * unmapped. */
size_t smarm__stack_ncanary(smarm__stack_pool *p);

/* Does the kernel support MADV_GUARD_INSTALL? */
int smarm__stack_have_madvise_guard(void);

/* Round up to the page size. */
size_t smarm__stack_round(size_t size);

extern const volatile uint64_t smarm__canary_ok;

#endif /* SMARM_STACK_H */
