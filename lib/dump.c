/*
 * dump.c - smarm_dump: every live actor and every worker of the running
 * runtime, written to an fd as text.
 *
 * Owns: smarm_dump and its text (the format smarm_dump(3) shows).
 * May touch: sched.h (an actor's control block and its wait reason,
 * `why`), pid.h (the slot table), idle.h (what a worker shows: its
 * current actor, its switch count, its queues), mailbox.h (the runtime a
 * plain thread reaches), timer.h (smarm_now).
 *
 * It must work from an actor, from a plain thread and from a signal
 * handler, while workers run or stand stopped (in a debugger, or
 * interrupted by the very signal).  So it takes no lock it would wait
 * for: a slot's lock and the registry's are only tried, a bounded number
 * of times, and a slot whose lock stays held is shown as busy; the
 * workers' fields are read with plain loads.  No malloc, no stdio: the
 * text is formatted on the stack and written with write(2), which is
 * async-signal-safe.  What it shows is a racy snapshot: an actor may have
 * moved on by the time its line is written.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "smarm.h"
#include "dump.h"
#include "idle.h"
#include "lock.h"
#include "mailbox.h"
#include "pid.h"
#include "sched.h"
#include "timer.h"

/* Tries of a lock before giving up on it. */
#define TRIES 1000u

/* A wait reason's kind (sched.h, smarm__why). */
#define KIND(why) ((unsigned)((why) & ((1u << SMARM__WHY_SHIFT) - 1)))

/* ---- text on the stack, written with write(2) ---------------------------- */

typedef struct out {
	int fd;
	int err;          /* 0, or the first write's error */
	size_t n;
	char buf[480];
} out;

static void flush(out *o)
{
	size_t done = 0;
	ssize_t r;

	while (o->err == 0 && done < o->n) {
		r = write(o->fd, o->buf + done, o->n - done);
		if (r > 0)
			done += (size_t)r;
		else if (r < 0 && errno == EINTR)
			continue;
		else
			o->err = r < 0 && errno == EBADF ? EBADF : EIO;
	}
	o->n = 0;
}

static void put_s(out *o, const char *s)
{
	while (*s) {
		if (o->n == sizeof(o->buf))
			flush(o);
		o->buf[o->n++] = *s++;
	}
}

static void put_u(out *o, uint64_t v)
{
	char d[24];
	int i = (int)sizeof(d) - 1;

	d[i] = '\0';
	do
		d[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	put_s(o, d + i);
}

static void put_x(out *o, uint64_t v)
{
	char d[24];
	int i = (int)sizeof(d) - 1;

	d[i] = '\0';
	do
		d[--i] = "0123456789abcdef"[v & 15];
	while ((v >>= 4) != 0);
	d[--i] = 'x';
	d[--i] = '0';
	put_s(o, d + i);
}

/* A name between quotes, printable bytes only. */
static void put_name(out *o, const char *name)
{
	char c[2] = { 0, 0 };
	size_t i;

	put_s(o, "'");
	for (i = 0; i < SMARM_NAME_MAX && name[i]; i++) {
		c[0] = name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '?';
		put_s(o, c);
	}
	put_s(o, "'");
}

/* ---- what one actor is doing -------------------------------------------- */

/* One actor as read under its slot's lock. */
typedef struct seen {
	uint64_t pid;
	char name[SMARM_NAME_MAX];
	AO_t pstate, why;
	int timed;
	uint64_t deadline;
	smarm__worker *worker;
	smarm__actor *a;
} seen;

static void put_wait(out *o, AO_t why)
{
	uintptr_t p = why & ~(AO_t)((1u << SMARM__WHY_SHIFT) - 1);
	uintptr_t n = why >> SMARM__WHY_SHIFT;

	switch (KIND(why)) {
	case SMARM__WHY_RECV:
		put_s(o, "channel recv ");
		put_x(o, p);
		break;
	case SMARM__WHY_SEND:
		put_s(o, "channel send ");
		put_x(o, p);
		break;
	case SMARM__WHY_MBOX:
		put_s(o, "mailbox receive");
		break;
	case SMARM__WHY_JOIN:
		put_s(o, "join of actor ");
		put_u(o, smarm__slot_pid((const smarm__slot *)n).id);
		break;
	case SMARM__WHY_MUTEX:
		put_s(o, "mutex ");
		put_x(o, n);
		break;
	case SMARM__WHY_SLEEP:
		put_s(o, "sleep");
		break;
	case SMARM__WHY_READ:
		put_s(o, "fd read ");
		put_u(o, n);
		break;
	case SMARM__WHY_WRITE:
		put_s(o, "fd write ");
		put_u(o, n);
		break;
	case SMARM__WHY_BLOCKING:
		put_s(o, "block_on_io");
		break;
	case SMARM__WHY_SIGNAL:
		put_s(o, "signal wait");
		break;
	case SMARM__WHY_SELECT:
		put_s(o, "select over ");
		put_u(o, n);
		put_s(o, " channels");
		break;
	default:
		put_s(o, "unknown");
	}
}

/* The worker running a, or -1. */
static int running_on(struct smarm_runtime *rt, const smarm__actor *a)
{
	smarm__wpeek wp;
	unsigned i;

	for (i = 0; i < rt->nworkers; i++) {
		smarm__idle_peek(rt, i, &wp);
		if (wp.current == a)
			return (int)i;
	}
	return -1;
}

static void put_actor(out *o, struct smarm_runtime *rt, const seen *s,
		      uint64_t now)
{
	int on = running_on(rt, s->a);

	put_s(o, "actor ");
	put_u(o, s->pid);
	put_s(o, " ");
	put_name(o, s->name);
	if (on >= 0) {
		put_s(o, ": running on worker ");
		put_u(o, (unsigned)on);
	} else if (s->pstate == SMARM__PARKED) {
		put_s(o, ": parked on worker ");
		put_u(o, smarm__idle_index(rt, s->worker));
		put_s(o, ": ");
		put_wait(o, s->why);
		if (s->timed) {
			int sleep = KIND(s->why) == SMARM__WHY_SLEEP;

			put_s(o, sleep ? ", " : ", timeout in ");
			put_u(o, s->deadline > now ?
			      (s->deadline - now) / 1000000u : 0);
			put_s(o, sleep ? " ms left" : " ms");
		}
	} else {
		put_s(o, s->pstate == SMARM__NOTIFIED ? ": waking" :
		      ": runnable");
		if (s->worker) {
			put_s(o, " (last on worker ");
			put_u(o, smarm__idle_index(rt, s->worker));
			put_s(o, ")");
		}
	}
	put_s(o, "\n");
}

/* Read slot s's actor under its lock, tried only: 1 when live and read,
 * 0 when not live, -1 when the lock stayed held. */
static int look(smarm__slot *s, seen *v)
{
	unsigned i;
	int r = 0;

	for (i = 0; !smarm__lock_try(&s->lock); i++)
		if (i == TRIES)
			return -1;
	if (s->state == SMARM__SLOT_LIVE && s->actor != NULL) {
		smarm__actor *a = s->actor;

		v->pid = smarm__slot_pid(s).id;
		memcpy(v->name, s->name, sizeof(v->name));
		v->name[SMARM_NAME_MAX - 1] = '\0';
		v->a = a;
		v->pstate = smarm__atomic_load_acquire(&a->pstate);
		v->why = smarm__atomic_load_relaxed(&a->why);
		v->timed = a->timed;
		v->deadline = a->timer.deadline;
		v->worker = a->worker;
		r = 1;
	}
	smarm__lock_drop(&s->lock);
	return r;
}

/* ---- the dump ------------------------------------------------------------- */

static void put_workers(out *o, struct smarm_runtime *rt)
{
	smarm__wpeek wp;
	unsigned i;

	for (i = 0; i < rt->nworkers; i++) {
		smarm__idle_peek(rt, i, &wp);
		put_s(o, "worker ");
		put_u(o, i);
		if (wp.current) {
			/* Its slot stays valid memory, whatever it holds now. */
			put_s(o, ": running actor ");
			put_u(o, smarm__slot_pid(wp.current->slot).id);
		} else {
			put_s(o, wp.asleep ? ": asleep" : ": idle");
		}
		put_s(o, ", ");
		put_u(o, wp.switches);
		put_s(o, " switches, ");
		put_u(o, wp.queued);
		put_s(o, " queued\n");
	}
}

static unsigned put_actors(out *o, struct smarm_runtime *rt)
{
	uint32_t k, n = smarm__pidtab_nchunks(&rt->pids) * SMARM__CHUNK_SLOTS;
	uint64_t now = smarm_now();
	unsigned found = 0;
	seen v;
	int r;

	for (k = 0; k < n && o->err == 0; k++) {
		smarm__slot *s = smarm__slot_at(&rt->pids, k);

		r = look(s, &v);
		if (r > 0) {
			put_actor(o, rt, &v, now);
			found++;
		} else if (r < 0) {
			put_s(o, "actor ");
			put_u(o, smarm__slot_pid(s).id);
			put_s(o, ": busy (its slot is locked)\n");
			found++;
		}
	}
	return found;
}

int smarm__dump_rt(struct smarm_runtime *rt, int fd, const char *why)
{
	unsigned nw = rt->nworkers, found;
	out o;

	o.fd = fd;
	o.err = 0;
	o.n = 0;
	put_s(&o, "smarm: dump");
	if (why) {
		put_s(&o, " (");
		put_s(&o, why);
		put_s(&o, ")");
	}
	put_s(&o, ", a racy snapshot: ");
	put_u(&o, nw);
	put_s(&o, nw == 1 ? " worker\n" : " workers\n");
	put_workers(&o, rt);
	found = put_actors(&o, rt);
	put_s(&o, "smarm: end of dump, ");
	put_u(&o, found);
	put_s(&o, found == 1 ? " live actor\n" : " live actors\n");
	flush(&o);
	return o.err;
}

int smarm_dump(int fd)
{
	smarm__worker *w = smarm__worker_at_entry();
	struct smarm_runtime *rt;
	int fl, err;

	if (fd < 0 || (fl = fcntl(fd, F_GETFL)) < 0 ||
	    (fl & O_ACCMODE) == O_RDONLY)
		return EBADF;
	if (w)
		return smarm__dump_rt(smarm__worker_rt(w), fd, NULL);
	err = smarm__reach_try(&rt);
	if (err)
		return err;
	if (rt == NULL || !smarm__atomic_load_acquire(&rt->running))
		err = ESRCH;
	else
		err = smarm__dump_rt(rt, fd, NULL);
	smarm__reach_drop();
	return err;
}
