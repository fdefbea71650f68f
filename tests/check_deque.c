/*
 * check_deque.c - a worker's LIFO of new actors (lib/deque.h), the bounded
 * Chase-Lev work-stealing deque whose owner pushes and pops at the bottom,
 * newest first, and that any thread (the owner too) steals from at the
 * top, oldest first, one element at a time: empty, the owner's LIFO, the
 * thieves' FIFO between the owner's pops, the full deque, len and maybe,
 * many trips around the ring and counters past 2^32 and across 2^63; then
 * owner and thieves on real threads, millions of operations, with every
 * element accounted for exactly once, the owner's pops checked against a
 * model of its stack, each thief's steals in push order, the race for the
 * last element, and no steal or pop that comes back empty-handed when an
 * element was there for it.
 *
 * Threads other than the test's own never call ck_assert: a thief records
 * its first error, and the test checks it after the joins.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#define TIMEOUT 120
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "deque.h"


#define SIZE SMARM__DEQUE_SIZE

/* ---- helpers ------------------------------------------------------------ */


static AO_t top_of(const smarm__deque *d)
{
	return smarm__atomic_load_relaxed(&d->top);
}

static AO_t bottom_of(const smarm__deque *d)
{
	return smarm__atomic_load_relaxed(&d->bottom);
}

/* Both counters at x, as if x elements had gone through. */
static void set_counters(smarm__deque *d, AO_t x)
{
	smarm__atomic_store_relaxed(&d->top, x);
	smarm__atomic_store_relaxed(&d->bottom, x);
}

/* A deque in garbage-filled memory, then initialised: init must not rely
 * on zeroed memory.  Under valgrind the memory is marked undefined
 * instead, so that memcheck reports any use of a slot never written. */
static void fresh(smarm__deque *d)
{
	memset(d, 0xa5, sizeof(*d));
	if (RUNNING_ON_VALGRIND)
		VALGRIND_MAKE_MEM_UNDEFINED(d, sizeof(*d));
	smarm__deque_init(d);
}

/*
 * A model of the deque, for one thread: the tokens in, oldest at lo,
 * newest at hi - 1 (positions of its own, counting from 0, in a ring
 * bigger than the deque).  Every operation on the deque below is checked
 * against the same operation on the model.
 */
#define MODEL (2 * SIZE)

typedef struct {
	uint64_t v[MODEL];
	uint64_t lo, hi;
} model;

static uint64_t m_len(const model *m)
{
	return m->hi - m->lo;
}

/* The deque and its model, both empty; the deque's counters at start. */
static void fresh_at(smarm__deque *d, model *m, AO_t start)
{
	fresh(d);
	set_counters(d, start);
	m->lo = m->hi = 0;
}

/* Push x: it must go in exactly when the model holds fewer than SIZE. */
static void dpush(smarm__deque *d, model *m, uint64_t x)
{
	int rc = smarm__deque_push(d, tok(x)), want = m_len(m) < SIZE ? 0 : -1;

	REQUIRE_MSG(rc == want, "push of %llu with %llu in returned %d, not %d",
		(unsigned long long)x, (unsigned long long)m_len(m), rc,
		want);
	if (rc == 0)
		m->v[m->hi++ % MODEL] = x;
}

/* Pop: the newest, or NULL when the model is empty. */
static void dpop(smarm__deque *d, model *m)
{
	uint64_t want = m_len(m) ? m->v[(m->hi - 1) % MODEL] : 0;
	void *p = smarm__deque_pop(d);

	REQUIRE_MSG(p == tok(want), "pop with %llu in gave %llu, expected %llu",
		(unsigned long long)m_len(m), (unsigned long long)untok(p),
		(unsigned long long)want);
	if (want)
		m->hi--;
}

/* Steal: the oldest, or NULL when the model is empty. */
static void dsteal(smarm__deque *d, model *m)
{
	uint64_t want = m_len(m) ? m->v[m->lo % MODEL] : 0;
	void *p = smarm__deque_steal(d);

	REQUIRE_MSG(p == tok(want), "steal with %llu in gave %llu, expected %llu",
		(unsigned long long)m_len(m), (unsigned long long)untok(p),
		(unsigned long long)want);
	if (want)
		m->lo++;
}

/* len and maybe agree with the model; top never goes back. */
static void dcheck(const smarm__deque *d, const model *m, AO_t *top)
{
	size_t n = smarm__deque_len(d);
	int maybe = smarm__deque_maybe(d);

	REQUIRE_MSG(n == m_len(m), "len %zu, expected %llu", n,
		(unsigned long long)m_len(m));
	REQUIRE_MSG(!maybe == !n, "maybe %d with %zu in", maybe, n);
	REQUIRE_MSG(smarm__deque_diff(top_of(d), *top) >= 0,
		"top went back from %llu to %llu", (unsigned long long)*top,
		(unsigned long long)top_of(d));
	*top = top_of(d);
}

/* Push and pop one element `off` times: each pop takes the last element,
 * so top and bottom both move on by off. */
static void advance(smarm__deque *d, model *m, uint64_t off, uint64_t *next)
{
	uint64_t i;

	for (i = 0; i < off; i++) {
		dpush(d, m, (*next)++);
		dpop(d, m);
	}
	ck_assert_uint_eq(smarm__deque_len(d), 0);
	ck_assert_uint_eq(top_of(d), bottom_of(d));
}

/*
 * nops random operations against the model, in phases of 4096 that
 * alternately fill the deque (so that pushes meet the full deque) and
 * drain it (so that pops and steals meet the empty one), with len and
 * maybe checked after each.
 */
static void mix(smarm__deque *d, model *m, uint64_t *next, unsigned long nops)
{
	unsigned long i;
	AO_t top = top_of(d);

	for (i = 0; i < nops; i++) {
		unsigned v = (unsigned)(rng() % 16);
		int filling = (i / 4096) % 2 == 0;

		if (v < (filling ? 9u : 5u))
			dpush(d, m, (*next)++);
		else if (v < (filling ? 13u : 11u))
			dpop(d, m);
		else
			dsteal(d, m);
		dcheck(d, m, &top);
	}
}

/* Empty the deque, newest first then oldest first by turns. */
static void drain(smarm__deque *d, model *m)
{
	AO_t top = top_of(d);
	int k = 0;

	while (m_len(m) > 0) {
		if (k++ % 2)
			dsteal(d, m);
		else
			dpop(d, m);
		dcheck(d, m, &top);
	}
	dpop(d, m);
	dsteal(d, m);
	dcheck(d, m, &top);
}

/* ---- single-threaded semantics ------------------------------------------ */

START_TEST(test_empty)
{
	smarm__deque d;

	fresh(&d);
	ck_assert_uint_eq(smarm__deque_len(&d), 0);
	ck_assert(!smarm__deque_maybe(&d));
	ck_assert_ptr_null(smarm__deque_pop(&d));
	ck_assert_ptr_null(smarm__deque_pop(&d));
	ck_assert_ptr_null(smarm__deque_steal(&d));
	ck_assert_ptr_null(smarm__deque_steal(&d));
	/* A pop of the empty deque puts bottom back where it was. */
	ck_assert_uint_eq(top_of(&d), 0);
	ck_assert_uint_eq(bottom_of(&d), 0);
	ck_assert_uint_eq(smarm__deque_len(&d), 0);
	ck_assert(!smarm__deque_maybe(&d));

	/* Empty again after one element has been popped ... */
	ck_assert_int_eq(smarm__deque_push(&d, tok(1)), 0);
	ck_assert_uint_eq(smarm__deque_len(&d), 1);
	ck_assert(smarm__deque_maybe(&d));
	ck_assert_ptr_eq(smarm__deque_pop(&d), tok(1));
	ck_assert_uint_eq(top_of(&d), bottom_of(&d));
	ck_assert_uint_eq(smarm__deque_len(&d), 0);
	ck_assert(!smarm__deque_maybe(&d));
	ck_assert_ptr_null(smarm__deque_pop(&d));
	ck_assert_ptr_null(smarm__deque_steal(&d));

	/* ... or stolen ... */
	ck_assert_int_eq(smarm__deque_push(&d, tok(2)), 0);
	ck_assert_ptr_eq(smarm__deque_steal(&d), tok(2));
	ck_assert_uint_eq(top_of(&d), bottom_of(&d));
	ck_assert_uint_eq(smarm__deque_len(&d), 0);
	ck_assert(!smarm__deque_maybe(&d));
	ck_assert_ptr_null(smarm__deque_pop(&d));
	ck_assert_ptr_null(smarm__deque_steal(&d));

	/* ... and an element pushed after an empty pop is there for the
	 * owner and for a thief. */
	ck_assert_int_eq(smarm__deque_push(&d, tok(3)), 0);
	ck_assert_ptr_eq(smarm__deque_pop(&d), tok(3));
	ck_assert_ptr_null(smarm__deque_pop(&d));
	ck_assert_int_eq(smarm__deque_push(&d, tok(4)), 0);
	ck_assert_uint_eq(smarm__deque_len(&d), 1);
	ck_assert_ptr_eq(smarm__deque_steal(&d), tok(4));
	ck_assert_ptr_null(smarm__deque_pop(&d));
	ck_assert_int_eq(smarm__deque_push(&d, tok(5)), 0);
	ck_assert_ptr_eq(smarm__deque_steal(&d), tok(5));
	ck_assert_ptr_null(smarm__deque_steal(&d));
	ck_assert_ptr_null(smarm__deque_pop(&d));
	ck_assert_uint_eq(top_of(&d), bottom_of(&d));
	ck_assert_uint_eq(smarm__deque_len(&d), 0);
}
END_TEST

/* The owner gets the newest element first. */
START_TEST(test_lifo)
{
	smarm__deque d;
	model m;
	uint64_t x, next = 1;
	AO_t top = 0;
	unsigned round;

	fresh_at(&d, &m, 0);
	for (x = 1; x <= 200; x++) {
		dpush(&d, &m, next++);
		ck_assert_uint_eq(smarm__deque_len(&d), x);
	}
	for (x = 200; x >= 1; x--) {
		ck_assert_ptr_eq(smarm__deque_pop(&d), tok(x));
		ck_assert_uint_eq(smarm__deque_len(&d), x - 1);
	}
	m.lo = m.hi = 0;
	ck_assert_ptr_null(smarm__deque_pop(&d));
	/* Only the last pop moves top on (it races for the last element). */
	ck_assert_uint_eq(top_of(&d), 1);
	ck_assert_uint_eq(bottom_of(&d), 1);

	/* Interleaved: push three, pop two, for a while; then drain by
	 * pops: always the newest. */
	for (round = 0; round < 100; round++) {
		dpush(&d, &m, next++);
		dpush(&d, &m, next++);
		dpush(&d, &m, next++);
		dpop(&d, &m);
		dpop(&d, &m);
		dcheck(&d, &m, &top);
	}
	ck_assert_uint_eq(m_len(&m), 100);
	while (m_len(&m) > 0) {
		uint64_t want = m.v[(m.hi - 1) % MODEL];

		dpop(&d, &m);
		dcheck(&d, &m, &top);
		/* What is left is the first of each round's three. */
		ck_assert_uint_eq((want - 201) % 3, 0);
	}
	dpop(&d, &m);
	ck_assert_uint_eq(smarm__deque_len(&d), 0);
}
END_TEST

/* Steals get the oldest element first, between the owner's pops and
 * pushes, the owner doing the stealing. */
START_TEST(test_steal_fifo)
{
	smarm__deque d;
	model m;
	uint64_t x, next = 1;
	AO_t top = 0;
	unsigned round;

	fresh_at(&d, &m, 0);
	for (x = 1; x <= 100; x++)
		dpush(&d, &m, next++);
	/* Oldest from the top, newest from the bottom. */
	ck_assert_ptr_eq(smarm__deque_steal(&d), tok(1));
	ck_assert_ptr_eq(smarm__deque_steal(&d), tok(2));
	ck_assert_ptr_eq(smarm__deque_pop(&d), tok(100));
	ck_assert_ptr_eq(smarm__deque_steal(&d), tok(3));
	ck_assert_ptr_eq(smarm__deque_pop(&d), tok(99));
	ck_assert_ptr_eq(smarm__deque_pop(&d), tok(98));
	ck_assert_ptr_eq(smarm__deque_steal(&d), tok(4));
	ck_assert_uint_eq(smarm__deque_len(&d), 93);
	m.lo = 4;
	m.hi = 97;

	/* Rounds: push three, steal one, pop one, steal one. */
	for (round = 0; round < 200; round++) {
		dpush(&d, &m, next++);
		dpush(&d, &m, next++);
		dpush(&d, &m, next++);
		dsteal(&d, &m);
		dpop(&d, &m);
		dsteal(&d, &m);
		dcheck(&d, &m, &top);
	}
	/* Drain by steals: increasing. */
	x = 0;
	while (m_len(&m) > 0) {
		void *p = smarm__deque_steal(&d);

		ck_assert_uint_gt(untok(p), x);
		x = untok(p);
		ck_assert_ptr_eq(p, tok(m.v[m.lo++ % MODEL]));
		dcheck(&d, &m, &top);
	}
	ck_assert_ptr_null(smarm__deque_steal(&d));
	ck_assert_ptr_null(smarm__deque_pop(&d));

	/* The owner steals its last element, then pops nothing; pops its
	 * last, then steals nothing; and the deque works on. */
	dpush(&d, &m, next++);
	dsteal(&d, &m);
	dpop(&d, &m);
	dsteal(&d, &m);
	dpush(&d, &m, next++);
	dpop(&d, &m);
	dsteal(&d, &m);
	dpop(&d, &m);
	dpush(&d, &m, next++);
	dpush(&d, &m, next++);
	dsteal(&d, &m);
	dsteal(&d, &m);
	dpop(&d, &m);
	dpush(&d, &m, next++);
	dpush(&d, &m, next++);
	dpop(&d, &m);
	dpop(&d, &m);
	dsteal(&d, &m);
	dcheck(&d, &m, &top);
	ck_assert_uint_eq(top_of(&d), bottom_of(&d));
}
END_TEST

/* Push fails (-1) exactly when SIZE elements are in, wherever top stands
 * in the ring; a failed push changes nothing (its token is nowhere,
 * least of all in the slot of the oldest element, which it maps to). */
START_TEST(test_full)
{
	uint64_t off;

	for (off = 0; off <= SIZE + 1; off++) {
		smarm__deque d;
		model m;
		uint64_t next = 1, first, i;
		AO_t top;

		fresh_at(&d, &m, 0);
		advance(&d, &m, off, &next);
		top = top_of(&d);
		ck_assert_uint_eq(top, off);
		first = next;
		for (i = 0; i < SIZE; i++) {
			ck_assert_msg(smarm__deque_push(&d, tok(next)) == 0,
				      "offset %llu: push %llu of %u failed",
				      (unsigned long long)off,
				      (unsigned long long)i + 1, SIZE);
			m.v[m.hi++ % MODEL] = next++;
			ck_assert_uint_eq(smarm__deque_len(&d), i + 1);
		}
		ck_assert_msg(smarm__deque_push(&d, tok(next)) == -1,
			      "offset %llu: push into a full deque did not "
			      "fail", (unsigned long long)off);
		ck_assert_int_eq(smarm__deque_push(&d, tok(next + 1)), -1);
		ck_assert_uint_eq(smarm__deque_len(&d), SIZE);
		ck_assert(smarm__deque_maybe(&d));
		next += 2;

		/* The oldest is still there: one out at the top, exactly one
		 * in. */
		ck_assert_ptr_eq(smarm__deque_steal(&d), tok(first));
		m.lo++;
		dcheck(&d, &m, &top);
		dpush(&d, &m, next++);
		dpush(&d, &m, next++); /* fails */
		ck_assert_uint_eq(smarm__deque_len(&d), SIZE);

		/* Two out at the bottom, exactly two in. */
		dpop(&d, &m);
		dpop(&d, &m);
		ck_assert_uint_eq(smarm__deque_len(&d), SIZE - 2);
		dpush(&d, &m, next++);
		dpush(&d, &m, next++);
		dpush(&d, &m, next++); /* fails */
		ck_assert_uint_eq(smarm__deque_len(&d), SIZE);
		dcheck(&d, &m, &top);

		/* The contents, from both ends: none of the tokens whose
		 * push failed. */
		drain(&d, &m);
		ck_assert_uint_eq(smarm__deque_len(&d), 0);
	}
}
END_TEST

/* len: the number in, from the owner; clamped to SIZE and never negative
 * for a reader that sees a stale top or pop's lowered bottom. */
START_TEST(test_len)
{
	smarm__deque d;
	model m;
	uint64_t next = 1, i;
	AO_t top = 0, b;

	fresh_at(&d, &m, 0);
	for (i = 0; i < SIZE; i++) {
		dcheck(&d, &m, &top);
		dpush(&d, &m, next++);
	}
	dcheck(&d, &m, &top);
	for (i = 0; i < SIZE; i++) {
		if (i % 2)
			dpop(&d, &m);
		else
			dsteal(&d, &m);
		dcheck(&d, &m, &top);
	}
	mix(&d, &m, &next, 20000);

	/* What a thief may see: a top far behind bottom (it read top long
	 * before bottom) ... */
	fresh_at(&d, &m, 1000);
	for (i = 0; i < 10; i++)
		dpush(&d, &m, next++);
	b = bottom_of(&d);
	smarm__atomic_store_relaxed(&d.top, b - SIZE);
	ck_assert_uint_eq(smarm__deque_len(&d), SIZE);
	smarm__atomic_store_relaxed(&d.top, b - SIZE - 1);
	ck_assert_uint_eq(smarm__deque_len(&d), SIZE);
	smarm__atomic_store_relaxed(&d.top, b - 300);
	ck_assert_uint_eq(smarm__deque_len(&d), SIZE);
	smarm__atomic_store_relaxed(&d.top, 0);
	ck_assert_uint_eq(smarm__deque_len(&d), SIZE);
	/* ... or bottom one below top, in the middle of the pop of the
	 * last element. */
	smarm__atomic_store_relaxed(&d.top, b);
	ck_assert_uint_eq(smarm__deque_len(&d), 0);
	smarm__atomic_store_relaxed(&d.top, b + 1);
	ck_assert_uint_eq(smarm__deque_len(&d), 0);
	/* The same across 2^63, where the counters turn negative as
	 * longs. */
	set_counters(&d, (AO_t)1 << 63);
	smarm__atomic_store_relaxed(&d.bottom, ((AO_t)1 << 63) - 1);
	ck_assert_uint_eq(smarm__deque_len(&d), 0);
	smarm__atomic_store_relaxed(&d.bottom, ((AO_t)1 << 63) + 3);
	ck_assert_uint_eq(smarm__deque_len(&d), 3);
	smarm__atomic_store_relaxed(&d.top, ((AO_t)1 << 63) - 400);
	ck_assert_uint_eq(smarm__deque_len(&d), SIZE);
}
END_TEST

/* ---- trips around the ring, wide counters -------------------------------- */

START_TEST(test_wrap)
{
	smarm__deque d;
	model m;
	uint64_t next = 1, i;
	AO_t top = 0;
	unsigned r;

	fresh_at(&d, &m, 0);
	/* One at a time, stolen: 100 trips around the ring. */
	for (i = 0; i < 100 * SIZE + 3; i++) {
		dpush(&d, &m, next++);
		dsteal(&d, &m);
	}
	/* One at a time, popped (each the last element, so top moves on
	 * too): 100 more. */
	for (i = 0; i < 100 * SIZE + 5; i++) {
		dpush(&d, &m, next++);
		dpop(&d, &m);
	}
	ck_assert_uint_eq(top_of(&d), 200 * SIZE + 8);
	ck_assert_uint_eq(bottom_of(&d), 200 * SIZE + 8);

	/* Fill to the brim and drain, 60 times, at drifting offsets: by
	 * steals (oldest first), by pops (newest first), and from both
	 * ends; then one more element through, to move top on. */
	for (r = 0; r < 60; r++) {
		for (i = 0; i < SIZE; i++)
			dpush(&d, &m, next++);
		dpush(&d, &m, next); /* fails */
		dcheck(&d, &m, &top);
		switch (r % 3) {
		case 0:
			while (m_len(&m) > 0)
				dsteal(&d, &m);
			break;
		case 1:
			while (m_len(&m) > 0)
				dpop(&d, &m);
			break;
		default:
			drain(&d, &m);
		}
		dpop(&d, &m);
		dsteal(&d, &m);
		dpush(&d, &m, next++);
		dpop(&d, &m);
		dcheck(&d, &m, &top);
	}

	/* A long random mix. */
	mix(&d, &m, &next, 1000000);
	/* top went many times round. */
	ck_assert_uint_gt(top_of(&d), 500 * SIZE);
	drain(&d, &m);
}
END_TEST

/*
 * The counters are 64 bits wide and compared as signed differences
 * (deque.h): a deque whose counters stand just below 2^32 works the same
 * across it, and so does one just below 2^63, where the counters, taken
 * as longs, jump from the largest to the smallest (and an empty pop at
 * 2^63 lowers bottom to 2^63 - 1, the largest long).  This sets the
 * counters directly, as if that many elements had gone through.
 */
START_TEST(test_wide_counters)
{
	static const AO_t starts[] = {
		((AO_t)1 << 32) - 5,
		((AO_t)1 << 32) - SIZE / 2,
		((AO_t)1 << 63) - 5,
		((AO_t)1 << 63) - 1,
		(AO_t)1 << 63,
		((AO_t)1 << 63) + 1,
	};
	size_t s;

	for (s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
		const AO_t start = starts[s];
		smarm__deque d;
		model m;
		uint64_t next = 1, i;
		AO_t top = start;

		fresh_at(&d, &m, start);
		dcheck(&d, &m, &top);
		dpop(&d, &m);
		dpop(&d, &m);
		dsteal(&d, &m);
		ck_assert_uint_eq(top_of(&d), start);
		ck_assert_uint_eq(bottom_of(&d), start);
		dcheck(&d, &m, &top);

		/* A full deque across the edge, drained from the top. */
		for (i = 0; i < SIZE; i++)
			dpush(&d, &m, next++);
		dpush(&d, &m, next++); /* fails */
		dcheck(&d, &m, &top);
		while (m_len(&m) > 0)
			dsteal(&d, &m);
		dpop(&d, &m);
		dsteal(&d, &m);
		ck_assert_uint_eq(top_of(&d), start + SIZE);

		/* Back just below the edge: full, drained from the
		 * bottom; then the last element (the CAS on top) across
		 * the edge, one at a time. */
		fresh_at(&d, &m, start);
		top = start;
		for (i = 0; i < SIZE; i++)
			dpush(&d, &m, next++);
		dpush(&d, &m, next++); /* fails */
		while (m_len(&m) > 0) {
			dpop(&d, &m);
			dcheck(&d, &m, &top);
		}
		dpop(&d, &m);
		dsteal(&d, &m);
		for (i = 0; i < 10; i++) {
			dpush(&d, &m, next++);
			dpop(&d, &m);
			dpop(&d, &m);
			dcheck(&d, &m, &top);
		}
		ck_assert_uint_eq(top_of(&d), start + 11);

		/* Back below the edge once more, then a random mix across
		 * it. */
		fresh_at(&d, &m, start);
		mix(&d, &m, &next, 40000);
		drain(&d, &m);
		ck_assert_uint_gt(top_of(&d), start + 10 * SIZE);
		ck_assert_uint_eq(top_of(&d), bottom_of(&d));
	}
}
END_TEST

/* ---- owner and thieves on threads ---------------------------------------- */

/*
 * The owner (the test's thread) pushes tokens 1, 2, 3, ... in increasing
 * order, in random bursts, and pops in random bursts, and now and then
 * steals from its own deque.  A push that fails counts its token as
 * overflowed (it would go elsewhere).  The thieves steal continuously.
 * At the end the owner pops until the deque is empty and stops the
 * thieves.  Every token must then have been taken exactly once, by a
 * pop, a steal or the overflow.
 *
 * Along the way:
 *  - The owner keeps a model of its stack: the tokens it pushed and has
 *    not popped, newest last.  Thieves take only the oldest, so what is
 *    in the deque is always the newest part of that stack (at most SIZE
 *    of them): a pop gives the newest token of the stack, or NULL when
 *    the thieves took all of it, and then the deque is empty (len 0, as
 *    only the owner adds); a push fails only when the stack holds at
 *    least SIZE tokens; maybe() says 0 only when the pop that follows
 *    finds nothing.
 *  - A thief (the owner too, stealing) takes the oldest element, and top
 *    only grows: the tokens each one steals increase.
 *  - len never exceeds SIZE, from any thread.
 *
 * Modes: LAST keeps the deque at 0, 1 or 2 elements (push one, or now and
 * then two, then pop one more than pushed): the owner's pop of the last
 * element races the thieves' steals of it, round after round; BALANCED
 * keeps it low (bursts of 1-8 pushes, 0-8 pops); FILL keeps it full
 * (bursts of 1-32 pushes, 0-4 pops), so that the owner's pushes race the
 * steals freeing slots, and a thief that is slow between its CAS and its
 * use of the slot would find it rewritten.  The owner spins a random
 * while after each push so that the thieves meet the elements at every
 * point of the owner's operations.  Every other thief looks at len before
 * it steals, as sched.c's do; all of them check that len stays within
 * SIZE (which needs the clamp: a thief's top may be stale).
 *
 * As in check_runq.c, runs are timed: natively STRESS_MS each (or
 * STRESS_TOKENS tokens at most), millions of operations; under valgrind,
 * which runs the threads one at a time and ~50 times slower, each run is
 * cut to STRESS_TOKENS_VG tokens, and the owner yields the CPU every 200
 * tokens (after a push; every 400 in FILL, so that the deque still fills
 * up) so that the thieves get to steal.
 */
#define STRESS_MS 400u
#define STRESS_TOKENS 32000000u
#define STRESS_MS_VG 20000u
#define STRESS_TOKENS_VG 200000u
#define MAX_THIEVES 8

enum { LAST, BALANCED, FILL };

static const char *const mode_name[] = { "last", "balanced", "fill" };

typedef struct {
	smarm__deque d __attribute__((aligned(64)));
	uint64_t ntokens;     /* at most */
	unsigned twork;	      /* a thief's spins after each steal */
	int permits_mode;     /* the thieves steal only with a permit */
	unsigned char *count; /* [1..ntokens]: 1 once pushed, +1 each take */
	long permits;	      /* __atomic: steals and pops that must succeed */
	int stop;	      /* __atomic */
	long thefts;	      /* __atomic: steals by the thieves so far */
	pthread_barrier_t start;
} stress;

typedef struct {
	pthread_t th;
	stress *st;
	int use_len;	 /* looks at len first, as sched.c's thieves do */
	uint64_t last;	 /* last token taken */
	uint64_t stolen; /* tokens */
	uint64_t empty;	 /* steals that found nothing */
	char err[256];	 /* the first error, "" if none */
} thief;

/* The owner's side: the model of its stack (see above), and counts. */
typedef struct {
	uint64_t s[MODEL]; /* the stack's newest MODEL tokens */
	uint64_t n;	   /* its height */
	uint64_t last_steal;
	uint64_t pushed, popped, stolen, overflowed;
	uint64_t empty_pops, robbed; /* pops: NULL, NULL with n > 0 */
} owner;

/* Take a permit, if there is one. */
static int permit_take(stress *st)
{
	long v = __atomic_load_n(&st->permits, __ATOMIC_RELAXED);

	while (v > 0)
		if (__atomic_compare_exchange_n(&st->permits, &v, v - 1, 0,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return 1;
	return 0;
}

#define TERR(t, ...)                                                      \
	do {                                                              \
		if (!(t)->err[0])                                         \
			snprintf((t)->err, sizeof((t)->err), __VA_ARGS__); \
	} while (0)

static void *thief_main(void *arg)
{
	thief *t = arg;
	stress *st = t->st;

	pthread_barrier_wait(&st->start);
	for (;;) {
		int stop = __atomic_load_n(&st->stop, __ATOMIC_ACQUIRE);
		void *p = NULL;
		uint64_t x;

		if (st->permits_mode) {
			if (!permit_take(st)) {
				/* Every permit is handed out before stop is
				 * set, so none will come. */
				if (stop)
					break;
				if (RUNNING_ON_VALGRIND)
					sched_yield();
				continue;
			}
			p = smarm__deque_steal(&st->d);
			if (p == NULL) {
				TERR(t, "steal with a permit found nothing "
					"(after token %llu)",
				     (unsigned long long)t->last);
				continue;
			}
		} else {
			size_t n = smarm__deque_len(&st->d);

			if (n > SIZE)
				TERR(t, "len %zu > %u", n, SIZE);
			if (!t->use_len || n != 0)
				p = smarm__deque_steal(&st->d);
			if (p == NULL) {
				/* The owner stops us only once it has emptied
				 * the deque, so this last look found nothing
				 * either. */
				t->empty++;
				if (stop)
					break;
				/* Natively, spin: a thief that gave the CPU
				 * up would do so between operations rather
				 * than be preempted in the middle of one.
				 * Under valgrind, threads run one at a time:
				 * hand the CPU over at once. */
				if (RUNNING_ON_VALGRIND)
					sched_yield();
				continue;
			}
		}
		x = untok(p);
		if (x == 0 || x > st->ntokens) {
			TERR(t, "stole %llu, not a token",
			     (unsigned long long)x);
			continue;
		}
		if (x <= t->last)
			TERR(t, "stole %llu after %llu: not the oldest",
			     (unsigned long long)x,
			     (unsigned long long)t->last);
		t->last = x;
		t->stolen++;
		__atomic_fetch_add(&st->thefts, 1, __ATOMIC_RELAXED);
		take(st->count, x);
		spin(st->twork);
	}
	return NULL;
}

static void owner_push(stress *st, owner *o, uint64_t x)
{
	/* The token's "contents", written plainly: a taker's update of
	 * them must come after (ThreadSanitizer reports a race if the
	 * deque does not order them). */
	st->count[x] = 1;
	o->pushed = x;
	if (smarm__deque_push(&st->d, tok(x)) != 0) {
		REQUIRE_MSG(o->n >= SIZE,
			"push of %llu failed with at most %llu in",
			(unsigned long long)x, (unsigned long long)o->n);
		o->overflowed++;
		take(st->count, x);
		return;
	}
	o->s[o->n++ % MODEL] = x;
	if (st->permits_mode)
		__atomic_fetch_add(&st->permits, 1, __ATOMIC_RELEASE);
}

/* The owner's pop, checked against its model; NULL is an error when it
 * holds a permit. */
static void *owner_pop(stress *st, owner *o, int permitted)
{
	int maybe = smarm__deque_maybe(&st->d);
	void *p = smarm__deque_pop(&st->d);
	uint64_t y = untok(p), want = o->n ? o->s[(o->n - 1) % MODEL] : 0;

	if (p == NULL) {
		REQUIRE_MSG(!permitted,
			"pop with a permit found nothing (stack top %llu, "
			"height %llu)",
			(unsigned long long)want, (unsigned long long)o->n);
		/* Empty during the pop; since then only this thread could
		 * have added. */
		REQUIRE_MSG(smarm__deque_len(&st->d) == 0,
			"pop found the deque empty, len then %zu",
			smarm__deque_len(&st->d));
		o->empty_pops++;
		if (o->n)
			o->robbed++;
		o->n = 0;
		return NULL;
	}
	REQUIRE_MSG(maybe, "pop gave %llu after maybe() said empty",
		(unsigned long long)y);
	REQUIRE_MSG(y == want,
		"owner popped %llu, the newest it pushed and did not pop is "
		"%llu (height %llu)",
		(unsigned long long)y, (unsigned long long)want,
		(unsigned long long)o->n);
	o->n--;
	o->popped++;
	take(st->count, y);
	return p;
}

/* The owner steals from its own deque: the oldest, which is no newer
 * than the top of its stack. */
static void owner_steal(stress *st, owner *o)
{
	void *p = smarm__deque_steal(&st->d);
	uint64_t y = untok(p), newest = o->n ? o->s[(o->n - 1) % MODEL] : 0;

	if (p == NULL) {
		REQUIRE_MSG(smarm__deque_len(&st->d) == 0,
			"the owner's steal found the deque empty, len then "
			"%zu",
			smarm__deque_len(&st->d));
		o->n = 0;
		return;
	}
	REQUIRE_MSG(y > o->last_steal && y <= newest,
		"the owner stole %llu after stealing %llu, newest %llu",
		(unsigned long long)y, (unsigned long long)o->last_steal,
		(unsigned long long)newest);
	if (y == newest)
		o->n = 0; /* the last one */
	o->last_steal = y;
	o->stolen++;
	take(st->count, y);
}

static size_t deque_left(void *d)
{
	return smarm__deque_len(d);
}

static void stress_run(unsigned nthieves, int mode, unsigned owork,
		       unsigned twork, int permits_mode)
{
	stress *st;
	thief th[MAX_THIEVES];
	owner *o;
	uint64_t x, deadline, rounds = 0;
	uint64_t stolen = 0, empty = 0, bad = 0, lost = 0, dup = 0;
	uint64_t first_bad = 0;
	unsigned i;
	int first_takes = 0;

	ck_assert_uint_le(nthieves, MAX_THIEVES);
	/* The deque is not cleared (only init'ed), so that memcheck sees a
	 * read of a slot never written. */
	ck_assert_int_eq(posix_memalign((void **)&st, 64, sizeof(*st)), 0);
	smarm__deque_init(&st->d);
	st->ntokens = RUNNING_ON_VALGRIND ? STRESS_TOKENS_VG : STRESS_TOKENS;
	st->twork = twork;
	st->permits_mode = permits_mode;
	st->permits = 0;
	st->stop = 0;
	st->thefts = 0;
	st->count = calloc(st->ntokens + 1, 1);
	ck_assert_ptr_nonnull(st->count);
	o = calloc(1, sizeof(*o));
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(pthread_barrier_init(&st->start, NULL, nthieves + 1),
			 0);
	for (i = 0; i < nthieves; i++) {
		memset(&th[i], 0, sizeof(th[i]));
		th[i].st = st;
		th[i].use_len = i % 2;
		ck_assert_int_eq(pthread_create(&th[i].th, NULL, thief_main,
						&th[i]),
				 0);
	}
	pthread_barrier_wait(&st->start);

	deadline = now_ms() +
		   (RUNNING_ON_VALGRIND ? STRESS_MS_VG : STRESS_MS);
	x = 0;
	/* The last token is kept for the end (below). */
	while (x < st->ntokens - 1) {
		unsigned np, nq;

		switch (mode) {
		case LAST:
			np = rng() % 8 ? 1 : 2;
			nq = np + 1;
			break;
		case BALANCED:
			np = 1 + (unsigned)(rng() % 8);
			nq = (unsigned)(rng() % 9);
			break;
		default:
			np = 1 + (unsigned)(rng() % 32);
			nq = (unsigned)(rng() % 5);
		}
		for (i = 0; i < np && x < st->ntokens - 1; i++) {
			owner_push(st, o, ++x);
			if (owork)
				spin((unsigned)(rng() % (owork + 1)));
			/* Under valgrind, threads run one at a time: let
			 * the thieves in now and then (in FILL, only after
			 * more than SIZE tokens, so that the deque fills
			 * up meanwhile). */
			if (RUNNING_ON_VALGRIND &&
			    x % (mode == FILL ? 400 : 200) == 0)
				sched_yield();
		}
		for (i = 0; i < nq; i++) {
			if (!permits_mode)
				owner_pop(st, o, 0);
			else if (permit_take(st))
				owner_pop(st, o, 1);
		}
		if (!permits_mode && rng() % 16 == 0)
			owner_steal(st, o);
		/* From the owner, len never exceeds SIZE: bottom is its
		 * own, and top only grows. */
		REQUIRE_MSG(smarm__deque_len(&st->d) <= SIZE, "len %zu > %u",
			smarm__deque_len(&st->d), SIZE);
		if (++rounds % 256 == 0 && now_ms() >= deadline)
			break;
	}
	if (permits_mode) {
		/* The rest goes to the thieves. */
		__atomic_store_n(&st->stop, 1, __ATOMIC_RELEASE);
		for (i = 0; i < nthieves; i++)
			ck_assert_int_eq(pthread_join(th[i].th, NULL), 0);
		ck_assert_int_eq(__atomic_load_n(&st->permits,
						 __ATOMIC_RELAXED),
				 0);
	} else {
		/* The last token, for the thieves (see wait_thieves). */
		owner_push(st, o, ++x);
		wait_thieves(&st->thefts, deque_left, &st->d);
		while (owner_pop(st, o, 0) != NULL)
			;
		__atomic_store_n(&st->stop, 1, __ATOMIC_RELEASE);
		for (i = 0; i < nthieves; i++)
			ck_assert_int_eq(pthread_join(th[i].th, NULL), 0);
	}

	for (i = 0; i < nthieves; i++) {
		ck_assert_msg(!th[i].err[0], "%u thieves, %s%s: thief %u: %s",
			      nthieves, mode_name[mode],
			      permits_mode ? " with permits" : "", i,
			      th[i].err);
		stolen += th[i].stolen;
		empty += th[i].empty;
	}

	/* Empty for everyone. */
	ck_assert_uint_eq(smarm__deque_len(&st->d), 0);
	ck_assert_ptr_null(smarm__deque_steal(&st->d));
	ck_assert_ptr_null(smarm__deque_pop(&st->d));
	ck_assert_uint_eq(top_of(&st->d), bottom_of(&st->d));
	/* Tokens 1..pushed taken once each; none beyond. */
	for (x = 1; x <= st->ntokens; x++) {
		int takes = st->count[x] - (x <= o->pushed);

		if (takes == (x <= o->pushed))
			continue;
		if (!bad++) {
			first_bad = x;
			first_takes = takes;
		}
		if (takes <= 0)
			lost++;
		else
			dup++;
	}
	if (getenv("CHECK_DEQUE_STATS"))
		fprintf(stderr,
			"deque stress: %u thieves, %s%s, spins %u/%u: %llu "
			"tokens, %llu popped (%llu empty pops, %llu robbed), "
			"%llu stolen by the owner, %llu by thieves (%llu "
			"empty steals), %llu overflowed\n",
			nthieves, mode_name[mode],
			permits_mode ? " with permits" : "", owork, twork,
			(unsigned long long)o->pushed,
			(unsigned long long)o->popped,
			(unsigned long long)o->empty_pops,
			(unsigned long long)o->robbed,
			(unsigned long long)o->stolen,
			(unsigned long long)stolen,
			(unsigned long long)empty,
			(unsigned long long)o->overflowed);
	ck_assert_msg(bad == 0,
		      "%u thieves, %s%s, %llu pushed: %llu tokens lost, %llu "
		      "taken more than once or never pushed (first: %llu, "
		      "taken %d times)",
		      nthieves, mode_name[mode],
		      permits_mode ? " with permits" : "",
		      (unsigned long long)o->pushed, (unsigned long long)lost,
		      (unsigned long long)dup, (unsigned long long)first_bad,
		      first_takes);
	ck_assert_uint_eq(o->popped + o->stolen + stolen + o->overflowed,
			  o->pushed);
	/* The thieves did take part. */
	ck_assert_msg(stolen > 0, "%u thieves, %s: nothing stolen", nthieves,
		      mode_name[mode]);

	pthread_barrier_destroy(&st->start);
	free(o);
	free(st->count);
	free(st);
}

/* Thieves; mode; the owner's spins after each push (at most, a random
 * number), and a thief's after each steal. */
static const struct {
	unsigned thieves;
	int mode;
	unsigned owork, twork;
} stress_cfg[] = {
	{ 1, LAST, 40, 0 },	{ 2, LAST, 40, 0 },	{ 8, LAST, 40, 0 },
	{ 1, BALANCED, 8, 0 },	{ 4, BALANCED, 8, 0 },	{ 8, BALANCED, 8, 0 },
	{ 1, FILL, 0, 0 },	{ 2, FILL, 0, 5 },	{ 8, FILL, 2, 10 },
};

#define NSTRESS (int)(sizeof(stress_cfg) / sizeof(stress_cfg[0]))

START_TEST(test_stress)
{
	stress_run(stress_cfg[_i].thieves, stress_cfg[_i].mode,
		   stress_cfg[_i].owork, stress_cfg[_i].twork, 0);
}
END_TEST

/*
 * No taker comes back empty-handed while there was an element for it.
 * Each successful push hands out one permit; a thief steals only when it
 * has taken a permit, and so does the owner pop (in BALANCED bursts).  As
 * many elements went in as permits were handed out, and every taker
 * holds one, so each steal and each pop must find an element: a steal
 * that lost its CAS to another taker must try again, not report empty,
 * and a pop must not lose the last element to a thief that takes it for
 * nothing.  The deque fills up now and then (the thieves are slower than
 * the owner), and the rest is left to the thieves at the end.
 */
static const unsigned permits_cfg[] = { 2, 4, 8 };

#define NPERMITS (int)(sizeof(permits_cfg) / sizeof(permits_cfg[0]))

START_TEST(test_permits)
{
	stress_run(permits_cfg[_i], BALANCED, 4, 0, 1);
}
END_TEST

/* ---- the suite ---------------------------------------------------------------- */

/* The owner's pop for a deque nobody steals from (a runtime with one
 * worker): the same LIFO as the racing pop, mixed with it and with the
 * owner's own steals of the oldest, across the end of the ring. */
START_TEST(test_pop_alone)
{
	smarm__deque d;
	uint64_t stack[SIZE + 1], next = 1;
	unsigned n = 0, lo = 0, round, i;

	fresh(&d);
	ck_assert_ptr_null(smarm__deque_pop_alone(&d));
	for (round = 0; round < 60; round++) {
		unsigned k = 1 + round * 11 % SIZE;

		lo = n = 0;
		for (i = 0; i < k; i++) {
			ck_assert_int_eq(smarm__deque_push(&d, tok(next)), 0);
			stack[n++] = next++;
		}
		/* The oldest goes by a steal now and then. */
		if (k > 2)
			ck_assert_ptr_eq(smarm__deque_steal(&d), tok(stack[lo++]));
		while (n > lo) {
			void *p = (n & 1) ? smarm__deque_pop(&d) :
				smarm__deque_pop_alone(&d);

			REQUIRE_MSG(p == tok(stack[n - 1]), "round %u: pop gave "
				"%llu, expected %llu", round,
				(unsigned long long)untok(p),
				(unsigned long long)stack[n - 1]);
			n--;
		}
		ck_assert_uint_eq(smarm__deque_len(&d), 0);
		ck_assert_ptr_null(smarm__deque_pop_alone(&d));
		ck_assert(!smarm__deque_maybe(&d));
	}
}
END_TEST

static Suite *deque_suite(void)
{
	Suite *s = suite_create("deque");
	TCase *tc;

	tc = tcase_add(s, "owner");
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_lifo);
	tcase_add_test(tc, test_pop_alone);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_len);

	tc = tcase_add(s, "steal");
	tcase_add_test(tc, test_steal_fifo);

	tc = tcase_add(s, "wrap");
	tcase_add_test(tc, test_wrap);
	tcase_add_test(tc, test_wide_counters);

	tc = tcase_add(s, "threads");
	tcase_add_loop_test(tc, test_stress, 0, NSTRESS);
	tcase_add_loop_test(tc, test_permits, 0, NPERMITS);

	return s;
}

int main(void)
{
	return run_suite(deque_suite());
}
