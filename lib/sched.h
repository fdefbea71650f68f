/*
 * sched.h - the scheduler as the modules above it see it: the actor's
 * control block, park and wake, yield, and the runtime record.
 *
 * Owns (sched.c): parking and waking, yield, each worker's own
 * queues (run-next slot, deque, run queue, pinned list, inbox), its timer
 * heap, the switch between actors (binding a stack at an actor's first
 * run), and rousing idle workers.  The
 * worker's loop and idling (sleep, spin, steal) are its other half,
 * idle.c, one floor up; the two are the only
 * files that know a worker's fields (worker.h).  Everything above --
 * actor.c, chan.c, preempt.c, runtime.c -- reaches a worker only through
 * the functions here, so they may change how a worker works without
 * touching anyone else.
 *
 * May touch: timer.h, stack.h, pid.h, the queues, context.h, fiber.h.
 *
 * Parking.  An actor that must wait puts itself where its waker will find
 * it (a channel's waiter word, a slot's joiner word), then calls
 * smarm__park.  A waker first takes it out of there (smarm__waiter_wake: a
 * compare-and-swap, so exactly one waker owns each park), then calls
 * smarm__wake.  A wake that comes before the park is kept and ends the
 * park at once; a park with a timeout may also end by its timer.  A
 * waiter that gives up (timeout) calls smarm__waiter_cancel, which takes
 * it back out, or, when a waker took it first, waits for that wake so it
 * cannot end a later park early.
 */
#ifndef SMARM_SCHED_H
#define SMARM_SCHED_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "smarm.h"
#include "atomic.h"
#include "fiber.h"
#include "freelist.h"
#include "lock.h"
#include "mpscq.h"
#include "pid.h"
#include "stack.h"
#include "timer.h"

struct smarm__worker;
typedef struct smarm__worker smarm__worker;

/*
 * Park states (smarm__actor.pstate).  A parking actor switches away
 * first and commits RUNNING -> PARKED on the stack it switched to, once
 * its context is saved (after_switch in sched.c): so nobody can resume an
 * actor whose registers are still being pushed.  A wake that finds
 * RUNNING leaves NOTIFIED, which makes the park (or its commit) return at
 * once.
 */
enum {
	SMARM__RUNNING = 0,  /* running, runnable, or switching away to park */
	SMARM__PARKED = 1,   /* context saved, waiting for a wake */
	SMARM__NOTIFIED = 2  /* not parked yet, and a wake came */
};

/*
 * An actor's control block.  A spawn takes one from its worker's cache of
 * free records (smarm__actor_new) and a slot; an actor of the default
 * stack size gets its stack when it first runs (sp is NULL until then),
 * and the record and the stack go back to the caches of the worker it
 * ends on.  The scheduler's fields are its own; actor.c fills the rest at
 * spawn.
 */
typedef struct smarm__actor {
	void *sp;                         /* saved context while not running */
	struct smarm__actor *next;        /* pinned run list / free list link */
	const volatile uint64_t *canary;  /* copy of stack->canary */
	smarm__stack *stack;
	smarm__slot *slot;
	smarm_fn fn;                      /* NULL: no stack could be had */
	void *arg;
	void (*entry)(void *);            /* what its first frame runs (on a) */
	/* The worker that holds its timer while a timed park is pending, and
	 * its only worker when pinned. */
	smarm__worker *worker;
	smarm__timer timer;               /* of the pending timed wait */
	uint8_t timed;                    /* the last park had a timeout */
	uint8_t pinned;                   /* SMARM_SPAWN_PINNED */
	int wake;                         /* why a park ended: 0 or ETIMEDOUT */
	unsigned budget;                  /* preemption points left */
	smarm__atomic pstate;             /* SMARM__RUNNING, ... */
	smarm__atomic why;                /* what its last park waited on */
	smarm__mpscq_node wake_link;      /* in an inbox or the global queue */
	smarm__flink free_link;           /* in a free list, once ended */
	/* Its mailbox (actor.c's): messages from any thread, the stub node
	 * of their queue, and the owner parked in smarm_receive. */
	smarm__mpscq mbox;
	smarm__mpscq_node mbox_stub;
	smarm__atomic mbox_waiter;
	/* Cancellation (see smarm__wait_on): what it waits on, its own
	 * waiter word (smarm_sleep), requests made and those delivered. */
	smarm__atomic wsite;
	smarm__atomic cword;
	smarm__atomic cancels;
	AO_t cancels_seen;                /* its own */
	/* Supervision (actor.c's): signals owed at its end, under its slot's
	 * lock, and its deadline's alarm. */
	struct smarm__signal *watchers;
	struct smarm__deadline *deadline;
	/* The mutexes it holds (mutex.c's), released at its end. */
	struct smarm__mutex *held;
	unsigned select_turn;             /* where its next select starts */
	SMARM__FIBER_FIELD                /* sanitizer builds only */
} smarm__actor;

/* Counters, written by their worker only (relaxed load + store, no
 * read-modify-write), read by anyone. */
typedef struct smarm__wstats {
	smarm__atomic spawned, exited, panicked, switches, steals, parks,
		wakeups, messages;
} smarm__wstats;

/*
 * The first fields of every worker: the only ones the modules above the
 * scheduler use, and only through the inline functions below.  The rest
 * of the worker is in worker.h, private to sched.c and idle.c.
 */
typedef struct smarm__worker_head {
	smarm__actor *current;        /* running actor; NULL in the worker */
	struct smarm_runtime *rt;
	unsigned budget;              /* preemption budget of each actor */
	smarm__flist records;         /* free control blocks, for spawns */
	smarm__slot_cache slots;      /* free slots, for spawns */
	smarm__stack_cache stacks;    /* free stacks, for first runs */
	smarm__wstats st;
} smarm__worker_head;

/*
 * A runtime.  runtime.c starts and stops it; the fields under "idle" are
 * idle.c's (the sleep handshake and the global queue), read by sched.c
 * through idle.h.
 */
struct smarm_runtime {
	smarm_config cfg;
	smarm__stack_pool stacks;
	smarm__fpool records;         /* free control blocks beyond a worker's */
	smarm__pidtab pids;
	smarm__worker *workers;
	unsigned nworkers;
	struct smarm__thread *threads; /* runtime.c's, one per worker */
	smarm__atomic running;        /* 1 while smarm_runtime_run is under way */
	AO_t live_base;               /* spawned - exited when the run began */
	smarm__atomic thread_wakeups; /* wake-ups made by plain threads */
	smarm__atomic_u32 gate;       /* futex word: workers start when set */
	/* idle: shared by the workers of a run. */
	smarm__atomic nspinning __attribute__((aligned(64)));
	smarm__atomic nsleeping;
	smarm__atomic ndeep;          /* sleepers no wake-up of a run-next reaches */
	smarm__atomic nwoken;         /* times a sleeper woke, ever */
	smarm__atomic done;           /* 0, or how the run ended (idle.h) */
	smarm__atomic shutdown_at;    /* 0, or when a shutdown gives up */
	smarm__atomic limits_said;    /* limits named on stderr (limit.h) */
	/* I/O (poll.c's): what the workers read of the poller. */
	struct smarm__poller *poller;
	int io_efd;                   /* rouses the worker in epoll_wait */
	void (*io_busy)(struct smarm_runtime *rt); /* a busy worker's look */
	smarm__atomic io_armed;       /* an fd is registered: sleepers poll */
	smarm__atomic io_owner;       /* 1 while a worker polls */
	smarm__atomic io_polled_at;   /* when one last looked */
	struct smarm__pool *pool;     /* blocking.c's helper threads */
	/* The global queue: many producers, one consumer at a time. */
	smarm__mpscq inject __attribute__((aligned(64)));
	smarm__mpscq_node inject_stub;
	smarm__lock inject_lock;
};

/* Inline form of smarm__worker_self for the entry of public calls. */
extern __thread smarm__worker *smarm__tls_worker
	__attribute__((tls_model("initial-exec")));

/* The worker the calling thread runs, NULL outside a runtime's actors.
 * A green thread may resume on another OS thread, so code must fetch the
 * worker again after any switch instead of keeping the address of a
 * thread-local: on x86-64 a volatile asm reads it through %fs each time
 * (the "memory" clobber keeps it after the switch), elsewhere a call
 * that is never inlined. */
#if defined(__x86_64__)
static inline smarm__worker *smarm__worker_self(void)
{
	smarm__worker *w;

	__asm__ volatile("movq smarm__tls_worker@gottpoff(%%rip), %0\n\t"
			 "movq %%fs:(%0), %0" : "=r"(w) : : "memory");
	return w;
}
#else
smarm__worker *smarm__worker_self(void) __attribute__((noinline));
#endif

/* The worker at the entry of a public call, before anything can switch:
 * one %fs-relative load.  After a switch, use smarm__worker_self(). */
static inline smarm__worker *smarm__worker_at_entry(void)
{
	return smarm__tls_worker;
}

static inline smarm__worker_head *smarm__head(smarm__worker *w)
{
	return (smarm__worker_head *)(void *)w;
}

/* The actor w runs. */
static inline smarm__actor *smarm__current(smarm__worker *w)
{
	return smarm__head(w)->current;
}

static inline struct smarm_runtime *smarm__worker_rt(smarm__worker *w)
{
	return smarm__head(w)->rt;
}

/* w's caches of free slots and stacks, for spawns. */
static inline smarm__slot_cache *smarm__worker_slots(smarm__worker *w)
{
	return &smarm__head(w)->slots;
}

static inline smarm__stack_cache *smarm__worker_stacks(smarm__worker *w)
{
	return &smarm__head(w)->stacks;
}

/* The preemption budget an actor starts with on w. */
static inline unsigned smarm__worker_budget(smarm__worker *w)
{
	return smarm__head(w)->budget;
}

/* Count one event in a worker's own counter. */
#define SMARM__STAT_INC(w, field) \
	smarm__counter_add(&smarm__head(w)->st.field, 1)

/* Add d to a per-worker counter that only its worker writes. */
static inline void smarm__counter_add(smarm__atomic *c, AO_t d)
{
	smarm__atomic_store_relaxed(c, smarm__atomic_load_relaxed(c) + d);
}

/* ---- parking and waking ------------------------------------------------ */

/* smarm__park flags. */
#define SMARM__PARK_OPEN 0x1u  /* a plain thread may end this park (recv) */

/*
 * Park the calling actor until smarm__wake or, unless timeout is
 * SMARM_FOREVER, until the timeout passes.  Returns 0 when woken,
 * ETIMEDOUT when the timer fired, ENOMEM when no memory was left for the
 * timer (the actor did not park).  A wake that came before the park ends
 * it at once.  Callers loop on their own condition: a wake means "look
 * again".  A park that a plain thread may end carries SMARM__PARK_OPEN,
 * so that a runtime whose actors all wait is not taken for deadlocked.
 */
int smarm__park(smarm__actor *self, uint64_t timeout, unsigned flags);

/*
 * Why an actor waits (smarm__actor.why), for smarm_dump and the gdb
 * script (gdb/smarm.py decodes it: keep the numbers): a kind in the low
 * SMARM__WHY_SHIFT bits, ORed with what it waits on: the address of a
 * channel (malloc'd, so 16-aligned: the kind's bits are free), or a
 * number shifted past the kind (SMARM__WHY_NUM: an fd, a count, the
 * address of a slot or of a mutex, which the user aligns).  Every wait stores it before
 * it parks, one relaxed store; others read it racily, and only while the
 * actor is PARKED.
 */
enum {
	SMARM__WHY_NONE = 0,
	SMARM__WHY_RECV = 1,      /* a channel (smarm_recv) */
	SMARM__WHY_SEND = 2,      /* a bounded channel's room */
	SMARM__WHY_MBOX = 3,      /* its mailbox (smarm_receive) */
	SMARM__WHY_JOIN = 4,      /* a slot's address (smarm_join) */
	SMARM__WHY_MUTEX = 5,     /* a smarm_mutex */
	SMARM__WHY_SLEEP = 6,     /* smarm_sleep */
	SMARM__WHY_READ = 7,      /* an fd, readable */
	SMARM__WHY_WRITE = 8,     /* an fd, writable */
	SMARM__WHY_BLOCKING = 9,  /* smarm_block_on_io's job */
	SMARM__WHY_SIGNAL = 10,   /* smarm_signal_wait (its signalfd) */
	SMARM__WHY_SELECT = 11    /* smarm_select over a count of channels */
};
#define SMARM__WHY_SHIFT 4
#define SMARM__WHY_NUM(n) ((uintptr_t)(n) << SMARM__WHY_SHIFT)

static inline void smarm__why(smarm__actor *self, unsigned kind,
			      uintptr_t what)
{
	smarm__atomic_store_relaxed(&self->why, (AO_t)what | kind);
}

/* Wake a parked actor, or make its next park return at once.  Callable
 * from any thread.  One waker per park: only whoever took the actor out
 * of what it waits on may wake it. */
void smarm__wake(smarm__actor *a);

/* Take the actor waiting in *word out of it, if there is one and nobody
 * else took it first: the caller now owes it a smarm__wake. */
static inline smarm__actor *smarm__waiter_take(smarm__atomic *word)
{
	AO_t a = smarm__atomic_load_acquire(word);

	if (a != 0 && smarm__atomic_cas_full(word, a, 0))
		return (smarm__actor *)a;
	return NULL;
}

/* smarm__waiter_take, then wake what it took.  Callable from any thread. */
static inline void smarm__waiter_wake(smarm__atomic *word)
{
	smarm__actor *a = smarm__waiter_take(word);

	if (a)
		smarm__wake(a);
}

/* The caller, announced in *word, stops waiting: take it back out, or,
 * when a waker took it first, wait for that wake (it is on its way). */
void smarm__waiter_cancel(smarm__atomic *word, smarm__actor *self,
			  unsigned flags);

/*
 * An alarm: a timer in a worker's heap that, once due, calls fire(al) --
 * on whichever worker fires it, holding no lock -- instead of waking a
 * parked actor.  Its owner embeds it and keeps it alive until it has
 * fired or smarm__alarm_cancel took it out.
 */
typedef struct smarm__alarm {
	smarm__timer tm;
	void (*fire)(struct smarm__alarm *);
	smarm__worker *w;             /* whose heap holds it */
	struct smarm__alarm *next;    /* while being fired */
} smarm__alarm;

/* Set al (fire filled in) to go off in ns, in w's heap: 0 or ENOMEM. */
int smarm__alarm_set(smarm__worker *w, smarm__alarm *al, uint64_t ns);

/* Take a set alarm out: 1 when it will not fire, 0 when it fired or is
 * being fired (its fire call then owns it). */
int smarm__alarm_cancel(smarm__alarm *al);

/*
 * Cancellation.  A canceller counts a request in `cancels` (full barrier),
 * then reads what the actor waits on (`wsite`) and takes it out of there
 * as a waker would, and wakes it.  A waiting actor first says what it
 * waits on (smarm__wait_on), then announces itself where its waker looks
 * with a full barrier (a locked instruction), then asks
 * smarm__cancel_take: either the canceller finds it announced, or it sees
 * the request.  A wake is a wake: the woken actor looks again and finds
 * the request.  What it waits on must stay valid memory for as long as a
 * canceller may hold a stale `wsite`: the actor itself, a slot, or an
 * object whose memory is never given back while the library is loaded
 * and that starts with a smarm__waitable (channels).
 */
enum {
	SMARM__WAIT_MBOX = 1,   /* its mailbox: mbox_waiter */
	SMARM__WAIT_SELF = 2,   /* its own word: cword */
	SMARM__WAIT_JOIN = 3,   /* a slot's joiner word */
	SMARM__WAIT_OBJ = 4     /* a smarm__waitable */
};

typedef struct smarm__waitable {
	/* Take a out of the object if it waits there, and wake it. */
	void (*kick)(struct smarm__waitable *obj, smarm__actor *a);
} smarm__waitable;

static inline void smarm__wait_on(smarm__actor *self, const void *obj,
				  unsigned kind)
{
	/* Release: a canceller that reads it sees the object made. */
	smarm__atomic_store_release(&self->wsite, (AO_t)obj | kind);
}

/* Was self cancelled since the last ECANCELED it got?  Then the request
 * is delivered: nonzero once. */
static inline int smarm__cancel_take(smarm__actor *self)
{
	AO_t c = smarm__atomic_load_acquire(&self->cancels);

	if (__builtin_expect(c == self->cancels_seen, 1))
		return 0;
	self->cancels_seen = c;
	return 1;
}

/*
 * Waiting in one's own word (cword, SMARM__WAIT_SELF): for waits whose
 * object a canceller must not touch, or that span several objects.
 * Announce, make yourself findable (under the object's lock, as it
 * needs), then park; whoever takes the actor out of cword wakes it.  A
 * park that did not end by such a wake (r != 0) is followed by
 * smarm__self_unwait.
 */
static inline void smarm__self_announce(smarm__actor *self)
{
	smarm__wait_on(self, self, SMARM__WAIT_SELF);
	smarm__atomic_store_full(&self->cword, (AO_t)self);
}

/* Park after smarm__self_announce: 0 when woken, ETIMEDOUT, ENOMEM, or
 * ECANCELED at once when a cancel is pending. */
static inline int smarm__self_park(smarm__actor *self, uint64_t timeout,
				   unsigned flags)
{
	return smarm__cancel_take(self) ? ECANCELED :
		smarm__park(self, timeout, flags);
}

/* Out of cword, or take the wake of whoever took self out first. */
static inline void smarm__self_unwait(smarm__actor *self, unsigned flags)
{
	smarm__waiter_cancel(&self->cword, self, flags);
}

/* Take a out of its own word: nonzero when the caller now owes it a
 * smarm__wake. */
static inline int smarm__cword_take(smarm__actor *a)
{
	return smarm__atomic_cas_full(&a->cword, (AO_t)a, 0);
}

/* Yield (smarm_yield) for callers that already hold the worker. */
int smarm__yield(smarm__worker *w);

/* ---- actors' lives, for actor.c ----------------------------------------- */

/* Free control blocks a worker keeps at most; past that, half go to the
 * runtime's pool. */
#define SMARM__RECORDS_MAX 1024u

static inline smarm__actor *smarm__record_of(smarm__flink *x)
{
	return (smarm__actor *)((char *)x - offsetof(smarm__actor, free_link));
}

/* A control block for a spawn on w, its fields unset: from w's free
 * list, the runtime's pool or malloc; NULL when memory runs out. */
static inline smarm__actor *smarm__actor_new(smarm__worker *w)
{
	smarm__worker_head *h = smarm__head(w);
	smarm__flink *x = smarm__flist_pop(&h->records);

	if (__builtin_expect(x != NULL, 1))
		return smarm__record_of(x);
	if (smarm__flist_refill(&h->rt->records, &h->records,
				SMARM__RECORDS_MAX / 4))
		return smarm__record_of(smarm__flist_pop(&h->records));
	return malloc(sizeof(smarm__actor));
}

/* Give a's control block back to w's free list (half of which goes to
 * the runtime's pool when it is full). */
static inline void smarm__actor_release(smarm__worker *w, smarm__actor *a)
{
	smarm__worker_head *h = smarm__head(w);

	smarm__flist_push(&h->records, &a->free_link);
	if (__builtin_expect(h->records.n > SMARM__RECORDS_MAX, 0))
		smarm__flist_spill(&h->rt->records, &h->records,
				   SMARM__RECORDS_MAX / 2);
}

/* A new actor, its control block filled, is ready to run: here next (a
 * spawning tree unfolds depth first), or on its pinned list.  With sp
 * NULL, its stack comes from its worker's cache when it first runs, and
 * its first frame runs entry(a); when no stack can be had then, it runs on
 * a spare stack of its worker with fn set to NULL, and entry must end it
 * at once, without parking. */
void smarm__sched_start(smarm__worker *w, smarm__actor *a);

/* First thing an actor does on its new stack. */
void smarm__sched_entered(void);

/* w's spare stack, for an actor whose stack st overflowed to end on
 * (guard.c); NULL when it is the spare itself.  Async-signal-safe. */
const smarm__stack *smarm__sched_spare(smarm__worker *w,
				       const smarm__stack *st);

/* Report an overwritten stack canary and abort. */
void smarm__sched_overflowed(smarm__actor *a)
	__attribute__((noinline, noreturn));

/* Stop the process with a clear message if self's stack canary was
 * overwritten. */
static inline void smarm__sched_check_stack(smarm__actor *self)
{
	if (__builtin_expect(*self->canary != SMARM__CANARY, 0))
		smarm__sched_overflowed(self);
}

/* The calling actor has ended (its end published): count it and switch
 * away for good; its stack goes back to the cache once nothing runs on
 * it. */
void smarm__sched_exit(smarm__worker *w, smarm__actor *self)
	__attribute__((noreturn));

/* ---- the worker's loop, for idle.c ----------------------------------------- */

/* Finish the last switch, look at timers and the inbox, and pick the next
 * actor from this worker's own queues (NULL when they are empty). */
smarm__actor *smarm__sched_next(smarm__worker *w);

/* Switch from the worker's own context to a; returns when an actor
 * switches back to it. */
void smarm__sched_enter(smarm__worker *w, smarm__actor *a);

/* Fire v's timers that expired by now, queueing their actors on w (v may
 * be a busy worker); returns how many were queued on w. */
unsigned smarm__sched_fire_timers_of(smarm__worker *w, smarm__worker *v,
				     uint64_t now);

/* How a run ended (struct smarm_runtime.done). */
enum { SMARM__RUN_GOING = 0, SMARM__RUN_DONE = 1, SMARM__RUN_DEADLOCK = 2,
       SMARM__RUN_ABORTED = 3, SMARM__RUN_SHUTDOWN = 4 };

#endif /* SMARM_SCHED_H */
