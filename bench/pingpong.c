/*
 * pingpong.c - cost of one round trip between two actors over channels.
 *
 * Actor A sends i on ch1; actor B receives it and sends i + 1 back on ch2;
 * A receives that and checks it.  Each round trip is two sends and two
 * receives.  With one worker, each receiver parks on an empty channel and
 * is woken by the other's send: two context switches per round trip, one
 * each way.  With more workers the two actors may run on different
 * threads, and every message is then a wake-up across threads.
 *
 * Usage: pingpong [-t threads] [round-trips]   (default 1,000,000)
 *   -t sets the number of worker threads; by default smarm_config_init()
 *   picks it (SMARM_THREADS from the environment, see smarm_config_init(3)).
 * Prints: bench=pingpong threads=<n> value=<ns per round trip> unit=ns/roundtrip
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

#define DEFAULT_ROUNDTRIPS 1000000ul

/* What B sends on ch2 first, before any reply (replies are >= 1). */
#define HELLO 0

struct bench {
	uint64_t n;		/* round trips */
	smarm_tx *tx1, *tx2;	/* ch1: A to B; ch2: B to A */
	smarm_rx *rx1, *rx2;
	int failed;		/* an actor panicked */
	uint64_t t0, t1;
	uint64_t a_done, b_done; /* round trips each side completed */
};

/*
 * Only A writes t0, t1 and a_done, only B writes b_done, only the root
 * writes failed; main() reads them all after smarm_runtime_run() has
 * returned, that is after every actor ended.  Nothing else is shared but
 * the channels.
 */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Each actor closes its sending end however it stops, before it reports a
 * failure: the other one, parked in smarm_recv, then wakes with EPIPE
 * instead of waiting for ever (a receiver is never taken for deadlocked).
 *
 * Start barrier: B sends HELLO on ch2 as soon as it runs, and A starts
 * the clock only once it has received it, so neither spawn nor the first
 * switch into a fresh stack is timed.
 */

/* A: waits for B's hello, then sends i and expects i + 1 back. */
static void *pinger(void *arg)
{
	struct bench *b = arg;
	uint64_t i = 0, v = 0;
	int err;

	err = smarm_recv(b->rx2, &v, SMARM_FOREVER);
	if (err == EPIPE) {
		/* B was never spawned; the root reports why. */
		smarm_tx_close(b->tx1);
		return NULL;
	}
	if (err == 0 && v != HELLO) {
		smarm_tx_close(b->tx1);
		smarm_panic("A: got %" PRIu64 " from B before any ping", v);
	}
	if (err == 0) {
		b->t0 = now_ns();
		for (i = 0; i < b->n; i++) {
			if ((err = smarm_send(b->tx1, &i)) != 0 ||
			    (err = smarm_recv(b->rx2, &v, SMARM_FOREVER)) != 0 ||
			    v != i + 1)
				break;
		}
		b->t1 = now_ns();
	}
	b->a_done = i;
	smarm_tx_close(b->tx1);	/* B's next recv: EPIPE */
	if (err)
		smarm_panic("A: round trip %" PRIu64 ": %s", i,
			    smarm_strerror(err));
	if (i < b->n)
		smarm_panic("A: sent %" PRIu64 ", got %" PRIu64 " back", i, v);
	return NULL;
}

/* B: says hello, then receives v and sends v + 1, until A closes ch1. */
static void *ponger(void *arg)
{
	struct bench *b = arg;
	uint64_t n = 0, v = HELLO;
	int err;

	if ((err = smarm_send(b->tx2, &v)) != 0) {
		smarm_tx_close(b->tx2);
		smarm_panic("B: hello: %s", smarm_strerror(err));
	}
	for (n = 0; (err = smarm_recv(b->rx1, &v, SMARM_FOREVER)) == 0; n++) {
		if (v != n)
			break;
		v++;
		if ((err = smarm_send(b->tx2, &v)) != 0)
			break;
	}
	b->b_done = n;
	smarm_tx_close(b->tx2);	/* A's next recv: EPIPE */
	if (err == 0)
		smarm_panic("B: got %" PRIu64 ", expected %" PRIu64, v, n);
	if (err != EPIPE)
		smarm_panic("B: round trip %" PRIu64 ": %s", n,
			    smarm_strerror(err));
	return NULL;
}

static void *root(void *arg)
{
	struct bench *b = arg;
	smarm_pid pid[2];
	void *res;
	int i, err;

	/* Each sending end belongs to its actor once that is spawned;
	 * until then, to the root, which closes it if the spawn fails. */
	err = smarm_spawn(&pid[0], pinger, b);
	if (err) {
		smarm_tx_close(b->tx1);
		smarm_tx_close(b->tx2);
		smarm_panic("spawn A: %s", smarm_strerror(err));
	}
	err = smarm_spawn(&pid[1], ponger, b);
	if (err) {
		smarm_tx_close(b->tx2);	/* A's hello recv: EPIPE */
		smarm_panic("spawn B: %s", smarm_strerror(err));
	}
	for (i = 0; i < 2; i++) {
		err = smarm_join(pid[i], &res, SMARM_FOREVER);
		if (err == SMARM_EPANIC) {
			fprintf(stderr, "pingpong: %s\n",
				res ? (char *)res : "(no reason)");
			free(res);
			b->failed = 1;
		} else if (err) {
			smarm_panic("join: %s", smarm_strerror(err));
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static struct bench b;
	uint64_t total = DEFAULT_ROUNDTRIPS;
	smarm_config cfg;
	int err;

	if (bench_args(argc, argv, "round-trips", UINT64_MAX, &total, &cfg))
		return 2;

	b.n = total;
	err = smarm_channel(&b.tx1, &b.rx1, sizeof(uint64_t));
	if (!err) {
		err = smarm_channel(&b.tx2, &b.rx2, sizeof(uint64_t));
		if (err) {
			smarm_tx_close(b.tx1);
			smarm_rx_close(b.rx1);
		}
	}
	if (err) {
		fprintf(stderr, "pingpong: smarm_channel: %s\n",
			smarm_strerror(err));
		return 1;
	}

	err = bench_run("pingpong", &cfg, root, &b);
	smarm_rx_close(b.rx1);
	smarm_rx_close(b.rx2);
	if (err || b.failed)
		return 1;
	if (b.a_done != b.n || b.b_done != b.n || b.t1 < b.t0) {
		fprintf(stderr, "pingpong: %" PRIu64 " round trips by A, %"
			PRIu64 " by B; expected %" PRIu64 "\n", b.a_done,
			b.b_done, b.n);
		return 1;
	}

	printf("bench=pingpong threads=%u value=%.2f unit=ns/roundtrip\n",
	       cfg.threads, (double)(b.t1 - b.t0) / (double)b.n);
	return 0;
}
