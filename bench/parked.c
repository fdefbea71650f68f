/*
 * parked.c - memory held by an actor parked on a receive.
 *
 * The root spawns COUNT actors, each with a channel of its own, and each
 * parks in smarm_recv on it.  The process's resident set is read from
 * /proc/self/statm before anything is made for them and again once every
 * actor has said it runs (on one worker, each says so just before it
 * parks, and the root runs again only once it has); the difference over
 * COUNT is what one parked actor costs: its control block, the pages of
 * its stack it touched, its channel and the pid and sending handle the
 * root keeps.  The root then closes every sending handle: each actor's
 * receive fails with EPIPE, it ends, and the root joins it.
 *
 * The actors run on the one worker of smarm_run().
 *
 * Usage: parked [count]                 (default 100,000)
 * Prints: bench=parked threads=1 value=<bytes per actor> unit=bytes/actor
 * Exits 1 when the run fails its own checks: every actor must have said
 * it runs, and then ended with EPIPE once its channel was closed.
 */
#include <smarm.h>

#include "benchutil.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define DEFAULT_ACTORS 100000ul

/* What an actor is given; its handles are its own to close. */
struct parked {
	smarm_rx *rx;		/* its own channel */
	smarm_tx *ready;	/* "parking now", to the root */
};

struct bench {
	unsigned long n;	/* actors */
	uint64_t rss0, rss1;	/* bytes resident before and after */
	unsigned long ready;	/* actors that said they run */
	unsigned long ended;	/* actors that ended with EPIPE */
};

/*
 * Only the root writes struct bench once the runtime runs, and main()
 * reads it after smarm_run() has returned.
 */

/* Says it runs, then waits on its channel until the root closes it:
 * returns 1 when that is how it ended. */
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

static void *root(void *arg)
{
	struct bench *b = arg;
	struct parked *p;
	smarm_pid *pid;
	smarm_tx **tx, *ready_tx;
	smarm_rx *ready_rx;
	unsigned long i, spawned;
	unsigned char one;
	void *res;
	int err, serr = 0;

	err = smarm_channel(&ready_tx, &ready_rx, sizeof(one));
	if (err)
		smarm_panic("smarm_channel: %s", smarm_strerror(err));

	b->rss0 = bench_rss();
	p = malloc(b->n * sizeof(*p));
	pid = malloc(b->n * sizeof(*pid));
	tx = malloc(b->n * sizeof(*tx));
	if (!p || !pid || !tx) {
		free(p);
		free(pid);
		free(tx);
		smarm_tx_close(ready_tx);
		smarm_rx_close(ready_rx);
		smarm_panic("out of memory");
	}

	/* Each handle of p[i] belongs to actor i once it is spawned; until
	 * then, and for good if the spawn fails, to the root. */
	for (i = 0; i < b->n; i++) {
		serr = smarm_channel(&tx[i], &p[i].rx, sizeof(uint64_t));
		if (serr)
			break;
		p[i].ready = smarm_tx_clone(ready_tx);
		serr = smarm_spawn(&pid[i], parked, &p[i]);
		if (serr) {
			smarm_tx_close(p[i].ready);
			smarm_tx_close(tx[i]);
			smarm_rx_close(p[i].rx);
			break;
		}
	}
	spawned = i;
	smarm_tx_close(ready_tx);	/* the actors hold the others */

	/* Until every actor has said it runs and closed its handle. */
	while (smarm_recv(ready_rx, &one, SMARM_FOREVER) == 0)
		b->ready++;
	smarm_rx_close(ready_rx);
	b->rss1 = bench_rss();

	for (i = 0; i < spawned; i++)
		smarm_tx_close(tx[i]);	/* actor i's recv: EPIPE */
	for (i = 0; i < spawned; i++) {
		err = smarm_join(pid[i], &res, SMARM_FOREVER);
		if (err)
			smarm_panic("join actor %lu: %s", i,
				    smarm_strerror(err));
		b->ended += (uintptr_t)res;
	}
	free(p);
	free(pid);
	free(tx);
	if (spawned < b->n)
		smarm_panic("actor %lu: %s", spawned, smarm_strerror(serr));
	return NULL;
}

int main(int argc, char **argv)
{
	static struct bench b;
	uint64_t n = DEFAULT_ACTORS;
	void *reason;
	int err;

	if (argc > 2 || (argc == 2 && bench_num(argv[1], 1, 100000000, &n))) {
		fprintf(stderr, "usage: %s [count 1..100000000]\n", argv[0]);
		return 2;
	}
	b.n = (unsigned long)n;

	err = smarm_run(root, &b, &reason);
	if (err == SMARM_EPANIC) {
		fprintf(stderr, "parked: %s\n",
			reason ? (char *)reason : "(no reason)");
		free(reason);
		return 1;
	} else if (err) {
		fprintf(stderr, "parked: smarm_run: %s\n", smarm_strerror(err));
		return 1;
	}

	if (b.ready != b.n || b.ended != b.n || !b.rss0 || !b.rss1) {
		fprintf(stderr, "parked: %lu of %lu actors said they run, %lu "
			"ended when their channel closed; resident %" PRIu64
			" then %" PRIu64 " bytes\n", b.ready, b.n, b.ended,
			b.rss0, b.rss1);
		return 1;
	}

	printf("bench=parked threads=1 value=%.0f unit=bytes/actor\n",
	       ((double)b.rss1 - (double)b.rss0) / (double)b.n);
	return 0;
}
