/*
 * check_timerheap.c - the deadline heap of lib/timer.c on its own: timer
 * records (deadline, idx) in a smarm__timers, with no runtime, actor or
 * worker around.
 *
 *  - order:     random deadlines come out of smarm__timers_expired in
 *               the order of a sorted reference; thousands of random
 *               adds, removes and expiries agree with a reference set.
 *  - equal:     timers with the same deadline all come out, once each.
 *  - remove:    the root, a leaf, the last entry, and middle entries whose
 *               moved-in replacement must sift up and must sift down (heaps
 *               built by hand, the exact layout checked after each step).
 *  - idx:       smarm__timer_pending and the idx fields: position + 1 while
 *               in the heap, 0 after removal or expiry.
 *  - next:      smarm__timers_next on an empty and a non-empty heap.
 *  - reserve:   growth keeps what is in the heap; a capacity above
 *               UINT32_MAX is ENOMEM and changes nothing.
 *  - fini:      on an empty (never reserved) heap, twice, after use.
 *  - deadline:  smarm__deadline saturates at UINT64_MAX.
 *
 * This suite links lib/timer.c and Check only.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#include "testutil.h"

#include "timer.h"

/* Timers of the random tests. */
#define POOL 1024u
/* Operations of the random mixed test. */
#define OPS 60000u
/* Deadlines drained in the sorted-order test. */
#define NSORT 5000u

/* The seed every random test starts from (Check may run the tests in one
 * process, CK_FORK=no: each test sets it again). */
#define SEED 0x2545f4914f6cdd1dull

/* ---- helpers ------------------------------------------------------------ */

/* The heap's invariants: every entry knows its position (idx = position
 * + 1), no entry's deadline is below its parent's.  Cheap enough to run
 * after every operation of the random tests. */
static void check_heap(const smarm__timers *t)
{
	uint32_t i;

	REQUIRE_MSG(t->n <= t->cap, "n %u > cap %u", t->n, t->cap);
	for (i = 0; i < t->n; i++) {
		REQUIRE_MSG(t->heap[i] != NULL, "heap[%u] is NULL", i);
		REQUIRE_MSG(t->heap[i]->idx == i + 1,
			    "heap[%u]->idx is %u, not %u", i, t->heap[i]->idx,
			    i + 1);
		if (i > 0)
			REQUIRE_MSG(t->heap[(i - 1) / 2]->deadline <=
					    t->heap[i]->deadline,
				    "heap[%u] (%llu) is below its parent "
				    "heap[%u] (%llu)",
				    i, (unsigned long long)t->heap[i]->deadline,
				    (i - 1) / 2,
				    (unsigned long long)t->heap[(i - 1) / 2]
					    ->deadline);
	}
}

/* Reserve room for one more and add tm with the given deadline. */
static void add(smarm__timers *t, smarm__timer *tm, uint64_t deadline)
{
	REQUIRE_MSG(smarm__timers_reserve(t, (uint64_t)t->n + 1) == 0,
		    "reserve(%u) failed", t->n + 1);
	tm->deadline = deadline;
	smarm__timers_add(t, tm);
}

/*
 * A heap laid out by hand: tm[i] gets deadline d[i] and is added in the
 * order of i.  When d is already in heap order (no entry below its
 * parent), no add moves anything, so tm[i] sits at position i: checked.
 */
static void build(smarm__timers *t, smarm__timer *tm, const uint64_t *d,
		  uint32_t n)
{
	uint32_t i;

	memset(t, 0, sizeof(*t));
	memset(tm, 0, n * sizeof(*tm));
	for (i = 0; i < n; i++)
		add(t, &tm[i], d[i]);
	ck_assert_uint_eq(t->n, n);
	for (i = 0; i < n; i++) {
		ck_assert_ptr_eq(t->heap[i], &tm[i]);
		ck_assert_uint_eq(tm[i].idx, i + 1);
	}
	check_heap(t);
}

/* The heap holds exactly the deadlines want[0..n), in this layout (the
 * deadlines of a hand-built heap are distinct, so a deadline names its
 * timer), and the invariants hold. */
static void expect_layout(const smarm__timers *t, const uint64_t *want,
			  uint32_t n)
{
	uint32_t i;

	ck_assert_uint_eq(t->n, n);
	for (i = 0; i < n; i++)
		ck_assert_msg(t->heap[i]->deadline == want[i],
			      "heap[%u] is %llu, expected %llu", i,
			      (unsigned long long)t->heap[i]->deadline,
			      (unsigned long long)want[i]);
	check_heap(t);
}

/* The timer of tm[0..n) with deadline d. */
static smarm__timer *with_deadline(smarm__timer *tm, uint32_t n, uint64_t d)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (tm[i].deadline == d)
			return &tm[i];
	ck_abort_msg("no timer with deadline %llu", (unsigned long long)d);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A random deadline: often from a narrow range (many equal ones), else
 * anywhere below UINT64_MAX. */
static uint64_t rand_deadline(void)
{
	switch (rng() % 3) {
	case 0:
		return 1000 + rng() % 64;
	case 1:
		return rng() % 100000;
	default:
		return rng() % UINT64_MAX;
	}
}

/* ---- order -------------------------------------------------------------- */

/* Random deadlines, added in random order, come out sorted. */
START_TEST(test_sorted_drain)
{
	static smarm__timer tm[NSORT];
	static uint64_t ref[NSORT];
	smarm__timers t;
	smarm__timer *got;
	uint32_t i;

	rng_state = SEED;
	memset(&t, 0, sizeof(t));
	memset(tm, 0, sizeof(tm));
	for (i = 0; i < NSORT; i++) {
		ref[i] = rand_deadline();
		add(&t, &tm[i], ref[i]);
		if (i % 97 == 0)
			check_heap(&t);
	}
	check_heap(&t);
	qsort(ref, NSORT, sizeof(ref[0]), cmp_u64);
	ck_assert_uint_eq(smarm__timers_next(&t), ref[0]);
	for (i = 0; i < NSORT; i++) {
		got = smarm__timers_expired(&t, UINT64_MAX);
		REQUIRE_MSG(got != NULL, "expiry %u of %u gave NULL", i, NSORT);
		REQUIRE_MSG(got->deadline == ref[i],
			    "expiry %u gave %llu, the sorted reference %llu", i,
			    (unsigned long long)got->deadline,
			    (unsigned long long)ref[i]);
		REQUIRE_MSG(got->idx == 0, "expired timer keeps idx %u",
			    got->idx);
		REQUIRE_MSG(t.n == NSORT - 1 - i, "n %u after %u expiries",
			    t.n, i + 1);
		if (i % 97 == 0)
			check_heap(&t);
	}
	ck_assert_ptr_null(smarm__timers_expired(&t, UINT64_MAX));
	ck_assert_uint_eq(smarm__timers_next(&t), UINT64_MAX);
	for (i = 0; i < NSORT; i++)
		ck_assert(!smarm__timer_pending(&tm[i]));
	smarm__timers_fini(&t);
}
END_TEST

/*
 * Random adds, removes of random pending timers, and expiries at random
 * times, against a reference set (an unordered array of the pending
 * timers, its minimum found by a scan).  After every operation the heap's
 * invariants hold, its next deadline is the reference's minimum, and
 * every timer's pending state matches the reference.  Both ways a removal
 * can restore the order (sift up, sift down) must have come up.
 */
START_TEST(test_random_ops)
{
	static smarm__timer tm[POOL];
	static smarm__timer *ref[POOL];   /* the pending timers */
	static uint32_t ref_pos[POOL];    /* tm[i]'s index in ref, if there */
	static uint64_t rest[POOL];
	smarm__timers t;
	uint32_t nref = 0, i, op;
	unsigned long adds = 0, removes = 0, ups = 0, downs = 0, lasts = 0;
	unsigned long hits = 0, misses = 0;

	rng_state = SEED ^ 0x9e3779b97f4a7c15ull;
	memset(&t, 0, sizeof(t));
	memset(tm, 0, sizeof(tm));

	for (op = 0; op < OPS; op++) {
		uint64_t min = UINT64_MAX;
		uint32_t r = (uint32_t)(rng() % 100);
		uint32_t k;

		for (k = 0; k < nref; k++)
			if (ref[k]->deadline < min)
				min = ref[k]->deadline;

		/* Grow while small, shrink once large. */
		if (r < (nref < POOL / 2 ? 50u : 30u) && nref < POOL) {
			smarm__timer *x;

			do
				x = &tm[rng() % POOL];
			while (smarm__timer_pending(x));
			add(&t, x, rand_deadline());
			ref_pos[x - tm] = nref;
			ref[nref++] = x;
			adds++;
		} else if (r < 75 && nref > 0) {
			smarm__timer *x = ref[rng() % nref];
			uint32_t pos = x->idx - 1;
			smarm__timer *last = t.heap[t.n - 1];

			/* Which way must the moved-in last entry go? */
			if (last == x)
				lasts++;
			else if (pos > 0 && t.heap[(pos - 1) / 2]->deadline >
						    last->deadline)
				ups++;
			else
				downs++;
			smarm__timers_remove(&t, x);
			REQUIRE_MSG(x->idx == 0, "op %u: removed timer keeps "
				    "idx %u", op, x->idx);
			k = ref_pos[x - tm];
			ref[k] = ref[--nref];
			ref_pos[ref[k] - tm] = k;
			removes++;
		} else {
			/* Now: below, at or above the earliest deadline. */
			uint64_t now;
			smarm__timer *got;

			switch (rng() % 4) {
			case 0:
				now = min == 0 || min == UINT64_MAX ?
					      rng() : min - 1;
				break;
			case 1:
				now = min;
				break;
			case 2:
				now = rng();
				break;
			default:
				now = nref ? ref[rng() % nref]->deadline
					   : rng();
				break;
			}
			got = smarm__timers_expired(&t, now);
			if (nref == 0 || min > now) {
				REQUIRE_MSG(got == NULL, "op %u: expired(%llu) "
					    "gave %llu, earliest is %llu", op,
					    (unsigned long long)now,
					    (unsigned long long)got->deadline,
					    (unsigned long long)min);
				misses++;
			} else {
				REQUIRE_MSG(got != NULL, "op %u: expired(%llu) "
					    "gave NULL, earliest is %llu", op,
					    (unsigned long long)now,
					    (unsigned long long)min);
				REQUIRE_MSG(got->deadline == min,
					    "op %u: expired gave %llu, the "
					    "earliest is %llu", op,
					    (unsigned long long)got->deadline,
					    (unsigned long long)min);
				REQUIRE_MSG(got >= tm && got < tm + POOL &&
						    ref_pos[got - tm] < nref &&
						    ref[ref_pos[got - tm]] ==
							    got,
					    "op %u: expired gave a timer that "
					    "was not pending", op);
				REQUIRE_MSG(got->idx == 0, "op %u: expired "
					    "timer keeps idx %u", op, got->idx);
				k = ref_pos[got - tm];
				ref[k] = ref[--nref];
				ref_pos[ref[k] - tm] = k;
				hits++;
			}
		}

		REQUIRE_MSG(t.n == nref, "op %u: n %u, reference %u", op, t.n,
			    nref);
		check_heap(&t);
		min = UINT64_MAX;
		for (k = 0; k < nref; k++)
			if (ref[k]->deadline < min)
				min = ref[k]->deadline;
		REQUIRE_MSG(smarm__timers_next(&t) == min,
			    "op %u: next %llu, reference %llu", op,
			    (unsigned long long)smarm__timers_next(&t),
			    (unsigned long long)min);
		if (op % 256 == 0)
			for (i = 0; i < POOL; i++) {
				int in_ref = ref_pos[i] < nref &&
					     ref[ref_pos[i]] == &tm[i];

				REQUIRE_MSG(!smarm__timer_pending(&tm[i]) ==
						    !in_ref,
					    "op %u: timer %u pending %d, in "
					    "the reference %d", op, i,
					    smarm__timer_pending(&tm[i]),
					    in_ref);
			}
	}
	/* The mix did what it was meant to. */
	ck_assert_uint_gt(adds, OPS / 4);
	ck_assert_uint_gt(removes, OPS / 10);
	ck_assert_uint_gt(hits, OPS / 20);
	ck_assert_uint_gt(misses, OPS / 100);
	ck_assert_uint_gt(ups, 100);
	ck_assert_uint_gt(downs, 100);
	ck_assert_uint_gt(lasts, 0);

	/* What is left comes out in the order of the sorted reference. */
	for (i = 0; i < nref; i++)
		rest[i] = ref[i]->deadline;
	qsort(rest, nref, sizeof(rest[0]), cmp_u64);
	for (i = 0; i < nref; i++) {
		smarm__timer *got = smarm__timers_expired(&t, UINT64_MAX);

		REQUIRE_MSG(got != NULL && got->deadline == rest[i],
			    "drain %u: %llu, the sorted reference %llu", i,
			    got ? (unsigned long long)got->deadline : 0ull,
			    (unsigned long long)rest[i]);
	}
	ck_assert_uint_eq(t.n, 0);
	for (i = 0; i < POOL; i++)
		ck_assert(!smarm__timer_pending(&tm[i]));
	smarm__timers_fini(&t);
}
END_TEST

/* ---- equal deadlines ------------------------------------------------------ */

#define NEQUAL 300u

/* All at one deadline: none before it, each exactly once at it. */
START_TEST(test_equal_all)
{
	static smarm__timer tm[NEQUAL];
	static unsigned char seen[NEQUAL];
	smarm__timers t;
	smarm__timer *got;
	uint32_t i;

	memset(&t, 0, sizeof(t));
	memset(tm, 0, sizeof(tm));
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < NEQUAL; i++)
		add(&t, &tm[i], 5000);
	check_heap(&t);
	ck_assert_uint_eq(smarm__timers_next(&t), 5000);
	ck_assert_ptr_null(smarm__timers_expired(&t, 4999));
	ck_assert_uint_eq(t.n, NEQUAL);
	for (i = 0; i < NEQUAL; i++) {
		got = smarm__timers_expired(&t, 5000);
		ck_assert_ptr_nonnull(got);
		ck_assert(got >= tm && got < tm + NEQUAL);
		ck_assert_msg(!seen[got - tm], "timer %td came out twice",
			      got - tm);
		seen[got - tm] = 1;
		ck_assert_uint_eq(got->idx, 0);
		ck_assert_uint_eq(got->deadline, 5000);
		check_heap(&t);
	}
	ck_assert_ptr_null(smarm__timers_expired(&t, UINT64_MAX));
	smarm__timers_fini(&t);
}
END_TEST

/* Two deadlines, interleaved, with removals of some of the equal ones in
 * between: every early one before any late one. */
START_TEST(test_equal_two)
{
	static smarm__timer tm[NEQUAL];
	smarm__timers t;
	smarm__timer *got;
	uint32_t i, left = 0, early = 0;

	memset(&t, 0, sizeof(t));
	memset(tm, 0, sizeof(tm));
	for (i = 0; i < NEQUAL; i++)
		add(&t, &tm[i], i % 3 == 0 ? 10 : 20);
	/* Every seventh goes again (it may sit anywhere). */
	for (i = 0; i < NEQUAL; i += 7) {
		smarm__timers_remove(&t, &tm[i]);
		ck_assert_uint_eq(tm[i].idx, 0);
		check_heap(&t);
	}
	for (i = 0; i < NEQUAL; i++)
		if (smarm__timer_pending(&tm[i])) {
			left++;
			early += tm[i].deadline == 10;
		}
	ck_assert_uint_eq(t.n, left);
	for (i = 0; i < early; i++) {
		got = smarm__timers_expired(&t, 15);
		ck_assert_ptr_nonnull(got);
		ck_assert_uint_eq(got->deadline, 10);
		check_heap(&t);
	}
	ck_assert_ptr_null(smarm__timers_expired(&t, 15));
	ck_assert_uint_eq(smarm__timers_next(&t), 20);
	for (i = early; i < left; i++) {
		got = smarm__timers_expired(&t, 20);
		ck_assert_ptr_nonnull(got);
		ck_assert_uint_eq(got->deadline, 20);
	}
	ck_assert_uint_eq(t.n, 0);
	smarm__timers_fini(&t);
}
END_TEST

/* ---- remove -------------------------------------------------------------- */

/*
 * The hand-built heap of the remove tests, positions 0..11:
 *
 *                      1
 *            20                 2
 *        21       22        3       4
 *      30  31   32  33     5
 *
 * The last entry (5, position 11) lies under the root's right child;
 * the left subtree holds the large deadlines.
 */
static const uint64_t heap12[12] = { 1, 20, 2, 21, 22, 3, 4,
				     30, 31, 32, 33, 5 };

/* The root: the last entry goes to the top and sifts down the right
 * side (2, then 3 move up). */
START_TEST(test_remove_root)
{
	static const uint64_t want[11] = { 2, 20, 3, 21, 22, 5, 4,
					   30, 31, 32, 33 };
	smarm__timer tm[12];
	smarm__timers t;

	build(&t, tm, heap12, 12);
	smarm__timers_remove(&t, &tm[0]);
	ck_assert_uint_eq(tm[0].idx, 0);
	ck_assert(!smarm__timer_pending(&tm[0]));
	expect_layout(&t, want, 11);
	ck_assert_uint_eq(smarm__timers_next(&t), 2);
	/* The moved entry knows where it went. */
	ck_assert_uint_eq(tm[11].idx, 6);
	ck_assert_uint_eq(tm[2].idx, 1);
	ck_assert_uint_eq(tm[5].idx, 3);
	smarm__timers_fini(&t);
}
END_TEST

/* A leaf whose parent is not above the last entry: the last entry takes
 * its place and stays there. */
START_TEST(test_remove_leaf)
{
	static const uint64_t want[11] = { 1, 20, 2, 21, 22, 3, 5,
					   30, 31, 32, 33 };
	smarm__timer tm[12];
	smarm__timers t;

	build(&t, tm, heap12, 12);
	smarm__timers_remove(&t, &tm[6]);
	ck_assert_uint_eq(tm[6].idx, 0);
	expect_layout(&t, want, 11);
	ck_assert_uint_eq(tm[11].idx, 7);
	smarm__timers_fini(&t);
}
END_TEST

/* A leaf under the large subtree: the last entry (5) replaces it and
 * must climb two levels, past 21 and 20. */
START_TEST(test_remove_leaf_up)
{
	static const uint64_t want[11] = { 1, 5, 2, 20, 22, 3, 4,
					   21, 31, 32, 33 };
	smarm__timer tm[12];
	smarm__timers t;

	build(&t, tm, heap12, 12);
	smarm__timers_remove(&t, &tm[7]);
	ck_assert_uint_eq(tm[7].idx, 0);
	expect_layout(&t, want, 11);
	ck_assert_uint_eq(tm[11].idx, 2);
	ck_assert_uint_eq(tm[1].idx, 4);
	ck_assert_uint_eq(tm[3].idx, 8);
	smarm__timers_fini(&t);
}
END_TEST

/* The last entry: nothing else moves. */
START_TEST(test_remove_last)
{
	smarm__timer tm[12];
	smarm__timers t;
	uint32_t i;

	build(&t, tm, heap12, 12);
	smarm__timers_remove(&t, &tm[11]);
	ck_assert_uint_eq(tm[11].idx, 0);
	expect_layout(&t, heap12, 11);
	for (i = 0; i < 11; i++)
		ck_assert_uint_eq(tm[i].idx, i + 1);
	/* ... down to the last one of all. */
	for (i = 11; i-- > 0;) {
		smarm__timers_remove(&t, &tm[i]);
		ck_assert_uint_eq(tm[i].idx, 0);
		expect_layout(&t, heap12, i);
	}
	ck_assert_uint_eq(smarm__timers_next(&t), UINT64_MAX);
	smarm__timers_fini(&t);
}
END_TEST

/*
 * A middle entry, 21 at position 3 (children 30 and 31), whose
 * replacement must sift UP: the last entry, 5, is below 21's parent 20.
 * Sifting it down instead would leave 5 under 20; the layout and the
 * invariants catch that.
 */
START_TEST(test_remove_middle_up)
{
	static const uint64_t want[11] = { 1, 5, 2, 20, 22, 3, 4,
					   30, 31, 32, 33 };
	smarm__timer tm[12];
	smarm__timers t;

	build(&t, tm, heap12, 12);
	/* The case is what it claims to be: 21 has children, and its
	 * parent is above the last entry. */
	ck_assert_uint_lt(2 * (tm[3].idx - 1) + 1, t.n);
	ck_assert_ptr_eq(t.heap[(tm[3].idx - 1 - 1) / 2], &tm[1]);
	ck_assert_uint_gt(tm[1].deadline, tm[11].deadline);
	smarm__timers_remove(&t, &tm[3]);
	ck_assert_uint_eq(tm[3].idx, 0);
	expect_layout(&t, want, 11);
	/* 5 went up to 20's place, 20 down into the hole. */
	ck_assert_uint_eq(tm[11].idx, 2);
	ck_assert_uint_eq(tm[1].idx, 4);
	ck_assert_uint_eq(smarm__timers_next(&t), 1);
	/* Still a working heap: it drains in order. */
	{
		static const uint64_t sorted[11] = { 1, 2, 3, 4, 5, 20, 22,
						     30, 31, 32, 33 };
		uint32_t i;

		for (i = 0; i < 11; i++) {
			smarm__timer *got = smarm__timers_expired(&t, 100);

			ck_assert_ptr_nonnull(got);
			ck_assert_uint_eq(got->deadline, sorted[i]);
			check_heap(&t);
		}
	}
	smarm__timers_fini(&t);
}
END_TEST

/*
 * A middle entry, 10 at position 2 (children 11 and 12), whose
 * replacement must sift DOWN: the last entry, 50, is above both.
 *
 *               1
 *         2           10
 *       3   4       11  12
 *     50
 */
START_TEST(test_remove_middle_down)
{
	static const uint64_t heap8[8] = { 1, 2, 10, 3, 4, 11, 12, 50 };
	static const uint64_t want[7] = { 1, 2, 11, 3, 4, 50, 12 };
	smarm__timer tm[8];
	smarm__timers t;

	build(&t, tm, heap8, 8);
	/* Its parent is not above the last entry: not an upward case. */
	ck_assert_uint_le(tm[0].deadline, tm[7].deadline);
	smarm__timers_remove(&t, &tm[2]);
	ck_assert_uint_eq(tm[2].idx, 0);
	expect_layout(&t, want, 7);
	/* 11 went up into the hole, 50 down into 11's place. */
	ck_assert_uint_eq(tm[5].idx, 3);
	ck_assert_uint_eq(tm[7].idx, 6);
	ck_assert_uint_eq(tm[6].idx, 7);
	smarm__timers_fini(&t);
}
END_TEST

/*
 * A middle entry on the left, 2 at position 1: the last entry, 40, comes
 * in and sinks two levels, past 3 and then 5.
 *
 *               1
 *         2           10
 *       3   4       11  12
 *     5  6 40
 */
START_TEST(test_remove_middle_down_left)
{
	static const uint64_t heap10[10] = { 1, 2, 10, 3, 4, 11, 12,
					     5, 6, 40 };
	static const uint64_t want[9] = { 1, 3, 10, 5, 4, 11, 12, 40, 6 };
	smarm__timer tm[10];
	smarm__timers t;

	build(&t, tm, heap10, 10);
	smarm__timers_remove(&t, &tm[1]);
	expect_layout(&t, want, 9);
	ck_assert_uint_eq(with_deadline(tm, 10, 40)->idx, 8);
	ck_assert_uint_eq(with_deadline(tm, 10, 2)->idx, 0);
	smarm__timers_fini(&t);
}
END_TEST

/* ---- idx bookkeeping -------------------------------------------------------- */

START_TEST(test_idx)
{
	smarm__timer a, b, c, *got;
	smarm__timers t;

	memset(&t, 0, sizeof(t));
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	/* A zeroed timer is not pending. */
	ck_assert(!smarm__timer_pending(&a));

	add(&t, &a, 300);
	ck_assert(smarm__timer_pending(&a));
	ck_assert_uint_eq(a.idx, 1);
	add(&t, &b, 100);
	/* b went to the top, a down to b's place. */
	ck_assert_uint_eq(b.idx, 1);
	ck_assert_uint_eq(a.idx, 2);
	add(&t, &c, 200);
	ck_assert_uint_eq(c.idx, 3);
	check_heap(&t);

	/* Expiry: not before the deadline, at it (<=), and then only the
	 * timer that expired is no longer pending. */
	ck_assert_ptr_null(smarm__timers_expired(&t, 99));
	ck_assert_uint_eq(b.idx, 1);
	ck_assert_uint_eq(t.n, 3);
	got = smarm__timers_expired(&t, 100);
	ck_assert_ptr_eq(got, &b);
	ck_assert_uint_eq(b.idx, 0);
	ck_assert(!smarm__timer_pending(&b));
	ck_assert(smarm__timer_pending(&a));
	ck_assert(smarm__timer_pending(&c));
	check_heap(&t);

	/* Removal. */
	smarm__timers_remove(&t, &a);
	ck_assert_uint_eq(a.idx, 0);
	ck_assert(!smarm__timer_pending(&a));
	ck_assert_uint_eq(c.idx, 1);
	ck_assert_uint_eq(t.n, 1);

	/* Both can go in again, with new deadlines. */
	add(&t, &b, 50);
	add(&t, &a, 60);
	ck_assert_uint_eq(b.idx, 1);
	check_heap(&t);
	ck_assert_ptr_eq(smarm__timers_expired(&t, 1000), &b);
	ck_assert_ptr_eq(smarm__timers_expired(&t, 1000), &a);
	ck_assert_ptr_eq(smarm__timers_expired(&t, 1000), &c);
	ck_assert_ptr_null(smarm__timers_expired(&t, UINT64_MAX));
	ck_assert(!smarm__timer_pending(&a));
	ck_assert(!smarm__timer_pending(&b));
	ck_assert(!smarm__timer_pending(&c));

	/* The only timer, removed (it is also the last entry). */
	add(&t, &a, 7);
	smarm__timers_remove(&t, &a);
	ck_assert_uint_eq(a.idx, 0);
	ck_assert_uint_eq(t.n, 0);
	smarm__timers_fini(&t);
}
END_TEST

/* ---- next ---------------------------------------------------------------- */

START_TEST(test_next)
{
	smarm__timer a, b;
	smarm__timers t;

	memset(&t, 0, sizeof(t));
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	/* Empty, never reserved. */
	ck_assert_uint_eq(smarm__timers_next(&t), UINT64_MAX);
	ck_assert_ptr_null(smarm__timers_expired(&t, 0));
	ck_assert_ptr_null(smarm__timers_expired(&t, UINT64_MAX));
	/* Empty with room. */
	ck_assert_int_eq(smarm__timers_reserve(&t, 4), 0);
	ck_assert_uint_eq(smarm__timers_next(&t), UINT64_MAX);
	ck_assert_ptr_null(smarm__timers_expired(&t, UINT64_MAX));

	add(&t, &a, 500);
	ck_assert_uint_eq(smarm__timers_next(&t), 500);
	add(&t, &b, 400);
	ck_assert_uint_eq(smarm__timers_next(&t), 400);
	smarm__timers_remove(&t, &b);
	ck_assert_uint_eq(smarm__timers_next(&t), 500);
	/* Deadline 0 and the largest deadline. */
	add(&t, &b, 0);
	ck_assert_uint_eq(smarm__timers_next(&t), 0);
	ck_assert_ptr_eq(smarm__timers_expired(&t, 0), &b);
	smarm__timers_remove(&t, &a);
	ck_assert_uint_eq(smarm__timers_next(&t), UINT64_MAX);
	add(&t, &a, UINT64_MAX);
	ck_assert_uint_eq(t.n, 1);
	ck_assert_uint_eq(smarm__timers_next(&t), UINT64_MAX);
	ck_assert_ptr_null(smarm__timers_expired(&t, UINT64_MAX - 1));
	ck_assert_ptr_eq(smarm__timers_expired(&t, UINT64_MAX), &a);
	ck_assert_uint_eq(smarm__timers_next(&t), UINT64_MAX);
	smarm__timers_fini(&t);
}
END_TEST

/* ---- reserve ------------------------------------------------------------- */

START_TEST(test_reserve_growth)
{
	static smarm__timer tm[300];
	smarm__timers t;
	smarm__timer **h;
	uint32_t i;

	memset(&t, 0, sizeof(t));
	memset(tm, 0, sizeof(tm));
	/* Nothing asked, nothing allocated. */
	ck_assert_int_eq(smarm__timers_reserve(&t, 0), 0);
	ck_assert_ptr_null(t.heap);
	ck_assert_uint_eq(t.cap, 0);
	/* The first room is 64 timers. */
	ck_assert_int_eq(smarm__timers_reserve(&t, 1), 0);
	ck_assert_ptr_nonnull(t.heap);
	ck_assert_uint_eq(t.cap, 64);
	ck_assert_uint_eq(t.n, 0);
	h = t.heap;
	/* Room that is there already: no change. */
	ck_assert_int_eq(smarm__timers_reserve(&t, 64), 0);
	ck_assert_ptr_eq(t.heap, h);
	ck_assert_uint_eq(t.cap, 64);
	ck_assert_int_eq(smarm__timers_reserve(&t, 0), 0);
	ck_assert_uint_eq(t.cap, 64);

	/* Fill it, then grow by doubling: the entries come along. */
	for (i = 0; i < 64; i++) {
		tm[i].deadline = 1000 - i;
		smarm__timers_add(&t, &tm[i]);
	}
	ck_assert_uint_eq(t.cap, 64);
	ck_assert_int_eq(smarm__timers_reserve(&t, 65), 0);
	ck_assert_uint_eq(t.cap, 128);
	ck_assert_uint_eq(t.n, 64);
	check_heap(&t);
	ck_assert_uint_eq(smarm__timers_next(&t), 1000 - 63);
	/* More than one doubling at once. */
	ck_assert_int_eq(smarm__timers_reserve(&t, 300), 0);
	ck_assert_uint_eq(t.cap, 512);
	check_heap(&t);
	for (i = 64; i < 300; i++) {
		tm[i].deadline = 1000 - i;
		smarm__timers_add(&t, &tm[i]);
	}
	check_heap(&t);
	for (i = 300; i-- > 0;)
		ck_assert_ptr_eq(smarm__timers_expired(&t, UINT64_MAX), &tm[i]);
	ck_assert_uint_eq(t.cap, 512);
	smarm__timers_fini(&t);
}
END_TEST

/* A capacity above UINT32_MAX cannot be had: ENOMEM, heap untouched,
 * from an empty heap and from one in use. */
START_TEST(test_reserve_enomem)
{
	static const uint64_t big[] = {
		(uint64_t)UINT32_MAX + 1, (uint64_t)UINT32_MAX + 2,
		(uint64_t)1 << 33, (uint64_t)1 << 40, (uint64_t)1 << 62,
	};
	smarm__timer a, b;
	smarm__timers t;
	smarm__timer **h;
	size_t i;

	memset(&t, 0, sizeof(t));
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	for (i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		ck_assert_int_eq(smarm__timers_reserve(&t, big[i]), ENOMEM);
		ck_assert_ptr_null(t.heap);
		ck_assert_uint_eq(t.cap, 0);
		ck_assert_uint_eq(t.n, 0);
	}

	add(&t, &a, 20);
	add(&t, &b, 10);
	h = t.heap;
	for (i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		ck_assert_int_eq(smarm__timers_reserve(&t, big[i]), ENOMEM);
		ck_assert_ptr_eq(t.heap, h);
		ck_assert_uint_eq(t.cap, 64);
		ck_assert_uint_eq(t.n, 2);
		ck_assert_ptr_eq(t.heap[0], &b);
		ck_assert_ptr_eq(t.heap[1], &a);
		check_heap(&t);
	}
	/* The heap still works. */
	ck_assert_ptr_eq(smarm__timers_expired(&t, 15), &b);
	ck_assert_ptr_eq(smarm__timers_expired(&t, 25), &a);
	smarm__timers_fini(&t);
}
END_TEST

/* ---- fini ---------------------------------------------------------------- */

START_TEST(test_fini)
{
	smarm__timer a;
	smarm__timers t;

	/* Never reserved: nothing to free, and twice is fine. */
	memset(&t, 0, sizeof(t));
	smarm__timers_fini(&t);
	ck_assert_ptr_null(t.heap);
	ck_assert_uint_eq(t.n, 0);
	ck_assert_uint_eq(t.cap, 0);
	smarm__timers_fini(&t);
	ck_assert_ptr_null(t.heap);

	/* Reserved but empty. */
	ck_assert_int_eq(smarm__timers_reserve(&t, 10), 0);
	smarm__timers_fini(&t);
	ck_assert_ptr_null(t.heap);
	ck_assert_uint_eq(t.cap, 0);

	/* In use: fini empties it, and it can be used again. */
	memset(&a, 0, sizeof(a));
	add(&t, &a, 5);
	smarm__timers_fini(&t);
	ck_assert_ptr_null(t.heap);
	ck_assert_uint_eq(t.n, 0);
	ck_assert_uint_eq(t.cap, 0);
	ck_assert_uint_eq(smarm__timers_next(&t), UINT64_MAX);
	a.idx = 0;
	add(&t, &a, 6);
	ck_assert_uint_eq(t.cap, 64);
	ck_assert_ptr_eq(smarm__timers_expired(&t, 6), &a);
	smarm__timers_fini(&t);
	smarm__timers_fini(&t);
}
END_TEST

/* ---- deadline ------------------------------------------------------------ */

START_TEST(test_deadline)
{
	ck_assert_uint_eq(smarm__deadline(0, 0), 0);
	ck_assert_uint_eq(smarm__deadline(100, 0), 100);
	ck_assert_uint_eq(smarm__deadline(100, 23), 123);
	ck_assert_uint_eq(smarm__deadline(0, UINT64_MAX), UINT64_MAX);
	ck_assert_uint_eq(smarm__deadline(1, UINT64_MAX), UINT64_MAX);
	ck_assert_uint_eq(smarm__deadline(UINT64_MAX, 0), UINT64_MAX);
	ck_assert_uint_eq(smarm__deadline(UINT64_MAX, 1), UINT64_MAX);
	ck_assert_uint_eq(smarm__deadline(UINT64_MAX, UINT64_MAX), UINT64_MAX);
	/* Exactly at the top, and one past it. */
	ck_assert_uint_eq(smarm__deadline(UINT64_MAX - 5, 5), UINT64_MAX);
	ck_assert_uint_eq(smarm__deadline(UINT64_MAX - 5, 6), UINT64_MAX);
	ck_assert_uint_eq(smarm__deadline(UINT64_MAX - 5, 4), UINT64_MAX - 1);
	ck_assert_uint_eq(smarm__deadline(UINT64_MAX / 2, UINT64_MAX / 2 + 1),
			  UINT64_MAX);
	ck_assert_uint_eq(smarm__deadline(UINT64_MAX / 2 + 1,
					  UINT64_MAX / 2 + 1),
			  UINT64_MAX);
	/* SMARM_FOREVER from any time is forever. */
	ck_assert_uint_eq(smarm__deadline(123456789, SMARM_FOREVER),
			  UINT64_MAX);
	/* A realistic clock reading plus a realistic timeout. */
	ck_assert_uint_eq(smarm__deadline(5000000000000ull, 3 * MS),
			  5000000000000ull + 3 * MS);
}
END_TEST

/* ---- the suite ------------------------------------------------------------- */

static Suite *timerheap_suite(void)
{
	Suite *s = suite_create("timerheap");
	TCase *tc;

	tc = tcase_add(s, "order");
	tcase_add_test(tc, test_sorted_drain);
	tcase_add_test(tc, test_random_ops);

	tc = tcase_add(s, "equal");
	tcase_add_test(tc, test_equal_all);
	tcase_add_test(tc, test_equal_two);

	tc = tcase_add(s, "remove");
	tcase_add_test(tc, test_remove_root);
	tcase_add_test(tc, test_remove_leaf);
	tcase_add_test(tc, test_remove_leaf_up);
	tcase_add_test(tc, test_remove_last);
	tcase_add_test(tc, test_remove_middle_up);
	tcase_add_test(tc, test_remove_middle_down);
	tcase_add_test(tc, test_remove_middle_down_left);

	tc = tcase_add(s, "idx");
	tcase_add_test(tc, test_idx);

	tc = tcase_add(s, "next");
	tcase_add_test(tc, test_next);

	tc = tcase_add(s, "reserve");
	tcase_add_test(tc, test_reserve_growth);
	tcase_add_test(tc, test_reserve_enomem);

	tc = tcase_add(s, "fini");
	tcase_add_test(tc, test_fini);

	tc = tcase_add(s, "deadline");
	tcase_add_test(tc, test_deadline);

	return s;
}

int main(void)
{
	return run_suite(timerheap_suite());
}
