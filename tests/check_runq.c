/*
 * check_runq.c - a worker's local run queue (lib/runq.h), the bounded SPMC
 * ring that its owner pushes to and pops from and that other threads steal
 * half of: the owner's FIFO, the full ring, len, stealing half (rounded up)
 * of the oldest elements, many trips around the ring and counters past
 * 2^32; then owner and thieves on real threads, millions of operations,
 * with every element accounted for exactly once.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#define TIMEOUT 120
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <sys/mman.h>

#include "runq.h"


#define SIZE SMARM__RUNQ_SIZE
#define HALF (SMARM__RUNQ_SIZE / 2)

/* Slots past the HALF a steal may write, that it must leave alone. */
#define GUARD 8
#define CANARY ((void *)(uintptr_t)0xdeadbeefcafef00dull)

/* ---- helpers ------------------------------------------------------------ */


/* A ring in garbage-filled memory, then initialised: init must not rely on
 * zeroed memory.  Under valgrind the memory is marked undefined instead, so
 * that memcheck reports any use of a slot never written. */
static void fresh(smarm__runq *q)
{
	memset(q, 0xa5, sizeof(*q));
	if (RUNNING_ON_VALGRIND)
		VALGRIND_MAKE_MEM_UNDEFINED(q, sizeof(*q));
	smarm__runq_init(q);
}

/* A steal buffer: HALF slots the steal may use, then GUARD canaries. */
typedef struct {
	void *v[HALF + GUARD];
} stealbuf;

static void buf_reset(stealbuf *b)
{
	size_t i;

	for (i = 0; i < HALF + GUARD; i++)
		b->v[i] = CANARY;
}

static int buf_guard_ok(const stealbuf *b)
{
	size_t i;

	for (i = HALF; i < HALF + GUARD; i++)
		if (b->v[i] != CANARY)
			return 0;
	return 1;
}

static void push_ok(smarm__runq *q, uint64_t x)
{
	REQUIRE_MSG(smarm__runq_push(q, tok(x)) == 0,
		"push of %llu failed with %zu elements in",
		(unsigned long long)x, smarm__runq_len(q));
}

static void pop_is(smarm__runq *q, uint64_t want)
{
	void *p = smarm__runq_pop(q);

	REQUIRE_MSG(p == tok(want), "pop gave %llu, expected %llu",
		(unsigned long long)untok(p), (unsigned long long)want);
}

/* Push and pop `off` elements, so that head and tail both stand at off. */
static void advance(smarm__runq *q, uint64_t off, uint64_t *next)
{
	uint64_t i;

	for (i = 0; i < off; i++) {
		push_ok(q, *next);
		pop_is(q, *next);
		++*next;
	}
	ck_assert_uint_eq(smarm__runq_len(q), 0);
}

/* ---- single-threaded semantics ------------------------------------------ */

START_TEST(test_empty)
{
	smarm__runq q;
	stealbuf b;

	fresh(&q);
	ck_assert_uint_eq(smarm__runq_len(&q), 0);
	ck_assert_ptr_null(smarm__runq_pop(&q));
	ck_assert_ptr_null(smarm__runq_pop(&q));
	buf_reset(&b);
	ck_assert_uint_eq(smarm__runq_steal(&q, b.v), 0);
	ck_assert(buf_guard_ok(&b));
	ck_assert_uint_eq(smarm__runq_len(&q), 0);

	/* Empty again after one element has been popped ... */
	push_ok(&q, 1);
	ck_assert_uint_eq(smarm__runq_len(&q), 1);
	pop_is(&q, 1);
	ck_assert_ptr_null(smarm__runq_pop(&q));
	ck_assert_uint_eq(smarm__runq_steal(&q, b.v), 0);
	ck_assert_uint_eq(smarm__runq_len(&q), 0);

	/* ... or stolen. */
	push_ok(&q, 2);
	ck_assert_uint_eq(smarm__runq_steal(&q, b.v), 1);
	ck_assert_ptr_eq(b.v[0], tok(2));
	ck_assert_uint_eq(smarm__runq_len(&q), 0);
	ck_assert_ptr_null(smarm__runq_pop(&q));
	ck_assert_uint_eq(smarm__runq_steal(&q, b.v), 0);
	ck_assert(buf_guard_ok(&b));
}
END_TEST

START_TEST(test_fifo)
{
	smarm__runq q;
	uint64_t x, next_in = 1, next_out = 1;
	unsigned round;

	fresh(&q);
	for (x = 1; x <= 200; x++) {
		push_ok(&q, next_in++);
		ck_assert_uint_eq(smarm__runq_len(&q), x);
	}
	for (x = 1; x <= 200; x++) {
		pop_is(&q, next_out++);
		ck_assert_uint_eq(smarm__runq_len(&q), 200 - x);
	}
	ck_assert_ptr_null(smarm__runq_pop(&q));

	/* Interleaved: push three, pop two, for a while; then drain.  The
	 * owner always gets the oldest element. */
	for (round = 0; round < 100; round++) {
		push_ok(&q, next_in++);
		push_ok(&q, next_in++);
		push_ok(&q, next_in++);
		pop_is(&q, next_out++);
		pop_is(&q, next_out++);
		ck_assert_uint_eq(smarm__runq_len(&q), next_in - next_out);
	}
	while (next_out < next_in)
		pop_is(&q, next_out++);
	ck_assert_ptr_null(smarm__runq_pop(&q));
	ck_assert_uint_eq(smarm__runq_len(&q), 0);
}
END_TEST

/* Push fails (-1) exactly when SIZE elements are in, wherever head stands
 * in the ring, and a failed push changes nothing. */
START_TEST(test_full)
{
	uint64_t off;

	for (off = 0; off <= SIZE + 1; off++) {
		smarm__runq q;
		uint64_t next = 1, first, i;
		stealbuf b;

		fresh(&q);
		advance(&q, off, &next);
		first = next;
		for (i = 0; i < SIZE; i++) {
			ck_assert_msg(smarm__runq_push(&q, tok(next)) == 0,
				      "offset %llu: push %llu of %u failed",
				      (unsigned long long)off,
				      (unsigned long long)i + 1, SIZE);
			next++;
			ck_assert_uint_eq(smarm__runq_len(&q), i + 1);
		}
		ck_assert_msg(smarm__runq_push(&q, tok(next)) == -1,
			      "offset %llu: push into a full ring did not "
			      "fail", (unsigned long long)off);
		ck_assert_int_eq(smarm__runq_push(&q, tok(next + 1)), -1);
		ck_assert_uint_eq(smarm__runq_len(&q), SIZE);

		/* One out, exactly one in. */
		pop_is(&q, first);
		ck_assert_uint_eq(smarm__runq_len(&q), SIZE - 1);
		push_ok(&q, next + 2);
		ck_assert_int_eq(smarm__runq_push(&q, tok(next + 3)), -1);
		ck_assert_uint_eq(smarm__runq_len(&q), SIZE);

		/* A steal of the full ring takes HALF; exactly HALF pushes
		 * then fit. */
		buf_reset(&b);
		ck_assert_uint_eq(smarm__runq_steal(&q, b.v), HALF);
		ck_assert(buf_guard_ok(&b));
		for (i = 0; i < HALF; i++)
			ck_assert_ptr_eq(b.v[i], tok(first + 1 + i));
		for (i = 0; i < HALF; i++)
			push_ok(&q, next + 4 + i);
		ck_assert_int_eq(smarm__runq_push(&q, tok(next + 4 + HALF)),
				 -1);
		ck_assert_uint_eq(smarm__runq_len(&q), SIZE);

		/* The contents, in order: the rest of the first fill, the
		 * one pushed after the pop, then the HALF; none of the
		 * tokens whose push failed. */
		for (i = first + 1 + HALF; i < next; i++)
			pop_is(&q, i);
		pop_is(&q, next + 2);
		for (i = 0; i < HALF; i++)
			pop_is(&q, next + 4 + i);
		ck_assert_ptr_null(smarm__runq_pop(&q));
		ck_assert_uint_eq(smarm__runq_len(&q), 0);
	}
}
END_TEST

/* Steal takes ceil(n/2) of the n elements, the oldest, in order, and leaves
 * the rest in order: for every n from 1 to SIZE (among them the 1, 2, 3,
 * 255 and 256 of the edges), with the elements starting at the ring's
 * first slot, in the middle, and straddling its end. */
START_TEST(test_steal_half)
{
	static const uint64_t offs[] = { 0, 100, SIZE - 1, SIZE + 37 };
	uint64_t n;
	size_t o;

	for (n = 1; n <= SIZE; n++) {
		for (o = 0; o < sizeof(offs) / sizeof(offs[0]); o++) {
			smarm__runq q;
			stealbuf b;
			uint64_t next = 1, first, want, left, i;
			size_t got;

			fresh(&q);
			advance(&q, offs[o], &next);
			first = next;
			for (i = 0; i < n; i++)
				push_ok(&q, next++);

			buf_reset(&b);
			got = smarm__runq_steal(&q, b.v);
			want = n - n / 2;
			ck_assert_msg(got == want,
				      "n=%llu offset %llu: stole %zu, "
				      "expected %llu",
				      (unsigned long long)n,
				      (unsigned long long)offs[o], got,
				      (unsigned long long)want);
			ck_assert_msg(buf_guard_ok(&b),
				      "n=%llu: steal wrote past out[%u]",
				      (unsigned long long)n, HALF - 1);
			for (i = 0; i < got; i++)
				ck_assert_msg(b.v[i] == tok(first + i),
					      "n=%llu: out[%llu] is %llu, "
					      "expected %llu",
					      (unsigned long long)n,
					      (unsigned long long)i,
					      (unsigned long long)untok(
						      b.v[i]),
					      (unsigned long long)(first +
								   i));
			left = n - got;
			ck_assert_uint_eq(smarm__runq_len(&q), left);

			/* Then the owner pops the next oldest, and further
			 * steals halve what is left, each in order. */
			first += got;
			if (left > 0) {
				pop_is(&q, first++);
				left--;
			}
			while (left > 0) {
				buf_reset(&b);
				got = smarm__runq_steal(&q, b.v);
				ck_assert_uint_eq(got, left - left / 2);
				ck_assert(buf_guard_ok(&b));
				for (i = 0; i < got; i++)
					ck_assert_ptr_eq(b.v[i],
							 tok(first + i));
				first += got;
				left -= got;
				ck_assert_uint_eq(smarm__runq_len(&q), left);
			}
			ck_assert_uint_eq(first, next);
			ck_assert_uint_eq(smarm__runq_steal(&q, b.v), 0);
			ck_assert_ptr_null(smarm__runq_pop(&q));
		}
	}
}
END_TEST

/* The ring against a model, over many trips around it: one element at a
 * time, full fills and drains, then a long random mix of push, pop and
 * steal.  The model is the window [lo, hi) of consecutive tokens (every
 * taker takes the oldest, so what is in is always consecutive). */

START_TEST(test_wrap)
{
	smarm__runq q;
	stealbuf b;
	uint64_t lo = 1, hi = 1, i;
	unsigned r;

	fresh(&q);
	/* One at a time: 100 trips around the ring. */
	for (i = 0; i < 100 * SIZE + 3; i++) {
		push_ok(&q, hi++);
		pop_is(&q, lo++);
	}
	/* Fill to the brim and drain, 50 times, at drifting offsets (the
	 * odd extra element moves head 1 slot on at each round). */
	for (r = 0; r < 50; r++) {
		for (i = 0; i < SIZE; i++)
			push_ok(&q, hi++);
		ck_assert_int_eq(smarm__runq_push(&q, tok(hi)), -1);
		if (r % 2) {
			while (lo < hi)
				pop_is(&q, lo++);
		} else {
			while (lo < hi) {
				size_t got = smarm__runq_steal(&q, b.v);

				ck_assert_uint_eq(got, (hi - lo) -
							       (hi - lo) / 2);
				for (i = 0; i < got; i++)
					ck_assert_ptr_eq(b.v[i], tok(lo + i));
				lo += got;
			}
		}
		push_ok(&q, hi++);
		pop_is(&q, lo++);
		ck_assert_ptr_null(smarm__runq_pop(&q));
	}

	/* A random mix, biased to keep the ring between empty and full. */
	for (i = 0; i < 1000000; i++) {
		uint64_t v = rng() % 16;

		if (v < 8) {
			int rc = smarm__runq_push(&q, tok(hi));

			REQUIRE_MSG(rc == (hi - lo < SIZE ? 0 : -1),
				"op %llu: push with %llu in returned %d",
				(unsigned long long)i,
				(unsigned long long)(hi - lo), rc);
			if (rc == 0)
				hi++;
		} else if (v < 14) {
			void *p = smarm__runq_pop(&q);

			REQUIRE_MSG(p == (lo < hi ? tok(lo) : NULL),
				"op %llu: pop with %llu in gave %llu",
				(unsigned long long)i,
				(unsigned long long)(hi - lo),
				(unsigned long long)untok(p));
			if (p)
				lo++;
		} else {
			size_t got, k;

			buf_reset(&b);
			got = smarm__runq_steal(&q, b.v);
			REQUIRE_MSG(got == (hi - lo) - (hi - lo) / 2,
				"op %llu: steal with %llu in took %zu",
				(unsigned long long)i,
				(unsigned long long)(hi - lo), got);
			REQUIRE_MSG(buf_guard_ok(&b), "steal wrote past out[%u]",
				HALF - 1);
			for (k = 0; k < got; k++)
				REQUIRE_MSG(b.v[k] == tok(lo + k),
					"op %llu: out[%zu] is %llu, expected "
					"%llu", (unsigned long long)i, k,
					(unsigned long long)untok(b.v[k]),
					(unsigned long long)(lo + k));
			lo += got;
		}
		REQUIRE_MSG(smarm__runq_len(&q) == hi - lo,
			"op %llu: len %zu, expected %llu",
			(unsigned long long)i, smarm__runq_len(&q),
			(unsigned long long)(hi - lo));
	}
	/* Head went many times round. */
	ck_assert_uint_gt(lo, 1000 * SIZE);
	while (lo < hi)
		pop_is(&q, lo++);
	ck_assert_ptr_null(smarm__runq_pop(&q));
}
END_TEST

/*
 * The counters are full width (runq.h: they do not wrap in the life of a
 * process): a ring whose head and tail stand just below 2^32 works the
 * same across it.  This sets the counters directly, as if 2^32 - 5
 * elements had gone through.
 */
START_TEST(test_wide_counters)
{
	smarm__runq q;
	stealbuf b;
	const AO_t start = ((AO_t)1 << 32) - 5;
	uint64_t lo = 1, hi = 1, i;

	fresh(&q);
	smarm__atomic_store_relaxed(&q.head, start);
	smarm__atomic_store_relaxed(&q.tail, start);
	ck_assert_uint_eq(smarm__runq_len(&q), 0);
	ck_assert_ptr_null(smarm__runq_pop(&q));
	ck_assert_uint_eq(smarm__runq_steal(&q, b.v), 0);

	/* A full ring across 2^32. */
	for (i = 0; i < SIZE; i++)
		push_ok(&q, hi++);
	ck_assert_int_eq(smarm__runq_push(&q, tok(hi)), -1);
	ck_assert_uint_eq(smarm__runq_len(&q), SIZE);
	ck_assert_uint_eq(smarm__runq_steal(&q, b.v), HALF);
	for (i = 0; i < HALF; i++)
		ck_assert_ptr_eq(b.v[i], tok(lo + i));
	lo += HALF;
	ck_assert_uint_eq(smarm__runq_len(&q), SIZE - HALF);
	while (lo < hi)
		pop_is(&q, lo++);
	ck_assert_ptr_null(smarm__runq_pop(&q));

	/* Head and tail past 2^32 now; more trips around. */
	ck_assert_uint_gt(smarm__atomic_load_relaxed(&q.head),
			  (AO_t)1 << 32);
	for (i = 0; i < 3 * SIZE; i++) {
		push_ok(&q, hi++);
		push_ok(&q, hi++);
		pop_is(&q, lo++);
		ck_assert_uint_eq(smarm__runq_len(&q), hi - lo);
		if (hi - lo >= SIZE - 1) {
			size_t got = smarm__runq_steal(&q, b.v), k;

			ck_assert_uint_eq(got, (hi - lo) - (hi - lo) / 2);
			for (k = 0; k < got; k++)
				ck_assert_ptr_eq(b.v[k], tok(lo + k));
			lo += got;
		}
	}
	ck_assert_uint_eq(smarm__atomic_load_relaxed(&q.tail),
			  start + (hi - 1));
}
END_TEST

/* ---- owner and thieves on threads ---------------------------------------- */

/*
 * The owner (the test's thread) pushes tokens 1, 2, 3, ... in increasing
 * order.  A push that fails counts its token as overflowed (it would go to
 * the global queue).  After every k pushes (never, for k == 0) it pops
 * one.  The thieves steal continuously into buffers of their own.  At the
 * end the owner pops until the ring is empty and stops the thieves.  Every
 * token must then have been taken exactly once, by an owner's pop, a
 * steal, or the overflow; the owner's pops must be increasing, and so must
 * each thief's tokens (within a batch and from one batch to the next, as
 * head only grows); a batch is 1..HALF tokens and leaves the buffer's guard
 * alone.  A pop that finds the ring empty leaves it empty (len 0: only the
 * owner adds).
 *
 * With 8 thieves on this 2-core machine, threads are preempted in the
 * middle of their operations (between reading head and the CAS, between
 * the CAS and reading the slots, between writing a slot and publishing
 * tail).  k == 1 keeps the ring at 0 or 1 element, so that the owner's pop
 * and the thieves fight for the last element; k == 0 keeps it full, so
 * that the owner's pushes race with the steals freeing slots; k == 2 and 4
 * are in between.  The owner and the thieves spin a little after each
 * operation ("running" the work), which sets how full the ring runs.
 *
 * How many operations happen in a given time depends on the spins and on
 * who gets the CPUs, so a run is timed rather than counted: natively each
 * run lasts STRESS_MS (or STRESS_TOKENS tokens at most), millions of
 * operations, about 13 s over the 13 runs.  Under valgrind, which runs the
 * threads one at a time and ~50 times slower, each run is cut down to
 * STRESS_TOKENS_VG tokens (about 1.5 s each, 20 s in all; STRESS_MS_VG
 * at most), and the owner yields the CPU every 200 tokens so that the
 * thieves get to steal (and every 300 when k == 0, so that the ring also
 * fills up and pushes fail).
 */
#define STRESS_MS 1000u
#define STRESS_TOKENS 16000000u
#define STRESS_MS_VG 20000u
#define STRESS_TOKENS_VG 200000u

typedef struct {
	smarm__runq q __attribute__((aligned(64)));
	uint64_t ntokens;     /* at most */
	unsigned owork;	      /* the owner's spins after each push */
	unsigned twork;	      /* a thief's spins after each steal */
	unsigned char *count; /* [1..ntokens]: 1 once pushed, +1 each take */
	int stop;	      /* __atomic */
	long thefts;	      /* __atomic: steals by the thieves so far */
	pthread_barrier_t start;
} stress;

typedef struct {
	pthread_t th;
	stress *st;
	uint64_t last;	  /* last token taken */
	uint64_t stolen;  /* tokens */
	uint64_t batches; /* nonzero steals */
	char err[256];	  /* the first error, "" if none */
} thief;

/*
 * A thief's buffer: out[] ends a page, its guard starts the next.  After
 * each steal the thief hands the first page back to the kernel
 * (MADV_DONTNEED), so that the next steal's first write to out[] faults:
 * a few microseconds in the kernel in the middle of the steal, where a
 * timer tick preempts the thief and lets the owner and the other thieves
 * run.  This widens the windows of the races (between reading head and
 * the CAS, or the CAS and reading the slots, in a broken steal) many times
 * over, mostly when the threads share one CPU.
 */
typedef struct {
	char *area; /* two pages */
	size_t page;
	void **out;   /* HALF slots, ending the first page */
	void **guard; /* GUARD slots, starting the second */
} faultbuf;

static int faultbuf_init(faultbuf *b)
{
	size_t g;

	memset(b, 0, sizeof(*b));
	b->page = (size_t)sysconf(_SC_PAGESIZE);
	b->area = mmap(NULL, 2 * b->page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->area == MAP_FAILED)
		return -1;
	b->out = (void **)(b->area + b->page) - HALF;
	b->guard = (void **)(b->area + b->page);
	for (g = 0; g < GUARD; g++)
		b->guard[g] = CANARY;
	return 0;
}

static int faultbuf_guard_ok(const faultbuf *b)
{
	size_t g;

	for (g = 0; g < GUARD; g++)
		if (b->guard[g] != CANARY)
			return 0;
	return 1;
}

static void *thief_main(void *arg)
{
	thief *t = arg;
	stress *st = t->st;
	faultbuf b;
	int ok = faultbuf_init(&b) == 0;

	if (!ok)
		snprintf(t->err, sizeof(t->err), "mmap: %s", strerror(errno));
	pthread_barrier_wait(&st->start);
	while (ok) {
		int stop = __atomic_load_n(&st->stop, __ATOMIC_ACQUIRE);
		size_t n = smarm__runq_steal(&st->q, b.out), i;

		if (n == 0) {
			/* The owner stops us only once it has emptied the
			 * ring, so this last steal found nothing either. */
			if (stop)
				break;
			/* Natively, spin, and without even a pause: a
			 * thief that gave the CPU up or paused would do so
			 * between operations, where it is harmless, rather
			 * than be preempted in the middle of one (say
			 * between reading head and tail).  Under valgrind,
			 * threads run one at a time: hand the CPU over at
			 * once. */
			if (RUNNING_ON_VALGRIND)
				sched_yield();
			continue;
		}
		if (!t->err[0] && (n > HALF || !faultbuf_guard_ok(&b)))
			snprintf(t->err, sizeof(t->err),
				 "steal returned %zu (max %u) or wrote past "
				 "out[%u]", n, HALF, HALF - 1);
		for (i = 0; i < n && i < HALF; i++) {
			uint64_t x = untok(b.out[i]);

			if (x == 0 || x > st->ntokens) {
				if (!t->err[0])
					snprintf(t->err, sizeof(t->err),
						 "stole %llu, not a token "
						 "(out[%zu] of a batch of %zu)",
						 (unsigned long long)x, i, n);
				continue;
			}
			if (x <= t->last && !t->err[0])
				snprintf(t->err, sizeof(t->err),
					 "stole %llu after %llu (out[%zu] "
					 "of a batch of %zu): not in order",
					 (unsigned long long)x,
					 (unsigned long long)t->last, i, n);
			t->last = x;
			take(st->count, x);
		}
		t->stolen += n;
		t->batches++;
		__atomic_fetch_add(&st->thefts, 1, __ATOMIC_RELAXED);
		madvise(b.area, b.page, MADV_DONTNEED);
		spin(st->twork);
	}
	if (ok)
		munmap(b.area, 2 * b.page);
	return NULL;
}

/* The owner's pop: the tokens it pops increase. */
static void *owner_pop(stress *st, uint64_t *last_pop, uint64_t *popped)
{
	void *p = smarm__runq_pop(&st->q);
	uint64_t y = untok(p);

	if (p == NULL) {
		/* The ring was empty during the pop; since then only this
		 * thread could have added to it. */
		REQUIRE_MSG(smarm__runq_len(&st->q) == 0,
			"pop found the ring empty, len then %zu",
			smarm__runq_len(&st->q));
		return NULL;
	}
	REQUIRE_MSG(y > *last_pop && y <= st->ntokens,
		"owner popped %llu after %llu", (unsigned long long)y,
		(unsigned long long)*last_pop);
	*last_pop = y;
	++*popped;
	take(st->count, y);
	return p;
}

static size_t runq_left(void *q)
{
	return smarm__runq_len(q);
}

static void stress_run(unsigned nthieves, unsigned k, unsigned owork,
		       unsigned twork)
{
	stress *st;
	thief th[8];
	uint64_t x, pushed, deadline, last_pop = 0, popped = 0;
	uint64_t overflowed = 0, stolen = 0, batches = 0;
	uint64_t bad = 0, lost = 0, dup = 0, first_bad = 0;
	unsigned i;
	int first_takes = 0;
	stealbuf b;

	ck_assert_uint_le(nthieves, 8);
	/* The ring is not cleared (only init'ed), so that memcheck sees a
	 * read of a slot never written. */
	ck_assert_int_eq(posix_memalign((void **)&st, 64, sizeof(*st)), 0);
	smarm__runq_init(&st->q);
	st->ntokens = RUNNING_ON_VALGRIND ? STRESS_TOKENS_VG : STRESS_TOKENS;
	st->owork = owork;
	st->twork = twork;
	st->stop = 0;
	st->thefts = 0;
	st->count = calloc(st->ntokens + 1, 1);
	ck_assert_ptr_nonnull(st->count);
	ck_assert_int_eq(pthread_barrier_init(&st->start, NULL, nthieves + 1),
			 0);
	for (i = 0; i < nthieves; i++) {
		memset(&th[i], 0, sizeof(th[i]));
		th[i].st = st;
		ck_assert_int_eq(pthread_create(&th[i].th, NULL, thief_main,
						&th[i]),
				 0);
	}
	pthread_barrier_wait(&st->start);

	deadline = now_ms() +
		   (RUNNING_ON_VALGRIND ? STRESS_MS_VG : STRESS_MS);
	/* The last token is kept for the end. */
	for (x = 1; x < st->ntokens; x++) {
		/* The token's "contents", written plainly: a taker's
		 * update of them must come after (ThreadSanitizer reports
		 * a race if the ring does not order them). */
		st->count[x] = 1;
		if (smarm__runq_push(&st->q, tok(x)) != 0) {
			overflowed++;
			take(st->count, x);
		}
		spin(owork);
		/* Under valgrind, threads run one at a time: let the
		 * thieves in now and then. */
		if (RUNNING_ON_VALGRIND && x % (k == 0 ? 300 : 200) == 0)
			sched_yield();
		/* From the owner, len never exceeds SIZE: tail is its
		 * own, and head only grows. */
		REQUIRE_MSG(smarm__runq_len(&st->q) <= SIZE, "len %zu > %u",
			smarm__runq_len(&st->q), SIZE);
		if (k != 0 && x % k == 0)
			owner_pop(st, &last_pop, &popped);
		if (x % 1024 == 0 && now_ms() >= deadline) {
			x++;
			break;
		}
	}
	/* One more token, for the thieves (see wait_thieves). */
	st->count[x] = 1;
	if (smarm__runq_push(&st->q, tok(x)) != 0) {
		overflowed++;
		take(st->count, x);
	}
	pushed = x;
	wait_thieves(&st->thefts, runq_left, &st->q);
	while (owner_pop(st, &last_pop, &popped) != NULL)
		;
	__atomic_store_n(&st->stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < nthieves; i++)
		ck_assert_int_eq(pthread_join(th[i].th, NULL), 0);

	/* Empty for everyone. */
	ck_assert_uint_eq(smarm__runq_len(&st->q), 0);
	ck_assert_ptr_null(smarm__runq_pop(&st->q));
	ck_assert_uint_eq(smarm__runq_steal(&st->q, b.v), 0);

	for (i = 0; i < nthieves; i++) {
		ck_assert_msg(!th[i].err[0], "%u thieves, k=%u: thief %u: %s",
			      nthieves, k, i, th[i].err);
		stolen += th[i].stolen;
		batches += th[i].batches;
	}
	/* Tokens 1..pushed taken once each; none beyond. */
	for (x = 1; x <= st->ntokens; x++) {
		int takes = st->count[x] - (x <= pushed);

		if (takes == (x <= pushed))
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
	if (getenv("CHECK_RUNQ_STATS"))
		fprintf(stderr,
			"runq stress: %u thieves, k=%u, spins %u/%u: %llu "
			"tokens, %llu popped, %llu stolen in %llu batches, "
			"%llu overflowed\n",
			nthieves, k, owork, twork, (unsigned long long)pushed,
			(unsigned long long)popped,
			(unsigned long long)stolen,
			(unsigned long long)batches,
			(unsigned long long)overflowed);
	ck_assert_msg(bad == 0,
		      "%u thieves, k=%u, %llu pushed: %llu tokens lost, %llu "
		      "taken more than once or never pushed (first: %llu, "
		      "taken %d times)",
		      nthieves, k, (unsigned long long)pushed,
		      (unsigned long long)lost, (unsigned long long)dup,
		      (unsigned long long)first_bad, first_takes);
	ck_assert_uint_eq(popped + stolen + overflowed, pushed);
	/* The thieves did take part. */
	ck_assert_msg(stolen > 0, "%u thieves, k=%u: nothing stolen",
		      nthieves, k);

	pthread_barrier_destroy(&st->start);
	free(st->count);
	free(st);
}

/* Thieves; k (the owner pops one after every k pushes, never for 0); the
 * owner's spins after each push, and a thief's after each steal. */
static const struct {
	unsigned thieves, k, owork, twork;
} stress_cfg[] = {
	{ 1, 1, 20, 0 }, { 1, 2, 10, 0 }, { 1, 4, 5, 0 }, { 1, 0, 2, 0 },
	{ 2, 1, 20, 0 }, { 2, 2, 10, 0 }, { 2, 4, 5, 0 }, { 2, 0, 2, 0 },
	{ 8, 1, 20, 0 }, { 8, 2, 10, 0 }, { 8, 4, 5, 0 }, { 8, 0, 2, 0 },
	{ 8, 0, 10, 20 },
};

#define NSTRESS (int)(sizeof(stress_cfg) / sizeof(stress_cfg[0]))

START_TEST(test_stress)
{
	stress_run(stress_cfg[_i].thieves, stress_cfg[_i].k,
		   stress_cfg[_i].owork, stress_cfg[_i].twork);
}
END_TEST

/* ---- the suite ---------------------------------------------------------------- */

/* The owner's pop for a ring nobody steals from (a runtime with one
 * worker): the same FIFO as the CAS pop, mixed with it, across the end of
 * the ring, and empty at the end. */
START_TEST(test_pop_alone)
{
	smarm__runq q;
	uint64_t next_in = 1, next_out = 1;
	int round;

	fresh(&q);
	ck_assert_ptr_null(smarm__runq_pop_alone(&q));
	for (round = 0; round < 40; round++) {
		int i, n = 1 + round * 7 % (int)SIZE;

		for (i = 0; i < n; i++)
			push_ok(&q, next_in++);
		for (i = 0; i < n; i++) {
			void *p = (i & 1) ? smarm__runq_pop(&q) :
				smarm__runq_pop_alone(&q);

			REQUIRE_MSG(p == tok(next_out), "round %d: pop gave %llu, "
				"expected %llu", round,
				(unsigned long long)untok(p),
				(unsigned long long)next_out);
			next_out++;
		}
		ck_assert_uint_eq(smarm__runq_len(&q), 0);
		ck_assert_ptr_null(smarm__runq_pop_alone(&q));
	}
	/* Full, then drained by the lone pop alone. */
	for (next_in = 1; next_in <= SIZE; next_in++)
		push_ok(&q, next_in);
	for (next_out = 1; next_out <= SIZE; next_out++)
		ck_assert_ptr_eq(smarm__runq_pop_alone(&q), tok(next_out));
	ck_assert_ptr_null(smarm__runq_pop_alone(&q));
}
END_TEST

static Suite *runq_suite(void)
{
	Suite *s = suite_create("runq");
	TCase *tc;

	tc = tcase_add(s, "owner");
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_fifo);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_pop_alone);

	tc = tcase_add(s, "steal");
	tcase_add_test(tc, test_steal_half);

	tc = tcase_add(s, "wrap");
	tcase_add_test(tc, test_wrap);
	tcase_add_test(tc, test_wide_counters);

	tc = tcase_add(s, "threads");
	tcase_add_loop_test(tc, test_stress, 0, NSTRESS);

	return s;
}

int main(void)
{
	return run_suite(runq_suite());
}
