/*
 * idle.h - a worker with nothing to run: stealing, spinning, sleeping,
 * and the worker's loop.
 *
 * Owns (idle.c): the worker's loop; looking for work beyond its own
 * queues (the global queue, other workers' queues and expired timers, a
 * run-next stuck behind a long-running actor); spinning and sleeping; the
 * end of a run; a worker's set-up for a run and the sum of its counters.
 * With sched.c the only code that knows a worker's fields (worker.h).
 *
 * May touch: sched.h (and what it includes).  Called by runtime.c, and
 * by the tests for what they look at (introspection, below).
 */
#ifndef SMARM_IDLE_H
#define SMARM_IDLE_H

#include "sched.h"

/* Set up and tear down a runtime's workers (smarm_runtime_new/free). */
int smarm__idle_init(struct smarm_runtime *rt);
void smarm__idle_fini(struct smarm_runtime *rt);

/* Before a run: empty queues, counters of what earlier runs left. */
void smarm__idle_prepare(struct smarm_runtime *rt);

/* The calling thread acts as worker i while the run is set up (the root
 * is spawned from it); NULL again afterwards. */
void smarm__idle_adopt(struct smarm_runtime *rt, unsigned i);
void smarm__idle_leave(void);

/* Run worker i of rt on the calling thread until the run is over. */
void smarm__idle_work(struct smarm_runtime *rt, unsigned i);

/* Rouse every worker, to look again at what the run is up to. */
void smarm__idle_rouse_all(struct smarm_runtime *rt);

/* After a run: the workers' cached slots go back to the table. */
void smarm__idle_release(struct smarm_runtime *rt);

/* Sum the workers' counters into out. */
void smarm__idle_stats(struct smarm_runtime *rt, smarm_stats *out);

/* What a dump or the watchdog sees of a worker, from any thread: racy
 * loads only, so safe in a signal handler and beside a stopped worker. */
typedef struct smarm__wpeek {
	smarm__actor *current;        /* the actor it runs; NULL in its loop */
	uint64_t switches;            /* switches to an actor, ever */
	unsigned queued;              /* run-next, deque, run queue, and 1
					 for any pinned actors */
	int asleep;                   /* in its sleep (idle.c), not spinning */
} smarm__wpeek;

void smarm__idle_peek(struct smarm_runtime *rt, unsigned i,
		      smarm__wpeek *out);

/* The number of worker w of rt. */
unsigned smarm__idle_index(struct smarm_runtime *rt, smarm__worker *w);

/* ---- introspection (tests, diagnostics): the calling actor's (idle.c) ----- */

struct smarm_runtime *smarm__runtime_self(void);
smarm__actor *smarm__actor_self(void);
unsigned smarm__worker_id_self(void);
int smarm__worker_spinning_self(void);
unsigned smarm__worker_slots_cached(void);
unsigned smarm__worker_stacks_cached(void);
smarm__timers *smarm__worker_timers_self(void);

#endif /* SMARM_IDLE_H */
