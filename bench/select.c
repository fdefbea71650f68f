/*
 * select.c - cost of one element received with smarm_select over several
 * channels.
 *
 * The root makes 8 unbounded channels of uint64_t (smarm_channel), spawns
 * one consumer and 8 producers, and joins them.  Producer k sends 0, 1,
 * ..., M - 1 on channel k (a send never waits) and closes its end.  The
 * consumer waits with smarm_select over the channels still open, takes
 * one element from the one it names with smarm_try_recv, and checks that
 * it is the one after the last from that producer; when a channel ends
 * (EPIPE) it checks that all M came and drops the channel from the set.
 * It stops when all 8 have ended.  The time from before the first spawn
 * to after the last join, over the 8 * M elements, is the figure.  One
 * select and one receive per element: smarm_select starts its look at a
 * different channel each call, so none is starved.
 *
 * Usage: select [-t threads] [elements-per-producer]   (default 125,000:
 *   1,000,000 in all)
 *   -t sets the number of worker threads; by default smarm_config_init()
 *   picks it (SMARM_THREADS from the environment, see smarm_config_init(3)).
 * Prints: bench=select threads=<n> value=<ns per element> unit=ns/element
 * Exits 1 when the run fails its own checks: every producer's numbers
 * must arrive in order, all M of them, then its channel's end; the
 * consumer must count 8 * M.
 */
#include <smarm.h>

#include "benchutil.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define PRODUCERS 8
#define DEFAULT_PER_PRODUCER 125000ul

struct bench {
	uint64_t m;                     /* elements per producer */
	smarm_tx *tx[PRODUCERS];        /* producer k's, once it is spawned */
	smarm_rx *rx[PRODUCERS];        /* the consumer's, once it is spawned */
	uint64_t sent[PRODUCERS];       /* each producer's own count */
	uint64_t got[PRODUCERS];        /* the consumer's: in order, per channel */
	uint64_t received;              /* the consumer's: in all */
	unsigned ended;                 /* the consumer's: channels ended */
	uint64_t t0, t1;
};

struct producer_arg {
	struct bench *b;
	unsigned k;
};

/* Only the root writes t0 and t1, producer k sent[k], the consumer got,
 * received and ended; main() reads them after smarm_runtime_run(). */

/* Sends 0 .. m - 1 on its channel, then closes its end however it
 * stops, so that the consumer sees the end. */
static void *producer(void *arg)
{
	struct producer_arg *pa = arg;
	struct bench *b = pa->b;
	uint64_t i;
	int err = 0;

	for (i = 0; i < b->m; i++)
		if ((err = smarm_send(b->tx[pa->k], &i)) != 0)
			break;
	b->sent[pa->k] = i;
	smarm_tx_close(b->tx[pa->k]);
	if (err)
		smarm_panic("producer %u: send %" PRIu64 ": %s", pa->k, i,
			    smarm_strerror(err));
	return NULL;
}

/* Selects over the open channels until all have ended; closes every
 * receiving end however it stops. */
static void *consumer(void *arg)
{
	struct bench *b = arg;
	smarm_rx *rxs[PRODUCERS];
	unsigned idx[PRODUCERS];        /* rxs[i] is channel idx[i] */
	size_t n = PRODUCERS, r = 0, i;
	uint64_t v = 0;
	unsigned k = 0;
	int err = 0, bad = 0;  /* 1: out of order or short; 2: bad entry */

	for (k = 0; k < PRODUCERS; k++) {
		rxs[k] = b->rx[k];
		idx[k] = k;
	}
	while (n > 0) {
		if ((err = smarm_select(rxs, n, &r, SMARM_FOREVER)) != 0)
			break;
		if (r >= n) {
			bad = 2;
			break;
		}
		k = idx[r];
		err = smarm_try_recv(rxs[r], &v);
		if (err == 0) {
			if (v != b->got[k]) {
				bad = 1;
				break;
			}
			b->got[k]++;
			b->received++;
			continue;
		}
		if (err != EPIPE)
			break;
		/* Channel k ended: all of it must have come. */
		err = 0;
		if (b->got[k] != b->m) {
			bad = 1;
			break;
		}
		b->ended++;
		smarm_rx_close(rxs[r]);
		rxs[r] = rxs[n - 1];
		idx[r] = idx[n - 1];
		n--;
	}
	for (i = 0; i < n; i++)
		smarm_rx_close(rxs[i]);
	if (err)
		smarm_panic("consumer: after %" PRIu64 " elements: %s",
			    b->received, smarm_strerror(err));
	if (bad == 2)
		smarm_panic("consumer: smarm_select named entry %zu of %zu",
			    r, n);
	if (bad)
		smarm_panic("consumer: channel %u: got %" PRIu64 ", expected %"
			    PRIu64 " (%" PRIu64 " of %" PRIu64 " received)",
			    k, v, b->got[k], b->got[k], b->m);
	return NULL;
}

static void *root(void *arg)
{
	struct bench *b = arg;
	static struct producer_arg pa[PRODUCERS];
	smarm_pid c, p[PRODUCERS];
	unsigned k, spawned;
	int err;

	for (k = 0; k < PRODUCERS; k++) {
		err = smarm_channel(&b->tx[k], &b->rx[k], sizeof(uint64_t));
		if (err) {
			while (k-- > 0) {
				smarm_tx_close(b->tx[k]);
				smarm_rx_close(b->rx[k]);
			}
			smarm_panic("smarm_channel: %s", smarm_strerror(err));
		}
	}
	b->t0 = smarm_now();
	err = smarm_spawn(&c, consumer, b);
	if (err) {
		for (k = 0; k < PRODUCERS; k++) {
			smarm_tx_close(b->tx[k]);
			smarm_rx_close(b->rx[k]);
		}
		smarm_panic("spawn consumer: %s", smarm_strerror(err));
	}
	for (spawned = 0; spawned < PRODUCERS; spawned++) {
		pa[spawned].b = b;
		pa[spawned].k = spawned;
		err = smarm_spawn(&p[spawned], producer, &pa[spawned]);
		if (err)
			break;
	}
	/* The channels of producers never spawned end at once: the
	 * consumer then fails its check of them. */
	for (k = spawned; k < PRODUCERS; k++)
		smarm_tx_close(b->tx[k]);
	/* The consumer first: its reason is the one to see. */
	bench_join(c, "consumer");
	for (k = 0; k < spawned; k++)
		bench_join(p[k], "producer");
	b->t1 = smarm_now();
	if (err)
		smarm_panic("spawn producer %u: %s", spawned,
			    smarm_strerror(err));
	return NULL;
}

int main(int argc, char **argv)
{
	static struct bench b;
	uint64_t m = DEFAULT_PER_PRODUCER;
	smarm_config cfg;
	unsigned k;

	if (bench_args(argc, argv, "elements-per-producer",
		       UINT32_MAX / PRODUCERS, &m, &cfg))
		return 2;
	b.m = m;
	if (bench_run("select", &cfg, root, &b))
		return 1;
	for (k = 0; k < PRODUCERS; k++) {
		if (b.sent[k] != b.m || b.got[k] != b.m) {
			fprintf(stderr, "select: producer %u sent %" PRIu64
				", %" PRIu64 " received in order; expected %"
				PRIu64 "\n", k, b.sent[k], b.got[k], b.m);
			return 1;
		}
	}
	if (b.received != PRODUCERS * b.m || b.ended != PRODUCERS ||
	    b.t1 < b.t0) {
		fprintf(stderr, "select: %" PRIu64 " received, %u channels "
			"ended; expected %" PRIu64 " and %u\n", b.received,
			b.ended, PRODUCERS * b.m, PRODUCERS);
		return 1;
	}
	printf("bench=select threads=%u value=%.2f unit=ns/element\n",
	       cfg.threads, (double)(b.t1 - b.t0) / (double)(PRODUCERS * b.m));
	return 0;
}
