/*
 * check_pid.c - the (index, generation) slot table behind smarm_pid
 * (lib/pid.c, lib/pid.h): allocation, lookup, staleness after free and
 * reuse, growth over many chunks, generation wrap-around, the full table;
 * and the same guarantees seen through the public API.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#define TIMEOUT 120
#include "testutil.h"

#include "pid.h"
#include "idle.h"

#define MANY 100000u

/* ---- helpers ------------------------------------------------------------ */

static smarm_pid mkpid(uint32_t index_plus_1, uint32_t gen)
{
	smarm_pid p;

	p.id = ((uint64_t)gen << 32) | index_plus_1;
	return p;
}

static uint32_t pid_index(smarm_pid p)
{
	return (uint32_t)p.id;
}

static uint32_t pid_gen(smarm_pid p)
{
	return (uint32_t)(p.id >> 32);
}

/* Take a slot and make it live, in one (the table is used by this thread
 * only): NULL with *err set when the table is full or memory runs out. */
static smarm__slot *slot_alloc(smarm__pidtab *t, int *err)
{
	smarm__slot *s = smarm__slot_take(t, err);

	if (s)
		smarm__slot_init(s);
	return s;
}

/* The slot a pid names, or NULL when the pid is none, stale or out of
 * range (no lock: the table is used by this thread only, or its slots
 * are not changing). */
static smarm__slot *pid_lookup(const smarm__pidtab *t, smarm_pid pid)
{
	smarm__slot *s = smarm__pid_slot(t, pid);

	return s && smarm__pid_matches(s, pid) ? s : NULL;
}

/* The actor waiting to join a slot's actor, NULL for none. */
static void *joiner_of(const smarm__slot *s)
{
	return (void *)smarm__atomic_load_relaxed(&s->joiner);
}

static smarm__slot *alloc_ok(smarm__pidtab *t)
{
	int err = 0;
	smarm__slot *s = slot_alloc(t, &err);

	ck_assert_msg(s != NULL, "slot_alloc failed: %d", err);
	return s;
}

static void shuffle(smarm__slot **v, size_t n)
{
	size_t i;

	for (i = n; i > 1; i--) {
		size_t j = (size_t)(rng() % i);
		smarm__slot *x = v[i - 1];

		v[i - 1] = v[j];
		v[j] = x;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* ---- init and fini ----------------------------------------------------------- */

START_TEST(test_init_fini)
{
	smarm__pidtab t;

	memset(&t, 0xa5, sizeof(t));
	ck_assert_int_eq(smarm__pidtab_init(&t), 0);
	ck_assert_ptr_nonnull(t.dir);
	ck_assert_uint_eq(smarm__pidtab_nchunks(&t), 0);
	ck_assert_uint_eq(t.used, 0);
	ck_assert_uint_eq(t.free_head, 0);
	/* Nothing is found in an empty table. */
	ck_assert_ptr_null(pid_lookup(&t, mkpid(1, 1)));
	ck_assert_ptr_null(pid_lookup(&t, SMARM_PID_NONE));
	smarm__pidtab_fini(&t);
	ck_assert_ptr_null(t.dir);
	ck_assert_uint_eq(smarm__pidtab_nchunks(&t), 0);
	/* fini twice, and lookups after it, are harmless. */
	smarm__pidtab_fini(&t);
	ck_assert_ptr_null(pid_lookup(&t, mkpid(1, 1)));
}
END_TEST

/* ---- alloc, lookup, free -------------------------------------------------------- */

START_TEST(test_fresh_slot)
{
	smarm__pidtab t;
	smarm__slot *s;
	smarm_pid p;

	ck_assert_int_eq(smarm__pidtab_init(&t), 0);
	s = alloc_ok(&t);
	ck_assert_uint_eq(s->state, SMARM__SLOT_LIVE);
	ck_assert_uint_eq(s->flags, 0);
	ck_assert_ptr_null(joiner_of(s));
	ck_assert_uint_eq(t.used, 1);
	ck_assert_uint_eq(smarm__pidtab_nchunks(&t), 1);
	p = smarm__slot_pid(s);
	ck_assert(!smarm_pid_eq(p, SMARM_PID_NONE));
	ck_assert_uint_ne(pid_index(p), 0);
	ck_assert_uint_ne(pid_gen(p), 0);
	ck_assert_uint_eq(pid_index(p), s->index + 1);
	ck_assert_uint_eq(pid_gen(p), s->gen);
	ck_assert_ptr_eq(pid_lookup(&t, p), s);
	ck_assert_ptr_eq(smarm__slot_at(&t, s->index), s);
	/* An ended slot is still found (it waits for its joiner). */
	s->state = SMARM__SLOT_ENDED;
	ck_assert_ptr_eq(pid_lookup(&t, p), s);
	smarm__slot_free(&t, s);
	ck_assert_uint_eq(t.used, 0);
	smarm__pidtab_fini(&t);
}
END_TEST

START_TEST(test_stale_after_free)
{
	smarm__pidtab t;
	smarm__slot *s, *other, *again;
	smarm_pid old, keep, fresh;

	ck_assert_int_eq(smarm__pidtab_init(&t), 0);
	other = alloc_ok(&t);
	keep = smarm__slot_pid(other);
	s = alloc_ok(&t);
	old = smarm__slot_pid(s);
	s->flags = SMARM__SLOT_DETACHED | SMARM__SLOT_PANICKED;
	smarm__atomic_store_relaxed(&s->joiner, (AO_t)s);
	s->actor = (void *)s;
	s->result = (void *)s;

	smarm__slot_free(&t, s);
	ck_assert_uint_eq(s->state, SMARM__SLOT_FREE);
	ck_assert_ptr_null(s->actor);
	ck_assert_ptr_null(s->result);
	ck_assert_ptr_null(pid_lookup(&t, old));
	ck_assert_ptr_eq(pid_lookup(&t, keep), other);

	/* The freed slot comes back first, under another generation, with
	 * its flags and joiner cleared. */
	again = alloc_ok(&t);
	ck_assert_ptr_eq(again, s);
	ck_assert_uint_eq(again->flags, 0);
	ck_assert_ptr_null(joiner_of(again));
	fresh = smarm__slot_pid(again);
	ck_assert_uint_eq(pid_index(fresh), pid_index(old));
	ck_assert(!smarm_pid_eq(fresh, old));
	ck_assert_ptr_eq(pid_lookup(&t, fresh), again);
	/* The old pid stays stale although its slot is in use again. */
	ck_assert_ptr_null(pid_lookup(&t, old));
	again->state = SMARM__SLOT_ENDED;
	ck_assert_ptr_null(pid_lookup(&t, old));

	/* Many more reuses of the same slot: every old pid stays stale. */
	{
		smarm_pid hist[64];
		unsigned i, j;

		hist[0] = fresh;
		for (i = 1; i < 64; i++) {
			smarm__slot_free(&t, again);
			again = alloc_ok(&t);
			ck_assert_ptr_eq(again, s);
			hist[i] = smarm__slot_pid(again);
			for (j = 0; j < i; j++) {
				ck_assert(!smarm_pid_eq(hist[i], hist[j]));
				ck_assert_ptr_null(pid_lookup(&t, hist[j]));
			}
			ck_assert_ptr_eq(pid_lookup(&t, hist[i]), s);
		}
	}
	ck_assert_ptr_null(pid_lookup(&t, old));
	ck_assert_ptr_eq(pid_lookup(&t, keep), other);
	smarm__pidtab_fini(&t);
}
END_TEST

START_TEST(test_garbage_pids)
{
	smarm__pidtab t;
	smarm__slot *s;
	smarm_pid p;
	uint32_t cap;
	unsigned i;

	ck_assert_int_eq(smarm__pidtab_init(&t), 0);
	s = alloc_ok(&t);
	p = smarm__slot_pid(s);
	cap = smarm__pidtab_nchunks(&t) * SMARM__CHUNK_SLOTS;

	ck_assert_ptr_null(pid_lookup(&t, SMARM_PID_NONE));
	/* Index 0 (the "none" index) under any generation. */
	ck_assert_ptr_null(pid_lookup(&t, mkpid(0, s->gen)));
	ck_assert_ptr_null(pid_lookup(&t, mkpid(0, UINT32_MAX)));
	/* The right index under a wrong generation, including 0. */
	ck_assert_ptr_null(pid_lookup(&t, mkpid(pid_index(p), 0)));
	ck_assert_ptr_null(pid_lookup(&t, mkpid(pid_index(p), s->gen + 1)));
	ck_assert_ptr_null(pid_lookup(&t, mkpid(pid_index(p), UINT32_MAX)));
	/* A slot that exists but was never allocated. */
	ck_assert_ptr_null(pid_lookup(&t, mkpid(pid_index(p) + 1, 1)));
	ck_assert_ptr_null(pid_lookup(&t, mkpid(cap, 1)));
	/* Past the last chunk, and far past it. */
	ck_assert_ptr_null(pid_lookup(&t, mkpid(cap + 1, 1)));
	ck_assert_ptr_null(pid_lookup(&t, mkpid(cap + 1, s->gen)));
	ck_assert_ptr_null(pid_lookup(&t, mkpid(UINT32_MAX, 1)));
	ck_assert_ptr_null(pid_lookup(&t, mkpid(UINT32_MAX, UINT32_MAX)));
	ck_assert_ptr_null(pid_lookup(&t, mkpid(0x80000000u, 1)));
	/* Random garbage: never a crash, and never a slot other than s
	 * (only the one exact id can match it). */
	for (i = 0; i < 100000; i++) {
		smarm_pid g;
		smarm__slot *r;

		g.id = rng();
		if (i & 1)	/* keep some indexes in range */
			g.id = (g.id & ~(uint64_t)UINT32_MAX) |
			       (uint32_t)(rng() % (cap + 2));
		r = pid_lookup(&t, g);
		if (r != NULL && !smarm_pid_eq(g, p))
			ck_abort_msg("garbage id %#llx found a slot",
				     (unsigned long long)g.id);
	}
	ck_assert_ptr_eq(pid_lookup(&t, p), s);
	smarm__pidtab_fini(&t);
}
END_TEST

/* ---- many slots ------------------------------------------------------------------ */

START_TEST(test_many)
{
	smarm__pidtab t;
	smarm__slot **slots = malloc(MANY * sizeof(*slots));
	smarm_pid *pids = malloc(MANY * sizeof(*pids));
	uint64_t *ids = malloc(2 * MANY * sizeof(*ids));
	uint32_t chunks;
	unsigned i;

	ck_assert(slots && pids && ids);
	ck_assert_int_eq(smarm__pidtab_init(&t), 0);
	for (i = 0; i < MANY; i++) {
		slots[i] = alloc_ok(&t);
		pids[i] = smarm__slot_pid(slots[i]);
		ids[i] = pids[i].id;
	}
	/* 100,000 slots need several chunks. */
	chunks = (MANY + SMARM__CHUNK_SLOTS - 1) / SMARM__CHUNK_SLOTS;
	ck_assert_uint_eq(smarm__pidtab_nchunks(&t), chunks);
	ck_assert_uint_gt(smarm__pidtab_nchunks(&t), 4);
	ck_assert_uint_eq(t.used, MANY);
	for (i = 0; i < MANY; i++)
		if (pid_lookup(&t, pids[i]) != slots[i] ||
		    slots[i]->state != SMARM__SLOT_LIVE)
			ck_abort_msg("pid %u does not find its slot", i);
	qsort(ids, MANY, sizeof(*ids), cmp_u64);
	for (i = 1; i < MANY; i++)
		if (ids[i] == ids[i - 1])
			ck_abort_msg("two slots share the pid %#llx",
				     (unsigned long long)ids[i]);
	ck_assert_uint_ne(ids[0], 0);

	/* Free them in random order; each goes stale at once, the rest
	 * stay valid. */
	shuffle(slots, MANY);
	for (i = 0; i < MANY; i++) {
		smarm_pid p = smarm__slot_pid(slots[i]);

		smarm__slot_free(&t, slots[i]);
		if (pid_lookup(&t, p) != NULL)
			ck_abort_msg("freed pid %#llx still found",
				     (unsigned long long)p.id);
		if (i + 1 < MANY &&
		    pid_lookup(&t, smarm__slot_pid(slots[i + 1])) !=
			    slots[i + 1])
			ck_abort_msg("freeing one slot lost another");
	}
	ck_assert_uint_eq(t.used, 0);
	for (i = 0; i < MANY; i++)
		if (pid_lookup(&t, pids[i]) != NULL)
			ck_abort_msg("pid %u found after every slot was freed",
				     i);

	/* Allocate as many again: the table does not grow, the new pids
	 * are distinct from each other and from all the old ones. */
	for (i = 0; i < MANY; i++) {
		slots[i] = alloc_ok(&t);
		ids[MANY + i] = smarm__slot_pid(slots[i]).id;
	}
	ck_assert_uint_eq(smarm__pidtab_nchunks(&t), chunks);
	ck_assert_uint_eq(t.used, MANY);
	for (i = 0; i < MANY; i++) {
		smarm_pid p;

		p.id = ids[MANY + i];
		if (pid_lookup(&t, p) != slots[i])
			ck_abort_msg("new pid %u does not find its slot", i);
		if (pid_lookup(&t, pids[i]) != NULL)
			ck_abort_msg("old pid %u found again after reuse", i);
	}
	qsort(ids, 2 * MANY, sizeof(*ids), cmp_u64);
	for (i = 1; i < 2 * MANY; i++)
		if (ids[i] == ids[i - 1])
			ck_abort_msg("pid %#llx was given twice",
				     (unsigned long long)ids[i]);

	smarm__pidtab_fini(&t);
	free(slots);
	free(pids);
	free(ids);
}
END_TEST

/* ---- generations ------------------------------------------------------------------ */

START_TEST(test_gen_wrap)
{
	smarm__pidtab t;
	smarm__slot *s, *again;
	smarm_pid top, one;

	ck_assert_int_eq(smarm__pidtab_init(&t), 0);
	s = alloc_ok(&t);
	s->gen = UINT32_MAX;
	top = smarm__slot_pid(s);
	ck_assert_uint_eq(pid_gen(top), UINT32_MAX);
	ck_assert_ptr_eq(pid_lookup(&t, top), s);

	/* Freeing wraps the generation past 0, straight to 1. */
	smarm__slot_free(&t, s);
	ck_assert_uint_eq(s->gen, 1);
	ck_assert_ptr_null(pid_lookup(&t, top));
	again = alloc_ok(&t);
	ck_assert_ptr_eq(again, s);
	one = smarm__slot_pid(again);
	ck_assert_uint_eq(pid_gen(one), 1);
	ck_assert_uint_eq(pid_index(one), pid_index(top));
	ck_assert_ptr_eq(pid_lookup(&t, one), s);
	ck_assert_ptr_null(pid_lookup(&t, top));
	ck_assert_ptr_null(pid_lookup(&t, mkpid(pid_index(one), 0)));

	/* An ordinary free just moves the generation on by one. */
	smarm__slot_free(&t, again);
	ck_assert_uint_eq(s->gen, 2);
	ck_assert_ptr_null(pid_lookup(&t, one));
	smarm__pidtab_fini(&t);
}
END_TEST

/* ---- a full table ---------------------------------------------------------------- */

START_TEST(test_table_full)
{
	smarm__pidtab t;
	smarm__slot *s;
	int err = 0;

	ck_assert_int_eq(smarm__pidtab_init(&t), 0);
	/* Pretend every chunk is in use (their directory entries are NULL,
	 * which fini frees harmlessly) and no slot is free. */
	smarm__atomic_u32_store_relaxed(&t.nchunks, SMARM__MAX_CHUNKS);
	t.free_head = 0;
	ck_assert_int_eq(smarm__pidtab_grow(&t), EAGAIN);
	s = slot_alloc(&t, &err);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(err, EAGAIN);
	ck_assert_uint_eq(smarm__pidtab_nchunks(&t), SMARM__MAX_CHUNKS);
	ck_assert_uint_eq(t.used, 0);
	smarm__pidtab_fini(&t);
}
END_TEST

/* ---- the public side -------------------------------------------------------------- */

#define ROUNDS 100

static void *plus_one(void *arg)
{
	return (void *)((uintptr_t)arg + 1);
}

static void *stale_root(void *arg)
{
	smarm_pid old[ROUNDS];
	char name[8];
	unsigned i, j, reused = 0;
	void *res;

	(void)arg;
	for (i = 0; i < ROUNDS; i++) {
		res = NULL;
		ck_assert_int_eq(smarm_spawn(&old[i], plus_one,
					     (void *)(uintptr_t)i), 0);
		ck_assert(!smarm_pid_eq(old[i], SMARM_PID_NONE));
		ck_assert(!smarm_pid_eq(old[i], smarm_self()));
		for (j = 0; j < i; j++) {
			/* A new actor never has the pid of a joined one,
			 * even where it took over the joined one's slot. */
			ck_assert(!smarm_pid_eq(old[i], old[j]));
			if (pid_index(old[i]) == pid_index(old[j]))
				reused++;
		}
		ck_assert_int_eq(smarm_join(old[i], &res, SMARM_FOREVER), 0);
		ck_assert_ptr_eq(res, (void *)(uintptr_t)(i + 1));
		/* Joined: its pid is stale. */
		ck_assert_int_eq(smarm_join(old[i], &res, SMARM_FOREVER),
				 ESRCH);
		ck_assert_int_eq(smarm_join(old[i], NULL, 0), ESRCH);
		ck_assert_int_eq(smarm_detach(old[i]), ESRCH);
		ck_assert_int_eq(smarm_name(old[i], name, sizeof(name)),
				 ESRCH);
		ck_assert_ptr_null(pid_lookup(&smarm__runtime_self()->pids,
					      old[i]));
	}
	/* The slots were reused, so the checks above did test stale pids
	 * meeting live slots. */
	ck_assert_uint_gt(reused, 0);

	/* A live actor in a reused slot: still found, old pids still not. */
	{
		smarm_pid live;

		ck_assert_int_eq(smarm_spawn(&live, plus_one, (void *)41), 0);
		for (j = 0; j < ROUNDS; j++) {
			ck_assert(!smarm_pid_eq(live, old[j]));
			ck_assert_int_eq(smarm_join(old[j], NULL, 0), ESRCH);
		}
		ck_assert_int_eq(smarm_name(live, name, sizeof(name)), 0);
		ck_assert_int_eq(smarm_join(live, &res, SMARM_FOREVER), 0);
		ck_assert_ptr_eq(res, (void *)42);
		ck_assert_int_eq(smarm_join(live, &res, 0), ESRCH);
	}
	return (void *)7;
}

START_TEST(test_public_stale)
{
	void *res = NULL;

	ck_assert_int_eq(smarm_run(stale_root, NULL, &res), 0);
	ck_assert_ptr_eq(res, (void *)7);
	/* the same on the defaults (SMARM_THREADS workers) */
	res = NULL;
	ck_assert_int_eq(run_default(stale_root, NULL, &res), 0);
	ck_assert_ptr_eq(res, (void *)7);
}
END_TEST

/* A pid from one run means nothing in the next run of the same runtime. */
static smarm_pid first_run_pid;

static void *remember_root(void *arg)
{
	smarm_pid p;

	ck_assert_int_eq(smarm_spawn(&p, plus_one, arg), 0);
	ck_assert_int_eq(smarm_join(p, NULL, SMARM_FOREVER), 0);
	first_run_pid = p;
	return NULL;
}

static void *check_old_root(void *arg)
{
	smarm_pid p;

	(void)arg;
	ck_assert_int_eq(smarm_join(first_run_pid, NULL, 0), ESRCH);
	ck_assert_int_eq(smarm_spawn(&p, plus_one, NULL), 0);
	ck_assert(!smarm_pid_eq(p, first_run_pid));
	ck_assert_int_eq(smarm_join(first_run_pid, NULL, 0), ESRCH);
	ck_assert_int_eq(smarm_join(p, NULL, SMARM_FOREVER), 0);
	return NULL;
}

START_TEST(test_public_across_runs)
{
	smarm_runtime *rt = NULL;

	ck_assert_int_eq(smarm_runtime_new(&rt, NULL), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, remember_root, NULL, NULL), 0);
	ck_assert(!smarm_pid_eq(first_run_pid, SMARM_PID_NONE));
	ck_assert_int_eq(smarm_runtime_run(rt, check_old_root, NULL, NULL),
			 0);
	smarm_runtime_free(rt);
}
END_TEST

/* ---- the suite ---------------------------------------------------------------- */

static Suite *pid_suite(void)
{
	Suite *s = suite_create("pid");
	TCase *tc;

	tc = tcase_add(s, "table");
	tcase_add_test(tc, test_init_fini);
	tcase_add_test(tc, test_table_full);

	tc = tcase_add(s, "lookup");
	tcase_add_test(tc, test_fresh_slot);
	tcase_add_test(tc, test_stale_after_free);
	tcase_add_test(tc, test_garbage_pids);

	tc = tcase_add(s, "many");
	tcase_add_test(tc, test_many);

	tc = tcase_add(s, "generation");
	tcase_add_test(tc, test_gen_wrap);

	tc = tcase_add(s, "public");
	tcase_add_test(tc, test_public_stale);
	tcase_add_test(tc, test_public_across_runs);

	return s;
}

int main(void)
{
	return run_suite(pid_suite());
}
