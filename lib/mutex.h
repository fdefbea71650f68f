/*
 * mutex.h - the mutex as the actor's end sees it.
 *
 * Owns (mutex.c): smarm_mutex's state, its queue of waiters, and each
 * actor's list of the mutexes it holds.  May touch: sched.h (park, wake,
 * cancellation), lock.h.  Used by actor.c: an actor that ends holding
 * mutexes hands each to its next locker with EOWNERDEAD.
 */
#ifndef SMARM_MUTEX_H
#define SMARM_MUTEX_H

#include "sched.h"

/* self ends: every mutex it still holds goes to its next locker, who is
 * told EOWNERDEAD (or is marked so for the next one to lock it). */
void smarm__mutex_release_all(smarm__actor *self);

#endif /* SMARM_MUTEX_H */
