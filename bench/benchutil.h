/*
 * benchutil.h - what the multi-worker benchmarks share: the -t option,
 * numeric arguments, and running a root actor in a runtime with every
 * failure reported the same way.
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
static int bench_opts(int argc, char **argv, unsigned *threads)
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

#endif /* SMARM_BENCHUTIL_H */
