/*
 * benchutil.h - what the benchmarks share: the -t option, numeric
 * arguments, running a root actor in a runtime with every failure
 * reported the same way, and the rounds of a program that times several
 * (the first, which a user meets in a fresh process, and the median), and
 * the process's resident set.
 *
 * Header-only (static functions), included by each program.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#ifndef SMARM_BENCHUTIL_H
#define SMARM_BENCHUTIL_H

#include <smarm.h>

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Parse the options (only -t THREADS, 1 or more): 0, or -1 when they are
 * bad.  *threads stays 0 without -t (smarm_config_init decides).  The
 * arguments left start at optind. */
static __attribute__((unused)) int bench_opts(int argc, char **argv,
					     unsigned *threads)
{
	unsigned long t;
	char *end;
	int c;

	*threads = 0;
	while ((c = getopt(argc, argv, "t:")) != -1) {
		if (c != 't')
			return -1;
		t = strtoul(optarg, &end, 10);
		if (*end || *optarg < '0' || *optarg > '9' || t < 1 ||
		    t > UINT_MAX)
			return -1;
		*threads = (unsigned)t;
	}
	return 0;
}

/* A decimal number in [min, max]: 0, or -1 when s is not one. */
static __attribute__((unused)) int bench_num(const char *s, uint64_t min,
					     uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoull(s, &end, 10);
	if (*end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * The arguments of a program run as "prog [-t threads] [count]": cfg from
 * smarm_config_init with -t applied, *count from the argument when there
 * is one (in [1, max]; it keeps its default otherwise).  0, or 2 after a
 * usage line naming `what` on stderr.
 */
static __attribute__((unused)) int bench_args(int argc, char **argv,
					      const char *what, uint64_t max,
					      uint64_t *count,
					      smarm_config *cfg)
{
	unsigned threads;

	if (bench_opts(argc, argv, &threads) || argc - optind > 1 ||
	    (argc - optind == 1 &&
	     bench_num(argv[optind], 1, max, count))) {
		fprintf(stderr, "usage: %s [-t threads >= 1] [%s >= 1]\n",
			argv[0], what);
		return 2;
	}
	smarm_config_init(cfg);
	if (threads)
		cfg->threads = threads;
	return 0;
}

/* Run root(arg) in a runtime made from cfg: 0, or 1 after a message
 * "name: ..." on stderr (no runtime, a panic and its reason, or another
 * error of the run). */
static __attribute__((unused)) int
bench_run(const char *name, const smarm_config *cfg, smarm_fn root, void *arg)
{
	smarm_runtime *rt;
	void *reason = NULL;
	int err;

	err = smarm_runtime_new(&rt, cfg);
	if (err) {
		fprintf(stderr, "%s: smarm_runtime_new (threads=%u): %s\n",
			name, cfg->threads, smarm_strerror(err));
		return 1;
	}
	err = smarm_runtime_run(rt, root, arg, &reason);
	smarm_runtime_free(rt);
	if (err == SMARM_EPANIC) {
		fprintf(stderr, "%s: %s\n", name,
			reason ? (char *)reason : "(no reason)");
		free(reason);
		return 1;
	}
	if (err) {
		fprintf(stderr, "%s: smarm_runtime_run: %s\n", name,
			smarm_strerror(err));
		return 1;
	}
	return 0;
}

/* The times of a program's rounds, the first one first: nothing is
 * warmed up untimed, so the first round is what a program that does the
 * work once pays. */
#define BENCH_MAX_ROUNDS 64

struct bench_rounds {
	uint64_t t[BENCH_MAX_ROUNDS];
	unsigned n;
};

static __attribute__((unused)) void bench_round(struct bench_rounds *r,
						uint64_t ns)
{
	if (r->n < BENCH_MAX_ROUNDS)
		r->t[r->n++] = ns;
}

/* The median of the rounds (the mean of the middle two for an even
 * count); 0 when there are none. */
static __attribute__((unused)) double
bench_median(const struct bench_rounds *r)
{
	uint64_t s[BENCH_MAX_ROUNDS], x;
	unsigned i, j;

	if (r->n == 0)
		return 0;
	for (i = 0; i < r->n; i++) {
		/* insertion sort: a handful of rounds */
		x = r->t[i];
		for (j = i; j > 0 && s[j - 1] > x; j--)
			s[j] = s[j - 1];
		s[j] = x;
	}
	return r->n % 2 ? (double)s[r->n / 2] :
		((double)s[r->n / 2 - 1] + (double)s[r->n / 2]) / 2;
}

/* The resident set of this process in bytes (/proc/self/statm), or 0
 * when unknown. */
static __attribute__((unused)) uint64_t bench_rss(void)
{
	unsigned long long size, resident;
	long page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/statm", "r");
	int got;

	if (!f)
		return 0;
	got = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	if (got != 2 || page <= 0)
		return 0;
	return (uint64_t)resident * (uint64_t)page;
}

/* In an actor: join pid; its panic becomes the caller's, with its
 * reason; who names it in other errors. */
static __attribute__((unused)) void bench_join(smarm_pid pid, const char *who)
{
	void *res = NULL;
	int err = smarm_join(pid, &res, SMARM_FOREVER);

	if (err == SMARM_EPANIC)
		smarm_panic("%s", res ? (char *)res : "(no reason)");
	if (err)
		smarm_panic("join %s: %s", who, smarm_strerror(err));
}

#endif /* SMARM_BENCHUTIL_H */
