/*
 * sched_timer.c - the worker's timers: the timed parks and the alarms in
 * each worker's heap, adding, cancelling and firing them.
 *
 * Owns: a worker's timer heap, its lock and its published earliest
 * deadline (tlock, timers, tnext in worker.h), and the way home of a
 * pinned actor woken away from its worker (its inbox).
 * May touch: worker.h (a worker's fields: this is sched.c's other half,
 * split off to keep each file short), timer.h and below.  Called by
 * sched.c (a timed park, its wake, the check at scheduling decisions)
 * and idle.c (an idle worker fires a busy one's timers).
 *
 * Each worker keeps the timers of the actors it parked, in a heap under
 * its own lock (tlock): it adds them; it fires them, and so does an idle
 * worker when the owner is busy; a waker cancels the timer of the actor
 * it woke.  Whoever moves an actor PARKED -> RUNNING also takes its timer
 * out, so an actor never runs with a timer pending.  A timer whose actor
 * is not PARKED (its park is not committed yet, or a waker won and is
 * about to cancel it) stays in the heap for its owner.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>

#include "smarm.h"
#include "sched.h"
#include "timer.h"
#include "worker.h"

static inline smarm__actor *timer_actor(smarm__timer *tm)
{
	return (smarm__actor *)((char *)tm - offsetof(smarm__actor, timer));
}

/* A pinned actor woken away from its worker goes home through that
 * worker's inbox.  The push ends with a full barrier, so the look at
 * `sleeping` comes after the actor is visible; idle_sleep announces
 * sleeping (full barrier) before it looks at the inbox.  Once pushed, a
 * is its worker's: nothing of it is read after. */
void smarm__sched_send_home(smarm__actor *a)
{
	smarm__worker *home = a->worker;

	smarm__mpscq_push(&home->inbox, &a->wake_link);
	if (smarm__atomic_load_acquire(&home->sleeping))
		smarm__rouse(home);
}

/* Publish v's earliest deadline for idle workers (under v->tlock). */
static inline void publish_tnext(smarm__worker *v)
{
	smarm__atomic_store_release(&v->tnext, smarm__timers_next(&v->timers));
}

/* a was taken PARKED -> RUNNING by its waker: take its timer out. */
void smarm__sched_timer_cancel(smarm__actor *a)
{
	smarm__worker *v = a->worker;

	smarm__lock_take(&v->tlock);
	if (smarm__timer_pending(&a->timer)) {
		smarm__timers_remove(&v->timers, &a->timer);
		publish_tnext(v);
	}
	smarm__lock_drop(&v->tlock);
}

/*
 * Fire v's timers that expired by now, making their actors runnable on w
 * (a pinned actor on its own worker).  Returns how many were queued on w.
 * v is w itself, or a busy worker whose timers an idle w fires.
 */
unsigned smarm__sched_fire_timers(smarm__worker *w, smarm__worker *v,
				 uint64_t now)
{
	smarm__actor *fired = NULL, **last = &fired, *a;
	smarm__alarm *alarms = NULL, *al;
	smarm__timer *tm;
	unsigned n = 0;

	if (v == w)
		smarm__lock_take(&v->tlock);
	else if (!smarm__lock_try(&v->tlock))
		return 0; /* its owner or another worker is at it */
	while ((tm = smarm__timers_expired(&v->timers, now)) != NULL) {
		if (__builtin_expect(tm->kind == SMARM__TIMER_ALARM, 0)) {
			al = (smarm__alarm *)(void *)tm;
			al->next = alarms;
			alarms = al;
			continue;
		}
		a = timer_actor(tm);
		if (!smarm__atomic_cas_full(&a->pstate, SMARM__PARKED,
					    SMARM__RUNNING)) {
			/* Not parked (yet, or any more): its park's commit or
			 * its waker takes the timer out. */
			smarm__timers_add(&v->timers, tm);
			break;
		}
		a->wake = ETIMEDOUT;
		/* In deadline order: the earliest runs first. */
		a->next = NULL;
		*last = a;
		last = &a->next;
	}
	publish_tnext(v);
	smarm__lock_drop(&v->tlock);
	if (__builtin_expect(alarms != NULL, 0)) {
		while ((al = alarms) != NULL) {
			alarms = al->next;
			al->fire(al);
		}
		/* They may have woken actors here. */
		n = smarm__local_work(w);
	}
	while ((a = fired) != NULL) {
		fired = a->next;
		SMARM__STAT_INC(w, wakeups);
		if (a->pinned && a->worker != w) {
			smarm__sched_send_home(a);
		} else {
			smarm__local_push(w, a);
			n++;
		}
	}
	/* One of them runs here next; the others are for anyone. */
	if (n > 1)
		smarm__wake_after(w);
	return n;
}

unsigned smarm__sched_fire_timers_of(smarm__worker *w, smarm__worker *v,
				     uint64_t now)
{
	return smarm__atomic_load_acquire(&v->tnext) > now ? 0 :
		smarm__sched_fire_timers(w, v, now);
}

/* Add tm to go off in timeout ns in w's heap: 0 or ENOMEM. */
int smarm__sched_timer_add(smarm__worker *w, smarm__timer *tm,
			   uint64_t timeout)
{
	smarm__lock_take(&w->tlock);
	if (__builtin_expect(w->timers.n == w->timers.cap, 0) &&
	    smarm__timers_reserve(&w->timers,
				  (uint64_t)w->timers.n + 1) != 0) {
		smarm__lock_drop(&w->tlock);
		return ENOMEM;
	}
	tm->deadline = smarm__deadline(smarm_now(), timeout);
	smarm__timers_add(&w->timers, tm);
	publish_tnext(w);
	smarm__lock_drop(&w->tlock);
	return 0;
}

int smarm__alarm_set(smarm__worker *w, smarm__alarm *al, uint64_t ns)
{
	al->tm.kind = SMARM__TIMER_ALARM;
	al->tm.idx = 0;
	al->w = w;
	return smarm__sched_timer_add(w, &al->tm, ns);
}

int smarm__alarm_cancel(smarm__alarm *al)
{
	smarm__worker *v = al->w;
	int pending;

	smarm__lock_take(&v->tlock);
	pending = smarm__timer_pending(&al->tm);
	if (pending) {
		smarm__timers_remove(&v->timers, &al->tm);
		publish_tnext(v);
	}
	smarm__lock_drop(&v->tlock);
	return pending;
}
