/*
 * check_mpscq.c - the lock-free multi-producer single-consumer queue
 * (lib/mpscq.h), on plain OS threads, without a runtime.
 *
 * One thread: an empty queue, busy() and maybe(), FIFO order, a chain
 * pushed in one go, the stub leaving and re-entering the queue many
 * times, a push stopped between its head swap and its link, and the
 * non-intrusive consumer (next/advance) handing back the old stub for
 * reuse.  Two threads: the "push, then look" handshake that sched.c
 * builds on, and the pop of the last node against a push (maybe() must
 * still show the pushed node).  Many threads: producers pushing millions
 * of nodes against one consumer, intrusive (pop, as sched.c's inbox and
 * global queue) and non-intrusive (next/advance with node recycling),
 * every node seen exactly once and in each producer's order.
 *
 * Threads other than the test's own never call ck_assert: the consumer
 * records its first error and the test checks it after the joins.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#define TIMEOUT 120
#include "testutil.h"

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <valgrind/valgrind.h>

#include "mpscq.h"

/* ---- helpers ------------------------------------------------------------ */

/* An element: the link is not the first member, so a node is turned back
 * into its element with offsetof, as sched.c does with an actor. */
typedef struct item {
	uint32_t producer;
	uint32_t seq;
	smarm__mpscq_node link;
} item;

static item *item_of(smarm__mpscq_node *n)
{
	return (item *)(void *)((char *)n - offsetof(item, link));
}

static smarm__mpscq_node *head_of(const smarm__mpscq *q)
{
	return (smarm__mpscq_node *)smarm__atomic_load_relaxed(&q->head);
}

/* A check that calls Check only when it fails: a passing ck_assert
 * records its place with a write(2), too slow (under valgrind above all)
 * for the loops below, which check millions of times. */
#define REQUIRE(cond)							\
	do {								\
		if (!(cond))						\
			ck_abort_msg("failed: %s", #cond);		\
	} while (0)

/* Empty, as the intrusive consumer sees it: nothing to pop, not busy, and
 * the stub both oldest and newest node, with no successor. */
static void assert_empty(smarm__mpscq *q, smarm__mpscq_node *stub)
{
	REQUIRE(!smarm__mpscq_busy(q, stub));
	REQUIRE(smarm__mpscq_pop(q, stub) == NULL);
	REQUIRE(!smarm__mpscq_busy(q, stub));
	REQUIRE(q->tail == stub);
	REQUIRE(head_of(q) == stub);
	REQUIRE(smarm__mpscq_next(q) == NULL);
}

/* Pop, which must hand out exactly `want`. */
static void pop_is(smarm__mpscq *q, smarm__mpscq_node *stub, item *want)
{
	smarm__mpscq_node *n = smarm__mpscq_pop(q, stub);

	REQUIRE(n != NULL);
	REQUIRE(n != stub);
	REQUIRE(item_of(n) == want);
}

/*
 * The two halves of smarm__mpscq_push, so that a producer can be stopped
 * between them: after the head swap, before the link.  Written as the
 * push is (a head swap by compare-and-swap, then a full-barrier link).
 */
static smarm__mpscq_node *push_swap(smarm__mpscq *q, smarm__mpscq_node *n)
{
	smarm__mpscq_node *prev = head_of(q);

	smarm__atomic_store_relaxed(&n->next, 0);
	ck_assert(smarm__atomic_cas_full(&q->head, (AO_t)prev, (AO_t)n));
	return prev;
}

static void push_link(smarm__mpscq_node *prev, smarm__mpscq_node *n)
{
	smarm__atomic_store_full(&prev->next, (AO_t)n);
}

/* ---- one thread: the intrusive consumer --------------------------------- */

/* init must not trust what the queue and the stub held before. */
START_TEST(test_empty)
{
	smarm__mpscq q;
	smarm__mpscq_node stub;
	int i;

	memset(&q, 0xa5, sizeof(q));
	memset(&stub, 0xa5, sizeof(stub));
	smarm__mpscq_init(&q, &stub);
	for (i = 0; i < 3; i++)
		assert_empty(&q, &stub);
}
END_TEST

/* busy() is true from the push on, stays true while anything is left,
 * and asking does not consume. */
START_TEST(test_busy)
{
	smarm__mpscq q;
	smarm__mpscq_node stub;
	item a, b;

	smarm__mpscq_init(&q, &stub);
	ck_assert(!smarm__mpscq_busy(&q, &stub));
	smarm__mpscq_push(&q, &a.link);
	ck_assert(smarm__mpscq_busy(&q, &stub));
	ck_assert(smarm__mpscq_busy(&q, &stub));
	pop_is(&q, &stub, &a);
	assert_empty(&q, &stub);

	smarm__mpscq_push(&q, &a.link);
	smarm__mpscq_push(&q, &b.link);
	ck_assert(smarm__mpscq_busy(&q, &stub));
	pop_is(&q, &stub, &a);
	ck_assert(smarm__mpscq_busy(&q, &stub));
	pop_is(&q, &stub, &b);
	assert_empty(&q, &stub);
}
END_TEST

/* 1,000 nodes from one producer come out in push order, three times over
 * on the same queue. */
START_TEST(test_fifo)
{
	enum { N = 1000 };
	smarm__mpscq q;
	smarm__mpscq_node stub;
	item *v = calloc(N, sizeof(*v));
	uint32_t i;
	int round;

	ck_assert_ptr_nonnull(v);
	smarm__mpscq_init(&q, &stub);
	for (round = 0; round < 3; round++) {
		for (i = 0; i < N; i++) {
			v[i].seq = i;
			smarm__mpscq_push(&q, &v[i].link);
		}
		for (i = 0; i < N; i++) {
			REQUIRE(smarm__mpscq_busy(&q, &stub));
			pop_is(&q, &stub, &v[i]);
			REQUIRE(v[i].seq == i);
		}
		assert_empty(&q, &stub);
	}
	free(v);
}
END_TEST

/* Link v[0..n) through their next fields, in order, for a chain push. */
static void link_chain(item *v, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i++)
		smarm__atomic_store_relaxed(&v[i].link.next,
					    (AO_t)&v[i + 1].link);
}

/* A chain goes in with one push, and its nodes come out in chain order
 * between what was pushed before and after it; a chain of one is a plain
 * push.  maybe() tells from the producers' end alone. */
START_TEST(test_push_chain)
{
	smarm__mpscq q;
	smarm__mpscq_node stub;
	item v[6];
	int round, i;

	smarm__mpscq_init(&q, &stub);
	ck_assert(!smarm__mpscq_maybe(&q, &stub));
	for (round = 0; round < 3; round++) {
		smarm__mpscq_push(&q, &v[0].link);
		ck_assert(smarm__mpscq_maybe(&q, &stub));
		link_chain(&v[1], 4);
		smarm__mpscq_push_chain(&q, &v[1].link, &v[4].link);
		ck_assert(head_of(&q) == &v[4].link);
		smarm__mpscq_push_chain(&q, &v[5].link, &v[5].link);
		for (i = 0; i < 6; i++)
			pop_is(&q, &stub, &v[i]);
		assert_empty(&q, &stub);
		ck_assert(!smarm__mpscq_maybe(&q, &stub));
		/* A chain into an empty queue. */
		link_chain(v, 6);
		smarm__mpscq_push_chain(&q, &v[0].link, &v[5].link);
		for (i = 0; i < 6; i++)
			pop_is(&q, &stub, &v[i]);
		assert_empty(&q, &stub);
	}
}
END_TEST

/* 100,000 times: push 1, 2 or 3 nodes (the same three every time), pop
 * them all.  Each time the stub leaves the queue and comes back; each
 * time the queue is empty again, with the stub in place. */
START_TEST(test_stub_reuse)
{
	smarm__mpscq q;
	smarm__mpscq_node stub;
	item v[3];
	unsigned round, k, j;

	smarm__mpscq_init(&q, &stub);
	for (round = 0; round < 100000; round++) {
		k = 1 + round % 3;
		for (j = 0; j < k; j++)
			smarm__mpscq_push(&q, &v[j].link);
		for (j = 0; j < k; j++) {
			REQUIRE(smarm__mpscq_busy(&q, &stub));
			pop_is(&q, &stub, &v[j]);
		}
		assert_empty(&q, &stub);
	}
}
END_TEST

/* Pushes and pops in a random mix, up to 64 nodes in the queue, each node
 * pushed again once popped: FIFO throughout, pop is NULL and busy() false
 * exactly when nothing is in the queue, and the queue runs empty often. */
START_TEST(test_interleaved)
{
	enum { POOL = 64, STEPS = 200000 };
	smarm__mpscq q;
	smarm__mpscq_node stub;
	item v[POOL];
	uint32_t pushed = 0, popped = 0;
	unsigned step, empties = 0;

	smarm__mpscq_init(&q, &stub);
	for (step = 0; step < STEPS; step++) {
		uint32_t in = pushed - popped;
		/* Drift between mostly pushing and mostly popping. */
		unsigned bias = (step / 1000) % 2 ? 3 : 1;

		if (in < POOL && rng() % 4 < bias) {
			v[pushed % POOL].seq = pushed;
			smarm__mpscq_push(&q, &v[pushed % POOL].link);
			pushed++;
		} else if (in == 0) {
			REQUIRE(!smarm__mpscq_busy(&q, &stub));
			REQUIRE(smarm__mpscq_pop(&q, &stub) == NULL);
		} else {
			REQUIRE(smarm__mpscq_busy(&q, &stub));
			pop_is(&q, &stub, &v[popped % POOL]);
			REQUIRE(v[popped % POOL].seq == popped);
			if (++popped == pushed) {
				assert_empty(&q, &stub);
				empties++;
			}
		}
	}
	ck_assert_uint_gt(empties, 1000);
}
END_TEST

/*
 * A producer stopped between its head swap and its link.  The consumer
 * cannot reach the node yet: pop returns NULL, again and again, but
 * busy() says something is coming.  Once linked, everything comes out in
 * order, and the queue ends empty with the stub in place (a pop that put
 * the stub in while a push was half done would hand it out later, or
 * lose nodes).
 */
START_TEST(test_mid_push)
{
	smarm__mpscq q;
	smarm__mpscq_node stub, *prev;
	item a, b, c;
	int i;

	/* Into the empty queue: the stub is the tail. */
	smarm__mpscq_init(&q, &stub);
	prev = push_swap(&q, &a.link);
	ck_assert_ptr_eq(prev, &stub);
	for (i = 0; i < 3; i++) {
		ck_assert(smarm__mpscq_busy(&q, &stub));
		ck_assert_ptr_null(smarm__mpscq_pop(&q, &stub));
	}
	push_link(prev, &a.link);
	pop_is(&q, &stub, &a);
	assert_empty(&q, &stub);

	/* Behind one linked node: the consumer steps past the stub to a,
	 * but a is the last node linked and not the head, so it must wait. */
	smarm__mpscq_push(&q, &a.link);
	prev = push_swap(&q, &b.link);
	ck_assert_ptr_eq(prev, &a.link);
	for (i = 0; i < 3; i++) {
		ck_assert(smarm__mpscq_busy(&q, &stub));
		ck_assert_ptr_null(smarm__mpscq_pop(&q, &stub));
	}
	push_link(prev, &b.link);
	pop_is(&q, &stub, &a);
	pop_is(&q, &stub, &b);
	assert_empty(&q, &stub);

	/* With the consumer already past the stub: a popped, b the tail. */
	smarm__mpscq_push(&q, &a.link);
	smarm__mpscq_push(&q, &b.link);
	prev = push_swap(&q, &c.link);
	ck_assert_ptr_eq(prev, &b.link);
	pop_is(&q, &stub, &a);
	for (i = 0; i < 3; i++) {
		ck_assert(smarm__mpscq_busy(&q, &stub));
		ck_assert_ptr_null(smarm__mpscq_pop(&q, &stub));
	}
	push_link(prev, &c.link);
	pop_is(&q, &stub, &b);
	pop_is(&q, &stub, &c);
	assert_empty(&q, &stub);
}
END_TEST

/* ---- one thread: the non-intrusive consumer ------------------------------ */

/* Empty for the non-intrusive consumer: the current stub (the tail) is
 * also the head.  busy() works with the current stub. */
static void assert_empty_ni(smarm__mpscq *q)
{
	REQUIRE(smarm__mpscq_next(q) == NULL);
	REQUIRE(!smarm__mpscq_busy(q, q->tail));
	REQUIRE(head_of(q) == q->tail);
}

/* The first advance hands back the initial stub, each later one the node
 * of the element before; a node handed back carries a later element. */
START_TEST(test_next_advance)
{
	smarm__mpscq q;
	smarm__mpscq_node *n;
	item stub, a, b;

	memset(&stub, 0xa5, sizeof(stub));
	smarm__mpscq_init(&q, &stub.link);
	assert_empty_ni(&q);

	a.seq = 1;
	smarm__mpscq_push(&q, &a.link);
	ck_assert(smarm__mpscq_busy(&q, q.tail));
	n = smarm__mpscq_next(&q);
	ck_assert_ptr_eq(n, &a.link);
	ck_assert_uint_eq(item_of(n)->seq, 1);
	/* next only looks. */
	ck_assert_ptr_eq(smarm__mpscq_next(&q), &a.link);
	ck_assert_ptr_eq(smarm__mpscq_advance(&q, n), &stub.link);
	ck_assert_ptr_eq(q.tail, &a.link);
	assert_empty_ni(&q);

	/* The old stub, now the consumer's, carries an element. */
	stub.seq = 2;
	smarm__mpscq_push(&q, &stub.link);
	b.seq = 3;
	smarm__mpscq_push(&q, &b.link);
	n = smarm__mpscq_next(&q);
	ck_assert_ptr_eq(n, &stub.link);
	ck_assert_uint_eq(item_of(n)->seq, 2);
	ck_assert_ptr_eq(smarm__mpscq_advance(&q, n), &a.link);
	ck_assert(smarm__mpscq_busy(&q, q.tail));
	n = smarm__mpscq_next(&q);
	ck_assert_ptr_eq(n, &b.link);
	ck_assert_uint_eq(item_of(n)->seq, 3);
	ck_assert_ptr_eq(smarm__mpscq_advance(&q, n), &stub.link);
	assert_empty_ni(&q);
}
END_TEST

/* Four nodes in all, one of them always the stub: sends and receives in a
 * random mix, every node handed back going on a free list and carrying a
 * later element.  FIFO throughout; the node handed back is always the one
 * that held the element before. */
START_TEST(test_next_advance_recycle)
{
	enum { NODES = 4, STEPS = 200000 };
	smarm__mpscq q;
	item v[NODES], *free_list[NODES];
	smarm__mpscq_node *cur;
	unsigned nfree = 0, step, empties = 0;
	uint32_t pushed = 0, popped = 0;
	int i;

	for (i = 1; i < NODES; i++)
		free_list[nfree++] = &v[i];
	smarm__mpscq_init(&q, &v[0].link);
	cur = &v[0].link;
	for (step = 0; step < STEPS; step++) {
		if (nfree > 0 && rng() % 2) {
			item *it = free_list[--nfree];

			it->seq = pushed++;
			smarm__mpscq_push(&q, &it->link);
		} else if (pushed == popped) {
			assert_empty_ni(&q);
		} else {
			smarm__mpscq_node *n = smarm__mpscq_next(&q), *old;

			REQUIRE(smarm__mpscq_busy(&q, q.tail));
			REQUIRE(n != NULL);
			REQUIRE(item_of(n)->seq == popped);
			old = smarm__mpscq_advance(&q, n);
			REQUIRE(old == cur);
			REQUIRE(old != n);
			cur = n;
			free_list[nfree++] = item_of(old);
			if (++popped == pushed) {
				assert_empty_ni(&q);
				empties++;
			}
		}
	}
	ck_assert_uint_eq(nfree + (pushed - popped), NODES - 1);
	ck_assert_uint_gt(empties, 1000);
}
END_TEST

/* A push stopped before its link: nothing to take yet, but busy. */
START_TEST(test_next_mid_push)
{
	smarm__mpscq q;
	smarm__mpscq_node *prev;
	item stub, a;

	smarm__mpscq_init(&q, &stub.link);
	prev = push_swap(&q, &a.link);
	ck_assert_ptr_null(smarm__mpscq_next(&q));
	ck_assert(smarm__mpscq_busy(&q, q.tail));
	push_link(prev, &a.link);
	ck_assert_ptr_eq(smarm__mpscq_next(&q), &a.link);
	ck_assert_ptr_eq(smarm__mpscq_advance(&q, &a.link), &stub.link);
	assert_empty_ni(&q);
}
END_TEST

/* ---- two threads: push, then look ------------------------------------------ */

/*
 * The handshake of mpscq.h's top comment, which chan.c's senders and
 * receiver (and sched.c's wakers) rely on: the producer pushes, then
 * looks for a sleeper; the consumer announces itself with a full-barrier
 * store, then looks in the queue (next, as chan.c's receiver does, or
 * pop, in turns).  One of the two must see the other.  Without the full
 * barrier that ends the push, the x86 store buffer lets the producer's
 * load pass its link store and both miss (the store-buffering litmus
 * test).  Both threads start each round at the same TSC tick, then wait
 * a few more cycles, a different number from round to round, so that
 * their windows overlap.  100,000 rounds natively; under valgrind, which
 * runs one thread at a time and never reorders, 2,000 rounds.
 */
struct handshake {
	smarm__mpscq q;
	smarm__mpscq_node stub, node;
	smarm__atomic sleeper;  /* the consumer's announcement */
	smarm__atomic saw;      /* the producer saw it */
	smarm__atomic round;    /* the consumer's go for the round */
	smarm__atomic finished; /* the last round the producer has done */
	uint64_t start;         /* the TSC tick both start the round at */
	unsigned rounds;
};

static void wait_for(const smarm__atomic *a, AO_t v)
{
	unsigned spins = 0;

	while (smarm__atomic_load_acquire(a) != v) {
		if (RUNNING_ON_VALGRIND || ++spins % 64 == 0)
			sched_yield();
		else
			__builtin_ia32_pause();
	}
}

/* Spin until the TSC reaches t; at once if t is implausibly far ahead
 * (the CPUs' counters not in step). */
static void wait_tsc(uint64_t t)
{
	if (RUNNING_ON_VALGRIND || t > __builtin_ia32_rdtsc() + 1000000)
		return;
	while (__builtin_ia32_rdtsc() < t)
		;
}

static void delay(unsigned n)
{
	volatile unsigned k;

	for (k = 0; k < n; k++)
		;
}

static void *handshake_producer(void *arg)
{
	struct handshake *h = arg;
	unsigned i;

	for (i = 1; i <= h->rounds; i++) {
		wait_for(&h->round, i);
		wait_tsc(h->start);
		delay(i % 32);
		smarm__mpscq_push(&h->q, &h->node);
		smarm__atomic_store_relaxed(&h->saw,
			smarm__atomic_load_relaxed(&h->sleeper));
		smarm__atomic_store_release(&h->finished, i);
	}
	return NULL;
}

START_TEST(test_push_then_look)
{
	struct handshake *h = calloc(1, sizeof(*h));
	unsigned i, missed = 0;
	pthread_t th;

	ck_assert_ptr_nonnull(h);
	h->rounds = RUNNING_ON_VALGRIND ? 2000 : 100000;
	ck_assert_int_eq(pthread_create(&th, NULL, handshake_producer, h), 0);
	for (i = 1; i <= h->rounds; i++) {
		int seen;

		smarm__mpscq_init(&h->q, &h->stub);
		smarm__atomic_store_relaxed(&h->sleeper, 0);
		h->start = __builtin_ia32_rdtsc() + 4000;
		smarm__atomic_store_release(&h->round, i);
		wait_tsc(h->start);
		delay((i / 32) % 32);
		smarm__atomic_store_full(&h->sleeper, 1);
		if (i % 2)
			seen = smarm__mpscq_next(&h->q) != NULL;
		else
			seen = smarm__mpscq_pop(&h->q, &h->stub) != NULL;
		wait_for(&h->finished, i);
		if (!seen && !smarm__atomic_load_relaxed(&h->saw))
			missed++;
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_msg(missed == 0,
		      "%u of %u rounds: neither side saw the other",
		      missed, h->rounds);
	free(h);
}
END_TEST

/*
 * The pop of the last node against a push.  Each round the queue holds
 * one node, a; the consumer pops once while the producer pushes b, both
 * starting at the same TSC tick with delays that differ from round to
 * round.  Afterwards b at least is in the queue, so maybe() -- the look
 * the workers take at the global queue -- must say so, and the pops must
 * bring out what is left, in order.  A pop that put the stub back with a
 * push would, when b's head swap came between its look at the head and
 * that push, leave the stub as the head with b (or a and b) still before
 * it: maybe() false, and the global queue's actors stranded.  100,000
 * rounds natively, 2,000 under valgrind.
 */
struct last_vs_push {
	smarm__mpscq q;
	smarm__mpscq_node stub;
	item a, b;
	smarm__atomic round;    /* the consumer's go for the round */
	smarm__atomic finished; /* the last round the producer has done */
	uint64_t start;         /* the TSC tick both start the round at */
	unsigned rounds;
};

static void *last_vs_push_producer(void *arg)
{
	struct last_vs_push *h = arg;
	unsigned i;

	for (i = 1; i <= h->rounds; i++) {
		wait_for(&h->round, i);
		wait_tsc(h->start);
		delay(i % 32);
		smarm__mpscq_push(&h->q, &h->b.link);
		smarm__atomic_store_release(&h->finished, i);
	}
	return NULL;
}

START_TEST(test_pop_last_vs_push)
{
	struct last_vs_push *h = calloc(1, sizeof(*h));
	unsigned i, hidden = 0;
	smarm__mpscq_node *n;
	pthread_t th;

	ck_assert_ptr_nonnull(h);
	h->rounds = RUNNING_ON_VALGRIND ? 2000 : 100000;
	ck_assert_int_eq(pthread_create(&th, NULL, last_vs_push_producer, h),
			 0);
	for (i = 1; i <= h->rounds; i++) {
		smarm__mpscq_init(&h->q, &h->stub);
		smarm__mpscq_push(&h->q, &h->a.link);
		h->start = __builtin_ia32_rdtsc() + 4000;
		smarm__atomic_store_release(&h->round, i);
		wait_tsc(h->start);
		delay((i / 32) % 32);
		n = smarm__mpscq_pop(&h->q, &h->stub);
		REQUIRE(n == NULL || n == &h->a.link);
		wait_for(&h->finished, i);
		if (!smarm__mpscq_maybe(&h->q, &h->stub))
			hidden++;
		if (n == NULL)
			pop_is(&h->q, &h->stub, &h->a);
		pop_is(&h->q, &h->stub, &h->b);
		assert_empty(&h->q, &h->stub);
		REQUIRE(!smarm__mpscq_maybe(&h->q, &h->stub));
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_msg(hidden == 0, "%u of %u rounds: maybe() false with b "
		      "in the queue", hidden, h->rounds);
	free(h);
}
END_TEST

/* ---- many threads ----------------------------------------------------------- */

/*
 * nprod producer threads each push their own numbered nodes while one
 * consumer takes them; every node must arrive exactly once and each
 * producer's in order, which is one check: the sequence number of the
 * next node from producer p is always the one due from p.  The consumer
 * either
 *  - SPIN_BUSY: spins on busy() and takes when it is true, yielding when
 *    not (sched.c's poll_events, then inbox_drain);
 *  - SPIN_MAYBE: the same with maybe() instead of busy(), one take per
 *    look, as workers treat the global queue (worker.h): they look at it
 *    with maybe() alone, so a node that maybe() does not show waits for
 *    the next push, and once the pushes stop, for ever;
 *  - SPIN_TAKE: takes until there is nothing, then yields (chan.c's
 *    receiver);
 *  - AT_END: takes nothing until every producer has been joined.
 * The SPIN_BUSY and SPIN_MAYBE consumers also count the pushes that have
 * returned before they ask busy() or maybe(): while they have taken
 * fewer, the answer must be yes.
 * Once the producers are joined every push is complete, so from then on
 * busy() must be exact: true means the next take succeeds, false that
 * the queue is drained.  At the end the queue is empty, busy() false,
 * every producer's count complete.
 *
 * Intrusive: each producer's nodes are an array of its own, and the
 * consumer also checks it got the very node pushed.  Non-intrusive, as
 * chan.c: producers take a node from a one-node cache the consumer fills
 * with the node advance hands back, or malloc one; the consumer frees the
 * nodes it cannot cache, after poisoning them (a node handed back too
 * early would show as a wrong sequence number, or to valgrind).
 *
 * 4 million pushes per test: 4 producers x 1,000,000, scheduled as the
 * kernel likes, and 16 x 250,000, all on one CPU with the consumer alone
 * on another (when two are available), so that producers are preempted
 * in mid-push and the consumer meets the gap.  Under valgrind, which
 * runs one thread at a time and much slower, 80,000 pushes per test:
 * 4 x 20,000 and 16 x 5,000.
 */
#define STRESS_PUSHES 4000000u
#define STRESS_PUSHES_VALGRIND 80000u

enum consumer { SPIN_BUSY, SPIN_MAYBE, SPIN_TAKE, AT_END };

struct producer;

struct stress {
	smarm__mpscq q;
	smarm__mpscq_node stub;  /* the intrusive queue's */
	int intrusive;
	enum consumer how;
	unsigned nprod;
	uint32_t per;            /* pushes per producer */
	item **items;            /* intrusive: each producer's nodes */
	struct producer *prods;
	pthread_barrier_t start;
	int pinned;              /* the CPUs below are to be used */
	int cpu_consumer, cpu_producers;
	smarm__atomic done;      /* every producer joined */
	smarm__atomic spare;     /* non-intrusive: an item for the next push */
	/* The consumer's: */
	uint32_t *next_seq;      /* per producer: the number due next */
	uint64_t received;
	char err[256];           /* its first error, or "" */
};

struct producer {
	/* Pushes done (returned), in a line of its own. */
	smarm__atomic pushed __attribute__((aligned(64)));
	struct stress *st;
	pthread_t th;
	uint32_t id;
	int err;
};

static __attribute__((format(printf, 2, 3)))
void record_error(struct stress *st, const char *fmt, ...)
{
	va_list ap;

	if (st->err[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(st->err, sizeof(st->err), fmt, ap);
	va_end(ap);
}

static int q_busy(const struct stress *st)
{
	if (st->how == SPIN_MAYBE)
		return smarm__mpscq_maybe(&st->q, &st->stub);
	return smarm__mpscq_busy(&st->q, st->intrusive ? &st->stub :
				 st->q.tail);
}

/* Non-intrusive: a node advance handed back goes to the cache if it is
 * empty (release: the poison is written first), else back to malloc. */
static void recycle(struct stress *st, smarm__mpscq_node *old)
{
	item *it = item_of(old);

	it->producer = UINT32_MAX;
	it->seq = UINT32_MAX;
	if (smarm__atomic_load_relaxed(&st->spare) == 0)
		smarm__atomic_store_release(&st->spare, (AO_t)it);
	else
		free(it);
}

static item *new_item(struct stress *st)
{
	AO_t it = smarm__atomic_load_relaxed(&st->spare);

	if (it != 0 && smarm__atomic_cas_full(&st->spare, it, 0))
		return (item *)it;
	return malloc(sizeof(item));
}

/* Take one node: 1, or 0 when there is none to take now, or -1 once an
 * error is recorded. */
static int take_one(struct stress *st)
{
	smarm__mpscq_node *n;
	item *it;
	uint32_t p;

	if (st->intrusive) {
		n = smarm__mpscq_pop(&st->q, &st->stub);
		if (n == &st->stub) {
			record_error(st, "pop handed out the stub");
			return -1;
		}
	} else {
		n = smarm__mpscq_next(&st->q);
	}
	if (n == NULL)
		return 0;
	it = item_of(n);
	p = it->producer;
	if (p >= st->nprod) {
		record_error(st, "node %" PRIu64 " names producer %" PRIu32,
			     st->received, p);
		return -1;
	}
	if (it->seq != st->next_seq[p]) {
		record_error(st, "producer %" PRIu32 ": got number %" PRIu32
			     ", %" PRIu32 " due (lost, repeated or out of "
			     "order)", p, it->seq, st->next_seq[p]);
		return -1;
	}
	if (st->intrusive && it != &st->items[p][it->seq]) {
		record_error(st, "producer %" PRIu32 " number %" PRIu32
			     ": not the node pushed", p, it->seq);
		return -1;
	}
	st->next_seq[p]++;
	st->received++;
	if (!st->intrusive)
		recycle(st, smarm__mpscq_advance(&st->q, n));
	return 1;
}

/* Pushes that have returned so far. */
static uint64_t pushes_done(const struct stress *st)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < st->nprod; i++)
		sum += smarm__atomic_load_acquire(&st->prods[i].pushed);
	return sum;
}

/* SPIN_BUSY and SPIN_MAYBE, and AT_END once the producers are joined.  A
 * push that has returned is in the queue until taken, so the answer must
 * be yes while the consumer has taken fewer nodes than the pushes done
 * before it asked. */
static void consume_spin_busy(struct stress *st)
{
	for (;;) {
		int fin = smarm__atomic_load_acquire(&st->done) != 0;
		uint64_t pushed = pushes_done(st);
		int r;

		if (!q_busy(st)) {
			if (pushed > st->received) {
				record_error(st, "%s false, yet %" PRIu64
					     " returned pushes not taken",
					     st->how == SPIN_MAYBE ? "maybe()" :
					     "busy()",
					     pushed - st->received);
				return;
			}
			if (fin)
				return;
			sched_yield();
			continue;
		}
		r = take_one(st);
		if (r < 0)
			return;
		if (r == 0) {
			/* A producer between its head swap and its link. */
			if (fin) {
				record_error(st, "busy, but nothing to take "
					     "after every producer was "
					     "joined");
				return;
			}
			sched_yield();
		}
	}
}

static void consume_spin_take(struct stress *st)
{
	for (;;) {
		int fin = smarm__atomic_load_acquire(&st->done) != 0;
		int r;

		while ((r = take_one(st)) > 0)
			;
		if (r < 0)
			return;
		if (fin) {
			if (q_busy(st))
				record_error(st, "nothing to take after "
					     "every producer was joined, "
					     "but busy");
			return;
		}
		sched_yield();
	}
}

/* Run the calling thread on that CPU only, if st->pinned. */
static void pin(const struct stress *st, int cpu)
{
	cpu_set_t set;

	if (!st->pinned)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *consumer_main(void *arg)
{
	struct stress *st = arg;

	pin(st, st->cpu_consumer);
	pthread_barrier_wait(&st->start);
	consume_spin_take(st);
	return NULL;
}

static void *consumer_busy_main(void *arg)
{
	struct stress *st = arg;

	pin(st, st->cpu_consumer);
	pthread_barrier_wait(&st->start);
	consume_spin_busy(st);
	return NULL;
}

static void *producer_main(void *arg)
{
	struct producer *pr = arg;
	struct stress *st = pr->st;
	uint32_t i;

	pin(st, st->cpu_producers);
	pthread_barrier_wait(&st->start);
	for (i = 0; i < st->per; i++) {
		item *it = st->intrusive ? &st->items[pr->id][i] :
			new_item(st);

		if (it == NULL) {
			pr->err = ENOMEM;
			break;
		}
		it->producer = pr->id;
		it->seq = i;
		smarm__mpscq_push(&st->q, &it->link);
		smarm__atomic_store_release(&pr->pushed, i + 1);
	}
	return NULL;
}

/* With pinned set and two CPUs to use (natively): every producer on one
 * CPU, so that they preempt one another (in mid-push too, leaving the
 * consumer a gap in the chain for a whole time slice), and the consumer
 * alone on another. */
static void pick_cpus(struct stress *st)
{
	cpu_set_t set;
	int cpu, found = 0;

	if (RUNNING_ON_VALGRIND ||
	    sched_getaffinity(0, sizeof(set), &set) != 0)
		return;
	for (cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		if (found++ == 0)
			st->cpu_consumer = cpu;
		else
			st->cpu_producers = cpu;
	}
	st->pinned = found == 2;
}

static void stress(int intrusive, unsigned nprod, enum consumer how,
		   int pinned)
{
	uint32_t total = RUNNING_ON_VALGRIND ? STRESS_PUSHES_VALGRIND :
		STRESS_PUSHES;
	struct stress *st = calloc(1, sizeof(*st));
	struct producer *pr = aligned_alloc(64, nprod * sizeof(*pr));
	pthread_t consumer;
	unsigned i;

	ck_assert_ptr_nonnull(st);
	ck_assert_ptr_nonnull(pr);
	memset(pr, 0, nprod * sizeof(*pr));
	st->prods = pr;
	st->intrusive = intrusive;
	st->how = how;
	st->nprod = nprod;
	st->per = total / nprod;
	if (pinned)
		pick_cpus(st);
	st->next_seq = calloc(nprod, sizeof(*st->next_seq));
	ck_assert_ptr_nonnull(st->next_seq);
	if (intrusive) {
		smarm__mpscq_init(&st->q, &st->stub);
		st->items = calloc(nprod, sizeof(*st->items));
		ck_assert_ptr_nonnull(st->items);
		for (i = 0; i < nprod; i++) {
			st->items[i] = calloc(st->per, sizeof(item));
			ck_assert_ptr_nonnull(st->items[i]);
		}
	} else {
		item *stub = malloc(sizeof(*stub));

		ck_assert_ptr_nonnull(stub);
		smarm__mpscq_init(&st->q, &stub->link);
	}
	smarm__atomic_store_relaxed(&st->done, 0);
	smarm__atomic_store_relaxed(&st->spare, 0);
	ck_assert_int_eq(pthread_barrier_init(&st->start, NULL,
					      nprod + (how != AT_END)), 0);

	if (how != AT_END)
		ck_assert_int_eq(pthread_create(&consumer, NULL,
			how == SPIN_TAKE ? consumer_main : consumer_busy_main,
			st), 0);
	for (i = 0; i < nprod; i++) {
		smarm__atomic_store_relaxed(&pr[i].pushed, 0);
		pr[i].st = st;
		pr[i].id = i;
		ck_assert_int_eq(pthread_create(&pr[i].th, NULL,
						producer_main, &pr[i]), 0);
	}
	for (i = 0; i < nprod; i++) {
		ck_assert_int_eq(pthread_join(pr[i].th, NULL), 0);
		ck_assert_int_eq(pr[i].err, 0);
	}
	smarm__atomic_store_release(&st->done, 1);
	if (how == AT_END)
		consume_spin_busy(st);
	else
		ck_assert_int_eq(pthread_join(consumer, NULL), 0);

	ck_assert_msg(st->err[0] == '\0', "%s", st->err);
	ck_assert_uint_eq(st->received, (uint64_t)st->per * nprod);
	for (i = 0; i < nprod; i++)
		ck_assert_uint_eq(st->next_seq[i], st->per);
	ck_assert(!q_busy(st));
	ck_assert_int_eq(take_one(st), 0);
	ck_assert_ptr_eq(head_of(&st->q), st->q.tail);
	if (intrusive) {
		ck_assert_ptr_eq(st->q.tail, &st->stub);
		for (i = 0; i < nprod; i++)
			free(st->items[i]);
		free(st->items);
	} else {
		free(item_of(st->q.tail));
		free((void *)smarm__atomic_load_relaxed(&st->spare));
	}
	pthread_barrier_destroy(&st->start);
	free(st->next_seq);
	free(pr);
	free(st);
}

START_TEST(test_pop_4_spin_busy)
{
	stress(1, 4, SPIN_BUSY, 0);
}
END_TEST

START_TEST(test_pop_16_spin_busy)
{
	stress(1, 16, SPIN_BUSY, 1);
}
END_TEST

START_TEST(test_pop_4_spin_maybe)
{
	stress(1, 4, SPIN_MAYBE, 0);
}
END_TEST

START_TEST(test_pop_16_spin_maybe)
{
	stress(1, 16, SPIN_MAYBE, 1);
}
END_TEST

START_TEST(test_pop_4_spin_take)
{
	stress(1, 4, SPIN_TAKE, 0);
}
END_TEST

START_TEST(test_pop_16_spin_take)
{
	stress(1, 16, SPIN_TAKE, 1);
}
END_TEST

START_TEST(test_pop_4_at_end)
{
	stress(1, 4, AT_END, 0);
}
END_TEST

START_TEST(test_pop_16_at_end)
{
	stress(1, 16, AT_END, 1);
}
END_TEST

START_TEST(test_next_4_spin_busy)
{
	stress(0, 4, SPIN_BUSY, 0);
}
END_TEST

START_TEST(test_next_16_spin_busy)
{
	stress(0, 16, SPIN_BUSY, 1);
}
END_TEST

START_TEST(test_next_4_spin_take)
{
	stress(0, 4, SPIN_TAKE, 0);
}
END_TEST

START_TEST(test_next_16_spin_take)
{
	stress(0, 16, SPIN_TAKE, 1);
}
END_TEST

START_TEST(test_next_4_at_end)
{
	stress(0, 4, AT_END, 0);
}
END_TEST

START_TEST(test_next_16_at_end)
{
	stress(0, 16, AT_END, 1);
}
END_TEST

/* ---- the suite ------------------------------------------------------------- */

static Suite *mpscq_suite(void)
{
	Suite *s = suite_create("mpscq");
	TCase *tc;

	tc = tcase_add(s, "pop");
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_busy);
	tcase_add_test(tc, test_fifo);
	tcase_add_test(tc, test_push_chain);
	tcase_add_test(tc, test_stub_reuse);
	tcase_add_test(tc, test_interleaved);
	tcase_add_test(tc, test_mid_push);

	tc = tcase_add(s, "next");
	tcase_add_test(tc, test_next_advance);
	tcase_add_test(tc, test_next_advance_recycle);
	tcase_add_test(tc, test_next_mid_push);

	tc = tcase_add(s, "handshake");
	tcase_add_test(tc, test_push_then_look);
	tcase_add_test(tc, test_pop_last_vs_push);

	tc = tcase_add(s, "stress_pop");
	tcase_add_test(tc, test_pop_4_spin_busy);
	tcase_add_test(tc, test_pop_16_spin_busy);
	tcase_add_test(tc, test_pop_4_spin_maybe);
	tcase_add_test(tc, test_pop_16_spin_maybe);
	tcase_add_test(tc, test_pop_4_spin_take);
	tcase_add_test(tc, test_pop_16_spin_take);
	tcase_add_test(tc, test_pop_4_at_end);
	tcase_add_test(tc, test_pop_16_at_end);

	tc = tcase_add(s, "stress_next");
	tcase_add_test(tc, test_next_4_spin_busy);
	tcase_add_test(tc, test_next_16_spin_busy);
	tcase_add_test(tc, test_next_4_spin_take);
	tcase_add_test(tc, test_next_16_spin_take);
	tcase_add_test(tc, test_next_4_at_end);
	tcase_add_test(tc, test_next_16_at_end);

	return s;
}

int main(void)
{
	return run_suite(mpscq_suite());
}
