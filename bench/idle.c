/*
 * idle.c - CPU used by a runtime whose actors all sleep.
 *
 * 100 actors each sleep 2 s (default) in one smarm_sleep call; the
 * program measures the process's CPU time (user + system, all threads)
 * across the run and reports it as a percentage of the wall time.  An
 * idle runtime should cost next to nothing: its workers sleep in the
 * kernel until the first deadline.
 *
 * Usage: idle [-t threads] [seconds]        (default 2)
 * Prints: bench=idle threads=<n> value=<CPU %> unit=%cpu
 * Exits 1 when the run fails or an actor woke early.
 */
#include <smarm.h>

#include "benchutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define ACTORS 100

static uint64_t sleep_ns;

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) *
		1000000000u +
		((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) *
		1000u;
}

static void *sleeper(void *arg)
{
	uint64_t t0 = smarm_now();
	int err = smarm_sleep(sleep_ns);

	(void)arg;
	if (err)
		smarm_panic("smarm_sleep: %s", smarm_strerror(err));
	if (smarm_now() - t0 < sleep_ns)
		smarm_panic("woke after %llu ns of %llu",
			    (unsigned long long)(smarm_now() - t0),
			    (unsigned long long)sleep_ns);
	return NULL;
}

static void *root(void *arg)
{
	smarm_pid pids[ACTORS];
	int i, err;

	(void)arg;
	for (i = 0; i < ACTORS; i++) {
		err = smarm_spawn(&pids[i], sleeper, NULL);
		if (err)
			smarm_panic("smarm_spawn: %s", smarm_strerror(err));
	}
	for (i = 0; i < ACTORS; i++) {
		err = smarm_join(pids[i], NULL, SMARM_FOREVER);
		if (err)
			smarm_panic("actor %d: %s", i, smarm_strerror(err));
	}
	return NULL;
}

int main(int argc, char **argv)
{
	smarm_config cfg;
	smarm_runtime *rt;
	uint64_t w0, w1, c0, c1;
	double secs = 2.0;
	unsigned threads;
	int err;

	if (bench_opts(argc, argv, &threads) || argc - optind > 1) {
		fprintf(stderr, "usage: %s [-t threads] [seconds]\n", argv[0]);
		return 1;
	}
	smarm_config_init(&cfg);
	if (threads)
		cfg.threads = threads;
	if (optind < argc)
		secs = atof(argv[optind]);
	if (secs <= 0 || secs > 3600) {
		fprintf(stderr, "idle: seconds must be in (0, 3600]\n");
		return 1;
	}
	sleep_ns = (uint64_t)(secs * 1e9);
	err = smarm_runtime_new(&rt, &cfg);
	if (err) {
		fprintf(stderr, "idle: smarm_runtime_new: %s\n",
			smarm_strerror(err));
		return 1;
	}
	w0 = smarm_now();
	c0 = cpu_ns();
	err = smarm_runtime_run(rt, root, NULL, NULL);
	c1 = cpu_ns();
	w1 = smarm_now();
	smarm_runtime_free(rt);
	if (err) {
		fprintf(stderr, "idle: smarm_runtime_run: %s\n",
			smarm_strerror(err));
		return 1;
	}
	printf("bench=idle threads=%u value=%.3f unit=%%cpu\n", cfg.threads,
	       100.0 * (double)(c1 - c0) / (double)(w1 - w0));
	return 0;
}
