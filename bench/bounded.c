/*
 * bounded.c - cost of one element through a bounded channel, from one
 * producer to one consumer.
 *
 * The root makes a channel of uint64_t with room for C elements
 * (smarm_channel_bounded), spawns a consumer and a producer, and joins
 * them.  The producer sends 0, 1, ..., N - 1 (smarm_send waits while the
 * channel is full) and closes its end; the consumer receives until the
 * channel ends (EPIPE), checking that each element is the one after the
 * last.  The time from before the first spawn to after the last join,
 * over N, is the figure.  With C = 1 every element is a hand-over between
 * the two: the producer waits for room after each send; with C = 64 each
 * side can run ahead of the other by up to 64 elements.
 *
 * Usage: bounded [-t threads] [-c capacity] [elements]
 *   (default: 1,000,000 elements, capacity 1 and then 64)
 *   -t sets the number of worker threads; by default smarm_config_init()
 *   picks it (SMARM_THREADS from the environment, see smarm_config_init(3)).
 *   -c runs one capacity only (1 or more); without it the program runs
 *   capacity 1, then 64, each in a runtime of its own, and prints a line
 *   for each.
 * Prints: bench=bounded<C> threads=<n> value=<ns per element>
 *   unit=ns/element   (bench=bounded1, bench=bounded64, ...)
 * Exits 1 when the run fails its own checks: the consumer must see every
 * number from 0 to N - 1 in order and then the end, the producer must
 * have sent N.
 */
#include <smarm.h>

#include "benchutil.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define DEFAULT_ELEMENTS 1000000ul

struct bench {
	uint64_t n;             /* elements */
	uint64_t cap;
	smarm_tx *tx;           /* the producer's, once it is spawned */
	smarm_rx *rx;           /* the consumer's, once it is spawned */
	uint64_t t0, t1;
	uint64_t sent, received;
};

/* Only the root writes t0 and t1, only the producer sent, only the
 * consumer received; main() reads them after smarm_runtime_run(). */

/* Sends 0 .. n - 1, then closes its end however it stops, so that the
 * consumer sees the end instead of waiting for ever. */
static void *producer(void *arg)
{
	struct bench *b = arg;
	uint64_t i;
	int err = 0;

	for (i = 0; i < b->n; i++)
		if ((err = smarm_send(b->tx, &i)) != 0)
			break;
	b->sent = i;
	smarm_tx_close(b->tx);
	if (err)
		smarm_panic("producer: send %" PRIu64 ": %s", i,
			    smarm_strerror(err));
	return NULL;
}

/* Receives until the end, then closes its end however it stops, so that
 * a producer waiting for room sees EPIPE. */
static void *consumer(void *arg)
{
	struct bench *b = arg;
	uint64_t k = 0, v = 0;
	int err;

	while ((err = smarm_recv(b->rx, &v, SMARM_FOREVER)) == 0) {
		if (v != k)
			break;
		k++;
	}
	b->received = k;
	smarm_rx_close(b->rx);
	if (err == 0)
		smarm_panic("consumer: got %" PRIu64 ", expected %" PRIu64, v,
			    k);
	if (err != EPIPE)
		smarm_panic("consumer: receive %" PRIu64 ": %s", k,
			    smarm_strerror(err));
	return NULL;
}

static void *root(void *arg)
{
	struct bench *b = arg;
	smarm_pid c, p;
	int err;

	err = smarm_channel_bounded(&b->tx, &b->rx, sizeof(uint64_t), b->cap);
	if (err)
		smarm_panic("smarm_channel_bounded(%" PRIu64 "): %s", b->cap,
			    smarm_strerror(err));
	b->t0 = smarm_now();
	err = smarm_spawn(&c, consumer, b);
	if (err) {
		smarm_tx_close(b->tx);
		smarm_rx_close(b->rx);
		smarm_panic("spawn consumer: %s", smarm_strerror(err));
	}
	err = smarm_spawn(&p, producer, b);
	if (err) {
		smarm_tx_close(b->tx); /* the consumer's next recv: EPIPE */
		smarm_panic("spawn producer: %s", smarm_strerror(err));
	}
	/* The consumer first: when it fails, the producer fails after it
	 * (EPIPE), and the consumer's reason is the one to see. */
	bench_join(c, "consumer");
	bench_join(p, "producer");
	b->t1 = smarm_now();
	return NULL;
}

/* One run with capacity cap: 0, or 1 after a message on stderr. */
static int run_one(const smarm_config *cfg, uint64_t n, uint64_t cap)
{
	struct bench b = { 0 };
	char name[32];

	b.n = n;
	b.cap = cap;
	snprintf(name, sizeof(name), "bounded%" PRIu64, cap);
	if (bench_run(name, cfg, root, &b))
		return 1;
	if (b.sent != n || b.received != n || b.t1 < b.t0) {
		fprintf(stderr, "%s: %" PRIu64 " sent, %" PRIu64
			" received in order; expected %" PRIu64 "\n", name,
			b.sent, b.received, n);
		return 1;
	}
	printf("bench=%s threads=%u value=%.2f unit=ns/element\n", name,
	       cfg->threads, (double)(b.t1 - b.t0) / (double)n);
	fflush(stdout);
	return 0;
}

static int usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-t threads >= 1] [-c capacity >= 1] "
		"[elements >= 1]\n", prog);
	return 2;
}

int main(int argc, char **argv)
{
	uint64_t n = DEFAULT_ELEMENTS, cap = 0, v;
	smarm_config cfg;
	unsigned threads = 0;
	int c;

	while ((c = getopt(argc, argv, "t:c:")) != -1) {
		if (c == 't' && bench_num(optarg, 1, SMARM_THREADS_MAX, &v) == 0)
			threads = (unsigned)v;
		else if (c == 'c' && bench_num(optarg, 1, UINT32_MAX, &cap) == 0)
			;
		else
			return usage(argv[0]);
	}
	if (argc - optind > 1 ||
	    (argc - optind == 1 && bench_num(argv[optind], 1, UINT32_MAX, &n)))
		return usage(argv[0]);
	smarm_config_init(&cfg);
	if (threads)
		cfg.threads = threads;
	if (cap)
		return run_one(&cfg, n, cap);
	if (run_one(&cfg, n, 1) || run_one(&cfg, n, 64))
		return 1;
	return 0;
}
