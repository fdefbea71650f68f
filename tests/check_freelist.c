/*
 * check_freelist.c - the free lists of lib/freelist.h on plain threads:
 *
 *  - list:     push and pop are last in, first out, and count.
 *  - cut:      smarm__flist_cut keeps the first objects and hands back
 *              the rest, in order; nothing to cut gives NULL.
 *  - pool:     spill moves the excess to the pool, refill takes at most
 *              what is asked (or what there is), take_all empties it;
 *              every object is in exactly one place at all times.
 *  - threads:  4 threads each allocate, free, spill and refill through
 *              one pool 100,000 times: at the end every object is in a
 *              list or the pool exactly once.
 *
 * freelist.h is header-only: this suite links Check and nothing of lib/.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#include "testutil.h"

#include "freelist.h"

#define NOBJ 1000
#define NTHREADS 4
#define NROUNDS 100000

struct obj {
	int id;
	smarm__flink link;
};

static struct obj *obj_of(smarm__flink *x)
{
	return (struct obj *)((char *)x - offsetof(struct obj, link));
}

/* Count the objects of a chain, marking each in seen[] (which must not
 * have it yet). */
static size_t mark(smarm__flink *x, unsigned char *seen)
{
	size_t n = 0;

	for (; x != NULL; x = x->next, n++) {
		int id = obj_of(x)->id;

		ck_assert_int_ge(id, 0);
		ck_assert_int_lt(id, NOBJ);
		if (seen[id])
			ck_abort_msg("object %d is in two places", id);
		seen[id] = 1;
	}
	return n;
}

static struct obj objs[NOBJ];

START_TEST(test_list)
{
	smarm__flist l = { NULL, 0 };
	int i;

	ck_assert_ptr_null(smarm__flist_pop(&l));
	for (i = 0; i < 10; i++) {
		objs[i].id = i;
		smarm__flist_push(&l, &objs[i].link);
		ck_assert_uint_eq(l.n, (unsigned)i + 1);
	}
	for (i = 9; i >= 0; i--)
		ck_assert_int_eq(obj_of(smarm__flist_pop(&l))->id, i);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_ptr_null(smarm__flist_pop(&l));
}
END_TEST

START_TEST(test_cut)
{
	smarm__flist l = { NULL, 0 };
	smarm__flink *rest;
	int i;

	for (i = 0; i < 10; i++) {
		objs[i].id = i;
		smarm__flist_push(&l, &objs[i].link);
	}
	ck_assert_ptr_null(smarm__flist_cut(&l, 10));
	ck_assert_ptr_null(smarm__flist_cut(&l, 11));
	ck_assert_uint_eq(l.n, 10);
	rest = smarm__flist_cut(&l, 3);
	ck_assert_uint_eq(l.n, 3);
	/* Kept: 9, 8, 7; cut: 6 down to 0, in order. */
	for (i = 6; i >= 0; i--, rest = rest->next)
		ck_assert_int_eq(obj_of(rest)->id, i);
	ck_assert_ptr_null(rest);
	for (i = 9; i >= 7; i--)
		ck_assert_int_eq(obj_of(smarm__flist_pop(&l))->id, i);
	ck_assert_ptr_null(smarm__flist_pop(&l));
	/* Cutting everything. */
	smarm__flist_push(&l, &objs[0].link);
	ck_assert_ptr_eq(smarm__flist_cut(&l, 0), &objs[0].link);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_ptr_null(l.head);
}
END_TEST

START_TEST(test_pool)
{
	static unsigned char seen[NOBJ];
	smarm__fpool p;
	smarm__flist a = { NULL, 0 }, b = { NULL, 0 };
	int i;

	memset(&p, 0, sizeof(p));
	smarm__lock_init(&p.lock);
	ck_assert_uint_eq(smarm__flist_refill(&p, &a, 5), 0);
	for (i = 0; i < 100; i++) {
		objs[i].id = i;
		smarm__flist_push(&a, &objs[i].link);
	}
	smarm__flist_spill(&p, &a, 30);
	ck_assert_uint_eq(a.n, 30);
	ck_assert_uint_eq(p.n, 70);
	/* Nothing over the bound: nothing moves. */
	smarm__flist_spill(&p, &a, 30);
	smarm__flist_spill(&p, &a, 40);
	ck_assert_uint_eq(a.n, 30);
	ck_assert_uint_eq(p.n, 70);
	ck_assert_uint_eq(smarm__flist_refill(&p, &b, 25), 25);
	ck_assert_uint_eq(b.n, 25);
	ck_assert_uint_eq(p.n, 45);
	ck_assert_uint_eq(smarm__flist_refill(&p, &b, 100), 45);
	ck_assert_uint_eq(b.n, 70);
	ck_assert_uint_eq(p.n, 0);
	ck_assert_ptr_null(smarm__fpool_head(&p));
	memset(seen, 0, sizeof(seen));
	ck_assert_uint_eq(mark(a.head, seen), 30);
	ck_assert_uint_eq(mark(b.head, seen), 70);
	/* take_all */
	smarm__flist_spill(&p, &b, 0);
	ck_assert_uint_eq(b.n, 0);
	ck_assert_uint_eq(p.n, 70);
	memset(seen, 0, sizeof(seen));
	ck_assert_uint_eq(mark(smarm__fpool_take_all(&p), seen), 70);
	ck_assert_uint_eq(p.n, 0);
	ck_assert_ptr_null(smarm__fpool_take_all(&p));
}
END_TEST

static smarm__fpool shared;

struct worker {
	pthread_t t;
	smarm__flist own;
	unsigned seed;
};

static void *churn(void *arg)
{
	struct worker *w = arg;
	smarm__flist held = { NULL, 0 };	/* "live" objects */
	smarm__flink *x;
	int i;

	for (i = 0; i < NROUNDS; i++) {
		w->seed = w->seed * 1103515245u + 12345u;
		if ((w->seed >> 16) & 1) {
			/* allocate: own list, else the pool */
			x = smarm__flist_pop(&w->own);
			if (x == NULL &&
			    smarm__flist_refill(&shared, &w->own, 8) != 0)
				x = smarm__flist_pop(&w->own);
			if (x != NULL)
				smarm__flist_push(&held, x);
		} else if ((x = smarm__flist_pop(&held)) != NULL) {
			/* free: own list, spilling past 16 */
			smarm__flist_push(&w->own, x);
			if (w->own.n > 16)
				smarm__flist_spill(&shared, &w->own, 8);
		}
	}
	while ((x = smarm__flist_pop(&held)) != NULL)
		smarm__flist_push(&w->own, x);
	return NULL;
}

START_TEST(test_threads)
{
	static unsigned char seen[NOBJ];
	struct worker w[NTHREADS];
	size_t total = 0;
	int i;

	memset(&shared, 0, sizeof(shared));
	smarm__lock_init(&shared.lock);
	memset(w, 0, sizeof(w));
	for (i = 0; i < NOBJ; i++) {
		objs[i].id = i;
		smarm__flist_push(&w[i % NTHREADS].own, &objs[i].link);
	}
	for (i = 0; i < NTHREADS; i++) {
		w[i].seed = (unsigned)i * 7919u + 1;
		ck_assert_int_eq(pthread_create(&w[i].t, NULL, churn, &w[i]),
				 0);
	}
	for (i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_join(w[i].t, NULL), 0);
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < NTHREADS; i++) {
		size_t n = mark(w[i].own.head, seen);

		ck_assert_uint_eq(n, w[i].own.n);
		total += n;
	}
	ck_assert_uint_eq(mark(smarm__fpool_head(&shared), seen), shared.n);
	total += shared.n;
	ck_assert_uint_eq(total, NOBJ);
}
END_TEST

static Suite *freelist_suite(void)
{
	Suite *s = suite_create("freelist");
	TCase *tc;

	tc = tcase_add(s, "list");
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_cut);

	tc = tcase_add(s, "pool");
	tcase_add_test(tc, test_pool);
	tcase_add_test(tc, test_threads);

	return s;
}

int main(void)
{
	return run_suite(freelist_suite());
}
