/*
 * stack.c - actor stacks; see stack.h for the three guard modes.
 *
 * Owns: stacks, slabs, guards and the stack caches (stack.h).
 * May touch: lock.h, atomic.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#define VALGRIND_STACK_REGISTER(lo, hi) 0
#define VALGRIND_STACK_DEREGISTER(id) ((void)(id))
#endif

#include "smarm.h"
#include "stack.h"

/* Debian 12's headers predate Linux 6.13. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define PAGE 4096u
/* Bytes of address space reserved per slab. */
#define SLAB_BYTES (64u << 20)
/* Kernel mappings left for everything else in the process. */
#define MAP_HEADROOM 2048u
/* valgrind's address-space manager overflows near 28k segments. */
#define VALGRIND_GUARDED_MAX 12000u
/* An actor that used more than this much stack gets the pages below
 * given back when its stack returns to the cache. */
#define TRIM_DEPTH (64u << 10)

const volatile uint64_t smarm__canary_ok = SMARM__CANARY;

struct smarm__slab {
	struct smarm__slab *next;
	char *base;
	size_t len;
};

size_t smarm__stack_round(size_t size)
{
	return (size + PAGE - 1) & ~(size_t)(PAGE - 1);
}

int smarm__stack_have_madvise_guard(void)
{
	char *m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	int ok;

	if (m == MAP_FAILED)
		return 0;
	ok = madvise(m, PAGE, MADV_GUARD_INSTALL) == 0;
	munmap(m, 2 * PAGE);
	return ok;
}

/* How many kernel mappings may this process still add? */
static size_t map_budget(void)
{
	unsigned long limit = 65530, used = 0;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
	int c;

	if (f) {
		if (fscanf(f, "%lu", &limit) != 1)
			limit = 65530;
		fclose(f);
	}
	f = fopen("/proc/self/maps", "re");
	if (f) {
		while ((c = getc(f)) != EOF)
			used += c == '\n';
		fclose(f);
	}
	if (limit < used + MAP_HEADROOM)
		return 0;
	return limit - used - MAP_HEADROOM;
}

int smarm__stack_pool_init(smarm__stack_pool *p, int mode, size_t size)
{
	memset(p, 0, sizeof(*p));
	if (size < SMARM_STACK_MIN || size > SMARM_STACK_MAX)
		return EINVAL;
	switch (mode) {
	case SMARM_GUARD_AUTO:
		p->guard = smarm__stack_have_madvise_guard() ?
			SMARM_GUARD_MADVISE : SMARM_GUARD_MPROTECT;
		break;
	case SMARM_GUARD_MADVISE:
		if (!smarm__stack_have_madvise_guard())
			return ENOTSUP;
		p->guard = mode;
		break;
	case SMARM_GUARD_MPROTECT:
	case SMARM_GUARD_CANARY:
		p->guard = mode;
		break;
	default:
		return EINVAL;
	}
	p->mode = mode;
	p->size = smarm__stack_round(size + SMARM__STACK_TOP);
	p->stride = p->size + PAGE;
	p->map_budget = p->guard == SMARM_GUARD_MPROTECT ? map_budget() : 0;
	p->nguarded_max = RUNNING_ON_VALGRIND ? VALGRIND_GUARDED_MAX : SIZE_MAX;
	return 0;
}

/* Put the guard (or the canary) below the usable area [lo, ...). The
 * page below lo is ours in every mode.  Returns the mode applied, or -1
 * when a forced guard mode cannot be had (AUTO falls back to a canary). */
static int protect(smarm__stack_pool *p, char *lo, size_t *maps)
{
	*maps = 0;
	switch (p->guard) {
	case SMARM_GUARD_MADVISE:
		if (madvise(lo - PAGE, PAGE, MADV_GUARD_INSTALL) == 0)
			return SMARM_GUARD_MADVISE;
		break;
	case SMARM_GUARD_MPROTECT:
		/* A PROT_NONE page splits its mapping: two more entries. */
		if (p->map_budget >= 2 && p->nguarded < p->nguarded_max &&
		    mprotect(lo - PAGE, PAGE, PROT_NONE) == 0) {
			*maps = 2;
			return SMARM_GUARD_MPROTECT;
		}
		break;
	}
	if (p->mode != SMARM_GUARD_AUTO && p->mode != SMARM_GUARD_CANARY)
		return -1;
	return SMARM_GUARD_CANARY;
}

/* Lay out the descriptor at the top of [lo, hi) and register the stack. */
static smarm__stack *describe(smarm__stack_pool *p, char *lo, char *hi,
			      int guard, size_t map_len)
{
	smarm__stack *s = (smarm__stack *)
		(((uintptr_t)hi - sizeof(*s)) & ~(uintptr_t)63);

	s->lo = lo;
	s->top = (char *)s;
	s->next = NULL;
	s->map_len = map_len;
	s->guard = (unsigned)guard;
	if (guard == SMARM_GUARD_CANARY) {
		*(volatile uint64_t *)lo = SMARM__CANARY;
		s->canary = (const volatile uint64_t *)lo;
		p->ncanary++;
	} else {
		s->canary = &smarm__canary_ok;
	}
	s->vg_id = VALGRIND_STACK_REGISTER(lo, hi);
	return s;
}

static smarm__stack *carve(smarm__stack_pool *p)
{
	char *slot, *lo;
	size_t maps;
	int guard;

	if (p->carve == NULL || (size_t)(p->carve_end - p->carve) < p->stride) {
		size_t n = SLAB_BYTES / p->stride, len;
		smarm__slab *sl = malloc(sizeof(*sl));

		if (sl == NULL)
			return NULL;
		if (n < 4)
			n = 4;
		len = n * p->stride;
		sl->base = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
				MAP_STACK, -1, 0);
		if (sl->base == MAP_FAILED) {
			free(sl);
			return NULL;
		}
		sl->len = len;
		sl->next = p->slabs;
		p->slabs = sl;
		p->carve = sl->base;
		p->carve_end = sl->base + len;
		if (p->map_budget)
			p->map_budget--;
	}
	slot = p->carve;
	lo = slot + PAGE;
	guard = protect(p, lo, &maps);
	if (guard < 0)
		return NULL;
	p->carve += p->stride;
	if (maps) {
		p->map_budget -= maps;
		p->nguarded++;
	}
	return describe(p, lo, slot + p->stride, guard, 0);
}

static smarm__stack *map_own(smarm__stack_pool *p, size_t size)
{
	size_t len = smarm__stack_round(size + SMARM__STACK_TOP) + PAGE, maps;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
		       -1, 0);
	int guard;

	if (m == MAP_FAILED)
		return NULL;
	guard = protect(p, m + PAGE, &maps);
	if (guard < 0) {
		munmap(m, len);
		return NULL;
	}
	if (maps) {
		p->map_budget -= maps;
		p->nguarded++;
	}
	return describe(p, m + PAGE, m + len, guard, len);
}

/* Under the lock: a default-size stack from the shared cache or a new
 * one, or a stack of another size. */
static smarm__stack *get_locked(smarm__stack_pool *p, size_t size)
{
	smarm__stack *s;

	if (size == 0 || smarm__stack_round(size + SMARM__STACK_TOP) == p->size) {
		s = p->cache;
		if (s != NULL) {
			p->cache = s->next;
			return s;
		}
		s = p->batches;
		if (s != NULL) {
			/* Break a batch up: the rest go loose. */
			p->batches = s->batch_next;
			p->cache = s->next;
			return s;
		}
		return carve(p);
	}
	return map_own(p, size);
}

smarm__stack *smarm__stack_refill(smarm__stack_pool *p,
				  smarm__stack_cache *c, size_t size)
{
	smarm__stack *s;

	smarm__lock_take(&p->lock);
	if (size == 0 && p->batches != NULL) {
		/* A whole batch: one for the caller, the rest cached. */
		s = p->batches;
		p->batches = s->batch_next;
		c->head = s->next;
		c->n = SMARM__STACK_BATCH - 1;
	} else {
		s = get_locked(p, size);
	}
	smarm__lock_drop(&p->lock);
	return s;
}

/* Unmap a stack with a mapping of its own. */
static void unmap_own(smarm__stack_pool *p, smarm__stack *s)
{
	char *base = s->lo - PAGE;
	size_t len = s->map_len;

	VALGRIND_STACK_DEREGISTER(s->vg_id);
	smarm__lock_take(&p->lock);
	if (s->guard == SMARM_GUARD_MPROTECT) {
		p->map_budget += 2;
		p->nguarded--;
	} else if (s->guard == SMARM_GUARD_CANARY) {
		p->ncanary--;
	}
	smarm__lock_drop(&p->lock);
	munmap(base, len);
}

/*
 * Give back the pages of a stack that grew deep.  The probe word lies
 * TRIM_DEPTH below the top; it is zero until something writes it, so a
 * non-zero value means the actor went at least that deep.  A deep frame
 * that never wrote that very word goes unnoticed, which costs memory,
 * never correctness.  valgrind rightly calls the read of a popped frame
 * invalid, so the trim is skipped under it.
 */
static void trim(smarm__stack_pool *p, smarm__stack *s)
{
	if (p->size > 2 * TRIM_DEPTH && !RUNNING_ON_VALGRIND) {
		volatile uint64_t *probe = (volatile uint64_t *)
			((uintptr_t)(s->top - TRIM_DEPTH) & ~(uintptr_t)7);

		if (*probe != 0) {
			char *end = (char *)((uintptr_t)probe &
					     ~(uintptr_t)(PAGE - 1)) + PAGE;
			char *here = __builtin_frame_address(0);

			/* Running on this stack: spare the live frames, with
			 * a page to spare below them for the red zone and the
			 * switch away. */
			if (here >= s->lo && here < s->top &&
			    end > here - 2 * PAGE)
				end = (char *)((uintptr_t)(here - 2 * PAGE) &
					       ~(uintptr_t)(PAGE - 1));
			if (end > s->lo)
				madvise(s->lo, (size_t)(end - s->lo),
					MADV_DONTNEED);
			if (s->guard == SMARM_GUARD_CANARY)
				*(volatile uint64_t *)s->lo = SMARM__CANARY;
		}
	}
}

void smarm__stack_put(smarm__stack_pool *p, smarm__stack *s)
{
	if (s->map_len) {
		unmap_own(p, s);
		return;
	}
	trim(p, s);
	smarm__lock_take(&p->lock);
	s->next = p->cache;
	p->cache = s;
	smarm__lock_drop(&p->lock);
}

void smarm__stack_put_cached(smarm__stack_pool *p, smarm__stack_cache *c,
			     smarm__stack *s)
{
	if (s->map_len) {
		unmap_own(p, s);
		return;
	}
	trim(p, s);
	s->next = c->head;
	c->head = s;
	if (__builtin_expect(++c->n == SMARM__STACK_BATCH, 0)) {
		/* head is a complete batch: it becomes `full`, and a batch
		 * that was there goes to the pool. */
		smarm__stack *give = c->full;

		c->full = c->head;
		c->head = NULL;
		c->n = 0;
		if (give) {
			smarm__lock_take(&p->lock);
			give->batch_next = p->batches;
			p->batches = give;
			smarm__lock_drop(&p->lock);
		}
	}
}

size_t smarm__stack_ncanary(smarm__stack_pool *p)
{
	size_t n;

	smarm__lock_take(&p->lock);
	n = p->ncanary;
	smarm__lock_drop(&p->lock);
	return n;
}

void smarm__stack_pool_fini(smarm__stack_pool *p)
{
	smarm__slab *sl, *next;

	for (sl = p->slabs; sl != NULL; sl = next) {
		next = sl->next;
		if (RUNNING_ON_VALGRIND) {
			char *slot;

			for (slot = sl->base;
			     slot + p->stride <= sl->base + sl->len &&
			     (slot < p->carve || slot >= p->carve_end);
			     slot += p->stride) {
				smarm__stack *s = (smarm__stack *)
					(((uintptr_t)(slot + p->stride) -
					  sizeof(*s)) & ~(uintptr_t)63);

				VALGRIND_STACK_DEREGISTER(s->vg_id);
			}
		}
		munmap(sl->base, sl->len);
		free(sl);
	}
	memset(p, 0, sizeof(*p));
}
