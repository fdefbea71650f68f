/*
 * sched.c - spawn, join, detach, yield, park/unpark and the worker loop.
 */
#include "config.h"

#include <errno.h>
#include <linux/futex.h>
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

_Static_assert(((sizeof(smarm__stack) + 63) & ~63u) +
	       ((sizeof(smarm__actor) + 63) & ~63u) + 96 <= SMARM__STACK_TOP,
	       "descriptor, control block and first frame fit the stack top");

/* Nonzero when a caller's struct has something in its reserved room:
 * a field of a later version this library does not know. */
static int reserved_used(const uintptr_t *r, size_t n)
{
	while (n--)
		if (*r++)
			return 1;
	return 0;
}

/* Timers are checked every this many switches while actors keep the run
 * queue busy (always when it runs dry), so a busy worker reads the clock
 * rarely and a sleeper is late by at most that many switches. */
#define TIMER_CHECK_MASK 63u

smarm__worker *smarm__worker_self(void)
{
	return tls_worker;
}

#define worker_at_entry smarm__worker_at_entry

static inline void rq_push(smarm__worker *w, smarm__actor *a)
{
	a->next = NULL;
	if (w->rq_tail)
		w->rq_tail->next = a;
	else
		w->rq_head = a;
	w->rq_tail = a;
}

static inline smarm__actor *rq_pop(smarm__worker *w)
{
	smarm__actor *a = w->rq_head;

	if (a) {
		w->rq_head = a->next;
		if (w->rq_head == NULL)
			w->rq_tail = NULL;
	}
	return a;
}

/* Move every actor whose deadline passed to the run queue. */
static __attribute__((noinline)) void timers_poll(smarm__worker *w,
						  uint64_t now)
{
	smarm__actor *a;

	while ((a = smarm__timers_expired(&w->timers, now)) != NULL) {
		/* PARKED -> RUNNING, unless a wake from another thread got
		 * there first: then the actor is in the inbox already and
		 * this timer simply goes. */
		if (smarm__atomic_cas_full(&a->pstate, SMARM__PARKED,
					   SMARM__RUNNING)) {
			a->wake = ETIMEDOUT;
			rq_push(w, a);
		}
	}
}

/* Move the actors other threads woke to the run queue. */
static __attribute__((noinline)) void inbox_drain(smarm__worker *w)
{
	smarm__mpscq_node *n;

	while ((n = smarm__mpscq_pop(&w->inbox, &w->inbox_stub)) != NULL) {
		smarm__actor *a = (smarm__actor *)
			((char *)n - offsetof(smarm__actor, wake_link));

		if (a->timer_idx)
			smarm__timers_remove(&w->timers, a);
		rq_push(w, a);
	}
}

/* Timers and wake-ups from elsewhere, at every scheduling decision. */
static inline void poll_events(smarm__worker *w)
{
	if (__builtin_expect(w->timers.n != 0, 0) &&
	    (w->rq_head == NULL || (++w->tick & TIMER_CHECK_MASK) == 0))
		timers_poll(w, smarm_now());
	if (__builtin_expect(smarm__mpscq_busy(&w->inbox, &w->inbox_stub), 0))
		inbox_drain(w);
}

/* Switch from self (parked or ended) to the next runnable actor, or to
 * the worker context when none is.  A parked actor whose timer has
 * already fired may be the next one itself: it just goes on. */
static inline void switch_out(smarm__worker *w, smarm__actor *self)
{
	smarm__actor *next;

	poll_events(w);
	next = rq_pop(w);
	w->current = next;
	if (__builtin_expect(next == self, 0))
		return;
	smarm__ctx_switch(&self->sp, next ? next->sp : w->sp);
}

static inline void check_canary(smarm__actor *self)
{
	if (__builtin_expect(*self->canary != SMARM__CANARY, 0))
		smarm__actor_overflow(self);
}

/* Leave a parking actor: returns when it is resumed. */
static inline void leave(smarm__worker *w, smarm__actor *self)
{
	check_canary(self);
	switch_out(w, self);
}

int smarm__park(smarm__worker *w, smarm__actor *self, uint64_t timeout)
{
	self->wake = 0;
	if (timeout != SMARM_FOREVER) {
		self->deadline = smarm__deadline(smarm_now(), timeout);
		smarm__timers_add(&w->timers, self);
	}
	/* RUNNING -> PARKED, full barrier: from here on a waker's CAS sees
	 * PARKED and queues us.  A wake that came first left NOTIFIED: take
	 * it and go on without parking. */
	if (!smarm__atomic_cas_full(&self->pstate, SMARM__RUNNING,
				    SMARM__PARKED)) {
		smarm__atomic_store_relaxed(&self->pstate, SMARM__RUNNING);
		if (self->timer_idx)
			smarm__timers_remove(&w->timers, self);
		return 0;
	}
	leave(w, self);
	return self->wake;
}

static void futex_wake(smarm__atomic_u32 *word)
{
	syscall(SYS_futex, &word->v, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* a's state went PARKED -> RUNNING under our hands: queue it. */
static void make_runnable(smarm__actor *a)
{
	smarm__worker *w = a->worker;

	if (worker_at_entry() == w) {
		if (a->timer_idx)
			smarm__timers_remove(&w->timers, a);
		rq_push(w, a);
		return;
	}
	/* From another thread: through the inbox.  The push ends with a full
	 * barrier, so the load of sleeping comes after the actor is visible
	 * in the inbox; idle() announces sleeping (full barrier) before it
	 * looks at the inbox a last time.  One side sees the other, and a
	 * bumped idle_seq makes a futex wait that has not started return at
	 * once: no wake-up is lost. */
	smarm__mpscq_push(&w->inbox, &a->wake_link);
	if (smarm__atomic_load_acquire(&w->sleeping)) {
		smarm__atomic_u32_fetch_add_full(&w->idle_seq, 1);
		futex_wake(&w->idle_seq);
	}
}

void smarm__wake(smarm__actor *a)
{
	AO_t s = smarm__atomic_load_acquire(&a->pstate);

	/*
	 * Every park has one waker at most: whoever took the actor out of
	 * what it waits on (a channel's waiter slot, a joined actor's slot),
	 * plus its own timer, which fires on its own worker.  So a wake from
	 * the actor's own worker finding it PARKED races with nobody: the
	 * actor cannot run (we do), its timer cannot fire (this thread would
	 * fire it), and no other waker exists.  No atomic read-modify-write.
	 */
	if (s == SMARM__PARKED && a->worker == worker_at_entry()) {
		smarm__atomic_store_relaxed(&a->pstate, SMARM__RUNNING);
		make_runnable(a);
		return;
	}
	for (;;) {
		if (s == SMARM__PARKED) {
			if (smarm__atomic_cas_full(&a->pstate, SMARM__PARKED,
						   SMARM__RUNNING)) {
				make_runnable(a);
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

	smarm__actor_finish(a, a->fn(a->arg), 0);
}

/* ---- spawn ------------------------------------------------------------- */

static inline __attribute__((always_inline)) int
spawn(smarm__worker *w, smarm_fn fn, void *arg, size_t stack_size,
		 const char *name, unsigned flags, smarm__slot **out)
{
	struct smarm_runtime *rt = w->rt;
	smarm__slot *slot;
	smarm__stack *st;
	smarm__actor *a;
	int err;

	if (__builtin_expect(rt->live >= w->timers.cap, 0)) {
		err = smarm__timers_reserve(&w->timers, rt->live + 1);
		if (err)
			return err;
	}
	slot = smarm__slot_alloc(&rt->pids, &err);
	if (slot == NULL)
		return err;
	st = smarm__stack_get(&rt->stacks, stack_size);
	if (st == NULL) {
		smarm__slot_free(&rt->pids, slot);
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
	a->budget = w->budget;
	smarm__atomic_store_relaxed(&a->pstate, SMARM__RUNNING);
	a->sp = smarm__ctx_make(a, smarm__actor_main, a);
	/* An empty name is the common case: one store. */
	slot->actor = a;
	slot->flags = (uint8_t)(flags & SMARM_SPAWN_DETACHED ?
				SMARM__SLOT_DETACHED : 0);
	if (name) {
		strncpy(slot->name, name, SMARM_NAME_MAX - 1);
		slot->name[SMARM_NAME_MAX - 1] = '\0';
	} else {
		slot->name[0] = '\0';
	}
	rt->live++;
	rq_push(w, a);
	*out = slot;
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
	smarm__slot *slot;
	size_t size = 0;
	const char *name = NULL;
	unsigned flags = 0;
	int err;

	if (opts) {
		if (reserved_used(opts->reserved, sizeof(opts->reserved) /
				  sizeof(opts->reserved[0])))
			return EINVAL;
		size = opts->stack_size;
		name = opts->name;
		flags = opts->flags;
	}
	if (fn == NULL || (flags & ~SMARM_SPAWN_DETACHED) ||
	    (pid == NULL && !(flags & SMARM_SPAWN_DETACHED)) ||
	    (size != 0 && (size < SMARM_STACK_MIN || size > SMARM_STACK_MAX)))
		return EINVAL;
	w = worker_at_entry();
	if (w == NULL)
		return EPERM;
	err = spawn(w, fn, arg, size, name, flags, &slot);
	if (err == 0 && pid)
		*pid = smarm__slot_pid(slot);
	return err;
}

int smarm_spawn(smarm_pid *pid, smarm_fn fn, void *arg)
{
	smarm__worker *w;
	smarm__slot *slot;
	int err;

	if (pid == NULL || fn == NULL)
		return EINVAL;
	w = worker_at_entry();
	if (w == NULL)
		return EPERM;
	err = spawn(w, fn, arg, 0, NULL, 0, &slot);
	if (err == 0)
		*pid = smarm__slot_pid(slot);
	return err;
}

/* ---- join and detach ------------------------------------------------------- */

/* Free an ended slot nobody will join; its panic reason goes with it. */
static void release(smarm__pidtab *t, smarm__slot *s)
{
	if (s->flags & SMARM__SLOT_PANICKED)
		free(s->result);
	smarm__slot_free(t, s);
}

int smarm_join(smarm_pid pid, void **result, uint64_t timeout)
{
	smarm__worker *w = worker_at_entry();
	smarm__slot *s;
	void *res;
	int panicked;

	if (w == NULL)
		return EPERM;
	s = smarm__pid_lookup(&w->rt->pids, pid);
	if (s == NULL || (s->flags & SMARM__SLOT_DETACHED))
		return ESRCH;
	if (s == w->current->slot)
		return EDEADLK;
	if (s->flags & SMARM__SLOT_JOINING)
		return EBUSY;
	if (s->state != SMARM__SLOT_ENDED) {
		smarm__actor *self = w->current;

		if (timeout == 0)
			return ETIMEDOUT;
		/* The flag keeps the slot ours (no detach, no second joiner)
		 * until we clear it, even if we time out. */
		s->flags |= SMARM__SLOT_JOINING;
		s->joiner = self;
		smarm__park(w, self, timeout);
		w = smarm__worker_self();
		s->flags &= (uint8_t)~SMARM__SLOT_JOINING;
		s->joiner = NULL;
		if (s->state != SMARM__SLOT_ENDED)
			return ETIMEDOUT;
	}
	res = s->result;
	panicked = s->flags & SMARM__SLOT_PANICKED;
	smarm__slot_free(&w->rt->pids, s);
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
	s = smarm__pid_lookup(&w->rt->pids, pid);
	if (s == NULL || (s->flags & SMARM__SLOT_DETACHED))
		return ESRCH;
	if (s->flags & SMARM__SLOT_JOINING)
		return EBUSY;
	if (s->state == SMARM__SLOT_ENDED)
		release(&w->rt->pids, s);
	else
		s->flags |= SMARM__SLOT_DETACHED;
	return 0;
}

/* ---- the actor's own calls ------------------------------------------------- */

static inline int yield(smarm__worker *w)
{
	smarm__actor *self, *next;

	next = w->rq_head;
	if (next == NULL)
		return 0;
	self = w->current;
	check_canary(self);
	/* Rotate: the head runs, self goes to the tail. */
	w->rq_head = next->next;
	self->next = NULL;
	if (w->rq_head == NULL)
		w->rq_head = self;
	else
		w->rq_tail->next = self;
	w->rq_tail = self;
	w->current = next;
	return smarm__ctx_switch(&self->sp, next->sp);
}

/* Off the hot path, so that the common yield needs no register saved
 * around a call and ends in a tail call to the switch. */
static __attribute__((noinline)) int yield_slow(smarm__worker *w)
{
	if (w == NULL)
		return EPERM;
	poll_events(w);
	return yield(w);
}

int smarm__yield(smarm__worker *w)
{
	if (__builtin_expect(w->timers.n != 0 ||
			     smarm__mpscq_busy(&w->inbox, &w->inbox_stub), 0))
		return yield_slow(w);
	return yield(w);
}

int smarm_yield(void)
{
	smarm__worker *w = worker_at_entry();

	if (__builtin_expect(w == NULL || w->timers.n != 0 ||
			     smarm__mpscq_busy(&w->inbox, &w->inbox_stub), 0))
		return yield_slow(w);
	return yield(w);
}

smarm_pid smarm_self(void)
{
	smarm__worker *w = worker_at_entry();

	if (w == NULL)
		return SMARM_PID_NONE;
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
	s = smarm__pid_lookup(&w->rt->pids, pid);
	if (s == NULL)
		return ESRCH;
	n = strnlen(s->name, SMARM_NAME_MAX);
	if (n >= size)
		n = size - 1;
	memcpy(buf, s->name, n);
	buf[n] = '\0';
	return 0;
}

/* ---- exit ----------------------------------------------------------------- */

void smarm__actor_finish(smarm__actor *self, void *result, int panicked)
{
	smarm__worker *w = smarm__worker_self();
	struct smarm_runtime *rt = w->rt;
	smarm__slot *s = self->slot;

	s->actor = NULL;
	s->result = result;
	s->state = SMARM__SLOT_ENDED;
	if (panicked)
		s->flags |= SMARM__SLOT_PANICKED;
	rt->live--;
	if (s->flags & SMARM__SLOT_DETACHED) {
		if (panicked)
			fprintf(stderr, "smarm: actor %llu '%s' panicked: %s\n",
				(unsigned long long)smarm__slot_pid(s).id,
				s->name,
				result ? (const char *)result : "(no memory)");
		release(&rt->pids, s);
	} else if (s->joiner) {
		smarm__wake(s->joiner);
	}
	check_canary(self);
	if (__builtin_expect(self->stack->map_len == 0, 1)) {
		/* A cached stack goes back to this worker's cache while we
		 * still run on it: nothing can take it from there before the
		 * switch below is done, since only this worker's thread uses
		 * its cache. */
		smarm__stack_put(&rt->stacks, self->stack);
		switch_out(w, self);
	} else {
		/* A stack with a mapping of its own is unmapped: the worker
		 * context does that once we are off it. */
		w->unmap = self->stack;
		w->current = NULL;
		smarm__ctx_switch(&self->sp, w->sp);
	}
	abort(); /* not reached: nothing resumes an ended actor */
}

/* ---- the worker ---------------------------------------------------------- */

/* Nothing is runnable: sleep in the kernel until the next deadline or a
 * wake from another thread (see make_runnable for the handshake). */
static void idle(smarm__worker *w)
{
	uint64_t next;
	struct timespec ts, *tsp = NULL;
	unsigned int seq;

	timers_poll(w, smarm_now());
	if (smarm__mpscq_busy(&w->inbox, &w->inbox_stub))
		inbox_drain(w);
	if (w->rq_head)
		return;
	seq = smarm__atomic_u32_load_acquire(&w->idle_seq);
	smarm__atomic_store_full(&w->sleeping, 1);
	if (!smarm__mpscq_busy(&w->inbox, &w->inbox_stub)) {
		next = smarm__timers_next(&w->timers);
		if (next != UINT64_MAX) {
			/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC
			 * time. */
			ts.tv_sec = (time_t)(next / 1000000000u);
			ts.tv_nsec = (long)(next % 1000000000u);
			tsp = &ts;
		}
		syscall(SYS_futex, &w->idle_seq.v, FUTEX_WAIT_BITSET_PRIVATE,
			seq, tsp, NULL, FUTEX_BITSET_MATCH_ANY);
	}
	smarm__atomic_store_relaxed(&w->sleeping, 0);
}

/* Runs actors until none is alive (0) or every one left is parked with
 * nothing that could ever wake it (EDEADLK): no actor runnable, no timer
 * pending, no wake-up in the inbox, and no actor waiting in smarm_recv
 * (which a plain thread may yet send to). */
static int loop(smarm__worker *w)
{
	for (;;) {
		smarm__actor *a;

		if (w->rt->live == 0)
			return 0;
		poll_events(w);
		a = rq_pop(w);
		if (a == NULL) {
			if (w->timers.n == 0 && w->chan_waiters == 0 &&
			    !smarm__mpscq_busy(&w->inbox, &w->inbox_stub))
				return EDEADLK;
			idle(w);
			continue;
		}
		w->current = a;
		smarm__ctx_switch(&w->sp, a->sp);
		if (w->unmap) {
			smarm__stack_put(&w->rt->stacks, w->unmap);
			w->unmap = NULL;
		}
	}
}

int smarm__sched_run(struct smarm_runtime *rt, smarm_fn fn, void *arg,
		     void **result, int *panicked)
{
	smarm__worker *w = &rt->worker;
	smarm__slot *root;
	uint32_t i;
	int err;

	/* The timer heap keeps its capacity from run to run; it is empty
	 * whenever no actor is alive. */
	w->current = w->rq_head = w->rq_tail = NULL;
	w->unmap = NULL;
	w->chan_waiters = 0;
	w->budget = rt->cfg.preempt_budget;
	smarm__mpscq_init(&w->inbox, &w->inbox_stub);
	smarm__atomic_store_relaxed(&w->sleeping, 0);
	w->tick = 0;
	w->rt = rt;
	tls_worker = w;
	err = spawn(w, fn, arg, 0, NULL, 0, &root);
	if (err) {
		tls_worker = NULL;
		return err;
	}
	root->flags |= SMARM__SLOT_JOINING; /* the runtime joins the root */
	err = loop(w);
	tls_worker = NULL;

	if (err == 0) {
		*result = root->result;
		*panicked = (root->flags & SMARM__SLOT_PANICKED) != 0;
		smarm__slot_free(&rt->pids, root);
	}
	/* Actors that ended and were never joined, and after a deadlock the
	 * parked ones: their stacks are abandoned where they stand. */
	for (i = 0; rt->pids.used && i < rt->pids.nchunks * SMARM__CHUNK_SLOTS;
	     i++) {
		smarm__slot *s = smarm__slot_at(&rt->pids, i);

		if (s->state == SMARM__SLOT_LIVE) {
			smarm__stack_put(&rt->stacks, s->actor->stack);
			smarm__slot_free(&rt->pids, s);
		} else if (s->state == SMARM__SLOT_ENDED) {
			release(&rt->pids, s);
		}
	}
	rt->live = 0;
	return err;
}
