/*
 * idle.c - the worker's loop, and what a worker does when its own queues
 * are empty: look further (steal), spin, sleep, and end the run.
 *
 * Owns: the sleeping side of the worker (worker.h's sleeping, in_kernel,
 * idle_seq, seen_*; the runtime's nspinning, nsleeping, ndeep, done).
 * May touch: sched.h and worker.h (the worker's other half), the queues.
 *
 * Looking for work.  A worker out of work counts itself in rt->nspinning
 * while it looks beyond its own queues: the global queue, half of another
 * worker's run queue or the oldest of its deque, another worker's expired
 * timers (that worker is busy: its actor runs on), and a run-next actor
 * whose worker has not switched for RUNNEXT_STUCK_NS -- Go's rule: a
 * run-next belongs to its worker as long as that worker is about to run
 * it, which keeps hand-offs between two actors local.
 *
 * Sleeping.  It then announces itself asleep (w->sleeping, rt->nsleeping,
 * full barriers), looks once more, spins a little and waits on its futex
 * word.  Wakers (sched.c) store their work, then look at the sleepers:
 * each side stores before it loads, so one always sees the other.  While
 * some other worker is awake, a sleeper sleeps at most RUNNEXT_WATCH_NS
 * and then looks around (for stuck run-next actors, expired timers),
 * since a worker busy with one actor wakes nobody for the work only it
 * would take at once.  When every worker is asleep it sleeps "deep" --
 * until its next timer or a rouse -- and the first worker to make such
 * work again rouses it (smarm__wake_deep, worker.h).
 */
#include "config.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smarm.h"
#include "idle.h"
#include "poll.h"
#include "sched.h"
#include "worker.h"

/* Steal rounds over all victims before a worker goes to sleep. */
#define STEAL_ROUNDS 4
/* How long a worker that ran out of work spins before it sleeps in the
 * kernel: work that comes within that time costs no system call on
 * either side. */
#define IDLE_SPIN_NS 20000u
/* Longest sleep while another worker is awake, before looking around:
 * 1 ms, doubled after every look in vain up to 4 ms, so that a worker
 * idle beside a busy one costs little. */
#define RUNNEXT_WATCH_NS 1000000u
#define RUNNEXT_WATCH_MAX_NS 4000000u
/* A run-next actor is taken from a worker that has not switched for this
 * long: its actor computes, and the run-next would wait for it. */
#define RUNNEXT_STUCK_NS 50000u
/* Free control blocks an idle worker keeps for its next spawns. */
#define RECORDS_WARM 256u

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Stop counting this worker as a spinner; nonzero when it was the last
 * one. */
static int unspin(smarm__worker *w)
{
	w->spinning = 0;
	return smarm__atomic_fetch_add_full(&w->h.rt->nspinning,
					    (AO_t)-1) == 1;
}

/* A spinner found work.  The last one to do so wakes another, in case
 * there is more. */
static void stop_spinning(smarm__worker *w)
{
	if (unspin(w))
		smarm__wake_one(w->h.rt);
}

/* Queue stolen work here.  The run queue had room for it (it was empty
 * when the worker went looking); should it not, the global queue. */
static void queue_stolen(smarm__worker *w, smarm__actor *a)
{
	if (smarm__runq_push(&w->rq, a) != 0)
		smarm__mpscq_push(&w->h.rt->inject, &a->wake_link);
}

/* Steal from v: half its run queue, or else the oldest of its deque.  The
 * first actor is returned, the rest queued here. */
static smarm__actor *steal_from(smarm__worker *w, smarm__worker *v)
{
	void *batch[SMARM__RUNQ_SIZE / 2];
	size_t n = smarm__runq_steal(&v->rq, batch), i;

	if (n == 0) {
		void *a = smarm__deque_len(&v->dq) ?
			smarm__deque_steal(&v->dq) : NULL;

		if (a)
			SMARM__STAT_INC(w, steals);
		return a;
	}
	for (i = 1; i < n; i++)
		queue_stolen(w, batch[i]);
	smarm__counter_add(&w->h.st.steals, n);
	return batch[0];
}

/* Has v kept one actor running, with a run-next waiting, for
 * RUNNEXT_STUCK_NS?  Its switch counter is compared with what an idle
 * worker saw last; a change is recorded with the time.  Several idle
 * workers may record at once: each pair they write is a true sighting,
 * and a mixed pair only moves a steal earlier or later. */
static int runnext_stuck(smarm__worker *v, uint64_t now, int record)
{
	AO_t sw = smarm__atomic_load_relaxed(&v->h.st.switches);

	if (sw != smarm__atomic_load_relaxed(&v->seen_switches)) {
		if (record) {
			smarm__atomic_store_relaxed(&v->seen_switches, sw);
			smarm__atomic_store_relaxed(&v->seen_at, now);
		}
		return 0;
	}
	return smarm__atomic_load_relaxed(&v->runnext) != 0 &&
		now - smarm__atomic_load_relaxed(&v->seen_at) >=
		RUNNEXT_STUCK_NS;
}

/* Look at v, another worker, for work w may take. */
static smarm__actor *look_at(smarm__worker *w, smarm__worker *v, uint64_t now)
{
	smarm__actor *a = steal_from(w, v);
	AO_t r;

	if (a)
		return a;
	if (smarm__sched_fire_timers_of(w, v, now) != 0 &&
	    (a = smarm__runq_pop(&w->rq)) != NULL)
		return a;
	if (runnext_stuck(v, now, 1)) {
		r = smarm__atomic_load_acquire(&v->runnext);
		if (r != 0 && smarm__atomic_cas_full(&v->runnext, r, 0)) {
			SMARM__STAT_INC(w, steals);
			return (smarm__actor *)r;
		}
	}
	return NULL;
}

/* Nothing local: the global queue, then the other workers. */
static smarm__actor *find_work(smarm__worker *w)
{
	struct smarm_runtime *rt = w->h.rt;
	unsigned n = rt->nworkers, round, i;
	smarm__actor *a;

	if (smarm__global_maybe(rt) &&
	    (a = smarm__global_take(w)) != NULL)
		return a;
	if (n == 1)
		return NULL;
	if (!w->spinning) {
		/* No more spinners than busy workers: past that they only
		 * steal from each other. */
		AO_t spinning = smarm__atomic_load_relaxed(&rt->nspinning);
		AO_t busy = n - smarm__atomic_load_relaxed(&rt->nsleeping);

		if (2 * spinning >= busy)
			return NULL;
		w->spinning = 1;
		smarm__atomic_fetch_add_full(&rt->nspinning, 1);
	}
	for (round = w->dozing ? STEAL_ROUNDS - 1 : 0; round < STEAL_ROUNDS;
	     round++) {
		unsigned start = (unsigned)(xorshift(&w->rng) % n);
		uint64_t now = smarm_now();

		for (i = 0; i < n; i++) {
			smarm__worker *v = &rt->workers[(start + i) % n];

			if (v != w && (a = look_at(w, v, now)) != NULL)
				return a;
		}
		if (smarm__global_maybe(rt) &&
		    (a = smarm__global_take(w)) != NULL)
			return a;
		for (i = 0; i < 64; i++)
			__builtin_ia32_pause();
	}
	return NULL;
}

/* Is anything there for this worker to run, or to look at? */
static int work_for(smarm__worker *w, uint64_t now)
{
	struct smarm_runtime *rt = w->h.rt;
	unsigned i;

	if (smarm__mpscq_busy(&w->inbox, &w->inbox_stub) ||
	    smarm__global_maybe(rt) || w->pin_head != NULL ||
	    smarm__atomic_load_relaxed(&w->runnext) != 0)
		return 1;
	for (i = 0; i < rt->nworkers; i++) {
		smarm__worker *v = &rt->workers[i];

		if (smarm__runq_len(&v->rq) != 0 ||
		    smarm__deque_len(&v->dq) != 0 ||
		    smarm__atomic_load_acquire(&v->tnext) <= now ||
		    (v != w && runnext_stuck(v, now, 0)))
			return 1;
	}
	return 0;
}

/*
 * Has every actor ended?  The ends are read first, then the spawns: an
 * actor's spawn is counted before its end (the spawn happens before it
 * runs) and an actor spawns only before its own end, so when the sums
 * differ by what earlier runs left (actors abandoned by a deadlock)
 * nothing is alive and nothing can be spawned any more.
 */
static int run_over(struct smarm_runtime *rt)
{
	AO_t ended = 0, spawned = 0;
	unsigned i;

	for (i = 0; i < rt->nworkers; i++)
		ended += smarm__atomic_load_acquire(
			&rt->workers[i].h.st.exited);
	for (i = 0; i < rt->nworkers; i++)
		spawned += smarm__atomic_load_acquire(
			&rt->workers[i].h.st.spawned);
	return spawned - ended == rt->live_base;
}

/* With every worker asleep: can anything ever run again?  Not if no timer
 * is pending anywhere, no actor waits where a plain thread may wake it
 * (an open park: smarm_recv) and no queue holds anything.  A worker that
 * wakes meanwhile (its timer is due) may fire a timer and run the actor
 * before the look reaches it: so the look counts only if no worker woke
 * during it (nwoken, bumped with a full barrier before a waking worker
 * does anything). */
static int deadlocked(struct smarm_runtime *rt)
{
	AO_t open = 0, woken = smarm__atomic_load_acquire(&rt->nwoken);
	unsigned i;

	if (smarm__atomic_load_acquire(&rt->nsleeping) != rt->nworkers)
		return 0;
	for (i = 0; i < rt->nworkers; i++) {
		smarm__worker *v = &rt->workers[i];

		if (smarm__atomic_load_acquire(&v->tnext) != UINT64_MAX ||
		    smarm__mpscq_maybe(&v->inbox, &v->inbox_stub) ||
		    smarm__runq_len(&v->rq) != 0 ||
		    smarm__deque_len(&v->dq) != 0 ||
		    smarm__atomic_load_acquire(&v->runnext) != 0)
			return 0;
		open += smarm__atomic_load_acquire(&v->nopen);
	}
	/* A shutdown ends the run at its time, naming who is left. */
	return open == 0 && !smarm__global_maybe(rt) &&
		smarm__atomic_load_acquire(&rt->shutdown_at) == 0 &&
		smarm__atomic_load_acquire(&rt->nwoken) == woken;
}

/* End the run for every worker. */
static void end_run(struct smarm_runtime *rt, AO_t how)
{
	unsigned i;

	smarm__atomic_fetch_cas_full(&rt->done, SMARM__RUN_GOING, how);
	for (i = 0; i < rt->nworkers; i++)
		smarm__rouse(&rt->workers[i]);
}

void smarm__idle_rouse_all(struct smarm_runtime *rt)
{
	unsigned i;

	for (i = 0; i < rt->nworkers; i++)
		smarm__rouse(&rt->workers[i]);
}

/* The earliest deadline of w's timers and of those of awake workers,
 * which may be too busy to fire theirs.  A sleeping worker wakes for its
 * own; one that wakes and runs an actor with timers still pending rouses
 * a deep sleeper (smarm__sched_enter), which then counts them here. */
static uint64_t next_deadline(smarm__worker *w)
{
	struct smarm_runtime *rt = w->h.rt;
	uint64_t next = UINT64_MAX, t;
	unsigned i;

	for (i = 0; i < rt->nworkers; i++) {
		smarm__worker *v = &rt->workers[i];
		AO_t s = smarm__atomic_load_acquire(&v->sleeping);

		if (v != w && (s == SMARM__ASLEEP || s == SMARM__DEEP))
			continue;
		t = smarm__atomic_load_acquire(&v->tnext);
		if (t < next)
			next = t;
	}
	t = smarm__atomic_load_acquire(&rt->shutdown_at);
	return t != 0 && t < next ? t : next;
}

/* Record what the other workers have switched so far, so that a later
 * look can tell a run-next stuck behind one actor (runnext_stuck). */
static void note_switches(smarm__worker *w, uint64_t now)
{
	struct smarm_runtime *rt = w->h.rt;
	unsigned i;

	for (i = 0; i < rt->nworkers; i++)
		if (&rt->workers[i] != w)
			runnext_stuck(&rt->workers[i], now, 1);
}

/* Spin until the futex word moves or work shows up (1), or until the
 * spin time or the deadline is over (0). */
static int idle_spin(smarm__worker *w, unsigned seq, uint64_t now,
		     uint64_t deadline)
{
	uint64_t until = now + IDLE_SPIN_NS;
	unsigned i;

	if (until > deadline)
		until = deadline;
	for (i = 1;; i++) {
		if (smarm__atomic_u32_load_acquire(&w->idle_seq) != seq)
			return 1;
		if ((i & 15) == 0) {
			now = smarm_now();
			if (work_for(w, now))
				return 1;
			if (now >= until)
				return 0;
		}
		__builtin_ia32_pause();
	}
}

/* Spin, then wait in the kernel until the futex word moves or the
 * deadline (absolute, CLOCK_MONOTONIC) passes.  A worker that only looks
 * around, its last look in vain, does not spin: work that comes meanwhile
 * rouses it. */
static void wait_until(smarm__worker *w, unsigned seq, uint64_t now,
		       uint64_t deadline)
{
	struct timespec ts, *tsp = NULL;

	if (!w->dozing && idle_spin(w, seq, now, deadline))
		return;
	if (deadline != UINT64_MAX) {
		/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time. */
		ts.tv_sec = (time_t)(deadline / 1000000000u);
		ts.tv_nsec = (long)(deadline % 1000000000u);
		tsp = &ts;
	}
	smarm__atomic_store_full(&w->in_kernel, 1);
	syscall(SYS_futex, &w->idle_seq.v, FUTEX_WAIT_BITSET_PRIVATE, seq, tsp,
		NULL, FUTEX_BITSET_MATCH_ANY);
	smarm__atomic_store_relaxed(&w->in_kernel, 0);
	/* Woken by its own deadline, not by a waker: dozing, once more. */
	if (smarm__atomic_u32_load_acquire(&w->idle_seq) == seq)
		w->dozing += w->dozing < 3;
	else
		w->dozing = 0;
}

/* wait_until for the worker that polls while it sleeps (poll.c): in
 * epoll_wait, where a rouse reaches it through the eventfd.  Without the
 * poller's turn, or with no fd registered, on the futex word. */
static void idle_wait(smarm__worker *w, unsigned seq, uint64_t now,
		      uint64_t deadline)
{
	struct smarm_runtime *rt = w->h.rt;
	unsigned woken;

	if (!smarm__poll_armed(rt) || !smarm__poll_own(rt)) {
		wait_until(w, seq, now, deadline);
		return;
	}
	smarm__atomic_store_full(&w->in_kernel, 2);
	if (smarm__atomic_u32_load_acquire(&w->idle_seq) != seq)
		deadline = 0; /* roused meanwhile: only look */
	woken = smarm__poll_run(rt, deadline);
	smarm__atomic_store_relaxed(&w->in_kernel, 0);
	smarm__poll_disown(rt);
	if (woken == 0 && smarm__atomic_u32_load_acquire(&w->idle_seq) == seq)
		w->dozing += w->dozing < 3;
	else
		w->dozing = 0;
}

/* A shutdown's time is up (smarm_shutdown): name who is left, end the
 * run. */
static int shutdown_over(struct smarm_runtime *rt, uint64_t now)
{
	uint64_t at = smarm__atomic_load_acquire(&rt->shutdown_at);

	if (at == 0 || now < at)
		return 0;
	/* Named once, by the worker that ends the run. */
	if (smarm__atomic_cas_full(&rt->done, SMARM__RUN_GOING,
				   SMARM__RUN_SHUTDOWN))
		smarm__pidtab_report_live(&rt->pids, "shutdown");
	return 1;
}

/*
 * Every other worker is asleep: sleep deep, unless one woke meanwhile.
 * The count in ndeep comes first, then the look at nsleeping, each a
 * locked instruction: a worker that wakes counts itself out of nsleeping
 * (locked) before it runs anything, so either we see it awake or it sees
 * us in ndeep when it makes work only it would take (smarm__wake_deep in
 * worker.h).  Returns nonzero when deep.
 */
static int go_deep(smarm__worker *w)
{
	struct smarm_runtime *rt = w->h.rt;

	if (!smarm__atomic_cas_full(&w->sleeping, SMARM__ASLEEP, SMARM__DEEP))
		return 0; /* claimed by a waker already */
	smarm__atomic_fetch_add_full(&rt->ndeep, 1);
	if (smarm__atomic_load_acquire(&rt->nsleeping) == rt->nworkers)
		return 1;
	/* Someone is awake after all; a waker may have turned us back to
	 * ASLEEP or CLAIMED meanwhile, which is as good. */
	smarm__atomic_cas_full(&w->sleeping, SMARM__DEEP, SMARM__ASLEEP);
	smarm__atomic_fetch_add_full(&rt->ndeep, (AO_t)-1);
	return 0;
}

/* How long a bounded sleep lasts: RUNNEXT_WATCH_NS, doubled for every
 * look in vain in a row (w->dozing), up to RUNNEXT_WATCH_MAX_NS. */
static uint64_t watch_ns(const smarm__worker *w)
{
	unsigned d = w->dozing < 3 ? (unsigned)w->dozing : 2;

	return (uint64_t)RUNNEXT_WATCH_NS << d > RUNNEXT_WATCH_MAX_NS ?
		RUNNEXT_WATCH_MAX_NS : (uint64_t)RUNNEXT_WATCH_NS << d;
}

/* Free a chain of control blocks: how many. */
static size_t free_records(smarm__flink *x)
{
	smarm__flink *next;
	size_t n = 0;

	for (; x != NULL; x = next, n++) {
		next = x->next;
		free(smarm__record_of(x));
	}
	return n;
}

/* An idle worker gives back what a burst of actors left: the pages of
 * the stacks used since, and control blocks beyond a few (all of the
 * runtime's pool when every worker is idle), and then what free(3)
 * kept (malloc_trim). */
static void idle_trim(smarm__worker *w, int deep)
{
	size_t n;

	smarm__stack_trim(&w->h.rt->stacks, &w->h.stacks);
	n = free_records(smarm__flist_cut(&w->h.records, RECORDS_WARM));
	if (deep)
		n += free_records(smarm__fpool_take_all(&w->h.rt->records));
#ifdef __GLIBC__
	if (n)
		malloc_trim(0);
#endif
}

/* Sleep until there is work (see the top of this file).  Returns nonzero
 * when the run is over. */
static int idle_sleep(smarm__worker *w)
{
	struct smarm_runtime *rt = w->h.rt;
	uint64_t now, next;
	unsigned seq;
	int deep = 0;
	AO_t old, asleep;

	seq = smarm__atomic_u32_load_acquire(&w->idle_seq);
	smarm__atomic_store_full(&w->sleeping, SMARM__ASLEEP);
	asleep = smarm__atomic_fetch_add_full(&rt->nsleeping, 1) + 1;
	if (w->spinning)
		unspin(w);
	now = smarm_now();
	if (smarm__poll_armed(rt))
		smarm__poll_sigsync(rt);
	if (smarm__atomic_load_acquire(&rt->done) == SMARM__RUN_GOING &&
	    !work_for(w, now)) {
		if (run_over(rt)) {
			end_run(rt, SMARM__RUN_DONE);
		} else if (shutdown_over(rt, now)) {
			end_run(rt, SMARM__RUN_SHUTDOWN);
		} else if (asleep == rt->nworkers && deadlocked(rt)) {
			end_run(rt, SMARM__RUN_DEADLOCK);
		} else {
			next = next_deadline(w);
			deep = go_deep(w);
			if (deep || w->dozing)
				idle_trim(w, deep);
			if (!deep && now + watch_ns(w) < next)
				next = now + watch_ns(w);
			note_switches(w, now);
			idle_wait(w, seq, now, next);
		}
	}
	/* Awake: a waker that claimed us counted us as a spinner. */
	do
		old = smarm__atomic_load_acquire(&w->sleeping);
	while (!smarm__atomic_cas_full(&w->sleeping, old, SMARM__AWAKE));
	if (old == SMARM__CLAIMED)
		w->spinning = 1;
	if (deep)
		smarm__atomic_fetch_add_full(&rt->ndeep, (AO_t)-1);
	smarm__atomic_fetch_add_full(&rt->nwoken, 1);
	smarm__atomic_fetch_add_full(&rt->nsleeping, (AO_t)-1);
	return smarm__atomic_load_acquire(&rt->done) != SMARM__RUN_GOING;
}

/* A worker's own context: runs actors until the run is over. */
static void worker_loop(smarm__worker *w)
{
	smarm__fiber_current(w);
	for (;;) {
		smarm__actor *a = smarm__sched_next(w);

		if (a == NULL)
			a = find_work(w);
		if (a == NULL) {
			if (idle_sleep(w))
				break;
			continue;
		}
		/* Woken to look for work, it found some: it no longer looks,
		 * and others must not count on it to. */
		if (__builtin_expect(w->spinning, 0))
			stop_spinning(w);
		w->dozing = 0;
		smarm__sched_enter(w, a);
	}
	if (w->spinning)
		unspin(w);
}

void smarm__idle_work(struct smarm_runtime *rt, unsigned i)
{
	smarm__idle_adopt(rt, i);
	worker_loop(&rt->workers[i]);
	smarm__idle_leave();
}

/* ---- a worker's set-up, runs and counters ------------------------------------- */

int smarm__idle_init(struct smarm_runtime *rt)
{
	unsigned i, n = rt->cfg.threads;

	rt->workers = aligned_alloc(_Alignof(smarm__worker),
				    n * sizeof(smarm__worker));
	if (rt->workers == NULL)
		return ENOMEM;
	memset(rt->workers, 0, n * sizeof(smarm__worker));
	rt->nworkers = n;
	for (i = 0; i < n; i++) {
		smarm__worker *w = &rt->workers[i];

		w->h.rt = rt;
		w->id = i;
		w->rng = 0x9e3779b97f4a7c15ull * (i + 1);
		smarm__lock_init(&w->tlock);
		/* Kept for good (the pool unmaps it at the end). */
		w->spare = smarm__stack_refill(&rt->stacks, &w->h.stacks, 0);
		if (w->spare == NULL)
			return ENOMEM;
	}
	smarm__lock_init(&rt->inject_lock);
	return 0;
}

void smarm__idle_fini(struct smarm_runtime *rt)
{
	unsigned i;

	if (rt->workers == NULL)
		return;
	for (i = 0; i < rt->nworkers; i++) {
		smarm__worker *w = &rt->workers[i];

		smarm__timers_fini(&w->timers);
		free_records(smarm__flist_cut(&w->h.records, 0));
	}
	free_records(smarm__fpool_take_all(&rt->records));
	free(rt->workers);
	rt->workers = NULL;
}

void smarm__idle_prepare(struct smarm_runtime *rt)
{
	unsigned i;

	rt->live_base = 0;
	for (i = 0; i < rt->nworkers; i++) {
		smarm__worker *w = &rt->workers[i];

		/* The timer heaps keep their capacity from run to run.  They
		 * may still hold the timers of actors a run abandoned (a
		 * shutdown whose time ran out), freed since: dropped. */
		w->timers.n = 0;
		w->h.current = w->prev = NULL;
		w->h.budget = rt->cfg.preempt_budget;
		w->pin_head = w->pin_tail = NULL;
		w->spinning = 0;
		w->dozing = 0;
		w->alone = rt->nworkers == 1;
		w->tick = w->nnext = 0;
		smarm__runq_init(&w->rq);
		smarm__deque_init(&w->dq);
		smarm__atomic_store_relaxed(&w->runnext, 0);
		smarm__mpscq_init(&w->inbox, &w->inbox_stub);
		smarm__atomic_store_relaxed(&w->sleeping, SMARM__AWAKE);
		smarm__atomic_store_relaxed(&w->in_kernel, 0);
		smarm__atomic_store_relaxed(&w->nopen, 0);
		smarm__atomic_store_relaxed(&w->seen_switches, 0);
		smarm__atomic_store_relaxed(&w->seen_at, 0);
		smarm__atomic_store_relaxed(&w->tnext, UINT64_MAX);
		rt->live_base +=
			smarm__atomic_load_relaxed(&w->h.st.spawned) -
			smarm__atomic_load_relaxed(&w->h.st.exited);
	}
	smarm__mpscq_init(&rt->inject, &rt->inject_stub);
	smarm__atomic_store_relaxed(&rt->nspinning, 0);
	smarm__atomic_store_relaxed(&rt->nsleeping, 0);
	smarm__atomic_store_relaxed(&rt->ndeep, 0);
	smarm__atomic_store_relaxed(&rt->nwoken, 0);
	smarm__atomic_store_relaxed(&rt->shutdown_at, 0);
	smarm__atomic_store_relaxed(&rt->done, SMARM__RUN_GOING);
}

void smarm__idle_adopt(struct smarm_runtime *rt, unsigned i)
{
	smarm__tls_worker = &rt->workers[i];
}

void smarm__idle_leave(void)
{
	smarm__tls_worker = NULL;
}

void smarm__idle_release(struct smarm_runtime *rt)
{
	unsigned i;

	for (i = 0; i < rt->nworkers; i++)
		smarm__slot_cache_flush(&rt->pids, &rt->workers[i].h.slots);
}

void smarm__idle_stats(struct smarm_runtime *rt, smarm_stats *out)
{
	unsigned i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < rt->nworkers; i++) {
		smarm__wstats *st = &rt->workers[i].h.st;

		out->spawned += smarm__atomic_load_acquire(&st->spawned);
		out->exited += smarm__atomic_load_acquire(&st->exited);
		out->panicked += smarm__atomic_load_acquire(&st->panicked);
		out->switches += smarm__atomic_load_acquire(&st->switches);
		out->steals += smarm__atomic_load_acquire(&st->steals);
		out->parks += smarm__atomic_load_acquire(&st->parks);
		out->wakeups += smarm__atomic_load_acquire(&st->wakeups);
		out->messages += smarm__atomic_load_acquire(&st->messages);
	}
	out->wakeups += smarm__atomic_load_acquire(&rt->thread_wakeups);
	out->canary_stacks = smarm__stack_ncanary(&rt->stacks);
	out->threads = rt->nworkers;
}

/* ---- introspection ------------------------------------------------------------- */

void smarm__idle_peek(struct smarm_runtime *rt, unsigned i,
		      smarm__wpeek *out)
{
	smarm__worker *w = &rt->workers[i];
	unsigned n = 0;

	out->current = *(smarm__actor *const volatile *)&w->h.current;
	out->switches = smarm__atomic_load_relaxed(&w->h.st.switches);
	n += smarm__atomic_load_relaxed(&w->runnext) != 0;
	n += (unsigned)smarm__deque_len(&w->dq);
	n += (unsigned)smarm__runq_len(&w->rq);
	/* Its pinned list is its own: only whether it holds any. */
	n += *(smarm__actor *const volatile *)&w->pin_head != NULL;
	out->queued = n;
	out->asleep = smarm__atomic_load_relaxed(&w->sleeping) != SMARM__AWAKE;
}

unsigned smarm__idle_index(struct smarm_runtime *rt, smarm__worker *w)
{
	return (unsigned)(w - rt->workers);
}

struct smarm_runtime *smarm__runtime_self(void)
{
	smarm__worker *w = smarm__worker_self();

	return w ? w->h.rt : NULL;
}

smarm__actor *smarm__actor_self(void)
{
	smarm__worker *w = smarm__worker_self();

	return w ? w->h.current : NULL;
}

unsigned smarm__worker_id_self(void)
{
	return smarm__worker_self()->id;
}

int smarm__worker_spinning_self(void)
{
	return smarm__worker_self()->spinning;
}

unsigned smarm__worker_slots_cached(void)
{
	return smarm__worker_self()->h.slots.n;
}

unsigned smarm__worker_stacks_cached(void)
{
	smarm__stack_cache *c = &smarm__worker_self()->h.stacks;

	return c->n + (c->full ? SMARM__STACK_BATCH : 0);
}

smarm__timers *smarm__worker_timers_self(void)
{
	return &smarm__worker_self()->timers;
}
