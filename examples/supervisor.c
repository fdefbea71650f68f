/*
 * supervisor.c - a supervision tree restarting a crashing worker.
 *
 * The root runs a one-for-one supervisor over two children: a "counter"
 * that counts requests in its mailbox, and a nested supervisor ("flaky
 * tree") whose worker panics on every third job.  The flaky worker is
 * restarted each time it panics, while the counter keeps its count.  When
 * the jobs are done the feeder cancels the tree, the supervisors cancel
 * their children, and everything ends in order.
 *
 *   $ cc supervisor.c $(pkg-config --cflags --libs smarm) -o supervisor
 *   $ ./supervisor
 *   flaky worker: started (1)
 *   flaky worker: job 1 done
 *   flaky worker: job 2 done
 *   flaky worker: started (2)
 *   flaky worker: job 4 done
 *   flaky worker: job 5 done
 *   flaky worker: started (3)
 *   flaky worker: job 7 done
 *   flaky worker: job 8 done
 *   flaky worker: started (4)
 *   counter: 9 requests
 *   tree stopped: Cancelled (smarm_cancel, or a deadline passed)
 */
#include <smarm.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOBS 9

/* The actors find one another by name through these pids. */
static _Atomic uint64_t counter_pid, worker_pid;
static atomic_int starts;

/* Counts the requests in its mailbox until it is cancelled. */
static void *counter(void *arg)
{
	smarm_msg m;
	int n = 0;

	(void)arg;
	atomic_store(&counter_pid, smarm_self().id);
	while (smarm_receive(&m, SMARM_FOREVER) == 0)
		n++;
	printf("counter: %d requests\n", n);
	return NULL;
}

/* Does jobs from its mailbox; every third one makes it panic. */
static void *flaky(void *arg)
{
	smarm_msg m;
	smarm_pid c;

	(void)arg;
	printf("flaky worker: started (%d)\n", atomic_fetch_add(&starts, 1) + 1);
	atomic_store(&worker_pid, smarm_self().id);
	while (smarm_receive(&m, SMARM_FOREVER) == 0) {
		int job = (int)(intptr_t)m.data;

		c.id = atomic_load(&counter_pid);
		smarm_send_to(c, NULL); /* count it */
		if (job % 3 == 0)
			smarm_panic("job %d is cursed", job);
		printf("flaky worker: job %d done\n", job);
	}
	return NULL; /* cancelled */
}

/* A nested supervisor: restarts the flaky worker, at most 5 times a
 * second. */
static void *flaky_tree(void *arg)
{
	static const smarm_child_spec kids[] = {
		{ .name = "flaky worker", .fn = flaky,
		  .restart = SMARM_PERMANENT },
	};
	smarm_sup_spec spec;

	(void)arg;
	memset(&spec, 0, sizeof(spec));
	spec.strategy = SMARM_ONE_FOR_ONE;
	spec.intensity = 5;
	spec.period = 1000000000;
	spec.children = kids;
	spec.nchildren = 1;
	return (void *)(intptr_t)smarm_supervisor_run(&spec);
}

static void *tree(void *arg)
{
	static const smarm_child_spec kids[] = {
		{ .name = "counter", .fn = counter, .restart = SMARM_PERMANENT },
		{ .name = "flaky tree", .fn = flaky_tree,
		  .restart = SMARM_PERMANENT },
	};
	smarm_sup_spec spec;

	(void)arg;
	memset(&spec, 0, sizeof(spec));
	spec.strategy = SMARM_ONE_FOR_ONE;
	spec.children = kids;
	spec.nchildren = 2;
	return (void *)(intptr_t)smarm_supervisor_run(&spec);
}

/* Feeds the jobs one at a time, to whichever flaky worker is alive. */
static void *root(void *arg)
{
	smarm_pid top, w;
	void *res;
	int job, err;

	(void)arg;
	if (smarm_spawn(&top, tree, NULL) != 0)
		smarm_panic("spawn failed");
	for (job = 1; job <= JOBS; job++) {
		/* Wait for a worker, and for the one before to be gone. */
		while ((w.id = atomic_load(&worker_pid)) == 0)
			smarm_sleep(1000000);
		if (smarm_send_to(w, (void *)(intptr_t)job) != 0) {
			job--; /* it was just replaced: again */
			atomic_compare_exchange_strong(&worker_pid,
						       &(uint64_t){ w.id }, 0);
			continue;
		}
		if (job % 3 == 0)
			atomic_compare_exchange_strong(&worker_pid,
						       &(uint64_t){ w.id }, 0);
		smarm_sleep(2000000);
	}
	/* The last job's panic has restarted the worker once more: every
	 * request was counted.  Stop the tree. */
	while (atomic_load(&starts) < JOBS / 3 + 1)
		smarm_sleep(1000000);
	smarm_cancel(top);
	err = smarm_join(top, &res, SMARM_FOREVER);
	if (err)
		smarm_panic("join: %s", smarm_strerror(err));
	printf("tree stopped: %s\n", smarm_strerror((int)(intptr_t)res));
	return NULL;
}

int main(void)
{
	int err = smarm_run(root, NULL, NULL);

	if (err) {
		fprintf(stderr, "supervisor: %s\n", smarm_strerror(err));
		return 1;
	}
	return 0;
}
