/*
 * restart.c - cost of one restart: a supervised child panics, its
 * supervisor receives the signal and starts it again.
 *
 * The root runs smarm_supervisor_run over one SMARM_TRANSIENT child that
 * panics at once, N times; the N + 1-th start returns normally, and the
 * supervisor returns 0.  Each restart is a panic (its reason formatted
 * and copied into the signal), the child's end, the signal through the
 * supervisor's mailbox, the supervisor's restart bookkeeping and a spawn
 * with options.  The intensity is set so that it is never reached.
 *
 * Usage: restart [-t threads] [restarts]   (default 100,000)
 * Prints: bench=restart threads=<n> value=<ns per restart> unit=ns/restart
 * Exits 1 when the run fails its own checks: N + 1 starts, and the
 * supervisor's result 0.
 */
#include <smarm.h>

#include "benchutil.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_RESTARTS 100000ul

struct bench {
	uint64_t n;          /* restarts */
	uint64_t starts;     /* the child's, written by it only: one runs at
				a time, and each start follows the end of
				the one before through the supervisor */
	uint64_t t0, t1;
	int result;
};

static void *child(void *arg)
{
	struct bench *b = arg;

	if (b->starts++ < b->n)
		smarm_panic("restart me");
	return NULL;
}

static void *root(void *arg)
{
	struct bench *b = arg;
	smarm_child_spec kid;
	smarm_sup_spec spec;

	memset(&kid, 0, sizeof(kid));
	kid.name = "child";
	kid.fn = child;
	kid.arg = b;
	kid.restart = SMARM_TRANSIENT;
	memset(&spec, 0, sizeof(spec));
	spec.strategy = SMARM_ONE_FOR_ONE;
	spec.intensity = 1;
	spec.period = 1; /* 1 ns: two restarts never fall within it */
	spec.children = &kid;
	spec.nchildren = 1;
	b->t0 = smarm_now();
	b->result = smarm_supervisor_run(&spec);
	b->t1 = smarm_now();
	return NULL;
}

int main(int argc, char **argv)
{
	static struct bench b;
	uint64_t total = DEFAULT_RESTARTS;
	smarm_config cfg;

	if (bench_args(argc, argv, "restarts", UINT32_MAX, &total, &cfg))
		return 2;
	b.n = total;
	if (bench_run("restart", &cfg, root, &b))
		return 1;
	if (b.result != 0 || b.starts != b.n + 1) {
		fprintf(stderr, "restart: supervisor %d, %" PRIu64
			" starts; expected 0 and %" PRIu64 "\n", b.result,
			b.starts, b.n + 1);
		return 1;
	}
	printf("bench=restart threads=%u value=%.2f unit=ns/restart\n",
	       cfg.threads, (double)(b.t1 - b.t0) / (double)b.n);
	return 0;
}
