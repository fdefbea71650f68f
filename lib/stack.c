/*
 * stack.c - actor stacks; see stack.h for the three guard modes and when
 * pages are given back.
 *
 * Owns: stacks, slabs, guards and the stack caches (stack.h).
 * May touch: lock.h, atomic.h, fiber.h, limit.h (naming a limit a stack
 * ran into).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#define VALGRIND_STACK_REGISTER(lo, hi) 0
#define VALGRIND_STACK_DEREGISTER(id) ((void)(id))
#endif

#include "smarm.h"
#include "fiber.h"
#include "limit.h"
#include "stack.h"

/* Debian 12's headers predate Linux 6.13. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
/* The calling process, for process_madvise (Linux >= 6.15). */
#ifndef PIDFD_SELF_THREAD
#define PIDFD_SELF_THREAD (-10000)
#endif

#define PAGE 4096u
/* Bytes of address space reserved per slab. */
#define SLAB_BYTES (64u << 20)
/* Kernel mappings left for everything else in the process. */
#define MAP_HEADROOM 2048u
/* valgrind's address-space manager overflows near 28k segments. */
#define VALGRIND_GUARDED_MAX 12000u
/* Ranges per process_madvise call (at most the kernel's UIO_MAXIOV). */
#define ADVICE_BATCH 64u

const volatile uint64_t smarm__canary_ok = SMARM__CANARY;

struct smarm__slab {
	struct smarm__slab *next;
	char *base;
	size_t len;
	size_t ncarved;
	smarm__stack *desc;    /* the descriptors of its stacks, in order */
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

/*
 * Ranges gathered for one advice, given to the kernel a batch at a time:
 * one process_madvise call per batch where the kernel takes that advice
 * for this process, else one madvise per range (and from then on in this
 * pool).  valgrind does not know process_madvise.
 */
struct advice {
	smarm__stack_pool *p;
	int advice;
	int bad;                 /* a range was refused */
	size_t n;
	struct iovec iov[ADVICE_BATCH];
};

static void advice_flush(struct advice *a)
{
	size_t i, want = 0;

	if (a->n == 0)
		return;
	if (!a->p->batch_guard && !RUNNING_ON_VALGRIND) {
		for (i = 0; i < a->n; i++)
			want += a->iov[i].iov_len;
		if (syscall(SYS_process_madvise, PIDFD_SELF_THREAD, a->iov,
			    a->n, a->advice, 0) == (long)want) {
			a->n = 0;
			return;
		}
		/* Not taken (an older kernel): per range from here on.
		 * Advice that went in already stays. */
		a->p->batch_guard = 1;
	}
	for (i = 0; i < a->n; i++)
		if (madvise(a->iov[i].iov_base, a->iov[i].iov_len, a->advice))
			a->bad = 1;
	a->n = 0;
}

static void advice_add(struct advice *a, void *base, size_t len)
{
	if (len == 0)
		return;
	a->iov[a->n].iov_base = base;
	a->iov[a->n].iov_len = len;
	if (++a->n == ADVICE_BATCH)
		advice_flush(a);
}

/* Put the guard (or the canary) below the usable area [lo, ...). The
 * page below lo is ours in every mode.  Returns the mode applied, or -1
 * when a forced guard mode cannot be had (AUTO falls back to a canary).
 * guarded: the slab's guards are in already. */
static int protect(smarm__stack_pool *p, char *lo, int guarded, size_t *maps)
{
	*maps = 0;
	switch (p->guard) {
	case SMARM_GUARD_MADVISE:
		if (guarded || madvise(lo - PAGE, PAGE, MADV_GUARD_INSTALL) == 0)
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
	if (p->mode != SMARM_GUARD_AUTO && p->mode != SMARM_GUARD_CANARY) {
		if (p->guard == SMARM_GUARD_MPROTECT && p->map_budget < 2)
			smarm__limit_hit(p->said, SMARM__LIMIT_MAPS, "spawn", 0);
		else
			smarm__limit_nomem(p->said, "spawn");
		return -1;
	}
	return SMARM_GUARD_CANARY;
}

/* Fill in the descriptor s of the stack [lo, hi) and register it. */
static smarm__stack *describe(smarm__stack_pool *p, smarm__stack *s, char *lo,
			      char *hi, int guard, size_t map_len)
{
	s->lo = lo;
	s->top = hi;
	s->next = s->batch_next = NULL;
	s->map_len = map_len;
	s->guard = (unsigned)guard;
	s->cold = 0;
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

/* The guard pages of every stack of a new slab, in a few calls: nonzero
 * when they all went in. */
static int guard_slab(smarm__stack_pool *p, smarm__slab *sl, size_t n)
{
	struct advice a = { .p = p, .advice = MADV_GUARD_INSTALL };
	size_t i;

	if (p->guard != SMARM_GUARD_MADVISE || p->batch_guard ||
	    RUNNING_ON_VALGRIND)
		return 0;
	for (i = 0; i < n; i++)
		advice_add(&a, sl->base + i * p->stride, PAGE);
	advice_flush(&a);
	return !a.bad;
}

static smarm__slab *new_slab(smarm__stack_pool *p)
{
	size_t n = SLAB_BYTES / p->stride, len;
	smarm__slab *sl;

	if (n < 4)
		n = 4;
	len = n * p->stride;
	sl = malloc(sizeof(*sl));
	if (sl == NULL) {
		smarm__limit_nomem(p->said, "spawn");
		return NULL;
	}
	sl->desc = calloc(n, sizeof(*sl->desc));
	sl->base = mmap(NULL, len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
			-1, 0);
	if (sl->desc == NULL || sl->base == MAP_FAILED) {
		if (sl->base != MAP_FAILED)
			munmap(sl->base, len);
		free(sl->desc);
		free(sl);
		smarm__limit_nomem(p->said, "spawn");
		return NULL;
	}
	sl->len = len;
	sl->ncarved = 0;
	sl->next = p->slabs;
	p->slabs = sl;
	p->carve = sl->base;
	p->carve_end = sl->base + len;
	p->carve_guarded = guard_slab(p, sl, n);
	if (p->map_budget)
		p->map_budget--;
	return sl;
}

static smarm__stack *carve(smarm__stack_pool *p)
{
	smarm__slab *sl = p->slabs;
	char *slot, *lo;
	size_t maps;
	int guard;

	if (p->carve == NULL || (size_t)(p->carve_end - p->carve) < p->stride) {
		sl = new_slab(p);
		if (sl == NULL)
			return NULL;
	}
	slot = p->carve;
	lo = slot + PAGE;
	guard = protect(p, lo, p->carve_guarded, &maps);
	if (guard < 0)
		return NULL;
	p->carve += p->stride;
	if (maps) {
		p->map_budget -= maps;
		p->nguarded++;
	}
	return describe(p, &sl->desc[sl->ncarved++], lo, slot + p->stride,
			guard, 0);
}

static smarm__stack *map_own(smarm__stack_pool *p, size_t size)
{
	size_t len = smarm__stack_round(size + SMARM__STACK_TOP) + PAGE, maps;
	smarm__stack *s = calloc(1, sizeof(*s));
	char *m;
	int guard;

	if (s == NULL) {
		smarm__limit_nomem(p->said, "spawn");
		return NULL;
	}
	m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (m == MAP_FAILED) {
		free(s);
		smarm__limit_nomem(p->said, "spawn");
		return NULL;
	}
	guard = protect(p, m + PAGE, 0, &maps);
	if (guard < 0) {
		munmap(m, len);
		free(s);
		return NULL;
	}
	if (maps) {
		p->map_budget -= maps;
		p->nguarded++;
	}
	return describe(p, s, m + PAGE, m + len, guard, len);
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

int smarm__stack_reserve(smarm__stack_pool *p, smarm__stack_cache *c)
{
	smarm__stack *s = smarm__stack_refill(p, c, 0);

	if (s == NULL)
		return ENOMEM;
	s->next = c->head;
	c->head = s;
	c->n++;
	return 0;
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
	free(s);
}

void smarm__stack_put(smarm__stack_pool *p, smarm__stack *s)
{
	/* The frames of an actor that never ended (or overflowed) must not
	 * poison the next one's. */
	smarm__fiber_clean(s->lo, (size_t)(s->top - s->lo));
	if (s->map_len) {
		unmap_own(p, s);
		return;
	}
	s->cold = 0;
	smarm__lock_take(&p->lock);
	s->next = p->cache;
	p->cache = s;
	smarm__lock_drop(&p->lock);
}

void smarm__stack_put_cached(smarm__stack_pool *p, smarm__stack_cache *c,
			     smarm__stack *s)
{
	smarm__fiber_clean(s->lo, (size_t)(s->top - s->lo));
	if (s->map_len) {
		unmap_own(p, s);
		return;
	}
	s->cold = 0;
	s->next = c->head;
	c->head = s;
	c->used = 1;
	if (__builtin_expect(++c->n == SMARM__STACK_BATCH, 0)) {
		/* head is a complete batch: it becomes `full`, and a batch
		 * that was there goes to the pool, used. */
		smarm__stack *give = c->full;

		c->full = c->head;
		c->head = NULL;
		c->n = 0;
		if (give) {
			give->cold = 0;
			smarm__lock_take(&p->lock);
			give->batch_next = p->batches;
			p->batches = give;
			smarm__lock_drop(&p->lock);
		}
	}
}

/* ---- giving pages back ------------------------------------------------------ */

/* Advise away the pages of a chain linked by `next` (n stacks at most,
 * all of it when n is 0) below their top `keep` bytes, a canary's page
 * spared; marks each cold when nothing is kept. */
static void trim_chain(smarm__stack_pool *p, smarm__stack *s, size_t n,
		       size_t keep)
{
	struct advice a = { .p = p, .advice = MADV_DONTNEED };
	size_t i;

	for (i = 0; s != NULL && (n == 0 || i < n); s = s->next, i++) {
		char *lo = s->lo + (s->guard == SMARM_GUARD_CANARY ? PAGE : 0);
		char *hi = s->top - keep;

		advice_add(&a, lo, hi > lo ? (size_t)(hi - lo) : 0);
		s->cold = keep == 0;
	}
	advice_flush(&a);
}

/* Take the used (not cold) stacks out of the loose list: their chain,
 * in the order they were in. */
static smarm__stack *take_used(smarm__stack **list)
{
	smarm__stack *used = NULL, **tail = &used, **at = list, *s;

	while ((s = *at) != NULL) {
		if (s->cold) {
			at = &s->next;
		} else {
			*at = s->next;
			*tail = s;
			tail = &s->next;
		}
	}
	*tail = NULL;
	return used;
}

/* Cut off the used front of the list of batches (the used ones are
 * pushed, so they come first): its head, or NULL. */
static smarm__stack *cut_used_batches(smarm__stack **list)
{
	smarm__stack *head = *list, *b = head, *last = NULL;

	while (b != NULL && !b->cold) {
		last = b;
		b = b->batch_next;
	}
	if (last == NULL)
		return NULL;
	last->batch_next = NULL;
	*list = b;
	return head;
}

/* Put cold batches back after the used ones pushed meanwhile. */
static void splice_cold_batches(smarm__stack **list, smarm__stack *chain)
{
	smarm__stack **at = list, *end = chain;

	if (chain == NULL)
		return;
	while (*at != NULL && !(*at)->cold)
		at = &(*at)->batch_next;
	while (end->batch_next != NULL)
		end = end->batch_next;
	end->batch_next = *at;
	*at = chain;
}

/* Put cold loose stacks back at the end of the loose list. */
static void append_cold(smarm__stack **list, smarm__stack *chain)
{
	while (*list != NULL)
		list = &(*list)->next;
	*list = chain;
}

size_t smarm__stack_trim(smarm__stack_pool *p, smarm__stack_cache *c)
{
	smarm__stack *loose, *batches, *b;
	size_t n = 0;

	if (c->used) {
		/* Kept warm, but for the pages deep frames touched. */
		c->used = 0;
		trim_chain(p, c->head, c->n, SMARM__STACK_KEEP);
		if (c->full)
			trim_chain(p, c->full, SMARM__STACK_BATCH,
				   SMARM__STACK_KEEP);
		n += c->n + (c->full ? SMARM__STACK_BATCH : 0);
	}
	/* The pool's used stacks leave it while their pages go: nobody may
	 * take one meanwhile. */
	smarm__lock_take(&p->lock);
	loose = take_used(&p->cache);
	batches = cut_used_batches(&p->batches);
	smarm__lock_drop(&p->lock);
	if (loose == NULL && batches == NULL)
		return n;
	for (b = loose; b != NULL; b = b->next)
		n++;
	trim_chain(p, loose, 0, 0);
	for (b = batches; b != NULL; b = b->batch_next) {
		trim_chain(p, b, SMARM__STACK_BATCH, 0);
		n += SMARM__STACK_BATCH;
	}
	smarm__lock_take(&p->lock);
	append_cold(&p->cache, loose);
	splice_cold_batches(&p->batches, batches);
	smarm__lock_drop(&p->lock);
	return n;
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
	size_t i;

	for (sl = p->slabs; sl != NULL; sl = next) {
		next = sl->next;
		for (i = 0; i < sl->ncarved; i++)
			VALGRIND_STACK_DEREGISTER(sl->desc[i].vg_id);
		smarm__fiber_clean(sl->base, sl->len);
		munmap(sl->base, sl->len);
		free(sl->desc);
		free(sl);
	}
	memset(p, 0, sizeof(*p));
}
