/*
 * worker.h - a worker's fields: private to sched.c (with its timers'
 * half, sched_timer.c) and idle.c, the two halves of the worker.  No
 * other file includes this (tests/check_layers.sh checks); everything
 * else goes through sched.h and idle.h.
 *
 * A runtime has `threads` workers: the thread that calls
 * smarm_runtime_run is worker 0, the others are threads started for the
 * run.  Each worker runs actors from, in order of preference:
 *
 *   runnext   one actor to run next: the one its current actor just woke
 *             or spawned, so a message's receiver runs right after its
 *             sender parks;
 *   dq        what runnext held before (deque.h), newest first, so that a
 *             spawning tree unfolds depth first; idle workers steal its
 *             oldest, the biggest piece of a tree;
 *   runq      its run queue (runq.h) of actors that yielded, timed out or
 *             were woken from elsewhere, oldest first; idle workers steal
 *             half of it;
 *   pinned    actors spawned with SMARM_SPAWN_PINNED, which never leave;
 *
 * and, when those run dry, from its inbox (pinned actors other threads
 * woke), the global queue (wakes from plain threads, a full run queue's
 * overflow), other workers' run queues and expired timers, and a run-next
 * actor whose worker has kept running another for a while.
 *
 * The sleep handshake (idle.c sleeps; sched.c and idle.c rouse, with the
 * functions at the end of this file): see idle.c.
 *
 * Owns: the worker's fields, for sched.c, sched_timer.c and idle.c.
 * May touch: sched.h, the queues, timer.h.
 */
#ifndef SMARM_WORKER_H
#define SMARM_WORKER_H

#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sched.h"
#include "atomic.h"
#include "deque.h"
#include "lock.h"
#include "mpscq.h"
#include "runq.h"
#include "timer.h"

/* smarm__worker.sleeping */
enum {
	SMARM__AWAKE = 0,
	SMARM__ASLEEP = 1,    /* asleep, and looks around by itself in time */
	SMARM__CLAIMED = 2,   /* woken by a waker, to look for work */
	SMARM__DEEP = 3       /* asleep until roused: every worker was idle */
};

struct smarm__worker {
	smarm__worker_head h;         /* first: sched.h's inline accessors */
	/* Its own thread's. */
	smarm__actor *prev;           /* switched away from, see after_switch */
	unsigned prev_op;
	void *sp;                     /* the worker context, while actors run */
	SMARM__FIBER_FIELD            /* sanitizer builds only */
	smarm__actor *pin_head, *pin_tail; /* runnable pinned actors */
	smarm__stack *spare;          /* for an actor no stack is left for */
	uint32_t tick;                /* scheduling decisions */
	uint32_t nnext;               /* runnext picks in a row */
	unsigned id;
	int spinning;                 /* counted in rt->nspinning */
	int dozing;                   /* sleeps ended by their timeout in a row */
	int alone;                    /* the runtime's only worker */
	uint64_t rng;                 /* victim order */
	/* Its timers: the owner adds, anyone fires or cancels, under tlock. */
	smarm__lock tlock;
	smarm__timers timers;
	smarm__atomic tnext;          /* earliest deadline, UINT64_MAX = none */
	/* Read by other workers. */
	smarm__atomic nopen;          /* open parks, +/- per worker */
	smarm__atomic seen_switches;  /* an idle worker's look at st.switches */
	smarm__atomic seen_at;        /* ... and when it looked */
	/* Stolen from. */
	smarm__atomic runnext __attribute__((aligned(64)));
	smarm__deque dq;
	smarm__runq rq;
	/* Written by other threads: pinned actors they woke for this worker,
	 * and the sleep handshake (idle.c). */
	smarm__mpscq inbox __attribute__((aligned(64)));
	smarm__mpscq_node inbox_stub;
	smarm__atomic sleeping;       /* SMARM__AWAKE, ... */
	smarm__atomic in_kernel;      /* 1 while in (or entering) futex wait,
					 2 in epoll_wait (poll.c) */
	smarm__atomic_u32 idle_seq;   /* futex word; bumped to wake it */
};

static inline void smarm__futex_wake(smarm__atomic_u32 *word, int n)
{
	syscall(SYS_futex, &word->v, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* Bump a worker's futex word and wake it.  A sleeping worker spins a
 * little before it enters the kernel (idle.c): the bump alone ends that,
 * and the system call is made only when it is in, or entering, its futex
 * wait, or the eventfd written when it polls (in epoll_wait).  Both
 * sides store, full barrier, then load: either we see in_kernel, or it
 * sees the new word and does not wait. */
static inline void smarm__rouse(smarm__worker *v)
{
	static const uint64_t one = 1;
	AO_t k;

	smarm__atomic_u32_fetch_add_full(&v->idle_seq, 1);
	k = smarm__atomic_load_acquire(&v->in_kernel);
	if (k == 1)
		smarm__futex_wake(&v->idle_seq, 1);
	else if (k == 2)
		/* Cannot fail but when the counter is full: awake already. */
		(void)!write(v->h.rt->io_efd, &one, sizeof(one));
}

/* ---- rousing idle workers: the waking half of the sleep handshake ------- */


/* Is some worker asleep, and not claimed yet? */
static inline int smarm__sleeper_any(struct smarm_runtime *rt)
{
	unsigned i;

	for (i = 0; i < rt->nworkers; i++) {
		AO_t s = smarm__atomic_load_acquire(&rt->workers[i].sleeping);

		if (s == SMARM__ASLEEP || s == SMARM__DEEP)
			return 1;
	}
	return 0;
}

/* There is work any worker may take: wake a sleeping worker, as a
 * spinner, unless one already spins (it will find the work). */
static __attribute__((noinline, unused)) void
smarm__wake_one_slow(struct smarm_runtime *rt)
{
	unsigned i, n = rt->nworkers;

	/* Counting the new spinner first keeps two wakers from waking two
	 * workers for one piece of work. */
	while (smarm__atomic_cas_full(&rt->nspinning, 0, 1)) {
		for (i = 0; i < n; i++) {
			smarm__worker *v = &rt->workers[i];
			AO_t s = smarm__atomic_load_acquire(&v->sleeping);

			if ((s == SMARM__ASLEEP || s == SMARM__DEEP) &&
			    smarm__atomic_cas_full(&v->sleeping, s,
						   SMARM__CLAIMED)) {
				smarm__rouse(v);
				return;
			}
		}
		smarm__atomic_fetch_add_full(&rt->nspinning, (AO_t)-1);
		/* Nobody was asleep.  But while we counted as a spinner,
		 * another waker may have left its work to us, and every
		 * worker gone to sleep after our look without seeing that
		 * work (pushed after their last look): then nothing would
		 * wake them but a timer, and without timers they would
		 * sleep for ever.  So look again, now that we no longer
		 * count: a worker asleep now is woken; one that goes to
		 * sleep later sees the work before it sleeps. */
		if (!smarm__sleeper_any(rt))
			return;
	}
}

static inline void smarm__wake_one(struct smarm_runtime *rt)
{
	if (smarm__atomic_load_relaxed(&rt->nsleeping) != 0 &&
	    smarm__atomic_load_relaxed(&rt->nspinning) == 0)
		smarm__wake_one_slow(rt);
}

/* This worker just queued work that others may take (in its queues or
 * the global queue): wake one if needed.  The barrier orders the work's
 * stores before the look at nsleeping and nspinning, as idle_sleep
 * orders its announce before its look at the queues: without it, x86 may
 * let the look pass the stores, both sides miss each other, and the work
 * waits until this worker switches, however long its actor runs. */
static inline void smarm__wake_after(smarm__worker *w)
{
	if (w->alone)
		return; /* nobody to wake */
	smarm__atomic_fence_full();
	smarm__wake_one(w->h.rt);
}

/* Rouse a deep sleeper: it goes back to sleep as one that looks around
 * by itself in time, now that a worker is busy. */
static __attribute__((noinline, unused)) void
smarm__wake_deep_slow(struct smarm_runtime *rt)
{
	unsigned i;

	for (i = 0; i < rt->nworkers; i++) {
		smarm__worker *v = &rt->workers[i];

		if (smarm__atomic_load_acquire(&v->sleeping) == SMARM__DEEP &&
		    smarm__atomic_cas_full(&v->sleeping, SMARM__DEEP,
					   SMARM__ASLEEP)) {
			smarm__rouse(v);
			return;
		}
	}
}

/*
 * This worker holds work only it takes at once (a run-next actor, a
 * timer) and its actor may run on for long: make sure no sleeper stays
 * deaf to it.  One load when there is no deep sleeper.  No barrier is
 * needed: a sleeper goes deep only when it finds every worker asleep
 * after counting itself in ndeep (both locked instructions), and this
 * worker counted itself awake again with a locked instruction before it
 * ran anything, so the load below comes after the sleeper's count.
 */
static inline void smarm__wake_deep(smarm__worker *w)
{
	if (!w->alone && smarm__atomic_load_relaxed(&w->h.rt->ndeep) != 0)
		smarm__wake_deep_slow(w->h.rt);
}

static inline smarm__actor *smarm__link_actor(smarm__mpscq_node *n)
{
	return (smarm__actor *)((char *)n - offsetof(smarm__actor, wake_link));
}

/* Might the global queue hold something?  One load. */
static inline int smarm__global_maybe(struct smarm_runtime *rt)
{
	return smarm__mpscq_maybe(&rt->inject, &rt->inject_stub);
}

/* ---- the worker's queues, for both halves ---------------------------------- */

/* Anything in this worker's own queues? */
static inline int smarm__local_work(smarm__worker *w)
{
	return smarm__atomic_load_relaxed(&w->runnext) != 0 ||
		smarm__runq_len(&w->rq) != 0 ||
		smarm__deque_maybe(&w->dq) || w->pin_head != NULL;
}

/* The run queue is full: move half of it, and a, to the global queue. */
static __attribute__((noinline, unused)) void
smarm__overflow(smarm__worker *w, smarm__actor *a)
{
	void *batch[SMARM__RUNQ_SIZE / 2 + 1];
	size_t n = smarm__runq_steal(&w->rq, batch), i;

	/* One chain, oldest first and a last: one push for the lot. */
	batch[n] = a;
	for (i = 0; i < n; i++)
		smarm__atomic_store_relaxed(
			&((smarm__actor *)batch[i])->wake_link.next,
			(AO_t)&((smarm__actor *)batch[i + 1])->wake_link);
	smarm__mpscq_push_chain(&w->h.rt->inject,
				&((smarm__actor *)batch[0])->wake_link,
				&a->wake_link);
	smarm__wake_one_slow(w->h.rt);
}

/* Make a runnable on this worker (not in runnext). */
static inline void smarm__local_push(smarm__worker *w, smarm__actor *a)
{
	if (__builtin_expect(a->pinned, 0)) {
		a->next = NULL;
		if (w->pin_tail)
			w->pin_tail->next = a;
		else
			w->pin_head = a;
		w->pin_tail = a;
		return;
	}
	if (__builtin_expect(smarm__runq_push(&w->rq, a) != 0, 0))
		smarm__overflow(w, a);
}

/* A batch from the global queue: the first actor, the rest queued on w;
 * NULL when it is empty or another worker drains it. */
static inline smarm__actor *smarm__global_take(smarm__worker *w)
{
	struct smarm_runtime *rt = w->h.rt;
	smarm__actor *first = NULL;
	smarm__mpscq_node *n;
	size_t i, limit = 1 + (SMARM__RUNQ_SIZE - smarm__runq_len(&w->rq)) / 2;

	/* Take a batch: the first is returned, the rest queued here, filling
	 * at most half the room left in the run queue (more would only
	 * overflow back).  One consumer at a time; a worker that finds the
	 * queue being drained by another goes on without it. */
	if (!smarm__lock_try(&rt->inject_lock))
		return NULL;
	for (i = 0; i < limit; i++) {
		n = smarm__mpscq_pop(&rt->inject, &rt->inject_stub);
		if (n == NULL)
			break;
		if (first == NULL)
			first = smarm__link_actor(n);
		else
			smarm__local_push(w, smarm__link_actor(n));
	}
	smarm__lock_drop(&rt->inject_lock);
	/* The first runs here; the rest are for anyone. */
	if (i > 1)
		smarm__wake_after(w);
	return first;
}

/* ---- the timers (sched_timer.c), for sched.c ------------------------------- */

/* smarm__timer.kind: an actor's timed park, or an alarm. */
enum { SMARM__TIMER_PARK, SMARM__TIMER_ALARM };

/* Add tm to go off in timeout ns in w's heap: 0 or ENOMEM. */
int smarm__sched_timer_add(smarm__worker *w, smarm__timer *tm,
			   uint64_t timeout);

/* a was taken PARKED -> RUNNING by its waker: take its timer out. */
void smarm__sched_timer_cancel(smarm__actor *a);

/* Fire v's timers that expired by now, making their actors runnable on w
 * (a pinned actor on its own worker): how many were queued on w.  v is w
 * itself, or a busy worker whose timers an idle w fires. */
unsigned smarm__sched_fire_timers(smarm__worker *w, smarm__worker *v,
				  uint64_t now);

/* A pinned actor woken away from its worker goes home, to its inbox. */
void smarm__sched_send_home(smarm__actor *a);

#endif /* SMARM_WORKER_H */
