/*
 * scale.c - many actors at once, and many one after the other
 * (`make check-scale`, tests/check-scale.sh; not part of `make check`).
 *
 *   scale parked THREADS COUNT [WAVE]
 *	The root spawns COUNT actors, WAVE at a time (default 4096), each
 *	with a channel of its own; each says it runs, then parks in
 *	smarm_recv.  The root waits for each wave to say so before it
 *	spawns the next, so that a spawn that cannot have a stack fails
 *	with ENOMEM instead of an actor at its first run.  Once all are
 *	parked (or a spawn failed) it reads the resident set, closes every
 *	channel (each receive fails with EPIPE and its actor ends) and
 *	joins every actor.  The guard mode comes from SMARM_STACK_GUARD.
 *	Prints: scale=parked threads=T guard=G count=N spawned=S
 *		bytes_per_actor=B seconds=W [error=E]
 *
 *   scale waves THREADS COUNT [WAVE]
 *	The root spawns COUNT short actors, WAVE at a time (default
 *	100,000), and joins each wave before it spawns the next; each
 *	actor returns its argument, which its join checks.
 *	Prints: scale=waves threads=T count=N wave=W seconds=S
 *
 * Exits 1 when a check fails: an actor that did not end, ended in
 * another way or was not joined, or (parked) a spawn that failed with
 * anything but ENOMEM or EAGAIN.  A spawn's ENOMEM or EAGAIN ends the
 * spawning early and is reported (error=...), not a failure: the script
 * decides whether that limit was expected.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#include <smarm.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../bench/benchutil.h"

struct parked {
	smarm_rx *rx;		/* its own channel */
	smarm_tx *ready;	/* "parking now", to the root */
};

struct run {
	unsigned long n, wave;
	unsigned long spawned;	/* actors spawned */
	unsigned long ended;	/* actors that ended as they should */
	int spawn_err;		/* what stopped the spawning, or 0 */
	uint64_t rss0, rss1;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *parked(void *arg)
{
	struct parked *p = arg;
	unsigned char one = 1;
	uint64_t v;
	int err;

	err = smarm_send(p->ready, &one);
	smarm_tx_close(p->ready);
	if (err) {
		smarm_rx_close(p->rx);
		smarm_panic("ready: %s", smarm_strerror(err));
	}
	err = smarm_recv(p->rx, &v, SMARM_FOREVER);
	smarm_rx_close(p->rx);
	return (void *)(uintptr_t)(err == EPIPE);
}

/* Spawn actor i: 0 or the spawn's error (its handles closed then). */
static int spawn_parked(struct parked *p, smarm_tx **tx, smarm_pid *pid,
			smarm_tx *ready_tx)
{
	int err = smarm_channel(tx, &p->rx, sizeof(uint64_t));

	if (err)
		return err;
	p->ready = smarm_tx_clone(ready_tx);
	err = smarm_spawn(pid, parked, p);
	if (err) {
		smarm_tx_close(p->ready);
		smarm_tx_close(*tx);
		smarm_rx_close(p->rx);
	}
	return err;
}

/* Spawn the actors a wave at a time, each wave parked before the next. */
static void spawn_all(struct run *r, struct parked *p, smarm_tx **tx,
		      smarm_pid *pid)
{
	smarm_tx *ready_tx;
	smarm_rx *ready_rx;
	unsigned long i = 0, w;
	unsigned char one;
	int err;

	err = smarm_channel(&ready_tx, &ready_rx, sizeof(one));
	if (err)
		smarm_panic("smarm_channel: %s", smarm_strerror(err));
	while (i < r->n && r->spawn_err == 0) {
		for (w = 0; w < r->wave && i < r->n; w++, i++) {
			r->spawn_err = spawn_parked(&p[i], &tx[i], &pid[i],
						    ready_tx);
			if (r->spawn_err)
				break;
		}
		while (w-- > 0) {
			err = smarm_recv(ready_rx, &one, SMARM_FOREVER);
			if (err)
				smarm_panic("ready: %s", smarm_strerror(err));
		}
	}
	r->spawned = i;
	smarm_tx_close(ready_tx);
	smarm_rx_close(ready_rx);
}

static void *root_parked(void *arg)
{
	struct run *r = arg;
	struct parked *p = malloc(r->n * sizeof(*p));
	smarm_pid *pid = malloc(r->n * sizeof(*pid));
	smarm_tx **tx = malloc(r->n * sizeof(*tx));
	unsigned long i;
	void *res;
	int err;

	if (!p || !pid || !tx)
		smarm_panic("out of memory for %lu actors", r->n);
	r->rss0 = bench_rss();
	spawn_all(r, p, tx, pid);
	r->rss1 = bench_rss();
	for (i = 0; i < r->spawned; i++)
		smarm_tx_close(tx[i]);
	for (i = 0; i < r->spawned; i++) {
		err = smarm_join(pid[i], &res, SMARM_FOREVER);
		if (err)
			smarm_panic("join actor %lu: %s", i, smarm_strerror(err));
		r->ended += (uintptr_t)res;
	}
	free(p);
	free(pid);
	free(tx);
	return NULL;
}

static void *echo(void *arg)
{
	return arg;
}

static void *root_waves(void *arg)
{
	struct run *r = arg;
	smarm_pid *pid = malloc(r->wave * sizeof(*pid));
	unsigned long i = 0, w, k;
	void *res;
	int err;

	if (!pid)
		smarm_panic("out of memory for a wave of %lu", r->wave);
	while (i < r->n) {
		for (w = 0; w < r->wave && i + w < r->n; w++) {
			err = smarm_spawn(&pid[w], echo, (void *)(uintptr_t)(i + w));
			if (err)
				smarm_panic("spawn %lu: %s", i + w,
					    smarm_strerror(err));
		}
		for (k = 0; k < w; k++) {
			err = smarm_join(pid[k], &res, SMARM_FOREVER);
			if (err || (uintptr_t)res != i + k)
				smarm_panic("join %lu: %s", i + k,
					    smarm_strerror(err));
			r->ended++;
		}
		r->spawned += w;
		i += w;
	}
	free(pid);
	return NULL;
}

static int run_root(smarm_fn fn, struct run *r, unsigned threads)
{
	smarm_config cfg;
	smarm_runtime *rt;
	void *reason = NULL;
	int err;

	smarm_config_init(&cfg);
	cfg.threads = threads;
	err = smarm_runtime_new(&rt, &cfg);
	if (err) {
		fprintf(stderr, "scale: smarm_runtime_new: %s\n",
			smarm_strerror(err));
		return 1;
	}
	err = smarm_runtime_run(rt, fn, r, &reason);
	smarm_runtime_free(rt);
	if (err == SMARM_EPANIC) {
		fprintf(stderr, "scale: %s\n", reason ? (char *)reason : "panic");
		free(reason);
		return 1;
	}
	if (err) {
		fprintf(stderr, "scale: smarm_runtime_run: %s\n",
			smarm_strerror(err));
		return 1;
	}
	return 0;
}

static int usage(const char *prog)
{
	fprintf(stderr, "usage: %s parked|waves THREADS COUNT [WAVE]\n", prog);
	return 2;
}

int main(int argc, char **argv)
{
	static struct run r;
	uint64_t threads, n, wave;
	const char *guard = getenv("SMARM_STACK_GUARD");
	int parked_mode;
	double t0;

	if (argc < 4 || argc > 5)
		return usage(argv[0]);
	parked_mode = strcmp(argv[1], "parked") == 0;
	wave = parked_mode ? 4096 : 100000;
	if ((!parked_mode && strcmp(argv[1], "waves") != 0) ||
	    bench_num(argv[2], 1, SMARM_THREADS_MAX, &threads) ||
	    bench_num(argv[3], 1, 1000000000, &n) ||
	    (argc == 5 && bench_num(argv[4], 1, 10000000, &wave)))
		return usage(argv[0]);
	r.n = (unsigned long)n;
	r.wave = (unsigned long)wave;
	t0 = now_s();
	if (run_root(parked_mode ? root_parked : root_waves, &r,
		     (unsigned)threads))
		return 1;
	if (r.ended != r.spawned ||
	    (r.spawned < r.n && r.spawn_err != ENOMEM &&
	     r.spawn_err != EAGAIN)) {
		fprintf(stderr, "scale: %lu of %lu spawned, %lu ended and "
			"joined (%s)\n", r.spawned, r.n, r.ended,
			r.spawn_err ? smarm_strerror(r.spawn_err) : "no error");
		return 1;
	}
	if (!parked_mode) {
		printf("scale=waves threads=%u count=%lu wave=%lu seconds=%.2f\n",
		       (unsigned)threads, r.n, r.wave, now_s() - t0);
		return 0;
	}
	printf("scale=parked threads=%u guard=%s count=%lu spawned=%lu "
	       "bytes_per_actor=%.0f seconds=%.2f", (unsigned)threads,
	       guard ? guard : "auto", r.n, r.spawned,
	       r.spawned ? ((double)r.rss1 - (double)r.rss0) / (double)r.spawned
			 : 0.0, now_s() - t0);
	if (r.spawn_err)
		printf(" error=%s", r.spawn_err == ENOMEM ? "ENOMEM" : "EAGAIN");
	printf("\n");
	return 0;
}
