/*
 * actor.h - an actor's life: spawn, join, detach, exit, panic, names,
 * sleep, its mailbox.
 *
 * Owns (actor.c): the actor's slot from spawn to join (pid.h), its entry
 * and end, its mailbox, what a run leaves of actors (reaped by the
 * runtime), and which runtime a plain thread reaches.
 * May touch: sched.h (park, wake, the worker's caches), pid, stack,
 * context.  Used by runtime.c, and later by the mailbox and supervisor.
 */
#ifndef SMARM_ACTOR_H
#define SMARM_ACTOR_H

#include <stddef.h>

#include "smarm.h"
#include "mailbox.h"
#include "sched.h"

/* Internal spawn flag: the runtime joins this actor (the root). */
#define SMARM__SPAWN_ROOT 0x80000000u

/* Spawn fn(arg) from worker w: 0, EAGAIN (no slot) or ENOMEM. */
int smarm__actor_spawn(smarm__worker *w, smarm_fn fn, void *arg,
		       size_t stack_size, const char *name, unsigned flags,
		       smarm_pid *pid);

/* After a run that ended normally: the root's result and end, its slot
 * freed. */
void smarm__actor_root_result(struct smarm_runtime *rt, smarm_pid root,
			      void **result, int *panicked);

/* After a run: free the slots of actors that ended and were never joined,
 * and, after a deadlock, of the parked ones, whose stacks are abandoned
 * where they stand. */
void smarm__actor_reap(struct smarm_runtime *rt);

#endif /* SMARM_ACTOR_H */
