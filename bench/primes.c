/*
 * primes.c - fan-out/fan-in of plain computation: counting primes.
 *
 * The numbers below LIMIT are cut into CHUNKS ranges of about equal
 * length, one actor each.  An actor counts the primes in its range by
 * trial division, a loop with no preemption point in it, and sends the
 * count to the root over its own sending handle, cloned from the root's;
 * the root adds the counts up until every handle is closed.  With the
 * default of 3,000,000 and 1,000 chunks of 3,000 numbers, the total must
 * be 216,816.  The actors are independent, so this measures how well the
 * work spreads over the worker threads.
 *
 * Usage: primes [-t threads] [limit [chunks]]   (default 3,000,000 and 1,000)
 *   -t sets the number of worker threads; by default smarm_config_init()
 *   picks it (SMARM_THREADS from the environment, see smarm_config_init(3)).
 * Prints: bench=primes threads=<n> value=<ms for the whole count> unit=ms
 * Exits 1 when the run fails its own checks: the counts must add up to the
 * number of primes below LIMIT (216,816, or for another LIMIT what a
 * sieve finds before the run), and every actor must have sent one.
 */
#include <smarm.h>

#include "benchutil.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_LIMIT 3000000ul
#define DEFAULT_CHUNKS 1000ul
#define PRIMES_BELOW_DEFAULT 216816ul

/* One actor's range [lo, hi) and its handle, the actor's to close. */
struct chunk {
	uint32_t lo, hi;
	smarm_tx *tx;
};

struct bench {
	uint64_t limit;
	unsigned long nchunks;
	struct chunk *chunks;
	uint64_t t0, t1;
	uint64_t primes;	/* the counts added up */
	unsigned long counts;	/* counts received */
};

/*
 * Only the root writes struct bench once the runtime runs, and main()
 * reads it after smarm_runtime_run() has returned; the root fills in each
 * struct chunk before the actor that owns it is spawned.  The counts
 * travel over the channel.
 */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int is_prime(uint32_t n)
{
	uint32_t d;

	if (n < 2)
		return 0;
	if (n % 2 == 0)
		return n == 2;
	for (d = 3; (uint64_t)d * d <= n; d += 2)
		if (n % d == 0)
			return 0;
	return 1;
}

static void *counter(void *arg)
{
	const struct chunk *c = arg;
	uint64_t count = 0;
	uint32_t n;
	int err;

	for (n = c->lo; n < c->hi; n++)
		count += is_prime(n);
	err = smarm_send(c->tx, &count);
	smarm_tx_close(c->tx);
	if (err)
		smarm_panic("chunk [%" PRIu32 ", %" PRIu32 "): send: %s",
			    c->lo, c->hi, smarm_strerror(err));
	return NULL;
}

/* Where chunk i starts: the first limit % nchunks chunks are one longer. */
static uint32_t chunk_start(const struct bench *b, uint64_t i)
{
	uint64_t q = b->limit / b->nchunks, r = b->limit % b->nchunks;

	return (uint32_t)(i * q + (i < r ? i : r));
}

static void *root(void *arg)
{
	struct bench *b = arg;
	smarm_spawn_opts opts;
	smarm_tx *tx;
	smarm_rx *rx;
	unsigned long i;
	uint64_t v;
	int err, serr = 0;

	err = smarm_channel(&tx, &rx, sizeof(uint64_t));
	if (err)
		smarm_panic("smarm_channel: %s", smarm_strerror(err));
	smarm_spawn_opts_init(&opts);
	opts.flags = SMARM_SPAWN_DETACHED;

	/* The chunks are set up before the clock starts; spawning is
	 * timed, as it is part of fanning out. */
	for (i = 0; i < b->nchunks; i++) {
		b->chunks[i].lo = chunk_start(b, i);
		b->chunks[i].hi = chunk_start(b, i + 1);
	}
	b->t0 = now_ns();
	for (i = 0; i < b->nchunks; i++) {
		b->chunks[i].tx = smarm_tx_clone(tx);
		serr = smarm_spawn_opt(NULL, counter, &b->chunks[i], &opts);
		if (serr) {
			smarm_tx_close(b->chunks[i].tx);
			break;
		}
	}
	smarm_tx_close(tx);	/* the actors hold the others */

	/* Until every actor has sent its count and closed its handle. */
	while ((err = smarm_recv(rx, &v, SMARM_FOREVER)) == 0) {
		b->primes += v;
		b->counts++;
	}
	b->t1 = now_ns();
	smarm_rx_close(rx);
	if (serr)
		smarm_panic("spawn chunk %lu: %s", i, smarm_strerror(serr));
	if (err != EPIPE)
		smarm_panic("recv: %s", smarm_strerror(err));
	return NULL;
}

/* The number of primes below limit, found another way: a sieve. */
static int sieve_count(uint64_t limit, uint64_t *count)
{
	unsigned char *composite;
	uint64_t i, j, n = 0;

	composite = calloc(limit, 1);
	if (!composite)
		return ENOMEM;
	for (i = 2; i < limit; i++) {
		if (composite[i])
			continue;
		n++;
		for (j = i * i; j < limit; j += i)
			composite[j] = 1;
	}
	free(composite);
	*count = n;
	return 0;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-t threads >= 1] [limit >= 1 "
		"[chunks >= 1]]\n", prog);
}

int main(int argc, char **argv)
{
	static struct bench b;
	uint64_t expected = PRIMES_BELOW_DEFAULT, nchunks = DEFAULT_CHUNKS;
	smarm_config cfg;
	unsigned threads;
	int err;

	b.limit = DEFAULT_LIMIT;
	/* The numbers counted, and the limit, fit in uint32_t. */
	if (bench_opts(argc, argv, &threads) || argc - optind > 2 ||
	    (argc - optind >= 1 &&
	     bench_num(argv[optind], 1, UINT32_MAX, &b.limit)) ||
	    (argc - optind == 2 &&
	     bench_num(argv[optind + 1], 1, UINT32_MAX, &nchunks))) {
		usage(argv[0]);
		return 2;
	}
	b.nchunks = (unsigned long)nchunks;
	if (b.limit != DEFAULT_LIMIT) {
		err = sieve_count(b.limit, &expected);
		if (err) {
			fprintf(stderr, "primes: sieve: %s\n",
				smarm_strerror(err));
			return 1;
		}
	}
	b.chunks = calloc(b.nchunks, sizeof(*b.chunks));
	if (!b.chunks) {
		fprintf(stderr, "primes: out of memory\n");
		return 1;
	}

	smarm_config_init(&cfg);
	if (threads)
		cfg.threads = threads;
	err = bench_run("primes", &cfg, root, &b);
	free(b.chunks);
	if (err)
		return 1;

	if (b.counts != b.nchunks || b.primes != expected || b.t1 < b.t0) {
		fprintf(stderr, "primes: %lu counts of %lu received, adding up "
			"to %" PRIu64 "; expected %" PRIu64 " primes below %"
			PRIu64 "\n", b.counts, b.nchunks, b.primes, expected,
			b.limit);
		return 1;
	}

	printf("bench=primes threads=%u value=%.2f unit=ms\n", cfg.threads,
	       (double)(b.t1 - b.t0) / 1e6);
	return 0;
}
