/*
 * pingpong.c - cost of one round trip between two actors over channels.
 *
 * Actor A sends i on ch1; actor B receives it and sends i + 1 back on ch2;
 * A receives that and checks it.  Each round trip is two sends, two
 * receives and (with only these two actors on one worker) two context
 * switches, one each way, as each receiver parks on an empty channel and
 * is woken by the other's send.
 *
 * Usage: pingpong [round-trips]        (default 1,000,000)
 * Prints: bench=pingpong threads=1 value=<ns per round trip> unit=ns/roundtrip
 * Exits 1 when the run fails its own checks.
 */
#include <smarm.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define DEFAULT_ROUNDTRIPS 1000000ul

struct bench {
	uint64_t n;		/* round trips */
	smarm_tx *tx1, *tx2;	/* ch1: A to B; ch2: B to A */
	smarm_rx *rx1, *rx2;
	int started;		/* actors past their first instruction */
	int abort;		/* the root could not spawn both actors */
	int failed;		/* an actor panicked */
	uint64_t t0, t1;
	uint64_t a_done, b_done; /* round trips each side completed */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Start barrier: the clock starts only once both actors run, so neither
 * spawn nor the first switch into a fresh stack is timed.  0 to go on.
 */
static int barrier(struct bench *b)
{
	b->started++;
	while (b->started < 2 && !b->abort)
		smarm_yield();
	return b->abort;
}

/*
 * Each actor closes its sending end however it stops, before it reports a
 * failure: the other one, parked in smarm_recv, then wakes with EPIPE
 * instead of waiting for ever (a receiver is never taken for deadlocked).
 */

/* A: sends i, expects i + 1 back. */
static void *pinger(void *arg)
{
	struct bench *b = arg;
	uint64_t i = 0, v = 0;
	int err = 0;

	if (!barrier(b)) {
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
	if (i < b->n && !b->abort)
		smarm_panic("A: sent %" PRIu64 ", got %" PRIu64 " back", i, v);
	return NULL;
}

/* B: receives v, sends v + 1, until A closes ch1. */
static void *ponger(void *arg)
{
	struct bench *b = arg;
	uint64_t n = 0, v = 0;
	int err = EPIPE;

	if (!barrier(b)) {
		for (n = 0; (err = smarm_recv(b->rx1, &v, SMARM_FOREVER)) == 0;
		     n++) {
			if (v != n)
				break;
			v++;
			if ((err = smarm_send(b->tx2, &v)) != 0)
				break;
		}
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
	smarm_fn fn[2] = { pinger, ponger };
	smarm_pid pid[2];
	void *res;
	int i, err;

	for (i = 0; i < 2; i++) {
		err = smarm_spawn(&pid[i], fn[i], b);
		if (err) {
			b->abort = 1;	/* release an actor waiting at the barrier */
			smarm_panic("spawn: %s", smarm_strerror(err));
		}
	}
	for (i = 0; i < 2; i++) {
		err = smarm_join(pid[i], &res, SMARM_FOREVER);
		if (err == SMARM_EPANIC) {
			fprintf(stderr, "pingpong: %s\n", (char *)res);
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
	void *reason;
	int err;

	if (argc > 1) {
		char *end;

		total = strtoull(argv[1], &end, 10);
		if (*end || total < 1) {
			fprintf(stderr, "usage: %s [round-trips >= 1]\n",
				argv[0]);
			return 2;
		}
	}
	b.n = total;
	err = smarm_channel(&b.tx1, &b.rx1, sizeof(uint64_t));
	if (!err)
		err = smarm_channel(&b.tx2, &b.rx2, sizeof(uint64_t));
	if (err) {
		fprintf(stderr, "pingpong: smarm_channel: %s\n",
			smarm_strerror(err));
		return 1;
	}

	err = smarm_run(root, &b, &reason);
	smarm_rx_close(b.rx1);
	smarm_rx_close(b.rx2);
	if (err == SMARM_EPANIC) {
		fprintf(stderr, "pingpong: %s\n", (char *)reason);
		free(reason);
		return 1;
	} else if (err) {
		fprintf(stderr, "pingpong: smarm_run: %s\n",
			smarm_strerror(err));
		return 1;
	}

	if (b.failed)
		return 1;
	if (b.a_done != b.n || b.b_done != b.n || b.t1 < b.t0) {
		fprintf(stderr, "pingpong: %" PRIu64 " round trips by A, %"
			PRIu64 " by B; expected %" PRIu64 "\n", b.a_done,
			b.b_done, b.n);
		return 1;
	}

	printf("bench=pingpong threads=1 value=%.2f unit=ns/roundtrip\n",
	       (double)(b.t1 - b.t0) / (double)b.n);
	return 0;
}
