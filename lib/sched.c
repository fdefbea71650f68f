/*
 * sched.c - spawn, join, detach, yield, park/unpark, and the workers.
 *
 * Switching.  Every switch records what the actor it leaves wants done
 * once its context is saved (w->prev, w->prev_op), and whatever runs next
 * on that worker does it first thing, in after_switch(): put a yielding
 * actor back in the run queue, commit a park, recycle an ended actor's
 * stack.  Until then the actor is in no queue, so no other worker can
 * resume it half-saved.
 *
 * Sleeping and waking workers.  A worker out of work counts itself in
 * rt->nspinning while it looks for some (global queue, stealing), then
 * announces itself asleep (w->sleeping, rt->nsleeping, full barriers),
 * looks once more, and waits on its futex word.  Whoever makes work that
 * any worker may take (a run queue push, the global queue) wakes one
 * sleeper if nobody spins (wake_one); whoever wakes an actor that only one
 * worker may run (a pinned actor, or one whose timer that worker holds)
 * queues it in that worker's inbox and wakes that worker.  The inbox and
 * global queue pushes end with a full barrier before the sleeper is
 * looked at, and the sleeper looks at the queues after its own: one side
 * always sees the other.  So do the pushes to a worker's own queues and
 * runnext (wake_after: spawn, a wake that displaces runnext, a yield's
 * requeue, timers that fire, inbox and global batches), so that work
 * never waits for a worker whose actor runs long while another sleeps.
 */
#include "config.h"

#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "smarm.h"
#include "actor.h"
#include "context.h"
#include "pid.h"
#include "sched.h"
#include "stack.h"
#include "timer.h"

/* initial-exec: a plain %fs-relative load instead of a __tls_get_addr
 * call on every access. */
__thread smarm__worker *smarm__tls_worker
	__attribute__((tls_model("initial-exec")));
#define tls_worker smarm__tls_worker
#define worker_at_entry smarm__worker_at_entry
#define STAT_INC SMARM__STAT_INC

_Static_assert(((sizeof(smarm__stack) + 63) & ~63u) +
	       ((sizeof(smarm__actor) + 63) & ~63u) + 96 <= SMARM__STACK_TOP,
	       "descriptor, control block and first frame fit the stack top");

/* What the next context does for the actor that switched to it. */
enum { OP_NONE, OP_REQUEUE, OP_PARK, OP_EXIT };

/* rt->done: how the run ended. */
enum { RUN_GOING = 0, RUN_DONE = 1, RUN_DEADLOCK = 2, RUN_ABORTED = 3 };

/* Timers are checked every this many scheduling decisions while actors
 * keep a worker busy (always when it runs dry), so a busy worker reads
 * the clock rarely and a sleeper is late by at most that many switches. */
#define TIMER_CHECK_MASK 63u
/* The global queue is looked at every this many decisions (a power of
 * two) even when local work abounds, so that what waits there is not
 * starved. */
#define GLOBAL_CHECK_MASK 63u
/* Runnext picks in a row before the other queues get a turn: two actors
 * messaging each other must not starve the rest. */
#define RUNNEXT_MAX 32u
/* Every this many decisions (+1, a power of two) the oldest runnable
 * actor goes first. */
#define FAIR_MASK 15u
/* Steal rounds over all victims before a worker goes to sleep. */
#define STEAL_ROUNDS 4
/* How long a worker that ran out of work spins before it sleeps in the
 * kernel: work that comes within that time costs no system call on
 * either side. */
#define IDLE_SPIN_NS 20000u
/* How long a worker asleep watches another's runnext before taking it,
 * when that worker keeps running one actor. */
#define RUNNEXT_WATCH_NS 1000000u

smarm__worker *smarm__worker_self(void)
{
	return tls_worker;
}

/* Nonzero when a caller's struct has something in its reserved room:
 * a field of a later version this library does not know. */
static int reserved_used(const uintptr_t *r, size_t n)
{
	while (n--)
		if (*r++)
			return 1;
	return 0;
}

static void futex_wake(smarm__atomic_u32 *word, int n)
{
	syscall(SYS_futex, &word->v, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* Bump a worker's futex word and wake it.  A sleeping worker spins a
 * little before it enters the kernel (idle_sleep): the bump alone ends
 * that, and the system call is made only when it is in, or entering, its
 * futex wait.  Both sides store, full barrier, then load: either we see
 * in_kernel, or it sees the new word and does not wait. */
static void rouse(smarm__worker *v)
{
	smarm__atomic_u32_fetch_add_full(&v->idle_seq, 1);
	if (smarm__atomic_load_acquire(&v->in_kernel))
		futex_wake(&v->idle_seq, 1);
}

/* ---- waking workers ------------------------------------------------- */

/* There is work any worker may take: wake a sleeping worker, as a
 * spinner, unless one already spins (it will find the work). */
static __attribute__((noinline)) void wake_one_slow(struct smarm_runtime *rt)
{
	unsigned i, n = rt->nworkers;

	/* Counting the new spinner first keeps two wakers from waking two
	 * workers for one piece of work. */
	if (!smarm__atomic_cas_full(&rt->nspinning, 0, 1))
		return;
	for (i = 0; i < n; i++) {
		smarm__worker *v = &rt->workers[i];

		if (smarm__atomic_load_acquire(&v->sleeping) == 1 &&
		    smarm__atomic_cas_full(&v->sleeping, 1, 2)) {
			rouse(v);
			return;
		}
	}
	smarm__atomic_fetch_add_full(&rt->nspinning, (AO_t)-1);
}

static inline void wake_one(struct smarm_runtime *rt)
{
	if (smarm__atomic_load_relaxed(&rt->nsleeping) != 0 &&
	    smarm__atomic_load_relaxed(&rt->nspinning) == 0)
		wake_one_slow(rt);
}

/* This worker just queued work that others may take (in its queues or
 * runnext): wake one if needed.  The barrier orders the work's stores before
 * the look at nsleeping and nspinning, as idle_sleep orders its announce
 * before its look at the queues and runnexts: without it, x86 may let the
 * look pass the stores, both sides miss each other, and the work waits
 * until this worker switches, however long its actor runs. */
static inline void wake_after(smarm__worker *w)
{
	if (w->alone)
		return; /* nobody to wake */
	smarm__atomic_fence_full();
	wake_one(w->rt);
}

/* ---- run queues ------------------------------------------------------- */

static void global_push(struct smarm_runtime *rt, smarm__actor *a)
{
	smarm__mpscq_push(&rt->inject, &a->wake_link);
}

static inline int global_maybe(struct smarm_runtime *rt)
{
	return smarm__atomic_load_acquire(&rt->inject.head) !=
		(AO_t)&rt->inject_stub;
}

/* The run queue is full: move half of it, and a, to the global queue. */
static __attribute__((noinline)) void overflow(smarm__worker *w,
					       smarm__actor *a)
{
	void *batch[SMARM__RUNQ_SIZE / 2];
	size_t n = smarm__runq_steal(&w->rq, batch), i;

	for (i = 0; i < n; i++)
		global_push(w->rt, batch[i]);
	global_push(w->rt, a);
	wake_one_slow(w->rt);
}

/* Make a runnable on this worker (not in runnext). */
static inline void local_push(smarm__worker *w, smarm__actor *a)
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
		overflow(w, a);
}

static inline smarm__actor *pin_pop(smarm__worker *w)
{
	smarm__actor *a = w->pin_head;

	if (a) {
		w->pin_head = a->next;
		if (w->pin_head == NULL)
			w->pin_tail = NULL;
	}
	return a;
}

/* Put a (not pinned) in runnext; what was there goes to the deque,
 * where idle workers may steal it.  Returns nonzero when something was
 * displaced so: work another worker could take. */
static inline int runnext_put(smarm__worker *w, smarm__actor *a)
{
	AO_t old = smarm__atomic_load_relaxed(&w->runnext);

	if (old == 0) {
		/* Only this thread fills the slot: a plain release store. */
		smarm__atomic_store_release(&w->runnext, (AO_t)a);
		return 0;
	}
	/* Thieves may empty it meanwhile: swap by CAS. */
	if (!smarm__atomic_cas_full(&w->runnext, old, (AO_t)a)) {
		smarm__atomic_store_release(&w->runnext, (AO_t)a);
		return 0;
	}
	if (smarm__deque_push(&w->dq, (void *)old) != 0)
		local_push(w, (smarm__actor *)old);
	return 1;
}

static inline smarm__actor *runnext_take(smarm__atomic *slot)
{
	AO_t a = smarm__atomic_load_acquire(slot);

	if (a != 0 && smarm__atomic_cas_full(slot, a, 0))
		return (smarm__actor *)a;
	return NULL;
}

/*
 * The owner's takes.  A worker alone in its runtime has no thieves: its
 * queues are its own, and it takes from them without the atomic
 * read-modify-writes and barriers that racing thieves need.
 */
static inline smarm__actor *own_runnext(smarm__worker *w)
{
	AO_t a;

	if (!w->alone)
		return runnext_take(&w->runnext);
	a = smarm__atomic_load_relaxed(&w->runnext);
	if (a != 0)
		smarm__atomic_store_relaxed(&w->runnext, 0);
	return (smarm__actor *)a;
}

static inline smarm__actor *own_runq(smarm__worker *w)
{
	return w->alone ? smarm__runq_pop_alone(&w->rq) :
		smarm__runq_pop(&w->rq);
}

static inline smarm__actor *own_deque(smarm__worker *w)
{
	if (!smarm__deque_maybe(&w->dq))
		return NULL;
	return w->alone ? smarm__deque_pop_alone(&w->dq) :
		smarm__deque_pop(&w->dq);
}

/* ---- events: timers, the inbox, the global queue ------------------------- */

/* Move every actor whose deadline passed to the run queue. */
static __attribute__((noinline)) void timers_poll(smarm__worker *w,
						  uint64_t now)
{
	smarm__actor *a;
	unsigned n = 0;

	while ((a = smarm__timers_expired(&w->timers, now)) != NULL) {
		/* PARKED -> RUNNING, unless a wake got there first: then the
		 * actor is in this worker's inbox already (a timed actor is
		 * woken through its timer's worker) and this timer simply
		 * goes. */
		if (smarm__atomic_cas_full(&a->pstate, SMARM__PARKED,
					   SMARM__RUNNING)) {
			a->wake = ETIMEDOUT;
			STAT_INC(w, wakeups);
			local_push(w, a);
			n++;
		}
	}
	/* One of them runs here next; the others are for anyone. */
	if (n > 1)
		wake_after(w);
}

static inline smarm__actor *link_actor(smarm__mpscq_node *n)
{
	return (smarm__actor *)((char *)n - offsetof(smarm__actor, wake_link));
}

/* Move the actors other threads woke for this worker to its queues. */
static __attribute__((noinline)) void inbox_drain(smarm__worker *w)
{
	smarm__mpscq_node *n;
	unsigned k = 0;

	while ((n = smarm__mpscq_pop(&w->inbox, &w->inbox_stub)) != NULL) {
		smarm__actor *a = link_actor(n);

		if (a->timer_idx)
			smarm__timers_remove(&w->timers, a);
		local_push(w, a);
		k++;
	}
	if (k > 1)
		wake_after(w);
}

/* Take a batch from the global queue: the first is returned, the rest
 * queued here, filling at most half the room left in the run queue (more
 * would only overflow back).  One consumer at a time; a worker that finds
 * the queue being drained by another goes on without it. */
static __attribute__((noinline)) smarm__actor *global_take(smarm__worker *w)
{
	struct smarm_runtime *rt = w->rt;
	smarm__actor *first = NULL;
	smarm__mpscq_node *n;
	size_t i, limit = 1 + (SMARM__RUNQ_SIZE - smarm__runq_len(&w->rq)) / 2;

	if (!smarm__lock_try(&rt->inject_lock))
		return NULL;
	for (i = 0; i < limit; i++) {
		n = smarm__mpscq_pop(&rt->inject, &rt->inject_stub);
		if (n == NULL)
			break;
		if (first == NULL)
			first = link_actor(n);
		else
			local_push(w, link_actor(n));
	}
	smarm__lock_drop(&rt->inject_lock);
	/* The first runs here; the rest are for anyone. */
	if (i > 1)
		wake_after(w);
	return first;
}

/* Timers and wake-ups from elsewhere, at every scheduling decision. */
static inline void poll_events(smarm__worker *w)
{
	uint32_t tick = ++w->tick;

	if (__builtin_expect(w->timers.n != 0, 0) &&
	    ((tick & TIMER_CHECK_MASK) == 0 ||
	     smarm__runq_len(&w->rq) == 0))
		timers_poll(w, smarm_now());
	if (__builtin_expect(smarm__mpscq_busy(&w->inbox, &w->inbox_stub), 0))
		inbox_drain(w);
}

/* The next actor this worker runs from its own queues, or NULL. */
static inline smarm__actor *pick_local(smarm__worker *w)
{
	uint32_t tick = w->tick;
	smarm__actor *a;

	if (__builtin_expect((tick & GLOBAL_CHECK_MASK) == 32, 0) &&
	    global_maybe(w->rt)) {
		a = global_take(w);
		if (a)
			return a;
	}
	if (__builtin_expect((tick & FAIR_MASK) == 0, 0)) {
		/* Now and then the oldest first, so that nothing waits for
		 * ever behind a stream of new work. */
		a = own_runq(w);
		if (a == NULL && smarm__deque_maybe(&w->dq))
			a = smarm__deque_steal(&w->dq);
		if (a == NULL)
			a = pin_pop(w);
		if (a)
			return a;
	}
	if (w->nnext < RUNNEXT_MAX) {
		a = own_runnext(w);
		if (a) {
			w->nnext++;
			return a;
		}
	}
	w->nnext = 0;
	if (__builtin_expect(w->pin_head != NULL, 0) && (tick & 1))
		return pin_pop(w);
	a = own_deque(w);
	if (a == NULL)
		a = own_runq(w);
	if (a == NULL)
		a = pin_pop(w);
	if (a == NULL)
		a = own_runnext(w);
	return a;
}

/* ---- switching ------------------------------------------------------- */

static inline void check_canary(smarm__actor *self)
{
	if (__builtin_expect(*self->canary != SMARM__CANARY, 0))
		smarm__actor_overflow(self);
}

/* Put a slot in the worker's cache, handing a batch back to the table
 * when the cache is full. */
static void slot_put(smarm__worker *w, smarm__slot *s)
{
	if (__builtin_expect(w->nslots == SMARM__SLOT_CACHE, 0)) {
		smarm__pidtab *t = &w->rt->pids;
		unsigned i;

		smarm__lock_take(&t->lock);
		for (i = 0; i < SMARM__SLOT_CACHE / 2; i++)
			smarm__slot_give(t, w->slots[--w->nslots]);
		smarm__lock_drop(&t->lock);
	}
	w->slots[w->nslots++] = s;
}

/* Done in the context that runs after a switch: finish what the actor
 * that switched away asked for, now that its context is saved. */
static inline void after_switch(smarm__worker *w)
{
	smarm__actor *p = w->prev;

	if (p == NULL)
		return;
	w->prev = NULL;
	switch (w->prev_op) {
	case OP_REQUEUE:
		local_push(w, p);
		wake_after(w);
		break;
	case OP_PARK:
		/* RUNNING -> PARKED, full barrier: from here on a waker's CAS
		 * sees PARKED and queues it.  A wake that came during the
		 * switch left NOTIFIED: the park is over already. */
		if (!smarm__atomic_cas_full(&p->pstate, SMARM__RUNNING,
					    SMARM__PARKED)) {
			smarm__atomic_store_relaxed(&p->pstate,
						    SMARM__RUNNING);
			if (p->timer_idx)
				smarm__timers_remove(&w->timers, p);
			local_push(w, p);
		}
		break;
	default: /* OP_EXIT: nothing runs on its stack any more */
		smarm__fiber_destroy(p);
		smarm__stack_put_cached(&w->rt->stacks, &w->stacks, p->stack);
		break;
	}
}

/* Switch from self to next, or to the worker context when next is NULL,
 * leaving op to whoever runs next; returns when self is resumed. */
static inline void switch_to(smarm__worker *w, smarm__actor *self,
			     smarm__actor *next, unsigned op)
{
	w->prev = self;
	w->prev_op = op;
	w->current = next;
	if (next) {
		STAT_INC(w, switches);
		smarm__fiber_switch(next);
		smarm__ctx_switch(&self->sp, next->sp);
	} else {
		smarm__fiber_switch(w);
		smarm__ctx_switch(&self->sp, w->sp);
	}
	after_switch(smarm__worker_self());
}

/* Leave self (parking or ended) for the next local actor, or the worker
 * context when there is none. */
static inline void switch_out(smarm__worker *w, smarm__actor *self,
			      unsigned op)
{
	check_canary(self);
	poll_events(w);
	switch_to(w, self, pick_local(w), op);
}

int smarm__park(smarm__worker *w, smarm__actor *self, uint64_t timeout)
{
	/* A wake that came before the park: take it and go on. */
	if (smarm__atomic_load_relaxed(&self->pstate) == SMARM__NOTIFIED) {
		smarm__atomic_store_relaxed(&self->pstate, SMARM__RUNNING);
		return 0;
	}
	/* Room for the timer first, so that running out of memory leaves
	 * nothing half done. */
	if (timeout != SMARM_FOREVER &&
	    __builtin_expect(w->timers.n == w->timers.cap, 0) &&
	    smarm__timers_reserve(&w->timers, (uint64_t)w->timers.n + 1) != 0)
		return ENOMEM;
	self->wake = 0;
	self->timed = timeout != SMARM_FOREVER;
	self->worker = w;
	STAT_INC(w, parks);
	check_canary(self);
	/* Look for events before the timer goes in: none may fire it until
	 * the park is committed (after_switch), or its wake would be lost. */
	poll_events(w);
	if (self->timed) {
		self->deadline = smarm__deadline(smarm_now(), timeout);
		smarm__timers_add(&w->timers, self);
	}
	switch_to(w, self, pick_local(w), OP_PARK);
	return self->wake;
}

/* a's state went PARKED -> RUNNING under our hands: queue it where it may
 * run.  w is the calling thread's worker, NULL for a plain thread. */
static void make_runnable(smarm__worker *w, smarm__actor *a)
{
	smarm__worker *home;

	if (w)
		STAT_INC(w, wakeups);
	else
		smarm__atomic_fetch_add_full(&a->worker->rt->thread_wakeups, 1);
	if (__builtin_expect(!a->timed && !a->pinned, 1)) {
		if (w == NULL) {
			/* From a plain thread: the global queue, and a worker
			 * to take it.  The push ends with a full barrier before
			 * the look for sleepers (see the top of this file). */
			global_push(a->worker->rt, a);
			wake_one_slow(a->worker->rt);
			return;
		}
	} else if (w != a->worker) {
		/* Its timer, or the actor itself, belongs to another worker:
		 * through that worker's inbox.  The push ends with a full
		 * barrier, so the look at `sleeping` comes after the actor is
		 * visible; idle_sleep announces sleeping (full barrier)
		 * before it looks at the inbox. */
		home = a->worker;
		smarm__mpscq_push(&home->inbox, &a->wake_link);
		if (smarm__atomic_load_acquire(&home->sleeping) != 0)
			rouse(home);
		return;
	} else if (a->timer_idx) {
		smarm__timers_remove(&w->timers, a);
	}
	/* Here, and next unless pinned: the locality that makes a request
	 * and its reply cheap. */
	if (a->pinned)
		local_push(w, a);
	else if (runnext_put(w, a))
		wake_after(w);
}

void smarm__wake(smarm__actor *a)
{
	smarm__worker *w = worker_at_entry();
	AO_t s = smarm__atomic_load_acquire(&a->pstate);

	/*
	 * Every park has one waker at most: whoever took the actor out of
	 * what it waits on (a channel's waiter slot, a joined actor's slot),
	 * plus its own timer, which fires on the worker that holds it.  So a
	 * wake finding PARKED races with nobody when no timer is pending, or
	 * when we are the worker holding it: no read-modify-write then.
	 */
	if (s == SMARM__PARKED && w != NULL &&
	    (!a->timed || a->worker == w)) {
		smarm__atomic_store_relaxed(&a->pstate, SMARM__RUNNING);
		make_runnable(w, a);
		return;
	}
	for (;;) {
		if (s == SMARM__PARKED) {
			if (smarm__atomic_cas_full(&a->pstate, SMARM__PARKED,
						   SMARM__RUNNING)) {
				make_runnable(w, a);
				return;
			}
		} else if (s == SMARM__RUNNING) {
			if (smarm__atomic_cas_full(&a->pstate, SMARM__RUNNING,
						   SMARM__NOTIFIED))
				return;
		} else {
			return; /* NOTIFIED already */
		}
		s = smarm__atomic_load_acquire(&a->pstate);
	}
}

void smarm__actor_main(void *p)
{
	smarm__actor *a = p;

	after_switch(smarm__worker_self());
	smarm__actor_finish(a, a->fn(a->arg), 0);
}

/* ---- spawn ------------------------------------------------------------- */

/* A free slot from the worker's cache, refilled from the table. */
static inline smarm__slot *slot_get(smarm__worker *w, int *err)
{
	if (__builtin_expect(w->nslots == 0, 0)) {
		smarm__pidtab *t = &w->rt->pids;
		smarm__slot *s;

		smarm__lock_take(&t->lock);
		while (w->nslots < SMARM__SLOT_CACHE / 2 &&
		       (s = smarm__slot_take(t, err)) != NULL)
			w->slots[w->nslots++] = s;
		smarm__lock_drop(&t->lock);
		if (w->nslots == 0)
			return NULL;
	}
	return w->slots[--w->nslots];
}

static inline __attribute__((always_inline)) int
spawn(smarm__worker *w, smarm_fn fn, void *arg, size_t stack_size,
      const char *name, unsigned flags, smarm_pid *pid)
{
	struct smarm_runtime *rt = w->rt;
	smarm__slot *slot;
	smarm__stack *st;
	smarm__actor *a;
	int err = EAGAIN;

	slot = slot_get(w, &err);
	if (slot == NULL)
		return err;
	st = smarm__stack_get_cached(&rt->stacks, &w->stacks, stack_size);
	if (st == NULL) {
		slot_put(w, slot);
		return ENOMEM;
	}
	a = (smarm__actor *)(((uintptr_t)st->top - sizeof(*a)) &
			     ~(uintptr_t)63);
	a->canary = st->canary;
	a->stack = st;
	a->slot = slot;
	a->fn = fn;
	a->arg = arg;
	a->worker = w;
	a->timer_idx = 0;
	a->timed = 0;
	a->pinned = (flags & SMARM_SPAWN_PINNED) != 0;
	a->budget = w->budget;
	smarm__atomic_store_relaxed(&a->pstate, SMARM__RUNNING);
	a->sp = smarm__ctx_make(a, smarm__actor_main, a);
	smarm__fiber_create(a);
	smarm__lock_take(&slot->lock);
	smarm__slot_init(slot);
	slot->actor = a;
	if (flags & SMARM_SPAWN_DETACHED)
		slot->flags = SMARM__SLOT_DETACHED;
	/* An empty name is the common case: one store. */
	if (name) {
		strncpy(slot->name, name, SMARM_NAME_MAX - 1);
		slot->name[SMARM_NAME_MAX - 1] = '\0';
	} else {
		slot->name[0] = '\0';
	}
	if (pid)
		*pid = smarm__slot_pid(slot);
	smarm__lock_drop(&slot->lock);
	STAT_INC(w, spawned);
	/* The new actor runs next here (a spawning tree unfolds depth
	 * first); what it displaces may be stolen. */
	if (a->pinned) {
		local_push(w, a);
	} else {
		runnext_put(w, a);
		/* A worker with nothing to do may start it, or what it
		 * displaced, while the spawner goes on (see wake_after). */
		wake_after(w);
	}
	return 0;
}

void smarm_spawn_opts_init(smarm_spawn_opts *opts)
{
	if (opts)
		memset(opts, 0, sizeof(*opts));
}

int smarm_spawn_opt(smarm_pid *pid, smarm_fn fn, void *arg,
		    const smarm_spawn_opts *opts)
{
	smarm__worker *w;
	size_t size = 0;
	const char *name = NULL;
	unsigned flags = 0;

	if (opts) {
		if (reserved_used(opts->reserved, sizeof(opts->reserved) /
				  sizeof(opts->reserved[0])))
			return EINVAL;
		size = opts->stack_size;
		name = opts->name;
		flags = opts->flags;
	}
	if (fn == NULL ||
	    (flags & ~(SMARM_SPAWN_DETACHED | SMARM_SPAWN_PINNED)) ||
	    (pid == NULL && !(flags & SMARM_SPAWN_DETACHED)) ||
	    (size != 0 && (size < SMARM_STACK_MIN || size > SMARM_STACK_MAX)))
		return EINVAL;
	w = worker_at_entry();
	if (w == NULL)
		return EPERM;
	return spawn(w, fn, arg, size, name, flags, pid);
}

int smarm_spawn(smarm_pid *pid, smarm_fn fn, void *arg)
{
	smarm__worker *w;

	if (pid == NULL || fn == NULL)
		return EINVAL;
	w = worker_at_entry();
	if (w == NULL)
		return EPERM;
	return spawn(w, fn, arg, 0, NULL, 0, pid);
}

/* ---- join and detach ------------------------------------------------------- */

/* The slot pid names, locked, or NULL (stale, none, or out of range). */
static smarm__slot *slot_lock(struct smarm_runtime *rt, smarm_pid pid)
{
	smarm__slot *s = smarm__pid_slot(&rt->pids, pid);

	if (s == NULL)
		return NULL;
	smarm__lock_take(&s->lock);
	if (!smarm__pid_matches(s, pid)) {
		smarm__lock_drop(&s->lock);
		return NULL;
	}
	return s;
}

/* Retire a locked, ended slot nobody will join, and unlock it; its panic
 * reason goes with it. */
static void release(smarm__worker *w, smarm__slot *s)
{
	void *reason = s->flags & SMARM__SLOT_PANICKED ? s->result : NULL;

	smarm__slot_retire(s);
	smarm__lock_drop(&s->lock);
	free(reason);
	slot_put(w, s);
}

int smarm_join(smarm_pid pid, void **result, uint64_t timeout)
{
	smarm__worker *w = worker_at_entry();
	smarm__slot *s;
	void *res;
	int panicked;

	if (w == NULL)
		return EPERM;
	s = slot_lock(w->rt, pid);
	if (s == NULL)
		return ESRCH;
	if (s->flags & SMARM__SLOT_DETACHED) {
		smarm__lock_drop(&s->lock);
		return ESRCH;
	}
	if (s == w->current->slot) {
		smarm__lock_drop(&s->lock);
		return EDEADLK;
	}
	if (s->flags & SMARM__SLOT_JOINING) {
		smarm__lock_drop(&s->lock);
		return EBUSY;
	}
	if (s->state != SMARM__SLOT_ENDED) {
		smarm__actor *self = w->current;
		int r;

		if (timeout == 0) {
			smarm__lock_drop(&s->lock);
			return ETIMEDOUT;
		}
		/* The flag keeps the slot ours (no detach, no second joiner)
		 * until we clear it, even if we time out.  The ending actor
		 * wakes whoever it finds in `joiner`. */
		s->flags |= SMARM__SLOT_JOINING;
		s->joiner = self;
		smarm__lock_drop(&s->lock);
		r = smarm__park(w, self, timeout);
		w = smarm__worker_self();
		smarm__lock_take(&s->lock);
		if (s->state != SMARM__SLOT_ENDED) {
			s->flags &= (uint8_t)~SMARM__SLOT_JOINING;
			s->joiner = NULL;
			smarm__lock_drop(&s->lock);
			return r == ENOMEM ? ENOMEM : ETIMEDOUT;
		}
		if (r != 0) {
			/* It ended as our timer fired: its wake is on the way
			 * (it read `joiner` under this lock); take it. */
			smarm__lock_drop(&s->lock);
			smarm__park(w, self, SMARM_FOREVER);
			w = smarm__worker_self();
			smarm__lock_take(&s->lock);
		}
		s->flags &= (uint8_t)~SMARM__SLOT_JOINING;
		s->joiner = NULL;
	}
	res = s->result;
	panicked = s->flags & SMARM__SLOT_PANICKED;
	smarm__slot_retire(s);
	smarm__lock_drop(&s->lock);
	slot_put(w, s);
	if (result)
		*result = res;
	else if (panicked)
		free(res);
	return panicked ? SMARM_EPANIC : 0;
}

int smarm_detach(smarm_pid pid)
{
	smarm__worker *w = worker_at_entry();
	smarm__slot *s;

	if (w == NULL)
		return EPERM;
	s = slot_lock(w->rt, pid);
	if (s == NULL)
		return ESRCH;
	if (s->flags & SMARM__SLOT_DETACHED) {
		smarm__lock_drop(&s->lock);
		return ESRCH;
	}
	if (s->flags & SMARM__SLOT_JOINING) {
		smarm__lock_drop(&s->lock);
		return EBUSY;
	}
	if (s->state == SMARM__SLOT_ENDED) {
		release(w, s);
	} else {
		s->flags |= SMARM__SLOT_DETACHED;
		smarm__lock_drop(&s->lock);
	}
	return 0;
}

/* ---- the actor's own calls ------------------------------------------------- */

static inline int yield(smarm__worker *w)
{
	smarm__actor *self = w->current, *next;

	check_canary(self);
	poll_events(w);
	next = pick_local(w);
	if (next == NULL)
		return 0;
	switch_to(w, self, next, OP_REQUEUE);
	return 0;
}

int smarm__yield(smarm__worker *w)
{
	return yield(w);
}

int smarm_yield(void)
{
	smarm__worker *w = worker_at_entry();

	if (__builtin_expect(w == NULL, 0))
		return EPERM;
	return yield(w);
}

smarm_pid smarm_self(void)
{
	smarm__worker *w = worker_at_entry();

	if (w == NULL)
		return SMARM_PID_NONE;
	/* The slot's generation cannot change while its actor runs. */
	return smarm__slot_pid(w->current->slot);
}

int smarm_pid_eq(smarm_pid a, smarm_pid b)
{
	return a.id == b.id;
}

int smarm_name(smarm_pid pid, char *buf, size_t size)
{
	smarm__worker *w = worker_at_entry();
	smarm__slot *s;
	size_t n;

	if (buf == NULL || size == 0)
		return EINVAL;
	if (w == NULL)
		return EPERM;
	s = slot_lock(w->rt, pid);
	if (s == NULL)
		return ESRCH;
	n = strnlen(s->name, SMARM_NAME_MAX);
	if (n >= size)
		n = size - 1;
	memcpy(buf, s->name, n);
	buf[n] = '\0';
	smarm__lock_drop(&s->lock);
	return 0;
}

/* ---- exit ----------------------------------------------------------------- */

void smarm__actor_finish(smarm__actor *self, void *result, int panicked)
{
	smarm__worker *w = smarm__worker_self();
	smarm__slot *s = self->slot;
	smarm__actor *joiner = NULL;
	char name[SMARM_NAME_MAX];
	smarm_pid pid;
	int detached;

	/* An overwritten canary stops the process before the end is
	 * published: nobody may join a result computed on a broken stack. */
	check_canary(self);
	smarm__lock_take(&s->lock);
	s->actor = NULL;
	s->result = result;
	s->state = SMARM__SLOT_ENDED;
	if (panicked)
		s->flags |= SMARM__SLOT_PANICKED;
	detached = (s->flags & SMARM__SLOT_DETACHED) != 0;
	if (detached) {
		pid = smarm__slot_pid(s);
		memcpy(name, s->name, sizeof(name));
		smarm__slot_retire(s);
	} else if (s->flags & SMARM__SLOT_JOINING) {
		joiner = s->joiner;
	}
	smarm__lock_drop(&s->lock);
	if (detached) {
		if (panicked) {
			fprintf(stderr, "smarm: actor %llu '%s' panicked: %s\n",
				(unsigned long long)pid.id, name,
				result ? (const char *)result : "(no memory)");
			free(result);
		}
		slot_put(w, s);
	} else if (joiner) {
		smarm__wake(joiner);
	}
	if (panicked)
		STAT_INC(w, panicked);
	/* Release: every actor this one spawned is counted before its end
	 * is (see run_over). */
	smarm__atomic_store_release(&w->st.exited,
		smarm__atomic_load_relaxed(&w->st.exited) + 1);
	switch_out(w, self, OP_EXIT);
	abort(); /* not reached: nothing resumes an ended actor */
}

/* ---- the worker ---------------------------------------------------------- */

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
	return smarm__atomic_fetch_add_full(&w->rt->nspinning, (AO_t)-1) == 1;
}

/* A spinner found work.  The last one to do so wakes another, in case
 * there is more. */
static void stop_spinning(smarm__worker *w)
{
	if (unspin(w))
		wake_one(w->rt);
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
		local_push(w, batch[i]);
	smarm__counter_add(&w->st.steals, n);
	return batch[0];
}

/* Nothing local: the global queue, then other workers' run queues. */
static smarm__actor *find_work(smarm__worker *w)
{
	struct smarm_runtime *rt = w->rt;
	unsigned n = rt->nworkers, round, i;
	smarm__actor *a;

	if (global_maybe(rt) && (a = global_take(w)) != NULL)
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
	for (round = 0; round < STEAL_ROUNDS; round++) {
		unsigned start = (unsigned)(xorshift(&w->rng) % n);

		for (i = 0; i < n; i++) {
			smarm__worker *v = &rt->workers[(start + i) % n];

			if (v == w)
				continue;
			a = steal_from(w, v);
			if (a)
				goto found;
			/* A runnext that sat there while its worker kept
			 * running one actor for a whole watch period. */
			if (v == w->watch &&
			    smarm__atomic_load_relaxed(&v->st.switches) ==
			    w->watch_switches &&
			    (a = runnext_take(&v->runnext)) != NULL) {
				SMARM__STAT_INC(w, steals);
				goto found;
			}
		}
		if (global_maybe(rt) && (a = global_take(w)) != NULL)
			goto found;
		for (i = 0; i < 64; i++)
			__builtin_ia32_pause();
	}
	return NULL;
found:
	w->watch = NULL;
	stop_spinning(w);
	return a;
}

/* Is anything there for this worker to run? */
static int work_for(smarm__worker *w)
{
	struct smarm_runtime *rt = w->rt;
	unsigned i;

	if (smarm__mpscq_busy(&w->inbox, &w->inbox_stub) || global_maybe(rt) ||
	    w->pin_head != NULL)
		return 1;
	for (i = 0; i < rt->nworkers; i++) {
		smarm__worker *v = &rt->workers[i];

		if (smarm__runq_len(&v->rq) != 0 ||
		    smarm__deque_len(&v->dq) != 0 ||
		    (v == w && smarm__atomic_load_relaxed(&v->runnext) != 0))
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
		ended += smarm__atomic_load_acquire(&rt->workers[i].st.exited);
	for (i = 0; i < rt->nworkers; i++)
		spawned += smarm__atomic_load_acquire(
			&rt->workers[i].st.spawned);
	return spawned - ended == rt->live_base;
}

/* With every worker asleep: can anything ever run again?  Not if no timer
 * is pending anywhere, no actor waits in smarm_recv (a plain thread may
 * send to it) and no queue holds anything. */
static int deadlocked(struct smarm_runtime *rt)
{
	AO_t waiters = 0;
	unsigned i;

	for (i = 0; i < rt->nworkers; i++) {
		smarm__worker *v = &rt->workers[i];

		if (smarm__atomic_load_acquire(&v->ntimers) != 0 ||
		    smarm__atomic_load_acquire(&v->inbox.head) !=
		    (AO_t)&v->inbox_stub ||
		    smarm__runq_len(&v->rq) != 0 ||
		    smarm__deque_len(&v->dq) != 0 ||
		    smarm__atomic_load_acquire(&v->runnext) != 0)
			return 0;
		waiters += smarm__atomic_load_acquire(&v->chan_waiters);
	}
	return waiters == 0 && !global_maybe(rt);
}

/* End the run for every worker. */
static void end_run(struct smarm_runtime *rt, AO_t how)
{
	unsigned i;

	smarm__atomic_fetch_cas_full(&rt->done, RUN_GOING, how);
	for (i = 0; i < rt->nworkers; i++)
		rouse(&rt->workers[i]);
}

/* Spin until the futex word moves or work shows up (1), or until the
 * spin time or the deadline is over (0). */
static int idle_spin(smarm__worker *w, unsigned seq, uint64_t deadline)
{
	uint64_t until = smarm_now() + IDLE_SPIN_NS;
	unsigned i;

	if (until > deadline)
		until = deadline;
	for (i = 1;; i++) {
		if (smarm__atomic_u32_load_acquire(&w->idle_seq) != seq)
			return 1;
		if ((i & 15) == 0) {
			if (work_for(w))
				return 1;
			if (smarm_now() >= until)
				return 0;
		}
		__builtin_ia32_pause();
	}
}

/* Sleep until there is work (see the top of this file).  Returns nonzero
 * when the run is over. */
static int idle_sleep(smarm__worker *w)
{
	struct smarm_runtime *rt = w->rt;
	struct timespec ts, *tsp = NULL;
	uint64_t next;
	unsigned seq;
	unsigned i;
	AO_t old;

	timers_poll(w, smarm_now());
	if (w->pin_head || smarm__runq_len(&w->rq) != 0 ||
	    smarm__deque_len(&w->dq) != 0)
		return 0;
	smarm__atomic_store_release(&w->ntimers, w->timers.n);
	seq = smarm__atomic_u32_load_acquire(&w->idle_seq);
	smarm__atomic_store_full(&w->sleeping, 1);
	smarm__atomic_fetch_add_full(&rt->nsleeping, 1);
	if (w->spinning)
		unspin(w);
	/* Watch a worker whose runnext is taken: if it still has not
	 * switched when we wake, we take that actor.  Looked at once we are
	 * counted asleep, so that a spawn's runnext filled after the look
	 * meets us in its wake_one (a wake's runnext wakes nobody: its worker
	 * runs it when the waker parks). */
	w->watch = NULL;
	for (i = 0; i < rt->nworkers; i++) {
		smarm__worker *v = &rt->workers[i];

		if (v != w && smarm__atomic_load_relaxed(&v->runnext) != 0) {
			w->watch = v;
			w->watch_switches =
				smarm__atomic_load_relaxed(&v->st.switches);
			break;
		}
	}
	if (smarm__atomic_load_acquire(&rt->done) == RUN_GOING &&
	    !work_for(w)) {
		if (run_over(rt)) {
			end_run(rt, RUN_DONE);
		} else if (smarm__atomic_load_acquire(&rt->nsleeping) ==
			   rt->nworkers && deadlocked(rt)) {
			end_run(rt, RUN_DEADLOCK);
		} else {
			next = smarm__timers_next(&w->timers);
			if (w->watch) {
				uint64_t soon = smarm_now() + RUNNEXT_WATCH_NS;

				if (soon < next)
					next = soon;
			}
			if (next != UINT64_MAX) {
				/* FUTEX_WAIT_BITSET takes an absolute
				 * CLOCK_MONOTONIC time. */
				ts.tv_sec = (time_t)(next / 1000000000u);
				ts.tv_nsec = (long)(next % 1000000000u);
				tsp = &ts;
			}
			if (!idle_spin(w, seq, next)) {
				smarm__atomic_store_full(&w->in_kernel, 1);
				syscall(SYS_futex, &w->idle_seq.v,
					FUTEX_WAIT_BITSET_PRIVATE, seq, tsp,
					NULL, FUTEX_BITSET_MATCH_ANY);
				smarm__atomic_store_relaxed(&w->in_kernel, 0);
			}
		}
	}
	/* Awake: a waker that claimed us (2) counted us as a spinner. */
	do
		old = smarm__atomic_load_acquire(&w->sleeping);
	while (!smarm__atomic_cas_full(&w->sleeping, old, 0));
	if (old == 2)
		w->spinning = 1;
	smarm__atomic_fetch_add_full(&rt->nsleeping, (AO_t)-1);
	return smarm__atomic_load_acquire(&rt->done) != RUN_GOING;
}

/* A worker's own context: runs actors until the run is over. */
static void worker_loop(smarm__worker *w)
{
	smarm__fiber_current(w);
	for (;;) {
		smarm__actor *a;

		after_switch(w);
		poll_events(w);
		a = pick_local(w);
		if (a == NULL) {
			a = find_work(w);
			if (a == NULL) {
				if (idle_sleep(w))
					break;
				continue;
			}
		} else if (__builtin_expect(w->spinning, 0)) {
			/* Woken to look for work, it found some of its own
			 * (a timer, its inbox): it no longer looks, and
			 * others must not count on it to. */
			stop_spinning(w);
		}
		w->current = a;
		STAT_INC(w, switches);
		smarm__fiber_switch(a);
		smarm__ctx_switch(&w->sp, a->sp);
	}
	if (w->spinning)
		unspin(w);
}

static void *worker_thread(void *p)
{
	smarm__worker *w = p;
	struct smarm_runtime *rt = w->rt;

	tls_worker = w;
	/* Wait for the gate: the root actor exists, or the run was called
	 * off. */
	while (smarm__atomic_u32_load_acquire(&rt->gate) == 0)
		syscall(SYS_futex, &rt->gate.v, FUTEX_WAIT_PRIVATE, 0, NULL,
			NULL, 0);
	if (smarm__atomic_load_acquire(&rt->done) == RUN_GOING)
		worker_loop(w);
	tls_worker = NULL;
	return NULL;
}

int smarm__sched_init(struct smarm_runtime *rt)
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

		w->rt = rt;
		w->id = i;
		w->rng = 0x9e3779b97f4a7c15ull * (i + 1);
	}
	smarm__lock_init(&rt->inject_lock);
	return 0;
}

void smarm__sched_fini(struct smarm_runtime *rt)
{
	unsigned i;

	if (rt->workers == NULL)
		return;
	for (i = 0; i < rt->nworkers; i++)
		smarm__timers_fini(&rt->workers[i].timers);
	free(rt->workers);
	rt->workers = NULL;
}

/* Start the workers other than the caller, with every asynchronous signal
 * blocked: signals for the process go to threads the program made. */
static int start_workers(struct smarm_runtime *rt, unsigned *started)
{
	sigset_t all, old;
	unsigned i;
	int err = 0;

	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGTRAP);
	sigdelset(&all, SIGABRT);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 1; i < rt->nworkers; i++) {
		err = pthread_create(&rt->workers[i].thread, NULL,
				     worker_thread, &rt->workers[i]);
		if (err)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	*started = i - 1;
	return err ? EAGAIN : 0;
}

static void open_gate(struct smarm_runtime *rt)
{
	AO_int_store_release(&rt->gate.v, 1);
	futex_wake(&rt->gate, INT32_MAX);
}

int smarm__sched_run(struct smarm_runtime *rt, smarm_fn fn, void *arg,
		     void **result, int *panicked)
{
	smarm__worker *w0 = &rt->workers[0];
	smarm_pid root_pid;
	smarm__slot *root;
	unsigned i, started;
	uint32_t k;
	int err;

	for (i = 0; i < rt->nworkers; i++) {
		smarm__worker *w = &rt->workers[i];

		/* The timer heaps keep their capacity from run to run; they
		 * are empty whenever no actor is alive. */
		w->current = w->prev = NULL;
		w->pin_head = w->pin_tail = NULL;
		w->budget = rt->cfg.preempt_budget;
		w->spinning = 0;
		w->alone = rt->nworkers == 1;
		w->watch = NULL;
		w->tick = w->nnext = 0;
		smarm__runq_init(&w->rq);
		smarm__deque_init(&w->dq);
		smarm__atomic_store_relaxed(&w->runnext, 0);
		smarm__mpscq_init(&w->inbox, &w->inbox_stub);
		smarm__atomic_store_relaxed(&w->sleeping, 0);
		smarm__atomic_store_relaxed(&w->in_kernel, 0);
		smarm__atomic_store_relaxed(&w->chan_waiters, 0);
		smarm__atomic_store_relaxed(&w->ntimers, 0);
	}
	smarm__mpscq_init(&rt->inject, &rt->inject_stub);
	rt->live_base = 0;
	for (i = 0; i < rt->nworkers; i++)
		rt->live_base +=
			smarm__atomic_load_relaxed(&rt->workers[i].st.spawned) -
			smarm__atomic_load_relaxed(&rt->workers[i].st.exited);
	smarm__atomic_store_relaxed(&rt->nspinning, 0);
	smarm__atomic_store_relaxed(&rt->nsleeping, 0);
	smarm__atomic_store_relaxed(&rt->done, RUN_GOING);
	AO_int_store(&rt->gate.v, 0);

	err = start_workers(rt, &started);
	tls_worker = w0;
	if (err == 0)
		err = spawn(w0, fn, arg, 0, NULL, 0, &root_pid);
	if (err) {
		smarm__atomic_store_release(&rt->done, RUN_ABORTED);
		open_gate(rt);
		for (i = 1; i <= started; i++)
			pthread_join(rt->workers[i].thread, NULL);
		tls_worker = NULL;
		return err;
	}
	root = smarm__pid_slot(&rt->pids, root_pid);
	root->flags |= SMARM__SLOT_JOINING; /* the runtime joins the root */
	open_gate(rt);
	worker_loop(w0);
	for (i = 1; i < rt->nworkers; i++)
		pthread_join(rt->workers[i].thread, NULL);
	tls_worker = NULL;

	err = smarm__atomic_load_acquire(&rt->done) == RUN_DEADLOCK ?
		EDEADLK : 0;
	if (err == 0) {
		*result = root->result;
		*panicked = (root->flags & SMARM__SLOT_PANICKED) != 0;
		smarm__slot_free(&rt->pids, root);
	}
	/* The workers' free slots go back to the table, then the slots of
	 * actors that ended and were never joined, and after a deadlock the
	 * parked ones, whose stacks are abandoned where they stand. */
	for (i = 0; i < rt->nworkers; i++) {
		smarm__worker *w = &rt->workers[i];

		while (w->nslots)
			smarm__slot_give(&rt->pids, w->slots[--w->nslots]);
	}
	for (k = 0; rt->pids.used && k < rt->pids.nchunks * SMARM__CHUNK_SLOTS;
	     k++) {
		smarm__slot *s = smarm__slot_at(&rt->pids, k);

		if (s->state == SMARM__SLOT_LIVE) {
			smarm__stack_put(&rt->stacks, s->actor->stack);
			smarm__slot_free(&rt->pids, s);
		} else if (s->state == SMARM__SLOT_ENDED) {
			if (s->flags & SMARM__SLOT_PANICKED)
				free(s->result);
			smarm__slot_free(&rt->pids, s);
		}
	}
	return err;
}

void smarm__sched_stats(struct smarm_runtime *rt, smarm_stats *out)
{
	unsigned i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < rt->nworkers; i++) {
		smarm__wstats *st = &rt->workers[i].st;

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
