/*
 * guard.h - stack overflows contained: the fault in an actor's guard page
 * becomes that actor's panic.
 *
 * Owns (guard.c): the process's SIGSEGV and SIGBUS handlers (installed
 * with the first runtime, kept for the life of the process, chaining to
 * the handlers they replaced) and each worker thread's alternate signal
 * stack.  May touch: sched.h (the running actor, its worker's spare
 * stack), stack.h (where a stack's guard lies), the public calls (the
 * panic).  Used by runtime.c.
 */
#ifndef SMARM_GUARD_H
#define SMARM_GUARD_H

#include <signal.h>

/* Install the handlers, once per process: 0 or the errno of sigaction. */
int smarm__guard_init(void);

/* A worker thread's alternate signal stack, for as long as it works. */
typedef struct smarm__altstack {
	void *mem;
	stack_t old;       /* the thread's own, put back at the end */
} smarm__altstack;

/* Give the calling thread an alternate signal stack: 0 or ENOMEM. */
int smarm__guard_thread_begin(smarm__altstack *as);
/* Put the thread's previous one back and free ours. */
void smarm__guard_thread_end(smarm__altstack *as);

#endif /* SMARM_GUARD_H */
