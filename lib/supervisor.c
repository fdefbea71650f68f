/*
 * supervisor.c - smarm_supervisor_run: OTP's supervisor, in C.
 *
 * The supervisor is the calling actor.  It starts its children detached,
 * each with itself as supervisor, so that every end arrives in its
 * mailbox as a signal; it restarts children by their restart type and
 * its strategy, counts restarts against its intensity, and stops its
 * children (cancels them and waits for their signals) when it is
 * cancelled, when it gives up, or before a one-for-all or rest-for-one
 * restart.  A signal of another child that arrives while it waits is kept
 * and handled after.
 *
 * Owns: the supervisor's records, on its own stack and heap.  May touch:
 * the public calls (smarm.h), mailbox.h (the dead-letter function),
 * sched.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smarm.h"
#include "mailbox.h"
#include "sched.h"

#define DEFAULT_INTENSITY 3u
#define DEFAULT_PERIOD (5ull * 1000000000ull)

struct child {
	const smarm_child_spec *spec;
	smarm_pid pid;       /* while running */
	int running;
	int gone;            /* ended, not to be restarted */
	int ended;           /* a signal kind kept for later, or 0 */
};

struct sup {
	const smarm_sup_spec *spec;
	struct child *kids;
	size_t n;
	uint64_t *times;     /* the last `intensity` restarts, a ring */
	unsigned intensity, nt, ti;
	uint64_t period;
	int cancelled;       /* the supervisor itself was cancelled */
};

static int reserved_used(const uintptr_t *r, size_t n)
{
	while (n--)
		if (*r++)
			return 1;
	return 0;
}

static int spec_valid(const smarm_sup_spec *spec)
{
	size_t i;

	if (spec == NULL || (spec->children == NULL && spec->nchildren) ||
	    spec->strategy < SMARM_ONE_FOR_ONE ||
	    spec->strategy > SMARM_REST_FOR_ONE ||
	    reserved_used(spec->reserved, 4))
		return 0;
	for (i = 0; i < spec->nchildren; i++) {
		const smarm_child_spec *c = &spec->children[i];

		if (c->fn == NULL || c->restart < SMARM_PERMANENT ||
		    c->restart > SMARM_TEMPORARY ||
		    (c->stack_size != 0 && (c->stack_size < SMARM_STACK_MIN ||
					    c->stack_size > SMARM_STACK_MAX)) ||
		    reserved_used(c->reserved, 4))
			return 0;
	}
	return 1;
}

static int start(struct child *k)
{
	smarm_spawn_opts o;
	int err;

	smarm_spawn_opts_init(&o);
	o.name = k->spec->name;
	o.stack_size = k->spec->stack_size;
	o.deadline = k->spec->deadline;
	o.flags = SMARM_SPAWN_DETACHED;
	o.supervisor = smarm_self();
	err = smarm_spawn_opt(&k->pid, k->spec->fn, k->spec->arg, &o);
	k->running = err == 0;
	return err;
}

/* The child a signal is about, or NULL. */
static struct child *child_of(struct sup *s, smarm_pid from)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->kids[i].running && s->kids[i].pid.id == from.id)
			return &s->kids[i];
	return NULL;
}

/* Wait for the next signal of a child: the child, its kind in *kind.  A
 * message goes to the dead-letter function; a cancel of the supervisor
 * is noted, and returns NULL unless it is stopping children already. */
static struct child *next_end(struct sup *s, int *kind, int stopping)
{
	smarm_msg m;
	struct child *k;
	int r;

	for (;;) {
		r = smarm_receive(&m, SMARM_FOREVER);
		if (r == ECANCELED) {
			s->cancelled = 1;
			if (!stopping)
				return NULL;
			continue;
		}
		if (r != 0)
			continue;
		if (m.kind == SMARM_MSG) {
			smarm__dead_letter(
				smarm__worker_rt(smarm__worker_at_entry()),
				m.data, smarm_self());
			continue;
		}
		k = child_of(s, m.from);
		if (k == NULL)
			continue; /* a monitor of the caller's own */
		k->running = 0;
		*kind = m.kind;
		return k;
	}
}

/* Cancel the running children in [lo, hi) and wait for them to end; the
 * ends of others that come meanwhile are kept in their records. */
static void stop(struct sup *s, size_t lo, size_t hi)
{
	size_t i, left = 0;
	struct child *k;
	int kind;

	for (i = lo; i < hi; i++)
		if (s->kids[i].running) {
			(void)smarm_cancel(s->kids[i].pid);
			left++;
		}
	while (left > 0) {
		k = next_end(s, &kind, 1);
		i = (size_t)(k - s->kids);
		if (i >= lo && i < hi)
			left--;
		else
			k->ended = kind;
	}
}

/* Does a restart now go past the intensity?  Counts it if not. */
static int too_many(struct sup *s)
{
	uint64_t now = smarm_now();

	if (s->nt == s->intensity &&
	    now - s->times[s->ti] < s->period)
		return 1;
	s->times[s->ti] = now;
	s->ti = (s->ti + 1) % s->intensity;
	if (s->nt < s->intensity)
		s->nt++;
	return 0;
}

static void sup_free(struct sup *s)
{
	free(s->kids);
	free(s->times);
}

/* Give up: stop every child, then panic with why. */
static __attribute__((noreturn)) void give_up(struct sup *s, const char *why)
{
	char reason[SMARM_REASON_MAX];

	snprintf(reason, sizeof(reason), "%s", why);
	stop(s, 0, s->n);
	sup_free(s);
	smarm_panic("%s", reason);
}

static int restarts(const struct child *k, int kind)
{
	switch (k->spec->restart) {
	case SMARM_PERMANENT:
		return 1;
	case SMARM_TRANSIENT:
		return kind != SMARM_SIG_EXIT;
	default:
		return 0;
	}
}

/* Child i ended (kind): restart what the strategy says. */
static void child_ended(struct sup *s, size_t i, int kind)
{
	struct child *k = &s->kids[i];
	const char *name = k->spec->name ? k->spec->name : "";
	size_t lo = i, hi = i + 1, j;
	char why[SMARM_REASON_MAX];
	int err;

	if (!restarts(k, kind)) {
		k->gone = 1;
		return;
	}
	if (too_many(s)) {
		snprintf(why, sizeof(why),
			 "supervisor: more than %u restarts in %llu ns "
			 "(child '%s')", s->intensity,
			 (unsigned long long)s->period, name);
		give_up(s, why);
	}
	if (s->spec->strategy == SMARM_ONE_FOR_ALL)
		lo = 0;
	if (s->spec->strategy != SMARM_ONE_FOR_ONE)
		hi = s->n;
	stop(s, lo, hi);
	for (j = lo; j < hi; j++) {
		struct child *c = &s->kids[j];

		/* Stopped here, a temporary child is gone (as in OTP). */
		if (j != i && c->spec->restart == SMARM_TEMPORARY)
			c->gone = 1;
		c->ended = 0;
		if (c->gone)
			continue;
		err = start(c);
		if (err) {
			snprintf(why, sizeof(why),
				 "supervisor: cannot restart child '%s': %s",
				 c->spec->name ? c->spec->name : "",
				 smarm_strerror(err));
			give_up(s, why);
		}
	}
}

/* Handle a kept end, if any: nonzero when there was one. */
static int kept_end(struct sup *s)
{
	size_t i;
	int kind;

	for (i = 0; i < s->n; i++)
		if (s->kids[i].ended) {
			kind = s->kids[i].ended;
			s->kids[i].ended = 0;
			child_ended(s, i, kind);
			return 1;
		}
	return 0;
}

static int any_left(const struct sup *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!s->kids[i].gone)
			return 1;
	return 0;
}

int smarm_supervisor_run(const smarm_sup_spec *spec)
{
	struct sup s;
	struct child *k;
	size_t i;
	int err = 0, kind;

	if (!spec_valid(spec))
		return EINVAL;
	if (smarm_self().id == 0)
		return EPERM;
	memset(&s, 0, sizeof(s));
	s.spec = spec;
	s.n = spec->nchildren;
	s.intensity = spec->intensity ? spec->intensity : DEFAULT_INTENSITY;
	s.period = spec->period ? spec->period : DEFAULT_PERIOD;
	s.kids = calloc(s.n ? s.n : 1, sizeof(*s.kids));
	s.times = calloc(s.intensity, sizeof(*s.times));
	if (s.kids == NULL || s.times == NULL) {
		sup_free(&s);
		return ENOMEM;
	}
	for (i = 0; i < s.n && err == 0; i++) {
		s.kids[i].spec = &spec->children[i];
		err = start(&s.kids[i]);
	}
	while (err == 0 && !s.cancelled && any_left(&s)) {
		if (kept_end(&s))
			continue;
		k = next_end(&s, &kind, 0);
		if (k != NULL)
			child_ended(&s, (size_t)(k - s.kids), kind);
	}
	stop(&s, 0, s.n);
	sup_free(&s);
	if (err)
		return err;
	return s.cancelled ? ECANCELED : 0;
}
