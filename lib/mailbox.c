/*
 * mailbox.c - what reaches an actor from outside: messages, the signals
 * of the actors it watches, cancellation, deadlines.
 *
 * Owns: every actor's mailbox (an MPSC queue in its control block) and
 * what travels in it; the signals an actor's end owes (made when asked
 * for, so an end never lacks the memory to send them); cancel requests
 * and deadlines; which runtime a plain thread reaches.  May touch:
 * sched.h -- park, wake, alarms, the control block's fields named for
 * this module -- pid.h (slots, under their locks), lock.h, mpscq.h.
 * Never a worker's fields.
 *
 * A send pushes under the target slot's lock, while the slot is LIVE: so
 * a message is either queued before the actor's end is published (and is
 * then received or handed to the dead-letter function) or refused with
 * ESRCH.  Signals travel the same way.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smarm.h"
#include "lock.h"
#include "mailbox.h"
#include "mpscq.h"
#include "pid.h"
#include "sched.h"

/* A message or a signal on its way: the queue's node first. */
typedef struct mnode {
	smarm__mpscq_node link;
	void *data;
	smarm_pid from;
	int kind;                     /* SMARM_MSG or SMARM_SIG_* */
} mnode;

/* A signal owed at an actor's end, to `to`. */
struct smarm__signal {
	mnode m;                      /* first: freed as an mnode */
	smarm_pid to;
	int supervisor;               /* to the actor's supervisor */
	struct smarm__signal *next;   /* in the actor's list of watchers */
	char reason[SMARM_REASON_MAX];
};

/* An actor's deadline: its alarm and the actor it cancels.  Two
 * references: the actor's (dropped at its end) and the alarm's (dropped
 * once it fired, or when the end took it out in time). */
struct smarm__deadline {
	smarm__alarm al;              /* first */
	struct smarm_runtime *rt;
	smarm_pid pid;
	smarm__atomic refs;
};

/* The oldest message in a's mailbox, or NULL: its owner only. */
static mnode *mailbox_pop(smarm__actor *a)
{
	return (mnode *)(void *)smarm__mpscq_pop(&a->mbox, &a->mbox_stub);
}

void smarm__dead_letter(struct smarm_runtime *rt, void *msg, smarm_pid to)
{
	if (rt->cfg.dead_letter)
		rt->cfg.dead_letter(msg, to);
	else
		free(msg);
}

void smarm__mailbox_drain(struct smarm_runtime *rt, smarm__actor *a,
			  smarm_pid pid)
{
	mnode *m;

	if (!smarm__mpscq_busy(&a->mbox, &a->mbox_stub))
		return;
	while ((m = mailbox_pop(a)) != NULL) {
		void *data = m->data;
		int msg = m->kind == SMARM_MSG;

		free(m);
		/* A signal's data is not the mailbox's to give away. */
		if (msg)
			smarm__dead_letter(rt, data, pid);
	}
}

/* Take a's owner out of its mailbox's waiter word, if it waits there:
 * the actor the caller now owes a wake, or NULL.  An actor in
 * smarm_select marks the word with bit 0 and waits in its own word
 * (select.c): whoever takes it out of that one wakes it. */
static smarm__actor *mbox_waiter_take(smarm__actor *a)
{
	AO_t v = smarm__atomic_load_acquire(&a->mbox_waiter);

	if (v == 0 || !smarm__atomic_cas_full(&a->mbox_waiter, v, 0))
		return NULL;
	if (!(v & 1))
		return (smarm__actor *)v;
	return smarm__cword_take(a) ? a : NULL;
}

/* Queue m in the mailbox of to, if it is a live actor of rt: 0, and
 * *waiter is the owner to wake (or NULL); else ESRCH. */
static int deliver(struct smarm_runtime *rt, smarm_pid to, mnode *m,
		   smarm__actor **waiter)
{
	smarm__slot *s = rt ? smarm__slot_lock(rt, to) : NULL;
	int err = ESRCH;

	*waiter = NULL;
	if (s == NULL)
		return ESRCH;
	if (s->state == SMARM__SLOT_LIVE) {
		/* Under the slot's lock: the actor cannot end (and drain its
		 * mailbox) meanwhile. */
		smarm__mpscq_push(&s->actor->mbox, &m->link);
		*waiter = mbox_waiter_take(s->actor);
		err = 0;
	}
	smarm__lock_drop(&s->lock);
	return err;
}

/* ---- which runtime a plain thread reaches ------------------------------------- */

static struct smarm_runtime *reach_rt;
static smarm__lock reach_lock; /* all-zero: free */

struct smarm_runtime *smarm__reach_take(void)
{
	smarm__lock_take(&reach_lock);
	return reach_rt;
}

int smarm__reach_try(struct smarm_runtime **rt)
{
	unsigned i;

	for (i = 0; i < 100000; i++)
		if (smarm__lock_try(&reach_lock)) {
			*rt = reach_rt;
			return 0;
		}
	return EBUSY;
}

void smarm__reach_drop(void)
{
	smarm__lock_drop(&reach_lock);
}

void smarm__reach_set(struct smarm_runtime *rt)
{
	smarm__lock_take(&reach_lock);
	reach_rt = rt;
	smarm__lock_drop(&reach_lock);
}

void smarm__reach_clear(struct smarm_runtime *rt)
{
	smarm__lock_take(&reach_lock);
	if (reach_rt == rt)
		reach_rt = NULL;
	smarm__lock_drop(&reach_lock);
}

/* ---- messages ----------------------------------------------------------------- */

int smarm_send_to(smarm_pid to, void *msg)
{
	smarm__worker *w = smarm__worker_at_entry();
	smarm__actor *waiter;
	mnode *m = malloc(sizeof(*m));
	int err;

	if (m == NULL)
		return ENOMEM;
	m->data = msg;
	m->from = smarm_self();
	m->kind = SMARM_MSG;
	/* A plain thread holds the registry's lock throughout, so that the
	 * runtime cannot be freed under it. */
	err = deliver(w ? smarm__worker_rt(w) : smarm__reach_take(), to, m,
		      &waiter);
	if (w == NULL)
		smarm__reach_drop();
	if (err) {
		free(m);
		return err;
	}
	if (waiter)
		smarm__wake(waiter);
	return 0;
}

/* The oldest message, or NULL when the mailbox is empty: a send caught
 * halfway (its node swapped in at the queue's far end, not linked yet)
 * is waited out, so that a receive that says "empty" has missed no
 * message a send already made its own.  The sender is between two
 * instructions; should its thread have been put off the CPU there, this
 * actor yields meanwhile. */
static mnode *mailbox_pop_settled(smarm__actor *self)
{
	unsigned i = 0;
	mnode *m;

	while ((m = mailbox_pop(self)) == NULL &&
	       smarm__mpscq_busy(&self->mbox, &self->mbox_stub)) {
		if (++i % 64 == 0)
			smarm__yield(smarm__worker_self());
		else
			__builtin_ia32_pause();
	}
	return m;
}

/* Take self back out of its mailbox's waiter word (or the wake of whoever
 * took it first). */
static void mbox_unwait(smarm__actor *self)
{
	smarm__waiter_cancel(&self->mbox_waiter, self, SMARM__PARK_OPEN);
}

/* smarm_receive once the mailbox was found empty: the next message, or
 * NULL with *err set. */
static mnode *receive_parked(smarm__actor *self, uint64_t timeout, int *err)
{
	uint64_t deadline = SMARM_FOREVER, left;
	mnode *m;
	int r;

	smarm__wait_on(self, self, SMARM__WAIT_MBOX);
	smarm__why(self, SMARM__WHY_MBOX, 0);
	for (;;) {
		/* Announce, then look again: a sender links its message,
		 * then looks for us; a canceller counts its request, then
		 * looks for us (full barriers on both sides). */
		smarm__atomic_store_full(&self->mbox_waiter, (AO_t)self);
		m = mailbox_pop(self);
		if (m) {
			mbox_unwait(self);
			return m;
		}
		left = smarm__wait_left(timeout, &deadline);
		if (left == 0 || smarm__cancel_take(self)) {
			mbox_unwait(self);
			if (left == 0 && (m = mailbox_pop_settled(self)) != NULL)
				return m;
			*err = left == 0 ? ETIMEDOUT : ECANCELED;
			return NULL;
		}
		r = smarm__park(self, left, SMARM__PARK_OPEN);
		if (r != 0)
			mbox_unwait(self);
		m = mailbox_pop(self);
		if (m)
			return m;
		if (r == ENOMEM) {
			*err = ENOMEM;
			return NULL;
		}
	}
}

int smarm_receive(smarm_msg *out, uint64_t timeout)
{
	smarm__worker *w = smarm__worker_at_entry();
	mnode *m;
	int err = 0;

	if (out == NULL)
		return EINVAL;
	if (w == NULL)
		return EPERM;
	m = mailbox_pop(smarm__current(w));
	if (m == NULL) {
		m = receive_parked(smarm__current(w), timeout, &err);
		if (m == NULL)
			return err;
		w = smarm__worker_self();
	}
	out->kind = m->kind;
	out->from = m->from;
	out->data = m->data;
	if (m->kind == SMARM_MSG)
		out->reason[0] = '\0';
	else
		memcpy(out->reason, ((struct smarm__signal *)m)->reason,
		       SMARM_REASON_MAX);
	free(m);
	SMARM__STAT_INC(w, messages);
	return 0;
}

/* ---- signals ------------------------------------------------------------------ */

/* Fill g with the end of the actor from, whose slot has these flags and
 * result (a panic's reason when it panicked). */
static void signal_fill(struct smarm__signal *g, smarm_pid from,
			unsigned flags, void *result)
{
	g->m.from = from;
	g->m.kind = (flags & SMARM__SLOT_TIMEDOUT) ? SMARM_SIG_TIMEOUT :
		(flags & SMARM__SLOT_PANICKED) ? SMARM_SIG_PANIC :
		SMARM_SIG_EXIT;
	if (flags & SMARM__SLOT_PANICKED) {
		g->m.data = NULL;
		snprintf(g->reason, sizeof(g->reason), "%s",
			 result ? (const char *)result : "(no memory)");
	} else {
		g->m.data = result;
		g->reason[0] = '\0';
	}
}

/* Send a filled signal: 1 when it reached a live actor, else it is
 * freed and 0. */
static unsigned signal_send(struct smarm_runtime *rt,
			    struct smarm__signal *g)
{
	smarm__actor *waiter;

	if (deliver(rt, g->to, &g->m, &waiter) != 0) {
		free(g);
		return 0;
	}
	if (waiter)
		smarm__wake(waiter);
	return 1;
}

int smarm__watch_supervisor(struct smarm_runtime *rt, smarm__actor *a,
			    smarm_pid sup)
{
	struct smarm__signal *g = malloc(sizeof(*g));
	smarm__slot *s;
	int live;

	if (g == NULL)
		return ENOMEM;
	s = smarm__slot_lock(rt, sup);
	live = s != NULL && s->state == SMARM__SLOT_LIVE;
	if (s)
		smarm__lock_drop(&s->lock);
	if (!live) {
		free(g);
		return ESRCH;
	}
	g->to = sup;
	g->supervisor = 1;
	g->next = a->watchers;
	a->watchers = g;
	return 0;
}

/* Who monitors an actor, kept in its slot until the slot is retired, so
 * that each pair gets one signal however often it asks. */
struct told {
	smarm_pid who;
	struct told *next;
};

void smarm__told_free_slow(smarm__slot *s)
{
	struct told *t = s->told, *next;

	for (; t != NULL; t = next) {
		next = t->next;
		free(t);
	}
	s->told = NULL;
}

int smarm_monitor(smarm_pid pid)
{
	smarm__worker *w = smarm__worker_at_entry();
	struct smarm__signal *g;
	struct told *t;
	smarm__actor *waiter;
	smarm__slot *s;
	smarm_pid me;

	if (w == NULL)
		return EPERM;
	me = smarm_self();
	if (pid.id == me.id)
		return EINVAL;
	g = malloc(sizeof(*g));
	t = malloc(sizeof(*t));
	s = g && t ? smarm__slot_lock(smarm__worker_rt(w), pid) : NULL;
	if (s == NULL) {
		free(g);
		free(t);
		return g && t ? ESRCH : ENOMEM;
	}
	for (t->next = s->told; t->next != NULL; t->next = t->next->next)
		if (t->next->who.id == me.id)
			break;
	if (t->next != NULL) {
		/* A second monitor of the same pair adds nothing. */
		smarm__lock_drop(&s->lock);
		free(g);
		free(t);
		return 0;
	}
	t->who = me;
	t->next = s->told;
	s->told = t;
	g->to = me;
	g->supervisor = 0;
	if (s->state == SMARM__SLOT_LIVE) {
		g->next = s->actor->watchers;
		s->actor->watchers = g;
		smarm__lock_drop(&s->lock);
		return 0;
	}
	/* Ended, not joined yet: its end is told now. */
	signal_fill(g, pid, s->flags, s->result);
	smarm__lock_drop(&s->lock);
	if (deliver(smarm__worker_rt(w), me, &g->m, &waiter) != 0)
		free(g); /* not reached: we are live */
	return 0;
}

static void deadline_unref(struct smarm__deadline *d)
{
	if (smarm__atomic_fetch_add_full(&d->refs, (AO_t)-1) == 1)
		free(d);
}

/* The actor's deadline is of no more use: take it out (or leave it to the
 * alarm that fires it) and drop the actor's reference. */
static void deadline_drop(smarm__actor *a)
{
	struct smarm__deadline *d = a->deadline;

	if (d == NULL)
		return;
	a->deadline = NULL;
	if (smarm__alarm_cancel(&d->al))
		deadline_unref(d);
	deadline_unref(d);
}

unsigned smarm__end_send(struct smarm_runtime *rt, smarm__actor *a,
			 struct smarm__signal *owed, smarm_pid pid, int flags,
			 void *result)
{
	struct smarm__signal *g;
	unsigned n = 0;

	deadline_drop(a);
	while ((g = owed) != NULL) {
		int sup = g->supervisor;

		owed = g->next;
		signal_fill(g, pid, (unsigned)flags, result);
		if (signal_send(rt, g) && sup)
			n = 1;
	}
	return n;
}

void smarm__watch_undo(smarm__actor *a)
{
	struct smarm__signal *g;

	deadline_drop(a);
	while ((g = a->watchers) != NULL) {
		a->watchers = g->next;
		free(g);
	}
}

/* ---- cancellation -------------------------------------------------------------- */

/* Take a out of word, if it waits there, and wake it. */
static void take_wake(smarm__atomic *word, smarm__actor *a)
{
	if (smarm__atomic_cas_full(word, (AO_t)a, 0))
		smarm__wake(a);
}

/* Ask a (live: its slot is locked) to stop waiting (sched.h). */
static void cancel_actor(smarm__actor *a)
{
	AO_t site;

	smarm__atomic_fetch_add_full(&a->cancels, 1);
	site = smarm__atomic_load_acquire(&a->wsite);
	switch (site & 7u) {
	case SMARM__WAIT_MBOX:
		take_wake(&a->mbox_waiter, a);
		break;
	case SMARM__WAIT_SELF:
		take_wake(&a->cword, a);
		break;
	case SMARM__WAIT_JOIN:
		take_wake(&((smarm__slot *)(site & ~(AO_t)7))->joiner, a);
		break;
	case SMARM__WAIT_OBJ: {
		smarm__waitable *obj = (smarm__waitable *)(site & ~(AO_t)7);

		obj->kick(obj, a);
		break;
	}
	default:
		break; /* it never waited */
	}
}

/* Cancel the actor pid names (timedout: its deadline passed): 0 or
 * ESRCH. */
static int cancel_pid(struct smarm_runtime *rt, smarm_pid pid, int timedout)
{
	smarm__slot *s = rt ? smarm__slot_lock(rt, pid) : NULL;
	int err = ESRCH;

	if (s == NULL)
		return ESRCH;
	if (s->state == SMARM__SLOT_LIVE) {
		if (timedout)
			s->flags |= SMARM__SLOT_TIMEDOUT;
		cancel_actor(s->actor);
		err = 0;
	}
	smarm__lock_drop(&s->lock);
	return err;
}

static void cancel_slot(smarm__slot *s, void *arg)
{
	(void)arg;
	cancel_actor(s->actor);
}

unsigned smarm__cancel_all(struct smarm_runtime *rt)
{
	return smarm__pidtab_each_live(&rt->pids, cancel_slot, NULL);
}

int smarm_cancel(smarm_pid pid)
{
	smarm__worker *w = smarm__worker_at_entry();
	int err;

	err = cancel_pid(w ? smarm__worker_rt(w) : smarm__reach_take(), pid,
			 0);
	if (w == NULL)
		smarm__reach_drop();
	return err;
}

int smarm_cancelled(void)
{
	smarm__worker *w = smarm__worker_at_entry();

	if (w == NULL)
		return 0;
	return smarm__atomic_load_acquire(&smarm__current(w)->cancels) != 0;
}

static void deadline_fire(smarm__alarm *al)
{
	struct smarm__deadline *d = (struct smarm__deadline *)(void *)al;

	cancel_pid(d->rt, d->pid, 1);
	deadline_unref(d);
}

int smarm__deadline_set(smarm__worker *w, smarm__actor *a, uint64_t ns)
{
	struct smarm__deadline *d = malloc(sizeof(*d));

	if (d == NULL)
		return ENOMEM;
	d->al.fire = deadline_fire;
	d->rt = smarm__worker_rt(w);
	d->pid = smarm__slot_pid(a->slot);
	smarm__atomic_store_relaxed(&d->refs, 2);
	if (smarm__alarm_set(w, &d->al, ns) != 0) {
		free(d);
		return ENOMEM;
	}
	a->deadline = d;
	return 0;
}
