/*
 * sched.c - park, wake, yield and sleep; the worker's own queues and
 * the switch; rousing an idle worker when work appears.  Its timers are
 * in sched_timer.c.
 *
 * Owns: every worker field it names (worker.h), shared with idle.c only.
 * May touch: timer, stack, pid, the queues, context, and its timers'
 * half (sched_timer.c) through worker.h.  Never calls idle.c or anything
 * above it: the worker's loop (idle.c) calls in here.
 *
 * Switching.  Every switch records what the actor it leaves wants done
 * once its context is saved (w->prev, w->prev_op), and whatever runs next
 * on that worker does it first thing, in after_switch(): put a yielding
 * actor back in the run queue, commit a park, recycle an ended actor's
 * stack.  Until then the actor is in no queue, so no other worker can
 * resume it half-saved.
 *
 * Timers (sched_timer.c, this file's other half).  A timed park adds
 * one to its worker's heap; whoever moves the actor PARKED -> RUNNING
 * takes it out; the worker looks for expired ones now and then
 * (poll_events).
 *
 * Rousing workers (the waking half of the handshake in idle.c, in
 * worker.h).  Work any worker may take -- a run queue or deque push, the
 * global queue -- wakes one sleeper if nobody spins (smarm__wake_one).  A
 * run-next actor is for this worker, which runs it when its actor parks;
 * a sleeper that others' activity may concern sleeps with a bound and
 * then looks for a run-next whose worker has not switched since
 * (idle.c).  Only "deep" sleepers -- those that went to sleep when every
 * worker was idle -- would not look, and a run-next (or a timer) rouses
 * one of those, at the cost of one load when there is none.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smarm.h"
#include "context.h"
#include "sched.h"
#include "worker.h"

/* initial-exec: one %fs-relative load, no __tls_get_addr call. */
__thread smarm__worker *smarm__tls_worker
	__attribute__((tls_model("initial-exec")));
#define worker_at_entry smarm__worker_at_entry
#define STAT_INC SMARM__STAT_INC
#define local_push smarm__local_push
#define local_work smarm__local_work

_Static_assert(96 <= SMARM__STACK_TOP, "the first frame fits the stack top");
_Static_assert(offsetof(struct smarm__worker, h) == 0,
	       "the head is where sched.h's accessors look for it");

/* What the next context does for the actor that switched to it. */
enum { OP_NONE, OP_REQUEUE, OP_PARK, OP_EXIT };

/* Timers are checked every this many scheduling decisions while actors
 * keep a worker busy (always when its local queues run dry), so a busy
 * worker reads the clock rarely and a sleeper is late by at most that
 * many switches. */
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
_Static_assert((32u & FAIR_MASK) == 0 && GLOBAL_CHECK_MASK > FAIR_MASK,
	       "a global check falls on a fair pick (pick_local)");

#if !defined(__x86_64__)
smarm__worker *smarm__worker_self(void)
{
	return smarm__tls_worker;
}
#endif

/* ---- the worker's own queues ----------------------------------------------- */

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

/* Make a runnable here next (not pinned), and see that it is not left
 * waiting behind a long-running actor while others sleep. */
static inline void runnext_wake(smarm__worker *w, smarm__actor *a)
{
	if (runnext_put(w, a))
		smarm__wake_after(w);
	else
		smarm__wake_deep(w);
}

/*
 * The owner's takes.  A worker alone in its runtime has no thieves: its
 * queues are its own, and it takes from them without the atomic
 * read-modify-writes and barriers that racing thieves need.
 */
static inline smarm__actor *own_runnext(smarm__worker *w)
{
	AO_t a;

	if (!w->alone) {
		a = smarm__atomic_load_acquire(&w->runnext);
		if (a != 0 && smarm__atomic_cas_full(&w->runnext, a, 0))
			return (smarm__actor *)a;
		return NULL;
	}
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

/* ---- events: timers, the inbox ------------------------------------------------ */

/* Move the pinned actors other threads woke for this worker to its
 * pinned list. */
static __attribute__((noinline)) void inbox_drain(smarm__worker *w)
{
	smarm__mpscq_node *n;

	while ((n = smarm__mpscq_pop(&w->inbox, &w->inbox_stub)) != NULL)
		local_push(w, smarm__link_actor(n));
}

/* Timers and wake-ups from elsewhere, at every scheduling decision.  The
 * clock is read only when a timer is pending, and then only now and then
 * or when nothing local is left to run. */
static inline __attribute__((always_inline)) void
poll_events(smarm__worker *w)
{
	uint32_t tick = ++w->tick;

	if (__builtin_expect(smarm__atomic_load_relaxed(&w->tnext) !=
			     UINT64_MAX, 0) &&
	    ((tick & TIMER_CHECK_MASK) == 0 || !local_work(w))) {
		uint64_t now = smarm_now();

		if (smarm__atomic_load_relaxed(&w->tnext) <= now)
			smarm__sched_fire_timers(w, w, now);
	}
	if (__builtin_expect(smarm__mpscq_busy(&w->inbox, &w->inbox_stub), 0))
		inbox_drain(w);
}

/* Every FAIR_MASK + 1 decisions: now and then the global queue, else the
 * oldest local actor first, so that nothing waits for ever behind a
 * stream of new work. */
static __attribute__((noinline)) smarm__actor *pick_rare(smarm__worker *w,
							 uint32_t tick)
{
	smarm__actor *a;

	/* The fds, for when no idle worker polls them (poll.c). */
	if ((tick & GLOBAL_CHECK_MASK) == 16 &&
	    smarm__atomic_load_relaxed(&w->h.rt->io_armed))
		w->h.rt->io_busy(w->h.rt);
	if ((tick & GLOBAL_CHECK_MASK) == 32 && smarm__global_maybe(w->h.rt)) {
		a = smarm__global_take(w);
		if (a)
			return a;
	}
	a = own_runq(w);
	if (a == NULL && smarm__deque_maybe(&w->dq))
		a = smarm__deque_steal(&w->dq);
	if (a == NULL)
		a = pin_pop(w);
	return a;
}

/* The next actor this worker runs from its own queues, or NULL. */
static inline __attribute__((always_inline)) smarm__actor *
pick_local(smarm__worker *w)
{
	uint32_t tick = w->tick;
	smarm__actor *a;

	/* One test for both rare cases. */
	if (__builtin_expect((tick & FAIR_MASK) == 0, 0)) {
		a = pick_rare(w, tick);
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

/* Events first (timers, the inbox), then the next local actor. */
static inline __attribute__((always_inline)) smarm__actor *
next_local(smarm__worker *w)
{
	poll_events(w);
	return pick_local(w);
}

/* ---- switching ------------------------------------------------------------------ */

/* A stack's canary was found overwritten: report and abort.  The
 * neighbouring memory may be damaged too: no unwinding, no recovery; stop
 * with a clear message instead of a mystery crash. */
void smarm__sched_overflowed(smarm__actor *a)
{
	smarm_pid pid = smarm__slot_pid(a->slot);

	fprintf(stderr,
		"smarm: actor %llu '%s' overflowed its stack; aborting\n"
		"smarm: (stack overflow: the canary of its %zu-byte stack "
		"was overwritten)\n",
		(unsigned long long)pid.id, a->slot->name,
		(size_t)(a->stack->top - a->stack->lo));
	abort();
}

#define check_canary smarm__sched_check_stack

/* Done in the context that runs after a switch: finish what the actor
 * that switched away asked for, now that its context is saved. */
static __attribute__((noinline)) void after_switch_op(smarm__worker *w)
{
	smarm__actor *p = w->prev;

	w->prev = NULL;
	switch (w->prev_op) {
	case OP_REQUEUE:
		local_push(w, p);
		smarm__wake_after(w);
		break;
	case OP_PARK:
		/* A wake came during the switch (see after_switch). */
		smarm__atomic_store_relaxed(&p->pstate, SMARM__RUNNING);
		if (p->timed)
			smarm__sched_timer_cancel(p);
		local_push(w, p);
		break;
	default: /* OP_EXIT: nothing runs on its stack any more */
		smarm__fiber_destroy(p);
		if (__builtin_expect(p->stack != w->spare, 1))
			smarm__stack_put_cached(&w->h.rt->stacks,
						&w->h.stacks, p->stack);
		smarm__actor_release(w, p);
		break;
	}
}

static inline __attribute__((always_inline)) void
after_switch(smarm__worker *w)
{
	smarm__actor *p = w->prev;

	if (p == NULL)
		return;
	/* A park, the common case, is committed here: RUNNING -> PARKED,
	 * full barrier: from here on a waker's CAS sees PARKED and queues
	 * it.  A wake that came during the switch left NOTIFIED: the park is
	 * over already, and after_switch_op queues the actor again. */
	if (__builtin_expect(w->prev_op == OP_PARK, 1) &&
	    smarm__atomic_cas_full(&p->pstate, SMARM__RUNNING, SMARM__PARKED)) {
		w->prev = NULL;
		return;
	}
	after_switch_op(w);
}

/* a runs for the first time: give it a stack from w's cache, or, when
 * none can be had, w's spare one to end on (see smarm__sched_start). */
static __attribute__((noinline)) void bind_stack(smarm__worker *w,
						 smarm__actor *a)
{
	smarm__stack *st = smarm__stack_get_cached(&w->h.rt->stacks,
						   &w->h.stacks, 0);

	if (__builtin_expect(st == NULL, 0)) {
		st = w->spare;
		a->fn = NULL;
		smarm__fiber_clean(st->lo, (size_t)(st->top - st->lo));
	}
	a->stack = st;
	a->canary = st->canary;
	a->sp = smarm__ctx_make(st->top, a->entry, a);
}


/* Switch from self to next, or to the worker context when next is NULL,
 * leaving op to whoever runs next; returns when self is resumed. */
static inline void switch_to(smarm__worker *w, smarm__actor *self,
			     smarm__actor *next, unsigned op)
{
	if (op != OP_NONE) {
		w->prev = self;
		w->prev_op = op;
	}
	w->h.current = next;
	if (next) {
		STAT_INC(w, switches);
		if (__builtin_expect(next->sp == NULL, 0))
			bind_stack(w, next);
		smarm__fiber_switch(self, op == OP_EXIT, next, next->stack);
		smarm__ctx_switch(&self->sp, next->sp);
	} else {
		smarm__fiber_switch_home(self, op == OP_EXIT, w);
		smarm__ctx_switch(&self->sp, w->sp);
	}
	w = smarm__worker_self();
	smarm__fiber_arrived(self, w);
	after_switch(w);
}

smarm__actor *smarm__sched_next(smarm__worker *w)
{
	after_switch(w);
	return next_local(w);
}

void smarm__sched_enter(smarm__worker *w, smarm__actor *a)
{
	/* Its actor may run long: a deep sleeper must not stay deaf to the
	 * timers this worker holds meanwhile. */
	if (smarm__atomic_load_relaxed(&w->tnext) != UINT64_MAX)
		smarm__wake_deep(w);
	w->h.current = a;
	STAT_INC(w, switches);
	if (__builtin_expect(a->sp == NULL, 0))
		bind_stack(w, a);
	smarm__fiber_switch(w, 0, a, a->stack);
	smarm__ctx_switch(&w->sp, a->sp);
	smarm__fiber_home(w);
}

/* ---- park and wake ------------------------------------------------------------ */

int smarm__park(smarm__actor *self, uint64_t timeout, unsigned flags)
{
	smarm__worker *w = worker_at_entry();
	smarm__actor *next;

	/* A wake that came before the park: take it and go on. */
	/* Acquire: what the waker wrote before its wake is seen. */
	if (smarm__atomic_load_acquire(&self->pstate) == SMARM__NOTIFIED) {
		smarm__atomic_store_relaxed(&self->pstate, SMARM__RUNNING);
		return 0;
	}
	check_canary(self);
	self->wake = 0;
	self->timed = timeout != SMARM_FOREVER;
	self->worker = w;
	/* Room for the timer first, so that running out of memory leaves
	 * nothing half done. */
	if (self->timed && 
	    smarm__sched_timer_add(w, &self->timer, timeout) != 0) {
		self->timed = 0;
		return ENOMEM;
	}
	STAT_INC(w, parks);
	next = next_local(w);
	/* The actor switched to may run long: a sleeper must not stay deaf
	 * to this timer meanwhile. */
	if (self->timed && next)
		smarm__wake_deep(w);
	if (flags & SMARM__PARK_OPEN)
		smarm__counter_add(&w->nopen, 1);
	switch_to(w, self, next, OP_PARK);
	if (flags & SMARM__PARK_OPEN) {
		/* Each worker's count only moves by its own hand; their sum
		 * is what counts (the actor may resume elsewhere). */
		w = smarm__worker_self();
		smarm__counter_add(&w->nopen, (AO_t)-1);
	}
	return self->wake;
}

/* a's state went PARKED -> RUNNING under our hands: queue it where it may
 * run.  w is the calling thread's worker, NULL for a plain thread. */
static __attribute__((noinline)) void
make_runnable_slow(smarm__worker *w, smarm__actor *a)
{
	if (__builtin_expect(a->timed, 0))
		smarm__sched_timer_cancel(a);
	if (w)
		STAT_INC(w, wakeups);
	else
		smarm__atomic_fetch_add_full(&a->worker->h.rt->thread_wakeups,
					     1);
	if (__builtin_expect(a->pinned, 0)) {
		if (w == a->worker)
			local_push(w, a);
		else
			smarm__sched_send_home(a);
	} else if (w == NULL) {
		/* From a plain thread: the global queue, and a worker to take
		 * it.  The push ends with a full barrier before the look for
		 * sleepers.  Once pushed, a is another thread's: read nothing
		 * of it after. */
		struct smarm_runtime *rt = a->worker->h.rt;

		smarm__mpscq_push(&rt->inject, &a->wake_link);
		smarm__wake_one_slow(rt);
	} else {
		/* Here, next: the locality that makes a request and its
		 * reply cheap. */
		runnext_wake(w, a);
	}
}

/* A worker waking an actor neither timed nor pinned is the common case. */
static inline __attribute__((always_inline)) void
make_runnable(smarm__worker *w, smarm__actor *a)
{
	if (__builtin_expect(w == NULL || a->timed || a->pinned, 0)) {
		make_runnable_slow(w, a);
		return;
	}
	STAT_INC(w, wakeups);
	runnext_wake(w, a);
}

void smarm__wake(smarm__actor *a)
{
	smarm__worker *w = worker_at_entry();
	AO_t s = smarm__atomic_load_acquire(&a->pstate);

	/*
	 * Every park has one waker at most -- whoever took the actor out of
	 * what it waits on -- plus its timer, which any worker may fire.  So
	 * a wake finding an untimed actor PARKED races with nobody: no
	 * read-modify-write then.
	 */
	if (s == SMARM__PARKED && w != NULL && !a->timed) {
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

void smarm__waiter_cancel(smarm__atomic *word, smarm__actor *self,
			  unsigned flags)
{
	if (!smarm__atomic_cas_full(word, (AO_t)self, 0))
		smarm__park(self, SMARM_FOREVER, flags);
}

/* ---- the actor's own calls -------------------------------------------------- */

/* A yield on a lone worker whose only local work is its run queue (no
 * timer, inbox, rare pick, run-next, deque or pinned actor): nobody else
 * takes from that queue, so self goes in before its context is saved.
 * Nonzero when done (or nothing else can run); 0: the general way. */
static inline __attribute__((always_inline)) int
yield_alone(smarm__worker *w, smarm__actor *self)
{
	uint32_t tick = w->tick + 1;
	AO_t h, t;
	smarm__actor *next;

	if (__builtin_expect((tick & FAIR_MASK) == 0, 0) ||
	    smarm__atomic_load_relaxed(&w->tnext) != UINT64_MAX ||
	    smarm__mpscq_busy(&w->inbox, &w->inbox_stub) ||
	    smarm__atomic_load_relaxed(&w->runnext) != 0 ||
	    w->pin_head != NULL || smarm__deque_maybe(&w->dq))
		return 0;
	w->tick = tick;
	w->nnext = 0;
	h = smarm__atomic_load_relaxed(&w->rq.head);
	t = smarm__atomic_load_relaxed(&w->rq.tail);
	if (h == t)
		return 1;	/* nothing else to run */
	/* Pop the oldest, push self: the ring's length stays. */
	next = (smarm__actor *)smarm__atomic_load_relaxed(
		&w->rq.slot[h % SMARM__RUNQ_SIZE]);
	smarm__atomic_store_relaxed(&w->rq.slot[t % SMARM__RUNQ_SIZE],
				    (AO_t)self);
	smarm__atomic_store_relaxed(&w->rq.head, h + 1);
	smarm__atomic_store_relaxed(&w->rq.tail, t + 1);
	switch_to(w, self, next, OP_NONE);
	return 1;
}

static inline int yield(smarm__worker *w)
{
	smarm__actor *self = w->h.current, *next;

	check_canary(self);
	if (w->alone && !self->pinned && yield_alone(w, self))
		return 0;
	next = next_local(w);
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

/* ---- actors' lives ------------------------------------------------------------- */

void smarm__sched_start(smarm__worker *w, smarm__actor *a)
{
	a->worker = w;
	a->timed = 0;
	a->timer.idx = 0;
	a->timer.kind = SMARM__TIMER_PARK;
	a->budget = w->h.budget;
	smarm__atomic_store_relaxed(&a->pstate, SMARM__RUNNING);
	STAT_INC(w, spawned);
	/* The new actor runs next here (a spawning tree unfolds depth
	 * first); what it displaces may be stolen.  A worker with nothing to
	 * do may start it, or what it displaced, while the spawner goes on
	 * (see wake_after). */
	if (a->pinned) {
		local_push(w, a);
	} else {
		runnext_put(w, a);
		smarm__wake_after(w);
	}
}

const smarm__stack *smarm__sched_spare(smarm__worker *w,
				      const smarm__stack *st)
{
	return w->spare != NULL && w->spare != st ? w->spare : NULL;
}

void smarm__sched_entered(void)
{
	smarm__worker *w = smarm__worker_self();

	smarm__fiber_entered(w);
	after_switch(w);
}

void smarm__sched_exit(smarm__worker *w, smarm__actor *self)
{
	/* Release: every actor this one spawned is counted before its end
	 * is (see run_over in idle.c). */
	smarm__atomic_store_release(&w->h.st.exited,
		smarm__atomic_load_relaxed(&w->h.st.exited) + 1);
	switch_to(w, self, next_local(w), OP_EXIT);
	abort(); /* not reached: nothing resumes an ended actor */
}

