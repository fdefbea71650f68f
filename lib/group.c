/*
 * group.c - actors joined and cancelled together (smarm_group_*).
 *
 * A group is an array of the pids of its members, which are ordinary
 * joinable actors: joining the group joins each of them, cancelling it
 * cancels each.  It is used by one actor at a time.
 *
 * Owns: the group record.  May touch: the public calls (smarm.h) and
 * timer.h (what is left of a timeout); nothing of a worker.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "smarm.h"
#include "timer.h"

struct smarm_group {
	smarm_pid *pids;     /* members not joined yet */
	size_t n, cap;
	int panicked;        /* a member joined since the last report panicked */
};

int smarm_group_new(smarm_group **g)
{
	if (g == NULL)
		return EINVAL;
	*g = calloc(1, sizeof(**g));
	return *g ? 0 : ENOMEM;
}

int smarm_group_spawn(smarm_group *g, smarm_pid *pid, smarm_fn fn, void *arg)
{
	smarm_pid p;
	int err;

	if (g == NULL || fn == NULL)
		return EINVAL;
	if (smarm_self().id == 0)
		return EPERM;
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 8;
		smarm_pid *pids = realloc(g->pids, cap * sizeof(*pids));

		if (pids == NULL)
			return ENOMEM;
		g->pids = pids;
		g->cap = cap;
	}
	err = smarm_spawn(&p, fn, arg);
	if (err)
		return err;
	g->pids[g->n++] = p;
	if (pid)
		*pid = p;
	return 0;
}

/* Join member i within timeout: 0 when it is no member any more (joined,
 * or joined by someone else), or the join's ETIMEDOUT / ECANCELED. */
static int join_one(smarm_group *g, size_t i, uint64_t timeout)
{
	void *res = NULL;
	int r = smarm_join(g->pids[i], &res, timeout);

	if (r == SMARM_EPANIC) {
		free(res);
		g->panicked = 1;
		r = 0;
	} else if (r == ESRCH) {
		r = 0;
	}
	if (r == 0)
		g->pids[i] = SMARM_PID_NONE;
	return r;
}

/* Drop the members that were joined, keeping the order of the rest. */
static void compact(smarm_group *g)
{
	size_t i, k = 0;

	for (i = 0; i < g->n; i++)
		if (g->pids[i].id != 0)
			g->pids[k++] = g->pids[i];
	g->n = k;
}

int smarm_group_join(smarm_group *g, uint64_t timeout)
{
	uint64_t deadline = SMARM_FOREVER;
	size_t i;
	int r = 0, err;

	if (g == NULL)
		return EINVAL;
	if (smarm_self().id == 0)
		return EPERM;
	for (i = 0; i < g->n; i++) {
		/* Once the time is up (or the caller cancelled), the rest
		 * are only polled: those that ended still leave. */
		err = join_one(g, i, r ? 0 : smarm__wait_left(timeout,
								&deadline));
		if (err && r == 0)
			r = err;
	}
	compact(g);
	if (r == ETIMEDOUT && g->n == 0)
		r = 0; /* the last one ended as the time ran out */
	if (r)
		return r;
	r = g->panicked ? SMARM_EPANIC : 0;
	g->panicked = 0;
	return r;
}

int smarm_group_cancel(smarm_group *g)
{
	size_t i;

	if (g == NULL)
		return EINVAL;
	for (i = 0; i < g->n; i++)
		(void)smarm_cancel(g->pids[i]); /* ESRCH: it ended */
	return 0;
}

void smarm_group_free(smarm_group *g)
{
	if (g == NULL)
		return;
	smarm_group_cancel(g);
	/* In an actor, wait for them; a cancel of the caller does not cut
	 * that short.  Outside one, the runtime frees what they leave when
	 * its run ends. */
	if (smarm_self().id != 0)
		while (g->n > 0)
			(void)smarm_group_join(g, SMARM_FOREVER);
	free(g->pids);
	free(g);
}
