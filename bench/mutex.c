/*
 * mutex.c - cost of one lock of a smarm_mutex that many actors share.
 *
 * The root spawns 100 actors; each takes one shared mutex N times,
 * increments a counter they all share while it holds it, unlocks it and
 * yields (smarm_yield), so that the others get their turn between two of
 * its locks.  The root joins them all; the time from before the first
 * spawn to after the last join, over the 100 * N locks, is the figure.
 * On one worker a lock mostly finds the mutex free (whoever held it
 * unlocked before it yielded); on more, actors running at once meet it
 * taken, queue, and are handed it by the unlock, first come first served.
 *
 * smarm_mutex_lock needs a finite timeout: each lock waits at most
 * LOCK_TIMEOUT, 60 s (the whole run takes well under one); running out
 * of it is a failure, as is any other error (printed with its number:
 * smarm_strerror may not know it).
 *
 * Usage: mutex [-t threads] [locks-per-actor]   (default 10,000)
 *   -t sets the number of worker threads; by default smarm_config_init()
 *   picks it (SMARM_THREADS from the environment, see smarm_config_init(3)).
 * Prints: bench=mutex threads=<n> value=<ns per lock> unit=ns/lock
 * Exits 1 when the run fails its own checks: the counter must be
 * 100 * N, and each actor must have locked N times.
 */
#include <smarm.h>

#include "benchutil.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#define ACTORS 100
#define DEFAULT_LOCKS 10000ul
#define LOCK_TIMEOUT (60ull * 1000000000ull)

struct bench {
	uint64_t n;               /* locks per actor */
	smarm_mutex m;
	uint64_t counter;         /* under m */
	uint64_t done[ACTORS];    /* each actor's own count */
	uint64_t t0, t1;
};

struct worker_arg {
	struct bench *b;
	unsigned k;
};

/* Only the root writes t0 and t1; each actor writes its own done[k];
 * counter is written under the mutex only.  main() reads them after
 * smarm_runtime_run() has returned. */

static void *locker(void *arg)
{
	struct worker_arg *wa = arg;
	struct bench *b = wa->b;
	uint64_t i;
	int err;

	for (i = 0; i < b->n; i++) {
		err = smarm_mutex_lock(&b->m, LOCK_TIMEOUT);
		if (err)
			smarm_panic("actor %u: lock %" PRIu64 ": %s (%d)",
				    wa->k, i, smarm_strerror(err), err);
		b->counter++;
		err = smarm_mutex_unlock(&b->m);
		if (err)
			smarm_panic("actor %u: unlock %" PRIu64 ": %s (%d)",
				    wa->k, i, smarm_strerror(err), err);
		smarm_yield();
	}
	b->done[wa->k] = i;
	return NULL;
}

static void *root(void *arg)
{
	struct bench *b = arg;
	static struct worker_arg wa[ACTORS];
	smarm_pid pid[ACTORS];
	unsigned k, spawned;
	int err = 0;

	b->t0 = smarm_now();
	for (spawned = 0; spawned < ACTORS; spawned++) {
		wa[spawned].b = b;
		wa[spawned].k = spawned;
		err = smarm_spawn(&pid[spawned], locker, &wa[spawned]);
		if (err)
			break;
	}
	for (k = 0; k < spawned; k++) {
		void *res = NULL;
		int e = smarm_join(pid[k], &res, SMARM_FOREVER);

		if (e == SMARM_EPANIC)
			smarm_panic("%s", res ? (char *)res : "(no reason)");
		if (e)
			smarm_panic("join actor %u: %s", k, smarm_strerror(e));
	}
	b->t1 = smarm_now();
	if (err)
		smarm_panic("spawn actor %u: %s", spawned, smarm_strerror(err));
	return NULL;
}

int main(int argc, char **argv)
{
	static struct bench b;
	uint64_t n = DEFAULT_LOCKS;
	smarm_config cfg;
	unsigned k;
	int err;

	if (bench_args(argc, argv, "locks-per-actor", UINT32_MAX, &n, &cfg))
		return 2;
	b.n = n;
	err = smarm_mutex_init(&b.m);
	if (err) {
		fprintf(stderr, "mutex: smarm_mutex_init: %s\n",
			smarm_strerror(err));
		return 1;
	}
	if (bench_run("mutex", &cfg, root, &b))
		return 1;
	for (k = 0; k < ACTORS; k++) {
		if (b.done[k] != b.n) {
			fprintf(stderr, "mutex: actor %u locked %" PRIu64
				" times; expected %" PRIu64 "\n", k, b.done[k],
				b.n);
			return 1;
		}
	}
	if (b.counter != (uint64_t)ACTORS * b.n || b.t1 < b.t0) {
		fprintf(stderr, "mutex: the counter is %" PRIu64
			"; expected %" PRIu64 "\n", b.counter,
			(uint64_t)ACTORS * b.n);
		return 1;
	}
	err = smarm_mutex_destroy(&b.m);
	if (err) {
		fprintf(stderr, "mutex: smarm_mutex_destroy: %s\n",
			smarm_strerror(err));
		return 1;
	}
	printf("bench=mutex threads=%u value=%.2f unit=ns/lock\n",
	       cfg.threads, (double)(b.t1 - b.t0) /
	       ((double)ACTORS * (double)b.n));
	return 0;
}
