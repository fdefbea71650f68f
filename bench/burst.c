/*
 * burst.c - what a burst of actors leaves behind once it has ended.
 *
 * The root reads the process's resident set (/proc/self/statm), then runs
 * WAVES waves of COUNT detached actors.  Each actor sleeps until a time
 * set HOLD_MS after its wave began, so every actor of a wave holds its
 * stack at the same time, and then ends; the root waits until the wave
 * has ended.  The peak is the kernel's high-water mark of
 * the resident set (VmHWM in /proc/self/status).  After
 * the last wave the root sleeps IDLE_MS, so that every worker goes idle,
 * and reads the resident set again.  What the bursts leave behind is the
 * difference between that and the first reading: a server that once had
 * COUNT actors alive should get its memory back.
 *
 * Usage: burst [-t threads] [count [waves [idle-ms]]]
 *   (default 100,000 actors, 5 waves, 1,000 ms)
 *   -t sets the number of worker threads; by default smarm_config_init()
 *   picks it (SMARM_THREADS from the environment, see smarm_config_init(3)).
 * Prints: bench=burst threads=<n> value=<MiB left after the idle time>
 *   before=<MiB before> peak=<MiB at the largest wave> unit=MiB
 * Exits 1 when the run fails its own checks: every actor of every wave
 * must have run to its end.
 */
#include <smarm.h>

#include "benchutil.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define DEFAULT_ACTORS 100000ul
#define DEFAULT_WAVES 5ul
#define HOLD_MS 300u
#define DEFAULT_IDLE_MS 1000ul
#define MS 1000000ull

struct bench {
	uint64_t n, waves, idle_ms;
	uint64_t rss0, peak, rss1;	/* bytes resident */
	uint64_t release;		/* when this wave's actors end */
	atomic_ulong ended;		/* actors of the current wave */
	unsigned long total;		/* actors that ended, all waves */
};

/* The peak resident set of this process in bytes (VmHWM), or 0 when
 * unknown. */
static uint64_t hwm_bytes(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	unsigned long long kb = 0;
	char line[128];

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024u;
}

static void *member(void *arg)
{
	struct bench *b = arg;
	uint64_t now = smarm_now();

	if (now < b->release)
		smarm_sleep(b->release - now);
	atomic_fetch_add_explicit(&b->ended, 1, memory_order_release);
	return NULL;
}

static void *root(void *arg)
{
	struct bench *b = arg;
	smarm_spawn_opts opts;
	uint64_t w, i;
	int err;

	smarm_spawn_opts_init(&opts);
	opts.flags = SMARM_SPAWN_DETACHED;
	b->rss0 = bench_rss();
	for (w = 0; w < b->waves; w++) {
		atomic_store(&b->ended, 0);
		b->release = smarm_now() + HOLD_MS * MS;
		for (i = 0; i < b->n; i++) {
			err = smarm_spawn_opt(NULL, member, b, &opts);
			if (err)
				smarm_panic("wave %llu, actor %llu: spawn: %s",
					    (unsigned long long)w,
					    (unsigned long long)i,
					    smarm_strerror(err));
		}
		/* The wave runs while the root waits. */
		do
			smarm_sleep(1 * MS);
		while (atomic_load_explicit(&b->ended, memory_order_acquire) <
		       b->n);
		b->total += b->n;
	}
	b->peak = hwm_bytes();
	smarm_sleep(b->idle_ms * MS);
	b->rss1 = bench_rss();
	return NULL;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-t threads >= 1] [count >= 1 [waves >= 1 "
		"[idle-ms]]]\n", prog);
}

int main(int argc, char **argv)
{
	static struct bench b;
	smarm_config cfg;
	unsigned threads;

	b.n = DEFAULT_ACTORS;
	b.waves = DEFAULT_WAVES;
	b.idle_ms = DEFAULT_IDLE_MS;
	if (bench_opts(argc, argv, &threads) || argc - optind > 3 ||
	    (argc - optind >= 1 &&
	     bench_num(argv[optind], 1, 100000000, &b.n)) ||
	    (argc - optind >= 2 &&
	     bench_num(argv[optind + 1], 1, 100000, &b.waves)) ||
	    (argc - optind == 3 &&
	     bench_num(argv[optind + 2], 0, 3600000, &b.idle_ms))) {
		usage(argv[0]);
		return 2;
	}
	smarm_config_init(&cfg);
	if (threads)
		cfg.threads = threads;
	if (bench_run("burst", &cfg, root, &b))
		return 1;
	if (b.total != b.n * b.waves) {
		fprintf(stderr, "burst: %lu actors ended, want %llu\n",
			b.total, (unsigned long long)(b.n * b.waves));
		return 1;
	}
	if (b.rss0 == 0 || b.rss1 == 0) {
		fprintf(stderr, "burst: cannot read /proc/self/statm\n");
		return 1;
	}
	printf("bench=burst threads=%u value=%.2f before=%.2f peak=%.2f "
	       "unit=MiB\n", cfg.threads,
	       ((double)b.rss1 - (double)b.rss0) / (1024.0 * 1024.0),
	       (double)b.rss0 / (1024.0 * 1024.0),
	       (double)b.peak / (1024.0 * 1024.0));
	return 0;
}
