/*
 * mailbox.c - cost of one round trip between two actors' mailboxes.
 *
 * The root spawns B, then A with B's pid.  A sends the number i to B's
 * mailbox (smarm_send_to, the number carried in the pointer itself); B
 * receives it and sends i + 1 back to the sender named in the message; A
 * receives that and checks it.  After N round trips A sends B the number
 * UINT64_MAX - 1 as a stop and both end.  Each round trip is two sends
 * and two receives, as in bench/pingpong over channels: compare the two.
 *
 * Usage: mailbox [-t threads] [round-trips]   (default 1,000,000)
 *   -t sets the number of worker threads; by default smarm_config_init()
 *   picks it (SMARM_THREADS from the environment, see smarm_config_init(3)).
 * Prints: bench=mailbox threads=<n> value=<ns per round trip>
 *   unit=ns/roundtrip
 * Exits 1 when the run fails its own checks: every reply must be its
 * request plus one, from the other actor, and both must see N round trips.
 */
#include <smarm.h>

#include "benchutil.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#define DEFAULT_ROUNDTRIPS 1000000ul
#define STOP (UINTPTR_MAX - 1)

struct bench {
	uint64_t n;		/* round trips */
	smarm_pid b;		/* B's pid, set before A is spawned */
	uint64_t t0, t1;
	uint64_t a_done, b_done; /* round trips each side completed */
};

/* Only A writes t0, t1 and a_done, only B writes b_done; main() reads
 * them after smarm_runtime_run() has returned. */

static void *pinger(void *arg)
{
	struct bench *b = arg;
	smarm_msg m;
	uint64_t i;
	int err;

	b->t0 = smarm_now();
	for (i = 0; i < b->n; i++) {
		err = smarm_send_to(b->b, (void *)(uintptr_t)i);
		if (err)
			smarm_panic("A: send %" PRIu64 ": %s", i,
				    smarm_strerror(err));
		err = smarm_receive(&m, SMARM_FOREVER);
		if (err)
			smarm_panic("A: receive: %s", smarm_strerror(err));
		if ((uintptr_t)m.data != i + 1 || !smarm_pid_eq(m.from, b->b))
			smarm_panic("A: sent %" PRIu64 ", got %" PRIuPTR, i,
				    (uintptr_t)m.data);
	}
	b->t1 = smarm_now();
	b->a_done = i;
	err = smarm_send_to(b->b, (void *)STOP);
	if (err)
		smarm_panic("A: stop: %s", smarm_strerror(err));
	return NULL;
}

static void *ponger(void *arg)
{
	struct bench *b = arg;
	smarm_msg m;
	uint64_t n = 0;
	int err;

	for (;;) {
		err = smarm_receive(&m, SMARM_FOREVER);
		if (err)
			smarm_panic("B: receive: %s", smarm_strerror(err));
		if ((uintptr_t)m.data == STOP)
			break;
		if ((uintptr_t)m.data != n)
			smarm_panic("B: got %" PRIuPTR ", expected %" PRIu64,
				    (uintptr_t)m.data, n);
		err = smarm_send_to(m.from, (void *)(uintptr_t)(n + 1));
		if (err)
			smarm_panic("B: reply %" PRIu64 ": %s", n,
				    smarm_strerror(err));
		n++;
	}
	b->b_done = n;
	return NULL;
}

static void *root(void *arg)
{
	struct bench *b = arg;
	smarm_pid a;
	int err;

	err = smarm_spawn(&b->b, ponger, b);
	if (err)
		smarm_panic("spawn B: %s", smarm_strerror(err));
	err = smarm_spawn(&a, pinger, b);
	if (err)
		smarm_panic("spawn A: %s", smarm_strerror(err));
	if ((err = smarm_join(a, NULL, SMARM_FOREVER)) != 0 ||
	    (err = smarm_join(b->b, NULL, SMARM_FOREVER)) != 0)
		smarm_panic("join: %s", smarm_strerror(err));
	return NULL;
}

int main(int argc, char **argv)
{
	static struct bench b;
	uint64_t total = DEFAULT_ROUNDTRIPS;
	smarm_config cfg;

	if (bench_args(argc, argv, "round-trips", UINT32_MAX, &total, &cfg))
		return 2;
	b.n = total;
	if (bench_run("mailbox", &cfg, root, &b))
		return 1;
	if (b.a_done != b.n || b.b_done != b.n || b.t1 < b.t0) {
		fprintf(stderr, "mailbox: %" PRIu64 " round trips by A, %"
			PRIu64 " by B; expected %" PRIu64 "\n", b.a_done,
			b.b_done, b.n);
		return 1;
	}
	printf("bench=mailbox threads=%u value=%.2f unit=ns/roundtrip\n",
	       cfg.threads, (double)(b.t1 - b.t0) / (double)b.n);
	return 0;
}
