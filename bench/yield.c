/*
 * yield.c - cost of one smarm_yield() switch between two actors.
 *
 * Two actors yield to each other in a loop.  With only two runnable actors
 * on one worker every yield is exactly one context switch, so the elapsed
 * time divided by the number of yields is the cost of a switch.
 *
 * Usage: yield [total-switches]        (default 10,000,000)
 * Prints: bench=yield threads=1 value=<ns per switch> unit=ns/switch
 * Exits 1 when the run fails its own checks.
 */
#include <smarm.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define DEFAULT_SWITCHES 10000000ul

struct bench;

struct yielder {
	struct bench *b;
	struct yielder *other;
	uint64_t count;		/* own yields so far */
	uint64_t changes;	/* how often the other's count moved meanwhile */
	uint64_t ret;		/* what the actor returned, as seen by join */
};

struct bench {
	uint64_t n;		/* yields per actor */
	int started;		/* actors past their first instruction */
	int done;		/* actors out of the timed loop */
	int abort;		/* the root could not spawn both actors */
	uint64_t t0, t1;
	struct yielder y[2];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *yielder(void *arg)
{
	struct yielder *me = arg;
	struct bench *b = me->b;
	uint64_t last, i;

	/*
	 * Start barrier: the clock starts only once both actors run, so
	 * neither spawn nor the first switch into a fresh stack is timed.
	 */
	b->started++;
	while (b->started < 2 && !b->abort)
		smarm_yield();
	if (b->abort)
		return NULL;
	if (!b->t0)
		b->t0 = now_ns();

	last = me->other->count;
	for (i = 0; i < b->n; i++) {
		me->count++;
		if (smarm_yield())
			break;
		/* Strict alternation: the other actor ran between our yields. */
		if (me->other->count != last) {
			last = me->other->count;
			me->changes++;
		}
	}

	if (++b->done == 2)
		b->t1 = now_ns();
	return (void *)(uintptr_t)i;
}

static void *root(void *arg)
{
	struct bench *b = arg;
	smarm_pid pid[2];
	void *res;
	int i, err;

	for (i = 0; i < 2; i++) {
		err = smarm_spawn(&pid[i], yielder, &b->y[i]);
		if (err) {
			b->abort = 1;	/* release an actor waiting at the barrier */
			smarm_panic("spawn: %s", smarm_strerror(err));
		}
	}
	for (i = 0; i < 2; i++) {
		err = smarm_join(pid[i], &res, SMARM_FOREVER);
		if (err)
			smarm_panic("join: %s", smarm_strerror(err));
		b->y[i].ret = (uintptr_t)res;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static struct bench b;
	uint64_t total = DEFAULT_SWITCHES;
	void *reason;
	int i, err, ok = 1;

	if (argc > 1) {
		char *end;

		total = strtoull(argv[1], &end, 10);
		if (*end || total < 2) {
			fprintf(stderr, "usage: %s [total-switches >= 2]\n",
				argv[0]);
			return 2;
		}
	}
	b.n = total / 2;
	for (i = 0; i < 2; i++) {
		b.y[i].b = &b;
		b.y[i].other = &b.y[1 - i];
	}

	err = smarm_run(root, &b, &reason);
	if (err == SMARM_EPANIC) {
		fprintf(stderr, "yield: %s\n", (char *)reason);
		free(reason);
		return 1;
	} else if (err) {
		fprintf(stderr, "yield: smarm_run: %s\n", smarm_strerror(err));
		return 1;
	}

	/*
	 * Each actor did all its yields, and saw the other move after
	 * (almost) every one: the first and last yield may find the other
	 * actor not yet started or already finished.
	 */
	for (i = 0; i < 2; i++) {
		struct yielder *y = &b.y[i];

		if (y->count != b.n || y->ret != b.n || y->changes + 2 < b.n) {
			fprintf(stderr, "yield: actor %d: %" PRIu64 " yields, "
				"returned %" PRIu64 ", saw the other run %"
				PRIu64 " times; expected %" PRIu64 "\n",
				i, y->count, y->ret, y->changes, b.n);
			ok = 0;
		}
	}
	if (!ok || b.t1 < b.t0)
		return 1;

	printf("bench=yield threads=1 value=%.2f unit=ns/switch\n",
	       (double)(b.t1 - b.t0) / (double)(2 * b.n));
	return 0;
}
