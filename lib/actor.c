/*
 * actor.c - an actor's life: spawn, join, detach, exit, panic, names, sleep.
 *
 * Owns: the slot (pid.h) from spawn to retirement, the control block's
 * creation, the entry and end of every actor.  May touch: sched.h --
 * parking, waking, the worker's caches through its accessors -- and the
 * modules below it.  Never a worker's fields.
 *
 * A slot outlives its actor's control block and stack: they go back to
 * the worker's caches the moment the actor ends (sched.c), the slot
 * (result, how it ended) stays until the actor is joined, or at once when
 * it was detached.  A joiner announces itself in the slot's joiner word
 * under the slot's lock; the ending actor takes it out under the same
 * lock and wakes it after.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smarm.h"
#include "actor.h"
#include "context.h"
#include "limit.h"
#include "lock.h"
#include "mailbox.h"
#include "mpscq.h"
#include "mutex.h"
#include "pid.h"
#include "sched.h"
#include "stack.h"

/* Nonzero when a caller's struct has something in its reserved room:
 * a field of a later version this library does not know. */
static int reserved_used(const uintptr_t *r, size_t n)
{
	while (n--)
		if (*r++)
			return 1;
	return 0;
}

/* ---- the end ----------------------------------------------------------------- */

/* A detached actor's panic: nobody joins it, so its reason goes to
 * standard error (smarm_detach(3)) and is freed. */
static void report_panic(smarm_pid pid, const char *name, char *reason)
{
	fprintf(stderr, "smarm: actor %llu '%s' panicked: %s\n",
		(unsigned long long)pid.id, name,
		reason ? reason : "(no memory)");
	free(reason);
}

/* End self with a result (or a panic reason). */
static __attribute__((noreturn)) void finish(smarm__actor *self, void *result,
					     int panicked)
{
	smarm__worker *w = smarm__worker_self();
	struct smarm_runtime *rt = smarm__worker_rt(w);
	smarm__slot *s = self->slot;
	smarm__actor *joiner = NULL;
	struct smarm__signal *owed;
	char name[SMARM_NAME_MAX], why[SMARM_REASON_MAX];
	void *told = result;    /* what the signals of its end carry */
	smarm_pid pid;
	int detached, flags;

	/* A panic's reason belongs to the joiner once the end is published
	 * (it may free it at once): the signals take their text from a copy
	 * made before. */
	if (__builtin_expect(panicked && result != NULL, 0)) {
		snprintf(why, sizeof(why), "%s", (const char *)result);
		told = why;
	}
	/* An overwritten canary stops the process before the end is
	 * published: nobody may join a result computed on a broken stack. */
	smarm__sched_check_stack(self);
	/* What it still holds goes to the next lockers (EOWNERDEAD). */
	if (__builtin_expect(self->held != NULL, 0))
		smarm__mutex_release_all(self);
	smarm__lock_take(&s->lock);
	s->actor = NULL;
	s->result = result;
	s->state = SMARM__SLOT_ENDED;
	if (panicked)
		s->flags |= SMARM__SLOT_PANICKED;
	flags = s->flags;
	detached = (flags & SMARM__SLOT_DETACHED) != 0;
	pid = smarm__slot_pid(s);
	owed = smarm__end_take(self);
	if (detached) {
		memcpy(name, s->name, sizeof(name));
		smarm__told_free(s);
		smarm__slot_retire(s);
	} else {
		/* Under the lock: the joiner cannot give up and retire the
		 * slot before we are done with its word. */
		joiner = smarm__waiter_take(&s->joiner);
	}
	smarm__lock_drop(&s->lock);
	/* Ended: no send queues any more, and what did is complete. */
	if (__builtin_expect(smarm__mpscq_busy(&self->mbox, &self->mbox_stub),
			     0))
		smarm__mailbox_drain(rt, self, pid);
	if (__builtin_expect(owed != NULL || self->deadline != NULL, 0) &&
	    smarm__end_send(rt, self, owed, pid, flags, told) != 0 &&
	    detached && panicked) {
		/* Its supervisor heard of the panic. */
		free(result);
		panicked = 0;
		result = NULL;
	}
	if (detached) {
		if (panicked)
			report_panic(pid, name, result);
		smarm__slot_cache_put(&rt->pids, smarm__worker_slots(w), s);
	} else if (joiner) {
		smarm__wake(joiner);
	}
	if (flags & SMARM__SLOT_PANICKED)
		SMARM__STAT_INC(w, panicked);
	smarm__sched_exit(w, self);
}

static __attribute__((noreturn)) void actor_main(void *p)
{
	smarm__actor *a = p;

	smarm__sched_entered();
	/* No stack was left for it when it first ran: it ends on its
	 * worker's spare one, as a panic, before it runs anything. */
	if (__builtin_expect(a->fn == NULL, 0))
		smarm_panic("no memory for the actor's stack");
	finish(a, a->fn(a->arg), 0);
}

void smarm_exit(void *result)
{
	smarm__worker *w = smarm__worker_self();

	if (w == NULL) {
		fputs("smarm: smarm_exit() called outside an actor\n", stderr);
		abort();
	}
	finish(smarm__current(w), result, 0);
}

void smarm_panic(const char *fmt, ...)
{
	smarm__worker *w = smarm__worker_self();
	char *reason = NULL;
	va_list ap;

	if (fmt == NULL)
		fmt = "panic";
	va_start(ap, fmt);
	/* On failure the reason stays NULL: the joiner still learns of the
	 * panic, only its text is lost to the memory shortage. */
	if (vasprintf(&reason, fmt, ap) < 0)
		reason = NULL;
	va_end(ap);
	if (w == NULL) {
		fprintf(stderr, "smarm: smarm_panic() outside an actor: %s\n",
			reason ? reason : fmt);
		abort();
	}
	finish(smarm__current(w), reason, 1);
}

/* ---- the actor's own calls -------------------------------------------------- */

int smarm_sleep(uint64_t ns)
{
	smarm__worker *w = smarm__worker_at_entry();
	smarm__actor *self;
	int r;

	if (w == NULL)
		return EPERM;
	if (ns == 0)
		return smarm__yield(w);
	/* Only a canceller takes the sleeper out of its own word and wakes
	 * it; the timer ends the sleep otherwise. */
	self = smarm__current(w);
	smarm__why(self, SMARM__WHY_SLEEP, 0);
	smarm__self_announce(self);
	r = smarm__self_park(self, ns, 0);
	if (r == 0) {
		smarm__cancel_take(self);
		return ECANCELED;
	}
	/* Out of the word, or the wake of a canceller that came first: its
	 * request then waits for the next call. */
	smarm__self_unwait(self, 0);
	return r == ETIMEDOUT ? 0 : r;
}

/* ---- spawn ------------------------------------------------------------------- */

/* Fill a's slot: live, flags, name; *pid names it. */
static inline __attribute__((always_inline)) void
slot_open(smarm__slot *slot, smarm__actor *a, const char *name,
		      unsigned flags, smarm_pid *pid)
{
	smarm__lock_take(&slot->lock);
	smarm__slot_init(slot);
	slot->actor = a;
	if (flags & SMARM_SPAWN_DETACHED)
		slot->flags = SMARM__SLOT_DETACHED;
	if (flags & SMARM__SPAWN_ROOT)
		slot->flags = SMARM__SLOT_JOINING; /* the runtime joins it */
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
}

/* The stack of an actor asking for a size of its own is mapped now, so
 * that a size that cannot be had is the spawn's ENOMEM; an actor of the
 * default size gets one when it first runs (sched.h), and the spawn only
 * makes sure that its worker has one to give. */
static inline __attribute__((always_inline)) int
stack_for(struct smarm_runtime *rt, smarm__worker *w, smarm__actor *a,
	  size_t stack_size)
{
	smarm__stack *st;

	a->sp = NULL;
	a->stack = NULL;
	if (__builtin_expect(stack_size == 0, 1))
		return smarm__stack_ready(&rt->stacks, smarm__worker_stacks(w));
	st = smarm__stack_get_cached(&rt->stacks, smarm__worker_stacks(w),
				     stack_size);
	if (st == NULL)
		return ENOMEM;
	a->stack = st;
	a->canary = st->canary;
	a->sp = smarm__ctx_make(st->top, actor_main, a);
	return 0;
}

/* The rest of a spawn with a supervisor or a deadline (opts). */
static __attribute__((noinline)) int
spawn_watched(smarm__worker *w, smarm__actor *a, smarm__slot *slot,
	      const char *name, unsigned flags, smarm_pid *pid,
	      const smarm_spawn_opts *opts)
{
	struct smarm_runtime *rt = smarm__worker_rt(w);
	int err = 0;

	if (opts->supervisor.id != 0)
		err = smarm__watch_supervisor(rt, a, opts->supervisor);
	if (err == 0) {
		/* Named first: a deadline that passes at once finds it. */
		slot_open(slot, a, name, flags, pid);
		if (opts->deadline != 0 && opts->deadline != SMARM_FOREVER)
			err = smarm__deadline_set(w, a, opts->deadline);
		if (err) {
			smarm__lock_take(&slot->lock);
			smarm__told_free(slot);
			smarm__slot_retire(slot);
			smarm__lock_drop(&slot->lock);
			smarm__mailbox_drain(rt, a, SMARM_PID_NONE);
		}
	}
	if (err) {
		smarm__watch_undo(a);
		smarm__fiber_destroy(a);
		if (a->stack)
			smarm__stack_put_cached(&rt->stacks,
						smarm__worker_stacks(w),
						a->stack);
		smarm__actor_release(w, a);
		smarm__slot_cache_put(&rt->pids, smarm__worker_slots(w), slot);
		return err;
	}
	smarm__sched_start(w, a);
	return 0;
}

static inline __attribute__((always_inline)) int
spawn(smarm__worker *w, smarm_fn fn, void *arg, size_t stack_size,
      const char *name, unsigned flags, smarm_pid *pid,
      const smarm_spawn_opts *watch)
{
	struct smarm_runtime *rt = smarm__worker_rt(w);
	smarm__slot *slot;
	smarm__actor *a;
	int err = EAGAIN;

	slot = smarm__slot_cache_get(&rt->pids, smarm__worker_slots(w), &err);
	if (slot == NULL)
		return err;
	a = smarm__actor_new(w);
	if (a == NULL || stack_for(rt, w, a, stack_size) != 0) {
		if (a)
			smarm__actor_release(w, a);
		else
			smarm__limit_nomem(&rt->limits_said, "spawn");
		smarm__slot_cache_put(&rt->pids, smarm__worker_slots(w), slot);
		return ENOMEM;
	}
	a->entry = actor_main;
	smarm__mailbox_init(a);
	/* Born during a shutdown: cancelled from the start. */
	if (__builtin_expect(smarm__atomic_load_relaxed(&rt->shutdown_at) != 0,
			     0))
		smarm__atomic_store_relaxed(&a->cancels, 1);
	a->slot = slot;
	a->fn = fn;
	a->arg = arg;
	a->pinned = (flags & SMARM_SPAWN_PINNED) != 0;
	smarm__fiber_create(a);
	if (__builtin_expect(watch != NULL, 0))
		return spawn_watched(w, a, slot, name, flags, pid, watch);
	slot_open(slot, a, name, flags, pid);
	smarm__sched_start(w, a);
	return 0;
}

int smarm__actor_spawn(smarm__worker *w, smarm_fn fn, void *arg,
		       size_t stack_size, const char *name, unsigned flags,
		       smarm_pid *pid)
{
	return spawn(w, fn, arg, stack_size, name, flags, pid, NULL);
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
	const smarm_spawn_opts *watch = NULL;
	unsigned flags = 0;

	if (opts) {
		if (reserved_used(opts->reserved, sizeof(opts->reserved) /
				  sizeof(opts->reserved[0])))
			return EINVAL;
		size = opts->stack_size;
		name = opts->name;
		flags = opts->flags;
		if (opts->supervisor.id != 0 ||
		    (opts->deadline != 0 && opts->deadline != SMARM_FOREVER))
			watch = opts;
	}
	if (fn == NULL ||
	    (flags & ~(SMARM_SPAWN_DETACHED | SMARM_SPAWN_PINNED)) ||
	    (pid == NULL && !(flags & SMARM_SPAWN_DETACHED)) ||
	    (size != 0 && (size < SMARM_STACK_MIN || size > SMARM_STACK_MAX)))
		return EINVAL;
	w = smarm__worker_at_entry();
	if (w == NULL)
		return EPERM;
	return spawn(w, fn, arg, size, name, flags, pid, watch);
}

int smarm_spawn(smarm_pid *pid, smarm_fn fn, void *arg)
{
	smarm__worker *w;

	if (pid == NULL || fn == NULL)
		return EINVAL;
	w = smarm__worker_at_entry();
	if (w == NULL)
		return EPERM;
	return spawn(w, fn, arg, 0, NULL, 0, pid, NULL);
}

/* ---- join and detach --------------------------------------------------------- */


/* Retire a locked, ended slot, unlock it and cache it.  Its result, or
 * its panic reason, goes to *result, or is freed when result is NULL. */
static inline __attribute__((always_inline)) int
slot_close(smarm__worker *w, smarm__slot *s, void **result)
{
	void *res = s->result;
	int panicked = s->flags & SMARM__SLOT_PANICKED;

	smarm__told_free(s);
	smarm__slot_retire(s);
	smarm__lock_drop(&s->lock);
	smarm__slot_cache_put(&smarm__worker_rt(w)->pids,
			      smarm__worker_slots(w), s);
	if (result)
		*result = res;
	else if (panicked)
		free(res);
	return panicked ? SMARM_EPANIC : 0;
}

/* Wait for the actor of the locked slot s to end; the slot is locked
 * again on success (0), unlocked on ETIMEDOUT, ECANCELED or ENOMEM. */
static int join_wait(smarm__slot *s, uint64_t timeout)
{
	smarm__actor *self = smarm__current(smarm__worker_at_entry());
	AO_t seen = self->cancels_seen;
	int r;

	/* The flag keeps the slot ours (no detach, no second joiner) until
	 * we clear it, even if we give up.  The ending actor takes us out of
	 * the word under the lock; a canceller, without it. */
	s->flags |= SMARM__SLOT_JOINING;
	smarm__wait_on(self, s, SMARM__WAIT_JOIN);
	smarm__why(self, SMARM__WHY_JOIN, SMARM__WHY_NUM(s));
	smarm__atomic_store_full(&s->joiner, (AO_t)self);
	smarm__lock_drop(&s->lock);
	r = smarm__cancel_take(self) ? ECANCELED : smarm__park(self, timeout, 0);
	/* Woken (0) means taken out; otherwise take ourselves out, or take
	 * the wake of whoever came first. */
	if (r != 0)
		smarm__waiter_cancel(&s->joiner, self, 0);
	smarm__lock_take(&s->lock);
	if (s->state == SMARM__SLOT_ENDED) {
		/* A cancel that came too late for this call is the next
		 * one's. */
		self->cancels_seen = seen;
		s->flags &= (uint8_t)~SMARM__SLOT_JOINING;
		return 0;
	}
	if (r == 0) {
		/* Not ended: a canceller woke us. */
		smarm__cancel_take(self);
		r = ECANCELED;
	}
	smarm__atomic_store_relaxed(&s->joiner, 0);
	s->flags &= (uint8_t)~SMARM__SLOT_JOINING;
	smarm__lock_drop(&s->lock);
	return r;
}

int smarm_join(smarm_pid pid, void **result, uint64_t timeout)
{
	smarm__worker *w = smarm__worker_at_entry();
	smarm__slot *s;
	int r;

	if (w == NULL)
		return EPERM;
	s = smarm__slot_lock(smarm__worker_rt(w), pid);
	if (s == NULL)
		return ESRCH;
	if (s->flags & SMARM__SLOT_DETACHED)
		r = ESRCH;
	else if (s == smarm__current(w)->slot)
		r = EDEADLK;
	else if (s->flags & SMARM__SLOT_JOINING)
		r = EBUSY;
	else if (s->state != SMARM__SLOT_ENDED && timeout == 0)
		r = ETIMEDOUT;
	else
		r = 0;
	if (r != 0) {
		smarm__lock_drop(&s->lock);
		return r;
	}
	if (s->state != SMARM__SLOT_ENDED) {
		r = join_wait(s, timeout);
		if (r != 0)
			return r;
		w = smarm__worker_self();
	}
	return slot_close(w, s, result);
}

int smarm_detach(smarm_pid pid)
{
	smarm__worker *w = smarm__worker_at_entry();
	smarm__slot *s;

	if (w == NULL)
		return EPERM;
	s = smarm__slot_lock(smarm__worker_rt(w), pid);
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
		/* Nobody will join it: a panic is reported as if it had been
		 * detached before it ended. */
		char name[SMARM_NAME_MAX];
		void *reason = NULL;

		memcpy(name, s->name, sizeof(name));
		if (slot_close(w, s, &reason) == SMARM_EPANIC)
			report_panic(pid, name, reason);
	} else {
		s->flags |= SMARM__SLOT_DETACHED;
		smarm__lock_drop(&s->lock);
	}
	return 0;
}

/* ---- names ------------------------------------------------------------------- */

smarm_pid smarm_self(void)
{
	smarm__worker *w = smarm__worker_at_entry();

	if (w == NULL)
		return SMARM_PID_NONE;
	/* The slot's generation cannot change while its actor runs. */
	return smarm__slot_pid(smarm__current(w)->slot);
}

int smarm_pid_eq(smarm_pid a, smarm_pid b)
{
	return a.id == b.id;
}

int smarm_name(smarm_pid pid, char *buf, size_t size)
{
	smarm__worker *w = smarm__worker_at_entry();
	smarm__slot *s;
	size_t n;

	if (buf == NULL || size == 0)
		return EINVAL;
	if (w == NULL)
		return EPERM;
	s = smarm__slot_lock(smarm__worker_rt(w), pid);
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

/* ---- what a run leaves --------------------------------------------------------- */

void smarm__actor_root_result(struct smarm_runtime *rt, smarm_pid root,
			      void **result, int *panicked)
{
	smarm__slot *s = smarm__pid_slot(&rt->pids, root);

	*result = s->result;
	*panicked = (s->flags & SMARM__SLOT_PANICKED) != 0;
	smarm__told_free(s);
	smarm__slot_free(&rt->pids, s);
}

/* Retire s under its lock (a plain thread's send may look at it), and
 * give it back to the table. */
static void reap_slot(struct smarm_runtime *rt, smarm__slot *s)
{
	smarm__lock_take(&s->lock);
	smarm__told_free(s);
	smarm__slot_retire(s);
	smarm__lock_drop(&s->lock);
	smarm__slot_give(&rt->pids, s);
}

void smarm__actor_reap(struct smarm_runtime *rt)
{
	uint32_t k, n = smarm__pidtab_nchunks(&rt->pids) * SMARM__CHUNK_SLOTS;

	for (k = 0; rt->pids.used && k < n; k++) {
		smarm__slot *s = smarm__slot_at(&rt->pids, k);
		smarm__actor *a = s->actor;
		smarm_pid pid = smarm__slot_pid(s);

		if (s->state == SMARM__SLOT_LIVE) {
			/* Never ended; maybe never ran.  Once retired, no
			 * send reaches its mailbox: then it is emptied. */
			reap_slot(rt, s);
			smarm__mailbox_drain(rt, a, pid);
			smarm__watch_undo(a);
			if (a->stack)
				smarm__stack_put(&rt->stacks, a->stack);
			free(a);
		} else if (s->state == SMARM__SLOT_ENDED) {
			if (s->flags & SMARM__SLOT_PANICKED)
				free(s->result);
			reap_slot(rt, s);
		}
	}
}
