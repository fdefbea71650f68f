/*
 * check_stack.c - actor stacks (lib/stack.c): the pool's arguments, the
 * three guard modes and AUTO, the canary, stacks of other sizes, the
 * cache, the fall-back from mprotect guards to canaries, the pages given
 * back by a trim; and through a runtime: the pages a burst of actors
 * leaves given back once the workers idle, every mode forced by the
 * configuration or the environment, an overwritten canary, a real
 * overflow into a guard page, many actors alive at once.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#define TIMEOUT 120
#include "testutil.h"

#include <limits.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "idle.h"
#include "stack.h"

#define PAGE 4096u
#define KIB 1024u
#define MIB (1024u * 1024u)
/* The size a stack really has for a request: room for the first frame
 * comes on top of what was asked. */
#define FULL(size) smarm__stack_round((size) + SMARM__STACK_TOP)

/* Set once in main, before any test forks. */
static int have_madvise;

/* The modes the loop tests go through, by _i. */
static const int modes[] = { SMARM_GUARD_MADVISE, SMARM_GUARD_MPROTECT,
			     SMARM_GUARD_CANARY, SMARM_GUARD_AUTO };
#define NMODES ((int)(sizeof(modes) / sizeof(modes[0])))

/* The modes with a guard page on this kernel. */
static int guarded_modes[3];
static int nguarded_modes;

static const char *mode_name(int mode)
{
	switch (mode) {
	case SMARM_GUARD_AUTO:
		return "auto";
	case SMARM_GUARD_MADVISE:
		return "madvise";
	case SMARM_GUARD_MPROTECT:
		return "mprotect";
	case SMARM_GUARD_CANARY:
		return "canary";
	}
	return "?";
}

/* The guard a new stack gets in mode (with mappings to spare). */
static unsigned expected_guard(int mode)
{
	if (mode == SMARM_GUARD_AUTO)
		return have_madvise ? SMARM_GUARD_MADVISE
				    : SMARM_GUARD_MPROTECT;
	return (unsigned)mode;
}

/* Initialise p in mode; 0 when the kernel lacks the mode (madvise), and
 * then init must have said ENOTSUP. */
static int pool_init_mode(smarm__stack_pool *p, int mode, size_t size)
{
	int err = smarm__stack_pool_init(p, mode, size);

	if (mode == SMARM_GUARD_MADVISE && !have_madvise) {
		ck_assert_int_eq(err, ENOTSUP);
		return 0;
	}
	ck_assert_msg(err == 0, "pool init (%s): %d", mode_name(mode), err);
	return 1;
}

static int is_mapped(const void *addr)
{
	unsigned char v;

	return mincore((void *)((uintptr_t)addr & ~(uintptr_t)(PAGE - 1)),
		       PAGE, &v) == 0 || errno != ENOMEM;
}

/* Fill [lo, top) with a pattern and read it back; the descriptor must
 * come through unharmed. */
static void write_all(smarm__stack *s, unsigned char seed)
{
	smarm__stack copy = *s;
	size_t n = (size_t)(s->top - s->lo), i;

	for (i = 0; i < n; i++)
		s->lo[i] = (unsigned char)(seed + (i >> 12) + i);
	for (i = 0; i < n; i++)
		if ((unsigned char)s->lo[i] !=
		    (unsigned char)(seed + (i >> 12) + i))
			ck_abort_msg("byte %zu of the stack did not keep its "
				     "value", i);
	ck_assert_ptr_eq(s->lo, copy.lo);
	ck_assert_ptr_eq(s->top, copy.top);
	ck_assert_ptr_eq((const void *)s->canary, (const void *)copy.canary);
	ck_assert_uint_eq(s->map_len, copy.map_len);
	ck_assert_uint_eq(s->guard, copy.guard);
	/* A canary stack's canary word is part of [lo, top): restore it,
	 * as only a stack with an intact canary is ever put back. */
	if (s->guard == SMARM_GUARD_CANARY)
		*(volatile uint64_t *)s->lo = SMARM__CANARY;
}

/* What every stack looks like, whatever its mode and size. */
static void check_stack_shape(const smarm__stack_pool *p,
			      const smarm__stack *s, size_t want)
{
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq((uintptr_t)s->lo % PAGE, 0);
	ck_assert_uint_eq((uintptr_t)s->top % PAGE, 0);
	ck_assert_msg((size_t)(s->top - s->lo) >= want + SMARM__STACK_TOP,
		      "%zu usable bytes for %zu asked",
		      (size_t)(s->top - s->lo), want);
	ck_assert_uint_le((size_t)(s->top - s->lo), FULL(want));
	/* The stack is all the mapping holds above the guard page; the
	 * descriptor lies outside it. */
	if (s->map_len == 0)
		ck_assert_uint_eq((size_t)(s->top - s->lo), p->size);
	else
		ck_assert_ptr_eq(s->top, s->lo - PAGE + s->map_len);
	ck_assert((const char *)(s + 1) <= s->lo - PAGE ||
		  (const char *)s >= s->top);
	if (s->guard == SMARM_GUARD_CANARY) {
		ck_assert_ptr_eq((const void *)s->canary, (const void *)s->lo);
		ck_assert(*s->canary == SMARM__CANARY);
		ck_assert(*(const uint64_t *)s->lo == SMARM__CANARY);
	} else {
		ck_assert_ptr_eq((const void *)s->canary,
				 (const void *)&smarm__canary_ok);
		ck_assert(*s->canary == SMARM__CANARY);
	}
}

/*
 * A stack from the pool, as a worker gets one: through a worker's cache,
 * here an empty one of its own for each call, so that what comes back is
 * what the pool hands out (its shared cache, a new carving, or a mapping
 * of its own).  The tests put stacks back with smarm__stack_put, never in
 * batches, so the pool has no batch to give and the cache stays empty.
 */
static smarm__stack *stack_get(smarm__stack_pool *p, size_t size)
{
	smarm__stack_cache c;
	smarm__stack *s;

	memset(&c, 0, sizeof(c));
	s = smarm__stack_get_cached(p, &c, size);
	ck_assert_ptr_null(c.head);
	ck_assert_ptr_null(c.full);
	return s;
}

/* ---- pool arguments --------------------------------------------------------- */

START_TEST(test_init_errors)
{
	static const int bad_modes[] = { -1, 4, 99, INT_MIN, INT_MAX };
	static const size_t bad_sizes[] = {
		0, 1, SMARM_STACK_MIN - 1, (size_t)SMARM_STACK_MAX + 1,
		SIZE_MAX
	};
	smarm__stack_pool p;
	size_t i, j;

	for (i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
		ck_assert_int_eq(smarm__stack_pool_init(&p, bad_modes[i],
						       SMARM_STACK_DEFAULT),
				 EINVAL);
		smarm__stack_pool_fini(&p);
	}
	for (i = 0; i < (size_t)NMODES; i++)
		for (j = 0; j < sizeof(bad_sizes) / sizeof(bad_sizes[0]);
		     j++) {
			ck_assert_int_eq(smarm__stack_pool_init(
						 &p, modes[i], bad_sizes[j]),
					 EINVAL);
			smarm__stack_pool_fini(&p);
		}

	/* The madvise guard is refused exactly where the kernel lacks it. */
	ck_assert_int_eq(smarm__stack_pool_init(&p, SMARM_GUARD_MADVISE,
					       SMARM_STACK_DEFAULT),
			 have_madvise ? 0 : ENOTSUP);
	smarm__stack_pool_fini(&p);

	/* The limits themselves are fine. */
	for (i = 0; i < (size_t)NMODES; i++) {
		if (!pool_init_mode(&p, modes[i], SMARM_STACK_MIN))
			continue;
		ck_assert_uint_eq(p.size, FULL(SMARM_STACK_MIN));
		smarm__stack_pool_fini(&p);
		ck_assert(pool_init_mode(&p, modes[i], SMARM_STACK_MAX));
		ck_assert_uint_eq(p.size, FULL(SMARM_STACK_MAX));
		smarm__stack_pool_fini(&p);
	}
}
END_TEST

START_TEST(test_init_fields)
{
	int mode = modes[_i];
	smarm__stack_pool p;

	if (!pool_init_mode(&p, mode, SMARM_STACK_MIN + 1))
		return;
	ck_assert_int_eq(p.mode, mode);
	ck_assert_int_eq(p.guard, (int)expected_guard(mode));
	/* Sizes grow by the room at the top and are rounded up to pages;
	 * a guard page lies between stacks. */
	ck_assert_uint_ge(p.size, SMARM_STACK_MIN + 1 + SMARM__STACK_TOP);
	ck_assert_uint_eq(p.size % PAGE, 0);
	ck_assert_uint_eq(p.size, FULL(SMARM_STACK_MIN + 1));
	ck_assert_uint_eq(p.stride, p.size + PAGE);
	ck_assert_ptr_null(p.cache);
	ck_assert_ptr_null(p.slabs);
	ck_assert_uint_eq(p.ncanary, 0);
	ck_assert_uint_eq(p.nguarded, 0);
	if (p.guard == SMARM_GUARD_MPROTECT)
		ck_assert_uint_gt(p.map_budget, 1000);
	else
		ck_assert_uint_eq(p.map_budget, 0);
	smarm__stack_pool_fini(&p);
}
END_TEST

START_TEST(test_round)
{
	ck_assert_uint_eq(smarm__stack_round(0), 0);
	ck_assert_uint_eq(smarm__stack_round(1), PAGE);
	ck_assert_uint_eq(smarm__stack_round(PAGE - 1), PAGE);
	ck_assert_uint_eq(smarm__stack_round(PAGE), PAGE);
	ck_assert_uint_eq(smarm__stack_round(PAGE + 1), 2 * PAGE);
	ck_assert_uint_eq(smarm__stack_round(SMARM_STACK_DEFAULT),
			  SMARM_STACK_DEFAULT);
}
END_TEST

/* ---- get, write, put ---------------------------------------------------------- */

START_TEST(test_get_write_put)
{
	int mode = modes[_i];
	smarm__stack_pool p;
	smarm__stack *s, *a, *b;

	if (!pool_init_mode(&p, mode, SMARM_STACK_DEFAULT))
		return;
	s = stack_get(&p, 0);
	check_stack_shape(&p, s, SMARM_STACK_DEFAULT);
	ck_assert_uint_eq(s->map_len, 0);
	ck_assert_uint_eq(s->guard, expected_guard(mode));
	ck_assert_uint_eq(p.ncanary, mode == SMARM_GUARD_CANARY ? 1 : 0);
	ck_assert_ptr_nonnull(p.slabs);
	write_all(s, 1);

	/* The cache gives back the stack just put. */
	smarm__stack_put(&p, s);
	ck_assert_ptr_eq(p.cache, s);
	ck_assert_ptr_eq(stack_get(&p, 0), s);
	ck_assert_ptr_null(p.cache);
	check_stack_shape(&p, s, SMARM_STACK_DEFAULT);
	ck_assert_uint_eq(s->guard, expected_guard(mode));
	/* Asking for the default size by its value does the same. */
	smarm__stack_put(&p, s);
	ck_assert_ptr_eq(stack_get(&p, SMARM_STACK_DEFAULT), s);
	/* ... and so does a size that rounds to the same. */
	smarm__stack_put(&p, s);
	ck_assert_ptr_eq(stack_get(&p, SMARM_STACK_DEFAULT - 100), s);
	smarm__stack_put(&p, s);
	ck_assert_ptr_eq(stack_get(&p, SMARM_STACK_DEFAULT + 1), s);
	check_stack_shape(&p, s, SMARM_STACK_DEFAULT + 1);

	/* Most recent first. */
	a = stack_get(&p, 0);
	b = stack_get(&p, 0);
	ck_assert(a != s && b != s && a != b);
	check_stack_shape(&p, a, SMARM_STACK_DEFAULT);
	check_stack_shape(&p, b, SMARM_STACK_DEFAULT);
	/* Distinct stacks do not overlap. */
	ck_assert(a->top <= b->lo - PAGE || b->top <= a->lo - PAGE);
	ck_assert(a->top <= s->lo - PAGE || s->top <= a->lo - PAGE);
	write_all(a, 2);
	write_all(b, 3);
	smarm__stack_put(&p, a);
	smarm__stack_put(&p, b);
	smarm__stack_put(&p, s);
	ck_assert_ptr_eq(stack_get(&p, 0), s);
	ck_assert_ptr_eq(stack_get(&p, 0), b);
	ck_assert_ptr_eq(stack_get(&p, 0), a);
	ck_assert_uint_eq(p.ncanary, mode == SMARM_GUARD_CANARY ? 3 : 0);
	smarm__stack_put(&p, a);
	smarm__stack_put(&p, b);
	smarm__stack_put(&p, s);
	smarm__stack_pool_fini(&p);
	ck_assert_ptr_null(p.slabs);
	ck_assert_ptr_null(p.cache);
}
END_TEST

/* Canary mode has no guard page, but the page below lo is still the
 * stack's own: a small overrun does not reach the neighbour below. */
START_TEST(test_canary_page_below)
{
	smarm__stack_pool p;
	smarm__stack *a, *b, copy;

	ck_assert(pool_init_mode(&p, SMARM_GUARD_CANARY, 64 * KIB));
	a = stack_get(&p, 0);
	b = stack_get(&p, 0);
	check_stack_shape(&p, a, 64 * KIB);
	check_stack_shape(&p, b, 64 * KIB);
	if (b->lo < a->lo) {
		smarm__stack *t = a;

		a = b;
		b = t;
	}
	copy = *a;
	memset(b->lo - PAGE, 0xee, PAGE);
	ck_assert(memcmp(&copy, a, sizeof(copy)) == 0);
	ck_assert(*a->canary == SMARM__CANARY);
	ck_assert(*b->canary == SMARM__CANARY);
	smarm__stack_put(&p, a);
	smarm__stack_put(&p, b);
	smarm__stack_pool_fini(&p);
}
END_TEST

/* ---- guard pages ---------------------------------------------------------------- */

static void fault_below(int mode, size_t size)
{
	static smarm__stack_pool p;	/* reachable when the fault ends us */
	static smarm__stack *s;

	ck_assert(pool_init_mode(&p, mode, 64 * KIB));
	s = stack_get(&p, size);
	check_stack_shape(&p, s, size ? size : 64 * KIB);
	ck_assert_uint_ne(s->guard, SMARM_GUARD_CANARY);
	ck_assert_uint_eq(s->map_len != 0, size != 0);
	/* The lowest usable byte is fine ... */
	*(volatile char *)s->lo = 1;
	/* ... the one below it is not. */
	*(volatile char *)(s->lo - 1) = 1;
	ck_abort_msg("%s: wrote below lo of a %s stack without a fault",
		     mode_name(mode), size ? "mapped" : "slab");
}

START_TEST(test_guard_fault_slab)
{
	fault_below(guarded_modes[_i], 0);
}
END_TEST

START_TEST(test_guard_fault_own)
{
	fault_below(guarded_modes[_i], 128 * KIB);
}
END_TEST

/* The fault comes from the page, not from the pattern of writes: the
 * whole guard page, read or written, is off limits. */
START_TEST(test_guard_fault_read_page_bottom)
{
	smarm__stack_pool p;
	smarm__stack *s;

	ck_assert(pool_init_mode(&p, guarded_modes[_i], SMARM_STACK_DEFAULT));
	s = stack_get(&p, 0);
	ck_assert_uint_ne(s->guard, SMARM_GUARD_CANARY);
	(void)*(volatile char *)(s->lo - PAGE);
	ck_abort_msg("%s: read the bottom of the guard page without a fault",
		     mode_name(guarded_modes[_i]));
}
END_TEST

/* ---- stacks of other sizes ------------------------------------------------------ */

START_TEST(test_own_sizes)
{
	static const size_t sizes[] = { 1 * MIB, 64 * KIB, SMARM_STACK_MIN,
					SMARM_STACK_DEFAULT + PAGE,
					3 * MIB + 5 };
	int mode = modes[_i];
	smarm__stack_pool p;
	size_t i;

	if (!pool_init_mode(&p, mode, SMARM_STACK_DEFAULT))
		return;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t budget = p.map_budget, nguarded = p.nguarded;
		size_t ncanary = p.ncanary;
		smarm__stack *cache = p.cache, *s;
		smarm__slab *slabs = p.slabs;
		char *lo;

		s = stack_get(&p, sizes[i]);
		check_stack_shape(&p, s, sizes[i]);
		ck_assert_uint_ne(s->map_len, 0);
		ck_assert_uint_eq(s->map_len, FULL(sizes[i]) + PAGE);
		ck_assert_uint_eq(s->guard, expected_guard(mode));
		/* A mapping of its own: no slab, no cache involved. */
		ck_assert_ptr_eq(p.slabs, slabs);
		ck_assert_ptr_eq(p.cache, cache);
		switch (s->guard) {
		case SMARM_GUARD_MPROTECT:
			ck_assert_uint_eq(p.map_budget, budget - 2);
			ck_assert_uint_eq(p.nguarded, nguarded + 1);
			break;
		case SMARM_GUARD_CANARY:
			ck_assert_uint_eq(p.ncanary, ncanary + 1);
			break;
		}
		write_all(s, (unsigned char)i);
		lo = s->lo;
		ck_assert(is_mapped(lo));
		ck_assert(is_mapped(s->top - 1));

		/* Put: unmapped, not cached, the counts restored. */
		smarm__stack_put(&p, s);
		ck_assert(!is_mapped(lo));
		ck_assert(!is_mapped(lo - PAGE));
		ck_assert_ptr_eq(p.cache, cache);
		ck_assert_uint_eq(p.map_budget, budget);
		ck_assert_uint_eq(p.nguarded, nguarded);
		ck_assert_uint_eq(p.ncanary, ncanary);
	}
	smarm__stack_pool_fini(&p);
}
END_TEST

/* ---- the cache -------------------------------------------------------------------- */

#define NREUSE 1000

START_TEST(test_reuse_many)
{
	int mode = modes[_i];
	smarm__stack_pool p;
	smarm__stack *got[NREUSE];
	smarm__slab *slabs;
	char *carve;
	size_t ncanary, nguarded, budget;
	int i;

	if (!pool_init_mode(&p, mode, SMARM_STACK_DEFAULT))
		return;
	for (i = 0; i < NREUSE; i++) {
		got[i] = stack_get(&p, 0);
		ck_assert_ptr_nonnull(got[i]);
		ck_assert_uint_eq(got[i]->map_len, 0);
		ck_assert_uint_eq(got[i]->guard, expected_guard(mode));
		got[i]->lo[0] = 1;
		got[i]->top[-1] = 1;
	}
	slabs = p.slabs;
	carve = p.carve;
	ncanary = p.ncanary;
	nguarded = p.nguarded;
	budget = p.map_budget;
	ck_assert_uint_eq(ncanary, mode == SMARM_GUARD_CANARY ? NREUSE : 0);
	if (expected_guard(mode) == SMARM_GUARD_MPROTECT)
		ck_assert_uint_eq(nguarded, NREUSE);
	for (i = 0; i < NREUSE; i++) {
		if (got[i]->guard == SMARM_GUARD_CANARY)
			*(volatile uint64_t *)got[i]->lo = SMARM__CANARY;
		smarm__stack_put(&p, got[i]);
	}
	/* Back in reverse order, with no new memory. */
	for (i = NREUSE - 1; i >= 0; i--) {
		smarm__stack *s = stack_get(&p, 0);

		if (s != got[i])
			ck_abort_msg("get #%d gave %p, not %p", NREUSE - 1 - i,
				     (void *)s, (void *)got[i]);
		check_stack_shape(&p, s, SMARM_STACK_DEFAULT);
	}
	ck_assert_ptr_null(p.cache);
	ck_assert_ptr_eq(p.slabs, slabs);
	ck_assert_ptr_eq(p.carve, carve);
	ck_assert_uint_eq(p.ncanary, ncanary);
	ck_assert_uint_eq(p.nguarded, nguarded);
	ck_assert_uint_eq(p.map_budget, budget);
	/* One more really is new. */
	{
		smarm__stack *s = stack_get(&p, 0);

		for (i = 0; i < NREUSE; i++)
			ck_assert_ptr_ne(s, got[i]);
		smarm__stack_put(&p, s);
	}
	for (i = 0; i < NREUSE; i++)
		smarm__stack_put(&p, got[i]);
	smarm__stack_pool_fini(&p);
}
END_TEST

/* Pages of [lo, hi) in memory. */
static size_t resident(const char *lo, const char *hi)
{
	size_t n = (size_t)(hi - lo) / PAGE, i, r = 0;
	unsigned char *v = malloc(n);

	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(mincore((void *)lo, (size_t)(hi - lo), v), 0);
	for (i = 0; i < n; i++)
		r += v[i] & 1;
	free(v);
	return r;
}

/* Every byte of s in use, the canary kept. */
static void fill(smarm__stack *s, unsigned char c)
{
	memset(s->lo, c, (size_t)(s->top - s->lo));
	if (s->guard == SMARM_GUARD_CANARY)
		*(volatile uint64_t *)s->lo = SMARM__CANARY;
}

/*
 * A trim gives back every page of the shared cache's stacks used since
 * the last trim (but for a canary's page), and the pages below the top
 * SMARM__STACK_KEEP bytes of a worker's own cached stacks; it leaves
 * alone what was trimmed before and stacks in use; guards and canaries
 * survive it.  Nothing happens on a put.
 */
START_TEST(test_trim)
{
	int mode = modes[_i];
	smarm__stack_pool p;
	smarm__stack_cache c;
	smarm__stack *a, *b, *own, *busy;
	size_t n, keep = SMARM__STACK_KEEP / PAGE, base;

	if (!pool_init_mode(&p, mode, SMARM_STACK_DEFAULT))
		return;
	memset(&c, 0, sizeof(c));
	a = stack_get(&p, 0);
	b = stack_get(&p, 0);
	own = stack_get(&p, 0);
	busy = stack_get(&p, 0);
	n = (size_t)(a->top - a->lo) / PAGE;
	base = a->guard == SMARM_GUARD_CANARY;	/* the canary's page */
	fill(a, 0xa5);
	fill(b, 0x5a);
	fill(own, 0x33);
	fill(busy, 0x77);
	/* A put gives nothing back. */
	smarm__stack_put(&p, a);
	smarm__stack_put(&p, b);
	smarm__stack_put_cached(&p, &c, own);
	ck_assert_uint_eq(resident(a->lo, a->top), n);
	ck_assert_uint_eq(resident(own->lo, own->top), n);

	ck_assert_uint_eq(smarm__stack_trim(&p, &c), 3);
	ck_assert_uint_eq(resident(a->lo, a->top), base);
	ck_assert_uint_eq(resident(b->lo, b->top), base);
	ck_assert_uint_eq(resident(own->lo, own->top), keep + base);
	ck_assert_uint_eq(resident(busy->lo, busy->top), n);
	ck_assert_uint_eq((unsigned char)own->top[-1], 0x33);
	ck_assert_uint_eq((unsigned char)own->lo[PAGE + 8], 0);
	ck_assert_uint_eq((unsigned char)busy->lo[PAGE + 8], 0x77);
	ck_assert(*a->canary == SMARM__CANARY);
	ck_assert(*own->canary == SMARM__CANARY);
	ck_assert(a->cold && b->cold);
	/* Nothing new since: nothing more to do. */
	ck_assert_uint_eq(smarm__stack_trim(&p, &c), 0);

	/* The pool hands out used stacks before cold ones; a trim puts
	 * the stacks it made cold behind those it had made cold before. */
	fill(busy, 0x11);
	smarm__stack_put(&p, busy);
	ck_assert_ptr_eq(stack_get(&p, 0), busy);
	smarm__stack_put(&p, busy);
	ck_assert_uint_eq(smarm__stack_trim(&p, &c), 1);
	ck_assert_ptr_eq(p.cache, b);
	ck_assert_uint_eq(resident(busy->lo, busy->top), base);

	/* A trimmed stack is as good as new, guard and all. */
	check_stack_shape(&p, a, SMARM_STACK_DEFAULT);
	ck_assert_uint_eq(a->guard, expected_guard(mode));
	smarm__stack_pool_fini(&p);
}
END_TEST

/* An actor that uses a little stack and returns arg + 1. */
static void *deep_ok(void *arg)
{
	volatile char buf[2048];

	memset((char *)buf, 1, sizeof(buf));
	return (void *)((uintptr_t)arg + (uintptr_t)buf[100]);
}

/* ---- running out of guards ------------------------------------------------------------ */

/*
 * AUTO on a kernel without the madvise guard uses mprotect guards and,
 * near the mapping limit, falls back to canaries.  Here the pool is made
 * to look like that by hand (whatever this kernel has), with a budget of
 * ten mappings: the slab takes one, each guard two.
 */
START_TEST(test_auto_fallback)
{
	smarm__stack_pool p;
	smarm__stack *s[20], *own;
	size_t nmp = 0, ncan = 0, i;

	ck_assert(pool_init_mode(&p, SMARM_GUARD_AUTO, SMARM_STACK_DEFAULT));
	p.guard = SMARM_GUARD_MPROTECT;
	p.map_budget = 10;
	for (i = 0; i < 20; i++) {
		s[i] = stack_get(&p, 0);
		check_stack_shape(&p, s[i], SMARM_STACK_DEFAULT);
		if (s[i]->guard == SMARM_GUARD_MPROTECT) {
			/* Guards first, then only canaries. */
			ck_assert_msg(ncan == 0, "stack %zu guarded after a "
				      "canary stack", i);
			nmp++;
		} else {
			ck_assert_uint_eq(s[i]->guard, SMARM_GUARD_CANARY);
			ncan++;
		}
	}
	ck_assert_uint_ge(nmp, 1);
	ck_assert_uint_le(nmp, 5);
	ck_assert_uint_eq(nmp + ncan, 20);
	ck_assert_uint_eq(p.ncanary, ncan);
	ck_assert_uint_eq(p.nguarded, nmp);
	ck_assert_uint_lt(p.map_budget, 2);

	/* A stack of its own size falls back too, and counts. */
	own = stack_get(&p, 1 * MIB);
	check_stack_shape(&p, own, 1 * MIB);
	ck_assert_uint_eq(own->guard, SMARM_GUARD_CANARY);
	ck_assert_uint_eq(p.ncanary, ncan + 1);
	smarm__stack_put(&p, own);
	ck_assert_uint_eq(p.ncanary, ncan);

	/* Both kinds come back from the cache as they were. */
	for (i = 0; i < 20; i++)
		smarm__stack_put(&p, s[i]);
	for (i = 20; i-- > 0;) {
		ck_assert_ptr_eq(stack_get(&p, 0), s[i]);
		ck_assert_uint_eq(s[i]->guard, i < nmp ? SMARM_GUARD_MPROTECT
						       : SMARM_GUARD_CANARY);
		check_stack_shape(&p, s[i], SMARM_STACK_DEFAULT);
	}
	ck_assert_uint_eq(p.ncanary, ncan);
	for (i = 0; i < 20; i++)
		smarm__stack_put(&p, s[i]);
	smarm__stack_pool_fini(&p);
}
END_TEST

/* A forced mprotect mode never hands out an unguarded stack: out of
 * mappings, get fails instead, and costs nothing. */
START_TEST(test_forced_no_fallback)
{
	smarm__stack_pool p;
	smarm__stack *s[20];
	char *carve;
	size_t n = 0, i;

	ck_assert(pool_init_mode(&p, SMARM_GUARD_MPROTECT,
				 SMARM_STACK_DEFAULT));
	p.map_budget = 10;
	while (n < 20 && (s[n] = stack_get(&p, 0)) != NULL) {
		check_stack_shape(&p, s[n], SMARM_STACK_DEFAULT);
		ck_assert_uint_eq(s[n]->guard, SMARM_GUARD_MPROTECT);
		n++;
	}
	ck_assert_uint_ge(n, 1);
	ck_assert_uint_le(n, 5);
	ck_assert_uint_eq(p.ncanary, 0);
	ck_assert_uint_eq(p.nguarded, n);
	/* Failing again changes nothing; no own mapping either. */
	carve = p.carve;
	ck_assert_ptr_null(stack_get(&p, 0));
	ck_assert_ptr_null(stack_get(&p, 1 * MIB));
	ck_assert_ptr_eq(p.carve, carve);
	ck_assert_uint_eq(p.ncanary, 0);
	ck_assert_uint_eq(p.nguarded, n);
	/* With mappings again, the slot that could not be guarded is the
	 * next one handed out: the failures lost nothing. */
	p.map_budget = 100;
	s[n] = stack_get(&p, 0);
	check_stack_shape(&p, s[n], SMARM_STACK_DEFAULT);
	ck_assert_uint_eq(s[n]->guard, SMARM_GUARD_MPROTECT);
	ck_assert_ptr_eq(s[n]->lo, carve + PAGE);
	n++;
	/* A stack in the cache needs no new guard. */
	p.map_budget = 0;
	smarm__stack_put(&p, s[n - 1]);
	ck_assert_ptr_eq(stack_get(&p, 0), s[n - 1]);
	for (i = 0; i < n; i++)
		smarm__stack_put(&p, s[i]);
	smarm__stack_pool_fini(&p);
}
END_TEST

/* The cap on mprotect-guarded stacks (valgrind's segment table): AUTO
 * falls back to canaries at it, a forced mode stops there. */
START_TEST(test_guard_cap)
{
	smarm__stack_pool p;
	smarm__stack *s[6], *own;
	size_t i;

	ck_assert(pool_init_mode(&p, SMARM_GUARD_AUTO, 64 * KIB));
	p.guard = SMARM_GUARD_MPROTECT;
	p.map_budget = 1000;
	p.nguarded_max = 3;
	for (i = 0; i < 6; i++) {
		s[i] = stack_get(&p, 0);
		check_stack_shape(&p, s[i], 64 * KIB);
		ck_assert_uint_eq(s[i]->guard, i < 3 ? SMARM_GUARD_MPROTECT
						     : SMARM_GUARD_CANARY);
	}
	ck_assert_uint_eq(p.nguarded, 3);
	ck_assert_uint_eq(p.ncanary, 3);
	/* With the cap lifted by one, an own mapping is guarded again, and
	 * gives its guard back when put. */
	p.nguarded_max = 4;
	own = stack_get(&p, 1 * MIB);
	ck_assert_uint_eq(own->guard, SMARM_GUARD_MPROTECT);
	ck_assert_uint_eq(p.nguarded, 4);
	smarm__stack_put(&p, own);
	ck_assert_uint_eq(p.nguarded, 3);
	for (i = 0; i < 6; i++)
		smarm__stack_put(&p, s[i]);
	smarm__stack_pool_fini(&p);

	ck_assert(pool_init_mode(&p, SMARM_GUARD_MPROTECT, 64 * KIB));
	p.nguarded_max = 3;
	for (i = 0; i < 3; i++) {
		s[i] = stack_get(&p, 0);
		ck_assert_ptr_nonnull(s[i]);
		ck_assert_uint_eq(s[i]->guard, SMARM_GUARD_MPROTECT);
	}
	ck_assert_ptr_null(stack_get(&p, 0));
	ck_assert_uint_eq(p.ncanary, 0);
	for (i = 0; i < 3; i++)
		smarm__stack_put(&p, s[i]);
	smarm__stack_pool_fini(&p);
}
END_TEST

/* Run root, which must return (void *)1, in a runtime with stacks in
 * guard mode `mode` and `threads` workers (0: the default); the runtime
 * is left for the caller to look at and free.  NULL when the kernel lacks
 * the mode (madvise), as smarm_runtime_new must then say. */
static smarm_runtime *run_root_in(int mode, unsigned threads, smarm_fn root)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	void *res = NULL;
	int err;

	smarm_config_init(&cfg);
	if (threads)
		cfg.threads = threads;
	cfg.stack_guard = mode;
	err = smarm_runtime_new(&rt, &cfg);
	if (mode == SMARM_GUARD_MADVISE && !have_madvise) {
		ck_assert_int_eq(err, ENOTSUP);
		return NULL;
	}
	ck_assert_int_eq(err, 0);
	ck_assert_int_eq(smarm_runtime_run(rt, root, NULL, &res), 0);
	ck_assert_ptr_eq(res, (void *)1);
	return rt;
}

/* Through the runtime: no guard to be had is ENOMEM for spawn. */
static void *enomem_root(void *arg)
{
	smarm_runtime *rt = smarm__runtime_self();
	smarm__stack_pool *p = &rt->stacks;
	size_t budget = p->map_budget;
	/* Slots taken from the table and not sitting in this worker's
	 * cache of free slots (a spawn may refill that cache). */
	uint32_t used = rt->pids.used - smarm__worker_slots_cached();
	smarm_spawn_opts o;
	smarm_pid pid;
	void *res = NULL;

	(void)arg;
	/* No free stack anywhere: the next spawn needs a new one. */
	ck_assert_ptr_null(p->cache);
	ck_assert_uint_eq(smarm__worker_stacks_cached(), 0);
	p->map_budget = 0;
	ck_assert_int_eq(smarm_spawn(&pid, deep_ok, (void *)3), ENOMEM);
	smarm_spawn_opts_init(&o);
	o.stack_size = 1 * MIB;
	ck_assert_int_eq(smarm_spawn_opt(&pid, deep_ok, (void *)3, &o),
			 ENOMEM);
	/* No slot was kept for the failed spawns. */
	ck_assert_uint_eq(rt->pids.used - smarm__worker_slots_cached(), used);
	ck_assert_uint_eq(p->ncanary, 0);
	p->map_budget = budget;
	ck_assert_int_eq(smarm_spawn(&pid, deep_ok, (void *)3), 0);
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), 0);
	ck_assert_ptr_eq(res, (void *)4);
	ck_assert_int_eq(smarm_spawn_opt(&pid, deep_ok, (void *)5, &o), 0);
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), 0);
	ck_assert_ptr_eq(res, (void *)6);
	return (void *)1;
}

START_TEST(test_spawn_enomem)
{
	smarm_runtime *rt = run_root_in(SMARM_GUARD_MPROTECT, 0, enomem_root);

	ck_assert_uint_eq(rt->stacks.ncanary, 0);
	smarm_runtime_free(rt);
}
END_TEST

/* ---- keeping many actors alive at once ------------------------------------------------ */

/*
 * Counting the stacks a runtime carved tells how many actors were alive
 * at once only if none ended (and gave its stack back for reuse) before
 * the last was spawned; with two workers, actors run (and end) while the
 * root is still spawning.  So the actors form a join chain: actor k > 0
 * joins actor k - 1 and actor 0 waits for the root's word on a channel,
 * which comes once all are spawned.  None can end before then.
 */
typedef struct link {
	uintptr_t k;
	smarm_pid prev;     /* actor k - 1; none for actor 0 */
	smarm_rx *go;       /* actor 0's */
	void *(*work)(struct link *l, void *(*wait)(struct link *));
} link_t;

/* Wait for the predecessor (or the go); returns its result. */
static void *link_wait(link_t *l)
{
	uint64_t v = 0;
	void *res = NULL;

	if (l->k == 0) {
		ck_assert_int_eq(smarm_recv(l->go, &v, SMARM_FOREVER), 0);
		ck_assert_uint_eq(v, 0x60);
		ck_assert_int_eq(smarm_rx_close(l->go), 0);
		return NULL;
	}
	ck_assert_int_eq(smarm_join(l->prev, &res, SMARM_FOREVER), 0);
	return res;
}

/* Links that have started, and so hold their stacks. */
static atomic_size_t links_started;

static void *link_main(void *arg)
{
	link_t *l = arg;

	atomic_fetch_add(&links_started, 1);
	return l->work(l, link_wait);
}

/* Spawn n links running work (each with spawn options o, NULL for the
 * defaults), release them, and return the last one's result.  Every one
 * of them has started, and holds its stack, when the go is sent. */
static void *run_chain(size_t n,
		       void *(*work)(link_t *, void *(*)(link_t *)),
		       const smarm_spawn_opts *o)
{
	link_t *links = calloc(n, sizeof(*links));
	smarm_tx *tx;
	smarm_rx *rx;
	smarm_pid last = SMARM_PID_NONE;
	uint64_t go = 0x60;
	void *res = NULL;
	size_t k;

	ck_assert_ptr_nonnull(links);
	ck_assert_int_eq(smarm_channel(&tx, &rx, sizeof(go)), 0);
	for (k = 0; k < n; k++) {
		links[k].k = k;
		links[k].prev = last;
		links[k].go = rx;
		links[k].work = work;
		ck_assert_int_eq(smarm_spawn_opt(&last, link_main, &links[k],
						 o), 0);
	}
	/* A stack is bound when its actor first runs: wait until all have
	 * (and hold one); none can end before the go. */
	while (atomic_load(&links_started) < n)
		ck_assert_int_eq(smarm_sleep(1000 * 1000), 0);
	atomic_store(&links_started, 0);
	ck_assert_uint_eq(stats_now().exited, 0);
	ck_assert_int_eq(smarm_send(tx, &go), 0);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_join(last, &res, SMARM_FOREVER), 0);
	free(links);
	return res;
}

/*
 * A spawn makes sure its worker has a stack to give; when two actors
 * count on the same one and the first holds it, the second finds none at
 * its first run: it ends on the worker's spare stack as a panic that
 * says so, without running, and the runtime goes on.
 */
static void *napper(void *arg)
{
	ck_assert_int_eq(smarm_sleep(50 * 1000 * 1000), 0);
	return arg;
}

static void *first_run_root(void *arg)
{
	smarm_runtime *rt = smarm__runtime_self();
	smarm__stack_pool *p = &rt->stacks;
	size_t budget = p->map_budget;
	smarm_pid a, b;
	void *ra = NULL, *rb = NULL;
	int ea, eb;

	(void)arg;
	ck_assert_ptr_null(p->cache);
	ck_assert_uint_eq(smarm__worker_stacks_cached(), 0);
	p->map_budget = 2;	/* one more mprotect-guarded stack */
	ck_assert_int_eq(smarm_spawn(&a, napper, (void *)7), 0);
	ck_assert_uint_eq(smarm__worker_stacks_cached(), 1);
	ck_assert_int_eq(smarm_spawn(&b, napper, (void *)8), 0);
	ea = smarm_join(a, &ra, SMARM_FOREVER);
	eb = smarm_join(b, &rb, SMARM_FOREVER);
	/* Whichever ran first napped; the other panicked. */
	if (ea == 0) {
		ck_assert_ptr_eq(ra, (void *)7);
		ck_assert_int_eq(eb, SMARM_EPANIC);
		ra = rb;
	} else {
		ck_assert_int_eq(ea, SMARM_EPANIC);
		ck_assert_int_eq(eb, 0);
		ck_assert_ptr_eq(rb, (void *)8);
	}
	ck_assert_ptr_nonnull(ra);
	ck_assert_str_eq((char *)ra, "no memory for the actor's stack");
	free(ra);
	/* The spare stack is the worker's again, and stacks come back with
	 * the mappings. */
	p->map_budget = budget;
	ck_assert_int_eq(smarm_spawn(&a, napper, (void *)9), 0);
	ck_assert_int_eq(smarm_spawn(&b, napper, (void *)10), 0);
	ck_assert_int_eq(smarm_join(a, &ra, SMARM_FOREVER), 0);
	ck_assert_int_eq(smarm_join(b, &rb, SMARM_FOREVER), 0);
	ck_assert_ptr_eq(ra, (void *)9);
	ck_assert_ptr_eq(rb, (void *)10);
	return (void *)1;
}

START_TEST(test_first_run_enomem)
{
	/* One worker: its cache is the one counted on. */
	smarm_runtime_free(run_root_in(SMARM_GUARD_MPROTECT, 1, first_run_root));
}
END_TEST

/* ---- through a runtime: every mode ------------------------------------------------------ */

#define NACTORS 2000
#define USE_BYTES (8u * KIB)

static uintptr_t use_8k_expected(uintptr_t k);

/* Fill 8 KiB of stack, let every other actor scribble on its own stack
 * meanwhile (waiting for the predecessor), check ours, and return a sum
 * that also vouches for the predecessor's. */
static void *use_8k(link_t *l, void *(*wait)(link_t *))
{
	volatile unsigned char buf[USE_BYTES];
	uintptr_t k = l->k, sum = 0;
	void *prev;
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(k * 31 + i);
	prev = wait(l);
	if (k > 0 && (uintptr_t)prev != use_8k_expected(k - 1))
		ck_abort_msg("actor %lu: predecessor's result %#lx, want %#lx",
			     (unsigned long)k, (unsigned long)(uintptr_t)prev,
			     (unsigned long)use_8k_expected(k - 1));
	for (i = 0; i < sizeof(buf); i++) {
		if (buf[i] != (unsigned char)(k * 31 + i))
			ck_abort_msg("actor %lu: byte %zu of its stack changed",
				     (unsigned long)k, i);
		sum += buf[i];
	}
	return (void *)(k * 1000003u + sum);
}

static uintptr_t use_8k_expected(uintptr_t k)
{
	uintptr_t sum = 0;
	size_t i;

	for (i = 0; i < USE_BYTES; i++)
		sum += (unsigned char)(k * 31 + i);
	return k * 1000003u + sum;
}

typedef struct mode_run {
	int mode;           /* what the runtime should be in */
	unsigned guard;     /* the guard its stacks should get */
} mode_run;

static void *modes_root(void *arg)
{
	mode_run *mr = arg;
	void *res;

	/* The setting reached the pool, and our own stack. */
	ck_assert_int_eq(smarm__runtime_self()->stacks.mode, mr->mode);
	ck_assert_uint_eq(smarm__actor_self()->stack->guard, mr->guard);
	/* NACTORS alive at once */
	res = run_chain(NACTORS, use_8k, NULL);
	if ((uintptr_t)res != use_8k_expected(NACTORS - 1))
		ck_abort_msg("last actor: result %#lx, want %#lx",
			     (unsigned long)(uintptr_t)res,
			     (unsigned long)use_8k_expected(NACTORS - 1));
	return (void *)mr;
}

/* Run NACTORS actors in a runtime made from cfg; check the mode. */
static void run_modes(const smarm_config *cfg, int mode)
{
	smarm_runtime *rt = NULL;
	mode_run mr;
	void *res = NULL;
	size_t lo, hi;
	int err;

	err = smarm_runtime_new(&rt, cfg);
	if (mode == SMARM_GUARD_MADVISE && !have_madvise) {
		ck_assert_int_eq(err, ENOTSUP);
		return;
	}
	ck_assert_int_eq(err, 0);
	ck_assert_int_eq(rt->stacks.mode, mode);
	mr.mode = mode;
	mr.guard = expected_guard(mode);
	ck_assert_int_eq(smarm_runtime_run(rt, modes_root, &mr, &res), 0);
	ck_assert_ptr_eq(res, &mr);
	/* The root and the NACTORS held their stacks at once, and each
	 * worker has a spare one; a worker may also hold one a spawn made
	 * sure of for an actor another worker then started.  Each stack is
	 * counted once whichever worker's cache it went through. */
	lo = NACTORS + 1 + rt->nworkers;
	hi = lo + rt->nworkers;
	switch (mr.guard) {
	case SMARM_GUARD_CANARY:
		/* Every stack carved is a canary one. */
		ck_assert_uint_ge(rt->stacks.ncanary, lo);
		ck_assert_uint_le(rt->stacks.ncanary, hi);
		ck_assert_uint_eq(rt->stacks.nguarded, 0);
		break;
	case SMARM_GUARD_MADVISE:
		ck_assert_uint_eq(rt->stacks.ncanary, 0);
		break;
	case SMARM_GUARD_MPROTECT:
		/* Forced mprotect guards every stack (AUTO could fall back
		 * to canaries near the mapping limit, not here). */
		ck_assert_uint_ge(rt->stacks.nguarded + rt->stacks.ncanary,
				  lo);
		ck_assert_uint_le(rt->stacks.nguarded + rt->stacks.ncanary,
				  hi);
		if (mode == SMARM_GUARD_MPROTECT)
			ck_assert_uint_eq(rt->stacks.ncanary, 0);
		break;
	}
	smarm_runtime_free(rt);
}

START_TEST(test_runtime_mode)
{
	smarm_config cfg;

	unsetenv("SMARM_STACK_GUARD");
	smarm_config_init(&cfg);
	ck_assert_int_eq(cfg.stack_guard, SMARM_GUARD_AUTO);
	cfg.stack_guard = modes[_i];
	run_modes(&cfg, modes[_i]);
}
END_TEST

START_TEST(test_runtime_env)
{
	static const struct {
		const char *value;
		int mode;
	} env[] = {
		{ "madvise", SMARM_GUARD_MADVISE },
		{ "mprotect", SMARM_GUARD_MPROTECT },
		{ "canary", SMARM_GUARD_CANARY },
		{ "auto", SMARM_GUARD_AUTO },
	};
	smarm_config cfg;
	size_t i;

	for (i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
		ck_assert_int_eq(setenv("SMARM_STACK_GUARD", env[i].value, 1),
				 0);
		smarm_config_init(&cfg);
		ck_assert_int_eq(cfg.stack_guard, env[i].mode);
		/* A value set after init wins over the environment. */
		cfg.stack_guard = SMARM_GUARD_CANARY;
		ck_assert_int_eq(cfg.stack_guard, SMARM_GUARD_CANARY);
	}

	/* Forced by the environment alone, with the actors running. */
	ck_assert_int_eq(setenv("SMARM_STACK_GUARD", "canary", 1), 0);
	smarm_config_init(&cfg);
	run_modes(&cfg, SMARM_GUARD_CANARY);
	ck_assert_int_eq(setenv("SMARM_STACK_GUARD", "mprotect", 1), 0);
	smarm_config_init(&cfg);
	run_modes(&cfg, SMARM_GUARD_MPROTECT);
	unsetenv("SMARM_STACK_GUARD");
}
END_TEST

/* smarm_run configures itself from the environment too. */
static void *env_root(void *arg)
{
	(void)arg;
	ck_assert_int_eq(smarm__runtime_self()->stacks.mode,
			 SMARM_GUARD_CANARY);
	ck_assert_uint_eq(smarm__actor_self()->stack->guard,
			  SMARM_GUARD_CANARY);
	return (void *)1;
}

START_TEST(test_run_env)
{
	void *res = NULL;

	ck_assert_int_eq(setenv("SMARM_STACK_GUARD", "canary", 1), 0);
	ck_assert_int_eq(smarm_run(env_root, NULL, &res), 0);
	ck_assert_ptr_eq(res, (void *)1);
	unsetenv("SMARM_STACK_GUARD");
}
END_TEST

/* ---- an overwritten canary ------------------------------------------------------------ */

static atomic_int sibling_ran;

static void *sibling(void *arg)
{
	(void)arg;
	atomic_fetch_add(&sibling_ran, 1);
	return NULL;
}

/* Overwrite our own canary; then either yield to a runnable sibling or
 * end. */
static void *smash_canary(void *arg)
{
	smarm__stack *st = smarm__actor_self()->stack;

	ck_assert_uint_eq(st->guard, SMARM_GUARD_CANARY);
	ck_assert(*st->canary == SMARM__CANARY);
	*(volatile uint64_t *)st->lo = 0;
	if (arg == NULL) {
		smarm_yield();
		ck_abort_msg("yield switched away past an overwritten canary "
			     "(sibling ran %d times)", atomic_load(&sibling_ran));
	}
	return NULL;
}

static void *smash_root(void *arg)
{
	smarm_spawn_opts o;
	smarm_pid victim, sib;
	int err;

	smarm_spawn_opts_init(&o);
	o.stack_size = 64 * KIB;
	o.name = "smasher";
	ck_assert_int_eq(smarm_spawn_opt(&victim, smash_canary, arg, &o), 0);
	ck_assert_int_eq(smarm_spawn(&sib, sibling, NULL), 0);
	err = smarm_join(victim, NULL, SMARM_FOREVER);
	/* (a test expecting a signal reports an exit without its message) */
	fprintf(stderr, "smash_root: join returned %d\n", err);
	ck_abort_msg("the actor with an overwritten canary ended normally "
		     "(join: %d)", err);
	return NULL;
}

static void run_smash(void *how)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;

	smarm_config_init(&cfg);
	cfg.stack_guard = SMARM_GUARD_CANARY;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	smarm_runtime_run(rt, smash_root, how, NULL);
	ck_abort_msg("the run returned");
}

START_TEST(test_canary_abort_yield)
{
	run_smash(NULL);
}
END_TEST

START_TEST(test_canary_abort_end)
{
	run_smash((void *)1);
}
END_TEST

/* The abort comes with a message naming the actor. */
START_TEST(test_canary_message)
{
	char buf[4096];
	size_t len = 0;
	ssize_t n;
	int fds[2], status;
	pid_t child;

	ck_assert_int_eq(pipe(fds), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		run_smash(NULL);
		_exit(0);
	}
	close(fds[1]);
	while (len < sizeof(buf) - 1 &&
	       (n = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fds[0]);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
		      "status %#x, stderr: %s", status, buf);
	ck_assert_msg(strstr(buf, "stack overflow") != NULL, "stderr: %s", buf);
	ck_assert_msg(strstr(buf, "canary") != NULL, "stderr: %s", buf);
	ck_assert_msg(strstr(buf, "'smasher'") != NULL, "stderr: %s", buf);
}
END_TEST

/* ---- a real overflow ----------------------------------------------------------------- */

static void *deep(void *arg)
{
	return (void *)use_stack((size_t)(uintptr_t)arg);
}

static void *overflow_root(void *arg)
{
	smarm_spawn_opts o;
	smarm_pid pid;
	void *res = NULL;

	smarm_spawn_opts_init(&o);
	o.stack_size = (size_t)(uintptr_t)arg;
	/* Within the stack: fine. */
	ck_assert_int_eq(smarm_spawn_opt(&pid, deep, (void *)(32 * KIB), &o),
			 0);
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), 0);
	/* Four times the stack: the guard page stops it, and the actor
	 * ends with a panic that says so. */
	o.name = "deep";
	ck_assert_int_eq(smarm_spawn_opt(&pid, deep, (void *)(256 * KIB), &o),
			 0);
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), SMARM_EPANIC);
	ck_assert_msg(strstr(res, "stack overflow") != NULL &&
		      strstr(res, "'deep'") != NULL, "reason: %s",
		      (char *)res);
	free(res);
	/* The worker goes on: the stack is reused, the spare too. */
	ck_assert_int_eq(smarm_spawn_opt(&pid, deep, (void *)(256 * KIB), &o),
			 0);
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), SMARM_EPANIC);
	free(res);
	ck_assert_int_eq(smarm_spawn_opt(&pid, deep, (void *)(32 * KIB), &o),
			 0);
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), 0);
	return NULL;
}

static void run_overflow(int mode, size_t default_size, size_t spawn_size)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;

	smarm_config_init(&cfg);
	cfg.stack_guard = mode;
	cfg.stack_size = default_size;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, overflow_root,
					   (void *)(uintptr_t)spawn_size,
					   NULL), 0);
	smarm_runtime_free(rt);
}

/* A stack of its own size (64 KiB against the 256 KiB default). */
START_TEST(test_overflow_own)
{
	run_overflow(guarded_modes[_i], SMARM_STACK_DEFAULT, 64 * KIB);
}
END_TEST

/* A slab stack (64 KiB is the default), whose neighbour lies below. */
START_TEST(test_overflow_slab)
{
	run_overflow(guarded_modes[_i], 64 * KIB, 0);
}
END_TEST

/*
 * Through a runtime: after a burst of actors that each held a stack has
 * ended, and the worker has gone idle, the stacks back in the shared
 * cache have given their pages back.
 */
#define NBURST 2000

/* When the burst's actors end: they all hold their stacks until then. */
static uint64_t burst_until;

static void *holder(void *arg)
{
	uint64_t now = smarm_now();

	if (now < burst_until)
		ck_assert_int_eq(smarm_sleep(burst_until - now), 0);
	return arg;
}

/* Pages resident in the stacks of a free list (linked by next, or by
 * batch_next for the batches: each batch's own stacks by next). */
static size_t chain_resident(smarm__stack *s, int batches, size_t *nstacks)
{
	size_t r = 0;

	for (; s != NULL; s = batches ? s->batch_next : s->next) {
		if (batches) {
			smarm__stack *t = s;
			unsigned i;

			for (i = 0; i < SMARM__STACK_BATCH && t; i++, t = t->next) {
				r += resident(t->lo, t->top);
				++*nstacks;
			}
		} else {
			r += resident(s->lo, s->top);
			++*nstacks;
		}
	}
	return r;
}

static void *burst_root(void *arg)
{
	smarm__stack_pool *p = &smarm__runtime_self()->stacks;
	smarm_pid pids[NBURST];
	size_t n = 0, r;
	int i;

	(void)arg;
	burst_until = smarm_now() + 300 * 1000 * 1000;
	for (i = 0; i < NBURST; i++)
		ck_assert_int_eq(smarm_spawn(&pids[i], holder, NULL), 0);
	for (i = 0; i < NBURST; i++)
		ck_assert_int_eq(smarm_join(pids[i], NULL, SMARM_FOREVER), 0);
	/* Every worker idles now: they trim. */
	ck_assert_int_eq(smarm_sleep(100 * 1000 * 1000), 0);
	smarm__lock_take(&p->lock);
	r = chain_resident(p->cache, 0, &n) + chain_resident(p->batches, 1, &n);
	smarm__lock_drop(&p->lock);
	/* The burst's stacks are in the shared cache (most of them, or at
	 * least a few batches under valgrind, which runs slowly enough for
	 * some holders to start after others ended), with no page left (a
	 * canary stack keeps its lowest page). */
	ck_assert_uint_ge(n, 2 * SMARM__STACK_BATCH);
	ck_assert_uint_le(r, p->guard == SMARM_GUARD_CANARY ? n : 0);
	return (void *)1;
}

START_TEST(test_burst_trimmed)
{
	smarm_runtime_free(run_root_in(modes[_i], 0, burst_root));
}
END_TEST

/* ---- many actors alive at once ------------------------------------------------------- */

#define NALIVE 10000

/* Naps, waits for its predecessor, returns k + 1. */
static void *nap(link_t *l, void *(*wait)(link_t *))
{
	void *prev;

	ck_assert_int_eq(smarm_sleep(1000 * 1000), 0);
	prev = wait(l);
	if (l->k > 0 && prev != (void *)l->k)
		ck_abort_msg("actor %lu: predecessor returned %p",
			     (unsigned long)l->k, prev);
	return (void *)(l->k + 1);
}

static void *alive_root(void *arg)
{
	(void)arg;
	ck_assert_ptr_eq(run_chain(NALIVE, nap, NULL), (void *)NALIVE);
	return (void *)2;
}

START_TEST(test_many_alive)
{
	int mode = modes[_i];
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	void *res = NULL;
	size_t budget, lo, hi;
	int err;

	smarm_config_init(&cfg);
	cfg.stack_guard = mode;
	err = smarm_runtime_new(&rt, &cfg);
	if (mode == SMARM_GUARD_MADVISE && !have_madvise) {
		ck_assert_int_eq(err, ENOTSUP);
		return;
	}
	ck_assert_int_eq(err, 0);
	budget = rt->stacks.map_budget;
	ck_assert_int_eq(smarm_runtime_run(rt, alive_root, NULL, &res), 0);
	ck_assert_ptr_eq(res, (void *)2);
	/* All NALIVE held a stack at once (each naps first), and so did
	 * the root; each worker has a spare one, and may hold one a spawn
	 * made sure of for an actor another worker started. */
	lo = NALIVE + 1 + rt->nworkers;
	hi = lo + rt->nworkers;
	switch (expected_guard(mode)) {
	case SMARM_GUARD_CANARY:
		ck_assert_uint_ge(rt->stacks.ncanary, lo);
		ck_assert_uint_le(rt->stacks.ncanary, hi);
		break;
	case SMARM_GUARD_MADVISE:
		ck_assert_uint_eq(rt->stacks.ncanary, 0);
		break;
	case SMARM_GUARD_MPROTECT:
		ck_assert_uint_ge(rt->stacks.nguarded + rt->stacks.ncanary, lo);
		ck_assert_uint_le(rt->stacks.nguarded + rt->stacks.ncanary, hi);
		/* A forced mode, or with the mappings to spare: every stack
		 * got its guard. */
		if (mode == SMARM_GUARD_MPROTECT ||
		    (budget > 2 * hi + 200 && rt->stacks.nguarded_max > hi))
			ck_assert_uint_eq(rt->stacks.ncanary, 0);
		break;
	}
	smarm_runtime_free(rt);
}
END_TEST

/* ---- the suite ---------------------------------------------------------------------- */

static Suite *stack_suite(void)
{
	Suite *s = suite_create("stack");
	TCase *tc;

	tc = tcase_add(s, "init");
	tcase_add_test(tc, test_init_errors);
	tcase_add_loop_test(tc, test_init_fields, 0, NMODES);
	tcase_add_test(tc, test_round);

	tc = tcase_add(s, "get_put");
	tcase_add_loop_test(tc, test_get_write_put, 0, NMODES);
	tcase_add_test(tc, test_canary_page_below);

	tc = tcase_add(s, "guard");
	tcase_add_loop_test_raise_signal(tc, test_guard_fault_slab, SIGSEGV,
					 0, nguarded_modes);
	tcase_add_loop_test_raise_signal(tc, test_guard_fault_own, SIGSEGV,
					 0, nguarded_modes);
	tcase_add_loop_test_raise_signal(tc, test_guard_fault_read_page_bottom,
					 SIGSEGV, 0, nguarded_modes);

	tc = tcase_add(s, "sizes");
	tcase_add_loop_test(tc, test_own_sizes, 0, NMODES);

	tc = tcase_add(s, "cache");
	tcase_add_loop_test(tc, test_reuse_many, 0, NMODES);
	tcase_add_loop_test(tc, test_trim, 0, NMODES);
	tcase_add_loop_test(tc, test_burst_trimmed, 0, NMODES);

	tc = tcase_add(s, "fallback");
	tcase_add_test(tc, test_auto_fallback);
	tcase_add_test(tc, test_forced_no_fallback);
	tcase_add_test(tc, test_guard_cap);
	tcase_add_test(tc, test_spawn_enomem);
	tcase_add_test(tc, test_first_run_enomem);

	tc = tcase_add(s, "runtime_modes");
	tcase_add_loop_test(tc, test_runtime_mode, 0, NMODES);
	tcase_add_test(tc, test_runtime_env);
	tcase_add_test(tc, test_run_env);

	tc = tcase_add(s, "canary");
	tcase_add_test_raise_signal(tc, test_canary_abort_yield, SIGABRT);
	tcase_add_test_raise_signal(tc, test_canary_abort_end, SIGABRT);
	tcase_add_test(tc, test_canary_message);

	tc = tcase_add(s, "overflow");
	tcase_add_loop_test(tc, test_overflow_own, 0,
			    nguarded_modes);
	tcase_add_loop_test(tc, test_overflow_slab, 0,
			    nguarded_modes);

	tc = tcase_add(s, "many_alive");
	tcase_add_loop_test(tc, test_many_alive, 0, NMODES);

	return s;
}

int main(void)
{
	have_madvise = smarm__stack_have_madvise_guard();
	guarded_modes[nguarded_modes++] = SMARM_GUARD_MPROTECT;
	guarded_modes[nguarded_modes++] = SMARM_GUARD_AUTO;
	if (have_madvise)
		guarded_modes[nguarded_modes++] = SMARM_GUARD_MADVISE;

	return run_suite(stack_suite());
}
