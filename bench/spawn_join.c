/*
 * spawn_join.c - cost of spawning a trivial actor and joining it.
 *
 * The root spawns COUNT actors, keeps their pids, then joins them all and
 * checks every result.  All COUNT actors exist at once, so this also
 * measures the pid table and stack allocator at that population, not just
 * one stack bouncing in and out of the cache.
 *
 * Every round is timed, the first included: it maps fresh stacks and
 * takes their first-touch page faults, as a program that spawns this many
 * actors once does; the later rounds find the runtime's stack cache warm.
 *
 * Usage: spawn_join [count [rounds]]   (default 100,000 actors, 5 rounds,
 * at most 64)
 * Prints the median round and the first:
 *   bench=spawn_join threads=1 value=<median ns per actor>
 *     first=<ns per actor in the first round> unit=ns/actor
 * Exits 1 when the run fails its own checks.
 */
#include <smarm.h>

#include "benchutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct bench {
	unsigned long count;	/* actors per round */
	unsigned long rounds;	/* timed rounds, the first included */
	smarm_pid *pids;
	struct bench_rounds t;	/* ns of each round */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *trivial(void *arg)
{
	return (void *)((uintptr_t)arg + 1);
}

/* One round: spawn every actor, then join them all.  Returns elapsed ns. */
static uint64_t one_round(struct bench *b)
{
	uint64_t t0 = now_ns();
	unsigned long i;
	void *res;
	int err;

	for (i = 0; i < b->count; i++) {
		err = smarm_spawn(&b->pids[i], trivial, (void *)(uintptr_t)i);
		if (err)
			smarm_panic("spawn #%lu: %s", i, smarm_strerror(err));
	}
	for (i = 0; i < b->count; i++) {
		err = smarm_join(b->pids[i], &res, SMARM_FOREVER);
		if (err)
			smarm_panic("join #%lu: %s", i, smarm_strerror(err));
		if ((uintptr_t)res != i + 1)
			smarm_panic("actor #%lu returned %lu", i,
				    (unsigned long)(uintptr_t)res);
	}
	return now_ns() - t0;
}

static void *root(void *arg)
{
	struct bench *b = arg;
	unsigned long r;

	for (r = 0; r < b->rounds; r++)
		bench_round(&b->t, one_round(b));
	return NULL;
}

static int parse(const char *s, unsigned long *out)
{
	char *end;

	*out = strtoul(s, &end, 10);
	return !*end && *out > 0;
}

int main(int argc, char **argv)
{
	struct bench b = { .count = 100000, .rounds = 5 };
	void *reason;
	int err;

	if ((argc > 1 && !parse(argv[1], &b.count)) ||
	    (argc > 2 && !parse(argv[2], &b.rounds)) ||
	    b.rounds > BENCH_MAX_ROUNDS) {
		fprintf(stderr, "usage: %s [count [rounds]]\n", argv[0]);
		return 2;
	}
	b.pids = calloc(b.count, sizeof(*b.pids));
	if (!b.pids) {
		fprintf(stderr, "spawn_join: out of memory\n");
		return 1;
	}

	err = smarm_run(root, &b, &reason);
	free(b.pids);
	if (err == SMARM_EPANIC) {
		fprintf(stderr, "spawn_join: %s\n", (char *)reason);
		free(reason);
		return 1;
	} else if (err) {
		fprintf(stderr, "spawn_join: smarm_run: %s\n",
			smarm_strerror(err));
		return 1;
	}

	printf("bench=spawn_join threads=1 value=%.2f first=%.2f "
	       "unit=ns/actor\n", bench_median(&b.t) / (double)b.count,
	       (double)b.t.t[0] / (double)b.count);
	return 0;
}
