/*
 * poll.h - the runtime's poller: one epoll instance, polled by idle
 * workers, and the table of the fds actors wait on.
 *
 * Owns (poll.c): the epoll instance and its eventfd, the fd table
 * (smarm__pollfd), the poller's turn (rt->io_owner), the signals the
 * runtime blocks for smarm_signal_wait.
 * May touch: sched.h (park, wake, cancellation) and below.  Used by idle.c
 * (a sleeping worker polls), sched.c through rt->io_busy (a busy worker
 * looks now and then), io.c (the public I/O calls) and runtime.c.
 *
 * An fd is registered edge-triggered for reading and writing the first
 * time an actor would wait on it in a run.  Its record holds one word per
 * direction: 0, SMARM__POLL_READY (an edge came while nobody waited), or
 * the actor waiting.  The poller takes the actor out of the word (a
 * compare-and-swap, so exactly one waker owns the park: the poller, a
 * closer or a canceller) and wakes it; a woken caller retries its system
 * call, so a wake that finds nothing costs one try, never a lost edge.
 * smarm_close bumps the record's generation before it takes the waiters
 * out: a waiter that finds the generation moved answers EBADF.  An fd
 * closed with close(2) under a waiter is found by a sweep once a second
 * (poll.c) and evicted the same way.
 */
#ifndef SMARM_POLL_H
#define SMARM_POLL_H

#include <signal.h>
#include <stdint.h>

#include "sched.h"

/* The signals the runtime's own threads (workers but the caller of the
 * run, helpers) block from their start: all but the synchronous ones,
 * which the kernel raises in the thread at fault or at the call. */
static inline void smarm__sigset_async(sigset_t *s)
{
	sigfillset(s);
	sigdelset(s, SIGSEGV);
	sigdelset(s, SIGBUS);
	sigdelset(s, SIGFPE);
	sigdelset(s, SIGILL);
	sigdelset(s, SIGTRAP);
	sigdelset(s, SIGABRT);
	sigdelset(s, SIGPIPE); /* a write to a closed pipe, as write(2) says */
}

/* Directions: a word each. */
enum { SMARM__POLL_IN = 0, SMARM__POLL_OUT = 1 };

/* smarm__poll_wait's answer for an fd epoll cannot watch (a regular
 * file): it is always ready. */
#define SMARM__POLL_ALWAYS (-1)

/* Set up and tear down a runtime's poller (smarm_runtime_new/free). */
int smarm__poll_init(struct smarm_runtime *rt);
void smarm__poll_fini(struct smarm_runtime *rt);

/* Before a run: nobody waits on any fd; no fd is registered. */
void smarm__poll_prepare(struct smarm_runtime *rt);

/* Has an fd been registered in this run?  Then sleepers poll. */
static inline int smarm__poll_armed(struct smarm_runtime *rt)
{
	return smarm__atomic_load_relaxed(&rt->io_armed) != 0;
}

/* Take the poller's turn: nonzero when the caller now polls. */
static inline int smarm__poll_own(struct smarm_runtime *rt)
{
	return smarm__atomic_load_relaxed(&rt->io_owner) == 0 &&
		smarm__atomic_cas_full(&rt->io_owner, 0, 1);
}

static inline void smarm__poll_disown(struct smarm_runtime *rt)
{
	smarm__atomic_store_release(&rt->io_owner, 0);
}

/* With the turn: wait for events until deadline (absolute, smarm_now's
 * clock; 0: do not wait, UINT64_MAX: no limit), or until the eventfd is
 * written, and wake the actors whose fds are ready.  Returns how many
 * were woken. */
unsigned smarm__poll_run(struct smarm_runtime *rt, uint64_t deadline);

/* A busy worker's look (rt->io_busy): the signal set, and the epoll set
 * when nobody has looked for a while. */
void smarm__poll_busy(struct smarm_runtime *rt);

/* Wait until fd may be ready in direction dir, for at most timeout:
 * 0 (look again), SMARM__POLL_ALWAYS, ETIMEDOUT, ECANCELED, EBADF (not
 * open, or closed by smarm_close meanwhile), EBUSY (another actor waits
 * there), ENOMEM. */
int smarm__poll_wait(smarm__actor *self, int fd, unsigned dir,
		     uint64_t timeout);

/* fd is a new file (just accepted or made; evict), or one that becomes
 * a connection (a connect; not evict): register it, and its waits take
 * that as done until smarm_close.  With evict, a new generation of its
 * record, whose old waiters, if any, answer EBADF. */
void smarm__poll_fresh(struct smarm_runtime *rt, int fd, int evict);

/*
 * A read of a stream socket that an accept or a connect made came back
 * short: its receive queue was empty, and any byte that comes later
 * comes with an edge.  The next read may then wait for the edge without
 * trying first (one system call fewer per message, as Tokio does), until
 * anything waits on the fd for reading (which clears the mark).  Not once
 * a hang-up or an error was seen: an end of file stays readable with no
 * edge to come.
 */
void smarm__poll_drained(struct smarm_runtime *rt, int fd);
int smarm__poll_is_drained(struct smarm_runtime *rt, int fd);

/* Wake whoever waits on fd (EBADF) and take fd out of the epoll set;
 * the caller then closes it.  Any thread. */
void smarm__poll_forget(struct smarm_runtime *rt, int fd);

/* The calling thread blocks every signal smarm_signal_wait waits for in
 * this run, if it is the runtime's thread 0 and has not yet. */
void smarm__poll_sigsync(struct smarm_runtime *rt);

/* Add set to the signals the runtime's workers block, and block it in
 * the calling thread: the change to wait for (smarm__poll_sigdone). */
AO_t smarm__poll_sigadd(struct smarm_runtime *rt, const sigset_t *set);

/* Has the runtime's thread 0 blocked the set as of change gen?  It does
 * at its next scheduling decision or wake (smarm__poll_sigsync). */
int smarm__poll_sigdone(struct smarm_runtime *rt, AO_t gen);

#endif /* SMARM_POLL_H */
