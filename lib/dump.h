/*
 * dump.h - the text of smarm_dump, for the run's watcher (watch.c).
 *
 * Owns (dump.c): smarm_dump.  May touch: sched.h.
 */
#ifndef SMARM_DUMP_H
#define SMARM_DUMP_H

#include "sched.h"

/* Write rt's workers and live actors to fd, headed "smarm: dump (why)"
 * when why is not NULL: 0, EBADF or EIO.  Async-signal-safe; waits for
 * no lock. */
int smarm__dump_rt(struct smarm_runtime *rt, int fd, const char *why);

#endif /* SMARM_DUMP_H */
