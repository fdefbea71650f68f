/*
 * skynet.c - the skynet benchmark: a million actors in a tree, summing.
 *
 * An actor given (num, size) with size 1 is a leaf: it sends num to its
 * parent.  Any other actor spawns 10 children, child i given
 * (num + i * size / 10, size / 10), receives their 10 numbers, and sends
 * their sum to its parent.  The root starts the tree with (0, LEAVES), so
 * the leaves send the numbers 0 to LEAVES - 1 and the total is
 * LEAVES * (LEAVES - 1) / 2; with the default of 1,000,000 leaves the tree
 * is six levels deep below the top actor, has 1,111,111 actors and sums
 * to 499,999,500,000.
 *
 * Each parent makes one channel for its 10 children and hands each child
 * a sending handle cloned from its own (smarm_tx_clone); every handle is
 * closed by whoever holds it.  Children are spawned detached: results
 * travel over the channels only, and no join is needed.  Their arguments
 * live in an array in the parent's frame: a child reads them before it
 * does anything else, and the parent leaves that frame only after all 10
 * children sent their result, or else closed their handles.
 *
 * Every actor gets the runtime's default stack, set to 16 KiB here so
 * that the stacks come from the runtime's cache (a stack of any other
 * size than the default is mapped and unmapped for its actor alone).
 *
 * Every tree is timed, the first included: it maps, guards and first
 * touches the stacks it needs, as a program that builds one such tree
 * does; the trees that follow find their stacks in the runtime's cache.
 *
 * Usage: skynet [-t threads] [leaves [rounds]]
 *   leaves: a power of 10 (default 1,000,000); rounds: trees, the first
 *   included (default 3, at most 64).
 *   -t sets the number of worker threads; by default smarm_config_init()
 *   picks it (SMARM_THREADS from the environment, see smarm_config_init(3)).
 * Prints: bench=skynet threads=<n> value=<median ms per tree>
 *   first=<ms for the first tree> unit=ms
 * Exits 1 when the run fails its own checks.
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

#define DEFAULT_LEAVES 1000000ull
#define DEFAULT_ROUNDS 3ul
#define FANOUT 10
#define STACK_SIZE (16u * 1024u)

/* What an actor is given; read once, at its start. */
struct node_args {
	uint64_t num, size;
	smarm_tx *up;		/* to the parent; the child's to close */
};

struct bench {
	uint64_t leaves;
	unsigned long rounds;	/* trees, all timed */
	uint64_t expected;	/* what the tree must sum to */
	struct bench_rounds t;	/* ns of each tree */
	uint64_t sum;		/* of the last tree, as it reached the root */
	unsigned long trees;	/* trees that summed right */
};

/*
 * Only the root writes struct bench once the runtime runs, and main()
 * reads it after smarm_runtime_run() has returned.  Everything else
 * travels over channels, but for this flag: the first actor that fails
 * sets it and panics, to say why; actors that fail after it, mostly
 * because a child failed, just close their handles and end, so that one
 * failure makes one message, not one per ancestor.
 */
static int failing;

/* Nonzero for every caller but the first. */
static int failed_before(void)
{
	return __atomic_exchange_n(&failing, 1, __ATOMIC_RELAXED);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *node(void *arg);

/*
 * Spawn the children of (num, size) and add up what they send into *sum.
 * Returns 0, or an error for the caller to report; on error, nothing is
 * left running that could still read kids[].
 */
static int subtree(uint64_t num, uint64_t size, uint64_t *sum,
		   const char **what)
{
	struct node_args kids[FANOUT];
	smarm_spawn_opts opts;
	smarm_tx *tx;
	smarm_rx *rx;
	uint64_t v, total = 0;
	int i, got, err, serr = 0;

	err = smarm_channel(&tx, &rx, sizeof(uint64_t));
	if (err) {
		*what = "smarm_channel";
		return err;
	}
	smarm_spawn_opts_init(&opts);
	opts.flags = SMARM_SPAWN_DETACHED;
	for (i = 0; i < FANOUT; i++) {
		kids[i].num = num + (uint64_t)i * (size / FANOUT);
		kids[i].size = size / FANOUT;
		kids[i].up = smarm_tx_clone(tx);
		serr = smarm_spawn_opt(NULL, node, &kids[i], &opts);
		if (serr) {
			smarm_tx_close(kids[i].up);
			break;
		}
	}
	smarm_tx_close(tx);	/* the children hold the others */

	/*
	 * Wait for 10 results, or, if fewer children run or one of them
	 * failed, for EPIPE: that comes once every child closed its handle,
	 * which each does only after it read its arguments.
	 */
	for (got = 0; got < FANOUT &&
	     (err = smarm_recv(rx, &v, SMARM_FOREVER)) == 0; got++)
		total += v;
	smarm_rx_close(rx);
	if (serr) {
		*what = "smarm_spawn_opt";
		return serr;
	}
	if (got < FANOUT) {
		*what = NULL;	/* a child failed and said why */
		return err;
	}
	*sum = total;
	return 0;
}

static void *node(void *arg)
{
	const struct node_args *a = arg;
	uint64_t num = a->num, size = a->size, sum;
	smarm_tx *up = a->up;
	const char *what = "";
	int err;

	/* a points into the parent's frame: not to be read from here on. */
	if (size == 1) {
		sum = num;
	} else if ((err = subtree(num, size, &sum, &what)) != 0) {
		smarm_tx_close(up);	/* the parent's recv: EPIPE */
		if (what && !failed_before())
			smarm_panic("node (%" PRIu64 ", %" PRIu64 "): %s: %s",
				    num, size, what, smarm_strerror(err));
		return NULL;
	}
	err = smarm_send(up, &sum);
	smarm_tx_close(up);
	if (err && !failed_before())
		smarm_panic("node (%" PRIu64 ", %" PRIu64 "): send: %s", num,
			    size, smarm_strerror(err));
	return NULL;
}

/* One whole tree: returns the ns it took, or panics. */
static uint64_t one_tree(struct bench *b)
{
	struct node_args top;
	smarm_spawn_opts opts;
	smarm_tx *tx;
	smarm_rx *rx;
	uint64_t t0, t1;
	int err;

	err = smarm_channel(&tx, &rx, sizeof(uint64_t));
	if (err)
		smarm_panic("smarm_channel: %s", smarm_strerror(err));
	smarm_spawn_opts_init(&opts);
	opts.flags = SMARM_SPAWN_DETACHED;
	top.num = 0;
	top.size = b->leaves;
	top.up = tx;

	t0 = now_ns();
	err = smarm_spawn_opt(NULL, node, &top, &opts);
	if (err) {
		smarm_tx_close(tx);
		smarm_rx_close(rx);
		smarm_panic("smarm_spawn_opt: %s", smarm_strerror(err));
	}
	err = smarm_recv(rx, &b->sum, SMARM_FOREVER);
	t1 = now_ns();
	smarm_rx_close(rx);
	if (err)
		smarm_panic("the tree's sum: %s%s", smarm_strerror(err),
			    err == EPIPE ? " (an actor failed)" : "");
	if (b->sum != b->expected)
		smarm_panic("the tree summed to %" PRIu64 "; expected %" PRIu64,
			    b->sum, b->expected);
	b->trees++;
	return t1 - t0;
}

static void *root(void *arg)
{
	struct bench *b = arg;
	unsigned long r;

	for (r = 0; r < b->rounds; r++)
		bench_round(&b->t, one_tree(b));
	return NULL;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-t threads >= 1] [leaves: a power of 10 "
		"[rounds 1..64]]\n", prog);
}

int main(int argc, char **argv)
{
	static struct bench b;
	uint64_t p, rounds = DEFAULT_ROUNDS;
	smarm_config cfg;
	unsigned threads;

	b.leaves = DEFAULT_LEAVES;
	if (bench_opts(argc, argv, &threads) || argc - optind > 2 ||
	    (argc - optind >= 1 &&
	     bench_num(argv[optind], 1, UINT64_MAX, &b.leaves)) ||
	    (argc - optind == 2 &&
	     bench_num(argv[optind + 1], 1, BENCH_MAX_ROUNDS, &rounds))) {
		usage(argv[0]);
		return 2;
	}
	/* A power of the fan-out, up to 10^9 leaves, so that the sum fits in
	 * 64 bits. */
	for (p = 1; p < b.leaves && p < 1000000000ull; p *= FANOUT)
		;
	if (b.leaves != p) {
		usage(argv[0]);
		return 2;
	}
	b.rounds = (unsigned long)rounds;
	b.expected = b.leaves * (b.leaves - 1) / 2;

	smarm_config_init(&cfg);
	if (threads)
		cfg.threads = threads;
	cfg.stack_size = STACK_SIZE;
	if (bench_run("skynet", &cfg, root, &b))
		return 1;

	if (b.trees != b.rounds || b.sum != b.expected) {
		fprintf(stderr, "skynet: %lu trees of %lu summed right, the "
			"last one to %" PRIu64 "; expected %" PRIu64 "\n",
			b.trees, b.rounds, b.sum, b.expected);
		return 1;
	}

	printf("bench=skynet threads=%u value=%.2f first=%.2f unit=ms\n",
	       cfg.threads, bench_median(&b.t) / 1e6, (double)b.t.t[0] / 1e6);
	return 0;
}
