/*
 * mailbox.h - what reaches an actor from outside: messages in its
 * mailbox, the signals of the actors it watches, cancellation, and which
 * runtime a plain thread reaches.
 *
 * Owns (mailbox.c): each actor's mailbox and the messages in it, the
 * signals owed at an actor's end (its supervisor's and its monitors'),
 * cancel requests and deadlines, the plain threads' registry.
 * May touch: sched.h (park, wake, alarms, the control block's mailbox and
 * cancellation fields), pid.h (slots, under their locks), lock.h.
 * Used by actor.c (spawn, the end, join), chan.c (cancellation of a
 * receiver) and runtime.c.
 */
#ifndef SMARM_MAILBOX_H
#define SMARM_MAILBOX_H

#include <stdint.h>

#include "smarm.h"
#include "lock.h"
#include "mpscq.h"
#include "pid.h"
#include "sched.h"

/* A slot flag: the actor ran past its deadline (SMARM_SIG_TIMEOUT). */
#define SMARM__SLOT_TIMEDOUT 0x8u

/* The slot pid names, locked, or NULL (stale, none, or out of range). */
static inline smarm__slot *smarm__slot_lock(struct smarm_runtime *rt,
					    smarm_pid pid)
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

/* A new actor's mailbox and cancellation fields, empty. */
static inline void smarm__mailbox_init(smarm__actor *a)
{
	smarm__mpscq_init(&a->mbox, &a->mbox_stub);
	smarm__atomic_store_relaxed(&a->mbox_waiter, 0);
	smarm__atomic_store_relaxed(&a->wsite, 0);
	smarm__atomic_store_relaxed(&a->cword, 0);
	smarm__atomic_store_relaxed(&a->cancels, 0);
	a->cancels_seen = 0;
	a->watchers = NULL;
	a->deadline = NULL;
	a->held = NULL;
	a->select_turn = 0;
}

/* At spawn, before a can end: the signal its end owes sup (a live actor)
 * is made now, so that the end cannot lack memory for it; and its deadline
 * set, ns from now on w.  0, ESRCH (sup is not live) or ENOMEM. */
int smarm__watch_supervisor(struct smarm_runtime *rt, smarm__actor *a,
			    smarm_pid sup);
int smarm__deadline_set(smarm__worker *w, smarm__actor *a, uint64_t ns);

/* Free the record of who monitors the actor of the locked slot s, before
 * the slot is retired. */
void smarm__told_free_slow(smarm__slot *s);

static inline void smarm__told_free(smarm__slot *s)
{
	if (__builtin_expect(s->told != NULL, 0))
		smarm__told_free_slow(s);
}

/* A spawn that failed after the two above, or an actor that never
 * ended (after a deadlock): free what they made. */
void smarm__watch_undo(smarm__actor *a);

/*
 * a has ended, its slot s ENDED under its lock: take what its end owes,
 * before the lock is dropped (smarm__end_take), then, unlocked, send it
 * (smarm__end_send).  Returns nonzero when its supervisor got its signal
 * (a detached panic no supervisor heard of is printed by the caller).
 * flags are the slot's, result its result (or panic reason).
 */
static inline struct smarm__signal *smarm__end_take(smarm__actor *a)
{
	struct smarm__signal *owed = a->watchers;

	a->watchers = NULL;
	return owed;
}

unsigned smarm__end_send(struct smarm_runtime *rt, smarm__actor *a,
			 struct smarm__signal *owed, smarm_pid pid, int flags,
			 void *result);

/* Hand a message nobody will receive to the runtime's dead-letter
 * function (free(3) by default), with the pid it was sent to. */
void smarm__dead_letter(struct smarm_runtime *rt, void *msg, smarm_pid to);

/* Hand what is left in a's mailbox to the dead-letter function: a has
 * ended, or never will (after a deadlock).  Frees what else it holds. */
void smarm__mailbox_drain(struct smarm_runtime *rt, smarm__actor *a,
			  smarm_pid pid);

/*
 * The runtime a plain OS thread reaches (smarm_send_to, smarm_cancel,
 * smarm_stats_get): the one running, or the last one that ran, until it
 * is freed.  smarm__reach_take returns it (or NULL) with the registry's
 * lock held, so that a free cannot pull it from under the caller;
 * smarm__reach_drop ends that.  The runtime sets it when a run starts and
 * clears it when it is freed.
 */
/* Cancel every live actor of rt (smarm_shutdown): how many. */
unsigned smarm__cancel_all(struct smarm_runtime *rt);

struct smarm_runtime *smarm__reach_take(void);
void smarm__reach_drop(void);
/* smarm__reach_take without waiting long: EBUSY when the registry's lock
 * stays held (its holder may be the thread a signal handler interrupted),
 * else 0 with the lock held and *rt set (maybe NULL). */
int smarm__reach_try(struct smarm_runtime **rt);
void smarm__reach_set(struct smarm_runtime *rt);
void smarm__reach_clear(struct smarm_runtime *rt);

#endif /* SMARM_MAILBOX_H */
