/*
 * blocking.c - smarm_block_on_io: blocking work on a bounded pool of
 * helper threads while the calling actor parks.
 *
 * Owns: the runtime's pool (struct smarm__pool, rt->pool) and its jobs.
 * May touch: sched.h (waiting in one's own word, waking from a plain
 * thread), poll.h (the signals a helper blocks) and below.
 *
 * A job lives on its actor's stack: the actor queues it, parks in its
 * own word, and leaves only once the helper is done with it.  Helpers
 * are started when a job finds none idle, up to io_threads; more jobs
 * wait in the queue, first come first served.  They end with the run
 * (smarm__pool_stop).  A cancel while the job is queued takes it out: it
 * never runs.  A cancel while it runs cannot stop fn; the actor waits for
 * it and then answers ECANCELED, the result in *result still.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>

#include "smarm.h"
#include "blocking.h"
#include "limit.h"
#include "poll.h"
#include "sched.h"

/* smarm__job.state */
enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_RELEASED };

typedef struct smarm__job {
	smarm_fn fn;
	void *arg;
	void *result;
	smarm__actor *actor;
	smarm__atomic state;
	struct smarm__job *next;
} smarm__job;

struct smarm__pool {
	pthread_mutex_t lock;
	pthread_cond_t work;          /* a job queued, or stop */
	smarm__job *head, *tail;
	unsigned max, nthreads, nidle;
	unsigned queued;              /* jobs no helper has taken yet */
	int stop;
	pthread_t *threads;
};

/* Run one job and hand it back.  Nothing of the job is touched after
 * JOB_RELEASED: the actor may return and reuse its stack. */
static void run_job(smarm__job *j)
{
	smarm__actor *a = j->actor;

	j->result = j->fn(j->arg);
	smarm__atomic_store_full(&j->state, JOB_DONE);
	if (smarm__cword_take(a))
		smarm__wake(a);
	smarm__atomic_store_release(&j->state, JOB_RELEASED);
}

static void *helper(void *p)
{
	struct smarm__pool *pool = p;
	smarm__job *j;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (pool->head == NULL && !pool->stop) {
			pool->nidle++;
			pthread_cond_wait(&pool->work, &pool->lock);
			pool->nidle--;
		}
		if (pool->head == NULL)
			break;
		j = pool->head;
		pool->queued--;
		pool->head = j->next;
		if (pool->head == NULL)
			pool->tail = NULL;
		smarm__atomic_store_relaxed(&j->state, JOB_RUNNING);
		pthread_mutex_unlock(&pool->lock);
		run_job(j);
		pthread_mutex_lock(&pool->lock);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* The runtime's pool, made on first use; NULL when out of memory. */
static struct smarm__pool *pool_of(struct smarm_runtime *rt)
{
	static pthread_mutex_t making = PTHREAD_MUTEX_INITIALIZER;
	struct smarm__pool *pool;

	pthread_mutex_lock(&making);
	pool = rt->pool;
	if (pool == NULL) {
		pool = calloc(1, sizeof(*pool));
		if (pool) {
			pool->max = rt->cfg.io_threads ? rt->cfg.io_threads :
				SMARM_IO_THREADS_DEFAULT;
			pool->threads = calloc(pool->max, sizeof(pthread_t));
			if (pool->threads == NULL) {
				free(pool);
				pool = NULL;
			} else {
				pthread_mutex_init(&pool->lock, NULL);
				pthread_cond_init(&pool->work, NULL);
				rt->pool = pool;
			}
		}
	}
	pthread_mutex_unlock(&making);
	return pool;
}

/* Queue j, starting a helper if none is idle and there is room for one:
 * 0, or EAGAIN when no helper runs and none could be started. */
static int submit(struct smarm__pool *pool, smarm__job *j)
{
	sigset_t all, old;
	int err = 0;

	pthread_mutex_lock(&pool->lock);
	/* An idle helper counts for one queued job: a burst of jobs finds
	 * one still asleep for each. */
	if (pool->nidle <= pool->queued && pool->nthreads < pool->max) {
		/* Helpers block every asynchronous signal, as workers do. */
		smarm__sigset_async(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		err = pthread_create(&pool->threads[pool->nthreads], NULL,
				     helper, pool);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (err == 0)
			pool->nthreads++;
		else if (pool->nthreads > 0)
			err = 0; /* the ones there will take it */
	}
	if (err == 0) {
		j->next = NULL;
		if (pool->tail)
			pool->tail->next = j;
		else
			pool->head = j;
		pool->tail = j;
		pool->queued++;
		pthread_cond_signal(&pool->work);
	}
	pthread_mutex_unlock(&pool->lock);
	return err ? EAGAIN : 0;
}

/* Take a job that no helper has begun out of the queue: nonzero when it
 * was there. */
static int withdraw(struct smarm__pool *pool, smarm__job *j)
{
	smarm__job **pp, *prev = NULL;
	int found = 0;

	pthread_mutex_lock(&pool->lock);
	for (pp = &pool->head; *pp; prev = *pp, pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			if (pool->tail == j)
				pool->tail = prev;
			pool->queued--;
			found = 1;
			break;
		}
	pthread_mutex_unlock(&pool->lock);
	return found;
}

int smarm_block_on_io(smarm_fn fn, void *arg, void **result)
{
	smarm__worker *w = smarm__worker_at_entry();
	struct smarm__pool *pool;
	smarm__actor *self;
	smarm__job j;
	int r, cancelled = 0;
	unsigned i;

	if (w == NULL)
		return EPERM;
	if (fn == NULL)
		return EINVAL;
	self = smarm__current(w);
	if (smarm__cancel_take(self))
		return ECANCELED; /* cancelled before: nothing runs */
	pool = pool_of(smarm__worker_rt(w));
	if (pool == NULL)
		return ENOMEM;
	j.fn = fn;
	j.arg = arg;
	j.result = NULL;
	j.actor = self;
	smarm__atomic_store_relaxed(&j.state, JOB_QUEUED);
	r = submit(pool, &j);
	if (r) {
		smarm__limit_hit(&smarm__worker_rt(w)->limits_said,
				 SMARM__LIMIT_THREADS, "smarm_block_on_io", 0);
		return r;
	}
	smarm__why(self, SMARM__WHY_BLOCKING, 0);
	for (;;) {
		smarm__self_announce(self);
		if (smarm__atomic_load_acquire(&j.state) >= JOB_DONE) {
			smarm__self_unwait(self, SMARM__PARK_OPEN);
			break;
		}
		r = smarm__self_park(self, SMARM_FOREVER, SMARM__PARK_OPEN);
		if (r != 0)
			smarm__self_unwait(self, SMARM__PARK_OPEN);
		if (r == ECANCELED) {
			if (withdraw(pool, &j))
				return ECANCELED;
			cancelled = 1;
		}
	}
	/* The helper may still be on its way out of run_job. */
	for (i = 0; smarm__atomic_load_acquire(&j.state) != JOB_RELEASED; i++)
		if (i < 100)
			__builtin_ia32_pause();
		else
			sched_yield();
	if (result)
		*result = j.result;
	/* A cancel that came while fn ran, its wake after fn's. */
	if (!cancelled && smarm__cancel_take(self))
		cancelled = 1;
	return cancelled ? ECANCELED : 0;
}

void smarm__pool_stop(struct smarm_runtime *rt)
{
	struct smarm__pool *pool = rt->pool;
	unsigned i;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stop = 1;
	/* Jobs of actors a run abandoned never run. */
	pool->head = pool->tail = NULL;
	pool->queued = 0;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	for (i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->work);
	free(pool->threads);
	free(pool);
	rt->pool = NULL;
}
